/* The comms test harness: N ranks on threads, and reference collectives. */
#include "build_config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "harness.h"
#include "params_internal.h"

/* ---- ranks ------------------------------------------------------------------- */

struct shared {
    const struct wn_comms_provider_ops *ops;
    struct wn_comms_group *group;
    wn_test_rank_fn fn;
    void *arg;
    struct wn_test_ranks *out;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int id_ready;
    int id_rc;
    struct wn_comms_unique_id id;
};

struct rank_ctx {
    struct shared *sh;
    uint32_t rank;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *rank_main(void *p)
{
    struct rank_ctx *ctx = p;
    struct shared *sh = ctx->sh;
    struct wn_test_ranks *out = sh->out;
    uint32_t rank = ctx->rank;
    struct wn_error *err = &out->err[rank];
    struct wn_comms *comms = NULL;
    double t0 = now_s();
    int rc;

    /* The root makes the unique id and hands it to every rank. */
    if (rank == 0) {
        rc = sh->ops->unique_id(sh->group, &sh->id, err);
        pthread_mutex_lock(&sh->lock);
        sh->id_ready = 1;
        sh->id_rc = rc;
        pthread_cond_broadcast(&sh->cond);
        pthread_mutex_unlock(&sh->lock);
    } else {
        pthread_mutex_lock(&sh->lock);
        while (!sh->id_ready)
            pthread_cond_wait(&sh->cond, &sh->lock);
        rc = sh->id_rc;
        pthread_mutex_unlock(&sh->lock);
        if (rc < 0)
            wn_error_set(err, rc, "the root could not make the unique id");
    }
    if (rc == 0)
        rc = sh->ops->rank_init(sh->group, &sh->id, rank, -1, &comms, err);
    out->init_rc[rank] = rc;
    if (rc < 0) {
        sh->ops->group_abort(sh->group, err->message);
        goto out;
    }
    rc = sh->fn(comms, sh->arg, err);
    out->rc[rank] = rc;
    if (rc < 0)
        sh->ops->group_abort(sh->group, err->message[0] ? err->message : "a rank failed");
    out->rank_seconds[rank] = now_s() - t0;
    sh->ops->rank_destroy(sh->group, comms);
out:
    return NULL;
}

int wn_test_ranks_run(const struct wn_comms_provider_ops *ops, const struct wn_params *params,
                      uint32_t n, wn_test_rank_fn fn, void *arg, struct wn_test_ranks *out)
{
    struct shared sh;
    struct rank_ctx ctx[WN_TEST_MAX_RANKS];
    pthread_t threads[WN_TEST_MAX_RANKS];
    double t0 = now_s();
    int rc = 0;

    memset(out, 0, sizeof(*out));
    out->n = n;
    if (n == 0 || n > WN_TEST_MAX_RANKS)
        return WN_EINVAL;
    memset(&sh, 0, sizeof(sh));
    sh.ops = ops;
    sh.fn = fn;
    sh.arg = arg;
    sh.out = out;
    pthread_mutex_init(&sh.lock, NULL);
    pthread_cond_init(&sh.cond, NULL);
    out->group_rc = ops->group_new("test", params, n, &sh.group, &out->err[0]);
    if (out->group_rc < 0) {
        rc = out->group_rc;
        goto out_destroy;
    }
    for (uint32_t r = 0; r < n; r++) {
        ctx[r].sh = &sh;
        ctx[r].rank = r;
        if (pthread_create(&threads[r], NULL, rank_main, &ctx[r]) != 0) {
            fprintf(stderr, "cannot start rank thread %u\n", r);
            abort();
        }
    }
    for (uint32_t r = 0; r < n; r++)
        pthread_join(threads[r], NULL);
    ops->group_free(sh.group);
    for (uint32_t r = 0; r < n && rc == 0; r++)
        rc = out->init_rc[r] < 0 ? out->init_rc[r] : out->rc[r];

out_destroy:
    pthread_cond_destroy(&sh.cond);
    pthread_mutex_destroy(&sh.lock);
    out->seconds = now_s() - t0;
    return rc;
}

struct wn_params *wn_test_params(const struct wn_param_spec *spec, const char *json)
{
    struct wn_error err = WN_ERROR_INIT;
    struct wn_params *params = NULL;
    json_error_t jerr;
    json_t *given = json_loads(json, 0, &jerr);

