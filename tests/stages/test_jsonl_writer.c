/* Tests of the jsonl_writer stage (plugins/stages/io/jsonl_writer.c). */
#include "build_config.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

#include "stage_harness.h"
#include "utf8.h"

HARNESS_SUITE_TMPDIR(dir, make_dir, remove_dir)

/* A fresh empty directory under dir, named name (malloc'd path). */
static char *subdir(const char *name)
{
    char *path = NULL;

    CU_ASSERT_FATAL(asprintf(&path, "%s/%s", dir, name) > 0);
    harness_remove_tree(path);
    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0777), 0);
    return path;
}

/* Names in path, sorted, joined by ',' (malloc'd). */
static char *list_dir(const char *path)
{
    struct dirent **entries = NULL;
    int n = scandir(path, &entries, NULL, alphasort);
    char *text = calloc(1, 4096);
    size_t used = 0;

    for (int i = 0; i < n; i++) {
        const char *name = entries[i]->d_name;

        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
            used += (size_t)snprintf(text + used, 4096 - used, "%s%s", used ? "," : "", name);
        free(entries[i]);
    }
    free(entries);
    return text;
}

static const char invalid_utf8[] = "\xff ok \xc3(\xed\xa0\x80";
static const char controls[] = "quote\" back\\ nl\n tab\t cr\r ctl\x01\x1f bs\b ff\f del\x7f";

/* The test table: every column type the writer supports, 7 rows, nulls included. */
static void build_table(struct wn_table *out, uint64_t big)
{
    static const uint32_t sig[4][3] = {
        { 1, 2, 4294967295u }, { 0, 0, 0 }, { 5, 6, 7 }, { 8, 9, 10 }
    };
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_error err = WN_ERROR_INIT;
    int id, text, u, i32, x, flag, list, note;
    const double xs[7] = { 0.1, 1.0, NAN, -INFINITY, -0.0, 1e300, 0.1 + 0.2 };

    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    id = wn_table_builder_add_column(b, "id", WN_COLUMN_INT64, 0);
    text = wn_table_builder_add_column(b, "text", WN_COLUMN_LARGE_UTF8, 0);
    u = wn_table_builder_add_column(b, "u", WN_COLUMN_UINT64, 0);
    i32 = wn_table_builder_add_column(b, "i32", WN_COLUMN_INT32, 0);
    x = wn_table_builder_add_column(b, "x", WN_COLUMN_FLOAT64, 0);
    flag = wn_table_builder_add_column(b, "flag", WN_COLUMN_BOOL, 0);
    list = wn_table_builder_add_column(b, "sig", WN_COLUMN_FIXED_LIST_UINT32, 3);
    note = wn_table_builder_add_column(b, "n\"ote", WN_COLUMN_UTF8, 0);
    CU_ASSERT_FATAL(id >= 0 && text >= 0 && u >= 0 && i32 >= 0 && x >= 0 && flag >= 0 &&
                    list >= 0 && note >= 0);
    for (int row = 0; row < 7; row++) {
        static const int64_t ids[7] = { 1, INT64_MIN, 0, 3, 4, 5, 6 };
        int rc = 0;

        rc |= wn_table_builder_append_int64(b, id, ids[row]);
        if (row == 0)
            rc |= wn_table_builder_append_utf8(b, text, "plain", 5);
        else if (row == 1)
            rc |= wn_table_builder_append_utf8(b, text, controls, sizeof(controls) - 1);
        else if (row == 2)
            rc |= wn_table_builder_append_utf8(b, text, invalid_utf8, sizeof(invalid_utf8) - 1);
        else
            rc |= wn_table_builder_append_utf8(b, text, "", 0);
        if (row == 2)
            rc |= wn_table_builder_append_null(b, u);
        else
            rc |= wn_table_builder_append_uint64(b, u, row == 0 ? big : (uint64_t)row);
        if (row == 2)
            rc |= wn_table_builder_append_null(b, i32);
        else
            rc |= wn_table_builder_append_int64(b, i32, row == 0 ? -5 : row == 1 ? INT32_MAX : 0);
        rc |= wn_table_builder_append_float64(b, x, xs[row]);
        if (row == 2)
            rc |= wn_table_builder_append_null(b, flag);
        else
            rc |= wn_table_builder_append_bool(b, flag, row != 1);
        if (row == 2)
            rc |= wn_table_builder_append_null(b, list);
        else
            rc |= wn_table_builder_append_uint32_list(b, list,
                                                      sig[row < 2 ? row : (row == 3 ? 2 : 3)]);
        if (row == 0)
            rc |= wn_table_builder_append_null(b, note);
        else if (row == 1)
            rc |= wn_table_builder_append_utf8(b, note, "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80", 9);
        else
            rc |= wn_table_builder_append_utf8(b, note, row == 2 ? "" : "a", row == 2 ? 0 : 1);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
    }
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, out, &err), 0);
    wn_table_builder_free(b);
}

