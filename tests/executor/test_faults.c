/*
 * Fault handling of the actor_pool executor: on_error retry (on another
 * actor when there is one) and skip (the failure manifest), a batch still
 * failing after its retries, a failing batch that consumed its inputs, and
 * hooks that hang past timeout_s.  Every run also checks the accounting
 * identity of every stage in its report (probe.c).
 */
#include "build_config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <winnow/log.h>

#include "cu.h"
#include "executor.h"
#include "probe.h"

static const char *const modes[] = { "streaming", "barrier" };

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void check_in_order(const struct collector *sink, long n, long skip_every, long skip_len)
{
    size_t k = 0;

    for (long v = 0; v < n; v++) {
        char want[32];

        if (skip_every > 0 && v % skip_every < skip_len)
            continue;
        snprintf(want, sizeof(want), "root_%ld", v);
        CU_ASSERT_FATAL(k < sink->n);
        CU_ASSERT_STRING_EQUAL(wn_task_id(sink->tasks[k]), want);
        k++;
    }
    CU_ASSERT_EQUAL(k, sink->n);
}

static json_t *report_stage(json_t *report, size_t i)
{
    return json_array_get(json_object_get(report, "stages"), i);
}

static void test_retry_runs_a_failed_batch_again_on_another_actor(void)
{
    /* Every 5th batch fails once; 3 actors started together. */
    static const struct stage_spec stages[] = {
        { "flaky",
          "{\"forward\": true, \"fail_every\": 5, \"fail_attempts\": 1, "
          "\"sleep_max_us\": 200}",
          1, 3, 0, NULL, WN_ON_ERROR_RETRY, 2, 0, 0, 0, 0 },
        { "after", "{\"slot\": 1, \"forward\": true}", 2, 1, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
    };

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        struct wn_stage_stats stats[2];
        struct run_result result;
        struct collector sink;
        char json[64];

        seen_reset();
        collector_init(&sink);
        snprintf(json, sizeof(json), "{\"mode\": \"%s\"}", modes[m]);
        CU_ASSERT_EQUAL_FATAL(
            run_pipeline_with(json, stages, 2, 40, &sink, stats, NULL, &result, &err), 0);
        check_in_order(&sink, 40, 0, 0);
        for (long v = 0; v < 40; v += 5) {
            char id[32];
            int actors[2] = { -1, -1 };

            snprintf(id, sizeof(id), "root_%ld", v);
            CU_ASSERT_EQUAL(attempts_of(id, actors, 2), 2);
            CU_ASSERT(actors[0] >= 0 && actors[1] >= 0 && actors[0] != actors[1]);
        }
        CU_ASSERT_EQUAL(
            json_integer_value(json_object_get(report_stage(result.report, 0), "retries")), 8);
        CU_ASSERT_EQUAL(seen.slot[0].process_calls, 48);
        CU_ASSERT_EQUAL(stats[0].tasks_failed, 0);
        CU_ASSERT_EQUAL(stats[0].batches, 48); /* failed attempts count as batches run */
        /* the failed attempt left no output behind and no perf record */
        for (size_t i = 0; i < sink.n; i++)
            CU_ASSERT_EQUAL(wn_task_perf_count(sink.tasks[i]), 2);
        json_decref(result.report);
        collector_free(&sink);
    }
}

