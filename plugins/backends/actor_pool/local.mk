# plugins/backends/actor_pool: the actor_pool executor backend (actor_pool.so).
# pool.c and batching.c are pure modules that tests/executor compiles directly.
plugins_LTLIBRARIES += plugins/backends/actor_pool/actor_pool.la
plugins_backends_actor_pool_actor_pool_la_SOURCES = \
	plugins/backends/actor_pool/actor_pool.c \
	plugins/backends/actor_pool/stage_pool.c plugins/backends/actor_pool/stage_pool.h \
	plugins/backends/actor_pool/comms_stage.c plugins/backends/actor_pool/comms_stage.h \
	plugins/backends/actor_pool/pool.c plugins/backends/actor_pool/pool.h \
	plugins/backends/actor_pool/batching.c plugins/backends/actor_pool/batching.h
plugins_backends_actor_pool_actor_pool_la_CFLAGS = $(AM_CFLAGS) $(WN_PLUGIN_VISIBILITY)
plugins_backends_actor_pool_actor_pool_la_LDFLAGS = -module -avoid-version -shared $(WN_PLUGIN_LINK_FLAGS)
plugins_backends_actor_pool_actor_pool_la_LIBADD = $(WN_PLUGIN_LINK_LIBS) $(PTHREAD_LIBS)
EXTRA_DIST += plugins/backends/actor_pool/README.md
