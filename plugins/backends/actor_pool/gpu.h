/*
 * actor_pool — GPUs without linking CUDA: the devices this process may use,
 * found at run time (dlopen of the CUDA runtime, memory from NVML), a ledger
 * that packs actors onto them, and making an actor's device current on its
 * thread.  Discovery and binding go through a swappable backend, so that
 * tests inject a fake device list.
 */
#ifndef WINNOW_ACTOR_POOL_GPU_H
#define WINNOW_ACTOR_POOL_GPU_H

#include <stddef.h>
#include <stdint.h>

#include <winnow/error.h>
#include <winnow/stage.h>

/* Most devices one process tracks, and one actor may span. */
#define WN_GPU_MAX_DEVICES 64
#define WN_GPU_MAX_PER_ACTOR 8

struct wn_gpu_device {
    int id;           /* the CUDA device ordinal (what cudaSetDevice takes) */
    double memory_gb; /* total memory in GB (1e9 bytes); 0: unknown */
};

/* Where devices come from, and how one is made current; tests inject one. */
struct wn_gpu_backend {
    const char *name; /* for messages: "CUDA runtime", "fake" */
    /* Fills devs[0..cap) and *n; no device (no driver, no library) is *n = 0
     * and 0.  Called at most once per run, on the driver thread. */
    int (*discover)(struct wn_gpu_device *devs, size_t cap, size_t *n, struct wn_error *err);
    /* Makes device `id` current on the calling thread; NULL: nothing to do. */
    int (*bind)(int id, struct wn_error *err);
};

/* Uses backend (static; NULL: the default, the CUDA runtime by dlopen) for
 * later discoveries and bindings.  Not thread-safe: call before a run. */
void wn_gpu_set_backend(const struct wn_gpu_backend *backend);

/* The backend in use. */
const struct wn_gpu_backend *wn_gpu_backend(void);

/* The devices of the backend in use (see struct wn_gpu_backend.discover). */
int wn_gpu_discover(struct wn_gpu_device *devs, size_t cap, size_t *n, struct wn_error *err);

/* Makes device id current on the calling thread through the backend in use;
 * 0 when the backend binds nothing.  Actor threads. */
int wn_gpu_bind(int id, struct wn_error *err);

/* What is left of every device; the executor guards it with its run lock. */
struct wn_gpu_ledger {
    size_t n;
    struct wn_gpu_device dev[WN_GPU_MAX_DEVICES];
    double free[WN_GPU_MAX_DEVICES]; /* fraction of each device not taken, 0..1 */
};

/* Where one actor sits: devices[0..count) at `share` each (1.0: whole). */
struct wn_gpu_placement {
    int count;                       /* 0: no GPU */
    int index[WN_GPU_MAX_PER_ACTOR]; /* ledger indices */
    double share;
};

/*
 * A ledger of n devices (at most WN_GPU_MAX_DEVICES kept), `reserved` GPUs
 * taken off the last devices first (whole, then the fraction).  Pure.
 */
void wn_gpu_ledger_init(struct wn_gpu_ledger *ledger, const struct wn_gpu_device *devs, size_t n,
                        double reserved);

/* A ledger of ceil(gpus) devices of unknown memory, ids 0.., the last one a
 * fraction when gpus is not whole, minus reserved.  Pure. */
void wn_gpu_ledger_init_count(struct wn_gpu_ledger *ledger, double gpus, double reserved);

/* Nonzero when one actor with these resources asks for a GPU at all. */
int wn_gpu_wanted(const struct wn_resources *resources);

/*
 * The rule, per actor: entire_gpu, or gpus > 1, takes ceil(gpus) (at least
 * 1) whole devices; otherwise it takes a share of one device, the larger of
 * gpus and gpu_memory_gb / the device's memory (a whole device when its
 * memory is unknown); gpu_memory_gb above a device's memory does not fit it.
 * Places one actor first-fit (so fractional actors pack onto the first
 * device with room) and takes its share; WN_ERESOURCE, changing nothing,
 * when no device has room.  An actor asking no GPU gets count 0.  Pure.
 */
int wn_gpu_ledger_place(struct wn_gpu_ledger *ledger, const struct wn_resources *resources,
                        struct wn_gpu_placement *placement);

/* Gives a placement's share back.  Pure. */
void wn_gpu_ledger_release(struct wn_gpu_ledger *ledger, const struct wn_gpu_placement *placement);

/* How many more actors with these resources the ledger holds (placing them
 * one after another on a copy); UINT32_MAX when they ask no GPU.  Pure. */
uint32_t wn_gpu_ledger_fit(const struct wn_gpu_ledger *ledger,
                           const struct wn_resources *resources);

/* GPUs the ledger still has, summed over devices.  Pure. */
double wn_gpu_ledger_total_free(const struct wn_gpu_ledger *ledger);

#endif /* WINNOW_ACTOR_POOL_GPU_H */
