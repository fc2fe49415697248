/*
 * jsonl_reader: reads the JSON Lines files of a FILES task into one TABLE task.
 *
 * Each non-blank line is one JSON object, one row.  Columns are the fields
 * asked for in `fields`, or else every field seen, in first-seen order.  A
 * column's type comes from its first non-null value: string -> utf8
 * (large_utf8 past INT32_MAX bytes), integer -> int64, real -> float64,
 * boolean -> bool, object or array -> its compact JSON text (utf8).  Later
 * values must agree (an integer in a float64 column is converted); a missing
 * field or a JSON null is a null cell.  An integer column holding a value
 * above INT64_MAX (up to UINT64_MAX, as lsh's bucket ids) and no negative one
 * is uint64; one holding both is a type conflict.  Duplicate keys in one
 * object make the line malformed, as the record would be ambiguous.  Integers
 * beyond uint64 (or below INT64_MIN) are malformed too, and so is anything
 * else jansson's json_loadb() refuses: lines are scanned by json_scan.c,
 * which accepts jansson's grammar (tests compare the two) without building a
 * tree.
 *
 * A malformed line fails the task with "FILE:LINE: what" (WN_EDATA) unless
 * skip_bad_lines, when it is skipped and counted in the metadata key
 * "jsonl_reader.bad_lines" of the output task.
 */
#include "build_config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/log.h>
#include <winnow/plugin.h>

#include "columns.h"
#include "json_scan.h"
#include "jsonl_reader.h"
#include "line_reader.h"

#define STAGE_NAME "jsonl_reader"
#define BAD_LINES_KEY "jsonl_reader.bad_lines"
#define BAD_LINES_LOGGED 5

/* One field of the row being read: where it goes and its value (borrowed). */
struct row_field {
    int64_t column; /* -1: a new field, column created when the row is accepted */
    const struct io_json_field *value;
};

struct jsonl_reader {
    const struct wn_params *params;
    size_t n_fields; /* 0: every field */
    int skip_bad_lines;
    size_t max_line_bytes;
    struct io_json_scanner scanner;
    struct row_field *row; /* scratch, reused for every line */
    size_t row_capacity;
    int32_t *slots; /* fields mode: index into the scanned fields per column, or -1 */
};

/* Per input task. */
struct read_state {
    struct io_columns columns;
    int fields_only; /* the columns are the `fields` param; other members are skipped */
    int64_t rows;
    uint64_t bad_lines;
    char problem[512]; /* what is wrong with the current line */
};

static enum io_column_kind kind_of(enum io_json_kind kind)
{
    switch (kind) {
    case IO_JSON_OBJECT:
    case IO_JSON_ARRAY: return IO_COLUMN_JSON;
    case IO_JSON_STRING: return IO_COLUMN_STRING;
    case IO_JSON_INTEGER: return IO_COLUMN_INT64;
    case IO_JSON_UNSIGNED: return IO_COLUMN_UINT64;
    case IO_JSON_REAL: return IO_COLUMN_FLOAT64;
    case IO_JSON_TRUE:
    case IO_JSON_FALSE: return IO_COLUMN_BOOL;
    case IO_JSON_NULL: break;
    }
    return IO_COLUMN_UNTYPED;
}

/* Nonzero when col takes the value v (see io_column_append_*). */
static int column_accepts(const struct io_column *col, const struct io_json_field *v)
{
    if (v->kind == IO_JSON_INTEGER || v->kind == IO_JSON_UNSIGNED)
        return io_column_takes_integer(col, v->kind == IO_JSON_INTEGER && v->integer < 0,
                                       v->kind == IO_JSON_UNSIGNED);
    return col->kind == IO_COLUMN_UNTYPED || col->kind == kind_of(v->kind);
}

static int is_blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
            return 0;
    return 1;
}

static int row_reserve(struct jsonl_reader *reader, size_t n)
{
    struct row_field *row;
    size_t capacity = reader->row_capacity ? reader->row_capacity : 32;

    if (n <= reader->row_capacity)
        return 0;
    while (capacity < n)
        capacity *= 2;
    row = realloc(reader->row, capacity * sizeof(*row));
    if (row == NULL)
        return WN_ENOMEM;
    reader->row = row;
    reader->row_capacity = capacity;
    return 0;
}

