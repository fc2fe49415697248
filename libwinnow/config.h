/*
 * Pipeline configuration files (JSON, loaded with jansson).
 *
 *   {
 *     "dataset": "optional dataset name of the initial task",
 *     "executor": { "backend": "actor_pool", "env": { "K": "V" }, ...backend params },
 *     "stages": [ { "stage": "word_count", "name": "...", "params": { ... },
 *                   "resources": { "cpus": 1, "gpus": 0, "gpu_memory_gb": 0, "entire_gpu": false },
 *                   "batch_size": 1, "actors": 2, "on_error": "fail|retry|skip",
 *                   "max_retries": 3, "timeout_s": 0, "comms": "ucx", "shuffle": "ucx",
 *                   "comms_params": { "timeout_s": 60 },
 *                   "shuffle_params": { "memory_limit": 1073741824 } } ]
 *   }
 *
 * Loading checks syntax ("file:line:col: message"), duplicate keys, unknown
 * keys, types and ranges of everything but stage params ("file: stages[2].batch_size: ...").
 * Resolving checks each stage exists, its params against its declared spec,
 * adjacent stages' payload compatibility and the backend's params.
 *
 * Ranges: batch_size 1..2^31-1 (default: the descriptor's, else 1), actors
 * 1..65536 (absent: sized by the executor), max_retries 0..1000 (absent: 3 with
 * "on_error": "retry", else 0), timeout_s and resources >= 0.  Configured names
 * ("name", default the stage name) are unique.  A COMMS stage needs "comms", a
 * SHUFFLE stage "shuffle", each naming a loaded backend of that kind; other
 * stages take neither.  "comms_params" (COMMS stages only) and
 * "shuffle_params" (SHUFFLE stages only) are checked against the provider's
 * param spec.  The executor backend defaults to "actor_pool"; its
 * keys other than "backend" and "env" are checked against its param spec.
 *
 * A config is used from one thread at a time; it owns its JSON document.
 */
#ifndef WINNOW_LIB_CONFIG_H
#define WINNOW_LIB_CONFIG_H

#include <winnow/error.h>

#include "pipeline.h"
#include "registry.h"

struct wn_config;

/* Loads and checks a config file (*out owned by the caller).  *out is NULL on failure. */
int wn_config_load_file(const char *path, struct wn_config **out, struct wn_error *err);

/* Same from a string; source names it in messages. */
int wn_config_load_string(const char *text, const char *source, struct wn_config **out,
                          struct wn_error *err);

/* Frees the config. NULL is fine. */
void wn_config_free(struct wn_config *config);

/* The file name (or source) messages start with; owned by the config. */
const char *wn_config_source(const struct wn_config *config);

/*
 * Applies one command-line override "path=value" (`--set`): path is dotted,
 * numbers index arrays ("stages.2.params.num_bands"); value is parsed as JSON,
 * or taken as a string when it is not valid JSON.  Missing objects on the path
 * are created; an array index must exist.  Re-checks the document; on failure
 * the config is left unchanged and the message starts with "--set PATH=VALUE".
 * Later resolve errors about the part an override touched name it too.
 */
int wn_config_set(struct wn_config *config, const char *assignment, struct wn_error *err);

/* Resolves the config against the registry into a runnable pipeline (*out owned
 * by the caller, freed with wn_pipeline_free before the registry; NULL on
 * failure).  Calls no plugin code. */
int wn_config_resolve(const struct wn_config *config, const struct wn_registry *registry,
                      struct wn_pipeline **out, struct wn_error *err);

#endif /* WINNOW_LIB_CONFIG_H */
