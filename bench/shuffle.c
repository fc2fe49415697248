/*
 * bench/shuffle — shuffle throughput of the ucx provider against UCX's own
 * bandwidth, measured in the same run.
 *
 * Two ranks (threads of this process, as the actor_pool executor runs them)
 * shuffle at least 1 GiB: each inserts half of it as tables of one key and
 * one payload column, spread over the partitions, then insert_finished, then
 * extracts its own partitions.  The shuffle runs -n times in a row (new
 * groups, as rounds and later stages do): the first one faults in fresh
 * memory for every byte it keeps, the later ones reuse the buffers the
 * earlier ones gave back (shuffle_pool.h); each is reported on its own.
 * Before and after, `ucx_perftest -t tag_bw` runs as a loopback server and
 * client pair on 127.0.0.1 with the shuffle's message size (chunk_bytes).
 * Printed: bytes/s of the shuffle, of the bytes that crossed UCX between the
 * ranks, perftest's bandwidth, their ratios, and the transports that
 * carried each (ucp_ep_print_info for the shuffle, UCX_LOG_LEVEL=info for
 * perftest); CPU seconds and page faults of the timed phase; the pool's
 * idle bytes after stage_end (the executor's call when a stage is over).
 *
 * Which figure compares with perftest: the later shuffles.  perftest sends
 * from one buffer and receives into one buffer, reused for every message
 * and keeps nothing (its RSS stays ~14 MB for 1 GiB moved), and its warm-up
 * iterations (-w) run before its timer; so its bandwidth is that of warm
 * memory.  A later shuffle also moves bytes through memory already faulted
 * in (the pool's).  The first shuffle must in addition fault in the ~1 GiB it
 * keeps until extract, which perftest never does.
 *
 *   bench/shuffle [-s TOTAL_BYTES] [-m MESSAGE_BYTES] [-r ROW_BYTES]
 *                 [-p PARTITIONS] [-l MEMORY_LIMIT] [-i INFLIGHT_BYTES]
 *                 [-n SHUFFLES] [-q] [-f]
 *                 (-q: no perftest; -i: the provider's inflight_bytes;
 *                  -f: every insert gets its own table, made before the
 *                  timed phase and released right after its insert, as an
 *                  executor frees a batch, instead of one table inserted
 *                  again and again)
 */
#include "build_config.h"

#include <inttypes.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "params_internal.h"
#include "shuffle_pool.h"
#include "shuffle_provider.h"

#define RANKS 2

struct options {
    uint64_t total_bytes;
    uint64_t message_bytes;
    uint64_t row_bytes;
    uint32_t partitions;
    uint64_t memory_limit;
    uint64_t inflight_bytes;
    unsigned shuffles;
    int perftest;
    int fresh_inputs; /* -f: a table per insert, released after it */
};

/* What one shuffle measured. */
struct shuffle_result {
    double shuffle_s, extract_s;
    double cpu_s;    /* CPU seconds of the process during insert + insert_finished */
    uint64_t faults; /* its page faults meanwhile */
    uint64_t inserted, over_ucx, rows_out, spilled;
    uint64_t fresh_bytes, reused_bytes; /* of the buffer pool, during the shuffle */
    char transports[128];
};

struct bench_rank {
    struct wn_shuffle_group *group;
    const struct options *opt;
    pthread_barrier_t *start;
    uint32_t rank;
    int rc;
    struct wn_error err;
    double t_start, t_finished, t_extracted;
    double cpu_start, cpu_finished;         /* the process's CPU seconds (rank 0 reads them) */
    uint64_t faults_start, faults_finished; /* and its page faults */
    uint64_t rows_out;
    struct wn_ucx_shuffle_stats stats;
};

/* Page faults (minor) of every thread of the process so far. */
static uint64_t faults(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_minflt;
}

