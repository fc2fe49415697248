/*
 * The nccl comms provider (NeMo Curator's RayActorPoolRAFTAdapter, in C).
 *
 * The root makes the ncclUniqueId (unique_id), every rank joins with
 * ncclCommInitRankConfig on its own actor thread and device.  Communicators
 * are non-blocking (config.blocking = 0) unless the "blocking" param asks
 * otherwise (RAFT's std_comms treats ncclInProgress as an error), so that no
 * NCCL call can hang a thread: every call returns at once and the rank then
 * waits, polling ncclCommGetAsyncError and cudaStreamQuery, until the work
 * is done, the group is aborted or timeout_s passes.  Any failure aborts the
 * rank's communicator with ncclCommAbort and leaves it unusable; a clean
 * rank finalizes and destroys it.
 *
 * Host buffers are staged through a device scratch buffer of the rank's own
 * (grown as needed): copied in, reduced on the device, copied out.
 */
#include "build_config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime.h>
/* nccl.h declares ncclGroupStart() and a few others without (void). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <nccl.h>
#pragma GCC diagnostic pop

#include <winnow/comms.h>
#include <winnow/error.h>
#include <winnow/log.h>
#include <winnow/params.h>

#include "nccl_comms.h"

#define LOG_DOMAIN "nccl"
#define DEFAULT_TIMEOUT_S 300.0
/* Polls spin (yielding) this long before they start sleeping between checks. */
#define SPIN_S 0.002
#define SLEEP_NS 50000L
/* Scratch regions start on this boundary. */
#define SCRATCH_ALIGN 256u

