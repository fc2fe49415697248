/*
 * Test harness for the fuzzy stages: the shared one (tests/common/harness.h:
 * run a stage of the plugin compiled into the test, collect what it emits,
 * temporary directories and files) plus a documents table builder and a
 * column as text.  Include "build_config.h" first.
 */
#ifndef WINNOW_TESTS_FUZZY_HARNESS_H
#define WINNOW_TESTS_FUZZY_HARNESS_H

#define HARNESS_TMP_PREFIX "winnow-fuzzy"
#include "harness.h"
#include "minhash_core.h"

/* ---- tables ------------------------------------------------------------------- */

/* A task with string columns "id" (ids[i]) and "text" (texts[i], NULL: null). */
static inline struct wn_task *fz_docs_task(const char *id, const char *const *ids,
                                           const char *const *texts, size_t n)
{
    struct wn_table_builder *b = wn_table_builder_new();
    int rc = 0;

    rc |= wn_table_builder_add_column(b, "id", WN_COLUMN_UTF8, 0) < 0;
    rc |= wn_table_builder_add_column(b, "text", WN_COLUMN_UTF8, 0) < 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc |= wn_table_builder_append_utf8(b, 0, ids[i], strlen(ids[i])) < 0;
        if (texts[i] == NULL)
            rc |= wn_table_builder_append_null(b, 1) < 0;
        else
            rc |= wn_table_builder_append_utf8(b, 1, texts[i], strlen(texts[i])) < 0;
    }
    if (rc != 0) {
        wn_table_builder_free(b);
        return NULL;
    }
    return harness_task_from_builder(id, b);
}

/* Column col of task's table as "a,b,c" (strings or integers), malloc'd. */
static inline char *fz_column_text(const struct wn_task *task, const char *column)
{
    const struct wn_table *t = wn_task_table(task);
    int64_t col = wn_table_column_index(t, column);
    size_t used = 0, capacity = 256;
    char *text = calloc(1, capacity);

    if (t == NULL || col < 0) {
        snprintf(text, capacity, "<no column %s>", column);
        return text;
    }
    for (int64_t row = 0; row < wn_table_num_rows(t); row++) {
        enum wn_column_type type = wn_table_column_type(t, col);
        size_t len = 0;
        const char *s = NULL;
        char number[32];

        if (wn_table_is_null(t, col, row)) {
            s = "null";
            len = 4;
        } else if (type == WN_COLUMN_UTF8 || type == WN_COLUMN_LARGE_UTF8) {
            s = wn_table_get_utf8(t, col, row, &len);
        } else {
            len = (size_t)snprintf(number, sizeof(number), "%lld",
                                   (long long)wn_table_get_int64(t, col, row));
            s = number;
        }
        while (capacity - used < len + 2)
            text = realloc(text, capacity *= 2);
        if (row > 0)
            text[used++] = ',';
        memcpy(text + used, s, len);
        used += len;
        text[used] = '\0';
    }
    return text;
}

/* ---- reference answers ------------------------------------------------------- */

/* A document in an LSH bucket, for the reference bandings the tests compute. */
struct fz_bucket_row {
    uint64_t bucket;
    size_t doc;
};

/* qsort order of fz_bucket_row: by bucket, then document. */
static inline int fz_bucket_compare(const void *a, const void *b)
{
    const struct fz_bucket_row *x = a, *y = b;

    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

/* The root of i in a union-find over parent[] (with path halving). */
static inline size_t fz_uf_find(size_t *parent, size_t i)
{
    while (parent[i] != i)
        i = parent[i] = parent[parent[i]];
    return i;
}

static inline int fz_compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The distinct shingle hashes of text, sorted (malloc'd); *n of them. */
static inline uint64_t *fz_shingle_set(const struct fuzzy_minhash *mh, const char *text, size_t len,
                                       size_t *n)
{
    size_t *ring = malloc(mh->ngram * sizeof(*ring)), got, u = 0;
    uint64_t *set = malloc((len + 2) * sizeof(*set) + FUZZY_MINHASH_CHUNK * sizeof(*set));
    struct fuzzy_shingler sh;

    *n = 0;
    fuzzy_shingler_start(&sh, mh, ring, text, len);
    while ((got = fuzzy_shingler_next(&sh, set + *n, FUZZY_MINHASH_CHUNK)) > 0)
        *n += got;
    qsort(set, *n, sizeof(*set), fz_compare_u64);
    for (size_t i = 0; i < *n; i++)
        if (u == 0 || set[u - 1] != set[i])
            set[u++] = set[i];
    *n = u;
    free(ring);
    return set;
}

/* ---- winnow runs -------------------------------------------------------------- */

/* Prints run_dir/stderr, what a failed `winnow run` said. */
static inline void fz_show_stderr(const char *run_dir)
{
    char *path, *text;

    if (asprintf(&path, "%s/stderr", run_dir) < 0)
        return;
    text = harness_read(path, NULL);
    printf("\n  winnow's stderr:\n%s\n", text ? text : "(none)");
    free(text);
    free(path);
}

#endif /* WINNOW_TESTS_FUZZY_HARNESS_H */
