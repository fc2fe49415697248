/* Futex-style sleeping for the actor_pool executor (see wait.h). */
#include "build_config.h"

#include <stdint.h>

#include "wait.h"

#include <pthread.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

double wn_clock_ns_per_tick;
uint64_t wn_clock_tick_base, wn_clock_ns_base;
static pthread_once_t clock_once = PTHREAD_ONCE_INIT;

/* Measures the time-stamp counter's rate against CLOCK_MONOTONIC over 2 ms
 * (once per process), when the CPU says the counter is invariant. */
static void clock_calibrate(void)
{
#if defined(__x86_64__)
    unsigned a, b, c, d;
    uint64_t t0, t1, c0, c1;

    if (!__get_cpuid(0x80000007, &a, &b, &c, &d) || !(d & (1u << 8)))
        return;
    t0 = wn_monotonic_ns();
    c0 = __builtin_ia32_rdtsc();
    do
        t1 = wn_monotonic_ns();
    while (t1 - t0 < 2000000ull);
    c1 = __builtin_ia32_rdtsc();
    if (c1 <= c0)
        return;
    wn_clock_tick_base = c1;
    wn_clock_ns_base = t1;
    wn_clock_ns_per_tick = (double)(t1 - t0) / (double)(c1 - c0);
#endif
}

void wn_clock_init(void)
{
    pthread_once(&clock_once, clock_calibrate);
}

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

void wn_futex_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
    struct timespec ts;

    if (timeout_ns == 0 || timeout_ns > WN_WAIT_SLEEP_NS)
        timeout_ns = WN_WAIT_SLEEP_NS;
    ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
    ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
    /* EAGAIN (the word changed), EINTR and ETIMEDOUT all mean: look again. */
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, &ts, NULL, 0);
}

void wn_futex_wake(uint32_t *word, int n)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

#else /* a parking table: waiters on one address share a mutex and a condition */
#include <pthread.h>

#define PARKING_BUCKETS 64

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
} parking[PARKING_BUCKETS];
static pthread_once_t parking_once = PTHREAD_ONCE_INIT;

static void parking_init(void)
{
    for (int i = 0; i < PARKING_BUCKETS; i++) {
        pthread_mutex_init(&parking[i].lock, NULL);
        pthread_cond_init(&parking[i].cond, NULL);
    }
}

static unsigned parking_bucket(const uint32_t *word)
{
    return (unsigned)(((uintptr_t)word >> 2) % PARKING_BUCKETS);
}

void wn_futex_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
    unsigned b = parking_bucket(word);
    struct timespec deadline;
    uint64_t ns;

    pthread_once(&parking_once, parking_init);
    if (timeout_ns == 0 || timeout_ns > WN_WAIT_SLEEP_NS)
        timeout_ns = WN_WAIT_SLEEP_NS;
    clock_gettime(CLOCK_REALTIME, &deadline);
    ns = (uint64_t)deadline.tv_nsec + timeout_ns;
    deadline.tv_sec += (time_t)(ns / 1000000000ull);
    deadline.tv_nsec = (long)(ns % 1000000000ull);
    pthread_mutex_lock(&parking[b].lock);
    if (__atomic_load_n(word, __ATOMIC_SEQ_CST) == expected)
        pthread_cond_timedwait(&parking[b].cond, &parking[b].lock, &deadline);
    pthread_mutex_unlock(&parking[b].lock);
}

void wn_futex_wake(uint32_t *word, int n)
{
    unsigned b = parking_bucket(word);

    (void)n;
    pthread_once(&parking_once, parking_init);
    pthread_mutex_lock(&parking[b].lock);
    pthread_cond_broadcast(&parking[b].cond);
    pthread_mutex_unlock(&parking[b].lock);
}
#endif
