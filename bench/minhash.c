/*
 * MinHash throughput per core (DESIGN.md §9): signatures with the default
 * settings (24-gram shingles, 20 x 13 = 260 hash functions) over a corpus from
 * tools/gen_dedup_corpus, on one thread, for every kernel this CPU runs; beside
 * them, the shingling and shingle hash alone (the part no kernel speeds up),
 * all measured in the same run so the ratios hold on a noisy machine.  Times
 * are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so MB/s are per busy
 * core and time spent waiting for a core on a shared machine is not counted.
 *
 *   bench/minhash [-m MEGABYTES] [-r REPEATS] [-c CORPUS_DOCS_DIR] [-n IGNORED]
 *
 * -m: corpus size to generate (default 64); -c: read an existing corpus's
 * docs/ directory instead; -r: runs per measurement, the best is reported
 * (default 3); -n is accepted and ignored (bench/run passes options to every
 * benchmark).
 */
#include "build_config.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "minhash_core.h"

struct docs {
    char **text;
    size_t *len;
    size_t count, capacity;
    size_t bytes;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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
        execl(program, program, "--bytes", bytes, "--files", "4", "--seed", "1", "--out", out,
              (char *)NULL);
        perror(program);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return -1;
    return 0;
}

/* Reads the "text" of every line of every *.jsonl file in dir. */
static int load(const char *dir, struct docs *d)
{
    DIR *dh = opendir(dir);
    struct dirent *e;

    if (dh == NULL) {
        perror(dir);
        return -1;
    }
    while ((e = readdir(dh)) != NULL) {
        char path[4096 + 256], *line = NULL;
        size_t cap = 0;
        ssize_t n;
        FILE *f;

        if (e->d_name[0] == '.' || strstr(e->d_name, ".jsonl") == NULL)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        while ((n = getline(&line, &cap, f)) > 0) {
            json_error_t jerr;
            json_t *obj = json_loadb(line, (size_t)n, 0, &jerr);
            json_t *text = json_object_get(obj, "text");

            if (json_is_string(text)) {
                if (d->count == d->capacity) {
                    d->capacity = d->capacity ? d->capacity * 2 : 1024;
                    d->text = realloc(d->text, d->capacity * sizeof(*d->text));
                    d->len = realloc(d->len, d->capacity * sizeof(*d->len));
                }
                d->len[d->count] = json_string_length(text);
                d->text[d->count] = malloc(d->len[d->count] + 1);
                memcpy(d->text[d->count], json_string_value(text), d->len[d->count] + 1);
                d->bytes += d->len[d->count];
                d->count++;
            }
            json_decref(obj);
        }
        free(line);
        fclose(f);
    }
    closedir(dh);
    return d->count > 0 ? 0 : -1;
}

/* Seconds for the signatures of every document with kernel k (best of repeats). */
static double time_signatures(const struct docs *d, enum fuzzy_minhash_kernel k, int scan,
                              int repeats, uint32_t *check)
{
    struct fuzzy_minhash mh;
    struct fuzzy_minhash_scratch scratch;
    uint32_t sig[260];
    double best = 1e30;

    if (fuzzy_minhash_init(&mh, 24, 260, 42, k) != 0 ||
        fuzzy_minhash_scratch_init(&scratch, &mh) != 0) {
        fprintf(stderr, "minhash: cannot set up the %s kernel\n", fuzzy_minhash_kernel_name(k));
        exit(1);
    }
    if (!scan)
        mh.scan_min = UINT32_MAX; /* every chunk through the kernel */
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        uint32_t x = 0;

        for (size_t i = 0; i < d->count; i++) {
            fuzzy_minhash_signature(&mh, &scratch, d->text[i], d->len[i], sig);
            x ^= sig[i % 260] + (uint32_t)i;
        }
        t0 = now() - t0;
        best = t0 < best ? t0 : best;
        *check = x;
    }
    fuzzy_minhash_scratch_clear(&scratch);
    fuzzy_minhash_clear(&mh);
    return best;
}

/* Seconds for shingling and hashing alone; *shingles gets their count. */
static double time_shingles(const struct docs *d, int repeats, uint64_t *shingles)
{
    struct fuzzy_minhash mh;
    size_t ring[24];
    uint64_t hashes[FUZZY_MINHASH_CHUNK], sink = 0;
    double best = 1e30;

    fuzzy_minhash_init(&mh, 24, 1, 42, FUZZY_KERNEL_PORTABLE);
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        uint64_t count = 0;

        for (size_t i = 0; i < d->count; i++) {
            struct fuzzy_shingler sh;
            size_t n;

            fuzzy_shingler_start(&sh, &mh, ring, d->text[i], d->len[i]);
            while ((n = fuzzy_shingler_next(&sh, hashes, FUZZY_MINHASH_CHUNK)) > 0) {
                sink += hashes[n - 1];
                count += n;
            }
        }
        t0 = now() - t0;
        best = t0 < best ? t0 : best;
        *shingles = count;
    }
    if (sink == 42)
        printf(" ");
    fuzzy_minhash_clear(&mh);
    return best;
}

