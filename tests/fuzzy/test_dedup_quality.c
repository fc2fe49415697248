/*
 * Precision and recall of removed documents, against the generator's ground
 * truth, through the fuzzy stages this plugin has: minhash signatures (the
 * core), buckets_to_edges and remove_duplicates (the stages, through their
 * hooks).  The two stages that need the shuffle and comms backends are
 * stood in for by test code kept as plain as possible: LSH banding (bucket =
 * hash of the band number and that band's rows; buckets of 2+ documents) and
 * a union-find for the connected components.  When the real lsh and
 * connected_components stages land, the end-to-end pipeline replaces these.
 */
#include "build_config.h"

#include <math.h>

#include "fuzzy_harness.h"
#include "corpus_reader.h"
#include "minhash_core.h"

#define BANDS 20
#define ROWS 13
#define K (BANDS * ROWS)

HARNESS_SUITE_TMPDIR(dir, suite_init, suite_cleanup)

static void id_of(size_t i, char *id)
{
    snprintf(id, 24, "d%010zu", i % 10000000000u);
}

static double jaccard(const struct fuzzy_minhash *mh, const struct corpus *c, size_t a, size_t b)
{
    size_t na, nb, i = 0, j = 0, both = 0;
    uint64_t *x = fz_shingle_set(mh, c->text[a], c->len[a], &na);
    uint64_t *y = fz_shingle_set(mh, c->text[b], c->len[b], &nb);

    while (i < na && j < nb) {
        if (x[i] == y[j])
            both++, i++, j++;
        else if (x[i] < y[j])
            i++;
        else
            j++;
    }
    free(x);
    free(y);
    return (double)both / (double)(na + nb - both);
}

