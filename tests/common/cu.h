/* Shared helpers for winnow's CUnit test programs. */
#ifndef WINNOW_TESTS_CU_H
#define WINNOW_TESTS_CU_H

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>

/* One test: its name (the behaviour it pins) and function. */
struct wn_test {
    const char *name;
    void (*fn)(void);
};

/*
 * Registers one suite with tests[] (ended by a NULL name), runs it in basic
 * verbose mode (the "Run Summary" stays on stdout) and returns the process
 * exit status: 0 when every test passed, 1 on any failure, 99 on a framework
 * error.  Reads the counters before CU_cleanup_registry() resets them.
 */
static inline int wn_test_run_suite(const char *suite_name, const struct wn_test *tests,
                                    CU_InitializeFunc init, CU_CleanupFunc cleanup)
{
    CU_pSuite suite;
    unsigned failed_tests, failures;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 99;
    suite = CU_add_suite(suite_name, init, cleanup);
    if (suite == NULL)
        goto framework_error;
    for (const struct wn_test *t = tests; t->name != NULL; t++)
        if (CU_add_test(suite, t->name, t->fn) == NULL)
            goto framework_error;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    if (CU_basic_run_tests() != CUE_SUCCESS)
        goto framework_error;
    failed_tests = CU_get_number_of_tests_failed();
    failures = CU_get_number_of_failures();
    if (CU_get_number_of_suites_failed() > 0)
        failed_tests++;
    CU_cleanup_registry();
    return (failed_tests > 0 || failures > 0) ? 1 : 0;

framework_error:
    fprintf(stderr, "CUnit error: %s\n", CU_get_error_msg());
    CU_cleanup_registry();
    return 99;
}

/* Path under the build tree (WN_TOP_BUILDDIR from the test environment). */
static inline const char *wn_test_builddir(void)
{
    const char *dir = getenv("WN_TOP_BUILDDIR");
    return dir ? dir : ".";
}

static inline const char *wn_test_srcdir(void)
{
    const char *dir = getenv("WN_TOP_SRCDIR");
    return dir ? dir : ".";
}

#endif /* WINNOW_TESTS_CU_H */
