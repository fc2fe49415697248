/*
 * The engine of a PLAIN stage (see plain_stage.h).
 *
 * Batches are numbered in input order; batch b lives in slot b % W of a
 * window of W slots.  Four cursors, each written by one side:
 *   fill_seq     the batch the producer fills (the thread pushing into the
 *                stage: the driver, or whichever thread releases the stage
 *                before; one at a time);
 *   publish_seq  batches below it are ready (producer);
 *   take_seq     the next batch an idle actor takes (actors, by CAS);
 *   release_seq  batches below it were passed on and their slots are free
 *                (the head, below).
 * The producer waits while fill_seq == release_seq + W: the window bounds
 * what a stage holds, and a slow stage holds back its producers.
 *
 * Ordered release: each slot has a word with DONE (its batch finished) and
 * HEAD (every batch before it was passed on) bits.  The actor that finishes
 * a batch sets DONE; the thread that passes batch b on sets HEAD on b + 1.
 * Whoever of the two comes second (it sees the other's bit in the value its
 * atomic OR returned) passes the batch on, then goes on to the next one.
 * So one thread at a time pushes into the next stage, in batch order, with
 * no lock.  A running batch whose outputs pile up (a source fanning out)
 * passes them on while it runs once it is the head (on_error "fail" only:
 * a batch that may be retried or skipped keeps its outputs until it ends).
 *
 * Failed batches of on_error "retry" / "skip" stages go to a small queue
 * under a mutex (rare), retried preferably by another actor; the slot keeps
 * its place in the order.  Nothing is allocated per task: slot arrays grow
 * to their largest batch and are reused.
 */
#include "build_config.h"

#include <stdlib.h>
#include <string.h>

#include <winnow/log.h>

#include "batching.h"
#include "plain_stage.h"
#include "wait.h"

#define SLOT_DONE 1u
#define SLOT_HEAD 2u
#define SLOT_WAITER 4u

/* Largest window, in batches. */
#define WINDOW_MAX 65536u

/* Batches the head passes on before it tells the producer: one atomic
 * store and one cache-line transfer per group rather than per batch (how
 * many a producer publishes at once, and an actor takes at once, is
 * batching.h's rule). */
#define RELEASE_EVERY 16u

#define COUNT_ADD(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)

/* Slots are 128-byte aligned: actors working on neighbouring batches do
 * not share a cache line (nor its adjacent-line prefetch). */
struct slot {
    _Alignas(128) uint32_t word; /* atomic: SLOT_* */
    uint32_t n_in, cap_in;       /* inputs: in[0..n_in), NULL once taken or freed */
    struct wn_task **in;
    struct wn_task **orig; /* the inputs as handed over (retry / skip stages) */
    struct wn_task **out;  /* outputs not passed on yet */
    size_t n_out, cap_out;
    uint64_t n_pushed;  /* outputs of this batch passed on so far */
    uint64_t n_emitted; /* outputs the stage emitted for this batch */
    int chained;        /* out[] holds outputs of the fused stages */
    uint64_t n_skipped; /* inputs written to the failure manifest */
    /* Items of in[0..n_in), known when the slot was filled by one whole
     * batch of outputs whose items the stage before counted (in_counted);
     * items of out[0..n_out) once the batch ended (out_counted, until passed
     * on): what a stage passes on is counted once, not again as the next
     * stage's input. */
    uint64_t in_items, out_items;
    int in_counted, out_counted;
    uint64_t seq;
    uint32_t attempts; /* failed attempts so far */
    int avoid_actor;   /* retry on another actor than this one; -1 */
};

struct plain_actor;

struct wn_ap_plain {
    struct wn_ap_target input; /* first: the target is the engine */
    struct wn_ap_stage *stage;
    struct wn_ap_run *run;
    struct wn_ap_counts *counts;
    struct wn_ap_target *down;
    uint32_t batch_size;
    uint32_t window, mask;
    struct slot *slots;
    int keep_inputs;        /* on_error retry / skip: orig[] kept, no early release */
    int need_note;          /* a trace or a timeout needs each batch's first task id */
    uint32_t publish_every; /* wn_batching_publish_every */
    size_t flush_threshold; /* outputs a running head batch passes on at once */

    const char *perf_name; /* the stage's interned name (task.c) */
    /* Stages fused into this one (batch_size 1, see wn_ap_plain_chain): each
     * actor runs its outputs through them, on its own thread. */
    struct wn_ap_stage **chain;
    size_t n_chain;
    const char **chain_perf_names;
    uint64_t chain_dropped; /* drain: outputs of the last fused stage not passed on */
    /* A group (see wn_ap_plain_group): the engines whose batches the head's
     * actor threads run.  Head: members[0] is itself; a member: group_head
     * is the head's engine, and it starts no thread of its own. */
    struct wn_ap_plain **members;
    size_t n_members;
    struct wn_ap_plain *group_head;
    size_t member; /* index in its group */

    /* Producer side: one thread at a time. */
    _Alignas(64) uint64_t fill_seq; /* the slot being filled; below it: filled */
    uint64_t published;             /* filled slots below this were published */
    struct slot *filling;
    uint64_t n_in;         /* tasks pushed (atomic: read by progress) */
    uint64_t release_seen; /* release_seq when last read: slots below it + W are free */
    int grown;             /* the pool is as large as it will get */

    _Alignas(64) uint64_t publish_seq; /* atomic */
    uint32_t work_event;               /* futex: bumped when a batch or a retry is ready */
    uint32_t sleepers;                 /* atomic: actors asleep on work_event */
    uint32_t idle;                     /* atomic: actors looking for work */

    _Alignas(64) uint64_t take_seq; /* atomic */

    _Alignas(64) uint64_t release_seq; /* atomic */
    uint32_t space_event;              /* futex: bumped when release_seq moves and someone waits */
    uint32_t space_waiters;            /* atomic */
    /* Written by the head only (atomic: read by progress). */
    uint64_t n_out, n_filtered, n_created;

    _Alignas(64) uint32_t closed; /* atomic: the input ended; final_seq is set */
    uint64_t final_seq;
    uint32_t finished;   /* atomic futex word: every batch passed on, input closed */
    uint32_t close_sent; /* atomic: down->close() was called */

    uint64_t n_dropped; /* by the drain */
    int settled;        /* atomic: the counts above went to *counts */

    /* Retries, and actors: rare, under a mutex. */
    pthread_mutex_t lock;
    uint64_t *retry; /* seq of batches to run again */
    size_t n_retry_queued, cap_retry;
    uint32_t n_retry;       /* atomic mirror of n_retry_queued */
    uint32_t target_actors; /* the pool grows up to this */
    uint32_t start_all;     /* start this many with the first batch */
    uint32_t start_target;  /* atomic: actors of start_all that did start */
    uint32_t setups_done;   /* atomic futex word: of them, set up */
    int grow_blocked;       /* a start failed: stop growing */
    struct plain_actor **actors;
    size_t n_pactors, cap_pactors;
};

/* One fused stage on a plain actor's thread: its instance and actor record,
 * and the outputs it emits for the task it runs. */
struct link {
    struct wn_ap_emitter em; /* first: the emitter the fused stage gets */
    struct wn_ap_stage *stage;
    struct wn_ap_actor *a;
    void *state;
    int created;
    struct wn_task **buf; /* its outputs, reused */
    size_t n, cap;
    int emit_failed;
    struct wn_ap_counts counts; /* this actor's share of the stage's counts */
};

struct plain_actor {
    struct wn_ap_emitter em; /* first: the emitter the stage gets */
    struct wn_ap_plain *p;
    struct wn_ap_actor *a;
    void *state;
    struct slot *cur; /* the batch running, or NULL */
    int in_hook;      /* inside process_batch, watched */
    int abandoned_in_emit;
    int emit_failed;
    uint64_t t_last; /* end of the last batch (run clock) */
    uint64_t batch_start, batch_idle, batch_items;
    uint64_t last_batch_ns;         /* process_batch time of the last batch (claim sizes) */
    uint64_t items_pushed;          /* items of outputs passed on early */
    uint64_t claim_next, claim_end; /* batches taken at once, not run yet */
    struct wn_task *first;          /* the running batch's first input */
    char note[WN_AP_TASK_NOTE];     /* its id, when a trace or a timeout needs it */
    struct link *links;             /* n_chain fused stages */
    /* Grouped engines: host is the thread's actor of the group's head (its
     * clock, t_last, is the thread's); the head's actor holds one actor of
     * each member, group[0] being itself.  A member's instance is created
     * on the thread when its first batch comes (created). */
    struct plain_actor *host;
    struct plain_actor **group;
    int created;
};

/* The head's actor of the group thread running here, or NULL. */
static _Thread_local struct plain_actor *group_self;

static int plain_push(struct wn_ap_target *t, struct wn_task *task);
static int plain_push_many(struct wn_ap_target *t, struct wn_task **tasks, size_t n,
                           size_t *pushed);
static void plain_flush(struct wn_ap_target *t);
static void plain_close(struct wn_ap_target *t);
static void plain_body(struct wn_ap_actor *a, void *arg);

static inline struct slot *slot_at(const struct wn_ap_plain *p, uint64_t seq)
{
    return &p->slots[seq & p->mask];
}

