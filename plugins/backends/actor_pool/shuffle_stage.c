/*
 * SHUFFLE stages on the actor_pool executor (see shuffle_stage.h).
 *
 * Threads and what they touch:
 *   coordinator  starts one actor per rank (wn_ap_actor_start) and waits
 *                until every rank is set up; then, per round: makes the
 *                provider's group, opens the gate, waits until every rank
 *                is done with the round, destroys the group and appends the
 *                round's outputs (partition order) to the run's; finally
 *                opens the gate with go = 0 and joins;
 *   rank r       create, setup; per round: open; takes batches from a shared
 *                counter (reset per round) and, in the last round only, frees
 *                their tasks after the insert hook; insert_finished; extracts
 *                its partitions into by_partition[p] (owned partitions only,
 *                so no two ranks write one slot); close; after the last
 *                round, teardown and destroy.
 * The gate (generation, go, done) orders the steps: the coordinator writes
 * round, next_batch, group and by_partition only while every rank waits at
 * it.  While it waits, the coordinator aborts the group once the run stops
 * (a hook past timeout_s, another stage failing), so no rank waits for one
 * that hangs.
 *
 * The shared state (struct shuffle_run) is kept by the stage's barrier
 * node (wn_ap_node_keep) and freed with the run context, once every actor
 * thread of the run has ended.  So when the run stops, the coordinator
 * aborts the group, opens the gate for the last time and returns at once,
 * without waiting for its ranks: the driver joins them (and abandons one
 * still hung past timeout_s).  A rank abandoned in a hung hook goes on, if
 * its hook ever returns, with the tasks, its outputs and its group still
 * valid: it closes its shuffle, tears down and ends, never reaching the
 * gate again.  What is left then (tasks, outputs, a group the coordinator
 * left) is freed with the state.
 */
#include "build_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/log.h>
#include <winnow/shuffle.h>

#include "barrier.h"
#include "batching.h"
#include "shuffle_stage.h"

#define LOG_DOMAIN WN_AP_LOG_DOMAIN

struct partition_out {
    struct wn_task **tasks;
    size_t n;
};

struct shuffle_run;

struct rank_actor {
    struct wn_ap_outputs outs;   /* the extract hook's outputs (rank's thread) */
    struct wn_shuffle_sink sink; /* the insert hook's rows go to the provider */
    struct shuffle_run *run;
    uint32_t rank;
    struct wn_ap_actor *actor; /* set by its body */
    void *state;
    struct wn_shuffle *shuffle;
    uint64_t t_last; /* run clock: the end of its last hook call (idle time) */
};

struct shuffle_run {
    struct wn_ap_stage *stage;
    const struct wn_shuffle_stage_ops *hooks;
    const struct wn_shuffle_provider_ops *provider;
    struct wn_shuffle_group *group;    /* the round's (run lock: lock) */
    struct wn_shuffle_group *leftover; /* a group ranks may still be in (the run stopped) */
    struct wn_task **tasks;
    size_t n_tasks;
    struct wn_batch_range *batches;
    size_t n_batches;
    size_t next_batch; /* atomic: the next batch an actor takes */
    uint32_t n_ranks, n_partitions;
    uint32_t n_rounds, round; /* round: the one running */
    uint32_t n_started;       /* rank actors started */
    struct wn_task **outs;    /* the rounds' outputs so far, in order */
    size_t n_outs, cap_outs;

    uint32_t generation; /* atomic futex word: the coordinator bumps it to start a step */
    int go;              /* 1: run round `round`; 0: finish (written before generation) */
    uint32_t done;       /* atomic futex word: ranks done with the current step */
    char *dataset;       /* of the first input task (copied: the tasks go during insert) */
    struct partition_out *by_partition;
    struct rank_actor *ranks;
    int stop; /* atomic: a failure stops the ranks at their next step */

    pthread_mutex_t lock; /* guards group and what follows */
    int failed;
    struct wn_error error; /* the run's error: the first failure that is not an abort */
};

/* ---- checks ---------------------------------------------------------------- */

