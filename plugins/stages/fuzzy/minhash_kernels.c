/*
 * The MinHash kernels: for every function i of the family and every folded
 * shingle hash x of a chunk, mins[i] = min(mins[i], pi_i(x) ^ 2^31), with
 * pi_i(x) = (h_i(xh) << 16) | g_i(xl), h_i(y) = c_i y + d_i and
 * g_i(y) = e_i y + f_i mod 2^16 (see fuzzy_minhash_kernel_fn).
 *
 * Four versions give bit-identical results (integer arithmetic; no
 * reassociation can change a minimum): plain C for any CPU, SSE2 (the x86-64
 * baseline: 8 functions per register), AVX2 (16) and AVX-512BW (32).  The
 * x86 kernels are compiled with target attributes, so the build needs no -m
 * flag, and are only ever called after cpuid says the CPU (and OS) has the
 * extension: __builtin_cpu_supports reads XGETBV for the register state too.
 *
 * Every kernel works the same way.  A value's high half h_i(xh) decides its
 * order unless it ties, and after the first few dozen shingles of a document
 * almost no value beats its minimum.  So the common path is, per register of
 * functions, one 16-bit multiply, one add and one 16-bit compare of h
 * (biased: d_i ^ 0x8000, so that signed compares give the unsigned order)
 * against the high halves of the running minima; only when some h does not
 * lie above them are the low halves g computed, the two halves interleaved
 * into 32-bit values and the minima taken.  That second step would be a
 * branch that mispredicts at most of the ~ln(n) new minima per function, so
 * the x86 kernels run the common path over SUB_BLOCK shingles without a
 * branch, listing the candidate shingles, and then take the candidates in
 * order (a threshold a few shingles stale only admits more candidates).  A
 * document's first block, while the minima still move at almost every
 * shingle, simply lists every shingle.  The portable kernel keeps the branch
 * (plain C; it is the reference more than a fast path).
 *
 * Lane order: packing the minima's high halves (packssdw) and interleaving
 * h and g back into 32-bit values (punpck[lh]wd) work within 128-bit lanes,
 * so in the AVX2 and AVX-512 kernels the 16-bit registers hold the functions
 * in the order packssdw gives (64-bit blocks of 4 functions interleaved from
 * the two halves); the coefficients are permuted to match once per call and
 * the interleave then gives the functions in their natural order.
 */
#include "build_config.h"

#include <stdio.h>
#include <string.h>

#include "minhash_core.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define FUZZY_HAVE_X86_KERNELS 1
#include <immintrin.h>
#endif

/* The loops over a group's registers must be unrolled, or their coefficients
 * and thresholds live on the stack instead of in registers. */
#if defined(__GNUC__)
#define UNROLL _Pragma("GCC unroll 8")
#define UNROLL9 _Pragma("GCC unroll 9")
#else
#define UNROLL
#define UNROLL9
#endif

/* Shingles per pass of the common path before the candidates are taken. */
#define SUB_BLOCK 64

/* ---- portable ---------------------------------------------------------------- */

#define PORTABLE_WIDTH 32

/* Functions [0, w) of a block (w <= PORTABLE_WIDTH, a constant where inlined),
 * written so that compilers can vectorise the common path with 16-bit lanes. */
static inline void portable_block(const uint32_t *xs, size_t n, const uint16_t *co, size_t stride,
                                  int32_t *mins, const size_t w)
{
    uint16_t c[PORTABLE_WIDTH], d[PORTABLE_WIDTH], e[PORTABLE_WIDTH], f[PORTABLE_WIDTH];
    uint16_t th[PORTABLE_WIDTH];
    uint32_t m[PORTABLE_WIDTH];
    size_t s = 0;

    for (size_t l = 0; l < w; l++) {
        c[l] = co[FUZZY_COEF_C * stride + l];
        d[l] = (uint16_t)(co[FUZZY_COEF_D * stride + l] ^ 0x8000u); /* unsigned order here */
        e[l] = co[FUZZY_COEF_E * stride + l];
        f[l] = co[FUZZY_COEF_F * stride + l];
        m[l] = (uint32_t)mins[l] ^ UINT32_C(0x80000000);
        th[l] = (uint16_t)(m[l] >> 16);
    }
    for (; s < n; s++) {
        const uint32_t xh = xs[s] >> 16, xl = xs[s] & 0xFFFFu;
        uint16_t below = 0;

        for (size_t l = 0; l < w; l++) {
            uint16_t h = (uint16_t)(c[l] * xh + d[l]);
            below |= (uint16_t)(h <= th[l]);
        }
        if (below == 0)
            continue;
        for (size_t l = 0; l < w; l++) {
            uint32_t v =
                (uint32_t)(uint16_t)(c[l] * xh + d[l]) << 16 | (uint16_t)(e[l] * xl + f[l]);

            m[l] = v < m[l] ? v : m[l];
            th[l] = (uint16_t)(m[l] >> 16);
        }
    }
    for (size_t l = 0; l < w; l++)
        mins[l] = (int32_t)(m[l] ^ UINT32_C(0x80000000));
}

