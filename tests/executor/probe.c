/* The executor tests' probe stage and run helpers (see probe.h). */
#include "build_config.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <winnow/log.h>

#include "cu.h"
#include "params_internal.h"
#include "probe.h"

struct seen_state seen = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The device the fake GPU backend of test_gpu made current on this thread. */
_Thread_local int probe_current_device = -1;

void seen_reset(void)
{
    pthread_mutex_lock(&seen.lock);
    memset(seen.slot, 0, sizeof(seen.slot));
    seen.wrong_thread = seen.concurrent = seen.out_of_order = 0;
    seen.n_on_node = seen.on_node_off_driver = seen.on_node_after_create = 0;
    seen.total_creates = 0;
    seen.hang_released = 0;
    seen.hanging = 0;
    seen.main_thread = pthread_self();
    pthread_mutex_unlock(&seen.lock);
    attempts_reset();
}

#define SEEN_ADD(field) __atomic_add_fetch(&(field), 1, __ATOMIC_SEQ_CST)

/* ---- a fake GPU backend ------------------------------------------------------------------ */

static struct wn_gpu_device fake_devices[8];
static size_t n_fake;
int probe_gpu_discover_calls, probe_gpu_bind_calls;

static int fake_discover(struct wn_gpu_device *devs, size_t cap, size_t *n, struct wn_error *err)
{
    (void)err;
    __atomic_add_fetch(&probe_gpu_discover_calls, 1, __ATOMIC_SEQ_CST);
    *n = n_fake < cap ? n_fake : cap;
    memcpy(devs, fake_devices, *n * sizeof(*devs));
    return 0;
}

static int fake_bind(int id, struct wn_error *err)
{
    (void)err;
    __atomic_add_fetch(&probe_gpu_bind_calls, 1, __ATOMIC_SEQ_CST);
    probe_current_device = id;
    return 0;
}

static const struct wn_gpu_backend fake_backend = { "fake", fake_discover, fake_bind };

void probe_use_fake_gpus(const struct wn_gpu_device *devs, size_t n)
{
    n_fake = n < 8 ? n : 8;
    if (n_fake > 0)
        memcpy(fake_devices, devs, n_fake * sizeof(*devs));
    probe_gpu_discover_calls = probe_gpu_bind_calls = 0;
    wn_gpu_set_backend(&fake_backend);
    seen_reset();
}

/* ---- attempts per task ---------------------------------------------------------------- */

#define ATTEMPT_TASKS 4096

static struct {
    pthread_mutex_t lock;
    size_t n;
    struct {
        char id[64];
        int n;
        int actors[8];
    } task[ATTEMPT_TASKS];
} attempts = { .lock = PTHREAD_MUTEX_INITIALIZER };

void attempts_reset(void)
{
    pthread_mutex_lock(&attempts.lock);
    attempts.n = 0;
    pthread_mutex_unlock(&attempts.lock);
}

/* Counts one attempt of task id on actor; returns the attempt number (1..). */
static int attempt_add(const char *id, int actor)
{
    int n = 0;

    pthread_mutex_lock(&attempts.lock);
    for (size_t i = 0; i < attempts.n && n == 0; i++) {
        if (strcmp(attempts.task[i].id, id) == 0) {
            n = ++attempts.task[i].n;
            if (n <= 8)
                attempts.task[i].actors[n - 1] = actor;
        }
    }
    if (n == 0 && attempts.n < ATTEMPT_TASKS) {
        snprintf(attempts.task[attempts.n].id, sizeof(attempts.task[0].id), "%s", id);
        attempts.task[attempts.n].n = n = 1;
        attempts.task[attempts.n].actors[0] = actor;
        attempts.n++;
    }
    pthread_mutex_unlock(&attempts.lock);
    return n;
}

int attempts_of(const char *id, int *actors, int max_actors)
{
    int n = 0;

    pthread_mutex_lock(&attempts.lock);
    for (size_t i = 0; i < attempts.n; i++) {
        if (strcmp(attempts.task[i].id, id) == 0) {
            n = attempts.task[i].n;
            for (int k = 0; k < n && k < max_actors && k < 8; k++)
                actors[k] = attempts.task[i].actors[k];
        }
    }
    pthread_mutex_unlock(&attempts.lock);
    return n;
}

/* ---- the probe stage ---------------------------------------------------------------------- */

