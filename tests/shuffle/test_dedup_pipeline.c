/*
 * examples/pipelines/exact-dedup.json run by the winnow command over the
 * build tree's plugins (actor_pool, io, ucx, dedup) on a JSONL corpus with
 * known duplicates: exactly the expected documents survive, on 1 and 3
 * shuffle ranks, the removed ids are listed, and a broken shuffle setting
 * fails the run with one clear message.
 */
#include "build_config.h"

#include <stdio.h>

#include "cu.h"

#ifndef HAVE_UCX
int main(void)
{
    puts("SKIP: built without UCX");
    return 77;
}
#else

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILES 4
#define DOCS 1200

static char tmpdir[] = "/tmp/winnow-dedup-XXXXXX";
static int expect_kept[DOCS];
static size_t n_expect_kept;

/* Document i: 1 in 3 has its own text; the others share one of 200 texts
 * (with quotes and a backslash, to go through JSON escaping). */
static void doc_text(size_t i, char *buf, size_t size)
{
    if (i % 3 == 0)
        snprintf(buf, size, "document %zu stands alone", i);
    else
        snprintf(buf, size, "shared \\\"text\\\" \\\\ number %zu", (i * 7) % 200);
}

static int write_corpus(void)
{
    char path[512], text[128], other[128];

    for (int f = 0; f < FILES; f++) {
        FILE *out;

        snprintf(path, sizeof(path), "%s/corpus/part%d.jsonl", tmpdir, f);
        out = fopen(path, "w");
        if (out == NULL)
            return -1;
        for (size_t i = (size_t)f; i < DOCS; i += FILES) {
            doc_text(i, text, sizeof(text));
            fprintf(out, "{\"id\": \"d%05zu\", \"text\": \"%s\"}\n", i, text);
        }
        fclose(out);
    }
    /* The survivor of each text is its smallest id. */
    for (size_t i = 0; i < DOCS; i++) {
        expect_kept[i] = 1;
        doc_text(i, text, sizeof(text));
        for (size_t j = 0; j < i && expect_kept[i]; j++) {
            doc_text(j, other, sizeof(other));
            if (strcmp(text, other) == 0)
                expect_kept[i] = 0;
        }
        n_expect_kept += (size_t)expect_kept[i];
    }
    return 0;
}

/* Runs the winnow command; returns its exit status, output in *log. */
static int run_winnow(char **log, const char *fmt, ...)
{
    char cmd[4096], args[3072], path[512];
    va_list ap;
    FILE *f;
    size_t n;
    int status;

    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(path, sizeof(path), "%s/log.txt", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "%s/cli/winnow run %s/examples/pipelines/exact-dedup.json %s > %s "
             "2>&1",
             getenv("WN_TOP_BUILDDIR"), getenv("WN_TOP_SRCDIR"), args, path);
    status = system(cmd);
    *log = calloc(1, 65536);
    f = fopen(path, "r");
    if (f != NULL) {
        n = fread(*log, 1, 65535, f);
        (*log)[n] = '\0';
        fclose(f);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Counts the lines of every file in dir; marks ids seen in kept[]. */
static size_t read_outputs(const char *dir, int *seen, int *bad)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t lines = 0;

    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[1024], line[512];
        FILE *f;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        f = fopen(path, "r");
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            const char *id = strstr(line, "\"id\":");
            size_t i;

            lines++;
            if (id == NULL || (id = strchr(id + 5, 'd')) == NULL) {
                *bad = 1;
                continue;
            }
            i = strtoul(id + 1, NULL, 10);
            if (i >= DOCS || seen[i] || !expect_kept[i])
                *bad = 1;
            else
                seen[i] = 1;
        }
        if (f != NULL)
            fclose(f);
    }
    if (d != NULL)
        closedir(d);
    return lines;
}

static size_t count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    int c;

    while (f != NULL && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f != NULL)
        fclose(f);
    return n;
}

static void check_run(int ranks)
{
    char out[512], removed[512], *log = NULL;
    int seen[DOCS] = { 0 }, bad = 0, status;

    snprintf(out, sizeof(out), "%s/out%d", tmpdir, ranks);
    snprintf(removed, sizeof(removed), "%s/removed%d.jsonl", tmpdir, ranks);
    status = run_winnow(&log,
                        "--set 'stages.0.params.paths=[\"%s/corpus\"]' "
                        "--set stages.2.params.removed_ids_path=%s --set stages.3.params.path=%s "
                        "--set stages.2.actors=%d --set executor.cpus=8 "
                        "--set 'stages.2.shuffle_params.spill_dir=\"%s\"' "
                        "--set stages.2.shuffle_params.memory_limit=4096",
                        tmpdir, removed, out, ranks, tmpdir);
    CU_ASSERT_EQUAL(status, 0);
    if (status != 0)
        fprintf(stderr, "%s\n", log);
    CU_ASSERT_EQUAL(read_outputs(out, seen, &bad), n_expect_kept);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(count_lines(removed), DOCS - n_expect_kept);
    /* The run summary names the stage with its rank count. */
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "exact_dedup"));
    free(log);
}

static void test_the_example_keeps_exactly_the_expected_documents_on_one_rank(void)
{
    check_run(1);
}

static void test_the_example_keeps_exactly_the_expected_documents_on_three_ranks(void)
{
    check_run(3);
}

static void test_a_missing_spill_directory_fails_the_run_with_one_clear_message(void)
{
    char *log = NULL;
    int status = run_winnow(&log,
                            "--set 'stages.0.params.paths=[\"%s/corpus\"]' "
                            "--set stages.2.params.removed_ids_path=%s/r.jsonl "
                            "--set stages.3.params.path=%s/never "
                            "--set 'stages.2.shuffle_params.spill_dir=\"/nonexistent/spill\"'",
                            tmpdir, tmpdir, tmpdir);

    CU_ASSERT_NOT_EQUAL(status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "stage 'exact_dedup'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "cannot make a spill directory under /nonexistent/spill"));
    if (strstr(log, "/nonexistent/spill") == NULL)
        fprintf(stderr, "%s\n", log);
    free(log);
}

static void test_an_unknown_shuffle_param_is_refused_before_running(void)
{
    char *log = NULL;
    int status = run_winnow(&log, "--set stages.2.shuffle_params.memory_limits=5");

    CU_ASSERT_NOT_EQUAL(status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "stages[2].shuffle_params.memory_limits"));
    free(log);
}

static int suite_init(void)
{
    char path[512];

    if (mkdtemp(tmpdir) == NULL)
        return 1;
    snprintf(path, sizeof(path), "%s/corpus", tmpdir);
    if (mkdir(path, 0700) != 0)
        return 1;
    return write_corpus();
}

static int suite_cleanup(void)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : 1;
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "the example keeps exactly the expected documents on one rank",
          test_the_example_keeps_exactly_the_expected_documents_on_one_rank },
        { "the example keeps exactly the expected documents on three ranks",
          test_the_example_keeps_exactly_the_expected_documents_on_three_ranks },
        { "a missing spill directory fails the run with one clear message",
          test_a_missing_spill_directory_fails_the_run_with_one_clear_message },
        { "an unknown shuffle param is refused before running",
          test_an_unknown_shuffle_param_is_refused_before_running },
        { NULL, NULL }
    };

    return wn_test_run_suite("exact-dedup pipeline", tests, suite_init, suite_cleanup);
}
#endif
