/*
 * SHUFFLE stages on the actor_pool executor (its sources compiled into this
 * program, driven through its entry point) over the ucx provider:
 * exact_dedup on 1, 2, 4 and 8 ranks, and a stage or provider failing on one
 * rank in every phase (the run fails naming stage, rank, phase and cause;
 * nothing hangs; nothing is left in the spill directory).
 */
#include "build_config.h"

#include <stdio.h>

#include "cu.h"

#ifndef HAVE_UCX
int main(void)
{
    puts("SKIP: built without UCX");
    return 77;
}
#else

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <winnow/plugin.h>
#include <winnow/shuffle.h>

#include "exact_dedup.h"
#include "params_internal.h"
#include "shuffle_pool.h"
#include "shuffle_provider.h"

static char *spill_root;

static int dir_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* ---- a stage that fails where it is told -------------------------------------- */

static const char *const phases[] = { "none", "create", "setup", "insert", "extract", NULL };

static const struct wn_param_spec faulty_params[] = {
    { "fail_phase", WN_PARAM_STRING, 0, "\"none\"", 0, 0, phases, "where to fail" },
    { "fail_rank", WN_PARAM_INT, 0, "1", 0, 0, NULL, "which rank fails" },
    { "hang_s", WN_PARAM_DOUBLE, 0, "0", 0, 0, NULL, "insert of hang_task sleeps this long" },
    { "hang_task", WN_PARAM_STRING, 0, "\"in_0\"", 0, 0, NULL, "the task whose insert hangs" },
    { "fail_task", WN_PARAM_STRING, 0, "\"in_0\"", 0, 0, NULL, "the task whose insert fails" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

struct faulty {
    const char *phase;
    int64_t fail_rank;
    double hang_s;
    const char *hang_task;
    const char *fail_task;
    uint32_t rank;
};

static int faulty_create(const struct wn_params *params, void **state, struct wn_error *err)
{
    struct faulty *f = calloc(1, sizeof(*f));

    f->phase = wn_params_get_string(params, "fail_phase");
    f->fail_rank = wn_params_get_int(params, "fail_rank");
    f->hang_s = wn_params_get_double(params, "hang_s");
    f->hang_task = wn_params_get_string(params, "hang_task");
    f->fail_task = wn_params_get_string(params, "fail_task");
    /* create runs before the rank is known: it fails on every rank. */
    if (strcmp(f->phase, "create") == 0) {
        free(f);
        return wn_error_set(err, WN_EIO, "injected create failure");
    }
    *state = f;
    return 0;
}

static int faulty_setup(void *state, const struct wn_worker *worker, struct wn_error *err)
{
    struct faulty *f = state;

    f->rank = worker->actor_index;
    if (strcmp(f->phase, "setup") == 0 && f->rank == (uint32_t)f->fail_rank)
        return wn_error_set(err, WN_EIO, "injected setup failure");
    return 0;
}

static int faulty_process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                          struct wn_error *err)
{
    (void)state, (void)in, (void)n_in, (void)out;
    return wn_error_set(err, WN_EUNSUPPORTED, "not a plain stage");
}

static void faulty_destroy(void *state)
{
    free(state);
}

static int faulty_insert(void *state, struct wn_task **in, size_t n_in,
                         struct wn_shuffle_sink *sink, struct wn_error *err)
{
    struct faulty *f = state;

    for (size_t i = 0; i < n_in && f->hang_s > 0; i++)
        if (strcmp(wn_task_id(in[i]), f->hang_task) == 0)
            usleep((useconds_t)(f->hang_s * 1e6));
    for (size_t i = 0; i < n_in; i++)
        if (strcmp(f->phase, "insert") == 0 && strcmp(wn_task_id(in[i]), f->fail_task) == 0)
            return wn_error_set(err, WN_EDATA, "injected insert failure");
    for (size_t i = 0; i < n_in; i++) {
        const struct wn_table *t = wn_task_table(in[i]);
        int64_t rows = wn_table_num_rows(t);
        uint32_t *parts = malloc((size_t)rows * sizeof(*parts) + 1);
        int rc;

        for (int64_t r = 0; r < rows; r++)
            parts[r] = (uint32_t)(wn_table_get_uint64(t, 0, r) % sink->num_partitions);
        rc = wn_shuffle_insert(sink, t, parts, err);
        free(parts);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int faulty_extract(void *state, const struct wn_shuffle_partition *partition,
                          struct wn_table *rows, struct wn_emitter *out, struct wn_error *err)
{
    struct faulty *f = state;
    struct wn_task *task;
    char id[64];

    if (strcmp(f->phase, "extract") == 0 && f->rank == (uint32_t)f->fail_rank)
        return wn_error_set(err, WN_EDATA, "injected extract failure");
    snprintf(id, sizeof(id), "%s_%u", partition->stage_name, partition->index);
    task = wn_task_new(id, partition->dataset);
    if (wn_table_num_rows(rows) > 0 && wn_task_set_table(task, rows, err) < 0) {
        wn_task_free(task);
        return err->code;
    }
    return wn_emit(out, task);
}

static const struct wn_stage_ops faulty_ops = { WN_STAGE_OPS_VERSION, NULL,           faulty_create,
                                                faulty_setup,         faulty_process, NULL,
                                                faulty_destroy,       { NULL } };
static const struct wn_shuffle_stage_ops faulty_hooks = { WN_SHUFFLE_STAGE_OPS_VERSION,
                                                          WN_SHUFFLE_PARTITIONS_PER_TASK,
                                                          NULL,
                                                          faulty_insert,
                                                          faulty_extract,
                                                          { NULL },
                                                          NULL };
static const struct wn_stage_desc faulty_stage = { WN_STAGE_HEADER,
                                                   "faulty",
                                                   "fails on demand",
                                                   faulty_params,
                                                   { 0, 0, 0, 0 },
                                                   1,
                                                   WN_STAGE_SHUFFLE,
                                                   WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
                                                   WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
                                                   NULL,
                                                   &faulty_ops,
                                                   &faulty_hooks,
                                                   { NULL } };

/* The faulty stage in three rounds. */
static int three_rounds(const struct wn_params *params, uint32_t *rounds, struct wn_error *err)
{
    (void)params, (void)err;
    *rounds = 3;
    return 0;
}

static const struct wn_shuffle_stage_ops rounds_hooks = { WN_SHUFFLE_STAGE_OPS_VERSION,
                                                          WN_SHUFFLE_PARTITIONS_PER_TASK,
                                                          NULL,
                                                          faulty_insert,
                                                          faulty_extract,
                                                          { NULL },
                                                          three_rounds };
static const struct wn_stage_desc rounds_stage = { WN_STAGE_HEADER,
                                                   "rounds",
                                                   "the faulty stage in three rounds",
                                                   faulty_params,
                                                   { 0, 0, 0, 0 },
                                                   1,
                                                   WN_STAGE_SHUFFLE,
                                                   WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
                                                   WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
                                                   NULL,
                                                   &faulty_ops,
                                                   &rounds_hooks,
                                                   { NULL } };

/* ---- a provider that fails where it is told (the ucx provider underneath) ------ */

static struct {
    const char *phase; /* "open", "insert_finished" or NULL */
    uint32_t rank;
} provider_fault;

/* Which rank a handle is: opened handles are kept per rank by the wrapper. */
static struct wn_shuffle *handles[16];

static int wrap_open(struct wn_shuffle_group *group, uint32_t rank, struct wn_shuffle **out,
                     struct wn_error *err)
{
    if (provider_fault.phase != NULL && strcmp(provider_fault.phase, "open") == 0 &&
        rank == provider_fault.rank) {
        *out = NULL;
        return wn_error_set(err, WN_EIO, "injected provider failure in open");
    }
    if (wn_ucx_shuffle_ops.open(group, rank, out, err) < 0)
        return err->code;
    handles[rank] = *out;
    return 0;
}

static int wrap_insert_finished(struct wn_shuffle *sh, struct wn_error *err)
{
    if (provider_fault.phase != NULL && strcmp(provider_fault.phase, "insert_finished") == 0 &&
        sh == handles[provider_fault.rank])
        return wn_error_set(err, WN_EIO, "injected provider failure in insert_finished");
    return wn_ucx_shuffle_ops.insert_finished(sh, err);
}

/* The pool as each group_create found it, and stage_end calls (in order). */
static struct {
    struct wn_ucx_pool_stats at_create[8];
    unsigned creates, ends;
    char ended[64];
} seen;

static int wrap_group_create(const struct wn_shuffle_group_config *config,
                             struct wn_shuffle_group **group, struct wn_error *err)
{
    if (seen.creates < 8)
        wn_ucx_pool_stats(&seen.at_create[seen.creates]);
    seen.creates++;
    return wn_ucx_shuffle_ops.group_create(config, group, err);
}

static void wrap_stage_end(const char *stage_name, const struct wn_params *params)
{
    seen.ends++;
    snprintf(seen.ended, sizeof(seen.ended), "%s", stage_name);
    wn_ucx_shuffle_ops.stage_end(stage_name, params);
}

static struct wn_shuffle_provider_ops wrapped_ops;

static const struct wn_backend_desc ucx_backend = {
    WN_BACKEND_HEADER,   "ucx",   "the ucx provider", WN_BACKEND_SHUFFLE, wn_ucx_shuffle_params,
    &wn_ucx_shuffle_ops, { NULL }
};
static const struct wn_backend_desc wrapped_backend = { WN_BACKEND_HEADER,
                                                        "ucx_faulty",
                                                        "the ucx provider, failing on demand",
                                                        WN_BACKEND_SHUFFLE,
                                                        wn_ucx_shuffle_params,
                                                        &wrapped_ops,
                                                        { NULL } };

/* ---- running a stage ------------------------------------------------------------ */

static struct wn_params *params_from(const struct wn_param_spec *spec, const char *json_text)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params = NULL;
    json_error_t jerr;
    json_t *json = json_loads(json_text ? json_text : "{}", 0, &jerr);

    CU_ASSERT_PTR_NOT_NULL_FATAL(json);
    if (wn_params_new(spec, json, "params", &params, &err) < 0)
        fprintf(stderr, "params: %s\n", err.message);
    json_decref(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(params);
    return params;
}

#define TASKS 8
#define DOCS_PER_TASK 150

/* Task k holds docs k, k + TASKS, ...: duplicates span tasks. */
static struct wn_task **corpus(void)
{
    struct wn_task **tasks = malloc(TASKS * sizeof(*tasks));

    for (size_t k = 0; k < TASKS; k++) {
        struct wn_error err = WN_ERROR_INIT;
        struct wn_table_builder *b = wn_table_builder_new();
        struct wn_table table;
        char name[32];

        snprintf(name, sizeof(name), "in_%zu", k);
        tasks[k] = wn_task_new(name, "corpus");
        wn_table_builder_add_column(b, "key", WN_COLUMN_UINT64, 0);
        wn_table_builder_add_column(b, "id", WN_COLUMN_UTF8, 0);
        wn_table_builder_add_column(b, "text", WN_COLUMN_UTF8, 0);
        for (size_t j = 0; j < DOCS_PER_TASK; j++) {
            size_t i = j * TASKS + k;
            char id[32], text[96];

            snprintf(id, sizeof(id), "doc%05zu", i);
            if (i % 4 == 3)
                snprintf(text, sizeof(text), "a unique text, number %zu", i);
            else
                snprintf(text, sizeof(text), "a text shared by group %zu", i / 4);
            wn_table_builder_append_uint64(b, 0, i);
            wn_table_builder_append_utf8(b, 1, id, strlen(id));
            wn_table_builder_append_utf8(b, 2, text, strlen(text));
        }
        CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &table, &err), 0);
        CU_ASSERT_EQUAL_FATAL(wn_task_set_table(tasks[k], &table, &err), 0);
        wn_table_builder_free(b);
    }
    return tasks;
}

struct stage_result {
    int rc;
    struct wn_error err;
    struct wn_task **out;
    size_t n_out;
    struct wn_stage_stats stats;
    struct wn_stage_stats stats_next; /* run_stages: the second stage's */
};

/* The run's sink: keeps the outputs in order. */
struct sink {
    struct wn_emitter emitter; /* first */
    struct stage_result *res;
    size_t cap;
};

static int sink_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct sink *s = (struct sink *)self;
    struct stage_result *res = s->res;

    if (res->n_out == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        res->out = realloc(res->out, s->cap * sizeof(*res->out));
    }
    res->out[res->n_out++] = task;
    return 0;
}