static const struct wn_shuffle_provider_ops *provider_of(const struct wn_run_stage *stage)
{
    if (stage->struct_size < offsetof(struct wn_run_stage, shuffle_params) + sizeof(void *) ||
        stage->shuffle_backend == NULL || stage->shuffle_backend->kind != WN_BACKEND_SHUFFLE)
        return NULL;
    return stage->shuffle_backend->ops;
}

int wn_ap_shuffle_check(struct wn_ap_stage *ap_stage, struct wn_error *err)
{
    const struct wn_run_stage *stage = ap_stage->config;
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

/* ---- the shared state ------------------------------------------------------------ */

/* Frees the shared state with the run context (wn_ap_node_keep), after
 * every rank's thread ended: a group left behind, tasks, outputs. */
static void shuffle_run_free(void *arg)
{
    struct shuffle_run *run = arg;

    if (run->leftover != NULL)
        run->provider->group_destroy(run->leftover);
    for (size_t i = 0; i < run->n_outs; i++)
        wn_task_free(run->outs[i]);
    free(run->outs);
    for (uint32_t p = 0; run->by_partition != NULL && p < run->n_partitions; p++) {
        for (size_t i = 0; i < run->by_partition[p].n; i++)
            wn_task_free(run->by_partition[p].tasks[i]);
        free(run->by_partition[p].tasks);
    }
    free(run->by_partition);
    for (size_t i = 0; i < run->n_tasks; i++)
        wn_task_free(run->tasks[i]);
    free(run->tasks);
    for (uint32_t r = 0; run->ranks != NULL && r < run->n_ranks; r++)
        wn_ap_outputs_free(&run->ranks[r].outs);
    free(run->ranks);
    free(run->batches);
    free(run->dataset);
    pthread_mutex_destroy(&run->lock);
    free(run);
}

/* ---- the gate between steps ------------------------------------------------- */

/* Rank: this rank is done with the current step. */
static void gate_done(struct shuffle_run *run)
{
    wn_event_signal(&run->done);
}

/* Rank: waits for the step after *seen; returns go (0: finish).  The
 * coordinator always opens the gate, also when the run stops. */
static int gate_wait(struct shuffle_run *run, uint32_t *seen)
{
    uint32_t gen;

    while ((gen = __atomic_load_n(&run->generation, __ATOMIC_ACQUIRE)) == *seen)
        wn_futex_wait(&run->generation, gen, 0);
    *seen = gen;
    return __atomic_load_n(&run->go, __ATOMIC_RELAXED); /* ordered by generation */
}

/* Coordinator: starts a step (go = 1: a round, 0: the end) for every rank. */
static void gate_open(struct shuffle_run *run, int go)
{
    __atomic_store_n(&run->done, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&run->go, go, __ATOMIC_RELAXED); /* published by the generation bump */
    wn_event_signal(&run->generation);
}

static void abort_group(struct shuffle_run *run, const char *reason)
{
    pthread_mutex_lock(&run->lock);
    if (run->group != NULL)
        run->provider->group_abort(run->group, reason);
    pthread_mutex_unlock(&run->lock);
}

/* Coordinator: waits until every started rank is done with the step (0).
 * Once the run stops, stops the ranks, aborts the group and returns
 * WN_ECANCELED at once: a rank may hang in a hook, or never come. */
static int gate_join(struct shuffle_run *run)
{
    if (wn_ap_kind_wait_count(run->stage->run, &run->done, run->n_started) < 0) {
        __atomic_store_n(&run->stop, 1, __ATOMIC_SEQ_CST);
        abort_group(run, "the run stopped");
        return WN_ECANCELED;
    }
    return 0;
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
    const char *name = run->stage->name;
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
        wn_error_set(&run->error, code, "stage '%s' actor %u/%u failed in %s: %s", name, rank,
                     run->n_ranks, phase, cause);
    }
    pthread_mutex_unlock(&run->lock);
    if (!keep)
        wn_log(WN_LOG_WARN, LOG_DOMAIN, "also: stage '%s' actor %u/%u failed in %s: %s", name, rank,
               run->n_ranks, phase, cause);
    __atomic_store_n(&run->stop, 1, __ATOMIC_SEQ_CST);
    if (code != WN_ECANCELED) {
        /* Under the lock: the coordinator swaps groups between rounds. */
        snprintf(reason, sizeof(reason), "rank %u failed in %s: %s", rank, phase, cause);
        abort_group(run, reason);
    }
}

