# plugins/stages/dedup: exact_dedup (a SHUFFLE stage).
# The stage lives in a convenience library that tests link; plugin.c holds
# only the descriptor and the entry point.
noinst_LTLIBRARIES += plugins/stages/dedup/libdedup_stages.la
plugins_stages_dedup_libdedup_stages_la_SOURCES = \
	plugins/stages/dedup/exact_dedup.c plugins/stages/dedup/exact_dedup.h \
	plugins/stages/dedup/hash128.c plugins/stages/dedup/hash128.h
plugins_stages_dedup_libdedup_stages_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY)

plugins_LTLIBRARIES += plugins/stages/dedup/dedup.la
plugins_stages_dedup_dedup_la_SOURCES = plugins/stages/dedup/plugin.c
plugins_stages_dedup_dedup_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY)
plugins_stages_dedup_dedup_la_LDFLAGS = -module -avoid-version -shared $(WN_PLUGIN_LINK_FLAGS)
plugins_stages_dedup_dedup_la_LIBADD = plugins/stages/dedup/libdedup_stages.la \
	$(WN_PLUGIN_LINK_LIBS)
