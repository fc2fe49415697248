/*
 * buckets_to_edges -> connected_components (graph.so, over ucx comms, two
 * ranks) -> jsonl_writer -> remove_duplicates, in real runs of the winnow
 * command.  The buckets come from test code standing in for the lsh stage
 * (test_lsh runs the real one): a hash of the band number
 * and the band's rows, 63 bits so that JSON integers carry them.  The
 * documents the pipeline removes must be exactly those a union-find over the
 * same buckets says, and precision and recall against the generator's ground
 * truth are checked as in test_dedup_quality.  Skipped (77) without UCX.
 */
#include "build_config.h"

#include <sys/wait.h>

#include "fuzzy_harness.h"
#include "corpus_reader.h"
#include "minhash_core.h"

#define BANDS 20
#define ROWS 13
#define K (BANDS * ROWS)

HARNESS_SUITE_TMPDIR(dir, suite_init, suite_cleanup)

/* Writes config to dir/<name> and runs `winnow run` on it; returns the exit status. */
static int run_winnow(const char *name, const char *config)
{
    char *cmd;
    int rc;

    if (harness_write_text(dir, name, config) < 0 ||
        asprintf(&cmd, "cd '%s' && '%s/cli/winnow' run '%s' > stdout 2> stderr", dir,
                 wn_test_builddir(), name) < 0)
        return -1;
    rc = system(cmd);
    free(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (rc != 0)
        fz_show_stderr(dir);
    return rc;
}

static const char labels_config[] =
    "{\n"
    "  \"executor\": { \"backend\": \"actor_pool\", \"mode\": \"barrier\" },\n"
    "  \"stages\": [\n"
    "    { \"stage\": \"file_partitioning\", \"params\": { \"paths\": [\"buckets\"] } },\n"
    "    { \"stage\": \"jsonl_reader\" },\n"
    "    { \"stage\": \"buckets_to_edges\" },\n"
    "    { \"stage\": \"connected_components\", \"comms\": \"ucx\", \"actors\": 2 },\n"
    "    { \"stage\": \"jsonl_writer\", \"params\": { \"path\": \"labels\" } }\n"
    "  ]\n"
    "}\n";

static const char dedup_config[] =
    "{\n"
    "  \"executor\": { \"backend\": \"actor_pool\", \"mode\": \"barrier\" },\n"
    "  \"stages\": [\n"
    "    { \"stage\": \"file_partitioning\", \"params\": { \"paths\": [\"corpus/docs\"] } },\n"
    "    { \"stage\": \"jsonl_reader\" },\n"
    "    { \"stage\": \"remove_duplicates\", \"actors\": 2,\n"
    "      \"params\": { \"labels_path\": \"labels\", \"removed_ids_path\": \"removed\" } },\n"
    "    { \"stage\": \"jsonl_writer\", \"params\": { \"path\": \"deduplicated\" } }\n"
    "  ]\n"
    "}\n";

/* The ids in every *.jsonl of dir/sub (field "id", integers) flagged in marks. */
static size_t mark_ids(const char *sub, uint8_t *marks, size_t n)
{
    char *path, *file;
    DIR *d;
    struct dirent *e;
    size_t count = 0;

    if (asprintf(&path, "%s/%s", dir, sub) < 0 || (d = opendir(path)) == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
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

            CU_ASSERT(i < n);
            if (i < n) {
                CU_ASSERT_EQUAL(marks[i], 0);
                marks[i] = 1;
                count++;
            }
            json_decref(obj);
        }
        free(data);
        free(file);
    }
    closedir(d);
    free(path);
    return count;
}