const struct wn_param_spec probe_params[] = {
    { "slot", WN_PARAM_INT, 0, "0", 0, 0, NULL, "which counters to use" },
    { "forward", WN_PARAM_BOOL, 0, "false", 0, 0, NULL, "emit each input again" },
    { "fanout", WN_PARAM_INT, 0, "0", 0, 0, NULL,
      "emit this many children per input, v = parent v * fanout + j" },
    { "drop_multiple_of", WN_PARAM_INT, 0, "0", 0, 0, NULL,
      "forward: drop inputs whose v is a multiple of this (1: drop all)" },
    { "sleep_max_us", WN_PARAM_INT, 0, "0", 0, 0, NULL, "random sleep per batch" },
    { "sleep_us", WN_PARAM_INT, 0, "0", 0, 0, NULL, "sleep per batch" },
    { "fail_on", WN_PARAM_STRING, 0, NULL, 0, 0, NULL, "process_batch fails on this task id" },
    { "fail_code", WN_PARAM_INT, 0, "-10", 0, 0, NULL, "code of that failure" },
    { "fail_quietly", WN_PARAM_BOOL, 0, "false", 0, 0, NULL, "fail without a message" },
    { "fail_setup_actor", WN_PARAM_INT, 0, "-1", 0, 0, NULL, "setup fails on this actor" },
    { "fail_create_call", WN_PARAM_INT, 0, "-1", 0, 0, NULL, "the n-th create call fails" },
    { "fail_every", WN_PARAM_INT, 0, "0", 0, 0, NULL,
      "process_batch fails when its first input's v is a multiple of this" },
    { "fail_attempts", WN_PARAM_INT, 0, "1000000", 0, 0, NULL,
      "a failing batch fails this many attempts, then passes" },
    { "consume_on_fail", WN_PARAM_BOOL, 0, "false", 0, 0, NULL,
      "before failing, free the first input (as a stage must not)" },
    { "hang_on", WN_PARAM_STRING, 0, NULL, 0, 0, NULL,
      "process_batch hangs on this task id until the test releases it" },
    { "hang_in_setup", WN_PARAM_BOOL, 0, "false", 0, 0, NULL, "setup hangs likewise" },
    { "metric", WN_PARAM_BOOL, 0, "false", 0, 0, NULL,
      "record metrics probe_batches (1) and probe_inputs (inputs) per batch" },
    { "ahead_of", WN_PARAM_INT, 0, "-1", 0, 0, NULL,
      "track how far slot ahead_of's emissions run ahead of this stage" },
    { NULL, WN_PARAM_END, 0, NULL, 0, 0, NULL, NULL }
};

struct probe {
    const struct wn_params *params;
    struct slot_counts *counts;
    pthread_t thread;
    int set_up, torn_down;
    int busy;
    unsigned seed;
    uint32_t actor_index;
    /* Read from the params in create: a hung hook that returns after its
     * run may not touch the params any more (the host freed them). */
    char hang_on[64];
};

static int probe_on_node(const struct wn_stage_env *env, struct wn_error *err)
{
    (void)err;
    pthread_mutex_lock(&seen.lock);
    if (seen.n_on_node < 8)
        snprintf(seen.on_node[seen.n_on_node], sizeof(seen.on_node[0]), "%s", env->stage_name);
    seen.n_on_node++;
    if (!pthread_equal(pthread_self(), seen.main_thread))
        seen.on_node_off_driver++;
    if (seen.total_creates > 0)
        seen.on_node_after_create++;
    pthread_mutex_unlock(&seen.lock);
    return 0;
}

static int probe_create(const struct wn_params *params, void **state, struct wn_error *err)
{
    struct slot_counts *counts = &seen.slot[wn_params_get_int(params, "slot")];
    int call = SEEN_ADD(counts->create_calls) - 1;
    const char *hang_on = wn_params_get_string(params, "hang_on");
    struct probe *p;

    SEEN_ADD(seen.total_creates);
    if (call == wn_params_get_int(params, "fail_create_call"))
        return wn_error_set(err, WN_EIO, "create refused on call %d", call);
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    p->params = params;
    p->counts = counts;
    p->thread = pthread_self();
    if (hang_on != NULL)
        snprintf(p->hang_on, sizeof(p->hang_on), "%s", hang_on);
    if (pthread_equal(p->thread, seen.main_thread))
        SEEN_ADD(seen.wrong_thread);
    SEEN_ADD(counts->creates);
    *state = p;
    return 0;
}

