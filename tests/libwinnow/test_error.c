/* Tests of wn_error_*: messages, prefixes, truncation, status names. */
#include <string.h>

#include <winnow/error.h>

#include "cu.h"

static void test_set_returns_code_and_formats_message(void)
{
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_error_set(&err, WN_EINVAL, "bad %s at %d", "value", 7), WN_EINVAL);
    CU_ASSERT_EQUAL(err.code, WN_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.message, "bad value at 7");
}

static void test_set_with_null_record_only_returns_code(void)
{
    CU_ASSERT_EQUAL(wn_error_set(NULL, WN_EIO, "dropped"), WN_EIO);
}

static void test_prefix_adds_context_and_keeps_code(void)
{
    struct wn_error err = WN_ERROR_INIT;

    wn_error_set(&err, WN_EDATA, "line 3: not an object");
    CU_ASSERT_EQUAL(wn_error_prefix(&err, "stage '%s'", "jsonl_reader"), WN_EDATA);
    CU_ASSERT_STRING_EQUAL(err.message, "stage 'jsonl_reader': line 3: not an object");
}

static void test_prefix_truncates_at_record_size(void)
{
    struct wn_error err = WN_ERROR_INIT;
    char long_text[3 * WN_ERROR_MESSAGE_MAX];

    memset(long_text, 'x', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    wn_error_set(&err, WN_EIO, "%s", long_text);
    CU_ASSERT_EQUAL(strlen(err.message), WN_ERROR_MESSAGE_MAX - 1);
    wn_error_prefix(&err, "%s", long_text);
    CU_ASSERT_EQUAL(strlen(err.message), WN_ERROR_MESSAGE_MAX - 1);
    wn_error_set(&err, WN_EIO, "tail");
    wn_error_prefix(&err, "head");
    CU_ASSERT_STRING_EQUAL(err.message, "head: tail");
}

static void test_clear_resets_record(void)
{
    struct wn_error err = WN_ERROR_INIT;

    wn_error_set(&err, WN_EIO, "x");
    wn_error_clear(&err);
    CU_ASSERT_EQUAL(err.code, WN_OK);
    CU_ASSERT_STRING_EQUAL(err.message, "");
}

static void test_every_status_has_a_distinct_name(void)
{
    for (int a = WN_EINTERNAL; a <= WN_OK; a++) {
        CU_ASSERT_STRING_NOT_EQUAL(wn_strerror(a), "unknown error");
        for (int b = a + 1; b <= WN_OK; b++)
            CU_ASSERT_STRING_NOT_EQUAL(wn_strerror(a), wn_strerror(b));
    }
    CU_ASSERT_STRING_EQUAL(wn_strerror(-1000), "unknown error");
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "set returns the code and formats the message",
          test_set_returns_code_and_formats_message },
        { "set with a NULL record only returns the code",
          test_set_with_null_record_only_returns_code },
        { "prefix adds context and keeps the code", test_prefix_adds_context_and_keeps_code },
        { "prefix truncates at the record size", test_prefix_truncates_at_record_size },
        { "clear resets the record", test_clear_resets_record },
        { "every status has a distinct name", test_every_status_has_a_distinct_name },
        { NULL, NULL }
    };
    return wn_test_run_suite("error", tests, NULL, NULL);
}
