/* wn_task_*: tasks, their metadata, payloads and perf records. */
#include "build_config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/task.h>

/* Perf records kept inside the task before any allocation: one per stage of
 * a short pipeline, so that appending them costs no malloc per task. */
#define PERF_INLINE 4

/* Ids up to ID_INLINE - 1 bytes live inside the task. */
#define ID_INLINE 32

struct meta_entry {
    char *key;
    char *value;
};

/* What an executor touches for every task and stage (kind, the count of
 * FILES, the perf records) comes first, so that it spans few cache lines. */
struct wn_task {
    enum wn_payload_kind kind;
    uint32_t n_perf, cap_perf;
    struct wn_task_perf *perf; /* perf_inline, or a heap array past PERF_INLINE records */
    struct wn_task_perf perf_inline[PERF_INLINE];
    char *id;
    char *dataset;
    struct meta_entry *meta;
    size_t n_meta, cap_meta;
    union {
        struct {
            char **paths;
            size_t n;
        } files;
        struct wn_table table;
        struct {
            const struct wn_blob_type *type;
            void *data;
            size_t size;
        } blob;
    } payload;
    /* The id when it is short (most are): one allocation per task, not two,
     * and one free fewer where tasks end, often on another thread. */
    char id_inline[ID_INLINE];
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

struct wn_task *wn_task_new(const char *id, const char *dataset)
{
    struct wn_task *task = calloc(1, sizeof(*task));
    size_t len;

    if (task == NULL)
        return NULL;
    if (id == NULL)
        id = "";
    len = strlen(id);
    if (len < sizeof(task->id_inline)) {
        memcpy(task->id_inline, id, len + 1);
        task->id = task->id_inline;
    } else {
        task->id = strdup(id);
    }
    task->dataset = dup_or_null(dataset);
    if (task->id == NULL || (dataset != NULL && task->dataset == NULL)) {
        wn_task_free(task);
        return NULL;
    }
    task->kind = WN_PAYLOAD_EMPTY;
    task->perf = task->perf_inline;
    task->cap_perf = PERF_INLINE;
    return task;
}

struct wn_task *wn_task_new_child(const struct wn_task *parent, size_t index)
{
    struct wn_task *task;
    size_t len = strlen(parent->id) + 24;
    char short_id[ID_INLINE];
    char *id;

    if ((size_t)snprintf(short_id, sizeof(short_id), "%s_%zu", parent->id, index) <
        sizeof(short_id)) {
        task = wn_task_new(short_id, parent->dataset); /* the id lives inside the task */
        if (task == NULL)
            return NULL;
    } else {
        id = malloc(len);
        if (id == NULL)
            return NULL;
        snprintf(id, len, "%s_%zu", parent->id, index);
        task = wn_task_new(NULL, parent->dataset);
        if (task == NULL) {
            free(id);
            return NULL;
        }
        task->id = id; /* the empty id was inline: nothing to free */
    }
    for (size_t i = 0; i < parent->n_meta; i++) {
        if (wn_task_meta_set(task, parent->meta[i].key, parent->meta[i].value) < 0) {
            wn_task_free(task);
            return NULL;
        }
    }
    return task;
}

/* Frees the payload; leaves the union as it was (the caller clears it or
 * frees the task).  Inlined into wn_task_free: an EMPTY task (what most
 * executors free) costs one comparison, and no call through the PLT. */
static inline void payload_release(struct wn_task *task)
{
    switch (task->kind) {
    case WN_PAYLOAD_FILES:
        for (size_t i = 0; i < task->payload.files.n; i++)
            free(task->payload.files.paths[i]);
        free(task->payload.files.paths);
        break;
    case WN_PAYLOAD_TABLE: wn_table_release(&task->payload.table); break;
    case WN_PAYLOAD_BLOB:
        if (task->payload.blob.type->destroy != NULL)
            task->payload.blob.type->destroy(task->payload.blob.data);
        break;
    case WN_PAYLOAD_EMPTY: break;
    }
}

void wn_task_clear_payload(struct wn_task *task)
{
    payload_release(task);
    memset(&task->payload, 0, sizeof(task->payload));
    task->kind = WN_PAYLOAD_EMPTY;
}

void wn_task_free(struct wn_task *task)
{
    if (task == NULL)
        return;
    if (task->kind != WN_PAYLOAD_EMPTY)
        payload_release(task);
    for (size_t i = 0; i < task->n_meta; i++) {
        free(task->meta[i].key);
        free(task->meta[i].value);
    }
    free(task->meta);
    if (task->perf != task->perf_inline)
        free(task->perf);
    free(task->dataset);
    if (task->id != task->id_inline)
        free(task->id);
    free(task);
}

struct wn_task *wn_task_take(struct wn_task **slot)
{
    struct wn_task *task = *slot;

