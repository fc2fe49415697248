/* Tests of the MinHash algorithm (plugins/stages/fuzzy/minhash_core.c, minhash_kernels.c). */
#include "build_config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.h"
#include "minhash_core.h"

#define K_DEFAULT 260

static uint64_t rng_state = 12345;

static uint64_t next_random(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Random text of about len bytes: words, multi-byte characters and some invalid bytes. */
static char *random_text(size_t len, int with_invalid)
{
    static const char *const pieces[] = { "lorem", "ipsum", "dolor",  " ", " ",   " ", ".",
                                          "é",     "ß",     "データ", "😀", "жук", "\n" };
    char *text = malloc(len + 16);
    size_t used = 0;

    while (used < len) {
        uint64_t r = next_random();

        if (with_invalid && r % 23 == 0) {
            text[used++] = (char)(0x80 + (r >> 8) % 0x80); /* a stray continuation or bad lead */
        } else {
            const char *p = pieces[(r >> 8) % (sizeof(pieces) / sizeof(pieces[0]))];
            size_t n = strlen(p);

            if (used + n > len)
                break;
            memcpy(text + used, p, n);
            used += n;
        }
    }
    text[used] = '\0';
    return text;
}

/* The shingle hash of the bytes p[0..len), from its units (the definition). */
static uint64_t bytes_units_hash(const struct fuzzy_minhash *mh, const char *p, size_t len)
{
    uint32_t *units = malloc((len + 1) * sizeof(*units));
    size_t count = 0, pos = 0;
    uint64_t h;

    while (pos < len)
        pos += fuzzy_utf8_unit((const unsigned char *)p + pos, len - pos, &units[count++]);
    h = fuzzy_units_hash(mh, units, count);
    free(units);
    return h;
}

/* The signature computed the slow, obvious way: every shingle hashed from its
 * bytes, every permutation applied in scalar code. */
static void reference_signature(const struct fuzzy_minhash *mh, const char *text, size_t len,
                                uint32_t *sig)
{
    size_t *start = malloc((len + 2) * sizeof(*start));
    size_t units = 0, pos = 0;

    while (pos < len) {
        uint32_t unit;
        start[units++] = pos;
        pos += fuzzy_utf8_unit((const unsigned char *)text + pos, len - pos, &unit);
    }
    start[units] = len;
    for (uint32_t i = 0; i < mh->num_perm; i++)
        sig[i] = UINT32_MAX;
    for (size_t k = 0; k + mh->ngram <= units || (k == 0 && units < mh->ngram); k++) {
        size_t from = units < mh->ngram ? 0 : start[k];
        size_t to = units < mh->ngram ? len : start[k + mh->ngram];
        uint32_t x = fuzzy_minhash_fold(bytes_units_hash(mh, text + from, to - from));

        for (uint32_t i = 0; i < mh->num_perm; i++) {
            uint32_t v = fuzzy_minhash_value(mh, i, x);
            if (v < sig[i])
                sig[i] = v;
        }
    }
    free(start);
}

/* All 64-bit shingle hashes of text (malloc'd), *n of them. */
static uint64_t *all_shingles(const struct fuzzy_minhash *mh, const char *text, size_t len,
                              size_t *n)
{
    size_t *ring = malloc(mh->ngram * sizeof(*ring));
    uint64_t *out = malloc((len + 1) * sizeof(*out) + FUZZY_MINHASH_CHUNK * sizeof(*out));
    struct fuzzy_shingler sh;
    size_t got;

    *n = 0;
    fuzzy_shingler_start(&sh, mh, ring, text, len);
    /* Odd chunk sizes on purpose: the walk must not depend on them. */
    while ((got = fuzzy_shingler_next(&sh, out + *n, 1 + *n % 7)) > 0)
        *n += got;
    free(ring);
    return out;
}

static void signature_of(const struct fuzzy_minhash *mh, const char *text, uint32_t *sig)
{
    struct fuzzy_minhash_scratch scratch;

    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_scratch_init(&scratch, mh), 0);
    fuzzy_minhash_signature(mh, &scratch, text, text ? strlen(text) : 0, sig);
    fuzzy_minhash_scratch_clear(&scratch);
}

static const unsigned char *u8(const char *s)
{
    return (const unsigned char *)s;
}

/* ---- units and shingles ------------------------------------------------------- */

