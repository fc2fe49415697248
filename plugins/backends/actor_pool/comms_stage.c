/*
 * COMMS stages in the actor_pool executor (see comms_stage.h).
 *
 * Threads and what they own:
 *   coordinator  plans, starts the ranks as actors of the stage, waits for
 *                them (aborting the group if the run stops), joins them,
 *                and collects the outputs;
 *   rank i       its stage instance, its communicator, its outputs, and its
 *                chunk from the moment process_batch is called.
 * The shared state (struct comms_run) is kept by the stage's barrier node
 * (wn_ap_node_keep) and freed with the run context, once every actor
 * thread of the run has ended.  So when the run stops, the coordinator
 * aborts the group and returns at once, without waiting for its ranks:
 * the driver joins them (and abandons one still hung past timeout_s); a
 * rank abandoned in a hung hook goes on, if its hook ever returns, with
 * the tasks, its outputs and the group still valid.  What is left then
 * (tasks, outputs, the group) is freed with the state.
 */
#include "build_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/comms.h>
#include <winnow/log.h>

#include "barrier.h"
#include "batching.h"
#include "comms_stage.h"

#define LOG_DOMAIN WN_AP_LOG_DOMAIN

struct comms_run;

/* The communicator a rank's hooks get: the provider's, every collective
 * called with the hook's timeout watch paused (a rank waiting for a hung
 * peer is not the hung one; the provider times its waits). */
struct comms_wrap {
    struct wn_comms comms; /* first: what worker->comms points at */
    struct wn_comms *inner;
    struct wn_ap_actor *actor;
};

/* One actor: one rank. */
struct comms_rank {
    struct wn_ap_outputs outs; /* what process_batch emits (rank's thread) */
    struct comms_wrap wrap;
    struct comms_run *run;
    uint32_t index;
    struct wn_batch_range chunk;
};

struct comms_run {
    struct wn_ap_stage *stage;
    const struct wn_comms_provider_ops *provider;
    struct wn_comms_group *group;
    struct wn_task **tasks;
    size_t n_tasks;
    struct comms_rank *ranks;
    uint32_t n;
    uint32_t finished; /* atomic futex word: bodies that ended */
    uint32_t id_event; /* atomic futex word: bumped when id_state is set */
    int id_state;      /* atomic: 0 not yet made, 1 made, -1 the root could not make it */
    struct wn_comms_unique_id id;

    pthread_mutex_t lock; /* guards what follows */
    int failed;
    struct wn_error error; /* the first failure that is a cause */
};

static const struct wn_comms_provider_ops *provider_of(const struct wn_run_stage *stage)
{
    const struct wn_backend_desc *backend;

    if (stage->struct_size < offsetof(struct wn_run_stage, comms_params) + sizeof(void *))
        return NULL;
    backend = stage->comms_backend;
    if (backend == NULL || backend->kind != WN_BACKEND_COMMS)
        return NULL;
    return backend->ops;
}

int wn_ap_comms_check(struct wn_ap_stage *ap_stage, struct wn_error *err)
{
    const struct wn_run_stage *stage = ap_stage->config;
    const struct wn_comms_provider_ops *p = provider_of(stage);

    if (p == NULL)
        return wn_error_set(err, WN_ECONFIG,
                            "stage '%s' is a COMMS stage but the run names no comms provider "
                            "for it (give \"comms\": \"ucx\" or \"nccl\" in its config)",
                            stage->name);
    if (p->version < 1 || p->group_new == NULL || p->unique_id == NULL || p->rank_init == NULL ||
        p->group_abort == NULL)
        return wn_error_set(err, WN_EPLUGIN,
                            "stage '%s': comms provider '%s' is missing group_new, unique_id, "
                            "rank_init or group_abort (ops version %u)",
                            stage->name, stage->comms_backend->name, p->version);
    return 0;
}

/* Frees the shared state with the run context (wn_ap_node_keep), after
 * every rank's thread ended: what no rank freed, and the group. */
