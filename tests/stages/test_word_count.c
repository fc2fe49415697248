/* Tests of the word_count stage (plugins/stages/filters/word_count.c, text_filter.c). */
#include "build_config.h"

#include "stage_harness.h"
#include "word_count.h"

/* Rows and their word counts. */
static const char *const texts[] = {
    "",                                     /* 0: 0 */
    NULL,                                   /* 1: 0 (null) */
    "one",                                  /* 2: 1 */
    "  two  words ",                        /* 3: 2 */
    "a\tb\nc",                              /* 4: 3 */
    "x\xc2\xa0y",                           /* 5: 2 (no-break space) */
    "x\xe3\x80\x80y\xe2\x80\x83z",          /* 6: 3 (ideographic space, em space) */
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", /* 7: 1 (日本語) */
    "\xff \xfe",                            /* 8: 2 (invalid bytes are word characters) */
    "a\037b\034c",                          /* 9: 3 (separators split, as in Python) */
    "x\xe2\x80\x8by",                       /* 10: 1 (zero-width space is not a space) */
    "one two three four",                   /* 11: 4 */
    "\xe2\x80\xa8\xc2\x85 lone ",           /* 12: 1 (line separator, next line) */
    "a\vb\fc\rd",                           /* 13: 4 */
};
static const uint64_t counts[] = { 0, 0, 1, 2, 3, 2, 3, 1, 2, 3, 1, 4, 1, 4 };
#define N_ROWS (sizeof(texts) / sizeof(texts[0]))

static void test_words_are_runs_of_non_whitespace(void)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (texts[i] == NULL)
            continue;
        CU_ASSERT_EQUAL(filters_count_words(texts[i], strlen(texts[i])), counts[i]);
        if (filters_count_words(texts[i], strlen(texts[i])) != counts[i])
            fprintf(stderr, "\n  row %zu: %llu words\n", i,
                    (unsigned long long)filters_count_words(texts[i], strlen(texts[i])));
    }
    /* A truncated multi-byte sequence at the end still counts as a word. */
    CU_ASSERT_EQUAL(filters_count_words("ab \xe3\x80", 5), 2);
    CU_ASSERT_EQUAL(filters_count_words("a b", 1), 1);
}

/* Runs word_count (as worker `name`) over the test rows; *ids gets the kept ids. */
static int run_filter(const char *name, const char *params, char **ids, char **dropped,
                      struct wn_error *err)
{
    struct harness_sink sink;
    struct wn_task *in[1] = { harness_text_task("t", texts, N_ROWS, 0) };
    char key[64];
    int rc;

    wn_task_meta_set(in[0], "origin", "test");
    harness_sink_init(&sink);
    rc = harness_run_named("word_count", name, params, in, 1, &sink, err);
    *ids = NULL;
    *dropped = NULL;
    if (sink.count == 1) {
        CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[0]), "t");
        CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[0], "origin"), "test");
        *ids = harness_ids(sink.tasks[0]);
        snprintf(key, sizeof(key), "%s.dropped", name ? name : "word_count");
        if (wn_task_meta_get(sink.tasks[0], key) != NULL)
            *dropped = strdup(wn_task_meta_get(sink.tasks[0], key));
    }
    CU_ASSERT_EQUAL(sink.count, rc == 0 ? 1 : 0);
    harness_sink_clear(&sink);
    return rc;
}

