/*
 * COMMS and SHUFFLE stages run as actors of their stage (kinds.c,
 * comms_stage.c, shuffle_stage.c): ranks placed on GPUs from the run's
 * ledger like any actor (a fake device list; the device in the worker info
 * and in rank_init, current on the rank's thread before setup, fractional
 * packing), the hook timeout watch (a hung hook ends the run in bounded
 * time, naming stage, rank and hook, also while the other ranks wait for
 * it in a collective), per-actor report rows and trace slices, and the
 * accounting identity (checked on every report by the probe harness).
 *
 * The providers are in-test: an in-process comms group (join, barrier) and
 * an in-memory shuffle, whose waits have no timeout of their own, so a run
 * that ends while a rank hangs shows that the executor aborted the group.
 */
#include "build_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <winnow/comms.h>
#include <winnow/shuffle.h>
#include <winnow/table.h>

#include "cu.h"
#include "executor.h"
#include "probe.h"

#define MAX_RANKS 16

/* What the in-test stages and providers saw. */
static struct {
    int rank_init_device[MAX_RANKS]; /* device_id + 1 that rank_init got */
    int setup_device[MAX_RANKS];     /* worker->device_id + 1 in setup */
    int setup_current[MAX_RANKS];    /* the device current in setup, + 1 */
    int setups, teardowns, destroys;
    int comms_wrong; /* setup got no communicator, or one of another rank or size */
    int group_frees, group_destroys, aborts;
    long inserted;
} got;

static void got_reset(void)
{
    memset(&got, 0, sizeof(got));
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Blocks until the test sets seen.hang_released. */
static void hang(void)
{
    __atomic_add_fetch(&seen.hanging, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&seen.hang_released, __ATOMIC_ACQUIRE))
        usleep(2000);
    __atomic_sub_fetch(&seen.hanging, 1, __ATOMIC_SEQ_CST);
}

static const struct wn_param_spec no_params[] = { { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL,
                                                    NULL } };

/* ---- an in-process comms provider ------------------------------------------------------ */

struct fake_group {
    uint32_t size;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int aborted;
    char reason[256];
    uint32_t joined, barrier_in;
    uint64_t barrier_gen;
};

struct fake_rank {
    struct wn_comms comms; /* first */
    struct fake_group *g;
};

static int group_aborted(struct fake_group *g, struct wn_error *err)
{
    return wn_error_set(err, WN_ECANCELED, "group aborted: %s", g->reason);
}

static int fc_group_new(const char *name, const struct wn_params *params, uint32_t size,
                        struct wn_comms_group **group, struct wn_error *err)
{
    struct fake_group *g = calloc(1, sizeof(*g));

    (void)name, (void)params, (void)err;
    g->size = size;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cv, NULL);
    *group = (struct wn_comms_group *)g;
    return 0;
}

static int fc_unique_id(struct wn_comms_group *group, struct wn_comms_unique_id *id,
                        struct wn_error *err)
{
    (void)group, (void)err;
    id->size = 4;
    memcpy(id->bytes, "fake", 4);
    return 0;
}

/* Untimed: only an abort ends a wait for a rank that never comes. */
static int fc_barrier(struct wn_comms *comms, struct wn_error *err)
{
    struct fake_group *g = ((struct fake_rank *)comms)->g;
    uint64_t gen;
    int rc = 0;

    pthread_mutex_lock(&g->lock);
    gen = g->barrier_gen;
    if (++g->barrier_in == g->size) {
        g->barrier_in = 0;
        g->barrier_gen++;
        pthread_cond_broadcast(&g->cv);
    }
    while (g->barrier_gen == gen && !g->aborted)
        pthread_cond_wait(&g->cv, &g->lock);
    if (g->barrier_gen == gen)
        rc = group_aborted(g, err);
    pthread_mutex_unlock(&g->lock);
    return rc;
}

static int fc_rank_init(struct wn_comms_group *group, const struct wn_comms_unique_id *id,
                        uint32_t rank, int device_id, struct wn_comms **comms, struct wn_error *err)
{
    struct fake_group *g = (struct fake_group *)group;
    struct fake_rank *r;
    int rc = 0;

    if (id->size != 4 || memcmp(id->bytes, "fake", 4) != 0)
        return wn_error_set(err, WN_EINVAL, "not the root's id");
    if (rank < MAX_RANKS)
        got.rank_init_device[rank] = device_id + 1;
    r = calloc(1, sizeof(*r));
    r->comms.version = WN_COMMS_VERSION;
    r->comms.struct_size = sizeof(r->comms);
    r->comms.rank = rank;
    r->comms.size = g->size;
    r->comms.provider = "fake";
    r->comms.barrier = fc_barrier;
    r->g = g;
    pthread_mutex_lock(&g->lock);
    g->joined++;
    pthread_cond_broadcast(&g->cv);
    while (g->joined < g->size && !g->aborted)
        pthread_cond_wait(&g->cv, &g->lock);
    if (g->joined < g->size)
        rc = group_aborted(g, err);
    pthread_mutex_unlock(&g->lock);
    if (rc < 0) {
        free(r);
        return rc;
    }
    *comms = &r->comms;
    return 0;
}

