/*
 * The MinHash kernels: mins[i] = min(mins[i], (a[i] * x + b[i]) mod 2^32) over
 * a chunk of folded shingle hashes x, for every permutation i.
 *
 * Four versions give bit-identical results (integer arithmetic, no
 * reassociation can change a minimum): portable C written so that compilers
 * vectorise it for the baseline ISA, SSE4.1 (4 lanes, for x86 CPUs without
 * AVX2: the baseline lacks a 32-bit multiply and min), AVX2 (8 lanes) and
 * AVX-512F (16 lanes).
 * The x86 kernels are compiled with target attributes, so the build needs no
 * -m flag, and are only ever called after cpuid says the CPU (and OS) has the
 * extension: __builtin_cpu_supports reads XGETBV for the register state too.
 *
 * Loop order: a few registers' worth of permutations stays in registers while
 * the chunk of shingles (in L1) streams past, so the inner loop is one
 * broadcast, then multiply, add, min per register.
 */
#include "build_config.h"

#include <stdio.h>
#include <string.h>

#include "minhash_core.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define FUZZY_HAVE_X86_KERNELS 1
#include <immintrin.h>
#endif

/* ---- portable ---------------------------------------------------------------- */

/*
 * One block of FUZZY_MINHASH_LANES permutations at a time.  The minima are
 * kept biased (x ^ 2^31, as signed int32) so that the baseline vector ISA's
 * signed compare serves: adding 2^31 to b is the same as flipping the top bit
 * of a * x + b, and the bias comes off when the block is stored.
 */
static void kernel_portable(const uint32_t *xs, size_t n, const uint32_t *a, const uint32_t *b,
                            size_t padded, uint32_t *mins)
{
    for (size_t j = 0; j < padded; j += FUZZY_MINHASH_LANES) {
        uint32_t ka[FUZZY_MINHASH_LANES], kb[FUZZY_MINHASH_LANES];
        int32_t m[FUZZY_MINHASH_LANES];

        for (size_t l = 0; l < FUZZY_MINHASH_LANES; l++) {
            ka[l] = a[j + l];
            kb[l] = b[j + l] + UINT32_C(0x80000000);
            m[l] = (int32_t)(mins[j + l] ^ UINT32_C(0x80000000));
        }
        for (size_t s = 0; s < n; s++) {
            const uint32_t x = xs[s];

            for (size_t l = 0; l < FUZZY_MINHASH_LANES; l++) {
                int32_t v = (int32_t)(ka[l] * x + kb[l]);
                m[l] = v < m[l] ? v : m[l];
            }
        }
        for (size_t l = 0; l < FUZZY_MINHASH_LANES; l++)
            mins[j + l] = (uint32_t)m[l] ^ UINT32_C(0x80000000);
    }
}

#ifdef FUZZY_HAVE_X86_KERNELS

/* ---- SSE4.1: 4 registers of 4 permutations ------------------------------------------ */

#define SSE41_STEP(k) m##k = _mm_min_epu32(m##k, _mm_add_epi32(_mm_mullo_epi32(a##k, x), b##k))

__attribute__((target("sse4.1"))) static void kernel_sse41(const uint32_t *xs, size_t n,
                                                           const uint32_t *a, const uint32_t *b,
                                                           size_t padded, uint32_t *mins)
{
    /* padded is a multiple of 16: no tail */
    for (size_t j = 0; j < padded; j += 16) {
        __m128i a0 = _mm_loadu_si128((const __m128i *)(a + j));
        __m128i a1 = _mm_loadu_si128((const __m128i *)(a + j + 4));
        __m128i a2 = _mm_loadu_si128((const __m128i *)(a + j + 8));
        __m128i a3 = _mm_loadu_si128((const __m128i *)(a + j + 12));
        __m128i b0 = _mm_loadu_si128((const __m128i *)(b + j));
        __m128i b1 = _mm_loadu_si128((const __m128i *)(b + j + 4));
        __m128i b2 = _mm_loadu_si128((const __m128i *)(b + j + 8));
        __m128i b3 = _mm_loadu_si128((const __m128i *)(b + j + 12));
        __m128i m0 = _mm_loadu_si128((const __m128i *)(mins + j));
        __m128i m1 = _mm_loadu_si128((const __m128i *)(mins + j + 4));
        __m128i m2 = _mm_loadu_si128((const __m128i *)(mins + j + 8));
        __m128i m3 = _mm_loadu_si128((const __m128i *)(mins + j + 12));

        for (size_t s = 0; s < n; s++) {
            __m128i x = _mm_set1_epi32((int)xs[s]);
            SSE41_STEP(0);
            SSE41_STEP(1);
            SSE41_STEP(2);
            SSE41_STEP(3);
        }
        _mm_storeu_si128((__m128i *)(mins + j), m0);
        _mm_storeu_si128((__m128i *)(mins + j + 4), m1);
        _mm_storeu_si128((__m128i *)(mins + j + 8), m2);
        _mm_storeu_si128((__m128i *)(mins + j + 12), m3);
    }
}

/* ---- AVX2: 4 registers of 8 permutations, then single registers ---------------- */

#define AVX2_STEP(k)                                                                               \
    m##k = _mm256_min_epu32(m##k, _mm256_add_epi32(_mm256_mullo_epi32(a##k, x), b##k))

