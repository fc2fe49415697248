/* fuzzy_*: column lookup, id keys, arena, key map and JSON text for the fuzzy stages. */
#include "build_config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/stage.h>

#include "fuzzy_common.h"
#include "minhash_core.h"

#define KEYMAP_HASH_KEY UINT64_C(0x6A09E667F3BCC909)

void fuzzy_list_columns(const struct wn_table *table, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int64_t c = 0; c < wn_table_num_columns(table) && used < size; c++) {
        const char *name = wn_table_column_name(table, c);
        int n = snprintf(buf + used, size - used, "%s%s", c ? ", " : "", name ? name : "");

        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (buf[0] == '\0')
        snprintf(buf, size, "none");
}

int fuzzy_find_column(const char *stage, const struct wn_task *task, const char *name,
                      const char *param, int64_t *col, struct wn_error *err)
{
    const struct wn_table *table = wn_task_table(task);
    char columns[512];

    if (table == NULL)
        return wn_error_set(err, WN_EINVAL, "%s: task %s: expected a TABLE payload", stage,
                            wn_task_id(task));
    *col = wn_table_column_index(table, name);
    if (*col >= 0)
        return 0;
    fuzzy_list_columns(table, columns, sizeof(columns));
    return wn_error_set(err, WN_ENOTFOUND,
                        "%s: task %s: no column \"%s\" (columns: %s); set %s to the column to use",
                        stage, wn_task_id(task), name, columns, param);
}

int fuzzy_id_kind(const char *stage, const struct wn_task *task, int64_t col, struct wn_error *err)
{
    const struct wn_table *table = wn_task_table(task);

    switch (wn_table_column_type(table, col)) {
    case WN_COLUMN_UTF8:
    case WN_COLUMN_LARGE_UTF8: return FUZZY_KEY_STRING;
    case WN_COLUMN_INT32:
    case WN_COLUMN_INT64:
    case WN_COLUMN_UINT32:
    case WN_COLUMN_UINT64: return FUZZY_KEY_INTEGER;
    default: break;
    }
    return wn_error_set(err, WN_EINVAL,
                        "%s: task %s: id column \"%s\" has Arrow format \"%s\"; ids must be "
                        "strings (utf8, large_utf8) or integers",
                        stage, wn_task_id(task), wn_table_column_name(table, col),
                        table->schema.children[col]->format);
}

const char *fuzzy_id_kind_name(int kind)
{
    return kind == FUZZY_KEY_INTEGER ? "integer" : "string";
}

int fuzzy_take_worker_name(char **stage_name, const struct wn_worker *worker, const char *stage,
                           struct wn_error *err)
{
    char *name;

    if (worker == NULL || worker->stage_name == NULL || worker->stage_name[0] == '\0')
        return 0;
    name = strdup(worker->stage_name);
    if (name == NULL)
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory", stage);
    free(*stage_name);
    *stage_name = name;
    return 0;
}

/* ---- arena ------------------------------------------------------------------- */

int fuzzy_arena_reserve(struct fuzzy_arena *arena, size_t n)
{
    size_t capacity;
    unsigned char *data;

    if (n <= arena->capacity - arena->len)
        return 0;
    capacity = arena->capacity ? arena->capacity : 4096;
    while (capacity - arena->len < n) {
        if (capacity > SIZE_MAX / 2)
            return WN_ENOMEM;
        capacity *= 2;
    }
    data = realloc(arena->data, capacity);
    if (data == NULL)
        return WN_ENOMEM;
    arena->data = data;
    arena->capacity = capacity;
    return 0;
}

void fuzzy_arena_clear(struct fuzzy_arena *arena)
{
    free(arena->data);
    memset(arena, 0, sizeof(*arena));
}

int fuzzy_arena_add_integer_key(struct fuzzy_arena *arena, int64_t value)
{
    uint64_t u = (uint64_t)value ^ (UINT64_C(1) << 63);

    if (fuzzy_arena_reserve(arena, FUZZY_INTEGER_KEY_LEN) < 0)
        return WN_ENOMEM;
    arena->data[arena->len++] = FUZZY_KEY_INTEGER;
    for (int shift = 56; shift >= 0; shift -= 8)
        arena->data[arena->len++] = (unsigned char)(u >> shift);
    return 0;
}

int fuzzy_arena_add_string_key(struct fuzzy_arena *arena, const char *s, size_t len)
{
    if (len == SIZE_MAX || fuzzy_arena_reserve(arena, len + 1) < 0)
        return WN_ENOMEM;
    arena->data[arena->len++] = FUZZY_KEY_STRING;
    if (len > 0)
        memcpy(arena->data + arena->len, s, len);
    arena->len += len;
    return 0;
}

int fuzzy_arena_add_id_key(struct fuzzy_arena *arena, const struct wn_table *table, int64_t col,
                           int64_t row, int kind, size_t *len)
{
    size_t before = arena->len;
    int rc;

    if (wn_table_is_null(table, col, row))
        return 1;
    if (kind == FUZZY_KEY_INTEGER) {
        rc = fuzzy_arena_add_integer_key(arena, wn_table_get_int64(table, col, row));
    } else {
        size_t n = 0;
        const char *s = wn_table_get_utf8(table, col, row, &n);
        rc = fuzzy_arena_add_string_key(arena, s, n);
    }
    *len = arena->len - before;
    return rc;
}

