/*
 * winnow — tasks: the unit that flows between stages.
 *
 * A task has an id (deterministic: a child of task "p" created with
 * wn_task_new_child(p, i) is "p_i"), a dataset name, string metadata, one
 * payload, and a perf record per stage it passed through.
 *
 * Ownership: whoever holds a struct wn_task * frees it with wn_task_free(),
 * unless it hands it on (wn_emit() takes ownership).  A task is used by one
 * thread at a time.
 */
#ifndef WINNOW_TASK_H
#define WINNOW_TASK_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>
#include <winnow/table.h>

#ifdef __cplusplus
extern "C" {
#endif

enum wn_payload_kind {
    WN_PAYLOAD_EMPTY = 0, /* a trigger: what a source stage receives */
    WN_PAYLOAD_FILES = 1, /* a group of file paths */
    WN_PAYLOAD_TABLE = 2, /* an Arrow record batch (struct wn_table) */
    WN_PAYLOAD_BLOB = 3   /* opaque bytes with a type name */
};

/* Bit sets of payload kinds, for stage inputs and outputs. */
#define WN_PAYLOAD_BIT(kind) (1u << (unsigned)(kind))
#define WN_PAYLOADS_ANY 0xFu

/* Behaviour of a BLOB payload.  The table must outlive the task (static). */
#define WN_BLOB_TYPE_VERSION 1
struct wn_blob_type {
    uint32_t version;            /* WN_BLOB_TYPE_VERSION */
    const char *name;            /* e.g. "myplugin.bucket_map" */
    void (*destroy)(void *data); /* frees data; may be NULL for static data */
    /* Optional: writes a self-contained copy of data into *bytes (malloc'd,
     * freed by the caller) for transfer between processes. */
    int (*serialize)(const void *data, size_t size, void **bytes, size_t *len,
                     struct wn_error *err);
    void *reserved[4];
};

/* One stage's record on a task, appended by the executor. */
struct wn_task_perf {
    const char *stage; /* the stage's configured name */
    double process_s;  /* time in process_batch for the batch holding this task */
    double idle_s;     /* actor idle time before that batch */
    uint64_t items;    /* items in the batch */
};

struct wn_task;

/* A new task with an EMPTY payload.  id and dataset are copied; dataset may be NULL. */
struct wn_task *wn_task_new(const char *id, const char *dataset);

/* A new task with id "<parent id>_<index>", the parent's dataset and a copy of
 * its metadata, and an EMPTY payload. */
struct wn_task *wn_task_new_child(const struct wn_task *parent, size_t index);

/* Frees the task and its payload. NULL is fine. */
void wn_task_free(struct wn_task *task);

/* Returns *slot and sets *slot = NULL: how a stage takes ownership of one of
 * its input tasks in order to emit it again (wn_emit(out, wn_task_take(&in[i]))). */
struct wn_task *wn_task_take(struct wn_task **slot);

const char *wn_task_id(const struct wn_task *task);
const char *wn_task_dataset(const struct wn_task *task);

/* ---- metadata: string keys and values, copied in; insertion order kept. ---- */
int wn_task_meta_set(struct wn_task *task, const char *key, const char *value);
/* The value for key, or NULL.  Valid until the key is set again or the task freed. */
const char *wn_task_meta_get(const struct wn_task *task, const char *key);
size_t wn_task_meta_count(const struct wn_task *task);
void wn_task_meta_at(const struct wn_task *task, size_t i, const char **key, const char **value);

/* ---- payload ---- */
enum wn_payload_kind wn_task_payload_kind(const struct wn_task *task);

/* Number of items the payload carries: rows of a TABLE, paths of FILES, 1 for
 * a BLOB, 0 for EMPTY.  What the run report counts as items. */
uint64_t wn_task_num_items(const struct wn_task *task);

/* The sum of wn_task_num_items over tasks[0..n) (a batch's inputs), their
 * lines fetched a few ahead of the one read.  Any thread. */
uint64_t wn_task_num_items_sum(struct wn_task *const *tasks, size_t n);

/* Drops the current payload (freeing it); the task becomes EMPTY. */
void wn_task_clear_payload(struct wn_task *task);

/* FILES: replaces the payload with a copy of paths[0..n). */
int wn_task_set_files(struct wn_task *task, const char *const *paths, size_t n);
size_t wn_task_file_count(const struct wn_task *task);
const char *wn_task_file(const struct wn_task *task, size_t i);

/* TABLE: moves *table into the task (table is left released, also on failure,
 * when the table is released).  Validates the table first. */
int wn_task_set_table(struct wn_task *task, struct wn_table *table, struct wn_error *err);
/* The task's table, or NULL when the payload is not a TABLE.  Owned by the task. */
const struct wn_table *wn_task_table(const struct wn_task *task);
/* Moves the table out into *out; the task becomes EMPTY.  WN_EINVAL if not a TABLE. */
int wn_task_take_table(struct wn_task *task, struct wn_table *out);

/* BLOB: the task takes ownership of data (freed by type->destroy), also on failure. */
int wn_task_set_blob(struct wn_task *task, const struct wn_blob_type *type, void *data,
                     size_t size);
const struct wn_blob_type *wn_task_blob_type(const struct wn_task *task);
void *wn_task_blob_data(const struct wn_task *task, size_t *size);

/* ---- perf records (appended by executors) ---- */
/* Appends a record.  The stage name is interned: the record's `stage` lives
 * until the process exits and is shared with every record of that name (keep
 * the set of names small: stage names); passing that pointer back is the
 * fastest call.  Allocates nothing for a task's first few records.  Any
 * thread that owns the task. */
int wn_task_perf_add(struct wn_task *task, const char *stage, double process_s, double idle_s,
                     uint64_t items);
/* Appends the same record to each of tasks[0..n) (one batch's outputs, all
 * owned by the caller) and adds their wn_task_num_items to *items_sum (may be
 * NULL): one call per batch instead of two per task.  Returns how many tasks
 * got the record, from the first: n, or fewer when out of memory (then
 * tasks[returned] did not, nor any after it, and *items_sum counts only those
 * that did).  Any thread that owns the tasks. */
size_t wn_task_perf_add_many(struct wn_task *const *tasks, size_t n, const char *stage,
                             double process_s, double idle_s, uint64_t items, uint64_t *items_sum);
size_t wn_task_perf_count(const struct wn_task *task);
const struct wn_task_perf *wn_task_perf_at(const struct wn_task *task, size_t i);

#ifdef __cplusplus
}
#endif

#endif /* WINNOW_TASK_H */
