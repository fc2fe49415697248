/* Test rows for the shuffle tests: a table with a column of every type a
 * shuffle carries, whose every cell follows from the row's key, so that a
 * row can be checked wherever it lands. */
#ifndef WN_TESTS_SHUFFLE_ROWS_H
#define WN_TESTS_SHUFFLE_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/table.h>

/* The partition the tests send key to. */
uint32_t test_rows_partition(uint64_t key, uint32_t num_partitions);

/* Builds n rows with keys first_key .. first_key + n - 1 into *out; fills
 * partitions[i] with the row's partition.  text_len 0 gives short texts of
 * varied length; otherwise every text has text_len bytes.  Columns: id
 * (utf8 "k<key>"), key (uint64), part (uint32), text (utf8), note (utf8, null
 * every 7th key), score (float64), flag (bool), small (int32, null every 5th
 * key), big (int64), sig (fixed_size_list<uint32>[4]).  Returns 0 or a code. */
int test_rows_make(struct wn_table *out, uint64_t first_key, size_t n, uint32_t num_partitions,
                   size_t text_len, uint32_t *partitions);

/* Checks that row of t holds exactly what test_rows_make made for its key
 * (text_len as given then); returns the key, or UINT64_MAX when any cell is off. */
uint64_t test_rows_check(const struct wn_table *t, int64_t row, size_t text_len);

/* Renders every cell of row into buf ("k3|3|1|...|null|..."), for comparisons. */
void test_rows_render(const struct wn_table *t, int64_t row, char *buf, size_t size);

#endif
