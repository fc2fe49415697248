# tests/libwinnow: the pipeline configuration module (libwinnow/config.c).
check_PROGRAMS += tests/libwinnow/test_config
TESTS += tests/libwinnow/test_config
tests_libwinnow_test_config_SOURCES = tests/libwinnow/test_config.c
tests_libwinnow_test_config_CFLAGS = $(WN_TEST_COMPILE_FLAGS)
tests_libwinnow_test_config_LDADD = $(WN_TEST_LIBS)
EXTRA_DIST += \
	tests/libwinnow/data/config_good.json \
	tests/libwinnow/data/config_syntax.json \
	tests/libwinnow/data/config_duplicate.json
