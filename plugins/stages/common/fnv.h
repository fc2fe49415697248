/*
 * FNV-1a, the hash of short names (column names, JSON object keys) in the
 * standard stage plugins' lookup tables.  Header only, like utf8.h.  Not for
 * data: the fuzzy and dedup stages have their own keyed hashes.
 */
#ifndef WINNOW_STAGES_COMMON_FNV_H
#define WINNOW_STAGES_COMMON_FNV_H

#include <stddef.h>
#include <stdint.h>

/* The 64-bit FNV-1a hash of bytes[0..len). */
static inline uint64_t stage_fnv1a64(const void *bytes, size_t len)
{
    const unsigned char *p = bytes;
    uint64_t h = UINT64_C(1469598103934665603);

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

#endif /* WINNOW_STAGES_COMMON_FNV_H */
