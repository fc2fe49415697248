/*
 * actor_pool — one stage's pool of thread actors: start them (create, setup
 * on each actor's own thread), dispatch the stage's batches to idle actors
 * with a bounded number in flight per actor, collect the outputs in batch
 * order, then teardown and destroy every actor on its own thread.
 */
#ifndef WINNOW_ACTOR_POOL_STAGE_POOL_H
#define WINNOW_ACTOR_POOL_STAGE_POOL_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/backend.h>

/* How to run one stage. */
struct wn_stage_pool_options {
    uint32_t actors;        /* >= 1 (wn_pool_plan) */
    uint32_t max_inflight;  /* >= 1: batches queued or running per actor */
};

/*
 * Runs stage over tasks[0..n_tasks) (n_tasks >= 1).  Takes ownership of the
 * tasks and of the malloc'd array, also on failure.  On success *out (free()
 * the array, wn_task_free() each task) holds the outputs, the outputs of
 * batch 0 first, then batch 1's, and so on; every output carries this stage's
 * perf record.  stats (may be NULL) receives the stage's counts, on failure
 * what was measured.  On failure nothing is returned, every task is freed
 * and err names stage, actor (index/pool size), hook or task, and the
 * plugin's message.  Driver thread only.
 */
int wn_stage_pool_run(const struct wn_run_stage *stage, struct wn_task **tasks, size_t n_tasks,
                      const struct wn_stage_pool_options *options, struct wn_task ***out,
                      size_t *n_out, struct wn_stage_stats *stats, struct wn_error *err);

#endif /* WINNOW_ACTOR_POOL_STAGE_POOL_H */
