# bench: benchmarks (DESIGN.md §9).  `make bench` builds and runs every one of
# them (BENCH_ARGS="..." passes options); `bench/run` does the same from the
# source tree.  They are built with the project but never run by `make check`.
bench_programs = bench/dispatch
noinst_PROGRAMS += bench/dispatch

# The actor_pool executor compiled in, driven through its entry point.
bench_dispatch_SOURCES = bench/dispatch.c \
	plugins/backends/actor_pool/actor_pool.c plugins/backends/actor_pool/stage_pool.c \
	plugins/backends/actor_pool/comms_stage.c \
	plugins/backends/actor_pool/pool.c plugins/backends/actor_pool/batching.c
bench_dispatch_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/backends/actor_pool
bench_dispatch_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
bench_dispatch_LDADD = $(top_builddir)/libwinnow/libwinnow.la $(JANSSON_LIBS) $(PTHREAD_LIBS)

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
endif

BENCH_ARGS =
bench: $(bench_programs)
	@for p in $(bench_programs); do \
	  echo "== $$p $(BENCH_ARGS)"; ./$$p $(BENCH_ARGS) || exit 1; \
	done
.PHONY: bench

dist_noinst_SCRIPTS += bench/run
