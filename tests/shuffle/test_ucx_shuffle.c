/* Tests of the ucx shuffle provider, driven directly through its ops with N
 * ranks as threads of this process: where rows land, empty partitions, rows
 * above the eager threshold, 1024 partitions, spilling, 1 to 8 ranks, and a
 * rank failing in every phase (errors, no hang, no files left). */
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
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "params_internal.h"
#include "rows.h"
#include "shuffle_pool.h"
#include "shuffle_provider.h"

#define MAX_RANKS 8

enum phase { PHASE_NONE = 0, PHASE_OPEN, PHASE_INSERT, PHASE_FINISH, PHASE_EXTRACT };

static const char *const phase_names[] = { "none", "open", "insert", "insert_finished", "extract" };

enum failure {
    FAIL_ABORT, /* the rank reports its failure (as an executor does: group_abort) */
    FAIL_VANISH /* the rank goes silent until the others are done */
};

struct plan {
    const char *stage;
    uint32_t ranks, partitions;
    const char *params_json;
    size_t batches, rows_per_batch, text_len;
    uint32_t fail_rank; /* MAX_RANKS: nobody fails */
    enum phase fail_phase;
    enum failure fail_how;
};

struct rank_out {
    int rc;
    enum phase failed_in;
    struct wn_error err;
    uint64_t *keys;
    size_t n_keys, cap_keys;
    int bad_rows; /* a row off in content, partition or owner */
    size_t empty_partitions;
    size_t extracted;
    char **rendered; /* per partition: its rows rendered, in order */
    struct wn_ucx_shuffle_stats stats;
};

struct run {
    const struct plan *plan;
    const struct wn_shuffle_provider_ops *ops;
    struct wn_shuffle_group *group;
    struct rank_out out[MAX_RANKS];
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int release; /* vanished ranks may go on */
};

struct rank_arg {
    struct run *run;
    uint32_t rank;
};

static char *spill_root;

static void add_key(struct rank_out *o, uint64_t key)
{
    if (o->n_keys == o->cap_keys) {
        o->cap_keys = o->cap_keys ? o->cap_keys * 2 : 256;
        o->keys = realloc(o->keys, o->cap_keys * sizeof(*o->keys));
    }
    o->keys[o->n_keys++] = key;
}

/* The injected failure of this rank in this phase, if it is the one. */
static int fails_here(struct run *run, uint32_t rank, enum phase phase)
{
    const struct plan *plan = run->plan;
    char reason[128];

    if (plan->fail_rank != rank || plan->fail_phase != phase)
        return 0;
    run->out[rank].failed_in = phase;
    if (plan->fail_how == FAIL_ABORT) {
        snprintf(reason, sizeof(reason), "rank %u failed in %s: injected failure", rank,
                 phase_names[phase]);
        run->ops->group_abort(run->group, reason);
    } else {
        pthread_mutex_lock(&run->mutex);
        while (!run->release)
            pthread_cond_wait(&run->cond, &run->mutex);
        pthread_mutex_unlock(&run->mutex);
    }
    return 1;
}

static void render_partition(struct rank_out *o, uint32_t p, const struct wn_table *t)
{
    size_t cap = 256, used = 0;
    char *text = malloc(cap);

    text[0] = '\0';
    for (int64_t r = 0; r < wn_table_num_rows(t); r++) {
        char row[1024];
        size_t len;

        test_rows_render(t, r, row, sizeof(row));
        len = strlen(row);
        if (used + len + 2 > cap) {
            cap = (used + len + 2) * 2;
            text = realloc(text, cap);
        }
        memcpy(text + used, row, len);
        used += len;
        text[used++] = '\n';
        text[used] = '\0';
    }
    o->rendered[p] = text;
}

