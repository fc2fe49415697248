/*
 * winnow — tables: Apache Arrow C Data Interface record batches.
 *
 * A TABLE payload is one record batch: a struct-typed ArrowSchema ("+s") whose
 * children are the columns, and the matching ArrowArray.  The structs below
 * are the Arrow C Data Interface verbatim, so tables cross into and out of any
 * Arrow implementation without a copy.
 *
 * Ownership: a struct wn_table owns its schema and array; wn_table_release()
 * calls both release callbacks once and marks them released.  Moving a table
 * (wn_table_move) transfers ownership and leaves the source released.
 *
 * Readers honour ArrowArray.offset at the struct and column level, so slices
 * produced by other Arrow libraries read correctly.
 */
#ifndef WINNOW_TABLE_H
#define WINNOW_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

#endif /* ARROW_C_DATA_INTERFACE */

/* A record batch: a struct schema and its array.  Released when schema.release == NULL. */
struct wn_table {
    struct ArrowSchema schema;
    struct ArrowArray array;
};

/* Column types the helpers build and read.  Other Arrow types pass through
 * untouched (wn_table_column_type() reports WN_COLUMN_OTHER). */
enum wn_column_type {
    WN_COLUMN_OTHER = 0,
    WN_COLUMN_UTF8,             /* "u": int32 offsets */
    WN_COLUMN_LARGE_UTF8,       /* "U": int64 offsets */
    WN_COLUMN_INT32,            /* "i" */
    WN_COLUMN_INT64,            /* "l" */
    WN_COLUMN_UINT32,           /* "I" */
    WN_COLUMN_UINT64,           /* "L" */
    WN_COLUMN_FLOAT64,          /* "g" */
    WN_COLUMN_BOOL,             /* "b" */
    WN_COLUMN_FIXED_LIST_UINT32 /* "+w:N" with a uint32 child */
};

/* ---- whole tables ------------------------------------------------------- */

/* Releases schema and array (idempotent); the struct itself is the caller's. */
void wn_table_release(struct wn_table *table);

/* Moves src into dst (dst must be released or zeroed); src is left released. */
void wn_table_move(struct wn_table *dst, struct wn_table *src);

/* Nonzero when the table holds a live record batch. */
int wn_table_is_live(const struct wn_table *table);

/* Checks that the table is a struct record batch whose columns have the
 * batch's length and well-formed buffers; on failure says which column. */
int wn_table_validate(const struct wn_table *table, struct wn_error *err);

int64_t wn_table_num_rows(const struct wn_table *table);
int64_t wn_table_num_columns(const struct wn_table *table);

/* Index of the column called name, or -1. */
int64_t wn_table_column_index(const struct wn_table *table, const char *name);

/* Name and type of column col (0 <= col < num_columns). */
const char *wn_table_column_name(const struct wn_table *table, int64_t col);
enum wn_column_type wn_table_column_type(const struct wn_table *table, int64_t col);

/* List size of a WN_COLUMN_FIXED_LIST_UINT32 column, 0 for other types. */
int32_t wn_table_column_list_size(const struct wn_table *table, int64_t col);

/* ---- reading cells (no copies; pointers live as long as the table) ------- */

int wn_table_is_null(const struct wn_table *table, int64_t col, int64_t row);

/* UTF8 or LARGE_UTF8 cell; *len gets its length in bytes.  NULL for a null cell. */
const char *wn_table_get_utf8(const struct wn_table *table, int64_t col, int64_t row, size_t *len);

/* Integer cell of any of the four integer types, widened.  0 for a null cell. */
int64_t wn_table_get_int64(const struct wn_table *table, int64_t col, int64_t row);
uint64_t wn_table_get_uint64(const struct wn_table *table, int64_t col, int64_t row);
double wn_table_get_float64(const struct wn_table *table, int64_t col, int64_t row);
int wn_table_get_bool(const struct wn_table *table, int64_t col, int64_t row);

/* The list_size values of a FIXED_LIST_UINT32 cell, NULL for a null cell. */
const uint32_t *wn_table_get_uint32_list(const struct wn_table *table, int64_t col, int64_t row);

/* ---- transforming ------------------------------------------------------- */

/* Builds in *out a new table with the rows of in whose keep[row] is nonzero,
 * all columns kept (types the helpers do not know are refused with WN_EUNSUPPORTED).
 * in is not modified; out must be released or zeroed. */
int wn_table_filter(const struct wn_table *in, const uint8_t *keep, struct wn_table *out,
                    struct wn_error *err);

/* Builds in *out a table with only the named columns, in the given order
 * (shares no buffers with in: copies).  An unknown name is WN_ENOTFOUND. */
int wn_table_select_columns(const struct wn_table *in, const char *const *names, size_t n_names,
                            struct wn_table *out, struct wn_error *err);

/* ---- building ----------------------------------------------------------- */

/* A builder accumulates columns row by row and finishes into a wn_table.
 * One thread at a time; not shared. */
struct wn_table_builder;

struct wn_table_builder *wn_table_builder_new(void);

/* Frees the builder and anything not yet finished. NULL is fine. */
void wn_table_builder_free(struct wn_table_builder *builder);

/* Adds a column and returns its index (>= 0) or a negative code.  list_size
 * is used by WN_COLUMN_FIXED_LIST_UINT32 only.  Column names must be unique. */
int wn_table_builder_add_column(struct wn_table_builder *builder, const char *name,
                                enum wn_column_type type, int32_t list_size);

/* Appends one value to column col.  The type must match the column's family:
 * utf8 for UTF8/LARGE_UTF8, int64 for INT32/INT64 (range-checked), uint64 for
 * UINT32/UINT64 (range-checked), float64, bool, uint32_list (list_size values). */
int wn_table_builder_append_utf8(struct wn_table_builder *builder, int col, const char *value,
                                 size_t len);
int wn_table_builder_append_int64(struct wn_table_builder *builder, int col, int64_t value);
int wn_table_builder_append_uint64(struct wn_table_builder *builder, int col, uint64_t value);
int wn_table_builder_append_float64(struct wn_table_builder *builder, int col, double value);
int wn_table_builder_append_bool(struct wn_table_builder *builder, int col, int value);
int wn_table_builder_append_uint32_list(struct wn_table_builder *builder, int col,
                                        const uint32_t *values);
int wn_table_builder_append_null(struct wn_table_builder *builder, int col);

/* Copies cell (in, in_col, row) into column col of the builder (same type family). */
int wn_table_builder_append_cell(struct wn_table_builder *builder, int col,
                                 const struct wn_table *in, int64_t in_col, int64_t row);

/* Finishes: every column must have the same number of rows.  On success *out
 * owns all buffers and the builder is empty again (columns kept, zero rows). */
int wn_table_builder_finish(struct wn_table_builder *builder, struct wn_table *out,
                            struct wn_error *err);

/* The message of the builder's most recent failed call ("" when none has failed):
 * the append calls return only a code, this says why.  Owned by the builder. */
const char *wn_table_builder_last_error(const struct wn_table_builder *builder);

#ifdef __cplusplus
}
#endif

#endif /* WINNOW_TABLE_H */
