/* wn_emit, wn_metric_add: hand a stage's outputs and metrics to whatever executor owns the emitter.
 */
#include "build_config.h"

#include <stddef.h>

#include <winnow/backend.h>
#include <winnow/stage.h>

int wn_emit(struct wn_emitter *out, struct wn_task *task)
{
    if (task == NULL)
        return WN_EINVAL;
    if (out == NULL || out->emit == NULL) {
        wn_task_free(task);
        return WN_EINVAL;
    }
    return out->emit(out, task);
}

int wn_metric_add(struct wn_emitter *out, const char *name, double value)
{
    const struct wn_emitter_ext *ext;

    if (out == NULL || name == NULL || name[0] == '\0')
        return WN_EINVAL;
    ext = out->reserved[0];
    if (ext == NULL || ext->version < 1 || ext->metric == NULL)
        return 0;
    return ext->metric(out, name, value);
}
