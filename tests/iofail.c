/*
 * iofail.c: an LD_PRELOAD interposer that fails the Nth I/O call on the
 * files of one directory (issue 27; tests only, never installed).
 *
 * SQLite tests I/O errors by failing the Nth call of its VFS for every N of
 * a workload. lmq has no VFS: its I/O is libc calls, from lib/ and from
 * liblmdb. So this library, preloaded into a test process, wraps the libc
 * calls that change or sync a file: open/openat (only those that can write
 * or create), write, pwrite, writev, pwritev, fsync, fdatasync, msync, mmap,
 * ftruncate, fallocate and posix_fallocate. A call is counted when its file
 * lies under $LMQ_IOFAIL_DIR (found through /proc/self/fd; msync through the
 * mappings of such files this library saw made); other files (the test's
 * own log, libraries) are neither counted nor failed.
 *
 * Environment:
 *   LMQ_IOFAIL_DIR     the directory whose files count (required; without
 *                      it nothing is counted)
 *   LMQ_IOFAIL_N       fail the Nth counted call (1-based); 0 or unset:
 *                      only count
 *   LMQ_IOFAIL_ERRNO   EIO (default) or ENOSPC: the errno of the failure
 *   LMQ_IOFAIL_REPORT  a file the count is written to at exit: "calls C",
 *                      then "failed N FUNC PATH" if a call was failed
 *   LMQ_IOFAIL_TRACE   set: print each counted call to stderr
 *
 * Only one call fails; the ones after it succeed again (a transient error,
 * the hardest case for the caller: its next flush may succeed while the
 * failed one's pages are gone, see docs/DURABILITY.md "I/O errors").
 *
 * The program under test may ask what happened so far through dlsym():
 * iofail_count() (calls counted), iofail_failed() (1 once the call failed),
 * iofail_what() ("FUNC PATH" of the failed call, "" before), and turn it
 * off with iofail_off().
 *
 * Under AddressSanitizer the preloaded library comes before the sanitizer's
 * runtime; the driver sets ASAN_OPTIONS=verify_asan_link_order=0, and the
 * calls below then reach the sanitizer's interceptors through RTLD_NEXT.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static char dir[PATH_MAX];
static size_t dirlen;
static long fail_at;
static int fail_errno = EIO;
static long calls;
static int failed;
static bool trace;
static char what[PATH_MAX + 32];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* Mappings of files under dir, for msync (which has no fd). */
#define MAXMAPS 64
static struct {
    char *addr;
    size_t len;
} maps[MAXMAPS];

__attribute__((constructor)) static void
iofail_init(void)
{
    const char *d = getenv("LMQ_IOFAIL_DIR");
    if (d && *d && realpath(d, dir)) {
        dirlen = strlen(dir);
    } else if (d && *d) {
        /* not there yet (the workload creates it): take it as given */
        snprintf(dir, sizeof dir, "%s", d);
        dirlen = strlen(dir);
    }
    const char *n = getenv("LMQ_IOFAIL_N");
    fail_at = n ? atol(n) : 0;
    trace = getenv("LMQ_IOFAIL_TRACE") != NULL;
    const char *e = getenv("LMQ_IOFAIL_ERRNO");
    if (e && strcmp(e, "ENOSPC") == 0)
        fail_errno = ENOSPC;
}

__attribute__((destructor)) static void
iofail_fini(void)
{
    const char *r = getenv("LMQ_IOFAIL_REPORT");
    if (!r)
        return;
    static int (*real_open)(const char *, int, ...);
    static ssize_t (*real_write)(int, const void *, size_t);
    real_open = dlsym(RTLD_NEXT, "open");
    real_write = dlsym(RTLD_NEXT, "write");
    int fd = real_open(r, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    char buf[sizeof what + 64];
    int len = snprintf(buf, sizeof buf, "calls %ld\n", calls);
    if (failed)
        len += snprintf(buf + len, sizeof buf - (size_t)len, "failed %ld %s\n",
                        fail_at, what);
    if (real_write(fd, buf, (size_t)len) < 0)
        len = 0;
    close(fd);
}

EXPORT long
iofail_count(void)
{
    return __atomic_load_n(&calls, __ATOMIC_SEQ_CST);
}

EXPORT int
iofail_failed(void)
{
    return __atomic_load_n(&failed, __ATOMIC_SEQ_CST);
}

/* Stop counting and failing (a child forked to check the home). */
EXPORT void
iofail_off(void)
{
    dirlen = 0;
}

EXPORT const char *
iofail_what(void)
{
    return what;
}

static bool
under(const char *path)
{
    return dirlen && strncmp(path, dir, dirlen) == 0 &&
           (path[dirlen] == '/' || path[dirlen] == '\0');
}

static bool
fd_under(int fd)
{
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return false;
    path[n] = '\0';
    return under(path);
}

/* Count a call on path; true when it is the one to fail (errno set). */
static bool
hit(const char *func, const char *path)
{
    long n = __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST);
    if (trace)
        fprintf(stderr, "iofail: %ld %s %s\n", n, func, path);
    if (fail_at <= 0 || n != fail_at)
        return false;
    snprintf(what, sizeof what, "%s %s", func, path);
    __atomic_store_n(&failed, 1, __ATOMIC_SEQ_CST);
    errno = fail_errno;
    return true;
}

static bool
hit_fd(const char *func, int fd)
{
    if (!dirlen || !fd_under(fd))
        return false;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    path[n > 0 ? n : 0] = '\0';
    return hit(func, path);
}

