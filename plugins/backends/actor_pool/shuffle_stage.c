/*
 * SHUFFLE stages on the actor_pool executor (see shuffle_stage.h).
 *
 * Threads and what they touch:
 *   driver   starts one thread per rank and waits until every rank is set
 *            up; then, per round: makes the provider's group, opens the
 *            gate, waits until every rank is done with the round, destroys
 *            the group and appends the round's outputs (partition order) to
 *            the run's; finally opens the gate with go = 0 and joins;
 *   rank r   create, setup; per round: open; takes batches from a shared
 *            counter (reset per round) and, in the last round only, frees
 *            their tasks after the insert hook; insert_finished; extracts
 *            its partitions into by_partition[p] (owned partitions only, so
 *            no two ranks write one slot); close; after the last round,
 *            teardown and destroy.
 * The gate (gate_lock, gate_cv) orders the steps: the driver writes round,
 * next_batch, group and by_partition only while every rank waits at it.
 */
#include "build_config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winnow/log.h>
#include <winnow/shuffle.h>

#include "batching.h"
#include "shuffle_stage.h"

#define LOG_DOMAIN "actor_pool"
#define TASK_ID_NOTE 256

struct partition_out {
    struct wn_task **tasks;
    size_t n;
};

struct shuffle_run;

struct rank_actor {
    struct wn_emitter emitter;   /* the extract hook's wn_emit() lands in rank_emit() */
    struct wn_shuffle_sink sink; /* the insert hook's rows go to the provider */
    struct shuffle_run *run;
    uint32_t rank;
    pthread_t thread;
    int started;
    void *state;
    struct wn_shuffle *shuffle;
    struct wn_task **outs; /* outputs of the partition being extracted */
    size_t n_outs, cap_outs;
    int emit_failed;
    uint64_t batches, items_in, items_out;
    double busy_s, first_start, last_end;
    char task_id[TASK_ID_NOTE];
};

struct shuffle_run {
    const struct wn_run_stage *stage;
    const struct wn_stage_ops *ops;
    const struct wn_shuffle_stage_ops *hooks;
    const struct wn_shuffle_provider_ops *provider;
    struct wn_shuffle_group *group;
    struct wn_task **tasks;
    struct wn_batch_range *batches;
    size_t n_batches;
    size_t next_batch; /* atomic: the next batch an actor takes */
    uint32_t n_ranks, n_partitions;
    uint32_t n_rounds, round; /* round: the one running */
    uint32_t n_started;       /* rank threads started */
    struct wn_task **outs;    /* the rounds' outputs so far, in order */
    size_t n_outs, cap_outs;

    pthread_mutex_t gate_lock; /* guards generation, go and done */
    pthread_cond_t gate_cv;
    uint32_t generation; /* the driver bumps it to start a step */
    int go;              /* 1: run round `round`; 0: finish */
    uint32_t done;       /* ranks done with the current step */
    char *dataset; /* of the first input task (copied: the tasks go during insert) */
    struct partition_out *by_partition;
    struct rank_actor *actors;
    int stop; /* atomic: a failure stops the ranks at their next step */

