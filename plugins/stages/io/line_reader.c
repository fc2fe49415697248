/*
 * Streaming line reader: reads a file in chunks into one buffer that is
 * reused for every line, so that a file of any size is read in bounded memory
 * (the longest line plus a chunk) and a line costs no allocation.  Files whose
 * name ends in ".zst" go through a ZSTD_DStream (concatenated frames allowed).
 */
#include "build_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

#include "line_reader.h"

#define IO_READ_CHUNK ((size_t)1 << 20)

struct io_line_reader {
    char *path;
    int fd;
    size_t max_line;
    char *buf;
    size_t capacity;
    size_t start;         /* first byte of the pending line */
    size_t scan;          /* where to look for the next '\n' (start <= scan <= end) */
    size_t end;           /* end of the data in buf */
    uint64_t line_number; /* lines returned so far */
    int eof;              /* the source has no more bytes */
    int skipping;         /* discarding the rest of a line over max_line */
#ifdef HAVE_ZSTD
    ZSTD_DStream *zstd;
    unsigned char *zin;
    size_t zin_capacity;
    ZSTD_inBuffer zin_buf;
    size_t zstd_pending; /* last ZSTD_decompressStream result: 0 at a frame boundary */
    int zin_eof;
#endif
};

static int ends_with(const char *s, const char *suffix)
{
    size_t len = strlen(s), n = strlen(suffix);

    return len >= n && strcmp(s + len - n, suffix) == 0;
}

int io_line_reader_open(struct io_line_reader **out, const char *path, size_t max_line_bytes,
                        struct wn_error *err)
{
    struct io_line_reader *reader;
    int compressed = ends_with(path, ".zst");
    int rc;

    *out = NULL;
#ifndef HAVE_ZSTD
    if (compressed)
        return wn_error_set(err, WN_EUNSUPPORTED,
                            "%s: this winnow was built without zstd and cannot read .zst "
                            "files (install libzstd-dev and rebuild)",
                            path);
#endif
    reader = calloc(1, sizeof(*reader));
    if (reader == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory opening %s", path);
    reader->fd = -1;
    reader->max_line = max_line_bytes;
    reader->path = strdup(path);
    reader->capacity = IO_READ_CHUNK;
    reader->buf = malloc(reader->capacity);
    if (reader->path == NULL || reader->buf == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "out of memory opening %s", path);
        goto out_close;
    }
    reader->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (reader->fd < 0) {
        rc = wn_error_set(err, errno == ENOENT ? WN_ENOTFOUND : WN_EIO, "cannot open %s: %s", path,
                          strerror(errno));
        goto out_close;
    }
#ifdef POSIX_FADV_SEQUENTIAL
    (void)posix_fadvise(reader->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
#ifdef HAVE_ZSTD
    if (compressed) {
        size_t zrc;

        reader->zstd = ZSTD_createDStream();
        reader->zin_capacity = ZSTD_DStreamInSize();
        reader->zin = malloc(reader->zin_capacity);
        if (reader->zstd == NULL || reader->zin == NULL) {
            rc = wn_error_set(err, WN_ENOMEM, "out of memory opening %s", path);
            goto out_close;
        }
        zrc = ZSTD_initDStream(reader->zstd);
        if (ZSTD_isError(zrc)) {
            rc = wn_error_set(err, WN_EIO, "%s: cannot start zstd decompression: %s", path,
                              ZSTD_getErrorName(zrc));
            goto out_close;
        }
    }
#endif
    *out = reader;
    return 0;

out_close:
    io_line_reader_close(reader);
    return rc;
}

void io_line_reader_close(struct io_line_reader *reader)
{
    if (reader == NULL)
        return;
    if (reader->fd >= 0)
        close(reader->fd);
#ifdef HAVE_ZSTD
    ZSTD_freeDStream(reader->zstd);
    free(reader->zin);
#endif
    free(reader->buf);
    free(reader->path);
    free(reader);
}

/* read(2) that retries on EINTR. */
static ssize_t read_some(int fd, void *dst, size_t size)
{
    ssize_t n;

    do {
        n = read(fd, dst, size);
    } while (n < 0 && errno == EINTR);
    return n;
}

#ifdef HAVE_ZSTD
/* Decompresses into dst: bytes produced, 0 at the end of the input, or a negative code. */
static ssize_t fill_zstd(struct io_line_reader *r, char *dst, size_t size, struct wn_error *err)
{
    ZSTD_outBuffer zout = { dst, size, 0 };

    for (;;) {
        size_t zrc;

        if (r->zin_buf.pos == r->zin_buf.size && !r->zin_eof) {
            ssize_t n = read_some(r->fd, r->zin, r->zin_capacity);

            if (n < 0)
                return wn_error_set(err, WN_EIO, "cannot read %s: %s", r->path, strerror(errno));
            if (n == 0) {
                r->zin_eof = 1;
            } else {
                r->zin_buf.src = r->zin;
                r->zin_buf.size = (size_t)n;
                r->zin_buf.pos = 0;
            }
        }
        if (r->zin_buf.pos == r->zin_buf.size && r->zin_eof && r->zstd_pending == 0)
            return 0;
        zrc = ZSTD_decompressStream(r->zstd, &zout, &r->zin_buf);
        if (ZSTD_isError(zrc))
            return wn_error_set(err, WN_EDATA, "%s: corrupt zstd data: %s", r->path,
                                ZSTD_getErrorName(zrc));
        r->zstd_pending = zrc;
        if (zout.pos > 0)
            return (ssize_t)zout.pos;
        if (r->zin_buf.pos == r->zin_buf.size && r->zin_eof) {
            if (zrc != 0)
                return wn_error_set(err, WN_EDATA,
                                    "%s: truncated zstd data (the file ends "
                                    "inside a frame)",
                                    r->path);
            return 0;
        }
    }
}
#endif

/* Reads more bytes into buf[end..capacity): bytes read, 0 at the end, or a negative code. */
static ssize_t fill(struct io_line_reader *r, struct wn_error *err)
{
    char *dst = r->buf + r->end;
    size_t size = r->capacity - r->end;
    ssize_t n;

#ifdef HAVE_ZSTD
    if (r->zstd != NULL)
        return fill_zstd(r, dst, size, err);
#endif
    n = read_some(r->fd, dst, size);
    if (n < 0)
        return wn_error_set(err, WN_EIO, "cannot read %s: %s", r->path, strerror(errno));
    return n;
}

/* Makes room at the end of the buffer: drops consumed bytes, grows when full. */
static int make_room(struct io_line_reader *r, struct wn_error *err)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->scan -= r->start;
        r->start = 0;
    }
    if (r->end == r->capacity) {
        size_t capacity = r->capacity * 2;
        char *buf = realloc(r->buf, capacity);

        if (buf == NULL)
            return wn_error_set(err, WN_ENOMEM, "%s: out of memory for a line of over %zu bytes",
                                r->path, r->end);
        r->buf = buf;
        r->capacity = capacity;
    }
    return 0;
}