/* CPU seconds (user + system) of every thread of the process so far. */
static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One batch: rows of (key uint64, payload utf8 of row_bytes). */
static int make_batch(uint64_t rows, uint64_t row_bytes, struct wn_table *out, struct wn_error *err)
{
    struct wn_table_builder *b = wn_table_builder_new();
    char *payload = malloc(row_bytes);
    int rc = 0;

    if (b == NULL || payload == NULL) {
        wn_table_builder_free(b);
        free(payload);
        return wn_error_set(err, WN_ENOMEM, "out of memory building a batch");
    }
    for (uint64_t i = 0; i < row_bytes; i++)
        payload[i] = (char)('a' + i % 26);
    wn_table_builder_add_column(b, "key", WN_COLUMN_UINT64, 0);
    wn_table_builder_add_column(b, "payload", WN_COLUMN_UTF8, 0);
    for (uint64_t r = 0; r < rows && rc == 0; r++) {
        rc = wn_table_builder_append_uint64(b, 0, r);
        if (rc == 0)
            rc = wn_table_builder_append_utf8(b, 1, payload, row_bytes);
    }
    if (rc == 0)
        rc = wn_table_builder_finish(b, out, err);
    else
        wn_error_set(err, rc, "building a batch: %s", wn_table_builder_last_error(b));
    wn_table_builder_free(b);
    free(payload);
    return rc;
}

static void *rank_main(void *arg)
{
    struct bench_rank *br = arg;
    const struct options *opt = br->opt;
    uint64_t batch_rows = (16u << 20) / opt->row_bytes ? (16u << 20) / opt->row_bytes : 1;
    uint64_t rows_total = opt->total_bytes / RANKS / opt->row_bytes;
    uint64_t batches = (rows_total + batch_rows - 1) / batch_rows;
    uint32_t *parts = malloc(batch_rows * sizeof(*parts));
    struct wn_shuffle *sh = NULL;
    struct wn_table batch, *inputs = NULL;

    memset(&batch, 0, sizeof(batch));
    br->rc = make_batch(batch_rows, opt->row_bytes, &batch, &br->err);
    if (br->rc == 0 && opt->fresh_inputs) {
        /* As a previous stage would have made them (untimed), each one
         * released right after its insert, as the executor frees a batch. */
        inputs = calloc(batches, sizeof(*inputs));
        for (uint64_t b = 0; br->rc == 0 && b < batches; b++)
            br->rc = inputs == NULL
                         ? wn_error_set(&br->err, WN_ENOMEM, "out of memory for the inputs")
                         : make_batch(batch_rows, opt->row_bytes, &inputs[b], &br->err);
    }
    if (br->rc == 0)
        br->rc = wn_ucx_shuffle_ops.open(br->group, br->rank, &sh, &br->err);
    pthread_barrier_wait(br->start);
    br->t_start = now_s();
    br->cpu_start = cpu_s();
    br->faults_start = faults();
    /* Every batch is the same table, sent to partitions that rotate per batch. */
    for (uint64_t b = 0; br->rc == 0 && b < batches; b++) {
        for (uint64_t r = 0; r < batch_rows; r++)
            parts[r] = (uint32_t)((r * 2654435761u + b + br->rank) % opt->partitions);
        if (inputs == NULL) {
            br->rc = wn_ucx_shuffle_ops.insert(sh, &batch, parts, &br->err);
        } else {
            br->rc = wn_ucx_shuffle_ops.insert(sh, &inputs[b], parts, &br->err);
            wn_table_release(&inputs[b]);
        }
    }
    if (br->rc == 0)
        br->rc = wn_ucx_shuffle_ops.insert_finished(sh, &br->err);
    br->t_finished = now_s();
    br->cpu_finished = cpu_s();
    br->faults_finished = faults();
    for (uint32_t p = br->rank; br->rc == 0 && p < opt->partitions; p += RANKS) {
        struct wn_table out;

        br->rc = wn_ucx_shuffle_ops.extract(sh, p, &out, &br->err);
        br->rows_out += (uint64_t)wn_table_num_rows(&out);
        wn_table_release(&out);
    }
    br->t_extracted = now_s();
    if (sh != NULL)
        wn_ucx_shuffle_stats(sh, &br->stats);
    wn_ucx_shuffle_ops.close(sh);
    wn_table_release(&batch);
    for (uint64_t b = 0; inputs != NULL && b < batches; b++)
        wn_table_release(&inputs[b]);
    free(inputs);
    free(parts);
    return NULL;
}

/* Runs a loopback ucx_perftest tag_bw pair; *mbps gets perftest's overall
 * bandwidth in MB/s (2^20 bytes), transports its ep_cfg line.  0 or -1. */
