/*
 * lsh: a SHUFFLE stage.  Input: (id, _minhash_signature) tables from minhash.
 * Per round r it takes bands [r * bands_per_iteration, ...) of every
 * signature, turns each (document, band) into a row (bucket id, id) where the
 * bucket id hashes the ABSOLUTE band number with the band's values, and
 * shuffles the rows on bucket id (partition = bucket id % P).  Extract sorts
 * a partition's rows by (bucket, id) and emits the rows of every bucket that
 * holds 2+ rows, all of a bucket in one task: what buckets_to_edges reads.
 * See docs/fuzzy-dedup.md.
 */
#include "build_config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/plugin.h>
#include <winnow/shuffle.h>

#include "fuzzy_common.h"
#include "lsh.h"
#include "minhash_core.h"

#define STAGE_NAME "lsh"
#define LSH_DEFAULT_BANDS_PER_ITERATION 5
#define LSH_HASH_KEY UINT64_C(0x4C53482D42414E44) /* "LSH-BAND" */

struct lsh_stage {
    const char *id_field; /* params: valid for the whole run */
    const char *signature_field;
    const char *bucket_field;
    uint32_t num_bands, rows_per_band, bands_per_iteration;
    char *stage_name;
    uint32_t *scratch; /* rows_per_band values, little-endian (big-endian hosts only) */
};

/* ---- the bucket id ---------------------------------------------------------- */

static uint64_t band_key(uint32_t band)
{
    uint64_t z = LSH_HASH_KEY + (uint64_t)band * UINT64_C(0x9E3779B97F4A7C15);

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* values in little-endian order: the values themselves on a little-endian
 * host, else swapped into scratch. */
static const unsigned char *le_values(const uint32_t *values, uint32_t n, uint32_t *scratch)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (uint32_t i = 0; i < n; i++)
        scratch[i] = __builtin_bswap32(values[i]);
    return (const unsigned char *)scratch;
#else
    (void)n;
    (void)scratch;
    return (const unsigned char *)values;
#endif
}

uint64_t fuzzy_lsh_bucket_id(uint32_t band, const uint32_t *values, uint32_t rows_per_band)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    uint32_t *scratch = malloc((size_t)rows_per_band * sizeof(*scratch));
    uint64_t h;

    if (scratch == NULL)
        abort();
    h = fuzzy_bytes_hash(le_values(values, rows_per_band, scratch), (size_t)rows_per_band * 4,
                         band_key(band));
    free(scratch);
    return h;
#else
    return fuzzy_bytes_hash(le_values(values, rows_per_band, NULL), (size_t)rows_per_band * 4,
                            band_key(band));
#endif
}

/* The same, with the stage's scratch (no allocation). */
static uint64_t bucket_id(const struct lsh_stage *st, uint32_t band, const uint32_t *values)
{
    return fuzzy_bytes_hash(le_values(values, st->rows_per_band, st->scratch),
                            (size_t)st->rows_per_band * 4, band_key(band));
}

/* ---- params and lifecycle ----------------------------------------------------- */

/* bands_per_iteration when given, else 5 or num_bands when that is less. */
static int64_t bands_per_iteration(const struct wn_params *params)
{
    int64_t bands = wn_params_get_int(params, "num_bands");

    if (wn_params_has(params, "bands_per_iteration"))
        return wn_params_get_int(params, "bands_per_iteration");
    return bands < LSH_DEFAULT_BANDS_PER_ITERATION ? bands : LSH_DEFAULT_BANDS_PER_ITERATION;
}

/* Checks the band params; 0 or WN_ECONFIG naming them. */
static int check_bands(const struct wn_params *params, uint32_t *rounds, struct wn_error *err)
{
    int64_t bands = wn_params_get_int(params, "num_bands");
    int64_t rows = wn_params_get_int(params, "rows_per_band");
    int64_t per = bands_per_iteration(params);

    if (bands * rows > FUZZY_MINHASH_MAX_PERMUTATIONS)
        return wn_error_set(err, WN_ECONFIG,
                            "%s: num_bands (%" PRId64 ") x rows_per_band (%" PRId64
                            ") is more than the %d values a signature has at most",
                            STAGE_NAME, bands, rows, FUZZY_MINHASH_MAX_PERMUTATIONS);
    if (per < 1 || per > bands)
        return wn_error_set(err, WN_ECONFIG,
                            "%s: bands_per_iteration is %" PRId64 "; it must be between 1 and "
                            "num_bands (%" PRId64 ")",
                            STAGE_NAME, per, bands);
    if (rounds != NULL)
        *rounds = (uint32_t)((bands + per - 1) / per);
    return 0;
}

