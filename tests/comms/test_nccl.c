/*
 * Tests of the nccl comms provider.  Without a CUDA device (or without NCCL
 * in the build) the program checks what it can — the root still makes a
 * unique id, and a rank fails to join with a clear message instead of
 * hanging — and exits 77 (automake's SKIP).  With devices: every collective
 * against the reference on 1 .. min(devices, 8) ranks (one device per rank),
 * in device and in host memory, the native handles, and the no-hang checks
 * (a rank alone in a group of two times out; an abort wakes a joining rank;
 * with two devices, a rank that errors ends the others at once).
 */
#include "build_config.h"

#include <stdio.h>

#include "cu.h"

#ifndef HAVE_NCCL
int main(void)
{
    puts("SKIP: built without NCCL");
    return 77;
}
#else

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime.h>

#include "harness.h"
#include "nccl_comms.h"

#define SMALL_COUNT 37u
#define LARGE_COUNT 65537u

static const struct wn_comms_provider_ops *ops = &wn_nccl_provider_ops;
static struct wn_params *params_default;
static int n_devices;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- without a device ------------------------------------------------------------- */

/* Returns 0 when the provider behaves as it should on a machine without GPUs. */
static int check_without_device(void)
{
    struct wn_comms_group *group = NULL;
    struct wn_comms_unique_id id;
    struct wn_comms *comms = NULL;
    struct wn_error err = WN_ERROR_INIT;
    int failures = 0, rc;

    if (ops->group_new("cc", params_default, 1, &group, &err) < 0) {
        printf("FAIL: group_new: %s\n", err.message);
        return 1;
    }
    /* The root refuses before ncclGetUniqueId, whose bootstrap thread would
     * wait for ranks that cannot join. */
    rc = ops->unique_id(group, &id, &err);
    if (rc != WN_ERESOURCE || strstr(err.message, "no usable CUDA device") == NULL ||
        strstr(err.message, "\"comms\": \"ucx\"") == NULL) {
        printf("FAIL: unique_id without a GPU gave %d (%s): expected WN_ERESOURCE and a message "
               "naming the cause and the ucx provider\n",
               rc, err.message);
        failures++;
    } else {
        printf("ok: without a GPU, unique_id says: %s\n", err.message);
    }
    /* A rank handed an id of the right size still names the missing device. */
    memset(&id, 0, sizeof(id));
    id.size = 128;
    wn_error_clear(&err);
    rc = ops->rank_init(group, &id, 0, -1, &comms, &err);
    if (rc != WN_ERESOURCE || comms != NULL ||
        strstr(err.message, "no usable CUDA device") == NULL ||
        strstr(err.message, "\"comms\": \"ucx\"") == NULL) {
        printf("FAIL: rank_init without a GPU gave %d (%s): expected WN_ERESOURCE and a message "
               "naming the cause and the ucx provider\n",
               rc, err.message);
        failures++;
    } else {
        printf("ok: without a GPU, rank_init says: %s\n", err.message);
    }
    ops->group_free(group);
    return failures;
}

/* ---- collectives on devices -------------------------------------------------------- */

struct coll_arg {
    enum wn_comms_memory memory;
};

/* Copies between the host and buffers of the kind memory says. */
static void *buf_new(enum wn_comms_memory memory, size_t bytes)
{
    void *p = NULL;

    if (memory == WN_COMMS_DEVICE)
        return cudaMalloc(&p, bytes ? bytes : 1) == cudaSuccess ? p : NULL;
    return malloc(bytes ? bytes : 1);
}

static void buf_free(enum wn_comms_memory memory, void *p)
{
    if (memory == WN_COMMS_DEVICE)
        cudaFree(p);
    else
        free(p);
}

static void buf_put(enum wn_comms_memory memory, void *dst, const void *src, size_t bytes)
{
    if (memory == WN_COMMS_DEVICE)
        cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice);
    else
        memcpy(dst, src, bytes);
}

static void buf_get(enum wn_comms_memory memory, void *dst, const void *src, size_t bytes)
{
    if (memory == WN_COMMS_DEVICE)
        cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost);
    else
        memcpy(dst, src, bytes);
}

