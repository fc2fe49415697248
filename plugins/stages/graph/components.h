/*
 * graph — distributed connected components over a wn_comms group.
 *
 * Every rank holds some of the edges.  The result labels every vertex with
 * the smallest vertex id of its component; each vertex is reported by
 * exactly one rank (its owner, a hash of the id), and the union over ranks is
 * the same for any number of ranks.
 *
 * The algorithm (Kiveris et al., "Connected Components in MapReduce and
 * Beyond", 2014), with the work spread over the ranks:
 *   1. each rank contracts its own edges with a union-find into stars
 *      (vertex -> smallest vertex of its local component);
 *   2. rounds of Large-Star then Small-Star: edges are exchanged so that the
 *      owner of a vertex sees all its edges, and each vertex re-hooks its
 *      neighbours onto the smallest id it knows; an allreduce of the number of
 *      edges that changed ends the loop when a round changed none (the graph
 *      is then a star per component, centred on its smallest id);
 *   3. each vertex's label goes to its owner.
 * The exchanges are pairwise sendrecv rounds (an all-to-all); nothing is
 * gathered on one rank.
 */
#ifndef WINNOW_GRAPH_COMPONENTS_H
#define WINNOW_GRAPH_COMPONENTS_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/comms.h>
#include <winnow/error.h>

/* One rank's share of the labels: ids ascending, groups[i] labels ids[i]. */
struct wn_cc_result {
    uint64_t *ids;
    uint64_t *groups;
    size_t n;
    uint32_t rounds;   /* Large-Star + Small-Star rounds run (the same on every rank) */
    uint64_t edges_in; /* edges given to this rank */
};

/*
 * Collective over comms: labels the vertices of the graph whose edges are
 * spread over the ranks.  This rank gives edges[2i], edges[2i + 1] for
 * i < n_edges (undirected; self-loops only declare a vertex) and vertices[0..
 * n_vertices) that exist even without edges.  The inputs are only read.  On
 * success *out holds this rank's vertices (free with wn_cc_result_free()).
 * Every rank must call it; on failure of any collective it fails on every
 * rank.  The rank's actor thread only.
 */
int wn_cc_run(struct wn_comms *comms, const uint64_t *edges, size_t n_edges,
              const uint64_t *vertices, size_t n_vertices, struct wn_cc_result *out,
              struct wn_error *err);

/* Frees the arrays of a result and zeroes it.  NULL is fine. */
void wn_cc_result_free(struct wn_cc_result *result);

/* The rank that owns vertex id in a group of size ranks. */
uint32_t wn_cc_owner(uint64_t id, uint32_t size);

#endif /* WINNOW_GRAPH_COMPONENTS_H */
