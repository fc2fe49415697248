/*
 * graph — stage connected_components (kind COMMS): labels every vertex of an
 * edge list with the smallest vertex id of its connected component.
 *
 * Input: TABLE tasks with two integer id columns (left_column, right_column;
 * int32, int64 (>= 0), uint32 or uint64).  Each row is an undirected edge; a
 * row whose right id is null (or equal to the left id) declares a vertex
 * without an edge.  Output: one TABLE task per rank with two uint64 columns,
 * id_column and group_column, holding the vertices that rank owns, sorted by
 * id.  Every vertex appears in exactly one rank's output; the union is the
 * same for any number of ranks.
 */
#ifndef WINNOW_GRAPH_CONNECTED_COMPONENTS_H
#define WINNOW_GRAPH_CONNECTED_COMPONENTS_H

#include <winnow/stage.h>

extern const struct wn_stage_desc wn_connected_components_stage;

#endif /* WINNOW_GRAPH_CONNECTED_COMPONENTS_H */
