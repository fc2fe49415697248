/* The buckets_to_edges stage (buckets_to_edges.c). */
#ifndef WINNOW_FUZZY_BUCKETS_TO_EDGES_H
#define WINNOW_FUZZY_BUCKETS_TO_EDGES_H

#include <winnow/stage.h>

extern const struct wn_stage_desc fuzzy_buckets_to_edges_stage;

#endif /* WINNOW_FUZZY_BUCKETS_TO_EDGES_H */
