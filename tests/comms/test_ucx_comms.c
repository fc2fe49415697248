/*
 * Tests of the ucx comms provider: every collective against a reference on
 * 1, 2, 3, 4 and 8 ranks, for every type and op, on both sides of each
 * algorithm's size switch; point to point; and the failure paths (a rank
 * that errors or never comes ends the others within the timeout, mismatched
 * calls, device memory, a foreign unique id).
 */
#include "build_config.h"

#include <stdio.h>

#include "cu.h"

#ifndef HAVE_UCX
int main(void)
{
    puts("SKIP: built without UCX");
    return 77;
}
#else

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comms.h"
#include "harness.h"

static const uint32_t rank_counts[] = { 1, 2, 3, 4, 8 };
#define N_RANK_COUNTS (sizeof(rank_counts) / sizeof(rank_counts[0]))

/* Above every direct/ring switch of the provider (64 KiB, 256 KiB in total). */
#define LARGE_BYTES 90000u
#define SMALL_COUNT 37u

static struct wn_params *params_default; /* timeout_s 60: a hang fails, slowly */

static size_t large_count(enum wn_comms_dtype dtype)
{
    return LARGE_BYTES / wn_comms_dtype_size(dtype) + 7;
}

/* Runs fn on every rank count and checks every rank succeeded. */
static void run_on_all_counts(wn_test_rank_fn fn, const char *what)
{
    for (size_t k = 0; k < N_RANK_COUNTS; k++) {
        struct wn_test_ranks out;
        int rc = wn_test_ranks_run(&wn_ucx_comms_provider_ops, params_default, rank_counts[k], fn,
                                   NULL, &out);

        if (rc != 0)
            for (uint32_t r = 0; r < out.n; r++)
                if (out.err[r].message[0])
                    fprintf(stderr, "%s on %u ranks: rank %u: %s\n", what, rank_counts[k], r,
                            out.err[r].message);
        CU_ASSERT_EQUAL(rc, 0);
    }
}

static int compare(struct wn_comms *c, const char *what, enum wn_comms_dtype dtype,
                   enum wn_comms_op op, const void *got, const void *want, size_t count,
                   struct wn_error *err)
{
    size_t es = wn_comms_dtype_size(dtype);
    long at = wn_test_first_difference(got, want, count * es, es);

    if (at < 0)
        return 0;
    return wn_error_set(err, WN_EDATA, "rank %u/%u: %s %s %s of %zu elements: element %ld differs",
                        c->rank, c->size, what, wn_test_dtype_name(dtype), wn_test_op_name(op),
                        count, at);
}

/* Buffers of one case, freed together. */
struct bufs {
    void *a, *b, *c;
};

static int bufs_alloc(struct bufs *b, size_t bytes, struct wn_error *err)
{
    b->a = malloc(bytes ? bytes : 1);
    b->b = malloc(bytes ? bytes : 1);
    b->c = malloc(bytes ? bytes : 1);
    if (b->a == NULL || b->b == NULL || b->c == NULL)
        return wn_error_set(err, WN_ENOMEM, "test: out of memory");
    return 0;
}

static void bufs_free(struct bufs *b)
{
    free(b->a);
    free(b->b);
    free(b->c);
}

/* ---- allreduce ------------------------------------------------------------------ */

static int allreduce_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    uint32_t salt = 0;
    int rc = 0;

    (void)arg;
    for (int large = 0; large < 2 && rc == 0; large++)
        for (size_t t = 0; t < 6 && rc == 0; t++)
            for (size_t o = 0; o < 4 && rc == 0; o++) {
                enum wn_comms_dtype dtype = wn_test_dtypes[t];
                enum wn_comms_op op = wn_test_ops[o];
                size_t count = large ? large_count(dtype) : SMALL_COUNT;
                size_t bytes = count * wn_comms_dtype_size(dtype);
                struct bufs b;

                salt++;
                if ((rc = bufs_alloc(&b, bytes, err)) == 0) {
                    wn_test_fill(dtype, op, c->rank, salt, b.a, count);
                    wn_test_reference_reduce(dtype, op, c->size, salt, b.c, count);
                    rc = wn_comms_allreduce(c, b.a, b.b, count, dtype, op, WN_COMMS_HOST, err);
                    if (rc == 0)
                        rc = compare(c, "allreduce", dtype, op, b.b, b.c, count, err);
                    /* In place: the same buffer in and out. */
                    if (rc == 0)
                        rc = wn_comms_allreduce(c, b.a, b.a, count, dtype, op, WN_COMMS_HOST, err);
                    if (rc == 0)
                        rc = compare(c, "allreduce in place", dtype, op, b.a, b.c, count, err);
                }
                bufs_free(&b);
            }
    return rc;
}

