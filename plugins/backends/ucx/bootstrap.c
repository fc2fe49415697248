/* wn_ucx_bootstrap_*: the seam through which ranks exchange worker addresses,
 * and its in-process implementation (a rendezvous shared by N threads). */
#include "build_config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap.h"
#include "clock.h"

#define REASON_MAX 512

void wn_ucx_blobs_free(struct wn_ucx_blobs *blobs)
{
    free(blobs);
}

int wn_ucx_bootstrap_allgather(struct wn_ucx_bootstrap *bs, const void *data, size_t len,
                               double timeout_s, struct wn_ucx_blobs **out, struct wn_error *err)
{
    return bs->ops->allgather(bs, data, len, timeout_s, out, err);
}

int wn_ucx_bootstrap_barrier(struct wn_ucx_bootstrap *bs, double timeout_s, struct wn_error *err)
{
    return bs->ops->barrier(bs, timeout_s, err);
}

void wn_ucx_bootstrap_abort(struct wn_ucx_bootstrap *bs, const char *reason)
{
    bs->ops->abort(bs, reason);
}

int wn_ucx_bootstrap_aborted(struct wn_ucx_bootstrap *bs, char *buf, size_t size)
{
    return bs->ops->aborted(bs, buf, size);
}

void wn_ucx_bootstrap_close(struct wn_ucx_bootstrap *bs)
{
    if (bs != NULL)
        bs->ops->close(bs);
}

/* ---- the rendezvous ------------------------------------------------------ */

enum round_kind { ROUND_NONE = 0, ROUND_ALLGATHER, ROUND_BARRIER };

struct slot {
    void *data;
    size_t len;
};

struct wn_ucx_rendezvous {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    char *label;
    uint32_t size;
    unsigned refs;
    uint8_t *opened;       /* per rank: a handle was opened */
    uint64_t generation;   /* rounds completed */
    uint32_t arrived;      /* ranks in the current round */
    uint8_t *arrived_rank; /* per rank, current round */
    enum round_kind kind;  /* of the current round, set by its first arrival */
    uint32_t kind_rank;    /* the rank that set kind */
    struct slot *slots[2]; /* [round parity][rank] */
    atomic_int aborted;
    char reason[REASON_MAX];
};

struct inproc_bootstrap {
    struct wn_ucx_bootstrap base; /* first: the vtable handle */
    struct wn_ucx_rendezvous *rv;
    uint64_t round; /* rounds this rank completed */
};

static const char *kind_name(enum round_kind kind)
{
    return kind == ROUND_BARRIER ? "barrier" : "allgather";
}

static void rendezvous_free(struct wn_ucx_rendezvous *rv)
{
    for (int parity = 0; parity < 2; parity++) {
        for (uint32_t r = 0; r < rv->size; r++)
            free(rv->slots[parity][r].data);
        free(rv->slots[parity]);
    }
    free(rv->arrived_rank);
    free(rv->opened);
    free(rv->label);
    pthread_cond_destroy(&rv->cond);
    pthread_mutex_destroy(&rv->mutex);
    free(rv);
}

int wn_ucx_rendezvous_new(const char *label, uint32_t size, struct wn_ucx_rendezvous **out,
                          struct wn_error *err)
{
    struct wn_ucx_rendezvous *rv;
    pthread_condattr_t attr;
    int rc = 0;

    *out = NULL;
    if (size == 0)
        return wn_error_set(err, WN_EINVAL, "%s: a bootstrap group needs at least one rank",
                            label ? label : "ucx");
    rv = calloc(1, sizeof(*rv));
    if (rv == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory creating a rendezvous");
    rv->size = size;
    rv->refs = 1;
    rv->label = strdup(label ? label : "ucx");
    rv->opened = calloc(size, 1);
    rv->arrived_rank = calloc(size, 1);
    rv->slots[0] = calloc(size, sizeof(struct slot));
    rv->slots[1] = calloc(size, sizeof(struct slot));
    pthread_mutex_init(&rv->mutex, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&rv->cond, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&rv->aborted, 0);
    if (rv->label == NULL || rv->opened == NULL || rv->arrived_rank == NULL ||
        rv->slots[0] == NULL || rv->slots[1] == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "out of memory creating a rendezvous for %u ranks", size);
        goto out_free;
    }
    *out = rv;
    return 0;

out_free:
    rendezvous_free(rv);
    return rc;
}

/* Marks the group aborted; the caller holds the mutex. */
static void abort_locked(struct wn_ucx_rendezvous *rv, const char *reason)
{
    if (atomic_load(&rv->aborted))
        return;
    snprintf(rv->reason, sizeof(rv->reason), "%s", reason ? reason : "aborted");
    atomic_store(&rv->aborted, 1);
    pthread_cond_broadcast(&rv->cond);
}

