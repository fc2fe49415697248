/* wn_ucx_pool_*: the shuffle's process-wide pool of message buffers. */
#include "build_config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/log.h>

#include "alloc.h"
#include "shuffle_pool.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POOL_POISON(p, n) ((void)(p), (void)(n))
#define POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define SMALLEST ((size_t)64 << 10) /* below: plain malloc */
#define SMALL_CLASSES 6             /* 64 KiB .. 2 MiB, powers of two */
#define MAX_UNITS 64                /* 2 MiB units: up to 128 MiB */
#define NUM_CLASSES (SMALL_CLASSES + MAX_UNITS - 1)

/* An idle buffer: the link lives in its first bytes. */
struct idle {
    struct idle *next;
};

/* A pooled buffer handed out: its address and class (a slot of `out`). */
struct out_slot {
    uintptr_t addr; /* 0: empty */
    int cls;
};

static struct {
    pthread_mutex_t mutex;
    struct idle *free[NUM_CLASSES];
    uint32_t open_count;
    uint64_t open_sum; /* memory_limit of the open ranks */
    int retain;        /* keep_limit stays while no rank is open (a stage's rounds) */
    /* The pooled buffers handed out: an open-addressing set, linear probing,
     * at most half full (cap a power of two, or 0). */
    struct out_slot *out;
    size_t out_count, out_cap;
    struct wn_ucx_pool_stats stats;
} pool = { .mutex = PTHREAD_MUTEX_INITIALIZER };

/* Allocations the pool may still make before failing (tests); -1: no limit. */
static int64_t alloc_budget = -1;

