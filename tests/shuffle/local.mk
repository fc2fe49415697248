# Tests of the ucx plugin's shuffle provider and of the exact_dedup stage.
# They compile the plugin's sources directly (a plugin exports only its entry
# symbol); without UCX the UCX-dependent programs build as a SKIP (exit 77).
WN_UCX_TEST_FLAGS = $(WN_TEST_COMPILE_FLAGS) $(UCX_CFLAGS) -I$(top_srcdir)/plugins/backends/ucx
WN_UCX_TEST_LIBS = $(WN_TEST_LIBS) $(UCX_LIBS)

check_PROGRAMS += tests/shuffle/test_bootstrap tests/shuffle/test_ucx_worker
TESTS += tests/shuffle/test_bootstrap tests/shuffle/test_ucx_worker

tests_shuffle_test_bootstrap_SOURCES = tests/shuffle/test_bootstrap.c \
	plugins/backends/ucx/bootstrap.c plugins/backends/ucx/bootstrap.h plugins/backends/ucx/clock.h
tests_shuffle_test_bootstrap_CFLAGS = $(WN_UCX_TEST_FLAGS)
tests_shuffle_test_bootstrap_LDADD = $(WN_TEST_LIBS)

tests_shuffle_test_ucx_worker_SOURCES = tests/shuffle/test_ucx_worker.c
if HAVE_UCX
tests_shuffle_test_ucx_worker_SOURCES += plugins/backends/ucx/bootstrap.c \
	plugins/backends/ucx/worker.c plugins/backends/ucx/worker.h
endif
tests_shuffle_test_ucx_worker_CFLAGS = $(WN_UCX_TEST_FLAGS)
tests_shuffle_test_ucx_worker_LDADD = $(WN_UCX_TEST_LIBS)
