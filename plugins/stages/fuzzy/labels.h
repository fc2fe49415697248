/*
 * Component labels for remove_duplicates: which group each document belongs
 * to, and the smallest id of every group (the document a group keeps).
 *
 * Read from JSON Lines: one object per line with an id (string or integer)
 * and a group (string or integer), the fields named by the caller ("id" and
 * "group_id" by default, as the connected_components stage writes them).  The path is one
 * file or a directory whose *.jsonl files (and *.jsonl.zst with zstd) are
 * read in name order, dot files skipped: jsonl_writer's output directory.
 * An id listed twice with two different groups is an error.
 *
 * Loaded sets are shared: one set per (path, id field, group field) per
 * process.  fuzzy_labels_preload() (setup_on_node) loads it afresh unless
 * actors hold it; fuzzy_labels_acquire() (create) takes a reference, loading
 * it if no preload did; fuzzy_labels_release() (destroy) frees it with its
 * last holder.  A preloaded set that no actor ever takes (a run that fails
 * first) stays cached until the next preload of the same key replaces it.
 * A set is read-only once loaded: any thread may look ids up.
 */
#ifndef WINNOW_FUZZY_LABELS_H
#define WINNOW_FUZZY_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>

#include "fuzzy_common.h"

struct fuzzy_group {
    uint64_t key_offset; /* the group's key in keys */
    uint64_t min_offset; /* the smallest id of the group, in keys */
    uint32_t key_len, min_len;
};

struct fuzzy_labels {
    struct fuzzy_arena keys;    /* every id key and group key */
    struct fuzzy_keymap ids;    /* id key -> group index */
    struct fuzzy_keymap groups; /* group key -> group index */
    struct fuzzy_group *group;
    size_t n_groups, cap_groups;
    uint64_t n_labels;
    uint64_t n_files;
    unsigned kinds; /* FUZZY_LABELS_INTEGER_IDS | FUZZY_LABELS_STRING_IDS */
};

#define FUZZY_LABELS_INTEGER_IDS 1u
#define FUZZY_LABELS_STRING_IDS 2u

enum fuzzy_label_verdict {
    FUZZY_LABEL_NONE = 0,     /* the id has no label: not a duplicate of anything */
    FUZZY_LABEL_KEEP = 1,     /* the smallest id of its group */
    FUZZY_LABEL_DUPLICATE = 2 /* another id of its group is smaller */
};

/* Loads labels from path (see above) into a new set; WN_ENOTFOUND, WN_EIO,
 * WN_EDATA ("FILE:LINE: what") or WN_ENOMEM with a message on failure. */
int fuzzy_labels_load(const char *path, const char *id_field, const char *group_field,
                      struct fuzzy_labels **out, struct wn_error *err);
void fuzzy_labels_free(struct fuzzy_labels *labels);

/* The verdict for an id key; *group gets the group for KEEP and DUPLICATE. */
enum fuzzy_label_verdict fuzzy_labels_lookup(const struct fuzzy_labels *labels,
                                             const unsigned char *key, size_t len,
                                             const struct fuzzy_group **group);

/* Loads the shared set for (path, id_field, group_field) without holding it,
 * replacing a cached copy no one holds; *stats gets its counts.  Thread-safe. */
int fuzzy_labels_preload(const char *path, const char *id_field, const char *group_field,
                         struct fuzzy_labels *stats, struct wn_error *err);

/* A reference to the shared set for (path, id_field, group_field), loaded on
 * first use.  Thread-safe. */
int fuzzy_labels_acquire(const char *path, const char *id_field, const char *group_field,
                         struct fuzzy_labels **out, struct wn_error *err);
void fuzzy_labels_release(struct fuzzy_labels *labels);

#endif /* WINNOW_FUZZY_LABELS_H */
