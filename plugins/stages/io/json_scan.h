/*
 * json_scan: a strict JSON scanner for one JSON Lines record, for
 * jsonl_reader.  It accepts exactly what jansson's json_loadb() accepts with
 * JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY (RFC 8259 grammar,
 * well-formed UTF-8 only, no duplicate key in any object, no NUL in a key,
 * integers within int64, reals that do not overflow, at most 2048 nested
 * values), and integers from 2^63 to 2^64-1 as well (jansson refuses those;
 * winnow writes uint64 columns such as lsh's bucket ids, and reads them back),
 * and hands back only the top-level members a caller selects, without
 * building a tree: strings unescaped to UTF-8 (pointing into the line itself
 * when they hold no escape), numbers as int64 or double, objects and arrays
 * as the compact JSON text jansson's json_dumpb(JSON_COMPACT) writes for them.
 */
#ifndef WINNOW_STAGES_IO_JSON_SCAN_H
#define WINNOW_STAGES_IO_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

/* Most values nested in one another (the top-level value counts as one), as jansson. */
#define IO_JSON_MAX_DEPTH 2048

/* What a select callback returns for a member the caller does not want. */
#define IO_JSON_SKIP (-2)

enum io_json_kind {
    IO_JSON_NULL = 0,
    IO_JSON_FALSE,
    IO_JSON_TRUE,
    IO_JSON_INTEGER,
    IO_JSON_REAL,
    IO_JSON_STRING,
    IO_JSON_OBJECT,
    IO_JSON_ARRAY,
    IO_JSON_UNSIGNED /* an integer above INT64_MAX (up to UINT64_MAX) */
};

/* One selected member of the line's object.  Pointers stay valid until the next scan. */
struct io_json_field {
    int64_t column;  /* what the select callback returned for its key */
    const char *key; /* unescaped key (never holds a NUL byte), key_len bytes */
    size_t key_len;
    enum io_json_kind kind;
    int64_t integer;    /* IO_JSON_INTEGER */
    uint64_t unsigned_; /* IO_JSON_UNSIGNED */
    double real;        /* IO_JSON_REAL */
    const char *text;   /* STRING: the unescaped UTF-8 bytes (may hold NUL); OBJECT, */
    size_t text_len;    /* ARRAY: compact JSON text */
};

/* A growable byte buffer. */
struct io_json_buf {
    char *data;
    size_t len, capacity;
};

struct io_json_key;
struct io_json_frame;
struct io_json_source;

/* Scratch memory reused from line to line; zero-initialise, io_json_scanner_clear() to free. */
struct io_json_scanner {
    struct io_json_buf out;    /* selected strings with escapes, selected nested values' text */
    struct io_json_buf tmp;    /* one unescaped string inside a selected nested value */
    struct io_json_buf keybuf; /* unescaped keys that held escapes */
    struct io_json_key *keys;  /* keys of the open objects, for the duplicate check */
    size_t n_keys, keys_capacity;
    struct io_json_frame *frames; /* open objects and arrays */
    size_t n_frames, frames_capacity;
    int32_t *table; /* hash table for the duplicate check of large objects */
    size_t table_capacity;
    struct io_json_field *fields;
    struct io_json_source *sources; /* where each field's key and text lie during the scan */
    size_t n_fields, fields_capacity;
    char problem[256]; /* why the last line was refused */
};

/*
 * Decides whether the top-level member called key (key_len bytes, unescaped)
 * is wanted: IO_JSON_SKIP to leave it out (it is still checked), anything
 * else is kept as the field's column.
 */
typedef int64_t (*io_json_select_fn)(void *ctx, const char *key, size_t key_len);

/*
 * Scans one line (len bytes, no newline needed): 0 when it is one JSON
 * object (surrounded by whitespace at most), with the selected members in
 * *fields[0..*n_fields) in object order; 1 when it is not, with the reason in
 * sc->problem ("invalid JSON at column N: what", or "expected a JSON object,
 * got an array"); WN_ENOMEM.  One thread at a time per scanner.
 */
int io_json_scan_line(struct io_json_scanner *sc, const char *line, size_t len,
                      io_json_select_fn select, void *ctx, const struct io_json_field **fields,
                      size_t *n_fields);

/* Frees the scanner's memory and zeroes it (reusable). */
void io_json_scanner_clear(struct io_json_scanner *sc);

/* "an object", "an array", "a string", "an integer", "a number", "a boolean", "null". */
const char *io_json_kind_name(enum io_json_kind kind);

#endif /* WINNOW_STAGES_IO_JSON_SCAN_H */