static int compare(struct wn_comms *c, const char *what, enum wn_comms_dtype dtype,
                   enum wn_comms_op op, const void *got, const void *want, size_t count,
                   struct wn_error *err)
{
    size_t es = wn_comms_dtype_size(dtype);
    long at = wn_test_first_difference(got, want, count * es, es);

    if (at < 0)
        return 0;
    return wn_error_set(err, WN_EDATA, "rank %u/%u: %s %s %s of %zu: element %ld differs", c->rank,
                        c->size, what, wn_test_dtype_name(dtype), wn_test_op_name(op), count, at);
}

/* allreduce, reduce, bcast, allgather, reduce_scatter for every type and op. */
static int collectives_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    enum wn_comms_memory mem = ((struct coll_arg *)arg)->memory;
    uint32_t salt = 0;
    int rc = 0;

    for (int large = 0; large < 2 && rc == 0; large++)
        for (size_t t = 0; t < 6 && rc == 0; t++)
            for (size_t o = 0; o < 4 && rc == 0; o++) {
                enum wn_comms_dtype dtype = wn_test_dtypes[t];
                enum wn_comms_op op = wn_test_ops[o];
                size_t count = large ? LARGE_COUNT : SMALL_COUNT;
                size_t es = wn_comms_dtype_size(dtype), n = c->size;
                size_t bytes = count * es;
                char *in = malloc(bytes * n), *want = malloc(bytes * n), *got = malloc(bytes * n);
                void *d_in = buf_new(mem, bytes * n), *d_out = buf_new(mem, bytes * n);
                uint32_t root = (uint32_t)((t + o) % n);

                salt++;
                if (large && op != WN_COMMS_SUM) /* large buffers: staging, not arithmetic */
                    goto next;
                if (!in || !want || !got || !d_in || !d_out) {
                    rc = wn_error_set(err, WN_ENOMEM, "test: out of memory");
                    goto next;
                }
                /* allreduce */
                wn_test_fill(dtype, op, c->rank, salt, in, count);
                wn_test_reference_reduce(dtype, op, c->size, salt, want, count);
                buf_put(mem, d_in, in, bytes);
                rc = wn_comms_allreduce(c, d_in, d_out, count, dtype, op, mem, err);
                if (rc == 0) {
                    buf_get(mem, got, d_out, bytes);
                    rc = compare(c, "allreduce", dtype, op, got, want, count, err);
                }
                /* reduce to root */
                if (rc == 0)
                    rc = wn_comms_reduce(c, d_in, d_out, count, dtype, op, root, mem, err);
                if (rc == 0 && c->rank == root) {
                    buf_get(mem, got, d_out, bytes);
                    rc = compare(c, "reduce", dtype, op, got, want, count, err);
                }
                /* bcast from root */
                if (rc == 0) {
                    wn_test_fill(dtype, op, root, salt, want, count);
                    rc = wn_comms_bcast(c, d_in, count, dtype, root, mem, err);
                }
                if (rc == 0) {
                    buf_get(mem, got, d_in, bytes);
                    rc = compare(c, "bcast", dtype, op, got, want, count, err);
                }
                /* allgather */
                if (rc == 0) {
                    wn_test_fill(dtype, op, c->rank, salt, in, count);
                    for (uint32_t r = 0; r < n; r++)
                        wn_test_fill(dtype, op, r, salt, want + r * bytes, count);
                    buf_put(mem, d_in, in, bytes);
                    rc = wn_comms_allgather(c, d_in, d_out, count, dtype, mem, err);
                }
                if (rc == 0) {
                    buf_get(mem, got, d_out, bytes * n);
                    rc = compare(c, "allgather", dtype, op, got, want, count * n, err);
                }
                /* reduce_scatter */
                if (rc == 0) {
                    wn_test_fill(dtype, op, c->rank, salt, in, count * n);
                    wn_test_reference_reduce(dtype, op, c->size, salt, want, count * n);
                    buf_put(mem, d_in, in, bytes * n);
                    rc = wn_comms_reduce_scatter(c, d_in, d_out, count, dtype, op, mem, err);
                }
                if (rc == 0) {
                    buf_get(mem, got, d_out, bytes);
                    rc = compare(c, "reduce_scatter", dtype, op, got, want + c->rank * bytes, count,
                                 err);
                }
            next:
                free(in);
                free(want);
                free(got);
                buf_free(mem, d_in);
                buf_free(mem, d_out);
            }
    if (rc == 0)
        rc = wn_comms_barrier(c, err);
    return rc;
}

