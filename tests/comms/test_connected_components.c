/*
 * Tests of connected components: the distributed algorithm (wn_cc_run)
 * against a single-thread union-find on random graphs, a long chain and
 * isolated vertices, on 1, 2, 3, 4 and 8 ranks of the ucx comms provider;
 * and the stage itself (tables in, tables out, input errors on one rank
 * failing every rank).
 */
#include "build_config.h"

#include <stdio.h>

#include "cu.h"

#ifndef HAVE_UCX
int main(void)
{
    puts("SKIP: built without UCX (the tests run the ranks over the ucx comms provider)");
    return 77;
}
#else

#include <stdlib.h>
#include <string.h>

#include <winnow/backend.h>
#include <winnow/table.h>
#include <winnow/task.h>

#include "comms.h"
#include "components.h"
#include "connected_components.h"
#include "harness.h"
#include "params_internal.h"

static const uint32_t rank_counts[] = { 1, 2, 3, 4, 8 };
#define N_RANK_COUNTS (sizeof(rank_counts) / sizeof(rank_counts[0]))

static struct wn_params *comms_params;

/* ---- graphs and the reference ---------------------------------------------------- */

struct graph {
    uint64_t *edges; /* 2 * n_edges */
    size_t n_edges;
    uint64_t *lone; /* vertices declared without edges */
    size_t n_lone;
};

static uint64_t rng_next(uint64_t *state)
{
    uint64_t x = (*state += UINT64_C(0x9e3779b97f4a7c15));

    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

static void graph_free(struct graph *g)
{
    free(g->edges);
    free(g->lone);
    memset(g, 0, sizeof(*g));
}

/* A random graph: n_vertices ids drawn from a sparse range (some near
 * UINT64_MAX), n_edges random edges among them, n_lone lone vertices. */
static void graph_random(struct graph *g, uint64_t seed, size_t n_vertices, size_t n_edges,
                         size_t n_lone)
{
    uint64_t *ids = malloc(n_vertices * sizeof(*ids));

    memset(g, 0, sizeof(*g));
    for (size_t i = 0; i < n_vertices; i++) {
        uint64_t r = rng_next(&seed);

        ids[i] = i % 10 == 0 ? UINT64_MAX - (r % 1000000) : r % 5000000;
    }
    g->edges = malloc(2 * n_edges * sizeof(*g->edges));
    g->n_edges = n_edges;
    for (size_t e = 0; e < n_edges; e++) {
        g->edges[2 * e] = ids[rng_next(&seed) % n_vertices];
        g->edges[2 * e + 1] = ids[rng_next(&seed) % n_vertices];
    }
    g->lone = malloc((n_lone + 1) * sizeof(*g->lone));
    g->n_lone = n_lone;
    for (size_t i = 0; i < n_lone; i++)
        g->lone[i] = 6000000 + rng_next(&seed) % 1000000; /* outside the edges' ranges */
    free(ids);
}

/* A chain v0 - v1 - ... in shuffled order, ids decreasing along the chain so
 * that the smallest id sits at the far end. */
static void graph_chain(struct graph *g, uint64_t seed, size_t length)
{
    memset(g, 0, sizeof(*g));
    g->n_edges = length - 1;
    g->edges = malloc(2 * g->n_edges * sizeof(*g->edges));
    g->lone = malloc(sizeof(*g->lone));
    for (size_t e = 0; e < g->n_edges; e++) {
        g->edges[2 * e] = 1000000 - e;
        g->edges[2 * e + 1] = 1000000 - e - 1;
    }
    for (size_t e = g->n_edges; e > 1; e--) {
        size_t k = rng_next(&seed) % e;
        uint64_t a = g->edges[2 * (e - 1)], b = g->edges[2 * (e - 1) + 1];

        g->edges[2 * (e - 1)] = g->edges[2 * k];
        g->edges[2 * (e - 1) + 1] = g->edges[2 * k + 1];
        g->edges[2 * k] = b; /* and flip the direction */
        g->edges[2 * k + 1] = a;
    }
}

static int u64_cmp(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

    return a < b ? -1 : a > b;
}

/* The answer: every vertex (sorted) and the smallest id of its component. */
struct labels {
    uint64_t *ids;
    uint64_t *groups;
    size_t n;
};

static size_t find(size_t *parent, size_t i)
{
    while (parent[i] != i)
        i = parent[i] = parent[parent[i]];
    return i;
}

static size_t lookup(const uint64_t *ids, size_t n, uint64_t id)
{
    uint64_t *at = bsearch(&id, ids, n, sizeof(*ids), u64_cmp);

    return (size_t)(at - ids);
}

static void reference_labels(const struct graph *g, struct labels *out)
{
    size_t n = 0, *parent;

    out->ids = malloc((2 * g->n_edges + g->n_lone + 1) * sizeof(*out->ids));
    for (size_t i = 0; i < 2 * g->n_edges; i++)
        out->ids[n++] = g->edges[i];
    for (size_t i = 0; i < g->n_lone; i++)
        out->ids[n++] = g->lone[i];
    qsort(out->ids, n, sizeof(*out->ids), u64_cmp);
    if (n > 0) {
        size_t w = 0;

        for (size_t i = 1; i < n; i++)
            if (out->ids[i] != out->ids[w])
                out->ids[++w] = out->ids[i];
        n = w + 1;
    }
    out->n = n;
    parent = malloc((n + 1) * sizeof(*parent));
    for (size_t i = 0; i < n; i++)
        parent[i] = i;
    for (size_t e = 0; e < g->n_edges; e++) {
        size_t a = find(parent, lookup(out->ids, n, g->edges[2 * e]));
        size_t b = find(parent, lookup(out->ids, n, g->edges[2 * e + 1]));

        if (a < b)
            parent[b] = a;
        else if (b < a)
            parent[a] = b;
    }
    out->groups = malloc((n + 1) * sizeof(*out->groups));
    for (size_t i = 0; i < n; i++)
        out->groups[i] = out->ids[find(parent, i)];
    free(parent);
}

static void labels_free(struct labels *l)
{
    free(l->ids);
    free(l->groups);
}

/* ---- running wn_cc_run on ranks ------------------------------------------------------ */

struct cc_run {
    const struct graph *g;
    struct wn_cc_result results[WN_TEST_MAX_RANKS];
};

/* Rank r holds edges e with e % size == r, and lone vertices likewise. */
static int cc_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    struct cc_run *run = arg;
    const struct graph *g = run->g;
    uint64_t *edges = malloc((2 * g->n_edges + 2) * sizeof(*edges));
    uint64_t *lone = malloc((g->n_lone + 1) * sizeof(*lone));
    size_t n_edges = 0, n_lone = 0;
    int rc;

    if (edges == NULL || lone == NULL) {
        free(edges);
        free(lone);
        return wn_error_set(err, WN_ENOMEM, "test: out of memory");
    }
    for (size_t e = c->rank; e < g->n_edges; e += c->size) {
        edges[2 * n_edges] = g->edges[2 * e];
        edges[2 * n_edges + 1] = g->edges[2 * e + 1];
        n_edges++;
    }
    for (size_t i = c->rank; i < g->n_lone; i += c->size)
        lone[n_lone++] = g->lone[i];
    rc = wn_cc_run(c, edges, n_edges, lone, n_lone, &run->results[c->rank], err);
    free(edges);
    free(lone);
    return rc;
}

