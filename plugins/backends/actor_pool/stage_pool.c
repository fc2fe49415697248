/*
 * One stage's pool of thread actors (see stage_pool.h).
 *
 * Threads and what they touch:
 *   driver   starts the actors, waits until each reported ready or failed,
 *            pushes batch indices into the actors' queues, closes the queues,
 *            joins, and only then reads the actors' outputs and measurements;
 *   actor i  create + setup, then runs the batches of its own queue, writes
 *            the input slots of those batches, its own outputs and counters,
 *            then teardown + destroy.
 * Each actor's queue is a ring of max_inflight batch indices under its own
 * mutex.  A semaphore counts the free slots of all queues, so the driver
 * sleeps while every actor is busy and wakes when any of them finishes a
 * batch (or fails); both sides poll briefly before they sleep.  (A later
 * version replaces the mutexes with lock-free rings.)  A failure sets `stop`: no new batch starts, running ones
 * finish, the actors tear down and the driver frees what is left.
 */
#include "build_config.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winnow/log.h>

#include "batching.h"
#include "stage_pool.h"

#define LOG_DOMAIN "actor_pool"

/* Polls before a thread sleeps on its queue or on the free slots: a batch
 * handed over within a few microseconds then costs no futex wake-up and no
 * context switch, which otherwise dominate small batches. */
#define SPIN_POLLS 200

/* Room kept for the first task id of the running batch, for error messages. */
#define TASK_ID_NOTE 256

struct batch {
    struct wn_batch_range range; /* input tasks of the batch */
    size_t out_offset;           /* its outputs: actors[actor].outs[out_offset..+out_count) */
    size_t out_count;
    uint32_t actor;
};

struct pool;

struct actor {
    struct wn_emitter emitter; /* wn_emit() from the stage lands in actor_emit() */
    struct pool *pool;
    uint32_t index;
    pthread_t thread;
    int started;               /* driver: the thread exists and must be joined */
    void *state;               /* the stage instance (create) */

    /* The queue; the driver also reads count without the lock to pick an actor. */
    _Alignas(64) pthread_mutex_t lock;
    pthread_cond_t wake;
    size_t *ring;              /* max_inflight batch indices */
    uint32_t head;
    uint32_t count;            /* queued or running */
    int closed;                /* no more batches will come */

    /* Written by the actor thread only; read by the driver after the join. */
    _Alignas(64) struct wn_task **outs; /* outputs of every batch it ran, in the order it ran them */
    size_t n_outs, cap_outs;
    int emit_failed;
    uint64_t batches, items_in, items_out;
    double busy_s, first_start, last_end;
    char first_task_id[TASK_ID_NOTE];
};

struct pool {
    const struct wn_run_stage *stage;
    const struct wn_stage_ops *ops;
    struct wn_task **tasks;    /* the stage's input; a batch's actor NULLs its slots */
    struct batch *batches;
    size_t n_batches;
    struct actor *actors;
    uint32_t n_actors;
    uint32_t max_inflight;
    sem_t free_slots;          /* free queue slots over all actors (+1 per failure) */
    int stop;                  /* atomic: a failure stops dispatch */

    pthread_mutex_t lock;      /* guards what follows */
    pthread_cond_t reported_cv;
    uint32_t n_reported;       /* actors done with create + setup, well or not */
    int failed;
    struct wn_error error;     /* the first failure, as returned by the run */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The plugin's words, or "(no message): <meaning of the code>" when it gave none. */
static const char *hook_message(const struct wn_error *hook_err, int rc, char *buf, size_t size)
{
    if (hook_err->message[0] != '\0')
        return hook_err->message;
    snprintf(buf, size, "(no message): %s", wn_strerror(rc));
    return buf;
}

/* Records a failure (the first one becomes the run's error, later ones are
 * logged) and stops dispatch.  Any thread. */
static void pool_fail(struct pool *pool, int code, const char *fmt, ...) WN_PRINTF(3, 4);

static void pool_fail(struct pool *pool, int code, const char *fmt, ...)
{
    char message[WN_ERROR_MESSAGE_MAX];
    va_list ap;
    int first;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&pool->lock);
    first = !pool->failed;
    if (first) {
        pool->failed = 1;
        wn_error_set(&pool->error, code < 0 ? code : WN_EPLUGIN, "%s", message);
    }
    pthread_mutex_unlock(&pool->lock);
    if (!first)
        wn_log(WN_LOG_WARN, LOG_DOMAIN, "also: %s", message);
    __atomic_store_n(&pool->stop, 1, __ATOMIC_SEQ_CST);
    sem_post(&pool->free_slots); /* wakes the driver if it waits for a slot */
}

