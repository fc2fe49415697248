/* wn_cc_*: distributed connected components (see components.h for the algorithm). */
#include "build_config.h"

#include <stdlib.h>
#include <string.h>

#include "components.h"

/* Large-Star/Small-Star needs O(log^2 n) rounds; this many means a bug. */
#define MAX_ROUNDS 4096

struct pair {
    uint64_t a, b;
};

/* A growable array of pairs. */
struct pairs {
    struct pair *v;
    size_t n, cap;
};

static void pairs_free(struct pairs *p)
{
    free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
}

static int pairs_reserve(struct pairs *p, size_t n)
{
    struct pair *v;
    size_t cap;

    if (n <= p->cap)
        return 0;
    cap = p->cap ? p->cap : 64;
    while (cap < n)
        cap *= 2;
    v = realloc(p->v, cap * sizeof(*v));
    if (v == NULL)
        return WN_ENOMEM;
    p->v = v;
    p->cap = cap;
    return 0;
}

static int pairs_push(struct pairs *p, uint64_t a, uint64_t b)
{
    if (p->n == p->cap && pairs_reserve(p, p->n + 1) < 0)
        return WN_ENOMEM;
    p->v[p->n].a = a;
    p->v[p->n].b = b;
    p->n++;
    return 0;
}

static int pair_cmp(const void *x, const void *y)
{
    const struct pair *p = x, *q = y;

    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    if (p->b != q->b)
        return p->b < q->b ? -1 : 1;
    return 0;
}

/* Sorts by (a, b) and drops duplicates. */
static void pairs_sort_unique(struct pairs *p)
{
    size_t w = 0;

    if (p->n < 2)
        return;
    qsort(p->v, p->n, sizeof(*p->v), pair_cmp);
    for (size_t i = 1; i < p->n; i++)
        if (pair_cmp(&p->v[i], &p->v[w]) != 0)
            p->v[++w] = p->v[i];
    p->n = w + 1;
}

static int u64_cmp(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

    return a < b ? -1 : a > b;
}

uint32_t wn_cc_owner(uint64_t id, uint32_t size)
{
    /* splitmix64's finaliser: consecutive ids spread evenly. */
    id ^= id >> 30;
    id *= UINT64_C(0xbf58476d1ce4e5b9);
    id ^= id >> 27;
    id *= UINT64_C(0x94d049bb133111eb);
    id ^= id >> 31;
    return size ? (uint32_t)(id % size) : 0;
}

static int oom(struct wn_comms *comms, const char *what, struct wn_error *err)
{
    return wn_error_set(err, WN_ENOMEM, "connected components, rank %u/%u: out of memory %s",
                        comms->rank, comms->size, what);
}

/*
 * All-to-all: every pair of *send goes to the rank owning pair.a; *recv gets
 * the pairs this rank owns (in no particular order).  *send is emptied.
 * Counts travel first (an allgather of each rank's per-destination counts),
 * then the pairs, in size - 1 pairwise sendrecv steps.
 */
static int exchange(struct wn_comms *comms, struct pairs *send, struct pairs *recv,
                    struct wn_error *err)
{
    uint32_t size = comms->size, me = comms->rank;
    uint64_t *counts = NULL, *matrix = NULL;
    size_t *offsets = NULL, *recv_offsets = NULL, total = 0;
    struct pair *sorted = NULL;
    int rc = 0;

    recv->n = 0;
    counts = calloc(size, sizeof(*counts));
    matrix = calloc((size_t)size * size, sizeof(*matrix));
    offsets = calloc((size_t)size + 1, sizeof(*offsets));
    recv_offsets = calloc((size_t)size + 1, sizeof(*recv_offsets));
    sorted = malloc((send->n ? send->n : 1) * sizeof(*sorted));
    if (counts == NULL || matrix == NULL || offsets == NULL || recv_offsets == NULL ||
        sorted == NULL) {
        rc = oom(comms, "for an exchange", err);
        goto out_free;
    }

    /* Bucket by destination. */
    for (size_t i = 0; i < send->n; i++)
        counts[wn_cc_owner(send->v[i].a, size)]++;
    for (uint32_t r = 0; r < size; r++)
        offsets[r + 1] = offsets[r] + counts[r];
    for (size_t i = 0; i < send->n; i++) {
        uint32_t r = wn_cc_owner(send->v[i].a, size);

        sorted[offsets[r]++] = send->v[i];
    }
    for (uint32_t r = size; r > 0; r--)
        offsets[r] = offsets[r - 1];
    offsets[0] = 0;
    pairs_free(send);

    /* Who sends me how much. */
    rc = wn_comms_allgather(comms, counts, matrix, size, WN_COMMS_UINT64, WN_COMMS_HOST, err);
    if (rc < 0)
        goto out_free;
    for (uint32_t r = 0; r < size; r++) {
        recv_offsets[r] = total;
        total += matrix[(size_t)r * size + me];
    }
    recv_offsets[size] = total;
    if (pairs_reserve(recv, total ? total : 1) < 0) {
        rc = oom(comms, "receiving an exchange", err);
        goto out_free;
    }

