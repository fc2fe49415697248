/*
 * actor_pool — the executor's internal interface: a run, its stages, their
 * actors, and the targets tasks flow into.  A stage kind other than PLAIN
 * plugs in as a barrier runner (struct wn_ap_kind, kinds.c): it receives a
 * stage's whole input and returns its whole output, and uses the actor
 * helpers below for threads, devices, hook timeouts, counters, metrics and
 * trace.  README.md, "Adding a stage kind", walks through it.
 */
#ifndef WINNOW_ACTOR_POOL_EXECUTOR_H
#define WINNOW_ACTOR_POOL_EXECUTOR_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <winnow/backend.h>

#include "gpu.h"
#include "pool.h"
#include "wait.h"

#define WN_AP_LOG_DOMAIN "actor_pool"

/* Room kept for the first task id of a batch (messages, trace, timeouts). */
#define WN_AP_TASK_NOTE 64

struct wn_ap_run;
struct wn_ap_stage;
struct wn_ap_actor;
struct wn_ap_plain;
struct wn_ap_node;

/* ---- targets: where a stage's outputs go ---------------------------------- */

/* The input of whatever follows a stage: the next stage, a barrier's
 * collector, or the run's sink.  One thread at a time pushes (the ordered
 * release hands the role from thread to thread); push may block while the
 * target is full (backpressure). */
struct wn_ap_target {
    /* Takes ownership of task, also on failure.  Negative: the run is
     * stopping (WN_ECANCELED) or the target failed; stop pushing. */
    int (*push)(struct wn_ap_target *self, struct wn_task *task);
    /* Pushes tasks[0..n) in order; *pushed says how many it took.  On
     * failure the tasks from *pushed on are left to the caller. */
    int (*push_many)(struct wn_ap_target *self, struct wn_task **tasks, size_t n, size_t *pushed);
    /* The end of a burst of pushes: makes them visible to the target's
     * consumers (a target may hold a few back to hand them over at once). */
    void (*flush)(struct wn_ap_target *self);
    /* No task will come any more (end of stream; implies flush).  Called once. */
    void (*close)(struct wn_ap_target *self);
};

/* ---- stage kinds ------------------------------------------------------------- */

/*
 * A barrier runner: runs `stage` over its whole input in[0..n_in) (n_in >=
 * 1) and returns its outputs, in their order, in *out (malloc'd array; NULL
 * and 0 for none).  Takes ownership of the array and every task, also on
 * failure (free what is left; never free a task an abandoned actor still
 * holds, see wn_ap_actor_hook_end).  Runs on the stage's coordinator thread
 * (streaming mode) or the run's (barrier mode).  Counts skipped tasks with
 * wn_ap_stage_skip(); the caller derives tasks in/out, filtered and created.
 * Returns 0, or a negative code with err naming stage, actor, task and hook
 * (wn_ap_stage_fail records it as the run's failure).
 */
typedef int (*wn_ap_barrier_fn)(struct wn_ap_stage *stage, struct wn_task **in, size_t n_in,
                                struct wn_task ***out, size_t *n_out, struct wn_error *err);

struct wn_ap_kind {
    enum wn_stage_kind kind;
    const char *name; /* "plain", "comms", "shuffle": for messages and the report */
    /* Before anything runs: the stage can run (providers found, ...); may be NULL. */
    int (*check)(struct wn_ap_stage *stage, struct wn_error *err);
    wn_ap_barrier_fn run;
};

/* The kind that runs stages of `kind`, or NULL. */
const struct wn_ap_kind *wn_ap_kind_find(enum wn_stage_kind kind);

/* ---- actors -------------------------------------------------------------------- */

/* What an actor thread runs once it is placed, named and bound to its device. */
typedef void (*wn_ap_actor_body_fn)(struct wn_ap_actor *actor, void *arg);

struct wn_ap_metric {
    char *name;
    double sum;
    uint64_t count;
};

struct wn_ap_trace_event {
    uint64_t start_ns, end_ns;  /* run clock */
    const char *name;           /* static, or the stage's name */
    char task[WN_AP_TASK_NOTE]; /* first task id */
    uint32_t n_in, n_out, attempt;
    int ok;
};

#define WN_AP_TRACE_BUFFER 256

struct wn_ap_actor {
    struct wn_ap_stage *stage;
    uint32_t index; /* in its stage, 0..; actor_index of struct wn_worker */
    uint32_t track; /* trace track, unique in the run */
    int device_id;  /* CUDA device, or -1 */
    struct wn_gpu_placement placement;
    wn_ap_actor_body_fn body;
    void *arg;
    pthread_t thread;
    int thread_started; /* run lock */
    int joined;         /* by wn_ap_stage_join_actors */
    uint32_t exited;    /* atomic futex word: the thread has finished its body */
    uint32_t abandoned; /* atomic: left running in a hung hook (never joined) */
    uint64_t hook_call; /* actor thread: calls begun */