static void *rank_main(void *arg)
{
    struct rank_arg *ra = arg;
    struct run *run = ra->run;
    const struct plan *plan = run->plan;
    const struct wn_shuffle_provider_ops *ops = run->ops;
    uint32_t rank = ra->rank;
    struct rank_out *o = &run->out[rank];
    struct wn_shuffle *sh = NULL;
    uint32_t *parts = malloc(plan->rows_per_batch * sizeof(*parts) + 1);

    if (fails_here(run, rank, PHASE_OPEN))
        goto out;
    o->rc = ops->open(run->group, rank, &sh, &o->err);
    if (o->rc < 0) {
        o->failed_in = PHASE_OPEN;
        goto out;
    }
    for (size_t b = 0; b < plan->batches; b++) {
        struct wn_table t;
        uint64_t first = ((uint64_t)rank * plan->batches + b) * plan->rows_per_batch + 1;

        if (b == 1 && fails_here(run, rank, PHASE_INSERT))
            goto out_close;
        if (test_rows_make(&t, first, plan->rows_per_batch, plan->partitions, plan->text_len,
                           parts) != 0) {
            o->rc = WN_ENOMEM;
            goto out_close;
        }
        o->rc = ops->insert(sh, &t, parts, &o->err);
        wn_table_release(&t);
        if (o->rc < 0) {
            o->failed_in = PHASE_INSERT;
            goto out_close;
        }
    }
    if (fails_here(run, rank, PHASE_FINISH))
        goto out_close;
    o->rc = ops->insert_finished(sh, &o->err);
    if (o->rc < 0) {
        o->failed_in = PHASE_FINISH;
        goto out_close;
    }
    for (uint32_t p = rank; p < plan->partitions; p += plan->ranks) {
        struct wn_table t;

        if (p > rank && fails_here(run, rank, PHASE_EXTRACT))
            goto out_close;
        o->rc = ops->extract(sh, p, &t, &o->err);
        if (o->rc < 0) {
            o->failed_in = PHASE_EXTRACT;
            goto out_close;
        }
        o->extracted++;
        if (wn_table_num_rows(&t) == 0)
            o->empty_partitions++;
        for (int64_t r = 0; r < wn_table_num_rows(&t); r++) {
            uint64_t key = test_rows_check(&t, r, plan->text_len);

            if (key == UINT64_MAX || wn_table_get_uint64(&t, 2, r) != p ||
                test_rows_partition(key, plan->partitions) != p || p % plan->ranks != rank)
                o->bad_rows++;
            else
                add_key(o, key);
        }
        render_partition(o, p, &t);
        wn_table_release(&t);
    }
    wn_ucx_shuffle_stats(sh, &o->stats);
out_close:
    ops->close(sh);
out:
    if (plan->fail_rank == rank && plan->fail_how == FAIL_VANISH &&
        plan->fail_phase == PHASE_OPEN) {
        /* Released after the others: its own open now fails at once. */
        o->rc = ops->open(run->group, rank, &sh, &o->err);
        if (o->rc == 0)
            ops->close(sh);
    }
    free(parts);
    return NULL;
}

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

static struct wn_params *make_params(const char *json_text)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params = NULL;
    json_error_t jerr;
    json_t *json = json_loads(json_text ? json_text : "{}", 0, &jerr);
    char *with_dir;

    CU_ASSERT_PTR_NOT_NULL_FATAL(json);
    if (json_object_get(json, "spill_dir") == NULL)
        json_object_set_new(json, "spill_dir", json_string(spill_root));
    with_dir = json_dumps(json, 0);
    CU_ASSERT_EQUAL(wn_params_new(wn_ucx_shuffle_params, json, "shuffle", &params, &err), 0);
    if (params == NULL)
        fprintf(stderr, "params %s: %s\n", with_dir, err.message);
    free(with_dir);
    json_decref(json);
    return params;
}

