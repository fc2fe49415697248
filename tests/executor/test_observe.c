/*
 * What a run of the actor_pool executor tells: progress lines (plain and
 * redrawn), the run report (JSON, with custom metrics) and the trace
 * (Chrome trace-event JSON); each output is parsed back.
 */
#include "build_config.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu.h"
#include "probe.h"

/* root -> 40 children -> forwarded slowly (5 ms a task, one actor): ~0.2 s. */
static const struct stage_spec slow_stages[] = {
    { "gen", "{\"fanout\": 40}", 1, 1, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    { "slow", "{\"slot\": 1, \"forward\": true, \"sleep_us\": 5000}", 1, 1, 0, NULL,
      WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
};

struct progress_line {
    double elapsed;
    char stage[64], state[16];
    unsigned long long in, out, skipped, queued;
    unsigned actors;
    double rate;
};

static int parse_progress(const char *line, struct progress_line *p)
{
    return sscanf(line,
                  "winnow: %lfs stage '%63[^']' %15[a-z]: %llu in, %llu out, %llu skipped, %llu "
                  "queued, %u actors, %lf items/s",
                  &p->elapsed, p->stage, p->state, &p->in, &p->out, &p->skipped, &p->queued,
                  &p->actors, &p->rate) == 9;
}

/* Runs slow_stages with progress `mode` written to a file; returns its text. */
static char *run_with_progress(enum wn_progress mode, const char *name)
{
    struct wn_run_reporting rep;
    struct wn_error err = WN_ERROR_INIT;
    char path[256];
    char *text;
    int fd;

    test_path(path, sizeof(path), name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CU_ASSERT_FATAL(fd >= 0);
    memset(&rep, 0, sizeof(rep));
    rep.progress = mode;
    rep.progress_fd = fd;
    rep.progress_interval_s = 0.03;
    seen_reset();
    CU_ASSERT_EQUAL(run_pipeline_with("{}", slow_stages, 2, 1, NULL, NULL, &rep, NULL, &err), 0);
    close(fd);
    text = read_text(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    return text;
}

static void test_progress_lines_show_every_stage_periodically(void)
{
    char *text = run_with_progress(WN_PROGRESS_LINES, "progress.txt");
    struct progress_line last[2];
    size_t n = 0;
    double elapsed = 0.0;

    CU_ASSERT_PTR_NULL(strchr(text, '\033')); /* plain lines: no escape */
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        struct progress_line p;

        if (!parse_progress(line, &p)) {
            fprintf(stderr, "not a progress line: '%s'\n", line);
            CU_FAIL("a progress line does not parse");
            continue;
        }
        CU_ASSERT_STRING_EQUAL(p.stage, n % 2 == 0 ? "gen" : "slow");
        CU_ASSERT(strcmp(p.state, "waiting") == 0 || strcmp(p.state, "running") == 0 ||
                  strcmp(p.state, "done") == 0);
        CU_ASSERT(p.elapsed >= elapsed);
        elapsed = p.elapsed;
        CU_ASSERT(p.out <= (n % 2 == 0 ? 40u : p.in));
        last[n % 2] = p;
        n++;
    }
    /* periodic blocks while it ran, then the final one */
    CU_ASSERT(n % 2 == 0);
    CU_ASSERT(n >= 4);
    CU_ASSERT_STRING_EQUAL(last[0].state, "done");
    CU_ASSERT_STRING_EQUAL(last[1].state, "done");
    CU_ASSERT_EQUAL(last[0].in, 1);
    CU_ASSERT_EQUAL(last[0].out, 40);
    CU_ASSERT_EQUAL(last[1].in, 40);
    CU_ASSERT_EQUAL(last[1].out, 40);
    CU_ASSERT_EQUAL(last[1].actors, 1);
    CU_ASSERT_EQUAL(last[1].queued, 0);
    /* rates as the run summary gives them: the larger side (gen turns 1 task
     * into 40) over the stage's own span, which is within the run's elapsed
     * time; 'slow' sleeps 5 ms per task on one actor, so at most 200/s */
    CU_ASSERT(last[0].rate >= 40.0 / (last[0].elapsed + 0.05));
    CU_ASSERT(last[1].rate > 0.0);
    CU_ASSERT(last[1].rate <= 200.0 * 1.01);
    free(text);
}

static void test_progress_on_a_terminal_is_redrawn_in_place(void)
{
    char *text = run_with_progress(WN_PROGRESS_LIVE, "live.txt");

    /* each block after the first moves up over the last one and clears its lines */
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\033[2A"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\033[2Kwinnow: "));
    free(text);
    /* AUTO on a file (not a terminal) gives plain lines */
    text = run_with_progress(WN_PROGRESS_AUTO, "auto.txt");
    CU_ASSERT_PTR_NULL(strchr(text, '\033'));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "stage 'slow' done: 40 in, 40 out, 0 skipped"));
    free(text);
}

