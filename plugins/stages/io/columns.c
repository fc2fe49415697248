/* io_columns_*: late-typed columns exported as an Arrow record batch without a copy. */
#include "build_config.h"

#include <stdlib.h>
#include <string.h>

#include "columns.h"
#include "fnv.h"

#define IO_MIN_ROWS 1024

/* Most bytes a utf8 column (int32 offsets) holds; larger columns become
 * large_utf8.  A test build lowers it to reach the large case cheaply. */
#ifndef IO_UTF8_MAX_BYTES
#define IO_UTF8_MAX_BYTES INT32_MAX
#endif

/* ---- the name index ------------------------------------------------------- */

static int rebuild_index(struct io_columns *cols, size_t n_slots)
{
    int32_t *slots = malloc(n_slots * sizeof(*slots));

    if (slots == NULL)
        return WN_ENOMEM;
    for (size_t i = 0; i < n_slots; i++)
        slots[i] = -1;
    for (size_t c = 0; c < cols->count; c++) {
        size_t s =
            (size_t)stage_fnv1a64(cols->items[c].name, cols->items[c].name_len) & (n_slots - 1);

        while (slots[s] >= 0)
            s = (s + 1) & (n_slots - 1);
        slots[s] = (int32_t)c;
    }
    free(cols->slots);
    cols->slots = slots;
    cols->n_slots = n_slots;
    return 0;
}

int64_t io_columns_find(const struct io_columns *cols, const char *name, size_t name_len)
{
    size_t s;

    if (cols->n_slots == 0)
        return -1;
    s = (size_t)stage_fnv1a64(name, name_len) & (cols->n_slots - 1);
    while (cols->slots[s] >= 0) {
        const struct io_column *col = &cols->items[cols->slots[s]];

        if (col->name_len == name_len && memcmp(col->name, name, name_len) == 0)
            return cols->slots[s];
        s = (s + 1) & (cols->n_slots - 1);
    }
    return -1;
}

int64_t io_columns_add(struct io_columns *cols, const char *name, size_t name_len,
                       struct wn_error *err)
{
    struct io_column *col;

    if (cols->count >= INT32_MAX)
        return wn_error_set(err, WN_EDATA, "too many distinct fields");
    if (cols->count == cols->capacity) {
        size_t capacity = cols->capacity ? cols->capacity * 2 : 16;
        struct io_column *items = realloc(cols->items, capacity * sizeof(*items));

        if (items == NULL)
            return wn_error_set(err, WN_ENOMEM, "out of memory adding field \"%.*s\"",
                                (int)name_len, name);
        cols->items = items;
        cols->capacity = capacity;
    }
    col = &cols->items[cols->count];
    memset(col, 0, sizeof(*col));
    col->name = malloc(name_len + 1);
    if (col->name == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory adding field \"%.*s\"", (int)name_len,
                            name);
    memcpy(col->name, name, name_len);
    col->name[name_len] = '\0';
    col->name_len = name_len;
    cols->count++;
    if (cols->count * 2 > cols->n_slots) {
        if (rebuild_index(cols, cols->n_slots ? cols->n_slots * 2 : 64) < 0) {
            cols->count--;
            free(col->name);
            return wn_error_set(err, WN_ENOMEM, "out of memory adding field \"%.*s\"",
                                (int)name_len, name);
        }
    } else {
        size_t s = (size_t)stage_fnv1a64(col->name, name_len) & (cols->n_slots - 1);

        while (cols->slots[s] >= 0)
            s = (s + 1) & (cols->n_slots - 1);
        cols->slots[s] = (int32_t)(cols->count - 1);
    }
    return (int64_t)(cols->count - 1);
}

static void column_free(struct io_column *col)
{
    free(col->name);
    free(col->validity);
    free(col->values);
    free(col->data);
    memset(col, 0, sizeof(*col));
}

void io_columns_clear(struct io_columns *cols)
{
    for (size_t i = 0; i < cols->count; i++)
        column_free(&cols->items[i]);
    free(cols->items);
    free(cols->slots);
    memset(cols, 0, sizeof(*cols));
}

const char *io_column_kind_name(enum io_column_kind kind)
{
    switch (kind) {
    case IO_COLUMN_STRING: return "a string";
    case IO_COLUMN_JSON: return "an object or array";
    case IO_COLUMN_INT64: return "an integer";
    case IO_COLUMN_UINT64: return "integers above 2^63-1, none negative";
    case IO_COLUMN_FLOAT64: return "a number";
    case IO_COLUMN_BOOL: return "a boolean";
    case IO_COLUMN_UNTYPED: break;
    }
    return "null";
}

/* ---- filling -------------------------------------------------------------- */