/* ---- a rank ------------------------------------------------------------------ */

static int sink_insert(struct wn_shuffle_sink *self, const struct wn_table *rows,
                       const uint32_t *partitions, struct wn_error *err)
{
    struct rank_actor *r = (struct rank_actor *)((char *)self - offsetof(struct rank_actor, sink));
    struct wn_ap_hook_pause pause;
    int rc;

    /* May wait for earlier rows on their way: the provider times that. */
    if (wn_ap_hook_pause(r->actor, &pause))
        return wn_error_set(err, WN_ECANCELED, "stage '%s' actor %u: the run stopped",
                            r->run->stage->name, r->rank);
    rc = r->run->provider->insert(r->shuffle, rows, partitions, err);
    wn_ap_hook_resume(r->actor, &pause);
    return rc;
}

/* Inserts batches until none is left: 0, the failure's code, or 1 when the
 * actor was abandoned in the hook (the run failed). */
static int insert_batches(struct rank_actor *r, struct wn_ap_actor *a)
{
    struct shuffle_run *run = r->run;
    struct wn_ap_stage *stage = run->stage;
    struct wn_error hook_err = WN_ERROR_INIT;
    int last = run->round + 1 == run->n_rounds; /* the inputs go after this round's insert */
    char task_id[WN_AP_TASK_NOTE], buf[96];

    for (;;) {
        size_t b = __atomic_fetch_add(&run->next_batch, 1, __ATOMIC_SEQ_CST);
        struct wn_task **in;
        size_t n_in;
        uint64_t items = 0, start, end;
        int rc;

        if (b >= run->n_batches || __atomic_load_n(&run->stop, __ATOMIC_SEQ_CST))
            return 0;
        in = run->tasks + run->batches[b].start;
        n_in = run->batches[b].len;
        for (size_t i = 0; i < n_in; i++)
            items += wn_task_num_items(in[i]);
        snprintf(task_id, sizeof(task_id), "%s", wn_task_id(in[0]));
        start = wn_ap_run_clock(stage->run);
        wn_ap_actor_hook_begin(a, "insert", task_id, (uint32_t)n_in);
        rc = run->hooks->insert(r->state, in, n_in, &r->sink, &hook_err);
        if (wn_ap_actor_hook_end(a))
            return 1;
        end = wn_ap_run_clock(stage->run);
        for (size_t i = 0; last && i < n_in; i++) {
            wn_task_free(in[i]);
            in[i] = NULL;
        }
        /* Each input counts once, in the round that consumes it. */
        wn_ap_actor_batch_done(a, start, end, start - r->t_last, task_id, last ? (uint32_t)n_in : 0,
                               0, last ? items : 0, 0, 1, rc >= 0);
        r->t_last = end;
        if (rc < 0) {
            char round[48] = "";

            if (run->n_rounds > 1)
                snprintf(round, sizeof(round), " (round %u of %u)", run->round + 1, run->n_rounds);
            rank_fail(run, r->rank, "insert", rc, "task %s%s%s: %s", task_id,
                      n_in > 1 ? " (first of its batch)" : "", round,
                      wn_ap_hook_message(&hook_err, rc, buf, sizeof(buf)));
            return rc;
        }
    }
}

/* Extracts every partition this rank owns, in order: 0, the failure's
 * code, or 1 when the actor was abandoned in the hook. */
