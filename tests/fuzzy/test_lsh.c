/*
 * The lsh stage.  Its hooks are driven in-process by a small stand-in for
 * the executor's shuffle (rows kept per partition, then extract per
 * partition, once per round), and the whole flow runs through the winnow
 * command: minhash -> lsh (ucx shuffle) -> buckets_to_edges ->
 * connected_components (ucx comms) -> jsonl_writer, whose labels must give
 * exactly the duplicates a union-find over fuzzy_lsh_bucket_id says, for any
 * number of ranks and bands per round; plus the candidate rate per Jaccard
 * bin with the real lsh beside the S-curve, and precision and recall of the
 * documents removed.  The winnow runs are skipped (77) without UCX.
 */
#include "build_config.h"

#include <math.h>
#include <sys/wait.h>

#include <winnow/shuffle.h>

#include "fuzzy_harness.h"
#include "corpus_reader.h"
#include "lsh.h"
#include "minhash_core.h"

#define BANDS 20
#define ROWS 13
#define K (BANDS * ROWS)

HARNESS_SUITE_TMPDIR(dir, suite_init, suite_cleanup)

/* ---- the hooks, in-process ---------------------------------------------------- */

struct fake_row {
    uint64_t bucket;
    int64_t id;
};

struct fake_shuffle {
    struct wn_shuffle_sink sink; /* first */
    uint32_t P;
    struct fake_row **rows; /* per partition */
    size_t *n, *cap;
    size_t misplaced; /* rows whose partition is not bucket % P */
};

static int fake_insert(struct wn_shuffle_sink *self, const struct wn_table *rows,
                       const uint32_t *partitions, struct wn_error *err)
{
    struct fake_shuffle *f = (struct fake_shuffle *)self;
    int64_t bcol = wn_table_column_index(rows, "_bucket_id"),
            icol = wn_table_column_index(rows, "id");

    if (bcol < 0 || icol < 0)
        return wn_error_set(err, WN_EINVAL, "no _bucket_id or id column");
    for (int64_t r = 0; r < wn_table_num_rows(rows); r++) {
        uint32_t p = partitions[r];
        uint64_t bucket = wn_table_get_uint64(rows, bcol, r);

        if (p >= f->P)
            return wn_error_set(err, WN_EINVAL, "partition %u of %u", p, f->P);
        f->misplaced += bucket % f->P != p;
        if (f->n[p] == f->cap[p]) {
            f->cap[p] = f->cap[p] ? f->cap[p] * 2 : 64;
            f->rows[p] = realloc(f->rows[p], f->cap[p] * sizeof(**f->rows));
        }
        f->rows[p][f->n[p]].bucket = bucket;
        f->rows[p][f->n[p]++].id = wn_table_get_int64(rows, icol, r);
    }
    return 0;
}

/* Runs lsh with params_json over tasks (kept) with P partitions, round by
 * round as the executor does; the outputs land in out.  0 or the failure's
 * code, err filled. */
static int fake_run(const char *params_json, struct wn_task **tasks, size_t n_tasks, uint32_t P,
                    struct harness_sink *out, size_t *misplaced, struct wn_error *err)
{
    const struct wn_stage_desc *desc = harness_stage("lsh");
    const struct wn_shuffle_stage_ops *hooks = desc->shuffle;
    struct wn_params *params = harness_params("lsh", params_json, err);
    struct fake_shuffle f;
    uint32_t rounds = 0;
    void *state = NULL;
    int rc;

