/* Streaming line reader over plain and zstd-compressed files, for jsonl_reader. */
#ifndef WINNOW_STAGES_IO_LINE_READER_H
#define WINNOW_STAGES_IO_LINE_READER_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>

/* What io_line_reader_next() found. */
enum io_line_status {
    IO_LINE_EOF = 0,     /* no more lines */
    IO_LINE_OK = 1,      /* *line, *len hold the next line, without its '\n' */
    IO_LINE_TOO_LONG = 2 /* the line exceeded max_line_bytes; it has been skipped */
};

struct io_line_reader;

/*
 * Opens path for reading lines of at most max_line_bytes bytes (newline not
 * counted).  A name ending in ".zst" is decompressed on the fly (libzstd
 * streaming); in a build without zstd it is refused with WN_EUNSUPPORTED.
 * A missing file is WN_ENOTFOUND, another open failure WN_EIO; messages name
 * the file and say why (strerror).  One thread at a time per reader.
 */
int io_line_reader_open(struct io_line_reader **out, const char *path, size_t max_line_bytes,
                        struct wn_error *err);

/*
 * Reads the next line.  Returns an enum io_line_status or a negative code
 * (read or decompression error, naming the file).  *line points into the
 * reader's buffer and stays valid until the next call; *line_number is the
 * 1-based number of the line returned (also for IO_LINE_TOO_LONG).  A last
 * line without a final newline is returned like any other.
 */
int io_line_reader_next(struct io_line_reader *reader, const char **line, size_t *len,
                        uint64_t *line_number, struct wn_error *err);

/* Closes the file and frees the reader.  NULL is fine. */
void io_line_reader_close(struct io_line_reader *reader);

#endif /* WINNOW_STAGES_IO_LINE_READER_H */
