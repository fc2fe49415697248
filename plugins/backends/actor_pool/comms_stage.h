/*
 * actor_pool — COMMS stages (NeMo Curator's RayActorPoolRAFTAdapter): one
 * rank per actor, exactly one contiguous chunk of the input per rank, and a
 * communicator from the stage's comms provider, handed to setup.
 *
 * Per stage, in order:
 *   coordinator   sizes the pool: N actors, N <= the number of input tasks
 *                 (an explicit "actors" is honoured within that and the
 *                 resources, GPUs from the run's ledger); cuts the input
 *                 into N chunks; group_new; starts N actors
 *                 (wn_ap_actor_start: each placed on a GPU like any actor,
 *                 its device made current on its thread);
 *   actor i       create;  actor 0 makes the unique id (the root), the others
 *                 wait for it;  rank_init on every actor concurrently, on the
 *                 actor's device;  only then setup (worker->comms and
 *                 worker->device_id set);  process_batch once, with its
 *                 chunk;  teardown;  rank_destroy;  destroy;
 *   coordinator   joins, outputs in rank order; group_free once no rank
 *                 uses the group any more.
 * The first failure of any actor (any hook, the id, joining) aborts the
 * group, so no rank waits for one that is gone; so does the run stopping (a
 * hook past the stage's timeout_s, watched as on any actor, or another
 * stage failing).  Every created actor is torn down and every joined rank's
 * communicator destroyed, also on failure.
 */
#ifndef WINNOW_ACTOR_POOL_COMMS_STAGE_H
#define WINNOW_ACTOR_POOL_COMMS_STAGE_H

#include <stddef.h>

#include "executor.h"

/* Checks, before anything runs, that a COMMS stage has a usable provider
 * (struct wn_ap_kind.check). */
int wn_ap_comms_check(struct wn_ap_stage *stage, struct wn_error *err);

/* The COMMS kind's barrier runner (wn_ap_barrier_fn): outputs rank 0's
 * first.  On failure err names the stage, the actor (rank) and the hook or
 * task, with the plugin's or the provider's words.  Coordinator thread. */
int wn_ap_comms_run(struct wn_ap_stage *stage, struct wn_task **in, size_t n_in,
                    struct wn_task ***out, size_t *n_out, struct wn_error *err);

#endif /* WINNOW_ACTOR_POOL_COMMS_STAGE_H */
