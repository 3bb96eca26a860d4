/*
 * crashstate.c: crash-state exploration of a `full` home (issue 27,
 * docs/DURABILITY.md "Crash states").
 *
 *   crashstate [-w WORKLOAD] [-m pwrite|writable] [-d full|periodic|none]
 *              [-n STATES] [-r RSTATES] [-s SEED] [-k STATE] [-P POLICY]
 *              [-X drop-synced] [-v] DIR
 *
 * 1. Runs WORKLOAD (create, send, recv, purge, move, fifo, cycles) on
 *    DIR/home in a child exec'd with tests/crashfs.so preloaded, which
 *    records every
 *    write, size change, sync, create, link, rename and unlink of the home
 *    (and the pages stores into a writable map changed) into DIR/trace.
 *    After each call the library acknowledged, the workload adds a mark to
 *    the trace ("S queue body", "D queue body", ...), and before each
 *    delete or purge one saying it may happen, so the trace orders the
 *    acknowledgements among the file operations.
 * 2. Builds STATES crash states from the trace. A state is a crash point
 *    (a position in the trace; the points are spread evenly over it, each
 *    state at a random place in its stretch) and what reached the disk by
 *    then, as ext4 (data=ordered) and POSIX allow it:
 *    - every write and size change of a file followed by a sync of that
 *      file (fsync, fdatasync, an msync covering it) before the point;
 *    - any subset of that file's later writes (in flight), applied in
 *      order, each possibly torn: only some of its 512 B or 4 KiB sectors;
 *      the subset is all, none, a prefix, a random half, or only those
 *      of LMDB's meta pages, by the state's coin (-P forces one);
 *    - every create, link, rename and unlink before the last sync of any
 *      file (ext4 commits its journal, in order, at every fsync), and a
 *      prefix of those after it;
 *    - wal.lock absent or zeros (after a reboot its boot id is another's,
 *      so its contents say nothing), lock.mdb absent.
 * 3. Writes each state to DIR/state and opens it in a child (60 s limit)
 *    with the real code, which must: return 0 (LMQ_ECORRUPT, a signal or
 *    a hang are failures: a crash is not damage); keep every send
 *    acknowledged before the point (and its queue); bring back no
 *    acknowledged delete, nothing purged; hold no body twice; keep FIFO
 *    order per group and deduplicate every acknowledged FIFO send sent
 *    again; and report counters (ApproximateNumberOfMessages, ...NotVisible,
 *    ...Delayed) that match what a drain two hours later receives.
 *
 * -r RSTATES: every fourth state is also opened under the recorder, and
 * RSTATES crash states of that recovery (over the state it started from)
 * are checked the same way: a second crash while the first is recovered.
 * -d periodic|none: the relaxed modes promise less after an OS crash (they
 * may lose recent work and, on ext4, even damage the home); only a signal
 * or a hang of the opener fails, the rest is counted and printed.
 *
 * Every state derives from SEED and its number, so `-s SEED -k STATE`
 * rebuilds one state and leaves it in DIR/state. -X drop-synced leaves
 * out synced writes of the log on purpose: the checks must see the loss.
 * Exit status: 0 all states passed, 1 a state failed, 2 usage or setup.
 */
#define _GNU_SOURCE
#include "crashfs.h"
#include "lmq.h"
#include "lmq_test.h"
#undef fail /* Check's old macro: this program reports failures itself */

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CRASHFS_SO
#define CRASHFS_SO "tests/.libs/crashfs.so"
#endif

#define MAP_SIZE (4u << 20) /* small: a writable map's file is this big */
#define OPEN_LIMIT_S 60

/* ---- the workloads (run under the recorder) ---------------------------- */

static cfs_mark_fn mark_fn;

static void
mark(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    mark_fn(buf);
}

static void
die(const char *what, int rc)
{
    fprintf(stderr, "crashstate: workload: %s: %s (%s)\n", what,
            lmq_err_name(rc), lmq_errmsg());
    exit(2);
}

#define OK(call)                                                             \
    do {                                                                     \
        int ok_rc_ = (call);                                                 \
        if (ok_rc_ != 0)                                                     \
            die(#call, ok_rc_);                                              \
    } while (0)

static lmq_queue *
make_queue(lmq_env *env, const char *name, lmq_map *attrs)
{
    lmq_queue *q;
    OK(lmq_queue_create(env, name, attrs, NULL, NULL));
    mark("Q %s", name);
    OK(lmq_queue_open(env, name, &q));
    return q;
}

static char *
arn_of(lmq_env *env, const char *name)
{
    const char *names[] = {"QueueArn", NULL};
    lmq_map *m;
    OK(lmq_queue_get_attributes(env, name, names, &m));
    char *s = strdup(lmq_map_get(m, "QueueArn"));
    lmq_map_free(m);
    return s;
}

static void
send1(lmq_queue *q, const char *body, const char *group)
{
    lmq_send_entry e;
    lmq_send_result r;
    lmq_send_entry_init(&e);
    e.body = body;
    e.body_len = SIZE_MAX;
    e.group_id = group;
    e.dedup_id = group ? body : NULL;
    OK(lmq_send(q, &e, &r));
    if (group && r.duplicate)
        mark("d %s", body); /* deduplicated */
    else
        mark("S %s %s", lmq_queue_name(q), body);
}

/* Sends bodies prefix-from .. prefix-(from+n-1), n <= 10, in one batch. */
static void
send_batch(lmq_queue *q, const char *prefix, int from, int n, bool fifo)
{
    lmq_send_entry e[10];
    lmq_send_result r[10];
    char bodies[10][64], ids[10][8], groups[10][8];
    for (int i = 0; i < n; i++) {
        snprintf(bodies[i], sizeof bodies[i], "%s-%d", prefix, from + i);
        snprintf(ids[i], sizeof ids[i], "e%d", i);
        snprintf(groups[i], sizeof groups[i], "g%d", (from + i) % 3);
        lmq_send_entry_init(&e[i]);
        e[i].id = ids[i];
        e[i].body = bodies[i];
        e[i].body_len = SIZE_MAX;
        if (fifo) {
            e[i].group_id = groups[i];
            e[i].dedup_id = bodies[i];
        }
    }
    OK(lmq_send_batch(q, e, (size_t)n, r));
    for (int i = 0; i < n; i++) {
        if (r[i].err)
            die("send batch entry", r[i].err);
        if (fifo && r[i].duplicate)
            mark("d %s", bodies[i]);
        else
            mark("S %s %s", lmq_queue_name(q), bodies[i]);
    }
}

/* Receives up to max (no waiting, for 10 minutes) into m. */
static size_t
receive(lmq_queue *q, int max, lmq_msg **m)
{
    lmq_recv_opts o;
    size_t n;
    lmq_recv_opts_init(&o);
    o.max_messages = max;
    o.visibility_timeout = 600;
    o.wait_seconds = 0;
    OK(lmq_receive(q, &o, m, 10, &n));
    return n;
}

/* Deletes the n messages of m in one batch; hr gets the results. */
static int
delete_msgs(lmq_queue *q, lmq_msg **m, size_t n, lmq_batch_result *hr)
{
    lmq_handle_entry h[10];
    char ids[10][24];
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "h%zu", i);
        h[i].id = ids[i];
        h[i].receipt = lmq_msg_receipt(m[i]);
        h[i].timeout_seconds = 0;
    }
    return lmq_delete_batch(q, h, n, hr);
}

