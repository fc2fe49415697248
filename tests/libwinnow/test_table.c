/* Tests of libwinnow/table.c: the Arrow record-batch helpers. */
#include "build_config.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/table.h>

#include "cu.h"

#define HAS(haystack, needle) CU_ASSERT_PTR_NOT_NULL(strstr((haystack), (needle)))

/* ---- fixtures ----------------------------------------------------------- */

/* Column indices of the table every_type_table() builds. */
enum { C_UTF8, C_LARGE, C_I32, C_I64, C_U32, C_U64, C_F64, C_BOOL, C_LIST, N_COLS };

#define ROWS 23
#define LIST_SIZE 3

static int cell_is_null(int col, int row)
{
    return (row + col) % 4 == 0;
}

static void cell_text(int col, int row, char *buf, size_t size)
{
    /* Row 5 is an empty string, not a null. */
    if (row == 5)
        buf[0] = '\0';
    else
        snprintf(buf, size, "c%d-r%d-%.*s", col, row, row % 7, "xxxxxxx");
}

static uint32_t list_value(int row, int k)
{
    return (uint32_t)(row * 100 + k);
}

static int64_t i32_value(int row)
{
    return row % 2 ? -(int64_t)row * 1000 : (row == 0 ? INT32_MIN : INT32_MAX - row);
}

/* A table of every column type, ROWS rows, nulls where cell_is_null(). */
static void every_type_table(struct wn_table *out)
{
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_error err = WN_ERROR_INIT;
    static const struct {
        const char *name;
        enum wn_column_type type;
    } cols[N_COLS] = {
        { "utf8", WN_COLUMN_UTF8 },
        { "large", WN_COLUMN_LARGE_UTF8 },
        { "i32", WN_COLUMN_INT32 },
        { "i64", WN_COLUMN_INT64 },
        { "u32", WN_COLUMN_UINT32 },
        { "u64", WN_COLUMN_UINT64 },
        { "f64", WN_COLUMN_FLOAT64 },
        { "flag", WN_COLUMN_BOOL },
        { "sig", WN_COLUMN_FIXED_LIST_UINT32 },
    };

    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    for (int c = 0; c < N_COLS; c++)
        CU_ASSERT_EQUAL_FATAL(wn_table_builder_add_column(b, cols[c].name, cols[c].type, LIST_SIZE),
                              c);
    for (int r = 0; r < ROWS; r++) {
        for (int c = 0; c < N_COLS; c++) {
            char text[64];
            uint32_t list[LIST_SIZE];
            int rc;

            if (cell_is_null(c, r)) {
                CU_ASSERT_EQUAL(wn_table_builder_append_null(b, c), 0);
                continue;
            }
            switch (c) {
            case C_UTF8:
            case C_LARGE:
                cell_text(c, r, text, sizeof(text));
                rc = wn_table_builder_append_utf8(b, c, text, strlen(text));
                break;
            case C_I32: rc = wn_table_builder_append_int64(b, c, i32_value(r)); break;
            case C_I64: rc = wn_table_builder_append_int64(b, c, INT64_MIN + r); break;
            case C_U32: rc = wn_table_builder_append_uint64(b, c, UINT32_MAX - (uint64_t)r); break;
            case C_U64: rc = wn_table_builder_append_uint64(b, c, UINT64_MAX - (uint64_t)r); break;
            case C_F64: rc = wn_table_builder_append_float64(b, c, r * 0.5 - 3.0); break;
            case C_BOOL: rc = wn_table_builder_append_bool(b, c, r % 3 == 1); break;
            default:
                for (int k = 0; k < LIST_SIZE; k++)
                    list[k] = list_value(r, k);
                rc = wn_table_builder_append_uint32_list(b, c, list);
            }
            CU_ASSERT_EQUAL(rc, 0);
        }
    }
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, out, &err), 0);
    wn_table_builder_free(b);
}

/* Checks that row out_row of t holds the cell (col, row) of every_type_table(). */
static void check_cell(const struct wn_table *t, int col, int64_t out_row, int row)
{
    char text[64];
    const char *s;
    size_t len = 99;
    const uint32_t *list;

    CU_ASSERT_EQUAL(wn_table_is_null(t, col, out_row), cell_is_null(col, row));
    if (cell_is_null(col, row)) {
        switch (col) {
        case C_UTF8:
        case C_LARGE:
            CU_ASSERT_PTR_NULL(wn_table_get_utf8(t, col, out_row, &len));
            CU_ASSERT_EQUAL(len, 0);
            break;
        case C_LIST: CU_ASSERT_PTR_NULL(wn_table_get_uint32_list(t, col, out_row)); break;
        case C_BOOL: CU_ASSERT_EQUAL(wn_table_get_bool(t, col, out_row), 0); break;
        case C_F64: CU_ASSERT_EQUAL(wn_table_get_float64(t, col, out_row), 0.0); break;
        default:
            CU_ASSERT_EQUAL(wn_table_get_int64(t, col, out_row), 0);
            CU_ASSERT_EQUAL(wn_table_get_uint64(t, col, out_row), 0);
        }
        return;
    }
    switch (col) {
    case C_UTF8:
    case C_LARGE:
        cell_text(col, row, text, sizeof(text));
        s = wn_table_get_utf8(t, col, out_row, &len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        CU_ASSERT_EQUAL(len, strlen(text));
        CU_ASSERT_EQUAL(memcmp(s, text, len), 0);
        break;
    case C_I32: CU_ASSERT_EQUAL(wn_table_get_int64(t, col, out_row), i32_value(row)); break;
    case C_I64: CU_ASSERT_EQUAL(wn_table_get_int64(t, col, out_row), INT64_MIN + row); break;
    case C_U32:
        CU_ASSERT_EQUAL(wn_table_get_uint64(t, col, out_row), UINT32_MAX - (uint64_t)row);
        CU_ASSERT_EQUAL(wn_table_get_int64(t, col, out_row), (int64_t)(UINT32_MAX - (uint64_t)row));
        break;
    case C_U64:
        CU_ASSERT_EQUAL(wn_table_get_uint64(t, col, out_row), UINT64_MAX - (uint64_t)row);
        break;
    case C_F64: CU_ASSERT_EQUAL(wn_table_get_float64(t, col, out_row), row * 0.5 - 3.0); break;
    case C_BOOL: CU_ASSERT_EQUAL(wn_table_get_bool(t, col, out_row), row % 3 == 1); break;
    case C_LIST:
        list = wn_table_get_uint32_list(t, col, out_row);
        CU_ASSERT_PTR_NOT_NULL_FATAL(list);
        for (int k = 0; k < LIST_SIZE; k++)
            CU_ASSERT_EQUAL(list[k], list_value(row, k));
        break;
    }
}

/* Checks every column of t against every_type_table() rows rows[0..n). */
static void check_rows(const struct wn_table *t, const int *rows, int64_t n)
{
    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(t), n);
    CU_ASSERT_EQUAL_FATAL(wn_table_num_columns(t), N_COLS);
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < N_COLS; c++)
            check_cell(t, c, i, rows[i]);
}

/* ---- hand-made arrays (as another Arrow library would export them) ------ */

static int hand_releases;

static void hand_schema_release(struct ArrowSchema *schema)
{
    for (int64_t i = 0; i < schema->n_children; i++)
        if (schema->children[i]->release != NULL)
            schema->children[i]->release(schema->children[i]);
    schema->release = NULL;
    hand_releases++;
}

static void hand_array_release(struct ArrowArray *array)
{
    for (int64_t i = 0; i < array->n_children; i++)
        if (array->children[i]->release != NULL)
            array->children[i]->release(array->children[i]);
    array->release = NULL;
    hand_releases++;
}

static void hand_schema(struct ArrowSchema *s, const char *format, const char *name,
                        int64_t n_children, struct ArrowSchema **children)
{
    memset(s, 0, sizeof(*s));
    s->format = format;
    s->name = name;
    s->flags = ARROW_FLAG_NULLABLE;
    s->n_children = n_children;
    s->children = children;
    s->release = hand_schema_release;
}

