# bench/jsonl: JSON Lines reader and writer MB/s on one thread against a
# jansson parse of the same lines, on a corpus from tools/gen_dedup_corpus.
# Run by `make bench` with the other benchmarks.
bench_programs += bench/jsonl
noinst_PROGRAMS += bench/jsonl
bench_jsonl_SOURCES = bench/jsonl.c plugins/stages/io/plugin.c
bench_jsonl_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/stages/io \
	-I$(top_srcdir)/plugins/stages/common
bench_jsonl_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
bench_jsonl_LDADD = plugins/stages/io/libio_stages.la $(top_builddir)/libwinnow/libwinnow.la \
	$(JANSSON_LIBS) $(ZSTD_LIBS)