int io_line_reader_next(struct io_line_reader *r, const char **line, size_t *len,
                        uint64_t *line_number, struct wn_error *err)
{
    for (;;) {
        char *nl = r->scan < r->end ? memchr(r->buf + r->scan, '\n', r->end - r->scan) : NULL;
        ssize_t n;
        int rc;

        if (nl != NULL) {
            size_t line_end = (size_t)(nl - r->buf);
            int too_long = r->skipping || line_end - r->start > r->max_line;

            *line = r->buf + r->start;
            *len = line_end - r->start;
            *line_number = ++r->line_number;
            r->start = r->scan = line_end + 1;
            r->skipping = 0;
            return too_long ? IO_LINE_TOO_LONG : IO_LINE_OK;
        }
        r->scan = r->end;
        if (r->skipping || r->end - r->start > r->max_line) {
            /* Over the limit: forget what we have and look for the newline. */
            r->skipping = 1;
            r->start = r->scan = r->end = 0;
        }
        if (r->eof) {
            if (r->skipping) {
                r->skipping = 0;
                *line = r->buf;
                *len = 0;
                *line_number = ++r->line_number;
                return IO_LINE_TOO_LONG;
            }
            if (r->start < r->end) {
                *line = r->buf + r->start;
                *len = r->end - r->start;
                *line_number = ++r->line_number;
                r->start = r->scan = r->end;
                return IO_LINE_OK;
            }
            return IO_LINE_EOF;
        }
        rc = make_room(r, err);
        if (rc < 0)
            return rc;
        n = fill(r, err);
        if (n < 0)
            return (int)n;
        if (n == 0)
            r->eof = 1;
        r->end += (size_t)n;
    }
}
