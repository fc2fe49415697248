/*
 * What the text filters share: finding the text column, running a per-row
 * keep decision over a batch, replacing each table with its kept rows and
 * recording the rows dropped in the task metadata ("<stage>.dropped").
 */
#ifndef WINNOW_STAGES_FILTERS_TEXT_FILTER_H
#define WINNOW_STAGES_FILTERS_TEXT_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/stage.h>

/* Decides whether to keep a row from its text (NULL for a null cell, len 0). */
typedef int (*filters_keep_fn)(const void *config, const char *text, size_t len);

/* The part of a filter's state every filter has. */
struct filters_common {
    char *stage_name;       /* the configured name (from setup), or the descriptor's */
    const char *text_field; /* from the params: valid for the whole run */
};

/* Fills common from params ("text_field") and the descriptor name; 0 or WN_ENOMEM. */
int filters_common_init(struct filters_common *common, const struct wn_params *params,
                        const char *stage_name, struct wn_error *err);

/* Takes the configured stage name from worker (setup hook); 0 or WN_ENOMEM. */
int filters_common_setup(struct filters_common *common, const struct wn_worker *worker,
                         struct wn_error *err);

void filters_common_clear(struct filters_common *common);

/*
 * Index in table of the string column common->text_field.  A missing column is
 * WN_ENOTFOUND and a non-string one WN_EINVAL, with a message naming the
 * stage, the task, the column and the columns there are.
 */
int filters_text_column(const struct filters_common *common, const struct wn_task *task,
                        int64_t *col, struct wn_error *err);

/*
 * Runs keep over the text of every row of every input, then (only when all
 * inputs succeeded) takes each input, replaces its table with the rows kept,
 * sets "<stage>.dropped" and emits it.  On failure the inputs stay in place.
 */
int filters_run(const struct filters_common *common, filters_keep_fn keep, const void *config,
                struct wn_task **in, size_t n_in, struct wn_emitter *out, struct wn_error *err);

#endif /* WINNOW_STAGES_FILTERS_TEXT_FILTER_H */