/* Runs the graph on n ranks and checks the union of the results against
 * the reference: every vertex once, at its owner, sorted, the right label. */
static void check_graph_on(const struct graph *g, const struct labels *want, uint32_t n,
                           uint32_t *rounds)
{
    struct cc_run run;
    struct wn_test_ranks out;
    size_t total = 0, wrong = 0, misplaced = 0, unsorted = 0;
    int rc;

    memset(&run, 0, sizeof(run));
    run.g = g;
    rc = wn_test_ranks_run(&wn_ucx_comms_provider_ops, comms_params, n, cc_fn, &run, &out);
    for (uint32_t r = 0; rc != 0 && r < n; r++)
        fprintf(stderr, "cc on %u ranks: rank %u: %s\n", n, r, out.err[r].message);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    for (uint32_t r = 0; r < n; r++) {
        const struct wn_cc_result *res = &run.results[r];

        total += res->n;
        for (size_t i = 0; i < res->n; i++) {
            size_t at;

            if (i > 0 && res->ids[i] <= res->ids[i - 1])
                unsorted++;
            if (wn_cc_owner(res->ids[i], n) != r)
                misplaced++;
            at = lookup(want->ids, want->n, res->ids[i]);
            if (at >= want->n || want->ids[at] != res->ids[i] || want->groups[at] != res->groups[i])
                wrong++;
        }
        CU_ASSERT_EQUAL(res->rounds, run.results[0].rounds);
    }
    if (total != want->n || wrong || misplaced || unsorted)
        fprintf(stderr,
                "cc on %u ranks: %zu vertices (want %zu), %zu wrong, %zu misplaced, %zu "
                "unsorted\n",
                n, total, want->n, wrong, misplaced, unsorted);
    CU_ASSERT_EQUAL(total, want->n);
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(misplaced, 0);
    CU_ASSERT_EQUAL(unsorted, 0);
    if (rounds != NULL)
        *rounds = run.results[0].rounds;
    for (uint32_t r = 0; r < n; r++)
        wn_cc_result_free(&run.results[r]);
}