static void test_allreduce_matches_reference_for_every_type_op_and_rank_count(void)
{
    run_on_all_counts(allreduce_fn, "allreduce");
}

/* ---- reduce ----------------------------------------------------------------------- */

static int reduce_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    uint32_t salt = 100;
    int rc = 0;

    (void)arg;
    for (int large = 0; large < 2 && rc == 0; large++)
        for (size_t t = 0; t < 6 && rc == 0; t++)
            for (size_t o = 0; o < 4 && rc == 0; o++) {
                enum wn_comms_dtype dtype = wn_test_dtypes[t];
                enum wn_comms_op op = wn_test_ops[o];
                uint32_t root = (uint32_t)((t + o) % c->size);
                size_t count = large ? large_count(dtype) : SMALL_COUNT;
                size_t bytes = count * wn_comms_dtype_size(dtype);
                struct bufs b;

                salt++;
                if ((rc = bufs_alloc(&b, bytes, err)) == 0) {
                    wn_test_fill(dtype, op, c->rank, salt, b.a, count);
                    memset(b.b, 0xa5, bytes);
                    rc = wn_comms_reduce(c, b.a, b.b, count, dtype, op, root, WN_COMMS_HOST, err);
                    if (rc == 0 && c->rank == root) {
                        wn_test_reference_reduce(dtype, op, c->size, salt, b.c, count);
                        rc = compare(c, "reduce", dtype, op, b.b, b.c, count, err);
                    } else if (rc == 0) {
                        /* Ranks other than the root keep their receive buffer. */
                        memset(b.c, 0xa5, bytes);
                        rc =
                            compare(c, "reduce (non-root buffer)", dtype, op, b.b, b.c, count, err);
                    }
                }
                bufs_free(&b);
            }
    return rc;
}

static void test_reduce_gives_the_root_the_reference_and_leaves_others_untouched(void)
{
    run_on_all_counts(reduce_fn, "reduce");
}

/* ---- bcast -------------------------------------------------------------------------- */

static int bcast_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    uint32_t salt = 200;
    int rc = 0;

    (void)arg;
    for (int large = 0; large < 2 && rc == 0; large++)
        for (size_t t = 0; t < 6 && rc == 0; t++)
            for (uint32_t root = 0; root < c->size && rc == 0; root++) {
                enum wn_comms_dtype dtype = wn_test_dtypes[t];
                size_t count = large ? large_count(dtype) : SMALL_COUNT;
                size_t bytes = count * wn_comms_dtype_size(dtype);
                struct bufs b;

                salt++;
                if ((rc = bufs_alloc(&b, bytes, err)) == 0) {
                    wn_test_fill(dtype, WN_COMMS_MIN, c->rank, salt, b.a, count);
                    wn_test_fill(dtype, WN_COMMS_MIN, root, salt, b.c, count);
                    rc = wn_comms_bcast(c, b.a, count, dtype, root, WN_COMMS_HOST, err);
                    if (rc == 0)
                        rc = compare(c, "bcast", dtype, WN_COMMS_MIN, b.a, b.c, count, err);
                }
                bufs_free(&b);
            }
    return rc;
}

static void test_bcast_from_every_root_matches_the_roots_data(void)
{
    run_on_all_counts(bcast_fn, "bcast");
}

/* ---- allgather and allgatherv ------------------------------------------------------- */