/* Receives up to max and deletes them (one by one, or in a batch). */
static size_t
recv_delete(lmq_queue *q, int max, bool batch)
{
    lmq_msg *m[10];
    size_t n = receive(q, max, m);
    /* Deletes about to be made: from here on each may have happened. */
    for (size_t i = 0; i < n; i++)
        mark("x %s %s", lmq_queue_name(q), lmq_msg_body(m[i], NULL));
    if (batch && n) {
        lmq_batch_result hr[10];
        OK(delete_msgs(q, m, n, hr));
        for (size_t i = 0; i < n; i++)
            if (hr[i].err == 0 && hr[i].applied)
                mark("D %s %s", lmq_queue_name(q), lmq_msg_body(m[i], NULL));
    } else {
        for (size_t i = 0; i < n; i++) {
            int deleted = 0;
            OK(lmq_delete(q, lmq_msg_receipt(m[i]), &deleted));
            if (deleted)
                mark("D %s %s", lmq_queue_name(q), lmq_msg_body(m[i], NULL));
        }
    }
    for (size_t i = 0; i < n; i++)
        lmq_msg_free(m[i]);
    return n;
}

/* Receives up to max and keeps them (soft receives in `full`). */
static void
recv_keep(lmq_queue *q, int max)
{
    lmq_msg *m[10];
    size_t n = receive(q, max, m);
    for (size_t i = 0; i < n; i++) {
        if (i == 0)
            OK(lmq_change_visibility(q, lmq_msg_receipt(m[i]), 900, NULL));
        lmq_msg_free(m[i]);
    }
}