    /* The hook being called, watched by the driver when the stage has timeout_s. */
    _Alignas(64) uint64_t hook_word; /* atomic: (call << 2) | 2 abandoned | 1 in a hook */
    uint64_t hook_start_ns;          /* atomic */
    const char *hook_name;
    uint32_t hook_tasks;
    char hook_task[WN_AP_TASK_NOTE];

    /* Written by the actor's thread; read by the driver after the join (and,
     * loosely, by the progress display). */
    _Alignas(64) uint64_t batches, tasks_in, tasks_out, items_in, items_out;
    uint64_t failures, retries;
    uint64_t busy_ns, idle_ns, setup_ns;
    uint64_t first_start_ns, last_end_ns; /* run clock; 0: no batch yet */
    struct wn_ap_metric *metrics;
    size_t n_metrics, cap_metrics;
    struct wn_ap_trace_event *events; /* WN_AP_TRACE_BUFFER, or NULL without a trace */
    size_t n_events;
};

/*
 * Starts one actor of stage: places it on a GPU (from the run's ledger, or
 * `placement` when not NULL), starts its thread, which names itself, makes
 * its device current, then runs body(actor, arg).  *out (may be NULL) gets
 * the actor, owned by the stage.  WN_ERESOURCE when no device has room.
 * Any thread.
 */
int wn_ap_actor_start(struct wn_ap_stage *stage, const struct wn_gpu_placement *placement,
                      wn_ap_actor_body_fn body, void *arg, struct wn_ap_actor **out,
                      struct wn_error *err);

/* An actor of stage that lives on host's thread (a fused stage): no thread
 * of its own, host's device; counted, traced and reported as any actor.
 * Host's thread. */
int wn_ap_actor_attach(struct wn_ap_stage *stage, struct wn_ap_actor *host,
                       struct wn_ap_actor **out, struct wn_error *err);

/* Joins every started actor thread of stage but the abandoned ones, and
 * gives their GPU shares back.  Any thread but an actor's own. */
void wn_ap_stage_join_actors(struct wn_ap_stage *stage);

/* Fills *worker for setup: stage name, index, pool size (`pool_size`), device, params. */
void wn_ap_actor_worker(const struct wn_ap_actor *actor, uint32_t pool_size,
                        struct wn_worker *worker);

/*
 * Around every call of a stage hook on an actor thread: begin records the
 * hook (a static name: "create", "setup", "process_batch", "insert", ...)
 * and the first task id (may be NULL) for the driver's timeout watch; end
 * returns nonzero when the driver gave up on the call (timeout_s passed) and
 * abandoned the actor: the run has failed, and the thread must then free
 * only what its call held, run teardown/destroy if the instance exists, and
 * return from its body without touching anything else of the run.
 */
void wn_ap_actor_hook_begin(struct wn_ap_actor *actor, const char *hook, const char *first_task,
                            uint32_t n_tasks);
int wn_ap_actor_hook_end(struct wn_ap_actor *actor);

/* Counts one batch the actor ran (times on the run clock) and records its
 * trace slice.  Actor thread. */
void wn_ap_actor_batch_done(struct wn_ap_actor *actor, uint64_t start_ns, uint64_t end_ns,
                            uint64_t idle_ns, const char *first_task, uint32_t n_in, uint32_t n_out,
                            uint64_t items_in, uint64_t items_out, uint32_t attempt, int ok);

/* Records a slice other than a batch (setup, teardown, a shuffle phase) on
 * the actor's trace track.  Actor thread. */
void wn_ap_actor_trace(struct wn_ap_actor *actor, const char *name, uint64_t start_ns,
                       uint64_t end_ns);

/* wn_metric_add() of a stage on this actor.  Actor thread. */
int wn_ap_actor_metric(struct wn_ap_actor *actor, const char *name, double value);

/* An emitter whose wn_metric_add() lands on its actor: embed it first in
 * the state an emit function gets, and set it up with wn_ap_emitter_init. */
struct wn_ap_emitter {
    struct wn_emitter emitter;
    struct wn_ap_actor *actor;
};
/* Sets up e for actor a, emitting through emit (metrics recorded on a). */
void wn_ap_emitter_init(struct wn_ap_emitter *e, struct wn_ap_actor *a,
                        int (*emit)(struct wn_emitter *self, struct wn_task *task));