static void kernel_portable(const uint32_t *xs, size_t n, const uint16_t *coef, size_t stride,
                            size_t count, int32_t *mins)
{
    size_t j = 0;

    for (; j + PORTABLE_WIDTH <= count; j += PORTABLE_WIDTH)
        portable_block(xs, n, coef + j, stride, mins + j, PORTABLE_WIDTH);
    for (; j < count; j += FUZZY_MINHASH_STEP)
        portable_block(xs, n, coef + j, stride, mins + j, FUZZY_MINHASH_STEP);
}

#ifdef FUZZY_HAVE_X86_KERNELS

/* ---- SSE2: 8 functions per register ---------------------------------------------- */

/* Signed 32-bit minimum without pminsd: the lanes where m > v take v. */
#define SSE2_MIN(m, v)                                                                             \
    do {                                                                                           \
        __m128i v_ = (v), gt_ = _mm_cmpgt_epi32((m), v_);                                          \
        (m) = _mm_or_si128(_mm_and_si128(gt_, v_), _mm_andnot_si128(gt_, (m)));                    \
    } while (0)

#define SSE2_BLOCK 256

/* The high halves of 8 minima, as signed 16-bit values. */
__attribute__((target("sse2"))) static inline __m128i sse2_high(const int32_t *m)
{
    return _mm_packs_epi32(_mm_srai_epi32(_mm_loadu_si128((const __m128i *)m), 16),
                           _mm_srai_epi32(_mm_loadu_si128((const __m128i *)(m + 4)), 16));
}

/* The minima of 8 functions (co, m: the first one's) against x = (xh, xl),
 * h being their high halves. */
__attribute__((target("sse2"))) static inline void
sse2_update(__m128i h, __m128i xl, const uint16_t *co, size_t stride, int32_t *m)
{
    __m128i g = _mm_add_epi16(
        _mm_mullo_epi16(xl, _mm_loadu_si128((const __m128i *)(co + FUZZY_COEF_E * stride))),
        _mm_loadu_si128((const __m128i *)(co + FUZZY_COEF_F * stride)));
    __m128i m0 = _mm_loadu_si128((const __m128i *)m),
            m1 = _mm_loadu_si128((const __m128i *)(m + 4));

    SSE2_MIN(m0, _mm_unpacklo_epi16(g, h));
    SSE2_MIN(m1, _mm_unpackhi_epi16(g, h));
    _mm_storeu_si128((__m128i *)m, m0);
    _mm_storeu_si128((__m128i *)(m + 4), m1);
}

/* Functions [0, 8 * regs) against the block's shingles (xhb, xlb: xh and xl
 * broadcast to every 16-bit lane); regs a constant where inlined.  With 8
 * registers the compiler keeps c and d in memory (aligned loads, so that
 * pmullw and paddw take them as operands) and the thresholds in registers:
 * 4-10% faster than groups of 4 registers, kernel alone. */
