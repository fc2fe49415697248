/* Barrier nodes and the PLAIN kind's barrier runner (see barrier.h). */
#include "build_config.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/log.h>

#include "barrier.h"
#include "plain_stage.h"
#include "wait.h"

#define COUNT_ADD(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)

/* A target that keeps what it gets, in order. */
struct collector {
    struct wn_ap_target target; /* first */
    struct wn_ap_stage *stage;
    uint64_t *count_in; /* counted here when not NULL */
    struct wn_task **tasks;
    size_t n, cap;
    uint32_t closed; /* atomic futex word */
};

static int collector_push(struct wn_ap_target *t, struct wn_task *task)
{
    struct collector *c = (struct collector *)t;

    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct wn_task **tasks = realloc(c->tasks, cap * sizeof(*tasks));

        if (tasks == NULL) {
            wn_task_free(task);
            return wn_ap_stage_fail(c->stage, WN_ENOMEM,
                                    "stage '%s': out of memory collecting %zu tasks",
                                    c->stage->name, c->n + 1);
        }
        c->tasks = tasks;
        c->cap = cap;
    }
    c->tasks[c->n++] = task;
    if (c->count_in != NULL)
        COUNT_ADD(*c->count_in, 1);
    return 0;
}

static int collector_push_many(struct wn_ap_target *t, struct wn_task **tasks, size_t n,
                               size_t *pushed)
{
    struct collector *c = (struct collector *)t;

    if (c->n + n > c->cap) {
        size_t cap = c->cap ? c->cap : 64;
        struct wn_task **grown;

        while (cap < c->n + n)
            cap *= 2;
        grown = realloc(c->tasks, cap * sizeof(*grown));
        if (grown == NULL) {
            *pushed = 0;
            return wn_ap_stage_fail(c->stage, WN_ENOMEM,
                                    "stage '%s': out of memory collecting %zu tasks",
                                    c->stage->name, c->n + n);
        }
        c->tasks = grown;
        c->cap = cap;
    }
    memcpy(c->tasks + c->n, tasks, n * sizeof(*tasks));
    c->n += n;
    if (c->count_in != NULL)
        COUNT_ADD(*c->count_in, n);
    *pushed = n;
    return 0;
}

static void collector_flush(struct wn_ap_target *t)
{
    (void)t; /* nobody reads the tasks before the close */
}

static void collector_close(struct wn_ap_target *t)
{
    struct collector *c = (struct collector *)t;

    __atomic_store_n(&c->closed, 1, __ATOMIC_SEQ_CST);
    wn_futex_wake(&c->closed, INT32_MAX);
}

static void collector_init(struct collector *c, struct wn_ap_stage *stage, uint64_t *count_in)
{
    memset(c, 0, sizeof(*c));
    c->target.push = collector_push;
    c->target.push_many = collector_push_many;
    c->target.flush = collector_flush;
    c->target.close = collector_close;
    c->stage = stage;
    c->count_in = count_in;
}

static void free_tasks(struct wn_task **tasks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        wn_task_free(tasks[i]);
}

/* ---- the PLAIN runner -------------------------------------------------------------- */

int wn_ap_plain_barrier_run(struct wn_ap_stage *stage, struct wn_task **in, size_t n_in,
                            struct wn_task ***out, size_t *n_out, struct wn_error *err)
{
    struct wn_ap_counts counts;
    struct collector col;
    struct wn_ap_plain *p = NULL;
    struct wn_ap_target *input;
    uint64_t skipped_before = __atomic_load_n(&stage->counts.skipped, __ATOMIC_ACQUIRE);
    uint64_t skipped;
    uint32_t actors = 0;
    size_t i = 0;
    int rc;

    *out = NULL;
    *n_out = 0;
    memset(&counts, 0, sizeof(counts));
    collector_init(&col, stage, NULL);
    rc = wn_ap_stage_plan(stage, n_in, &actors, err);
    if (rc == 0)
        rc = wn_ap_plain_new(stage, &counts, &col.target, actors, &p, err);
    if (rc < 0) {
        free_tasks(in, n_in);
        free(in);
        return rc;
    }
    wn_log(WN_LOG_INFO, WN_AP_LOG_DOMAIN, "stage '%s': %u actors for %zu tasks in batches of %u",
           stage->name, actors, n_in, stage->batch_size);
    input = wn_ap_plain_input(p);
    for (; i < n_in; i++) {
        struct wn_task *task = in[i];

        in[i] = NULL;
        if (input->push(input, task) < 0)
            break;
    }
    if (i < n_in) { /* the run stopped: what was not pushed is dropped */
        size_t rest = n_in - i - 1;

        free_tasks(in + i + 1, rest);
        counts.in += rest + 1;
        counts.dropped += rest + 1;
    }
    free(in);
    input->close(input);
    wn_ap_plain_wait(p);
    wn_ap_stage_join_actors(stage);
    if (wn_ap_run_stopping(stage->run)) {
        wn_ap_plain_drain(p);
        wn_ap_plain_settle(p);
        free_tasks(col.tasks, col.n);
        free(col.tasks);
        return wn_error_set(err, WN_ECANCELED, "stage '%s' stopped: the run failed", stage->name);
    }
    wn_ap_plain_settle(p);
    skipped = __atomic_load_n(&stage->counts.skipped, __ATOMIC_ACQUIRE) - skipped_before;
    if (counts.in + counts.created != counts.out + counts.filtered + skipped + counts.dropped ||
        counts.out != col.n) {
        rc = wn_error_set(err, WN_EINTERNAL,
                          "stage '%s': tasks do not add up: %llu in + %llu created != %llu out + "
                          "%llu filtered + %llu skipped + %llu dropped (%zu collected): a bug in "
                          "actor_pool",
                          stage->name, (unsigned long long)counts.in,
                          (unsigned long long)counts.created, (unsigned long long)counts.out,
                          (unsigned long long)counts.filtered, (unsigned long long)skipped,
                          (unsigned long long)counts.dropped, col.n);
        free_tasks(col.tasks, col.n);
        free(col.tasks);
        return rc;
    }
    *out = col.tasks;
    *n_out = col.n;
    return 0;
}

