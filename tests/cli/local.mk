# End-to-end tests of the winnow command (needs the plugins and fixtures built first).
check_PROGRAMS += tests/cli/test_cli
TESTS += tests/cli/test_cli
tests_cli_test_cli_CFLAGS = $(WN_TEST_COMPILE_FLAGS)
tests_cli_test_cli_LDADD = $(CUNIT_LIBS)
EXTRA_DIST += examples/plugins/drop_empty/drop_empty.c examples/plugins/drop_empty/Makefile
