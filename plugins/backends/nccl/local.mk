# plugins/backends/nccl: the nccl comms provider (nccl.so), built when
# configure found CUDA and NCCL.  nccl_comms.c is compiled into a convenience
# library so that tests/comms links the same objects the plugin is made of.
if HAVE_NCCL
noinst_LTLIBRARIES += plugins/backends/nccl/libnccl_comms.la
plugins_backends_nccl_libnccl_comms_la_SOURCES = \
	plugins/backends/nccl/nccl_comms.c plugins/backends/nccl/nccl_comms.h
plugins_backends_nccl_libnccl_comms_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY) $(NCCL_CFLAGS)

plugins_LTLIBRARIES += plugins/backends/nccl/nccl.la
plugins_backends_nccl_nccl_la_SOURCES = plugins/backends/nccl/plugin.c
plugins_backends_nccl_nccl_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY)
plugins_backends_nccl_nccl_la_LDFLAGS = -module -avoid-version -shared $(WN_PLUGIN_LINK_FLAGS)
plugins_backends_nccl_nccl_la_LIBADD = plugins/backends/nccl/libnccl_comms.la \
	$(WN_PLUGIN_LINK_LIBS) $(NCCL_LIBS) $(PTHREAD_LIBS)
endif