static inline int is_driver(const struct wn_ap_run *run)
{
    return pthread_equal(pthread_self(), run->driver);
}

static void note_copy(char *dst, const char *src)
{
    size_t len = src ? strnlen(src, WN_AP_TASK_NOTE - 1) : 0;

    if (len > 0)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

static uint32_t round_pow2(uint64_t n)
{
    uint32_t w = 2;

    while (w < n && w < WINDOW_MAX)
        w <<= 1;
    return w;
}

int wn_ap_plain_new(struct wn_ap_stage *stage, struct wn_ap_counts *counts,
                    struct wn_ap_target *down, uint32_t start_actors, struct wn_ap_plain **out,
                    struct wn_error *err)
{
    const struct wn_ap_options *opt = &stage->run->opt;
    struct wn_ap_plain *p;
    uint64_t by_tasks, by_actors;
    uint32_t target;
    void *mem;

    *out = NULL;
    if (posix_memalign(&mem, 64, sizeof(*p)) != 0)
        return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory", stage->name);
    p = memset(mem, 0, sizeof(*p));
    p->input.push = plain_push;
    p->input.push_many = plain_push_many;
    p->input.flush = plain_flush;
    p->input.close = plain_close;
    p->stage = stage;
    p->run = stage->run;
    p->counts = counts;
    p->down = down;
    p->batch_size = stage->batch_size ? stage->batch_size : 1;
    p->keep_inputs = stage->on_error != WN_ON_ERROR_FAIL;
    p->need_note = stage->run->trace != NULL || stage->timeout_ns > 0;
    p->flush_threshold = opt->queue_tasks > 64 ? opt->queue_tasks : 64;
    p->publish_every = wn_batching_publish_every(p->batch_size);
    if (start_actors > 0) {
        target = start_actors;
        p->start_all = start_actors;
    } else if (stage->explicit_actors > 0) {
        target =
            stage->explicit_actors < stage->max_actors ? stage->explicit_actors : stage->max_actors;
        p->start_all = target;
    } else {
        target = stage->max_actors;
    }
    p->start_target = p->start_all;
    p->target_actors = target ? target : 1;
    stage->pool_size = p->target_actors;
    stage->pool_fixed = p->start_all > 0;
    by_tasks = (opt->queue_tasks + (uint64_t)p->batch_size - 1) / p->batch_size;
    by_actors = (uint64_t)opt->max_inflight *
                (p->target_actors < WN_POOL_THREAD_LIMIT ? p->target_actors : WN_POOL_THREAD_LIMIT);
    p->window = round_pow2(by_tasks > by_actors ? by_tasks : by_actors);
    p->mask = p->window - 1;
    if (posix_memalign(&mem, 128, (size_t)p->window * sizeof(*p->slots)) == 0)
        p->slots = memset(mem, 0, (size_t)p->window * sizeof(*p->slots));
    pthread_mutex_init(&p->lock, NULL);
    if (p->slots == NULL) {
        wn_ap_plain_free(p);
        return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory for a window of %u batches",
                            stage->name, p->window);
    }
    for (uint32_t i = 0; i < p->window; i++)
        p->slots[i].avoid_actor = -1;
    p->slots[0].word = SLOT_HEAD; /* batch 0 is the head from the start */
    /* The interned copy of the stage name (the one perf records point to):
     * passing it back makes wn_task_perf_add a pointer comparison. */
    {
        struct wn_task *probe = wn_task_new("", NULL);

        if (probe == NULL || wn_task_perf_add(probe, stage->name, 0, 0, 0) < 0) {
            wn_task_free(probe);
            wn_ap_plain_free(p);
            return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory", stage->name);
        }
        p->perf_name = wn_task_perf_at(probe, 0)->stage;
        wn_task_free(probe);
    }
    stage->engine = p;
    *out = p;
    return 0;
}

struct wn_ap_target *wn_ap_plain_input(struct wn_ap_plain *p)
{
    return &p->input;
}

uint64_t wn_ap_plain_queued(const struct wn_ap_plain *p)
{
    uint64_t pub = __atomic_load_n(&p->publish_seq, __ATOMIC_RELAXED);
    uint64_t take = __atomic_load_n(&p->take_seq, __ATOMIC_RELAXED);

    return pub > take ? pub - take : 0;
}