static const char *const expected_lines[7] = {
    "{\"id\":1,\"text\":\"plain\",\"u\":18446744073709551615,\"i32\":-5,\"x\":0.1,\"flag\":true,"
    "\"sig\":[1,2,4294967295],\"n\\\"ote\":null}",
    "{\"id\":-9223372036854775808,\"text\":\"quote\\\" back\\\\ nl\\n tab\\t cr\\r "
    "ctl\\u0001\\u001f bs\\b ff\\f del\x7f\",\"u\":1,\"i32\":2147483647,\"x\":1.0,"
    "\"flag\":false,\"sig\":[0,0,0],\"n\\\"ote\":\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"}",
    "{\"id\":0,\"text\":\"\xef\xbf\xbd ok \xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\","
    "\"u\":null,\"i32\":null,\"x\":null,\"flag\":null,\"sig\":null,\"n\\\"ote\":\"\"}",
    "{\"id\":3,\"text\":\"\",\"u\":3,\"i32\":0,\"x\":null,\"flag\":true,\"sig\":[5,6,7],"
    "\"n\\\"ote\":\"a\"}",
    "{\"id\":4,\"text\":\"\",\"u\":4,\"i32\":0,\"x\":-0.0,\"flag\":true,\"sig\":[8,9,10],"
    "\"n\\\"ote\":\"a\"}",
    "{\"id\":5,\"text\":\"\",\"u\":5,\"i32\":0,\"x\":1e+300,\"flag\":true,\"sig\":[8,9,10],"
    "\"n\\\"ote\":\"a\"}",
    "{\"id\":6,\"text\":\"\",\"u\":6,\"i32\":0,\"x\":0.30000000000000004,\"flag\":true,"
    "\"sig\":[8,9,10],\"n\\\"ote\":\"a\"}",
};

/* A TABLE task id holding *table (moved in). */
static struct wn_task *table_task(const char *id, struct wn_table *table)
{
    struct wn_task *task = wn_task_new(id, "test");
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL_FATAL(wn_task_set_table(task, table, &err), 0);
    return task;
}

/* Runs the writer over one task; returns the code and the first output (kept in sink). */
static int write_one(const char *params, struct wn_task *task, struct harness_sink *sink,
                     struct wn_error *err)
{
    struct wn_task *in[1] = { task };

    harness_sink_init(sink);
    return harness_run("jsonl_writer", params, in, 1, sink, err);
}

static char *params_with_path(const char *path, const char *extra)
{
    char *params = NULL;

    CU_ASSERT_FATAL(asprintf(&params, "{\"path\": \"%s\"%s}", path, extra ? extra : "") > 0);
    return params;
}