    *slot = NULL;
    return task;
}

const char *wn_task_id(const struct wn_task *task)
{
    return task->id;
}

const char *wn_task_dataset(const struct wn_task *task)
{
    return task->dataset;
}

int wn_task_meta_set(struct wn_task *task, const char *key, const char *value)
{
    char *v;

    if (key == NULL || value == NULL)
        return WN_EINVAL;
    v = strdup(value);
    if (v == NULL)
        return WN_ENOMEM;
    for (size_t i = 0; i < task->n_meta; i++) {
        if (strcmp(task->meta[i].key, key) == 0) {
            free(task->meta[i].value);
            task->meta[i].value = v;
            return 0;
        }
    }
    if (task->n_meta == task->cap_meta) {
        size_t cap = task->cap_meta ? task->cap_meta * 2 : 4;
        struct meta_entry *m = realloc(task->meta, cap * sizeof(*m));
        if (m == NULL) {
            free(v);
            return WN_ENOMEM;
        }
        task->meta = m;
        task->cap_meta = cap;
    }
    task->meta[task->n_meta].key = strdup(key);
    if (task->meta[task->n_meta].key == NULL) {
        free(v);
        return WN_ENOMEM;
    }
    task->meta[task->n_meta].value = v;
    task->n_meta++;
    return 0;
}

const char *wn_task_meta_get(const struct wn_task *task, const char *key)
{
    for (size_t i = 0; i < task->n_meta; i++)
        if (strcmp(task->meta[i].key, key) == 0)
            return task->meta[i].value;
    return NULL;
}

size_t wn_task_meta_count(const struct wn_task *task)
{
    return task->n_meta;
}

void wn_task_meta_at(const struct wn_task *task, size_t i, const char **key, const char **value)
{
    *key = i < task->n_meta ? task->meta[i].key : NULL;
    *value = i < task->n_meta ? task->meta[i].value : NULL;
}

enum wn_payload_kind wn_task_payload_kind(const struct wn_task *task)
{
    return task->kind;
}

/* wn_task_num_items without the call through the PLT, for the batch
 * functions below. */
static inline uint64_t items_of(const struct wn_task *task)
{
    switch (task->kind) {
    case WN_PAYLOAD_FILES: return task->payload.files.n;
    case WN_PAYLOAD_TABLE: return (uint64_t)wn_table_num_rows(&task->payload.table);
    case WN_PAYLOAD_BLOB: return 1;
    case WN_PAYLOAD_EMPTY: return 0;
    }
    return 0;
}

uint64_t wn_task_num_items(const struct wn_task *task)
{
    return items_of(task);
}

/* Tasks of a batch whose first line is fetched ahead of the one read: a
 * batch's tasks were last written on another core, or long ago. */
#ifndef ITEMS_AHEAD
#define ITEMS_AHEAD 6u
#endif

uint64_t wn_task_num_items_sum(struct wn_task *const *tasks, size_t n)
{
    uint64_t sum = 0;

    /* Two lines each: the second holds later stages' perf records. */
    for (size_t i = 0; i < n && i < ITEMS_AHEAD; i++) {
        __builtin_prefetch(tasks[i], 1);
        __builtin_prefetch((const char *)tasks[i] + 64, 1);
    }
    for (size_t i = 0; i < n; i++) {
        if (i + ITEMS_AHEAD < n) {
            __builtin_prefetch(tasks[i + ITEMS_AHEAD], 1);
            __builtin_prefetch((const char *)tasks[i + ITEMS_AHEAD] + 64, 1);
        }
        sum += items_of(tasks[i]);
    }
    return sum;
}

int wn_task_set_files(struct wn_task *task, const char *const *paths, size_t n)
{
    char **copy = calloc(n ? n : 1, sizeof(*copy));

    if (copy == NULL)
        return WN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        copy[i] = strdup(paths[i]);
        if (copy[i] == NULL) {
            while (i-- > 0)
                free(copy[i]);
            free(copy);
            return WN_ENOMEM;
        }
    }
    wn_task_clear_payload(task);
    task->kind = WN_PAYLOAD_FILES;
    task->payload.files.paths = copy;
    task->payload.files.n = n;
    return 0;
}

