# Unit tests of libwinnow's small modules: errors, params, tasks.
check_PROGRAMS += tests/libwinnow/test_error tests/libwinnow/test_params tests/libwinnow/test_task
TESTS += tests/libwinnow/test_error tests/libwinnow/test_params tests/libwinnow/test_task
tests_libwinnow_test_error_CFLAGS = $(WN_TEST_COMPILE_FLAGS)
tests_libwinnow_test_error_LDADD = $(WN_TEST_LIBS)
tests_libwinnow_test_params_CFLAGS = $(WN_TEST_COMPILE_FLAGS) $(JANSSON_CFLAGS)
tests_libwinnow_test_params_LDADD = $(WN_TEST_LIBS) $(JANSSON_LIBS)
tests_libwinnow_test_task_CFLAGS = $(WN_TEST_COMPILE_FLAGS)
tests_libwinnow_test_task_LDADD = $(WN_TEST_LIBS)