static void comms_run_free(void *arg)
{
    struct comms_run *run = arg;

    for (size_t i = 0; i < run->n_tasks; i++)
        wn_task_free(run->tasks[i]);
    free(run->tasks);
    for (uint32_t i = 0; run->ranks != NULL && i < run->n; i++)
        wn_ap_outputs_free(&run->ranks[i].outs);
    free(run->ranks);
    if (run->group != NULL && run->provider->group_free != NULL)
        run->provider->group_free(run->group); /* every rank_destroy is done */
    pthread_mutex_destroy(&run->lock);
    free(run);
}

/* Records a failure and aborts the group.  The stage's error is the first
 * failure that is a cause: a rank stopped by another (WN_ECANCELED) gives
 * way to the one that stopped it, even when it reports first.  The others
 * are logged.  Any thread. */
static void run_fail(struct comms_run *run, int code, const char *fmt, ...) WN_PRINTF(3, 4);

static void run_fail(struct comms_run *run, int code, const char *fmt, ...)
{
    char message[WN_ERROR_MESSAGE_MAX], displaced[WN_ERROR_MESSAGE_MAX];
    va_list ap;
    int keep, displace;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    code = code < 0 ? code : WN_EPLUGIN;
    pthread_mutex_lock(&run->lock);
    displace = run->failed && run->error.code == WN_ECANCELED && code != WN_ECANCELED;
    keep = !run->failed || displace;
    if (displace)
        snprintf(displaced, sizeof(displaced), "%s", run->error.message);
    if (keep) {
        run->failed = 1;
        wn_error_set(&run->error, code, "%s", message);
    }
    pthread_mutex_unlock(&run->lock);
    if (displace)
        wn_log(WN_LOG_INFO, LOG_DOMAIN, "also: %s", displaced);
    if (!keep)
        wn_log(code == WN_ECANCELED ? WN_LOG_INFO : WN_LOG_WARN, LOG_DOMAIN, "also: %s", message);
    if (run->group != NULL)
        run->provider->group_abort(run->group, message);
}

static void hook_failed(struct comms_rank *r, const char *hook, int rc,
                        const struct wn_error *hook_err)
{
    char buf[96];

    run_fail(r->run, rc, "stage '%s' actor %u/%u failed in %s: %s", r->run->stage->name, r->index,
             r->run->n, hook, wn_ap_hook_message(hook_err, rc, buf, sizeof(buf)));
}

/* ---- the communicator hooks get ---------------------------------------------------- */

static int stopped(struct comms_wrap *w, struct wn_error *err)
{
    return wn_error_set(err, WN_ECANCELED,
                        "stage '%s' actor %u: the run stopped (a hook ran past timeout_s)",
                        w->actor->stage->name, w->actor->index);
}

/* Calls the provider's method with the hook's watch paused. */
#define WRAPPED_CALL(c, err, method, ...)                                                          \
    do {                                                                                           \
        struct comms_wrap *w = (struct comms_wrap *)(c);                                           \
        struct wn_ap_hook_pause pause;                                                             \
        int rc;                                                                                    \
                                                                                                   \
        if (wn_ap_hook_pause(w->actor, &pause))                                                    \
            return stopped(w, err);                                                                \
        rc = w->inner->method(w->inner, __VA_ARGS__);                                              \
        wn_ap_hook_resume(w->actor, &pause);                                                       \
        return rc;                                                                                 \
    } while (0)

static int wrap_allreduce(struct wn_comms *c, const void *send, void *recv, size_t count,
                          enum wn_comms_dtype dtype, enum wn_comms_op op,
                          enum wn_comms_memory memory, struct wn_error *err)
{
    WRAPPED_CALL(c, err, allreduce, send, recv, count, dtype, op, memory, err);
}

