/*
 * crashfs.c: an LD_PRELOAD recorder of the file-system operations a
 * process makes in one directory (the crash-state exploration of issue 27,
 * docs/DURABILITY.md "Crash states"). Built only for tests.
 *
 * CRASHFS_HOME=DIR CRASHFS_TRACE=FILE LD_PRELOAD=crashfs.so prog: every
 * open, write, pwrite, writev, pwritev, ftruncate, fallocate, fsync,
 * fdatasync, msync, mmap, link, rename and unlink of a file directly in DIR
 * goes through the definitions here (they come first in symbol lookup,
 * also for LMDB and liblmq, which call libc through the PLT), is passed to
 * libc and, when it succeeded, appended to FILE (format in crashfs.h).
 * lock.mdb and wal.lock are not recorded: both are rebuilt after a reboot
 * (LMDB re-initialises its lock file; lmq's shared tail is trusted only
 * within one boot), and the generator lays them down itself.
 *
 * Stores into a writable shared map are not system calls. For every file
 * mapped that way the recorder keeps the file's contents as the trace
 * describes them (a shadow) and, at every sync of any file, every mark and
 * every munmap, compares the file (read with pread, which sees the map)
 * with it and records each 4 KiB page that differs as a WRITE: the stores
 * made since, in flight until the next sync of that file. Stores are thus
 * seen at page granularity and at those moments only, which is where a
 * workload can observe anything (its acknowledgements come after syncs).
 *
 * One mutex serialises the recorded calls, so the trace is in the order the
 * calls took effect.
 */
#define _GNU_SOURCE
#include "crashfs.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define PAGE 4096u
#define MAX_FD 4096
#define MAX_FILES 256
#define MAX_NAMES 256
#define MAX_MAPS 64

struct file {
    uint8_t *shadow; /* contents as recorded */
    uint64_t size, cap;
    int map_fd; /* private read fd while mapped writable, else -1 */
};