static int is_string_kind(enum io_column_kind kind)
{
    return kind == IO_COLUMN_STRING || kind == IO_COLUMN_JSON;
}

/* Grows a zero-filled buffer from old_size to new_size bytes. */
static int grow_zeroed(void *slot, size_t old_size, size_t new_size)
{
    void **buf = slot;
    unsigned char *grown = realloc(*buf, new_size);

    if (grown == NULL)
        return WN_ENOMEM;
    memset(grown + old_size, 0, new_size - old_size);
    *buf = grown;
    return 0;
}

/* Makes room for rows rows in a typed column.  New rows read as null. */
static int ensure_rows(struct io_column *col, size_t rows)
{
    size_t old = col->row_capacity, capacity = old ? old : IO_MIN_ROWS;
    size_t value_size = 0;
    int rc;

    if (rows <= old)
        return 0;
    while (capacity < rows)
        capacity *= 2;
    rc = grow_zeroed(&col->validity, (old + 7) / 8, (capacity + 7) / 8);
    if (rc < 0)
        return rc;
    switch (col->kind) {
    case IO_COLUMN_BOOL: rc = grow_zeroed(&col->values, (old + 7) / 8, (capacity + 7) / 8); break;
    case IO_COLUMN_STRING:
    case IO_COLUMN_JSON:
        value_size = sizeof(int64_t);
        rc = grow_zeroed(&col->values, old ? (old + 1) * value_size : 0,
                         (capacity + 1) * value_size);
        break;
    default:
        value_size = 8;
        rc = grow_zeroed(&col->values, old * value_size, capacity * value_size);
        break;
    }
    if (rc < 0)
        return rc;
    col->row_capacity = capacity;
    return 0;
}

/* Extends the column with nulls up to row rows (typed or not). */
static int pad_to(struct io_column *col, int64_t rows)
{
    int rc;

    if (col->length >= rows)
        return 0;
    if (col->kind != IO_COLUMN_UNTYPED) {
        rc = ensure_rows(col, (size_t)rows);
        if (rc < 0)
            return rc;
        if (is_string_kind(col->kind)) {
            int64_t *offsets = col->values;

            for (int64_t i = col->length + 1; i <= rows; i++)
                offsets[i] = offsets[col->length];
        }
    }
    col->null_count += rows - col->length;
    col->length = rows;
    return 0;
}

/* Pads to row, gives an untyped column its kind, and makes room for one more row. */
static int prepare_append(struct io_column *col, enum io_column_kind kind, int64_t row)
{
    int rc;

    if (col->kind == IO_COLUMN_UNTYPED) {
        /* Every row so far is null: fresh zeroed buffers say exactly that. */
        col->kind = kind;
        col->row_capacity = 0;
        rc = ensure_rows(col, (size_t)col->length + 1);
        if (rc < 0)
            return rc;
    }
    rc = pad_to(col, row);
    if (rc < 0)
        return rc;
    return ensure_rows(col, (size_t)row + 1);
}

static void set_bit(uint8_t *bits, int64_t i)
{
    bits[i >> 3] |= (uint8_t)(1u << (i & 7));
}

int io_column_append_string(struct io_column *col, enum io_column_kind kind, int64_t row,
                            const char *value, size_t len)
{
    int64_t *offsets;
    int rc = prepare_append(col, kind, row);

    if (rc < 0)
        return rc;
    if (len > col->data_capacity - col->data_len) {
        size_t capacity = col->data_capacity ? col->data_capacity : 4096;
        char *data;

        while (capacity - col->data_len < len) {
            if (capacity > SIZE_MAX / 2)
                return WN_ENOMEM;
            capacity *= 2;
        }
        data = realloc(col->data, capacity);
        if (data == NULL)
            return WN_ENOMEM;
        col->data = data;
        col->data_capacity = capacity;
    }
    if (len > 0)
        memcpy(col->data + col->data_len, value, len);
    col->data_len += len;
    offsets = col->values;
    offsets[row + 1] = (int64_t)col->data_len;
    set_bit(col->validity, row);
    col->length = row + 1;
    return 0;
}

int io_column_append_int64(struct io_column *col, int64_t row, int64_t value)
{
    int rc;

    if (col->kind == IO_COLUMN_FLOAT64)
        return io_column_append_float64(col, row, (double)value);
    if (col->kind == IO_COLUMN_UINT64)
        return io_column_append_uint64(col, row, (uint64_t)value);
    rc = prepare_append(col, IO_COLUMN_INT64, row);
    if (rc < 0)
        return rc;
    if (value < 0)
        col->has_negative = 1;
    ((int64_t *)col->values)[row] = value;
    set_bit(col->validity, row);
    col->length = row + 1;
    return 0;
}

