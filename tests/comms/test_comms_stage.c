/*
 * COMMS stages in the actor_pool executor, through the whole stack: a config
 * (with "comms" and "comms_params") resolved against the registry (the built
 * plugins from WINNOW_PLUGIN_PATH plus an in-test plugin), run by the real
 * actor_pool.so.  The in-test plugin has a probe COMMS stage and a "probe"
 * provider wrapping the ucx one, which record every call, so the RAFT
 * adapter's order is checked rank by rank.
 */
#include "build_config.h"

#include <stdio.h>

#include "cu.h"

#ifndef HAVE_UCX
int main(void)
{
    puts("SKIP: built without UCX (COMMS stages run over the ucx comms provider here)");
    return 77;
}
#else

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <winnow/plugin.h>

#include "comms.h"
#include "config.h"
#include "pipeline.h"
#include "registry.h"

#define MAX_RANKS 16
#define MAX_EVENTS 16

static struct wn_registry *registry;
static char tmpdir[256];

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- what the probes saw ------------------------------------------------------------- */

struct probe_state {
    const struct wn_params *params;
    int rank; /* from setup; -1 before */
    const char *events[MAX_EVENTS];
    int n_events;
    size_t n_in; /* tasks of the one batch */
    char first_task[64];
    int bad_worker; /* setup saw a worker or communicator it should not */
    struct wn_comms *comms;
};

/* Group create and free run on the one thread that coordinates the stage
 * (the run's thread in barrier mode, the stage's coordinator in streaming
 * mode), never on a rank's: the first call names it, later ones must match. */
static pthread_t coordinator_thread;
static int have_coordinator;

static struct {
    pthread_mutex_t lock;
    const char *events[MAX_RANKS][MAX_EVENTS];
    int n_events[MAX_RANKS];
    size_t n_in[MAX_RANKS];
    char first_task[MAX_RANKS][64];
    int bad_worker;
    int destroyed; /* probe states destroyed */
    int group_news, group_frees, unique_ids, aborts, off_coordinator;
} seen = { .lock = PTHREAD_MUTEX_INITIALIZER };

static __thread struct probe_state *current; /* the probe instance of this actor thread */

static void seen_reset(void)
{
    pthread_mutex_lock(&seen.lock);
    memset(seen.events, 0, sizeof(seen.events));
    memset(seen.n_events, 0, sizeof(seen.n_events));
    memset(seen.n_in, 0, sizeof(seen.n_in));
    memset(seen.first_task, 0, sizeof(seen.first_task));
    seen.bad_worker = seen.destroyed = 0;
    seen.group_news = seen.group_frees = seen.unique_ids = seen.aborts = seen.off_coordinator = 0;
    have_coordinator = 0;
    pthread_mutex_unlock(&seen.lock);
}

static void event(const char *what)
{
    if (current != NULL && current->n_events < MAX_EVENTS)
        current->events[current->n_events++] = what;
}

static void on_coordinator(void)
{
    if (!have_coordinator) {
        coordinator_thread = pthread_self();
        have_coordinator = 1;
    } else if (!pthread_equal(pthread_self(), coordinator_thread)) {
        __atomic_add_fetch(&seen.off_coordinator, 1, __ATOMIC_SEQ_CST);
    }
}

/* ---- the probe provider: the ucx provider, recorded ----------------------------------- */

static int probe_group_new(const char *name, const struct wn_params *params, uint32_t size,
                           struct wn_comms_group **group, struct wn_error *err)
{
    on_coordinator();
    __atomic_add_fetch(&seen.group_news, 1, __ATOMIC_SEQ_CST);
    return wn_ucx_comms_provider_ops.group_new(name, params, size, group, err);
}

static int probe_unique_id(struct wn_comms_group *group, struct wn_comms_unique_id *id,
                           struct wn_error *err)
{
    __atomic_add_fetch(&seen.unique_ids, 1, __ATOMIC_SEQ_CST);
    event("unique_id");
    return wn_ucx_comms_provider_ops.unique_id(group, id, err);
}