static int run_perftest(uint64_t size, uint64_t total, double *mbps, char *transports, size_t tsize)
{
    char dir[] = "/tmp/winnow-bench-XXXXXX";
    char cmd[1024], path[256], line[512];
    unsigned port = 20000 + (unsigned)(getpid() % 20000);
    uint64_t iters = total / size < 16 ? 16 : total / size;
    FILE *f;
    int rc = -1;

    *mbps = 0;
    transports[0] = '\0';
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(cmd, sizeof(cmd),
             "UCX_LOG_LEVEL=info ucx_perftest -t tag_bw -s %" PRIu64 " -n %" PRIu64
             " -w 16 -p %u > %s/server.txt 2>&1 & sleep 0.5; "
             "UCX_LOG_LEVEL=info timeout 120 ucx_perftest 127.0.0.1 -t tag_bw -s %" PRIu64
             " -n %" PRIu64 " -w 16 -p %u > %s/client.txt 2>&1; wait",
             size, iters, port, dir, size, iters, port, dir);
    if (system(cmd) != 0)
        fprintf(stderr, "shuffle bench: ucx_perftest failed (see below)\n");
    snprintf(path, sizeof(path), "%s/client.txt", dir);
    f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        double v[7];
        char *tag = strstr(line, "ep_cfg[0]: ");

        if (tag != NULL && transports[0] == '\0') {
            snprintf(transports, tsize, "%s", tag + strlen("ep_cfg[0]: "));
            transports[strcspn(transports, "\n")] = '\0';
        }
        if (strncmp(line, "Final:", 6) == 0 &&
            sscanf(line + 6, "%lf %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4],
                   &v[5], &v[6]) == 7) {
            *mbps = v[5];
            rc = 0;
        }
    }
    if (f != NULL)
        fclose(f);
    if (rc < 0)
        fprintf(stderr,
                "shuffle bench: ucx_perftest printed no final bandwidth (is the port "
                "%u free?)\n",
                port);
    unlink(path);
    snprintf(path, sizeof(path), "%s/server.txt", dir);
    unlink(path);
    rmdir(dir);
    return rc;
}

static int have_perftest(void)
{
    return system("command -v ucx_perftest > /dev/null 2>&1") == 0;
}

static struct wn_params *provider_params(const struct options *opt)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params = NULL;
    json_t *json =
        json_pack("{s:I, s:I, s:I}", "chunk_bytes", (json_int_t)opt->message_bytes, "memory_limit",
                  (json_int_t)opt->memory_limit, "inflight_bytes", (json_int_t)opt->inflight_bytes);

    if (wn_params_new(wn_ucx_shuffle_params, json, "shuffle", &params, &err) < 0)
        fprintf(stderr, "shuffle bench: %s\n", err.message);
    json_decref(json);
    return params;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: shuffle [-s TOTAL_BYTES] [-m MESSAGE_BYTES] [-r ROW_BYTES] "
               "[-p PARTITIONS] [-l MEMORY_LIMIT] [-i INFLIGHT_BYTES] [-n SHUFFLES] [-q] [-f]\n"
               "  -q: no ucx_perftest; -f: a table per insert, released after it\n");
}

