/*
 * remove_duplicates: TABLE -> TABLE.  Drops the documents that the component
 * labels (labels.h: the connected_components output, loaded from
 * labels_path) mark as duplicates: per group only the document with the
 * smallest id stays.  Documents without a label, and rows with a null id,
 * pass.  Every column of a kept row is kept.
 *
 * With removed_ids_path, the removed rows of each task are written to
 * <removed_ids_path>/<task id>.jsonl, one {"id": ..., "group": ...,
 * "kept_id": ...} per line (a temporary file renamed into place, so readers
 * never see half a file); nothing is written for a task that removes nothing.
 * The count of removed rows goes into the metadata key "<stage>.removed".
 *
 * The labels are loaded once per process: setup_on_node loads them (so a bad
 * labels file fails the run before any actor starts) and every actor shares
 * that copy (labels.h).
 */
#include "build_config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <winnow/log.h>
#include <winnow/plugin.h>

#include "fuzzy_common.h"
#include "labels.h"
#include "remove_duplicates.h"

#define STAGE_NAME "remove_duplicates"

struct remove_duplicates {
    const char *id_field;
    const char *removed_dir; /* NULL: removed ids are not written */
    char *stage_name;
    struct fuzzy_labels *labels;
    struct fuzzy_arena keys;  /* scratch: one id key */
    struct fuzzy_arena lines; /* scratch: the removed-ids file */
    uint8_t *keep;
    size_t keep_capacity;
};