static void hand_array(struct ArrowArray *a, int64_t length, int64_t offset, int64_t null_count,
                       int64_t n_buffers, const void **buffers, int64_t n_children,
                       struct ArrowArray **children)
{
    memset(a, 0, sizeof(*a));
    a->length = length;
    a->offset = offset;
    a->null_count = null_count;
    a->n_buffers = n_buffers;
    a->buffers = buffers;
    a->n_children = n_children;
    a->children = children;
    a->release = hand_array_release;
}

/*
 * A sliced record batch: the struct array has offset 2 and length 4, and each
 * column has its own offset, so row r of the table is physical index
 * r + 2 + column offset.  Logical content (row: text, num, flag, list, big):
 *   0: "cc",   30,   true,  [6,7],  "CCC"
 *   1: null,   null, false, null,   null
 *   2: "",     50,   null,  [10,11],"E"
 *   3: "fff",  -60,  true,  [12,13],"FF"
 * Null counts are -1 (unknown) on purpose for text and flag.
 */
struct sliced {
    struct ArrowSchema schema, col_schema[5], list_item_schema;
    struct ArrowSchema *schema_children[5], *list_schema_children[1];
    struct ArrowArray array, col_array[5], list_values;
    struct ArrowArray *array_children[5], *list_array_children[1];
    const void *struct_buffers[1];
    const void *text_buffers[3], *num_buffers[2], *flag_buffers[2], *list_buffers[1],
        *values_buffers[2], *big_buffers[3];
};

/* text: child offset 1 -> physical rows 3..6; 7 physical rows. */
static const int32_t sliced_text_offsets[] = { 0, 1, 2, 4, 6, 6, 6, 9, 12 };
static const char sliced_text_data[] = "abbbccfffzzz";               /* a b bb cc fff zzz */
static const uint8_t sliced_text_validity[] = { 0xff & ~(1u << 4) }; /* physical 4 null */
/* num: child offset 0 -> physical rows 2..5. */
static const int32_t sliced_num[] = { 10, 20, 30, 40, 50, -60 };
static const uint8_t sliced_num_validity[] = { 0xff & ~(1u << 3) }; /* physical 3 null */
/* flag: child offset 5 -> physical rows 7..10 (crossing a byte). */
static const uint8_t sliced_flag_values[] = { 1u << 7, 1u << 2 };          /* 7, 10 true */
static const uint8_t sliced_flag_validity[] = { 0xff, 0xff & ~(1u << 1) }; /* 9 null */
/* list: list offset 1 -> list indices 3..6; values offset 0. */
static const uint32_t sliced_list_values[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 };
static const uint8_t sliced_list_validity[] = { 0xff & ~(1u << 4) }; /* list index 4 null */
/* big (large utf8): child offset 0 -> physical rows 2..5. */
static const int64_t sliced_big_offsets[] = { 0, 1, 2, 5, 5, 6, 8 };
static const char sliced_big_data[] = "ABCCCEFF";
static const uint8_t sliced_big_validity[] = { 0xff & ~(1u << 3) };

static void make_sliced(struct sliced *s, struct wn_table *t)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < 5; i++) {
        s->schema_children[i] = &s->col_schema[i];
        s->array_children[i] = &s->col_array[i];
    }
    s->list_schema_children[0] = &s->list_item_schema;
    s->list_array_children[0] = &s->list_values;

    hand_schema(&s->col_schema[0], "u", "text", 0, NULL);
    s->text_buffers[0] = sliced_text_validity;
    s->text_buffers[1] = sliced_text_offsets;
    s->text_buffers[2] = sliced_text_data;
    hand_array(&s->col_array[0], 7, 1, -1, 3, s->text_buffers, 0, NULL);

    hand_schema(&s->col_schema[1], "i", "num", 0, NULL);
    s->num_buffers[0] = sliced_num_validity;
    s->num_buffers[1] = sliced_num;
    hand_array(&s->col_array[1], 6, 0, 1, 2, s->num_buffers, 0, NULL);

    hand_schema(&s->col_schema[2], "b", "flag", 0, NULL);
    s->flag_buffers[0] = sliced_flag_validity;
    s->flag_buffers[1] = sliced_flag_values;
    hand_array(&s->col_array[2], 6, 5, -1, 2, s->flag_buffers, 0, NULL);

    hand_schema(&s->list_item_schema, "I", "item", 0, NULL);
    hand_schema(&s->col_schema[3], "+w:2", "list", 1, s->list_schema_children);
    s->values_buffers[0] = NULL;
    s->values_buffers[1] = sliced_list_values;
    hand_array(&s->list_values, 14, 0, 0, 2, s->values_buffers, 0, NULL);
    s->list_buffers[0] = sliced_list_validity;
    hand_array(&s->col_array[3], 6, 1, 1, 1, s->list_buffers, 1, s->list_array_children);

    hand_schema(&s->col_schema[4], "U", "big", 0, NULL);
    s->big_buffers[0] = sliced_big_validity;
    s->big_buffers[1] = sliced_big_offsets;
    s->big_buffers[2] = sliced_big_data;
    hand_array(&s->col_array[4], 6, 0, 1, 3, s->big_buffers, 0, NULL);

    hand_schema(&s->schema, "+s", "", 5, s->schema_children);
    s->struct_buffers[0] = NULL;
    hand_array(&s->array, 4, 2, 0, 1, s->struct_buffers, 5, s->array_children);
    t->schema = s->schema;
    t->array = s->array;
}

/* Checks t against the logical content of the sliced fixture. */
static void check_sliced_content(const struct wn_table *t)
{
    static const char *texts[] = { "cc", NULL, "", "fff" };
    static const char *bigs[] = { "CCC", NULL, "E", "FF" };
    static const int64_t nums[] = { 30, 0, 50, -60 };
    static const int num_null[] = { 0, 1, 0, 0 };
    static const int flags[] = { 1, 0, 0, 1 };
    static const int flag_null[] = { 0, 0, 1, 0 };
    static const uint32_t lists[][2] = { { 6, 7 }, { 0, 0 }, { 10, 11 }, { 12, 13 } };

    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(t), 4);
    for (int r = 0; r < 4; r++) {
        size_t len;
        const char *s = wn_table_get_utf8(t, 0, r, &len);
        const uint32_t *list = wn_table_get_uint32_list(t, 3, r);

        if (texts[r] == NULL) {
            CU_ASSERT_PTR_NULL(s);
            CU_ASSERT_TRUE(wn_table_is_null(t, 0, r));
        } else {
            CU_ASSERT_PTR_NOT_NULL_FATAL(s);
            CU_ASSERT_EQUAL(len, strlen(texts[r]));
            CU_ASSERT_EQUAL(memcmp(s, texts[r], len), 0);
        }
        s = wn_table_get_utf8(t, 4, r, &len);
        if (bigs[r] == NULL) {
            CU_ASSERT_PTR_NULL(s);
        } else {
            CU_ASSERT_PTR_NOT_NULL_FATAL(s);
            CU_ASSERT_EQUAL(len, strlen(bigs[r]));
            CU_ASSERT_EQUAL(memcmp(s, bigs[r], len), 0);
        }
        CU_ASSERT_EQUAL(wn_table_is_null(t, 1, r), num_null[r]);
        CU_ASSERT_EQUAL(wn_table_get_int64(t, 1, r), nums[r]);
        CU_ASSERT_EQUAL(wn_table_is_null(t, 2, r), flag_null[r]);
        CU_ASSERT_EQUAL(wn_table_get_bool(t, 2, r), flags[r]);
        if (r == 1) {
            CU_ASSERT_PTR_NULL(list);
        } else {
            CU_ASSERT_PTR_NOT_NULL_FATAL(list);
            CU_ASSERT_EQUAL(list[0], lists[r][0]);
            CU_ASSERT_EQUAL(list[1], lists[r][1]);
        }
    }
}

