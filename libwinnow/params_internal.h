/* Host side of stage and backend parameters: validation against a spec. */
#ifndef WINNOW_LIB_PARAMS_INTERNAL_H
#define WINNOW_LIB_PARAMS_INTERNAL_H

#include <jansson.h>

#include <winnow/error.h>
#include <winnow/params.h>

/*
 * Checks given (a JSON object, or NULL for none) against spec and returns the
 * validated values with defaults filled in.  given is only read.  json_path
 * names the object in messages ("stages[2].params"), so that an error reads
 * "stages[2].params.min_words: expected an integer, got a string".
 * On failure *out is NULL and err says what and where (WN_ECONFIG), or names
 * the broken default (WN_EPLUGIN).  Any thread.
 */
int wn_params_new(const struct wn_param_spec *spec, const json_t *given, const char *json_path,
                  struct wn_params **out, struct wn_error *err);

/* Frees params. NULL is fine. */
void wn_params_free(struct wn_params *params);

/* Checks a spec as a plugin declares it (names, types, defaults that parse and
 * satisfy their own ranges and choices).  owner names the stage or backend. */
int wn_params_check_spec(const struct wn_param_spec *spec, const char *owner, struct wn_error *err);

/* The validated values as a JSON object (borrowed; lives as long as params). */
const json_t *wn_params_json(const struct wn_params *params);

/* Short name of a param type ("integer", "string list", ...). */
const char *wn_param_type_name(enum wn_param_type type);

#endif /* WINNOW_LIB_PARAMS_INTERNAL_H */
