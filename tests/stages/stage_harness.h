/*
 * Test harness for the standard stages: the shared one (tests/common/harness.h:
 * run a stage of the plugin compiled into the test, collect what it emits,
 * temporary directories and files) plus FILES and TABLE task builders and
 * the "id" column as text.
 */
#ifndef WINNOW_TESTS_STAGES_STAGE_HARNESS_H
#define WINNOW_TESTS_STAGES_STAGE_HARNESS_H

/* Include "build_config.h" first (it turns on _GNU_SOURCE for asprintf and nftw). */
#define HARNESS_TMP_PREFIX "winnow-stages"
#include "harness.h"

/* A FILES task with the given id and paths. */
static inline struct wn_task *harness_files_task(const char *id, const char *const *paths, size_t n)
{
    struct wn_task *task = wn_task_new(id, "test");

    if (task != NULL && wn_task_set_files(task, paths, n) < 0) {
        wn_task_free(task);
        task = NULL;
    }
    return task;
}

/* ---- tables ---------------------------------------------------------------- */

/*
 * A TABLE task `id` with columns "id" (int64: the row number) and "text"
 * (utf8: texts[i], NULL for a null cell), plus an int64 column "n" when
 * with_n.  NULL on failure.
 */
static inline struct wn_task *harness_text_task(const char *id, const char *const *texts, size_t n,
                                                int with_n)
{
    struct wn_table_builder *b = wn_table_builder_new();
    int rc = 0;

    if (b == NULL)
        return NULL;
    rc |= wn_table_builder_add_column(b, "id", WN_COLUMN_INT64, 0) < 0;
    rc |= wn_table_builder_add_column(b, "text", WN_COLUMN_UTF8, 0) < 0;
    if (with_n)
        rc |= wn_table_builder_add_column(b, "n", WN_COLUMN_INT64, 0) < 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc |= wn_table_builder_append_int64(b, 0, (int64_t)i) < 0;
        if (texts[i] == NULL)
            rc |= wn_table_builder_append_null(b, 1) < 0;
        else
            rc |= wn_table_builder_append_utf8(b, 1, texts[i], strlen(texts[i])) < 0;
        if (with_n)
            rc |= wn_table_builder_append_int64(b, 2, (int64_t)i * 10) < 0;
    }
    if (rc != 0) {
        wn_table_builder_free(b);
        return NULL;
    }
    return harness_task_from_builder(id, b);
}

/* The "id" column of task's table as "0,2,5" (malloc'd); "<no table>" when none. */
static inline char *harness_ids(const struct wn_task *task)
{
    const struct wn_table *t = wn_task_table(task);
    int64_t col = wn_table_column_index(t, "id");
    size_t used = 0, capacity = 64;
    char *text = calloc(1, capacity);

    if (t == NULL || col < 0) {
        snprintf(text, capacity, "<no table>");
        return text;
    }
    for (int64_t row = 0; row < wn_table_num_rows(t); row++) {
        if (capacity - used < 32)
            text = realloc(text, capacity *= 2);
        used += (size_t)snprintf(text + used, capacity - used, "%s%lld", row ? "," : "",
                                 (long long)wn_table_get_int64(t, col, row));
    }
    return text;
}

#endif /* WINNOW_TESTS_STAGES_STAGE_HARNESS_H */