void wn_ap_plain_free(struct wn_ap_plain *p)
{
    if (p == NULL)
        return;
    for (uint32_t i = 0; p->slots != NULL && i < p->window; i++) {
        free(p->slots[i].in);
        free(p->slots[i].orig);
        free(p->slots[i].out);
    }
    for (size_t i = 0; i < p->n_pactors; i++) {
        struct plain_actor *pa = p->actors[i];

        for (size_t k = 0; pa->links != NULL && k < p->n_chain; k++) {
            for (size_t j = 0; j < pa->links[k].n; j++)
                wn_task_free(pa->links[k].buf[j]);
            free(pa->links[k].buf);
        }
        free(pa->links);
        free(pa->group); /* the members' actors belong to their engines */
        free(pa);
    }
    free(p->actors);
    free(p->members);
    free(p->chain);
    free(p->chain_perf_names);
    free(p->retry);
    free(p->slots);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- actors: started with the first batch, or as the queue grows ----------------- */

/* A new actor of engine p (its links allocated), registered in p's list; NULL
 * when out of memory.  p's lock is held. */
static struct plain_actor *actor_new_locked(struct wn_ap_plain *p)
{
    struct plain_actor *pa;

    if (p->n_pactors == p->cap_pactors) {
        size_t cap = p->cap_pactors ? p->cap_pactors * 2 : 8;
        struct plain_actor **actors = realloc(p->actors, cap * sizeof(*actors));

        if (actors == NULL)
            return NULL;
        p->actors = actors;
        p->cap_pactors = cap;
    }
    pa = calloc(1, sizeof(*pa));
    if (pa != NULL && p->n_chain > 0 &&
        (pa->links = calloc(p->n_chain, sizeof(*pa->links))) == NULL) {
        free(pa);
        pa = NULL;
    }
    if (pa == NULL)
        return NULL;
    pa->p = p;
    pa->host = pa;
    p->actors[p->n_pactors++] = pa;
    return pa;
}

/* The actors of the group's members for a new head actor pa (one each,
 * registered in each member's engine).  The head's lock is held. */
static int group_actors_locked(struct wn_ap_plain *p, struct plain_actor *pa)
{
    pa->group = calloc(p->n_members, sizeof(*pa->group));
    if (pa->group == NULL)
        return WN_ENOMEM;
    pa->group[0] = pa;
    for (size_t k = 1; k < p->n_members; k++) {
        struct wn_ap_plain *m = p->members[k];

        pthread_mutex_lock(&m->lock);
        pa->group[k] = actor_new_locked(m);
        pthread_mutex_unlock(&m->lock);
        if (pa->group[k] == NULL)
            return WN_ENOMEM;
        pa->group[k]->host = pa;
    }
    return 0;
}

/* Starts one actor; the engine lock is held. */
static int start_actor_locked(struct wn_ap_plain *p, struct wn_error *err)
{
    struct wn_ap_stage *stage = p->stage;
    const struct wn_gpu_placement *placement = NULL;
    struct plain_actor *pa;
    int rc;

    pa = actor_new_locked(p);
    if (pa == NULL || (p->n_members > 1 && group_actors_locked(p, pa) < 0))
        return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory for an actor", stage->name);
    if (stage->has_first_placement && __atomic_load_n(&stage->n_actors, __ATOMIC_ACQUIRE) == 0) {
        placement = &stage->first_placement;
        stage->has_first_placement = 0;
    }
    /* pa->a is set by the actor's own thread (plain_body). */
    rc = wn_ap_actor_start(stage, placement, plain_body, pa, NULL, err);
    if (rc < 0 && rc != WN_EIO && placement != NULL) {
        stage->first_placement = *placement; /* no actor took it: keep it */
        stage->has_first_placement = 1;
    }
    return rc;
}

/* After a batch was published or queued for a retry: starts actors the
 * stage should now have.  want_another: a retry wants a second actor. */
static void grow(struct wn_ap_plain *p, int want_another)
{
    struct wn_ap_stage *stage = p->stage;
    struct wn_error err;
    uint32_t n = __atomic_load_n(&stage->n_actors, __ATOMIC_ACQUIRE);
    uint32_t goal;

    if (p->group_head != NULL) {
        /* A member of a group: the head's threads run its batches. */
        __atomic_store_n(&stage->state, WN_AP_STAGE_RUNNING, __ATOMIC_RELAXED);
        __atomic_store_n(&p->grown, 1, __ATOMIC_RELAXED);
        return;
    }
    if (n >= p->target_actors || p->grow_blocked) {
        __atomic_store_n(&p->grown, 1, __ATOMIC_RELAXED); /* checked before calling grow */
        return;
    }
    if (p->start_all > 0)
        goal = p->start_all;
    else if (n == 0 || want_another)
        goal = n + 1;
    else if (__atomic_load_n(&p->idle, __ATOMIC_ACQUIRE) == 0 && wn_ap_plain_queued(p) > 0)
        goal = n + 1; /* a batch waits and no actor is looking for one */
    else
        return;
    if (goal > p->target_actors)
        goal = p->target_actors;
    wn_error_clear(&err);
    pthread_mutex_lock(&p->lock);
    while (!p->grow_blocked && __atomic_load_n(&stage->n_actors, __ATOMIC_ACQUIRE) < goal) {
        int rc = start_actor_locked(p, &err);

        if (rc == WN_ERESOURCE && __atomic_load_n(&stage->n_actors, __ATOMIC_ACQUIRE) > 0) {
            /* The GPUs are taken by other stages: this pool stays as it is. */
            wn_log(WN_LOG_INFO, WN_AP_LOG_DOMAIN, "%s: stays at %u actors", err.message,
                   stage->n_actors);
            p->grow_blocked = 1;
            /* The actors started together wait for each other's setup: not
             * for those that will never exist. */
            __atomic_store_n(&p->start_target, stage->n_actors, __ATOMIC_SEQ_CST);
            wn_futex_wake(&p->setups_done, INT32_MAX);
        } else if (rc < 0) {
            p->grow_blocked = 1;
            pthread_mutex_unlock(&p->lock);
            wn_ap_stage_fail(stage, rc, "%s", err.message);
            return;
        }
    }
    if (__atomic_load_n(&stage->state, __ATOMIC_RELAXED) == WN_AP_STAGE_WAITING)
        __atomic_store_n(&stage->state, WN_AP_STAGE_RUNNING, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&p->lock);
}

/* ---- fused stages ---------------------------------------------------------------------- */

int wn_ap_plain_chain(struct wn_ap_plain *p, struct wn_ap_stage *const *chain, size_t n,
                      struct wn_error *err)
{
    if (n == 0)
        return 0;
    p->chain = calloc(n, sizeof(*p->chain));
    p->chain_perf_names = calloc(n, sizeof(*p->chain_perf_names));
    if (p->chain == NULL || p->chain_perf_names == NULL)
        return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory", p->stage->name);
    for (size_t k = 0; k < n; k++) {
        struct wn_ap_stage *stage = chain[k];
        struct wn_task *probe = wn_task_new("", NULL);

        if (probe == NULL || wn_task_perf_add(probe, stage->name, 0, 0, 0) < 0) {
            wn_task_free(probe);
            return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory", stage->name);
        }
        p->chain_perf_names[k] = wn_task_perf_at(probe, 0)->stage;
        wn_task_free(probe);
        p->chain[k] = stage;
        stage->fused_into = p->stage;
        stage->pool_size = p->stage->pool_size;
        stage->pool_fixed = p->stage->pool_fixed;
    }
    p->n_chain = n;
    return 0;
}

int wn_ap_plain_group(struct wn_ap_plain *p, struct wn_ap_plain *const *members, size_t n,
                      struct wn_error *err)
{
    if (n == 0)
        return 0;
    p->members = calloc(n + 1, sizeof(*p->members));
    if (p->members == NULL)
        return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory", p->stage->name);
    p->members[0] = p;
    for (size_t k = 0; k < n; k++) {
        struct wn_ap_plain *m = members[k];

        m->group_head = p;
        m->member = k + 1;
        m->stage->fused_into = p->stage;
        m->stage->pool_size = p->stage->pool_size;
        m->stage->pool_fixed = p->stage->pool_fixed;
        for (size_t c = 0; c < m->n_chain; c++) {
            m->chain[c]->pool_size = p->stage->pool_size;
            m->chain[c]->pool_fixed = p->stage->pool_fixed;
        }
        p->members[k + 1] = m;
    }
    p->n_members = n + 1;
    return 0;
}

/* Stage k of the chain's counts so far, summed over the actors (loosely,
 * for progress; exactly once the actors were joined). */
static void chain_counts(const struct wn_ap_plain *p, size_t k, struct wn_ap_counts *c)
{
    for (size_t i = 0; i < p->n_pactors; i++) {
        const struct plain_actor *pa = p->actors[i];
        const struct wn_ap_counts *l;

        if (pa->links == NULL)
            continue;
        l = &pa->links[k].counts;
        c->in += __atomic_load_n(&l->in, __ATOMIC_RELAXED);
        c->out += __atomic_load_n(&l->out, __ATOMIC_RELAXED);
        c->filtered += __atomic_load_n(&l->filtered, __ATOMIC_RELAXED);
        c->created += __atomic_load_n(&l->created, __ATOMIC_RELAXED);
    }
}

void wn_ap_plain_fused_counts(const struct wn_ap_stage *stage, struct wn_ap_counts *c)
{
    const struct wn_ap_plain *p = stage->fused_into ? stage->fused_into->engine : NULL;

    if (p == NULL || __atomic_load_n(&p->settled, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock((pthread_mutex_t *)&p->lock);
    for (size_t k = 0; k < p->n_chain; k++)
        if (p->chain[k] == stage)
            chain_counts(p, k, c);
    pthread_mutex_unlock((pthread_mutex_t *)&p->lock);
}

/* ---- the producer side ----------------------------------------------------------------- */

static int grow_array(struct wn_task ***array, uint32_t *cap, uint32_t limit, int also_orig,
                      struct wn_task ***orig)
{
    uint32_t want = *cap ? *cap * 2 : 16;
    struct wn_task **a;

    if (want > limit)
        want = limit;
    a = realloc(*array, want * sizeof(*a));
    if (a == NULL)
        return WN_ENOMEM;
    *array = a;
    if (also_orig) {
        struct wn_task **o = realloc(*orig, want * sizeof(*o));
        if (o == NULL)
            return WN_ENOMEM;
        *orig = o;
    }
    *cap = want;
    return 0;
}

/* Publishes the slots filled so far: idle actors may take them. */
static void publish(struct wn_ap_plain *p)
{
    struct wn_ap_plain *w = p->group_head != NULL ? p->group_head : p; /* whose actors sleep */

    if (p->published == p->fill_seq)
        return;
    p->published = p->fill_seq;
    __atomic_store_n(&p->publish_seq, p->fill_seq, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&w->sleepers, __ATOMIC_SEQ_CST) > 0)
        wn_event_signal(&w->work_event);
    if (!__atomic_load_n(&p->grown, __ATOMIC_RELAXED))
        grow(p, 0);
}

static int help_member(struct wn_ap_plain *m);

/* Waits until the slot of fill_seq is free; NULL when the run stops.  A
 * group's thread pushing into a member whose window is full runs a batch
 * of that member meanwhile: the threads that would run it may all be
 * pushing too. */
static struct slot *acquire_fill_slot(struct wn_ap_plain *p)
{
    uint64_t seq = p->fill_seq;
    struct slot *s;
    unsigned round = 0;
    int driver = -1;

    /* release_seq is read only when the window looks full by its last
     * value: the producer does not pull the releasers' line once per batch
     * (once per task at batch_size 1). */
    while (seq >= p->release_seen + p->window &&
           seq >=
               (p->release_seen = __atomic_load_n(&p->release_seq, __ATOMIC_ACQUIRE)) + p->window) {
        /* The filled slots must be visible before waiting for their release. */
        publish(p);
        if (wn_ap_run_stopping(p->run))
            return NULL;
        if (p->group_head != NULL && group_self != NULL && group_self->p == p->group_head &&
            help_member(p)) {
            round = 0; /* ran one of the batches in the way */
            continue;
        }
        if (wn_wait_backoff(round++)) {
            uint32_t ev = __atomic_load_n(&p->space_event, __ATOMIC_SEQ_CST);

            if (driver < 0)
                driver = is_driver(p->run);
            __atomic_add_fetch(&p->space_waiters, 1, __ATOMIC_SEQ_CST);
            if (seq >= __atomic_load_n(&p->release_seq, __ATOMIC_SEQ_CST) + p->window &&
                !wn_ap_run_stopping(p->run))
                wn_futex_wait(&p->space_event, ev, driver ? 2000000ull : 0);
            __atomic_sub_fetch(&p->space_waiters, 1, __ATOMIC_SEQ_CST);
            if (driver)
                wn_ap_run_tick(p->run);
        }
    }
    s = slot_at(p, seq);
    s->seq = seq;
    s->n_in = 0;
    s->in_counted = 0;
    s->attempts = 0;
    s->avoid_actor = -1;
    p->filling = s;
    return s;
}

static int plain_push(struct wn_ap_target *t, struct wn_task *task)
{
    struct wn_ap_plain *p = (struct wn_ap_plain *)t;
    struct slot *s = p->filling;

    if (s == NULL) {
        s = acquire_fill_slot(p);
        if (s == NULL) {
            wn_task_free(task);
            return WN_ECANCELED;
        }
    }
    if (s->n_in == s->cap_in &&
        grow_array(&s->in, &s->cap_in, p->batch_size, p->keep_inputs, &s->orig) < 0) {
        wn_task_free(task);
        return wn_ap_stage_fail(p->stage, WN_ENOMEM,
                                "stage '%s': out of memory queueing a batch of %u tasks",
                                p->stage->name, p->batch_size);
    }
    s->in[s->n_in++] = task;
    s->in_counted = 0;
    COUNT_ADD(p->n_in, 1);
    if (s->n_in == p->batch_size) {
        p->filling = NULL;
        p->fill_seq++;
        if (p->fill_seq - p->published >= p->publish_every)
            publish(p);
    }
    return 0;
}

/* plain_push_many; items: the items of tasks[0..n), or -1 when not counted
 * (a slot filled by exactly these tasks then knows its items). */
static int push_many_counted(struct wn_ap_plain *p, struct wn_task **tasks, size_t n,
                             size_t *pushed, int64_t items)
{
    size_t done = 0;

    while (done < n) {
        struct slot *s = p->filling;
        size_t k;

        if (s == NULL && (s = acquire_fill_slot(p)) == NULL) {
            *pushed = done;
            return WN_ECANCELED;
        }
        k = s->n_in + (n - done) < p->batch_size ? s->n_in + (n - done) : p->batch_size;
        while (s->cap_in < k) { /* a filling slot is never full: n_in < batch_size */
            if (grow_array(&s->in, &s->cap_in, p->batch_size, p->keep_inputs, &s->orig) < 0) {
                *pushed = done;
                return wn_ap_stage_fail(p->stage, WN_ENOMEM,
                                        "stage '%s': out of memory queueing a batch of %u tasks",
                                        p->stage->name, p->batch_size);
            }
        }
        k = s->cap_in - s->n_in;
        if (k > n - done)
            k = n - done;
        memcpy(s->in + s->n_in, tasks + done, k * sizeof(*tasks));
        if (items >= 0 && s->n_in == 0 && k == n) { /* before it is published */
            s->in_items = (uint64_t)items;
            s->in_counted = 1;
        } else {
            s->in_counted = 0;
        }
        s->n_in += (uint32_t)k;
        done += k;
        COUNT_ADD(p->n_in, k);
        if (s->n_in == p->batch_size) {
            p->filling = NULL;
            p->fill_seq++;
            if (p->fill_seq - p->published >= p->publish_every)
                publish(p);
        }
    }
    *pushed = done;
    return 0;
}

static int plain_push_many(struct wn_ap_target *t, struct wn_task **tasks, size_t n, size_t *pushed)
{
    return push_many_counted((struct wn_ap_plain *)t, tasks, n, pushed, -1);
}

static void plain_flush(struct wn_ap_target *t)
{
    publish((struct wn_ap_plain *)t);
}

/* The stage has passed everything on: tells what follows, once. */
static void finish(struct wn_ap_plain *p)
{
    if (__atomic_exchange_n(&p->close_sent, 1, __ATOMIC_ACQ_REL))
        return;
    __atomic_store_n(&p->finished, 1, __ATOMIC_SEQ_CST);
    wn_event_signal(&p->work_event); /* idle actors end */
    if (p->group_head != NULL)
        wn_event_signal(&p->group_head->work_event);
    wn_futex_wake(&p->finished, INT32_MAX); /* wn_ap_plain_wait */
    __atomic_store_n(&p->stage->state, WN_AP_STAGE_DONE, __ATOMIC_RELAXED);
    p->down->close(p->down);
}

static void plain_close(struct wn_ap_target *t)
{
    struct wn_ap_plain *p = (struct wn_ap_plain *)t;

    if (p->filling != NULL) {
        if (p->filling->n_in > 0)
            p->fill_seq++; /* the last batch, short */
        p->filling = NULL;
    }
    publish(p);
    p->final_seq = p->fill_seq;
    __atomic_store_n(&p->closed, 1, __ATOMIC_SEQ_CST);
    wn_event_signal(&p->work_event);
    if (__atomic_load_n(&p->release_seq, __ATOMIC_SEQ_CST) == p->final_seq)
        finish(p);
}

void wn_ap_plain_wait(struct wn_ap_plain *p)
{
    int driver = is_driver(p->run);

    while (!__atomic_load_n(&p->finished, __ATOMIC_ACQUIRE) && !wn_ap_run_stopping(p->run)) {
        wn_futex_wait(&p->finished, 0, driver ? 20000000ull : 0);
        if (driver)
            wn_ap_run_tick(p->run);
    }
}

void wn_ap_plain_wake_all(struct wn_ap_plain *p)
{
    wn_futex_wake(&p->setups_done, INT32_MAX);
    wn_event_signal(&p->work_event);
    wn_event_signal(&p->space_event);
    wn_futex_wake(&p->finished, INT32_MAX);
    for (uint32_t i = 0; i < p->window; i++)
        if (__atomic_load_n(&p->slots[i].word, __ATOMIC_ACQUIRE) & SLOT_WAITER)
            wn_futex_wake(&p->slots[i].word, INT32_MAX);
}

void wn_ap_plain_counts(const struct wn_ap_plain *p, struct wn_ap_counts *c)
{
    if (__atomic_load_n(&p->settled, __ATOMIC_ACQUIRE))
        return;
    c->in += __atomic_load_n(&p->n_in, __ATOMIC_RELAXED);
    c->out += __atomic_load_n(&p->n_out, __ATOMIC_RELAXED);
    c->filtered += __atomic_load_n(&p->n_filtered, __ATOMIC_RELAXED);
    c->created += __atomic_load_n(&p->n_created, __ATOMIC_RELAXED);
    c->dropped += __atomic_load_n(&p->n_dropped, __ATOMIC_RELAXED);
}

void wn_ap_plain_settle(struct wn_ap_plain *p)
{
    if (p->settled)
        return;
    wn_ap_plain_counts(p, p->counts);
    for (size_t k = 0; k < p->n_chain; k++) {
        struct wn_ap_counts *c = &p->chain[k]->counts;

        chain_counts(p, k, c);
        if (k + 1 == p->n_chain) {
            /* The last fused stage's outputs never passed on were counted
             * out when it made them. */
            c->out -= p->chain_dropped;
            c->dropped += p->chain_dropped;
        }
    }
    __atomic_store_n(&p->settled, 1, __ATOMIC_RELEASE);
}

/* ---- passing outputs on, in batch order ------------------------------------------------- */

/* Pushes s's buffered outputs downstream.  Negative: the run stops (the
 * outputs not pushed stay in the slot for the drain). */
static int push_outputs(struct wn_ap_plain *p, struct slot *s)
{
    struct wn_ap_target *down = p->down;
    size_t pushed = 0;
    int rc = 0;

    if (s->n_out > 0 && s->out_counted && down->push_many == plain_push_many)
        rc = push_many_counted((struct wn_ap_plain *)down, s->out, s->n_out, &pushed,
                               (int64_t)s->out_items);
    else if (s->n_out > 0)
        rc = down->push_many(down, s->out, s->n_out, &pushed);
    s->out_counted = 0;
    s->n_pushed += pushed;
    if (p->n_chain == 0)
        COUNT_ADD(p->n_out, pushed); /* fused: the head's outputs are counted when settled */
    if (pushed < s->n_out)           /* keep what was not pushed at the front, for the drain */
        memmove(s->out, s->out + pushed, (s->n_out - pushed) * sizeof(*s->out));
    s->n_out -= pushed;
    return rc;
}

/* Frees the slots below next for the producer. */
static void advance_release(struct wn_ap_plain *p, uint64_t next)
{
    __atomic_store_n(&p->release_seq, next, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p->space_waiters, __ATOMIC_SEQ_CST) > 0)
        wn_event_signal(&p->space_event);
}

/* The head: passes s on, then the batches after it that are done already;
 * hands the head on to the first batch that is not. */
static void release_chain(struct wn_ap_plain *p, struct slot *s)
{
    uint64_t released = 0;

    for (;;) {
        uint64_t next, consumed;
        struct slot *ns;
        uint32_t prev;

        if (push_outputs(p, s) < 0) {
            p->down->flush(p->down); /* still the head: the run stops */
            return;
        }
        /* Settle the batch: its inputs were passed on, filtered or skipped.
         * (Unfused, what the stage emitted is what was pushed.) */
        consumed = s->n_in - s->n_skipped;
        if (s->n_emitted >= consumed)
            COUNT_ADD(p->n_created, s->n_emitted - consumed);
        else
            COUNT_ADD(p->n_filtered, consumed - s->n_emitted);
        if (p->n_chain > 0)
            COUNT_ADD(p->n_out, s->n_emitted);
        s->n_in = 0;
        s->n_pushed = 0;
        s->n_emitted = 0;
        s->chained = 0;
        s->n_skipped = 0;
        s->attempts = 0;
        s->avoid_actor = -1;
        next = s->seq + 1;
        __atomic_store_n(&s->word, 0, __ATOMIC_RELAXED);
        /* release_seq reaches final_seq only after the last flush: a
         * plain_close that sees it there finishes the stage (closes what
         * follows) on its own thread, so this one must be done with down. */
        if (__atomic_load_n(&p->closed, __ATOMIC_SEQ_CST) && next == p->final_seq) {
            p->down->flush(p->down);
            advance_release(p, next);
            finish(p);
            return;
        }
        ns = slot_at(p, next);
        if (__atomic_load_n(&ns->word, __ATOMIC_ACQUIRE) & SLOT_DONE) {
            /* Its actor finished it before we were the head, and left it.
             * Batch next exists, so next < final_seq: a long chain may let
             * the producer go on without letting a close finish early. */
            if (++released % RELEASE_EVERY == 0)
                advance_release(p, next);
            s = ns;
            continue;
        }
        /* The head moves on: what it pushed is published first (the next
         * head pushes into the same stage), release_seq next, so that it
         * never goes back. */
        p->down->flush(p->down);
        advance_release(p, next);
        /*
         * plain_close may have run between the check above and that store:
         * it stores closed, then reads release_seq; we store release_seq,
         * then read closed (both seq_cst), so at least one of us sees the
         * other and finishes the stage (finish is idempotent).  Without this
         * second look both could miss, and the stage never finished.
         */
        if (__atomic_load_n(&p->closed, __ATOMIC_SEQ_CST) && next == p->final_seq) {
            finish(p);
            return;
        }
        prev = __atomic_fetch_or(&ns->word, SLOT_HEAD, __ATOMIC_ACQ_REL);
        if (prev & SLOT_DONE) {
            s = ns;
            continue;
        }
        if (prev & SLOT_WAITER)
            wn_futex_wake(&ns->word, INT32_MAX);
        return; /* no longer the head: touch nothing downstream */
    }
}

/* The batch in s ended (passed or skipped): hand it to the ordered release. */
static void complete(struct wn_ap_plain *p, struct slot *s)
{
    uint32_t prev = __atomic_fetch_or(&s->word, SLOT_DONE, __ATOMIC_ACQ_REL);

    if (prev & SLOT_HEAD)
        release_chain(p, s);
}

/* ---- fused stages on the actor's thread ------------------------------------------------ */

static int link_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct link *l = (struct link *)self;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct wn_task **buf = realloc(l->buf, cap * sizeof(*buf));

        if (buf == NULL) {
            wn_task_free(task);
            l->emit_failed = 1;
            return WN_ENOMEM;
        }
        l->buf = buf;
        l->cap = cap;
    }
    l->buf[l->n++] = task;
    return 0;
}

