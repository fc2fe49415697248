/*
 * GPUs in the actor_pool executor: the ledger that packs actors onto
 * devices (fractional gpus, gpu_memory_gb, entire_gpu, reservations), and
 * runs on an injected fake device list: device ids in the worker info, the
 * device made current on the actor's thread before setup, streaming's one
 * placement per GPU stage, the executor params that override discovery.
 * The real backend (the CUDA runtime by dlopen) finds no GPU on a machine
 * without one.
 */
#include "build_config.h"

#include <stdio.h>
#include <string.h>

#include "cu.h"
#include "gpu.h"
#include "probe.h"

/* ---- the ledger ------------------------------------------------------------------------ */

static const struct wn_gpu_device two_devices[] = { { 2, 16.0 }, { 5, 80.0 } };

static struct wn_resources gpus(double g, double mem, int entire)
{
    struct wn_resources r = { 1.0, g, mem, entire };
    return r;
}

static void test_fractional_actors_pack_onto_the_first_device_with_room(void)
{
    struct wn_gpu_ledger ledger;
    struct wn_resources half = gpus(0.5, 0, 0);
    struct wn_gpu_placement p[5];

    wn_gpu_ledger_init(&ledger, two_devices, 2, 0.0);
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &half), 4);
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(wn_gpu_ledger_place(&ledger, &half, &p[i]), 0);
        CU_ASSERT_EQUAL(p[i].count, 1);
        CU_ASSERT_EQUAL(p[i].index[0], i < 2 ? 0 : 1);
        CU_ASSERT_DOUBLE_EQUAL(p[i].share, 0.5, 1e-12);
    }
    CU_ASSERT_EQUAL(wn_gpu_ledger_place(&ledger, &half, &p[4]), WN_ERESOURCE);
    CU_ASSERT_EQUAL(p[4].count, 0);
    wn_gpu_ledger_release(&ledger, &p[1]);
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &half), 1);
    CU_ASSERT_DOUBLE_EQUAL(wn_gpu_ledger_total_free(&ledger), 0.5, 1e-12);
    /* 0.3 each: three on a device (rounding kept in check), six on two */
    wn_gpu_ledger_init(&ledger, two_devices, 2, 0.0);
    half = gpus(0.3, 0, 0);
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &half), 6);
    half = gpus(0.1, 0, 0);
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &half), 20);
}

static void test_gpu_memory_is_a_share_of_each_devices_memory(void)
{
    struct wn_gpu_ledger ledger;
    struct wn_resources twenty = gpus(0, 20.0, 0), eight = gpus(0, 8.0, 0);
    struct wn_gpu_placement p;

    wn_gpu_ledger_init(&ledger, two_devices, 2, 0.0);
    /* 20 GB does not fit the 16 GB device: four on the 80 GB one */
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &twenty), 4);
    CU_ASSERT_EQUAL(wn_gpu_ledger_place(&ledger, &twenty, &p), 0);
    CU_ASSERT_EQUAL(p.index[0], 1);
    CU_ASSERT_DOUBLE_EQUAL(p.share, 0.25, 1e-12);
    /* 8 GB: two on the 16 GB device, ten on the 80 GB one (less the 20 GB taken) */
    wn_gpu_ledger_init(&ledger, two_devices, 2, 0.0);
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &eight), 12);
    /* the larger of gpus and the memory share */
    eight.gpus = 0.75;
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &eight), 2);
    /* a device of unknown memory is taken whole */
    wn_gpu_ledger_init_count(&ledger, 2.0, 0.0);
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &twenty), 2);
}

static void test_entire_gpu_takes_whole_free_devices(void)
{
    struct wn_gpu_ledger ledger;
    struct wn_resources entire = gpus(0.25, 0, 1), quarter = gpus(0.25, 0, 0), two = gpus(2, 0, 0);
    struct wn_gpu_placement p, q;

    wn_gpu_ledger_init(&ledger, two_devices, 2, 0.0);
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &entire), 2);
    CU_ASSERT_EQUAL(wn_gpu_ledger_place(&ledger, &quarter, &q), 0);
    CU_ASSERT_EQUAL(q.index[0], 0);
    /* device 0 is partly taken: a whole device is device 1 */
    CU_ASSERT_EQUAL(wn_gpu_ledger_place(&ledger, &entire, &p), 0);
    CU_ASSERT_EQUAL(p.count, 1);
    CU_ASSERT_EQUAL(p.index[0], 1);
    CU_ASSERT_DOUBLE_EQUAL(p.share, 1.0, 1e-12);
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &entire), 0);
    wn_gpu_ledger_release(&ledger, &q);
    wn_gpu_ledger_release(&ledger, &p);
    /* gpus 2: two whole devices for one actor */
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &two), 1);
    CU_ASSERT_EQUAL(wn_gpu_ledger_place(&ledger, &two, &p), 0);
    CU_ASSERT_EQUAL(p.count, 2);
    CU_ASSERT_EQUAL(wn_gpu_ledger_total_free(&ledger), 0.0);
}

