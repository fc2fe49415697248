/*
 * JSON Lines reading and writing throughput on one thread (DESIGN.md §9),
 * over a corpus from tools/gen_dedup_corpus, all measured in the same run:
 *   lines         io_line_reader alone (read(2) and the newline search)
 *   jansson       lines + json_loadb and json_decref per line, the parse the
 *                 reader did before json_scan.c (the baseline)
 *   reader        the jsonl_reader stage, fields ["id", "text"] (a table per file)
 *   reader all    the jsonl_reader stage, every field
 *   writer        the jsonl_writer stage writing those tables back (MB written)
 *
 *   bench/jsonl [-m MEGABYTES] [-r REPEATS] [-c CORPUS_DOCS_DIR] [-n IGNORED]
 *
 * -m: corpus size to generate (default 64); -c: read an existing corpus's
 * docs/ directory instead; -r: runs per measurement, the best is reported
 * (default 3); -n is accepted and ignored (bench/run passes options to every
 * benchmark).
 */
#include "build_config.h"

#include <dirent.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <winnow/backend.h>
#include <winnow/plugin.h>

#include "line_reader.h"
#include "params_internal.h"

struct files {
    char **paths;
    size_t count;
    uint64_t bytes;
};

/* Collects emitted tasks. */
struct sink {
    struct wn_emitter emitter; /* first */
    struct wn_task **tasks;
    size_t count, capacity;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int sink_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct sink *s = (struct sink *)self;

    if (s->count == s->capacity) {
        size_t capacity = s->capacity ? s->capacity * 2 : 16;
        struct wn_task **tasks = realloc(s->tasks, capacity * sizeof(*tasks));

        if (tasks == NULL) {
            wn_task_free(task);
            return WN_ENOMEM;
        }
        s->tasks = tasks;
        s->capacity = capacity;
    }
    s->tasks[s->count++] = task;
    return 0;
}

static void sink_clear(struct sink *s)
{
    for (size_t i = 0; i < s->count; i++)
        wn_task_free(s->tasks[i]);
    s->count = 0;
}

static int generate(const char *builddir, const char *out, unsigned megabytes)
{
    char program[4096], bytes[32];
    pid_t pid;
    int status;

    snprintf(program, sizeof(program), "%s/tools/gen_dedup_corpus", builddir);
    snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)megabytes << 20);
    pid = fork();
    if (pid == 0) {
        execl(program, program, "--bytes", bytes, "--files", "4", "--seed", "1", "--int-ids",
              "--out", out, (char *)NULL);
        perror(program);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return -1;
    return 0;
}

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.jsonl files of dir, sorted. */
static int list_files(const char *dir, struct files *f)
{
    DIR *dh = opendir(dir);
    struct dirent *e;

    if (dh == NULL) {
        perror(dir);
        return -1;
    }
    while ((e = readdir(dh)) != NULL) {
        char *path;
        FILE *fh;

        if (e->d_name[0] == '.' || strstr(e->d_name, ".jsonl") == NULL)
            continue;
        if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
            return -1;
        fh = fopen(path, "rb");
        if (fh != NULL) {
            fseek(fh, 0, SEEK_END);
            f->bytes += (uint64_t)ftell(fh);
            fclose(fh);
        }
        f->paths = realloc(f->paths, (f->count + 1) * sizeof(*f->paths));
        f->paths[f->count++] = path;
    }
    closedir(dh);
    qsort(f->paths, f->count, sizeof(*f->paths), compare_paths);
    return f->count > 0 ? 0 : -1;
}

static const struct wn_stage_desc *stage(const char *name)
{
    const struct wn_plugin *plugin = winnow_plugin_v1();

    for (const struct wn_stage_desc *const *s = plugin->stages; s != NULL && *s != NULL; s++)
        if (strcmp((*s)->name, name) == 0)
            return *s;
    return NULL;
}

/* Runs stage `name` with params_json over in[0..n) (freed), collecting into out. */
static int run_stage(const char *name, const char *params_json, struct wn_task **in, size_t n,
                     struct sink *out)
{
    const struct wn_stage_desc *desc = stage(name);
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params = NULL;
    json_t *given = json_loads(params_json, 0, NULL);
    void *state = NULL;
    int rc;

    rc = wn_params_new(desc->params, given, "params", &params, &err);
    json_decref(given);
    if (rc == 0)
        rc = desc->ops->create(params, &state, &err);
    if (rc == 0)
        rc = desc->ops->process_batch(state, in, n, &out->emitter, &err);
    if (state != NULL)
        desc->ops->destroy(state);
    wn_params_free(params);
    for (size_t i = 0; i < n; i++)
        wn_task_free(in[i]);
    if (rc < 0)
        fprintf(stderr, "jsonl: %s: %s\n", name, err.message);
    return rc;
}

/* FILES tasks, one per file. */
static struct wn_task **file_tasks(const struct files *f)
{
    struct wn_task **tasks = calloc(f->count, sizeof(*tasks));

    for (size_t i = 0; i < f->count; i++) {
        char id[32];

        snprintf(id, sizeof(id), "part%zu", i);
        tasks[i] = wn_task_new(id, "bench");
        wn_task_set_files(tasks[i], (const char *const *)&f->paths[i], 1);
    }
    return tasks;
}

