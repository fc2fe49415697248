/*
 * What a run of the actor_pool executor tells: the failure manifest (JSONL,
 * one line per skipped task), the run report (JSON), and the progress
 * display (stderr: redrawn on a terminal, plain lines otherwise).
 */
#include "build_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <winnow/log.h>

#include "executor.h"
#include "plain_stage.h"

struct wn_ap_manifest {
    FILE *f;
    pthread_mutex_t lock;
    char *path;
};

/* Skipped tasks logged one by one when no manifest was asked for. */
#define UNRECORDED_LOG_MAX 10

/* ---- JSON text ---------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_sequence(const unsigned char *s)
{
    size_t len;
    unsigned c = s[0];

    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

void wn_ap_json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");

    fputc('"', f);
    while (*p != '\0') {
        unsigned c = *p;
        size_t len;

        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c == '\r') {
            fputs("\\r", f);
        } else if (c < 0x20 || c == 0x7F) {
            fprintf(f, "\\u%04x", c);
        } else if (c < 0x80) {
            fputc((int)c, f);
        } else if ((len = utf8_sequence(p)) > 0) {
            fwrite(p, 1, len, f);
            p += len;
            continue;
        } else {
            fprintf(f, "\\u%04x", c); /* not UTF-8: read as Latin-1 */
        }
        p++;
    }
    fputc('"', f);
}

/* A finite number (JSON has no NaN or infinity). */
static void json_number(FILE *f, double v)
{
    if (v != v || v > 1e300 || v < -1e300)
        v = 0.0;
    fprintf(f, "%.9g", v);
}

/* ---- the failure manifest ----------------------------------------------------------- */

int wn_ap_manifest_open(struct wn_ap_run *run, const char *path, struct wn_error *err)
{
    struct wn_ap_manifest *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    m->path = strdup(path);
    m->f = fopen(path, "w");
    if (m->path == NULL || m->f == NULL) {
        int e = errno;

        if (m->f != NULL)
            fclose(m->f);
        free(m->path);
        free(m);
        return wn_error_set(err, WN_EIO,
                            "cannot write the failure manifest '%s': %s (give "
                            "another path with --failures or executor.failures)",
                            path, strerror(e));
    }
    pthread_mutex_init(&m->lock, NULL);
    run->manifest = m;
    return 0;
}

void wn_ap_manifest_close(struct wn_ap_run *run)
{
    struct wn_ap_manifest *m = run->manifest;

    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    if (m->f != NULL) {
        if (fclose(m->f) != 0)
            wn_log(WN_LOG_ERROR, WN_AP_LOG_DOMAIN, "failure manifest '%s': %s", m->path,
                   strerror(errno));
        m->f = NULL;
    }
    pthread_mutex_unlock(&m->lock);
}

/* Frees the manifest (with the run context). */
void wn_ap_manifest_free(struct wn_ap_manifest *m)
{
    if (m == NULL)
        return;
    if (m->f != NULL)
        fclose(m->f);
    pthread_mutex_destroy(&m->lock);
    free(m->path);
    free(m);
}

void wn_ap_stage_skip(struct wn_ap_stage *stage, struct wn_task *task, const char *error,
                      int actor_index, uint32_t attempts)
{
    struct wn_ap_run *run = stage->run;
    struct wn_ap_manifest *m = run->manifest;

    if (m != NULL) {
        pthread_mutex_lock(&m->lock);
        if (m->f != NULL) {
            fputs("{\"stage\":", m->f);
            wn_ap_json_string(m->f, stage->name);
            fputs(",\"task\":", m->f);
            wn_ap_json_string(m->f, wn_task_id(task));
            fputs(",\"dataset\":", m->f);
            wn_ap_json_string(m->f, wn_task_dataset(task));
            fputs(",\"error\":", m->f);
            wn_ap_json_string(m->f, error);
            fprintf(m->f, ",\"actor\":%d,\"attempts\":%u}\n", actor_index, attempts);
            fflush(m->f); /* a crash later keeps what was skipped */
        }
        pthread_mutex_unlock(&m->lock);
    } else {
        uint64_t n = __atomic_fetch_add(&run->skipped_unrecorded, 1, __ATOMIC_RELAXED);

        if (n < UNRECORDED_LOG_MAX)
            wn_log(WN_LOG_WARN, WN_AP_LOG_DOMAIN,
                   "stage '%s' skipped task %s after %u attempt(s): %s (no failure manifest: "
                   "give --failures FILE or executor.failures to keep them)",
                   stage->name, wn_task_id(task), attempts, error);
        else if (n == UNRECORDED_LOG_MAX)
            wn_log(WN_LOG_WARN, WN_AP_LOG_DOMAIN, "more tasks skipped: counted in the report only");
    }
    __atomic_add_fetch(&stage->counts.skipped, 1, __ATOMIC_ACQ_REL);
    wn_task_free(task);
}

