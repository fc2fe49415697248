/*
 * Dispatch overhead of the actor_pool executor (DESIGN.md §9): a pipeline of
 * three trivial stages (each forwards its input) over N tasks, batch_size 1,
 * 2 actors per stage, run by the executor; beside it, the zero-overhead
 * floor: one thread calling the same three process_batch functions directly.
 * Both are timed in the same run and printed with their ratio, so the number
 * holds on a noisy machine.
 *
 *   bench/dispatch [-n TASKS] [-a ACTORS] [-b BATCH_SIZE] [-i MAX_INFLIGHT] [-q QUEUE_TASKS]
 *                  [-r REPEATS]
 */
#include "build_config.h"

#include <jansson.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <winnow/log.h>
#include <winnow/plugin.h>

#include "params_internal.h"

#define N_STAGES 3

/* -R FILE: the executor's run report of the last run (see actor_pool's README). */
static const char *report_path;

/* ---- the trivial stage ---------------------------------------------------- */

static int forward_process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                           struct wn_error *err)
{
    (void)state;
    for (size_t i = 0; i < n_in; i++) {
        int rc = wn_emit(out, wn_task_take(&in[i]));
        if (rc < 0)
            return wn_error_set(err, rc, "emit failed");
    }
    return 0;
}

static const struct wn_stage_ops forward_ops = { WN_STAGE_OPS_VERSION, NULL, NULL, NULL,
                                                 forward_process,      NULL, NULL, { NULL } };

/* Asks for no CPU, so that the explicit actor count holds on any machine. */
static const struct wn_stage_desc forward_desc = {
    WN_STAGE_HEADER, "forward",       "forwards its input", NULL, { 0, 0, 0, 0 }, 1,
    WN_STAGE_PLAIN,  WN_PAYLOADS_ANY, WN_PAYLOADS_ANY,      NULL, &forward_ops,   NULL,
    { NULL }
};

/* ---- sinks ------------------------------------------------------------------- */

/* Counts and frees what reaches it. */
struct counting_sink {
    struct wn_emitter emitter;
    size_t count;
};

static int counting_emit(struct wn_emitter *self, struct wn_task *task)
{
    ((struct counting_sink *)self)->count++;
    wn_task_free(task);
    return 0;
}

/* Holds the outputs of one direct process_batch call (the floor's emitter). */
struct slot_sink {
    struct wn_emitter emitter;
    struct wn_task **tasks;
    size_t n;
};

static int slot_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct slot_sink *s = (struct slot_sink *)self;

    s->tasks[s->n++] = task;
    return 0;
}

/* ---- the two contenders -------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process (every thread), user and system. */
static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static struct wn_task **make_tasks(size_t n)
{
    struct wn_task **tasks = malloc((n ? n : 1) * sizeof(*tasks));
    char id[32];

    if (tasks == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "t%zu", i);
        tasks[i] = wn_task_new(id, NULL);
        if (tasks[i] == NULL) {
            while (i-- > 0)
                wn_task_free(tasks[i]);
            free(tasks);
            return NULL;
        }
    }
    return tasks;
}

/* One thread, three direct process_batch calls per batch, nothing else. */
static int run_floor(size_t n, size_t batch_size, double *seconds, double *cpu)
{
    struct wn_task **tasks = make_tasks(n);
    struct wn_task **a = malloc(batch_size * sizeof(*a));
    struct wn_task **b = malloc(batch_size * sizeof(*b));
    struct wn_error err = WN_ERROR_INIT;
    struct slot_sink sink = { { slot_emit, { NULL } }, NULL, 0 };
    double start, cpu_start;
    int rc = 0;

    if (tasks == NULL || a == NULL || b == NULL) {
        rc = WN_ENOMEM;
        goto out;
    }
    cpu_start = cpu_s();
    start = now_s();
    for (size_t first = 0; first < n && rc == 0; first += batch_size) {
        size_t len = n - first < batch_size ? n - first : batch_size;
        struct wn_task **in = tasks + first, **out = a;

        for (int s = 0; s < N_STAGES && rc == 0; s++) {
            sink.tasks = out;
            sink.n = 0;
            rc = forward_process(NULL, in, len, &sink.emitter, &err);
            for (size_t i = 0; i < len; i++)
                wn_task_free(in[i]); /* what the stage left, as the executor does */
            len = sink.n;
            in = out;
            out = out == a ? b : a;
        }
        for (size_t i = 0; i < len; i++)
            wn_task_free(in[i]);
    }
    *seconds = now_s() - start;
    *cpu = cpu_s() - cpu_start;
out:
    free(a);
    free(b);
    free(tasks);
    return rc;
}

