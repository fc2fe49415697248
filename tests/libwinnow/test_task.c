/* Tests of tasks: ids, metadata, payloads, perf records (libwinnow/task.c). */
#include <stdio.h>
#include <string.h>

#include <winnow/task.h>

#include "cu.h"

static void test_child_id_is_derived_from_parent(void)
{
    struct wn_task *root = wn_task_new("root", "web");
    struct wn_task *child, *grandchild;

    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    wn_task_meta_set(root, "source", "crawl-1");
    child = wn_task_new_child(root, 3);
    grandchild = wn_task_new_child(child, 12);
    CU_ASSERT_STRING_EQUAL(wn_task_id(child), "root_3");
    CU_ASSERT_STRING_EQUAL(wn_task_id(grandchild), "root_3_12");
    CU_ASSERT_STRING_EQUAL(wn_task_dataset(grandchild), "web");
    CU_ASSERT_STRING_EQUAL(wn_task_meta_get(grandchild, "source"), "crawl-1");
    CU_ASSERT_EQUAL(wn_task_payload_kind(child), WN_PAYLOAD_EMPTY);
    CU_ASSERT_EQUAL(wn_task_num_items(child), 0);
    wn_task_free(grandchild);
    wn_task_free(child);
    wn_task_free(root);
}

/* Ids of every length around the size kept inside the task (31 bytes and a
 * NUL): each is copied whole, and a child's id too, whichever side of the
 * limit the parent's and the child's ids fall (ASan checks the frees). */