static void check_graph(const struct graph *g)
{
    struct labels want;

    reference_labels(g, &want);
    for (size_t k = 0; k < N_RANK_COUNTS; k++)
        check_graph_on(g, &want, rank_counts[k], NULL);
    labels_free(&want);
}

static void test_random_graphs_match_a_single_thread_union_find(void)
{
    static const size_t shapes[][3] = {
        { 2000, 1500, 50 }, /* many small components */
        { 3000, 6000, 0 },  /* a giant component and a few small ones */
        { 500, 100, 200 },  /* mostly lone vertices */
    };

    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        struct graph g;

        graph_random(&g, 42 + s, shapes[s][0], shapes[s][1], shapes[s][2]);
        check_graph(&g);
        graph_free(&g);
    }
}

static void test_a_long_chain_is_one_component_labelled_by_its_far_end(void)
{
    struct graph g;
    struct labels want;
    uint32_t rounds = 0;

    graph_chain(&g, 7, 20000);
    reference_labels(&g, &want);
    CU_ASSERT_EQUAL(want.n, 20000);
    CU_ASSERT_EQUAL(want.groups[want.n - 1], 1000000 - 19999);
    for (size_t k = 0; k < N_RANK_COUNTS; k++) {
        check_graph_on(&g, &want, rank_counts[k], &rounds);
        /* Large-Star/Small-Star: O(log^2 n) rounds, not one per link. */
        CU_ASSERT(rounds > 0 && rounds < 60);
    }
    labels_free(&want);
    graph_free(&g);
}

static void test_self_loops_and_lone_vertices_are_their_own_groups(void)
{
    struct graph g;
    uint64_t edges[] = { 5, 5, 9, 3, 3, 9, 12, 12 };
    uint64_t lone[] = { 7, 3, 100 };
    struct labels want;

    g.edges = edges;
    g.n_edges = 4;
    g.lone = lone;
    g.n_lone = 3;
    reference_labels(&g, &want);
    CU_ASSERT_EQUAL(want.n, 6); /* 3 5 7 9 12 100 */
    for (size_t k = 0; k < N_RANK_COUNTS; k++)
        check_graph_on(&g, &want, rank_counts[k], NULL);
    labels_free(&want);
}

static void test_no_edges_anywhere_gives_no_rows(void)
{
    struct graph g;
    struct labels want;

    memset(&g, 0, sizeof(g));
    reference_labels(&g, &want);
    CU_ASSERT_EQUAL(want.n, 0);
    for (size_t k = 0; k < N_RANK_COUNTS; k++)
        check_graph_on(&g, &want, rank_counts[k], NULL);
    labels_free(&want);
}

static void test_the_vertices_are_spread_over_the_ranks(void)
{
    struct graph g;
    struct cc_run run;
    struct wn_test_ranks out;

    graph_chain(&g, 3, 8000);
    memset(&run, 0, sizeof(run));
    run.g = &g;
    CU_ASSERT_EQUAL_FATAL(
        wn_test_ranks_run(&wn_ucx_comms_provider_ops, comms_params, 4, cc_fn, &run, &out), 0);
    for (uint32_t r = 0; r < 4; r++) {
        /* Each rank owns a quarter, give or take: nothing is gathered on one rank. */
        CU_ASSERT(run.results[r].n > 1500 && run.results[r].n < 2500);
        CU_ASSERT(run.results[r].edges_in > 1900 && run.results[r].edges_in < 2100);
        wn_cc_result_free(&run.results[r]);
    }
    graph_free(&g);
}

/* ---- the stage ------------------------------------------------------------------------ */

struct collector {
    struct wn_emitter base;
    struct wn_task *tasks[4];
    size_t n;
};