    for (uint32_t step = 0; step < size; step++) {
        uint32_t dest = (me + step) % size, source = (me + size - step) % size;
        size_t n_send = counts[dest], n_recv = matrix[(size_t)source * size + me];

        if (step == 0) {
            if (n_send > 0)
                memcpy(recv->v + recv_offsets[me], sorted + offsets[me], n_send * sizeof(*sorted));
            continue;
        }
        rc = wn_comms_sendrecv(comms, sorted + offsets[dest], 2 * n_send, dest,
                               recv->v + recv_offsets[source], 2 * n_recv, source, WN_COMMS_UINT64,
                               WN_COMMS_HOST, err);
        if (rc < 0)
            goto out_free;
    }
    recv->n = total;

out_free:
    free(sorted);
    free(recv_offsets);
    free(offsets);
    free(matrix);
    free(counts);
    return rc;
}

/* ---- step 1: local contraction ------------------------------------------- */

static size_t uf_find(size_t *parent, size_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

static size_t index_of(const uint64_t *ids, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Replaces this rank's edges by stars: (v, smallest vertex of v's local
 * component) for every v that is not that smallest vertex; vertices alone in
 * their local component go to *singles as (v, v).
 */
static int contract(struct wn_comms *comms, const uint64_t *edges, size_t n_edges,
                    const uint64_t *vertices, size_t n_vertices, struct pairs *stars,
                    struct pairs *singles, struct wn_error *err)
{
    uint64_t *ids = NULL;
    size_t *parent = NULL;
    unsigned char *has_member = NULL;
    size_t n = 0;
    int rc = 0;

    ids = malloc((2 * n_edges + n_vertices + 1) * sizeof(*ids));
    if (ids == NULL) {
        rc = oom(comms, "for the local vertices", err);
        goto out_free;
    }
    for (size_t i = 0; i < 2 * n_edges; i++)
        ids[n++] = edges[i];
    for (size_t i = 0; i < n_vertices; i++)
        ids[n++] = vertices[i];
    qsort(ids, n, sizeof(*ids), u64_cmp);
    if (n > 1) {
        size_t w = 0;

        for (size_t i = 1; i < n; i++)
            if (ids[i] != ids[w])
                ids[++w] = ids[i];
        n = w + 1;
    }
    parent = malloc((n + 1) * sizeof(*parent));
    has_member = calloc(n + 1, 1);
    if (parent == NULL || has_member == NULL) {
        rc = oom(comms, "for the local union-find", err);
        goto out_free;
    }
    for (size_t i = 0; i < n; i++)
        parent[i] = i;
    for (size_t e = 0; e < n_edges; e++) {
        size_t x = uf_find(parent, index_of(ids, n, edges[2 * e]));
        size_t y = uf_find(parent, index_of(ids, n, edges[2 * e + 1]));

        /* The smaller index (the smaller id) stays the root. */
        if (x < y)
            parent[y] = x;
        else if (y < x)
            parent[x] = y;
    }
    for (size_t i = 0; i < n; i++) {
        size_t root = uf_find(parent, i);

        if (root != i) {
            has_member[root] = 1;
            if (pairs_push(stars, ids[i], ids[root]) < 0) {
                rc = oom(comms, "for the local stars", err);
                goto out_free;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (parent[i] == i && !has_member[i] && pairs_push(singles, ids[i], ids[i]) < 0) {
            rc = oom(comms, "for the local vertices", err);
            goto out_free;
        }

out_free:
    free(has_member);
    free(parent);
    free(ids);
    return rc;
}

/* ---- step 2: Large-Star and Small-Star ------------------------------------ */

/*
 * Large-Star: each vertex u hooks its larger neighbours onto m, the smallest
 * of u and its neighbours.  edges (x > y) is consumed; *out gets (v, m), v > m.
 */
static int large_star(struct wn_comms *comms, struct pairs *edges, struct pairs *out,
                      uint64_t *changes, struct wn_error *err)
{
    struct pairs send = { 0 }, recv = { 0 };
    int rc;

    if (pairs_reserve(&send, 2 * edges->n + 1) < 0) {
        rc = oom(comms, "for a Large-Star round", err);
        goto out_free;
    }
    for (size_t i = 0; i < edges->n; i++) {
        send.v[send.n++] = edges->v[i];
        send.v[send.n].a = edges->v[i].b;
        send.v[send.n++].b = edges->v[i].a;
    }
    pairs_free(edges);
    rc = exchange(comms, &send, &recv, err);
    if (rc < 0)
        goto out_free;
    pairs_sort_unique(&recv);
    out->n = 0;
    for (size_t i = 0; i < recv.n;) {
        uint64_t u = recv.v[i].a;
        uint64_t m = recv.v[i].b < u ? recv.v[i].b : u;
        size_t j = i;

        for (; j < recv.n && recv.v[j].a == u; j++) {
            if (recv.v[j].b <= u)
                continue;
            if (pairs_push(out, recv.v[j].b, m) < 0) {
                rc = oom(comms, "for a Large-Star round", err);
                goto out_free;
            }
            if (m < u)
                (*changes)++;
        }
        i = j;
    }

out_free:
    pairs_free(&send);
    pairs_free(&recv);
    return rc;
}

/*
 * Small-Star: each vertex u hooks itself and its smaller neighbours onto m,
 * the smallest of them.  edges (x > y) is consumed; *out gets (v, m), v > m.
 */
static int small_star(struct wn_comms *comms, struct pairs *edges, struct pairs *out,
                      uint64_t *changes, struct wn_error *err)
{
    struct pairs recv = { 0 };
    int rc;

    rc = exchange(comms, edges, &recv, err);
    if (rc < 0)
        goto out_free;
    pairs_sort_unique(&recv);
    out->n = 0;
    for (size_t i = 0; i < recv.n;) {
        uint64_t u = recv.v[i].a, m = recv.v[i].b; /* sorted: the smallest neighbour */
        size_t j = i;

        if (pairs_push(out, u, m) < 0) {
            rc = oom(comms, "for a Small-Star round", err);
            goto out_free;
        }
        for (j = i + 1; j < recv.n && recv.v[j].a == u; j++) {
            if (pairs_push(out, recv.v[j].b, m) < 0) {
                rc = oom(comms, "for a Small-Star round", err);
                goto out_free;
            }
            (*changes)++;
        }
        i = j;
    }

out_free:
    pairs_free(&recv);
    return rc;
}

/* ---- step 3: labels to owners --------------------------------------------- */

static int gather_labels(struct wn_comms *comms, struct pairs *stars, struct pairs *singles,
                         struct wn_cc_result *out, struct wn_error *err)
{
    struct pairs send = { 0 }, recv = { 0 };
    size_t n = 0;
    int rc;

    if (pairs_reserve(&send, 2 * stars->n + singles->n + 1) < 0) {
        rc = oom(comms, "for the labels", err);
        goto out_free;
    }
    for (size_t i = 0; i < stars->n; i++) {
        send.v[send.n++] = stars->v[i];
        send.v[send.n].a = stars->v[i].b;
        send.v[send.n++].b = stars->v[i].b;
    }
    for (size_t i = 0; i < singles->n; i++)
        send.v[send.n++] = singles->v[i];
    pairs_free(stars);
    pairs_free(singles);
    rc = exchange(comms, &send, &recv, err);
    if (rc < 0)
        goto out_free;
    pairs_sort_unique(&recv);
    out->ids = malloc((recv.n + 1) * sizeof(*out->ids));
    out->groups = malloc((recv.n + 1) * sizeof(*out->groups));
    if (out->ids == NULL || out->groups == NULL) {
        rc = oom(comms, "for the result", err);
        goto out_free;
    }
    /* Sorted by (id, label): the first label of an id is its smallest. */
    for (size_t i = 0; i < recv.n; i++) {
        if (i > 0 && recv.v[i].a == recv.v[i - 1].a)
            continue;
        out->ids[n] = recv.v[i].a;
        out->groups[n] = recv.v[i].b;
        n++;
    }
    out->n = n;

out_free:
    pairs_free(&send);
    pairs_free(&recv);
    return rc;
}

int wn_cc_run(struct wn_comms *comms, const uint64_t *edges, size_t n_edges,
              const uint64_t *vertices, size_t n_vertices, struct wn_cc_result *out,
              struct wn_error *err)
{
    struct pairs current = { 0 }, next = { 0 }, singles = { 0 };
    uint64_t changes, total;
    int rc;

    memset(out, 0, sizeof(*out));
    out->edges_in = n_edges;
    rc = contract(comms, edges, n_edges, vertices, n_vertices, &current, &singles, err);
    if (rc < 0)
        goto out_free;
    for (;;) {
        if (out->rounds >= MAX_ROUNDS) {
            rc = wn_error_set(err, WN_EINTERNAL,
                              "connected components, rank %u/%u: no convergence after %u "
                              "rounds: a bug in the graph plugin, please report it",
                              comms->rank, comms->size, out->rounds);
            goto out_free;
        }
        out->rounds++;
        changes = 0;
        rc = large_star(comms, &current, &next, &changes, err);
        if (rc == 0)
            rc = small_star(comms, &next, &current, &changes, err);
        if (rc == 0)
            rc = wn_comms_allreduce(comms, &changes, &total, 1, WN_COMMS_UINT64, WN_COMMS_SUM,
                                    WN_COMMS_HOST, err);
        if (rc < 0)
            goto out_free;
        if (total == 0)
            break;
    }
    rc = gather_labels(comms, &current, &singles, out, err);

out_free:
    pairs_free(&current);
    pairs_free(&next);
    pairs_free(&singles);
    if (rc < 0)
        wn_cc_result_free(out);
    return rc;
}

void wn_cc_result_free(struct wn_cc_result *result)
{
    if (result == NULL)
        return;
    free(result->ids);
    free(result->groups);
    memset(result, 0, sizeof(*result));
}
