/* Batching for the actor_pool executor (the seed's rule, see batching.h). */
#include "build_config.h"

#include <stdlib.h>

#include "batching.h"

int wn_batching_split(size_t n_tasks, size_t batch_size, size_t n_chunks,
                      struct wn_batch_range **out, size_t *n_out, struct wn_error *err)
{
    struct wn_batch_range *ranges;
    size_t count, start = 0;

    *out = NULL;
    *n_out = 0;
    if ((batch_size > 0) == (n_chunks > 0))
        return wn_error_set(err, WN_EINVAL,
                            "batching takes exactly one of a batch size and a chunk count "
                            "(got batch size %zu, chunk count %zu)",
                            batch_size, n_chunks);
    if (n_tasks == 0)
        return 0;
    if (batch_size > 0)
        count = n_tasks / batch_size + (n_tasks % batch_size != 0);
    else
        count = n_chunks < n_tasks ? n_chunks : n_tasks; /* empty chunks dropped */
    ranges = malloc(count * sizeof(*ranges));
    if (ranges == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory cutting %zu tasks into %zu batches",
                            n_tasks, count);
    for (size_t i = 0; i < count; i++) {
        size_t len;

        if (batch_size > 0)
            len = n_tasks - start < batch_size ? n_tasks - start : batch_size;
        else
            len = n_tasks / count + (i < n_tasks % count);
        ranges[i].start = start;
        ranges[i].len = len;
        start += len;
    }
    *out = ranges;
    *n_out = count;
    return 0;
}

/* Batches published at once, and taken at once (at most), by default; tasks
 * that small batches are grouped into; work an actor takes at once when
 * its batches are short. */
#define PUBLISH_EVERY 16u
#define CLAIM_MAX 8u
#define GROUP_TASKS 64u
#define CLAIM_BUDGET_NS 100000u

uint32_t wn_batching_publish_every(uint32_t batch_size)
{
    uint32_t group = GROUP_TASKS / (batch_size ? batch_size : 1);

    return group > PUBLISH_EVERY ? group : PUBLISH_EVERY;
}

uint64_t wn_batching_claim(uint64_t queued, uint32_t actors, uint32_t batch_size,
                           uint64_t last_batch_ns)
{
    uint64_t group = GROUP_TASKS / (batch_size ? batch_size : 1), limit = CLAIM_MAX, k;

    if (group > CLAIM_MAX && last_batch_ns > 0) {
        uint64_t by_time = CLAIM_BUDGET_NS / last_batch_ns;

        limit = by_time > group ? group : by_time < CLAIM_MAX ? CLAIM_MAX : by_time;
    }
    k = queued / (actors ? actors : 1);
    return k < 1 ? 1 : k > limit ? limit : k;
}
