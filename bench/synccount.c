/*
 * synccount.c: counts a process's flushes (bench/synccount.h).
 */
#define _GNU_SOURCE
#include "synccount.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static synccount *counts;

/* The build hides symbols by default (-fvisibility=hidden): the functions
 * that stand in for the C library's must be visible, or nothing calls them
 * (lmq-bench links with --export-dynamic so that its shared libraries see
 * them too). */
#define SYNCCOUNT_API __attribute__((visibility("default")))

__attribute__((constructor)) static void
synccount_init(void)
{
    const char *path = getenv("SYNCCOUNT_FILE");
    void *p = MAP_FAILED;
    if (path && *path) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0 && ftruncate(fd, sizeof(synccount)) == 0)
            p = mmap(NULL, sizeof(synccount), PROT_READ | PROT_WRITE,
                     MAP_SHARED, fd, 0);
        if (fd >= 0)
            close(fd);
    }
    if (p == MAP_FAILED)
        p = mmap(NULL, sizeof(synccount), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    counts = p == MAP_FAILED ? NULL : p;
}

#define COUNT(field)                                                         \
    do {                                                                     \
        if (counts)                                                          \
            __atomic_add_fetch(&counts->field, 1, __ATOMIC_RELAXED);         \
    } while (0)

/* The C library's function of this name, looked up once. */
#define NEXT(name)                                                           \
    static __typeof__(&name) next_;                                          \
    if (!next_)                                                              \
    next_ = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

SYNCCOUNT_API int
fsync(int fd)
{
    NEXT(fsync);
    COUNT(fsync);
    return next_(fd);
}

SYNCCOUNT_API int
fdatasync(int fd)
{
    NEXT(fdatasync);
    COUNT(fdatasync);
    return next_(fd);
}

SYNCCOUNT_API int
msync(void *addr, size_t len, int flags)
{
    NEXT(msync);
    if (flags & MS_SYNC)
        COUNT(msync_sync);
    else
        COUNT(msync_async);
    return next_(addr, len, flags);
}

SYNCCOUNT_API int
sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
    NEXT(sync_file_range);
    COUNT(sync_file_range);
    return next_(fd, off, n, flags);
}

SYNCCOUNT_API int
syncfs(int fd)
{
    NEXT(syncfs);
    COUNT(syncfs);
    return next_(fd);
}

SYNCCOUNT_API void
sync(void)
{
    NEXT(sync);
    COUNT(syncfs);
    next_();
}

void
synccount_read(synccount *out)
{
    memset(out, 0, sizeof *out);
    if (!counts)
        return;
    out->fsync = __atomic_load_n(&counts->fsync, __ATOMIC_RELAXED);
    out->fdatasync = __atomic_load_n(&counts->fdatasync, __ATOMIC_RELAXED);
    out->msync_sync = __atomic_load_n(&counts->msync_sync, __ATOMIC_RELAXED);
    out->msync_async = __atomic_load_n(&counts->msync_async, __ATOMIC_RELAXED);
    out->sync_file_range =
        __atomic_load_n(&counts->sync_file_range, __ATOMIC_RELAXED);
    out->syncfs = __atomic_load_n(&counts->syncfs, __ATOMIC_RELAXED);
}

int
synccount_file_read(const char *path, synccount *out)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = pread(fd, out, sizeof *out, 0);
    close(fd);
    return n == (ssize_t)sizeof *out ? 0 : -1;
}

int
devio_open(devio *d, const char *dir, int settle)
{
    struct stat st;
    d->stat[0] = '\0';
    d->fd = -1;
    if (stat(dir, &st) != 0)
        return -1;
    snprintf(d->stat, sizeof d->stat, "/sys/dev/block/%u:%u/stat",
             major(st.st_dev), minor(st.st_dev));
    if (settle &&
        (d->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -1;
    return 0;
}

void
devio_settle(const devio *d)
{
    if (d->fd >= 0)
        syncfs(d->fd);
}

uint64_t
devio_written(const devio *d)
{
    unsigned long long f[7];
    FILE *fp;
    if (!d->stat[0] || !(fp = fopen(d->stat, "re")))
        return 0;
    int n = fscanf(fp, "%llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1],
                   &f[2], &f[3], &f[4], &f[5], &f[6]);
    fclose(fp);
    return n == 7 ? (uint64_t)f[6] * 512 : 0;
}

int
procio_read(pid_t pid, procio *out)
{
    char path[64], line[256];
    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, pid ? "/proc/%d/io" : "/proc/self/io",
             (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %" SCNu64, &out->write_bytes) == 1)
            found = 1;
    fclose(f);
    snprintf(path, sizeof path, pid ? "/proc/%d/stat" : "/proc/self/stat",
             (int)pid);
    if (!(f = fopen(path, "re")))
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the fields after the command's closing parenthesis: state is field
     * 3, utime 14 and stime 15 */
    char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                            "%llu %llu", &ut, &st) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    out->cpu_us = (ut + st) * 1000000ull / (uint64_t)(hz > 0 ? hz : 100);
    return found ? 0 : -1;
}
