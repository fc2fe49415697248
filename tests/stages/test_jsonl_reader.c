/* Tests of the jsonl_reader stage (plugins/stages/io/jsonl_reader.c, line_reader.c, columns.c). */
#include "build_config.h"

#include <errno.h>

#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

#include "stage_harness.h"

HARNESS_SUITE_TMPDIR(dir, make_dir, remove_dir)

static char *path_of(const char *name)
{
    char *path = NULL;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return NULL;
    return path;
}

/* One read: the sink holding the output and the code. */
struct read_result {
    struct harness_sink sink;
    struct wn_error err;
    int rc;
    const struct wn_table *table; /* of the first output, or NULL */
};

/* Reads the named files (in dir) as one FILES task "in" with params_json. */
static void read_files(struct read_result *r, const char *params_json, const char *const *names,
                       size_t n)
{
    char *paths[16];
    struct wn_task *in[1];

    for (size_t i = 0; i < n; i++)
        paths[i] = path_of(names[i]);
    in[0] = harness_files_task("in", (const char *const *)paths, n);
    harness_sink_init(&r->sink);
    wn_error_clear(&r->err);
    r->rc = harness_run("jsonl_reader", params_json, in, 1, &r->sink, &r->err);
    r->table = r->sink.count > 0 ? wn_task_table(r->sink.tasks[0]) : NULL;
    if (r->rc != 0)
        fprintf(stderr, "\n  reader: %s\n", r->err.message);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
}

static void read_text(struct read_result *r, const char *params_json, const char *name,
                      const char *content)
{
    CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, name, content), 0);
    read_files(r, params_json, &name, 1);
}

static void result_clear(struct read_result *r)
{
    harness_sink_clear(&r->sink);
    r->table = NULL;
}

/* The utf8 cell as a NUL-terminated string in buf ("<null>" for null). */
static const char *cell_text(const struct wn_table *t, const char *column, int64_t row, char *buf,
                             size_t size)
{
    int64_t col = wn_table_column_index(t, column);
    size_t len = 0;
    const char *s;

    if (col < 0)
        return "<no column>";
    if (wn_table_is_null(t, col, row))
        return "<null>";
    s = wn_table_get_utf8(t, col, row, &len);
    if (s == NULL)
        return "<not a string>";
    snprintf(buf, size, "%.*s", (int)len, s);
    return buf;
}

#define ASSERT_CELL(t, column, row, expected)                                                      \
    do {                                                                                           \
        char buf_[256];                                                                            \
        CU_ASSERT_STRING_EQUAL(cell_text(t, column, row, buf_, sizeof(buf_)), expected);           \
    } while (0)

