/*
 * The ucx comms provider against its transport (DESIGN.md §9): allreduce
 * latency (8 bytes) and bandwidth (64 MiB of float32) on 2 ranks (threads of
 * this process, each with its own UCX worker), beside what ucx_perftest
 * measures between two processes over loopback in the same run (tag_lat for
 * 8 bytes, tag_bw for 64 MiB), with the ratios.  Medians of -r repeats.
 *
 * Bandwidth follows NCCL's convention: algbw = bytes / time; busbw = algbw *
 * 2 (n - 1) / n, the rate each rank's link carries in a ring allreduce (for
 * 2 ranks, busbw = algbw), which is what tag_bw is compared with.
 *
 *   bench/comms [-r REPEATS] [-l LATENCY_ITERS] [-b BANDWIDTH_ITERS] [-s BYTES] [-P]
 *   (-P: skip ucx_perftest)
 */
#include "build_config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <winnow/comms.h>

#include "comms.h"
#include "comms_internal.h"
#include "harness.h"

extern char **environ;

#define MAX_REPEATS 32

struct options {
    int repeats;
    long latency_iters;
    long bandwidth_iters;
    size_t bytes;
    int perftest;
};

struct bench_arg {
    const struct options *opt;
    double latency_us;  /* per allreduce, rank 0's view */
    double bandwidth_s; /* per allreduce */
    char transports[256];
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One rank: warm up, then time the latency loop and the bandwidth loop. */
static int bench_rank(struct wn_comms *c, void *p, struct wn_error *err)
{
    struct bench_arg *arg = p;
    const struct options *opt = arg->opt;
    size_t count = opt->bytes / sizeof(float);
    uint64_t x = c->rank + 1, y = 0;
    float *send = malloc(count * sizeof(float)), *recv = malloc(count * sizeof(float));
    double t0, t1;
    int rc = 0;

    if (send == NULL || recv == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "out of memory for %zu bytes", opt->bytes);
        goto out;
    }
    for (size_t i = 0; i < count; i++)
        send[i] = (float)(i % 1000);
    if (c->rank == 0)
        wn_ucx_worker_transports(&wn_ucx_comms_rank_of(c)->worker, 1, arg->transports,
                                 sizeof(arg->transports));
    /* Warm-up: wire up both protocols (eager and rendezvous). */
    for (int i = 0; i < 100 && rc == 0; i++)
        rc = wn_comms_allreduce(c, &x, &y, 1, WN_COMMS_UINT64, WN_COMMS_SUM, WN_COMMS_HOST, err);
    if (rc == 0)
        rc = wn_comms_allreduce(c, send, recv, count, WN_COMMS_FLOAT32, WN_COMMS_SUM, WN_COMMS_HOST,
                                err);

    if (rc == 0)
        rc = wn_comms_barrier(c, err);
    t0 = now_s();
    for (long i = 0; i < opt->latency_iters && rc == 0; i++)
        rc = wn_comms_allreduce(c, &x, &y, 1, WN_COMMS_UINT64, WN_COMMS_SUM, WN_COMMS_HOST, err);
    t1 = now_s();
    if (c->rank == 0)
        arg->latency_us = (t1 - t0) / (double)opt->latency_iters * 1e6;

    if (rc == 0)
        rc = wn_comms_barrier(c, err);
    t0 = now_s();
    for (long i = 0; i < opt->bandwidth_iters && rc == 0; i++)
        rc = wn_comms_allreduce(c, send, recv, count, WN_COMMS_FLOAT32, WN_COMMS_SUM, WN_COMMS_HOST,
                                err);
    t1 = now_s();
    if (c->rank == 0)
        arg->bandwidth_s = (t1 - t0) / (double)opt->bandwidth_iters;
    if (rc == 0 && recv[7] != 2.0f * send[7])
        rc = wn_error_set(err, WN_EDATA, "allreduce gave a wrong sum");
out:
    free(send);
    free(recv);
    return rc;
}

/* ---- ucx_perftest ------------------------------------------------------------------- */

/* Runs one ucx_perftest server + client pair on 127.0.0.1; fills the "Final:"
 * line's numbers: lat50/avg (usec), bandwidth avg (MB/s).  0 or -1. */