static int wrap_bcast(struct wn_comms *c, void *buf, size_t count, enum wn_comms_dtype dtype,
                      uint32_t root, enum wn_comms_memory memory, struct wn_error *err)
{
    WRAPPED_CALL(c, err, bcast, buf, count, dtype, root, memory, err);
}

static int wrap_reduce(struct wn_comms *c, const void *send, void *recv, size_t count,
                       enum wn_comms_dtype dtype, enum wn_comms_op op, uint32_t root,
                       enum wn_comms_memory memory, struct wn_error *err)
{
    WRAPPED_CALL(c, err, reduce, send, recv, count, dtype, op, root, memory, err);
}

static int wrap_allgather(struct wn_comms *c, const void *send, void *recv, size_t sendcount,
                          enum wn_comms_dtype dtype, enum wn_comms_memory memory,
                          struct wn_error *err)
{
    WRAPPED_CALL(c, err, allgather, send, recv, sendcount, dtype, memory, err);
}

static int wrap_allgatherv(struct wn_comms *c, const void *send, void *recv,
                           const size_t *recvcounts, const size_t *displs,
                           enum wn_comms_dtype dtype, enum wn_comms_memory memory,
                           struct wn_error *err)
{
    WRAPPED_CALL(c, err, allgatherv, send, recv, recvcounts, displs, dtype, memory, err);
}

static int wrap_reduce_scatter(struct wn_comms *c, const void *send, void *recv, size_t recvcount,
                               enum wn_comms_dtype dtype, enum wn_comms_op op,
                               enum wn_comms_memory memory, struct wn_error *err)
{
    WRAPPED_CALL(c, err, reduce_scatter, send, recv, recvcount, dtype, op, memory, err);
}

static int wrap_send(struct wn_comms *c, const void *buf, size_t count, enum wn_comms_dtype dtype,
                     uint32_t peer, enum wn_comms_memory memory, struct wn_error *err)
{
    WRAPPED_CALL(c, err, send, buf, count, dtype, peer, memory, err);
}

static int wrap_recv(struct wn_comms *c, void *buf, size_t count, enum wn_comms_dtype dtype,
                     uint32_t peer, enum wn_comms_memory memory, struct wn_error *err)
{
    WRAPPED_CALL(c, err, recv, buf, count, dtype, peer, memory, err);
}

static int wrap_sendrecv(struct wn_comms *c, const void *send, size_t sendcount, uint32_t dest,
                         void *recv, size_t recvcount, uint32_t source, enum wn_comms_dtype dtype,
                         enum wn_comms_memory memory, struct wn_error *err)
{
    WRAPPED_CALL(c, err, sendrecv, send, sendcount, dest, recv, recvcount, source, dtype, memory,
                 err);
}

static int wrap_barrier(struct wn_comms *c, struct wn_error *err)
{
    WRAPPED_CALL(c, err, barrier, err);
}

static void *wrap_native_handle(struct wn_comms *c, const char *name)
{
    struct comms_wrap *w = (struct comms_wrap *)c;

    return w->inner->native_handle(w->inner, name);
}

/* Sets the slot to the wrapper's when the provider has the method. */
#define WRAP_SLOT(w, slot)                                                                         \
    do {                                                                                           \
        if (WN_COMMS_HAS((w)->inner, slot))                                                        \
            (w)->comms.slot = wrap_##slot;                                                         \
        else                                                                                       \
            (w)->comms.slot = NULL;                                                                \
    } while (0)

/* The provider's communicator inner, as rank r's hooks see it. */
static struct wn_comms *wrap_comms(struct comms_rank *r, struct wn_ap_actor *a,
                                   struct wn_comms *inner)
{
    struct comms_wrap *w = &r->wrap;
    size_t size = inner->struct_size < sizeof(w->comms) ? inner->struct_size : sizeof(w->comms);