static void assert_columns(const struct wn_table *t, const char *const *names,
                           const enum wn_column_type *types, size_t n)
{
    CU_ASSERT_EQUAL_FATAL(wn_table_num_columns(t), (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_STRING_EQUAL(wn_table_column_name(t, (int64_t)i), names[i]);
        CU_ASSERT_EQUAL(wn_table_column_type(t, (int64_t)i), types[i]);
    }
}

static void test_reads_types_nulls_and_missing_fields(void)
{
    static const char *const names[] = { "id", "text", "score", "ok", "meta", "tags", "extra" };
    static const enum wn_column_type types[] = {
        WN_COLUMN_INT64, WN_COLUMN_UTF8, WN_COLUMN_FLOAT64, WN_COLUMN_BOOL,
        WN_COLUMN_UTF8,  WN_COLUMN_UTF8, WN_COLUMN_UTF8,
    };
    struct read_result r;
    const struct wn_table *t;
    size_t len = 0;
    const char *s;

    read_text(
        &r, NULL, "types.jsonl",
        "{\"id\": 1, \"text\": \"hello\", \"score\": 0.5, \"ok\": true, "
        "\"meta\": {\"a\": [1, 2], \"b\": \"x y\"}, \"tags\": [\"x\", \"y\"]}\n"
        "{\"id\": 2, \"text\": null, \"score\": 1, \"ok\": false}\n"
        "\n"
        "   \t\r\n"
        "{\"id\": -3, \"extra\": \"late\", \"text\": \"\\u00e9\\u0000x\", \"score\": -1e300}");
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_EQUAL_FATAL(r.sink.count, 1);
    CU_ASSERT_STRING_EQUAL(wn_task_id(r.sink.tasks[0]), "in_0");
    CU_ASSERT_PTR_NULL(wn_task_meta_get(r.sink.tasks[0], "jsonl_reader.bad_lines"));
    t = r.table;
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(wn_table_validate(t, &r.err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(t), 3);
    assert_columns(t, names, types, 7);

    CU_ASSERT_EQUAL(wn_table_get_int64(t, 0, 0), 1);
    CU_ASSERT_EQUAL(wn_table_get_int64(t, 0, 1), 2);
    CU_ASSERT_EQUAL(wn_table_get_int64(t, 0, 2), -3);
    ASSERT_CELL(t, "text", 0, "hello");
    ASSERT_CELL(t, "text", 1, "<null>");
    s = wn_table_get_utf8(t, 1, 2, &len);
    CU_ASSERT_EQUAL(len, 4);
    CU_ASSERT(s != NULL && memcmp(s, "\xc3\xa9\0x", 4) == 0);
    CU_ASSERT_DOUBLE_EQUAL(wn_table_get_float64(t, 2, 0), 0.5, 0);
    CU_ASSERT_DOUBLE_EQUAL(wn_table_get_float64(t, 2, 1), 1.0, 0);
    CU_ASSERT_EQUAL(wn_table_get_float64(t, 2, 2), -1e300);
    CU_ASSERT_EQUAL(wn_table_get_bool(t, 3, 0), 1);
    CU_ASSERT_EQUAL(wn_table_get_bool(t, 3, 1), 0);
    CU_ASSERT(wn_table_is_null(t, 3, 2));
    ASSERT_CELL(t, "meta", 0, "{\"a\":[1,2],\"b\":\"x y\"}");
    ASSERT_CELL(t, "meta", 1, "<null>");
    ASSERT_CELL(t, "meta", 2, "<null>");
    ASSERT_CELL(t, "tags", 0, "[\"x\",\"y\"]");
    ASSERT_CELL(t, "extra", 0, "<null>");
    ASSERT_CELL(t, "extra", 1, "<null>");
    ASSERT_CELL(t, "extra", 2, "late");
    result_clear(&r);
}

static void test_field_first_seen_as_null_keeps_its_place(void)
{
    static const char *const names[] = { "x", "y", "never" };
    static const enum wn_column_type types[] = { WN_COLUMN_INT64, WN_COLUMN_UTF8, WN_COLUMN_UTF8 };
    struct read_result r;

    read_text(&r, NULL, "late_type.jsonl",
              "{\"x\": null, \"y\": \"a\", \"never\": null}\n"
              "{\"y\": \"b\"}\n"
              "{\"x\": 7, \"y\": null, \"never\": null}\n");
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(r.table), 3);
    assert_columns(r.table, names, types, 3);
    CU_ASSERT(wn_table_is_null(r.table, 0, 0));
    CU_ASSERT(wn_table_is_null(r.table, 0, 1));
    CU_ASSERT_EQUAL(wn_table_get_int64(r.table, 0, 2), 7);
    ASSERT_CELL(r.table, "y", 1, "b");
    ASSERT_CELL(r.table, "y", 2, "<null>");
    for (int64_t row = 0; row < 3; row++)
        CU_ASSERT(wn_table_is_null(r.table, 2, row));
    result_clear(&r);
}

static void test_fields_select_and_order_the_columns(void)
{
    static const char *const names[] = { "text", "id", "absent" };
    static const enum wn_column_type types[] = { WN_COLUMN_UTF8, WN_COLUMN_INT64, WN_COLUMN_UTF8 };
    struct read_result r;

    /* "other" changes type, but it is not read, so that is fine. */
    read_text(&r, "{\"fields\": [\"text\", \"id\", \"absent\"]}", "fields.jsonl",
              "{\"id\": 1, \"other\": 1, \"text\": \"one\"}\n"
              "{\"id\": 2, \"other\": \"two\"}\n");
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(r.table), 2);
    assert_columns(r.table, names, types, 3);
    ASSERT_CELL(r.table, "text", 0, "one");
    ASSERT_CELL(r.table, "text", 1, "<null>");
    CU_ASSERT_EQUAL(wn_table_get_int64(r.table, 1, 1), 2);
    CU_ASSERT(wn_table_is_null(r.table, 2, 0));
    result_clear(&r);

    read_text(&r, "{\"fields\": [\"a\", \"a\"]}", "fields.jsonl", "{}\n");
    CU_ASSERT_EQUAL(r.rc, WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err.message, "\"a\" is listed twice"));
    result_clear(&r);
}