/* ---- per-stage totals over actors ----------------------------------------------------- */

struct totals {
    uint64_t batches, items_in, items_out, busy_ns, idle_ns, first_ns, last_ns;
    uint32_t actors;
};

static void stage_totals(const struct wn_ap_stage *stage, struct totals *t)
{
    uint32_t n = __atomic_load_n(&stage->n_actors, __ATOMIC_ACQUIRE);

    memset(t, 0, sizeof(*t));
    t->actors = n;
    for (uint32_t i = 0; i < n; i++) {
        const struct wn_ap_actor *a = stage->actors[i];
        uint64_t first = __atomic_load_n(&a->first_start_ns, __ATOMIC_RELAXED);

        t->batches += __atomic_load_n(&a->batches, __ATOMIC_RELAXED);
        t->items_in += __atomic_load_n(&a->items_in, __ATOMIC_RELAXED);
        t->items_out += __atomic_load_n(&a->items_out, __ATOMIC_RELAXED);
        t->busy_ns += __atomic_load_n(&a->busy_ns, __ATOMIC_RELAXED);
        t->idle_ns += __atomic_load_n(&a->idle_ns, __ATOMIC_RELAXED);
        if (first == 0)
            continue;
        if (t->first_ns == 0 || first < t->first_ns)
            t->first_ns = first;
        if (__atomic_load_n(&a->last_end_ns, __ATOMIC_RELAXED) > t->last_ns)
            t->last_ns = __atomic_load_n(&a->last_end_ns, __ATOMIC_RELAXED);
    }
}

void wn_ap_stage_stats_fill(const struct wn_ap_stage *stage, struct wn_stage_stats *stats)
{
    struct totals t;

    stage_totals(stage, &t);
    stats->tasks_in = stage->counts.in;
    stats->tasks_out = stage->counts.out;
    stats->items_in = t.items_in;
    stats->items_out = t.items_out;
    stats->batches = t.batches;
    stats->tasks_failed = stage->counts.skipped;
    stats->actors = t.actors;
    stats->wall_s = t.last_ns > t.first_ns ? (double)(t.last_ns - t.first_ns) * 1e-9 : 0.0;
    stats->busy_s = (double)t.busy_ns * 1e-9;
}

/* ---- the run report --------------------------------------------------------------------- */

static const char *on_error_name(enum wn_on_error on_error)
{
    switch (on_error) {
    case WN_ON_ERROR_FAIL: return "fail";
    case WN_ON_ERROR_RETRY: return "retry";
    case WN_ON_ERROR_SKIP: return "skip";
    }
    return "fail";
}

static void report_metrics(FILE *f, const struct wn_ap_stage *stage)
{
    uint32_t n = stage->n_actors;
    int first = 1;

    fputs("{", f);
    /* Each name once, summed over actors, in the order first seen. */
    for (uint32_t i = 0; i < n; i++) {
        const struct wn_ap_actor *a = stage->actors[i];

        for (size_t k = 0; k < a->n_metrics; k++) {
            const char *name = a->metrics[k].name;
            double sum = 0.0;
            uint64_t count = 0;
            int seen = 0;

            for (uint32_t j = 0; j < i && !seen; j++)
                for (size_t l = 0; l < stage->actors[j]->n_metrics; l++)
                    if (strcmp(stage->actors[j]->metrics[l].name, name) == 0)
                        seen = 1;
            if (seen)
                continue;
            for (uint32_t j = i; j < n; j++) {
                const struct wn_ap_actor *b = stage->actors[j];

                for (size_t l = 0; l < b->n_metrics; l++) {
                    if (strcmp(b->metrics[l].name, name) == 0) {
                        sum += b->metrics[l].sum;
                        count += b->metrics[l].count;
                    }
                }
            }
            fputs(first ? "" : ",", f);
            first = 0;
            wn_ap_json_string(f, name);
            fputs(":{\"sum\":", f);
            json_number(f, sum);
            fprintf(f, ",\"count\":%llu}", (unsigned long long)count);
        }
    }
    fputs("}", f);
}