static int lsh_num_rounds(const struct wn_params *params, uint32_t *rounds, struct wn_error *err)
{
    return check_bands(params, rounds, err);
}

static void lsh_destroy(void *state)
{
    struct lsh_stage *st = state;

    if (st == NULL)
        return;
    free(st->scratch);
    free(st->stage_name);
    free(st);
}

static int lsh_create(const struct wn_params *params, void **state, struct wn_error *err)
{
    struct lsh_stage *st;
    int rc;

    *state = NULL;
    rc = check_bands(params, NULL, err);
    if (rc < 0)
        return rc;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory", STAGE_NAME);
    st->id_field = wn_params_get_string(params, "id_field");
    st->signature_field = wn_params_get_string(params, "signature_field");
    st->bucket_field = wn_params_get_string(params, "bucket_field");
    st->num_bands = (uint32_t)wn_params_get_int(params, "num_bands");
    st->rows_per_band = (uint32_t)wn_params_get_int(params, "rows_per_band");
    st->bands_per_iteration = (uint32_t)bands_per_iteration(params);
    st->stage_name = strdup(STAGE_NAME);
    st->scratch = malloc((size_t)st->rows_per_band * sizeof(*st->scratch));
    if (st->stage_name == NULL || st->scratch == NULL) {
        lsh_destroy(st);
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory", STAGE_NAME);
    }
    if (strcmp(st->bucket_field, st->id_field) == 0) {
        rc = wn_error_set(err, WN_ECONFIG,
                          "%s: bucket_field and id_field are both \"%s\"; the output needs two "
                          "columns",
                          STAGE_NAME, st->id_field);
        lsh_destroy(st);
        return rc;
    }
    *state = st;
    return 0;
}

static int lsh_setup(void *state, const struct wn_worker *worker, struct wn_error *err)
{
    struct lsh_stage *st = state;

    return fuzzy_take_worker_name(&st->stage_name, worker, STAGE_NAME, err);
}

static int lsh_process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                       struct wn_error *err)
{
    (void)state;
    (void)in;
    (void)n_in;
    (void)out;
    return wn_error_set(err, WN_EUNSUPPORTED,
                        STAGE_NAME " is a SHUFFLE stage: it runs through an executor's shuffle "
                                   "(insert and extract hooks), not process_batch; give it "
                                   "\"shuffle\": \"ucx\" and an executor that runs shuffles");
}

/* ---- insert ------------------------------------------------------------------- */

/* Rows (bucket, id) of bands [band_lo, band_hi) of one task into *rows, with
 * their partitions (grown as needed). */