static struct {
    bool on;
    uint32_t flags; /* or'ed into every record (CFS_FOUND) */
    char home[1024];
    size_t home_len;
    int trace;
    pthread_mutex_t mu;
    struct file files[MAX_FILES];
    uint32_t nfiles;
    struct {
        char name[256];
        uint32_t fid;
    } names[MAX_NAMES];
    uint32_t nnames;
    int32_t fds[MAX_FD]; /* fid + 1, 0: not recorded */
    bool dsync[MAX_FD];
    struct {
        uintptr_t addr;
        size_t len;
        uint32_t fid;
        uint64_t off;
    } maps[MAX_MAPS];
} g = {.trace = -1, .mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- libc's definitions ----------------------------------------------- */

#define REAL(ret, name, args)                                                \
    static ret(*real_##name) args;                                           \
    static void *name##_sym(void)                                            \
    {                                                                        \
        if (!real_##name)                                                    \
            *(void **)&real_##name = dlsym(RTLD_NEXT, #name);                \
        return (void *)real_##name;                                          \
    }

REAL(int, open, (const char *, int, ...))
REAL(int, openat, (int, const char *, int, ...))
REAL(int, close, (int))
REAL(ssize_t, write, (int, const void *, size_t))
REAL(ssize_t, pwrite, (int, const void *, size_t, off_t))
REAL(ssize_t, pwrite64, (int, const void *, size_t, off_t))
REAL(ssize_t, writev, (int, const struct iovec *, int))
REAL(ssize_t, pwritev, (int, const struct iovec *, int, off_t))
REAL(ssize_t, pwritev64, (int, const struct iovec *, int, off_t))
REAL(int, ftruncate, (int, off_t))
REAL(int, ftruncate64, (int, off_t))
REAL(int, fallocate, (int, int, off_t, off_t))
REAL(int, fallocate64, (int, int, off_t, off_t))
REAL(int, posix_fallocate, (int, off_t, off_t))
REAL(int, fsync, (int))
REAL(int, fdatasync, (int))
REAL(int, msync, (void *, size_t, int))
REAL(void *, mmap, (void *, size_t, int, int, int, off_t))
REAL(void *, mmap64, (void *, size_t, int, int, int, off_t))
REAL(int, munmap, (void *, size_t))
REAL(int, link, (const char *, const char *))
REAL(int, rename, (const char *, const char *))
REAL(int, unlink, (const char *))
REAL(int, mkstemp, (char *))
REAL(int, mkostemp, (char *, int))

__attribute__((constructor)) static void
cfs_init(void)
{
    const char *home = getenv("CRASHFS_HOME"), *trace = getenv("CRASHFS_TRACE");
    if (!home || !trace || strlen(home) + 2 > sizeof g.home)
        return;
    snprintf(g.home, sizeof g.home, "%s/", home);
    g.home_len = strlen(g.home);
    open_sym();
    g.trace = real_open(trace, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
                                   O_CLOEXEC, 0600);
    g.on = g.trace >= 0;
}

/* ---- the trace --------------------------------------------------------- */

static void
out(const void *p, size_t n)
{
    write_sym();
    const uint8_t *b = p;
    while (n) {
        ssize_t w = real_write(g.trace, b, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            abort(); /* a trace with a hole would explore wrong states */
        }
        b += w;
        n -= (size_t)w;
    }
}

static void
emit(uint32_t type, uint32_t fid, uint64_t off, uint64_t len,
     const char *name, size_t name_len, const void *data)
{
    struct cfs_rec r = {.type = type, .fid = fid, .off = off, .len = len,
                        .name_len = (uint32_t)name_len, .flags = g.flags};
    bool zero = false;
    if (type == CFS_WRITE) {
        const uint8_t *d = data;
        zero = true;
        for (uint64_t i = 0; zero && i < len; i++)
            zero = d[i] == 0;
        r.flags |= zero ? CFS_ZERO : 0;
    }
    out(&r, sizeof r);
    if (name_len)
        out(name, name_len);
    if (type == CFS_WRITE && !zero)
        out(data, len);
}

/* The name of path inside the home, or NULL. */
static const char *
rel(const char *path)
{
    if (!g.on || !path || strncmp(path, g.home, g.home_len) != 0)
        return NULL;
    const char *n = path + g.home_len;
    if (!*n || strchr(n, '/') || strcmp(n, "lock.mdb") == 0 ||
        strcmp(n, "wal.lock") == 0 || strlen(n) >= 256)
        return NULL;
    return n;
}

static int
name_find(const char *name)
{
    for (uint32_t i = 0; i < g.nnames; i++)
        if (strcmp(g.names[i].name, name) == 0)
            return (int)i;
    return -1;
}

static void
name_set(const char *name, uint32_t fid)
{
    int i = name_find(name);
    if (i < 0) {
        if (g.nnames == MAX_NAMES)
            abort();
        i = (int)g.nnames++;
        snprintf(g.names[i].name, sizeof g.names[i].name, "%s", name);
    }
    g.names[i].fid = fid;
}

static void
name_drop(const char *name)
{
    int i = name_find(name);
    if (i >= 0)
        g.names[i] = g.names[--g.nnames];
}

static void
shadow_room(struct file *f, uint64_t size)
{
    if (size > f->cap) {
        uint64_t cap = f->cap ? f->cap : PAGE;
        while (cap < size)
            cap *= 2;
        uint8_t *s = realloc(f->shadow, cap);
        if (!s)
            abort();
        memset(s + f->cap, 0, cap - f->cap);
        f->shadow = s;
        f->cap = cap;
    }
}

static void
rec_size(uint32_t fid, uint64_t size)
{
    struct file *f = &g.files[fid];
    shadow_room(f, size);
    if (size < f->size)
        memset(f->shadow + size, 0, f->size - size);
    f->size = size;
    emit(CFS_SIZE, fid, size, 0, NULL, 0, NULL);
}

static void
rec_write(uint32_t fid, uint64_t off, const void *p, uint64_t n)
{
    struct file *f = &g.files[fid];
    shadow_room(f, off + n);
    memcpy(f->shadow + off, p, n);
    if (off + n > f->size)
        f->size = off + n;
    emit(CFS_WRITE, fid, off, n, NULL, 0, p);
}

/* Record what the stores into writable maps changed since last looked. */
static void
diff_maps(void)
{
    static uint8_t page[PAGE];
    for (uint32_t fid = 0; fid < g.nfiles; fid++) {
        struct file *f = &g.files[fid];
        struct stat st;
        if (f->map_fd < 0 || fstat(f->map_fd, &st) != 0)
            continue;
        uint64_t size = (uint64_t)st.st_size;
        if (size != f->size)
            rec_size(fid, size);
        for (uint64_t off = 0; off < size; off += PAGE) {
            uint64_t n = size - off < PAGE ? size - off : PAGE;
            if (pread(f->map_fd, page, n, (off_t)off) != (ssize_t)n)
                abort();
            if (memcmp(page, f->shadow + off, n) != 0)
                rec_write(fid, off, page, n);
        }
    }
}

static uint32_t
file_new(const char *name)
{
    if (g.nfiles == MAX_FILES)
        abort();
    uint32_t fid = g.nfiles++;
    g.files[fid].map_fd = -1;
    name_set(name, fid);
    emit(CFS_CREATE, fid, 0, 0, name, strlen(name), NULL);
    return fid;
}

/* A file that was there before the recording: its contents as they are,
 * synced. */
static uint32_t
file_found(const char *name, int fd)
{
    g.flags = CFS_FOUND;
    uint32_t fid = file_new(name);
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        uint8_t *b = malloc((size_t)st.st_size);
        if (b && pread(fd, b, (size_t)st.st_size, 0) == st.st_size)
            rec_write(fid, 0, b, (uint64_t)st.st_size);
        free(b);
    }
    emit(CFS_SYNC, fid, 0, UINT64_MAX, NULL, 0, NULL);
    g.flags = 0;
    return fid;
}

static int32_t
fd_fid(int fd)
{
    return g.on && fd >= 0 && fd < MAX_FD ? g.fds[fd] - 1 : -1;
}

/* After a successful open of path (flags) as fd. */
static void
opened(const char *path, int fd, int flags, bool existed)
{
    const char *name = rel(path);
    if (!name || fd < 0 || fd >= MAX_FD)
        return;
    int i = name_find(name);
    uint32_t fid;
    if (i >= 0)
        fid = g.names[i].fid;
    else if (existed)
        fid = file_found(name, fd);
    else
        fid = file_new(name);
    if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY)
        rec_size(fid, 0);
    g.fds[fd] = (int32_t)fid + 1;
    g.dsync[fd] = (flags & (O_SYNC | O_DSYNC)) != 0;
}

static int
do_open(int dirfd, const char *path, int flags, mode_t mode, bool at)
{
    const char *name = rel(path);
    if (!name) {
        if (at) {
            openat_sym();
            return real_openat(dirfd, path, flags, mode);
        }
        open_sym();
        return real_open(path, flags, mode);
    }
    pthread_mutex_lock(&g.mu);
    bool existed = access(path, F_OK) == 0;
    open_sym();
    int fd = real_open(path, flags, mode);
    int err = errno;
    if (fd >= 0)
        opened(path, fd, flags, existed);
    pthread_mutex_unlock(&g.mu);
    errno = err;
    return fd;
}

#define MODE_ARG(flags)                                                      \
    mode_t mode = 0;                                                         \
    if ((flags) & (O_CREAT | __O_TMPFILE)) {                                 \
        va_list ap;                                                          \
        va_start(ap, flags);                                                 \
        mode = (mode_t)va_arg(ap, int);                                      \
        va_end(ap);                                                          \
    }

EXPORT int
open(const char *path, int flags, ...)
{
    MODE_ARG(flags);
    return do_open(AT_FDCWD, path, flags, mode, false);
}

EXPORT int
open64(const char *path, int flags, ...)
{
    MODE_ARG(flags);
    return do_open(AT_FDCWD, path, flags, mode, false);
}

EXPORT int
__open_2(const char *path, int flags)
{
    return do_open(AT_FDCWD, path, flags, 0, false);
}

EXPORT int
__open64_2(const char *path, int flags)
{
    return do_open(AT_FDCWD, path, flags, 0, false);
}

EXPORT int
openat(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG(flags);
    bool absolute = path[0] == '/';
    return do_open(dirfd, path, flags, mode, !(absolute || dirfd == AT_FDCWD));
}

EXPORT int
openat64(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG(flags);
    bool absolute = path[0] == '/';
    return do_open(dirfd, path, flags, mode, !(absolute || dirfd == AT_FDCWD));
}

EXPORT int
creat(const char *path, mode_t mode)
{
    return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, false);
}

