/*
 * GPUs for the actor_pool executor (see gpu.h).
 *
 * The default backend opens the CUDA runtime with dlopen (nothing CUDA is
 * linked): the device count comes from cudaGetDeviceCount (so
 * CUDA_VISIBLE_DEVICES holds), each device's memory from NVML, matched by
 * PCI bus id (NVML's own order may differ from CUDA's).  Without NVML a
 * device's memory is unknown; without the runtime, or without a driver,
 * there is no device.  The libraries stay open for the life of the process
 * (actors call cudaSetDevice through them).
 */
#include "build_config.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <winnow/log.h>

#include "gpu.h"

#define LOG_DOMAIN "actor_pool"

/* Room for rounding: 0.7 / 0.1 is 6.999999999999999 in doubles, yet 7 fit. */
#define GPU_EPSILON 1e-9

/* ---- the CUDA runtime and NVML, by dlopen ---------------------------------- */

typedef int (*cuda_int_fn)(int *);
typedef int (*cuda_set_fn)(int);
typedef int (*cuda_busid_fn)(char *, int, int);
typedef const char *(*cuda_errstr_fn)(int);

struct nvml_memory {
    unsigned long long total, free, used;
};
typedef int (*nvml_init_fn)(void);
typedef int (*nvml_handle_busid_fn)(const char *, void **);
typedef int (*nvml_memory_fn)(void *, struct nvml_memory *);

static struct {
    pthread_once_t once;
    void *cudart, *nvml;
    cuda_int_fn get_device_count;
    cuda_set_fn set_device;
    cuda_busid_fn get_pci_bus_id;
    cuda_errstr_fn get_error_string;
    nvml_init_fn nvml_init;
    nvml_handle_busid_fn nvml_handle_by_bus_id;
    nvml_memory_fn nvml_memory;
    int nvml_ready;
    char cudart_name[128];
} cuda = { .once = PTHREAD_ONCE_INIT };

static void *open_first(const char *const *names, char *found, size_t size)
{
    for (const char *const *n = names; *n != NULL; n++) {
        void *h = dlopen(*n, RTLD_NOW | RTLD_LOCAL);

        if (h != NULL) {
            snprintf(found, size, "%s", *n);
            return h;
        }
    }
    return NULL;
}

static void cuda_open(void)
{
    static const char *const cudart_names[] = { "libcudart.so",
                                                "libcudart.so.13",
                                                "libcudart.so.12",
                                                "libcudart.so.11.0",
                                                "/usr/local/cuda/lib64/libcudart.so",
                                                "/usr/local/cuda/lib/libcudart.so",
                                                NULL };
    static const char *const nvml_names[] = { "libnvidia-ml.so.1", "libnvidia-ml.so", NULL };
    char nvml_name[128];

    cuda.cudart = open_first(cudart_names, cuda.cudart_name, sizeof(cuda.cudart_name));
    if (cuda.cudart != NULL) {
        *(void **)&cuda.get_device_count = dlsym(cuda.cudart, "cudaGetDeviceCount");
        *(void **)&cuda.set_device = dlsym(cuda.cudart, "cudaSetDevice");
        *(void **)&cuda.get_pci_bus_id = dlsym(cuda.cudart, "cudaDeviceGetPCIBusId");
        *(void **)&cuda.get_error_string = dlsym(cuda.cudart, "cudaGetErrorString");
    }
    cuda.nvml = open_first(nvml_names, nvml_name, sizeof(nvml_name));
    if (cuda.nvml != NULL) {
        *(void **)&cuda.nvml_init = dlsym(cuda.nvml, "nvmlInit_v2");
        *(void **)&cuda.nvml_handle_by_bus_id =
            dlsym(cuda.nvml, "nvmlDeviceGetHandleByPciBusId_v2");
        *(void **)&cuda.nvml_memory = dlsym(cuda.nvml, "nvmlDeviceGetMemoryInfo");
        cuda.nvml_ready = cuda.nvml_init != NULL && cuda.nvml_handle_by_bus_id != NULL &&
                          cuda.nvml_memory != NULL && cuda.nvml_init() == 0;
    }
}

static const char *cuda_error(int code)
{
    const char *s = cuda.get_error_string ? cuda.get_error_string(code) : NULL;
    return s ? s : "unknown CUDA error";
}