    if (params == NULL)
        return err->code;
    rc = hooks->num_rounds(params, &rounds, err);
    if (rc == 0)
        rc = desc->ops->create(params, &state, err);
    for (uint32_t round = 0; rc == 0 && round < rounds; round++) {
        memset(&f, 0, sizeof(f));
        f.sink.struct_size = sizeof(f.sink);
        f.sink.num_partitions = P;
        f.sink.insert = fake_insert;
        f.sink.round = round;
        f.sink.num_rounds = rounds;
        f.P = P;
        f.rows = calloc(P, sizeof(*f.rows));
        f.n = calloc(P, sizeof(*f.n));
        f.cap = calloc(P, sizeof(*f.cap));
        rc = hooks->insert(state, tasks, n_tasks, &f.sink, err);
        for (uint32_t p = 0; p < P; p++) {
            struct wn_shuffle_partition info;
            struct wn_table_builder *b = wn_table_builder_new();
            struct wn_table t;

            memset(&t, 0, sizeof(t));
            if (rc == 0 && f.n[p] > 0) {
                wn_table_builder_add_column(b, "_bucket_id", WN_COLUMN_UINT64, 0);
                wn_table_builder_add_column(b, "id", WN_COLUMN_INT64, 0);
                for (size_t i = 0; i < f.n[p]; i++) {
                    wn_table_builder_append_uint64(b, 0, f.rows[p][i].bucket);
                    wn_table_builder_append_int64(b, 1, f.rows[p][i].id);
                }
            }
            if (rc == 0)
                rc = wn_table_builder_finish(b, &t, err);
            memset(&info, 0, sizeof(info));
            info.struct_size = sizeof(info);
            info.index = p;
            info.num_partitions = P;
            info.num_ranks = 1;
            info.stage_name = "lsh";
            info.round = round;
            info.num_rounds = rounds;
            if (rc == 0)
                rc = hooks->extract(state, &info, &t, &out->emitter, err);
            wn_table_release(&t);
            wn_table_builder_free(b);
            free(f.rows[p]);
        }
        if (misplaced != NULL)
            *misplaced += f.misplaced;
        free(f.rows);
        free(f.n);
        free(f.cap);
    }
    if (state != NULL)
        desc->ops->destroy(state);
    wn_params_free(params);
    return rc;
}

/* A task "t<k>" with ids and signatures of k_values values each. */
static struct wn_task *signature_task(int k, const int64_t *ids, const uint32_t *sigs, size_t n,
                                      int32_t k_values)
{
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table t;
    struct wn_task *task;
    char name[32];

    wn_table_builder_add_column(b, "id", WN_COLUMN_INT64, 0);
    wn_table_builder_add_column(b, "_minhash_signature", WN_COLUMN_FIXED_LIST_UINT32, k_values);
    for (size_t i = 0; i < n; i++) {
        wn_table_builder_append_int64(b, 0, ids[i]);
        wn_table_builder_append_uint32_list(b, 1, sigs + i * (size_t)k_values);
    }
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &t, &err), 0);
    wn_table_builder_free(b);
    snprintf(name, sizeof(name), "t%d", k);
    task = wn_task_new(name, NULL);
    CU_ASSERT_EQUAL_FATAL(wn_task_set_table(task, &t, &err), 0);
    return task;
}

