/*
 * file_partitioning: the source stage of a file pipeline.  Given the trigger
 * task, it expands `paths` (files, directories, glob(3) patterns) into a
 * sorted, de-duplicated list of files and emits one FILES task per group:
 * `files_per_group` files, or consecutive files until their total size
 * reaches `blocksize`, or one file per group when neither is given.
 *
 * Directories are scanned for names ending in one of `extensions`
 * (recursively unless `recursive` is false); entries whose name starts with
 * '.' are skipped (hidden files and the temporary files of jsonl_writer), and
 * symbolic links to directories are not followed (no cycles).  A file named
 * explicitly, or matched by a glob, is taken whatever its extension.
 */
#include "build_config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <winnow/log.h>
#include <winnow/plugin.h>

#include "file_partitioning.h"

#define STAGE_NAME "file_partitioning"

struct file_partitioning {
    const struct wn_params *params; /* valid for the whole run */
    int64_t files_per_group;        /* 0: not given */
    uint64_t blocksize;             /* 0: not given */
    int recursive;
};

struct file_entry {
    char *path;
    uint64_t size;
};

struct file_list {
    struct file_entry *items;
    size_t count, capacity;
};

/* ---- sizes ---------------------------------------------------------------- */

int io_parse_size(const char *text, uint64_t *bytes, struct wn_error *err)
{
    static const struct {
        const char *unit;
        double factor;
    } units[] = {
        { "", 1.0 },
        { "b", 1.0 },
        { "k", 1e3 },
        { "kb", 1e3 },
        { "kib", 1024.0 },
        { "m", 1e6 },
        { "mb", 1e6 },
        { "mib", 1048576.0 },
        { "g", 1e9 },
        { "gb", 1e9 },
        { "gib", 1073741824.0 },
        { "t", 1e12 },
        { "tb", 1e12 },
        { "tib", 1099511627776.0 },
        { "p", 1e15 },
        { "pb", 1e15 },
        { "pib", 1125899906842624.0 },
    };
    const char *p = text;
    char *end;
    double number, value;
    char unit[8];
    size_t n = 0;

    while (isspace((unsigned char)*p))
        p++;
    if (!isdigit((unsigned char)*p) && *p != '.')
        goto out_invalid;
    errno = 0;
    number = strtod(p, &end);
    if (end == p || errno != 0 || !isfinite(number))
        goto out_invalid;
    p = end;
    while (isspace((unsigned char)*p))
        p++;
    while (*p != '\0' && !isspace((unsigned char)*p)) {
        if (n + 1 >= sizeof(unit))
            goto out_invalid;
        unit[n++] = (char)tolower((unsigned char)*p++);
    }
    unit[n] = '\0';
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '\0')
        goto out_invalid;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].unit) != 0)
            continue;
        value = floor(number * units[i].factor);
        if (value < 1.0)
            return wn_error_set(err, WN_ECONFIG, "size \"%s\" is less than one byte", text);
        if (value >= 18446744073709551616.0)
            return wn_error_set(err, WN_ECONFIG, "size \"%s\" is too large", text);
        *bytes = (uint64_t)value;
        return 0;
    }

out_invalid:
    return wn_error_set(err, WN_ECONFIG,
                        "\"%s\" is not a size: write a number with an optional unit "
                        "(B, kB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. \"64MiB\"",
                        text);
}

/* ---- file lists ----------------------------------------------------------- */

static void file_list_clear(struct file_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i].path);
    free(list->items);
    memset(list, 0, sizeof(*list));
}

/* Rewrites path in place without "//", "/./", a leading "./" or a trailing '/'. */
static void normalize_path(char *path)
{
    char *out = path;
    const char *in = path;

    while (in[0] == '.' && in[1] == '/') {
        in += 2;
        while (*in == '/')
            in++;
    }
    while (*in != '\0') {
        if (in[0] == '/' && (out > path && out[-1] == '/')) {
            in++;
            continue;
        }
        if (in[0] == '.' && (in[1] == '/' || in[1] == '\0') && out > path && out[-1] == '/') {
            in += in[1] == '/' ? 2 : 1;
            continue;
        }
        *out++ = *in++;
    }
    while (out > path + 1 && out[-1] == '/')
        out--;
    if (out == path)
        *out++ = '.';
    *out = '\0';
}

/* Appends a copy of path (normalized) with its size. */
static int file_list_add(struct file_list *list, const char *path, uint64_t size,
                         struct wn_error *err)
{
    char *copy;

    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 64;
        struct file_entry *items = realloc(list->items, capacity * sizeof(*items));

