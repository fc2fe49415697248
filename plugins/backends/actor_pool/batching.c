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
