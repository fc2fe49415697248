/* wn_ucx_store_*: a rank's received partitions, in memory up to a limit,
 * spilled to an unlinked file past it. */
#include "build_config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "shuffle_format.h"
#include "shuffle_pool.h"
#include "shuffle_store.h"

struct chunk {
    void *data;
    size_t len, cap; /* cap: data's capacity, for the pool */
    uint32_t refs;   /* segments still pointing into data */
};

struct segment {
    struct chunk *chunk; /* NULL once spilled */
    size_t offset;       /* into chunk->data, or into the spill file */
    size_t len;
    uint32_t src, seq, index; /* the extraction order */
};

struct partition {
    struct segment *segs;
    size_t n, cap;
    int extracted;
};

struct wn_ucx_store {
    pthread_mutex_t mutex;
    char label[160];
    uint32_t rank, num_ranks, num_partitions;
    uint64_t memory_limit;
    char *spill_dir;
    int spill_fd; /* -1 until the first spill */
    uint64_t spill_end;
    struct partition *parts; /* owned partitions: p = rank + k * num_ranks */
    size_t n_parts;
    struct wn_ucx_store_stats stats;
};

int wn_ucx_store_new(const char *label, uint32_t rank, uint32_t num_ranks, uint32_t num_partitions,
                     uint64_t memory_limit, const char *spill_dir, struct wn_ucx_store **out,
                     struct wn_error *err)
{
    struct wn_ucx_store *store = calloc(1, sizeof(*store));

    *out = NULL;
    if (store == NULL)
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory for the partition store", label);
    pthread_mutex_init(&store->mutex, NULL);
    snprintf(store->label, sizeof(store->label), "%s", label);
    store->rank = rank;
    store->num_ranks = num_ranks;
    store->num_partitions = num_partitions;
    store->memory_limit = memory_limit;
    store->spill_fd = -1;
    store->n_parts = rank < num_partitions ? (num_partitions - rank - 1) / num_ranks + 1 : 0;
    store->parts = calloc(store->n_parts ? store->n_parts : 1, sizeof(*store->parts));
    store->spill_dir = strdup(spill_dir);
    if (store->parts == NULL || store->spill_dir == NULL) {
        wn_ucx_store_free(store);
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory for the partition store", label);
    }
    *out = store;
    return 0;
}

static void chunk_unref(struct wn_ucx_store *store, struct chunk *chunk)
{
    if (--chunk->refs > 0)
        return;
    store->stats.memory_bytes -= chunk->len;
    wn_ucx_pool_put(chunk->data, chunk->cap);
    free(chunk);
}

void wn_ucx_store_free(struct wn_ucx_store *store)
{
    if (store == NULL)
        return;
    for (size_t i = 0; i < store->n_parts; i++) {
        struct partition *part = &store->parts[i];

        for (size_t j = 0; j < part->n; j++)
            if (part->segs[j].chunk != NULL)
                chunk_unref(store, part->segs[j].chunk);
        free(part->segs);
    }
    free(store->parts);
    if (store->spill_fd >= 0)
        close(store->spill_fd);
    free(store->spill_dir);
    pthread_mutex_destroy(&store->mutex);
    free(store);
}

static int write_all(int fd, const void *data, size_t len, uint64_t offset)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)offset);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

static int read_all(int fd, void *data, size_t len, uint64_t offset)
{
    char *p = data;

    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)offset);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

/* Creates the spill file and unlinks it at once: it lives as long as the fd. */
static int spill_open(struct wn_ucx_store *store, struct wn_error *err)
{
    size_t len = strlen(store->spill_dir) + 32;
    char *path = malloc(len);
    int rc = 0;

    if (path == NULL)
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory", store->label);
    snprintf(path, len, "%s/rank%u.XXXXXX", store->spill_dir, store->rank);
    store->spill_fd = mkstemp(path);
    if (store->spill_fd < 0)
        rc = wn_error_set(err, WN_EIO, "%s: cannot create a spill file in %s: %s", store->label,
                          store->spill_dir, strerror(errno));
    else
        unlink(path);
    free(path);
    return rc;
}

static struct partition *owned_partition(struct wn_ucx_store *store, uint32_t p)
{
    if (p >= store->num_partitions || p % store->num_ranks != store->rank)
        return NULL;
    return &store->parts[p / store->num_ranks];
}

static int partition_push(struct partition *part, const struct segment *seg)
{
    if (part->n == part->cap) {
        size_t cap = part->cap ? part->cap * 2 : 8;
        struct segment *segs = realloc(part->segs, cap * sizeof(*segs));

        if (segs == NULL)
            return WN_ENOMEM;
        part->segs = segs;
        part->cap = cap;
    }
    part->segs[part->n++] = *seg;
    return 0;
}