static void test_every_type_is_written_as_exact_json(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table table;
    char *out = subdir("exact"), *params = params_with_path(out, NULL);
    char *file = NULL, *content, *listing, *line, *save = NULL;
    size_t len = 0;
    int n = 0;

    build_table(&table, UINT64_MAX);
    CU_ASSERT_EQUAL_FATAL(write_one(params, table_task("batch_3", &table), &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 1);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[0]), "batch_3_0");
    CU_ASSERT_EQUAL_FATAL(wn_task_file_count(sink.tasks[0]), 1);
    CU_ASSERT(asprintf(&file, "%s/batch_3.jsonl", out) > 0);
    CU_ASSERT_STRING_EQUAL(wn_task_file(sink.tasks[0], 0), file);

    /* Renamed into place: the file and nothing else. */
    listing = list_dir(out);
    CU_ASSERT_STRING_EQUAL(listing, "batch_3.jsonl");
    free(listing);

    content = harness_read(file, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(content);
    CU_ASSERT(len > 0 && content[len - 1] == '\n');
    for (line = strtok_r(content, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        CU_ASSERT_FATAL(n < 7);
        CU_ASSERT_STRING_EQUAL(line, expected_lines[n]);
        if (strcmp(line, expected_lines[n]) != 0)
            fprintf(stderr, "\n  line %d: %s\n  expected: %s\n", n + 1, line, expected_lines[n]);
        n++;
    }
    CU_ASSERT_EQUAL(n, 7);
    free(content);
    free(file);
    free(params);
    free(out);
    harness_sink_clear(&sink);
}

/* Reads path back through jsonl_reader and checks it against build_table(big = 7). */
static void assert_reads_back(const char *path)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { harness_files_task("back", &path, 1) };
    const struct wn_table *t;
    const double xs[7] = { 0.1, 1.0, 0, 0, -0.0, 1e300, 0.1 + 0.2 };
    const char *s;
    size_t len = 0;

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("jsonl_reader", NULL, in, 1, &sink, &err), 0);
    t = wn_task_table(sink.tasks[0]);
    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(t), 7);
    CU_ASSERT_EQUAL_FATAL(wn_table_num_columns(t), 8);
    CU_ASSERT_EQUAL(wn_table_column_type(t, 0), WN_COLUMN_INT64);
    CU_ASSERT_EQUAL(wn_table_column_type(t, 1), WN_COLUMN_UTF8);
    CU_ASSERT_EQUAL(wn_table_column_type(t, 4), WN_COLUMN_FLOAT64);
    CU_ASSERT_EQUAL(wn_table_column_type(t, 5), WN_COLUMN_BOOL);
    CU_ASSERT_STRING_EQUAL(wn_table_column_name(t, 7), "n\"ote");
    CU_ASSERT_EQUAL(wn_table_get_int64(t, 0, 1), INT64_MIN);
    s = wn_table_get_utf8(t, 1, 1, &len);
    CU_ASSERT(len == sizeof(controls) - 1 && memcmp(s, controls, len) == 0);
    s = wn_table_get_utf8(t, 1, 2, &len);
    CU_ASSERT(len == 20 &&
              memcmp(s, "\xef\xbf\xbd ok \xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 20) ==
                  0);
    CU_ASSERT_EQUAL(wn_table_get_int64(t, 2, 0), 7);
    CU_ASSERT(wn_table_is_null(t, 2, 2));
    CU_ASSERT_EQUAL(wn_table_get_int64(t, 3, 1), INT32_MAX);
    for (int row = 0; row < 7; row++) {
        if (row == 2 || row == 3) {
            CU_ASSERT(wn_table_is_null(t, 4, row));
            continue;
        }
        CU_ASSERT_EQUAL(wn_table_get_float64(t, 4, row), xs[row]);
    }
    CU_ASSERT(signbit(wn_table_get_float64(t, 4, 4)));
    CU_ASSERT_EQUAL(wn_table_get_bool(t, 5, 1), 0);
    CU_ASSERT(wn_table_is_null(t, 5, 2));
    s = wn_table_get_utf8(t, 6, 0, &len);
    CU_ASSERT(len == 16 && memcmp(s, "[1,2,4294967295]", 16) == 0);
    s = wn_table_get_utf8(t, 7, 1, &len);
    CU_ASSERT(len == 9 && memcmp(s, "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80", 9) == 0);
    harness_sink_clear(&sink);
}

static void test_output_reads_back_through_jsonl_reader(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table table;
    char *out = subdir("round"), *params = params_with_path(out, NULL);

    build_table(&table, 7);
    CU_ASSERT_EQUAL_FATAL(write_one(params, table_task("rt", &table), &sink, &err), 0);
    assert_reads_back(wn_task_file(sink.tasks[0], 0));
    harness_sink_clear(&sink);
    free(params);
    free(out);
}

