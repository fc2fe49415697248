/*
 * The actor_pool executor, driven through its own entry point
 * (winnow_plugin_v1() of plugins/backends/actor_pool, compiled into this
 * program) with runs built by hand from an in-test "probe" stage that
 * records where and how often every hook runs.
 */
#include "build_config.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winnow/plugin.h>
#include <winnow/log.h>

#include "cu.h"
#include "params_internal.h"

/* ---- what the probe stage saw ------------------------------------------ */

#define SLOTS 4         /* independent counters, one per stage of a test pipeline */
#define MAX_ACTORS 64

struct slot_counts {
    int creates, create_calls, setups, teardowns, destroys, process_calls;
    int index_seen[MAX_ACTORS];
    int bad_worker;     /* setup got a worker info it should not have */
};

static struct {
    pthread_mutex_t lock;
    pthread_t main_thread;
    struct slot_counts slot[SLOTS];
    int wrong_thread;   /* a hook ran off its actor's thread, or create on the driver */
    int concurrent;     /* process_batch overlapped on one instance */
    int out_of_order;   /* process before setup, destroy before teardown, ... */
    char on_node[8][32];/* setup_on_node calls, in order */
    int n_on_node;
    int on_node_off_driver;
    int on_node_after_create;
    int total_creates;
} seen = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void seen_reset(void)
{
    pthread_mutex_lock(&seen.lock);
    memset(seen.slot, 0, sizeof(seen.slot));
    seen.wrong_thread = seen.concurrent = seen.out_of_order = 0;
    seen.n_on_node = seen.on_node_off_driver = seen.on_node_after_create = 0;
    seen.total_creates = 0;
    seen.main_thread = pthread_self();
    pthread_mutex_unlock(&seen.lock);
}

#define SEEN_ADD(field) __atomic_add_fetch(&(field), 1, __ATOMIC_SEQ_CST)

/* ---- the probe stage --------------------------------------------------- */