static void
run_workload(const char *w, const char *home, lmq_map_mode mm,
             lmq_durability dur)
{
    mark_fn = (cfs_mark_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "crashfs_mark");
    if (!mark_fn) {
        fprintf(stderr, "crashstate: the recorder is not preloaded\n");
        exit(2);
    }
    lmq_env_opts eo;
    lmq_env_opts_init(&eo);
    eo.durability = dur;
    eo.flush_interval_ms = 50; /* a few flushes inside the workload */
    eo.map_mode = mm;
    eo.map_size = MAP_SIZE;
    lmq_env *env;
    OK(lmq_env_open(home, &eo, &env));
    char body[64];
    if (strcmp(w, "recover") == 0) {
        /* the open recovered the home (-r): nothing else */
    } else if (strcmp(w, "create") == 0) {
        /* a new home: its first open, one queue, one message */
        lmq_queue *q = make_queue(env, "std", NULL);
        send1(q, "c-0", NULL);
        lmq_queue_close(q);
    } else if (strcmp(w, "send") == 0) {
        /* More records than a checkpoint holds (256): an automatic
         * checkpoint, then pins moving with page images. */
        lmq_queue *q = make_queue(env, "std", NULL);
        for (int i = 0; i < 200; i++) {
            snprintf(body, sizeof body, "s-%d", i);
            send1(q, body, NULL);
        }
        for (int b = 0; b < 8; b++)
            send_batch(q, "b", b * 10, 10, false);
        for (int i = 200; i < 270; i++) {
            snprintf(body, sizeof body, "s-%d", i);
            send1(q, body, NULL);
        }
        lmq_queue_close(q);
    } else if (strcmp(w, "recv") == 0) {
        lmq_queue *q = make_queue(env, "std", NULL);
        for (int b = 0; b < 8; b++)
            send_batch(q, "r", b * 10, 10, false);
        for (int i = 0; i < 10; i++)
            recv_delete(q, 1, false);
        recv_keep(q, 5);
        OK(lmq_env_sync(env)); /* a checkpoint; the pin moves after it */
        for (int i = 0; i < 4; i++)
            recv_delete(q, 10, true);
        recv_keep(q, 3);
        for (int i = 0; i < 10; i++) {
            snprintf(body, sizeof body, "r2-%d", i);
            send1(q, body, NULL);
            recv_delete(q, 2, false);
        }
        lmq_queue_close(q);
    } else if (strcmp(w, "purge") == 0) {
        lmq_queue *q = make_queue(env, "std", NULL);
        lmq_queue *q2 = make_queue(env, "q2", NULL);
        for (int b = 0; b < 4; b++) {
            send_batch(q, "p", b * 10, 10, false);
            send_batch(q2, "x", b * 10, 10, false);
        }
        recv_delete(q2, 5, true);
        mark("p q2");
        OK(lmq_queue_purge(env, "q2"));
        mark("P q2");
        for (int i = 0; i < 15; i++) {
            snprintf(body, sizeof body, "y-%d", i);
            send1(q2, body, NULL);
        }
        for (int i = 0; i < 5; i++)
            recv_delete(q, 2, i % 2);
        mark("p std");
        OK(lmq_queue_purge(env, "std"));
        mark("P std");
        send_batch(q, "z", 0, 10, false);
        lmq_queue_close(q);
        lmq_queue_close(q2);
    } else if (strcmp(w, "move") == 0) {
        lmq_queue *dlq = make_queue(env, "dlq", NULL);
        char *darn = arn_of(env, "dlq");
        lmq_map *a = lmq_map_new();
        char pol[512];
        snprintf(pol, sizeof pol,
                 "{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":5}",
                 darn);
        lmq_map_set(a, "RedrivePolicy", pol);
        lmq_queue *q = make_queue(env, "std", a);
        lmq_map_free(a);
        char *sarn = arn_of(env, "std");
        for (int b = 0; b < 6; b++)
            send_batch(dlq, "m", b * 10, 10, false);
        for (int round = 0; round < 2; round++) {
            char *h;
            int st;
            mark("m dlq std");
            OK(lmq_move_task_start(env, darn, sarn, 0, &h));
            OK(lmq_move_task_run(env, h, NULL, NULL, &st));
            free(h);
            if (st != LMQ_MOVE_COMPLETED)
                die("move task", LMQ_EINVAL);
            mark("M dlq std");
            for (int i = 0; i < 5; i++)
                recv_delete(q, 3, i % 2);
            send_batch(dlq, "m2", round * 10, 10, false);
        }
        free(darn);
        free(sarn);
        lmq_queue_close(q);
        lmq_queue_close(dlq);
    } else if (strcmp(w, "fifo") == 0) {
        lmq_map *a = lmq_map_new();
        lmq_map_set(a, "FifoQueue", "true");
        lmq_queue *q = make_queue(env, "q.fifo", a);
        lmq_map_free(a);
        char group[8];
        for (int i = 0; i < 30; i++) {
            snprintf(body, sizeof body, "f-%d", i);
            snprintf(group, sizeof group, "g%d", i % 3);
            send1(q, body, group);
            if (i % 5 == 4) { /* a repeat inside the window */
                snprintf(body, sizeof body, "f-%d", i - 2);
                snprintf(group, sizeof group, "g%d", (i - 2) % 3);
                send1(q, body, group);
            }
        }
        send_batch(q, "f", 30, 10, true);
        send_batch(q, "f", 25, 10, true); /* half of them repeats */
        for (int i = 0; i < 8; i++)
            recv_delete(q, 3, i % 2);
        recv_keep(q, 2);
        lmq_queue_close(q);
    } else if (strcmp(w, "cycles") == 0) {
        /* Short-lived openers one after another, as CLI commands are:
         * each opens the home, does one thing and closes it, adopting the
         * checkpoint its predecessor left (or making one after a soft
         * one) and leaving its records in the log, which the next open
         * (alone) does not replay. */
        lmq_queue_close(make_queue(env, "std", NULL));
        lmq_env_close(env);
        for (int i = 0; i < 40; i++) {
            lmq_queue *q;
            OK(lmq_env_open(home, &eo, &env));
            OK(lmq_queue_open(env, "std", &q));
            snprintf(body, sizeof body, "c-%d", i);
            switch (i % 6) {
            case 0:
            case 1:
            case 4:
                send1(q, body, NULL);
                break;
            case 2:
                send_batch(q, body, 0, 3, false);
                break;
            case 3:
                recv_delete(q, 2, i % 2);
                break;
            default:
                recv_keep(q, 1);
                break;
            }
            lmq_queue_close(q);
            lmq_env_close(env);
        }
        OK(lmq_env_open(home, &eo, &env));
    } else {
        fprintf(stderr, "crashstate: unknown workload %s\n", w);
        exit(2);
    }
    lmq_env_close(env);
    mark("E");
    exit(0);
}

/* ---- the trace ------------------------------------------------------------ */

struct ev {
    struct cfs_rec r;
    const char *name; /* name_len bytes (not terminated) */
    const uint8_t *data; /* WRITE without CFS_ZERO */
    size_t synced_by; /* WRITE/SIZE: index of the first sync covering it */
};

struct trace {
    struct ev *evs;
    size_t nev;
    uint32_t nfid;
    size_t *last_sync; /* last_sync[p]: last SYNC index < p, or SIZE_MAX */
};

/* The workload's trace, and the trace of one recovery (-r). */
static struct trace wl, rec;

static int
load_trace(struct trace *t, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(path);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    const uint8_t *p =
        size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (size && p == MAP_FAILED)
        return -1;
    size_t cap = 0;
    free(t->evs);
    free(t->last_sync);
    memset(t, 0, sizeof *t);
    for (size_t at = 0; at + sizeof(struct cfs_rec) <= size;) {
        if (t->nev == cap) {
            cap = cap ? cap * 2 : 1024;
            t->evs = realloc(t->evs, cap * sizeof *t->evs);
        }
        struct ev *e = &t->evs[t->nev++];
        memcpy(&e->r, p + at, sizeof e->r);
        at += sizeof e->r;
        e->name = (const char *)p + at;
        at += e->r.name_len;
        e->data = p + at;
        if (e->r.type == CFS_WRITE && !(e->r.flags & CFS_ZERO))
            at += e->r.len;
        e->synced_by = SIZE_MAX;
        if (e->r.fid + 1 > t->nfid && e->r.type == CFS_CREATE)
            t->nfid = e->r.fid + 1;
        if (at > size) {
            fprintf(stderr, "crashstate: %s is cut short\n", path);
            return -1;
        }
    }
    /* Which sync makes each write durable: the first later sync of the
     * same file that covers it. */
    for (size_t i = 0; i < t->nev; i++) {
        if (t->evs[i].r.type != CFS_SYNC)
            continue;
        const struct cfs_rec *s = &t->evs[i].r;
        for (size_t j = i; j-- > 0;) {
            struct ev *e = &t->evs[j];
            if (e->r.fid != s->fid ||
                (e->r.type != CFS_WRITE && e->r.type != CFS_SIZE) ||
                e->synced_by != SIZE_MAX)
                continue;
            if (s->len == UINT64_MAX ||
                (e->r.type == CFS_WRITE && e->r.off >= s->off &&
                 e->r.off + e->r.len <= s->off + s->len))
                e->synced_by = i;
        }
    }
    t->last_sync = malloc((t->nev + 1) * sizeof *t->last_sync);
    size_t ls = SIZE_MAX;
    for (size_t i = 0; i <= t->nev; i++) {
        t->last_sync[i] = ls;
        if (i < t->nev && t->evs[i].r.type == CFS_SYNC)
            ls = i;
    }
    return 0;
}

