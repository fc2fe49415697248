# plugins/stages/graph: connected_components (a COMMS stage).  The stage lives
# in a convenience library so that tests/comms links the same objects the
# plugin is made of; plugin.c holds only the descriptor and entry point.
noinst_LTLIBRARIES += plugins/stages/graph/libgraph_stages.la
plugins_stages_graph_libgraph_stages_la_SOURCES = \
	plugins/stages/graph/components.c plugins/stages/graph/components.h \
	plugins/stages/graph/connected_components.c plugins/stages/graph/connected_components.h
plugins_stages_graph_libgraph_stages_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY)

plugins_LTLIBRARIES += plugins/stages/graph/graph.la
plugins_stages_graph_graph_la_SOURCES = plugins/stages/graph/plugin.c
plugins_stages_graph_graph_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY)
plugins_stages_graph_graph_la_LDFLAGS = -module -avoid-version -shared $(WN_PLUGIN_LINK_FLAGS)
plugins_stages_graph_graph_la_LIBADD = plugins/stages/graph/libgraph_stages.la \
	$(WN_PLUGIN_LINK_LIBS)