static void test_empty_file_gives_zero_rows(void)
{
    struct read_result r;

    read_text(&r, NULL, "empty.jsonl", "");
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.table);
    CU_ASSERT_EQUAL(wn_table_num_rows(r.table), 0);
    CU_ASSERT_EQUAL(wn_table_num_columns(r.table), 0);
    CU_ASSERT_EQUAL(wn_table_validate(r.table, &r.err), 0);
    result_clear(&r);

    read_text(&r, "{\"fields\": [\"id\", \"text\"]}", "blank.jsonl", "\n\n  \n");
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(r.table), 0);
    CU_ASSERT_EQUAL(wn_table_num_columns(r.table), 2);
    CU_ASSERT_EQUAL(wn_table_validate(r.table, &r.err), 0);
    result_clear(&r);
}

static void test_files_of_a_task_are_read_in_order_into_one_table(void)
{
    static const char *const names[] = { "part1.jsonl", "part2.jsonl", "part3.jsonl" };
    struct read_result r;

    CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, names[0], "{\"n\": 1}\n{\"n\": 2}\n"), 0);
    CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, names[1], ""), 0);
    CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, names[2], "{\"n\": 3, \"s\": \"x\"}"), 0);
    read_files(&r, NULL, names, 3);
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(r.table), 3);
    for (int64_t row = 0; row < 3; row++)
        CU_ASSERT_EQUAL(wn_table_get_int64(r.table, 0, row), row + 1);
    ASSERT_CELL(r.table, "s", 0, "<null>");
    ASSERT_CELL(r.table, "s", 2, "x");
    result_clear(&r);
}

static void test_each_input_task_gives_one_output_task(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    char *a = path_of("multi_a.jsonl"), *b = path_of("multi_b.jsonl");
    struct wn_task *in[2];

    CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, "multi_a.jsonl", "{\"v\": 1}\n"), 0);
    CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, "multi_b.jsonl", "{\"v\": 2}\n{\"v\": 3}\n"), 0);
    in[0] = harness_files_task("t_0", (const char *const *)&a, 1);
    in[1] = harness_files_task("t_1", (const char *const *)&b, 1);
    wn_task_meta_set(in[1], "origin", "b");
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL(harness_run("jsonl_reader", NULL, in, 2, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 2);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[0]), "t_0_0");
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[1]), "t_1_0");
    CU_ASSERT_EQUAL(wn_task_num_items(sink.tasks[0]), 1);
    CU_ASSERT_EQUAL(wn_task_num_items(sink.tasks[1]), 2);
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[1], "origin"), "b");
    harness_sink_clear(&sink);
    free(a);
    free(b);
}

static void test_crlf_line_ends_are_accepted(void)
{
    struct read_result r;

    read_text(&r, NULL, "crlf.jsonl", "{\"s\": \"a\"}\r\n\r\n{\"s\": \"b\"}\r\n");
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(r.table), 2);
    ASSERT_CELL(r.table, "s", 1, "b");
    result_clear(&r);
}

