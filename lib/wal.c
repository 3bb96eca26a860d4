/*
 * wal.c: the redo log of FULL homes; see wal.h for its place and store.c
 * for the commit and recovery protocol.
 *
 * HOME/wal: two checkpoint header slots (generation g lives in slot g % 2,
 * so writing one never touches the other, the one recovery falls back to
 * if the write is torn) and then records, appended from REC_START and
 * started again at REC_START after each checkpoint:
 *
 *   record: u32 len, u32 crc32c (of the record with this field zero),
 *           u64 generation, u64 txnid, then operations:
 *           u8 kind, u8 db, u32 key length, u32 value length, key, value
 *           (for a range delete the "value" is the exclusive upper key;
 *           for a page image the key is the page number, the value the
 *           page; a pad, which replay skips, ends a flushed record at a
 *           page boundary, its value zeros or a flush mark: "damage"
 *           below).
 *
 * The file is extended with zeros ahead of the records (ZERO_CHUNK at a
 * time): a flush after writing into blocks that exist costs one device
 * write, where a flush after growing the file also commits ext4's journal.
 * Old records past the tail are harmless: recovery stops at the first
 * record that is torn (crc), of another generation, or not the next txnid.
 * All integers are big-endian, as in the keys.
 */
#define _GNU_SOURCE 1 /* fallocate, FALLOC_FL_KEEP_SIZE */
#include "wal.h"

#include "store.h"
#include "homefile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOT 4096u
#define REC_START (2u * SLOT)
#define REC_HDR 24u
#define OP_HDR 10u
#define ZERO_CHUNK (1u << 20)
/* Past this the log checkpoints before appending (a single larger record
 * is still appended, at REC_START). */
#define WAL_LIMIT (64u << 20)
/* A checkpoint is due after this many records or bytes: the probe
 * (lmq-bench --log-probe) spent 11-22 % of its time in checkpoints at 256
 * commits each. */
#define CKPT_RECORDS 256u
#define CKPT_BYTES (16u << 20)
/* fcntl lock bytes of HOME/wal.lock */
#define LOCK_OPEN 0
#define LOCK_HOME 1
#define LOCK_GEN (1u << 20)

static const uint8_t hdr_magic[8] = {'L', 'M', 'Q', 'W', 'A', 'L', '0', '1'};
#define SHARED_MAGIC 0x4c4d5157414c5348ull /* "LMQWALSH" */

/* The shared tail: page 0 of HOME/wal.lock, mapped by every process of the
 * home, changed only under LMDB's writer lock (gen is also read without). */
struct wal_shared {
    uint64_t magic;
    uint64_t gen;        /* current checkpoint (0: none yet) */
    uint64_t ckpt_txnid; /* its S */
    uint64_t tail;       /* where the next record goes */
    uint64_t last_start; /* the last record (== tail: none to drop) */
    uint64_t last_txnid; /* its txnid, or S when the log is empty */
    uint64_t records;    /* since the checkpoint */
    uint64_t zeroed;     /* the file is written (zeros or records) below */
    /* Appended later (older processes ignore them; a page they left has
     * zeros here): the boot this page was last reset in, which makes the
     * fields above a witness of what was written (recovery, "damage"
     * below), and the lowest offset a killed writer's record was dropped
     * at since the checkpoint (UINT64_MAX: none), below which the log was
     * never rewritten. */
    char boot[40];
    uint64_t rewound;
    /* Appended with adoption (store.c, "the log"): the generation the
     * owner's images belong to, the free-list records whose pages of S
     * its flushed images cover (records <= img_upto), and S's last page.
     * A page left by an older lmq has zeros here: no adoption. */
    uint64_t img_gen;
    uint64_t img_upto;
    uint64_t ckpt_last;
};

struct lmq_wal {
    int fd;     /* HOME/wal */
    int lockfd; /* HOME/wal.lock */
    struct wal_shared *sh;
    uint64_t own_gen; /* generation whose lock byte this process holds */
    /* the record being built */
    uint8_t *buf;
    size_t len, cap;
    const void *res_src; /* pending reserve: copy res_len bytes ... */
    size_t res_off, res_len; /* ... from res_src to buf + res_off */
    /* Flush marks (mu): this process's last append (generation, end) and
     * the end of the log its last completed flush covered. */
    pthread_mutex_t mu;
    uint64_t app_gen, app_end, fl_gen, fl_end;
    char path[PATH_MAX];
};

/* A pad's value may start with this mark and a u64: the log of the
 * record's generation was flushed up to that offset when it was appended. */
static const uint8_t flush_magic[8] = {'L', 'M', 'Q', 'F', 'L', 'U', 'S', 'H'};
#define MARK_LEN 16u

/* ---- crc32c (Castagnoli) -------------------------------------------------
 *
 * With SSE 4.2 (checked at run time) the CPU's crc32 instruction, 8 bytes
 * at a time; elsewhere a table, a byte at a time. Both compute the same
 * function, so a log written by one is read by the other. Every record is
 * summed whole: with the table, summing a 256 KiB record took longer than
 * writing it (perf: lmq__wal_append was 17 % of a `full` lmq-bench W1 run,
 * nearly all of it in the 256 KiB row). */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static uint32_t (*crc_fn)(uint32_t c, const uint8_t *p, size_t n);