/* ---- tests -------------------------------------------------------------- */

static void test_build_and_read_every_type_with_nulls(void)
{
    struct wn_table t = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    int rows[ROWS];

    every_type_table(&t);
    CU_ASSERT_EQUAL(wn_table_validate(&t, &err), 0);
    for (int r = 0; r < ROWS; r++)
        rows[r] = r;
    check_rows(&t, rows, ROWS);
    /* Each column's null_count is exact and its Arrow format is the spec's. */
    for (int c = 0; c < N_COLS; c++) {
        int nulls = 0;
        for (int r = 0; r < ROWS; r++)
            nulls += cell_is_null(c, r);
        CU_ASSERT_EQUAL(t.array.children[c]->null_count, nulls);
        CU_ASSERT_PTR_NOT_NULL(t.array.children[c]->buffers[0]);
    }
    CU_ASSERT_STRING_EQUAL(t.schema.format, "+s");
    CU_ASSERT_STRING_EQUAL(t.schema.children[C_UTF8]->format, "u");
    CU_ASSERT_STRING_EQUAL(t.schema.children[C_LARGE]->format, "U");
    CU_ASSERT_STRING_EQUAL(t.schema.children[C_I32]->format, "i");
    CU_ASSERT_STRING_EQUAL(t.schema.children[C_I64]->format, "l");
    CU_ASSERT_STRING_EQUAL(t.schema.children[C_U32]->format, "I");
    CU_ASSERT_STRING_EQUAL(t.schema.children[C_U64]->format, "L");
    CU_ASSERT_STRING_EQUAL(t.schema.children[C_F64]->format, "g");
    CU_ASSERT_STRING_EQUAL(t.schema.children[C_BOOL]->format, "b");
    CU_ASSERT_STRING_EQUAL(t.schema.children[C_LIST]->format, "+w:3");
    CU_ASSERT_STRING_EQUAL(t.schema.children[C_LIST]->children[0]->format, "I");
    CU_ASSERT_EQUAL(t.array.children[C_LIST]->children[0]->length, ROWS * LIST_SIZE);
    CU_ASSERT_EQUAL(t.array.n_buffers, 1);
    CU_ASSERT_PTR_NULL(t.array.buffers[0]);
    CU_ASSERT_EQUAL(t.array.children[C_UTF8]->n_buffers, 3);
    CU_ASSERT_EQUAL(t.array.children[C_BOOL]->n_buffers, 2);
    CU_ASSERT_EQUAL(t.array.children[C_LIST]->n_buffers, 1);
    /* Bools are bit-packed, LSB first: of rows 0..7, rows 4 and 7 are true
     * (row 1 would be, but it is null and its value bit is 0). */
    CU_ASSERT_EQUAL(((const uint8_t *)t.array.children[C_BOOL]->buffers[1])[0], 0x90);
    wn_table_release(&t);
}

static void test_column_metadata_accessors(void)
{
    struct wn_table t = { 0 };

    every_type_table(&t);
    CU_ASSERT_EQUAL(wn_table_column_index(&t, "u64"), C_U64);
    CU_ASSERT_EQUAL(wn_table_column_index(&t, "nope"), -1);
    CU_ASSERT_EQUAL(wn_table_column_index(&t, NULL), -1);
    CU_ASSERT_STRING_EQUAL(wn_table_column_name(&t, C_BOOL), "flag");
    CU_ASSERT_PTR_NULL(wn_table_column_name(&t, N_COLS));
    CU_ASSERT_PTR_NULL(wn_table_column_name(&t, -1));
    CU_ASSERT_EQUAL(wn_table_column_type(&t, C_UTF8), WN_COLUMN_UTF8);
    CU_ASSERT_EQUAL(wn_table_column_type(&t, C_LARGE), WN_COLUMN_LARGE_UTF8);
    CU_ASSERT_EQUAL(wn_table_column_type(&t, C_I32), WN_COLUMN_INT32);
    CU_ASSERT_EQUAL(wn_table_column_type(&t, C_I64), WN_COLUMN_INT64);
    CU_ASSERT_EQUAL(wn_table_column_type(&t, C_U32), WN_COLUMN_UINT32);
    CU_ASSERT_EQUAL(wn_table_column_type(&t, C_U64), WN_COLUMN_UINT64);
    CU_ASSERT_EQUAL(wn_table_column_type(&t, C_F64), WN_COLUMN_FLOAT64);
    CU_ASSERT_EQUAL(wn_table_column_type(&t, C_BOOL), WN_COLUMN_BOOL);
    CU_ASSERT_EQUAL(wn_table_column_type(&t, C_LIST), WN_COLUMN_FIXED_LIST_UINT32);
    CU_ASSERT_EQUAL(wn_table_column_type(&t, N_COLS), WN_COLUMN_OTHER);
    CU_ASSERT_EQUAL(wn_table_column_list_size(&t, C_LIST), LIST_SIZE);
    CU_ASSERT_EQUAL(wn_table_column_list_size(&t, C_U32), 0);
    /* Out-of-range rows read as null, and a wrongly typed read gives nothing. */
    CU_ASSERT_TRUE(wn_table_is_null(&t, C_I64, ROWS));
    CU_ASSERT_PTR_NULL(wn_table_get_utf8(&t, C_I64, 1, NULL));
    CU_ASSERT_PTR_NULL(wn_table_get_uint32_list(&t, C_UTF8, 1));
    wn_table_release(&t);
    CU_ASSERT_EQUAL(wn_table_num_rows(&t), 0);
    CU_ASSERT_EQUAL(wn_table_num_columns(&t), 0);
    CU_ASSERT_EQUAL(wn_table_column_index(&t, "u64"), -1);
}

static void test_dictionary_and_unknown_formats_are_other(void)
{
    struct ArrowSchema dict, with_dict, bad_list, bad_list_item, *bad_list_children[1];

    hand_schema(&dict, "u", "values", 0, NULL);
    hand_schema(&with_dict, "i", "codes", 0, NULL);
    with_dict.dictionary = &dict;
    hand_schema(&bad_list_item, "i", "item", 0, NULL);
    bad_list_children[0] = &bad_list_item;
    hand_schema(&bad_list, "+w:4", "l", 1, bad_list_children);
    {
        struct ArrowSchema *children[] = { &with_dict, &bad_list };
        struct wn_table t;
        memset(&t, 0, sizeof(t));
        hand_schema(&t.schema, "+s", "", 2, children);
        t.array.release = hand_array_release;
        CU_ASSERT_EQUAL(wn_table_column_type(&t, 0), WN_COLUMN_OTHER);
        CU_ASSERT_EQUAL(wn_table_column_type(&t, 1), WN_COLUMN_OTHER);
        CU_ASSERT_EQUAL(wn_table_column_list_size(&t, 1), 0);
    }
}

