/*
 * fuzzy_minhash_*: shingles, the shingle hash and signatures (the kernels
 * that take the minima live in minhash_kernels.c).  See minhash_core.h and
 * docs/fuzzy-dedup.md for the definitions this file implements.
 */
#include "build_config.h"

#include <stdlib.h>
#include <string.h>

#include "minhash_core.h"

#define INVALID_BYTE_UNIT 0x110000u

/* ---- the shingle hash ---------------------------------------------------------- */

/* 64 x 64 -> 128-bit product, folded: high ^ low. */
static inline uint64_t mix(uint64_t x, uint64_t y)
{
#if defined(__SIZEOF_INT128__)
    unsigned __int128 p = (unsigned __int128)x * y;
    return (uint64_t)(p >> 64) ^ (uint64_t)p;
#else
    uint64_t x0 = (uint32_t)x, x1 = x >> 32, y0 = (uint32_t)y, y1 = y >> 32;
    uint64_t p00 = x0 * y0, p01 = x0 * y1, p10 = x1 * y0, p11 = x1 * y1;
    uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
    uint64_t lo = (mid << 32) | (uint32_t)p00;
    uint64_t hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    return hi ^ lo;
#endif
}

/* Little-endian loads of 8 and 4 bytes, unaligned. */
static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint64_t load32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

#define SECRET0 UINT64_C(0xA0761D6478BD642F)
#define SECRET1 UINT64_C(0xE7037ED1A0B428DB)
#define SECRET2 UINT64_C(0x8EBC6AF09C88C6E3)
#define SECRET3 UINT64_C(0x589965CC75374CC3)

/*
 * A wyhash-like hash: one multiply-fold round per 16 bytes, then the last 1..16
 * bytes read as two overlapping words (never outside p[0..len)), then a final
 * round with the length.  Independent per shingle, so shingles hash in parallel
 * in the CPU's pipeline.
 */
static inline uint64_t bytes_hash(const unsigned char *p, size_t len, uint64_t h)
{
    uint64_t a, b;
    size_t rest = len;

    while (rest > 16) {
        h = mix(load64(p) ^ SECRET1, load64(p + 8) ^ h);
        p += 16;
        rest -= 16;
    }
    if (rest > 8) {
        a = load64(p);
        b = load64(p + rest - 8);
    } else if (rest >= 4) {
        a = load32(p);
        b = load32(p + rest - 4);
    } else if (rest > 0) {
        a = ((uint64_t)p[0] << 16) | ((uint64_t)p[rest >> 1] << 8) | p[rest - 1];
        b = 0;
    } else {
        a = b = 0;
    }
    a ^= SECRET1;
    b ^= h;
    return mix(SECRET0 ^ (uint64_t)len, mix(a, b) ^ SECRET2) ^ SECRET3;
}

/* The hash's starting state for a key. */
static uint64_t hash_start(uint64_t key)
{
    return key ^ mix(key ^ SECRET0, SECRET1);
}

uint64_t fuzzy_bytes_hash(const unsigned char *p, size_t len, uint64_t key)
{
    return bytes_hash(p, len, hash_start(key));
}

/* ---- the shingle hash: a rolling polynomial of per-unit values ------------------ */

/* v(u), keyed (tab: mh->unit_tab, a table for ASCII) */
static inline uint64_t unit_value(const uint64_t *tab, uint64_t unit_key, uint32_t unit)
{
    return unit < 128 ? tab[unit] : mix((uint64_t)unit ^ unit_key, SECRET1);
}

/* v(u) * B^(ngram-1): the term of the unit leaving the window */
static inline uint64_t unit_top(const uint64_t *tab, uint64_t unit_key, uint32_t unit)
{
    return unit < 128 ? tab[128 + unit] : unit_value(tab, unit_key, unit) * tab[256];
}

/* The finish: one multiply-fold of the polynomial with the unit count. */
static inline uint64_t units_finish(uint64_t final_key, uint64_t h, uint64_t count)
{
    return mix(h ^ final_key, SECRET1 ^ count) ^ SECRET3;
}

