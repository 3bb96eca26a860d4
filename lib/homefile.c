/*
 * homefile.c: creating and opening the files of a home (issue 22).
 *
 * The home directory decides the mode of every file created in it: 0660
 * and the directory's group when the directory is setgid and open to its
 * group (rwx: a group home, perms.c), else 0600.
 *
 * A file is created under a temporary name (mkstemp: O_EXCL, so never
 * through a link), given its mode with fchmod() and its group with
 * fchown(), and only then linked into place (or renamed over the old file,
 * for files rewritten whole): the process umask never matters, and no other
 * process ever sees the file with a narrower mode (a member whose umask is
 * 022 would otherwise leave, for a moment or for good, 0640 files the other
 * members cannot write). Of racing creators one link wins, and all open
 * the winner's file by its name (a descriptor of the unlinked temporary
 * would name a deleted file in /proc and lsof).
 *
 * Every file of a home is opened with O_NOFOLLOW, so a link planted in a
 * shared home (`wal` -> /etc/passwd) fails the open instead of being
 * written through. LMDB opens data.mdb and lock.mdb by name itself; store.c
 * creates both (empty: LMDB makes a new environment of empty files) with
 * lmq__home_open() just before, which leaves a window of microseconds to a
 * member of the home's group only, who can damage the queues anyway.
 */
#include "homefile.h"
#include "lmq.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Explicit, so that no umask applies. */
#define HOME_FILE_PRIVATE 0600
#define HOME_FILE_GROUP 0660

/* The directory part of path ("." when it has none) into buf. */
static int
dir_of(const char *path, char *buf, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return snprintf(buf, n, ".") >= (int)n ? -1 : 0;
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    if (len >= n)
        return -1;
    memcpy(buf, path, len);
    buf[len] = '\0';
    return 0;
}

int
lmq__home_fix(const char *path, int fd)
{
    char dir[PATH_MAX];
    struct stat ds, fs;
    if (dir_of(path, dir, sizeof dir) != 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (stat(dir, &ds) != 0 || fstat(fd, &fs) != 0)
        return -1;
    /* A group home: setgid and open to its group. */
    bool group = (ds.st_mode & S_ISGID) && (ds.st_mode & 070) == 070;
    if (group && fs.st_gid != ds.st_gid && fchown(fd, (uid_t)-1, ds.st_gid))
        return -1;
    return fchmod(fd, group ? HOME_FILE_GROUP : HOME_FILE_PRIVATE);
}

int
lmq__home_tmp(const char *path, char *tmp, size_t n)
{
    /* ".NAME.XXXXXX" in the same directory. */
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
    if (snprintf(tmp, n, "%.*s.%s.XXXXXX", (int)dl, path, path + dl) >=
        (int)n) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0)
        return -1;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (lmq__home_fix(path, fd) != 0) {
        int err = errno;
        unlink(tmp);
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

int
lmq__home_open(const char *path, int flags)
{
    char tmp[PATH_MAX];
    int create = flags & O_CREAT;
    flags = (flags & ~(O_CREAT | O_EXCL)) | O_NOFOLLOW | O_CLOEXEC;
    if (!create)
        return open(path, flags);
    for (int tries = 0; tries < 16; tries++) {
        int fd = open(path, flags);
        if (fd >= 0 || errno != ENOENT)
            return fd;
        if ((fd = lmq__home_tmp(path, tmp, sizeof tmp)) < 0)
            return -1;
        int rc = link(tmp, path);
        int err = errno;
        unlink(tmp);
        close(fd);
        if (rc != 0 && err != EEXIST) {
            errno = err;
            return -1;
        }
        /* Linked, or another process linked its file first: open it. */
    }
    errno = EAGAIN;
    return -1;
}

const char *
lmq__home_hint(int rc)
{
    switch (rc) {
    case LMQ_ENOTFOUND:
        return "Commands that only read never create a home: check the "
               "path, name the right home with --home DIR or LMQ_HOME=DIR, "
               "or create it with a command that writes (lmq create-queue).";
    case LMQ_EPERM:
        return "This user may not use that home: fix the permissions of "
               "the home or of its parents (docs/SECURITY.md), run as its "
               "owner, or choose another home with --home DIR or "
               "LMQ_HOME=DIR.";
    case LMQ_EINVAL:
        return "Check the home's options (--region, --account, --group): "
               "a home's region and account are fixed when it is created; "
               "name the home made with them with --home DIR or "
               "LMQ_HOME=DIR.";
    case LMQ_EVERSION:
        return "A newer lmq made this home: open it with that version, or "
               "choose another home with --home DIR or LMQ_HOME=DIR.";
    case LMQ_ECORRUPT:
        return "The home is damaged: restore it from a backup, or choose "
               "another home with --home DIR or LMQ_HOME=DIR.";
    case LMQ_EKEY:
        return "Name the home's keyring with --key-file FILE or "
               "LMQ_KEY_FILE (docs/SECURITY.md).";
    case LMQ_ENOSPC:
        return "The disk is full: free some space, or choose a home on "
               "another file system with --home DIR or LMQ_HOME=DIR.";
    default:
        return "Choose a directory this user may create and write with "
               "--home DIR or LMQ_HOME=DIR (the default home is "
               "$XDG_DATA_HOME/lmq, else ~/.local/share/lmq).";
    }
}