static uint32_t
crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
    while (n--)
        c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t c, const uint8_t *p, size_t n)
{
    uint64_t c64 = c;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, sizeof v); /* little-endian, as the table reads it */
        c64 = __builtin_ia32_crc32di(c64, v);
    }
    c = (uint32_t)c64;
    while (n--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

static void
crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
    crc_fn = crc_sw;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2"))
        crc_fn = crc_hw;
#endif
}

static uint32_t
crc32c(const uint8_t *p, size_t n)
{
    return ~crc_fn(0xffffffffu, p, n);
}

uint32_t
lmq__crc32c(const void *p, size_t n, bool table)
{
    pthread_once(&crc_once, crc_init);
    return table ? ~crc_sw(0xffffffffu, p, n) : crc32c(p, n);
}

/* ---- files and locks ------------------------------------------------------ */

static int
lock_byte(int fd, short type, off_t at, bool wait)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = at,
                       .l_len = 1};
    int rc;
    while ((rc = fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl)) != 0 &&
           errno == EINTR)
        ;
    return rc;
}

/* Whether another process holds byte at (our own locks never conflict). */
static bool
byte_held(int fd, off_t at)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = at,
                       .l_len = 1};
    if (fcntl(fd, F_GETLK, &fl) != 0)
        return true; /* cannot tell: assume alive (never unsafe) */
    return fl.l_type != F_UNLCK;
}