static void fc_group_abort(struct wn_comms_group *group, const char *reason)
{
    struct fake_group *g = (struct fake_group *)group;

    pthread_mutex_lock(&g->lock);
    if (!g->aborted) {
        g->aborted = 1;
        snprintf(g->reason, sizeof(g->reason), "%s", reason);
        __atomic_add_fetch(&got.aborts, 1, __ATOMIC_SEQ_CST);
    }
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->lock);
}

static void fc_rank_destroy(struct wn_comms_group *group, struct wn_comms *comms)
{
    (void)group;
    free(comms);
}

static void fc_group_free(struct wn_comms_group *group)
{
    struct fake_group *g = (struct fake_group *)group;

    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->lock);
    free(g);
    __atomic_add_fetch(&got.group_frees, 1, __ATOMIC_SEQ_CST);
}

static const struct wn_comms_provider_ops fc_ops = { WN_COMMS_PROVIDER_OPS_VERSION,
                                                     fc_group_new,
                                                     fc_unique_id,
                                                     fc_rank_init,
                                                     fc_group_abort,
                                                     fc_rank_destroy,
                                                     fc_group_free,
                                                     { NULL } };

static const struct wn_backend_desc fake_comms = {
    WN_BACKEND_HEADER, "fake_comms", "an in-process group", WN_BACKEND_COMMS, no_params,
    &fc_ops,           { NULL }
};

/* ---- an in-memory shuffle provider ----------------------------------------------------- */

struct fs_group {
    uint32_t n_ranks, n_parts;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int aborted;
    char reason[256];
    uint32_t opened, finished;
    uint64_t **keys;
    size_t *n_keys;
};

struct fs_rank {
    struct fs_group *g;
    uint32_t rank;
};

static int fs_group_create(const struct wn_shuffle_group_config *config,
                           struct wn_shuffle_group **group, struct wn_error *err)
{
    struct fs_group *g = calloc(1, sizeof(*g));

    (void)err;
    g->n_ranks = config->num_ranks;
    g->n_parts = config->num_partitions;
    g->keys = calloc(g->n_parts, sizeof(*g->keys));
    g->n_keys = calloc(g->n_parts, sizeof(*g->n_keys));
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cv, NULL);
    *group = (struct wn_shuffle_group *)g;
    return 0;
}

/* Every rank arrives at *count; untimed (only an abort ends it).  Lock held. */
static int fs_arrive(struct fs_group *g, uint32_t *count, struct wn_error *err)
{
    (*count)++;
    pthread_cond_broadcast(&g->cv);
    while (*count < g->n_ranks && !g->aborted)
        pthread_cond_wait(&g->cv, &g->lock);
    if (*count < g->n_ranks)
        return wn_error_set(err, WN_ECANCELED, "shuffle aborted: %s", g->reason);
    return 0;
}

static int fs_open(struct wn_shuffle_group *group, uint32_t rank, struct wn_shuffle **out,
                   struct wn_error *err)
{
    struct fs_group *g = (struct fs_group *)group;
    struct fs_rank *r = calloc(1, sizeof(*r));
    int rc;

    r->g = g;
    r->rank = rank;
    pthread_mutex_lock(&g->lock);
    rc = fs_arrive(g, &g->opened, err);
    pthread_mutex_unlock(&g->lock);
    if (rc < 0) {
        free(r);
        *out = NULL;
        return rc;
    }
    *out = (struct wn_shuffle *)r;
    return 0;
}

static int fs_insert(struct wn_shuffle *sh, const struct wn_table *rows, const uint32_t *parts,
                     struct wn_error *err)
{
    struct fs_group *g = ((struct fs_rank *)sh)->g;
    int64_t n = wn_table_num_rows(rows);

    pthread_mutex_lock(&g->lock);
    for (int64_t i = 0; i < n; i++) {
        uint32_t p = parts[i];

        if (p >= g->n_parts) {
            pthread_mutex_unlock(&g->lock);
            return wn_error_set(err, WN_EINVAL, "partition %u of %u", p, g->n_parts);
        }
        g->keys[p] = realloc(g->keys[p], (g->n_keys[p] + 1) * sizeof(**g->keys));
        g->keys[p][g->n_keys[p]++] = wn_table_get_uint64(rows, 0, i);
    }
    pthread_mutex_unlock(&g->lock);
    __atomic_add_fetch(&got.inserted, (long)n, __ATOMIC_SEQ_CST);
    return 0;
}

static int fs_insert_finished(struct wn_shuffle *sh, struct wn_error *err)
{
    struct fs_group *g = ((struct fs_rank *)sh)->g;
    int rc;

    pthread_mutex_lock(&g->lock);
    rc = fs_arrive(g, &g->finished, err);
    pthread_mutex_unlock(&g->lock);
    return rc;
}