/* ---- stages --------------------------------------------------------------------- */

/* Task counts of a stage.  The accounting identity, checked on every run:
 *   in + created == out + filtered + skipped + dropped
 * where, per batch of n inputs that produced m outputs, filtered = n - m
 * when m < n and created = m - n when m > n; skipped counts the inputs of
 * failed batches written to the failure manifest; dropped, the tasks
 * discarded because the run stopped. */
struct wn_ap_counts {
    uint64_t in, out, filtered, created, skipped, dropped;
    uint64_t batches, retries;
};

/* What the report needs of a stage that ran as a barrier through a kind. */
struct wn_ap_stage {
    struct wn_ap_run *run;
    size_t index;
    const struct wn_run_stage *config; /* the host's: valid until the run returns */
    char *name;                        /* copy: lives as long as the run context */
    const struct wn_stage_desc *desc;
    const struct wn_stage_ops *ops;
    const struct wn_ap_kind *kind;
    int streams;         /* a streaming engine (PLAIN in streaming mode) */
    uint32_t batch_size; /* >= 1 */
    enum wn_on_error on_error;
    uint32_t max_retries;
    uint64_t timeout_ns; /* per hook call; 0: none */
    struct wn_resources resources;
    uint32_t explicit_actors;                /* config; 0: sized by the executor */
    uint32_t max_actors;                     /* what the resources allow, thread limit applied */
    struct wn_gpu_placement first_placement; /* streaming: kept at the start for actor 0 */
    int has_first_placement;

    /* Actors: the array grows under the run lock; n_actors is atomic. */
    struct wn_ap_actor **actors;
    uint32_t n_actors, cap_actors;
    uint32_t pool_size; /* what setup is told (the planned pool) */
    int pool_fixed;     /* the pool started whole (explicit or planned size) */

    struct wn_ap_counts counts;     /* see above; skipped and retries are atomic */
    uint64_t items_in, items_out;   /* by the actors (summed at the end) */
    int state;                      /* atomic: WN_AP_STAGE_* (progress) */
    struct wn_ap_plain *engine;     /* the PLAIN engine (either mode), or NULL */
    struct wn_ap_stage *fused_into; /* runs inside that stage's engine (plain_stage.h) */
    /* A streaming stage whose engine that stage's actor threads run (a
     * group, wn_ap_plain_group); also its fused_into.  NULL: none. */
    struct wn_ap_stage *group_head;
    struct wn_ap_node *node; /* the barrier node, or NULL (streaming PLAIN) */
};

enum { WN_AP_STAGE_WAITING = 0, WN_AP_STAGE_RUNNING, WN_AP_STAGE_DONE };

/* Records the run's failure (the first one wins; later ones are logged
 * unless they are cancellations) and stops the run.  Returns code.  Any thread. */
int wn_ap_stage_fail(struct wn_ap_stage *stage, int code, const char *fmt, ...) WN_PRINTF(3, 4);

/* Records one skipped task in the failure manifest (stage, task id, error,
 * actor, attempts) and counts it; frees the task.  Any thread. */
void wn_ap_stage_skip(struct wn_ap_stage *stage, struct wn_task *task, const char *error,
                      int actor_index, uint32_t attempts);

/* The run's capacity, with *ledger a snapshot of its GPU ledger taken under
 * the run lock (capacity->ledger points at it).  Any thread. */
void wn_ap_run_capacity(struct wn_ap_run *run, struct wn_pool_capacity *capacity,
                        struct wn_gpu_ledger *ledger);

/* The pool size for n_tasks (the seed's rule: explicit actors, capped, or
 * min(ceil(n_tasks / batch_size), what the resources hold)), with the run's
 * capacity and what its GPU ledger holds now.  Any thread. */
int wn_ap_stage_plan(struct wn_ap_stage *stage, size_t n_tasks, uint32_t *actors,
                     struct wn_error *err);

/* The same with batches of batch_size, the whole plan in *plan (its
 * max_actors: what the resources hold); logs the same warnings. */
int wn_ap_stage_plan_batches(struct wn_ap_stage *stage, size_t n_tasks, uint32_t batch_size,
                             struct wn_pool_plan *plan, struct wn_error *err);

/* The pool size messages name ("actor 2/4"): the planned size of a pool
 * started whole, else the actors started so far (a pool growing on demand). */
static inline uint32_t wn_ap_stage_pool_now(const struct wn_ap_stage *stage)
{
    return stage->pool_fixed ? stage->pool_size
                             : __atomic_load_n(&stage->n_actors, __ATOMIC_ACQUIRE);
}

