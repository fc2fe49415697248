/*
 * Test harness shared by the stage tests (tests/stages, tests/fuzzy,
 * tests/shuffle): finds a stage in the plugin descriptor compiled into the
 * test (winnow_plugin_v1), builds its params from JSON text with
 * wn_params_new, and runs create/setup/process_batch/teardown/destroy with an
 * emitter that collects what the stage emits.  Also temporary directories,
 * small file helpers and a TABLE task from a table builder.  Each folder's
 * own header (tests/stages/stage_harness.h, tests/fuzzy/fuzzy_harness.h)
 * includes this one and adds its specific helpers.
 */
#ifndef WINNOW_TESTS_COMMON_HARNESS_H
#define WINNOW_TESTS_COMMON_HARNESS_H

/* Include "build_config.h" first (it turns on _GNU_SOURCE for asprintf and nftw). */
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <winnow/backend.h>
#include <winnow/plugin.h>

#include "cu.h"
#include "params_internal.h"

/* The name temporary directories start with; a folder's header may set its own. */
#ifndef HARNESS_TMP_PREFIX
#define HARNESS_TMP_PREFIX "winnow-test"
#endif

/* Collects emitted tasks in order. */
struct harness_sink {
    struct wn_emitter emitter; /* first: the executor-side view */
    struct wn_task **tasks;
    size_t count, capacity;
};

static int harness_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct harness_sink *sink = (struct harness_sink *)self;

    if (sink->count == sink->capacity) {
        size_t capacity = sink->capacity ? sink->capacity * 2 : 8;
        struct wn_task **tasks = realloc(sink->tasks, capacity * sizeof(*tasks));

        if (tasks == NULL) {
            wn_task_free(task);
            return WN_ENOMEM;
        }
        sink->tasks = tasks;
        sink->capacity = capacity;
    }
    sink->tasks[sink->count++] = task;
    return 0;
}

static inline void harness_sink_init(struct harness_sink *sink)
{
    memset(sink, 0, sizeof(*sink));
    sink->emitter.emit = harness_emit;
}

/* Frees every collected task; the sink can be reused. */
static inline void harness_sink_clear(struct harness_sink *sink)
{
    for (size_t i = 0; i < sink->count; i++)
        wn_task_free(sink->tasks[i]);
    free(sink->tasks);
    harness_sink_init(sink);
}

/* The stage called name in this test's plugin, or NULL. */
static inline const struct wn_stage_desc *harness_stage(const char *name)
{
    const struct wn_plugin *plugin = winnow_plugin_v1();

    for (const struct wn_stage_desc *const *s = plugin->stages; s != NULL && *s != NULL; s++)
        if (strcmp((*s)->name, name) == 0)
            return *s;
    return NULL;
}

/* Params for stage built from JSON text (NULL: none given); NULL on failure (err says why). */
static inline struct wn_params *harness_params(const char *stage, const char *json,
                                               struct wn_error *err)
{
    const struct wn_stage_desc *desc = harness_stage(stage);
    struct wn_params *params = NULL;
    json_t *given = NULL;
    json_error_t jerr;

    if (desc == NULL) {
        wn_error_set(err, WN_ENOTFOUND, "no stage %s in the plugin", stage);
        return NULL;
    }
    if (json != NULL) {
        given = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
        if (given == NULL) {
            wn_error_set(err, WN_EINVAL, "test params are not JSON: %s", jerr.text);
            return NULL;
        }
    }
    if (wn_params_new(desc->params, given, "params", &params, err) < 0)
        params = NULL;
    json_decref(given);
    return params;
}

/*
 * Runs stage once over in[0..n_in) as an actor named worker_name (NULL: the
 * stage's own name) would: params, create, setup, one process_batch,
 * teardown, destroy.  Tasks left in in[] are freed and set to NULL, as the
 * executor does.  Returns the first failing code (err says why) or 0.
 */
static inline int harness_run_named(const char *stage, const char *worker_name,
                                    const char *params_json, struct wn_task **in, size_t n_in,
                                    struct harness_sink *sink, struct wn_error *err)
{
    const struct wn_stage_desc *desc = harness_stage(stage);
    struct wn_params *params;
    struct wn_worker worker;
    void *state = NULL;
    int rc;

