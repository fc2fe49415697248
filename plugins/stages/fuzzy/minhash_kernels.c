/*
 * The MinHash kernels: for every multiplier j and every folded shingle hash x
 * of a chunk, t = a[j] * x + b[j] mod 2^32 gives two signature values, t and
 * rotl16(t) (both ^ 2^31, which is how signed minima order them as unsigned
 * values): mins keeps the running minima of both (see fuzzy_minhash_kernel_fn).
 *
 * Five versions give bit-identical results (integer arithmetic; no
 * reassociation can change a minimum): plain C for any CPU, SSE2 (the x86-64
 * baseline: no 32-bit multiply and no 32-bit minimum, so the products come from
 * two 32x32->64-bit pmuludq and the minimum from a signed compare), SSE4.1
 * (pmulld, pminsd), AVX2 (8 lanes) and AVX-512F (16 lanes).
 * The x86 kernels are compiled with target attributes, so the build needs no
 * -m flag, and are only ever called after cpuid says the CPU (and OS) has the
 * extension: __builtin_cpu_supports reads XGETBV for the register state too.
 *
 * Loop order: a few registers' worth of multipliers stays in registers while
 * the chunk of shingles (in L1) streams past, so the inner loop is one
 * broadcast, then per register of multipliers: multiply, add, rotate, two
 * minima -- two signature values per multiply.  The SSE kernels, where a
 * minimum is expensive, first test with one 16-bit compare whether any
 * minimum of the group can change (see kernel_sse2); SSE2 also takes the
 * first shingles of a document, where minima still move at almost every
 * shingle, through a branch-free loop.
 */
#include "build_config.h"

#include <stdio.h>
#include <string.h>

#include "minhash_core.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define FUZZY_HAVE_X86_KERNELS 1
#include <immintrin.h>
#endif

/* Where multiplier j's first value goes in mins (its rotated value is 16 further). */
#define TOFF(j) ((j) + ((j) & ~(size_t)15))

/* ---- portable ---------------------------------------------------------------- */

/* One group of 16 multipliers at a time, written so that compilers can
 * vectorise it where the ISA has a 32-bit multiply and minimum. */
static void kernel_portable(const uint32_t *xs, size_t n, const uint32_t *a, const uint32_t *b,
                            size_t mults, int32_t *mins)
{
    for (size_t j = 0; j < mults; j += FUZZY_MINHASH_LANES) {
        int32_t *mt = mins + TOFF(j), *mr = mt + FUZZY_MINHASH_LANES;
        uint32_t ka[FUZZY_MINHASH_LANES], kb[FUZZY_MINHASH_LANES];
        int32_t m1[FUZZY_MINHASH_LANES], m2[FUZZY_MINHASH_LANES];

        for (size_t l = 0; l < FUZZY_MINHASH_LANES; l++) {
            ka[l] = a[j + l];
            kb[l] = b[j + l];
            m1[l] = mt[l];
            m2[l] = mr[l];
        }
        for (size_t s = 0; s < n; s++) {
            const uint32_t x = xs[s];

            for (size_t l = 0; l < FUZZY_MINHASH_LANES; l++) {
                uint32_t t = ka[l] * x + kb[l];
                int32_t v = (int32_t)t, r = (int32_t)((t << 16) | (t >> 16));

                m1[l] = v < m1[l] ? v : m1[l];
                m2[l] = r < m2[l] ? r : m2[l];
            }
        }
        for (size_t l = 0; l < FUZZY_MINHASH_LANES; l++) {
            mt[l] = m1[l];
            mr[l] = m2[l];
        }
    }
}

#ifdef FUZZY_HAVE_X86_KERNELS

/* ---- SSE2: one group (16 multipliers) per pass ---------------------------------- */

/* t = a * x + b for 4 multipliers: pmuludq on the even lanes gives two 64-bit
 * products per register (ae: multipliers 0, 1 in lanes 0, 2; ao: 2, 3);
 * shufps gathers the four low halves.  r = rotl16(t) with two word shuffles. */
#define SSE2_T(k)                                                                                  \
    _mm_add_epi32(_mm_castps_si128(                                                                \
                      _mm_shuffle_ps(_mm_castsi128_ps(_mm_mul_epu32(_mm_load_si128(&ae[k]), x)),   \
                                     _mm_castsi128_ps(_mm_mul_epu32(_mm_load_si128(&ao[k]), x)),   \
                                     _MM_SHUFFLE(2, 0, 2, 0))),                                    \
                  _mm_load_si128(&bb[k]))