/* The plugin's message for a failed hook, or "(no message): <code's meaning>". */
const char *wn_ap_hook_message(const struct wn_error *hook_err, int rc, char *buf, size_t size);

/* ---- the run ---------------------------------------------------------------------- */

enum wn_ap_mode { WN_AP_STREAMING = 0, WN_AP_BARRIER };

struct wn_ap_options {
    enum wn_ap_mode mode;
    struct wn_pool_capacity capacity; /* capacity.ledger points at the run's ledger */
    uint32_t max_inflight;            /* batches in flight per actor (window floor) */
    uint32_t queue_tasks;             /* tasks queued at a stage's input before producers wait */
    char *failures_path;              /* NULL: none */
    char *report_path, *trace_path;
    enum wn_progress progress;
    int progress_fd;
    double progress_interval_s;
    int fuse;             /* executor.fuse: chains of batch_size 1 stages */
    int gpus_given;       /* executor.gpus overrides discovery */
    double gpu_memory_gb; /* executor.gpu_memory_gb: per device; 0: discovered */
};

struct wn_ap_trace;
struct wn_ap_manifest;

struct wn_ap_run {
    int refs;                  /* atomic: the driver + abandoned actors */
    const struct wn_run *host; /* valid until run() returns */
    struct wn_ap_options opt;
    size_t n_stages;
    struct wn_ap_stage *stages;
    uint64_t t0_ns;      /* the run clock's zero (monotonic) */
    double started_unix; /* wall clock at the start */
    int stop;            /* atomic: a failure stops every stage */
    uint32_t stop_event; /* futex word, bumped when stop is set */
    uint32_t done;       /* atomic: the sink was closed (the run finished) */

    pthread_mutex_t lock; /* what follows, actor starts, the GPU ledger */
    int failed;
    struct wn_error error;
    struct wn_gpu_ledger ledger;
    int gpus_bind; /* devices came from the backend: make them current */
    size_t n_gpus_found;
    uint32_t next_track;
    uint32_t abandoned;

    struct wn_ap_trace *trace;       /* NULL: no trace */
    struct wn_ap_manifest *manifest; /* NULL: no failure manifest file */
    uint64_t skipped_unrecorded;     /* skipped while no manifest was given (logged) */
    pthread_t driver;                /* the thread that called run() */
    uint64_t next_watch_ns;          /* driver: next timeout check */
    uint64_t next_progress_ns;       /* driver: next progress draw */
    int progress_live;               /* redraw in place (terminal) */
    int progress_lines;              /* lines drawn last time (live mode) */
};

/* Nonzero once the run stops (a failure). */
static inline int wn_ap_run_stopping(const struct wn_ap_run *run)
{
    return __atomic_load_n(&run->stop, __ATOMIC_ACQUIRE);
}

/* Nanoseconds since the run started. */
static inline uint64_t wn_ap_run_clock(const struct wn_ap_run *run)
{
    return wn_now_ns() - run->t0_ns;
}

/* Called from inside a wait of the driver thread: watches hook timeouts and
 * draws progress when due.  Other threads: nothing. */
void wn_ap_run_tick(struct wn_ap_run *run);

/* Drops a reference; the last one frees the run context (stages, actors,
 * engines).  Any thread. */
void wn_ap_run_unref(struct wn_ap_run *run);

/* Run contexts of this process not freed yet (for tests: a run an abandoned
 * actor holds lives until that actor's hook returns). */
unsigned wn_ap_live_runs(void);

/* ---- report, manifest, trace, progress (report.c, trace.c) ------------------- */

/* Fills the host's record of stage (struct wn_stage_stats).  Driver, after the joins. */
void wn_ap_stage_stats_fill(const struct wn_ap_stage *stage, struct wn_stage_stats *stats);

int wn_ap_manifest_open(struct wn_ap_run *run, const char *path, struct wn_error *err);
void wn_ap_manifest_close(struct wn_ap_run *run);
void wn_ap_manifest_free(struct wn_ap_manifest *manifest);
void wn_ap_trace_free(struct wn_ap_trace *trace);
int wn_ap_report_write(const struct wn_ap_run *run, const char *path, double wall_s,
                       struct wn_error *err);
void wn_ap_progress_draw(struct wn_ap_run *run, int final);
void wn_ap_json_string(FILE *f, const char *s);

int wn_ap_trace_open(struct wn_ap_run *run, const char *path, struct wn_error *err);
void wn_ap_trace_flush_actor(struct wn_ap_run *run, struct wn_ap_actor *actor);
int wn_ap_trace_close(struct wn_ap_run *run, struct wn_error *err);

#endif /* WINNOW_ACTOR_POOL_EXECUTOR_H */
