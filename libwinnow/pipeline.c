/* wn_pipeline_*: a resolved pipeline and how one run of it starts. */
#include "build_config.h"

#include <stdlib.h>

#include <winnow/log.h>

#include "params_internal.h"
#include "pipeline.h"

void wn_pipeline_free(struct wn_pipeline *pipeline)
{
    if (pipeline == NULL)
        return;
    for (size_t i = 0; i < pipeline->n_stages; i++) {
        struct wn_run_stage *s = &pipeline->stages[i];
        wn_params_free((struct wn_params *)s->params);
        free((char *)s->name);
        free((char *)s->comms);
        wn_params_free((struct wn_params *)s->comms_params);
        free((char *)s->shuffle);
        wn_params_free((struct wn_params *)s->shuffle_params);
    }
    free(pipeline->stages);
    for (size_t i = 0; i < pipeline->n_env; i++) {
        free(pipeline->env[i].name);
        free(pipeline->env[i].value);
    }
    free(pipeline->env);
    wn_params_free(pipeline->executor_params);
    free(pipeline->dataset);
    free(pipeline->source);
    free(pipeline);
}

int wn_pipeline_run(const struct wn_pipeline *pipeline, struct wn_run_options *options,
                    struct wn_stage_stats *stats, struct wn_error *err)
{
    struct wn_run_reporting reporting = { 0 };
    const struct wn_executor_ops *ops;
    struct wn_stage_stats *own_stats = NULL;
    const struct wn_run_stage **stage_ptrs = NULL;
    struct wn_stage_stats **stats_ptrs = NULL;
    struct wn_task *root;
    struct wn_run run = { 0 };
    int rc;

    if (pipeline->executor == NULL || pipeline->executor->kind != WN_BACKEND_EXECUTOR)
        return wn_error_set(err, WN_EINTERNAL, "%s: the pipeline has no executor backend",
                            pipeline->source);
    ops = pipeline->executor->ops;
    if (ops == NULL || ops->version < 1 || ops->run == NULL)
        return wn_error_set(err, WN_EPLUGIN, "executor backend '%s' has no run method",
                            pipeline->executor->name);

    /* executor.env: set before any setup hook runs (the seed's runtime_env). */
    for (size_t i = 0; i < pipeline->n_env; i++) {
        if (setenv(pipeline->env[i].name, pipeline->env[i].value, 1) != 0)
            return wn_error_set(err, WN_EINVAL, "%s: executor.env.%s: cannot set the variable",
                                pipeline->source, pipeline->env[i].name);
        wn_log(WN_LOG_DEBUG, "pipeline", "env %s=%s", pipeline->env[i].name,
               pipeline->env[i].value);
    }

    if (stats == NULL) {
        own_stats = calloc(pipeline->n_stages ? pipeline->n_stages : 1, sizeof(*own_stats));
        if (own_stats == NULL)
            return wn_error_set(err, WN_ENOMEM, "out of memory");
        stats = own_stats;
    }
    stage_ptrs = calloc(pipeline->n_stages + 1, sizeof(*stage_ptrs));
    stats_ptrs = calloc(pipeline->n_stages + 1, sizeof(*stats_ptrs));
    root = wn_task_new("root", pipeline->dataset);
    if (root == NULL || stage_ptrs == NULL || stats_ptrs == NULL) {
        wn_task_free(root);
        rc = wn_error_set(err, WN_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < pipeline->n_stages; i++) {
        stage_ptrs[i] = &pipeline->stages[i];
        stats_ptrs[i] = &stats[i];
    }

    run.struct_size = sizeof(run);
    run.n_stages = pipeline->n_stages;
    run.stages = stage_ptrs;
    run.executor_params = pipeline->executor_params;
    run.initial_tasks = &root;
    run.n_initial_tasks = 1;
    run.sink = options ? options->sink : NULL;
    run.stats = stats_ptrs;
    if (options != NULL) {
        reporting.struct_size = sizeof(reporting);
        reporting.report_path = options->report_path;
        reporting.trace_path = options->trace_path;
        reporting.failures_path = options->failures_path;
        reporting.progress = options->progress;
        reporting.progress_fd = 2;
        reporting.progress_interval_s = options->progress_interval_s;
        run.reporting = &reporting;
    }
    rc = ops->run(&run, err);
    if (options != NULL) {
        options->tasks_skipped = reporting.tasks_skipped;
        options->threads_abandoned = reporting.threads_abandoned;
    }
out:
    free(stats_ptrs);
    free(stage_ptrs);
    free(own_stats);
    return rc;
}