#define SSE2_ROT(t) _mm_shufflehi_epi16(_mm_shufflelo_epi16((t), 0xB1), 0xB1)

/* Signed 32-bit minimum without pminsd: the lanes where m > v take v. */
#define SSE2_MIN(m, v)                                                                             \
    do {                                                                                           \
        __m128i v_ = (v), gt_ = _mm_cmpgt_epi32((m), v_);                                          \
        (m) = _mm_or_si128(_mm_and_si128(gt_, v_), _mm_andnot_si128(gt_, (m)));                    \
    } while (0)

/* The threshold words of 4 lanes: the high half of the minimum of t in the
 * high word, the high half of the minimum of r (the low half of t's word order)
 * in the low word. */
#define SSE2_THRESHOLD(mt, mr)                                                                     \
    _mm_or_si128(_mm_and_si128((mt), _mm_set1_epi32((int)0xFFFF0000u)), _mm_srli_epi32((mr), 16))
/*
 * SSE2 has no 32-bit minimum (a compare and three logic instructions, plus
 * copies: two-operand instructions), and after the first few dozen shingles
 * of a document almost no value is a new minimum.  So the common path makes
 * one 16-bit compare per register of t: t's high word above the high word of
 * t's minimum means t is above it, and t's low word is r's high word, so the
 * same compare tests r against r's minimum -- r is not even computed.  Only
 * when some word is not above (a new minimum, or equal high halves) are the
 * values computed again and the minima blended.
 *
 * The first SSE2_EARLY shingles of a document (the group's minima still at
 * INT32_MAX), where nearly every shingle would take that branch, go through a
 * branch-free loop that blends every time.  x is broadcast once per block of
 * SSE2_BLOCK shingles for all groups, not once per group.
 */
#define SSE2_BLOCK 256
#define SSE2_EARLY 64

__attribute__((target("sse2"))) static void kernel_sse2(const uint32_t *xs, size_t n,
                                                        const uint32_t *a, const uint32_t *b,
                                                        size_t mults, int32_t *mins)
{
    __m128i xb[SSE2_BLOCK];

    for (size_t s0 = 0; s0 < n; s0 += SSE2_BLOCK) {
        const size_t m = n - s0 < SSE2_BLOCK ? n - s0 : SSE2_BLOCK;

        for (size_t s = 0; s < m; s++)
            xb[s] = _mm_set1_epi32((int)xs[s0 + s]);
        for (size_t j = 0; j < mults; j += 16) {
            __m128i *mt = (__m128i *)(void *)(mins + TOFF(j)), *mr = mt + 4;
            __m128i ae[4], ao[4], bb[4], th[4];
            size_t s = 0;

            for (int k = 0; k < 4; k++) {
                __m128i a_ = _mm_loadu_si128((const __m128i *)(a + j + 4 * k));

                ae[k] = _mm_unpacklo_epi32(a_, a_);
                ao[k] = _mm_unpackhi_epi32(a_, a_);
                bb[k] = _mm_loadu_si128((const __m128i *)(b + j + 4 * k));
            }
            if (mins[TOFF(j)] == INT32_MAX) {
                const size_t early = m < SSE2_EARLY ? m : SSE2_EARLY;
                __m128i m1[4], m2[4];

                for (int k = 0; k < 4; k++) {
                    m1[k] = _mm_loadu_si128(&mt[k]);
                    m2[k] = _mm_loadu_si128(&mr[k]);
                }
                for (; s < early; s++) {
                    const __m128i x = xb[s];

                    for (int k = 0; k < 4; k++) {
                        __m128i t = SSE2_T(k);

                        SSE2_MIN(m1[k], t);
                        SSE2_MIN(m2[k], SSE2_ROT(t));
                    }
                }
                for (int k = 0; k < 4; k++) {
                    _mm_storeu_si128(&mt[k], m1[k]);
                    _mm_storeu_si128(&mr[k], m2[k]);
                }
            }
            for (int k = 0; k < 4; k++)
                th[k] = SSE2_THRESHOLD(_mm_loadu_si128(&mt[k]), _mm_loadu_si128(&mr[k]));
            for (; s < m; s++) {
                const __m128i x = xb[s];
                __m128i acc = _mm_and_si128(_mm_cmpgt_epi16(SSE2_T(0), th[0]),
                                            _mm_cmpgt_epi16(SSE2_T(1), th[1]));

                acc = _mm_and_si128(acc, _mm_and_si128(_mm_cmpgt_epi16(SSE2_T(2), th[2]),
                                                       _mm_cmpgt_epi16(SSE2_T(3), th[3])));
                if (__builtin_expect(_mm_movemask_epi8(acc) != 0xFFFF, 0)) {
                    for (int k = 0; k < 4; k++) {
                        __m128i t = SSE2_T(k), m1 = _mm_loadu_si128(&mt[k]);
                        __m128i m2 = _mm_loadu_si128(&mr[k]);

                        SSE2_MIN(m1, t);
                        SSE2_MIN(m2, SSE2_ROT(t));
                        _mm_storeu_si128(&mt[k], m1);
                        _mm_storeu_si128(&mr[k], m2);
                        th[k] = SSE2_THRESHOLD(m1, m2);
                    }
                }
            }
        }
    }
}

