/* word_count: keeps rows whose text has between min_words and max_words words. */
#ifndef WINNOW_STAGES_FILTERS_WORD_COUNT_H
#define WINNOW_STAGES_FILTERS_WORD_COUNT_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/stage.h>

extern const struct wn_stage_desc filters_word_count_stage;

/*
 * Number of words in text[0..len): maximal runs of code points that are not
 * whitespace in the sense of Python's str.split() (ASCII whitespace, U+001C to
 * U+001F, U+0085, U+00A0, U+1680, U+2000 to U+200A, U+2028, U+2029, U+202F,
 * U+205F, U+3000).  Invalid UTF-8 counts as part of a word.  Any thread.
 */
uint64_t filters_count_words(const char *text, size_t len);

#endif /* WINNOW_STAGES_FILTERS_WORD_COUNT_H */
