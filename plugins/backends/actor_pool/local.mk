# plugins/backends/actor_pool: the actor_pool executor backend (actor_pool.so).
# Tests and benchmarks compile these sources directly (the plugin exports
# only its entry symbol): WN_ACTOR_POOL_SOURCES lists them once.
WN_ACTOR_POOL_SOURCES = \
	plugins/backends/actor_pool/actor_pool.c \
	plugins/backends/actor_pool/executor.h \
	plugins/backends/actor_pool/actor.c \
	plugins/backends/actor_pool/plain_stage.c plugins/backends/actor_pool/plain_stage.h \
	plugins/backends/actor_pool/barrier.c plugins/backends/actor_pool/barrier.h \
	plugins/backends/actor_pool/kinds.c \
	plugins/backends/actor_pool/comms_stage.c plugins/backends/actor_pool/comms_stage.h \
	plugins/backends/actor_pool/shuffle_stage.c plugins/backends/actor_pool/shuffle_stage.h \
	plugins/backends/actor_pool/report.c \
	plugins/backends/actor_pool/trace.c \
	plugins/backends/actor_pool/gpu.c plugins/backends/actor_pool/gpu.h \
	plugins/backends/actor_pool/wait.c plugins/backends/actor_pool/wait.h \
	plugins/backends/actor_pool/pool.c plugins/backends/actor_pool/pool.h \
	plugins/backends/actor_pool/batching.c plugins/backends/actor_pool/batching.h
WN_ACTOR_POOL_LIBS = $(PTHREAD_LIBS) -ldl -lm

plugins_LTLIBRARIES += plugins/backends/actor_pool/actor_pool.la
plugins_backends_actor_pool_actor_pool_la_SOURCES = $(WN_ACTOR_POOL_SOURCES)
plugins_backends_actor_pool_actor_pool_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY)
plugins_backends_actor_pool_actor_pool_la_LDFLAGS = -module -avoid-version -shared $(WN_PLUGIN_LINK_FLAGS)
plugins_backends_actor_pool_actor_pool_la_LIBADD = $(WN_PLUGIN_LINK_LIBS) $(WN_ACTOR_POOL_LIBS)
EXTRA_DIST += plugins/backends/actor_pool/README.md
