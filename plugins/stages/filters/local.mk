# plugins/stages/filters: word_count, non_alpha_numeric.
# The stages live in a convenience library so that tests link the same objects
# the plugin is made of; plugin.c holds only the descriptor and entry point.
noinst_LTLIBRARIES += plugins/stages/filters/libfilters_stages.la
plugins_stages_filters_libfilters_stages_la_SOURCES = \
	plugins/stages/common/utf8.h \
	plugins/stages/filters/text_filter.c plugins/stages/filters/text_filter.h \
	plugins/stages/filters/word_count.c plugins/stages/filters/word_count.h \
	plugins/stages/filters/non_alpha_numeric.c plugins/stages/filters/non_alpha_numeric.h
plugins_stages_filters_libfilters_stages_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/plugins/stages/common
plugins_stages_filters_libfilters_stages_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY)

plugins_LTLIBRARIES += plugins/stages/filters/filters.la
plugins_stages_filters_filters_la_SOURCES = plugins/stages/filters/plugin.c
plugins_stages_filters_filters_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY)
plugins_stages_filters_filters_la_LDFLAGS = -module -avoid-version -shared $(WN_PLUGIN_LINK_FLAGS)
plugins_stages_filters_filters_la_LIBADD = plugins/stages/filters/libfilters_stages.la \
	$(WN_PLUGIN_LINK_LIBS)
