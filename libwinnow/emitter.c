/* wn_emit: hands a stage's output to whatever executor owns the emitter. */
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
