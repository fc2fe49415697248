/* Tests of the non_alpha_numeric stage (plugins/stages/filters/non_alpha_numeric.c). */
#include "build_config.h"

#include "non_alpha_numeric.h"
#include "stage_harness.h"

static const char *const texts[] = {
    "abc d",                                            /* 0: 1/5 = 0.2 */
    "ab c",                                             /* 1: 1/4 = 0.25 */
    "a b c",                                            /* 2: 2/5 = 0.4 */
    "",                                                 /* 3: empty: 1 */
    NULL,                                               /* 4: null: 1 */
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x80\x82", /* 5: 日本語。 1/4 */
    "!!!",                                              /* 6: 1 */
    "hello world",                                      /* 7: 1/11 */
    "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\141b",            /* 8: 😀😀ab 2/4 */
    "abc",                                              /* 9: 0 */
};
#define N_ROWS (sizeof(texts) / sizeof(texts[0]))

static void test_ratio_counts_code_points(void)
{
    static const struct {
        const char *text;
        double ratio;
    } cases[] = {
        { "abcd", 0.0 },
        { "ab, ", 0.5 },
        { "", 1.0 },
        { "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x80\x82", 0.25 }, /* 日本語。 */
        { "\xf0\x9f\x98\x80\141", 0.5 },                              /* 😀a */
        { "\xc3\xa9", 0.0 },                                          /* é */
        { "e\xcc\x81", 0.0 },                                         /* e + combining acute */
        { "\377a", 0.5 },                                             /* invalid byte */
        { "\343\200a", 0.5 },                                         /* truncated sequence */
        { "\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\x81", 1.0 / 3.0 },        /* ＡＢ！ */
        { "\xef\xbc\x91\xef\xbc\x92", 0.0 },                          /* １２ */
        { "\xc2\xabx\xc2\xbb", 2.0 / 3.0 },                           /* «x» */
        { "a\xe2\x80\x94\142", 1.0 / 3.0 },                           /* a—b */
        { "\xe2\x82\xac\065", 0.5 },                                  /* €5 */
        { "\xe3\x80\x87", 0.0 },                                      /* 〇 */
        { "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", 0.0 },  /* Привет */
        { "\xef\xbd\xb6", 0.0 },                                      /* halfwidth ｶ */
        { "a\nb\t", 0.5 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double ratio = filters_non_alphanumeric_ratio(cases[i].text, strlen(cases[i].text));

        CU_ASSERT_DOUBLE_EQUAL(ratio, cases[i].ratio, 1e-12);
        if (ratio < cases[i].ratio - 1e-12 || ratio > cases[i].ratio + 1e-12)
            fprintf(stderr, "\n  case %zu: ratio %g\n", i, ratio);
    }
}

static void test_alphanumeric_rule_by_code_point(void)
{
    static const uint32_t alnum[] = { 'a',    'Z',    '0',    '9',     0xAA,   0xB5,
                                      0xC0,   0xFF,   0x3B1,  0x4E2D,  0x3005, 0x3042,
                                      0xAC00, 0xFF21, 0xFF5A, 0x10000, 0x20000 };
    static const uint32_t other[] = { ' ',    '_',    '\n',    '-',     0x7F,   0x85,
                                      0xA0,   0xB2,   0xD7,    0xF7,    0x2014, 0x20AC,
                                      0x2192, 0x3000, 0x3001,  0xE000,  0xFE0F, 0xFEFF,
                                      0xFF01, 0xFFFD, 0x1F600, 0x10FFFF };

    for (size_t i = 0; i < sizeof(alnum) / sizeof(alnum[0]); i++)
        CU_ASSERT_TRUE(filters_is_alphanumeric(alnum[i]));
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        CU_ASSERT_FALSE(filters_is_alphanumeric(other[i]));
}

/* Runs the stage over the rows; *ids and *dropped get what it kept and dropped. */
static int run_filter(const char *params, char **ids, char **dropped, struct wn_error *err)
{
    struct harness_sink sink;
    struct wn_task *in[1] = { harness_text_task("doc_7", texts, N_ROWS, 0) };
    int rc;

    harness_sink_init(&sink);
    rc = harness_run("non_alpha_numeric", params, in, 1, &sink, err);
    *ids = NULL;
    *dropped = NULL;
    if (sink.count == 1) {
        const char *d = wn_task_meta_get(sink.tasks[0], "non_alpha_numeric.dropped");

        CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[0]), "doc_7");
        *ids = harness_ids(sink.tasks[0]);
        *dropped = d ? strdup(d) : NULL;
    }
    CU_ASSERT_EQUAL(sink.count, rc == 0 ? 1 : 0);
    harness_sink_clear(&sink);
    return rc;
}

