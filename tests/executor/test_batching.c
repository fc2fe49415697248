/* Batching of the actor_pool executor (plugins/backends/actor_pool/batching.c). */
#include "build_config.h"

#include <stdlib.h>
#include <string.h>

#include "batching.h"
#include "cu.h"

/* Splits and compares with want[0..n_want) given as {start, len} pairs. */
static void check_split(size_t n_tasks, size_t batch_size, size_t n_chunks, const size_t (*want)[2],
                        size_t n_want)
{
    struct wn_batch_range *ranges = NULL;
    struct wn_error err = WN_ERROR_INIT;
    size_t n = 99;

    CU_ASSERT_EQUAL_FATAL(wn_batching_split(n_tasks, batch_size, n_chunks, &ranges, &n, &err), 0);
    CU_ASSERT_EQUAL(n, n_want);
    for (size_t i = 0; i < n && i < n_want; i++) {
        CU_ASSERT_EQUAL(ranges[i].start, want[i][0]);
        CU_ASSERT_EQUAL(ranges[i].len, want[i][1]);
    }
    free(ranges);
}

static void test_by_size_last_batch_is_short(void)
{
    static const size_t want[][2] = { { 0, 3 }, { 3, 3 }, { 6, 3 }, { 9, 1 } };
    check_split(10, 3, 0, want, 4);
}

static void test_by_size_exact_multiple(void)
{
    static const size_t want[][2] = { { 0, 2 }, { 2, 2 }, { 4, 2 } };
    check_split(6, 2, 0, want, 3);
}

static void test_by_size_larger_than_input_gives_one_batch(void)
{
    static const size_t want[][2] = { { 0, 5 } };
    check_split(5, 100, 0, want, 1);
}

static void test_by_size_one_gives_one_task_per_batch(void)
{
    static const size_t want[][2] = { { 0, 1 }, { 1, 1 }, { 2, 1 } };
    check_split(3, 1, 0, want, 3);
}

static void test_chunks_first_ones_are_longer(void)
{
    static const size_t want[][2] = { { 0, 4 }, { 4, 3 }, { 7, 3 } };
    check_split(10, 0, 3, want, 3);
}

static void test_chunks_uneven_by_two(void)
{
    static const size_t want[][2] = { { 0, 3 }, { 3, 3 }, { 6, 2 }, { 8, 2 } };
    check_split(10, 0, 4, want, 4);
}

static void test_chunks_equal_to_tasks(void)
{
    static const size_t want[][2] = { { 0, 1 }, { 1, 1 }, { 2, 1 }, { 3, 1 } };
    check_split(4, 0, 4, want, 4);
}

static void test_more_chunks_than_tasks_drops_empty_chunks(void)
{
    static const size_t want[][2] = { { 0, 1 }, { 1, 1 }, { 2, 1 } };
    check_split(3, 0, 5, want, 3);
}

static void test_one_chunk_holds_everything(void)
{
    static const size_t want[][2] = { { 0, 7 } };
    check_split(7, 0, 1, want, 1);
}

static void test_empty_input_gives_no_batch(void)
{
    struct wn_batch_range *ranges = (struct wn_batch_range *)&ranges;
    struct wn_error err = WN_ERROR_INIT;
    size_t n = 99;

    CU_ASSERT_EQUAL(wn_batching_split(0, 4, 0, &ranges, &n, &err), 0);
    CU_ASSERT_PTR_NULL(ranges);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(wn_batching_split(0, 0, 3, &ranges, &n, &err), 0);
    CU_ASSERT_PTR_NULL(ranges);
    CU_ASSERT_EQUAL(n, 0);
}

static void test_exactly_one_of_size_and_chunks(void)
{
    struct wn_batch_range *ranges = NULL;
    struct wn_error err = WN_ERROR_INIT;
    size_t n = 99;

    CU_ASSERT_EQUAL(wn_batching_split(10, 2, 3, &ranges, &n, &err), WN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "exactly one of"));
    CU_ASSERT_PTR_NULL(ranges);
    CU_ASSERT_EQUAL(n, 0);
    wn_error_clear(&err);
    CU_ASSERT_EQUAL(wn_batching_split(10, 0, 0, &ranges, &n, &err), WN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "exactly one of"));
}

