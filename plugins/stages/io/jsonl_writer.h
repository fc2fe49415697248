/* jsonl_writer: a TABLE task into one JSON Lines file (plain or .zst). */
#ifndef WINNOW_STAGES_IO_JSONL_WRITER_H
#define WINNOW_STAGES_IO_JSONL_WRITER_H

#include <winnow/stage.h>

extern const struct wn_stage_desc io_jsonl_writer_stage;

#endif /* WINNOW_STAGES_IO_JSONL_WRITER_H */