static const struct wn_param_spec probe_params[] = {
    { "slot", WN_PARAM_INT, 0, "0", 0, 0, NULL, "which counters to use" },
    { "forward", WN_PARAM_BOOL, 0, "false", 0, 0, NULL, "emit each input again" },
    { "fanout", WN_PARAM_INT, 0, "0", 0, 0, NULL,
      "emit this many children per input, v = parent v * fanout + j" },
    { "drop_multiple_of", WN_PARAM_INT, 0, "0", 0, 0, NULL,
      "forward: drop inputs whose v is a multiple of this (1: drop all)" },
    { "sleep_max_us", WN_PARAM_INT, 0, "0", 0, 0, NULL, "random sleep per batch" },
    { "fail_on", WN_PARAM_STRING, 0, NULL, 0, 0, NULL, "process_batch fails on this task id" },
    { "fail_code", WN_PARAM_INT, 0, "-10", 0, 0, NULL, "code of that failure" },
    { "fail_quietly", WN_PARAM_BOOL, 0, "false", 0, 0, NULL, "fail without a message" },
    { "fail_setup_actor", WN_PARAM_INT, 0, "-1", 0, 0, NULL, "setup fails on this actor" },
    { "fail_create_call", WN_PARAM_INT, 0, "-1", 0, 0, NULL, "the n-th create call fails" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

struct probe {
    const struct wn_params *params;
    struct slot_counts *counts;
    pthread_t thread;
    int set_up, torn_down;
    int busy;
    unsigned seed;
    uint32_t actor_index;
};

static int probe_on_node(const struct wn_stage_env *env, struct wn_error *err)
{
    (void)err;
    pthread_mutex_lock(&seen.lock);
    if (seen.n_on_node < 8)
        snprintf(seen.on_node[seen.n_on_node], sizeof(seen.on_node[0]), "%s", env->stage_name);
    seen.n_on_node++;
    if (!pthread_equal(pthread_self(), seen.main_thread))
        seen.on_node_off_driver++;
    if (seen.total_creates > 0)
        seen.on_node_after_create++;
    pthread_mutex_unlock(&seen.lock);
    return 0;
}

static int probe_create(const struct wn_params *params, void **state, struct wn_error *err)
{
    struct slot_counts *counts = &seen.slot[wn_params_get_int(params, "slot")];
    int call = SEEN_ADD(counts->create_calls) - 1;
    struct probe *p;

    SEEN_ADD(seen.total_creates);
    if (call == wn_params_get_int(params, "fail_create_call"))
        return wn_error_set(err, WN_EIO, "create refused on call %d", call);
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    p->params = params;
    p->counts = counts;
    p->thread = pthread_self();
    if (pthread_equal(p->thread, seen.main_thread))
        SEEN_ADD(seen.wrong_thread);
    SEEN_ADD(counts->creates);
    *state = p;
    return 0;
}

static void check_thread(const struct probe *p)
{
    if (!pthread_equal(p->thread, pthread_self()))
        SEEN_ADD(seen.wrong_thread);
}

static int probe_setup(void *state, const struct wn_worker *worker, struct wn_error *err)
{
    struct probe *p = state;

    check_thread(p);
    SEEN_ADD(p->counts->setups);
    if (worker->struct_size != sizeof(struct wn_worker) || worker->stage_name == NULL ||
        worker->actor_index >= worker->pool_size || worker->device_id != -1 ||
        worker->params != p->params || worker->comms != NULL || worker->actor_index >= MAX_ACTORS)
        SEEN_ADD(p->counts->bad_worker);
    else
        SEEN_ADD(p->counts->index_seen[worker->actor_index]);
    p->actor_index = worker->actor_index;
    p->seed = worker->actor_index * 7919u + (unsigned)time(NULL);
    if ((int64_t)worker->actor_index == wn_params_get_int(p->params, "fail_setup_actor"))
        return wn_error_set(err, WN_EIO, "setup refused on actor %u", worker->actor_index);
    p->set_up = 1;
    return 0;
}

static long task_value(const struct wn_task *task)
{
    const char *v = wn_task_meta_get(task, "v");
    return v ? strtol(v, NULL, 10) : 0;
}

static int set_value(struct wn_task *task, long value)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%ld", value);
    return wn_task_meta_set(task, "v", buf);
}

static int probe_process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                         struct wn_error *err)
{
    struct probe *p = state;
    const char *fail_on = wn_params_get_string(p->params, "fail_on");
    int64_t fanout = wn_params_get_int(p->params, "fanout");
    int64_t drop = wn_params_get_int(p->params, "drop_multiple_of");
    int64_t sleep_max = wn_params_get_int(p->params, "sleep_max_us");
    int rc = 0;

    check_thread(p);
    if (__atomic_exchange_n(&p->busy, 1, __ATOMIC_SEQ_CST))
        SEEN_ADD(seen.concurrent);
    if (!p->set_up || p->torn_down)
        SEEN_ADD(seen.out_of_order);
    SEEN_ADD(p->counts->process_calls);
    if (sleep_max > 0) {
        long us = rand_r(&p->seed) % sleep_max;
        struct timespec ts = { 0, us * 1000 };
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < n_in && rc == 0; i++) {
        if (fail_on != NULL && strcmp(wn_task_id(in[i]), fail_on) == 0) {
            rc = (int)wn_params_get_int(p->params, "fail_code");
            if (!wn_params_get_bool(p->params, "fail_quietly"))
                wn_error_set(err, rc, "no good %s", wn_task_id(in[i]));
            break;
        }
        for (int64_t j = 0; j < fanout && rc == 0; j++) {
            struct wn_task *child = wn_task_new_child(in[i], (size_t)j);
            static const char *const file[] = { "f" };

            if (child == NULL || set_value(child, task_value(in[i]) * fanout + j) < 0 ||
                wn_task_set_files(child, file, 1) < 0) {
                wn_task_free(child);
                rc = wn_error_set(err, WN_ENOMEM, "out of memory");
                break;
            }
            rc = wn_emit(out, child);
        }
        if (wn_params_get_bool(p->params, "forward") &&
            !(drop > 0 && task_value(in[i]) % drop == 0))
            rc = wn_emit(out, wn_task_take(&in[i]));
    }
    __atomic_store_n(&p->busy, 0, __ATOMIC_SEQ_CST);
    return rc;
}

static void probe_teardown(void *state)
{
    struct probe *p = state;

    check_thread(p);
    if (p->torn_down)
        SEEN_ADD(seen.out_of_order);
    p->torn_down = 1;
    SEEN_ADD(p->counts->teardowns);
}

static void probe_destroy(void *state)
{
    struct probe *p = state;

    check_thread(p);
    if (!p->torn_down)
        SEEN_ADD(seen.out_of_order);
    SEEN_ADD(p->counts->destroys);
    free(p);
}

static const struct wn_stage_ops probe_ops = {
    WN_STAGE_OPS_VERSION, probe_on_node, probe_create, probe_setup, probe_process,
    probe_teardown, probe_destroy, { NULL }
};

static const struct wn_stage_desc probe_desc = {
    WN_STAGE_HEADER, "probe", "records its hooks", probe_params, { 1, 0, 0, 0 }, 1,
    WN_STAGE_PLAIN, WN_PAYLOADS_ANY, WN_PAYLOADS_ANY, NULL, &probe_ops, NULL, { NULL }
};

static const struct wn_stage_desc probe_comms_desc = {
    WN_STAGE_HEADER, "probe_comms", "a COMMS stage", probe_params, { 1, 0, 0, 0 }, 1,
    WN_STAGE_COMMS, WN_PAYLOADS_ANY, WN_PAYLOADS_ANY, NULL, &probe_ops, NULL, { NULL }
};

