/*
 * The built actor_pool.so itself: it loads with every symbol bound
 * (RTLD_NOW), exports only its entry point, and runs a pipeline.  Kept apart
 * from test_actor_pool, which compiles the sources in, so that a broken
 * shared object (an undefined symbol, a leaked export) fails here.
 */
#include "build_config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/plugin.h>

#include "cu.h"
#include "registry.h"

static void *handle;
static const struct wn_plugin *(*entry)(void);

static int open_plugin(void)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/plugins/backends/actor_pool/.libs/actor_pool.so",
             wn_test_builddir());
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
        return 1;
    }
    *(void **)&entry = dlsym(handle, WN_PLUGIN_ENTRY_SYMBOL);
    return entry == NULL;
}

static int close_plugin(void)
{
    return handle != NULL && dlclose(handle) != 0;
}

static void test_exports_only_the_entry_point(void)
{
    static const char *const internals[] = { "wn_ap_plain_new",    "wn_ap_stage_fail",
                                             "wn_gpu_discover",    "wn_pool_plan",
                                             "wn_pool_max_actors", "wn_batching_split",
                                             "actor_pool_run",     NULL };

    CU_ASSERT_PTR_NOT_NULL_FATAL(entry);
    for (const char *const *name = internals; *name != NULL; name++)
        CU_ASSERT_PTR_NULL(dlsym(handle, *name));
}

static void test_descriptor_is_valid(void)
{
    const struct wn_plugin *plugin = entry();
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_registry_validate_plugin(plugin, "actor_pool.so", &err), 0);
    CU_ASSERT_STRING_EQUAL(plugin->name, "actor_pool");
    CU_ASSERT_PTR_NOT_NULL_FATAL(plugin->backends);
    CU_ASSERT_STRING_EQUAL(plugin->backends[0]->name, "actor_pool");
    CU_ASSERT_EQUAL(plugin->backends[0]->kind, WN_BACKEND_EXECUTOR);
    CU_ASSERT_EQUAL(plugin->backends[0]->struct_size, sizeof(struct wn_backend_desc));
    CU_ASSERT_PTR_NULL(plugin->backends[1]);
}

static int forward(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                   struct wn_error *err)
{
    (void)state;
    (void)err;
    for (size_t i = 0; i < n_in; i++)
        wn_emit(out, wn_task_take(&in[i]));
    return 0;
}

static const struct wn_stage_ops forward_ops = {
    WN_STAGE_OPS_VERSION, NULL, NULL, NULL, forward, NULL, NULL, { NULL }
};
static const struct wn_stage_desc forward_desc = {
    WN_STAGE_HEADER, "forward",       "forwards",      NULL, { 1, 0, 0, 0 }, 1,
    WN_STAGE_PLAIN,  WN_PAYLOADS_ANY, WN_PAYLOADS_ANY, NULL, &forward_ops,   NULL,
    { NULL }
};

struct ids_sink {
    struct wn_emitter emitter;
    char ids[16][16];
    size_t n;
};

static int ids_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct ids_sink *s = (struct ids_sink *)self;

    if (s->n < 16)
        snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", wn_task_id(task));
    s->n++;
    wn_task_free(task);
    return 0;
}

static void test_runs_a_pipeline(void)
{
    const struct wn_executor_ops *ops = entry()->backends[0]->ops;
    struct wn_run_stage stages[2];
    struct wn_stage_stats stats[2];
    struct wn_task *tasks[10];
    struct ids_sink sink;
    struct wn_error err = WN_ERROR_INIT;
    const struct wn_run_stage *stage_ptrs[2];
    struct wn_stage_stats *stats_ptrs[2];
    struct wn_run run;
    char id[16];

    memset(stages, 0, sizeof(stages));
    memset(stats, 0, sizeof(stats));
    memset(&sink, 0, sizeof(sink));
    sink.emitter.emit = ids_emit;
    for (int s = 0; s < 2; s++) {
        stages[s].struct_size = sizeof(stages[s]);
        stages[s].name = s ? "second" : "first";
        stages[s].desc = &forward_desc;
        stages[s].resources.cpus = 0.25;
        stages[s].batch_size = 3;
        stages[s].actors = 3;
    }
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "t%d", i);
        tasks[i] = wn_task_new(id, NULL);
    }
    memset(&run, 0, sizeof(run));
    run.struct_size = sizeof(run);
    run.n_stages = 2;
    for (size_t k = 0; k < sizeof(stages) / sizeof(stages[0]); k++) {
        stage_ptrs[k] = &stages[k];
        stats_ptrs[k] = &stats[k];
    }
    run.stages = stage_ptrs;
    run.initial_tasks = tasks; /* no executor params: every default */
    run.n_initial_tasks = 10;
    run.sink = &sink.emitter;
    run.stats = stats_ptrs;
    CU_ASSERT_EQUAL_FATAL(ops->run(&run, &err), 0);
    CU_ASSERT_EQUAL_FATAL(sink.n, 10);
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "t%d", i);
        CU_ASSERT_STRING_EQUAL(sink.ids[i], id);
    }
    CU_ASSERT_EQUAL(stats[1].tasks_out, 10);
    CU_ASSERT_EQUAL(stats[1].batches, 4);
    CU_ASSERT_EQUAL(stats[1].actors, 3);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "exports only the entry point", test_exports_only_the_entry_point },
        { "descriptor is valid", test_descriptor_is_valid },
        { "runs a pipeline from the shared object", test_runs_a_pipeline },
        { NULL, NULL },
    };

    return wn_test_run_suite("actor_pool.so", tests, open_plugin, close_plugin);
}
