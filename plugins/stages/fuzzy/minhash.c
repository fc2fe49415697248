/*
 * minhash: TABLE -> TABLE.  For every row, the MinHash signature of the text
 * column: the output table has the id column (copied, any type) and
 * "_minhash_signature", a fixed_size_list<uint32>[num_bands * rows_per_band].
 * A null text is treated as the empty text; a task without rows and
 * without the columns (an empty file) gives no output.  The algorithm is in
 * minhash_core.c; the kernel is the best this CPU runs, or the one named by
 * WINNOW_MINHASH_KERNEL (portable, sse2, avx2, avx512bw), read when an actor
 * is created.
 */
#include "build_config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/log.h>
#include <winnow/plugin.h>

#include "fuzzy_common.h"
#include "minhash.h"
#include "minhash_core.h"

#define STAGE_NAME "minhash"

struct minhash_stage {
    const char *text_field;
    const char *id_field;
    char *stage_name;
    struct fuzzy_minhash mh;
    struct fuzzy_minhash_scratch scratch;
    uint32_t *sig;
};

static void minhash_destroy(void *state)
{
    struct minhash_stage *st = state;

    if (st == NULL)
        return;
    free(st->sig);
    fuzzy_minhash_scratch_clear(&st->scratch);
    fuzzy_minhash_clear(&st->mh);
    free(st->stage_name);
    free(st);
}

static int minhash_create(const struct wn_params *params, void **state, struct wn_error *err)
{
    struct minhash_stage *st = calloc(1, sizeof(*st));
    int64_t ngram = wn_params_get_int(params, "char_ngrams");
    int64_t bands = wn_params_get_int(params, "num_bands");
    int64_t rows = wn_params_get_int(params, "rows_per_band");
    uint64_t seed = (uint64_t)wn_params_get_int(params, "seed");
    enum fuzzy_minhash_kernel kernel;
    char msg[256];
    int rc;

    *state = NULL;
    if (st == NULL)
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory", STAGE_NAME);
    st->text_field = wn_params_get_string(params, "text_field");
    st->id_field = wn_params_get_string(params, "id_field");
    st->stage_name = strdup(STAGE_NAME);
    if (st->stage_name == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", STAGE_NAME);
        goto out_destroy;
    }
    if (bands * rows > FUZZY_MINHASH_MAX_PERMUTATIONS) {
        rc = wn_error_set(err, WN_ECONFIG,
                          "%s: num_bands * rows_per_band is %" PRId64 ", more than %d hash "
                          "functions; use fewer bands or rows",
                          STAGE_NAME, bands * rows, FUZZY_MINHASH_MAX_PERMUTATIONS);
        goto out_destroy;
    }
    if (fuzzy_minhash_kernel_choose(getenv("WINNOW_MINHASH_KERNEL"), &kernel, msg, sizeof(msg)) <
        0) {
        rc = wn_error_set(err, WN_EUNSUPPORTED, "%s: %s", STAGE_NAME, msg);
        goto out_destroy;
    }
    rc = fuzzy_minhash_init(&st->mh, (uint32_t)ngram, (uint32_t)(bands * rows), seed, kernel);
    if (rc == 0)
        rc = fuzzy_minhash_scratch_init(&st->scratch, &st->mh);
    if (rc < 0) {
        rc = wn_error_set(err, rc == -2 ? WN_ENOMEM : WN_EINVAL,
                          "%s: cannot set up %" PRId64 "-gram shingles with %" PRId64
                          " hash functions%s",
                          STAGE_NAME, ngram, bands * rows, rc == -2 ? ": out of memory" : "");
        goto out_destroy;
    }
    st->sig = malloc((size_t)st->mh.num_perm * sizeof(uint32_t));
    if (st->sig == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", STAGE_NAME);
        goto out_destroy;
    }
    wn_log(WN_LOG_DEBUG, STAGE_NAME, "%u-gram shingles, %u hash functions, %s kernel", st->mh.ngram,
           st->mh.num_perm, fuzzy_minhash_kernel_name(kernel));
    *state = st;
    return 0;

out_destroy:
    minhash_destroy(st);
    return rc;
}

static int minhash_setup(void *state, const struct wn_worker *worker, struct wn_error *err)
{
    struct minhash_stage *st = state;

    return fuzzy_take_worker_name(&st->stage_name, worker, STAGE_NAME, err);
}

/* Builds the signature table of one input into *out. */
static int signatures(struct minhash_stage *st, const struct wn_task *task, struct wn_table *out,
                      struct wn_error *err)
{
    const struct wn_table *table = wn_task_table(task);
    struct wn_table_builder *b;
    int64_t text_col, id_col, rows;
    enum wn_column_type text_type, id_type;
    int rc;

    rc = fuzzy_find_column(st->stage_name, task, st->text_field, "text_field", &text_col, err);
    if (rc == 0)
        rc = fuzzy_find_column(st->stage_name, task, st->id_field, "id_field", &id_col, err);
    if (rc < 0)
        return rc;
    text_type = wn_table_column_type(table, text_col);
    if (text_type != WN_COLUMN_UTF8 && text_type != WN_COLUMN_LARGE_UTF8)
        return wn_error_set(err, WN_EINVAL,
                            "%s: task %s: column \"%s\" has Arrow format \"%s\", not a string "
                            "(utf8 or large_utf8)",
                            st->stage_name, wn_task_id(task), st->text_field,
                            table->schema.children[text_col]->format);
    id_type = wn_table_column_type(table, id_col);
    if (id_type == WN_COLUMN_OTHER || id_type == WN_COLUMN_FIXED_LIST_UINT32)
        return wn_error_set(err, WN_EINVAL,
                            "%s: task %s: id column \"%s\" has Arrow format \"%s\", which cannot "
                            "be copied; ids are strings or numbers",
                            st->stage_name, wn_task_id(task), st->id_field,
                            table->schema.children[id_col]->format);

