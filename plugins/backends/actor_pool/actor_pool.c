/*
 * The actor_pool executor backend: one pool of thread actors per stage (NeMo
 * Curator's RayActorPoolExecutor, in C).
 *
 * A run, in order:
 *   1. take ownership of the initial tasks; check every stage is one this
 *      executor runs and that the resources hold at least one actor of each
 *      (nothing runs before the whole pipeline passed);
 *   2. setup_on_node of every stage, on this (the driver) thread;
 *   3. stage after stage (barrier mode): size the pool, run it (stage_pool.c),
 *      and feed its outputs, in batch order, to the next stage; a stage that
 *      receives no task is skipped, and so are the ones after it;
 *   4. hand the last stage's outputs to the sink.
 * Every task held is freed on every exit path.
 */
#include "build_config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/backend.h>
#include <winnow/log.h>
#include <winnow/plugin.h>

#include "comms_stage.h"
#include "pool.h"
#include "stage_pool.h"

#define LOG_DOMAIN "actor_pool"

/* Batches queued or running per actor: at most this many (a queue of 64 Ki
 * batches per actor already hides any dispatch latency). */
#define MAX_INFLIGHT_LIMIT 65536

/* "barrier" only for now: streaming mode (stages overlapping through bounded
 * queues, DESIGN.md §4) arrives in a later issue. */
static const char *const mode_choices[] = { "barrier", NULL };