static void test_utf8_units_are_code_points_and_invalid_bytes_count_alone(void)
{
    uint32_t unit;

    CU_ASSERT_EQUAL(fuzzy_utf8_unit(u8("a"), 1, &unit), 1);
    CU_ASSERT_EQUAL(unit, 'a');
    CU_ASSERT_EQUAL(fuzzy_utf8_unit(u8("é"), 2, &unit), 2);
    CU_ASSERT_EQUAL(unit, 0xE9);
    CU_ASSERT_EQUAL(fuzzy_utf8_unit(u8("データ"), 9, &unit), 3);
    CU_ASSERT_EQUAL(unit, 0x30C7);
    CU_ASSERT_EQUAL(fuzzy_utf8_unit(u8("😀"), 4, &unit), 4);
    CU_ASSERT_EQUAL(unit, 0x1F600);
    /* Ill-formed: a lone continuation byte, a bad lead, a truncated sequence,
     * an overlong form, a surrogate, a value past U+10FFFF: one byte each. */
    CU_ASSERT_EQUAL(fuzzy_utf8_unit(u8("\x80"), 1, &unit), 1);
    CU_ASSERT_EQUAL(unit, 0x110000 + 0x80);
    CU_ASSERT_EQUAL(fuzzy_utf8_unit(u8("\xff"), 1, &unit), 1);
    CU_ASSERT_EQUAL(unit, 0x110000 + 0xFF);
    CU_ASSERT_EQUAL(fuzzy_utf8_unit(u8("\xe2\x82"), 2, &unit), 1);
    CU_ASSERT_EQUAL(unit, 0x110000 + 0xE2);
    CU_ASSERT_EQUAL(fuzzy_utf8_unit(u8("\xe2\x82\xac"), 2, &unit), 1); /* cut by len */
    CU_ASSERT_EQUAL(fuzzy_utf8_unit(u8("\xc0\xaf"), 2, &unit), 1);
    CU_ASSERT_EQUAL(fuzzy_utf8_unit(u8("\xed\xa0\x80"), 3, &unit), 1);
    CU_ASSERT_EQUAL(fuzzy_utf8_unit(u8("\xf4\x90\x80\x80"), 4, &unit), 1);
    CU_ASSERT_EQUAL(fuzzy_utf8_unit(u8("\xe2\x28\xa1"), 3, &unit), 1);
}

static void test_shingles_are_code_point_ngrams(void)
{
    struct fuzzy_minhash mh;
    /* 11 code points in 14 bytes: h é l l o ␠ w ö r l d */
    const char *text = "h\xc3\xa9llo w\xc3\xb6rld";
    size_t n;
    uint64_t *h;

    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh, 3, 16, 7, FUZZY_KERNEL_PORTABLE), 0);
    h = all_shingles(&mh, text, strlen(text), &n);
    CU_ASSERT_EQUAL(n, 9); /* 11 - 3 + 1, not 13 - 3 + 1 bytes */
    CU_ASSERT_EQUAL(h[0], bytes_units_hash(&mh, "h\xc3\xa9l", 4));
    CU_ASSERT_EQUAL(h[1], bytes_units_hash(&mh, "\xc3\xa9ll", 4));
    CU_ASSERT_EQUAL(h[2], bytes_units_hash(&mh, "llo", 3));
    CU_ASSERT_EQUAL(h[5], bytes_units_hash(&mh, " w\xc3\xb6", 4));
    CU_ASSERT_EQUAL(h[8], bytes_units_hash(&mh, "rld", 3));
    CU_ASSERT_EQUAL(h[0], fuzzy_units_hash(&mh, (const uint32_t[]){ 'h', 0xE9, 'l' }, 3));
    CU_ASSERT_NOT_EQUAL(h[0], fuzzy_units_hash(&mh, (const uint32_t[]){ 'l', 0xE9, 'h' }, 3));
    CU_ASSERT_EQUAL(fuzzy_minhash_shingle_count(11, 3), 9);
    free(h);
    fuzzy_minhash_clear(&mh);
}

static void test_invalid_bytes_are_one_code_point_each(void)
{
    struct fuzzy_minhash mh;
    /* a, \xff, b, \xe2 (a truncated sequence): 4 units */
    const char *text = "a\xff"
                       "b\xe2";
    size_t n;
    uint64_t *h;

    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh, 2, 16, 7, FUZZY_KERNEL_PORTABLE), 0);
    h = all_shingles(&mh, text, 4, &n);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(h[0], bytes_units_hash(&mh, "a\xff", 2));
    CU_ASSERT_EQUAL(h[1], bytes_units_hash(&mh,
                                           "\xff"
                                           "b",
                                           2));
    CU_ASSERT_EQUAL(h[2], bytes_units_hash(&mh, "b\xe2", 2));
    CU_ASSERT_EQUAL(h[1], fuzzy_units_hash(&mh, (const uint32_t[]){ 0x110000 + 0xFF, 'b' }, 2));
    free(h);
    fuzzy_minhash_clear(&mh);
}

