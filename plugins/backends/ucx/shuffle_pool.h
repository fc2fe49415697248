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
 * after every rank closed, so that the next round of the stage finds the
 * buffers), and a buffer made fresh first pushes out idle ones of other
 * sizes beyond that bound.  So the pool never holds more than the limits
 * allowed the shuffles to hold, and with memory_limit 0 (spill everything)
 * it keeps nothing.  Extracted tables' buffers come from the pool too and go
 * back to it when their holder releases them.
 *
 * Release: when the executor ends a SHUFFLE stage (the provider's stage_end,
 * sdk/winnow/shuffle.h) the pool is released: the bound drops to the limits
 * of the ranks still open (none, normally), so idle buffers are freed at
 * once, and so are the buffers given back later (the stage's output tables,
 * released downstream, and ranks of a failed stage still closing).  The next
 * register keeps again.  Each SHUFFLE stage of a pipeline so starts with an
 * empty pool; a shuffle running meanwhile in another run of the same process
 * loses its reuse until its next round (never correctness).
 *
 * Misuse: the pool knows which pooled buffers it handed out.  Giving back one
 * it did not hand out, or one twice, or with another capacity, is counted in
 * bad_puts, logged as an error and otherwise ignored (the buffer is neither
 * kept nor freed), so a double put can never hand one buffer out twice.
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
    uint64_t bad_puts;     /* gives back of buffers not handed out (see Misuse) */
};

/* A buffer of at least len bytes; *cap gets its capacity, to be passed back
 * to wn_ucx_pool_put.  NULL when out of memory. */
void *wn_ucx_pool_get(size_t len, size_t *cap);

/* Gives buf (of capacity cap, as wn_ucx_pool_get handed it out) back: kept
 * for reuse, or freed.  NULL is fine; anything else is misuse (see above). */
void wn_ucx_pool_put(void *buf, size_t cap);

/* A rank with this memory_limit opens (register) or closes (unregister):
 * see the memory rule above.  Each register is paired with one unregister. */
void wn_ucx_pool_register(uint64_t memory_limit);
void wn_ucx_pool_unregister(uint64_t memory_limit);

/* A SHUFFLE stage ended: frees the idle buffers beyond the open ranks'
 * limits and keeps no more until the next register (see Release).  Returns
 * the bytes it freed. */
uint64_t wn_ucx_pool_release(void);

/* Frees every idle buffer (also done when the plugin is unloaded). */
void wn_ucx_pool_trim(void);

/* Tests: the pool's next `allocations` allocations succeed, the later ones
 * fail as if out of memory (-1: none fails, the default). */
void wn_ucx_pool_fail_after(int64_t allocations);

void wn_ucx_pool_stats(struct wn_ucx_pool_stats *stats);

#endif /* WN_UCX_SHUFFLE_POOL_H */