static void test_ids_of_any_length_are_kept_whole(void)
{
    char id[80], want[112];

    for (size_t len = 0; len < 70; len++) {
        struct wn_task *t, *child;

        memset(id, 'a' + (int)(len % 26), len);
        id[len] = '\0';
        t = wn_task_new(len == 0 ? NULL : id, len % 2 ? "ds" : NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        CU_ASSERT_STRING_EQUAL(wn_task_id(t), id);
        CU_ASSERT_EQUAL(strlen(wn_task_id(t)), len);
        child = wn_task_new_child(t, 1000 + len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(child);
        snprintf(want, sizeof(want), "%s_%zu", id, 1000 + len);
        CU_ASSERT_STRING_EQUAL(wn_task_id(child), want);
        if (len % 2) {
            CU_ASSERT_STRING_EQUAL(wn_task_dataset(child), "ds");
        } else {
            CU_ASSERT_PTR_NULL(wn_task_dataset(child));
        }
        wn_task_free(child);
        wn_task_free(t);
    }
}

static void test_metadata_keeps_order_and_replaces_values(void)
{
    struct wn_task *t = wn_task_new("t", NULL);
    const char *k, *v;

    CU_ASSERT_PTR_NULL(wn_task_dataset(t));
    for (int i = 0; i < 10; i++) {
        char key[16], value[16]; /* room for any int, so -Wformat-truncation stays quiet */
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(value, sizeof(value), "v%d", i);
        CU_ASSERT_EQUAL(wn_task_meta_set(t, key, value), 0);
    }
    CU_ASSERT_EQUAL(wn_task_meta_set(t, "k4", "replaced"), 0);
    CU_ASSERT_EQUAL(wn_task_meta_count(t), 10);
    wn_task_meta_at(t, 4, &k, &v);
    CU_ASSERT_STRING_EQUAL(k, "k4");
    CU_ASSERT_STRING_EQUAL(v, "replaced");
    CU_ASSERT_PTR_NULL(wn_task_meta_get(t, "missing"));
    CU_ASSERT_EQUAL(wn_task_meta_set(t, NULL, "x"), WN_EINVAL);
    wn_task_free(t);
}

static void test_files_payload_is_copied(void)
{
    struct wn_task *t = wn_task_new("t", NULL);
    char a[] = "a.jsonl";
    const char *paths[] = { a, "b.jsonl.zst" };

    CU_ASSERT_EQUAL(wn_task_set_files(t, paths, 2), 0);
    a[0] = 'z';
    CU_ASSERT_EQUAL(wn_task_payload_kind(t), WN_PAYLOAD_FILES);
    CU_ASSERT_EQUAL(wn_task_num_items(t), 2);
    CU_ASSERT_STRING_EQUAL(wn_task_file(t, 0), "a.jsonl");
    CU_ASSERT_PTR_NULL(wn_task_file(t, 2));
    CU_ASSERT_PTR_NULL(wn_task_table(t));
    wn_task_clear_payload(t);
    CU_ASSERT_EQUAL(wn_task_file_count(t), 0);
    wn_task_free(t);
}

static int destroyed;
static void count_destroy(void *data)
{
    destroyed++;
    free(data);
}
static const struct wn_blob_type counted_blob = {
    WN_BLOB_TYPE_VERSION, "test.counted", count_destroy, NULL, { NULL }
};

static void test_blob_payload_is_destroyed_once(void)
{
    struct wn_task *t = wn_task_new("t", NULL);
    size_t size = 0;

    destroyed = 0;
    CU_ASSERT_EQUAL(wn_task_set_blob(t, &counted_blob, malloc(16), 16), 0);
    CU_ASSERT_EQUAL(wn_task_num_items(t), 1);
    CU_ASSERT_PTR_NOT_NULL(wn_task_blob_data(t, &size));
    CU_ASSERT_EQUAL(size, 16);
    CU_ASSERT_STRING_EQUAL(wn_task_blob_type(t)->name, "test.counted");
    /* replacing the payload frees the old one */
    CU_ASSERT_EQUAL(wn_task_set_files(t, NULL, 0), 0);
    CU_ASSERT_EQUAL(destroyed, 1);
    CU_ASSERT_EQUAL(wn_task_set_blob(t, &counted_blob, malloc(4), 4), 0);
    wn_task_free(t);
    CU_ASSERT_EQUAL(destroyed, 2);
}

static void test_take_moves_ownership_out_of_the_slot(void)
{
    struct wn_task *slot = wn_task_new("x", NULL);
    struct wn_task *taken = wn_task_take(&slot);

    CU_ASSERT_PTR_NULL(slot);
    CU_ASSERT_STRING_EQUAL(wn_task_id(taken), "x");
    wn_task_free(taken);
    wn_task_free(NULL);
}

static void test_perf_records_accumulate(void)
{
    struct wn_task *t = wn_task_new("t", NULL);

    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(wn_task_perf_add(t, i % 2 ? "reader" : "filter", i * 0.5, 0.1, (uint64_t)i),
                        0);
    CU_ASSERT_EQUAL(wn_task_perf_count(t), 6);
    CU_ASSERT_STRING_EQUAL(wn_task_perf_at(t, 3)->stage, "reader");
    CU_ASSERT_DOUBLE_EQUAL(wn_task_perf_at(t, 3)->process_s, 1.5, 1e-12);
    CU_ASSERT_EQUAL(wn_task_perf_at(t, 5)->items, 5);
    CU_ASSERT_PTR_NULL(wn_task_perf_at(t, 6));
    wn_task_free(t);
}

static void test_perf_stage_names_are_interned_copies(void)
{
    struct wn_task *a = wn_task_new("a", NULL), *b = wn_task_new("b", NULL);
    char name[16];

    snprintf(name, sizeof(name), "stage_x");
    for (int i = 0; i < 9; i++) /* past the records kept inside the task */
        CU_ASSERT_EQUAL(wn_task_perf_add(a, name, 0.0, 0.0, 1), 0);
    CU_ASSERT_EQUAL(wn_task_perf_add(b, "stage_x", 0.0, 0.0, 1), 0);
    snprintf(name, sizeof(name), "stage_y"); /* the caller's buffer changes */
    CU_ASSERT_EQUAL(wn_task_perf_add(b, name, 0.0, 0.0, 2), 0);
    CU_ASSERT_EQUAL(wn_task_perf_count(a), 9);
    CU_ASSERT_STRING_EQUAL(wn_task_perf_at(a, 0)->stage, "stage_x");
    CU_ASSERT_STRING_EQUAL(wn_task_perf_at(a, 8)->stage, "stage_x");
    CU_ASSERT_PTR_EQUAL(wn_task_perf_at(a, 8)->stage, wn_task_perf_at(b, 0)->stage);
    CU_ASSERT_STRING_EQUAL(wn_task_perf_at(b, 1)->stage, "stage_y");
    CU_ASSERT_EQUAL(wn_task_perf_at(b, 1)->items, 2);
    wn_task_free(a);
    wn_task_free(b);
}

static void test_perf_add_many_records_each_task_and_sums_items(void)
{
    static const char *const paths[] = { "a", "b", "c" };
    struct wn_task *t[5];
    uint64_t sum = 7; /* added to, not set */

    for (int i = 0; i < 5; i++)
        t[i] = wn_task_new("t", NULL);
    CU_ASSERT_EQUAL(wn_task_set_files(t[1], paths, 3), 0);
    CU_ASSERT_EQUAL(wn_task_set_files(t[3], paths, 2), 0);
    for (int i = 0; i < 6; i++) /* t[4] past the records kept inside the task */
        CU_ASSERT_EQUAL(wn_task_perf_add(t[4], "before", 0.0, 0.0, 0), 0);
    CU_ASSERT_EQUAL(wn_task_num_items_sum(t, 5), 5);
    CU_ASSERT_EQUAL(wn_task_num_items_sum(t, 0), 0);
    CU_ASSERT_EQUAL(wn_task_perf_add_many(t, 5, "many", 0.25, 0.5, 9, &sum), 5);
    CU_ASSERT_EQUAL(sum, 12);
    for (int i = 0; i < 5; i++) {
        const struct wn_task_perf *rec = wn_task_perf_at(t[i], wn_task_perf_count(t[i]) - 1);

        CU_ASSERT_EQUAL(wn_task_perf_count(t[i]), i == 4 ? 7 : 1);
        CU_ASSERT_STRING_EQUAL(rec->stage, "many");
        CU_ASSERT_DOUBLE_EQUAL(rec->process_s, 0.25, 1e-12);
        CU_ASSERT_DOUBLE_EQUAL(rec->idle_s, 0.5, 1e-12);
        CU_ASSERT_EQUAL(rec->items, 9);
    }
    /* The same interned name as a single add's. */
    CU_ASSERT_EQUAL(wn_task_perf_add(t[0], "many", 0.0, 0.0, 0), 0);
    CU_ASSERT_PTR_EQUAL(wn_task_perf_at(t[0], 1)->stage, wn_task_perf_at(t[3], 0)->stage);
    CU_ASSERT_EQUAL(wn_task_perf_add_many(t, 0, "many", 0.0, 0.0, 0, NULL), 0);
    CU_ASSERT_EQUAL(wn_task_perf_add_many(t, 2, "many", 0.0, 0.0, 0, NULL), 2);
    for (int i = 0; i < 5; i++)
        wn_task_free(t[i]);
}

static void test_released_table_is_refused(void)
{
    struct wn_task *t = wn_task_new("t", NULL);
    struct wn_table released = { 0 };
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_task_set_table(t, &released, &err), WN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "task t"));
    CU_ASSERT_EQUAL(wn_task_payload_kind(t), WN_PAYLOAD_EMPTY);
    CU_ASSERT_EQUAL(wn_task_take_table(t, &released), WN_EINVAL);
    wn_task_free(t);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "a child id is derived from its parent", test_child_id_is_derived_from_parent },
        { "ids of any length are kept whole", test_ids_of_any_length_are_kept_whole },
        { "metadata keeps order and replaces values",
          test_metadata_keeps_order_and_replaces_values },
        { "a FILES payload is copied", test_files_payload_is_copied },
        { "a BLOB payload is destroyed once", test_blob_payload_is_destroyed_once },
        { "take moves ownership out of the slot", test_take_moves_ownership_out_of_the_slot },
        { "perf records accumulate", test_perf_records_accumulate },
        { "perf stage names are interned copies", test_perf_stage_names_are_interned_copies },
        { "perf_add_many records each task and sums items",
          test_perf_add_many_records_each_task_and_sums_items },
        { "a released table is refused", test_released_table_is_refused },
        { NULL, NULL }
    };
    return wn_test_run_suite("task", tests, NULL, NULL);
}