/* Runs the stage alone on the actor_pool executor (compiled in), ranks
 * actors, over tasks (taken), with the shuffle provider backend (NULL:
 * none resolved). */
static void run_stages(const struct wn_stage_desc *desc, const struct wn_stage_desc *next,
                       const char *params_json, const struct wn_backend_desc *backend,
                       const char *shuffle_json, uint32_t ranks, struct wn_task **tasks,
                       size_t n_tasks, struct stage_result *res);

static void run_stage(const struct wn_stage_desc *desc, const char *params_json,
                      const struct wn_backend_desc *backend, const char *shuffle_json,
                      uint32_t ranks, struct wn_task **tasks, size_t n_tasks,
                      struct stage_result *res)
{
    run_stages(desc, NULL, params_json, backend, shuffle_json, ranks, tasks, n_tasks, res);
}

/* As run_stage, with a second stage (next, same params and provider) after
 * the first when next is not NULL. */
static void run_stages(const struct wn_stage_desc *desc, const struct wn_stage_desc *next,
                       const char *params_json, const struct wn_backend_desc *backend,
                       const char *shuffle_json, uint32_t ranks, struct wn_task **tasks,
                       size_t n_tasks, struct stage_result *res)
{
    const struct wn_backend_desc *executor = winnow_plugin_v1()->backends[0];
    struct wn_run_stage stage, stage_next;
    const struct wn_run_stage *stages[2] = { &stage, &stage_next };
    struct wn_stage_stats *stats[2];
    struct wn_params *params = params_from(desc->params, params_json);
    struct wn_params *exec = params_from(executor->params, "{\"cpus\": 16, \"mode\": \"barrier\"}");
    struct wn_params *sparams;
    struct sink sink = { { sink_emit, { NULL } }, res, 0 };
    struct wn_run run;
    char with_dir[512];

    snprintf(with_dir, sizeof(with_dir), "{\"spill_dir\": \"%s\"%s%s}", spill_root,
             shuffle_json ? ", " : "", shuffle_json ? shuffle_json : "");
    sparams = params_from(wn_ucx_shuffle_params, with_dir);
    memset(res, 0, sizeof(*res));
    memset(&stage, 0, sizeof(stage));
    stage.struct_size = sizeof(stage);
    stage.name = desc->name;
    stage.desc = desc;
    stage.params = params;
    stage.resources.cpus = 1;
    stage.batch_size = 1;
    stage.actors = ranks;
    if (backend != NULL) {
        stage.shuffle = backend->name;
        stage.shuffle_backend = backend;
        stage.shuffle_params = sparams;
    } else {
        stage.shuffle = "ucx";
    }
    stats[0] = &res->stats;
    stats[1] = &res->stats_next;
    stage_next = stage;
    if (next != NULL) {
        stage_next.name = next->name;
        stage_next.desc = next;
    }
    memset(&run, 0, sizeof(run));
    run.struct_size = sizeof(run);
    run.stages = stages;
    run.n_stages = next != NULL ? 2 : 1;
    run.executor_params = exec;
    run.initial_tasks = tasks;
    run.n_initial_tasks = n_tasks;
    run.sink = &sink.emitter;
    run.stats = stats;
    res->rc = ((const struct wn_executor_ops *)executor->ops)->run(&run, &res->err);
    for (size_t i = 0; i < n_tasks; i++)
        CU_ASSERT_PTR_NULL(tasks[i]);
    free(tasks);
    wn_params_free(params);
    wn_params_free(sparams);
    wn_params_free(exec);
    /* Nothing left behind in the spill directory, whatever happened. */
    CU_ASSERT_EQUAL(dir_entries(spill_root), 0);
}