static int probe_rank_init(struct wn_comms_group *group, const struct wn_comms_unique_id *id,
                           uint32_t rank, int device_id, struct wn_comms **comms,
                           struct wn_error *err)
{
    int rc = wn_ucx_comms_provider_ops.rank_init(group, id, rank, device_id, comms, err);

    event(rc == 0 ? "init" : "init failed");
    return rc;
}

static void probe_group_abort(struct wn_comms_group *group, const char *reason)
{
    __atomic_add_fetch(&seen.aborts, 1, __ATOMIC_SEQ_CST);
    wn_ucx_comms_provider_ops.group_abort(group, reason);
}

static void probe_rank_destroy(struct wn_comms_group *group, struct wn_comms *comms)
{
    event("rank_destroy");
    wn_ucx_comms_provider_ops.rank_destroy(group, comms);
}

static void probe_group_free(struct wn_comms_group *group)
{
    on_coordinator();
    __atomic_add_fetch(&seen.group_frees, 1, __ATOMIC_SEQ_CST);
    wn_ucx_comms_provider_ops.group_free(group);
}

static const struct wn_comms_provider_ops probe_provider_ops = {
    .version = WN_COMMS_PROVIDER_OPS_VERSION,
    .group_new = probe_group_new,
    .unique_id = probe_unique_id,
    .rank_init = probe_rank_init,
    .group_abort = probe_group_abort,
    .rank_destroy = probe_rank_destroy,
    .group_free = probe_group_free,
};

/* ---- the probe stages ---------------------------------------------------------------- */