static int
do_mkstemp(char *tmpl, int flags, bool o)
{
    int fd;
    if (o) {
        mkostemp_sym();
        fd = real_mkostemp(tmpl, flags);
    } else {
        mkstemp_sym();
        fd = real_mkstemp(tmpl);
    }
    if (fd >= 0 && rel(tmpl)) {
        int err = errno;
        pthread_mutex_lock(&g.mu);
        opened(tmpl, fd, O_RDWR | flags, false);
        pthread_mutex_unlock(&g.mu);
        errno = err;
    }
    return fd;
}

EXPORT int
mkstemp(char *tmpl)
{
    return do_mkstemp(tmpl, 0, false);
}

EXPORT int
mkostemp(char *tmpl, int flags)
{
    return do_mkstemp(tmpl, flags, true);
}

EXPORT int
close(int fd)
{
    close_sym();
    if (fd_fid(fd) >= 0) {
        pthread_mutex_lock(&g.mu);
        g.fds[fd] = 0;
        int rc = real_close(fd);
        pthread_mutex_unlock(&g.mu);
        return rc;
    }
    return real_close(fd);
}

/* ---- writes ------------------------------------------------------------ */

static void
wrote(int fd, int32_t fid, const void *p, ssize_t n, uint64_t off)
{
    if (n <= 0)
        return;
    rec_write((uint32_t)fid, off, p, (uint64_t)n);
    if (g.dsync[fd])
        emit(CFS_SYNC, (uint32_t)fid, off, (uint64_t)n, NULL, 0, NULL);
}

