/* The fuzzy plugin: minhash, lsh, buckets_to_edges and remove_duplicates. */
#include "build_config.h"

#include <stddef.h>

#include <winnow/plugin.h>

#include "buckets_to_edges.h"
#include "lsh.h"
#include "minhash.h"
#include "remove_duplicates.h"

static const struct wn_stage_desc *const fuzzy_stages[] = {
    &fuzzy_minhash_stage,
    &fuzzy_lsh_stage,
    &fuzzy_buckets_to_edges_stage,
    &fuzzy_remove_duplicates_stage,
    NULL,
};

static const struct wn_plugin fuzzy_plugin = {
    WN_PLUGIN_HEADER,
    "fuzzy",
    PACKAGE_VERSION,
    "MIT",
    "fuzzy deduplication: MinHash signatures, LSH buckets, bucket edges, duplicate removal",
    fuzzy_stages,
    NULL,
    { NULL },
};

WN_PLUGIN_DEFINE(&fuzzy_plugin)