/* Takes one allocation from the budget: 0 when an injected failure is due. */
static int alloc_allowed(void)
{
    int64_t left = __atomic_load_n(&alloc_budget, __ATOMIC_RELAXED);

    while (left >= 0) {
        if (left == 0)
            return 0;
        if (__atomic_compare_exchange_n(&alloc_budget, &left, left - 1, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            break;
    }
    return 1;
}

void wn_ucx_pool_fail_after(int64_t allocations)
{
    __atomic_store_n(&alloc_budget, allocations < 0 ? -1 : allocations, __ATOMIC_RELAXED);
}

static void *pool_alloc(size_t size)
{
    if (!alloc_allowed())
        return NULL;
    return size < SMALLEST ? malloc(size ? size : 1) : wn_ucx_alloc(size);
}

/* ---- the set of buffers handed out (mutex held) ---------------------------------- */

static size_t slot_of(uintptr_t addr, size_t cap)
{
    uint64_t h = (uint64_t)addr * UINT64_C(0x9e3779b97f4a7c15);

    return (size_t)(h >> 32) & (cap - 1);
}

/* Room for one more entry; WN_ENOMEM-like -1 when growing fails. */
static int out_reserve(void)
{
    struct out_slot *grown;
    size_t cap;

    if ((pool.out_count + 1) * 2 <= pool.out_cap)
        return 0;
    cap = pool.out_cap ? pool.out_cap * 2 : 64;
    grown = alloc_allowed() ? calloc(cap, sizeof(*grown)) : NULL;
    if (grown == NULL)
        return -1;
    for (size_t i = 0; i < pool.out_cap; i++) {
        size_t j;

        if (pool.out[i].addr == 0)
            continue;
        for (j = slot_of(pool.out[i].addr, cap); grown[j].addr != 0; j = (j + 1) & (cap - 1))
            ;
        grown[j] = pool.out[i];
    }
    free(pool.out);
    pool.out = grown;
    pool.out_cap = cap;
    return 0;
}

static void out_add(void *buf, int cls)
{
    size_t j = slot_of((uintptr_t)buf, pool.out_cap);

    while (pool.out[j].addr != 0)
        j = (j + 1) & (pool.out_cap - 1);
    pool.out[j].addr = (uintptr_t)buf;
    pool.out[j].cls = cls;
    pool.out_count++;
}

/* Removes buf, handed out as class cls; 0 when it was not (so not removed). */
static int out_remove(void *buf, int cls)
{
    size_t mask = pool.out_cap - 1, j, hole;

    if (pool.out_cap == 0)
        return 0;
    for (j = slot_of((uintptr_t)buf, pool.out_cap); pool.out[j].addr != (uintptr_t)buf;
         j = (j + 1) & mask)
        if (pool.out[j].addr == 0)
            return 0;
    if (pool.out[j].cls != cls)
        return 0;
    /* Backward-shift deletion: later entries of the run move into the hole. */
    hole = j;
    for (j = (j + 1) & mask; pool.out[j].addr != 0; j = (j + 1) & mask) {
        size_t home = slot_of(pool.out[j].addr, pool.out_cap);

        if (((j - home) & mask) >= ((j - hole) & mask)) {
            pool.out[hole] = pool.out[j];
            hole = j;
        }
    }
    pool.out[hole].addr = 0;
    if (--pool.out_count == 0) {
        /* Nothing handed out: no bookkeeping either, until the next get. */
        free(pool.out);
        pool.out = NULL;
        pool.out_cap = 0;
    }
    return 1;
}

/* The class of a request of len bytes and its capacity, or -1 (not pooled). */
static int class_of(size_t len, size_t *cap)
{
    if (len < SMALLEST)
        return -1;
    if (len <= WN_UCX_HUGE_PAGE) {
        size_t c = SMALLEST;
        int i = 0;

        while (c < len) {
            c <<= 1;
            i++;
        }
        *cap = c;
        return i;
    }
    {
        size_t units = (len + WN_UCX_HUGE_PAGE - 1) / WN_UCX_HUGE_PAGE;

        if (units > MAX_UNITS)
            return -1;
        *cap = units * WN_UCX_HUGE_PAGE;
        return SMALL_CLASSES - 2 + (int)units;
    }
}

/* The class whose capacity is exactly cap, or -1. */
static int exact_class(size_t cap)
{
    size_t c = 0;
    int i = class_of(cap, &c);

    return i >= 0 && c == cap ? i : -1;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static struct idle *shrink_locked(int everything, uint64_t need);
static void free_list(struct idle *list);

void *wn_ucx_pool_get(size_t len, size_t *cap)
{
    size_t c = 0;
    int i = class_of(len, &c);
    struct idle *buf = NULL, *drop = NULL;

    if (i < 0) {
        *cap = len;
        return pool_alloc(len);
    }
    pthread_mutex_lock(&pool.mutex);
    if (out_reserve() < 0) {
        pthread_mutex_unlock(&pool.mutex);
        return NULL;
    }
    buf = pool.free[i];
    if (buf != NULL) {
        POOL_UNPOISON(buf, c);
        pool.free[i] = buf->next;
        pool.stats.idle_bytes -= c;
        pool.stats.reused_bytes += c;
        out_add(buf, i);
    } else {
        /* Idle buffers of other sizes make room within the bound. */
        drop = shrink_locked(0, c);
        pool.stats.fresh_bytes += c;
    }
    pool.stats.in_use_bytes += c;
    pthread_mutex_unlock(&pool.mutex);
    free_list(drop);
    if (buf == NULL) {
        buf = pool_alloc(c);
        pthread_mutex_lock(&pool.mutex);
        /* The set may have changed meanwhile: reserve again. */
        if (buf != NULL && out_reserve() < 0) {
            free(buf);
            buf = NULL;
        }
        if (buf == NULL) {
            pool.stats.fresh_bytes -= c;
            pool.stats.in_use_bytes -= c;
        } else {
            out_add(buf, i);
        }
        pthread_mutex_unlock(&pool.mutex);
        if (buf == NULL)
            return NULL;
    }
    *cap = c;
    return buf;
}

void wn_ucx_pool_put(void *buf, size_t cap)
{
    int i = exact_class(cap);
    int keep = 0, known = 1;

    if (buf == NULL)
        return;
    if (i >= 0) {
        pthread_mutex_lock(&pool.mutex);
        known = out_remove(buf, i);
        if (!known) {
            /* Not handed out (a double put, a foreign buffer, another
             * capacity): counted, and neither kept nor freed. */
            pool.stats.bad_puts++;
        } else {
            pool.stats.in_use_bytes -= cap;
            keep = add_sat(add_sat(pool.stats.in_use_bytes, pool.stats.idle_bytes), cap) <=
                   pool.stats.keep_limit;
        }
        if (keep) {
            struct idle *node = buf;

            node->next = pool.free[i];
            pool.free[i] = node;
            pool.stats.idle_bytes += cap;
            POOL_POISON((char *)buf + sizeof(*node), cap - sizeof(*node));
        }
        pthread_mutex_unlock(&pool.mutex);
    }
    if (!known)
        wn_log(WN_LOG_ERROR, "ucx",
               "shuffle buffer pool: a buffer of %zu bytes at %p was given back, but the pool "
               "has none of that size handed out there (given back twice, or not the pool's); "
               "ignored, and counted in the pool's bad_puts (a bug in the shuffle)",
               cap, buf);
    else if (!keep)
        free(buf);
}

/* Unlinks idle buffers until in_use + idle + need fits keep_limit (all of
 * them when everything must go); returns the list to free.  Holds the mutex. */
static struct idle *shrink_locked(int everything, uint64_t need)
{
    struct idle *out = NULL;

    for (int i = NUM_CLASSES - 1; i >= 0; i--) {
        size_t c = 0;

        class_of(i < SMALL_CLASSES ? SMALLEST << i
                                   : (size_t)(i - SMALL_CLASSES + 2) * WN_UCX_HUGE_PAGE,
                 &c);
        while (pool.free[i] != NULL &&
               (everything || add_sat(add_sat(pool.stats.in_use_bytes, pool.stats.idle_bytes),
                                      need) > pool.stats.keep_limit)) {
            struct idle *node = pool.free[i];

            POOL_UNPOISON(node, c);
            pool.free[i] = node->next;
            pool.stats.idle_bytes -= c;
            node->next = out;
            out = node;
        }
    }
    return out;
}

static void free_list(struct idle *list)
{
    while (list != NULL) {
        struct idle *next = list->next;

        free(list);
        list = next;
    }
}

void wn_ucx_pool_register(uint64_t memory_limit)
{
    struct idle *drop;

    pthread_mutex_lock(&pool.mutex);
    if (pool.open_count++ == 0)
        pool.stats.keep_limit = 0; /* a new busy period: its own ranks' limits */
    pool.retain = 1;
    pool.open_sum = add_sat(pool.open_sum, memory_limit);
    if (pool.open_sum > pool.stats.keep_limit)
        pool.stats.keep_limit = pool.open_sum;
    drop = shrink_locked(0, 0);
    pthread_mutex_unlock(&pool.mutex);
    free_list(drop);
}

void wn_ucx_pool_unregister(uint64_t memory_limit)
{
    struct idle *drop = NULL;

    pthread_mutex_lock(&pool.mutex);
    if (pool.open_count > 0)
        pool.open_count--;
    pool.open_sum -= pool.open_sum < memory_limit ? pool.open_sum : memory_limit;
    if (!pool.retain) {
        /* Released: the bound follows the ranks still open. */
        pool.stats.keep_limit = pool.open_sum;
        drop = shrink_locked(0, 0);
    }
    pthread_mutex_unlock(&pool.mutex);
    free_list(drop);
}

uint64_t wn_ucx_pool_release(void)
{
    struct idle *drop;
    uint64_t before;

    pthread_mutex_lock(&pool.mutex);
    before = pool.stats.idle_bytes;
    pool.retain = 0;
    pool.stats.keep_limit = pool.open_sum;
    drop = shrink_locked(0, 0);
    before -= pool.stats.idle_bytes;
    pthread_mutex_unlock(&pool.mutex);
    free_list(drop);
    return before;
}

void wn_ucx_pool_trim(void)
{
    struct idle *drop;

    pthread_mutex_lock(&pool.mutex);
    drop = shrink_locked(1, 0);
    pthread_mutex_unlock(&pool.mutex);
    free_list(drop);
}

void wn_ucx_pool_stats(struct wn_ucx_pool_stats *stats)
{
    pthread_mutex_lock(&pool.mutex);
    *stats = pool.stats;
    pthread_mutex_unlock(&pool.mutex);
}

/* The plugin is unloaded: its idle buffers would be lost with it. */
__attribute__((destructor)) static void pool_unload(void)
{
    wn_ucx_pool_trim();
    pthread_mutex_lock(&pool.mutex);
    free(pool.out); /* what is still handed out is its holders' to free() */
    pool.out = NULL;
    pool.out_count = pool.out_cap = 0;
    pthread_mutex_unlock(&pool.mutex);
}