static int row_compare(const void *a, const void *b)
{
    const struct fake_row *x = a, *y = b;

    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Every (bucket, id) row of the outputs, sorted. */
static struct fake_row *output_rows(const struct harness_sink *out, size_t *n)
{
    struct fake_row *rows = NULL;
    size_t count = 0;

    for (size_t i = 0; i < out->count; i++) {
        const struct wn_table *t = wn_task_table(out->tasks[i]);
        int64_t b = wn_table_column_index(t, "_bucket_id"), id = wn_table_column_index(t, "id");

        CU_ASSERT_FATAL(b >= 0 && id >= 0);
        CU_ASSERT_EQUAL(wn_table_column_type(t, b), WN_COLUMN_UINT64);
        rows = realloc(rows, (count + (size_t)wn_table_num_rows(t) + 1) * sizeof(*rows));
        for (int64_t r = 0; r < wn_table_num_rows(t); r++) {
            rows[count].bucket = wn_table_get_uint64(t, b, r);
            rows[count++].id = wn_table_get_int64(t, id, r);
        }
    }
    qsort(rows, count, sizeof(*rows), row_compare);
    *n = count;
    return rows;
}

static void test_bucket_ids_use_the_absolute_band_number(void)
{
    /* Two documents whose signature is one value repeated: every band has
     * the same values, so only the band number tells the buckets apart.
     * With round-relative numbers, rounds 1..3 would reuse round 0's ids. */
    uint32_t sigs[2 * 8];
    int64_t ids[2] = { 10, 11 };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *task;
    struct harness_sink out;
    struct fake_row *rows;
    size_t n, misplaced = 0;
    uint32_t values[2] = { 7, 7 };

    for (size_t i = 0; i < 16; i++)
        sigs[i] = 7;
    task = signature_task(0, ids, sigs, 2, 8);
    harness_sink_init(&out);
    CU_ASSERT_EQUAL_FATAL(fake_run("{\"num_bands\": 4, \"rows_per_band\": 2, "
                                   "\"bands_per_iteration\": 1}",
                                   &task, 1, 4, &out, &misplaced, &err),
                          0);
    rows = output_rows(&out, &n);
    CU_ASSERT_EQUAL_FATAL(n, 8);
    for (uint32_t band = 0; band < 4; band++) {
        uint64_t want = fuzzy_lsh_bucket_id(band, values, 2);
        size_t found = 0;

        for (size_t i = 0; i < n; i++)
            found += rows[i].bucket == want;
        CU_ASSERT_EQUAL(found, 2);
    }
    for (size_t i = 0; i + 2 < n; i += 2) {
        CU_ASSERT_EQUAL(rows[i].bucket, rows[i + 1].bucket);
        CU_ASSERT_NOT_EQUAL(rows[i].bucket, rows[i + 2].bucket);
    }
    CU_ASSERT_NOT_EQUAL(fuzzy_lsh_bucket_id(0, values, 2), fuzzy_lsh_bucket_id(1, values, 2));
    CU_ASSERT_EQUAL(misplaced, 0);
    free(rows);
    harness_sink_clear(&out);
    wn_task_free(task);
}

static void test_only_buckets_of_two_or_more_documents_are_kept(void)
{
    /* Band 0: docs 1 and 2 agree; band 1: docs 2 and 3 agree; doc 4 alone. */
    uint32_t sigs[4 * 4] = { 1, 1, 50, 50, 1, 1, 9, 9, 60, 60, 9, 9, 70, 70, 80, 80 };
    int64_t ids[4] = { 1, 2, 3, 4 };
    uint32_t band0[2] = { 1, 1 }, band1[2] = { 9, 9 };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *task;
    struct harness_sink out;
    struct fake_row *rows;
    size_t n;

    task = signature_task(0, ids, sigs, 4, 4);
    harness_sink_init(&out);
    CU_ASSERT_EQUAL_FATAL(
        fake_run("{\"num_bands\": 2, \"rows_per_band\": 2}", &task, 1, 2, &out, NULL, &err), 0);
    rows = output_rows(&out, &n);
    CU_ASSERT_EQUAL_FATAL(n, 4);
    for (size_t i = 0; i < n; i++) {
        int64_t want_a = rows[i].bucket == fuzzy_lsh_bucket_id(0, band0, 2) ? 1 : 2;

        CU_ASSERT(rows[i].bucket == fuzzy_lsh_bucket_id(0, band0, 2) ||
                  rows[i].bucket == fuzzy_lsh_bucket_id(1, band1, 2));
        CU_ASSERT(rows[i].id == want_a || rows[i].id == want_a + 1);
    }
    /* Each bucket is whole in one output task. */
    for (size_t i = 0; i < out.count; i++)
        CU_ASSERT_EQUAL(wn_table_num_rows(wn_task_table(out.tasks[i])) % 2, 0);
    free(rows);
    harness_sink_clear(&out);
    wn_task_free(task);
}

static void test_one_and_n_bands_per_round_give_the_same_rows(void)
{
    enum { DOCS = 300, NB = 6, NR = 3 };
    uint32_t *sigs = malloc(DOCS * NB * NR * sizeof(*sigs));
    int64_t ids[DOCS];
    struct wn_task *tasks[3];
    struct fake_row *rows[4];
    size_t n[4];
    static const char *const params[4] = {
        "{\"num_bands\": 6, \"rows_per_band\": 3, \"bands_per_iteration\": 1}",
        "{\"num_bands\": 6, \"rows_per_band\": 3, \"bands_per_iteration\": 4}",
        "{\"num_bands\": 6, \"rows_per_band\": 3, \"bands_per_iteration\": 6}",
        "{\"num_bands\": 6, \"rows_per_band\": 3, \"bands_per_iteration\": 2}",
    };
    uint64_t state = 99;

    /* Values from a small alphabet, so that many bands collide. */
    for (size_t i = 0; i < DOCS * NB * NR; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        sigs[i] = (uint32_t)(state >> 60) % 3;
    }
    for (int64_t i = 0; i < DOCS; i++)
        ids[i] = i * 3;
    for (int k = 0; k < 3; k++)
        tasks[k] = signature_task(k, ids + k * 100, sigs + (size_t)k * 100 * NB * NR, 100, NB * NR);
    for (int c = 0; c < 4; c++) {
        struct wn_error err = WN_ERROR_INIT;
        struct harness_sink out;

        harness_sink_init(&out);
        CU_ASSERT_EQUAL_FATAL(fake_run(params[c], tasks, 3, c == 3 ? 1 : 8, &out, NULL, &err), 0);
        rows[c] = output_rows(&out, &n[c]);
        harness_sink_clear(&out);
    }
    CU_ASSERT(n[0] > 100);
    for (int c = 1; c < 4; c++) {
        CU_ASSERT_EQUAL_FATAL(n[c], n[0]);
        CU_ASSERT_EQUAL(memcmp(rows[c], rows[0], n[0] * sizeof(*rows[0])), 0);
    }
    for (int c = 0; c < 4; c++)
        free(rows[c]);
    for (int k = 0; k < 3; k++)
        wn_task_free(tasks[k]);
    free(sigs);
}

static void test_a_signature_of_another_length_is_refused_naming_both_params(void)
{
    uint32_t sigs[12] = { 0 };
    int64_t ids[1] = { 1 };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *task = signature_task(0, ids, sigs, 1, 12);
    struct harness_sink out;

    harness_sink_init(&out);
    CU_ASSERT_EQUAL(
        fake_run("{\"num_bands\": 4, \"rows_per_band\": 4}", &task, 1, 1, &out, NULL, &err),
        WN_EINVAL);
    printf("\n  %s\n", err.message);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "12 values per row"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "num_bands (4)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "rows_per_band (4)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "task t0"));
    CU_ASSERT_EQUAL(out.count, 0);
    harness_sink_clear(&out);
    wn_task_free(task);
}

