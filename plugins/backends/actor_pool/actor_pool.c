/*
 * The actor_pool executor backend: one pool of thread actors per stage (NeMo
 * Curator's RayActorPoolExecutor, in C).
 *
 * A run, in order (README.md says why):
 *   1. take ownership of the initial tasks; read the executor params; check
 *      every stage (a kind this build runs, hooks, the resources for at
 *      least one actor, GPUs found by discovery or given); nothing runs
 *      before the whole pipeline passed;
 *   2. setup_on_node of every stage, on this (the driver) thread;
 *   3. build the graph from the last stage back: the sink; a streaming
 *      engine for each PLAIN stage in streaming mode (plain_stage.c), a
 *      barrier node for every other stage (barrier.c);
 *   4. push the initial tasks into the first stage and close it; then watch:
 *      hook timeouts and progress, until the sink is closed or the run fails;
 *   5. join everything (but the actors abandoned in a hung hook), free what
 *      is left, check every stage's accounting, fill the stats, write the
 *      report, close the trace and the failure manifest.
 */
#include "build_config.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <winnow/backend.h>
#include <winnow/log.h>
#include <winnow/plugin.h>

#include "barrier.h"
#include "executor.h"
#include "plain_stage.h"
#include "pool.h"
#include "wait.h"

#define LOG_DOMAIN WN_AP_LOG_DOMAIN

#define MAX_INFLIGHT_LIMIT 65536
#define QUEUE_TASKS_LIMIT (1 << 24)

/* How often the driver looks for hung hooks. */
#define WATCH_INTERVAL_NS 20000000ull

static const char *const mode_choices[] = { "streaming", "barrier", NULL };

