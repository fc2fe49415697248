/* Tests of the remove_duplicates stage and its labels (plugins/stages/fuzzy/remove_duplicates.c,
 * labels.c). */
#include "build_config.h"

#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

#include "fuzzy_harness.h"
#include "labels.h"
#include "remove_duplicates.h"

HARNESS_SUITE_TMPDIR(dir, suite_init, suite_cleanup)

/* Params naming labels (a name under dir) and optionally removed ids (a name under dir). */
static char *params_for(const char *labels, const char *removed, const char *extra)
{
    char *json;

    if (asprintf(&json, "{\"labels_path\": \"%s/%s\"%s%s%s%s%s}", dir, labels,
                 removed ? ", \"removed_ids_path\": \"" : "", removed ? dir : "",
                 removed ? "/" : "", removed ? removed : "", removed ? "\"" : "") < 0)
        return NULL;
    if (extra != NULL) {
        char *more;
        json[strlen(json) - 1] = '\0';
        if (asprintf(&more, "%s, %s}", json, extra) < 0)
            more = NULL;
        free(json);
        json = more;
    }
    return json;
}

static const char *const doc_ids[] = { "d5", "d1", "d3", "d9", "d2", "d7", "d4" };
static const char *const doc_texts[] = { "five", "one", "three", "nine", "two", "seven", "four" };

/* Groups: g1 = {d3, d1, d5}, g2 = {d9, d7}; d2 and d4 have no label. */
static const char labels_text[] = "{\"id\": \"d5\", \"group_id\": 1}\n"
                                  "{\"id\": \"d3\", \"group_id\": 1}\n"
                                  "\n"
                                  "{\"id\": \"d9\", \"group_id\": 2}\n"
                                  "{\"id\": \"d1\", \"group_id\": 1}\n"
                                  "{\"id\": \"d7\", \"group_id\": 2}\n"
                                  "{\"id\": \"d7\", \"group_id\": 2}\n";

static void test_keeps_the_smallest_id_of_each_group(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { fz_docs_task("t", doc_ids, doc_texts, 7) };
    char *params, *ids, *texts;

    CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, "labels.jsonl", labels_text), 0);
    params = params_for("labels.jsonl", NULL, NULL);
    wn_task_meta_set(in[0], "origin", "test");
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("remove_duplicates", params, in, 1, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 1);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[0]), "t");
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[0], "origin"), "test");
    ids = fz_column_text(sink.tasks[0], "id");
    texts = fz_column_text(sink.tasks[0], "text");
    /* d5, d3 (g1) and d9 (g2) go; d1 and d7 stay, and the unlabelled d2, d4 */
    CU_ASSERT_STRING_EQUAL(ids, "d1,d2,d7,d4");
    CU_ASSERT_STRING_EQUAL(texts, "one,two,seven,four");
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[0], "remove_duplicates.removed"), "3");
    free(ids);
    free(texts);
    free(params);
    harness_sink_clear(&sink);
}

static void test_removed_ids_are_written_per_task(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[2] = { fz_docs_task("part/0", doc_ids, doc_texts, 7),
                              fz_docs_task("none", doc_ids + 4, doc_texts + 4, 2) };
    char *params = params_for("labels.jsonl", "removed/deep", NULL), *path, *text;

    CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, "labels.jsonl", labels_text), 0);
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(
        harness_run_named("remove_duplicates", "dedup", params, in, 2, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 2);
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[0], "dedup.removed"), "3");
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[1], "dedup.removed"), "0");
    /* "part/0" becomes the file name "part_0.jsonl"; rows in table order */
    CU_ASSERT(asprintf(&path, "%s/removed/deep/part_0.jsonl", dir) > 0);
    text = harness_read(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_STRING_EQUAL(text, "{\"id\": \"d5\", \"group\": 1, \"kept_id\": \"d1\"}\n"
                                 "{\"id\": \"d3\", \"group\": 1, \"kept_id\": \"d1\"}\n"
                                 "{\"id\": \"d9\", \"group\": 2, \"kept_id\": \"d7\"}\n");
    free(text);
    free(path);
    /* a task that removes nothing writes nothing */
    CU_ASSERT(asprintf(&path, "%s/removed/deep/none.jsonl", dir) > 0);
    CU_ASSERT_EQUAL(access(path, F_OK), -1);
    free(path);
    free(params);
    harness_sink_clear(&sink);
}