__attribute__((target("sse2"), always_inline)) static inline void
sse2_group(const __m128i *xhb, const __m128i *xlb, size_t m, const uint16_t *co, size_t stride,
           int32_t *mins, const int regs)
{
    __m128i c[8], d[8], th[8];
    uint16_t cand[SUB_BLOCK];

    UNROLL
    for (int k = 0; k < regs; k++) {
        c[k] = _mm_load_si128((const __m128i *)(co + 8 * k));
        d[k] = _mm_load_si128((const __m128i *)(co + FUZZY_COEF_D * stride + 8 * k));
        th[k] = sse2_high(mins + 8 * k);
    }
    for (size_t s0 = 0; s0 < m; s0 += SUB_BLOCK) {
        const size_t end = m - s0 < SUB_BLOCK ? m : s0 + SUB_BLOCK;
        size_t nc = 0;

        for (size_t s = s0; s < end; s++) {
            const __m128i x = xhb[s];
            __m128i acc = _mm_cmpgt_epi16(_mm_add_epi16(_mm_mullo_epi16(x, c[0]), d[0]), th[0]);

            UNROLL
            for (int k = 1; k < regs; k++)
                acc = _mm_and_si128(
                    acc, _mm_cmpgt_epi16(_mm_add_epi16(_mm_mullo_epi16(x, c[k]), d[k]), th[k]));
            cand[nc] = (uint16_t)s;
            nc += _mm_movemask_epi8(acc) != 0xFFFF;
        }
        for (size_t q = 0; q < nc; q++) {
            const size_t s = cand[q];

            UNROLL
            for (int k = 0; k < regs; k++)
                sse2_update(_mm_add_epi16(_mm_mullo_epi16(xhb[s], c[k]), d[k]), xlb[s], co + 8 * k,
                            stride, mins + 8 * k);
        }
        if (nc > 0) {
            UNROLL
            for (int k = 0; k < regs; k++)
                th[k] = sse2_high(mins + 8 * k);
        }
    }
}

__attribute__((target("sse2"))) static void kernel_sse2(const uint32_t *xs, size_t n,
                                                        const uint16_t *coef, size_t stride,
                                                        size_t count, int32_t *mins)
{
    __m128i xhb[SSE2_BLOCK], xlb[SSE2_BLOCK];

    for (size_t s0 = 0; s0 < n; s0 += SSE2_BLOCK) {
        const size_t m = n - s0 < SSE2_BLOCK ? n - s0 : SSE2_BLOCK;
        size_t j = 0;

        for (size_t s = 0; s < m; s++) {
            xhb[s] = _mm_set1_epi16((short)(xs[s0 + s] >> 16));
            xlb[s] = _mm_set1_epi16((short)xs[s0 + s]);
        }
        for (; j + 64 <= count; j += 64)
            sse2_group(xhb, xlb, m, coef + j, stride, mins + j, 8);
        for (; j + 32 <= count; j += 32)
            sse2_group(xhb, xlb, m, coef + j, stride, mins + j, 4);
        for (; j < count; j += 8)
            sse2_group(xhb, xlb, m, coef + j, stride, mins + j, 1);
    }
}

/* ---- AVX2: 16 functions per register ---------------------------------------------- */

/* Coefficients of 16 functions in packssdw's order (see the top of the file). */
#define AVX2_COEF(p) _mm256_permute4x64_epi64(_mm256_loadu_si256((const __m256i *)(p)), 0xD8)

__attribute__((target("avx2"))) static inline __m256i avx2_high(const int32_t *m)
{
    return _mm256_packs_epi32(_mm256_srai_epi32(_mm256_loadu_si256((const __m256i *)m), 16),
                              _mm256_srai_epi32(_mm256_loadu_si256((const __m256i *)(m + 8)), 16));
}

__attribute__((target("avx2"))) static inline void avx2_update(__m256i h, __m256i xl, __m256i e,
                                                               __m256i f, int32_t *m)
{
    __m256i g = _mm256_add_epi16(_mm256_mullo_epi16(xl, e), f);
    __m256i m0 =
        _mm256_min_epi32(_mm256_loadu_si256((const __m256i *)m), _mm256_unpacklo_epi16(g, h));
    __m256i m1 =
        _mm256_min_epi32(_mm256_loadu_si256((const __m256i *)(m + 8)), _mm256_unpackhi_epi16(g, h));

    _mm256_storeu_si256((__m256i *)m, m0);
    _mm256_storeu_si256((__m256i *)(m + 8), m1);
}