__attribute__((target("avx2"))) static void kernel_avx2(const uint32_t *xs, size_t n,
                                                        const uint32_t *a, const uint32_t *b,
                                                        size_t padded, uint32_t *mins)
{
    size_t j = 0;

    for (; j + 32 <= padded; j += 32) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + j));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(a + j + 8));
        __m256i a2 = _mm256_loadu_si256((const __m256i *)(a + j + 16));
        __m256i a3 = _mm256_loadu_si256((const __m256i *)(a + j + 24));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + j));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + j + 8));
        __m256i b2 = _mm256_loadu_si256((const __m256i *)(b + j + 16));
        __m256i b3 = _mm256_loadu_si256((const __m256i *)(b + j + 24));
        __m256i m0 = _mm256_loadu_si256((const __m256i *)(mins + j));
        __m256i m1 = _mm256_loadu_si256((const __m256i *)(mins + j + 8));
        __m256i m2 = _mm256_loadu_si256((const __m256i *)(mins + j + 16));
        __m256i m3 = _mm256_loadu_si256((const __m256i *)(mins + j + 24));

        for (size_t s = 0; s < n; s++) {
            __m256i x = _mm256_set1_epi32((int)xs[s]);
            AVX2_STEP(0);
            AVX2_STEP(1);
            AVX2_STEP(2);
            AVX2_STEP(3);
        }
        _mm256_storeu_si256((__m256i *)(mins + j), m0);
        _mm256_storeu_si256((__m256i *)(mins + j + 8), m1);
        _mm256_storeu_si256((__m256i *)(mins + j + 16), m2);
        _mm256_storeu_si256((__m256i *)(mins + j + 24), m3);
    }
    for (; j < padded; j += 8) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + j));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + j));
        __m256i m0 = _mm256_loadu_si256((const __m256i *)(mins + j));

        for (size_t s = 0; s < n; s++) {
            __m256i x = _mm256_set1_epi32((int)xs[s]);
            AVX2_STEP(0);
        }
        _mm256_storeu_si256((__m256i *)(mins + j), m0);
    }
}

/* ---- AVX-512F: 4 registers of 16 permutations, then single registers ------------ */

#define AVX512_STEP(k)                                                                             \
    m##k = _mm512_min_epu32(m##k, _mm512_add_epi32(_mm512_mullo_epi32(a##k, x), b##k))

__attribute__((target("avx512f"))) static void kernel_avx512(const uint32_t *xs, size_t n,
                                                             const uint32_t *a, const uint32_t *b,
                                                             size_t padded, uint32_t *mins)
{
    size_t j = 0;

    for (; j + 64 <= padded; j += 64) {
        __m512i a0 = _mm512_loadu_si512(a + j), a1 = _mm512_loadu_si512(a + j + 16);
        __m512i a2 = _mm512_loadu_si512(a + j + 32), a3 = _mm512_loadu_si512(a + j + 48);
        __m512i b0 = _mm512_loadu_si512(b + j), b1 = _mm512_loadu_si512(b + j + 16);
        __m512i b2 = _mm512_loadu_si512(b + j + 32), b3 = _mm512_loadu_si512(b + j + 48);
        __m512i m0 = _mm512_loadu_si512(mins + j), m1 = _mm512_loadu_si512(mins + j + 16);
        __m512i m2 = _mm512_loadu_si512(mins + j + 32), m3 = _mm512_loadu_si512(mins + j + 48);

        for (size_t s = 0; s < n; s++) {
            __m512i x = _mm512_set1_epi32((int)xs[s]);
            AVX512_STEP(0);
            AVX512_STEP(1);
            AVX512_STEP(2);
            AVX512_STEP(3);
        }
        _mm512_storeu_si512(mins + j, m0);
        _mm512_storeu_si512(mins + j + 16, m1);
        _mm512_storeu_si512(mins + j + 32, m2);
        _mm512_storeu_si512(mins + j + 48, m3);
    }
    for (; j < padded; j += 16) {
        __m512i a0 = _mm512_loadu_si512(a + j);
        __m512i b0 = _mm512_loadu_si512(b + j);
        __m512i m0 = _mm512_loadu_si512(mins + j);

        for (size_t s = 0; s < n; s++) {
            __m512i x = _mm512_set1_epi32((int)xs[s]);
            AVX512_STEP(0);
        }
        _mm512_storeu_si512(mins + j, m0);
    }
}

#endif /* FUZZY_HAVE_X86_KERNELS */

/* ---- selection ------------------------------------------------------------------- */

static const char *const kernel_names[FUZZY_KERNEL_COUNT] = { "portable", "sse41", "avx2",
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
    return FUZZY_KERNEL_PORTABLE;
}

fuzzy_minhash_kernel_fn fuzzy_minhash_kernel_get(enum fuzzy_minhash_kernel kernel)
{
    if (!fuzzy_minhash_kernel_supported(kernel))
        return NULL;
    switch (kernel) {
    case FUZZY_KERNEL_PORTABLE: return kernel_portable;
#ifdef FUZZY_HAVE_X86_KERNELS
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
             "WINNOW_MINHASH_KERNEL=%s is not a kernel: use portable, sse41, avx2 or avx512, "
             "or unset it",
             value);
    return -1;
}
