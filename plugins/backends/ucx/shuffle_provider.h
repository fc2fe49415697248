/*
 * ucx plugin — the shuffle provider (struct wn_shuffle_provider_ops over UCX).
 *
 * Each rank has one UCX worker, owned by a communication thread of its own
 * that posts the rank's sends, receives every chunk addressed to it (probe,
 * then a tag receive into a buffer of the probed size) and stores it, so data
 * keeps flowing whatever the rank's actor thread is doing.  The actor thread
 * serialises inserted rows into one staging buffer per destination rank and
 * hands a buffer over once it reaches chunk_bytes; rows for its own
 * partitions go straight into its store.  At insert_finished each rank sends
 * every other rank an end-of-data message carrying how many chunks it sent
 * there, and waits until it has them all.
 *
 * Memory: received partitions are held up to memory_limit bytes per rank and
 * spilled past it (shuffle_store.h); besides that, a rank holds at most one
 * staging buffer per destination and inflight_bytes of sends not yet
 * delivered (insert blocks, within timeout_s, when more are in flight).
 *
 * Tags: kind (8 bits: data, end-of-data) | source rank (24 bits) | chunk
 * sequence number (32 bits).
 */
#ifndef WN_UCX_SHUFFLE_PROVIDER_H
#define WN_UCX_SHUFFLE_PROVIDER_H

#include <stdint.h>

#include <winnow/params.h>
#include <winnow/shuffle.h>

#include "shuffle_store.h"

/* The provider's ops and params, for the plugin descriptor. */
extern const struct wn_shuffle_provider_ops wn_ucx_shuffle_ops;
extern const struct wn_param_spec wn_ucx_shuffle_params[];

/* Defaults of the params (used as well when the executor passes no params). */
#define WN_UCX_SHUFFLE_MEMORY_LIMIT_DEFAULT 1073741824LL /* 1 GiB per rank */
#define WN_UCX_SHUFFLE_TIMEOUT_DEFAULT 300.0             /* seconds, every wait */
#define WN_UCX_SHUFFLE_CHUNK_DEFAULT 4194304LL           /* 4 MiB messages */
#define WN_UCX_SHUFFLE_INFLIGHT_DEFAULT 67108864LL       /* 64 MiB in flight per rank */

/* What one rank moved, for benchmarks and logs. */
struct wn_ucx_shuffle_stats {
    uint64_t rows_inserted;
    uint64_t bytes_sent; /* to other ranks, over UCX */
    uint64_t chunks_sent;
    uint64_t bytes_local;    /* to this rank's own partitions */
    uint64_t bytes_received; /* from other ranks */
    uint64_t chunks_received;
    struct wn_ucx_store_stats store;
    char transports[128]; /* lanes toward the next rank ("sysv/memory cma/memory") */
};

/* The rank's counters so far.  The rank's thread, after open. */
void wn_ucx_shuffle_stats(struct wn_shuffle *shuffle, struct wn_ucx_shuffle_stats *stats);

/* The group's spill directory (created at group_create, removed at destroy). */
const char *wn_ucx_shuffle_spill_dir(const struct wn_shuffle_group *group);

#endif /* WN_UCX_SHUFFLE_PROVIDER_H */
