/*
 * ucx plugin — one rank's store of received partition data, bounded in memory.
 *
 * Chunks (concatenated segments, see shuffle_format.h) arrive from every
 * rank, this one included.  A chunk is kept in memory while the bytes held
 * stay within memory_limit; past it, its segments are appended to the rank's
 * spill file and the chunk is freed.  The spill file is created under the
 * group's spill directory and unlinked at once, so it disappears however the
 * process ends; its space is returned when the store is freed.
 *
 * Extracting a partition gathers its segments in a fixed order (source rank,
 * chunk sequence, position in the chunk), so the rows come out the same
 * whether they were spilled or not.
 *
 * Threads: wn_ucx_store_add may be called from several threads at once; the
 * store serialises them.
 */
#ifndef WN_UCX_SHUFFLE_STORE_H
#define WN_UCX_SHUFFLE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>
#include <winnow/table.h>

struct wn_ucx_store;

struct wn_ucx_store_stats {
    uint64_t memory_bytes;  /* held in memory now */
    uint64_t memory_peak;   /* most held at once */
    uint64_t spilled_bytes; /* written to the spill file */
    uint64_t spilled_segments;
    uint64_t chunks; /* chunks added */
};

/* A store for the partitions rank owns (p % num_ranks == rank).  label
 * prefixes every message; spill_dir is an existing directory. */
int wn_ucx_store_new(const char *label, uint32_t rank, uint32_t num_ranks, uint32_t num_partitions,
                     uint64_t memory_limit, const char *spill_dir, struct wn_ucx_store **out,
                     struct wn_error *err);

/* Takes chunk (len bytes of a buffer of capacity cap, given back with
 * wn_ucx_pool_put), the seq-th chunk from rank src, also when it fails:
 * checks every segment is for a partition this rank owns, then keeps or
 * spills it (a spilled chunk's buffer goes back to the pool at once). */
int wn_ucx_store_add(struct wn_ucx_store *store, void *chunk, size_t len, size_t cap, uint32_t src,
                     uint32_t seq, struct wn_error *err);

/* Moves every row of owned partition p into *out (the caller's) and frees
 * them from the store.  A second extract of p is an error. */
int wn_ucx_store_extract(struct wn_ucx_store *store, uint32_t partition, struct wn_table *out,
                         struct wn_error *err);

void wn_ucx_store_stats(struct wn_ucx_store *store, struct wn_ucx_store_stats *stats);

/* Frees everything, the spill file included.  NULL is fine. */
void wn_ucx_store_free(struct wn_ucx_store *store);

#endif /* WN_UCX_SHUFFLE_STORE_H */
