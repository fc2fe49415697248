/* jsonl_reader: JSON Lines files (plain or .zst) into a TABLE task. */
#ifndef WINNOW_STAGES_IO_JSONL_READER_H
#define WINNOW_STAGES_IO_JSONL_READER_H

#include <winnow/stage.h>

extern const struct wn_stage_desc io_jsonl_reader_stage;

#endif /* WINNOW_STAGES_IO_JSONL_READER_H */