static void test_empty_table_has_zero_rows_and_valid_buffers(void)
{
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_table t = { 0 }, f = { 0 };
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "s", WN_COLUMN_UTF8, 0), 0);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "S", WN_COLUMN_LARGE_UTF8, 0), 1);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "b", WN_COLUMN_BOOL, 0), 2);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "l", WN_COLUMN_FIXED_LIST_UINT32, 4), 3);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "g", WN_COLUMN_FLOAT64, 0), 4);
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &t, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&t), 0);
    CU_ASSERT_EQUAL(wn_table_num_columns(&t), 5);
    CU_ASSERT_EQUAL(wn_table_validate(&t, &err), 0);
    /* Non-validity buffers are never NULL (some consumers refuse NULL), and
     * utf8 offsets hold their single 0. */
    for (int c = 0; c < 5; c++) {
        const struct ArrowArray *a = t.array.children[c];
        CU_ASSERT_EQUAL(a->length, 0);
        CU_ASSERT_EQUAL(a->null_count, 0);
        CU_ASSERT_PTR_NULL(a->buffers[0]);
        for (int64_t i = 1; i < a->n_buffers; i++)
            CU_ASSERT_PTR_NOT_NULL(a->buffers[i]);
    }
    CU_ASSERT_EQUAL(((const int32_t *)t.array.children[0]->buffers[1])[0], 0);
    CU_ASSERT_EQUAL(((const int64_t *)t.array.children[1]->buffers[1])[0], 0);
    CU_ASSERT_PTR_NOT_NULL(t.array.children[3]->children[0]->buffers[1]);
    CU_ASSERT_EQUAL(t.array.children[3]->children[0]->length, 0);
    CU_ASSERT_PTR_NULL(wn_table_get_utf8(&t, 0, 0, NULL));
    /* Filtering zero rows (a NULL mask is fine then) gives zero rows. */
    CU_ASSERT_EQUAL(wn_table_filter(&t, NULL, &f, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&f), 0);
    CU_ASSERT_EQUAL(wn_table_num_columns(&f), 5);
    CU_ASSERT_EQUAL(wn_table_validate(&f, &err), 0);
    wn_table_release(&f);
    wn_table_release(&t);
    /* A builder without columns finishes into a table without columns. */
    wn_table_builder_free(b);
    b = wn_table_builder_new();
    CU_ASSERT_EQUAL(wn_table_builder_finish(b, &t, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_columns(&t), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&t), 0);
    CU_ASSERT_EQUAL(wn_table_validate(&t, &err), 0);
    wn_table_release(&t);
    wn_table_builder_free(b);
}

static void test_filter_keeps_exactly_the_masked_rows_of_every_type(void)
{
    struct wn_table t = { 0 }, f = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    uint8_t keep[ROWS];
    int rows[ROWS];
    int n = 0;

    every_type_table(&t);
    for (int r = 0; r < ROWS; r++) {
        /* keep any nonzero byte, in a pattern that keeps null and valid cells of each column */
        keep[r] = (uint8_t)((r % 3 != 2) ? r + 1 : 0);
        if (keep[r])
            rows[n++] = r;
    }
    CU_ASSERT_EQUAL_FATAL(wn_table_filter(&t, keep, &f, &err), 0);
    CU_ASSERT_EQUAL(wn_table_validate(&f, &err), 0);
    check_rows(&f, rows, n);
    for (int c = 0; c < N_COLS; c++) {
        int nulls = 0;
        for (int i = 0; i < n; i++)
            nulls += cell_is_null(c, rows[i]);
        CU_ASSERT_TRUE(nulls > 0);
        CU_ASSERT_EQUAL(f.array.children[c]->null_count, nulls);
        CU_ASSERT_STRING_EQUAL(f.schema.children[c]->name, t.schema.children[c]->name);
    }
    /* The input is untouched and still reads the same. */
    for (int r = 0; r < ROWS; r++)
        rows[r] = r;
    check_rows(&t, rows, ROWS);
    wn_table_release(&t);
    /* The output owns its buffers: it still reads after the input is gone. */
    n = 0;
    for (int r = 0; r < ROWS; r++)
        if (keep[r])
            rows[n++] = r;
    check_rows(&f, rows, n);
    wn_table_release(&f);
}

static void test_filter_all_and_none(void)
{
    struct wn_table t = { 0 }, all = { 0 }, none = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    uint8_t keep[ROWS];
    int rows[ROWS];

    every_type_table(&t);
    memset(keep, 1, sizeof(keep));
    for (int r = 0; r < ROWS; r++)
        rows[r] = r;
    CU_ASSERT_EQUAL_FATAL(wn_table_filter(&t, keep, &all, &err), 0);
    check_rows(&all, rows, ROWS);
    CU_ASSERT_EQUAL(wn_table_validate(&all, &err), 0);
    memset(keep, 0, sizeof(keep));
    CU_ASSERT_EQUAL_FATAL(wn_table_filter(&t, keep, &none, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&none), 0);
    CU_ASSERT_EQUAL(wn_table_num_columns(&none), N_COLS);
    CU_ASSERT_EQUAL(wn_table_validate(&none, &err), 0);
    CU_ASSERT_EQUAL(wn_table_column_type(&none, C_LIST), WN_COLUMN_FIXED_LIST_UINT32);
    CU_ASSERT_EQUAL(wn_table_column_list_size(&none, C_LIST), LIST_SIZE);
    /* No mask for a table with rows, or the input as output, is an error. */
    CU_ASSERT_EQUAL(wn_table_filter(&t, NULL, &all, &err), WN_EINVAL);
    HAS(err.message, "no keep mask for 23 rows");
    memset(keep, 1, sizeof(keep));
    CU_ASSERT_EQUAL(wn_table_filter(&t, keep, &t, &err), WN_EINVAL);
    CU_ASSERT_TRUE(wn_table_is_live(&t));
    wn_table_release(&none);
    wn_table_release(&all);
    wn_table_release(&t);
}

static void test_filter_refuses_unknown_format_naming_column_and_format(void)
{
    struct sliced s;
    struct wn_table t, out = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    uint8_t keep[4] = { 1, 1, 1, 1 };

    make_sliced(&s, &t);
    s.col_schema[1].format = "s"; /* int16: a type the helpers do not copy */
    CU_ASSERT_EQUAL(wn_table_column_type(&t, 1), WN_COLUMN_OTHER);
    CU_ASSERT_EQUAL(wn_table_filter(&t, keep, &out, &err), WN_EUNSUPPORTED);
    HAS(err.message, "'num'");
    HAS(err.message, "'s'");
    CU_ASSERT_FALSE(wn_table_is_live(&out));
    hand_releases = 0;
    wn_table_release(&t);
    CU_ASSERT_EQUAL(hand_releases, 2 + 2 * 5 + 2); /* struct + 5 columns + list values */
}

static void test_sliced_struct_and_column_offsets_read_correctly(void)
{
    struct sliced s;
    struct wn_table t, f = { 0 }, sel = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    uint8_t keep[4] = { 1, 1, 1, 1 };
    const char *names[] = { "big", "text" };

    make_sliced(&s, &t);
    CU_ASSERT_EQUAL(wn_table_validate(&t, &err), 0);
    check_sliced_content(&t);
    /* A filter of a slice copies the logical rows, with fresh zero offsets. */
    CU_ASSERT_EQUAL_FATAL(wn_table_filter(&t, keep, &f, &err), 0);
    CU_ASSERT_EQUAL(f.array.offset, 0);
    CU_ASSERT_EQUAL(wn_table_validate(&f, &err), 0);
    check_sliced_content(&f);
    CU_ASSERT_EQUAL(f.array.children[0]->null_count, 1);
    CU_ASSERT_EQUAL(f.array.children[2]->null_count, 1);
    wn_table_release(&f);
    keep[0] = keep[2] = 0;
    CU_ASSERT_EQUAL_FATAL(wn_table_filter(&t, keep, &f, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&f), 2);
    CU_ASSERT_TRUE(wn_table_is_null(&f, 0, 0));
    CU_ASSERT_EQUAL(wn_table_get_int64(&f, 1, 1), -60);
    CU_ASSERT_EQUAL(wn_table_get_uint32_list(&f, 3, 1)[1], 13);
    wn_table_release(&f);
    CU_ASSERT_EQUAL_FATAL(wn_table_select_columns(&t, names, 2, &sel, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&sel), 4);
    CU_ASSERT_EQUAL(wn_table_get_utf8(&sel, 0, 3, NULL)[0], 'F');
    CU_ASSERT_EQUAL(wn_table_get_utf8(&sel, 1, 0, NULL)[0], 'c');
    wn_table_release(&sel);
    wn_table_release(&t);
}

