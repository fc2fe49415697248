/* The ucx plugin: a shuffle provider over UCX (and, in comms*.c, a host-memory
 * communicator).  This file holds only the descriptor and the entry point. */
#include "build_config.h"

#include <stddef.h>

#include <winnow/plugin.h>

#include "comms.h"
#include "shuffle_provider.h"

static const struct wn_backend_desc ucx_shuffle_backend = {
    WN_BACKEND_HEADER,
    "ucx",
    "all-to-all shuffle over UCX (tag API; shared memory or network), spilling past memory_limit",
    WN_BACKEND_SHUFFLE,
    wn_ucx_shuffle_params,
    &wn_ucx_shuffle_ops,
    { NULL },
};

static const struct wn_backend_desc ucx_comms_backend = {
    WN_BACKEND_HEADER,
    "ucx",
    "collective communicator over UCX in host memory (COMMS stages without a GPU)",
    WN_BACKEND_COMMS,
    wn_ucx_comms_params,
    &wn_ucx_comms_provider_ops,
    { NULL },
};

static const struct wn_backend_desc *const ucx_backends[] = {
    &ucx_shuffle_backend,
    &ucx_comms_backend,
    NULL,
};

static const struct wn_plugin ucx_plugin = {
    WN_PLUGIN_HEADER,
    "ucx",
    PACKAGE_VERSION,
    "MIT",
    "UCX transport: shuffles and collectives between ranks",
    NULL,
    ucx_backends,
    { NULL },
};

WN_PLUGIN_DEFINE(&ucx_plugin)
