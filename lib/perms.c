/*
 * perms.c: who may open a home (issue 22).
 *
 * A home is private (directory 0700, files 0600) or shared with one group
 * (directory 02770 of that group, files 0660 of that group): several service
 * users of a device share a group home, and nobody else can reach it.
 *
 * The directory decides the mode of every file created in it (homefile.c:
 * 0660 of its group in a group home, else 0600, whatever the umask, never
 * through a symbolic link), so a process that was not told the group still
 * keeps a group home usable, and the option only matters when a home is
 * created and when it is checked.
 *
 * The check (lmq__perms_check) runs before lmq_env_open creates or changes
 * anything: the directory and every entry in it, for modes open to every
 * user, group modes without a named group (or the wrong group), owners
 * other than this user or root (private homes only: in a group home every
 * member creates files), symbolic links. Problems become one line of text
 * the caller reads with lmq_env_warnings(), or, strict, LMQ_EPERM.
 * Rejected: printing from the library (a library must not print: lmq and
 * lmqd print the line); a warning callback (one more callback and thread
 * rule for a text known when the open returns); repairing modes (it would
 * change a home its owner set up, and strict must change nothing).
 */
#include "core.h"
#include "homefile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Modes, explicit so that no umask applies. */
#define HOME_DIR_PRIVATE 0700
#define HOME_DIR_GROUP 02770
/* Missing parents of a group home: its members must reach it; 0750 keeps
 * others out without letting members add entries beside the home. */
#define PARENT_DIR_GROUP 0750

/* ---- options -------------------------------------------------------------- */

/* A group name or number into *gid; 0, or -1 when there is no such group. */
static int
group_id(const char *name, gid_t *gid)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(name, &end, 10);
    if (*name >= '0' && *name <= '9' && *end == '\0' && errno == 0 &&
        n < (gid_t)-1) {
        *gid = (gid_t)n;
        return 0;
    }
    char buf[16384];
    struct group g, *res = NULL;
    if (getgrnam_r(name, &g, buf, sizeof buf, &res) != 0 || !res)
        return -1;
    *gid = res->gr_gid;
    return 0;
}

int
lmq__perms_resolve(const char *group, int strict, lmq__perms *p)
{
    memset(p, 0, sizeof *p);
    if (!group || !*group)
        group = getenv("LMQ_GROUP");
    const char *s = getenv("LMQ_STRICT_PERMISSIONS");
    p->strict = strict || (s && *s && strcmp(s, "0") != 0);
    if (group && *group) {
        if (group_id(group, &p->gid) != 0)
            return lmq__seterr(LMQ_EINVAL, "no such group \"%s\" (give a "
                               "group name or a numeric gid)", group);
        p->group = true;
    }
    return 0;
}

/* ---- creating a home ------------------------------------------------------ */

/* Give a directory this process just made its mode and group. */
static int
fix_dir(const char *dir, mode_t mode, const lmq__perms *p)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* The group first: the setgid bit of a non-member is dropped. */
    int rc = (p->group && fchown(fd, (uid_t)-1, p->gid) != 0) ||
                     fchmod(fd, mode) != 0
                 ? -1
                 : 0;
    int err = errno;
    close(fd);
    errno = err;
    return rc;
}

static int
mkdir_err(const char *dir, const lmq__perms *p)
{
    int err = errno;
    if (err == EPERM && p->group)
        return lmq__seterr(LMQ_EPERM, "cannot give %s to group %u: this "
                           "process is not a member", dir,
                           (unsigned)p->gid);
    return lmq__seterr(err == EACCES || err == EPERM ? LMQ_EPERM : LMQ_EIO,
                       "cannot create %s: %s", dir, strerror(err));
}

int
lmq__perms_mkdir(const char *dir, const lmq__perms *p)
{
    char buf[PATH_MAX];
    struct stat st;
    if (stat(dir, &st) == 0)
        return 0; /* the store reports a file that is no directory */
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return lmq__seterr(LMQ_EINVAL, "home path too long");
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    /* Missing parents, outermost first (the XDG base directory rule: 0700,
     * so that a fresh account's ~/.local/share is private). */
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(buf, 0700) == 0) {
            if (fix_dir(buf, p->group ? PARENT_DIR_GROUP : 0700, p) != 0)
                return mkdir_err(buf, p);
        } else if (errno != EEXIST) {
            return mkdir_err(buf, p);
        }
        *s = '/';
    }
    if (mkdir(buf, 0700) == 0) {
        if (fix_dir(buf, p->group ? HOME_DIR_GROUP : HOME_DIR_PRIVATE, p)) {
            int rc = mkdir_err(buf, p);
            rmdir(buf);
            return rc;
        }
    } else if (errno != EEXIST) {
        return mkdir_err(buf, p);
    }
    return 0;
}

/* ---- checking a home ------------------------------------------------------ */

/* Problems found, as one line: "a; b; c". */
struct report {
    char text[2048];
    size_t len;
    int n;
};

static void
add(struct report *r, const char *fmt, ...) LMQ_PRINTF(2, 3);