static int allgather_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    uint32_t salt = 300;
    int rc = 0;

    (void)arg;
    for (int large = 0; large < 2 && rc == 0; large++)
        for (size_t t = 0; t < 6 && rc == 0; t++) {
            enum wn_comms_dtype dtype = wn_test_dtypes[t];
            size_t es = wn_comms_dtype_size(dtype);
            size_t count = large ? large_count(dtype) : SMALL_COUNT;
            size_t bytes = count * es;
            struct bufs b;

            salt++;
            if ((rc = bufs_alloc(&b, bytes * c->size, err)) == 0) {
                wn_test_fill(dtype, WN_COMMS_MAX, c->rank, salt, b.a, count);
                for (uint32_t r = 0; r < c->size; r++)
                    wn_test_fill(dtype, WN_COMMS_MAX, r, salt, (char *)b.c + r * bytes, count);
                rc = wn_comms_allgather(c, b.a, b.b, count, dtype, WN_COMMS_HOST, err);
                if (rc == 0)
                    rc = compare(c, "allgather", dtype, WN_COMMS_MAX, b.b, b.c, count * c->size,
                                 err);
                /* In place: this rank's block already sits in the output. */
                if (rc == 0) {
                    memset(b.b, 0, bytes * c->size);
                    memcpy((char *)b.b + c->rank * bytes, b.a, bytes);
                    rc = wn_comms_allgather(c, (char *)b.b + c->rank * bytes, b.b, count, dtype,
                                            WN_COMMS_HOST, err);
                }
                if (rc == 0)
                    rc = compare(c, "allgather in place", dtype, WN_COMMS_MAX, b.b, b.c,
                                 count * c->size, err);
            }
            bufs_free(&b);
        }
    return rc;
}

static void test_allgather_places_every_ranks_block_in_rank_order(void)
{
    run_on_all_counts(allgather_fn, "allgather");
}

static int allgatherv_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    uint32_t salt = 400;
    int rc = 0;

    (void)arg;
    for (int large = 0; large < 2 && rc == 0; large++)
        for (size_t t = 0; t < 6 && rc == 0; t++) {
            enum wn_comms_dtype dtype = wn_test_dtypes[t];
            size_t es = wn_comms_dtype_size(dtype);
            size_t counts[16], displs[16], extent = 0;
            struct bufs b;

            salt++;
            /* Uneven blocks, rank 1 sends nothing, and gaps that must stay untouched. */
            for (uint32_t r = 0; r < c->size; r++) {
                counts[r] = r == 1 ? 0 : (large ? large_count(dtype) / 2 : 5) + 3 * r;
                displs[r] = extent + 2;
                extent = displs[r] + counts[r];
            }
            if ((rc = bufs_alloc(&b, extent * es, err)) == 0) {
                wn_test_fill(dtype, WN_COMMS_MAX, c->rank, salt, b.a, counts[c->rank]);
                memset(b.b, 0x5a, extent * es);
                memset(b.c, 0x5a, extent * es);
                for (uint32_t r = 0; r < c->size; r++)
                    wn_test_fill(dtype, WN_COMMS_MAX, r, salt, (char *)b.c + displs[r] * es,
                                 counts[r]);
                rc = wn_comms_allgatherv(c, b.a, b.b, counts, displs, dtype, WN_COMMS_HOST, err);
                if (rc == 0)
                    rc = compare(c, "allgatherv", dtype, WN_COMMS_MAX, b.b, b.c, extent, err);
            }
            bufs_free(&b);
        }
    return rc;
}

static void test_allgatherv_places_uneven_blocks_at_their_displacements(void)
{
    run_on_all_counts(allgatherv_fn, "allgatherv");
}

/* ---- reduce_scatter ------------------------------------------------------------------- */

static int reduce_scatter_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    uint32_t salt = 500;
    int rc = 0;

    (void)arg;
    for (int large = 0; large < 2 && rc == 0; large++)
        for (size_t t = 0; t < 6 && rc == 0; t++)
            for (size_t o = 0; o < 4 && rc == 0; o++) {
                enum wn_comms_dtype dtype = wn_test_dtypes[t];
                enum wn_comms_op op = wn_test_ops[o];
                size_t es = wn_comms_dtype_size(dtype);
                size_t count = large ? large_count(dtype) : SMALL_COUNT; /* per rank */
                size_t total = count * c->size;
                struct bufs b;

                salt++;
                if ((rc = bufs_alloc(&b, total * es, err)) == 0) {
                    wn_test_fill(dtype, op, c->rank, salt, b.a, total);
                    wn_test_reference_reduce(dtype, op, c->size, salt, b.c, total);
                    rc = wn_comms_reduce_scatter(c, b.a, b.b, count, dtype, op, WN_COMMS_HOST, err);
                    if (rc == 0)
                        rc = compare(c, "reduce_scatter", dtype, op, b.b,
                                     (char *)b.c + c->rank * count * es, count, err);
                }
                bufs_free(&b);
            }
    return rc;
}

static void test_reduce_scatter_gives_each_rank_its_reduced_block(void)
{
    run_on_all_counts(reduce_scatter_fn, "reduce_scatter");
}