static int fs_extract(struct wn_shuffle *sh, uint32_t partition, struct wn_table *out,
                      struct wn_error *err)
{
    struct fs_group *g = ((struct fs_rank *)sh)->g;
    struct wn_table_builder *b = wn_table_builder_new();
    int rc;

    wn_table_builder_add_column(b, "key", WN_COLUMN_UINT64, 0);
    for (size_t i = 0; i < g->n_keys[partition]; i++)
        wn_table_builder_append_uint64(b, 0, g->keys[partition][i]);
    rc = wn_table_builder_finish(b, out, err);
    wn_table_builder_free(b);
    return rc;
}

static void fs_close(struct wn_shuffle *sh)
{
    free(sh);
}

static void fs_group_abort(struct wn_shuffle_group *group, const char *reason)
{
    struct fs_group *g = (struct fs_group *)group;

    pthread_mutex_lock(&g->lock);
    if (!g->aborted) {
        g->aborted = 1;
        snprintf(g->reason, sizeof(g->reason), "%s", reason);
        __atomic_add_fetch(&got.aborts, 1, __ATOMIC_SEQ_CST);
    }
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->lock);
}

static void fs_group_destroy(struct wn_shuffle_group *group)
{
    struct fs_group *g = (struct fs_group *)group;

    for (uint32_t p = 0; p < g->n_parts; p++)
        free(g->keys[p]);
    free(g->keys);
    free(g->n_keys);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->lock);
    free(g);
    __atomic_add_fetch(&got.group_destroys, 1, __ATOMIC_SEQ_CST);
}

static const struct wn_shuffle_provider_ops fs_ops = { WN_SHUFFLE_PROVIDER_OPS_VERSION,
                                                       fs_group_create,
                                                       fs_open,
                                                       fs_insert,
                                                       fs_insert_finished,
                                                       fs_extract,
                                                       fs_close,
                                                       fs_group_abort,
                                                       fs_group_destroy,
                                                       { NULL },
                                                       NULL };

static const struct wn_backend_desc fake_shuffle = {
    WN_BACKEND_HEADER, "fake_shuffle", "an in-memory shuffle", WN_BACKEND_SHUFFLE, no_params,
    &fs_ops,           { NULL }
};

/* ---- the stages (probe_params: hang_on, hang_in_setup) ---------------------------------- */

struct kstage {
    const struct wn_params *params;
    uint32_t index;
    struct wn_comms *comms;
};

static int k_create(const struct wn_params *params, void **state, struct wn_error *err)
{
    struct kstage *s = calloc(1, sizeof(*s));

    (void)err;
    s->params = params;
    *state = s;
    return 0;
}

static int k_setup(void *state, const struct wn_worker *worker, struct wn_error *err)
{
    struct kstage *s = state;
    uint32_t i = worker->actor_index;

    (void)err;
    s->index = i;
    s->comms = worker->comms;
    __atomic_add_fetch(&got.setups, 1, __ATOMIC_SEQ_CST);
    if (i < MAX_RANKS) {
        got.setup_device[i] = worker->device_id + 1;
        got.setup_current[i] = probe_current_device + 1;
    }
    /* Rank 1 hangs in setup when asked. */
    if (wn_params_get_bool(s->params, "hang_in_setup") && i == 1) {
        hang();
        return 0; /* the run is gone: touch nothing else */
    }
    return 0;
}

static int comms_setup(void *state, const struct wn_worker *worker, struct wn_error *err)
{
    const struct wn_comms *comms = worker->comms;

    if (comms == NULL || comms->rank != worker->actor_index || comms->size != worker->pool_size)
        __atomic_add_fetch(&got.comms_wrong, 1, __ATOMIC_SEQ_CST);
    return k_setup(state, worker, err);
}

static int hangs_on(const struct kstage *s, const struct wn_task *task)
{
    const char *hang_on = wn_params_get_string(s->params, "hang_on");

    return hang_on != NULL && strcmp(wn_task_id(task), hang_on) == 0;
}

/* Every rank forwards its chunk after a barrier with the others. */
static int comms_process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                         struct wn_error *err)
{
    struct kstage *s = state;
    int rc;

    if (hangs_on(s, in[0])) {
        hang();
        return 0; /* the run is gone: touch nothing else */
    }
    wn_metric_add(out, "chunk_tasks", (double)n_in);
    rc = wn_comms_barrier(s->comms, err);
    for (size_t i = 0; i < n_in && rc >= 0; i++)
        rc = wn_emit(out, wn_task_take(&in[i]));
    return rc;
}

static void k_teardown(void *state)
{
    (void)state;
    __atomic_add_fetch(&got.teardowns, 1, __ATOMIC_SEQ_CST);
}

static void k_destroy(void *state)
{
    __atomic_add_fetch(&got.destroys, 1, __ATOMIC_SEQ_CST);
    free(state);
}

static int not_plain(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                     struct wn_error *err)
{
    (void)state, (void)in, (void)n_in, (void)out;
    return wn_error_set(err, WN_EUNSUPPORTED, "a SHUFFLE stage");
}