static void test_connected_components_labels_drive_remove_duplicates(void)
{
    char corpus_dir[4096], *path, *data, *line, *save = NULL;
    const char *args[] = { "--docs",       "2000", "--files",     "4",   "--seed",     "17",
                           "--exact-rate", "0.1",  "--near-rate", "0.2", "--edit-max", "0.15",
                           "--min-words",  "50",   "--max-words", "400", "--int-ids",  "--out",
                           corpus_dir,     NULL };
    struct fuzzy_minhash mh;
    struct fuzzy_minhash_scratch scratch;
    struct corpus c;
    struct fz_bucket_row *rows;
    uint32_t *sig, *source;
    size_t n, n_rows = 0, *parent, *size, copies = 0, expected_removed = 0;
    size_t removed_count, kept_count, true_removed = 0, mismatches = 0;
    uint8_t *removed, *kept;
    FILE *f[2];

    snprintf(corpus_dir, sizeof(corpus_dir), "%s/corpus", dir);
    CU_ASSERT_EQUAL_FATAL(corpus_generate(args), 0);
    CU_ASSERT_EQUAL_FATAL(corpus_read(corpus_dir, &c), 0);
    n = c.count;

    source = malloc(n * sizeof(*source));
    for (size_t i = 0; i < n; i++)
        source[i] = (uint32_t)i;
    CU_ASSERT(asprintf(&path, "%s/truth/clusters.jsonl", corpus_dir) > 0);
    data = harness_read(path, NULL);
    for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *obj = json_loads(line, 0, &jerr), *ids = json_object_get(obj, "ids");
        size_t original = corpus_value_index(json_array_get(ids, 0));

        for (size_t k = 1; k < json_array_size(ids); k++) {
            source[corpus_value_index(json_array_get(ids, k))] = (uint32_t)original;
            copies++;
        }
        json_decref(obj);
    }
    free(data);
    free(path);

    /* The stand-in for lsh: buckets of 2+ documents, split over two files by
     * bucket (each bucket whole in one file, as lsh's extract emits them). */
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh, 24, K, 42, fuzzy_minhash_kernel_best()), 0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_scratch_init(&scratch, &mh), 0);
    sig = malloc(K * sizeof(*sig));
    rows = malloc(n * BANDS * sizeof(*rows));
    for (size_t i = 0; i < n; i++) {
        fuzzy_minhash_signature(&mh, &scratch, c.text[i], c.len[i], sig);
        for (uint32_t band = 0; band < BANDS; band++) {
            unsigned char key[4 + ROWS * 4];

            memcpy(key, &band, 4);
            memcpy(key + 4, sig + band * ROWS, ROWS * 4);
            rows[n_rows].bucket = fuzzy_bytes_hash(key, sizeof(key), 7) >> 1;
            rows[n_rows++].doc = i;
        }
    }
    qsort(rows, n_rows, sizeof(*rows), fz_bucket_compare);
    CU_ASSERT(asprintf(&path, "%s/buckets", dir) > 0);
    mkdir(path, 0777);
    free(path);
    for (int k = 0; k < 2; k++) {
        CU_ASSERT(asprintf(&path, "%s/buckets/part-%d.jsonl", dir, k) > 0);
        f[k] = fopen(path, "w");
        free(path);
    }
    parent = malloc(n * sizeof(*parent));
    for (size_t i = 0; i < n; i++)
        parent[i] = i;
    for (size_t s = 0, e; s < n_rows; s = e) {
        for (e = s + 1; e < n_rows && rows[e].bucket == rows[s].bucket; e++)
            ;
        for (size_t k = s; e - s >= 2 && k < e; k++) {
            fprintf(f[rows[s].bucket & 1], "{\"_bucket_id\": %llu, \"id\": %zu}\n",
                    (unsigned long long)rows[k].bucket, rows[k].doc);
            parent[fz_uf_find(parent, rows[k].doc)] = fz_uf_find(parent, rows[s].doc);
        }
    }
    fclose(f[0]);
    fclose(f[1]);
    /* What should go: all but the smallest id of every union-find component. */
    size = calloc(n, sizeof(*size));
    removed = calloc(n, 1);
    kept = calloc(n, 1);
    for (size_t i = 0; i < n; i++)
        size[fz_uf_find(parent, i)]++;

    CU_ASSERT_EQUAL_FATAL(run_winnow("labels.json", labels_config), 0);
    CU_ASSERT_EQUAL_FATAL(run_winnow("dedup.json", dedup_config), 0);
    removed_count = mark_ids("removed", removed, n);
    kept_count = mark_ids("deduplicated", kept, n);
    CU_ASSERT_EQUAL(removed_count + kept_count, n);
    for (size_t i = 0; i < n; i++) {
        size_t smallest = i;

        for (size_t j = 0; j < i && size[fz_uf_find(parent, i)] >= 2; j++)
            if (fz_uf_find(parent, j) == fz_uf_find(parent, i)) {
                smallest = j;
                break;
            }
        expected_removed += smallest != i;
        mismatches += removed[i] != (smallest != i);
        CU_ASSERT_NOT_EQUAL(removed[i], kept[i]);
        true_removed += removed[i] && source[i] != i;
    }
    printf("\n  %zu documents, %zu copies; the pipeline removed %zu (union-find: %zu), "
           "%zu of them copies\n",
           n, copies, removed_count, expected_removed, true_removed);
    CU_ASSERT_EQUAL(mismatches, 0);
    CU_ASSERT_EQUAL(removed_count, expected_removed);
    CU_ASSERT(removed_count > copies / 2);
    CU_ASSERT((double)true_removed >= 0.99 * (double)removed_count);

    fuzzy_minhash_scratch_clear(&scratch);
    fuzzy_minhash_clear(&mh);
    free(sig);
    free(rows);
    free(parent);
    free(size);
    free(removed);
    free(kept);
    free(source);
    corpus_free(&c);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "connected_components labels drive remove_duplicates",
          test_connected_components_labels_drive_remove_duplicates },
        { NULL, NULL }
    };

#ifndef HAVE_UCX
    printf("this build has no UCX, so no comms provider for connected_components: skipped\n");
    return 77;
#endif
    return wn_test_run_suite("fuzzy pipeline with connected_components", tests, suite_init,
                             suite_cleanup);
}
