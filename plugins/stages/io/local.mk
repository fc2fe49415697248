# plugins/stages/io: file_partitioning, jsonl_reader, jsonl_writer.
# The stages live in a convenience library so that tests link the same objects
# the plugin is made of; plugin.c holds only the descriptor and entry point.
noinst_LTLIBRARIES += plugins/stages/io/libio_stages.la
plugins_stages_io_libio_stages_la_SOURCES = \
	plugins/stages/common/utf8.h plugins/stages/common/fnv.h \
	plugins/stages/io/file_partitioning.c plugins/stages/io/file_partitioning.h \
	plugins/stages/io/line_reader.c plugins/stages/io/line_reader.h \
	plugins/stages/io/columns.c plugins/stages/io/columns.h \
	plugins/stages/io/json_scan.c plugins/stages/io/json_scan.h plugins/stages/io/json_text.h \
	plugins/stages/io/jsonl_reader.c plugins/stages/io/jsonl_reader.h \
	plugins/stages/io/jsonl_writer.c plugins/stages/io/jsonl_writer.h
plugins_stages_io_libio_stages_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/stages/common
plugins_stages_io_libio_stages_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY) \
	$(JANSSON_CFLAGS) $(ZSTD_CFLAGS)

plugins_LTLIBRARIES += plugins/stages/io/io.la
plugins_stages_io_io_la_SOURCES = plugins/stages/io/plugin.c
plugins_stages_io_io_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY)
plugins_stages_io_io_la_LDFLAGS = -module -avoid-version -shared $(WN_PLUGIN_LINK_FLAGS)
plugins_stages_io_io_la_LIBADD = plugins/stages/io/libio_stages.la $(WN_PLUGIN_LINK_LIBS) \
	$(JANSSON_LIBS) $(ZSTD_LIBS)
