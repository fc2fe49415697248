/*
 * The ucx comms provider: group and rank lifecycle, and the tagged transfer
 * the collectives (comms_collectives.c) are built from.
 *
 * The RAFT adapter's order, over UCX: the root's "unique id" names the group
 * (a token the group made; a rank given another group's id is refused); each
 * rank creates its context and worker on its own thread, and the ranks swap
 * worker addresses through the bootstrap seam and connect every pair.
 * Endpoints use UCP_ERR_HANDLING_MODE_NONE (shared memory stays eligible) and
 * the provider's own timeouts detect dead peers.  A clean rank waits for
 * every rank before it flushes its endpoints and again before it destroys its
 * worker, so that no rank pulls a worker from under a peer's traffic.
 */
#include "build_config.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winnow/comms.h>
#include <winnow/log.h>
#include <winnow/params.h>

#include "bootstrap.h"
#include "clock.h"
#include "comms.h"
#include "comms_internal.h"
#include "worker.h"

#define LOG_DOMAIN "ucx"
#define DEFAULT_TIMEOUT_S 300.0
#define UNIQUE_ID_MAGIC "wnucxc1"
/* Idle progress loops before a waiting rank yields the CPU, and idle time
 * before it starts sleeping between polls (ranks may outnumber cores). */
#define IDLE_SPINS_BEFORE_YIELD 64
#define IDLE_S_BEFORE_SLEEP 0.01
#define IDLE_SLEEP_NS 20000L