        if (items == NULL)
            return wn_error_set(err, WN_ENOMEM, "out of memory listing input files");
        list->items = items;
        list->capacity = capacity;
    }
    copy = strdup(path);
    if (copy == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory listing input files");
    normalize_path(copy);
    list->items[list->count].path = copy;
    list->items[list->count].size = size;
    list->count++;
    return 0;
}

static int has_extension(const struct file_partitioning *fp, const char *name)
{
    size_t n_ext = wn_params_get_list_size(fp->params, "extensions");
    size_t len = strlen(name);

    if (n_ext == 0)
        return 1;
    for (size_t i = 0; i < n_ext; i++) {
        const char *ext = wn_params_get_list_item(fp->params, "extensions", i);
        size_t ext_len = strlen(ext);

        if (ext_len <= len && strcmp(name + len - ext_len, ext) == 0)
            return 1;
    }
    return 0;
}

static char *join_path(const char *dir, const char *name)
{
    size_t dir_len = strlen(dir), name_len = strlen(name);
    int slash = dir_len > 0 && dir[dir_len - 1] != '/';
    char *path = malloc(dir_len + (size_t)slash + name_len + 1);

    if (path == NULL)
        return NULL;
    memcpy(path, dir, dir_len);
    if (slash)
        path[dir_len] = '/';
    memcpy(path + dir_len + slash, name, name_len + 1);
    return path;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the files of directory dir (and of its subdirectories when recursive). */
static int scan_directory(const struct file_partitioning *fp, const char *dir,
                          struct file_list *list, struct wn_error *err)
{
    DIR *d;
    struct dirent *entry;
    char **names = NULL;
    size_t n_names = 0, cap_names = 0;
    int rc = 0;

    d = opendir(dir);
    if (d == NULL)
        return wn_error_set(err, errno == ENOENT ? WN_ENOTFOUND : WN_EIO,
                            "cannot open directory %s: %s", dir, strerror(errno));
    for (;;) {
        errno = 0;
        entry = readdir(d);
        if (entry == NULL) {
            if (errno != 0)
                rc =
                    wn_error_set(err, WN_EIO, "cannot read directory %s: %s", dir, strerror(errno));
            break;
        }
        if (entry->d_name[0] == '.')
            continue;
        if (n_names == cap_names) {
            size_t cap = cap_names ? cap_names * 2 : 32;
            char **grown = realloc(names, cap * sizeof(*grown));

            if (grown == NULL) {
                rc = wn_error_set(err, WN_ENOMEM, "out of memory scanning %s", dir);
                break;
            }
            names = grown;
            cap_names = cap;
        }
        names[n_names] = join_path(dir, entry->d_name);
        if (names[n_names] == NULL) {
            rc = wn_error_set(err, WN_ENOMEM, "out of memory scanning %s", dir);
            break;
        }
        n_names++;
    }
    closedir(d);
    if (rc < 0)
        goto out_free_names;

    /* Sorted so that logs and errors come in a stable order. */
    qsort(names, n_names, sizeof(*names), compare_names);
    for (size_t i = 0; i < n_names && rc == 0; i++) {
        struct stat st;
        const char *path = names[i];
        const char *base = strrchr(path, '/') + 1;

        if (lstat(path, &st) != 0) {
            if (errno == ENOENT)
                continue; /* removed while we scanned */
            rc = wn_error_set(err, WN_EIO, "cannot stat %s: %s", path, strerror(errno));
            break;
        }
        if (S_ISLNK(st.st_mode)) {
            if (stat(path, &st) != 0) {
                wn_log(WN_LOG_WARN, STAGE_NAME, "skipping broken symbolic link %s: %s", path,
                       strerror(errno));
                continue;
            }
            if (S_ISDIR(st.st_mode)) {
                wn_log(WN_LOG_DEBUG, STAGE_NAME, "not following symbolic link to directory %s",
                       path);
                continue;
            }
        }
        if (S_ISDIR(st.st_mode)) {
            if (fp->recursive)
                rc = scan_directory(fp, path, list, err);
        } else if (S_ISREG(st.st_mode) && has_extension(fp, base)) {
            rc = file_list_add(list, path, (uint64_t)st.st_size, err);
        }
    }

out_free_names:
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* Adds what one existing path names: a regular file, or a directory's files. */
static int add_path(const struct file_partitioning *fp, const char *path, struct file_list *list,
                    struct wn_error *err)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return wn_error_set(err, errno == ENOENT ? WN_ENOTFOUND : WN_EIO, "cannot stat %s: %s",
                            path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return scan_directory(fp, path, list, err);
    if (!S_ISREG(st.st_mode))
        return wn_error_set(err, WN_EINVAL, "%s is neither a regular file nor a directory", path);
    return file_list_add(list, path, (uint64_t)st.st_size, err);
}

static int is_glob_pattern(const char *pattern)
{
    return pattern[0] == '~' || strpbrk(pattern, "*?[{") != NULL;
}

static int glob_error(const char *path, int error)
{
    wn_log(WN_LOG_WARN, STAGE_NAME, "cannot read %s while expanding a pattern: %s", path,
           strerror(error));
    return 0; /* go on with the rest */
}

/* Adds what one entry of `paths` names. */
static int expand_pattern(const struct file_partitioning *fp, const char *pattern,
                          struct file_list *list, struct wn_error *err)
{
    glob_t g;
    int flags = 0, grc, rc = 0;

    if (!is_glob_pattern(pattern)) {
        struct stat st;

        if (stat(pattern, &st) != 0 && errno == ENOENT)
            return 0; /* matches nothing: reported by the caller */
        return add_path(fp, pattern, list, err);
    }
#ifdef GLOB_BRACE
    flags |= GLOB_BRACE;
#endif
#ifdef GLOB_TILDE
    flags |= GLOB_TILDE;
#endif
    memset(&g, 0, sizeof(g));
    grc = glob(pattern, flags, glob_error, &g);
    if (grc == GLOB_NOMATCH) {
        rc = 0;
    } else if (grc == GLOB_NOSPACE) {
        rc = wn_error_set(err, WN_ENOMEM, "out of memory expanding pattern \"%s\"", pattern);
    } else if (grc != 0) {
        rc = wn_error_set(err, WN_EIO, "cannot expand pattern \"%s\": read error", pattern);
    } else {
        for (size_t i = 0; i < g.gl_pathc && rc == 0; i++) {
            rc = add_path(fp, g.gl_pathv[i], list, err);
            if (rc == WN_ENOTFOUND)
                rc = 0; /* a broken link or a file removed meanwhile */
        }
    }
    globfree(&g);
    return rc;
}

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const struct file_entry *)a)->path, ((const struct file_entry *)b)->path);
}

