/*
 * ucx plugin — one rank's UCX context, worker and endpoints, shared by every
 * provider of the plugin (shuffle, comms).
 *
 * Choices made once, here:
 *  - UCP_ERR_HANDLING_MODE_NONE on every endpoint, so that shared-memory
 *    transports (sysv, posix, cma) stay eligible (PEER mode rules them out);
 *    dead peers are detected by the callers' own timeouts.
 *  - Endpoints are closed with flags 0 (a flush), never FORCE.
 *  - The calling thread of wn_ucx_worker_init owns the worker
 *    (UCS_THREAD_MODE_SINGLE): every later call on the same struct must come
 *    from that thread.
 *  - UCX reads its UCX_* environment; an empty UCX_TLS (fatal inside UCX) is
 *    treated as unset, with a warning.
 */
#ifndef WN_UCX_WORKER_H
#define WN_UCX_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include <ucp/api/ucp.h>

#include <winnow/error.h>

#include "bootstrap.h"

struct wn_ucx_worker_config {
    const char *label; /* names the group in messages: "shuffle 'exact_dedup'" */
    uint32_t rank;
    uint32_t size;
    int wakeup;        /* nonzero: UCP_FEATURE_WAKEUP and an event fd to poll */
    uint64_t features; /* UCP features beyond UCP_FEATURE_TAG (which is always on) */
};

struct wn_ucx_worker {
    char label[128];
    uint32_t rank;
    uint32_t size;
    ucp_context_h context;
    ucp_worker_h worker;
    ucp_address_t *address;
    size_t address_len;
    ucp_ep_h *eps; /* size entries after connect; eps[rank] only with connect_self */
    int event_fd;  /* with wakeup: the worker's fd (see ucp_worker_arm), else -1 */
};

/* Creates the context and the worker on the calling thread (which owns them
 * from now on) and queries the worker's address.  On failure w is left
 * finalised (wn_ucx_worker_fini is still safe). */
int wn_ucx_worker_init(struct wn_ucx_worker *w, const struct wn_ucx_worker_config *cfg,
                       struct wn_error *err);

/* Collective over bs: exchanges worker addresses and creates an endpoint to
 * every other rank (and to this rank too when connect_self). */
int wn_ucx_worker_connect(struct wn_ucx_worker *w, struct wn_ucx_bootstrap *bs, double timeout_s,
                          int connect_self, struct wn_error *err);

/* Progresses the worker until request (from a *_nbx call) completes, the
 * monotonic deadline passes, or bs (may be NULL) reports an abort.  Frees the
 * request.  what names the operation in messages ("send to rank 3"). */
int wn_ucx_worker_wait(struct wn_ucx_worker *w, ucs_status_ptr_t request, double deadline,
                       struct wn_ucx_bootstrap *bs, const char *what, struct wn_error *err);

/* Closes every endpoint with a flush (flags 0), progressing for at most
 * timeout_s; endpoints still closing then are left to wn_ucx_worker_fini. */
void wn_ucx_worker_disconnect(struct wn_ucx_worker *w, double timeout_s);

/* Releases the address, the worker and the context.  Idempotent. */
void wn_ucx_worker_fini(struct wn_ucx_worker *w);

/* Writes the transports carrying traffic toward peer ("sysv/memory cma/memory")
 * into buf, from ucp_ep_print_info.  Returns 0, or WN_ENOTFOUND without an endpoint. */
int wn_ucx_worker_transports(struct wn_ucx_worker *w, uint32_t peer, char *buf, size_t size);

#endif /* WN_UCX_WORKER_H */
