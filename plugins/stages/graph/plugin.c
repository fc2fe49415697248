/* The graph plugin: its descriptor and entry point. */
#include "build_config.h"

#include <stddef.h>

#include <winnow/plugin.h>

#include "connected_components.h"

static const struct wn_stage_desc *const graph_stages[] = { &wn_connected_components_stage, NULL };

static const struct wn_plugin graph_plugin = { WN_PLUGIN_HEADER,
                                               "graph",
                                               PACKAGE_VERSION,
                                               "MIT",
                                               "graph stages: distributed connected components",
                                               graph_stages,
                                               NULL,
                                               { NULL } };

WN_PLUGIN_DEFINE(&graph_plugin)