static const struct wn_param_spec fanout_params[] = {
    { "count", WN_PARAM_INT, 0, "1", 0, 0, NULL, "children of each input" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

static int fanout_process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                          struct wn_error *err)
{
    int64_t count = wn_params_get_int(state, "count");

    for (size_t i = 0; i < n_in; i++)
        for (int64_t k = 0; k < count; k++) {
            struct wn_task *t = wn_task_new_child(in[i], (size_t)k);

            if (t == NULL || wn_emit(out, t) < 0)
                return wn_error_set(err, WN_ENOMEM, "fanout: out of memory");
        }
    return 0;
}

static int fanout_create(const struct wn_params *params, void **state, struct wn_error *err)
{
    (void)err;
    *state = (void *)params;
    return 0;
}

static const struct wn_stage_ops fanout_ops = {
    .version = WN_STAGE_OPS_VERSION,
    .create = fanout_create,
    .process_batch = fanout_process,
};

static const struct wn_param_spec ranks_params[] = {
    { "fail_rank", WN_PARAM_INT, 0, "-1", 0, 0, NULL, "this rank fails" },
    { "fail_in", WN_PARAM_STRING, 0, "\"process\"", 0, 0, NULL, "setup or process" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

static int ranks_create(const struct wn_params *params, void **out, struct wn_error *err)
{
    struct probe_state *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    s->params = params;
    s->rank = -1;
    current = s;
    event("create");
    *out = s;
    return 0;
}

static int fails_here(const struct probe_state *s, const char *hook)
{
    return wn_params_get_int(s->params, "fail_rank") == s->rank &&
           strcmp(wn_params_get_string(s->params, "fail_in"), hook) == 0;
}

static int ranks_setup(void *state, const struct wn_worker *worker, struct wn_error *err)
{
    struct probe_state *s = state;
    struct wn_comms *c = worker->comms;

    s->rank = (int)worker->actor_index;
    s->comms = c;
    event("setup");
    /* Every rank joined before any setup: a barrier here completes. */
    if (c == NULL || c->rank != worker->actor_index || c->size != worker->pool_size ||
        strcmp(c->provider, "ucx") != 0 || wn_comms_barrier(c, err) < 0)
        s->bad_worker = 1;
    if (fails_here(s, "setup"))
        return wn_error_set(err, WN_EIO, "probe rank %d fails in setup on purpose", s->rank);
    return 0;
}

static int ranks_process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                         struct wn_error *err)
{
    struct probe_state *s = state;
    uint64_t mine = n_in, total = 0;
    struct wn_task *t;
    char text[32];
    int rc;

    event("process");
    s->n_in = n_in;
    snprintf(s->first_task, sizeof(s->first_task), "%s", wn_task_id(in[0]));
    if (fails_here(s, "process"))
        return wn_error_set(err, WN_EDATA, "probe rank %d fails on purpose", s->rank);
    /* A collective every rank must join: it would hang if a rank were missing. */
    rc = wn_comms_allreduce(s->comms, &mine, &total, 1, WN_COMMS_UINT64, WN_COMMS_SUM,
                            WN_COMMS_HOST, err);
    if (rc < 0)
        return rc;
    t = wn_task_new_child(in[0], 0);
    snprintf(text, sizeof(text), "%" PRIu64, total);
    if (t == NULL || wn_task_meta_set(t, "total", text) < 0)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    return wn_emit(out, t);
}

static void ranks_teardown(void *state)
{
    (void)state;
    event("teardown");
}

static void ranks_destroy(void *state)
{
    struct probe_state *s = state;

    event("destroy");
    pthread_mutex_lock(&seen.lock);
    if (s->rank >= 0 && s->rank < MAX_RANKS) {
        memcpy(seen.events[s->rank], s->events, sizeof(s->events));
        seen.n_events[s->rank] = s->n_events;
        seen.n_in[s->rank] = s->n_in;
        snprintf(seen.first_task[s->rank], sizeof(seen.first_task[0]), "%s", s->first_task);
    }
    seen.bad_worker += s->bad_worker;
    seen.destroyed++;
    pthread_mutex_unlock(&seen.lock);
    current = NULL;
    free(s);
}

static const struct wn_stage_ops ranks_ops = {
    .version = WN_STAGE_OPS_VERSION,
    .create = ranks_create,
    .setup = ranks_setup,
    .process_batch = ranks_process,
    .teardown = ranks_teardown,
    .destroy = ranks_destroy,
};

static const struct wn_stage_desc fanout_stage = { WN_STAGE_HEADER,
                                                   "probe_fanout",
                                                   "children of the trigger",
                                                   fanout_params,
                                                   { 0, 0, 0, 0 },
                                                   1,
                                                   WN_STAGE_PLAIN,
                                                   WN_PAYLOADS_ANY,
                                                   WN_PAYLOAD_BIT(WN_PAYLOAD_EMPTY),
                                                   NULL,
                                                   &fanout_ops,
                                                   NULL,
                                                   { NULL } };

static const struct wn_stage_desc ranks_stage = {
    WN_STAGE_HEADER, "probe_ranks",   "records the RAFT order", ranks_params, { 1, 0, 0, 0 }, 1,
    WN_STAGE_COMMS,  WN_PAYLOADS_ANY, WN_PAYLOADS_ANY,          NULL,         &ranks_ops,     NULL,
    { NULL }
};

static const struct wn_backend_desc probe_provider = { WN_BACKEND_HEADER,
                                                       "probe",
                                                       "the ucx comms provider, recorded",
                                                       WN_BACKEND_COMMS,
                                                       wn_ucx_comms_params,
                                                       &probe_provider_ops,
                                                       { NULL } };

static const struct wn_stage_desc *const test_stages[] = { &fanout_stage, &ranks_stage, NULL };
static const struct wn_backend_desc *const test_backends[] = { &probe_provider, NULL };
static const struct wn_plugin test_plugin = {
    WN_PLUGIN_HEADER, "comms_stage_test", "1", "MIT", "probes", test_stages, test_backends, { NULL }
};

/* ---- running pipelines ------------------------------------------------------------------ */

struct sink {
    struct wn_emitter base;
    struct wn_task **tasks;
    size_t n;
};

static int sink_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct sink *s = (struct sink *)self;
    struct wn_task **tasks = realloc(s->tasks, (s->n + 1) * sizeof(*tasks));

    if (tasks == NULL) {
        wn_task_free(task);
        return WN_ENOMEM;
    }
    s->tasks = tasks;
    s->tasks[s->n++] = task;
    return 0;
}

static void sink_free(struct sink *s)
{
    for (size_t i = 0; i < s->n; i++)
        wn_task_free(s->tasks[i]);
    free(s->tasks);
    memset(s, 0, sizeof(*s));
    s->base.emit = sink_emit;
}

/* Loads, resolves and runs config text; stats gets one record per stage (up to 4). */
static int run_config(const char *text, struct sink *sink, struct wn_stage_stats *stats,
                      struct wn_error *err)
{
    struct wn_config *config = NULL;
    struct wn_pipeline *pipeline = NULL;
    struct wn_run_options options = { .sink = &sink->base };
    int rc;

    memset(stats, 0, 4 * sizeof(*stats));
    rc = wn_config_load_string(text, "test.json", &config, err);
    if (rc == 0)
        rc = wn_config_resolve(config, registry, &pipeline, err);
    if (rc == 0)
        rc = wn_pipeline_run(pipeline, &options, stats, err);
    wn_pipeline_free(pipeline);
    wn_config_free(config);
    return rc;
}

/* ---- the RAFT order ---------------------------------------------------------------------- */

static const char *const clean_order[] = { "create",   "init",         "setup",  "process",
                                           "teardown", "rank_destroy", "destroy" };

static int events_are(int rank, const char *const *want, int n_want)
{
    int k = 0;

    for (int i = 0; i < seen.n_events[rank]; i++) {
        if (strcmp(seen.events[rank][i], "unique_id") == 0)
            continue; /* checked apart */
        if (k >= n_want || strcmp(seen.events[rank][i], want[k]) != 0)
            return 0;
        k++;
    }
    return k == n_want;
}

static int has_event(int rank, const char *what)
{
    for (int i = 0; i < seen.n_events[rank]; i++)
        if (strcmp(seen.events[rank][i], what) == 0)
            return 1;
    return 0;
}

static void print_events(int n)
{
    for (int r = 0; r < n; r++) {
        fprintf(stderr, "  rank %d:", r);
        for (int i = 0; i < seen.n_events[r]; i++)
            fprintf(stderr, " %s", seen.events[r][i]);
        fprintf(stderr, "\n");
    }
}

#define PROBE_CONFIG(count, extra)                                                                 \
    "{\"executor\": {\"backend\": \"actor_pool\", \"cpus\": 8}, \"stages\": ["                     \
    "{\"stage\": \"probe_fanout\", \"params\": {\"count\": " #count "}},"                          \
    "{\"stage\": \"probe_ranks\", \"comms\": \"probe\", "                                          \
    "\"comms_params\": {\"timeout_s\": 30}" extra "}]}"

static void test_every_rank_follows_the_raft_order(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[4];
    struct sink sink = { { 0 }, NULL, 0 };
    int rc;

    sink_free(&sink);
    seen_reset();
    rc = run_config(PROBE_CONFIG(7, ", \"actors\": 3"), &sink, stats, &err);
    if (rc != 0)
        fprintf(stderr, "\n%s\n", err.message);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    /* 7 tasks on 3 ranks: chunks of 3, 2, 2, in order. */
    CU_ASSERT_EQUAL(stats[1].actors, 3);
    CU_ASSERT_EQUAL(stats[1].tasks_in, 7);
    CU_ASSERT_EQUAL(stats[1].batches, 3);
    CU_ASSERT_EQUAL(stats[1].tasks_out, 3);
    CU_ASSERT_EQUAL(seen.n_in[0], 3);
    CU_ASSERT_EQUAL(seen.n_in[1], 2);
    CU_ASSERT_EQUAL(seen.n_in[2], 2);
    CU_ASSERT_STRING_EQUAL(seen.first_task[0], "root_0");
    CU_ASSERT_STRING_EQUAL(seen.first_task[1], "root_3");
    CU_ASSERT_STRING_EQUAL(seen.first_task[2], "root_5");
    for (int r = 0; r < 3; r++)
        CU_ASSERT(events_are(r, clean_order, 7));
    if (!events_are(0, clean_order, 7) || !events_are(1, clean_order, 7))
        print_events(3);
    /* The root made the id, once, before it joined. */
    CU_ASSERT_EQUAL(seen.unique_ids, 1);
    CU_ASSERT(has_event(0, "unique_id") && !has_event(1, "unique_id"));
    CU_ASSERT_STRING_EQUAL(seen.events[0][1], "unique_id");
    CU_ASSERT_EQUAL(seen.group_news, 1);
    CU_ASSERT_EQUAL(seen.group_frees, 1);
    CU_ASSERT_EQUAL(seen.off_coordinator, 0);
    CU_ASSERT_EQUAL(seen.aborts, 0);
    CU_ASSERT_EQUAL(seen.bad_worker, 0);
    /* Outputs in rank order; each rank saw the sum over ranks. */
    CU_ASSERT_EQUAL_FATAL(sink.n, 3);
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[0]), "root_0_0");
    CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[2]), "root_5_0");
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[1], "total"), "7");
    CU_ASSERT_EQUAL_FATAL(wn_task_perf_count(sink.tasks[0]), 1);
    CU_ASSERT_STRING_EQUAL(wn_task_perf_at(sink.tasks[0], 0)->stage, "probe_ranks");
    sink_free(&sink);
}