static void test_removed_documents_are_the_copies(void)
{
    char corpus_dir[4096], *path, *data, *line, *save = NULL, *labels_params;
    const char *args[] = {
        "--docs",     "4000", "--seed",      "13", "--exact-rate", "0.1", "--near-rate", "0.2",
        "--edit-max", "0.2",  "--min-words", "50", "--max-words",  "400", "--out",       corpus_dir,
        NULL
    };
    struct fuzzy_minhash mh, mh_shingles;
    struct fuzzy_minhash_scratch scratch;
    struct corpus c;
    uint32_t *sigs, *source;
    struct fz_bucket_row *rows;
    size_t n_rows = 0, n, *parent, *size, copies = 0, removed = 0, true_removed = 0;
    size_t originals_removed = 0;
    size_t bin_n[5] = { 0 }, bin_hit[5] = { 0 };
    struct wn_table_builder *b;
    struct harness_sink edges, kept;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_task *in[1];
    const struct wn_table *t;
    uint8_t *is_kept;
    FILE *f;

    snprintf(corpus_dir, sizeof(corpus_dir), "%s/corpus", dir);
    CU_ASSERT_EQUAL_FATAL(corpus_generate(args), 0);
    CU_ASSERT_EQUAL_FATAL(corpus_read(corpus_dir, &c), 0);
    n = c.count;

    /* Ground truth: the original of every document (itself for an original). */
    source = malloc(n * sizeof(*source));
    for (size_t i = 0; i < n; i++)
        source[i] = (uint32_t)i;
    CU_ASSERT(asprintf(&path, "%s/truth/clusters.jsonl", corpus_dir) > 0);
    data = harness_read(path, NULL);
    for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *obj = json_loads(line, 0, &jerr), *ids = json_object_get(obj, "ids");
        size_t original = corpus_index(json_string_value(json_array_get(ids, 0)));

        for (size_t k = 1; k < json_array_size(ids); k++) {
            source[corpus_index(json_string_value(json_array_get(ids, k)))] = (uint32_t)original;
            copies++;
        }
        json_decref(obj);
    }
    free(data);
    free(path);

    /* Signatures, then the stand-in for lsh: (bucket, document) rows of the
     * buckets with two or more documents. */
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh, 24, K, 42, fuzzy_minhash_kernel_best()), 0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_scratch_init(&scratch, &mh), 0);
    sigs = malloc(n * K * sizeof(*sigs));
    rows = malloc(n * BANDS * sizeof(*rows));
    for (size_t i = 0; i < n; i++) {
        fuzzy_minhash_signature(&mh, &scratch, c.text[i], c.len[i], sigs + i * K);
        for (uint32_t band = 0; band < BANDS; band++) {
            unsigned char key[4 + ROWS * 4];

            memcpy(key, &band, 4);
            memcpy(key + 4, sigs + i * K + band * ROWS, ROWS * 4);
            rows[n_rows].bucket = fuzzy_bytes_hash(key, sizeof(key), 7);
            rows[n_rows++].doc = i;
        }
    }
    qsort(rows, n_rows, sizeof(*rows), fz_bucket_compare);
    b = wn_table_builder_new();
    wn_table_builder_add_column(b, "_bucket_id", WN_COLUMN_UINT64, 0);
    wn_table_builder_add_column(b, "id", WN_COLUMN_UTF8, 0);
    for (size_t s = 0, e; s < n_rows; s = e) {
        for (e = s + 1; e < n_rows && rows[e].bucket == rows[s].bucket; e++)
            ;
        for (size_t k = s; e - s >= 2 && k < e; k++) {
            char id[24];

            id_of(rows[k].doc, id);
            wn_table_builder_append_uint64(b, 0, rows[k].bucket);
            wn_table_builder_append_utf8(b, 1, id, 11);
        }
    }
    in[0] = harness_task_from_builder("buckets", b);

    /* The buckets_to_edges stage. */
    harness_sink_init(&edges);
    CU_ASSERT_EQUAL_FATAL(harness_run("buckets_to_edges", NULL, in, 1, &edges, &err), 0);
    CU_ASSERT_EQUAL_FATAL(edges.count, 1);
    t = wn_task_table(edges.tasks[0]);

    /* The stand-in for connected_components: union-find; labels for every
     * document in a component of two or more, the group being its root. */
    parent = malloc(n * sizeof(*parent));
    for (size_t i = 0; i < n; i++)
        parent[i] = i;
    for (int64_t r = 0; r < wn_table_num_rows(t); r++) {
        char a[16], z[16];
        size_t len;

        memcpy(a, wn_table_get_utf8(t, 0, r, &len), 11);
        memcpy(z, wn_table_get_utf8(t, 1, r, &len), 11);
        a[11] = z[11] = '\0';
        parent[fz_uf_find(parent, corpus_index(a))] = fz_uf_find(parent, corpus_index(z));
    }
    size = calloc(n, sizeof(*size));
    for (size_t i = 0; i < n; i++)
        size[fz_uf_find(parent, i)]++;
    CU_ASSERT(asprintf(&path, "%s/labels.jsonl", dir) > 0);
    f = fopen(path, "w");
    for (size_t i = 0; i < n; i++)
        if (size[fz_uf_find(parent, i)] >= 2)
            fprintf(f, "{\"id\": \"d%010zu\", \"group_id\": %zu}\n", i, fz_uf_find(parent, i));
    fclose(f);

    /* The remove_duplicates stage over all documents. */
    {
        const char **ids = malloc(n * sizeof(*ids)), **texts = malloc(n * sizeof(*texts));
        char *id_text = malloc(n * 24);

        for (size_t i = 0; i < n; i++) {
            id_of(i, id_text + i * 24);
            ids[i] = id_text + i * 24;
            texts[i] = c.text[i];
        }
        in[0] = fz_docs_task("docs", ids, texts, n);
        free(ids);
        free(texts);
        free(id_text);
    }
    CU_ASSERT(asprintf(&labels_params, "{\"labels_path\": \"%s\"}", path) > 0);
    harness_sink_init(&kept);
    CU_ASSERT_EQUAL_FATAL(harness_run("remove_duplicates", labels_params, in, 1, &kept, &err), 0);
    t = wn_task_table(kept.tasks[0]);
    is_kept = calloc(n, 1);
    for (int64_t r = 0; r < wn_table_num_rows(t); r++) {
        size_t len;
        char id[16];

        memcpy(id, wn_table_get_utf8(t, 0, r, &len), 11);
        id[11] = '\0';
        is_kept[corpus_index(id)] = 1;
    }

    /* Precision and recall of the removed documents; recall per similarity of
     * the copy to its original. */
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh_shingles, 24, 1, 0, FUZZY_KERNEL_PORTABLE), 0);
    for (size_t i = 0; i < n; i++) {
        int copy = source[i] != i;

        removed += !is_kept[i];
        true_removed += !is_kept[i] && copy;
        if (copy) {
            double j = jaccard(&mh_shingles, &c, source[i], i);
            int bin = j >= 0.9 ? 4 : j >= 0.8 ? 3 : j >= 0.7 ? 2 : j >= 0.5 ? 1 : 0;

            bin_n[bin]++;
            bin_hit[bin] += !is_kept[i];
        }
    }
    printf("\n  %zu documents, %zu copies of %zu originals; removed %zu\n", n, copies, n - copies,
           removed);
    printf("  precision %.4f  recall %.4f\n", removed ? (double)true_removed / (double)removed : 0,
           (double)true_removed / (double)copies);
    {
        static const char *const names[5] = { "< 0.5", "[0.5, 0.7)", "[0.7, 0.8)", "[0.8, 0.9)",
                                              ">= 0.9" };
        printf("  Jaccard to original   copies   removed   recall\n");
        for (int k = 0; k < 5; k++)
            printf("  %-20s %7zu %9zu   %.4f\n", names[k], bin_n[k], bin_hit[k],
                   bin_n[k] ? (double)bin_hit[k] / (double)bin_n[k] : 0);
    }
    CU_ASSERT(removed > 0);
    CU_ASSERT((double)true_removed >= 0.99 * (double)removed);
    CU_ASSERT(bin_n[4] >= 200);
    CU_ASSERT((double)bin_hit[4] >= 0.95 * (double)bin_n[4]);
    /* An original goes only when a false candidate merged its cluster with another. */
    for (size_t i = 0; i < n; i++)
        originals_removed += source[i] == i && !is_kept[i];
    printf("  originals removed: %zu\n", originals_removed);
    CU_ASSERT(originals_removed <= removed - true_removed);

    harness_sink_clear(&edges);
    harness_sink_clear(&kept);
    fuzzy_minhash_scratch_clear(&scratch);
    fuzzy_minhash_clear(&mh);
    fuzzy_minhash_clear(&mh_shingles);
    free(is_kept);
    free(labels_params);
    free(path);
    free(parent);
    free(size);
    free(rows);
    free(sigs);
    free(source);
    corpus_free(&c);
}

int main(void)
{
    static const struct wn_test tests[] = { { "removed documents are the copies",
                                              test_removed_documents_are_the_copies },
                                            { NULL, NULL } };

    return wn_test_run_suite("dedup quality", tests, suite_init, suite_cleanup);
}