/* A hook other than process_batch failed on actor a. */
static void actor_hook_failed(struct actor *a, const char *hook, int rc,
                              const struct wn_error *hook_err)
{
    char buf[96];

    pool_fail(a->pool, rc, "stage '%s' actor %u/%u failed in %s: %s", a->pool->stage->name,
              a->index, a->pool->n_actors, hook, hook_message(hook_err, rc, buf, sizeof(buf)));
}

static int actor_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct actor *a = (struct actor *)((char *)self - offsetof(struct actor, emitter));

    if (a->n_outs == a->cap_outs) {
        size_t cap = a->cap_outs ? a->cap_outs * 2 : 64;
        struct wn_task **outs = realloc(a->outs, cap * sizeof(*outs));

        if (outs == NULL) {
            wn_task_free(task);
            a->emit_failed = 1;
            return WN_ENOMEM;
        }
        a->outs = outs;
        a->cap_outs = cap;
    }
    a->outs[a->n_outs++] = task;
    return 0;
}

/* The stage may take (and free) its inputs: notes the batch's first task id
 * for a message before the call (no printf: this runs for every batch). */
static void note_task_id(struct actor *a, const struct wn_task *task)
{
    const char *id = wn_task_id(task);
    size_t len = strnlen(id, sizeof(a->first_task_id) - 1);

    memcpy(a->first_task_id, id, len);
    a->first_task_id[len] = '\0';
}

/* Runs batch b on actor a; on failure records it and returns its code. */
static int actor_run_batch(struct actor *a, size_t b)
{
    struct pool *pool = a->pool;
    struct batch *batch = &pool->batches[b];
    struct wn_task **in = pool->tasks + batch->range.start;
    size_t n_in = batch->range.len, first_out = a->n_outs;
    struct wn_error hook_err = WN_ERROR_INIT;
    uint64_t items = 0;
    double start, end, idle;
    char buf[96];
    int rc;

    for (size_t i = 0; i < n_in; i++)
        items += wn_task_num_items(in[i]);
    note_task_id(a, in[0]);

    start = now_s();
    idle = start - a->last_end;
    rc = pool->ops->process_batch(a->state, in, n_in, &a->emitter, &hook_err);
    end = now_s();

    for (size_t i = 0; i < n_in; i++) {
        wn_task_free(in[i]);
        in[i] = NULL;
    }
    batch->actor = a->index;
    batch->out_offset = first_out;
    batch->out_count = a->n_outs - first_out;
    if (a->batches++ == 0)
        a->first_start = start;
    a->busy_s += end - start;
    a->last_end = end;
    a->items_in += items;
    if (rc >= 0 && a->emit_failed)
        rc = wn_error_set(&hook_err, WN_ENOMEM, "out of memory collecting the batch's outputs");
    for (size_t i = first_out; rc >= 0 && i < a->n_outs; i++) {
        a->items_out += wn_task_num_items(a->outs[i]);
        if (wn_task_perf_add(a->outs[i], pool->stage->name, end - start, idle, items) < 0)
            rc = wn_error_set(&hook_err, WN_ENOMEM, "out of memory adding the perf record of %s",
                              wn_task_id(a->outs[i]));
    }
    if (rc < 0) {
        if (n_in > 1)
            pool_fail(pool, rc, "stage '%s' actor %u/%u failed on task %s (and %zu more): %s",
                      pool->stage->name, a->index, pool->n_actors, a->first_task_id, n_in - 1,
                      hook_message(&hook_err, rc, buf, sizeof(buf)));
        else
            pool_fail(pool, rc, "stage '%s' actor %u/%u failed on task %s: %s",
                      pool->stage->name, a->index, pool->n_actors, a->first_task_id,
                      hook_message(&hook_err, rc, buf, sizeof(buf)));
        return rc;
    }
    return 0;
}

/* Runs the batches of a's queue until it is closed and empty, or the pool stops. */
static void actor_loop(struct actor *a)
{
    struct pool *pool = a->pool;

    a->last_end = now_s(); /* idle time of the first batch counts from here */
    for (;;) {
        size_t b;

        for (int spin = 0; spin < SPIN_POLLS; spin++) {
            if (__atomic_load_n(&a->count, __ATOMIC_ACQUIRE) > 0)
                break;
            cpu_relax();
        }
        pthread_mutex_lock(&a->lock);
        while (a->count == 0 && !a->closed)
            pthread_cond_wait(&a->wake, &a->lock);
        if (a->count == 0) {
            pthread_mutex_unlock(&a->lock);
            break;
        }
        b = a->ring[a->head];
        pthread_mutex_unlock(&a->lock);

        if (__atomic_load_n(&pool->stop, __ATOMIC_SEQ_CST))
            break;
        if (actor_run_batch(a, b) < 0)
            break;

        pthread_mutex_lock(&a->lock);
        a->head = (a->head + 1) % pool->max_inflight;
        __atomic_store_n(&a->count, a->count - 1, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&a->lock);
        sem_post(&pool->free_slots);
    }
}