static void test_ranks_never_outnumber_the_input_tasks(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[4];
    struct sink sink = { { 0 }, NULL, 0 };

    sink_free(&sink);
    seen_reset();
    CU_ASSERT_EQUAL_FATAL(run_config(PROBE_CONFIG(2, ", \"actors\": 6"), &sink, stats, &err), 0);
    CU_ASSERT_EQUAL(stats[1].actors, 2);
    CU_ASSERT_EQUAL(sink.n, 2);
    sink_free(&sink);
    /* Without "actors", the CPUs bound the group (8 here, 1 per actor). */
    seen_reset();
    CU_ASSERT_EQUAL_FATAL(run_config(PROBE_CONFIG(20, ""), &sink, stats, &err), 0);
    CU_ASSERT_EQUAL(stats[1].actors, 8);
    CU_ASSERT_EQUAL(sink.n, 8);
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(sink.tasks[7], "total"), "20");
    sink_free(&sink);
}

static void test_a_failing_rank_fails_the_run_and_every_rank_is_cleaned_up(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[4];
    struct sink sink = { { 0 }, NULL, 0 };
    double t0 = now_s();
    int rc;

    sink_free(&sink);
    seen_reset();
    rc = run_config(PROBE_CONFIG(6, ", \"actors\": 3, \"params\": {\"fail_rank\": 1}"), &sink,
                    stats, &err);
    CU_ASSERT_EQUAL(rc, WN_EDATA);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(err.message, "stage 'probe_ranks' actor 1/3 failed on task root_2 (and 1 more): "
                            "probe rank 1 fails on purpose"));
    CU_ASSERT(now_s() - t0 < 10.0); /* the others were woken, not timed out (30 s) */
    CU_ASSERT_EQUAL(sink.n, 0);
    CU_ASSERT_EQUAL(seen.destroyed, 3);
    CU_ASSERT(seen.aborts >= 1);
    for (int r = 0; r < 3; r++) {
        CU_ASSERT(has_event(r, "teardown"));
        CU_ASSERT(has_event(r, "rank_destroy"));
    }
    CU_ASSERT_EQUAL(seen.group_frees, 1);
    sink_free(&sink);
}