/* Runs the plan; the caller inspects run->out and frees with run_free. */
static void run_plan(struct run *run, const struct plan *plan)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params = make_params(plan->params_json);
    struct wn_shuffle_group_config config;
    struct rank_arg args[MAX_RANKS];
    pthread_t threads[MAX_RANKS];
    struct wn_ucx_pool_stats pool_before, pool_after;

    wn_ucx_pool_stats(&pool_before);
    memset(run, 0, sizeof(*run));
    run->plan = plan;
    run->ops = &wn_ucx_shuffle_ops;
    pthread_mutex_init(&run->mutex, NULL);
    pthread_cond_init(&run->cond, NULL);
    memset(&config, 0, sizeof(config));
    config.struct_size = sizeof(config);
    config.stage_name = plan->stage;
    config.num_ranks = plan->ranks;
    config.num_partitions = plan->partitions;
    config.params = params;
    CU_ASSERT_EQUAL_FATAL(run->ops->group_create(&config, &run->group, &err), 0);
    /* The group made its own directory under spill_root. */
    CU_ASSERT_EQUAL(dir_entries(spill_root), 1);
    for (uint32_t r = 0; r < plan->ranks; r++) {
        run->out[r].rendered = calloc(plan->partitions, sizeof(char *));
        args[r].run = run;
        args[r].rank = r;
        pthread_create(&threads[r], NULL, rank_main, &args[r]);
    }
    for (uint32_t r = 0; r < plan->ranks; r++) {
        if (r == plan->fail_rank && plan->fail_how == FAIL_VANISH)
            continue;
        pthread_join(threads[r], NULL);
    }
    pthread_mutex_lock(&run->mutex);
    run->release = 1;
    pthread_cond_broadcast(&run->cond);
    pthread_mutex_unlock(&run->mutex);
    if (plan->fail_rank < plan->ranks && plan->fail_how == FAIL_VANISH)
        pthread_join(threads[plan->fail_rank], NULL);
    run->ops->group_destroy(run->group);
    /* Nothing left behind: no spill file, no directory, and every buffer
     * taken from the pool given back. */
    CU_ASSERT_EQUAL(dir_entries(spill_root), 0);
    wn_ucx_pool_stats(&pool_after);
    CU_ASSERT_EQUAL(pool_after.in_use_bytes, pool_before.in_use_bytes);
    CU_ASSERT_EQUAL(pool_after.bad_puts, pool_before.bad_puts);
    wn_params_free(params);
}

static void run_free(struct run *run)
{
    for (uint32_t r = 0; r < run->plan->ranks; r++) {
        free(run->out[r].keys);
        for (uint32_t p = 0; p < run->plan->partitions; p++)
            free(run->out[r].rendered[p]);
        free(run->out[r].rendered);
    }
    pthread_cond_destroy(&run->cond);
    pthread_mutex_destroy(&run->mutex);
}