/* ---- one state ------------------------------------------------------------ */

static uint64_t
mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct rng {
    uint64_t s;
};

static uint64_t
rnd(struct rng *r, uint64_t n)
{
    r->s = mix(r->s);
    return n ? r->s % n : 0;
}

struct buf {
    uint8_t *b;
    uint64_t size, cap;
};

static void
buf_size(struct buf *f, uint64_t size)
{
    if (size > f->cap) {
        uint64_t cap = f->cap ? f->cap : 4096;
        while (cap < size)
            cap *= 2;
        f->b = realloc(f->b, cap);
        memset(f->b + f->cap, 0, cap - f->cap);
        f->cap = cap;
    }
    if (size < f->size)
        memset(f->b + size, 0, f->size - size);
    f->size = size;
}

static void
buf_write(struct buf *f, const struct ev *e, uint64_t from, uint64_t to)
{
    if (to > f->size)
        buf_size(f, to);
    if (e->r.flags & CFS_ZERO)
        memset(f->b + from, 0, to - from);
    else
        memcpy(f->b + from, e->data + (from - e->r.off), to - from);
}

/* Which in-flight writes a state keeps. METAS keeps only those of LMDB's
 * two meta pages (and size changes): a meta page newer than what the rest
 * of the disk holds, the state a missing order between them leaves. */
enum policy { POL_ALL, POL_NONE, POL_PREFIX, POL_HALF, POL_METAS, POL__N };
static const char *policy_names[] = {"all", "none", "prefix", "random",
                                     "metas"};
static int force_policy = -1; /* -P */

struct state {
    size_t point;    /* the crash happens before evs[point] */
    int policy;
    size_t prefix;   /* POL_PREFIX: in-flight ops kept */
    unsigned torn;   /* in-flight writes torn */
    unsigned kept, dropped;
    int wal_lock;    /* 0 absent, 1 zeros */
};

static bool drop_synced;

/* The names (index into a list of name -> fid) the state has. */
struct name {
    char name[256];
    uint32_t fid;
};

/* Whether e gives its file the name `name`: a create, or a link or rename
 * to it (lmq makes its files under a temporary name and links them into
 * place). */
static bool
names_file(const struct ev *e, const char *name)
{
    size_t la = strnlen(e->name, e->r.name_len), n = strlen(name);
    switch (e->r.type) {
    case CFS_CREATE:
        return la == n && memcmp(e->name, name, n) == 0;
    case CFS_LINK:
    case CFS_RENAME:
        return la + 1 + n == e->r.name_len &&
               memcmp(e->name + la + 1, name, n) == 0;
    default:
        return false;
    }
}

static void
names_apply(struct name *nm, size_t *nn, const struct ev *e)
{
    char a[256] = "", b[256] = "";
    size_t la = strnlen(e->name, e->r.name_len);
    snprintf(a, sizeof a, "%.*s", (int)la, e->name);
    if (la + 1 < e->r.name_len)
        snprintf(b, sizeof b, "%.*s", (int)(e->r.name_len - la - 1),
                 e->name + la + 1);
    size_t i;
    switch (e->r.type) {
    case CFS_CREATE:
        for (i = 0; i < *nn && strcmp(nm[i].name, a) != 0; i++)
            ;
        if (i == *nn)
            (*nn)++;
        snprintf(nm[i].name, sizeof nm[i].name, "%s", a);
        nm[i].fid = e->r.fid;
        break;
    case CFS_UNLINK:
    case CFS_RENAME:
    case CFS_LINK:
        if (e->r.type != CFS_UNLINK) {
            for (i = 0; i < *nn && strcmp(nm[i].name, b) != 0; i++)
                ;
            if (i == *nn)
                (*nn)++;
            snprintf(nm[i].name, sizeof nm[i].name, "%s", b);
            nm[i].fid = e->r.fid;
        }
        if (e->r.type != CFS_LINK)
            for (i = 0; i < *nn; i++)
                if (strcmp(nm[i].name, a) == 0) {
                    nm[i] = nm[--*nn];
                    break;
                }
        break;
    }
}

static int
write_file(const char *dir, const char *name, const struct buf *f)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    static const uint8_t zero[4096];
    /* sparse: only pages that are not zeros */
    for (uint64_t off = 0; off < f->size; off += 4096) {
        uint64_t n = f->size - off < 4096 ? f->size - off : 4096;
        if (memcmp(f->b + off, zero, n) == 0)
            continue;
        if (pwrite(fd, f->b + off, n, (off_t)off) != (ssize_t)n) {
            close(fd);
            return -1;
        }
    }
    int rc = ftruncate(fd, (off_t)f->size);
    close(fd);
    return rc;
}

