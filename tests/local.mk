# Test environment: the build tree only, never installed plugins.
# Every plugin folder of the build tree (each plugin's .libs), found rather
# than listed, so a new plugin needs no edit here.
WN_BUILD_PLUGIN_PATH = $$(find '$(abs_top_builddir)/plugins' -type d -name .libs | sort | tr '\n' : | sed 's/:$$//')
AM_TESTS_ENVIRONMENT = \
	WN_TOP_BUILDDIR='$(abs_top_builddir)'; export WN_TOP_BUILDDIR; \
	WN_TOP_SRCDIR='$(abs_top_srcdir)'; export WN_TOP_SRCDIR; \
	WINNOW_PLUGIN_PATH="$(WN_BUILD_PLUGIN_PATH)"; export WINNOW_PLUGIN_PATH; \
	WINNOW_NO_DEFAULT_PLUGIN_DIR=1; export WINNOW_NO_DEFAULT_PLUGIN_DIR; \
	ASAN_OPTIONS='detect_leaks=1:abort_on_error=0'; export ASAN_OPTIONS; \
	UBSAN_OPTIONS='print_stacktrace=1:halt_on_error=1'; export UBSAN_OPTIONS;
WN_TEST_COMPILE_FLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) -I$(top_srcdir)/tests/common
WN_TEST_LIBS = $(top_builddir)/libwinnow/libwinnow.la $(CUNIT_LIBS) $(PTHREAD_LIBS)
EXTRA_DIST += tests/common/cu.h tests/common/harness.h