static void test_reserved_gpus_come_off_the_last_devices(void)
{
    struct wn_gpu_ledger ledger;
    struct wn_resources half = gpus(0.5, 0, 0), entire = gpus(0, 0, 1), none = gpus(0, 0, 0);

    wn_gpu_ledger_init(&ledger, two_devices, 2, 1.5);
    CU_ASSERT_DOUBLE_EQUAL(ledger.free[1], 0.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(ledger.free[0], 0.5, 1e-12);
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &half), 1);
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &entire), 0);
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &none), UINT32_MAX);
    /* a fractional count: the last device is a part of one */
    wn_gpu_ledger_init_count(&ledger, 1.5, 0.0);
    CU_ASSERT_EQUAL(ledger.n, 2);
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &half), 3);
    CU_ASSERT_EQUAL(wn_gpu_ledger_fit(&ledger, &entire), 1);
}

/* ---- runs on fake devices ------------------------------------------------------------------- */

/* How many actors saw each device id (device_seen holds id + 1). */
static int actors_on(int id)
{
    int n = 0;

    for (int i = 0; i < MAX_ACTORS; i++)
        n += seen.slot[0].device_seen[i] == id + 1;
    return n;
}

static void test_each_gpu_actor_gets_its_device_made_current_before_setup(void)
{
    static const struct stage_spec stages[] = {
        { "embed", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0.5, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats;
    struct collector sink;

    probe_use_fake_gpus(two_devices, 2);
    collector_init(&sink);
    CU_ASSERT_EQUAL_FATAL(
        run_pipeline("{\"cpus\": 16, \"mode\": \"barrier\"}", stages, 1, 8, &sink, &stats, &err),
        0);
    CU_ASSERT_EQUAL(sink.n, 8);
    CU_ASSERT_EQUAL(stats.actors, 4);
    CU_ASSERT_EQUAL(actors_on(2), 2);
    CU_ASSERT_EQUAL(actors_on(5), 2);
    CU_ASSERT_EQUAL(seen.slot[0].unbound, 0); /* current on its thread before setup */
    CU_ASSERT_EQUAL(probe_gpu_bind_calls, 4);
    CU_ASSERT_EQUAL(probe_gpu_discover_calls, 1);
    CU_ASSERT_EQUAL(seen.slot[0].bad_worker, 0);
    collector_free(&sink);
}

static void test_gpu_memory_and_entire_gpu_size_the_pool_from_the_devices(void)
{
    static const struct stage_spec memory[] = {
        { "big", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 20, 0 },
    };
    static const struct stage_spec entire[] = {
        { "whole", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0.25, 0, 1 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats;

    probe_use_fake_gpus(two_devices, 2);
    CU_ASSERT_EQUAL_FATAL(
        run_pipeline("{\"cpus\": 16, \"mode\": \"barrier\"}", memory, 1, 10, NULL, &stats, &err),
        0);
    CU_ASSERT_EQUAL(stats.actors, 4);
    CU_ASSERT_EQUAL(actors_on(5), 4);
    probe_use_fake_gpus(two_devices, 2);
    CU_ASSERT_EQUAL_FATAL(
        run_pipeline("{\"cpus\": 16, \"mode\": \"barrier\"}", entire, 1, 10, NULL, &stats, &err),
        0);
    CU_ASSERT_EQUAL(stats.actors, 2);
    CU_ASSERT_EQUAL(actors_on(2), 1);
    CU_ASSERT_EQUAL(actors_on(5), 1);
    /* streaming: the pool grows on the devices, up to what they hold */
    probe_use_fake_gpus(two_devices, 2);
    CU_ASSERT_EQUAL_FATAL(run_pipeline("{\"cpus\": 16}", memory, 1, 40, NULL, &stats, &err), 0);
    CU_ASSERT(stats.actors >= 1 && stats.actors <= 4);
    CU_ASSERT_EQUAL(actors_on(5), (int)stats.actors);
    CU_ASSERT_EQUAL(seen.slot[0].unbound, 0);
}

static void test_streaming_gives_every_gpu_stage_a_device_or_says_why_not(void)
{
    static const struct stage_spec two_entire[] = {
        { "a", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 1 },
        { "b", "{\"slot\": 1, \"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 1 },
    };
    static const struct stage_spec two_halves[] = {
        { "a", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0.5, 0, 0 },
        { "b", "{\"slot\": 1, \"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0.5, 0,
          0 },
    };
    static const struct wn_gpu_device one[] = { { 0, 40.0 } };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[2];
    struct collector sink;

    probe_use_fake_gpus(one, 1);
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 8}", two_entire, 2, 6, NULL, NULL, &err),
                    WN_ERESOURCE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'b' asks 1 GPUs per actor, but in "
                                               "streaming mode every stage runs at once"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "executor.mode \"barrier\""));
    CU_ASSERT_EQUAL(seen.total_creates, 0);
    /* one stage after the other, each has the device */
    probe_use_fake_gpus(one, 1);
    CU_ASSERT_EQUAL(
        run_pipeline("{\"cpus\": 8, \"mode\": \"barrier\"}", two_entire, 2, 6, NULL, stats, &err),
        0);
    CU_ASSERT_EQUAL(stats[0].actors, 1);
    CU_ASSERT_EQUAL(stats[1].actors, 1);
    /* halves: both stages stream on the one device, one actor each */
    probe_use_fake_gpus(one, 1);
    collector_init(&sink);
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 8}", two_halves, 2, 30, &sink, stats, &err), 0);
    CU_ASSERT_EQUAL(sink.n, 30);
    CU_ASSERT_EQUAL(stats[0].actors, 1);
    CU_ASSERT_EQUAL(stats[1].actors, 1);
    collector_free(&sink);
}

static void test_executor_params_override_discovery(void)
{
    static const struct stage_spec stages[] = {
        { "big", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 20, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats;

    /* No device found; executor.gpus 3 of 40 GB: 2 actors of 20 GB on each,
     * ids 0..2 assigned, none made current (there is no such device here). */
    probe_use_fake_gpus(NULL, 0);
    CU_ASSERT_EQUAL_FATAL(run_pipeline("{\"cpus\": 16, \"gpus\": 3, \"gpu_memory_gb\": 40, "
                                       "\"mode\": \"barrier\"}",
                                       stages, 1, 12, NULL, &stats, &err),
                          0);
    CU_ASSERT_EQUAL(stats.actors, 6);
    CU_ASSERT_EQUAL(actors_on(0), 2);
    CU_ASSERT_EQUAL(actors_on(1), 2);
    CU_ASSERT_EQUAL(actors_on(2), 2);
    CU_ASSERT_EQUAL(probe_gpu_bind_calls, 0);
    CU_ASSERT_EQUAL(seen.slot[0].unbound, 6);
    /* reserved_gpus comes off the last device */
    probe_use_fake_gpus(NULL, 0);
    CU_ASSERT_EQUAL_FATAL(run_pipeline("{\"cpus\": 16, \"gpus\": 3, \"gpu_memory_gb\": 40, "
                                       "\"reserved_gpus\": 1, \"mode\": \"barrier\"}",
                                       stages, 1, 12, NULL, &stats, &err),
                          0);
    CU_ASSERT_EQUAL(stats.actors, 4);
    CU_ASSERT_EQUAL(actors_on(2), 0);
}

static void test_no_gpu_stage_discovers_nothing(void)
{
    static const struct stage_spec stages[] = {
        { "cpu", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;

    probe_use_fake_gpus(two_devices, 2);
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 2}", stages, 1, 4, NULL, NULL, &err), 0);
    CU_ASSERT_EQUAL(probe_gpu_discover_calls, 0);
    CU_ASSERT_EQUAL(probe_gpu_bind_calls, 0);
}

static void test_the_cuda_runtime_finds_no_gpu_on_a_machine_without_one(void)
{
    static const struct stage_spec stages[] = {
        { "embed", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 1, 0, 0 },
    };
    struct wn_gpu_device devs[8];
    struct wn_error err = WN_ERROR_INIT;
    size_t n = 99;

    wn_gpu_set_backend(NULL);
    CU_ASSERT_STRING_EQUAL(wn_gpu_backend()->name, "CUDA runtime");
    CU_ASSERT_EQUAL(wn_gpu_discover(devs, 8, &n, &err), 0);
    if (n > 0) {
        fprintf(stderr, "(%zu GPU(s) here: the no-GPU case is not checked)\n", n);
        return;
    }
    seen_reset();
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 2}", stages, 1, 4, NULL, NULL, &err), WN_ERESOURCE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'embed' asks 1 gpus per actor but 0 are "
                                               "available"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "executor.gpus"));
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "fractional actors pack onto the first device with room",
          test_fractional_actors_pack_onto_the_first_device_with_room },
        { "gpu_memory_gb is a share of each device's memory",
          test_gpu_memory_is_a_share_of_each_devices_memory },
        { "entire_gpu takes whole free devices", test_entire_gpu_takes_whole_free_devices },
        { "reserved_gpus come off the last devices", test_reserved_gpus_come_off_the_last_devices },
        { "each GPU actor gets its device, made current before setup",
          test_each_gpu_actor_gets_its_device_made_current_before_setup },
        { "gpu_memory_gb and entire_gpu size the pool from the devices",
          test_gpu_memory_and_entire_gpu_size_the_pool_from_the_devices },
        { "streaming gives every GPU stage a device, or says why not",
          test_streaming_gives_every_gpu_stage_a_device_or_says_why_not },
        { "executor params override discovery", test_executor_params_override_discovery },
        { "no GPU stage discovers nothing", test_no_gpu_stage_discovers_nothing },
        { "the CUDA runtime finds no GPU on a machine without one",
          test_the_cuda_runtime_finds_no_gpu_on_a_machine_without_one },
        { NULL, NULL },
    };

    return wn_test_run_suite("actor_pool GPUs", tests, NULL, NULL);
}