static void test_struct_level_nulls_read_as_null_cells(void)
{
    struct sliced s;
    struct wn_table t, f = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    /* struct offset 2: row 0 is bit 2, row 3 is bit 5; make row 3 null. */
    static const uint8_t struct_validity[] = { 0xff & ~(1u << 5) };
    uint8_t keep[4] = { 1, 1, 1, 1 };

    make_sliced(&s, &t);
    t.array.buffers[0] = struct_validity;
    t.array.null_count = 1;
    CU_ASSERT_EQUAL(wn_table_validate(&t, &err), 0);
    CU_ASSERT_TRUE(wn_table_is_null(&t, 1, 3));
    CU_ASSERT_PTR_NULL(wn_table_get_utf8(&t, 0, 3, NULL));
    CU_ASSERT_EQUAL(wn_table_get_int64(&t, 1, 0), 30);
    CU_ASSERT_EQUAL_FATAL(wn_table_filter(&t, keep, &f, &err), 0);
    for (int c = 0; c < 5; c++)
        CU_ASSERT_TRUE(wn_table_is_null(&f, c, 3));
    wn_table_release(&f);
    wn_table_release(&t);
}

static void test_builder_rejects_duplicate_column(void)
{
    struct wn_table_builder *b = wn_table_builder_new();

    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "text", WN_COLUMN_UTF8, 0), 0);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "text", WN_COLUMN_INT64, 0), WN_EINVAL);
    HAS(wn_table_builder_last_error(b), "'text' already exists");
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, NULL, WN_COLUMN_INT64, 0), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "x", WN_COLUMN_OTHER, 0), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "x", (enum wn_column_type)99, 0), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "x", WN_COLUMN_FIXED_LIST_UINT32, 0), WN_EINVAL);
    HAS(wn_table_builder_last_error(b), "list_size");
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "x", WN_COLUMN_FIXED_LIST_UINT32, 2), 1);
    wn_table_builder_free(b);
}

static void test_builder_rejects_wrong_type_family(void)
{
    struct wn_table_builder *b = wn_table_builder_new();
    uint32_t list[2] = { 1, 2 };
    struct wn_table t = { 0 };
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "s", WN_COLUMN_UTF8, 0), 0);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "i", WN_COLUMN_INT32, 0), 1);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "u", WN_COLUMN_UINT64, 0), 2);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "g", WN_COLUMN_FLOAT64, 0), 3);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "b", WN_COLUMN_BOOL, 0), 4);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "l", WN_COLUMN_FIXED_LIST_UINT32, 2), 5);
    CU_ASSERT_EQUAL(wn_table_builder_append_int64(b, 0, 1), WN_EINVAL);
    HAS(wn_table_builder_last_error(b), "column 's' is utf8");
    CU_ASSERT_EQUAL(wn_table_builder_append_utf8(b, 1, "x", 1), WN_EINVAL);
    HAS(wn_table_builder_last_error(b), "column 'i' is int32");
    CU_ASSERT_EQUAL(wn_table_builder_append_uint64(b, 1, 1), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_append_int64(b, 2, 1), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_append_float64(b, 2, 1.0), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_append_bool(b, 3, 1), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_append_uint32_list(b, 4, list), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_append_int64(b, 5, 1), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_append_uint32_list(b, 5, NULL), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_append_utf8(b, 0, NULL, 3), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_append_null(b, 6), WN_EINVAL);
    HAS(wn_table_builder_last_error(b), "no column 6");
    CU_ASSERT_EQUAL(wn_table_builder_append_int64(b, -1, 1), WN_EINVAL);
    /* Nothing was appended by the failures. */
    CU_ASSERT_EQUAL(wn_table_builder_finish(b, &t, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&t), 0);
    wn_table_release(&t);
    wn_table_builder_free(b);
}

static void test_builder_range_checks_int32_and_uint32(void)
{
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_table t = { 0 };
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "i", WN_COLUMN_INT32, 0), 0);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "u", WN_COLUMN_UINT32, 0), 1);
    CU_ASSERT_EQUAL(wn_table_builder_append_int64(b, 0, (int64_t)INT32_MAX + 1), WN_EINVAL);
    HAS(wn_table_builder_last_error(b), "2147483648");
    HAS(wn_table_builder_last_error(b), "out of range");
    CU_ASSERT_EQUAL(wn_table_builder_append_int64(b, 0, (int64_t)INT32_MIN - 1), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_append_int64(b, 0, 5000000000), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_append_uint64(b, 1, (uint64_t)UINT32_MAX + 1), WN_EINVAL);
    HAS(wn_table_builder_last_error(b), "4294967296");
    CU_ASSERT_EQUAL(wn_table_builder_append_int64(b, 0, INT32_MIN), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_int64(b, 0, INT32_MAX), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_uint64(b, 1, UINT32_MAX), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_uint64(b, 1, 0), 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &t, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&t), 2);
    CU_ASSERT_EQUAL(wn_table_get_int64(&t, 0, 0), INT32_MIN);
    CU_ASSERT_EQUAL(wn_table_get_int64(&t, 0, 1), INT32_MAX);
    CU_ASSERT_EQUAL(wn_table_get_uint64(&t, 1, 0), UINT32_MAX);
    CU_ASSERT_EQUAL(wn_table_get_uint64(&t, 1, 1), 0);
    /* Reading across signedness saturates rather than wraps. */
    CU_ASSERT_EQUAL(wn_table_get_uint64(&t, 0, 0), 0);
    CU_ASSERT_EQUAL(wn_table_get_float64(&t, 0, 0), (double)INT32_MIN);
    wn_table_release(&t);
    wn_table_builder_free(b);
}

static void test_builder_finish_rejects_unequal_lengths_and_keeps_rows(void)
{
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_table t = { 0 };
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "a", WN_COLUMN_INT64, 0), 0);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "b", WN_COLUMN_UTF8, 0), 1);
    CU_ASSERT_EQUAL(wn_table_builder_append_int64(b, 0, 1), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_int64(b, 0, 2), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_utf8(b, 1, "x", 1), 0);
    CU_ASSERT_EQUAL(wn_table_builder_finish(b, &t, &err), WN_EINVAL);
    CU_ASSERT_EQUAL(err.code, WN_EINVAL);
    HAS(err.message, "'a' has 2 rows");
    HAS(err.message, "'b' has 1");
    CU_ASSERT_FALSE(wn_table_is_live(&t));
    /* The rows survive the failure: completing the short column finishes. */
    CU_ASSERT_EQUAL(wn_table_builder_append_null(b, 1), 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &t, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&t), 2);
    CU_ASSERT_EQUAL(wn_table_get_int64(&t, 0, 1), 2);
    CU_ASSERT_TRUE(wn_table_is_null(&t, 1, 1));
    wn_table_release(&t);
    wn_table_builder_free(b);
}

static void test_builder_is_reusable_after_finish(void)
{
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_table first = { 0 }, second = { 0 };
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "s", WN_COLUMN_UTF8, 0), 0);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "n", WN_COLUMN_INT64, 0), 1);
    CU_ASSERT_EQUAL(wn_table_builder_append_null(b, 0), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_int64(b, 1, 7), 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &first, &err), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_utf8(b, 0, "again", 5), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_utf8(b, 0, "more", 4), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_int64(b, 1, 8), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_int64(b, 1, 9), 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &second, &err), 0);
    CU_ASSERT_EQUAL(wn_table_validate(&second, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&first), 1);
    CU_ASSERT_TRUE(wn_table_is_null(&first, 0, 0));
    CU_ASSERT_EQUAL(wn_table_get_int64(&first, 1, 0), 7);
    CU_ASSERT_EQUAL(wn_table_num_rows(&second), 2);
    CU_ASSERT_EQUAL(wn_table_num_columns(&second), 2);
    CU_ASSERT_FALSE(wn_table_is_null(&second, 0, 0));
    CU_ASSERT_EQUAL(second.array.children[0]->null_count, 0);
    CU_ASSERT_EQUAL(memcmp(wn_table_get_utf8(&second, 0, 1, NULL), "more", 4), 0);
    CU_ASSERT_EQUAL(wn_table_get_int64(&second, 1, 1), 9);
    wn_table_release(&first);
    wn_table_release(&second);
    wn_table_builder_free(b);
}

