/* wn_ucx_pool_*: the shuffle's process-wide pool of message buffers. */
#include "build_config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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

static struct {
    pthread_mutex_t mutex;
    struct idle *free[NUM_CLASSES];
    uint32_t open_count;
    uint64_t open_sum; /* memory_limit of the open ranks */
    struct wn_ucx_pool_stats stats;
} pool = { .mutex = PTHREAD_MUTEX_INITIALIZER };

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
        return len > 0 && len < SMALLEST ? malloc(len) : wn_ucx_alloc(len);
    }
    pthread_mutex_lock(&pool.mutex);
    buf = pool.free[i];
    if (buf != NULL) {
        POOL_UNPOISON(buf, c);
        pool.free[i] = buf->next;
        pool.stats.idle_bytes -= c;
        pool.stats.reused_bytes += c;
    } else {
        /* Idle buffers of other sizes make room within the bound. */
        drop = shrink_locked(0, c);
        pool.stats.fresh_bytes += c;
    }
    pool.stats.in_use_bytes += c;
    pthread_mutex_unlock(&pool.mutex);
    free_list(drop);
    if (buf == NULL) {
        buf = wn_ucx_alloc(c);
        if (buf == NULL) {
            pthread_mutex_lock(&pool.mutex);
            pool.stats.fresh_bytes -= c;
            pool.stats.in_use_bytes -= c;
            pthread_mutex_unlock(&pool.mutex);
            return NULL;
        }
    }
    *cap = c;
    return buf;
}

void wn_ucx_pool_put(void *buf, size_t cap)
{
    int i = exact_class(cap);
    int keep = 0;

    if (buf == NULL)
        return;
    if (i >= 0) {
        pthread_mutex_lock(&pool.mutex);
        /* A buffer that did not come from wn_ucx_pool_get was never counted. */
        pool.stats.in_use_bytes -= pool.stats.in_use_bytes < cap ? pool.stats.in_use_bytes : cap;
        keep = add_sat(add_sat(pool.stats.in_use_bytes, pool.stats.idle_bytes), cap) <=
               pool.stats.keep_limit;
        if (keep) {
            struct idle *node = buf;

            node->next = pool.free[i];
            pool.free[i] = node;
            pool.stats.idle_bytes += cap;
            POOL_POISON((char *)buf + sizeof(*node), cap - sizeof(*node));
        }
        pthread_mutex_unlock(&pool.mutex);
    }
    if (!keep)
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
    pool.open_sum = add_sat(pool.open_sum, memory_limit);
    if (pool.open_sum > pool.stats.keep_limit)
        pool.stats.keep_limit = pool.open_sum;
    drop = shrink_locked(0, 0);
    pthread_mutex_unlock(&pool.mutex);
    free_list(drop);
}

void wn_ucx_pool_unregister(uint64_t memory_limit)
{
    pthread_mutex_lock(&pool.mutex);
    if (pool.open_count > 0)
        pool.open_count--;
    pool.open_sum -= pool.open_sum < memory_limit ? pool.open_sum : memory_limit;
    pthread_mutex_unlock(&pool.mutex);
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
}
