/*
 * crashfs.h: the trace that tests/crashfs.so (an LD_PRELOAD recorder)
 * writes and tests/crashstate reads. See tests/crashfs.c.
 *
 * A trace is a sequence of records, each a struct cfs_rec followed by
 * name_len bytes of names (CREATE, UNLINK: the name; LINK, RENAME: "old\0new";
 * MARK: the text) and, for a WRITE without CFS_ZERO, len bytes of data.
 * Names are relative to the traced home (files only, no subdirectories).
 * A file is known by its fid from its CREATE on, across links and renames.
 */
#ifndef LMQ_CRASHFS_H
#define LMQ_CRASHFS_H

#include <stdint.h>

enum cfs_type {
    CFS_CREATE = 1, /* a new file fid, named name */
    CFS_WRITE,      /* len bytes at off (pwrite, or a page of a map) */
    CFS_SIZE,       /* ftruncate / fallocate: the file is off bytes long */
    CFS_SYNC,       /* fsync, fdatasync, msync(MS_SYNC) of [off, off+len) */
    CFS_LINK,       /* a second name for the file of old */
    CFS_RENAME,     /* old becomes new (new's former file loses its name) */
    CFS_UNLINK,     /* the name goes away */
    CFS_MARK        /* the workload's note (an acknowledgement) */
};

#define CFS_ZERO 1u /* WRITE: the data is all zeros and not stored */
/* CREATE, WRITE, SYNC: a file that was there before the recording began,
 * with its contents (one unit: no crash point falls inside it) */
#define CFS_FOUND 2u

struct cfs_rec {
    uint32_t type;
    uint32_t fid;
    uint64_t off;
    uint64_t len;
    uint32_t flags;
    uint32_t name_len;
};

/* The recorder exports this; a workload finds it with dlsym(RTLD_DEFAULT). */
typedef void (*cfs_mark_fn)(const char *text);

#endif
