/*
 * actor_pool — barrier nodes: a stage that needs its whole input before it
 * starts (every stage in barrier mode; COMMS and SHUFFLE stages always)
 * collects its input, runs its kind's barrier runner on its own coordinator
 * thread once the input has ended, and passes the outputs on in order.
 */
#ifndef WINNOW_ACTOR_POOL_BARRIER_H
#define WINNOW_ACTOR_POOL_BARRIER_H

#include "executor.h"

struct wn_ap_node;

/* A barrier node for stage, passing its outputs to down, with its
 * coordinator thread started (waiting for the input).  Belongs to the stage
 * (stage->node; freed with the run context).  Driver. */
int wn_ap_node_new(struct wn_ap_stage *stage, struct wn_ap_target *down, struct wn_ap_node **out,
                   struct wn_error *err);

struct wn_ap_target *wn_ap_node_input(struct wn_ap_node *node);

/* Wakes the coordinator if it waits (the run stops). */
void wn_ap_node_wake(struct wn_ap_node *node);

/* Joins the coordinator thread.  Driver. */
void wn_ap_node_join(struct wn_ap_node *node);

/* After the join: frees what the node still holds, counted as dropped. */
void wn_ap_node_drain(struct wn_ap_node *node);

/* Frees what the node still holds, and what its runner kept. */
void wn_ap_node_free(struct wn_ap_node *node);

/* Keeps a barrier runner's state alive as long as the run context (and so
 * every actor thread of the run, an abandoned one included): free_fn(state)
 * is called when the node is freed, after the last such thread ended.  A
 * runner whose actors may outlive its call (the run stopped; a hook hung)
 * keeps there whatever they use.  Coordinator thread, once per run. */
void wn_ap_node_keep(struct wn_ap_node *node, void *state, void (*free_fn)(void *state));

/* The PLAIN kind's barrier runner (kinds.c): one engine over the whole input,
 * pool sized by the seed's rule, actors joined before it returns. */
int wn_ap_plain_barrier_run(struct wn_ap_stage *stage, struct wn_task **in, size_t n_in,
                            struct wn_task ***out, size_t *n_out, struct wn_error *err);

/* ---- helpers of the barrier runners that drive ranks (COMMS, SHUFFLE) ---------------- */

/* Outputs an actor's hook emits, kept in order: an emitter (metrics land on
 * the actor) and the array it fills. */
struct wn_ap_outputs {
    struct wn_ap_emitter em; /* first: what the hook gets (&o->em.emitter) */
    struct wn_task **tasks;
    size_t n, cap;
    int failed; /* an emit ran out of memory (the task was freed) */
};

/* Sets o up, empty, for actor a.  Actor thread. */
void wn_ap_outputs_init(struct wn_ap_outputs *o, struct wn_ap_actor *a);

/* Hands o's tasks over (*tasks, *n; a malloc'd array or NULL) and empties it. */
void wn_ap_outputs_take(struct wn_ap_outputs *o, struct wn_task ***tasks, size_t *n);

/* Frees every task o holds, and its array. */
void wn_ap_outputs_free(struct wn_ap_outputs *o);

/* A rank's hook paused while the rank waits on the others (a collective,
 * a shuffle's insert): that wait is the provider's to time (its own
 * timeout_s), and a rank waiting for a hung peer must not be taken for the
 * hung one.  pause returns nonzero when the actor was abandoned (do not
 * wait then; fail with WN_ECANCELED, and do not resume).  Actor thread. */
struct wn_ap_hook_pause {
    int paused;
    const char *hook;
    uint32_t n_tasks;
    char task[WN_AP_TASK_NOTE];
};
int wn_ap_hook_pause(struct wn_ap_actor *a, struct wn_ap_hook_pause *p);
void wn_ap_hook_resume(struct wn_ap_actor *a, const struct wn_ap_hook_pause *p);

/* A COMMS/SHUFFLE coordinator: waits until the counter *word (which the
 * ranks raise and signal) reaches target: 0; or WN_ECANCELED as soon as the
 * run stops (the caller then aborts what its ranks may wait on).  Sleeps
 * 20 ms at most at a time, and on the run's driver thread (barrier mode)
 * watches hook timeouts and draws progress meanwhile. */
int wn_ap_kind_wait_count(struct wn_ap_run *run, uint32_t *word, uint32_t target);

/* A COMMS/SHUFFLE coordinator: starts the stage's n rank actors in order,
 * rank i running body with (char *)ranks + i * rank_size; stops at the first
 * that cannot start.  Returns how many started: fewer than n when rank
 * <returned> could not, and err says why. */
uint32_t wn_ap_kind_start_ranks(struct wn_ap_stage *stage, uint32_t n, wn_ap_actor_body_fn body,
                                void *ranks, size_t rank_size, struct wn_error *err);

#endif /* WINNOW_ACTOR_POOL_BARRIER_H */