/* Creates and sets up fused stage k's instance on this thread, when its
 * first task reaches this actor (a stage that receives nothing starts no
 * actor, fused or not).  Negative when it failed (the run failed). */
static int link_start(struct plain_actor *pa, struct link *l, size_t k)
{
    struct wn_ap_plain *p = pa->p;
    const struct wn_stage_ops *ops;
    struct wn_error err;
    struct wn_worker worker;
    uint64_t t0, t1;
    char buf[96];
    int rc = 0;

    l->stage = p->chain[k];
    ops = l->stage->ops;
    wn_error_clear(&err);
    rc = wn_ap_actor_attach(l->stage, pa->a, &l->a, &err);
    if (rc < 0)
        return wn_ap_stage_fail(l->stage, rc, "%s", err.message);
    wn_ap_emitter_init(&l->em, l->a, link_emit);
    t0 = wn_ap_run_clock(p->run);
    if (ops->create != NULL)
        rc = ops->create(l->stage->config->params, &l->state, &err);
    if (rc < 0)
        return wn_ap_stage_fail(l->stage, rc, "stage '%s' actor %u/%u failed in create: %s",
                                l->stage->name, l->a->index, wn_ap_stage_pool_now(l->stage),
                                wn_ap_hook_message(&err, rc, buf, sizeof(buf)));
    l->created = 1;
    wn_ap_actor_worker(l->a, l->stage->pool_size, &worker);
    if (ops->setup != NULL)
        rc = ops->setup(l->state, &worker, &err);
    t1 = wn_ap_run_clock(p->run);
    l->a->setup_ns = t1 - t0;
    wn_ap_actor_trace(l->a, "setup", t0, t1);
    if (rc < 0)
        return wn_ap_stage_fail(l->stage, rc, "stage '%s' actor %u/%u failed in setup: %s",
                                l->stage->name, l->a->index, wn_ap_stage_pool_now(l->stage),
                                wn_ap_hook_message(&err, rc, buf, sizeof(buf)));
    return 0;
}