static void test_short_and_empty_texts_are_one_shingle(void)
{
    struct fuzzy_minhash mh;
    uint32_t empty[32], null_sig[32], a[32], a2[32], ab[32];
    size_t n;
    uint64_t *h;

    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh, 5, 32, 7, FUZZY_KERNEL_PORTABLE), 0);
    h = all_shingles(&mh, "d\xc3\xa9j\xc3\xa0", 6, &n); /* 4 code points < 5 */
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(h[0], bytes_units_hash(&mh, "d\xc3\xa9j\xc3\xa0", 6));
    free(h);
    h = all_shingles(&mh, "", 0, &n);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(h[0], bytes_units_hash(&mh, "", 0));
    free(h);
    h = all_shingles(&mh, "abcde", 5, &n); /* exactly n code points: one ordinary shingle */
    CU_ASSERT_EQUAL(n, 1);
    free(h);
    CU_ASSERT_EQUAL(fuzzy_minhash_shingle_count(0, 5), 1);
    CU_ASSERT_EQUAL(fuzzy_minhash_shingle_count(4, 5), 1);

    signature_of(&mh, "", empty);
    signature_of(&mh, NULL, null_sig);
    signature_of(&mh, "a", a);
    signature_of(&mh, "a", a2);
    signature_of(&mh, "ab", ab);
    CU_ASSERT_EQUAL(memcmp(empty, null_sig, sizeof(empty)), 0);
    CU_ASSERT_EQUAL(memcmp(a, a2, sizeof(a)), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(empty, a, sizeof(a)), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a, ab, sizeof(a)), 0);
    fuzzy_minhash_clear(&mh);
}

/* ---- signatures ---------------------------------------------------------------------- */

static void test_signature_matches_the_obvious_computation(void)
{
    static const uint32_t ngrams[] = { 1, 3, 24, 100 };
    static const uint32_t perms[] = { 1, 16, 260, 300 };

    for (size_t g = 0; g < 4; g++) {
        struct fuzzy_minhash mh;
        char *text = random_text(5000 + 997 * g, 1);
        uint32_t *got = malloc(perms[g] * sizeof(*got)), *want = malloc(perms[g] * sizeof(*want));

        CU_ASSERT_EQUAL_FATAL(
            fuzzy_minhash_init(&mh, ngrams[g], perms[g], g, fuzzy_minhash_kernel_best()), 0);
        signature_of(&mh, text, got);
        reference_signature(&mh, text, strlen(text), want);
        CU_ASSERT_EQUAL(memcmp(got, want, perms[g] * sizeof(*got)), 0);
        fuzzy_minhash_clear(&mh);
        free(text);
        free(got);
        free(want);
    }
}

static void test_signatures_are_pinned_for_the_default_settings(void)
{
    /* Changing these values changes every signature ever written: only with a
     * format change that docs/fuzzy-dedup.md announces. */
    static const uint32_t want[8] = { 10676142, 204117997, 9926314,  91221530,
                                      43392108, 91818055,  11017564, 29848803 };
    struct fuzzy_minhash mh;
    uint32_t sig[K_DEFAULT];

    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh, 24, K_DEFAULT, 42, fuzzy_minhash_kernel_best()),
                          0);
    signature_of(&mh,
                 "The quick brown fox jumps over the lazy dog; "
                 "le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter.",
                 sig);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(sig[i], want[i]);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(sig[K_DEFAULT - 4 + i], want[4 + i]);
    if (sig[0] != want[0])
        printf("\n  pinned values now: %u %u %u %u ... %u %u %u %u\n", sig[0], sig[1], sig[2],
               sig[3], sig[256], sig[257], sig[258], sig[259]);
    fuzzy_minhash_clear(&mh);
}

static void test_same_settings_give_same_signatures_other_seeds_differ(void)
{
    struct fuzzy_minhash m1, m2, m3;
    char *text = random_text(3000, 0);
    uint32_t s1[K_DEFAULT], s2[K_DEFAULT], s3[K_DEFAULT], again[K_DEFAULT];

    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&m1, 24, K_DEFAULT, 42, FUZZY_KERNEL_PORTABLE), 0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&m2, 24, K_DEFAULT, 42, fuzzy_minhash_kernel_best()),
                          0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&m3, 24, K_DEFAULT, 43, FUZZY_KERNEL_PORTABLE), 0);
    CU_ASSERT_EQUAL(m1.padded, 288); /* 260 rounded up to 9 groups of 32 functions */
    CU_ASSERT_EQUAL(m1.count, 264);  /* and to 33 steps of 8 */
    CU_ASSERT_EQUAL(memcmp(m1.coef, m2.coef, 4 * m1.padded * sizeof(uint16_t)), 0);
    for (uint32_t i = 0; i < m1.padded; i++) {
        CU_ASSERT_EQUAL(m1.coef[FUZZY_COEF_C * m1.padded + i] & 1u, 1u);
        CU_ASSERT_EQUAL(m1.coef[FUZZY_COEF_E * m1.padded + i] & 1u, 1u);
    }
    signature_of(&m1, text, s1);
    signature_of(&m2, text, s2);
    signature_of(&m3, text, s3);
    signature_of(&m1, text, again);
    CU_ASSERT_EQUAL(memcmp(s1, s2, sizeof(s1)), 0);
    CU_ASSERT_EQUAL(memcmp(s1, again, sizeof(s1)), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(s1, s3, sizeof(s1)), 0);
    fuzzy_minhash_clear(&m1);
    fuzzy_minhash_clear(&m2);
    fuzzy_minhash_clear(&m3);
    free(text);
}

