/* Tests of the minhash stage (plugins/stages/fuzzy/minhash.c). */
#include "build_config.h"

#include "fuzzy_harness.h"
#include "minhash.h"
#include "minhash_core.h"

static const char *const ids[] = { "a", "b", "c", "d", "e", "f" };
static const char *const texts[] = {
    "The quick brown fox jumps over the lazy dog near the river bank today.",
    "The quick brown fox jumps over the lazy dog near the river bank today.",
    "",
    NULL,
    "short",
    "Ünïcödé tëxt wïth ä fëw äccënts, and 日本語 too, for the shingler to chew on.",
};
#define N_DOCS 6

/* The signature the core computes for text with the given settings. */
static void expected(const char *text, uint32_t ngram, uint32_t perms, uint64_t seed, uint32_t *sig)
{
    struct fuzzy_minhash mh;
    struct fuzzy_minhash_scratch scratch;

    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh, ngram, perms, seed, FUZZY_KERNEL_PORTABLE), 0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_scratch_init(&scratch, &mh), 0);
    fuzzy_minhash_signature(&mh, &scratch, text, text ? strlen(text) : 0, sig);
    fuzzy_minhash_scratch_clear(&scratch);
    fuzzy_minhash_clear(&mh);
}

static void test_output_is_id_and_a_fixed_size_signature(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { fz_docs_task("t", ids, texts, N_DOCS) };
    const struct wn_table *t;
    char *got_ids;

    wn_task_meta_set(in[0], "origin", "test");
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("minhash", NULL, in, 1, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 1);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[0]), "t");
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[0], "origin"), "test");
    t = wn_task_table(sink.tasks[0]);
    CU_ASSERT_EQUAL(wn_table_num_columns(t), 2);
    CU_ASSERT_STRING_EQUAL(wn_table_column_name(t, 0), "id");
    CU_ASSERT_EQUAL(wn_table_column_type(t, 0), WN_COLUMN_UTF8);
    CU_ASSERT_STRING_EQUAL(wn_table_column_name(t, 1), "_minhash_signature");
    CU_ASSERT_EQUAL(wn_table_column_type(t, 1), WN_COLUMN_FIXED_LIST_UINT32);
    CU_ASSERT_EQUAL(wn_table_column_list_size(t, 1), 260);
    CU_ASSERT_STRING_EQUAL(t->schema.children[1]->format, "+w:260");
    got_ids = fz_column_text(sink.tasks[0], "id");
    CU_ASSERT_STRING_EQUAL(got_ids, "a,b,c,d,e,f");
    free(got_ids);
    for (int row = 0; row < N_DOCS; row++) {
        uint32_t want[260];
        const uint32_t *got = wn_table_get_uint32_list(t, 1, row);

        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        expected(texts[row], 24, 260, 42, want);
        CU_ASSERT_EQUAL(memcmp(got, want, sizeof(want)), 0);
    }
    harness_sink_clear(&sink);
}

static void test_identical_documents_get_identical_signatures(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { fz_docs_task("t", ids, texts, N_DOCS) };
    const struct wn_table *t;

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("minhash", NULL, in, 1, &sink, &err), 0);
    t = wn_task_table(sink.tasks[0]);
    /* rows 0 and 1 are the same text; 2 (empty) and 3 (null) both have no text */
    CU_ASSERT_EQUAL(memcmp(wn_table_get_uint32_list(t, 1, 0), wn_table_get_uint32_list(t, 1, 1),
                           260 * sizeof(uint32_t)),
                    0);
    CU_ASSERT_EQUAL(memcmp(wn_table_get_uint32_list(t, 1, 2), wn_table_get_uint32_list(t, 1, 3),
                           260 * sizeof(uint32_t)),
                    0);
    CU_ASSERT_NOT_EQUAL(memcmp(wn_table_get_uint32_list(t, 1, 0), wn_table_get_uint32_list(t, 1, 5),
                               260 * sizeof(uint32_t)),
                        0);
    harness_sink_clear(&sink);
}