/* An actor's thread: create and setup, report, run batches, teardown and destroy. */
static void *actor_main(void *arg)
{
    struct actor *a = arg;
    struct pool *pool = a->pool;
    const struct wn_stage_ops *ops = pool->ops;
    struct wn_error hook_err = WN_ERROR_INIT;
    struct wn_worker worker;
    char thread_name[16];
    int created = 0, ready = 0, rc = 0;

    snprintf(thread_name, sizeof(thread_name), "%.10s/%u", pool->stage->name, a->index);
    pthread_setname_np(pthread_self(), thread_name);

    if (ops->create != NULL)
        rc = ops->create(pool->stage->params, &a->state, &hook_err);
    if (rc < 0) {
        actor_hook_failed(a, "create", rc, &hook_err);
    } else {
        created = 1;
        memset(&worker, 0, sizeof(worker));
        worker.struct_size = sizeof(worker);
        worker.stage_name = pool->stage->name;
        worker.actor_index = a->index;
        worker.pool_size = pool->n_actors;
        worker.device_id = -1; /* no GPU discovery yet: no device is assigned */
        worker.params = pool->stage->params;
        if (ops->setup != NULL)
            rc = ops->setup(a->state, &worker, &hook_err);
        if (rc < 0)
            actor_hook_failed(a, "setup", rc, &hook_err);
        else
            ready = 1;
    }

    pthread_mutex_lock(&pool->lock);
    pool->n_reported++;
    pthread_cond_signal(&pool->reported_cv);
    pthread_mutex_unlock(&pool->lock);

    if (ready)
        actor_loop(a);
    /* Every created actor is torn down, after a failed setup too, so that a
     * stage can release what setup acquired before it failed. */
    if (created) {
        if (ops->teardown != NULL)
            ops->teardown(a->state);
        if (ops->destroy != NULL)
            ops->destroy(a->state);
    }
    return NULL;
}

/* Driver: the actor with the fewest batches queued or running, if it has room. */
static struct actor *pick_actor(struct pool *pool, uint32_t *next)
{
    struct actor *best = NULL;
    uint32_t best_count = pool->max_inflight;

    for (uint32_t k = 0; k < pool->n_actors; k++) {
        struct actor *a = &pool->actors[(*next + k) % pool->n_actors];
        uint32_t count = __atomic_load_n(&a->count, __ATOMIC_SEQ_CST);

        if (count < best_count) {
            best = a;
            best_count = count;
            if (count == 0)
                break;
        }
    }
    if (best != NULL)
        *next = (best->index + 1) % pool->n_actors;
    return best;
}

/* Driver: takes one free queue slot, polling a little before it sleeps. */
static void wait_free_slot(struct pool *pool)
{
    for (int spin = 0; spin < SPIN_POLLS; spin++) {
        if (sem_trywait(&pool->free_slots) == 0)
            return;
        cpu_relax();
    }
    while (sem_wait(&pool->free_slots) != 0 && errno == EINTR)
        ;
}

/* Driver: hands every batch to an actor, waiting for room; stops on a failure. */
static void dispatch(struct pool *pool)
{
    uint32_t next = 0;

    for (size_t b = 0; b < pool->n_batches; b++) {
        struct actor *a;

        wait_free_slot(pool);
        if (__atomic_load_n(&pool->stop, __ATOMIC_SEQ_CST))
            return;
        a = pick_actor(pool, &next);
        if (a == NULL) { /* cannot happen: the semaphore counts free slots */
            pool_fail(pool, WN_EINTERNAL,
                      "stage '%s': no actor has room for batch %zu although the pool said so",
                      pool->stage->name, b);
            return;
        }
        pthread_mutex_lock(&a->lock);
        a->ring[(a->head + a->count) % pool->max_inflight] = b;
        __atomic_store_n(&a->count, a->count + 1, __ATOMIC_SEQ_CST);
        pthread_cond_signal(&a->wake);
        pthread_mutex_unlock(&a->lock);
    }
}

