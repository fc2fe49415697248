/*
 * minhash_montecarlo: how close candidate MinHash families come to independent
 * random permutations (docs/fuzzy-dedup.md, "Why this family").  Not a test
 * (it takes minutes): built with the tests so that it keeps compiling, and
 * run by hand.
 *
 * Each trial draws a union of N distinct random 32-bit shingle hashes, of
 * which round(J N) are shared by two sets A and B and the rest split evenly
 * between them (so Jaccard(A, B) = round(J N) / N exactly), and fresh
 * coefficients for every family.  For K = 260 functions it counts the values
 * where min over A equals min over B, and the bands of 13 where all 13 do.
 * Over the trials it prints the mean agreement rate, its standard deviation
 * next to the binomial sqrt(J (1 - J) / K), and the band agreement rate next
 * to J^13.
 *
 * Usage: minhash_montecarlo [TRIALS [TRIALS_5000 [SALT [ONLY_SHINGLES]]]]
 * (3000 trials for 40 and 400 shingles, 2000 for 5000; SALT changes the random
 * draws, to check a row again; ONLY_SHINGLES runs only that union size).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K 260
#define ROWS 13
#define BANDS (K / ROWS)

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* murmur3's finaliser: a bijection of the 32-bit values */
static uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

enum family {
    FAM_RANDOM, /* independent random functions: splitmix64 of x with a key per function */
    FAM_ROT,    /* the previous family: t = a x + b mod 2^32, and rotl16(t) */
    FAM_HALVES, /* in use: (c xh + d mod 2^16) << 16 | (e xl + f mod 2^16) */
    FAM_MIXED,  /* (c xh + e xl + d mod 2^16) << 16 | (f xl + g mod 2^16) */
    FAM_COUNT
};

static const char *const family_names[FAM_COUNT] = {
    "independent random", "t and rotl16(t) (the previous family)",
    "16-bit halves h(xh)|g(xl) (the family in use)", "16-bit mixed (c xh + e xl + d)|g(xl)"
};

struct coeffs {
    uint64_t key[K];
    uint32_t a[K], b[K];
    uint16_t c[K], d[K], e[K], f[K], g[K];
};

static void draw_coeffs(struct coeffs *co, uint64_t *state)
{
    for (int i = 0; i < K; i++) {
        uint64_t r = splitmix64(state), r2 = splitmix64(state);

        co->key[i] = r;
        co->a[i] = (uint32_t)r | 1u;
        co->b[i] = (uint32_t)(r >> 32);
        co->c[i] = (uint16_t)(r2 | 1u);
        co->d[i] = (uint16_t)(r2 >> 16);
        co->e[i] = (uint16_t)((r2 >> 32) | 1u);
        co->f[i] = (uint16_t)(r2 >> 48);
        co->g[i] = (uint16_t)(r >> 16);
    }
}

/* pi_i(x) of a family, as a 64-bit value (only its order matters) */
static inline uint64_t value(enum family fam, const struct coeffs *co, int i, uint32_t x)
{
    uint32_t xh = x >> 16, xl = x & 0xFFFFu, t;

    switch (fam) {
    case FAM_RANDOM: {
        uint64_t s = co->key[i] ^ x;
        return splitmix64(&s);
    }
    case FAM_ROT:
        /* pairs: function 2m is t_m, 2m + 1 is rotl16(t_m) */
        t = co->a[i / 2] * x + co->b[i / 2];
        return (i & 1) ? (uint32_t)((t << 16) | (t >> 16)) : t;
    case FAM_HALVES:
        return ((uint64_t)(uint16_t)(co->c[i] * xh + co->d[i]) << 16) |
               (uint16_t)(co->e[i] * xl + co->f[i]);
    case FAM_MIXED:
        return ((uint64_t)(uint16_t)(co->c[i] * xh + co->e[i] * xl + co->d[i]) << 16) |
               (uint16_t)(co->f[i] * xl + co->g[i]);
    default: return 0;
    }
}

static uint64_t min_over(enum family fam, const struct coeffs *co, int i, const uint32_t *xs,
                         size_t n)
{
    uint64_t m = UINT64_MAX;

    for (size_t s = 0; s < n; s++) {
        uint64_t v = value(fam, co, i, xs[s]);
        m = v < m ? v : m;
    }
    return m;
}

static void run(size_t n, double jtarget, int trials, uint64_t salt)
{
    size_t shared = (size_t)llround(jtarget * (double)n), only = (n - shared) / 2;
    double j = (double)shared / (double)(shared + 2 * only);
    uint32_t *xs = malloc(n * sizeof(*xs));
    struct coeffs *co = malloc(sizeof(*co));
    uint64_t state =
        (UINT64_C(0x5EED) ^ ((uint64_t)n << 20) ^ (uint64_t)(jtarget * 1000)) + (salt << 40);

    for (int fam = 0; fam < FAM_COUNT; fam++) {
        double sum = 0, sum2 = 0;
        long bands = 0;
        uint64_t st = state;

        for (int t = 0; t < trials; t++) {
            uint32_t base = (uint32_t)splitmix64(&st);
            int agree[K], count = 0;

            for (size_t s = 0; s < shared + 2 * only; s++)
                xs[s] = fmix32(base + (uint32_t)s);
            draw_coeffs(co, &st);
            /* xs: [shared | A only | B only] */
            for (int i = 0; i < K; i++) {
                uint64_t mi = min_over(fam, co, i, xs, shared);
                uint64_t ma = min_over(fam, co, i, xs + shared, only);
                uint64_t mb = min_over(fam, co, i, xs + shared + only, only);

                agree[i] = mi < ma && mi < mb;
                count += agree[i];
            }
            for (int b = 0; b < BANDS; b++) {
                int all = 1;
                for (int r = 0; r < ROWS; r++)
                    all &= agree[b * ROWS + r];
                bands += all;
            }
            sum += (double)count / K;
            sum2 += ((double)count / K) * ((double)count / K);
        }
        double mean = sum / trials, sd = sqrt(sum2 / trials - mean * mean);
        printf("| %s | %zu | %.2f | %.4f | %.4f (%.4f) | %.4f (%.4f) |\n", family_names[fam],
               shared + 2 * only, j, mean, sd, sqrt(j * (1 - j) / K),
               (double)bands / ((double)trials * BANDS), pow(j, ROWS));
        fflush(stdout);
    }
    free(co);
    free(xs);
}

int main(int argc, char **argv)
{
    int trials = argc > 1 ? atoi(argv[1]) : 3000, trials_big = argc > 2 ? atoi(argv[2]) : 2000;
    uint64_t salt = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
    size_t only = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
    const size_t sizes[] = { 40, 400, 5000 };
    const double js[] = { 0.5, 0.8, 0.9 };

    printf("| family | shingles | J | mean agreement | sd (binomial) | band agrees (J^13) |\n");
    printf("| --- | --- | --- | --- | --- | --- |\n");
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < 3; k++)
            if (only == 0 || only == sizes[s])
                run(sizes[s], js[k], sizes[s] >= 5000 ? trials_big : trials, salt);
    return 0;
}
