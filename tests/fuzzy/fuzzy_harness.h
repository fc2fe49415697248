/*
 * Test harness for the fuzzy stages: finds a stage in the plugin descriptor
 * compiled into the test (plugins/stages/fuzzy/plugin.c), builds its params
 * from JSON text, runs create/setup/process_batch/teardown/destroy with an
 * emitter that collects the outputs; plus temporary directories, files and
 * small table builders.  Include "build_config.h" first.
 */
#ifndef WINNOW_TESTS_FUZZY_HARNESS_H
#define WINNOW_TESTS_FUZZY_HARNESS_H

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

struct fz_sink {
    struct wn_emitter emitter; /* first: what the stage sees */
    struct wn_task **tasks;
    size_t count, capacity;
};

static int fz_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct fz_sink *sink = (struct fz_sink *)self;

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

static inline void fz_sink_init(struct fz_sink *sink)
{
    memset(sink, 0, sizeof(*sink));
    sink->emitter.emit = fz_emit;
}

static inline void fz_sink_clear(struct fz_sink *sink)
{
    for (size_t i = 0; i < sink->count; i++)
        wn_task_free(sink->tasks[i]);
    free(sink->tasks);
    fz_sink_init(sink);
}

static inline const struct wn_stage_desc *fz_stage(const char *name)
{
    const struct wn_plugin *plugin = winnow_plugin_v1();

    for (const struct wn_stage_desc *const *s = plugin->stages; s != NULL && *s != NULL; s++)
        if (strcmp((*s)->name, name) == 0)
            return *s;
    return NULL;
}

/* Validated params for stage from JSON text (NULL: none); NULL on failure. */
static inline struct wn_params *fz_params(const char *stage, const char *json, struct wn_error *err)
{
    const struct wn_stage_desc *desc = fz_stage(stage);
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
 * Runs stage once over in[0..n_in) as an actor would (create, setup with the
 * worker name, one process_batch, teardown, destroy).  Inputs left in in[]
 * are freed and set to NULL.  Returns the first failing code (err says why).
 */
static inline int fz_run_named(const char *stage, const char *worker_name, const char *params_json,
                               struct wn_task **in, size_t n_in, struct fz_sink *sink,
                               struct wn_error *err)
{
    const struct wn_stage_desc *desc = fz_stage(stage);
    struct wn_params *params;
    struct wn_worker worker;
    void *state = NULL;
    int rc;

    wn_error_clear(err);
    params = fz_params(stage, params_json, err);
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

static inline int fz_run(const char *stage, const char *params_json, struct wn_task **in,
                         size_t n_in, struct fz_sink *sink, struct wn_error *err)
{
    return fz_run_named(stage, NULL, params_json, in, n_in, sink, err);
}

/* ---- files ------------------------------------------------------------------ */

static inline char *fz_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char *path;

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    if (asprintf(&path, "%s/winnow-fuzzy-XXXXXX", base) < 0)
        return NULL;
    if (mkdtemp(path) == NULL) {
        free(path);
        return NULL;
    }
    return path;
}

static int fz_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

static inline void fz_remove_tree(const char *path)
{
    if (path != NULL)
        nftw(path, fz_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes text to dir/name; 0 or -1. */
static inline int fz_write_text(const char *dir, const char *name, const char *text)
{
    char *path;
    FILE *f;
    int rc = -1;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return -1;
    f = fopen(path, "wb");
    if (f != NULL) {
        size_t len = strlen(text);
        rc = (len == 0 || fwrite(text, 1, len, f) == len) ? 0 : -1;
        if (fclose(f) != 0)
            rc = -1;
    }
    free(path);
    return rc;
}

/* The content of path (malloc'd, NUL-terminated), or NULL. */
static inline char *fz_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t used = 0, capacity = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        size_t n;

        if (capacity - used < 65536) {
            char *grown = realloc(data, capacity + (1 << 20));

            if (grown == NULL) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = grown;
            capacity += 1 << 20;
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

/* ---- tables ------------------------------------------------------------------- */

/* A TABLE task from a builder (finished and freed); NULL on failure. */
static inline struct wn_task *fz_task_from_builder(const char *id, struct wn_table_builder *b)
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

/* A task with string columns "id" (ids[i]) and "text" (texts[i], NULL: null). */
static inline struct wn_task *fz_docs_task(const char *id, const char *const *ids,
                                           const char *const *texts, size_t n)
{
    struct wn_table_builder *b = wn_table_builder_new();
    int rc = 0;

    rc |= wn_table_builder_add_column(b, "id", WN_COLUMN_UTF8, 0) < 0;
    rc |= wn_table_builder_add_column(b, "text", WN_COLUMN_UTF8, 0) < 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc |= wn_table_builder_append_utf8(b, 0, ids[i], strlen(ids[i])) < 0;
        if (texts[i] == NULL)
            rc |= wn_table_builder_append_null(b, 1) < 0;
        else
            rc |= wn_table_builder_append_utf8(b, 1, texts[i], strlen(texts[i])) < 0;
    }
    if (rc != 0) {
        wn_table_builder_free(b);
        return NULL;
    }
    return fz_task_from_builder(id, b);
}

/* Column col of task's table as "a,b,c" (strings or integers), malloc'd. */
static inline char *fz_column_text(const struct wn_task *task, const char *column)
{
    const struct wn_table *t = wn_task_table(task);
    int64_t col = wn_table_column_index(t, column);
    size_t used = 0, capacity = 256;
    char *text = calloc(1, capacity);

    if (t == NULL || col < 0) {
        snprintf(text, capacity, "<no column %s>", column);
        return text;
    }
    for (int64_t row = 0; row < wn_table_num_rows(t); row++) {
        enum wn_column_type type = wn_table_column_type(t, col);
        size_t len = 0;
        const char *s = NULL;
        char number[32];

        if (wn_table_is_null(t, col, row)) {
            s = "null";
            len = 4;
        } else if (type == WN_COLUMN_UTF8 || type == WN_COLUMN_LARGE_UTF8) {
            s = wn_table_get_utf8(t, col, row, &len);
        } else {
            len = (size_t)snprintf(number, sizeof(number), "%lld",
                                   (long long)wn_table_get_int64(t, col, row));
            s = number;
        }
        while (capacity - used < len + 2)
            text = realloc(text, capacity *= 2);
        if (row > 0)
            text[used++] = ',';
        memcpy(text + used, s, len);
        used += len;
        text[used] = '\0';
    }
    return text;
}

#endif /* WINNOW_TESTS_FUZZY_HARNESS_H */
