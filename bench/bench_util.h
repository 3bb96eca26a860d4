/*
 * bench_util.h: the small helpers lmqd_bench.c and bridge_bench.c share
 * (clocks, naps, the --only list, the process's own CPU time). Header-only
 * and inline so that each benchmark stays one file to build.
 */
#ifndef LMQ_BENCH_UTIL_H
#define LMQ_BENCH_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Monotonic seconds. */
static inline double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleep s seconds, across signals. */
static inline void
sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Whether w is in the comma list (NULL: everything is). */
static inline bool
bench_in_list(const char *list, const char *w)
{
    if (!list)
        return true;
    size_t n = strlen(w);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, w, n) == 0)
            return true;
        p += len + (e ? 1 : 0);
    }
    return false;
}

/* This process's user + system CPU seconds. */
static inline double
self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

#endif
