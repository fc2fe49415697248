/* Stage connected_components: tables of edges in, (id, group) tables out. */
#include "build_config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/comms.h>
#include <winnow/log.h>
#include <winnow/plugin.h>
#include <winnow/table.h>
#include <winnow/task.h>

#include "components.h"
#include "connected_components.h"

#define LOG_DOMAIN "connected_components"

static const struct wn_param_spec cc_params[] = {
    { "left_column", WN_PARAM_STRING, 0, "\"left_id\"", 0, 0, NULL,
      "input column holding one end of each edge (integer ids)" },
    { "right_column", WN_PARAM_STRING, 0, "\"right_id\"", 0, 0, NULL,
      "input column holding the other end (null: the left id is a vertex without edges)" },
    { "id_column", WN_PARAM_STRING, 0, "\"id\"", 0, 0, NULL, "output column of vertex ids" },
    { "group_column", WN_PARAM_STRING, 0, "\"group_id\"", 0, 0, NULL,
      "output column of component labels (the smallest id of the component)" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

struct cc_state {
    const char *left, *right, *id_column, *group_column; /* the params' strings */
    const char *stage_name;
    struct wn_comms *comms;
};

/* Growable uint64 array. */
struct ids {
    uint64_t *v;
    size_t n, cap;
};

static int ids_push(struct ids *a, uint64_t x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 256;
        uint64_t *v = realloc(a->v, cap * sizeof(*v));

        if (v == NULL)
            return WN_ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

static int cc_create(const struct wn_params *params, void **out, struct wn_error *err)
{
    struct cc_state *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    s->left = wn_params_get_string(params, "left_column");
    s->right = wn_params_get_string(params, "right_column");
    s->id_column = wn_params_get_string(params, "id_column");
    s->group_column = wn_params_get_string(params, "group_column");
    if (strcmp(s->id_column, s->group_column) == 0) {
        int rc = wn_error_set(err, WN_ECONFIG,
                              "params.id_column and params.group_column are both \"%s\": give "
                              "the output columns different names",
                              s->id_column);

        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int cc_setup(void *state, const struct wn_worker *worker, struct wn_error *err)
{
    struct cc_state *s = state;

    s->stage_name = worker->stage_name;
    s->comms = worker->comms;
    if (s->comms == NULL)
        return wn_error_set(err, WN_ECONFIG,
                            "stage '%s' needs a communicator: run it as a COMMS stage with "
                            "\"comms\": \"ucx\" (or \"nccl\" on GPUs)",
                            worker->stage_name);
    return 0;
}

static int is_integer_column(enum wn_column_type type)
{
    return type == WN_COLUMN_INT32 || type == WN_COLUMN_INT64 || type == WN_COLUMN_UINT32 ||
           type == WN_COLUMN_UINT64;
}

/* Reads id cell (col, row) into *id; 0, or WN_EDATA for a negative id. */
static int read_id(const struct wn_table *t, int64_t col, int64_t row, uint64_t *id)
{
    enum wn_column_type type = wn_table_column_type(t, col);

    if (type == WN_COLUMN_INT32 || type == WN_COLUMN_INT64) {
        int64_t v = wn_table_get_int64(t, col, row);

        if (v < 0)
            return WN_EDATA;
        *id = (uint64_t)v;
        return 0;
    }
    *id = wn_table_get_uint64(t, col, row);
    return 0;
}

static int find_column(const struct cc_state *s, const struct wn_task *task,
                       const struct wn_table *t, const char *name, const char *param, int64_t *col,
                       struct wn_error *err)
{
    *col = wn_table_column_index(t, name);
    if (*col < 0)
        return wn_error_set(err, WN_ENOTFOUND,
                            "stage '%s', task %s: no column \"%s\" (params.%s); the table has "
                            "%" PRId64 " columns",
                            s->stage_name, wn_task_id(task), name, param, wn_table_num_columns(t));
    if (!is_integer_column(wn_table_column_type(t, *col)))
        return wn_error_set(err, WN_EDATA,
                            "stage '%s', task %s: column \"%s\" is not an integer column "
                            "(ids must be int32, int64, uint32 or uint64)",
                            s->stage_name, wn_task_id(task), name);
    return 0;
}

/* Collects this rank's edges and lone vertices from its input tables. */
static int read_edges(const struct cc_state *s, struct wn_task **in, size_t n_in, struct ids *edges,
                      struct ids *vertices, struct wn_error *err)
{
    for (size_t i = 0; i < n_in; i++) {
        const struct wn_table *t = wn_task_table(in[i]);
        int64_t left, right, rows;
        int rc;

        if (t == NULL)
            return wn_error_set(err, WN_EDATA, "stage '%s', task %s: expected a TABLE payload",
                                s->stage_name, wn_task_id(in[i]));
        if ((rc = find_column(s, in[i], t, s->left, "left_column", &left, err)) < 0 ||
            (rc = find_column(s, in[i], t, s->right, "right_column", &right, err)) < 0)
            return rc;
        rows = wn_table_num_rows(t);
        for (int64_t row = 0; row < rows; row++) {
            int left_null = wn_table_is_null(t, left, row);
            int right_null = wn_table_is_null(t, right, row);
            uint64_t a = 0, b = 0;

            if ((!left_null && read_id(t, left, row, &a) < 0) ||
                (!right_null && read_id(t, right, row, &b) < 0))
                return wn_error_set(err, WN_EDATA,
                                    "stage '%s', task %s, row %" PRId64 ": a negative id (ids "
                                    "are non-negative integers)",
                                    s->stage_name, wn_task_id(in[i]), row);
            if (left_null && right_null)
                continue;
            if (left_null || right_null || a == b)
                rc = ids_push(vertices, left_null ? b : a);
            else if ((rc = ids_push(edges, a)) == 0)
                rc = ids_push(edges, b);
            if (rc < 0)
                return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory reading task %s",
                                    s->stage_name, wn_task_id(in[i]));
        }
    }
    return 0;
}

/* Every rank learns whether any rank failed to read its input, so that all
 * fail together instead of waiting for a rank that left. */
static int agree_on_input(const struct cc_state *s, int local_rc, struct wn_error *err)
{
    struct wn_comms *c = s->comms;
    struct wn_error comms_err = WN_ERROR_INIT;
    uint64_t mine = local_rc < 0 ? c->rank : c->size, first;
    int rc;

    rc = wn_comms_allreduce(c, &mine, &first, 1, WN_COMMS_UINT64, WN_COMMS_MIN, WN_COMMS_HOST,
                            &comms_err);
    if (local_rc < 0)
        return local_rc; /* err already says why */
    if (rc < 0)
        return wn_error_set(err, rc, "stage '%s': %s", s->stage_name, comms_err.message);
    if (first < c->size)
        return wn_error_set(err, WN_ECANCELED,
                            "stage '%s', rank %u/%u: stopped because rank %" PRIu64
                            " could not read its input (see that rank's error)",
                            s->stage_name, c->rank, c->size, first);
    return 0;
}

static int build_output(const struct cc_state *s, const struct wn_cc_result *res,
                        struct wn_table *out, struct wn_error *err)
{
    struct wn_table_builder *b = wn_table_builder_new();
    int id_col, group_col, rc = 0;

    if (b == NULL)
        return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory", s->stage_name);
    id_col = wn_table_builder_add_column(b, s->id_column, WN_COLUMN_UINT64, 0);
    group_col = wn_table_builder_add_column(b, s->group_column, WN_COLUMN_UINT64, 0);
    if (id_col < 0 || group_col < 0) {
        rc = wn_error_set(err, id_col < 0 ? id_col : group_col,
                          "stage '%s': cannot make the output columns: %s", s->stage_name,
                          wn_table_builder_last_error(b));
        goto out_free;
    }
    for (size_t i = 0; i < res->n; i++)
        if ((rc = wn_table_builder_append_uint64(b, id_col, res->ids[i])) < 0 ||
            (rc = wn_table_builder_append_uint64(b, group_col, res->groups[i])) < 0) {
            rc = wn_error_set(err, rc, "stage '%s': building the output: %s", s->stage_name,
                              wn_table_builder_last_error(b));
            goto out_free;
        }
    rc = wn_table_builder_finish(b, out, err);

out_free:
    wn_table_builder_free(b);
    return rc;
}

static int set_meta_u64(struct wn_task *task, const char *key, uint64_t value)
{
    char text[32];

    snprintf(text, sizeof(text), "%" PRIu64, value);
    return wn_task_meta_set(task, key, text);
}

static int cc_process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                      struct wn_error *err)
{
    struct cc_state *s = state;
    struct ids edges = { 0 }, vertices = { 0 };
    struct wn_cc_result res = { 0 };
    struct wn_table table = { 0 };
    struct wn_task *task = NULL;
    char id[64];
    int rc;

    rc = read_edges(s, in, n_in, &edges, &vertices, err);
    rc = agree_on_input(s, rc, err);
    if (rc < 0)
        goto out_free;
    rc = wn_cc_run(s->comms, edges.v, edges.n / 2, vertices.v, vertices.n, &res, err);
    if (rc < 0) {
        wn_error_prefix(err, "stage '%s'", s->stage_name);
        goto out_free;
    }
    rc = build_output(s, &res, &table, err);
    if (rc < 0)
        goto out_free;
    if (n_in > 0) {
        task = wn_task_new_child(in[0], 0);
    } else {
        snprintf(id, sizeof(id), "%s_rank%u", s->stage_name, s->comms->rank);
        task = wn_task_new(id, NULL);
    }
    if (task == NULL || set_meta_u64(task, "cc_rank", s->comms->rank) < 0 ||
        set_meta_u64(task, "cc_ranks", s->comms->size) < 0 ||
        set_meta_u64(task, "cc_rounds", res.rounds) < 0) {
        rc = wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory", s->stage_name);
        goto out_free;
    }
    rc = wn_task_set_table(task, &table, err);
    if (rc < 0)
        goto out_free;
    wn_log(WN_LOG_DEBUG, LOG_DOMAIN, "rank %u/%u: %zu edges in, %zu vertices out, %u rounds",
           s->comms->rank, s->comms->size, edges.n / 2, res.n, res.rounds);
    rc = wn_emit(out, task);
    task = NULL;
    if (rc < 0)
        wn_error_set(err, rc, "stage '%s': the executor refused the output", s->stage_name);

out_free:
    wn_task_free(task);
    wn_table_release(&table);
    wn_cc_result_free(&res);
    free(edges.v);
    free(vertices.v);
    return rc;
}

static void cc_destroy(void *state)
{
    free(state);
}

static const struct wn_stage_ops cc_ops = {
    .version = WN_STAGE_OPS_VERSION,
    .create = cc_create,
    .setup = cc_setup,
    .process_batch = cc_process,
    .destroy = cc_destroy,
};

const struct wn_stage_desc wn_connected_components_stage = {
    WN_STAGE_HEADER,
    "connected_components",
    "labels every vertex of an edge list with the smallest id of its component (distributed)",
    cc_params,
    { .cpus = 1 },
    1,
    WN_STAGE_COMMS,
    WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    NULL,
    &cc_ops,
    NULL,
    { NULL }
};