uint64_t fuzzy_units_hash(const struct fuzzy_minhash *mh, const uint32_t *units, size_t count)
{
    uint64_t h = 0;

    for (size_t i = 0; i < count; i++)
        h = h * mh->base + unit_value(mh->unit_tab, mh->unit_key, units[i]);
    return units_finish(mh->final_key, h, count);
}

/* splitmix64: the fixed generator every constant is drawn from. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* ---- setup ------------------------------------------------------------------ */

/* c^-1 mod 2^16 for odd c: Newton's iteration doubles the correct low bits. */
static uint16_t inverse16(uint16_t c)
{
    uint32_t inv = c; /* right to 3 bits: c * c = 1 mod 8 */

    for (int i = 0; i < 3; i++)
        inv *= 2u - c * inv;
    return (uint16_t)inv;
}

int fuzzy_minhash_init(struct fuzzy_minhash *mh, uint32_t ngram, uint32_t num_perm, uint64_t seed,
                       enum fuzzy_minhash_kernel kernel)
{
    uint64_t state = seed;
    size_t bytes;

    memset(mh, 0, sizeof(*mh));
    if (ngram < 1 || ngram > FUZZY_MINHASH_MAX_NGRAM || num_perm < 1 ||
        num_perm > FUZZY_MINHASH_MAX_PERMUTATIONS)
        return -1;
    mh->kernel_fn = fuzzy_minhash_kernel_get(kernel);
    if (mh->kernel_fn == NULL)
        return -1;
    mh->kernel = kernel;
    mh->ngram = ngram;
    mh->num_perm = num_perm;
    mh->padded = (num_perm + FUZZY_MINHASH_GROUP - 1) / FUZZY_MINHASH_GROUP * FUZZY_MINHASH_GROUP;
    mh->count = (num_perm + FUZZY_MINHASH_STEP - 1) / FUZZY_MINHASH_STEP * FUZZY_MINHASH_STEP;
    mh->key = splitmix64(&state);
    mh->unit_key = mix(mh->key ^ SECRET2, SECRET0);
    mh->final_key = mix(mh->key ^ SECRET3, SECRET1);
    mh->base = mix(mh->key ^ SECRET1, SECRET2) | 1u;
    bytes = 5 * (size_t)mh->padded * sizeof(uint16_t); /* a multiple of 64 */
    mh->coef = aligned_alloc(64, bytes);
    mh->unit_tab = malloc(257 * sizeof(uint64_t));
    if (mh->coef == NULL || mh->unit_tab == NULL) {
        fuzzy_minhash_clear(mh);
        return -2;
    }
    mh->unit_tab[256] = 1; /* B^(ngram-1) */
    for (uint32_t i = 1; i < ngram; i++)
        mh->unit_tab[256] *= mh->base;
    for (uint32_t u = 0; u < 128; u++) {
        mh->unit_tab[u] = mix((uint64_t)u ^ mh->unit_key, SECRET1);
        mh->unit_tab[128 + u] = mh->unit_tab[u] * mh->unit_tab[256];
    }
    for (uint32_t i = 0; i < mh->padded; i++) {
        uint64_t r = splitmix64(&state);

        mh->coef[FUZZY_COEF_C * mh->padded + i] = (uint16_t)(r | 1u);
        mh->coef[FUZZY_COEF_D * mh->padded + i] = (uint16_t)((r >> 16) ^ 0x8000u);
        mh->coef[FUZZY_COEF_E * mh->padded + i] = (uint16_t)((r >> 32) | 1u);
        mh->coef[FUZZY_COEF_F * mh->padded + i] = (uint16_t)(r >> 48);
        mh->coef[FUZZY_COEF_CINV * mh->padded + i] = inverse16((uint16_t)(r | 1u));
    }
    mh->scan_min = fuzzy_minhash_kernel_scan_min(kernel);
    return 0;
}

void fuzzy_minhash_clear(struct fuzzy_minhash *mh)
{
    free(mh->coef);
    free(mh->unit_tab);
    memset(mh, 0, sizeof(*mh));
}

