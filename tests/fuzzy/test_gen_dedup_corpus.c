/* Tests of the corpus generator (tools/gen_dedup_corpus.c), run from the build tree. */
#include "build_config.h"

#include <math.h>

#include "fuzzy_harness.h"
#include "corpus_reader.h"
#include "minhash_core.h"

HARNESS_SUITE_TMPDIR(dir, suite_init, suite_cleanup)

/* dir/name (malloc'd). */
static char *sub(const char *name)
{
    char *path;
    return asprintf(&path, "%s/%s", dir, name) < 0 ? NULL : path;
}

/* Nonzero when the two files have the same bytes (and both exist). */
static int same_file(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *x = harness_read(a, &na), *y = harness_read(b, &nb);
    int same = x != NULL && y != NULL && na == nb && memcmp(x, y, na) == 0;

    free(x);
    free(y);
    return same;
}

static void test_same_seed_writes_the_same_bytes(void)
{
    static const char *const files[] = { "docs/part-00000.jsonl", "docs/part-00001.jsonl",
                                         "truth/clusters.jsonl", "truth/pairs.jsonl",
                                         "truth/summary.json" };
    char *one = sub("one"), *two = sub("two"), *other = sub("other");
    const char *args1[] = { "--docs", "500", "--files", "2", "--seed", "11", "--out", one, NULL };
    const char *args2[] = { "--docs", "500", "--files", "2", "--seed", "11", "--out", two, NULL };
    const char *args3[] = { "--docs", "500", "--files", "2", "--seed", "12", "--out", other, NULL };

    CU_ASSERT_EQUAL_FATAL(corpus_generate(args1), 0);
    CU_ASSERT_EQUAL_FATAL(corpus_generate(args2), 0);
    CU_ASSERT_EQUAL_FATAL(corpus_generate(args3), 0);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *a, *b, *c;

        CU_ASSERT(asprintf(&a, "%s/%s", one, files[i]) > 0);
        CU_ASSERT(asprintf(&b, "%s/%s", two, files[i]) > 0);
        CU_ASSERT(asprintf(&c, "%s/%s", other, files[i]) > 0);
        CU_ASSERT(same_file(a, b));
        if (i < 2)
            CU_ASSERT(!same_file(a, c));
        free(a);
        free(b);
        free(c);
    }
    free(one);
    free(two);
    free(other);
}

/* The fraction a / n is within tol of want. */
#define ASSERT_RATE(a, n, want, tol)                                                               \
    do {                                                                                           \
        double rate_ = (double)(a) / (double)(n);                                                  \
        CU_ASSERT(fabs(rate_ - (want)) <= (tol));                                                  \
        if (fabs(rate_ - (want)) > (tol))                                                          \
            printf("\n  %s: rate %.4f, want %.4f +- %.4f\n", #a, rate_, (double)(want),            \
                   (double)(tol));                                                                 \
    } while (0)