/* The column a top-level member goes to: its index, -1 for a new one, or IO_JSON_SKIP. */
static int64_t select_member(void *ctx, const char *key, size_t key_len)
{
    struct read_state *st = ctx;
    int64_t column = io_columns_find(&st->columns, key, key_len);

    return column < 0 && st->fields_only ? IO_JSON_SKIP : column;
}

/*
 * Checks one scanned line against the columns and, only when all of it is
 * acceptable, appends it as a row.  Returns 0, 1 for a bad line (st->problem
 * says why; nothing was appended) or a negative code.
 */
static int add_row(struct jsonl_reader *reader, struct read_state *st,
                   const struct io_json_field *fields, size_t n_scanned, struct wn_error *err)
{
    size_t n = 0;
    int rc;

    rc = row_reserve(reader, reader->n_fields > 0 ? reader->n_fields : n_scanned);
    if (rc < 0)
        return wn_error_set(err, rc, "out of memory");
    if (reader->n_fields > 0) {
        /* In the order of `fields`, so that a conflict names the first one listed. */
        for (size_t i = 0; i < n_scanned; i++)
            reader->slots[fields[i].column] = (int32_t)i;
        for (size_t c = 0; c < reader->n_fields; c++) {
            int32_t i = reader->slots[c];

            if (i < 0)
                continue;
            reader->slots[c] = -1;
            if (fields[i].kind == IO_JSON_NULL)
                continue;
            reader->row[n].column = (int64_t)c;
            reader->row[n].value = &fields[i];
            n++;
        }
    } else {
        for (size_t i = 0; i < n_scanned; i++) {
            reader->row[n].column = fields[i].column;
            reader->row[n].value = &fields[i];
            n++;
        }
    }

    /* Pass 1: every value must fit its column. */
    for (size_t i = 0; i < n; i++) {
        const struct row_field *f = &reader->row[i];
        const struct io_column *col;

        if (f->column < 0 || f->value->kind == IO_JSON_NULL)
            continue;
        col = &st->columns.items[f->column];
        if (column_accepts(col, f->value))
            continue;
        if ((f->value->kind == IO_JSON_INTEGER || f->value->kind == IO_JSON_UNSIGNED) &&
            (col->kind == IO_COLUMN_INT64 || col->kind == IO_COLUMN_UINT64))
            snprintf(st->problem, sizeof(st->problem),
                     "type conflict: field \"%.*s\" is %s here, but its column already "
                     "holds %s; no integer column holds both (int64 and uint64 do not mix)",
                     (int)f->value->key_len, f->value->key,
                     f->value->kind == IO_JSON_UNSIGNED ? "an integer above 2^63-1"
                                                        : "a negative integer",
                     col->kind == IO_COLUMN_UINT64 ? "integers above 2^63-1" : "negative integers");
        else
            snprintf(st->problem, sizeof(st->problem),
                     "type conflict: field \"%.*s\" is %s here, but its column holds %s "
                     "(from its first non-null value)",
                     (int)f->value->key_len, f->value->key, io_json_kind_name(f->value->kind),
                     io_column_kind_name(col->kind));
        return 1;
    }

    /* Pass 2: append. */
    for (size_t i = 0; i < n; i++) {
        struct row_field *f = &reader->row[i];
        const struct io_json_field *v = f->value;
        struct io_column *col;

        if (f->column < 0) {
            f->column = io_columns_add(&st->columns, v->key, v->key_len, err);
            if (f->column < 0)
                return (int)f->column;
        }
        col = &st->columns.items[f->column];
        switch (v->kind) {
        case IO_JSON_STRING:
            rc = io_column_append_string(col, IO_COLUMN_STRING, st->rows, v->text, v->text_len);
            break;
        case IO_JSON_OBJECT:
        case IO_JSON_ARRAY:
            rc = io_column_append_string(col, IO_COLUMN_JSON, st->rows, v->text, v->text_len);
            break;
        case IO_JSON_INTEGER: rc = io_column_append_int64(col, st->rows, v->integer); break;
        case IO_JSON_UNSIGNED: rc = io_column_append_uint64(col, st->rows, v->unsigned_); break;
        case IO_JSON_REAL: rc = io_column_append_float64(col, st->rows, v->real); break;
        case IO_JSON_TRUE:
        case IO_JSON_FALSE:
            rc = io_column_append_bool(col, st->rows, v->kind == IO_JSON_TRUE);
            break;
        case IO_JSON_NULL:
        default:
            rc = 0; /* the column pads itself with nulls */
            break;
        }
        if (rc < 0)
            return wn_error_set(err, rc, "out of memory storing field \"%.*s\"", (int)v->key_len,
                                v->key);
    }
    st->rows++;
    return 0;
}

