/* COMMS stages in the actor_pool executor (see comms_stage.h). */
#include "build_config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winnow/comms.h>
#include <winnow/log.h>

#include "batching.h"
#include "comms_stage.h"

#define LOG_DOMAIN "actor_pool"
#define TASK_ID_NOTE 256

struct comms_run;

/* One actor: one rank. */
struct rank {
    struct wn_emitter emitter; /* first: wn_emit() lands in rank_emit() */
    struct comms_run *run;
    uint32_t index;
    pthread_t thread;
    int started;
    void *state; /* the stage instance (create) */
    struct wn_batch_range chunk;
    /* Written by the rank's thread; read by the driver after the join. */
    struct wn_task **outs;
    size_t n_outs, cap_outs;
    int emit_failed;
    int processed;
    uint64_t items_in, items_out;
    double start, end;
};

struct comms_run {
    const struct wn_run_stage *stage;
    const struct wn_stage_ops *ops;
    const struct wn_comms_provider_ops *provider;
    struct wn_comms_group *group;
    struct wn_task **tasks;
    struct rank *ranks;
    uint32_t n;

    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t id_cv;
    int id_state; /* 0: not yet made, 1: made, -1: the root could not make it */
    struct wn_comms_unique_id id;
    int failed;
    struct wn_error error; /* the first failure */
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const struct wn_comms_provider_ops *provider_of(const struct wn_run_stage *stage)
{
    const struct wn_backend_desc *backend;

    if (stage->struct_size < offsetof(struct wn_run_stage, comms_params) + sizeof(void *))
        return NULL;
    backend = stage->comms_backend;
    if (backend == NULL || backend->kind != WN_BACKEND_COMMS)
        return NULL;
    return backend->ops;
}

int wn_comms_stage_check(const struct wn_run_stage *stage, struct wn_error *err)
{
    const struct wn_comms_provider_ops *p = provider_of(stage);

    if (p == NULL)
        return wn_error_set(err, WN_ECONFIG,
                            "stage '%s' is a COMMS stage but the run names no comms provider "
                            "for it (give \"comms\": \"ucx\" or \"nccl\" in its config)",
                            stage->name);
    if (p->version < 1 || p->group_new == NULL || p->unique_id == NULL || p->rank_init == NULL ||
        p->group_abort == NULL)
        return wn_error_set(err, WN_EPLUGIN,
                            "stage '%s': comms provider '%s' is missing group_new, unique_id, "
                            "rank_init or group_abort (ops version %u)",
                            stage->name, stage->comms_backend->name, p->version);
    return 0;
}

/* Records a failure and aborts the group.  The stage's error is the first
 * failure that is a cause: a rank stopped by another (WN_ECANCELED) gives
 * way to the one that stopped it, even when it reports first.  The others
 * are logged.  Any thread. */
static void run_fail(struct comms_run *run, int code, const char *fmt, ...) WN_PRINTF(3, 4);

static void run_fail(struct comms_run *run, int code, const char *fmt, ...)
{
    char message[WN_ERROR_MESSAGE_MAX], displaced[WN_ERROR_MESSAGE_MAX];
    va_list ap;
    int keep, displace;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    code = code < 0 ? code : WN_EPLUGIN;
    pthread_mutex_lock(&run->lock);
    displace = run->failed && run->error.code == WN_ECANCELED && code != WN_ECANCELED;
    keep = !run->failed || displace;
    if (displace)
        snprintf(displaced, sizeof(displaced), "%s", run->error.message);
    if (keep) {
        run->failed = 1;
        wn_error_set(&run->error, code, "%s", message);
    }
    pthread_mutex_unlock(&run->lock);
    if (displace)
        wn_log(WN_LOG_INFO, LOG_DOMAIN, "also: %s", displaced);
    if (!keep)
        wn_log(code == WN_ECANCELED ? WN_LOG_INFO : WN_LOG_WARN, LOG_DOMAIN, "also: %s", message);
    if (run->group != NULL)
        run->provider->group_abort(run->group, message);
}

static const char *hook_message(const struct wn_error *hook_err, int rc, char *buf, size_t size)
{
    if (hook_err->message[0] != '\0')
        return hook_err->message;
    snprintf(buf, size, "(no message): %s", wn_strerror(rc));
    return buf;
}

static void hook_failed(struct rank *r, const char *hook, int rc, const struct wn_error *hook_err)
{
    char buf[96];

    run_fail(r->run, rc, "stage '%s' actor %u/%u failed in %s: %s", r->run->stage->name, r->index,
             r->run->n, hook, hook_message(hook_err, rc, buf, sizeof(buf)));
}

static int rank_emit(struct wn_emitter *self, struct wn_task *task)
{
    struct rank *r = (struct rank *)self;

    if (r->n_outs == r->cap_outs) {
        size_t cap = r->cap_outs ? 2 * r->cap_outs : 8;
        struct wn_task **outs = realloc(r->outs, cap * sizeof(*outs));

        if (outs == NULL) {
            wn_task_free(task);
            r->emit_failed = 1;
            return WN_ENOMEM;
        }
        r->outs = outs;
        r->cap_outs = cap;
    }
    r->outs[r->n_outs++] = task;
    return 0;
}

/* The root makes the group's id and hands it over; the others wait for it. */
static int exchange_unique_id(struct rank *r, int usable)
{
    struct comms_run *run = r->run;
    struct wn_error hook_err = WN_ERROR_INIT;
    int rc = -1, state;

    if (r->index == 0) {
        if (usable) {
            rc = run->provider->unique_id(run->group, &run->id, &hook_err);
            if (rc < 0)
                hook_failed(r, "making the comms group's unique id", rc, &hook_err);
        }
        pthread_mutex_lock(&run->lock);
        run->id_state = rc == 0 ? 1 : -1;
        pthread_cond_broadcast(&run->id_cv);
        pthread_mutex_unlock(&run->lock);
        return rc == 0 ? 0 : -1;
    }
    pthread_mutex_lock(&run->lock);
    while (run->id_state == 0)
        pthread_cond_wait(&run->id_cv, &run->lock);
    state = run->id_state;
    pthread_mutex_unlock(&run->lock);
    return state == 1 ? 0 : -1;
}

/* Runs the rank's one batch (its chunk) and stamps the outputs; on failure
 * records it. */
static void process_chunk(struct rank *r, double ready_at)
{
    struct comms_run *run = r->run;
    struct wn_task **in = run->tasks + r->chunk.start;
    size_t n_in = r->chunk.len;
    struct wn_error hook_err = WN_ERROR_INIT;
    char first_id[TASK_ID_NOTE], buf[96];
    int rc;

    for (size_t i = 0; i < n_in; i++)
        r->items_in += wn_task_num_items(in[i]);
    snprintf(first_id, sizeof(first_id), "%s", wn_task_id(in[0]));
    r->start = now_s();
    rc = run->ops->process_batch(r->state, in, n_in, &r->emitter, &hook_err);
    r->end = now_s();
    r->processed = 1;
    for (size_t i = 0; i < n_in; i++) {
        wn_task_free(in[i]);
        in[i] = NULL;
    }
    if (rc >= 0 && r->emit_failed)
        rc = wn_error_set(&hook_err, WN_ENOMEM, "out of memory collecting the outputs");
    for (size_t i = 0; rc >= 0 && i < r->n_outs; i++) {
        r->items_out += wn_task_num_items(r->outs[i]);
        if (wn_task_perf_add(r->outs[i], run->stage->name, r->end - r->start, r->start - ready_at,
                             r->items_in) < 0)
            rc = wn_error_set(&hook_err, WN_ENOMEM, "out of memory adding the perf record of %s",
                              wn_task_id(r->outs[i]));
    }
    if (rc >= 0)
        return;
    if (n_in > 1)
        run_fail(run, rc, "stage '%s' actor %u/%u failed on task %s (and %zu more): %s",
                 run->stage->name, r->index, run->n, first_id, n_in - 1,
                 hook_message(&hook_err, rc, buf, sizeof(buf)));
    else
        run_fail(run, rc, "stage '%s' actor %u/%u failed on task %s: %s", run->stage->name,
                 r->index, run->n, first_id, hook_message(&hook_err, rc, buf, sizeof(buf)));
}

/* A rank's thread, in the RAFT adapter's order (see comms_stage.h). */
static void *rank_main(void *arg)
{
    struct rank *r = arg;
    struct comms_run *run = r->run;
    const struct wn_stage_ops *ops = run->ops;
    struct wn_error hook_err = WN_ERROR_INIT;
    struct wn_comms *comms = NULL;
    struct wn_worker worker;
    char thread_name[16];
    int created = 0, rc = 0;

    snprintf(thread_name, sizeof(thread_name), "%.10s/%u", run->stage->name, r->index);
    pthread_setname_np(pthread_self(), thread_name);

    if (ops->create != NULL)
        rc = ops->create(run->stage->params, &r->state, &hook_err);
    if (rc < 0)
        hook_failed(r, "create", rc, &hook_err);
    else
        created = 1;

    if (exchange_unique_id(r, created) == 0 && created) {
        wn_error_clear(&hook_err);
        rc = run->provider->rank_init(run->group, &run->id, r->index, -1, &comms, &hook_err);
        if (rc < 0) {
            comms = NULL;
            hook_failed(r, "joining the comms group", rc, &hook_err);
        }
    }
    if (comms != NULL) {
        /* Every rank joined: setup sees a working communicator. */
        memset(&worker, 0, sizeof(worker));
        worker.struct_size = sizeof(worker);
        worker.stage_name = run->stage->name;
        worker.actor_index = r->index;
        worker.pool_size = run->n;
        worker.device_id = -1; /* no GPU discovery yet (nccl then takes device = rank) */
        worker.params = run->stage->params;
        worker.comms = comms;
        wn_error_clear(&hook_err);
        rc = ops->setup != NULL ? ops->setup(r->state, &worker, &hook_err) : 0;
        if (rc < 0)
            hook_failed(r, "setup", rc, &hook_err);
        else
            process_chunk(r, now_s());
    }
    if (created && ops->teardown != NULL)
        ops->teardown(r->state);
    if (comms != NULL && run->provider->rank_destroy != NULL)
        run->provider->rank_destroy(run->group, comms); /* after teardown, also on failure */
    if (created && ops->destroy != NULL)
        ops->destroy(r->state);
    return NULL;
}

/* Sizes the pool: N <= tasks, an explicit count honoured within the resources. */
static int plan_ranks(const struct wn_run_stage *stage, const struct wn_pool_capacity *capacity,
                      size_t n_tasks, uint32_t *n, struct wn_error *err)
{
    struct wn_pool_request request;
    struct wn_pool_plan plan;
    int rc;

    memset(&request, 0, sizeof(request));
    request.stage_name = stage->name;
    request.resources = stage->resources;
    request.explicit_actors = stage->actors;
    request.batch_size = 1; /* one chunk per rank: at most one rank per task */
    request.n_tasks = n_tasks;
    rc = wn_pool_plan(capacity, &request, &plan, err);
    if (rc < 0)
        return rc;
    *n = plan.actors;
    if ((size_t)*n > n_tasks)
        *n = (uint32_t)n_tasks;
    if (stage->actors > *n)
        wn_log(WN_LOG_WARN, LOG_DOMAIN,
               "stage '%s': %u ranks asked, running %u (%zu input task%s, resources for %u): "
               "every rank needs a task",
               stage->name, stage->actors, *n, n_tasks, n_tasks == 1 ? "" : "s", plan.max_actors);
    return 0;
}

/* Driver: the outputs of every rank, rank 0's first. */
static int collect_outputs(struct comms_run *run, struct wn_task ***out, size_t *n_out,
                           struct wn_error *err)
{
    struct wn_task **outs;
    size_t total = 0, k = 0;