int wn_ucx_store_add(struct wn_ucx_store *store, void *data, size_t len, size_t cap, uint32_t src,
                     uint32_t seq, struct wn_error *err)
{
    struct chunk *chunk = calloc(1, sizeof(*chunk));
    size_t off = 0;
    uint32_t index = 0;
    int spill;
    int rc = 0;
    char what[256];

    if (chunk == NULL) {
        wn_ucx_pool_put(data, cap);
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory storing a chunk", store->label);
    }
    chunk->data = data;
    chunk->len = len;
    chunk->cap = cap;
    chunk->refs = 1; /* ours, dropped at the end */
    snprintf(what, sizeof(what), "%s: chunk %u from rank %u", store->label, seq, src);
    pthread_mutex_lock(&store->mutex);
    store->stats.chunks++;
    store->stats.memory_bytes += len;
    spill = store->stats.memory_bytes > store->memory_limit;
    if (!spill && store->stats.memory_bytes > store->stats.memory_peak)
        store->stats.memory_peak = store->stats.memory_bytes;
    if (spill && store->spill_fd < 0 && (rc = spill_open(store, err)) < 0)
        goto out_unref;
    while (off < len) {
        struct wn_ucx_segment_header header;
        struct partition *part;
        struct segment seg;

        rc = wn_ucx_segment_peek((const char *)data + off, len - off, &header, what, err);
        if (rc < 0)
            goto out_unref;
        part = owned_partition(store, header.partition);
        if (part == NULL) {
            rc = wn_error_set(err, WN_EDATA,
                              "%s: holds rows of partition %u, which rank %u does "
                              "not own (%u partitions, %u ranks)",
                              what, header.partition, store->rank, store->num_partitions,
                              store->num_ranks);
            goto out_unref;
        }
        if (part->extracted) {
            rc = wn_error_set(err, WN_EINVAL,
                              "%s: rows for partition %u arrived after it was "
                              "extracted",
                              what, header.partition);
            goto out_unref;
        }
        seg.src = src;
        seg.seq = seq;
        seg.index = index++;
        seg.len = (size_t)header.length;
        if (spill) {
            if (write_all(store->spill_fd, (const char *)data + off, seg.len, store->spill_end) <
                0) {
                rc = wn_error_set(err, WN_EIO,
                                  "%s: writing %zu bytes to the spill file in %s "
                                  "failed: %s",
                                  what, seg.len, store->spill_dir, strerror(errno));
                goto out_unref;
            }
            seg.chunk = NULL;
            seg.offset = (size_t)store->spill_end;
            store->spill_end += seg.len;
            store->stats.spilled_bytes += seg.len;
            store->stats.spilled_segments++;
        } else {
            seg.chunk = chunk;
            seg.offset = off;
        }
        if (partition_push(part, &seg) < 0) {
            rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", what);
            goto out_unref;
        }
        if (!spill)
            chunk->refs++;
        off += seg.len;
    }
out_unref:
    chunk_unref(store, chunk);
    pthread_mutex_unlock(&store->mutex);
    return rc;
}

static int segment_order(const void *a, const void *b)
{
    const struct segment *x = a, *y = b;

    if (x->src != y->src)
        return x->src < y->src ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return 0;
}

int wn_ucx_store_extract(struct wn_ucx_store *store, uint32_t p, struct wn_table *out,
                         struct wn_error *err)
{
    struct wn_ucx_segment_ref *refs = NULL;
    struct partition *part;
    char *spilled = NULL;
    size_t spilled_len = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&store->mutex);
    part = owned_partition(store, p);
    if (part == NULL) {
        rc = wn_error_set(err, WN_EINVAL,
                          "%s: partition %u is not owned by rank %u (%u "
                          "partitions over %u ranks: rank %u owns it)",
                          store->label, p, store->rank, store->num_partitions, store->num_ranks,
                          p < store->num_partitions ? p % store->num_ranks : 0);
        goto out_unlock;
    }
    if (part->extracted) {
        rc =
            wn_error_set(err, WN_EINVAL, "%s: partition %u was already extracted", store->label, p);
        goto out_unlock;
    }
    if (part->n > 1)
        qsort(part->segs, part->n, sizeof(*part->segs), segment_order);
    refs = calloc(part->n ? part->n : 1, sizeof(*refs));
    for (size_t i = 0; i < part->n; i++)
        if (part->segs[i].chunk == NULL)
            spilled_len += part->segs[i].len;
    if (spilled_len > 0)
        spilled = wn_ucx_alloc(spilled_len);
    if (refs == NULL || (spilled_len > 0 && spilled == NULL)) {
        rc = wn_error_set(err, WN_ENOMEM,
                          "%s: out of memory extracting partition %u (%zu "
                          "spilled bytes)",
                          store->label, p, spilled_len);
        goto out_free;
    }
    spilled_len = 0;
    for (size_t i = 0; i < part->n; i++) {
        struct segment *seg = &part->segs[i];

        if (seg->chunk != NULL) {
            refs[i].data = (const char *)seg->chunk->data + seg->offset;
        } else {
            errno = 0;
            if (read_all(store->spill_fd, spilled + spilled_len, seg->len, seg->offset) < 0) {
                rc = wn_error_set(err, WN_EIO,
                                  "%s: reading partition %u back from the spill "
                                  "file failed: %s",
                                  store->label, p, errno ? strerror(errno) : "file cut short");
                goto out_free;
            }
            refs[i].data = spilled + spilled_len;
            spilled_len += seg->len;
        }
        refs[i].len = seg->len;
    }
    rc = wn_ucx_segments_to_table(refs, part->n, out, err);
    if (rc < 0) {
        wn_error_prefix(err, "%s: partition %u", store->label, p);
        goto out_free;
    }
    part->extracted = 1;
    for (size_t i = 0; i < part->n; i++)
        if (part->segs[i].chunk != NULL)
            chunk_unref(store, part->segs[i].chunk);
    free(part->segs);
    part->segs = NULL;
    part->n = part->cap = 0;
out_free:
    free(spilled);
    free(refs);
out_unlock:
    pthread_mutex_unlock(&store->mutex);
    return rc;
}

void wn_ucx_store_stats(struct wn_ucx_store *store, struct wn_ucx_store_stats *stats)
{
    pthread_mutex_lock(&store->mutex);
    *stats = store->stats;
    pthread_mutex_unlock(&store->mutex);
}
