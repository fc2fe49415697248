# tests/comms: the comms providers (ucx, nccl) and the connected_components
# stage.  Programs compile the plugins' sources directly (a plugin exports
# only its entry symbol) and share the rank harness in harness.c.
WN_COMMS_TEST_FLAGS = $(WN_TEST_COMPILE_FLAGS) $(JANSSON_CFLAGS) -I$(top_srcdir)/tests/comms
WN_COMMS_TEST_LIBS = $(WN_TEST_LIBS) $(JANSSON_LIBS)
WN_COMMS_UCX_SOURCES = plugins/backends/ucx/bootstrap.c plugins/backends/ucx/worker.c \
	plugins/backends/ucx/comms.c plugins/backends/ucx/comms_collectives.c \
	plugins/backends/ucx/comms_reduce.c
EXTRA_DIST += tests/comms/harness.h

check_PROGRAMS += tests/comms/test_ucx_comms
TESTS += tests/comms/test_ucx_comms
tests_comms_test_ucx_comms_SOURCES = tests/comms/test_ucx_comms.c
if HAVE_UCX
tests_comms_test_ucx_comms_SOURCES += tests/comms/harness.c $(WN_COMMS_UCX_SOURCES)
endif
tests_comms_test_ucx_comms_CFLAGS = $(WN_COMMS_TEST_FLAGS) $(UCX_CFLAGS) \
	-I$(top_srcdir)/plugins/backends/ucx
tests_comms_test_ucx_comms_LDADD = $(WN_COMMS_TEST_LIBS) $(UCX_LIBS)

check_PROGRAMS += tests/comms/test_connected_components
TESTS += tests/comms/test_connected_components
tests_comms_test_connected_components_SOURCES = tests/comms/test_connected_components.c
if HAVE_UCX
tests_comms_test_connected_components_SOURCES += tests/comms/harness.c $(WN_COMMS_UCX_SOURCES) \
	plugins/stages/graph/components.c plugins/stages/graph/connected_components.c
endif
tests_comms_test_connected_components_CFLAGS = $(WN_COMMS_TEST_FLAGS) $(UCX_CFLAGS) \
	-I$(top_srcdir)/plugins/backends/ucx -I$(top_srcdir)/plugins/stages/graph
tests_comms_test_connected_components_LDADD = $(WN_COMMS_TEST_LIBS) $(UCX_LIBS)

check_PROGRAMS += tests/comms/test_nccl
TESTS += tests/comms/test_nccl
tests_comms_test_nccl_SOURCES = tests/comms/test_nccl.c
if HAVE_NCCL
tests_comms_test_nccl_SOURCES += tests/comms/harness.c plugins/backends/nccl/nccl_comms.c
endif
tests_comms_test_nccl_CFLAGS = $(WN_COMMS_TEST_FLAGS) $(NCCL_CFLAGS) \
	-I$(top_srcdir)/plugins/backends/nccl
tests_comms_test_nccl_LDADD = $(WN_COMMS_TEST_LIBS) $(NCCL_LIBS)
