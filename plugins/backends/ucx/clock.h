/* ucx plugin — monotonic time for deadlines (header-only, shared by every file). */
#ifndef WN_UCX_CLOCK_H
#define WN_UCX_CLOCK_H

#include <time.h>

/* Seconds on the monotonic clock (the clock condition variables here wait on). */
static inline double wn_ucx_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The absolute monotonic time at_s as a timespec, for pthread_cond_timedwait. */
static inline struct timespec wn_ucx_timespec(double at_s)
{
    struct timespec ts;

    if (at_s < 0)
        at_s = 0;
    ts.tv_sec = (time_t)at_s;
    ts.tv_nsec = (long)((at_s - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

#endif /* WN_UCX_CLOCK_H */