/* One row per task: its v, in partition v % P. */
static int sh_insert(void *state, struct wn_task **in, size_t n_in, struct wn_shuffle_sink *sink,
                     struct wn_error *err)
{
    struct kstage *s = state;
    int rc = 0;

    for (size_t i = 0; i < n_in && rc >= 0; i++) {
        struct wn_table_builder *b;
        struct wn_table rows;
        uint64_t v = (uint64_t)task_value(in[i]);
        uint32_t part = (uint32_t)(v % sink->num_partitions);

        if (hangs_on(s, in[i])) {
            hang();
            return 0; /* the run is gone: touch nothing else */
        }
        b = wn_table_builder_new();
        wn_table_builder_add_column(b, "key", WN_COLUMN_UINT64, 0);
        wn_table_builder_append_uint64(b, 0, v);
        rc = wn_table_builder_finish(b, &rows, err);
        wn_table_builder_free(b);
        if (rc < 0)
            return rc;
        rc = wn_shuffle_insert(sink, &rows, &part, err);
        wn_table_release(&rows);
    }
    return rc;
}

/* One task "key_<v>" per row. */
static int sh_extract(void *state, const struct wn_shuffle_partition *partition,
                      struct wn_table *rows, struct wn_emitter *out, struct wn_error *err)
{
    int64_t n = wn_table_num_rows(rows);
    int rc = 0;

    (void)state, (void)err;
    wn_metric_add(out, "rows", (double)n);
    for (int64_t r = 0; r < n && rc >= 0; r++) {
        char id[48], v[24];
        struct wn_task *task;

        snprintf(id, sizeof(id), "key_%llu", (unsigned long long)wn_table_get_uint64(rows, 0, r));
        snprintf(v, sizeof(v), "%llu", (unsigned long long)wn_table_get_uint64(rows, 0, r));
        task = wn_task_new(id, partition->dataset);
        wn_task_meta_set(task, "v", v);
        rc = wn_emit(out, task);
    }
    return rc;
}

static const struct wn_stage_ops comms_ops = {
    WN_STAGE_OPS_VERSION, NULL,       k_create,  comms_setup,
    comms_process,        k_teardown, k_destroy, { NULL }
};
static const struct wn_stage_ops shuffle_ops = {
    WN_STAGE_OPS_VERSION, NULL, k_create, k_setup, not_plain, k_teardown, k_destroy, { NULL }
};
static const struct wn_shuffle_stage_ops shuffle_hooks = { WN_SHUFFLE_STAGE_OPS_VERSION,
                                                           WN_SHUFFLE_PARTITIONS_PER_TASK,
                                                           NULL,
                                                           sh_insert,
                                                           sh_extract,
                                                           { NULL },
                                                           NULL };

static const struct wn_stage_desc comms_desc = {
    WN_STAGE_HEADER, "k_comms",       "barrier, then forward", probe_params, { 1, 0, 0, 0 }, 1,
    WN_STAGE_COMMS,  WN_PAYLOADS_ANY, WN_PAYLOADS_ANY,         NULL,         &comms_ops,     NULL,
    { NULL }
};
static const struct wn_stage_desc shuffle_desc = { WN_STAGE_HEADER,
                                                   "k_shuffle",
                                                   "one row per task, by v",
                                                   probe_params,
                                                   { 1, 0, 0, 0 },
                                                   1,
                                                   WN_STAGE_SHUFFLE,
                                                   WN_PAYLOADS_ANY,
                                                   WN_PAYLOADS_ANY,
                                                   NULL,
                                                   &shuffle_ops,
                                                   &shuffle_hooks,
                                                   { NULL } };

/* ---- helpers ------------------------------------------------------------------------- */

static const char *const modes[] = { "{\"cpus\": 8, \"mode\": \"barrier\"}", "{\"cpus\": 8}" };
static const struct wn_gpu_device two_devices[] = { { 0, 80.0 }, { 1, 80.0 } };

static void reset(void)
{
    probe_use_fake_gpus(NULL, 0); /* also seen_reset() */
    got_reset();
}

static json_t *stage_of(json_t *report, size_t i)
{
    return json_array_get(json_object_get(report, "stages"), i);
}

static json_int_t integer(json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

/* Devices of a stage's actors in the report, in actor order. */
static void report_devices(json_t *stage, int *devices, size_t n)
{
    json_t *actors = json_object_get(stage, "actor_list");

    CU_ASSERT_EQUAL_FATAL(json_array_size(actors), n);
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(actors, i);

        CU_ASSERT_EQUAL(integer(a, "index"), (json_int_t)i);
        devices[i] = (int)integer(a, "device");
    }
}

/* Waits (at most 10 s) until the run an abandoned actor holds is freed. */
static void wait_for_abandoned_run(void)
{
    double until = now_s() + 10.0;

    while (wn_ap_live_runs() > 0 && now_s() < until)
        usleep(2000);
    CU_ASSERT_EQUAL(wn_ap_live_runs(), 0);
    free_kept_params();
}