int io_column_append_uint64(struct io_column *col, int64_t row, uint64_t value)
{
    int rc;

    if (col->kind == IO_COLUMN_FLOAT64)
        return io_column_append_float64(col, row, (double)value);
    if (col->kind == IO_COLUMN_INT64)
        col->kind = IO_COLUMN_UINT64; /* no negative value: the bits stay */
    rc = prepare_append(col, IO_COLUMN_UINT64, row);
    if (rc < 0)
        return rc;
    ((uint64_t *)col->values)[row] = value;
    set_bit(col->validity, row);
    col->length = row + 1;
    return 0;
}

int io_column_takes_integer(const struct io_column *col, int negative, int big)
{
    switch (col->kind) {
    case IO_COLUMN_UNTYPED:
    case IO_COLUMN_FLOAT64: return 1;
    case IO_COLUMN_INT64: return !big || !col->has_negative;
    case IO_COLUMN_UINT64: return !negative;
    default: return 0;
    }
}

int io_column_append_float64(struct io_column *col, int64_t row, double value)
{
    int rc = prepare_append(col, IO_COLUMN_FLOAT64, row);

    if (rc < 0)
        return rc;
    ((double *)col->values)[row] = value;
    set_bit(col->validity, row);
    col->length = row + 1;
    return 0;
}

int io_column_append_bool(struct io_column *col, int64_t row, int value)
{
    int rc = prepare_append(col, IO_COLUMN_BOOL, row);

    if (rc < 0)
        return rc;
    if (value)
        set_bit(col->values, row);
    set_bit(col->validity, row);
    col->length = row + 1;
    return 0;
}

/* ---- export --------------------------------------------------------------- */

struct child_private {
    void *owned[3];
    const void *buffers[3];
};

struct parent_array_private {
    struct ArrowArray *structs;
    struct ArrowArray **pointers;
    const void *buffers[1];
};

struct parent_schema_private {
    struct ArrowSchema *structs;
    struct ArrowSchema **pointers;
};

static void release_child_array(struct ArrowArray *array)
{
    struct child_private *priv = array->private_data;

    for (int i = 0; i < 3; i++)
        free(priv->owned[i]);
    free(priv);
    array->release = NULL;
}

static void release_parent_array(struct ArrowArray *array)
{
    struct parent_array_private *priv = array->private_data;

    for (int64_t i = 0; i < array->n_children; i++)
        if (array->children[i]->release != NULL)
            array->children[i]->release(array->children[i]);
    free(priv->structs);
    free(priv->pointers);
    free(priv);
    array->release = NULL;
}

static void release_child_schema(struct ArrowSchema *schema)
{
    free((char *)schema->name);
    schema->release = NULL;
}

static void release_parent_schema(struct ArrowSchema *schema)
{
    struct parent_schema_private *priv = schema->private_data;

    for (int64_t i = 0; i < schema->n_children; i++)
        if (schema->children[i]->release != NULL)
            schema->children[i]->release(schema->children[i]);
    free(priv->structs);
    free(priv->pointers);
    free(priv);
    schema->release = NULL;
}

/* Turns a padded column into an Arrow child array; moves its buffers into priv. */
static int export_column(struct io_column *col, struct child_private *priv,
                         struct ArrowArray *array, struct ArrowSchema *schema)
{
    int64_t n = col->length;

    memset(priv, 0, sizeof(*priv));
    memset(array, 0, sizeof(*array));
    memset(schema, 0, sizeof(*schema));
    if (col->kind == IO_COLUMN_UNTYPED) {
        /* All null: an empty utf8 column. */
        priv->owned[1] = calloc((size_t)n + 1, sizeof(int32_t));
        priv->owned[2] = malloc(1);
        priv->owned[0] = n > 0 ? calloc(((size_t)n + 7) / 8, 1) : NULL;
        if (priv->owned[1] == NULL || priv->owned[2] == NULL || (n > 0 && priv->owned[0] == NULL)) {
            for (int i = 0; i < 3; i++)
                free(priv->owned[i]);
            memset(priv, 0, sizeof(*priv));
            return WN_ENOMEM;
        }
        schema->format = "u";
        array->n_buffers = 3;
    } else {
        if (col->null_count == 0) {
            free(col->validity);
            col->validity = NULL;
        }
        if (is_string_kind(col->kind)) {
            if (col->data == NULL) {
                col->data = malloc(1);
                if (col->data == NULL)
                    return WN_ENOMEM;
            }
            if (col->data_len <= (size_t)IO_UTF8_MAX_BYTES) {
                /* Narrow the offsets in place: entry i is read before anything
                 * past byte 4*i+3 is written, and 4*i+3 < 8*i + 8. */
                unsigned char *bytes = col->values;

                for (int64_t i = 0; i <= n; i++) {
                    int64_t wide;
                    int32_t narrow;

                    memcpy(&wide, bytes + 8 * i, sizeof(wide));
                    narrow = (int32_t)wide;
                    memcpy(bytes + 4 * i, &narrow, sizeof(narrow));
                }
                schema->format = "u";
            } else {
                schema->format = "U";
            }
            priv->owned[2] = col->data;
            array->n_buffers = 3;
        } else {
            schema->format = col->kind == IO_COLUMN_INT64     ? "l"
                             : col->kind == IO_COLUMN_UINT64  ? "L"
                             : col->kind == IO_COLUMN_FLOAT64 ? "g"
                                                              : "b";
            array->n_buffers = 2;
        }
        priv->owned[0] = col->validity;
        priv->owned[1] = col->values;
        col->validity = NULL;
        col->values = NULL;
        col->data = NULL;
    }
    for (int i = 0; i < 3; i++)
        priv->buffers[i] = priv->owned[i];

