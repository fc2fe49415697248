/*
 * winnow — backends: executors (and, through the same descriptor, comms and
 * shuffle providers).  For backend authors; stage authors need not include it.
 *
 * An executor runs a whole validated pipeline: the host resolves every stage,
 * validates every parameter and hands the executor a struct wn_run.
 */
#ifndef WINNOW_BACKEND_H
#define WINNOW_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>
#include <winnow/params.h>
#include <winnow/stage.h>
#include <winnow/task.h>

#ifdef __cplusplus
extern "C" {
#endif

enum wn_backend_kind {
    WN_BACKEND_EXECUTOR = 1, /* ops: struct wn_executor_ops */
    WN_BACKEND_COMMS = 2,    /* ops: collective communicator provider */
    WN_BACKEND_SHUFFLE = 3   /* ops: shuffle provider */
};

struct wn_backend_desc {
    uint32_t abi_major;   /* WN_ABI_MAJOR */
    uint32_t abi_minor;   /* WN_ABI_MINOR */
    uint32_t struct_size; /* sizeof(struct wn_backend_desc) */
    const char *name;     /* unique per kind: [a-z0-9_]+ */
    const char *summary;
    enum wn_backend_kind kind;
    const struct wn_param_spec *params; /* the backend's config keys; may be NULL */
    const void *ops;                    /* kind-specific, versioned method table */
    void *reserved[8];
};

/* The emitter behind wn_emit(): executors embed one in their own state.
 * reserved[0] may point at a struct wn_emitter_ext (see below); zero the
 * reserved slots otherwise. */
struct wn_emitter {
    int (*emit)(struct wn_emitter *self, struct wn_task *task); /* takes ownership */
    void *reserved[2];
};

/* Optional services of an emitter beyond emit.  An executor that keeps
 * custom metrics sets its emitter's reserved[0] to a (static) one of these;
 * with reserved[0] NULL, wn_metric_add() records nothing. */
#define WN_EMITTER_EXT_VERSION 1
struct wn_emitter_ext {
    uint32_t version; /* WN_EMITTER_EXT_VERSION */
    /* Adds value to metric `name` of the stage behind self; may be NULL. */
    int (*metric)(struct wn_emitter *self, const char *name, double value);
    void *reserved[4];
};

enum wn_on_error {
    WN_ON_ERROR_FAIL = 0, /* stop the run */
    WN_ON_ERROR_RETRY,    /* retry the batch up to max_retries times */
    WN_ON_ERROR_SKIP      /* record the batch's tasks in the failure manifest and go on */
};

/* One stage of a run, with every override from the config applied. */
struct wn_run_stage {
    uint32_t struct_size;
    const char *name; /* configured name, unique in the pipeline */
    const struct wn_stage_desc *desc;
    const struct wn_params *params; /* validated against desc->params */
    struct wn_resources resources;  /* effective */
    uint32_t batch_size;            /* effective, >= 1 */
    uint32_t actors;                /* explicit pool size, 0 = sized by the executor */
    enum wn_on_error on_error;
    uint32_t max_retries;
    double timeout_s;    /* per hook call, 0 = none */
    const char *comms;   /* comms provider name, or NULL */
    const char *shuffle; /* shuffle provider name, or NULL */
    /* COMMS stages: the provider named by comms (a WN_BACKEND_COMMS backend,
     * its ops a struct wn_comms_provider_ops) and its params (the stage's
     * "comms_params", validated against the provider's spec; defaults when
     * not given).  NULL otherwise. */
    const struct wn_backend_desc *comms_backend;
    const struct wn_params *comms_params;
    /* SHUFFLE stages: the provider named by shuffle (a WN_BACKEND_SHUFFLE
     * backend, its ops a struct wn_shuffle_provider_ops) and its params (the
     * stage's "shuffle_params", validated against the provider's spec;
     * defaults when not given).  NULL otherwise. */
    const struct wn_backend_desc *shuffle_backend;
    const struct wn_params *shuffle_params;
    void *reserved[8];
};

/* What the executor measured for one stage (the run report). */
struct wn_stage_stats {
    uint64_t tasks_in, tasks_out;
    uint64_t items_in, items_out;
    uint64_t batches;
    uint64_t tasks_failed; /* skipped by on_error: skip */
    uint32_t actors;
    double wall_s; /* first batch start to last batch end */
    double busy_s; /* summed over actors: time inside process_batch */
    void *reserved[4];
};

/* How a run shows its progress (struct wn_run_reporting.progress). */
enum wn_progress {
    WN_PROGRESS_OFF = 0, /* nothing */
    WN_PROGRESS_AUTO,    /* redrawn in place on a terminal, plain periodic lines otherwise */
    WN_PROGRESS_LINES,   /* plain lines, one per stage, every interval */
    WN_PROGRESS_LIVE     /* redrawn in place (ANSI escapes), for a terminal */
};

/*
 * What a host asks an executor to report about a run, and what the executor
 * says back.  Optional (struct wn_run.reporting may be NULL); zero every
 * field you do not set; an executor reads fields past v1 only when
 * struct_size covers them.
 */
struct wn_run_reporting {
    uint32_t struct_size;      /* sizeof(struct wn_run_reporting) */
    const char *report_path;   /* the run report (JSON) goes here; NULL: none */
    const char *trace_path;    /* Chrome trace-event JSON (Perfetto); NULL: none */
    const char *failures_path; /* failure manifest (JSONL) of skipped tasks; NULL: the
                                  executor's own setting */
    enum wn_progress progress;
    int progress_fd;            /* where progress goes (2: stderr) */
    double progress_interval_s; /* 0: the executor's default */
    /* Written by the executor: */
    uint64_t tasks_skipped;     /* tasks of failed batches recorded as skipped */
    uint32_t threads_abandoned; /* threads of hung hooks still running after a timeout: the
                                   host must keep plugins loaded and the pipeline alive, and
                                   should exit soon */
    void *reserved[8];
};

struct wn_run {
    uint32_t struct_size;
    size_t n_stages;
    /* n_stages pointers (not an array of structs: a newer host's longer
     * struct wn_run_stage must not shift an older plugin's indexing). */
    const struct wn_run_stage *const *stages;
    const struct wn_params *executor_params; /* validated against the backend's spec */
    /* Input of the first stage.  The executor takes ownership of every task
     * (the array itself stays the host's), also when it fails. */
    struct wn_task **initial_tasks;
    size_t n_initial_tasks;
    struct wn_emitter *sink; /* receives the last stage's outputs; NULL: freed */
    /* n_stages pointers to zeroed records the executor fills, or NULL. */
    struct wn_stage_stats *const *stats;
    struct wn_run_reporting *reporting; /* optional (NULL: no report, trace or progress) */
    void *reserved[7];
};

#define WN_EXECUTOR_OPS_VERSION 1
struct wn_executor_ops {
    uint32_t version; /* WN_EXECUTOR_OPS_VERSION */
    /* Runs the pipeline to completion on the calling thread's behalf; returns
     * 0, or a negative code with a message naming stage, actor and task. */
    int (*run)(const struct wn_run *run, struct wn_error *err);
    void *reserved[4];
};

#ifdef __cplusplus
}
#endif

#endif /* WINNOW_BACKEND_H */
