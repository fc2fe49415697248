/*
 * winnow — stage and backend parameters: the spec a descriptor declares, and
 * the typed getters a plugin reads validated values with.
 *
 * The host checks a configuration's params against the spec (names, types,
 * ranges, choices, required) before any plugin code runs, and fills defaults,
 * so the getters cannot fail on a declared name: a plugin need not link jansson.
 */
#ifndef WINNOW_PARAMS_H
#define WINNOW_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum wn_param_type {
    WN_PARAM_END = 0, /* terminates a spec array */
    WN_PARAM_BOOL,
    WN_PARAM_INT,    /* 64-bit signed */
    WN_PARAM_DOUBLE, /* an integer in JSON is accepted */
    WN_PARAM_STRING,
    WN_PARAM_STRING_LIST /* a JSON array of strings (a lone string is accepted as one element) */
};

/* Flags of a param spec entry. */
#define WN_PARAM_REQUIRED 0x1u /* must be given in the config */
#define WN_PARAM_HAS_MIN 0x2u  /* value >= min (INT, DOUBLE; STRING_LIST: at least min elements) */
#define WN_PARAM_HAS_MAX 0x4u  /* value <= max (INT, DOUBLE; STRING_LIST: at most max elements) */

/* One declared parameter.  An array of them ends with an entry whose type is
 * WN_PARAM_END (a zeroed entry). */
struct wn_param_spec {
    const char *name;
    enum wn_param_type type;
    uint32_t flags;
    const char *default_json;   /* the default as JSON text ("5", "\"x\"", "[]"), or NULL */
    double min, max;            /* with WN_PARAM_HAS_MIN / WN_PARAM_HAS_MAX */
    const char *const *choices; /* STRING only: NULL-terminated allowed values, or NULL */
    const char *help;           /* one line for `winnow inspect` */
};

/* Validated parameter values.  Owned by the host; valid for the whole run;
 * safe to read from any thread. */
struct wn_params;

/* Nonzero when name was given in the config or has a default. */
int wn_params_has(const struct wn_params *params, const char *name);

/* Typed getters for declared names.  An undeclared name or a param without a
 * value gives 0, 0.0, NULL or an empty list. */
int wn_params_get_bool(const struct wn_params *params, const char *name);
int64_t wn_params_get_int(const struct wn_params *params, const char *name);
double wn_params_get_double(const struct wn_params *params, const char *name);
const char *wn_params_get_string(const struct wn_params *params, const char *name);
size_t wn_params_get_list_size(const struct wn_params *params, const char *name);
const char *wn_params_get_list_item(const struct wn_params *params, const char *name, size_t i);

#ifdef __cplusplus
}
#endif

#endif /* WINNOW_PARAMS_H */