    pthread_mutex_t lock; /* guards what follows */
    int failed;
    struct wn_error error; /* the run's error: the first failure that is not an abort */
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- checks ---------------------------------------------------------------- */

static const struct wn_shuffle_provider_ops *provider_of(const struct wn_run_stage *stage)
{
    if (stage->struct_size < offsetof(struct wn_run_stage, shuffle_params) + sizeof(void *) ||
        stage->shuffle_backend == NULL || stage->shuffle_backend->kind != WN_BACKEND_SHUFFLE)
        return NULL;
    return stage->shuffle_backend->ops;
}

int wn_shuffle_stage_check(const struct wn_run_stage *stage, struct wn_error *err)
{
    const struct wn_shuffle_stage_ops *hooks = stage->desc->shuffle;
    const struct wn_shuffle_provider_ops *p = provider_of(stage);

    if (hooks == NULL || hooks->version < 1 || hooks->insert == NULL || hooks->extract == NULL)
        return wn_error_set(err, WN_EPLUGIN,
                            "stage '%s' (%s) is a SHUFFLE stage without its insert and extract "
                            "hooks (struct wn_shuffle_stage_ops)",
                            stage->name, stage->desc->name);
    if (p == NULL)
        return wn_error_set(err, WN_EINVAL,
                            "stage '%s' is a SHUFFLE stage, but the host resolved no shuffle "
                            "provider for it (\"shuffle\": \"%s\")",
                            stage->name, stage->shuffle ? stage->shuffle : "");
    if (p->version < 1 || p->group_create == NULL || p->open == NULL || p->insert == NULL ||
        p->insert_finished == NULL || p->extract == NULL || p->close == NULL ||
        p->group_abort == NULL || p->group_destroy == NULL)
        return wn_error_set(err, WN_EPLUGIN,
                            "shuffle provider '%s' of stage '%s' lacks some of its ops (version "
                            "%u; every op of struct wn_shuffle_provider_ops is needed)",
                            stage->shuffle_backend->name, stage->name, p->version);
    return 0;
}

/* ---- the gate between steps ------------------------------------------------- */

/* Rank: this rank is done with the current step. */
static void gate_done(struct shuffle_run *run)
{
    pthread_mutex_lock(&run->gate_lock);
    run->done++;
    pthread_cond_broadcast(&run->gate_cv);
    pthread_mutex_unlock(&run->gate_lock);
}

/* Rank: waits for the step after *seen; returns go (0: finish). */
static int gate_wait(struct shuffle_run *run, uint32_t *seen)
{
    int go;

    pthread_mutex_lock(&run->gate_lock);
    while (run->generation == *seen)
        pthread_cond_wait(&run->gate_cv, &run->gate_lock);
    *seen = run->generation;
    go = run->go;
    pthread_mutex_unlock(&run->gate_lock);
    return go;
}

/* Driver: starts a step (go = 1: a round, 0: the end) for every rank. */
static void gate_open(struct shuffle_run *run, int go)
{
    pthread_mutex_lock(&run->gate_lock);
    run->done = 0;
    run->go = go;
    run->generation++;
    pthread_cond_broadcast(&run->gate_cv);
    pthread_mutex_unlock(&run->gate_lock);
}

/* Driver: waits until every started rank is done with the step. */
static void gate_join(struct shuffle_run *run)
{
    pthread_mutex_lock(&run->gate_lock);
    while (run->done < run->n_started)
        pthread_cond_wait(&run->gate_cv, &run->gate_lock);
    pthread_mutex_unlock(&run->gate_lock);
}

/* ---- failures ---------------------------------------------------------------- */

/* Records a failure of rank in phase and aborts the group, so that no other
 * rank waits for this one.  The run keeps the first failure that is not
 * itself the abort (WN_ECANCELED); later ones are logged.  Any thread. */
static void rank_fail(struct shuffle_run *run, uint32_t rank, const char *phase, int code,
                      const char *fmt, ...) WN_PRINTF(5, 6);

static void rank_fail(struct shuffle_run *run, uint32_t rank, const char *phase, int code,
                      const char *fmt, ...)
{
    char cause[WN_ERROR_MESSAGE_MAX - 64], reason[WN_ERROR_MESSAGE_MAX];
    va_list ap;
    int keep;

    va_start(ap, fmt);
    vsnprintf(cause, sizeof(cause), fmt, ap);
    va_end(ap);
    if (code >= 0)
        code = WN_EPLUGIN;
    pthread_mutex_lock(&run->lock);
    keep = !run->failed || (run->error.code == WN_ECANCELED && code != WN_ECANCELED);
    if (keep) {
        if (run->failed)
            wn_log(WN_LOG_WARN, LOG_DOMAIN, "also: %s", run->error.message);
        run->failed = 1;
        wn_error_set(&run->error, code, "stage '%s' actor %u/%u failed in %s: %s", run->stage->name,
                     rank, run->n_ranks, phase, cause);
    }
    pthread_mutex_unlock(&run->lock);
    if (!keep)
        wn_log(WN_LOG_WARN, LOG_DOMAIN, "also: stage '%s' actor %u/%u failed in %s: %s",
               run->stage->name, rank, run->n_ranks, phase, cause);
    __atomic_store_n(&run->stop, 1, __ATOMIC_SEQ_CST);
    if (code != WN_ECANCELED) {
        /* Under the lock: the driver swaps groups between rounds. */
        snprintf(reason, sizeof(reason), "rank %u failed in %s: %s", rank, phase, cause);
        pthread_mutex_lock(&run->lock);
        if (run->group != NULL)
            run->provider->group_abort(run->group, reason);
        pthread_mutex_unlock(&run->lock);
    }
}

/* The plugin's words, or "(no message): <meaning of the code>". */
static const char *message_of(const struct wn_error *e, int rc, char *buf, size_t size)
{
    if (e->message[0] != '\0')
        return e->message;
    snprintf(buf, size, "(no message): %s", wn_strerror(rc));
    return buf;
}

/* ---- a rank ------------------------------------------------------------------ */

static int rank_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct rank_actor *a = (struct rank_actor *)self;

