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
 * Durability: FULL commits with LMDB's two syncs, data pages then meta page,
 * the second one outside LMDB's writer lock (MDB_NOMETASYNC + meta_sync()),
 * and skips the second for batches of soft writes only (receives and
 * visibility changes, lmq__store_write_soft());
 * PERIODIC and NONE open with MDB_NOSYNC (LMDB keeps the store consistent as
 * long as the file system keeps write order; only the last transactions can
 * be lost) and PERIODIC runs a flusher thread calling mdb_env_sync() every
 * interval.
 * These flags are per process, so processes of one home may differ.
 * Writable relaxed homes also populate the file ahead of LMDB's last page
 * from a background thread ("prefault" below).
 *
 * Crashed processes: LMDB's writer mutex is a robust process-shared mutex,
 * so a writer killed mid-transaction releases it (its transaction is simply
 * never committed). Reader slots of dead processes are cleared at open and
 * every READER_CHECK_EVERY commits, and at once when the table is full.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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
};

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
    /* zeroed space ahead (full pwrite homes), see extend_ahead() */
    uint64_t ext_end; /* file size last seen; 0: not yet looked */
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

static void *
flusher_main(void *arg)
{
    lmq_store *s = arg;
    pthread_mutex_lock(&s->flush_mu);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec +
                      (uint64_t)s->flush_interval_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&s->flush_cv, &s->flush_mu, &ts);
        pthread_mutex_unlock(&s->flush_mu);
        mdb_env_sync(s->env, 1);
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
    mdb_env_info(s->env, &info);
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
    mdb_env_info(s->env, &info);
    *used = (uint64_t)(info.me_last_pgno + 1) * s->psize;
    pthread_mutex_lock(&s->pf_mu);
    while (s->pf_running && s->pf_done < s->pf_want)
        pthread_cond_wait(&s->pf_cv, &s->pf_mu);
    *ahead = s->pf_done > *used ? s->pf_done - *used : 0;
    int running = s->pf_running;
    pthread_mutex_unlock(&s->pf_mu);
    return running;
}

/* ---- zeroed space ahead (full pwrite homes) --------------------------------
 *
 * A sync after a write that extends the file also commits ext4's journal
 * (the new size and blocks): ~190 µs here against ~95 µs for overwritten
 * blocks. One message in a commit rarely reaches a new page, but a group
 * commit of eight writes a new page at the end of the file nearly every
 * time, so its data sync paid the journal commit on most batches. So when
 * the pages LMDB uses come within EXT_LOW of the end of the file, the
 * leader, after waking its batch, writes EXT_AHEAD bytes of zeros past the
 * end and syncs them: later commits overwrite blocks that exist. It holds
 * LMDB's writer lock (an empty write transaction) while it writes, so no
 * commit of any process can be putting pages there, and pages past LMDB's
 * last one are never read before LMDB writes them; a crash in the middle
 * leaves zeros LMDB ignores. */
#define EXT_LOW (1u << 20)
#define EXT_AHEAD (4u << 20)

static int begin(lmq_store *s, unsigned flags, MDB_txn **txn);

static void
extend_ahead(lmq_store *s)
{
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    uint64_t used = (uint64_t)(info.me_last_pgno + 1) * s->psize;
    uint64_t end = __atomic_load_n(&s->ext_end, __ATOMIC_RELAXED);
    if (end && used + EXT_LOW <= end)
        return;
    int fd;
    struct stat st;
    if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) != 0)
        return;
    end = (uint64_t)st.st_size;
    __atomic_store_n(&s->ext_end, end, __ATOMIC_RELAXED);
    if (used + EXT_LOW <= end)
        return;
    MDB_txn *txn;
    if (begin(s, 0, &txn) != 0)
        return;
    mdb_env_info(s->env, &info); /* no commit can move it now */
    used = (uint64_t)(info.me_last_pgno + 1) * s->psize;
    if (fstat(fd, &st) == 0) /* another leader may have extended it */
        end = (uint64_t)st.st_size;
    uint64_t from = end > used ? end : used;
    from -= from % s->psize;
    static const char zeros[64 << 10];
    bool ok = true;
    for (uint64_t off = from; ok && off < used + EXT_AHEAD;
         off += sizeof zeros)
        ok = pwrite(fd, zeros, sizeof zeros, (off_t)off) ==
             (ssize_t)sizeof zeros;
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&s->resize);
    /* Failing here (a full disk) only means the next commits extend the
     * file themselves, as LMDB does anyway. */
    if (ok && fdatasync(fd) == 0)
        __atomic_store_n(&s->ext_end, used + EXT_AHEAD, __ATOMIC_RELAXED);
}