static void test_labels_directory_integer_ids_and_string_groups(void)
{
    struct wn_table_builder *b = wn_table_builder_new();
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1];
    static const int64_t ids[] = { 30, 4, 100, 9, -2, 5 };
    char *params, *sub, *got, *path, *text;

    CU_ASSERT(asprintf(&sub, "%s/cc", dir) > 0);
    mkdir(sub, 0777);
    /* jsonl_writer's output: files read in name order; dot files and others skipped */
    CU_ASSERT_EQUAL(harness_write_text(sub, "a.jsonl",
                                       "{\"doc\": 100, \"comp\": \"x\"}\n"
                                       "{\"doc\": 9, \"comp\": \"x\"}\n"),
                    0);
    CU_ASSERT_EQUAL(harness_write_text(sub, "b.jsonl",
                                       "{\"doc\": 30, \"comp\": \"y\"}\n"
                                       "{\"doc\": 4, \"comp\": \"y\"}\n"
                                       "{\"doc\": -2, \"comp\": \"x\"}\n"),
                    0);
    CU_ASSERT_EQUAL(harness_write_text(sub, ".c.jsonl.tmp-1-1", "not json\n"), 0);
    CU_ASSERT_EQUAL(harness_write_text(sub, "notes.txt", "not json\n"), 0);
    wn_table_builder_add_column(b, "id", WN_COLUMN_INT64, 0);
    for (int i = 0; i < 6; i++)
        wn_table_builder_append_int64(b, 0, ids[i]);
    in[0] = harness_task_from_builder("ints", b);
    params =
        params_for("cc", "gone", "\"label_id_field\": \"doc\", \"label_group_field\": \"comp\"");
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("remove_duplicates", params, in, 1, &sink, &err), 0);
    got = fz_column_text(sink.tasks[0], "id");
    /* x = {100, 9, -2} keeps -2 (numerically smallest); y = {30, 4} keeps 4 */
    CU_ASSERT_STRING_EQUAL(got, "4,-2,5");
    CU_ASSERT(asprintf(&path, "%s/gone/ints.jsonl", dir) > 0);
    text = harness_read(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_STRING_EQUAL(text, "{\"id\": 30, \"group\": \"y\", \"kept_id\": 4}\n"
                                 "{\"id\": 100, \"group\": \"x\", \"kept_id\": -2}\n"
                                 "{\"id\": 9, \"group\": \"x\", \"kept_id\": -2}\n");
    free(text);
    free(path);
    free(got);
    free(sub);
    free(params);
    harness_sink_clear(&sink);
}

static void test_labels_and_documents_must_use_the_same_kind_of_id(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { fz_docs_task("t", doc_ids, doc_texts, 7) };
    char *params;

    CU_ASSERT_EQUAL_FATAL(
        harness_write_text(dir, "int-labels.jsonl", "{\"id\": 1, \"group_id\": 1}\n"), 0);
    params = params_for("int-labels.jsonl", NULL, NULL);
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL(harness_run("remove_duplicates", params, in, 1, &sink, &err), WN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "column \"id\" holds string ids but the labels "
                                               "hold integer ids"));
    CU_ASSERT_EQUAL(sink.count, 0);
    free(params);
    harness_sink_clear(&sink);
}

static void test_bad_labels_fail_with_file_and_line(void)
{
    static const struct {
        const char *text;
        const char *message;
    } cases[] = {
        { "{\"id\": \"a\", \"group_id\": 1}\n{\"id\": \"a\", \"group_id\": 2}\n",
          "bad.jsonl:2: lists an id that an earlier line put in another group" },
        { "{\"id\": \"a\", \"group_id\": 1}\n\n{\"id\": \"b\"}\n",
          "bad.jsonl:3: field \"group_id\" is missing" },
        { "{\"id\": 1.5, \"group_id\": 1}\n",
          "bad.jsonl:1: field \"id\" is neither a string nor an "
          "integer" },
        { "[1, 2]\n", "bad.jsonl:1: not a JSON object" },
        { "{\"id\": \"a\", \"group_id\": 1\n", "bad.jsonl:1: not JSON" },
        { "{\"id\": \"a\", \"id\": \"b\", \"group_id\": 1}\n", "bad.jsonl:1: not JSON" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct harness_sink sink;
        struct wn_error err = WN_ERROR_INIT;
        struct wn_task *in[1] = { fz_docs_task("t", doc_ids, doc_texts, 2) };
        char *params = params_for("bad.jsonl", NULL, NULL);

        CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, "bad.jsonl", cases[i].text), 0);
        harness_sink_init(&sink);
        CU_ASSERT_EQUAL(harness_run("remove_duplicates", params, in, 1, &sink, &err), WN_EDATA);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, cases[i].message));
        if (strstr(err.message, cases[i].message) == NULL)
            printf("\n  case %zu: %s\n", i, err.message);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "remove_duplicates: "));
        free(params);
        harness_sink_clear(&sink);
    }
}