/* An absolute form of path (relative to the cwd or dirfd), for under(). */
static void
absolute(int dirfd, const char *path, char *out, size_t cap)
{
    if (path[0] == '/') {
        snprintf(out, cap, "%s", path);
        return;
    }
    char base[PATH_MAX] = "";
    if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof base))
            base[0] = '\0';
    } else {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        ssize_t n = readlink(link, base, sizeof base - 1);
        base[n > 0 ? n : 0] = '\0';
    }
    snprintf(out, cap, "%s/%s", base, path);
}

#define REAL(name)                                                           \
    static __typeof__(name) *real_##name;                                    \
    if (!real_##name)                                                        \
        real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

static bool
open_hit(int dirfd, const char *path, int flags)
{
    if (!dirlen || (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) == 0)
        return false;
    char abs[PATH_MAX * 2];
    absolute(dirfd, path, abs, sizeof abs);
    return under(abs) && hit("open", abs);
}

EXPORT int
open(const char *path, int flags, ...)
{
    REAL(open);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (open_hit(AT_FDCWD, path, flags))
        return -1;
    return real_open(path, flags, mode);
}

EXPORT int
open64(const char *path, int flags, ...)
{
    REAL(open64);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (open_hit(AT_FDCWD, path, flags))
        return -1;
    return real_open64(path, flags, mode);
}

EXPORT int
openat(int dirfd, const char *path, int flags, ...)
{
    REAL(openat);
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (open_hit(dirfd, path, flags))
        return -1;
    return real_openat(dirfd, path, flags, mode);
}

EXPORT ssize_t
write(int fd, const void *buf, size_t n)
{
    REAL(write);
    if (hit_fd("write", fd))
        return -1;
    return real_write(fd, buf, n);
}

EXPORT ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
    REAL(pwrite);
    if (hit_fd("pwrite", fd))
        return -1;
    return real_pwrite(fd, buf, n, off);
}

EXPORT ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    REAL(pwrite64);
    if (hit_fd("pwrite", fd))
        return -1;
    return real_pwrite64(fd, buf, n, off);
}

EXPORT ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
    REAL(writev);
    if (hit_fd("writev", fd))
        return -1;
    return real_writev(fd, iov, cnt);
}

EXPORT ssize_t
pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    REAL(pwritev);
    if (hit_fd("pwritev", fd))
        return -1;
    return real_pwritev(fd, iov, cnt, off);
}

EXPORT ssize_t
pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    REAL(pwritev64);
    if (hit_fd("pwritev", fd))
        return -1;
    return real_pwritev64(fd, iov, cnt, off);
}

EXPORT int
fsync(int fd)
{
    REAL(fsync);
    if (hit_fd("fsync", fd))
        return -1;
    return real_fsync(fd);
}

EXPORT int
fdatasync(int fd)
{
    REAL(fdatasync);
    if (hit_fd("fdatasync", fd))
        return -1;
    return real_fdatasync(fd);
}

EXPORT int
ftruncate(int fd, off_t len)
{
    REAL(ftruncate);
    if (hit_fd("ftruncate", fd))
        return -1;
    return real_ftruncate(fd, len);
}

EXPORT int
ftruncate64(int fd, off_t len)
{
    REAL(ftruncate64);
    if (hit_fd("ftruncate", fd))
        return -1;
    return real_ftruncate64(fd, len);
}

EXPORT int
fallocate(int fd, int mode, off_t off, off_t len)
{
    REAL(fallocate);
    if (hit_fd("fallocate", fd))
        return -1;
    return real_fallocate(fd, mode, off, len);
}

EXPORT int
fallocate64(int fd, int mode, off_t off, off_t len)
{
    REAL(fallocate64);
    if (hit_fd("fallocate", fd))
        return -1;
    return real_fallocate64(fd, mode, off, len);
}

EXPORT int
posix_fallocate(int fd, off_t off, off_t len)
{
    REAL(posix_fallocate);
    if (hit_fd("posix_fallocate", fd))
        return errno; /* returns the error, errno untouched by contract */
    return real_posix_fallocate(fd, off, len);
}

static void *
do_mmap(void *(*real)(void *, size_t, int, int, int, off_t), void *addr,
        size_t len, int prot, int flags, int fd, off_t off)
{
    bool mine = fd >= 0 && dirlen && fd_under(fd);
    if (mine && hit_fd("mmap", fd))
        return MAP_FAILED;
    void *p = real(addr, len, prot, flags, fd, off);
    if (mine && p != MAP_FAILED && (flags & MAP_SHARED)) {
        pthread_mutex_lock(&mu);
        for (int i = 0; i < MAXMAPS; i++)
            if (!maps[i].addr) {
                maps[i].addr = p;
                maps[i].len = len;
                break;
            }
        pthread_mutex_unlock(&mu);
    }
    return p;
}

EXPORT void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    REAL(mmap);
    return do_mmap(real_mmap, addr, len, prot, flags, fd, off);
}

EXPORT void *
mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    REAL(mmap64);
    return do_mmap(real_mmap64, addr, len, prot, flags, fd, off);
}

EXPORT int
munmap(void *addr, size_t len)
{
    REAL(munmap);
    pthread_mutex_lock(&mu);
    for (int i = 0; i < MAXMAPS; i++)
        if (maps[i].addr == addr)
            maps[i].addr = NULL;
    pthread_mutex_unlock(&mu);
    return real_munmap(addr, len);
}

EXPORT int
msync(void *addr, size_t len, int flags)
{
    REAL(msync);
    bool mine = false;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < MAXMAPS; i++)
        if (maps[i].addr && (char *)addr >= maps[i].addr &&
            (char *)addr < maps[i].addr + maps[i].len)
            mine = true;
    pthread_mutex_unlock(&mu);
    if (mine && hit("msync", "(map)"))
        return -1;
    return real_msync(addr, len, flags);
}