/* Asserts that reading content fails with code and the message "<path>:<where>". */
static void assert_read_fails(const char *name, const char *content, const char *params, int code,
                              const char *where)
{
    struct read_result r;
    char *path = path_of(name), *want = NULL;

    read_text(&r, params, name, content);
    CU_ASSERT_EQUAL(r.rc, code);
    CU_ASSERT_EQUAL(r.sink.count, 0);
    CU_ASSERT(asprintf(&want, "%s:%s", path, where) > 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err.message, want));
    if (strstr(r.err.message, want) == NULL)
        fprintf(stderr, "\n  got \"%s\"\n  want \"%s\"\n", r.err.message, want);
    free(want);
    free(path);
    result_clear(&r);
}

static void test_malformed_line_is_an_error_naming_file_and_line(void)
{
    assert_read_fails("bad.jsonl", "{\"a\": 1}\n{\"a\": 2}\n\n{\"a\": \n{\"a\": 5}\n", NULL,
                      WN_EDATA, "4: invalid JSON");
    assert_read_fails("array.jsonl", "[1, 2]\n", NULL, WN_EDATA,
                      "1: expected a JSON object, got an array");
    assert_read_fails("scalar.jsonl", "{}\n\"text\"", NULL, WN_EDATA,
                      "2: expected a JSON object, got a string");
    assert_read_fails("trailing.jsonl", "{\"a\": 1} x\n", NULL, WN_EDATA, "1: invalid JSON");
    assert_read_fails("dup.jsonl", "{\"a\": 1}\n{\"a\": 1, \"a\": 2}\n", NULL, WN_EDATA,
                      "2: invalid JSON");
    assert_read_fails("bigint.jsonl", "{\"a\": 123456789012345678901234567890}\n", NULL, WN_EDATA,
                      "1: invalid JSON");
}

static void test_type_conflict_is_an_error(void)
{
    assert_read_fails("conflict.jsonl", "{\"a\": 1}\n{\"a\": null}\n{\"a\": \"x\"}\n", NULL,
                      WN_EDATA,
                      "3: type conflict: field \"a\" is a string here, but its column holds an "
                      "integer");
    assert_read_fails("int_then_real.jsonl", "{\"a\": 1}\n{\"a\": 1.5}\n", NULL, WN_EDATA,
                      "2: type conflict: field \"a\" is a number here");
    assert_read_fails("string_then_object.jsonl", "{\"a\": \"s\"}\n{\"a\": {}}\n", NULL, WN_EDATA,
                      "2: type conflict: field \"a\" is an object here");
    assert_read_fails("bool_then_int.jsonl", "{\"a\": true}\n{\"a\": 0}\n", NULL, WN_EDATA,
                      "2: type conflict");
}

static void test_integers_go_into_a_float_column(void)
{
    struct read_result r;

    read_text(&r, NULL, "real_then_int.jsonl",
              "{\"a\": 1.5}\n{\"a\": 2}\n{\"a\": [1, {}]}\n"
              "{\"a\": -7}\n");
    CU_ASSERT_EQUAL(r.rc, WN_EDATA); /* the array conflicts */
    result_clear(&r);
    read_text(&r, NULL, "real_then_int.jsonl",
              "{\"a\": 1.5}\n{\"a\": 2}\n{\"a\": -7}\n"
              "{\"b\": [1, {}]}\n{\"b\": {\"k\": null}}\n");
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_EQUAL(wn_table_column_type(r.table, 0), WN_COLUMN_FLOAT64);
    CU_ASSERT_EQUAL(wn_table_get_float64(r.table, 0, 1), 2.0);
    CU_ASSERT_EQUAL(wn_table_get_float64(r.table, 0, 2), -7.0);
    ASSERT_CELL(r.table, "b", 3, "[1,{}]");
    ASSERT_CELL(r.table, "b", 4, "{\"k\":null}");
    result_clear(&r);
}

/* Integers above INT64_MAX (lsh's bucket ids, which jsonl_writer writes from
 * uint64 columns) read back exactly, into a uint64 column. */
