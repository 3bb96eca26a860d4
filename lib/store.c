/*
 * store.c: LMDB environment, named databases, transactions, map growth and
 * stale-reader cleanup. The only file that includes lmdb.h.
 *
 * One process, one MDB_env per home: LMDB forbids opening an environment
 * twice in a process (closing one copy would drop the other's fcntl locks),
 * so stores live in a process-wide registry keyed by the directory's device
 * and inode and are reference counted. The registry records the pid that
 * opened each store: after fork() a child never reuses (nor closes) its
 * parent's environment, it opens its own.
 *
 * Map growth. mdb_env_set_mapsize() may only be called while this process
 * has no transaction open, so every transaction holds `resize` shared and a
 * resize takes it exclusively. A write that hits MDB_MAP_FULL is aborted, the
 * map doubled (up to max_map_size) and the unit of work run again from the
 * start; that is why write callbacks must have no effects outside their
 * transaction. When another process has grown the map, our next
 * mdb_txn_begin() reports MDB_MAP_RESIZED and we adopt the new size.
 *
 * Group commit. Every write comes through lmq__store_write(). A caller
 * queues its unit of work; if no leader is running, it becomes the leader:
 * it takes every queued unit (its own included), runs them one after
 * another in one LMDB write transaction, commits once (one flush for all)
 * and wakes their owners. Callers that arrive meanwhile queue up for the
 * next leader, so the batch grows exactly when commits are the bottleneck
 * and a lone caller pays nothing but an uncontended mutex. In FULL mode a
 * new leader first waits a little for as many callers as the last commit
 * had (gather(): otherwise the callers split into two groups whose batches
 * alternate). Owners sleep on their own semaphores, so finishing a batch
 * wakes exactly its owners and the next leader. In a batch of
 * more than one, the units first run directly in the shared transaction;
 * if one fails (returns < 0), the batch is aborted and run again with each
 * unit in a nested transaction, so the failed unit is rolled back alone and
 * its owner gets its own error while the others commit. Map-full inside a batch aborts the whole batch, grows the
 * map and runs it again (units may run more than once: see store.h). The
 * thread-local error detail of a failed unit is carried back to its owner.
 * Rejected: one writer thread per store (every call pays two context
 * switches even when alone); nesting every unit always (it costs more than
 * the commit it saves in the relaxed modes); replaying a failed batch
 * without the failed unit instead of nesting (units could run many times
 * when several fail). Nesting excludes MDB_WRITEMAP, so in a writable-map
 * home a failed unit is instead marked failed for good and the batch run
 * again without it (each rerun settles at least one unit).
 *
 * Map mode. A home is created with or without MDB_WRITEMAP and keeps it:
 * LMDB forbids processes that disagree. The choice lives in HOME/mapmode,
 * which the creating process links into place before data.mdb exists; a home
 * with data.mdb and no mapmode predates the file and uses pwrite.
 *
 * Durability: every mode opens LMDB with MDB_NOSYNC. FULL commits are made
 * durable by a redo log (lib/wal.c, "the log" below): one flush of the
 * batch's record, outside LMDB's writer lock, instead of LMDB's two (data
 * pages, then meta page), and none for batches of soft writes only
 * (receives and visibility changes, lmq__store_write_soft()); checkpoints
 * sync LMDB now and then, and an open that finds records after the last
 * one replays them. PERIODIC and NONE do not log (LMDB keeps the store
 * consistent as long as the file system keeps write order; only the last
 * transactions can be lost) and PERIODIC runs a flusher thread calling
 * mdb_env_sync() every interval.
 * These flags are per process, so processes of one home may differ.
 * Writable relaxed homes also populate the file ahead of LMDB's last page
 * from a background thread ("prefault" below).
 *
 * Crashed processes: LMDB's writer mutex is a robust process-shared mutex,
 * so a writer killed mid-transaction releases it (its transaction is simply
 * never committed). Reader slots of dead processes are cleared at open and
 * every READER_CHECK_EVERY commits, and at once when the table is full.
 */
#define _GNU_SOURCE 1 /* fallocate, FALLOC_FL_KEEP_SIZE */
#include "store.h"

#include "homefile.h"
#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* Reader slots are cheap to scan (one page of the lock file per 64 slots);
 * checking every 256 commits keeps dead readers from pinning old pages for
 * long without costing anything measurable. */
#define READER_CHECK_EVERY 256

/* Most ops one leader takes into one transaction. Bounds the leader's stack
 * and the time a caller that arrived first waits behind others; far above
 * the number of threads that usually write at once. */
#define GC_MAX_BATCH 128

static const char *const dbnames[LMQ_DB__COUNT] = {
    "meta", "names", "qrec", "tombs", "msg", "hdr", "vis",
    "groups", "gready", "dedup", "attempt", "tasks", "aux",
    "metrics",
};

/* A set of page numbers, open addressing (0 is never a page of interest:
 * pages 0 and 1 are LMDB's meta pages, never freed). */
struct pgset {
    uint64_t *v;
    size_t cap, n; /* cap: 0 or a power of two */
};

static size_t
pgset_slot(const struct pgset *ps, uint64_t pg)
{
    size_t i = (size_t)((pg * 0x9e3779b97f4a7c15ull) >> 20) & (ps->cap - 1);
    while (ps->v[i] && ps->v[i] != pg)
        i = (i + 1) & (ps->cap - 1);
    return i;
}

static bool
pgset_has(const struct pgset *ps, uint64_t pg)
{
    return ps->cap && ps->v[pgset_slot(ps, pg)] == pg;
}

static int
pgset_add(struct pgset *ps, uint64_t pg)
{
    if ((ps->n + 1) * 2 > ps->cap) {
        struct pgset g = {.cap = ps->cap ? ps->cap * 2 : 256};
        if (!(g.v = calloc(g.cap, sizeof *g.v)))
            return -1;
        for (size_t i = 0; i < ps->cap; i++)
            if (ps->v[i])
                g.v[pgset_slot(&g, ps->v[i])] = ps->v[i];
        g.n = ps->n;
        free(ps->v);
        *ps = g;
    }
    size_t i = pgset_slot(ps, pg);
    if (!ps->v[i]) {
        ps->v[i] = pg;
        ps->n++;
    }
    return 0;
}

static void
pgset_clear(struct pgset *ps)
{
    if (ps->n)
        memset(ps->v, 0, ps->cap * sizeof *ps->v);
    ps->n = 0;
}

struct lmq_store {
    MDB_env *env;
    MDB_dbi dbi[LMQ_DB__COUNT];
    pthread_rwlock_t resize;
    uint64_t map_size;
    uint64_t max_map_size;
    lmq_durability durability;
    bool writemap; /* MDB_WRITEMAP: no nested transactions */
    unsigned flush_interval_ms;
    unsigned long commits;
    /* group commit: callers queue ops; one leader at a time runs them */
    pthread_mutex_t gc_mu;
    struct gc_op *gc_head, **gc_tail;
    size_t gc_pending;
    bool gc_busy;
    uint64_t gc_batches, gc_ops, gc_max_batch;
    /* gathering (FULL): a new leader waits briefly for the callers the
     * last batches had, see gather() */
    pthread_cond_t gc_gather_cv;
    bool gc_gathering;
    size_t gc_expect;         /* callers active at the last commit */
    uint64_t gc_commit_ns;    /* duration of the last batch */
    /* prefault (writable relaxed homes): populate the file ahead of the
     * last page in use, see prefault_note() */
    pthread_t pf_thread;
    bool pf_running;
    pthread_mutex_t pf_mu;
    pthread_cond_t pf_cv;
    uint64_t pf_want, pf_done; /* byte offsets; pf_done read unlocked */
    bool pf_stop;
    uint64_t pf_start; /* no thread before the home grows past this */
    unsigned psize;
    bool pop_off; /* MADV_POPULATE_WRITE refused: lmq__txn_populate() off */
    /* full disks, see "reservations" below */
    uint64_t reserve;   /* bytes kept for freeing writes */
    uint64_t max_bytes; /* lmq_env_opts.max_bytes (0: none) */
    uint64_t res_end;   /* pwrite: blocks reserved up to here (lower bound) */
    pthread_mutex_t res_mu;
    int mm_fd;          /* writable: HOME/mapmode, flock()ed around resizes */
    bool relieved;      /* leader: this batch checkpointed to free pages */
    /* redo log and checkpoint pin, see "the log" below */
    lmq_wal *wal;
    bool logged;          /* FULL: commits are made durable by the log */
    bool wal_sync;        /* leader: flush this batch's record even if soft */
    unsigned soft_run;    /* leader: soft batches since the last hard one */
    MDB_txn *pin;         /* read txn on the checkpoint this process made */
    uint64_t pin_gen;     /* its generation */
    bool pin_stale;       /* reset by the pin thread (a newer one exists) */
    pthread_mutex_t pin_mu;
    pthread_cond_t pin_cv;
    pthread_t pin_thread;
    bool pin_running, pin_stop;
    uint64_t checkpoints; /* made by this process */
    uint64_t adoptions;   /* checkpoints it adopted (adopt()) */
    /* page images: how the pin moves past its checkpoint, see "page
     * images" below (the leader's, except the pin swap under pin_mu) */
    uint64_t img_gen;     /* the checkpoint they are of (0: none) */
    uint64_t img_upto;    /* free-list records up to this txnid are imaged */
    uint64_t img_pend;    /* ... and up to this one by the running batch */
    uint64_t img_last;    /* the checkpoint's last page */
    struct pgset img_set; /* pages imaged since the checkpoint */
    struct pgset img_body; /* message bodies' overflow pages past the
                            * first, seen by a delete: no image needed */
    uint64_t *img_new;    /* pages imaged by the running batch */
    size_t img_new_n, img_new_cap;
    size_t img_new_skip;  /* ... of which img_body pages, not imaged */
    MDB_txn *img_cand;    /* the next pin, once the batch is flushed */
    MDB_txn *img_spare;   /* a reset read txn, renewed as the next cand */
    bool img_ready;       /* cand's batch committed */
    uint8_t *img_page;    /* one page read from data.mdb */
    uint64_t images, advances; /* pages imaged, pin moves (stats) */
    /* A flush failed (see "a failed flush"): writes are refused with
     * LMQ_EIO until every handle of the home in this process is closed. */
    int broken;
    /* A failed mdb_env_set_mapsize() left LMDB without its map: see
     * set_mapsize(). Every operation is LMQ_EIO until a reopen. */
    int dead;
    /* flusher (PERIODIC) */
    pthread_t flusher;
    bool flusher_running;
    pthread_mutex_t flush_mu;
    pthread_cond_t flush_cv;
    bool stopping;
    /* registry */
    dev_t dev;
    ino_t ino;
    pid_t pid;
    int refs;
    struct lmq_store *next;
};

struct lmq_txn {
    lmq_store *s;
    MDB_txn *txn;
    void *user;
    bool map_full;
    bool rdonly;
    bool log; /* copy writes into the leader's record (FULL batches) */
    /* Write transactions look keys up through one cursor per database,
     * opened on first use and freed by LMDB when the transaction ends: a
     * cursor still on the leaf page that holds the next key (FIFO traffic
     * walks keys in order) finds it without descending from the root, where
     * mdb_get() and mdb_put() always descend. */
    MDB_cursor *cur[LMQ_DB__COUNT];
};

/* One caller's unit of work waiting for (or in) a group commit. Lives on
 * the caller's stack until done is set under gc_mu. */
struct gc_op {
    lmq_txn_fn fn;
    void *arg;
    struct gc_op *next;
    int rc;
    bool done;    /* result final; the owner may return */
    bool final;   /* failed for good inside a batch that runs again */
    bool waiting; /* the owner sleeps on sem (gc_mu protects this) */
    bool soft;    /* FULL: needs no meta sync (lmq__store_write_soft) */
    sem_t sem;    /* posted once per sleep: done, or lead next */
    char err[512];
};

/* Test seam: called by the leader just before a batch commits. */
static void (*commit_hook)(size_t nops);

struct lmq_cur {
    MDB_cursor *c;
    lmq_txn *t;
    int db;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static lmq_store *registry;

static int
map_err(int rc, const char *what)
{
    switch (rc) {
    case MDB_MAP_FULL:
    case ENOSPC:
        return lmq__seterr(LMQ_ENOSPC, "%s: %s", what, mdb_strerror(rc));
    case ENOMEM:
        return lmq__seterr(LMQ_ENOMEM, "%s: %s", what, mdb_strerror(rc));
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
        return lmq__seterr(LMQ_ECORRUPT, "%s: %s", what, mdb_strerror(rc));
    case MDB_VERSION_MISMATCH:
        return lmq__seterr(LMQ_EVERSION, "%s: %s", what, mdb_strerror(rc));
    default:
        return lmq__seterr(LMQ_EIO, "%s: %s", what, mdb_strerror(rc));
    }
}

/* ---- a failed flush ------------------------------------------------------
 *
 * After fsync, fdatasync or msync fails, what is on disk is unknown, and
 * asking again proves nothing: Linux marks the pages that failed to write
 * clean (and may drop them), and the next flush of the file succeeds
 * without writing them ("fsyncgate", PostgreSQL 2018; Rebello et al., "Can
 * applications recover from fsync failures?", ATC 2020). A process that
 * went on committing would acknowledge writes built on a state that may
 * not be on disk. So a failed flush breaks this process's handle of the
 * home for writes, like PostgreSQL's PANIC on a failed fsync: every later
 * write returns LMQ_EIO until the home is closed and opened again; reads go
 * on (they read the page cache: what this process and the others
 * committed). The operation whose flush failed gets LMQ_EIO too, although
 * its commit is visible to readers: it may or may not survive an OS crash,
 * like an operation that timed out. A reopen in `full` replays the log
 * over the last checkpoint; it cannot bring back a page the kernel lost.
 * Other processes learn of the error at their own next flush of the file
 * (the kernel reports a write-back error to every descriptor open at the
 * time). */
static int
flush_failed(lmq_store *s, int rc)
{
    __atomic_store_n(&s->broken, 1, __ATOMIC_RELEASE);
    return rc;
}

static int
refuse_broken(lmq_store *s)
{
    if (!__atomic_load_n(&s->broken, __ATOMIC_ACQUIRE))
        return 0;
    return lmq__seterr(LMQ_EIO, "an earlier flush of this home failed, so "
                       "what is on disk is unknown: close and reopen the home"
                       " (docs/DURABILITY.md, \"I/O errors\")");
}

/* mdb_env_set_mapsize() on an open env (resize held exclusively). LMDB
 * unmaps the old map before it maps the new one (a writable map's file is
 * extended in between): when that fails, its env points at memory it no
 * longer has, and the next call that reads the map faults (found by
 * tests/check_iofail: a failed ftruncate, then SIGSEGV). The store is then
 * dead: every later operation fails with LMQ_EIO without calling LMDB,
 * until the home is reopened. */
static void map_huge(lmq_store *s);

static int
set_mapsize(lmq_store *s, uint64_t size)
{
    int rc = mdb_env_set_mapsize(s->env, (size_t)size);
    if (rc != 0)
        __atomic_store_n(&s->dead, 1, __ATOMIC_RELEASE);
    else
        map_huge(s);
    return rc;
}

/* ---- large folios (writable maps) ----------------------------------------
 *
 * A writable map's pages enter the page cache where the home grows: at a
 * write fault of LMDB's map, or of the prefault thread's. The kernel sizes
 * those page-cache folios by read-around, and a home that grows a reserved
 * step at a time (not the sparse file of the whole map LMDB makes alone)
 * clips every read-around at the end of the file: the home's pages ended
 * up in folios of 4-7 pages on average (/proc/kpageflags), raw LMDB's in
 * folios of ~100. LMDB later reuses freed pages (a deleted body's overflow
 * pages, above all) by storing into them, and in small folios that faulted
 * far more often: 4.2 faults per receive + delete of 16 KiB against raw
 * LMDB's 0.5, at ~16 us a fault on this machine's paravirtual MMU, 12.7k
 * against 48.6k a second (bench/RESULTS.md, "Large folios"). With
 * MADV_HUGEPAGE on both mappings the kernel reads around in PMD-sized
 * folios whatever the file's end or readahead setting: 0.15-0.22
 * faults, 38-53k a second. LMDB keeps its map's address to itself, so it is found in
 * /proc/self/maps by the data file's device and inode (every map of it
 * from offset 0: a parent's map a forked child inherited is harmless to
 * advise). Advice only: a kernel without transparent huge pages refuses
 * it, THP "never" ignores it. Relaxed processes only, as the prefault
 * thread: pwrite homes' pages enter the cache through pwrite, and a `full`
 * process's sync of a writable map is an msync of all of it
 * (tests/check_store, test_prefault_ahead: such a home reads nothing ahead
 * into the cache). */
static void
map_huge(lmq_store *s)
{
    int fd;
    struct stat st;
    if (!s->writemap || s->durability == LMQ_DURABILITY_FULL ||
        mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) != 0)
        return;
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, ino;
        unsigned maj, min;
        if (sscanf(line, "%lx-%lx %*s %lx %x:%x %lu", &lo, &hi, &off, &maj,
                   &min, &ino) == 6 &&
            ino == (unsigned long)st.st_ino && off == 0 &&
            makedev(maj, min) == st.st_dev)
            (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
        if (!strchr(line, '\n')) /* a long path: skip the rest */
            for (int c = 0; c != '\n' && c != EOF;)
                c = fgetc(f);
    }
    fclose(f);
}

/* Dead handles' LMDB envs, kept (not closed: see lmq__store_close()) and
 * reachable, for the life of the process. */
static MDB_env **dead_envs;
static size_t ndead_envs;
static pthread_mutex_t dead_mu = PTHREAD_MUTEX_INITIALIZER;