/* ---- barrier nodes ------------------------------------------------------------------ */

struct wn_ap_node {
    struct collector in; /* first: the node's input target */
    struct wn_ap_stage *stage;
    struct wn_ap_target *down;
    pthread_t thread;
    int thread_started;
    struct wn_task **outs; /* the runner's outputs while they are passed on */
    size_t n_outs, next_out;
    void *kept; /* the runner's state, freed with the node (wn_ap_node_keep) */
    void (*kept_free)(void *kept);
};

static void *node_main(void *arg)
{
    struct wn_ap_node *node = arg;
    struct wn_ap_stage *stage = node->stage;
    struct wn_ap_run *run = stage->run;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task **tasks, **outs = NULL;
    uint64_t skipped_before, skipped, consumed;
    size_t n, n_outs = 0;
    char thread_name[16];
    int rc;

    snprintf(thread_name, sizeof(thread_name), "%.9s/coord", stage->name);
    pthread_setname_np(pthread_self(), thread_name);
    while (!__atomic_load_n(&node->in.closed, __ATOMIC_ACQUIRE)) {
        if (wn_ap_run_stopping(run))
            return NULL;
        wn_futex_wait(&node->in.closed, 0, 0);
    }
    if (wn_ap_run_stopping(run))
        return NULL;
    tasks = node->in.tasks;
    n = node->in.n;
    node->in.tasks = NULL;
    node->in.n = 0;
    node->in.cap = 0;
    if (n == 0) {
        /* A stage that receives nothing does not run (no actor, no collective). */
        free(tasks);
        wn_log(WN_LOG_INFO, WN_AP_LOG_DOMAIN, "stage '%s': no input task, skipped", stage->name);
        __atomic_store_n(&stage->state, WN_AP_STAGE_DONE, __ATOMIC_RELAXED);
        node->down->close(node->down);
        return NULL;
    }
    __atomic_store_n(&stage->state, WN_AP_STAGE_RUNNING, __ATOMIC_RELAXED);
    skipped_before = __atomic_load_n(&stage->counts.skipped, __ATOMIC_ACQUIRE);
    rc = stage->kind->run(stage, tasks, n, &outs, &n_outs, &err);
    skipped = __atomic_load_n(&stage->counts.skipped, __ATOMIC_ACQUIRE) - skipped_before;
    if (rc < 0) {
        if (!(rc == WN_ECANCELED && wn_ap_run_stopping(run)))
            wn_ap_stage_fail(stage, rc, "%s", err.message);
        COUNT_ADD(stage->counts.dropped, n - skipped);
        return NULL;
    }
    consumed = n - skipped;
    if (n_outs >= consumed)
        COUNT_ADD(stage->counts.created, n_outs - consumed);
    else
        COUNT_ADD(stage->counts.filtered, consumed - n_outs);
    node->outs = outs;
    node->n_outs = n_outs;
    while (node->next_out < n_outs) {
        struct wn_task *task = outs[node->next_out];

        outs[node->next_out++] = NULL;
        /* Passed on even when refused: push takes the task either way. */
        COUNT_ADD(stage->counts.out, 1);
        if (node->down->push(node->down, task) < 0)
            return NULL; /* the run stops; the drain frees the rest */
        if (node->next_out % 256 == 0)
            node->down->flush(node->down);
    }
    __atomic_store_n(&stage->state, WN_AP_STAGE_DONE, __ATOMIC_RELAXED);
    node->down->close(node->down);
    return NULL;
}

int wn_ap_node_new(struct wn_ap_stage *stage, struct wn_ap_target *down, struct wn_ap_node **out,
                   struct wn_error *err)
{
    struct wn_ap_node *node = calloc(1, sizeof(*node));
    int e;

    *out = NULL;
    if (node == NULL)
        return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory", stage->name);
    collector_init(&node->in, stage, &stage->counts.in);
    node->stage = stage;
    node->down = down;
    stage->node = node;
    e = pthread_create(&node->thread, NULL, node_main, node);
    if (e != 0)
        return wn_error_set(err, WN_EIO, "stage '%s': cannot start its coordinator thread: %s",
                            stage->name, strerror(e));
    node->thread_started = 1;
    *out = node;
    return 0;
}