/* ---- GPUs ------------------------------------------------------------------------------ */

static void test_comms_ranks_take_their_devices_from_the_ledger(void)
{
    static const struct stage_spec whole[] = {
        { "cc", "{}", 1, 0, 1, &comms_desc, WN_ON_ERROR_FAIL, 0, 0, 1, 0, 0 },
    };
    static const struct stage_spec halves[] = {
        { "cc", "{}", 1, 4, 1, &comms_desc, WN_ON_ERROR_FAIL, 0, 0, 0.5, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct run_result result;
    struct wn_stage_stats stats;
    struct collector sink;
    int devices[4];

    /* gpus 1 on two devices: two ranks (for 4 tasks), one per device */
    reset();
    probe_use_fake_gpus(two_devices, 2);
    collector_init(&sink);
    CU_ASSERT_EQUAL_FATAL(
        run_pipeline_with(modes[0], whole, 1, 4, &sink, &stats, NULL, &result, &err), 0);
    CU_ASSERT_EQUAL(sink.n, 4);
    CU_ASSERT_EQUAL(stats.actors, 2);
    for (int r = 0; r < 2; r++) {
        CU_ASSERT_EQUAL(got.rank_init_device[r], r + 1); /* device r, given to the provider */
        CU_ASSERT_EQUAL(got.setup_device[r], r + 1);     /* and in the worker info */
        CU_ASSERT_EQUAL(got.setup_current[r], r + 1);    /* current before setup */
    }
    CU_ASSERT_EQUAL(probe_gpu_bind_calls, 2);
    CU_ASSERT_EQUAL(probe_gpu_discover_calls, 1);
    CU_ASSERT_EQUAL(got.comms_wrong, 0);
    report_devices(stage_of(result.report, 0), devices, 2);
    CU_ASSERT_EQUAL(devices[0], 0);
    CU_ASSERT_EQUAL(devices[1], 1);
    json_decref(result.report);
    collector_free(&sink);

    /* gpus 0.5, four ranks: packed first-fit, two per device, as plain actors are */
    reset();
    probe_use_fake_gpus(two_devices, 2);
    collector_init(&sink);
    CU_ASSERT_EQUAL_FATAL(
        run_pipeline_with(modes[1], halves, 1, 4, &sink, &stats, NULL, &result, &err), 0);
    CU_ASSERT_EQUAL(sink.n, 4);
    CU_ASSERT_EQUAL(stats.actors, 4);
    for (int r = 0; r < 4; r++) {
        CU_ASSERT_EQUAL(got.rank_init_device[r], r / 2 + 1);
        CU_ASSERT_EQUAL(got.setup_device[r], r / 2 + 1);
        CU_ASSERT_EQUAL(got.setup_current[r], r / 2 + 1);
    }
    report_devices(stage_of(result.report, 0), devices, 4);
    CU_ASSERT(devices[0] == 0 && devices[1] == 0 && devices[2] == 1 && devices[3] == 1);
    CU_ASSERT_EQUAL(got.group_frees, 1);
    json_decref(result.report);
    collector_free(&sink);
}

static void test_comms_ranks_without_a_gpu_request_get_no_device(void)
{
    static const struct stage_spec stages[] = {
        { "cc", "{}", 1, 3, 1, &comms_desc, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;

    reset();
    probe_use_fake_gpus(two_devices, 2);
    CU_ASSERT_EQUAL_FATAL(run_pipeline(modes[0], stages, 1, 3, NULL, NULL, &err), 0);
    for (int r = 0; r < 3; r++) {
        CU_ASSERT_EQUAL(got.rank_init_device[r], 0); /* -1: none assigned */
        CU_ASSERT_EQUAL(got.setup_device[r], 0);
    }
    CU_ASSERT_EQUAL(probe_gpu_discover_calls, 0);
    CU_ASSERT_EQUAL(probe_gpu_bind_calls, 0);
}

static void test_shuffle_ranks_take_their_devices_from_the_ledger(void)
{
    static const struct stage_spec stages[] = {
        { "sh", "{}", 1, 4, 1, &shuffle_desc, WN_ON_ERROR_FAIL, 0, 0, 0.5, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct run_result result;
    struct collector sink;
    int devices[4];

    reset();
    probe_use_fake_gpus(two_devices, 2);
    collector_init(&sink);
    CU_ASSERT_EQUAL_FATAL(
        run_pipeline_with(modes[0], stages, 1, 8, &sink, NULL, NULL, &result, &err), 0);
    /* 8 partitions (one per task), key v in partition v: outputs in partition order */
    CU_ASSERT_EQUAL_FATAL(sink.n, 8);
    for (size_t i = 0; i < 8; i++) {
        char id[32];

        snprintf(id, sizeof(id), "key_%zu", i);
        CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[i]), id);
    }
    for (int r = 0; r < 4; r++) {
        CU_ASSERT_EQUAL(got.setup_device[r], r / 2 + 1);
        CU_ASSERT_EQUAL(got.setup_current[r], r / 2 + 1);
    }
    report_devices(stage_of(result.report, 0), devices, 4);
    CU_ASSERT(devices[0] == 0 && devices[1] == 0 && devices[2] == 1 && devices[3] == 1);
    CU_ASSERT_EQUAL(got.group_destroys, 1);
    json_decref(result.report);
    collector_free(&sink);
}

/* ---- report rows and trace slices --------------------------------------------------------- */

/* Sums a field over a stage's actor_list. */
static json_int_t actors_sum(json_t *stage, const char *key)
{
    json_t *actors = json_object_get(stage, "actor_list");
    json_int_t sum = 0;

    for (size_t i = 0; i < json_array_size(actors); i++)
        sum += integer(json_array_get(actors, i), key);
    return sum;
}

static double metric_sum(json_t *stage, const char *name)
{
    return json_number_value(
        json_object_get(json_object_get(json_object_get(stage, "metrics"), name), "sum"));
}

struct slices {
    int tracks[4];  /* "cc/0", "cc/1", "sh/0", "sh/1" */
    int batches[2]; /* cc, sh */
    json_int_t tasks[2], outputs[2];
    int rank_inits, setups, insert_finished, teardowns;
};

static void count_slices(json_t *trace, struct slices *s)
{
    static const char *const names[] = { "cc/0", "cc/1", "sh/0", "sh/1" };
    json_t *events = json_object_get(trace, "traceEvents");

    memset(s, 0, sizeof(*s));
    CU_ASSERT_FATAL(json_is_array(events));
    for (size_t i = 0; i < json_array_size(events); i++) {
        json_t *ev = json_array_get(events, i), *args = json_object_get(ev, "args");
        const char *ph = json_string_value(json_object_get(ev, "ph"));
        const char *name = json_string_value(json_object_get(ev, "name"));
        const char *cat = json_string_value(json_object_get(ev, "cat"));

        if (strcmp(ph, "M") == 0 && strcmp(name, "thread_name") == 0) {
            for (int k = 0; k < 4; k++)
                s->tracks[k] +=
                    strcmp(json_string_value(json_object_get(args, "name")), names[k]) == 0;
            continue;
        }
        if (strcmp(ph, "X") != 0)
            continue;
        if (strcmp(cat, "batch") == 0) {
            int k = strcmp(name, "cc") == 0 ? 0 : 1;

            CU_ASSERT(strcmp(name, "cc") == 0 || strcmp(name, "sh") == 0 ||
                      strcmp(name, "src") == 0);
            if (strcmp(name, "src") == 0)
                continue;
            s->batches[k]++;
            s->tasks[k] += integer(args, "tasks");
            s->outputs[k] += integer(args, "outputs");
            CU_ASSERT(json_is_true(json_object_get(args, "ok")));
        } else {
            s->rank_inits += strcmp(name, "comms rank_init") == 0;
            s->setups += strcmp(name, "setup") == 0;
            s->insert_finished += strcmp(name, "insert_finished") == 0;
            s->teardowns += strcmp(name, "teardown") == 0;
        }
    }
}

static void test_report_and_trace_show_every_comms_and_shuffle_actor(void)
{
    static const struct stage_spec stages[] = {
        { "src", "{\"forward\": true}", 1, 1, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "cc", "{}", 1, 2, 1, &comms_desc, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "sh", "{}", 1, 2, 1, &shuffle_desc, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };

    for (int m = 0; m < 2; m++) {
        struct wn_run_reporting rep;
        struct wn_error err = WN_ERROR_INIT;
        struct wn_stage_stats stats[3];
        struct run_result result;
        struct collector sink;
        struct slices s;
        char path[256];
        json_t *trace, *cc, *sh;

        reset();
        collector_init(&sink);
        test_path(path, sizeof(path), m == 0 ? "trace-barrier.json" : "trace-streaming.json");
        memset(&rep, 0, sizeof(rep));
        rep.trace_path = path;
        CU_ASSERT_EQUAL_FATAL(
            run_pipeline_with(modes[m], stages, 3, 6, &sink, stats, &rep, &result, &err), 0);
        CU_ASSERT_EQUAL(sink.n, 6);
        cc = stage_of(result.report, 1);
        sh = stage_of(result.report, 2);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(cc, "kind")), "comms");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(sh, "kind")), "shuffle");
        CU_ASSERT(json_is_true(json_object_get(cc, "balanced")));
        CU_ASSERT(json_is_true(json_object_get(sh, "balanced")));

        /* COMMS: one row per rank, one batch (its chunk of 3) each */
        CU_ASSERT_EQUAL(integer(cc, "actors"), 2);
        CU_ASSERT_EQUAL(json_array_size(json_object_get(cc, "actor_list")), 2);
        for (size_t i = 0; i < 2; i++) {
            json_t *a = json_array_get(json_object_get(cc, "actor_list"), i);

            CU_ASSERT_EQUAL(integer(a, "batches"), 1);
            CU_ASSERT_EQUAL(integer(a, "tasks_in"), 3);
            CU_ASSERT_EQUAL(integer(a, "tasks_out"), 3);
            CU_ASSERT_EQUAL(integer(a, "items_in"), 6); /* two files per task */
            CU_ASSERT(json_number_value(json_object_get(a, "busy_s")) >= 0.0);
            CU_ASSERT(json_number_value(json_object_get(a, "setup_s")) > 0.0);
            CU_ASSERT(json_is_false(json_object_get(a, "abandoned")));
        }
        CU_ASSERT_EQUAL(stats[1].actors, 2);
        CU_ASSERT_EQUAL(stats[1].batches, 2);
        CU_ASSERT_EQUAL(stats[1].items_in, 12);
        CU_ASSERT_EQUAL(stats[1].items_out, 12);
        CU_ASSERT_DOUBLE_EQUAL(metric_sum(cc, "chunk_tasks"), 6.0, 1e-9);

        /* SHUFFLE: rows per rank; tasks in (inserted) and out (extracted) add up */
        CU_ASSERT_EQUAL(integer(sh, "actors"), 2);
        CU_ASSERT_EQUAL(json_array_size(json_object_get(sh, "actor_list")), 2);
        CU_ASSERT_EQUAL(actors_sum(sh, "tasks_in"), 6);
        CU_ASSERT_EQUAL(actors_sum(sh, "tasks_out"), 6);
        CU_ASSERT_EQUAL(actors_sum(sh, "batches"), 6 + 6); /* inserts + partitions */
        for (size_t i = 0; i < 2; i++)                     /* each owns 3 of the 6 partitions */
            CU_ASSERT(integer(json_array_get(json_object_get(sh, "actor_list"), i), "batches") >=
                      3);
        CU_ASSERT_EQUAL(stats[2].actors, 2);
        CU_ASSERT_EQUAL(stats[2].tasks_in, 6);
        CU_ASSERT_EQUAL(stats[2].tasks_out, 6);
        CU_ASSERT_DOUBLE_EQUAL(metric_sum(sh, "rows"), 6.0, 1e-9);
        CU_ASSERT_EQUAL(got.inserted, 6);

        /* the trace: a track per rank, a slice per batch, setup, join, teardown */
        trace = json_load_file(path, 0, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(trace);
        count_slices(trace, &s);
        for (int k = 0; k < 4; k++)
            CU_ASSERT_EQUAL(s.tracks[k], 1);
        CU_ASSERT_EQUAL(s.batches[0], 2);
        CU_ASSERT_EQUAL(s.tasks[0], 6);
        CU_ASSERT_EQUAL(s.outputs[0], 6);
        CU_ASSERT_EQUAL(s.batches[1], 12);
        CU_ASSERT_EQUAL(s.tasks[1], 6);
        CU_ASSERT_EQUAL(s.outputs[1], 6);
        CU_ASSERT_EQUAL(s.rank_inits, 2);
        CU_ASSERT_EQUAL(s.setups, 5); /* src, 2 cc, 2 sh */
        CU_ASSERT_EQUAL(s.insert_finished, 2);
        CU_ASSERT_EQUAL(s.teardowns, 5); /* src, 2 cc, 2 sh */
        CU_ASSERT_EQUAL(got.teardowns, 4);
        CU_ASSERT_EQUAL(got.destroys, 4);
        json_decref(trace);
        json_decref(result.report);
        collector_free(&sink);
    }
}

/* ---- hung hooks ------------------------------------------------------------------------------ */

/* Runs specs expecting WN_ETIMEDOUT within 5 s with `says` in the message
 * (group_waits: other ranks wait in the group for the hung one, which the
 * executor must abort); then lets the hung hook return and waits until its
 * thread freed the run. */
static void expect_timeout(const char *executor_json, const struct stage_spec *specs,
                           size_t n_stages, size_t n_roots, const char *says, int group_waits)
{
    struct wn_error err = WN_ERROR_INIT;
    struct run_result result;
    double start = now_s(), took;
    int rc;

    rc =
        run_pipeline_with(executor_json, specs, n_stages, n_roots, NULL, NULL, NULL, &result, &err);
    took = now_s() - start;
    CU_ASSERT_EQUAL(rc, WN_ETIMEDOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, says));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "leaves that thread running"));
    if (strstr(err.message, says) == NULL)
        fprintf(stderr, "got: %s\n", err.message);
    CU_ASSERT(took >= 0.3 && took < 5.0);
    CU_ASSERT_EQUAL(result.reporting.threads_abandoned, 1);
    CU_ASSERT_EQUAL(__atomic_load_n(&seen.hanging, __ATOMIC_SEQ_CST), 1);
    if (group_waits)
        CU_ASSERT(got.aborts >= 1); /* the others were not left waiting for it */
    if (result.report != NULL) {
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(result.report, "status")),
                               "failed");
        CU_ASSERT_EQUAL(integer(result.report, "threads_abandoned"), 1);
    }
    json_decref(result.report);
    /* The other ranks were torn down; the hung one is, once its hook returns. */
    CU_ASSERT_EQUAL(got.teardowns, 1);
    __atomic_store_n(&seen.hang_released, 1, __ATOMIC_SEQ_CST);
    wait_for_abandoned_run();
    CU_ASSERT_EQUAL(got.teardowns, 2);
    CU_ASSERT_EQUAL(got.destroys, 2);
}