    if (a->n_outs == a->cap_outs) {
        size_t cap = a->cap_outs ? a->cap_outs * 2 : 8;
        struct wn_task **outs = realloc(a->outs, cap * sizeof(*outs));

        if (outs == NULL) {
            wn_task_free(task);
            a->emit_failed = 1;
            return WN_ENOMEM;
        }
        a->outs = outs;
        a->cap_outs = cap;
    }
    a->outs[a->n_outs++] = task;
    return 0;
}

static int sink_insert(struct wn_shuffle_sink *self, const struct wn_table *rows,
                       const uint32_t *partitions, struct wn_error *err)
{
    struct rank_actor *a = (struct rank_actor *)((char *)self - offsetof(struct rank_actor, sink));

    return a->run->provider->insert(a->shuffle, rows, partitions, err);
}

static void note_task_id(struct rank_actor *a, const struct wn_task *task)
{
    snprintf(a->task_id, sizeof(a->task_id), "%s", wn_task_id(task));
}

/* Inserts batches until none is left; 0 or the failure's code. */
static int insert_batches(struct rank_actor *a)
{
    struct shuffle_run *run = a->run;
    struct wn_error hook_err = WN_ERROR_INIT;
    int last = run->round + 1 == run->n_rounds; /* the inputs go after this round's insert */
    char buf[96];

    for (;;) {
        size_t b = __atomic_fetch_add(&run->next_batch, 1, __ATOMIC_SEQ_CST);
        struct wn_task **in;
        size_t n_in;
        uint64_t items = 0;
        double start, end;
        int rc;

        if (b >= run->n_batches || __atomic_load_n(&run->stop, __ATOMIC_SEQ_CST))
            return 0;
        in = run->tasks + run->batches[b].start;
        n_in = run->batches[b].len;
        for (size_t i = 0; i < n_in; i++)
            items += wn_task_num_items(in[i]);
        note_task_id(a, in[0]);
        start = now_s();
        rc = run->hooks->insert(a->state, in, n_in, &a->sink, &hook_err);
        end = now_s();
        for (size_t i = 0; last && i < n_in; i++) {
            wn_task_free(in[i]);
            in[i] = NULL;
        }
        if (a->batches++ == 0)
            a->first_start = start;
        a->busy_s += end - start;
        a->last_end = end;
        if (last)
            a->items_in += items;
        if (rc < 0) {
            char round[48] = "";

            if (run->n_rounds > 1)
                snprintf(round, sizeof(round), " (round %u of %u)", run->round + 1,
                         run->n_rounds);
            rank_fail(run, a->rank, "insert", rc, "task %s%s%s: %s", a->task_id,
                      n_in > 1 ? " (first of its batch)" : "", round,
                      message_of(&hook_err, rc, buf, sizeof(buf)));
            return rc;
        }
    }
}