static void test_params_set_the_shingles_and_signature_length(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { fz_docs_task("t", ids, texts, N_DOCS) };
    const struct wn_table *t;

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(
        harness_run("minhash",
                    "{\"char_ngrams\": 5, \"num_bands\": 3, \"rows_per_band\": 7, "
                    "\"seed\": 9}",
                    in, 1, &sink, &err),
        0);
    t = wn_task_table(sink.tasks[0]);
    CU_ASSERT_EQUAL(wn_table_column_list_size(t, 1), 21);
    for (int row = 0; row < N_DOCS; row++) {
        uint32_t want[21];

        expected(texts[row], 5, 21, 9, want);
        CU_ASSERT_EQUAL(memcmp(wn_table_get_uint32_list(t, 1, row), want, sizeof(want)), 0);
    }
    harness_sink_clear(&sink);
}

static void test_other_id_and_text_columns_and_integer_ids(void)
{
    struct wn_table_builder *b = wn_table_builder_new();
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1];
    const struct wn_table *t;
    uint32_t want[260];
    char *got;

    wn_table_builder_add_column(b, "content", WN_COLUMN_LARGE_UTF8, 0);
    wn_table_builder_add_column(b, "doc", WN_COLUMN_INT64, 0);
    wn_table_builder_append_utf8(b, 0, "hello there, general kenobi", 27);
    wn_table_builder_append_int64(b, 1, 77);
    wn_table_builder_append_utf8(b, 0, "x", 1);
    wn_table_builder_append_int64(b, 1, -3);
    in[0] = harness_task_from_builder("t", b);
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("minhash",
                                      "{\"text_field\": \"content\", \"id_field\": \"doc\"}", in, 1,
                                      &sink, &err),
                          0);
    t = wn_task_table(sink.tasks[0]);
    CU_ASSERT_STRING_EQUAL(wn_table_column_name(t, 0), "doc");
    CU_ASSERT_EQUAL(wn_table_column_type(t, 0), WN_COLUMN_INT64);
    got = fz_column_text(sink.tasks[0], "doc");
    CU_ASSERT_STRING_EQUAL(got, "77,-3");
    free(got);
    expected("hello there, general kenobi", 24, 260, 42, want);
    CU_ASSERT_EQUAL(memcmp(wn_table_get_uint32_list(t, 1, 0), want, sizeof(want)), 0);
    harness_sink_clear(&sink);
}

static void test_empty_table_gives_an_empty_signature_table(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { fz_docs_task("empty", ids, texts, 0) };
    const struct wn_table *t;

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("minhash", NULL, in, 1, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 1);
    t = wn_task_table(sink.tasks[0]);
    CU_ASSERT_EQUAL(wn_table_num_rows(t), 0);
    CU_ASSERT_EQUAL(wn_table_column_list_size(t, 1), 260);
    harness_sink_clear(&sink);
    /* and a batch with no task emits nothing */
    CU_ASSERT_EQUAL(harness_run("minhash", NULL, NULL, 0, &sink, &err), 0);
    CU_ASSERT_EQUAL(sink.count, 0);
    harness_sink_clear(&sink);
}

static void test_one_task_out_per_task_in(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[3] = { fz_docs_task("x", ids, texts, 1), fz_docs_task("y", ids, texts, 6),
                              fz_docs_task("z", ids, texts, 3) };

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL_FATAL(harness_run("minhash", NULL, in, 3, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 3);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[0]), "x");
    CU_ASSERT_EQUAL(wn_table_num_rows(wn_task_table(sink.tasks[0])), 1);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[1]), "y");
    CU_ASSERT_EQUAL(wn_table_num_rows(wn_task_table(sink.tasks[1])), 6);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[2]), "z");
    CU_ASSERT_EQUAL(wn_table_num_rows(wn_task_table(sink.tasks[2])), 3);
    harness_sink_clear(&sink);
}

