/* Tests of the shuffle's segments (rows to bytes and back) and of a rank's
 * partition store (memory limit, spilling, extraction order). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu.h"
#include "rows.h"
#include "shuffle_format.h"
#include "shuffle_pool.h"
#include "shuffle_store.h"

/* A segment of rows[0..n) of t, malloc'd. */
static void *segment_of(const struct wn_table *t, uint32_t partition, const uint32_t *rows,
                        size_t n, size_t *len)
{
    void *buf;

    *len = wn_ucx_segment_size(t, rows, n);
    buf = malloc(*len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    wn_ucx_segment_write(t, partition, rows, n, buf);
    return buf;
}

static void test_segments_carry_every_column_type_and_null_and_concatenate(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table t, back;
    uint32_t parts[20];
    const uint32_t first[] = { 5, 0, 14, 3 }, second[] = { 19, 12 };
    struct wn_ucx_segment_ref refs[2];
    struct wn_ucx_segment_header header;
    size_t len0, len1;
    void *seg0, *seg1;

    CU_ASSERT_EQUAL_FATAL(test_rows_make(&t, 100, 20, 3, 0, parts), 0);
    CU_ASSERT_EQUAL(wn_ucx_format_check(&t, &err), 0);
    seg0 = segment_of(&t, 2, first, 4, &len0);
    seg1 = segment_of(&t, 2, second, 2, &len1);
    CU_ASSERT_EQUAL(len0 % 8, 0);
    CU_ASSERT_EQUAL(wn_ucx_segment_peek(seg0, len0, &header, "test", &err), 0);
    CU_ASSERT_EQUAL(header.partition, 2);
    CU_ASSERT_EQUAL(header.num_rows, 4);
    CU_ASSERT_EQUAL(header.num_columns, 10);
    CU_ASSERT_EQUAL(header.length, len0);
    refs[0].data = seg0;
    refs[0].len = len0;
    refs[1].data = seg1;
    refs[1].len = len1;
    CU_ASSERT_EQUAL_FATAL(wn_ucx_segments_to_table(refs, 2, &back, &err), 0);
    CU_ASSERT_EQUAL(wn_table_validate(&back, &err), 0);
    CU_ASSERT_EQUAL_FATAL(wn_table_num_rows(&back), 6);
    CU_ASSERT_STRING_EQUAL(wn_table_column_name(&back, 9), "sig");
    CU_ASSERT_EQUAL(wn_table_column_list_size(&back, 9), 4);
    for (int64_t r = 0; r < 6; r++) {
        char want[512], got[512];
        uint32_t src = r < 4 ? first[r] : second[r - 4];

        test_rows_render(&t, src, want, sizeof(want));
        test_rows_render(&back, r, got, sizeof(got));
        CU_ASSERT_STRING_EQUAL(got, want);
        CU_ASSERT_EQUAL(test_rows_check(&back, r, 0), 100 + src);
    }
    /* Nulls kept: note (column 4) of keys 105, 119, 112; small (7) of 105, 100. */
    CU_ASSERT(wn_table_is_null(&back, 4, 0) && wn_table_is_null(&back, 4, 4) &&
              wn_table_is_null(&back, 4, 5) && !wn_table_is_null(&back, 4, 1));
    CU_ASSERT(wn_table_is_null(&back, 7, 0) && wn_table_is_null(&back, 7, 1) &&
              !wn_table_is_null(&back, 7, 2));
    wn_table_release(&back);
    wn_table_release(&t);
    free(seg0);
    free(seg1);
}

static void test_segments_honour_the_struct_offset_of_a_sliced_table(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table t, back;
    const uint32_t rows[] = { 0, 2 };
    struct wn_ucx_segment_ref ref;
    size_t len;
    void *seg;

    CU_ASSERT_EQUAL_FATAL(test_rows_make(&t, 40, 10, 2, 0, NULL), 0);
    t.array.offset = 3; /* rows 0 and 2 of the slice are keys 43 and 45 */
    t.array.length = 7;
    seg = segment_of(&t, 0, rows, 2, &len);
    ref.data = seg;
    ref.len = len;
    CU_ASSERT_EQUAL_FATAL(wn_ucx_segments_to_table(&ref, 1, &back, &err), 0);
    CU_ASSERT_EQUAL(wn_table_num_rows(&back), 2);
    CU_ASSERT_EQUAL(test_rows_check(&back, 0, 0), 43);
    CU_ASSERT_EQUAL(test_rows_check(&back, 1, 0), 45);
    wn_table_release(&back);
    t.array.offset = 0;
    t.array.length = 10;
    wn_table_release(&t);
    free(seg);
}

/* wn_ucx_segment_fit gives, for every room, the most leading rows whose
 * segment fits, and that segment's exact size. */
static void check_fit_against_sizes(const struct wn_table *t, const uint32_t *rows, size_t n)
{
    size_t all = wn_ucx_segment_size(t, rows, n), one = wn_ucx_segment_size(t, rows, 1);
    int bad = 0;

    for (size_t room = one > 64 ? one - 64 : 0; room <= all + 64; room += 8) {
        size_t size = 0, k = wn_ucx_segment_fit(t, rows, n, room, &size);

        if (k > n || (k > 0 && wn_ucx_segment_size(t, rows, k) > room) ||
            (k < n && wn_ucx_segment_size(t, rows, k + 1) <= room) ||
            size != wn_ucx_segment_size(t, rows, k > 0 ? k : 1))
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_the_rows_fitting_a_room_match_whole_segment_sizes(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_table t, wide;
    uint32_t rows[40];

    /* Every column type, nulls in two columns (the first null row adds a
     * validity bitmap), rows out of order. */
    CU_ASSERT_EQUAL_FATAL(test_rows_make(&t, 100, 40, 3, 0, NULL), 0);
    for (uint32_t i = 0; i < 40; i++)
        rows[i] = (i * 17 + 3) % 40;
    check_fit_against_sizes(&t, rows, 40);
    check_fit_against_sizes(&t, rows + 10, 1);
    wn_table_release(&t);
    /* More columns than the fit keeps on its stack. */
    for (int c = 0; c < 24; c++) {
        char name[16];

        snprintf(name, sizeof(name), "c%d", c);
        wn_table_builder_add_column(b, name, c % 2 ? WN_COLUMN_UTF8 : WN_COLUMN_INT64, 0);
    }
    for (int r = 0; r < 40; r++)
        for (int c = 0; c < 24; c++) {
            if (c % 2)
                wn_table_builder_append_utf8(b, c, "abcdefghijklmnopqrstuvwxyz", (size_t)(r % 27));
            else
                wn_table_builder_append_int64(b, c, r * c);
        }
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &wide, &err), 0);
    wn_table_builder_free(b);
    check_fit_against_sizes(&wide, rows, 40);
    wn_table_release(&wide);
}

static void test_no_segments_give_an_empty_table(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table back;

    CU_ASSERT_EQUAL_FATAL(wn_ucx_segments_to_table(NULL, 0, &back, &err), 0);
    CU_ASSERT(wn_table_is_live(&back));
    CU_ASSERT_EQUAL(wn_table_num_rows(&back), 0);
    CU_ASSERT_EQUAL(wn_table_num_columns(&back), 0);
    CU_ASSERT_EQUAL(wn_table_validate(&back, &err), 0);
    wn_table_release(&back);
}

static void test_segments_with_different_columns_are_refused(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table_builder *b = wn_table_builder_new();
    struct wn_table t, other, back;
    const uint32_t rows[] = { 0 };
    struct wn_ucx_segment_ref refs[2];
    size_t len0, len1;
    void *seg0, *seg1;

    CU_ASSERT_EQUAL_FATAL(test_rows_make(&t, 1, 2, 1, 0, NULL), 0);
    wn_table_builder_add_column(b, "id", WN_COLUMN_INT64, 0);
    wn_table_builder_append_int64(b, 0, 5);
    CU_ASSERT_EQUAL_FATAL(wn_table_builder_finish(b, &other, &err), 0);
    seg0 = segment_of(&t, 0, rows, 1, &len0);
    seg1 = segment_of(&other, 0, rows, 1, &len1);
    refs[0].data = seg0;
    refs[0].len = len0;
    refs[1].data = seg1;
    refs[1].len = len1;
    CU_ASSERT_EQUAL(wn_ucx_segments_to_table(refs, 2, &back, &err), WN_EDATA);
    CU_ASSERT_STRING_EQUAL(err.message, "segment 1 has 1 columns, segment 0 has 10: rows inserted "
                                        "into one shuffle must share their columns");
    CU_ASSERT(!wn_table_is_live(&back));
    wn_table_builder_free(b);
    wn_table_release(&t);
    wn_table_release(&other);
    free(seg0);
    free(seg1);
}

static void test_damaged_segments_are_refused(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table t, back;
    const uint32_t rows[] = { 0, 1 };
    struct wn_ucx_segment_ref ref;
    size_t len;
    unsigned char *seg;

    CU_ASSERT_EQUAL_FATAL(test_rows_make(&t, 1, 2, 1, 0, NULL), 0);
    seg = segment_of(&t, 0, rows, 2, &len);
    ref.data = seg;
    ref.len = len - 8; /* cut short */
    CU_ASSERT_EQUAL(wn_ucx_segments_to_table(&ref, 1, &back, &err), WN_EDATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "does not fit"));
    ref.len = len;
    seg[0] ^= 0xff;
    CU_ASSERT_EQUAL(wn_ucx_segments_to_table(&ref, 1, &back, &err), WN_EDATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "not a table segment"));
    wn_table_release(&t);
    free(seg);
}

