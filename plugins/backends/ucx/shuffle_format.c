/* wn_ucx_segment_*: table rows to self-describing segments and back. */
#include "build_config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "shuffle_format.h"
#include "shuffle_pool.h"

#define ALIGN8(n) (((n) + (size_t)7) & ~(size_t)7)

/* On the wire, after the header: one per column, then the name bytes. */
struct column_desc {
    uint8_t type; /* enum wn_column_type */
    uint8_t has_validity;
    uint16_t name_len;
    int32_t list_size;
};

static inline int bit_get(const uint8_t *bits, uint64_t i)
{
    return (bits[i >> 3] >> (i & 7)) & 1;
}

static inline void bit_put(uint8_t *bits, uint64_t i, int value)
{
    if (value)
        bits[i >> 3] |= (uint8_t)(1u << (i & 7));
    else
        bits[i >> 3] &= (uint8_t) ~(1u << (i & 7));
}

static size_t bitmap_bytes(uint64_t n)
{
    return (size_t)((n + 7) / 8);
}

/* ---- reading a source table ---------------------------------------------- */

/* Where the cells of one column of a table live. */
struct column_src {
    enum wn_column_type type;
    int32_t list_size;
    size_t width; /* bytes per cell: fixed types and lists */
    const char *name;
    size_t name_len;
    int64_t col;
    int64_t base;          /* row r is at index base + r of the column's buffers */
    const uint8_t *values; /* fixed types, bool bitmap, utf8 offsets */
    const char *chars;     /* utf8 bytes */
    const uint32_t *list_values;
    int64_t list_child_offset;
    bool maybe_null;
};

static size_t type_width(enum wn_column_type type, int32_t list_size)
{
    switch (type) {
    case WN_COLUMN_INT32:
    case WN_COLUMN_UINT32: return 4;
    case WN_COLUMN_INT64:
    case WN_COLUMN_UINT64:
    case WN_COLUMN_FLOAT64: return 8;
    case WN_COLUMN_FIXED_LIST_UINT32: return (size_t)list_size * 4;
    case WN_COLUMN_UTF8: return 4; /* offset width */
    case WN_COLUMN_LARGE_UTF8: return 8;
    default: return 0;
    }
}

static void column_src_init(const struct wn_table *table, int64_t col, struct column_src *src)
{
    const struct ArrowArray *top = &table->array;
    const struct ArrowArray *array = top->children[col];

    memset(src, 0, sizeof(*src));
    src->col = col;
    src->type = wn_table_column_type(table, col);
    src->list_size = wn_table_column_list_size(table, col);
    src->width = type_width(src->type, src->list_size);
    src->name = wn_table_column_name(table, col);
    if (src->name == NULL)
        src->name = "";
    src->name_len = strlen(src->name);
    src->base = top->offset + array->offset;
    src->maybe_null =
        (array->null_count != 0 && array->n_buffers > 0 && array->buffers[0] != NULL) ||
        (top->null_count != 0 && top->n_buffers > 0 && top->buffers[0] != NULL);
    if (src->type == WN_COLUMN_FIXED_LIST_UINT32) {
        const struct ArrowArray *child = array->children[0];

        src->list_values = child->buffers[1];
        src->list_child_offset = child->offset;
    } else {
        src->values = array->buffers[1];
        if (src->type == WN_COLUMN_UTF8 || src->type == WN_COLUMN_LARGE_UTF8)
            src->chars = array->buffers[2];
    }
}

static bool src_has_nulls(const struct wn_table *table, const struct column_src *src,
                          const uint32_t *rows, size_t n)
{
    if (!src->maybe_null)
        return false;
    for (size_t i = 0; i < n; i++)
        if (wn_table_is_null(table, src->col, rows[i]))
            return true;
    return false;
}

static uint64_t src_utf8_len(const struct column_src *src, uint32_t row)
{
    int64_t i = src->base + row;

    if (src->type == WN_COLUMN_UTF8) {
        const int32_t *off = (const int32_t *)src->values;
        return (uint64_t)(off[i + 1] - off[i]);
    } else {
        const int64_t *off = (const int64_t *)src->values;
        return (uint64_t)(off[i + 1] - off[i]);
    }
}

static const char *src_utf8(const struct column_src *src, uint32_t row)
{
    int64_t i = src->base + row;

    if (src->type == WN_COLUMN_UTF8)
        return src->chars + ((const int32_t *)src->values)[i];
    return src->chars + ((const int64_t *)src->values)[i];
}

