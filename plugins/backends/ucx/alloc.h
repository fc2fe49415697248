/* ucx plugin — allocation of large buffers (header-only).
 *
 * A shuffle touches every byte it moves in fresh memory (messages received,
 * tables extracted); with 4 KiB pages most of that time goes to page faults.
 * Buffers of 2 MiB and more are therefore 2 MiB-aligned and advised as huge
 * pages (MADV_HUGEPAGE: honoured where transparent huge pages are "madvise"
 * or "always", harmless elsewhere).  Every buffer is freed with free(). */
#ifndef WN_UCX_ALLOC_H
#define WN_UCX_ALLOC_H

#include <stdlib.h>
#include <sys/mman.h>

#define WN_UCX_HUGE_PAGE ((size_t)2 << 20)

static inline void *wn_ucx_alloc(size_t size)
{
    if (size >= WN_UCX_HUGE_PAGE) {
        size_t rounded = (size + WN_UCX_HUGE_PAGE - 1) & ~(WN_UCX_HUGE_PAGE - 1);
        void *p = aligned_alloc(WN_UCX_HUGE_PAGE, rounded);

#ifdef MADV_HUGEPAGE
        if (p != NULL)
            madvise(p, rounded, MADV_HUGEPAGE);
#endif
        return p;
    }
    return malloc(size ? size : 1);
}

#endif /* WN_UCX_ALLOC_H */
