/*
 * Growable, late-typed columns that jsonl_reader fills row by row and hands
 * over as an Arrow record batch without copying.
 *
 * Why not the table builder of table.h: a JSONL column gets its type from its
 * first non-null value, which may come long after the field was first seen
 * (columns keep first-seen order), and a string column becomes large_utf8 only
 * once its bytes pass INT32_MAX.  Both are decided here at export time, and
 * the buffers filled while reading become the Arrow buffers.
 */
#ifndef WINNOW_STAGES_IO_COLUMNS_H
#define WINNOW_STAGES_IO_COLUMNS_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>
#include <winnow/table.h>

/* What a column holds, decided by its first non-null value. */
enum io_column_kind {
    IO_COLUMN_UNTYPED = 0, /* only nulls so far: exported as an all-null utf8 column */
    IO_COLUMN_STRING,      /* JSON strings: utf8, or large_utf8 past INT32_MAX bytes */
    IO_COLUMN_JSON,        /* JSON objects and arrays, kept as compact JSON text (utf8) */
    IO_COLUMN_INT64,
    IO_COLUMN_FLOAT64,
    IO_COLUMN_BOOL,
    IO_COLUMN_UINT64 /* integers, one of them above INT64_MAX, none negative */
};

struct io_column {
    char *name;
    size_t name_len;
    enum io_column_kind kind;
    int64_t length; /* rows written, nulls included */
    int64_t null_count;
    int has_negative;    /* an INT64 column holds a negative value */
    size_t row_capacity; /* rows the buffers below have room for */
    uint8_t *validity;   /* bit per row, zeroed on growth (null) */
    void *values; /* int64 / uint64 / double per row; bool bits; int64 offsets (row_capacity + 1) */
    char *data;   /* string bytes */
    size_t data_len, data_capacity;
};

struct io_columns {
    struct io_column *items;
    size_t count, capacity;
    int32_t *slots; /* open-addressing name index: column index or -1 */
    size_t n_slots; /* power of two */
};

/* Frees every column and resets cols to empty (reusable). */
void io_columns_clear(struct io_columns *cols);

/* Index of the column called name (name_len bytes), or -1. */
int64_t io_columns_find(const struct io_columns *cols, const char *name, size_t name_len);

/* Adds an untyped column; returns its index or a negative code. */
int64_t io_columns_add(struct io_columns *cols, const char *name, size_t name_len,
                       struct wn_error *err);

/* Name of a column kind for messages ("a string", "an integer", ...). */
const char *io_column_kind_name(enum io_column_kind kind);

/* Nonzero when col takes an integer: a negative one (negative), one above
 * INT64_MAX (big), or neither, by the rules of io_column_append_*. */
int io_column_takes_integer(const struct io_column *col, int negative, int big);

/*
 * Appends a value at row `row` (>= the column's length; rows skipped in
 * between become nulls).  Types must agree with the column's kind (callers
 * check first, io_column_takes_integer for integers): a string goes to STRING
 * or JSON, an int64 to INT64, FLOAT64 (converted) or, when not negative,
 * UINT64; a uint64 to UINT64, FLOAT64 (converted) or to an INT64 column that
 * holds no negative value, which becomes UINT64; a double to FLOAT64, a bool
 * to BOOL; an UNTYPED column takes the kind given.  Returns 0 or WN_ENOMEM.
 */
int io_column_append_string(struct io_column *col, enum io_column_kind kind, int64_t row,
                            const char *value, size_t len);
int io_column_append_int64(struct io_column *col, int64_t row, int64_t value);
int io_column_append_uint64(struct io_column *col, int64_t row, uint64_t value);
int io_column_append_float64(struct io_column *col, int64_t row, double value);
int io_column_append_bool(struct io_column *col, int64_t row, int value);

/*
 * Moves every column, padded with nulls to n_rows, into *out as a record batch
 * (columns in index order); cols is left empty.  out must be released or zeroed.
 */
int io_columns_export(struct io_columns *cols, int64_t n_rows, struct wn_table *out,
                      struct wn_error *err);

#endif /* WINNOW_STAGES_IO_COLUMNS_H */