static int extract_partitions(struct rank_actor *r, struct wn_ap_actor *a)
{
    struct shuffle_run *run = r->run;
    struct wn_ap_stage *stage = run->stage;
    struct wn_error hook_err = WN_ERROR_INIT;
    char buf[96], note[WN_AP_TASK_NOTE];

    for (uint32_t p = r->rank; p < run->n_partitions; p += run->n_ranks) {
        struct wn_shuffle_partition info;
        struct partition_out *po = &run->by_partition[p];
        struct wn_table rows;
        uint64_t items, items_out = 0, start, end;
        int rc;

        if (__atomic_load_n(&run->stop, __ATOMIC_SEQ_CST))
            return WN_ECANCELED;
        rc = run->provider->extract(r->shuffle, p, &rows, &hook_err);
        if (rc < 0) {
            rank_fail(run, r->rank, "extract", rc, "partition %u: %s", p,
                      wn_ap_hook_message(&hook_err, rc, buf, sizeof(buf)));
            return rc;
        }
        memset(&info, 0, sizeof(info));
        info.struct_size = sizeof(info);
        info.index = p;
        info.num_partitions = run->n_partitions;
        info.rank = r->rank;
        info.num_ranks = run->n_ranks;
        info.stage_name = stage->name;
        info.dataset = run->dataset;
        info.round = run->round;
        info.num_rounds = run->n_rounds;
        items = (uint64_t)wn_table_num_rows(&rows);
        snprintf(note, sizeof(note), "partition %u", p);
        start = wn_ap_run_clock(stage->run);
        wn_ap_actor_hook_begin(a, "extract", note, 1);
        rc = run->hooks->extract(r->state, &info, &rows, &r->outs.em.emitter, &hook_err);
        if (wn_ap_actor_hook_end(a)) {
            wn_table_release(&rows);
            return 1;
        }
        end = wn_ap_run_clock(stage->run);
        wn_table_release(&rows);
        if (rc >= 0 && r->outs.failed)
            rc = wn_error_set(&hook_err, WN_ENOMEM, "out of memory collecting the outputs");
        for (size_t i = 0; rc >= 0 && i < r->outs.n; i++) {
            items_out += wn_task_num_items(r->outs.tasks[i]);
            if (wn_task_perf_add(r->outs.tasks[i], stage->name, (double)(end - start) * 1e-9, 0.0,
                                 items) < 0)
                rc = wn_error_set(&hook_err, WN_ENOMEM, "out of memory adding a perf record");
        }
        wn_ap_actor_batch_done(a, start, end, start - r->t_last, note, 0, (uint32_t)r->outs.n, 0,
                               items_out, 1, rc >= 0);
        r->t_last = end;
        /* The partition's outputs are the run's from here on (freed by it). */
        wn_ap_outputs_take(&r->outs, &po->tasks, &po->n);
        r->outs.failed = 0;
        if (rc < 0) {
            rank_fail(run, r->rank, "extract", rc, "partition %u (%llu rows): %s", p,
                      (unsigned long long)items,
                      wn_ap_hook_message(&hook_err, rc, buf, sizeof(buf)));
            return rc;
        }
    }
    return 0;
}

/* One round on this rank: open, insert, insert_finished, extract, close.
 * Returns 1 when the actor was abandoned in a hook. */
static int rank_round(struct rank_actor *r, struct wn_ap_actor *a)
{
    struct shuffle_run *run = r->run;
    struct wn_error hook_err = WN_ERROR_INIT;
    uint64_t t0;
    char buf[96];
    int rc, abandoned = 0;

    r->sink.round = run->round;
    r->sink.num_rounds = run->n_rounds;
    rc = run->provider->open(run->group, r->rank, &r->shuffle, &hook_err);
    if (rc < 0) {
        r->shuffle = NULL;
        rank_fail(run, r->rank, "open", rc, "%s",
                  wn_ap_hook_message(&hook_err, rc, buf, sizeof(buf)));
        return 0;
    }
    rc = insert_batches(r, a);
    abandoned = rc == 1;
    if (rc != 0 || __atomic_load_n(&run->stop, __ATOMIC_SEQ_CST))
        goto out_close;
    t0 = wn_ap_run_clock(run->stage->run);
    rc = run->provider->insert_finished(r->shuffle, &hook_err);
    wn_ap_actor_trace(a, "insert_finished", t0, wn_ap_run_clock(run->stage->run));
    if (rc < 0) {
        rank_fail(run, r->rank, "insert_finished", rc, "%s",
                  wn_ap_hook_message(&hook_err, rc, buf, sizeof(buf)));
        goto out_close;
    }
    abandoned = extract_partitions(r, a) == 1;
out_close:
    run->provider->close(r->shuffle);
    r->shuffle = NULL;
    return abandoned;
}