static void test_a_comms_rank_hung_in_process_batch_ends_the_run_after_timeout_s(void)
{
    /* Rank 0 waits in a barrier for rank 1, which never comes. */
    static const struct stage_spec stages[] = {
        { "cc", "{\"hang_on\": \"root_1\"}", 1, 2, 1, &comms_desc, WN_ON_ERROR_FAIL, 0, 0.3, 0, 0,
          0 },
    };

    for (int m = 0; m < 2; m++) {
        reset();
        expect_timeout(modes[m], stages, 1, 2,
                       "stage 'cc' actor 1/2: process_batch on task root_1 did not return "
                       "within timeout_s 0.3",
                       1);
        CU_ASSERT_EQUAL(got.group_frees, 1);
    }
}

static void test_a_comms_rank_hung_in_setup_ends_the_run_after_timeout_s(void)
{
    static const struct stage_spec stages[] = {
        { "cc", "{\"hang_in_setup\": true}", 1, 2, 1, &comms_desc, WN_ON_ERROR_FAIL, 0, 0.3, 0, 0,
          0 },
    };

    for (int m = 0; m < 2; m++) {
        reset();
        expect_timeout(modes[m], stages, 1, 4,
                       "stage 'cc' actor 1/2: setup did not return within timeout_s 0.3", 1);
        CU_ASSERT_EQUAL(got.group_frees, 1);
    }
}