static void test_batches_cover_every_task_once(void)
{
    for (size_t n_tasks = 0; n_tasks < 40; n_tasks++) {
        for (size_t k = 1; k < 12; k++) {
            for (int mode = 0; mode < 2; mode++) {
                struct wn_batch_range *ranges = NULL;
                struct wn_error err = WN_ERROR_INIT;
                size_t n = 0, next = 0;

                CU_ASSERT_EQUAL_FATAL(
                    wn_batching_split(n_tasks, mode ? 0 : k, mode ? k : 0, &ranges, &n, &err), 0);
                for (size_t i = 0; i < n; i++) {
                    CU_ASSERT_EQUAL(ranges[i].start, next);
                    CU_ASSERT(ranges[i].len >= 1);
                    if (mode == 0) {
                        CU_ASSERT(ranges[i].len <= k);
                    } else {
                        CU_ASSERT(ranges[i].len + 1 >= ranges[0].len);
                    }
                    next += ranges[i].len;
                }
                CU_ASSERT_EQUAL(next, n_tasks);
                if (mode == 1) {
                    CU_ASSERT_EQUAL(n, n_tasks < k ? n_tasks : k);
                }
                free(ranges);
            }
        }
    }
}

static void test_small_batches_are_published_64_tasks_at_a_time(void)
{
    CU_ASSERT_EQUAL(wn_batching_publish_every(1), 64);
    CU_ASSERT_EQUAL(wn_batching_publish_every(2), 32);
    CU_ASSERT_EQUAL(wn_batching_publish_every(4), 16);
    CU_ASSERT_EQUAL(wn_batching_publish_every(64), 16);
    CU_ASSERT_EQUAL(wn_batching_publish_every(1000), 16);
    CU_ASSERT_EQUAL(wn_batching_publish_every(0), 64); /* 0 means 1 */
}

static void test_an_actor_takes_its_share_at_most_8_batches(void)
{
    CU_ASSERT_EQUAL(wn_batching_claim(1, 2, 64, 1000), 1);
    CU_ASSERT_EQUAL(wn_batching_claim(5, 2, 64, 1000), 2);
    CU_ASSERT_EQUAL(wn_batching_claim(16, 2, 64, 1000), 8);
    CU_ASSERT_EQUAL(wn_batching_claim(1000, 2, 64, 1), 8); /* large batches: never more */
    CU_ASSERT_EQUAL(wn_batching_claim(3, 8, 1, 100), 1);   /* at least one */
    CU_ASSERT_EQUAL(wn_batching_claim(7, 0, 64, 0), 7);    /* no actor counted yet: 1 */
}

static void test_short_small_batches_are_taken_up_to_64_tasks(void)
{
    /* 100 ns batches of 1 task: 64 at once; of 4 tasks: 16 */
    CU_ASSERT_EQUAL(wn_batching_claim(1024, 2, 1, 100), 64);
    CU_ASSERT_EQUAL(wn_batching_claim(1024, 2, 4, 100), 16);
    /* about 100 us of work: 5 us batches, 20 at once */
    CU_ASSERT_EQUAL(wn_batching_claim(1024, 2, 1, 5000), 20);
    /* still the actor's share */
    CU_ASSERT_EQUAL(wn_batching_claim(40, 2, 1, 100), 20);
}

static void test_slow_or_unknown_batches_are_taken_8_at_most(void)
{
    CU_ASSERT_EQUAL(wn_batching_claim(1024, 2, 1, 2000000), 8); /* 2 ms each */
    CU_ASSERT_EQUAL(wn_batching_claim(1024, 2, 1, 50000), 8);   /* 2 of them are 100 us */
    CU_ASSERT_EQUAL(wn_batching_claim(1024, 2, 1, 0), 8);       /* not timed yet */
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "small batches are published 64 tasks at a time",
          test_small_batches_are_published_64_tasks_at_a_time },
        { "an actor takes its share, at most 8 batches",
          test_an_actor_takes_its_share_at_most_8_batches },
        { "short small batches are taken up to 64 tasks",
          test_short_small_batches_are_taken_up_to_64_tasks },
        { "slow or unknown batches are taken 8 at most",
          test_slow_or_unknown_batches_are_taken_8_at_most },
        { "by size: last batch is short", test_by_size_last_batch_is_short },
        { "by size: exact multiple", test_by_size_exact_multiple },
        { "by size: larger than input gives one batch",
          test_by_size_larger_than_input_gives_one_batch },
        { "by size: one gives one task per batch", test_by_size_one_gives_one_task_per_batch },
        { "chunks: first len%n ones are longer", test_chunks_first_ones_are_longer },
        { "chunks: uneven by two", test_chunks_uneven_by_two },
        { "chunks: as many as tasks", test_chunks_equal_to_tasks },
        { "chunks: more than tasks drops empty chunks",
          test_more_chunks_than_tasks_drops_empty_chunks },
        { "chunks: one holds everything", test_one_chunk_holds_everything },
        { "empty input gives no batch", test_empty_input_gives_no_batch },
        { "exactly one of size and chunks", test_exactly_one_of_size_and_chunks },
        { "batches cover every task once, in order", test_batches_cover_every_task_once },
        { NULL, NULL },
    };

    return wn_test_run_suite("actor_pool batching", tests, NULL, NULL);
}