    if (given == NULL) {
        fprintf(stderr, "bad test params %s: %s\n", json, jerr.text);
        return NULL;
    }
    if (wn_params_new(spec, given, "comms_params", &params, &err) < 0)
        fprintf(stderr, "bad test params %s: %s\n", json, err.message);
    json_decref(given);
    return params;
}

void wn_test_params_free(struct wn_params *params)
{
    wn_params_free(params);
}

/* ---- reference data ------------------------------------------------------------ */

const enum wn_comms_dtype wn_test_dtypes[6] = {
    WN_COMMS_INT32,   WN_COMMS_INT64,   WN_COMMS_UINT64,
    WN_COMMS_FLOAT32, WN_COMMS_FLOAT64, WN_COMMS_UINT8
};
const enum wn_comms_op wn_test_ops[4] = { WN_COMMS_SUM, WN_COMMS_PROD, WN_COMMS_MIN, WN_COMMS_MAX };

const char *wn_test_dtype_name(enum wn_comms_dtype dtype)
{
    switch (dtype) {
    case WN_COMMS_INT32: return "int32";
    case WN_COMMS_INT64: return "int64";
    case WN_COMMS_UINT64: return "uint64";
    case WN_COMMS_FLOAT32: return "float32";
    case WN_COMMS_FLOAT64: return "float64";
    case WN_COMMS_UINT8: return "uint8";
    }
    return "?";
}

const char *wn_test_op_name(enum wn_comms_op op)
{
    switch (op) {
    case WN_COMMS_SUM: return "sum";
    case WN_COMMS_PROD: return "prod";
    case WN_COMMS_MIN: return "min";
    case WN_COMMS_MAX: return "max";
    }
    return "?";
}

/* A value of any type: ints as int64 (or their bits), floats as double. */
struct value {
    int64_t i;
    double f;
};

static int is_float(enum wn_comms_dtype dtype)
{
    return dtype == WN_COMMS_FLOAT32 || dtype == WN_COMMS_FLOAT64;
}

static int is_unsigned(enum wn_comms_dtype dtype)
{
    return dtype == WN_COMMS_UINT64 || dtype == WN_COMMS_UINT8;
}

static uint64_t mix(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

static struct value fill_value(enum wn_comms_dtype dtype, enum wn_comms_op op, uint32_t rank,
                               uint32_t salt, size_t i)
{
    static const int64_t signed_factors[4] = { -2, -1, 1, 2 };
    uint64_t h = mix(((uint64_t)rank << 40) ^ ((uint64_t)salt << 20) ^ i);
    struct value v = { 0, 0.0 };

    switch (op) {
    case WN_COMMS_SUM:
        v.i = (int64_t)((rank * 7 + i * 13 + salt) % 41);
        if (!is_unsigned(dtype))
            v.i -= 20;
        break;
    case WN_COMMS_PROD:
        v.i = is_unsigned(dtype) ? (int64_t)((rank + i * 3 + salt) % 3) + 1
                                 : signed_factors[(rank + i * 3 + salt) % 4];
        break;
    case WN_COMMS_MIN:
    case WN_COMMS_MAX:
        switch (dtype) {
        case WN_COMMS_INT32: v.i = (int32_t)(uint32_t)h; break;
        case WN_COMMS_INT64: v.i = (int64_t)h; break;
        case WN_COMMS_UINT64: v.i = (int64_t)h; break; /* the bits */
        case WN_COMMS_UINT8: v.i = (int64_t)(h & 0xff); break;
        case WN_COMMS_FLOAT32: v.f = (double)((int32_t)(uint32_t)h >> 8); break;
        case WN_COMMS_FLOAT64: v.f = (double)((int64_t)h >> 11); break;
        }
        return v;
    }
    v.f = (double)v.i;
    return v;
}

static void store(enum wn_comms_dtype dtype, void *buf, size_t i, struct value v)
{
    switch (dtype) {
    case WN_COMMS_INT32: ((int32_t *)buf)[i] = (int32_t)(uint32_t)(uint64_t)v.i; break;
    case WN_COMMS_INT64: ((int64_t *)buf)[i] = v.i; break;
    case WN_COMMS_UINT64: ((uint64_t *)buf)[i] = (uint64_t)v.i; break;
    case WN_COMMS_FLOAT32: ((float *)buf)[i] = (float)v.f; break;
    case WN_COMMS_FLOAT64: ((double *)buf)[i] = v.f; break;
    case WN_COMMS_UINT8: ((uint8_t *)buf)[i] = (uint8_t)(uint64_t)v.i; break;
    }
}

void wn_test_fill(enum wn_comms_dtype dtype, enum wn_comms_op op, uint32_t rank, uint32_t salt,
                  void *buf, size_t count)
{
    for (size_t i = 0; i < count; i++)
        store(dtype, buf, i, fill_value(dtype, op, rank, salt, i));
}

/* acc op v, the way the type does it. */
static struct value combine(enum wn_comms_dtype dtype, enum wn_comms_op op, struct value acc,
                            struct value v)
{
    if (is_float(dtype)) {
        switch (op) {
        case WN_COMMS_SUM: acc.f += v.f; break;
        case WN_COMMS_PROD: acc.f *= v.f; break;
        case WN_COMMS_MIN: acc.f = v.f < acc.f ? v.f : acc.f; break;
        case WN_COMMS_MAX: acc.f = v.f > acc.f ? v.f : acc.f; break;
        }
        return acc;
    }
    switch (op) {
    case WN_COMMS_SUM: acc.i = (int64_t)((uint64_t)acc.i + (uint64_t)v.i); break;
    case WN_COMMS_PROD: acc.i = (int64_t)((uint64_t)acc.i * (uint64_t)v.i); break;
    case WN_COMMS_MIN:
        if (is_unsigned(dtype) ? (uint64_t)v.i < (uint64_t)acc.i : v.i < acc.i)
            acc.i = v.i;
        break;
    case WN_COMMS_MAX:
        if (is_unsigned(dtype) ? (uint64_t)v.i > (uint64_t)acc.i : v.i > acc.i)
            acc.i = v.i;
        break;
    }
    return acc;
}

void wn_test_reference_reduce(enum wn_comms_dtype dtype, enum wn_comms_op op, uint32_t n,
                              uint32_t salt, void *out, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct value acc = fill_value(dtype, op, 0, salt, i);

        for (uint32_t r = 1; r < n; r++)
            acc = combine(dtype, op, acc, fill_value(dtype, op, r, salt, i));
        store(dtype, out, i, acc);
    }
}

long wn_test_first_difference(const void *a, const void *b, size_t bytes, size_t element_size)
{
    const unsigned char *x = a, *y = b;

    for (size_t i = 0; i < bytes; i++)
        if (x[i] != y[i])
            return (long)(i / element_size);
    return -1;
}
