/* The dedup plugin: exact_dedup (a SHUFFLE stage). */
#include "build_config.h"

#include <stddef.h>

#include <winnow/plugin.h>

#include "exact_dedup.h"

static const struct wn_stage_desc *const dedup_stages[] = {
    &dedup_exact_dedup_stage,
    NULL,
};

static const struct wn_plugin dedup_plugin = {
    WN_PLUGIN_HEADER, "dedup", PACKAGE_VERSION, "MIT", "deduplication stages: exact_dedup",
    dedup_stages,     NULL,    { NULL },
};

WN_PLUGIN_DEFINE(&dedup_plugin)
