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
 * Decodes the code point at s[0..len) (len >= 1) into *cp and returns the
 * number of bytes it takes (>= 1).  An ill-formed sequence yields U+FFFD and
 * consumes its maximal well-formed prefix ("maximal subpart", Unicode §3.9),
 * at least one byte, so every byte string decodes and a caller always moves on.
 * Overlong forms, surrogates and values above U+10FFFF are ill-formed.
 */
static inline size_t stage_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    size_t need, i;
    uint32_t value;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
        value = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        value = c & 0x0Fu;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        value = c & 0x07u;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *cp = STAGE_UTF8_REPLACEMENT;
        return 1;
    }
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

#endif /* WINNOW_STAGES_COMMON_UTF8_H */
