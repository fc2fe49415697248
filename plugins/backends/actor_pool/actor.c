/*
 * Actors of the actor_pool executor (see executor.h): one thread per actor,
 * placed on a GPU when its stage asks for one, named "<stage>/<index>",
 * with its device made current before it runs anything of the stage; the
 * hook it is in, for the driver's timeout watch; its counters, metrics and
 * trace slices.
 */
#include "build_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/log.h>

#include "executor.h"
#include "wait.h"

/* A single-writer counter that other threads may read while it changes. */
#define COUNT_ADD(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)

static void note_copy(char *dst, const char *src)
{
    size_t len = src ? strnlen(src, WN_AP_TASK_NOTE - 1) : 0;

    if (len > 0)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

static void *actor_thread(void *arg)
{
    struct wn_ap_actor *a = arg;
    struct wn_ap_stage *stage = a->stage;
    struct wn_ap_run *run = stage->run;
    char thread_name[16];
    int abandoned;

    snprintf(thread_name, sizeof(thread_name), "%.10s/%u", stage->name, a->index);
    pthread_setname_np(pthread_self(), thread_name);
    if (a->device_id >= 0 && run->gpus_bind) {
        struct wn_error bind_err = WN_ERROR_INIT;

        if (wn_gpu_bind(a->device_id, &bind_err) < 0) {
            wn_ap_stage_fail(stage, bind_err.code, "stage '%s' actor %u: %s", stage->name, a->index,
                             bind_err.message);
            goto out;
        }
    }
    a->body(a, a->arg);

out:
    abandoned = __atomic_load_n(&a->abandoned, __ATOMIC_ACQUIRE);
    if (!abandoned) {
        /* Its GPU share is free for the stages still running. */
        pthread_mutex_lock(&run->lock);
        wn_gpu_ledger_release(&run->ledger, &a->placement);
        a->placement.count = 0;
        pthread_mutex_unlock(&run->lock);
    }
    if (a->events != NULL)
        wn_ap_trace_flush_actor(run, a);
    __atomic_store_n(&a->exited, 1, __ATOMIC_RELEASE);
    wn_futex_wake(&a->exited, INT32_MAX);
    /* A thread the driver gave up on holds a reference of its own: it may be
     * the last user of the run context. */
    if (abandoned)
        wn_ap_run_unref(run);
    return NULL;
}

int wn_ap_actor_start(struct wn_ap_stage *stage, const struct wn_gpu_placement *placement,
                      wn_ap_actor_body_fn body, void *arg, struct wn_ap_actor **out,
                      struct wn_error *err)
{
    struct wn_ap_run *run = stage->run;
    struct wn_gpu_placement place;
    struct wn_ap_actor *a = NULL;
    void *mem = NULL;
    int rc = 0, e;

    if (out != NULL)
        *out = NULL;
    pthread_mutex_lock(&run->lock);
    if (stage->n_actors == stage->cap_actors) {
        uint32_t cap = stage->cap_actors ? stage->cap_actors * 2 : 8;
        struct wn_ap_actor **actors = realloc(stage->actors, cap * sizeof(*actors));

        if (actors == NULL) {
            rc = wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory for actor %u", stage->name,
                              stage->n_actors);
            goto out_unlock;
        }
        stage->actors = actors;
        stage->cap_actors = cap;
    }
    if (placement != NULL) {
        place = *placement;
    } else if (wn_gpu_ledger_place(&run->ledger, &stage->resources, &place) < 0) {
        rc = wn_error_set(err, WN_ERESOURCE,
                          "stage '%s': no GPU has room for another actor (%g free)", stage->name,
                          wn_gpu_ledger_total_free(&run->ledger));
        goto out_unlock;
    }
    if (posix_memalign(&mem, 64, sizeof(*a)) != 0) {
        wn_gpu_ledger_release(&run->ledger, &place);
        rc = wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory for actor %u", stage->name,
                          stage->n_actors);
        goto out_unlock;
    }
    a = memset(mem, 0, sizeof(*a));
    a->stage = stage;
    a->index = stage->n_actors;
    a->track = run->next_track++;
    a->placement = place;
    a->device_id = place.count > 0 ? run->ledger.dev[place.index[0]].id : -1;
    a->body = body;
    a->arg = arg;
    if (run->trace != NULL) {
        a->events = calloc(WN_AP_TRACE_BUFFER, sizeof(*a->events));
        if (a->events == NULL) {
            wn_gpu_ledger_release(&run->ledger, &place);
            free(a);
            rc = wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory for actor %u", stage->name,
                              stage->n_actors);
            goto out_unlock;
        }
    }
    stage->actors[stage->n_actors] = a;
    __atomic_store_n(&stage->n_actors, stage->n_actors + 1, __ATOMIC_RELEASE);
    e = pthread_create(&a->thread, NULL, actor_thread, a);
    if (e != 0) {
        /* Kept in the array (never started): the report shows it, join skips it. */
        wn_gpu_ledger_release(&run->ledger, &a->placement);
        a->placement.count = 0;
        a->exited = 1;
        rc = wn_error_set(err, WN_EIO, "stage '%s': cannot start the thread of actor %u: %s",
                          stage->name, a->index, strerror(e));
        goto out_unlock;
    }
    a->thread_started = 1;
    if (out != NULL)
        *out = a;