static void
keep_dead_env(MDB_env *env)
{
    pthread_mutex_lock(&dead_mu);
    MDB_env **n = realloc(dead_envs, (ndead_envs + 1) * sizeof *n);
    if (n) { /* else it is merely unreachable */
        dead_envs = n;
        dead_envs[ndead_envs++] = env;
    }
    pthread_mutex_unlock(&dead_mu);
}

static bool
is_dead(lmq_store *s)
{
    return __atomic_load_n(&s->dead, __ATOMIC_ACQUIRE) != 0;
}

static int
refuse_dead(void)
{
    return lmq__seterr(LMQ_EIO, "resizing the map of this home failed and "
                       "LMDB lost its map: close and reopen the home "
                       "(docs/DURABILITY.md, \"I/O errors\")");
}

/* mdb_env_info() for a thread that holds no transaction: it reads the
 * map, so not while another thread resizes it. */
static void
env_info(lmq_store *s, MDB_envinfo *info)
{
    if (is_dead(s)) {
        memset(info, 0, sizeof *info);
        return;
    }
    pthread_rwlock_rdlock(&s->resize);
    mdb_env_info(s->env, info);
    pthread_rwlock_unlock(&s->resize);
}

/* The CLOCK_REALTIME time ns from now, for pthread_cond_timedwait(). */
static struct timespec
deadline_in(uint64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ns += (uint64_t)ts.tv_nsec;
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    return ts;
}

static void *
flusher_main(void *arg)
{
    lmq_store *s = arg;
    pthread_mutex_lock(&s->flush_mu);
    while (!s->stopping) {
        struct timespec ts = deadline_in((uint64_t)s->flush_interval_ms *
                                         1000000u);
        pthread_cond_timedwait(&s->flush_cv, &s->flush_mu, &ts);
        pthread_mutex_unlock(&s->flush_mu);
        /* not while the map is resized (a writable map's msync reads it) */
        pthread_rwlock_rdlock(&s->resize);
        int frc = mdb_env_sync(s->env, 1);
        pthread_rwlock_unlock(&s->resize);
        if (frc != 0)
            flush_failed(s, 0);
        pthread_mutex_lock(&s->flush_mu);
    }
    pthread_mutex_unlock(&s->flush_mu);
    return NULL;
}

/* ---- prefault ------------------------------------------------------------
 *
 * A writable map (MDB_WRITEMAP) is the whole file, sparse past the pages in
 * use. The first write to each new page faults, and the kernel then
 * allocates a block and a zeroed page-cache page: measured with batches of
 * ten sends into a growing home, 38 % of the time went to these faults
 * (perf), and the same loop ran 1.45x as fast over a file populated ahead.
 * So in writable homes with relaxed durability a background thread keeps
 * the PF_WINDOW bytes past LMDB's last page populated, through a mapping of
 * its own (MADV_POPULATE_WRITE: it faults pages in for writing without
 * storing anything, so racing with any writer of any process is harmless;
 * LMDB's own map then finds the pages in the page cache). The thread starts
 * once the home has grown PF_START past its size at open, so a home that
 * reuses its freed pages (or a short-lived process) never has one; that
 * also keeps most forking programs single-threaded (AddressSanitizer's
 * allocator, unlike glibc's malloc, can be inherited locked by a child
 * forked while another thread allocates). Not in `full` homes: there a
 * writable map's sync is an msync of the whole map, which would also write
 * the populated zeros. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
#define PF_WINDOW (32u << 20)
#define PF_CHUNK (2u << 20)
#define PF_START (2u << 20)

static int reserve_to(lmq_store *s, uint64_t want);

static void *
prefault_main(void *arg)
{
    lmq_store *s = arg;
    int fd;
    if (mdb_env_get_fd(s->env, &fd) != 0)
        return NULL;
    pthread_mutex_lock(&s->pf_mu);
    while (!s->pf_stop) {
        uint64_t from = s->pf_done, to = s->pf_want;
        if (from >= to) {
            pthread_cond_wait(&s->pf_cv, &s->pf_mu);
            continue;
        }
        pthread_mutex_unlock(&s->pf_mu);
        /* Only allocated blocks are populated ("reservations"): reserve
         * the window first (a full disk: as far as the reserve goes). */
        reserve_to(s, to);
        struct stat st;
        bool failed = fstat(fd, &st) != 0;
        if (!failed && to > (uint64_t)st.st_size)
            to = (uint64_t)st.st_size & ~(uint64_t)(PF_CHUNK - 1);
        while (!failed && from < to) {
            size_t len = to - from < PF_CHUNK ? (size_t)(to - from) : PF_CHUNK;
            void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                           (off_t)from);
            failed = m == MAP_FAILED;
            if (!failed) {
                /* the folios it creates: "large folios" below */
                (void)madvise(m, len, MADV_HUGEPAGE);
                failed = madvise(m, len, MADV_POPULATE_WRITE) != 0;
                munmap(m, len);
            }
            if (!failed)
                from += len;
        }
        pthread_mutex_lock(&s->pf_mu);
        /* Done (or not possible: an older kernel, a full disk): either way
         * nothing to do until the home grows past this point. */
        __atomic_store_n(&s->pf_done, s->pf_want > to ? s->pf_want : to,
                         __ATOMIC_RELAXED);
        pthread_cond_broadcast(&s->pf_cv);
    }
    pthread_mutex_unlock(&s->pf_mu);
    return NULL;
}

/* After a commit: once the home has grown PF_START since open, if the pages
 * in use come within half a window of what is populated, ask the thread
 * (started here the first time) for more. */
static void
prefault_note(lmq_store *s)
{
    if (!s->writemap || s->durability == LMQ_DURABILITY_FULL)
        return;
    MDB_envinfo info;
    env_info(s, &info);
    uint64_t used = (uint64_t)(info.me_last_pgno + 1) * s->psize;
    if (used < s->pf_start ||
        used + PF_WINDOW / 2 <= __atomic_load_n(&s->pf_done, __ATOMIC_RELAXED))
        return;
    pthread_mutex_lock(&s->pf_mu);
    if (s->pf_done < used) /* LMDB wrote every page below */
        __atomic_store_n(&s->pf_done, used, __ATOMIC_RELAXED);
    s->pf_want = used + PF_WINDOW;
    if (!s->pf_running && !s->pf_stop &&
        pthread_create(&s->pf_thread, NULL, prefault_main, s) == 0)
        s->pf_running = true;
    pthread_cond_broadcast(&s->pf_cv);
    pthread_mutex_unlock(&s->pf_mu);
}

int
lmq__store_prefault_wait(lmq_store *s, uint64_t *used, uint64_t *ahead)
{
    MDB_envinfo info;
    env_info(s, &info);
    *used = (uint64_t)(info.me_last_pgno + 1) * s->psize;
    pthread_mutex_lock(&s->pf_mu);
    while (s->pf_running && s->pf_done < s->pf_want)
        pthread_cond_wait(&s->pf_cv, &s->pf_mu);
    uint64_t done = s->pf_done < s->map_size ? s->pf_done : s->map_size;
    *ahead = done > *used ? done - *used : 0;
    int running = s->pf_running;
    pthread_mutex_unlock(&s->pf_mu);
    return running;
}

static int begin(lmq_store *s, unsigned flags, MDB_txn **txn);
static size_t idl_pages(const MDB_val *v, const size_t **pg);
static int checkpoint_now(lmq_store *s);

/* ---- reservations: full disks ----------------------------------------------
 *
 * LMDB writes a page into a block the file system must find when the page
 * is written: in a writable map a store into a hole, which on a full disk
 * is SIGBUS for the writing process; with pwrite() a short write, which
 * LMDB reports as EIO. Neither may reach a caller. So every home keeps the
 * blocks LMDB may write allocated ahead of it (posix_fallocate), in steps
 * of RES_STEP (or an eighth of the home, whichever is more):
 *
 * - Writable map: the map is never larger than the allocated file. LMDB
 *   sizes the file to the map (ftruncate), so the map grows only after
 *   fallocate() has allocated the blocks, and running past the map is
 *   MDB_MAP_FULL, which grows it again or fails the one operation with
 *   LMQ_ENOSPC. No store into the map can fault for want of a block. All
 *   resizes of all processes (open, growth, adopting another's growth)
 *   hold flock() on HOME/mapmode and never make the file smaller than it
 *   is, since another process may map all of it.
 * - pwrite: blocks past the end of data.mdb are allocated with
 *   FALLOC_FL_KEEP_SIZE (the file keeps its size; LMDB's pwrite()s then
 *   land in allocated blocks); a write that still finds the disk full
 *   fails its operation with LMQ_ENOSPC (an EIO from LMDB with the file
 *   system full is reported as that).
 *
 * The reserve. Writes that add data (sends, queue creation, attributes,
 * tags, move tasks: lmq__store_write(), lmq__store_write_need()) run only
 * while `reserve` bytes plus their own size stay free beyond the pages in
 * use: allocated blocks past LMDB's last page, or failing those, pages on
 * LMDB's free list no reader holds. Otherwise they fail with LMQ_ENOSPC
 * before anything is written. Writes that give space back (receives,
 * visibility changes, deletes, purges, deleting a queue:
 * lmq__store_write_soft(), lmq__store_write_free()) are not checked: they
 * run in the reserve when the disk is full, and their pages go back on
 * the free list, which the next sends reuse. In FULL homes the checkpoint
 * pin keeps LMDB from reusing pages freed since the checkpoint, so a
 * freeing batch that finds no room checkpoints (which moves the pin) and
 * runs once more before it fails. Rejected: a ballast file released on
 * ENOSPC (the blocks it gives back are taken by whoever writes next,
 * another program included, and sends would need it re-created before
 * they may run again, while the home's own free pages go unused). */
#define RES_STEP (8u << 20)
#define RES_MIN_STEP (256u << 10)

/* The bytes up to LMDB's last committed page. */
static uint64_t
used_bytes(lmq_store *s)
{
    MDB_envinfo info;
    env_info(s, &info);
    return (uint64_t)(info.me_last_pgno + 1) * s->psize;
}

static uint64_t
res_step(uint64_t size)
{
    return size / 8 > RES_STEP ? size / 8 : RES_STEP;
}

static int
nospc(lmq_store *s, const char *why)
{
    return lmq__seterr(LMQ_ENOSPC, "home is full: %s (%llu bytes in use, "
                                   "%llu kept for receives and deletes)",
                       why, (unsigned long long)used_bytes(s),
                       (unsigned long long)s->reserve);
}

static uint64_t
fd_size(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Writable map (resize held exclusively, flock held): make the file
 * allocated up to want and the map as large as the file. 0 or an errno. */
static int
wm_reserve_locked(lmq_store *s, int fd, uint64_t want)
{
    uint64_t cur = fd_size(fd);
    int e = 0;
    if (want > cur) {
        e = posix_fallocate(fd, (off_t)cur, (off_t)(want - cur));
        if (e == 0)
            cur = want;
        else
            cur = fd_size(fd); /* part of it may be there */
    }
    if (is_dead(s))
        return EIO;
    if (cur > s->map_size) {
        int rc = set_mapsize(s, cur);
        if (rc == 0)
            __atomic_store_n(&s->map_size, cur, __ATOMIC_RELAXED);
        else if (!e)
            e = rc;
    }
    return s->map_size >= want ? 0 : e ? e : ENOSPC;
}

static int
reserve_to(lmq_store *s, uint64_t want)
{
    int fd;
    if (mdb_env_get_fd(s->env, &fd) != 0)
        return ENOSPC;
    if (s->writemap && want > s->max_map_size)
        return ENOSPC;
    /* whole steps of RES_MIN_STEP (LMDB's map size counts whole pages) */
    want = (want + RES_MIN_STEP - 1) & ~(uint64_t)(RES_MIN_STEP - 1);
    if (s->writemap) {
        if (want > s->max_map_size)
            want = s->max_map_size;
        if (want <= __atomic_load_n(&s->map_size, __ATOMIC_RELAXED))
            return 0;
        pthread_rwlock_wrlock(&s->resize);
        flock(s->mm_fd, LOCK_EX);
        int e = wm_reserve_locked(s, fd, want);
        flock(s->mm_fd, LOCK_UN);
        pthread_rwlock_unlock(&s->resize);
        return e;
    }
    int e = 0;
    pthread_mutex_lock(&s->res_mu);
    if (want > s->res_end) {
        if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)s->res_end,
                      (off_t)(want - s->res_end)) == 0)
            s->res_end = want;
        else if (errno == EOPNOTSUPP)
            s->res_end = want; /* cannot reserve: pwrite reports ENOSPC */
        else
            e = errno;
    }
    pthread_mutex_unlock(&s->res_mu);
    return e;
}

/* The end of what LMDB may write without new blocks. */
static uint64_t
res_end(lmq_store *s)
{
    if (s->writemap)
        return __atomic_load_n(&s->map_size, __ATOMIC_RELAXED);
    pthread_mutex_lock(&s->res_mu);
    uint64_t e = s->res_end;
    pthread_mutex_unlock(&s->res_mu);
    return e;
}

/* mdb_reader_list() callback: the oldest txnid of a live reader. */
static int
oldest_reader(const char *msg, void *ctx)
{
    uint64_t *oldest = ctx;
    long long pid;
    unsigned long long tid, txnid;
    if (sscanf(msg, "%lld %llx %llu", &pid, &tid, &txnid) == 3 &&
        txnid < *oldest)
        *oldest = txnid;
    return 0;
}

/* Bytes of free-list pages LMDB may reuse now (records older than every
 * reader). Walks the free list: only called when the home is nearly full. */
static uint64_t
reusable_bytes(lmq_store *s)
{
    MDB_txn *txn;
    if (begin(s, MDB_RDONLY, &txn) != 0)
        return 0;
    uint64_t oldest = mdb_txn_id(txn) + 1, pages = 0;
    mdb_reader_list(s->env, oldest_reader, &oldest);
    if (oldest == mdb_txn_id(txn)) /* ours: the next writer's is newer */
        oldest++;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, 0 /* LMDB's free list */, &cur) == 0) {
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            size_t id;
            const size_t *pg;
            if (k.mv_size != sizeof id)
                break;
            memcpy(&id, k.mv_data, sizeof id);
            if (id >= oldest)
                break;
            pages += idl_pages(&v, &pg);
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->resize);
    return pages * s->psize;
}

/* Before a write that adds data: room for need bytes plus the reserve,
 * reserving more blocks if it must. 0 or LMQ_ENOSPC (nothing written). */
static int
room_check(lmq_store *s, uint64_t need)
{
    uint64_t used = used_bytes(s), want = used + s->reserve + need;
    if (s->max_bytes && used + need > s->max_bytes) {
        /* the pages in use, less those free for reuse (FULL: after a
         * checkpoint has moved the pin, when that is what it takes) */
        uint64_t fr = reusable_bytes(s);
        if (used - (fr < used ? fr : used) + need > s->max_bytes &&
            s->logged && checkpoint_now(s) == 0)
            fr = reusable_bytes(s);
        if (used - (fr < used ? fr : used) + need > s->max_bytes)
            return lmq__seterr(LMQ_EOVERLIMIT,
                               "home is over its limit of %llu bytes "
                               "(max_bytes; %llu in use)",
                               (unsigned long long)s->max_bytes,
                               (unsigned long long)(used - (fr < used ? fr
                                                                      : used)));
    }
    if (want <= res_end(s))
        return 0;
    uint64_t step = res_step(used);
    int e = reserve_to(s, want + step);
    if (e)
        e = reserve_to(s, want);
    if (e == 0)
        return 0;
    uint64_t have = res_end(s) > used ? res_end(s) - used : 0;
    if (have + reusable_bytes(s) >= s->reserve + need)
        return 0;
    /* FULL: the pin keeps what was freed since the checkpoint; a
     * checkpoint moves it to now. */
    if (s->logged && checkpoint_now(s) == 0 &&
        have + reusable_bytes(s) >= s->reserve + need)
        return 0;
    if (s->writemap && want > s->max_map_size)
        return nospc(s, "the map is at max_map_size");
    return nospc(s, strerror(e));
}

/* Writable map, at open (before mdb_env_open; flock held): the map size to
 * configure, never less than the file (another process may map all of it). */
static uint64_t
wm_open_size(const char *dir, uint64_t map_size)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    struct stat st;
    uint64_t first = map_size < RES_STEP ? map_size : RES_STEP;
    /* A file smaller than a first step is a home whose first open failed
     * (LMDB wrote its meta pages, then could not extend the file): a map
     * of its size could not even open the databases. */
    if (stat(path, &st) == 0 && (uint64_t)st.st_size > first)
        return (uint64_t)st.st_size;
    return first;
}

/* Writable map, after mdb_env_open (flock held): allocate the whole file.
 * A home from before reservations may have a sparse map larger than the
 * disk can hold: alone, shrink it to what can be allocated (never below
 * the pages in use, which are allocated). */
static void
wm_open_reserve(lmq_store *s, bool alone)
{
    int fd;
    if (mdb_env_get_fd(s->env, &fd) != 0)
        return;
    uint64_t size = fd_size(fd);
    if (posix_fallocate(fd, 0, (off_t)size) == 0 || !alone)
        return;
    uint64_t used = used_bytes(s);
    for (uint64_t step = res_step(used);; step /= 2) {
        if (step < RES_MIN_STEP)
            step = 0; /* the pages in use: allocated, they were written */
        if (used + step < size && set_mapsize(s, used + step) == 0) {
            MDB_envinfo info;
            mdb_env_info(s->env, &info);
            s->map_size = size = info.me_mapsize;
        }
        if (is_dead(s))
            return;
        if (posix_fallocate(fd, 0, (off_t)size) == 0 || step == 0)
            return;
    }
}