int fuzzy_minhash_scratch_init(struct fuzzy_minhash_scratch *scratch,
                               const struct fuzzy_minhash *mh)
{
    memset(scratch, 0, sizeof(*scratch));
    scratch->ring = malloc((size_t)mh->ngram * sizeof(size_t));
    scratch->hashes = malloc(FUZZY_MINHASH_CHUNK * sizeof(uint64_t));
    scratch->xs = aligned_alloc(64, FUZZY_MINHASH_CHUNK * sizeof(uint32_t));
    scratch->mins = aligned_alloc(64, (size_t)mh->padded * sizeof(int32_t));
    scratch->bits = calloc(1024, sizeof(uint64_t));
    scratch->first = malloc(65536 * sizeof(uint16_t));
    scratch->next = malloc(FUZZY_MINHASH_CHUNK * sizeof(uint16_t));
    if (scratch->ring == NULL || scratch->hashes == NULL || scratch->xs == NULL ||
        scratch->mins == NULL || scratch->bits == NULL || scratch->first == NULL ||
        scratch->next == NULL) {
        fuzzy_minhash_scratch_clear(scratch);
        return -2;
    }
    return 0;
}

void fuzzy_minhash_scratch_clear(struct fuzzy_minhash_scratch *scratch)
{
    free(scratch->ring);
    free(scratch->hashes);
    free(scratch->xs);
    free(scratch->mins);
    free(scratch->bits);
    free(scratch->first);
    free(scratch->next);
    memset(scratch, 0, sizeof(*scratch));
}

/* ---- units and shingles ------------------------------------------------------ */

size_t fuzzy_utf8_unit(const unsigned char *s, size_t len, uint32_t *unit)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    size_t need;
    uint32_t cp;

    if (c < 0x80) {
        *unit = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        cp = c & 0x0Fu;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        cp = c & 0x07u;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        goto invalid;
    }
    if (len < need || s[1] < lo || s[1] > hi)
        goto invalid;
    cp = (cp << 6) | (s[1] & 0x3Fu);
    for (size_t i = 2; i < need; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            goto invalid;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    *unit = cp;
    return need;

invalid:
    *unit = INVALID_BYTE_UNIT + c;
    return 1;
}

uint64_t fuzzy_minhash_shingle_count(uint64_t units, uint32_t ngram)
{
    return units < ngram ? 1 : units - ngram + 1;
}

void fuzzy_shingler_start(struct fuzzy_shingler *sh, const struct fuzzy_minhash *mh, size_t *ring,
                          const char *text, size_t len)
{
    memset(sh, 0, sizeof(*sh));
    sh->mh = mh;
    sh->text = (const unsigned char *)text;
    sh->len = text != NULL ? len : 0;
    sh->ring = ring;
}

size_t fuzzy_shingler_next(struct fuzzy_shingler *sh, uint64_t *out, size_t max)
{
    const struct fuzzy_minhash *mh = sh->mh;
    const unsigned char *text = sh->text;
    const uint32_t ngram = mh->ngram;
    /* locals: the stores to out and ring could alias mh's fields */
    const uint64_t base = mh->base, unit_key = mh->unit_key, final_key = mh->final_key;
    const uint64_t *tab = mh->unit_tab;
    size_t *ring = sh->ring;
    size_t pos = sh->pos, len = sh->len, n = 0;
    uint64_t units = sh->units, h = sh->h;
    uint32_t ring_at = sh->ring_at;

    if (sh->done)
        return 0;
    while (n < max && pos < len) {
        uint32_t unit;

        if (units >= ngram) {
            /* ring[ring_at] is where the oldest of the last ngram units
             * starts: its term leaves the polynomial */
            size_t at = ring[ring_at];
            uint32_t old;

            if (text[at] < 0x80)
                old = text[at];
            else
                fuzzy_utf8_unit(text + at, len - at, &old);
            h -= unit_top(tab, unit_key, old);
        }
        ring[ring_at] = pos;
        if (++ring_at == ngram)
            ring_at = 0;
        if (text[pos] < 0x80)
            unit = text[pos++];
        else
            pos += fuzzy_utf8_unit(text + pos, len - pos, &unit);
        h = h * base + unit_value(tab, unit_key, unit);
        if (++units >= ngram)
            out[n++] = units_finish(final_key, h, ngram);
    }
    if (pos >= len && n < max) {
        /* A text shorter than one shingle is one shingle: the whole text. */
        if (units < ngram)
            out[n++] = units_finish(final_key, h, units);
        sh->done = 1;
    }
    sh->pos = pos;
    sh->units = units;
    sh->h = h;
    sh->ring_at = ring_at;
    return n;
}