static void
empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' &&
            (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

/* Copy the files of from into to. */
static int
copy_dir(const char *from, const char *to)
{
    DIR *d = opendir(from);
    if (!d)
        return -1;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' &&
            (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        char src[4096];
        snprintf(src, sizeof src, "%s/%s", from, de->d_name);
        int fd = open(src, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            if (fd >= 0)
                close(fd);
            rc = -1;
            break;
        }
        struct buf b = {0};
        buf_size(&b, (uint64_t)st.st_size);
        if (st.st_size &&
            pread(fd, b.b, (size_t)st.st_size, 0) != st.st_size)
            rc = -1;
        close(fd);
        if (rc == 0)
            rc = write_file(to, de->d_name, &b);
        free(b.b);
    }
    closedir(d);
    return rc;
}

/* Build state k (its choices from seed and k) of trace tr in dir; with
 * base, over a copy of base's files. */
static int
make_state(const struct trace *tr, uint64_t seed, size_t k, size_t nstates,
           const char *dir, const char *base, struct state *st)
{
    struct rng r = {mix(seed ^ mix(k + 1))};
    memset(st, 0, sizeof *st);
    /* The points spread evenly, each at a random place in its stretch. */
    size_t lo = k * (tr->nev + 1) / nstates, hi = (k + 1) * (tr->nev + 1) / nstates;
    st->point = hi > lo ? lo + rnd(&r, hi - lo) : lo;
    if (st->point > tr->nev)
        st->point = tr->nev;
    while (st->point < tr->nev &&
           (tr->evs[st->point].r.flags & CFS_FOUND) &&
           tr->evs[st->point].r.type != CFS_CREATE)
        st->point++; /* not inside a found file's contents */
    st->policy = (int)rnd(&r, POL__N);
    if (force_policy >= 0)
        st->policy = force_policy;
    st->wal_lock = (int)rnd(&r, 2);
    size_t p = st->point, ls = tr->last_sync[p];
    /* in-flight writes and names before the point */
    size_t inflight = 0, nsnames = 0;
    for (size_t i = 0; i < p; i++) {
        int t = (int)tr->evs[i].r.type;
        if ((t == CFS_WRITE || t == CFS_SIZE) && tr->evs[i].synced_by >= p)
            inflight++;
        if (t >= CFS_LINK && t <= CFS_UNLINK && (ls == SIZE_MAX || i > ls))
            nsnames++;
        if (t == CFS_CREATE && (ls == SIZE_MAX || i > ls))
            nsnames++;
    }
    st->prefix = rnd(&r, inflight + 1);
    size_t keep_names = rnd(&r, nsnames + 1);
    if (st->policy == POL_ALL || st->policy == POL_METAS)
        keep_names = nsnames;
    else if (st->policy == POL_NONE)
        keep_names = 0;

    struct buf *files = calloc(tr->nfid ? tr->nfid : 1, sizeof *files);
    struct name *nm = calloc(tr->nfid + 1, sizeof *nm);
    size_t nn = 0, seen_inflight = 0, seen_names = 0;
    uint32_t data_fid = UINT32_MAX;
    for (size_t i = 0; i < p; i++)
        if (names_file(&tr->evs[i], "data.mdb"))
            data_fid = tr->evs[i].r.fid;
    /* the log's fid, for -X drop-synced */
    for (size_t i = 0; i < p; i++) {
        const struct ev *e = &tr->evs[i];
        int t = (int)e->r.type;
        if (t == CFS_CREATE || (t >= CFS_LINK && t <= CFS_UNLINK)) {
            bool durable = ls != SIZE_MAX && i < ls;
            if (!durable && seen_names++ >= keep_names)
                continue;
            names_apply(nm, &nn, e);
            continue;
        }
        if (t != CFS_WRITE && t != CFS_SIZE)
            continue;
        struct buf *f = &files[e->r.fid];
        bool durable = e->synced_by < p;
        if (durable && drop_synced && t == CFS_WRITE && e->r.len < 65536 &&
            !(e->r.flags & CFS_ZERO) && rnd(&r, 4) == 0) {
            /* sabotage: a synced record of the log is lost */
            bool is_wal = false;
            for (size_t j = 0; j < i; j++)
                if (tr->evs[j].r.fid == e->r.fid &&
                    names_file(&tr->evs[j], "wal"))
                    is_wal = true;
            if (is_wal && e->r.off >= 8192) {
                st->dropped++;
                continue;
            }
        }
        if (!durable) {
            size_t idx = seen_inflight++;
            bool in = st->policy == POL_ALL ||
                      (st->policy == POL_PREFIX && idx < st->prefix) ||
                      (st->policy == POL_HALF && rnd(&r, 2)) ||
                      (st->policy == POL_METAS &&
                       (t == CFS_SIZE || (e->r.fid == data_fid &&
                                          e->r.off < 8192)));
            if (!in) {
                st->dropped++;
                continue;
            }
            st->kept++;
            if (t == CFS_WRITE && st->policy != POL_ALL &&
                st->policy != POL_METAS && rnd(&r, 4) == 0) {
                /* torn: some of its sectors */
                uint64_t g = rnd(&r, 2) ? 512 : 4096;
                uint64_t from = e->r.off, end = e->r.off + e->r.len;
                st->torn++;
                while (from < end) {
                    uint64_t to = (from / g + 1) * g;
                    if (to > end)
                        to = end;
                    if (rnd(&r, 2))
                        buf_write(f, e, from, to);
                    else if (to > f->size)
                        buf_size(f, to); /* the size, with zeros */
                    from = to;
                }
                continue;
            }
        }
        if (t == CFS_SIZE)
            buf_size(f, e->r.off);
        else
            buf_write(f, e, e->r.off, e->r.off + e->r.len);
    }
    empty_dir(dir);
    /* A recovery's trace holds the files it opened; the others are as
     * the crash before it left them. */
    int rc = base ? copy_dir(base, dir) : 0;
    for (size_t i = 0; rc == 0 && i < nn; i++)
        rc = write_file(dir, nm[i].name, &files[nm[i].fid]);
    if (rc == 0 && !base && st->wal_lock == 1) {
        struct buf z = {0};
        buf_size(&z, 4096);
        rc = write_file(dir, "wal.lock", &z);
        free(z.b);
    }
    for (uint32_t i = 0; i < tr->nfid; i++)
        free(files[i].b);
    free(files);
    free(nm);
    return rc;
}

/* ---- the checks (in a child per state) ------------------------------------- */

struct body {
    char *body, *queue;
    bool acked, deleted, purged, movable, moved, fifo;
    bool maybe_gone; /* a delete or purge of it was under way */
    int found; /* times drained */
};

static struct body *bodies;
static size_t nbodies, cap_bodies;
static char *queues[16];
static size_t nqueues;

static struct body *
body_get(const char *b)
{
    for (size_t i = 0; i < nbodies; i++)
        if (strcmp(bodies[i].body, b) == 0)
            return &bodies[i];
    if (nbodies == cap_bodies) {
        cap_bodies = cap_bodies ? cap_bodies * 2 : 256;
        bodies = realloc(bodies, cap_bodies * sizeof *bodies);
    }
    struct body *x = &bodies[nbodies++];
    memset(x, 0, sizeof *x);
    x->body = strdup(b);
    return x;
}

static void fail(const char *fmt, ...);

/* One message of the final drain, checked against the marks. */
struct drained_ctx {
    const char *queue;
    int last_in_group[3];
};

static int
drained_one(const lmq_msg *m, void *arg)
{
    struct drained_ctx *dc = arg;
    const char *b = lmq_msg_body(m, NULL);
    struct body *x = body_get(b);
    x->found++;
    if (x->found > 1)
        fail("%s: in the home twice (now in %s)", b, dc->queue);
    if (x->deleted)
        fail("%s: deleted (acknowledged), back in %s", b, dc->queue);
    else if (x->purged && x->acked)
        fail("%s: purged (acknowledged), back in %s", b, dc->queue);
    else if (x->acked && strcmp(x->queue, dc->queue) != 0 &&
             !(x->movable && !x->moved && strcmp(dc->queue, "std") == 0))
        fail("%s: sent to %s, found in %s", b, x->queue, dc->queue);
    if (strstr(dc->queue, ".fifo") && !strncmp(b, "f-", 2)) {
        int n2 = atoi(b + 2), grp = n2 % 3;
        if (n2 < dc->last_in_group[grp])
            fail("%s: out of order in group g%d (after f-%d)", b, grp,
                 dc->last_in_group[grp]);
        dc->last_in_group[grp] = n2;
    }
    return 0;
}

/* What the marks before point promise. */
static void
expect(size_t point)
{
    for (size_t i = 0; i < point; i++) {
        if (wl.evs[i].r.type != CFS_MARK)
            continue;
        char t[512], a[256], b[256];
        snprintf(t, sizeof t, "%.*s", (int)wl.evs[i].r.name_len, wl.evs[i].name);
        a[0] = b[0] = '\0';
        sscanf(t + 1, " %255s %255s", a, b);
        if (t[0] == 'Q' && nqueues < 16)
            queues[nqueues++] = strdup(a);
        else if (t[0] == 'S') {
            struct body *x = body_get(b);
            x->queue = strdup(a);
            x->acked = true;
            x->fifo = strstr(a, ".fifo") != NULL;
            x->movable = strcmp(a, "dlq") == 0;
        } else if (t[0] == 'D') {
            body_get(b)->deleted = true;
        } else if (t[0] == 'x') {
            body_get(b)->maybe_gone = true;
        } else if (t[0] == 'p') {
            for (size_t j = 0; j < nbodies; j++)
                if (bodies[j].queue && strcmp(bodies[j].queue, a) == 0)
                    bodies[j].maybe_gone = true;
        } else if (t[0] == 'P') {
            for (size_t j = 0; j < nbodies; j++)
                if (bodies[j].queue && strcmp(bodies[j].queue, a) == 0)
                    bodies[j].purged = true;
        } else if (t[0] == 'M') {
            for (size_t j = 0; j < nbodies; j++)
                if (bodies[j].queue && strcmp(bodies[j].queue, a) == 0 &&
                    bodies[j].movable) {
                    bodies[j].moved = true;
                    free(bodies[j].queue);
                    bodies[j].queue = strdup(b);
                }
        }
    }
}

static int64_t clock_offset;
/* The real clock when the workload's recording ended: the checks judge a
 * state at the trace's time, not at the (later) time it is checked, so
 * that a long run's FIFO deduplication windows have not passed. */
static int64_t trace_ms;
static lmq_durability durability = LMQ_DURABILITY_FULL;
static const char *dur_names[] = {"full", "periodic", "none"};

static int64_t
check_clock(void *arg)
{
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + clock_offset;
}

static int failures;

static bool quiet; /* relaxed modes: broken promises are counted */

static void
fail(const char *fmt, ...)
{
    failures++;
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "    ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static int
check_state(const char *dir, size_t point)
{
    expect(point);
    lmq_env_opts eo;
    lmq_env_opts_init(&eo);
    eo.durability = durability;
    eo.map_size = MAP_SIZE;
    eo.clock = check_clock;
    lmq_env *env;
    clock_offset = 0;
    clock_offset = trace_ms - check_clock(NULL);
    int rc = lmq_env_open(dir, &eo, &env);
    if (rc != 0) {
        fail("open: %s (%s)", lmq_err_name(rc), lmq_errmsg());
        return rc == LMQ_ECORRUPT ? 3 : 1;
    }
    /* FIFO: every acknowledged send that is still there, sent again inside
     * the window, is a duplicate. */
    for (size_t i = 0; i < nbodies; i++) {
        struct body *x = &bodies[i];
        if (!x->fifo || !x->acked || x->deleted || x->maybe_gone)
            continue;
        lmq_queue *q;
        if ((rc = lmq_queue_open(env, x->queue, &q)) != 0) {
            fail("queue %s: %s", x->queue, lmq_err_name(rc));
            break;
        }
        lmq_send_entry e;
        lmq_send_result r;
        lmq_send_entry_init(&e);
        char group[8];
        snprintf(group, sizeof group, "g%d", atoi(x->body + 2) % 3);
        e.body = x->body;
        e.body_len = SIZE_MAX;
        e.group_id = group;
        e.dedup_id = x->body;
        rc = lmq_send(q, &e, &r);
        if (rc != 0)
            fail("resend %s: %s (%s)", x->body, lmq_err_name(rc),
                 lmq_errmsg());
        else if (!r.duplicate)
            fail("%s: acknowledged, sent again with its deduplication id, "
                 "and not a duplicate",
                 x->body);
        lmq_queue_close(q);
    }
    /* two hours after the trace: every visibility timeout has passed */
    clock_offset += 2 * 3600 * 1000;
    for (size_t qi = 0; qi < nqueues; qi++) {
        long long c[3];
        lmq_queue *q;
        if ((rc = lmq_test_counts(env, queues[qi], c)) != 0 ||
            (rc = lmq_queue_open(env, queues[qi], &q)) != 0) {
            fail("queue %s (acknowledged): %s (%s)", queues[qi],
                 lmq_err_name(rc), lmq_errmsg());
            continue;
        }
        long long vis = c[0], nv = c[1], del = c[2];
        struct drained_ctx dc = {queues[qi], {-1, -1, -1}};
        size_t n;
        if ((rc = lmq_test_drain(q, drained_one, &dc, &n)) != 0)
            fail("drain %s: %s (%s)", queues[qi], lmq_err_name(rc),
                 lmq_errmsg());
        long long drained = (long long)n;
        if (vis != drained || nv != 0 || del != 0)
            fail("%s: counters say %lld visible, %lld not visible, %lld "
                 "delayed; the drain received %lld",
                 queues[qi], vis, nv, del, drained);
        lmq_queue_close(q);
    }
    for (size_t i = 0; i < nbodies; i++) {
        struct body *x = &bodies[i];
        if (x->acked && !x->deleted && !x->purged && !x->maybe_gone &&
            x->found == 0)
            fail("%s: sent to %s (acknowledged) and lost", x->body,
                 x->queue);
    }
    lmq_env_close(env);
    return failures ? 1 : 0;
}

enum outcome { OUT_OK, OUT_BROKEN, OUT_DIED, OUT_CORRUPT, OUT__N };

/* Run check_state in a child: OUT_OK, OUT_BROKEN (a check failed, message
 * printed), OUT_DIED (a signal or a hang, said in why) or OUT_CORRUPT (the
 * open returned LMQ_ECORRUPT). */
static int
check_in_child(const char *dir, size_t point, char *why, size_t why_len)
{
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_len, "fork: %s", strerror(errno));
        return OUT_DIED;
    }
    if (pid == 0) {
        alarm(OPEN_LIMIT_S + 5); /* the parent kills first; a backstop */
        _exit(check_state(dir, point));
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int status;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > OPEN_LIMIT_S) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(why, why_len, "hung (killed after %d s)", OPEN_LIMIT_S);
            return OUT_DIED;
        }
        usleep(2000);
    }
    if (WIFSIGNALED(status)) {
        snprintf(why, why_len, "the opener died of signal %d (%s)",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
        return OUT_DIED;
    }
    if (WEXITSTATUS(status) == 3) {
        snprintf(why, why_len, "LMQ_ECORRUPT (above)");
        return OUT_CORRUPT;
    }
    if (WEXITSTATUS(status) != 0) {
        snprintf(why, why_len, "checks failed (above)");
        return OUT_BROKEN;
    }
    return OUT_OK;
}