static void test_a_failing_setup_is_named_and_nobody_hangs(void)
{
    static const char *const order[] = { "create",   "init",         "setup",
                                         "teardown", "rank_destroy", "destroy" };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[4];
    struct sink sink = { { 0 }, NULL, 0 };
    double t0 = now_s();
    int rc;

    sink_free(&sink);
    seen_reset();
    rc = run_config(PROBE_CONFIG(3, ", \"params\": {\"fail_rank\": 2, \"fail_in\": \"setup\"}"),
                    &sink, stats, &err);
    CU_ASSERT_EQUAL(rc, WN_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'probe_ranks' actor 2/3 failed in setup: "
                                               "probe rank 2 fails in setup on purpose"));
    CU_ASSERT(now_s() - t0 < 10.0);
    CU_ASSERT(events_are(2, order, 6));
    CU_ASSERT_EQUAL(seen.destroyed, 3);
    sink_free(&sink);
}

static void test_comms_params_are_checked_against_the_provider(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[4];
    struct sink sink = { { 0 }, NULL, 0 };

    sink_free(&sink);
    CU_ASSERT_EQUAL(
        run_config("{\"stages\": [{\"stage\": \"probe_fanout\"}, {\"stage\": \"probe_ranks\", "
                   "\"comms\": \"probe\", \"comms_params\": {\"timeout\": 3}}]}",
                   &sink, stats, &err),
        WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stages[1].comms_params"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "timeout"));
    CU_ASSERT_EQUAL(
        run_config("{\"stages\": [{\"stage\": \"probe_fanout\", \"comms_params\": {}}]}", &sink,
                   stats, &err),
        WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stages[0].comms_params"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "has no \"comms\" provider"));
    CU_ASSERT_EQUAL(run_config("{\"stages\": [{\"stage\": \"probe_fanout\"}, {\"stage\": "
                               "\"probe_ranks\", \"comms\": \"probe\", \"comms_params\": "
                               "{\"timeout_s\": 0}}]}",
                               &sink, stats, &err),
                    WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stages[1].comms_params.timeout_s"));
}

/* ---- connected_components end to end ----------------------------------------------------- */

/* Writes n_files JSONL files of edges {"a": x, "b": y} (rows round-robin over
 * the files) and returns the expected label of every vertex id < n_ids. */
static void write_edges(size_t n_files, const uint64_t *edges, size_t n_edges)
{
    for (size_t f = 0; f < n_files; f++) {
        char path[512];
        FILE *fp;

        snprintf(path, sizeof(path), "%s/edges-%02zu.jsonl", tmpdir, f);
        fp = fopen(path, "w");
        CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
        for (size_t e = f; e < n_edges; e += n_files)
            fprintf(fp, "{\"a\": %" PRIu64 ", \"b\": %" PRIu64 "}\n", edges[2 * e],
                    edges[2 * e + 1]);
        fprintf(fp, "{\"a\": %zu}\n", 900000 + f); /* a lone vertex per file */
        fclose(fp);
    }
}

static void remove_edges(size_t n_files)
{
    for (size_t f = 0; f < n_files; f++) {
        char path[512];

        snprintf(path, sizeof(path), "%s/edges-%02zu.jsonl", tmpdir, f);
        unlink(path);
    }
}

static uint64_t find_root(uint64_t *parent, uint64_t v)
{
    while (parent[v] != v)
        v = parent[v] = parent[parent[v]];
    return v;
}

static void test_connected_components_runs_end_to_end_over_ucx(void)
{
    enum { N_IDS = 3000, N_EDGES = 2500, N_FILES = 5 };
    static uint64_t edges[2 * N_EDGES], parent[N_IDS];
    static unsigned char present[N_IDS];
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[4];
    struct sink sink = { { 0 }, NULL, 0 };
    char config[1024];
    uint64_t x = 12345;
    size_t rows = 0, wrong = 0, want_rows = N_FILES;
    int rc;

    for (size_t i = 0; i < N_IDS; i++)
        parent[i] = i;
    for (size_t e = 0; e < N_EDGES; e++) {
        uint64_t a, b, ra, rb;

        x = x * 6364136223846793005ull + 1442695040888963407ull;
        a = (x >> 33) % N_IDS;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        b = (x >> 33) % N_IDS;
        edges[2 * e] = a;
        edges[2 * e + 1] = b;
        present[a] = present[b] = 1;
        ra = find_root(parent, a);
        rb = find_root(parent, b);
        if (ra < rb)
            parent[rb] = ra;
        else
            parent[ra] = rb;
    }
    for (size_t i = 0; i < N_IDS; i++)
        want_rows += present[i];
    write_edges(N_FILES, edges, N_EDGES);
    snprintf(config, sizeof(config),
             "{\"executor\": {\"backend\": \"actor_pool\", \"cpus\": 4}, \"stages\": ["
             "{\"stage\": \"file_partitioning\", \"params\": {\"paths\": [\"%s\"], "
             "\"files_per_group\": 1}},"
             "{\"stage\": \"jsonl_reader\"},"
             "{\"stage\": \"connected_components\", \"comms\": \"ucx\", \"actors\": 3, "
             "\"comms_params\": {\"timeout_s\": 30}, "
             "\"params\": {\"left_column\": \"a\", \"right_column\": \"b\"}}]}",
             tmpdir);
    sink_free(&sink);
    rc = run_config(config, &sink, stats, &err);
    if (rc != 0)
        fprintf(stderr, "\n%s\n", err.message);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(stats[2].actors, 3);
    CU_ASSERT_EQUAL(stats[2].tasks_in, N_FILES);
    CU_ASSERT_EQUAL(stats[2].tasks_out, 3);
    CU_ASSERT_EQUAL(sink.n, 3);
    for (size_t t = 0; t < sink.n; t++) {
        const struct wn_table *table = wn_task_table(sink.tasks[t]);

        CU_ASSERT_PTR_NOT_NULL_FATAL(table);
        for (int64_t r = 0; r < wn_table_num_rows(table); r++) {
            uint64_t id = wn_table_get_uint64(table, 0, r);
            uint64_t group = wn_table_get_uint64(table, 1, r);
            uint64_t want = id >= 900000 ? id : find_root(parent, id);

            wrong += group != want;
            rows++;
        }
    }
    CU_ASSERT_EQUAL(rows, want_rows);
    CU_ASSERT_EQUAL(wrong, 0);
    sink_free(&sink);
    remove_edges(N_FILES);
}

static void test_bad_input_on_one_rank_fails_the_run_with_its_cause(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[4];
    struct sink sink = { { 0 }, NULL, 0 };
    char config[1024], path[512];
    double t0;
    FILE *fp;
    int rc;

    for (int f = 0; f < 3; f++) {
        snprintf(path, sizeof(path), "%s/edges-%02d.jsonl", tmpdir, f);
        fp = fopen(path, "w");
        CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
        if (f == 1)
            fprintf(fp, "{\"a\": 1, \"b\": -4}\n"); /* a negative id */
        else
            fprintf(fp, "{\"a\": %d, \"b\": %d}\n", f, f + 10);
        fclose(fp);
    }
    snprintf(config, sizeof(config),
             "{\"executor\": {\"backend\": \"actor_pool\", \"cpus\": 4}, \"stages\": ["
             "{\"stage\": \"file_partitioning\", \"params\": {\"paths\": [\"%s\"], "
             "\"files_per_group\": 1}},"
             "{\"stage\": \"jsonl_reader\"},"
             "{\"stage\": \"connected_components\", \"comms\": \"ucx\", "
             "\"params\": {\"left_column\": \"a\", \"right_column\": \"b\"}}]}",
             tmpdir);
    sink_free(&sink);
    t0 = now_s();
    rc = run_config(config, &sink, stats, &err);
    CU_ASSERT_EQUAL(rc, WN_EDATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'connected_components' actor 1/3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "a negative id"));
    CU_ASSERT(now_s() - t0 < 20.0);
    CU_ASSERT_EQUAL(sink.n, 0);
    sink_free(&sink);
    remove_edges(3);
}