static void test_every_kernel_gives_identical_signatures(void)
{
    struct fuzzy_minhash mh[FUZZY_KERNEL_COUNT];
    int ran = 0;

    for (int k = 0; k < FUZZY_KERNEL_COUNT; k++) {
        if (!fuzzy_minhash_kernel_supported((enum fuzzy_minhash_kernel)k)) {
            printf("\n  kernel %s: not supported here, skipped",
                   fuzzy_minhash_kernel_name((enum fuzzy_minhash_kernel)k));
            CU_ASSERT_EQUAL(
                fuzzy_minhash_init(&mh[k], 24, K_DEFAULT, 42, (enum fuzzy_minhash_kernel)k), -1);
            continue;
        }
        CU_ASSERT_EQUAL_FATAL(
            fuzzy_minhash_init(&mh[k], 24, K_DEFAULT, 42, (enum fuzzy_minhash_kernel)k), 0);
        ran++;
    }
    CU_ASSERT(ran >= 1);
    for (int t = 0; t < 40; t++) {
        size_t len = t == 0 ? 0 : (size_t)(next_random() % (t < 20 ? 300 : 20000));
        char *text = random_text(len, t % 2);
        uint32_t want[K_DEFAULT], got[K_DEFAULT];

        signature_of(&mh[FUZZY_KERNEL_PORTABLE], text, want);
        for (int k = 1; k < FUZZY_KERNEL_COUNT; k++) {
            if (!fuzzy_minhash_kernel_supported((enum fuzzy_minhash_kernel)k))
                continue;
            signature_of(&mh[k], text, got);
            CU_ASSERT_EQUAL(memcmp(want, got, sizeof(want)), 0);
        }
        free(text);
    }
    /* Odd signature lengths exercise every kernel's tail, and longer ones
     * the AVX-512BW kernel's passes of 288 functions. */
    static const uint32_t lengths[] = { 1, 17, 33, 49, 65, 81, 97, 257, 289, 600 };
    for (size_t li = 0; li < sizeof(lengths) / sizeof(lengths[0]); li++) {
        const uint32_t perms = lengths[li];
        char *text = random_text(2000 + 1000 * li, 1);
        uint32_t want[608], got[608];
        struct fuzzy_minhash p, q;

        CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&p, 5, perms, 9, FUZZY_KERNEL_PORTABLE), 0);
        signature_of(&p, text, want);
        for (int k = 1; k < FUZZY_KERNEL_COUNT; k++) {
            if (fuzzy_minhash_init(&q, 5, perms, 9, (enum fuzzy_minhash_kernel)k) != 0)
                continue;
            signature_of(&q, text, got);
            CU_ASSERT_EQUAL(memcmp(want, got, perms * sizeof(uint32_t)), 0);
            fuzzy_minhash_clear(&q);
        }
        fuzzy_minhash_clear(&p);
        free(text);
    }
    for (int k = 0; k < FUZZY_KERNEL_COUNT; k++)
        fuzzy_minhash_clear(&mh[k]);
}

/* Runs kernel k over xs[0, n) for `count` functions of coef (stride STRIDE)
 * from minima at INT32_MAX (fresh) or as they are; 0 when k is not supported. */
#define STRIDE 64
static int run_kernel(int k, const uint32_t *xs, size_t n, const uint16_t *coef, size_t count,
                      int32_t *mins, int fresh)
{
    fuzzy_minhash_kernel_fn fn = fuzzy_minhash_kernel_get((enum fuzzy_minhash_kernel)k);

    if (fn == NULL)
        return 0;
    if (fresh)
        for (int i = 0; i < STRIDE; i++)
            mins[i] = INT32_MAX;
    fn(xs, n, coef, STRIDE, count, mins);
    return 1;
}

/* Function i of coef (stride STRIDE), the way the header defines pi_i. */
static uint32_t coef_value(const uint16_t *coef, int i, uint32_t x)
{
    uint16_t h = (uint16_t)(coef[FUZZY_COEF_C * STRIDE + i] * (x >> 16) +
                            (coef[FUZZY_COEF_D * STRIDE + i] ^ 0x8000u));
    uint16_t g = (uint16_t)(coef[FUZZY_COEF_E * STRIDE + i] * (x & 0xFFFFu) +
                            coef[FUZZY_COEF_F * STRIDE + i]);
    return ((uint32_t)h << 16) | g;
}

/* Random coefficients; functions below `ties` get c = e = 1, d = 0 (stored
 * biased: 0x8000) and f = i, so their values are xh in the high half and
 * xl + i in the low one: shingles that share a half tie there. */
static void random_coef(uint16_t *coef, int ties)
{
    for (int i = 0; i < STRIDE; i++) {
        uint64_t r = next_random();

        coef[FUZZY_COEF_C * STRIDE + i] = i < ties ? 1 : (uint16_t)(r | 1u);
        coef[FUZZY_COEF_D * STRIDE + i] = i < ties ? 0x8000u : (uint16_t)(r >> 16);
        coef[FUZZY_COEF_E * STRIDE + i] = i < ties ? 1 : (uint16_t)((r >> 32) | 1u);
        coef[FUZZY_COEF_F * STRIDE + i] = i < ties ? (uint16_t)i : (uint16_t)(r >> 48);
    }
}