int wn_ucx_format_check(const struct wn_table *table, struct wn_error *err)
{
    int64_t cols = wn_table_num_columns(table);

    for (int64_t c = 0; c < cols; c++) {
        const char *name = wn_table_column_name(table, c);

        if (wn_table_column_type(table, c) == WN_COLUMN_OTHER)
            return wn_error_set(err, WN_EUNSUPPORTED,
                                "column '%s' has Arrow format '%s', which a shuffle cannot carry "
                                "(supported: utf8, large_utf8, int32, int64, uint32, uint64, "
                                "float64, bool, fixed_size_list<uint32>)",
                                name ? name : "", table->schema.children[c]->format);
        if (name != NULL && strlen(name) > UINT16_MAX)
            return wn_error_set(err, WN_EUNSUPPORTED,
                                "column %" PRId64 ": its name is longer "
                                "than %u bytes",
                                c, (unsigned)UINT16_MAX);
    }
    return 0;
}

/* ---- writing segments ------------------------------------------------------ */

static size_t header_size(const struct wn_table *table)
{
    int64_t cols = wn_table_num_columns(table);
    size_t size = sizeof(struct wn_ucx_segment_header);

    for (int64_t c = 0; c < cols; c++) {
        const char *name = wn_table_column_name(table, c);

        size += sizeof(struct column_desc) + (name ? strlen(name) : 0);
    }
    return ALIGN8(size);
}

static size_t column_body_size(const struct wn_table *table, const struct column_src *src,
                               const uint32_t *rows, size_t n, bool has_validity)
{
    size_t size = has_validity ? ALIGN8(bitmap_bytes(n)) : 0;
    uint64_t chars = 0;

    switch (src->type) {
    case WN_COLUMN_BOOL: size += ALIGN8(bitmap_bytes(n)); break;
    case WN_COLUMN_UTF8:
    case WN_COLUMN_LARGE_UTF8:
        for (size_t i = 0; i < n; i++)
            chars += src_utf8_len(src, rows[i]);
        size += ALIGN8((n + 1) * src->width) + ALIGN8((size_t)chars);
        break;
    default: size += ALIGN8(n * src->width); break;
    }
    (void)table;
    return size;
}

size_t wn_ucx_segment_size(const struct wn_table *table, const uint32_t *rows, size_t n)
{
    int64_t cols = wn_table_num_columns(table);
    size_t size = header_size(table);

    for (int64_t c = 0; c < cols; c++) {
        struct column_src src;

        column_src_init(table, c, &src);
        size += column_body_size(table, &src, rows, n, src_has_nulls(table, &src, rows, n));
    }
    return size;
}

/* One column while wn_ucx_segment_fit adds rows. */
struct fit_column {
    struct column_src src;
    uint64_t chars; /* utf8 bytes of the rows so far */
    bool nulls;     /* a null among them: the column carries validity */
};

/* The size of a column's part of a segment of n rows (see column_body_size). */
static size_t fit_column_size(const struct fit_column *f, size_t n)
{
    size_t size = f->nulls ? ALIGN8(bitmap_bytes(n)) : 0;

    switch (f->src.type) {
    case WN_COLUMN_BOOL: return size + ALIGN8(bitmap_bytes(n));
    case WN_COLUMN_UTF8:
    case WN_COLUMN_LARGE_UTF8:
        return size + ALIGN8((n + 1) * f->src.width) + ALIGN8((size_t)f->chars);
    default: return size + ALIGN8(n * f->src.width);
    }
}

size_t wn_ucx_segment_fit(const struct wn_table *table, const uint32_t *rows, size_t n, size_t room,
                          size_t *size)
{
    int64_t cols = wn_table_num_columns(table);
    struct fit_column stack[16], *col = stack;
    size_t head, k, last = 0;

    if (n == 0) {
        *size = wn_ucx_segment_size(table, rows, 0);
        return 0;
    }
    if ((size_t)cols > sizeof(stack) / sizeof(stack[0]) &&
        (col = calloc((size_t)cols, sizeof(*col))) == NULL) {
        /* No memory for the columns: bisect over whole segment sizes. */
        size_t lo = 0, hi = n;

        while (lo < hi) {
            size_t mid = lo + (hi - lo + 1) / 2;

            if (wn_ucx_segment_size(table, rows, mid) <= room)
                lo = mid;
            else
                hi = mid - 1;
        }
        *size = wn_ucx_segment_size(table, rows, lo > 0 ? lo : 1);
        return lo;
    }
    head = header_size(table);
    for (int64_t c = 0; c < cols; c++) {
        column_src_init(table, c, &col[c].src);
        col[c].chars = 0;
        col[c].nulls = false;
    }
    /* Row by row: a segment only grows with its rows, so the first row that
     * does not fit ends it. */
    for (k = 0; k < n; k++) {
        size_t s = head;

        for (int64_t c = 0; c < cols; c++) {
            struct fit_column *f = &col[c];

            if (f->src.type == WN_COLUMN_UTF8 || f->src.type == WN_COLUMN_LARGE_UTF8)
                f->chars += src_utf8_len(&f->src, rows[k]);
            if (f->src.maybe_null && !f->nulls && wn_table_is_null(table, c, rows[k]))
                f->nulls = true;
            s += fit_column_size(f, k + 1);
        }
        if (s > room) {
            if (k == 0)
                last = s;
            break;
        }
        last = s;
    }
    if (col != stack)
        free(col);
    *size = last;
    return k;
}

