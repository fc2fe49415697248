/* The io plugin: file_partitioning, jsonl_reader and jsonl_writer. */
#include "build_config.h"

#include <stddef.h>

#include <winnow/plugin.h>

#include "file_partitioning.h"
#include "jsonl_reader.h"
#include "jsonl_writer.h"

static const struct wn_stage_desc *const io_stages[] = {
    &io_file_partitioning_stage,
    &io_jsonl_reader_stage,
    &io_jsonl_writer_stage,
    NULL,
};

static const struct wn_plugin io_plugin = {
    WN_PLUGIN_HEADER, "io", PACKAGE_VERSION, "MIT", "file listing and JSON Lines input and output",
    io_stages,        NULL, { NULL },
};

WN_PLUGIN_DEFINE(&io_plugin)
