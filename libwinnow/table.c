/*
 * wn_table_*: Arrow C Data Interface record batches.
 *
 * A table is a struct array ("+s") whose children are the columns.  This file
 * reads such tables (honouring ArrowArray.offset at the struct level and at
 * the column level), checks them (wn_table_validate), builds them
 * (wn_table_builder_*) and copies rows and columns out of them
 * (wn_table_filter, wn_table_select_columns).
 *
 * Ownership of what this file exports: every ArrowSchema and ArrowArray it
 * produces has private_data pointing to a schema_private / array_private that
 * owns the strings, the buffers and the storage of the child structs.  The
 * release callbacks release the children first (skipping any child a consumer
 * moved out, whose release is NULL), free what private_data owns, and set
 * release to NULL, as the Arrow C Data Interface requires.
 *
 * Readers assume a table that passed wn_table_validate(); they check column
 * and row bounds and the column's type, not the buffers.
 */
#include "build_config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/table.h>

/* ---- small helpers ------------------------------------------------------ */

static inline int bit_get(const uint8_t *bits, int64_t i)
{
    return (bits[i >> 3] >> (i & 7)) & 1;
}

static char *string_copy(const char *s)
{
    size_t n;
    char *copy;

    if (s == NULL)
        return NULL;
    n = strlen(s) + 1;
    copy = malloc(n);
    if (copy != NULL)
        memcpy(copy, s, n);
    return copy;
}

/* Size in bytes of an Arrow metadata blob (int32 count, then int32-length-prefixed
 * key and value pairs, native endianness), 0 for none. */
static size_t metadata_size(const char *metadata)
{
    int32_t n_pairs, len;
    size_t pos = sizeof(int32_t);

    if (metadata == NULL)
        return 0;
    memcpy(&n_pairs, metadata, sizeof(n_pairs));
    for (int32_t i = 0; i < n_pairs; i++) {
        memcpy(&len, metadata + pos, sizeof(len));
        pos += sizeof(len) + (size_t)len;
        memcpy(&len, metadata + pos, sizeof(len));
        pos += sizeof(len) + (size_t)len;
    }
    return pos;
}

static char *metadata_copy(const char *metadata)
{
    size_t n = metadata_size(metadata);
    char *copy;

    if (n == 0)
        return NULL;
    copy = malloc(n);
    if (copy != NULL)
        memcpy(copy, metadata, n);
    return copy;
}

/* N of a "+w:N" format (1..INT32_MAX), 0 when format is anything else. */
static int32_t fixed_list_size(const char *format)
{
    int64_t n = 0;

    if (format == NULL || strncmp(format, "+w:", 3) != 0 || format[3] == '\0')
        return 0;
    for (const char *p = format + 3; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        n = n * 10 + (*p - '0');
        if (n > INT32_MAX)
            return 0;
    }
    return (int32_t)n;
}

/* The helpers' type of a column schema; *list_size gets N for "+w:N". */
static enum wn_column_type schema_type(const struct ArrowSchema *schema, int32_t *list_size)
{
    const char *f;
    int32_t n;

    *list_size = 0;
    if (schema == NULL || schema->format == NULL || schema->dictionary != NULL)
        return WN_COLUMN_OTHER;
    f = schema->format;
    if (strcmp(f, "u") == 0)
        return WN_COLUMN_UTF8;
    if (strcmp(f, "U") == 0)
        return WN_COLUMN_LARGE_UTF8;
    if (strcmp(f, "i") == 0)
        return WN_COLUMN_INT32;
    if (strcmp(f, "l") == 0)
        return WN_COLUMN_INT64;
    if (strcmp(f, "I") == 0)
        return WN_COLUMN_UINT32;
    if (strcmp(f, "L") == 0)
        return WN_COLUMN_UINT64;
    if (strcmp(f, "g") == 0)
        return WN_COLUMN_FLOAT64;
    if (strcmp(f, "b") == 0)
        return WN_COLUMN_BOOL;
    n = fixed_list_size(f);
    if (n > 0 && schema->n_children == 1 && schema->children != NULL &&
        schema->children[0] != NULL && schema->children[0]->format != NULL &&
        strcmp(schema->children[0]->format, "I") == 0 && schema->children[0]->dictionary == NULL) {
        *list_size = n;
        return WN_COLUMN_FIXED_LIST_UINT32;
    }
    return WN_COLUMN_OTHER;
}

static const char *type_name(enum wn_column_type type)
{
    switch (type) {
    case WN_COLUMN_UTF8: return "utf8";
    case WN_COLUMN_LARGE_UTF8: return "large_utf8";
    case WN_COLUMN_INT32: return "int32";
    case WN_COLUMN_INT64: return "int64";
    case WN_COLUMN_UINT32: return "uint32";
    case WN_COLUMN_UINT64: return "uint64";
    case WN_COLUMN_FLOAT64: return "float64";
    case WN_COLUMN_BOOL: return "bool";
    case WN_COLUMN_FIXED_LIST_UINT32: return "fixed_size_list<uint32>";
    case WN_COLUMN_OTHER: break;
    }
    return "other";
}

/* Bytes per value of the fixed-width types (per cell for lists), 0 otherwise. */
static size_t value_width(enum wn_column_type type, int32_t list_size)
{
    switch (type) {
    case WN_COLUMN_INT32:
    case WN_COLUMN_UINT32: return 4;
    case WN_COLUMN_INT64:
    case WN_COLUMN_UINT64:
    case WN_COLUMN_FLOAT64: return 8;
    case WN_COLUMN_FIXED_LIST_UINT32: return (size_t)list_size * sizeof(uint32_t);
    default: return 0;
    }
}

/* ---- whole tables ------------------------------------------------------- */

void wn_table_release(struct wn_table *table)
{
    if (table == NULL)
        return;
    if (table->array.release != NULL)
        table->array.release(&table->array);
    if (table->schema.release != NULL)
        table->schema.release(&table->schema);
    memset(table, 0, sizeof(*table));
}

