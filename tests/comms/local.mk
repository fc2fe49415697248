# tests/comms: the comms providers (ucx, nccl) and the connected_components
# stage.  Programs link the plugins' convenience libraries (a plugin exports
# only its entry symbol) and share the rank harness in harness.c.
WN_COMMS_TEST_FLAGS = $(WN_TEST_COMPILE_FLAGS) $(JANSSON_CFLAGS) -I$(top_srcdir)/tests/comms
WN_COMMS_TEST_LIBS = $(WN_TEST_LIBS) $(JANSSON_LIBS)
if HAVE_UCX
WN_COMMS_UCX_LIBS = plugins/backends/ucx/libucx_comms.la plugins/backends/ucx/libucx_common.la
endif
if HAVE_NCCL
WN_COMMS_NCCL_LIBS = plugins/backends/nccl/libnccl_comms.la
endif
EXTRA_DIST += tests/comms/harness.h

check_PROGRAMS += tests/comms/test_ucx_comms
TESTS += tests/comms/test_ucx_comms
tests_comms_test_ucx_comms_SOURCES = tests/comms/test_ucx_comms.c
if HAVE_UCX
tests_comms_test_ucx_comms_SOURCES += tests/comms/harness.c
endif
tests_comms_test_ucx_comms_CFLAGS = $(WN_COMMS_TEST_FLAGS) $(UCX_CFLAGS) \
	-I$(top_srcdir)/plugins/backends/ucx
tests_comms_test_ucx_comms_LDADD = $(WN_COMMS_UCX_LIBS) $(WN_COMMS_TEST_LIBS) $(UCX_LIBS)

check_PROGRAMS += tests/comms/test_connected_components
TESTS += tests/comms/test_connected_components
tests_comms_test_connected_components_SOURCES = tests/comms/test_connected_components.c
if HAVE_UCX
tests_comms_test_connected_components_SOURCES += tests/comms/harness.c
endif
tests_comms_test_connected_components_CFLAGS = $(WN_COMMS_TEST_FLAGS) $(UCX_CFLAGS) \
	-I$(top_srcdir)/plugins/backends/ucx -I$(top_srcdir)/plugins/stages/graph
tests_comms_test_connected_components_LDADD = plugins/stages/graph/libgraph_stages.la \
	$(WN_COMMS_UCX_LIBS) $(WN_COMMS_TEST_LIBS) $(UCX_LIBS)

check_PROGRAMS += tests/comms/test_nccl
TESTS += tests/comms/test_nccl
tests_comms_test_nccl_SOURCES = tests/comms/test_nccl.c
if HAVE_NCCL
tests_comms_test_nccl_SOURCES += tests/comms/harness.c
endif
tests_comms_test_nccl_CFLAGS = $(WN_COMMS_TEST_FLAGS) $(NCCL_CFLAGS) \
	-I$(top_srcdir)/plugins/backends/nccl
tests_comms_test_nccl_LDADD = $(WN_COMMS_NCCL_LIBS) $(WN_COMMS_TEST_LIBS) $(NCCL_LIBS)

# COMMS stages through config, registry (the built plugins) and actor_pool.so.
check_PROGRAMS += tests/comms/test_comms_stage
TESTS += tests/comms/test_comms_stage
tests_comms_test_comms_stage_SOURCES = tests/comms/test_comms_stage.c
tests_comms_test_comms_stage_CFLAGS = $(WN_COMMS_TEST_FLAGS) $(UCX_CFLAGS) \
	-I$(top_srcdir)/plugins/backends/ucx
tests_comms_test_comms_stage_LDADD = $(WN_COMMS_UCX_LIBS) $(WN_COMMS_TEST_LIBS) $(UCX_LIBS)