static void test_a_column_type_segments_cannot_carry_is_named(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_table t;
    const char *saved;

    CU_ASSERT_EQUAL_FATAL(test_rows_make(&t, 1, 2, 1, 0, NULL), 0);
    saved = t.schema.children[4]->format;
    t.schema.children[4]->format = "z"; /* binary */
    CU_ASSERT_EQUAL(wn_ucx_format_check(&t, &err), WN_EUNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "column 'note' has Arrow format 'z'"));
    t.schema.children[4]->format = saved;
    wn_table_release(&t);
}

/* ---- the store ------------------------------------------------------------- */

static char *make_dir(void)
{
    char *dir = strdup("/tmp/wn-test-store-XXXXXX");

    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    return dir;
}

static int dir_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* Adds, as chunk seq from src, one segment per partition in parts[] with the
 * rows of t whose partition it is. */
static int add_chunk(struct wn_ucx_store *store, const struct wn_table *t, const uint32_t *row_part,
                     size_t n_rows, const uint32_t *parts, size_t n_parts, uint32_t src,
                     uint32_t seq, struct wn_error *err)
{
    size_t total = 0, cap = 0, lens[8];
    uint32_t rows[8][64], counts[8] = { 0 };
    char *chunk, *p;

    for (size_t k = 0; k < n_parts; k++) {
        for (size_t i = 0; i < n_rows; i++)
            if (row_part[i] == parts[k])
                rows[k][counts[k]++] = (uint32_t)i;
        lens[k] = wn_ucx_segment_size(t, rows[k], counts[k]);
        total += lens[k];
    }
    chunk = p = wn_ucx_pool_get(total, &cap);
    for (size_t k = 0; k < n_parts; k++) {
        wn_ucx_segment_write(t, parts[k], rows[k], counts[k], p);
        p += lens[k];
    }
    return wn_ucx_store_add(store, chunk, total, cap, src, seq, err);
}

