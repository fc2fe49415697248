/*
 * actor_pool — batching: how a stage's input tasks are cut into the batches
 * handed to process_batch.  Pure functions, so that tests pin the rule.
 */
#ifndef WINNOW_ACTOR_POOL_BATCHING_H
#define WINNOW_ACTOR_POOL_BATCHING_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>

/* One batch: tasks [start, start + len) of the stage's input, len >= 1. */
struct wn_batch_range {
    size_t start;
    size_t len;
};

/*
 * Cuts n_tasks tasks into contiguous batches, by exactly one of:
 *   batch_size > 0: batches of batch_size tasks, the last one shorter;
 *   n_chunks > 0:   n_chunks near-equal chunks, the first n_tasks % n_chunks
 *                   one task longer, empty chunks dropped (so n_chunks > n_tasks
 *                   gives n_tasks batches of one).
 * Giving both or neither is WN_EINVAL.  *out (free() it) holds *n_out ranges;
 * no task gives *out == NULL and *n_out == 0.  Pure; any thread.
 */
int wn_batching_split(size_t n_tasks, size_t batch_size, size_t n_chunks,
                      struct wn_batch_range **out, size_t *n_out, struct wn_error *err);

/*
 * How many batches of batch_size a streaming stage's producer fills before
 * it publishes them (at the end of a burst it publishes what it has): 16,
 * or more batches of fewer than 64 tasks, so that at least 64 tasks are
 * handed over at once.  Pure; any thread.
 */
uint32_t wn_batching_publish_every(uint32_t batch_size);

/*
 * How many of `queued` published batches an idle actor takes at once:
 * its share among `actors`, at least 1; at most 8, or, for batches of
 * fewer than 64 tasks that took last_batch_ns (> 0) each, as many as make
 * about 100 us of work, up to 64 tasks.  An unknown time (0) counts as a
 * slow batch.  Pure; any thread.
 */
uint64_t wn_batching_claim(uint64_t queued, uint32_t actors, uint32_t batch_size,
                           uint64_t last_batch_ns);

#endif /* WINNOW_ACTOR_POOL_BATCHING_H */