static void test_long_cells_with_escapes_read_back_whole(void)
{
    static const char pattern[] = "ab\"\n\xc3\xa9\x01\\ \xe4\xb8\xad";
    const size_t len = 300007;
    struct harness_sink sink, back;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table table;
    struct wn_table_builder *b = wn_table_builder_new();
    char *out = subdir("long"), *params = params_with_path(out, NULL);
    char *text = malloc(len);
    const char *path, *s;
    struct wn_task *in[1];
    size_t got = 0;

    /* Whole patterns only, so that the cell is valid UTF-8. */
    for (size_t i = 0; i < len; i++)
        text[i] = pattern[i % (sizeof(pattern) - 1)];
    wn_table_builder_add_column(b, "t", WN_COLUMN_UTF8, 0);
    CU_ASSERT_EQUAL_FATAL(
        wn_table_builder_append_utf8(b, 0, text, len - len % (sizeof(pattern) - 1)), 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_append_utf8(b, 0, "short", 5), 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &table, &err), 0);
    wn_table_builder_free(b);
    CU_ASSERT_EQUAL_FATAL(write_one(params, table_task("long", &table), &sink, &err), 0);

    path = wn_task_file(sink.tasks[0], 0);
    in[0] = harness_files_task("back", &path, 1);
    harness_sink_init(&back);
    CU_ASSERT_EQUAL_FATAL(harness_run("jsonl_reader", NULL, in, 1, &back, &err), 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(wn_task_table(back.tasks[0])), 2);
    s = wn_table_get_utf8(wn_task_table(back.tasks[0]), 0, 0, &got);
    CU_ASSERT_EQUAL(got, len - len % (sizeof(pattern) - 1));
    CU_ASSERT(s != NULL && memcmp(s, text, got) == 0);
    s = wn_table_get_utf8(wn_task_table(back.tasks[0]), 0, 1, &got);
    CU_ASSERT(got == 5 && memcmp(s, "short", 5) == 0);
    harness_sink_clear(&back);
    harness_sink_clear(&sink);
    free(text);
    free(params);
    free(out);
}

/* The writer's escaping done byte by byte, the way it was before the 16-byte search. */
static size_t reference_escape(const char *s, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0, i = 0;

    out[n++] = '"';
    while (i < len) {
        unsigned char c = p[i];

        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            out[n++] = (char)c;
            i++;
        } else if (c < 0x80) {
            char named = c == '"'    ? '"'
                         : c == '\\' ? '\\'
                         : c == '\b' ? 'b'
                         : c == '\f' ? 'f'
                         : c == '\n' ? 'n'
                         : c == '\r' ? 'r'
                         : c == '\t' ? 't'
                                     : 0;

            out[n++] = '\\';
            if (named != 0) {
                out[n++] = named;
            } else {
                out[n++] = 'u';
                out[n++] = '0';
                out[n++] = '0';
                out[n++] = hex[c >> 4];
                out[n++] = hex[c & 15];
            }
            i++;
        } else {
            uint32_t cp;
            size_t k = stage_utf8_decode(p + i, len - i, &cp);

            if (cp == STAGE_UTF8_REPLACEMENT) {
                memcpy(out + n, "\xEF\xBF\xBD", 3);
                n += 3;
            } else {
                memcpy(out + n, p + i, k);
                n += k;
            }
            i += k;
        }
    }
    out[n++] = '"';
    return n;
}

static void test_random_cells_are_escaped_as_byte_by_byte(void)
{
    static const char *const specials[] = { "\"",          "\\",           "\n",
                                            "\x01",        "\x1f",         "\x7f",
                                            "\xc3\xa9",    "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
                                            "\xff",        "\xc3",         "\xed\xa0\x80",
                                            "\xf0\x9f\x98" };
    enum { ROWS = 300 };
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table table;
    struct wn_table_builder *b = wn_table_builder_new();
    char *out = subdir("random"), *params = params_with_path(out, NULL);
    char *cells[ROWS], *expected = malloc((size_t)ROWS * 1200 * 6 + 64), *got;
    size_t lens[ROWS], used = 0, got_len = 0;
    uint64_t x = 88172645463325252ull;

    wn_table_builder_add_column(b, "t", WN_COLUMN_UTF8, 0);
    for (int r = 0; r < ROWS; r++) {
        cells[r] = malloc(1200);
        lens[r] = 0;
        while (lens[r] < 1100) {
            size_t run, k;

            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            run = x % 41; /* plain runs of 0..40 bytes: across 16-byte blocks */
            if (x % 97 == 0)
                break;
            for (k = 0; k < run; k++)
                cells[r][lens[r]++] = (char)('a' + (x >> (k % 50)) % 26);
            k = (size_t)(x >> 40) % (sizeof(specials) / sizeof(specials[0]));
            memcpy(cells[r] + lens[r], specials[k], strlen(specials[k]));
            lens[r] += strlen(specials[k]);
        }
        CU_ASSERT_EQUAL_FATAL(wn_table_builder_append_utf8(b, 0, cells[r], lens[r]), 0);
        used += (size_t)sprintf(expected + used, "{\"t\":");
        used += reference_escape(cells[r], lens[r], expected + used);
        used += (size_t)sprintf(expected + used, "}\n");
    }
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &table, &err), 0);
    wn_table_builder_free(b);
    CU_ASSERT_EQUAL_FATAL(write_one(params, table_task("random", &table), &sink, &err), 0);
    got = harness_read(wn_task_file(sink.tasks[0], 0), &got_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_EQUAL(got_len, used);
    CU_ASSERT(got_len == used && memcmp(got, expected, used) == 0);
    harness_sink_clear(&sink);
    for (int r = 0; r < ROWS; r++)
        free(cells[r]);
    free(got);
    free(expected);
    free(params);
    free(out);
}

