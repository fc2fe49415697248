/* exact_dedup: one document per distinct text (see exact_dedup.h). */
#include "build_config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <winnow/plugin.h>
#include <winnow/shuffle.h>

#include "exact_dedup.h"
#include "hash128.h"

#define STAGE_NAME "exact_dedup"

struct exact_dedup {
    const char *text_field; /* params: valid for the whole run */
    const char *id_field;
    const char *removed_path; /* NULL: removed ids are not written */
};

/* ---- params and lifecycle --------------------------------------------------- */

static const struct wn_param_spec exact_dedup_params[] = {
    { "text_field", WN_PARAM_STRING, 0, "\"text\"", 0, 0, NULL,
      "the column whose exact duplicates are removed (utf8 or large_utf8)" },
    { "id_field", WN_PARAM_STRING, 0, "\"id\"", 0, 0, NULL,
      "the document id column (utf8 or integer): in a group of duplicates the smallest id stays" },
    { "removed_ids_path", WN_PARAM_STRING, 0, NULL, 0, 0, NULL,
      "file to write the removed ids to, one JSON object per line (optional)" },
    { "partitions", WN_PARAM_INT, WN_PARAM_HAS_MIN, NULL, 1, 0, NULL,
      "shuffle partitions (default: one per input task)" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

static int exact_dedup_setup_on_node(const struct wn_stage_env *env, struct wn_error *err)
{
    const char *path = wn_params_get_string(env->params, "removed_ids_path");
    int fd;

    if (path == NULL || path[0] == '\0')
        return 0;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return wn_error_set(err, WN_EIO, "removed_ids_path: cannot create %s: %s", path,
                            strerror(errno));
    close(fd);
    return 0;
}

static int exact_dedup_create(const struct wn_params *params, void **state, struct wn_error *err)
{
    struct exact_dedup *d = calloc(1, sizeof(*d));
    const char *path = wn_params_get_string(params, "removed_ids_path");

    if (d == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    d->text_field = wn_params_get_string(params, "text_field");
    d->id_field = wn_params_get_string(params, "id_field");
    d->removed_path = path != NULL && path[0] != '\0' ? path : NULL;
    *state = d;
    return 0;
}

static void exact_dedup_destroy(void *state)
{
    free(state);
}

static int exact_dedup_process_batch(void *state, struct wn_task **in, size_t n_in,
                                     struct wn_emitter *out, struct wn_error *err)
{
    (void)state;
    (void)in;
    (void)n_in;
    (void)out;
    return wn_error_set(err, WN_EUNSUPPORTED,
                        STAGE_NAME " is a SHUFFLE stage: it runs through an executor's shuffle "
                                   "(insert and extract hooks), not process_batch; give it "
                                   "\"shuffle\": \"ucx\" and an executor that runs shuffles");
}

/* ---- columns ---------------------------------------------------------------- */

static int is_text(enum wn_column_type type)
{
    return type == WN_COLUMN_UTF8 || type == WN_COLUMN_LARGE_UTF8;
}

static int is_integer(enum wn_column_type type)
{
    return type == WN_COLUMN_INT32 || type == WN_COLUMN_INT64 || type == WN_COLUMN_UINT32 ||
           type == WN_COLUMN_UINT64;
}

/* Finds the text and id columns of t (where describes t in messages). */
static int find_columns(const struct exact_dedup *d, const struct wn_table *t, const char *where,
                        int64_t *text_col, int64_t *id_col, struct wn_error *err)
{
    *text_col = wn_table_column_index(t, d->text_field);
    *id_col = wn_table_column_index(t, d->id_field);
    if (*text_col < 0)
        return wn_error_set(err, WN_ENOTFOUND, "%s: no column '%s' (text_field)", where,
                            d->text_field);
    if (!is_text(wn_table_column_type(t, *text_col)))
        return wn_error_set(err, WN_EDATA, "%s: column '%s' (text_field) is not a string column",
                            where, d->text_field);
    if (*id_col < 0)
        return wn_error_set(err, WN_ENOTFOUND, "%s: no column '%s' (id_field)", where, d->id_field);
    if (!is_text(wn_table_column_type(t, *id_col)) && !is_integer(wn_table_column_type(t, *id_col)))
        return wn_error_set(err, WN_EDATA,
                            "%s: column '%s' (id_field) is neither a string nor an integer column",
                            where, d->id_field);
    return 0;
}

/* ---- insert ------------------------------------------------------------------- */

static int exact_dedup_insert(void *state, struct wn_task **in, size_t n_in,
                              struct wn_shuffle_sink *sink, struct wn_error *err)
{
    struct exact_dedup *d = state;
    uint32_t *partitions = NULL;
    size_t cap = 0;
    int rc = 0;

    for (size_t i = 0; i < n_in; i++) {
        const struct wn_table *t = wn_task_table(in[i]);
        char where[320];
        int64_t text_col, id_col, rows;

        snprintf(where, sizeof(where), "task %s", wn_task_id(in[i]));
        if (t == NULL) {
            rc = wn_error_set(err, WN_EINVAL, "%s: expected a TABLE payload", where);
            break;
        }
        rc = find_columns(d, t, where, &text_col, &id_col, err);
        if (rc < 0)
            break;
        rows = wn_table_num_rows(t);
        if (rows == 0)
            continue;
        if ((size_t)rows > cap) {
            uint32_t *grown = realloc(partitions, (size_t)rows * sizeof(*partitions));

            if (grown == NULL) {
                rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory for %" PRId64 " rows", where,
                                  rows);
                break;
            }
            partitions = grown;
            cap = (size_t)rows;
        }
        for (int64_t r = 0; r < rows; r++) {
            size_t len;
            const char *text = wn_table_get_utf8(t, text_col, r, &len);

            /* Null texts are nobody's duplicates: any partition does. */
            partitions[r] =
                text == NULL ? 0
                             : (uint32_t)(wn_dedup_hash128(text, len, 0).lo % sink->num_partitions);
        }
        rc = wn_shuffle_insert(sink, t, partitions, err);
        if (rc < 0) {
            wn_error_prefix(err, "%s", where);
            break;
        }
    }
    free(partitions);
    return rc;
}

/* ---- extract ------------------------------------------------------------------ */

/* What extract compares rows by. */
struct rows_view {
    const struct wn_table *t;
    int64_t text_col, id_col;
    int id_is_text, id_is_signed;
};

/* Orders rows a and b by id (see exact_dedup.h); ties by row index. */
static int id_compare(const struct rows_view *v, int64_t a, int64_t b)
{
    int null_a = wn_table_is_null(v->t, v->id_col, a);
    int null_b = wn_table_is_null(v->t, v->id_col, b);

    if (null_a != null_b)
        return null_a ? 1 : -1;
    if (!null_a) {
        if (v->id_is_text) {
            size_t la, lb;
            const char *sa = wn_table_get_utf8(v->t, v->id_col, a, &la);
            const char *sb = wn_table_get_utf8(v->t, v->id_col, b, &lb);
            int c = memcmp(sa, sb, la < lb ? la : lb);

            if (c != 0)
                return c < 0 ? -1 : 1;
            if (la != lb)
                return la < lb ? -1 : 1;
        } else if (v->id_is_signed) {
            int64_t x = wn_table_get_int64(v->t, v->id_col, a);
            int64_t y = wn_table_get_int64(v->t, v->id_col, b);

            if (x != y)
                return x < y ? -1 : 1;
        } else {
            uint64_t x = wn_table_get_uint64(v->t, v->id_col, a);
            uint64_t y = wn_table_get_uint64(v->t, v->id_col, b);

            if (x != y)
                return x < y ? -1 : 1;
        }
    }
    return a < b ? -1 : a > b;
}

static int same_text(const struct rows_view *v, int64_t a, int64_t b)
{
    size_t la, lb;
    const char *sa = wn_table_get_utf8(v->t, v->text_col, a, &la);
    const char *sb = wn_table_get_utf8(v->t, v->text_col, b, &lb);

    return la == lb && memcmp(sa, sb, la) == 0;
}

/* The open-addressing table of groups: slot -> row of the group's survivor. */
struct groups {
    int64_t *slots; /* -1: empty */
    size_t mask;
    struct wn_hash128 *hashes; /* per row */
};

/* The slot of row r's group (its survivor's slot, or the empty slot it goes to). */
static size_t group_slot(const struct groups *g, const struct rows_view *v, int64_t r)
{
    const struct wn_hash128 *h = &g->hashes[r];
    size_t s = (size_t)(h->lo ^ (h->hi * 0x9e3779b97f4a7c15ULL)) & g->mask;

    for (;; s = (s + 1) & g->mask) {
        int64_t q = g->slots[s];

        if (q < 0)
            return s;
        if (g->hashes[q].lo == h->lo && g->hashes[q].hi == h->hi && same_text(v, q, r))
            return s;
    }
}

static int row_order(const void *a, const void *b, void *view)
{
    return id_compare(view, *(const int64_t *)a, *(const int64_t *)b);
}

/* Makes room for extra more bytes in *buf. */
static int reserve(char **buf, size_t len, size_t *cap, size_t extra)
{
    size_t grown_cap;
    char *grown;

    if (len + extra <= *cap)
        return 0;
    grown_cap = (len + extra) * 2;
    grown = realloc(*buf, grown_cap);
    if (grown == NULL)
        return WN_ENOMEM;
    *buf = grown;
    *cap = grown_cap;
    return 0;
}

/* Appends the JSON form of row r's id to buf (a JSON string or number). */
static int append_id(char **buf, size_t *len, size_t *cap, const struct rows_view *v, int64_t r)
{
    const char *s = NULL;
    size_t slen = 0;
    char *p;

    if (!wn_table_is_null(v->t, v->id_col, r) && v->id_is_text)
        s = wn_table_get_utf8(v->t, v->id_col, r, &slen);
    if (reserve(buf, *len, cap, 32 + slen * 6) < 0)
        return WN_ENOMEM;
    p = *buf + *len;
    if (wn_table_is_null(v->t, v->id_col, r)) {
        p += sprintf(p, "null");
    } else if (!v->id_is_text && v->id_is_signed) {
        p += sprintf(p, "%" PRId64, wn_table_get_int64(v->t, v->id_col, r));
    } else if (!v->id_is_text) {
        p += sprintf(p, "%" PRIu64, wn_table_get_uint64(v->t, v->id_col, r));
    } else {
        *p++ = '"';
        for (size_t i = 0; i < slen; i++) {
            unsigned char c = (unsigned char)s[i];

            if (c == '"' || c == '\\') {
                *p++ = '\\';
                *p++ = (char)c;
            } else if (c < 0x20) {
                p += sprintf(p, "\\u%04x", c);
            } else {
                *p++ = (char)c;
            }
        }
        *p++ = '"';
    }
    *len = (size_t)(p - *buf);
    return 0;
}

/* Appends the removed rows' lines to the removed ids file in one write (so
 * that partitions written by several threads do not interleave). */
static int write_removed(const struct exact_dedup *d, const struct rows_view *v,
                         const int64_t *removed, const int64_t *kept_by, size_t n,
                         struct wn_error *err)
{
    size_t len = 0, cap = 0;
    char *buf = NULL;
    int rc = 0, fd;

    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = reserve(&buf, len, &cap, 32);
        if (rc == 0) {
            len += (size_t)sprintf(buf + len, "{\"id\": ");
            rc = append_id(&buf, &len, &cap, v, removed[i]);
        }
        if (rc == 0)
            rc = reserve(&buf, len, &cap, 32);
        if (rc == 0) {
            len += (size_t)sprintf(buf + len, ", \"duplicate_of\": ");
            rc = append_id(&buf, &len, &cap, v, kept_by[i]);
        }
        if (rc == 0)
            rc = reserve(&buf, len, &cap, 4);
        if (rc == 0)
            len += (size_t)sprintf(buf + len, "}\n");
    }
    if (rc < 0) {
        rc = wn_error_set(err, WN_ENOMEM, "out of memory listing removed ids");
        goto out;
    }
    fd = open(d->removed_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = wn_error_set(err, WN_EIO, "removed_ids_path: cannot open %s: %s", d->removed_path,
                          strerror(errno));
        goto out;
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, buf + done, len - done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = wn_error_set(err, WN_EIO, "removed_ids_path: writing %s failed: %s",
                              d->removed_path, strerror(errno));
            break;
        }
        done += (size_t)w;
    }
    close(fd);
out:
    free(buf);
    return rc;
}