static void check_thread(const struct probe *p)
{
    if (!pthread_equal(p->thread, pthread_self()))
        SEEN_ADD(seen.wrong_thread);
}

/* Blocks until the test sets seen.hang_released. */
static void hang(void)
{
    struct timespec ts = { 0, 2000000 };

    SEEN_ADD(seen.hanging);
    while (!__atomic_load_n(&seen.hang_released, __ATOMIC_ACQUIRE))
        nanosleep(&ts, NULL);
    __atomic_sub_fetch(&seen.hanging, 1, __ATOMIC_SEQ_CST);
}

static int probe_setup(void *state, const struct wn_worker *worker, struct wn_error *err)
{
    struct probe *p = state;

    check_thread(p);
    SEEN_ADD(p->counts->setups);
    if (worker->struct_size != sizeof(struct wn_worker) || worker->stage_name == NULL ||
        worker->actor_index >= worker->pool_size || worker->params != p->params ||
        worker->comms != NULL || worker->actor_index >= MAX_ACTORS)
        SEEN_ADD(p->counts->bad_worker);
    else
        SEEN_ADD(p->counts->index_seen[worker->actor_index]);
    if (worker->actor_index < MAX_ACTORS)
        p->counts->device_seen[worker->actor_index] = worker->device_id + 1;
    if (worker->device_id != probe_current_device)
        SEEN_ADD(p->counts->unbound);
    p->actor_index = worker->actor_index;
    p->seed = worker->actor_index * 7919u + (unsigned)time(NULL);
    if (wn_params_get_bool(p->params, "hang_in_setup")) {
        hang();
        return 0; /* the run is gone: touch nothing else (its params were freed) */
    }
    if ((int64_t)worker->actor_index == wn_params_get_int(p->params, "fail_setup_actor"))
        return wn_error_set(err, WN_EIO, "setup refused on actor %u", worker->actor_index);
    p->set_up = 1;
    return 0;
}

long task_value(const struct wn_task *task)
{
    const char *v = wn_task_meta_get(task, "v");
    return v ? strtol(v, NULL, 10) : 0;
}

static int set_value(struct wn_task *task, long value)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%ld", value);
    return wn_task_meta_set(task, "v", buf);
}

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

    nanosleep(&ts, NULL);
}

static int probe_process(void *state, struct wn_task **in, size_t n_in, struct wn_emitter *out,
                         struct wn_error *err)
{
    struct probe *p = state;
    const char *fail_on = wn_params_get_string(p->params, "fail_on");
    int64_t fanout = wn_params_get_int(p->params, "fanout");
    int64_t drop = wn_params_get_int(p->params, "drop_multiple_of");
    int64_t sleep_max = wn_params_get_int(p->params, "sleep_max_us");
    int64_t fail_every = wn_params_get_int(p->params, "fail_every");
    int64_t ahead_of = wn_params_get_int(p->params, "ahead_of");
    int rc = 0;