static double number(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    CU_ASSERT(json_is_number(v));
    return json_number_value(v);
}

static json_int_t integer(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    CU_ASSERT(json_is_integer(v));
    return json_integer_value(v);
}

static void test_report_has_every_stage_actor_and_metric(void)
{
    static const struct stage_spec stages[] = {
        { "src", "{\"fanout\": 30, \"metric\": true}", 1, 1, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
        { "keep",
          "{\"slot\": 1, \"forward\": true, \"drop_multiple_of\": 3, \"metric\": true, "
          "\"sleep_max_us\": 300}",
          4, 3, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[2];
    struct run_result result;
    json_t *report, *list;

    seen_reset();
    CU_ASSERT_EQUAL_FATAL(
        run_pipeline_with("{\"cpus\": 4}", stages, 2, 1, NULL, stats, NULL, &result, &err), 0);
    report = result.report;
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(report, "report")), "winnow run");
    CU_ASSERT_EQUAL(integer(report, "version"), 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(report, "executor")), "actor_pool");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(report, "mode")), "streaming");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(report, "status")), "ok");
    CU_ASSERT(json_is_null(json_object_get(report, "error")));
    CU_ASSERT(number(report, "wall_s") > 0.0);
    CU_ASSERT_DOUBLE_EQUAL(number(report, "cpus"), 4.0, 1e-9);
    CU_ASSERT(json_is_array(json_object_get(report, "gpus")));
    CU_ASSERT_EQUAL(integer(report, "threads_abandoned"), 0);
    list = json_object_get(report, "stages");
    CU_ASSERT_EQUAL_FATAL(json_array_size(list), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *s = json_array_get(list, i), *tasks = json_object_get(s, "tasks");
        json_t *items = json_object_get(s, "items"), *metrics = json_object_get(s, "metrics");
        json_t *actors = json_object_get(s, "actor_list");
        json_int_t batches = 0;

        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(s, "name")),
                               i == 0 ? "src" : "keep");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(s, "stage")), "probe");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(s, "kind")), "plain");
        CU_ASSERT(json_is_true(json_object_get(s, "streaming")));
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(s, "on_error")), "fail");
        CU_ASSERT_EQUAL((uint64_t)integer(s, "actors"), stats[i].actors);
        CU_ASSERT_EQUAL((uint64_t)integer(tasks, "in"), stats[i].tasks_in);
        CU_ASSERT_EQUAL((uint64_t)integer(tasks, "out"), stats[i].tasks_out);
        CU_ASSERT_EQUAL((uint64_t)integer(items, "in"), stats[i].items_in);
        CU_ASSERT_EQUAL((uint64_t)integer(items, "out"), stats[i].items_out);
        CU_ASSERT_EQUAL((uint64_t)integer(s, "batches"), stats[i].batches);
        CU_ASSERT_DOUBLE_EQUAL(number(s, "busy_s"), stats[i].busy_s, 1e-6);
        CU_ASSERT(number(s, "idle_s") >= 0.0);
        CU_ASSERT(number(s, "wall_s") >= 0.0);
        CU_ASSERT(json_is_object(json_object_get(s, "throughput")));
        CU_ASSERT(number(json_object_get(s, "throughput"), "items_per_s") >= 0.0);
        /* custom metrics: one probe_batches per batch, probe_inputs = inputs */
        CU_ASSERT_DOUBLE_EQUAL(number(json_object_get(metrics, "probe_batches"), "sum"),
                               (double)stats[i].batches, 1e-9);
        CU_ASSERT_EQUAL((uint64_t)integer(json_object_get(metrics, "probe_batches"), "count"),
                        stats[i].batches);
        CU_ASSERT_DOUBLE_EQUAL(number(json_object_get(metrics, "probe_inputs"), "sum"),
                               (double)stats[i].tasks_in, 1e-9);
        CU_ASSERT_EQUAL_FATAL(json_array_size(actors), stats[i].actors);
        for (size_t k = 0; k < json_array_size(actors); k++) {
            json_t *a = json_array_get(actors, k);

            CU_ASSERT_EQUAL(integer(a, "index"), (json_int_t)k);
            CU_ASSERT_EQUAL(integer(a, "device"), -1);
            CU_ASSERT(number(a, "busy_s") >= 0.0);
            CU_ASSERT(number(a, "idle_s") >= 0.0);
            CU_ASSERT(number(a, "setup_s") >= 0.0);
            CU_ASSERT(json_is_false(json_object_get(a, "abandoned")));
            batches += integer(a, "batches");
        }
        CU_ASSERT_EQUAL((uint64_t)batches, stats[i].batches);
    }
    CU_ASSERT_EQUAL(integer(json_object_get(json_array_get(list, 1), "tasks"), "filtered"), 10);
    json_decref(report);
}

