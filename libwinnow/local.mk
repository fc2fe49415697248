# libwinnow: the runtime every plugin and the winnow command link.
lib_LTLIBRARIES += libwinnow/libwinnow.la
libwinnow_libwinnow_la_SOURCES = \
	libwinnow/error.c \
	libwinnow/log.c \
	libwinnow/params.c libwinnow/params_internal.h \
	libwinnow/task.c \
	libwinnow/table.c \
	libwinnow/emitter.c \
	libwinnow/registry.c libwinnow/registry.h \
	libwinnow/config.c libwinnow/config.h \
	libwinnow/pipeline.c libwinnow/pipeline.h
libwinnow_libwinnow_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
libwinnow_libwinnow_la_LIBADD = $(JANSSON_LIBS) $(LTDL_LIBS) $(PTHREAD_LIBS)
libwinnow_libwinnow_la_LDFLAGS = -no-undefined -version-info $(WN_LT_VERSION) \
	-Wl,--version-script=$(srcdir)/libwinnow/libwinnow.map
EXTRA_libwinnow_libwinnow_la_DEPENDENCIES = libwinnow/libwinnow.map
EXTRA_DIST += libwinnow/libwinnow.map