static int compare_keys(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Every key 1..total came out exactly once, in the right partition at its owner. */
static void check_every_row_once(struct run *run)
{
    const struct plan *plan = run->plan;
    uint64_t total = (uint64_t)plan->ranks * plan->batches * plan->rows_per_batch;
    uint64_t *all = malloc((total + 1) * sizeof(*all));
    size_t n = 0, empty = 0, extracted = 0;
    int in_order = 1;

    for (uint32_t r = 0; r < plan->ranks; r++) {
        struct rank_out *o = &run->out[r];

        CU_ASSERT_EQUAL(o->rc, 0);
        if (o->rc != 0)
            fprintf(stderr, "rank %u: %s\n", r, o->err.message);
        CU_ASSERT_EQUAL(o->bad_rows, 0);
        for (size_t i = 0; i < o->n_keys && n <= total; i++)
            all[n++] = o->keys[i];
        empty += o->empty_partitions;
        extracted += o->extracted;
    }
    CU_ASSERT_EQUAL(extracted, plan->partitions);
    CU_ASSERT_EQUAL_FATAL(n, total);
    qsort(all, n, sizeof(*all), compare_keys);
    for (size_t i = 0; i < n; i++)
        if (all[i] != i + 1)
            in_order = 0;
    CU_ASSERT(in_order);
    (void)empty;
    free(all);
}

static void test_every_row_lands_once_in_its_partition_at_its_owner_on_1_2_4_8_ranks(void)
{
    static const uint32_t ranks[] = { 1, 2, 4, 8 };

    for (size_t i = 0; i < sizeof(ranks) / sizeof(ranks[0]); i++) {
        struct plan plan = { "rows_once", ranks[i],  13, "{\"chunk_bytes\": 4096}",
                             3,           200,       0,  MAX_RANKS,
                             PHASE_NONE,  FAIL_ABORT };
        struct run run;
        uint64_t sent = 0, received = 0;

        run_plan(&run, &plan);
        check_every_row_once(&run);
        for (uint32_t r = 0; r < plan.ranks; r++) {
            sent += run.out[r].stats.bytes_sent;
            received += run.out[r].stats.bytes_received;
            CU_ASSERT_EQUAL(run.out[r].stats.rows_inserted, 600);
        }
        /* Bytes between ranks went over UCX: what was sent was received. */
        CU_ASSERT_EQUAL(sent, received);
        if (plan.ranks > 1)
            CU_ASSERT(sent > 0);
        run_free(&run);
    }
}

static void test_partitions_no_row_hashes_to_come_out_empty(void)
{
    /* 64 partitions, 2 ranks, only 5 rows per rank: most partitions are empty. */
    struct plan plan = { "empty", 2, 64, NULL, 1, 5, 0, MAX_RANKS, PHASE_NONE, FAIL_ABORT };
    struct run run;
    size_t empty = 0;

    run_plan(&run, &plan);
    check_every_row_once(&run);
    for (uint32_t r = 0; r < 2; r++) {
        empty += run.out[r].empty_partitions;
        for (uint32_t p = r; p < 64; p += 2)
            CU_ASSERT_PTR_NOT_NULL(run.out[r].rendered[p]);
    }
    CU_ASSERT(empty >= 54);
    run_free(&run);
}

static void test_rows_larger_than_the_eager_threshold_arrive_intact(void)
{
    /* 2 MiB texts: every message goes through UCX's rendezvous protocol. */
    struct plan plan = {
        "big_rows", 2, 4, NULL, 2, 3, 2u << 20, MAX_RANKS, PHASE_NONE, FAIL_ABORT
    };
    struct run run;

    run_plan(&run, &plan);
    check_every_row_once(&run);
    CU_ASSERT(run.out[0].stats.bytes_sent > (4u << 20));
    run_free(&run);
}

static void test_1024_partitions_over_4_ranks(void)
{
    struct plan plan = {
        "many_parts", 4,          1024,      "{\"chunk_bytes\": 65536}", 2, 1500, 0,
        MAX_RANKS,    PHASE_NONE, FAIL_ABORT
    };
    struct run run;

    run_plan(&run, &plan);
    check_every_row_once(&run);
    for (uint32_t r = 0; r < 4; r++)
        CU_ASSERT_EQUAL(run.out[r].extracted, 256);
    run_free(&run);
}

static void test_spilling_on_and_off_give_identical_partitions(void)
{
    struct plan kept = { "spill",   3,          10,        "{\"chunk_bytes\": 4096}", 3, 300, 0,
                         MAX_RANKS, PHASE_NONE, FAIL_ABORT };
    struct plan spilled = kept;
    struct run a, b;
    uint64_t spilled_bytes = 0, kept_spilled = 0;

    spilled.params_json = "{\"chunk_bytes\": 4096, \"memory_limit\": 0}";
    run_plan(&a, &kept);
    run_plan(&b, &spilled);
    check_every_row_once(&a);
    check_every_row_once(&b);
    for (uint32_t r = 0; r < 3; r++) {
        kept_spilled += a.out[r].stats.store.spilled_bytes;
        spilled_bytes += b.out[r].stats.store.spilled_bytes;
        CU_ASSERT_EQUAL(b.out[r].stats.store.memory_peak, 0);
        for (uint32_t p = r; p < 10; p += 3) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(a.out[r].rendered[p]);
            CU_ASSERT_PTR_NOT_NULL_FATAL(b.out[r].rendered[p]);
            CU_ASSERT_STRING_EQUAL(a.out[r].rendered[p], b.out[r].rendered[p]);
        }
    }
    CU_ASSERT_EQUAL(kept_spilled, 0);
    CU_ASSERT(spilled_bytes > 0);
    run_free(&a);
    run_free(&b);
}

static void test_messages_fill_chunk_bytes_rows_of_a_partition_going_on_in_the_next(void)
{
    /* ~50 KiB per partition and batch against 64 KiB messages: whole
     * segments would fill messages to 78%. */
    struct plan plan = { "fill",    2,          4,         "{\"chunk_bytes\": 65536}", 8, 200, 1000,
                         MAX_RANKS, PHASE_NONE, FAIL_ABORT };
    struct run run;

    run_plan(&run, &plan);
    check_every_row_once(&run);
    for (uint32_t r = 0; r < 2; r++) {
        const struct wn_ucx_shuffle_stats *st = &run.out[r].stats;

        CU_ASSERT(st->chunks_sent >= 10);
        /* Every message but the last is full to within one row (~1 KiB). */
        CU_ASSERT(st->bytes_sent >= (st->chunks_sent - 1) * (65536 - 1100));
        CU_ASSERT(st->bytes_sent <= st->chunks_sent * 65536);
    }
    run_free(&run);
}