static void test_missing_or_wrong_columns_are_named(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { fz_docs_task("t7", ids, texts, 2) };
    struct wn_table_builder *b;

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL(
        harness_run_named("minhash", "sigs", "{\"text_field\": \"body\"}", in, 1, &sink, &err),
        WN_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "sigs: task t7: no column \"body\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "(columns: id, text)"));
    CU_ASSERT_EQUAL(sink.count, 0);
    in[0] = fz_docs_task("t8", ids, texts, 2);
    CU_ASSERT_EQUAL(harness_run("minhash", "{\"id_field\": \"key\"}", in, 1, &sink, &err),
                    WN_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "no column \"key\""));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "set id_field"));

    b = wn_table_builder_new();
    wn_table_builder_add_column(b, "id", WN_COLUMN_UTF8, 0);
    wn_table_builder_add_column(b, "text", WN_COLUMN_INT64, 0);
    wn_table_builder_append_utf8(b, 0, "a", 1);
    wn_table_builder_append_int64(b, 1, 5);
    in[0] = harness_task_from_builder("t9", b);
    CU_ASSERT_EQUAL(harness_run("minhash", NULL, in, 1, &sink, &err), WN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "column \"text\" has Arrow format \"l\""));
    CU_ASSERT_EQUAL(sink.count, 0);
    harness_sink_clear(&sink);
}

static void test_too_many_hash_functions_are_refused(void)
{
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { fz_docs_task("t", ids, texts, 1) };

    harness_sink_init(&sink);
    CU_ASSERT_EQUAL(harness_run("minhash", "{\"num_bands\": 1000, \"rows_per_band\": 1000}", in, 1,
                                &sink, &err),
                    WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "num_bands * rows_per_band is 1000000"));
    in[0] = fz_docs_task("t", ids, texts, 1);
    CU_ASSERT_EQUAL(harness_run("minhash", "{\"char_ngrams\": 0}", in, 1, &sink, &err), WN_ECONFIG);
    harness_sink_clear(&sink);
}

static void test_kernel_env_var_forces_a_kernel_or_fails_clearly(void)
{
    struct harness_sink portable, best;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1] = { fz_docs_task("t", ids, texts, N_DOCS) };
    const struct wn_table *p, *q;

    harness_sink_init(&portable);
    harness_sink_init(&best);
    setenv("WINNOW_MINHASH_KERNEL", "portable", 1);
    CU_ASSERT_EQUAL_FATAL(harness_run("minhash", NULL, in, 1, &portable, &err), 0);
    setenv("WINNOW_MINHASH_KERNEL", fuzzy_minhash_kernel_name(fuzzy_minhash_kernel_best()), 1);
    in[0] = fz_docs_task("t", ids, texts, N_DOCS);
    CU_ASSERT_EQUAL_FATAL(harness_run("minhash", NULL, in, 1, &best, &err), 0);
    p = wn_task_table(portable.tasks[0]);
    q = wn_task_table(best.tasks[0]);
    for (int row = 0; row < N_DOCS; row++)
        CU_ASSERT_EQUAL(memcmp(wn_table_get_uint32_list(p, 1, row),
                               wn_table_get_uint32_list(q, 1, row), 260 * sizeof(uint32_t)),
                        0);
    setenv("WINNOW_MINHASH_KERNEL", "turbo", 1);
    in[0] = fz_docs_task("t", ids, texts, N_DOCS);
    CU_ASSERT_EQUAL(harness_run("minhash", NULL, in, 1, &best, &err), WN_EUNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "minhash: WINNOW_MINHASH_KERNEL=turbo"));
    unsetenv("WINNOW_MINHASH_KERNEL");
    harness_sink_clear(&portable);
    harness_sink_clear(&best);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "output is the id and a fixed-size signature",
          test_output_is_id_and_a_fixed_size_signature },
        { "identical documents get identical signatures",
          test_identical_documents_get_identical_signatures },
        { "params set the shingles and the signature length",
          test_params_set_the_shingles_and_signature_length },
        { "other id and text columns, and integer ids",
          test_other_id_and_text_columns_and_integer_ids },
        { "an empty table gives an empty signature table",
          test_empty_table_gives_an_empty_signature_table },
        { "one task out per task in", test_one_task_out_per_task_in },
        { "missing or wrong columns are named", test_missing_or_wrong_columns_are_named },
        { "too many hash functions are refused", test_too_many_hash_functions_are_refused },
        { "the kernel env var forces a kernel or fails clearly",
          test_kernel_env_var_forces_a_kernel_or_fails_clearly },
        { NULL, NULL }
    };

    unsetenv("WINNOW_MINHASH_KERNEL");
    return wn_test_run_suite("minhash stage", tests, NULL, NULL);
}