/* The same three stages through the actor_pool executor. */
static int run_executor(size_t n, uint32_t actors, uint32_t batch_size, int64_t max_inflight,
                        int64_t queue_tasks, double *seconds, double *cpu, struct wn_error *err)
{
    const struct wn_backend_desc *backend = winnow_plugin_v1()->backends[0];
    const struct wn_executor_ops *ops = backend->ops;
    static const char *const names[N_STAGES] = { "forward_1", "forward_2", "forward_3" };
    struct wn_run_stage stages[N_STAGES];
    struct wn_stage_stats stats[N_STAGES];
    struct counting_sink sink = { { counting_emit, { NULL } }, 0 };
    struct wn_params *params = NULL, *exec_params = NULL;
    struct wn_task **tasks = NULL;
    const struct wn_run_stage *stage_ptrs[N_STAGES];
    struct wn_stage_stats *stats_ptrs[N_STAGES];
    struct wn_run_reporting reporting;
    struct wn_run run;
    json_t *json;
    double start, cpu_start;
    int rc;

    json = json_pack("{sI}", "max_inflight", (json_int_t)max_inflight);
    if (json != NULL && queue_tasks > 0)
        json_object_set_new(json, "queue_tasks", json_integer((json_int_t)queue_tasks));
    rc = wn_params_new(backend->params, json, "executor", &exec_params, err);
    json_decref(json);
    if (rc < 0)
        goto out;
    rc = wn_params_new(NULL, NULL, "stages[].params", &params, err);
    if (rc < 0)
        goto out;
    tasks = make_tasks(n);
    if (tasks == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "out of memory making %zu tasks", n);
        goto out;
    }
    memset(stages, 0, sizeof(stages));
    memset(stats, 0, sizeof(stats));
    for (int s = 0; s < N_STAGES; s++) {
        stages[s].struct_size = sizeof(stages[s]);
        stages[s].name = names[s];
        stages[s].desc = &forward_desc;
        stages[s].params = params;
        stages[s].batch_size = batch_size;
        stages[s].actors = actors;
        stages[s].on_error = WN_ON_ERROR_FAIL;
    }
    memset(&run, 0, sizeof(run));
    run.struct_size = sizeof(run);
    run.n_stages = N_STAGES;
    for (size_t k = 0; k < sizeof(stages) / sizeof(stages[0]); k++) {
        stage_ptrs[k] = &stages[k];
        stats_ptrs[k] = &stats[k];
    }
    run.stages = stage_ptrs;
    run.executor_params = exec_params;
    run.initial_tasks = tasks;
    run.n_initial_tasks = n;
    run.sink = &sink.emitter;
    run.stats = stats_ptrs;
    memset(&reporting, 0, sizeof(reporting));
    reporting.struct_size = sizeof(reporting);
    reporting.report_path = report_path;
    run.reporting = &reporting;

    cpu_start = cpu_s();
    start = now_s();
    rc = ops->run(&run, err);
    *seconds = now_s() - start;
    *cpu = cpu_s() - cpu_start;
    if (rc == 0 && sink.count != n)
        rc = wn_error_set(err, WN_EINTERNAL, "%zu tasks reached the sink, %zu expected", sink.count,
                          n);
    for (int s = 0; rc == 0 && s < N_STAGES; s++)
        if (stats[s].actors != actors)
            rc = wn_error_set(err, WN_EINTERNAL, "stage %d ran %u actors, %u asked", s + 1,
                              stats[s].actors, actors);