/* Parses one line; 0 when it became a row, 1 when it is bad (st->problem), or < 0. */
static int read_line(struct jsonl_reader *reader, struct read_state *st, const char *line,
                     size_t len, struct wn_error *err)
{
    const struct io_json_field *fields;
    size_t n_fields;
    int rc;

    rc = io_json_scan_line(&reader->scanner, line, len, select_member, st, &fields, &n_fields);
    if (rc < 0)
        return wn_error_set(err, rc, "out of memory parsing a line");
    if (rc == 1) {
        snprintf(st->problem, sizeof(st->problem), "%s", reader->scanner.problem);
        return 1;
    }
    return add_row(reader, st, fields, n_fields, err);
}

/* Reads every line of one file into st. */
static int read_file(struct jsonl_reader *reader, struct read_state *st, const char *path,
                     const char *task_id, struct wn_error *err)
{
    struct io_line_reader *lines;
    int rc;

    rc = io_line_reader_open(&lines, path, reader->max_line_bytes, err);
    if (rc < 0)
        return rc;
    for (;;) {
        const char *line;
        size_t len;
        uint64_t number;

        rc = io_line_reader_next(lines, &line, &len, &number, err);
        if (rc < 0 || rc == IO_LINE_EOF)
            break;
        if (rc == IO_LINE_TOO_LONG) {
            snprintf(st->problem, sizeof(st->problem),
                     "line is longer than max_line_bytes (%zu bytes)", reader->max_line_bytes);
            rc = 1;
        } else if (is_blank(line, len)) {
            continue;
        } else {
            rc = read_line(reader, st, line, len, err);
            if (rc < 0)
                break;
        }
        if (rc == 1) {
            if (!reader->skip_bad_lines) {
                rc = wn_error_set(err, WN_EDATA, "%s:%" PRIu64 ": %s", path, number, st->problem);
                break;
            }
            st->bad_lines++;
            if (st->bad_lines <= BAD_LINES_LOGGED)
                wn_log(WN_LOG_WARN, STAGE_NAME, "task %s: skipping %s:%" PRIu64 ": %s", task_id,
                       path, number, st->problem);
        }
    }
    io_line_reader_close(lines);
    return rc < 0 ? rc : 0;
}

/* Reads all files of one FILES task into a new TABLE task (*out). */
static int read_task(struct jsonl_reader *reader, const struct wn_task *in, struct wn_task **out,
                     struct wn_error *err)
{
    struct read_state st;
    struct wn_table table = { 0 };
    struct wn_task *task = NULL;
    size_t n_files;
    int rc = 0;

    *out = NULL;
    memset(&st, 0, sizeof(st));
    st.fields_only = reader->n_fields > 0;
    if (wn_task_payload_kind(in) != WN_PAYLOAD_FILES)
        return wn_error_set(err, WN_EINVAL, "task %s: expected a FILES payload", wn_task_id(in));
    for (size_t i = 0; i < reader->n_fields; i++) {
        const char *name = wn_params_get_list_item(reader->params, "fields", i);
        int64_t column = io_columns_add(&st.columns, name, strlen(name), err);

        if (column < 0) {
            rc = (int)column;
            goto out_clear;
        }
    }
    n_files = wn_task_file_count(in);
    for (size_t i = 0; i < n_files; i++) {
        rc = read_file(reader, &st, wn_task_file(in, i), wn_task_id(in), err);
        if (rc < 0)
            goto out_clear;
    }
    if (st.bad_lines > BAD_LINES_LOGGED)
        wn_log(WN_LOG_WARN, STAGE_NAME,
               "task %s: skipped %" PRIu64 " bad lines (the first %d "
               "are logged above)",
               wn_task_id(in), st.bad_lines, BAD_LINES_LOGGED);

    rc = io_columns_export(&st.columns, st.rows, &table, err);
    if (rc < 0)
        goto out_clear;
    task = wn_task_new_child(in, 0);
    if (task == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "out of memory");
        goto out_release;
    }
    rc = wn_task_set_table(task, &table, err);
    if (rc < 0) {
        wn_error_prefix(err, "task %s", wn_task_id(task));
        goto out_release;
    }
    if (reader->skip_bad_lines) {
        char count[32];

        snprintf(count, sizeof(count), "%" PRIu64, st.bad_lines);
        rc = wn_task_meta_set(task, BAD_LINES_KEY, count);
        if (rc < 0) {
            rc = wn_error_set(err, rc, "task %s: cannot set metadata", wn_task_id(task));
            goto out_release;
        }
    }
    *out = task;
    return 0;