static void test_a_second_shuffle_reuses_the_first_ones_buffers_within_memory_limit(void)
{
    struct plan plan = { "pool",     2,
                         4,          "{\"chunk_bytes\": 65536, \"memory_limit\": 4194304}",
                         3,          200,
                         1000,       MAX_RANKS,
                         PHASE_NONE, FAIL_ABORT };
    struct plan spill = plan;
    struct wn_ucx_pool_stats s0, s1, s2, s3;
    struct run run;

    wn_ucx_pool_trim();
    wn_ucx_pool_stats(&s0);
    CU_ASSERT_EQUAL(s0.idle_bytes, 0);
    run_plan(&run, &plan);
    check_every_row_once(&run);
    run_free(&run);
    wn_ucx_pool_stats(&s1);
    /* Kept for later, within the two ranks' memory_limit. */
    CU_ASSERT(s1.idle_bytes > 0);
    CU_ASSERT(s1.in_use_bytes + s1.idle_bytes <= 2 * 4194304u);
    CU_ASSERT(s1.fresh_bytes - s0.fresh_bytes >= s1.idle_bytes);

    run_plan(&run, &plan);
    check_every_row_once(&run);
    run_free(&run);
    wn_ucx_pool_stats(&s2);
    CU_ASSERT(s2.reused_bytes - s1.reused_bytes >= s1.idle_bytes);
    CU_ASSERT(s2.fresh_bytes - s1.fresh_bytes < s1.fresh_bytes - s0.fresh_bytes);
    CU_ASSERT(s2.in_use_bytes + s2.idle_bytes <= 2 * 4194304u);

    /* memory_limit 0 spills everything: the pool keeps nothing either. */
    spill.params_json = "{\"chunk_bytes\": 65536, \"memory_limit\": 0}";
    run_plan(&run, &spill);
    check_every_row_once(&run);
    run_free(&run);
    wn_ucx_pool_stats(&s3);
    CU_ASSERT_EQUAL(s3.idle_bytes, 0);
    CU_ASSERT_EQUAL(s3.keep_limit, 0);
}

static void test_out_of_memory_anywhere_fails_the_shuffle_cleanly(void)
{
    /* 64 KiB messages: staging and received buffers come from the pool. */
    struct plan plan = { "oom",     2,          4,         "{\"chunk_bytes\": 65536}", 3, 200, 1000,
                         MAX_RANKS, PHASE_NONE, FAIL_ABORT };
    static const int64_t budgets[] = { 0, 1, 2, 3, 5, 8, 13, 21, 34, 100000 };
    int failed_runs = 0;

    for (size_t k = 0; k < sizeof(budgets) / sizeof(budgets[0]); k++) {
        struct run run;
        int failed = 0, said_oom = 0;

        /* The pool's allocations after the first budgets[k] fail, on
         * whichever thread (inserts' staging, receives, extracts' tables). */
        wn_ucx_pool_fail_after(budgets[k]);
        run_plan(&run, &plan); /* checks no buffer and no spill file is left */
        wn_ucx_pool_fail_after(-1);
        for (uint32_t r = 0; r < 2; r++) {
            if (run.out[r].rc < 0) {
                failed = 1;
                said_oom |= strstr(run.out[r].err.message, "out of memory") != NULL;
            }
            CU_ASSERT_EQUAL(run.out[r].bad_rows, 0);
        }
        /* Enough allocations: the counting itself changes nothing. */
        if (budgets[k] == 100000)
            CU_ASSERT(!failed);
        if (failed) {
            /* Some rank names the cause; the other ended too (run_plan joined it). */
            CU_ASSERT(said_oom);
            if (!said_oom)
                fprintf(stderr, "budget %" PRId64 ": %s | %s\n", budgets[k], run.out[0].err.message,
                        run.out[1].err.message);
            failed_runs++;
        } else {
            check_every_row_once(&run);
        }
        run_free(&run);
    }
    /* The smallest budgets cannot carry 1.2 MiB in 64 KiB buffers. */
    CU_ASSERT(failed_runs >= 3);
    wn_ucx_pool_trim();
}

/* A rank fails in phase; every rank ends, none hangs, the others' errors
 * (where they got one) carry the stage, the rank and the cause. */