static void report_stage(FILE *f, const struct wn_ap_stage *stage)
{
    const struct wn_ap_counts *c = &stage->counts;
    struct totals t;
    double wall, busy;

    stage_totals(stage, &t);
    wall = t.last_ns > t.first_ns ? (double)(t.last_ns - t.first_ns) * 1e-9 : 0.0;
    busy = (double)t.busy_ns * 1e-9;
    fputs("{\"name\":", f);
    wn_ap_json_string(f, stage->name);
    fputs(",\"stage\":", f);
    wn_ap_json_string(f, stage->desc->name);
    fputs(",\"kind\":", f);
    wn_ap_json_string(f, stage->kind ? stage->kind->name : "?");
    fprintf(f, ",\"streaming\":%s,\"batch_size\":%u,\"on_error\":\"%s\",\"max_retries\":%u,",
            stage->streams ? "true" : "false", stage->batch_size, on_error_name(stage->on_error),
            stage->max_retries);
    fputs("\"fused_into\":", f);
    if (stage->fused_into != NULL)
        wn_ap_json_string(f, stage->fused_into->name);
    else
        fputs("null", f);
    fputs(",", f);
    fputs("\"timeout_s\":", f);
    json_number(f, (double)stage->timeout_ns * 1e-9);
    fprintf(f,
            ",\"actors\":%u,\"tasks\":{\"in\":%llu,\"out\":%llu,\"filtered\":%llu,"
            "\"created\":%llu,\"skipped\":%llu,\"dropped\":%llu},",
            t.actors, (unsigned long long)c->in, (unsigned long long)c->out,
            (unsigned long long)c->filtered, (unsigned long long)c->created,
            (unsigned long long)c->skipped, (unsigned long long)c->dropped);
    fprintf(f, "\"balanced\":%s,",
            c->in + c->created == c->out + c->filtered + c->skipped + c->dropped ? "true"
                                                                                 : "false");
    fprintf(f, "\"items\":{\"in\":%llu,\"out\":%llu},\"batches\":%llu,\"retries\":%llu,",
            (unsigned long long)t.items_in, (unsigned long long)t.items_out,
            (unsigned long long)t.batches, (unsigned long long)c->retries);
    fputs("\"wall_s\":", f);
    json_number(f, wall);
    fputs(",\"busy_s\":", f);
    json_number(f, busy);
    fputs(",\"idle_s\":", f);
    json_number(f, (double)t.idle_ns * 1e-9);
    fputs(",\"throughput\":{\"tasks_per_s\":", f);
    json_number(f, wall > 0 ? (double)c->in / wall : 0.0);
    fputs(",\"items_per_s\":", f);
    json_number(f, wall > 0 ? (double)t.items_in / wall : 0.0);
    fputs("},\"metrics\":", f);
    report_metrics(f, stage);
    fputs(",\"actor_list\":[", f);
    for (uint32_t i = 0; i < t.actors; i++) {
        const struct wn_ap_actor *a = stage->actors[i];

        fprintf(f,
                "%s{\"index\":%u,\"device\":%d,\"batches\":%llu,\"tasks_in\":%llu,"
                "\"tasks_out\":%llu,\"items_in\":%llu,\"items_out\":%llu,\"failures\":%llu,"
                "\"retries\":%llu,\"abandoned\":%s,\"busy_s\":",
                i ? "," : "", a->index, a->device_id, (unsigned long long)a->batches,
                (unsigned long long)a->tasks_in, (unsigned long long)a->tasks_out,
                (unsigned long long)a->items_in, (unsigned long long)a->items_out,
                (unsigned long long)a->failures, (unsigned long long)a->retries,
                __atomic_load_n(&a->abandoned, __ATOMIC_ACQUIRE) ? "true" : "false");
        json_number(f, (double)a->busy_ns * 1e-9);
        fputs(",\"idle_s\":", f);
        json_number(f, (double)a->idle_ns * 1e-9);
        fputs(",\"setup_s\":", f);
        json_number(f, (double)a->setup_ns * 1e-9);
        fputs("}", f);
    }
    fputs("]}", f);
}

int wn_ap_report_write(const struct wn_ap_run *run, const char *path, double wall_s,
                       struct wn_error *err)
{
    FILE *f = fopen(path, "w");
    uint64_t skipped = 0;
    int rc = 0;

    if (f == NULL)
        return wn_error_set(err, WN_EIO, "cannot write the run report '%s': %s", path,
                            strerror(errno));
    for (size_t i = 0; i < run->n_stages; i++)
        skipped += run->stages[i].counts.skipped;
    fputs("{\"report\":\"winnow run\",\"version\":1,\"executor\":\"actor_pool\",\"mode\":", f);
    wn_ap_json_string(f, run->opt.mode == WN_AP_STREAMING ? "streaming" : "barrier");
    fprintf(f, ",\"status\":\"%s\",\"error\":", run->failed ? "failed" : "ok");
    if (run->failed)
        wn_ap_json_string(f, run->error.message);
    else
        fputs("null", f);
    fputs(",\"started_unix\":", f);
    json_number(f, run->started_unix);
    fputs(",\"wall_s\":", f);
    json_number(f, wall_s);
    fputs(",\"cpus\":", f);
    json_number(f, run->opt.capacity.cpus);
    fputs(",\"gpus\":[", f);
    for (size_t i = 0; i < run->ledger.n; i++) {
        fprintf(f, "%s{\"id\":%d,\"memory_gb\":", i ? "," : "", run->ledger.dev[i].id);
        json_number(f, run->ledger.dev[i].memory_gb);
        fputs("}", f);
    }
    fprintf(f, "],\"threads_abandoned\":%u,\"failures\":{\"path\":", run->abandoned);
    if (run->opt.failures_path != NULL)
        wn_ap_json_string(f, run->opt.failures_path);
    else
        fputs("null", f);
    fprintf(f, ",\"tasks\":%llu},\"stages\":[", (unsigned long long)skipped);
    for (size_t i = 0; i < run->n_stages; i++) {
        fputs(i ? ",\n" : "\n", f);
        report_stage(f, &run->stages[i]);
    }
    fputs("\n]}\n", f);
    if (ferror(f))
        rc = wn_error_set(err, WN_EIO, "cannot write the run report '%s': %s", path,
                          strerror(errno));
    if (fclose(f) != 0 && rc == 0)
        rc = wn_error_set(err, WN_EIO, "cannot write the run report '%s': %s", path,
                          strerror(errno));
    return rc;
}

