# tests/stages: one program per stage.  Each compiles its plugin's plugin.c (the
# descriptor) and links the plugin's convenience library, so it runs the very
# objects io.so / filters.so are made of, without loading a plugin.
WN_STAGES_TEST_CFLAGS = $(WN_TEST_COMPILE_FLAGS) $(JANSSON_CFLAGS) $(ZSTD_CFLAGS)
WN_IO_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/stages/io \
	-I$(top_srcdir)/plugins/stages/common
WN_IO_TEST_LIBS = plugins/stages/io/libio_stages.la $(WN_TEST_LIBS) $(JANSSON_LIBS) $(ZSTD_LIBS)
WN_FILTERS_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/stages/filters \
	-I$(top_srcdir)/plugins/stages/common
WN_FILTERS_TEST_LIBS = plugins/stages/filters/libfilters_stages.la $(WN_TEST_LIBS) $(JANSSON_LIBS)
EXTRA_DIST += tests/stages/stage_harness.h

check_PROGRAMS += tests/stages/test_file_partitioning
TESTS += tests/stages/test_file_partitioning
tests_stages_test_file_partitioning_SOURCES = tests/stages/test_file_partitioning.c \
	plugins/stages/io/plugin.c
tests_stages_test_file_partitioning_CPPFLAGS = $(WN_IO_TEST_CPPFLAGS)
tests_stages_test_file_partitioning_CFLAGS = $(WN_STAGES_TEST_CFLAGS)
tests_stages_test_file_partitioning_LDADD = $(WN_IO_TEST_LIBS)

check_PROGRAMS += tests/stages/test_jsonl_reader
TESTS += tests/stages/test_jsonl_reader
tests_stages_test_jsonl_reader_SOURCES = tests/stages/test_jsonl_reader.c \
	plugins/stages/io/plugin.c
tests_stages_test_jsonl_reader_CPPFLAGS = $(WN_IO_TEST_CPPFLAGS)
tests_stages_test_jsonl_reader_CFLAGS = $(WN_STAGES_TEST_CFLAGS)
tests_stages_test_jsonl_reader_LDADD = $(WN_IO_TEST_LIBS)

check_PROGRAMS += tests/stages/test_jsonl_writer
TESTS += tests/stages/test_jsonl_writer
tests_stages_test_jsonl_writer_SOURCES = tests/stages/test_jsonl_writer.c \
	plugins/stages/io/plugin.c
tests_stages_test_jsonl_writer_CPPFLAGS = $(WN_IO_TEST_CPPFLAGS)
tests_stages_test_jsonl_writer_CFLAGS = $(WN_STAGES_TEST_CFLAGS)
tests_stages_test_jsonl_writer_LDADD = $(WN_IO_TEST_LIBS)

check_PROGRAMS += tests/stages/test_word_count
TESTS += tests/stages/test_word_count
tests_stages_test_word_count_SOURCES = tests/stages/test_word_count.c \
	plugins/stages/filters/plugin.c
tests_stages_test_word_count_CPPFLAGS = $(WN_FILTERS_TEST_CPPFLAGS)
tests_stages_test_word_count_CFLAGS = $(WN_STAGES_TEST_CFLAGS)
tests_stages_test_word_count_LDADD = $(WN_FILTERS_TEST_LIBS)

check_PROGRAMS += tests/stages/test_non_alpha_numeric
TESTS += tests/stages/test_non_alpha_numeric
tests_stages_test_non_alpha_numeric_SOURCES = tests/stages/test_non_alpha_numeric.c \
	plugins/stages/filters/plugin.c
tests_stages_test_non_alpha_numeric_CPPFLAGS = $(WN_FILTERS_TEST_CPPFLAGS)
tests_stages_test_non_alpha_numeric_CFLAGS = $(WN_STAGES_TEST_CFLAGS)
tests_stages_test_non_alpha_numeric_LDADD = $(WN_FILTERS_TEST_LIBS)

# columns.c compiled again with a 16-byte utf8 limit, to reach large_utf8 cheaply.
check_PROGRAMS += tests/stages/test_columns
TESTS += tests/stages/test_columns
tests_stages_test_columns_SOURCES = tests/stages/test_columns.c plugins/stages/io/columns.c
tests_stages_test_columns_CPPFLAGS = $(WN_IO_TEST_CPPFLAGS) -DIO_UTF8_MAX_BYTES=16
tests_stages_test_columns_CFLAGS = $(WN_TEST_COMPILE_FLAGS)
tests_stages_test_columns_LDADD = $(WN_TEST_LIBS)

# json_scan.c (jsonl_reader's line scanner) against jansson, compiled in; a
# second build takes the byte loop instead of the SSE2 string search.
check_PROGRAMS += tests/stages/test_json_scan tests/stages/test_json_scan_scalar
TESTS += tests/stages/test_json_scan tests/stages/test_json_scan_scalar
tests_stages_test_json_scan_SOURCES = tests/stages/test_json_scan.c plugins/stages/io/json_scan.c
tests_stages_test_json_scan_CPPFLAGS = $(WN_IO_TEST_CPPFLAGS)
tests_stages_test_json_scan_CFLAGS = $(WN_STAGES_TEST_CFLAGS)
tests_stages_test_json_scan_LDADD = $(WN_TEST_LIBS) $(JANSSON_LIBS)
tests_stages_test_json_scan_scalar_SOURCES = tests/stages/test_json_scan.c \
	plugins/stages/io/json_scan.c
tests_stages_test_json_scan_scalar_CPPFLAGS = $(WN_IO_TEST_CPPFLAGS) -DIO_JSON_SCALAR
tests_stages_test_json_scan_scalar_CFLAGS = $(WN_STAGES_TEST_CFLAGS)
tests_stages_test_json_scan_scalar_LDADD = $(WN_TEST_LIBS) $(JANSSON_LIBS)
