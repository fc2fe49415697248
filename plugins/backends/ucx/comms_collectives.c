/*
 * The collectives of the ucx comms provider, built from tagged messages
 * (wn_ucx_comms_transfer).  Host memory only.
 *
 * Algorithms, by size:
 *   allreduce       small: every rank sends its vector to every other and
 *                   reduces all of them in rank order; large: ring
 *                   reduce-scatter then ring allgather (each byte crosses
 *                   the wire about twice, whatever the rank count);
 *   reduce          small: gather to the root, reduced in rank order;
 *                   large: ring reduce-scatter, then blocks to the root;
 *   bcast           binomial tree from the root;
 *   allgather(v)    small: all to all; large: ring;
 *   reduce_scatter  small: each block straight to its rank; large: ring;
 *   barrier         dissemination (log2 N rounds of empty messages).
 * Every rank computes every reduced element in the same order, so all ranks
 * get bit-identical results, floats included.
 */
#include "build_config.h"

#include <stdlib.h>
#include <string.h>

#include <winnow/comms.h>

#include "comms_internal.h"

/* Messages up to these sizes go straight to every rank rather than round a ring. */
#define ALLREDUCE_DIRECT_MAX 65536u
#define GATHER_DIRECT_MAX 262144u
#define SCATTER_DIRECT_MAX 65536u

/* Start of block i when count elements are cut into size near-equal blocks. */
static size_t block_start(size_t count, uint32_t size, uint32_t i)
{
    size_t q = count / size, rem = count % size;

    return q * i + (i < rem ? i : rem);
}

