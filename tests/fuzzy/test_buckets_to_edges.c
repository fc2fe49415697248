/* Tests of the buckets_to_edges stage (plugins/stages/fuzzy/buckets_to_edges.c). */
#include "build_config.h"

#include "buckets_to_edges.h"
#include "fuzzy_harness.h"

/* A task with "_bucket_id" (uint64) and "id" (utf8) from "bucket:id" pairs;
 * a bucket of "-" or an id of "-" is a null cell. */
static struct wn_task *bucket_task(const char *task_id, const char *const *rows, size_t n)
{
    struct wn_table_builder *b = wn_table_builder_new();

    wn_table_builder_add_column(b, "_bucket_id", WN_COLUMN_UINT64, 0);
    wn_table_builder_add_column(b, "id", WN_COLUMN_UTF8, 0);
    for (size_t i = 0; i < n; i++) {
        const char *colon = strchr(rows[i], ':');

        if (rows[i][0] == '-')
            wn_table_builder_append_null(b, 0);
        else
            wn_table_builder_append_uint64(b, 0, strtoull(rows[i], NULL, 10));
        if (strcmp(colon + 1, "-") == 0)
            wn_table_builder_append_null(b, 1);
        else
            wn_table_builder_append_utf8(b, 1, colon + 1, strlen(colon + 1));
    }
    return harness_task_from_builder(task_id, b);
}

/* The edges of an output task as "a-b a-b ...". */
static char *edges_text(const struct wn_task *task)
{
    char *a = fz_column_text(task, "left_id"), *b = fz_column_text(task, "right_id");
    size_t cap = strlen(a) + strlen(b) + 8, used = 0;
    char *out = calloc(1, cap);
    char *sa = NULL, *sb = NULL;
    char *x = strtok_r(a, ",", &sa), *y = strtok_r(b, ",", &sb);

    while (x != NULL && y != NULL) {
        used += (size_t)snprintf(out + used, cap - used, "%s%s-%s", used ? " " : "", x, y);
        x = strtok_r(NULL, ",", &sa);
        y = strtok_r(NULL, ",", &sb);
    }
    free(a);
    free(b);
    return out;
}

#define ASSERT_EDGES(task, expected)                                                               \
    do {                                                                                           \
        char *got_ = edges_text(task);                                                             \
        CU_ASSERT_STRING_EQUAL(got_, expected);                                                    \
        if (strcmp(got_, expected) != 0)                                                           \
            printf("\n  edges: %s\n  want:  %s\n", got_, expected);                                \
        free(got_);                                                                                \
    } while (0)

static void test_a_bucket_becomes_a_star_from_its_smallest_id(void)
{
    static const char *const rows[] = { "7:doc-c", "7:doc-a", "7:doc-d", "7:doc-b" };
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { bucket_task("b0", rows, 4) };
    const struct wn_table *t;

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("buckets_to_edges", NULL, in, 1, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 1);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[0]), "b0");
    t = wn_task_table(sink.tasks[0]);
    CU_ASSERT_EQUAL(wn_table_num_columns(t), 2);
    CU_ASSERT_STRING_EQUAL(wn_table_column_name(t, 0), "left_id");
    CU_ASSERT_STRING_EQUAL(wn_table_column_name(t, 1), "right_id");
    CU_ASSERT_EQUAL(wn_table_column_type(t, 0), WN_COLUMN_UTF8);
    ASSERT_EDGES(sink.tasks[0], "doc-a-doc-b doc-a-doc-c doc-a-doc-d");
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[0], "buckets_to_edges.buckets"), "1");
    harness_sink_clear(&sink);
}

static void test_edges_repeated_across_buckets_appear_once(void)
{
    /* Bucket 1 and 2 both join a-b; bucket 3 repeats a document. */
    static const char *const rows[] = { "1:a", "1:b", "2:b",    "2:a", "2:c", "3:x",
                                        "3:x", "3:y", "4:solo", "5:z", "5:z" };
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { bucket_task("b", rows, 11) };

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("buckets_to_edges", NULL, in, 1, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 1);
    ASSERT_EDGES(sink.tasks[0], "a-b a-c x-y");
    /* buckets 1, 2 and 3 made edges; 4 and 5 have one distinct document */
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[0], "buckets_to_edges.buckets"), "3");
    harness_sink_clear(&sink);
}