/* ---- point to point and barrier -------------------------------------------------------- */

static int p2p_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    uint32_t me = c->rank, n = c->size;
    size_t count = large_count(WN_COMMS_INT64);
    struct bufs b;
    int rc;

    (void)arg;
    if ((rc = bufs_alloc(&b, count * 8, err)) < 0)
        goto out;
    /* Ring shift with sendrecv: receive the left neighbour's data. */
    for (int large = 0; large < 2 && rc == 0; large++) {
        size_t k = large ? count : SMALL_COUNT;

        wn_test_fill(WN_COMMS_INT64, WN_COMMS_MAX, me, 7, b.a, k);
        wn_test_fill(WN_COMMS_INT64, WN_COMMS_MAX, (me + n - 1) % n, 7, b.c, k);
        rc = wn_comms_sendrecv(c, b.a, k, (me + 1) % n, b.b, k, (me + n - 1) % n, WN_COMMS_INT64,
                               WN_COMMS_HOST, err);
        if (rc == 0)
            rc = compare(c, "sendrecv", WN_COMMS_INT64, WN_COMMS_MAX, b.b, b.c, k, err);
    }
    /* Pairs: even ranks send then receive, odd ranks the other way round, twice
     * (messages between a pair are matched in order). */
    if (rc == 0 && n > 1 && !(n % 2 == 1 && me == n - 1)) {
        uint32_t peer = me % 2 == 0 ? me + 1 : me - 1;

        for (int round = 0; round < 2 && rc == 0; round++) {
            wn_test_fill(WN_COMMS_INT64, WN_COMMS_MAX, me, 11 + (uint32_t)round, b.a, count);
            wn_test_fill(WN_COMMS_INT64, WN_COMMS_MAX, peer, 11 + (uint32_t)round, b.c, count);
            if (me % 2 == 0) {
                rc = wn_comms_send(c, b.a, count, WN_COMMS_INT64, peer, WN_COMMS_HOST, err);
                if (rc == 0)
                    rc = wn_comms_recv(c, b.b, count, WN_COMMS_INT64, peer, WN_COMMS_HOST, err);
            } else {
                rc = wn_comms_recv(c, b.b, count, WN_COMMS_INT64, peer, WN_COMMS_HOST, err);
                if (rc == 0)
                    rc = wn_comms_send(c, b.a, count, WN_COMMS_INT64, peer, WN_COMMS_HOST, err);
            }
            if (rc == 0)
                rc = compare(c, "send/recv", WN_COMMS_INT64, WN_COMMS_MAX, b.b, b.c, count, err);
        }
    }
out:
    bufs_free(&b);
    return rc;
}

static void test_send_recv_and_sendrecv_deliver_in_order(void)
{
    run_on_all_counts(p2p_fn, "point to point");
}

static atomic_int barrier_arrivals;

static int barrier_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    struct timespec pause = { 0, 2000000L };
    int rc = 0;

    (void)arg;
    for (int round = 1; round <= 5 && rc == 0; round++) {
        if (c->rank == (uint32_t)round % c->size)
            nanosleep(&pause, NULL); /* someone is always late */
        atomic_fetch_add(&barrier_arrivals, 1);
        rc = wn_comms_barrier(c, err);
        if (rc == 0 && atomic_load(&barrier_arrivals) < round * (int)c->size)
            rc = wn_error_set(err, WN_EDATA, "rank %u left barrier %d before every rank came",
                              c->rank, round);
        if (rc == 0)
            rc = wn_comms_barrier(c, err); /* nobody starts round + 1 before all checked */
    }
    return rc;
}

static void test_barrier_returns_only_after_every_rank_arrived(void)
{
    for (size_t k = 0; k < N_RANK_COUNTS; k++) {
        struct wn_test_ranks out;
        int rc;

        atomic_store(&barrier_arrivals, 0);
        rc = wn_test_ranks_run(&wn_ucx_comms_provider_ops, params_default, rank_counts[k],
                               barrier_fn, NULL, &out);
        for (uint32_t r = 0; rc != 0 && r < out.n; r++)
            fprintf(stderr, "barrier rank %u: %s\n", r, out.err[r].message);
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT_EQUAL(atomic_load(&barrier_arrivals), 5 * (int)rank_counts[k]);
    }
}

/* ---- the table and failures ---------------------------------------------------------------- */

