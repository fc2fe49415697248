# bench/minhash: MinHash MB/s per core for each kernel, on a corpus from
# tools/gen_dedup_corpus.  Run by `make bench` with the other benchmarks.
bench_programs += bench/minhash
noinst_PROGRAMS += bench/minhash
bench_minhash_SOURCES = bench/minhash.c
bench_minhash_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/stages/fuzzy
bench_minhash_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
bench_minhash_LDADD = plugins/stages/fuzzy/libminhash_core.la $(JANSSON_LIBS)

# bench/fuzzy_dedup.sh: end-to-end fuzzy dedup of a generated corpus with the
# winnow command (wall time, peak RSS, per-stage split, precision and
# recall); one command, run by hand (`bench/fuzzy_dedup.sh --bytes 1073741824`).
dist_noinst_SCRIPTS += bench/fuzzy_dedup.sh bench/fuzzy_score.sh