/* Driver: concatenates the outputs of every batch in batch order. */
static int collect_outputs(struct pool *pool, struct wn_task ***out, size_t *n_out,
                           struct wn_error *err)
{
    struct wn_task **outs;
    size_t total = 0, k = 0;

    for (uint32_t i = 0; i < pool->n_actors; i++)
        total += pool->actors[i].n_outs;
    *out = NULL;
    *n_out = 0;
    if (total == 0)
        return 0;
    outs = malloc(total * sizeof(*outs));
    if (outs == NULL)
        return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory collecting %zu outputs",
                            pool->stage->name, total);
    for (size_t b = 0; b < pool->n_batches; b++) {
        const struct batch *batch = &pool->batches[b];
        struct actor *a = &pool->actors[batch->actor];

        memcpy(outs + k, a->outs + batch->out_offset, batch->out_count * sizeof(*outs));
        k += batch->out_count;
    }
    for (uint32_t i = 0; i < pool->n_actors; i++)
        pool->actors[i].n_outs = 0; /* moved to outs */
    *out = outs;
    *n_out = total;
    return 0;
}

/* Driver, after the join: the stage's counts.  items_in covers the batches
 * that ran; the caller adds the items of the tasks no actor got to. */
static void fill_stats(const struct pool *pool, size_t n_tasks, size_t n_outs,
                       struct wn_stage_stats *stats)
{
    double first = 0.0, last = 0.0;
    int any = 0;

    stats->tasks_in = n_tasks;
    stats->tasks_out = n_outs;
    stats->items_in = 0;
    stats->items_out = 0;
    stats->actors = pool->n_actors;
    stats->batches = 0;
    stats->busy_s = 0.0;
    for (uint32_t i = 0; i < pool->n_actors; i++) {
        const struct actor *a = &pool->actors[i];

        stats->items_in += a->items_in;
        if (n_outs > 0)
            stats->items_out += a->items_out;
        if (a->batches == 0)
            continue;
        stats->batches += a->batches;
        stats->busy_s += a->busy_s;
        if (!any || a->first_start < first)
            first = a->first_start;
        if (!any || a->last_end > last)
            last = a->last_end;
        any = 1;
    }
    stats->wall_s = any ? last - first : 0.0;
}

/* Driver: starts every actor thread and waits until each reported ready or failed. */
static void start_actors(struct pool *pool)
{
    uint32_t n_started = 0;

    for (uint32_t i = 0; i < pool->n_actors; i++) {
        struct actor *a = &pool->actors[i];
        int e = pthread_create(&a->thread, NULL, actor_main, a);

        if (e != 0) {
            pool_fail(pool, WN_EIO, "stage '%s': cannot start the thread of actor %u/%u: %s",
                      pool->stage->name, i, pool->n_actors, strerror(e));
            break;
        }
        a->started = 1;
        n_started++;
    }
    pthread_mutex_lock(&pool->lock);
    while (pool->n_reported < n_started)
        pthread_cond_wait(&pool->reported_cv, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}

/* Driver: tells every actor no batch will come, and waits for their threads to end. */
static void close_and_join(struct pool *pool)
{
    for (uint32_t i = 0; i < pool->n_actors; i++) {
        struct actor *a = &pool->actors[i];

        if (!a->started)
            continue;
        pthread_mutex_lock(&a->lock);
        a->closed = 1;
        pthread_cond_signal(&a->wake);
        pthread_mutex_unlock(&a->lock);
    }
    for (uint32_t i = 0; i < pool->n_actors; i++)
        if (pool->actors[i].started)
            pthread_join(pool->actors[i].thread, NULL);
}

/* Allocates and initialises the actors (no thread yet); each output list
 * starts with room for an even share of the input (one output per input). */
static int actors_new(struct pool *pool, size_t n_tasks, struct wn_error *err)
{
    size_t expected_outs = n_tasks / pool->n_actors + 16;
    void *mem;

    if (posix_memalign(&mem, 64, pool->n_actors * sizeof(struct actor)) != 0)
        return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory for %u actors",
                            pool->stage->name, pool->n_actors);
    memset(mem, 0, pool->n_actors * sizeof(struct actor));
    pool->actors = mem;
    for (uint32_t i = 0; i < pool->n_actors; i++) {
        struct actor *a = &pool->actors[i];

        a->emitter.emit = actor_emit;
        a->pool = pool;
        a->index = i;
        pthread_mutex_init(&a->lock, NULL);
        pthread_cond_init(&a->wake, NULL);
        a->ring = malloc(pool->max_inflight * sizeof(*a->ring));
        a->cap_outs = expected_outs;
        a->outs = malloc(a->cap_outs * sizeof(*a->outs));
        if (a->ring == NULL || a->outs == NULL)
            return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory for %u actors",
                                pool->stage->name, pool->n_actors);
    }
    return 0;
}