#ifdef HAVE_ZSTD
/* The decompressed content of a .zst file (malloc'd). */
static char *unzstd(const char *path, size_t *out_len)
{
    size_t len = 0, used = 0, cap = 1 << 16, rc;
    char *in = harness_read(path, &len), *out = malloc(cap);
    ZSTD_DStream *ds = ZSTD_createDStream();
    ZSTD_inBuffer zin = { in, len, 0 };

    ZSTD_initDStream(ds);
    do {
        ZSTD_outBuffer zout = { out + used, cap - used - 1, 0 };

        rc = ZSTD_decompressStream(ds, &zout, &zin);
        CU_ASSERT_FATAL(!ZSTD_isError(rc));
        used += zout.pos;
        if (cap - used < 1024)
            out = realloc(out, cap *= 2);
    } while (zin.pos < zin.size || rc != 0);
    out[used] = '\0';
    *out_len = used;
    ZSTD_freeDStream(ds);
    free(in);
    return out;
}
#endif

static void test_zstd_compression_writes_jsonl_zst(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table table;
    char *out = subdir("zstd"), *params = params_with_path(out, ", \"compression\": \"zstd\"");
    int rc;

    build_table(&table, 7);
    rc = write_one(params, table_task("z", &table), &sink, &err);
#ifdef HAVE_ZSTD
    {
        char *listing = list_dir(out), *plain;
        const char *path;
        size_t len = 0, plain_len = 0;
        unsigned char *raw;

        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT_STRING_EQUAL(listing, "z.jsonl.zst");
        free(listing);
        path = wn_task_file(sink.tasks[0], 0);
        raw = (unsigned char *)harness_read(path, &len);
        CU_ASSERT(len > 4 && raw[0] == 0x28 && raw[1] == 0xB5 && raw[2] == 0x2F && raw[3] == 0xFD);
        free(raw);
        plain = unzstd(path, &plain_len);
        CU_ASSERT(plain_len > 0 &&
                  strncmp(plain, "{\"id\":1,\"text\":\"plain\",\"u\":7,", 29) == 0);
        CU_ASSERT(plain_len > 0 && plain[plain_len - 1] == '\n');
        free(plain);
        assert_reads_back(path);
    }
#else
    CU_ASSERT_EQUAL(rc, WN_EUNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "built without zstd"));
#endif
    harness_sink_clear(&sink);
    free(params);
    free(out);
}

static void test_output_directory_is_created_with_parents(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table table;
    char *base = subdir("deep"), *out = NULL, *params, *listing;

    CU_ASSERT_FATAL(asprintf(&out, "%s/a/b/c", base) > 0);
    params = params_with_path(out, NULL);
    build_table(&table, 7);
    CU_ASSERT_EQUAL(write_one(params, table_task("x/y", &table), &sink, &err), 0);
    listing = list_dir(out);
    CU_ASSERT_STRING_EQUAL(listing, "x_y.jsonl"); /* '/' of the id replaced */
    free(listing);
    harness_sink_clear(&sink);
    free(params);
    free(out);
    free(base);
}