static void test_integers_above_int64_make_a_uint64_column(void)
{
    struct read_result r;

    read_text(&r, NULL, "buckets.jsonl",
              "{\"bucket\": 3, \"n\": [18446744073709551615]}\n"
              "{\"bucket\": 18446744073709551615}\n{\"bucket\": null}\n"
              "{\"bucket\": 9223372036854775808}\n{\"bucket\": 0}\n");
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(r.table), 5);
    CU_ASSERT_EQUAL(wn_table_column_type(r.table, 0), WN_COLUMN_UINT64);
    CU_ASSERT_EQUAL(wn_table_get_uint64(r.table, 0, 0), 3);
    CU_ASSERT_EQUAL(wn_table_get_uint64(r.table, 0, 1), UINT64_MAX);
    CU_ASSERT(wn_table_is_null(r.table, 0, 2));
    CU_ASSERT_EQUAL(wn_table_get_uint64(r.table, 0, 3), UINT64_C(9223372036854775808));
    CU_ASSERT_EQUAL(wn_table_get_uint64(r.table, 0, 4), 0);
    ASSERT_CELL(r.table, "n", 0, "[18446744073709551615]");
    result_clear(&r);

    /* A float column takes them, converted, as it takes other integers. */
    read_text(&r, NULL, "float_then_big.jsonl", "{\"a\": 0.5}\n{\"a\": 18446744073709551615}\n");
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_EQUAL(wn_table_column_type(r.table, 0), WN_COLUMN_FLOAT64);
    CU_ASSERT_EQUAL(wn_table_get_float64(r.table, 0, 1), 18446744073709551615.0);
    result_clear(&r);

    /* No integer type holds both a negative value and one above INT64_MAX. */
    assert_read_fails("negative_then_big.jsonl",
                      "{\"a\": -1}\n{\"a\": 5}\n{\"a\": 9223372036854775808}\n", NULL, WN_EDATA,
                      "3: type conflict: field \"a\" is an integer above 2^63-1 here, but its "
                      "column already holds negative integers");
    assert_read_fails("big_then_negative.jsonl",
                      "{\"a\": 5}\n{\"a\": 9223372036854775808}\n{\"a\": -2}\n", NULL, WN_EDATA,
                      "3: type conflict: field \"a\" is a negative integer here, but its column "
                      "already holds integers above 2^63-1");
    assert_read_fails("big_then_string.jsonl", "{\"a\": 9223372036854775808}\n{\"a\": \"x\"}\n",
                      NULL, WN_EDATA,
                      "2: type conflict: field \"a\" is a string here, but its column holds "
                      "integers above 2^63-1");
    assert_read_fails("beyond_uint64.jsonl", "{\"a\": 18446744073709551616}\n", NULL, WN_EDATA,
                      "1: invalid JSON");
}

static void test_skip_bad_lines_skips_and_counts_them(void)
{
    struct read_result r;

    read_text(&r, "{\"skip_bad_lines\": true}", "skip.jsonl",
              "{\"id\": 1, \"text\": \"a\"}\n"
              "not json\n"
              "{\"id\": 2, \"text\": \"b\"}\n"
              "{\"id\": \"three\", \"zzz\": 1}\n" /* type conflict: zzz must not appear */
              "[]\n"
              "\n"
              "{\"id\": 4}");
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_EQUAL_FATAL(r.sink.count, 1);
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(r.sink.tasks[0], "jsonl_reader.bad_lines"), "3");
    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(r.table), 3);
    CU_ASSERT_EQUAL(wn_table_num_columns(r.table), 2);
    CU_ASSERT_EQUAL(wn_table_column_index(r.table, "zzz"), -1);
    CU_ASSERT_EQUAL(wn_table_get_int64(r.table, 0, 0), 1);
    CU_ASSERT_EQUAL(wn_table_get_int64(r.table, 0, 1), 2);
    CU_ASSERT_EQUAL(wn_table_get_int64(r.table, 0, 2), 4);
    ASSERT_CELL(r.table, "text", 2, "<null>");
    result_clear(&r);

    read_text(&r, "{\"skip_bad_lines\": true}", "clean.jsonl", "{\"id\": 1}\n");
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(r.sink.tasks[0], "jsonl_reader.bad_lines"), "0");
    result_clear(&r);
}

