/*
 * dedup plugin — exact_dedup, a SHUFFLE stage: removes documents whose text
 * is byte-for-byte the same as another's, keeping one per text.
 *
 * insert   hashes each row's text (MurmurHash3_x64_128, hash128.h) and sends
 *          the row to partition lo64 % P;
 * extract  groups a partition's rows by text (the 128-bit hash, then the
 *          bytes), keeps in each group the row with the smallest id, and emits
 *          the survivors sorted by id as one TABLE task per non-empty
 *          partition, id "<stage>_<partition>".
 *
 * Ids compare as strings (bytewise, a prefix first) for utf8 id columns and
 * as numbers for integer ones; a null id sorts after every other, and equal
 * ids keep the row that came first.  Rows with a null text are never
 * duplicates of anything and are all kept.  With removed_ids_path, every
 * removed row adds a line {"id": <its id>, "duplicate_of": <the kept id>} to
 * that file (made empty by setup_on_node; lines of one partition are written
 * together, sorted by id, partitions in any order).
 */
#ifndef WN_DEDUP_EXACT_DEDUP_H
#define WN_DEDUP_EXACT_DEDUP_H

#include <winnow/stage.h>

extern const struct wn_stage_desc dedup_exact_dedup_stage;

#endif /* WN_DEDUP_EXACT_DEDUP_H */
