/*
 * MinHash signatures: shingling, the shingle hash, the permutation family and
 * the kernels.  Shared by the minhash stage, tools/gen_dedup_corpus (exact
 * Jaccard over the same shingles), the tests and bench/minhash; it needs
 * nothing from libwinnow.  docs/fuzzy-dedup.md states the definitions:
 *
 *   units     the text decoded as UTF-8: one unit per code point; a byte that
 *             does not start a well-formed sequence is one unit on its own
 *             (value 0x110000 + byte, so it never equals a code point).
 *   shingles  every run of `ngram` consecutive units; a text of fewer than
 *             `ngram` units (the empty text too) has exactly one shingle, the
 *             whole text.
 *   hash      a 64-bit hash of the shingle's units: each unit u gets a keyed
 *             64-bit value v(u), the shingle u_0..u_{m-1} the polynomial
 *             H = sum v(u_i) B^(m-1-i) mod 2^64 (B odd, keyed), rolled from
 *             one shingle to the next, then a keyed finish with m
 *             (fuzzy_units_hash is the definition); the permutations see
 *             x = its low ^ high 32 bits.
 *   family    function i (< K) has four 16-bit coefficients c_i, d_i, e_i,
 *             f_i (c_i, e_i odd); with xh, xl the high and low 16 bits of x:
 *             pi_i(x) = ((c_i xh + d_i) mod 2^16) << 16 | ((e_i xl + f_i) mod 2^16),
 *             a bijection of the 32-bit values; signature[i] = min over the
 *             shingles of pi_i(x) (fuzzy_minhash_value).  The kernels order
 *             the values by their high half first, 8 to 32 functions per
 *             16-bit vector instruction, and compute the low half only for a
 *             function whose high half ties or beats its minimum's.
 */
#ifndef WINNOW_FUZZY_MINHASH_CORE_H
#define WINNOW_FUZZY_MINHASH_CORE_H

#include <stddef.h>
#include <stdint.h>

/* The signature is padded to whole groups of FUZZY_MINHASH_GROUP functions
 * (the widest kernel's step); kernels are called for a multiple of
 * FUZZY_MINHASH_STEP functions. */
#define FUZZY_MINHASH_GROUP 32
#define FUZZY_MINHASH_STEP 8
/* Shingles hashed per kernel call (or scan, see fuzzy_minhash_signature). */
#define FUZZY_MINHASH_CHUNK 4096
/* Bounds the stage enforces (and fuzzy_minhash_init checks). */
#define FUZZY_MINHASH_MAX_NGRAM 4096
#define FUZZY_MINHASH_MAX_PERMUTATIONS 65536

enum fuzzy_minhash_kernel {
    FUZZY_KERNEL_PORTABLE = 0, /* plain C, for any CPU */
    FUZZY_KERNEL_SSE2 = 1,     /* x86 baseline (every x86-64 CPU): 8 functions per vector */
    FUZZY_KERNEL_AVX2 = 2,     /* x86-64 with AVX2: 16 */
    FUZZY_KERNEL_AVX512BW = 3, /* x86-64 with AVX-512BW: 32 */
    FUZZY_KERNEL_COUNT
};

/* The coefficient rows of struct fuzzy_minhash's coef (stride: padded). */
#define FUZZY_COEF_C 0    /* c_i, odd */
#define FUZZY_COEF_D 1    /* d_i ^ 0x8000 (see below) */
#define FUZZY_COEF_E 2    /* e_i, odd */
#define FUZZY_COEF_F 3    /* f_i */
#define FUZZY_COEF_CINV 4 /* c_i^-1 mod 2^16 (the scan's; kernels do not read it) */

/* For every function i < count (count a multiple of FUZZY_MINHASH_STEP) and
 * every s < n:  mins[i] = min(mins[i], (int32_t)(pi_i(xs[s]) ^ 2^31)),
 * with the coefficients of function i at coef[row * stride + i] (rows
 * FUZZY_COEF_*; coef 16-byte aligned; stride a multiple of
 * FUZZY_MINHASH_GROUP, >= count).  mins
 * holds the values ^ 2^31 so that signed order is pi's unsigned order (what
 * SSE2 compares); likewise the high half is compared as the signed 16-bit
 * c_i xh + (d_i ^ 0x8000).  A kernel may also update functions count ..
 * count rounded up to FUZZY_MINHASH_GROUP (<= stride), never beyond.  Every
 * kernel gives bit-identical results. */