static void test_trace_is_chrome_trace_json_with_one_track_per_actor(void)
{
    /* 600 batches on "keep": its actors flush their trace buffers while running. */
    static const struct stage_spec stages[] = {
        { "src", "{\"fanout\": 600}", 1, 1, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
        { "keep", "{\"slot\": 1, \"forward\": true}", 1, 2, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0,
          0 },
    };
    struct wn_run_reporting rep;
    struct wn_error err = WN_ERROR_INIT;
    struct wn_stage_stats stats[2];
    char path[256];
    json_error_t jerr;
    json_t *trace, *events;
    json_int_t tids[8];
    size_t n_tids = 0, batches[2] = { 0, 0 }, setups = 0;
    json_int_t tasks_keep = 0;

    test_path(path, sizeof(path), "trace.json");
    memset(&rep, 0, sizeof(rep));
    rep.trace_path = path;
    seen_reset();
    CU_ASSERT_EQUAL_FATAL(run_pipeline_with("{}", stages, 2, 1, NULL, stats, &rep, NULL, &err), 0);
    trace = json_load_file(path, 0, &jerr);
    if (trace == NULL)
        fprintf(stderr, "%s:%d: %s\n", path, jerr.line, jerr.text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(trace);
    events = json_object_get(trace, "traceEvents");
    CU_ASSERT_FATAL(json_is_array(events));
    /* metadata first: a track name per actor */
    for (size_t i = 0; i < json_array_size(events); i++) {
        json_t *ev = json_array_get(events, i);
        const char *ph = json_string_value(json_object_get(ev, "ph"));
        const char *name = json_string_value(json_object_get(ev, "name"));

        CU_ASSERT_PTR_NOT_NULL_FATAL(ph);
        CU_ASSERT_EQUAL(integer(ev, "pid"), 1);
        if (strcmp(ph, "M") == 0 && strcmp(name, "thread_name") == 0) {
            const char *track =
                json_string_value(json_object_get(json_object_get(ev, "args"), "name"));

            CU_ASSERT_FATAL(n_tids < 8);
            tids[n_tids++] = integer(ev, "tid");
            CU_ASSERT(strcmp(track, "src/0") == 0 || strcmp(track, "keep/0") == 0 ||
                      strcmp(track, "keep/1") == 0);
        }
    }
    CU_ASSERT_EQUAL(n_tids, 3);
    for (size_t i = 0; i < json_array_size(events); i++) {
        json_t *ev = json_array_get(events, i), *args;
        const char *name = json_string_value(json_object_get(ev, "name"));
        int known = 0;

        if (strcmp(json_string_value(json_object_get(ev, "ph")), "X") != 0)
            continue;
        CU_ASSERT(number(ev, "ts") >= 0.0);
        CU_ASSERT(number(ev, "dur") >= 0.0);
        for (size_t k = 0; k < n_tids; k++)
            known |= tids[k] == integer(ev, "tid");
        CU_ASSERT(known);
        if (strcmp(json_string_value(json_object_get(ev, "cat")), "hook") == 0) {
            setups += strcmp(name, "setup") == 0;
            continue;
        }
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(ev, "cat")), "batch");
        args = json_object_get(ev, "args");
        CU_ASSERT(json_is_string(json_object_get(args, "first_task")));
        CU_ASSERT(json_is_true(json_object_get(args, "ok")));
        CU_ASSERT_EQUAL(integer(args, "attempt"), 1);
        if (strcmp(name, "src") == 0) {
            batches[0]++;
            CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(args, "first_task")),
                                   "root_0");
            CU_ASSERT_EQUAL(integer(args, "outputs"), 600);
        } else {
            CU_ASSERT_STRING_EQUAL(name, "keep");
            batches[1]++;
            tasks_keep += integer(args, "tasks");
        }
    }
    CU_ASSERT_EQUAL(batches[0], stats[0].batches);
    CU_ASSERT_EQUAL(batches[1], stats[1].batches);
    CU_ASSERT_EQUAL(batches[1], 600);
    CU_ASSERT_EQUAL(tasks_keep, 600);
    CU_ASSERT_EQUAL(setups, 3);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(trace, "displayTimeUnit")), "ms");
    json_decref(trace);
}