static int table_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    (void)arg;
    if (c->version != WN_COMMS_VERSION || c->struct_size != sizeof(*c) ||
        strcmp(c->provider, "ucx") != 0 || c->rank >= c->size ||
        wn_comms_native_handle(c, "ucp_worker_h") == NULL ||
        wn_comms_native_handle(c, "ncclComm_t") != NULL)
        return wn_error_set(err, WN_EDATA, "rank %u: unexpected table", c->rank);
    return 0;
}

static void test_table_names_the_provider_and_exposes_the_worker(void)
{
    struct wn_test_ranks out;

    CU_ASSERT_EQUAL(
        wn_test_ranks_run(&wn_ucx_comms_provider_ops, params_default, 3, table_fn, NULL, &out), 0);
    CU_ASSERT_EQUAL(out.n, 3);
}

static int device_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    int64_t x = 1, y = 0;

    (void)arg;
    return wn_comms_allreduce(c, &x, &y, 1, WN_COMMS_INT64, WN_COMMS_SUM, WN_COMMS_DEVICE, err);
}

static void test_device_memory_is_refused_as_unsupported(void)
{
    struct wn_test_ranks out;
    int rc =
        wn_test_ranks_run(&wn_ucx_comms_provider_ops, params_default, 2, device_fn, NULL, &out);
    int refused = 0;

    /* The first rank to refuse aborts the group: the other may see that first. */
    CU_ASSERT(rc == WN_EUNSUPPORTED || rc == WN_ECANCELED);
    for (uint32_t r = 0; r < 2; r++) {
        CU_ASSERT(out.rc[r] == WN_EUNSUPPORTED || out.rc[r] == WN_ECANCELED);
        CU_ASSERT_PTR_NOT_NULL(strstr(out.err[r].message, "host memory only"));
        refused += out.rc[r] == WN_EUNSUPPORTED;
    }
    CU_ASSERT(refused >= 1);
    CU_ASSERT(out.seconds < 10.0);
}

/* Rank 1 fails (its stage errors) instead of joining the allreduce. */
static int rank_errors_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    int64_t x = 1, y = 0;

    (void)arg;
    if (c->rank == 1)
        return wn_error_set(err, WN_EDATA, "rank 1's stage failed on purpose");
    return wn_comms_allreduce(c, &x, &y, 1, WN_COMMS_INT64, WN_COMMS_SUM, WN_COMMS_HOST, err);
}

static void test_a_rank_that_errors_mid_collective_ends_the_others_at_once(void)
{
    struct wn_test_ranks out;
    int rc = wn_test_ranks_run(&wn_ucx_comms_provider_ops, params_default, 4, rank_errors_fn, NULL,
                               &out);

    CU_ASSERT_EQUAL(rc, WN_ECANCELED); /* rank 0 saw the abort */
    CU_ASSERT_EQUAL(out.rc[1], WN_EDATA);
    for (uint32_t r = 0; r < 4; r++) {
        if (r == 1)
            continue;
        CU_ASSERT_EQUAL(out.rc[r], WN_ECANCELED);
        CU_ASSERT_PTR_NOT_NULL(strstr(out.err[r].message, "failed on purpose"));
        CU_ASSERT_PTR_NOT_NULL(strstr(out.err[r].message, "allreduce"));
    }
    /* The timeout is 60 s: ending in seconds means the abort woke them. */
    CU_ASSERT(out.seconds < 10.0);
}

/* Rank 2 never comes to the collective (stuck elsewhere, or gone). */
static int rank_absent_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    int64_t x = 1, y = 0;

    (void)arg;
    if (c->rank == 2)
        return 0;
    return wn_comms_allreduce(c, &x, &y, 1, WN_COMMS_INT64, WN_COMMS_SUM, WN_COMMS_HOST, err);
}

static void test_a_rank_that_never_comes_ends_the_others_within_the_timeout(void)
{
    struct wn_params *params = wn_test_params(wn_ucx_comms_params, "{\"timeout_s\": 0.5}");
    struct wn_test_ranks out;
    int rc;

    CU_ASSERT_PTR_NOT_NULL_FATAL(params);
    rc = wn_test_ranks_run(&wn_ucx_comms_provider_ops, params, 4, rank_absent_fn, NULL, &out);
    CU_ASSERT(rc == WN_ETIMEDOUT || rc == WN_ECANCELED);
    CU_ASSERT_EQUAL(out.rc[2], 0);
    for (uint32_t r = 0; r < 4; r++) {
        if (r == 2)
            continue;
        /* Timed out itself, or woken by the first rank that did (rank 2
         * itself times out waiting for the others to finish). */
        CU_ASSERT(out.rc[r] == WN_ETIMEDOUT || out.rc[r] == WN_ECANCELED);
        CU_ASSERT_PTR_NOT_NULL(strstr(out.err[r].message, "timed out after 0.5"));
        CU_ASSERT(out.rank_seconds[r] < 5.0);
    }
    wn_test_params_free(params);
}