/* Extracts every partition this rank owns, in order; 0 or the failure's code. */
static int extract_partitions(struct rank_actor *a)
{
    struct shuffle_run *run = a->run;
    struct wn_error hook_err = WN_ERROR_INIT;
    char buf[96];

    for (uint32_t p = a->rank; p < run->n_partitions; p += run->n_ranks) {
        struct wn_shuffle_partition info;
        struct partition_out *po = &run->by_partition[p];
        struct wn_table rows;
        uint64_t items;
        double start, end;
        int rc;

        if (__atomic_load_n(&run->stop, __ATOMIC_SEQ_CST))
            return WN_ECANCELED;
        rc = run->provider->extract(a->shuffle, p, &rows, &hook_err);
        if (rc < 0) {
            rank_fail(run, a->rank, "extract", rc, "partition %u: %s", p,
                      message_of(&hook_err, rc, buf, sizeof(buf)));
            return rc;
        }
        memset(&info, 0, sizeof(info));
        info.struct_size = sizeof(info);
        info.index = p;
        info.num_partitions = run->n_partitions;
        info.rank = a->rank;
        info.num_ranks = run->n_ranks;
        info.stage_name = run->stage->name;
        info.dataset = run->dataset;
        info.round = run->round;
        info.num_rounds = run->n_rounds;
        items = (uint64_t)wn_table_num_rows(&rows);
        a->n_outs = 0;
        a->emit_failed = 0;
        start = now_s();
        rc = run->hooks->extract(a->state, &info, &rows, &a->emitter, &hook_err);
        end = now_s();
        wn_table_release(&rows);
        a->busy_s += end - start;
        a->last_end = end;
        if (rc >= 0 && a->emit_failed)
            rc = wn_error_set(&hook_err, WN_ENOMEM, "out of memory collecting the outputs");
        for (size_t i = 0; rc >= 0 && i < a->n_outs; i++) {
            a->items_out += wn_task_num_items(a->outs[i]);
            if (wn_task_perf_add(a->outs[i], run->stage->name, end - start, 0.0, items) < 0)
                rc = wn_error_set(&hook_err, WN_ENOMEM, "out of memory adding a perf record");
        }
        /* The partition's outputs are the run's from here on (freed by it). */
        po->tasks = a->outs;
        po->n = a->n_outs;
        a->outs = NULL;
        a->n_outs = a->cap_outs = 0;
        if (rc < 0) {
            rank_fail(run, a->rank, "extract", rc, "partition %u (%llu rows): %s", p,
                      (unsigned long long)items, message_of(&hook_err, rc, buf, sizeof(buf)));
            return rc;
        }
    }
    return 0;
}

/* One round on this rank: open, insert, insert_finished, extract, close. */
static void rank_round(struct rank_actor *a)
{
    struct shuffle_run *run = a->run;
    struct wn_error hook_err = WN_ERROR_INIT;
    char buf[96];
    int rc;

    a->sink.round = run->round;
    a->sink.num_rounds = run->n_rounds;
    rc = run->provider->open(run->group, a->rank, &a->shuffle, &hook_err);
    if (rc < 0) {
        a->shuffle = NULL;
        rank_fail(run, a->rank, "open", rc, "%s", message_of(&hook_err, rc, buf, sizeof(buf)));
        return;
    }
    if (insert_batches(a) < 0 || __atomic_load_n(&run->stop, __ATOMIC_SEQ_CST))
        goto out_close;
    rc = run->provider->insert_finished(a->shuffle, &hook_err);
    if (rc < 0) {
        rank_fail(run, a->rank, "insert_finished", rc, "%s",
                  message_of(&hook_err, rc, buf, sizeof(buf)));
        goto out_close;
    }
    extract_partitions(a);
out_close:
    run->provider->close(a->shuffle);
    a->shuffle = NULL;
}

static void *rank_main(void *arg)
{
    struct rank_actor *a = arg;
    struct shuffle_run *run = a->run;
    const struct wn_stage_ops *ops = run->ops;
    struct wn_error hook_err = WN_ERROR_INIT;
    struct wn_worker worker;
    char thread_name[16], buf[96];
    uint32_t seen = 0;
    int created = 0, rc = 0;

    snprintf(thread_name, sizeof(thread_name), "%.10s/%u", run->stage->name, a->rank);
    pthread_setname_np(pthread_self(), thread_name);
    a->last_end = now_s();
    if (ops->create != NULL)
        rc = ops->create(run->stage->params, &a->state, &hook_err);
    if (rc < 0) {
        rank_fail(run, a->rank, "create", rc, "%s", message_of(&hook_err, rc, buf, sizeof(buf)));
        goto rounds;
    }
    created = 1;
    memset(&worker, 0, sizeof(worker));
    worker.struct_size = sizeof(worker);
    worker.stage_name = run->stage->name;
    worker.actor_index = a->rank;
    worker.pool_size = run->n_ranks;
    worker.device_id = -1;
    worker.params = run->stage->params;
    if (ops->setup != NULL && (rc = ops->setup(a->state, &worker, &hook_err)) < 0)
        rank_fail(run, a->rank, "setup", rc, "%s", message_of(&hook_err, rc, buf, sizeof(buf)));
rounds:
    /* Every rank takes part in every step, failed or not, so the gate counts
     * stay right; a failure sets stop, and the driver starts no more rounds. */
    gate_done(run);
    while (gate_wait(run, &seen)) {
        if (!__atomic_load_n(&run->stop, __ATOMIC_SEQ_CST))
            rank_round(a);
        gate_done(run);
    }
    if (created) {
        if (ops->teardown != NULL)
            ops->teardown(a->state);
        if (ops->destroy != NULL)
            ops->destroy(a->state);
    }
    return NULL;
}

