/* non_alpha_numeric: keeps rows whose share of non-alphanumeric code points is low. */
#ifndef WINNOW_STAGES_FILTERS_NON_ALPHA_NUMERIC_H
#define WINNOW_STAGES_FILTERS_NON_ALPHA_NUMERIC_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/stage.h>

extern const struct wn_stage_desc filters_non_alpha_numeric_stage;

/* Nonzero when code point cp counts as alphanumeric (rule in non_alpha_numeric.c). */
int filters_is_alphanumeric(uint32_t cp);

/*
 * Non-alphanumeric code points / all code points of text[0..len) (UTF-8; an
 * ill-formed sequence counts as one non-alphanumeric code point).  Empty
 * text has ratio 1.  Any thread.
 */
double filters_non_alphanumeric_ratio(const char *text, size_t len);

#endif /* WINNOW_STAGES_FILTERS_NON_ALPHA_NUMERIC_H */
