/* Tests of the ucx plugin's bootstrap seam (in-process rendezvous): allgather,
 * barrier, timeouts that name the missing ranks, abort, misuse. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "bootstrap.h"
#include "cu.h"

#define MAX_RANKS 8
#define ROUNDS 40

struct rank_run {
    struct wn_ucx_rendezvous *rv;
    uint32_t rank;
    uint32_t size;
    int skip_after; /* stop taking part after this many rounds (-1: never) */
    double timeout_s;
    int rc;         /* first failure code (0: every round passed) */
    int bad_result; /* an allgather returned wrong blobs */
    int rounds_done;
    struct wn_error err;
};

/* Blob of rank r in round k: (r + k) % 5 + 1 bytes, each 'a' + r, then k. */
static size_t blob_make(uint32_t r, int k, unsigned char *buf)
{
    size_t len = (size_t)((r + (uint32_t)k) % 5 + 1);

    memset(buf, 'a' + (int)r, len);
    buf[len - 1] = (unsigned char)k;
    return len;
}

static void *rank_main(void *arg)
{
    struct rank_run *run = arg;
    struct wn_ucx_bootstrap *bs = NULL;

    run->rc = wn_ucx_bootstrap_inproc_open(run->rv, run->rank, &bs, &run->err);
    if (run->rc < 0)
        return NULL;
    for (int k = 0; k < ROUNDS; k++) {
        unsigned char mine[8], expect[8];
        struct wn_ucx_blobs *all = NULL;

        if (run->skip_after >= 0 && k >= run->skip_after)
            break;
        if (k % 3 == 2) {
            run->rc = wn_ucx_bootstrap_barrier(bs, run->timeout_s, &run->err);
        } else {
            run->rc = wn_ucx_bootstrap_allgather(bs, mine, blob_make(run->rank, k, mine),
                                                 run->timeout_s, &all, &run->err);
            if (run->rc == 0) {
                if (all->count != run->size)
                    run->bad_result = 1;
                for (uint32_t r = 0; r < all->count; r++) {
                    size_t len = blob_make(r, k, expect);

                    if (all->blob[r].len != len || memcmp(all->blob[r].data, expect, len) != 0)
                        run->bad_result = 1;
                }
            }
            wn_ucx_blobs_free(all);
        }
        if (run->rc < 0)
            break;
        run->rounds_done++;
    }
    wn_ucx_bootstrap_close(bs);
    return NULL;
}

/* Runs size ranks; rank `skipper` (if < size) leaves after skip_after rounds. */
static void run_group(uint32_t size, uint32_t skipper, int skip_after, double timeout_s,
                      struct rank_run *runs)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_ucx_rendezvous *rv = NULL;
    pthread_t threads[MAX_RANKS];

    CU_ASSERT_EQUAL_FATAL(wn_ucx_rendezvous_new("shuffle 'test'", size, &rv, &err), 0);
    for (uint32_t r = 0; r < size; r++) {
        memset(&runs[r], 0, sizeof(runs[r]));
        runs[r].rv = rv;
        runs[r].rank = r;
        runs[r].size = size;
        runs[r].timeout_s = timeout_s;
        runs[r].skip_after = r == skipper ? skip_after : -1;
        pthread_create(&threads[r], NULL, rank_main, &runs[r]);
    }
    for (uint32_t r = 0; r < size; r++)
        pthread_join(threads[r], NULL);
    wn_ucx_rendezvous_unref(rv);
}

static void test_allgather_and_barrier_rounds_deliver_every_blob_in_rank_order(void)
{
    static const uint32_t sizes[] = { 1, 2, 4, 8 };
    struct rank_run runs[MAX_RANKS];

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        run_group(sizes[i], MAX_RANKS, -1, 10.0, runs);
        for (uint32_t r = 0; r < sizes[i]; r++) {
            CU_ASSERT_EQUAL(runs[r].rc, 0);
            CU_ASSERT_EQUAL(runs[r].bad_result, 0);
            CU_ASSERT_EQUAL(runs[r].rounds_done, ROUNDS);
        }
    }
}

