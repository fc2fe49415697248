# tests/executor: the actor_pool executor backend.  Each program compiles the
# plugin's sources it tests directly (the plugin exports only its entry symbol).
WN_EXECUTOR_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/backends/actor_pool

check_PROGRAMS += tests/executor/test_pool tests/executor/test_batching \
	tests/executor/test_actor_pool
TESTS += tests/executor/test_pool tests/executor/test_batching tests/executor/test_actor_pool

tests_executor_test_pool_SOURCES = tests/executor/test_pool.c \
	plugins/backends/actor_pool/pool.c plugins/backends/actor_pool/gpu.c
tests_executor_test_pool_CPPFLAGS = $(WN_EXECUTOR_TEST_CPPFLAGS)
tests_executor_test_pool_CFLAGS = $(WN_TEST_COMPILE_FLAGS)
tests_executor_test_pool_LDADD = $(WN_TEST_LIBS) -ldl -lm

tests_executor_test_batching_SOURCES = tests/executor/test_batching.c \
	plugins/backends/actor_pool/batching.c
tests_executor_test_batching_CPPFLAGS = $(WN_EXECUTOR_TEST_CPPFLAGS)
tests_executor_test_batching_CFLAGS = $(WN_TEST_COMPILE_FLAGS)
tests_executor_test_batching_LDADD = $(WN_TEST_LIBS)

tests_executor_test_actor_pool_SOURCES = tests/executor/test_actor_pool.c \
	tests/executor/probe.c tests/executor/probe.h $(WN_ACTOR_POOL_SOURCES)
tests_executor_test_actor_pool_CPPFLAGS = $(WN_EXECUTOR_TEST_CPPFLAGS)
tests_executor_test_actor_pool_CFLAGS = $(WN_TEST_COMPILE_FLAGS) $(JANSSON_CFLAGS)
tests_executor_test_actor_pool_LDADD = $(WN_TEST_LIBS) $(JANSSON_LIBS) $(WN_ACTOR_POOL_LIBS)

check_PROGRAMS += tests/executor/test_faults
TESTS += tests/executor/test_faults
tests_executor_test_faults_SOURCES = tests/executor/test_faults.c \
	tests/executor/probe.c tests/executor/probe.h $(WN_ACTOR_POOL_SOURCES)
tests_executor_test_faults_CPPFLAGS = $(WN_EXECUTOR_TEST_CPPFLAGS)
tests_executor_test_faults_CFLAGS = $(WN_TEST_COMPILE_FLAGS) $(JANSSON_CFLAGS)
tests_executor_test_faults_LDADD = $(WN_TEST_LIBS) $(JANSSON_LIBS) $(WN_ACTOR_POOL_LIBS)

check_PROGRAMS += tests/executor/test_observe
TESTS += tests/executor/test_observe
tests_executor_test_observe_SOURCES = tests/executor/test_observe.c \
	tests/executor/probe.c tests/executor/probe.h $(WN_ACTOR_POOL_SOURCES)
tests_executor_test_observe_CPPFLAGS = $(WN_EXECUTOR_TEST_CPPFLAGS)
tests_executor_test_observe_CFLAGS = $(WN_TEST_COMPILE_FLAGS) $(JANSSON_CFLAGS)
tests_executor_test_observe_LDADD = $(WN_TEST_LIBS) $(JANSSON_LIBS) $(WN_ACTOR_POOL_LIBS)

check_PROGRAMS += tests/executor/test_gpu
TESTS += tests/executor/test_gpu
tests_executor_test_gpu_SOURCES = tests/executor/test_gpu.c \
	tests/executor/probe.c tests/executor/probe.h $(WN_ACTOR_POOL_SOURCES)
tests_executor_test_gpu_CPPFLAGS = $(WN_EXECUTOR_TEST_CPPFLAGS)
tests_executor_test_gpu_CFLAGS = $(WN_TEST_COMPILE_FLAGS) $(JANSSON_CFLAGS)
tests_executor_test_gpu_LDADD = $(WN_TEST_LIBS) $(JANSSON_LIBS) $(WN_ACTOR_POOL_LIBS)

# The end of a streaming PLAIN stage, driven step by step.
check_PROGRAMS += tests/executor/test_plain_close
TESTS += tests/executor/test_plain_close
tests_executor_test_plain_close_SOURCES = tests/executor/test_plain_close.c $(WN_ACTOR_POOL_SOURCES)
tests_executor_test_plain_close_CPPFLAGS = $(WN_EXECUTOR_TEST_CPPFLAGS)
tests_executor_test_plain_close_CFLAGS = $(WN_TEST_COMPILE_FLAGS)
tests_executor_test_plain_close_LDADD = $(WN_TEST_LIBS) $(WN_ACTOR_POOL_LIBS)

# The built shared object, loaded with dlopen (RTLD_NOW).
check_PROGRAMS += tests/executor/test_actor_pool_so
TESTS += tests/executor/test_actor_pool_so
tests_executor_test_actor_pool_so_SOURCES = tests/executor/test_actor_pool_so.c
tests_executor_test_actor_pool_so_CFLAGS = $(WN_TEST_COMPILE_FLAGS)
tests_executor_test_actor_pool_so_LDADD = $(WN_TEST_LIBS)
EXTRA_tests_executor_test_actor_pool_so_DEPENDENCIES = plugins/backends/actor_pool/actor_pool.la

# `winnow run` meets a hung hook: the command must exit, not hang.
check_LTLIBRARIES += tests/executor/hang_stage.la
tests_executor_hang_stage_la_SOURCES = tests/executor/hang_stage.c
tests_executor_hang_stage_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY)
tests_executor_hang_stage_la_LIBADD = $(WN_PLUGIN_LINK_LIBS)
tests_executor_hang_stage_la_LDFLAGS = -module -avoid-version -shared $(WN_PLUGIN_LINK_FLAGS) -rpath $(abs_builddir)
TESTS += tests/executor/cli_timeout.sh
EXTRA_DIST += tests/executor/cli_timeout.sh

# COMMS and SHUFFLE stages as actors: GPUs, timeouts, report rows, trace.
check_PROGRAMS += tests/executor/test_kinds
TESTS += tests/executor/test_kinds
tests_executor_test_kinds_SOURCES = tests/executor/test_kinds.c \
	tests/executor/probe.c tests/executor/probe.h $(WN_ACTOR_POOL_SOURCES)
tests_executor_test_kinds_CPPFLAGS = $(WN_EXECUTOR_TEST_CPPFLAGS)
tests_executor_test_kinds_CFLAGS = $(WN_TEST_COMPILE_FLAGS) $(JANSSON_CFLAGS)
tests_executor_test_kinds_LDADD = $(WN_TEST_LIBS) $(JANSSON_LIBS) $(WN_ACTOR_POOL_LIBS)
