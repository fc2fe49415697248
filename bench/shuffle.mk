# bench/shuffle: the ucx shuffle provider against ucx_perftest (DESIGN.md §9).
# Built with the project when UCX is found; `make bench-shuffle` runs it (with
# SHUFFLE_BENCH_ARGS), and so does `make bench`, before the other benchmarks.
# Never run by `make check`.
bench_shuffle_programs =
if HAVE_UCX
noinst_PROGRAMS += bench/shuffle
bench_shuffle_programs += bench/shuffle
bench_shuffle_SOURCES = bench/shuffle.c
bench_shuffle_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/backends/ucx
bench_shuffle_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(UCX_CFLAGS)
bench_shuffle_LDADD = plugins/backends/ucx/libucx_shuffle.la \
	plugins/backends/ucx/libucx_common.la $(top_builddir)/libwinnow/libwinnow.la \
	$(UCX_LIBS) $(JANSSON_LIBS) $(PTHREAD_LIBS)
endif

SHUFFLE_BENCH_ARGS =
bench-shuffle: $(bench_shuffle_programs)
	@if test -n "$(bench_shuffle_programs)"; then \
	  echo "== bench/shuffle $(SHUFFLE_BENCH_ARGS)"; ./bench/shuffle $(SHUFFLE_BENCH_ARGS); \
	else echo "== bench/shuffle: skipped (built without UCX)"; fi
bench: bench-shuffle
.PHONY: bench-shuffle