static void test_a_batch_of_tasks_gives_one_edge_table(void)
{
    static const char *const rows1[] = { "10:m", "10:k" };
    static const char *const rows2[] = { "11:k", "11:m", "12:q", "12:p" };
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[2] = { bucket_task("first", rows1, 2), bucket_task("second", rows2, 4) };

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("buckets_to_edges", NULL, in, 2, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 1);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[0]), "first");
    ASSERT_EDGES(sink.tasks[0], "k-m p-q");
    harness_sink_clear(&sink);
}

static void test_integer_ids_order_numerically(void)
{
    struct wn_table_builder *b = wn_table_builder_new();
    static const int64_t ids[] = { 100, 9, 10, -5, 9 };
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1];
    const struct wn_table *t;

    wn_table_builder_add_column(b, "doc", WN_COLUMN_INT32, 0);
    wn_table_builder_add_column(b, "bucket", WN_COLUMN_INT64, 0);
    for (int i = 0; i < 5; i++) {
        wn_table_builder_append_int64(b, 0, ids[i]);
        wn_table_builder_append_int64(b, 1, i < 3 ? -1 : 4);
    }
    in[0] = harness_task_from_builder("ints", b);
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("buckets_to_edges",
                                      "{\"id_field\": \"doc\", \"bucket_field\": \"bucket\"}", in,
                                      1, &sink, &err),
                          0);
    t = wn_task_table(sink.tasks[0]);
    CU_ASSERT_EQUAL(wn_table_column_type(t, 0), WN_COLUMN_INT64);
    /* bucket -1: 9 < 10 < 100 (not "10" < "100" < "9"); bucket 4: -5 < 9 */
    ASSERT_EDGES(sink.tasks[0], "-5-9 9-10 9-100");
    harness_sink_clear(&sink);
}

static void test_a_huge_bucket_gives_n_minus_one_edges(void)
{
    enum { N = 20000 };
    struct wn_table_builder *b = wn_table_builder_new();
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1];
    const struct wn_table *t;
    size_t len;

    wn_table_builder_add_column(b, "_bucket_id", WN_COLUMN_UINT64, 0);
    wn_table_builder_add_column(b, "id", WN_COLUMN_UTF8, 0);
    for (int i = N - 1; i >= 0; i--) {
        char id[32];
        int n = snprintf(id, sizeof(id), "doc%06d", i);

        wn_table_builder_append_uint64(b, 0, UINT64_MAX);
        wn_table_builder_append_utf8(b, 1, id, (size_t)n);
    }
    in[0] = harness_task_from_builder("huge", b);
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("buckets_to_edges", NULL, in, 1, &sink, &err), 0);
    t = wn_task_table(sink.tasks[0]);
    CU_ASSERT_EQUAL(wn_table_num_rows(t), N - 1);
    for (int64_t row = 0; row < N - 1; row++) {
        char want[32];

        snprintf(want, sizeof(want), "doc%06d", (int)row + 1);
        CU_ASSERT_EQUAL(memcmp(wn_table_get_utf8(t, 0, row, &len), "doc000000", 9), 0);
        CU_ASSERT_EQUAL(memcmp(wn_table_get_utf8(t, 1, row, &len), want, 9), 0);
    }
    harness_sink_clear(&sink);
}

static void test_null_rows_are_skipped_and_counted(void)
{
    static const char *const rows[] = { "1:a", "-:b", "1:-", "1:c" };
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { bucket_task("n", rows, 4) };

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("buckets_to_edges", NULL, in, 1, &sink, &err), 0);
    ASSERT_EDGES(sink.tasks[0], "a-c");
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[0], "buckets_to_edges.null_rows"), "2");
    harness_sink_clear(&sink);
}