    if (p->hang_on[0] != '\0' && strcmp(wn_task_id(in[0]), p->hang_on) == 0) {
        hang();
        return 0; /* the run is gone: touch nothing else (its params were freed) */
    }
    check_thread(p);
    if (__atomic_exchange_n(&p->busy, 1, __ATOMIC_SEQ_CST))
        SEEN_ADD(seen.concurrent);
    if (!p->set_up || p->torn_down)
        SEEN_ADD(seen.out_of_order);
    SEEN_ADD(p->counts->process_calls);
    __atomic_add_fetch(&p->counts->seen, (long)n_in, __ATOMIC_SEQ_CST);
    if (ahead_of >= 0 && ahead_of < SLOTS) {
        long ahead = __atomic_load_n(&seen.slot[ahead_of].emitted, __ATOMIC_SEQ_CST) -
                     __atomic_load_n(&p->counts->seen, __ATOMIC_SEQ_CST);

        pthread_mutex_lock(&seen.lock);
        if (ahead > p->counts->max_ahead)
            p->counts->max_ahead = ahead;
        pthread_mutex_unlock(&seen.lock);
    }
    if (sleep_max > 0)
        sleep_us(rand_r(&p->seed) % sleep_max);
    if (wn_params_get_int(p->params, "sleep_us") > 0)
        sleep_us(wn_params_get_int(p->params, "sleep_us"));
    if (wn_params_get_bool(p->params, "metric")) {
        wn_metric_add(out, "probe_batches", 1.0);
        wn_metric_add(out, "probe_inputs", (double)n_in);
    }
    if (fail_every > 0 && task_value(in[0]) % fail_every == 0 &&
        attempt_add(wn_task_id(in[0]), (int)p->actor_index) <=
            wn_params_get_int(p->params, "fail_attempts")) {
        long v = task_value(in[0]);

        if (wn_params_get_bool(p->params, "consume_on_fail"))
            wn_task_free(wn_task_take(&in[0]));
        rc = wn_error_set(err, WN_EDATA, "batch of v %ld refused", v);
    } else if (fail_every > 0 && task_value(in[0]) % fail_every == 0) {
        /* passes on this attempt (attempt_add counted it) */
    }
    for (size_t i = 0; i < n_in && rc == 0; i++) {
        if (fail_on != NULL && strcmp(wn_task_id(in[i]), fail_on) == 0) {
            rc = (int)wn_params_get_int(p->params, "fail_code");
            if (!wn_params_get_bool(p->params, "fail_quietly"))
                wn_error_set(err, rc, "no good %s", wn_task_id(in[i]));
            break;
        }
        for (int64_t j = 0; j < fanout && rc == 0; j++) {
            struct wn_task *child = wn_task_new_child(in[i], (size_t)j);
            static const char *const file[] = { "f" };

            if (child == NULL || set_value(child, task_value(in[i]) * fanout + j) < 0 ||
                wn_task_set_files(child, file, 1) < 0) {
                wn_task_free(child);
                rc = wn_error_set(err, WN_ENOMEM, "out of memory");
                break;
            }
            __atomic_add_fetch(&p->counts->emitted, 1, __ATOMIC_SEQ_CST);
            rc = wn_emit(out, child);
        }
        if (rc == 0 && wn_params_get_bool(p->params, "forward") &&
            !(drop > 0 && task_value(in[i]) % drop == 0)) {
            __atomic_add_fetch(&p->counts->emitted, 1, __ATOMIC_SEQ_CST);
            rc = wn_emit(out, wn_task_take(&in[i]));
        }
    }
    __atomic_store_n(&p->busy, 0, __ATOMIC_SEQ_CST);
    return rc;
}

static void probe_teardown(void *state)
{
    struct probe *p = state;

    check_thread(p);
    if (p->torn_down)
        SEEN_ADD(seen.out_of_order);
    p->torn_down = 1;
    SEEN_ADD(p->counts->teardowns);
}

static void probe_destroy(void *state)
{
    struct probe *p = state;

    check_thread(p);
    if (!p->torn_down)
        SEEN_ADD(seen.out_of_order);
    SEEN_ADD(p->counts->destroys);
    free(p);
}

static const struct wn_stage_ops probe_ops = { WN_STAGE_OPS_VERSION, probe_on_node, probe_create,
                                               probe_setup,          probe_process, probe_teardown,
                                               probe_destroy,        { NULL } };

const struct wn_stage_desc probe_desc = {
    WN_STAGE_HEADER, "probe",         "records its hooks", probe_params, { 1, 0, 0, 0 }, 1,
    WN_STAGE_PLAIN,  WN_PAYLOADS_ANY, WN_PAYLOADS_ANY,     NULL,         &probe_ops,     NULL,
    { NULL }
};

const struct wn_stage_desc probe_comms_desc = {
    WN_STAGE_HEADER, "probe_comms",   "a COMMS stage", probe_params, { 1, 0, 0, 0 }, 1,
    WN_STAGE_COMMS,  WN_PAYLOADS_ANY, WN_PAYLOADS_ANY, NULL,         &probe_ops,     NULL,
    { NULL }
};

/* ---- collectors ------------------------------------------------------------------------- */

static int collector_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct collector *c = (struct collector *)self;

    if (c->n >= c->refuse_from) {
        wn_task_free(task);
        return WN_EIO;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->tasks = realloc(c->tasks, c->cap * sizeof(*c->tasks));
    }
    c->tasks[c->n++] = task;
    return 0;
}

void collector_init(struct collector *c)
{
    memset(c, 0, sizeof(*c));
    c->emitter.emit = collector_emit;
    c->refuse_from = SIZE_MAX;
}

void collector_free(struct collector *c)
{
    for (size_t i = 0; i < c->n; i++)
        wn_task_free(c->tasks[i]);
    free(c->tasks);
    memset(c, 0, sizeof(*c));
}