/* ---- progress ------------------------------------------------------------------------- */

static const char *state_name(int state)
{
    switch (state) {
    case WN_AP_STAGE_RUNNING: return "running";
    case WN_AP_STAGE_DONE: return "done";
    default: return "waiting";
    }
}

static int appendf(char *buf, size_t size, size_t *used, const char *fmt, ...) WN_PRINTF(4, 5);

static int appendf(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*used >= size)
        return 0;
    va_start(ap, fmt);
    n = vsnprintf(buf + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used = *used + (size_t)n < size ? *used + (size_t)n : size - 1;
    return n;
}

/* A stage's items per second as the run summary rates it: the larger of
 * items in and out (a reader turns a few files into many rows), over the
 * stage's own span, from its first batch to its last (ended) or to now. */
static double progress_rate(const struct totals *t, int ended, uint64_t now_ns)
{
    uint64_t items = t->items_in > t->items_out ? t->items_in : t->items_out;
    uint64_t end = ended ? t->last_ns : now_ns;

    if (t->first_ns == 0 || end <= t->first_ns)
        return 0.0;
    return (double)items / ((double)(end - t->first_ns) * 1e-9);
}

void wn_ap_progress_draw(struct wn_ap_run *run, int final)
{
    uint64_t now_ns = wn_ap_run_clock(run);
    double elapsed = (double)now_ns * 1e-9, rate;
    size_t size = 256 + run->n_stages * 256, used = 0;
    char *buf = malloc(size);
    ssize_t w;

    if (buf == NULL)
        return;
    buf[0] = '\0';
    if (run->progress_live && run->progress_lines > 0)
        appendf(buf, size, &used, "\033[%dA", run->progress_lines);
    for (size_t i = 0; i < run->n_stages; i++) {
        const struct wn_ap_stage *s = &run->stages[i];
        struct totals t;
        uint64_t queued = s->engine != NULL ? wn_ap_plain_queued(s->engine) : 0;
        int state = __atomic_load_n(&s->state, __ATOMIC_RELAXED);

        struct wn_ap_counts c = s->counts;

        if (s->engine != NULL && s->streams)
            wn_ap_plain_counts(s->engine, &c);
        /* A stage fused into another's chain has no engine of its own: its
         * counts and state are the chain's.  A grouped stage (group_head) runs
         * its own engine on the head's threads and keeps its own. */
        if (s->fused_into != NULL && s->group_head == NULL) {
            wn_ap_plain_fused_counts(s, &c);
            state = __atomic_load_n(&s->fused_into->state, __ATOMIC_RELAXED);
        }
        if (final && state != WN_AP_STAGE_DONE)
            state = run->failed ? -1 : state;
        stage_totals(s, &t);
        rate = progress_rate(&t, state == WN_AP_STAGE_DONE || state < 0, now_ns);
        appendf(buf, size, &used,
                "%swinnow: %.1fs stage '%s' %s: %llu in, %llu out, %llu skipped, %llu queued, "
                "%u actors, %.0f items/s\n",
                run->progress_live ? "\033[2K" : "", elapsed, s->name,
                state < 0 ? "stopped" : state_name(state), (unsigned long long)c.in,
                (unsigned long long)c.out,
                (unsigned long long)__atomic_load_n(&s->counts.skipped, __ATOMIC_RELAXED),
                (unsigned long long)queued, t.actors, rate);
    }
    run->progress_lines = (int)run->n_stages;
    for (size_t off = 0; off < used; off += (size_t)w) {
        w = write(run->opt.progress_fd, buf + off, used - off);
        if (w <= 0 && errno != EINTR)
            break;
        if (w < 0)
            w = 0;
    }
    free(buf);
}
