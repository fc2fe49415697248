/* The nccl plugin: its descriptor and entry point (the provider is in nccl_comms.c). */
#include "build_config.h"

#include <stddef.h>

#include <winnow/plugin.h>

#include "nccl_comms.h"

static const struct wn_backend_desc nccl_backend = {
    WN_BACKEND_HEADER,
    "nccl",
    "collective communicator over NCCL: one CUDA device per rank (RAFT-style handles)",
    WN_BACKEND_COMMS,
    wn_nccl_params,
    &wn_nccl_provider_ops,
    { NULL }
};

static const struct wn_backend_desc *const nccl_backends[] = { &nccl_backend, NULL };

static const struct wn_plugin nccl_plugin = { WN_PLUGIN_HEADER,
                                              "nccl",
                                              PACKAGE_VERSION,
                                              "MIT",
                                              "the nccl comms provider for COMMS stages on GPUs",
                                              NULL,
                                              nccl_backends,
                                              { NULL } };

WN_PLUGIN_DEFINE(&nccl_plugin)