/* ---- SSE4.1: one group (16 multipliers) per pass, thresholds as in SSE2 --------- */

#define SSE41_T(k) _mm_add_epi32(_mm_mullo_epi32(aa[k], x), bb[k])

__attribute__((target("sse4.1"))) static void kernel_sse41(const uint32_t *xs, size_t n,
                                                           const uint32_t *a, const uint32_t *b,
                                                           size_t mults, int32_t *mins)
{
    for (size_t j = 0; j < mults; j += 16) {
        __m128i *mt = (__m128i *)(void *)(mins + TOFF(j)), *mr = mt + 4;
        __m128i aa[4], bb[4], th[4];

        for (int k = 0; k < 4; k++) {
            aa[k] = _mm_loadu_si128((const __m128i *)(a + j + 4 * k));
            bb[k] = _mm_loadu_si128((const __m128i *)(b + j + 4 * k));
            th[k] = SSE2_THRESHOLD(_mm_loadu_si128(&mt[k]), _mm_loadu_si128(&mr[k]));
        }
        for (size_t s = 0; s < n; s++) {
            const __m128i x = _mm_set1_epi32((int)xs[s]);
            __m128i acc = _mm_and_si128(_mm_cmpgt_epi16(SSE41_T(0), th[0]),
                                        _mm_cmpgt_epi16(SSE41_T(1), th[1]));

            acc = _mm_and_si128(acc, _mm_and_si128(_mm_cmpgt_epi16(SSE41_T(2), th[2]),
                                                   _mm_cmpgt_epi16(SSE41_T(3), th[3])));
            if (__builtin_expect(_mm_movemask_epi8(acc) != 0xFFFF, 0)) {
                for (int k = 0; k < 4; k++) {
                    __m128i t = SSE41_T(k);
                    __m128i m1 = _mm_min_epi32(_mm_loadu_si128(&mt[k]), t);
                    __m128i m2 = _mm_min_epi32(_mm_loadu_si128(&mr[k]), SSE2_ROT(t));

                    _mm_storeu_si128(&mt[k], m1);
                    _mm_storeu_si128(&mr[k], m2);
                    th[k] = SSE2_THRESHOLD(m1, m2);
                }
            }
        }
    }
}

/*
 * ---- AVX2: one group (16 multipliers) per pass -------------------------------------
 *
 * Here a minimum is one instruction, and the compare-and-branch of the SSE
 * kernels measured slower on real text (the branch mispredicts while the
 * minima still move), so the loop is branch-free: multiply, add, two minima
 * and one byte shuffle (rotl16) per register.
 */