/* An LMDB error of a commit: EIO from a short write on a full file system
 * is LMQ_ENOSPC. */
static int
commit_err(lmq_store *s, int rc)
{
    int fd;
    struct statvfs vs;
    if (rc == EIO && mdb_env_get_fd(s->env, &fd) == 0 &&
        fstatvfs(fd, &vs) == 0 &&
        (uint64_t)vs.f_bavail * vs.f_frsize < (1u << 20))
        rc = ENOSPC;
    if (rc == EDQUOT)
        rc = ENOSPC;
    return map_err(rc, "commit");
}

/* Read HOME/mapmode: 0 (and *wm) when present, 1 when absent, < 0 on error. */
static int
read_mapmode(const char *path, bool *wm)
{
    char buf[32];
    int fd = lmq__home_open(path, O_RDONLY);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        return lmq__seterr(LMQ_EIO, "cannot open %s: %s", path,
                           strerror(errno));
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        return lmq__seterr(LMQ_EIO, "cannot read %s: %s", path,
                           strerror(errno));
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    if (strcmp(buf, "writable") == 0 || strcmp(buf, "pwrite") == 0) {
        *wm = buf[0] == 'w';
        return 0;
    }
    return lmq__seterr(LMQ_EVERSION, "%s: unknown map mode \"%s\"", path,
                       buf);
}

/* Settle the home's map mode: the recorded one, or (new home) want, written
 * to a temporary file and linked into place so that of several processes
 * creating a home at once exactly one choice wins and all read it. */
static int
home_mapmode(const char *dir, bool want, bool *wm)
{
    char path[PATH_MAX], data[PATH_MAX], tmp[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/mapmode", dir) >= (int)sizeof path ||
        snprintf(tmp, sizeof tmp, "%s/.mapmode.XXXXXX", dir) >=
            (int)sizeof tmp)
        return lmq__seterr(LMQ_EINVAL, "home path too long");
    snprintf(data, sizeof data, "%s/data.mdb", dir);
    for (int tries = 0; tries < 8; tries++) {
        int rc = read_mapmode(path, wm);
        if (rc <= 0)
            return rc;
        if (access(data, F_OK) == 0) {
            /* data.mdb appears only after mapmode does: read it again. */
            rc = read_mapmode(path, wm);
            if (rc == 1) { /* a home from before mapmode existed */
                *wm = false;
                return 0;
            }
            return rc;
        }
        int fd = mkstemp(tmp);
        if (fd < 0)
            return lmq__seterr(LMQ_EIO, "cannot create %s: %s", tmp,
                               strerror(errno));
        const char *text = want ? "writable\n" : "pwrite\n";
        bool ok = lmq__home_fix(tmp, fd) == 0 &&
                  write(fd, text, strlen(text)) == (ssize_t)strlen(text) &&
                  fsync(fd) == 0;
        close(fd);
        int lrc = ok ? link(tmp, path) : -1;
        int err = errno;
        unlink(tmp);
        snprintf(tmp, sizeof tmp, "%s/.mapmode.XXXXXX", dir);
        if (lrc == 0) {
            *wm = want;
            return 0;
        }
        if (err != EEXIST)
            return lmq__seterr(LMQ_EIO, "cannot create %s: %s", path,
                               strerror(err));
    }
    return lmq__seterr(LMQ_EIO, "%s keeps changing", path);
}

bool
lmq__store_writemap(const lmq_store *s)
{
    return s->writemap;
}

static void pin_release(lmq_store *s);
static void img_release(lmq_store *s);
static void img_free(lmq_store *s);
static int checkpoint(lmq_store *s, MDB_txn *txn);
static int wal_enter(lmq_store *s, MDB_txn *txn);
static int revert_meta(lmq_wal *w, const char *dir, const lmq_wal_ckpt *ck);
static int wal_recover(lmq_store *s, const lmq_wal_ckpt *ck, int n);

/* Open the named databases: in a read-only transaction when they all
 * exist (no commit, so the log is left as it is), else creating them in an
 * unlogged write transaction (a new home: checkpoint first if the log holds
 * records; alone, recovery follows and settles the log). */
static void adopt_mapsize(lmq_store *s);

static int
open_dbis(lmq_store *s, bool alone)
{
    for (int write = 0, tries = 0; write < 2; write++) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &txn);
        if (rc == MDB_MAP_RESIZED && tries++ < 8) {
            /* another process grew the map since mdb_env_open(): adopt
             * its size, as begin() does (found by the kill storm: a
             * writable-map open failed with LMQ_EIO) */
            adopt_mapsize(s);
            if (is_dead(s))
                return refuse_dead();
            write--;
            continue;
        }
        if (rc)
            return map_err(rc, "open databases");
        if (write && !alone &&
            lmq__wal_enter(s->wal, mdb_txn_id(txn), false) &&
            (rc = checkpoint(s, txn)) != 0) {
            mdb_txn_abort(txn);
            return rc;
        }
        for (int i = 0; rc == 0 && i < LMQ_DB__COUNT; i++)
            rc = mdb_dbi_open(txn, dbnames[i], write ? MDB_CREATE : 0,
                              &s->dbi[i]);
        if (rc == MDB_NOTFOUND && !write) {
            mdb_txn_abort(txn);
            continue;
        }
        if (rc) {
            mdb_txn_abort(txn);
            return map_err(rc, "open databases");
        }
        /* committing keeps the handles, also of a read-only txn */
        if ((rc = mdb_txn_commit(txn)) != 0)
            return map_err(rc, "open databases");
        return 0;
    }
    return 0;
}

/* ---- checking data.mdb before LMDB trusts it -------------------------------
 *
 * LMDB trusts its data file: a meta page pointing past the end of the file,
 * or a root page full of garbage, crashes the process that reads it
 * (SIGBUS, SIGSEGV, an LMDB assertion) instead of failing. So before
 * mdb_env_open, check with pread what LMDB reads first: both meta pages
 * (as LMDB does: meta flag, magic, version; then sane page size, last page
 * and roots), the one with the higher txnid (the one LMDB uses), the root
 * pages of the free and main databases, the whole main database (a handful
 * of pages: the named databases' records) and each named database's root.
 * A file shorter than its last page is not damage by itself (LMDB does not
 * write pages freed in the transaction that allocated them), so the pages
 * missing at the end must all be in the free database. A 0-byte data.mdb
 * is a new home only if the home was never opened (no lmq.wake, which
 * lmq_env_open creates after LMDB's first commit). Opens are serialised
 * (the log's open lock), so no other lmq process is creating the file now.
 * LMDB has no page checksums: garbage in a page below the roots is not
 * seen here (see docs/DURABILITY.md, "A damaged data file").
 *
 * The layout is LMDB 0.9's data format 1 on a 64-bit host, native byte
 * order: a 16-byte page header (page number u64, pad u16, flags u16, lower
 * and upper bounds u16, or an overflow page count u32), a meta page's
 * MDB_meta after it (magic u32, version u32, address u64, map size u64,
 * the free and main databases' MDB_db of 48 bytes each, last page u64,
 * txnid u64), nodes of 8 bytes (data size or child page number in lo, hi
 * and, for a child, flags; flags; key size) then key and data. */
#define DF_HDR 16
#define DF_FLAGS 10
#define DF_LOWER 12
#define DF_UPPER 14
#define DF_BRANCH 0x01
#define DF_LEAF 0x02
#define DF_OVERFLOW 0x04
#define DF_META 0x08
#define DF_LEAF2 0x20
#define DF_MAGIC 0xBEEFC0DEu
#define DF_PSIZE 40      /* the free db's md_pad */
#define DF_FREE_DB 40
#define DF_MAIN_DB 88
#define DF_DB_LEN 48
#define DF_DB_DEPTH 6
#define DF_DB_ROOT 40
#define DF_LAST_PG 136
#define DF_TXNID 144
#define DF_META_END 152
#define DF_NONE UINT64_MAX /* P_INVALID: an empty tree */
#define DF_BIGDATA 0x01
#define DF_SUBDATA 0x02
#define DF_MAX_DEPTH 32    /* LMDB's cursor stack */
#define DF_MAX_READS 65536 /* pages read at most (the free db walk) */

struct dfcheck {
    int fd;
    const char *path;
    uint32_t psize;
    uint64_t last;   /* last page in use (the meta's) */
    uint64_t npages; /* whole pages in the file */
    unsigned reads;
    bool gave_up;    /* the free db was too large to check */
    struct pgset freed; /* free pages at or past npages */
};

static uint16_t
df_u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t
df_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t
df_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static int
df_bad(const struct dfcheck *dc, const char *what, uint64_t pg)
{
    return lmq__seterr(LMQ_ECORRUPT, "%s is damaged: %s (page %llu)",
                       dc->path, what, (unsigned long long)pg);
}

/* Read len bytes from page pg on (len > psize: an overflow run). */
static int
df_read(struct dfcheck *dc, uint64_t pg, uint8_t *buf, size_t len)
{
    uint64_t n = (len + dc->psize - 1) / dc->psize;
    if (pg < 2 || pg > dc->last || n - 1 > dc->last - pg)
        return df_bad(dc, "page number out of range", pg);
    if (pg + n > dc->npages)
        return lmq__seterr(LMQ_ECORRUPT, "%s is damaged: truncated to %llu "
                           "pages, page %llu is in use", dc->path,
                           (unsigned long long)dc->npages,
                           (unsigned long long)(pg + n - 1));
    dc->reads++;
    ssize_t r = pread(dc->fd, buf, len, (off_t)(pg * dc->psize));
    if (r != (ssize_t)len)
        return lmq__seterr(LMQ_EIO, "cannot read %s: %s", dc->path,
                           r < 0 ? strerror(errno) : "short read");
    if (df_u64(buf) != pg)
        return df_bad(dc, "page header names another page", pg);
    return 0;
}

/* Check a B-tree page's header and node offsets: 0, or ECORRUPT. */
static int
df_tree_page(struct dfcheck *dc, uint64_t pg, const uint8_t *p)
{
    uint16_t flags = df_u16(p + DF_FLAGS) & 0x0f;
    unsigned lower = df_u16(p + DF_LOWER), upper = df_u16(p + DF_UPPER);
    bool branch = flags == DF_BRANCH;
    if (!branch && flags != DF_LEAF)
        return df_bad(dc, "not a B-tree page", pg);
    if (lower < DF_HDR || lower % 2 || lower > upper || upper > dc->psize ||
        (branch && lower - DF_HDR < 2 * 2))
        return df_bad(dc, "bad page bounds", pg);
    unsigned nkeys = (lower - DF_HDR) / 2;
    for (unsigned i = 0; i < nkeys; i++) {
        unsigned off = df_u16(p + DF_HDR + 2 * i);
        if (off < upper || off + 8 > dc->psize ||
            off + 8 + df_u16(p + off + 6) > dc->psize)
            return df_bad(dc, "bad node", pg);
        if (!branch) {
            uint16_t nf = df_u16(p + off + 4);
            uint64_t dsz = df_u16(p + off) |
                           ((uint64_t)df_u16(p + off + 2) << 16);
            size_t need = nf & DF_BIGDATA ? 8 : dsz;
            if (off + 8 + df_u16(p + off + 6) + need > dc->psize)
                return df_bad(dc, "bad node", pg);
        }
    }
    return 0;
}

typedef int (*df_leaf_fn)(struct dfcheck *dc, const uint8_t *node,
                          const uint8_t *data);

/* Walk the tree under pg (leaf nodes to fn; NULL: the root page only). */
static int
df_walk(struct dfcheck *dc, uint64_t pg, unsigned depth, df_leaf_fn fn)
{
    if (pg == DF_NONE)
        return 0;
    if (depth >= DF_MAX_DEPTH)
        return df_bad(dc, "tree too deep", pg);
    if (dc->reads >= DF_MAX_READS) {
        dc->gave_up = true;
        return 0;
    }
    uint8_t *p = malloc(dc->psize);
    if (!p)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    int rc = df_read(dc, pg, p, dc->psize);
    if (rc == 0)
        rc = df_tree_page(dc, pg, p);
    unsigned nkeys = rc ? 0 : (df_u16(p + DF_LOWER) - DF_HDR) / 2;
    bool branch = rc == 0 && (df_u16(p + DF_FLAGS) & 0x0f) == DF_BRANCH;
    for (unsigned i = 0; fn && rc == 0 && i < nkeys; i++) {
        const uint8_t *node = p + df_u16(p + DF_HDR + 2 * i);
        if (branch)
            rc = df_walk(dc,
                         df_u16(node) | (uint64_t)df_u16(node + 2) << 16 |
                             (uint64_t)df_u16(node + 4) << 32,
                         depth + 1, fn);
        else
            rc = fn(dc, node, node + 8 + df_u16(node + 6));
    }
    free(p);
    return rc;
}

/* A main db entry: a named database's record; check its root page. */
static int
df_named(struct dfcheck *dc, const uint8_t *node, const uint8_t *data)
{
    if (!(df_u16(node + 4) & DF_SUBDATA))
        return 0;
    if ((df_u16(node) | (uint32_t)df_u16(node + 2) << 16) != DF_DB_LEN)
        return df_bad(dc, "bad database record", 0);
    return df_walk(dc, df_u64(data + DF_DB_ROOT), 0, NULL);
}

/* A free db entry: a list of page numbers (count, then pages); remember
 * the ones past the end of the file. */
static int
df_free(struct dfcheck *dc, const uint8_t *node, const uint8_t *data)
{
    uint64_t dsz = df_u16(node) | (uint64_t)df_u16(node + 2) << 16;
    uint8_t *big = NULL;
    int rc = 0;
    if (dsz < 8 || dsz % 8)
        return df_bad(dc, "bad free list", 0);
    if (df_u16(node + 4) & DF_BIGDATA) {
        uint64_t pg = df_u64(data);
        if (dsz > (uint64_t)dc->psize * 4096 || !(big = malloc(DF_HDR + dsz)))
            return dsz > 8 ? df_bad(dc, "bad free list", pg)
                           : lmq__seterr(LMQ_ENOMEM, NULL);
        if ((rc = df_read(dc, pg, big, DF_HDR + dsz)) == 0 &&
            !(df_u16(big + DF_FLAGS) & DF_OVERFLOW))
            rc = df_bad(dc, "not an overflow page", pg);
        data = big + DF_HDR;
    }
    uint64_t n = rc ? 0 : df_u64(data);
    if (rc == 0 && n > dsz / 8 - 1)
        rc = df_bad(dc, "bad free list", 0);
    for (uint64_t i = 1; rc == 0 && i <= n; i++) {
        uint64_t pg = df_u64(data + 8 * i);
        if (pg >= dc->npages && pg <= dc->last &&
            pgset_add(&dc->freed, pg) != 0)
            rc = lmq__seterr(LMQ_ENOMEM, NULL);
    }
    free(big);
    return rc;
}

/* Check meta page i (buf: its first DF_META_END bytes): NULL or why not.
 * LMDB reads both meta pages' flags, magic and version, and the rest of the
 * one it uses only; so does this (tree: check the rest too). The other one
 * may legitimately point nowhere: when LMDB fails to write a meta page it
 * writes the old transaction id and last page back over it but keeps the
 * failed transaction's roots (mdb_env_write_meta), and found by an injected
 * write error (tests/check_iofail) this was reported as damage. */
static const char *
df_meta_bad(const uint8_t *m, unsigned i, bool tree)
{
    uint32_t ps = df_u32(m + DF_PSIZE);
    uint64_t last = df_u64(m + DF_LAST_PG);
    if (!(df_u16(m + DF_FLAGS) & DF_META) ||
        df_u32(m + DF_HDR) != DF_MAGIC)
        return "not a meta page";
    if (df_u32(m + DF_HDR + 4) != 1)
        return NULL; /* another format: LMDB reports the version */
    if (df_u64(m) != i)
        return "meta page header names another page";
    if (ps < 512 || ps > 65536 || (ps & (ps - 1)))
        return "bad page size in meta page";
    if (!tree)
        return NULL;
    if (last < 1)
        return "bad last page in meta page";
    for (unsigned d = 0; d < 2; d++) {
        const uint8_t *db = m + (d ? DF_MAIN_DB : DF_FREE_DB);
        uint64_t root = df_u64(db + DF_DB_ROOT);
        if (root != DF_NONE && (root < 2 || root > last))
            return "bad root page in meta page";
        if (df_u16(db + DF_DB_DEPTH) > DF_MAX_DEPTH)
            return "bad tree depth in meta page";
    }
    return NULL;
}