static void test_builder_appends_many_rows(void)
{
    enum { MANY = 200000 };
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_table t = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    char text[32];
    size_t len;
    const char *s;
    int failures = 0;

    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "s", WN_COLUMN_UTF8, 0), 0);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "b", WN_COLUMN_BOOL, 0), 1);
    for (int i = 0; i < MANY; i++) {
        int n = snprintf(text, sizeof(text), "%d", i);
        failures += wn_table_builder_append_utf8(b, 0, text, (size_t)n) != 0;
        failures += wn_table_builder_append_bool(b, 1, i % 7 == 0) != 0;
    }
    CU_ASSERT_EQUAL(failures, 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &t, &err), 0);
    CU_ASSERT_EQUAL(wn_table_validate(&t, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&t), MANY);
    s = wn_table_get_utf8(&t, 0, MANY - 1, &len);
    CU_ASSERT_EQUAL(len, 6);
    CU_ASSERT_EQUAL(memcmp(s, "199999", 6), 0);
    CU_ASSERT_EQUAL(wn_table_get_bool(&t, 1, 199997), 1);
    CU_ASSERT_EQUAL(wn_table_get_bool(&t, 1, 199998), 0);
    wn_table_release(&t);
    wn_table_builder_free(b);
}

static void test_utf8_past_int32_max_bytes_fails_suggesting_large_utf8(void)
{
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_table t = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    const char small[16] = "0123456789abcdef";

    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "text", WN_COLUMN_UTF8, 0), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_utf8(b, 0, small, sizeof(small)), 0);
    /* The length check comes before any byte is read, so a short buffer with
     * a huge claimed length exercises the limit without 2 GiB of memory. */
    CU_ASSERT_EQUAL(wn_table_builder_append_utf8(b, 0, small, (size_t)INT32_MAX - 15), WN_EINVAL);
    HAS(wn_table_builder_last_error(b), "column 'text' (utf8)");
    HAS(wn_table_builder_last_error(b), "WN_COLUMN_LARGE_UTF8");
    HAS(wn_table_builder_last_error(b), "2147483647");
    /* The column is unchanged: one row. */
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &t, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&t), 1);
    CU_ASSERT_EQUAL(((const int32_t *)t.array.children[0]->buffers[1])[1], 16);
    wn_table_release(&t);
    wn_table_builder_free(b);
}

static void test_large_utf8_has_int64_offsets(void)
{
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_table t = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    const int64_t *offsets;
    size_t len;
    const char *s;

    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "text", WN_COLUMN_LARGE_UTF8, 0), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_utf8(b, 0, "héllo", strlen("héllo")), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_null(b, 0), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_utf8(b, 0, "", 0), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_utf8(b, 0, "world", 5), 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &t, &err), 0);
    CU_ASSERT_EQUAL(wn_table_validate(&t, &err), 0);
    CU_ASSERT_STRING_EQUAL(t.schema.children[0]->format, "U");
    offsets = t.array.children[0]->buffers[1];
    CU_ASSERT_EQUAL(offsets[0], 0);
    CU_ASSERT_EQUAL(offsets[1], 6);
    CU_ASSERT_EQUAL(offsets[2], 6);
    CU_ASSERT_EQUAL(offsets[3], 6);
    CU_ASSERT_EQUAL(offsets[4], 11);
    s = wn_table_get_utf8(&t, 0, 0, &len);
    CU_ASSERT_EQUAL(len, 6);
    CU_ASSERT_EQUAL(memcmp(s, "héllo", 6), 0);
    CU_ASSERT_PTR_NULL(wn_table_get_utf8(&t, 0, 1, &len));
    s = wn_table_get_utf8(&t, 0, 2, &len);
    CU_ASSERT_PTR_NOT_NULL(s);
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_EQUAL(memcmp(wn_table_get_utf8(&t, 0, 3, &len), "world", 5), 0);
    wn_table_release(&t);
    wn_table_builder_free(b);
}

static void test_append_cell_copies_every_type(void)
{
    struct wn_table t = { 0 }, copy = { 0 };
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_error err = WN_ERROR_INIT;
    int rows[ROWS];

    every_type_table(&t);
    for (int c = 0; c < N_COLS; c++)
        CU_ASSERT_EQUAL(wn_table_builder_add_column(b, wn_table_column_name(&t, c),
                                                    wn_table_column_type(&t, c),
                                                    wn_table_column_list_size(&t, c)),
                        c);
    /* Rows in reverse order. */
    for (int r = ROWS - 1; r >= 0; r--)
        for (int c = 0; c < N_COLS; c++)
            CU_ASSERT_EQUAL(wn_table_builder_append_cell(b, c, &t, c, r), 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &copy, &err), 0);
    for (int i = 0; i < ROWS; i++)
        rows[i] = ROWS - 1 - i;
    check_rows(&copy, rows, ROWS);
    CU_ASSERT_EQUAL(wn_table_validate(&copy, &err), 0);
    wn_table_release(&copy);
    wn_table_builder_free(b);

    /* Within a family: utf8 -> large_utf8, int32 -> int64, uint64 -> uint32 (range-checked). */
    b = wn_table_builder_new();
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "S", WN_COLUMN_LARGE_UTF8, 0), 0);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "l", WN_COLUMN_INT64, 0), 1);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "u", WN_COLUMN_UINT32, 0), 2);
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "sig", WN_COLUMN_FIXED_LIST_UINT32, 2), 3);
    CU_ASSERT_EQUAL(wn_table_builder_append_cell(b, 0, &t, C_UTF8, 1), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_cell(b, 1, &t, C_I32, 1), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_cell(b, 2, &t, C_U64, 1), WN_EINVAL);
    HAS(wn_table_builder_last_error(b), "out of range");
    CU_ASSERT_EQUAL(wn_table_builder_append_cell(b, 2, &t, C_U32, 1), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_cell(b, 1, &t, C_UTF8, 1), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_append_cell(b, 0, &t, C_I64, 1), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_append_cell(b, 3, &t, C_LIST, 1), WN_EINVAL);
    HAS(wn_table_builder_last_error(b), "lists of 2");
    CU_ASSERT_EQUAL(wn_table_builder_append_cell(b, 3, &t, C_LIST, ROWS), WN_EINVAL);
    HAS(wn_table_builder_last_error(b), "outside");
    CU_ASSERT_EQUAL(wn_table_builder_append_cell(b, 3, &t, N_COLS, 0), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_table_builder_append_null(b, 3), 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &copy, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&copy), 1);
    CU_ASSERT_EQUAL(wn_table_column_type(&copy, 0), WN_COLUMN_LARGE_UTF8);
    {
        char text[64];
        size_t len;
        const char *s = wn_table_get_utf8(&copy, 0, 0, &len);
        cell_text(C_UTF8, 1, text, sizeof(text));
        CU_ASSERT_EQUAL(len, strlen(text));
        CU_ASSERT_EQUAL(memcmp(s, text, len), 0);
    }
    CU_ASSERT_EQUAL(wn_table_get_int64(&copy, 1, 0), i32_value(1));
    CU_ASSERT_EQUAL(wn_table_get_uint64(&copy, 2, 0), UINT32_MAX - 1);
    wn_table_release(&copy);
    wn_table_builder_free(b);
    wn_table_release(&t);
}

static void test_append_cell_refuses_null_list_elements(void)
{
    struct sliced s;
    struct wn_table t;
    struct wn_table_builder *b = wn_table_builder_new();
    /* values index (row 0 + 2 + 1) * 2 = 6 null */
    static const uint8_t values_validity[] = { 0xff & ~(1u << 6), 0xff };

    make_sliced(&s, &t);
    s.values_buffers[0] = values_validity;
    s.list_values.null_count = 1;
    CU_ASSERT_EQUAL(wn_table_builder_add_column(b, "list", WN_COLUMN_FIXED_LIST_UINT32, 2), 0);
    CU_ASSERT_EQUAL(wn_table_builder_append_cell(b, 0, &t, 3, 0), WN_EUNSUPPORTED);
    HAS(wn_table_builder_last_error(b), "null list elements");
    CU_ASSERT_EQUAL(wn_table_builder_append_cell(b, 0, &t, 3, 2), 0);
    wn_table_builder_free(b);
    wn_table_release(&t);
}