/* ---- the driver --------------------------------------------------------------- */

/* Driver, between rounds: appends the round's outputs, in partition order,
 * to the run's. */
static int append_round(struct shuffle_run *run, struct wn_error *err)
{
    size_t total = 0;

    for (uint32_t p = 0; p < run->n_partitions; p++)
        total += run->by_partition[p].n;
    if (run->n_outs + total > run->cap_outs) {
        size_t cap = run->cap_outs ? run->cap_outs : 16;
        struct wn_task **outs;

        while (cap < run->n_outs + total)
            cap *= 2;
        outs = realloc(run->outs, cap * sizeof(*outs));
        if (outs == NULL)
            return wn_error_set(err, WN_ENOMEM,
                                "stage '%s': out of memory collecting %zu outputs",
                                run->stage->name, run->n_outs + total);
        run->outs = outs;
        run->cap_outs = cap;
    }
    for (uint32_t p = 0; p < run->n_partitions; p++) {
        struct partition_out *po = &run->by_partition[p];

        if (po->n > 0)
            memcpy(run->outs + run->n_outs, po->tasks, po->n * sizeof(*po->tasks));
        run->n_outs += po->n;
        free(po->tasks);
        po->tasks = NULL;
        po->n = 0;
    }
    return 0;
}

/* Driver: the stage's round count (1 without a num_rounds hook). */
static int rounds_of(const struct wn_run_stage *stage, uint32_t *rounds, struct wn_error *err)
{
    const struct wn_shuffle_stage_ops *hooks = stage->desc->shuffle;
    int rc;

    *rounds = 1;
    if (hooks->version < 2 || hooks->num_rounds == NULL)
        return 0;
    rc = hooks->num_rounds(stage->params, rounds, err);
    if (rc < 0) {
        if (err->message[0] == '\0')
            wn_error_set(err, rc, "%s", wn_strerror(rc));
        return wn_error_prefix(err, "stage '%s'", stage->name);
    }
    if (*rounds == 0)
        return wn_error_set(err, WN_EPLUGIN, "stage '%s' (%s) asks for a shuffle of 0 rounds",
                            stage->name, stage->desc->name);
    return 0;
}

/* Driver, while every rank waits at the gate: fails the run with err. */
static void driver_fail(struct shuffle_run *run, const struct wn_error *err)
{
    pthread_mutex_lock(&run->lock);
    if (!run->failed) {
        run->failed = 1;
        run->error = *err;
    }
    pthread_mutex_unlock(&run->lock);
    __atomic_store_n(&run->stop, 1, __ATOMIC_SEQ_CST);
}