static void test_a_shuffle_rank_hung_in_insert_ends_the_run_after_timeout_s(void)
{
    /* The other rank waits in insert_finished for the hung one. */
    static const struct stage_spec stages[] = {
        { "src", "{\"forward\": true}", 1, 1, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "sh", "{\"hang_on\": \"root_2\"}", 1, 2, 1, &shuffle_desc, WN_ON_ERROR_FAIL, 0, 0.3, 0, 0,
          0 },
    };

    for (int m = 0; m < 2; m++) {
        reset();
        expect_timeout(modes[m], stages, 2, 4,
                       "/2: insert on task root_2 did not return within timeout_s 0.3", 1);
        CU_ASSERT_EQUAL(got.group_destroys, 1); /* once the hung rank closed its shuffle */
    }
}

static void test_a_shuffle_rank_hung_in_setup_ends_the_run_after_timeout_s(void)
{
    static const struct stage_spec stages[] = {
        { "sh", "{\"hang_in_setup\": true}", 1, 2, 1, &shuffle_desc, WN_ON_ERROR_FAIL, 0, 0.3, 0, 0,
          0 },
    };

    for (int m = 0; m < 2; m++) {
        reset();
        expect_timeout(modes[m], stages, 1, 4,
                       "stage 'sh' actor 1/2: setup did not return within timeout_s 0.3", 0);
        CU_ASSERT_EQUAL(got.group_destroys, 0); /* no round started */
    }
}