/* The kernels skip a shingle when a 16-bit compare of the high halves proves
 * no minimum changes: values whose high halves tie with a minimum's, values
 * equal to a minimum, and values on both sides of the sign bit must still
 * give exactly the portable kernel's minima, in every function's place. */
static void test_kernels_agree_on_values_that_tie_in_a_half(void)
{
    static const uint32_t base[] = { 0x12345678u, 0x12340000u, 0x1234FFFFu, 0x12345677u,
                                     0x56781234u, 0x00001234u, 0xFFFF1234u, 0x80000000u,
                                     0x7FFFFFFFu, 0x80007FFFu, 0x7FFF8000u, 0x00000000u,
                                     0xFFFFFFFFu, 0x12345678u, 0x56771234u, 0x12335678u };
    static const size_t counts[] = { 8, 16, 24, 32, 40, 64 };
    uint32_t xs[256];
    _Alignas(64) uint16_t coef[4 * STRIDE];
    int32_t want[STRIDE], got[STRIDE];
    int checked = 0;

    random_coef(coef, 20);
    for (size_t s = 0; s < 256; s++) {
        uint32_t r = (uint32_t)next_random();

        /* the table, then variations that keep one half and move the other */
        uint32_t keep = r & 64 ? 0xFFFF0000u : 0x0000FFFFu;

        xs[s] = s < 16 ? base[s] : (base[r % 16] & keep) | ((r * 2654435761u) & ~keep);
    }
    for (size_t ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++) {
        for (size_t n = 1; n <= 256; n = n * 3 + 1) {
            run_kernel(FUZZY_KERNEL_PORTABLE, xs, n, coef, counts[ci], want, 1);
            for (int k = 1; k < FUZZY_KERNEL_COUNT; k++) {
                if (!run_kernel(k, xs, n, coef, counts[ci], got, 1))
                    continue;
                CU_ASSERT_EQUAL(memcmp(want, got, counts[ci] * sizeof(int32_t)), 0);
                checked++;
            }
        }
    }
    /* and the portable kernel is the definition: every function's minimum,
     * ^ 2^31, in its own place */
    run_kernel(FUZZY_KERNEL_PORTABLE, xs, 40, coef, 64, want, 1);
    for (int i = 0; i < 64; i++) {
        uint32_t m = UINT32_MAX;

        for (size_t s = 0; s < 40; s++)
            m = coef_value(coef, i, xs[s]) < m ? coef_value(coef, i, xs[s]) : m;
        CU_ASSERT_EQUAL((uint32_t)want[i] ^ 0x80000000u, m);
    }
    CU_ASSERT_EQUAL(coef_value(coef, 3, 0x12345678u), 0x1234567Bu); /* xh, xl + 3 */
    CU_ASSERT_EQUAL(coef_value(coef, 3, 0xFFFFFFFEu), 0xFFFF0001u);
    printf("\n  %d kernel runs checked", checked);
}

/* The kernels take a document's first 48 shingles (minima still at INT32_MAX)
 * branch-free and SSE2 broadcasts x in blocks of 256 shingles: chunk lengths
 * on both sides of those bounds, chunks split across calls, and ties that
 * reach the thresholded path (minima already moved) must all give the
 * portable kernel's minima. */
static void test_kernels_agree_across_chunk_lengths_and_calls(void)
{
    enum { N = 1100, COUNT = 40 }; /* 40: every kernel's tail */
    static const size_t lens[] = { 1, 2, 47, 48, 49, 255, 256, 257, 319, 700, N };
    static uint32_t xs[N];
    _Alignas(64) uint16_t coef[4 * STRIDE];
    int32_t want[STRIDE], got[STRIDE];
    int checked = 0;

    random_coef(coef, 16);
    for (size_t s = 0; s < N; s++) {
        uint32_t r = (uint32_t)next_random();
        uint32_t keep = r & 64 ? 0xFFFF0000u : 0x0000FFFFu;

        /* random values, then some that keep one half of an earlier one */
        xs[s] = s < 16 || r % 3 ? r * 2654435761u : (xs[r % s] & keep) | (r & ~keep);
    }
    for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
        const size_t n = lens[li];

        run_kernel(FUZZY_KERNEL_PORTABLE, xs, n, coef, COUNT, want, 1);
        for (int k = 1; k < FUZZY_KERNEL_COUNT; k++) {
            /* one call */
            if (!run_kernel(k, xs, n, coef, COUNT, got, 1))
                continue;
            CU_ASSERT_EQUAL(memcmp(want, got, COUNT * sizeof(int32_t)), 0);
            /* the same shingles in calls of 1, 47, 2, 257, ... */
            run_kernel(k, xs, 0, coef, COUNT, got, 1);
            for (size_t s = 0, piece = 0; s < n; piece++) {
                size_t len = lens[(li + piece) % (sizeof(lens) / sizeof(lens[0]))];

                len = len < n - s ? len : n - s;
                run_kernel(k, xs + s, len, coef, COUNT, got, 0);
                s += len;
            }
            CU_ASSERT_EQUAL(memcmp(want, got, COUNT * sizeof(int32_t)), 0);
            checked += 2;
        }
    }
    /* minima first moved by 100 shingles, then each of those values again
     * lowered in its low half only: for the first 16 functions (x + i in each
     * half) the new minima tie the old ones' high halves, on the thresholded
     * path */
    run_kernel(FUZZY_KERNEL_PORTABLE, xs + 200, 100, coef, COUNT, want, 1);
    for (size_t s = 0; s < 100; s++)
        xs[s] = xs[200 + s] - ((xs[200 + s] & 0xFFFFu) >> 1);
    run_kernel(FUZZY_KERNEL_PORTABLE, xs, 100, coef, COUNT, want, 0);
    for (int k = 1; k < FUZZY_KERNEL_COUNT; k++) {
        if (!run_kernel(k, xs + 200, 100, coef, COUNT, got, 1))
            continue;
        run_kernel(k, xs, 100, coef, COUNT, got, 0);
        CU_ASSERT_EQUAL(memcmp(want, got, COUNT * sizeof(int32_t)), 0);
        checked++;
    }
    CU_ASSERT(checked >= 2 * (int)(sizeof(lens) / sizeof(lens[0])) + 1);
    printf("\n  %d kernel runs checked", checked);
}