/* ---- building and running a pipeline ----------------------------------- */

struct collector {
    struct wn_emitter emitter;
    struct wn_task **tasks;
    size_t n, cap;
    size_t refuse_from; /* refuse the task with this index and later (SIZE_MAX: never) */
};

static int collector_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct collector *c = (struct collector *)self;

    if (c->n >= c->refuse_from) {
        wn_task_free(task);
        return WN_EIO;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->tasks = realloc(c->tasks, c->cap * sizeof(*c->tasks));
    }
    c->tasks[c->n++] = task;
    return 0;
}

static void collector_init(struct collector *c)
{
    memset(c, 0, sizeof(*c));
    c->emitter.emit = collector_emit;
    c->refuse_from = SIZE_MAX;
}

static void collector_free(struct collector *c)
{
    for (size_t i = 0; i < c->n; i++)
        wn_task_free(c->tasks[i]);
    free(c->tasks);
    memset(c, 0, sizeof(*c));
}

struct stage_spec {
    const char *name;
    const char *params;        /* JSON object */
    uint32_t batch_size, actors;
    double cpus;
    const struct wn_stage_desc *desc; /* NULL: probe_desc */
    enum wn_on_error on_error;
};

static const struct wn_executor_ops *executor(void)
{
    return winnow_plugin_v1()->backends[0]->ops;
}

static struct wn_params *params_from(const struct wn_param_spec *spec, const char *text)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params = NULL;
    json_error_t jerr;
    json_t *json = json_loads(text ? text : "{}", 0, &jerr);

    CU_ASSERT_PTR_NOT_NULL_FATAL(json);
    if (wn_params_new(spec, json, "test", &params, &err) < 0)
        fprintf(stderr, "params %s: %s\n", text, err.message);
    json_decref(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(params);
    return params;
}

/* n root tasks "root_<i>", each with v = i and a FILES payload of two paths. */
static struct wn_task **make_roots(size_t n)
{
    static const char *const files[] = { "a", "b" };
    struct wn_task **tasks = calloc(n ? n : 1, sizeof(*tasks));
    char id[32];

    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "root_%zu", i);
        tasks[i] = wn_task_new(id, "test");
        set_value(tasks[i], (long)i);
        wn_task_set_files(tasks[i], files, 2);
    }
    return tasks;
}

/* Runs specs over n_roots root tasks; checks the executor took every initial task. */
static int run_pipeline(const char *executor_json, const struct stage_spec *specs,
                        size_t n_stages, size_t n_roots, struct collector *sink,
                        struct wn_stage_stats *stats, struct wn_error *err)
{
    struct wn_run_stage stages[8];
    const struct wn_run_stage *stage_ptrs[8];
    struct wn_stage_stats *stats_ptrs[8];
    struct wn_params *exec_params = params_from(winnow_plugin_v1()->backends[0]->params,
                                                executor_json);
    struct wn_task **roots = make_roots(n_roots);
    struct wn_run run;
    int rc;

    CU_ASSERT_FATAL(n_stages <= 8);
    memset(stages, 0, sizeof(stages));
    for (size_t i = 0; i < n_stages; i++) {
        stages[i].struct_size = sizeof(stages[i]);
        stages[i].name = specs[i].name;
        stages[i].desc = specs[i].desc ? specs[i].desc : &probe_desc;
        stages[i].params = params_from(probe_params, specs[i].params);
        stages[i].resources.cpus = specs[i].cpus;
        stages[i].batch_size = specs[i].batch_size ? specs[i].batch_size : 1;
        stages[i].actors = specs[i].actors;
        stages[i].on_error = specs[i].on_error;
    }
    memset(&run, 0, sizeof(run));
    run.struct_size = sizeof(run);
    run.n_stages = n_stages;
    for (size_t k = 0; k < n_stages; k++) {
        stage_ptrs[k] = &stages[k];
        stats_ptrs[k] = stats ? &stats[k] : NULL;
    }
    run.stages = stage_ptrs;
    run.executor_params = exec_params;
    run.initial_tasks = roots;
    run.n_initial_tasks = n_roots;
    run.sink = sink ? &sink->emitter : NULL;
    run.stats = stats ? stats_ptrs : NULL;
    rc = executor()->run(&run, err);

    for (size_t i = 0; i < n_roots; i++)
        CU_ASSERT_PTR_NULL(roots[i]);
    free(roots);
    for (size_t i = 0; i < n_stages; i++)
        wn_params_free((struct wn_params *)stages[i].params);
    wn_params_free(exec_params);
    return rc;
}

/* ---- tests ---------------------------------------------------------------- */

/* root -> 300 children (v 0..299) -> 2 children each (v 0..599), 8 actors,
 * random sleeps -> keep v % 3 != 0, 8 actors, random sleeps. */
