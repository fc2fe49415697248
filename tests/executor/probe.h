/*
 * The executor tests' probe stage (it records where and how often every hook
 * runs, and fails, hangs, sleeps or fans out on request) and the helpers that
 * build runs by hand and drive the actor_pool executor through its entry
 * point (compiled into each test program).  Every run the helpers make
 * writes a run report, and the helpers check the accounting identity of
 * every stage in it.
 */
#ifndef WINNOW_TESTS_EXECUTOR_PROBE_H
#define WINNOW_TESTS_EXECUTOR_PROBE_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>
#include <winnow/backend.h>
#include <winnow/plugin.h>

#include "gpu.h"

#define SLOTS 4 /* independent counters, one per stage of a test pipeline */
#define MAX_ACTORS 64

struct slot_counts {
    int creates, create_calls, setups, teardowns, destroys, process_calls;
    int index_seen[MAX_ACTORS];
    int device_seen[MAX_ACTORS]; /* worker->device_id + 1 of each actor index */
    int bad_worker;              /* setup got a worker info it should not have */
    int unbound;                 /* setup ran with another device current than worker->device_id */
    long emitted;                /* tasks emitted (fanout children and forwarded) */
    long seen;                   /* inputs processed */
    long max_ahead;              /* most of slot `ahead_of` emitted minus this slot's seen */
};

struct seen_state {
    pthread_mutex_t lock;
    pthread_t main_thread;
    struct slot_counts slot[SLOTS];
    int wrong_thread;    /* a hook ran off its actor's thread, or create on the driver */
    int concurrent;      /* process_batch overlapped on one instance */
    int out_of_order;    /* process before setup, destroy before teardown, ... */
    char on_node[8][32]; /* setup_on_node calls, in order */
    int n_on_node;
    int on_node_off_driver;
    int on_node_after_create;
    int total_creates;
    int hang_released; /* a hanging hook returns once this is set */
    int hanging;       /* hooks hanging now */
};
extern struct seen_state seen;

void seen_reset(void);

/* The GPU a (fake) backend made current on the calling thread; the probe's
 * setup counts a worker whose device_id differs as unbound.  -1: none. */
extern _Thread_local int probe_current_device;

/* Makes the executor see devs[0..n) (at most 8) through a fake GPU
 * backend, whose binding sets probe_current_device; resets the call
 * counts below and the seen counters.  Before a run. */
void probe_use_fake_gpus(const struct wn_gpu_device *devs, size_t n);
extern int probe_gpu_discover_calls, probe_gpu_bind_calls;

extern const struct wn_param_spec probe_params[];
extern const struct wn_stage_desc probe_desc;
extern const struct wn_stage_desc probe_comms_desc;

/* Attempts of process_batch per task id (and the actor of each), for the
 * retry tests.  attempts_of returns 0 for a task never seen. */
void attempts_reset(void);
int attempts_of(const char *task_id, int *actors, int max_actors);

long task_value(const struct wn_task *task);

/* ---- runs ------------------------------------------------------------------------------- */

struct collector {
    struct wn_emitter emitter;
    struct wn_task **tasks;
    size_t n, cap;
    size_t refuse_from; /* refuse the task with this index and later (SIZE_MAX: never) */
};

void collector_init(struct collector *c);
void collector_free(struct collector *c);

struct stage_spec {
    const char *name;
    const char *params; /* JSON object */
    uint32_t batch_size, actors;
    double cpus;
    const struct wn_stage_desc *desc; /* NULL: probe_desc */
    enum wn_on_error on_error;
    uint32_t max_retries;
    double timeout_s;
    double gpus, gpu_memory_gb;
    int entire_gpu;
};

/* The provider every COMMS / SHUFFLE stage of the next runs gets (NULL:
 * none resolved), with its default params.  Set by the test. */
extern const struct wn_backend_desc *probe_comms_provider, *probe_shuffle_provider;

const struct wn_executor_ops *executor(void);
struct wn_params *params_from(const struct wn_param_spec *spec, const char *text);

/* What one run gives back besides its code. */
struct run_result {
    json_t *report; /* the parsed run report (json_decref) */
    struct wn_run_reporting reporting;
};

/*
 * Runs specs over n_roots root tasks "root_<i>" (v = i, two files each)
 * with the executor params executor_json.  reporting (may be NULL) is
 * passed on, with report_path set to a temporary file when it has none;
 * result (may be NULL) gets the parsed report and the reporting fields back.
 * Checks that the executor took every initial task and that every stage of
 * the report adds up (in + created == out + filtered + skipped + dropped; on
 * success each stage passed on what the next one received).
 */
int run_pipeline_with(const char *executor_json, const struct stage_spec *specs, size_t n_stages,
                      size_t n_roots, struct collector *sink, struct wn_stage_stats *stats,
                      const struct wn_run_reporting *reporting, struct run_result *result,
                      struct wn_error *err);

/* Frees the params of runs that left a hung hook's thread behind (kept, as
 * a host must keep them, until that thread is done). */
void free_kept_params(void);

int run_pipeline(const char *executor_json, const struct stage_spec *specs, size_t n_stages,
                 size_t n_roots, struct collector *sink, struct wn_stage_stats *stats,
                 struct wn_error *err);

/* A fresh temporary directory for the test program (removed at exit), and a
 * path in it. */
const char *test_dir(void);
void test_path(char *buf, size_t size, const char *name);

/* Reads a whole file (free() it); NULL if it cannot. */
char *read_text(const char *path);

#endif /* WINNOW_TESTS_EXECUTOR_PROBE_H */