typedef void (*fuzzy_minhash_kernel_fn)(const uint32_t *xs, size_t n, const uint16_t *coef,
                                        size_t stride, size_t count, int32_t *mins);

/* The settings and derived constants of one signature scheme.  Read-only after
 * fuzzy_minhash_init, so one may be shared by threads. */
struct fuzzy_minhash {
    uint32_t ngram;     /* units per shingle (>= 1) */
    uint32_t num_perm;  /* signature length K */
    uint32_t padded;    /* K rounded up to FUZZY_MINHASH_GROUP */
    uint32_t count;     /* functions the kernels compute: K rounded up to FUZZY_MINHASH_STEP */
    uint64_t key;       /* key of the shingle hash; the rest derive from it */
    uint64_t unit_key;  /* v(u) = mix(u ^ unit_key) */
    uint64_t final_key; /* of the finish */
    uint64_t base;      /* B, odd */
    uint64_t *unit_tab; /* v(u) for u < 128, then v(u) * B^(ngram-1) for u < 128 */
    uint16_t *coef;     /* 5 rows of padded coefficients (FUZZY_COEF_*), 64-byte aligned */
    uint32_t scan_min;  /* the chunk length where scan and kernel cost the same (see _signature) */
    enum fuzzy_minhash_kernel kernel;
    fuzzy_minhash_kernel_fn kernel_fn;
};

/* Per-thread scratch for fuzzy_minhash_signature: no allocation per document
 * or per shingle once made. */
struct fuzzy_minhash_scratch {
    size_t *ring;     /* byte offsets of the last ngram units */
    uint64_t *hashes; /* FUZZY_MINHASH_CHUNK shingle hashes */
    uint32_t *xs;     /* the same, folded to 32 bits */
    int32_t *mins;    /* padded running minima, ^ 2^31 (see fuzzy_minhash_kernel_fn) */
    uint64_t *bits;   /* the scan's: which 16-bit high halves the chunk has (2^16 bits, zero) */
    uint16_t *first;  /* the scan's: a shingle with that high half (valid where bits say) */
    uint16_t *next;   /* the scan's: the chunk's next shingle with the same high half */
    uint64_t chunks, scanned; /* chunks signed so far, and how many of them were scanned */
};

/* Walks the shingles of one text.  Plain data; set up with fuzzy_shingler_start. */
struct fuzzy_shingler {
    const struct fuzzy_minhash *mh;
    const unsigned char *text;
    size_t len;
    size_t pos;       /* next byte to decode */
    uint64_t units;   /* units decoded so far */
    uint64_t h;       /* the polynomial of the last min(units, ngram) units */
    size_t *ring;     /* ngram slots: where each of the last ngram units starts */
    uint32_t ring_at; /* slot of the oldest unit once units >= ngram */
    int done;
};

/*
 * Derives every constant from (ngram, num_perm, seed) with splitmix64, in this
 * order: the hash key, then one draw r per function i = 0..padded-1:
 * c_i = bits 0-15 of r | 1, d_i = bits 16-31, e_i = bits 32-47 | 1,
 * f_i = bits 48-63 (so function i does not depend on K).  kernel picks the kernel; it must be
 * supported (fuzzy_minhash_kernel_supported).  Returns 0, -1 on bad settings
 * or a kernel this CPU lacks, -2 when out of memory.  Any thread.
 */
int fuzzy_minhash_init(struct fuzzy_minhash *mh, uint32_t ngram, uint32_t num_perm, uint64_t seed,
                       enum fuzzy_minhash_kernel kernel);
void fuzzy_minhash_clear(struct fuzzy_minhash *mh);

/* Allocates scratch for mh; 0 or -2 (out of memory).  Freed by _scratch_clear. */
int fuzzy_minhash_scratch_init(struct fuzzy_minhash_scratch *scratch,
                               const struct fuzzy_minhash *mh);
void fuzzy_minhash_scratch_clear(struct fuzzy_minhash_scratch *scratch);

/* Writes the num_perm signature values of text[0..len) into sig.  text may be
 * NULL when len is 0.  One thread per scratch.  Each chunk of shingle hashes
 * goes to the kernel, or, when that costs less, to the scan: since h_i
 * depends on xh alone, the smallest h_i of a chunk is found by walking
 * h = 0, 1, ... (xh = c_i^-1 (h - d_i)) until an xh the chunk has turns up,
 * about 2^16 / (distinct xh) steps, or until the running minimum's high half
 * (then nothing lower exists); the same minima, far cheaper for long texts.
 * mh->scan_min calibrates the choice: the chunk length at which the two cost
 * the same when its xh are distinct and no minimum is known yet. */