static int suite_init(void)
{
    probe_comms_provider = &fake_comms;
    probe_shuffle_provider = &fake_shuffle;
    alarm(120); /* a hang is a failure */
    return 0;
}

static int suite_cleanup(void)
{
    probe_comms_provider = probe_shuffle_provider = NULL;
    wn_gpu_set_backend(NULL);
    return 0;
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "COMMS ranks take their devices from the ledger",
          test_comms_ranks_take_their_devices_from_the_ledger },
        { "COMMS ranks without a GPU request get no device",
          test_comms_ranks_without_a_gpu_request_get_no_device },
        { "SHUFFLE ranks take their devices from the ledger",
          test_shuffle_ranks_take_their_devices_from_the_ledger },
        { "report and trace show every COMMS and SHUFFLE actor",
          test_report_and_trace_show_every_comms_and_shuffle_actor },
        { "a COMMS rank hung in process_batch ends the run after timeout_s",
          test_a_comms_rank_hung_in_process_batch_ends_the_run_after_timeout_s },
        { "a COMMS rank hung in setup ends the run after timeout_s",
          test_a_comms_rank_hung_in_setup_ends_the_run_after_timeout_s },
        { "a SHUFFLE rank hung in insert ends the run after timeout_s",
          test_a_shuffle_rank_hung_in_insert_ends_the_run_after_timeout_s },
        { "a SHUFFLE rank hung in setup ends the run after timeout_s",
          test_a_shuffle_rank_hung_in_setup_ends_the_run_after_timeout_s },
        { NULL, NULL }
    };

    return wn_test_run_suite("COMMS and SHUFFLE stages as actors", tests, suite_init,
                             suite_cleanup);
}
