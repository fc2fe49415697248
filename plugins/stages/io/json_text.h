/*
 * The search for the end of a plain run in a JSON string, shared by the
 * scanner (json_scan.c) and the writer (jsonl_writer.c): 16 bytes at a time
 * with SSE2 where the compiler has it, a byte loop otherwise (or when
 * IO_JSON_SCALAR is defined, as one test build does).
 */
#ifndef WINNOW_STAGES_IO_JSON_TEXT_H
#define WINNOW_STAGES_IO_JSON_TEXT_H

#if defined(__SSE2__) && !defined(IO_JSON_SCALAR)
#include <emmintrin.h>
#define IO_JSON_SSE2 1
#endif

/* Nonzero for the bytes that end a plain run inside a JSON string. */
static inline int io_json_is_special(unsigned char c)
{
    return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}

/* The first byte in [p, end) that is '"', '\\', a control character or not ASCII; end if none. */
static inline const char *io_json_find_special(const char *p, const char *end)
{
#ifdef IO_JSON_SSE2
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);

    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed compare: bytes >= 0x80 are negative, so below 0x20 as well */
        __m128i m =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                         _mm_cmplt_epi8(v, space));
        int mask = _mm_movemask_epi8(m);

        if (mask != 0)
            return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (p < end && !io_json_is_special((unsigned char)*p))
        p++;
    return p;
}

#endif /* WINNOW_STAGES_IO_JSON_TEXT_H */
