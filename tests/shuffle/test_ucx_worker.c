/* Tests of the ucx plugin's worker setup: ranks wire up through the bootstrap,
 * move tagged bytes over shared memory, and every wait ends (timeout, abort). */
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

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap.h"
#include "clock.h"
#include "worker.h"

#define MESSAGE_BYTES (1u << 20) /* far above the eager threshold: rendezvous protocol */
#define TAG 0x77

struct rank_run {
    struct wn_ucx_rendezvous *rv;
    uint32_t rank;
    int rc;
    struct wn_error err;
    int payload_ok;
    char transports[256];
};

static void *rank_main(void *arg)
{
    struct rank_run *run = arg;
    struct wn_ucx_worker_config cfg = { "comms 'test'", run->rank, 2, 1, 0 };
    struct wn_ucx_bootstrap *bs = NULL;
    struct wn_ucx_worker w;
    ucp_request_param_t param;
    unsigned char *buf = malloc(MESSAGE_BYTES);
    double deadline = wn_ucx_now() + 20.0;

    memset(&w, 0, sizeof(w));
    run->rc = wn_ucx_bootstrap_inproc_open(run->rv, run->rank, &bs, &run->err);
    if (run->rc < 0 || buf == NULL)
        goto out;
    run->rc = wn_ucx_worker_init(&w, &cfg, &run->err);
    if (run->rc == 0)
        run->rc = wn_ucx_worker_connect(&w, bs, 10.0, 0, &run->err);
    if (run->rc < 0)
        goto out_fini;
    memset(&param, 0, sizeof(param));
    if (run->rank == 0) {
        for (size_t i = 0; i < MESSAGE_BYTES; i++)
            buf[i] = (unsigned char)(i * 7 + 3);
        run->rc =
            wn_ucx_worker_wait(&w, ucp_tag_send_nbx(w.eps[1], buf, MESSAGE_BYTES, TAG, &param),
                               deadline, bs, "send to rank 1", &run->err);
        wn_ucx_worker_transports(&w, 1, run->transports, sizeof(run->transports));
    } else {
        memset(buf, 0, MESSAGE_BYTES);
        run->rc = wn_ucx_worker_wait(
            &w, ucp_tag_recv_nbx(w.worker, buf, MESSAGE_BYTES, TAG, ~(ucp_tag_t)0, &param),
            deadline, bs, "receive from rank 0", &run->err);
        run->payload_ok = 1;
        for (size_t i = 0; i < MESSAGE_BYTES; i++)
            if (buf[i] != (unsigned char)(i * 7 + 3))
                run->payload_ok = 0;
        CU_ASSERT_EQUAL(wn_ucx_worker_transports(&w, 1, run->transports, 8), WN_ENOTFOUND);
    }
    /* Both ranks stay until both are done, then close endpoints with a flush. */
    if (run->rc == 0)
        run->rc = wn_ucx_bootstrap_barrier(bs, 10.0, &run->err);
    wn_ucx_worker_disconnect(&w, 5.0);
out_fini:
    wn_ucx_worker_fini(&w);
out:
    wn_ucx_bootstrap_close(bs);
    free(buf);
    return NULL;
}

static void test_two_ranks_move_a_rendezvous_sized_message_over_shared_memory(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_ucx_rendezvous *rv = NULL;
    struct rank_run runs[2];
    pthread_t threads[2];

    CU_ASSERT_EQUAL_FATAL(wn_ucx_rendezvous_new("comms 'test'", 2, &rv, &err), 0);
    for (uint32_t r = 0; r < 2; r++) {
        memset(&runs[r], 0, sizeof(runs[r]));
        runs[r].rv = rv;
        runs[r].rank = r;
        pthread_create(&threads[r], NULL, rank_main, &runs[r]);
    }
    for (uint32_t r = 0; r < 2; r++) {
        pthread_join(threads[r], NULL);
        CU_ASSERT_EQUAL(runs[r].rc, 0);
        if (runs[r].rc != 0)
            fprintf(stderr, "rank %u: %s\n", r, runs[r].err.message);
    }
    CU_ASSERT_EQUAL(runs[1].payload_ok, 1);
    /* Unless the environment narrows UCX_TLS, shared memory carries the data. */
    if (getenv("UCX_TLS") == NULL) {
        CU_ASSERT(strstr(runs[0].transports, "sysv/") || strstr(runs[0].transports, "posix/"));
    }
    CU_ASSERT_STRING_NOT_EQUAL(runs[0].transports, "");
    printf("\n  transports rank 0 -> 1: %s\n", runs[0].transports);
    wn_ucx_rendezvous_unref(rv);
}