const struct wn_param_spec wn_ucx_comms_params[] = {
    { "timeout_s", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN, "300", 0.001, 0, NULL,
      "longest any wait may take (joining the group, one collective) before the rank fails" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

/* ---- failures and calls ---------------------------------------------------- */

int wn_ucx_comms_fail(struct wn_ucx_comms_rank *r, struct wn_error *err, int code, const char *fmt,
                      ...)
{
    char message[WN_ERROR_MESSAGE_MAX / 2], full[WN_ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    r->failed = 1;
    snprintf(full, sizeof(full), "%s rank %u/%u: %s: %s", r->group->name, r->comms.rank,
             r->comms.size, r->what ? r->what : "call", message);
    if (code != WN_ECANCELED)
        wn_ucx_rendezvous_abort(r->group->rv, full);
    return wn_error_set(err, code, "%s", full);
}

int wn_ucx_comms_begin(struct wn_ucx_comms_rank *r, const char *what, struct wn_error *err)
{
    char reason[512];

    r->what = what;
    if (r->failed)
        return wn_error_set(err, WN_ECANCELED,
                            "%s rank %u/%u: %s: the communicator is unusable after an earlier "
                            "failure",
                            r->group->name, r->comms.rank, r->comms.size, what);
    if (wn_ucx_rendezvous_aborted(r->group->rv, reason, sizeof(reason)))
        return wn_ucx_comms_fail(r, err, WN_ECANCELED, "group aborted: %s", reason);
    r->seq++;
    r->deadline = wn_ucx_now() + r->group->timeout_s;
    return 0;
}

void *wn_ucx_comms_scratch(struct wn_ucx_comms_rank *r, int slot, size_t bytes,
                           struct wn_error *err)
{
    void *p;

    if (bytes == 0)
        bytes = 1;
    if (r->scratch_bytes[slot] >= bytes)
        return r->scratch[slot];
    p = realloc(r->scratch[slot], bytes);
    if (p == NULL) {
        wn_ucx_comms_fail(r, err, WN_ENOMEM, "out of memory for a %zu-byte buffer", bytes);
        return NULL;
    }
    r->scratch[slot] = p;
    r->scratch_bytes[slot] = bytes;
    return p;
}

/* ---- the transfer ------------------------------------------------------------ */

/* Drops a request still in flight after a failure (a receive is cancelled;
 * a send is released to UCX, which frees it when it completes). */
static void drop_request(struct wn_ucx_comms_rank *r, ucs_status_ptr_t req)
{
    if (req == NULL || UCS_PTR_IS_ERR(req))
        return;
    ucp_request_cancel(r->worker.worker, req);
    ucp_request_free(req);
}

static int length_error(struct wn_ucx_comms_rank *r, const struct wn_ucx_msg *m, size_t got,
                        struct wn_error *err)
{
    return wn_ucx_comms_fail(r, err, WN_EINVAL,
                             "rank %u sent %zu bytes where %zu were expected (the ranks made "
                             "different calls, or gave different counts)",
                             m->peer, got, m->bytes);
}

/* Completion of a posted receive: keeps what arrived (the length) in the
 * message's slot.  Called from ucp_worker_progress, or from
 * ucp_request_cancel on a failure. */
static void recv_done(void *request, ucs_status_t status, const ucp_tag_recv_info_t *info,
                      void *user_data)
{
    ucp_tag_recv_info_t *slot = user_data;

    (void)request;
    if (status == UCS_OK && info != NULL)
        *slot = *info;
}

/* Waiting between progress calls: spin while there is work, then yield, then sleep. */
static void idle_pause(unsigned *idle_spins, double *idle_since)
{
    struct timespec pause = { 0, IDLE_SLEEP_NS };

    if (++*idle_spins < IDLE_SPINS_BEFORE_YIELD)
        return;
    if (*idle_since == 0.0)
        *idle_since = wn_ucx_now();
    if (wn_ucx_now() - *idle_since < IDLE_S_BEFORE_SLEEP)
        sched_yield();
    else
        nanosleep(&pause, NULL);
}

int wn_ucx_comms_transfer(struct wn_ucx_comms_rank *r, struct wn_ucx_msg *msgs, size_t n,
                          struct wn_error *err)
{
    static char empty; /* the buffer of zero-length messages */
    ucs_status_ptr_t reqs_small[16], *reqs = reqs_small;
    ucp_tag_recv_info_t infos_small[16], *infos = infos_small;
    ucp_request_param_t param;
    size_t pending = 0;
    unsigned spins = 0, idle_spins = 0;
    double idle_since = 0.0;
    char reason[512];
    int rc = 0;

    if (n > 16) {
        reqs = calloc(n, sizeof(*reqs));
        infos = calloc(n, sizeof(*infos));
        if (reqs == NULL || infos == NULL) {
            free(reqs);
            free(infos);
            return wn_ucx_comms_fail(r, err, WN_ENOMEM, "out of memory posting %zu messages", n);
        }
    }
    memset(reqs, 0, n * sizeof(*reqs));

    /* Receives first, so that the sends find them posted. */
    for (size_t i = 0; i < n; i++) {
        struct wn_ucx_msg *m = &msgs[i];

        if (!m->is_recv)
            continue;
        memset(&param, 0, sizeof(param));
        /* Always a request, completed through recv_done: UCX 1.13 leaves
         * recv_info.tag_info unset when a receive completes at once. */
        param.op_attr_mask =
            UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
        param.cb.recv = recv_done;
        param.user_data = &infos[i];
        infos[i].length = SIZE_MAX;
        reqs[i] = ucp_tag_recv_nbx(r->worker.worker, m->bytes ? m->buf : &empty, m->bytes, m->tag,
                                   UINT64_MAX, &param);
        if (UCS_PTR_IS_ERR(reqs[i])) {
            rc = wn_ucx_comms_fail(r, err, WN_EIO, "posting a receive from rank %u failed: %s",
                                   m->peer, ucs_status_string(UCS_PTR_STATUS(reqs[i])));
            reqs[i] = NULL;
            goto out_drop;
        }
        if (reqs[i] == NULL && infos[i].length != m->bytes) {
            rc = length_error(r, m, infos[i].length, err);
            goto out_drop;
        }
        if (reqs[i] != NULL)
            pending++;
    }
    for (size_t i = 0; i < n; i++) {
        struct wn_ucx_msg *m = &msgs[i];

        if (m->is_recv)
            continue;
        memset(&param, 0, sizeof(param));
        reqs[i] = ucp_tag_send_nbx(r->worker.eps[m->peer], m->bytes ? m->buf : &empty, m->bytes,
                                   m->tag, &param);
        if (UCS_PTR_IS_ERR(reqs[i])) {
            rc = wn_ucx_comms_fail(r, err, WN_EIO, "sending %zu bytes to rank %u failed: %s",
                                   m->bytes, m->peer, ucs_status_string(UCS_PTR_STATUS(reqs[i])));
            reqs[i] = NULL;
            goto out_drop;
        }
        if (reqs[i] != NULL)
            pending++;
    }

    while (pending > 0) {
        if (ucp_worker_progress(r->worker.worker) != 0)
            idle_spins = 0;
        if (idle_spins == 0)
            idle_since = 0.0;
        for (size_t i = 0; i < n; i++) {
            ucs_status_t status;
            size_t length = msgs[i].bytes;

            if (reqs[i] == NULL)
                continue;
            status = ucp_request_check_status(reqs[i]);
            if (status != UCS_INPROGRESS && msgs[i].is_recv)
                length = infos[i].length;
            if (status == UCS_INPROGRESS)
                continue;
            ucp_request_free(reqs[i]);
            reqs[i] = NULL;
            pending--;
            if (status == UCS_ERR_MESSAGE_TRUNCATED) {
                rc = wn_ucx_comms_fail(r, err, WN_EINVAL,
                                       "rank %u sent more than the %zu bytes expected (the ranks "
                                       "made different calls, or gave different counts)",
                                       msgs[i].peer, msgs[i].bytes);
                goto out_drop;
            }
            if (status != UCS_OK) {
                rc = wn_ucx_comms_fail(r, err, WN_EIO, "%s rank %u failed: %s",
                                       msgs[i].is_recv ? "receiving from" : "sending to",
                                       msgs[i].peer, ucs_status_string(status));
                goto out_drop;
            }
            if (length != msgs[i].bytes) {
                rc = length_error(r, &msgs[i], length, err);
                goto out_drop;
            }
        }
        if (pending == 0)
            break;
        if ((++spins & 63) == 0) {
            if (wn_ucx_rendezvous_aborted(r->group->rv, reason, sizeof(reason))) {
                rc = wn_ucx_comms_fail(r, err, WN_ECANCELED, "group aborted: %s", reason);
                goto out_drop;
            }
            if (wn_ucx_now() > r->deadline) {
                rc = wn_ucx_comms_fail(r, err, WN_ETIMEDOUT,
                                       "timed out after %gs waiting for %zu message(s) (a rank "
                                       "stopped, failed or never made this call; raise "
                                       "comms_params.timeout_s if the work is that long)",
                                       r->group->timeout_s, pending);
                goto out_drop;
            }
        }
        idle_pause(&idle_spins, &idle_since);
    }

out_drop:
    for (size_t i = 0; i < n; i++)
        drop_request(r, reqs[i]);
    if (reqs != reqs_small) {
        free(reqs);
        free(infos);
    }
    return rc;
}

/* ---- the provider ops --------------------------------------------------------- */

/* A token naming one group: the in-process unique id. */
static uint64_t group_token(const struct wn_comms_group *group)
{
    static _Atomic uint64_t counter;
    struct timespec ts;
    uint64_t x;

    clock_gettime(CLOCK_REALTIME, &ts);
    x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)group ^
        (++counter << 48);
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return x;
}

static int ucx_group_new(const char *name, const struct wn_params *params, uint32_t size,
                         struct wn_comms_group **out, struct wn_error *err)
{
    struct wn_comms_group *group;
    int rc;

    *out = NULL;
    if (size < 1 || size > WN_UCX_COMMS_MAX_RANKS)
        return wn_error_set(err, WN_EINVAL,
                            "ucx comms '%s': a group of %u ranks is not possible (1 to %u)",
                            name ? name : "?", size, WN_UCX_COMMS_MAX_RANKS);
    group = calloc(1, sizeof(*group));
    if (group == NULL)
        return wn_error_set(err, WN_ENOMEM, "ucx comms '%s': out of memory", name ? name : "?");
    snprintf(group->name, sizeof(group->name), "ucx comms '%s'", name ? name : "?");
    group->size = size;
    group->timeout_s = wn_params_has(params, "timeout_s")
                           ? wn_params_get_double(params, "timeout_s")
                           : DEFAULT_TIMEOUT_S;
    if (!(group->timeout_s > 0.0))
        group->timeout_s = DEFAULT_TIMEOUT_S;
    group->token = group_token(group);
    atomic_init(&group->entered, 0);
    atomic_init(&group->departed, 0);
    rc = wn_ucx_rendezvous_new(group->name, size, &group->rv, err);
    if (rc < 0) {
        free(group);
        return rc;
    }
    *out = group;
    return 0;
}

static int ucx_unique_id(struct wn_comms_group *group, struct wn_comms_unique_id *id,
                         struct wn_error *err)
{
    (void)err;
    memset(id, 0, sizeof(*id));
    memcpy(id->bytes, UNIQUE_ID_MAGIC, sizeof(UNIQUE_ID_MAGIC));
    memcpy(id->bytes + sizeof(UNIQUE_ID_MAGIC), &group->token, sizeof(group->token));
    id->size = (uint32_t)(sizeof(UNIQUE_ID_MAGIC) + sizeof(group->token));
    return 0;
}

static void *ucx_native_handle(struct wn_comms *comms, const char *name)
{
    struct wn_ucx_comms_rank *r = wn_ucx_comms_rank_of(comms);

    if (name == NULL)
        return NULL;
    if (strcmp(name, "ucp_worker_h") == 0)
        return r->worker.worker;
    if (strcmp(name, "ucp_context_h") == 0)
        return r->worker.context;
    return NULL;
}

/*
 * A rank is done with its worker: it waits (progressing it, for at most the
 * timeout) until every rank that began joining is done too, so that no rank
 * destroys a worker a peer may still be sending to.
 */
static void depart(struct wn_ucx_comms_rank *r)
{
    struct wn_comms_group *group = r->group;
    double deadline = wn_ucx_now() + group->timeout_s;
    unsigned idle_spins = 0;
    double idle_since = 0.0;

    atomic_fetch_add(&group->departed, 1);
    while (atomic_load(&group->departed) < atomic_load(&group->entered)) {
        if (wn_ucx_now() > deadline) {
            wn_log(WN_LOG_WARN, LOG_DOMAIN,
                   "%s: rank %u: %u of %u ranks still running after %gs; closing anyway",
                   group->name, r->comms.rank,
                   atomic_load(&group->entered) - atomic_load(&group->departed),
                   atomic_load(&group->entered), group->timeout_s);
            break;
        }
        if (r->worker_ready)
            ucp_worker_progress(r->worker.worker);
        idle_pause(&idle_spins, &idle_since);
    }
}

static void rank_free(struct wn_ucx_comms_rank *r)
{
    if (r->worker_ready)
        wn_ucx_worker_fini(&r->worker);
    wn_ucx_bootstrap_close(r->bs);
    free(r->send_seq);
    free(r->recv_seq);
    free(r->scratch[0]);
    free(r->scratch[1]);
    free(r);
}

static int ucx_rank_init(struct wn_comms_group *group, const struct wn_comms_unique_id *id,
                         uint32_t rank, int device_id, struct wn_comms **out, struct wn_error *err)
{
    struct wn_ucx_worker_config config;
    struct wn_ucx_comms_rank *r;
    uint64_t token;
    int rc;

    (void)device_id; /* host memory only */
    *out = NULL;
    atomic_fetch_add(&group->entered, 1);
    if (rank >= group->size) {
        rc = wn_error_set(err, WN_EINVAL, "%s: rank %u is not in a group of %u", group->name, rank,
                          group->size);
        goto out_abort;
    }
    if (id != NULL && id->size == sizeof(UNIQUE_ID_MAGIC) + sizeof(token))
        memcpy(&token, id->bytes + sizeof(UNIQUE_ID_MAGIC), sizeof(token));
    if (id == NULL || id->size != sizeof(UNIQUE_ID_MAGIC) + sizeof(token) ||
        memcmp(id->bytes, UNIQUE_ID_MAGIC, sizeof(UNIQUE_ID_MAGIC)) != 0 || token != group->token) {
        rc = wn_error_set(err, WN_EINVAL,
                          "%s rank %u/%u: the unique id is not this group's (make it with the "
                          "group's unique_id on the root, and hand the same id to every rank)",
                          group->name, rank, group->size);
        goto out_abort;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s rank %u/%u: out of memory", group->name, rank,
                          group->size);
        goto out_abort;
    }
    r->group = group;
    r->comms.rank = rank;
    r->comms.size = group->size;
    r->what = "joining the group";
    wn_ucx_comms_fill_table(r);
    r->comms.native_handle = ucx_native_handle;
    r->send_seq = calloc(group->size, sizeof(*r->send_seq));
    r->recv_seq = calloc(group->size, sizeof(*r->recv_seq));
    if (r->send_seq == NULL || r->recv_seq == NULL) {
        rc = wn_ucx_comms_fail(r, err, WN_ENOMEM, "out of memory");
        goto out_free;
    }
    rc = wn_ucx_bootstrap_inproc_open(group->rv, rank, &r->bs, err);
    if (rc < 0)
        goto out_prefix;
    memset(&config, 0, sizeof(config));
    config.label = group->name;
    config.rank = rank;
    config.size = group->size;
    rc = wn_ucx_worker_init(&r->worker, &config, err);
    if (rc < 0)
        goto out_prefix;
    r->worker_ready = 1;
    rc = wn_ucx_worker_connect(&r->worker, r->bs, group->timeout_s, 0, err);
    if (rc < 0)
        goto out_prefix;
    r->what = NULL;
    wn_log(WN_LOG_DEBUG, LOG_DOMAIN, "%s: rank %u/%u joined", group->name, rank, group->size);
    *out = &r->comms;
    return 0;

out_prefix:
    /* The seam's and the worker's messages already name group and rank. */
    r->failed = 1;
    wn_ucx_rendezvous_abort(group->rv, err != NULL ? err->message : "a rank could not join");
out_free:
    if (r->worker.eps != NULL) {
        free(r->worker.eps); /* unflushed: see ucx_rank_destroy */
        r->worker.eps = NULL;
    }
    depart(r);
    rank_free(r);
    return rc;

out_abort:
    wn_ucx_rendezvous_abort(group->rv, err != NULL ? err->message : "a rank could not join");
    atomic_fetch_add(&group->departed, 1); /* made no worker: nothing to wait for */
    return rc;
}

static void ucx_group_abort(struct wn_comms_group *group, const char *reason)
{
    wn_ucx_rendezvous_abort(group->rv, reason && *reason ? reason : "(no reason given)");
}

static void ucx_rank_destroy(struct wn_comms_group *group, struct wn_comms *comms)
{
    struct wn_ucx_comms_rank *r;
    struct wn_error err = WN_ERROR_INIT;
    int clean;

    (void)group;
    if (comms == NULL)
        return;
    r = wn_ucx_comms_rank_of(comms);
    clean = !r->failed && !wn_ucx_rendezvous_aborted(r->group->rv, NULL, 0);
    /* Clean: every rank is done sending before anyone flushes, and done
     * flushing before anyone destroys its worker. */
    if (clean && wn_ucx_bootstrap_barrier(r->bs, r->group->timeout_s, &err) < 0) {
        wn_log(WN_LOG_WARN, LOG_DOMAIN, "%s", err.message);
        clean = 0;
    }
    if (clean) {
        wn_ucx_worker_disconnect(&r->worker, r->group->timeout_s);
        if (wn_ucx_bootstrap_barrier(r->bs, r->group->timeout_s, &err) < 0)
            wn_log(WN_LOG_WARN, LOG_DOMAIN, "%s", err.message);
    } else {
        /* After a failure a flush could wait on peers that stopped; the
         * worker discards its endpoints when it is destroyed. */
        free(r->worker.eps);
        r->worker.eps = NULL;
    }
    depart(r);
    rank_free(r);
}

static void ucx_group_free(struct wn_comms_group *group)
{
    if (group == NULL)
        return;
    wn_ucx_rendezvous_unref(group->rv);
    free(group);
}

const struct wn_comms_provider_ops wn_ucx_comms_provider_ops = {
    .version = WN_COMMS_PROVIDER_OPS_VERSION,
    .group_new = ucx_group_new,
    .unique_id = ucx_unique_id,
    .rank_init = ucx_rank_init,
    .group_abort = ucx_group_abort,
    .rank_destroy = ucx_rank_destroy,
    .group_free = ucx_group_free,
};