    for (uint32_t i = 0; i < run->n; i++)
        total += run->ranks[i].n_outs;
    if (total == 0)
        return 0;
    outs = malloc(total * sizeof(*outs));
    if (outs == NULL)
        return wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory collecting %zu outputs",
                            run->stage->name, total);
    for (uint32_t i = 0; i < run->n; i++) {
        struct rank *r = &run->ranks[i];

        memcpy(outs + k, r->outs, r->n_outs * sizeof(*outs));
        k += r->n_outs;
        r->n_outs = 0; /* moved */
    }
    *out = outs;
    *n_out = total;
    return 0;
}

static void fill_stats(const struct comms_run *run, size_t n_tasks, size_t n_out,
                       struct wn_stage_stats *stats)
{
    double first = 0.0, last = 0.0;
    int any = 0;

    memset(stats, 0, sizeof(*stats));
    stats->tasks_in = n_tasks;
    stats->tasks_out = n_out;
    stats->actors = run->n;
    for (uint32_t i = 0; i < run->n; i++) {
        const struct rank *r = &run->ranks[i];

        if (!r->processed)
            continue;
        stats->items_in += r->items_in;
        if (n_out > 0)
            stats->items_out += r->items_out;
        stats->batches++;
        stats->busy_s += r->end - r->start;
        if (!any || r->start < first)
            first = r->start;
        if (!any || r->end > last)
            last = r->end;
        any = 1;
    }
    stats->wall_s = any ? last - first : 0.0;
}

