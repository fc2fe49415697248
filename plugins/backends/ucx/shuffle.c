/* The ucx shuffle provider: groups, ranks, their communication threads, and
 * the insert / insert_finished / extract protocol (see shuffle_provider.h). */
#include "build_config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <winnow/log.h>

#include "alloc.h"
#include "bootstrap.h"
#include "clock.h"
#include "shuffle_format.h"
#include "shuffle_pool.h"
#include "shuffle_provider.h"
#include "shuffle_store.h"
#include "worker.h"

#define LOG_DOMAIN "ucx"
#define REASON_MAX 768

#define TAG_DATA 1u
#define TAG_END 2u
#define TAG_MAKE(kind, src, seq)                                                                   \
    (((ucp_tag_t)(kind) << 56) | ((ucp_tag_t)((src)&0xffffffu) << 32) | (ucp_tag_t)(uint32_t)(seq))
#define TAG_KIND(tag) ((uint32_t)((tag) >> 56))
#define TAG_SRC(tag) ((uint32_t)(((tag) >> 32) & 0xffffffu))
#define TAG_SEQ(tag) ((uint32_t)((tag)&0xffffffffu))
#define MAX_RANKS 0xffffffu

/* ---- params ---------------------------------------------------------------- */

const struct wn_param_spec wn_ucx_shuffle_params[] = {
    { "memory_limit", WN_PARAM_INT, WN_PARAM_HAS_MIN, "1073741824", 0, 0, NULL,
      "bytes of received partitions a rank holds in memory before spilling to spill_dir" },
    { "spill_dir", WN_PARAM_STRING, 0, "\"\"", 0, 0, NULL,
      "directory for spill files (a private subdirectory is made); empty: $TMPDIR or /tmp" },
    { "timeout_s", WN_PARAM_DOUBLE, WN_PARAM_HAS_MIN, "300", 0.001, 0, NULL,
      "limit in seconds of every wait (wire-up, backpressure, end of inserts, close)" },
    { "chunk_bytes", WN_PARAM_INT, WN_PARAM_HAS_MIN | WN_PARAM_HAS_MAX, "4194304", 4096, 1073741824,
      NULL, "size of the messages rows travel in between ranks" },
    { "inflight_bytes", WN_PARAM_INT, WN_PARAM_HAS_MIN, "67108864", 4096, 0, NULL,
      "bytes of sends a rank may have on their way before insert waits" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

/* ---- state ------------------------------------------------------------------ */

struct wn_shuffle_group {
    char label[160]; /* "shuffle 'exact_dedup'" */
    uint32_t num_ranks;
    uint32_t num_partitions;
    double timeout_s;
    uint64_t memory_limit;
    size_t chunk_bytes;
    size_t inflight_limit;
    char *spill_dir; /* ours, made with mkdtemp */
    struct wn_ucx_rendezvous *rv;
    pthread_mutex_t mutex;     /* guards what follows */
    unsigned refs;             /* the driver's, plus one per open rank */
    uint8_t *opened;           /* per rank */
    struct wn_shuffle **ranks; /* open ranks, woken by an abort */
};

enum comm_state { COMM_STARTING = 0, COMM_WIRED, COMM_FAILED };

enum comm_command { CMD_NONE = 0, CMD_DISCONNECT, CMD_EXIT };

/* A buffer on its way to another rank. */
struct send_op {
    struct send_op *next;
    void *buf;
    size_t len;
    size_t cap; /* of buf, for the pool */
    uint32_t dest;
    ucp_tag_t tag;
    ucs_status_ptr_t req;
};

/* A message being received. */
struct recv_op {
    struct recv_op *next;
    void *buf;
    size_t len, cap;
    ucp_tag_t tag;
    ucs_status_ptr_t req;
};

struct staging {
    char *buf;
    size_t len, cap;
};

struct wn_shuffle {
    struct wn_shuffle_group *group;
    uint32_t rank, size;
    char label[200]; /* "shuffle 'exact_dedup': rank 2" */
    struct wn_ucx_bootstrap *bs;
    struct wn_ucx_store *store;
    int wake_fd; /* eventfd: wakes the communication thread */
    pthread_t comm;
    int comm_started;
    int pool_registered; /* the rank's memory_limit counts in the pool's bound */

    pthread_mutex_t mutex; /* guards the fields up to the next comment */
    pthread_cond_t cond;
    enum comm_state comm_state;
    struct wn_error comm_err; /* why the communication thread failed */
    enum comm_command command;
    int disconnected;
    struct send_op *queue_head, *queue_tail; /* handed over, not yet posted */
    size_t inflight;                         /* bytes queued or posted, not yet delivered */
    uint64_t *chunks_received;               /* per source rank */
    int64_t *chunks_announced;               /* per source rank, -1 until its end-of-data */
    uint64_t bytes_received;
    char transports[128];

    /* The actor thread's own. */
    struct staging *staging; /* per destination rank */
    uint32_t *chunks_sent;   /* per destination rank (the next sequence number) */
    uint32_t *order;         /* rows sorted by partition */
    size_t order_cap;
    uint64_t *counts; /* per partition, + 1 */
    int finished;
    uint64_t rows_inserted, bytes_sent, bytes_local;

    /* The communication thread's own. */
    struct wn_ucx_worker worker;
    struct send_op *posted;
    struct recv_op *receiving;
};

/* ---- the group ---------------------------------------------------------------- */

static int64_t param_int(const struct wn_params *params, const char *name, int64_t fallback)
{
    return params != NULL && wn_params_has(params, name) ? wn_params_get_int(params, name)
                                                         : fallback;
}

static void group_unref(struct wn_shuffle_group *group)
{
    int last;

    pthread_mutex_lock(&group->mutex);
    last = --group->refs == 0;
    pthread_mutex_unlock(&group->mutex);
    if (!last)
        return;
    if (group->spill_dir != NULL && rmdir(group->spill_dir) < 0 && errno != ENOENT)
        wn_log(WN_LOG_WARN, LOG_DOMAIN, "%s: cannot remove the spill directory %s: %s",
               group->label, group->spill_dir, strerror(errno));
    free(group->spill_dir);
    wn_ucx_rendezvous_unref(group->rv);
    free(group->opened);
    free(group->ranks);
    pthread_mutex_destroy(&group->mutex);
    free(group);
}

static int group_create(const struct wn_shuffle_group_config *config, struct wn_shuffle_group **out,
                        struct wn_error *err)
{
    const struct wn_params *params = config->params;
    const char *stage = config->stage_name ? config->stage_name : "?";
    const char *dir = params != NULL ? wn_params_get_string(params, "spill_dir") : NULL;
    struct wn_shuffle_group *group;
    size_t len;
    int rc;

    *out = NULL;
    if (config->num_ranks == 0 || config->num_ranks > MAX_RANKS || config->num_partitions == 0)
        return wn_error_set(err, WN_EINVAL,
                            "shuffle '%s': needs 1 to %u ranks and at least one "
                            "partition (got %u ranks, %u partitions)",
                            stage, MAX_RANKS, config->num_ranks, config->num_partitions);
    group = calloc(1, sizeof(*group));
    if (group == NULL)
        return wn_error_set(err, WN_ENOMEM, "shuffle '%s': out of memory", stage);
    pthread_mutex_init(&group->mutex, NULL);
    group->refs = 1;
    snprintf(group->label, sizeof(group->label), "shuffle '%s'", stage);
    group->num_ranks = config->num_ranks;
    group->num_partitions = config->num_partitions;
    group->timeout_s = config->timeout_s > 0 ? config->timeout_s
                       : params != NULL && wn_params_has(params, "timeout_s")
                           ? wn_params_get_double(params, "timeout_s")
                           : WN_UCX_SHUFFLE_TIMEOUT_DEFAULT;
    group->memory_limit =
        (uint64_t)param_int(params, "memory_limit", WN_UCX_SHUFFLE_MEMORY_LIMIT_DEFAULT);
    group->chunk_bytes = (size_t)param_int(params, "chunk_bytes", WN_UCX_SHUFFLE_CHUNK_DEFAULT);
    group->inflight_limit =
        (size_t)param_int(params, "inflight_bytes", WN_UCX_SHUFFLE_INFLIGHT_DEFAULT);
    group->opened = calloc(config->num_ranks, 1);
    group->ranks = calloc(config->num_ranks, sizeof(*group->ranks));
    if (group->opened == NULL || group->ranks == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", group->label);
        goto out_unref;
    }
    if (dir == NULL || dir[0] == '\0')
        dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    len = strlen(dir) + 32;
    group->spill_dir = malloc(len);
    if (group->spill_dir == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", group->label);
        goto out_unref;
    }
    snprintf(group->spill_dir, len, "%s/winnow-shuffle-XXXXXX", dir);
    if (mkdtemp(group->spill_dir) == NULL) {
        rc = wn_error_set(err, WN_EIO,
                          "%s: cannot make a spill directory under %s: %s (set the "
                          "provider's spill_dir to a writable directory)",
                          group->label, dir, strerror(errno));
        free(group->spill_dir);
        group->spill_dir = NULL;
        goto out_unref;
    }
    rc = wn_ucx_rendezvous_new(group->label, config->num_ranks, &group->rv, err);
    if (rc < 0)
        goto out_unref;
    *out = group;
    return 0;

out_unref:
    group_unref(group);
    return rc;
}

/* Wakes one rank's waiters and its communication thread. */
static void rank_wake(struct wn_shuffle *sh)
{
    uint64_t one = 1;

    pthread_mutex_lock(&sh->mutex);
    pthread_cond_broadcast(&sh->cond);
    pthread_mutex_unlock(&sh->mutex);
    if (write(sh->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        wn_log(WN_LOG_WARN, LOG_DOMAIN, "%s: cannot wake the communication thread: %s", sh->label,
               strerror(errno));
}

static void group_abort(struct wn_shuffle_group *group, const char *reason)
{
    wn_ucx_rendezvous_abort(group->rv, reason);
    pthread_mutex_lock(&group->mutex);
    for (uint32_t r = 0; r < group->num_ranks; r++)
        if (group->ranks[r] != NULL)
            rank_wake(group->ranks[r]);
    pthread_mutex_unlock(&group->mutex);
}

/* The message without a leading "<label>: ", for abort reasons: every waiter's
 * message starts with the group's label already. */
static const char *strip_label(const char *msg, const char *label)
{
    size_t len = strlen(label);

    if (strncmp(msg, label, len) == 0 && strncmp(msg + len, ": ", 2) == 0)
        return msg + len + 2;
    return msg;
}

/* Aborts the group because rank failed in phase with err, so that no other
 * rank waits for it; an error that is itself the abort is passed through. */
static int rank_failed(struct wn_shuffle_group *group, uint32_t rank, const char *phase, int rc,
                       const struct wn_error *err)
{
    char label[200];
    char reason[REASON_MAX];

    if (rc >= 0 || rc == WN_ECANCELED)
        return rc;
    snprintf(label, sizeof(label), "%s: rank %u", group->label, rank);
    snprintf(reason, sizeof(reason), "rank %u failed in %s: %s", rank, phase,
             strip_label(strip_label(err->message, label), group->label));
    group_abort(group, reason);
    return rc;
}

static void group_destroy(struct wn_shuffle_group *group)
{
    if (group != NULL)
        group_unref(group);
}

static int group_aborted(struct wn_shuffle_group *group, char *reason, size_t size)
{
    return wn_ucx_rendezvous_aborted(group->rv, reason, size);
}

const char *wn_ucx_shuffle_spill_dir(const struct wn_shuffle_group *group)
{
    return group->spill_dir;
}

/* ---- the communication thread ----------------------------------------------------- */

static void comm_fail(struct wn_shuffle *sh, struct wn_error *err)
{
    rank_failed(sh->group, sh->rank, "communication", err->code ? err->code : WN_EIO, err);
}

/* Gives a sent buffer back to the pool (fresh memory costs page faults). */
static void send_op_free(struct send_op *op)
{
    wn_ucx_pool_put(op->buf, op->cap);
    free(op);
}

/* Gives the buffers of the completed sends in done back to the pool, then
 * wakes inserters waiting for in-flight room: woken after, they find the
 * buffers to reuse instead of faulting in fresh ones. */
static void release_sends(struct wn_shuffle *sh, struct send_op *done, size_t done_bytes)
{
    if (done == NULL)
        return;
    while (done != NULL) {
        struct send_op *next = done->next;

        send_op_free(done);
        done = next;
    }
    pthread_mutex_lock(&sh->mutex);
    sh->inflight -= done_bytes;
    pthread_cond_broadcast(&sh->cond);
    pthread_mutex_unlock(&sh->mutex);
}

/* Reads which transports carry data to the next rank: at wire-up, and again
 * once the end-of-data message to it is sent (some lanes connect only after
 * the first messages, so the later reading is the one that counts). */
static void refresh_transports(struct wn_shuffle *sh)
{
    char text[sizeof(sh->transports)];

    if (sh->size < 2 ||
        wn_ucx_worker_transports(&sh->worker, (sh->rank + 1) % sh->size, text, sizeof(text)) < 0)
        return;
    pthread_mutex_lock(&sh->mutex);
    memcpy(sh->transports, text, sizeof(text));
    pthread_mutex_unlock(&sh->mutex);
}

/* Posts every send handed over.  Returns 1 when it did anything. */
static int post_sends(struct wn_shuffle *sh, struct wn_error *err)
{
    struct send_op *list, *done = NULL;
    size_t done_bytes = 0;
    int rc = 0;

    pthread_mutex_lock(&sh->mutex);
    list = sh->queue_head;
    sh->queue_head = sh->queue_tail = NULL;
    pthread_mutex_unlock(&sh->mutex);
    if (list == NULL)
        return 0;
    while (list != NULL) {
        struct send_op *op = list;
        ucp_request_param_t param;

        list = op->next;
        op->req = NULL;
        if (sh->worker.eps != NULL) {
            memset(&param, 0, sizeof(param));
            op->req = ucp_tag_send_nbx(sh->worker.eps[op->dest], op->buf, op->len, op->tag, &param);
            if (UCS_PTR_IS_ERR(op->req)) {
                rc = wn_error_set(err, WN_EIO, "%s: sending %zu bytes to rank %u failed: %s",
                                  sh->label, op->len, op->dest,
                                  ucs_status_string(UCS_PTR_STATUS(op->req)));
                op->req = NULL;
            }
        }
        /* Sent at once, failed, or handed over while the rank was closing
         * after an abort (no endpoints left): done with it. */
        if (op->req == NULL) {
            if (sh->worker.eps != NULL && TAG_KIND(op->tag) == TAG_END &&
                op->dest == (sh->rank + 1) % sh->size)
                refresh_transports(sh);
            done_bytes += op->len;
            op->next = done;
            done = op;
            continue;
        }
        op->next = sh->posted;
        sh->posted = op;
    }
    release_sends(sh, done, done_bytes);
    return rc < 0 ? rc : 1;
}

/* Releases the sends UCX has completed.  Returns 1 when any completed. */
static int reap_sends(struct wn_shuffle *sh, struct wn_error *err)
{
    struct send_op **link = &sh->posted, *done = NULL;
    size_t done_bytes = 0;
    int rc = 0;

    while (*link != NULL) {
        struct send_op *op = *link;
        ucs_status_t status = ucp_request_check_status(op->req);

        if (status == UCS_INPROGRESS) {
            link = &op->next;
            continue;
        }
        if (status != UCS_OK)
            rc = wn_error_set(err, WN_EIO, "%s: sending %zu bytes to rank %u failed: %s", sh->label,
                              op->len, op->dest, ucs_status_string(status));
        ucp_request_free(op->req);
        *link = op->next;
        done_bytes += op->len;
        if (TAG_KIND(op->tag) == TAG_END && op->dest == (sh->rank + 1) % sh->size)
            refresh_transports(sh);
        op->next = done;
        done = op;
    }
    release_sends(sh, done, done_bytes);
    return rc < 0 ? rc : done_bytes > 0;
}

/* A whole message arrived: a data chunk goes to the store, an end-of-data
 * message records how many chunks its sender sent here.  Takes buf (of
 * capacity cap, from the pool). */
static int deliver(struct wn_shuffle *sh, void *buf, size_t len, size_t cap, ucp_tag_t tag,
                   struct wn_error *err)
{
    uint32_t kind = TAG_KIND(tag), src = TAG_SRC(tag);
    uint64_t announced;
    int rc;

    if (src >= sh->size || src == sh->rank || (kind != TAG_DATA && kind != TAG_END)) {
        wn_ucx_pool_put(buf, cap);
        return wn_error_set(err, WN_EDATA,
                            "%s: received a message with an unknown tag 0x%016" PRIx64, sh->label,
                            (uint64_t)tag);
    }
    if (kind == TAG_DATA) {
        rc = wn_ucx_store_add(sh->store, buf, len, cap, src, TAG_SEQ(tag), err);
        if (rc < 0)
            return rc;
        pthread_mutex_lock(&sh->mutex);
        sh->chunks_received[src]++;
        sh->bytes_received += len;
        pthread_cond_broadcast(&sh->cond);
        pthread_mutex_unlock(&sh->mutex);
        return 0;
    }
    if (len != sizeof(announced)) {
        wn_ucx_pool_put(buf, cap);
        return wn_error_set(err, WN_EDATA,
                            "%s: an end-of-data message from rank %u has %zu "
                            "bytes, expected %zu",
                            sh->label, src, len, sizeof(announced));
    }
    memcpy(&announced, buf, sizeof(announced));
    wn_ucx_pool_put(buf, cap);
    pthread_mutex_lock(&sh->mutex);
    sh->chunks_announced[src] = (int64_t)announced;
    pthread_cond_broadcast(&sh->cond);
    pthread_mutex_unlock(&sh->mutex);
    return 0;
}

/* Starts receiving every message waiting in UCX.  Returns 1 when any. */
static int probe_receives(struct wn_shuffle *sh, struct wn_error *err)
{
    ucp_tag_recv_info_t info;
    ucp_tag_message_h msg;
    int any = 0;

    while ((msg = ucp_tag_probe_nb(sh->worker.worker, 0, 0, 1, &info)) != NULL) {
        struct recv_op *op;
        ucp_request_param_t param;
        size_t cap = 0;
        /* Straight into the buffer the store keeps: no copy after UCX's. */
        void *buf = wn_ucx_pool_get(info.length, &cap);

        any = 1;
        op = calloc(1, sizeof(*op));
        if (buf == NULL || op == NULL) {
            /* The message is out of UCX's queue: receive it into nothing is
             * not possible, so the shuffle cannot go on. */
            wn_ucx_pool_put(buf, cap);
            free(op);
            return wn_error_set(err, WN_ENOMEM, "%s: out of memory receiving %zu bytes", sh->label,
                                info.length);
        }
        memset(&param, 0, sizeof(param));
        op->buf = buf;
        op->len = info.length;
        op->cap = cap;
        op->tag = info.sender_tag;
        op->req = ucp_tag_msg_recv_nbx(sh->worker.worker, buf, info.length, msg, &param);
        if (UCS_PTR_IS_ERR(op->req)) {
            ucs_status_t status = UCS_PTR_STATUS(op->req);

            wn_ucx_pool_put(buf, cap);
            free(op);
            return wn_error_set(err, WN_EIO, "%s: receiving %zu bytes failed: %s", sh->label,
                                info.length, ucs_status_string(status));
        }
        if (op->req == NULL) {
            int rc = deliver(sh, op->buf, op->len, op->cap, op->tag, err);

            free(op);
            if (rc < 0)
                return rc;
            continue;
        }
        op->next = sh->receiving;
        sh->receiving = op;
    }
    return any;
}

/* Delivers the receives UCX has completed.  Returns 1 when any completed. */
static int reap_receives(struct wn_shuffle *sh, struct wn_error *err)
{
    struct recv_op **link = &sh->receiving;
    int any = 0;

    while (*link != NULL) {
        struct recv_op *op = *link;
        ucs_status_t status = ucp_request_check_status(op->req);
        int rc;

        if (status == UCS_INPROGRESS) {
            link = &op->next;
            continue;
        }
        any = 1;
        ucp_request_free(op->req);
        *link = op->next;
        if (status != UCS_OK) {
            rc = wn_error_set(err, WN_EIO, "%s: receiving %zu bytes from rank %u failed: %s",
                              sh->label, op->len, TAG_SRC(op->tag), ucs_status_string(status));
            wn_ucx_pool_put(op->buf, op->cap);
            free(op);
            return rc;
        }
        rc = deliver(sh, op->buf, op->len, op->cap, op->tag, err);
        free(op);
        if (rc < 0)
            return rc;
    }
    return any;
}

/* Sleeps until UCX or the actor thread has something, at most 100 ms. */
static void comm_sleep(struct wn_shuffle *sh)
{
    struct pollfd fds[2];
    uint64_t value;
    int n = 0;

    if (sh->worker.event_fd >= 0) {
        ucs_status_t status = ucp_worker_arm(sh->worker.worker);

        if (status == UCS_ERR_BUSY)
            return;
        if (status == UCS_OK) {
            fds[n].fd = sh->worker.event_fd;
            fds[n].events = POLLIN;
            n++;
        }
    }
    fds[n].fd = sh->wake_fd;
    fds[n].events = POLLIN;
    n++;
    if (poll(fds, (nfds_t)n, 100) > 0 && (fds[n - 1].revents & POLLIN))
        if (read(sh->wake_fd, &value, sizeof(value)) < 0 && errno != EAGAIN)
            wn_log(WN_LOG_WARN, LOG_DOMAIN, "%s: reading the wake-up fd: %s", sh->label,
                   strerror(errno));
}

/* Releases what the communication thread still holds, worker last but one:
 * buffers UCX might still read go after the worker. */
static void comm_cleanup(struct wn_shuffle *sh)
{
    struct send_op *sends = sh->posted;
    struct recv_op *recvs = sh->receiving;

    for (struct recv_op *op = recvs; op != NULL; op = op->next) {
        ucp_request_cancel(sh->worker.worker, op->req);
        ucp_request_free(op->req);
    }
    for (struct send_op *op = sends; op != NULL; op = op->next)
        ucp_request_free(op->req);
    wn_ucx_worker_fini(&sh->worker);
    while (recvs != NULL) {
        struct recv_op *next = recvs->next;

        wn_ucx_pool_put(recvs->buf, recvs->cap);
        free(recvs);
        recvs = next;
    }
    while (sends != NULL) {
        struct send_op *next = sends->next;

        send_op_free(sends);
        sends = next;
    }
    sh->posted = NULL;
    sh->receiving = NULL;
}

static void *comm_main(void *arg)
{
    struct wn_shuffle *sh = arg;
    struct wn_shuffle_group *group = sh->group;
    struct wn_ucx_worker_config cfg = { group->label, sh->rank, sh->size, 1, 0 };
    struct wn_error err = WN_ERROR_INIT;
    int failed = 0;
    int rc;

    rc = wn_ucx_worker_init(&sh->worker, &cfg, &err);
    if (rc == 0)
        rc = wn_ucx_worker_connect(&sh->worker, sh->bs, group->timeout_s, 0, &err);
    if (rc == 0)
        refresh_transports(sh);
    pthread_mutex_lock(&sh->mutex);
    sh->comm_state = rc == 0 ? COMM_WIRED : COMM_FAILED;
    if (rc < 0)
        sh->comm_err = err;
    pthread_cond_broadcast(&sh->cond);
    pthread_mutex_unlock(&sh->mutex);
    if (rc < 0) {
        wn_ucx_worker_fini(&sh->worker);
        return NULL;
    }
    for (;;) {
        enum comm_command command;
        int active = 0;

        while (ucp_worker_progress(sh->worker.worker) != 0)
            active = 1;
        if (!failed) {
            rc = post_sends(sh, &err);
            if (rc >= 0) {
                active |= rc;
                rc = reap_sends(sh, &err);
            }
            if (rc >= 0) {
                active |= rc;
                rc = probe_receives(sh, &err);
            }
            if (rc >= 0) {
                active |= rc;
                rc = reap_receives(sh, &err);
            }
            if (rc >= 0) {
                active |= rc;
            } else {
                failed = 1;
                comm_fail(sh, &err);
            }
        }
        pthread_mutex_lock(&sh->mutex);
        command = sh->command;
        pthread_mutex_unlock(&sh->mutex);
        if (command == CMD_EXIT)
            break;
        if (command == CMD_DISCONNECT && !sh->disconnected) {
            double limit = group_aborted(group, NULL, 0) ? 0.5
                           : group->timeout_s < 10.0     ? group->timeout_s
                                                         : 10.0;

            wn_ucx_worker_disconnect(&sh->worker, limit);
            pthread_mutex_lock(&sh->mutex);
            sh->disconnected = 1;
            pthread_cond_broadcast(&sh->cond);
            pthread_mutex_unlock(&sh->mutex);
            continue;
        }
        if (!active)
            comm_sleep(sh);
    }
    comm_cleanup(sh);
    return NULL;
}

/* ---- the rank ---------------------------------------------------------------------- */

/* Why a wait must stop now (abort, or a dead communication thread), or 0. */
static int wait_stop(struct wn_shuffle *sh, const char *what, struct wn_error *err)
{
    char reason[REASON_MAX];

    if (group_aborted(sh->group, reason, sizeof(reason)))
        return wn_error_set(err, WN_ECANCELED, "%s: %s aborted: %s", sh->label, what, reason);
    return 0;
}

/* Waits on the rank's condition variable until the monotonic deadline.
 * Returns WN_ETIMEDOUT once it passed.  The caller holds sh->mutex. */
static int wait_until(struct wn_shuffle *sh, double deadline)
{
    struct timespec ts = wn_ucx_timespec(deadline);

    if (wn_ucx_now() >= deadline)
        return WN_ETIMEDOUT;
    pthread_cond_timedwait(&sh->cond, &sh->mutex, &ts);
    return 0;
}

static void rank_free(struct wn_shuffle *sh)
{
    if (sh->staging != NULL)
        for (uint32_t r = 0; r < sh->size; r++)
            wn_ucx_pool_put(sh->staging[r].buf, sh->staging[r].cap);
    free(sh->staging);
    free(sh->chunks_sent);
    free(sh->chunks_received);
    free(sh->chunks_announced);
    free(sh->order);
    free(sh->counts);
    while (sh->queue_head != NULL) {
        struct send_op *next = sh->queue_head->next;

        send_op_free(sh->queue_head);
        sh->queue_head = next;
    }
    wn_ucx_store_free(sh->store);
    if (sh->pool_registered)
        wn_ucx_pool_unregister(sh->group->memory_limit);
    wn_ucx_bootstrap_close(sh->bs);
    if (sh->wake_fd >= 0)
        close(sh->wake_fd);
    pthread_cond_destroy(&sh->cond);
    pthread_mutex_destroy(&sh->mutex);
    free(sh);
}

/* Stops the communication thread, closing its endpoints (a flush) first
 * unless disconnect is 0. */
static void comm_stop(struct wn_shuffle *sh, int disconnect)
{
    double deadline = wn_ucx_now() + sh->group->timeout_s + 2.0;

    if (!sh->comm_started)
        return;
    if (disconnect) {
        pthread_mutex_lock(&sh->mutex);
        sh->command = CMD_DISCONNECT;
        pthread_mutex_unlock(&sh->mutex);
        rank_wake(sh);
        pthread_mutex_lock(&sh->mutex);
        while (!sh->disconnected && wait_until(sh, deadline) == 0)
            ;
        pthread_mutex_unlock(&sh->mutex);
    }
    pthread_mutex_lock(&sh->mutex);
    sh->command = CMD_EXIT;
    pthread_mutex_unlock(&sh->mutex);
    rank_wake(sh);
    pthread_join(sh->comm, NULL);
    sh->comm_started = 0;
}

static int shuffle_open(struct wn_shuffle_group *group, uint32_t rank, struct wn_shuffle **out,
                        struct wn_error *err)
{
    struct wn_shuffle *sh;
    pthread_condattr_t attr;
    double deadline;
    int rc;

    *out = NULL;
    pthread_mutex_lock(&group->mutex);
    if (rank >= group->num_ranks || group->opened[rank]) {
        pthread_mutex_unlock(&group->mutex);
        return wn_error_set(err, WN_EINVAL, "%s: rank %u %s", group->label, rank,
                            rank >= group->num_ranks ? "is out of range" : "is already open");
    }
    group->opened[rank] = 1;
    group->refs++;
    pthread_mutex_unlock(&group->mutex);

    sh = calloc(1, sizeof(*sh));
    if (sh == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: rank %u: out of memory", group->label, rank);
        rank_failed(group, rank, "open", rc, err);
        group_unref(group);
        return rc;
    }
    sh->group = group;
    sh->rank = rank;
    sh->size = group->num_ranks;
    sh->wake_fd = -1;
    snprintf(sh->label, sizeof(sh->label), "%s: rank %u", group->label, rank);
    wn_ucx_pool_register(group->memory_limit);
    sh->pool_registered = 1;
    pthread_mutex_init(&sh->mutex, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&sh->cond, &attr);
    pthread_condattr_destroy(&attr);
    sh->staging = calloc(sh->size, sizeof(*sh->staging));
    sh->chunks_sent = calloc(sh->size, sizeof(*sh->chunks_sent));
    sh->chunks_received = calloc(sh->size, sizeof(*sh->chunks_received));
    sh->chunks_announced = calloc(sh->size, sizeof(*sh->chunks_announced));
    sh->counts = calloc((size_t)group->num_partitions + 1, sizeof(*sh->counts));
    sh->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (sh->staging == NULL || sh->chunks_sent == NULL || sh->chunks_received == NULL ||
        sh->chunks_announced == NULL || sh->counts == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", sh->label);
        goto out_free;
    }
    if (sh->wake_fd < 0) {
        rc = wn_error_set(err, WN_EIO, "%s: eventfd failed: %s", sh->label, strerror(errno));
        goto out_free;
    }
    for (uint32_t r = 0; r < sh->size; r++)
        sh->chunks_announced[r] = -1;
    rc = wn_ucx_store_new(sh->label, rank, sh->size, group->num_partitions, group->memory_limit,
                          group->spill_dir, &sh->store, err);
    if (rc < 0)
        goto out_free;
    rc = wn_ucx_bootstrap_inproc_open(group->rv, rank, &sh->bs, err);
    if (rc < 0)
        goto out_free;
    if (pthread_create(&sh->comm, NULL, comm_main, sh) != 0) {
        rc =
            wn_error_set(err, WN_ERESOURCE, "%s: cannot start the communication thread", sh->label);
        goto out_free;
    }
    sh->comm_started = 1;
    pthread_mutex_lock(&group->mutex);
    group->ranks[rank] = sh;
    pthread_mutex_unlock(&group->mutex);

    /* The communication thread wires up (its allgather has the timeout). */
    deadline = wn_ucx_now() + group->timeout_s + 5.0;
    pthread_mutex_lock(&sh->mutex);
    while (sh->comm_state == COMM_STARTING && wait_until(sh, deadline) == 0)
        ;
    if (sh->comm_state == COMM_FAILED) {
        *err = sh->comm_err;
        rc = err->code;
    } else if (sh->comm_state == COMM_STARTING) {
        rc = wn_error_set(err, WN_ETIMEDOUT, "%s: wiring up did not end within %.3g s", sh->label,
                          group->timeout_s + 5.0);
    }
    pthread_mutex_unlock(&sh->mutex);
    if (rc == 0)
        rc = wn_ucx_bootstrap_barrier(sh->bs, group->timeout_s, err);
    if (rc < 0)
        goto out_stop;
    *out = sh;
    return 0;

out_stop:
    rank_failed(group, rank, "open", rc, err);
    pthread_mutex_lock(&group->mutex);
    group->ranks[rank] = NULL;
    pthread_mutex_unlock(&group->mutex);
    comm_stop(sh, 0);
out_free:
    rank_failed(group, rank, "open", rc, err);
    rank_free(sh);
    group_unref(group);
    return rc;
}

/* Hands a full staging buffer to its destination: this rank's own store, or
 * the communication thread (waiting while too much is in flight). */
static int flush_staging(struct wn_shuffle *sh, uint32_t dest, const char *what,
                         struct wn_error *err)
{
    struct staging *st = &sh->staging[dest];
    struct wn_shuffle_group *group = sh->group;
    uint32_t seq = sh->chunks_sent[dest];
    struct send_op *op;
    double deadline;
    int rc = 0;

    if (st->len == 0)
        return 0;
    if (dest == sh->rank) {
        sh->bytes_local += st->len;
        rc = wn_ucx_store_add(sh->store, st->buf, st->len, st->cap, sh->rank, seq, err);
        st->buf = NULL;
        st->len = st->cap = 0;
        sh->chunks_sent[dest]++;
        return rc;
    }
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory", sh->label);
    deadline = wn_ucx_now() + group->timeout_s;
    pthread_mutex_lock(&sh->mutex);
    while (sh->inflight > 0 && sh->inflight + st->len > group->inflight_limit) {
        if ((rc = wait_stop(sh, what, err)) < 0)
            break;
        if (wait_until(sh, deadline) == WN_ETIMEDOUT) {
            rc = wn_error_set(err, WN_ETIMEDOUT,
                              "%s: %s timed out after %.3g s: %zu bytes sent "
                              "to other ranks are not delivered (is a rank stuck?)",
                              sh->label, what, group->timeout_s, sh->inflight);
            break;
        }
    }
    if (rc == 0)
        rc = wait_stop(sh, what, err);
    if (rc < 0) {
        pthread_mutex_unlock(&sh->mutex);
        free(op);
        return rc;
    }
    op->buf = st->buf;
    op->len = st->len;
    op->cap = st->cap;
    op->dest = dest;
    op->tag = TAG_MAKE(TAG_DATA, sh->rank, seq);
    if (sh->queue_tail != NULL)
        sh->queue_tail->next = op;
    else
        sh->queue_head = op;
    sh->queue_tail = op;
    sh->inflight += op->len;
    pthread_mutex_unlock(&sh->mutex);
    sh->bytes_sent += st->len;
    sh->chunks_sent[dest]++;
    st->buf = NULL;
    st->len = st->cap = 0;
    rank_wake(sh);
    return 0;
}

static int staging_reserve(struct wn_shuffle *sh, struct staging *st, size_t extra)
{
    size_t want = st->len + extra, cap = 0;
    char *buf;

    if (want <= st->cap)
        return 0;
    /* A buffer of the pool (one a send, spill or extract gave back, else
     * fresh huge-page memory) of chunk_bytes, or of the one larger segment. */
    if (want < sh->group->chunk_bytes)
        want = sh->group->chunk_bytes;
    if (st->buf != NULL && want < st->cap * 2)
        want = st->cap * 2;
    buf = wn_ucx_pool_get(want, &cap);
    if (buf == NULL)
        return WN_ENOMEM;
    if (st->len > 0)
        memcpy(buf, st->buf, st->len);
    wn_ucx_pool_put(st->buf, st->cap);
    st->buf = buf;
    st->cap = cap;
    return 0;
}

static int insert_rows(struct wn_shuffle *sh, const struct wn_table *rows,
                       const uint32_t *partitions, struct wn_error *err)
{
    uint32_t num_partitions = sh->group->num_partitions;
    size_t chunk_bytes = sh->group->chunk_bytes;
    int64_t n = wn_table_num_rows(rows);
    uint64_t *counts = sh->counts;
    int rc;

    if (sh->finished)
        return wn_error_set(err, WN_EINVAL, "%s: insert after insert_finished", sh->label);
    if ((rc = wait_stop(sh, "insert", err)) < 0)
        return rc;
    if (n <= 0)
        return 0;
    if (n > (int64_t)UINT32_MAX)
        return wn_error_set(err, WN_EINVAL, "%s: insert of %" PRId64 " rows at once: at most %u",
                            sh->label, n, UINT32_MAX);
    rc = wn_ucx_format_check(rows, err);
    if (rc < 0)
        return wn_error_prefix(err, "%s: insert", sh->label);
    if ((size_t)n > sh->order_cap) {
        uint32_t *order = realloc(sh->order, (size_t)n * sizeof(*order));

        if (order == NULL)
            return wn_error_set(err, WN_ENOMEM, "%s: out of memory for %" PRId64 " rows", sh->label,
                                n);
        sh->order = order;
        sh->order_cap = (size_t)n;
    }
    /* Counting sort of the rows by partition: counts[p + 1] ends as p's start. */
    memset(counts, 0, ((size_t)num_partitions + 1) * sizeof(*counts));
    for (int64_t i = 0; i < n; i++) {
        if (partitions[i] >= num_partitions)
            return wn_error_set(err, WN_EINVAL,
                                "%s: insert: row %" PRId64 " is given partition "
                                "%u, but the shuffle has %u partitions",
                                sh->label, i, partitions[i], num_partitions);
        counts[partitions[i] + 1]++;
    }
    for (uint32_t p = 0; p < num_partitions; p++)
        counts[p + 1] += counts[p];
    for (int64_t i = 0; i < n; i++)
        sh->order[counts[partitions[i]]++] = (uint32_t)i;
    /* counts[p] is now p's end, and p's start is counts[p - 1] (0 for p = 0). */
    for (uint32_t p = 0; p < num_partitions; p++) {
        const uint32_t *ord = sh->order + (p == 0 ? 0 : counts[p - 1]);
        size_t count = (size_t)(counts[p] - (p == 0 ? 0 : counts[p - 1]));
        uint32_t dest = p % sh->size;
        struct staging *st = &sh->staging[dest];

        while (count > 0) {
            size_t size = 0, fit;

            /* Messages fill chunk_bytes (the rows that do not fit go on in
             * the next message), and exceed it only for one larger row.
             * st->len < chunk_bytes here: a full staging buffer is sent. */
            fit = wn_ucx_segment_fit(rows, ord, count, chunk_bytes - st->len, &size);
            if (fit == 0 && st->len > 0) {
                if ((rc = flush_staging(sh, dest, "insert", err)) < 0)
                    return rc;
                continue;
            }
            if (fit == 0)
                fit = 1; /* size is the one row's */
            if (staging_reserve(sh, st, size) < 0)
                return wn_error_set(err, WN_ENOMEM,
                                    "%s: out of memory staging %zu bytes for rank %u", sh->label,
                                    size, dest);
            wn_ucx_segment_write(rows, p, ord, fit, st->buf + st->len);
            st->len += size;
            ord += fit;
            count -= fit;
            if (st->len >= chunk_bytes || count > 0)
                if ((rc = flush_staging(sh, dest, "insert", err)) < 0)
                    return rc;
        }
    }
    sh->rows_inserted += (uint64_t)n;
    return 0;
}

/* Lists what insert_finished still waits for. */
static void describe_missing(struct wn_shuffle *sh, char *buf, size_t size)
{
    size_t used = 0;
    unsigned listed = 0;

    buf[0] = '\0';
    if (sh->inflight > 0)
        used += (size_t)snprintf(buf, size, "%zu bytes of this rank's sends not delivered",
                                 sh->inflight);
    for (uint32_t r = 0; r < sh->size && used + 64 < size; r++) {
        if (r == sh->rank || (sh->chunks_announced[r] >= 0 &&
                              sh->chunks_received[r] == (uint64_t)sh->chunks_announced[r]))
            continue;
        if (listed++ == 6) {
            used += (size_t)snprintf(buf + used, size - used, "; ...");
            break;
        }
        if (sh->chunks_announced[r] < 0)
            used += (size_t)snprintf(buf + used, size - used,
                                     "%srank %u (no end of data yet, %" PRIu64 " chunks so far)",
                                     used ? "; " : "", r, sh->chunks_received[r]);
        else
            used += (size_t)snprintf(
                buf + used, size - used, "%srank %u (%" PRIu64 " of %" PRId64 " chunks)",
                used ? "; " : "", r, sh->chunks_received[r], sh->chunks_announced[r]);
    }
}

static int all_received(struct wn_shuffle *sh)
{
    if (sh->inflight > 0)
        return 0;
    for (uint32_t r = 0; r < sh->size; r++)
        if (r != sh->rank && (sh->chunks_announced[r] < 0 ||
                              sh->chunks_received[r] != (uint64_t)sh->chunks_announced[r]))
            return 0;
    return 1;
}

static int finish_inserts(struct wn_shuffle *sh, struct wn_error *err)
{
    struct wn_shuffle_group *group = sh->group;
    double deadline;
    int rc = 0;

    if (sh->finished)
        return wn_error_set(err, WN_EINVAL, "%s: insert_finished called twice", sh->label);
    for (uint32_t r = 0; r < sh->size; r++)
        if ((rc = flush_staging(sh, r, "insert_finished", err)) < 0)
            return rc;
    /* End of data: how many chunks went to each other rank. */
    for (uint32_t r = 0; r < sh->size; r++) {
        struct send_op *op;
        uint64_t count = sh->chunks_sent[r];

        if (r == sh->rank)
            continue;
        op = calloc(1, sizeof(*op));
        if (op != NULL)
            op->buf = malloc(sizeof(count));
        if (op == NULL || op->buf == NULL) {
            free(op);
            return wn_error_set(err, WN_ENOMEM, "%s: out of memory", sh->label);
        }
        memcpy(op->buf, &count, sizeof(count));
        op->len = op->cap = sizeof(count);
        op->dest = r;
        op->tag = TAG_MAKE(TAG_END, sh->rank, 0);
        pthread_mutex_lock(&sh->mutex);
        if (sh->queue_tail != NULL)
            sh->queue_tail->next = op;
        else
            sh->queue_head = op;
        sh->queue_tail = op;
        sh->inflight += op->len;
        pthread_mutex_unlock(&sh->mutex);
    }
    rank_wake(sh);
    deadline = wn_ucx_now() + group->timeout_s;
    pthread_mutex_lock(&sh->mutex);
    while (!all_received(sh)) {
        if ((rc = wait_stop(sh, "insert_finished", err)) < 0)
            break;
        if (wait_until(sh, deadline) == WN_ETIMEDOUT) {
            char missing[512];

            describe_missing(sh, missing, sizeof(missing));
            rc = wn_error_set(err, WN_ETIMEDOUT,
                              "%s: insert_finished timed out after %.3g s "
                              "waiting for: %s",
                              sh->label, group->timeout_s, missing);
            break;
        }
    }
    pthread_mutex_unlock(&sh->mutex);
    if (rc == 0)
        rc = wait_stop(sh, "insert_finished", err);
    /* Every rank holds all its rows only once every rank got here: from then
     * on no message travels, and each rank may extract and close alone. */
    if (rc == 0)
        rc = wn_ucx_bootstrap_barrier(sh->bs, group->timeout_s, err);
    if (rc == 0)
        sh->finished = 1;
    return rc;
}

/* The public ops: a failing rank aborts its group (rank_failed). */
static int shuffle_insert(struct wn_shuffle *sh, const struct wn_table *rows,
                          const uint32_t *partitions, struct wn_error *err)
{
    return rank_failed(sh->group, sh->rank, "insert", insert_rows(sh, rows, partitions, err), err);
}

static int shuffle_insert_finished(struct wn_shuffle *sh, struct wn_error *err)
{
    return rank_failed(sh->group, sh->rank, "insert_finished", finish_inserts(sh, err), err);
}

static int shuffle_extract(struct wn_shuffle *sh, uint32_t partition, struct wn_table *out,
                           struct wn_error *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if (!sh->finished)
        rc = wn_error_set(err, WN_EINVAL, "%s: extract before insert_finished", sh->label);
    else if ((rc = wait_stop(sh, "extract", err)) == 0)
        rc = wn_ucx_store_extract(sh->store, partition, out, err);
    return rank_failed(sh->group, sh->rank, "extract", rc, err);
}

static void shuffle_close(struct wn_shuffle *sh)
{
    struct wn_shuffle_group *group;

    if (sh == NULL)
        return;
    group = sh->group;
    /* No barrier here: after insert_finished's, no message is on its way to
     * or from this rank, and a rank that closes early must not wait for the
     * others' extracts (which may take longer than any timeout). */
    comm_stop(sh, 1);
    pthread_mutex_lock(&group->mutex);
    group->ranks[sh->rank] = NULL;
    pthread_mutex_unlock(&group->mutex);
    rank_free(sh);
    group_unref(group);
}

void wn_ucx_shuffle_stats(struct wn_shuffle *sh, struct wn_ucx_shuffle_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    stats->rows_inserted = sh->rows_inserted;
    stats->bytes_sent = sh->bytes_sent;
    stats->bytes_local = sh->bytes_local;
    for (uint32_t r = 0; r < sh->size; r++)
        if (r != sh->rank)
            stats->chunks_sent += sh->chunks_sent[r];
    pthread_mutex_lock(&sh->mutex);
    stats->bytes_received = sh->bytes_received;
    for (uint32_t r = 0; r < sh->size; r++)
        stats->chunks_received += sh->chunks_received[r];
    snprintf(stats->transports, sizeof(stats->transports), "%s", sh->transports);
    pthread_mutex_unlock(&sh->mutex);
    wn_ucx_store_stats(sh->store, &stats->store);
}

/* The executor ended a SHUFFLE stage: the pool keeps nothing for its rounds
 * any more (shuffle_pool.h, Release). */
static void stage_end(const char *stage_name, const struct wn_params *params)
{
    uint64_t freed = wn_ucx_pool_release();

    (void)params;
    wn_log(WN_LOG_DEBUG, LOG_DOMAIN,
           "stage '%s' ended: the shuffle buffer pool freed %.1f MiB of idle buffers",
           stage_name ? stage_name : "", (double)freed / 1048576.0);
}

const struct wn_shuffle_provider_ops wn_ucx_shuffle_ops = {
    .version = WN_SHUFFLE_PROVIDER_OPS_VERSION,
    .group_create = group_create,
    .open = shuffle_open,
    .insert = shuffle_insert,
    .insert_finished = shuffle_insert_finished,
    .extract = shuffle_extract,
    .close = shuffle_close,
    .group_abort = group_abort,
    .group_destroy = group_destroy,
    .stage_end = stage_end,
};