#define ASSERT_KEPT(params, expected_ids, expected_dropped)                                        \
    do {                                                                                           \
        struct wn_error err_ = WN_ERROR_INIT;                                                      \
        char *ids_, *dropped_;                                                                     \
        CU_ASSERT_EQUAL(run_filter(params, &ids_, &dropped_, &err_), 0);                           \
        CU_ASSERT_PTR_NOT_NULL_FATAL(ids_);                                                        \
        CU_ASSERT_STRING_EQUAL(ids_, expected_ids);                                                \
        if (strcmp(ids_, expected_ids) != 0)                                                       \
            fprintf(stderr, "\n  %s kept %s\n", #params, ids_);                                    \
        CU_ASSERT_PTR_NOT_NULL_FATAL(dropped_);                                                    \
        CU_ASSERT_STRING_EQUAL(dropped_, expected_dropped);                                        \
        free(ids_);                                                                                \
        free(dropped_);                                                                            \
    } while (0)

static void test_keeps_rows_at_or_below_max_ratio(void)
{
    ASSERT_KEPT(NULL, "0,1,5,7,9", "5");
    ASSERT_KEPT("{\"max_ratio\": 0.5}", "0,1,2,5,7,8,9", "3");
}

static void test_boundary_ratios_are_kept(void)
{
    ASSERT_KEPT("{\"max_ratio\": 0.2}", "0,7,9", "7");
    ASSERT_KEPT("{\"max_ratio\": 0.25}", "0,1,5,7,9", "5");
    ASSERT_KEPT("{\"max_ratio\": 0}", "9", "9");
}

static void test_empty_and_null_text_have_ratio_one(void)
{
    ASSERT_KEPT("{\"max_ratio\": 0.99}", "0,1,2,5,7,8,9", "3");
    ASSERT_KEPT("{\"max_ratio\": 1}", "0,1,2,3,4,5,6,7,8,9", "0");
}

static void test_large_utf8_text_is_read(void)
{
    static const char *const rows[] = { "ok", "?!", "fine text" };
    struct wn_table_builder *b = wn_table_builder_new();
    struct harness_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table table;
    struct wn_task *in[1];
    char *ids;

    wn_table_builder_add_column(b, "id", WN_COLUMN_INT64, 0);
    wn_table_builder_add_column(b, "body", WN_COLUMN_LARGE_UTF8, 0);
    for (int i = 0; i < 3; i++) {
        wn_table_builder_append_int64(b, 0, i);
        wn_table_builder_append_utf8(b, 1, rows[i], strlen(rows[i]));
    }
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &table, &err), 0);
    wn_table_builder_free(b);
    in[0] = wn_task_new("large", NULL);
    CU_ASSERT_EQUAL_FATAL(wn_task_set_table(in[0], &table, &err), 0);
    harness_sink_init(&sink);
    CU_ASSERT_EQUAL(
        harness_run("non_alpha_numeric", "{\"text_field\": \"body\"}", in, 1, &sink, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.count, 1);
    ids = harness_ids(sink.tasks[0]);
    CU_ASSERT_STRING_EQUAL(ids, "0,2");
    free(ids);
    harness_sink_clear(&sink);
}

static void test_missing_text_column_is_an_error_naming_it(void)
{
    struct wn_error err = WN_ERROR_INIT;
    char *ids, *dropped;

    CU_ASSERT_EQUAL(run_filter("{\"text_field\": \"content\"}", &ids, &dropped, &err),
                    WN_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(
        err.message, "non_alpha_numeric: task doc_7: no column \"content\" (columns: id, text)"));
    CU_ASSERT_EQUAL(run_filter("{\"text_field\": \"id\"}", &ids, &dropped, &err), WN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(err.message, "column \"id\" has Arrow format \"l\", not a string"));
}

static void test_params_are_checked(void)
{
    struct wn_error err = WN_ERROR_INIT;
    char *ids, *dropped;

    CU_ASSERT_EQUAL(run_filter("{\"max_ratio\": 1.5}", &ids, &dropped, &err), WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "params.max_ratio: 1.5 is above the maximum 1"));
    CU_ASSERT_EQUAL(run_filter("{\"max_ratio\": -0.1}", &ids, &dropped, &err), WN_ECONFIG);
    CU_ASSERT_EQUAL(run_filter("{\"max_ratio\": \"low\"}", &ids, &dropped, &err), WN_ECONFIG);
}

static void test_descriptor_declares_params_and_payloads(void)
{
    const struct wn_stage_desc *desc = harness_stage("non_alpha_numeric");
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_PTR_NOT_NULL_FATAL(desc);
    CU_ASSERT_EQUAL(wn_params_check_spec(desc->params, desc->name, &err), 0);
    CU_ASSERT_EQUAL(desc->input_payloads, WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE));
    CU_ASSERT_EQUAL(desc->output_payloads, WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE));
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "ratio counts code points", test_ratio_counts_code_points },
        { "alphanumeric rule by code point", test_alphanumeric_rule_by_code_point },
        { "keeps rows at or below max_ratio", test_keeps_rows_at_or_below_max_ratio },
        { "boundary ratios are kept", test_boundary_ratios_are_kept },
        { "empty and null text have ratio one", test_empty_and_null_text_have_ratio_one },
        { "large_utf8 text is read", test_large_utf8_text_is_read },
        { "missing text column is an error naming it",
          test_missing_text_column_is_an_error_naming_it },
        { "params are checked", test_params_are_checked },
        { "descriptor declares params and payloads", test_descriptor_declares_params_and_payloads },
        { NULL, NULL },
    };

    return wn_test_run_suite("non_alpha_numeric", tests, NULL, NULL);
}
