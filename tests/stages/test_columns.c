/*
 * Tests of the jsonl_reader's late-typed columns (plugins/stages/io/columns.c),
 * compiled here with IO_UTF8_MAX_BYTES = 16 so that the switch to large_utf8
 * is reached without gigabytes of text.
 */
#include "build_config.h"

#include "columns.h"
#include "cu.h"

#include <string.h>

static void test_string_column_past_the_limit_becomes_large_utf8(void)
{
    struct io_columns cols = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table table = { 0 };
    int64_t small = io_columns_add(&cols, "small", 5, &err);
    int64_t big = io_columns_add(&cols, "big", 3, &err);
    const char *s;
    size_t len = 0;

    CU_ASSERT_EQUAL_FATAL(small, 0);
    CU_ASSERT_EQUAL_FATAL(big, 1);
    /* small: 16 bytes in all (the limit); big: 17 bytes, with a null in between. */
    CU_ASSERT_EQUAL(io_column_append_string(&cols.items[small], IO_COLUMN_STRING, 0, "12345678", 8),
                    0);
    CU_ASSERT_EQUAL(io_column_append_string(&cols.items[small], IO_COLUMN_STRING, 2, "abcdefgh", 8),
                    0);
    CU_ASSERT_EQUAL(io_column_append_string(&cols.items[big], IO_COLUMN_JSON, 0, "[1,2,3,4,5]", 11),
                    0);
    CU_ASSERT_EQUAL(io_column_append_string(&cols.items[big], IO_COLUMN_JSON, 2, "{\"a\":1}", 7),
                    0);
    CU_ASSERT_EQUAL_FATAL(io_columns_export(&cols, 4, &table, &err), 0);
    CU_ASSERT_EQUAL(cols.count, 0);
    CU_ASSERT_EQUAL(wn_table_validate(&table, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&table), 4);
    CU_ASSERT_EQUAL(wn_table_column_type(&table, 0), WN_COLUMN_UTF8);
    CU_ASSERT_EQUAL(wn_table_column_type(&table, 1), WN_COLUMN_LARGE_UTF8);
    s = wn_table_get_utf8(&table, 0, 2, &len);
    CU_ASSERT(len == 8 && memcmp(s, "abcdefgh", 8) == 0);
    CU_ASSERT(wn_table_is_null(&table, 0, 1));
    CU_ASSERT(wn_table_is_null(&table, 0, 3));
    s = wn_table_get_utf8(&table, 1, 0, &len);
    CU_ASSERT(len == 11 && memcmp(s, "[1,2,3,4,5]", 11) == 0);
    s = wn_table_get_utf8(&table, 1, 2, &len);
    CU_ASSERT(len == 7 && memcmp(s, "{\"a\":1}", 7) == 0);
    CU_ASSERT(wn_table_is_null(&table, 1, 3));
    CU_ASSERT_EQUAL(table.array.children[1]->null_count, 2);
    wn_table_release(&table);
}