static void test_empty_table_gives_an_empty_file(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table table;
    struct wn_table_builder *b = wn_table_builder_new();
    char *out = subdir("empty"), *params = params_with_path(out, NULL), *content;
    size_t len = 1;

    wn_table_builder_add_column(b, "text", WN_COLUMN_UTF8, 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &table, &err), 0);
    wn_table_builder_free(b);
    CU_ASSERT_EQUAL_FATAL(write_one(params, table_task(".e", &table), &sink, &err), 0);
    content = harness_read(wn_task_file(sink.tasks[0], 0), &len);
    CU_ASSERT_PTR_NOT_NULL(strstr(wn_task_file(sink.tasks[0], 0), "/_e.jsonl"));
    CU_ASSERT_EQUAL(len, 0);
    free(content);
    harness_sink_clear(&sink);
    free(params);
    free(out);
}

static void test_each_input_task_gets_its_own_file(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table t1, t2;
    char *out = subdir("two"), *params = params_with_path(out, NULL), *listing;
    struct wn_task *in[2];

    build_table(&t1, 7);
    build_table(&t2, 7);
    in[0] = table_task("p_0", &t1);
    in[1] = table_task("p_1", &t2);
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL(harness_run("jsonl_writer", params, in, 2, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 2);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[0]), "p_0_0");
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[1]), "p_1_0");
    listing = list_dir(out);
    CU_ASSERT_STRING_EQUAL(listing, "p_0.jsonl,p_1.jsonl");
    free(listing);
    harness_sink_clear(&sink);
    free(params);
    free(out);
}

/* In a child process (without root's privileges, which ignore file modes),
 * writes into the read-only directory out; exits 0 when the writer failed as it should. */
static void write_into_read_only(const char *out, const char *params)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table table;
    int rc;

    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
        _exit(77);
    build_table(&table, 7);
    rc = write_one(params, table_task("ro", &table), &sink, &err);
    if (rc != WN_EIO || strstr(err.message, "task ro: cannot create") == NULL ||
        strstr(err.message, out) == NULL || strstr(err.message, strerror(EACCES)) == NULL ||
        sink.count != 0) {
        fprintf(stderr, "\n  unexpected: rc %d, %s\n", rc, err.message);
        _exit(1);
    }
    harness_sink_clear(&sink);
    _exit(0);
}

static void test_unwritable_directory_fails_and_leaves_nothing(void)
{
    char *out = subdir("readonly"), *params = params_with_path(out, NULL), *listing;
    int status = -1;
    pid_t child;

    CU_ASSERT_EQUAL_FATAL(chmod(out, 0555), 0);
    CU_ASSERT_EQUAL_FATAL(chmod(dir, 0711), 0); /* the child may have to pass through */
    fflush(stdout);
    fflush(stderr);
    child = fork();
    CU_ASSERT_FATAL(child >= 0);
    if (child == 0)
        write_into_read_only(out, params);
    CU_ASSERT_EQUAL(waitpid(child, &status, 0), child);
    CU_ASSERT(WIFEXITED(status));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        fprintf(stderr, "(cannot drop root privileges: not checked) ");
    else
        CU_ASSERT_EQUAL(WEXITSTATUS(status), 0);
    chmod(dir, 0700);
    chmod(out, 0700);
    listing = list_dir(out);
    CU_ASSERT_STRING_EQUAL(listing, "");
    free(listing);
    free(params);
    free(out);
}

static void test_failing_write_removes_the_temporary_file(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table table;
    struct wn_table_builder *b = wn_table_builder_new();
    char *out = subdir("full"), *params = params_with_path(out, NULL), *listing;
    char *text = malloc(4096);
    struct rlimit saved, small;
    void (*old_handler)(int);
    int rc;

    /* ~3 MiB of rows, more than the writer buffers before its first write. */
    memset(text, 'w', 4096);
    wn_table_builder_add_column(b, "text", WN_COLUMN_UTF8, 0);
    for (int i = 0; i < 768; i++)
        CU_ASSERT_EQUAL_FATAL(wn_table_builder_append_utf8(b, 0, text, 4096), 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &table, &err), 0);
    wn_table_builder_free(b);
    free(text);

    /* Files may not grow past 256 KiB: the writer's write(2) fails with EFBIG. */
    fflush(stdout);
    fflush(stderr);
    CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small = saved;
    small.rlim_cur = 256 * 1024;
    old_handler = signal(SIGXFSZ, SIG_IGN);
    CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &small), 0);
    rc = write_one(params, table_task("big", &table), &sink, &err);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, old_handler);

    CU_ASSERT_EQUAL(rc, WN_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "task big: cannot write"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, strerror(EFBIG)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "/.big.jsonl.tmp-"));
    CU_ASSERT_EQUAL(sink.count, 0);
    listing = list_dir(out);
    CU_ASSERT_STRING_EQUAL(listing, "");
    free(listing);
    harness_sink_clear(&sink);
    free(params);
    free(out);
}