static void test_select_columns_copies_named_columns_in_order(void)
{
    struct wn_table t = { 0 }, sel = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    const char *names[] = { "sig", "utf8", "f64" };
    const int from[] = { C_LIST, C_UTF8, C_F64 };
    const char *unknown[] = { "utf8", "nope" };
    const char *twice[] = { "utf8", "utf8" };

    every_type_table(&t);
    CU_ASSERT_EQUAL_FATAL(wn_table_select_columns(&t, names, 3, &sel, &err), 0);
    CU_ASSERT_EQUAL(wn_table_validate(&sel, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_columns(&sel), 3);
    CU_ASSERT_EQUAL(wn_table_num_rows(&sel), ROWS);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_STRING_EQUAL(wn_table_column_name(&sel, i), names[i]);
        CU_ASSERT_EQUAL(wn_table_column_type(&sel, i), wn_table_column_type(&t, from[i]));
        /* A copy: no buffer is shared with the input. */
        CU_ASSERT_PTR_NOT_EQUAL(sel.array.children[i]->buffers[0],
                                t.array.children[from[i]]->buffers[0]);
    }
    CU_ASSERT_PTR_NOT_EQUAL(sel.array.children[1]->buffers[2],
                            t.array.children[C_UTF8]->buffers[2]);
    CU_ASSERT_EQUAL(wn_table_select_columns(&t, unknown, 2, &sel, &err), WN_ENOTFOUND);
    HAS(err.message, "no column 'nope'");
    HAS(err.message, "'utf8', 'large', 'i32'");
    HAS(err.message, "'sig'");
    CU_ASSERT_EQUAL(wn_table_select_columns(&t, twice, 2, &sel, &err), WN_EINVAL);
    HAS(err.message, "selected twice");
    wn_table_release(&t);
    /* Still readable after the input is gone. */
    for (int r = 0; r < ROWS; r++) {
        const uint32_t *list = wn_table_get_uint32_list(&sel, 0, r);
        CU_ASSERT_EQUAL(list == NULL, cell_is_null(C_LIST, r));
        if (list != NULL)
            CU_ASSERT_EQUAL(list[2], list_value(r, 2));
        CU_ASSERT_EQUAL(wn_table_is_null(&sel, 2, r), cell_is_null(C_F64, r));
    }
    wn_table_release(&sel);
    /* Selecting no column keeps the row count. */
    every_type_table(&t);
    CU_ASSERT_EQUAL_FATAL(wn_table_select_columns(&t, NULL, 0, &sel, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_columns(&sel), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&sel), ROWS);
    CU_ASSERT_EQUAL(wn_table_validate(&sel, &err), 0);
    wn_table_release(&sel);
    wn_table_release(&t);
}

static void test_filter_keeps_field_metadata_and_flags(void)
{
    struct sliced s;
    struct wn_table t, f = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    uint8_t keep[4] = { 1, 0, 1, 0 };
    /* one pair: "k" -> "vv" */
    static const char metadata[] = { 1, 0, 0, 0, 1, 0, 0, 0, 'k', 2, 0, 0, 0, 'v', 'v' };
    int32_t n;

    make_sliced(&s, &t);
    s.col_schema[1].metadata = metadata;
    s.col_schema[1].flags = 0;
    t.schema.metadata = metadata;
    CU_ASSERT_EQUAL_FATAL(wn_table_filter(&t, keep, &f, &err), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f.schema.children[1]->metadata);
    CU_ASSERT_PTR_NOT_EQUAL(f.schema.children[1]->metadata, metadata);
    CU_ASSERT_EQUAL(memcmp(f.schema.children[1]->metadata, metadata, sizeof(metadata)), 0);
    CU_ASSERT_EQUAL(memcmp(f.schema.metadata, metadata, sizeof(metadata)), 0);
    memcpy(&n, f.schema.children[1]->metadata, sizeof(n));
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(f.schema.children[1]->flags, 0);
    CU_ASSERT_EQUAL(f.schema.children[0]->flags, ARROW_FLAG_NULLABLE);
    CU_ASSERT_PTR_NULL(f.schema.children[0]->metadata);
    wn_table_release(&f);
    wn_table_release(&t);
}

/* Builds a one-column table and checks that validate fails with code and a message. */
static void expect_invalid(struct wn_table *t, const char *needle)
{
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_table_validate(t, &err), WN_EDATA);
    CU_ASSERT_EQUAL(err.code, WN_EDATA);
    HAS(err.message, needle);
    if (strstr(err.message, needle) == NULL)
        fprintf(stderr, "\n  expected \"%s\" in \"%s\"\n", needle, err.message);
}

static void test_validate_rejects_broken_tables_with_messages(void)
{
    struct wn_table t = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    struct ArrowArray *text, *list;
    int32_t *offsets, saved;
    int64_t saved64;
    const void *saved_ptr;

    every_type_table(&t);
    CU_ASSERT_EQUAL_FATAL(wn_table_validate(&t, &err), 0);
    text = t.array.children[C_UTF8];
    list = t.array.children[C_LIST];

    /* Wrong format of the table itself. */
    t.schema.format = "+l";
    expect_invalid(&t, "'+l'");
    t.schema.format = "+s";

    /* Children counts that disagree. */
    t.array.n_children = N_COLS - 1;
    expect_invalid(&t, "9 columns but its array has 8 children");
    t.array.n_children = N_COLS;

    /* The struct array needs exactly one buffer. */
    t.array.n_buffers = 2;
    expect_invalid(&t, "2 buffers");
    t.array.n_buffers = 1;

    /* Non-monotonic and negative offsets (the 'utf8' column). */
    offsets = (int32_t *)text->buffers[1];
    saved = offsets[4];
    offsets[4] = offsets[3] - 1;
    expect_invalid(&t, "column 0 ('utf8', format 'u'): offsets are not monotonic at row 3");
    offsets[4] = saved;
    saved = offsets[0];
    offsets[0] = -1;
    expect_invalid(&t, "is negative");
    offsets[0] = saved;

    /* A column shorter than the struct's offset + length. */
    t.array.offset = 1;
    expect_invalid(&t, "column 0 ('utf8', format 'u'): has 23 rows, the table needs 24");
    t.array.offset = 0;

    /* Wrong buffer count for a known type. */
    text->n_buffers = 2;
    expect_invalid(&t, "column 0 ('utf8', format 'u'): has 2 buffers and 0 children, expected 3");
    text->n_buffers = 3;

    /* A null_count that disagrees with the bitmap, and nulls without one. */
    saved64 = t.array.children[C_I64]->null_count;
    t.array.children[C_I64]->null_count = saved64 + 1;
    expect_invalid(&t, "column 3 ('i64', format 'l'): null_count is");
    t.array.children[C_I64]->null_count = saved64;
    saved_ptr = t.array.children[C_I64]->buffers[0];
    t.array.children[C_I64]->buffers[0] = NULL;
    expect_invalid(&t, "no validity bitmap");
    t.array.children[C_I64]->buffers[0] = saved_ptr;

    /* A missing values buffer. */
    saved_ptr = t.array.children[C_F64]->buffers[1];
    t.array.children[C_F64]->buffers[1] = NULL;
    expect_invalid(&t, "column 6 ('f64', format 'g'): the values buffer is NULL");
    t.array.children[C_F64]->buffers[1] = saved_ptr;

    /* A fixed-size list whose values are too short. */
    list->children[0]->length = ROWS * LIST_SIZE - 1;
    expect_invalid(&t, "column 8 ('sig', format '+w:3'): 68 list values for 23 lists");
    list->children[0]->length = ROWS * LIST_SIZE;

    /* A list values array with the wrong buffer count. */
    list->children[0]->n_buffers = 1;
    expect_invalid(&t, "list values: has 1 buffers");
    list->children[0]->n_buffers = 2;

    /* A negative length. */
    t.array.children[C_BOOL]->length = -1;
    expect_invalid(&t, "column 7 ('flag', format 'b'): bad length -1");
    t.array.children[C_BOOL]->length = ROWS;

    /* A column schema with no format. */
    t.schema.children[C_U32]->format = NULL;
    expect_invalid(&t, "column 4 ('u32', format ''): the schema has no format");
    t.schema.children[C_U32]->format = "I";

    CU_ASSERT_EQUAL(wn_table_validate(&t, &err), 0);
    wn_table_release(&t);
    CU_ASSERT_EQUAL(wn_table_validate(&t, &err), WN_EINVAL);
    HAS(err.message, "released");
    CU_ASSERT_EQUAL(wn_table_validate(NULL, &err), WN_EINVAL);
}