/* Frees the actors, and every output still in their hands. */
static void actors_free(struct pool *pool)
{
    if (pool->actors == NULL)
        return;
    for (uint32_t i = 0; i < pool->n_actors; i++) {
        struct actor *a = &pool->actors[i];

        for (size_t k = 0; k < a->n_outs; k++)
            wn_task_free(a->outs[k]);
        free(a->outs);
        free(a->ring);
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
    }
    free(pool->actors);
    pool->actors = NULL;
}

int wn_stage_pool_run(const struct wn_run_stage *stage, struct wn_task **tasks, size_t n_tasks,
                      const struct wn_stage_pool_options *options, struct wn_task ***out,
                      size_t *n_out, struct wn_stage_stats *stats, struct wn_error *err)
{
    struct wn_batch_range *ranges = NULL;
    struct wn_stage_stats measured;
    struct pool pool;
    size_t n_ranges = 0;
    double started_at = now_s();
    int rc;

    *out = NULL;
    *n_out = 0;
    if (options->actors == 0 || n_tasks == 0) {
        for (size_t i = 0; i < n_tasks; i++)
            wn_task_free(tasks[i]);
        free(tasks);
        return wn_error_set(err, WN_EINTERNAL, "stage '%s': a pool of %u actors for %zu tasks",
                            stage->name, options->actors, n_tasks);
    }
    memset(&pool, 0, sizeof(pool));
    memset(&measured, 0, sizeof(measured));
    pool.stage = stage;
    pool.ops = stage->desc->ops;
    pool.tasks = tasks;
    pool.n_actors = options->actors;
    pool.max_inflight = options->max_inflight ? options->max_inflight : 1;
    measured.tasks_in = n_tasks;

    rc = wn_batching_split(n_tasks, stage->batch_size ? stage->batch_size : 1, 0, &ranges,
                           &n_ranges, err);
    if (rc < 0) {
        wn_error_prefix(err, "stage '%s'", stage->name);
        goto out_free_tasks;
    }
    pool.batches = calloc(n_ranges ? n_ranges : 1, sizeof(*pool.batches));
    if (pool.batches == NULL) {
        free(ranges);
        rc = wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory for %zu batches",
                          stage->name, n_ranges);
        goto out_free_tasks;
    }
    for (size_t b = 0; b < n_ranges; b++)
        pool.batches[b].range = ranges[b];
    pool.n_batches = n_ranges;
    free(ranges);

    if (sem_init(&pool.free_slots, 0, pool.n_actors * pool.max_inflight) != 0) {
        rc = wn_error_set(err, WN_EIO, "stage '%s': cannot make the dispatch semaphore: %s",
                          stage->name, strerror(errno));
        goto out_free_batches;
    }
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.reported_cv, NULL);
    rc = actors_new(&pool, n_tasks, err);
    if (rc < 0)
        goto out_free_actors;

    start_actors(&pool);
    if (!__atomic_load_n(&pool.stop, __ATOMIC_SEQ_CST))
        dispatch(&pool);
    close_and_join(&pool);

    if (pool.failed) {
        rc = pool.error.code;
        wn_error_set(err, rc, "%s", pool.error.message);
    } else {
        rc = collect_outputs(&pool, out, n_out, err);
    }
    fill_stats(&pool, n_tasks, *n_out, &measured);
    if (rc == 0)
        wn_log(WN_LOG_INFO, LOG_DOMAIN,
               "stage '%s': %zu tasks (%llu items) in, %zu tasks (%llu items) out, %zu batches "
               "on %u actors in %.3f s (busy %.3f s)",
               stage->name, n_tasks, (unsigned long long)measured.items_in, *n_out,
               (unsigned long long)measured.items_out, pool.n_batches, pool.n_actors,
               now_s() - started_at, measured.busy_s);

out_free_actors:
    actors_free(&pool);
    pthread_cond_destroy(&pool.reported_cv);
    pthread_mutex_destroy(&pool.lock);
    sem_destroy(&pool.free_slots);
out_free_batches:
    free(pool.batches);
out_free_tasks:
    /* Every slot a batch ran on is NULL already; what is left never ran. */
    for (size_t i = 0; i < n_tasks; i++) {
        if (tasks[i] == NULL)
            continue;
        measured.items_in += wn_task_num_items(tasks[i]);
        wn_task_free(tasks[i]);
    }
    free(tasks);
    if (stats != NULL)
        *stats = measured;
    return rc;
}