static void result_free(struct stage_result *res)
{
    for (size_t i = 0; i < res->n_out; i++)
        wn_task_free(res->out[i]);
    free(res->out);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_exact_dedup_gives_the_same_survivors_in_the_same_order_on_1_2_4_8_ranks(void)
{
    static const uint32_t ranks[] = { 1, 2, 4, 8 };
    char *first = NULL;
    size_t total = TASKS * DOCS_PER_TASK, expected = 0;

    /* Docs 4g..4g+2 share a text (smallest id 4g survives); 4g+3 are unique. */
    for (size_t i = 0; i < total; i++)
        expected += i % 4 == 0 || i % 4 == 3;
    for (size_t k = 0; k < sizeof(ranks) / sizeof(ranks[0]); k++) {
        struct stage_result res;
        size_t rows = 0, len = 0, cap = 1 << 16;
        char *listing = malloc(cap);
        int ok = 1;

        run_stage(&dedup_exact_dedup_stage, NULL, &ucx_backend, "\"chunk_bytes\": 4096", ranks[k],
                  corpus(), TASKS, &res);
        CU_ASSERT_EQUAL(res.rc, 0);
        if (res.rc != 0)
            fprintf(stderr, "%u ranks: %s\n", ranks[k], res.err.message);
        listing[0] = '\0';
        for (size_t o = 0; o < res.n_out; o++) {
            const struct wn_table *t = wn_task_table(res.out[o]);

            CU_ASSERT_EQUAL(wn_task_perf_count(res.out[o]), 1);
            CU_ASSERT_STRING_EQUAL(wn_task_dataset(res.out[o]), "corpus");
            for (int64_t r = 0; r < wn_table_num_rows(t); r++) {
                size_t n;
                const char *id = wn_table_get_utf8(t, 1, r, &n);
                char digits[16] = { 0 };
                size_t i;

                /* Cells are not NUL-terminated: copy the digits out first. */
                memcpy(digits, id + 3, n > 3 && n - 3 < sizeof(digits) ? n - 3 : 0);
                i = strtoul(digits, NULL, 10);

                if (!(i % 4 == 0 || i % 4 == 3))
                    ok = 0;
                if (len + n + 2 < cap) {
                    memcpy(listing + len, id, n);
                    len += n;
                    listing[len++] = ' ';
                    listing[len] = '\0';
                }
                rows++;
            }
        }
        CU_ASSERT(ok);
        CU_ASSERT_EQUAL(rows, expected);
        CU_ASSERT_EQUAL(res.stats.tasks_in, TASKS);
        CU_ASSERT_EQUAL(res.stats.items_in, total);
        CU_ASSERT_EQUAL(res.stats.items_out, expected);
        CU_ASSERT_EQUAL(res.stats.tasks_out, res.n_out);
        CU_ASSERT_EQUAL(res.stats.actors, ranks[k]);
        /* batches: every insert batch (batch_size 1), and every partition extracted */
        CU_ASSERT_EQUAL(res.stats.batches, TASKS + TASKS);
        {
            struct wn_ucx_pool_stats pool_after;

            /* The stage ended: the pool keeps no idle buffer. */
            wn_ucx_pool_stats(&pool_after);
            CU_ASSERT_EQUAL(pool_after.idle_bytes, 0);
            CU_ASSERT_EQUAL(pool_after.bad_puts, 0);
        }
        if (first == NULL)
            first = listing;
        else {
            CU_ASSERT_STRING_EQUAL(listing, first);
            free(listing);
        }
        result_free(&res);
    }
    free(first);
}

static void expect_failure(const char *params_json, const struct wn_backend_desc *backend,
                           const char *shuffle_json, const char *says, const char *also_says)
{
    struct stage_result res;
    struct wn_ucx_pool_stats before, after;

    wn_ucx_pool_stats(&before);
    run_stage(&faulty_stage, params_json, backend, shuffle_json, 4, corpus(), TASKS, &res);
    /* The stage ended (failed): the pool keeps nothing, every buffer is back. */
    wn_ucx_pool_stats(&after);
    CU_ASSERT_EQUAL(after.idle_bytes, 0);
    CU_ASSERT_EQUAL(after.keep_limit, 0);
    CU_ASSERT_EQUAL(after.in_use_bytes, before.in_use_bytes);
    CU_ASSERT_EQUAL(after.bad_puts, before.bad_puts);
    CU_ASSERT(res.rc < 0);
    CU_ASSERT_EQUAL(res.n_out, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err.message, says));
    if (also_says != NULL)
        CU_ASSERT_PTR_NOT_NULL(strstr(res.err.message, also_says));
    if (strstr(res.err.message, says) == NULL ||
        (also_says != NULL && strstr(res.err.message, also_says) == NULL))
        fprintf(stderr, "got: %s\n", res.err.message);
    result_free(&res);
}