/* Builds in *out the rows of t listed in order[0..n). */
static int gather_rows(const struct wn_table *t, const int64_t *order, size_t n,
                       struct wn_table *out, struct wn_error *err)
{
    struct wn_table_builder *b = wn_table_builder_new();
    int64_t cols = wn_table_num_columns(t);
    int rc = 0;

    if (b == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    for (int64_t c = 0; c < cols && rc >= 0; c++)
        rc = wn_table_builder_add_column(b, wn_table_column_name(t, c), wn_table_column_type(t, c),
                                         wn_table_column_list_size(t, c));
    for (size_t i = 0; i < n && rc >= 0; i++)
        for (int64_t c = 0; c < cols && rc >= 0; c++)
            rc = wn_table_builder_append_cell(b, (int)c, t, c, order[i]);
    if (rc < 0)
        rc = wn_error_set(err, rc, "building the surviving rows: %s",
                          wn_table_builder_last_error(b));
    else
        rc = wn_table_builder_finish(b, out, err);
    wn_table_builder_free(b);
    return rc;
}

static int exact_dedup_extract(void *state, const struct wn_shuffle_partition *partition,
                               struct wn_table *rows, struct wn_emitter *out, struct wn_error *err)
{
    struct exact_dedup *d = state;
    int64_t n = wn_table_num_rows(rows);
    struct groups g = { NULL, 0, NULL };
    struct rows_view v;
    int64_t *survivors = NULL, *removed = NULL, *winner_of = NULL;
    size_t n_survivors = 0, n_removed = 0, cap;
    struct wn_table survivors_table;
    struct wn_task *task;
    char where[96], id[256], value[32];
    int rc;

