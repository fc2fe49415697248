# tests/libwinnow/test_registry: plugin discovery, loading and validation,
# against the fixture plugins of tests/fixtures (built as check_LTLIBRARIES).
check_PROGRAMS += tests/libwinnow/test_registry
TESTS += tests/libwinnow/test_registry
tests_libwinnow_test_registry_SOURCES = tests/libwinnow/test_registry.c
tests_libwinnow_test_registry_CFLAGS = $(WN_TEST_COMPILE_FLAGS)
tests_libwinnow_test_registry_LDADD = $(WN_TEST_LIBS)