static uint8_t *write_validity(const struct wn_table *table, const struct column_src *src,
                               const uint32_t *rows, size_t n, uint8_t *p)
{
    size_t bytes = bitmap_bytes(n);

    memset(p, 0, ALIGN8(bytes));
    for (size_t i = 0; i < n; i++)
        if (!wn_table_is_null(table, src->col, rows[i]))
            bit_put(p, i, 1);
    return p + ALIGN8(bytes);
}

static uint8_t *write_values(const struct column_src *src, const uint32_t *rows, size_t n,
                             uint8_t *p)
{
    size_t padded;

    switch (src->type) {
    case WN_COLUMN_BOOL:
        padded = ALIGN8(bitmap_bytes(n));
        memset(p, 0, padded);
        for (size_t i = 0; i < n; i++)
            if (bit_get(src->values, (uint64_t)(src->base + rows[i])))
                bit_put(p, i, 1);
        return p + padded;
    case WN_COLUMN_UTF8:
    case WN_COLUMN_LARGE_UTF8: {
        uint8_t *offsets = p;
        uint8_t *chars = p + ALIGN8((n + 1) * src->width);
        uint64_t at = 0;

        for (size_t i = 0; i <= n; i++) {
            if (i > 0) {
                uint64_t len = src_utf8_len(src, rows[i - 1]);

                memcpy(chars + at, src_utf8(src, rows[i - 1]), len);
                at += len;
            }
            if (src->type == WN_COLUMN_UTF8) {
                int32_t v = (int32_t)at;
                memcpy(offsets + i * 4, &v, 4);
            } else {
                int64_t v = (int64_t)at;
                memcpy(offsets + i * 8, &v, 8);
            }
        }
        memset(offsets + (n + 1) * src->width, 0,
               ALIGN8((n + 1) * src->width) - (n + 1) * src->width);
        memset(chars + at, 0, ALIGN8((size_t)at) - (size_t)at);
        return chars + ALIGN8((size_t)at);
    }
    case WN_COLUMN_FIXED_LIST_UINT32:
        for (size_t i = 0; i < n; i++)
            memcpy(p + i * src->width,
                   src->list_values + src->list_child_offset +
                       (src->base + rows[i]) * (int64_t)src->list_size,
                   src->width);
        break;
    case WN_COLUMN_INT32:
    case WN_COLUMN_UINT32: {
        const uint32_t *v = (const uint32_t *)src->values + src->base;
        uint32_t *out = (uint32_t *)(void *)p;

        for (size_t i = 0; i < n; i++)
            out[i] = v[rows[i]];
        break;
    }
    default: {
        const uint64_t *v = (const uint64_t *)src->values + src->base;
        uint64_t *out = (uint64_t *)(void *)p;

        for (size_t i = 0; i < n; i++)
            out[i] = v[rows[i]];
        break;
    }
    }
    padded = ALIGN8(n * src->width);
    memset(p + n * src->width, 0, padded - n * src->width);
    return p + padded;
}