static void run_collectives(enum wn_comms_memory memory)
{
    struct coll_arg arg = { memory };
    int max = n_devices < 8 ? n_devices : 8;

    for (int n = 1; n <= max; n = n < 4 ? n + 1 : n * 2) {
        struct wn_test_ranks out;
        int rc = wn_test_ranks_run(ops, params_default, (uint32_t)n, collectives_fn, &arg, &out);

        printf("\n  %s memory, %d rank(s): %s (%.2fs)",
               memory == WN_COMMS_DEVICE ? "device" : "host", n, rc == 0 ? "ok" : "FAILED",
               out.seconds);
        for (uint32_t r = 0; rc != 0 && r < out.n; r++)
            printf("\n    rank %u: %s", r, out.err[r].message);
        CU_ASSERT_EQUAL(rc, 0);
    }
}

static void test_collectives_on_device_buffers_match_the_reference(void)
{
    run_collectives(WN_COMMS_DEVICE);
}

static void test_collectives_on_host_buffers_are_staged_and_match(void)
{
    run_collectives(WN_COMMS_HOST);
}

static int handles_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    int *device = wn_comms_native_handle(c, "cudaDevice");

    (void)arg;
    if (strcmp(c->provider, "nccl") != 0 || wn_comms_native_handle(c, "ncclComm_t") == NULL ||
        wn_comms_native_handle(c, "cudaStream_t") == NULL || device == NULL ||
        *device != (int)c->rank || wn_comms_native_handle(c, "ucp_worker_h") != NULL)
        return wn_error_set(err, WN_EDATA, "rank %u: unexpected native handles", c->rank);
    return 0;
}

static void test_blocking_communicators_for_raft_run_the_collectives(void)
{
    struct wn_params *params = wn_test_params(wn_nccl_params, "{\"blocking\": true}");
    struct coll_arg arg = { WN_COMMS_DEVICE };
    int n = n_devices < 2 ? n_devices : 2;
    struct wn_test_ranks out;
    int rc = wn_test_ranks_run(ops, params, (uint32_t)n, collectives_fn, &arg, &out);

    for (uint32_t r = 0; rc != 0 && r < out.n; r++)
        printf("\n    rank %u: %s", r, out.err[r].message);
    CU_ASSERT_EQUAL(rc, 0);
    wn_test_params_free(params);
}

static void test_native_handles_expose_the_communicator_stream_and_device(void)
{
    struct wn_test_ranks out;

    CU_ASSERT_EQUAL(wn_test_ranks_run(ops, params_default, 1, handles_fn, NULL, &out), 0);
}

/* ---- no hang -------------------------------------------------------------------------- */

static void test_a_rank_alone_in_a_group_of_two_times_out(void)
{
    struct wn_params *params = wn_test_params(wn_nccl_params, "{\"timeout_s\": 2}");
    struct wn_comms_group *group = NULL;
    struct wn_comms_unique_id id;
    struct wn_comms *comms = NULL;
    struct wn_error err = WN_ERROR_INIT;
    double t0;

    CU_ASSERT_EQUAL_FATAL(ops->group_new("alone", params, 2, &group, &err), 0);
    CU_ASSERT_EQUAL(ops->unique_id(group, &id, &err), 0);
    t0 = now_s();
    CU_ASSERT_EQUAL(ops->rank_init(group, &id, 0, 0, &comms, &err), WN_ETIMEDOUT);
    CU_ASSERT(now_s() - t0 < 15.0);
    CU_ASSERT_PTR_NULL(comms);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "timed out after 2s"));
    printf("\n  alone: %s (%.2fs)", err.message, now_s() - t0);
    ops->group_free(group);
    wn_test_params_free(params);
}

struct joiner {
    struct wn_comms_group *group;
    struct wn_comms_unique_id id;
    int rc;
    struct wn_error err;
    double seconds;
};

