/*
 * actor_pool — waiting without a lock: a monotonic clock in nanoseconds, a
 * futex-style sleep on a 32-bit word (Linux futex; elsewhere a small table of
 * mutexes and condition variables keyed by address), and the
 * spin-then-yield-then-sleep policy every waiting thread of the executor
 * follows.
 */
#ifndef WINNOW_ACTOR_POOL_WAIT_H
#define WINNOW_ACTOR_POOL_WAIT_H

#include <sched.h>
#include <stdint.h>
#include <time.h>

/* Polls before a waiting thread yields, and yields before it sleeps: a
 * hand-over within a few microseconds then costs no futex wake-up and no
 * context switch, which otherwise dominate small batches.  Yielding (rather
 * than spinning) lets the thread that will do the work run when threads
 * outnumber cores. */
#ifndef WN_WAIT_SPINS
#define WN_WAIT_SPINS 16
#endif
#ifndef WN_WAIT_YIELDS
#define WN_WAIT_YIELDS 32
#endif

/* Longest single sleep of a waiting thread: every wait re-checks its
 * condition (and whether the run stops) at least this often. */
#define WN_WAIT_SLEEP_NS 100000000ull

static inline uint64_t wn_monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The executor's clock: monotonic nanoseconds read from the time-stamp
 * counter where it is invariant (a third of clock_gettime's cost, read once
 * per batch), else from CLOCK_MONOTONIC.  Any thread. */
extern double wn_clock_ns_per_tick; /* 0: not the time-stamp counter */
extern uint64_t wn_clock_tick_base, wn_clock_ns_base;
void wn_clock_init(void);

static inline uint64_t wn_now_ns(void)
{
#if defined(__x86_64__)
    if (wn_clock_ns_per_tick > 0.0)
        return wn_clock_ns_base + (uint64_t)((double)(__builtin_ia32_rdtsc() - wn_clock_tick_base) *
                                             wn_clock_ns_per_tick);
#endif
    return wn_monotonic_ns();
}

static inline void wn_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The step of a wait loop at round `round` (0, 1, ...): returns nonzero when
 * the caller should now sleep (wn_futex_wait), after spinning and yielding. */
static inline int wn_wait_backoff(unsigned round)
{
    if (round < WN_WAIT_SPINS) {
        wn_cpu_relax();
        return 0;
    }
    if (round < WN_WAIT_SPINS + WN_WAIT_YIELDS) {
        sched_yield();
        return 0;
    }
    return 1;
}

/* Sleeps while *word == expected, at most timeout_ns (0: WN_WAIT_SLEEP_NS);
 * may return early or spuriously.  Any thread. */
void wn_futex_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns);

/* Wakes up to n (INT32_MAX: all) threads sleeping on word.  Any thread. */
void wn_futex_wake(uint32_t *word, int n);

/* Bumps *event and wakes every thread sleeping on it: the signal side of
 * "read event; check condition; wn_futex_wait(event, read value)". */
static inline void wn_event_signal(uint32_t *event)
{
    __atomic_add_fetch(event, 1, __ATOMIC_SEQ_CST);
    wn_futex_wake(event, INT32_MAX);
}

#endif /* WINNOW_ACTOR_POOL_WAIT_H */