/* The scan pays for chunks of many distinct high halves; a long run of one
 * repeated character has one (every walk would be ~2^15 steps), and a short
 * period few: those go to the kernel, ordinary long text to the scan. */
static void test_repetitive_texts_are_not_scanned(void)
{
    struct fuzzy_minhash mh;
    struct fuzzy_minhash_scratch scratch;
    uint32_t sig[K_DEFAULT], filtered[K_DEFAULT];
    char *text = random_text(20000, 0);
    char *same = malloc(20001), *period = malloc(20001);

    CU_ASSERT_FATAL(same != NULL && period != NULL);
    for (size_t i = 0; i < 20000; i++) {
        same[i] = 'a';
        period[i] = "abcdefg"[i % 7];
    }
    same[20000] = period[20000] = '\0';
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh, 24, K_DEFAULT, 42, fuzzy_minhash_kernel_best()),
                          0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_scratch_init(&scratch, &mh), 0);

    fuzzy_minhash_signature(&mh, &scratch, same, 20000, sig);
    fuzzy_minhash_signature(&mh, &scratch, period, 20000, sig);
    CU_ASSERT_EQUAL(scratch.chunks, 10); /* 5 chunks of up to 4096 shingles each */
    CU_ASSERT_EQUAL(scratch.scanned, 0);
    fuzzy_minhash_signature(&mh, &scratch, text, 20000, sig);
    CU_ASSERT(scratch.chunks > 10);
    CU_ASSERT(scratch.scanned >= 1); /* at least the first chunk of 4096 distinct shingles */
    mh.scan_min = UINT32_MAX;        /* never scan: the kernel's minima */
    fuzzy_minhash_signature(&mh, &scratch, text, 20000, filtered);
    CU_ASSERT_EQUAL(memcmp(sig, filtered, sizeof(sig)), 0);

    fuzzy_minhash_scratch_clear(&scratch);
    fuzzy_minhash_clear(&mh);
    free(text);
    free(same);
    free(period);
}

/* Long chunks are scanned (the smallest h_i found by walking h upwards)
 * instead of filtered by the kernel: for every kernel, texts of every length
 * around the chunk bound, with and without repeated shingles (equal high
 * halves), scanned and filtered give the same signature. */
static void test_scanned_chunks_give_the_kernels_minima(void)
{
    static const size_t lens[] = { 30, 299, 301, 1000, 4119, 4120, 9000, 20000 };
    int checked = 0;

    for (int k = 0; k < FUZZY_KERNEL_COUNT; k++) {
        struct fuzzy_minhash mh;

        if (fuzzy_minhash_init(&mh, 24, K_DEFAULT, 42, (enum fuzzy_minhash_kernel)k) != 0)
            continue;
        for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
            char *text = random_text(lens[li], (int)(li % 2));
            uint32_t scanned[K_DEFAULT], filtered[K_DEFAULT];

            if (li % 3 == 2) /* a text made of one repeated piece: shingles repeat */
                for (size_t i = 0; text[i] != '\0'; i++)
                    text[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i % 36];
            mh.scan_min = 1;
            signature_of(&mh, text, scanned);
            mh.scan_min = UINT32_MAX;
            signature_of(&mh, text, filtered);
            CU_ASSERT_EQUAL(memcmp(scanned, filtered, sizeof(scanned)), 0);
            checked++;
            free(text);
        }
        fuzzy_minhash_clear(&mh);
    }
    CU_ASSERT(checked >= 8);
    printf("\n  %d texts checked", checked);
}

