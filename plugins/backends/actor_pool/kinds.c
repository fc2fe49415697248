/*
 * The stage kinds actor_pool runs, and the barrier runner of each (see
 * executor.h, struct wn_ap_kind).  PLAIN stages stream in streaming mode and
 * run through this table in barrier mode; every other kind always runs here,
 * as a barrier.  A new kind adds its runner in its own file and one line
 * below.
 */
#include "build_config.h"

#include <stddef.h>
#include <stdlib.h>

#include "barrier.h"
#include "comms_stage.h"
#include "executor.h"
#include "shuffle_stage.h"

/* COMMS and SHUFFLE runners start and join their own rank threads; they
 * report what they measured through the stage's kind_stats. */
static void keep_kind_stats(struct wn_ap_stage *stage, const struct wn_stage_stats *stats)
{
    stage->kind_stats = *stats;
    stage->has_kind_stats = 1;
    stage->pool_size = stats->actors;
    stage->pool_fixed = 1;
}

static int comms_check(struct wn_ap_stage *stage, struct wn_error *err)
{
    return wn_comms_stage_check(stage->config, err);
}

/* One rank per actor, one contiguous chunk per rank, the RAFT order (comms_stage.c). */
static int comms_run(struct wn_ap_stage *stage, struct wn_task **in, size_t n_in,
                     struct wn_task ***out, size_t *n_out, struct wn_error *err)
{
    struct wn_pool_capacity capacity;
    struct wn_gpu_ledger ledger;
    struct wn_stage_stats stats = { 0 };
    struct wn_task **tasks = in;
    size_t n = n_in;
    int rc;

    wn_ap_run_capacity(stage->run, &capacity, &ledger);
    rc = wn_comms_stage_run(stage->config, &capacity, &tasks, &n, &stats, err);
    keep_kind_stats(stage, &stats);
    *out = tasks;
    *n_out = n;
    return rc;
}

static int shuffle_check(struct wn_ap_stage *stage, struct wn_error *err)
{
    return wn_shuffle_stage_check(stage->config, err);
}

/* Ranks sized as any stage's pool (the seed's rule); three phases per round
 * over the stage's shuffle provider (shuffle_stage.c). */
static int shuffle_run(struct wn_ap_stage *stage, struct wn_task **in, size_t n_in,
                       struct wn_task ***out, size_t *n_out, struct wn_error *err)
{
    struct wn_stage_stats stats = { 0 };
    uint32_t ranks = 0;
    int rc;

    *out = NULL;
    *n_out = 0;
    rc = wn_ap_stage_plan(stage, n_in, &ranks, err);
    if (rc < 0) {
        for (size_t i = 0; i < n_in; i++)
            wn_task_free(in[i]);
        free(in);
        return rc;
    }
    rc = wn_shuffle_stage_run(stage->config, in, n_in, ranks, out, n_out, &stats, err);
    keep_kind_stats(stage, &stats);
    return rc;
}

static const struct wn_ap_kind kinds[] = {
    { WN_STAGE_PLAIN, "plain", NULL, wn_ap_plain_barrier_run },
    { WN_STAGE_COMMS, "comms", comms_check, comms_run },
    { WN_STAGE_SHUFFLE, "shuffle", shuffle_check, shuffle_run },
};

const struct wn_ap_kind *wn_ap_kind_find(enum wn_stage_kind kind)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (kinds[i].kind == kind)
            return &kinds[i];
    return NULL;
}