void wn_ucx_segment_write(const struct wn_table *table, uint32_t partition, const uint32_t *rows,
                          size_t n, void *dst)
{
    int64_t cols = wn_table_num_columns(table);
    struct wn_ucx_segment_header header;
    uint8_t *start = dst;
    uint8_t *p = start + sizeof(header);
    uint8_t *names;
    size_t head = header_size(table);

    /* Descriptors first (validity decided per column), names after them. */
    names = p + (size_t)cols * sizeof(struct column_desc);
    for (int64_t c = 0; c < cols; c++) {
        struct column_src src;
        struct column_desc desc;

        column_src_init(table, c, &src);
        desc.type = (uint8_t)src.type;
        desc.has_validity = src_has_nulls(table, &src, rows, n) ? 1 : 0;
        desc.name_len = (uint16_t)src.name_len;
        desc.list_size = src.list_size;
        memcpy(p, &desc, sizeof(desc));
        p += sizeof(desc);
        memcpy(names, src.name, src.name_len);
        names += src.name_len;
    }
    memset(names, 0, (size_t)(start + head - names));
    p = start + head;
    for (int64_t c = 0; c < cols; c++) {
        struct column_src src;
        struct column_desc desc;

        column_src_init(table, c, &src);
        memcpy(&desc, start + sizeof(header) + (size_t)c * sizeof(desc), sizeof(desc));
        if (desc.has_validity)
            p = write_validity(table, &src, rows, n, p);
        p = write_values(&src, rows, n, p);
    }
    header.magic = WN_UCX_SEGMENT_MAGIC;
    header.version = WN_UCX_SEGMENT_VERSION;
    header.partition = partition;
    header.num_columns = (uint32_t)cols;
    header.length = (uint64_t)(p - start);
    header.num_rows = n;
    memcpy(start, &header, sizeof(header));
}

/* ---- reading segments ------------------------------------------------------ */

int wn_ucx_segment_peek(const void *data, size_t avail, struct wn_ucx_segment_header *header,
                        const char *what, struct wn_error *err)
{
    if (avail < sizeof(*header))
        return wn_error_set(err, WN_EDATA, "%s: a segment is cut short (%zu bytes left)", what,
                            avail);
    memcpy(header, data, sizeof(*header));
    if (header->magic != WN_UCX_SEGMENT_MAGIC)
        return wn_error_set(err, WN_EDATA, "%s: not a table segment (magic 0x%08" PRIx32 ")", what,
                            header->magic);
    if (header->version != WN_UCX_SEGMENT_VERSION)
        return wn_error_set(err, WN_EDATA,
                            "%s: segment format version %" PRIu32 ", this build reads %u", what,
                            header->version, WN_UCX_SEGMENT_VERSION);
    if (header->length < sizeof(*header) || header->length > avail || (header->length & 7) != 0)
        return wn_error_set(err, WN_EDATA,
                            "%s: segment length %" PRIu64 " does not fit the %zu "
                            "bytes left",
                            what, header->length, avail);
    return 0;
}

/* One column part of a parsed segment. */
struct part {
    bool has_validity;
    const uint8_t *validity; /* NULL: no nulls */
    const uint8_t *values;
    const uint8_t *chars;
    uint64_t chars_len;
};

struct parsed_segment {
    uint64_t rows;
    struct part *parts; /* num_columns entries */
};

/* The column layout every segment must share (from the first one). */
struct column_layout {
    enum wn_column_type type;
    int32_t list_size;
    size_t width;
    const char *name;
    size_t name_len;
    bool any_validity;
    uint64_t chars_total;
};

static int take(const uint8_t **p, const uint8_t *end, size_t len, const uint8_t **out)
{
    if ((size_t)(end - *p) < len)
        return -1;
    *out = *p;
    *p += len;
    return 0;
}

static int parse_segment(const struct wn_ucx_segment_ref *ref, size_t index,
                         struct column_layout *layout, uint32_t *num_columns,
                         struct parsed_segment *seg, struct wn_error *err)
{
    struct wn_ucx_segment_header header;
    const uint8_t *start = ref->data;
    const uint8_t *end, *p, *names;
    char what[64];
    int rc;