    schema->name = col->name;
    col->name = NULL;
    schema->flags = ARROW_FLAG_NULLABLE;
    schema->release = release_child_schema;

    array->length = n;
    array->null_count = col->null_count;
    array->buffers = priv->buffers;
    array->private_data = priv;
    array->release = release_child_array;
    return 0;
}

int io_columns_export(struct io_columns *cols, int64_t n_rows, struct wn_table *out,
                      struct wn_error *err)
{
    size_t n = cols->count;
    struct parent_array_private *array_priv = NULL;
    struct parent_schema_private *schema_priv = NULL;
    struct child_private **child_privs = NULL;
    size_t exported = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        if (pad_to(&cols->items[i], n_rows) < 0)
            return wn_error_set(err, WN_ENOMEM, "out of memory finishing column \"%s\"",
                                cols->items[i].name);
    }
    array_priv = calloc(1, sizeof(*array_priv));
    schema_priv = calloc(1, sizeof(*schema_priv));
    child_privs = calloc(n ? n : 1, sizeof(*child_privs));
    if (array_priv == NULL || schema_priv == NULL || child_privs == NULL)
        goto out_nomem;
    array_priv->structs = calloc(n ? n : 1, sizeof(struct ArrowArray));
    array_priv->pointers = calloc(n ? n : 1, sizeof(struct ArrowArray *));
    schema_priv->structs = calloc(n ? n : 1, sizeof(struct ArrowSchema));
    schema_priv->pointers = calloc(n ? n : 1, sizeof(struct ArrowSchema *));
    if (array_priv->structs == NULL || array_priv->pointers == NULL ||
        schema_priv->structs == NULL || schema_priv->pointers == NULL)
        goto out_nomem;
    for (size_t i = 0; i < n; i++) {
        child_privs[i] = malloc(sizeof(struct child_private));
        if (child_privs[i] == NULL)
            goto out_nomem;
    }

    /* From here on buffers move out of the columns. */
    for (; exported < n; exported++) {
        size_t i = exported;

        array_priv->pointers[i] = &array_priv->structs[i];
        schema_priv->pointers[i] = &schema_priv->structs[i];
        if (export_column(&cols->items[i], child_privs[i], &array_priv->structs[i],
                          &schema_priv->structs[i]) < 0)
            goto out_nomem;
        child_privs[i] = NULL; /* owned by the child array now */
    }

    out->schema.format = "+s";
    out->schema.name = NULL;
    out->schema.n_children = (int64_t)n;
    out->schema.children = schema_priv->pointers;
    out->schema.private_data = schema_priv;
    out->schema.release = release_parent_schema;
    out->array.length = n_rows;
    out->array.null_count = 0;
    out->array.n_buffers = 1;
    out->array.buffers = array_priv->buffers;
    out->array.n_children = (int64_t)n;
    out->array.children = array_priv->pointers;
    out->array.private_data = array_priv;
    out->array.release = release_parent_array;
    free(child_privs);
    io_columns_clear(cols);
    return 0;

out_nomem:
    rc = wn_error_set(err, WN_ENOMEM, "out of memory building the table");
    for (size_t i = 0; i < exported; i++) {
        array_priv->structs[i].release(&array_priv->structs[i]);
        schema_priv->structs[i].release(&schema_priv->structs[i]);
    }
    for (size_t i = 0; child_privs != NULL && i < n; i++)
        free(child_privs[i]);
    free(child_privs);
    if (array_priv != NULL) {
        free(array_priv->structs);
        free(array_priv->pointers);
        free(array_priv);
    }
    if (schema_priv != NULL) {
        free(schema_priv->structs);
        free(schema_priv->pointers);
        free(schema_priv);
    }
    io_columns_clear(cols);
    return rc;
}
