# tools/gen_dedup_corpus: the fuzzy-dedup corpus generator (ground truth
# included), used by the fuzzy tests, bench/minhash and the demo.  It shares
# the shingling and shingle hash with the minhash stage (libminhash_core).
noinst_PROGRAMS += tools/gen_dedup_corpus
tools_gen_dedup_corpus_SOURCES = tools/gen_dedup_corpus.c
tools_gen_dedup_corpus_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/stages/fuzzy
tools_gen_dedup_corpus_LDADD = plugins/stages/fuzzy/libminhash_core.la -lm
