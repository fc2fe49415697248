/* Human-readable descriptions of plugins, stages and backends. */
#include "build_config.h"

#include <stdio.h>
#include <string.h>

#include "describe.h"

const char *wn_describe_payloads(uint32_t bits, char *buf, size_t size)
{
    static const char *const names[] = { "EMPTY", "FILES", "TABLE", "BLOB" };
    size_t used = 0;

    buf[0] = '\0';
    for (unsigned k = 0; k < 4; k++) {
        if (!(bits & WN_PAYLOAD_BIT(k)))
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? "|" : "", names[k]);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    if (used == 0)
        snprintf(buf, size, "none");
    return buf;
}

const char *wn_describe_stage_kind(enum wn_stage_kind kind)
{
    switch (kind) {
    case WN_STAGE_PLAIN: return "plain";
    case WN_STAGE_COMMS: return "comms (collective ranks)";
    case WN_STAGE_SHUFFLE: return "shuffle (insert/extract)";
    }
    return "unknown";
}

const char *wn_describe_backend_kind(enum wn_backend_kind kind)
{
    switch (kind) {
    case WN_BACKEND_EXECUTOR: return "executor";
    case WN_BACKEND_COMMS: return "comms";
    case WN_BACKEND_SHUFFLE: return "shuffle";
    }
    return "unknown";
}

static const char *type_name(enum wn_param_type type)
{
    switch (type) {
    case WN_PARAM_BOOL: return "bool";
    case WN_PARAM_INT: return "int";
    case WN_PARAM_DOUBLE: return "number";
    case WN_PARAM_STRING: return "string";
    case WN_PARAM_STRING_LIST: return "string list";
    default: return "?";
    }
}

void wn_describe_params(FILE *out, const struct wn_param_spec *spec, const char *indent)
{
    if (spec == NULL || spec->type == WN_PARAM_END) {
        fprintf(out, "%s(no parameters)\n", indent);
        return;
    }
    for (const struct wn_param_spec *s = spec; s->type != WN_PARAM_END; s++) {
        fprintf(out, "%s%-20s %-11s", indent, s->name, type_name(s->type));
        if (s->flags & WN_PARAM_REQUIRED)
            fprintf(out, " required");
        else if (s->default_json != NULL)
            fprintf(out, " default %s", s->default_json);
        else
            fprintf(out, " optional");
        if ((s->flags & WN_PARAM_HAS_MIN) && (s->flags & WN_PARAM_HAS_MAX))
            fprintf(out, ", %s %g..%g", s->type == WN_PARAM_STRING_LIST ? "items" : "range", s->min,
                    s->max);
        else if (s->flags & WN_PARAM_HAS_MIN)
            fprintf(out, ", %s %g", s->type == WN_PARAM_STRING_LIST ? "items >=" : ">=", s->min);
        else if (s->flags & WN_PARAM_HAS_MAX)
            fprintf(out, ", %s %g", s->type == WN_PARAM_STRING_LIST ? "items <=" : "<=", s->max);
        if (s->choices != NULL) {
            fprintf(out, ", one of");
            for (const char *const *c = s->choices; *c != NULL; c++)
                fprintf(out, "%s \"%s\"", c == s->choices ? "" : ",", *c);
        }
        fprintf(out, "\n");
        if (s->help != NULL)
            fprintf(out, "%s    %s\n", indent, s->help);
    }
}

static void describe_resources(FILE *out, const struct wn_resources *r)
{
    fprintf(out, "  resources:  cpus %g", r->cpus);
    if (r->gpus > 0)
        fprintf(out, ", gpus %g", r->gpus);
    if (r->gpu_memory_gb > 0)
        fprintf(out, ", gpu_memory_gb %g", r->gpu_memory_gb);
    if (r->entire_gpu)
        fprintf(out, ", entire_gpu");
    fprintf(out, " (per actor; override with \"resources\")\n");
}

void wn_describe_stage(FILE *out, const struct wn_stage_desc *stage, const char *plugin_path)
{
    char in[64], outp[64];

    fprintf(out, "stage %s\n", stage->name);
    if (stage->summary != NULL)
        fprintf(out, "  %s\n", stage->summary);
    fprintf(out, "  plugin:     %s\n", plugin_path);
    fprintf(out, "  kind:       %s\n", wn_describe_stage_kind(stage->kind));
    fprintf(out, "  input:      %s\n", wn_describe_payloads(stage->input_payloads, in, sizeof(in)));
    fprintf(out, "  output:     %s\n",
            wn_describe_payloads(stage->output_payloads, outp, sizeof(outp)));
    fprintf(out, "  batch_size: %u\n", stage->batch_size ? stage->batch_size : 1);
    describe_resources(out, &stage->resources);
    if (stage->required_columns != NULL && stage->required_columns[0] != NULL) {
        fprintf(out, "  columns:   ");
        for (const char *const *c = stage->required_columns; *c != NULL; c++)
            fprintf(out, " %s", *c);
        fprintf(out, "\n");
    }
    fprintf(out, "  params:\n");
    wn_describe_params(out, stage->params, "    ");
}

void wn_describe_backend(FILE *out, const struct wn_backend_desc *backend, const char *plugin_path)
{
    fprintf(out, "backend %s (%s)\n", backend->name, wn_describe_backend_kind(backend->kind));
    if (backend->summary != NULL)
        fprintf(out, "  %s\n", backend->summary);
    fprintf(out, "  plugin:     %s\n", plugin_path);
    fprintf(out, "  params:\n");
    wn_describe_params(out, backend->params, "    ");
}