/* ---- signatures -------------------------------------------------------------- */

#define NO_SHINGLE 0xFFFFu

/* Indexes the chunk xs[0, n) (n <= FUZZY_MINHASH_CHUNK < NO_SHINGLE) by high
 * half: scratch->bits marks the halves present, first/next list the shingles
 * of each.  Returns how many distinct high halves there are. */
static size_t index_chunk(struct fuzzy_minhash_scratch *scratch, const uint32_t *xs, size_t n)
{
    uint64_t *bits = scratch->bits;
    uint16_t *first = scratch->first, *next = scratch->next;
    size_t distinct = 0;

    for (size_t s = 0; s < n; s++) {
        const uint32_t y = xs[s] >> 16;
        const uint64_t bit = UINT64_C(1) << (y & 63);

        if (bits[y >> 6] & bit) {
            next[s] = first[y];
        } else {
            next[s] = NO_SHINGLE;
            distinct++;
        }
        first[y] = (uint16_t)s;
        bits[y >> 6] |= bit;
    }
    return distinct;
}

/* Clears what index_chunk marked. */
static void unindex_chunk(struct fuzzy_minhash_scratch *scratch, const uint32_t *xs, size_t n)
{
    for (size_t s = 0; s < n; s++)
        scratch->bits[xs[s] >> 22] = 0;
}

/* The minima of mh->count functions over the indexed chunk xs[0, n): the
 * kernels' result, found from the high halves present. */
static void scan_chunk(const struct fuzzy_minhash *mh, struct fuzzy_minhash_scratch *scratch,
                       const uint32_t *xs)
{
    const uint16_t *co = mh->coef;
    const uint32_t p = mh->padded;
    const uint64_t *bits = scratch->bits;
    const uint16_t *first = scratch->first, *next = scratch->next;
    int32_t *mins = scratch->mins;

    for (uint32_t i = 0; i < mh->count; i++) {
        const uint32_t m = (uint32_t)mins[i] ^ UINT32_C(0x80000000);
        const uint32_t th = m >> 16, cinv = co[FUZZY_COEF_CINV * p + i];
        const uint32_t d = co[FUZZY_COEF_D * p + i] ^ 0x8000u; /* unbiased */
        const uint32_t e = co[FUZZY_COEF_E * p + i], f = co[FUZZY_COEF_F * p + i];
        uint32_t y = (cinv * (0x10000u - d)) & 0xFFFFu; /* h_i(y) = 0 */
        uint32_t h = 0, g = 0xFFFFu;

        /* four steps per branch (h_i(y + c_i^-1) = h_i(y) + 1); ends: the
         * chunk has some y */
        for (;;) {
            const uint32_t y1 = (y + cinv) & 0xFFFFu, y2 = (y + 2 * cinv) & 0xFFFFu;
            const uint32_t y3 = (y + 3 * cinv) & 0xFFFFu;
            const uint64_t b0 = bits[y >> 6] >> (y & 63), b1 = bits[y1 >> 6] >> (y1 & 63);
            const uint64_t b2 = bits[y2 >> 6] >> (y2 & 63), b3 = bits[y3 >> 6] >> (y3 & 63);

            if ((b0 | b1 | b2 | b3) & 1) {
                if (!(b0 & 1)) {
                    h++, y = y1;
                    if (!(b1 & 1)) {
                        h++, y = y2;
                        if (!(b2 & 1))
                            h++, y = y3;
                    }
                }
                break;
            }
            h += 4;
            if (h > th)
                break;
            y = (y + 4 * cinv) & 0xFFFFu;
        }
        if (h > th)
            continue; /* every value of the chunk lies above the minimum */
        for (uint32_t s = first[y]; s != NO_SHINGLE; s = next[s]) {
            uint32_t v = (e * (xs[s] & 0xFFFFu) + f) & 0xFFFFu;
            g = v < g ? v : g;
        }
        if ((h << 16 | g) < m)
            mins[i] = (int32_t)((h << 16 | g) ^ UINT32_C(0x80000000));
    }
}

