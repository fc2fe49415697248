/* filters_*: the machinery every text filter stage shares. */
#include "build_config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/table.h>

#include "text_filter.h"

int filters_common_init(struct filters_common *common, const struct wn_params *params,
                        const char *stage_name, struct wn_error *err)
{
    memset(common, 0, sizeof(*common));
    common->text_field = wn_params_get_string(params, "text_field");
    common->stage_name = strdup(stage_name);
    if (common->stage_name == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    return 0;
}

int filters_common_setup(struct filters_common *common, const struct wn_worker *worker,
                         struct wn_error *err)
{
    char *name;

    if (worker == NULL ||
        worker->struct_size < offsetof(struct wn_worker, stage_name) + sizeof(worker->stage_name) ||
        worker->stage_name == NULL || worker->stage_name[0] == '\0')
        return 0;
    name = strdup(worker->stage_name);
    if (name == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    free(common->stage_name);
    common->stage_name = name;
    return 0;
}

void filters_common_clear(struct filters_common *common)
{
    free(common->stage_name);
    memset(common, 0, sizeof(*common));
}

/* Writes "a, b, c" (the table's column names) into buf. */
static void list_columns(const struct wn_table *table, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int64_t c = 0; c < wn_table_num_columns(table) && used < size; c++) {
        int n = snprintf(buf + used, size - used, "%s%s", c ? ", " : "",
                         wn_table_column_name(table, c));
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (buf[0] == '\0')
        snprintf(buf, size, "none");
}

int filters_text_column(const struct filters_common *common, const struct wn_task *task,
                        int64_t *col, struct wn_error *err)
{
    const struct wn_table *table = wn_task_table(task);
    enum wn_column_type type;
    char columns[512];

    if (table == NULL)
        return wn_error_set(err, WN_EINVAL, "%s: task %s: expected a TABLE payload",
                            common->stage_name, wn_task_id(task));
    *col = wn_table_column_index(table, common->text_field);
    if (*col < 0) {
        list_columns(table, columns, sizeof(columns));
        return wn_error_set(err, WN_ENOTFOUND,
                            "%s: task %s: no column \"%s\" (columns: %s); set text_field to "
                            "the column holding the text",
                            common->stage_name, wn_task_id(task), common->text_field, columns);
    }
    type = wn_table_column_type(table, *col);
    if (type != WN_COLUMN_UTF8 && type != WN_COLUMN_LARGE_UTF8)
        return wn_error_set(err, WN_EINVAL,
                            "%s: task %s: column \"%s\" has Arrow format \"%s\", not a string "
                            "(utf8 or large_utf8)",
                            common->stage_name, wn_task_id(task), common->text_field,
                            table->schema.children[*col]->format);
    return 0;
}

/* The filtering decided for one input before anything is emitted. */
struct filtered {
    struct wn_table table; /* the kept rows, when some rows were dropped */
    int replaced;
    uint64_t dropped;
};

int filters_run(const struct filters_common *common, filters_keep_fn keep, const void *config,
                struct wn_task **in, size_t n_in, struct wn_emitter *out, struct wn_error *err)
{
    struct filtered *results;
    uint8_t *flags = NULL;
    size_t flags_capacity = 0;
    char key[256];
    int rc = 0;

    results = calloc(n_in ? n_in : 1, sizeof(*results));
    if (results == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");

    /* Phase 1: decide every row of every input; nothing is changed yet. */
    for (size_t i = 0; i < n_in && rc == 0; i++) {
        const struct wn_table *table;
        int64_t col, n_rows, kept = 0;

        if (in[i] == NULL)
            continue;
        rc = filters_text_column(common, in[i], &col, err);
        if (rc < 0)
            break;
        table = wn_task_table(in[i]);
        n_rows = wn_table_num_rows(table);
        if ((size_t)n_rows > flags_capacity) {
            uint8_t *grown = realloc(flags, (size_t)n_rows);

            if (grown == NULL) {
                rc = wn_error_set(err, WN_ENOMEM, "out of memory");
                break;
            }
            flags = grown;
            flags_capacity = (size_t)n_rows;
        }
        for (int64_t row = 0; row < n_rows; row++) {
            size_t len = 0;
            const char *text = wn_table_get_utf8(table, col, row, &len);

            flags[row] = keep(config, text, text ? len : 0) ? 1 : 0;
            kept += flags[row];
        }
        results[i].dropped = (uint64_t)(n_rows - kept);
        if (kept < n_rows) {
            rc = wn_table_filter(table, flags, &results[i].table, err);
            if (rc < 0) {
                wn_error_prefix(err, "%s: task %s", common->stage_name, wn_task_id(in[i]));
                break;
            }
            results[i].replaced = 1;
        }
    }

    /* Phase 2: replace, record and emit. */
    snprintf(key, sizeof(key), "%s.dropped", common->stage_name);
    for (size_t i = 0; i < n_in && rc == 0; i++) {
        struct wn_task *task;
        char count[32];

        if (in[i] == NULL)
            continue;
        task = wn_task_take(&in[i]);
        if (results[i].replaced) {
            results[i].replaced = 0;
            rc = wn_task_set_table(task, &results[i].table, err);
            if (rc < 0) {
                wn_task_free(task);
                wn_error_prefix(err, "%s", common->stage_name);
                break;
            }
        }
        snprintf(count, sizeof(count), "%" PRIu64, results[i].dropped);
        rc = wn_task_meta_set(task, key, count);
        if (rc < 0) {
            rc = wn_error_set(err, rc, "%s: task %s: cannot set metadata", common->stage_name,
                              wn_task_id(task));
            wn_task_free(task);
            break;
        }
        rc = wn_emit(out, task);
        if (rc < 0)
            rc = wn_error_set(err, rc, "%s: cannot emit a filtered task", common->stage_name);
    }

    for (size_t i = 0; i < n_in; i++)
        if (results[i].replaced)
            wn_table_release(&results[i].table);
    free(results);
    free(flags);
    return rc;
}