/* Driver: runs the rounds over the started ranks (waiting at the gate). */
static void run_rounds(struct shuffle_run *run, const struct wn_run_stage *stage)
{
    struct wn_shuffle_group_config config;
    struct wn_error err = WN_ERROR_INIT;

    memset(&config, 0, sizeof(config));
    config.struct_size = sizeof(config);
    config.stage_name = stage->name;
    config.num_ranks = run->n_ranks;
    config.num_partitions = run->n_partitions;
    config.params = stage->shuffle_params;
    config.timeout_s = stage->timeout_s;
    gate_join(run); /* every rank created and set up (or failed) */
    for (uint32_t round = 0; round < run->n_rounds; round++) {
        struct wn_shuffle_group *group = NULL;
        double started = now_s();
        int rc;

        if (__atomic_load_n(&run->stop, __ATOMIC_SEQ_CST))
            break;
        rc = run->provider->group_create(&config, &group, &err);
        if (rc < 0) {
            if (err.code == 0)
                wn_error_set(&err, rc, "%s", wn_strerror(rc));
            wn_error_prefix(&err, "stage '%s': shuffle provider '%s'%s", stage->name,
                            stage->shuffle_backend->name, run->n_rounds > 1 ? " (a round)" : "");
            driver_fail(run, &err);
            break;
        }
        pthread_mutex_lock(&run->lock);
        run->group = group;
        pthread_mutex_unlock(&run->lock);
        run->round = round;
        run->next_batch = 0;
        gate_open(run, 1);
        gate_join(run);
        pthread_mutex_lock(&run->lock);
        run->group = NULL;
        pthread_mutex_unlock(&run->lock);
        run->provider->group_destroy(group);
        if (!run->failed && append_round(run, &err) < 0) {
            driver_fail(run, &err);
            break;
        }
        if (run->n_rounds > 1)
            wn_log(WN_LOG_DEBUG, LOG_DOMAIN, "stage '%s': round %u of %u in %.3f s",
                   stage->name, round + 1, run->n_rounds, now_s() - started);
    }
    gate_open(run, 0);
}

static void fill_stats(const struct shuffle_run *run, size_t n_tasks, size_t n_outs,
                       struct wn_stage_stats *stats)
{
    double first = 0.0, last = 0.0;
    int any = 0;

    memset(stats, 0, sizeof(*stats));
    stats->tasks_in = n_tasks;
    stats->tasks_out = n_outs;
    stats->actors = run->n_ranks;
    for (uint32_t r = 0; run->actors != NULL && r < run->n_ranks; r++) {
        const struct rank_actor *a = &run->actors[r];

        stats->items_in += a->items_in;
        if (n_outs > 0)
            stats->items_out += a->items_out;
        stats->batches += a->batches;
        stats->busy_s += a->busy_s;
        if (a->batches == 0)
            continue;
        if (!any || a->first_start < first)
            first = a->first_start;
        if (!any || a->last_end > last)
            last = a->last_end;
        any = 1;
    }
    stats->wall_s = any ? last - first : 0.0;
}

int wn_shuffle_stage_run(const struct wn_run_stage *stage, struct wn_task **tasks, size_t n_tasks,
                         uint32_t n_ranks, struct wn_task ***out, size_t *n_out,
                         struct wn_stage_stats *stats, struct wn_error *err)
{
    struct wn_stage_stats measured;
    struct shuffle_run run;
    double started_at = now_s();
    int rc;

    *out = NULL;
    *n_out = 0;
    memset(&run, 0, sizeof(run));
    memset(&measured, 0, sizeof(measured));
    measured.tasks_in = n_tasks;
    pthread_mutex_init(&run.lock, NULL);
    pthread_mutex_init(&run.gate_lock, NULL);
    pthread_cond_init(&run.gate_cv, NULL);
    run.stage = stage;
    run.ops = stage->desc->ops;
    run.hooks = stage->desc->shuffle;
    run.provider = provider_of(stage);
    run.tasks = tasks;
    run.n_ranks = n_ranks;
    rc = wn_shuffle_stage_check(stage, err);
    if (rc < 0)
        goto out_free_tasks;
    if (run.n_ranks == 0 || n_tasks == 0) {
        rc = wn_error_set(err, WN_EINTERNAL, "stage '%s': a shuffle of %u ranks for %zu tasks",
                          stage->name, run.n_ranks, n_tasks);
        goto out_free_tasks;
    }
    rc = rounds_of(stage, &run.n_rounds, err);
    if (rc < 0)
        goto out_free_tasks;
    run.n_partitions = wn_shuffle_num_partitions(run.hooks, stage->params, n_tasks);
    if (wn_task_dataset(tasks[0]) != NULL &&
        (run.dataset = strdup(wn_task_dataset(tasks[0]))) == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory", stage->name);
        goto out_free_tasks;
    }
    rc = wn_batching_split(n_tasks, stage->batch_size ? stage->batch_size : 1, 0, &run.batches,
                           &run.n_batches, err);
    if (rc < 0) {
        wn_error_prefix(err, "stage '%s'", stage->name);
        goto out_free_tasks;
    }
    run.by_partition = calloc(run.n_partitions, sizeof(*run.by_partition));
    run.actors = calloc(run.n_ranks, sizeof(*run.actors));
    if (run.by_partition == NULL || run.actors == NULL) {
        rc = wn_error_set(err, WN_ENOMEM,
                          "stage '%s': out of memory for %u ranks and %u "
                          "partitions",
                          stage->name, run.n_ranks, run.n_partitions);
        goto out_free;
    }
    wn_log(WN_LOG_INFO, LOG_DOMAIN,
           "stage '%s': shuffle of %zu tasks in %zu batches over %u ranks, %u partitions, "
           "%u round%s (provider '%s')",
           stage->name, n_tasks, run.n_batches, run.n_ranks, run.n_partitions, run.n_rounds,
           run.n_rounds == 1 ? "" : "s", stage->shuffle_backend->name);