static void test_nccl_without_a_gpu_fails_the_run_clearly(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[4];
    struct sink sink = { { 0 }, NULL, 0 };
    char config[1024];
    uint64_t edges[] = { 1, 2, 2, 3 };
    int rc;

    if (wn_registry_find_backend(registry, WN_BACKEND_COMMS, "nccl") == NULL) {
        printf("(nccl plugin not built: skipped) ");
        return;
    }
    write_edges(2, edges, 2);
    snprintf(config, sizeof(config),
             "{\"executor\": {\"backend\": \"actor_pool\", \"cpus\": 2}, \"stages\": ["
             "{\"stage\": \"file_partitioning\", \"params\": {\"paths\": [\"%s\"], "
             "\"files_per_group\": 1}},"
             "{\"stage\": \"jsonl_reader\"},"
             "{\"stage\": \"connected_components\", \"comms\": \"nccl\", "
             "\"comms_params\": {\"timeout_s\": 20}, "
             "\"params\": {\"left_column\": \"a\", \"right_column\": \"b\"}}]}",
             tmpdir);
    sink_free(&sink);
    rc = run_config(config, &sink, stats, &err);
    if (rc == 0) {
        /* A machine with GPUs: the labels came back. */
        CU_ASSERT_EQUAL(sink.n, 2);
    } else {
        CU_ASSERT_EQUAL(rc, WN_ERESOURCE);
        /* the root finds no device before it makes the unique id */
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "making the comms group's unique id"));
        CU_ASSERT(strstr(err.message, "no usable CUDA device") != NULL ||
                  strstr(err.message, "needs CUDA device") != NULL);
        printf("\n  %s\n", err.message);
    }
    sink_free(&sink);
    remove_edges(2);
}

