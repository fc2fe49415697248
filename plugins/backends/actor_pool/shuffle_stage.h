/*
 * actor_pool — SHUFFLE stages (RapidsMPF's shuffle actors, in the seed).
 *
 * A SHUFFLE stage runs on N shuffle actors (N sized as for any stage, GPUs
 * from the run's ledger, each actor's device current on its thread), one
 * rank each of a group made by the stage's shuffle provider, P partitions
 * (the stage's param, else its rule: wn_shuffle_num_partitions):
 *   1. every actor: create, setup (actor_index = rank); steps 2 to 5 then
 *      run once per round (the stage's num_rounds hook, else one round),
 *      each round with a fresh provider group over the same input tasks
 *      (freed after the last round's insert), starting with the provider's
 *      open (the ranks wire up together);
 *   2. insert: the stage's batches, unordered over the actors (each takes the
 *      next batch when it is free), through the stage's insert hook;
 *   3. insert_finished on every rank (it returns once the rank's partitions
 *      are complete, so it is the barrier between the phases);
 *   4. extract on every rank in parallel: each owned partition (p % N) goes
 *      to the stage's extract hook;
 *   5. close; after the last round, teardown and destroy on every actor,
 *      on every path.
 * The outputs come out in round order, then partition order (so the same
 * for any N).  The first failure aborts the provider's group with a reason
 * naming the stage, the rank, the phase and the task or partition, so that
 * no rank waits for a dead one; so does the run stopping (a stage hook past
 * the stage's timeout_s, watched as on any actor, or another stage
 * failing).  Every provider wait also has its own timeout.
 */
#ifndef WINNOW_ACTOR_POOL_SHUFFLE_STAGE_H
#define WINNOW_ACTOR_POOL_SHUFFLE_STAGE_H

#include <stddef.h>

#include "executor.h"

/* Checks, before anything runs, that a SHUFFLE stage has its hooks and a
 * usable shuffle provider resolved by the host (struct wn_ap_kind.check). */
int wn_ap_shuffle_check(struct wn_ap_stage *stage, struct wn_error *err);

/* The SHUFFLE kind's barrier runner (wn_ap_barrier_fn): ranks sized as any
 * stage's pool, each an actor of the stage (wn_ap_actor_start); outputs in
 * round order, then partition order.  Coordinator thread. */
int wn_ap_shuffle_run(struct wn_ap_stage *stage, struct wn_task **in, size_t n_in,
                      struct wn_task ***out, size_t *n_out, struct wn_error *err);

#endif /* WINNOW_ACTOR_POOL_SHUFFLE_STAGE_H */