/* One pass of the check; *txnid: the meta page's it used (0: none). */
static int
check_data_once(const char *dir, uint64_t *txnid)
{
    *txnid = 0;
    if (sizeof(size_t) != 8)
        return 0; /* the layout above is the 64-bit one */
    char path[PATH_MAX], wake[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/data.mdb", dir) >= (int)sizeof path ||
        snprintf(wake, sizeof wake, "%s/lmq.wake", dir) >= (int)sizeof wake)
        return lmq__seterr(LMQ_EINVAL, "home path too long");
    int fd = lmq__home_open(path, O_RDONLY);
    if (fd < 0)
        return errno == ENOENT ? 0
                               : lmq__seterr(LMQ_EIO, "cannot open %s: %s",
                                             path, strerror(errno));
    struct dfcheck dc = {.fd = fd, .path = path};
    struct stat st;
    uint8_t m[2][DF_META_END];
    const char *why[2] = {NULL, NULL};
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = lmq__seterr(LMQ_EIO, "cannot stat %s: %s", path,
                         strerror(errno));
        goto out;
    }
    if (st.st_size == 0) {
        /* LMDB makes a new home of an empty file: only right if lmq never
         * finished opening this one. */
        if (access(wake, F_OK) == 0)
            rc = lmq__seterr(LMQ_ECORRUPT, "%s is damaged: empty, in a home "
                             "that was in use (%s exists)", path, wake);
        goto out;
    }
    if (pread(fd, m[0], DF_META_END, 0) != DF_META_END) {
        rc = lmq__seterr(LMQ_ECORRUPT, "%s is damaged: truncated to %lld "
                         "bytes", path, (long long)st.st_size);
        goto out;
    }
    why[0] = df_meta_bad(m[0], 0, false);
    if (df_u32(m[0] + DF_HDR + 4) != 1 && !why[0])
        goto out; /* LMDB reports MDB_VERSION_MISMATCH */
    dc.psize = why[0] ? (uint32_t)sysconf(_SC_PAGESIZE)
                      : df_u32(m[0] + DF_PSIZE);
    if ((uint64_t)st.st_size < 2ull * dc.psize ||
        pread(fd, m[1], DF_META_END, dc.psize) != DF_META_END) {
        rc = lmq__seterr(LMQ_ECORRUPT, "%s is damaged: truncated to %lld "
                         "bytes, less than its two meta pages", path,
                         (long long)st.st_size);
        goto out;
    }
    why[1] = df_meta_bad(m[1], 1, false);
    if (!why[0] && !why[1] && df_u32(m[1] + DF_PSIZE) != dc.psize)
        why[1] = "meta pages disagree on the page size";
    if (!why[0] && !why[1]) {
        unsigned u = df_u64(m[1] + DF_TXNID) > df_u64(m[0] + DF_TXNID);
        why[u] = df_meta_bad(m[u], u, true);
    }
    if (why[0] || why[1]) {
        /* LMDB 0.9 refuses a file with either meta page not a meta
         * page, or the one it uses bad. */
        unsigned i = why[0] ? 0 : 1;
        rc = lmq__seterr(LMQ_ECORRUPT, "%s is damaged: %s (meta page %u%s)",
                         path, why[i], i,
                         why[0] && why[1] ? ", and meta page 1" : "");
        goto out;
    }
    const uint8_t *use =
        df_u64(m[1] + DF_TXNID) > df_u64(m[0] + DF_TXNID) ? m[1] : m[0];
    *txnid = df_u64(use + DF_TXNID);
    dc.last = df_u64(use + DF_LAST_PG);
    dc.npages = (uint64_t)st.st_size / dc.psize;
    if ((rc = df_walk(&dc, df_u64(use + DF_FREE_DB + DF_DB_ROOT), 0,
                      dc.npages > dc.last ? NULL : df_free)) != 0 ||
        (rc = df_walk(&dc, df_u64(use + DF_MAIN_DB + DF_DB_ROOT), 0,
                      df_named)) != 0)
        goto out;
    /* Pages missing at the end must all be free. */
    for (uint64_t pg = dc.npages; !dc.gave_up && pg <= dc.last; pg++) {
        if (!pgset_has(&dc.freed, pg)) {
            rc = lmq__seterr(LMQ_ECORRUPT, "%s is damaged: truncated to %llu "
                             "pages, page %llu of %llu is in use", path,
                             (unsigned long long)dc.npages,
                             (unsigned long long)pg,
                             (unsigned long long)dc.last + 1);
            break;
        }
    }
out:
    free(dc.freed.v);
    close(fd);
    return rc;
}

/* The check (see above): 0, LMQ_ECORRUPT or LMQ_EIO. Other processes may
 * be writing meanwhile (opens exclude each other, commits do not): the
 * pages of the tree read can be freed and reused once a newer transaction
 * commits, so a failure only counts if the newest meta page is still the
 * one the pass used. A home that keeps changing under us is in use by a
 * sound writer: leave it to LMDB. */
static int
check_data_file(const char *dir)
{
    for (int tries = 0; tries < 100; tries++) {
        uint64_t used, now;
        int rc = check_data_once(dir, &used);
        if (rc == 0 || used == 0)
            return rc;
        char err[512];
        snprintf(err, sizeof err, "%s", lmq_errmsg());
        if (check_data_once(dir, &now) == 0)
            return 0;
        if (now == used) /* the first pass's report */
            return lmq__seterr(rc, "%s", err + strcspn(err, " ") + 1);
    }
    return 0;
}

/* check_data_file() found data.mdb damaged in a home alone at its open
 * with no checkpoint in the log. If the home was never opened to the end
 * (no lmq.wake), an OS crash hit its first open: LMDB had written the meta
 * pages and the creating transaction without a sync (MDB_NOSYNC), in any
 * order, and none of it was synced by a checkpoint yet. Nothing in it was
 * ever acknowledged (a `full` commit needs a checkpoint before it, and
 * lmq_env_open returns only after lmq.wake exists), so the home is made
 * anew, as for a data.mdb left empty. Found by the crash-state exploration
 * (docs/DURABILITY.md, "Crash states"): every later open used to refuse
 * such a home with LMQ_ECORRUPT. Returns 0, or LMQ_ECORRUPT (the home was
 * opened before: real damage) or LMQ_EIO. */
static int
first_open_unfinished(const char *dir)
{
    char path[PATH_MAX], wake[PATH_MAX], err[512];
    snprintf(err, sizeof err, "%s", lmq_errmsg());
    if (snprintf(path, sizeof path, "%s/data.mdb", dir) >= (int)sizeof path ||
        snprintf(wake, sizeof wake, "%s/lmq.wake", dir) >= (int)sizeof wake ||
        access(wake, F_OK) == 0)
        return lmq__seterr(LMQ_ECORRUPT, "%s",
                           err + strcspn(err, " ") + 1); /* as it was */
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || ftruncate(fd, 0) != 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return lmq__seterr(LMQ_EIO, "cannot start %s anew: %s", path,
                           strerror(e));
    }
    close(fd);
    return check_data_file(dir);
}

/* LMDB aborts the process when one of its assertions fails, which with a
 * sound file and library means a damaged page below the roots (it has no
 * page checksums, and check_data_file reads only the roots): name the file
 * before it does. */
static void
assert_damaged(MDB_env *env, const char *msg)
{
    const char *dir = NULL;
    if (mdb_env_get_path(env, &dir) != 0 || !dir)
        dir = "(unknown home)";
    fprintf(stderr, "lmq: %s/data.mdb is damaged (LMDB: %s)\n", dir, msg);
}

/* Make sure dir/name is a regular file before LMDB opens it by name,
 * creating it empty with the home's mode if missing (LMDB would create it
 * with 0600 minus the umask, and follow a symbolic link): perms.c. */
static int
lmdb_file(const char *dir, const char *name)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return lmq__seterr(LMQ_EINVAL, "home path too long");
    int fd = lmq__home_open(path, O_RDWR | O_CREAT);
    if (fd < 0)
        return lmq__seterr(errno == EACCES || errno == EPERM ? LMQ_EPERM
                                                            : LMQ_EIO,
                           "cannot open %s: %s%s", path, strerror(errno),
                           errno == ELOOP ? " (a symbolic link)" : "");
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    return ok ? 0 : lmq__seterr(LMQ_EIO, "%s is not a regular file", path);
}

/* LMDB's newest transaction in dir's data.mdb (the higher txnid of its two
 * meta pages, both sound), or 0 when it cannot tell. */
static uint64_t
data_txnid(const char *dir)
{
    char path[PATH_MAX];
    uint8_t m[DF_META_END];
    uint64_t best = 0;
    uint32_t ps = 0;
    if (sizeof(size_t) != 8 ||
        snprintf(path, sizeof path, "%s/data.mdb", dir) >= (int)sizeof path)
        return 0;
    int fd = lmq__home_open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    for (unsigned i = 0; i < 2; i++) {
        if (pread(fd, m, sizeof m, (off_t)i * ps) != (ssize_t)sizeof m ||
            df_meta_bad(m, i, true) || df_u32(m + DF_HDR + 4) != 1 ||
            (i == 1 && df_u32(m + DF_PSIZE) != ps)) {
            best = 0;
            break;
        }
        ps = df_u32(m + DF_PSIZE);
        if (df_u64(m + DF_TXNID) > best)
            best = df_u64(m + DF_TXNID);
    }
    close(fd);
    return best;
}

static int
store_create(const char *dir, const lmq_store_opts *o, const struct stat *st,
             lmq_store **out)
{
    lmq_store *s = calloc(1, sizeof *s);
    int rc;
    if (!s)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    if ((rc = home_mapmode(dir, o->writemap, &s->writemap)) != 0) {
        free(s);
        return rc;
    }
    s->map_size = o->map_size;
    s->max_map_size = o->max_map_size;
    /* A home limited to a small map keeps at most a quarter of it. */
    s->reserve = o->reserve < o->max_map_size / 4 ? o->reserve
                                                  : o->max_map_size / 4;
    s->mm_fd = -1;
    s->max_bytes = o->max_bytes;
    pthread_mutex_init(&s->res_mu, NULL);
    s->durability = o->durability;
    s->flush_interval_ms = o->flush_interval_ms ? o->flush_interval_ms : 1000;
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->pid = getpid();
    s->refs = 1;
    pthread_rwlock_init(&s->resize, NULL);
    pthread_mutex_init(&s->flush_mu, NULL);
    pthread_cond_init(&s->flush_cv, NULL);
    pthread_mutex_init(&s->gc_mu, NULL);
    pthread_cond_init(&s->gc_gather_cv, NULL);
    pthread_mutex_init(&s->pf_mu, NULL);
    pthread_cond_init(&s->pf_cv, NULL);
    s->gc_tail = &s->gc_head;

    pthread_mutex_init(&s->pin_mu, NULL);
    pthread_cond_init(&s->pin_cv, NULL);
    s->logged = o->durability == LMQ_DURABILITY_FULL;

    /* The log: alone, revert LMDB to the last checkpoint if records follow
     * it (replayed below, once LMDB is open). */
    bool alone = false, have_ck = false, warm = false;
    lmq_wal_ckpt ck;
    int nrec = 0;
    if ((rc = lmq__wal_open(dir, &s->wal, &alone)) != 0)
        goto fail_lmq;
    if (alone && lmq__wal_last_ckpt(s->wal, &ck) == 0) {
        have_ck = true;
        nrec = lmq__wal_verify(s->wal, &ck); /* damage: LMQ_ECORRUPT */
        /* Only processes ended since the records were written (no OS
         * crash): data.mdb holds them all, and the log stays as it is. */
        if (nrec > 0 && lmq__wal_warm(s->wal, &ck, nrec, data_txnid(dir))) {
            warm = true;
            nrec = 0;
        }
        if (nrec > 0 && (rc = revert_meta(s->wal, dir, &ck)) == LMQ__NOTFOUND)
            nrec = 0; /* no data file: nothing to replay onto */
        else if (nrec < 0 || rc != 0) {
            rc = nrec < 0 ? nrec : rc;
            goto fail_lmq;
        }
    }

    /* Before LMDB trusts data.mdb (after a revert, the reverted file). */
    if (((rc = check_data_file(dir)) != 0 &&
         (rc != LMQ_ECORRUPT || !alone || have_ck ||
          (rc = first_open_unfinished(dir)) != 0)) ||
        (rc = lmdb_file(dir, "data.mdb")) != 0 ||
        (rc = lmdb_file(dir, "lock.mdb")) != 0)
        goto fail_lmq;
    if ((rc = mdb_env_create(&s->env)) != 0)
        goto fail;
    mdb_env_set_assert(s->env, assert_damaged);
    mdb_env_set_maxdbs(s->env, LMQ_DB__COUNT + 2);
    mdb_env_set_maxreaders(s->env, o->max_readers ? o->max_readers : 1024);
    if (s->writemap) {
        /* Reservations: flock HOME/mapmode around every resize. */
        char mm[PATH_MAX];
        snprintf(mm, sizeof mm, "%s/mapmode", dir);
        if ((s->mm_fd = open(mm, O_RDONLY | O_CLOEXEC)) < 0) {
            rc = lmq__seterr(LMQ_EIO, "cannot open %s: %s", mm,
                             strerror(errno));
            goto fail_lmq;
        }
        flock(s->mm_fd, LOCK_EX);
        s->map_size = wm_open_size(dir, o->map_size);
    }
    if ((rc = mdb_env_set_mapsize(s->env, (size_t)s->map_size)) != 0)
        goto fail;
    /* No LMDB syncs in any mode: FULL commits are made durable by the log,
     * checkpoints and the PERIODIC flusher call mdb_env_sync(). */
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | MDB_NOSYNC;
    if (s->writemap)
        flags |= MDB_WRITEMAP;
    /* The mode matters only if a file vanished since lmdb_file(). */
    rc = mdb_env_open(s->env, dir, flags, 0600);
    if (rc == MDB_MAP_RESIZED)
        rc = mdb_env_set_mapsize(s->env, 0);
    if (rc != 0)
        goto fail;
    map_huge(s);

    /* Adopt a larger map another process may have set. */
    MDB_envinfo info;
    MDB_stat est;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &est);
    s->map_size = info.me_mapsize;
    s->psize = est.ms_psize;
    if (s->writemap) {
        wm_open_reserve(s, alone);
        flock(s->mm_fd, LOCK_UN);
    } else {
        int fd;
        if (mdb_env_get_fd(s->env, &fd) == 0)
            s->res_end = fd_size(fd);
    }
    s->pf_start = (uint64_t)(info.me_last_pgno + 1) * s->psize + PF_START;

    if ((rc = open_dbis(s, alone)) != 0)
        goto fail_lmq;
    if (alone && !warm &&
        (rc = wal_recover(s, have_ck ? &ck : NULL, nrec)) != 0)
        goto fail_lmq;
    /* The reader check (which may checkpoint the log) is the caller's,
     * once it knows the home's format: a home of a newer lmq is refused
     * before anything is written (env.c). */
    lmq__wal_opened(s->wal);

    if (o->durability == LMQ_DURABILITY_PERIODIC) {
        if (pthread_create(&s->flusher, NULL, flusher_main, s) == 0)
            s->flusher_running = true;
    }
    *out = s;
    return 0;
fail:
    rc = map_err(rc, dir);
fail_lmq:
    pin_release(s);
    if (s->env && !is_dead(s)) {
        mdb_env_close(s->env);
    } else if (s->env) { /* dead: see lmq__store_close() */
        keep_dead_env(s->env);
    }
    if (s->mm_fd >= 0)
        close(s->mm_fd);
    pthread_mutex_destroy(&s->res_mu);
    lmq__wal_close(s->wal);
    pthread_mutex_destroy(&s->pin_mu);
    pthread_cond_destroy(&s->pin_cv);
    pthread_rwlock_destroy(&s->resize);
    pthread_mutex_destroy(&s->flush_mu);
    pthread_cond_destroy(&s->flush_cv);
    pthread_mutex_destroy(&s->gc_mu);
    pthread_cond_destroy(&s->gc_gather_cv);
    pthread_mutex_destroy(&s->pf_mu);
    pthread_cond_destroy(&s->pf_cv);
    img_free(s);
    free(s);
    return rc;
}