static void test_a_stage_failing_in_create_fails_the_run_naming_it(void)
{
    expect_failure("{\"fail_phase\": \"create\"}", &ucx_backend, NULL, "stage 'faulty' actor ",
                   "failed in create: injected create failure");
}

static void test_a_stage_failing_in_setup_on_one_rank_fails_the_run_naming_it(void)
{
    expect_failure("{\"fail_phase\": \"setup\", \"fail_rank\": 1}", &ucx_backend, NULL,
                   "stage 'faulty' actor 1/4 failed in setup: injected setup failure", NULL);
}

static void test_a_stage_failing_in_insert_fails_the_run_naming_its_task(void)
{
    /* Whichever rank takes task in_3 fails (ranks take batches as they come). */
    expect_failure("{\"fail_phase\": \"insert\", \"fail_task\": \"in_3\"}", &ucx_backend, NULL,
                   "failed in insert: task in_3: injected insert failure", "stage 'faulty' actor ");
}

static void test_a_stage_failing_in_extract_on_one_rank_fails_the_run_naming_it(void)
{
    expect_failure("{\"fail_phase\": \"extract\", \"fail_rank\": 3}", &ucx_backend, NULL,
                   "stage 'faulty' actor 3/4 failed in extract: partition 3",
                   "injected extract failure");
}