static void test_kernel_choice_names_the_problem(void)
{
    enum fuzzy_minhash_kernel k = FUZZY_KERNEL_COUNT;
    char msg[256] = "";

    CU_ASSERT_EQUAL(fuzzy_minhash_kernel_choose(NULL, &k, msg, sizeof(msg)), 0);
    CU_ASSERT_EQUAL(k, fuzzy_minhash_kernel_best());
    CU_ASSERT_EQUAL(fuzzy_minhash_kernel_choose("", &k, msg, sizeof(msg)), 0);
    CU_ASSERT_EQUAL(fuzzy_minhash_kernel_choose("portable", &k, msg, sizeof(msg)), 0);
    CU_ASSERT_EQUAL(k, FUZZY_KERNEL_PORTABLE);
    CU_ASSERT_EQUAL(fuzzy_minhash_kernel_choose("sse9", &k, msg, sizeof(msg)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "WINNOW_MINHASH_KERNEL=sse9 is not a kernel"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "portable, sse2, avx2 or avx512bw"));
    for (int i = 1; i < FUZZY_KERNEL_COUNT; i++) {
        const char *name = fuzzy_minhash_kernel_name((enum fuzzy_minhash_kernel)i);
        int rc = fuzzy_minhash_kernel_choose(name, &k, msg, sizeof(msg));

        if (fuzzy_minhash_kernel_supported((enum fuzzy_minhash_kernel)i)) {
            CU_ASSERT_EQUAL(rc, 0);
            CU_ASSERT_EQUAL((int)k, i);
        } else {
            CU_ASSERT_EQUAL(rc, -1);
            CU_ASSERT_PTR_NOT_NULL(strstr(msg, "cannot run"));
        }
    }
}

static void test_bad_settings_are_refused(void)
{
    struct fuzzy_minhash mh;

    CU_ASSERT_EQUAL(fuzzy_minhash_init(&mh, 0, 10, 1, FUZZY_KERNEL_PORTABLE), -1);
    CU_ASSERT_EQUAL(fuzzy_minhash_init(&mh, 5, 0, 1, FUZZY_KERNEL_PORTABLE), -1);
    CU_ASSERT_EQUAL(
        fuzzy_minhash_init(&mh, FUZZY_MINHASH_MAX_NGRAM + 1, 10, 1, FUZZY_KERNEL_PORTABLE), -1);
    CU_ASSERT_EQUAL(fuzzy_minhash_init(&mh, 5, 10, 1, FUZZY_KERNEL_COUNT), -1);
    CU_ASSERT_EQUAL(fuzzy_minhash_init(&mh, 5, 10, 1, FUZZY_KERNEL_PORTABLE), 0);
    CU_ASSERT_EQUAL(mh.padded, 32);
    CU_ASSERT_EQUAL(mh.count, 16);
    fuzzy_minhash_clear(&mh);
}

/* A long document's signature is the elementwise minimum of the signatures of
 * two pieces that overlap by ngram - 1 code points: the shingle sets' union. */
static void test_very_long_documents_hash_as_their_pieces(void)
{
    struct fuzzy_minhash mh;
    size_t len = (size_t)3 << 20;
    char *text = random_text(len, 1);
    size_t units = 0, pos = 0, cut = 0, back = 0, actual = strlen(text);
    size_t *start = malloc((actual + 1) * sizeof(*start));
    uint32_t whole[K_DEFAULT], first[K_DEFAULT], second[K_DEFAULT];
    struct fuzzy_minhash_scratch scratch;

    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh, 24, K_DEFAULT, 42, fuzzy_minhash_kernel_best()),
                          0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_scratch_init(&scratch, &mh), 0);
    while (pos < actual) {
        uint32_t unit;
        start[units++] = pos;
        pos += fuzzy_utf8_unit((const unsigned char *)text + pos, actual - pos, &unit);
    }
    start[units] = actual;
    cut = start[units / 2];             /* the first piece ends here */
    back = start[units / 2 - (24 - 1)]; /* the second starts 23 units earlier */
    fuzzy_minhash_signature(&mh, &scratch, text, actual, whole);
    fuzzy_minhash_signature(&mh, &scratch, text, cut, first);
    fuzzy_minhash_signature(&mh, &scratch, text + back, actual - back, second);
    for (int i = 0; i < K_DEFAULT; i++)
        CU_ASSERT_EQUAL(whole[i], first[i] < second[i] ? first[i] : second[i]);
    /* and the pieces differ from the whole, or the check would prove little */
    CU_ASSERT_NOT_EQUAL(memcmp(whole, first, sizeof(whole)), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(whole, second, sizeof(whole)), 0);
    fuzzy_minhash_scratch_clear(&scratch);
    fuzzy_minhash_clear(&mh);
    free(start);
    free(text);
}

