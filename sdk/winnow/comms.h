/*
 * winnow — collective communicators for COMMS stages (RAFT's comms_t, in C).
 *
 * Every actor of a stage of kind WN_STAGE_COMMS is one rank of a group.  Its
 * setup hook receives the rank's communicator in worker->comms (a
 * struct wn_comms *), already initialised: every rank joined before any setup
 * runs.  The communicator lives until after teardown; the stage must not free
 * it.  Calls are made from the actor's own thread only.
 *
 * Every rank must make the same collective calls in the same order with
 * matching arguments (count, dtype, op, root), as with MPI, NCCL or RAFT.  A
 * rank that fails or stops makes the others fail too: every wait has a time
 * limit (the provider's timeout_s) and the executor aborts the group as soon
 * as one rank's hook fails, so no rank hangs.  A call that failed leaves the
 * communicator unusable: return the error from the hook.
 *
 * Buffers are host or device memory, as the memory argument says.  The ucx
 * provider takes host memory only (WN_COMMS_DEVICE is WN_EUNSUPPORTED); the
 * nccl provider takes both and stages host buffers through device memory.
 * In-place operation, where the send and receive buffers are the same memory
 * as NCCL defines it, is allowed for allreduce, reduce, allgather,
 * allgatherv and reduce_scatter.
 *
 * Call through the wn_comms_* wrappers below: they check that the
 * provider's table is new enough and has the method.
 */
