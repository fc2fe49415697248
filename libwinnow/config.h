/*
 * Pipeline configuration files (JSON, loaded with jansson).
 *
 *   {
 *     "name": "optional dataset name of the initial task",
 *     "executor": { "backend": "actor_pool", "env": { "K": "V" }, ...backend params },
 *     "stages": [ { "stage": "word_count", "name": "...", "params": { ... },
 *                   "resources": { "cpus": 1, "gpus": 0, "gpu_memory_gb": 0, "entire_gpu": false },
 *                   "batch_size": 1, "actors": 2, "on_error": "fail|retry|skip",
 *                   "max_retries": 3, "timeout_s": 0, "comms": "ucx", "shuffle": "ucx" } ]
 *   }
 *
 * Loading checks syntax ("file:line:col: message"), duplicate keys, unknown
 * keys, types and ranges of everything but stage params ("file: stages[2].batch_size: ...").
 * Resolving checks each stage exists, its params against its declared spec,
 * adjacent stages' payload compatibility and the backend's params.
 */
#ifndef WINNOW_LIB_CONFIG_H
#define WINNOW_LIB_CONFIG_H

#include <winnow/error.h>

#include "pipeline.h"
#include "registry.h"

struct wn_config;

/* Loads and checks a config file.  *out is NULL on failure. */
int wn_config_load_file(const char *path, struct wn_config **out, struct wn_error *err);

/* Same from a string; source names it in messages. */
int wn_config_load_string(const char *text, const char *source, struct wn_config **out,
                          struct wn_error *err);

void wn_config_free(struct wn_config *config);

/*
 * Applies one command-line override "path=value" (`--set`): path is dotted,
 * numbers index arrays ("stages.2.params.num_bands"); value is parsed as JSON,
 * or taken as a string when it is not valid JSON.  Re-checks the document.
 */
int wn_config_set(struct wn_config *config, const char *assignment, struct wn_error *err);

/* Resolves the config against the registry into a runnable pipeline. */
int wn_config_resolve(const struct wn_config *config, const struct wn_registry *registry,
                      struct wn_pipeline **out, struct wn_error *err);

#endif /* WINNOW_LIB_CONFIG_H */