static const struct stage_spec accounting_stages[] = {
    { "spread", "{\"slot\": 0, \"fanout\": 300}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL },
    { "work", "{\"slot\": 1, \"fanout\": 2, \"sleep_max_us\": 400}", 3, 8, 0.5, NULL,
      WN_ON_ERROR_FAIL },
    { "keep", "{\"slot\": 2, \"forward\": true, \"drop_multiple_of\": 3, \"sleep_max_us\": 300}",
      5, 8, 0, NULL, WN_ON_ERROR_FAIL },
};

static void check_accounted(const struct collector *sink)
{
    size_t k = 0;
    long sum = 0;
    char want[64];

    CU_ASSERT_EQUAL_FATAL(sink->n, 400);
    for (long v = 0; v < 600; v++) {
        const struct wn_task *t;

        if (v % 3 == 0)
            continue;
        t = sink->tasks[k++];
        /* batch order: v = 2 * i + j comes from root_0_i_j */
        snprintf(want, sizeof(want), "root_0_%ld_%ld", v / 2, v % 2);
        CU_ASSERT_STRING_EQUAL(wn_task_id(t), want);
        CU_ASSERT_EQUAL(task_value(t), v);
        sum += task_value(t);
        /* a child starts its own record list: "work" made it, "keep" forwarded it */
        CU_ASSERT_EQUAL_FATAL(wn_task_perf_count(t), 2);
        CU_ASSERT_STRING_EQUAL(wn_task_perf_at(t, 0)->stage, "work");
        CU_ASSERT_STRING_EQUAL(wn_task_perf_at(t, 1)->stage, "keep");
        CU_ASSERT(wn_task_perf_at(t, 0)->process_s >= 0.0);
        CU_ASSERT(wn_task_perf_at(t, 0)->idle_s >= 0.0);
        CU_ASSERT_EQUAL(wn_task_perf_at(t, 0)->items, 3); /* 3 inputs of one file each */
        CU_ASSERT_EQUAL(wn_task_perf_at(t, 1)->items, 5);
    }
    CU_ASSERT_EQUAL(sum, 120000);
}

static void test_every_task_accounted_for_with_8_actors(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[3];
    struct collector sink;
    int rc;

    seen_reset();
    collector_init(&sink);
    memset(stats, 0, sizeof(stats));
    rc = run_pipeline("{\"cpus\": 8}", accounting_stages, 3, 1, &sink, stats, &err);
    if (rc != 0)
        fprintf(stderr, "run: %s\n", err.message);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    check_accounted(&sink);

    CU_ASSERT_EQUAL(stats[0].tasks_in, 1);
    CU_ASSERT_EQUAL(stats[0].items_in, 2);
    CU_ASSERT_EQUAL(stats[0].tasks_out, 300);
    CU_ASSERT_EQUAL(stats[0].items_out, 300);
    CU_ASSERT_EQUAL(stats[0].batches, 1);
    CU_ASSERT_EQUAL(stats[0].actors, 1);
    CU_ASSERT_EQUAL(stats[1].tasks_in, 300);
    CU_ASSERT_EQUAL(stats[1].tasks_out, 600);
    CU_ASSERT_EQUAL(stats[1].batches, 100);
    CU_ASSERT_EQUAL(stats[1].actors, 8);
    CU_ASSERT_EQUAL(stats[2].tasks_in, 600);
    CU_ASSERT_EQUAL(stats[2].items_in, 600);
    CU_ASSERT_EQUAL(stats[2].tasks_out, 400);
    CU_ASSERT_EQUAL(stats[2].items_out, 400);
    CU_ASSERT_EQUAL(stats[2].batches, 120);
    CU_ASSERT_EQUAL(stats[2].actors, 8);
    CU_ASSERT(stats[1].busy_s > 0.0);
    CU_ASSERT(stats[1].wall_s > 0.0);
    CU_ASSERT(stats[1].wall_s <= stats[1].busy_s + 1.0);

    CU_ASSERT_EQUAL(seen.slot[1].process_calls, 100);
    CU_ASSERT_EQUAL(seen.slot[2].process_calls, 120);
    for (int s = 0; s < 3; s++) {
        CU_ASSERT_EQUAL(seen.slot[s].teardowns, seen.slot[s].creates);
        CU_ASSERT_EQUAL(seen.slot[s].destroys, seen.slot[s].creates);
    }
    CU_ASSERT_EQUAL(seen.concurrent, 0);
    CU_ASSERT_EQUAL(seen.wrong_thread, 0);
    CU_ASSERT_EQUAL(seen.out_of_order, 0);
    collector_free(&sink);
}

static void test_output_order_is_deterministic_across_runs(void)
{
    struct collector first, second;
    struct wn_error err = WN_ERROR_INIT;

    seen_reset();
    collector_init(&first);
    collector_init(&second);
    CU_ASSERT_EQUAL_FATAL(run_pipeline("{\"cpus\": 8, \"max_inflight\": 1}", accounting_stages,
                                       3, 1, &first, NULL, &err), 0);
    CU_ASSERT_EQUAL_FATAL(run_pipeline("{\"cpus\": 8, \"max_inflight\": 4}", accounting_stages,
                                       3, 1, &second, NULL, &err), 0);
    CU_ASSERT_EQUAL_FATAL(first.n, second.n);
    for (size_t i = 0; i < first.n; i++)
        CU_ASSERT_STRING_EQUAL(wn_task_id(first.tasks[i]), wn_task_id(second.tasks[i]));
    check_accounted(&second);
    collector_free(&first);
    collector_free(&second);
}

static void test_hooks_run_on_their_actor_thread_with_worker_info(void)
{
    static const struct stage_spec stages[] = {
        { "threads", "{\"slot\": 0, \"forward\": true, \"sleep_max_us\": 200}", 1, 6, 1, NULL,
          WN_ON_ERROR_FAIL },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats;
    struct collector sink;

    seen_reset();
    collector_init(&sink);
    CU_ASSERT_EQUAL_FATAL(run_pipeline("{\"cpus\": 16}", stages, 1, 40, &sink, &stats, &err), 0);
    CU_ASSERT_EQUAL(sink.n, 40);
    CU_ASSERT_EQUAL(stats.actors, 6);
    CU_ASSERT_EQUAL(seen.slot[0].creates, 6);
    CU_ASSERT_EQUAL(seen.slot[0].setups, 6);
    CU_ASSERT_EQUAL(seen.slot[0].teardowns, 6);
    CU_ASSERT_EQUAL(seen.slot[0].destroys, 6);
    CU_ASSERT_EQUAL(seen.slot[0].bad_worker, 0);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(seen.slot[0].index_seen[i], 1);
    CU_ASSERT_EQUAL(seen.slot[0].process_calls, 40);
    CU_ASSERT_EQUAL(seen.wrong_thread, 0);
    CU_ASSERT_EQUAL(seen.concurrent, 0);
    CU_ASSERT_EQUAL(seen.out_of_order, 0);
    collector_free(&sink);
}

static void test_setup_on_node_once_per_stage_before_any_actor(void)
{
    static const struct stage_spec stages[] = {
        { "a", "{\"slot\": 0, \"forward\": true}", 1, 2, 1, NULL, WN_ON_ERROR_FAIL },
        { "b", "{\"slot\": 1, \"forward\": true}", 2, 3, 1, NULL, WN_ON_ERROR_FAIL },
        { "c", "{\"slot\": 2, \"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL },
    };
    struct wn_error err = WN_ERROR_INIT;

    seen_reset();
    CU_ASSERT_EQUAL_FATAL(run_pipeline("{\"cpus\": 4}", stages, 3, 10, NULL, NULL, &err), 0);
    CU_ASSERT_EQUAL_FATAL(seen.n_on_node, 3);
    CU_ASSERT_STRING_EQUAL(seen.on_node[0], "a");
    CU_ASSERT_STRING_EQUAL(seen.on_node[1], "b");
    CU_ASSERT_STRING_EQUAL(seen.on_node[2], "c");
    CU_ASSERT_EQUAL(seen.on_node_off_driver, 0);
    CU_ASSERT_EQUAL(seen.on_node_after_create, 0);
    CU_ASSERT_EQUAL(seen.slot[0].creates, 2);
    CU_ASSERT_EQUAL(seen.slot[1].creates, 3);
    CU_ASSERT_EQUAL(seen.slot[2].creates, 4);
}

static void test_failing_process_batch_fails_the_run_and_tears_down(void)
{
    static const struct stage_spec stages[] = {
        { "boom", "{\"slot\": 0, \"forward\": true, \"fail_on\": \"root_7\", "
                  "\"sleep_max_us\": 300}",
          3, 4, 1, NULL, WN_ON_ERROR_FAIL },
        { "after", "{\"slot\": 1, \"forward\": true}", 1, 2, 1, NULL, WN_ON_ERROR_FAIL },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[2];
    struct collector sink;
    int rc;

    seen_reset();
    collector_init(&sink);
    memset(stats, 0, sizeof(stats));
    rc = run_pipeline("{\"cpus\": 4}", stages, 2, 30, &sink, stats, &err);
    CU_ASSERT_EQUAL(rc, WN_EDATA);
    CU_ASSERT_EQUAL(err.code, WN_EDATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'boom' actor "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "/4 failed on task root_6 (and 2 more): "
                                               "no good root_7"));
    CU_ASSERT_EQUAL(sink.n, 0);
    CU_ASSERT_EQUAL(seen.slot[0].creates, 4);
    CU_ASSERT_EQUAL(seen.slot[0].teardowns, 4);
    CU_ASSERT_EQUAL(seen.slot[0].destroys, 4);
    CU_ASSERT(seen.slot[0].process_calls >= 1);
    CU_ASSERT(seen.slot[0].process_calls <= 10);
    CU_ASSERT_EQUAL(seen.slot[1].create_calls, 0);
    CU_ASSERT_EQUAL(stats[0].tasks_in, 30);
    CU_ASSERT_EQUAL(stats[0].tasks_out, 0);
    CU_ASSERT_EQUAL(stats[1].tasks_in, 0);
    CU_ASSERT_EQUAL(seen.concurrent, 0);
    CU_ASSERT_EQUAL(seen.wrong_thread, 0);
    collector_free(&sink);
}

static void test_failure_without_message_gets_the_code_meaning(void)
{
    static const struct stage_spec stages[] = {
        { "quiet", "{\"slot\": 0, \"forward\": true, \"fail_on\": \"root_2\", "
                   "\"fail_quietly\": true, \"fail_code\": -1}",
          1, 2, 1, NULL, WN_ON_ERROR_FAIL },
    };
    struct wn_error err = WN_ERROR_INIT;

    seen_reset();
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 2}", stages, 1, 5, NULL, NULL, &err), WN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'quiet' actor "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "/2 failed on task root_2: (no message): "
                                               "invalid argument"));
    CU_ASSERT_EQUAL(seen.slot[0].destroys, seen.slot[0].creates);
}