static void check_failure(enum phase phase, enum failure how, const char *other_says,
                          int others_must_fail)
{
    struct plan plan = { "fail_test",
                         4,
                         8,
                         "{\"chunk_bytes\": 4096, \"memory_limit\": 0, "
                         "\"timeout_s\": 0.5}",
                         3,
                         200,
                         0,
                         2,
                         phase,
                         how };
    struct run run;

    run_plan(&run, &plan);
    for (uint32_t r = 0; r < 4; r++) {
        struct rank_out *o = &run.out[r];

        if (r == 2) {
            CU_ASSERT_EQUAL(o->failed_in, phase);
            continue;
        }
        if (others_must_fail)
            CU_ASSERT(o->rc < 0);
        if (o->rc < 0) {
            CU_ASSERT(o->rc == WN_ECANCELED || o->rc == WN_ETIMEDOUT);
            CU_ASSERT_PTR_NOT_NULL(strstr(o->err.message, "shuffle 'fail_test': rank "));
            CU_ASSERT_PTR_NOT_NULL(strstr(o->err.message, other_says));
            if (strstr(o->err.message, other_says) == NULL)
                fprintf(stderr, "rank %u (%s): %s\n", r, phase_names[phase], o->err.message);
        }
    }
    run_free(&run);
}

static void test_a_rank_failing_in_open_ends_every_rank_with_its_cause(void)
{
    check_failure(PHASE_OPEN, FAIL_ABORT, "rank 2 failed in open: injected failure", 1);
}

static void test_a_rank_failing_in_insert_ends_every_rank_with_its_cause(void)
{
    check_failure(PHASE_INSERT, FAIL_ABORT, "rank 2 failed in insert: injected failure", 1);
}

static void test_a_rank_failing_before_insert_finished_ends_every_rank_with_its_cause(void)
{
    check_failure(PHASE_FINISH, FAIL_ABORT, "rank 2 failed in insert_finished: injected failure",
                  1);
}

static void test_a_rank_failing_in_extract_ends_without_a_hang(void)
{
    check_failure(PHASE_EXTRACT, FAIL_ABORT, "rank 2 failed in extract: injected failure", 0);
}

static void test_a_silent_rank_in_open_times_out_naming_it(void)
{
    check_failure(PHASE_OPEN, FAIL_VANISH, "waiting for rank(s) 2 (3 of 4 arrived)", 1);
}

static void test_a_silent_rank_in_insert_times_out_naming_it(void)
{
    check_failure(PHASE_INSERT, FAIL_VANISH, "rank 2 (no end of data yet", 1);
}

static void test_misuse_is_refused_with_a_message(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_shuffle_group_config config;
    struct wn_shuffle_group *group = NULL;
    struct wn_shuffle *sh = NULL;
    struct wn_params *params = make_params(NULL);
    struct wn_table t, out;
    uint32_t parts[4] = { 0, 1, 7, 0 };

    memset(&config, 0, sizeof(config));
    config.struct_size = sizeof(config);
    config.stage_name = "misuse";
    config.num_ranks = 1;
    config.num_partitions = 0;
    config.params = params;
    CU_ASSERT_EQUAL(wn_ucx_shuffle_ops.group_create(&config, &group, &err), WN_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.message, "shuffle 'misuse': needs 1 to 16777215 ranks and at "
                                        "least one partition (got 1 ranks, 0 partitions)");
    config.num_partitions = 2;
    CU_ASSERT_EQUAL_FATAL(wn_ucx_shuffle_ops.group_create(&config, &group, &err), 0);
    CU_ASSERT_EQUAL(wn_ucx_shuffle_ops.open(group, 1, &sh, &err), WN_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.message, "shuffle 'misuse': rank 1 is out of range");
    CU_ASSERT_EQUAL_FATAL(wn_ucx_shuffle_ops.open(group, 0, &sh, &err), 0);
    CU_ASSERT_EQUAL(wn_ucx_shuffle_ops.extract(sh, 0, &out, &err), WN_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.message, "shuffle 'misuse': rank 0: extract before insert_finished");
    /* The failure aborted the group: later calls say so. */
    CU_ASSERT_EQUAL_FATAL(test_rows_make(&t, 1, 4, 2, 0, NULL), 0);
    CU_ASSERT_EQUAL(wn_ucx_shuffle_ops.insert(sh, &t, parts, &err), WN_ECANCELED);
    CU_ASSERT_STRING_EQUAL(err.message, "shuffle 'misuse': rank 0: insert aborted: rank 0 failed "
                                        "in extract: extract before insert_finished");
    wn_ucx_shuffle_ops.close(sh);
    wn_ucx_shuffle_ops.group_destroy(group);

    CU_ASSERT_EQUAL_FATAL(wn_ucx_shuffle_ops.group_create(&config, &group, &err), 0);
    CU_ASSERT_EQUAL_FATAL(wn_ucx_shuffle_ops.open(group, 0, &sh, &err), 0);
    CU_ASSERT_EQUAL(wn_ucx_shuffle_ops.insert(sh, &t, parts, &err), WN_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.message, "shuffle 'misuse': rank 0: insert: row 2 is given "
                                        "partition 7, but the shuffle has 2 partitions");
    wn_ucx_shuffle_ops.close(sh);
    wn_ucx_shuffle_ops.group_destroy(group);
    wn_table_release(&t);
    wn_params_free(params);
    CU_ASSERT_EQUAL(dir_entries(spill_root), 0);
}

