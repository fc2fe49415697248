/* Tests of parameter validation against a declared spec (libwinnow/params.c). */
#include <string.h>

#include <jansson.h>

#include <winnow/params.h>

#include "cu.h"
#include "params_internal.h"

static const char *const modes[] = { "fast", "exact", NULL };

static const struct wn_param_spec spec[] = {
    { "min_words", WN_PARAM_INT, WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, "0", 0, 100000, NULL,
      "fewest words" },
    { "ratio", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, "0.25", 0, 1, NULL,
      "max ratio" },
    { "field", WN_PARAM_STRING, 0, "\"text\"", 0, 0, NULL, "text column" },
    { "mode", WN_PARAM_STRING, 0, "\"fast\"", 0, 0, modes, "how" },
    { "paths", WN_PARAM_STRING_LIST, WN_PARAM_REQUIRED | WN_PARAM_HAS_MIN, NULL, 1, 0, NULL,
      "inputs" },
    { "verbose", WN_PARAM_BOOL, 0, "false", 0, 0, NULL, "talk" },
    { "limit", WN_PARAM_INT, 0, NULL, 0, 0, NULL, "optional, no default" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

/* Validates text against spec; returns the code, leaves the message in *err. */
static int try_params(const char *text, struct wn_params **out, struct wn_error *err)
{
    json_error_t jerr;
    json_t *given = json_loads(text, 0, &jerr);
    int rc;

    CU_ASSERT_PTR_NOT_NULL_FATAL(given);
    rc = wn_params_new(spec, given, "stages[2].params", out, err);
    json_decref(given);
    return rc;
}

static void expect_error(const char *text, const char *needle)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params = NULL;

    CU_ASSERT_EQUAL(try_params(text, &params, &err), WN_ECONFIG);
    CU_ASSERT_PTR_NULL(params);
    if (strstr(err.message, needle) == NULL)
        fprintf(stderr, "\n  expected '%s' in '%s'\n", needle, err.message);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, needle));
}

static void test_given_values_and_defaults_are_readable(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *p = NULL;

    CU_ASSERT_EQUAL_FATAL(
        try_params("{\"min_words\": 5, \"paths\": [\"a\", \"b\"], \"ratio\": 1}", &p, &err), 0);
    CU_ASSERT_EQUAL(wn_params_get_int(p, "min_words"), 5);
    CU_ASSERT_DOUBLE_EQUAL(wn_params_get_double(p, "ratio"), 1.0, 1e-12);
    CU_ASSERT_STRING_EQUAL(wn_params_get_string(p, "field"), "text");
    CU_ASSERT_STRING_EQUAL(wn_params_get_string(p, "mode"), "fast");
    CU_ASSERT_EQUAL(wn_params_get_list_size(p, "paths"), 2);
    CU_ASSERT_STRING_EQUAL(wn_params_get_list_item(p, "paths", 1), "b");
    CU_ASSERT_PTR_NULL(wn_params_get_list_item(p, "paths", 2));
    CU_ASSERT_FALSE(wn_params_get_bool(p, "verbose"));
    CU_ASSERT_TRUE(wn_params_has(p, "verbose"));
    CU_ASSERT_FALSE(wn_params_has(p, "limit"));
    CU_ASSERT_EQUAL(wn_params_get_int(p, "limit"), 0);
    CU_ASSERT_EQUAL(wn_params_get_int(p, "undeclared"), 0);
    wn_params_free(p);
}

static void test_lone_string_becomes_one_element_list(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *p = NULL;

    CU_ASSERT_EQUAL_FATAL(try_params("{\"paths\": \"data/*.jsonl\"}", &p, &err), 0);
    CU_ASSERT_EQUAL(wn_params_get_list_size(p, "paths"), 1);
    CU_ASSERT_STRING_EQUAL(wn_params_get_list_item(p, "paths", 0), "data/*.jsonl");
    wn_params_free(p);
}

static void test_errors_name_the_json_path(void)
{
    expect_error("{\"paths\": [\"a\"], \"min_words\": \"5\"}",
                 "stages[2].params.min_words: expected an integer, got a string");
    expect_error("{\"paths\": [\"a\"], \"min_words\": -1}",
                 "stages[2].params.min_words: -1 is below the minimum 0");
    expect_error("{\"paths\": [\"a\"], \"ratio\": 1.5}",
                 "stages[2].params.ratio: 1.5 is above the maximum 1");
    expect_error("{\"paths\": [\"a\", 3]}",
                 "stages[2].params.paths[1]: expected a string, got an integer");
    expect_error("{\"paths\": []}", "stages[2].params.paths: needs at least 1 element(s), got 0");
    expect_error("{\"paths\": [\"a\"], \"verbose\": 1}",
                 "stages[2].params.verbose: expected a boolean");
}