static void test_lines_over_max_line_bytes_are_malformed(void)
{
    struct read_result r;
    /* line 1: 20 bytes exactly; line 2: 30 bytes; line 3: 30 bytes without newline */
    const char *content = "{\"s\": \"0123456789ab\"}\n"
                          "{\"s\": \"0123456789abcdefghijkl\"}\n"
                          "{\"s\": \"x\"}\n"
                          "{\"s\": \"0123456789abcdefghijkl\"}";

    CU_ASSERT_EQUAL(strlen("{\"s\": \"0123456789ab\"}"), 21);
    assert_read_fails("long.jsonl", content, "{\"max_line_bytes\": 21}", WN_EDATA,
                      "2: line is longer than max_line_bytes (21 bytes)");
    read_text(&r, "{\"max_line_bytes\": 21, \"skip_bad_lines\": true}", "long.jsonl", content);
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(r.sink.tasks[0], "jsonl_reader.bad_lines"), "2");
    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(r.table), 2);
    ASSERT_CELL(r.table, "s", 0, "0123456789ab");
    ASSERT_CELL(r.table, "s", 1, "x");
    result_clear(&r);
}

static void test_long_lines_and_many_lines_cross_buffer_boundaries(void)
{
    const size_t text_len = 3u << 20; /* longer than the 1 MiB read chunk */
    const int n_small = 30000;
    size_t cap = text_len + 64 + (size_t)n_small * 48, used = 0;
    char *content = malloc(cap);
    struct read_result r;
    const char *s;
    size_t len = 0;

    used += (size_t)sprintf(content + used, "{\"i\": -1, \"t\": \"");
    memset(content + used, 'q', text_len);
    used += text_len;
    used += (size_t)sprintf(content + used, "\"}\n");
    for (int i = 0; i < n_small; i++)
        used += (size_t)sprintf(content + used, "{\"i\": %d, \"t\": \"row %d\"}\n", i, i);
    CU_ASSERT_EQUAL_FATAL(harness_write(dir, "big.jsonl", content, used), 0);
    free(content);

    {
        const char *name = "big.jsonl";
        read_files(&r, NULL, &name, 1);
    }
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(r.table), n_small + 1);
    s = wn_table_get_utf8(r.table, 1, 0, &len);
    CU_ASSERT_EQUAL(len, text_len);
    CU_ASSERT(s != NULL && s[0] == 'q' && s[text_len - 1] == 'q');
    CU_ASSERT_EQUAL(wn_table_get_int64(r.table, 0, 1), 0);
    CU_ASSERT_EQUAL(wn_table_get_int64(r.table, 0, n_small), n_small - 1);
    ASSERT_CELL(r.table, "t", 12346, "row 12345");
    result_clear(&r);
}

static void test_missing_file_is_an_error_naming_it(void)
{
    struct read_result r;
    const char *name = "does-not-exist.jsonl";
    char *path = path_of(name), *want = NULL;

    read_files(&r, NULL, &name, 1);
    CU_ASSERT_EQUAL(r.rc, WN_ENOTFOUND);
    CU_ASSERT(asprintf(&want, "cannot open %s: %s", path, strerror(ENOENT)) > 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err.message, want));
    CU_ASSERT_EQUAL(r.sink.count, 0);
    free(want);
    free(path);
    result_clear(&r);

    /* A directory cannot be read as lines either. */
    name = ".";
    read_files(&r, NULL, &name, 1);
    CU_ASSERT_EQUAL(r.rc, WN_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err.message, strerror(EISDIR)));
    result_clear(&r);
}

#ifdef HAVE_ZSTD
/* Writes content to name as zstd, split into two frames. */
static void write_zstd(const char *name, const char *content, size_t len, int truncate)
{
    size_t half = len / 2, cap = ZSTD_compressBound(len) * 2 + 64, used = 0, n;
    char *out = malloc(cap);

    n = ZSTD_compress(out, cap, content, half, 3);
    CU_ASSERT_FATAL(!ZSTD_isError(n));
    used += n;
    n = ZSTD_compress(out + used, cap - used, content + half, len - half, 3);
    CU_ASSERT_FATAL(!ZSTD_isError(n));
    used += n;
    if (truncate)
        used -= 5;
    CU_ASSERT_EQUAL_FATAL(harness_write(dir, name, out, used), 0);
    free(out);
}
#endif