static void *join_main(void *p)
{
    struct joiner *j = p;
    struct wn_comms *comms = NULL;
    double t0 = now_s();

    j->rc = ops->rank_init(j->group, &j->id, 0, 0, &comms, &j->err);
    j->seconds = now_s() - t0;
    ops->rank_destroy(j->group, comms);
    return NULL;
}

static void test_an_abort_wakes_a_rank_that_is_joining(void)
{
    struct joiner j;
    pthread_t thread;
    struct timespec pause = { 0, 500000000L };

    memset(&j, 0, sizeof(j));
    CU_ASSERT_EQUAL_FATAL(ops->group_new("abort", params_default, 2, &j.group, &j.err), 0);
    CU_ASSERT_EQUAL(ops->unique_id(j.group, &j.id, &j.err), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&thread, NULL, join_main, &j), 0);
    nanosleep(&pause, NULL);
    ops->group_abort(j.group, "rank 1 failed in its setup hook");
    pthread_join(thread, NULL);
    CU_ASSERT_EQUAL(j.rc, WN_ECANCELED);
    CU_ASSERT_PTR_NOT_NULL(strstr(j.err.message, "rank 1 failed in its setup hook"));
    CU_ASSERT(j.seconds < 10.0);
    printf("\n  abort: %s (%.2fs)", j.err.message, j.seconds);
    ops->group_free(j.group);
}

static int rank_errors_fn(struct wn_comms *c, void *arg, struct wn_error *err)
{
    int64_t x = 1, y = 0;

    (void)arg;
    if (c->rank == 1)
        return wn_error_set(err, WN_EDATA, "rank 1's stage failed on purpose");
    return wn_comms_allreduce(c, &x, &y, 1, WN_COMMS_INT64, WN_COMMS_SUM, WN_COMMS_HOST, err);
}

static void test_a_rank_that_errors_mid_collective_ends_the_others(void)
{
    struct wn_test_ranks out;
    int rc;

    if (n_devices < 2) {
        printf("\n  (needs 2 devices: skipped)");
        return;
    }
    rc = wn_test_ranks_run(ops, params_default, 2, rank_errors_fn, NULL, &out);
    CU_ASSERT(rc < 0);
    CU_ASSERT_EQUAL(out.rc[1], WN_EDATA);
    CU_ASSERT_EQUAL(out.rc[0], WN_ECANCELED);
    CU_ASSERT_PTR_NOT_NULL(strstr(out.err[0].message, "failed on purpose"));
    CU_ASSERT(out.seconds < 30.0);
    printf("\n  rank 0: %s (%.2fs)", out.err[0].message, out.seconds);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "collectives on device buffers match the reference",
          test_collectives_on_device_buffers_match_the_reference },
        { "collectives on host buffers are staged and match",
          test_collectives_on_host_buffers_are_staged_and_match },
        { "blocking communicators (for RAFT) run the collectives",
          test_blocking_communicators_for_raft_run_the_collectives },
        { "native handles expose the communicator, stream and device",
          test_native_handles_expose_the_communicator_stream_and_device },
        { "a rank alone in a group of two times out",
          test_a_rank_alone_in_a_group_of_two_times_out },
        { "an abort wakes a rank that is joining", test_an_abort_wakes_a_rank_that_is_joining },
        { "a rank that errors mid-collective ends the others",
          test_a_rank_that_errors_mid_collective_ends_the_others },
        { NULL, NULL }
    };
    cudaError_t ce;
    int rc;

    setenv("NCCL_SOCKET_IFNAME", "lo", 0);
    params_default = wn_test_params(wn_nccl_params, "{\"timeout_s\": 60}");
    if (params_default == NULL)
        return 99;
    ce = cudaGetDeviceCount(&n_devices);
    if (ce != cudaSuccess || n_devices == 0) {
        printf("no CUDA device (cudaGetDeviceCount: %s)\n",
               ce != cudaSuccess ? cudaGetErrorString(ce) : "0 devices");
        rc = check_without_device();
        wn_test_params_free(params_default);
        if (rc != 0)
            return 1;
        puts("SKIP: the collective tests need a CUDA device");
        return 77;
    }
    printf("%d CUDA device(s)\n", n_devices);
    rc = wn_test_run_suite("nccl comms", tests, NULL, NULL);
    wn_test_params_free(params_default);
    return rc;
}

#endif /* HAVE_NCCL */