    snprintf(what, sizeof(what), "segment %zu", index);
    rc = wn_ucx_segment_peek(ref->data, ref->len, &header, what, err);
    if (rc < 0)
        return rc;
    end = start + header.length;
    if (index == 0)
        *num_columns = header.num_columns;
    else if (header.num_columns != *num_columns)
        return wn_error_set(err, WN_EDATA,
                            "%s has %" PRIu32 " columns, segment 0 has %" PRIu32
                            ": rows inserted into one shuffle must share their columns",
                            what, header.num_columns, *num_columns);
    if (header.num_rows > INT64_MAX / 16 ||
        (size_t)(end - start - sizeof(header)) / sizeof(struct column_desc) < header.num_columns)
        return wn_error_set(err, WN_EDATA, "%s: its header is malformed", what);
    seg->rows = header.num_rows;
    seg->parts = calloc(header.num_columns ? header.num_columns : 1, sizeof(struct part));
    if (seg->parts == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory reading %s", what);
    p = start + sizeof(header);
    names = p + (size_t)header.num_columns * sizeof(struct column_desc);
    for (uint32_t c = 0; c < header.num_columns; c++) {
        struct column_desc desc;
        struct column_layout *l = &layout[c];

        memcpy(&desc, p + (size_t)c * sizeof(desc), sizeof(desc));
        if ((size_t)(end - names) < desc.name_len)
            return wn_error_set(err, WN_EDATA, "%s: column %" PRIu32 "'s name runs past its end",
                                what, c);
        if (index == 0) {
            l->type = (enum wn_column_type)desc.type;
            l->list_size = desc.list_size;
            l->width = type_width(l->type, l->list_size);
            l->name = (const char *)names;
            l->name_len = desc.name_len;
            if (desc.type == WN_COLUMN_OTHER || desc.type > WN_COLUMN_FIXED_LIST_UINT32 ||
                (desc.type == WN_COLUMN_FIXED_LIST_UINT32 && desc.list_size <= 0))
                return wn_error_set(err, WN_EDATA, "%s: column %" PRIu32 " has unknown type %u",
                                    what, c, desc.type);
        } else if (desc.type != l->type || desc.list_size != l->list_size ||
                   desc.name_len != l->name_len || memcmp(names, l->name, l->name_len) != 0) {
            return wn_error_set(err, WN_EDATA,
                                "%s: column %" PRIu32 " ('%.*s') differs from "
                                "column %" PRIu32 " ('%.*s') of segment 0: rows inserted into "
                                "one shuffle must share their columns",
                                what, c, (int)desc.name_len, (const char *)names, c,
                                (int)l->name_len, l->name);
        }
        seg->parts[c].has_validity = desc.has_validity != 0;
        names += desc.name_len;
    }
    p = start + ALIGN8((size_t)(names - start));
    for (uint32_t c = 0; c < header.num_columns; c++) {
        struct column_layout *l = &layout[c];
        struct part *part = &seg->parts[c];
        uint64_t n = header.num_rows;
        int bad = 0;

        if (part->has_validity) {
            bad |= take(&p, end, ALIGN8(bitmap_bytes(n)), &part->validity);
            l->any_validity = true;
        }
        switch (l->type) {
        case WN_COLUMN_BOOL: bad |= take(&p, end, ALIGN8(bitmap_bytes(n)), &part->values); break;
        case WN_COLUMN_UTF8:
        case WN_COLUMN_LARGE_UTF8:
            bad |= take(&p, end, ALIGN8((size_t)(n + 1) * l->width), &part->values);
            if (!bad) {
                if (l->type == WN_COLUMN_UTF8) {
                    int32_t last;
                    memcpy(&last, part->values + n * 4, 4);
                    part->chars_len = last < 0 ? UINT64_MAX : (uint64_t)last;
                } else {
                    int64_t last;
                    memcpy(&last, part->values + n * 8, 8);
                    part->chars_len = last < 0 ? UINT64_MAX : (uint64_t)last;
                }
                if (part->chars_len > (uint64_t)(end - p))
                    bad = 1;
                else
                    bad |= take(&p, end, ALIGN8((size_t)part->chars_len), &part->chars);
                l->chars_total += part->chars_len;
            }
            break;
        default: bad |= take(&p, end, ALIGN8((size_t)n * l->width), &part->values); break;
        }
        if (bad)
            return wn_error_set(err, WN_EDATA,
                                "%s: column %" PRIu32 " ('%.*s') runs past the "
                                "segment's end",
                                what, c, (int)l->name_len, l->name);
    }
    return 0;
}

/* ---- building the output table -------------------------------------------- */

/* A buffer of the shuffle's pool (shuffle_pool.h) and its capacity: the
 * output tables' buffers go back to the pool when they are released, for
 * the next messages to land in memory that is already faulted in. */
struct pbuf {
    void *p;
    size_t cap;
};

static struct pbuf pbuf_get(size_t len)
{
    struct pbuf b;

