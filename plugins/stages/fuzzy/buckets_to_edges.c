/*
 * buckets_to_edges: TABLE -> TABLE.  Input: one row per (bucket, document),
 * columns bucket_field (default "_bucket_id", any integer type) and id_field
 * (default "id", string or integer ids), as the lsh stage's extract emits
 * them.  Output: one task per batch holding the edges that connect the
 * documents of every bucket, in columns left_column and right_column
 * (default "left_id", "right_id": what connected_components reads): a star
 * from the bucket's smallest id to each other id, so a bucket of n documents
 * gives n - 1 edges, not n(n-1)/2.  left < right in every edge; an edge that
 * several buckets give is
 * written once per batch; a document listed twice in one bucket counts once.
 * Rows with a null bucket or id are skipped (counted in the metadata key
 * "<stage>.null_rows").  All the rows of one bucket must arrive in one batch.
 */
#include "build_config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/plugin.h>

#include "buckets_to_edges.h"
#include "fuzzy_common.h"

#define STAGE_NAME "buckets_to_edges"

struct buckets_to_edges {
    const char *bucket_field;
    const char *id_field;
    const char *left_column, *right_column;
    char *stage_name;
};

/* One (bucket, document) row of the batch. */
struct member {
    uint64_t bucket;
    const unsigned char *key; /* the id's key (fuzzy_common.h), in the batch's arena */
    uint64_t key_offset;
    uint32_t key_len;
    uint32_t source; /* index of the input task */
    int64_t row;
};

/* One edge: two members (the smaller id first). */
struct edge {
    const struct member *a, *b;
};

static int member_compare(const void *x, const void *y)
{
    const struct member *p = x, *q = y;

    if (p->bucket != q->bucket)
        return p->bucket < q->bucket ? -1 : 1;
    return fuzzy_key_compare(p->key, p->key_len, q->key, q->key_len);
}

static int edge_compare(const void *x, const void *y)
{
    const struct edge *p = x, *q = y;
    int c = fuzzy_key_compare(p->a->key, p->a->key_len, q->a->key, q->a->key_len);

    return c != 0 ? c : fuzzy_key_compare(p->b->key, p->b->key_len, q->b->key, q->b->key_len);
}

static void buckets_to_edges_destroy(void *state)
{
    struct buckets_to_edges *st = state;

    if (st == NULL)
        return;
    free(st->stage_name);
    free(st);
}

static int buckets_to_edges_create(const struct wn_params *params, void **state,
                                   struct wn_error *err)
{
    struct buckets_to_edges *st = calloc(1, sizeof(*st));