/* Memory of CUDA device `ordinal` in GB, from NVML by PCI bus id; 0: unknown. */
static double cuda_device_memory_gb(int ordinal)
{
    char bus_id[64];
    struct nvml_memory mem;
    void *handle = NULL;

    if (!cuda.nvml_ready || cuda.get_pci_bus_id == NULL ||
        cuda.get_pci_bus_id(bus_id, (int)sizeof(bus_id), ordinal) != 0)
        return 0.0;
    if (cuda.nvml_handle_by_bus_id(bus_id, &handle) != 0 || cuda.nvml_memory(handle, &mem) != 0)
        return 0.0;
    return (double)mem.total / 1e9;
}

static int cuda_discover(struct wn_gpu_device *devs, size_t cap, size_t *n, struct wn_error *err)
{
    int count = 0, rc;

    (void)err;
    *n = 0;
    pthread_once(&cuda.once, cuda_open);
    if (cuda.cudart == NULL || cuda.get_device_count == NULL) {
        wn_log(WN_LOG_INFO, LOG_DOMAIN, "no CUDA runtime library found: no GPU");
        return 0;
    }
    rc = cuda.get_device_count(&count);
    if (rc != 0) {
        /* 35 (insufficient driver) or 100 (no device) on machines without a GPU. */
        wn_log(WN_LOG_INFO, LOG_DOMAIN, "%s: cudaGetDeviceCount: %s (%d): no GPU", cuda.cudart_name,
               cuda_error(rc), rc);
        return 0;
    }
    for (int i = 0; i < count && (size_t)i < cap; i++) {
        devs[i].id = i;
        devs[i].memory_gb = cuda_device_memory_gb(i);
        *n = (size_t)i + 1;
    }
    wn_log(WN_LOG_INFO, LOG_DOMAIN, "%s: %d GPU(s)%s", cuda.cudart_name, count,
           cuda.nvml_ready ? "" : " (no NVML: device memory unknown)");
    return 0;
}

static int cuda_bind(int id, struct wn_error *err)
{
    int rc;

    pthread_once(&cuda.once, cuda_open);
    if (cuda.set_device == NULL)
        return wn_error_set(err, WN_EUNSUPPORTED,
                            "cannot make GPU %d current: no CUDA runtime library was found", id);
    rc = cuda.set_device(id);
    if (rc != 0)
        return wn_error_set(err, WN_EIO, "cannot make GPU %d current: cudaSetDevice: %s (%d)", id,
                            cuda_error(rc), rc);
    return 0;
}

static const struct wn_gpu_backend cuda_backend = { "CUDA runtime", cuda_discover, cuda_bind };
static const struct wn_gpu_backend *backend = &cuda_backend;

void wn_gpu_set_backend(const struct wn_gpu_backend *b)
{
    backend = b != NULL ? b : &cuda_backend;
}

const struct wn_gpu_backend *wn_gpu_backend(void)
{
    return backend;
}

int wn_gpu_discover(struct wn_gpu_device *devs, size_t cap, size_t *n, struct wn_error *err)
{
    *n = 0;
    return backend->discover(devs, cap, n, err);
}

int wn_gpu_bind(int id, struct wn_error *err)
{
    return backend->bind != NULL ? backend->bind(id, err) : 0;
}

/* ---- the ledger ---------------------------------------------------------------- */

static void take_reserved(struct wn_gpu_ledger *ledger, double reserved)
{
    for (size_t i = ledger->n; i-- > 0 && reserved > GPU_EPSILON;) {
        double take = fmin(ledger->free[i], reserved);

        ledger->free[i] -= take;
        reserved -= take;
    }
}

void wn_gpu_ledger_init(struct wn_gpu_ledger *ledger, const struct wn_gpu_device *devs, size_t n,
                        double reserved)
{
    memset(ledger, 0, sizeof(*ledger));
    ledger->n = n < WN_GPU_MAX_DEVICES ? n : WN_GPU_MAX_DEVICES;
    for (size_t i = 0; i < ledger->n; i++) {
        ledger->dev[i] = devs[i];
        ledger->free[i] = 1.0;
    }
    take_reserved(ledger, reserved);
}