/* An int8 column ("c"), which the writer does not serialize. */
static void release_schema(struct ArrowSchema *s)
{
    s->release = NULL;
}

static void release_array(struct ArrowArray *a)
{
    a->release = NULL;
}

static void test_unsupported_column_is_refused_before_writing(void)
{
    static const int8_t values[1] = { 3 };
    static const void *child_buffers[2] = { NULL, values };
    static const void *struct_buffers[1] = { NULL };
    struct ArrowSchema child_schema = { "c",  "small",        NULL, ARROW_FLAG_NULLABLE, 0, NULL,
                                        NULL, release_schema, NULL };
    struct ArrowSchema *schema_children[1] = { &child_schema };
    struct ArrowArray child_array = {
        1, 0, 0, 2, 0, child_buffers, NULL, NULL, release_array, NULL
    };
    struct ArrowArray *array_children[1] = { &child_array };
    struct wn_table table = {
        { "+s", NULL, NULL, 0, 1, schema_children, NULL, release_schema, NULL },
        { 1, 0, 0, 1, 1, struct_buffers, array_children, NULL, release_array, NULL },
    };
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    char *out = subdir("other"), *params = params_with_path(out, NULL), *listing;

    CU_ASSERT_EQUAL(write_one(params, table_task("o", &table), &sink, &err), WN_EUNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "task o: column \"small\" has Arrow format \"c\""));
    listing = list_dir(out);
    CU_ASSERT_STRING_EQUAL(listing, "");
    free(listing);
    harness_sink_clear(&sink);
    free(params);
    free(out);
}

static void test_descriptor_declares_params_and_payloads(void)
{
    const struct wn_stage_desc *desc = harness_stage("jsonl_writer");
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params;

    CU_ASSERT_PTR_NOT_NULL_FATAL(desc);
    CU_ASSERT_EQUAL(wn_params_check_spec(desc->params, desc->name, &err), 0);
    CU_ASSERT_EQUAL(desc->input_payloads, WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE));
    CU_ASSERT_EQUAL(desc->output_payloads, WN_PAYLOAD_BIT(WN_PAYLOAD_FILES));
    params = harness_params("jsonl_writer", "{\"path\": \"x\", \"compression\": \"gzip\"}", &err);
    CU_ASSERT_PTR_NULL(params);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "\"gzip\" is not one of \"none\", \"zstd\""));
    params = harness_params("jsonl_writer", "{}", &err);
    CU_ASSERT_PTR_NULL(params);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "params.path: required"));
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "every type is written as exact JSON", test_every_type_is_written_as_exact_json },
        { "output reads back through jsonl_reader", test_output_reads_back_through_jsonl_reader },
        { "long cells with escapes read back whole", test_long_cells_with_escapes_read_back_whole },
        { "random cells are escaped as byte by byte",
          test_random_cells_are_escaped_as_byte_by_byte },
        { "zstd compression writes .jsonl.zst", test_zstd_compression_writes_jsonl_zst },
        { "output directory is created with parents",
          test_output_directory_is_created_with_parents },
        { "empty table gives an empty file", test_empty_table_gives_an_empty_file },
        { "each input task gets its own file", test_each_input_task_gets_its_own_file },
        { "unwritable directory fails and leaves nothing",
          test_unwritable_directory_fails_and_leaves_nothing },
        { "failing write removes the temporary file",
          test_failing_write_removes_the_temporary_file },
        { "unsupported column is refused before writing",
          test_unsupported_column_is_refused_before_writing },
        { "descriptor declares params and payloads", test_descriptor_declares_params_and_payloads },
        { NULL, NULL },
    };

    return wn_test_run_suite("jsonl_writer", tests, make_dir, remove_dir);
}