    wn_error_clear(err);
    params = harness_params(stage, params_json, err);
    if (params == NULL) {
        rc = err->code ? err->code : WN_EINVAL;
        goto out_free_inputs;
    }
    rc = desc->ops->create(params, &state, err);
    if (rc < 0)
        goto out_free_params;
    memset(&worker, 0, sizeof(worker));
    worker.struct_size = sizeof(worker);
    worker.stage_name = worker_name ? worker_name : desc->name;
    worker.pool_size = 1;
    worker.device_id = -1;
    worker.params = params;
    if (desc->ops->setup != NULL)
        rc = desc->ops->setup(state, &worker, err);
    if (rc == 0)
        rc = desc->ops->process_batch(state, in, n_in, &sink->emitter, err);
    if (desc->ops->teardown != NULL)
        desc->ops->teardown(state);
    if (desc->ops->destroy != NULL)
        desc->ops->destroy(state);
out_free_params:
    wn_params_free(params);
out_free_inputs:
    for (size_t i = 0; i < n_in; i++) {
        wn_task_free(in[i]);
        in[i] = NULL;
    }
    return rc;
}

static inline int harness_run(const char *stage, const char *params_json, struct wn_task **in,
                              size_t n_in, struct harness_sink *sink, struct wn_error *err)
{
    return harness_run_named(stage, NULL, params_json, in, n_in, sink, err);
}

/* ---- files ---------------------------------------------------------------- */

/* A new directory $TMPDIR/<HARNESS_TMP_PREFIX>-XXXXXX (malloc'd path), or NULL. */
static inline char *harness_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char *path;

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    if (asprintf(&path, "%s/" HARNESS_TMP_PREFIX "-XXXXXX", base) < 0)
        return NULL;
    if (mkdtemp(path) == NULL) {
        free(path);
        return NULL;
    }
    return path;
}

static int harness_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        chmod(path, 0700); /* a test may have made it read-only */
    return remove(path) == 0 ? 0 : -1;
}

/* rm -rf path. */
static inline void harness_remove_tree(const char *path)
{
    if (path != NULL)
        nftw(path, harness_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes len bytes to dir/name (creating dir/name's parent when needed); 0 or -1. */
static inline int harness_write(const char *dir, const char *name, const void *data, size_t len)
{
    char *path;
    FILE *f;
    int rc = -1;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return -1;
    for (char *p = path + strlen(dir) + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0777);
            *p = '/';
        }
    }
    f = fopen(path, "wb");
    if (f != NULL) {
        rc = (len == 0 || fwrite(data, 1, len, f) == len) ? 0 : -1;
        if (fclose(f) != 0)
            rc = -1;
    }
    free(path);
    return rc;
}

static inline int harness_write_text(const char *dir, const char *name, const char *text)
{
    return harness_write(dir, name, text, strlen(text));
}

/* The whole content of path (malloc'd, NUL-terminated) and its length, or NULL. */
static inline char *harness_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t used = 0, capacity = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        size_t n;

        if (capacity - used < 4096) {
            size_t grown_capacity = capacity ? capacity * 2 : 65536; /* corpora run to MiBs */
            char *grown = realloc(data, grown_capacity);

            if (grown == NULL) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = grown;
            capacity = grown_capacity;
        }
        n = fread(data + used, 1, capacity - used - 1, f);
        used += n;
        if (n == 0)
            break;
    }
    fclose(f);
    data[used] = '\0';
    if (len != NULL)
        *len = used;
    return data;
}

/*
 * Defines `static char *var`, a temporary directory for a whole CUnit suite,
 * and the suite's init_fn (makes it; nonzero on failure) and cleanup_fn
 * (removes it with everything in it) to pass to wn_test_run_suite.
 */
#define HARNESS_SUITE_TMPDIR(var, init_fn, cleanup_fn)                                             \
    static char *var;                                                                              \
                                                                                                   \
    static int init_fn(void)                                                                       \
    {                                                                                              \
        var = harness_mkdtemp();                                                                   \
        return var == NULL;                                                                        \
    }                                                                                              \
                                                                                                   \
    static int cleanup_fn(void)                                                                    \
    {                                                                                              \
        harness_remove_tree(var);                                                                  \
        free(var);                                                                                 \
        var = NULL;                                                                                \
        return 0;                                                                                  \
    }

/* ---- tables ---------------------------------------------------------------- */

/* A TABLE task `id` from a builder (finished and freed); NULL on failure (said on stderr). */
static inline struct wn_task *harness_task_from_builder(const char *id, struct wn_table_builder *b)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table table;
    struct wn_task *task = NULL;

    if (wn_table_builder_finish(b, &table, &err) == 0) {
        task = wn_task_new(id, "test");
        if (task != NULL && wn_task_set_table(task, &table, &err) < 0) {
            wn_task_free(task);
            task = NULL;
        }
    }
    if (task == NULL)
        fprintf(stderr, "\n  cannot make task %s: %s\n", id, err.message);
    wn_table_builder_free(b);
    return task;
}

#endif /* WINNOW_TESTS_COMMON_HARNESS_H */