void wn_table_move(struct wn_table *dst, struct wn_table *src)
{
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

int wn_table_is_live(const struct wn_table *table)
{
    return table != NULL && table->schema.release != NULL && table->array.release != NULL;
}

int64_t wn_table_num_rows(const struct wn_table *table)
{
    return wn_table_is_live(table) ? table->array.length : 0;
}

int64_t wn_table_num_columns(const struct wn_table *table)
{
    return wn_table_is_live(table) ? table->schema.n_children : 0;
}

int64_t wn_table_column_index(const struct wn_table *table, const char *name)
{
    if (!wn_table_is_live(table) || name == NULL || table->schema.children == NULL)
        return -1;
    for (int64_t i = 0; i < table->schema.n_children; i++) {
        const struct ArrowSchema *child = table->schema.children[i];
        if (child != NULL && child->name != NULL && strcmp(child->name, name) == 0)
            return i;
    }
    return -1;
}

static const struct ArrowSchema *column_schema(const struct wn_table *table, int64_t col)
{
    if (!wn_table_is_live(table) || col < 0 || col >= table->schema.n_children ||
        table->schema.children == NULL)
        return NULL;
    return table->schema.children[col];
}

const char *wn_table_column_name(const struct wn_table *table, int64_t col)
{
    const struct ArrowSchema *schema = column_schema(table, col);
    return schema != NULL ? schema->name : NULL;
}

enum wn_column_type wn_table_column_type(const struct wn_table *table, int64_t col)
{
    int32_t list_size;
    return schema_type(column_schema(table, col), &list_size);
}

int32_t wn_table_column_list_size(const struct wn_table *table, int64_t col)
{
    int32_t list_size;
    schema_type(column_schema(table, col), &list_size);
    return list_size;
}

/* ---- validation --------------------------------------------------------- */

/* Nulls in bits [offset, offset + length). */
static int64_t count_unset_bits(const uint8_t *bits, int64_t offset, int64_t length)
{
    int64_t set = 0;
    int64_t i = offset, end = offset + length;

    for (; i < end && (i & 7) != 0; i++)
        set += bit_get(bits, i);
    for (; i + 8 <= end; i += 8)
        set += __builtin_popcount(bits[i >> 3]);
    for (; i < end; i++)
        set += bit_get(bits, i);
    return length - set;
}

/* Checks length, offset, null_count and validity of one array (what every
 * layout with a validity bitmap shares).  what names it in messages. */
static int validate_array_common(const struct ArrowArray *array, const char *what,
                                 struct wn_error *err)
{
    if (array->release == NULL)
        return wn_error_set(err, WN_EDATA, "%s: the array is released (moved out?)", what);
    if (array->length < 0 || array->offset < 0 || array->offset > INT64_MAX - array->length)
        return wn_error_set(err, WN_EDATA, "%s: bad length %" PRId64 " or offset %" PRId64, what,
                            array->length, array->offset);
    if (array->n_buffers < 0 || array->n_children < 0)
        return wn_error_set(err, WN_EDATA, "%s: negative n_buffers or n_children", what);
    if (array->n_buffers > 0 && array->buffers == NULL)
        return wn_error_set(err, WN_EDATA, "%s: n_buffers is %" PRId64 " but buffers is NULL", what,
                            array->n_buffers);
    if (array->n_children > 0 && array->children == NULL)
        return wn_error_set(err, WN_EDATA, "%s: n_children is %" PRId64 " but children is NULL",
                            what, array->n_children);
    if (array->null_count < -1 || array->null_count > array->length)
        return wn_error_set(err, WN_EDATA,
                            "%s: null_count %" PRId64 " is outside -1..length (%" PRId64 ")", what,
                            array->null_count, array->length);
    if (array->n_buffers >= 1) {
        const uint8_t *validity = array->buffers[0];
        if (validity == NULL && array->null_count > 0)
            return wn_error_set(err, WN_EDATA,
                                "%s: null_count is %" PRId64 " but there is no validity bitmap",
                                what, array->null_count);
        if (validity != NULL && array->null_count >= 0) {
            int64_t nulls = count_unset_bits(validity, array->offset, array->length);
            if (nulls != array->null_count)
                return wn_error_set(err, WN_EDATA,
                                    "%s: null_count is %" PRId64
                                    " but the validity bitmap has %" PRId64 " nulls",
                                    what, array->null_count, nulls);
        }
    }
    return 0;
}

/* Checks what can be checked of a metadata blob without its size: a
 * non-negative pair count and non-negative key and value lengths. */
static int validate_metadata(const char *metadata, const char *what, struct wn_error *err)
{
    int32_t n_pairs, len;
    size_t pos = sizeof(int32_t);

    if (metadata == NULL)
        return 0;
    memcpy(&n_pairs, metadata, sizeof(n_pairs));
    if (n_pairs < 0)
        return wn_error_set(err, WN_EDATA, "%s: metadata has a negative pair count (%" PRId32 ")",
                            what, n_pairs);
    for (int64_t i = 0; i < 2 * (int64_t)n_pairs; i++) {
        memcpy(&len, metadata + pos, sizeof(len));
        if (len < 0)
            return wn_error_set(err, WN_EDATA,
                                "%s: metadata %s %" PRId64 " has a negative length (%" PRId32 ")",
                                what, i % 2 == 0 ? "key" : "value", i / 2, len);
        pos += sizeof(len) + (size_t)len;
    }
    return 0;
}

static int validate_buffer_count(const struct ArrowArray *array, int64_t n_buffers,
                                 int64_t n_children, const char *what, struct wn_error *err)
{
    if (array->n_buffers != n_buffers || array->n_children != n_children)
        return wn_error_set(err, WN_EDATA,
                            "%s: has %" PRId64 " buffers and %" PRId64
                            " children, expected %" PRId64 " and %" PRId64,
                            what, array->n_buffers, array->n_children, n_buffers, n_children);
    return 0;
}

static int validate_utf8(const struct ArrowArray *array, bool large, const char *what,
                         struct wn_error *err)
{
    int64_t first = array->offset, last = array->offset + array->length;
    int64_t prev = 0, cur;

    if (array->buffers[1] == NULL) {
        /* A zero-length array may export a NULL offsets buffer (Arrow GH-14805). */
        if (array->length == 0)
            return 0;
        return wn_error_set(err, WN_EDATA, "%s: the offsets buffer is NULL", what);
    }
    for (int64_t i = first; i <= last; i++) {
        if (large) {
            cur = ((const int64_t *)array->buffers[1])[i];
        } else {
            cur = ((const int32_t *)array->buffers[1])[i];
        }
        if (cur < 0)
            return wn_error_set(err, WN_EDATA,
                                "%s: offset %" PRId64 " of row %" PRId64 " is negative", what, cur,
                                i - first);
        if (i > first && cur < prev)
            return wn_error_set(err, WN_EDATA,
                                "%s: offsets are not monotonic at row %" PRId64 " (%" PRId64
                                " then %" PRId64 ")",
                                what, i - first - 1, prev, cur);
        prev = cur;
    }
    /* The C Data Interface carries no buffer sizes: what can be checked of the
     * data buffer is that it exists when offsets point into it. */
    if (prev > 0 && array->buffers[2] == NULL)
        return wn_error_set(err, WN_EDATA,
                            "%s: offsets reach byte %" PRId64 " but the data buffer is NULL", what,
                            prev);
    return 0;
}

static int validate_fixed_list(const struct ArrowArray *array, const struct ArrowSchema *schema,
                               int32_t list_size, const char *what, struct wn_error *err)
{
    const struct ArrowArray *values;
    char child_what[512];
    int rc;

    if (schema->n_children != 1 || schema->children == NULL || schema->children[0] == NULL)
        return wn_error_set(err, WN_EDATA, "%s: the list schema needs exactly one child", what);
    if (schema->children[0]->release == NULL)
        return wn_error_set(err, WN_EDATA, "%s: the list's child schema is released", what);
    rc = validate_buffer_count(array, 1, 1, what, err);
    if (rc < 0)
        return rc;
    values = array->children[0];
    if (values == NULL)
        return wn_error_set(err, WN_EDATA, "%s: the list's values array is NULL", what);
    snprintf(child_what, sizeof(child_what), "%s, list values", what);
    rc = validate_array_common(values, child_what, err);
    if (rc < 0)
        return rc;
    rc = validate_buffer_count(values, 2, 0, child_what, err);
    if (rc < 0)
        return rc;
    /* Cell i of the list is values[(offset + i) * list_size ...] (plus the values' offset). */
    if (array->offset + array->length > values->length / list_size)
        return wn_error_set(err, WN_EDATA,
                            "%s: %" PRId64 " list values for %" PRId64 " lists (offset %" PRId64
                            ") of %" PRId32 " values each",
                            what, values->length, array->length, array->offset, list_size);
    if (values->buffers[1] == NULL && values->length > 0)
        return wn_error_set(err, WN_EDATA, "%s: the values buffer is NULL", child_what);
    return 0;
}

/* Checks column col: its array against its schema, and its length against the
 * struct's offset + length. */
static int validate_column(const struct wn_table *table, int64_t col, struct wn_error *err)
{
    const struct ArrowSchema *schema = table->schema.children[col];
    const struct ArrowArray *array = table->array.children[col];
    enum wn_column_type type;
    int32_t list_size;
    char what[384];
    int rc;

    if (schema == NULL)
        return wn_error_set(err, WN_EDATA, "column %" PRId64 ": the schema is NULL", col);
    snprintf(what, sizeof(what), "column %" PRId64 " ('%s', format '%s')", col,
             schema->name != NULL ? schema->name : "",
             schema->format != NULL ? schema->format : "");
    if (schema->release == NULL)
        return wn_error_set(err, WN_EDATA, "%s: the schema is released (moved out?)", what);
    if (schema->format == NULL)
        return wn_error_set(err, WN_EDATA, "%s: the schema has no format", what);
    if (schema->n_children < 0 || (schema->n_children > 0 && schema->children == NULL))
        return wn_error_set(err, WN_EDATA, "%s: the schema's children are malformed", what);
    rc = validate_metadata(schema->metadata, what, err);
    if (rc < 0)
        return rc;
    if (array == NULL)
        return wn_error_set(err, WN_EDATA, "%s: the array is NULL", what);
    if ((schema->dictionary == NULL) != (array->dictionary == NULL))
        return wn_error_set(err, WN_EDATA, "%s: schema and array disagree on having a dictionary",
                            what);
    rc = validate_array_common(array, what, err);
    if (rc < 0)
        return rc;
    if (array->length < table->array.offset + table->array.length)
        return wn_error_set(err, WN_EDATA,
                            "%s: has %" PRId64 " rows, the table needs %" PRId64 " (offset %" PRId64
                            " + length %" PRId64 ")",
                            what, array->length, table->array.offset + table->array.length,
                            table->array.offset, table->array.length);
    type = schema_type(schema, &list_size);
    if (type != WN_COLUMN_OTHER && type != WN_COLUMN_FIXED_LIST_UINT32 && schema->n_children != 0)
        return wn_error_set(err, WN_EDATA, "%s: a primitive type's schema has %" PRId64 " children",
                            what, schema->n_children);
    switch (type) {
    case WN_COLUMN_UTF8:
    case WN_COLUMN_LARGE_UTF8:
        rc = validate_buffer_count(array, 3, 0, what, err);
        if (rc == 0)
            rc = validate_utf8(array, type == WN_COLUMN_LARGE_UTF8, what, err);
        break;
    case WN_COLUMN_INT32:
    case WN_COLUMN_INT64:
    case WN_COLUMN_UINT32:
    case WN_COLUMN_UINT64:
    case WN_COLUMN_FLOAT64:
    case WN_COLUMN_BOOL:
        rc = validate_buffer_count(array, 2, 0, what, err);
        if (rc == 0 && array->buffers[1] == NULL && array->length > 0)
            rc = wn_error_set(err, WN_EDATA, "%s: the values buffer is NULL", what);
        break;
    case WN_COLUMN_FIXED_LIST_UINT32:
        rc = validate_fixed_list(array, schema, list_size, what, err);
        break;
    case WN_COLUMN_OTHER:
        /* Passed through untouched: its layout is not the helpers' to check,
         * beyond the schema and array agreeing on the children. */
        if (array->n_children != schema->n_children)
            rc = wn_error_set(err, WN_EDATA,
                              "%s: the schema has %" PRId64 " children, the array %" PRId64, what,
                              schema->n_children, array->n_children);
        break;
    }
    return rc;
}

int wn_table_validate(const struct wn_table *table, struct wn_error *err)
{
    const struct ArrowSchema *schema;
    const struct ArrowArray *array;
    int rc;

    if (table == NULL)
        return wn_error_set(err, WN_EINVAL, "no table (NULL)");
    if (!wn_table_is_live(table))
        return wn_error_set(err, WN_EINVAL, "the table is released");
    schema = &table->schema;
    array = &table->array;
    if (schema->format == NULL || strcmp(schema->format, "+s") != 0)
        return wn_error_set(
            err, WN_EDATA,
            "the table's schema has format '%s', a record batch is a struct (\"+s\")",
            schema->format != NULL ? schema->format : "(NULL)");
    if (schema->n_children < 0 || (schema->n_children > 0 && schema->children == NULL))
        return wn_error_set(err, WN_EDATA, "the table's schema has malformed children");
    if (array->n_children != schema->n_children)
        return wn_error_set(err, WN_EDATA,
                            "the table's schema has %" PRId64 " columns but its array has %" PRId64
                            " children",
                            schema->n_children, array->n_children);
    rc = validate_metadata(schema->metadata, "the table's schema", err);
    if (rc < 0)
        return rc;
    rc = validate_array_common(array, "the table's struct array", err);
    if (rc < 0)
        return rc;
    if (array->n_buffers != 1)
        return wn_error_set(err, WN_EDATA,
                            "the table's struct array has %" PRId64
                            " buffers, a struct has 1 (validity)",
                            array->n_buffers);
    for (int64_t col = 0; col < schema->n_children; col++) {
        rc = validate_column(table, col, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- reading cells ------------------------------------------------------ */

/* One column of a table, resolved once for reading many cells. */
struct column_view {
    const struct ArrowSchema *schema;
    const struct ArrowArray *array;
    enum wn_column_type type;
    int32_t list_size;
    int64_t rows;                   /* rows of the table */
    int64_t base;                   /* row r lives at index r + base of the column's buffers */
    int64_t struct_offset;          /* row r's bit in struct_validity is r + struct_offset */
    const uint8_t *struct_validity; /* NULL when the struct array has no nulls */
    enum { NULLS_BITMAP, NULLS_ALL, NULLS_NONE } nulls;
};

static bool view_column(const struct wn_table *table, int64_t col, struct column_view *view)
{
    const struct ArrowArray *top = &table->array;
    const char *format;

    if (!wn_table_is_live(table) || col < 0 || col >= table->schema.n_children ||
        col >= top->n_children || table->schema.children == NULL || top->children == NULL)
        return false;
    view->schema = table->schema.children[col];
    view->array = top->children[col];
    if (view->schema == NULL || view->array == NULL)
        return false;
    view->type = schema_type(view->schema, &view->list_size);
    view->rows = top->length;
    view->base = view->array->offset + top->offset;
    view->struct_offset = top->offset;
    view->struct_validity = NULL;
    if (top->null_count != 0 && top->n_buffers >= 1 && top->buffers != NULL)
        view->struct_validity = top->buffers[0];
    format = view->schema->format != NULL ? view->schema->format : "";
    if (strcmp(format, "n") == 0)
        view->nulls = NULLS_ALL;
    else if (strncmp(format, "+u", 2) == 0 || strcmp(format, "+r") == 0)
        view->nulls = NULLS_NONE; /* unions and run-end encoded arrays have no validity bitmap */
    else
        view->nulls = NULLS_BITMAP;
    return true;
}

static int view_is_null(const struct column_view *view, int64_t row)
{
    const struct ArrowArray *array = view->array;

    if (view->struct_validity != NULL && !bit_get(view->struct_validity, row + view->struct_offset))
        return 1;
    switch (view->nulls) {
    case NULLS_ALL: return 1;
    case NULLS_NONE: return 0;
    case NULLS_BITMAP: break;
    }
    if (array->null_count == 0 || array->n_buffers < 1 || array->buffers[0] == NULL)
        return 0;
    return !bit_get(array->buffers[0], row + view->base);
}

static const char *view_utf8(const struct column_view *view, int64_t row, size_t *len)
{
    const struct ArrowArray *array = view->array;
    int64_t i = row + view->base, start, end;
    const char *data;

    if (view->type == WN_COLUMN_UTF8) {
        const int32_t *offsets = array->buffers[1];
        start = offsets[i];
        end = offsets[i + 1];
    } else {
        const int64_t *offsets = array->buffers[1];
        start = offsets[i];
        end = offsets[i + 1];
    }
    if (len != NULL)
        *len = (size_t)(end - start);
    data = array->buffers[2];
    return data != NULL ? data + start : "";
}

/* Signed value of an integer cell; uint64 above INT64_MAX saturates. */
static int64_t view_int64(const struct column_view *view, int64_t row)
{
    const void *values = view->array->buffers[1];
    int64_t i = row + view->base;
    uint64_t u;

    switch (view->type) {
    case WN_COLUMN_INT32: return ((const int32_t *)values)[i];
    case WN_COLUMN_INT64: return ((const int64_t *)values)[i];
    case WN_COLUMN_UINT32: return ((const uint32_t *)values)[i];
    case WN_COLUMN_UINT64:
        u = ((const uint64_t *)values)[i];
        return u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
    default: return 0;
    }
}

/* Unsigned value of an integer cell; negative values saturate at 0. */
static uint64_t view_uint64(const struct column_view *view, int64_t row)
{
    const void *values = view->array->buffers[1];
    int64_t i = row + view->base, s;

    switch (view->type) {
    case WN_COLUMN_UINT32: return ((const uint32_t *)values)[i];
    case WN_COLUMN_UINT64: return ((const uint64_t *)values)[i];
    case WN_COLUMN_INT32:
    case WN_COLUMN_INT64: s = view_int64(view, row); return s < 0 ? 0 : (uint64_t)s;
    default: return 0;
    }
}

static const uint32_t *view_uint32_list(const struct column_view *view, int64_t row)
{
    const struct ArrowArray *values = view->array->children[0];
    int64_t first = (row + view->base) * view->list_size + values->offset;
    return (const uint32_t *)values->buffers[1] + first;
}

static int view_bool(const struct column_view *view, int64_t row)
{
    return bit_get(view->array->buffers[1], row + view->base);
}

/* Resolves (col, row) for the public readers: false when either is out of range. */
static bool view_cell(const struct wn_table *table, int64_t col, int64_t row,
                      struct column_view *view)
{
    return view_column(table, col, view) && row >= 0 && row < view->rows;
}

/* A cell outside the table (bad col or row) reads as null. */
int wn_table_is_null(const struct wn_table *table, int64_t col, int64_t row)
{
    struct column_view view;

    if (!view_cell(table, col, row, &view))
        return 1;
    return view_is_null(&view, row);
}

const char *wn_table_get_utf8(const struct wn_table *table, int64_t col, int64_t row, size_t *len)
{
    struct column_view view;

    if (len != NULL)
        *len = 0;
    if (!view_cell(table, col, row, &view) ||
        (view.type != WN_COLUMN_UTF8 && view.type != WN_COLUMN_LARGE_UTF8) ||
        view_is_null(&view, row))
        return NULL;
    return view_utf8(&view, row, len);
}

/* Integer cells widened; a uint64 above INT64_MAX saturates; other types read 0. */
int64_t wn_table_get_int64(const struct wn_table *table, int64_t col, int64_t row)
{
    struct column_view view;

    if (!view_cell(table, col, row, &view) || view_is_null(&view, row))
        return 0;
    return view_int64(&view, row);
}

/* Integer cells widened; a negative value saturates at 0; other types read 0. */
uint64_t wn_table_get_uint64(const struct wn_table *table, int64_t col, int64_t row)
{
    struct column_view view;

    if (!view_cell(table, col, row, &view) || view_is_null(&view, row))
        return 0;
    return view_uint64(&view, row);
}

/* FLOAT64 cells, and integer cells converted to double; other types read 0.0. */
double wn_table_get_float64(const struct wn_table *table, int64_t col, int64_t row)
{
    struct column_view view;

    if (!view_cell(table, col, row, &view) || view_is_null(&view, row))
        return 0.0;
    switch (view.type) {
    case WN_COLUMN_FLOAT64: return ((const double *)view.array->buffers[1])[row + view.base];
    case WN_COLUMN_INT32:
    case WN_COLUMN_INT64: return (double)view_int64(&view, row);
    case WN_COLUMN_UINT32:
    case WN_COLUMN_UINT64: return (double)view_uint64(&view, row);
    default: return 0.0;
    }
}

int wn_table_get_bool(const struct wn_table *table, int64_t col, int64_t row)
{
    struct column_view view;

    if (!view_cell(table, col, row, &view) || view.type != WN_COLUMN_BOOL ||
        view_is_null(&view, row))
        return 0;
    return view_bool(&view, row);
}

const uint32_t *wn_table_get_uint32_list(const struct wn_table *table, int64_t col, int64_t row)
{
    struct column_view view;

    if (!view_cell(table, col, row, &view) || view.type != WN_COLUMN_FIXED_LIST_UINT32 ||
        view_is_null(&view, row))
        return NULL;
    return view_uint32_list(&view, row);
}

/* ---- exported structs and their release callbacks ----------------------- */

/* What an exported ArrowSchema owns. */
struct schema_private {
    char *format;
    char *name;
    char *metadata;
    struct ArrowSchema *child_storage; /* the children's structs */
    struct ArrowSchema **child_ptrs;   /* schema->children */
};

/* What an exported ArrowArray owns. */
struct array_private {
    const void *buffers[3];           /* array->buffers; each freed on release */
    struct ArrowArray *child_storage; /* the children's structs */
    struct ArrowArray **child_ptrs;   /* array->children */
};

static void schema_release(struct ArrowSchema *schema)
{
    struct schema_private *priv;

    if (schema == NULL || schema->release == NULL)
        return;
    priv = schema->private_data;
    for (int64_t i = 0; i < schema->n_children; i++) {
        struct ArrowSchema *child = schema->children[i];
        if (child->release != NULL)
            child->release(child);
    }
    free(priv->format);
    free(priv->name);
    free(priv->metadata);
    free(priv->child_storage);
    free(priv->child_ptrs);
    free(priv);
    schema->private_data = NULL;
    schema->release = NULL;
}

static void array_release(struct ArrowArray *array)
{
    struct array_private *priv;

    if (array == NULL || array->release == NULL)
        return;
    priv = array->private_data;
    for (int64_t i = 0; i < array->n_children; i++) {
        struct ArrowArray *child = array->children[i];
        if (child->release != NULL)
            child->release(child);
    }
    for (size_t i = 0; i < 3; i++)
        free((void *)priv->buffers[i]);
    free(priv->child_storage);
    free(priv->child_ptrs);
    free(priv);
    array->private_data = NULL;
    array->release = NULL;
}

/* Makes *schema a live schema owning copies of format, name and metadata and
 * n_children zeroed child structs (to be filled by the caller). */
static int schema_init(struct ArrowSchema *schema, const char *format, const char *name,
                       const char *metadata, int64_t flags, int64_t n_children)
{
    struct schema_private *priv = calloc(1, sizeof(*priv));

    memset(schema, 0, sizeof(*schema));
    if (priv == NULL)
        return WN_ENOMEM;
    priv->format = string_copy(format);
    priv->name = string_copy(name);
    priv->metadata = metadata_copy(metadata);
    if (n_children > 0) {
        priv->child_storage = calloc((size_t)n_children, sizeof(*priv->child_storage));
        priv->child_ptrs = calloc((size_t)n_children, sizeof(*priv->child_ptrs));
    }
    schema->format = priv->format;
    schema->name = priv->name;
    schema->metadata = priv->metadata;
    schema->flags = flags;
    schema->n_children = n_children;
    schema->children = priv->child_ptrs;
    schema->private_data = priv;
    schema->release = schema_release;
    for (int64_t i = 0; priv->child_ptrs != NULL && i < n_children; i++)
        priv->child_ptrs[i] = &priv->child_storage[i];
    if (priv->format == NULL || (name != NULL && priv->name == NULL) ||
        (metadata != NULL && priv->metadata == NULL) ||
        (n_children > 0 && (priv->child_storage == NULL || priv->child_ptrs == NULL))) {
        schema->n_children = 0; /* the children are not live yet */
        schema_release(schema);
        return WN_ENOMEM;
    }
    return 0;
}

/* Makes *array a live array with no buffers yet (the caller moves them into
 * private->buffers) and n_children zeroed child structs. */
static int array_init(struct ArrowArray *array, int64_t n_buffers, int64_t n_children)
{
    struct array_private *priv = calloc(1, sizeof(*priv));

    memset(array, 0, sizeof(*array));
    if (priv == NULL)
        return WN_ENOMEM;
    if (n_children > 0) {
        priv->child_storage = calloc((size_t)n_children, sizeof(*priv->child_storage));
        priv->child_ptrs = calloc((size_t)n_children, sizeof(*priv->child_ptrs));
    }
    array->n_buffers = n_buffers;
    array->buffers = priv->buffers;
    array->n_children = n_children;
    array->children = priv->child_ptrs;
    array->private_data = priv;
    array->release = array_release;
    for (int64_t i = 0; priv->child_ptrs != NULL && i < n_children; i++)
        priv->child_ptrs[i] = &priv->child_storage[i];
    if (n_children > 0 && (priv->child_storage == NULL || priv->child_ptrs == NULL)) {
        array->n_children = 0;
        array_release(array);
        return WN_ENOMEM;
    }
    return 0;
}

/* ---- the builder -------------------------------------------------------- */

/* A growable byte buffer; capacity doubles, so appends are amortised O(1). */
struct growbuf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

static int growbuf_reserve(struct growbuf *buf, size_t extra)
{
    size_t need, cap;
    uint8_t *data;

    if (extra <= buf->cap - buf->len)
        return 0;
    if (extra > SIZE_MAX - buf->len)
        return WN_ENOMEM;
    need = buf->len + extra;
    cap = buf->cap > 0 ? buf->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    data = realloc(buf->data, cap);
    if (data == NULL)
        return WN_ENOMEM;
    buf->data = data;
    buf->cap = cap;
    return 0;
}

/* Hands the buffer's memory to the caller (never NULL once reserved) and empties it. */
static void *growbuf_take(struct growbuf *buf)
{
    void *data = buf->data;
    memset(buf, 0, sizeof(*buf));
    return data;
}

struct builder_column {
    char *name;
    enum wn_column_type type;
    int32_t list_size;
    int64_t length;
    int64_t null_count;
    struct growbuf validity; /* one bit a row, kept even when no row is null */
    struct growbuf values;   /* fixed-width values, bool bits, list values or utf8 offsets */
    struct growbuf data;     /* utf8 bytes */
};

struct wn_table_builder {
    struct builder_column *columns;
    size_t n_columns;
    size_t cap_columns;
    struct wn_error last_error;
};

static int builder_fail(struct wn_table_builder *builder, int code, const char *fmt, ...)
    WN_PRINTF(3, 4);

static int builder_fail(struct wn_table_builder *builder, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    wn_error_setv(&builder->last_error, code, fmt, ap);
    va_end(ap);
    return code;
}

struct wn_table_builder *wn_table_builder_new(void)
{
    return calloc(1, sizeof(struct wn_table_builder));
}

static void column_free(struct builder_column *column)
{
    free(column->name);
    free(column->validity.data);
    free(column->values.data);
    free(column->data.data);
}

void wn_table_builder_free(struct wn_table_builder *builder)
{
    if (builder == NULL)
        return;
    for (size_t i = 0; i < builder->n_columns; i++)
        column_free(&builder->columns[i]);
    free(builder->columns);
    free(builder);
}

const char *wn_table_builder_last_error(const struct wn_table_builder *builder)
{
    return builder != NULL ? builder->last_error.message : "no builder (NULL)";
}

/* Adds a column; unique asks for a name no other column has (the public
 * call), the copying helpers pass false to keep an input's duplicate names. */
static int builder_add(struct wn_table_builder *builder, const char *name, enum wn_column_type type,
                       int32_t list_size, bool unique)
{
    struct builder_column *column;

    if (type <= WN_COLUMN_OTHER || type > WN_COLUMN_FIXED_LIST_UINT32)
        return builder_fail(builder, WN_EINVAL, "column '%s': unknown column type %d",
                            name != NULL ? name : "", (int)type);
    if (type == WN_COLUMN_FIXED_LIST_UINT32 && list_size <= 0)
        return builder_fail(builder, WN_EINVAL,
                            "column '%s': a fixed-size list needs list_size > 0 (got %" PRId32 ")",
                            name != NULL ? name : "", list_size);
    if (builder->n_columns >= INT_MAX)
        return builder_fail(builder, WN_EINVAL, "too many columns");
    for (size_t i = 0; unique && i < builder->n_columns; i++)
        if (builder->columns[i].name != NULL && strcmp(builder->columns[i].name, name) == 0)
            return builder_fail(builder, WN_EINVAL,
                                "column '%s' already exists (column %zu); names must be unique",
                                name, i);
    if (builder->n_columns == builder->cap_columns) {
        size_t cap = builder->cap_columns > 0 ? builder->cap_columns * 2 : 8;
        struct builder_column *columns = realloc(builder->columns, cap * sizeof(*columns));
        if (columns == NULL)
            return builder_fail(builder, WN_ENOMEM, "out of memory adding column '%s'",
                                name != NULL ? name : "");
        builder->columns = columns;
        builder->cap_columns = cap;
    }
    column = &builder->columns[builder->n_columns];
    memset(column, 0, sizeof(*column));
    column->name = string_copy(name);
    if (name != NULL && column->name == NULL)
        return builder_fail(builder, WN_ENOMEM, "out of memory adding column '%s'", name);
    column->type = type;
    column->list_size = type == WN_COLUMN_FIXED_LIST_UINT32 ? list_size : 0;
    return (int)builder->n_columns++;
}

int wn_table_builder_add_column(struct wn_table_builder *builder, const char *name,
                                enum wn_column_type type, int32_t list_size)
{
    if (builder == NULL)
        return WN_EINVAL;
    if (name == NULL)
        return builder_fail(builder, WN_EINVAL, "a column needs a name (got NULL)");
    return builder_add(builder, name, type, list_size, true);
}

/* Reserves room for one more row's validity bit (and bool value bit). */
static int column_reserve_row_bits(struct builder_column *column)
{
    int rc = 0;

    if (column->length % 8 == 0) {
        rc = growbuf_reserve(&column->validity, 1);
        if (rc == 0 && column->type == WN_COLUMN_BOOL)
            rc = growbuf_reserve(&column->values, 1);
    }
    return rc;
}

/* Sets the validity bit of the next row (space reserved) without counting the row. */
static void column_push_validity(struct builder_column *column, bool valid)
{
    int64_t row = column->length;

    if (row % 8 == 0)
        column->validity.data[column->validity.len++] = 0;
    if (valid)
        column->validity.data[row / 8] |= (uint8_t)(1u << (row % 8));
    else
        column->null_count++;
}

/* Appends a bool row (space reserved). */
static void column_push_bool_value(struct builder_column *column, bool value)
{
    int64_t row = column->length;

    if (row % 8 == 0)
        column->values.data[column->values.len++] = 0;
    if (value)
        column->values.data[row / 8] |= (uint8_t)(1u << (row % 8));
}

static int column_oom(struct wn_table_builder *builder, const struct builder_column *column)
{
    return builder_fail(builder, WN_ENOMEM, "column '%s': out of memory after %" PRId64 " rows",
                        column->name != NULL ? column->name : "", column->length);
}

/* Appends one fixed-width row: bytes (width bytes) or, when NULL, zeros for a null. */
static int column_append_fixed(struct wn_table_builder *builder, struct builder_column *column,
                               const void *bytes)
{
    size_t width = value_width(column->type, column->list_size);

    if (column_reserve_row_bits(column) < 0 || growbuf_reserve(&column->values, width) < 0)
        return column_oom(builder, column);
    column_push_validity(column, bytes != NULL);
    if (bytes != NULL)
        memcpy(column->values.data + column->values.len, bytes, width);
    else
        memset(column->values.data + column->values.len, 0, width);
    column->values.len += width;
    column->length++;
    return 0;
}

static int column_append_bool(struct wn_table_builder *builder, struct builder_column *column,
                              bool valid, bool value)
{
    if (column_reserve_row_bits(column) < 0)
        return column_oom(builder, column);
    column_push_validity(column, valid);
    column_push_bool_value(column, valid && value);
    column->length++;
    return 0;
}

/* Appends one utf8 row (value NULL: a null row). */
static int column_append_utf8(struct wn_table_builder *builder, struct builder_column *column,
                              const char *value, size_t len)
{
    bool large = column->type == WN_COLUMN_LARGE_UTF8;
    size_t width = large ? sizeof(int64_t) : sizeof(int32_t);
    size_t limit = large ? (size_t)INT64_MAX : (size_t)INT32_MAX;
    size_t n_offsets = column->values.len == 0 ? 2 : 1;
    size_t end;

    if (len > limit - column->data.len) {
        if (!large)
            return builder_fail(builder, WN_EINVAL,
                                "column '%s' (utf8): %zu more bytes at row %" PRId64
                                " would take the column past %zu bytes, the limit of utf8's "
                                "32-bit offsets; make the column WN_COLUMN_LARGE_UTF8 (\"U\")",
                                column->name != NULL ? column->name : "", len, column->length,
                                limit);
        return builder_fail(builder, WN_EINVAL,
                            "column '%s' (large_utf8): %zu more bytes overflow 64-bit offsets",
                            column->name != NULL ? column->name : "", len);
    }
    if (column_reserve_row_bits(column) < 0 ||
        growbuf_reserve(&column->values, n_offsets * width) < 0 ||
        growbuf_reserve(&column->data, len) < 0)
        return column_oom(builder, column);
    column_push_validity(column, value != NULL);
    if (column->values.len == 0) {
        memset(column->values.data, 0, width);
        column->values.len = width;
    }
    if (value != NULL && len > 0) {
        memcpy(column->data.data + column->data.len, value, len);
        column->data.len += len;
    }
    end = column->data.len;
    if (large) {
        int64_t offset = (int64_t)end;
        memcpy(column->values.data + column->values.len, &offset, width);
    } else {
        int32_t offset = (int32_t)end;
        memcpy(column->values.data + column->values.len, &offset, width);
    }
    column->values.len += width;
    column->length++;
    return 0;
}

static int column_append_null(struct wn_table_builder *builder, struct builder_column *column)
{
    switch (column->type) {
    case WN_COLUMN_UTF8:
    case WN_COLUMN_LARGE_UTF8: return column_append_utf8(builder, column, NULL, 0);
    case WN_COLUMN_BOOL: return column_append_bool(builder, column, false, false);
    default: return column_append_fixed(builder, column, NULL);
    }
}

/* The column col, or NULL (builder's error set) when col is out of range. */
static struct builder_column *builder_column(struct wn_table_builder *builder, int col)
{
    if (col < 0 || (size_t)col >= builder->n_columns) {
        builder_fail(builder, WN_EINVAL, "no column %d (the builder has %zu)", col,
                     builder->n_columns);
        return NULL;
    }
    return &builder->columns[col];
}

static int wrong_family(struct wn_table_builder *builder, const struct builder_column *column,
                        const char *family)
{
    return builder_fail(builder, WN_EINVAL, "column '%s' is %s: cannot append a %s value",
                        column->name != NULL ? column->name : "", type_name(column->type), family);
}

int wn_table_builder_append_utf8(struct wn_table_builder *builder, int col, const char *value,
                                 size_t len)
{
    struct builder_column *column;

    if (builder == NULL)
        return WN_EINVAL;
    column = builder_column(builder, col);
    if (column == NULL)
        return WN_EINVAL;
    if (column->type != WN_COLUMN_UTF8 && column->type != WN_COLUMN_LARGE_UTF8)
        return wrong_family(builder, column, "utf8");
    if (value == NULL && len > 0)
        return builder_fail(builder, WN_EINVAL, "column '%s': NULL value with length %zu",
                            column->name != NULL ? column->name : "", len);
    return column_append_utf8(builder, column, value != NULL ? value : "", len);
}

/* Appends a signed value to an INT32 or INT64 column, range-checked. */
static int column_append_signed(struct wn_table_builder *builder, struct builder_column *column,
                                int64_t value)
{
    if (column->type == WN_COLUMN_INT64)
        return column_append_fixed(builder, column, &value);
    if (column->type == WN_COLUMN_INT32) {
        int32_t v32;
        if (value < INT32_MIN || value > INT32_MAX)
            return builder_fail(builder, WN_EINVAL,
                                "column '%s' (int32): value %" PRId64
                                " is out of range [%d, %d]; use WN_COLUMN_INT64",
                                column->name != NULL ? column->name : "", value, INT32_MIN,
                                INT32_MAX);
        v32 = (int32_t)value;
        return column_append_fixed(builder, column, &v32);
    }
    return wrong_family(builder, column, "signed integer");
}

/* Appends an unsigned value to a UINT32 or UINT64 column, range-checked. */
static int column_append_unsigned(struct wn_table_builder *builder, struct builder_column *column,
                                  uint64_t value)
{
    if (column->type == WN_COLUMN_UINT64)
        return column_append_fixed(builder, column, &value);
    if (column->type == WN_COLUMN_UINT32) {
        uint32_t v32;
        if (value > UINT32_MAX)
            return builder_fail(builder, WN_EINVAL,
                                "column '%s' (uint32): value %" PRIu64
                                " is out of range [0, %u]; use WN_COLUMN_UINT64",
                                column->name != NULL ? column->name : "", value, UINT32_MAX);
        v32 = (uint32_t)value;
        return column_append_fixed(builder, column, &v32);
    }
    return wrong_family(builder, column, "unsigned integer");
}

int wn_table_builder_append_int64(struct wn_table_builder *builder, int col, int64_t value)
{
    struct builder_column *column;

    if (builder == NULL)
        return WN_EINVAL;
    column = builder_column(builder, col);
    return column != NULL ? column_append_signed(builder, column, value) : WN_EINVAL;
}

int wn_table_builder_append_uint64(struct wn_table_builder *builder, int col, uint64_t value)
{
    struct builder_column *column;

    if (builder == NULL)
        return WN_EINVAL;
    column = builder_column(builder, col);
    return column != NULL ? column_append_unsigned(builder, column, value) : WN_EINVAL;
}

int wn_table_builder_append_float64(struct wn_table_builder *builder, int col, double value)
{
    struct builder_column *column;

    if (builder == NULL)
        return WN_EINVAL;
    column = builder_column(builder, col);
    if (column == NULL)
        return WN_EINVAL;
    if (column->type != WN_COLUMN_FLOAT64)
        return wrong_family(builder, column, "float64");
    return column_append_fixed(builder, column, &value);
}

int wn_table_builder_append_bool(struct wn_table_builder *builder, int col, int value)
{
    struct builder_column *column;

    if (builder == NULL)
        return WN_EINVAL;
    column = builder_column(builder, col);
    if (column == NULL)
        return WN_EINVAL;
    if (column->type != WN_COLUMN_BOOL)
        return wrong_family(builder, column, "bool");
    return column_append_bool(builder, column, true, value != 0);
}

int wn_table_builder_append_uint32_list(struct wn_table_builder *builder, int col,
                                        const uint32_t *values)
{
    struct builder_column *column;

    if (builder == NULL)
        return WN_EINVAL;
    column = builder_column(builder, col);
    if (column == NULL)
        return WN_EINVAL;
    if (column->type != WN_COLUMN_FIXED_LIST_UINT32)
        return wrong_family(builder, column, "uint32 list");
    if (values == NULL)
        return builder_fail(builder, WN_EINVAL,
                            "column '%s': NULL list (use wn_table_builder_append_null for a null)",
                            column->name != NULL ? column->name : "");
    return column_append_fixed(builder, column, values);
}

int wn_table_builder_append_null(struct wn_table_builder *builder, int col)
{
    struct builder_column *column;

    if (builder == NULL)
        return WN_EINVAL;
    column = builder_column(builder, col);
    return column != NULL ? column_append_null(builder, column) : WN_EINVAL;
}

/* The family of a type: the two utf8 widths, the signed and the unsigned
 * integers each form one; the others stand alone. */
static int type_family(enum wn_column_type type)
{
    switch (type) {
    case WN_COLUMN_LARGE_UTF8: return WN_COLUMN_UTF8;
    case WN_COLUMN_INT32: return WN_COLUMN_INT64;
    case WN_COLUMN_UINT32: return WN_COLUMN_UINT64;
    default: return type;
    }
}

/* Appends cell row of view (a column of another table) to column; the
 * families must match even for a null cell, so a mistake shows on any row. */
static int column_append_view_cell(struct wn_table_builder *builder, struct builder_column *column,
                                   const struct column_view *view, int64_t row)
{
    const char *s;
    size_t len;

    if (view->type == WN_COLUMN_OTHER)
        return builder_fail(builder, WN_EUNSUPPORTED,
                            "column '%s': cannot copy a cell of Arrow format '%s'",
                            column->name != NULL ? column->name : "",
                            view->schema->format != NULL ? view->schema->format : "(NULL)");
    if (type_family(view->type) != type_family(column->type))
        return wrong_family(builder, column, type_name(view->type));
    if (view->type == WN_COLUMN_FIXED_LIST_UINT32 && column->list_size != view->list_size)
        return builder_fail(builder, WN_EINVAL,
                            "column '%s' holds lists of %" PRId32 " values, the cell has %" PRId32,
                            column->name != NULL ? column->name : "", column->list_size,
                            view->list_size);
    if (view_is_null(view, row))
        return column_append_null(builder, column);
    switch (view->type) {
    case WN_COLUMN_UTF8:
    case WN_COLUMN_LARGE_UTF8:
        s = view_utf8(view, row, &len);
        return column_append_utf8(builder, column, s, len);
    case WN_COLUMN_INT32:
    case WN_COLUMN_INT64: return column_append_signed(builder, column, view_int64(view, row));
    case WN_COLUMN_UINT32:
    case WN_COLUMN_UINT64: return column_append_unsigned(builder, column, view_uint64(view, row));
    case WN_COLUMN_FLOAT64:
        return column_append_fixed(builder, column,
                                   &((const double *)view->array->buffers[1])[row + view->base]);
    case WN_COLUMN_BOOL: return column_append_bool(builder, column, true, view_bool(view, row));
    case WN_COLUMN_FIXED_LIST_UINT32: {
        const struct ArrowArray *values = view->array->children[0];
        /* The builder has no element-level nulls: refuse rather than lose them. */
        if (values->null_count != 0 && values->n_buffers >= 1 && values->buffers[0] != NULL) {
            int64_t first = (row + view->base) * view->list_size + values->offset;
            if (count_unset_bits(values->buffers[0], first, view->list_size) > 0)
                return builder_fail(builder, WN_EUNSUPPORTED,
                                    "column '%s': row %" PRId64
                                    " has null list elements, which the table helpers do not copy",
                                    column->name != NULL ? column->name : "", row);
        }
        return column_append_fixed(builder, column, view_uint32_list(view, row));
    }
    case WN_COLUMN_OTHER: break;
    }
    return builder_fail(builder, WN_EINTERNAL, "column '%s': unhandled column type %d",
                        column->name != NULL ? column->name : "", (int)view->type);
}

int wn_table_builder_append_cell(struct wn_table_builder *builder, int col,
                                 const struct wn_table *in, int64_t in_col, int64_t row)
{
    struct builder_column *column;
    struct column_view view;

    if (builder == NULL)
        return WN_EINVAL;
    column = builder_column(builder, col);
    if (column == NULL)
        return WN_EINVAL;
    if (!view_column(in, in_col, &view))
        return builder_fail(builder, WN_EINVAL, "the source table has no column %" PRId64, in_col);
    if (row < 0 || row >= view.rows)
        return builder_fail(builder, WN_EINVAL,
                            "row %" PRId64 " is outside the source table's %" PRId64 " rows", row,
                            view.rows);
    return column_append_view_cell(builder, column, &view, row);
}

/* Room for rows more rows in column (a hint: the appends still grow as needed). */
static int column_reserve_rows(struct builder_column *column, int64_t rows)
{
    size_t n = (size_t)rows;
    int rc = growbuf_reserve(&column->validity, n / 8 + 1);

    if (rc == 0) {
        switch (column->type) {
        case WN_COLUMN_UTF8:
            rc = growbuf_reserve(&column->values, (n + 1) * sizeof(int32_t));
            break;
        case WN_COLUMN_LARGE_UTF8:
            rc = growbuf_reserve(&column->values, (n + 1) * sizeof(int64_t));
            break;
        case WN_COLUMN_BOOL: rc = growbuf_reserve(&column->values, n / 8 + 1); break;
        default:
            rc = growbuf_reserve(&column->values, n * value_width(column->type, column->list_size));
        }
    }
    return rc;
}

/* Exports column into a fresh child schema/array pair; template (may be NULL)
 * lends its flags and metadata.  Takes the column's buffers only on success. */
static int column_export(struct builder_column *column, const struct ArrowSchema *template,
                         struct ArrowSchema *schema, struct ArrowArray *array)
{
    const char *format = NULL;
    char list_format[32];
    int64_t n_buffers = 2, n_children = 0;
    int64_t flags = template != NULL ? template->flags : ARROW_FLAG_NULLABLE;
    const char *metadata = template != NULL ? template->metadata : NULL;
    struct array_private *priv;
    int rc;

    switch (column->type) {
    case WN_COLUMN_UTF8:
        format = "u";
        n_buffers = 3;
        break;
    case WN_COLUMN_LARGE_UTF8:
        format = "U";
        n_buffers = 3;
        break;
    case WN_COLUMN_INT32: format = "i"; break;
    case WN_COLUMN_INT64: format = "l"; break;
    case WN_COLUMN_UINT32: format = "I"; break;
    case WN_COLUMN_UINT64: format = "L"; break;
    case WN_COLUMN_FLOAT64: format = "g"; break;
    case WN_COLUMN_BOOL: format = "b"; break;
    case WN_COLUMN_FIXED_LIST_UINT32:
        snprintf(list_format, sizeof(list_format), "+w:%" PRId32, column->list_size);
        format = list_format;
        n_buffers = 1;
        n_children = 1;
        break;
    case WN_COLUMN_OTHER: return WN_EINTERNAL;
    }
    /* Every exported buffer is non-NULL (some Arrow consumers reject NULL
     * even for empty buffers): make sure each holds at least a few bytes, and
     * that utf8 offsets start with their 0. */
    if (growbuf_reserve(&column->values, 8) < 0 ||
        (n_buffers == 3 && growbuf_reserve(&column->data, 1) < 0))
        return WN_ENOMEM;
    if ((column->type == WN_COLUMN_UTF8 || column->type == WN_COLUMN_LARGE_UTF8) &&
        column->values.len == 0) {
        memset(column->values.data, 0, 8);
        column->values.len = column->type == WN_COLUMN_UTF8 ? 4 : 8;
    }
    rc = schema_init(schema, format, column->name, metadata, flags, n_children);
    if (rc < 0)
        return rc;
    rc = array_init(array, n_buffers, n_children);
    if (rc < 0)
        goto out_release_schema;
    if (n_children == 1) {
        const struct ArrowSchema *template_child =
            template != NULL && template->n_children == 1 ? template->children[0] : NULL;
        rc = schema_init(
            schema->children[0], "I",
            template_child != NULL && template_child->name != NULL ? template_child->name : "item",
            template_child != NULL ? template_child->metadata : NULL,
            template_child != NULL ? template_child->flags : ARROW_FLAG_NULLABLE, 0);
        if (rc < 0)
            goto out_release_array;
        rc = array_init(array->children[0], 2, 0);
        if (rc < 0)
            goto out_release_array;
    }

    /* Nothing fails from here: move the buffers. */
    array->length = column->length;
    array->null_count = column->null_count;
    priv = array->private_data;
    if (column->null_count > 0) {
        priv->buffers[0] = growbuf_take(&column->validity);
    } else {
        column->validity.len = 0; /* kept by the builder for its next rows */
    }
    if (n_children == 1) {
        struct ArrowArray *values = array->children[0];
        struct array_private *values_priv = values->private_data;
        values->length = column->length * column->list_size;
        values->null_count = 0;
        values_priv->buffers[1] = growbuf_take(&column->values);
    } else {
        priv->buffers[1] = growbuf_take(&column->values);
        if (n_buffers == 3)
            priv->buffers[2] = growbuf_take(&column->data);
    }
    column->length = 0;
    column->null_count = 0;
    return 0;

out_release_array:
    array_release(array);
out_release_schema:
    schema_release(schema);
    return rc;
}

/* Finishes builder into *out; templates (may be NULL) give the table's and
 * each column's flags and metadata to keep, for the copying helpers, and
 * rows_without_columns the length of a table with no columns. */
static int builder_finish(struct wn_table_builder *builder, const struct ArrowSchema *template,
                          const struct ArrowSchema *const *column_templates,
                          int64_t rows_without_columns, struct wn_table *out, struct wn_error *err)
{
    struct wn_table table;
    int64_t rows = builder->n_columns > 0 ? builder->columns[0].length : rows_without_columns;
    int rc;

    for (size_t i = 1; i < builder->n_columns; i++) {
        if (builder->columns[i].length != rows) {
            rc = builder_fail(
                builder, WN_EINVAL,
                "columns have different lengths: '%s' has %" PRId64 " rows, '%s' has %" PRId64,
                builder->columns[0].name != NULL ? builder->columns[0].name : "", rows,
                builder->columns[i].name != NULL ? builder->columns[i].name : "",
                builder->columns[i].length);
            return wn_error_set(err, rc, "%s", builder->last_error.message);
        }
    }
    memset(&table, 0, sizeof(table));
    rc = schema_init(&table.schema, "+s", "", template != NULL ? template->metadata : NULL,
                     template != NULL ? template->flags : 0, (int64_t)builder->n_columns);
    if (rc < 0)
        goto out_oom;
    rc = array_init(&table.array, 1, (int64_t)builder->n_columns);
    if (rc < 0)
        goto out_release_schema;
    /* The children stay zeroed (released) until exported, so a failure
     * half-way releases only what was exported. */
    for (size_t i = 0; i < builder->n_columns; i++) {
        rc = column_export(&builder->columns[i],
                           column_templates != NULL ? column_templates[i] : NULL,
                           table.schema.children[i], table.array.children[i]);
        if (rc < 0)
            goto out_release_array;
    }
    table.array.length = rows;
    table.array.null_count = 0;
    *out = table;
    return 0;

out_release_array:
    /* Columns already exported gave their rows to the table: the builder
     * cannot get them back, so it restarts empty rather than inconsistent. */
    for (size_t i = 0; i < builder->n_columns; i++) {
        struct builder_column *column = &builder->columns[i];
        column->length = 0;
        column->null_count = 0;
        column->validity.len = column->values.len = column->data.len = 0;
    }
    table.array.release(&table.array);
out_release_schema:
    table.schema.release(&table.schema);
out_oom:
    builder_fail(builder, WN_ENOMEM,
                 "out of memory finishing a table of %zu columns, %" PRId64 " rows",
                 builder->n_columns, rows);
    return wn_error_set(err, WN_ENOMEM, "%s", builder->last_error.message);
}

int wn_table_builder_finish(struct wn_table_builder *builder, struct wn_table *out,
                            struct wn_error *err)
{
    if (builder == NULL || out == NULL)
        return wn_error_set(err, WN_EINVAL, "wn_table_builder_finish: NULL builder or output");
    return builder_finish(builder, NULL, NULL, 0, out, err);
}

/* ---- transforming ------------------------------------------------------- */

/* Copies columns cols[0..n_cols) of in, rows whose keep[row] is nonzero (all
 * when keep is NULL), into a fresh *out.  what names the operation. */
static int copy_columns(const struct wn_table *in, const int64_t *cols, size_t n_cols,
                        const uint8_t *keep, struct wn_table *out, const char *what,
                        struct wn_error *err)
{
    struct wn_table_builder *builder;
    const struct ArrowSchema **templates = NULL;
    struct column_view view;
    int64_t rows = in->array.length, kept = 0;
    int rc = 0;

    builder = wn_table_builder_new();
    templates = calloc(n_cols > 0 ? n_cols : 1, sizeof(*templates));
    if (builder == NULL || templates == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", what);
        goto out_free;
    }
    for (int64_t row = 0; row < rows; row++)
        kept += keep == NULL || keep[row] != 0;
    for (size_t i = 0; i < n_cols; i++) {
        if (!view_column(in, cols[i], &view)) {
            rc = wn_error_set(err, WN_EDATA, "%s: the table's column %" PRId64 " is malformed",
                              what, cols[i]);
            goto out_free;
        }
        if (view.type == WN_COLUMN_OTHER) {
            rc = wn_error_set(err, WN_EUNSUPPORTED,
                              "%s: column '%s' has Arrow format '%s', which the table helpers "
                              "cannot copy (they copy u, U, i, l, I, L, g, b and +w:N of I)",
                              what, view.schema->name != NULL ? view.schema->name : "",
                              view.schema->format != NULL ? view.schema->format : "(NULL)");
            goto out_free;
        }
        templates[i] = view.schema;
        rc = builder_add(builder, view.schema->name, view.type, view.list_size, false);
        if (rc >= 0 && column_reserve_rows(&builder->columns[i], kept) < 0)
            rc = column_oom(builder, &builder->columns[i]);
        if (rc < 0) {
            rc = wn_error_set(err, rc, "%s: %s", what, builder->last_error.message);
            goto out_free;
        }
    }
    for (size_t i = 0; i < n_cols; i++) {
        struct builder_column *column = &builder->columns[i];
        view_column(in, cols[i], &view);
        for (int64_t row = 0; row < rows; row++) {
            if (keep != NULL && keep[row] == 0)
                continue;
            rc = column_append_view_cell(builder, column, &view, row);
            if (rc < 0) {
                rc = wn_error_set(err, rc, "%s: row %" PRId64 ": %s", what, row,
                                  builder->last_error.message);
                goto out_free;
            }
        }
    }
    rc = builder_finish(builder, &in->schema, templates, kept, out, err);
    if (rc < 0)
        wn_error_prefix(err, "%s", what);

out_free:
    free(templates);
    wn_table_builder_free(builder);
    return rc;
}

int wn_table_filter(const struct wn_table *in, const uint8_t *keep, struct wn_table *out,
                    struct wn_error *err)
{
    int64_t *cols;
    int64_t n_cols;
    int rc;

    if (out == NULL || out == in || !wn_table_is_live(in))
        return wn_error_set(err, WN_EINVAL, "wn_table_filter: %s",
                            out == NULL ? "no output table"
                            : out == in ? "the output is the input (the input is not modified)"
                                        : "the input table is released");
    if (keep == NULL && in->array.length > 0)
        return wn_error_set(err, WN_EINVAL, "wn_table_filter: no keep mask for %" PRId64 " rows",
                            in->array.length);
    n_cols = in->schema.n_children;
    cols = malloc((size_t)(n_cols > 0 ? n_cols : 1) * sizeof(*cols));
    if (cols == NULL)
        return wn_error_set(err, WN_ENOMEM, "wn_table_filter: out of memory");
    for (int64_t i = 0; i < n_cols; i++)
        cols[i] = i;
    rc = copy_columns(in, cols, (size_t)n_cols, keep, out, "wn_table_filter", err);
    free(cols);
    return rc;
}

/* Appends ", 'name'" for every column of table to buf (for "not found" messages). */
static void list_column_names(const struct wn_table *table, char *buf, size_t size)
{
    size_t used = strlen(buf);

    for (int64_t i = 0; i < table->schema.n_children && used + 1 < size; i++) {
        const char *name = wn_table_column_name(table, i);
        int n = snprintf(buf + used, size - used, "%s'%s'", i > 0 ? ", " : "",
                         name != NULL ? name : "");
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

int wn_table_select_columns(const struct wn_table *in, const char *const *names, size_t n_names,
                            struct wn_table *out, struct wn_error *err)
{
    int64_t *cols;
    char available[768];
    int rc = 0;

    if (out == NULL || out == in || !wn_table_is_live(in) || (names == NULL && n_names > 0))
        return wn_error_set(err, WN_EINVAL, "wn_table_select_columns: %s",
                            out == NULL     ? "no output table"
                            : out == in     ? "the output is the input (the input is not modified)"
                            : names == NULL ? "no column names"
                                            : "the input table is released");
    cols = malloc((n_names > 0 ? n_names : 1) * sizeof(*cols));
    if (cols == NULL)
        return wn_error_set(err, WN_ENOMEM, "wn_table_select_columns: out of memory");
    for (size_t i = 0; i < n_names; i++) {
        cols[i] = wn_table_column_index(in, names[i]);
        if (cols[i] < 0) {
            available[0] = '\0';
            list_column_names(in, available, sizeof(available));
            rc = wn_error_set(err, WN_ENOTFOUND,
                              "wn_table_select_columns: no column '%s'; the table has %" PRId64
                              " columns: %s",
                              names[i] != NULL ? names[i] : "(NULL)", in->schema.n_children,
                              in->schema.n_children > 0 ? available : "(none)");
            goto out_free;
        }
        for (size_t j = 0; j < i; j++) {
            if (cols[j] == cols[i]) {
                rc = wn_error_set(err, WN_EINVAL,
                                  "wn_table_select_columns: column '%s' is selected twice "
                                  "(names %zu and %zu)",
                                  names[i], j, i);
                goto out_free;
            }
        }
    }
    rc = copy_columns(in, cols, n_names, NULL, out, "wn_table_select_columns", err);

out_free:
    free(cols);
    return rc;
}