/* Stores the same chunks with a given memory limit and renders partition 1. */
static void store_run(uint64_t limit, const char *dir, char *out, size_t size,
                      struct wn_ucx_store_stats *stats)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_ucx_store *store = NULL;
    struct wn_table a, b, got;
    uint32_t pa[12], pb[12];
    const uint32_t both[] = { 1, 3 }, one[] = { 1 };
    size_t used = 0;

    /* Rank 1 of 2 owns partitions 1 and 3 of 4. */
    CU_ASSERT_EQUAL_FATAL(
        wn_ucx_store_new("shuffle 't': rank 1", 1, 2, 4, limit, dir, &store, &err), 0);
    CU_ASSERT_EQUAL_FATAL(test_rows_make(&a, 0, 12, 4, 0, pa), 0);
    CU_ASSERT_EQUAL_FATAL(test_rows_make(&b, 500, 12, 4, 0, pb), 0);
    /* Out of order on purpose: extraction sorts by (source, sequence, position). */
    CU_ASSERT_EQUAL(add_chunk(store, &b, pb, 12, both, 2, 1, 0, &err), 0);
    CU_ASSERT_EQUAL(add_chunk(store, &a, pa, 12, one, 1, 0, 1, &err), 0);
    CU_ASSERT_EQUAL(add_chunk(store, &a, pa, 12, both, 2, 0, 0, &err), 0);
    wn_ucx_store_stats(store, stats);
    CU_ASSERT_EQUAL(wn_ucx_store_extract(store, 1, &got, &err), 0);
    for (int64_t r = 0; r < wn_table_num_rows(&got) && used < size; r++) {
        CU_ASSERT_EQUAL(wn_table_get_uint64(&got, 2, r), 1);
        test_rows_render(&got, r, out + used, size - used);
        used += strlen(out + used);
        used += (size_t)snprintf(out + used, size - used, "\n");
    }
    wn_table_release(&got);
    CU_ASSERT_EQUAL(wn_ucx_store_extract(store, 1, &got, &err), WN_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.message, "shuffle 't': rank 1: partition 1 was already extracted");
    CU_ASSERT_EQUAL(wn_ucx_store_extract(store, 2, &got, &err), WN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "partition 2 is not owned by rank 1"));
    CU_ASSERT_EQUAL(wn_ucx_store_extract(store, 3, &got, &err), 0);
    CU_ASSERT(wn_table_num_rows(&got) > 0);
    wn_table_release(&got);
    wn_table_release(&a);
    wn_table_release(&b);
    wn_ucx_store_free(store);
}

