/*
 * homefile.h: creating and opening the files of a home (issue 22).
 *
 * Self-contained (libc only), so that lmq and lmqd, which link the shared
 * library and see only its public symbols, compile it in too for the files
 * they keep in a home (lmqd-tasks, bridge-*.resume).
 */
#ifndef LMQ_HOMEFILE_H
#define LMQ_HOMEFILE_H

#include <stddef.h>

/* open() a file of a home: never through a symbolic link (O_NOFOLLOW),
 * close-on-exec. With O_CREAT a missing file is created with the home's
 * file mode (0600, or 0660 of the group in a group home) whatever the
 * umask, and appears under its name only with that mode. Returns the fd,
 * or -1 with errno (ELOOP: path is a symbolic link). */
int lmq__home_open(const char *path, int flags);
/* A new file beside path, with the home's file mode, created O_EXCL, its
 * name in tmp (n bytes): the caller writes it and renames it over path
 * (rename replaces a symbolic link, never follows it), or unlinks it.
 * Returns the fd (read-write, close-on-exec), or -1 with errno. */
int lmq__home_tmp(const char *path, char *tmp, size_t n);
/* Give fd, a file just created beside path, the mode and group of its
 * home. 0, or -1 with errno. */
int lmq__home_fix(const char *path, int fd);

/* What to do about a failed open of a home (rc, an lmq_err of
 * lmq_env_open): one sentence naming --home, LMQ_HOME, permissions or the
 * option at fault, which lmq and lmqd print after lmq_errmsg(). Never
 * NULL. */
const char *lmq__home_hint(int rc);

#endif