    *state = NULL;
    if (st == NULL || (st->stage_name = strdup(STAGE_NAME)) == NULL) {
        free(st);
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory", STAGE_NAME);
    }
    st->bucket_field = wn_params_get_string(params, "bucket_field");
    st->id_field = wn_params_get_string(params, "id_field");
    st->left_column = wn_params_get_string(params, "left_column");
    st->right_column = wn_params_get_string(params, "right_column");
    if (strcmp(st->left_column, st->right_column) == 0) {
        int rc = wn_error_set(err, WN_ECONFIG,
                              "%s: left_column and right_column are both \"%s\": give the two "
                              "ends of an edge different names",
                              STAGE_NAME, st->left_column);

        buckets_to_edges_destroy(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int buckets_to_edges_setup(void *state, const struct wn_worker *worker, struct wn_error *err)
{
    struct buckets_to_edges *st = state;

    return fuzzy_take_worker_name(&st->stage_name, worker, STAGE_NAME, err);
}

/* What one batch collects before anything is emitted. */
struct batch {
    struct fuzzy_arena keys;
    struct member *members;
    size_t n_members, cap_members;
    struct edge *edges;
    size_t n_edges;
    int64_t *id_cols; /* per input */
    int kind;         /* id kind of the batch, 0 until the first table */
    uint64_t null_rows;
    uint64_t buckets; /* buckets with 2+ distinct documents */
};

static void batch_clear(struct batch *b)
{
    fuzzy_arena_clear(&b->keys);
    free(b->members);
    free(b->edges);
    free(b->id_cols);
}

/* Adds the rows of input i to the batch. */
static int collect(struct buckets_to_edges *st, struct batch *b, const struct wn_task *task,
                   size_t i, struct wn_error *err)
{
    const struct wn_table *table = wn_task_table(task);
    int64_t bucket_col, id_col, rows;
    enum wn_column_type bucket_type;
    int kind, rc;

    rc =
        fuzzy_find_column(st->stage_name, task, st->bucket_field, "bucket_field", &bucket_col, err);
    if (rc == 0)
        rc = fuzzy_find_column(st->stage_name, task, st->id_field, "id_field", &id_col, err);
    if (rc < 0)
        return rc;
    bucket_type = wn_table_column_type(table, bucket_col);
    if (bucket_type != WN_COLUMN_UINT64 && bucket_type != WN_COLUMN_INT64 &&
        bucket_type != WN_COLUMN_UINT32 && bucket_type != WN_COLUMN_INT32)
        return wn_error_set(err, WN_EINVAL,
                            "%s: task %s: bucket column \"%s\" has Arrow format \"%s\", not an "
                            "integer",
                            st->stage_name, wn_task_id(task), st->bucket_field,
                            table->schema.children[bucket_col]->format);
    kind = fuzzy_id_kind(st->stage_name, task, id_col, err);
    if (kind < 0)
        return kind;
    if (b->kind != 0 && kind != b->kind)
        return wn_error_set(err, WN_EINVAL,
                            "%s: task %s: column \"%s\" holds %s ids but an earlier task of the "
                            "batch holds %s ids; one run must use one kind of id",
                            st->stage_name, wn_task_id(task), st->id_field,
                            fuzzy_id_kind_name(kind), fuzzy_id_kind_name(b->kind));
    b->kind = kind;
    b->id_cols[i] = id_col;
    rows = wn_table_num_rows(table);
    for (int64_t row = 0; row < rows; row++) {
        struct member *m;
        size_t offset = b->keys.len, len;

        if (wn_table_is_null(table, bucket_col, row)) {
            b->null_rows++;
            continue;
        }
        rc = fuzzy_arena_add_id_key(&b->keys, table, id_col, row, kind, &len);
        if (rc == 1) {
            b->null_rows++;
            continue;
        }
        if (rc < 0 || len > UINT32_MAX)
            goto out_of_memory;
        if (b->n_members == b->cap_members) {
            size_t cap = b->cap_members ? b->cap_members * 2 : 1024;
            struct member *grown = realloc(b->members, cap * sizeof(*grown));

            if (grown == NULL)
                goto out_of_memory;
            b->members = grown;
            b->cap_members = cap;
        }
        m = &b->members[b->n_members++];
        if (bucket_type == WN_COLUMN_INT64 || bucket_type == WN_COLUMN_INT32)
            m->bucket = (uint64_t)wn_table_get_int64(table, bucket_col, row);
        else
            m->bucket = wn_table_get_uint64(table, bucket_col, row);
        m->key = NULL;
        m->key_offset = offset;
        m->key_len = (uint32_t)len;
        m->source = (uint32_t)i;
        m->row = row;
    }
    return 0;

out_of_memory:
    return wn_error_set(err, WN_ENOMEM, "%s: task %s: out of memory", st->stage_name,
                        wn_task_id(task));
}

/* Sorts the members by (bucket, id) and makes the star edges, then sorts and
 * deduplicates the edges. */
static int make_edges(struct batch *b)
{
    size_t n = 0;

    for (size_t i = 0; i < b->n_members; i++)
        b->members[i].key = b->keys.data + b->members[i].key_offset;
    if (b->n_members > 1)
        qsort(b->members, b->n_members, sizeof(*b->members), member_compare);
    b->edges = malloc((b->n_members ? b->n_members : 1) * sizeof(*b->edges));
    if (b->edges == NULL)
        return WN_ENOMEM;
    for (size_t start = 0; start < b->n_members;) {
        const struct member *root = &b->members[start];
        const struct member *prev = root;
        size_t end = start + 1, before = n;

        for (; end < b->n_members && b->members[end].bucket == root->bucket; end++) {
            const struct member *m = &b->members[end];

            if (fuzzy_key_compare(m->key, m->key_len, prev->key, prev->key_len) != 0) {
                b->edges[n].a = root;
                b->edges[n].b = m;
                n++;
            }
            prev = m;
        }
        b->buckets += n > before;
        start = end;
    }
    if (n > 1)
        qsort(b->edges, n, sizeof(*b->edges), edge_compare);
    b->n_edges = 0;
    for (size_t i = 0; i < n; i++)
        if (b->n_edges == 0 || edge_compare(&b->edges[b->n_edges - 1], &b->edges[i]) != 0)
            b->edges[b->n_edges++] = b->edges[i];
    return 0;
}

/* Builds the edges table. */
static int build_edges(struct buckets_to_edges *st, struct batch *b, struct wn_task **in,
                       struct wn_table *out, struct wn_error *err)
{
    struct wn_table_builder *builder = wn_table_builder_new();
    enum wn_column_type type = WN_COLUMN_INT64;
    uint64_t bytes_a = 0, bytes_b = 0;
    int rc = 0;

    if (b->kind == FUZZY_KEY_STRING || b->kind == 0) {
        /* Past 2 GiB of id bytes in a column, utf8's 32-bit offsets overflow. */
        for (size_t i = 0; i < b->n_edges; i++) {
            bytes_a += b->edges[i].a->key_len;
            bytes_b += b->edges[i].b->key_len;
        }
        type = bytes_a > INT32_MAX || bytes_b > INT32_MAX ? WN_COLUMN_LARGE_UTF8 : WN_COLUMN_UTF8;
    }
    if (builder == NULL || wn_table_builder_add_column(builder, st->left_column, type, 0) < 0 ||
        wn_table_builder_add_column(builder, st->right_column, type, 0) < 0) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
        goto out_free_builder;
    }
    for (size_t i = 0; i < b->n_edges; i++) {
        const struct member *x = b->edges[i].a, *y = b->edges[i].b;

        if (wn_table_builder_append_cell(builder, 0, wn_task_table(in[x->source]),
                                         b->id_cols[x->source], x->row) < 0 ||
            wn_table_builder_append_cell(builder, 1, wn_task_table(in[y->source]),
                                         b->id_cols[y->source], y->row) < 0) {
            rc = wn_error_set(err, WN_ENOMEM, "%s: edge %zu: %s", st->stage_name, i,
                              wn_table_builder_last_error(builder));
            goto out_free_builder;
        }
    }
    rc = wn_table_builder_finish(builder, out, err);
    if (rc < 0)
        wn_error_prefix(err, "%s", st->stage_name);
out_free_builder:
    wn_table_builder_free(builder);
    return rc;
}

static int set_count(struct wn_task *task, const char *stage, const char *what, uint64_t value)
{
    char key[256], text[32];

    snprintf(key, sizeof(key), "%s.%s", stage, what);
    snprintf(text, sizeof(text), "%" PRIu64, value);
    return wn_task_meta_set(task, key, text);
}

static int buckets_to_edges_process(void *state, struct wn_task **in, size_t n_in,
                                    struct wn_emitter *out, struct wn_error *err)
{
    struct buckets_to_edges *st = state;
    struct batch b;
    struct wn_table edges = { 0 };
    struct wn_task *task;
    size_t first = n_in;
    int rc = 0;

    memset(&b, 0, sizeof(b));
    b.id_cols = calloc(n_in ? n_in : 1, sizeof(*b.id_cols));
    if (b.id_cols == NULL)
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
    for (size_t i = 0; i < n_in && rc == 0; i++) {
        if (in[i] == NULL)
            continue;
        if (first == n_in)
            first = i;
        rc = collect(st, &b, in[i], i, err);
    }
    if (rc < 0 || first == n_in)
        goto out_clear;
    if (make_edges(&b) < 0) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
        goto out_clear;
    }
    rc = build_edges(st, &b, in, &edges, err);
    if (rc < 0)
        goto out_clear;

    /* The batch's first task carries the edges on; the other inputs are consumed. */
    task = wn_task_take(&in[first]);
    rc = wn_task_set_table(task, &edges, err);
    if (rc == 0 && (set_count(task, st->stage_name, "buckets", b.buckets) < 0 ||
                    set_count(task, st->stage_name, "null_rows", b.null_rows) < 0))
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
    if (rc < 0) {
        wn_error_prefix(err, "%s: task %s", st->stage_name, wn_task_id(task));
        wn_task_free(task);
        goto out_clear;
    }
    rc = wn_emit(out, task);
    if (rc < 0)
        rc = wn_error_set(err, rc, "%s: cannot emit the edges", st->stage_name);
out_clear:
    wn_table_release(&edges);
    batch_clear(&b);
    return rc;
}

static const struct wn_param_spec buckets_to_edges_params[] = {
    { "bucket_field", WN_PARAM_STRING, 0, "\"_bucket_id\"", 0, 0, NULL,
      "the integer column holding the bucket id" },
    { "id_field", WN_PARAM_STRING, 0, "\"id\"", 0, 0, NULL, "the document id column" },
    { "left_column", WN_PARAM_STRING, 0, "\"left_id\"", 0, 0, NULL,
      "output column of an edge's smaller id" },
    { "right_column", WN_PARAM_STRING, 0, "\"right_id\"", 0, 0, NULL,
      "output column of an edge's larger id" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

static const struct wn_stage_ops buckets_to_edges_ops = {
    .version = WN_STAGE_OPS_VERSION,
    .create = buckets_to_edges_create,
    .setup = buckets_to_edges_setup,
    .process_batch = buckets_to_edges_process,
    .destroy = buckets_to_edges_destroy,
};

const struct wn_stage_desc fuzzy_buckets_to_edges_stage = {
    WN_STAGE_HEADER,
    .name = STAGE_NAME,
    .summary = "edges joining the documents that share an LSH bucket, as stars",
    .params = buckets_to_edges_params,
    .resources = { .cpus = 1.0 },
    .batch_size = 1,
    .kind = WN_STAGE_PLAIN,
    .input_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .output_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .required_columns = NULL,
    .ops = &buckets_to_edges_ops,
};
