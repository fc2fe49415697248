/*
 * winnow — stages: the descriptor a plugin declares, the hooks an executor
 * calls, and what each hook is given.
 *
 * Lifecycle, per stage:
 *   setup_on_node   once per process, before any actor exists;
 *   create, setup   on each actor's own thread, in that order;
 *   process_batch   many times, never concurrently on one instance;
 *   teardown, destroy   on the same actor thread, after success or failure.
 * Every hook but process_batch may be NULL.  A failing hook returns a
 * negative WN_E* code and describes the failure in *err.
 */
#ifndef WINNOW_STAGE_H
#define WINNOW_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>
#include <winnow/params.h>
#include <winnow/task.h>

#ifdef __cplusplus
extern "C" {
#endif

enum wn_stage_kind {
    WN_STAGE_PLAIN = 0,  /* independent batches */
    WN_STAGE_COMMS = 1,  /* ranks run collectives together: one input chunk per rank */
    WN_STAGE_SHUFFLE = 2 /* insert / extract through a shuffle backend */
};

/* What one actor of a stage asks for.  Zero means "none of this resource". */
struct wn_resources {
    double cpus;          /* CPUs per actor (fractions allowed) */
    double gpus;          /* GPUs per actor; a fraction packs actors onto one device */
    double gpu_memory_gb; /* alternative to gpus: converted with the device's memory */
    int entire_gpu;       /* nonzero: a whole device, however much memory it has */
};

/* Given to setup_on_node.  Read fields past v1 only when struct_size covers them. */
struct wn_stage_env {
    uint32_t struct_size;
    const char *stage_name; /* the configured name */
    const struct wn_params *params;
    void *reserved[8];
};

/* Given to setup: who this actor is.  Read fields past v1 only when struct_size covers them. */
struct wn_worker {
    uint32_t struct_size;
    const char *stage_name; /* the configured name */
    uint32_t actor_index;   /* 0 .. pool_size-1; rank in COMMS and SHUFFLE stages */
    uint32_t pool_size;
    int device_id; /* the CUDA device this actor's thread uses, or -1 */
    const struct wn_params *params;
    void *comms; /* struct wn_comms * for COMMS stages, else NULL */
    void *reserved[8];
};

/* Where a stage puts its outputs.  Owned by the executor. */
struct wn_emitter;

/* Hands task to the executor, which takes ownership (also on failure, when the
 * task is freed).  Only from inside process_batch, on the calling thread. */
int wn_emit(struct wn_emitter *out, struct wn_task *task);

/* Adds value to the stage's custom metric `name` (summed over batches and
 * actors into the run report, with the number of additions).  Only from
 * inside process_batch, on the calling thread, with the emitter it was given.
 * Returns 0 (also when the executor keeps no metrics) or WN_ENOMEM / WN_EINVAL. */
int wn_metric_add(struct wn_emitter *out, const char *name, double value);

#define WN_STAGE_OPS_VERSION 1
struct wn_stage_ops {
    uint32_t version; /* WN_STAGE_OPS_VERSION */
    int (*setup_on_node)(const struct wn_stage_env *env, struct wn_error *err);
    /* Allocates the per-actor state. */
    int (*create)(const struct wn_params *params, void **state, struct wn_error *err);
    int (*setup)(void *state, const struct wn_worker *worker, struct wn_error *err);
    /*
     * Processes a batch.  The executor owns in[0..n_in) and frees every task
     * still there after the call; a stage that passes an input on takes it
     * with wn_emit(out, wn_task_take(&in[i])).  A stage that fails should
     * leave its inputs in place, so that the batch can be retried.
     */
    int (*process_batch)(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                         struct wn_error *err);
    void (*teardown)(void *state);
    void (*destroy)(void *state);
    void *reserved[4];
};

struct wn_stage_desc {
    uint32_t abi_major;                 /* WN_ABI_MAJOR */
    uint32_t abi_minor;                 /* WN_ABI_MINOR */
    uint32_t struct_size;               /* sizeof(struct wn_stage_desc) */
    const char *name;                   /* unique across loaded plugins: [a-z0-9_]+ */
    const char *summary;                /* one line */
    const struct wn_param_spec *params; /* ends with a WN_PARAM_END entry; may be NULL */
    struct wn_resources resources;      /* defaults; the config may override */
    uint32_t batch_size;                /* default tasks per batch; 0 means 1 */
    enum wn_stage_kind kind;
    uint32_t input_payloads;             /* WN_PAYLOAD_BIT set accepted */
    uint32_t output_payloads;            /* WN_PAYLOAD_BIT set produced */
    const char *const *required_columns; /* TABLE inputs: NULL-terminated, may be NULL */
    const struct wn_stage_ops *ops;
    const void *shuffle; /* SHUFFLE stages: their shuffle hooks */
    void *reserved[8];
};

#ifdef __cplusplus
}
#endif

#endif /* WINNOW_STAGE_H */
