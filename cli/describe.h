/* Human-readable descriptions of plugins, stages and backends for the CLI. */
#ifndef WINNOW_CLI_DESCRIBE_H
#define WINNOW_CLI_DESCRIBE_H

#include <stdio.h>

#include <winnow/plugin.h>

/* "EMPTY|FILES" for a payload bit set, into buf. */
const char *wn_describe_payloads(uint32_t bits, char *buf, size_t size);
const char *wn_describe_stage_kind(enum wn_stage_kind kind);
const char *wn_describe_backend_kind(enum wn_backend_kind kind);

/* Prints a param spec as an indented table (name, type, default, constraints, help). */
void wn_describe_params(FILE *out, const struct wn_param_spec *spec, const char *indent);

/* Prints everything `winnow inspect` shows for a stage or a backend. */
void wn_describe_stage(FILE *out, const struct wn_stage_desc *stage, const char *plugin_path);
void wn_describe_backend(FILE *out, const struct wn_backend_desc *backend, const char *plugin_path);

#endif /* WINNOW_CLI_DESCRIBE_H */