static void test_missing_rank_times_out_naming_it_and_wakes_the_others(void)
{
    struct rank_run runs[MAX_RANKS];

    /* Rank 2 of 4 stops after 5 rounds: whichever rank times out first names
     * rank 2, and aborts the group so the others end with that cause. */
    run_group(4, 2, 5, 0.3, runs);
    CU_ASSERT_EQUAL(runs[2].rc, 0);
    CU_ASSERT_EQUAL(runs[2].rounds_done, 5);
    for (uint32_t r = 0; r < 4; r++) {
        if (r == 2)
            continue;
        CU_ASSERT_EQUAL(runs[r].rounds_done, 5);
        CU_ASSERT(runs[r].rc == WN_ETIMEDOUT || runs[r].rc == WN_ECANCELED);
        CU_ASSERT_PTR_NOT_NULL(strstr(runs[r].err.message, "shuffle 'test'"));
        CU_ASSERT_PTR_NOT_NULL(
            strstr(runs[r].err.message, "waiting for rank(s) 2 (3 of 4 arrived)"));
    }
}

struct abort_waiter {
    struct wn_ucx_bootstrap *bs;
    int rc;
    struct wn_error err;
};

static void *barrier_main(void *arg)
{
    struct abort_waiter *w = arg;

    w->rc = wn_ucx_bootstrap_barrier(w->bs, 30.0, &w->err);
    return NULL;
}

static void test_abort_wakes_every_waiter_with_the_reason_and_later_calls_fail(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_ucx_rendezvous *rv = NULL;
    struct abort_waiter waiters[3];
    struct wn_ucx_bootstrap *last = NULL;
    pthread_t threads[3];
    char reason[128];

    CU_ASSERT_EQUAL_FATAL(wn_ucx_rendezvous_new("shuffle 'dedup'", 4, &rv, &err), 0);
    for (int i = 0; i < 3; i++) {
        memset(&waiters[i], 0, sizeof(waiters[i]));
        CU_ASSERT_EQUAL_FATAL(wn_ucx_bootstrap_inproc_open(rv, (uint32_t)i, &waiters[i].bs, &err),
                              0);
        pthread_create(&threads[i], NULL, barrier_main, &waiters[i]);
    }
    CU_ASSERT_EQUAL_FATAL(wn_ucx_bootstrap_inproc_open(rv, 3, &last, &err), 0);
    CU_ASSERT_EQUAL(wn_ucx_bootstrap_aborted(last, NULL, 0), 0);
    wn_ucx_bootstrap_abort(last, "rank 3 failed in insert: disk full");
    wn_ucx_rendezvous_abort(rv, "a later reason is ignored");
    for (int i = 0; i < 3; i++) {
        pthread_join(threads[i], NULL);
        CU_ASSERT_EQUAL(waiters[i].rc, WN_ECANCELED);
        CU_ASSERT_PTR_NOT_NULL(strstr(waiters[i].err.message, "shuffle 'dedup': rank"));
        CU_ASSERT_PTR_NOT_NULL(
            strstr(waiters[i].err.message, "barrier aborted: rank 3 failed in insert: disk full"));
        wn_ucx_bootstrap_close(waiters[i].bs);
    }
    CU_ASSERT_EQUAL(wn_ucx_bootstrap_barrier(last, 5.0, &err), WN_ECANCELED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "rank 3: bootstrap barrier aborted"));
    CU_ASSERT_EQUAL(wn_ucx_bootstrap_aborted(last, reason, sizeof(reason)), 1);
    CU_ASSERT_STRING_EQUAL(reason, "rank 3 failed in insert: disk full");
    CU_ASSERT_EQUAL(wn_ucx_rendezvous_aborted(rv, NULL, 0), 1);
    wn_ucx_bootstrap_close(last);
    wn_ucx_rendezvous_unref(rv);
}