static void test_bands_per_iteration_beyond_num_bands_is_refused(void)
{
    const struct wn_shuffle_stage_ops *hooks = harness_stage("lsh")->shuffle;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params =
        harness_params("lsh", "{\"num_bands\": 4, \"bands_per_iteration\": 5}", &err);
    uint32_t rounds = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(params);
    CU_ASSERT_EQUAL(hooks->num_rounds(params, &rounds, &err), WN_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "bands_per_iteration is 5"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "num_bands (4)"));
    wn_params_free(params);
    params = harness_params("lsh", "{\"num_bands\": 20, \"bands_per_iteration\": 6}", &err);
    CU_ASSERT_EQUAL(hooks->num_rounds(params, &rounds, &err), 0);
    CU_ASSERT_EQUAL(rounds, 4);
    wn_params_free(params);
}

/* ---- through the winnow command --------------------------------------------------- */

static void show_stderr(const char *sub)
{
    char *path, *text;

    if (asprintf(&path, "%s/%s/stderr", dir, sub) < 0)
        return;
    text = harness_read(path, NULL);
    printf("\n  winnow's stderr:\n%s\n", text ? text : "(none)");
    free(text);
    free(path);
}

/* Runs `winnow run` on config in dir/sub; returns the exit status. */
static int run_winnow(const char *sub, const char *config)
{
    char *cmd, *path;
    int rc;

    if (asprintf(&path, "%s/%s", dir, sub) < 0)
        return -1;
    mkdir(path, 0777);
    free(path);
    if (asprintf(&path, "%s/%s", dir, sub) < 0 ||
        harness_write_text(path, "pipeline.json", config) < 0)
        return -1;
    free(path);
    if (asprintf(&cmd, "cd '%s/%s' && '%s/cli/winnow' run pipeline.json > stdout 2> stderr", dir,
                 sub, wn_test_builddir()) < 0)
        return -1;
    rc = system(cmd);
    free(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (rc != 0)
        show_stderr(sub);
    return rc;
}

/* The labels pipeline over docs_dir (absolute), lsh on ranks ranks with per
 * bands per round; labels go to dir/sub/labels. */
static int run_labels(const char *sub, const char *docs_dir, unsigned ranks, unsigned per)
{
    char *config;
    int rc;

    if (asprintf(&config,
                 "{\n"
                 "  \"executor\": { \"backend\": \"actor_pool\", \"mode\": \"barrier\" },\n"
                 "  \"stages\": [\n"
                 "    { \"stage\": \"file_partitioning\", \"params\": { \"paths\": [\"%s\"] } },\n"
                 "    { \"stage\": \"jsonl_reader\" },\n"
                 "    { \"stage\": \"minhash\" },\n"
                 "    { \"stage\": \"lsh\", \"shuffle\": \"ucx\", \"actors\": %u,\n"
                 "      \"params\": { \"bands_per_iteration\": %u } },\n"
                 "    { \"stage\": \"buckets_to_edges\" },\n"
                 "    { \"stage\": \"connected_components\", \"comms\": \"ucx\", \"actors\": 2 },\n"
                 "    { \"stage\": \"jsonl_writer\", \"params\": { \"path\": \"labels\" } }\n"
                 "  ]\n"
                 "}\n",
                 docs_dir, ranks, per) < 0)
        return -1;
    rc = run_winnow(sub, config);
    free(config);
    return rc;
}

/* Reads dir/sub/labels into removed[0..n): 1 for a labelled document whose
 * group has a smaller id.  Returns the number of labels, -1 on a bad line. */
static long read_removed(const char *sub, uint8_t *removed, size_t n)
{
    char *path, *file;
    DIR *d;
    struct dirent *e;
    size_t *group_of = malloc(n * sizeof(*group_of)), *min_of = malloc(n * sizeof(*min_of));
    long count = 0;

    memset(removed, 0, n);
    for (size_t i = 0; i < n; i++) {
        group_of[i] = SIZE_MAX;
        min_of[i] = SIZE_MAX;
    }
    if (asprintf(&path, "%s/%s/labels", dir, sub) < 0)
        return -1;
    d = opendir(path);
    while (d != NULL && (e = readdir(d)) != NULL) {
        char *data, *line, *save = NULL;

        if (e->d_name[0] == '.' || strstr(e->d_name, ".jsonl") == NULL)
            continue;
        if (asprintf(&file, "%s/%s", path, e->d_name) < 0)
            break;
        data = harness_read(file, NULL);
        for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
            json_error_t jerr;
            json_t *obj = json_loads(line, 0, &jerr);
            size_t i = corpus_value_index(json_object_get(obj, "id"));
            json_int_t g = json_integer_value(json_object_get(obj, "group_id"));

            if (obj == NULL || i >= n || g < 0 || (size_t)g >= n) {
                count = -1;
                json_decref(obj);
                break;
            }
            group_of[i] = (size_t)g;
            if (i < min_of[g])
                min_of[g] = i;
            count++;
            json_decref(obj);
        }
        free(data);
        free(file);
    }
    if (d != NULL)
        closedir(d);
    for (size_t i = 0; i < n; i++)
        removed[i] = group_of[i] != SIZE_MAX && min_of[group_of[i]] != i;
    free(path);
    free(group_of);
    free(min_of);
    return count;
}

