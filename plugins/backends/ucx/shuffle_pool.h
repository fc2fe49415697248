/*
 * ucx plugin — a process-wide pool of message buffers for the shuffle.
 *
 * Every byte a shuffle keeps (staged rows, received chunks) lands in buffers
 * of about chunk_bytes.  Fresh memory costs the kernel a page fault and a
 * page zeroing per page, which was half the time of a shuffle; the pool keeps
 * the buffers that sends, spills and extracts give back and hands them out
 * again, to the same shuffle or a later one (rounds, the next stage).
 *
 * Sizes: requests below 64 KiB are plain malloc.  Above, a buffer's
 * capacity is rounded up to a class: a power of two up to 2 MiB, then a
 * multiple of 2 MiB up to 128 MiB (huge-page aligned, see alloc.h); larger
 * ones are never kept.  Every buffer the pool hands out can be freed with
 * free() as well.
 *
 * Memory: the pool counts toward the ranks' memory_limit.  Each open rank
 * registers its limit; the pool keeps an idle buffer only while the bytes
 * handed out plus the bytes kept stay within the sum of those limits (the
 * highest sum since the last time no rank was open, which stays the bound
 * after every rank closed, so that the next shuffle finds the buffers), and
 * a buffer made fresh first pushes out idle ones of other sizes beyond that
 * bound.  So the pool never holds more than the limits allowed the shuffles
 * to hold, and with memory_limit 0 (spill everything) it keeps nothing.
 * Extracted tables' buffers come from the pool too and go back to it when
 * their holder releases them.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef WN_UCX_SHUFFLE_POOL_H
#define WN_UCX_SHUFFLE_POOL_H

#include <stddef.h>
#include <stdint.h>

struct wn_ucx_pool_stats {
    uint64_t fresh_bytes;  /* capacity allocated anew (first touches fault) */
    uint64_t reused_bytes; /* capacity handed out again from the pool */
    uint64_t in_use_bytes; /* pooled-class capacity handed out, not yet given back */
    uint64_t idle_bytes;   /* kept for reuse */
    uint64_t keep_limit;   /* the bound on in_use + idle for keeping more */
};

/* A buffer of at least len bytes; *cap gets its capacity, to be passed back
 * to wn_ucx_pool_put.  NULL when out of memory. */
void *wn_ucx_pool_get(size_t len, size_t *cap);

/* Gives buf (of capacity cap, from wn_ucx_pool_get or any buffer free()
 * accepts with at least cap usable bytes) back: kept for reuse, or freed.
 * NULL is fine. */
void wn_ucx_pool_put(void *buf, size_t cap);

/* A rank with this memory_limit opens (register) or closes (unregister):
 * see the memory rule above.  Each register is paired with one unregister. */
void wn_ucx_pool_register(uint64_t memory_limit);
void wn_ucx_pool_unregister(uint64_t memory_limit);

/* Frees every idle buffer (also done when the plugin is unloaded). */
void wn_ucx_pool_trim(void);

void wn_ucx_pool_stats(struct wn_ucx_pool_stats *stats);

#endif /* WN_UCX_SHUFFLE_POOL_H */