EXPORT ssize_t
write(int fd, const void *p, size_t n)
{
    write_sym();
    int32_t fid = fd_fid(fd);
    if (fid < 0)
        return real_write(fd, p, n);
    pthread_mutex_lock(&g.mu);
    off_t off = lseek(fd, 0, SEEK_CUR);
    if (fcntl(fd, F_GETFL) & O_APPEND)
        off = (off_t)g.files[fid].size;
    ssize_t w = real_write(fd, p, n);
    int err = errno;
    wrote(fd, fid, p, w, (uint64_t)off);
    pthread_mutex_unlock(&g.mu);
    errno = err;
    return w;
}

static ssize_t
do_pwrite(int fd, const void *p, size_t n, off_t off, bool b64)
{
    int32_t fid = fd_fid(fd);
    if (b64)
        pwrite64_sym();
    else
        pwrite_sym();
    ssize_t (*fn)(int, const void *, size_t, off_t) =
        b64 ? real_pwrite64 : real_pwrite;
    if (fid < 0)
        return fn(fd, p, n, off);
    pthread_mutex_lock(&g.mu);
    ssize_t w = fn(fd, p, n, off);
    int err = errno;
    wrote(fd, fid, p, w, (uint64_t)off);
    pthread_mutex_unlock(&g.mu);
    errno = err;
    return w;
}

EXPORT ssize_t
pwrite(int fd, const void *p, size_t n, off_t off)
{
    return do_pwrite(fd, p, n, off, false);
}

EXPORT ssize_t
pwrite64(int fd, const void *p, size_t n, off_t off)
{
    return do_pwrite(fd, p, n, off, true);
}

/* writev family: gathered into one buffer and recorded as one write. */
static ssize_t
do_writev(int fd, const struct iovec *iov, int cnt, off_t off, int which)
{
    int32_t fid = fd_fid(fd);
    ssize_t w;
    if (fid >= 0)
        pthread_mutex_lock(&g.mu);
    if (which == 0) {
        writev_sym();
        if (fid >= 0) {
            off = lseek(fd, 0, SEEK_CUR);
            if (fcntl(fd, F_GETFL) & O_APPEND)
                off = (off_t)g.files[fid].size;
        }
        w = real_writev(fd, iov, cnt);
    } else if (which == 1) {
        pwritev_sym();
        w = real_pwritev(fd, iov, cnt, off);
    } else {
        pwritev64_sym();
        w = real_pwritev64(fd, iov, cnt, off);
    }
    int err = errno;
    if (fid >= 0) {
        if (w > 0) {
            uint8_t *b = malloc((size_t)w);
            if (!b)
                abort();
            size_t at = 0;
            for (int i = 0; i < cnt && at < (size_t)w; i++) {
                size_t k = iov[i].iov_len < (size_t)w - at ? iov[i].iov_len
                                                           : (size_t)w - at;
                memcpy(b + at, iov[i].iov_base, k);
                at += k;
            }
            wrote(fd, fid, b, w, (uint64_t)off);
            free(b);
        }
        pthread_mutex_unlock(&g.mu);
    }
    errno = err;
    return w;
}