static void test_trace_and_report_of_a_failed_run_are_valid_json(void)
{
    static const struct stage_spec stages[] = {
        { "boom", "{\"forward\": true, \"fail_on\": \"root_5\"}", 1, 2, 0, NULL, WN_ON_ERROR_FAIL,
          0, 0, 0, 0, 0 },
    };
    struct wn_run_reporting rep;
    struct wn_error err = WN_ERROR_INIT;
    struct run_result result;
    char path[256];
    json_t *trace;

    test_path(path, sizeof(path), "failed-trace.json");
    memset(&rep, 0, sizeof(rep));
    rep.trace_path = path;
    seen_reset();
    CU_ASSERT_EQUAL(run_pipeline_with("{}", stages, 1, 20, NULL, NULL, &rep, &result, &err),
                    WN_EDATA);
    trace = json_load_file(path, 0, NULL);
    CU_ASSERT(json_is_array(json_object_get(trace, "traceEvents")));
    json_decref(trace);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(result.report, "status")), "failed");
    CU_ASSERT_PTR_NOT_NULL(
        strstr(json_string_value(json_object_get(result.report, "error")), "no good root_5"));
    json_decref(result.report);
}

static void test_unwritable_report_path_fails_before_running(void)
{
    static const struct stage_spec stages[] = {
        { "fwd", "{\"forward\": true}", 1, 1, 0, NULL, WN_ON_ERROR_FAIL, 0, 0, 0, 0, 0 },
    };
    struct wn_run_reporting rep;
    struct wn_error err = WN_ERROR_INIT;

    memset(&rep, 0, sizeof(rep));
    rep.trace_path = "/nonexistent-dir/trace.json";
    seen_reset();
    CU_ASSERT_EQUAL(run_pipeline_with("{}", stages, 1, 2, NULL, NULL, &rep, NULL, &err), WN_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "cannot write the trace "
                                               "'/nonexistent-dir/trace.json'"));
    CU_ASSERT_EQUAL(seen.total_creates, 0);
}

static int refuse(struct wn_emitter *self, struct wn_task *task)
{
    (void)self;
    wn_task_free(task);
    return WN_EIO;
}

static void test_metric_outside_an_executor_is_ignored(void)
{
    struct wn_emitter plain = { refuse, { NULL } };

    CU_ASSERT_EQUAL(wn_metric_add(&plain, "x", 1.0), 0);
    CU_ASSERT_EQUAL(wn_metric_add(&plain, NULL, 1.0), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_metric_add(&plain, "", 1.0), WN_EINVAL);
    CU_ASSERT_EQUAL(wn_metric_add(NULL, "x", 1.0), WN_EINVAL);
}

int main(void)
{
    static const struct wn_test tests[] = {
        { "progress lines show every stage periodically",
          test_progress_lines_show_every_stage_periodically },
        { "progress on a terminal is redrawn in place",
          test_progress_on_a_terminal_is_redrawn_in_place },
        { "report has every stage, actor and metric",
          test_report_has_every_stage_actor_and_metric },
        { "trace is Chrome trace JSON with one track per actor",
          test_trace_is_chrome_trace_json_with_one_track_per_actor },
        { "trace and report of a failed run are valid JSON",
          test_trace_and_report_of_a_failed_run_are_valid_json },
        { "an unwritable trace path fails before running",
          test_unwritable_report_path_fails_before_running },
        { "a metric outside an executor is ignored", test_metric_outside_an_executor_is_ignored },
        { NULL, NULL },
    };

    return wn_test_run_suite("actor_pool observability", tests, NULL, NULL);
}