static void test_spilled_and_kept_partitions_extract_identically_in_a_fixed_order(void)
{
    static char kept[65536], spilled[65536];
    struct wn_ucx_store_stats kept_stats, spilled_stats;
    char *dir = make_dir();

    store_run(1u << 30, dir, kept, sizeof(kept), &kept_stats);
    store_run(0, dir, spilled, sizeof(spilled), &spilled_stats);
    CU_ASSERT_STRING_EQUAL(spilled, kept);
    CU_ASSERT(strlen(kept) > 100);
    /* Rows of source 0 (keys below 500, twice: chunks 0 and 1) come before
     * those of source 1. */
    {
        const char *p = kept;
        int seen_b = 0, a_after_b = 0, a_rows = 0;

        while ((p = strstr(p, "|key=")) != NULL) {
            long key = strtol(p + 5, NULL, 10);

            if (key >= 500)
                seen_b = 1;
            else if (seen_b)
                a_after_b = 1;
            else
                a_rows++;
            p += 5;
        }
        CU_ASSERT(seen_b);
        CU_ASSERT_EQUAL(a_after_b, 0);
        CU_ASSERT(a_rows >= 2 && a_rows % 2 == 0);
    }
    CU_ASSERT_EQUAL(kept_stats.spilled_bytes, 0);
    CU_ASSERT(kept_stats.memory_bytes > 0);
    CU_ASSERT_EQUAL(kept_stats.memory_peak, kept_stats.memory_bytes);
    CU_ASSERT_EQUAL(kept_stats.chunks, 3);
    CU_ASSERT_EQUAL(spilled_stats.memory_bytes, 0);
    CU_ASSERT_EQUAL(spilled_stats.memory_peak, 0);
    CU_ASSERT_EQUAL(spilled_stats.spilled_segments, 5);
    CU_ASSERT_EQUAL(spilled_stats.spilled_bytes, kept_stats.memory_bytes);
    /* The spill file was unlinked as soon as it was made. */
    CU_ASSERT_EQUAL(dir_entries(dir), 0);
    rmdir(dir);
    free(dir);
}

static void test_store_refuses_foreign_partitions_and_reports_spill_failures(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_ucx_store *store = NULL;
    struct wn_table t;
    uint32_t parts[4];
    const uint32_t zero[] = { 0 };

    CU_ASSERT_EQUAL_FATAL(test_rows_make(&t, 0, 4, 1, 0, parts), 0);
    CU_ASSERT_EQUAL_FATAL(
        wn_ucx_store_new("shuffle 't': rank 1", 1, 2, 2, 1u << 20, "/tmp", &store, &err), 0);
    CU_ASSERT_EQUAL(add_chunk(store, &t, parts, 4, zero, 1, 0, 3, &err), WN_EDATA);
    CU_ASSERT_STRING_EQUAL(err.message, "shuffle 't': rank 1: chunk 3 from rank 0: holds rows of "
                                        "partition 0, which rank 1 does not own (2 partitions, "
                                        "2 ranks)");
    wn_ucx_store_free(store);
    store = NULL;
    CU_ASSERT_EQUAL_FATAL(wn_ucx_store_new("shuffle 't': rank 0", 0, 1, 1, 0,
                                           "/nonexistent/winnow-test", &store, &err),
                          0);
    CU_ASSERT_EQUAL(add_chunk(store, &t, parts, 4, zero, 1, 0, 0, &err), WN_EIO);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(err.message, "cannot create a spill file in /nonexistent/winnow-test"));
    wn_ucx_store_free(store);
    wn_table_release(&t);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "segments carry every column type and null and concatenate",
          test_segments_carry_every_column_type_and_null_and_concatenate },
        { "segments honour the struct offset of a sliced table",
          test_segments_honour_the_struct_offset_of_a_sliced_table },
        { "the rows fitting a room match whole segment sizes",
          test_the_rows_fitting_a_room_match_whole_segment_sizes },
        { "no segments give an empty table", test_no_segments_give_an_empty_table },
        { "segments with different columns are refused",
          test_segments_with_different_columns_are_refused },
        { "damaged segments are refused", test_damaged_segments_are_refused },
        { "a column type segments cannot carry is named",
          test_a_column_type_segments_cannot_carry_is_named },
        { "spilled and kept partitions extract identically in a fixed order",
          test_spilled_and_kept_partitions_extract_identically_in_a_fixed_order },
        { "store refuses foreign partitions and reports spill failures",
          test_store_refuses_foreign_partitions_and_reports_spill_failures },
        { NULL, NULL }
    };

    return wn_test_run_suite("shuffle segments and store", tests, NULL, NULL);
}
