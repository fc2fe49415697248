/*
 * What the fuzzy stages share: column lookup with helpful messages, document
 * id keys (one byte string per id that sorts the way ids compare), a byte
 * arena and a hash map over keys.
 *
 * Ids are strings (utf8, large_utf8) or integers (int32, int64, uint32,
 * uint64 up to INT64_MAX).  A key is a tag byte and the value: 'i' and the
 * 8 bytes of (id XOR 2^63) big-endian for an integer, 's' and the bytes for a
 * string.  Comparing keys bytewise (a shorter prefix first) orders integers
 * numerically, strings bytewise, and any integer before any string.
 */
#ifndef WINNOW_FUZZY_COMMON_H
#define WINNOW_FUZZY_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>
#include <winnow/table.h>
#include <winnow/task.h>

#define FUZZY_KEY_INTEGER 'i'
#define FUZZY_KEY_STRING 's'
#define FUZZY_INTEGER_KEY_LEN 9

/* The column called name in task's table, as *col; WN_ENOTFOUND naming the
 * table's columns and the param to set (param) when there is none. */
int fuzzy_find_column(const char *stage, const struct wn_task *task, const char *name,
                      const char *param, int64_t *col, struct wn_error *err);

/* FUZZY_KEY_INTEGER or FUZZY_KEY_STRING for an id column of a supported type;
 * otherwise WN_EINVAL with a message naming stage, task and column. */
int fuzzy_id_kind(const char *stage, const struct wn_task *task, int64_t col, struct wn_error *err);

/* "integer" or "string". */
const char *fuzzy_id_kind_name(int kind);

struct wn_worker;

/* Setup's naming: replaces *stage_name (malloc'd, owned by the stage) with a
 * copy of the worker's stage name, which messages then use; keeps it when the
 * worker gives none.  0 or WN_ENOMEM (err names stage).  Called from setup. */
int fuzzy_take_worker_name(char **stage_name, const struct wn_worker *worker, const char *stage,
                           struct wn_error *err);

/* ---- a growable byte arena (offsets stay valid, pointers do not) -------------- */
struct fuzzy_arena {
    unsigned char *data;
    size_t len, capacity;
};

/* Reserves room for n more bytes; 0 or WN_ENOMEM. */
int fuzzy_arena_reserve(struct fuzzy_arena *arena, size_t n);
void fuzzy_arena_clear(struct fuzzy_arena *arena);

/* Appends the key of cell (table, col, row) of an id column of kind `kind`;
 * *len gets its length.  Returns 0, 1 for a null cell (nothing appended) or
 * WN_ENOMEM. */
int fuzzy_arena_add_id_key(struct fuzzy_arena *arena, const struct wn_table *table, int64_t col,
                           int64_t row, int kind, size_t *len);
/* Appends an integer's key (9 bytes) or a string's key (1 + len bytes). */
int fuzzy_arena_add_integer_key(struct fuzzy_arena *arena, int64_t value);
int fuzzy_arena_add_string_key(struct fuzzy_arena *arena, const char *s, size_t len);

/* Bytewise order of keys, a shorter prefix first. */
int fuzzy_key_compare(const unsigned char *a, size_t a_len, const unsigned char *b, size_t b_len);
/* The integer of an integer key. */
int64_t fuzzy_key_integer(const unsigned char *key);

/* ---- a hash map from keys (bytes in an arena) to uint64 values -------------------- */
struct fuzzy_keymap_slot {
    uint64_t hash;
    uint64_t offset; /* of the key in the arena */
    uint32_t len;
    uint32_t used;
    uint64_t value;
};

struct fuzzy_keymap {
    struct fuzzy_keymap_slot *slots;
    size_t capacity; /* a power of two */
    size_t count;
    const struct fuzzy_arena *arena; /* where the keys live */
};

/* A map whose keys live in arena. */
void fuzzy_keymap_init(struct fuzzy_keymap *map, const struct fuzzy_arena *arena);
void fuzzy_keymap_clear(struct fuzzy_keymap *map);

/* The slot of key (arena bytes at offset, len), or NULL. */
struct fuzzy_keymap_slot *fuzzy_keymap_find(const struct fuzzy_keymap *map,
                                            const unsigned char *key, size_t len);
/* Finds the key at arena offset/len, or inserts it with value; *slot gets the
 * slot and *inserted whether it is new.  0 or WN_ENOMEM. */
int fuzzy_keymap_upsert(struct fuzzy_keymap *map, uint64_t offset, size_t len, uint64_t value,
                        struct fuzzy_keymap_slot **slot, int *inserted);

/* ---- JSON text ---------------------------------------------------------------- */

/* Appends key as a JSON value (an integer, or a string escaped as JSON requires,
 * invalid UTF-8 bytes as U+FFFD) to the arena-backed buffer out. */
int fuzzy_json_append_key(struct fuzzy_arena *out, const unsigned char *key, size_t len);
int fuzzy_json_append_raw(struct fuzzy_arena *out, const char *s);

/* "a, b, c": the table's column names (for messages). */
void fuzzy_list_columns(const struct wn_table *table, char *buf, size_t size);

#endif /* WINNOW_FUZZY_COMMON_H */
