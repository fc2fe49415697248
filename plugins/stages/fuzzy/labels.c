/* fuzzy_labels_*: component labels for remove_duplicates (see labels.h). */
#include "build_config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

#include "labels.h"

#define READ_CHUNK ((size_t)1 << 20)

static int ends_with(const char *s, const char *suffix)
{
    size_t len = strlen(s), n = strlen(suffix);

    return len >= n && strcmp(s + len - n, suffix) == 0;
}

/* ---- reading a whole file ---------------------------------------------------- */

static int read_plain(int fd, const char *path, struct fuzzy_arena *buf, struct wn_error *err)
{
    for (;;) {
        ssize_t n;

        if (fuzzy_arena_reserve(buf, READ_CHUNK) < 0)
            return wn_error_set(err, WN_ENOMEM, "%s: out of memory reading it", path);
        n = read(fd, buf->data + buf->len, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return wn_error_set(err, WN_EIO, "%s: cannot read: %s", path, strerror(errno));
        if (n == 0)
            return 0;
        buf->len += (size_t)n;
    }
}

#ifdef HAVE_ZSTD
static int read_zstd(int fd, const char *path, struct fuzzy_arena *buf, struct wn_error *err)
{
    struct fuzzy_arena in = { 0 };
    ZSTD_DStream *z = ZSTD_createDStream();
    ZSTD_inBuffer zin;
    size_t pending = 0;
    int rc;

    if (z == NULL)
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory reading it", path);
    rc = read_plain(fd, path, &in, err);
    if (rc < 0)
        goto out_free;
    zin.src = in.data;
    zin.size = in.len;
    zin.pos = 0;
    while (in.len > 0) {
        ZSTD_outBuffer zout;

        if (fuzzy_arena_reserve(buf, READ_CHUNK) < 0) {
            rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory reading it", path);
            goto out_free;
        }
        zout.dst = buf->data + buf->len;
        zout.size = READ_CHUNK;
        zout.pos = 0;
        pending = ZSTD_decompressStream(z, &zout, &zin);
        if (ZSTD_isError(pending)) {
            rc = wn_error_set(err, WN_EDATA, "%s: not a valid zstd stream: %s", path,
                              ZSTD_getErrorName(pending));
            goto out_free;
        }
        buf->len += zout.pos;
        /* Done once the input is used up and the output was not full (all flushed). */
        if (zin.pos == zin.size && zout.pos < zout.size)
            break;
    }
    if (pending != 0)
        rc = wn_error_set(err, WN_EDATA, "%s: the zstd stream is truncated", path);
out_free:
    ZSTD_freeDStream(z);
    fuzzy_arena_clear(&in);
    return rc;
}
#endif

static int read_file(const char *path, struct fuzzy_arena *buf, struct wn_error *err)
{
    int fd, rc;

#ifndef HAVE_ZSTD
    if (ends_with(path, ".zst"))
        return wn_error_set(err, WN_EUNSUPPORTED,
                            "%s: this winnow was built without zstd and cannot read .zst files "
                            "(install libzstd-dev and rebuild)",
                            path);
#endif
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wn_error_set(err, errno == ENOENT ? WN_ENOTFOUND : WN_EIO,
                            "cannot open the labels file %s: %s", path, strerror(errno));
    buf->len = 0;
#ifdef HAVE_ZSTD
    if (ends_with(path, ".zst"))
        rc = read_zstd(fd, path, buf, err);
    else
#endif
        rc = read_plain(fd, path, buf, err);
    close(fd);
    return rc;
}

/* ---- parsing --------------------------------------------------------------------- */

/* Appends the key of a label's id or group value; WN_EDATA when it is neither
 * a string nor an integer (problem says what it is). */
static int add_value_key(struct fuzzy_arena *keys, const json_t *value, const char **problem)
{
    if (json_is_integer(value))
        return fuzzy_arena_add_integer_key(keys, (int64_t)json_integer_value(value));
    if (json_is_string(value))
        return fuzzy_arena_add_string_key(keys, json_string_value(value),
                                          json_string_length(value));
    *problem = value == NULL ? "is missing" : "is neither a string nor an integer";
    return WN_EDATA;
}

/* Adds one label (the id and group keys just appended at id_at and group_at). */
static int add_label(struct fuzzy_labels *labels, size_t id_at, size_t id_len, size_t group_at,
                     size_t group_len, const char **problem)
{
    struct fuzzy_keymap_slot *gslot, *islot;
    struct fuzzy_group *g;
    int inserted;

    if (fuzzy_keymap_upsert(&labels->groups, group_at, group_len, labels->n_groups, &gslot,
                            &inserted) < 0)
        return WN_ENOMEM;
    if (inserted) {
        if (labels->n_groups == labels->cap_groups) {
            size_t cap = labels->cap_groups ? labels->cap_groups * 2 : 1024;
            struct fuzzy_group *grown = realloc(labels->group, cap * sizeof(*grown));

            if (grown == NULL)
                return WN_ENOMEM;
            labels->group = grown;
            labels->cap_groups = cap;
        }
        g = &labels->group[labels->n_groups++];
        g->key_offset = group_at;
        g->key_len = (uint32_t)group_len;
        g->min_offset = id_at;
        g->min_len = (uint32_t)id_len;
    } else {
        g = &labels->group[gslot->value];
        labels->keys.len = group_at; /* the key is stored already: drop the copy */
    }
    if (fuzzy_keymap_upsert(&labels->ids, id_at, id_len, gslot->value, &islot, &inserted) < 0)
        return WN_ENOMEM;
    if (!inserted) {
        if (islot->value != gslot->value) {
            *problem = "lists an id that an earlier line put in another group";
            return WN_EDATA;
        }
        labels->keys.len = id_at; /* a repeated line */
        return 0;
    }
    labels->n_labels++;
    labels->kinds |= labels->keys.data[id_at] == FUZZY_KEY_INTEGER ? FUZZY_LABELS_INTEGER_IDS
                                                                   : FUZZY_LABELS_STRING_IDS;
    if (fuzzy_key_compare(labels->keys.data + id_at, id_len, labels->keys.data + g->min_offset,
                          g->min_len) < 0) {
        g->min_offset = id_at;
        g->min_len = (uint32_t)id_len;
    }
    return 0;
}

static int parse_line(struct fuzzy_labels *labels, const char *line, size_t len,
                      const char *id_field, const char *group_field, char *problem,
                      size_t problem_size)
{
    json_error_t jerr;
    json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    size_t id_at = labels->keys.len, id_len, group_at, group_len;
    const char *what = NULL;
    int rc;

    if (obj == NULL) {
        snprintf(problem, problem_size, "not JSON: %s", jerr.text);
        return WN_EDATA;
    }
    if (!json_is_object(obj)) {
        snprintf(problem, problem_size, "not a JSON object");
        rc = WN_EDATA;
        goto out_decref;
    }
    rc = add_value_key(&labels->keys, json_object_get(obj, id_field), &what);
    if (rc == WN_EDATA) {
        snprintf(problem, problem_size, "field \"%s\" %s", id_field, what);
        goto out_decref;
    }
    id_len = labels->keys.len - id_at;
    group_at = labels->keys.len;
    if (rc == 0)
        rc = add_value_key(&labels->keys, json_object_get(obj, group_field), &what);
    if (rc == WN_EDATA) {
        snprintf(problem, problem_size, "field \"%s\" %s", group_field, what);
        goto out_decref;
    }
    group_len = labels->keys.len - group_at;
    if (rc == 0 && (id_len > UINT32_MAX || group_len > UINT32_MAX)) {
        snprintf(problem, problem_size, "an id or group over 4 GiB");
        rc = WN_EDATA;
        goto out_decref;
    }
    if (rc == 0)
        rc = add_label(labels, id_at, id_len, group_at, group_len, &what);
    if (rc == WN_EDATA)
        snprintf(problem, problem_size, "%s", what);
    if (rc == WN_ENOMEM)
        snprintf(problem, problem_size, "out of memory");
out_decref:
    json_decref(obj);
    return rc;
}

static int load_file(struct fuzzy_labels *labels, const char *path, const char *id_field,
                     const char *group_field, struct fuzzy_arena *buf, struct wn_error *err)
{
    char problem[512];
    uint64_t line_number = 0;
    size_t pos = 0;
    int rc;

    rc = read_file(path, buf, err);
    if (rc < 0)
        return rc;
    labels->n_files++;
    while (pos < buf->len) {
        const char *line = (const char *)buf->data + pos;
        const char *nl = memchr(line, '\n', buf->len - pos);
        size_t len = nl != NULL ? (size_t)(nl - line) : buf->len - pos;
        size_t blank = 0;

        pos += len + (nl != NULL);
        line_number++;
        while (blank < len && (line[blank] == ' ' || line[blank] == '\t' || line[blank] == '\r'))
            blank++;
        if (blank == len)
            continue;
        rc = parse_line(labels, line, len, id_field, group_field, problem, sizeof(problem));
        if (rc < 0)
            return wn_error_set(err, rc, "%s:%" PRIu64 ": %s", path, line_number, problem);
    }
    return 0;
}

static int name_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The label files of directory dir, sorted (malloc'd array of malloc'd paths). */
static int list_dir(const char *dir, char ***out, size_t *count, struct wn_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    *out = NULL;
    *count = 0;
    if (d == NULL)
        return wn_error_set(err, WN_EIO, "cannot list the labels directory %s: %s", dir,
                            strerror(errno));
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        char *path;

        if (e->d_name[0] == '.' ||
            !(ends_with(e->d_name, ".jsonl") || ends_with(e->d_name, ".jsonl.zst")))
            continue;
        if (asprintf(&path, "%s/%s", dir, e->d_name) < 0) {
            rc = wn_error_set(err, WN_ENOMEM, "out of memory listing %s", dir);
            break;
        }
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*grown));

            if (grown == NULL) {
                free(path);
                rc = wn_error_set(err, WN_ENOMEM, "out of memory listing %s", dir);
                break;
            }
            names = grown;
        }
        names[n++] = path;
    }
    closedir(d);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return rc;
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), name_compare);
    *out = names;
    *count = n;
    return 0;
}