/* Frees every task of list[from..n). */
static void free_list(struct wn_task **list, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++) {
        wn_task_free(list[i]);
        list[i] = NULL;
    }
}

/*
 * Runs the outputs in s->out through the fused stages, each task a batch of
 * its own (their batch_size is 1, so the batches are the ones they would
 * get unfused), on this thread; leaves the last stage's outputs in s->out,
 * in order.  A failure fails the run (fused stages have on_error "fail")
 * and frees every task involved.
 */
static int chain_apply(struct plain_actor *pa, struct slot *s, uint64_t *clock)
{
    uint64_t t = *clock;
    struct wn_ap_plain *p = pa->p;
    struct wn_task **cur = s->out;
    size_t n_cur = s->n_out;

    for (size_t k = 0; k < p->n_chain; k++) {
        struct link *l = &pa->links[k];
        const struct wn_stage_ops *ops;

        if (n_cur > 0 && l->a == NULL && link_start(pa, l, k) < 0) {
            free_list(cur, 0, n_cur);
            s->n_out = 0;
            return WN_ECANCELED;
        }
        ops = p->chain[k]->ops;
        l->n = 0;
        for (size_t i = 0; i < n_cur; i++) {
            struct wn_task *in[1] = { cur[i] };
            struct wn_error err;
            uint64_t items = wn_task_num_items(in[0]), items_out = 0, end;
            size_t before = l->n, m;
            struct wn_task *orig = in[0];
            char note[WN_AP_TASK_NOTE];
            char buf[96];
            int rc;

            if (p->need_note)
                note_copy(note, wn_task_id(orig));
            else
                note[0] = '\0';
            cur[i] = NULL;
            err.code = 0;
            err.message[0] = '\0';
            l->emit_failed = 0;
            rc = ops->process_batch(l->state, in, 1, &l->em.emitter, &err);
            end = wn_ap_run_clock(p->run);
            if (rc >= 0 && l->emit_failed)
                rc = wn_error_set(&err, WN_ENOMEM, "out of memory collecting the outputs");
            m = l->n - before;
            if (rc < 0) {
                /* The task's id: noted, or where the stage left the task. */
                if (note[0] == '\0' && in[0] != NULL)
                    note_copy(note, wn_task_id(in[0]));
                for (size_t j = before; note[0] == '\0' && j < l->n; j++)
                    if (l->buf[j] == orig)
                        note_copy(note, wn_task_id(orig));
                wn_ap_stage_fail(l->stage, rc, "stage '%s' actor %u/%u failed on task %s: %s",
                                 l->stage->name, l->a->index, wn_ap_stage_pool_now(l->stage),
                                 note[0] != '\0' ? note : "(consumed by the stage)",
                                 wn_ap_hook_message(&err, rc, buf, sizeof(buf)));
                wn_task_free(in[0]);
                free_list(cur, i + 1, n_cur);
                free_list(l->buf, 0, l->n);
                l->n = 0;
                wn_ap_actor_batch_done(l->a, t, end, 0, note, 1, (uint32_t)m, items, 0, 1, 0);
                s->n_out = 0;
                return rc;
            }
            wn_task_free(in[0]); /* what the stage left in place */
            if (wn_task_perf_add_many(l->buf + before, m, p->chain_perf_names[k],
                                      (double)(end - t) * 1e-9, 0.0, items, &items_out) < m)
                rc = WN_ENOMEM;
            wn_ap_actor_batch_done(l->a, t, end, 0, note, 1, (uint32_t)m, items, items_out, 1,
                                   rc >= 0);
            COUNT_ADD(l->counts.in, 1);
            COUNT_ADD(l->counts.out, m);
            if (m == 0)
                COUNT_ADD(l->counts.filtered, 1);
            else if (m > 1)
                COUNT_ADD(l->counts.created, m - 1);
            t = end;
            if (rc < 0) {
                wn_ap_stage_fail(l->stage, rc,
                                 "stage '%s' actor %u/%u: out of memory adding "
                                 "perf records",
                                 l->stage->name, l->a->index, wn_ap_stage_pool_now(l->stage));
                free_list(cur, i + 1, n_cur);
                free_list(l->buf, 0, l->n);
                l->n = 0;
                s->n_out = 0;
                return rc;
            }
        }
        cur = l->buf;
        n_cur = l->n;
    }
    *clock = t;
    /* The last fused stage's outputs become the slot's. */
    if (n_cur > s->cap_out) {
        struct wn_task **out = realloc(s->out, n_cur * sizeof(*out));

        if (out == NULL) {
            free_list(cur, 0, n_cur);
            pa->links[p->n_chain - 1].n = 0;
            s->n_out = 0;
            return wn_ap_stage_fail(p->stage, WN_ENOMEM, "stage '%s': out of memory",
                                    p->stage->name);
        }
        s->out = out;
        s->cap_out = n_cur;
    }
    if (n_cur > 0)
        memcpy(s->out, cur, n_cur * sizeof(*cur));
    s->n_out = n_cur;
    s->chained = 1;
    pa->links[p->n_chain - 1].n = 0;
    return 0;
}

/* Tears down and destroys the fused stages' instances, last first. */
static void links_stop(struct plain_actor *pa)
{
    struct wn_ap_plain *p = pa->p;

    for (size_t k = p->n_chain; pa->links != NULL && k-- > 0;) {
        struct link *l = &pa->links[k];

        if (l->created) {
            if (l->stage->ops->teardown != NULL)
                l->stage->ops->teardown(l->state);
            if (l->stage->ops->destroy != NULL)
                l->stage->ops->destroy(l->state);
            l->created = 0;
        }
        if (l->a != NULL) {
            __atomic_store_n(&l->a->exited, 1, __ATOMIC_RELEASE);
            if (l->a->events != NULL)
                wn_ap_trace_flush_actor(p->run, l->a);
        }
    }
}