static const struct wn_param_spec actor_pool_params[] = {
    { "mode", WN_PARAM_STRING, 0, "\"barrier\"", 0, 0, mode_choices,
      "how stages follow each other: barrier (stage i+1 starts when stage i is done)" },
    { "reserved_cpus", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN, "0", 0, 0, NULL,
      "CPUs kept free of actors" },
    { "reserved_gpus", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN, "0", 0, 0, NULL,
      "GPUs kept free of actors" },
    { "cpus", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN, NULL, 0, 0, NULL,
      "CPUs available to actors (> 0; default: the process's affinity mask)" },
    { "gpus", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN, NULL, 0, 0, NULL,
      "GPUs available to actors (default 0: GPUs are not discovered yet)" },
    { "max_inflight", WN_PARAM_INT, WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, "2", 1,
      MAX_INFLIGHT_LIMIT, NULL, "batches queued or running per actor (backpressure)" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

/* The executor's settings, read from its validated params. */
struct options {
    struct wn_pool_capacity capacity;
    uint32_t max_inflight;
};

static int read_options(const struct wn_params *params, struct options *opt,
                        struct wn_error *err)
{
    const char *mode = wn_params_get_string(params, "mode");
    int64_t max_inflight = wn_params_has(params, "max_inflight")
                               ? wn_params_get_int(params, "max_inflight")
                               : 2;

    memset(opt, 0, sizeof(*opt));
    if (mode != NULL && strcmp(mode, "barrier") != 0)
        return wn_error_set(err, WN_EUNSUPPORTED,
                            "executor.mode: \"%s\" is not supported by actor_pool yet (only "
                            "\"barrier\")",
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
    opt->capacity.gpus = fmax(wn_params_get_double(params, "gpus"), 0.0);
    opt->capacity.reserved_cpus = fmax(wn_params_get_double(params, "reserved_cpus"), 0.0);
    opt->capacity.reserved_gpus = fmax(wn_params_get_double(params, "reserved_gpus"), 0.0);
    if (max_inflight < 1 || max_inflight > MAX_INFLIGHT_LIMIT)
        return wn_error_set(err, WN_ECONFIG, "executor.max_inflight: %lld is not in 1..%d",
                            (long long)max_inflight, MAX_INFLIGHT_LIMIT);
    opt->max_inflight = (uint32_t)max_inflight;
    return 0;
}

/* Stage i of the run. */
static const struct wn_run_stage *run_stage_at(const struct wn_run *run, size_t i)
{
    return run->stages[i];
}

static const char *on_error_name(enum wn_on_error on_error)
{
    switch (on_error) {
    case WN_ON_ERROR_FAIL: return "fail";
    case WN_ON_ERROR_RETRY: return "retry";
    case WN_ON_ERROR_SKIP: return "skip";
    }
    return "unknown";
}

/* Checks stage i is one this executor runs, before anything runs. */
static int check_stage(const struct wn_run_stage *stage, size_t i, const struct options *opt,
                       struct wn_error *err)
{
    const struct wn_stage_desc *desc = stage->desc;
    struct wn_pool_request request;
    uint32_t max_actors;

    if (stage->struct_size < offsetof(struct wn_run_stage, reserved) || stage->name == NULL ||
        desc == NULL)
        return wn_error_set(err, WN_EINVAL,
                            "stage %zu of the run is incomplete (struct size %u, name %s, "
                            "descriptor %s): a bug in the host",
                            i, stage->struct_size, stage->name ? stage->name : "missing",
                            desc ? "set" : "missing");
    if (desc->ops == NULL || desc->ops->version < 1 || desc->ops->process_batch == NULL)
        return wn_error_set(err, WN_EPLUGIN, "stage '%s' (%s) has no process_batch hook",
                            stage->name, desc->name ? desc->name : "?");
    if (desc->kind == WN_STAGE_COMMS) {
        int rc = wn_comms_stage_check(stage, err);

        if (rc < 0)
            return rc;
    } else if (desc->kind != WN_STAGE_PLAIN) {
        return wn_error_set(err, WN_EUNSUPPORTED,
                            "stage '%s' is a SHUFFLE stage: actor_pool runs only plain and COMMS "
                            "stages for now (shuffle stages come in a later version)",
                            stage->name);
    }
    if (stage->on_error != WN_ON_ERROR_FAIL)
        return wn_error_set(err, WN_EUNSUPPORTED,
                            "stage '%s' asks on_error \"%s\": actor_pool supports only \"fail\" "
                            "for now (retry and skip come in a later version)",
                            stage->name, on_error_name(stage->on_error));
    if (stage->timeout_s > 0.0)
        wn_log(WN_LOG_WARN, LOG_DOMAIN,
               "stage '%s': timeout_s %g is not enforced by actor_pool yet; hooks run without "
               "a time limit",
               stage->name, stage->timeout_s);

    /* Zero capacity fails the run now rather than after the stages before it ran. */
    memset(&request, 0, sizeof(request));
    request.stage_name = stage->name;
    request.resources = stage->resources;
    return wn_pool_max_actors(&opt->capacity, &request, &max_actors, err);
}

static int setup_on_node(const struct wn_run_stage *stage, struct wn_error *err)
{
    const struct wn_stage_ops *ops = stage->desc->ops;
    struct wn_error hook_err = WN_ERROR_INIT;
    struct wn_stage_env env;
    int rc;

    if (ops->setup_on_node == NULL)
        return 0;
    memset(&env, 0, sizeof(env));
    env.struct_size = sizeof(env);
    env.stage_name = stage->name;
    env.params = stage->params;
    rc = ops->setup_on_node(&env, &hook_err);
    if (rc >= 0)
        return 0;
    if (hook_err.message[0] == '\0')
        return wn_error_set(err, rc, "stage '%s' failed in setup_on_node: (no message): %s",
                            stage->name, wn_strerror(rc));
    return wn_error_set(err, rc, "stage '%s' failed in setup_on_node: %s", stage->name,
                        hook_err.message);
}

/* Sizes and runs one stage; takes *tasks (array and tasks) and leaves the
 * stage's outputs there. */
static int run_stage(const struct wn_run_stage *stage, const struct options *opt,
                     struct wn_task ***tasks, size_t *n_tasks, struct wn_stage_stats *stats,
                     struct wn_error *err)
{
    struct wn_stage_pool_options pool_options;
    struct wn_pool_request request;
    struct wn_pool_plan plan;
    struct wn_task **in = *tasks;
    size_t n_in = *n_tasks;
    int rc;

    memset(stats, 0, sizeof(*stats));
    if (stage->desc->kind == WN_STAGE_COMMS) /* one rank per actor, one chunk per rank */
        return wn_comms_stage_run(stage, &opt->capacity, tasks, n_tasks, stats, err);
    memset(&request, 0, sizeof(request));
    request.stage_name = stage->name;
    request.resources = stage->resources;
    request.explicit_actors = stage->actors;
    request.batch_size = stage->batch_size;
    request.n_tasks = n_in;
    rc = wn_pool_plan(&opt->capacity, &request, &plan, err);
    if (rc < 0)
        return rc;
    if (plan.actors == 0) {
        /* The seed aborts here; an empty stage is a normal outcome of filtering. */
        wn_log(WN_LOG_INFO, LOG_DOMAIN, "stage '%s': no input task, skipped", stage->name);
        return 0;
    }
    if (plan.capped)
        wn_log(WN_LOG_WARN, LOG_DOMAIN,
               "stage '%s': %u actors asked, but the resources hold only %u: running %u",
               stage->name, stage->actors, plan.max_actors, plan.actors);
    if (plan.thread_limited)
        wn_log(WN_LOG_WARN, LOG_DOMAIN,
               "stage '%s': limited to %u actor threads (the stage asks for no CPU)",
               stage->name, plan.actors);
    wn_log(WN_LOG_INFO, LOG_DOMAIN, "stage '%s': %u actors for %zu tasks in batches of %u",
           stage->name, plan.actors, n_in, stage->batch_size ? stage->batch_size : 1);

    pool_options.actors = plan.actors;
    pool_options.max_inflight = opt->max_inflight;
    *tasks = NULL;
    *n_tasks = 0;
    return wn_stage_pool_run(stage, in, n_in, &pool_options, tasks, n_tasks, stats, err);
}

/* Hands every task to the sink (or frees them), in order. */
static int deliver(struct wn_emitter *sink, struct wn_task **tasks, size_t n_tasks,
                   struct wn_error *err)
{
    char id[256];
    int rc;

    for (size_t i = 0; i < n_tasks; i++) {
        struct wn_task *task = tasks[i];

        tasks[i] = NULL;
        if (sink == NULL) {
            wn_task_free(task);
            continue;
        }
        snprintf(id, sizeof(id), "%s", wn_task_id(task));
        rc = wn_emit(sink, task);
        if (rc < 0)
            return wn_error_set(err, rc, "the run's sink refused output task %s (%zu of %zu): %s",
                                id, i + 1, n_tasks, wn_strerror(rc));
    }
    return 0;
}

static int actor_pool_run(const struct wn_run *run, struct wn_error *err)
{
    struct wn_task **tasks = NULL;
    size_t n_tasks = run->n_initial_tasks;
    struct options opt;
    int rc = 0;

    /* The initial tasks are ours from here on, whatever happens. */
    if (n_tasks > 0) {
        tasks = malloc(n_tasks * sizeof(*tasks));
        if (tasks == NULL) {
            for (size_t i = 0; i < n_tasks; i++)
                wn_task_free(wn_task_take(&run->initial_tasks[i]));
            return wn_error_set(err, WN_ENOMEM, "out of memory taking %zu initial tasks",
                                n_tasks);
        }
        for (size_t i = 0; i < n_tasks; i++)
            tasks[i] = wn_task_take(&run->initial_tasks[i]);
    }

    if (run->struct_size < offsetof(struct wn_run, reserved) ||
        (run->n_stages > 0 && run->stages == NULL)) {
        rc = wn_error_set(err, WN_EINVAL, "the run description is incomplete: a bug in the host");
        goto out_free_tasks;
    }
    rc = read_options(run->executor_params, &opt, err);
    if (rc < 0)
        goto out_free_tasks;
    for (size_t i = 0; i < run->n_stages; i++) {
        rc = check_stage(run_stage_at(run, i), i, &opt, err);
        if (rc < 0)
            goto out_free_tasks;
    }
    for (size_t i = 0; i < run->n_stages; i++) {
        rc = setup_on_node(run_stage_at(run, i), err);
        if (rc < 0)
            goto out_free_tasks;
    }

    for (size_t i = 0; i < run->n_stages; i++) {
        struct wn_stage_stats stats;

        rc = run_stage(run_stage_at(run, i), &opt, &tasks, &n_tasks, &stats, err);
        if (run->stats != NULL)
            *run->stats[i] = stats;
        if (rc < 0)
            goto out_free_tasks;
    }
    rc = deliver(run->sink, tasks, n_tasks, err);

out_free_tasks:
    for (size_t i = 0; i < n_tasks; i++)
        wn_task_free(tasks[i]);
    free(tasks);
    return rc;
}

static const struct wn_executor_ops actor_pool_ops = {
    WN_EXECUTOR_OPS_VERSION, actor_pool_run, { NULL }
};

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