static int suite_init(void)
{
    struct wn_error err = WN_ERROR_INIT;

    snprintf(tmpdir, sizeof(tmpdir), "%s/wn-comms-stage-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    registry = wn_registry_new();
    if (registry == NULL || wn_registry_load(registry, &err) < 0 ||
        wn_registry_add_static(registry, &test_plugin, "<builtin:comms_stage_test>", &err) < 0) {
        fprintf(stderr, "registry: %s\n", err.message);
        return 1;
    }
    if (wn_registry_find_stage(registry, "connected_components") == NULL ||
        wn_registry_find_backend(registry, WN_BACKEND_EXECUTOR, "actor_pool") == NULL) {
        fprintf(stderr, "the built plugins are not on WINNOW_PLUGIN_PATH (run through make "
                        "check)\n");
        return 1;
    }
    return 0;
}

static int suite_cleanup(void)
{
    wn_registry_free(registry);
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "every rank follows the RAFT order", test_every_rank_follows_the_raft_order },
        { "ranks never outnumber the input tasks", test_ranks_never_outnumber_the_input_tasks },
        { "a failing rank fails the run and every rank is cleaned up",
          test_a_failing_rank_fails_the_run_and_every_rank_is_cleaned_up },
        { "a failing setup is named and nobody hangs",
          test_a_failing_setup_is_named_and_nobody_hangs },
        { "comms_params are checked against the provider",
          test_comms_params_are_checked_against_the_provider },
        { "connected_components runs end to end over ucx",
          test_connected_components_runs_end_to_end_over_ucx },
        { "bad input on one rank fails the run with its cause",
          test_bad_input_on_one_rank_fails_the_run_with_its_cause },
        { "nccl without a GPU fails the run clearly",
          test_nccl_without_a_gpu_fails_the_run_clearly },
        { NULL, NULL }
    };

    return wn_test_run_suite("comms stages", tests, suite_init, suite_cleanup);
}

#endif /* HAVE_UCX */