EXPORT ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
    return do_writev(fd, iov, cnt, 0, 0);
}

EXPORT ssize_t
pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    return do_writev(fd, iov, cnt, off, 1);
}

EXPORT ssize_t
pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    return do_writev(fd, iov, cnt, off, 2);
}

/* ftruncate and fallocate: a new size, when it changed. */
static void
resized(int fd, int32_t fid, int rc)
{
    struct stat st;
    if (rc == 0 && fstat(fd, &st) == 0 &&
        (uint64_t)st.st_size != g.files[fid].size)
        rec_size((uint32_t)fid, (uint64_t)st.st_size);
}

#define SIZE_CALL(call)                                                      \
    int32_t fid = fd_fid(fd);                                                \
    if (fid < 0)                                                             \
        return call;                                                         \
    pthread_mutex_lock(&g.mu);                                               \
    int rc = call;                                                           \
    int err = errno;                                                         \
    resized(fd, fid, rc);                                                    \
    pthread_mutex_unlock(&g.mu);                                             \
    errno = err;                                                             \
    return rc;

EXPORT int
ftruncate(int fd, off_t len)
{
    ftruncate_sym();
    SIZE_CALL(real_ftruncate(fd, len));
}

EXPORT int
ftruncate64(int fd, off_t len)
{
    ftruncate64_sym();
    SIZE_CALL(real_ftruncate64(fd, len));
}

EXPORT int
fallocate(int fd, int mode, off_t off, off_t len)
{
    fallocate_sym();
    SIZE_CALL(real_fallocate(fd, mode, off, len));
}

EXPORT int
fallocate64(int fd, int mode, off_t off, off_t len)
{
    fallocate64_sym();
    SIZE_CALL(real_fallocate64(fd, mode, off, len));
}

EXPORT int
posix_fallocate(int fd, off_t off, off_t len)
{
    posix_fallocate_sym();
    SIZE_CALL(real_posix_fallocate(fd, off, len));
}

/* ---- syncs ----------------------------------------------------------- */

static int
do_sync(int fd, bool data)
{
    int32_t fid = fd_fid(fd);
    fsync_sym();
    fdatasync_sym();
    if (!g.on)
        return data ? real_fdatasync(fd) : real_fsync(fd);
    pthread_mutex_lock(&g.mu);
    diff_maps();
    int rc = data ? real_fdatasync(fd) : real_fsync(fd);
    int err = errno;
    if (rc == 0 && fid >= 0)
        emit(CFS_SYNC, (uint32_t)fid, 0, UINT64_MAX, NULL, 0, NULL);
    pthread_mutex_unlock(&g.mu);
    errno = err;
    return rc;
}

EXPORT int
fsync(int fd)
{
    return do_sync(fd, false);
}

EXPORT int
fdatasync(int fd)
{
    return do_sync(fd, true);
}

EXPORT int
msync(void *addr, size_t len, int flags)
{
    msync_sym();
    if (!g.on)
        return real_msync(addr, len, flags);
    pthread_mutex_lock(&g.mu);
    diff_maps();
    int rc = real_msync(addr, len, flags);
    int err = errno;
    uintptr_t a = (uintptr_t)addr;
    for (int i = 0; rc == 0 && (flags & MS_SYNC) && i < MAX_MAPS; i++)
        if (g.maps[i].len && a >= g.maps[i].addr &&
            a < g.maps[i].addr + g.maps[i].len)
            emit(CFS_SYNC, g.maps[i].fid, g.maps[i].off + (a - g.maps[i].addr),
                 len, NULL, 0, NULL);
    pthread_mutex_unlock(&g.mu);
    errno = err;
    return rc;
}

/* ---- maps -------------------------------------------------------------- */