static void test_a_missing_labels_path_is_named(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { fz_docs_task("t", doc_ids, doc_texts, 2) };
    char *params = params_for("nowhere", NULL, NULL);

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL(harness_run("remove_duplicates", params, in, 1, &sink, &err), WN_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "nowhere: No such file or directory"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "point it at the connected components' output"));
    free(params);
    /* labels_path is required */
    in[0] = fz_docs_task("t", doc_ids, doc_texts, 2);
    CU_ASSERT_EQUAL(harness_run("remove_duplicates", "{}", in, 1, &sink, &err), WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "labels_path"));
    harness_sink_clear(&sink);
}

static void test_an_empty_labels_directory_removes_nothing(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { fz_docs_task("t", doc_ids, doc_texts, 7) };
    char *params, *sub, *ids;

    CU_ASSERT(asprintf(&sub, "%s/empty", dir) > 0);
    mkdir(sub, 0777);
    params = params_for("empty", NULL, NULL);
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("remove_duplicates", params, in, 1, &sink, &err), 0);
    ids = fz_column_text(sink.tasks[0], "id");
    CU_ASSERT_STRING_EQUAL(ids, "d5,d1,d3,d9,d2,d7,d4");
    free(ids);
    free(sub);
    free(params);
    harness_sink_clear(&sink);
}

/* setup_on_node loads the labels once; actors share that copy; the last one frees it. */
static void test_actors_share_one_copy_of_the_labels(void)
{
    const struct wn_stage_desc *desc = harness_stage("remove_duplicates");
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params;
    struct wn_stage_env env;
    struct fuzzy_labels *shared;
    void *state[3] = { NULL, NULL, NULL };
    char *json, *path;

    CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, "shared.jsonl", labels_text), 0);
    CU_ASSERT(asprintf(&path, "%s/shared.jsonl", dir) > 0);
    json = params_for("shared.jsonl", NULL, NULL);
    params = harness_params("remove_duplicates", json, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(params);
    memset(&env, 0, sizeof(env));
    env.struct_size = sizeof(env);
    env.stage_name = "remove_duplicates";
    env.params = params;
    CU_ASSERT_EQUAL_FATAL(desc->ops->setup_on_node(&env, &err), 0);
    /* Changed on disk after setup_on_node: the actors still see the copy it loaded. */
    CU_ASSERT_EQUAL_FATAL(
        harness_write_text(dir, "shared.jsonl", "{\"id\": \"d1\", \"group_id\": 1}\n"), 0);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL_FATAL(desc->ops->create(params, &state[i], &err), 0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_labels_acquire(path, "id", "group_id", &shared, &err), 0);
    CU_ASSERT_EQUAL(shared->n_labels, 5);
    CU_ASSERT_EQUAL(shared->n_groups, 2);
    for (int i = 0; i < 3; i++)
        desc->ops->destroy(state[i]);
    fuzzy_labels_release(shared);
    /* Every holder gone, the set was freed: the next actor loads the file again. */
    CU_ASSERT_EQUAL_FATAL(desc->ops->create(params, &state[0], &err), 0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_labels_acquire(path, "id", "group_id", &shared, &err), 0);
    CU_ASSERT_EQUAL(shared->n_labels, 1);
    fuzzy_labels_release(shared);
    desc->ops->destroy(state[0]);
    /* A set that setup_on_node loaded but no actor took (a run that failed
     * first) is read again by the next setup_on_node. */
    CU_ASSERT_EQUAL_FATAL(desc->ops->setup_on_node(&env, &err), 0);
    CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, "shared.jsonl", labels_text), 0);
    CU_ASSERT_EQUAL_FATAL(desc->ops->setup_on_node(&env, &err), 0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_labels_acquire(path, "id", "group_id", &shared, &err), 0);
    CU_ASSERT_EQUAL(shared->n_labels, 5);
    fuzzy_labels_release(shared);
    /* A bad labels file fails setup_on_node, before any actor exists. */
    CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, "shared.jsonl", "oops\n"), 0);
    CU_ASSERT_EQUAL(desc->ops->setup_on_node(&env, &err), WN_EDATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "remove_duplicates: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "shared.jsonl:1: not JSON"));
    wn_params_free(params);
    free(json);
    free(path);
}