static void test_waiting_for_a_message_that_never_comes_times_out_or_aborts(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_ucx_worker_config cfg = { "shuffle 'quiet'", 0, 1, 0, 0 };
    struct wn_ucx_rendezvous *rv = NULL;
    struct wn_ucx_bootstrap *bs = NULL;
    struct wn_ucx_worker w;
    ucp_request_param_t param;
    char byte;
    double start;

    memset(&param, 0, sizeof(param));
    CU_ASSERT_EQUAL_FATAL(wn_ucx_rendezvous_new("shuffle 'quiet'", 1, &rv, &err), 0);
    CU_ASSERT_EQUAL_FATAL(wn_ucx_bootstrap_inproc_open(rv, 0, &bs, &err), 0);
    CU_ASSERT_EQUAL_FATAL(wn_ucx_worker_init(&w, &cfg, &err), 0);
    CU_ASSERT_EQUAL(w.event_fd, -1);
    CU_ASSERT_EQUAL(wn_ucx_worker_connect(&w, bs, 5.0, 1, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(w.eps[0]);
    start = wn_ucx_now();
    CU_ASSERT_EQUAL(wn_ucx_worker_wait(&w, ucp_tag_recv_nbx(w.worker, &byte, 1, 5, ~0ull, &param),
                                       start + 0.2, bs, "receive from rank 3", &err),
                    WN_ETIMEDOUT);
    CU_ASSERT(wn_ucx_now() - start < 5.0);
    CU_ASSERT_STRING_EQUAL(err.message, "shuffle 'quiet': rank 0: receive from rank 3 timed out");
    wn_ucx_bootstrap_abort(bs, "rank 3 failed in extract: bad table");
    CU_ASSERT_EQUAL(wn_ucx_worker_wait(&w, ucp_tag_recv_nbx(w.worker, &byte, 1, 5, ~0ull, &param),
                                       wn_ucx_now() + 30.0, bs, "receive from rank 3", &err),
                    WN_ECANCELED);
    CU_ASSERT_STRING_EQUAL(err.message, "shuffle 'quiet': rank 0: receive from rank 3 aborted: "
                                        "rank 3 failed in extract: bad table");
    wn_ucx_worker_fini(&w);
    wn_ucx_worker_fini(&w); /* idempotent */
    wn_ucx_bootstrap_close(bs);
    wn_ucx_rendezvous_unref(rv);
}

static void test_empty_ucx_tls_is_treated_as_unset(void)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_ucx_worker_config cfg = { "shuffle 'env'", 0, 1, 1, 0 };
    struct wn_ucx_worker w;

    setenv("UCX_TLS", "", 1);
    CU_ASSERT_EQUAL(wn_ucx_worker_init(&w, &cfg, &err), 0);
    CU_ASSERT(w.event_fd >= 0);
    unsetenv("UCX_TLS");
    wn_ucx_worker_fini(&w);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "two ranks move a rendezvous-sized message over shared memory",
          test_two_ranks_move_a_rendezvous_sized_message_over_shared_memory },
        { "waiting for a message that never comes times out or aborts",
          test_waiting_for_a_message_that_never_comes_times_out_or_aborts },
        { "empty UCX_TLS is treated as unset", test_empty_ucx_tls_is_treated_as_unset },
        { NULL, NULL }
    };

    return wn_test_run_suite("ucx worker", tests, NULL, NULL);
}
#endif