    for (uint32_t r = 0; r < run.n_ranks; r++) {
        struct rank_actor *a = &run.actors[r];
        int e;

        a->emitter.emit = rank_emit;
        a->sink.struct_size = sizeof(a->sink);
        a->sink.num_partitions = run.n_partitions;
        a->sink.insert = sink_insert;
        a->run = &run;
        a->rank = r;
        e = pthread_create(&a->thread, NULL, rank_main, a);
        if (e != 0) {
            /* No round starts: the ranks started are released at the gate. */
            rank_fail(&run, r, "start", WN_ERESOURCE, "cannot start its thread: %s", strerror(e));
            break;
        }
        a->started = 1;
        pthread_mutex_lock(&run.gate_lock);
        run.n_started++;
        pthread_mutex_unlock(&run.gate_lock);
    }
    run_rounds(&run, stage);
    for (uint32_t r = 0; r < run.n_ranks; r++)
        if (run.actors[r].started)
            pthread_join(run.actors[r].thread, NULL);

    if (run.failed) {
        rc = run.error.code;
        wn_error_set(err, rc, "%s", run.error.message);
    } else {
        *out = run.outs;
        *n_out = run.n_outs;
        run.outs = NULL;
        run.n_outs = 0;
    }
    fill_stats(&run, n_tasks, *n_out, &measured);
    if (rc == 0)
        wn_log(WN_LOG_INFO, LOG_DOMAIN,
               "stage '%s': %zu tasks (%llu items) in, %zu tasks (%llu items) out, shuffled "
               "over %u ranks, %u partitions and %u round%s in %.3f s (busy %.3f s)",
               stage->name, n_tasks, (unsigned long long)measured.items_in, *n_out,
               (unsigned long long)measured.items_out, run.n_ranks, run.n_partitions,
               run.n_rounds, run.n_rounds == 1 ? "" : "s", now_s() - started_at,
               measured.busy_s);
out_free:
    for (size_t i = 0; i < run.n_outs; i++)
        wn_task_free(run.outs[i]);
    free(run.outs);
    for (uint32_t p = 0; run.by_partition != NULL && p < run.n_partitions; p++) {
        for (size_t i = 0; i < run.by_partition[p].n; i++)
            wn_task_free(run.by_partition[p].tasks[i]);
        free(run.by_partition[p].tasks);
    }
    free(run.by_partition);
    for (uint32_t r = 0; run.actors != NULL && r < run.n_ranks; r++)
        free(run.actors[r].outs);
    free(run.actors);
    free(run.batches);
out_free_tasks:
    free(run.dataset);
    /* Every slot the last round ran is NULL already; what is left never got there. */
    for (size_t i = 0; i < n_tasks; i++) {
        if (tasks[i] == NULL)
            continue;
        measured.items_in += wn_task_num_items(tasks[i]);
        wn_task_free(tasks[i]);
    }
    free(tasks);
    pthread_cond_destroy(&run.gate_cv);
    pthread_mutex_destroy(&run.gate_lock);
    pthread_mutex_destroy(&run.lock);
    if (stats != NULL)
        *stats = measured;
    return rc;
}
