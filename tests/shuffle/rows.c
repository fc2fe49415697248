/* Test rows for the shuffle tests (see rows.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rows.h"

enum {
    COL_ID,
    COL_KEY,
    COL_PART,
    COL_TEXT,
    COL_NOTE,
    COL_SCORE,
    COL_FLAG,
    COL_SMALL,
    COL_BIG,
    COL_SIG,
    N_COLS
};

uint32_t test_rows_partition(uint64_t key, uint32_t num_partitions)
{
    uint64_t h = key * 0x9e3779b97f4a7c15ull;

    h ^= h >> 29;
    return (uint32_t)(h % num_partitions);
}

static void make_text(uint64_t key, size_t text_len, char *buf, size_t *len)
{
    size_t n = text_len ? text_len : 1 + (size_t)(key % 40);

    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + (key * 31 + i * 7) % 26);
    *len = n;
}

int test_rows_make(struct wn_table *out, uint64_t first_key, size_t n, uint32_t num_partitions,
                   size_t text_len, uint32_t *partitions)
{
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_error err = WN_ERROR_INIT;
    char *text = malloc((text_len ? text_len : 64) + 1);
    int rc = 0;

    if (b == NULL || text == NULL) {
        rc = WN_ENOMEM;
        goto out;
    }
    wn_table_builder_add_column(b, "id", WN_COLUMN_UTF8, 0);
    wn_table_builder_add_column(b, "key", WN_COLUMN_UINT64, 0);
    wn_table_builder_add_column(b, "part", WN_COLUMN_UINT32, 0);
    wn_table_builder_add_column(b, "text", WN_COLUMN_UTF8, 0);
    wn_table_builder_add_column(b, "note", WN_COLUMN_UTF8, 0);
    wn_table_builder_add_column(b, "score", WN_COLUMN_FLOAT64, 0);
    wn_table_builder_add_column(b, "flag", WN_COLUMN_BOOL, 0);
    wn_table_builder_add_column(b, "small", WN_COLUMN_INT32, 0);
    wn_table_builder_add_column(b, "big", WN_COLUMN_INT64, 0);
    wn_table_builder_add_column(b, "sig", WN_COLUMN_FIXED_LIST_UINT32, 4);
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint64_t key = first_key + i;
        uint32_t part = test_rows_partition(key, num_partitions);
        uint32_t sig[4] = { (uint32_t)key, (uint32_t)(key >> 32), part, 0xabcdu };
        char id[32];
        size_t len;

        snprintf(id, sizeof(id), "k%" PRIu64, key);
        make_text(key, text_len, text, &len);
        if (partitions != NULL)
            partitions[i] = part;
        rc |= wn_table_builder_append_utf8(b, COL_ID, id, strlen(id));
        rc |= wn_table_builder_append_uint64(b, COL_KEY, key);
        rc |= wn_table_builder_append_uint64(b, COL_PART, part);
        rc |= wn_table_builder_append_utf8(b, COL_TEXT, text, len);
        rc |= key % 7 == 0 ? wn_table_builder_append_null(b, COL_NOTE)
                           : wn_table_builder_append_utf8(b, COL_NOTE, id, strlen(id));
        rc |= wn_table_builder_append_float64(b, COL_SCORE, (double)key / 8.0);
        rc |= wn_table_builder_append_bool(b, COL_FLAG, key % 3 == 0);
        rc |= key % 5 == 0 ? wn_table_builder_append_null(b, COL_SMALL)
                           : wn_table_builder_append_int64(b, COL_SMALL, -(int64_t)(key % 1000));
        rc |= wn_table_builder_append_int64(b, COL_BIG, (int64_t)key * -3);
        rc |= wn_table_builder_append_uint32_list(b, COL_SIG, sig);
    }
    if (rc == 0)
        rc = wn_table_builder_finish(b, out, &err);
out:
    wn_table_builder_free(b);
    free(text);
    return rc;
}

uint64_t test_rows_check(const struct wn_table *t, int64_t row, size_t text_len)
{
    uint64_t key = wn_table_get_uint64(t, COL_KEY, row);
    char id[32], *expect = malloc((text_len ? text_len : 64) + 1);
    const uint32_t *sig = wn_table_get_uint32_list(t, COL_SIG, row);
    const char *s;
    size_t len, expect_len;
    int ok = expect != NULL && wn_table_num_columns(t) == N_COLS;

    if (!ok)
        goto out;
    snprintf(id, sizeof(id), "k%" PRIu64, key);
    s = wn_table_get_utf8(t, COL_ID, row, &len);
    ok &= s != NULL && len == strlen(id) && memcmp(s, id, len) == 0;
    make_text(key, text_len, expect, &expect_len);
    s = wn_table_get_utf8(t, COL_TEXT, row, &len);
    ok &= s != NULL && len == expect_len && memcmp(s, expect, len) == 0;
    s = wn_table_get_utf8(t, COL_NOTE, row, &len);
    ok &= key % 7 == 0 ? s == NULL && wn_table_is_null(t, COL_NOTE, row)
                       : s != NULL && len == strlen(id) && memcmp(s, id, len) == 0;
    ok &= wn_table_get_float64(t, COL_SCORE, row) == (double)key / 8.0;
    ok &= wn_table_get_bool(t, COL_FLAG, row) == (key % 3 == 0);
    ok &= key % 5 == 0 ? wn_table_is_null(t, COL_SMALL, row)
                       : !wn_table_is_null(t, COL_SMALL, row) &&
                             wn_table_get_int64(t, COL_SMALL, row) == -(int64_t)(key % 1000);
    ok &= wn_table_get_int64(t, COL_BIG, row) == (int64_t)key * -3;
    ok &= sig != NULL && sig[0] == (uint32_t)key && sig[1] == (uint32_t)(key >> 32) &&
          sig[2] == wn_table_get_uint64(t, COL_PART, row) && sig[3] == 0xabcdu;
out:
    free(expect);
    return ok ? key : UINT64_MAX;
}

void test_rows_render(const struct wn_table *t, int64_t row, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int64_t c = 0; c < wn_table_num_columns(t) && used + 1 < size; c++) {
        char cell[128];
        size_t len;
        const char *s;
        const uint32_t *list;

        if (wn_table_is_null(t, c, row)) {
            snprintf(cell, sizeof(cell), "null");
        } else {
            switch (wn_table_column_type(t, c)) {
            case WN_COLUMN_UTF8:
            case WN_COLUMN_LARGE_UTF8:
                s = wn_table_get_utf8(t, c, row, &len);
                snprintf(cell, sizeof(cell), "%.*s", (int)(len > 100 ? 100 : len), s);
                break;
            case WN_COLUMN_FLOAT64:
                snprintf(cell, sizeof(cell), "%.17g", wn_table_get_float64(t, c, row));
                break;
            case WN_COLUMN_BOOL:
                snprintf(cell, sizeof(cell), "%d", wn_table_get_bool(t, c, row));
                break;
            case WN_COLUMN_UINT32:
            case WN_COLUMN_UINT64:
                snprintf(cell, sizeof(cell), "%" PRIu64, wn_table_get_uint64(t, c, row));
                break;
            case WN_COLUMN_FIXED_LIST_UINT32:
                list = wn_table_get_uint32_list(t, c, row);
                snprintf(cell, sizeof(cell), "[%u,%u,%u,%u]", list[0], list[1], list[2], list[3]);
                break;
            default: snprintf(cell, sizeof(cell), "%" PRId64, wn_table_get_int64(t, c, row)); break;
            }
        }
        used += (size_t)snprintf(buf + used, size - used, "%s%s=%s", c ? "|" : "",
                                 wn_table_column_name(t, c), cell);
    }
}