/* Functions [0, 16 * regs) against shingles xs[0, n); regs a constant where inlined. */
__attribute__((target("avx2"), always_inline)) static inline void
avx2_group(const uint32_t *xs, size_t n, const uint16_t *co, size_t stride, int32_t *mins,
           const int regs)
{
    __m256i c[4], d[4], e[4], f[4], th[4];
    uint16_t cand[SUB_BLOCK];

    UNROLL
    for (int k = 0; k < regs; k++) {
        c[k] = AVX2_COEF(co + 16 * k);
        d[k] = AVX2_COEF(co + FUZZY_COEF_D * stride + 16 * k);
        e[k] = AVX2_COEF(co + FUZZY_COEF_E * stride + 16 * k);
        f[k] = AVX2_COEF(co + FUZZY_COEF_F * stride + 16 * k);
        th[k] = avx2_high(mins + 16 * k);
    }
    for (size_t s0 = 0; s0 < n; s0 += SUB_BLOCK) {
        const size_t end = n - s0 < SUB_BLOCK ? n : s0 + SUB_BLOCK;
        size_t nc = 0;

        for (size_t s = s0; s < end; s++) {
            const __m256i x = _mm256_set1_epi16((short)(xs[s] >> 16));
            __m256i acc =
                _mm256_cmpgt_epi16(_mm256_add_epi16(_mm256_mullo_epi16(x, c[0]), d[0]), th[0]);

            UNROLL
            for (int k = 1; k < regs; k++)
                acc = _mm256_and_si256(
                    acc,
                    _mm256_cmpgt_epi16(_mm256_add_epi16(_mm256_mullo_epi16(x, c[k]), d[k]), th[k]));
            cand[nc] = (uint16_t)(s - s0);
            nc += _mm256_movemask_epi8(acc) != -1;
        }
        for (size_t q = 0; q < nc; q++) {
            const uint32_t x32 = xs[s0 + cand[q]];
            const __m256i x = _mm256_set1_epi16((short)(x32 >> 16));
            const __m256i xl = _mm256_set1_epi16((short)x32);

            UNROLL
            for (int k = 0; k < regs; k++)
                avx2_update(_mm256_add_epi16(_mm256_mullo_epi16(x, c[k]), d[k]), xl, e[k], f[k],
                            mins + 16 * k);
        }
        if (nc > 0) {
            UNROLL
            for (int k = 0; k < regs; k++)
                th[k] = avx2_high(mins + 16 * k);
        }
    }
}

__attribute__((target("avx2"))) static void kernel_avx2(const uint32_t *xs, size_t n,
                                                        const uint16_t *coef, size_t stride,
                                                        size_t count, int32_t *mins)
{
    size_t j = 0;

    for (; j + 64 <= count; j += 64)
        avx2_group(xs, n, coef + j, stride, mins + j, 4);
    for (; j + 32 <= count; j += 32)
        avx2_group(xs, n, coef + j, stride, mins + j, 2);
    for (; j < count; j += 16) /* may run up to 8 functions past count */
        avx2_group(xs, n, coef + j, stride, mins + j, 1);
}

/* ---- AVX-512BW: 32 functions per register ------------------------------------------ */

#define AVX512_TARGET "avx512f,avx512bw"

/* Coefficients of 32 functions in packssdw's order (see the top of the file). */
__attribute__((target(AVX512_TARGET))) static inline __m512i avx512_coef(const uint16_t *p)
{
    return _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 4, 1, 5, 2, 6, 3, 7),
                                    _mm512_loadu_si512(p));
}

__attribute__((target(AVX512_TARGET))) static inline __m512i avx512_high(const int32_t *m)
{
    return _mm512_packs_epi32(_mm512_srai_epi32(_mm512_loadu_si512(m), 16),
                              _mm512_srai_epi32(_mm512_loadu_si512(m + 16), 16));
}

__attribute__((target(AVX512_TARGET))) static inline void
avx512_update(__m512i h, __m512i xl, __m512i e, __m512i f, int32_t *m)
{
    __m512i g = _mm512_add_epi16(_mm512_mullo_epi16(xl, e), f);
    __m512i m0 = _mm512_min_epi32(_mm512_loadu_si512(m), _mm512_unpacklo_epi16(g, h));
    __m512i m1 = _mm512_min_epi32(_mm512_loadu_si512(m + 16), _mm512_unpackhi_epi16(g, h));

    _mm512_storeu_si512(m, m0);
    _mm512_storeu_si512(m + 16, m1);
}