    b.p = wn_ucx_pool_get(len, &b.cap);
    return b;
}

static void pbuf_put(struct pbuf *b)
{
    wn_ucx_pool_put(b->p, b->cap);
    b->p = NULL;
    b->cap = 0;
}

struct array_private {
    struct pbuf buffers[3];
};

static void array_release(struct ArrowArray *array)
{
    struct array_private *priv = array->private_data;

    if (array->release == NULL)
        return;
    for (int64_t i = 0; i < array->n_children; i++) {
        struct ArrowArray *child = array->children ? array->children[i] : NULL;

        if (child != NULL) {
            if (child->release != NULL)
                child->release(child);
            free(child);
        }
    }
    free(array->children);
    if (priv != NULL)
        for (int i = 0; i < 3; i++)
            pbuf_put(&priv->buffers[i]);
    free(priv);
    free((void *)array->buffers);
    array->release = NULL;
}

/* Initialises array with n_buffers buffers (taken: freed by the release) and
 * room for n_children children.  On failure frees the buffers given. */
static int array_init(struct ArrowArray *array, int64_t length, int64_t null_count,
                      int64_t n_buffers, struct pbuf b0, struct pbuf b1, struct pbuf b2,
                      int64_t n_children)
{
    struct array_private *priv = calloc(1, sizeof(*priv));
    const void **buffers = calloc((size_t)n_buffers, sizeof(void *));
    struct ArrowArray **children =
        n_children > 0 ? calloc((size_t)n_children, sizeof(*children)) : NULL;

    memset(array, 0, sizeof(*array));
    if (priv == NULL || buffers == NULL || (n_children > 0 && children == NULL)) {
        free(priv);
        free((void *)buffers);
        free(children);
        pbuf_put(&b0);
        pbuf_put(&b1);
        pbuf_put(&b2);
        return WN_ENOMEM;
    }
    priv->buffers[0] = b0;
    priv->buffers[1] = b1;
    priv->buffers[2] = b2;
    buffers[0] = b0.p;
    if (n_buffers > 1)
        buffers[1] = b1.p;
    if (n_buffers > 2)
        buffers[2] = b2.p;
    array->length = length;
    array->null_count = null_count;
    array->n_buffers = n_buffers;
    array->buffers = buffers;
    array->n_children = n_children;
    array->children = children;
    array->private_data = priv;
    array->release = array_release;
    return 0;
}

static void schema_release(struct ArrowSchema *schema)
{
    if (schema->release == NULL)
        return;
    for (int64_t i = 0; i < schema->n_children; i++) {
        struct ArrowSchema *child = schema->children ? schema->children[i] : NULL;

        if (child != NULL) {
            if (child->release != NULL)
                child->release(child);
            free(child);
        }
    }
    free(schema->children);
    free((void *)schema->format);
    free((void *)schema->name);
    schema->release = NULL;
}

static int schema_init(struct ArrowSchema *schema, const char *format, const char *name,
                       size_t name_len, int64_t flags, int64_t n_children)
{
    memset(schema, 0, sizeof(*schema));
    schema->format = strdup(format);
    schema->name = strndup(name, name_len);
    schema->flags = flags;
    schema->n_children = n_children;
    if (n_children > 0)
        schema->children = calloc((size_t)n_children, sizeof(*schema->children));
    schema->release = schema_release;
    if (schema->format == NULL || schema->name == NULL ||
        (n_children > 0 && schema->children == NULL)) {
        schema_release(schema);
        return WN_ENOMEM;
    }
    return 0;
}

static const char *type_format(enum wn_column_type type)
{
    switch (type) {
    case WN_COLUMN_UTF8: return "u";
    case WN_COLUMN_LARGE_UTF8: return "U";
    case WN_COLUMN_INT32: return "i";
    case WN_COLUMN_INT64: return "l";
    case WN_COLUMN_UINT32: return "I";
    case WN_COLUMN_UINT64: return "L";
    case WN_COLUMN_FLOAT64: return "g";
    case WN_COLUMN_BOOL: return "b";
    default: return "";
    }
}

static void bits_copy(uint8_t *dst, uint64_t at, const uint8_t *src, uint64_t n)
{
    uint64_t i = 0;

    if ((at & 7) == 0) {
        memcpy(dst + at / 8, src, (size_t)(n / 8));
        i = n & ~(uint64_t)7;
    }
    for (; i < n; i++)
        bit_put(dst, at + i, bit_get(src, i));
}

static int64_t count_zero_bits(const uint8_t *bits, uint64_t n)
{
    int64_t zeros = 0;

    for (uint64_t i = 0; i < n / 8; i++)
        zeros += 8 - __builtin_popcount(bits[i]);
    for (uint64_t i = n & ~(uint64_t)7; i < n; i++)
        zeros += !bit_get(bits, i);
    return zeros;
}

/* A fixed_size_list<uint32> column: a list array over a uint32 child.  Takes
 * validity and values; on failure releases everything it built. */
static int build_list_column(const struct column_layout *l, uint64_t rows, int64_t null_count,
                             struct pbuf validity, struct pbuf values, struct ArrowSchema *schema,
                             struct ArrowArray *array)
{
    struct ArrowSchema *child_schema = NULL;
    struct ArrowArray *child = NULL;
    struct pbuf none = { NULL, 0 };
    char format[32];
    int rc;