/* ---- the actor's side ------------------------------------------------------------------ */

/* While an actor waits on the executor inside process_batch, the hook's
 * clock stops: timeout_s measures the stage, not the stages after it. */
static int pause_hook(struct plain_actor *pa)
{
    if (!pa->in_hook)
        return 0;
    pa->in_hook = 0;
    if (wn_ap_actor_hook_end(pa->a)) {
        pa->abandoned_in_emit = 1;
        return WN_ECANCELED;
    }
    return 0;
}

static void resume_hook(struct plain_actor *pa, struct slot *s)
{
    wn_ap_actor_hook_begin(pa->a, "process_batch", pa->note, s->n_in);
    pa->in_hook = 1;
}

/* A running batch with many outputs: once it is the head, passes them on. */
static int flush_early(struct plain_actor *pa, struct slot *s)
{
    struct wn_ap_plain *p = pa->p;
    uint32_t w = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
    uint64_t now;
    int watched = pa->in_hook, rc;

    if ((rc = pause_hook(pa)) < 0)
        return rc;
    while (!(w & SLOT_HEAD)) {
        if (wn_ap_run_stopping(p->run))
            return WN_ECANCELED;
        w = __atomic_fetch_or(&s->word, SLOT_WAITER, __ATOMIC_ACQ_REL) | SLOT_WAITER;
        if (w & SLOT_HEAD)
            break;
        wn_futex_wait(&s->word, w, 0);
        w = __atomic_load_n(&s->word, __ATOMIC_ACQUIRE);
    }
    now = wn_ap_run_clock(p->run);
    if (wn_task_perf_add_many(s->out, s->n_out, p->perf_name,
                              (double)(now - pa->batch_start) * 1e-9, (double)pa->batch_idle * 1e-9,
                              pa->batch_items, &pa->items_pushed) < s->n_out)
        return WN_ENOMEM;
    if (p->n_chain > 0 && (rc = chain_apply(pa, s, &now)) < 0)
        return rc;
    rc = push_outputs(p, s);
    p->down->flush(p->down); /* the head, while its batch runs */
    s->chained = 0;
    if (rc < 0)
        return rc;
    if (watched)
        resume_hook(pa, s);
    return 0;
}

static int plain_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct plain_actor *pa = (struct plain_actor *)self;
    struct slot *s = pa->cur;

    if (s == NULL) { /* wn_emit outside process_batch */
        wn_task_free(task);
        return WN_EINVAL;
    }
    if (s->n_out == s->cap_out) {
        size_t cap = s->cap_out ? s->cap_out * 2 : 16;
        struct wn_task **out = realloc(s->out, cap * sizeof(*out));

        if (out == NULL) {
            wn_task_free(task);
            pa->emit_failed = 1;
            return WN_ENOMEM;
        }
        s->out = out;
        s->cap_out = cap;
    }
    s->out[s->n_out++] = task;
    s->n_emitted++;
    if (s->n_out >= pa->p->flush_threshold && !pa->p->keep_inputs)
        return flush_early(pa, s);
    return 0;
}

