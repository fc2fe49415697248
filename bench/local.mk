# bench: benchmarks (DESIGN.md §9).  `make bench` builds and runs every one of
# them (dispatch at batch_size 1 and 64, then memory); `bench/run` does the
# same from the source tree.  They are built with the project but never run
# by `make check`.
bench_programs = bench/dispatch bench/memory
noinst_PROGRAMS += bench/dispatch bench/memory

# The actor_pool executor compiled in, driven through its entry point.
bench_dispatch_SOURCES = bench/dispatch.c $(WN_ACTOR_POOL_SOURCES)
bench_dispatch_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/backends/actor_pool
bench_dispatch_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
bench_dispatch_LDADD = $(top_builddir)/libwinnow/libwinnow.la $(JANSSON_LIBS) $(WN_ACTOR_POOL_LIBS)

# Peak memory as the input grows 10x, streaming against barrier mode.
bench_memory_SOURCES = bench/memory.c $(WN_ACTOR_POOL_SOURCES)
bench_memory_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/backends/actor_pool
bench_memory_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
bench_memory_LDADD = $(top_builddir)/libwinnow/libwinnow.la $(JANSSON_LIBS) $(WN_ACTOR_POOL_LIBS)

# BENCH_ARGS go to bench/dispatch, MEMORY_ARGS to bench/memory (their options differ).

# The ucx comms provider beside ucx_perftest (bench/comms.c); needs UCX.
if HAVE_UCX
bench_programs += bench/comms
noinst_PROGRAMS += bench/comms
bench_comms_SOURCES = bench/comms.c tests/comms/harness.c tests/comms/harness.h
bench_comms_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/backends/ucx \
	-I$(top_srcdir)/tests/comms
bench_comms_CFLAGS = $(AM_CFLAGS) $(UCX_CFLAGS) $(JANSSON_CFLAGS)
bench_comms_LDADD = plugins/backends/ucx/libucx_comms.la plugins/backends/ucx/libucx_common.la \
	$(top_builddir)/libwinnow/libwinnow.la $(UCX_LIBS) $(JANSSON_LIBS) $(PTHREAD_LIBS)
WN_BENCH_COMMS_RUN = && echo "== bench/comms" && ./bench/comms
endif

BENCH_ARGS =
MEMORY_ARGS =
bench: $(bench_programs)
	@echo "== bench/dispatch $(BENCH_ARGS)" && ./bench/dispatch $(BENCH_ARGS) && \
	  echo "== bench/dispatch -b 64 $(BENCH_ARGS)" && ./bench/dispatch -b 64 $(BENCH_ARGS) && \
	  echo "== bench/memory $(MEMORY_ARGS)" && ./bench/memory $(MEMORY_ARGS) $(WN_BENCH_COMMS_RUN) && \
	  echo "== bench/minhash" && ./bench/minhash && \
	  echo "== bench/jsonl" && ./bench/jsonl
.PHONY: bench

dist_noinst_SCRIPTS += bench/run
