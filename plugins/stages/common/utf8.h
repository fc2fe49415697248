/*
 * UTF-8 decoding shared by the standard stage plugins (header only: each
 * plugin compiles its own copy, nothing crosses a plugin boundary).
 */
#ifndef WINNOW_STAGES_COMMON_UTF8_H
#define WINNOW_STAGES_COMMON_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define STAGE_UTF8_REPLACEMENT 0xFFFDu

/*
 * The lead byte c (>= 0x80) of a well-formed sequence: returns the sequence's
 * length (2 to 4) and sets [*lo, *hi] to the range its second byte must be in
 * (narrower than 0x80..0xBF where that excludes overlong forms, surrogates
 * and values above U+10FFFF); returns 0 when c starts no sequence.
 */
static inline size_t stage_utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0)
            *lo = 0xA0;
        else if (c == 0xED)
            *hi = 0x9F;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0)
            *lo = 0x90;
        else if (c == 0xF4)
            *hi = 0x8F;
        return 4;
    }
    return 0;
}

/*
 * Decodes the code point at s[0..len) (len >= 1) into *cp and returns the
 * number of bytes it takes (>= 1).  An ill-formed sequence yields U+FFFD and
 * consumes its maximal well-formed prefix ("maximal subpart", Unicode §3.9),
 * at least one byte, so every byte string decodes and a caller always moves on.
 * Overlong forms, surrogates and values above U+10FFFF are ill-formed.
 */
static inline size_t stage_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    unsigned char lo, hi; /* range of the second byte */
    size_t need, i;
    uint32_t value;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    need = stage_utf8_lead(c, &lo, &hi);
    if (need == 0) {
        *cp = STAGE_UTF8_REPLACEMENT;
        return 1;
    }
    value = c & (0x7Fu >> need);
    for (i = 1; i < need; i++) {
        unsigned char b;

        if (i >= len) {
            *cp = STAGE_UTF8_REPLACEMENT;
            return i;
        }
        b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) {
            *cp = STAGE_UTF8_REPLACEMENT;
            return i;
        }
        value = (value << 6) | (b & 0x3Fu);
    }
    *cp = value;
    return need;
}

/* The length of the well-formed sequence at s[0..len) (s[0] >= 0x80), or 0
 * when it is ill-formed or cut by len. */
static inline size_t stage_utf8_well_formed(const unsigned char *s, size_t len)
{
    unsigned char lo, hi;
    size_t need = stage_utf8_lead(s[0], &lo, &hi);

    if (need == 0 || len < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

#endif /* WINNOW_STAGES_COMMON_UTF8_H */