/* What should go: documents sharing a bucket (fuzzy_lsh_bucket_id over all
 * 20 bands) are joined; all but the smallest of each component go. */
static void reference_removed(const struct corpus *c, uint8_t *removed)
{
    struct fuzzy_minhash mh;
    struct fuzzy_minhash_scratch scratch;
    uint32_t sig[K];
    size_t n = c->count, *parent = malloc(n * sizeof(*parent)), *smallest;
    struct fz_bucket_row *rows = malloc(n * BANDS * sizeof(*rows));
    size_t n_rows = 0;

    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh, 24, K, 42, fuzzy_minhash_kernel_best()), 0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_scratch_init(&scratch, &mh), 0);
    for (size_t i = 0; i < n; i++) {
        parent[i] = i;
        fuzzy_minhash_signature(&mh, &scratch, c->text[i], c->len[i], sig);
        for (uint32_t b = 0; b < BANDS; b++) {
            rows[n_rows].bucket = fuzzy_lsh_bucket_id(b, sig + b * ROWS, ROWS);
            rows[n_rows++].doc = i;
        }
    }
    qsort(rows, n_rows, sizeof(*rows), fz_bucket_compare);
    for (size_t s = 0, e; s < n_rows; s = e) {
        for (e = s + 1; e < n_rows && rows[e].bucket == rows[s].bucket; e++)
            parent[fz_uf_find(parent, rows[e].doc)] = fz_uf_find(parent, rows[s].doc);
    }
    smallest = malloc(n * sizeof(*smallest));
    for (size_t i = 0; i < n; i++)
        smallest[i] = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t r = fz_uf_find(parent, i);

        if (smallest[r] == SIZE_MAX)
            smallest[r] = i;
        removed[i] = smallest[r] != i;
    }
    fuzzy_minhash_scratch_clear(&scratch);
    fuzzy_minhash_clear(&mh);
    free(parent);
    free(rows);
    free(smallest);
}