static void test_failing_setup_fails_the_run_and_tears_down_every_actor(void)
{
    static const struct stage_spec stages[] = {
        { "src", "{\"slot\": 1, \"forward\": true}", 1, 2, 1, NULL, WN_ON_ERROR_FAIL },
        { "picky", "{\"slot\": 0, \"forward\": true, \"fail_setup_actor\": 2}", 1, 4, 1, NULL,
          WN_ON_ERROR_FAIL },
    };
    struct wn_error err = WN_ERROR_INIT;

    seen_reset();
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 4}", stages, 2, 8, NULL, NULL, &err), WN_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'picky' actor 2/4 failed in setup: setup "
                                               "refused on actor 2"));
    CU_ASSERT_EQUAL(seen.slot[0].creates, 4);
    CU_ASSERT_EQUAL(seen.slot[0].setups, 4);
    CU_ASSERT_EQUAL(seen.slot[0].teardowns, 4);
    CU_ASSERT_EQUAL(seen.slot[0].destroys, 4);
    CU_ASSERT_EQUAL(seen.slot[0].process_calls, 0);
    CU_ASSERT_EQUAL(seen.slot[1].process_calls, 8);
    CU_ASSERT_EQUAL(seen.slot[1].destroys, 2);
    CU_ASSERT_EQUAL(seen.wrong_thread, 0);
}

