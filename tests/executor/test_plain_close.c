/*
 * The end of a streaming PLAIN stage (plugins/backends/actor_pool/plain_stage.c)
 * when its input closes while its head is passing the last batch on: the
 * close and the head each look for the other, and one of them must finish
 * the stage (close what follows).  Driven step by step through a target
 * whose flush holds the head until the close has run.
 */
#include "build_config.h"

#include <stdlib.h>
#include <string.h>

#include "cu.h"
#include "executor.h"
#include "plain_stage.h"
#include "wait.h"

/* What follows the stage: keeps what it gets; its first flush waits for go. */
struct hold_target {
    struct wn_ap_target target; /* first */
    struct wn_task *tasks[8];
    size_t n;
    uint32_t in_flush; /* atomic futex word: the head is in its first flush */
    uint32_t go;       /* atomic futex word: the first flush may return */
    uint32_t flushes;  /* atomic */
    uint32_t closed;   /* atomic futex word */
};

static int hold_push(struct wn_ap_target *t, struct wn_task *task)
{
    struct hold_target *h = (struct hold_target *)t;

    if (h->n == sizeof(h->tasks) / sizeof(h->tasks[0])) {
        wn_task_free(task);
        return WN_ENOMEM;
    }
    h->tasks[h->n++] = task;
    return 0;
}

static int hold_push_many(struct wn_ap_target *t, struct wn_task **tasks, size_t n, size_t *pushed)
{
    for (*pushed = 0; *pushed < n; (*pushed)++) {
        int rc = hold_push(t, tasks[*pushed]);

        tasks[*pushed] = NULL;
        if (rc < 0) {
            (*pushed)++;
            return rc;
        }
    }
    return 0;
}

/* Waits (at most about 5 s) until *word is nonzero; returns it. */
static uint32_t wait_set(uint32_t *word)
{
    for (int i = 0; i < 50 && !__atomic_load_n(word, __ATOMIC_ACQUIRE); i++)
        wn_futex_wait(word, 0, 100000000ull);
    return __atomic_load_n(word, __ATOMIC_ACQUIRE);
}

static void hold_flush(struct wn_ap_target *t)
{
    struct hold_target *h = (struct hold_target *)t;

    if (__atomic_add_fetch(&h->flushes, 1, __ATOMIC_ACQ_REL) != 1)
        return;
    __atomic_store_n(&h->in_flush, 1, __ATOMIC_RELEASE);
    wn_futex_wake(&h->in_flush, INT32_MAX);
    wait_set(&h->go);
}

static void hold_close(struct wn_ap_target *t)
{
    struct hold_target *h = (struct hold_target *)t;

    __atomic_store_n(&h->closed, 1, __ATOMIC_RELEASE);
    wn_futex_wake(&h->closed, INT32_MAX);
}

static int pass_batch(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                      struct wn_error *err)
{
    (void)state;
    (void)err;
    for (size_t i = 0; i < n_in; i++) {
        int rc = wn_emit(out, wn_task_take(&in[i]));

        if (rc < 0)
            return rc;
    }
    return 0;
}

static const struct wn_stage_ops pass_ops = { .version = WN_STAGE_OPS_VERSION,
                                              .process_batch = pass_batch };

static void test_close_while_the_head_hands_on_finishes_the_stage(void)
{
    struct wn_run_stage config;
    struct hold_target hold;
    struct wn_ap_run *run = calloc(1, sizeof(*run));
    struct wn_ap_stage *stage;
    struct wn_ap_plain *p = NULL;
    struct wn_ap_target *in;
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_PTR_NOT_NULL_FATAL(run);
    run->stages = calloc(1, sizeof(*run->stages));
    CU_ASSERT_PTR_NOT_NULL_FATAL(run->stages);
    __atomic_add_fetch(&run->refs, 1, __ATOMIC_ACQ_REL);
    wn_clock_init();
    run->n_stages = 1;
    run->t0_ns = wn_now_ns();
    run->driver = pthread_self();
    pthread_mutex_init(&run->lock, NULL);
    run->opt.max_inflight = 2;
    run->opt.queue_tasks = 1024;
    wn_gpu_ledger_init_count(&run->ledger, 0.0, 0.0);
    memset(&config, 0, sizeof(config));
    config.struct_size = sizeof(config);
    config.name = "mid";
    config.batch_size = 1;
    stage = &run->stages[0];
    stage->run = run;
    stage->config = &config;
    stage->name = strdup("mid");
    stage->ops = &pass_ops;
    stage->streams = 1;
    stage->batch_size = 1;
    stage->max_actors = 1;
    memset(&hold, 0, sizeof(hold));
    hold.target.push = hold_push;
    hold.target.push_many = hold_push_many;
    hold.target.flush = hold_flush;
    hold.target.close = hold_close;

    CU_ASSERT_EQUAL_FATAL(wn_ap_plain_new(stage, &stage->counts, &hold.target, 1, &p, &err), 0);
    in = wn_ap_plain_input(p);
    CU_ASSERT_EQUAL(in->push(in, wn_task_new("t0", NULL)), 0);
    in->flush(in); /* the actor starts, runs the batch and, as the head, passes it on */
    CU_ASSERT_EQUAL(wait_set(&hold.in_flush), 1);
    /* The head checked for the end before its flush: the input ends now,
     * before the head moves release_seq on. */
    in->close(in);
    __atomic_store_n(&hold.go, 1, __ATOMIC_RELEASE);
    wn_futex_wake(&hold.go, INT32_MAX);

    CU_ASSERT_EQUAL(wait_set(&hold.closed), 1);
    if (!__atomic_load_n(&hold.closed, __ATOMIC_ACQUIRE)) {
        /* The bug: nobody finished the stage.  Stop it to clean up. */
        __atomic_store_n(&run->stop, 1, __ATOMIC_RELEASE);
        wn_ap_plain_wake_all(p);
    }
    wn_ap_stage_join_actors(stage);
    wn_ap_plain_drain(p);
    wn_ap_plain_settle(p);
    CU_ASSERT_EQUAL(hold.n, 1);
    CU_ASSERT(hold.n == 0 || strcmp(wn_task_id(hold.tasks[0]), "t0") == 0);
    CU_ASSERT_EQUAL(stage->counts.in, 1);
    CU_ASSERT_EQUAL(stage->counts.out, 1);
    CU_ASSERT_EQUAL(stage->counts.dropped, 0);
    for (size_t i = 0; i < hold.n; i++)
        wn_task_free(hold.tasks[i]);
    wn_ap_run_unref(run); /* frees the stage, its engine and actors */
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "close while the head hands on finishes the stage",
          test_close_while_the_head_hands_on_finishes_the_stage },
        { NULL, NULL },
    };

    return wn_test_run_suite("actor_pool plain stage end", tests, NULL, NULL);
}