static void test_any_ranks_and_bands_per_round_remove_the_reference_set(void)
{
    static const unsigned configs[][2] = { { 1, 5 }, { 2, 5 },  { 4, 5 },
                                           { 2, 1 }, { 2, 20 }, { 4, 7 } };
    char corpus_dir[4096], docs_dir[4200];
    const char *args[] = { "--docs",       "1500", "--files",     "8",   "--seed",     "23",
                           "--exact-rate", "0.1",  "--near-rate", "0.2", "--edit-max", "0.15",
                           "--min-words",  "50",   "--max-words", "300", "--int-ids",  "--out",
                           corpus_dir,     NULL };
    struct corpus c;
    uint8_t *want, *got;
    size_t n, want_count = 0;

    snprintf(corpus_dir, sizeof(corpus_dir), "%s/ranks-corpus", dir);
    snprintf(docs_dir, sizeof(docs_dir), "%s/docs", corpus_dir);
    CU_ASSERT_EQUAL_FATAL(corpus_generate(args), 0);
    CU_ASSERT_EQUAL_FATAL(corpus_read(corpus_dir, &c), 0);
    n = c.count;
    want = malloc(n);
    got = malloc(n);
    reference_removed(&c, want);
    for (size_t i = 0; i < n; i++)
        want_count += want[i];
    CU_ASSERT(want_count > 100);
    {
        /* Against the ground truth: every copy should go, every original stay. */
        char *path, *data, *line, *save = NULL;
        uint8_t *copy = calloc(n, 1);
        size_t copies = 0, hits = 0;

        CU_ASSERT(asprintf(&path, "%s/truth/clusters.jsonl", corpus_dir) > 0);
        data = harness_read(path, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(data);
        for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            json_error_t jerr;
            json_t *obj = json_loads(line, 0, &jerr), *ids = json_object_get(obj, "ids");

            for (size_t j = 1; j < json_array_size(ids); j++) {
                size_t i = corpus_value_index(json_array_get(ids, j));

                CU_ASSERT_FATAL(i < n);
                copy[i] = 1;
                copies++;
            }
            json_decref(obj);
        }
        for (size_t i = 0; i < n; i++)
            hits += want[i] && copy[i];
        printf("\n  removed %zu of %zu documents, %zu of them copies: precision %.4f, recall "
               "%.4f of %zu copies",
               want_count, n, hits, (double)hits / (double)want_count,
               (double)hits / (double)copies, copies);
        CU_ASSERT((double)hits >= 0.99 * (double)want_count);
        free(copy);
        free(data);
        free(path);
    }
    for (size_t k = 0; k < sizeof(configs) / sizeof(configs[0]); k++) {
        char sub[64];
        size_t got_count = 0, mismatches = 0;

        snprintf(sub, sizeof(sub), "ranks%u-per%u", configs[k][0], configs[k][1]);
        CU_ASSERT_EQUAL_FATAL(run_labels(sub, docs_dir, configs[k][0], configs[k][1]), 0);
        CU_ASSERT(read_removed(sub, got, n) > 0);
        for (size_t i = 0; i < n; i++) {
            got_count += got[i];
            mismatches += got[i] != want[i];
        }
        printf("\n  %u ranks, %u bands per round: %zu removed (reference %zu), %zu mismatches",
               configs[k][0], configs[k][1], got_count, want_count, mismatches);
        CU_ASSERT_EQUAL(mismatches, 0);
        CU_ASSERT_EQUAL(got_count, want_count);
    }
    printf("\n");
    free(want);
    free(got);
    corpus_free(&c);
}

static double s_curve(double s)
{
    return 1.0 - pow(1.0 - pow(s, ROWS), BANDS);
}

/* The buckets of each document in the JSONL lines under dir/sub/buckets. */
struct doc_buckets {
    uint64_t b[BANDS];
    size_t n;
};

static void read_buckets(const char *sub, struct doc_buckets *docs, size_t n_docs)
{
    char *path, *file;
    DIR *d;
    struct dirent *e;

    CU_ASSERT(asprintf(&path, "%s/%s/buckets", dir, sub) > 0);
    d = opendir(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    while ((e = readdir(d)) != NULL) {
        char *data, *line, *save = NULL;

        if (e->d_name[0] == '.' || strstr(e->d_name, ".jsonl") == NULL)
            continue;
        CU_ASSERT(asprintf(&file, "%s/%s", path, e->d_name) > 0);
        data = harness_read(file, NULL);
        for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
            unsigned long long bucket;
            unsigned long id;

            /* uint64 bucket ids may pass 2^63: read by hand, not by jansson. */
            CU_ASSERT_EQUAL_FATAL(sscanf(line, "{\"_bucket_id\": %llu, \"id\": %lu}", &bucket, &id),
                                  2);
            CU_ASSERT_FATAL(id < n_docs && docs[id].n < BANDS);
            docs[id].b[docs[id].n++] = bucket;
        }
        free(data);
        free(file);
    }
    closedir(d);
    free(path);
}