static const struct wn_param_spec actor_pool_params[] = {
    { "mode", WN_PARAM_STRING, 0, "\"streaming\"", 0, 0, mode_choices,
      "streaming: stages overlap through bounded queues; barrier: stage i+1 starts when stage i "
      "is done" },
    { "reserved_cpus", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN, "0", 0, 0, NULL,
      "CPUs kept free of actors" },
    { "reserved_gpus", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN, "0", 0, 0, NULL,
      "GPUs kept free of actors (off the last devices)" },
    { "cpus", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN, NULL, 0, 0, NULL,
      "CPUs available to actors (> 0; default: the process's affinity mask)" },
    { "gpus", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN, NULL, 0, 0, NULL,
      "GPUs available to actors, ids 0.. (default: discovered through the CUDA runtime)" },
    { "gpu_memory_gb", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN, NULL, 0, 0, NULL,
      "memory of each GPU in GB, for gpu_memory_gb requests (default: from NVML)" },
    { "max_inflight", WN_PARAM_INT, WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, "2", 1, MAX_INFLIGHT_LIMIT,
      NULL, "batches queued or running per actor, at least" },
    { "queue_tasks", WN_PARAM_INT, WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, "1024", 1,
      QUEUE_TASKS_LIMIT, NULL,
      "tasks a stage holds at its input before the stages before it wait (backpressure)" },
    { "failures", WN_PARAM_STRING, 0, NULL, 0, 0, NULL,
      "failure manifest (JSONL) of tasks skipped by on_error skip (--failures overrides)" },
    { "progress_interval_s", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN, NULL, 0.01, 0, NULL,
      "seconds between progress updates (default 0.5 on a terminal, 10 otherwise)" },
    { "fuse", WN_PARAM_BOOL, 0, "true", 0, 0, NULL,
      "streaming: run stages of batch_size 1 on the actor threads of the stage before them" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* The reporting fields of the host's struct wn_run, or NULL. */
static const struct wn_run_reporting *host_reporting(const struct wn_run *host)
{
    const struct wn_run_reporting *r;

    if (host->struct_size < offsetof(struct wn_run, reporting) + sizeof(host->reporting))
        return NULL;
    r = host->reporting;
    if (r == NULL || r->struct_size < offsetof(struct wn_run_reporting, tasks_skipped))
        return NULL;
    return r;
}

static int read_options(const struct wn_run *host, struct wn_ap_options *opt, struct wn_error *err)
{
    const struct wn_params *params = host->executor_params;
    const struct wn_run_reporting *rep = host_reporting(host);
    const char *mode = wn_params_get_string(params, "mode");
    int64_t max_inflight =
        wn_params_has(params, "max_inflight") ? wn_params_get_int(params, "max_inflight") : 2;
    int64_t queue_tasks =
        wn_params_has(params, "queue_tasks") ? wn_params_get_int(params, "queue_tasks") : 1024;
    const char *failures = wn_params_get_string(params, "failures");

    memset(opt, 0, sizeof(*opt));
    if (mode == NULL || strcmp(mode, "streaming") == 0)
        opt->mode = WN_AP_STREAMING;
    else if (strcmp(mode, "barrier") == 0)
        opt->mode = WN_AP_BARRIER;
    else
        return wn_error_set(err, WN_ECONFIG,
                            "executor.mode: \"%s\" is not a mode of actor_pool (\"streaming\" "
                            "or \"barrier\")",
                            mode);
    if (wn_params_has(params, "cpus")) {
        opt->capacity.cpus = wn_params_get_double(params, "cpus");
        if (!(opt->capacity.cpus > 0.0))
            return wn_error_set(err, WN_ECONFIG,
                                "executor.cpus: %g is not a CPU count above 0 (leave it out to "
                                "use the CPUs this process may run on)",
                                opt->capacity.cpus);
    } else {
        opt->capacity.cpus = wn_pool_affinity_cpus();
    }
    opt->gpus_given = wn_params_has(params, "gpus");
    opt->capacity.gpus = opt->gpus_given ? fmax(wn_params_get_double(params, "gpus"), 0.0) : 0.0;
    opt->gpu_memory_gb = wn_params_has(params, "gpu_memory_gb")
                             ? fmax(wn_params_get_double(params, "gpu_memory_gb"), 0.0)
                             : 0.0;
    opt->capacity.reserved_cpus = fmax(wn_params_get_double(params, "reserved_cpus"), 0.0);
    opt->capacity.reserved_gpus = fmax(wn_params_get_double(params, "reserved_gpus"), 0.0);
    if (max_inflight < 1 || max_inflight > MAX_INFLIGHT_LIMIT)
        return wn_error_set(err, WN_ECONFIG, "executor.max_inflight: %lld is not in 1..%d",
                            (long long)max_inflight, MAX_INFLIGHT_LIMIT);
    if (queue_tasks < 1 || queue_tasks > QUEUE_TASKS_LIMIT)
        return wn_error_set(err, WN_ECONFIG, "executor.queue_tasks: %lld is not in 1..%d",
                            (long long)queue_tasks, QUEUE_TASKS_LIMIT);
    opt->max_inflight = (uint32_t)max_inflight;
    opt->queue_tasks = (uint32_t)queue_tasks;
    opt->fuse = wn_params_has(params, "fuse") ? wn_params_get_bool(params, "fuse") : 1;
    opt->progress_fd = 2;
    if (wn_params_has(params, "progress_interval_s"))
        opt->progress_interval_s = wn_params_get_double(params, "progress_interval_s");
    if (rep != NULL) {
        if (rep->failures_path != NULL)
            failures = rep->failures_path;
        opt->report_path = dup_or_null(rep->report_path);
        opt->trace_path = dup_or_null(rep->trace_path);
        opt->progress = rep->progress;
        if (rep->progress_fd >= 0 && rep->progress != WN_PROGRESS_OFF)
            opt->progress_fd = rep->progress_fd;
        if (rep->progress_interval_s > 0.0)
            opt->progress_interval_s = rep->progress_interval_s;
    }
    opt->failures_path = dup_or_null(failures);
    if ((rep != NULL && rep->report_path != NULL && opt->report_path == NULL) ||
        (rep != NULL && rep->trace_path != NULL && opt->trace_path == NULL) ||
        (failures != NULL && opt->failures_path == NULL))
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    return 0;
}

/* ---- the run context ------------------------------------------------------------------ */

/* Run contexts not freed yet (a run left behind by an abandoned actor stays
 * until that actor's hook returns). */
static unsigned live_runs;

unsigned wn_ap_live_runs(void)
{
    return __atomic_load_n(&live_runs, __ATOMIC_ACQUIRE);
}

static void run_free(struct wn_ap_run *run)
{
    for (size_t i = 0; i < run->n_stages; i++) {
        struct wn_ap_stage *stage = &run->stages[i];

        wn_ap_node_free(stage->node);
        wn_ap_plain_free(stage->engine);
        for (uint32_t k = 0; k < stage->n_actors; k++) {
            struct wn_ap_actor *a = stage->actors[k];

            for (size_t m = 0; m < a->n_metrics; m++)
                free(a->metrics[m].name);
            free(a->metrics);
            free(a->events);
            free(a);
        }
        free(stage->actors);
        free(stage->name);
    }
    free(run->stages);
    wn_ap_trace_free(run->trace);
    wn_ap_manifest_free(run->manifest);
    free(run->opt.failures_path);
    free(run->opt.report_path);
    free(run->opt.trace_path);
    pthread_mutex_destroy(&run->lock);
    free(run);
    __atomic_sub_fetch(&live_runs, 1, __ATOMIC_ACQ_REL);
}

void wn_ap_run_unref(struct wn_ap_run *run)
{
    if (__atomic_sub_fetch(&run->refs, 1, __ATOMIC_ACQ_REL) == 0)
        run_free(run);
}

/* Wakes every thread that waits anywhere in the run (it stops). */
static void wake_everything(struct wn_ap_run *run)
{
    __atomic_add_fetch(&run->stop_event, 1, __ATOMIC_SEQ_CST);
    wn_futex_wake(&run->stop_event, INT32_MAX);
    wn_futex_wake(&run->done, INT32_MAX);
    for (size_t i = 0; i < run->n_stages; i++) {
        struct wn_ap_stage *stage = &run->stages[i];
        struct wn_ap_plain *engine = __atomic_load_n(&stage->engine, __ATOMIC_ACQUIRE);
        struct wn_ap_node *node = __atomic_load_n(&stage->node, __ATOMIC_ACQUIRE);

        if (engine != NULL)
            wn_ap_plain_wake_all(engine);
        if (node != NULL)
            wn_ap_node_wake(node);
    }
}

static int run_fail(struct wn_ap_run *run, int code, const char *message)
{
    int first;

    if (code >= 0)
        code = WN_EPLUGIN;
    pthread_mutex_lock(&run->lock);
    first = !run->failed;
    if (first) {
        run->failed = 1;
        wn_error_set(&run->error, code, "%s", message);
    }
    pthread_mutex_unlock(&run->lock);
    if (!first && code != WN_ECANCELED)
        wn_log(WN_LOG_WARN, LOG_DOMAIN, "also: %s", message);
    if (!__atomic_exchange_n(&run->stop, 1, __ATOMIC_ACQ_REL))
        wake_everything(run);
    return code;
}

int wn_ap_stage_fail(struct wn_ap_stage *stage, int code, const char *fmt, ...)
{
    char message[WN_ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    return run_fail(stage->run, code, message);
}

const char *wn_ap_hook_message(const struct wn_error *hook_err, int rc, char *buf, size_t size)
{
    if (hook_err->message[0] != '\0')
        return hook_err->message;
    snprintf(buf, size, "(no message): %s", wn_strerror(rc));
    return buf;
}

void wn_ap_run_capacity(struct wn_ap_run *run, struct wn_pool_capacity *capacity,
                        struct wn_gpu_ledger *ledger)
{
    *capacity = run->opt.capacity;
    pthread_mutex_lock(&run->lock);
    *ledger = run->ledger;
    pthread_mutex_unlock(&run->lock);
    capacity->ledger = ledger;
}

int wn_ap_stage_plan(struct wn_ap_stage *stage, size_t n_tasks, uint32_t *actors,
                     struct wn_error *err)
{
    struct wn_pool_plan plan;
    int rc = wn_ap_stage_plan_batches(stage, n_tasks, stage->batch_size, &plan, err);

    if (rc == 0)
        *actors = plan.actors;
    return rc;
}

int wn_ap_stage_plan_batches(struct wn_ap_stage *stage, size_t n_tasks, uint32_t batch_size,
                             struct wn_pool_plan *plan, struct wn_error *err)
{
    struct wn_pool_capacity capacity;
    struct wn_pool_request request;
    struct wn_gpu_ledger ledger;
    int rc;

    wn_ap_run_capacity(stage->run, &capacity, &ledger);
    memset(&request, 0, sizeof(request));
    request.stage_name = stage->name;
    request.resources = stage->resources;
    request.explicit_actors = stage->explicit_actors;
    request.batch_size = batch_size;
    request.n_tasks = n_tasks;
    rc = wn_pool_plan(&capacity, &request, plan, err);
    if (rc < 0)
        return rc;
    if (plan->capped)
        wn_log(WN_LOG_WARN, LOG_DOMAIN,
               "stage '%s': %u actors asked, but the resources hold only %u: running %u",
               stage->name, stage->explicit_actors, plan->max_actors, plan->actors);
    if (plan->thread_limited)
        wn_log(WN_LOG_WARN, LOG_DOMAIN,
               "stage '%s': limited to %u actor threads (the stage asks for no CPU)", stage->name,
               plan->actors);
    return 0;
}

/* ---- the driver's watch: hung hooks and progress ---------------------------------------- */

/* Gives up on actor a, stuck in a hook past its stage's timeout_s: the run
 * fails, and the thread is left running (a thread cannot be stopped safely
 * in C); it keeps a reference to the run context.  Returns nonzero when it
 * did (the actor had not just returned).  Run lock held. */
static int abandon(struct wn_ap_run *run, struct wn_ap_actor *a, uint64_t word, uint64_t now,
                   char *message, size_t size)
{
    struct wn_ap_stage *stage = a->stage;
    uint64_t start = __atomic_load_n(&a->hook_start_ns, __ATOMIC_RELAXED);
    char tasks[WN_AP_TASK_NOTE + 48];

    if (!__atomic_compare_exchange_n(&a->hook_word, &word, word | 2u, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return 0;
    __atomic_add_fetch(&run->refs, 1, __ATOMIC_ACQ_REL);
    __atomic_store_n(&a->abandoned, 1, __ATOMIC_RELEASE);
    pthread_detach(a->thread);
    run->abandoned++;
    wn_futex_wake(&a->exited, INT32_MAX);
    if (a->hook_task[0] == '\0')
        tasks[0] = '\0';
    else if (a->hook_tasks > 1)
        snprintf(tasks, sizeof(tasks), " on task %s (and %u more)", a->hook_task,
                 a->hook_tasks - 1);
    else
        snprintf(tasks, sizeof(tasks), " on task %s", a->hook_task);
    snprintf(message, size,
             "stage '%s' actor %u/%u: %s%s did not return within timeout_s %g (%.1f s): the run "
             "stops and leaves that thread running",
             stage->name, a->index, wn_ap_stage_pool_now(stage),
             a->hook_name ? a->hook_name : "a hook", tasks, (double)stage->timeout_ns * 1e-9,
             (double)(now - start) * 1e-9);
    return 1;
}

static void watch_timeouts(struct wn_ap_run *run, uint64_t now)
{
    char message[WN_ERROR_MESSAGE_MAX];
    struct wn_ap_stage *failed = NULL;

    pthread_mutex_lock(&run->lock);
    for (size_t i = 0; i < run->n_stages && failed == NULL; i++) {
        struct wn_ap_stage *stage = &run->stages[i];

        if (stage->timeout_ns == 0)
            continue;
        for (uint32_t k = 0; k < stage->n_actors; k++) {
            struct wn_ap_actor *a = stage->actors[k];
            uint64_t word = __atomic_load_n(&a->hook_word, __ATOMIC_ACQUIRE);
            uint64_t start = __atomic_load_n(&a->hook_start_ns, __ATOMIC_RELAXED);

            if ((word & 3u) != 1u || now < start || now - start <= stage->timeout_ns)
                continue;
            if (abandon(run, a, word, now, message, sizeof(message))) {
                failed = stage;
                break;
            }
        }
    }
    pthread_mutex_unlock(&run->lock);
    if (failed != NULL)
        wn_ap_stage_fail(failed, WN_ETIMEDOUT, "%s", message);
}

void wn_ap_run_tick(struct wn_ap_run *run)
{
    uint64_t now;

    if (!pthread_equal(pthread_self(), run->driver))
        return;
    now = wn_ap_run_clock(run);
    if (now >= run->next_watch_ns) {
        run->next_watch_ns = now + WATCH_INTERVAL_NS;
        watch_timeouts(run, now);
    }
    if (run->opt.progress != WN_PROGRESS_OFF && now >= run->next_progress_ns) {
        run->next_progress_ns = now + (uint64_t)(run->opt.progress_interval_s * 1e9);
        wn_ap_progress_draw(run, 0);
    }
}

/* ---- the sink: the last stage's outputs ----------------------------------------------- */

/*
 * The host's sink is called by the thread that passes the last stage's
 * outputs on (the head of its ordered release): one thread at a time, in
 * output order, while run() has not returned.  The tasks are still in that
 * thread's cache, and no thread hand-over is added.  The driver meanwhile
 * watches hook timeouts and draws progress.
 */
struct sink_target {
    struct wn_ap_target target; /* first */
    struct wn_ap_run *run;
    uint64_t accepted;  /* taken by the host's sink (or freed without one) */
    uint64_t discarded; /* freed because the run stopped */
};

static int sink_take(struct sink_target *s, struct wn_task *task)
{
    struct wn_ap_run *run = s->run;
    struct wn_emitter *host_sink = run->host->sink;
    char id[WN_AP_TASK_NOTE];
    size_t len;
    int rc;

    if (wn_ap_run_stopping(run)) {
        wn_task_free(task);
        s->discarded++;
        return WN_ECANCELED;
    }
    if (host_sink == NULL) {
        wn_task_free(task);
        s->accepted++;
        return 0;
    }
    len = strnlen(wn_task_id(task), sizeof(id) - 1); /* for a message, should the sink refuse */
    memcpy(id, wn_task_id(task), len);
    id[len] = '\0';
    rc = wn_emit(host_sink, task);
    if (rc < 0) {
        char message[WN_ERROR_MESSAGE_MAX];

        snprintf(message, sizeof(message),
                 "the run's sink refused output task %s (output %llu): %s", id,
                 (unsigned long long)s->accepted + 1, wn_strerror(rc));
        s->discarded++;
        return run_fail(run, rc, message);
    }
    s->accepted++;
    return 0;
}

static int sink_push(struct wn_ap_target *t, struct wn_task *task)
{
    return sink_take((struct sink_target *)t, task);
}

static int sink_push_many(struct wn_ap_target *t, struct wn_task **tasks, size_t n, size_t *pushed)
{
    struct sink_target *s = (struct sink_target *)t;

    /* Each task is the sink's, taken or freed (refused or stopped). */
    for (size_t i = 0; i < n; i++) {
        int rc = sink_take(s, tasks[i]);

        tasks[i] = NULL;
        if (rc < 0) {
            *pushed = i + 1;
            return rc;
        }
    }
    *pushed = n;
    return 0;
}

static void sink_flush(struct wn_ap_target *t)
{
    (void)t;
}

static void sink_close(struct wn_ap_target *t)
{
    struct sink_target *s = (struct sink_target *)t;

    __atomic_store_n(&s->run->done, 1, __ATOMIC_SEQ_CST);
    wn_futex_wake(&s->run->done, INT32_MAX);
}

/* Driver: watches hooks and draws progress until the sink is closed or the
 * run stops. */
static void watch_until_done(struct wn_ap_run *run)
{
    while (!__atomic_load_n(&run->done, __ATOMIC_ACQUIRE) && !wn_ap_run_stopping(run)) {
        wn_futex_wait(&run->done, 0, WATCH_INTERVAL_NS);
        wn_ap_run_tick(run);
    }
}

/* ---- the feeder: the initial tasks, pushed into the first stage -------------------------- */

/* Initial tasks the feeder hands to the first stage per call. */
#define FEED_CHUNK 256u

struct feeder {
    struct wn_ap_run *run;
    struct wn_ap_target *first;
    struct wn_task **tasks;
    size_t n, fed;
};

static void *feeder_main(void *arg)
{
    struct feeder *f = arg;

    pthread_setname_np(pthread_self(), "winnow-feed");
    /* A chunk per call, not a call per task: the feeder shares the CPUs
     * with the actors it feeds. */
    while (f->fed < f->n) {
        size_t chunk = f->n - f->fed < FEED_CHUNK ? f->n - f->fed : FEED_CHUNK, pushed = 0;
        int rc = f->first->push_many(f->first, f->tasks + f->fed, chunk, &pushed);

        for (size_t i = 0; i < pushed; i++)
            f->tasks[f->fed + i] = NULL;
        f->fed += pushed;
        if (rc < 0)
            return NULL; /* the run stops; what was not pushed is freed with the array */
    }
    f->first->close(f->first);
    return NULL;
}

/* ---- checks before anything runs ----------------------------------------------------------- */

static int init_stage(struct wn_ap_run *run, const struct wn_run_stage *config, size_t i,
                      struct wn_error *err)
{
    struct wn_ap_stage *stage = &run->stages[i];
    const struct wn_stage_desc *desc;

    stage->run = run;
    stage->index = i;
    stage->config = config;
    if (config == NULL || config->struct_size < offsetof(struct wn_run_stage, reserved) ||
        config->name == NULL || config->desc == NULL)
        return wn_error_set(err, WN_EINVAL,
                            "stage %zu of the run is incomplete (struct size %u, name %s, "
                            "descriptor %s): a bug in the host",
                            i, config ? config->struct_size : 0,
                            config && config->name ? config->name : "missing",
                            config && config->desc ? "set" : "missing");
    desc = config->desc;
    stage->name = strdup(config->name);
    if (stage->name == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    stage->desc = desc;
    stage->ops = desc->ops;
    stage->kind = wn_ap_kind_find(desc->kind);
    stage->batch_size = config->batch_size ? config->batch_size : 1;
    stage->on_error = config->on_error;
    stage->max_retries = config->on_error == WN_ON_ERROR_FAIL ? 0 : config->max_retries;
    stage->timeout_ns = config->timeout_s > 0.0 ? (uint64_t)(config->timeout_s * 1e9) : 0;
    if (config->timeout_s > 0.0 && stage->timeout_ns == 0)
        stage->timeout_ns = 1;
    stage->resources = config->resources;
    stage->explicit_actors = config->actors;
    if (stage->kind == NULL)
        return wn_error_set(err, WN_EUNSUPPORTED,
                            "stage '%s' is a %s stage: this build of actor_pool has no runner for "
                            "that kind of stage",
                            stage->name,
                            desc->kind == WN_STAGE_COMMS     ? "COMMS"
                            : desc->kind == WN_STAGE_SHUFFLE ? "SHUFFLE"
                                                             : "unknown");
    stage->streams = run->opt.mode == WN_AP_STREAMING && desc->kind == WN_STAGE_PLAIN;
    if (desc->kind == WN_STAGE_PLAIN &&
        (stage->ops == NULL || stage->ops->version < 1 || stage->ops->process_batch == NULL))
        return wn_error_set(err, WN_EPLUGIN, "stage '%s' (%s) has no process_batch hook",
                            stage->name, desc->name ? desc->name : "?");
    if (stage->kind->check != NULL)
        return stage->kind->check(stage, err);
    return 0;
}

/* The GPUs: discovered when a stage asks for one (or given by executor.gpus). */
static int init_gpus(struct wn_ap_run *run, struct wn_error *err)
{
    struct wn_gpu_device devs[WN_GPU_MAX_DEVICES];
    struct wn_ap_options *opt = &run->opt;
    size_t n = 0;
    int wanted = 0, rc;

    for (size_t i = 0; i < run->n_stages; i++)
        wanted |= wn_gpu_wanted(&run->stages[i].resources);
    if (opt->gpus_given) {
        size_t whole = (size_t)ceil(opt->capacity.gpus - 1e-9);

        wn_gpu_ledger_init_count(&run->ledger, opt->capacity.gpus, opt->capacity.reserved_gpus);
        if (whole > WN_GPU_MAX_DEVICES)
            wn_log(WN_LOG_WARN, LOG_DOMAIN, "executor.gpus: only %d GPUs are used",
                   WN_GPU_MAX_DEVICES);
        if (wanted) {
            /* Memory: given, else what discovery says of the same ids. */
            rc = wn_gpu_discover(devs, WN_GPU_MAX_DEVICES, &n, err);
            if (rc < 0)
                return rc;
            run->gpus_bind = n > 0;
            for (size_t i = 0; i < run->ledger.n; i++)
                run->ledger.dev[i].memory_gb = opt->gpu_memory_gb > 0.0 ? opt->gpu_memory_gb
                                               : i < n                  ? devs[i].memory_gb
                                                                        : 0.0;
            run->n_gpus_found = n;
            if (n < run->ledger.n)
                wn_log(WN_LOG_WARN, LOG_DOMAIN,
                       "executor.gpus %g: %zu GPU(s) found by %s; devices past them are assigned "
                       "but not made current",
                       opt->capacity.gpus, n, wn_gpu_backend()->name);
        }
    } else if (wanted) {
        rc = wn_gpu_discover(devs, WN_GPU_MAX_DEVICES, &n, err);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < n; i++)
            if (opt->gpu_memory_gb > 0.0)
                devs[i].memory_gb = opt->gpu_memory_gb;
        wn_gpu_ledger_init(&run->ledger, devs, n, opt->capacity.reserved_gpus);
        run->gpus_bind = n > 0;
        run->n_gpus_found = n;
        opt->capacity.gpus = (double)n;
    } else {
        wn_gpu_ledger_init_count(&run->ledger, 0.0, 0.0);
    }
    opt->capacity.ledger = &run->ledger;
    return 0;
}

/* Sizes what the resources hold for every stage; streaming mode keeps one
 * GPU placement per GPU stage, since all of them run at once. */
static int check_capacity(struct wn_ap_run *run, struct wn_error *err)
{
    for (size_t i = 0; i < run->n_stages; i++) {
        struct wn_ap_stage *stage = &run->stages[i];
        struct wn_pool_request request;
        uint32_t max_actors;
        int rc;

        memset(&request, 0, sizeof(request));
        request.stage_name = stage->name;
        request.resources = stage->resources;
        rc = wn_pool_max_actors(&run->opt.capacity, &request, &max_actors, err);
        if (rc < 0)
            return rc;
        stage->max_actors = max_actors < WN_POOL_THREAD_LIMIT ? max_actors : WN_POOL_THREAD_LIMIT;
        if (!stage->streams)
            continue;
        if (stage->explicit_actors > stage->max_actors)
            wn_log(WN_LOG_WARN, LOG_DOMAIN,
                   "stage '%s': %u actors asked, but the resources hold only %u: running %u",
                   stage->name, stage->explicit_actors, max_actors, stage->max_actors);
        if (max_actors > WN_POOL_THREAD_LIMIT && stage->explicit_actors == 0)
            wn_log(WN_LOG_INFO, LOG_DOMAIN,
                   "stage '%s' asks for no CPU: its pool grows up to %u actor threads", stage->name,
                   WN_POOL_THREAD_LIMIT);
    }
    /* Every stage sized alone first; then, in streaming mode, one GPU
     * placement kept for each GPU stage, since all of them run at once. */
    for (size_t i = 0; i < run->n_stages; i++) {
        struct wn_ap_stage *stage = &run->stages[i];

        if (stage->streams && wn_gpu_wanted(&stage->resources)) {
            if (wn_gpu_ledger_place(&run->ledger, &stage->resources, &stage->first_placement) < 0)
                return wn_error_set(err, WN_ERESOURCE,
                                    "stage '%s' asks %g GPUs per actor, but in streaming mode "
                                    "every stage runs at once and the GPU stages before it "
                                    "leave %g: run with executor.mode \"barrier\", or lower a "
                                    "stage's GPU request",
                                    stage->name, wn_pool_gpus_per_actor(&stage->resources),
                                    wn_gpu_ledger_total_free(&run->ledger));
            stage->has_first_placement = 1;
        }
    }
    /* The first placements stay taken; the pools grow on what is left. */
    return 0;
}

static int setup_on_node(const struct wn_ap_stage *stage, struct wn_error *err)
{
    const struct wn_stage_ops *ops = stage->ops;
    struct wn_error hook_err = WN_ERROR_INIT;
    struct wn_stage_env env;
    char buf[96];
    int rc;

    if (ops == NULL || ops->setup_on_node == NULL)
        return 0;
    memset(&env, 0, sizeof(env));
    env.struct_size = sizeof(env);
    env.stage_name = stage->name;
    env.params = stage->config->params;
    rc = ops->setup_on_node(&env, &hook_err);
    if (rc >= 0)
        return 0;
    return wn_error_set(err, rc, "stage '%s' failed in setup_on_node: %s", stage->name,
                        wn_ap_hook_message(&hook_err, rc, buf, sizeof(buf)));
}

/* ---- fusion ----------------------------------------------------------------------------- */

/* The pool a streaming stage grows to. */
static uint32_t pool_target(const struct wn_ap_stage *stage)
{
    if (stage->explicit_actors > 0 && stage->explicit_actors < stage->max_actors)
        return stage->explicit_actors;
    return stage->max_actors;
}

/* Whether stage k can run on the actor threads of head (plain_stage.h):
 * same batches (batch_size 1), same pool, nothing that needs a thread of
 * its own (a timeout, a GPU, retries). */
static int fusable(const struct wn_ap_stage *head, const struct wn_ap_stage *k)
{
    return k->streams && k->batch_size == 1 && k->on_error == WN_ON_ERROR_FAIL &&
           k->timeout_ns == 0 && !wn_gpu_wanted(&k->resources) &&
           (k->explicit_actors > 0) == (head->explicit_actors > 0) &&
           pool_target(k) == pool_target(head);
}

/* Whether stage k can join the group of head (plain_stage.h): its own
 * batches (any batch_size), run by head's actor threads; both pools
 * explicit and the same, nothing that needs a thread of its own. */
static int groupable(const struct wn_ap_stage *head, const struct wn_ap_stage *k)
{
    return k->streams && k->on_error == WN_ON_ERROR_FAIL && k->timeout_ns == 0 &&
           !wn_gpu_wanted(&k->resources) && head->timeout_ns == 0 &&
           !wn_gpu_wanted(&head->resources) && k->explicit_actors > 0 &&
           head->explicit_actors > 0 && pool_target(k) == pool_target(head);
}

/* Marks, for every streaming head, the stages fused after it: chains of
 * batch_size 1 stages on the actor threads of the engine before them, and,
 * when the streaming pools together would outnumber the CPUs, stages of
 * any batch_size grouped with the head (their engines run by its threads:
 * fewer threads, no parallelism lost that the CPUs could give). */
static void plan_fusion(struct wn_ap_run *run)
{
    double cpus = run->opt.capacity.cpus - run->opt.capacity.reserved_cpus;
    double threads = 0;
    int group;

    for (size_t i = 0; i < run->n_stages; i++)
        if (run->stages[i].streams)
            threads += pool_target(&run->stages[i]);
    group = threads > cpus;
    for (size_t i = 0; run->opt.fuse && i < run->n_stages; i++) {
        struct wn_ap_stage *head = &run->stages[i], *owner = head;
        size_t n_chain = 0, n_members = 0; /* at most 64 each (the graph's arrays) */

        if (!head->streams || head->fused_into != NULL || head->group_head != NULL)
            continue;
        for (size_t k = i + 1; k < run->n_stages; k++) {
            struct wn_ap_stage *stage = &run->stages[k];

            if (n_chain < 64 && fusable(owner, stage)) {
                stage->fused_into = owner;
                n_chain++;
            } else if (group && n_members < 64 && groupable(head, stage)) {
                stage->group_head = head;
                owner = stage;
                n_chain = 0;
                n_members++;
            } else {
                break;
            }
        }
    }
}

/* ---- the end of a run ---------------------------------------------------------------------- */

/* Checks every stage's accounting; on a run that succeeded, also that each
 * stage passed on what the next one received and nothing was dropped. */
static int check_accounting(const struct wn_ap_run *run, uint64_t sink_accepted,
                            struct wn_error *err)
{
    for (size_t i = 0; i < run->n_stages; i++) {
        const struct wn_ap_stage *s = &run->stages[i];
        const struct wn_ap_counts *c = &s->counts;
        uint64_t next_in = i + 1 < run->n_stages ? run->stages[i + 1].counts.in : sink_accepted;

        if (c->in + c->created != c->out + c->filtered + c->skipped + c->dropped)
            return wn_error_set(err, WN_EINTERNAL,
                                "stage '%s': tasks do not add up: %llu in + %llu created != "
                                "%llu out + %llu filtered + %llu skipped + %llu dropped: a bug "
                                "in actor_pool",
                                s->name, (unsigned long long)c->in, (unsigned long long)c->created,
                                (unsigned long long)c->out, (unsigned long long)c->filtered,
                                (unsigned long long)c->skipped, (unsigned long long)c->dropped);
        if (run->failed)
            continue;
        if (c->dropped != 0 || c->out != next_in)
            return wn_error_set(err, WN_EINTERNAL,
                                "stage '%s': %llu tasks out, %llu received by what follows, "
                                "%llu dropped, in a run that succeeded: a bug in actor_pool",
                                s->name, (unsigned long long)c->out, (unsigned long long)next_in,
                                (unsigned long long)c->dropped);
    }
    return 0;
}

static void log_stage_summaries(const struct wn_ap_run *run)
{
    for (size_t i = 0; i < run->n_stages && wn_log_enabled(WN_LOG_INFO); i++) {
        const struct wn_ap_stage *s = &run->stages[i];
        struct wn_stage_stats st;

        memset(&st, 0, sizeof(st));
        wn_ap_stage_stats_fill(s, &st);
        wn_log(WN_LOG_INFO, LOG_DOMAIN,
               "stage '%s': %llu tasks (%llu items) in, %llu tasks (%llu items) out, %llu "
               "filtered, %llu skipped, %llu batches on %u actors in %.3f s (busy %.3f s)",
               s->name, (unsigned long long)st.tasks_in, (unsigned long long)st.items_in,
               (unsigned long long)st.tasks_out, (unsigned long long)st.items_out,
               (unsigned long long)s->counts.filtered, (unsigned long long)s->counts.skipped,
               (unsigned long long)st.batches, st.actors, st.wall_s, st.busy_s);
    }
}

/* ---- the run ----------------------------------------------------------------------------------
 */

static int actor_pool_run(const struct wn_run *host, struct wn_error *err)
{
    struct wn_run_reporting *rep = NULL;
    struct wn_task **tasks = NULL;
    size_t n_tasks = host->n_initial_tasks;
    struct sink_target *sink = NULL;
    struct feeder feeder = { 0 };
    pthread_t feeder_thread;
    int feeder_started = 0;
    struct wn_ap_target *first = NULL;
    struct wn_ap_run *run = NULL;
    struct wn_error end_err = WN_ERROR_INIT;
    struct timeval tv;
    int rc = 0;

    /* The initial tasks are ours from here on, whatever happens. */
    if (n_tasks > 0) {
        tasks = malloc(n_tasks * sizeof(*tasks));
        if (tasks == NULL) {
            for (size_t i = 0; i < n_tasks; i++)
                wn_task_free(wn_task_take(&host->initial_tasks[i]));
            return wn_error_set(err, WN_ENOMEM, "out of memory taking %zu initial tasks", n_tasks);
        }
        for (size_t i = 0; i < n_tasks; i++)
            tasks[i] = wn_task_take(&host->initial_tasks[i]);
    }
    if (host->struct_size < offsetof(struct wn_run, stats) + sizeof(host->stats) ||
        (host->n_stages > 0 && host->stages == NULL)) {
        rc = wn_error_set(err, WN_EINVAL, "the run description is incomplete: a bug in the host");
        goto out_free_tasks;
    }
    if (host_reporting(host) != NULL)
        rep = host->reporting;

    run = calloc(1, sizeof(*run));
    if (run == NULL || (host->n_stages > 0 &&
                        (run->stages = calloc(host->n_stages, sizeof(*run->stages))) == NULL)) {
        free(run);
        run = NULL;
        rc = wn_error_set(err, WN_ENOMEM, "out of memory");
        goto out_free_tasks;
    }
    __atomic_add_fetch(&live_runs, 1, __ATOMIC_ACQ_REL);
    wn_clock_init();
    run->refs = 1;
    run->host = host;
    run->n_stages = host->n_stages;
    run->t0_ns = wn_now_ns();
    run->driver = pthread_self();
    gettimeofday(&tv, NULL);
    run->started_unix = (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
    pthread_mutex_init(&run->lock, NULL);

    /* 1. Everything checked before anything runs. */
    rc = read_options(host, &run->opt, err);
    for (size_t i = 0; rc == 0 && i < run->n_stages; i++)
        rc = init_stage(run, host->stages[i], i, err);
    if (rc == 0)
        rc = init_gpus(run, err);
    if (rc == 0)
        rc = check_capacity(run, err);
    if (rc == 0 && run->opt.failures_path != NULL)
        rc = wn_ap_manifest_open(run, run->opt.failures_path, err);
    if (rc == 0 && run->opt.trace_path != NULL)
        rc = wn_ap_trace_open(run, run->opt.trace_path, err);
    if (rc < 0)
        goto out_free_tasks;
    if (run->opt.progress == WN_PROGRESS_AUTO)
        run->opt.progress = isatty(run->opt.progress_fd) ? WN_PROGRESS_LIVE : WN_PROGRESS_LINES;
    run->progress_live = run->opt.progress == WN_PROGRESS_LIVE;
    if (run->opt.progress_interval_s <= 0.0)
        run->opt.progress_interval_s = run->progress_live ? 0.5 : 10.0;
    run->next_progress_ns = (uint64_t)(run->opt.progress_interval_s * 1e9);
    for (size_t i = 0; i < run->n_stages; i++) {
        if (run->stages[i].on_error == WN_ON_ERROR_SKIP && run->manifest == NULL)
            wn_log(WN_LOG_WARN, LOG_DOMAIN,
                   "stage '%s' skips failed tasks, but no failure manifest was given "
                   "(--failures FILE or executor.failures): they are only counted",
                   run->stages[i].name);
    }

    /* 2. setup_on_node: once per stage, on this thread, before any actor. */
    for (size_t i = 0; i < run->n_stages; i++) {
        rc = setup_on_node(&run->stages[i], err);
        if (rc < 0)
            goto out_free_tasks;
    }

    /* 3. The graph, from the sink back. */
    sink = calloc(1, sizeof(*sink));
    if (sink == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "out of memory");
        goto out_free_tasks;
    }
    sink->target.push = sink_push;
    sink->target.push_many = sink_push_many;
    sink->target.flush = sink_flush;
    sink->target.close = sink_close;
    sink->run = run;
    first = &sink->target;
    plan_fusion(run);
    for (size_t i = run->n_stages; i-- > 0;) {
        struct wn_ap_stage *stage = &run->stages[i];

        if (stage->fused_into != NULL)
            continue; /* built with its head */
        if (stage->streams) {
            struct wn_ap_stage *chain[64];
            struct wn_ap_plain *p;
            size_t n_chain = 0;

            for (size_t k = i + 1;
                 k < run->n_stages && run->stages[k].fused_into == stage && n_chain < 64; k++)
                chain[n_chain++] = &run->stages[k];
            rc = wn_ap_plain_new(stage, &stage->counts, first, 0, &p, err);
            if (rc == 0)
                rc = wn_ap_plain_chain(p, chain, n_chain, err);
            if (rc == 0)
                first = wn_ap_plain_input(p);
            if (rc == 0 && stage->group_head == NULL) {
                struct wn_ap_plain *members[64];
                size_t n_members = 0;

                for (size_t k = i + 1; k < run->n_stages && n_members < 64; k++)
                    if (run->stages[k].group_head == stage)
                        members[n_members++] = run->stages[k].engine;
                rc = wn_ap_plain_group(p, members, n_members, err);
                if (n_members > 0)
                    wn_log(WN_LOG_INFO, LOG_DOMAIN,
                           "stage '%s' runs the batches of %zu stage(s) after it on its own "
                           "actor threads",
                           stage->name, n_members);
            }
            if (n_chain > 0)
                wn_log(WN_LOG_INFO, LOG_DOMAIN,
                       "stage '%s' runs the %zu stage(s) after it on its own actor threads",
                       stage->name, n_chain);
        } else {
            struct wn_ap_node *node;

            rc = wn_ap_node_new(stage, first, &node, err);
            if (rc == 0)
                first = wn_ap_node_input(node);
        }
        if (rc < 0) {
            run_fail(run, rc, err->message);
            break;
        }
    }

    /* 4. Feed on a thread of its own; serve the sink and watch on this one. */
    feeder.run = run;
    feeder.first = first;
    feeder.tasks = tasks;
    feeder.n = n_tasks;
    if (rc == 0) {
        int e = pthread_create(&feeder_thread, NULL, feeder_main, &feeder);

        if (e != 0)
            run_fail(run, WN_EIO, "cannot start the thread that feeds the first stage");
        else
            feeder_started = 1;
    }
    watch_until_done(run);
    if (feeder_started)
        pthread_join(feeder_thread, NULL);
    if (feeder.fed < n_tasks && run->n_stages > 0) {
        /* Never entered the first stage (what a push refused included):
         * counted there as dropped. */
        run->stages[0].counts.in += n_tasks - feeder.fed;
        run->stages[0].counts.dropped += n_tasks - feeder.fed;
    }

    /* 5. Join, drain, account, report. */
    for (size_t i = 0; i < run->n_stages; i++)
        if (run->stages[i].node != NULL)
            wn_ap_node_join(run->stages[i].node);
    for (size_t i = 0; i < run->n_stages; i++)
        wn_ap_stage_join_actors(&run->stages[i]);
    for (size_t i = 0; i < run->n_stages; i++) {
        if (run->stages[i].node != NULL)
            wn_ap_node_drain(run->stages[i].node);
        if (run->stages[i].engine != NULL && run->stages[i].streams) {
            wn_ap_plain_drain(run->stages[i].engine);
            wn_ap_plain_settle(run->stages[i].engine);
        }
    }
    if (run->opt.progress != WN_PROGRESS_OFF)
        wn_ap_progress_draw(run, 1);
    if (check_accounting(run, sink->accepted + sink->discarded, &end_err) < 0) {
        if (!run->failed)
            run_fail(run, end_err.code, end_err.message);
        else
            wn_log(WN_LOG_ERROR, LOG_DOMAIN, "%s", end_err.message);
    }
    for (size_t i = 0; host->stats != NULL && i < run->n_stages; i++)
        if (host->stats[i] != NULL)
            wn_ap_stage_stats_fill(&run->stages[i], host->stats[i]);
    log_stage_summaries(run);
    if (wn_ap_trace_close(run, &end_err) < 0)
        wn_log(WN_LOG_ERROR, LOG_DOMAIN, "%s", end_err.message);
    wn_ap_manifest_close(run);
    if (run->opt.report_path != NULL &&
        wn_ap_report_write(run, run->opt.report_path, (double)wn_ap_run_clock(run) * 1e-9,
                           &end_err) < 0) {
        if (!run->failed)
            run_fail(run, end_err.code, end_err.message);
        else
            wn_log(WN_LOG_ERROR, LOG_DOMAIN, "%s", end_err.message);
    }
    if (rep != NULL) {
        uint64_t skipped = 0;

        for (size_t i = 0; i < run->n_stages; i++)
            skipped += run->stages[i].counts.skipped;
        rep->tasks_skipped = skipped;
        rep->threads_abandoned = run->abandoned;
    }
    pthread_mutex_lock(&run->lock);
    if (run->failed) {
        rc = run->error.code;
        wn_error_set(err, rc, "%s", run->error.message);
    }
    pthread_mutex_unlock(&run->lock);

out_free_tasks:
    for (size_t i = 0; i < n_tasks; i++)
        wn_task_free(tasks[i]);
    free(tasks);
    if (run != NULL)
        wn_ap_run_unref(run);
    free(sink);
    return rc;
}

static const struct wn_executor_ops actor_pool_ops = { WN_EXECUTOR_OPS_VERSION,
                                                       actor_pool_run,
                                                       { NULL } };

static const struct wn_backend_desc actor_pool_backend = {
    WN_BACKEND_HEADER,
    "actor_pool",
    "runs each stage on a pool of thread actors sized from the CPUs and GPUs available",
    WN_BACKEND_EXECUTOR,
    actor_pool_params,
    &actor_pool_ops,
    { NULL }
};

static const struct wn_backend_desc *const actor_pool_backends[] = { &actor_pool_backend, NULL };

static const struct wn_plugin actor_pool_plugin = {
    WN_PLUGIN_HEADER,
    "actor_pool",
    PACKAGE_VERSION,
    "MIT",
    "the actor_pool executor: thread actor pools per stage",
    NULL,
    actor_pool_backends,
    { NULL }
};

WN_PLUGIN_DEFINE(&actor_pool_plugin)