static void test_zstd_files_are_decompressed_on_the_fly(void)
{
    const char *content = "{\"id\": 1, \"text\": \"first\"}\n"
                          "{\"id\": 2, \"text\": \"second\"}\n"
                          "{\"id\": 3, \"text\": \"third\"}";
    const char *name = "data.jsonl.zst";
    struct read_result r;

#ifdef HAVE_ZSTD
    char *path = path_of("cut.jsonl.zst"), *want = NULL;

    write_zstd(name, content, strlen(content), 0);
    read_files(&r, NULL, &name, 1);
    CU_ASSERT_EQUAL_FATAL(r.rc, 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(r.table), 3);
    ASSERT_CELL(r.table, "text", 0, "first");
    ASSERT_CELL(r.table, "text", 1, "second");
    ASSERT_CELL(r.table, "text", 2, "third");
    result_clear(&r);

    write_zstd("cut.jsonl.zst", content, strlen(content), 1);
    name = "cut.jsonl.zst";
    read_files(&r, NULL, &name, 1);
    CU_ASSERT_EQUAL(r.rc, WN_EDATA);
    CU_ASSERT(asprintf(&want, "%s: truncated zstd data", path) > 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err.message, want));
    free(want);
    free(path);
    result_clear(&r);

    CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, "plain.jsonl.zst", content), 0);
    name = "plain.jsonl.zst";
    read_files(&r, NULL, &name, 1);
    CU_ASSERT_EQUAL(r.rc, WN_EDATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err.message, "corrupt zstd data"));
    result_clear(&r);
#else
    CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, name, content), 0);
    read_files(&r, NULL, &name, 1);
    CU_ASSERT_EQUAL(r.rc, WN_EUNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err.message, "built without zstd"));
    result_clear(&r);
#endif
}

static void test_descriptor_declares_params_and_payloads(void)
{
    const struct wn_stage_desc *desc = harness_stage("jsonl_reader");
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_PTR_NOT_NULL_FATAL(desc);
    CU_ASSERT_EQUAL(wn_params_check_spec(desc->params, desc->name, &err), 0);
    CU_ASSERT_EQUAL(desc->input_payloads, WN_PAYLOAD_BIT(WN_PAYLOAD_FILES));
    CU_ASSERT_EQUAL(desc->output_payloads, WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE));
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "reads types, nulls and missing fields", test_reads_types_nulls_and_missing_fields },
        { "field first seen as null keeps its place",
          test_field_first_seen_as_null_keeps_its_place },
        { "fields select and order the columns", test_fields_select_and_order_the_columns },
        { "empty file gives zero rows", test_empty_file_gives_zero_rows },
        { "files of a task are read in order into one table",
          test_files_of_a_task_are_read_in_order_into_one_table },
        { "each input task gives one output task", test_each_input_task_gives_one_output_task },
        { "CRLF line ends are accepted", test_crlf_line_ends_are_accepted },
        { "malformed line is an error naming file and line",
          test_malformed_line_is_an_error_naming_file_and_line },
        { "type conflict is an error", test_type_conflict_is_an_error },
        { "integers go into a float column", test_integers_go_into_a_float_column },
        { "integers above int64 make a uint64 column",
          test_integers_above_int64_make_a_uint64_column },
        { "skip_bad_lines skips and counts them", test_skip_bad_lines_skips_and_counts_them },
        { "lines over max_line_bytes are malformed", test_lines_over_max_line_bytes_are_malformed },
        { "long lines and many lines cross buffer boundaries",
          test_long_lines_and_many_lines_cross_buffer_boundaries },
        { "missing file is an error naming it", test_missing_file_is_an_error_naming_it },
        { "zstd files are decompressed on the fly", test_zstd_files_are_decompressed_on_the_fly },
        { "descriptor declares params and payloads", test_descriptor_declares_params_and_payloads },
        { NULL, NULL },
    };

    return wn_test_run_suite("jsonl_reader", tests, make_dir, remove_dir);
}