out_unlock:
    pthread_mutex_unlock(&run->lock);
    return rc;
}

int wn_ap_actor_attach(struct wn_ap_stage *stage, struct wn_ap_actor *host,
                       struct wn_ap_actor **out, struct wn_error *err)
{
    struct wn_ap_run *run = stage->run;
    struct wn_ap_actor *a;
    void *mem = NULL;
    int rc = 0;

    *out = NULL;
    pthread_mutex_lock(&run->lock);
    if (stage->n_actors == stage->cap_actors) {
        uint32_t cap = stage->cap_actors ? stage->cap_actors * 2 : 8;
        struct wn_ap_actor **actors = realloc(stage->actors, cap * sizeof(*actors));

        if (actors == NULL)
            goto out_nomem;
        stage->actors = actors;
        stage->cap_actors = cap;
    }
    if (posix_memalign(&mem, 64, sizeof(*a)) != 0)
        goto out_nomem;
    a = memset(mem, 0, sizeof(*a));
    a->stage = stage;
    a->index = stage->n_actors;
    a->track = run->next_track++;
    a->device_id = host->device_id;
    if (run->trace != NULL &&
        (a->events = calloc(WN_AP_TRACE_BUFFER, sizeof(*a->events))) == NULL) {
        free(a);
        goto out_nomem;
    }
    stage->actors[stage->n_actors] = a;
    __atomic_store_n(&stage->n_actors, stage->n_actors + 1, __ATOMIC_RELEASE);
    *out = a;
    goto out_unlock;
out_nomem:
    rc = wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory for actor %u", stage->name,
                      stage->n_actors);
out_unlock:
    pthread_mutex_unlock(&run->lock);
    return rc;
}

void wn_ap_stage_join_actors(struct wn_ap_stage *stage)
{
    struct wn_ap_run *run = stage->run;
    uint32_t n = __atomic_load_n(&stage->n_actors, __ATOMIC_ACQUIRE);

    for (uint32_t i = 0; i < n; i++) {
        struct wn_ap_actor *a;
        int started;

        pthread_mutex_lock(&run->lock);
        a = stage->actors[i];
        started = a->thread_started && !a->joined;
        pthread_mutex_unlock(&run->lock);
        if (!started)
            continue;
        /* Wait for the body to end rather than in pthread_join: the driver
         * may abandon a hung actor meanwhile, and then it is never joined. */
        for (;;) {
            if (__atomic_load_n(&a->abandoned, __ATOMIC_ACQUIRE))
                break;
            if (__atomic_load_n(&a->exited, __ATOMIC_ACQUIRE))
                break;
            wn_ap_run_tick(run);
            wn_futex_wait(&a->exited, 0, 20000000ull);
        }
        if (__atomic_load_n(&a->abandoned, __ATOMIC_ACQUIRE))
            continue;
        pthread_join(a->thread, NULL);
        pthread_mutex_lock(&run->lock);
        a->joined = 1;
        pthread_mutex_unlock(&run->lock);
    }
}

void wn_ap_actor_worker(const struct wn_ap_actor *a, uint32_t pool_size, struct wn_worker *worker)
{
    memset(worker, 0, sizeof(*worker));
    worker->struct_size = sizeof(*worker);
    worker->stage_name = a->stage->name;
    worker->actor_index = a->index;
    worker->pool_size = pool_size > a->index ? pool_size : a->index + 1;
    worker->device_id = a->device_id;
    worker->params = a->stage->config->params;
}

void wn_ap_actor_hook_begin(struct wn_ap_actor *a, const char *hook, const char *first_task,
                            uint32_t n_tasks)
{
    if (a->stage->timeout_ns == 0 || __atomic_load_n(&a->abandoned, __ATOMIC_ACQUIRE))
        return;
    a->hook_name = hook;
    a->hook_tasks = n_tasks;
    note_copy(a->hook_task, first_task);
    __atomic_store_n(&a->hook_start_ns, wn_ap_run_clock(a->stage->run), __ATOMIC_RELAXED);
    a->hook_call++;
    __atomic_store_n(&a->hook_word, (a->hook_call << 2) | 1u, __ATOMIC_RELEASE);
}