/* A rank's actor body (see the top of this file); the actor's device is
 * current on this thread already. */
static void rank_body(struct wn_ap_actor *a, void *arg)
{
    struct rank_actor *r = arg;
    struct shuffle_run *run = r->run;
    struct wn_ap_stage *stage = run->stage;
    const struct wn_stage_ops *ops = stage->ops;
    struct wn_error hook_err = WN_ERROR_INIT;
    struct wn_worker worker;
    char buf[96];
    uint32_t seen = 0;
    uint64_t t0;
    int created = 0, abandoned = 0, rc = 0;

    r->actor = a;
    wn_ap_outputs_init(&r->outs, a);
    t0 = r->t_last = wn_ap_run_clock(stage->run);
    if (ops->create != NULL) {
        wn_ap_actor_hook_begin(a, "create", NULL, 0);
        rc = ops->create(stage->config->params, &r->state, &hook_err);
        abandoned = wn_ap_actor_hook_end(a);
    }
    created = rc >= 0;
    if (abandoned)
        goto out_teardown;
    if (!created) {
        rank_fail(run, r->rank, "create", rc, "%s",
                  wn_ap_hook_message(&hook_err, rc, buf, sizeof(buf)));
        goto rounds;
    }
    wn_ap_actor_worker(a, run->n_ranks, &worker);
    worker.actor_index = r->rank;
    if (ops->setup != NULL) {
        wn_ap_actor_hook_begin(a, "setup", NULL, 0);
        rc = ops->setup(r->state, &worker, &hook_err);
        abandoned = wn_ap_actor_hook_end(a);
    }
    r->t_last = wn_ap_run_clock(stage->run);
    a->setup_ns = r->t_last - t0;
    wn_ap_actor_trace(a, "setup", t0, r->t_last);
    if (abandoned)
        goto out_teardown;
    if (rc < 0)
        rank_fail(run, r->rank, "setup", rc, "%s",
                  wn_ap_hook_message(&hook_err, rc, buf, sizeof(buf)));
rounds:
    /* Every rank takes part in every step, failed or not, so the gate counts
     * stay right; a failure sets stop, and the coordinator starts no more
     * rounds.  An abandoned rank leaves at once and never comes back. */
    gate_done(run);
    while (gate_wait(run, &seen)) {
        if (!__atomic_load_n(&run->stop, __ATOMIC_SEQ_CST) && rank_round(r, a))
            goto out_teardown; /* abandoned */
        gate_done(run);
    }
    __atomic_add_fetch(&a->idle_ns, wn_ap_run_clock(stage->run) - r->t_last, __ATOMIC_RELAXED);

out_teardown:
    if (created && ops->teardown != NULL) {
        t0 = wn_ap_run_clock(stage->run);
        wn_ap_actor_hook_begin(a, "teardown", NULL, 0);
        ops->teardown(r->state);
        wn_ap_actor_hook_end(a); /* once abandoned, what it held is the state's */
        wn_ap_actor_trace(a, "teardown", t0, wn_ap_run_clock(stage->run));
    }
    if (created && ops->destroy != NULL) {
        wn_ap_actor_hook_begin(a, "destroy", NULL, 0);
        ops->destroy(r->state);
        wn_ap_actor_hook_end(a); /* once abandoned, what it held is the state's */
    }
    r->state = NULL;
}

/* ---- the coordinator ------------------------------------------------------------- */

/* Between rounds: appends the round's outputs, in partition order, to the run's. */
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
            return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory collecting %zu outputs",
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

/* The stage's round count (1 without a num_rounds hook). */
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

