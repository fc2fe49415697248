/*
 * The actor_pool executor, driven through its own entry point
 * (winnow_plugin_v1() of plugins/backends/actor_pool, compiled into this
 * program) with runs built by hand from the probe stage (probe.c): pools,
 * threads and hooks, batching and order, failures, streaming against barrier
 * mode, backpressure.  Every run also checks the accounting identity of
 * every stage in its report (probe.c).
 */
#include "build_config.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winnow/log.h>
#include <winnow/plugin.h>

#include "cu.h"
#include "params_internal.h"
#include "probe.h"

static const char *const modes[] = { "streaming", "barrier" };

/* executor params: {<extra>, "mode": mode} */
static const char *with_mode(char *buf, size_t size, const char *mode, const char *extra)
{
    snprintf(buf, size, "{%s%s\"mode\": \"%s\"}", extra ? extra : "", extra ? ", " : "", mode);
    return buf;
}

/* ---- sizes, threads, order ----------------------------------------------------------- */

/* root -> 300 children (v 0..299) -> 2 children each (v 0..599), 8 actors,
 * random sleeps -> keep v % 3 != 0, 8 actors, random sleeps. */
static const struct stage_spec accounting_stages[] = {
    { "spread", "{\"slot\": 0, \"fanout\": 300}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    { "work", "{\"slot\": 1, \"fanout\": 2, \"sleep_max_us\": 400}", 3, 8, 0.5, NULL,
      WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    { "keep", "{\"slot\": 2, \"forward\": true, \"drop_multiple_of\": 3, \"sleep_max_us\": 300}", 5,
      8, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
};

static void check_accounted(const struct collector *sink)
{
    size_t k = 0;
    long sum = 0;
    char want[64];

    CU_ASSERT_EQUAL_FATAL(sink->n, 400);
    for (long v = 0; v < 600; v++) {
        const struct wn_task *t;

        if (v % 3 == 0)
            continue;
        t = sink->tasks[k++];
        /* batch order: v = 2 * i + j comes from root_0_i_j */
        snprintf(want, sizeof(want), "root_0_%ld_%ld", v / 2, v % 2);
        CU_ASSERT_STRING_EQUAL(wn_task_id(t), want);
        CU_ASSERT_EQUAL(task_value(t), v);
        sum += task_value(t);
        /* a child starts its own record list: "work" made it, "keep" forwarded it */
        CU_ASSERT_EQUAL_FATAL(wn_task_perf_count(t), 2);
        CU_ASSERT_STRING_EQUAL(wn_task_perf_at(t, 0)->stage, "work");
        CU_ASSERT_STRING_EQUAL(wn_task_perf_at(t, 1)->stage, "keep");
        CU_ASSERT(wn_task_perf_at(t, 0)->process_s >= 0.0);
        CU_ASSERT(wn_task_perf_at(t, 0)->idle_s >= 0.0);
        CU_ASSERT_EQUAL(wn_task_perf_at(t, 0)->items, 3); /* 3 inputs of one file each */
        CU_ASSERT_EQUAL(wn_task_perf_at(t, 1)->items, 5);
    }
    CU_ASSERT_EQUAL(sum, 120000);
}

static void test_every_task_accounted_for_with_8_actors(void)
{
    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        struct wn_stage_stats stats[3];
        struct collector sink;
        char json[128];
        int rc;

        seen_reset();
        collector_init(&sink);
        rc = run_pipeline(with_mode(json, sizeof(json), modes[m], "\"cpus\": 8"), accounting_stages,
                          3, 1, &sink, stats, &err);
        if (rc != 0)
            fprintf(stderr, "run: %s\n", err.message);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        check_accounted(&sink);

        CU_ASSERT_EQUAL(stats[0].tasks_in, 1);
        CU_ASSERT_EQUAL(stats[0].items_in, 2);
        CU_ASSERT_EQUAL(stats[0].tasks_out, 300);
        CU_ASSERT_EQUAL(stats[0].items_out, 300);
        CU_ASSERT_EQUAL(stats[0].batches, 1);
        CU_ASSERT_EQUAL(stats[0].actors, 1);
        CU_ASSERT_EQUAL(stats[1].tasks_in, 300);
        CU_ASSERT_EQUAL(stats[1].tasks_out, 600);
        CU_ASSERT_EQUAL(stats[1].batches, 100);
        CU_ASSERT_EQUAL(stats[1].actors, 8);
        CU_ASSERT_EQUAL(stats[2].tasks_in, 600);
        CU_ASSERT_EQUAL(stats[2].items_in, 600);
        CU_ASSERT_EQUAL(stats[2].tasks_out, 400);
        CU_ASSERT_EQUAL(stats[2].items_out, 400);
        CU_ASSERT_EQUAL(stats[2].batches, 120);
        CU_ASSERT_EQUAL(stats[2].actors, 8);
        CU_ASSERT(stats[1].busy_s > 0.0);
        CU_ASSERT(stats[1].wall_s > 0.0);
        CU_ASSERT(stats[1].wall_s <= stats[1].busy_s + 1.0);

        CU_ASSERT_EQUAL(seen.slot[1].process_calls, 100);
        CU_ASSERT_EQUAL(seen.slot[2].process_calls, 120);
        for (int s = 0; s < 3; s++) {
            CU_ASSERT_EQUAL(seen.slot[s].teardowns, seen.slot[s].creates);
            CU_ASSERT_EQUAL(seen.slot[s].destroys, seen.slot[s].creates);
        }
        CU_ASSERT_EQUAL(seen.concurrent, 0);
        CU_ASSERT_EQUAL(seen.wrong_thread, 0);
        CU_ASSERT_EQUAL(seen.out_of_order, 0);
        collector_free(&sink);
    }
}

static void test_output_order_is_deterministic_across_runs(void)
{
    struct collector first, second;
    struct wn_error err = WN_ERROR_INIT;

    seen_reset();
    collector_init(&first);
    collector_init(&second);
    CU_ASSERT_EQUAL_FATAL(run_pipeline("{\"cpus\": 8, \"max_inflight\": 1, \"queue_tasks\": 1}",
                                       accounting_stages, 3, 1, &first, NULL, &err),
                          0);
    CU_ASSERT_EQUAL_FATAL(run_pipeline("{\"cpus\": 8, \"max_inflight\": 4, \"queue_tasks\": 64}",
                                       accounting_stages, 3, 1, &second, NULL, &err),
                          0);
    CU_ASSERT_EQUAL_FATAL(first.n, second.n);
    for (size_t i = 0; i < first.n; i++)
        CU_ASSERT_STRING_EQUAL(wn_task_id(first.tasks[i]), wn_task_id(second.tasks[i]));
    check_accounted(&first);
    check_accounted(&second);
    collector_free(&first);
    collector_free(&second);
}

/* Everything a task carries that a mode could change. */
static void check_same_task(const struct wn_task *a, const struct wn_task *b)
{
    CU_ASSERT_STRING_EQUAL(wn_task_id(a), wn_task_id(b));
    CU_ASSERT_EQUAL(task_value(a), task_value(b));
    CU_ASSERT_EQUAL(wn_task_num_items(a), wn_task_num_items(b));
    CU_ASSERT_EQUAL_FATAL(wn_task_perf_count(a), wn_task_perf_count(b));
    for (size_t k = 0; k < wn_task_perf_count(a); k++) {
        CU_ASSERT_STRING_EQUAL(wn_task_perf_at(a, k)->stage, wn_task_perf_at(b, k)->stage);
        CU_ASSERT_EQUAL(wn_task_perf_at(a, k)->items, wn_task_perf_at(b, k)->items);
    }
}

static void test_streaming_and_barrier_give_the_same_outputs(void)
{
    /* 40 roots -> 3 children each (batches of 4) -> drop v % 5 == 0 (batches
     * of 7, random sleeps) -> 2 children each (batches of 3) -> drop v % 7. */
    static const struct stage_spec stages[] = {
        { "expand", "{\"slot\": 0, \"fanout\": 3, \"sleep_max_us\": 200}", 4, 3, 1, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "filter",
          "{\"slot\": 1, \"forward\": true, \"drop_multiple_of\": 5, "
          "\"sleep_max_us\": 300}",
          7, 4, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "again", "{\"slot\": 2, \"fanout\": 2, \"sleep_max_us\": 100}", 3, 0, 1, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "last", "{\"slot\": 3, \"forward\": true, \"drop_multiple_of\": 7}", 5, 2, 1, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    struct wn_stage_stats stats[2][4];
    struct collector out[2];
    struct wn_error err = WN_ERROR_INIT;
    size_t expected = 0;

    for (long v = 0; v < 40 * 3; v++)
        if (v % 5 != 0)
            for (long j = 0; j < 2; j++)
                expected += (v * 2 + j) % 7 != 0;
    for (int m = 0; m < 2; m++) {
        char json[128];

        seen_reset();
        collector_init(&out[m]);
        CU_ASSERT_EQUAL_FATAL(
            run_pipeline(with_mode(json, sizeof(json), modes[m], "\"cpus\": 4, \"queue_tasks\": 6"),
                         stages, 4, 40, &out[m], stats[m], &err),
            0);
    }
    CU_ASSERT_EQUAL(out[0].n, expected);
    CU_ASSERT_EQUAL_FATAL(out[0].n, out[1].n);
    for (size_t i = 0; i < out[0].n; i++)
        check_same_task(out[0].tasks[i], out[1].tasks[i]);
    for (int s = 0; s < 4; s++) {
        CU_ASSERT_EQUAL(stats[0][s].tasks_in, stats[1][s].tasks_in);
        CU_ASSERT_EQUAL(stats[0][s].tasks_out, stats[1][s].tasks_out);
        CU_ASSERT_EQUAL(stats[0][s].items_in, stats[1][s].items_in);
        CU_ASSERT_EQUAL(stats[0][s].batches, stats[1][s].batches);
    }
    collector_free(&out[0]);
    collector_free(&out[1]);
}

static void test_fused_stages_give_the_same_outputs_as_unfused_ones(void)
{
    /* "src" (batches of 2, 3 actors) fans out; "a", "b", "c" (batch_size 1,
     * same pool) fuse into it when allowed: the same outputs in every case. */
    static const struct stage_spec stages[] = {
        { "src", "{\"slot\": 0, \"fanout\": 3, \"sleep_max_us\": 100}", 2, 3, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "a", "{\"slot\": 1, \"forward\": true, \"drop_multiple_of\": 4, \"metric\": true}", 1, 3,
          0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "b", "{\"slot\": 2, \"fanout\": 2, \"sleep_max_us\": 50}", 1, 3, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "c", "{\"slot\": 3, \"forward\": true, \"drop_multiple_of\": 5}", 1, 3, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    static const char *const executors[] = { "{}", "{\"fuse\": false}", "{\"mode\": \"barrier\"}" };
    struct wn_stage_stats stats[3][4];
    struct collector out[3];
    struct wn_error err = WN_ERROR_INIT;

    for (int e = 0; e < 3; e++) {
        struct run_result result;

        seen_reset();
        collector_init(&out[e]);
        CU_ASSERT_EQUAL_FATAL(
            run_pipeline_with(executors[e], stages, 4, 30, &out[e], stats[e], NULL, &result, &err),
            0);
        for (size_t i = 1; i < 4; i++) {
            json_t *fused = json_object_get(
                json_array_get(json_object_get(result.report, "stages"), i), "fused_into");

            if (e == 0) {
                CU_ASSERT_STRING_EQUAL(json_string_value(fused), "src");
            } else {
                CU_ASSERT(json_is_null(fused));
            }
        }
        json_decref(result.report);
        /* every hook on its own actor's thread, in order, never concurrently */
        CU_ASSERT_EQUAL(seen.wrong_thread, 0);
        CU_ASSERT_EQUAL(seen.concurrent, 0);
        CU_ASSERT_EQUAL(seen.out_of_order, 0);
        for (int k = 0; k < 4; k++) {
            CU_ASSERT_EQUAL(seen.slot[k].teardowns, seen.slot[k].creates);
            CU_ASSERT_EQUAL(seen.slot[k].destroys, seen.slot[k].creates);
            CU_ASSERT(seen.slot[k].creates <= 3);
        }
    }
    for (int e = 1; e < 3; e++) {
        CU_ASSERT_EQUAL_FATAL(out[0].n, out[e].n);
        for (size_t i = 0; i < out[0].n; i++)
            check_same_task(out[0].tasks[i], out[e].tasks[i]);
        for (int k = 0; k < 4; k++) {
            CU_ASSERT_EQUAL(stats[0][k].tasks_in, stats[e][k].tasks_in);
            CU_ASSERT_EQUAL(stats[0][k].tasks_out, stats[e][k].tasks_out);
            CU_ASSERT_EQUAL(stats[0][k].items_in, stats[e][k].items_in);
            CU_ASSERT_EQUAL(stats[0][k].batches, stats[e][k].batches);
        }
    }
    CU_ASSERT_EQUAL(stats[0][1].batches, 90); /* batch_size 1: one per task */
    CU_ASSERT(stats[0][1].actors >= 1 && stats[0][1].actors <= 3);
    for (int e = 0; e < 3; e++)
        collector_free(&out[e]);
}

/* Runs stages under each executor params of executors[0..n_exec) and checks
 * that every run gives the outputs and per-stage counts of the first. */
static void check_same_runs(const char *const *executors, int n_exec,
                            const struct stage_spec *stages, size_t n_stages, size_t n_roots,
                            const char *const *fused_into /* of the first run, per stage */)
{
    struct wn_stage_stats stats[4][4];
    struct collector out[4];
    struct wn_error err = WN_ERROR_INIT;

    for (int e = 0; e < n_exec; e++) {
        struct run_result result;

        seen_reset();
        collector_init(&out[e]);
        CU_ASSERT_EQUAL_FATAL(run_pipeline_with(executors[e], stages, n_stages, n_roots, &out[e],
                                                stats[e], NULL, &result, &err),
                              0);
        for (size_t i = 0; i < n_stages; i++) {
            json_t *fused = json_object_get(
                json_array_get(json_object_get(result.report, "stages"), i), "fused_into");

            if (fused_into[i] != NULL && strstr(executors[e], "false") == NULL &&
                strstr(executors[e], "barrier") == NULL) {
                CU_ASSERT_STRING_EQUAL(json_string_value(fused), fused_into[i]);
            } else {
                CU_ASSERT(json_is_null(fused));
            }
        }
        json_decref(result.report);
        /* every hook on its own actor's thread, in order, never concurrently */
        CU_ASSERT_EQUAL(seen.wrong_thread, 0);
        CU_ASSERT_EQUAL(seen.concurrent, 0);
        CU_ASSERT_EQUAL(seen.out_of_order, 0);
        for (size_t k = 0; k < n_stages; k++) {
            CU_ASSERT_EQUAL(seen.slot[k].teardowns, seen.slot[k].creates);
            CU_ASSERT_EQUAL(seen.slot[k].destroys, seen.slot[k].creates);
            CU_ASSERT(seen.slot[k].creates <= (int)stages[k].actors);
        }
    }
    for (int e = 1; e < n_exec; e++) {
        CU_ASSERT_EQUAL_FATAL(out[0].n, out[e].n);
        for (size_t i = 0; i < out[0].n; i++)
            check_same_task(out[0].tasks[i], out[e].tasks[i]);
        for (size_t k = 0; k < n_stages; k++) {
            CU_ASSERT_EQUAL(stats[0][k].tasks_in, stats[e][k].tasks_in);
            CU_ASSERT_EQUAL(stats[0][k].tasks_out, stats[e][k].tasks_out);
            CU_ASSERT_EQUAL(stats[0][k].items_in, stats[e][k].items_in);
            CU_ASSERT_EQUAL(stats[0][k].items_out, stats[e][k].items_out);
            CU_ASSERT_EQUAL(stats[0][k].batches, stats[e][k].batches);
        }
    }
    /* an explicit pool starts whole, grouped or not */
    for (size_t k = 0; k < n_stages; k++)
        if (fused_into[k] == NULL || stages[k].batch_size > 1)
            CU_ASSERT_EQUAL(stats[0][k].actors, stages[k].actors);
    for (int e = 0; e < n_exec; e++)
        collector_free(&out[e]);
}

static void test_grouped_stages_give_the_same_outputs_as_unfused_ones(void)
{
    /* Stages of any batch_size with the head's explicit pool run on its
     * threads (a group), each with its own batches: "a" and "c" join the
     * group of "src", "b" (batch_size 1) fuses into "a".  Tiny windows
     * (queue_tasks 2, max_inflight 1) make the threads run member batches
     * while they wait for room. */
    static const struct stage_spec stages[] = {
        { "src", "{\"slot\": 0, \"fanout\": 3, \"sleep_max_us\": 100}", 2, 3, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "a", "{\"slot\": 1, \"forward\": true, \"drop_multiple_of\": 4, \"metric\": true}", 4, 3,
          0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "b", "{\"slot\": 2, \"fanout\": 2, \"sleep_max_us\": 50}", 1, 3, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "c", "{\"slot\": 3, \"forward\": true, \"drop_multiple_of\": 5, \"sleep_max_us\": 30}", 5,
          3, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    static const char *const executors[] = {
        "{\"cpus\": 2}", "{\"fuse\": false}", "{\"mode\": \"barrier\"}",
        "{\"queue_tasks\": 2, \"max_inflight\": 1, \"cpus\": 2}"
    };
    static const char *const fused_into[] = { NULL, "src", "a", "src" };

    check_same_runs(executors, 4, stages, 4, 40, fused_into);
}

static void test_grouped_stage_fanning_out_streams_in_small_windows(void)
{
    /* A member whose batches emit more than a window holds passes them on
     * while it runs, and the group's threads run the next member meanwhile. */
    static const struct stage_spec stages[] = {
        { "feed", "{\"slot\": 0, \"forward\": true}", 1, 2, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
        { "big", "{\"slot\": 1, \"fanout\": 150, \"sleep_max_us\": 50}", 2, 2, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "tail", "{\"slot\": 2, \"forward\": true, \"drop_multiple_of\": 3}", 7, 2, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    static const char *const executors[] = {
        "{\"queue_tasks\": 4, \"max_inflight\": 1, \"cpus\": 2}", "{\"mode\": \"barrier\"}"
    };
    static const char *const fused_into[] = { NULL, "feed", "feed" };

    check_same_runs(executors, 2, stages, 3, 12, fused_into);
}

static void test_failing_grouped_stage_names_itself(void)
{
    static const struct stage_spec stages[] = {
        { "src", "{\"slot\": 0, \"forward\": true}", 2, 2, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
        { "member", "{\"slot\": 1, \"forward\": true, \"fail_on\": \"root_5\"}", 3, 2, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct run_result result;

    seen_reset();
    CU_ASSERT_EQUAL(
        run_pipeline_with("{\"cpus\": 2}", stages, 2, 12, NULL, NULL, NULL, &result, &err),
        WN_EDATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'member' actor "));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(err.message, "/2 failed on task root_3 (and 2 more): no good root_5"));
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(
            json_array_get(json_object_get(result.report, "stages"), 1), "fused_into")),
        "src");
    json_decref(result.report);
    CU_ASSERT_EQUAL(seen.slot[1].teardowns, seen.slot[1].creates);
    CU_ASSERT_EQUAL(seen.slot[0].teardowns, seen.slot[0].creates);
    CU_ASSERT_EQUAL(seen.wrong_thread, 0);
}

/* Items a stage passes on are counted when it emits them and handed to the
 * next stage with the batch it fills (not counted again): the counts must be
 * those of a barrier run, which counts every batch's inputs, for batches that
 * line up (src's 2 outputs fill one batch of "a") and batches that do not
 * ("a"'s pairs into batches of 3 of "b"), tasks of 1 and 2 items mixed. */
static void test_items_passed_on_are_counted_once_and_agree_with_a_recount(void)
{
    static const struct stage_spec stages[] = {
        { "src", "{\"slot\": 0, \"forward\": true, \"fanout\": 1}", 1, 2, 0, NULL, WN_ON_ERROR_FAIL,
          0, 0, 0, 0, 0 },
        { "a", "{\"slot\": 1, \"forward\": true}", 2, 2, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "b", "{\"slot\": 2, \"forward\": true, \"drop_multiple_of\": 3}", 3, 2, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    /* grouped on 2 CPUs, each pool on its own threads, barrier */
    static const char *const executors[] = { "{\"cpus\": 2}", "{\"fuse\": false}",
                                             "{\"mode\": \"barrier\"}" };
    static const uint64_t items_in[] = { 60, 90, 90 }, items_out[] = { 90, 90, 60 };
    struct wn_stage_stats stats[3][3];
    struct collector out[3];
    struct wn_error err = WN_ERROR_INIT;

    for (int e = 0; e < 3; e++) {
        seen_reset();
        collector_init(&out[e]);
        CU_ASSERT_EQUAL_FATAL(run_pipeline(executors[e], stages, 3, 30, &out[e], stats[e], &err),
                              0);
        for (int k = 0; k < 3; k++) {
            CU_ASSERT_EQUAL(stats[e][k].items_in, items_in[k]);
            CU_ASSERT_EQUAL(stats[e][k].items_out, items_out[k]);
        }
        CU_ASSERT_EQUAL(stats[e][1].batches, 30);
        CU_ASSERT_EQUAL(stats[e][2].batches, 20);
    }
    for (int e = 1; e < 3; e++) {
        CU_ASSERT_EQUAL_FATAL(out[0].n, out[e].n);
        for (size_t i = 0; i < out[0].n; i++)
            check_same_task(out[0].tasks[i], out[e].tasks[i]);
    }
    CU_ASSERT_EQUAL(out[0].n, 40);
    for (int e = 0; e < 3; e++)
        collector_free(&out[e]);
}

/* Small batches are published and taken many at a time (GROUP_TASKS): a
 * window smaller than such a group still streams, in order, with two
 * actors per stage sharing the batches. */
static void test_batch_size_1_streams_through_a_window_smaller_than_a_publish_group(void)
{
    static const struct stage_spec stages[] = {
        { "one", "{\"slot\": 0, \"forward\": true}", 1, 2, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
        { "two", "{\"slot\": 1, \"forward\": true, \"drop_multiple_of\": 4}", 1, 2, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    static const char *const executors[] = { "{\"queue_tasks\": 3, \"fuse\": false}",
                                             "{\"queue_tasks\": 3}", "{\"mode\": \"barrier\"}" };
    struct wn_stage_stats stats[3][2];
    struct collector out[3];
    struct wn_error err = WN_ERROR_INIT;

    for (int e = 0; e < 3; e++) {
        seen_reset();
        collector_init(&out[e]);
        CU_ASSERT_EQUAL_FATAL(run_pipeline(executors[e], stages, 2, 500, &out[e], stats[e], &err),
                              0);
        CU_ASSERT_EQUAL(stats[e][0].tasks_in, 500);
        CU_ASSERT_EQUAL(stats[e][0].batches, 500);
        CU_ASSERT_EQUAL(stats[e][1].tasks_out, 375);
        CU_ASSERT_EQUAL(stats[e][1].tasks_in, 500);
        CU_ASSERT_EQUAL(out[e].n, 375);
    }
    for (int e = 0; e < 2; e++) {
        CU_ASSERT_EQUAL_FATAL(out[e].n, out[2].n);
        for (size_t i = 0; i < out[2].n; i++)
            check_same_task(out[e].tasks[i], out[2].tasks[i]);
    }
    for (int e = 0; e < 3; e++)
        collector_free(&out[e]);
}

/* The feeder hands the initial tasks over in chunks: when the run fails
 * while it waits for room, every initial task is still counted in the first
 * stage (the ones it never took as dropped), and none leaks (ASan). */
static void test_a_run_failing_while_fed_counts_every_initial_task(void)
{
    static const struct stage_spec stages[] = {
        { "first", "{\"slot\": 0, \"forward\": true, \"fail_on\": \"root_5\"}", 2, 1, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "second", "{\"slot\": 1, \"forward\": true}", 1, 1, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct run_result result;
    json_t *first;

    seen_reset();
    CU_ASSERT_EQUAL_FATAL(
        run_pipeline_with("{\"queue_tasks\": 4}", stages, 2, 1000, NULL, NULL, NULL, &result, &err),
        -10);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "root_4 (and 1 more)"));
    first = json_array_get(json_object_get(result.report, "stages"), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(first, "tasks"), "in")),
                    1000);
    CU_ASSERT(json_integer_value(json_object_get(json_object_get(first, "tasks"), "dropped")) >=
              1000 - 4 * 2 - 8);
    json_decref(result.report);
}

static void test_stages_are_grouped_only_when_their_threads_outnumber_the_cpus(void)
{
    /* 2 + 2 actor threads: grouped on 3 CPUs, each pool on its own threads on 4. */
    static const struct stage_spec stages[] = {
        { "src", "{\"slot\": 0, \"forward\": true}", 2, 2, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
        { "next", "{\"slot\": 1, \"forward\": true}", 3, 2, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
    };
    static const char *const executors[] = { "{\"cpus\": 3}", "{\"cpus\": 4}" };
    struct wn_error err = WN_ERROR_INIT;

    for (int e = 0; e < 2; e++) {
        struct run_result result;
        json_t *fused;

        seen_reset();
        CU_ASSERT_EQUAL_FATAL(
            run_pipeline_with(executors[e], stages, 2, 20, NULL, NULL, NULL, &result, &err), 0);
        fused = json_object_get(json_array_get(json_object_get(result.report, "stages"), 1),
                                "fused_into");
        if (e == 0) {
            CU_ASSERT_STRING_EQUAL(json_string_value(fused), "src");
        } else {
            CU_ASSERT(json_is_null(fused));
        }
        json_decref(result.report);
    }
}

static void test_failing_fused_stage_names_itself(void)
{
    static const struct stage_spec stages[] = {
        { "src", "{\"slot\": 0, \"forward\": true}", 1, 2, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
        { "fused", "{\"slot\": 1, \"forward\": true, \"fail_on\": \"root_5\"}", 1, 2, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct run_result result;

    seen_reset();
    CU_ASSERT_EQUAL(run_pipeline_with("{}", stages, 2, 12, NULL, NULL, NULL, &result, &err),
                    WN_EDATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'fused' actor "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "/2 failed on task root_5: no good root_5"));
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(
            json_array_get(json_object_get(result.report, "stages"), 1), "fused_into")),
        "src");
    json_decref(result.report);
    CU_ASSERT_EQUAL(seen.slot[1].teardowns, seen.slot[1].creates);
    CU_ASSERT_EQUAL(seen.slot[0].teardowns, seen.slot[0].creates);
}

static void test_hooks_run_on_their_actor_thread_with_worker_info(void)
{
    static const struct stage_spec stages[] = {
        { "threads", "{\"slot\": 0, \"forward\": true, \"sleep_max_us\": 200}", 1, 6, 1, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        struct wn_stage_stats stats;
        struct collector sink;
        char json[128];

        seen_reset();
        collector_init(&sink);
        CU_ASSERT_EQUAL_FATAL(run_pipeline(with_mode(json, sizeof(json), modes[m], "\"cpus\": 16"),
                                           stages, 1, 40, &sink, &stats, &err),
                              0);
        CU_ASSERT_EQUAL(sink.n, 40);
        CU_ASSERT_EQUAL(stats.actors, 6);
        CU_ASSERT_EQUAL(seen.slot[0].creates, 6);
        CU_ASSERT_EQUAL(seen.slot[0].setups, 6);
        CU_ASSERT_EQUAL(seen.slot[0].teardowns, 6);
        CU_ASSERT_EQUAL(seen.slot[0].destroys, 6);
        CU_ASSERT_EQUAL(seen.slot[0].bad_worker, 0);
        CU_ASSERT_EQUAL(seen.slot[0].unbound, 0); /* no GPU: device_id -1 */
        for (int i = 0; i < 6; i++)
            CU_ASSERT_EQUAL(seen.slot[0].index_seen[i], 1);
        CU_ASSERT_EQUAL(seen.slot[0].process_calls, 40);
        CU_ASSERT_EQUAL(seen.wrong_thread, 0);
        CU_ASSERT_EQUAL(seen.concurrent, 0);
        CU_ASSERT_EQUAL(seen.out_of_order, 0);
        collector_free(&sink);
    }
}

static void test_setup_on_node_once_per_stage_before_any_actor(void)
{
    static const struct stage_spec stages[] = {
        { "a", "{\"slot\": 0, \"forward\": true}", 1, 2, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "b", "{\"slot\": 1, \"forward\": true}", 2, 3, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "c", "{\"slot\": 2, \"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        char json[128];

        seen_reset();
        CU_ASSERT_EQUAL_FATAL(run_pipeline(with_mode(json, sizeof(json), modes[m], "\"cpus\": 4"),
                                           stages, 3, 10, NULL, NULL, &err),
                              0);
        CU_ASSERT_EQUAL_FATAL(seen.n_on_node, 3);
        CU_ASSERT_STRING_EQUAL(seen.on_node[0], "a");
        CU_ASSERT_STRING_EQUAL(seen.on_node[1], "b");
        CU_ASSERT_STRING_EQUAL(seen.on_node[2], "c");
        CU_ASSERT_EQUAL(seen.on_node_off_driver, 0);
        CU_ASSERT_EQUAL(seen.on_node_after_create, 0);
        CU_ASSERT_EQUAL(seen.slot[0].creates, 2);
        CU_ASSERT_EQUAL(seen.slot[1].creates, 3);
        if (m == 1) {
            CU_ASSERT_EQUAL(seen.slot[2].creates, 4); /* sized for its 10 tasks on 4 CPUs */
        } else {
            /* streaming: the pool grows with its queue, up to 4 */
            CU_ASSERT(seen.slot[2].creates >= 1 && seen.slot[2].creates <= 4);
        }
    }
}

static void test_cpus_override_sizes_the_pool(void)
{
    const struct stage_spec stages[] = {
        { "sized", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats;

    seen_reset();
    CU_ASSERT_EQUAL(
        run_pipeline("{\"cpus\": 3, \"mode\": \"barrier\"}", stages, 1, 10, NULL, &stats, &err), 0);
    CU_ASSERT_EQUAL(stats.actors, 3);
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 3, \"reserved_cpus\": 1, \"mode\": \"barrier\"}",
                                 stages, 1, 10, NULL, &stats, &err),
                    0);
    CU_ASSERT_EQUAL(stats.actors, 2);
    CU_ASSERT_EQUAL(
        run_pipeline("{\"cpus\": 64, \"mode\": \"barrier\"}", stages, 1, 5, NULL, &stats, &err), 0);
    CU_ASSERT_EQUAL(stats.actors, 5);
    /* streaming grows on demand, never past what the resources hold */
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 2}", stages, 1, 50, NULL, &stats, &err), 0);
    CU_ASSERT(stats.actors >= 1 && stats.actors <= 2);
}

static char warnings[2048];

static void capture_warnings(enum wn_log_level level, const char *domain, const char *message,
                             void *user_data)
{
    (void)user_data;
    if (level <= WN_LOG_WARN) {
        size_t used = strlen(warnings);
        snprintf(warnings + used, sizeof(warnings) - used, "%s: %s\n", domain, message);
    }
}

static void test_explicit_actors_are_capped_with_a_warning(void)
{
    const struct stage_spec stages[] = {
        { "greedy", "{\"forward\": true}", 1, 5, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        struct wn_stage_stats stats;
        char json[128];

        seen_reset();
        warnings[0] = '\0';
        wn_log_set_handler(capture_warnings, NULL);
        CU_ASSERT_EQUAL(run_pipeline(with_mode(json, sizeof(json), modes[m], "\"cpus\": 2"), stages,
                                     1, 10, NULL, &stats, &err),
                        0);
        wn_log_set_handler(NULL, NULL);
        CU_ASSERT_EQUAL(stats.actors, 2);
        CU_ASSERT_EQUAL(seen.slot[0].creates, 2);
        CU_ASSERT_PTR_NOT_NULL(strstr(warnings, "stage 'greedy': 5 actors asked, but the "
                                                "resources hold only 2"));
    }
}

/* ---- failures -------------------------------------------------------------------------- */

static void test_failing_process_batch_fails_the_run_and_tears_down(void)
{
    static const struct stage_spec stages[] = {
        { "boom",
          "{\"slot\": 0, \"forward\": true, \"fail_on\": \"root_7\", "
          "\"sleep_max_us\": 300}",
          3, 4, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "after", "{\"slot\": 1, \"forward\": true}", 1, 2, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
    };

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        struct wn_stage_stats stats[2];
        struct collector sink;
        char json[128];
        int rc;

        seen_reset();
        collector_init(&sink);
        rc = run_pipeline(with_mode(json, sizeof(json), modes[m], "\"cpus\": 4"), stages, 2, 30,
                          &sink, stats, &err);
        CU_ASSERT_EQUAL(rc, WN_EDATA);
        CU_ASSERT_EQUAL(err.code, WN_EDATA);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'boom' actor "));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "/4 failed on task root_6 (and 2 more): "
                                                   "no good root_7"));
        CU_ASSERT_EQUAL(seen.slot[0].creates, 4);
        CU_ASSERT_EQUAL(seen.slot[0].teardowns, 4);
        CU_ASSERT_EQUAL(seen.slot[0].destroys, 4);
        CU_ASSERT(seen.slot[0].process_calls >= 1);
        CU_ASSERT(seen.slot[0].process_calls <= 10);
        CU_ASSERT_EQUAL(stats[0].tasks_in, 30);
        CU_ASSERT_EQUAL(seen.concurrent, 0);
        CU_ASSERT_EQUAL(seen.wrong_thread, 0);
        if (m == 1) { /* barrier: nothing passes a failed stage */
            CU_ASSERT_EQUAL(sink.n, 0);
            CU_ASSERT_EQUAL(seen.slot[1].create_calls, 0);
            CU_ASSERT_EQUAL(stats[0].tasks_out, 0);
            CU_ASSERT_EQUAL(stats[1].tasks_in, 0);
        } else {
            /* streaming: what was passed on before the failure is delivered,
             * in order, and only batches before the failing one (root_6..8) */
            CU_ASSERT(sink.n <= 6);
            for (size_t i = 0; i < sink.n; i++) {
                char want[32];

                snprintf(want, sizeof(want), "root_%zu", i);
                CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[i]), want);
            }
            CU_ASSERT(stats[0].tasks_out <= 6);
            CU_ASSERT_EQUAL(seen.slot[1].teardowns, seen.slot[1].creates);
        }
        collector_free(&sink);
    }
}

static void test_failure_without_message_gets_the_code_meaning(void)
{
    static const struct stage_spec stages[] = {
        { "quiet",
          "{\"slot\": 0, \"forward\": true, \"fail_on\": \"root_2\", "
          "\"fail_quietly\": true, \"fail_code\": -1}",
          1, 2, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;

    seen_reset();
    CU_ASSERT_EQUAL(run_pipeline("{\"cpus\": 2}", stages, 1, 5, NULL, NULL, &err), WN_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'quiet' actor "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "/2 failed on task root_2: (no message): "
                                               "invalid argument"));
    CU_ASSERT_EQUAL(seen.slot[0].destroys, seen.slot[0].creates);
}

static void test_failing_setup_fails_the_run_and_tears_down_every_actor(void)
{
    static const struct stage_spec stages[] = {
        { "src", "{\"slot\": 1, \"forward\": true}", 1, 2, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
        { "picky", "{\"slot\": 0, \"forward\": true, \"fail_setup_actor\": 2}", 1, 4, 1, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        char json[128];

        seen_reset();
        CU_ASSERT_EQUAL(run_pipeline(with_mode(json, sizeof(json), modes[m], "\"cpus\": 4"), stages,
                                     2, 8, NULL, NULL, &err),
                        WN_EIO);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'picky' actor 2/4 failed in setup: "
                                                   "setup refused on actor 2"));
        CU_ASSERT_EQUAL(seen.slot[0].creates, 4);
        CU_ASSERT_EQUAL(seen.slot[0].setups, 4);
        CU_ASSERT_EQUAL(seen.slot[0].teardowns, 4);
        CU_ASSERT_EQUAL(seen.slot[0].destroys, 4);
        /* a pool starts once all its actors are set up: none ran a batch */
        CU_ASSERT_EQUAL(seen.slot[0].process_calls, 0);
        if (m == 1) {
            CU_ASSERT_EQUAL(seen.slot[1].process_calls, 8);
        }
        CU_ASSERT_EQUAL(seen.slot[1].destroys, 2);
        CU_ASSERT_EQUAL(seen.wrong_thread, 0);
    }
}

static void test_failing_create_destroys_the_actors_created(void)
{
    static const struct stage_spec stages[] = {
        { "fragile", "{\"slot\": 0, \"forward\": true, \"fail_create_call\": 1}", 1, 4, 1, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        char json[128];

        seen_reset();
        CU_ASSERT_EQUAL(run_pipeline(with_mode(json, sizeof(json), modes[m], "\"cpus\": 4"), stages,
                                     1, 8, NULL, NULL, &err),
                        WN_EIO);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'fragile' actor "));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "/4 failed in create: create refused on "
                                                   "call 1"));
        CU_ASSERT_EQUAL(seen.slot[0].create_calls, 4);
        CU_ASSERT_EQUAL(seen.slot[0].creates, 3);
        CU_ASSERT_EQUAL(seen.slot[0].teardowns, 3);
        CU_ASSERT_EQUAL(seen.slot[0].destroys, 3);
        CU_ASSERT_EQUAL(seen.slot[0].process_calls, 0);
    }
}

static void test_stage_emitting_nothing_does_not_abort_the_run(void)
{
    static const struct stage_spec stages[] = {
        { "src", "{\"slot\": 0, \"fanout\": 3}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "drop_all", "{\"slot\": 1, \"forward\": true, \"drop_multiple_of\": 1}", 2, 0, 1, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "after", "{\"slot\": 2, \"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
    };

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        struct wn_stage_stats stats[3];
        struct collector sink;
        char json[128];

        seen_reset();
        collector_init(&sink);
        CU_ASSERT_EQUAL_FATAL(run_pipeline(with_mode(json, sizeof(json), modes[m], "\"cpus\": 4"),
                                           stages, 3, 4, &sink, stats, &err),
                              0);
        CU_ASSERT_EQUAL(sink.n, 0);
        CU_ASSERT_EQUAL(stats[0].tasks_out, 12);
        CU_ASSERT_EQUAL(stats[1].tasks_in, 12);
        CU_ASSERT_EQUAL(stats[1].tasks_out, 0);
        if (m == 1) {
            CU_ASSERT_EQUAL(stats[1].actors, 4);
        } else {
            CU_ASSERT(stats[1].actors >= 1 && stats[1].actors <= 4);
        }
        CU_ASSERT_EQUAL(stats[2].tasks_in, 0);
        CU_ASSERT_EQUAL(stats[2].tasks_out, 0);
        CU_ASSERT_EQUAL(stats[2].batches, 0);
        CU_ASSERT_EQUAL(stats[2].actors, 0);
        CU_ASSERT_EQUAL(seen.slot[1].process_calls, 6);
        CU_ASSERT_EQUAL(seen.slot[2].create_calls, 0);
        collector_free(&sink);
    }
}

static void test_no_initial_task_runs_nothing(void)
{
    static const struct stage_spec stages[] = {
        { "src", "{\"slot\": 0, \"fanout\": 3}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        struct wn_stage_stats stats;
        struct collector sink;
        char json[128];

        seen_reset();
        collector_init(&sink);
        CU_ASSERT_EQUAL(run_pipeline(with_mode(json, sizeof(json), modes[m], NULL), stages, 1, 0,
                                     &sink, &stats, &err),
                        0);
        CU_ASSERT_EQUAL(sink.n, 0);
        CU_ASSERT_EQUAL(stats.actors, 0);
        CU_ASSERT_EQUAL(seen.slot[0].create_calls, 0);
        collector_free(&sink);
    }
}

static void check_rejected_before_running(const struct stage_spec *stages, size_t n,
                                          const char *executor_json, int code, const char *text)
{
    struct wn_error err = WN_ERROR_INIT;
    struct collector sink;

    seen_reset();
    collector_init(&sink);
    CU_ASSERT_EQUAL(run_pipeline(executor_json, stages, n, 3, &sink, NULL, &err), code);
    if (strstr(err.message, text) == NULL)
        fprintf(stderr, "expected '%s' in '%s'\n", text, err.message);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, text));
    CU_ASSERT_EQUAL(seen.n_on_node, 0);
    CU_ASSERT_EQUAL(seen.total_creates, 0);
    CU_ASSERT_EQUAL(sink.n, 0);
    collector_free(&sink);
}

static void test_comms_stage_without_provider_is_rejected_before_running(void)
{
    const struct stage_spec comms[] = {
        { "ok", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "ranks", "{}", 1, 0, 1, &probe_comms_desc, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };

    /* COMMS stages run (tests/comms/test_comms_stage.c), given a provider. */
    check_rejected_before_running(comms, 2, "{}", WN_ECONFIG,
                                  "stage 'ranks' is a COMMS stage but the run names no comms "
                                  "provider");
    check_rejected_before_running(comms, 2, "{\"mode\": \"barrier\"}", WN_ECONFIG,
                                  "stage 'ranks' is a COMMS stage but the run names no comms "
                                  "provider");
}

static void test_zero_capacity_fails_before_anything_runs(void)
{
    const struct stage_spec stages[] = {
        { "small", "{\"forward\": true}", 1, 0, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "huge", "{\"slot\": 1}", 1, 0, 4, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };

    check_rejected_before_running(stages, 2, "{\"cpus\": 2}", WN_ERESOURCE,
                                  "stage 'huge' asks 4 cpus per actor but 2 are available after "
                                  "reserving 0");
    check_rejected_before_running(stages, 2, "{\"cpus\": 5, \"reserved_cpus\": 2}", WN_ERESOURCE,
                                  "stage 'huge' asks 4 cpus per actor but 3 are available after "
                                  "reserving 2");
    check_rejected_before_running(stages, 2, "{\"cpus\": 0}", WN_ECONFIG, "executor.cpus");
}

static void test_refusing_sink_fails_the_run(void)
{
    const struct stage_spec stages[] = {
        { "fwd", "{\"forward\": true}", 2, 2, 1, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        struct collector sink;
        char json[128];

        seen_reset();
        collector_init(&sink);
        sink.refuse_from = 3;
        CU_ASSERT_EQUAL(run_pipeline(with_mode(json, sizeof(json), modes[m], "\"cpus\": 2"), stages,
                                     1, 6, &sink, NULL, &err),
                        WN_EIO);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "sink refused output task root_3 (output 4)"));
        CU_ASSERT_EQUAL(sink.n, 3);
        CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[2]), "root_2");
        collector_free(&sink);
    }
}

/* ---- backpressure ------------------------------------------------------------------------ */

static void test_slow_stage_holds_back_the_stage_before_it(void)
{
    /* "feed" forwards fast (20 us a task); "slow" takes 100x longer.  Streaming
     * keeps "feed" a window ahead of "slow"; barrier lets it run to the end. */
    static const struct stage_spec stages[] = {
        { "feed", "{\"slot\": 0, \"forward\": true, \"sleep_us\": 20}", 1, 1, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "slow", "{\"slot\": 1, \"forward\": true, \"sleep_us\": 2000, \"ahead_of\": 0}", 1, 1, 0,
          NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    long ahead[2];

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        struct collector sink;
        char json[128];

        seen_reset();
        collector_init(&sink);
        CU_ASSERT_EQUAL_FATAL(run_pipeline(with_mode(json, sizeof(json), modes[m],
                                                     "\"queue_tasks\": 4, \"max_inflight\": 1"),
                                           stages, 2, 60, &sink, NULL, &err),
                              0);
        CU_ASSERT_EQUAL_FATAL(sink.n, 60);
        for (size_t i = 0; i < sink.n; i++) {
            char want[32];

            snprintf(want, sizeof(want), "root_%zu", i);
            CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[i]), want);
        }
        ahead[m] = seen.slot[1].max_ahead;
        collector_free(&sink);
    }
    /* Windows of 4 batches: "slow"'s queue, "feed"'s own outputs waiting to
     * pass, one batch running on each side. */
    CU_ASSERT(ahead[0] <= 12);
    CU_ASSERT_EQUAL(ahead[1], 60 - 1);
}

static void test_fan_out_source_streams_under_backpressure(void)
{
    /* One batch emits 600 tasks; streaming passes them on while it runs
     * (the source waits for room), barrier holds them all. */
    static const struct stage_spec stages[] = {
        { "source", "{\"slot\": 0, \"fanout\": 600}", 1, 1, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
        { "sink", "{\"slot\": 1, \"forward\": true, \"sleep_us\": 300, \"ahead_of\": 0}", 4, 1, 0,
          NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    long ahead[2];

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        struct wn_stage_stats stats[2];
        struct collector sink;
        char json[128];

        seen_reset();
        collector_init(&sink);
        CU_ASSERT_EQUAL_FATAL(
            run_pipeline(with_mode(json, sizeof(json), modes[m], "\"queue_tasks\": 8"), stages, 2,
                         1, &sink, stats, &err),
            0);
        CU_ASSERT_EQUAL_FATAL(sink.n, 600);
        CU_ASSERT_STRING_EQUAL(wn_task_id(sink.tasks[599]), "root_0_599");
        CU_ASSERT_EQUAL(stats[0].batches, 1);
        CU_ASSERT_EQUAL(stats[1].batches, 150);
        ahead[m] = seen.slot[1].max_ahead;
        collector_free(&sink);
    }
    /* Passed on 64 at a time (queue_tasks, at least 64), into a window of 2 batches of 4. */
    CU_ASSERT(ahead[0] <= 64 + 8 + 8);
    CU_ASSERT_EQUAL(ahead[1], 600 - 4);
}

static void test_far_more_tasks_than_queue_slots(void)
{
    static const struct stage_spec stages[] = {
        { "one", "{\"slot\": 0, \"forward\": true}", 1, 2, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
        { "three", "{\"slot\": 1, \"forward\": true, \"drop_multiple_of\": 10}", 3, 3, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "seven", "{\"slot\": 2, \"fanout\": 1}", 7, 2, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[3];
    struct collector sink;
    size_t k = 0;

    seen_reset();
    collector_init(&sink);
    CU_ASSERT_EQUAL_FATAL(run_pipeline("{\"queue_tasks\": 2, \"max_inflight\": 1}", stages, 3,
                                       20000, &sink, stats, &err),
                          0);
    CU_ASSERT_EQUAL_FATAL(sink.n, 18000);
    for (long v = 0; v < 20000; v++) {
        char want[32];

        if (v % 10 == 0)
            continue;
        snprintf(want, sizeof(want), "root_%ld_0", v);
        if (strcmp(wn_task_id(sink.tasks[k]), want) != 0) {
            CU_FAIL("out of order");
            fprintf(stderr, "at %zu: %s, expected %s\n", k, wn_task_id(sink.tasks[k]), want);
            break;
        }
        k++;
    }
    CU_ASSERT_EQUAL(stats[0].batches, 20000);
    CU_ASSERT_EQUAL(stats[1].batches, 6667);
    CU_ASSERT_EQUAL(stats[2].batches, 18000 / 7 + 1);
    collector_free(&sink);
}

/* ---- params -------------------------------------------------------------------------------- */

static void test_backend_descriptor_and_params(void)
{
    const struct wn_plugin *plugin = winnow_plugin_v1();
    const struct wn_backend_desc *backend = plugin->backends[0];
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params = NULL;
    static const char *const refused[] = { "{\"mode\": \"fast\"}",
                                           "{\"max_inflight\": 0}",
                                           "{\"reserved_gpus\": -1}",
                                           "{\"queue_tasks\": 0}",
                                           "{\"progress_interval_s\": 0}",
                                           "{\"gpus\": -1}",
                                           NULL };

    CU_ASSERT_STRING_EQUAL(backend->name, "actor_pool");
    CU_ASSERT_EQUAL(backend->kind, WN_BACKEND_EXECUTOR);
    CU_ASSERT_PTR_NULL(plugin->backends[1]);
    CU_ASSERT_EQUAL(executor()->version, WN_EXECUTOR_OPS_VERSION);
    CU_ASSERT_EQUAL(wn_params_check_spec(backend->params, "actor_pool", &err), 0);

    params = params_from(backend->params, "{}");
    CU_ASSERT_STRING_EQUAL(wn_params_get_string(params, "mode"), "streaming");
    CU_ASSERT_EQUAL(wn_params_get_int(params, "max_inflight"), 2);
    CU_ASSERT_EQUAL(wn_params_get_int(params, "queue_tasks"), 1024);
    CU_ASSERT_DOUBLE_EQUAL(wn_params_get_double(params, "reserved_cpus"), 0.0, 1e-12);
    CU_ASSERT_FALSE(wn_params_has(params, "cpus"));
    CU_ASSERT_FALSE(wn_params_has(params, "gpus"));
    CU_ASSERT_FALSE(wn_params_has(params, "failures"));
    wn_params_free(params);
    params = params_from(backend->params, "{\"mode\": \"barrier\", \"failures\": \"f.jsonl\"}");
    CU_ASSERT_STRING_EQUAL(wn_params_get_string(params, "mode"), "barrier");
    CU_ASSERT_STRING_EQUAL(wn_params_get_string(params, "failures"), "f.jsonl");
    wn_params_free(params);

    for (const char *const *text = refused; *text != NULL; text++) {
        json_t *json = json_loads(*text, 0, NULL);

        params = NULL;
        CU_ASSERT_EQUAL(wn_params_new(backend->params, json, "executor", &params, &err),
                        WN_ECONFIG);
        CU_ASSERT_PTR_NULL(params);
        json_decref(json);
    }
    json_t *json = json_loads("{\"mode\": \"fast\"}", 0, NULL);
    wn_params_new(backend->params, json, "executor", &params, &err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "\"streaming\""));
    json_decref(json);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "backend descriptor and params", test_backend_descriptor_and_params },
        { "every task accounted for with 8 actors and uneven stage times (both modes)",
          test_every_task_accounted_for_with_8_actors },
        { "output order is deterministic across runs (batch order)",
          test_output_order_is_deterministic_across_runs },
        { "streaming and barrier give the same outputs, in the same order",
          test_streaming_and_barrier_give_the_same_outputs },
        { "fused stages give the same outputs as unfused ones",
          test_fused_stages_give_the_same_outputs_as_unfused_ones },
        { "a failing fused stage names itself", test_failing_fused_stage_names_itself },
        { "grouped stages give the same outputs as unfused ones",
          test_grouped_stages_give_the_same_outputs_as_unfused_ones },
        { "a grouped stage fanning out streams in small windows",
          test_grouped_stage_fanning_out_streams_in_small_windows },
        { "a failing grouped stage names itself", test_failing_grouped_stage_names_itself },
        { "a run failing while fed counts every initial task",
          test_a_run_failing_while_fed_counts_every_initial_task },
        { "items passed on are counted once and agree with a recount",
          test_items_passed_on_are_counted_once_and_agree_with_a_recount },
        { "batch_size 1 streams through a window smaller than a publish group",
          test_batch_size_1_streams_through_a_window_smaller_than_a_publish_group },
        { "stages are grouped only when their threads outnumber the CPUs",
          test_stages_are_grouped_only_when_their_threads_outnumber_the_cpus },
        { "create, setup, process, teardown, destroy on the actor's own thread",
          test_hooks_run_on_their_actor_thread_with_worker_info },
        { "setup_on_node once per stage, on the driver, before any actor",
          test_setup_on_node_once_per_stage_before_any_actor },
        { "cpus override sizes the pool", test_cpus_override_sizes_the_pool },
        { "explicit actors are capped with a warning",
          test_explicit_actors_are_capped_with_a_warning },
        { "failing process_batch fails the run and tears down every actor",
          test_failing_process_batch_fails_the_run_and_tears_down },
        { "failure without message gets the code's meaning",
          test_failure_without_message_gets_the_code_meaning },
        { "failing setup fails the run and tears down every actor",
          test_failing_setup_fails_the_run_and_tears_down_every_actor },
        { "failing create destroys the actors created",
          test_failing_create_destroys_the_actors_created },
        { "stage emitting nothing does not abort the run",
          test_stage_emitting_nothing_does_not_abort_the_run },
        { "no initial task runs nothing", test_no_initial_task_runs_nothing },
        { "a COMMS stage without a provider is rejected before running",
          test_comms_stage_without_provider_is_rejected_before_running },
        { "zero capacity fails before anything runs",
          test_zero_capacity_fails_before_anything_runs },
        { "refusing sink fails the run", test_refusing_sink_fails_the_run },
        { "a stage 100x slower holds back the stage before it",
          test_slow_stage_holds_back_the_stage_before_it },
        { "a fanning-out source streams under backpressure",
          test_fan_out_source_streams_under_backpressure },
        { "far more tasks than queue slots", test_far_more_tasks_than_queue_slots },
        { NULL, NULL },
    };

    return wn_test_run_suite("actor_pool executor", tests, NULL, NULL);
}