    snprintf(format, sizeof(format), "+w:%" PRId32, l->list_size);
    rc = schema_init(schema, format, l->name, l->name_len, ARROW_FLAG_NULLABLE, 1);
    if (rc < 0)
        goto out_buffers;
    child_schema = calloc(1, sizeof(*child_schema));
    if (child_schema == NULL || schema_init(child_schema, "I", "item", 4, 0, 0) < 0) {
        free(child_schema);
        rc = WN_ENOMEM;
        goto out_schema;
    }
    schema->children[0] = child_schema;
    rc = array_init(array, (int64_t)rows, null_count, 1, validity, none, none, 1);
    validity = none;
    if (rc < 0)
        goto out_schema;
    child = calloc(1, sizeof(*child));
    if (child == NULL) {
        rc = WN_ENOMEM;
        goto out_array;
    }
    rc = array_init(child, (int64_t)rows * l->list_size, 0, 2, none, values, none, 0);
    values = none;
    if (rc < 0) {
        free(child);
        goto out_array;
    }
    array->children[0] = child;
    return 0;

out_array:
    array_release(array);
out_schema:
    schema_release(schema);
out_buffers:
    pbuf_put(&validity);
    pbuf_put(&values);
    return rc;
}

/* Builds column c of the output from every segment. */
static int build_column(const struct parsed_segment *segs, size_t n_segs, uint32_t c,
                        const struct column_layout *l, uint64_t rows, struct ArrowSchema *schema,
                        struct ArrowArray *array, struct wn_error *err)
{
    struct pbuf vb = { NULL, 0 }, xb = { NULL, 0 }, cb = { NULL, 0 };
    uint8_t *validity = NULL, *values = NULL, *chars = NULL;
    int64_t null_count = 0;
    uint64_t at = 0;
    int rc;

    if (l->any_validity) {
        vb = pbuf_get(bitmap_bytes(rows) + 8);
        validity = vb.p;
        if (validity == NULL)
            goto out_nomem;
        memset(validity, 0xff, bitmap_bytes(rows) + 8);
        for (size_t s = 0; s < n_segs; at += segs[s].rows, s++)
            if (segs[s].parts[c].validity != NULL)
                bits_copy(validity, at, segs[s].parts[c].validity, segs[s].rows);
        null_count = count_zero_bits(validity, rows);
    }
    at = 0;
    switch (l->type) {
    case WN_COLUMN_BOOL:
        xb = pbuf_get(bitmap_bytes(rows) + 8);
        values = xb.p;
        if (values == NULL)
            goto out_nomem;
        memset(values, 0, bitmap_bytes(rows) + 8);
        for (size_t s = 0; s < n_segs; at += segs[s].rows, s++)
            bits_copy(values, at, segs[s].parts[c].values, segs[s].rows);
        break;
    case WN_COLUMN_UTF8:
    case WN_COLUMN_LARGE_UTF8: {
        uint64_t char_at = 0;

        if (l->type == WN_COLUMN_UTF8 && l->chars_total > INT32_MAX) {
            rc = wn_error_set(err, WN_EDATA,
                              "column '%.*s' holds %" PRIu64 " bytes in one "
                              "partition, more than utf8's 2 GiB offsets allow: use large_utf8 "
                              "or more partitions",
                              (int)l->name_len, l->name, l->chars_total);
            goto out_free;
        }
        xb = pbuf_get((size_t)(rows + 1) * l->width);
        cb = pbuf_get((size_t)l->chars_total + 8);
        values = xb.p;
        chars = cb.p;
        if (values == NULL || chars == NULL)
            goto out_nomem;
        for (size_t s = 0; s < n_segs; s++) {
            const struct part *part = &segs[s].parts[c];

            for (uint64_t i = 0; i < segs[s].rows; i++) {
                if (l->type == WN_COLUMN_UTF8) {
                    int32_t v;
                    memcpy(&v, part->values + i * 4, 4);
                    ((int32_t *)(void *)values)[at + i] = (int32_t)(char_at + (uint64_t)v);
                } else {
                    int64_t v;
                    memcpy(&v, part->values + i * 8, 8);
                    ((int64_t *)(void *)values)[at + i] = (int64_t)(char_at + (uint64_t)v);
                }
            }
            if (part->chars_len > 0)
                memcpy(chars + char_at, part->chars, (size_t)part->chars_len);
            char_at += part->chars_len;
            at += segs[s].rows;
        }
        if (l->type == WN_COLUMN_UTF8)
            ((int32_t *)(void *)values)[rows] = (int32_t)char_at;
        else
            ((int64_t *)(void *)values)[rows] = (int64_t)char_at;
        break;
    }
    default:
        xb = pbuf_get((size_t)rows * l->width + 8);
        values = xb.p;
        if (values == NULL)
            goto out_nomem;
        for (size_t s = 0; s < n_segs; s++) {
            size_t bytes = (size_t)segs[s].rows * l->width;

            if (bytes > 0)
                memcpy(values + at, segs[s].parts[c].values, bytes);
            at += bytes;
        }
        break;
    }