/* While every rank waits at the gate: fails the run with err. */
static void coordinator_fail(struct shuffle_run *run, const struct wn_error *err)
{
    pthread_mutex_lock(&run->lock);
    if (!run->failed) {
        run->failed = 1;
        run->error = *err;
    }
    pthread_mutex_unlock(&run->lock);
    __atomic_store_n(&run->stop, 1, __ATOMIC_SEQ_CST);
}

/* Runs the rounds over the started ranks (waiting at the gate). */
static void run_rounds(struct shuffle_run *run)
{
    const struct wn_run_stage *stage = run->stage->config;
    struct wn_shuffle_group_config config;
    struct wn_error err = WN_ERROR_INIT;

    memset(&config, 0, sizeof(config));
    config.struct_size = sizeof(config);
    config.stage_name = stage->name;
    config.num_ranks = run->n_ranks;
    config.num_partitions = run->n_partitions;
    config.params = stage->shuffle_params;
    config.timeout_s = stage->timeout_s;
    if (gate_join(run) < 0) /* every rank created and set up (or failed) */
        goto out_end;
    for (uint32_t round = 0; round < run->n_rounds; round++) {
        struct wn_shuffle_group *group = NULL;
        uint64_t started = wn_ap_run_clock(run->stage->run);
        int rc;

        if (__atomic_load_n(&run->stop, __ATOMIC_SEQ_CST) || wn_ap_run_stopping(run->stage->run))
            break;
        rc = run->provider->group_create(&config, &group, &err);
        if (rc < 0) {
            if (err.code == 0)
                wn_error_set(&err, rc, "%s", wn_strerror(rc));
            wn_error_prefix(&err, "stage '%s': shuffle provider '%s'%s", stage->name,
                            stage->shuffle_backend->name, run->n_rounds > 1 ? " (a round)" : "");
            coordinator_fail(run, &err);
            break;
        }
        pthread_mutex_lock(&run->lock);
        run->group = group;
        pthread_mutex_unlock(&run->lock);
        run->round = round;
        run->next_batch = 0;
        gate_open(run, 1);
        rc = gate_join(run);
        pthread_mutex_lock(&run->lock);
        run->group = NULL;
        pthread_mutex_unlock(&run->lock);
        if (rc < 0) {
            /* Ranks may still be in this group: it goes with the state. */
            run->leftover = group;
            break;
        }
        run->provider->group_destroy(group);
        if (!run->failed && append_round(run, &err) < 0) {
            coordinator_fail(run, &err);
            break;
        }
        if (run->n_rounds > 1)
            wn_log(WN_LOG_DEBUG, LOG_DOMAIN, "stage '%s': round %u of %u in %.3f s", stage->name,
                   round + 1, run->n_rounds,
                   (double)(wn_ap_run_clock(run->stage->run) - started) * 1e-9);
    }
out_end:
    gate_open(run, 0);
}

/* Starts one actor per rank; counts them in n_started. */
static void start_ranks(struct shuffle_run *run)
{
    struct wn_error start_err = WN_ERROR_INIT;

    run->n_started = wn_ap_kind_start_ranks(run->stage, run->n_ranks, rank_body, run->ranks,
                                            sizeof(*run->ranks), &start_err);
    if (run->n_started < run->n_ranks) /* no round starts: the started ranks leave at the gate */
        rank_fail(run, run->n_started, "start", start_err.code, "%s", start_err.message);
}

int wn_ap_shuffle_run(struct wn_ap_stage *ap_stage, struct wn_task **tasks, size_t n_tasks,
                      struct wn_task ***out, size_t *n_out, struct wn_error *err)
{
    const struct wn_run_stage *stage = ap_stage->config;
    struct shuffle_run *run;
    uint64_t started_at = wn_ap_run_clock(ap_stage->run);
    int rc;