int wn_comms_stage_run(const struct wn_run_stage *stage, const struct wn_pool_capacity *capacity,
                       struct wn_task ***tasks, size_t *n_tasks, struct wn_stage_stats *stats,
                       struct wn_error *err)
{
    struct wn_task **in = *tasks;
    size_t n_in = *n_tasks, n_chunks = 0;
    struct wn_batch_range *chunks = NULL;
    struct comms_run run;
    double started_at = now_s();
    int rc;

    *tasks = NULL;
    *n_tasks = 0;
    memset(stats, 0, sizeof(*stats));
    memset(&run, 0, sizeof(run));
    run.stage = stage;
    run.ops = stage->desc->ops;
    run.provider = provider_of(stage);
    run.tasks = in;
    pthread_mutex_init(&run.lock, NULL);
    pthread_cond_init(&run.id_cv, NULL);
    if (n_in == 0) {
        wn_log(WN_LOG_INFO, LOG_DOMAIN, "stage '%s': no input task, skipped", stage->name);
        rc = 0;
        goto out_free_tasks;
    }
    rc = wn_comms_stage_check(stage, err);
    if (rc == 0)
        rc = plan_ranks(stage, capacity, n_in, &run.n, err);
    if (rc == 0)
        rc = wn_batching_split(n_in, 0, run.n, &chunks, &n_chunks, err);
    if (rc < 0)
        goto out_free_tasks;
    if (n_chunks != run.n) {
        rc = wn_error_set(err, WN_EINTERNAL, "stage '%s': %zu chunks for %u ranks", stage->name,
                          n_chunks, run.n);
        goto out_free_chunks;
    }
    run.ranks = calloc(run.n, sizeof(*run.ranks));
    if (run.ranks == NULL) {
        rc = wn_error_set(err, WN_ENOMEM, "stage '%s': out of memory for %u ranks", stage->name,
                          run.n);
        goto out_free_chunks;
    }
    rc = run.provider->group_new(stage->name, stage->comms_params, run.n, &run.group, err);
    if (rc < 0) {
        wn_error_prefix(err, "stage '%s': comms provider '%s'", stage->name,
                        stage->comms_backend->name);
        goto out_free_ranks;
    }
    wn_log(WN_LOG_INFO, LOG_DOMAIN, "stage '%s': %u ranks over comms '%s' for %zu tasks",
           stage->name, run.n, stage->comms_backend->name, n_in);