const struct wn_param_spec wn_nccl_params[] = {
    { "timeout_s", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN, "300", 0.001, 0, NULL,
      "longest any wait may take (joining the group, one collective) before the rank aborts" },
    { "blocking", WN_PARAM_BOOL, 0, "false", 0, 0, NULL,
      "blocking NCCL communicator, as RAFT's std_comms expects (joining then has no timeout)" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

struct wn_comms_group {
    char name[128]; /* the stage's name, for messages */
    uint32_t size;
    double timeout_s;
    int blocking; /* NCCL blocking communicators (config.blocking = 1) */
    atomic_int aborted;
    pthread_mutex_t lock; /* guards reason */
    char reason[512];
};

struct nccl_rank {
    struct wn_comms comms; /* comms.impl points back here */
    struct wn_comms_group *group;
    ncclComm_t comm; /* NULL once aborted */
    cudaStream_t stream;
    int device;
    int failed;    /* a call failed: the communicator was aborted */
    void *scratch; /* device staging for host buffers */
    size_t scratch_bytes;
};

/* ---- time and the abort flag -------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Between two polls: yield first, then sleep a little. */
static void poll_pause(double started)
{
    struct timespec pause = { 0, SLEEP_NS };

    if (now_s() - started < SPIN_S)
        sched_yield();
    else
        nanosleep(&pause, NULL);
}

static int group_aborted(struct wn_comms_group *group)
{
    return atomic_load(&group->aborted);
}

/* Copies the abort reason (under the lock: it is written once). */
static void group_reason(struct wn_comms_group *group, char *buf, size_t size)
{
    pthread_mutex_lock(&group->lock);
    snprintf(buf, size, "%s", group->reason);
    pthread_mutex_unlock(&group->lock);
}

/* ---- failures ------------------------------------------------------------ */

/* Aborts the rank's communicator: never blocks on peers. */
static void rank_abort_comm(struct nccl_rank *r)
{
    r->failed = 1;
    if (r->comm != NULL) {
        ncclCommAbort(r->comm);
        r->comm = NULL;
    }
}

static void nccl_group_abort(struct wn_comms_group *group, const char *reason);

static int rank_fail(struct nccl_rank *r, struct wn_error *err, int code, const char *fmt, ...)
    WN_PRINTF(4, 5);

/* Records a failure of rank r: aborts its communicator, aborts the group (so
 * that the other ranks stop waiting for this one now rather than at their
 * timeout) and sets *err ("nccl comms 'stage' rank R/N: <message>").
 * Returns code. */
static int rank_fail(struct nccl_rank *r, struct wn_error *err, int code, const char *fmt, ...)
{
    char message[WN_ERROR_MESSAGE_MAX / 2], full[WN_ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    rank_abort_comm(r);
    snprintf(full, sizeof(full), "nccl comms '%s' rank %u/%u: %s", r->group->name, r->comms.rank,
             r->comms.size, message);
    if (code != WN_ECANCELED)
        nccl_group_abort(r->group, full);
    return wn_error_set(err, code, "%s", full);
}

static int abort_error(struct nccl_rank *r, const char *what, struct wn_error *err)
{
    char reason[512];

    group_reason(r->group, reason, sizeof(reason));
    return rank_fail(r, err, WN_ECANCELED, "%s: group aborted: %s", what, reason);
}

static int nccl_error(struct nccl_rank *r, const char *what, ncclResult_t st, struct wn_error *err)
{
    const char *last = ncclGetLastError(r->comm);

    return rank_fail(r, err, WN_EIO, "%s failed: %s%s%s", what, ncclGetErrorString(st),
                     last && *last ? ": " : "", last ? last : "");
}

static int cuda_error(struct nccl_rank *r, const char *what, cudaError_t ce, struct wn_error *err)
{
    return rank_fail(r, err, WN_EIO, "%s failed: CUDA error %d (%s)", what, (int)ce,
                     cudaGetErrorString(ce));
}

static int timeout_error(struct nccl_rank *r, const char *what, struct wn_error *err)
{
    return rank_fail(r, err, WN_ETIMEDOUT,
                     "%s: timed out after %gs (a rank stopped, failed or never joined; raise "
                     "comms_params.timeout_s if the work is that long)",
                     what, r->group->timeout_s);
}

/* ---- waiting --------------------------------------------------------------- */

/* Checks the communicator's asynchronous state once: 1 while in progress, 0
 * when done, negative on error (the communicator is then aborted). */
static int poll_async(struct nccl_rank *r, const char *what, struct wn_error *err)
{
    ncclResult_t state = ncclSuccess;
    ncclResult_t st = ncclCommGetAsyncError(r->comm, &state);

    if (st != ncclSuccess)
        return nccl_error(r, what, st, err);
    if (state == ncclInProgress)
        return 1;
    if (state != ncclSuccess)
        return nccl_error(r, what, state, err);
    return 0;
}

/* Waits until the communicator is no longer "in progress" (a non-blocking
 * call returned), polling the abort flag and the deadline. */
static int wait_comm_ready(struct nccl_rank *r, const char *what, double deadline,
                           struct wn_error *err)
{
    double started = now_s();
    int rc;

    for (;;) {
        rc = poll_async(r, what, err);
        if (rc <= 0)
            return rc;
        if (group_aborted(r->group))
            return abort_error(r, what, err);
        if (now_s() > deadline)
            return timeout_error(r, what, err);
        poll_pause(started);
    }
}

/* Waits until everything queued on the rank's stream ran. */
static int wait_stream(struct nccl_rank *r, const char *what, double deadline, struct wn_error *err)
{
    double started = now_s();
    cudaError_t ce;
    int rc;

    for (;;) {
        ce = cudaStreamQuery(r->stream);
        if (ce == cudaSuccess)
            return 0;
        if (ce != cudaErrorNotReady)
            return cuda_error(r, what, ce, err);
        rc = poll_async(r, what, err);
        if (rc < 0)
            return rc;
        if (group_aborted(r->group))
            return abort_error(r, what, err);
        if (now_s() > deadline)
            return timeout_error(r, what, err);
        poll_pause(started);
    }
}

/* After a non-blocking NCCL call: checks its result and waits until it was queued. */
static int launched(struct nccl_rank *r, const char *what, ncclResult_t st, double deadline,
                    struct wn_error *err)
{
    if (st != ncclSuccess && st != ncclInProgress)
        return nccl_error(r, what, st, err);
    return wait_comm_ready(r, what, deadline, err);
}

/* ---- argument checks and staging ----------------------------------------- */

static struct nccl_rank *rank_of(struct wn_comms *comms)
{
    return comms->impl;
}

/* Common entry checks: a usable communicator, the device current on this thread. */
static int enter(struct nccl_rank *r, const char *what, struct wn_error *err)
{
    cudaError_t ce;

    if (r->comm == NULL)
        return rank_fail(r, err, WN_ECANCELED,
                         "%s: the communicator was aborted after an earlier "
                         "failure",
                         what);
    if (group_aborted(r->group))
        return abort_error(r, what, err);
    ce = cudaSetDevice(r->device);
    if (ce != cudaSuccess)
        return cuda_error(r, what, ce, err);
    return 0;
}

static int to_nccl_type(enum wn_comms_dtype dtype, ncclDataType_t *out)
{
    switch (dtype) {
    case WN_COMMS_INT32: *out = ncclInt32; return 0;
    case WN_COMMS_INT64: *out = ncclInt64; return 0;
    case WN_COMMS_UINT64: *out = ncclUint64; return 0;
    case WN_COMMS_FLOAT32: *out = ncclFloat32; return 0;
    case WN_COMMS_FLOAT64: *out = ncclFloat64; return 0;
    case WN_COMMS_UINT8: *out = ncclUint8; return 0;
    }
    return -1;
}

static int to_nccl_op(enum wn_comms_op op, ncclRedOp_t *out)
{
    switch (op) {
    case WN_COMMS_SUM: *out = ncclSum; return 0;
    case WN_COMMS_PROD: *out = ncclProd; return 0;
    case WN_COMMS_MIN: *out = ncclMin; return 0;
    case WN_COMMS_MAX: *out = ncclMax; return 0;
    }
    return -1;
}

/* Checks dtype (and op, when op_needed), memory and count; gives the NCCL
 * type and op and count * element size in *bytes. */
static int check_args(struct nccl_rank *r, const char *what, enum wn_comms_dtype dtype,
                      int op_needed, enum wn_comms_op op, enum wn_comms_memory memory, size_t count,
                      ncclDataType_t *type, ncclRedOp_t *nop, size_t *bytes, struct wn_error *err)
{
    size_t es = wn_comms_dtype_size(dtype);

    if (es == 0 || to_nccl_type(dtype, type) < 0)
        return rank_fail(r, err, WN_EINVAL, "%s: unknown dtype %d", what, (int)dtype);
    if (op_needed && to_nccl_op(op, nop) < 0)
        return rank_fail(r, err, WN_EINVAL, "%s: unknown op %d", what, (int)op);
    if (memory != WN_COMMS_HOST && memory != WN_COMMS_DEVICE)
        return rank_fail(r, err, WN_EINVAL, "%s: unknown memory type %d", what, (int)memory);
    if (count > SIZE_MAX / es / (r->comms.size ? r->comms.size : 1))
        return rank_fail(r, err, WN_EINVAL, "%s: count %zu is too large", what, count);
    *bytes = count * es;
    return 0;
}

static int check_rank_arg(struct nccl_rank *r, const char *what, const char *name, uint32_t v,
                          struct wn_error *err)
{
    if (v < r->comms.size)
        return 0;
    return rank_fail(r, err, WN_EINVAL, "%s: %s %u is not a rank of the group", what, name, v);
}

static size_t align_up(size_t n)
{
    return (n + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN;
}

/* Makes the scratch buffer at least bytes long; returns its address in *out. */
static int scratch_reserve(struct nccl_rank *r, const char *what, size_t bytes, char **out,
                           struct wn_error *err)
{
    cudaError_t ce;

    if (bytes == 0)
        bytes = SCRATCH_ALIGN;
    if (r->scratch_bytes < bytes) {
        if (r->scratch != NULL)
            cudaFree(r->scratch);
        r->scratch = NULL;
        r->scratch_bytes = 0;
        ce = cudaMalloc(&r->scratch, bytes);
        if (ce != cudaSuccess) {
            r->scratch = NULL;
            return rank_fail(r, err, WN_ENOMEM,
                             "%s: cannot allocate %zu bytes of device memory to stage host "
                             "buffers: %s",
                             what, bytes, cudaGetErrorString(ce));
        }
        r->scratch_bytes = bytes;
    }
    *out = r->scratch;
    return 0;
}

static int copy_async(struct nccl_rank *r, const char *what, void *dst, const void *src,
                      size_t bytes, enum cudaMemcpyKind kind, struct wn_error *err)
{
    cudaError_t ce;

    if (bytes == 0)
        return 0;
    ce = cudaMemcpyAsync(dst, src, bytes, kind, r->stream);
    if (ce != cudaSuccess)
        return cuda_error(r, what, ce, err);
    return 0;
}

/* ---- collectives ---------------------------------------------------------- */

static int nccl_allreduce(struct wn_comms *comms, const void *sendbuf, void *recvbuf, size_t count,
                          enum wn_comms_dtype dtype, enum wn_comms_op op,
                          enum wn_comms_memory memory, struct wn_error *err)
{
    static const char what[] = "allreduce";
    struct nccl_rank *r = rank_of(comms);
    double deadline = now_s() + r->group->timeout_s;
    const void *send = sendbuf;
    void *recv = recvbuf;
    ncclDataType_t type;
    ncclRedOp_t nop;
    size_t bytes;
    char *s;
    int rc;

    if ((rc = check_args(r, what, dtype, 1, op, memory, count, &type, &nop, &bytes, err)) < 0 ||
        (rc = enter(r, what, err)) < 0)
        return rc;
    if (memory == WN_COMMS_HOST) {
        if ((rc = scratch_reserve(r, what, align_up(bytes) + bytes, &s, err)) < 0 ||
            (rc = copy_async(r, what, s, sendbuf, bytes, cudaMemcpyHostToDevice, err)) < 0)
            return rc;
        send = s;
        recv = s + align_up(bytes);
    }
    rc = launched(r, what, ncclAllReduce(send, recv, count, type, nop, r->comm, r->stream),
                  deadline, err);
    if (rc == 0 && memory == WN_COMMS_HOST)
        rc = copy_async(r, what, recvbuf, recv, bytes, cudaMemcpyDeviceToHost, err);
    if (rc == 0)
        rc = wait_stream(r, what, deadline, err);
    return rc;
}

static int nccl_bcast(struct wn_comms *comms, void *buf, size_t count, enum wn_comms_dtype dtype,
                      uint32_t root, enum wn_comms_memory memory, struct wn_error *err)
{
    static const char what[] = "bcast";
    struct nccl_rank *r = rank_of(comms);
    double deadline = now_s() + r->group->timeout_s;
    void *dbuf = buf;
    ncclDataType_t type;
    size_t bytes;
    char *s;
    int rc;

    if ((rc = check_args(r, what, dtype, 0, WN_COMMS_SUM, memory, count, &type, NULL, &bytes,
                         err)) < 0 ||
        (rc = check_rank_arg(r, what, "root", root, err)) < 0 || (rc = enter(r, what, err)) < 0)
        return rc;
    if (memory == WN_COMMS_HOST) {
        if ((rc = scratch_reserve(r, what, bytes, &s, err)) < 0)
            return rc;
        if (comms->rank == root &&
            (rc = copy_async(r, what, s, buf, bytes, cudaMemcpyHostToDevice, err)) < 0)
            return rc;
        dbuf = s;
    }
    rc = launched(r, what, ncclBroadcast(dbuf, dbuf, count, type, (int)root, r->comm, r->stream),
                  deadline, err);
    if (rc == 0 && memory == WN_COMMS_HOST && comms->rank != root)
        rc = copy_async(r, what, buf, dbuf, bytes, cudaMemcpyDeviceToHost, err);
    if (rc == 0)
        rc = wait_stream(r, what, deadline, err);
    return rc;
}

static int nccl_reduce(struct wn_comms *comms, const void *sendbuf, void *recvbuf, size_t count,
                       enum wn_comms_dtype dtype, enum wn_comms_op op, uint32_t root,
                       enum wn_comms_memory memory, struct wn_error *err)
{
    static const char what[] = "reduce";
    struct nccl_rank *r = rank_of(comms);
    double deadline = now_s() + r->group->timeout_s;
    const void *send = sendbuf;
    void *recv = recvbuf;
    ncclDataType_t type;
    ncclRedOp_t nop;
    size_t bytes;
    char *s;
    int rc;

    if ((rc = check_args(r, what, dtype, 1, op, memory, count, &type, &nop, &bytes, err)) < 0 ||
        (rc = check_rank_arg(r, what, "root", root, err)) < 0 || (rc = enter(r, what, err)) < 0)
        return rc;
    if (memory == WN_COMMS_HOST) {
        if ((rc = scratch_reserve(r, what, align_up(bytes) + bytes, &s, err)) < 0 ||
            (rc = copy_async(r, what, s, sendbuf, bytes, cudaMemcpyHostToDevice, err)) < 0)
            return rc;
        send = s;
        recv = s + align_up(bytes);
    }
    rc = launched(r, what, ncclReduce(send, recv, count, type, nop, (int)root, r->comm, r->stream),
                  deadline, err);
    if (rc == 0 && memory == WN_COMMS_HOST && comms->rank == root)
        rc = copy_async(r, what, recvbuf, recv, bytes, cudaMemcpyDeviceToHost, err);
    if (rc == 0)
        rc = wait_stream(r, what, deadline, err);
    return rc;
}

static int nccl_allgather(struct wn_comms *comms, const void *sendbuf, void *recvbuf,
                          size_t sendcount, enum wn_comms_dtype dtype, enum wn_comms_memory memory,
                          struct wn_error *err)
{
    static const char what[] = "allgather";
    struct nccl_rank *r = rank_of(comms);
    double deadline = now_s() + r->group->timeout_s;
    const void *send = sendbuf;
    void *recv = recvbuf;
    ncclDataType_t type;
    size_t bytes, total;
    char *s;
    int rc;

    if ((rc = check_args(r, what, dtype, 0, WN_COMMS_SUM, memory, sendcount, &type, NULL, &bytes,
                         err)) < 0 ||
        (rc = enter(r, what, err)) < 0)
        return rc;
    total = bytes * comms->size;
    if (memory == WN_COMMS_HOST) {
        if ((rc = scratch_reserve(r, what, align_up(bytes) + total, &s, err)) < 0 ||
            (rc = copy_async(r, what, s, sendbuf, bytes, cudaMemcpyHostToDevice, err)) < 0)
            return rc;
        send = s;
        recv = s + align_up(bytes);
    }
    rc = launched(r, what, ncclAllGather(send, recv, sendcount, type, r->comm, r->stream), deadline,
                  err);
    if (rc == 0 && memory == WN_COMMS_HOST)
        rc = copy_async(r, what, recvbuf, recv, total, cudaMemcpyDeviceToHost, err);
    if (rc == 0)
        rc = wait_stream(r, what, deadline, err);
    return rc;
}

/* NCCL has no allgatherv: one broadcast per rank in a group, as RAFT does. */
static int nccl_allgatherv(struct wn_comms *comms, const void *sendbuf, void *recvbuf,
                           const size_t *recvcounts, const size_t *displs,
                           enum wn_comms_dtype dtype, enum wn_comms_memory memory,
                           struct wn_error *err)
{
    static const char what[] = "allgatherv";
    struct nccl_rank *r = rank_of(comms);
    double deadline = now_s() + r->group->timeout_s;
    size_t es = wn_comms_dtype_size(dtype);
    size_t extent = 0, bytes, send_bytes;
    const char *send = sendbuf;
    char *recv = recvbuf, *s;
    ncclDataType_t type;
    ncclResult_t st, end;
    int rc;

    if (recvcounts == NULL || displs == NULL)
        return rank_fail(rank_of(comms), err, WN_EINVAL,
                         "%s: recvcounts and displs are "
                         "required",
                         what);
    for (uint32_t i = 0; i < comms->size; i++) {
        if (es == 0 || displs[i] > SIZE_MAX / es - recvcounts[i])
            return rank_fail(rank_of(comms), err, WN_EINVAL, "%s: bad dtype or counts", what);
        if (displs[i] + recvcounts[i] > extent)
            extent = displs[i] + recvcounts[i];
    }
    if ((rc = check_args(r, what, dtype, 0, WN_COMMS_SUM, memory, extent, &type, NULL, &bytes,
                         err)) < 0 ||
        (rc = enter(r, what, err)) < 0)
        return rc;
    send_bytes = recvcounts[comms->rank] * es;
    if (memory == WN_COMMS_HOST) {
        if ((rc = scratch_reserve(r, what, align_up(send_bytes) + bytes, &s, err)) < 0 ||
            (rc = copy_async(r, what, s, sendbuf, send_bytes, cudaMemcpyHostToDevice, err)) < 0)
            return rc;
        send = s;
        recv = s + align_up(send_bytes);
    }
    st = ncclGroupStart();
    for (uint32_t i = 0; st == ncclSuccess && i < comms->size; i++)
        st = ncclBroadcast(send, recv + displs[i] * es, recvcounts[i], type, (int)i, r->comm,
                           r->stream);
    end = ncclGroupEnd();
    if (st == ncclSuccess)
        st = end;
    rc = launched(r, what, st, deadline, err);
    for (uint32_t i = 0; rc == 0 && memory == WN_COMMS_HOST && i < comms->size; i++)
        rc = copy_async(r, what, (char *)recvbuf + displs[i] * es, recv + displs[i] * es,
                        recvcounts[i] * es, cudaMemcpyDeviceToHost, err);
    if (rc == 0)
        rc = wait_stream(r, what, deadline, err);
    return rc;
}

static int nccl_reduce_scatter(struct wn_comms *comms, const void *sendbuf, void *recvbuf,
                               size_t recvcount, enum wn_comms_dtype dtype, enum wn_comms_op op,
                               enum wn_comms_memory memory, struct wn_error *err)
{
    static const char what[] = "reduce_scatter";
    struct nccl_rank *r = rank_of(comms);
    double deadline = now_s() + r->group->timeout_s;
    const void *send = sendbuf;
    void *recv = recvbuf;
    ncclDataType_t type;
    ncclRedOp_t nop;
    size_t bytes, total;
    char *s;
    int rc;

    if ((rc = check_args(r, what, dtype, 1, op, memory, recvcount, &type, &nop, &bytes, err)) < 0 ||
        (rc = enter(r, what, err)) < 0)
        return rc;
    total = bytes * comms->size;
    if (memory == WN_COMMS_HOST) {
        if ((rc = scratch_reserve(r, what, align_up(total) + bytes, &s, err)) < 0 ||
            (rc = copy_async(r, what, s, sendbuf, total, cudaMemcpyHostToDevice, err)) < 0)
            return rc;
        send = s;
        recv = s + align_up(total);
    }
    rc = launched(r, what, ncclReduceScatter(send, recv, recvcount, type, nop, r->comm, r->stream),
                  deadline, err);
    if (rc == 0 && memory == WN_COMMS_HOST)
        rc = copy_async(r, what, recvbuf, recv, bytes, cudaMemcpyDeviceToHost, err);
    if (rc == 0)
        rc = wait_stream(r, what, deadline, err);
    return rc;
}

/* send, recv and sendrecv: one NCCL group with the parts that apply. */
static int point_to_point(struct nccl_rank *r, const char *what, const void *sendbuf,
                          size_t sendcount, int dest, void *recvbuf, size_t recvcount, int source,
                          enum wn_comms_dtype dtype, enum wn_comms_memory memory,
                          struct wn_error *err)
{
    double deadline = now_s() + r->group->timeout_s;
    const void *send = sendbuf;
    void *recv = recvbuf;
    size_t send_bytes = 0, recv_bytes = 0;
    ncclDataType_t type;
    ncclResult_t st = ncclSuccess, end;
    char *s;
    int rc;

    if ((rc = check_args(r, what, dtype, 0, WN_COMMS_SUM, memory, sendcount, &type, NULL,
                         &send_bytes, err)) < 0 ||
        (rc = check_args(r, what, dtype, 0, WN_COMMS_SUM, memory, recvcount, &type, NULL,
                         &recv_bytes, err)) < 0 ||
        (dest >= 0 && (rc = check_rank_arg(r, what, "dest", (uint32_t)dest, err)) < 0) ||
        (source >= 0 && (rc = check_rank_arg(r, what, "source", (uint32_t)source, err)) < 0) ||
        (rc = enter(r, what, err)) < 0)
        return rc;
    if (dest < 0)
        send_bytes = 0;
    if (source < 0)
        recv_bytes = 0;
    if (memory == WN_COMMS_HOST) {
        if ((rc = scratch_reserve(r, what, align_up(send_bytes) + recv_bytes, &s, err)) < 0 ||
            (rc = copy_async(r, what, s, sendbuf, send_bytes, cudaMemcpyHostToDevice, err)) < 0)
            return rc;
        send = s;
        recv = s + align_up(send_bytes);
    }
    st = ncclGroupStart();
    if (st == ncclSuccess && dest >= 0)
        st = ncclSend(send, sendcount, type, dest, r->comm, r->stream);
    if (st == ncclSuccess && source >= 0)
        st = ncclRecv(recv, recvcount, type, source, r->comm, r->stream);
    end = ncclGroupEnd();
    if (st == ncclSuccess)
        st = end;
    rc = launched(r, what, st, deadline, err);
    if (rc == 0 && memory == WN_COMMS_HOST && source >= 0)
        rc = copy_async(r, what, recvbuf, recv, recv_bytes, cudaMemcpyDeviceToHost, err);
    if (rc == 0)
        rc = wait_stream(r, what, deadline, err);
    return rc;
}

static int nccl_send(struct wn_comms *comms, const void *buf, size_t count,
                     enum wn_comms_dtype dtype, uint32_t peer, enum wn_comms_memory memory,
                     struct wn_error *err)
{
    if (peer > INT_MAX)
        peer = comms->size; /* refused by the rank check */
    return point_to_point(rank_of(comms), "send", buf, count, (int)peer, NULL, 0, -1, dtype, memory,
                          err);
}

static int nccl_recv(struct wn_comms *comms, void *buf, size_t count, enum wn_comms_dtype dtype,
                     uint32_t peer, enum wn_comms_memory memory, struct wn_error *err)
{
    if (peer > INT_MAX)
        peer = comms->size;
    return point_to_point(rank_of(comms), "recv", NULL, 0, -1, buf, count, (int)peer, dtype, memory,
                          err);
}

static int nccl_sendrecv(struct wn_comms *comms, const void *sendbuf, size_t sendcount,
                         uint32_t dest, void *recvbuf, size_t recvcount, uint32_t source,
                         enum wn_comms_dtype dtype, enum wn_comms_memory memory,
                         struct wn_error *err)
{
    if (dest > INT_MAX)
        dest = comms->size;
    if (source > INT_MAX)
        source = comms->size;
    return point_to_point(rank_of(comms), "sendrecv", sendbuf, sendcount, (int)dest, recvbuf,
                          recvcount, (int)source, dtype, memory, err);
}

/* An allreduce of one int on the device: returns when every rank reached it. */
static int nccl_barrier(struct wn_comms *comms, struct wn_error *err)
{
    static const char what[] = "barrier";
    struct nccl_rank *r = rank_of(comms);
    double deadline = now_s() + r->group->timeout_s;
    char *s;
    int rc;

    if ((rc = enter(r, what, err)) < 0 ||
        (rc = scratch_reserve(r, what, sizeof(int32_t), &s, err)) < 0)
        return rc;
    rc = launched(r, what, ncclAllReduce(s, s, 1, ncclInt32, ncclSum, r->comm, r->stream), deadline,
                  err);
    if (rc == 0)
        rc = wait_stream(r, what, deadline, err);
    return rc;
}

static void *nccl_native_handle(struct wn_comms *comms, const char *name)
{
    struct nccl_rank *r = rank_of(comms);

    if (name == NULL)
        return NULL;
    if (strcmp(name, "ncclComm_t") == 0)
        return r->comm;
    if (strcmp(name, "cudaStream_t") == 0)
        return r->stream;
    if (strcmp(name, "cudaDevice") == 0)
        return &r->device;
    return NULL;
}

/* ---- the provider ops -------------------------------------------------------- */

static int nccl_group_new(const char *name, const struct wn_params *params, uint32_t size,
                          struct wn_comms_group **out, struct wn_error *err)
{
    struct wn_comms_group *group;

    *out = NULL;
    if (size < 1 || size > INT_MAX)
        return wn_error_set(err, WN_EINVAL, "nccl comms '%s': a group of %u ranks is not possible",
                            name ? name : "?", size);
    group = calloc(1, sizeof(*group));
    if (group == NULL)
        return wn_error_set(err, WN_ENOMEM, "nccl: out of memory making a group");
    snprintf(group->name, sizeof(group->name), "%s", name ? name : "?");
    group->size = size;
    group->timeout_s = wn_params_has(params, "timeout_s")
                           ? wn_params_get_double(params, "timeout_s")
                           : DEFAULT_TIMEOUT_S;
    if (!(group->timeout_s > 0.0))
        group->timeout_s = DEFAULT_TIMEOUT_S;
    group->blocking = wn_params_get_bool(params, "blocking");
    atomic_init(&group->aborted, 0);
    pthread_mutex_init(&group->lock, NULL);
    *out = group;
    return 0;
}

static int nccl_unique_id(struct wn_comms_group *group, struct wn_comms_unique_id *id,
                          struct wn_error *err)
{
    ncclUniqueId uid;
    ncclResult_t st;
    cudaError_t ce;
    int devices = 0;

    (void)group;
    memset(id, 0, sizeof(*id));
    /* No device, no group: ncclGetUniqueId starts NCCL's bootstrap root
     * thread, which would wait for ranks that can never join. */
    ce = cudaGetDeviceCount(&devices);
    if (ce != cudaSuccess || devices <= 0)
        return wn_error_set(err, WN_ERESOURCE,
                            "nccl: no usable CUDA device (cudaGetDeviceCount: %s): the nccl comms "
                            "provider needs one GPU per rank; on a machine without GPUs use "
                            "\"comms\": \"ucx\"",
                            ce != cudaSuccess ? cudaGetErrorString(ce) : "0 devices");
    st = ncclGetUniqueId(&uid);
    if (st != ncclSuccess)
        return wn_error_set(err, WN_EIO, "nccl: the root could not make a unique id: %s%s%s",
                            ncclGetErrorString(st), ncclGetLastError(NULL) ? ": " : "",
                            ncclGetLastError(NULL) ? ncclGetLastError(NULL) : "");
    memcpy(id->bytes, &uid, sizeof(uid));
    id->size = (uint32_t)sizeof(uid);
    return 0;
}

static void fill_table(struct nccl_rank *r, uint32_t rank, uint32_t size)
{
    struct wn_comms *c = &r->comms;

    c->version = WN_COMMS_VERSION;
    c->struct_size = sizeof(*c);
    c->rank = rank;
    c->size = size;
    c->provider = "nccl";
    c->impl = r;
    c->allreduce = nccl_allreduce;
    c->bcast = nccl_bcast;
    c->reduce = nccl_reduce;
    c->allgather = nccl_allgather;
    c->allgatherv = nccl_allgatherv;
    c->reduce_scatter = nccl_reduce_scatter;
    c->send = nccl_send;
    c->recv = nccl_recv;
    c->sendrecv = nccl_sendrecv;
    c->barrier = nccl_barrier;
    c->native_handle = nccl_native_handle;
}

/* Frees what rank_init made after the communicator is gone. */
static void rank_free(struct nccl_rank *r)
{
    if (r->scratch != NULL)
        cudaFree(r->scratch);
    if (r->stream != NULL)
        cudaStreamDestroy(r->stream);
    free(r);
}

static int init_fail(struct wn_comms_group *group, uint32_t rank, struct wn_error *err, int code,
                     const char *fmt, ...) WN_PRINTF(5, 6);

/* A rank that cannot join: aborts the group (the others stop waiting for it)
 * and sets *err.  Returns code. */
static int init_fail(struct wn_comms_group *group, uint32_t rank, struct wn_error *err, int code,
                     const char *fmt, ...)
{
    char message[WN_ERROR_MESSAGE_MAX / 2], full[WN_ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    snprintf(full, sizeof(full), "nccl comms '%s' rank %u/%u: %s", group->name, rank, group->size,
             message);
    nccl_group_abort(group, full);
    return wn_error_set(err, code, "%s", full);
}

static int nccl_rank_init(struct wn_comms_group *group, const struct wn_comms_unique_id *id,
                          uint32_t rank, int device_id, struct wn_comms **out, struct wn_error *err)
{
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    ncclUniqueId uid;
    struct nccl_rank *r;
    double deadline = now_s() + group->timeout_s;
    cudaError_t ce;
    ncclResult_t st;
    int devices = 0, rc;
    char what[96];

    *out = NULL;
    if (rank >= group->size)
        return init_fail(group, rank, err, WN_EINVAL, "rank %u is not in a group of %u", rank,
                         group->size);
    if (id == NULL || id->size != sizeof(uid))
        return init_fail(group, rank, err, WN_EINVAL,
                         "the unique id has %u bytes, not the %zu of an ncclUniqueId (was it "
                         "made by the nccl provider's root?)",
                         id ? id->size : 0, sizeof(uid));
    ce = cudaGetDeviceCount(&devices);
    if (ce != cudaSuccess || devices <= 0)
        return init_fail(group, rank, err, WN_ERESOURCE,
                         "no usable CUDA device (cudaGetDeviceCount: %s): the nccl comms "
                         "provider needs one GPU per rank; on a machine without GPUs use "
                         "\"comms\": \"ucx\"",
                         ce != cudaSuccess ? cudaGetErrorString(ce) : "0 devices");
    if (device_id < 0)
        device_id = (int)rank; /* no device assigned: one device per rank, in rank order */
    if (device_id >= devices)
        return init_fail(group, rank, err, WN_ERESOURCE,
                         "needs CUDA device %d but %d device%s visible: NCCL needs one device "
                         "per rank (run at most %d ranks, with \"actors\", or make more "
                         "devices visible)",
                         device_id, devices, devices == 1 ? " is" : "s are", devices);
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return init_fail(group, rank, err, WN_ENOMEM, "out of memory");
    r->group = group;
    r->device = device_id;
    fill_table(r, rank, group->size);
    snprintf(what, sizeof(what), "joining the group on CUDA device %d", device_id);

    ce = cudaSetDevice(device_id);
    if (ce == cudaSuccess)
        ce = cudaStreamCreateWithFlags(&r->stream, cudaStreamNonBlocking);
    if (ce != cudaSuccess) {
        rc = cuda_error(r, what, ce, err);
        goto out_free_rank;
    }
    if (group_aborted(group)) {
        rc = abort_error(r, what, err);
        goto out_free_rank;
    }
    memcpy(&uid, id->bytes, sizeof(uid));
    /* Non-blocking: every call returns at once and the waits are ours, with a
     * timeout.  Blocking (for RAFT): joining waits inside NCCL, untimed. */
    config.blocking = group->blocking ? 1 : 0;
    st = ncclCommInitRankConfig(&r->comm, (int)group->size, uid, (int)rank, &config);
    if (st != ncclSuccess && st != ncclInProgress) {
        rc = nccl_error(r, what, st, err);
        goto out_free_rank;
    }
    if (r->comm == NULL) {
        rc = rank_fail(r, err, WN_EIO, "%s: ncclCommInitRankConfig gave no communicator", what);
        goto out_free_rank;
    }
    rc = wait_comm_ready(r, what, deadline, err);
    if (rc < 0)
        goto out_free_rank;
    wn_log(WN_LOG_DEBUG, LOG_DOMAIN, "rank %u/%u joined on device %d", rank, group->size,
           device_id);
    *out = &r->comms;
    return 0;

out_free_rank:
    rank_abort_comm(r);
    rank_free(r);
    return rc;
}

static void nccl_group_abort(struct wn_comms_group *group, const char *reason)
{
    pthread_mutex_lock(&group->lock);
    if (group->reason[0] == '\0')
        snprintf(group->reason, sizeof(group->reason), "%s",
                 reason && *reason ? reason : "(no reason given)");
    pthread_mutex_unlock(&group->lock);
    atomic_store(&group->aborted, 1);
}

static void nccl_rank_destroy(struct wn_comms_group *group, struct wn_comms *comms)
{
    struct nccl_rank *r;
    struct wn_error err = WN_ERROR_INIT;
    ncclResult_t st;

    (void)group;
    if (comms == NULL)
        return;
    r = rank_of(comms);
    cudaSetDevice(r->device);
    if (r->comm != NULL && (r->failed || group_aborted(r->group))) {
        rank_abort_comm(r);
    } else if (r->comm != NULL) {
        /* Clean: flush, then free.  A finalize that does not finish in time aborts. */
        st = ncclCommFinalize(r->comm);
        if (launched(r, "finalizing the communicator", st, now_s() + r->group->timeout_s, &err) < 0)
            wn_log(WN_LOG_WARN, LOG_DOMAIN, "%s", err.message);
        if (r->comm != NULL) {
            ncclCommDestroy(r->comm);
            r->comm = NULL;
        }
    }
    rank_free(r);
}

static void nccl_group_free(struct wn_comms_group *group)
{
    if (group == NULL)
        return;
    pthread_mutex_destroy(&group->lock);
    free(group);
}

const struct wn_comms_provider_ops wn_nccl_provider_ops = {
    .version = WN_COMMS_PROVIDER_OPS_VERSION,
    .group_new = nccl_group_new,
    .unique_id = nccl_unique_id,
    .rank_init = nccl_rank_init,
    .group_abort = nccl_group_abort,
    .rank_destroy = nccl_rank_destroy,
    .group_free = nccl_group_free,
};