    if (n == 0)
        return 0;
    snprintf(where, sizeof(where), "partition %u", partition->index);
    memset(&v, 0, sizeof(v));
    v.t = rows;
    rc = find_columns(d, rows, where, &v.text_col, &v.id_col, err);
    if (rc < 0)
        return rc;
    v.id_is_text = is_text(wn_table_column_type(rows, v.id_col));
    v.id_is_signed = wn_table_column_type(rows, v.id_col) == WN_COLUMN_INT32 ||
                     wn_table_column_type(rows, v.id_col) == WN_COLUMN_INT64;
    for (cap = 16; cap < (size_t)n * 2; cap *= 2)
        ;
    g.mask = cap - 1;
    g.slots = malloc(cap * sizeof(*g.slots));
    g.hashes = malloc((size_t)n * sizeof(*g.hashes));
    survivors = malloc((size_t)n * sizeof(*survivors));
    removed = malloc((size_t)n * sizeof(*removed));
    winner_of = malloc((size_t)n * sizeof(*winner_of));
    if (g.slots == NULL || g.hashes == NULL || survivors == NULL || removed == NULL ||
        winner_of == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory for %" PRId64 " rows", where, n);
        goto out_free;
    }
    memset(g.slots, 0xff, cap * sizeof(*g.slots));
    /* Pass 1: each group's survivor is the row with the smallest id. */
    for (int64_t r = 0; r < n; r++) {
        size_t len, s;
        const char *text = wn_table_get_utf8(rows, v.text_col, r, &len);

        if (text == NULL)
            continue;
        g.hashes[r] = wn_dedup_hash128(text, len, 0);
        s = group_slot(&g, &v, r);
        if (g.slots[s] < 0 || id_compare(&v, r, g.slots[s]) < 0)
            g.slots[s] = r;
    }
    /* Pass 2: every other row of a group is removed in favour of its survivor. */
    for (int64_t r = 0; r < n; r++) {
        int64_t winner;

        if (wn_table_is_null(rows, v.text_col, r)) {
            survivors[n_survivors++] = r;
            continue;
        }
        winner = g.slots[group_slot(&g, &v, r)];
        winner_of[r] = winner;
        if (winner == r)
            survivors[n_survivors++] = r;
        else
            removed[n_removed++] = r;
    }
    qsort_r(survivors, n_survivors, sizeof(*survivors), row_order, &v);
    if (d->removed_path != NULL && n_removed > 0) {
        /* Sorted by removed id, each paired with its survivor. */
        int64_t *kept = malloc(n_removed * sizeof(*kept));

        if (kept == NULL) {
            rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", where);
            goto out_free;
        }
        qsort_r(removed, n_removed, sizeof(*removed), row_order, &v);
        for (size_t i = 0; i < n_removed; i++)
            kept[i] = winner_of[removed[i]];
        rc = write_removed(d, &v, removed, kept, n_removed, err);
        free(kept);
        if (rc < 0)
            goto out_free;
    }
    rc = gather_rows(rows, survivors, n_survivors, &survivors_table, err);
    if (rc < 0) {
        wn_error_prefix(err, "%s", where);
        goto out_free;
    }
    snprintf(id, sizeof(id), "%s_%u", partition->stage_name ? partition->stage_name : STAGE_NAME,
             partition->index);
    task = wn_task_new(id, partition->dataset);
    if (task == NULL) {
        wn_table_release(&survivors_table);
        rc = wn_error_set(err, WN_ENOMEM, "%s: out of memory", where);
        goto out_free;
    }
    snprintf(value, sizeof(value), "%u", partition->index);
    rc = wn_task_meta_set(task, "partition", value);
    snprintf(value, sizeof(value), "%u", partition->num_partitions);
    if (rc == 0)
        rc = wn_task_meta_set(task, "partitions", value);
    snprintf(value, sizeof(value), "%zu", n_removed);
    if (rc == 0)
        rc = wn_task_meta_set(task, "duplicates_removed", value);
    if (rc == 0)
        rc = wn_task_set_table(task, &survivors_table, err);
    else
        wn_table_release(&survivors_table);
    if (rc < 0) {
        wn_task_free(task);
        if (err->code == 0)
            wn_error_set(err, rc, "%s: out of memory", where);
        goto out_free;
    }
    rc = wn_emit(out, task);
    if (rc < 0)
        wn_error_set(err, rc, "%s: the executor refused output task %s", where, id);
out_free:
    free(g.slots);
    free(g.hashes);
    free(survivors);
    free(removed);
    free(winner_of);
    return rc;
}

/* ---- the descriptor ------------------------------------------------------------ */

static const struct wn_stage_ops exact_dedup_ops = {
    .version = WN_STAGE_OPS_VERSION,
    .setup_on_node = exact_dedup_setup_on_node,
    .create = exact_dedup_create,
    .process_batch = exact_dedup_process_batch,
    .destroy = exact_dedup_destroy,
};

static const struct wn_shuffle_stage_ops exact_dedup_shuffle = {
    .version = WN_SHUFFLE_STAGE_OPS_VERSION,
    .partitioning = WN_SHUFFLE_PARTITIONS_PER_TASK,
    .partitions_param = "partitions",
    .insert = exact_dedup_insert,
    .extract = exact_dedup_extract,
};

const struct wn_stage_desc dedup_exact_dedup_stage = {
    WN_STAGE_HEADER,
    STAGE_NAME,
    "removes documents whose text exactly repeats another's (128-bit MurmurHash3, shuffled by "
    "hash), keeping the smallest id",
    exact_dedup_params,
    { 1.0, 0.0, 0.0, 0 },
    1,
    WN_STAGE_SHUFFLE,
    WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    WN_PAYLOAD_BIT(WN_PAYLOAD_TABLE),
    NULL,
    &exact_dedup_ops,
    &exact_dedup_shuffle,
    { NULL },
};