int fuzzy_labels_load(const char *path, const char *id_field, const char *group_field,
                      struct fuzzy_labels **out, struct wn_error *err)
{
    struct fuzzy_labels *labels = calloc(1, sizeof(*labels));
    struct fuzzy_arena buf = { 0 };
    struct stat st;
    char **files = NULL;
    size_t n_files = 0;
    int rc;

    *out = NULL;
    if (labels == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory loading %s", path);
    fuzzy_keymap_init(&labels->ids, &labels->keys);
    fuzzy_keymap_init(&labels->groups, &labels->keys);
    if (stat(path, &st) != 0) {
        rc = wn_error_set(err, errno == ENOENT ? WN_ENOTFOUND : WN_EIO,
                          "labels_path %s: %s; point it at the connected components' output "
                          "(a JSONL file or a directory of them)",
                          path, strerror(errno));
        goto out_free;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = list_dir(path, &files, &n_files, err);
        for (size_t i = 0; i < n_files && rc == 0; i++)
            rc = load_file(labels, files[i], id_field, group_field, &buf, err);
    } else {
        rc = load_file(labels, path, id_field, group_field, &buf, err);
    }
out_free:
    for (size_t i = 0; i < n_files; i++)
        free(files[i]);
    free(files);
    fuzzy_arena_clear(&buf);
    if (rc < 0) {
        fuzzy_labels_free(labels);
        return rc;
    }
    *out = labels;
    return 0;
}

void fuzzy_labels_free(struct fuzzy_labels *labels)
{
    if (labels == NULL)
        return;
    fuzzy_keymap_clear(&labels->ids);
    fuzzy_keymap_clear(&labels->groups);
    fuzzy_arena_clear(&labels->keys);
    free(labels->group);
    free(labels);
}

enum fuzzy_label_verdict fuzzy_labels_lookup(const struct fuzzy_labels *labels,
                                             const unsigned char *key, size_t len,
                                             const struct fuzzy_group **group)
{
    const struct fuzzy_keymap_slot *slot = fuzzy_keymap_find(&labels->ids, key, len);
    const struct fuzzy_group *g;

    if (slot == NULL)
        return FUZZY_LABEL_NONE;
    g = &labels->group[slot->value];
    *group = g;
    return fuzzy_key_compare(key, len, labels->keys.data + g->min_offset, g->min_len) == 0
               ? FUZZY_LABEL_KEEP
               : FUZZY_LABEL_DUPLICATE;
}

/* ---- the shared sets ---------------------------------------------------------------- */

struct shared_labels {
    struct shared_labels *next;
    char *path, *id_field, *group_field;
    struct fuzzy_labels *labels;
    unsigned refs; /* actors holding it */
};

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shared_labels *shared_list;

static void shared_free(struct shared_labels *s)
{
    fuzzy_labels_free(s->labels);
    free(s->path);
    free(s->id_field);
    free(s->group_field);
    free(s);
}

/* The entry for the key, or NULL.  Under shared_lock. */
static struct shared_labels *shared_find(const char *path, const char *id_field,
                                         const char *group_field)
{
    for (struct shared_labels *s = shared_list; s != NULL; s = s->next)
        if (strcmp(s->path, path) == 0 && strcmp(s->id_field, id_field) == 0 &&
            strcmp(s->group_field, group_field) == 0)
            return s;
    return NULL;
}

static void shared_unlink(struct shared_labels *entry)
{
    for (struct shared_labels **link = &shared_list; *link != NULL; link = &(*link)->next) {
        if (*link == entry) {
            *link = entry->next;
            return;
        }
    }
}

/* Loads a new entry and links it.  Under shared_lock (the other actors wait
 * for one load). */
static int shared_load(const char *path, const char *id_field, const char *group_field,
                       struct shared_labels **out, struct wn_error *err)
{
    struct shared_labels *s = calloc(1, sizeof(*s));
    int rc;