    for (uint32_t i = 0; i < run.n; i++) {
        struct rank *r = &run.ranks[i];
        int e;

        r->emitter.emit = rank_emit;
        r->run = &run;
        r->index = i;
        r->chunk = chunks[i];
        e = pthread_create(&r->thread, NULL, rank_main, r);
        if (e != 0) {
            run_fail(&run, WN_EIO, "stage '%s': cannot start the thread of actor %u/%u: %s",
                     stage->name, i, run.n, strerror(e));
            if (i == 0) { /* nobody makes the id: release the others' wait */
                pthread_mutex_lock(&run.lock);
                run.id_state = -1;
                pthread_cond_broadcast(&run.id_cv);
                pthread_mutex_unlock(&run.lock);
            }
            break;
        }
        r->started = 1;
    }
    for (uint32_t i = 0; i < run.n; i++)
        if (run.ranks[i].started)
            pthread_join(run.ranks[i].thread, NULL);
    if (run.provider->group_free != NULL)
        run.provider->group_free(run.group);

    if (run.failed)
        rc = wn_error_set(err, run.error.code, "%s", run.error.message);
    else
        rc = collect_outputs(&run, tasks, n_tasks, err);
    fill_stats(&run, n_in, *n_tasks, stats);
    if (rc == 0)
        wn_log(WN_LOG_INFO, LOG_DOMAIN,
               "stage '%s': %zu tasks (%llu items) in, %zu tasks (%llu items) out on %u ranks in "
               "%.3f s",
               stage->name, n_in, (unsigned long long)stats->items_in, *n_tasks,
               (unsigned long long)stats->items_out, run.n, now_s() - started_at);

out_free_ranks:
    for (uint32_t i = 0; run.ranks != NULL && i < run.n; i++) {
        for (size_t k = 0; k < run.ranks[i].n_outs; k++)
            wn_task_free(run.ranks[i].outs[k]);
        free(run.ranks[i].outs);
    }
    free(run.ranks);
out_free_chunks:
    free(chunks);
out_free_tasks:
    /* Chunks that ran are NULL already; what is left never ran. */
    for (size_t i = 0; i < n_in; i++)
        wn_task_free(in[i]);
    free(in);
    pthread_cond_destroy(&run.id_cv);
    pthread_mutex_destroy(&run.lock);
    return rc;
}
