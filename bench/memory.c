/*
 * Peak memory of the actor_pool executor as the input grows (DESIGN.md §9):
 * a source stage emits N tasks of SIZE bytes each from one trigger, a
 * second stage passes them on, the sink frees them.  Each run is a child
 * process, so that its peak RSS is its own.  Streaming mode holds a bounded
 * window per stage, so its peak stays flat when N grows 10x; barrier mode
 * holds every task between stages, so its peak grows with N.
 *
 *   bench/memory [-n TASKS] [-s SIZE]
 */
#include "build_config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <winnow/plugin.h>

#include "params_internal.h"

static size_t n_tasks = 20000, task_size = 4096;

static void blob_free(void *data)
{
    free(data);
}

static const struct wn_blob_type blob_type = {
    WN_BLOB_TYPE_VERSION, "bench.bytes", blob_free, NULL, { NULL }
};

/* Emits n_tasks children of its input, each with task_size bytes written. */
static int generate(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                    struct wn_error *err)
{
    (void)state;
    for (size_t i = 0; i < n_in; i++) {
        for (size_t k = 0; k < n_tasks; k++) {
            struct wn_task *t = wn_task_new_child(in[i], k);
            void *bytes = malloc(task_size);

            if (t == NULL || bytes == NULL) {
                wn_task_free(t);
                free(bytes);
                return wn_error_set(err, WN_ENOMEM, "out of memory");
            }
            memset(bytes, (int)k, task_size);
            if (wn_task_set_blob(t, &blob_type, bytes, task_size) < 0 || wn_emit(out, t) < 0)
                return wn_error_set(err, WN_ENOMEM, "emit failed");
        }
    }
    return 0;
}

static int pass(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                struct wn_error *err)
{
    (void)state;
    for (size_t i = 0; i < n_in; i++)
        if (wn_emit(out, wn_task_take(&in[i])) < 0)
            return wn_error_set(err, WN_EIO, "emit failed");
    return 0;
}

static const struct wn_stage_ops generate_ops = {
    WN_STAGE_OPS_VERSION, NULL, NULL, NULL, generate, NULL, NULL, { NULL }
};
static const struct wn_stage_ops pass_ops = {
    WN_STAGE_OPS_VERSION, NULL, NULL, NULL, pass, NULL, NULL, { NULL }
};
static const struct wn_stage_desc generate_desc = {
    WN_STAGE_HEADER, "generate",      "emits N tasks", NULL, { 0, 0, 0, 0 }, 1,
    WN_STAGE_PLAIN,  WN_PAYLOADS_ANY, WN_PAYLOADS_ANY, NULL, &generate_ops,  NULL,
    { NULL }
};
static const struct wn_stage_desc pass_desc = {
    WN_STAGE_HEADER, "pass", "forwards", NULL, { 0, 0, 0, 0 }, 16, WN_STAGE_PLAIN, WN_PAYLOADS_ANY,
    WN_PAYLOADS_ANY, NULL,   &pass_ops,  NULL, { NULL }
};

/* One run in this process; 0 or 1. */
static int run_once(const char *mode)
{
    const struct wn_backend_desc *backend = winnow_plugin_v1()->backends[0];
    const struct wn_executor_ops *ops = backend->ops;
    static const char *const names[2] = { "generate", "pass" };
    const struct wn_stage_desc *descs[2] = { &generate_desc, &pass_desc };
    struct wn_run_stage stages[2];
    const struct wn_run_stage *stage_ptrs[2];
    struct wn_params *params = NULL, *exec_params = NULL;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *root = wn_task_new("root", NULL);
    struct wn_run run;
    json_t *json = json_pack("{ss}", "mode", mode);
    int rc;

    rc = wn_params_new(backend->params, json, "executor", &exec_params, &err);
    json_decref(json);
    if (rc == 0)
        rc = wn_params_new(NULL, NULL, "stages[].params", &params, &err);
    if (rc < 0 || root == NULL) {
        fprintf(stderr, "memory: %s\n", err.message);
        return 1;
    }
    memset(stages, 0, sizeof(stages));
    for (int s = 0; s < 2; s++) {
        stages[s].struct_size = sizeof(stages[s]);
        stages[s].name = names[s];
        stages[s].desc = descs[s];
        stages[s].params = params;
        stages[s].batch_size = descs[s]->batch_size;
        stages[s].actors = s == 0 ? 1 : 2;
        stage_ptrs[s] = &stages[s];
    }
    memset(&run, 0, sizeof(run));
    run.struct_size = sizeof(run);
    run.n_stages = 2;
    run.stages = stage_ptrs;
    run.executor_params = exec_params;
    run.initial_tasks = &root;
    run.n_initial_tasks = 1;
    rc = ops->run(&run, &err);
    if (rc < 0)
        fprintf(stderr, "memory: %s\n", err.message);
    wn_params_free(params);
    wn_params_free(exec_params);
    return rc < 0;
}

/* Peak RSS in MiB of one run in a child process; negative on failure. */
static double child_peak_mib(const char *mode)
{
    struct rusage ru;
    int status;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0)
        return -1.0;
    if (pid == 0)
        _exit(run_once(mode));
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1.0;
    return (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}

int main(int argc, char **argv)
{
    static const char *const modes[2] = { "streaming", "barrier" };
    double peak[2][2];
    size_t base;
    int opt;

    while ((opt = getopt(argc, argv, "n:s:h")) != -1) {
        if (opt == 'n')
            n_tasks = strtoul(optarg, NULL, 10);
        else if (opt == 's')
            task_size = strtoul(optarg, NULL, 10);
        else {
            fprintf(opt == 'h' ? stdout : stderr, "usage: memory [-n TASKS] [-s SIZE]\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (n_tasks == 0 || task_size == 0) {
        fprintf(stderr, "memory: -n and -s take numbers above 0\n");
        return 2;
    }
    base = n_tasks;
    printf("memory: generate N tasks of %zu bytes -> pass (batches of 16) -> sink, peak RSS\n",
           task_size);
    for (int k = 0; k < 2; k++) {
        n_tasks = k == 0 ? base : base * 10;
        for (int m = 0; m < 2; m++) {
            peak[k][m] = child_peak_mib(modes[m]);
            if (peak[k][m] < 0) {
                fprintf(stderr, "memory: the %s run of %zu tasks failed\n", modes[m], n_tasks);
                return 1;
            }
        }
        printf("  N = %8zu (%7.1f MiB of tasks): streaming %7.1f MiB, barrier %7.1f MiB\n", n_tasks,
               (double)n_tasks * (double)task_size / 1048576.0, peak[k][0], peak[k][1]);
    }
    printf("  input x10: streaming peak x%.2f, barrier peak x%.2f\n", peak[1][0] / peak[0][0],
           peak[1][1] / peak[0][1]);
    return 0;
}