int wn_ap_actor_hook_end(struct wn_ap_actor *a)
{
    uint64_t expected = (a->hook_call << 2) | 1u;

    if (a->stage->timeout_ns == 0)
        return 0;
    if (__atomic_load_n(&a->abandoned, __ATOMIC_ACQUIRE))
        return 1;
    /* Fails only when the driver set the abandoned bit during the call. */
    return !__atomic_compare_exchange_n(&a->hook_word, &expected, a->hook_call << 2, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static void trace_add(struct wn_ap_actor *a, const char *name, uint64_t start_ns, uint64_t end_ns,
                      const char *first_task, uint32_t n_in, uint32_t n_out, uint32_t attempt,
                      int ok)
{
    struct wn_ap_trace_event *ev;

    if (a->n_events == WN_AP_TRACE_BUFFER)
        wn_ap_trace_flush_actor(a->stage->run, a);
    ev = &a->events[a->n_events++];
    ev->start_ns = start_ns;
    ev->end_ns = end_ns;
    ev->name = name;
    note_copy(ev->task, first_task);
    ev->n_in = n_in;
    ev->n_out = n_out;
    ev->attempt = attempt;
    ev->ok = ok;
}

void wn_ap_actor_batch_done(struct wn_ap_actor *a, uint64_t start_ns, uint64_t end_ns,
                            uint64_t idle_ns, const char *first_task, uint32_t n_in, uint32_t n_out,
                            uint64_t items_in, uint64_t items_out, uint32_t attempt, int ok)
{
    COUNT_ADD(a->batches, 1);
    COUNT_ADD(a->tasks_in, n_in);
    COUNT_ADD(a->tasks_out, n_out);
    COUNT_ADD(a->items_in, items_in);
    COUNT_ADD(a->items_out, items_out);
    COUNT_ADD(a->busy_ns, end_ns - start_ns);
    COUNT_ADD(a->idle_ns, idle_ns);
    if (!ok)
        COUNT_ADD(a->failures, 1);
    if (a->first_start_ns == 0)
        __atomic_store_n(&a->first_start_ns, start_ns ? start_ns : 1, __ATOMIC_RELAXED);
    __atomic_store_n(&a->last_end_ns, end_ns, __ATOMIC_RELAXED);
    if (a->events != NULL)
        trace_add(a, a->stage->name, start_ns, end_ns, first_task, n_in, n_out, attempt, ok);
}

void wn_ap_actor_trace(struct wn_ap_actor *a, const char *name, uint64_t start_ns, uint64_t end_ns)
{
    if (a->events != NULL)
        trace_add(a, name, start_ns, end_ns, NULL, 0, 0, 0, 1);
}

int wn_ap_actor_metric(struct wn_ap_actor *a, const char *name, double value)
{
    struct wn_ap_metric *m = NULL;

    for (size_t i = 0; i < a->n_metrics; i++) {
        if (strcmp(a->metrics[i].name, name) == 0) {
            m = &a->metrics[i];
            break;
        }
    }
    if (m == NULL) {
        char *copy;

        if (a->n_metrics == a->cap_metrics) {
            size_t cap = a->cap_metrics ? a->cap_metrics * 2 : 8;
            struct wn_ap_metric *metrics = realloc(a->metrics, cap * sizeof(*metrics));

            if (metrics == NULL)
                return WN_ENOMEM;
            a->metrics = metrics;
            a->cap_metrics = cap;
        }
        copy = strdup(name);
        if (copy == NULL)
            return WN_ENOMEM;
        m = &a->metrics[a->n_metrics];
        m->name = copy;
        m->sum = 0.0;
        m->count = 0;
        /* Published last: the progress display and report read n_metrics. */
        __atomic_store_n(&a->n_metrics, a->n_metrics + 1, __ATOMIC_RELEASE);
    }
    m->sum += value;
    m->count++;
    return 0;
}

static int emitter_metric(struct wn_emitter *self, const char *name, double value)
{
    struct wn_ap_emitter *e = (struct wn_ap_emitter *)self;

    return wn_ap_actor_metric(e->actor, name, value);
}

static const struct wn_emitter_ext emitter_ext = { WN_EMITTER_EXT_VERSION,
                                                   emitter_metric,
                                                   { NULL } };

void wn_ap_emitter_init(struct wn_ap_emitter *e, struct wn_ap_actor *a,
                        int (*emit)(struct wn_emitter *self, struct wn_task *task))
{
    memset(e, 0, sizeof(*e));
    e->emitter.emit = emit;
    e->emitter.reserved[0] = (void *)&emitter_ext;
    e->actor = a;
}