#define ASSERT_KEPT(params, expected_ids, expected_dropped)                                        \
    do {                                                                                           \
        struct wn_error err_ = WN_ERROR_INIT;                                                      \
        char *ids_, *dropped_;                                                                     \
        CU_ASSERT_EQUAL(run_filter(NULL, params, &ids_, &dropped_, &err_), 0);                     \
        CU_ASSERT_PTR_NOT_NULL_FATAL(ids_);                                                        \
        CU_ASSERT_STRING_EQUAL(ids_, expected_ids);                                                \
        if (strcmp(ids_, expected_ids) != 0)                                                       \
            fprintf(stderr, "\n  %s kept %s\n", #params, ids_);                                    \
        CU_ASSERT_PTR_NOT_NULL_FATAL(dropped_);                                                    \
        CU_ASSERT_STRING_EQUAL(dropped_, expected_dropped);                                        \
        free(ids_);                                                                                \
        free(dropped_);                                                                            \
    } while (0)

static void test_keeps_rows_between_min_and_max_words(void)
{
    ASSERT_KEPT("{\"min_words\": 2, \"max_words\": 3}", "3,4,5,6,8,9", "8");
    ASSERT_KEPT("{\"min_words\": 1}", "2,3,4,5,6,7,8,9,10,11,12,13", "2");
    ASSERT_KEPT("{\"max_words\": 1}", "0,1,2,7,10,12", "8");
    ASSERT_KEPT("{\"min_words\": 5}", "", "14");
}

static void test_bounds_are_inclusive(void)
{
    ASSERT_KEPT("{\"min_words\": 4, \"max_words\": 4}", "11,13", "12");
    ASSERT_KEPT("{\"min_words\": 3, \"max_words\": 4}", "4,6,9,11,13", "9");
}

static void test_defaults_keep_every_row(void)
{
    ASSERT_KEPT(NULL, "0,1,2,3,4,5,6,7,8,9,10,11,12,13", "0");
    ASSERT_KEPT("{\"min_words\": 0, \"text_field\": \"text\"}", "0,1,2,3,4,5,6,7,8,9,10,11,12,13",
                "0");
}

static void test_other_columns_follow_their_rows(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { harness_text_task("t", texts, N_ROWS, 1) };
    const struct wn_table *t;
    size_t len = 0;
    const char *s;

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL(harness_run("word_count", "{\"min_words\": 4}", in, 1, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 1);
    t = wn_task_table(sink.tasks[0]);
    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(t), 2);
    CU_ASSERT_EQUAL(wn_table_num_columns(t), 3);
    CU_ASSERT_EQUAL(wn_table_get_int64(t, 2, 0), 110);
    CU_ASSERT_EQUAL(wn_table_get_int64(t, 2, 1), 130);
    s = wn_table_get_utf8(t, 1, 1, &len);
    CU_ASSERT(len == strlen(texts[13]) && memcmp(s, texts[13], len) == 0);
    CU_ASSERT_EQUAL(wn_task_num_items(sink.tasks[0]), 2);
    harness_sink_clear(&sink);
}

static void test_dropped_count_is_keyed_by_the_configured_name(void)
{
    struct wn_error err = WN_ERROR_INIT;
    char *ids, *dropped;

    CU_ASSERT_EQUAL(run_filter("short_docs", "{\"max_words\": 1}", &ids, &dropped, &err), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dropped);
    CU_ASSERT_STRING_EQUAL(dropped, "8");
    free(ids);
    free(dropped);
}

static void test_missing_text_column_is_an_error_naming_it(void)
{
    struct wn_error err = WN_ERROR_INIT;
    char *ids, *dropped;

    CU_ASSERT_EQUAL(run_filter(NULL, "{\"text_field\": \"body\"}", &ids, &dropped, &err),
                    WN_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(err.message, "word_count: task t: no column \"body\" (columns: id, text)"));
    CU_ASSERT_EQUAL(run_filter("wc2", "{\"text_field\": \"id\"}", &ids, &dropped, &err), WN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(err.message, "wc2: task t: column \"id\" has Arrow format \"l\""));
}

static void test_a_failing_task_fails_the_whole_batch(void)
{
    static const char *const other[] = { "x y" };
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[2] = { harness_text_task("good", texts, N_ROWS, 0),
                              wn_task_new("files", NULL) };
    const char *path = "/nonexistent";

    wn_task_set_files(in[1], &path, 1);
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL(harness_run("word_count", "{\"min_words\": 2}", in, 2, &sink, &err), WN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "word_count: task files: expected a TABLE"));
    CU_ASSERT_EQUAL(sink.count, 0);

    in[0] = harness_text_task("a", texts, N_ROWS, 0);
    in[1] = harness_text_task("b", other, 1, 0);
    CU_ASSERT_EQUAL(harness_run("word_count", "{\"min_words\": 2}", in, 2, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 2);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[0]), "a");
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[0], "word_count.dropped"), "6");
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[1]), "b");
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[1], "word_count.dropped"), "0");
    harness_sink_clear(&sink);
}

static void test_params_are_checked(void)
{
    struct wn_error err = WN_ERROR_INIT;
    char *ids, *dropped;

    CU_ASSERT_EQUAL(run_filter(NULL, "{\"min_words\": 5, \"max_words\": 4}", &ids, &dropped, &err),
                    WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "max_words (4) is below min_words (5)"));
    CU_ASSERT_EQUAL(run_filter(NULL, "{\"max_words\": 0}", &ids, &dropped, &err), WN_ECONFIG);
    CU_ASSERT_EQUAL(run_filter(NULL, "{\"min_words\": -1}", &ids, &dropped, &err), WN_ECONFIG);
}

static void test_descriptor_declares_params_and_payloads(void)
{
    const struct wn_stage_desc *desc = harness_stage("word_count");
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_PTR_NOT_NULL_FATAL(desc);
    CU_ASSERT_EQUAL(wn_params_check_spec(desc->params, desc->name, &err), 0);
    CU_ASSERT_EQUAL(desc->input_payloads, WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE));
    CU_ASSERT_EQUAL(desc->output_payloads, WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE));
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "words are runs of non-whitespace", test_words_are_runs_of_non_whitespace },
        { "keeps rows between min and max words", test_keeps_rows_between_min_and_max_words },
        { "bounds are inclusive", test_bounds_are_inclusive },
        { "defaults keep every row", test_defaults_keep_every_row },
        { "other columns follow their rows", test_other_columns_follow_their_rows },
        { "dropped count is keyed by the configured name",
          test_dropped_count_is_keyed_by_the_configured_name },
        { "missing text column is an error naming it",
          test_missing_text_column_is_an_error_naming_it },
        { "a failing task fails the whole batch", test_a_failing_task_fails_the_whole_batch },
        { "params are checked", test_params_are_checked },
        { "descriptor declares params and payloads", test_descriptor_declares_params_and_payloads },
        { NULL, NULL },
    };

    return wn_test_run_suite("word_count", tests, NULL, NULL);
}