/* Makes dir and its missing parents. */
static int make_dirs(const char *dir, struct wn_error *err)
{
    char *path;
    int rc = 0;

    if (dir[0] == '\0')
        return wn_error_set(err, WN_ECONFIG, "%s: removed_ids_path is empty; name a directory",
                            STAGE_NAME);
    path = strdup(dir);
    if (path == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    for (char *p = path + 1; rc == 0; p++) {
        char c = *p;

        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            rc = wn_error_set(err, WN_EIO, "%s: removed_ids_path %s: cannot create %s: %s",
                              STAGE_NAME, dir, path, strerror(errno));
        *p = c;
        if (c == '\0')
            break;
    }
    free(path);
    return rc;
}

static int remove_duplicates_setup_on_node(const struct wn_stage_env *env, struct wn_error *err)
{
    const struct wn_params *params = env->params;
    struct fuzzy_labels labels;
    int rc;

    if (wn_params_has(params, "removed_ids_path")) {
        rc = make_dirs(wn_params_get_string(params, "removed_ids_path"), err);
        if (rc < 0)
            return rc;
    }
    rc = fuzzy_labels_preload(wn_params_get_string(params, "labels_path"),
                              wn_params_get_string(params, "label_id_field"),
                              wn_params_get_string(params, "label_group_field"), &labels, err);
    if (rc < 0)
        return wn_error_prefix(err, "%s", env->stage_name ? env->stage_name : STAGE_NAME);
    wn_log(WN_LOG_INFO, STAGE_NAME, "%" PRIu64 " labels in %zu groups from %" PRIu64 " file(s)",
           labels.n_labels, labels.n_groups, labels.n_files);
    if (labels.n_files == 0)
        wn_log(WN_LOG_WARN, STAGE_NAME, "labels_path %s holds no .jsonl file: nothing is removed",
               wn_params_get_string(params, "labels_path"));
    return 0;
}

static void remove_duplicates_destroy(void *state)
{
    struct remove_duplicates *st = state;

    if (st == NULL)
        return;
    fuzzy_labels_release(st->labels);
    fuzzy_arena_clear(&st->keys);
    fuzzy_arena_clear(&st->lines);
    free(st->keep);
    free(st->stage_name);
    free(st);
}

static int remove_duplicates_create(const struct wn_params *params, void **state,
                                    struct wn_error *err)
{
    struct remove_duplicates *st = calloc(1, sizeof(*st));
    int rc;

    *state = NULL;
    if (st == NULL || (st->stage_name = strdup(STAGE_NAME)) == NULL) {
        free(st);
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory", STAGE_NAME);
    }
    st->id_field = wn_params_get_string(params, "id_field");
    if (wn_params_has(params, "removed_ids_path")) {
        st->removed_dir = wn_params_get_string(params, "removed_ids_path");
        rc = make_dirs(st->removed_dir, err);
        if (rc < 0)
            goto out_destroy;
    }
    rc = fuzzy_labels_acquire(wn_params_get_string(params, "labels_path"),
                              wn_params_get_string(params, "label_id_field"),
                              wn_params_get_string(params, "label_group_field"), &st->labels, err);
    if (rc < 0) {
        wn_error_prefix(err, "%s", STAGE_NAME);
        goto out_destroy;
    }
    *state = st;
    return 0;

out_destroy:
    remove_duplicates_destroy(st);
    return rc;
}

static int remove_duplicates_setup(void *state, const struct wn_worker *worker,
                                   struct wn_error *err)
{
    struct remove_duplicates *st = state;

    return fuzzy_take_worker_name(&st->stage_name, worker, STAGE_NAME, err);
}

/* Appends {"id": .., "group": .., "kept_id": ..} for one removed row. */
static int add_removed_line(struct remove_duplicates *st, const unsigned char *key, size_t len,
                            const struct fuzzy_group *g)
{
    const unsigned char *keys = st->labels->keys.data;

    if (fuzzy_json_append_raw(&st->lines, "{\"id\": ") < 0 ||
        fuzzy_json_append_key(&st->lines, key, len) < 0 ||
        fuzzy_json_append_raw(&st->lines, ", \"group\": ") < 0 ||
        fuzzy_json_append_key(&st->lines, keys + g->key_offset, g->key_len) < 0 ||
        fuzzy_json_append_raw(&st->lines, ", \"kept_id\": ") < 0 ||
        fuzzy_json_append_key(&st->lines, keys + g->min_offset, g->min_len) < 0 ||
        fuzzy_json_append_raw(&st->lines, "}\n") < 0)
        return WN_ENOMEM;
    return 0;
}

/* Writes st->lines to <removed_dir>/<task id>.jsonl through a temporary file. */
static int write_removed(struct remove_duplicates *st, const struct wn_task *task,
                         struct wn_error *err)
{
    char *name, *final_path = NULL, *temp_path = NULL;
    size_t done = 0;
    int fd = -1, rc = 0;

    name = strdup(wn_task_id(task));
    if (name == NULL)
        return wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
    for (char *p = name; *p != '\0'; p++)
        if (*p == '/' || (p == name && *p == '.'))
            *p = '_';
    if (asprintf(&final_path, "%s/%s.jsonl", st->removed_dir, name) < 0 ||
        asprintf(&temp_path, "%s/.%s.jsonl.tmp-%ld-%ld", st->removed_dir, name, (long)getpid(),
                 (long)syscall(SYS_gettid)) < 0) {
        final_path = temp_path = NULL;
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
        goto out_free;
    }
    fd = open(temp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        rc = wn_error_set(err, WN_EIO, "%s: task %s: cannot create %s: %s", st->stage_name,
                          wn_task_id(task), temp_path, strerror(errno));
        goto out_free;
    }
    while (done < st->lines.len) {
        ssize_t n = write(fd, st->lines.data + done, st->lines.len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = wn_error_set(err, WN_EIO, "%s: task %s: cannot write %s: %s", st->stage_name,
                              wn_task_id(task), temp_path, strerror(errno));
            goto out_unlink;
        }
        done += (size_t)n;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = wn_error_set(err, WN_EIO, "%s: task %s: cannot write %s: %s", st->stage_name,
                          wn_task_id(task), temp_path, strerror(errno));
        goto out_unlink;
    }
    fd = -1;
    if (rename(temp_path, final_path) != 0) {
        rc = wn_error_set(err, WN_EIO, "%s: task %s: cannot rename %s to %s: %s", st->stage_name,
                          wn_task_id(task), temp_path, final_path, strerror(errno));
        goto out_unlink;
    }
    goto out_free;

out_unlink:
    if (fd >= 0)
        close(fd);
    unlink(temp_path);
out_free:
    free(temp_path);
    free(final_path);
    free(name);
    return rc;
}

/* Decides every row of one task: keep flags in st->keep, removed lines in
 * st->lines; *removed gets the count. */
static int decide(struct remove_duplicates *st, const struct wn_task *task, int64_t *removed,
                  struct wn_error *err)
{
    const struct wn_table *table = wn_task_table(task);
    int64_t col, rows = wn_table_num_rows(table);
    unsigned kind_bit;
    int kind, rc;

    *removed = 0;
    st->lines.len = 0;
    rc = fuzzy_find_column(st->stage_name, task, st->id_field, "id_field", &col, err);
    if (rc < 0)
        return rc;
    kind = fuzzy_id_kind(st->stage_name, task, col, err);
    if (kind < 0)
        return kind;
    kind_bit = kind == FUZZY_KEY_INTEGER ? FUZZY_LABELS_INTEGER_IDS : FUZZY_LABELS_STRING_IDS;
    if (st->labels->kinds != 0 && (st->labels->kinds & kind_bit) == 0)
        return wn_error_set(
            err, WN_EINVAL,
            "%s: task %s: column \"%s\" holds %s ids but the labels hold %s ids, "
            "so no document could match; label the same ids the documents have",
            st->stage_name, wn_task_id(task), st->id_field, fuzzy_id_kind_name(kind),
            fuzzy_id_kind_name(kind == FUZZY_KEY_INTEGER ? FUZZY_KEY_STRING : FUZZY_KEY_INTEGER));
    if ((size_t)rows > st->keep_capacity) {
        uint8_t *grown = realloc(st->keep, (size_t)rows);

        if (grown == NULL)
            return wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
        st->keep = grown;
        st->keep_capacity = (size_t)rows;
    }
    for (int64_t row = 0; row < rows; row++) {
        const struct fuzzy_group *g = NULL;
        size_t len;

        st->keys.len = 0;
        rc = fuzzy_arena_add_id_key(&st->keys, table, col, row, kind, &len);
        if (rc < 0)
            return wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
        st->keep[row] = 1;
        if (rc == 1)
            continue; /* a null id */
        if (fuzzy_labels_lookup(st->labels, st->keys.data, len, &g) != FUZZY_LABEL_DUPLICATE)
            continue;
        st->keep[row] = 0;
        (*removed)++;
        if (st->removed_dir != NULL && add_removed_line(st, st->keys.data, len, g) < 0)
            return wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
    }
    return 0;
}

static int remove_duplicates_process(void *state, struct wn_task **in, size_t n_in,
                                     struct wn_emitter *out, struct wn_error *err)
{
    struct remove_duplicates *st = state;
    int rc = 0;

    /* Tasks are independent: each is decided, written and emitted in turn.  A
     * failure leaves that task and the ones after it in place. */
    for (size_t i = 0; i < n_in && rc == 0; i++) {
        struct wn_table filtered = { 0 };
        struct wn_task *task;
        int64_t removed;
        char key[256], count[32];

        if (in[i] == NULL)
            continue;
        rc = decide(st, in[i], &removed, err);
        if (rc == 0 && removed > 0) {
            rc = wn_table_filter(wn_task_table(in[i]), st->keep, &filtered, err);
            if (rc < 0)
                wn_error_prefix(err, "%s: task %s", st->stage_name, wn_task_id(in[i]));
        }
        if (rc == 0 && removed > 0 && st->removed_dir != NULL)
            rc = write_removed(st, in[i], err);
        if (rc < 0) {
            wn_table_release(&filtered);
            break;
        }
        task = wn_task_take(&in[i]);
        if (removed > 0)
            rc = wn_task_set_table(task, &filtered, err);
        snprintf(key, sizeof(key), "%s.removed", st->stage_name);
        snprintf(count, sizeof(count), "%" PRId64, removed);
        if (rc == 0 && wn_task_meta_set(task, key, count) < 0)
            rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", st->stage_name);
        if (rc < 0) {
            wn_task_free(task);
            break;
        }
        rc = wn_emit(out, task);
        if (rc < 0)
            rc = wn_error_set(err, rc, "%s: cannot emit a task", st->stage_name);
    }
    return rc;
}

static const struct wn_param_spec remove_duplicates_params[] = {
    { "labels_path", WN_PARAM_STRING, WN_PARAM_REQUIRED, NULL, 0, 0, NULL,
      "the component labels: a JSONL file or a directory of them (connected_components' "
      "output)" },
    { "id_field", WN_PARAM_STRING, 0, "\"id\"", 0, 0, NULL, "the document id column" },
    { "label_id_field", WN_PARAM_STRING, 0, "\"id\"", 0, 0, NULL,
      "the field of a label line holding the document id" },
    { "label_group_field", WN_PARAM_STRING, 0, "\"group_id\"", 0, 0, NULL,
      "the field of a label line holding the group (component) id" },
    { "removed_ids_path", WN_PARAM_STRING, 0, NULL, 0, 0, NULL,
      "a directory to write the removed ids to, one <task id>.jsonl per task (default: none)" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

static const struct wn_stage_ops remove_duplicates_ops = {
    .version = WN_STAGE_OPS_VERSION,
    .setup_on_node = remove_duplicates_setup_on_node,
    .create = remove_duplicates_create,
    .setup = remove_duplicates_setup,
    .process_batch = remove_duplicates_process,
    .destroy = remove_duplicates_destroy,
};

const struct wn_stage_desc fuzzy_remove_duplicates_stage = {
    WN_STAGE_HEADER,
    .name = STAGE_NAME,
    .summary = "drops all but the smallest id of every group of duplicates",
    .params = remove_duplicates_params,
    .resources = { .cpus = 1.0 },
    .batch_size = 1,
    .kind = WN_STAGE_PLAIN,
    .input_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .output_payloads = WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    .required_columns = NULL,
    .ops = &remove_duplicates_ops,
};
