/*
 * dedup plugin — the 128-bit hash of document texts: MurmurHash3_x64_128
 * (Austin Appleby's public-domain reference, seed 0, little-endian lanes).
 * exact_dedup routes a text to partition h.lo % P and groups texts by the
 * full 128 bits, comparing the bytes of texts whose hashes are equal.
 */
#ifndef WN_DEDUP_HASH128_H
#define WN_DEDUP_HASH128_H

#include <stddef.h>
#include <stdint.h>

struct wn_hash128 {
    uint64_t lo; /* h1 of the reference */
    uint64_t hi; /* h2 */
};

/* MurmurHash3_x64_128 of data[0..len) with seed.  Pure; any thread. */
struct wn_hash128 wn_dedup_hash128(const void *data, size_t len, uint32_t seed);

#endif /* WN_DEDUP_HASH128_H */
