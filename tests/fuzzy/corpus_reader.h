/*
 * Runs tools/gen_dedup_corpus from the build tree and reads what it wrote
 * (documents by index, pairs, summary), for the generator and quality tests.
 * Include "build_config.h" and fuzzy_harness.h first.
 */
#ifndef WINNOW_TESTS_FUZZY_CORPUS_READER_H
#define WINNOW_TESTS_FUZZY_CORPUS_READER_H

#include <dirent.h>
#include <sys/wait.h>

/* Runs the generator with args (NULL-terminated, after the program name);
 * returns its exit status, or -1 when it could not run.  Its stdout is discarded. */
static inline int corpus_generate(const char *const *args)
{
    const char *argv[64];
    char *program;
    size_t n = 0;
    pid_t pid;
    int status;

    if (asprintf(&program, "%s/tools/gen_dedup_corpus", wn_test_builddir()) < 0)
        return -1;
    argv[n++] = program;
    while (*args != NULL && n < 63)
        argv[n++] = *args++;
    argv[n] = NULL;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL)
            _exit(127);
        execv(program, (char *const *)argv);
        _exit(127);
    }
    free(program);
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The documents of a generated corpus, by index (ids are "d%010u"). */
struct corpus {
    char **text;
    size_t *len;
    size_t count, capacity;
    size_t files;
};

static inline void corpus_free(struct corpus *c)
{
    for (size_t i = 0; i < c->count; i++)
        free(c->text[i]);
    free(c->text);
    free(c->len);
    memset(c, 0, sizeof(*c));
}

/* Index of id "dNNNNNNNNNN", or SIZE_MAX. */
static inline size_t corpus_index(const char *id)
{
    char *end;
    unsigned long long v;

    if (id == NULL || id[0] != 'd' || strlen(id) != 11)
        return SIZE_MAX;
    v = strtoull(id + 1, &end, 10);
    return *end == '\0' ? (size_t)v : SIZE_MAX;
}

/* Index of an id value: "dNNNNNNNNNN", or an integer (--int-ids); SIZE_MAX otherwise. */
static inline size_t corpus_value_index(const json_t *id)
{
    if (json_is_integer(id))
        return json_integer_value(id) >= 0 ? (size_t)json_integer_value(id) : SIZE_MAX;
    return corpus_index(json_string_value(id));
}

/* Reads every dir/docs/part-*.jsonl; 0, or -1 (a message on stderr) on any
 * malformed line or repeated id. */
static inline int corpus_read(const char *dir, struct corpus *c)
{
    char *docs, *path;
    DIR *d;
    struct dirent *e;
    int rc = 0;

    memset(c, 0, sizeof(*c));
    if (asprintf(&docs, "%s/docs", dir) < 0)
        return -1;
    d = opendir(docs);
    if (d == NULL) {
        free(docs);
        return -1;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char *data, *line, *save = NULL;

        if (strncmp(e->d_name, "part-", 5) != 0)
            continue;
        c->files++;
        if (asprintf(&path, "%s/%s", docs, e->d_name) < 0)
            return -1;
        data = harness_read(path, NULL);
        for (line = strtok_r(data, "\n", &save); rc == 0 && line != NULL;
             line = strtok_r(NULL, "\n", &save)) {
            json_error_t jerr;
            json_t *obj = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
            size_t i = corpus_value_index(json_object_get(obj, "id"));
            const char *text = json_string_value(json_object_get(obj, "text"));

            if (obj == NULL || text == NULL || i == SIZE_MAX || json_object_size(obj) != 2) {
                fprintf(stderr, "\n  %s: bad line: %.80s\n", path, line);
                rc = -1;
            } else {
                if (i >= c->capacity) {
                    size_t cap = c->capacity ? c->capacity : 1024;
                    while (cap <= i)
                        cap *= 2;
                    c->text = realloc(c->text, cap * sizeof(*c->text));
                    c->len = realloc(c->len, cap * sizeof(*c->len));
                    memset(c->text + c->capacity, 0, (cap - c->capacity) * sizeof(*c->text));
                    c->capacity = cap;
                }
                if (c->text[i] != NULL) {
                    fprintf(stderr, "\n  %s: id d%010zu repeated\n", path, i);
                    rc = -1;
                } else {
                    c->text[i] = strdup(text);
                    c->len[i] = json_string_length(json_object_get(obj, "text"));
                    c->count = i + 1 > c->count ? i + 1 : c->count;
                }
            }
            json_decref(obj);
        }
        free(data);
        free(path);
    }
    closedir(d);
    free(docs);
    for (size_t i = 0; rc == 0 && i < c->count; i++)
        if (c->text[i] == NULL) {
            fprintf(stderr, "\n  document d%010zu is missing\n", i);
            rc = -1;
        }
    return rc;
}

/* One line of truth/pairs.jsonl. */
struct corpus_pair {
    size_t a, b;
    char kind[16];
    double fraction, jaccard;
};

/* Reads dir/truth/pairs.jsonl into *pairs (malloc'd); returns the count, -1 on error. */
static inline long corpus_read_pairs(const char *dir, struct corpus_pair **pairs)
{
    char *path, *data, *line, *save = NULL;
    long n = 0, cap = 1024;

    *pairs = malloc((size_t)cap * sizeof(**pairs));
    if (asprintf(&path, "%s/truth/pairs.jsonl", dir) < 0)
        return -1;
    data = harness_read(path, NULL);
    free(path);
    if (data == NULL)
        return -1;
    for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *obj = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
        struct corpus_pair *p;

        if (obj == NULL) {
            n = -1;
            break;
        }
        if (n == cap)
            *pairs = realloc(*pairs, (size_t)(cap *= 2) * sizeof(**pairs));
        p = &(*pairs)[n++];
        p->a = corpus_value_index(json_object_get(obj, "a"));
        p->b = corpus_value_index(json_object_get(obj, "b"));
        snprintf(p->kind, sizeof(p->kind), "%s",
                 json_string_value(json_object_get(obj, "kind")) ?: "");
        p->fraction = json_real_value(json_object_get(obj, "edit_fraction"));
        p->jaccard = json_number_value(json_object_get(obj, "jaccard"));
        json_decref(obj);
    }
    free(data);
    return n;
}

/* truth/summary.json (a new reference), or NULL. */
static inline json_t *corpus_summary(const char *dir)
{
    char *path;
    json_t *root;
    json_error_t jerr;

    if (asprintf(&path, "%s/truth/summary.json", dir) < 0)
        return NULL;
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    free(path);
    return root;
}

#endif /* WINNOW_TESTS_FUZZY_CORPUS_READER_H */
