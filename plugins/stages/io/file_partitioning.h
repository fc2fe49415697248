/* file_partitioning: expands paths, directories and globs into FILES tasks. */
#ifndef WINNOW_STAGES_IO_FILE_PARTITIONING_H
#define WINNOW_STAGES_IO_FILE_PARTITIONING_H

#include <stdint.h>

#include <winnow/stage.h>

extern const struct wn_stage_desc io_file_partitioning_stage;

/*
 * Parses a byte size: a number (decimals allowed) with an optional unit, case
 * insensitive, as dask's parse_bytes: B, kB/MB/GB/TB/PB and k/m/g/t/p are
 * powers of 1000, KiB/MiB/GiB/TiB/PiB powers of 1024 ("64MiB", "1GB",
 * "1048576", "1.5 GB").  The result must be at least one byte.  Any thread.
 */
int io_parse_size(const char *text, uint64_t *bytes, struct wn_error *err);

#endif /* WINNOW_STAGES_IO_FILE_PARTITIONING_H */