int
lmq__store_open(const char *dir, const lmq_store_opts *o, lmq_store **out)
{
    struct stat st;
    *out = NULL;
    if (stat(dir, &st) != 0) /* made by lmq_env_open (perms.c) */
        return lmq__seterr(LMQ_EIO, "cannot stat %s: %s", dir,
                           strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return lmq__seterr(LMQ_EINVAL, "%s is not a directory", dir);

    pthread_mutex_lock(&registry_mu);
    pid_t me = getpid();
    for (lmq_store *s = registry; s; s = s->next) {
        if (s->dev == st.st_dev && s->ino == st.st_ino && s->pid == me) {
            s->refs++;
            pthread_mutex_unlock(&registry_mu);
            *out = s;
            return 0;
        }
    }
    lmq_store *s = NULL;
    int rc = store_create(dir, o, &st, &s);
    if (rc == 0) {
        s->next = registry;
        registry = s;
        *out = s;
    }
    pthread_mutex_unlock(&registry_mu);
    return rc;
}

void
lmq__store_close(lmq_store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&registry_mu);
    if (--s->refs > 0) {
        pthread_mutex_unlock(&registry_mu);
        return;
    }
    for (lmq_store **pp = &registry; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    pthread_mutex_unlock(&registry_mu);
    if (s->flusher_running) {
        pthread_mutex_lock(&s->flush_mu);
        s->stopping = true;
        pthread_cond_signal(&s->flush_cv);
        pthread_mutex_unlock(&s->flush_mu);
        pthread_join(s->flusher, NULL);
    }
    pthread_mutex_lock(&s->pf_mu);
    s->pf_stop = true;
    pthread_cond_broadcast(&s->pf_cv);
    pthread_mutex_unlock(&s->pf_mu);
    if (s->pf_running)
        pthread_join(s->pf_thread, NULL);
    if (s->pin) {
        /* Leave the log empty if this process wrote to it (FULL: the next
         * open alone need not replay it, and checks data.mdb as it finds
         * it), and give up the pin under the writer lock (see "the log").
         * A process that wrote nothing (a read) flushes nothing. */
        MDB_txn *txn;
        if (begin(s, 0, &txn) == 0) {
            if (s->logged && lmq__wal_records(s->wal) > 0)
                checkpoint(s, txn);
            pin_release(s);
            mdb_txn_abort(txn);
            pthread_rwlock_unlock(&s->resize);
        }
    }
    pin_release(s);
    if (!is_dead(s)) {
        /* FULL: the log holds every commit. PERIODIC: what this process
         * committed since its flusher's last sync. */
        if (s->durability == LMQ_DURABILITY_PERIODIC &&
            __atomic_load_n(&s->commits, __ATOMIC_RELAXED) > 0)
            mdb_env_sync(s->env, 1);
        mdb_env_close(s->env);
    } else {
        keep_dead_env(s->env);
    }
    /* Dead (set_mapsize): LMDB's env names a map it lost, and closing it
     * would munmap whatever that address holds now. It is left open, its
     * two descriptors with it, until the process exits. */
    if (s->mm_fd >= 0)
        close(s->mm_fd);
    pthread_mutex_destroy(&s->res_mu);
    lmq__wal_close(s->wal); /* after LMDB: the next open may recover */
    pthread_mutex_destroy(&s->pin_mu);
    pthread_cond_destroy(&s->pin_cv);
    pthread_rwlock_destroy(&s->resize);
    pthread_mutex_destroy(&s->flush_mu);
    pthread_cond_destroy(&s->flush_cv);
    pthread_mutex_destroy(&s->gc_mu);
    pthread_cond_destroy(&s->gc_gather_cv);
    pthread_mutex_destroy(&s->pf_mu);
    pthread_cond_destroy(&s->pf_cv);
    img_free(s);
    free(s);
}

/* ---- compaction -------------------------------------------------------------
 *
 * LMDB's free pages keep whatever they last held until reused: data written
 * in the clear before a queue was sealed, deleted messages. A compacted
 * copy (mdb_env_copyfd2, MDB_CP_COMPACT) holds only the pages in use,
 * renumbered, with no free list. The swap needs the home to itself: other
 * processes map data.mdb and would go on with the old file. So, in order:
 * 1. the open lock, held on a descriptor of its own (lmq__wal_exclude):
 *    opens wait; a process that has the home open already is seen by its
 *    read lock and the compaction refused (LMQ_EBUSY), nothing changed;
 * 2. sync and checkpoint (the log holds nothing data.mdb lacks);
 * 3. the copy into HOME/data.mdb.compact (created fresh, home mode),
 *    fsync'd: complete before any name points at it;
 * 4. close LMDB and the log; empty the log (fsync'd): its records and old
 *    page images may carry what the free pages held;
 * 5. rename() the copy over data.mdb, fsync the directory; release the
 *    open lock. The next open is alone: LMDB rebuilds its lock file's
 *    state from the new file, the log starts afresh.
 * A crash before 5 leaves the old data.mdb, complete (synced in 2), and
 * maybe a copy, which the next compaction deletes; after the rename, the
 * new file, complete (synced in 3). rename() is atomic: never neither.
 */
#define COMPACT_TMP "data.mdb.compact"

static int
compact_io(const char *what, const char *path)
{
    int err = errno;
    return lmq__seterr(err == ENOSPC || err == EDQUOT ? LMQ_ENOSPC : LMQ_EIO,
                       "compact: %s %s: %s", what, path, strerror(err));
}

int
lmq__store_compact(lmq_store *s, const char *dir, uint64_t *before,
                   uint64_t *after)
{
    char tmp[PATH_MAX], data[PATH_MAX];
    int lockfd = -1, fd = -1, rc;
    pid_t other;
    struct stat st;
    if (snprintf(tmp, sizeof tmp, "%s/" COMPACT_TMP, dir) >= (int)sizeof tmp ||
        snprintf(data, sizeof data, "%s/data.mdb", dir) >= (int)sizeof data) {
        lmq__store_close(s);
        return lmq__seterr(LMQ_EINVAL, "home path too long");
    }
    pthread_mutex_lock(&registry_mu);
    int refs = s->refs;
    pthread_mutex_unlock(&registry_mu);
    if (refs > 1) {
        lmq__store_close(s);
        return lmq__seterr(LMQ_EBUSY, "compact: this process has the home "
                           "%s open: close its other handles first", dir);
    }
    if ((rc = lmq__wal_exclude(dir, &lockfd, &other)) != 0) {
        lmq__store_close(s);
        return rc;
    }
    if (other) {
        rc = lmq__seterr(LMQ_EBUSY, "compact: the home %s is open in another "
                         "process (pid %ld): stop every process of the home "
                         "first; nothing was changed", dir, (long)other);
        goto out;
    }
    if (stat(data, &st) == 0 && before)
        *before = (uint64_t)st.st_size;
    /* A copy left by a compaction that crashed: never swapped in. */
    if (unlink(tmp) != 0 && errno != ENOENT) {
        rc = compact_io("cannot remove", tmp);
        goto out;
    }
    if ((rc = lmq__store_sync(s)) != 0)
        goto out;
    if ((fd = lmq__home_open(tmp, O_RDWR | O_CREAT | O_EXCL)) < 0) {
        rc = compact_io("cannot create", tmp);
        goto out;
    }
    pthread_rwlock_rdlock(&s->resize);
    rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
    pthread_rwlock_unlock(&s->resize);
    if (rc != 0) {
        errno = rc;
        rc = compact_io("cannot write", tmp);
        goto out;
    }
    if (fsync(fd) != 0 || fstat(fd, &st) != 0) {
        rc = compact_io("cannot sync", tmp);
        goto out;
    }
    if (after)
        *after = (uint64_t)st.st_size;
    close(fd);
    fd = -1;
    lmq__store_close(s); /* LMDB and the log; the open lock stays */
    s = NULL;
    if ((rc = lmq__wal_truncate(dir)) != 0)
        goto out;
    if (rename(tmp, data) != 0) {
        rc = compact_io("cannot rename over data.mdb:", tmp);
        unlink(tmp);
        goto out;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0)
        rc = compact_io("cannot sync", dir);
    if (dfd >= 0)
        close(dfd);
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    /* The log's descriptor first: closing lockfd drops every lock of this
     * process on HOME/wal.lock. */
    lmq__store_close(s);
    if (lockfd >= 0)
        close(lockfd);
    return rc;
}

int
lmq__store_sync(lmq_store *s)
{
    int rc = refuse_broken(s);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&s->resize);
    rc = mdb_env_sync(s->env, 1);
    pthread_rwlock_unlock(&s->resize);
    if (rc != 0)
        return flush_failed(s, map_err(rc, "sync"));
    if (!s->logged)
        return 0;
    return checkpoint_now(s);
}

/* A checkpoint under the writer lock of a transaction of its own. */
static int
checkpoint_now(lmq_store *s)
{
    MDB_txn *txn;
    int rc = begin(s, 0, &txn);
    if (rc)
        return rc;
    rc = checkpoint(s, txn);
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->resize);
    return rc;
}

int
lmq__store_reader_check(lmq_store *s)
{
    /* Under the writer lock (see "the log"): clearing the slot of a pin
     * whose owner died lets LMDB reuse the checkpoint's pages, so no write
     * may be under way; every write then starts with the log's check. */
    int dead = 0;
    MDB_txn *txn;
    if (begin(s, 0, &txn) != 0) {
        if (!s->wal)
            mdb_reader_check(s->env, &dead);
        return dead;
    }
    mdb_reader_check(s->env, &dead);
    /* No checkpoint here (a read-only open flushes nothing): the next
     * write's wal_enter() finds the dead owner's byte free and adopts the
     * checkpoint or makes one, before it writes anything. */
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->resize);
    return dead;
}

int
lmq__store_stat(lmq_store *s, uint64_t *file_bytes, uint64_t *map_bytes)
{
    MDB_envinfo info;
    MDB_stat st;
    pthread_rwlock_rdlock(&s->resize);
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &st);
    pthread_rwlock_unlock(&s->resize);
    if (file_bytes)
        *file_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    if (map_bytes)
        *map_bytes = info.me_mapsize;
    return 0;
}

/* Adopt the map size another process set (MDB_MAP_RESIZED). */
static void
adopt_mapsize(lmq_store *s)
{
    pthread_rwlock_wrlock(&s->resize);
    int fd;
    if (s->writemap && mdb_env_get_fd(s->env, &fd) == 0) {
        /* The file is as large as the largest map (reservations). */
        flock(s->mm_fd, LOCK_EX);
        wm_reserve_locked(s, fd, fd_size(fd));
        flock(s->mm_fd, LOCK_UN);
    } else if (!is_dead(s)) {
        set_mapsize(s, 0);
    }
    MDB_envinfo info;
    if (!is_dead(s)) {
        mdb_env_info(s->env, &info);
        s->map_size = info.me_mapsize;
    }
    pthread_rwlock_unlock(&s->resize);
}

/* Double the map (bounded); a writable map grows by a reserved step, or
 * what of it the disk has room for. Returns 0 if it grew. */
static int
grow_map(lmq_store *s)
{
    int rc = LMQ_ENOSPC;
    if (s->writemap) {
        uint64_t cur = __atomic_load_n(&s->map_size, __ATOMIC_RELAXED);
        for (uint64_t step = res_step(cur); step >= RES_MIN_STEP; step /= 2) {
            uint64_t want = cur + step > s->max_map_size ? s->max_map_size
                                                         : cur + step;
            if (want > cur && reserve_to(s, want) == 0)
                return 0;
        }
        return rc;
    }
    pthread_rwlock_wrlock(&s->resize);
    if (is_dead(s)) {
        pthread_rwlock_unlock(&s->resize);
        return rc;
    }
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    uint64_t cur = info.me_mapsize;
    if (s->max_map_size > cur) {
        uint64_t next = cur * 2;
        if (next > s->max_map_size)
            next = s->max_map_size;
        if (set_mapsize(s, next) == 0) {
            s->map_size = next;
            rc = 0;
        }
    }
    pthread_rwlock_unlock(&s->resize);
    return rc;
}

static int
begin(lmq_store *s, unsigned flags, MDB_txn **txn)
{
    if (is_dead(s))
        return refuse_dead();
    if (!(flags & MDB_RDONLY) && refuse_broken(s) != 0)
        return LMQ_EIO; /* a write after a failed flush */
    for (int tries = 0;; tries++) {
        pthread_rwlock_rdlock(&s->resize);
        int rc = mdb_txn_begin(s->env, NULL, flags, txn);
        if (rc == 0)
            return 0;
        pthread_rwlock_unlock(&s->resize);
        if (rc == MDB_MAP_RESIZED && tries < 8) {
            adopt_mapsize(s);
            continue;
        }
        if (rc == MDB_READERS_FULL && tries < 8) {
            lmq__store_reader_check(s);
            continue;
        }
        return map_err(rc, "begin transaction");
    }
}

int
lmq__store_read(lmq_store *s, lmq_txn_fn fn, void *arg)
{
    lmq_txn t = {.s = s, .rdonly = true};
    int rc = begin(s, MDB_RDONLY, &t.txn);
    if (rc)
        return rc;
    rc = fn(&t, arg);
    mdb_txn_abort(t.txn);
    pthread_rwlock_unlock(&s->resize);
    return rc;
}

/* ---- the log (FULL) ---------------------------------------------------------
 *
 * FULL processes open LMDB with MDB_NOSYNC and make each commit durable with
 * one flush of a redo record instead of LMDB's two (data pages, then the
 * meta page): lmq-bench --log-probe measured 1.75-3.3x the commit rate of
 * the same raw loops. The protocol, all of it under LMDB's writer lock
 * (held by a write transaction) unless said otherwise:
 *
 * - Record. lmq__txn_put/reserve/del/del_range and lmq__cur_del copy each
 *   write into the leader's record (wal.c); nested transactions truncate it
 *   to their savepoint when they abort, a rerun starts it again. Before
 *   mdb_txn_commit the leader appends it, tagged with the transaction's
 *   txnid, at the shared tail; after the commit and the lock, it flushes
 *   the log (lmq__wal_sync) and only then wakes the batch's owners. Soft
 *   batches (receives, visibility changes) skip the flush, except the first
 *   record after a checkpoint: recovery must see that records follow.
 * - Checkpoint S (every CKPT_RECORDS records or CKPT_BYTES, when the log is
 *   full, and whenever the log cannot be continued): sync LMDB, copy the
 *   meta page of S (the newest transaction) into a durable header, and open
 *   a read transaction on S, the pin. LMDB never reuses pages a reader can
 *   see, so S's pages stay on disk as they are, whatever LMDB writes
 *   meanwhile without syncs, until the pin moves on ("page images" below).
 * - Recovery, at an open no other process shares (lmq__wal_open): if
 *   records follow the last checkpoint, write the page images they carry
 *   back into data.mdb, and S's saved meta page over both of LMDB's (LMDB
 *   then opens exactly S), replay the records in one transaction, and
 *   checkpoint. The records are blind writes, so replaying
 *   them over S gives the state after the last one, whatever LMDB had
 *   reached on disk. After a process crash this redoes what is already
 *   there; after an OS crash it rebuilds what LMDB's unsynced pages lost.
 *   A record whose writer was killed before its commit is replayed too (a
 *   transaction its caller never saw acknowledged, applied whole).
 * - Continuity. A record may only follow the checkpoint or the record of
 *   txnid - 1 (lmq__wal_enter); anything else (commits of relaxed
 *   processes, which do not log, or a pin whose owner died) checkpoints
 *   first. A relaxed process checkpoints before it commits while records
 *   are in the log: a revert would otherwise drop its commit. A record of
 *   a writer killed between its append and its commit is dropped by the
 *   next writer, which gets the same txnid.
 * - Pins. The owner of the current checkpoint holds byte GEN_LOCK + gen of
 *   HOME/wal.lock (fcntl: released when it dies); a writer that finds the
 *   byte free checkpoints before it writes anything, so its pages cannot
 *   come from S. A pin is only released under the writer lock (close), or
 *   by mdb_reader_check when its process died, which we also run only under
 *   the writer lock (lmq__store_reader_check), followed by that check. A
 *   pin protects nothing any more once a newer checkpoint exists, or once
 *   unlogged commits (relaxed processes) follow its checkpoint with the
 *   log empty: from then on every logged writer finds a gap and
 *   checkpoints first, and the condition holds until it has. The pin
 *   thread resets such a pin within PIN_POLL_MS, so an idle process does
 *   not stop LMDB from reusing pages (it allocates nothing and locks only
 *   pin_mu, so a fork() meanwhile is safe). Relaxed processes keep no pin.
 */
#define PIN_POLL_MS 500

static void pin_check(lmq_store *s);

static void *
pin_main(void *arg)
{
    lmq_store *s = arg;
    pthread_mutex_lock(&s->pin_mu);
    while (!s->pin_stop) {
        struct timespec ts = deadline_in(PIN_POLL_MS * 1000000ull);
        pthread_cond_timedwait(&s->pin_cv, &s->pin_mu, &ts);
        pthread_mutex_unlock(&s->pin_mu);
        /* not while the map is being resized (mdb_env_info reads it) */
        pthread_rwlock_rdlock(&s->resize);
        pin_check(s); /* no allocation: safe across fork */
        pthread_rwlock_unlock(&s->resize);
        pthread_mutex_lock(&s->pin_mu);
    }
    pthread_mutex_unlock(&s->pin_mu);
    return NULL;
}

/* Reset this process's pin if it protects nothing any more (what the pin
 * thread does, done at once by a writer: a stale pin stops LMDB from
 * reusing anything newer). */
static void
pin_check(lmq_store *s)
{
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    pthread_mutex_lock(&s->pin_mu);
    if (s->pin && !s->pin_stale &&
        lmq__wal_pin_useless(s->wal, s->pin_gen, info.me_last_txnid)) {
        mdb_txn_reset(s->pin);
        s->pin_stale = true;
    }
    pthread_mutex_unlock(&s->pin_mu);
}

/* Replace this process's pin (NULL: release it). */
static void
pin_set(lmq_store *s, MDB_txn *pin, uint64_t gen)
{
    pthread_mutex_lock(&s->pin_mu);
    MDB_txn *old = s->pin;
    s->pin = pin;
    s->pin_gen = gen;
    s->pin_stale = false;
    if (pin && !s->pin_running && !s->pin_stop &&
        pthread_create(&s->pin_thread, NULL, pin_main, s) == 0)
        s->pin_running = true;
    pthread_mutex_unlock(&s->pin_mu);
    if (old)
        mdb_txn_abort(old);
}

/* Stop the pin thread and drop the pin and its generation's lock. */
static void
pin_release(lmq_store *s)
{
    pthread_mutex_lock(&s->pin_mu);
    s->pin_stop = true;
    pthread_cond_broadcast(&s->pin_cv);
    pthread_mutex_unlock(&s->pin_mu);
    if (s->pin_running)
        pthread_join(s->pin_thread, NULL);
    s->pin_running = false;
    pin_set(s, NULL, 0);
    img_release(s);
    if (s->wal)
        lmq__wal_disown(s->wal);
}

/* ---- page images ------------------------------------------------------------
 *
 * A pin that stays on S until the next checkpoint makes LMDB put every
 * page it writes meanwhile on a new page: 12-15 pages per transaction,
 * all of which the checkpoint then syncs (13 MB per 256 W3 records,
 * bench/RESULTS.md). The owner of the checkpoint therefore moves its pin
 * forward, and saves first what S needs of the pages that lets LMDB reuse:
 *
 * - A page LMDB may reuse is one in a free-list record of a transaction
 *   older than the oldest reader (mdb_page_alloc: record txnid < oldest).
 *   A page of S in such a record is one a later transaction replaced.
 * - Before a hard batch (one that flushes) commits as txnid T, the leader
 *   opens a read transaction on T - 1, cand, walks the free-list records
 *   T' <= T - 1 not imaged yet, and adds to the batch's record an image of
 *   each page freed there that may be S's: at most S's last page, and not
 *   imaged since the checkpoint. A page of S freed since S is still as S
 *   had it (the pin keeps it from reuse); a page that was not S's and is
 *   imaged anyway is harmless, S does not point to it.
 * - After the flush of that record, cand replaces the pin. LMDB may then
 *   reuse pages freed up to T - 2, whose S-images are all on disk.
 * - Recovery writes back the first image of each page before reverting
 *   LMDB's meta pages: S's pages are then all as S had them, and LMDB
 *   opens S. A torn record was never flushed, so no pin moved past its
 *   images.
 * - Images belong to their checkpoint's generation: a batch whose record
 *   has to checkpoint first (the log is full) drops them, a new checkpoint
 *   starts from none imaged, and only the owner of the current checkpoint
 *   makes them. A failed flush stops them until the next checkpoint (the
 *   pin stays where it is).
 * So a queue's transactions keep rewriting its few dozen hot pages, and a
 * checkpoint syncs those; each page of S is imaged at most once. */