    *out = NULL;
    *n_out = 0;
    run = calloc(1, sizeof(*run));
    if (run == NULL) {
        for (size_t i = 0; i < n_tasks; i++)
            wn_task_free(tasks[i]);
        free(tasks);
        return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory", stage->name);
    }
    pthread_mutex_init(&run->lock, NULL);
    run->stage = ap_stage;
    run->hooks = stage->desc->shuffle;
    run->provider = provider_of(stage);
    run->tasks = tasks;
    run->n_tasks = n_tasks;
    if (ap_stage->node == NULL) { /* runners run inside a barrier node */
        shuffle_run_free(run);
        return wn_error_set(err, WN_EINTERNAL, "stage '%s': a SHUFFLE stage without its node",
                            stage->name);
    }
    wn_ap_node_keep(ap_stage->node, run, shuffle_run_free);
    rc = wn_ap_shuffle_check(ap_stage, err);
    if (rc == 0)
        rc = wn_ap_stage_plan(ap_stage, n_tasks, &run->n_ranks, err);
    if (rc == 0)
        rc = rounds_of(stage, &run->n_rounds, err);
    if (rc < 0)
        goto out;
    run->n_partitions = wn_shuffle_num_partitions(run->hooks, stage->params, n_tasks);
    if (wn_task_dataset(tasks[0]) != NULL &&
        (run->dataset = strdup(wn_task_dataset(tasks[0]))) == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory", stage->name);
        goto out;
    }
    rc = wn_batching_split(n_tasks, ap_stage->batch_size, 0, &run->batches, &run->n_batches, err);
    if (rc < 0) {
        wn_error_prefix(err, "stage '%s'", stage->name);
        goto out;
    }
    run->by_partition = calloc(run->n_partitions, sizeof(*run->by_partition));
    run->ranks = calloc(run->n_ranks, sizeof(*run->ranks));
    if (run->by_partition == NULL || run->ranks == NULL) {
        rc =
            wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory for %u ranks and %u partitions",
                         stage->name, run->n_ranks, run->n_partitions);
        goto out;
    }
    for (uint32_t i = 0; i < run->n_ranks; i++) {
        struct rank_actor *r = &run->ranks[i];

        r->sink.struct_size = sizeof(r->sink);
        r->sink.num_partitions = run->n_partitions;
        r->sink.insert = sink_insert;
        r->run = run;
        r->rank = i;
    }
    ap_stage->pool_size = run->n_ranks;
    ap_stage->pool_fixed = 1;
    wn_log(WN_LOG_INFO, LOG_DOMAIN,
           "stage '%s': shuffle of %zu tasks in %zu batches over %u ranks, %u partitions, "
           "%u round%s (provider '%s')",
           stage->name, n_tasks, run->n_batches, run->n_ranks, run->n_partitions, run->n_rounds,
           run->n_rounds == 1 ? "" : "s", stage->shuffle_backend->name);

    start_ranks(run);
    run_rounds(run);
    if (wn_ap_run_stopping(ap_stage->run)) {
        /* Ranks may still run (the driver joins them): the run's error says why. */
        rc = wn_error_set(err, WN_ECANCELED, "stage '%s' stopped: the run failed", stage->name);
        goto out;
    }
    wn_ap_stage_join_actors(ap_stage); /* every rank is past the last gate */
    if (run->failed) {
        rc = run->error.code;
        wn_error_set(err, rc, "%s", run->error.message);
    } else {
        *out = run->outs;
        *n_out = run->n_outs;
        run->outs = NULL;
        run->n_outs = 0;
        wn_log(WN_LOG_INFO, LOG_DOMAIN,
               "stage '%s': %zu tasks in, %zu tasks out, shuffled over %u ranks, %u partitions "
               "and %u round%s in %.3f s",
               stage->name, n_tasks, *n_out, run->n_ranks, run->n_partitions, run->n_rounds,
               run->n_rounds == 1 ? "" : "s",
               (double)(wn_ap_run_clock(ap_stage->run) - started_at) * 1e-9);
    }
out:
    /* The provider may drop what it kept between rounds (version 2). */
    if (run->provider != NULL && run->provider->version >= 2 && run->provider->stage_end != NULL)
        run->provider->stage_end(stage->name, stage->shuffle_params);
    /* What is left (tasks, outputs) goes with the state. */
    return rc;
}