size_t wn_task_file_count(const struct wn_task *task)
{
    return task->kind == WN_PAYLOAD_FILES ? task->payload.files.n : 0;
}

const char *wn_task_file(const struct wn_task *task, size_t i)
{
    if (task->kind != WN_PAYLOAD_FILES || i >= task->payload.files.n)
        return NULL;
    return task->payload.files.paths[i];
}

int wn_task_set_table(struct wn_task *task, struct wn_table *table, struct wn_error *err)
{
    int rc = wn_table_validate(table, err);

    if (rc < 0) {
        wn_table_release(table);
        return wn_error_prefix(err, "task %s", task->id);
    }
    wn_task_clear_payload(task);
    task->kind = WN_PAYLOAD_TABLE;
    wn_table_move(&task->payload.table, table);
    return 0;
}

const struct wn_table *wn_task_table(const struct wn_task *task)
{
    return task->kind == WN_PAYLOAD_TABLE ? &task->payload.table : NULL;
}

int wn_task_take_table(struct wn_task *task, struct wn_table *out)
{
    if (task->kind != WN_PAYLOAD_TABLE)
        return WN_EINVAL;
    wn_table_move(out, &task->payload.table);
    memset(&task->payload, 0, sizeof(task->payload));
    task->kind = WN_PAYLOAD_EMPTY;
    return 0;
}

int wn_task_set_blob(struct wn_task *task, const struct wn_blob_type *type, void *data, size_t size)
{
    if (type == NULL || type->version < 1 || type->name == NULL) {
        if (type != NULL && type->destroy != NULL)
            type->destroy(data);
        return WN_EINVAL;
    }
    wn_task_clear_payload(task);
    task->kind = WN_PAYLOAD_BLOB;
    task->payload.blob.type = type;
    task->payload.blob.data = data;
    task->payload.blob.size = size;
    return 0;
}

const struct wn_blob_type *wn_task_blob_type(const struct wn_task *task)
{
    return task->kind == WN_PAYLOAD_BLOB ? task->payload.blob.type : NULL;
}

void *wn_task_blob_data(const struct wn_task *task, size_t *size)
{
    if (task->kind != WN_PAYLOAD_BLOB) {
        if (size != NULL)
            *size = 0;
        return NULL;
    }
    if (size != NULL)
        *size = task->payload.blob.size;
    return task->payload.blob.data;
}

/*
 * Stage names of perf records are interned: one copy per distinct name for
 * the life of the process, shared by every record, so that appending a
 * record allocates nothing.  A small per-thread cache answers the lookups of
 * an executor that passes the same name for every task without the lock.
 */
struct interned {
    struct interned *next;
    char name[];
};

static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static struct interned *intern_list; /* reachable until exit: never a leak */

/* The first interned strings, readable without the lock: a caller that
 * passes back an interned pointer (see wn_task_perf_add) is answered by a
 * pointer comparison. */
#define INTERN_FAST 64
static const char *intern_fast[INTERN_FAST];
static unsigned intern_fast_n; /* atomic: entries published */

#define INTERN_CACHE 8
static _Thread_local struct {
    const char *key;      /* a pointer a caller passed */
    const char *interned; /* its interned copy */
} intern_cache[INTERN_CACHE];
static _Thread_local unsigned intern_cache_next;

