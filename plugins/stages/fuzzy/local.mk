# plugins/stages/fuzzy: minhash, lsh, buckets_to_edges, remove_duplicates.
# libminhash_core holds the algorithm alone (no libwinnow): the corpus
# generator and the bench link it too.  The stages live in a convenience
# library so that tests link the same objects fuzzy.so is made of; plugin.c
# holds only the descriptor and entry point.
noinst_LTLIBRARIES += plugins/stages/fuzzy/libminhash_core.la
plugins_stages_fuzzy_libminhash_core_la_SOURCES = \
	plugins/stages/fuzzy/minhash_core.c plugins/stages/fuzzy/minhash_core.h \
	plugins/stages/fuzzy/minhash_kernels.c
plugins_stages_fuzzy_libminhash_core_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY)

noinst_LTLIBRARIES += plugins/stages/fuzzy/libfuzzy_stages.la
plugins_stages_fuzzy_libfuzzy_stages_la_SOURCES = \
	plugins/stages/fuzzy/fuzzy_common.c plugins/stages/fuzzy/fuzzy_common.h \
	plugins/stages/fuzzy/labels.c plugins/stages/fuzzy/labels.h \
	plugins/stages/fuzzy/minhash.c plugins/stages/fuzzy/minhash.h \
	plugins/stages/fuzzy/lsh.c plugins/stages/fuzzy/lsh.h \
	plugins/stages/fuzzy/buckets_to_edges.c plugins/stages/fuzzy/buckets_to_edges.h \
	plugins/stages/fuzzy/remove_duplicates.c plugins/stages/fuzzy/remove_duplicates.h
plugins_stages_fuzzy_libfuzzy_stages_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY) \
	$(JANSSON_CFLAGS) $(ZSTD_CFLAGS)
plugins_stages_fuzzy_libfuzzy_stages_la_LIBADD = plugins/stages/fuzzy/libminhash_core.la

plugins_LTLIBRARIES += plugins/stages/fuzzy/fuzzy.la
plugins_stages_fuzzy_fuzzy_la_SOURCES = plugins/stages/fuzzy/plugin.c
plugins_stages_fuzzy_fuzzy_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY)
plugins_stages_fuzzy_fuzzy_la_LDFLAGS = -module -avoid-version -shared $(WN_PLUGIN_LINK_FLAGS)
plugins_stages_fuzzy_fuzzy_la_LIBADD = plugins/stages/fuzzy/libfuzzy_stages.la \
	$(WN_PLUGIN_LINK_LIBS) $(JANSSON_LIBS) $(ZSTD_LIBS) $(PTHREAD_LIBS)