static void test_retry_with_one_actor_runs_on_that_actor(void)
{
    static const struct stage_spec stages[] = {
        { "flaky", "{\"forward\": true, \"fail_every\": 3, \"fail_attempts\": 2}", 1, 1, 0, NULL,
          WN_ON_ERROR_RETRY, 3, 0, 0, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct collector sink;
    int actors[3];

    seen_reset();
    collector_init(&sink);
    CU_ASSERT_EQUAL_FATAL(run_pipeline("{}", stages, 1, 9, &sink, NULL, &err), 0);
    check_in_order(&sink, 9, 0, 0);
    CU_ASSERT_EQUAL(attempts_of("root_3", actors, 3), 3);
    CU_ASSERT(actors[0] == 0 && actors[1] == 0 && actors[2] == 0);
    CU_ASSERT_EQUAL(seen.slot[0].creates, 1);
    collector_free(&sink);
}

static void test_batch_failing_after_its_retries_fails_the_run(void)
{
    static const struct stage_spec stages[] = {
        { "stubborn", "{\"forward\": true, \"fail_every\": 4}", 2, 2, 0, NULL, WN_ON_ERROR_RETRY, 2,
          0, 0, 0, 0 },
    };

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        struct collector sink;
        char json[64];

        seen_reset();
        collector_init(&sink);
        snprintf(json, sizeof(json), "{\"mode\": \"%s\"}", modes[m]);
        CU_ASSERT_EQUAL(run_pipeline(json, stages, 1, 10, &sink, NULL, &err), WN_EDATA);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'stubborn' actor "));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, " failed on task root_"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "(and 1 more) after 3 attempts: batch of v "));
        CU_ASSERT_EQUAL(seen.slot[0].teardowns, seen.slot[0].creates);
        collector_free(&sink);
    }
}

static void test_batch_that_consumed_its_inputs_is_not_retried(void)
{
    static const struct stage_spec stages[] = {
        { "greedy",
          "{\"forward\": true, \"fail_every\": 2, \"fail_attempts\": 1, "
          "\"consume_on_fail\": true}",
          1, 1, 0, NULL, WN_ON_ERROR_RETRY, 2, 0, 0, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;

    seen_reset();
    CU_ASSERT_EQUAL(run_pipeline("{}", stages, 1, 4, NULL, NULL, &err), WN_EDATA);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'greedy' actor 0/1 failed on task "
                                               "(consumed by the stage) and consumed 1 of its 1 "
                                               "inputs, so it cannot be retried: batch of v 0 "
                                               "refused"));
}

/* The lines of a failure manifest, parsed. */
static size_t read_manifest(const char *path, json_t **lines, size_t max)
{
    char *text = read_text(path);
    size_t n = 0;

    if (text == NULL)
        return 0;
    for (char *line = strtok(text, "\n"); line != NULL && n < max; line = strtok(NULL, "\n")) {
        json_error_t jerr;

        lines[n] = json_loads(line, 0, &jerr);
        if (lines[n] == NULL)
            fprintf(stderr, "manifest line '%s': %s\n", line, jerr.text);
        CU_ASSERT_PTR_NOT_NULL(lines[n]);
        if (lines[n] != NULL)
            n++;
    }
    free(text);
    return n;
}

static void test_skip_writes_failed_tasks_to_the_manifest(void)
{
    /* Batches of 2; those starting at v % 4 == 0 always fail: 20 of 40 tasks skipped. */
    static const struct stage_spec stages[] = {
        { "picky", "{\"forward\": true, \"fail_every\": 4, \"sleep_max_us\": 100}", 2, 3, 0, NULL,
          WN_ON_ERROR_SKIP, 0, 0, 0, 0, 0 },
        { "after", "{\"slot\": 1, \"forward\": true}", 3, 2, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
    };

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        struct wn_stage_stats stats[2];
        struct run_result result;
        struct collector sink;
        char path[256], json[512];
        json_t *lines[64], *failures;
        int seen_ids[40] = { 0 };
        size_t n;

        seen_reset();
        collector_init(&sink);
        test_path(path, sizeof(path), m ? "skipped-barrier.jsonl" : "skipped.jsonl");
        snprintf(json, sizeof(json), "{\"mode\": \"%s\", \"failures\": \"%s\"}", modes[m], path);
        CU_ASSERT_EQUAL_FATAL(
            run_pipeline_with(json, stages, 2, 40, &sink, stats, NULL, &result, &err), 0);
        check_in_order(&sink, 40, 4, 2);
        CU_ASSERT_EQUAL(stats[0].tasks_failed, 20);
        CU_ASSERT_EQUAL(stats[0].tasks_out, 20);
        CU_ASSERT_EQUAL(result.reporting.tasks_skipped, 20);
        failures = json_object_get(result.report, "failures");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(failures, "path")), path);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(failures, "tasks")), 20);
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(
                            json_object_get(report_stage(result.report, 0), "tasks"), "skipped")),
                        20);
        n = read_manifest(path, lines, 64);
        CU_ASSERT_EQUAL_FATAL(n, 20);
        for (size_t i = 0; i < n; i++) {
            const char *task = json_string_value(json_object_get(lines[i], "task"));
            long v = task ? strtol(task + 5, NULL, 10) : -1;

            CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(lines[i], "stage")), "picky");
            CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(lines[i], "dataset")), "test");
            CU_ASSERT_FATAL(v >= 0 && v < 40);
            CU_ASSERT_EQUAL(v % 4 < 2, 1);
            seen_ids[v]++;
            {
                char want[64];

                snprintf(want, sizeof(want), "batch of v %ld refused", v - v % 4);
                CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(lines[i], "error")), want);
            }
            CU_ASSERT(json_integer_value(json_object_get(lines[i], "actor")) >= 0);
            CU_ASSERT_EQUAL(json_integer_value(json_object_get(lines[i], "attempts")), 1);
            json_decref(lines[i]);
        }
        for (long v = 0; v < 40; v++)
            CU_ASSERT_EQUAL(seen_ids[v], v % 4 < 2 ? 1 : 0);
        json_decref(result.report);
        collector_free(&sink);
    }
}