static int band_rows(struct lsh_stage *st, const struct wn_task *task, uint32_t band_lo,
                     uint32_t band_hi, uint32_t num_partitions, struct wn_table *rows,
                     uint32_t **partitions, size_t *cap, struct wn_error *err)
{
    const struct wn_table *table = wn_task_table(task);
    struct wn_table_builder *b = NULL;
    int64_t id_col, sig_col, n;
    size_t k = 0;
    int kind, rc;

    if (table != NULL && wn_table_num_rows(table) == 0)
        return 0; /* no rows, maybe no columns: nothing to bucket */
    rc = fuzzy_find_column(st->stage_name, task, st->id_field, "id_field", &id_col, err);
    if (rc == 0)
        rc = fuzzy_find_column(st->stage_name, task, st->signature_field, "signature_field",
                               &sig_col, err);
    if (rc < 0)
        return rc;
    kind = fuzzy_id_kind(st->stage_name, task, id_col, err);
    if (kind < 0)
        return kind;
    if (wn_table_column_type(table, sig_col) != WN_COLUMN_FIXED_LIST_UINT32)
        return wn_error_set(err, WN_EINVAL,
                            "%s: task %s: signature column \"%s\" has Arrow format \"%s\", not "
                            "fixed_size_list<uint32> (what minhash writes)",
                            st->stage_name, wn_task_id(task), st->signature_field,
                            table->schema.children[sig_col]->format);
    if ((uint32_t)wn_table_column_list_size(table, sig_col) != st->num_bands * st->rows_per_band)
        return wn_error_set(err, WN_EINVAL,
                            "%s: task %s: signature column \"%s\" has %" PRId32
                            " values per row, but num_bands (%u) x rows_per_band (%u) = %u; give "
                            "lsh the num_bands and rows_per_band that minhash used",
                            st->stage_name, wn_task_id(task), st->signature_field,
                            wn_table_column_list_size(table, sig_col), st->num_bands,
                            st->rows_per_band, st->num_bands * st->rows_per_band);
    n = wn_table_num_rows(table);
    if ((size_t)n * (band_hi - band_lo) > *cap) {
        size_t want = (size_t)n * (band_hi - band_lo);
        uint32_t *grown = realloc(*partitions, want * sizeof(*grown));

        if (grown == NULL)
            return wn_error_set(err, WN_ENOMEM, "%s: task %s: out of memory for %zu rows",
                                st->stage_name, wn_task_id(task), want);
        *partitions = grown;
        *cap = want;
    }
    b = wn_table_builder_new();
    if (b == NULL || wn_table_builder_add_column(b, st->bucket_field, WN_COLUMN_UINT64, 0) < 0 ||
        wn_table_builder_add_column(
            b, st->id_field, kind == FUZZY_KEY_INTEGER ? WN_COLUMN_INT64 : WN_COLUMN_UTF8, 0) < 0) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
        goto out_free_builder;
    }
    for (int64_t row = 0; row < n; row++) {
        const uint32_t *sig = wn_table_get_uint32_list(table, sig_col, row);
        const char *text = NULL;
        size_t len = 0;
        int64_t value = 0;

        /* A row without a signature or an id is in no bucket. */
        if (sig == NULL || wn_table_is_null(table, id_col, row))
            continue;
        if (kind == FUZZY_KEY_INTEGER) {
            enum wn_column_type t = wn_table_column_type(table, id_col);

            if ((t == WN_COLUMN_UINT64 &&
                 wn_table_get_uint64(table, id_col, row) > (uint64_t)INT64_MAX)) {
                rc = wn_error_set(err, WN_EINVAL,
                                  "%s: task %s, row %" PRId64 ": id %" PRIu64
                                  " is above 2^63-1, the largest integer id",
                                  st->stage_name, wn_task_id(task), row,
                                  wn_table_get_uint64(table, id_col, row));
                goto out_free_builder;
            }
            value = wn_table_get_int64(table, id_col, row);
        } else {
            text = wn_table_get_utf8(table, id_col, row, &len);
        }
        for (uint32_t band = band_lo; band < band_hi; band++) {
            uint64_t bucket = bucket_id(st, band, sig + (size_t)band * st->rows_per_band);

            if (wn_table_builder_append_uint64(b, 0, bucket) < 0 ||
                (kind == FUZZY_KEY_INTEGER ? wn_table_builder_append_int64(b, 1, value)
                                           : wn_table_builder_append_utf8(b, 1, text, len)) < 0) {
                rc =
                    wn_error_set(err, WN_ENOMEM, "%s: task %s, row %" PRId64 ": %s", st->stage_name,
                                 wn_task_id(task), row, wn_table_builder_last_error(b));
                goto out_free_builder;
            }
            (*partitions)[k++] = (uint32_t)(bucket % num_partitions);
        }
    }
    rc = wn_table_builder_finish(b, rows, err);
    if (rc < 0)
        wn_error_prefix(err, "%s: task %s", st->stage_name, wn_task_id(task));
out_free_builder:
    wn_table_builder_free(b);
    return rc;
}

static int lsh_insert(void *state, struct wn_task **in, size_t n_in, struct wn_shuffle_sink *sink,
                      struct wn_error *err)
{
    struct lsh_stage *st = state;
    uint32_t *partitions = NULL, band_lo, band_hi;
    size_t cap = 0;
    int rc = 0;

    /* An executor that knows rounds says which; one that does not runs a
     * single round, which must then take every band. */
    if (sink->struct_size >= offsetof(struct wn_shuffle_sink, num_rounds) + sizeof(uint32_t)) {
        band_lo = wn_shuffle_sink_round(sink) * st->bands_per_iteration;
        band_hi = band_lo + st->bands_per_iteration;
    } else {
        band_lo = 0;
        band_hi = st->num_bands;
    }
    if (band_hi > st->num_bands)
        band_hi = st->num_bands;
    if (band_lo >= band_hi)
        return 0;
    for (size_t i = 0; i < n_in && rc == 0; i++) {
        struct wn_table rows;

        if (in[i] == NULL)
            continue;
        memset(&rows, 0, sizeof(rows));
        rc = band_rows(st, in[i], band_lo, band_hi, sink->num_partitions, &rows, &partitions, &cap,
                       err);
        if (rc == 0 && wn_table_num_rows(&rows) > 0) {
            rc = wn_shuffle_insert(sink, &rows, partitions, err);
            if (rc < 0)
                wn_error_prefix(err, "%s: task %s", st->stage_name, wn_task_id(in[i]));
        }
        wn_table_release(&rows);
    }
    free(partitions);
    return rc;
}