/* Sum over the functions of min(the running minimum's high half + 1, cap):
 * about the steps their scans walk when the chunk's high halves are 2^16 /
 * cap apart. */
static uint64_t walk_steps(const struct fuzzy_minhash *mh, const int32_t *mins, uint32_t cap)
{
    uint64_t steps = 0;

    for (uint32_t i = 0; i < mh->count; i++) {
        uint32_t th = ((uint32_t)mins[i] ^ UINT32_C(0x80000000)) >> 16;

        steps += th + 1 < cap ? th + 1 : cap;
    }
    return steps;
}

/*
 * Whether scanning the chunk xs[0, n) costs less than the kernel; when it
 * does, the chunk is left indexed (index_chunk) for scan_chunk.  A function's
 * scan walks about min(2^16 / distinct high halves, its minimum's high half)
 * steps, the kernel does n steps' worth per function, and mh->scan_min is
 * where the two meet for a chunk of distinct halves and no minimum yet (walk
 * 2^16 / n = n * 2^16 / scan_min^2).  Distinct halves, not shingles: a long
 * run of one repeated character has one, and its walks would be 2^15 steps.
 */
static int scan_pays(const struct fuzzy_minhash *mh, struct fuzzy_minhash_scratch *scratch,
                     size_t n)
{
    const uint64_t kernel = (uint64_t)n * 65536 * mh->count;
    uint64_t scale;
    size_t distinct;

    if (mh->scan_min > 65536 || n == 0)
        return 0;
    scale = (uint64_t)mh->scan_min * mh->scan_min;
    if (walk_steps(mh, scratch->mins, 65536) * scale <= kernel) {
        index_chunk(scratch, scratch->xs, n);
        return 1;
    }
    if (n <= mh->scan_min)
        return 0; /* even distinct halves would not pay */
    distinct = index_chunk(scratch, scratch->xs, n);
    if (walk_steps(mh, scratch->mins, (uint32_t)(65536 / distinct)) * scale <= kernel)
        return 1;
    unindex_chunk(scratch, scratch->xs, n);
    return 0;
}

void fuzzy_minhash_signature(const struct fuzzy_minhash *mh, struct fuzzy_minhash_scratch *scratch,
                             const char *text, size_t len, uint32_t *sig)
{
    struct fuzzy_shingler sh;
    size_t n;

    for (uint32_t i = 0; i < mh->padded; i++)
        scratch->mins[i] = INT32_MAX; /* UINT32_MAX once unbiased */
    fuzzy_shingler_start(&sh, mh, scratch->ring, text, len);
    while ((n = fuzzy_shingler_next(&sh, scratch->hashes, FUZZY_MINHASH_CHUNK)) > 0) {
        for (size_t i = 0; i < n; i++)
            scratch->xs[i] = fuzzy_minhash_fold(scratch->hashes[i]);
        scratch->chunks++;
        if (scan_pays(mh, scratch, n)) {
            scratch->scanned++;
            scan_chunk(mh, scratch, scratch->xs);
            unindex_chunk(scratch, scratch->xs, n);
        } else {
            mh->kernel_fn(scratch->xs, n, mh->coef, mh->padded, mh->count, scratch->mins);
        }
    }
    for (uint32_t i = 0; i < mh->num_perm; i++)
        sig[i] = (uint32_t)scratch->mins[i] ^ UINT32_C(0x80000000);
}
