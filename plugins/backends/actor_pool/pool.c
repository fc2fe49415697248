/* Pool sizing for the actor_pool executor (the seed's rule, see pool.h). */
#include "build_config.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pool.h"

/* Room for rounding: 0.7 / 0.1 is 6.999999999999999 in doubles, yet 7 actors fit. */
#define WN_POOL_EPSILON 1e-9

double wn_pool_affinity_cpus(void)
{
    /* The mask may be larger than the static cpu_set_t on very large hosts:
     * grow the set until the kernel accepts it. */
    for (int ncpus = CPU_SETSIZE; ncpus <= (1 << 20); ncpus *= 2) {
        size_t size = CPU_ALLOC_SIZE(ncpus);
        cpu_set_t *set = CPU_ALLOC(ncpus);
        int count = 0;

        if (set == NULL)
            break;
        CPU_ZERO_S(size, set);
        if (sched_getaffinity(0, size, set) == 0)
            count = CPU_COUNT_S(size, set);
        CPU_FREE(set);
        if (count > 0)
            return (double)count;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (double)online : 1.0;
}

double wn_pool_gpus_per_actor(const struct wn_resources *resources)
{
    if (resources->entire_gpu)
        return resources->gpus > 1.0 ? ceil(resources->gpus - WN_POOL_EPSILON) : 1.0;
    if (resources->gpus > 1.0)
        return ceil(resources->gpus - WN_POOL_EPSILON);
    if (resources->gpus > 0.0)
        return resources->gpus;
    /* gpu_memory_gb is a share of a device's memory; unknown memory: a whole device. */
    if (resources->gpu_memory_gb > 0.0)
        return 1.0;
    return 0.0;
}

/* floor(available / per_actor), unlimited when nothing is asked. */
static uint32_t fit(double available, double per_actor)
{
    double n;

    if (per_actor <= 0.0)
        return WN_POOL_UNLIMITED;
    if (available <= 0.0)
        return 0;
    n = floor(available / per_actor + WN_POOL_EPSILON);
    return n >= (double)WN_POOL_UNLIMITED ? WN_POOL_UNLIMITED : (uint32_t)n;
}

static const char *is_are(double n)
{
    return n == 1.0 ? "is" : "are";
}

int wn_pool_max_actors(const struct wn_pool_capacity *capacity,
                       const struct wn_pool_request *request, uint32_t *max_actors,
                       struct wn_error *err)
{
    const char *name = request->stage_name ? request->stage_name : "?";
    double cpus = request->resources.cpus;
    double avail_cpus = fmax(capacity->cpus - capacity->reserved_cpus, 0.0);
    struct wn_gpu_ledger own;
    const struct wn_gpu_ledger *ledger = capacity->ledger;
    uint32_t by_cpus = fit(avail_cpus, cpus);
    uint32_t by_gpus;
    double avail_gpus;
    const char *why = "";

    if (ledger == NULL) {
        wn_gpu_ledger_init_count(&own, fmax(capacity->gpus, 0.0),
                                 fmax(capacity->reserved_gpus, 0.0));
        ledger = &own;
    }
    by_gpus = wn_gpu_ledger_fit(ledger, &request->resources);
    if (by_gpus > WN_POOL_UNLIMITED)
        by_gpus = WN_POOL_UNLIMITED;
    avail_gpus = wn_gpu_ledger_total_free(ledger);
    *max_actors = by_cpus < by_gpus ? by_cpus : by_gpus;
    if (by_cpus == 0)
        return wn_error_set(err, WN_ERESOURCE,
                            "stage '%s' asks %g cpus per actor but %g %s available after "
                            "reserving %g (lower the stage's resources.cpus or "
                            "executor.reserved_cpus, or set executor.cpus)",
                            name, cpus, avail_cpus, is_are(avail_cpus), capacity->reserved_cpus);
    if (by_gpus == 0) {
        if (request->resources.entire_gpu)
            why = " (entire_gpu)";
        else if (request->resources.gpu_memory_gb > 0.0 && request->resources.gpus <= 0.0)
            why = " (gpu_memory_gb: a device's share, or a whole device of unknown memory)";
        return wn_error_set(err, WN_ERESOURCE,
                            "stage '%s' asks %g gpus per actor%s but %g %s available after "
                            "reserving %g on %zu device(s) (GPUs are discovered through the "
                            "CUDA runtime; set executor.gpus and executor.gpu_memory_gb to "
                            "override)",
                            name, wn_pool_gpus_per_actor(&request->resources), why, avail_gpus,
                            is_are(avail_gpus), capacity->reserved_gpus, ledger->n);
    }
    return 0;
}

int wn_pool_plan(const struct wn_pool_capacity *capacity, const struct wn_pool_request *request,
                 struct wn_pool_plan *plan, struct wn_error *err)
{
    uint32_t max_actors;
    size_t batch_size = request->batch_size ? request->batch_size : 1;
    size_t wanted;
    int rc;

    plan->actors = 0;
    plan->max_actors = 0;
    plan->capped = 0;
    plan->thread_limited = 0;
    rc = wn_pool_max_actors(capacity, request, &max_actors, err);
    if (rc < 0)
        return rc;
    plan->max_actors = max_actors;
    if (request->n_tasks == 0)
        return 0;
    if (request->explicit_actors > 0) {
        plan->actors = request->explicit_actors;
        if (plan->actors > max_actors) {
            plan->actors = max_actors;
            plan->capped = 1;
        }
    } else {
        wanted = request->n_tasks / batch_size + (request->n_tasks % batch_size != 0);
        plan->actors = wanted < max_actors ? (uint32_t)wanted : max_actors;
        if (plan->actors < 1)
            plan->actors = 1;
    }
    if (plan->actors > WN_POOL_THREAD_LIMIT) {
        plan->actors = WN_POOL_THREAD_LIMIT;
        plan->thread_limited = 1;
    }
    return 0;
}