/* Receives and visibility changes (soft batches) are not flushed, so they
 * never move the pin ("page images" below): until the next checkpoint
 * LMDB cannot reuse a page they free, and each receive batch put ~30 KiB
 * of new pages in data.mdb (measured: 2,000 queued, receive batches of 10
 * without deletes, 26.6-31.4 KiB per batch over 50-200 batches), which on
 * a full disk the consumer's receives took from the reserve. Every
 * SOFT_RUN-th soft batch in a row is therefore flushed as a hard one, and
 * every SOFT_RUN_SHORT-th when the reserved blocks run short: data.mdb
 * grows by at most that many batches' pages before LMDB reuses them. A
 * flush every 8 cost a receive-only loop 3-4x its time (one fdatasync
 * per 8 batches); every 64, the numbers in docs/DURABILITY.md. */
#define SOFT_RUN 64
#define SOFT_RUN_SHORT 4

/* The reserve is being used: less than it is left in reserved blocks,
 * which only happens once growing writes are refused (resize held). */
static bool
room_short(lmq_store *s)
{
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    uint64_t used = (uint64_t)(info.me_last_pgno + 1) * s->psize;
    uint64_t end = s->writemap ? s->map_size : s->res_end;
    return used + s->reserve > end;
}

/* Most pages a batch of n hard ops images. A batch that would need more
 * leaves the pin where it is until the next checkpoint instead: imaging a
 * page costs about what its reuse saves (a W3 of 256 KiB bodies ran at a
 * third of its rate imaging 32 pages per delete, before the pages of a
 * deleted body past its first were left out: img_skip). A checkpoint's
 * first batch images its hot path, 6-12 pages. */
#define IMG_BUDGET(n) (16 + 8 * (n))

/* The page numbers of a free-list record (an ID list: the count, then the
 * pages); 0 when it is not one. */
static size_t
idl_pages(const MDB_val *v, const size_t **pg)
{
    const size_t *id = v->mv_data;
    size_t n = v->mv_size / sizeof *id;
    if (n == 0 || id[0] >= n)
        return 0;
    *pg = id + 1;
    return id[0];
}

static bool
pin_live(lmq_store *s, uint64_t gen)
{
    pthread_mutex_lock(&s->pin_mu);
    bool live = s->pin && !s->pin_stale && s->pin_gen == gen;
    pthread_mutex_unlock(&s->pin_mu);
    return live && lmq__wal_owner(s->wal) && lmq__wal_gen(s->wal) == gen;
}

/* Give a read txn back as the spare (reset), or free it. */
static void
img_keep(lmq_store *s, MDB_txn *txn)
{
    if (!txn)
        return;
    if (s->img_spare) {
        mdb_txn_abort(txn);
        return;
    }
    mdb_txn_reset(txn);
    s->img_spare = txn;
}

/* The running batch's images are not to be: forget them (its record is
 * truncated or its transaction aborted). */
static void
img_drop(lmq_store *s)
{
    s->img_new_n = 0;
    s->img_new_skip = 0;
    s->img_ready = false;
    img_keep(s, s->img_cand);
    s->img_cand = NULL;
}

/* Start over at checkpoint gen with S = pin's snapshot: nothing imaged,
 * and the pages free in S need no image (S does not point to them). A
 * free list longer than IMG_PRELOAD pages is taken in part: the rest is
 * imaged if freed again, which is harmless (and bounded per batch). */
#define IMG_PRELOAD (1u << 16)

static void
img_reset(lmq_store *s, uint64_t gen, MDB_txn *pin)
{
    MDB_envinfo info;
    MDB_cursor *cur;
    MDB_val k, v;
    img_drop(s);
    pgset_clear(&s->img_set);
    pgset_clear(&s->img_body);
    mdb_env_info(s->env, &info); /* under the writer lock: S's */
    s->img_gen = 0;
    s->img_upto = mdb_txn_id(pin);
    s->img_last = info.me_last_pgno;
    if (mdb_cursor_open(pin, 0 /* LMDB's free list */, &cur) != 0)
        return;
    int rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const size_t *pg;
        size_t n = idl_pages(&v, &pg);
        if (n == 0)
            break;
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = pgset_add(&s->img_set, pg[i]);
        if (rc || s->img_set.n >= IMG_PRELOAD)
            break;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND || rc == 0)
        s->img_gen = gen;
}

static int
img_room(lmq_store *s)
{
    if (s->img_new_n == s->img_new_cap) {
        size_t cap = s->img_new_cap ? s->img_new_cap * 2 : 64;
        uint64_t *v = realloc(s->img_new, cap * sizeof *v);
        if (!v)
            return lmq__seterr(LMQ_ENOMEM, NULL);
        s->img_new = v;
        s->img_new_cap = cap;
    }
    return 0;
}

/* A freed page of a message body past its run's first page: recovery
 * never reads it. The run was freed by a delete (or an overwrite) that
 * is in the log before this batch's record, so the replay from S does it
 * again, and LMDB frees an overflow run by its first page's header alone
 * (mdb_ovpage_free): the first page is imaged, the rest need not be. It
 * counts as imaged (img_set) once the batch commits. */
static int
img_skip(lmq_store *s, uint64_t pg)
{
    if (img_room(s) != 0)
        return LMQ_ENOMEM;
    s->img_new[s->img_new_n++] = pg;
    s->img_new_skip++;
    return 0;
}

static int
img_add(lmq_store *s, uint64_t pg)
{
    if (img_room(s) != 0)
        return LMQ_ENOMEM;
    if (!s->img_page && !(s->img_page = malloc(s->psize)))
        return lmq__seterr(LMQ_ENOMEM, NULL);
    int fd;
    if (mdb_env_get_fd(s->env, &fd) != 0 ||
        pread(fd, s->img_page, s->psize, (off_t)(pg * s->psize)) !=
            (ssize_t)s->psize)
        return lmq__seterr(LMQ_EIO, "cannot read page %llu",
                           (unsigned long long)pg);
    uint8_t key[8];
    lmq__put_u64(key, pg);
    int rc = lmq__wal_rec_op(s->wal, LMQ_WAL_PAGE, 0, key, sizeof key,
                             s->img_page, s->psize);
    if (rc == 0) {
        s->img_new[s->img_new_n++] = pg;
        s->images++;
    }
    return rc;
}

/* In a hard batch's transaction txn, before its record is appended: image
 * the pages freed since the last images and open cand. Any failure leaves
 * the pin where it is (and the record without images). */
static void
img_collect(lmq_store *s, MDB_txn *txn, size_t nhard)
{
    size_t budget = IMG_BUDGET(nhard);
    uint64_t upto = mdb_txn_id(txn) - 1;
    if (!s->img_gen || upto <= s->img_upto || s->img_cand ||
        !pin_live(s, s->img_gen))
        return;
    MDB_txn *c = s->img_spare;
    s->img_spare = NULL;
    int rc = c ? mdb_txn_renew(c)
               : mdb_txn_begin(s->env, NULL, MDB_RDONLY, &c);
    if (rc || mdb_txn_id(c) != upto) {
        if (c)
            mdb_txn_abort(c);
        return;
    }
    size_t mark = lmq__wal_rec_mark(s->wal);
    MDB_cursor *cur;
    s->img_new_n = 0;
    s->img_new_skip = 0;
    rc = mdb_cursor_open(c, 0 /* LMDB's free list */, &cur);
    if (rc == 0) {
        size_t id = (size_t)s->img_upto + 1;
        MDB_val k = {sizeof id, &id}, v;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size != sizeof id)
                break;
            memcpy(&id, k.mv_data, sizeof id);
            if (id > upto)
                break;
            const size_t *pg;
            size_t n = idl_pages(&v, &pg);
            if (n == 0) {
                rc = EINVAL;
                break;
            }
            for (size_t i = 0; rc == 0 && i < n; i++) {
                if (pg[i] > s->img_last || pgset_has(&s->img_set, pg[i]))
                    continue;
                if (pgset_has(&s->img_body, pg[i]))
                    rc = img_skip(s, pg[i]);
                else
                    rc = s->img_new_n - s->img_new_skip < budget
                             ? img_add(s, pg[i])
                             : E2BIG;
            }
            if (rc)
                break;
        }
        mdb_cursor_close(cur);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        lmq__wal_rec_truncate(s->wal, mark);
        s->img_new_n = 0;
        s->img_new_skip = 0;
        img_keep(s, c);
        if (rc == E2BIG)
            s->img_gen = 0; /* the pin stays until the next checkpoint */
        return;
    }
    s->img_cand = c;
    s->img_pend = upto;
}

/* The batch committed: its images are in the log (not yet flushed). */
static void
img_committed(lmq_store *s)
{
    if (!s->img_cand)
        return;
    for (size_t i = 0; i < s->img_new_n; i++)
        if (pgset_add(&s->img_set, s->img_new[i]) != 0) {
            img_drop(s); /* unsure what is imaged: stop until the next */
            s->img_gen = 0;
            return;
        }
    s->img_new_n = 0;
    s->img_new_skip = 0;
    s->img_upto = s->img_pend;
    s->img_ready = true;
}

/* After the batch's flush (ok: it succeeded): move the pin to cand. */
static void
img_flushed(lmq_store *s, bool ok)
{
    if (!s->img_cand)
        return;
    if (!ok || !s->img_ready) {
        if (!ok)
            s->img_gen = 0;
        img_drop(s);
        return;
    }
    MDB_txn *old = NULL;
    pthread_mutex_lock(&s->pin_mu);
    if (s->pin && !s->pin_stale && s->pin_gen == s->img_gen) {
        old = s->pin;
        s->pin = s->img_cand;
        s->img_cand = NULL;
        s->advances++;
        lmq__wal_imaged(s->wal, s->img_gen, s->img_upto, 0);
    }
    pthread_mutex_unlock(&s->pin_mu);
    img_keep(s, old);
    img_drop(s);
}

/* No more images (the pin is released): free the read txns. */
static void
img_release(lmq_store *s)
{
    img_drop(s);
    if (s->img_spare)
        mdb_txn_abort(s->img_spare);
    s->img_spare = NULL;
    s->img_gen = 0;
}

static void
img_free(lmq_store *s)
{
    free(s->img_set.v);
    free(s->img_body.v);
    free(s->img_new);
    free(s->img_page);
}

/* Copy the meta page of txnid out of data.mdb (LMDB 0.9, format 1: the
 * page header with the page number first, then MDB_meta with magic and
 * version first and the txnid last). */
#define META_MAGIC 0xBEEFC0DEu
#define META_MAGIC_AT 16
#define META_TXNID (LMQ_WAL_META_LEN - 8)

static int
read_meta(lmq_store *s, uint64_t txnid, uint8_t *meta)
{
    int fd;
    if (mdb_env_get_fd(s->env, &fd) != 0)
        return lmq__seterr(LMQ_EIO, "no data file");
    for (unsigned i = 0; i < 2; i++) {
        uint32_t magic, version;
        uint64_t id;
        if (pread(fd, meta, LMQ_WAL_META_LEN, (off_t)i * s->psize) !=
            LMQ_WAL_META_LEN)
            return lmq__seterr(LMQ_EIO, "cannot read meta page: %s",
                               strerror(errno));
        memcpy(&magic, meta + META_MAGIC_AT, 4);
        memcpy(&version, meta + META_MAGIC_AT + 4, 4);
        memcpy(&id, meta + META_TXNID, 8);
        if (magic != META_MAGIC || version != 1)
            return lmq__seterr(LMQ_EVERSION,
                               "unknown LMDB meta page format %u", version);
        if (id == txnid)
            return 0;
    }
    return lmq__seterr(LMQ_ECORRUPT, "no meta page of transaction %llu",
                       (unsigned long long)txnid);
}

/* Checkpoint inside write transaction txn (so S is its predecessor). */
static int
checkpoint(lmq_store *s, MDB_txn *txn)
{
    lmq_wal_ckpt ck = {.gen = lmq__wal_next_gen(s->wal),
                       .txnid = mdb_txn_id(txn) - 1,
                       .psize = s->psize};
    int rc = mdb_env_sync(s->env, 1);
    if (rc)
        return flush_failed(s, map_err(rc, "sync"));
    if ((rc = read_meta(s, ck.txnid, ck.meta)) != 0)
        return rc;
    MDB_txn *pin;
    rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &pin);
    if (rc)
        return map_err(rc, "pin checkpoint");
    if (mdb_txn_id(pin) != ck.txnid) {
        mdb_txn_abort(pin);
        return lmq__seterr(LMQ_EIO, "checkpoint moved under the lock");
    }
    if ((rc = lmq__wal_checkpoint(s->wal, &ck)) != 0) {
        /* its header's write or flush: the log's page cache is unknown */
        mdb_txn_abort(pin);
        return flush_failed(s, rc);
    }
    if (s->logged) {
        pin_set(s, pin, ck.gen);
        img_reset(s, ck.gen, pin);
        if (s->img_gen == ck.gen)
            lmq__wal_imaged(s->wal, ck.gen, s->img_upto, s->img_last + 1);
    } else {
        /* A relaxed process checkpoints only to empty the log before its
         * unlogged commit, after which any logged writer checkpoints again
         * anyway: nothing to keep S for (and under the writer lock). */
        mdb_txn_abort(pin);
        lmq__wal_disown(s->wal);
    }
    s->checkpoints++;
    return 0;
}

/* Adopt the current checkpoint, whose owner is gone (lmq__wal_enter
 * returned 2), instead of checkpointing: own its generation and pin
 * txnid - 1 before this transaction allocates a page. From then on LMDB
 * reuses only pages freed in records older than txnid - 1, and the pages of
 * S among those are all imaged in the flushed log (the published cursor is
 * at least txnid - 2); the adopter images the records after the cursor as
 * the owner does ("page images"). It does not know which pages are imaged
 * already or free in S, so it may image a page again: harmless, recovery
 * writes back the first image of each page, and a page S does not point to
 * may hold anything. So a short-lived writer (a CLI command) neither
 * checkpoints when it starts nor when it closes: its records stay in the
 * log for the next checkpoint, or a recovery. */
static int
adopt(lmq_store *s, MDB_txn *txn)
{
    MDB_txn *pin;
    uint64_t upto, last;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &pin) != 0)
        return -1;
    if (mdb_txn_id(pin) + 1 != mdb_txn_id(txn) ||
        lmq__wal_adopt(s->wal, &upto, &last) != 0) {
        mdb_txn_abort(pin);
        return -1;
    }
    uint64_t gen = lmq__wal_gen(s->wal);
    pin_set(s, pin, gen);
    img_drop(s);
    pgset_clear(&s->img_set);
    pgset_clear(&s->img_body); /* notes of another generation's deletes */
    s->img_gen = gen;
    s->img_upto = upto;
    s->img_last = last - 1;
    s->adoptions++;
    return 0;
}

/* Start of every write transaction of a batch. */
static int
wal_enter(lmq_store *s, MDB_txn *txn)
{
    if (!s->wal)
        return 0;
    if (s->logged) {
        lmq__wal_rec_reset(s->wal);
        pin_check(s);
    }
    int rc = lmq__wal_enter(s->wal, mdb_txn_id(txn), s->logged);
    if (rc == 2 && adopt(s, txn) == 0)
        return 0;
    return rc ? checkpoint(s, txn) : 0;
}

/* Just before the commit of txn: append its record, with page images when
 * the batch is hard (nhard ops need a flush). */
static int
wal_log(lmq_store *s, MDB_txn *txn, size_t nhard)
{
    if (!s->logged || lmq__wal_rec_empty(s->wal))
        return 0;
    bool sync = false;
    size_t mark = lmq__wal_rec_mark(s->wal);
    if (nhard)
        img_collect(s, txn, nhard);
    int rc = lmq__wal_append(s->wal, mdb_txn_id(txn), nhard > 0, &sync);
    if (rc == 1) {
        /* images of this checkpoint must not follow the next one */
        lmq__wal_rec_truncate(s->wal, mark);
        img_drop(s);
        if ((rc = checkpoint(s, txn)) == 0)
            rc = lmq__wal_append(s->wal, mdb_txn_id(txn), nhard > 0, &sync);
    }
    if (sync) {
        /* The first record after a checkpoint is on disk before the commit
         * writes LMDB's meta page: recovery reverts to the checkpoint only
         * when it finds records after it, so a meta page newer than the
         * checkpoint must never reach the disk without one. Flushed after
         * the commit, an OS crash in between could keep LMDB's new meta
         * page without its pages or the record, and the home opened on a
         * meta page pointing at pages that were never written (found by
         * the crash-state exploration, docs/DURABILITY.md "Crash states").
         * One flush under the writer lock per checkpoint. */
        if (rc == 0 && (rc = lmq__wal_sync(s->wal)) != 0)
            return rc;
        s->wal_sync = true;
    }
    return rc;
}

/* After a batch: checkpoint when due. The bulk of the sync runs before the
 * writer lock is taken, so other writers go on meanwhile. */