void wn_ucx_rendezvous_abort(struct wn_ucx_rendezvous *rv, const char *reason)
{
    pthread_mutex_lock(&rv->mutex);
    abort_locked(rv, reason);
    pthread_mutex_unlock(&rv->mutex);
}

int wn_ucx_rendezvous_aborted(struct wn_ucx_rendezvous *rv, char *buf, size_t size)
{
    if (!atomic_load(&rv->aborted))
        return 0;
    if (buf != NULL && size > 0) {
        pthread_mutex_lock(&rv->mutex);
        snprintf(buf, size, "%s", rv->reason);
        pthread_mutex_unlock(&rv->mutex);
    }
    return 1;
}

static void rendezvous_unref_locked(struct wn_ucx_rendezvous *rv)
{
    int last = --rv->refs == 0;

    pthread_mutex_unlock(&rv->mutex);
    if (last)
        rendezvous_free(rv);
}

void wn_ucx_rendezvous_unref(struct wn_ucx_rendezvous *rv)
{
    if (rv == NULL)
        return;
    pthread_mutex_lock(&rv->mutex);
    rendezvous_unref_locked(rv);
}

/* Lists the ranks missing from the current round into buf ("2, 5"). */
static void missing_ranks(const struct wn_ucx_rendezvous *rv, char *buf, size_t size)
{
    size_t used = 0;
    unsigned listed = 0;

    buf[0] = '\0';
    for (uint32_t r = 0; r < rv->size && used + 16 < size; r++) {
        if (rv->arrived_rank[r])
            continue;
        if (listed == 8) {
            snprintf(buf + used, size - used, ", ...");
            break;
        }
        used += (size_t)snprintf(buf + used, size - used, "%s%u", listed ? ", " : "", r);
        listed++;
    }
}

/* Copies the round's contributions (parity) into one allocation. */
static int collect_locked(struct wn_ucx_rendezvous *rv, int parity, struct wn_ucx_blobs **out)
{
    size_t total = sizeof(struct wn_ucx_blobs) + rv->size * sizeof(struct wn_ucx_blob);
    struct wn_ucx_blobs *blobs;
    unsigned char *bytes;

    for (uint32_t r = 0; r < rv->size; r++)
        total += rv->slots[parity][r].len;
    blobs = malloc(total);
    if (blobs == NULL)
        return WN_ENOMEM;
    blobs->count = rv->size;
    bytes = (unsigned char *)&blobs->blob[rv->size];
    for (uint32_t r = 0; r < rv->size; r++) {
        const struct slot *s = &rv->slots[parity][r];

        if (s->len > 0)
            memcpy(bytes, s->data, s->len);
        blobs->blob[r].data = bytes;
        blobs->blob[r].len = s->len;
        bytes += s->len;
    }
    *out = blobs;
    return 0;
}

/* One collective round: deposit, wait for every rank, collect (allgather only). */
static int rendezvous_round(struct inproc_bootstrap *h, enum round_kind kind, const void *data,
                            size_t len, double timeout_s, struct wn_ucx_blobs **out,
                            struct wn_error *err)
{
    struct wn_ucx_rendezvous *rv = h->rv;
    uint32_t rank = h->base.rank;
    int parity = (int)(h->round & 1);
    struct slot *mine = &rv->slots[parity][rank];
    char reason[REASON_MAX];
    struct timespec deadline;
    int rc = 0;

