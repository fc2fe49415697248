/*
 * actor_pool — COMMS stages (NeMo Curator's RayActorPoolRAFTAdapter): one
 * rank per actor, exactly one contiguous chunk of the input per rank, and a
 * communicator from the stage's comms provider, handed to setup.
 *
 * Per stage, in order:
 *   driver        sizes the pool: N actors, N <= the number of input tasks
 *                 (an explicit "actors" is honoured within that and the
 *                 resources); cuts the input into N chunks; group_new;
 *   actor i       create;  actor 0 makes the unique id (the root), the others
 *                 wait for it;  rank_init on every actor concurrently;  only
 *                 then setup (worker->comms set);  process_batch once, with
 *                 its chunk;  teardown;  rank_destroy;  destroy;
 *   driver        joins, group_free, outputs in rank order.
 * The first failure of any actor (any hook, the id, joining) aborts the
 * group, so no rank waits for one that is gone; every created actor is torn
 * down and every joined rank's communicator destroyed, also on failure.
 */
#ifndef WINNOW_ACTOR_POOL_COMMS_STAGE_H
#define WINNOW_ACTOR_POOL_COMMS_STAGE_H

#include <stddef.h>

#include <winnow/backend.h>

#include "pool.h"

/* Checks, before anything runs, that a COMMS stage has a usable provider. */
int wn_comms_stage_check(const struct wn_run_stage *stage, struct wn_error *err);

/*
 * Runs COMMS stage over *tasks (the array and the tasks are taken, also on
 * failure) and leaves its outputs there, rank 0's first.  No input task:
 * nothing runs (0 outputs).  stats receives the stage's counts.  On failure
 * err names the stage, the actor (rank) and the hook or task, with the
 * plugin's or the provider's words.  Driver thread only.
 */
int wn_comms_stage_run(const struct wn_run_stage *stage, const struct wn_pool_capacity *capacity,
                       struct wn_task ***tasks, size_t *n_tasks, struct wn_stage_stats *stats,
                       struct wn_error *err);

#endif /* WINNOW_ACTOR_POOL_COMMS_STAGE_H */