/* ---- temporary files ---------------------------------------------------------------------- */

static char tmp_dir[64];

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tmp_dir(void)
{
    if (tmp_dir[0] != '\0')
        nftw(tmp_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

const char *test_dir(void)
{
    if (tmp_dir[0] == '\0') {
        snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/winnow-executor-XXXXXX");
        if (mkdtemp(tmp_dir) == NULL) {
            perror("mkdtemp");
            exit(99);
        }
        atexit(remove_tmp_dir);
    }
    return tmp_dir;
}

void test_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", test_dir(), name);
}

char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0, cap = 0, got;

    if (f == NULL)
        return NULL;
    do {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            text = realloc(text, cap);
        }
        got = fread(text + len, 1, cap - len - 1, f);
        len += got;
    } while (got > 0);
    fclose(f);
    text[len] = '\0';
    return text;
}

/* ---- runs -------------------------------------------------------------------------------------
 */

const struct wn_backend_desc *probe_comms_provider, *probe_shuffle_provider;

const struct wn_executor_ops *executor(void)
{
    return winnow_plugin_v1()->backends[0]->ops;
}

struct wn_params *params_from(const struct wn_param_spec *spec, const char *text)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params = NULL;
    json_error_t jerr;
    json_t *json = json_loads(text ? text : "{}", 0, &jerr);

    CU_ASSERT_PTR_NOT_NULL_FATAL(json);
    if (wn_params_new(spec, json, "test", &params, &err) < 0)
        fprintf(stderr, "params %s: %s\n", text, err.message);
    json_decref(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(params);
    return params;
}

/* n root tasks "root_<i>", each with v = i and a FILES payload of two paths. */
static struct wn_task **make_roots(size_t n)
{
    static const char *const files[] = { "a", "b" };
    struct wn_task **tasks = calloc(n ? n : 1, sizeof(*tasks));
    char id[32];

    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "root_%zu", i);
        tasks[i] = wn_task_new(id, "test");
        set_value(tasks[i], (long)i);
        wn_task_set_files(tasks[i], files, 2);
    }
    return tasks;
}

static json_int_t count_of(json_t *stage, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(stage, "tasks"), key));
}

/* The accounting identity of every stage of a report, checked from outside. */
static void check_report_adds_up(json_t *report, const struct wn_stage_stats *stats,
                                 size_t n_stages)
{
    json_t *stages = json_object_get(report, "stages");
    int ok = strcmp(json_string_value(json_object_get(report, "status")), "ok") == 0;

    CU_ASSERT_EQUAL_FATAL(json_array_size(stages), n_stages);
    for (size_t i = 0; i < n_stages; i++) {
        json_t *s = json_array_get(stages, i);
        json_int_t in = count_of(s, "in"), out = count_of(s, "out");

        CU_ASSERT(json_is_true(json_object_get(s, "balanced")));
        CU_ASSERT_EQUAL(in + count_of(s, "created"), out + count_of(s, "filtered") +
                                                         count_of(s, "skipped") +
                                                         count_of(s, "dropped"));
        if (stats != NULL) {
            CU_ASSERT_EQUAL((uint64_t)in, stats[i].tasks_in);
            CU_ASSERT_EQUAL((uint64_t)out, stats[i].tasks_out);
            CU_ASSERT_EQUAL((uint64_t)count_of(s, "skipped"), stats[i].tasks_failed);
        }
        if (ok) {
            CU_ASSERT_EQUAL(count_of(s, "dropped"), 0);
            if (i + 1 < n_stages)
                CU_ASSERT_EQUAL(out, count_of(json_array_get(stages, i + 1), "in"));
        }
    }
}

#define KEPT_MAX 16
static struct wn_params *kept[KEPT_MAX];
static size_t n_kept;

void free_kept_params(void)
{
    for (size_t i = 0; i < n_kept; i++)
        wn_params_free(kept[i]);
    n_kept = 0;
}

int run_pipeline_with(const char *executor_json, const struct stage_spec *specs, size_t n_stages,
                      size_t n_roots, struct collector *sink, struct wn_stage_stats *stats,
                      const struct wn_run_reporting *reporting, struct run_result *result,
                      struct wn_error *err)
{
    static unsigned run_count;
    struct wn_run_stage stages[8];
    const struct wn_run_stage *stage_ptrs[8];
    struct wn_stage_stats *stats_ptrs[8];
    struct wn_stage_stats own_stats[8];
    struct wn_params *exec_params =
        params_from(winnow_plugin_v1()->backends[0]->params, executor_json);
    struct wn_task **roots = make_roots(n_roots);
    struct wn_run_reporting rep;
    char report_path[256];
    json_error_t jerr;
    json_t *report;
    struct wn_run run;
    int rc;

