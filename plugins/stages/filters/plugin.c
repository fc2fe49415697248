/* The filters plugin: heuristic text filters (word_count, non_alpha_numeric). */
#include "build_config.h"

#include <stddef.h>

#include <winnow/plugin.h>

#include "non_alpha_numeric.h"
#include "word_count.h"

static const struct wn_stage_desc *const filters_stages[] = {
    &filters_word_count_stage,
    &filters_non_alpha_numeric_stage,
    NULL,
};

static const struct wn_plugin filters_plugin = {
    WN_PLUGIN_HEADER,
    "filters",
    PACKAGE_VERSION,
    "MIT",
    "heuristic text filters of NeMo Curator: word count, non-alphanumeric ratio",
    filters_stages,
    NULL,
    { NULL },
};

WN_PLUGIN_DEFINE(&filters_plugin)