static void
checkpoint_if_due(lmq_store *s)
{
    if (!s->logged || !lmq__wal_due(s->wal))
        return;
    pthread_rwlock_rdlock(&s->resize);
    int frc = mdb_env_sync(s->env, 1);
    pthread_rwlock_unlock(&s->resize);
    if (frc != 0) {
        flush_failed(s, 0); /* the next write hears of it */
        return;
    }
    MDB_txn *txn;
    if (begin(s, 0, &txn) != 0)
        return;
    if (lmq__wal_due(s->wal))
        checkpoint(s, txn); /* failing, the next batch hears of it */
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->resize);
}

struct restore {
    int fd;
    uint32_t psize;
    struct pgset done;
};

/* Write a page image of the log back (the first of each page: a page is
 * imaged once per checkpoint, but the first is S's in any case). */
static int
restore_page(void *arg, int kind, int db, const void *k, size_t kl,
             const void *v, size_t vl)
{
    struct restore *r = arg;
    (void)db;
    if (kind != LMQ_WAL_PAGE)
        return 0;
    if (kl != 8 || vl != r->psize)
        return lmq__seterr(LMQ_ECORRUPT, "bad page image in the log");
    uint64_t pg = lmq__get_u64(k);
    if (pg < 2)
        return lmq__seterr(LMQ_ECORRUPT, "bad page image in the log");
    if (pgset_has(&r->done, pg))
        return 0;
    if (pgset_add(&r->done, pg) != 0)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    if (pwrite(r->fd, v, vl, (off_t)(pg * r->psize)) != (ssize_t)vl)
        return lmq__seterr(LMQ_EIO, "cannot restore page %llu: %s",
                           (unsigned long long)pg, strerror(errno));
    return 0;
}

/* Before mdb_env_open: write the log's page images back and point both of
 * LMDB's meta pages at S. */
static int
revert_meta(lmq_wal *w, const char *dir, const lmq_wal_ckpt *ck)
{
    char path[PATH_MAX];
    uint32_t magic;
    uint64_t id;
    memcpy(&magic, ck->meta + META_MAGIC_AT, 4);
    memcpy(&id, ck->meta + META_TXNID, 8);
    if (magic != META_MAGIC || id != ck->txnid || ck->psize < 512)
        return lmq__seterr(LMQ_ECORRUPT, "%s/wal: bad checkpoint", dir);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    int fd = lmq__home_open(path, O_RDWR);
    if (fd < 0)
        return errno == ENOENT ? LMQ__NOTFOUND
                               : lmq__seterr(LMQ_EIO, "cannot open %s: %s",
                                             path, strerror(errno));
    struct restore r = {.fd = fd, .psize = ck->psize};
    int rc = lmq__wal_scan(w, ck, restore_page, &r);
    free(r.done.v);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    bool ok = true;
    for (unsigned i = 0; ok && i < 2; i++) {
        uint8_t page[LMQ_WAL_META_LEN];
        uint64_t pgno = i; /* native, as LMDB writes it */
        memcpy(page, ck->meta, sizeof page);
        memcpy(page, &pgno, sizeof pgno);
        ok = pwrite(fd, page, sizeof page, (off_t)i * ck->psize) ==
             (ssize_t)sizeof page;
    }
    ok = ok && fdatasync(fd) == 0;
    int err = errno;
    close(fd);
    return ok ? 0
              : lmq__seterr(LMQ_EIO, "cannot revert %s: %s", path,
                            strerror(err));
}

/* Apply one logged write (lmq_txn without logging: replay logs nothing). */
static int
replay_op(void *arg, int kind, int db, const void *k, size_t kl,
          const void *v, size_t vl)
{
    lmq_txn *t = arg;
    int rc;
    if (kind == LMQ_WAL_PAGE)
        return 0; /* written back before LMDB opened (revert) */
    if (kind == LMQ_WAL_PUT)
        rc = lmq__txn_put(t, db, k, kl, v, vl);
    else if (kind == LMQ_WAL_DEL)
        rc = lmq__txn_del(t, db, k, kl);
    else
        rc = lmq__txn_del_range(t, db, k, kl, v, vl, NULL);
    return rc == LMQ__NOTFOUND ? 0 : rc;
}

/* Alone at open, LMDB opened: replay the records after ck (n of them, so
 * LMDB was reverted to ck's S), then checkpoint; or just settle the shared
 * tail. gen is the newest checkpoint's generation (0: none). */
static int
wal_recover(lmq_store *s, const lmq_wal_ckpt *ck, int n)
{
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    lmq__wal_reset_shared(s->wal, ck ? ck->gen : 0, info.me_last_txnid);
    if (n <= 0) {
        /* No records, and LMDB's newest transaction is S itself (a clean
         * close left the log empty): no page of S was freed since, so the
         * first writer may adopt the checkpoint (nothing to image: upto is
         * S) instead of making a new one, two flushes fewer for a CLI
         * write. S is on disk: the checkpoint synced it before its header.
         * Not after unlogged commits (relaxed processes): their txnids
         * follow S, and lmq__wal_enter sees the gap and checkpoints. */
        if (ck && info.me_last_txnid == ck->txnid)
            lmq__wal_imaged(s->wal, ck->gen, ck->txnid,
                            (uint64_t)info.me_last_pgno + 1);
        return 0;
    }
    for (;;) {
        lmq_txn t = {.s = s};
        int rc = mdb_txn_begin(s->env, NULL, 0, &t.txn);
        if (rc)
            return map_err(rc, "replay");
        rc = lmq__wal_scan(s->wal, ck, replay_op, &t);
        if (rc < 0) {
            mdb_txn_abort(t.txn);
            if (t.map_full && grow_map(s) == 0)
                continue;
            return rc;
        }
        rc = mdb_txn_commit(t.txn);
        if (rc == MDB_MAP_FULL && grow_map(s) == 0)
            continue;
        if (rc)
            return map_err(rc, "replay");
        if ((rc = mdb_txn_begin(s->env, NULL, 0, &t.txn)) != 0)
            return map_err(rc, "replay");
        rc = checkpoint(s, t.txn);
        mdb_txn_abort(t.txn);
        return rc;
    }
}

/* ---- group commit ----------------------------------------------------------- */

/* Restore in the calling thread the error detail an op's failure set in
 * whichever thread ran it. */
static int
restore_err(int rc, const char *err)
{
    const char *name = lmq_err_name(rc);
    size_t l = strlen(name);
    if (strncmp(err, name, l) == 0 && err[l] == ':' && err[l + 1] == ' ')
        return lmq__seterr(rc, "%s", err + l + 2);
    return lmq__seterr(rc, "%s", err[0] ? err : lmq_strerror(rc));
}

static void
op_fail(struct gc_op *op, int rc)
{
    op->rc = rc;
    snprintf(op->err, sizeof op->err, "%s", lmq_errmsg());
}

static int
full_err(lmq_store *s)
{
    return lmq__seterr(LMQ_ENOSPC, "home is full (map size %llu bytes)",
                       (unsigned long long)s->map_size);
}

/* A batch found no room (FULL): once per batch, checkpoint, which moves
 * this process's pin to the newest transaction so that LMDB may reuse
 * every page freed before it ("reservations"). True when it did. */
static bool
relieve(lmq_store *s)
{
    if (!s->logged || s->relieved)
        return false;
    s->relieved = true;
    return checkpoint_now(s) == 0;
}

/* Move queued ops to ops[n..] (bounded); gc_mu held. Returns the new n. */
static size_t
take_locked(lmq_store *s, struct gc_op **ops, size_t n)
{
    size_t n0 = n;
    while (s->gc_head && n < GC_MAX_BATCH) {
        ops[n++] = s->gc_head;
        s->gc_head = s->gc_head->next;
    }
    if (!s->gc_head)
        s->gc_tail = &s->gc_head;
    s->gc_pending -= n - n0;
    return n;
}

static size_t
take_pending(lmq_store *s, struct gc_op **ops, size_t n)
{
    pthread_mutex_lock(&s->gc_mu);
    n = take_locked(s, ops, n);
    pthread_mutex_unlock(&s->gc_mu);
    return n;
}

/* Log and commit a batch's transaction (live: units in it), release the
 * lock. Returns 0 when settled (on failure every live unit has the error),
 * 1 when the batch must run again (the map grew). */
static int
commit_batch(lmq_store *s, MDB_txn *txn, struct gc_op **ops, size_t n,
             size_t live)
{
    size_t nhard = 0;
    for (size_t i = 0; i < n; i++)
        nhard += !ops[i]->final && ops[i]->rc >= 0 && !ops[i]->soft;
    /* Every SOFT_RUN-th soft batch in a row is made hard (imaged and
     * flushed), so the pin moves and LMDB reuses what receives freed. */
    if (s->logged && nhard == 0 && live > 0 &&
        (++s->soft_run >= SOFT_RUN ||
         (s->soft_run >= SOFT_RUN_SHORT && room_short(s)))) {
        nhard = 1;
        s->wal_sync = true;
    }
    if (nhard)
        s->soft_run = 0;
    int rc = wal_log(s, txn, nhard), crc = 0;
    if (rc == 0 && commit_hook)
        commit_hook(live);
    if (rc == 0)
        crc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    if (rc == 0 && crc == 0)
        img_committed(s);
    else
        img_drop(s);
    pthread_rwlock_unlock(&s->resize);
    if (crc == MDB_MAP_FULL && grow_map(s) == 0)
        return 1;
    if (crc != 0)
        rc = commit_err(s, crc);
    if (rc == LMQ_ENOSPC && relieve(s))
        return 1;
    for (size_t i = 0; rc && i < n; i++)
        if (!ops[i]->final && ops[i]->rc >= 0)
            op_fail(ops[i], rc);
    return 0;
}

/* Run the ops of a batch (those not marked done_early) in one transaction,
 * each in a nested transaction so that a failing op is rolled back alone.
 * Returns 0 when the batch is settled (committed or failed as a whole), or
 * 1 when it must run again (the map grew, or an op that cannot fit was
 * taken out). */
static int
run_nested(lmq_store *s, struct gc_op **ops, size_t n)
{
    MDB_txn *parent;
    size_t ran = 0;
    int rc = begin(s, 0, &parent);
    if (rc == 0 && (rc = wal_enter(s, parent)) != 0) {
        mdb_txn_abort(parent);
        pthread_rwlock_unlock(&s->resize);
    }
    if (rc) {
        for (size_t i = 0; i < n; i++)
            if (!ops[i]->final)
                op_fail(ops[i], rc);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct gc_op *op = ops[i];
        if (op->final)
            continue;
        lmq_txn t = {.s = s, .log = s->logged};
        size_t mark = s->logged ? lmq__wal_rec_mark(s->wal) : 0;
        rc = mdb_txn_begin(s->env, parent, 0, &t.txn);
        if (rc) {
            op_fail(op, map_err(rc, "begin nested transaction"));
            continue;
        }
        rc = op->fn(&t, op->arg);
        if (rc < 0 && s->logged)
            lmq__wal_rec_truncate(s->wal, mark);
        if (rc >= 0) {
            int crc = mdb_txn_commit(t.txn);
            if (crc == 0) {
                op->rc = rc;
                ran++;
                continue;
            }
            if (crc == MDB_MAP_FULL)
                t.map_full = true;
            rc = commit_err(s, crc);
            if (s->logged)
                lmq__wal_rec_truncate(s->wal, mark);
        } else {
            mdb_txn_abort(t.txn);
        }
        if (t.map_full) {
            /* The ops before this one may be what filled the map: grow and
             * run them all again. If the map cannot grow, this op fails
             * alone and the rest run again without it. */
            mdb_txn_abort(parent);
            pthread_rwlock_unlock(&s->resize);
            if (grow_map(s) != 0 && !relieve(s)) {
                op_fail(op, full_err(s));
                op->final = true;
            }
            return 1;
        }
        op_fail(op, rc);
    }
    return commit_batch(s, parent, ops, n, ran);
}

/* Run every op of a batch not yet failed for good directly in one
 * transaction: the fast path, with no nesting cost. Callers that queue while
 * the batch runs join it before the commit (late joiners), so a batch is
 * everyone waiting, not only those who waited when the leader started.
 * Returns 0 when the batch is settled, 1 when it must run again (the map
 * grew, or in a writable-map home an op failed and is now out of it), 2 when
 * one of several ops failed and nesting is available: the batch then runs
 * again nested, so the failure is rolled back alone. */
static int
run_flat(lmq_store *s, struct gc_op **ops, size_t *np)
{
    lmq_txn t = {.s = s};
    size_t n = *np, live = 0;
    for (size_t i = 0; i < n; i++)
        live += !ops[i]->final;
    if (live == 0)
        return 0;
    int rc = begin(s, 0, &t.txn);
    if (rc == 0 && (rc = wal_enter(s, t.txn)) != 0) {
        mdb_txn_abort(t.txn);
        pthread_rwlock_unlock(&s->resize);
    }
    if (rc) {
        for (size_t i = 0; i < n; i++)
            if (!ops[i]->final)
                op_fail(ops[i], rc);
        return 0;
    }
    t.log = s->logged;
    for (size_t i = 0; i < n; i++) {
        struct gc_op *op = ops[i];
        if (op->final)
            continue;
        t.user = NULL;
        t.map_full = false;
        rc = op->fn(&t, op->arg);
        if (rc < 0) {
            mdb_txn_abort(t.txn);
            pthread_rwlock_unlock(&s->resize);
            if (t.map_full) {
                if (grow_map(s) == 0 || relieve(s))
                    return 1;
                if (!s->writemap)
                    return 2;
                rc = full_err(s); /* cannot fit: fails alone */
            }
            if (live > 1 && !s->writemap)
                return 2;
            /* Alone, or no nesting: this op's failure is final and the
             * rest (if any) run again without it. */
            op_fail(op, rc);
            op->final = true;
            return live > 1 ? 1 : 0;
        }
        op->rc = rc;
        if (i + 1 == n && n < GC_MAX_BATCH) {
            n = *np = take_pending(s, ops, n);
            live = 0;
            for (size_t j = 0; j < n; j++)
                live += !ops[j]->final;
        }
    }
    return commit_batch(s, t.txn, ops, n, live);
}

/* The leader's work: apply a batch and commit it once. Units run flat in
 * one transaction; only a batch of several in which one fails runs again
 * with each unit nested (failures are rare, nesting costs a little on every
 * unit). A lone caller thus pays exactly one plain transaction. */
static void
run_batch(lmq_store *s, struct gc_op **ops, size_t *np)
{
    int rc;
    s->relieved = false;
    while ((rc = run_flat(s, ops, np)) == 1)
        ;
    if (rc != 0)
        while (run_nested(s, ops, *np) != 0)
            ;
    prefault_note(s);
}

static uint64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Before a FULL commit, wait (gc_mu held) until as many callers are queued
 * as were active at the last commit, for at most a quarter of the last
 * batch's duration. Without it, threads released by one commit miss the
 * next (its leader started while they were still returning), so N threads
 * split into two groups of N/2 that alternate, and each pair of fsyncs
 * carries half of what it could. A lone caller never waits (expect is 1);
 * when callers go away, one leader waits out the bound and expect drops to
 * what it found. Relaxed commits are too cheap to wait for. */
static void
gather(lmq_store *s)
{
    if (s->durability != LMQ_DURABILITY_FULL || s->gc_pending >= s->gc_expect)
        return;
    uint64_t wait = s->gc_commit_ns / 4;
    if (wait > 2000000u)
        wait = 2000000u;
    struct timespec dl = deadline_in(wait);
    s->gc_gathering = true;
    while (s->gc_pending < s->gc_expect && s->gc_pending < GC_MAX_BATCH &&
           pthread_cond_timedwait(&s->gc_gather_cv, &s->gc_mu, &dl) == 0)
        ;
    s->gc_gathering = false;
}

/* Note an owner sleeping on its op for a wake-up (gc_mu held); the caller
 * posts the semaphores once it has dropped gc_mu, so a woken owner does not
 * run into the lock its waker still holds. The op stays valid until then:
 * its owner cannot return before the post. */
static void
op_wake(struct gc_op *op, struct gc_op **wake, size_t *nw)
{
    if (op->waiting) {
        op->waiting = false;
        wake[(*nw)++] = op;
    }
}

/* need: UINT64_MAX for a write that gives space back (never checked),
 * else the bytes it may add (room_check()). */