static void test_duplicates_come_at_the_requested_rates(void)
{
    char *out = sub("rates");
    const char *args[] = { "--docs",  "4000",         "--files",     "3",           "--seed",
                           "5",       "--exact-rate", "0.1",         "--near-rate", "0.3",
                           "--pairs", "5000",         "--min-words", "30",          "--max-words",
                           "200",     "--out",        out,           NULL };
    struct corpus c;
    struct corpus_pair *pairs;
    json_t *summary;
    long n_pairs;
    int64_t originals, exact, edit, insert, shuffle;
    size_t kinds[4] = { 0 }; /* exact, edit, insert, shuffle pairs */

    CU_ASSERT_EQUAL_FATAL(corpus_generate(args), 0);
    summary = corpus_summary(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(summary);
    originals = json_integer_value(json_object_get(summary, "originals"));
    exact = json_integer_value(json_object_get(summary, "exact"));
    edit = json_integer_value(json_object_get(summary, "near_edit"));
    insert = json_integer_value(json_object_get(summary, "near_insert"));
    shuffle = json_integer_value(json_object_get(summary, "near_shuffle"));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(summary, "docs")), 4000);
    CU_ASSERT_EQUAL(originals + exact + edit + insert + shuffle, 4000);
    /* binomial sd at n = 4000 is under 0.008: 3 sd */
    ASSERT_RATE(exact, 4000, 0.1, 0.015);
    ASSERT_RATE(edit + insert + shuffle, 4000, 0.3, 0.022);
    ASSERT_RATE(edit, edit + insert + shuffle, 1.0 / 3, 0.05);
    ASSERT_RATE(shuffle, edit + insert + shuffle, 1.0 / 3, 0.05);

    CU_ASSERT_EQUAL_FATAL(corpus_read(out, &c), 0);
    CU_ASSERT_EQUAL(c.count, 4000);
    CU_ASSERT_EQUAL(c.files, 3);
    n_pairs = corpus_read_pairs(out, &pairs);
    /* every copy is sampled (5000 slots), plus 500 unrelated pairs */
    CU_ASSERT_EQUAL(n_pairs, exact + edit + insert + shuffle + 500);
    for (long i = 0; i < n_pairs; i++) {
        struct corpus_pair *p = &pairs[i];
        int same =
            c.len[p->a] == c.len[p->b] && memcmp(c.text[p->a], c.text[p->b], c.len[p->a]) == 0;

        CU_ASSERT(p->a < p->b);
        if (strcmp(p->kind, "exact") == 0) {
            kinds[0]++;
            CU_ASSERT(same);
            CU_ASSERT(p->jaccard == 1.0);
        } else if (strcmp(p->kind, "unrelated") == 0) {
            CU_ASSERT(!same);
            CU_ASSERT(p->jaccard < 0.2);
        } else {
            kinds[strcmp(p->kind, "near-edit") == 0     ? 1
                  : strcmp(p->kind, "near-insert") == 0 ? 2
                                                        : 3]++;
            CU_ASSERT(strncmp(p->kind, "near-", 5) == 0);
            CU_ASSERT(!same);
            CU_ASSERT(p->fraction >= 0 && p->fraction <= 0.1);
        }
    }
    CU_ASSERT_EQUAL(kinds[0], (size_t)exact);
    CU_ASSERT_EQUAL(kinds[1], (size_t)edit);
    CU_ASSERT_EQUAL(kinds[2], (size_t)insert);
    CU_ASSERT_EQUAL(kinds[3], (size_t)shuffle);
    free(pairs);
    corpus_free(&c);
    json_decref(summary);
    free(out);
}

static void test_pair_jaccard_is_exact_over_the_minhash_shingles(void)
{
    char *out = sub("jaccard");
    const char *args[] = { "--docs",     "600", "--seed",        "3", "--near-rate", "0.5",
                           "--edit-max", "0.5", "--char-ngrams", "9", "--out",       out,
                           NULL };
    struct fuzzy_minhash mh;
    struct corpus c;
    struct corpus_pair *pairs;
    long n_pairs;
    int low = 0, middle = 0;

    CU_ASSERT_EQUAL_FATAL(corpus_generate(args), 0);
    CU_ASSERT_EQUAL_FATAL(corpus_read(out, &c), 0);
    n_pairs = corpus_read_pairs(out, &pairs);
    CU_ASSERT_FATAL(n_pairs > 200);
    /* a different seed: the shingle hash's key must not matter */
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh, 9, 1, 99, FUZZY_KERNEL_PORTABLE), 0);
    for (long i = 0; i < n_pairs; i++) {
        size_t na, nb, x = 0, y = 0, both = 0;
        uint64_t *a = fz_shingle_set(&mh, c.text[pairs[i].a], c.len[pairs[i].a], &na);
        uint64_t *b = fz_shingle_set(&mh, c.text[pairs[i].b], c.len[pairs[i].b], &nb);
        double j;

        while (x < na && y < nb) {
            if (a[x] == b[y])
                both++, x++, y++;
            else if (a[x] < b[y])
                x++;
            else
                y++;
        }
        j = (double)both / (double)(na + nb - both);
        CU_ASSERT(fabs(j - pairs[i].jaccard) < 1e-6);
        low += j < 0.5;
        middle += j >= 0.5 && j < 0.9;
        free(a);
        free(b);
    }
    /* --edit-max 0.5 spreads the near duplicates over the similarity range */
    CU_ASSERT(low >= 20);
    CU_ASSERT(middle >= 20);
    fuzzy_minhash_clear(&mh);
    free(pairs);
    corpus_free(&c);
    free(out);
}