    memset(w, 0, sizeof(*w));
    memcpy(&w->comms, inner, size); /* version, struct_size, rank, size, provider, impl */
    w->inner = inner;
    w->actor = a;
    WRAP_SLOT(w, allreduce);
    WRAP_SLOT(w, bcast);
    WRAP_SLOT(w, reduce);
    WRAP_SLOT(w, allgather);
    WRAP_SLOT(w, allgatherv);
    WRAP_SLOT(w, reduce_scatter);
    WRAP_SLOT(w, send);
    WRAP_SLOT(w, recv);
    WRAP_SLOT(w, sendrecv);
    WRAP_SLOT(w, barrier);
    WRAP_SLOT(w, native_handle);
    return &w->comms;
}

/* Root: publishes the id's state (1 made, -1 not) to the ranks waiting for it. */
static void publish_id_state(struct comms_run *run, int state)
{
    __atomic_store_n(&run->id_state, state, __ATOMIC_RELEASE);
    wn_event_signal(&run->id_event);
}

/* The root makes the group's id and hands it over; the others wait for it
 * (or for the run to stop: a root abandoned in create never publishes). */
static int exchange_unique_id(struct comms_rank *r, int usable)
{
    struct comms_run *run = r->run;
    struct wn_error hook_err = WN_ERROR_INIT;
    int rc = -1, state;

    if (r->index == 0) {
        if (usable) {
            rc = run->provider->unique_id(run->group, &run->id, &hook_err);
            if (rc < 0)
                hook_failed(r, "making the comms group's unique id", rc, &hook_err);
        }
        publish_id_state(run, rc == 0 ? 1 : -1);
        return rc == 0 ? 0 : -1;
    }
    for (;;) {
        uint32_t event = __atomic_load_n(&run->id_event, __ATOMIC_ACQUIRE);

        state = __atomic_load_n(&run->id_state, __ATOMIC_ACQUIRE);
        if (state != 0)
            break;
        if (wn_ap_run_stopping(run->stage->run))
            return -1;
        wn_futex_wait(&run->id_event, event, 20000000ull);
    }
    return state == 1 ? 0 : -1;
}

/* Runs the rank's one batch (its chunk), stamps and counts the outputs; on
 * failure records it.  Returns nonzero when the actor was abandoned in the
 * hook (the run failed: its outputs are left to the state's free). */
static int process_chunk(struct comms_rank *r, struct wn_ap_actor *a, void *state,
                         uint64_t ready_ns)
{
    struct comms_run *run = r->run;
    struct wn_ap_stage *stage = run->stage;
    struct wn_task **in = run->tasks + r->chunk.start;
    size_t n_in = r->chunk.len;
    struct wn_error hook_err = WN_ERROR_INIT;
    char first_id[WN_AP_TASK_NOTE], buf[96];
    uint64_t items_in = 0, items_out = 0, start, end;
    int rc, abandoned;

    for (size_t i = 0; i < n_in; i++)
        items_in += wn_task_num_items(in[i]);
    snprintf(first_id, sizeof(first_id), "%s", wn_task_id(in[0]));
    start = wn_ap_run_clock(stage->run);
    wn_ap_actor_hook_begin(a, "process_batch", first_id, (uint32_t)n_in);
    rc = stage->ops->process_batch(state, in, n_in, &r->outs.em.emitter, &hook_err);
    abandoned = wn_ap_actor_hook_end(a);
    end = wn_ap_run_clock(stage->run);
    for (size_t i = 0; i < n_in; i++) {
        wn_task_free(in[i]);
        in[i] = NULL;
    }
    if (abandoned)
        return 1;
    if (rc >= 0 && r->outs.failed)
        rc = wn_error_set(&hook_err, WN_ENOMEM, "out of memory collecting the outputs");
    for (size_t i = 0; rc >= 0 && i < r->outs.n; i++) {
        items_out += wn_task_num_items(r->outs.tasks[i]);
        if (wn_task_perf_add(r->outs.tasks[i], stage->name, (double)(end - start) * 1e-9,
                             (double)(start - ready_ns) * 1e-9, items_in) < 0)
            rc = wn_error_set(&hook_err, WN_ENOMEM, "out of memory adding the perf record of %s",
                              wn_task_id(r->outs.tasks[i]));
    }
    wn_ap_actor_batch_done(a, start, end, start - ready_ns, first_id, (uint32_t)n_in,
                           (uint32_t)r->outs.n, items_in, items_out, 1, rc >= 0);
    if (rc >= 0)
        return 0;
    if (n_in > 1)
        run_fail(run, rc, "stage '%s' actor %u/%u failed on task %s (and %zu more): %s",
                 stage->name, r->index, run->n, first_id, n_in - 1,
                 wn_ap_hook_message(&hook_err, rc, buf, sizeof(buf)));
    else
        run_fail(run, rc, "stage '%s' actor %u/%u failed on task %s: %s", stage->name, r->index,
                 run->n, first_id, wn_ap_hook_message(&hook_err, rc, buf, sizeof(buf)));
    return 0;
}