    *out = NULL;
    if (s == NULL || (s->path = strdup(path)) == NULL || (s->id_field = strdup(id_field)) == NULL ||
        (s->group_field = strdup(group_field)) == NULL) {
        if (s != NULL)
            shared_free(s);
        return wn_error_set(err, WN_ENOMEM, "out of memory loading %s", path);
    }
    rc = fuzzy_labels_load(path, id_field, group_field, &s->labels, err);
    if (rc < 0) {
        shared_free(s);
        return rc;
    }
    s->next = shared_list;
    shared_list = s;
    *out = s;
    return 0;
}

int fuzzy_labels_preload(const char *path, const char *id_field, const char *group_field,
                         struct fuzzy_labels *stats, struct wn_error *err)
{
    struct shared_labels *s;
    int rc = 0;

    memset(stats, 0, sizeof(*stats));
    pthread_mutex_lock(&shared_lock);
    s = shared_find(path, id_field, group_field);
    if (s != NULL && s->refs == 0) {
        /* Cached but unheld (an earlier run's): read the file again. */
        shared_unlink(s);
        shared_free(s);
        s = NULL;
    }
    if (s == NULL)
        rc = shared_load(path, id_field, group_field, &s, err);
    if (rc == 0) {
        stats->n_labels = s->labels->n_labels;
        stats->n_groups = s->labels->n_groups;
        stats->n_files = s->labels->n_files;
        stats->kinds = s->labels->kinds;
    }
    pthread_mutex_unlock(&shared_lock);
    return rc;
}

int fuzzy_labels_acquire(const char *path, const char *id_field, const char *group_field,
                         struct fuzzy_labels **out, struct wn_error *err)
{
    struct shared_labels *s;
    int rc = 0;

    *out = NULL;
    pthread_mutex_lock(&shared_lock);
    s = shared_find(path, id_field, group_field);
    if (s == NULL)
        rc = shared_load(path, id_field, group_field, &s, err);
    if (rc == 0) {
        s->refs++;
        *out = s->labels;
    }
    pthread_mutex_unlock(&shared_lock);
    return rc;
}

void fuzzy_labels_release(struct fuzzy_labels *labels)
{
    if (labels == NULL)
        return;
    pthread_mutex_lock(&shared_lock);
    for (struct shared_labels *s = shared_list; s != NULL; s = s->next) {
        if (s->labels != labels)
            continue;
        if (--s->refs == 0) {
            shared_unlink(s);
            shared_free(s);
        }
        break;
    }
    pthread_mutex_unlock(&shared_lock);
}