static int
store_write(lmq_store *s, lmq_txn_fn fn, void *arg, bool soft, uint64_t need)
{
    if (need != UINT64_MAX) {
        int rc = room_check(s, need);
        if (rc)
            return rc;
    }
    struct gc_op op = {.fn = fn, .arg = arg, .soft = soft};
    sem_init(&op.sem, 0, 0);
    pthread_mutex_lock(&s->gc_mu);
    *s->gc_tail = &op;
    s->gc_tail = &op.next;
    s->gc_pending++;
    if (s->gc_gathering && (s->gc_pending >= s->gc_expect ||
                            s->gc_pending >= GC_MAX_BATCH))
        pthread_cond_signal(&s->gc_gather_cv); /* only the last one */
    while (!__atomic_load_n(&op.done, __ATOMIC_ACQUIRE)) {
        if (s->gc_busy) {
            /* Each owner sleeps on its own semaphore: a finished batch
             * wakes its owners without a thundering herd on gc_mu. */
            op.waiting = true;
            pthread_mutex_unlock(&s->gc_mu);
            while (sem_wait(&op.sem) != 0)
                ;
            /* Done was set before the post (the semaphore orders it): a
             * finished owner returns without taking gc_mu again. */
            if (__atomic_load_n(&op.done, __ATOMIC_ACQUIRE))
                goto finished;
            pthread_mutex_lock(&s->gc_mu);
            continue;
        }
        /* Lead: take everything pending (up to a bound), run it in one
         * transaction with the queue unlocked, then wake the owners. */
        struct gc_op *batch[GC_MAX_BATCH];
        s->gc_busy = true;
        gather(s);
        size_t n = take_locked(s, batch, 0);
        pthread_mutex_unlock(&s->gc_mu);
        bool full = s->durability == LMQ_DURABILITY_FULL;
        uint64_t t0 = full ? mono_ns() : 0;
        run_batch(s, batch, &n);
        bool hard = s->wal_sync;
        s->wal_sync = false;
        for (size_t i = 0; i < n; i++)
            if (!batch[i]->final && batch[i]->rc >= 0)
                hard |= !batch[i]->soft;
        if (s->logged && hard) {
            /* The record is on disk before any owner hears of its write.
             * This process's next batch waits (gc_busy stays set): starting
             * it during the flush split the callers into batches that each
             * paid one. */
            int rc = lmq__wal_sync(s->wal);
            if (rc)
                flush_failed(s, rc);
            img_flushed(s, rc == 0);
            for (size_t i = 0; rc < 0 && i < n; i++)
                if (!batch[i]->final && batch[i]->rc >= 0)
                    op_fail(batch[i], rc);
        } else if (s->logged) {
            img_flushed(s, false); /* a batch that imaged flushes: defensive */
        }
        uint64_t t1 = t0 ? mono_ns() : 0;
        pthread_mutex_lock(&s->gc_mu);
        s->gc_busy = false;
        s->gc_batches++;
        s->gc_ops += n;
        if (n > s->gc_max_batch)
            s->gc_max_batch = n;
        s->gc_commit_ns = t1 - t0;
        s->gc_expect = n + s->gc_pending;
        struct gc_op *wake[GC_MAX_BATCH + 1];
        size_t nw = 0;
        for (size_t i = 0; i < n; i++) {
            /* the owner may return at once */
            __atomic_store_n(&batch[i]->done, true, __ATOMIC_RELEASE);
            op_wake(batch[i], wake, &nw);
        }
        if (s->gc_head) /* the first in line leads next */
            op_wake(s->gc_head, wake, &nw);
        pthread_mutex_unlock(&s->gc_mu);
        for (size_t i = 0; i < nw; i++)
            sem_post(&wake[i]->sem);
        checkpoint_if_due(s); /* delays only this leader's own return */
        /* This owner's op was in its batch, unless more than a batch was
         * queued ahead of it: then it goes round again. */
        if (__atomic_load_n(&op.done, __ATOMIC_ACQUIRE))
            goto finished;
        pthread_mutex_lock(&s->gc_mu);
    }
    pthread_mutex_unlock(&s->gc_mu);
finished:
    sem_destroy(&op.sem);
    if (op.rc < 0)
        return restore_err(op.rc, op.err);
    if (__atomic_add_fetch(&s->commits, 1, __ATOMIC_RELAXED) %
            READER_CHECK_EVERY ==
        0)
        lmq__store_reader_check(s);
    return op.rc;
}

/* What a write that adds no message may add: a queue record, attributes,
 * tags, a metrics row, a task (and the pages their trees split into). */
#define SMALL_WRITE (64u << 10)

int
lmq__store_write(lmq_store *s, lmq_txn_fn fn, void *arg)
{
    return store_write(s, fn, arg, false, SMALL_WRITE);
}

int
lmq__store_write_need(lmq_store *s, lmq_txn_fn fn, void *arg, uint64_t need)
{
    return store_write(s, fn, arg, false, SMALL_WRITE + need);
}

int
lmq__store_write_free(lmq_store *s, lmq_txn_fn fn, void *arg)
{
    return store_write(s, fn, arg, false, UINT64_MAX);
}

int
lmq__store_write_soft(lmq_store *s, lmq_txn_fn fn, void *arg)
{
    return store_write(s, fn, arg, true, UINT64_MAX);
}

size_t
lmq__store_pending(lmq_store *s)
{
    pthread_mutex_lock(&s->gc_mu);
    size_t n = s->gc_pending;
    pthread_mutex_unlock(&s->gc_mu);
    return n;
}

void
lmq__store_log_stats(lmq_store *s, lmq_log_stats *st)
{
    lmq_wal_ckpt ck;
    memset(st, 0, sizeof *st);
    st->gen = lmq__wal_gen(s->wal);
    st->records = lmq__wal_records(s->wal);
    st->tail = lmq__wal_tail(s->wal);
    if (lmq__wal_last_ckpt(s->wal, &ck) == 0 && ck.gen == st->gen)
        st->replayable = lmq__wal_scan(s->wal, &ck, NULL, NULL);
    st->owner = lmq__wal_owner(s->wal);
    pthread_mutex_lock(&s->pin_mu);
    st->pinned = s->pin && !s->pin_stale;
    pthread_mutex_unlock(&s->pin_mu);
    st->checkpoints = s->checkpoints;
    st->adoptions = s->adoptions;
    st->images = s->images;
    st->advances = s->advances;
}

void
lmq__store_gc_stats(lmq_store *s, lmq_gc_stats *st)
{
    pthread_mutex_lock(&s->gc_mu);
    st->batches = s->gc_batches;
    st->ops = s->gc_ops;
    st->max_batch = s->gc_max_batch;
    pthread_mutex_unlock(&s->gc_mu);
}

void
lmq__store_set_commit_hook(void (*fn)(size_t nops))
{
    commit_hook = fn;
}

static int
op_err(lmq_txn *t, int rc, const char *what)
{
    if (rc == MDB_MAP_FULL)
        t->map_full = true;
    return map_err(rc, what);
}

/* The write transaction's cursor on db, or NULL (read-only transaction,
 * or the cursor could not be opened: the caller then uses mdb_get() etc.). */
static MDB_cursor *
txn_cursor(lmq_txn *t, int db)
{
    if (t->rdonly)
        return NULL;
    if (!t->cur[db] &&
        mdb_cursor_open(t->txn, t->s->dbi[db], &t->cur[db]) != 0)
        t->cur[db] = NULL;
    return t->cur[db];
}

int
lmq__txn_get(lmq_txn *t, int db, const void *k, size_t kl, lmq_val *v)
{
    MDB_val key = {kl, (void *)k}, val;
    MDB_cursor *c = txn_cursor(t, db);
    int rc = c ? mdb_cursor_get(c, &key, &val, MDB_SET)
               : mdb_get(t->txn, t->s->dbi[db], &key, &val);
    if (rc == MDB_NOTFOUND)
        return LMQ__NOTFOUND;
    if (rc)
        return op_err(t, rc, "get");
    v->data = val.mv_data;
    v->len = val.mv_size;
    return 0;
}

static int
txn_put(lmq_txn *t, int db, MDB_val *key, MDB_val *val, unsigned flags)
{
    MDB_cursor *c = txn_cursor(t, db);
    return c ? mdb_cursor_put(c, key, val, flags)
             : mdb_put(t->txn, t->s->dbi[db], key, val, flags);
}

/* Before a write in a logged transaction: a reserved value is complete
 * now (the write may move it within its page), copy it into the record. */
static void
log_pre(lmq_txn *t)
{
    if (t->log)
        lmq__wal_rec_mark(t->s->wal);
}

int
lmq__txn_put(lmq_txn *t, int db, const void *k, size_t kl, const void *v,
             size_t vl)
{
    MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
    log_pre(t);
    int rc = txn_put(t, db, &key, &val, 0);
    if (rc)
        return op_err(t, rc, "put");
    return t->log ? lmq__wal_rec_op(t->s->wal, LMQ_WAL_PUT, db, k, kl, v, vl)
                  : 0;
}

int
lmq__txn_reserve(lmq_txn *t, int db, const void *k, size_t kl, size_t vl,
                 void **out)
{
    MDB_val key = {kl, (void *)k}, val = {vl, NULL};
    log_pre(t);
    int rc = txn_put(t, db, &key, &val, MDB_RESERVE);
    if (rc)
        return op_err(t, rc, "reserve");
    *out = val.mv_data;
    return t->log ? lmq__wal_rec_reserve(t->s->wal, db, k, kl, *out, vl) : 0;
}

/* A logged transaction is about to delete a message record whose value
 * (val, as LMDB returned it) may lie on overflow pages: remember the
 * run's pages past the first, which the page images can leave out
 * (img_skip). A value larger than a page less its header is on overflow
 * pages, right after the first one's header; a run written by this
 * transaction (P_DIRTY) is not the checkpoint's and is left alone. */
#define DF_DIRTY 0x10

static void
note_body(lmq_txn *t, const MDB_val *val)
{
    lmq_store *s = t->s;
    if (!t->log || !s->img_gen || val->mv_size + DF_HDR <= s->psize)
        return;
    const uint8_t *p = (const uint8_t *)val->mv_data - DF_HDR;
    uint64_t pg, npages;
    uint16_t flags;
    uint32_t n32;
    memcpy(&pg, p, sizeof pg);
    memcpy(&flags, p + DF_FLAGS, sizeof flags);
    memcpy(&n32, p + DF_LOWER, sizeof n32);
    npages = (val->mv_size + DF_HDR + s->psize - 1) / s->psize;
    if (!(flags & DF_OVERFLOW) || (flags & DF_DIRTY) || n32 != npages)
        return;
    for (uint64_t i = 1; i < npages; i++)
        if (pg + i <= s->img_last && pgset_add(&s->img_body, pg + i) != 0)
            return; /* out of memory: those pages are imaged */
}

int
lmq__txn_del(lmq_txn *t, int db, const void *k, size_t kl)
{
    MDB_val key = {kl, (void *)k}, val;
    MDB_cursor *c = txn_cursor(t, db);
    log_pre(t);
    int rc = c ? mdb_cursor_get(c, &key, &val, MDB_SET)
               : mdb_del(t->txn, t->s->dbi[db], &key, NULL);
    if (c && rc == 0) {
        if (db == LMQ_DB_MSG)
            note_body(t, &val);
        rc = mdb_cursor_del(c, 0);
    }
    if (rc == MDB_NOTFOUND)
        return LMQ__NOTFOUND;
    if (rc)
        return op_err(t, rc, "del");
    return t->log ? lmq__wal_rec_op(t->s->wal, LMQ_WAL_DEL, db, k, kl, NULL, 0)
                  : 0;
}

int
lmq__txn_del_range(lmq_txn *t, int db, const void *lo, size_t lol,
                   const void *hi, size_t hil, uint64_t *n)
{
    MDB_cursor *c;
    uint64_t count = 0;
    log_pre(t);
    int rc = mdb_cursor_open(t->txn, t->s->dbi[db], &c);
    if (rc)
        return op_err(t, rc, "cursor");
    MDB_val key = {lol, (void *)lo}, val;
    MDB_val hik = {hil, (void *)hi};
    rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
    while (rc == 0 && mdb_cmp(t->txn, t->s->dbi[db], &key, &hik) < 0) {
        if (db == LMQ_DB_MSG)
            note_body(t, &val);
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        count++;
        /* After a delete LMDB's MDB_NEXT yields the entry that followed. */
        rc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (n)
        *n = count;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return op_err(t, rc, "delete range");
    return t->log && count ? lmq__wal_rec_op(t->s->wal, LMQ_WAL_RANGE, db, lo,
                                             lol, hi, hil)
                           : 0;
}

void *
lmq__txn_user(lmq_txn *t)
{
    return t->user;
}

void
lmq__txn_set_user(lmq_txn *t, void *u)
{
    t->user = u;
}

int
lmq__cur_open(lmq_txn *t, int db, lmq_cur **out)
{
    lmq_cur *c = malloc(sizeof *c);
    if (!c)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    int rc = mdb_cursor_open(t->txn, t->s->dbi[db], &c->c);
    if (rc) {
        free(c);
        return op_err(t, rc, "cursor");
    }
    c->t = t;
    c->db = db;
    *out = c;
    return 0;
}

void
lmq__cur_close(lmq_cur *c)
{
    if (!c)
        return;
    mdb_cursor_close(c->c);
    free(c);
}

static int
cur_get(lmq_cur *c, MDB_val *key, MDB_cursor_op op, lmq_val *k, lmq_val *v)
{
    MDB_val val;
    int rc = mdb_cursor_get(c->c, key, &val, op);
    if (rc == MDB_NOTFOUND)
        return LMQ__NOTFOUND;
    if (rc)
        return op_err(c->t, rc, "cursor get");
    if (k) {
        k->data = key->mv_data;
        k->len = key->mv_size;
    }
    if (v) {
        v->data = val.mv_data;
        v->len = val.mv_size;
    }
    return 0;
}

int
lmq__cur_seek(lmq_cur *c, const void *k, size_t kl, lmq_val *key,
              lmq_val *val)
{
    MDB_val mk = {kl, (void *)k};
    /* LMDB rejects empty keys; "the first key >= empty" is the first. */
    return cur_get(c, &mk, kl ? MDB_SET_RANGE : MDB_FIRST, key, val);
}

int
lmq__cur_next(lmq_cur *c, lmq_val *key, lmq_val *val)
{
    MDB_val mk;
    return cur_get(c, &mk, MDB_NEXT, key, val);
}

int
lmq__cur_del(lmq_cur *c)
{
    lmq_txn *t = c->t;
    MDB_val key, val;
    int rc = 0;
    log_pre(t);
    if (t->log) {
        if ((rc = mdb_cursor_get(c->c, &key, &val, MDB_GET_CURRENT)) != 0)
            return op_err(t, rc, "cursor del");
        rc = lmq__wal_rec_op(t->s->wal, LMQ_WAL_DEL, c->db, key.mv_data,
                             key.mv_size, NULL, 0);
        if (rc)
            return rc;
    }
    rc = mdb_cursor_del(c->c, 0);
    return rc ? op_err(t, rc, "cursor del") : 0;
}

/* ---- populate ------------------------------------------------------------
 *
 * In a writable map LMDB stores into a page it allocates (a copy on write,
 * a page reused from its free list) through its map. A page that is clean
 * in the page cache (synced: every page of a home reopened, and every page
 * the kernel wrote back) is mapped read-only, so that first store faults,
 * and a fault costs a trap: ~19 us on the virtual machine lmq-bench ran on
 * (1.3 us of CPU saved per message for 0.069 faults fewer), against
 * ~0.5 us a page when one madvise(MADV_POPULATE_WRITE) covers a run. A queue drained with a deep backlog pays
 * one such fault per leaf page of `msg` it consumes (the page goes to the
 * free list when its first delete copies it, and LMDB reuses it clean).
 * So the receive path hands the leaf pages it is about to consume to
 * lmq__txn_populate(), which makes them writable in runs: sorted, pages at
 * most POP_GAP apart joined. Only live pages of the map are passed, so
 * nothing is allocated; a page made dirty that LMDB then does not reuse is
 * written back unchanged (bounded by what the caller passes). Not in FULL
 * homes: a writable map's checkpoint is an msync of the whole map. */
#define POP_GAP 4u
#define POP_MAX 128u

bool
lmq__txn_populates(const lmq_txn *t)
{
    const lmq_store *s = t->s;
    return !t->rdonly && s->writemap &&
           s->durability != LMQ_DURABILITY_FULL &&
           !__atomic_load_n(&s->pop_off, __ATOMIC_RELAXED);
}

static int
cmp_addr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

void
lmq__txn_populate(lmq_txn *t, const void *const *addrs, size_t n)
{
    lmq_store *s = t->s;
    uintptr_t pg[POP_MAX], mask = ~(uintptr_t)(s->psize - 1);
    size_t m = 0;
    if (!lmq__txn_populates(t))
        return;
    for (size_t i = 0; i < n && m < POP_MAX; i++)
        pg[m++] = (uintptr_t)addrs[i] & mask;
    qsort(pg, m, sizeof *pg, cmp_addr);
    for (size_t i = 0; i < m;) {
        uintptr_t lo = pg[i], hi = pg[i];
        while (++i < m && pg[i] - hi <= (uintptr_t)POP_GAP * s->psize)
            hi = pg[i];
        if (madvise((void *)lo, hi - lo + s->psize, MADV_POPULATE_WRITE) !=
                0 &&
            errno == EINVAL) { /* a kernel before 5.14 */
            __atomic_store_n(&s->pop_off, true, __ATOMIC_RELAXED);
            return;
        }
    }
}

/* ---- backup and check (admin.c) ----------------------------------------- */

int
lmq__store_copy(lmq_store *s, const char *dir)
{
    /* The checkpoint first: the copy is LMDB's newest transaction, taken
     * through a read transaction (no writer is held up), and a log left
     * short makes the next open of this home replay less. */
    int rc = lmq__store_sync(s);
    if (rc)
        return rc;
    pthread_rwlock_rdlock(&s->resize);
    rc = mdb_env_copy2(s->env, dir, MDB_CP_COMPACT);
    pthread_rwlock_unlock(&s->resize);
    return rc ? map_err(rc, dir) : 0;
}

int
lmq__store_log_check(lmq_store *s, int *records, uint64_t *expected)
{
    /* Under the writer lock nothing is appended while the log is read. */
    lmq_wal_ckpt ck;
    MDB_txn *txn;
    *records = 0;
    *expected = 0;
    int rc = begin(s, 0, &txn);
    if (rc)
        return rc;
    uint64_t gen = lmq__wal_gen(s->wal);
    if (gen != 0 && lmq__wal_last_ckpt(s->wal, &ck) == 0 && ck.gen == gen) {
        *expected = lmq__wal_records(s->wal);
        rc = lmq__wal_scan(s->wal, &ck, NULL, NULL);
        if (rc >= 0) {
            *records = rc;
            rc = 0;
        }
    }
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->resize);
    return rc;
}
