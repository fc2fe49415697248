/* wn_params_*: parameters validated against the spec a plugin declares. */
#include "build_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/params.h>

#include "params_internal.h"

struct wn_params {
    const struct wn_param_spec *spec;
    json_t *values; /* object: every given value, then every default */
};

const char *wn_param_type_name(enum wn_param_type type)
{
    switch (type) {
    case WN_PARAM_BOOL: return "boolean";
    case WN_PARAM_INT: return "integer";
    case WN_PARAM_DOUBLE: return "number";
    case WN_PARAM_STRING: return "string";
    case WN_PARAM_STRING_LIST: return "list of strings";
    default: return "unknown type";
    }
}

static const char *json_type_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "an unknown value";
}

static const struct wn_param_spec *spec_find(const struct wn_param_spec *spec, const char *name)
{
    for (; spec != NULL && spec->type != WN_PARAM_END; spec++)
        if (spec->name != NULL && strcmp(spec->name, name) == 0)
            return spec;
    return NULL;
}

static void spec_names(const struct wn_param_spec *spec, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (; spec != NULL && spec->type != WN_PARAM_END && used < size; spec++) {
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", spec->name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (buf[0] == '\0')
        snprintf(buf, size, "none");
}

static int check_range(const struct wn_param_spec *spec, double value, const char *path, int code,
                       struct wn_error *err)
{
    if ((spec->flags & WN_PARAM_HAS_MIN) && value < spec->min)
        return wn_error_set(err, code, "%s: %.17g is below the minimum %.17g", path, value,
                            spec->min);
    if ((spec->flags & WN_PARAM_HAS_MAX) && value > spec->max)
        return wn_error_set(err, code, "%s: %.17g is above the maximum %.17g", path, value,
                            spec->max);
    return 0;
}

/* Checks one value against its spec entry.  On success *normalized is a new
 * reference to the value to store (a lone string becomes a one-element list). */
static int check_value(const struct wn_param_spec *spec, json_t *value, const char *path, int code,
                       json_t **normalized, struct wn_error *err)
{
    *normalized = NULL;
    switch (spec->type) {
    case WN_PARAM_BOOL:
        if (!json_is_boolean(value))
            return wn_error_set(err, code, "%s: expected a boolean, got %s", path,
                                json_type_name(value));
        break;
    case WN_PARAM_INT:
        if (!json_is_integer(value))
            return wn_error_set(err, code, "%s: expected an integer, got %s", path,
                                json_type_name(value));
        if (check_range(spec, (double)json_integer_value(value), path, code, err) < 0)
            return code;
        break;
    case WN_PARAM_DOUBLE:
        if (!json_is_number(value))
            return wn_error_set(err, code, "%s: expected a number, got %s", path,
                                json_type_name(value));
        if (check_range(spec, json_number_value(value), path, code, err) < 0)
            return code;
        break;
    case WN_PARAM_STRING:
        if (!json_is_string(value))
            return wn_error_set(err, code, "%s: expected a string, got %s", path,
                                json_type_name(value));
        if (spec->choices != NULL) {
            const char *s = json_string_value(value);
            char allowed[512];
            size_t used = 0;
            int found = 0;

            allowed[0] = '\0';
            for (const char *const *c = spec->choices; *c != NULL; c++) {
                if (strcmp(*c, s) == 0)
                    found = 1;
                if (used < sizeof(allowed)) {
                    int n = snprintf(allowed + used, sizeof(allowed) - used, "%s\"%s\"",
                                     used ? ", " : "", *c);
                    if (n > 0)
                        used += (size_t)n;
                }
            }
            if (!found)
                return wn_error_set(err, code, "%s: \"%s\" is not one of %s", path, s, allowed);
        }
        break;
    case WN_PARAM_STRING_LIST: {
        size_t i;
        json_t *item;

        if (json_is_string(value)) {
            json_t *list = json_array();
            if (list == NULL || json_array_append(list, value) < 0) {
                json_decref(list);
                return wn_error_set(err, WN_ENOMEM, "%s: out of memory", path);
            }
            *normalized = list;
            value = list;
        } else if (!json_is_array(value)) {
            return wn_error_set(err, code, "%s: expected a list of strings, got %s", path,
                                json_type_name(value));
        }
        json_array_foreach(value, i, item)
        {
            if (!json_is_string(item)) {
                json_decref(*normalized);
                *normalized = NULL;
                return wn_error_set(err, code, "%s[%zu]: expected a string, got %s", path, i,
                                    json_type_name(item));
            }
        }
        if ((spec->flags & WN_PARAM_HAS_MIN) && (double)json_array_size(value) < spec->min) {
            json_decref(*normalized);
            *normalized = NULL;
            return wn_error_set(err, code, "%s: needs at least %.0f element(s), got %zu", path,
                                spec->min, json_array_size(value));
        }
        if ((spec->flags & WN_PARAM_HAS_MAX) && (double)json_array_size(value) > spec->max) {
            json_decref(*normalized);
            *normalized = NULL;
            return wn_error_set(err, code, "%s: takes at most %.0f element(s), got %zu", path,
                                spec->max, json_array_size(value));
        }
        if (*normalized != NULL)
            return 0;
        break;
    }
    default:
        return wn_error_set(err, WN_EPLUGIN, "%s: the parameter spec has an unknown type %d", path,
                            (int)spec->type);
    }
    *normalized = json_incref(value);
    return 0;
}

/* Parses and checks the default of one spec entry; *out is NULL when it has none. */
static int parse_default(const struct wn_param_spec *spec, const char *owner, json_t **out,
                         struct wn_error *err)
{
    json_error_t jerr;
    json_t *parsed;
    char path[512];
    int rc;

    *out = NULL;
    if (spec->default_json == NULL)
        return 0;
    snprintf(path, sizeof(path), "%s: default of parameter '%s'", owner, spec->name);
    parsed = json_loads(spec->default_json, JSON_DECODE_ANY, &jerr);
    if (parsed == NULL)
        return wn_error_set(err, WN_EPLUGIN, "%s: '%s' is not valid JSON (%s)", path,
                            spec->default_json, jerr.text);
    rc = check_value(spec, parsed, path, WN_EPLUGIN, out, err);
    json_decref(parsed);
    return rc;
}

int wn_params_check_spec(const struct wn_param_spec *spec, const char *owner, struct wn_error *err)
{
    for (const struct wn_param_spec *s = spec; s != NULL && s->type != WN_PARAM_END; s++) {
        json_t *def;
        int rc;

        if (s->name == NULL || s->name[0] == '\0')
            return wn_error_set(err, WN_EPLUGIN, "%s: parameter %td has no name", owner, s - spec);
        if (s->type < WN_PARAM_BOOL || s->type > WN_PARAM_STRING_LIST)
            return wn_error_set(err, WN_EPLUGIN, "%s: parameter '%s' has unknown type %d", owner,
                                s->name, (int)s->type);
        if (spec_find(spec, s->name) != s)
            return wn_error_set(err, WN_EPLUGIN, "%s: parameter '%s' is declared twice", owner,
                                s->name);
        if (s->choices != NULL && s->type != WN_PARAM_STRING)
            return wn_error_set(err, WN_EPLUGIN,
                                "%s: parameter '%s' has choices but is not a string", owner,
                                s->name);
        rc = parse_default(s, owner, &def, err);
        if (rc < 0)
            return rc;
        json_decref(def);
    }
    return 0;
}

int wn_params_new(const struct wn_param_spec *spec, const json_t *given, const char *json_path,
                  struct wn_params **out, struct wn_error *err)
{
    struct wn_params *params;
    const char *key;
    json_t *value;
    char path[1024];
    int rc;

    *out = NULL;
    if (json_path == NULL)
        json_path = "params";
    if (given != NULL && !json_is_object(given))
        return wn_error_set(err, WN_ECONFIG, "%s: expected an object, got %s", json_path,
                            json_type_name(given));
    params = calloc(1, sizeof(*params));
    if (params == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    params->spec = spec;
    params->values = json_object();
    if (params->values == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "out of memory");
        goto out_free;
    }

    /* json_object_foreach is not const-correct in jansson; the object is only read. */
    json_object_foreach((json_t *)given, key, value)
    {
        const struct wn_param_spec *s = spec_find(spec, key);
        json_t *normalized;

        snprintf(path, sizeof(path), "%s.%s", json_path, key);
        if (s == NULL) {
            char names[512];
            spec_names(spec, names, sizeof(names));
            rc = wn_error_set(err, WN_ECONFIG, "%s: unknown parameter '%s' (known: %s)", path, key,
                              names);
            goto out_free;
        }
        rc = check_value(s, value, path, WN_ECONFIG, &normalized, err);
        if (rc < 0)
            goto out_free;
        json_object_set_new(params->values, key, normalized);
    }

    for (const struct wn_param_spec *s = spec; s != NULL && s->type != WN_PARAM_END; s++) {
        json_t *def;

        if (json_object_get(params->values, s->name) != NULL)
            continue;
        if (s->flags & WN_PARAM_REQUIRED) {
            rc = wn_error_set(err, WN_ECONFIG, "%s.%s: required parameter missing (%s%s%s)",
                              json_path, s->name, wn_param_type_name(s->type), s->help ? ": " : "",
                              s->help ? s->help : "");
            goto out_free;
        }
        snprintf(path, sizeof(path), "%s.%s", json_path, s->name);
        rc = parse_default(s, path, &def, err);
        if (rc < 0)
            goto out_free;
        if (def != NULL)
            json_object_set_new(params->values, s->name, def);
    }
    *out = params;
    return 0;

out_free:
    wn_params_free(params);
    return rc;
}

void wn_params_free(struct wn_params *params)
{
    if (params == NULL)
        return;
    json_decref(params->values);
    free(params);
}

const json_t *wn_params_json(const struct wn_params *params)
{
    return params ? params->values : NULL;
}

static json_t *lookup(const struct wn_params *params, const char *name)
{
    if (params == NULL || name == NULL)
        return NULL;
    return json_object_get(params->values, name);
}

int wn_params_has(const struct wn_params *params, const char *name)
{
    return lookup(params, name) != NULL;
}

int wn_params_get_bool(const struct wn_params *params, const char *name)
{
    return json_is_true(lookup(params, name));
}

int64_t wn_params_get_int(const struct wn_params *params, const char *name)
{
    json_t *v = lookup(params, name);

    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return 0;
}

double wn_params_get_double(const struct wn_params *params, const char *name)
{
    json_t *v = lookup(params, name);

    return json_is_number(v) ? json_number_value(v) : 0.0;
}

const char *wn_params_get_string(const struct wn_params *params, const char *name)
{
    return json_string_value(lookup(params, name));
}

size_t wn_params_get_list_size(const struct wn_params *params, const char *name)
{
    return json_array_size(lookup(params, name));
}

const char *wn_params_get_list_item(const struct wn_params *params, const char *name, size_t i)
{
    return json_string_value(json_array_get(lookup(params, name), i));
}