static void test_labels_lookup_gives_verdicts(void)
{
    struct fuzzy_labels *labels;
    struct wn_error err = WN_ERROR_INIT;
    const struct fuzzy_group *g = NULL;
    char *path;

    CU_ASSERT_EQUAL_FATAL(harness_write_text(dir, "labels.jsonl", labels_text), 0);
    CU_ASSERT(asprintf(&path, "%s/labels.jsonl", dir) > 0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_labels_load(path, "id", "group_id", &labels, &err), 0);
    CU_ASSERT_EQUAL(labels->n_labels, 5);
    CU_ASSERT_EQUAL(labels->kinds, FUZZY_LABELS_STRING_IDS);
    CU_ASSERT_EQUAL(fuzzy_labels_lookup(labels, (const unsigned char *)"sd1", 3, &g),
                    FUZZY_LABEL_KEEP);
    CU_ASSERT_EQUAL(fuzzy_labels_lookup(labels, (const unsigned char *)"sd5", 3, &g),
                    FUZZY_LABEL_DUPLICATE);
    CU_ASSERT_EQUAL(memcmp(labels->keys.data + g->min_offset, "sd1", 3), 0);
    CU_ASSERT_EQUAL(fuzzy_labels_lookup(labels, (const unsigned char *)"sd2", 3, &g),
                    FUZZY_LABEL_NONE);
    CU_ASSERT_EQUAL(fuzzy_labels_lookup(labels, (const unsigned char *)"sd", 2, &g),
                    FUZZY_LABEL_NONE);
    fuzzy_labels_free(labels);
    free(path);
}

#ifdef HAVE_ZSTD
static void test_compressed_labels_are_read(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { fz_docs_task("t", doc_ids, doc_texts, 7) };
    size_t bound = ZSTD_compressBound(sizeof(labels_text)), n;
    char *packed = malloc(bound), *params, *path, *ids;
    FILE *f;

    n = ZSTD_compress(packed, bound, labels_text, sizeof(labels_text) - 1, 3);
    CU_ASSERT_FATAL(!ZSTD_isError(n));
    CU_ASSERT(asprintf(&path, "%s/labels.jsonl.zst", dir) > 0);
    f = fopen(path, "wb");
    fwrite(packed, 1, n, f);
    fclose(f);
    params = params_for("labels.jsonl.zst", NULL, NULL);
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("remove_duplicates", params, in, 1, &sink, &err), 0);
    ids = fz_column_text(sink.tasks[0], "id");
    CU_ASSERT_STRING_EQUAL(ids, "d1,d2,d7,d4");
    free(ids);
    free(params);
    free(path);
    free(packed);
    harness_sink_clear(&sink);
}
#endif

int main(void)
{
    static const struct wn_test tests[] = {
        { "keeps the smallest id of each group", test_keeps_the_smallest_id_of_each_group },
        { "removed ids are written per task", test_removed_ids_are_written_per_task },
        { "labels directory, integer ids and string groups",
          test_labels_directory_integer_ids_and_string_groups },
        { "labels and documents must use the same kind of id",
          test_labels_and_documents_must_use_the_same_kind_of_id },
        { "bad labels fail with file and line", test_bad_labels_fail_with_file_and_line },
        { "a missing labels path is named", test_a_missing_labels_path_is_named },
        { "an empty labels directory removes nothing",
          test_an_empty_labels_directory_removes_nothing },
        { "actors share one copy of the labels", test_actors_share_one_copy_of_the_labels },
        { "labels lookup gives verdicts", test_labels_lookup_gives_verdicts },
#ifdef HAVE_ZSTD
        { "compressed labels are read", test_compressed_labels_are_read },
#endif
        { NULL, NULL }
    };

    return wn_test_run_suite("remove_duplicates", tests, suite_init, suite_cleanup);
}
