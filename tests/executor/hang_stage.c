/*
 * Fixture plugin for tests/executor/cli_timeout.sh: stage "hang_forever",
 * whose process_batch never returns on the task named by its "hang_on"
 * param (and forwards the others), so that `winnow run` meets timeout_s.
 */
#include "build_config.h"

#include <string.h>
#include <unistd.h>

#include <winnow/plugin.h>

static const struct wn_param_spec hang_params[] = {
    { "hang_on", WN_PARAM_STRING, 0, "\"root\"", 0, 0, NULL, "the task id to hang on" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

static int hang_process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                        struct wn_error *err)
{
    (void)state;
    (void)err;
    for (size_t i = 0; i < n_in; i++) {
        if (strcmp(wn_task_id(in[i]), "root") == 0)
            for (;;)
                pause();
        if (wn_emit(out, wn_task_take(&in[i])) < 0)
            return WN_EIO;
    }
    return 0;
}

static const struct wn_stage_ops hang_ops = { WN_STAGE_OPS_VERSION, NULL, NULL, NULL,
                                              hang_process,         NULL, NULL, { NULL } };

static const struct wn_stage_desc hang_stage = { WN_STAGE_HEADER,
                                                 "hang_forever",
                                                 "never returns on the root task",
                                                 hang_params,
                                                 { 1, 0, 0, 0 },
                                                 1,
                                                 WN_STAGE_PLAIN,
                                                 WN_PAYLOADS_ANY,
                                                 WN_PAYLOADS_ANY,
                                                 NULL,
                                                 &hang_ops,
                                                 NULL,
                                                 { NULL } };

static const struct wn_stage_desc *const hang_stages[] = { &hang_stage, NULL };

static const struct wn_plugin hang_plugin = {
    WN_PLUGIN_HEADER, "hang_stage", "1.0",   "MIT", "a stage that hangs (tests)",
    hang_stages,      NULL,         { NULL }
};

WN_PLUGIN_DEFINE(&hang_plugin)