/* Functions [0, 32 * regs) against shingles xs[0, n); regs a constant where inlined. */
__attribute__((target(AVX512_TARGET), always_inline)) static inline void
avx512_group(const uint32_t *xs, size_t n, const uint16_t *co, size_t stride, int32_t *mins,
             const int regs)
{
    __m512i c[4], d[4], e[4], f[4], th[4];
    uint16_t cand[SUB_BLOCK];

    UNROLL
    for (int k = 0; k < regs; k++) {
        c[k] = avx512_coef(co + 32 * k);
        d[k] = avx512_coef(co + FUZZY_COEF_D * stride + 32 * k);
        e[k] = avx512_coef(co + FUZZY_COEF_E * stride + 32 * k);
        f[k] = avx512_coef(co + FUZZY_COEF_F * stride + 32 * k);
        th[k] = avx512_high(mins + 32 * k);
    }
    for (size_t s0 = 0; s0 < n; s0 += SUB_BLOCK) {
        const size_t end = n - s0 < SUB_BLOCK ? n : s0 + SUB_BLOCK;
        size_t nc = 0;

        for (size_t s = s0; s < end; s++) {
            const __m512i x = _mm512_set1_epi16((short)(xs[s] >> 16));
            /* lanes where every register's h lies above its threshold: a
             * chain of masked compares, no mask moves */
            __mmask32 above =
                _mm512_cmpgt_epi16_mask(_mm512_add_epi16(_mm512_mullo_epi16(x, c[0]), d[0]), th[0]);

            UNROLL
            for (int k = 1; k < regs; k++)
                above = _mm512_mask_cmpgt_epi16_mask(
                    above, _mm512_add_epi16(_mm512_mullo_epi16(x, c[k]), d[k]), th[k]);
            cand[nc] = (uint16_t)(s - s0);
            nc += above != (__mmask32)0xFFFFFFFFu;
        }
        for (size_t q = 0; q < nc; q++) {
            const uint32_t x32 = xs[s0 + cand[q]];
            const __m512i x = _mm512_set1_epi16((short)(x32 >> 16));
            const __m512i xl = _mm512_set1_epi16((short)x32);

            UNROLL
            for (int k = 0; k < regs; k++)
                avx512_update(_mm512_add_epi16(_mm512_mullo_epi16(x, c[k]), d[k]), xl, e[k], f[k],
                              mins + 32 * k);
        }
        if (nc > 0) {
            UNROLL
            for (int k = 0; k < regs; k++)
                th[k] = avx512_high(mins + 32 * k);
        }
    }
}

/* Functions [0, 288) against shingles xs[0, n): nine registers (the default
 * 260 functions) in one pass, one broadcast per shingle, their candidates
 * listed per set of three registers (more per list would update more minima
 * per candidate); 5-9% faster than groups of four registers, kernel alone.
 * The thresholds and the c and d coefficients fill 27 of the 32 registers. */
