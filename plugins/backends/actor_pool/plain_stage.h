/*
 * actor_pool — the engine of a PLAIN stage: its input is cut into batches
 * of batch_size in arrival order, idle actors take them, and their outputs
 * are passed on in batch order (so that streaming and barrier runs give the
 * same outputs, in the same order) through a bounded window of batches:
 * a producer waits while the window is full, which is how a slow stage
 * holds back the stages before it.
 */
#ifndef WINNOW_ACTOR_POOL_PLAIN_STAGE_H
#define WINNOW_ACTOR_POOL_PLAIN_STAGE_H

#include <stdint.h>

#include "executor.h"

struct wn_ap_plain;

/*
 * An engine for stage (kind PLAIN) counting into *counts (skipped tasks go
 * to the stage's own counts), passing its outputs to down.  start_actors > 0
 * starts that many actors with the first batch; 0 grows the pool on demand,
 * up to the stage's explicit or resource maximum.  The engine belongs to
 * the stage (freed with the run context).  Any thread.
 */
int wn_ap_plain_new(struct wn_ap_stage *stage, struct wn_ap_counts *counts,
                    struct wn_ap_target *down, uint32_t start_actors, struct wn_ap_plain **out,
                    struct wn_error *err);

/*
 * Fuses chain[0..n) (the stages right after this one, streaming PLAIN with
 * batch_size 1, on_error "fail", no timeout_s, no GPU) into this engine:
 * each actor also runs one instance of each, on its own thread, over the
 * outputs of its batches; their pool is this stage's.  A task through a
 * chain of stages stays on one thread (and core).  Before any push.
 */
int wn_ap_plain_chain(struct wn_ap_plain *p, struct wn_ap_stage *const *chain, size_t n,
                      struct wn_error *err);

/*
 * Groups members[0..n) (engines of the streaming PLAIN stages after this
 * one, each with its own batches, window and ordered release; on_error
 * "fail", no timeout_s, no GPU, this stage's pool) with this engine: its
 * actor threads also run their batches, downstream ones first, each with
 * an instance of its own per thread, and the members start no thread.  A
 * batch and its outputs then mostly stay on one core, and the threads do
 * not outnumber the pool.  Before any push; the members first built.
 */
int wn_ap_plain_group(struct wn_ap_plain *p, struct wn_ap_plain *const *members, size_t n,
                      struct wn_error *err);

/* Adds the counts of a stage fused into an engine (stage->fused_into) to *c,
 * unless settled.  Any thread, loosely (progress). */
void wn_ap_plain_fused_counts(const struct wn_ap_stage *stage, struct wn_ap_counts *c);

/* Where the stage's input goes (push, then close once). */
struct wn_ap_target *wn_ap_plain_input(struct wn_ap_plain *p);

/* Waits until every batch was passed on and the input closed, or the run
 * stops.  Any thread (the driver ticks while it waits). */
void wn_ap_plain_wait(struct wn_ap_plain *p);

/* Wakes every thread waiting in the engine (the run stops). */
void wn_ap_plain_wake_all(struct wn_ap_plain *p);

/* After the actors were joined: frees every task still held, counting the
 * unfinished batches as dropped; leaves the batch of an abandoned actor to
 * that actor.  Driver. */
void wn_ap_plain_drain(struct wn_ap_plain *p);

/* Adds the engine's counts (in, out, filtered, created, dropped) to *c,
 * unless they were settled already.  Any thread, loosely (progress). */
void wn_ap_plain_counts(const struct wn_ap_plain *p, struct wn_ap_counts *c);

/* Adds the engine's counts to the counts it was made with, once: after the
 * stage finished and its actors were joined (and drained). */
void wn_ap_plain_settle(struct wn_ap_plain *p);

/* Batches queued (published, not yet taken).  Any thread, loosely. */
uint64_t wn_ap_plain_queued(const struct wn_ap_plain *p);

/* Frees the engine (with the run context). */
void wn_ap_plain_free(struct wn_ap_plain *p);

#endif /* WINNOW_ACTOR_POOL_PLAIN_STAGE_H */