out_release:
    wn_task_free(task);
    wn_table_release(&table);
out_clear:
    io_columns_clear(&st.columns);
    return rc;
}

static int jsonl_reader_create(const struct wn_params *params, void **state, struct wn_error *err)
{
    struct jsonl_reader *reader = calloc(1, sizeof(*reader));

    *state = NULL;
    if (reader == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    for (size_t i = 0; i < wn_params_get_list_size(params, "fields"); i++) {
        for (size_t j = 0; j < i; j++) {
            const char *name = wn_params_get_list_item(params, "fields", i);

            if (strcmp(name, wn_params_get_list_item(params, "fields", j)) == 0) {
                free(reader);
                return wn_error_set(err, WN_ECONFIG, "fields: \"%s\" is listed twice", name);
            }
        }
    }
    reader->params = params;
    reader->n_fields = wn_params_get_list_size(params, "fields");
    reader->skip_bad_lines = wn_params_get_bool(params, "skip_bad_lines");
    reader->max_line_bytes = (size_t)wn_params_get_int(params, "max_line_bytes");
    if (reader->n_fields > 0) {
        reader->slots = malloc(reader->n_fields * sizeof(*reader->slots));
        if (reader->slots == NULL) {
            free(reader);
            return wn_error_set(err, WN_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < reader->n_fields; i++)
            reader->slots[i] = -1;
    }
    *state = reader;
    return 0;
}

static int jsonl_reader_process(void *state, struct wn_task **in, size_t n_in,
                                struct wn_emitter *out, struct wn_error *err)
{
    struct jsonl_reader *reader = state;
    struct wn_task **outputs;
    size_t done = 0;
    int rc = 0;

    /* Emit only once every input has been read, so a failed batch emits nothing. */
    outputs = calloc(n_in ? n_in : 1, sizeof(*outputs));
    if (outputs == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    for (; done < n_in; done++) {
        if (in[done] == NULL)
            continue;
        rc = read_task(reader, in[done], &outputs[done], err);
        if (rc < 0)
            break;
    }
    for (size_t i = 0; i < n_in; i++) {
        if (outputs[i] == NULL)
            continue;
        if (rc < 0) {
            wn_task_free(outputs[i]);
            continue;
        }
        rc = wn_emit(out, outputs[i]);
        if (rc < 0)
            rc = wn_error_set(err, rc, "cannot emit the table read for task %s", wn_task_id(in[i]));
    }
    free(outputs);
    return rc;
}

static void jsonl_reader_destroy(void *state)
{
    struct jsonl_reader *reader = state;

    if (reader == NULL)
        return;
    io_json_scanner_clear(&reader->scanner);
    free(reader->row);
    free(reader->slots);
    free(reader);
}

static const struct wn_param_spec jsonl_reader_params[] = {
    { "fields", WN_PARAM_STRING_LIST, 0, "[]", 0, 0, NULL,
      "fields to read, in this order ([]: every field, in first-seen order)" },
    { "skip_bad_lines", WN_PARAM_BOOL, 0, "false", 0, 0, NULL,
      "skip and count malformed lines instead of failing" },
    { "max_line_bytes", WN_PARAM_INT, WN_PARAM_HAS_MIN, "67108864", 1, 0, NULL,
      "longest line accepted, in bytes (longer lines are malformed)" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

static const struct wn_stage_ops jsonl_reader_ops = {
    .version = WN_STAGE_OPS_VERSION,
    .create = jsonl_reader_create,
    .process_batch = jsonl_reader_process,
    .destroy = jsonl_reader_destroy,
};

const struct wn_stage_desc io_jsonl_reader_stage = {
    WN_STAGE_HEADER,
    .name = STAGE_NAME,
    .summary = "read JSON Lines files (.jsonl, .jsonl.zst) into a table",
    .params = jsonl_reader_params,
    .resources = { .cpus = 1.0 },
    .batch_size = 1,
    .kind = WN_STAGE_PLAIN,
    .input_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_FILES),
    .output_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .ops = &jsonl_reader_ops,
};