    /* The buffers now pass to the arrays; on failure everything built is released. */
    if (l->type == WN_COLUMN_FIXED_LIST_UINT32) {
        rc = build_list_column(l, rows, null_count, vb, xb, schema, array);
    } else {
        rc =
            schema_init(schema, type_format(l->type), l->name, l->name_len, ARROW_FLAG_NULLABLE, 0);
        if (rc < 0) {
            pbuf_put(&vb);
            pbuf_put(&xb);
            pbuf_put(&cb);
        } else {
            if (l->type == WN_COLUMN_UTF8 || l->type == WN_COLUMN_LARGE_UTF8)
                rc = array_init(array, (int64_t)rows, null_count, 3, vb, xb, cb, 0);
            else
                rc = array_init(array, (int64_t)rows, null_count, 2, vb, xb, cb, 0);
            if (rc < 0)
                schema_release(schema);
        }
    }
    if (rc < 0)
        return wn_error_set(err, WN_ENOMEM,
                            "out of memory building column '%.*s' (%" PRIu64 " rows)",
                            (int)l->name_len, l->name, rows);
    return 0;

out_nomem:
    rc = wn_error_set(err, WN_ENOMEM, "out of memory building column '%.*s' (%" PRIu64 " rows)",
                      (int)l->name_len, l->name, rows);
out_free:
    pbuf_put(&vb);
    pbuf_put(&xb);
    pbuf_put(&cb);
    return rc;
}

int wn_ucx_segments_to_table(const struct wn_ucx_segment_ref *refs, size_t n, struct wn_table *out,
                             struct wn_error *err)
{
    struct parsed_segment *segs = calloc(n ? n : 1, sizeof(*segs));
    struct column_layout *layout = NULL;
    uint32_t num_columns = 0;
    uint64_t rows = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (segs == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory reading %zu segments", n);
    if (n > 0) {
        struct wn_ucx_segment_header header;

        rc = wn_ucx_segment_peek(refs[0].data, refs[0].len, &header, "segment 0", err);
        if (rc < 0)
            goto out_free;
        layout = calloc(header.num_columns ? header.num_columns : 1, sizeof(*layout));
        if (layout == NULL) {
            rc = wn_error_set(err, WN_ENOMEM, "out of memory reading segments");
            goto out_free;
        }
    }
    for (size_t s = 0; s < n; s++) {
        rc = parse_segment(&refs[s], s, layout, &num_columns, &segs[s], err);
        if (rc < 0)
            goto out_free;
        rows += segs[s].rows;
    }
    rc = schema_init(&out->schema, "+s", "", 0, 0, num_columns);
    if (rc < 0) {
        rc = wn_error_set(err, WN_ENOMEM, "out of memory building a table");
        goto out_free;
    }
    rc = array_init(&out->array, (int64_t)rows, 0, 1, (struct pbuf){ NULL, 0 },
                    (struct pbuf){ NULL, 0 }, (struct pbuf){ NULL, 0 }, num_columns);
    if (rc < 0) {
        schema_release(&out->schema);
        rc = wn_error_set(err, WN_ENOMEM, "out of memory building a table");
        goto out_free;
    }
    for (uint32_t c = 0; c < num_columns; c++) {
        struct ArrowSchema *schema = calloc(1, sizeof(*schema));
        struct ArrowArray *array = calloc(1, sizeof(*array));

        if (schema == NULL || array == NULL) {
            free(schema);
            free(array);
            rc = wn_error_set(err, WN_ENOMEM, "out of memory building a table");
            goto out_release;
        }
        rc = build_column(segs, n, c, &layout[c], rows, schema, array, err);
        if (rc < 0) {
            free(schema);
            free(array);
            goto out_release;
        }
        out->schema.children[c] = schema;
        out->array.children[c] = array;
    }
    goto out_free;

out_release:
    wn_table_release(out);
    memset(out, 0, sizeof(*out));
out_free:
    for (size_t s = 0; s < n; s++)
        free(segs[s].parts);
    free(segs);
    free(layout);
    return rc;
}