    if (out != NULL)
        *out = NULL;
    if (!(timeout_s > 0))
        return wn_error_set(err, WN_EINVAL, "%s: rank %u: bootstrap %s needs a timeout > 0 s",
                            rv->label, rank, kind_name(kind));
    deadline = wn_ucx_timespec(wn_ucx_now() + timeout_s);
    pthread_mutex_lock(&rv->mutex);
    if (atomic_load(&rv->aborted))
        goto out_aborted;
    if (rv->generation != h->round) {
        rc = wn_error_set(err, WN_EINTERNAL,
                          "%s: rank %u: bootstrap round %llu entered while the group is at %llu",
                          rv->label, rank, (unsigned long long)h->round,
                          (unsigned long long)rv->generation);
        goto out_unlock;
    }
    if (rv->arrived == 0) {
        rv->kind = kind;
        rv->kind_rank = rank;
    } else if (rv->kind != kind) {
        snprintf(reason, sizeof(reason), "rank %u called %s while rank %u is in %s (round %llu)",
                 rank, kind_name(kind), rv->kind_rank, kind_name(rv->kind),
                 (unsigned long long)h->round);
        abort_locked(rv, reason);
        goto out_aborted;
    }
    /* Round h->round - 2 used this slot; every rank finished reading it
     * before it could enter round h->round - 1. */
    free(mine->data);
    mine->data = NULL;
    mine->len = 0;
    if (len > 0) {
        mine->data = malloc(len);
        if (mine->data == NULL) {
            rc = wn_error_set(err, WN_ENOMEM, "%s: rank %u: out of memory in bootstrap %s",
                              rv->label, rank, kind_name(kind));
            goto out_unlock;
        }
        memcpy(mine->data, data, len);
        mine->len = len;
    }
    rv->arrived_rank[rank] = 1;
    if (++rv->arrived == rv->size) {
        rv->generation++;
        rv->arrived = 0;
        memset(rv->arrived_rank, 0, rv->size);
        pthread_cond_broadcast(&rv->cond);
    }
    while (rv->generation == h->round && !atomic_load(&rv->aborted)) {
        if (pthread_cond_timedwait(&rv->cond, &rv->mutex, &deadline) == ETIMEDOUT &&
            rv->generation == h->round && !atomic_load(&rv->aborted)) {
            char missing[128];
            uint32_t arrived = rv->arrived;

            missing_ranks(rv, missing, sizeof(missing));
            rc = wn_error_set(err, WN_ETIMEDOUT,
                              "%s: rank %u: bootstrap %s timed out after %.3g s waiting for "
                              "rank(s) %s (%u of %u arrived)",
                              rv->label, rank, kind_name(kind), timeout_s, missing, arrived,
                              rv->size);
            /* The group cannot complete this round: wake every other waiter
             * with the cause rather than let each one time out in turn. */
            abort_locked(rv, err != NULL ? err->message : "bootstrap timed out");
            goto out_unlock;
        }
    }
    if (rv->generation == h->round)
        goto out_aborted;
    h->round++;
    if (out != NULL && collect_locked(rv, parity, out) < 0)
        rc = wn_error_set(err, WN_ENOMEM, "%s: rank %u: out of memory collecting an allgather",
                          rv->label, rank);
    goto out_unlock;

out_aborted:
    rc = wn_error_set(err, WN_ECANCELED, "%s: rank %u: bootstrap %s aborted: %s", rv->label, rank,
                      kind_name(kind), rv->reason);
out_unlock:
    pthread_mutex_unlock(&rv->mutex);
    return rc;
}

static int inproc_allgather(struct wn_ucx_bootstrap *bs, const void *data, size_t len,
                            double timeout_s, struct wn_ucx_blobs **out, struct wn_error *err)
{
    return rendezvous_round((struct inproc_bootstrap *)bs, ROUND_ALLGATHER, data, len, timeout_s,
                            out, err);
}

static int inproc_barrier(struct wn_ucx_bootstrap *bs, double timeout_s, struct wn_error *err)
{
    return rendezvous_round((struct inproc_bootstrap *)bs, ROUND_BARRIER, NULL, 0, timeout_s, NULL,
                            err);
}

static void inproc_abort(struct wn_ucx_bootstrap *bs, const char *reason)
{
    wn_ucx_rendezvous_abort(((struct inproc_bootstrap *)bs)->rv, reason);
}

static int inproc_aborted(struct wn_ucx_bootstrap *bs, char *buf, size_t size)
{
    return wn_ucx_rendezvous_aborted(((struct inproc_bootstrap *)bs)->rv, buf, size);
}

static void inproc_close(struct wn_ucx_bootstrap *bs)
{
    struct inproc_bootstrap *h = (struct inproc_bootstrap *)bs;

    wn_ucx_rendezvous_unref(h->rv);
    free(h);
}

static const struct wn_ucx_bootstrap_ops inproc_ops = {
    .version = WN_UCX_BOOTSTRAP_OPS_VERSION,
    .allgather = inproc_allgather,
    .barrier = inproc_barrier,
    .abort = inproc_abort,
    .aborted = inproc_aborted,
    .close = inproc_close,
};

int wn_ucx_bootstrap_inproc_open(struct wn_ucx_rendezvous *rv, uint32_t rank,
                                 struct wn_ucx_bootstrap **out, struct wn_error *err)
{
    struct inproc_bootstrap *h;
    int rc = 0;

    *out = NULL;
    pthread_mutex_lock(&rv->mutex);
    if (rank >= rv->size) {
        rc = wn_error_set(err, WN_EINVAL, "%s: rank %u is out of range (the group has %u ranks)",
                          rv->label, rank, rv->size);
        goto out_unlock;
    }
    if (rv->opened[rank]) {
        rc = wn_error_set(err, WN_EINVAL, "%s: rank %u was already opened", rv->label, rank);
        goto out_unlock;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory opening rank %u", rv->label, rank);
        goto out_unlock;
    }
    h->base.ops = &inproc_ops;
    h->base.rank = rank;
    h->base.size = rv->size;
    h->rv = rv;
    h->round = rv->generation;
    rv->opened[rank] = 1;
    rv->refs++;
    *out = &h->base;
out_unlock:
    pthread_mutex_unlock(&rv->mutex);
    return rc;
}
