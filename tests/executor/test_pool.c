/* Pool sizing of the actor_pool executor (plugins/backends/actor_pool/pool.c). */
#include "build_config.h"

#include <sched.h>
#include <string.h>

#include "cu.h"
#include "pool.h"

struct sizing_case {
    const char *what;
    double cpus, gpus, reserved_cpus, reserved_gpus; /* capacity */
    double ask_cpus, ask_gpus, ask_gpu_memory_gb;    /* per actor */
    int entire_gpu;
    uint32_t explicit_actors, batch_size;
    size_t n_tasks;
    uint32_t want_actors, want_max;
    int want_capped;
};

static const struct sizing_case sizing_cases[] = {
    { "one cpu each, more tasks than cpus", 8, 0, 0, 0, 1, 0, 0, 0, 0, 1, 100, 8, 8, 0 },
    { "fewer tasks than cpus", 8, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 8, 0 },
    { "ceil(tasks / batch_size)", 8, 0, 0, 0, 1, 0, 0, 0, 0, 4, 10, 3, 8, 0 },
    { "two cpus each after reserving two", 8, 0, 2, 0, 2, 0, 0, 0, 0, 1, 100, 3, 3, 0 },
    { "fractional cpus pack", 2, 0, 0, 0, 0.5, 0, 0, 0, 0, 1, 100, 4, 4, 0 },
    { "0.1 cpu each fits 7 in 0.7 despite rounding", 0.7, 0, 0, 0, 0.1, 0, 0, 0, 0, 1, 100, 7, 7,
      0 },
    { "no request is unconstrained", 4, 0, 0, 0, 0, 0, 0, 0, 0, 1, 5, 5, WN_POOL_UNLIMITED, 0 },
    { "quarter gpus pack four on one gpu", 16, 1, 0, 0, 1, 0.25, 0, 0, 0, 1, 100, 4, 4, 0 },
    { "0.3 gpu each fits three", 16, 1, 0, 0, 1, 0.3, 0, 0, 0, 1, 100, 3, 3, 0 },
    { "one gpu each after reserving one of two", 16, 2, 0, 1, 1, 1, 0, 0, 0, 1, 100, 1, 1, 0 },
    { "entire_gpu counts as one gpu", 16, 2, 0, 0, 1, 0, 0, 1, 0, 1, 100, 2, 2, 0 },
    { "entire_gpu with a quarter gpu still takes a whole one", 16, 2, 0, 0, 1, 0.25, 0, 1, 0, 1,
      100, 2, 2, 0 },
    { "gpu_memory_gb without device info takes a gpu", 16, 3, 0, 0, 1, 0, 10, 0, 0, 1, 100, 3, 3,
      0 },
    { "gpu limits below cpus", 16, 2, 0, 0, 1, 0.5, 0, 0, 0, 1, 100, 4, 4, 0 },
    { "cpu limits below gpus", 3, 8, 0, 0, 1, 0.5, 0, 0, 0, 1, 100, 3, 3, 0 },
    { "explicit actors win", 8, 0, 0, 0, 1, 0, 0, 0, 4, 1, 1, 4, 8, 0 },
    { "explicit actors capped at the maximum", 8, 0, 0, 0, 1, 0, 0, 0, 16, 1, 100, 8, 8, 1 },
    { "zero tasks give zero actors", 8, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 8, 0 },
    { "zero tasks with explicit actors give zero actors", 8, 0, 0, 0, 1, 0, 0, 0, 4, 1, 0, 0, 8,
      0 },
    { "batch_size 0 counts as 1", 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 5, 5, 8, 0 },
    { "huge batch gives one actor", 8, 0, 0, 0, 1, 0, 0, 0, 0, 1000, 10, 1, 8, 0 },
};

static void test_sizing_table(void)
{
    for (size_t i = 0; i < sizeof(sizing_cases) / sizeof(sizing_cases[0]); i++) {
        const struct sizing_case *c = &sizing_cases[i];
        struct wn_pool_capacity cap = { c->cpus, c->gpus, c->reserved_cpus, c->reserved_gpus,
                                        NULL };
        struct wn_pool_request req;
        struct wn_pool_plan plan;
        struct wn_error err = WN_ERROR_INIT;
        int rc;

        memset(&req, 0, sizeof(req));
        req.stage_name = "s";
        req.resources.cpus = c->ask_cpus;
        req.resources.gpus = c->ask_gpus;
        req.resources.gpu_memory_gb = c->ask_gpu_memory_gb;
        req.resources.entire_gpu = c->entire_gpu;
        req.explicit_actors = c->explicit_actors;
        req.batch_size = c->batch_size;
        req.n_tasks = c->n_tasks;
        rc = wn_pool_plan(&cap, &req, &plan, &err);
        if (rc != 0 || plan.actors != c->want_actors || plan.max_actors != c->want_max ||
            plan.capped != c->want_capped)
            fprintf(stderr, "case '%s': rc %d actors %u (want %u) max %u (want %u) capped %d: %s\n",
                    c->what, rc, plan.actors, c->want_actors, plan.max_actors, c->want_max,
                    plan.capped, err.message);
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT_EQUAL(plan.actors, c->want_actors);
        CU_ASSERT_EQUAL(plan.max_actors, c->want_max);
        CU_ASSERT_EQUAL(plan.capped, c->want_capped);
        CU_ASSERT_EQUAL(plan.thread_limited, 0);
    }
}

