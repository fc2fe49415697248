/*
 * actor_pool — pool sizing: how many actors a stage gets, from the resources
 * the process may use and what one actor of the stage asks for.  Pure
 * functions (no threads, no plugin calls), so that tests pin the rule.
 */
#ifndef WINNOW_ACTOR_POOL_POOL_H
#define WINNOW_ACTOR_POOL_POOL_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>
#include <winnow/stage.h>

#include "gpu.h"

/* "Unconstrained": what a resource the stage does not ask for allows (the seed's _LARGE_INT). */
#define WN_POOL_UNLIMITED INT32_MAX

/* Most threads one stage starts, whatever the resources allow: a stage that
 * asks for no CPU (request 0, unconstrained) would otherwise get one thread
 * per batch. */
#define WN_POOL_THREAD_LIMIT 1024

/* What the process may use, before and after the operator's reservations. */
struct wn_pool_capacity {
    double cpus;          /* CPUs the process may run on (affinity mask, or executor.cpus) */
    double gpus;          /* GPUs, when ledger is NULL: ceil(gpus) devices of unknown memory */
    double reserved_cpus; /* kept for other work (executor.reserved_cpus) */
    double reserved_gpus; /* executor.reserved_gpus (when ledger is NULL) */
    /* The devices and what is free on them, reservations taken (gpu.h); NULL:
     * made from gpus and reserved_gpus. */
    const struct wn_gpu_ledger *ledger;
};

/* What one stage needs sized. */
struct wn_pool_request {
    const char *stage_name;        /* for messages */
    struct wn_resources resources; /* per actor */
    uint32_t explicit_actors;      /* from the config; 0 = size by the task count */
    uint32_t batch_size;           /* >= 1 (0 is taken as 1) */
    size_t n_tasks;                /* tasks the stage receives */
};

/* The decision. */
struct wn_pool_plan {
    uint32_t actors;     /* actors to start; 0 when the stage has no task */
    uint32_t max_actors; /* what the resources allow (WN_POOL_UNLIMITED if nothing is asked) */
    int capped;          /* nonzero: explicit_actors was above max_actors and was lowered */
    int thread_limited;  /* nonzero: lowered to WN_POOL_THREAD_LIMIT */
};

/* CPUs this process may run on: the size of its affinity mask (at least 1).  Any thread. */
double wn_pool_affinity_cpus(void);

/* GPUs one actor of a stage asks for once entire_gpu and gpu_memory_gb are
 * taken into account, on a device of unknown memory (for messages).  Pure. */
double wn_pool_gpus_per_actor(const struct wn_resources *resources);

/*
 * Most actors of one stage the capacity holds: the smaller of
 * floor((CPUs - reserved) / cpus per actor) and the actors the GPU ledger
 * places (fractional actors packed onto devices, gpu.h), a resource not
 * asked for being unlimited.  Zero is an error (WN_ERESOURCE) naming the
 * stage and its request.  Pure; any thread.
 */
int wn_pool_max_actors(const struct wn_pool_capacity *capacity,
                       const struct wn_pool_request *request, uint32_t *max_actors,
                       struct wn_error *err);

/*
 * Sizes one stage's pool: an explicit count wins, capped at the maximum
 * (plan->capped says so, for a warning); otherwise min(ceil(tasks /
 * batch_size), maximum), at least 1; no task gives 0 actors.  Either way at
 * most WN_POOL_THREAD_LIMIT (plan->thread_limited says so).  Fails as
 * wn_pool_max_actors does.  Pure; any thread.
 */
int wn_pool_plan(const struct wn_pool_capacity *capacity, const struct wn_pool_request *request,
                 struct wn_pool_plan *plan, struct wn_error *err);

#endif /* WINNOW_ACTOR_POOL_POOL_H */