static int collect(struct wn_emitter *self, struct wn_task *task)
{
    struct collector *c = (struct collector *)self;

    if (c->n == 4) {
        wn_task_free(task);
        return WN_EINVAL;
    }
    c->tasks[c->n++] = task;
    return 0;
}

/* What every rank of a stage run gets and gives. */
struct stage_run {
    const char *params_json;
    int bad_rank; /* this rank's table lacks the right column, or -1 */
    struct collector out[WN_TEST_MAX_RANKS];
};

/* Rank r's input: two tables of edges (int64 left, uint32 right), chain
 * pieces 10r..10r+5 and a lone vertex 1000 + r (null right id). */
static struct wn_task *stage_input(uint32_t rank, uint32_t part, int bad)
{
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_table table = { 0 };
    struct wn_task *task;
    char id[32];
    int left = wn_table_builder_add_column(b, "src", WN_COLUMN_INT64, 0);
    int right = wn_table_builder_add_column(b, bad ? "other" : "dst", WN_COLUMN_UINT32, 0);

    for (uint32_t i = 0; i < 3; i++) {
        uint32_t v = 10 * rank + 3 * part + i;

        wn_table_builder_append_int64(b, left, v);
        wn_table_builder_append_uint64(b, right, v + 1);
    }
    wn_table_builder_append_int64(b, left, 1000 + rank);
    wn_table_builder_append_null(b, right);
    wn_table_builder_finish(b, &table, NULL);
    wn_table_builder_free(b);
    snprintf(id, sizeof(id), "in%u", rank * 2 + part);
    task = wn_task_new(id, "edges");
    wn_task_set_table(task, &table, NULL);
    return task;
}

static int stage_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    struct stage_run *run = arg;
    const struct wn_stage_desc *desc = &wn_connected_components_stage;
    struct wn_params *params = wn_test_params(desc->params, run->params_json);
    struct collector *out = &run->out[c->rank];
    struct wn_task *in[2];
    struct wn_worker worker;
    void *state = NULL;
    int rc;

    out->base.emit = collect;
    in[0] = stage_input(c->rank, 0, 0);
    in[1] = stage_input(c->rank, 1, (int)c->rank == run->bad_rank);
    memset(&worker, 0, sizeof(worker));
    worker.struct_size = sizeof(worker);
    worker.stage_name = "cc";
    worker.actor_index = c->rank;
    worker.pool_size = c->size;
    worker.device_id = -1;
    worker.params = params;
    worker.comms = c;
    rc = desc->ops->create(params, &state, err);
    if (rc == 0)
        rc = desc->ops->setup(state, &worker, err);
    if (rc == 0)
        rc = desc->ops->process_batch(state, in, 2, &out->base, err);
    if (state != NULL)
        desc->ops->destroy(state);
    wn_task_free(in[0]);
    wn_task_free(in[1]);
    wn_test_params_free(params);
    return rc;
}