static void
add(struct report *r, const char *fmt, ...)
{
    if (r->len + 8 >= sizeof r->text) {
        r->n++;
        return;
    }
    if (r->n++ > 0)
        r->len += (size_t)snprintf(r->text + r->len, sizeof r->text - r->len,
                                   "; ");
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(r->text + r->len, sizeof r->text - r->len, fmt, ap);
    va_end(ap);
    r->len += w < 0 ? 0 : (size_t)w;
    if (r->len >= sizeof r->text)
        r->len = sizeof r->text - 1;
}

/* "users (gid 100)", or "gid 100" when the group has no name. */
static const char *
gname(gid_t gid, char *out, size_t n)
{
    char buf[16384];
    struct group g, *res = NULL;
    if (getgrgid_r(gid, &g, buf, sizeof buf, &res) == 0 && res)
        snprintf(out, n, "%s (gid %u)", res->gr_name, (unsigned)gid);
    else
        snprintf(out, n, "gid %u", (unsigned)gid);
    return out;
}

static bool
in_group(gid_t gid)
{
    if (getegid() == gid)
        return true;
    gid_t list[256];
    int n = getgroups(256, list);
    for (int i = 0; i < n; i++)
        if (list[i] == gid)
            return true;
    return false;
}

/* The problems of one entry (the directory itself when dir). */
static void
check_one(struct report *r, const lmq__perms *p, const char *what,
          const struct stat *st, bool dir)
{
    unsigned mode = (unsigned)(st->st_mode & 07777);
    char g1[300], g2[300];
    if (mode & 07)
        add(r, "%s (mode %04o) is open to every user", what, mode);
    if (!p->group) {
        if (mode & 070)
            add(r, "%s (mode %04o) is open to group %s, but no group was "
                "named (--group, LMQ_GROUP)", what, mode,
                gname(st->st_gid, g1, sizeof g1));
        if (st->st_uid != geteuid() && st->st_uid != 0)
            add(r, "%s is owned by uid %u, not by this user (uid %u) or "
                "root", what, (unsigned)st->st_uid, (unsigned)geteuid());
        return;
    }
    if (st->st_gid != p->gid) {
        add(r, "%s belongs to group %s, not to the named group %s", what,
            gname(st->st_gid, g1, sizeof g1), gname(p->gid, g2, sizeof g2));
    } else if ((mode & (dir ? 070u : 060u)) != (dir ? 070u : 060u)) {
        add(r, "%s (mode %04o) is not open to group %s: other members "
            "cannot use the home", what, mode, gname(p->gid, g1, sizeof g1));
    }
    if (dir && !(mode & S_ISGID))
        add(r, "%s lacks the setgid bit (mode %04o): files other members "
            "create there would not belong to the group", what, mode);
}

int
lmq__perms_check(const char *dir, const lmq__perms *p, char **warn)
{
    struct stat st;
    char g[300];
    *warn = NULL;
    if (stat(dir, &st) != 0) {
        if (errno == EACCES)
            return lmq__seterr(LMQ_EPERM, "permission denied: cannot reach "
                               "the home %s through its parents (this "
                               "process runs as uid %u)", dir,
                               (unsigned)geteuid());
        return 0; /* a new home, or an error the open reports */
    }
    if (!S_ISDIR(st.st_mode))
        return 0; /* the store reports it */
    if (faccessat(AT_FDCWD, dir, R_OK | W_OK | X_OK, AT_EACCESS) != 0 &&
        (errno == EACCES || errno == EPERM))
        return lmq__seterr(LMQ_EPERM, "permission denied on the home %s "
                           "(owner uid %u, group %s, mode %04o): this process "
                           "runs as uid %u%s", dir, (unsigned)st.st_uid,
                           gname(st.st_gid, g, sizeof g),
                           (unsigned)(st.st_mode & 07777),
                           (unsigned)geteuid(),
                           in_group(st.st_gid) ? "" : ", not in that group");

    struct report r = {.len = 0};
    check_one(&r, p, "the directory", &st, true);
    DIR *d = opendir(dir);
    if (!d)
        return lmq__seterr(errno == EACCES ? LMQ_EPERM : LMQ_EIO,
                           "cannot read the home %s: %s", dir,
                           strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat fs;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(d), e->d_name, &fs, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* removed meanwhile */
        if (S_ISLNK(fs.st_mode))
            add(&r, "%s is a symbolic link", e->d_name);
        else
            check_one(&r, p, e->d_name, &fs, S_ISDIR(fs.st_mode));
    }
    closedir(d);
    if (r.n == 0)
        return 0;
    /* How to repair it, in shell words naming this home. */
    char fix[PATH_MAX * 3 + 128];
    if (p->group)
        snprintf(fix, sizeof fix, "chgrp -R %u '%s' && chmod 2770 '%s' && "
                 "chmod 660 '%s'/*", (unsigned)p->gid, dir, dir, dir);
    else
        snprintf(fix, sizeof fix, "chmod 700 '%s' && chmod 600 '%s'/*", dir,
                 dir);
    if (p->strict)
        return lmq__seterr(LMQ_EPERM, "unsafe permissions on the home %s: "
                           "%s (strict permissions: not opened; fix: %s)",
                           dir, r.text, fix);
    size_t n = strlen(dir) + r.len + strlen(fix) + 64;
    if (!(*warn = malloc(n)))
        return lmq__seterr(LMQ_ENOMEM, NULL);
    snprintf(*warn, n, "unsafe permissions on the home %s: %s (fix: %s)", dir,
             r.text, fix);
    return 0;
}