static void test_a_provider_failing_in_open_on_one_rank_fails_the_run_naming_it(void)
{
    provider_fault.phase = "open";
    provider_fault.rank = 2;
    expect_failure(NULL, &wrapped_backend, NULL,
                   "stage 'faulty' actor 2/4 failed in open: injected provider failure in open",
                   NULL);
    provider_fault.phase = NULL;
}

static void test_a_provider_failing_in_insert_finished_on_one_rank_fails_the_run_naming_it(void)
{
    provider_fault.phase = "insert_finished";
    provider_fault.rank = 1;
    expect_failure(NULL, &wrapped_backend, NULL,
                   "stage 'faulty' actor 1/4 failed in insert_finished: injected provider "
                   "failure in insert_finished",
                   NULL);
    provider_fault.phase = NULL;
}

static void test_a_rank_stuck_in_insert_times_the_others_out_naming_it(void)
{
    double start = 0;
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    start = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    /* Whichever rank takes task in_0 sleeps 1.5 s in its insert hook. */
    expect_failure("{\"hang_s\": 1.5}", &ucx_backend, "\"timeout_s\": 0.4",
                   "insert_finished timed out after 0.4 s waiting for: rank ",
                   " (no end of data yet");
    clock_gettime(CLOCK_MONOTONIC, &ts);
    CU_ASSERT((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - start < 10.0);
}

static void test_rounds_of_a_stage_reuse_the_pool_and_its_end_empties_it(void)
{
    struct stage_result res;
    struct wn_ucx_pool_stats start, end;
    size_t rows = 0;

    wn_ucx_pool_trim();
    memset(&seen, 0, sizeof(seen));
    wn_ucx_pool_stats(&start);
    /* 64 KiB messages: staging buffers are pooled (64 KiB and up). */
    run_stage(&rounds_stage, NULL, &wrapped_backend,
              "\"chunk_bytes\": 65536, \"memory_limit\": 16777216", 4, corpus(), TASKS, &res);
    CU_ASSERT_EQUAL(res.rc, 0);
    if (res.rc != 0)
        fprintf(stderr, "rounds: %s\n", res.err.message);
    for (size_t o = 0; o < res.n_out; o++)
        rows += (size_t)wn_table_num_rows(wn_task_table(res.out[o]));
    CU_ASSERT_EQUAL(rows, 3 * TASKS * DOCS_PER_TASK);
    CU_ASSERT_EQUAL(seen.creates, 3);
    CU_ASSERT_EQUAL(seen.ends, 1);
    CU_ASSERT_STRING_EQUAL(seen.ended, "rounds");
    /* Round 0 made buffers fresh; each later round found the previous
     * one's idle in the pool and took them again.  (How many buffers a round
     * needs depends on which ranks took which tasks, so only that.) */
    CU_ASSERT(seen.at_create[1].fresh_bytes > start.fresh_bytes);
    CU_ASSERT(seen.at_create[1].idle_bytes > 0);
    CU_ASSERT(seen.at_create[2].idle_bytes > 0);
    CU_ASSERT(seen.at_create[2].reused_bytes > seen.at_create[1].reused_bytes);
    wn_ucx_pool_stats(&end);
    CU_ASSERT(end.reused_bytes > seen.at_create[2].reused_bytes);
    /* The stage ended: nothing idle is kept, nor anything given back later. */
    CU_ASSERT_EQUAL(end.idle_bytes, 0);
    CU_ASSERT_EQUAL(end.keep_limit, 0);
    CU_ASSERT_EQUAL(end.bad_puts, start.bad_puts);
    result_free(&res);
    wn_ucx_pool_stats(&end);
    CU_ASSERT_EQUAL(end.idle_bytes, 0);
    CU_ASSERT_EQUAL(end.in_use_bytes, start.in_use_bytes);
}

static void test_two_shuffle_stages_each_start_with_an_empty_pool_and_end_it(void)
{
    struct stage_result res;
    struct wn_ucx_pool_stats start, end;
    size_t rows = 0;

    wn_ucx_pool_trim();
    memset(&seen, 0, sizeof(seen));
    wn_ucx_pool_stats(&start);
    /* faulty (one round) then rounds (three), both over the wrapped provider. */
    run_stages(&faulty_stage, &rounds_stage, NULL, &wrapped_backend,
               "\"chunk_bytes\": 65536, \"memory_limit\": 16777216", 4, corpus(), TASKS, &res);
    CU_ASSERT_EQUAL(res.rc, 0);
    if (res.rc != 0)
        fprintf(stderr, "two stages: %s\n", res.err.message);
    for (size_t o = 0; o < res.n_out; o++)
        rows += (size_t)wn_table_num_rows(wn_task_table(res.out[o]));
    CU_ASSERT_EQUAL(rows, 3 * TASKS * DOCS_PER_TASK);
    CU_ASSERT_EQUAL(res.stats.items_out, TASKS * DOCS_PER_TASK);
    CU_ASSERT_EQUAL(res.stats_next.items_out, 3 * TASKS * DOCS_PER_TASK);
    CU_ASSERT_EQUAL(seen.creates, 4);
    CU_ASSERT_EQUAL(seen.ends, 2);
    CU_ASSERT_STRING_EQUAL(seen.ended, "rounds"); /* the last one */
    /* The first stage's end released its buffers: the second starts with
     * none idle and makes its own fresh, then reuses them between rounds. */
    CU_ASSERT(seen.at_create[1].fresh_bytes > start.fresh_bytes);
    CU_ASSERT_EQUAL(seen.at_create[1].idle_bytes, 0);
    CU_ASSERT(seen.at_create[2].fresh_bytes > seen.at_create[1].fresh_bytes);
    CU_ASSERT(seen.at_create[2].idle_bytes > 0);
    CU_ASSERT(seen.at_create[3].reused_bytes > seen.at_create[2].reused_bytes);
    wn_ucx_pool_stats(&end);
    CU_ASSERT_EQUAL(end.idle_bytes, 0);
    CU_ASSERT_EQUAL(end.keep_limit, 0);
    CU_ASSERT_EQUAL(end.bad_puts, start.bad_puts);
    result_free(&res);
    wn_ucx_pool_stats(&end);
    CU_ASSERT_EQUAL(end.idle_bytes, 0);
    CU_ASSERT_EQUAL(end.in_use_bytes, start.in_use_bytes);
}

static void test_a_stage_without_a_resolved_provider_is_refused_before_running(void)
{
    struct stage_result res;

    run_stage(&dedup_exact_dedup_stage, NULL, NULL, NULL, 2, corpus(), TASKS, &res);
    CU_ASSERT_EQUAL(res.rc, WN_EINVAL);
    CU_ASSERT_EQUAL(res.n_out, 0);
    CU_ASSERT_EQUAL(res.stats.actors, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err.message,
                                  "stage 'exact_dedup' is a SHUFFLE stage, but the host resolved "
                                  "no shuffle provider for it (\"shuffle\": \"ucx\")"));
    if (strstr(res.err.message, "no shuffle provider") == NULL)
        fprintf(stderr, "got: %s\n", res.err.message);
    result_free(&res);
}