static void test_the_stage_labels_every_vertex_of_its_input_tables(void)
{
    struct stage_run run;
    struct wn_test_ranks out;
    const uint32_t n = 3;
    size_t rows = 0, bad = 0;
    int rc;

    memset(&run, 0, sizeof(run));
    run.params_json = "{\"left_column\": \"src\", \"right_column\": \"dst\"}";
    run.bad_rank = -1;
    rc = wn_test_ranks_run(&wn_ucx_comms_provider_ops, comms_params, n, stage_fn, &run, &out);
    for (uint32_t r = 0; rc != 0 && r < n; r++)
        fprintf(stderr, "stage rank %u: %s\n", r, out.err[r].message);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    for (uint32_t r = 0; r < n; r++) {
        const struct wn_table *t;
        char want_id[16];

        CU_ASSERT_EQUAL_FATAL(run.out[r].n, 1);
        snprintf(want_id, sizeof(want_id), "in%u_0", 2 * r);
        CU_ASSERT_STRING_EQUAL(wn_task_id(run.out[r].tasks[0]), want_id);
        CU_ASSERT_STRING_EQUAL(wn_task_meta_get(run.out[r].tasks[0], "cc_ranks"), "3");
        t = wn_task_table(run.out[r].tasks[0]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_EQUAL(wn_table_column_index(t, "id"), 0);
        CU_ASSERT_EQUAL(wn_table_column_index(t, "group_id"), 1);
        CU_ASSERT_EQUAL(wn_table_column_type(t, 1), WN_COLUMN_UINT64);
        for (int64_t row = 0; row < wn_table_num_rows(t); row++) {
            uint64_t id = wn_table_get_uint64(t, 0, row), group = wn_table_get_uint64(t, 1, row);
            /* Rank q's chain is 10q .. 10q+6; lone vertices 1000+q are alone. */
            uint64_t want = id >= 1000 ? id : id / 10 * 10;

            bad += group != want;
            rows++;
        }
        wn_task_free(run.out[r].tasks[0]);
    }
    CU_ASSERT_EQUAL(rows, 3 * 7 + 3);
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_a_rank_with_bad_input_fails_every_rank_with_the_cause(void)
{
    struct stage_run run;
    struct wn_test_ranks out;
    int rc;

    memset(&run, 0, sizeof(run));
    run.params_json = "{\"left_column\": \"src\", \"right_column\": \"dst\"}";
    run.bad_rank = 1;
    rc = wn_test_ranks_run(&wn_ucx_comms_provider_ops, comms_params, 3, stage_fn, &run, &out);
    CU_ASSERT(rc < 0);
    CU_ASSERT_EQUAL(out.rc[1], WN_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(out.err[1].message, "no column \"dst\" (params.right_column)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out.err[1].message, "task in3"));
    CU_ASSERT_EQUAL(out.rc[0], WN_ECANCELED);
    CU_ASSERT_PTR_NOT_NULL(strstr(out.err[0].message, "rank 1 could not read its input"));
    CU_ASSERT_EQUAL(out.rc[2], WN_ECANCELED);
    CU_ASSERT(out.seconds < 10.0);
    for (uint32_t r = 0; r < 3; r++)
        CU_ASSERT_EQUAL(run.out[r].n, 0);
}

static void test_setup_without_a_communicator_says_how_to_configure_one(void)
{
    const struct wn_stage_desc *desc = &wn_connected_components_stage;
    struct wn_params *params = wn_test_params(desc->params, "{}");
    struct wn_error err = WN_ERROR_INIT;
    struct wn_worker worker;
    void *state = NULL;

    CU_ASSERT_EQUAL(desc->kind, WN_STAGE_COMMS);
    memset(&worker, 0, sizeof(worker));
    worker.struct_size = sizeof(worker);
    worker.stage_name = "cc";
    worker.pool_size = 1;
    CU_ASSERT_EQUAL_FATAL(desc->ops->create(params, &state, &err), 0);
    CU_ASSERT_EQUAL(desc->ops->setup(state, &worker, &err), WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "\"comms\": \"ucx\""));
    desc->ops->destroy(state);
    wn_test_params_free(params);
}

static void test_identical_output_column_names_are_refused(void)
{
    const struct wn_stage_desc *desc = &wn_connected_components_stage;
    struct wn_params *params =
        wn_test_params(desc->params, "{\"id_column\": \"x\", \"group_column\": \"x\"}");
    struct wn_error err = WN_ERROR_INIT;
    void *state = NULL;

    CU_ASSERT_EQUAL(desc->ops->create(params, &state, &err), WN_ECONFIG);
    CU_ASSERT_PTR_NULL(state);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "both \"x\""));
    wn_test_params_free(params);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "random graphs match a single-thread union-find",
          test_random_graphs_match_a_single_thread_union_find },
        { "a long chain is one component labelled by its far end",
          test_a_long_chain_is_one_component_labelled_by_its_far_end },
        { "self-loops and lone vertices are their own groups",
          test_self_loops_and_lone_vertices_are_their_own_groups },
        { "no edges anywhere gives no rows", test_no_edges_anywhere_gives_no_rows },
        { "the vertices are spread over the ranks", test_the_vertices_are_spread_over_the_ranks },
        { "the stage labels every vertex of its input tables",
          test_the_stage_labels_every_vertex_of_its_input_tables },
        { "a rank with bad input fails every rank with the cause",
          test_a_rank_with_bad_input_fails_every_rank_with_the_cause },
        { "setup without a communicator says how to configure one",
          test_setup_without_a_communicator_says_how_to_configure_one },
        { "identical output column names are refused",
          test_identical_output_column_names_are_refused },
        { NULL, NULL }
    };
    int rc;

    comms_params = wn_test_params(wn_ucx_comms_params, "{\"timeout_s\": 60}");
    if (comms_params == NULL)
        return 99;
    rc = wn_test_run_suite("connected components", tests, NULL, NULL);
    wn_test_params_free(comms_params);
    return rc;
}

#endif /* HAVE_UCX */