/* Takes the first queued retry this actor may run; NULL if none. */
static struct slot *take_retry(struct wn_ap_plain *p, struct plain_actor *pa)
{
    struct slot *s = NULL;
    int alone = __atomic_load_n(&p->stage->n_actors, __ATOMIC_ACQUIRE) <= 1;

    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->n_retry_queued; i++) {
        struct slot *c = slot_at(p, p->retry[i]);

        if (alone || c->avoid_actor != (int)pa->a->index) {
            s = c;
            memmove(p->retry + i, p->retry + i + 1,
                    (p->n_retry_queued - i - 1) * sizeof(*p->retry));
            p->n_retry_queued--;
            __atomic_store_n(&p->n_retry, (uint32_t)p->n_retry_queued, __ATOMIC_SEQ_CST);
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return s;
}

static int has_work(struct wn_ap_plain *p)
{
    for (size_t k = 1; k < p->n_members; k++)
        if (__atomic_load_n(&p->members[k]->take_seq, __ATOMIC_SEQ_CST) <
            __atomic_load_n(&p->members[k]->publish_seq, __ATOMIC_SEQ_CST))
            return 1;
    return __atomic_load_n(&p->take_seq, __ATOMIC_SEQ_CST) <
               __atomic_load_n(&p->publish_seq, __ATOMIC_SEQ_CST) ||
           __atomic_load_n(&p->n_retry, __ATOMIC_SEQ_CST) > 0;
}

/* Every engine of p's group (p alone when it has none) is finished. */
static int group_finished(const struct wn_ap_plain *p)
{
    for (size_t k = 1; k < p->n_members; k++)
        if (!__atomic_load_n(&p->members[k]->finished, __ATOMIC_ACQUIRE))
            return 0;
    return __atomic_load_n(&p->finished, __ATOMIC_ACQUIRE);
}

/* Takes the next published batch of m, one at a time; NULL if none. */
static struct slot *take_one(struct wn_ap_plain *m)
{
    uint64_t t = __atomic_load_n(&m->take_seq, __ATOMIC_ACQUIRE);

    while (t < __atomic_load_n(&m->publish_seq, __ATOMIC_ACQUIRE)) {
        if (__atomic_compare_exchange_n(&m->take_seq, &t, t + 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return slot_at(m, t);
    }
    return NULL;
}

/* The next batch for pa, waiting for one; NULL when the stage (the group)
 * is finished or the run stops.  *who: the actor that runs it (pa, or
 * pa's actor of a member of its group, which comes first: downstream
 * batches free the windows upstream ones wait on).  *waited: it had to
 * wait.  When many batches are queued, an actor takes a few at once (one
 * CAS), and runs them in order. */
static int member_start(struct plain_actor *pa);

static struct slot *next_batch(struct plain_actor *pa, int *waited, struct plain_actor **who)
{
    struct wn_ap_plain *p = pa->p;
    struct slot *s = NULL;
    unsigned round = 0;
    int idle = 0;
    *waited = 0;
    *who = pa;
    for (;;) {
        uint64_t t, pub, k;

        if (wn_ap_run_stopping(p->run))
            break;
        /* A member's pool starts whole, as an explicit pool does: every
         * thread sets up its instance once the member has a batch (the
         * publish woke it), before it can end. */
        for (size_t m = 1; m < p->n_members; m++)
            if (pa->group[m]->a == NULL &&
                __atomic_load_n(&p->members[m]->publish_seq, __ATOMIC_ACQUIRE) > 0)
                member_start(pa->group[m]);
        if (__atomic_load_n(&p->n_retry, __ATOMIC_ACQUIRE) > 0 && (s = take_retry(p, pa)) != NULL)
            break;
        if (pa->claim_next < pa->claim_end) {
            s = slot_at(p, pa->claim_next++);
            break;
        }
        for (size_t m = p->n_members; s == NULL && m-- > 1;)
            if ((s = take_one(p->members[m])) != NULL)
                *who = pa->group[m];
        if (s != NULL)
            break;
        t = __atomic_load_n(&p->take_seq, __ATOMIC_ACQUIRE);
        pub = __atomic_load_n(&p->publish_seq, __ATOMIC_ACQUIRE);
        if (t < pub) {
            k = wn_batching_claim(pub - t, __atomic_load_n(&p->stage->n_actors, __ATOMIC_RELAXED),
                                  p->batch_size, pa->last_batch_ns);
            if (__atomic_compare_exchange_n(&p->take_seq, &t, t + k, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                s = slot_at(p, t);
                pa->claim_next = t + 1;
                pa->claim_end = t + k;
                break;
            }
            continue;
        }
        if (group_finished(p))
            break;
        if (!idle) {
            __atomic_add_fetch(&p->idle, 1, __ATOMIC_SEQ_CST);
            idle = 1;
        }
        *waited = 1;
        if (wn_wait_backoff(round++)) {
            uint32_t ev = __atomic_load_n(&p->work_event, __ATOMIC_SEQ_CST);

            __atomic_add_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
            if (!has_work(p) && !group_finished(p) && !wn_ap_run_stopping(p->run))
                wn_futex_wait(&p->work_event, ev, 0);
            __atomic_sub_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
        }
    }
    if (idle)
        __atomic_sub_fetch(&p->idle, 1, __ATOMIC_SEQ_CST);
    return s;
}

/* Gives the stage's own outputs of a failed attempt back: inputs the stage
 * took and emitted return to their slot; the rest is freed.  Returns the
 * inputs that could not be found (consumed by the failed attempt). */
static uint32_t recover_inputs(struct slot *s)
{
    uint32_t lost = 0;

    for (uint32_t i = 0; i < s->n_in; i++) {
        if (s->in[i] != NULL)
            continue;
        for (size_t j = 0; j < s->n_out; j++) {
            if (s->out[j] == s->orig[i]) {
                s->in[i] = s->orig[i];
                s->out[j] = NULL;
                break;
            }
        }
        if (s->in[i] == NULL)
            lost++;
    }
    for (size_t j = 0; j < s->n_out; j++)
        wn_task_free(s->out[j]);
    s->n_out = 0;
    s->n_emitted = 0;
    return lost;
}

/* The id of the batch's first input, for a message: noted before the call
 * when a trace or a timeout needs it, else found now where the stage left
 * it (in place, or emitted). */
static const char *first_id(struct plain_actor *pa, const struct slot *s)
{
    const char *id = NULL;

    if (pa->note[0] != '\0')
        return pa->note;
    if (s->in[0] == pa->first && pa->first != NULL)
        id = wn_task_id(pa->first);
    for (size_t j = 0; id == NULL && j < s->n_out; j++)
        if (s->out[j] == pa->first)
            id = wn_task_id(pa->first);
    note_copy(pa->note, id != NULL ? id : "(consumed by the stage)");
    return pa->note;
}

static void fail_batch(struct plain_actor *pa, struct slot *s, int rc, const char *message,
                       const char *suffix)
{
    struct wn_ap_stage *stage = pa->p->stage;

    if (rc == WN_ECANCELED && wn_ap_run_stopping(pa->p->run))
        return; /* the run stopped under it: not a failure of its own */
    if (s->n_in > 1)
        wn_ap_stage_fail(stage, rc, "stage '%s' actor %u/%u failed on task %s (and %u more)%s: %s",
                         stage->name, pa->a->index, wn_ap_stage_pool_now(stage), pa->note,
                         s->n_in - 1, suffix, message);
    else
        wn_ap_stage_fail(stage, rc, "stage '%s' actor %u/%u failed on task %s%s: %s", stage->name,
                         pa->a->index, wn_ap_stage_pool_now(stage), pa->note, suffix, message);
}

/* A failed attempt of a retry / skip stage: retry, skip, or fail the run. */
static void handle_failure(struct plain_actor *pa, struct slot *s, int rc, const char *message)
{
    struct wn_ap_plain *p = pa->p;
    struct wn_ap_stage *stage = p->stage;
    char suffix[96];
    uint32_t lost;

    first_id(pa, s);
    if (p->keep_inputs && wn_ap_run_stopping(p->run))
        return; /* not retried, not skipped: the run stopped (the drain frees it) */
    if (!p->keep_inputs || s->n_pushed > 0) {
        fail_batch(pa, s, rc, message, "");
        return;
    }
    lost = recover_inputs(s);
    if (lost > 0) {
        snprintf(suffix, sizeof(suffix), " and consumed %u of its %u inputs, so it cannot be %s",
                 lost, s->n_in, stage->on_error == WN_ON_ERROR_SKIP ? "skipped" : "retried");
        fail_batch(pa, s, rc, message, suffix);
        return;
    }
    s->attempts++;
    if (s->attempts <= stage->max_retries) {
        wn_log(WN_LOG_INFO, WN_AP_LOG_DOMAIN,
               "stage '%s' actor %u/%u failed on task %s (attempt %u of %u), retrying: %s",
               stage->name, pa->a->index, wn_ap_stage_pool_now(stage), pa->note, s->attempts,
               stage->max_retries + 1, message);
        __atomic_add_fetch(&stage->counts.retries, 1, __ATOMIC_RELAXED);
        pa->a->retries++;
        s->avoid_actor = (int)pa->a->index;
        pthread_mutex_lock(&p->lock);
        if (p->n_retry_queued == p->cap_retry) {
            size_t cap = p->cap_retry ? p->cap_retry * 2 : 8;
            uint64_t *q = realloc(p->retry, cap * sizeof(*q));

            if (q == NULL) {
                pthread_mutex_unlock(&p->lock);
                fail_batch(pa, s, WN_ENOMEM, "out of memory queueing a retry", "");
                return;
            }
            p->retry = q;
            p->cap_retry = cap;
        }
        p->retry[p->n_retry_queued++] = s->seq;
        __atomic_store_n(&p->n_retry, (uint32_t)p->n_retry_queued, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&p->lock);
        wn_event_signal(&p->work_event);
        grow(p, 1);
        return;
    }
    if (stage->on_error == WN_ON_ERROR_RETRY) {
        snprintf(suffix, sizeof(suffix), " after %u attempts", s->attempts);
        fail_batch(pa, s, rc, message, suffix);
        return;
    }
    /* skip: every input goes to the failure manifest. */
    for (uint32_t i = 0; i < s->n_in; i++) {
        wn_ap_stage_skip(stage, s->in[i], message, (int)pa->a->index, s->attempts);
        s->in[i] = NULL;
    }
    s->n_skipped = s->n_in;
    complete(p, s);
}

enum { STRAIGHT = 0, WAITED = 1, NESTED = 2 };

/* Runs the batch in s; negative when the actor was abandoned (it must stop).
 * waited: STRAIGHT from the thread's last batch, after a WAIT (idle time),
 * or NESTED in another batch's hand-over (a group's thread helping). */
static int run_batch(struct plain_actor *pa, struct slot *s, int waited)
{
    struct wn_ap_plain *p = pa->p;
    struct wn_ap_stage *stage = p->stage;
    struct wn_error hook_err; /* only its head is cleared: 1 KiB per batch is too dear */
    uint32_t n = s->n_in;
    uint64_t items = 0, items_out = 0, end;
    char buf[96];
    int rc, abandoned;

    if (p->keep_inputs)
        memcpy(s->orig, s->in, n * sizeof(*s->in));
    /* The tasks were last written on another core: libwinnow keeps a few
     * misses in flight ahead of the reads, one call per batch. */
    items = s->in_counted && s->attempts == 0 ? s->in_items : wn_task_num_items_sum(s->in, n);
    pa->first = s->in[0];
    if (p->need_note)
        note_copy(pa->note, wn_task_id(pa->first));
    else
        pa->note[0] = '\0';
    if (waited != STRAIGHT) {
        pa->batch_start = wn_ap_run_clock(p->run);
        pa->batch_idle = waited == WAITED ? pa->batch_start - pa->host->t_last : 0;
    } else {
        /* Straight from the thread's last batch: one clock reading per batch. */
        pa->batch_start = pa->host->t_last;
        pa->batch_idle = 0;
    }
    pa->batch_items = items;
    pa->items_pushed = 0;
    pa->emit_failed = 0;
    pa->abandoned_in_emit = 0;
    pa->cur = s;
    hook_err.code = 0;
    hook_err.message[0] = '\0';
    if (stage->timeout_ns > 0)
        resume_hook(pa, s);
    rc = stage->ops->process_batch(pa->state, s->in, n, &pa->em.emitter, &hook_err);
    abandoned = pa->in_hook ? wn_ap_actor_hook_end(pa->a) : pa->abandoned_in_emit;
    pa->in_hook = 0;
    if (abandoned) {
        /* The driver gave up on this call, and its drain left this batch to
         * us (pa->cur stays set: it is how the drain knows). */
        for (uint32_t i = 0; i < n; i++)
            wn_task_free(s->in[i]);
        for (size_t j = 0; j < s->n_out; j++)
            wn_task_free(s->out[j]);
        return -1;
    }
    pa->cur = NULL;
    end = wn_ap_run_clock(p->run);
    pa->host->t_last = end;
    pa->last_batch_ns = end - pa->batch_start;
    if (rc >= 0 && pa->emit_failed)
        rc = wn_error_set(&hook_err, WN_ENOMEM, "out of memory collecting the batch's outputs");
    if (rc >= 0) {
        for (uint32_t i = 0; i < n; i++) {
            if (s->in[i] != NULL) { /* the executor frees what the stage left */
                wn_task_free(s->in[i]);
                s->in[i] = NULL;
            }
        }
        /* One record per output, and their items: one call per batch. */
        size_t done = wn_task_perf_add_many(
            s->out, s->n_out, p->perf_name, (double)(end - pa->batch_start) * 1e-9,
            (double)pa->batch_idle * 1e-9, pa->batch_items, &items_out);

        if (done < s->n_out)
            rc = wn_error_set(&hook_err, WN_ENOMEM, "out of memory adding the perf record of %s",
                              wn_task_id(s->out[done]));
    }
    wn_ap_actor_batch_done(pa->a, pa->batch_start, end, pa->batch_idle, pa->note, n,
                           (uint32_t)s->n_emitted, items, items_out + pa->items_pushed,
                           s->attempts + 1, rc >= 0);
    if (rc >= 0 && p->n_chain > 0) {
        if (chain_apply(pa, s, &end) < 0)
            return 0; /* the run failed; the drain counts the batch */
        pa->host->t_last = end;
        pa->last_batch_ns = end - pa->batch_start; /* with the fused stages' time */
    } else if (rc >= 0) {
        s->out_items = items_out; /* what is left in out[] (early pushes were counted apart) */
        s->out_counted = 1;
    }
    if (rc >= 0)
        complete(p, s);
    else
        handle_failure(pa, s, rc, wn_ap_hook_message(&hook_err, rc, buf, sizeof(buf)));
    return 0;
}

/* Creates and sets up the instance of a group member's stage on this
 * thread, when its first batch comes here (as a fused stage's, link_start).
 * Negative when it failed (the run failed). */
static int member_start(struct plain_actor *pa)
{
    struct wn_ap_plain *p = pa->p;
    struct wn_ap_stage *stage = p->stage;
    const struct wn_stage_ops *ops = stage->ops;
    struct wn_error err;
    struct wn_worker worker;
    uint64_t t0, t1;
    char buf[96];
    int rc = 0;

    if (pa->a != NULL)
        return pa->created == 1 ? 0 : WN_ECANCELED;
    wn_error_clear(&err);
    rc = wn_ap_actor_attach(stage, pa->host->a, &pa->a, &err);
    if (rc < 0)
        return wn_ap_stage_fail(stage, rc, "%s", err.message);
    wn_ap_emitter_init(&pa->em, pa->a, plain_emit);
    t0 = wn_ap_run_clock(p->run);
    if (ops->create != NULL)
        rc = ops->create(stage->config->params, &pa->state, &err);
    if (rc < 0)
        return wn_ap_stage_fail(stage, rc, "stage '%s' actor %u/%u failed in create: %s",
                                stage->name, pa->a->index, wn_ap_stage_pool_now(stage),
                                wn_ap_hook_message(&err, rc, buf, sizeof(buf)));
    pa->created = 1;
    wn_ap_actor_worker(pa->a, stage->pool_size, &worker);
    if (ops->setup != NULL)
        rc = ops->setup(pa->state, &worker, &err);
    t1 = wn_ap_run_clock(p->run);
    pa->a->setup_ns = t1 - t0;
    wn_ap_actor_trace(pa->a, "setup", t0, t1);
    pa->host->t_last = t1;
    if (rc < 0) {
        wn_ap_stage_fail(stage, rc, "stage '%s' actor %u/%u failed in setup: %s", stage->name,
                         pa->a->index, wn_ap_stage_pool_now(stage),
                         wn_ap_hook_message(&err, rc, buf, sizeof(buf)));
        pa->created = 2; /* torn down, but runs no batch */
        return rc;
    }
    return 0;
}

/* Tears down and destroys the group members' instances on this thread,
 * last member first. */
static void members_stop(struct plain_actor *pa)
{
    for (size_t k = pa->p->n_members; pa->group != NULL && k-- > 1;) {
        struct plain_actor *m = pa->group[k];
        const struct wn_stage_ops *ops = m->p->stage->ops;

        links_stop(m);
        if (m->created) {
            uint64_t t0 = wn_ap_run_clock(m->p->run);

            if (ops->teardown != NULL)
                ops->teardown(m->state);
            if (ops->destroy != NULL)
                ops->destroy(m->state);
            m->created = 0;
            m->state = NULL;
            wn_ap_actor_trace(m->a, "teardown", t0, wn_ap_run_clock(m->p->run));
        }
        if (m->a != NULL) {
            __atomic_store_n(&m->a->exited, 1, __ATOMIC_RELEASE);
            if (m->a->events != NULL)
                wn_ap_trace_flush_actor(m->p->run, m->a);
        }
    }
}

/* Runs one published batch of member m on this group thread, if there is
 * one (see acquire_fill_slot); nonzero when it ran one. */
static int help_member(struct wn_ap_plain *m)
{
    struct plain_actor *pa = group_self->group[m->member];
    struct slot *s = take_one(m);

    if (s == NULL)
        return 0;
    if (member_start(pa) == 0)
        run_batch(pa, s, NESTED);
    return 1; /* a failed start failed the run: the drain frees the batch */
}

/* An actor of the stage: create, setup, batches until the stage is
 * finished or the run stops, teardown, destroy. */
static void plain_body(struct wn_ap_actor *a, void *arg)
{
    struct plain_actor *pa = arg;
    struct wn_ap_plain *p = pa->p;
    struct wn_ap_stage *stage = p->stage;
    const struct wn_stage_ops *ops = stage->ops;
    struct wn_error hook_err = WN_ERROR_INIT;
    struct wn_worker worker;
    uint64_t t0;
    char buf[96];
    int rc = 0, created = 0, ready = 0;

    pa->a = a;
    wn_ap_emitter_init(&pa->em, a, plain_emit);
    t0 = wn_ap_run_clock(p->run);
    if (ops->create != NULL) {
        wn_ap_actor_hook_begin(a, "create", NULL, 0);
        rc = ops->create(stage->config->params, &pa->state, &hook_err);
        if (wn_ap_actor_hook_end(a)) {
            created = rc >= 0;
            goto out_teardown;
        }
    }
    if (rc < 0) {
        wn_ap_stage_fail(stage, rc, "stage '%s' actor %u/%u failed in create: %s", stage->name,
                         a->index, wn_ap_stage_pool_now(stage),
                         wn_ap_hook_message(&hook_err, rc, buf, sizeof(buf)));
        return;
    }
    created = 1;
    wn_ap_actor_worker(a, stage->pool_size, &worker);
    if (ops->setup != NULL) {
        wn_ap_actor_hook_begin(a, "setup", NULL, 0);
        rc = ops->setup(pa->state, &worker, &hook_err);
        if (wn_ap_actor_hook_end(a))
            goto out_teardown;
    }
    pa->t_last = wn_ap_run_clock(p->run);
    a->setup_ns = pa->t_last - t0;
    wn_ap_actor_trace(a, "setup", t0, pa->t_last);
    if (rc < 0)
        wn_ap_stage_fail(stage, rc, "stage '%s' actor %u/%u failed in setup: %s", stage->name,
                         a->index, wn_ap_stage_pool_now(stage),
                         wn_ap_hook_message(&hook_err, rc, buf, sizeof(buf)));
    else
        ready = 1;
    if (ready && p->start_all > 0) {
        /* A pool started together (explicit or sized for its input) begins
         * once every actor is set up, as the seed does: a failing setup
         * then fails the stage before any batch ran. */
        uint32_t done = __atomic_add_fetch(&p->setups_done, 1, __ATOMIC_SEQ_CST);

        wn_futex_wake(&p->setups_done, INT32_MAX);
        while (done < __atomic_load_n(&p->start_target, __ATOMIC_SEQ_CST) &&
               !wn_ap_run_stopping(p->run)) {
            wn_futex_wait(&p->setups_done, done, 0);
            done = __atomic_load_n(&p->setups_done, __ATOMIC_SEQ_CST);
        }
        pa->t_last = wn_ap_run_clock(p->run);
    }

    if (p->n_members > 1)
        group_self = pa;
    while (ready) {
        int waited;
        struct plain_actor *who;
        struct slot *s = next_batch(pa, &waited, &who);

        if (s == NULL)
            break;
        if (who != pa && member_start(who) < 0)
            continue; /* the run failed: the drain frees the batch */
        if (run_batch(who, s, waited ? WAITED : STRAIGHT) < 0)
            goto out_teardown; /* abandoned */
    }
    group_self = NULL;
    if (ready)
        __atomic_store_n(&a->idle_ns, a->idle_ns + (wn_ap_run_clock(p->run) - pa->t_last),
                         __ATOMIC_RELAXED);

out_teardown:
    group_self = NULL;
    members_stop(pa);
    links_stop(pa);
    /* Every created actor is torn down, after a failed setup too, so that a
     * stage can release what setup acquired before it failed.  (Once the
     * actor is abandoned, its hooks are no longer watched.) */
    if (!created)
        return;
    if (ops->teardown != NULL) {
        t0 = wn_ap_run_clock(p->run);
        wn_ap_actor_hook_begin(a, "teardown", NULL, 0);
        ops->teardown(pa->state);
        wn_ap_actor_hook_end(a);
        wn_ap_actor_trace(a, "teardown", t0, wn_ap_run_clock(p->run));
    }
    if (ops->destroy != NULL) {
        wn_ap_actor_hook_begin(a, "destroy", NULL, 0);
        ops->destroy(pa->state);
        wn_ap_actor_hook_end(a);
    }
    pa->state = NULL;
}

void wn_ap_plain_drain(struct wn_ap_plain *p)
{
    uint64_t from = __atomic_load_n(&p->release_seq, __ATOMIC_ACQUIRE);
    uint64_t to = p->fill_seq + (p->filling != NULL ? 1 : 0);

    for (uint64_t seq = from; seq < to; seq++) {
        struct slot *s = slot_at(p, seq);
        int held = 0;

        for (size_t k = 0; k < p->n_pactors; k++) {
            struct plain_actor *pa = p->actors[k];

            if (pa->a != NULL && pa->cur == s &&
                __atomic_load_n(&pa->a->abandoned, __ATOMIC_ACQUIRE))
                held = 1;
        }
        COUNT_ADD(p->n_dropped, s->n_in - s->n_skipped);
        if (p->n_chain == 0)
            COUNT_ADD(p->n_created, s->n_pushed); /* pushed: counted out already */
        else if (!held && s->chained)
            p->chain_dropped += s->n_out;
        if (held)
            continue; /* its actor frees it if its hook ever returns */
        for (uint32_t i = 0; i < s->n_in; i++) {
            wn_task_free(s->in[i]);
            s->in[i] = NULL;
        }
        for (size_t j = 0; j < s->n_out; j++)
            wn_task_free(s->out[j]);
        s->n_out = 0;
        s->n_in = 0;
        s->n_pushed = 0;
        s->n_emitted = 0;
        s->chained = 0;
        s->n_skipped = 0;
    }
    p->filling = NULL;
    __atomic_store_n(&p->release_seq, to, __ATOMIC_RELEASE);
    p->fill_seq = to;
}