/* Formats the configured patterns as ["a", "b"] into buf. */
static void describe_patterns(const struct file_partitioning *fp, char *buf, size_t size)
{
    size_t used = 0, n = wn_params_get_list_size(fp->params, "paths");
    int written;

    written = snprintf(buf, size, "[");
    used = written > 0 ? (size_t)written : 0;
    for (size_t i = 0; i < n && used < size; i++) {
        written = snprintf(buf + used, size - used, "%s\"%s\"", i ? ", " : "",
                           wn_params_get_list_item(fp->params, "paths", i));
        if (written < 0)
            return;
        used += (size_t)written;
    }
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* Lists every input file, sorted and without duplicates. */
static int list_files(const struct file_partitioning *fp, struct file_list *list,
                      struct wn_error *err)
{
    size_t n_patterns = wn_params_get_list_size(fp->params, "paths");
    size_t kept = 0;
    int rc;

    for (size_t i = 0; i < n_patterns; i++) {
        const char *pattern = wn_params_get_list_item(fp->params, "paths", i);
        size_t before = list->count;

        rc = expand_pattern(fp, pattern, list, err);
        if (rc < 0)
            return wn_error_prefix(err, "paths[%zu]", i);
        if (list->count == before)
            wn_log(WN_LOG_WARN, STAGE_NAME, "paths[%zu] \"%s\" matches no file", i, pattern);
    }
    if (list->count == 0) {
        char patterns[768];

        describe_patterns(fp, patterns, sizeof(patterns));
        return wn_error_set(err, WN_ENOTFOUND,
                            "no input file matches paths %s (directories are scanned for "
                            "the extensions given in 'extensions')",
                            patterns);
    }
    qsort(list->items, list->count, sizeof(*list->items), compare_entries);
    for (size_t i = 0; i < list->count; i++) {
        if (kept > 0 && strcmp(list->items[kept - 1].path, list->items[i].path) == 0) {
            free(list->items[i].path);
            continue;
        }
        list->items[kept++] = list->items[i];
    }
    list->count = kept;
    return 0;
}

/* ---- the stage ------------------------------------------------------------ */

static int file_partitioning_create(const struct wn_params *params, void **state,
                                    struct wn_error *err)
{
    struct file_partitioning *fp;
    int rc;

    *state = NULL;
    if (wn_params_has(params, "files_per_group") && wn_params_has(params, "blocksize"))
        return wn_error_set(err, WN_ECONFIG,
                            "give either 'files_per_group' or 'blocksize', not both");
    fp = calloc(1, sizeof(*fp));
    if (fp == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    fp->params = params;
    fp->recursive = wn_params_get_bool(params, "recursive");
    if (wn_params_has(params, "files_per_group"))
        fp->files_per_group = wn_params_get_int(params, "files_per_group");
    if (wn_params_has(params, "blocksize")) {
        rc = io_parse_size(wn_params_get_string(params, "blocksize"), &fp->blocksize, err);
        if (rc < 0) {
            free(fp);
            return wn_error_prefix(err, "blocksize");
        }
    }
    *state = fp;
    return 0;
}

/* Splits the sorted list into groups and emits one child task of trigger per group. */
static int emit_groups(const struct file_partitioning *fp, const struct wn_task *trigger,
                       const struct file_list *list, struct wn_emitter *out, struct wn_error *err)
{
    const char **paths;
    size_t start = 0, group = 0;
    int rc = 0;

    paths = malloc(list->count * sizeof(*paths));
    if (paths == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    for (size_t i = 0; i < list->count; i++)
        paths[i] = list->items[i].path;

    while (start < list->count) {
        size_t end = start + 1;
        struct wn_task *task;

        if (fp->files_per_group > 0) {
            end = list->count - start > (uint64_t)fp->files_per_group
                      ? start + (size_t)fp->files_per_group
                      : list->count;
        } else if (fp->blocksize > 0) {
            uint64_t total = list->items[start].size;

            while (total < fp->blocksize && end < list->count)
                total += list->items[end++].size;
        }
        task = wn_task_new_child(trigger, group);
        if (task == NULL) {
            rc = wn_error_set(err, WN_ENOMEM, "out of memory");
            break;
        }
        rc = wn_task_set_files(task, paths + start, end - start);
        if (rc < 0) {
            wn_task_free(task);
            rc = wn_error_set(err, rc, "cannot store the file group of task %s",
                              wn_task_id(trigger));
            break;
        }
        rc = wn_emit(out, task);
        if (rc < 0) {
            rc = wn_error_set(err, rc, "cannot emit file group %zu of task %s", group,
                              wn_task_id(trigger));
            break;
        }
        group++;
        start = end;
    }
    if (rc == 0)
        wn_log(WN_LOG_INFO, STAGE_NAME, "task %s: %zu file(s) in %zu group(s)", wn_task_id(trigger),
               list->count, group);
    free(paths);
    return rc;
}

static int file_partitioning_process(void *state, struct wn_task **in, size_t n_in,
                                     struct wn_emitter *out, struct wn_error *err)
{
    const struct file_partitioning *fp = state;
    int rc = 0;

    for (size_t i = 0; i < n_in && rc == 0; i++) {
        struct file_list list = { 0 };

        if (in[i] == NULL)
            continue;
        rc = list_files(fp, &list, err);
        if (rc == 0)
            rc = emit_groups(fp, in[i], &list, out, err);
        file_list_clear(&list);
    }
    return rc;
}

static void file_partitioning_destroy(void *state)
{
    free(state);
}

static const struct wn_param_spec file_partitioning_params[] = {
    { "paths", WN_PARAM_STRING_LIST, WN_PARAM_REQUIRED | WN_PARAM_HAS_MIN, NULL, 1, 0, NULL,
      "input files, directories and glob patterns (e.g. \"data/*.jsonl\")" },
    { "files_per_group", WN_PARAM_INT, WN_PARAM_HAS_MIN, NULL, 1, 0, NULL,
      "files per output task (exclusive with blocksize; neither: one file per task)" },
    { "blocksize", WN_PARAM_STRING, 0, NULL, 0, 0, NULL,
      "group consecutive files until their size reaches this, e.g. \"64MiB\", \"1GB\"" },
    { "extensions", WN_PARAM_STRING_LIST, 0, "[\".jsonl\", \".jsonl.zst\"]", 0, 0, NULL,
      "file name endings kept when scanning directories ([] keeps every file)" },
    { "recursive", WN_PARAM_BOOL, 0, "true", 0, 0, NULL,
      "scan subdirectories of the directories given" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

static const struct wn_stage_ops file_partitioning_ops = {
    .version = WN_STAGE_OPS_VERSION,
    .create = file_partitioning_create,
    .process_batch = file_partitioning_process,
    .destroy = file_partitioning_destroy,
};

const struct wn_stage_desc io_file_partitioning_stage = {
    WN_STAGE_HEADER,
    .name = STAGE_NAME,
    .summary = "list input files (paths, directories, globs) and group them into FILES tasks",
    .params = file_partitioning_params,
    .resources = { .cpus = 1.0 },
    .batch_size = 1,
    .kind = WN_STAGE_PLAIN,
    .input_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_EMPTY),
    .output_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_FILES),
    .ops = &file_partitioning_ops,
};