static void *
do_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off,
        bool b64)
{
    if (b64)
        mmap64_sym();
    else
        mmap_sym();
    void *(*fn)(void *, size_t, int, int, int, off_t) =
        b64 ? real_mmap64 : real_mmap;
    int32_t fid = fd_fid(fd);
    if (fid < 0 || !(prot & PROT_WRITE) || !(flags & MAP_SHARED))
        return fn(addr, len, prot, flags, fd, off);
    pthread_mutex_lock(&g.mu);
    void *p = fn(addr, len, prot, flags, fd, off);
    int err = errno;
    if (p != MAP_FAILED) {
        struct file *f = &g.files[fid];
        if (f->map_fd < 0) {
            char path[64];
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            open_sym();
            f->map_fd = real_open(path, O_RDONLY | O_CLOEXEC);
        }
        for (int i = 0; i < MAX_MAPS; i++)
            if (!g.maps[i].len) {
                g.maps[i].addr = (uintptr_t)p;
                g.maps[i].len = len;
                g.maps[i].fid = (uint32_t)fid;
                g.maps[i].off = (uint64_t)off;
                break;
            }
    }
    pthread_mutex_unlock(&g.mu);
    errno = err;
    return p;
}

EXPORT void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return do_mmap(addr, len, prot, flags, fd, off, false);
}

EXPORT void *
mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return do_mmap(addr, len, prot, flags, fd, off, true);
}

EXPORT int
munmap(void *addr, size_t len)
{
    munmap_sym();
    if (!g.on)
        return real_munmap(addr, len);
    pthread_mutex_lock(&g.mu);
    bool ours = false;
    for (int i = 0; i < MAX_MAPS; i++)
        if (g.maps[i].len && g.maps[i].addr == (uintptr_t)addr) {
            ours = true;
            g.maps[i].len = 0;
        }
    if (ours)
        diff_maps();
    int rc = real_munmap(addr, len);
    int err = errno;
    pthread_mutex_unlock(&g.mu);
    errno = err;
    return rc;
}

/* ---- names --------------------------------------------------------------- */

EXPORT int
link(const char *from, const char *to)
{
    link_sym();
    const char *a = rel(from), *b = rel(to);
    if (!a && !b)
        return real_link(from, to);
    pthread_mutex_lock(&g.mu);
    int rc = real_link(from, to);
    int err = errno;
    int i = a ? name_find(a) : -1;
    if (rc == 0 && b && i >= 0) {
        char both[512];
        int n = snprintf(both, sizeof both, "%s%c%s", a, 0, b);
        name_set(b, g.names[i].fid);
        emit(CFS_LINK, g.names[i].fid, 0, 0, both, (size_t)n, NULL);
    }
    pthread_mutex_unlock(&g.mu);
    errno = err;
    return rc;
}

EXPORT int
rename(const char *from, const char *to)
{
    rename_sym();
    const char *a = rel(from), *b = rel(to);
    if (!a && !b)
        return real_rename(from, to);
    pthread_mutex_lock(&g.mu);
    int rc = real_rename(from, to);
    int err = errno;
    int i = a ? name_find(a) : -1;
    if (rc == 0 && a && b && i >= 0) {
        char both[512];
        int n = snprintf(both, sizeof both, "%s%c%s", a, 0, b);
        uint32_t fid = g.names[i].fid;
        name_drop(a);
        name_set(b, fid);
        emit(CFS_RENAME, fid, 0, 0, both, (size_t)n, NULL);
    } else if (rc == 0 && a && i >= 0) {
        name_drop(a);
        emit(CFS_UNLINK, 0, 0, 0, a, strlen(a), NULL);
    }
    pthread_mutex_unlock(&g.mu);
    errno = err;
    return rc;
}

EXPORT int
unlink(const char *path)
{
    unlink_sym();
    const char *a = rel(path);
    if (!a)
        return real_unlink(path);
    pthread_mutex_lock(&g.mu);
    int rc = real_unlink(path);
    int err = errno;
    if (rc == 0 && name_find(a) >= 0) {
        name_drop(a);
        emit(CFS_UNLINK, 0, 0, 0, a, strlen(a), NULL);
    }
    pthread_mutex_unlock(&g.mu);
    errno = err;
    return rc;
}

/* ---- marks ------------------------------------------------------------- */

EXPORT void
crashfs_mark(const char *text)
{
    if (!g.on)
        return;
    pthread_mutex_lock(&g.mu);
    diff_maps();
    emit(CFS_MARK, 0, 0, 0, text, strlen(text), NULL);
    pthread_mutex_unlock(&g.mu);
}
