/* deadline.h - an absolute time `ms` milliseconds from now, for
 * pthread_cond_timedwait and the like (whose deadlines are absolute and
 * on the condition's clock: CLOCK_REALTIME unless pthread_condattr_setclock
 * said otherwise).  Header only: one clock_gettime, no allocation. */
#ifndef OSSC_DEADLINE_H
#define OSSC_DEADLINE_H

#include <time.h>

static inline void ossc_deadline_in(struct timespec *ts, clockid_t clock, long ms)
{
    if (ms < 0)
        ms = 0;
    clock_gettime(clock, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

#endif