void fuzzy_minhash_signature(const struct fuzzy_minhash *mh, struct fuzzy_minhash_scratch *scratch,
                             const char *text, size_t len, uint32_t *sig);

/* Starts walking the shingles of text[0..len); ring has mh->ngram slots. */
void fuzzy_shingler_start(struct fuzzy_shingler *sh, const struct fuzzy_minhash *mh, size_t *ring,
                          const char *text, size_t len);
/* Writes up to max (>= 1) 64-bit shingle hashes into out and returns how
 * many; 0 once every shingle was given. */
size_t fuzzy_shingler_next(struct fuzzy_shingler *sh, uint64_t *out, size_t max);

/* The 64-bit hash of the shingle made of units[0..count) under mh's key: the
 * value fuzzy_shingler_next gives for it (rolled there, from scratch here). */
uint64_t fuzzy_units_hash(const struct fuzzy_minhash *mh, const uint32_t *units, size_t count);

/* A 64-bit hash of the bytes p[0..len) under key (reads nothing outside it):
 * 16 bytes per 64x64->128-bit multiply-fold round.  The lsh stage's bucket
 * ids and the fuzzy stages' hash maps use it. */
uint64_t fuzzy_bytes_hash(const unsigned char *p, size_t len, uint64_t key);

/* Decodes the unit at s[0..len) (len >= 1) into *unit; returns its byte count. */
size_t fuzzy_utf8_unit(const unsigned char *s, size_t len, uint32_t *unit);

/* Number of shingles of a text of `units` units: max(1, units - ngram + 1). */
uint64_t fuzzy_minhash_shingle_count(uint64_t units, uint32_t ngram);

/* The 32 bits the permutations see of a 64-bit shingle hash. */
static inline uint32_t fuzzy_minhash_fold(uint64_t hash)
{
    return (uint32_t)(hash ^ (hash >> 32));
}

/* pi_i(x): hash function i (< padded) of the family, as the header comment
 * defines it; the kernels compute the same values many at a time. */
static inline uint32_t fuzzy_minhash_value(const struct fuzzy_minhash *mh, uint32_t i, uint32_t x)
{
    const uint16_t *co = mh->coef;
    const uint32_t p = mh->padded;
    uint16_t h =
        (uint16_t)(co[FUZZY_COEF_C * p + i] * (x >> 16) + (co[FUZZY_COEF_D * p + i] ^ 0x8000u));
    uint16_t g = (uint16_t)(co[FUZZY_COEF_E * p + i] * (x & 0xFFFFu) + co[FUZZY_COEF_F * p + i]);

    return ((uint32_t)h << 16) | g;
}

/* ---- kernels -------------------------------------------------------------- */

const char *fuzzy_minhash_kernel_name(enum fuzzy_minhash_kernel kernel);
/* Nonzero when this build has the kernel and this CPU (and OS) can run it. */
int fuzzy_minhash_kernel_supported(enum fuzzy_minhash_kernel kernel);
/* The chunk length from which scanning beats the kernel's filter (see
 * fuzzy_minhash_signature): its cost falls as 2^16 / n per function, the
 * filter's grows as n. */
uint32_t fuzzy_minhash_kernel_scan_min(enum fuzzy_minhash_kernel kernel);
/* The fastest supported kernel. */
enum fuzzy_minhash_kernel fuzzy_minhash_kernel_best(void);
/* The kernel's function, or NULL when it is not supported here. */
fuzzy_minhash_kernel_fn fuzzy_minhash_kernel_get(enum fuzzy_minhash_kernel kernel);
/*
 * The kernel to use: value (normally getenv("WINNOW_MINHASH_KERNEL")) names
 * one of portable, sse2, avx2, avx512bw; NULL or "" picks the best.  Returns 0, or -1
 * with a message in msg (an unknown name, or a kernel this CPU cannot run).
 */
int fuzzy_minhash_kernel_choose(const char *value, enum fuzzy_minhash_kernel *kernel, char *msg,
                                size_t msg_size);

#endif /* WINNOW_FUZZY_MINHASH_CORE_H */
