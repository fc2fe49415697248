# tests/fuzzy: the fuzzy-dedup stages, the MinHash core, the corpus generator
# and the quality harness.  Stage tests compile the plugin's plugin.c (the
# descriptor) and link its convenience library: the very objects of fuzzy.so.
WN_FUZZY_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/stages/fuzzy
WN_FUZZY_TEST_CFLAGS = $(WN_TEST_COMPILE_FLAGS) $(JANSSON_CFLAGS) $(ZSTD_CFLAGS)
WN_FUZZY_TEST_LIBS = plugins/stages/fuzzy/libfuzzy_stages.la $(WN_TEST_LIBS) $(JANSSON_LIBS) \
	$(ZSTD_LIBS) -lm
EXTRA_DIST += tests/fuzzy/fuzzy_harness.h

check_PROGRAMS += tests/fuzzy/test_minhash_core
TESTS += tests/fuzzy/test_minhash_core
tests_fuzzy_test_minhash_core_CPPFLAGS = $(WN_FUZZY_TEST_CPPFLAGS)
tests_fuzzy_test_minhash_core_CFLAGS = $(WN_TEST_COMPILE_FLAGS)
tests_fuzzy_test_minhash_core_LDADD = plugins/stages/fuzzy/libminhash_core.la $(CUNIT_LIBS) -lm

check_PROGRAMS += tests/fuzzy/test_minhash_stage
TESTS += tests/fuzzy/test_minhash_stage
tests_fuzzy_test_minhash_stage_SOURCES = tests/fuzzy/test_minhash_stage.c \
	plugins/stages/fuzzy/plugin.c
tests_fuzzy_test_minhash_stage_CPPFLAGS = $(WN_FUZZY_TEST_CPPFLAGS)
tests_fuzzy_test_minhash_stage_CFLAGS = $(WN_FUZZY_TEST_CFLAGS)
tests_fuzzy_test_minhash_stage_LDADD = $(WN_FUZZY_TEST_LIBS)

check_PROGRAMS += tests/fuzzy/test_buckets_to_edges
TESTS += tests/fuzzy/test_buckets_to_edges
tests_fuzzy_test_buckets_to_edges_SOURCES = tests/fuzzy/test_buckets_to_edges.c \
	plugins/stages/fuzzy/plugin.c
tests_fuzzy_test_buckets_to_edges_CPPFLAGS = $(WN_FUZZY_TEST_CPPFLAGS)
tests_fuzzy_test_buckets_to_edges_CFLAGS = $(WN_FUZZY_TEST_CFLAGS)
tests_fuzzy_test_buckets_to_edges_LDADD = $(WN_FUZZY_TEST_LIBS)

check_PROGRAMS += tests/fuzzy/test_remove_duplicates
TESTS += tests/fuzzy/test_remove_duplicates
tests_fuzzy_test_remove_duplicates_SOURCES = tests/fuzzy/test_remove_duplicates.c \
	plugins/stages/fuzzy/plugin.c
tests_fuzzy_test_remove_duplicates_CPPFLAGS = $(WN_FUZZY_TEST_CPPFLAGS)
tests_fuzzy_test_remove_duplicates_CFLAGS = $(WN_FUZZY_TEST_CFLAGS)
tests_fuzzy_test_remove_duplicates_LDADD = $(WN_FUZZY_TEST_LIBS)

# The generator and quality tests run tools/gen_dedup_corpus from the build tree.
EXTRA_DIST += tests/fuzzy/corpus_reader.h
check_PROGRAMS += tests/fuzzy/test_gen_dedup_corpus
TESTS += tests/fuzzy/test_gen_dedup_corpus
tests_fuzzy_test_gen_dedup_corpus_SOURCES = tests/fuzzy/test_gen_dedup_corpus.c \
	plugins/stages/fuzzy/plugin.c
tests_fuzzy_test_gen_dedup_corpus_CPPFLAGS = $(WN_FUZZY_TEST_CPPFLAGS)
tests_fuzzy_test_gen_dedup_corpus_CFLAGS = $(WN_FUZZY_TEST_CFLAGS)
tests_fuzzy_test_gen_dedup_corpus_LDADD = $(WN_FUZZY_TEST_LIBS)