static const char *intern_locked(const char *s)
{
    struct interned *e;
    size_t len;

    for (e = intern_list; e != NULL; e = e->next)
        if (strcmp(e->name, s) == 0)
            return e->name;
    len = strlen(s);
    e = malloc(sizeof(*e) + len + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->name, s, len + 1);
    e->next = intern_list;
    intern_list = e;
    if (intern_fast_n < INTERN_FAST) {
        intern_fast[intern_fast_n] = e->name;
        __atomic_store_n(&intern_fast_n, intern_fast_n + 1, __ATOMIC_RELEASE);
    }
    return e->name;
}

/* intern past its first look: the thread's cache, then the list.  Any
 * thread. */
static const char *intern_slow(const char *s)
{
    const char *found;

    for (unsigned i = 0; i < INTERN_CACHE; i++) {
        const char *interned = intern_cache[i].interned;

        /* An interned string never changes; a caller's may have been freed
         * and its address reused, hence the comparison. */
        if (interned != NULL &&
            (interned == s || (intern_cache[i].key == s && strcmp(interned, s) == 0)))
            return interned;
    }
    pthread_mutex_lock(&intern_lock);
    found = intern_locked(s);
    pthread_mutex_unlock(&intern_lock);
    if (found != NULL) {
        unsigned slot = intern_cache_next++ % INTERN_CACHE;

        intern_cache[slot].key = s;
        intern_cache[slot].interned = found;
    }
    return found;
}

/* The interned copy of s, or NULL when out of memory.  Pointers an executor
 * passes back end here, inline, before any thread-local access (a call, in
 * a shared library).  Any thread. */
static inline const char *intern(const char *s)
{
    unsigned n_fast = __atomic_load_n(&intern_fast_n, __ATOMIC_ACQUIRE);

    for (unsigned i = 0; i < n_fast; i++)
        if (intern_fast[i] == s)
            return s;
    return intern_slow(s);
}

int wn_task_perf_add(struct wn_task *task, const char *stage, double process_s, double idle_s,
                     uint64_t items)
{
    const char *name = intern(stage ? stage : "");
    uint32_t n = task->n_perf;

    if (__builtin_expect(name != NULL && n < task->cap_perf, 1)) {
        /* The common case: a few stores into room the task has. */
        task->perf[n] = (struct wn_task_perf){ name, process_s, idle_s, items };
        task->n_perf = n + 1;
        return 0;
    }
    if (name == NULL)
        return WN_ENOMEM;
    if (task->n_perf == task->cap_perf) {
        uint32_t cap = task->cap_perf ? task->cap_perf * 2 : PERF_INLINE;
        struct wn_task_perf *p;

        if (task->perf == task->perf_inline) {
            p = malloc(cap * sizeof(*p));
            if (p != NULL)
                memcpy(p, task->perf_inline, task->n_perf * sizeof(*p));
        } else {
            p = realloc(task->perf, cap * sizeof(*p));
        }
        if (p == NULL)
            return WN_ENOMEM;
        task->perf = p;
        task->cap_perf = cap;
    }
    task->perf[task->n_perf].stage = name;
    task->perf[task->n_perf].process_s = process_s;
    task->perf[task->n_perf].idle_s = idle_s;
    task->perf[task->n_perf].items = items;
    task->n_perf++;
    return 0;
}

size_t wn_task_perf_add_many(struct wn_task *const *tasks, size_t n, const char *stage,
                             double process_s, double idle_s, uint64_t items, uint64_t *items_sum)
{
    const char *name = intern(stage ? stage : "");
    struct wn_task_perf rec = { name, process_s, idle_s, items };
    uint64_t sum = 0;
    size_t i;

    for (i = 0; name != NULL && i < n; i++) {
        struct wn_task *task = tasks[i];
        uint32_t k = task->n_perf;

        if (__builtin_expect(k < task->cap_perf, 1)) {
            task->perf[k] = rec;
            task->n_perf = k + 1;
        } else if (wn_task_perf_add(task, name, process_s, idle_s, items) < 0) {
            break;
        }
        sum += items_of(task);
    }
    if (items_sum != NULL)
        *items_sum += sum;
    return i;
}

size_t wn_task_perf_count(const struct wn_task *task)
{
    return task->n_perf;
}

const struct wn_task_perf *wn_task_perf_at(const struct wn_task *task, size_t i)
{
    return i < task->n_perf ? &task->perf[i] : NULL;
}