static void test_validate_rejects_bad_hand_made_arrays(void)
{
    struct sliced s;
    struct wn_table t;
    struct wn_error err = WN_ERROR_INIT;
    static const int32_t decreasing[] = { 0, 1, 2, 4, 3, 6, 6, 9, 12 };

    make_sliced(&s, &t);
    /* Offsets outside the table's rows are still checked: the whole column is. */
    s.text_buffers[1] = decreasing;
    expect_invalid(&t, "column 0 ('text', format 'u'): offsets are not monotonic");
    s.text_buffers[1] = sliced_text_offsets;
    s.text_buffers[2] = NULL;
    expect_invalid(&t, "offsets reach byte 12 but the data buffer is NULL");
    s.text_buffers[2] = sliced_text_data;
    /* The list needs (offset 1 + length 6) * 2 = 14 values. */
    s.list_values.length = 13;
    expect_invalid(&t, "column 3 ('list', format '+w:2'): 13 list values");
    s.list_values.length = 14;
    /* Schema and array disagree on the list's child. */
    s.col_array[3].n_children = 0;
    expect_invalid(&t, "has 1 buffers and 0 children, expected 1 and 1");
    s.col_array[3].n_children = 1;
    /* A released (moved-out) column. */
    s.col_array[1].release = NULL;
    expect_invalid(&t, "column 1 ('num', format 'i'): the array is released");
    s.col_array[1].release = hand_array_release;
    s.col_schema[1].release = NULL;
    expect_invalid(&t, "column 1 ('num', format 'i'): the schema is released");
    s.col_schema[1].release = hand_schema_release;
    /* Metadata with a negative pair count. */
    {
        static const char bad_metadata[] = { -1, -1, -1, -1 };
        s.col_schema[2].metadata = bad_metadata;
        expect_invalid(&t, "column 2 ('flag', format 'b'): metadata has a negative pair count");
        s.col_schema[2].metadata = NULL;
    }
    /* Dictionary mismatch. */
    s.col_array[1].dictionary = &s.list_values;
    expect_invalid(&t, "disagree on having a dictionary");
    s.col_array[1].dictionary = NULL;
    CU_ASSERT_EQUAL(wn_table_validate(&t, &err), 0);
    wn_table_release(&t);
}

static void test_release_is_idempotent_and_frees_everything(void)
{
    struct wn_table t = { 0 };
    struct ArrowArray *moved_child, moved;

    every_type_table(&t);
    CU_ASSERT_TRUE(wn_table_is_live(&t));
    wn_table_release(&t);
    CU_ASSERT_FALSE(wn_table_is_live(&t));
    CU_ASSERT_PTR_NULL(t.schema.release);
    CU_ASSERT_PTR_NULL(t.array.release);
    wn_table_release(&t);
    wn_table_release(NULL);

    /* The callbacks set release to NULL themselves, and a consumer may move a
     * child out (the parent then skips it); ASan reports any leak. */
    every_type_table(&t);
    moved_child = t.array.children[C_UTF8];
    moved = *moved_child;
    moved_child->release = NULL;
    t.array.release(&t.array);
    CU_ASSERT_PTR_NULL(t.array.release);
    CU_ASSERT_PTR_NOT_NULL_FATAL(moved.release);
    /* The moved column is intact: row 0 null, row 1 "c0-r1-x". */
    CU_ASSERT_EQUAL(((const int32_t *)moved.buffers[1])[1], 0);
    CU_ASSERT_EQUAL(((const int32_t *)moved.buffers[1])[2], 7);
    moved.release(&moved);
    CU_ASSERT_PTR_NULL(moved.release);
    t.schema.release(&t.schema);
    CU_ASSERT_PTR_NULL(t.schema.release);
    wn_table_release(&t);
}

static void test_move_leaves_source_released(void)
{
    struct wn_table src = { 0 }, dst = { 0 };
    int rows[ROWS];

    every_type_table(&src);
    wn_table_move(&dst, &src);
    CU_ASSERT_FALSE(wn_table_is_live(&src));
    CU_ASSERT_PTR_NULL(src.schema.release);
    CU_ASSERT_PTR_NULL(src.array.release);
    CU_ASSERT_EQUAL(wn_table_num_rows(&src), 0);
    CU_ASSERT_TRUE(wn_table_is_live(&dst));
    for (int r = 0; r < ROWS; r++)
        rows[r] = r;
    check_rows(&dst, rows, ROWS);
    wn_table_release(&src);
    wn_table_release(&dst);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "build and read every type with nulls", test_build_and_read_every_type_with_nulls },
        { "column name, index, type and list size", test_column_metadata_accessors },
        { "dictionary and unknown formats are OTHER",
          test_dictionary_and_unknown_formats_are_other },
        { "empty table has zero rows and valid buffers",
          test_empty_table_has_zero_rows_and_valid_buffers },
        { "filter keeps exactly the masked rows of every type",
          test_filter_keeps_exactly_the_masked_rows_of_every_type },
        { "filter all and none", test_filter_all_and_none },
        { "filter refuses unknown format naming column and format",
          test_filter_refuses_unknown_format_naming_column_and_format },
        { "sliced struct and column offsets read correctly",
          test_sliced_struct_and_column_offsets_read_correctly },
        { "struct-level nulls read as null cells", test_struct_level_nulls_read_as_null_cells },
        { "builder rejects duplicate column", test_builder_rejects_duplicate_column },
        { "builder rejects wrong type family", test_builder_rejects_wrong_type_family },
        { "builder range-checks int32 and uint32", test_builder_range_checks_int32_and_uint32 },
        { "builder finish rejects unequal lengths and keeps rows",
          test_builder_finish_rejects_unequal_lengths_and_keeps_rows },
        { "builder is reusable after finish", test_builder_is_reusable_after_finish },
        { "builder appends many rows", test_builder_appends_many_rows },
        { "utf8 past INT32_MAX bytes fails suggesting LARGE_UTF8",
          test_utf8_past_int32_max_bytes_fails_suggesting_large_utf8 },
        { "large utf8 has int64 offsets", test_large_utf8_has_int64_offsets },
        { "append_cell copies every type", test_append_cell_copies_every_type },
        { "append_cell refuses null list elements", test_append_cell_refuses_null_list_elements },
        { "select_columns copies named columns in order",
          test_select_columns_copies_named_columns_in_order },
        { "filter keeps field metadata and flags", test_filter_keeps_field_metadata_and_flags },
        { "validate rejects broken tables with messages",
          test_validate_rejects_broken_tables_with_messages },
        { "validate rejects bad hand-made arrays", test_validate_rejects_bad_hand_made_arrays },
        { "release is idempotent and frees everything",
          test_release_is_idempotent_and_frees_everything },
        { "move leaves source released", test_move_leaves_source_released },
        { NULL, NULL },
    };

    return wn_test_run_suite("table", tests, NULL, NULL);
}
