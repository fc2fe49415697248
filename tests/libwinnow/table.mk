# tests/libwinnow: the table helpers (libwinnow/table.c).
check_PROGRAMS += tests/libwinnow/test_table
TESTS += tests/libwinnow/test_table
tests_libwinnow_test_table_SOURCES = tests/libwinnow/test_table.c
tests_libwinnow_test_table_CFLAGS = $(WN_TEST_COMPILE_FLAGS)
tests_libwinnow_test_table_LDADD = $(WN_TEST_LIBS)
