/* The remove_duplicates stage (remove_duplicates.c). */
#ifndef WINNOW_FUZZY_REMOVE_DUPLICATES_H
#define WINNOW_FUZZY_REMOVE_DUPLICATES_H

#include <winnow/stage.h>

extern const struct wn_stage_desc fuzzy_remove_duplicates_stage;

#endif /* WINNOW_FUZZY_REMOVE_DUPLICATES_H */