static void test_clusters_list_each_original_with_its_copies(void)
{
    char *out = sub("clusters"), *path, *data, *line, *save = NULL;
    const char *args[] = { "--docs", "800", "--seed", "8", "--out", out, NULL };
    json_t *summary;
    size_t members = 0, clusters = 0;

    CU_ASSERT_EQUAL_FATAL(corpus_generate(args), 0);
    summary = corpus_summary(out);
    CU_ASSERT(asprintf(&path, "%s/truth/clusters.jsonl", out) > 0);
    data = harness_read(path, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *obj = json_loads(line, 0, &jerr), *ids = json_object_get(obj, "ids");
        const char *prev = "";

        CU_ASSERT_EQUAL(json_integer_value(json_object_get(obj, "cluster")), (json_int_t)clusters);
        CU_ASSERT(json_array_size(ids) >= 2);
        for (size_t k = 0; k < json_array_size(ids); k++) {
            const char *id = json_string_value(json_array_get(ids, k));
            CU_ASSERT(strcmp(prev, id) < 0); /* sorted: the original first */
            prev = id;
        }
        members += json_array_size(ids);
        clusters++;
        json_decref(obj);
    }
    /* every copy sits in exactly one cluster beside its original */
    CU_ASSERT_EQUAL((json_int_t)(members - clusters),
                    json_integer_value(json_object_get(summary, "exact")) +
                        json_integer_value(json_object_get(summary, "near_edit")) +
                        json_integer_value(json_object_get(summary, "near_insert")) +
                        json_integer_value(json_object_get(summary, "near_shuffle")));
    CU_ASSERT_EQUAL((json_int_t)clusters, json_integer_value(json_object_get(summary, "clusters")));
    json_decref(summary);
    free(data);
    free(path);
    free(out);
}

static void test_bytes_sets_the_corpus_size(void)
{
    char *out = sub("bytes"), *path;
    const char *args[] = { "--bytes", "300000", "--files", "4", "--out", out, NULL };
    json_t *summary;
    size_t total = 0;

    CU_ASSERT_EQUAL_FATAL(corpus_generate(args), 0);
    for (int i = 0; i < 4; i++) {
        size_t len = 0;
        char *data;

        CU_ASSERT(asprintf(&path, "%s/docs/part-%05d.jsonl", out, i) > 0);
        data = harness_read(path, &len);
        CU_ASSERT_PTR_NOT_NULL(data);
        total += len;
        free(data);
        free(path);
    }
    summary = corpus_summary(out);
    CU_ASSERT_EQUAL((json_int_t)total, json_integer_value(json_object_get(summary, "bytes")));
    /* it stops with the document that passes the size: at most 1000 words more */
    CU_ASSERT(total >= 300000 && total < 300000 + 20000);
    json_decref(summary);
    free(out);
}

static void test_bad_arguments_exit_with_status_2(void)
{
    char *out = sub("bad");
    const char *no_size[] = { "--out", out, NULL };
    const char *both[] = { "--docs", "5", "--bytes", "5", "--out", out, NULL };
    const char *no_out[] = { "--docs", "5", NULL };
    const char *rates[] = { "--docs", "5", "--exact-rate", "0.7", "--near-rate", "0.5", "--out",
                            out,      NULL };
    const char *ops[] = { "--docs", "5", "--ops", "edit,swap", "--out", out, NULL };
    const char *words[] = { "--docs", "5",     "--min-words", "10", "--max-words",
                            "5",      "--out", out,           NULL };
    const char *number[] = { "--docs", "5x", "--out", out, NULL };

    CU_ASSERT_EQUAL(corpus_generate(no_size), 2);
    CU_ASSERT_EQUAL(corpus_generate(both), 2);
    CU_ASSERT_EQUAL(corpus_generate(no_out), 2);
    CU_ASSERT_EQUAL(corpus_generate(rates), 2);
    CU_ASSERT_EQUAL(corpus_generate(ops), 2);
    CU_ASSERT_EQUAL(corpus_generate(words), 2);
    CU_ASSERT_EQUAL(corpus_generate(number), 2);
    free(out);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "the same seed writes the same bytes", test_same_seed_writes_the_same_bytes },
        { "duplicates come at the requested rates", test_duplicates_come_at_the_requested_rates },
        { "pair Jaccard is exact over the minhash shingles",
          test_pair_jaccard_is_exact_over_the_minhash_shingles },
        { "clusters list each original with its copies",
          test_clusters_list_each_original_with_its_copies },
        { "--bytes sets the corpus size", test_bytes_sets_the_corpus_size },
        { "bad arguments exit with status 2", test_bad_arguments_exit_with_status_2 },
        { NULL, NULL }
    };

    return wn_test_run_suite("gen_dedup_corpus", tests, suite_init, suite_cleanup);
}