/* The ranks disagree on the count. */
static int mismatch_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    int64_t x[8] = { 0 }, y[8];

    (void)arg;
    return wn_comms_allreduce(c, x, y, c->rank == 0 ? 4 : 8, WN_COMMS_INT64, WN_COMMS_SUM,
                              WN_COMMS_HOST, err);
}

static void test_ranks_that_disagree_on_a_count_fail_with_a_clear_message(void)
{
    struct wn_test_ranks out;
    int rc =
        wn_test_ranks_run(&wn_ucx_comms_provider_ops, params_default, 2, mismatch_fn, NULL, &out);
    int found = 0;

    CU_ASSERT(rc < 0);
    for (uint32_t r = 0; r < 2; r++)
        found += strstr(out.err[r].message, "different counts") != NULL;
    CU_ASSERT(found >= 1);
    CU_ASSERT(out.seconds < 10.0);
}

static void test_a_foreign_unique_id_is_refused_and_nobody_hangs(void)
{
    const struct wn_comms_provider_ops *ops = &wn_ucx_comms_provider_ops;
    struct wn_comms_group *a = NULL, *b = NULL;
    struct wn_comms_unique_id id;
    struct wn_comms *comms = (struct wn_comms *)&id;
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL_FATAL(ops->group_new("a", params_default, 1, &a, &err), 0);
    CU_ASSERT_EQUAL_FATAL(ops->group_new("b", params_default, 1, &b, &err), 0);
    CU_ASSERT_EQUAL(ops->unique_id(a, &id, &err), 0);
    CU_ASSERT_EQUAL(ops->rank_init(b, &id, 0, -1, &comms, &err), WN_EINVAL);
    CU_ASSERT_PTR_NULL(comms);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "unique id is not this group's"));
    ops->group_free(a);
    ops->group_free(b);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "allreduce matches the reference for every type, op and rank count",
          test_allreduce_matches_reference_for_every_type_op_and_rank_count },
        { "reduce gives the root the reference and leaves others untouched",
          test_reduce_gives_the_root_the_reference_and_leaves_others_untouched },
        { "bcast from every root matches the root's data",
          test_bcast_from_every_root_matches_the_roots_data },
        { "allgather places every rank's block in rank order",
          test_allgather_places_every_ranks_block_in_rank_order },
        { "allgatherv places uneven blocks at their displacements",
          test_allgatherv_places_uneven_blocks_at_their_displacements },
        { "reduce_scatter gives each rank its reduced block",
          test_reduce_scatter_gives_each_rank_its_reduced_block },
        { "send, recv and sendrecv deliver in order",
          test_send_recv_and_sendrecv_deliver_in_order },
        { "barrier returns only after every rank arrived",
          test_barrier_returns_only_after_every_rank_arrived },
        { "the table names the provider and exposes the worker",
          test_table_names_the_provider_and_exposes_the_worker },
        { "device memory is refused as unsupported", test_device_memory_is_refused_as_unsupported },
        { "a rank that errors mid-collective ends the others at once",
          test_a_rank_that_errors_mid_collective_ends_the_others_at_once },
        { "a rank that never comes ends the others within the timeout",
          test_a_rank_that_never_comes_ends_the_others_within_the_timeout },
        { "ranks that disagree on a count fail with a clear message",
          test_ranks_that_disagree_on_a_count_fail_with_a_clear_message },
        { "a foreign unique id is refused and nobody hangs",
          test_a_foreign_unique_id_is_refused_and_nobody_hangs },
        { NULL, NULL }
    };
    int rc;

    params_default = wn_test_params(wn_ucx_comms_params, "{\"timeout_s\": 60}");
    if (params_default == NULL)
        return 99;
    rc = wn_test_run_suite("ucx comms", tests, NULL, NULL);
    wn_test_params_free(params_default);
    return rc;
}

#endif /* HAVE_UCX */
