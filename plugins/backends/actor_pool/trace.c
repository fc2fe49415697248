/*
 * The run's trace: Chrome trace-event JSON (what Perfetto and
 * chrome://tracing open), one track (tid) per actor, one complete ("X")
 * slice per batch, plus setup and teardown.  Actors buffer their slices and
 * write them under a lock when the buffer fills, so the trace never holds a
 * whole run in memory.
 */
#include "build_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"

struct wn_ap_trace {
    FILE *f;
    pthread_mutex_t lock;
    int closed;
    int any; /* an event was written: the next one needs a comma */
    char *path;
};

static void trace_sep(struct wn_ap_trace *t)
{
    fputs(t->any ? ",\n" : "\n", t->f);
    t->any = 1;
}

int wn_ap_trace_open(struct wn_ap_run *run, const char *path, struct wn_error *err)
{
    struct wn_ap_trace *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return wn_error_set(err, WN_ENOMEM, "out of memory");
    t->path = strdup(path);
    t->f = fopen(path, "w");
    if (t->path == NULL || t->f == NULL) {
        int e = errno;

        if (t->f != NULL)
            fclose(t->f);
        free(t->path);
        free(t);
        return wn_error_set(err, WN_EIO, "cannot write the trace '%s': %s", path, strerror(e));
    }
    pthread_mutex_init(&t->lock, NULL);
    fputs("{\"traceEvents\":[", t->f);
    trace_sep(t);
    fputs("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":0,"
          "\"args\":{\"name\":\"winnow actor_pool\"}}",
          t->f);
    run->trace = t;
    return 0;
}

void wn_ap_trace_flush_actor(struct wn_ap_run *run, struct wn_ap_actor *a)
{
    struct wn_ap_trace *t = run->trace;

    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; !t->closed && i < a->n_events; i++) {
        const struct wn_ap_trace_event *ev = &a->events[i];

        trace_sep(t);
        fputs("{\"name\":", t->f);
        wn_ap_json_string(t->f, ev->name);
        fprintf(t->f, ",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":1,\"tid\":%u",
                ev->attempt > 0 ? "batch" : "hook", (double)ev->start_ns * 1e-3,
                (double)(ev->end_ns - ev->start_ns) * 1e-3, a->track + 1);
        if (ev->attempt > 0) { /* a batch (wn_ap_actor_batch_done), not another hook */
            fputs(",\"args\":{\"first_task\":", t->f);
            wn_ap_json_string(t->f, ev->task);
            fprintf(t->f, ",\"tasks\":%u,\"outputs\":%u,\"attempt\":%u,\"ok\":%s}", ev->n_in,
                    ev->n_out, ev->attempt, ev->ok ? "true" : "false");
        }
        fputs("}", t->f);
    }
    a->n_events = 0;
    pthread_mutex_unlock(&t->lock);
}

int wn_ap_trace_close(struct wn_ap_run *run, struct wn_error *err)
{
    struct wn_ap_trace *t = run->trace;
    int rc = 0;

    if (t == NULL)
        return 0;
    pthread_mutex_lock(&t->lock);
    /* Track names: one per actor, sorted by stage then index. */
    for (size_t i = 0; !t->closed && i < run->n_stages; i++) {
        const struct wn_ap_stage *stage = &run->stages[i];

        for (uint32_t k = 0; k < stage->n_actors; k++) {
            const struct wn_ap_actor *a = stage->actors[k];
            char name[160];

            if (a->device_id >= 0)
                snprintf(name, sizeof(name), "%s/%u (GPU %d)", stage->name, a->index, a->device_id);
            else
                snprintf(name, sizeof(name), "%s/%u", stage->name, a->index);
            trace_sep(t);
            fprintf(t->f,
                    "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"args\":{"
                    "\"name\":",
                    a->track + 1);
            wn_ap_json_string(t->f, name);
            fputs("}}", t->f);
            trace_sep(t);
            fprintf(t->f,
                    "{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":%u,"
                    "\"args\":{\"sort_index\":%u}}",
                    a->track + 1, a->track + 1);
        }
    }
    if (!t->closed) {
        fputs("\n],\"displayTimeUnit\":\"ms\"}\n", t->f);
        if (ferror(t->f))
            rc = wn_error_set(err, WN_EIO, "cannot write the trace '%s': %s", t->path,
                              strerror(errno));
        if (fclose(t->f) != 0 && rc == 0)
            rc = wn_error_set(err, WN_EIO, "cannot write the trace '%s': %s", t->path,
                              strerror(errno));
        t->f = NULL;
        t->closed = 1;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* Frees the trace (with the run context). */
void wn_ap_trace_free(struct wn_ap_trace *t)
{
    if (t == NULL)
        return;
    if (t->f != NULL)
        fclose(t->f);
    pthread_mutex_destroy(&t->lock);
    free(t->path);
    free(t);
}