static void test_skip_retries_first_and_the_host_path_wins(void)
{
    /* max_retries 1 with a batch failing once: nothing is skipped; the
     * manifest named by the host (the CLI's --failures) is the one written. */
    static const struct stage_spec stages[] = {
        { "picky", "{\"forward\": true, \"fail_every\": 3, \"fail_attempts\": 1}", 1, 2, 0, NULL,
          WN_ON_ERROR_SKIP, 1, 0, 0, 0, 0 },
    };
    struct wn_run_reporting rep;
    struct wn_error err = WN_ERROR_INIT;
    struct run_result result;
    struct collector sink;
    char host_path[256], param_path[256], json[512];
    char *text;

    seen_reset();
    collector_init(&sink);
    test_path(host_path, sizeof(host_path), "host-failures.jsonl");
    test_path(param_path, sizeof(param_path), "param-failures.jsonl");
    snprintf(json, sizeof(json), "{\"failures\": \"%s\"}", param_path);
    memset(&rep, 0, sizeof(rep));
    rep.failures_path = host_path;
    CU_ASSERT_EQUAL_FATAL(run_pipeline_with(json, stages, 1, 12, &sink, NULL, &rep, &result, &err),
                          0);
    check_in_order(&sink, 12, 0, 0);
    CU_ASSERT_EQUAL(result.reporting.tasks_skipped, 0);
    text = read_text(host_path);
    CU_ASSERT_PTR_NOT_NULL(text);
    CU_ASSERT_STRING_EQUAL(text ? text : "?", ""); /* created, empty */
    free(text);
    CU_ASSERT_EQUAL(access(param_path, F_OK), -1);
    json_decref(result.report);
    collector_free(&sink);
}

static char warnings[4096];

static void capture_warnings(enum wn_log_level level, const char *domain, const char *message,
                             void *user_data)
{
    (void)user_data;
    if (level <= WN_LOG_WARN) {
        size_t used = strlen(warnings);
        snprintf(warnings + used, sizeof(warnings) - used, "%s: %s\n", domain, message);
    }
}

static void test_skip_without_a_manifest_counts_and_warns(void)
{
    static const struct stage_spec stages[] = {
        { "picky", "{\"forward\": true, \"fail_every\": 2}", 1, 1, 0, NULL, WN_ON_ERROR_SKIP, 0, 0,
          0, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats;
    struct collector sink;

    seen_reset();
    collector_init(&sink);
    warnings[0] = '\0';
    wn_log_set_handler(capture_warnings, NULL);
    CU_ASSERT_EQUAL_FATAL(run_pipeline("{}", stages, 1, 6, &sink, &stats, &err), 0);
    wn_log_set_handler(NULL, NULL);
    check_in_order(&sink, 6, 2, 1);
    CU_ASSERT_EQUAL(stats.tasks_failed, 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(warnings, "stage 'picky' skips failed tasks, but no failure "
                                            "manifest was given"));
    CU_ASSERT_PTR_NOT_NULL(strstr(warnings, "stage 'picky' skipped task root_2 after 1 "
                                            "attempt(s): batch of v 2 refused"));
    collector_free(&sink);
}

/* Waits (at most 10 s) until the run an abandoned actor holds is freed. */
static void wait_for_abandoned_run(void)
{
    double until = now_s() + 10.0;

    while (wn_ap_live_runs() > 0 && now_s() < until)
        usleep(2000);
    CU_ASSERT_EQUAL(wn_ap_live_runs(), 0);
    free_kept_params();
}

static void test_hung_process_batch_fails_the_run_after_timeout_s(void)
{
    static const struct stage_spec stages[] = {
        { "hang", "{\"forward\": true, \"hang_on\": \"root_3\"}", 1, 2, 0, NULL, WN_ON_ERROR_FAIL,
          0, 0.3, 0, 0, 0 },
        { "after", "{\"slot\": 1, \"forward\": true}", 1, 1, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
    };

    for (int m = 0; m < 2; m++) {
        struct wn_error err = WN_ERROR_INIT;
        struct run_result result;
        char json[64];
        double start, took;
        int rc;

        seen_reset();
        snprintf(json, sizeof(json), "{\"mode\": \"%s\"}", modes[m]);
        start = now_s();
        rc = run_pipeline_with(json, stages, 2, 8, NULL, NULL, NULL, &result, &err);
        took = now_s() - start;
        CU_ASSERT_EQUAL(rc, WN_ETIMEDOUT);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'hang' actor "));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "/2: process_batch on task root_3 did not "
                                                   "return within timeout_s 0.3"));
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "leaves that thread running"));
        CU_ASSERT(took >= 0.3 && took < 5.0);
        CU_ASSERT_EQUAL(result.reporting.threads_abandoned, 1);
        CU_ASSERT_EQUAL(__atomic_load_n(&seen.hanging, __ATOMIC_SEQ_CST), 1);
        /* the other actor was torn down; the hung one cannot be yet */
        CU_ASSERT_EQUAL(seen.slot[0].creates, 2);
        CU_ASSERT_EQUAL(seen.slot[0].teardowns, 1);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(result.report, "status")),
                               "failed");
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(result.report, "threads_abandoned")), 1);
        json_decref(result.report);

        /* When the hook returns, its thread tears down and frees the run. */
        __atomic_store_n(&seen.hang_released, 1, __ATOMIC_SEQ_CST);
        wait_for_abandoned_run();
        CU_ASSERT_EQUAL(seen.slot[0].teardowns, 2);
        CU_ASSERT_EQUAL(seen.slot[0].destroys, 2);
    }
}