static void test_large_integer_is_range_checked_not_truncated(void)
{
    expect_error("{\"paths\": [\"a\"], \"min_words\": 5000000000}",
                 "5000000000 is above the maximum 100000");
}

static void test_unknown_parameter_lists_known_ones(void)
{
    expect_error(
        "{\"paths\": [\"a\"], \"min_word\": 1}",
        "stages[2].params.min_word: unknown parameter 'min_word' (known: min_words, ratio");
}

static void test_required_parameter_missing(void)
{
    expect_error("{}", "stages[2].params.paths: required parameter missing");
}

static void test_choice_outside_the_allowed_values(void)
{
    expect_error("{\"paths\": [\"a\"], \"mode\": \"slow\"}",
                 "stages[2].params.mode: \"slow\" is not one of \"fast\", \"exact\"");
}

static void test_params_must_be_an_object(void)
{
    expect_error("[1]", "stages[2].params: expected an object, got an array");
}

static void test_spec_with_broken_default_is_a_plugin_error(void)
{
    static const struct wn_param_spec bad_json[] = {
        { "x", WN_PARAM_INT, 0, "{oops", 0, 0, NULL, NULL },
        { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
    };
    static const struct wn_param_spec out_of_range[] = {
        { "x", WN_PARAM_INT, WN_PARAM_HAS_MAX, "10", 0, 5, NULL, NULL },
        { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
    };
    static const struct wn_param_spec twice[] = { { "x", WN_PARAM_INT, 0, NULL, 0, 0, NULL, NULL },
                                                  { "x", WN_PARAM_BOOL, 0, NULL, 0, 0, NULL, NULL },
                                                  { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL,
                                                    NULL } };
    static const struct wn_param_spec choices_on_int[] = {
        { "x", WN_PARAM_INT, 0, NULL, 0, 0, modes, NULL },
        { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
    };
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_params_check_spec(spec, "good", &err), 0);
    CU_ASSERT_EQUAL(wn_params_check_spec(bad_json, "stage 'a'", &err), WN_EPLUGIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'a': default of parameter 'x'"));
    CU_ASSERT_EQUAL(wn_params_check_spec(out_of_range, "stage 'b'", &err), WN_EPLUGIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "above the maximum 5"));
    CU_ASSERT_EQUAL(wn_params_check_spec(twice, "stage 'c'", &err), WN_EPLUGIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "declared twice"));
    CU_ASSERT_EQUAL(wn_params_check_spec(choices_on_int, "stage 'd'", &err), WN_EPLUGIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "has choices but is not a string"));
}

static void test_null_spec_accepts_only_no_params(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *p = NULL;
    json_t *empty = json_object();

    CU_ASSERT_EQUAL(wn_params_new(NULL, NULL, "executor", &p, &err), 0);
    wn_params_free(p);
    CU_ASSERT_EQUAL(wn_params_new(NULL, empty, "executor", &p, &err), 0);
    wn_params_free(p);
    json_object_set_new(empty, "x", json_true());
    CU_ASSERT_EQUAL(wn_params_new(NULL, empty, "executor", &p, &err), WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "executor.x: unknown parameter 'x' (known: none)"));
    json_decref(empty);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "given values and defaults are readable", test_given_values_and_defaults_are_readable },
        { "a lone string becomes a one-element list", test_lone_string_becomes_one_element_list },
        { "errors name the JSON path", test_errors_name_the_json_path },
        { "a large integer is range-checked, not truncated",
          test_large_integer_is_range_checked_not_truncated },
        { "an unknown parameter lists the known ones", test_unknown_parameter_lists_known_ones },
        { "a required parameter is missing", test_required_parameter_missing },
        { "a choice outside the allowed values", test_choice_outside_the_allowed_values },
        { "params must be an object", test_params_must_be_an_object },
        { "a spec with a broken default is a plugin error",
          test_spec_with_broken_default_is_a_plugin_error },
        { "a NULL spec accepts only no params", test_null_spec_accepts_only_no_params },
        { NULL, NULL }
    };
    return wn_test_run_suite("params", tests, NULL, NULL);
}