static void test_failing_create_destroys_the_actors_created(void)
{
    static const struct stage_spec stages[] = {
        { "fragile", "{\"slot\": 0, \"forward\": true, \"fail_create_call\": 1}", 1, 4, 1, NULL,
          WN_ON_ERROR_FAIL },
    };
    struct wn_error err = WN_ERROR_INIT;

    seen_reset();
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 4}", stages, 1, 8, NULL, NULL, &err), WN_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'fragile' actor "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "/4 failed in create: create refused on call 1"));
    CU_ASSERT_EQUAL(seen.slot[0].create_calls, 4);
    CU_ASSERT_EQUAL(seen.slot[0].creates, 3);
    CU_ASSERT_EQUAL(seen.slot[0].teardowns, 3);
    CU_ASSERT_EQUAL(seen.slot[0].destroys, 3);
    CU_ASSERT_EQUAL(seen.slot[0].process_calls, 0);
}

static void test_stage_emitting_nothing_does_not_abort_the_run(void)
{
    static const struct stage_spec stages[] = {
        { "src", "{\"slot\": 0, \"fanout\": 3}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL },
        { "drop_all", "{\"slot\": 1, \"forward\": true, \"drop_multiple_of\": 1}", 2, 0, 1, NULL,
          WN_ON_ERROR_FAIL },
        { "after", "{\"slot\": 2, \"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[3];
    struct collector sink;

    seen_reset();
    collector_init(&sink);
    memset(stats, 0xff, sizeof(stats));
    CU_ASSERT_EQUAL_FATAL(run_pipeline("{\"cpus\": 4}", stages, 3, 4, &sink, stats, &err), 0);
    CU_ASSERT_EQUAL(sink.n, 0);
    CU_ASSERT_EQUAL(stats[0].tasks_out, 12);
    CU_ASSERT_EQUAL(stats[1].tasks_in, 12);
    CU_ASSERT_EQUAL(stats[1].tasks_out, 0);
    CU_ASSERT_EQUAL(stats[1].actors, 4);
    CU_ASSERT_EQUAL(stats[2].tasks_in, 0);
    CU_ASSERT_EQUAL(stats[2].tasks_out, 0);
    CU_ASSERT_EQUAL(stats[2].batches, 0);
    CU_ASSERT_EQUAL(stats[2].actors, 0);
    CU_ASSERT_EQUAL(seen.slot[1].process_calls, 6);
    CU_ASSERT_EQUAL(seen.slot[2].create_calls, 0);
    collector_free(&sink);
}

static void test_no_initial_task_runs_nothing(void)
{
    static const struct stage_spec stages[] = {
        { "src", "{\"slot\": 0, \"fanout\": 3}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats;
    struct collector sink;

    seen_reset();
    collector_init(&sink);
    CU_ASSERT_EQUAL(run_pipeline("{}", stages, 1, 0, &sink, &stats, &err), 0);
    CU_ASSERT_EQUAL(sink.n, 0);
    CU_ASSERT_EQUAL(stats.actors, 0);
    CU_ASSERT_EQUAL(seen.slot[0].create_calls, 0);
    collector_free(&sink);
}

static void check_rejected_before_running(const struct stage_spec *stages, size_t n,
                                          const char *executor_json, int code, const char *text)
{
    struct wn_error err = WN_ERROR_INIT;
    struct collector sink;

    seen_reset();
    collector_init(&sink);
    CU_ASSERT_EQUAL(run_pipeline(executor_json, stages, n, 3, &sink, NULL, &err), code);
    if (strstr(err.message, text) == NULL)
        fprintf(stderr, "expected '%s' in '%s'\n", text, err.message);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, text));
    CU_ASSERT_EQUAL(seen.n_on_node, 0);
    CU_ASSERT_EQUAL(seen.total_creates, 0);
    CU_ASSERT_EQUAL(sink.n, 0);
    collector_free(&sink);
}

static void test_unsupported_kind_or_on_error_is_rejected(void)
{
    const struct stage_spec comms[] = {
        { "ok", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL },
        { "ranks", "{}", 1, 0, 1, &probe_comms_desc, WN_ON_ERROR_FAIL },
    };
    const struct stage_spec retry[] = {
        { "ok", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL },
        { "again", "{}", 1, 0, 1, NULL, WN_ON_ERROR_RETRY },
    };
    const struct stage_spec skip[] = {
        { "lenient", "{}", 1, 0, 1, NULL, WN_ON_ERROR_SKIP },
    };

    /* COMMS stages run (tests/comms/test_comms_stage.c), given a provider. */
    check_rejected_before_running(comms, 2, "{}", WN_ECONFIG,
                                  "stage 'ranks' is a COMMS stage but the run names no comms "
                                  "provider");
    check_rejected_before_running(retry, 2, "{}", WN_EUNSUPPORTED,
                                  "stage 'again' asks on_error \"retry\"");
    check_rejected_before_running(skip, 1, "{}", WN_EUNSUPPORTED,
                                  "stage 'lenient' asks on_error \"skip\"");
}

static void test_zero_capacity_fails_before_anything_runs(void)
{
    const struct stage_spec stages[] = {
        { "small", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL },
        { "huge", "{\"slot\": 1}", 1, 0, 4, NULL, WN_ON_ERROR_FAIL },
    };

    check_rejected_before_running(stages, 2, "{\"cpus\": 2}", WN_ERESOURCE,
                                  "stage 'huge' asks 4 cpus per actor but 2 are available after "
                                  "reserving 0");
    check_rejected_before_running(stages, 2, "{\"cpus\": 5, \"reserved_cpus\": 2}", WN_ERESOURCE,
                                  "stage 'huge' asks 4 cpus per actor but 3 are available after "
                                  "reserving 2");
    check_rejected_before_running(stages, 2, "{\"cpus\": 0}", WN_ECONFIG, "executor.cpus");
}

static void test_cpus_override_sizes_the_pool(void)
{
    const struct stage_spec stages[] = {
        { "sized", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats;

    seen_reset();
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 3}", stages, 1, 10, NULL, &stats, &err), 0);
    CU_ASSERT_EQUAL(stats.actors, 3);
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 3, \"reserved_cpus\": 1}", stages, 1, 10, NULL,
                                 &stats, &err), 0);
    CU_ASSERT_EQUAL(stats.actors, 2);
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 64}", stages, 1, 5, NULL, &stats, &err), 0);
    CU_ASSERT_EQUAL(stats.actors, 5);
}

static char warnings[2048];

static void capture_warnings(enum wn_log_level level, const char *domain, const char *message,
                             void *user_data)
{
    (void)user_data;
    if (level <= WN_LOG_WARN) {
        size_t used = strlen(warnings);
        snprintf(warnings + used, sizeof(warnings) - used, "%s: %s\n", domain, message);
    }
}

static void test_explicit_actors_are_capped_with_a_warning(void)
{
    const struct stage_spec stages[] = {
        { "greedy", "{\"forward\": true}", 1, 5, 1, NULL, WN_ON_ERROR_FAIL },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats;

    seen_reset();
    warnings[0] = '\0';
    wn_log_set_handler(capture_warnings, NULL);
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 2}", stages, 1, 10, NULL, &stats, &err), 0);
    wn_log_set_handler(NULL, NULL);
    CU_ASSERT_EQUAL(stats.actors, 2);
    CU_ASSERT_EQUAL(seen.slot[0].creates, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(warnings, "stage 'greedy': 5 actors asked, but the resources "
                                            "hold only 2"));
}

static void test_refusing_sink_fails_the_run(void)
{
    const struct stage_spec stages[] = {
        { "fwd", "{\"forward\": true}", 2, 2, 1, NULL, WN_ON_ERROR_FAIL },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct collector sink;

    seen_reset();
    collector_init(&sink);
    sink.refuse_from = 3;
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 2}", stages, 1, 6, &sink, NULL, &err), WN_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "sink refused output task root_3 (4 of 6)"));
    CU_ASSERT_EQUAL(sink.n, 3);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[2]), "root_2");
    collector_free(&sink);
}