#define AVX2_STEP(k)                                                                               \
    do {                                                                                           \
        __m256i t_ = _mm256_add_epi32(_mm256_mullo_epi32(a##k, x), b##k);                          \
        mt##k = _mm256_min_epi32(mt##k, t_);                                                       \
        mr##k = _mm256_min_epi32(mr##k, _mm256_shuffle_epi8(t_, rot));                             \
    } while (0)

__attribute__((target("avx2"))) static void kernel_avx2(const uint32_t *xs, size_t n,
                                                        const uint32_t *a, const uint32_t *b,
                                                        size_t mults, int32_t *mins)
{
    /* bytes 2,3,0,1 of every lane: rotl16 */
    const __m256i rot = _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3,
                                         0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    for (size_t j = 0; j < mults; j += 16) {
        int32_t *mt = mins + TOFF(j), *mr = mt + 16;
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + j));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(a + j + 8));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + j));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + j + 8));
        __m256i mt0 = _mm256_loadu_si256((const __m256i *)mt);
        __m256i mt1 = _mm256_loadu_si256((const __m256i *)(mt + 8));
        __m256i mr0 = _mm256_loadu_si256((const __m256i *)mr);
        __m256i mr1 = _mm256_loadu_si256((const __m256i *)(mr + 8));
        for (size_t s = 0; s < n; s++) {
            __m256i x = _mm256_set1_epi32((int)xs[s]);
            AVX2_STEP(0);
            AVX2_STEP(1);
        }
        _mm256_storeu_si256((__m256i *)mt, mt0);
        _mm256_storeu_si256((__m256i *)(mt + 8), mt1);
        _mm256_storeu_si256((__m256i *)mr, mr0);
        _mm256_storeu_si256((__m256i *)(mr + 8), mr1);
    }
}
/* ---- AVX-512F: 4 groups per pass, then single groups; branch-free as AVX2 ---------- */