static void test_an_unwritable_spill_dir_fails_group_create(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_shuffle_group_config config;
    struct wn_shuffle_group *group = NULL;
    struct wn_params *params = make_params("{\"spill_dir\": \"/nonexistent/winnow\"}");

    memset(&config, 0, sizeof(config));
    config.struct_size = sizeof(config);
    config.stage_name = "nodir";
    config.num_ranks = 2;
    config.num_partitions = 2;
    config.params = params;
    CU_ASSERT_EQUAL(wn_ucx_shuffle_ops.group_create(&config, &group, &err), WN_EIO);
    CU_ASSERT_PTR_NULL(group);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "shuffle 'nodir': cannot make a spill directory "
                                               "under /nonexistent/winnow"));
    wn_params_free(params);
}

static int suite_init(void)
{
    spill_root = strdup("/tmp/wn-test-shuffle-XXXXXX");
    if (mkdtemp(spill_root) == NULL)
        return 1;
    /* A hang is a failure: the whole program stops after 120 s. */
    alarm(120);
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
        { "every row lands once in its partition at its owner on 1, 2, 4, 8 ranks",
          test_every_row_lands_once_in_its_partition_at_its_owner_on_1_2_4_8_ranks },
        { "partitions no row hashes to come out empty",
          test_partitions_no_row_hashes_to_come_out_empty },
        { "rows larger than the eager threshold arrive intact",
          test_rows_larger_than_the_eager_threshold_arrive_intact },
        { "1024 partitions over 4 ranks", test_1024_partitions_over_4_ranks },
        { "messages fill chunk_bytes, rows of a partition going on in the next",
          test_messages_fill_chunk_bytes_rows_of_a_partition_going_on_in_the_next },
        { "out of memory anywhere fails the shuffle cleanly",
          test_out_of_memory_anywhere_fails_the_shuffle_cleanly },
        { "a second shuffle reuses the first one's buffers within memory_limit",
          test_a_second_shuffle_reuses_the_first_ones_buffers_within_memory_limit },
        { "spilling on and off give identical partitions",
          test_spilling_on_and_off_give_identical_partitions },
        { "a rank failing in open ends every rank with its cause",
          test_a_rank_failing_in_open_ends_every_rank_with_its_cause },
        { "a rank failing in insert ends every rank with its cause",
          test_a_rank_failing_in_insert_ends_every_rank_with_its_cause },
        { "a rank failing before insert_finished ends every rank with its cause",
          test_a_rank_failing_before_insert_finished_ends_every_rank_with_its_cause },
        { "a rank failing in extract ends without a hang",
          test_a_rank_failing_in_extract_ends_without_a_hang },
        { "a silent rank in open times out naming it",
          test_a_silent_rank_in_open_times_out_naming_it },
        { "a silent rank in insert times out naming it",
          test_a_silent_rank_in_insert_times_out_naming_it },
        { "misuse is refused with a message", test_misuse_is_refused_with_a_message },
        { "an unwritable spill dir fails group create",
          test_an_unwritable_spill_dir_fails_group_create },
        { NULL, NULL }
    };

    return wn_test_run_suite("ucx shuffle provider", tests, suite_init, suite_cleanup);
}
#endif