out:
    free(tasks);
    wn_params_free(params);
    wn_params_free(exec_params);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dispatch [-n TASKS] [-a ACTORS] [-b BATCH_SIZE] [-i MAX_INFLIGHT] "
               "[-q QUEUE_TASKS] [-r REPEATS] [-x|-f] [-R REPORT]\n"
               "  3 forwarding stages over TASKS tasks (default 1000000), ACTORS actors per\n"
               "  stage (2), BATCH_SIZE tasks per batch (1), MAX_INFLIGHT batches per actor\n"
               "  (2), QUEUE_TASKS tasks queued per stage (the executor's default), best of\n"
               "  REPEATS runs (3), beside one thread calling the stages directly.\n"
               "  -x: the executor only, -f: the floor only (for profiling); -R: write the\n"
               "  executor's run report to REPORT.\n");
}

static int parse_size(const char *text, double min, double *out)
{
    char *end;
    double v = strtod(text, &end); /* accepts 1e6 */

    if (end == text || *end != '\0' || v < min || v > 1e12)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    double n = 1e6, actors = 2, batch = 1, inflight = 2, queue = 0, repeats = 3;
    int executor_only = 0, floor_only = 0;
    double floor_s = 0, exec_s = 0, floor_cpu = 0, exec_cpu = 0;
    struct wn_error err = WN_ERROR_INIT;
    int opt;

    while ((opt = getopt(argc, argv, "n:a:b:i:q:r:R:xfh")) != -1) {
        double *target;

        if (opt == 'R') {
            report_path = optarg;
            continue;
        }
        if (opt == 'x' || opt == 'f') {
            executor_only |= opt == 'x';
            floor_only |= opt == 'f';
            continue;
        }
        target = opt == 'n'   ? &n
                 : opt == 'a' ? &actors
                 : opt == 'b' ? &batch
                 : opt == 'i' ? &inflight
                 : opt == 'q' ? &queue
                 : opt == 'r' ? &repeats
                              : NULL;

        if (target == NULL) {
            usage(opt == 'h' ? stdout : stderr);
            return opt == 'h' ? 0 : 2;
        }
        if (parse_size(optarg, opt == 'n' || opt == 'q' ? 0 : 1, target) < 0) {
            fprintf(stderr, "dispatch: -%c %s: not a number in range\n", opt, optarg);
            return 2;
        }
    }
    printf("dispatch: %d forwarding stages x %.0f actors, batch_size %.0f, max_inflight %.0f, "
           "%.0f tasks, best of %.0f\n",
           N_STAGES, actors, batch, inflight, n, repeats);
    for (int r = 0; r < (int)repeats; r++) {
        double f = 0, e = 0, fc = 0, ec = 0;

        if (!executor_only && run_floor((size_t)n, (size_t)batch, &f, &fc) < 0) {
            fprintf(stderr, "dispatch: floor: out of memory\n");
            return 1;
        }
        if (!floor_only && run_executor((size_t)n, (uint32_t)actors, (uint32_t)batch,
                                        (int64_t)inflight, (int64_t)queue, &e, &ec, &err) < 0) {
            fprintf(stderr, "dispatch: actor_pool: %s\n", err.message);
            return 1;
        }
        if (r == 0 || f < floor_s) {
            floor_s = f;
            floor_cpu = fc;
        }
        if (r == 0 || e < exec_s) {
            exec_s = e;
            exec_cpu = ec;
        }
    }
    if (n > 0 && floor_s > 0 && exec_s > 0) {
        printf("  floor (1 thread, direct calls): %12.0f items/s  %8.1f ns per item-stage\n",
               n / floor_s, floor_s * 1e9 / (n * N_STAGES));
        printf("  actor_pool executor:            %12.0f items/s  %8.1f ns per item-stage\n",
               n / exec_s, exec_s * 1e9 / (n * N_STAGES));
        printf("  ratio: the executor takes %.2fx the floor's time (%.1f ns overhead per "
               "item-stage)\n",
               exec_s / floor_s, (exec_s - floor_s) * 1e9 / (n * N_STAGES));
        printf("  cpu time (all threads): floor %.1f ns, executor %.1f ns per item-stage "
               "(%.2fx)\n",
               floor_cpu * 1e9 / (n * N_STAGES), exec_cpu * 1e9 / (n * N_STAGES),
               floor_cpu > 0 ? exec_cpu / floor_cpu : 0.0);
    }
    return 0;
}
