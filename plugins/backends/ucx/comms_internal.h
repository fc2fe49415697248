/*
 * ucx plugin — inside the ucx comms provider: one rank's state, the tagged
 * transfer every collective is built from, and the reduction kernels.
 *
 * Tags (64 bits, matched exactly):
 *   collective:      0 | call sequence (31) | step (16) | source rank (16)
 *   point to point:  1 | per-pair sequence (47)         | source rank (16)
 * Every rank numbers its collective calls, and the messages between each pair
 * of ranks, in the same order, so a message can only match the receive it
 * was meant for.
 */
#ifndef WN_UCX_COMMS_INTERNAL_H
#define WN_UCX_COMMS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/comms.h>
#include <winnow/error.h>

#include "bootstrap.h"
#include "worker.h"

/* Largest group: source ranks and ring steps must fit 16 bits of a tag. */
#define WN_UCX_COMMS_MAX_RANKS 32768u

struct wn_comms_group {
    char name[128]; /* "ucx comms 'stage'", for messages */
    uint32_t size;
    double timeout_s;
    uint64_t token; /* the unique id's content: which group a rank joins */
    struct wn_ucx_rendezvous *rv;
    _Atomic uint32_t entered;  /* ranks that began rank_init */
    _Atomic uint32_t departed; /* ranks done with their worker (destroy, or failed init) */
};

struct wn_ucx_comms_rank {
    struct wn_comms comms; /* comms.impl points back here */
    struct wn_comms_group *group;
    struct wn_ucx_bootstrap *bs;
    struct wn_ucx_worker worker;
    int worker_ready;   /* worker initialised (fini needed) */
    uint32_t seq;       /* collective calls begun */
    uint64_t *send_seq; /* point-to-point messages sent to each peer */
    uint64_t *recv_seq; /* ... received from each peer */
    int failed;         /* a call failed: the communicator is unusable */
    const char *what;   /* the call in progress, for messages */
    double deadline;    /* of the call in progress (monotonic seconds) */
    void *scratch[2];   /* reusable host buffers */
    size_t scratch_bytes[2];
};

/* One message of a transfer. */
struct wn_ucx_msg {
    int is_recv; /* 1: receive from peer into buf; 0: send buf to peer */
    uint32_t peer;
    void *buf;    /* may be NULL when bytes is 0 */
    size_t bytes; /* exact: a receive of another length fails */
    uint64_t tag;
};

static inline struct wn_ucx_comms_rank *wn_ucx_comms_rank_of(struct wn_comms *comms)
{
    return (struct wn_ucx_comms_rank *)comms->impl;
}

/* Tag of step of the current collective call, sent by rank source. */
static inline uint64_t wn_ucx_comms_tag(const struct wn_ucx_comms_rank *r, uint32_t step,
                                        uint32_t source)
{
    return ((uint64_t)(r->seq & 0x7fffffffu) << 32) | ((uint64_t)(step & 0xffffu) << 16) |
           (source & 0xffffu);
}

/* Tag of the seq-th point-to-point message from source to a peer. */
static inline uint64_t wn_ucx_comms_p2p_tag(uint64_t seq, uint32_t source)
{
    return (UINT64_C(1) << 63) | ((seq & ((UINT64_C(1) << 47) - 1)) << 16) | (source & 0xffffu);
}

/* Starts a call: fails when the communicator is unusable or the group was
 * aborted; numbers the call and sets its deadline. */
int wn_ucx_comms_begin(struct wn_ucx_comms_rank *r, const char *what, struct wn_error *err);

/* Posts every receive, then every send, and waits until all completed, the
 * call's deadline passed or the group was aborted.  On failure the rank is
 * failed and the group aborted. */
int wn_ucx_comms_transfer(struct wn_ucx_comms_rank *r, struct wn_ucx_msg *msgs, size_t n,
                          struct wn_error *err);

/* Fails the current call: marks the rank failed, aborts the group (unless
 * code is WN_ECANCELED: it already is) and sets *err with the rank and call.
 * Returns code. */
int wn_ucx_comms_fail(struct wn_ucx_comms_rank *r, struct wn_error *err, int code, const char *fmt,
                      ...) WN_PRINTF(4, 5);

/* A host buffer of at least bytes (slot 0 or 1), kept for later calls; NULL
 * (with the rank failed) when out of memory. */
void *wn_ucx_comms_scratch(struct wn_ucx_comms_rank *r, int slot, size_t bytes,
                           struct wn_error *err);

/* inout[i] = inout[i] op in[i] for i < count (integer SUM and PROD wrap). */
void wn_ucx_comms_reduce(enum wn_comms_dtype dtype, enum wn_comms_op op, void *inout,
                         const void *in, size_t count);

/* out[i] = a[i] op b[i] for i < count; out may be a. */
void wn_ucx_comms_reduce_to(enum wn_comms_dtype dtype, enum wn_comms_op op, void *out,
                            const void *a, const void *b, size_t count);

/* Nonzero for an op the kernels know. */
int wn_ucx_comms_op_valid(enum wn_comms_op op);

/* The methods of the table (comms_collectives.c). */
void wn_ucx_comms_fill_table(struct wn_ucx_comms_rank *r);

#endif /* WN_UCX_COMMS_INTERNAL_H */