/* Seconds to split every file into lines. */
static double time_lines(const struct files *f, int parse)
{
    struct wn_error err = WN_ERROR_INIT;
    uint64_t sink = 0;
    double t0 = now();

    for (size_t i = 0; i < f->count; i++) {
        struct io_line_reader *r;
        const char *line;
        size_t len;
        uint64_t number;

        if (io_line_reader_open(&r, f->paths[i], (size_t)1 << 26, &err) < 0) {
            fprintf(stderr, "jsonl: %s\n", err.message);
            exit(1);
        }
        while (io_line_reader_next(r, &line, &len, &number, &err) == IO_LINE_OK) {
            if (parse) {
                json_t *obj = json_loadb(
                    line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);

                sink += json_string_length(json_object_get(obj, "text"));
                sink += (uint64_t)json_integer_value(json_object_get(obj, "id"));
                json_decref(obj);
            } else {
                sink += len;
            }
        }
        io_line_reader_close(r);
    }
    t0 = now() - t0;
    if (sink == 42)
        printf(" ");
    return t0;
}

/* Seconds for jsonl_reader over every file; *tables gets the tables when not NULL. */
static double time_reader(const struct files *f, const char *params, struct sink *tables)
{
    struct sink out = { .emitter = { .emit = sink_emit } };
    struct wn_task **in = file_tasks(f);
    double t0 = now();

    if (run_stage("jsonl_reader", params, in, f->count, &out) < 0)
        exit(1);
    t0 = now() - t0;
    free(in);
    if (tables != NULL) {
        sink_clear(tables);
        free(tables->tasks);
        *tables = out;
    } else {
        sink_clear(&out);
        free(out.tasks);
    }
    return t0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Seconds for jsonl_writer over the tables (consumed); *written gets the bytes written. */
static double time_writer(struct sink *tables, const char *dir, uint64_t *written)
{
    struct sink out = { .emitter = { .emit = sink_emit } };
    char *params;
    double t0;

    if (asprintf(&params, "{\"path\": \"%s\"}", dir) < 0)
        exit(1);
    t0 = now();
    if (run_stage("jsonl_writer", params, tables->tasks, tables->count, &out) < 0)
        exit(1);
    tables->count = 0;
    t0 = now() - t0;
    *written = 0;
    for (size_t i = 0; i < out.count; i++) {
        FILE *fh = fopen(wn_task_file(out.tasks[i], 0), "rb");

        if (fh != NULL) {
            fseek(fh, 0, SEEK_END);
            *written += (uint64_t)ftell(fh);
            fclose(fh);
        }
        remove(wn_task_file(out.tasks[i], 0));
    }
    sink_clear(&out);
    free(out.tasks);
    free(params);
    return t0;
}

int main(int argc, char **argv)
{
    const char *builddir = getenv("WN_TOP_BUILDDIR") ? getenv("WN_TOP_BUILDDIR") : ".";
    const char *corpus = NULL;
    unsigned megabytes = 64;
    int repeats = 3, c;
    char tmp[] = "/tmp/winnow-bench-jsonl-XXXXXX", dir[4096], out_dir[4096 + 8];
    struct files f = { 0 };
    struct sink tables = { .emitter = { .emit = sink_emit } };
    double best[5] = { 1e30, 1e30, 1e30, 1e30, 1e30 }, mb;
    uint64_t written = 0;
    static const char *const names[] = { "lines", "jansson", "reader", "reader all", "writer" };

    while ((c = getopt(argc, argv, "m:r:c:n:")) != -1) {
        switch (c) {
        case 'm': megabytes = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'r': repeats = atoi(optarg); break;
        case 'c': corpus = optarg; break;
        case 'n': break;
        default:
            fprintf(stderr, "usage: bench/jsonl [-m MEGABYTES] [-r REPEATS] [-c DOCS_DIR]\n");
            return 2;
        }
    }
    if (repeats < 1 || megabytes < 1) {
        fprintf(stderr, "jsonl: -m and -r want positive numbers\n");
        return 2;
    }
    if (mkdtemp(tmp) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    if (corpus == NULL) {
        snprintf(dir, sizeof(dir), "%s/corpus", tmp);
        if (generate(builddir, dir, megabytes) != 0) {
            fprintf(stderr, "jsonl: cannot generate a corpus (set WN_TOP_BUILDDIR?)\n");
            return 1;
        }
        strcat(dir, "/docs");
        corpus = dir;
    }
    if (list_files(corpus, &f) != 0) {
        fprintf(stderr, "jsonl: no *.jsonl files in %s\n", corpus);
        return 1;
    }
    snprintf(out_dir, sizeof(out_dir), "%s/out", tmp);
    /* Interleaved, so that load changes hit every measurement alike. */
    for (int r = 0; r < repeats; r++) {
        double t[5];

        t[0] = time_lines(&f, 0);
        t[1] = time_lines(&f, 1);
        t[2] = time_reader(&f, "{\"fields\": [\"id\", \"text\"]}", &tables);
        t[3] = time_reader(&f, "{}", NULL);
        t[4] = time_writer(&tables, out_dir, &written);
        for (int i = 0; i < 5; i++)
            best[i] = t[i] < best[i] ? t[i] : best[i];
    }
    mb = (double)f.bytes / 1048576.0;
    printf("corpus: %zu files, %.1f MiB; best of %d, one thread\n", f.count, mb, repeats);
    for (int i = 0; i < 5; i++) {
        double bytes = i == 4 ? (double)written / 1048576.0 : mb;

        printf("  %-12s %8.3f s %9.1f MiB/s", names[i], best[i], bytes / best[i]);
        if (i == 2)
            printf("   (%.1fx jansson)", best[1] / best[2]);
        printf("\n");
    }
    sink_clear(&tables);
    free(tables.tasks);
    for (size_t i = 0; i < f.count; i++)
        free(f.paths[i]);
    free(f.paths);
    nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