static int suite_init(void)
{
    wrapped_ops = wn_ucx_shuffle_ops;
    wrapped_ops.open = wrap_open;
    wrapped_ops.insert_finished = wrap_insert_finished;
    wrapped_ops.group_create = wrap_group_create;
    wrapped_ops.stage_end = wrap_stage_end;
    spill_root = strdup("/tmp/wn-test-shuffle-stage-XXXXXX");
    if (mkdtemp(spill_root) == NULL)
        return 1;
    alarm(120); /* a hang is a failure */
    return 0;
}

static int suite_cleanup(void)
{
    rmdir(spill_root);
    free(spill_root);
    return 0;
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "exact_dedup gives the same survivors in the same order on 1, 2, 4, 8 ranks",
          test_exact_dedup_gives_the_same_survivors_in_the_same_order_on_1_2_4_8_ranks },
        { "a stage failing in create fails the run naming it",
          test_a_stage_failing_in_create_fails_the_run_naming_it },
        { "a stage failing in setup on one rank fails the run naming it",
          test_a_stage_failing_in_setup_on_one_rank_fails_the_run_naming_it },
        { "a stage failing in insert fails the run naming its task",
          test_a_stage_failing_in_insert_fails_the_run_naming_its_task },
        { "a stage failing in extract on one rank fails the run naming it",
          test_a_stage_failing_in_extract_on_one_rank_fails_the_run_naming_it },
        { "a provider failing in open on one rank fails the run naming it",
          test_a_provider_failing_in_open_on_one_rank_fails_the_run_naming_it },
        { "a provider failing in insert_finished on one rank fails the run naming it",
          test_a_provider_failing_in_insert_finished_on_one_rank_fails_the_run_naming_it },
        { "a rank stuck in insert times the others out naming it",
          test_a_rank_stuck_in_insert_times_the_others_out_naming_it },
        { "rounds of a stage reuse the pool, and its end empties it",
          test_rounds_of_a_stage_reuse_the_pool_and_its_end_empties_it },
        { "two shuffle stages each start with an empty pool and end it",
          test_two_shuffle_stages_each_start_with_an_empty_pool_and_end_it },
        { "a stage without a resolved provider is refused before running",
          test_a_stage_without_a_resolved_provider_is_refused_before_running },
        { NULL, NULL }
    };

    return wn_test_run_suite("shuffle stages on actor_pool", tests, suite_init, suite_cleanup);
}
#endif
