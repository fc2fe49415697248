/*
 * The quality harness: MinHash + LSH banding against the generator's exact
 * Jaccard.  For a sample of generated pairs spread over the similarity range,
 * computes the signatures with the default settings (24-grams, 20 bands x 13
 * rows, seed 42), and per Jaccard bin measures the candidate rate (the
 * fraction of pairs that agree on all rows of at least one band) beside the
 * S-curve 1 - (1 - s^r)^b.  Pins recall >= 0.95 for pairs with Jaccard >= 0.9
 * and at most 5% candidates among pairs below 0.5, and the Jaccard estimate
 * (the fraction of equal signature values) within tolerance of the exact value.
 * The table it prints is the one in docs/fuzzy-dedup.md.
 */
#include "build_config.h"

#include <math.h>

#include "fuzzy_harness.h"
#include "corpus_reader.h"
#include "minhash_core.h"

#define BANDS 20
#define ROWS 13
#define K (BANDS * ROWS)
#define BINS 10

HARNESS_SUITE_TMPDIR(dir, suite_init, suite_cleanup)

/* Nonzero when the signatures agree on every row of some band. */
static int share_a_band(const uint32_t *x, const uint32_t *y)
{
    for (int band = 0; band < BANDS; band++)
        if (memcmp(x + band * ROWS, y + band * ROWS, ROWS * sizeof(uint32_t)) == 0)
            return 1;
    return 0;
}

static double s_curve(double s)
{
    return 1.0 - pow(1.0 - pow(s, ROWS), BANDS);
}

static void test_candidate_rates_follow_the_s_curve(void)
{
    char *out;
    const char *args[] = { "--docs",      "3000", "--seed",     "7",    "--exact-rate", "0.02",
                           "--near-rate", "0.75", "--edit-max", "0.35", "--min-words",  "100",
                           "--max-words", "600",  "--pairs",    "4000", "--out",        NULL,
                           NULL };
    struct fuzzy_minhash mh;
    struct fuzzy_minhash_scratch scratch;
    struct corpus c;
    struct corpus_pair *pairs;
    long n_pairs;
    uint32_t *sigs;
    uint8_t *done;
    size_t n[BINS] = { 0 }, hits[BINS] = { 0 };
    double theory[BINS] = { 0 };
    size_t high = 0, high_hits = 0, low = 0, low_hits = 0, outliers = 0;
    double error_sum = 0, worst = 0;

    CU_ASSERT(asprintf(&out, "%s/corpus", dir) > 0);
    args[17] = out;
    CU_ASSERT_EQUAL_FATAL(corpus_generate(args), 0);
    CU_ASSERT_EQUAL_FATAL(corpus_read(out, &c), 0);
    n_pairs = corpus_read_pairs(out, &pairs);
    CU_ASSERT_FATAL(n_pairs > 2000);
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh, 24, K, 42, fuzzy_minhash_kernel_best()), 0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_scratch_init(&scratch, &mh), 0);

    /* Signatures of every document in a pair, each computed once. */
    sigs = malloc(c.count * K * sizeof(*sigs));
    done = calloc(c.count, 1);
    for (long i = 0; i < n_pairs; i++) {
        size_t ends[2] = { pairs[i].a, pairs[i].b };
        for (int e = 0; e < 2; e++) {
            if (!done[ends[e]]) {
                fuzzy_minhash_signature(&mh, &scratch, c.text[ends[e]], c.len[ends[e]],
                                        sigs + ends[e] * K);
                done[ends[e]] = 1;
            }
        }
    }

    for (long i = 0; i < n_pairs; i++) {
        const uint32_t *x = sigs + pairs[i].a * K, *y = sigs + pairs[i].b * K;
        double j = pairs[i].jaccard, estimate, sigma;
        int bin = j >= 1.0 ? BINS - 1 : (int)(j * BINS), agree = 0, candidate;

        candidate = share_a_band(x, y);
        n[bin]++;
        hits[bin] += (size_t)candidate;
        theory[bin] += s_curve(j);
        if (j >= 0.9) {
            high++;
            high_hits += (size_t)candidate;
        }
        if (j < 0.5) {
            low++;
            low_hits += (size_t)candidate;
        }
        for (int k = 0; k < K; k++)
            agree += x[k] == y[k];
        estimate = agree / (double)K;
        sigma = sqrt(j * (1 - j) / K);
        /* 5 sigma: a failure by chance has odds of about 1 in 3.5 million per pair */
        if (fabs(estimate - j) > 5 * sigma + 0.01) {
            outliers++;
            printf("\n  pair %ld: Jaccard %.4f, estimate %.4f", i, j, estimate);
        }
        error_sum += estimate - j;
        worst = fabs(estimate - j) > worst ? fabs(estimate - j) : worst;
    }

    printf("\n  %ld pairs, %d bands x %d rows\n", n_pairs, BANDS, ROWS);
    printf("  Jaccard     pairs  candidates  measured  S-curve\n");
    for (int b = 0; b < BINS; b++) {
        double measured = n[b] ? (double)hits[b] / (double)n[b] : 0;
        double expected = n[b] ? theory[b] / (double)n[b] : 0;

        printf("  [%.1f, %.1f%c %6zu  %10zu  %8.4f  %7.4f\n", b / 10.0, (b + 1) / 10.0,
               b == BINS - 1 ? ']' : ')', n[b], hits[b], measured, expected);
        /* The measured rate sits on the curve: within 4 binomial sd (and 0.03 for
         * the spread of similarities inside a bin). */
        if (n[b] >= 30) {
            double sd = sqrt(expected * (1 - expected) / (double)n[b]);
            CU_ASSERT(fabs(measured - expected) <= 4 * sd + 0.03);
        }
    }
    printf("  recall at Jaccard >= 0.9: %zu / %zu = %.4f\n", high_hits, high,
           high ? (double)high_hits / (double)high : 0);
    printf("  candidates below 0.5:     %zu / %zu = %.4f\n", low_hits, low,
           low ? (double)low_hits / (double)low : 0);
    printf("  Jaccard estimate: mean error %+.4f, worst %.4f, %zu beyond 5 sd\n",
           error_sum / (double)n_pairs, worst, outliers);

    /* Enough pairs at both ends for the pins to mean something. */
    CU_ASSERT(high >= 300);
    CU_ASSERT(low >= 300);
    CU_ASSERT(n[5] + n[6] + n[7] + n[8] >= 200);
    CU_ASSERT((double)high_hits >= 0.95 * (double)high);
    CU_ASSERT((double)low_hits <= 0.05 * (double)low);
    CU_ASSERT_EQUAL(outliers, 0);
    CU_ASSERT(fabs(error_sum / (double)n_pairs) < 0.005);

    free(sigs);
    free(done);
    free(pairs);
    corpus_free(&c);
    fuzzy_minhash_scratch_clear(&scratch);
    fuzzy_minhash_clear(&mh);
    free(out);
}

int main(void)
{
    static const struct wn_test tests[] = { { "candidate rates follow the S-curve",
                                              test_candidate_rates_follow_the_s_curve },
                                            { NULL, NULL } };

    return wn_test_run_suite("minhash quality", tests, suite_init, suite_cleanup);
}