void wn_gpu_ledger_init_count(struct wn_gpu_ledger *ledger, double gpus, double reserved)
{
    double whole = gpus > 0.0 ? ceil(gpus - GPU_EPSILON) : 0.0;

    memset(ledger, 0, sizeof(*ledger));
    ledger->n = whole < WN_GPU_MAX_DEVICES ? (size_t)whole : WN_GPU_MAX_DEVICES;
    for (size_t i = 0; i < ledger->n; i++) {
        ledger->dev[i].id = (int)i;
        ledger->free[i] = 1.0;
    }
    if (ledger->n > 0 && gpus < whole)
        ledger->free[ledger->n - 1] = gpus - (whole - 1.0);
    take_reserved(ledger, reserved);
}

int wn_gpu_wanted(const struct wn_resources *r)
{
    return r->entire_gpu || r->gpus > 0.0 || r->gpu_memory_gb > 0.0;
}

/* Whole devices one actor takes, or 0 when it takes a share of one. */
static int whole_devices(const struct wn_resources *r)
{
    if (r->entire_gpu)
        return r->gpus > 1.0 ? (int)ceil(r->gpus - GPU_EPSILON) : 1;
    if (r->gpus > 1.0 + GPU_EPSILON)
        return (int)ceil(r->gpus - GPU_EPSILON);
    return 0;
}

/* The share of device i one actor takes, or a negative value when it cannot fit there. */
static double share_on(const struct wn_gpu_ledger *ledger, size_t i, const struct wn_resources *r)
{
    double share = r->gpus > 0.0 ? r->gpus : 0.0;

    if (r->gpu_memory_gb > 0.0) {
        double mem = ledger->dev[i].memory_gb;

        if (mem <= 0.0)
            return 1.0; /* memory unknown: the whole device */
        if (r->gpu_memory_gb > mem * (1.0 + GPU_EPSILON))
            return -1.0;
        share = fmax(share, r->gpu_memory_gb / mem);
    }
    return fmin(share, 1.0);
}

int wn_gpu_ledger_place(struct wn_gpu_ledger *ledger, const struct wn_resources *r,
                        struct wn_gpu_placement *p)
{
    int whole = whole_devices(r);

    memset(p, 0, sizeof(*p));
    if (!wn_gpu_wanted(r))
        return 0;
    if (whole > 0) {
        if (whole > WN_GPU_MAX_PER_ACTOR)
            return WN_ERESOURCE;
        for (size_t i = 0; i < ledger->n && p->count < whole; i++)
            if (ledger->free[i] >= 1.0 - GPU_EPSILON)
                p->index[p->count++] = (int)i;
        if (p->count < whole) {
            memset(p, 0, sizeof(*p));
            return WN_ERESOURCE;
        }
        p->share = 1.0;
    } else {
        for (size_t i = 0; i < ledger->n; i++) {
            double share = share_on(ledger, i, r);

            if (share > 0.0 && ledger->free[i] >= share - GPU_EPSILON) {
                p->count = 1;
                p->index[0] = (int)i;
                p->share = share;
                break;
            }
        }
        if (p->count == 0)
            return WN_ERESOURCE;
    }
    for (int k = 0; k < p->count; k++)
        ledger->free[p->index[k]] = fmax(ledger->free[p->index[k]] - p->share, 0.0);
    return 0;
}

void wn_gpu_ledger_release(struct wn_gpu_ledger *ledger, const struct wn_gpu_placement *p)
{
    for (int k = 0; k < p->count; k++) {
        size_t i = (size_t)p->index[k];

        if (i < ledger->n)
            ledger->free[i] = fmin(ledger->free[i] + p->share, 1.0);
    }
}

uint32_t wn_gpu_ledger_fit(const struct wn_gpu_ledger *ledger, const struct wn_resources *r)
{
    struct wn_gpu_ledger copy = *ledger;
    struct wn_gpu_placement p;
    uint32_t n = 0;

    if (!wn_gpu_wanted(r))
        return UINT32_MAX;
    /* Each placement takes at least 1e-6 of a device or fails: this ends. */
    while (n < UINT32_MAX - 1 && wn_gpu_ledger_place(&copy, r, &p) == 0) {
        if (p.share <= 1e-6)
            return UINT32_MAX;
        n++;
    }
    return n;
}

double wn_gpu_ledger_total_free(const struct wn_gpu_ledger *ledger)
{
    double total = 0.0;

    for (size_t i = 0; i < ledger->n; i++)
        total += ledger->free[i];
    return total;
}
