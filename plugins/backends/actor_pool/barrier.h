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

#endif /* WINNOW_ACTOR_POOL_BARRIER_H */