/* ---- extract ------------------------------------------------------------------ */

struct rows_view {
    const struct wn_table *t;
    const uint64_t *buckets;
    int64_t id_col;
    int id_is_text;
};

static int row_compare(const void *a, const void *b, void *arg)
{
    const struct rows_view *v = arg;
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    if (v->buckets[x] != v->buckets[y])
        return v->buckets[x] < v->buckets[y] ? -1 : 1;
    if (v->id_is_text) {
        size_t lx, ly;
        const char *sx = wn_table_get_utf8(v->t, v->id_col, x, &lx);
        const char *sy = wn_table_get_utf8(v->t, v->id_col, y, &ly);
        int c = memcmp(sx, sy, lx < ly ? lx : ly);

        if (c != 0)
            return c < 0 ? -1 : 1;
        if (lx != ly)
            return lx < ly ? -1 : 1;
    } else {
        int64_t ix = wn_table_get_int64(v->t, v->id_col, x);
        int64_t iy = wn_table_get_int64(v->t, v->id_col, y);

        if (ix != iy)
            return ix < iy ? -1 : 1;
    }
    return x < y ? -1 : x > y;
}

static int lsh_extract(void *state, const struct wn_shuffle_partition *partition,
                       struct wn_table *rows, struct wn_emitter *out, struct wn_error *err)
{
    struct lsh_stage *st = state;
    int64_t n = wn_table_num_rows(rows), bucket_col, kept_rows = 0;
    uint64_t *buckets = NULL, kept_buckets = 0;
    int64_t *order = NULL;
    struct wn_table_builder *b = NULL;
    struct wn_table table;
    struct rows_view v;
    struct wn_task *task;
    enum wn_column_type id_type;
    char id[320], value[32];
    int rc = 0;

    if (n == 0)
        return 0;
    memset(&table, 0, sizeof(table));
    bucket_col = wn_table_column_index(rows, st->bucket_field);
    v.id_col = wn_table_column_index(rows, st->id_field);
    if (bucket_col < 0 || v.id_col < 0 ||
        wn_table_column_type(rows, bucket_col) != WN_COLUMN_UINT64)
        return wn_error_set(err, WN_EINTERNAL,
                            "%s: partition %u holds rows without the uint64 \"%s\" and the \"%s\" "
                            "columns its insert wrote",
                            st->stage_name, partition->index, st->bucket_field, st->id_field);
    id_type = wn_table_column_type(rows, v.id_col);
    v.t = rows;
    v.id_is_text = id_type == WN_COLUMN_UTF8 || id_type == WN_COLUMN_LARGE_UTF8;
    buckets = malloc((size_t)n * sizeof(*buckets));
    order = malloc((size_t)n * sizeof(*order));
    if (buckets == NULL || order == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: partition %u: out of memory for %" PRId64 " rows",
                          st->stage_name, partition->index, n);
        goto out_free;
    }
    for (int64_t r = 0; r < n; r++) {
        buckets[r] = wn_table_get_uint64(rows, bucket_col, r);
        order[r] = r;
    }
    v.buckets = buckets;
    qsort_r(order, (size_t)n, sizeof(*order), row_compare, &v);

    b = wn_table_builder_new();
    if (b == NULL || wn_table_builder_add_column(b, st->bucket_field, WN_COLUMN_UINT64, 0) < 0 ||
        wn_table_builder_add_column(b, st->id_field, id_type, 0) < 0) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
        goto out_free;
    }
    for (int64_t s = 0, e; s < n; s = e) {
        for (e = s + 1; e < n && buckets[order[e]] == buckets[order[s]]; e++)
            ;
        if (e - s < 2)
            continue;
        kept_buckets++;
        for (int64_t k = s; k < e; k++) {
            if (wn_table_builder_append_uint64(b, 0, buckets[order[k]]) < 0 ||
                wn_table_builder_append_cell(b, 1, rows, v.id_col, order[k]) < 0) {
                rc = wn_error_set(err, WN_ENOMEM, "%s: partition %u: %s", st->stage_name,
                                  partition->index, wn_table_builder_last_error(b));
                goto out_free;
            }
            kept_rows++;
        }
    }
    if (kept_rows == 0)
        goto out_free; /* no bucket of 2+ documents: nothing to hand on */
    rc = wn_table_builder_finish(b, &table, err);
    if (rc < 0)
        goto out_free;
    snprintf(id, sizeof(id), "%s_%u_%u", partition->stage_name ? partition->stage_name : STAGE_NAME,
             wn_shuffle_partition_round(partition), partition->index);
    task = wn_task_new(id, partition->dataset);
    if (task == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
        goto out_free;
    }
    snprintf(value, sizeof(value), "%" PRIu64, kept_buckets);
    rc = wn_task_meta_set(task, "lsh.buckets", value);
    snprintf(value, sizeof(value), "%u", partition->index);
    if (rc == 0)
        rc = wn_task_meta_set(task, "partition", value);
    if (rc == 0)
        rc = wn_task_set_table(task, &table, err);
    if (rc < 0) {
        wn_task_free(task);
        if (err->code == 0)
            wn_error_set(err, rc, "%s: out of memory", st->stage_name);
        goto out_free;
    }
    rc = wn_emit(out, task);
    if (rc < 0)
        wn_error_set(err, rc, "%s: the executor refused output task %s", st->stage_name, id);
