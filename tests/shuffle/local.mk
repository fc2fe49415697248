# Tests of the ucx plugin's bootstrap seam, worker setup and shuffle provider,
# and of the exact_dedup stage.  UCX-dependent programs link the plugin's
# convenience libraries (a plugin exports only its entry symbol); without UCX
# they build as a SKIP (exit 77).
WN_UCX_TEST_FLAGS = $(WN_TEST_COMPILE_FLAGS) $(UCX_CFLAGS) -I$(top_srcdir)/plugins/backends/ucx
WN_UCX_TEST_LIBS = $(WN_TEST_LIBS) $(UCX_LIBS)
if HAVE_UCX
WN_UCX_TEST_COMMON = plugins/backends/ucx/libucx_common.la
WN_UCX_TEST_SHUFFLE = plugins/backends/ucx/libucx_shuffle.la plugins/backends/ucx/libucx_common.la
endif

check_PROGRAMS += tests/shuffle/test_bootstrap tests/shuffle/test_ucx_worker \
	tests/shuffle/test_shuffle_format tests/shuffle/test_shuffle_pool tests/shuffle/test_ucx_shuffle
TESTS += tests/shuffle/test_bootstrap tests/shuffle/test_ucx_worker \
	tests/shuffle/test_shuffle_format tests/shuffle/test_shuffle_pool tests/shuffle/test_ucx_shuffle

# Pure pthreads: runs with or without UCX.
tests_shuffle_test_bootstrap_SOURCES = tests/shuffle/test_bootstrap.c \
	plugins/backends/ucx/bootstrap.c plugins/backends/ucx/bootstrap.h plugins/backends/ucx/clock.h
tests_shuffle_test_bootstrap_CFLAGS = $(WN_UCX_TEST_FLAGS)
tests_shuffle_test_bootstrap_LDADD = $(WN_TEST_LIBS)

tests_shuffle_test_ucx_worker_SOURCES = tests/shuffle/test_ucx_worker.c
tests_shuffle_test_ucx_worker_CFLAGS = $(WN_UCX_TEST_FLAGS)
tests_shuffle_test_ucx_worker_LDADD = $(WN_UCX_TEST_COMMON) $(WN_UCX_TEST_LIBS)

# Segments and the partition store need no UCX either.
tests_shuffle_test_shuffle_format_SOURCES = tests/shuffle/test_shuffle_format.c \
	tests/shuffle/rows.c tests/shuffle/rows.h \
	plugins/backends/ucx/shuffle_format.c plugins/backends/ucx/shuffle_format.h \
	plugins/backends/ucx/shuffle_pool.c plugins/backends/ucx/shuffle_pool.h \
	plugins/backends/ucx/shuffle_store.c plugins/backends/ucx/shuffle_store.h
tests_shuffle_test_shuffle_format_CFLAGS = $(WN_UCX_TEST_FLAGS)
tests_shuffle_test_shuffle_format_LDADD = $(WN_TEST_LIBS)

# The buffer pool needs no UCX.
tests_shuffle_test_shuffle_pool_SOURCES = tests/shuffle/test_shuffle_pool.c \
	plugins/backends/ucx/shuffle_pool.c plugins/backends/ucx/shuffle_pool.h \
	plugins/backends/ucx/alloc.h
tests_shuffle_test_shuffle_pool_CFLAGS = $(WN_UCX_TEST_FLAGS)
tests_shuffle_test_shuffle_pool_LDADD = $(WN_TEST_LIBS)

tests_shuffle_test_ucx_shuffle_SOURCES = tests/shuffle/test_ucx_shuffle.c \
	tests/shuffle/rows.c tests/shuffle/rows.h
tests_shuffle_test_ucx_shuffle_CFLAGS = $(WN_UCX_TEST_FLAGS) $(JANSSON_CFLAGS)
tests_shuffle_test_ucx_shuffle_LDADD = $(WN_UCX_TEST_SHUFFLE) $(WN_UCX_TEST_LIBS) $(JANSSON_LIBS)

# exact_dedup: the stage's hooks alone, and (with UCX) a whole shuffle over
# the ucx provider.  Compiles the dedup plugin's descriptor (plugin.c) and
# links its convenience library, as tests/stages does for io and filters.
check_PROGRAMS += tests/shuffle/test_exact_dedup
TESTS += tests/shuffle/test_exact_dedup
tests_shuffle_test_exact_dedup_SOURCES = tests/shuffle/test_exact_dedup.c \
	plugins/stages/dedup/plugin.c
tests_shuffle_test_exact_dedup_CFLAGS = $(WN_UCX_TEST_FLAGS) $(JANSSON_CFLAGS) \
	-I$(top_srcdir)/plugins/stages/dedup -I$(top_srcdir)/tests/stages
tests_shuffle_test_exact_dedup_LDADD = plugins/stages/dedup/libdedup_stages.la \
	$(WN_UCX_TEST_SHUFFLE) $(WN_UCX_TEST_LIBS) $(JANSSON_LIBS)

# SHUFFLE stages on the actor_pool executor: its shuffle_stage.c compiled in,
# over the ucx provider, with exact_dedup and an in-test failing stage.
check_PROGRAMS += tests/shuffle/test_shuffle_stage
TESTS += tests/shuffle/test_shuffle_stage
tests_shuffle_test_shuffle_stage_SOURCES = tests/shuffle/test_shuffle_stage.c
if HAVE_UCX
tests_shuffle_test_shuffle_stage_SOURCES += $(WN_ACTOR_POOL_SOURCES)
endif
tests_shuffle_test_shuffle_stage_CFLAGS = $(WN_UCX_TEST_FLAGS) $(JANSSON_CFLAGS) \
	-I$(top_srcdir)/plugins/backends/actor_pool -I$(top_srcdir)/plugins/stages/dedup
tests_shuffle_test_shuffle_stage_LDADD = plugins/stages/dedup/libdedup_stages.la \
	$(WN_UCX_TEST_SHUFFLE) $(WN_UCX_TEST_LIBS) $(JANSSON_LIBS) $(WN_ACTOR_POOL_LIBS)

# examples/pipelines/exact-dedup.json through the winnow command and the
# build tree's plugins.
check_PROGRAMS += tests/shuffle/test_dedup_pipeline
TESTS += tests/shuffle/test_dedup_pipeline
tests_shuffle_test_dedup_pipeline_SOURCES = tests/shuffle/test_dedup_pipeline.c
tests_shuffle_test_dedup_pipeline_CFLAGS = $(WN_TEST_COMPILE_FLAGS)
tests_shuffle_test_dedup_pipeline_LDADD = $(CUNIT_LIBS)