/* ---- main ------------------------------------------------------------------- */

static int
run_recorded(const char *self, const char *w, const char *mm, const char *home,
             const char *trace)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        const char *so = getenv("LMQ_CRASHFS_SO");
        lmq_test_preload(so && *so ? so : CRASHFS_SO);
        setenv("CRASHFS_HOME", home, 1);
        setenv("CRASHFS_TRACE", trace, 1);
        execl(self, self, "--workload", w, mm, dur_names[durability], home,
              (char *)NULL);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "crashstate: the workload %s failed (status %d)\n", w,
                status);
        return -1;
    }
    return 0;
}

static int
usage(void)
{
    fprintf(stderr, "usage: crashstate [-w create|send|recv|purge|move|fifo|cycles] "
                    "[-m pwrite|writable] [-d full|periodic|none] "
                    "[-n STATES] [-r RSTATES] [-s SEED] [-k STATE] "
                    "[-P all|none|prefix|random|metas] [-X drop-synced] "
                    "[-v] DIR\n");
    return 2;
}

int
main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "--workload") == 0) {
        lmq_durability d = LMQ_DURABILITY_FULL;
        for (int i = 0; i < 3; i++)
            if (strcmp(argv[4], dur_names[i]) == 0)
                d = (lmq_durability)i;
        run_workload(argv[2], argv[5],
                     strcmp(argv[3], "writable") == 0 ? LMQ_MAP_WRITABLE
                                                      : LMQ_MAP_PWRITE,
                     d);
        return 2;
    }
    const char *w = "send", *mm = "pwrite";
    size_t nstates = 100, only = SIZE_MAX;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    bool verbose = false;
    int c;
    size_t nrecover = 0;
    while ((c = getopt(argc, argv, "w:m:d:n:s:k:r:P:X:v")) != -1) {
        switch (c) {
        case 'P':
            for (int i = 0; i < POL__N; i++)
                if (strcmp(optarg, policy_names[i]) == 0)
                    force_policy = i;
            if (force_policy < 0)
                return usage();
            break;
        case 'r': nrecover = strtoull(optarg, NULL, 10); break;
        case 'd':
            if (strcmp(optarg, "periodic") == 0)
                durability = LMQ_DURABILITY_PERIODIC;
            else if (strcmp(optarg, "none") == 0)
                durability = LMQ_DURABILITY_NONE;
            else if (strcmp(optarg, "full") != 0)
                return usage();
            break;
        case 'w': w = optarg; break;
        case 'm': mm = optarg; break;
        case 'n': nstates = strtoull(optarg, NULL, 10); break;
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'k': only = strtoull(optarg, NULL, 10); break;
        case 'X':
            if (strcmp(optarg, "drop-synced") != 0)
                return usage();
            drop_synced = true;
            break;
        case 'v': verbose = true; break;
        default: return usage();
        }
    }
    if (optind + 1 != argc || nstates == 0)
        return usage();
    const char *dir = argv[optind];
    char home[4096], trace[4096], sdir[4096], self[4096], bdir[4096],
        rtrace[4096];
    snprintf(bdir, sizeof bdir, "%s/base", dir);
    snprintf(rtrace, sizeof rtrace, "%s/trace.recovery", dir);
    snprintf(home, sizeof home, "%s/home", dir);
    snprintf(trace, sizeof trace, "%s/trace", dir);
    snprintf(sdir, sizeof sdir, "%s/state", dir);
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0)
        return 2;
    self[sl] = '\0';
    if ((mkdir(home, 0700) != 0 && errno != EEXIST) ||
        (mkdir(sdir, 0700) != 0 && errno != EEXIST) ||
        (mkdir(bdir, 0700) != 0 && errno != EEXIST))
        return 2;
    empty_dir(home);
    if (run_recorded(self, w, mm, home, trace) != 0 ||
        load_trace(&wl, trace) != 0)
        return 2;
    trace_ms = check_clock(NULL);
    size_t nmarks = 0, nsyncs = 0;
    for (size_t i = 0; i < wl.nev; i++) {
        nmarks += wl.evs[i].r.type == CFS_MARK;
        nsyncs += wl.evs[i].r.type == CFS_SYNC;
    }
    printf("crashstate: workload %s, map %s, %s, seed %" PRIu64 ": %zu "
           "events (%zu syncs, %zu acknowledgements, %u files), %zu states\n",
           w, mm, dur_names[durability], seed, wl.nev, nsyncs, nmarks,
           wl.nfid, nstates);
    fflush(stdout);
    /* `full` promises every state; the relaxed modes promise only that an
     * OS crash never crashes or hangs the next open (they may lose the
     * newest commits, and on ext4 even damage the home: DURABILITY.md). */
    bool relaxed = durability != LMQ_DURABILITY_FULL;
    quiet = relaxed && !verbose;
    size_t failed = 0, explored = 0, torn = 0, outcomes[OUT__N] = {0};
    size_t recovered = 0;
    for (size_t k = 0; k < nstates; k++) {
        if (only != SIZE_MAX && k != only)
            continue;
        struct state st;
        /* every fourth state is also recovered under the recorder (-r) */
        bool sub = nrecover && k % 4 == 0;
        if (make_state(&wl, seed, k, nstates, sdir, NULL, &st) != 0 ||
            (sub && make_state(&wl, seed, k, nstates, bdir, NULL, &st) != 0)) {
            fprintf(stderr, "crashstate: cannot write state %zu: %s\n", k,
                    strerror(errno));
            return 2;
        }
        explored++;
        torn += st.torn;
        char why[256];
        if (verbose)
            printf("state %zu: point %zu/%zu, %s, kept %u, dropped %u, "
                   "torn %u\n",
                   k, st.point, wl.nev, policy_names[st.policy], st.kept,
                   st.dropped, st.torn);
        fflush(stdout);
        fflush(stderr);
        int out = check_in_child(sdir, st.point, why, sizeof why);
        outcomes[out]++;
        if (out != OUT_OK && (!relaxed || out == OUT_DIED)) {
            failed++;
            fprintf(stderr,
                    "crashstate: FAILED state %zu (-w %s -m %s -d %s -s "
                    "%" PRIu64 " -n %zu -k %zu): crash point %zu of %zu, "
                    "in-flight writes %s (kept %u, dropped %u, torn %u), "
                    "wal.lock %s: %s\n",
                    k, w, mm, dur_names[durability], seed, nstates, k,
                    st.point, wl.nev,
                    policy_names[st.policy], st.kept, st.dropped, st.torn,
                    st.wal_lock ? "zeros" : "absent", why);
            if (failed >= 5 && only == SIZE_MAX) {
                fprintf(stderr, "crashstate: stopping after 5 failures\n");
                break;
            }
        }
        if (!sub || out != OUT_OK)
            continue;
        /* A crash during the recovery of this state: the recovery's own
         * writes, over the state, in the states they allow. */
        empty_dir(sdir);
        if (copy_dir(bdir, sdir) != 0 ||
            run_recorded(self, "recover", mm, sdir, rtrace) != 0 ||
            load_trace(&rec, rtrace) != 0) {
            fprintf(stderr, "crashstate: cannot record the recovery of "
                            "state %zu\n", k);
            return 2;
        }
        for (size_t j = 0; j < nrecover; j++) {
            struct state rs;
            if (make_state(&rec, mix(seed) ^ k, j, nrecover, sdir, bdir,
                           &rs) != 0)
                return 2;
            recovered++;
            torn += rs.torn;
            out = check_in_child(sdir, st.point, why, sizeof why);
            outcomes[out]++;
            if (out != OUT_OK && (!relaxed || out == OUT_DIED)) {
                failed++;
                fprintf(stderr,
                        "crashstate: FAILED state %zu (-w %s -m %s -d %s "
                        "-s %" PRIu64 " -n %zu -r %zu -k %zu), crashed "
                        "again in its recovery, recovery state %zu: crash "
                        "point %zu of %zu, in-flight writes %s (kept %u, "
                        "dropped %u, torn %u): %s\n",
                        k, w, mm, dur_names[durability], seed, nstates,
                        nrecover, k, j, rs.point, rec.nev,
                        policy_names[rs.policy], rs.kept, rs.dropped, rs.torn,
                        why);
            }
        }
    }
    printf("crashstate: %zu states explored (%zu torn writes), %zu more "
           "in recoveries, %zu failed\n",
           explored, torn, recovered, failed);
    if (relaxed)
        printf("crashstate: %s: %zu states kept every promise, %zu lost or "
               "brought back acknowledged work, %zu were LMQ_ECORRUPT\n",
               dur_names[durability], outcomes[OUT_OK], outcomes[OUT_BROKEN],
               outcomes[OUT_CORRUPT]);
    return failed ? 1 : 0;
}