static void test_zero_cpu_capacity_names_stage_and_request(void)
{
    struct wn_pool_capacity cap = { 1, 0, 0, 0, NULL };
    struct wn_pool_request req = { "x", { 2, 0, 0, 0 }, 0, 1, 10 };
    struct wn_pool_plan plan;
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_pool_plan(&cap, &req, &plan, &err), WN_ERESOURCE);
    CU_ASSERT_EQUAL(err.code, WN_ERESOURCE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'x' asks 2 cpus per actor but 1 is "
                                               "available after reserving 0"));
    CU_ASSERT_EQUAL(plan.actors, 0);
}

static void test_reserving_everything_leaves_zero_capacity(void)
{
    struct wn_pool_capacity cap = { 8, 0, 10, 0, NULL };
    struct wn_pool_request req = { "big", { 1, 0, 0, 0 }, 0, 1, 10 };
    struct wn_pool_plan plan;
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_pool_plan(&cap, &req, &plan, &err), WN_ERESOURCE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'big' asks 1 cpus per actor but 0 are "
                                               "available after reserving 10"));
}

static void test_zero_gpu_capacity_names_gpus(void)
{
    struct wn_pool_capacity cap = { 8, 0, 0, 0, NULL };
    struct wn_pool_request req = { "embed", { 1, 0.5, 0, 0 }, 0, 1, 10 };
    struct wn_pool_plan plan;
    struct wn_error err = WN_ERROR_INIT;
    uint32_t max_actors = 99;

    CU_ASSERT_EQUAL(wn_pool_plan(&cap, &req, &plan, &err), WN_ERESOURCE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'embed' asks 0.5 gpus per actor but 0 "
                                               "are available after reserving 0"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "executor.gpus"));
    /* The same check alone, as the executor runs it before any stage. */
    wn_error_clear(&err);
    CU_ASSERT_EQUAL(wn_pool_max_actors(&cap, &req, &max_actors, &err), WN_ERESOURCE);
    CU_ASSERT_EQUAL(max_actors, 0);
}

static void test_gpu_memory_without_device_needs_a_gpu(void)
{
    struct wn_pool_capacity cap = { 8, 0, 0, 0, NULL };
    struct wn_pool_request req = { "m", { 1, 0, 16, 0 }, 0, 1, 10 };
    struct wn_pool_plan plan;
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_pool_plan(&cap, &req, &plan, &err), WN_ERESOURCE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "gpu_memory_gb"));
    CU_ASSERT_DOUBLE_EQUAL(wn_pool_gpus_per_actor(&req.resources), 1.0, 1e-12);
}

static void test_zero_tasks_with_zero_capacity_is_still_an_error(void)
{
    struct wn_pool_capacity cap = { 1, 0, 0, 0, NULL };
    struct wn_pool_request req = { "x", { 4, 0, 0, 0 }, 0, 1, 0 };
    struct wn_pool_plan plan;
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_pool_plan(&cap, &req, &plan, &err), WN_ERESOURCE);
}

static void test_unconstrained_stage_is_limited_in_threads(void)
{
    struct wn_pool_capacity cap = { 4, 0, 0, 0, NULL };
    struct wn_pool_request req = { "io", { 0, 0, 0, 0 }, 0, 1, 1000000 };
    struct wn_pool_plan plan;
    struct wn_error err = WN_ERROR_INIT;

    CU_ASSERT_EQUAL(wn_pool_plan(&cap, &req, &plan, &err), 0);
    CU_ASSERT_EQUAL(plan.max_actors, WN_POOL_UNLIMITED);
    CU_ASSERT_EQUAL(plan.actors, WN_POOL_THREAD_LIMIT);
    CU_ASSERT_EQUAL(plan.thread_limited, 1);
}

static void test_affinity_cpus_match_the_mask(void)
{
    cpu_set_t set;
    double cpus = wn_pool_affinity_cpus();

    CU_ASSERT(cpus >= 1.0);
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        CU_ASSERT_DOUBLE_EQUAL(cpus, (double)CPU_COUNT(&set), 1e-12);
    }
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "sizing table (cpus, fractional gpus, reserved, explicit, 0 tasks)", test_sizing_table },
        { "zero cpu capacity names stage and request",
          test_zero_cpu_capacity_names_stage_and_request },
        { "reserving everything leaves zero capacity",
          test_reserving_everything_leaves_zero_capacity },
        { "zero gpu capacity names gpus", test_zero_gpu_capacity_names_gpus },
        { "gpu_memory_gb without device info needs a gpu",
          test_gpu_memory_without_device_needs_a_gpu },
        { "zero tasks with zero capacity is still an error",
          test_zero_tasks_with_zero_capacity_is_still_an_error },
        { "unconstrained stage is limited in threads",
          test_unconstrained_stage_is_limited_in_threads },
        { "affinity cpus match the mask", test_affinity_cpus_match_the_mask },
        { NULL, NULL },
    };

    return wn_test_run_suite("actor_pool pool sizing", tests, NULL, NULL);
}