/* One whole shuffle through RANKS ranks.  0, or 1 with the reason printed. */
static int run_shuffle(const struct options *opt, const struct wn_params *params,
                       struct shuffle_result *res)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_shuffle_group_config config;
    struct wn_shuffle_group *group = NULL;
    struct bench_rank ranks[RANKS];
    pthread_t threads[RANKS];
    pthread_barrier_t start;
    struct wn_ucx_pool_stats before, after;
    double t0, t1, t2;
    int rc = 0;

    memset(res, 0, sizeof(*res));
    memset(&config, 0, sizeof(config));
    config.struct_size = sizeof(config);
    config.stage_name = "bench";
    config.num_ranks = RANKS;
    config.num_partitions = opt->partitions;
    config.params = params;
    config.timeout_s = 120;
    if (wn_ucx_shuffle_ops.group_create(&config, &group, &err) < 0) {
        fprintf(stderr, "shuffle bench: %s\n", err.message);
        return 1;
    }
    wn_ucx_pool_stats(&before);
    pthread_barrier_init(&start, NULL, RANKS);
    for (uint32_t r = 0; r < RANKS; r++) {
        memset(&ranks[r], 0, sizeof(ranks[r]));
        ranks[r].group = group;
        ranks[r].opt = opt;
        ranks[r].start = &start;
        ranks[r].rank = r;
        pthread_create(&threads[r], NULL, rank_main, &ranks[r]);
    }
    for (uint32_t r = 0; r < RANKS; r++)
        pthread_join(threads[r], NULL);
    wn_ucx_shuffle_ops.group_destroy(group);
    pthread_barrier_destroy(&start);
    wn_ucx_pool_stats(&after);

    t0 = ranks[0].t_start < ranks[1].t_start ? ranks[0].t_start : ranks[1].t_start;
    t1 = ranks[0].t_finished > ranks[1].t_finished ? ranks[0].t_finished : ranks[1].t_finished;
    t2 = ranks[0].t_extracted > ranks[1].t_extracted ? ranks[0].t_extracted : ranks[1].t_extracted;
    for (uint32_t r = 0; r < RANKS; r++) {
        if (ranks[r].rc < 0) {
            fprintf(stderr, "shuffle bench: rank %u: %s\n", r, ranks[r].err.message);
            rc = 1;
        }
        res->inserted += ranks[r].stats.bytes_sent + ranks[r].stats.bytes_local;
        res->over_ucx += ranks[r].stats.bytes_sent;
        res->rows_out += ranks[r].rows_out;
        res->spilled += ranks[r].stats.store.spilled_bytes;
    }
    res->shuffle_s = t1 - t0;
    /* insert_finished ends in a barrier: both ranks end it together. */
    res->cpu_s = ranks[0].cpu_finished - ranks[0].cpu_start;
    res->faults = ranks[0].faults_finished - ranks[0].faults_start;
    res->extract_s = t2 - t1;
    res->fresh_bytes = after.fresh_bytes - before.fresh_bytes;
    res->reused_bytes = after.reused_bytes - before.reused_bytes;
    snprintf(res->transports, sizeof(res->transports), "%s", ranks[0].stats.transports);
    return rc;
}