int fuzzy_key_compare(const unsigned char *a, size_t a_len, const unsigned char *b, size_t b_len)
{
    int c = memcmp(a, b, a_len < b_len ? a_len : b_len);

    if (c != 0)
        return c;
    return a_len < b_len ? -1 : a_len > b_len;
}

int64_t fuzzy_key_integer(const unsigned char *key)
{
    uint64_t u = 0;

    for (int i = 1; i < FUZZY_INTEGER_KEY_LEN; i++)
        u = (u << 8) | key[i];
    return (int64_t)(u ^ (UINT64_C(1) << 63));
}

/* ---- key map ------------------------------------------------------------------- */

void fuzzy_keymap_init(struct fuzzy_keymap *map, const struct fuzzy_arena *arena)
{
    memset(map, 0, sizeof(*map));
    map->arena = arena;
}

void fuzzy_keymap_clear(struct fuzzy_keymap *map)
{
    free(map->slots);
    map->slots = NULL;
    map->capacity = map->count = 0;
}

static size_t slot_index(const struct fuzzy_keymap *map, uint64_t hash, const unsigned char *key,
                         size_t len)
{
    size_t mask = map->capacity - 1, i = (size_t)hash & mask;

    for (;; i = (i + 1) & mask) {
        const struct fuzzy_keymap_slot *slot = &map->slots[i];

        if (!slot->used)
            return i;
        if (slot->hash == hash && slot->len == len &&
            memcmp(map->arena->data + slot->offset, key, len) == 0)
            return i;
    }
}

struct fuzzy_keymap_slot *fuzzy_keymap_find(const struct fuzzy_keymap *map,
                                            const unsigned char *key, size_t len)
{
    struct fuzzy_keymap_slot *slot;

    if (map->count == 0)
        return NULL;
    slot = &map->slots[slot_index(map, fuzzy_bytes_hash(key, len, KEYMAP_HASH_KEY), key, len)];
    return slot->used ? slot : NULL;
}

static int keymap_grow(struct fuzzy_keymap *map)
{
    size_t capacity = map->capacity ? map->capacity * 2 : 1024;
    struct fuzzy_keymap_slot *old = map->slots;
    size_t old_capacity = map->capacity;

    map->slots = calloc(capacity, sizeof(*map->slots));
    if (map->slots == NULL) {
        map->slots = old;
        return WN_ENOMEM;
    }
    map->capacity = capacity;
    for (size_t i = 0; i < old_capacity; i++) {
        if (old[i].used) {
            size_t j = (size_t)old[i].hash & (capacity - 1);

            while (map->slots[j].used)
                j = (j + 1) & (capacity - 1);
            map->slots[j] = old[i];
        }
    }
    free(old);
    return 0;
}

int fuzzy_keymap_upsert(struct fuzzy_keymap *map, uint64_t offset, size_t len, uint64_t value,
                        struct fuzzy_keymap_slot **slot, int *inserted)
{
    const unsigned char *key = map->arena->data + offset;
    uint64_t hash = fuzzy_bytes_hash(key, len, KEYMAP_HASH_KEY);
    struct fuzzy_keymap_slot *s;

    if (len > UINT32_MAX)
        return WN_EINVAL;
    if ((map->count + 1) * 4 > map->capacity * 3 && keymap_grow(map) < 0)
        return WN_ENOMEM;
    s = &map->slots[slot_index(map, hash, key, len)];
    *inserted = !s->used;
    if (!s->used) {
        s->used = 1;
        s->hash = hash;
        s->offset = offset;
        s->len = (uint32_t)len;
        s->value = value;
        map->count++;
    }
    *slot = s;
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------ */

int fuzzy_json_append_raw(struct fuzzy_arena *out, const char *s)
{
    size_t n = strlen(s);

    if (fuzzy_arena_reserve(out, n) < 0)
        return WN_ENOMEM;
    memcpy(out->data + out->len, s, n);
    out->len += n;
    return 0;
}

int fuzzy_json_append_key(struct fuzzy_arena *out, const unsigned char *key, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char number[32];

    if (key[0] == FUZZY_KEY_INTEGER) {
        snprintf(number, sizeof(number), "%" PRId64, fuzzy_key_integer(key));
        return fuzzy_json_append_raw(out, number);
    }
    /* Worst case 6 bytes per input byte (\u00XX), plus quotes. */
    if (len > (SIZE_MAX - 2) / 6 || fuzzy_arena_reserve(out, len * 6 + 2) < 0)
        return WN_ENOMEM;
    out->data[out->len++] = '"';
    for (size_t i = 1; i < len;) {
        unsigned char c = key[i];
        uint32_t unit;
        size_t n;

        if (c >= 0x80) {
            n = fuzzy_utf8_unit(key + i, len - i, &unit);
            if (unit >= 0x110000) {
                memcpy(out->data + out->len, "\xEF\xBF\xBD", 3); /* U+FFFD */
                out->len += 3;
            } else {
                memcpy(out->data + out->len, key + i, n);
                out->len += n;
            }
            i += n;
            continue;
        }
        if (c == '"' || c == '\\') {
            out->data[out->len++] = '\\';
            out->data[out->len++] = (unsigned char)c;
        } else if (c < 0x20) {
            memcpy(out->data + out->len, "\\u00", 4);
            out->data[out->len + 4] = (unsigned char)hex[c >> 4];
            out->data[out->len + 5] = (unsigned char)hex[c & 15];
            out->len += 6;
        } else {
            out->data[out->len++] = c;
        }
        i++;
    }
    out->data[out->len++] = '"';
    return 0;
}