__attribute__((target(AVX512_TARGET))) static void
avx512_group9(const uint32_t *xs, size_t n, const uint16_t *co, size_t stride, int32_t *mins)
{
    __m512i c[9], d[9], th[9];
    uint16_t cand[3][SUB_BLOCK];

    UNROLL9
    for (int k = 0; k < 9; k++) {
        c[k] = avx512_coef(co + 32 * k);
        d[k] = avx512_coef(co + FUZZY_COEF_D * stride + 32 * k);
        th[k] = avx512_high(mins + 32 * k);
    }
    for (size_t s0 = 0; s0 < n; s0 += SUB_BLOCK) {
        const size_t end = n - s0 < SUB_BLOCK ? n : s0 + SUB_BLOCK;
        size_t nc[3] = { 0, 0, 0 };

        for (size_t s = s0; s < end; s++) {
            const __m512i x = _mm512_set1_epi16((short)(xs[s] >> 16));

            UNROLL
            for (int t = 0; t < 3; t++) {
                __mmask32 above = _mm512_cmpgt_epi16_mask(
                    _mm512_add_epi16(_mm512_mullo_epi16(x, c[3 * t]), d[3 * t]), th[3 * t]);

                above = _mm512_mask_cmpgt_epi16_mask(
                    above, _mm512_add_epi16(_mm512_mullo_epi16(x, c[3 * t + 1]), d[3 * t + 1]),
                    th[3 * t + 1]);
                above = _mm512_mask_cmpgt_epi16_mask(
                    above, _mm512_add_epi16(_mm512_mullo_epi16(x, c[3 * t + 2]), d[3 * t + 2]),
                    th[3 * t + 2]);
                cand[t][nc[t]] = (uint16_t)(s - s0);
                nc[t] += above != (__mmask32)0xFFFFFFFFu;
            }
        }
        UNROLL
        for (int t = 0; t < 3; t++) {
            for (size_t q = 0; q < nc[t]; q++) {
                const uint32_t x32 = xs[s0 + cand[t][q]];
                const __m512i x = _mm512_set1_epi16((short)(x32 >> 16));
                const __m512i xl = _mm512_set1_epi16((short)x32);

                UNROLL
                for (int k = 3 * t; k < 3 * t + 3; k++)
                    avx512_update(_mm512_add_epi16(_mm512_mullo_epi16(x, c[k]), d[k]), xl,
                                  avx512_coef(co + FUZZY_COEF_E * stride + 32 * k),
                                  avx512_coef(co + FUZZY_COEF_F * stride + 32 * k), mins + 32 * k);
            }
            if (nc[t] > 0) {
                UNROLL
                for (int k = 3 * t; k < 3 * t + 3; k++)
                    th[k] = avx512_high(mins + 32 * k);
            }
        }
    }
}

__attribute__((target(AVX512_TARGET))) static void kernel_avx512bw(const uint32_t *xs, size_t n,
                                                                   const uint16_t *coef,
                                                                   size_t stride, size_t count,
                                                                   int32_t *mins)
{
    size_t j = 0;

    /* up to 31 functions past count: within count rounded up to 32 */
    for (; j + 256 < count && j + 288 <= stride; j += 288)
        avx512_group9(xs, n, coef + j, stride, mins + j);
    for (; j + 128 <= count; j += 128)
        avx512_group(xs, n, coef + j, stride, mins + j, 4);
    for (; j + 64 <= count; j += 64)
        avx512_group(xs, n, coef + j, stride, mins + j, 2);
    for (; j < count; j += 32) /* may run up to 24 functions past count */
        avx512_group(xs, n, coef + j, stride, mins + j, 1);
}

#endif /* FUZZY_HAVE_X86_KERNELS */

/* ---- selection ------------------------------------------------------------------- */

static const char *const kernel_names[FUZZY_KERNEL_COUNT] = { "portable", "sse2", "avx2",
                                                              "avx512bw" };

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
    case FUZZY_KERNEL_AVX2: __builtin_cpu_init(); return __builtin_cpu_supports("avx2") != 0;
    case FUZZY_KERNEL_AVX512BW:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#endif
    default: return 0;
    }
}

uint32_t fuzzy_minhash_kernel_scan_min(enum fuzzy_minhash_kernel kernel)
{
    /* measured (260 functions, bench/minhash's corpus, thresholds
     * alternating per document): where scanning a document's chunk of n
     * shingles becomes cheaper than the kernel */
    static const uint32_t scan_min[FUZZY_KERNEL_COUNT] = { 384, 768, 1536, 2048 };

    return (unsigned)kernel < FUZZY_KERNEL_COUNT ? scan_min[kernel] : UINT32_MAX;
}

enum fuzzy_minhash_kernel fuzzy_minhash_kernel_best(void)
{
    if (fuzzy_minhash_kernel_supported(FUZZY_KERNEL_AVX512BW))
        return FUZZY_KERNEL_AVX512BW;
    if (fuzzy_minhash_kernel_supported(FUZZY_KERNEL_AVX2))
        return FUZZY_KERNEL_AVX2;
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
    case FUZZY_KERNEL_AVX2: return kernel_avx2;
    case FUZZY_KERNEL_AVX512BW: return kernel_avx512bw;
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
    UNROLL
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
             "WINNOW_MINHASH_KERNEL=%s is not a kernel: use portable, sse2, avx2 or avx512bw, "
             "or unset it",
             value);
    return -1;
}