static int perftest(const char *test, size_t bytes, long iters, double *latency_us,
                    double *bandwidth_mbs)
{
    char port[16], size[32], n[32], cmd[256], line[512];
    char *server_argv[] = { "ucx_perftest", "-p", port, NULL };
    posix_spawn_file_actions_t quiet;
    pid_t server;
    FILE *client;
    int found = 0, status, spawned;

    snprintf(port, sizeof(port), "%d", 20000 + (int)(getpid() % 20000));
    snprintf(size, sizeof(size), "%zu", bytes);
    snprintf(n, sizeof(n), "%ld", iters);
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
    spawned = posix_spawnp(&server, "ucx_perftest", &quiet, NULL, server_argv, environ);
    posix_spawn_file_actions_destroy(&quiet);
    if (spawned != 0)
        return -1;
    for (int attempt = 0; attempt < 20 && !found; attempt++) {
        struct timespec pause = { 0, 200000000L };

        nanosleep(&pause, NULL); /* let the server listen */
        snprintf(cmd, sizeof(cmd), "ucx_perftest 127.0.0.1 -p %s -t %s -s %s -n %s 2>/dev/null",
                 port, test, size, n);
        client = popen(cmd, "r");
        if (client == NULL)
            break;
        while (fgets(line, sizeof(line), client) != NULL) {
            long it;
            double lat50, lat_avg, lat_all, bw_avg, bw_all;

            if (sscanf(line, "Final: %ld %lf %lf %lf %lf %lf", &it, &lat50, &lat_avg, &lat_all,
                       &bw_avg, &bw_all) == 6) {
                *latency_us = lat_avg;
                *bandwidth_mbs = bw_avg;
                found = 1;
            }
        }
        pclose(client);
    }
    kill(server, SIGTERM);
    waitpid(server, &status, 0);
    return found ? 0 : -1;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
    int c;

    opt->repeats = 3;
    opt->latency_iters = 20000;
    opt->bandwidth_iters = 10;
    opt->bytes = 64u << 20;
    opt->perftest = 1;
    while ((c = getopt(argc, argv, "r:l:b:s:P")) != -1) {
        switch (c) {
        case 'r': opt->repeats = atoi(optarg); break;
        case 'l': opt->latency_iters = atol(optarg); break;
        case 'b': opt->bandwidth_iters = atol(optarg); break;
        case 's': opt->bytes = (size_t)strtoull(optarg, NULL, 10); break;
        case 'P': opt->perftest = 0; break;
        default: return -1;
        }
    }
    if (opt->repeats < 1 || opt->repeats > MAX_REPEATS || opt->latency_iters < 1 ||
        opt->bandwidth_iters < 1 || opt->bytes < sizeof(float) * 8)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct options opt;
    double lat[MAX_REPEATS], bw[MAX_REPEATS], pt_lat[MAX_REPEATS], pt_bw[MAX_REPEATS];
    double lat_us, bw_s, algbw, busbw, mib = 1024.0 * 1024.0;
    char transports[256] = "";
    int n_pt = 0;

    if (parse_options(argc, argv, &opt) < 0) {
        fprintf(stderr,
                "usage: %s [-r REPEATS] [-l LATENCY_ITERS] [-b BANDWIDTH_ITERS] "
                "[-s BYTES] [-P]\n",
                argv[0]);
        return 2;
    }
    for (int r = 0; r < opt.repeats; r++) {
        struct bench_arg arg;
        struct wn_test_ranks out;

        memset(&arg, 0, sizeof(arg));
        arg.opt = &opt;
        if (wn_test_ranks_run(&wn_ucx_comms_provider_ops, NULL, 2, bench_rank, &arg, &out) < 0) {
            for (uint32_t k = 0; k < out.n; k++)
                fprintf(stderr, "rank %u: %s\n", k, out.err[k].message);
            return 1;
        }
        lat[r] = arg.latency_us;
        bw[r] = arg.bandwidth_s;
        snprintf(transports, sizeof(transports), "%s", arg.transports);
        if (opt.perftest &&
            perftest("tag_lat", 8, opt.latency_iters, &pt_lat[n_pt], &(double){ 0 }) == 0 &&
            perftest("tag_bw", opt.bytes, opt.bandwidth_iters, &(double){ 0 }, &pt_bw[n_pt]) == 0)
            n_pt++;
    }
    lat_us = median(lat, opt.repeats);
    bw_s = median(bw, opt.repeats);
    algbw = (double)opt.bytes / bw_s / 1e9;
    busbw = algbw * 2.0 * (2 - 1) / 2;

    printf("ucx comms, 2 ranks (threads, one UCX worker each), transports %s; medians of %d "
           "runs\n",
           transports[0] ? transports : "?", opt.repeats);
    printf("  allreduce 8 B (uint64 sum):     %9.2f us per call (%ld calls)\n", lat_us,
           opt.latency_iters);
    printf("  allreduce %.0f MiB (float32 sum): %9.2f ms per call, algbw %.2f GB/s, busbw %.2f "
           "GB/s (%ld calls)\n",
           (double)opt.bytes / mib, bw_s * 1e3, algbw, busbw, opt.bandwidth_iters);
    if (n_pt == 0) {
        printf("ucx_perftest: %s\n",
               opt.perftest ? "did not run (is ucx-utils installed?)" : "skipped (-P)");
        return 0;
    }
    {
        double pt_lat_us = median(pt_lat, n_pt), pt_bw_gbs = median(pt_bw, n_pt) * mib / 1e9;

        printf("ucx_perftest, 2 processes over 127.0.0.1 (same run, medians of %d)\n", n_pt);
        printf("  tag_lat 8 B:                    %9.2f us one-way   allreduce / tag_lat = %.2f\n",
               pt_lat_us, lat_us / pt_lat_us);
        printf("  tag_bw %.0f MiB:                  %9.2f GB/s        busbw / tag_bw = %.2f\n",
               (double)opt.bytes / mib, pt_bw_gbs, busbw / pt_bw_gbs);
    }
    return 0;
}