int main(int argc, char **argv)
{
    const char *builddir = getenv("WN_TOP_BUILDDIR") ? getenv("WN_TOP_BUILDDIR") : ".";
    const char *corpus = NULL;
    unsigned megabytes = 64;
    int repeats = 3, c;
    char tmp[] = "/tmp/winnow-bench-minhash-XXXXXX", dir[4096];
    struct docs d = { 0 };
    uint64_t shingles = 0;
    double t_shingles, t_portable = 0, mb;
    uint32_t check[2][FUZZY_KERNEL_COUNT] = { { 0 } };

    while ((c = getopt(argc, argv, "m:r:c:n:")) != -1) {
        switch (c) {
        case 'm': megabytes = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'r': repeats = atoi(optarg); break;
        case 'c': corpus = optarg; break;
        case 'n': break;
        default:
            fprintf(stderr, "usage: bench/minhash [-m MEGABYTES] [-r REPEATS] [-c DOCS_DIR]\n");
            return 2;
        }
    }
    if (repeats < 1 || megabytes < 1) {
        fprintf(stderr, "minhash: -m and -r want positive numbers\n");
        return 2;
    }
    if (corpus == NULL) {
        if (mkdtemp(tmp) == NULL || generate(builddir, tmp, megabytes) != 0) {
            fprintf(stderr,
                    "minhash: cannot generate a corpus with %s/tools/gen_dedup_corpus "
                    "(run from the build directory, or set WN_TOP_BUILDDIR)\n",
                    builddir);
            return 1;
        }
        snprintf(dir, sizeof(dir), "%s/docs", tmp);
        corpus = dir;
    }
    if (load(corpus, &d) != 0) {
        fprintf(stderr, "minhash: no documents in %s\n", corpus);
        return 1;
    }
    mb = (double)d.bytes / 1e6;
    printf("minhash: %zu documents, %.1f MB of text, 24-grams, 260 hash functions (16-bit "
           "halves), one thread, "
           "CPU time, best of %d\n",
           d.count, mb, repeats);
    t_shingles = time_shingles(&d, repeats, &shingles);
    printf("  %-22s %8.1f MB/s  %7.1f M shingles/s\n", "shingle + hash only", mb / t_shingles,
           (double)shingles / t_shingles / 1e6);
    for (int k = 0; k < FUZZY_KERNEL_COUNT; k++) {
        if (!fuzzy_minhash_kernel_supported((enum fuzzy_minhash_kernel)k)) {
            printf("  kernel %-15s not supported on this CPU\n",
                   fuzzy_minhash_kernel_name((enum fuzzy_minhash_kernel)k));
            continue;
        }
        /* first every chunk through the kernel, then as the stage runs:
         * chunks long enough scanned instead */
        for (int scan = 0; scan <= 1; scan++) {
            double t =
                time_signatures(&d, (enum fuzzy_minhash_kernel)k, scan, repeats, &check[scan][k]);
            char name[64];

            if (k == FUZZY_KERNEL_PORTABLE && !scan)
                t_portable = t;
            snprintf(name, sizeof(name), "%s%s",
                     fuzzy_minhash_kernel_name((enum fuzzy_minhash_kernel)k),
                     scan ? " + scan" : "");
            printf("  kernel %-18s %8.1f MB/s  %7.1f M shingles/s  %5.2fx portable  "
                   "(%.0f%% of the time past shingling)\n",
                   name, mb / t, (double)shingles / t / 1e6, t_portable / t,
                   t > t_shingles ? 100.0 * (t - t_shingles) / t : 0.0);
            if (check[scan][k] != check[0][FUZZY_KERNEL_PORTABLE]) {
                fprintf(stderr, "minhash: the %s signatures differ from portable's\n", name);
                return 1;
            }
        }
    }
    printf("  best kernel here: %s\n", fuzzy_minhash_kernel_name(fuzzy_minhash_kernel_best()));
    for (size_t i = 0; i < d.count; i++)
        free(d.text[i]);
    free(d.text);
    free(d.len);
    if (corpus == dir) {
        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "minhash: could not remove %s\n", tmp);
    }
    return 0;
}