static void test_every_kind_exports_with_nulls_padded(void)
{
    struct io_columns cols = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table table = { 0 };
    const int64_t rows = 3000; /* past the first buffer growth */

    CU_ASSERT_EQUAL(io_columns_add(&cols, "i", 1, &err), 0);
    CU_ASSERT_EQUAL(io_columns_add(&cols, "f", 1, &err), 1);
    CU_ASSERT_EQUAL(io_columns_add(&cols, "b", 1, &err), 2);
    CU_ASSERT_EQUAL(io_columns_add(&cols, "none", 4, &err), 3);
    CU_ASSERT_EQUAL(io_columns_find(&cols, "b", 1), 2);
    CU_ASSERT_EQUAL(io_columns_find(&cols, "bb", 2), -1);
    for (int64_t row = 0; row < rows; row++) {
        if (row % 3 != 1)
            CU_ASSERT_EQUAL(io_column_append_int64(&cols.items[0], row, row * 7), 0);
        if (row >= 2000)
            CU_ASSERT_EQUAL(io_column_append_float64(&cols.items[1], row, row / 2.0), 0);
        if (row % 2 == 0)
            CU_ASSERT_EQUAL(io_column_append_bool(&cols.items[2], row, row % 4 == 0), 0);
    }
    /* An integer into a float column is converted. */
    CU_ASSERT_EQUAL(io_column_append_int64(&cols.items[1], rows, 9), 0);
    CU_ASSERT_EQUAL_FATAL(io_columns_export(&cols, rows + 1, &table, &err), 0);
    CU_ASSERT_EQUAL(wn_table_validate(&table, &err), 0);
    CU_ASSERT_EQUAL(wn_table_column_type(&table, 0), WN_COLUMN_INT64);
    CU_ASSERT_EQUAL(wn_table_column_type(&table, 1), WN_COLUMN_FLOAT64);
    CU_ASSERT_EQUAL(wn_table_column_type(&table, 2), WN_COLUMN_BOOL);
    CU_ASSERT_EQUAL(wn_table_column_type(&table, 3), WN_COLUMN_UTF8);
    CU_ASSERT_STRING_EQUAL(wn_table_column_name(&table, 3), "none");
    for (int64_t row = 0; row <= rows; row++) {
        /* CU_ASSERT is a block: braces keep the else with its if. */
        if (row % 3 != 1 && row < rows) {
            CU_ASSERT_EQUAL(wn_table_get_int64(&table, 0, row), row * 7);
        } else {
            CU_ASSERT(wn_table_is_null(&table, 0, row));
        }
        if (row >= 2000 && row < rows) {
            CU_ASSERT_EQUAL(wn_table_get_float64(&table, 1, row), row / 2.0);
        } else if (row < 2000) {
            CU_ASSERT(wn_table_is_null(&table, 1, row));
        }
        if (row % 2 == 0 && row < rows) {
            CU_ASSERT_EQUAL(wn_table_get_bool(&table, 2, row), row % 4 == 0);
        } else {
            CU_ASSERT(wn_table_is_null(&table, 2, row));
        }
        CU_ASSERT(wn_table_is_null(&table, 3, row));
    }
    CU_ASSERT_EQUAL(wn_table_get_float64(&table, 1, rows), 9.0);
    CU_ASSERT_EQUAL(table.array.children[3]->null_count, rows + 1);
    wn_table_release(&table);
}

static void test_many_fields_keep_their_index(void)
{
    struct io_columns cols = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    char name[16];

    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        CU_ASSERT_EQUAL(io_columns_add(&cols, name, strlen(name), &err), i);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        CU_ASSERT_EQUAL(io_columns_find(&cols, name, strlen(name)), i);
    }
    CU_ASSERT_EQUAL(io_columns_find(&cols, "f500", 4), -1);
    io_columns_clear(&cols);
}

static void test_a_moved_out_child_is_not_released_twice(void)
{
    struct io_columns cols = { 0 };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table table = { 0 };
    struct ArrowArray moved;

    io_columns_add(&cols, "s", 1, &err);
    io_column_append_string(&cols.items[0], IO_COLUMN_STRING, 0, "x", 1);
    CU_ASSERT_EQUAL_FATAL(io_columns_export(&cols, 1, &table, &err), 0);
    /* A consumer may move a child out (Arrow C data interface) and release it alone. */
    moved = *table.array.children[0];
    table.array.children[0]->release = NULL;
    wn_table_release(&table);
    CU_ASSERT_PTR_NOT_NULL_FATAL(moved.release);
    moved.release(&moved);
    CU_ASSERT_PTR_NULL(moved.release);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "string column past the limit becomes large_utf8",
          test_string_column_past_the_limit_becomes_large_utf8 },
        { "every kind exports with nulls padded", test_every_kind_exports_with_nulls_padded },
        { "many fields keep their index", test_many_fields_keep_their_index },
        { "a moved-out child is not released twice", test_a_moved_out_child_is_not_released_twice },
        { NULL, NULL },
    };

    return wn_test_run_suite("io_columns", tests, NULL, NULL);
}