    b = wn_table_builder_new();
    if (b == NULL || wn_table_builder_add_column(b, st->id_field, id_type, 0) < 0 ||
        wn_table_builder_add_column(b, FUZZY_MINHASH_SIGNATURE_COLUMN, WN_COLUMN_FIXED_LIST_UINT32,
                                    (int32_t)st->mh.num_perm) < 0) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
        goto out_free_builder;
    }
    rows = wn_table_num_rows(table);
    for (int64_t row = 0; row < rows; row++) {
        size_t len = 0;
        const char *text = wn_table_get_utf8(table, text_col, row, &len);

        fuzzy_minhash_signature(&st->mh, &st->scratch, text, len, st->sig);
        if (wn_table_builder_append_cell(b, 0, table, id_col, row) < 0 ||
            wn_table_builder_append_uint32_list(b, 1, st->sig) < 0) {
            rc = wn_error_set(err, WN_ENOMEM, "%s: task %s, row %" PRId64 ": %s", st->stage_name,
                              wn_task_id(task), row, wn_table_builder_last_error(b));
            goto out_free_builder;
        }
    }
    rc = wn_table_builder_finish(b, out, err);
    if (rc < 0)
        wn_error_prefix(err, "%s: task %s", st->stage_name, wn_task_id(task));
out_free_builder:
    wn_table_builder_free(b);
    return rc;
}

static int minhash_process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                           struct wn_error *err)
{
    struct minhash_stage *st = state;
    struct wn_table *tables = calloc(n_in ? n_in : 1, sizeof(*tables));
    int rc = 0;

    if (tables == NULL)
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
    /* Compute every output first, so that a failure leaves the inputs in place. */
    /* A task without rows and without the columns (a reader gives an empty
     * file no columns) has nothing to sign: it is dropped. */
    for (size_t i = 0; i < n_in && rc == 0; i++)
        if (in[i] != NULL && wn_task_table(in[i]) != NULL &&
            wn_table_num_rows(wn_task_table(in[i])) == 0 &&
            (wn_table_column_index(wn_task_table(in[i]), st->text_field) < 0 ||
             wn_table_column_index(wn_task_table(in[i]), st->id_field) < 0)) {
            wn_task_free(in[i]);
            in[i] = NULL;
        }
    for (size_t i = 0; i < n_in && rc == 0; i++)
        if (in[i] != NULL)
            rc = signatures(st, in[i], &tables[i], err);
    for (size_t i = 0; i < n_in && rc == 0; i++) {
        struct wn_task *task;

        if (in[i] == NULL)
            continue;
        task = wn_task_take(&in[i]);
        rc = wn_task_set_table(task, &tables[i], err);
        if (rc < 0) {
            wn_error_prefix(err, "%s: task %s", st->stage_name, wn_task_id(task));
            wn_task_free(task);
            break;
        }
        rc = wn_emit(out, task);
        if (rc < 0)
            rc = wn_error_set(err, rc, "%s: cannot emit a task", st->stage_name);
    }
    for (size_t i = 0; i < n_in; i++)
        wn_table_release(&tables[i]);
    free(tables);
    return rc;
}

static const struct wn_param_spec minhash_params[] = {
    { "text_field", WN_PARAM_STRING, 0, "\"text\"", 0, 0, NULL, "the string column to shingle" },
    { "id_field", WN_PARAM_STRING, 0, "\"id\"", 0, 0, NULL,
      "the document id column, copied to the output" },
    { "char_ngrams", WN_PARAM_INT, WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, "24", 1,
      FUZZY_MINHASH_MAX_NGRAM, NULL, "code points per shingle" },
    { "num_bands", WN_PARAM_INT, WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, "20", 1,
      FUZZY_MINHASH_MAX_PERMUTATIONS, NULL, "LSH bands (the signature has bands x rows values)" },
    { "rows_per_band", WN_PARAM_INT, WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, "13", 1,
      FUZZY_MINHASH_MAX_PERMUTATIONS, NULL, "hash functions per LSH band" },
    { "seed", WN_PARAM_INT, WN_PARAM_HAS_MIN, "42", 0, 0, NULL,
      "seed of the shingle hash and the permutations" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

static const struct wn_stage_ops minhash_ops = {
    .version = WN_STAGE_OPS_VERSION,
    .create = minhash_create,
    .setup = minhash_setup,
    .process_batch = minhash_process,
    .destroy = minhash_destroy,
};

const struct wn_stage_desc fuzzy_minhash_stage = {
    WN_STAGE_HEADER,
    .name = STAGE_NAME,
    .summary = "MinHash signatures of character n-gram shingles of a text column",
    .params = minhash_params,
    .resources = { .cpus = 1.0 },
    .batch_size = 1,
    .kind = WN_STAGE_PLAIN,
    .input_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .output_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .required_columns = NULL,
    .ops = &minhash_ops,
};