/* Read HOME/mapmode: 0 (and *wm) when present, 1 when absent, < 0 on error. */
static int
read_mapmode(const char *path, bool *wm)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
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
        bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text) &&
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

    if ((rc = mdb_env_create(&s->env)) != 0)
        goto fail;
    mdb_env_set_maxdbs(s->env, LMQ_DB__COUNT + 2);
    mdb_env_set_maxreaders(s->env, o->max_readers ? o->max_readers : 1024);
    if ((rc = mdb_env_set_mapsize(s->env, (size_t)o->map_size)) != 0)
        goto fail;
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
    if (o->durability != LMQ_DURABILITY_FULL)
        flags |= MDB_NOSYNC;
    else
        flags |= MDB_NOMETASYNC; /* the meta sync runs unlocked: meta_sync() */
    if (s->writemap)
        flags |= MDB_WRITEMAP;
    rc = mdb_env_open(s->env, dir, flags, 0600);
    if (rc == MDB_MAP_RESIZED)
        rc = mdb_env_set_mapsize(s->env, 0);
    if (rc != 0)
        goto fail;
    int dead = 0;
    mdb_reader_check(s->env, &dead);

    /* Adopt a larger map another process may have set. */
    MDB_envinfo info;
    MDB_stat est;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &est);
    s->map_size = info.me_mapsize;
    s->psize = est.ms_psize;
    s->pf_start = (uint64_t)(info.me_last_pgno + 1) * s->psize + PF_START;

    MDB_txn *txn;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
        goto fail;
    for (int i = 0; i < LMQ_DB__COUNT; i++) {
        rc = mdb_dbi_open(txn, dbnames[i], MDB_CREATE, &s->dbi[i]);
        if (rc != 0) {
            mdb_txn_abort(txn);
            goto fail;
        }
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        goto fail;

    if (o->durability == LMQ_DURABILITY_PERIODIC) {
        if (pthread_create(&s->flusher, NULL, flusher_main, s) == 0)
            s->flusher_running = true;
    }
    *out = s;
    return 0;
fail:
    rc = map_err(rc, dir);
    if (s->env)
        mdb_env_close(s->env);
    pthread_rwlock_destroy(&s->resize);
    pthread_mutex_destroy(&s->flush_mu);
    pthread_cond_destroy(&s->flush_cv);
    pthread_mutex_destroy(&s->gc_mu);
    pthread_cond_destroy(&s->gc_gather_cv);
    pthread_mutex_destroy(&s->pf_mu);
    pthread_cond_destroy(&s->pf_cv);
    free(s);
    return rc;
}

int
lmq__store_open(const char *dir, const lmq_store_opts *o, lmq_store **out)
{
    struct stat st;
    *out = NULL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return lmq__seterr(LMQ_EIO, "cannot create %s: %s", dir,
                           strerror(errno));
    if (stat(dir, &st) != 0)
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
    if (s->durability != LMQ_DURABILITY_NONE)
        mdb_env_sync(s->env, 1);
    mdb_env_close(s->env);
    pthread_rwlock_destroy(&s->resize);
    pthread_mutex_destroy(&s->flush_mu);
    pthread_cond_destroy(&s->flush_cv);
    pthread_mutex_destroy(&s->gc_mu);
    pthread_cond_destroy(&s->gc_gather_cv);
    pthread_mutex_destroy(&s->pf_mu);
    pthread_cond_destroy(&s->pf_cv);
    free(s);
}

int
lmq__store_sync(lmq_store *s)
{
    int rc = mdb_env_sync(s->env, 1);
    return rc ? map_err(rc, "sync") : 0;
}

int
lmq__store_reader_check(lmq_store *s)
{
    int dead = 0;
    mdb_reader_check(s->env, &dead);
    return dead;
}