check_PROGRAMS += tests/fuzzy/test_quality
TESTS += tests/fuzzy/test_quality
tests_fuzzy_test_quality_SOURCES = tests/fuzzy/test_quality.c plugins/stages/fuzzy/plugin.c
tests_fuzzy_test_quality_CPPFLAGS = $(WN_FUZZY_TEST_CPPFLAGS)
tests_fuzzy_test_quality_CFLAGS = $(WN_FUZZY_TEST_CFLAGS)
tests_fuzzy_test_quality_LDADD = $(WN_FUZZY_TEST_LIBS)

# Runs the winnow command over the build tree's plugins (fuzzy.so among them).
check_PROGRAMS += tests/fuzzy/test_fuzzy_pipeline
TESTS += tests/fuzzy/test_fuzzy_pipeline
tests_fuzzy_test_fuzzy_pipeline_SOURCES = tests/fuzzy/test_fuzzy_pipeline.c \
	plugins/stages/fuzzy/plugin.c
tests_fuzzy_test_fuzzy_pipeline_CPPFLAGS = $(WN_FUZZY_TEST_CPPFLAGS)
tests_fuzzy_test_fuzzy_pipeline_CFLAGS = $(WN_FUZZY_TEST_CFLAGS)
tests_fuzzy_test_fuzzy_pipeline_LDADD = $(WN_FUZZY_TEST_LIBS)

check_PROGRAMS += tests/fuzzy/test_dedup_quality
TESTS += tests/fuzzy/test_dedup_quality
tests_fuzzy_test_dedup_quality_SOURCES = tests/fuzzy/test_dedup_quality.c \
	plugins/stages/fuzzy/plugin.c
tests_fuzzy_test_dedup_quality_CPPFLAGS = $(WN_FUZZY_TEST_CPPFLAGS)
tests_fuzzy_test_dedup_quality_CFLAGS = $(WN_FUZZY_TEST_CFLAGS)
tests_fuzzy_test_dedup_quality_LDADD = $(WN_FUZZY_TEST_LIBS)

# With graph.so's connected_components over ucx comms (skipped without UCX).
check_PROGRAMS += tests/fuzzy/test_fuzzy_cc_pipeline
TESTS += tests/fuzzy/test_fuzzy_cc_pipeline
tests_fuzzy_test_fuzzy_cc_pipeline_SOURCES = tests/fuzzy/test_fuzzy_cc_pipeline.c \
	plugins/stages/fuzzy/plugin.c
tests_fuzzy_test_fuzzy_cc_pipeline_CPPFLAGS = $(WN_FUZZY_TEST_CPPFLAGS)
tests_fuzzy_test_fuzzy_cc_pipeline_CFLAGS = $(WN_FUZZY_TEST_CFLAGS)
tests_fuzzy_test_fuzzy_cc_pipeline_LDADD = $(WN_FUZZY_TEST_LIBS)

# The lsh stage: its hooks in-process, and the labels pipeline through the
# winnow command (ucx shuffle and comms; those tests need UCX).
check_PROGRAMS += tests/fuzzy/test_lsh
TESTS += tests/fuzzy/test_lsh
tests_fuzzy_test_lsh_SOURCES = tests/fuzzy/test_lsh.c plugins/stages/fuzzy/plugin.c
tests_fuzzy_test_lsh_CPPFLAGS = $(WN_FUZZY_TEST_CPPFLAGS)
tests_fuzzy_test_lsh_CFLAGS = $(WN_FUZZY_TEST_CFLAGS)
tests_fuzzy_test_lsh_LDADD = $(WN_FUZZY_TEST_LIBS)

# The Monte Carlo behind the permutation family's quality table in
# docs/fuzzy-dedup.md: built with the tests so it keeps compiling, run by hand
# (a few minutes: tests/fuzzy/minhash_montecarlo [TRIALS [TRIALS_5000]]).
check_PROGRAMS += tests/fuzzy/minhash_montecarlo
tests_fuzzy_minhash_montecarlo_CFLAGS = $(WN_TEST_COMPILE_FLAGS)
tests_fuzzy_minhash_montecarlo_LDADD = -lm