struct wn_ap_target *wn_ap_node_input(struct wn_ap_node *node)
{
    return &node->in.target;
}

void wn_ap_node_wake(struct wn_ap_node *node)
{
    wn_futex_wake(&node->in.closed, INT32_MAX);
    if (node->stage->engine != NULL)
        wn_ap_plain_wake_all(node->stage->engine);
}

void wn_ap_node_join(struct wn_ap_node *node)
{
    if (node->thread_started) {
        pthread_join(node->thread, NULL);
        node->thread_started = 0;
    }
}

void wn_ap_node_drain(struct wn_ap_node *node)
{
    struct wn_ap_stage *stage = node->stage;
    size_t rest = node->n_outs - node->next_out;

    /* Input never handed to the runner, and outputs never passed on. */
    COUNT_ADD(stage->counts.dropped, node->in.n + rest);
    free_tasks(node->in.tasks, node->in.n);
    free(node->in.tasks);
    node->in.tasks = NULL;
    node->in.n = 0;
    free_tasks(node->outs + node->next_out, rest);
    free(node->outs);
    node->outs = NULL;
    node->n_outs = node->next_out = 0;
}

/* ---- helpers of the rank runners -------------------------------------------------- */

static int outputs_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct wn_ap_outputs *o = (struct wn_ap_outputs *)self;

    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        struct wn_task **tasks = realloc(o->tasks, cap * sizeof(*tasks));

        if (tasks == NULL) {
            wn_task_free(task);
            o->failed = 1;
            return WN_ENOMEM;
        }
        o->tasks = tasks;
        o->cap = cap;
    }
    o->tasks[o->n++] = task;
    return 0;
}

void wn_ap_outputs_init(struct wn_ap_outputs *o, struct wn_ap_actor *a)
{
    wn_ap_emitter_init(&o->em, a, outputs_emit);
    o->tasks = NULL;
    o->n = o->cap = 0;
    o->failed = 0;
}

void wn_ap_outputs_take(struct wn_ap_outputs *o, struct wn_task ***tasks, size_t *n)
{
    *tasks = o->tasks;
    *n = o->n;
    o->tasks = NULL;
    o->n = o->cap = 0;
}

void wn_ap_outputs_free(struct wn_ap_outputs *o)
{
    free_tasks(o->tasks, o->n);
    free(o->tasks);
    o->tasks = NULL;
    o->n = o->cap = 0;
}

int wn_ap_hook_pause(struct wn_ap_actor *a, struct wn_ap_hook_pause *p)
{
    p->paused = 0;
    if (a->stage->timeout_ns == 0)
        return 0;
    if (__atomic_load_n(&a->abandoned, __ATOMIC_ACQUIRE))
        return 1;
    /* Written by this thread only: not in a watched hook, nothing to pause. */
    if (!(__atomic_load_n(&a->hook_word, __ATOMIC_RELAXED) & 1u))
        return 0;
    p->hook = a->hook_name;
    p->n_tasks = a->hook_tasks;
    memcpy(p->task, a->hook_task, sizeof(p->task));
    if (wn_ap_actor_hook_end(a))
        return 1;
    p->paused = 1;
    return 0;
}

void wn_ap_hook_resume(struct wn_ap_actor *a, const struct wn_ap_hook_pause *p)
{
    if (p->paused)
        wn_ap_actor_hook_begin(a, p->hook, p->task[0] ? p->task : NULL, p->n_tasks);
}

int wn_ap_kind_wait_count(struct wn_ap_run *run, uint32_t *word, uint32_t target)
{
    for (;;) {
        uint32_t now = __atomic_load_n(word, __ATOMIC_ACQUIRE);

        if (now >= target)
            return 0;
        if (wn_ap_run_stopping(run))
            return WN_ECANCELED;
        wn_ap_run_tick(run);
        wn_futex_wait(word, now, 20000000ull); /* 20 ms: the stop is seen within that */
    }
}

uint32_t wn_ap_kind_start_ranks(struct wn_ap_stage *stage, uint32_t n, wn_ap_actor_body_fn body,
                                void *ranks, size_t rank_size, struct wn_error *err)
{
    uint32_t started = 0;

    for (; started < n; started++) {
        int rc = wn_ap_actor_start(stage, NULL, body, (char *)ranks + (size_t)started * rank_size,
                                   NULL, err);

        if (rc < 0) {
            if (err->code == 0)
                err->code = rc;
            break;
        }
    }
    return started;
}

void wn_ap_node_keep(struct wn_ap_node *node, void *state, void (*free_fn)(void *state))
{
    /* One runner per node, kept once: a second state would never be freed. */
    assert(node->kept == NULL);
    node->kept = state;
    node->kept_free = free_fn;
}

void wn_ap_node_free(struct wn_ap_node *node)
{
    if (node == NULL)
        return;
    wn_ap_node_drain(node);
    if (node->kept_free != NULL)
        node->kept_free(node->kept);
    free(node);
}