static void test_empty_input_gives_an_empty_edge_table(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { bucket_task("e", NULL, 0) };

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("buckets_to_edges", NULL, in, 1, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 1);
    CU_ASSERT_EQUAL(wn_table_num_rows(wn_task_table(sink.tasks[0])), 0);
    CU_ASSERT_EQUAL(wn_table_num_columns(wn_task_table(sink.tasks[0])), 2);
    harness_sink_clear(&sink);
    CU_ASSERT_EQUAL(harness_run("buckets_to_edges", NULL, NULL, 0, &sink, &err), 0);
    CU_ASSERT_EQUAL(sink.count, 0);
}

static void test_edge_columns_can_be_renamed(void)
{
    static const char *const rows[] = { "3:y", "3:x" };
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { bucket_task("r", rows, 2) };
    const struct wn_table *t;

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("buckets_to_edges",
                                      "{\"left_column\": \"src\", \"right_column\": \"dst\"}", in,
                                      1, &sink, &err),
                          0);
    t = wn_task_table(sink.tasks[0]);
    CU_ASSERT_STRING_EQUAL(wn_table_column_name(t, 0), "src");
    CU_ASSERT_STRING_EQUAL(wn_table_column_name(t, 1), "dst");
    CU_ASSERT_EQUAL(wn_table_num_rows(t), 1);
    harness_sink_clear(&sink);
    in[0] = bucket_task("r", rows, 2);
    CU_ASSERT_EQUAL(harness_run("buckets_to_edges",
                                "{\"left_column\": \"e\", \"right_column\": \"e\"}", in, 1, &sink,
                                &err),
                    WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "left_column and right_column are both \"e\""));
    harness_sink_clear(&sink);
}

static void test_bad_columns_fail_with_their_names(void)
{
    static const char *const rows[] = { "1:a" };
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[2] = { bucket_task("q", rows, 1), NULL };
    struct wn_table_builder *b;

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL(harness_run_named("buckets_to_edges", "edges", "{\"bucket_field\": \"band\"}",
                                      in, 1, &sink, &err),
                    WN_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "edges: task q: no column \"band\" (columns: "
                                               "_bucket_id, id); set bucket_field"));
    /* a string bucket column */
    b = wn_table_builder_new();
    wn_table_builder_add_column(b, "_bucket_id", WN_COLUMN_UTF8, 0);
    wn_table_builder_add_column(b, "id", WN_COLUMN_UTF8, 0);
    in[0] = harness_task_from_builder("s", b);
    CU_ASSERT_EQUAL(harness_run("buckets_to_edges", NULL, in, 1, &sink, &err), WN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "bucket column \"_bucket_id\" has Arrow format "
                                               "\"u\", not an integer"));
    /* string ids in one task, integer ids in the next */
    in[0] = bucket_task("s", rows, 1);
    b = wn_table_builder_new();
    wn_table_builder_add_column(b, "_bucket_id", WN_COLUMN_UINT64, 0);
    wn_table_builder_add_column(b, "id", WN_COLUMN_INT64, 0);
    in[1] = harness_task_from_builder("i", b);
    CU_ASSERT_EQUAL(harness_run("buckets_to_edges", NULL, in, 2, &sink, &err), WN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "task i: column \"id\" holds integer ids but an "
                                               "earlier task of the batch holds string ids"));
    CU_ASSERT_EQUAL(sink.count, 0);
    harness_sink_clear(&sink);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "a bucket becomes a star from its smallest id",
          test_a_bucket_becomes_a_star_from_its_smallest_id },
        { "edges repeated across buckets appear once",
          test_edges_repeated_across_buckets_appear_once },
        { "a batch of tasks gives one edge table", test_a_batch_of_tasks_gives_one_edge_table },
        { "integer ids order numerically", test_integer_ids_order_numerically },
        { "a huge bucket gives n - 1 edges", test_a_huge_bucket_gives_n_minus_one_edges },
        { "null rows are skipped and counted", test_null_rows_are_skipped_and_counted },
        { "empty input gives an empty edge table", test_empty_input_gives_an_empty_edge_table },
        { "edge columns can be renamed", test_edge_columns_can_be_renamed },
        { "bad columns fail with their names", test_bad_columns_fail_with_their_names },
        { NULL, NULL }
    };

    return wn_test_run_suite("buckets_to_edges", tests, NULL, NULL);
}