#ifndef WINNOW_COMMS_H
#define WINNOW_COMMS_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>
#include <winnow/params.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element types.  Every op works on every type; integer SUM and PROD wrap
 * around (two's complement) instead of overflowing. */
enum wn_comms_dtype {
    WN_COMMS_INT32 = 1,
    WN_COMMS_INT64 = 2,
    WN_COMMS_UINT64 = 3,
    WN_COMMS_FLOAT32 = 4,
    WN_COMMS_FLOAT64 = 5,
    WN_COMMS_UINT8 = 6 /* raw bytes, for moving data that is not numbers */
};

enum wn_comms_op { WN_COMMS_SUM = 1, WN_COMMS_PROD = 2, WN_COMMS_MIN = 3, WN_COMMS_MAX = 4 };

/* Where the buffers of one call live. */
enum wn_comms_memory {
    WN_COMMS_HOST = 0,  /* ordinary (or pinned) host memory */
    WN_COMMS_DEVICE = 1 /* CUDA device memory of the rank's device */
};

/* Size in bytes of one element of dtype, or 0 for an unknown type. */
static inline size_t wn_comms_dtype_size(enum wn_comms_dtype dtype)
{
    switch (dtype) {
    case WN_COMMS_INT32: return 4;
    case WN_COMMS_INT64: return 8;
    case WN_COMMS_UINT64: return 8;
    case WN_COMMS_FLOAT32: return 4;
    case WN_COMMS_FLOAT64: return 8;
    case WN_COMMS_UINT8: return 1;
    }
    return 0;
}

#define WN_COMMS_VERSION 1

/*
 * One rank's communicator: state and a versioned method table, filled by the
 * provider.  Read fields and slots past version 1 only when version and
 * struct_size cover them (the wrappers do).  Every method returns 0 or a
 * negative WN_E* code with a message in *err (which may be NULL):
 * WN_ETIMEDOUT when a wait ran past the provider's timeout, WN_ECANCELED when
 * the group was aborted (the message says why), WN_EUNSUPPORTED for a memory
 * type the provider does not take, WN_EINVAL for bad arguments.
 */
struct wn_comms {
    uint32_t version;     /* WN_COMMS_VERSION the provider implements */
    uint32_t struct_size; /* sizeof(struct wn_comms) the provider was built with */
    uint32_t rank;        /* 0 .. size-1; the actor index */
    uint32_t size;        /* ranks in the group; the pool size */
    const char *provider; /* "nccl", "ucx", ... */
    void *impl;           /* the provider's own state */

    /* recvbuf[i] = op over ranks of sendbuf[i], i < count, on every rank. */
    int (*allreduce)(struct wn_comms *comms, const void *sendbuf, void *recvbuf, size_t count,
                     enum wn_comms_dtype dtype, enum wn_comms_op op, enum wn_comms_memory memory,
                     struct wn_error *err);
    /* buf[0..count) of root copied to every rank. */
    int (*bcast)(struct wn_comms *comms, void *buf, size_t count, enum wn_comms_dtype dtype,
                 uint32_t root, enum wn_comms_memory memory, struct wn_error *err);
    /* As allreduce, but only root's recvbuf receives the result (others' is untouched). */
    int (*reduce)(struct wn_comms *comms, const void *sendbuf, void *recvbuf, size_t count,
                  enum wn_comms_dtype dtype, enum wn_comms_op op, uint32_t root,
                  enum wn_comms_memory memory, struct wn_error *err);
    /* recvbuf[r * sendcount + i] = sendbuf[i] of rank r: recvbuf holds size * sendcount. */
    int (*allgather)(struct wn_comms *comms, const void *sendbuf, void *recvbuf, size_t sendcount,
                     enum wn_comms_dtype dtype, enum wn_comms_memory memory, struct wn_error *err);
    /* Rank r sends recvcounts[r] elements, placed at recvbuf + displs[r] (in
     * elements) on every rank.  recvcounts and displs are host arrays of size
     * entries, the same on every rank. */
    int (*allgatherv)(struct wn_comms *comms, const void *sendbuf, void *recvbuf,
                      const size_t *recvcounts, const size_t *displs, enum wn_comms_dtype dtype,
                      enum wn_comms_memory memory, struct wn_error *err);
    /* sendbuf holds size * recvcount elements; rank r receives block r of the
     * element-wise reduction. */
    int (*reduce_scatter)(struct wn_comms *comms, const void *sendbuf, void *recvbuf,
                          size_t recvcount, enum wn_comms_dtype dtype, enum wn_comms_op op,
                          enum wn_comms_memory memory, struct wn_error *err);
    /* Point to point, matched in call order per pair of ranks.  A send may
     * wait for the matching recv: two ranks exchanging data use sendrecv. */
    int (*send)(struct wn_comms *comms, const void *buf, size_t count, enum wn_comms_dtype dtype,
                uint32_t peer, enum wn_comms_memory memory, struct wn_error *err);
    int (*recv)(struct wn_comms *comms, void *buf, size_t count, enum wn_comms_dtype dtype,
                uint32_t peer, enum wn_comms_memory memory, struct wn_error *err);
    /* Sends to dest and receives from source at once (either may be this rank). */
    int (*sendrecv)(struct wn_comms *comms, const void *sendbuf, size_t sendcount, uint32_t dest,
                    void *recvbuf, size_t recvcount, uint32_t source, enum wn_comms_dtype dtype,
                    enum wn_comms_memory memory, struct wn_error *err);
    /* Returns when every rank has called it. */
    int (*barrier)(struct wn_comms *comms, struct wn_error *err);
    /*
     * The provider's native handle called name, or NULL when it has none by
     * that name.  nccl: "ncclComm_t" (cast the result to ncclComm_t),
     * "cudaStream_t" (the stream every call runs on; cast to cudaStream_t),
     * "cudaDevice" (an int * holding the device id).  Valid until the
     * communicator is destroyed, after teardown; do not free or destroy them.
     */
    void *(*native_handle)(struct wn_comms *comms, const char *name);

    void *reserved[8];
};

/* Nonzero when comms implements method slot (table new enough, slot set). */
#define WN_COMMS_HAS(comms, slot)                                                                  \
    ((comms) != NULL && (comms)->version >= 1 &&                                                   \
     (comms)->struct_size >= offsetof(struct wn_comms, slot) + sizeof((comms)->slot) &&            \
     (comms)->slot != NULL)

/* The error a wrapper returns for a missing method. */
static inline int wn_comms_missing_method(const struct wn_comms *comms, const char *method,
                                          struct wn_error *err)
{
    if (comms == NULL)
        return wn_error_set(err, WN_EINVAL,
                            "comms %s: no communicator (worker->comms is NULL "
                            "outside COMMS stages)",
                            method);
    return wn_error_set(err, WN_EUNSUPPORTED,
                        "comms %s: provider '%s' (table version %u) does not implement it", method,
                        comms->provider ? comms->provider : "?", (unsigned)comms->version);
}

/* ---- wrappers: the rank's actor thread only ---------------------------- */

static inline int wn_comms_allreduce(struct wn_comms *comms, const void *sendbuf, void *recvbuf,
                                     size_t count, enum wn_comms_dtype dtype, enum wn_comms_op op,
                                     enum wn_comms_memory memory, struct wn_error *err)
{
    if (!WN_COMMS_HAS(comms, allreduce))
        return wn_comms_missing_method(comms, "allreduce", err);
    return comms->allreduce(comms, sendbuf, recvbuf, count, dtype, op, memory, err);
}

static inline int wn_comms_bcast(struct wn_comms *comms, void *buf, size_t count,
                                 enum wn_comms_dtype dtype, uint32_t root,
                                 enum wn_comms_memory memory, struct wn_error *err)
{
    if (!WN_COMMS_HAS(comms, bcast))
        return wn_comms_missing_method(comms, "bcast", err);
    return comms->bcast(comms, buf, count, dtype, root, memory, err);
}

static inline int wn_comms_reduce(struct wn_comms *comms, const void *sendbuf, void *recvbuf,
                                  size_t count, enum wn_comms_dtype dtype, enum wn_comms_op op,
                                  uint32_t root, enum wn_comms_memory memory, struct wn_error *err)
{
    if (!WN_COMMS_HAS(comms, reduce))
        return wn_comms_missing_method(comms, "reduce", err);
    return comms->reduce(comms, sendbuf, recvbuf, count, dtype, op, root, memory, err);
}

static inline int wn_comms_allgather(struct wn_comms *comms, const void *sendbuf, void *recvbuf,
                                     size_t sendcount, enum wn_comms_dtype dtype,
                                     enum wn_comms_memory memory, struct wn_error *err)
{
    if (!WN_COMMS_HAS(comms, allgather))
        return wn_comms_missing_method(comms, "allgather", err);
    return comms->allgather(comms, sendbuf, recvbuf, sendcount, dtype, memory, err);
}

static inline int wn_comms_allgatherv(struct wn_comms *comms, const void *sendbuf, void *recvbuf,
                                      const size_t *recvcounts, const size_t *displs,
                                      enum wn_comms_dtype dtype, enum wn_comms_memory memory,
                                      struct wn_error *err)
{
    if (!WN_COMMS_HAS(comms, allgatherv))
        return wn_comms_missing_method(comms, "allgatherv", err);
    return comms->allgatherv(comms, sendbuf, recvbuf, recvcounts, displs, dtype, memory, err);
}

static inline int wn_comms_reduce_scatter(struct wn_comms *comms, const void *sendbuf,
                                          void *recvbuf, size_t recvcount,
                                          enum wn_comms_dtype dtype, enum wn_comms_op op,
                                          enum wn_comms_memory memory, struct wn_error *err)
{
    if (!WN_COMMS_HAS(comms, reduce_scatter))
        return wn_comms_missing_method(comms, "reduce_scatter", err);
    return comms->reduce_scatter(comms, sendbuf, recvbuf, recvcount, dtype, op, memory, err);
}

static inline int wn_comms_send(struct wn_comms *comms, const void *buf, size_t count,
                                enum wn_comms_dtype dtype, uint32_t peer,
                                enum wn_comms_memory memory, struct wn_error *err)
{
    if (!WN_COMMS_HAS(comms, send))
        return wn_comms_missing_method(comms, "send", err);
    return comms->send(comms, buf, count, dtype, peer, memory, err);
}

static inline int wn_comms_recv(struct wn_comms *comms, void *buf, size_t count,
                                enum wn_comms_dtype dtype, uint32_t peer,
                                enum wn_comms_memory memory, struct wn_error *err)
{
    if (!WN_COMMS_HAS(comms, recv))
        return wn_comms_missing_method(comms, "recv", err);
    return comms->recv(comms, buf, count, dtype, peer, memory, err);
}

static inline int wn_comms_sendrecv(struct wn_comms *comms, const void *sendbuf, size_t sendcount,
                                    uint32_t dest, void *recvbuf, size_t recvcount, uint32_t source,
                                    enum wn_comms_dtype dtype, enum wn_comms_memory memory,
                                    struct wn_error *err)
{
    if (!WN_COMMS_HAS(comms, sendrecv))
        return wn_comms_missing_method(comms, "sendrecv", err);
    return comms->sendrecv(comms, sendbuf, sendcount, dest, recvbuf, recvcount, source, dtype,
                           memory, err);
}

static inline int wn_comms_barrier(struct wn_comms *comms, struct wn_error *err)
{
    if (!WN_COMMS_HAS(comms, barrier))
        return wn_comms_missing_method(comms, "barrier", err);
    return comms->barrier(comms, err);
}

/* The provider's native handle called name, or NULL (see native_handle above). */
static inline void *wn_comms_native_handle(struct wn_comms *comms, const char *name)
{
    if (!WN_COMMS_HAS(comms, native_handle))
        return NULL;
    return comms->native_handle(comms, name);
}

/* ---- providers: the ops of a WN_BACKEND_COMMS backend ------------------- */

/*
 * A provider is a backend descriptor of kind WN_BACKEND_COMMS whose ops point
 * to a struct wn_comms_provider_ops:
 *
 *     { WN_BACKEND_HEADER, "ucx", "summary", WN_BACKEND_COMMS, params, &ops, { NULL } }
 *
 * Its params (every provider declares at least "timeout_s", the longest any
 * wait may take) are the stage's "comms_params" from the config.  The
 * executor drives it in the RAFT adapter's order:
 *
 *   driver:            group_new(name, params, size)
 *   rank 0's thread:   unique_id()                      the root makes the id
 *   every rank:        rank_init(id, rank, device)      concurrently; returns
 *                                                       once all ranks joined
 *   every rank:        setup, process_batch, teardown   (the stage's hooks)
 *   every rank:        rank_destroy()                   also after a failure
 *   driver:            group_free()
 *
 * When any rank fails, the executor calls group_abort(), which makes every
 * wait of every rank (rank_init included) return WN_ECANCELED with the reason.
 */

/* The root's id, handed unchanged to every rank (ncclUniqueId is 128 bytes). */
#define WN_COMMS_UNIQUE_ID_BYTES 128
struct wn_comms_unique_id {
    uint32_t size; /* bytes used */
    unsigned char bytes[WN_COMMS_UNIQUE_ID_BYTES];
};

/* A provider's group of ranks: opaque to the host. */
struct wn_comms_group;

#define WN_COMMS_PROVIDER_OPS_VERSION 1
struct wn_comms_provider_ops {
    uint32_t version; /* WN_COMMS_PROVIDER_OPS_VERSION */
    /* Driver thread: a group of size ranks (size >= 1).  name (the stage's
     * configured name) labels the group in messages; params are validated
     * against the backend's spec, or NULL for every default. */
    int (*group_new)(const char *name, const struct wn_params *params, uint32_t size,
                     struct wn_comms_group **group, struct wn_error *err);
    /* Rank 0's thread, once, before any rank_init: makes the group's id. */
    int (*unique_id)(struct wn_comms_group *group, struct wn_comms_unique_id *id,
                     struct wn_error *err);
    /* Rank rank's own thread, every rank concurrently: joins the group with the
     * root's id on CUDA device device_id (-1: none assigned).  Returns once
     * every rank joined, or fails on timeout or abort.  *comms stays valid
     * until rank_destroy. */
    int (*rank_init)(struct wn_comms_group *group, const struct wn_comms_unique_id *id,
                     uint32_t rank, int device_id, struct wn_comms **comms, struct wn_error *err);
    /* Any thread, any time between group_new and group_free, repeatable (the
     * first reason is kept): every current and later wait fails with
     * WN_ECANCELED and "group aborted: <reason>". */
    void (*group_abort)(struct wn_comms_group *group, const char *reason);
    /* The rank's own thread: frees what rank_init made (aborting the native
     * communicator after a failure rather than waiting for peers).  NULL is fine. */
    void (*rank_destroy)(struct wn_comms_group *group, struct wn_comms *comms);
    /* Driver thread, after every rank_destroy.  NULL is fine. */
    void (*group_free)(struct wn_comms_group *group);
    void *reserved[4];
};

#ifdef __cplusplus
}
#endif

#endif /* WINNOW_COMMS_H */