/* A rank's actor body, in the RAFT adapter's order (see comms_stage.h); the
 * actor's device is current on this thread already. */
static void rank_body(struct wn_ap_actor *a, void *arg)
{
    struct comms_rank *r = arg;
    struct comms_run *run = r->run;
    struct wn_ap_stage *stage = run->stage;
    const struct wn_stage_ops *ops = stage->ops;
    struct wn_error hook_err = WN_ERROR_INIT;
    struct wn_comms *comms = NULL;
    struct wn_worker worker;
    void *state = NULL;
    uint64_t t0, t1;
    int created = 0, abandoned = 0, rc = 0;

    wn_ap_outputs_init(&r->outs, a);
    t0 = wn_ap_run_clock(stage->run);
    if (ops->create != NULL) {
        wn_ap_actor_hook_begin(a, "create", NULL, 0);
        rc = ops->create(stage->config->params, &state, &hook_err);
        abandoned = wn_ap_actor_hook_end(a);
    }
    created = rc >= 0;
    if (abandoned)
        goto out_teardown;
    if (!created)
        hook_failed(r, "create", rc, &hook_err);

    if (exchange_unique_id(r, created) == 0 && created) {
        t1 = wn_ap_run_clock(stage->run);
        wn_error_clear(&hook_err);
        rc = run->provider->rank_init(run->group, &run->id, r->index, a->device_id, &comms,
                                      &hook_err);
        wn_ap_actor_trace(a, "comms rank_init", t1, wn_ap_run_clock(stage->run));
        if (rc < 0) {
            comms = NULL;
            hook_failed(r, "joining the comms group", rc, &hook_err);
        }
    }
    if (comms != NULL) {
        /* Every rank joined: setup sees a working communicator. */
        wn_ap_actor_worker(a, run->n, &worker);
        worker.actor_index = r->index;
        worker.comms = wrap_comms(r, a, comms);
        wn_error_clear(&hook_err);
        rc = 0;
        if (ops->setup != NULL) {
            wn_ap_actor_hook_begin(a, "setup", NULL, 0);
            rc = ops->setup(state, &worker, &hook_err);
            abandoned = wn_ap_actor_hook_end(a);
        }
        t1 = wn_ap_run_clock(stage->run);
        a->setup_ns = t1 - t0;
        wn_ap_actor_trace(a, "setup", t0, t1);
        if (abandoned)
            goto out_teardown;
        if (rc < 0)
            hook_failed(r, "setup", rc, &hook_err);
        else
            process_chunk(r, a, state, t1); /* abandoned or not, teardown comes next */
    }

out_teardown:
    /* Every created actor is torn down, also after a failure; the
     * communicator goes after teardown.  (Once abandoned, nothing is watched.) */
    if (created && ops->teardown != NULL) {
        t1 = wn_ap_run_clock(stage->run);
        wn_ap_actor_hook_begin(a, "teardown", NULL, 0);
        ops->teardown(state);
        wn_ap_actor_hook_end(a); /* once abandoned, what it held is the state's */
        wn_ap_actor_trace(a, "teardown", t1, wn_ap_run_clock(stage->run));
    }
    if (comms != NULL && run->provider->rank_destroy != NULL)
        run->provider->rank_destroy(run->group, comms);
    if (created && ops->destroy != NULL) {
        wn_ap_actor_hook_begin(a, "destroy", NULL, 0);
        ops->destroy(state);
        wn_ap_actor_hook_end(a); /* once abandoned, what it held is the state's */
    }
    wn_event_signal(&run->finished);
}

