/*
 * ucx plugin — the bootstrap seam: how the ranks of a group find each other.
 *
 * Every provider of the ucx plugin (shuffle, comms) wires its ranks up through
 * this one seam and nothing else: an allgather of opaque blobs (the UCX worker
 * addresses), a barrier, and an abort that wakes every waiter with a reason.
 * Every wait takes a timeout.
 *
 * One implementation exists today: in-process, for N ranks that are threads of
 * one process, meeting at a shared rendezvous object (mutex + condition
 * variable).  A multi-process implementation (PMIx keys, a launcher's
 * allgather) fits behind the same vtable: callers only see
 * struct wn_ucx_bootstrap.
 *
 * Threads: each rank's handle is used by one thread at a time; different
 * ranks' handles are used concurrently.  abort may be called from any thread.
 */
#ifndef WN_UCX_BOOTSTRAP_H
#define WN_UCX_BOOTSTRAP_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>

/* One blob of an allgather result. */
struct wn_ucx_blob {
    const void *data;
    size_t len;
};

/* The result of an allgather: one blob per rank, in rank order.  One
 * allocation (blobs and their bytes together): free with wn_ucx_blobs_free(). */
struct wn_ucx_blobs {
    uint32_t count;
    struct wn_ucx_blob blob[];
};

/* Frees an allgather result.  NULL is fine. */
void wn_ucx_blobs_free(struct wn_ucx_blobs *blobs);

struct wn_ucx_bootstrap;

#define WN_UCX_BOOTSTRAP_OPS_VERSION 1
struct wn_ucx_bootstrap_ops {
    uint32_t version; /* WN_UCX_BOOTSTRAP_OPS_VERSION */
    /* Collective: every rank contributes data[0..len) and gets every rank's
     * contribution in *out (caller frees).  Returns WN_ETIMEDOUT naming the
     * ranks that did not arrive, or WN_ECANCELED with the abort reason. */
    int (*allgather)(struct wn_ucx_bootstrap *bs, const void *data, size_t len, double timeout_s,
                     struct wn_ucx_blobs **out, struct wn_error *err);
    /* Collective: returns once every rank has entered it (same errors). */
    int (*barrier)(struct wn_ucx_bootstrap *bs, double timeout_s, struct wn_error *err);
    /* Marks the whole group aborted with reason (the first reason wins) and
     * wakes every waiter of every rank; later calls fail at once.  Any thread. */
    void (*abort)(struct wn_ucx_bootstrap *bs, const char *reason);
    /* Nonzero once the group is aborted; copies the reason into buf. Any thread. */
    int (*aborted)(struct wn_ucx_bootstrap *bs, char *buf, size_t size);
    /* Releases this rank's handle (does not abort the group). */
    void (*close)(struct wn_ucx_bootstrap *bs);
    void *reserved[4];
};

/* One rank's handle on its group.  Implementations embed it first. */
struct wn_ucx_bootstrap {
    const struct wn_ucx_bootstrap_ops *ops;
    uint32_t rank;
    uint32_t size;
};

/* Wrappers over the vtable, for readability at call sites.  timeout_s must be > 0. */
int wn_ucx_bootstrap_allgather(struct wn_ucx_bootstrap *bs, const void *data, size_t len,
                               double timeout_s, struct wn_ucx_blobs **out, struct wn_error *err);
int wn_ucx_bootstrap_barrier(struct wn_ucx_bootstrap *bs, double timeout_s, struct wn_error *err);
void wn_ucx_bootstrap_abort(struct wn_ucx_bootstrap *bs, const char *reason);
int wn_ucx_bootstrap_aborted(struct wn_ucx_bootstrap *bs, char *buf, size_t size);
/* Closes the handle; NULL is fine. */
void wn_ucx_bootstrap_close(struct wn_ucx_bootstrap *bs);

/* ---- in-process implementation ------------------------------------------ */

/* The meeting point of size ranks that are threads of one process.
 * Reference-counted: the creator holds one reference, every open rank one. */
struct wn_ucx_rendezvous;

/* Creates a rendezvous for size ranks.  label names the group in every
 * message ("shuffle 'exact_dedup'").  Any thread. */
int wn_ucx_rendezvous_new(const char *label, uint32_t size, struct wn_ucx_rendezvous **out,
                          struct wn_error *err);

/* Aborts the group from outside any rank (the driver): same as a rank's abort. */
void wn_ucx_rendezvous_abort(struct wn_ucx_rendezvous *rv, const char *reason);

/* Nonzero once aborted; copies the reason into buf (may be NULL).  Any thread. */
int wn_ucx_rendezvous_aborted(struct wn_ucx_rendezvous *rv, char *buf, size_t size);

/* Drops the creator's reference; the object goes when the last rank closes. */
void wn_ucx_rendezvous_unref(struct wn_ucx_rendezvous *rv);

/* Opens rank's handle on the rendezvous (each rank once).  The handle holds a
 * reference.  Fails when rank is out of range or already open. */
int wn_ucx_bootstrap_inproc_open(struct wn_ucx_rendezvous *rv, uint32_t rank,
                                 struct wn_ucx_bootstrap **out, struct wn_error *err);

#endif /* WN_UCX_BOOTSTRAP_H */