int
lmq__store_stat(lmq_store *s, uint64_t *file_bytes, uint64_t *map_bytes)
{
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &st);
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
    mdb_env_set_mapsize(s->env, 0);
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->map_size = info.me_mapsize;
    pthread_rwlock_unlock(&s->resize);
}

/* Double the map (bounded). Returns 0 if it grew. */
static int
grow_map(lmq_store *s)
{
    int rc = LMQ_ENOSPC;
    pthread_rwlock_wrlock(&s->resize);
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    uint64_t cur = info.me_mapsize;
    if (s->max_map_size > cur) {
        uint64_t next = cur * 2;
        if (next > s->max_map_size)
            next = s->max_map_size;
        if (mdb_env_set_mapsize(s->env, (size_t)next) == 0) {
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
        lmq_txn t = {.s = s};
        rc = mdb_txn_begin(s->env, parent, 0, &t.txn);
        if (rc) {
            op_fail(op, map_err(rc, "begin nested transaction"));
            continue;
        }
        rc = op->fn(&t, op->arg);
        if (rc >= 0) {
            int crc = mdb_txn_commit(t.txn);
            if (crc == 0) {
                op->rc = rc;
                ran++;
                continue;
            }
            if (crc == MDB_MAP_FULL)
                t.map_full = true;
            rc = map_err(crc, "commit");
        } else {
            mdb_txn_abort(t.txn);
        }
        if (t.map_full) {
            /* The ops before this one may be what filled the map: grow and
             * run them all again. If the map cannot grow, this op fails
             * alone and the rest run again without it. */
            mdb_txn_abort(parent);
            pthread_rwlock_unlock(&s->resize);
            if (grow_map(s) != 0) {
                op_fail(op, full_err(s));
                op->final = true;
            }
            return 1;
        }
        op_fail(op, rc);
    }
    if (commit_hook)
        commit_hook(ran);
    int crc = mdb_txn_commit(parent);
    pthread_rwlock_unlock(&s->resize);
    if (crc == MDB_MAP_FULL && grow_map(s) == 0)
        return 1;
    if (crc != 0) {
        rc = map_err(crc, "commit");
        for (size_t i = 0; i < n; i++)
            if (!ops[i]->final && ops[i]->rc >= 0)
                op_fail(ops[i], rc);
    }
    return 0;
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
        t.user = NULL;
        t.map_full = false;
        rc = op->fn(&t, op->arg);
        if (rc < 0) {
            mdb_txn_abort(t.txn);
            pthread_rwlock_unlock(&s->resize);
            if (t.map_full) {
                if (grow_map(s) == 0)
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
    if (commit_hook)
        commit_hook(live);
    int crc = mdb_txn_commit(t.txn);
    pthread_rwlock_unlock(&s->resize);
    if (crc == MDB_MAP_FULL && grow_map(s) == 0)
        return 1;
    if (crc != 0) {
        rc = map_err(crc, "commit");
        for (size_t i = 0; i < n; i++)
            if (!ops[i]->final)
                op_fail(ops[i], rc);
    }
    return 0;
}

/* The leader's work: apply a batch and commit it once. Units run flat in
 * one transaction; only a batch of several in which one fails runs again
 * with each unit nested (failures are rare, nesting costs a little on every
 * unit). A lone caller thus pays exactly one plain transaction. */
static void
run_batch(lmq_store *s, struct gc_op **ops, size_t *np)
{
    int rc;
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
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    uint64_t ns = (uint64_t)dl.tv_nsec + wait;
    dl.tv_sec += (time_t)(ns / 1000000000u);
    dl.tv_nsec = (long)(ns % 1000000000u);
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

/* FULL: put the last commit's meta page on disk (gc_mu held; dropped
 * meanwhile). The home runs with MDB_NOMETASYNC: a commit syncs its data
 * pages (and with them the meta page of the commit before it) under LMDB's
 * writer lock, then writes its own meta page without a sync and releases
 * the lock. LMDB writes a meta page only once the pages it points to are
 * on disk, so a flush at any moment leaves a consistent store, and only the
 * newest meta page can be unsynced (after an OS crash LMDB opens the one
 * before it: "NOMETASYNC may undo the last committed transaction"). So this
 * second sync needs no lock: other processes commit while it runs. The
 * batch's owners are woken only after it, so an acknowledged write is on
 * disk as before. This process's next batch waits (gc_busy stays set):
 * starting it during the sync split the callers into batches that each
 * paid a commit. With 4 producer and 4 consumer processes this raised
 * throughput by ~20-25 % (bench W4x4, full). A batch of soft writes only
 * (receives, visibility changes) skips it: its meta page is the newest
 * unsynced one until any later commit's data sync, and an OS crash before
 * then undoes just that batch. Returns 0 or an error. */
static int
meta_sync(lmq_store *s)
{
    pthread_mutex_unlock(&s->gc_mu);
    int rc = mdb_env_sync(s->env, 1);
    pthread_mutex_lock(&s->gc_mu);
    return rc ? map_err(rc, "sync") : 0;
}

static int
store_write(lmq_store *s, lmq_txn_fn fn, void *arg, bool soft)
{
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
        uint64_t t1 = t0 ? mono_ns() : 0;
        bool committed = false, hard = false;
        for (size_t i = 0; i < n; i++)
            if (!batch[i]->final && batch[i]->rc >= 0) {
                committed = true;
                hard |= !batch[i]->soft;
            }
        pthread_mutex_lock(&s->gc_mu);
        if (full && hard) {
            int rc = meta_sync(s);
            for (size_t i = 0; rc < 0 && i < n; i++)
                if (!batch[i]->final && batch[i]->rc >= 0)
                    op_fail(batch[i], rc);
        }
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
        if (full && committed && !s->writemap)
            extend_ahead(s); /* delays only this leader's own return */
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

int
lmq__store_write(lmq_store *s, lmq_txn_fn fn, void *arg)
{
    return store_write(s, fn, arg, false);
}

int
lmq__store_write_soft(lmq_store *s, lmq_txn_fn fn, void *arg)
{
    return store_write(s, fn, arg, true);
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

int
lmq__txn_put(lmq_txn *t, int db, const void *k, size_t kl, const void *v,
             size_t vl)
{
    MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
    int rc = txn_put(t, db, &key, &val, 0);
    return rc ? op_err(t, rc, "put") : 0;
}

int
lmq__txn_reserve(lmq_txn *t, int db, const void *k, size_t kl, size_t vl,
                 void **out)
{
    MDB_val key = {kl, (void *)k}, val = {vl, NULL};
    int rc = txn_put(t, db, &key, &val, MDB_RESERVE);
    if (rc)
        return op_err(t, rc, "reserve");
    *out = val.mv_data;
    return 0;
}

int
lmq__txn_del(lmq_txn *t, int db, const void *k, size_t kl)
{
    MDB_val key = {kl, (void *)k}, val;
    MDB_cursor *c = txn_cursor(t, db);
    int rc = c ? mdb_cursor_get(c, &key, &val, MDB_SET)
               : mdb_del(t->txn, t->s->dbi[db], &key, NULL);
    if (c && rc == 0)
        rc = mdb_cursor_del(c, 0);
    if (rc == MDB_NOTFOUND)
        return LMQ__NOTFOUND;
    return rc ? op_err(t, rc, "del") : 0;
}

int
lmq__txn_del_range(lmq_txn *t, int db, const void *lo, size_t lol,
                   const void *hi, size_t hil, uint64_t *n)
{
    MDB_cursor *c;
    uint64_t count = 0;
    int rc = mdb_cursor_open(t->txn, t->s->dbi[db], &c);
    if (rc)
        return op_err(t, rc, "cursor");
    MDB_val key = {lol, (void *)lo}, val;
    MDB_val hik = {hil, (void *)hi};
    rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
    while (rc == 0 && mdb_cmp(t->txn, t->s->dbi[db], &key, &hik) < 0) {
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        count++;
        /* After a delete LMDB's MDB_NEXT yields the entry that followed. */
        rc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (n)
        *n = count;
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc ? op_err(t, rc, "delete range") : 0;
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
    int rc = mdb_cursor_del(c->c, 0);
    return rc ? op_err(c->t, rc, "cursor del") : 0;
}