out_free:
    wn_table_release(&table);
    wn_table_builder_free(b);
    free(buckets);
    free(order);
    return rc;
}

/* ---- the descriptor ------------------------------------------------------------ */

static const struct wn_param_spec lsh_params[] = {
    { "id_field", WN_PARAM_STRING, 0, "\"id\"", 0, 0, NULL,
      "the document id column (strings or integers), copied to the output" },
    { "signature_field", WN_PARAM_STRING, 0, "\"_minhash_signature\"", 0, 0, NULL,
      "the fixed_size_list<uint32> signature column minhash wrote" },
    { "bucket_field", WN_PARAM_STRING, 0, "\"_bucket_id\"", 0, 0, NULL,
      "the output's bucket id column (uint64)" },
    { "num_bands", WN_PARAM_INT, WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, "20", 1,
      FUZZY_MINHASH_MAX_PERMUTATIONS, NULL, "LSH bands: minhash's num_bands" },
    { "rows_per_band", WN_PARAM_INT, WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, "13", 1,
      FUZZY_MINHASH_MAX_PERMUTATIONS, NULL, "signature values per band: minhash's rows_per_band" },
    { "bands_per_iteration", WN_PARAM_INT, WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, NULL, 1,
      FUZZY_MINHASH_MAX_PERMUTATIONS, NULL,
      "bands shuffled per round, 1..num_bands (default 5, or num_bands when fewer): the "
      "shuffle holds one round's rows at a time" },
    { "partitions", WN_PARAM_INT, WN_PARAM_HAS_MIN, NULL, 1, 0, NULL,
      "shuffle partitions (default: the largest power of two <= the input task count)" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

static const struct wn_stage_ops lsh_ops = {
    .version = WN_STAGE_OPS_VERSION,
    .create = lsh_create,
    .setup = lsh_setup,
    .process_batch = lsh_process,
    .destroy = lsh_destroy,
};

static const struct wn_shuffle_stage_ops lsh_shuffle = {
    .version = WN_SHUFFLE_STAGE_OPS_VERSION,
    .partitioning = WN_SHUFFLE_PARTITIONS_POW2,
    .partitions_param = "partitions",
    .insert = lsh_insert,
    .extract = lsh_extract,
    .num_rounds = lsh_num_rounds,
};

const struct wn_stage_desc fuzzy_lsh_stage = {
    WN_STAGE_HEADER,
    .name = STAGE_NAME,
    .summary = "LSH buckets of MinHash signatures, shuffled on bucket id, bands_per_iteration "
               "bands per round; keeps buckets of 2+ documents",
    .params = lsh_params,
    .resources = { .cpus = 1.0 },
    .batch_size = 1,
    .kind = WN_STAGE_SHUFFLE,
    .input_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .output_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .required_columns = NULL,
    .ops = &lsh_ops,
    .shuffle = &lsh_shuffle,
};