    CU_ASSERT_FATAL(n_stages <= 8);
    if (stats == NULL)
        stats = own_stats;
    memset(stats, 0, n_stages * sizeof(*stats));
    memset(stages, 0, sizeof(stages));
    for (size_t i = 0; i < n_stages; i++) {
        stages[i].struct_size = sizeof(stages[i]);
        stages[i].name = specs[i].name;
        stages[i].desc = specs[i].desc ? specs[i].desc : &probe_desc;
        stages[i].params = params_from(probe_params, specs[i].params);
        stages[i].resources.cpus = specs[i].cpus;
        stages[i].resources.gpus = specs[i].gpus;
        stages[i].resources.gpu_memory_gb = specs[i].gpu_memory_gb;
        stages[i].resources.entire_gpu = specs[i].entire_gpu;
        stages[i].batch_size = specs[i].batch_size ? specs[i].batch_size : 1;
        stages[i].actors = specs[i].actors;
        stages[i].on_error = specs[i].on_error;
        stages[i].max_retries = specs[i].max_retries;
        stages[i].timeout_s = specs[i].timeout_s;
        if (stages[i].desc->kind == WN_STAGE_COMMS && probe_comms_provider != NULL) {
            stages[i].comms = probe_comms_provider->name;
            stages[i].comms_backend = probe_comms_provider;
        }
        if (stages[i].desc->kind == WN_STAGE_SHUFFLE && probe_shuffle_provider != NULL) {
            stages[i].shuffle = probe_shuffle_provider->name;
            stages[i].shuffle_backend = probe_shuffle_provider;
        }
    }
    if (reporting != NULL)
        rep = *reporting;
    else
        memset(&rep, 0, sizeof(rep));
    rep.struct_size = sizeof(rep);
    snprintf(report_path, sizeof(report_path), "%s/report-%u.json", test_dir(), run_count++);
    if (rep.report_path == NULL)
        rep.report_path = report_path;
    memset(&run, 0, sizeof(run));
    run.struct_size = sizeof(run);
    run.n_stages = n_stages;
    for (size_t k = 0; k < n_stages; k++) {
        stage_ptrs[k] = &stages[k];
        stats_ptrs[k] = &stats[k];
    }
    run.stages = stage_ptrs;
    run.executor_params = exec_params;
    run.initial_tasks = roots;
    run.n_initial_tasks = n_roots;
    run.sink = sink ? &sink->emitter : NULL;
    run.stats = stats_ptrs;
    run.reporting = &rep;
    rc = executor()->run(&run, err);

    for (size_t i = 0; i < n_roots; i++)
        CU_ASSERT_PTR_NULL(roots[i]);
    free(roots);
    /* A run that left a hung hook behind keeps its params alive, as a host
     * must (the hook may still read them): freed by free_kept_params(). */
    for (size_t i = 0; i < n_stages; i++) {
        if (rep.threads_abandoned > 0 && n_kept < KEPT_MAX)
            kept[n_kept++] = (struct wn_params *)stages[i].params;
        else
            wn_params_free((struct wn_params *)stages[i].params);
    }
    wn_params_free(exec_params);

    report = json_load_file(rep.report_path, 0, &jerr);
    if (rc == 0 || report != NULL) {
        if (report == NULL)
            fprintf(stderr, "report %s: %s\n", rep.report_path, jerr.text);
        CU_ASSERT_PTR_NOT_NULL_FATAL(report);
        check_report_adds_up(report, n_stages <= 8 ? stats : NULL, n_stages);
    }
    if (result != NULL) {
        result->report = report;
        result->reporting = rep;
    } else {
        json_decref(report);
    }
    return rc;
}

int run_pipeline(const char *executor_json, const struct stage_spec *specs, size_t n_stages,
                 size_t n_roots, struct collector *sink, struct wn_stage_stats *stats,
                 struct wn_error *err)
{
    return run_pipeline_with(executor_json, specs, n_stages, n_roots, sink, stats, NULL, NULL, err);
}