#define AVX512_STEP(k)                                                                             \
    do {                                                                                           \
        __m512i t_ = _mm512_add_epi32(_mm512_mullo_epi32(a##k, x), b##k);                          \
        mt##k = _mm512_min_epi32(mt##k, t_);                                                       \
        mr##k = _mm512_min_epi32(mr##k, _mm512_rol_epi32(t_, 16));                                 \
    } while (0)

__attribute__((target("avx512f"))) static void kernel_avx512(const uint32_t *xs, size_t n,
                                                             const uint32_t *a, const uint32_t *b,
                                                             size_t mults, int32_t *mins)
{
    size_t j = 0;
    for (; j + 64 <= mults; j += 64) {
        int32_t *m = mins + TOFF(j); /* 4 groups: t, r, t, r, ... 16 values each */
        __m512i a0 = _mm512_loadu_si512(a + j), a1 = _mm512_loadu_si512(a + j + 16);
        __m512i a2 = _mm512_loadu_si512(a + j + 32), a3 = _mm512_loadu_si512(a + j + 48);
        __m512i b0 = _mm512_loadu_si512(b + j), b1 = _mm512_loadu_si512(b + j + 16);
        __m512i b2 = _mm512_loadu_si512(b + j + 32), b3 = _mm512_loadu_si512(b + j + 48);
        __m512i mt0 = _mm512_loadu_si512(m), mr0 = _mm512_loadu_si512(m + 16);
        __m512i mt1 = _mm512_loadu_si512(m + 32), mr1 = _mm512_loadu_si512(m + 48);
        __m512i mt2 = _mm512_loadu_si512(m + 64), mr2 = _mm512_loadu_si512(m + 80);
        __m512i mt3 = _mm512_loadu_si512(m + 96), mr3 = _mm512_loadu_si512(m + 112);
        for (size_t s = 0; s < n; s++) {
            __m512i x = _mm512_set1_epi32((int)xs[s]);
            AVX512_STEP(0);
            AVX512_STEP(1);
            AVX512_STEP(2);
            AVX512_STEP(3);
        }
        _mm512_storeu_si512(m, mt0);
        _mm512_storeu_si512(m + 16, mr0);
        _mm512_storeu_si512(m + 32, mt1);
        _mm512_storeu_si512(m + 48, mr1);
        _mm512_storeu_si512(m + 64, mt2);
        _mm512_storeu_si512(m + 80, mr2);
        _mm512_storeu_si512(m + 96, mt3);
        _mm512_storeu_si512(m + 112, mr3);
    }
    for (; j < mults; j += 16) {
        int32_t *m = mins + TOFF(j);
        __m512i a0 = _mm512_loadu_si512(a + j);
        __m512i b0 = _mm512_loadu_si512(b + j);
        __m512i mt0 = _mm512_loadu_si512(m), mr0 = _mm512_loadu_si512(m + 16);
        for (size_t s = 0; s < n; s++) {
            __m512i x = _mm512_set1_epi32((int)xs[s]);
            AVX512_STEP(0);
        }
        _mm512_storeu_si512(m, mt0);
        _mm512_storeu_si512(m + 16, mr0);
    }
}

#endif /* FUZZY_HAVE_X86_KERNELS */

/* ---- selection ------------------------------------------------------------------- */

static const char *const kernel_names[FUZZY_KERNEL_COUNT] = { "portable", "sse2", "sse41", "avx2",
                                                              "avx512" };

const char *fuzzy_minhash_kernel_name(enum fuzzy_minhash_kernel kernel)
{
    return (unsigned)kernel < FUZZY_KERNEL_COUNT ? kernel_names[kernel] : "unknown";
}

int fuzzy_minhash_kernel_supported(enum fuzzy_minhash_kernel kernel)
{
    switch (kernel) {
    case FUZZY_KERNEL_PORTABLE: return 1;
#ifdef FUZZY_HAVE_X86_KERNELS
    case FUZZY_KERNEL_SSE2: __builtin_cpu_init(); return __builtin_cpu_supports("sse2") != 0;
    case FUZZY_KERNEL_SSE41: __builtin_cpu_init(); return __builtin_cpu_supports("sse4.1") != 0;
    case FUZZY_KERNEL_AVX2: __builtin_cpu_init(); return __builtin_cpu_supports("avx2") != 0;
    case FUZZY_KERNEL_AVX512: __builtin_cpu_init(); return __builtin_cpu_supports("avx512f") != 0;
#endif
    default: return 0;
    }
}

enum fuzzy_minhash_kernel fuzzy_minhash_kernel_best(void)
{
    if (fuzzy_minhash_kernel_supported(FUZZY_KERNEL_AVX512))
        return FUZZY_KERNEL_AVX512;
    if (fuzzy_minhash_kernel_supported(FUZZY_KERNEL_AVX2))
        return FUZZY_KERNEL_AVX2;
    if (fuzzy_minhash_kernel_supported(FUZZY_KERNEL_SSE41))
        return FUZZY_KERNEL_SSE41;
    if (fuzzy_minhash_kernel_supported(FUZZY_KERNEL_SSE2))
        return FUZZY_KERNEL_SSE2;
    return FUZZY_KERNEL_PORTABLE;
}

fuzzy_minhash_kernel_fn fuzzy_minhash_kernel_get(enum fuzzy_minhash_kernel kernel)
{
    if (!fuzzy_minhash_kernel_supported(kernel))
        return NULL;
    switch (kernel) {
    case FUZZY_KERNEL_PORTABLE: return kernel_portable;
#ifdef FUZZY_HAVE_X86_KERNELS
    case FUZZY_KERNEL_SSE2: return kernel_sse2;
    case FUZZY_KERNEL_SSE41: return kernel_sse41;
    case FUZZY_KERNEL_AVX2: return kernel_avx2;
    case FUZZY_KERNEL_AVX512: return kernel_avx512;
#endif
    default: return NULL;
    }
}

int fuzzy_minhash_kernel_choose(const char *value, enum fuzzy_minhash_kernel *kernel, char *msg,
                                size_t msg_size)
{
    if (value == NULL || value[0] == '\0') {
        *kernel = fuzzy_minhash_kernel_best();
        return 0;
    }
    for (int k = 0; k < FUZZY_KERNEL_COUNT; k++) {
        if (strcmp(value, kernel_names[k]) != 0)
            continue;
        if (!fuzzy_minhash_kernel_supported((enum fuzzy_minhash_kernel)k)) {
            snprintf(msg, msg_size,
                     "WINNOW_MINHASH_KERNEL=%s: this CPU (or this build) cannot run the %s "
                     "kernel; unset the variable to use the best one available (%s)",
                     value, value, kernel_names[fuzzy_minhash_kernel_best()]);
            return -1;
        }
        *kernel = (enum fuzzy_minhash_kernel)k;
        return 0;
    }
    snprintf(msg, msg_size,
             "WINNOW_MINHASH_KERNEL=%s is not a kernel: use portable, sse2, sse41, avx2 or "
             "avx512, or unset it",
             value);
    return -1;
}