int main(int argc, char **argv)
{
    struct options opt = {
        1ull << 30, 4ull << 20, 64ull << 10, 16, 8ull << 30, 64ull << 20, 2, 1, 0
    };
    struct shuffle_result *res;
    struct wn_params *params;
    struct wn_ucx_pool_stats pool_kept, pool_released;
    double perf_before = 0, perf_after = 0, perf;
    double first = 0, later_min = 0, later_max = 0;
    char perf_tl[256] = "", perf_tl2[256];
    int opt_c, rc = 0;

    while ((opt_c = getopt(argc, argv, "s:m:r:p:l:i:n:qfh")) != -1) {
        switch (opt_c) {
        case 's': opt.total_bytes = strtoull(optarg, NULL, 0); break;
        case 'm': opt.message_bytes = strtoull(optarg, NULL, 0); break;
        case 'r': opt.row_bytes = strtoull(optarg, NULL, 0); break;
        case 'p': opt.partitions = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'l': opt.memory_limit = strtoull(optarg, NULL, 0); break;
        case 'i': opt.inflight_bytes = strtoull(optarg, NULL, 0); break;
        case 'n': opt.shuffles = (unsigned)strtoul(optarg, NULL, 0); break;
        case 'q': opt.perftest = 0; break;
        case 'f': opt.fresh_inputs = 1; break;
        default: usage(opt_c == 'h' ? stdout : stderr); return opt_c == 'h' ? 0 : 2;
        }
    }
    if (opt.row_bytes == 0 || opt.partitions == 0 || opt.shuffles == 0 || opt.shuffles > 100 ||
        opt.total_bytes < opt.row_bytes * RANKS) {
        usage(stderr);
        return 2;
    }
    if (opt.perftest && !have_perftest()) {
        fprintf(stderr, "shuffle bench: ucx_perftest not found (Debian: apt-get install "
                        "ucx-utils); shuffle numbers only\n");
        opt.perftest = 0;
    }
    if (opt.perftest && run_perftest(opt.message_bytes, opt.total_bytes / 2, &perf_before, perf_tl,
                                     sizeof(perf_tl)) < 0)
        fprintf(stderr, "shuffle bench: no bandwidth from ucx_perftest (before)\n");

    params = provider_params(&opt);
    res = calloc(opt.shuffles, sizeof(*res));
    if (params == NULL || res == NULL) {
        wn_params_free(params);
        free(res);
        return 1;
    }
    for (unsigned i = 0; i < opt.shuffles && rc == 0; i++)
        rc = run_shuffle(&opt, params, &res[i]);
    /* The shuffles were the rounds of one stage, which is over now. */
    wn_ucx_pool_stats(&pool_kept);
    wn_ucx_shuffle_ops.stage_end("bench", params);
    wn_ucx_pool_stats(&pool_released);
    wn_params_free(params);
    if (rc != 0) {
        free(res);
        return rc;
    }
    if (opt.perftest && run_perftest(opt.message_bytes, opt.total_bytes / 2, &perf_after, perf_tl2,
                                     sizeof(perf_tl2)) < 0)
        fprintf(stderr, "shuffle bench: no bandwidth from ucx_perftest (after)\n");
    perf = (perf_before + perf_after) / 2 * 1048576.0;

    printf("shuffle: %u ranks, %u partitions, %.3f GiB in rows of %" PRIu64 " bytes, "
           "messages of %" PRIu64 " bytes, %" PRIu64 " rows out, %.3f GiB spilled, "
           "%u shuffles in a row\n",
           RANKS, opt.partitions, (double)res[0].inserted / (1u << 30), opt.row_bytes,
           opt.message_bytes, res[0].rows_out, (double)res[0].spilled / (1u << 30), opt.shuffles);
    for (unsigned i = 0; i < opt.shuffles; i++) {
        const struct shuffle_result *r = &res[i];
        double rate = (double)r->inserted / r->shuffle_s;

        printf("  shuffle %u (%s): insert + insert_finished %.3f s  %.0f MB/s shuffled, "
               "%.0f MB/s between ranks over UCX, %.2f CPU s (%.1f cores busy), "
               "%" PRIu64 " page faults; "
               "extract %.3f s  %.0f MB/s; "
               "buffers %.0f MiB fresh, %.0f MiB reused",
               i + 1, i == 0 ? "fresh memory" : "buffers reused", r->shuffle_s, rate / 1e6,
               (double)r->over_ucx / r->shuffle_s / 1e6, r->cpu_s, r->cpu_s / r->shuffle_s,
               r->faults, r->extract_s, (double)r->inserted / r->extract_s / 1e6,
               (double)r->fresh_bytes / 1048576.0, (double)r->reused_bytes / 1048576.0);
        if (perf > 0)
            printf("; ratio %.2f", rate / perf);
        printf("\n");
        if (i == 0)
            first = rate;
        else if (i == 1 || rate < later_min)
            later_min = rate;
        if (i > 0 && rate > later_max)
            later_max = rate;
    }
    printf("  shuffle transports:       %s\n", res[0].transports);
    printf("  buffer pool: %.0f MiB idle after the last shuffle, %.0f MiB after stage_end; "
           "%" PRIu64 " bad puts\n",
           (double)pool_kept.idle_bytes / 1048576.0, (double)pool_released.idle_bytes / 1048576.0,
           pool_released.bad_puts);
    if (perf > 0) {
        printf("ucx_perftest tag_bw, %" PRIu64 "-byte messages, 127.0.0.1 loopback pair: "
               "%.0f MB/s before, %.0f MB/s after (MB = 1e6 bytes)\n",
               opt.message_bytes, perf_before * 1048576.0 / 1e6, perf_after * 1048576.0 / 1e6);
        printf("  perftest transports:      %s\n", perf_tl[0] ? perf_tl : "(not reported)");
        if (opt.shuffles > 1)
            printf("ratio shuffled / perftest:  %.2f-%.2f later shuffles: the like-for-like "
                   "figure (perftest reuses one warm buffer per side, keeps nothing, and "
                   "times no warm-up)\n",
                   later_min / perf, later_max / perf);
        printf("                            %.2f first shuffle: also faults in the memory it "
               "keeps until extract, which perftest never does%s\n",
               first / perf, opt.shuffles > 1 ? "" : " (-n 2 or more for the later figure)");
        printf("ratio over UCX / perftest:  %.2f first shuffle (half the bytes stay on their "
               "rank)\n",
               (double)res[0].over_ucx / res[0].shuffle_s / perf);
    }
    free(res);
    return 0;
}