/* Sizes the pool: N <= tasks (one chunk per rank), an explicit count
 * honoured within the resources, GPUs as the run's ledger has them now. */
static int plan_ranks(struct wn_ap_stage *stage, size_t n_tasks, uint32_t *n, struct wn_error *err)
{
    struct wn_pool_plan plan;
    /* One chunk per rank: at most one rank per task. */
    int rc = wn_ap_stage_plan_batches(stage, n_tasks, 1, &plan, err);

    if (rc < 0)
        return rc;
    *n = plan.actors;
    if ((size_t)*n > n_tasks)
        *n = (uint32_t)n_tasks;
    if (stage->explicit_actors > *n)
        wn_log(WN_LOG_WARN, LOG_DOMAIN,
               "stage '%s': %u ranks asked, running %u (%zu input task%s, resources for %u): "
               "every rank needs a task",
               stage->name, stage->explicit_actors, *n, n_tasks, n_tasks == 1 ? "" : "s",
               plan.max_actors);
    return 0;
}

/* Coordinator, after the joins: the outputs of every rank, rank 0's first. */
static int collect_outputs(struct comms_run *run, struct wn_task ***out, size_t *n_out,
                           struct wn_error *err)
{
    struct wn_task **outs;
    size_t total = 0, k = 0;

    for (uint32_t i = 0; i < run->n; i++)
        total += run->ranks[i].outs.n;
    if (total == 0)
        return 0;
    outs = malloc(total * sizeof(*outs));
    if (outs == NULL)
        return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory collecting %zu outputs",
                            run->stage->name, total);
    for (uint32_t i = 0; i < run->n; i++) {
        struct comms_rank *r = &run->ranks[i];

        if (r->outs.n > 0)
            memcpy(outs + k, r->outs.tasks, r->outs.n * sizeof(*outs));
        k += r->outs.n;
        free(r->outs.tasks);
        r->outs.tasks = NULL;
        r->outs.n = r->outs.cap = 0;
    }
    *out = outs;
    *n_out = total;
    return 0;
}

/* Coordinator: starts every rank's actor; returns how many started. */
static uint32_t start_ranks(struct comms_run *run)
{
    struct wn_error start_err = WN_ERROR_INIT;
    uint32_t started = wn_ap_kind_start_ranks(run->stage, run->n, rank_body, run->ranks,
                                              sizeof(*run->ranks), &start_err);

    if (started < run->n) {
        run_fail(run, start_err.code, "stage '%s': cannot start actor %u/%u: %s", run->stage->name,
                 started, run->n, start_err.message);
        if (started == 0) /* nobody makes the id: release the others' wait */
            publish_id_state(run, -1);
    }
    return started;
}

/* Coordinator: waits until every started rank's body ended (then joins
 * them: 0), or the run stops: then aborts the group, so that no rank waits
 * for a peer that hangs or is gone, and returns WN_ECANCELED at once (the
 * driver joins the actors, and abandons one still hung past timeout_s). */
static int wait_ranks(struct comms_run *run, uint32_t started)
{
    if (wn_ap_kind_wait_count(run->stage->run, &run->finished, started) < 0) {
        run->provider->group_abort(run->group, "the run stopped");
        return WN_ECANCELED;
    }
    wn_ap_stage_join_actors(run->stage);
    /* Every rank left the group: it goes on the thread that made it. */
    if (run->provider->group_free != NULL)
        run->provider->group_free(run->group);
    run->group = NULL;
    return 0;
}

