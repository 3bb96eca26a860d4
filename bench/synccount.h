/*
 * synccount.h: what a benchmark counts beside its rates, because the
 * machine's load does not move it (issue 24): flushes, bytes written and
 * CPU time.
 *
 * Flushes: bench/synccount.c defines fsync, fdatasync, msync,
 * sync_file_range, syncfs and sync, counts each call and passes it on to
 * the C library's. Compiled into a program (lmq-bench, peer_bench) it
 * counts the calls of the program and of the libraries it loads (liblmq,
 * liblmdb, libsqlite3): an executable's definitions come first. Built as
 * bench/synccount.so and preloaded (LD_PRELOAD) it counts a server's
 * (redis-server, beanstalkd). The counters live in a shared mapping made
 * before main(), so processes forked afterwards add to the same counters;
 * with SYNCCOUNT_FILE set they live in that file instead, so a benchmark can
 * read the counts of a server it did not fork (synccount_file_read()).
 *
 * Bytes and CPU come from the kernel: /proc/PID/io write_bytes (bytes the
 * process dirtied in the page cache for files, counted once per page
 * each time the page goes from clean to dirty: what reaches the device,
 * short of the journal) and /proc/PID/stat utime + stime.
 */
#ifndef LMQ_BENCH_SYNCCOUNT_H
#define LMQ_BENCH_SYNCCOUNT_H

#include <stdint.h>
#include <sys/types.h>

typedef struct synccount {
    uint64_t fsync, fdatasync, msync_sync, msync_async, sync_file_range,
        syncfs;
} synccount;

/* The flushes among them: every call that waits for the device (an msync
 * without MS_SYNC only schedules writeback and is not one). */
static inline uint64_t
synccount_flushes(const synccount *c)
{
    return c->fsync + c->fdatasync + c->msync_sync + c->sync_file_range +
           c->syncfs;
}

/* The counts of this process (and of the processes it forked after it
 * started, or that share its SYNCCOUNT_FILE). */
void synccount_read(synccount *out);

/* The counts kept in PATH by processes that preloaded synccount.so with
 * SYNCCOUNT_FILE=PATH. 0, or -1 if PATH cannot be read. */
int synccount_file_read(const char *path, synccount *out);

typedef struct procio {
    uint64_t write_bytes; /* /proc/PID/io write_bytes */
    uint64_t cpu_us;      /* user + system CPU time */
} procio;

/* PID's bytes written and CPU so far; PID 0 is this process. 0, or -1. */
int procio_read(pid_t pid, procio *out);

/* The device under a directory: what it wrote, from the kernel's block
 * statistics (/sys/dev/block/M:m/stat, sectors written, journal included).
 * Exact when nothing else writes to that device (bench/wear mounts a file
 * system of its own on a loop device). */
typedef struct devio {
    char stat[64]; /* "": unknown */
    int fd;        /* the directory, for syncfs (-1: none) */
} devio;

/* DIR's device; with SETTLE, devio_settle() writes its file system back.
 * 0, or -1 (DIR cannot be read). */
int devio_open(devio *d, const char *dir, int settle);

/* Write back what is dirty on the file system (opened with SETTLE), so
 * that what a row leaves in the page cache is charged to it. */
void devio_settle(const devio *d);

/* The bytes the device has written so far (0: unknown). */
uint64_t devio_written(const devio *d);

#endif