static void test_ranks_in_different_collectives_abort_the_group(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_ucx_rendezvous *rv = NULL;
    struct abort_waiter waiter;
    struct wn_ucx_bootstrap *other = NULL;
    struct wn_ucx_blobs *blobs = NULL;
    pthread_t thread;

    CU_ASSERT_EQUAL_FATAL(wn_ucx_rendezvous_new("comms 'cc'", 2, &rv, &err), 0);
    memset(&waiter, 0, sizeof(waiter));
    CU_ASSERT_EQUAL_FATAL(wn_ucx_bootstrap_inproc_open(rv, 0, &waiter.bs, &err), 0);
    CU_ASSERT_EQUAL_FATAL(wn_ucx_bootstrap_inproc_open(rv, 1, &other, &err), 0);
    pthread_create(&thread, NULL, barrier_main, &waiter);
    /* Rank 1 may arrive first or second: either way one of the two calls names the mix-up. */
    CU_ASSERT_EQUAL(wn_ucx_bootstrap_allgather(other, "x", 1, 5.0, &blobs, &err), WN_ECANCELED);
    CU_ASSERT_PTR_NULL(blobs);
    pthread_join(thread, NULL);
    CU_ASSERT_EQUAL(waiter.rc, WN_ECANCELED);
    CU_ASSERT(strstr(err.message, "rank 1 called allgather while rank 0 is in barrier (round 0)") ||
              strstr(err.message, "rank 0 called barrier while rank 1 is in allgather (round 0)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(waiter.err.message, " (round 0)"));
    wn_ucx_bootstrap_close(waiter.bs);
    wn_ucx_bootstrap_close(other);
    wn_ucx_rendezvous_unref(rv);
}

static void test_opening_a_rank_twice_or_out_of_range_is_refused(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_ucx_rendezvous *rv = NULL;
    struct wn_ucx_bootstrap *a = NULL, *b = NULL;

    CU_ASSERT_EQUAL(wn_ucx_rendezvous_new("x", 0, &rv, &err), WN_EINVAL);
    CU_ASSERT_PTR_NULL(rv);
    CU_ASSERT_EQUAL_FATAL(wn_ucx_rendezvous_new("shuffle 's'", 2, &rv, &err), 0);
    CU_ASSERT_EQUAL(wn_ucx_bootstrap_inproc_open(rv, 1, &a, &err), 0);
    CU_ASSERT_EQUAL(wn_ucx_bootstrap_inproc_open(rv, 1, &b, &err), WN_EINVAL);
    CU_ASSERT_PTR_NULL(b);
    CU_ASSERT_STRING_EQUAL(err.message, "shuffle 's': rank 1 was already opened");
    CU_ASSERT_EQUAL(wn_ucx_bootstrap_inproc_open(rv, 2, &b, &err), WN_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.message,
                           "shuffle 's': rank 2 is out of range (the group has 2 ranks)");
    CU_ASSERT_EQUAL(wn_ucx_bootstrap_barrier(a, 0, &err), WN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "needs a timeout > 0 s"));
    /* The creator's reference goes first; the rank's handle keeps the object alive. */
    wn_ucx_rendezvous_unref(rv);
    CU_ASSERT_EQUAL(wn_ucx_bootstrap_aborted(a, NULL, 0), 0);
    wn_ucx_bootstrap_close(a);
}

static void test_single_rank_collectives_return_at_once(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_ucx_rendezvous *rv = NULL;
    struct wn_ucx_bootstrap *bs = NULL;
    struct wn_ucx_blobs *blobs = NULL;

    CU_ASSERT_EQUAL_FATAL(wn_ucx_rendezvous_new("one", 1, &rv, &err), 0);
    CU_ASSERT_EQUAL_FATAL(wn_ucx_bootstrap_inproc_open(rv, 0, &bs, &err), 0);
    CU_ASSERT_EQUAL(wn_ucx_bootstrap_allgather(bs, "hello", 5, 1.0, &blobs, &err), 0);
    CU_ASSERT_EQUAL_FATAL(blobs->count, 1);
    CU_ASSERT_EQUAL(blobs->blob[0].len, 5);
    CU_ASSERT_EQUAL(memcmp(blobs->blob[0].data, "hello", 5), 0);
    wn_ucx_blobs_free(blobs);
    CU_ASSERT_EQUAL(wn_ucx_bootstrap_allgather(bs, NULL, 0, 1.0, &blobs, &err), 0);
    CU_ASSERT_EQUAL(blobs->blob[0].len, 0);
    wn_ucx_blobs_free(blobs);
    CU_ASSERT_EQUAL(wn_ucx_bootstrap_barrier(bs, 1.0, &err), 0);
    wn_ucx_bootstrap_close(bs);
    wn_ucx_rendezvous_unref(rv);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "allgather and barrier rounds deliver every blob in rank order",
          test_allgather_and_barrier_rounds_deliver_every_blob_in_rank_order },
        { "missing rank times out naming it and wakes the others",
          test_missing_rank_times_out_naming_it_and_wakes_the_others },
        { "abort wakes every waiter with the reason and later calls fail",
          test_abort_wakes_every_waiter_with_the_reason_and_later_calls_fail },
        { "ranks in different collectives abort the group",
          test_ranks_in_different_collectives_abort_the_group },
        { "opening a rank twice or out of range is refused",
          test_opening_a_rank_twice_or_out_of_range_is_refused },
        { "single rank collectives return at once", test_single_rank_collectives_return_at_once },
        { NULL, NULL }
    };

    return wn_test_run_suite("ucx bootstrap", tests, NULL, NULL);
}