/* Byte offsets and lengths of the size blocks of count elements of es bytes. */
static int make_blocks(struct wn_ucx_comms_rank *r, size_t count, size_t es, size_t **offsets,
                       size_t **lengths, struct wn_error *err)
{
    uint32_t size = r->comms.size;

    *offsets = malloc(size * sizeof(**offsets));
    *lengths = malloc(size * sizeof(**lengths));
    if (*offsets == NULL || *lengths == NULL) {
        free(*offsets);
        free(*lengths);
        *offsets = *lengths = NULL;
        return wn_ucx_comms_fail(r, err, WN_ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < size; i++) {
        (*offsets)[i] = block_start(count, size, i) * es;
        (*lengths)[i] = (block_start(count, size, i + 1) - block_start(count, size, i)) * es;
    }
    return 0;
}

/* Checks the arguments every call shares. */
static int check_args(struct wn_ucx_comms_rank *r, enum wn_comms_dtype dtype, int op_needed,
                      enum wn_comms_op op, enum wn_comms_memory memory, size_t count, size_t *bytes,
                      struct wn_error *err)
{
    size_t es = wn_comms_dtype_size(dtype);

    if (memory == WN_COMMS_DEVICE)
        return wn_ucx_comms_fail(r, err, WN_EUNSUPPORTED,
                                 "the ucx provider takes host memory only (memory = device): "
                                 "copy the data to the host, or use the nccl provider");
    if (memory != WN_COMMS_HOST)
        return wn_ucx_comms_fail(r, err, WN_EINVAL, "unknown memory type %d", (int)memory);
    if (es == 0)
        return wn_ucx_comms_fail(r, err, WN_EINVAL, "unknown dtype %d", (int)dtype);
    if (op_needed && !wn_ucx_comms_op_valid(op))
        return wn_ucx_comms_fail(r, err, WN_EINVAL, "unknown op %d", (int)op);
    if (count > SIZE_MAX / es / r->comms.size)
        return wn_ucx_comms_fail(r, err, WN_EINVAL, "count %zu is too large", count);
    *bytes = count * es;
    return 0;
}

static int check_rank(struct wn_ucx_comms_rank *r, const char *name, uint32_t v,
                      struct wn_error *err)
{
    if (v < r->comms.size)
        return 0;
    return wn_ucx_comms_fail(r, err, WN_EINVAL, "%s %u is not a rank of the group (size %u)", name,
                             v, r->comms.size);
}

static int check_buffer(struct wn_ucx_comms_rank *r, const char *name, const void *buf,
                        size_t bytes, struct wn_error *err)
{
    if (buf != NULL || bytes == 0)
        return 0;
    return wn_ucx_comms_fail(r, err, WN_EINVAL, "%s is NULL for %zu bytes", name, bytes);
}

static void set_msg(struct wn_ucx_msg *m, int is_recv, uint32_t peer, const void *buf, size_t bytes,
                    uint64_t tag)
{
    m->is_recv = is_recv;
    m->peer = peer;
    m->buf = (void *)buf;
    m->bytes = bytes;
    m->tag = tag;
}

/* One step with one receive and one send (either may be left out with peer == me). */
static int exchange_step(struct wn_ucx_comms_rank *r, uint32_t step, const void *send,
                         size_t send_bytes, uint32_t dest, void *recv, size_t recv_bytes,
                         uint32_t source, struct wn_error *err)
{
    uint32_t me = r->comms.rank;
    struct wn_ucx_msg msgs[2];
    size_t n = 0;

    if (source != me)
        set_msg(&msgs[n++], 1, source, recv, recv_bytes, wn_ucx_comms_tag(r, step, source));
    if (dest != me)
        set_msg(&msgs[n++], 0, dest, send, send_bytes, wn_ucx_comms_tag(r, step, me));
    return wn_ucx_comms_transfer(r, msgs, n, err);
}

/*
 * Ring reduce-scatter: src holds this rank's contribution, and afterwards
 * block me of work holds the reduction over every rank.  Only blocks this
 * rank reduces are written to work (work[b] = src[b] op received), so work
 * needs no copy of src first, and may be src itself.  tmp holds the largest
 * block.  Uses steps step0 .. step0 + size - 2.
 */
static int ring_reduce_scatter(struct wn_ucx_comms_rank *r, const char *src, char *work,
                               const size_t *offsets, const size_t *lengths, char *tmp,
                               enum wn_comms_dtype dtype, enum wn_comms_op op, uint32_t step0,
                               struct wn_error *err)
{
    uint32_t size = r->comms.size, me = r->comms.rank;
    uint32_t right = (me + 1) % size, left = (me + size - 1) % size;
    size_t es = wn_comms_dtype_size(dtype);
    int rc;

    for (uint32_t s = 0; s + 1 < size; s++) {
        uint32_t send_b = (uint32_t)((me + 2 * (size_t)size - 1 - s) % size);
        uint32_t recv_b = (uint32_t)((me + 2 * (size_t)size - 2 - s) % size);
        /* Step 0 sends this rank's own data; later steps what the step before reduced. */
        const char *send = (s == 0 ? src : work) + offsets[send_b];

        rc = exchange_step(r, step0 + s, send, lengths[send_b], right, tmp, lengths[recv_b], left,
                           err);
        if (rc < 0)
            return rc;
        wn_ucx_comms_reduce_to(dtype, op, work + offsets[recv_b], src + offsets[recv_b], tmp,
                               lengths[recv_b] / es);
    }
    return 0;
}

/* Ring allgather: block me of work is this rank's; afterwards every block is
 * there.  Uses steps step0 .. step0 + size - 2. */
static int ring_allgather(struct wn_ucx_comms_rank *r, char *work, const size_t *offsets,
                          const size_t *lengths, uint32_t step0, struct wn_error *err)
{
    uint32_t size = r->comms.size, me = r->comms.rank;
    uint32_t right = (me + 1) % size, left = (me + size - 1) % size;
    int rc;

    for (uint32_t s = 0; s + 1 < size; s++) {
        uint32_t send_b = (me + size - s) % size;
        uint32_t recv_b = (uint32_t)((me + 2 * (size_t)size - 1 - s) % size);

        rc = exchange_step(r, step0 + s, work + offsets[send_b], lengths[send_b], right,
                           work + offsets[recv_b], lengths[recv_b], left, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Byte offset and length of block p: from the arrays, or equal blocks of
 * block bytes when offsets is NULL. */
static size_t block_off(const size_t *offsets, size_t block, uint32_t p)
{
    return offsets ? offsets[p] : (size_t)p * block;
}

static size_t block_len(const size_t *lengths, size_t block, uint32_t p)
{
    return lengths ? lengths[p] : block;
}

/* All to all: block me of work goes to every rank, every other block comes
 * in (blocks from the arrays, or equal blocks of block bytes). */
static int direct_allgather(struct wn_ucx_comms_rank *r, char *work, const size_t *offsets,
                            const size_t *lengths, size_t block, uint32_t step,
                            struct wn_error *err)
{
    uint32_t size = r->comms.size, me = r->comms.rank;
    struct wn_ucx_msg *msgs;
    size_t n = 0;
    int rc;

    if (size == 1)
        return 0;
    msgs = malloc(2 * (size_t)size * sizeof(*msgs));
    if (msgs == NULL)
        return wn_ucx_comms_fail(r, err, WN_ENOMEM, "out of memory");
    for (uint32_t p = 0; p < size; p++) {
        if (p == me)
            continue;
        set_msg(&msgs[n++], 1, p, work + block_off(offsets, block, p), block_len(lengths, block, p),
                wn_ucx_comms_tag(r, step, p));
        set_msg(&msgs[n++], 0, p, work + block_off(offsets, block, me),
                block_len(lengths, block, me), wn_ucx_comms_tag(r, step, me));
    }
    rc = wn_ucx_comms_transfer(r, msgs, n, err);
    free(msgs);
    return rc;
}

/* ---- the methods ----------------------------------------------------------------- */

static int ucx_allreduce(struct wn_comms *comms, const void *sendbuf, void *recvbuf, size_t count,
                         enum wn_comms_dtype dtype, enum wn_comms_op op,
                         enum wn_comms_memory memory, struct wn_error *err)
{
    struct wn_ucx_comms_rank *r = wn_ucx_comms_rank_of(comms);
    uint32_t size = comms->size, me = comms->rank;
    size_t bytes, *offsets = NULL, *lengths = NULL;
    char *tmp;
    int rc;

    if ((rc = wn_ucx_comms_begin(r, "allreduce", err)) < 0 ||
        (rc = check_args(r, dtype, 1, op, memory, count, &bytes, err)) < 0 ||
        (rc = check_buffer(r, "sendbuf", sendbuf, bytes, err)) < 0 ||
        (rc = check_buffer(r, "recvbuf", recvbuf, bytes, err)) < 0)
        return rc;
    if (bytes == 0)
        return 0;
    if (size == 1 || bytes <= ALLREDUCE_DIRECT_MAX || count < size) {
        /* Every vector to every rank; each rank reduces them in rank order. */
        tmp = wn_ucx_comms_scratch(r, 0, bytes * size, err);
        if (tmp == NULL)
            return WN_ENOMEM;
        memcpy(tmp + (size_t)me * bytes, sendbuf, bytes);
        rc = direct_allgather(r, tmp, NULL, NULL, bytes, 0, err);
        if (rc < 0)
            return rc;
        for (uint32_t p = 1; p < size; p++)
            wn_ucx_comms_reduce(dtype, op, tmp, tmp + (size_t)p * bytes, count);
        memcpy(recvbuf, tmp, bytes);
        return 0;
    }
    /* Ring: reduce-scatter into recvbuf, then allgather the reduced blocks. */
    rc = make_blocks(r, count, wn_comms_dtype_size(dtype), &offsets, &lengths, err);
    if (rc < 0)
        return rc;
    tmp = wn_ucx_comms_scratch(r, 0, lengths[0], err); /* block 0 is the largest */
    if (tmp == NULL)
        rc = WN_ENOMEM;
    if (rc == 0)
        rc = ring_reduce_scatter(r, sendbuf, recvbuf, offsets, lengths, tmp, dtype, op, 0, err);
    if (rc == 0)
        rc = ring_allgather(r, recvbuf, offsets, lengths, size, err);
    free(offsets);
    free(lengths);
    return rc;
}

static int ucx_reduce(struct wn_comms *comms, const void *sendbuf, void *recvbuf, size_t count,
                      enum wn_comms_dtype dtype, enum wn_comms_op op, uint32_t root,
                      enum wn_comms_memory memory, struct wn_error *err)
{
    struct wn_ucx_comms_rank *r = wn_ucx_comms_rank_of(comms);
    uint32_t size = comms->size, me = comms->rank;
    size_t bytes, *offsets = NULL, *lengths = NULL;
    struct wn_ucx_msg *msgs = NULL;
    char *work, *tmp;
    size_t n = 0;
    int rc;

    if ((rc = wn_ucx_comms_begin(r, "reduce", err)) < 0 ||
        (rc = check_args(r, dtype, 1, op, memory, count, &bytes, err)) < 0 ||
        (rc = check_rank(r, "root", root, err)) < 0 ||
        (rc = check_buffer(r, "sendbuf", sendbuf, bytes, err)) < 0 ||
        (me == root && (rc = check_buffer(r, "recvbuf", recvbuf, bytes, err)) < 0))
        return rc;
    if (bytes == 0)
        return 0;
    if (size == 1) {
        memmove(recvbuf, sendbuf, bytes);
        return 0;
    }
    if (bytes <= ALLREDUCE_DIRECT_MAX || count < size) {
        /* Every vector to the root, reduced there in rank order. */
        if (me != root)
            return exchange_step(r, 0, sendbuf, bytes, root, NULL, 0, me, err);
        work = wn_ucx_comms_scratch(r, 0, bytes * size, err);
        msgs = malloc(size * sizeof(*msgs));
        if (work == NULL || msgs == NULL) {
            free(msgs);
            return work == NULL ? WN_ENOMEM : wn_ucx_comms_fail(r, err, WN_ENOMEM, "out of memory");
        }
        memcpy(work + (size_t)me * bytes, sendbuf, bytes);
        for (uint32_t p = 0; p < size; p++)
            if (p != me)
                set_msg(&msgs[n++], 1, p, work + (size_t)p * bytes, bytes,
                        wn_ucx_comms_tag(r, 0, p));
        rc = wn_ucx_comms_transfer(r, msgs, n, err);
        free(msgs);
        if (rc < 0)
            return rc;
        for (uint32_t p = 1; p < size; p++)
            wn_ucx_comms_reduce(dtype, op, work, work + (size_t)p * bytes, count);
        memcpy(recvbuf, work, bytes);
        return 0;
    }
    /* Ring reduce-scatter of a copy, then every reduced block to the root. */
    rc = make_blocks(r, count, wn_comms_dtype_size(dtype), &offsets, &lengths, err);
    if (rc < 0)
        return rc;
    work = wn_ucx_comms_scratch(r, 0, bytes, err);
    tmp = work ? wn_ucx_comms_scratch(r, 1, lengths[0], err) : NULL;
    if (tmp == NULL) {
        rc = WN_ENOMEM;
        goto out_free;
    }
    rc = ring_reduce_scatter(r, sendbuf, work, offsets, lengths, tmp, dtype, op, 0, err);
    if (rc < 0)
        goto out_free;
    if (me != root) {
        rc = exchange_step(r, size, work + offsets[me], lengths[me], root, NULL, 0, me, err);
        goto out_free;
    }
    msgs = malloc(size * sizeof(*msgs));
    if (msgs == NULL) {
        rc = wn_ucx_comms_fail(r, err, WN_ENOMEM, "out of memory");
        goto out_free;
    }
    for (uint32_t p = 0; p < size; p++)
        if (p != me)
            set_msg(&msgs[n++], 1, p, (char *)recvbuf + offsets[p], lengths[p],
                    wn_ucx_comms_tag(r, size, p));
    rc = wn_ucx_comms_transfer(r, msgs, n, err);
    if (rc == 0)
        memcpy((char *)recvbuf + offsets[me], work + offsets[me], lengths[me]);

out_free:
    free(msgs);
    free(offsets);
    free(lengths);
    return rc;
}

/* Binomial tree from the root: log2(size) rounds. */
static int ucx_bcast(struct wn_comms *comms, void *buf, size_t count, enum wn_comms_dtype dtype,
                     uint32_t root, enum wn_comms_memory memory, struct wn_error *err)
{
    struct wn_ucx_comms_rank *r = wn_ucx_comms_rank_of(comms);
    uint32_t size = comms->size, me = comms->rank;
    uint32_t vrank, mask = 1, step = 0;
    struct wn_ucx_msg msgs[32];
    size_t bytes, n = 0;
    int rc;

    if ((rc = wn_ucx_comms_begin(r, "bcast", err)) < 0 ||
        (rc = check_args(r, dtype, 0, WN_COMMS_SUM, memory, count, &bytes, err)) < 0 ||
        (rc = check_rank(r, "root", root, err)) < 0 ||
        (rc = check_buffer(r, "buf", buf, bytes, err)) < 0)
        return rc;
    if (bytes == 0 || size == 1)
        return 0;
    vrank = (me + size - root) % size;
    /* Receive from the parent: the rank that differs in the lowest set bit. */
    while (mask < size) {
        if (vrank & mask) {
            uint32_t parent = ((vrank - mask) + root) % size;

            set_msg(&msgs[0], 1, parent, buf, bytes, wn_ucx_comms_tag(r, step, parent));
            rc = wn_ucx_comms_transfer(r, msgs, 1, err);
            if (rc < 0)
                return rc;
            break;
        }
        mask <<= 1;
        step++;
    }
    /* Send to the children below that bit, all at once. */
    while (mask > 1) {
        mask >>= 1;
        step--;
        if (vrank + mask < size)
            set_msg(&msgs[n++], 0, (vrank + mask + root) % size, buf, bytes,
                    wn_ucx_comms_tag(r, step, me));
    }
    return n > 0 ? wn_ucx_comms_transfer(r, msgs, n, err) : 0;
}

/* Shared by allgather and allgatherv: work holds every block, this rank's in place. */
static int gather_blocks(struct wn_ucx_comms_rank *r, char *work, const size_t *offsets,
                         const size_t *lengths, struct wn_error *err)
{
    size_t total = 0;

    for (uint32_t p = 0; p < r->comms.size; p++)
        total += lengths[p];
    if (r->comms.size <= 2 || total <= GATHER_DIRECT_MAX)
        return direct_allgather(r, work, offsets, lengths, 0, 0, err);
    return ring_allgather(r, work, offsets, lengths, 0, err);
}

static int ucx_allgather(struct wn_comms *comms, const void *sendbuf, void *recvbuf,
                         size_t sendcount, enum wn_comms_dtype dtype, enum wn_comms_memory memory,
                         struct wn_error *err)
{
    struct wn_ucx_comms_rank *r = wn_ucx_comms_rank_of(comms);
    uint32_t size = comms->size, me = comms->rank;
    size_t bytes, *offsets = NULL, *lengths = NULL;
    int rc;

    if ((rc = wn_ucx_comms_begin(r, "allgather", err)) < 0 ||
        (rc = check_args(r, dtype, 0, WN_COMMS_SUM, memory, sendcount, &bytes, err)) < 0 ||
        (rc = check_buffer(r, "sendbuf", sendbuf, bytes, err)) < 0 ||
        (rc = check_buffer(r, "recvbuf", recvbuf, bytes, err)) < 0)
        return rc;
    if (bytes == 0)
        return 0;
    memmove((char *)recvbuf + (size_t)me * bytes, sendbuf, bytes);
    offsets = malloc(size * sizeof(*offsets));
    lengths = malloc(size * sizeof(*lengths));
    if (offsets == NULL || lengths == NULL) {
        rc = wn_ucx_comms_fail(r, err, WN_ENOMEM, "out of memory");
        goto out_free;
    }
    for (uint32_t p = 0; p < size; p++) {
        offsets[p] = (size_t)p * bytes;
        lengths[p] = bytes;
    }
    rc = gather_blocks(r, recvbuf, offsets, lengths, err);

out_free:
    free(offsets);
    free(lengths);
    return rc;
}

static int ucx_allgatherv(struct wn_comms *comms, const void *sendbuf, void *recvbuf,
                          const size_t *recvcounts, const size_t *displs, enum wn_comms_dtype dtype,
                          enum wn_comms_memory memory, struct wn_error *err)
{
    struct wn_ucx_comms_rank *r = wn_ucx_comms_rank_of(comms);
    uint32_t size = comms->size, me = comms->rank;
    size_t es = wn_comms_dtype_size(dtype), bytes, *offsets = NULL, *lengths = NULL;
    int rc;

    if ((rc = wn_ucx_comms_begin(r, "allgatherv", err)) < 0 ||
        (rc = check_args(r, dtype, 0, WN_COMMS_SUM, memory, 0, &bytes, err)) < 0)
        return rc;
    if (recvcounts == NULL || displs == NULL)
        return wn_ucx_comms_fail(r, err, WN_EINVAL, "recvcounts and displs are required");
    offsets = malloc(size * sizeof(*offsets));
    lengths = malloc(size * sizeof(*lengths));
    if (offsets == NULL || lengths == NULL) {
        rc = wn_ucx_comms_fail(r, err, WN_ENOMEM, "out of memory");
        goto out_free;
    }
    for (uint32_t p = 0; p < size; p++) {
        if (recvcounts[p] > SIZE_MAX / es || displs[p] > SIZE_MAX / es - recvcounts[p]) {
            rc = wn_ucx_comms_fail(r, err, WN_EINVAL, "recvcounts[%u] or displs[%u] is too large",
                                   p, p);
            goto out_free;
        }
        offsets[p] = displs[p] * es;
        lengths[p] = recvcounts[p] * es;
    }
    if ((rc = check_buffer(r, "sendbuf", sendbuf, lengths[me], err)) < 0 ||
        (rc = check_buffer(r, "recvbuf", recvbuf, lengths[me], err)) < 0)
        goto out_free;
    if (lengths[me] > 0)
        memmove((char *)recvbuf + offsets[me], sendbuf, lengths[me]);
    rc = gather_blocks(r, recvbuf, offsets, lengths, err);

out_free:
    free(offsets);
    free(lengths);
    return rc;
}

static int ucx_reduce_scatter(struct wn_comms *comms, const void *sendbuf, void *recvbuf,
                              size_t recvcount, enum wn_comms_dtype dtype, enum wn_comms_op op,
                              enum wn_comms_memory memory, struct wn_error *err)
{
    struct wn_ucx_comms_rank *r = wn_ucx_comms_rank_of(comms);
    uint32_t size = comms->size, me = comms->rank;
    size_t bytes, *offsets = NULL, *lengths = NULL;
    struct wn_ucx_msg *msgs = NULL;
    char *work, *tmp;
    size_t n = 0;
    int rc;

    if ((rc = wn_ucx_comms_begin(r, "reduce_scatter", err)) < 0 ||
        (rc = check_args(r, dtype, 1, op, memory, recvcount, &bytes, err)) < 0 ||
        (rc = check_buffer(r, "sendbuf", sendbuf, bytes, err)) < 0 ||
        (rc = check_buffer(r, "recvbuf", recvbuf, bytes, err)) < 0)
        return rc;
    if (bytes == 0)
        return 0;
    if (size == 1) {
        memmove(recvbuf, sendbuf, bytes);
        return 0;
    }
    if (bytes * size <= SCATTER_DIRECT_MAX) {
        /* Block p straight to rank p; each rank reduces its block in rank order. */
        work = wn_ucx_comms_scratch(r, 0, bytes * size, err);
        msgs = malloc(2 * (size_t)size * sizeof(*msgs));
        if (work == NULL || msgs == NULL) {
            free(msgs);
            return work == NULL ? WN_ENOMEM : wn_ucx_comms_fail(r, err, WN_ENOMEM, "out of memory");
        }
        memcpy(work + (size_t)me * bytes, (const char *)sendbuf + (size_t)me * bytes, bytes);
        for (uint32_t p = 0; p < size; p++) {
            if (p == me)
                continue;
            set_msg(&msgs[n++], 1, p, work + (size_t)p * bytes, bytes, wn_ucx_comms_tag(r, 0, p));
            set_msg(&msgs[n++], 0, p, (const char *)sendbuf + (size_t)p * bytes, bytes,
                    wn_ucx_comms_tag(r, 0, me));
        }
        rc = wn_ucx_comms_transfer(r, msgs, n, err);
        free(msgs);
        if (rc < 0)
            return rc;
        for (uint32_t p = 1; p < size; p++)
            wn_ucx_comms_reduce(dtype, op, work, work + (size_t)p * bytes, recvcount);
        memcpy(recvbuf, work, bytes);
        return 0;
    }
    /* Ring reduce-scatter of a copy: block me ends reduced here. */
    offsets = malloc(size * sizeof(*offsets));
    lengths = malloc(size * sizeof(*lengths));
    work = wn_ucx_comms_scratch(r, 0, bytes * size, err);
    tmp = work ? wn_ucx_comms_scratch(r, 1, bytes, err) : NULL;
    if (offsets == NULL || lengths == NULL || tmp == NULL) {
        rc = tmp == NULL ? WN_ENOMEM : wn_ucx_comms_fail(r, err, WN_ENOMEM, "out of memory");
        goto out_free;
    }
    for (uint32_t p = 0; p < size; p++) {
        offsets[p] = (size_t)p * bytes;
        lengths[p] = bytes;
    }
    rc = ring_reduce_scatter(r, sendbuf, work, offsets, lengths, tmp, dtype, op, 0, err);
    if (rc == 0)
        memmove(recvbuf, work + (size_t)me * bytes, bytes);

out_free:
    free(offsets);
    free(lengths);
    return rc;
}

/* Point to point, matched by per-pair sequence numbers. */
static int p2p(struct wn_ucx_comms_rank *r, const void *sendbuf, size_t send_bytes, int to_dest,
               uint32_t dest, void *recvbuf, size_t recv_bytes, int from_source, uint32_t source,
               struct wn_error *err)
{
    uint32_t me = r->comms.rank;
    struct wn_ucx_msg msgs[2];
    size_t n = 0;

    if ((to_dest && dest == me) != (from_source && source == me) || (!to_dest && !from_source))
        return wn_ucx_comms_fail(r, err, WN_EINVAL,
                                 "a rank sends to itself only in a sendrecv that also receives "
                                 "from itself");
    if (to_dest && dest == me) {
        if (send_bytes != recv_bytes)
            return wn_ucx_comms_fail(r, err, WN_EINVAL,
                                     "sendrecv to itself with %zu bytes out and %zu in", send_bytes,
                                     recv_bytes);
        if (send_bytes > 0)
            memmove(recvbuf, sendbuf, send_bytes);
        return 0;
    }
    if (from_source)
        set_msg(&msgs[n++], 1, source, recvbuf, recv_bytes,
                wn_ucx_comms_p2p_tag(r->recv_seq[source]++, source));
    if (to_dest)
        set_msg(&msgs[n++], 0, dest, sendbuf, send_bytes,
                wn_ucx_comms_p2p_tag(r->send_seq[dest]++, me));
    return wn_ucx_comms_transfer(r, msgs, n, err);
}

static int ucx_send(struct wn_comms *comms, const void *buf, size_t count,
                    enum wn_comms_dtype dtype, uint32_t peer, enum wn_comms_memory memory,
                    struct wn_error *err)
{
    struct wn_ucx_comms_rank *r = wn_ucx_comms_rank_of(comms);
    size_t bytes;
    int rc;

    if ((rc = wn_ucx_comms_begin(r, "send", err)) < 0 ||
        (rc = check_args(r, dtype, 0, WN_COMMS_SUM, memory, count, &bytes, err)) < 0 ||
        (rc = check_rank(r, "peer", peer, err)) < 0 ||
        (rc = check_buffer(r, "buf", buf, bytes, err)) < 0)
        return rc;
    return p2p(r, buf, bytes, 1, peer, NULL, 0, 0, 0, err);
}

static int ucx_recv(struct wn_comms *comms, void *buf, size_t count, enum wn_comms_dtype dtype,
                    uint32_t peer, enum wn_comms_memory memory, struct wn_error *err)
{
    struct wn_ucx_comms_rank *r = wn_ucx_comms_rank_of(comms);
    size_t bytes;
    int rc;

    if ((rc = wn_ucx_comms_begin(r, "recv", err)) < 0 ||
        (rc = check_args(r, dtype, 0, WN_COMMS_SUM, memory, count, &bytes, err)) < 0 ||
        (rc = check_rank(r, "peer", peer, err)) < 0 ||
        (rc = check_buffer(r, "buf", buf, bytes, err)) < 0)
        return rc;
    return p2p(r, NULL, 0, 0, 0, buf, bytes, 1, peer, err);
}

static int ucx_sendrecv(struct wn_comms *comms, const void *sendbuf, size_t sendcount,
                        uint32_t dest, void *recvbuf, size_t recvcount, uint32_t source,
                        enum wn_comms_dtype dtype, enum wn_comms_memory memory,
                        struct wn_error *err)
{
    struct wn_ucx_comms_rank *r = wn_ucx_comms_rank_of(comms);
    size_t send_bytes, recv_bytes;
    int rc;

    if ((rc = wn_ucx_comms_begin(r, "sendrecv", err)) < 0 ||
        (rc = check_args(r, dtype, 0, WN_COMMS_SUM, memory, sendcount, &send_bytes, err)) < 0 ||
        (rc = check_args(r, dtype, 0, WN_COMMS_SUM, memory, recvcount, &recv_bytes, err)) < 0 ||
        (rc = check_rank(r, "dest", dest, err)) < 0 ||
        (rc = check_rank(r, "source", source, err)) < 0 ||
        (rc = check_buffer(r, "sendbuf", sendbuf, send_bytes, err)) < 0 ||
        (rc = check_buffer(r, "recvbuf", recvbuf, recv_bytes, err)) < 0)
        return rc;
    return p2p(r, sendbuf, send_bytes, 1, dest, recvbuf, recv_bytes, 1, source, err);
}

/* Dissemination: in round k each rank signals rank + 2^k and waits for rank - 2^k. */
static int ucx_barrier(struct wn_comms *comms, struct wn_error *err)
{
    struct wn_ucx_comms_rank *r = wn_ucx_comms_rank_of(comms);
    uint32_t size = comms->size, me = comms->rank;
    int rc;

    if ((rc = wn_ucx_comms_begin(r, "barrier", err)) < 0)
        return rc;
    for (uint32_t k = 0, dist = 1; dist < size; k++, dist <<= 1) {
        rc = exchange_step(r, k, NULL, 0, (me + dist) % size, NULL, 0, (me + size - dist) % size,
                           err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void wn_ucx_comms_fill_table(struct wn_ucx_comms_rank *r)
{
    struct wn_comms *c = &r->comms;

    c->version = WN_COMMS_VERSION;
    c->struct_size = sizeof(*c);
    c->provider = "ucx";
    c->impl = r;
    c->allreduce = ucx_allreduce;
    c->bcast = ucx_bcast;
    c->reduce = ucx_reduce;
    c->allgather = ucx_allgather;
    c->allgatherv = ucx_allgatherv;
    c->reduce_scatter = ucx_reduce_scatter;
    c->send = ucx_send;
    c->recv = ucx_recv;
    c->sendrecv = ucx_sendrecv;
    c->barrier = ucx_barrier;
}
