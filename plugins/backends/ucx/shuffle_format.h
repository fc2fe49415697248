/*
 * ucx plugin — the bytes a shuffle moves and spills: table segments.
 *
 * A segment holds some rows of one table bound for one partition, in a
 * self-describing binary layout (native byte order: ranks share one host
 * architecture).  Every field and buffer is 8-byte aligned from the start of
 * the segment, and a segment's length is a multiple of 8, so segments
 * concatenate into one message (a chunk) without padding in between:
 *
 *   header       magic "WNSG", format version, partition, length (bytes, all
 *                included), rows, columns
 *   per column   type (enum wn_column_type), has_validity, name length,
 *                list size, then the name bytes; padded to 8 after all of them
 *   per column   [validity bitmap, when has_validity] then the values:
 *                  int32/uint32/int64/uint64/float64: rows x width bytes
 *                  bool: a bitmap
 *                  utf8/large_utf8: rows + 1 offsets (int32 / int64, from 0),
 *                                   then the bytes
 *                  fixed_size_list<uint32>[N]: rows x N x 4 bytes
 *                each part padded to 8.
 *
 * The column types are the ones libwinnow's table helpers know; a table with
 * another type is refused with WN_EUNSUPPORTED, naming the column.
 */
#ifndef WN_UCX_SHUFFLE_FORMAT_H
#define WN_UCX_SHUFFLE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>
#include <winnow/table.h>

#define WN_UCX_SEGMENT_MAGIC 0x47534e57u /* "WNSG" read as a little-endian uint32 */
#define WN_UCX_SEGMENT_VERSION 1u

struct wn_ucx_segment_header {
    uint32_t magic;
    uint32_t version;
    uint32_t partition;
    uint32_t num_columns;
    uint64_t length; /* the whole segment in bytes, a multiple of 8 */
    uint64_t num_rows;
};

/* One segment somewhere in memory, for wn_ucx_segments_to_table(). */
struct wn_ucx_segment_ref {
    const void *data;
    size_t len;
};

/* Checks that every column of table has a type segments can carry. */
int wn_ucx_format_check(const struct wn_table *table, struct wn_error *err);

/* Exact size in bytes of the segment holding rows[0..n) of table. */
size_t wn_ucx_segment_size(const struct wn_table *table, const uint32_t *rows, size_t n);

/* How many of rows[0..n) (from the first, in order) fit one segment of at
 * most room bytes: the most such k.  *size gets the size of the segment of
 * those k rows, or of the first row alone when k is 0 (n > 0).  Work in
 * proportion to k + 1 rows (times the columns), so filling messages one
 * after another stays linear in the rows. */
size_t wn_ucx_segment_fit(const struct wn_table *table, const uint32_t *rows, size_t n, size_t room,
                          size_t *size);

/* Writes the segment of rows[0..n) of table, bound for partition, into dst
 * (wn_ucx_segment_size bytes, 8-byte aligned).  table passed wn_ucx_format_check. */
void wn_ucx_segment_write(const struct wn_table *table, uint32_t partition, const uint32_t *rows,
                          size_t n, void *dst);

/* Reads the header of the segment at data (avail bytes from there) and checks
 * its magic, version and length.  what names the source in messages. */
int wn_ucx_segment_peek(const void *data, size_t avail, struct wn_ucx_segment_header *header,
                        const char *what, struct wn_error *err);

/* Concatenates the rows of segs[0..n) (same columns, checked) into a new table
 * in *out (the caller's).  n == 0 gives a table with no rows and no columns. */
int wn_ucx_segments_to_table(const struct wn_ucx_segment_ref *segs, size_t n, struct wn_table *out,
                             struct wn_error *err);

#endif /* WN_UCX_SHUFFLE_FORMAT_H */
