/*
 * A resolved pipeline: every stage found in the registry, every override
 * applied and every parameter validated, ready to hand to an executor.
 * Built by wn_config_resolve(); owns its params and strings; borrows the
 * descriptors, so it must be freed before the registry.
 */
#ifndef WINNOW_LIB_PIPELINE_H
#define WINNOW_LIB_PIPELINE_H

#include <stddef.h>

#include <winnow/backend.h>

struct wn_env_var {
    char *name;
    char *value;
};

struct wn_pipeline {
    char *source;  /* the config file name, for messages */
    char *dataset; /* dataset name of the initial task (may be NULL) */
    const struct wn_backend_desc *executor;
    struct wn_params *executor_params;
    struct wn_env_var *env; /* executor.env, set before any setup hook */
    size_t n_env;
    struct wn_run_stage *stages; /* names, params, comms/shuffle strings owned here */
    size_t n_stages;
};

/* Frees everything the pipeline owns. NULL is fine. */
void wn_pipeline_free(struct wn_pipeline *pipeline);

/* Options of one run.  Zero what you do not set. */
struct wn_run_options {
    struct wn_emitter *sink;    /* last stage's outputs; NULL: freed */
    const char *report_path;    /* run report (JSON), or NULL */
    const char *trace_path;     /* Chrome trace-event JSON, or NULL */
    const char *failures_path;  /* failure manifest (JSONL), or NULL: executor's */
    enum wn_progress progress;  /* WN_PROGRESS_OFF by default */
    double progress_interval_s; /* 0: the executor's default */
    /* Written by the run: */
    uint64_t tasks_skipped;     /* tasks recorded in the failure manifest */
    uint32_t threads_abandoned; /* hung hooks left running (see wn_run_reporting):
                                   do not free the pipeline or the registry; exit */
};

/*
 * Runs the pipeline: sets executor.env, makes the initial trigger task (id
 * "root", EMPTY payload) and calls the executor.  options may be NULL; its
 * output fields are written.  stats (n_stages entries) receives the
 * per-stage counts; may be NULL.  Returns 0 or a negative code with a
 * message naming the stage, actor and task.
 */
int wn_pipeline_run(const struct wn_pipeline *pipeline, struct wn_run_options *options,
                    struct wn_stage_stats *stats, struct wn_error *err);

#endif /* WINNOW_LIB_PIPELINE_H */