static int
write_all(int fd, const void *p, size_t n, uint64_t off)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = pwrite(fd, b, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w == 0)
            errno = ENOSPC; /* no progress: the file system is full */
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int
read_all(int fd, void *p, size_t n, uint64_t off)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = pread(fd, b, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* errno of a failed call as an error: a full disk (or quota) is
 * LMQ_ENOSPC, anything else LMQ_EIO. */
static int
io_err(lmq_wal *w, const char *what)
{
    int err = errno;
    return lmq__seterr(err == ENOSPC || err == EDQUOT ? LMQ_ENOSPC
                       : err == EACCES || err == EPERM ? LMQ_EPERM
                                                       : LMQ_EIO,
                       "%s %s: %s%s", what, w->path, strerror(err),
                       err == ELOOP ? " (a symbolic link)" : "");
}

int
lmq__wal_open(const char *dir, lmq_wal **out, bool *alone)
{
    pthread_once(&crc_once, crc_init);
    lmq_wal *w = calloc(1, sizeof *w);
    if (!w)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    w->fd = w->lockfd = -1;
    pthread_mutex_init(&w->mu, NULL);
    int rc;
    if (snprintf(w->path, sizeof w->path, "%s/wal.lock", dir) >=
        (int)sizeof w->path) {
        free(w);
        return lmq__seterr(LMQ_EINVAL, "home path too long");
    }
    w->lockfd = lmq__home_open(w->path, O_RDWR | O_CREAT);
    if (w->lockfd < 0) {
        rc = io_err(w, "cannot open");
        goto fail;
    }
    if (lock_byte(w->lockfd, F_WRLCK, LOCK_OPEN, true) != 0) {
        rc = io_err(w, "cannot lock");
        goto fail;
    }
    *alone = lock_byte(w->lockfd, F_WRLCK, LOCK_HOME, false) == 0;
    struct stat st;
    if (fstat(w->lockfd, &st) != 0 ||
        (st.st_size < (off_t)SLOT && ftruncate(w->lockfd, SLOT) != 0)) {
        rc = io_err(w, "cannot size");
        goto fail;
    }
    void *m = mmap(NULL, SLOT, PROT_READ | PROT_WRITE, MAP_SHARED, w->lockfd,
                   0);
    if (m == MAP_FAILED) {
        rc = io_err(w, "cannot map");
        goto fail;
    }
    w->sh = m;
    snprintf(w->path, sizeof w->path, "%s/wal", dir);
    w->fd = lmq__home_open(w->path, O_RDWR | O_CREAT);
    if (w->fd < 0) {
        rc = io_err(w, "cannot open");
        goto fail;
    }
    /* The checkpoint slots get their blocks now: a checkpoint must not
     * need a block of a full disk (a hole on tmpfs does). Failing here,
     * the first checkpoint reports it. KEEP_SIZE: an open that fails later
     * (a damaged data.mdb) leaves the log's bytes as they were. */
    (void)fallocate(w->fd, FALLOC_FL_KEEP_SIZE, 0, REC_START);
    if (!*alone && w->sh->magic != SHARED_MAGIC) {
        /* Opened by a process that predates the log, which never logs:
         * start a log of our own (the first logged write checkpoints). */
        lmq__wal_reset_shared(w, 0, 0);
    }
    *out = w;
    return 0;
fail:
    lmq__wal_close(w);
    return rc;
}

void
lmq__wal_opened(lmq_wal *w)
{
    lock_byte(w->lockfd, F_RDLCK, LOCK_HOME, true);
    lock_byte(w->lockfd, F_UNLCK, LOCK_OPEN, false);
}

int
lmq__wal_exclude(const char *dir, int *fd, pid_t *other)
{
    char path[PATH_MAX];
    *fd = -1;
    *other = 0;
    if (snprintf(path, sizeof path, "%s/wal.lock", dir) >= (int)sizeof path)
        return lmq__seterr(LMQ_EINVAL, "home path too long");
    int f = lmq__home_open(path, O_RDWR);
    if (f < 0)
        return lmq__seterr(LMQ_EIO, "cannot open %s: %s", path,
                           strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
                       .l_start = LOCK_OPEN, .l_len = 1};
    int rc;
    while ((rc = fcntl(f, F_OFD_SETLKW, &fl)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {
        rc = lmq__seterr(LMQ_EIO, "cannot lock %s: %s", path,
                         strerror(errno));
        close(f);
        return rc;
    }
    /* A classic probe: this process's own read lock does not count, any
     * other opener's does. */
    struct flock pr = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
                       .l_start = LOCK_HOME, .l_len = 1};
    if (fcntl(f, F_GETLK, &pr) != 0)
        *other = -1; /* cannot tell: assume another (never unsafe) */
    else if (pr.l_type != F_UNLCK)
        *other = pr.l_pid ? pr.l_pid : -1;
    *fd = f;
    return 0;
}

int
lmq__wal_truncate(const char *dir)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/wal", dir) >= (int)sizeof path)
        return lmq__seterr(LMQ_EINVAL, "home path too long");
    int f = lmq__home_open(path, O_RDWR);
    if (f < 0)
        return errno == ENOENT ? 0
                               : lmq__seterr(LMQ_EIO, "cannot open %s: %s",
                                             path, strerror(errno));
    int rc = 0;
    if (ftruncate(f, 0) != 0 || fsync(f) != 0)
        rc = lmq__seterr(errno == ENOSPC ? LMQ_ENOSPC : LMQ_EIO,
                         "cannot empty %s: %s", path, strerror(errno));
    close(f);
    return rc;
}

void
lmq__wal_close(lmq_wal *w)
{
    if (!w)
        return;
    if (w->sh)
        munmap(w->sh, SLOT);
    if (w->fd >= 0)
        close(w->fd);
    if (w->lockfd >= 0)
        close(w->lockfd); /* drops every lock of ours on it */
    free(w->buf);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* This boot's id (Linux), or "" when the system has none to offer. */
static void
boot_id(char out[40])
{
    memset(out, 0, 40);
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, out, 39);
    close(fd);
    if (n < 16) {
        memset(out, 0, 40);
        return;
    }
    out[n] = '\0';
    out[strcspn(out, "\n")] = '\0';
}

/* ---- checkpoint headers ---------------------------------------------------- */

#define CK_LEN (8 + 8 + 8 + 4 + LMQ_WAL_META_LEN + 4)

static void
ck_encode(const lmq_wal_ckpt *ck, uint8_t *p)
{
    memcpy(p, hdr_magic, 8);
    lmq__put_u64(p + 8, ck->gen);
    lmq__put_u64(p + 16, ck->txnid);
    lmq__put_u32(p + 24, ck->psize);
    memcpy(p + 28, ck->meta, LMQ_WAL_META_LEN);
    lmq__put_u32(p + 28 + LMQ_WAL_META_LEN, crc32c(p, CK_LEN - 4));
}

static bool
ck_decode(const uint8_t *p, lmq_wal_ckpt *ck)
{
    if (memcmp(p, hdr_magic, 8) != 0 ||
        lmq__get_u32(p + 28 + LMQ_WAL_META_LEN) != crc32c(p, CK_LEN - 4))
        return false;
    ck->gen = lmq__get_u64(p + 8);
    ck->txnid = lmq__get_u64(p + 16);
    ck->psize = lmq__get_u32(p + 24);
    memcpy(ck->meta, p + 28, LMQ_WAL_META_LEN);
    return ck->gen != 0;
}

int
lmq__wal_last_ckpt(lmq_wal *w, lmq_wal_ckpt *ck)
{
    bool found = false;
    for (unsigned slot = 0; slot < 2; slot++) {
        uint8_t p[CK_LEN];
        lmq_wal_ckpt c;
        if (read_all(w->fd, p, sizeof p, (uint64_t)slot * SLOT) == 0 &&
            ck_decode(p, &c) && c.gen % 2 == slot &&
            (!found || c.gen > ck->gen)) {
            *ck = c;
            found = true;
        }
    }
    return found ? 0 : LMQ__NOTFOUND;
}

/* Scan one run of records from off (txnids want, want + 1, ... of ck's
 * generation; a torn or foreign record ends it), calling fn for each
 * operation. Returns the number of records (>= 0), fn's error or an I/O
 * error (< 0); *end is where the run stopped, mk the first flush mark
 * above `above` its records carry (mark 0: none) and that record. */
struct mark {
    uint64_t mark, at, txnid;
};

static int
scan_run(lmq_wal *w, const lmq_wal_ckpt *ck, uint64_t size, uint64_t off,
         uint64_t want, lmq_wal_op_fn fn, void *arg, uint64_t above,
         uint64_t *end, struct mark *mk)
{
    uint8_t *rec = NULL;
    int n = 0, rc = 0;
    mk->mark = 0;
    for (;;) {
        uint8_t h[REC_HDR];
        if (off + REC_HDR > size || read_all(w->fd, h, REC_HDR, off) != 0)
            break;
        uint32_t len = lmq__get_u32(h);
        if (len < REC_HDR || len > size - off ||
            lmq__get_u64(h + 8) != ck->gen || lmq__get_u64(h + 16) != want)
            break;
        uint8_t *r = realloc(rec, len);
        if (!r) {
            rc = lmq__seterr(LMQ_ENOMEM, NULL);
            break;
        }
        rec = r;
        if (read_all(w->fd, rec, len, off) != 0)
            break;
        uint32_t crc = lmq__get_u32(rec + 4);
        memset(rec + 4, 0, 4);
        if (crc32c(rec, len) != crc)
            break;
        /* Operations: the crc vouches for them; still never read past
         * the record. */
        for (size_t p = REC_HDR; rc == 0 && p < len;) {
            if (len - p < OP_HDR) {
                rc = lmq__seterr(LMQ_ECORRUPT, "%s: bad record", w->path);
                break;
            }
            int kind = rec[p], db = rec[p + 1];
            uint32_t kl = lmq__get_u32(rec + p + 2);
            uint32_t vl = lmq__get_u32(rec + p + 6);
            if (kl > len - p - OP_HDR || vl > len - p - OP_HDR - kl ||
                kind < LMQ_WAL_PUT) {
                rc = lmq__seterr(LMQ_ECORRUPT, "%s: bad record", w->path);
                break;
            }
            if (kind > LMQ_WAL_PAD || db >= LMQ_DB__COUNT) {
                /* The crc vouches for it: an operation (or a database)
                 * of a newer lmq, which this one must not replay around,
                 * before anything is changed. */
                rc = lmq__seterr(LMQ_EVERSION,
                                 "%s: the record of transaction %llu at "
                                 "offset %llu has an operation of kind %d "
                                 "on database %d, unknown to this version "
                                 "(written by a newer lmq?)",
                                 w->path, (unsigned long long)want,
                                 (unsigned long long)off, kind, db);
                break;
            }
            const uint8_t *k = rec + p + OP_HDR;
            if (kind == LMQ_WAL_PAD && vl >= MARK_LEN &&
                memcmp(k + kl, flush_magic, 8) == 0 &&
                mk->mark == 0 && lmq__get_u64(k + kl + 8) > above) {
                mk->mark = lmq__get_u64(k + kl + 8);
                mk->at = off;
                mk->txnid = want;
            }
            if (fn && kind != LMQ_WAL_PAD)
                rc = fn(arg, kind, db, k, kl, k + kl, vl);
            p += OP_HDR + kl + vl;
        }
        if (rc)
            break;
        n++;
        want++;
        off += len;
    }
    free(rec);
    *end = off;
    return rc ? rc : n;
}

int
lmq__wal_scan(lmq_wal *w, const lmq_wal_ckpt *ck, lmq_wal_op_fn fn,
              void *arg)
{
    struct stat st;
    if (fstat(w->fd, &st) != 0)
        return io_err(w, "cannot stat");
    uint64_t end;
    struct mark mk;
    return scan_run(w, ck, (uint64_t)st.st_size, REC_START, ck->txnid + 1,
                    fn, arg, UINT64_MAX, &end, &mk);
}

/* ---- damage ------------------------------------------------------------------
 *
 * A crash tears only the end of the log that was never flushed; a run of
 * records that stops before records known to be written is damage (a bad
 * disk, a stray write, a file cut short by hand), and replaying the run
 * alone would roll the home back in silence. Two witnesses know more than
 * the records themselves:
 *
 * - The shared tail, when this boot wrote it (the page holds this boot's
 *   id, set at every recovery). A process crash leaves the page as the
 *   writers left it: every record up to tail, through txnid last_txnid,
 *   was written (the tail moves after the write), so the run must reach
 *   last_txnid. After an OS crash the page may be older or newer than the
 *   log, and its id is another boot's: it says nothing.
 * - Flush marks. A padded record carries, in its pad, the end of the log
 *   that its process's last completed flush covered in the same
 *   generation (lowered to where a killed writer's record was dropped:
 *   the log below is never written again in a generation). A valid record
 *   found past the point where the run stopped whose mark lies beyond that
 *   point proves that the bytes there were flushed once, so a crash cannot
 *   have torn them. Records past the stop are looked for at every page
 *   boundary (a padded record ends one, so a process's next record starts
 *   one) and followed from there.
 *
 * A bad record followed by valid records without such a mark is not
 * reported: after an OS crash, a later record of the unflushed end may
 * reach the disk before an earlier one. */
int
lmq__wal_verify(lmq_wal *w, const lmq_wal_ckpt *ck)
{
    struct stat st;
    if (fstat(w->fd, &st) != 0)
        return io_err(w, "cannot stat");
    uint64_t size = (uint64_t)st.st_size, stop;
    struct mark mk;
    int n = scan_run(w, ck, size, REC_START, ck->txnid + 1, NULL, NULL,
                     UINT64_MAX, &stop, &mk);
    if (n < 0)
        return n;
    uint64_t want = ck->txnid + 1 + (uint64_t)n;
    const struct wal_shared *sh = w->sh;
    char boot[40];
    boot_id(boot);
    if (sh->magic == SHARED_MAGIC && boot[0] &&
        memcmp(sh->boot, boot, sizeof boot) == 0 && sh->gen == ck->gen &&
        sh->ckpt_txnid == ck->txnid && sh->last_txnid >= want) {
        if (size < sh->tail)
            return lmq__seterr(
                LMQ_ECORRUPT,
                "%s is damaged at offset %llu: the file ends at %llu, but "
                "records up to transaction %llu were written up to offset "
                "%llu",
                w->path, (unsigned long long)stop, (unsigned long long)size,
                (unsigned long long)sh->last_txnid,
                (unsigned long long)sh->tail);
        return lmq__seterr(
            LMQ_ECORRUPT,
            "%s is damaged at offset %llu: the record of transaction %llu "
            "there is bad, and records up to transaction %llu were written "
            "(up to offset %llu)",
            w->path, (unsigned long long)stop, (unsigned long long)want,
            (unsigned long long)sh->last_txnid, (unsigned long long)sh->tail);
    }
    for (uint64_t at = (stop / SLOT + 1) * SLOT; at + REC_HDR <= size;
         at += SLOT) {
        uint8_t h[REC_HDR];
        if (read_all(w->fd, h, REC_HDR, at) != 0)
            break;
        uint64_t txnid = lmq__get_u64(h + 16);
        if (lmq__get_u64(h + 8) != ck->gen || txnid < want)
            continue;
        uint64_t end;
        int m = scan_run(w, ck, size, at, txnid, NULL, NULL, stop, &end,
                         &mk);
        if (m < 0)
            return m;
        if (m > 0 && mk.mark)
            return lmq__seterr(
                LMQ_ECORRUPT,
                "%s is damaged at offset %llu: the record of transaction "
                "%llu there is bad, and the record of transaction %llu at "
                "offset %llu shows the log was flushed up to offset %llu",
                w->path, (unsigned long long)stop, (unsigned long long)want,
                (unsigned long long)mk.txnid, (unsigned long long)mk.at,
                (unsigned long long)mk.mark);
        if (m > 0 && end > at + SLOT)
            at = (end / SLOT) * SLOT - SLOT; /* go on after this run */
    }
    return n;
}

void
lmq__wal_reset_shared(lmq_wal *w, uint64_t gen, uint64_t txnid)
{
    struct wal_shared *sh = w->sh;
    struct stat st;
    sh->gen = gen;
    sh->ckpt_txnid = txnid;
    sh->tail = sh->last_start = REC_START;
    sh->last_txnid = txnid;
    sh->records = 0;
    /* never below the records: zeros must not land on the headers */
    sh->zeroed = fstat(w->fd, &st) == 0 && st.st_size > REC_START
                     ? (uint64_t)st.st_size
                     : REC_START;
    sh->rewound = UINT64_MAX;
    sh->img_gen = 0; /* no adoption until the next checkpoint */
    boot_id(sh->boot);
    sh->magic = SHARED_MAGIC;
}

/* ---- building a record ------------------------------------------------------ */

static int
rec_room(lmq_wal *w, size_t more)
{
    if (w->len + more <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + more)
        cap *= 2;
    uint8_t *b = realloc(w->buf, cap);
    if (!b)
        return lmq__seterr(LMQ_ENOMEM, "log record of %zu bytes",
                           w->len + more);
    w->buf = b;
    w->cap = cap;
    return 0;
}

static void
rec_flush_reserve(lmq_wal *w)
{
    if (w->res_src) {
        memcpy(w->buf + w->res_off, w->res_src, w->res_len);
        w->res_src = NULL;
    }
}

void
lmq__wal_rec_reset(lmq_wal *w)
{
    w->res_src = NULL;
    w->len = REC_HDR;
}

static int
rec_add(lmq_wal *w, int kind, int db, const void *k, size_t kl,
        const void *v, size_t vl, size_t *voff)
{
    rec_flush_reserve(w);
    if (kl > UINT32_MAX || vl > UINT32_MAX)
        return lmq__seterr(LMQ_EINVAL, "log record too large");
    int rc = rec_room(w, OP_HDR + kl + vl);
    if (rc)
        return rc;
    uint8_t *p = w->buf + w->len;
    p[0] = (uint8_t)kind;
    p[1] = (uint8_t)db;
    lmq__put_u32(p + 2, (uint32_t)kl);
    lmq__put_u32(p + 6, (uint32_t)vl);
    if (kl)
        memcpy(p + OP_HDR, k, kl);
    if (v && vl)
        memcpy(p + OP_HDR + kl, v, vl);
    *voff = w->len + OP_HDR + kl;
    w->len += OP_HDR + kl + vl;
    return 0;
}

int
lmq__wal_rec_op(lmq_wal *w, int kind, int db, const void *k, size_t kl,
                const void *v, size_t vl)
{
    size_t off;
    return rec_add(w, kind, db, k, kl, v, vl, &off);
}

int
lmq__wal_rec_reserve(lmq_wal *w, int db, const void *k, size_t kl,
                     const void *v, size_t vl)
{
    size_t off;
    int rc = rec_add(w, LMQ_WAL_PUT, db, k, kl, NULL, vl, &off);
    if (rc == 0) {
        w->res_src = v;
        w->res_off = off;
        w->res_len = vl;
    }
    return rc;
}

size_t
lmq__wal_rec_mark(lmq_wal *w)
{
    rec_flush_reserve(w);
    return w->len;
}

void
lmq__wal_rec_truncate(lmq_wal *w, size_t mark)
{
    w->res_src = NULL;
    w->len = mark;
}

bool
lmq__wal_rec_empty(lmq_wal *w)
{
    return w->len <= REC_HDR;
}

/* ---- under the writer lock ---------------------------------------------------- */

int
lmq__wal_enter(lmq_wal *w, uint64_t txnid, bool logged)
{
    struct wal_shared *sh = w->sh;
    if (!logged)
        return sh->tail != REC_START; /* a revert would drop this commit */
    if (sh->gen == 0)
        return 1;
    if (sh->last_txnid == txnid && sh->last_start < sh->tail) {
        /* A writer was killed between its append and its commit: the
         * transaction never happened, and its txnid is ours. */
        if (sh->last_start < sh->rewound)
            sh->rewound = sh->last_start;
        sh->tail = sh->last_start;
        sh->last_txnid = txnid - 1;
        sh->records--;
    }
    if (sh->last_txnid != txnid - 1)
        return 1; /* unlogged commits since */
    if (sh->last_txnid == sh->ckpt_txnid && sh->tail != REC_START)
        /* A checkpoint published (lmq__wal_publish) and never finished:
         * the tail still ends the old generation's records. Its writer
         * was killed before the reset, and its lock byte may still look
         * held: a killed process's robust mutex (LMDB's writer lock, which
         * the caller now holds) is released before its file locks, so the
         * owner test below took the dying checkpointer for a live owner,
         * and this writer appended to the new generation at the old tail
         * (a kill storm left a log whose checkpoint's records started past
         * the old ones: LMQ_ECORRUPT at the next open; without the header
         * flushed, a silent revert). Every finished state has the tail at
         * REC_START while the log ends at S. */
        return 1;
    if (w->own_gen != sh->gen &&
        !byte_held(w->lockfd, (off_t)LOCK_GEN + (off_t)sh->gen)) {
        /* Nobody pins S: its pages may be reused from now on. Adoptable
         * when every page of S freed in a record older than txnid - 1 is
         * imaged in the flushed log (the adopter pins txnid - 1 before it
         * allocates anything); else checkpoint. */
        if (__atomic_load_n(&sh->img_gen, __ATOMIC_SEQ_CST) == sh->gen &&
            __atomic_load_n(&sh->img_upto, __ATOMIC_SEQ_CST) + 2 >= txnid &&
            sh->ckpt_last != 0)
            return 2;
        return 1;
    }
    return 0;
}

/* Own generation gen: take its lock byte, then give up the one owned
 * before (lmq__wal_publish, lmq__wal_adopt). */
static int
own(lmq_wal *w, uint64_t gen)
{
    if (lock_byte(w->lockfd, F_RDLCK, (off_t)LOCK_GEN + (off_t)gen, false) !=
        0)
        return io_err(w, "cannot lock");
    uint64_t old = w->own_gen;
    w->own_gen = gen;
    if (old && old != gen)
        lock_byte(w->lockfd, F_UNLCK, (off_t)LOCK_GEN + (off_t)old, false);
    return 0;
}

int
lmq__wal_adopt(lmq_wal *w, uint64_t *upto, uint64_t *last)
{
    struct wal_shared *sh = w->sh;
    int rc = own(w, sh->gen);
    if (rc)
        return rc;
    *upto = __atomic_load_n(&sh->img_upto, __ATOMIC_SEQ_CST);
    *last = sh->ckpt_last;
    return 0;
}

void
lmq__wal_imaged(lmq_wal *w, uint64_t gen, uint64_t upto, uint64_t last)
{
    struct wal_shared *sh = w->sh;
    /* Outside the writer lock (after a flush), by the live owner of gen:
     * nobody adopts meanwhile. A checkpoint of another process racing
     * with it writes gen then upto, this upto then gen, so the pair left
     * is never a newer gen with this (older, smaller) upto. */
    if (last)
        sh->ckpt_last = last;
    __atomic_store_n(&sh->img_upto, upto, __ATOMIC_SEQ_CST);
    __atomic_store_n(&sh->img_gen, gen, __ATOMIC_SEQ_CST);
}

bool
lmq__wal_warm(lmq_wal *w, const lmq_wal_ckpt *ck, int nrec,
              uint64_t data_txnid)
{
    const struct wal_shared *sh = w->sh;
    char boot[40];
    boot_id(boot);
    if (sh->magic != SHARED_MAGIC || !boot[0] ||
        memcmp(sh->boot, boot, sizeof boot) != 0 || sh->gen != ck->gen ||
        sh->ckpt_txnid != ck->txnid ||
        sh->last_txnid != ck->txnid + (uint64_t)nrec)
        return false;
    /* LMDB's newest transaction is the last record's, or the one before
     * it when that record's writer was killed before its commit. */
    return data_txnid == sh->last_txnid ||
           (data_txnid + 1 == sh->last_txnid && sh->last_start < sh->tail);
}

/* Make the file exist (zeros) up to end. A page at a time: the page cache
 * then holds the log in single pages, where one write of 64 KiB made a
 * 64 KiB folio (Linux 6.x, ext4), which every later record written into it
 * dirtied whole: /proc/PID/io counted 23 KB per `full` send for the 5 KB
 * the device wrote (issue 24; docs/DURABILITY.md, "Wear"). */
static int
zero_to(lmq_wal *w, uint64_t end)
{
    static const uint8_t zeros[SLOT];
    struct wal_shared *sh = w->sh;
    if (sh->zeroed >= end)
        return 0;
    uint64_t from = sh->zeroed, to = end + ZERO_CHUNK;
    for (uint64_t off = from; off < to; off += sizeof zeros) {
        size_t n = to - off < sizeof zeros ? (size_t)(to - off) : sizeof zeros;
        if (write_all(w->fd, zeros, n, off) != 0)
            return io_err(w, "cannot extend");
        sh->zeroed = off + n;
    }
    return 0;
}

/* Pad the record being built to end at a page boundary (a PAD operation,
 * which replay skips), with a flush mark when one fits ("damage"). */
static int
rec_pad_to_page(lmq_wal *w, uint64_t at)
{
    struct wal_shared *sh = w->sh;
    uint64_t room = (SLOT - (at + w->len) % SLOT) % SLOT;
    if (room == 0)
        return 0;
    if (room < OP_HDR)
        room += SLOT;
    size_t off;
    int rc = rec_add(w, LMQ_WAL_PAD, 0, NULL, 0, NULL, room - OP_HDR, &off);
    if (rc)
        return rc;
    memset(w->buf + off, 0, room - OP_HDR);
    pthread_mutex_lock(&w->mu);
    uint64_t mark = w->fl_gen == sh->gen ? w->fl_end : 0;
    pthread_mutex_unlock(&w->mu);
    if (sh->rewound < mark)
        mark = sh->rewound;
    if (room - OP_HDR >= MARK_LEN && mark > REC_START) {
        memcpy(w->buf + off, flush_magic, 8);
        lmq__put_u64(w->buf + off + 8, mark);
    }
    return 0;
}

int
lmq__wal_append(lmq_wal *w, uint64_t txnid, bool flushed, bool *sync)
{
    struct wal_shared *sh = w->sh;
    rec_flush_reserve(w);
    /* A record that is about to be flushed ends its page: the next record,
     * maybe another process's, starts on a page this flush is not writing
     * back. Sharing the page, that process's own flush had to wait for
     * this write-back to end before it could write the page again, one
     * flush after the other instead of side by side (perf, W4 full: 10 %
     * of the producer's waits were in that wait). Costs up to a page of
     * log per flushed record, and the log is checkpointed every 256. */
    bool first = sh->tail == REC_START;
    int rc;
    if ((flushed || first) && (rc = rec_pad_to_page(w, sh->tail)) != 0)
        return rc;
    uint64_t len = w->len;
    if (len > UINT32_MAX)
        return lmq__seterr(LMQ_EINVAL, "transaction too large to log");
    if (sh->tail > REC_START && sh->tail + len > WAL_LIMIT)
        return 1;
    uint8_t *h = w->buf;
    lmq__put_u32(h, (uint32_t)len);
    memset(h + 4, 0, 4);
    lmq__put_u64(h + 8, sh->gen);
    lmq__put_u64(h + 16, txnid);
    lmq__put_u32(h + 4, crc32c(h, len));
    if ((rc = zero_to(w, sh->tail + len)) != 0)
        /* A full disk: start again at REC_START (in the blocks the log
         * has) after a checkpoint, which the caller makes. */
        return rc == LMQ_ENOSPC && sh->tail > REC_START ? 1 : rc;
    if (write_all(w->fd, h, len, sh->tail) != 0)
        return io_err(w, "cannot write");
    *sync = first;
    sh->last_start = sh->tail;
    sh->tail += len;
    sh->last_txnid = txnid;
    sh->records++;
    pthread_mutex_lock(&w->mu);
    w->app_gen = sh->gen;
    w->app_end = sh->tail;
    pthread_mutex_unlock(&w->mu);
    return 0;
}

uint64_t
lmq__wal_next_gen(lmq_wal *w)
{
    return w->sh->gen + 1;
}

int
lmq__wal_publish(lmq_wal *w, const lmq_wal_ckpt *ck)
{
    struct wal_shared *sh = w->sh;
    /* Own the generation before publishing it: if this process dies
     * anywhere below, the next writer finds no owner (or the tail not yet
     * reset: lmq__wal_enter) and checkpoints again, so a half-written
     * checkpoint is never built on. */
    int rc = own(w, ck->gen);
    if (rc)
        return rc;
    sh->gen = ck->gen;
    sh->ckpt_txnid = ck->txnid;
    return 0;
}

uint64_t
lmq__wal_last_txnid(lmq_wal *w)
{
    return __atomic_load_n(&w->sh->last_txnid, __ATOMIC_RELAXED);
}

int
lmq__wal_checkpoint(lmq_wal *w, const lmq_wal_ckpt *ck)
{
    struct wal_shared *sh = w->sh;
    int rc = lmq__wal_publish(w, ck);
    if (rc)
        return rc;
    uint8_t p[CK_LEN];
    ck_encode(ck, p);
    if (write_all(w->fd, p, sizeof p, (ck->gen % 2) * SLOT) != 0 ||
        fdatasync(w->fd) != 0) {
        int rc = io_err(w, "cannot write checkpoint to");
        lmq__wal_disown(w); /* the next writer tries again */
        return rc;
    }
    sh->tail = sh->last_start = REC_START;
    sh->last_txnid = ck->txnid;
    sh->records = 0;
    sh->rewound = UINT64_MAX;
    return 0;
}

void
lmq__wal_disown(lmq_wal *w)
{
    if (w->own_gen)
        lock_byte(w->lockfd, F_UNLCK, (off_t)LOCK_GEN + (off_t)w->own_gen,
                  false);
    w->own_gen = 0;
}

bool
lmq__wal_owner(lmq_wal *w)
{
    return w->own_gen && w->own_gen == w->sh->gen;
}

/* ---- anywhere ------------------------------------------------------------------ */

int
lmq__wal_sync(lmq_wal *w)
{
    /* Everything this process appended so far is in the file: after the
     * flush, it is on disk (a flush mark for the next padded record). */
    pthread_mutex_lock(&w->mu);
    uint64_t gen = w->app_gen, end = w->app_end;
    /* Already on disk (the first record after a checkpoint is flushed
     * before its commit): its flush covered every record before it too. */
    bool done = gen != 0 && gen == w->fl_gen && end <= w->fl_end;
    pthread_mutex_unlock(&w->mu);
    if (done)
        return 0;
    if (fdatasync(w->fd) != 0)
        return io_err(w, "cannot flush");
    pthread_mutex_lock(&w->mu);
    if (gen > w->fl_gen || (gen == w->fl_gen && end > w->fl_end)) {
        w->fl_gen = gen;
        w->fl_end = end;
    }
    pthread_mutex_unlock(&w->mu);
    return 0;
}

bool
lmq__wal_due(lmq_wal *w)
{
    struct wal_shared *sh = w->sh;
    return __atomic_load_n(&sh->records, __ATOMIC_RELAXED) >= CKPT_RECORDS ||
           __atomic_load_n(&sh->tail, __ATOMIC_RELAXED) >=
               REC_START + CKPT_BYTES;
}

uint64_t
lmq__wal_gen(lmq_wal *w)
{
    return __atomic_load_n(&w->sh->gen, __ATOMIC_RELAXED);
}

bool
lmq__wal_pin_useless(lmq_wal *w, uint64_t gen, uint64_t txnid)
{
    struct wal_shared *sh = w->sh;
    if (__atomic_load_n(&sh->gen, __ATOMIC_ACQUIRE) != gen)
        return true;
    return __atomic_load_n(&sh->records, __ATOMIC_ACQUIRE) == 0 &&
           __atomic_load_n(&sh->tail, __ATOMIC_ACQUIRE) == REC_START &&
           txnid > __atomic_load_n(&sh->ckpt_txnid, __ATOMIC_ACQUIRE);
}

uint64_t
lmq__wal_records(lmq_wal *w)
{
    return __atomic_load_n(&w->sh->records, __ATOMIC_RELAXED);
}

uint64_t
lmq__wal_tail(lmq_wal *w)
{
    return __atomic_load_n(&w->sh->tail, __ATOMIC_RELAXED);
}