/* ---- Jaccard estimate ----------------------------------------------------------------- */

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double exact_jaccard(const struct fuzzy_minhash *mh, const char *a, const char *b)
{
    size_t na, nb, i = 0, j = 0, both = 0, ua = 0, ub = 0;
    uint64_t *sa = all_shingles(mh, a, strlen(a), &na), *sb = all_shingles(mh, b, strlen(b), &nb);

    qsort(sa, na, sizeof(*sa), compare_u64);
    qsort(sb, nb, sizeof(*sb), compare_u64);
    for (size_t k = 0; k < na; k++)
        if (ua == 0 || sa[ua - 1] != sa[k])
            sa[ua++] = sa[k];
    for (size_t k = 0; k < nb; k++)
        if (ub == 0 || sb[ub - 1] != sb[k])
            sb[ub++] = sb[k];
    while (i < ua && j < ub) {
        if (sa[i] == sb[j])
            both++, i++, j++;
        else if (sa[i] < sb[j])
            i++;
        else
            j++;
    }
    free(sa);
    free(sb);
    return (double)both / (double)(ua + ub - both);
}

/* Replaces `edits` random 5-byte windows of an ASCII text with random letters. */
static char *edited_copy(const char *text, size_t edits)
{
    size_t len = strlen(text);
    char *copy = strdup(text);

    for (size_t e = 0; e < edits && len > 5; e++) {
        size_t at = next_random() % (len - 5);
        for (int i = 0; i < 5; i++)
            copy[at + i] = (char)('a' + next_random() % 26);
    }
    return copy;
}

static void test_signature_agreement_estimates_jaccard(void)
{
    struct fuzzy_minhash mh;
    struct fuzzy_minhash_scratch scratch;
    double sum_error = 0, worst = 0;
    int pairs = 0;

    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_init(&mh, 24, K_DEFAULT, 42, fuzzy_minhash_kernel_best()),
                          0);
    CU_ASSERT_EQUAL_FATAL(fuzzy_minhash_scratch_init(&scratch, &mh), 0);
    for (int t = 0; t < 120; t++) {
        char *a = random_text(4000, 0), *b = edited_copy(a, (size_t)(t % 40) * 2);
        uint32_t sa[K_DEFAULT], sb[K_DEFAULT];
        double j = exact_jaccard(&mh, a, b), estimate, sigma;
        int agree = 0;

        fuzzy_minhash_signature(&mh, &scratch, a, strlen(a), sa);
        fuzzy_minhash_signature(&mh, &scratch, b, strlen(b), sb);
        for (int i = 0; i < K_DEFAULT; i++)
            agree += sa[i] == sb[i];
        estimate = agree / (double)K_DEFAULT;
        sigma = sqrt(j * (1 - j) / K_DEFAULT);
        /* 5 sigma: a failure by chance has odds of about 1 in 3.5 million per pair. */
        CU_ASSERT(fabs(estimate - j) <= 5 * sigma + 0.01);
        if (fabs(estimate - j) > 5 * sigma + 0.01)
            printf("\n  pair %d: Jaccard %.4f, estimate %.4f", t, j, estimate);
        sum_error += estimate - j;
        worst = fabs(estimate - j) > worst ? fabs(estimate - j) : worst;
        pairs++;
        free(a);
        free(b);
    }
    /* No bias: the mean error over 120 pairs is far inside 0.01. */
    CU_ASSERT(fabs(sum_error / pairs) < 0.01);
    printf("\n  %d pairs: mean error %+.4f, worst %.4f\n", pairs, sum_error / pairs, worst);
    fuzzy_minhash_scratch_clear(&scratch);
    fuzzy_minhash_clear(&mh);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "utf8 units are code points and invalid bytes count alone",
          test_utf8_units_are_code_points_and_invalid_bytes_count_alone },
        { "shingles are code point n-grams", test_shingles_are_code_point_ngrams },
        { "invalid bytes are one code point each", test_invalid_bytes_are_one_code_point_each },
        { "short and empty texts are one shingle", test_short_and_empty_texts_are_one_shingle },
        { "signature matches the obvious computation",
          test_signature_matches_the_obvious_computation },
        { "signatures are pinned for the default settings",
          test_signatures_are_pinned_for_the_default_settings },
        { "same settings give same signatures, other seeds differ",
          test_same_settings_give_same_signatures_other_seeds_differ },
        { "every kernel gives identical signatures", test_every_kernel_gives_identical_signatures },
        { "kernels agree on values that tie in a half",
          test_kernels_agree_on_values_that_tie_in_a_half },
        { "kernels agree across chunk lengths and calls",
          test_kernels_agree_across_chunk_lengths_and_calls },
        { "scanned chunks give the kernels' minima", test_scanned_chunks_give_the_kernels_minima },
        { "repetitive texts are not scanned", test_repetitive_texts_are_not_scanned },
        { "kernel choice names the problem", test_kernel_choice_names_the_problem },
        { "bad settings are refused", test_bad_settings_are_refused },
        { "very long documents hash as their pieces",
          test_very_long_documents_hash_as_their_pieces },
        { "signature agreement estimates Jaccard", test_signature_agreement_estimates_jaccard },
        { NULL, NULL }
    };

    return wn_test_run_suite("minhash_core", tests, NULL, NULL);
}
