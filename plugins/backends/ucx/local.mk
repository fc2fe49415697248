# plugins/backends/ucx: the ucx plugin.  Built only when configure found UCX.
# Each provider lives in a convenience library that the plugin and the tests
# link alike; plugin.c holds only the descriptor.  Shared by every provider:
# the bootstrap seam (bootstrap.*) and the worker setup (worker.*).
if HAVE_UCX
WN_UCX_PLUGIN_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY) $(UCX_CFLAGS)

noinst_LTLIBRARIES += plugins/backends/ucx/libucx_common.la
plugins_backends_ucx_libucx_common_la_SOURCES = \
	plugins/backends/ucx/bootstrap.c plugins/backends/ucx/bootstrap.h \
	plugins/backends/ucx/clock.h \
	plugins/backends/ucx/worker.c plugins/backends/ucx/worker.h
plugins_backends_ucx_libucx_common_la_CFLAGS = $(WN_UCX_PLUGIN_CFLAGS)

# The shuffle provider.
noinst_LTLIBRARIES += plugins/backends/ucx/libucx_shuffle.la
plugins_backends_ucx_libucx_shuffle_la_SOURCES = \
	plugins/backends/ucx/shuffle.c plugins/backends/ucx/shuffle_provider.h \
	plugins/backends/ucx/alloc.h \
	plugins/backends/ucx/shuffle_format.c plugins/backends/ucx/shuffle_format.h \
	plugins/backends/ucx/shuffle_pool.c plugins/backends/ucx/shuffle_pool.h \
	plugins/backends/ucx/shuffle_store.c plugins/backends/ucx/shuffle_store.h
plugins_backends_ucx_libucx_shuffle_la_CFLAGS = $(WN_UCX_PLUGIN_CFLAGS)

# The comms provider (host-memory collectives for COMMS stages).
noinst_LTLIBRARIES += plugins/backends/ucx/libucx_comms.la
plugins_backends_ucx_libucx_comms_la_SOURCES = \
	plugins/backends/ucx/comms.c plugins/backends/ucx/comms.h \
	plugins/backends/ucx/comms_internal.h plugins/backends/ucx/comms_collectives.c \
	plugins/backends/ucx/comms_reduce.c
plugins_backends_ucx_libucx_comms_la_CFLAGS = $(WN_UCX_PLUGIN_CFLAGS)

plugins_LTLIBRARIES += plugins/backends/ucx/ucx.la
plugins_backends_ucx_ucx_la_SOURCES = plugins/backends/ucx/plugin.c
plugins_backends_ucx_ucx_la_CFLAGS = $(WN_UCX_PLUGIN_CFLAGS)
plugins_backends_ucx_ucx_la_LDFLAGS = -module -avoid-version -shared $(WN_PLUGIN_LINK_FLAGS)
plugins_backends_ucx_ucx_la_LIBADD = plugins/backends/ucx/libucx_shuffle.la \
	plugins/backends/ucx/libucx_comms.la \
	plugins/backends/ucx/libucx_common.la \
	$(WN_PLUGIN_LINK_LIBS) $(UCX_LIBS) $(PTHREAD_LIBS)
endif