static void test_hung_setup_fails_the_run_after_timeout_s(void)
{
    static const struct stage_spec stages[] = {
        { "stuck", "{\"forward\": true, \"hang_in_setup\": true}", 1, 1, 0, NULL, WN_ON_ERROR_FAIL,
          0, 0.2, 0, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct run_result result;

    seen_reset();
    CU_ASSERT_EQUAL(run_pipeline_with("{}", stages, 1, 3, NULL, NULL, NULL, &result, &err),
                    WN_ETIMEDOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "stage 'stuck' actor 0/1: setup did not return "
                                               "within timeout_s 0.2"));
    CU_ASSERT_EQUAL(result.reporting.threads_abandoned, 1);
    json_decref(result.report);
    __atomic_store_n(&seen.hang_released, 1, __ATOMIC_SEQ_CST);
    wait_for_abandoned_run();
    CU_ASSERT_EQUAL(seen.slot[0].teardowns, 1);
    CU_ASSERT_EQUAL(seen.slot[0].destroys, 1);
}

static void test_waiting_for_room_downstream_is_not_a_timeout(void)
{
    /* One process_batch emits 300 tasks into a stage 2 ms per task: it waits
     * ~0.6 s for room, longer than its timeout_s, and still succeeds. */
    static const struct stage_spec stages[] = {
        { "source", "{\"fanout\": 300}", 1, 1, 0, NULL, WN_ON_ERROR_FAIL, 0, 0.2, 0, 0, 0 },
        { "slow", "{\"slot\": 1, \"forward\": true, \"sleep_us\": 2000}", 1, 1, 0, NULL,
          WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct collector sink;

    seen_reset();
    collector_init(&sink);
    CU_ASSERT_EQUAL(run_pipeline("{\"queue_tasks\": 16}", stages, 2, 1, &sink, NULL, &err), 0);
    CU_ASSERT_EQUAL(sink.n, 300);
    collector_free(&sink);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "retry runs a failed batch again on another actor",
          test_retry_runs_a_failed_batch_again_on_another_actor },
        { "retry with one actor runs on that actor", test_retry_with_one_actor_runs_on_that_actor },
        { "a batch failing after its retries fails the run",
          test_batch_failing_after_its_retries_fails_the_run },
        { "a batch that consumed its inputs is not retried",
          test_batch_that_consumed_its_inputs_is_not_retried },
        { "skip writes failed tasks to the failure manifest",
          test_skip_writes_failed_tasks_to_the_manifest },
        { "skip retries first, and the host's manifest path wins",
          test_skip_retries_first_and_the_host_path_wins },
        { "skip without a manifest counts and warns",
          test_skip_without_a_manifest_counts_and_warns },
        { "a hung process_batch fails the run after timeout_s",
          test_hung_process_batch_fails_the_run_after_timeout_s },
        { "a hung setup fails the run after timeout_s",
          test_hung_setup_fails_the_run_after_timeout_s },
        { "waiting for room downstream is not a timeout",
          test_waiting_for_room_downstream_is_not_a_timeout },
        { NULL, NULL },
    };

    return wn_test_run_suite("actor_pool faults", tests, NULL, NULL);
}
