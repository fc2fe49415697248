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

void wn_ap_node_free(struct wn_ap_node *node);

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

/* One step of a coordinator's wait on *word (expected: the value read before
 * checking the condition): sleeps at most 20 ms, and on the run's driver
 * thread (barrier mode) watches hook timeouts and draws progress. */
void wn_ap_kind_wait(struct wn_ap_run *run, uint32_t *word, uint32_t expected);

#endif /* WINNOW_ACTOR_POOL_BARRIER_H */