int wn_ap_comms_run(struct wn_ap_stage *stage, struct wn_task **in, size_t n_in,
                    struct wn_task ***out, size_t *n_out, struct wn_error *err)
{
    const struct wn_run_stage *config = stage->config;
    struct wn_batch_range *chunks = NULL;
    struct comms_run *run;
    size_t n_chunks = 0;
    uint64_t started_at = wn_ap_run_clock(stage->run);
    uint32_t started;
    int rc;

    *out = NULL;
    *n_out = 0;
    run = calloc(1, sizeof(*run));
    if (run == NULL) {
        for (size_t i = 0; i < n_in; i++)
            wn_task_free(in[i]);
        free(in);
        return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory", stage->name);
    }
    run->stage = stage;
    run->provider = provider_of(config);
    run->tasks = in;
    run->n_tasks = n_in;
    pthread_mutex_init(&run->lock, NULL);
    if (stage->node == NULL) { /* runners run inside a barrier node */
        comms_run_free(run);
        return wn_error_set(err, WN_EINTERNAL, "stage '%s': a COMMS stage without its node",
                            stage->name);
    }
    wn_ap_node_keep(stage->node, run, comms_run_free);

    rc = wn_ap_comms_check(stage, err);
    if (rc == 0)
        rc = plan_ranks(stage, n_in, &run->n, err);
    if (rc == 0)
        rc = wn_batching_split(n_in, 0, run->n, &chunks, &n_chunks, err);
    if (rc == 0 && n_chunks != run->n)
        rc = wn_error_set(err, WN_EINTERNAL, "stage '%s': %zu chunks for %u ranks", stage->name,
                          n_chunks, run->n);
    if (rc == 0 && (run->ranks = calloc(run->n, sizeof(*run->ranks))) == NULL)
        rc = wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory for %u ranks", stage->name,
                          run->n);
    if (rc < 0)
        goto out_free;
    for (uint32_t i = 0; i < run->n; i++) {
        run->ranks[i].run = run;
        run->ranks[i].index = i;
        run->ranks[i].chunk = chunks[i];
    }
    rc = run->provider->group_new(stage->name, config->comms_params, run->n, &run->group, err);
    if (rc < 0) {
        run->group = NULL;
        wn_error_prefix(err, "stage '%s': comms provider '%s'", stage->name,
                        config->comms_backend->name);
        goto out_free;
    }
    stage->pool_size = run->n;
    stage->pool_fixed = 1;
    wn_log(WN_LOG_INFO, LOG_DOMAIN, "stage '%s': %u ranks over comms '%s' for %zu tasks",
           stage->name, run->n, config->comms_backend->name, n_in);

    started = start_ranks(run);
    if (wait_ranks(run, started) < 0) /* ranks may still run: the run's error says why */
        rc = wn_error_set(err, WN_ECANCELED, "stage '%s' stopped: the run failed", stage->name);
    else if (run->failed) /* every rank is done: no lock needed */
        rc = wn_error_set(err, run->error.code, "%s", run->error.message);
    else if (wn_ap_run_stopping(stage->run))
        rc = wn_error_set(err, WN_ECANCELED, "stage '%s' stopped: the run failed", stage->name);
    else
        rc = collect_outputs(run, out, n_out, err);
    if (rc == 0)
        wn_log(WN_LOG_INFO, LOG_DOMAIN,
               "stage '%s': %zu tasks in, %zu tasks out on %u ranks in "
               "%.3f s",
               stage->name, n_in, *n_out, run->n,
               (double)(wn_ap_run_clock(stage->run) - started_at) * 1e-9);

out_free:
    /* What is left (tasks, outputs, the group) goes with the state. */
    free(chunks);
    return rc;
}