static void test_candidate_rates_of_the_real_lsh_follow_the_s_curve(void)
{
    char corpus_dir[4096], *config;
    const char *args[] = { "--docs",      "3000", "--seed",     "7",    "--exact-rate", "0.02",
                           "--near-rate", "0.75", "--edit-max", "0.35", "--min-words",  "100",
                           "--max-words", "600",  "--pairs",    "4000", "--int-ids",    "--out",
                           corpus_dir,    NULL };
    struct corpus_pair *pairs;
    struct doc_buckets *docs;
    long n_pairs;
    size_t pairs_in[10] = { 0 }, cands[10] = { 0 }, high = 0, high_cands = 0, low = 0,
           low_cands = 0;
    double theory[10] = { 0 };
    json_t *summary;
    size_t n_docs;

    snprintf(corpus_dir, sizeof(corpus_dir), "%s/quality-corpus", dir);
    CU_ASSERT_EQUAL_FATAL(corpus_generate(args), 0);
    summary = corpus_summary(corpus_dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(summary);
    n_docs = 3000;
    json_decref(summary);
    CU_ASSERT_FATAL(
        asprintf(&config,
                 "{\n"
                 "  \"executor\": { \"backend\": \"actor_pool\", \"mode\": \"barrier\" },\n"
                 "  \"stages\": [\n"
                 "    { \"stage\": \"file_partitioning\", \"params\": { \"paths\": "
                 "[\"%s/docs\"] } },\n"
                 "    { \"stage\": \"jsonl_reader\" },\n"
                 "    { \"stage\": \"minhash\" },\n"
                 "    { \"stage\": \"lsh\", \"shuffle\": \"ucx\", \"actors\": 2 },\n"
                 "    { \"stage\": \"jsonl_writer\", \"params\": { \"path\": "
                 "\"buckets\" } }\n"
                 "  ]\n"
                 "}\n",
                 corpus_dir) > 0);
    CU_ASSERT_EQUAL_FATAL(run_winnow("quality", config), 0);
    free(config);
    docs = calloc(n_docs, sizeof(*docs));
    read_buckets("quality", docs, n_docs);
    n_pairs = corpus_read_pairs(corpus_dir, &pairs);
    CU_ASSERT_FATAL(n_pairs > 1000);
    for (long i = 0; i < n_pairs; i++) {
        const struct corpus_pair *p = &pairs[i];
        int bin = p->jaccard >= 1.0 ? 9 : (int)(p->jaccard * 10);
        int cand = 0;

        CU_ASSERT_FATAL(p->a < n_docs && p->b < n_docs);
        for (size_t x = 0; x < docs[p->a].n && !cand; x++)
            for (size_t y = 0; y < docs[p->b].n && !cand; y++)
                cand = docs[p->a].b[x] == docs[p->b].b[y];
        pairs_in[bin]++;
        cands[bin] += (size_t)cand;
        theory[bin] += s_curve(p->jaccard);
        if (p->jaccard >= 0.9) {
            high++;
            high_cands += (size_t)cand;
        } else if (p->jaccard < 0.5) {
            low++;
            low_cands += (size_t)cand;
        }
    }
    printf("\n  | Jaccard | pairs | candidates | measured | S-curve |\n");
    for (int bin = 0; bin < 10; bin++) {
        double measured = pairs_in[bin] ? (double)cands[bin] / (double)pairs_in[bin] : 0.0;
        double want = pairs_in[bin] ? theory[bin] / (double)pairs_in[bin] : 0.0;

        printf("  | [%.1f, %.1f%s | %zu | %zu | %.4f | %.4f |\n", bin / 10.0, (bin + 1) / 10.0,
               bin == 9 ? "]" : ")", pairs_in[bin], cands[bin], measured, want);
        if (pairs_in[bin] >= 30)
            CU_ASSERT(fabs(measured - want) <=
                      4.0 * sqrt(want * (1.0 - want) / (double)pairs_in[bin]) + 0.03);
    }
    printf("  recall at Jaccard >= 0.9: %zu/%zu; candidates below 0.5: %zu/%zu\n", high_cands, high,
           low_cands, low);
    CU_ASSERT(high >= 100);
    CU_ASSERT((double)high_cands >= 0.95 * (double)high);
    CU_ASSERT(low >= 100);
    CU_ASSERT((double)low_cands <= 0.05 * (double)low);
    free(pairs);
    free(docs);
}

/* Writes the lines of docs as dir/sub/docs/part-00000.jsonl. */
static void write_docs(const char *sub, char *const *texts, size_t n)
{
    char *path;
    FILE *f;

    CU_ASSERT(asprintf(&path, "%s/%s", dir, sub) > 0);
    mkdir(path, 0777);
    free(path);
    CU_ASSERT(asprintf(&path, "%s/%s/docs", dir, sub) > 0);
    mkdir(path, 0777);
    free(path);
    CU_ASSERT(asprintf(&path, "%s/%s/docs/part-00000.jsonl", dir, sub) > 0);
    f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (size_t i = 0; i < n; i++) {
        json_t *obj = json_pack("{s:I, s:s}", "id", (json_int_t)i, "text", texts[i]);
        char *line = json_dumps(obj, JSON_COMPACT);

        fprintf(f, "%s\n", line);
        free(line);
        json_decref(obj);
    }
    fclose(f);
    free(path);
}

/* Runs the labels pipeline over texts in dir/sub; the removed flags land in
 * removed (n entries); returns the number of labels or -1. */
static long dedup_texts(const char *sub, char *const *texts, size_t n, uint8_t *removed)
{
    char *docs;
    long labels;

    write_docs(sub, texts, n);
    CU_ASSERT(asprintf(&docs, "%s/%s/docs", dir, sub) > 0);
    CU_ASSERT_EQUAL_FATAL(run_labels(sub, docs, 2, 5), 0);
    free(docs);
    labels = read_removed(sub, removed, n);
    return labels;
}

static void test_empty_input_and_one_document_give_no_labels(void)
{
    char *one[1] = { "a single document, long enough to have a few 24-character shingles" };
    uint8_t removed[1];

    CU_ASSERT_EQUAL(dedup_texts("empty", NULL, 0, removed), 0);
    CU_ASSERT_EQUAL(dedup_texts("one", one, 1, removed), 0);
    CU_ASSERT_EQUAL(removed[0], 0);
}

static void test_identical_documents_leave_only_the_first(void)
{
    char *texts[40];
    uint8_t removed[40];
    size_t count = 0;

    for (size_t i = 0; i < 40; i++)
        texts[i] = "every document of this corpus says exactly the same thing, word for word";
    CU_ASSERT_EQUAL(dedup_texts("identical", texts, 40, removed), 40);
    for (size_t i = 0; i < 40; i++)
        count += removed[i];
    CU_ASSERT_EQUAL(removed[0], 0);
    CU_ASSERT_EQUAL(count, 39);
}

static void test_very_long_documents_are_found(void)
{
    enum { LEN = 3 << 20 };
    char *texts[3];
    uint8_t removed[3];
    uint64_t state = 5;

    /* Two 3 MB documents one character apart, and an unrelated third. */
    for (int k = 0; k < 3; k++)
        texts[k] = malloc(LEN + 1);
    for (size_t i = 0; i < LEN; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        texts[0][i] = texts[1][i] = (char)('a' + (state >> 59) % 26);
        texts[2][i] = (char)('a' + (state >> 33) % 26);
    }
    texts[1][LEN / 2] = texts[1][LEN / 2] == 'z' ? 'y' : 'z';
    for (int k = 0; k < 3; k++)
        texts[k][LEN] = '\0';
    CU_ASSERT_EQUAL(dedup_texts("long", texts, 3, removed), 2);
    CU_ASSERT_EQUAL(removed[0], 0);
    CU_ASSERT_EQUAL(removed[1], 1);
    CU_ASSERT_EQUAL(removed[2], 0);
    for (int k = 0; k < 3; k++)
        free(texts[k]);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "bucket ids use the absolute band number", test_bucket_ids_use_the_absolute_band_number },
        { "only buckets of two or more documents are kept",
          test_only_buckets_of_two_or_more_documents_are_kept },
        { "one and N bands per round give the same rows",
          test_one_and_n_bands_per_round_give_the_same_rows },
        { "a signature of another length is refused naming both params",
          test_a_signature_of_another_length_is_refused_naming_both_params },
        { "bands_per_iteration beyond num_bands is refused",
          test_bands_per_iteration_beyond_num_bands_is_refused },
#ifdef HAVE_UCX
        { "any ranks and bands per round remove the reference set",
          test_any_ranks_and_bands_per_round_remove_the_reference_set },
        { "candidate rates of the real lsh follow the S-curve",
          test_candidate_rates_of_the_real_lsh_follow_the_s_curve },
        { "empty input and one document give no labels",
          test_empty_input_and_one_document_give_no_labels },
        { "identical documents leave only the first",
          test_identical_documents_leave_only_the_first },
        { "very long documents are found", test_very_long_documents_are_found },
#endif
        { NULL, NULL }
    };

    return wn_test_run_suite("lsh", tests, suite_init, suite_cleanup);
}