static void test_backend_descriptor_and_params(void)
{
    const struct wn_plugin *plugin = winnow_plugin_v1();
    const struct wn_backend_desc *backend = plugin->backends[0];
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params = NULL;
    json_t *json;

    CU_ASSERT_STRING_EQUAL(backend->name, "actor_pool");
    CU_ASSERT_EQUAL(backend->kind, WN_BACKEND_EXECUTOR);
    CU_ASSERT_PTR_NULL(plugin->backends[1]);
    CU_ASSERT_EQUAL(executor()->version, WN_EXECUTOR_OPS_VERSION);
    CU_ASSERT_EQUAL(wn_params_check_spec(backend->params, "actor_pool", &err), 0);

    params = params_from(backend->params, "{}");
    CU_ASSERT_STRING_EQUAL(wn_params_get_string(params, "mode"), "barrier");
    CU_ASSERT_EQUAL(wn_params_get_int(params, "max_inflight"), 2);
    CU_ASSERT_DOUBLE_EQUAL(wn_params_get_double(params, "reserved_cpus"), 0.0, 1e-12);
    CU_ASSERT_FALSE(wn_params_has(params, "cpus"));
    CU_ASSERT_FALSE(wn_params_has(params, "gpus"));
    wn_params_free(params);

    json = json_loads("{\"mode\": \"streaming\"}", 0, NULL);
    CU_ASSERT_EQUAL(wn_params_new(backend->params, json, "executor", &params, &err), WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "\"barrier\""));
    json_decref(json);
    json = json_loads("{\"max_inflight\": 0}", 0, NULL);
    CU_ASSERT_EQUAL(wn_params_new(backend->params, json, "executor", &params, &err), WN_ECONFIG);
    json_decref(json);
    json = json_loads("{\"reserved_gpus\": -1}", 0, NULL);
    CU_ASSERT_EQUAL(wn_params_new(backend->params, json, "executor", &params, &err), WN_ECONFIG);
    json_decref(json);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "backend descriptor and params", test_backend_descriptor_and_params },
        { "every task accounted for with 8 actors and uneven stage times",
          test_every_task_accounted_for_with_8_actors },
        { "output order is deterministic across runs (batch order)",
          test_output_order_is_deterministic_across_runs },
        { "create, setup, process, teardown, destroy on the actor's own thread",
          test_hooks_run_on_their_actor_thread_with_worker_info },
        { "setup_on_node once per stage, on the driver, before any actor",
          test_setup_on_node_once_per_stage_before_any_actor },
        { "failing process_batch fails the run and tears down every actor",
          test_failing_process_batch_fails_the_run_and_tears_down },
        { "failure without message gets the code's meaning",
          test_failure_without_message_gets_the_code_meaning },
        { "failing setup fails the run and tears down every actor",
          test_failing_setup_fails_the_run_and_tears_down_every_actor },
        { "failing create destroys the actors created",
          test_failing_create_destroys_the_actors_created },
        { "stage emitting nothing does not abort the run",
          test_stage_emitting_nothing_does_not_abort_the_run },
        { "no initial task runs nothing", test_no_initial_task_runs_nothing },
        { "unsupported kind or on_error is rejected before running",
          test_unsupported_kind_or_on_error_is_rejected },
        { "zero capacity fails before anything runs",
          test_zero_capacity_fails_before_anything_runs },
        { "cpus override sizes the pool", test_cpus_override_sizes_the_pool },
        { "explicit actors are capped with a warning",
          test_explicit_actors_are_capped_with_a_warning },
        { "refusing sink fails the run", test_refusing_sink_fails_the_run },
        { NULL, NULL },
    };

    return wn_test_run_suite("actor_pool executor", tests, NULL, NULL);
}
