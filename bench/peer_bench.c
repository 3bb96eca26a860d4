/*
 * peer_bench.c: the peers of bench/compare, driven the way lmq-bench drives
 * lmq, with the same JSON lines and the same workloads:
 *
 *   W1      send, one message per call
 *   W1b10   send 10 per call (the peer's own batching, below)
 *   W1x8    one message per call from 8 threads (reported as W1, threads 8)
 *   W3      receive 1 + delete 1 per call, queue pre-filled
 *   W3b10   receive 10 + delete 10 per call
 *   W3b100  receive 100 + delete 100 per call (variant "batch100": set
 *           against lmq's consumer runtime, W3c, which takes batches of 100;
 *           20000 queued when durable, as W3c, but 3000 for beanstalkd)
 *   W4      one producer process + one consumer process, throughput
 *   W4p     the same with the producer paced at 500/s: end-to-end latency
 *
 *   peer_bench sqlite     DB_PATH durable|relaxed SECS [options]
 *   peer_bench redis      PORT    durable|relaxed SECS [options]
 *   peer_bench beanstalkd PORT    durable|relaxed SECS [options]
 *     --size N         body bytes (default 100)
 *     --only W1,W3,..  the workloads above (default: all of them)
 *     --variant V      a labelled non-default configuration (SQLite only):
 *                      "conn-per-thread" (W1x8 with a connection per thread)
 *                      or "soft-receive" (W3*: PRAGMA synchronous=OFF for
 *                      the receive+delete transactions)
 *     --server-pid PID the server doing the work (redis, beanstalkd): its
 *                      bytes written and CPU time count with ours
 *     --synccount F    the SYNCCOUNT_FILE the server's preloaded
 *                      synccount.so counts its flushes in
 *     --device DIR     DIR is a file system of its own (bench/wear): each
 *                      row also prints device_per_msg, the bytes its device
 *                      wrote per message (journal included), written back
 *                      (syncfs) before the row's start and after its end
 *
 * Each peer is used the way a careful user of it would:
 *  - SQLite: a goqite-style table in WAL mode (synchronous FULL when durable,
 *    NORMAL when relaxed). A batch is one transaction; a receive of 10 is
 *    one UPDATE ... RETURNING; consumers poll every millisecond when empty.
 *    W1x8 shares one connection between the threads, serialised by a mutex
 *    (SQLite's best: one writer at a time either way, and no busy waits);
 *    "conn-per-thread" is the connection-per-thread form.
 *  - Redis: a reliable list with a visibility zset. A receive is one Lua
 *    script (LMOVE into a processing list + ZADD of the deadline, for up to
 *    n messages), a delete is LREM + ZREM pipelined in one write, a batch
 *    send is one variadic LPUSH; a blocked consumer uses BLMOVE. Durability
 *    is the server's appendfsync (always / everysec), which syncs once per
 *    event-loop pass, so a pipeline or several clients share one fsync.
 *  - beanstalkd: put / reserve-with-timeout / delete; it has no batch
 *    commands, so a batch is that many commands pipelined in one write.
 *    Durability is the server's binlog (fsync per write / never fsync).
 * Every command is written with one write() (as hiredis does): a command
 * split over several TCP segments costs the server a read per segment.
 *
 * Beside the rate and latencies each row has the counts the machine's load
 * does not move (issue 24): flushes_per_msg (synccount.c compiled in for
 * SQLite, counting forked children too; the server's SYNCCOUNT_FILE for the
 * others), written_per_msg (/proc write_bytes of this process, its reaped
 * children and the server) and cpu_us_per_msg (user+system CPU of this
 * process, its children and the server).
 */
#define _GNU_SOURCE
#include "synccount.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *sysname, *mode, *addr;
static double secs;
static size_t size = 100;
static const char *variant;   /* NULL: the default configuration */
static pid_t server_pid;      /* 0: no server (SQLite) */
static const char *sc_file;   /* the server's SYNCCOUNT_FILE */
/* --device DIR: DIR is a file system of its own (bench/wear): its device's
 * sectors written, after writing back what is dirty on it */
static devio dev = {"", -1};
static bool durable;

/* The most messages one call handles (W3b100), and at large sizes (where
 * a connection keeps that many bodies) the most it may. */
#define MAXB 100
#define MAXB_BIG 10
#define BIG 16384
/* A send loop stops at this many bytes of bodies, whatever the time left
 * (large bodies: the servers keep them in memory). */
#define SEND_CAP ((uint64_t)512 << 20)

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
fail(const char *what)
{
    fprintf(stderr, "peer_bench %s: %s\n", sysname, what);
    exit(1);
}

/* ---- latencies (shared by the threads of a run) ------------------------ */

#define MAXLAT 4000000
static float *lat;
static size_t nlat;

static void
lat_add(double us)
{
    size_t i = __atomic_fetch_add(&nlat, 1, __ATOMIC_RELAXED);
    if (i < MAXLAT)
        lat[i] = (float)us;
}

static int
fcmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* ---- the counts: flushes, bytes written, CPU (synccount.h) ------------- */

typedef struct snap {
    uint64_t flushes, written, cpu_us, device;
} snap;

static uint64_t
tv_us(struct timeval t)
{
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_usec;
}

/* This process (and the children it reaped: their write_bytes go to ours
 * when reaped, their CPU to RUSAGE_CHILDREN) plus the server. */
static void
snap_take(snap *s)
{
    synccount sc;
    procio io;
    struct rusage self, kids;
    s->device = 0;
    if (dev.fd >= 0) { /* before the counts: its flushes are not the row's */
        devio_settle(&dev);
        s->device = devio_written(&dev);
    }
    synccount_read(&sc);
    s->flushes = synccount_flushes(&sc);
    procio_read(0, &io);
    s->written = io.write_bytes;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    s->cpu_us = tv_us(self.ru_utime) + tv_us(self.ru_stime) +
                tv_us(kids.ru_utime) + tv_us(kids.ru_stime);
    if (sc_file && synccount_file_read(sc_file, &sc) == 0)
        s->flushes += synccount_flushes(&sc);
    if (server_pid && procio_read(server_pid, &io) == 0) {
        s->written += io.write_bytes;
        s->cpu_us += io.cpu_us;
    }
}

static void
report(const char *w, size_t batch, int threads, int procs, uint64_t n,
       double el, const snap *s0)
{
    snap s1;
    snap_take(&s1);
    double p50 = 0, p99 = 0;
    size_t k = nlat < MAXLAT ? nlat : MAXLAT;
    if (k) {
        qsort(lat, k, sizeof lat[0], fcmp);
        p50 = lat[k / 2];
        p99 = lat[(size_t)((double)(k - 1) * 0.99)];
    }
    double m = n ? (double)n : 1;
    printf("{\"system\":\"%s\",\"workload\":\"%s\",\"durability\":\"%s\","
           "\"size\":%zu,\"batch\":%zu,\"threads\":%d,\"processes\":%d,"
           "\"queued\":0,\"msgs\":%llu,\"msgs_per_sec\":%.0f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"flushes_per_msg\":%.4f,"
           "\"written_per_msg\":%.1f,\"cpu_us_per_msg\":%.2f",
           sysname, w, durable ? "full" : "periodic", size, batch, threads,
           procs, (unsigned long long)n, el > 0 ? (double)n / el : 0, p50,
           p99, (double)(s1.flushes - s0->flushes) / m,
           (double)(s1.written - s0->written) / m,
           (double)(s1.cpu_us - s0->cpu_us) / m);
    if (dev.fd >= 0)
        printf(",\"device_per_msg\":%.0f",
               (double)(s1.device - s0->device) / m);
    if (variant)
        printf(",\"variant\":\"%s\"", variant);
    printf("}\n");
    fflush(stdout);
    nlat = 0;
}

/* A body: the send time in ns (for W4p's latency), then filler. */
static void
make_body(char *b)
{
    snprintf(b, 22, "%020llu ", (unsigned long long)now_ns());
    memset(b + 21, 'x', size - 21);
}

/* ---- one connection: a socket client or an SQLite handle --------------- */

typedef struct conn {
    int fd;
    char rbuf[1 << 16];
    size_t rlen, rpos;
    char *wbuf;
    size_t wlen, wcap;
    /* the items of the last reply (Redis: the bodies; beanstalkd: the
     * bodies; SQLite: the id, and at body_at the body's start) */
    char *item[MAXB];
    size_t ilen[MAXB];
    size_t icap, nitem;
    char *bodies; /* nitem bodies to send */
    /* SQLite */
    sqlite3 *db;
    sqlite3_stmt *ins, *recv1, *recv, *del, *begin, *commit;
    char sha[128]; /* Redis: the receive script's SHA1 */
} conn;

static void
sconnect(conn *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(addr))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (int tries = 0; tries < 100; tries++) {
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0) {
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return;
        }
        close(c->fd);
        usleep(50000);
    }
    fail("cannot connect");
}

static void
wadd(conn *c, const void *p, size_t n)
{
    if (c->wlen + n > c->wcap) {
        size_t cap = c->wcap ? c->wcap : 1 << 16;
        while (cap < c->wlen + n)
            cap *= 2;
        if (!(c->wbuf = realloc(c->wbuf, cap)))
            fail("out of memory");
        c->wcap = cap;
    }
    memcpy(c->wbuf + c->wlen, p, n);
    c->wlen += n;
}

/* Send everything buffered with one write. */
static void
wflush(conn *c)
{
    const char *p = c->wbuf;
    size_t n = c->wlen;
    while (n) {
        ssize_t w = write(c->fd, p, n);
        if (w <= 0)
            fail("write");
        p += w;
        n -= (size_t)w;
    }
    c->wlen = 0;
}

static void
sfill(conn *c)
{
    if (c->rpos == c->rlen) {
        ssize_t r = read(c->fd, c->rbuf, sizeof c->rbuf);
        if (r <= 0)
            fail("read");
        c->rlen = (size_t)r;
        c->rpos = 0;
    }
}

static int
sgetc(conn *c)
{
    sfill(c);
    return (unsigned char)c->rbuf[c->rpos++];
}

/* Read a line without its CRLF. */
static void
sline(conn *c, char *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        int ch = sgetc(c);
        if (ch == '\r') {
            sgetc(c);
            break;
        }
        if (n + 1 < cap)
            out[n++] = (char)ch;
    }
    out[n] = '\0';
}

/* Read n bytes, keeping the first cap of them in `into` (if not NULL). */
static void
sread(conn *c, size_t n, char *into, size_t cap)
{
    while (n) {
        sfill(c);
        size_t k = c->rlen - c->rpos;
        if (k > n)
            k = n;
        if (into && cap) {
            size_t m = k < cap ? k : cap;
            memcpy(into, c->rbuf + c->rpos, m);
            into += m;
            cap -= m;
        }
        c->rpos += k;
        n -= k;
    }
}

/* ---- Redis (RESP) ------------------------------------------------------ */

static void
rcmd(conn *c, int argc, const char **argv, const size_t *lens)
{
    char hdr[32];
    int n = snprintf(hdr, sizeof hdr, "*%d\r\n", argc);
    wadd(c, hdr, (size_t)n);
    for (int i = 0; i < argc; i++) {
        size_t l = lens ? lens[i] : strlen(argv[i]);
        n = snprintf(hdr, sizeof hdr, "$%zu\r\n", l);
        wadd(c, hdr, (size_t)n);
        wadd(c, argv[i], l);
        wadd(c, "\r\n", 2);
    }
}

/* Read one bulk string of length l into item i. */
static void
ritem(conn *c, size_t i, long l)
{
    if (i >= c->nitem || (size_t)l >= c->icap)
        fail("reply too long");
    sread(c, (size_t)l + 2, c->item[i], c->icap);
    c->item[i][l] = '\0';
    c->ilen[i] = (size_t)l;
}

/* Read one reply. Bulk strings (the reply itself, or an array's elements)
 * go to c->item; returns how many (nil, integers and statuses give 0). */
static size_t
rreply(conn *c)
{
    char line[256];
    sline(c, line, sizeof line);
    if (line[0] == '-')
        fail(line);
    if (line[0] == '$') {
        long l = atol(line + 1);
        if (l < 0)
            return 0;
        ritem(c, 0, l);
        return 1;
    }
    if (line[0] == '*') {
        long k = atol(line + 1);
        size_t got = 0;
        for (long i = 0; i < k; i++) {
            sline(c, line, sizeof line);
            long l = atol(line + 1);
            if (line[0] != '$' || l < 0)
                fail("unexpected array element");
            ritem(c, got++, l);
        }
        return got;
    }
    return 0;
}

/* Receive: move up to ARGV[2] messages into the processing list and give
 * each a visibility deadline (ARGV[1]), atomically, in one round trip. */
static const char recv_lua[] =
    "local out = {} "
    "for i = 1, tonumber(ARGV[2]) do "
    "  local m = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') "
    "  if not m then break end "
    "  redis.call('ZADD', KEYS[3], ARGV[1], m) "
    "  out[#out + 1] = m "
    "end "
    "return out";

static void
redis_open(conn *c)
{
    sconnect(c);
    const char *a[3] = {"SCRIPT", "LOAD", recv_lua};
    rcmd(c, 3, a, NULL);
    wflush(c);
    if (rreply(c) != 1)
        fail("SCRIPT LOAD");
    snprintf(c->sha, sizeof c->sha, "%s", c->item[0]);
}

static void
redis_reset(conn *c)
{
    const char *a[1] = {"FLUSHALL"};
    rcmd(c, 1, a, NULL);
    wflush(c);
    rreply(c);
}

/* Send n messages: one LPUSH (variadic for a batch). The sequence number
 * makes each element unique, as a reliable queue's LREM needs. */
static void
redis_send(conn *c, size_t n)
{
    static __thread uint64_t seq;
    const char *a[MAXB + 2] = {"LPUSH", "q"};
    size_t l[MAXB + 2] = {5, 1};
    unsigned tid = (unsigned)(uintptr_t)c;
    for (size_t i = 0; i < n; i++) {
        char *b = c->bodies + i * size;
        make_body(b);
        /* "time seq-thread xxx": unique even for equal times */
        int k = snprintf(b + 21, 32, "%llu-%u ", (unsigned long long)++seq,
                         tid);
        b[21 + k] = 'x';
        a[2 + i] = b;
        l[2 + i] = size;
    }
    rcmd(c, (int)(2 + n), a, l);
    wflush(c);
    rreply(c);
}

static void
redis_delete(conn *c, size_t n)
{
    const char *zr[MAXB + 2] = {"ZREM", "vis"};
    size_t zl[MAXB + 2] = {4, 3};
    for (size_t i = 0; i < n; i++) {
        const char *lr[4] = {"LREM", "processing", "1", c->item[i]};
        size_t ll[4] = {4, 10, 1, c->ilen[i]};
        rcmd(c, 4, lr, ll);
        zr[2 + i] = c->item[i];
        zl[2 + i] = c->ilen[i];
    }
    rcmd(c, (int)(2 + n), zr, zl);
    wflush(c);
    for (size_t i = 0; i < n + 1; i++) {
        char line[64];
        sline(c, line, sizeof line);
        if (line[0] != ':')
            fail(line);
    }
}

static size_t
redis_recv(conn *c, size_t n, int wait)
{
    char dl[32], cnt[8];
    snprintf(dl, sizeof dl, "%llu",
             (unsigned long long)(now_ns() / 1000000 + 30000));
    snprintf(cnt, sizeof cnt, "%zu", n);
    const char *a[8] = {"EVALSHA",    c->sha, "3", "q",
                        "processing", "vis",  dl,  cnt};
    rcmd(c, 8, a, NULL);
    wflush(c);
    size_t got = rreply(c);
    if (got == 0 && wait > 0) {
        char w[16];
        snprintf(w, sizeof w, "%d", wait);
        const char *b[6] = {"BLMOVE", "q", "processing", "RIGHT", "LEFT", w};
        rcmd(c, 6, b, NULL);
        wflush(c);
        if ((got = rreply(c)) == 1) {
            const char *z[4] = {"ZADD", "vis", dl, c->item[0]};
            size_t zl[4] = {4, 3, strlen(dl), c->ilen[0]};
            rcmd(c, 4, z, zl);
            wflush(c);
            char line[64];
            sline(c, line, sizeof line);
        }
    }
    return got;
}

/* ---- beanstalkd ---------------------------------------------------------- */

static void
bs_send(conn *c, size_t n)
{
    char cmd[64], line[128];
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(cmd, sizeof cmd, "put 0 0 30 %zu\r\n", size);
        wadd(c, cmd, (size_t)k);
        make_body(c->bodies);
        wadd(c, c->bodies, size);
        wadd(c, "\r\n", 2);
    }
    wflush(c);
    for (size_t i = 0; i < n; i++) {
        sline(c, line, sizeof line);
        if (strncmp(line, "INSERTED", 8) != 0)
            fail(line);
    }
}

/* Reserve up to n (pipelined, without waiting; then one blocking reserve
 * when none was ready and wait > 0), read their bodies, delete them
 * (pipelined). */
static size_t
bs_recv(conn *c, size_t n, int wait)
{
    unsigned long long ids[MAXB];
    size_t got = 0;
    char line[128], cmd[64];
    for (size_t i = 0; i < n; i++)
        wadd(c, "reserve-with-timeout 0\r\n", 24);
    wflush(c);
    for (size_t i = 0; i < n; i++) {
        size_t bl;
        sline(c, line, sizeof line);
        if (sscanf(line, "RESERVED %llu %zu", &ids[got], &bl) == 2) {
            sread(c, bl + 2, c->item[got], c->icap);
            got++;
        } else if (strcmp(line, "TIMED_OUT") != 0)
            fail(line);
    }
    if (got == 0 && wait > 0) {
        size_t bl;
        int k = snprintf(cmd, sizeof cmd, "reserve-with-timeout %d\r\n", wait);
        wadd(c, cmd, (size_t)k);
        wflush(c);
        sline(c, line, sizeof line);
        if (sscanf(line, "RESERVED %llu %zu", &ids[0], &bl) == 2) {
            sread(c, bl + 2, c->item[0], c->icap);
            got = 1;
        }
    }
    for (size_t i = 0; i < got; i++) {
        int k = snprintf(cmd, sizeof cmd, "delete %llu\r\n", ids[i]);
        wadd(c, cmd, (size_t)k);
    }
    wflush(c);
    for (size_t i = 0; i < got; i++) {
        sline(c, line, sizeof line);
        if (strcmp(line, "DELETED") != 0)
            fail(line);
    }
    return got;
}

/* ---- SQLite (goqite-style table) --------------------------------------- */

static void
sq(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail(err ? err : sql);
}

static void
sq_step(conn *c, sqlite3_stmt *st)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        fail(sqlite3_errmsg(c->db));
    sqlite3_reset(st);
}

static void
sqlite_open(conn *c)
{
    if (sqlite3_open(addr, &c->db) != SQLITE_OK)
        fail("open");
    sqlite3_busy_timeout(c->db, 10000);
    sq(c->db, "PRAGMA journal_mode=WAL");
    sq(c->db, durable ? "PRAGMA synchronous=FULL"
                      : "PRAGMA synchronous=NORMAL");
    sq(c->db,
       "CREATE TABLE IF NOT EXISTS goqite (id TEXT PRIMARY KEY, created "
       "INTEGER NOT NULL, updated INTEGER NOT NULL, queue TEXT NOT NULL, "
       "body BLOB NOT NULL, timeout INTEGER NOT NULL, received INTEGER NOT "
       "NULL DEFAULT 0) STRICT");
    sq(c->db, "CREATE INDEX IF NOT EXISTS goqite_queue_created_idx ON "
              "goqite (queue, created)");
    if (sqlite3_prepare_v2(c->db,
                           "INSERT INTO goqite (id, created, updated, queue, "
                           "body, timeout) VALUES (?, ?, ?, 'q', ?, ?)",
                           -1, &c->ins, NULL) ||
        sqlite3_prepare_v2(
            c->db,
            "UPDATE goqite SET timeout = ?1 + 30000, received = received "
            "+ 1, updated = ?1 WHERE id = (SELECT id FROM goqite WHERE "
            "queue = 'q' AND ?1 >= timeout AND received < 3 ORDER BY "
            "created LIMIT ?2) RETURNING id, body",
            -1, &c->recv1, NULL) ||
        sqlite3_prepare_v2(
            c->db,
            "UPDATE goqite SET timeout = ?1 + 30000, received = received "
            "+ 1, updated = ?1 WHERE id IN (SELECT id FROM goqite WHERE "
            "queue = 'q' AND ?1 >= timeout AND received < 3 ORDER BY "
            "created LIMIT ?2) RETURNING id, body",
            -1, &c->recv, NULL) ||
        sqlite3_prepare_v2(c->db,
                           "DELETE FROM goqite WHERE queue = 'q' AND id = ?",
                           -1, &c->del, NULL) ||
        sqlite3_prepare_v2(c->db, "BEGIN IMMEDIATE", -1, &c->begin, NULL) ||
        sqlite3_prepare_v2(c->db, "COMMIT", -1, &c->commit, NULL))
        fail(sqlite3_errmsg(c->db));
}

static void
sqlite_close(conn *c)
{
    sqlite3_finalize(c->ins);
    sqlite3_finalize(c->recv1);
    sqlite3_finalize(c->recv);
    sqlite3_finalize(c->del);
    sqlite3_finalize(c->begin);
    sqlite3_finalize(c->commit);
    sqlite3_close(c->db);
}

static void
sqlite_send(conn *c, size_t n)
{
    static __thread uint64_t seq;
    char id[64];
    if (n > 1)
        sq_step(c, c->begin);
    for (size_t i = 0; i < n; i++) {
        uint64_t t = now_ns();
        int64_t ms = (int64_t)(t / 1000000);
        make_body(c->bodies);
        snprintf(id, sizeof id, "m_%020llu_%llu_%p", (unsigned long long)t,
                 (unsigned long long)++seq, (void *)&seq);
        sqlite3_bind_text(c->ins, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(c->ins, 2, (int64_t)t);
        sqlite3_bind_int64(c->ins, 3, ms);
        sqlite3_bind_blob(c->ins, 4, c->bodies, (int)size, SQLITE_STATIC);
        sqlite3_bind_int64(c->ins, 5, ms);
        sq_step(c, c->ins);
    }
    if (n > 1)
        sq_step(c, c->commit);
}

static size_t
sqlite_recv(conn *c, size_t n, int wait)
{
    uint64_t until = now_ns() + (uint64_t)wait * 1000000000u;
    size_t got = 0;
    /* One message: "id = (SELECT ...)"; a batch: "id IN (SELECT ... LIMIT
     * n)" (the IN form costs a single receive 3x here; for 10 it is as
     * fast as 10 single receives in one transaction). */
    sqlite3_stmt *st = n == 1 ? c->recv1 : c->recv;
    for (;;) {
        sqlite3_bind_int64(st, 1, (int64_t)(now_ns() / 1000000) + 1);
        sqlite3_bind_int64(st, 2, (int64_t)n);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (got < c->nitem) {
                snprintf(c->item[got], 64, "%s",
                         (const char *)sqlite3_column_text(st, 0));
                /* the body's send time, for W4p */
                memcpy(c->item[got] + 64, sqlite3_column_blob(st, 1), 20);
                c->item[got][84] = '\0';
                c->ilen[got++] = 1;
            }
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            fail(sqlite3_errmsg(c->db));
        if (got || wait <= 0 || now_ns() > until)
            break;
        usleep(1000); /* goqite polls too */
    }
    if (got > 1)
        sq_step(c, c->begin);
    for (size_t i = 0; i < got; i++) {
        sqlite3_bind_text(c->del, 1, c->item[i], -1, SQLITE_STATIC);
        sq_step(c, c->del);
    }
    if (got > 1)
        sq_step(c, c->commit);
    return got;
}

/* ---- the peers, uniformly ------------------------------------------------ */

struct peer {
    const char *name;
    void (*open)(conn *c);
    void (*close)(conn *c);
    void (*send)(conn *c, size_t n);
    /* receive up to n (waiting up to `wait` s when none), delete them;
     * returns how many */
    size_t (*recv)(conn *c, size_t n, int wait);
    /* where a received message's body (its send time) is in c->item */
    size_t body_at;
};

static void
sock_close(conn *c)
{
    close(c->fd);
}

static void
bs_open(conn *c)
{
    sconnect(c);
}

static size_t
redis_recv_delete(conn *c, size_t n, int wait)
{
    size_t got = redis_recv(c, n, wait);
    if (got) /* the delete reads only integer replies: c->item (the bodies,
              * W4p's send times) stays as received */
        redis_delete(c, got);
    return got;
}

static const struct peer peers[] = {
    {"sqlite", sqlite_open, sqlite_close, sqlite_send, sqlite_recv, 64},
    {"redis", redis_open, sock_close, redis_send, redis_recv_delete, 0},
    {"beanstalkd", bs_open, sock_close, bs_send, bs_recv, 0},
};
static const struct peer *P;

static conn *
conn_new(void)
{
    conn *c = calloc(1, sizeof *c);
    if (!c)
        fail("out of memory");
    c->nitem = size > BIG ? MAXB_BIG : MAXB;
    c->icap = size + 128;
    c->bodies = malloc(c->nitem * size);
    for (size_t i = 0; i < c->nitem; i++)
        if (!(c->item[i] = malloc(c->icap)))
            fail("out of memory");
    if (!c->bodies)
        fail("out of memory");
    P->open(c);
    return c;
}

static void
conn_free(conn *c)
{
    P->close(c);
    for (size_t i = 0; i < c->nitem; i++)
        free(c->item[i]);
    free(c->bodies);
    free(c->wbuf);
    free(c);
}

/* ---- workloads ----------------------------------------------------------- */

/* The shared connection of W1x8 (SQLite), and its lock. */
static conn *shared;
static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t
send_loop(conn *c, size_t batch, uint64_t end, uint64_t cap)
{
    uint64_t n = 0;
    while (now_ns() < end && n * size < cap) {
        uint64_t a0 = now_ns();
        if (c == shared)
            pthread_mutex_lock(&shared_mu);
        P->send(c, batch);
        if (c == shared)
            pthread_mutex_unlock(&shared_mu);
        lat_add((double)(now_ns() - a0) / 1e3);
        n += batch;
    }
    return n;
}

static void
w1(conn *c, size_t batch)
{
    snap s0;
    snap_take(&s0);
    uint64_t t0 = now_ns();
    uint64_t n = send_loop(c, batch, t0 + (uint64_t)(secs * 1e9), SEND_CAP);
    report(batch == 1 ? "W1" : "W1b10", batch, 1, 1, n,
           (double)(now_ns() - t0) / 1e9, &s0);
}

/* Fill the queue quickly (the largest batches), outside the measurement. */
static void
prefill(conn *c, uint64_t n)
{
    while (n) {
        size_t b = n < c->nitem ? (size_t)n : c->nitem;
        P->send(c, b);
        n -= b;
    }
}

/* Receive + delete from a pre-filled queue, bounded by time (and by the
 * fill: a row ends early when the queue runs empty). */
static void
w3(conn *c, const char *w, size_t batch, uint64_t fill)
{
    if (batch > c->nitem)
        fail("batch too large for this size");
    prefill(c, fill);
    if (variant && strcmp(variant, "soft-receive") == 0)
        sq(c->db, "PRAGMA synchronous=OFF");
    snap s0;
    snap_take(&s0);
    uint64_t n = 0, t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9);
    while (now_ns() < end) {
        uint64_t a0 = now_ns();
        size_t got = P->recv(c, batch, 0);
        if (got == 0)
            break;
        lat_add((double)(now_ns() - a0) / 1e3);
        n += got;
    }
    report(w, batch, 1, 1, n, (double)(now_ns() - t0) / 1e9, &s0);
    if (variant && strcmp(variant, "soft-receive") == 0)
        sq(c->db, durable ? "PRAGMA synchronous=FULL"
                          : "PRAGMA synchronous=NORMAL");
}

struct thr {
    pthread_t t;
    uint64_t end, n, cap;
};

static void *
w1_thread(void *arg)
{
    struct thr *t = arg;
    conn *c = shared ? shared : conn_new();
    t->n = send_loop(c, 1, t->end, t->cap);
    if (c != shared)
        conn_free(c);
    return NULL;
}

/* Eight threads sending one message per call: SQLite shares one
 * connection (unless the variant is conn-per-thread); the servers get a
 * connection per thread. */
static void
w1_threads(conn *c, int nt)
{
    struct thr th[8];
    shared = strcmp(sysname, "sqlite") == 0 &&
                     !(variant && strcmp(variant, "conn-per-thread") == 0)
                 ? c
                 : NULL;
    snap s0;
    snap_take(&s0);
    uint64_t t0 = now_ns(), n = 0;
    for (int i = 0; i < nt; i++) {
        th[i].end = t0 + (uint64_t)(secs * 1e9);
        th[i].cap = SEND_CAP / (uint64_t)nt;
        if (pthread_create(&th[i].t, NULL, w1_thread, &th[i]))
            fail("pthread_create");
    }
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i].t, NULL);
        n += th[i].n;
    }
    report("W1", 1, nt, 1, n, (double)(now_ns() - t0) / 1e9, &s0);
    shared = NULL;
}

/* W4 / W4p: a producer process sends `count` messages one per call (paced
 * at `rate` per second when rate > 0); a consumer process receives up to
 * 10 per call, waiting when the queue is empty, and deletes them. The
 * consumer reports what it took, when it finished and (W4p) each message's
 * latency from its send to its receive. The counts include both children
 * (reaped before the report). */
static void
w4(const char *w, uint64_t count, double rate)
{
    int go[2], res[2];
    if (pipe(go) || pipe(res))
        fail("pipe");
    snap s0;
    snap_take(&s0);
    pid_t prod = fork();
    if (prod == 0) {
        conn *c = conn_new();
        char ch;
        if (read(go[0], &ch, 1) != 1)
            _exit(3);
        uint64_t start = now_ns(), stop = start + (uint64_t)(secs * 4e9);
        for (uint64_t k = 0; k < count && now_ns() < stop; k++) {
            if (rate > 0) {
                uint64_t due = start + (uint64_t)((double)k * 1e9 / rate);
                for (uint64_t t = now_ns(); t < due; t = now_ns())
                    if (due - t > 200000)
                        usleep((useconds_t)((due - t) / 2000));
            }
            P->send(c, 1);
        }
        conn_free(c);
        _exit(0);
    }
    pid_t cons = fork();
    if (cons == 0) {
        conn *c = conn_new();
        char ch;
        if (read(go[0], &ch, 1) != 1)
            _exit(3);
        uint64_t got = 0, stop = now_ns() + (uint64_t)(secs * 4e9 + 5e9);
        while (got < count && now_ns() < stop) {
            size_t n = P->recv(c, 10, 1);
            uint64_t t = now_ns();
            for (size_t i = 0; rate > 0 && i < n; i++)
                lat_add(
                    (double)(t - strtoull(c->item[i] + P->body_at, NULL, 10)) /
                    1e3);
            got += n;
        }
        double done = (double)now_ns() / 1e9;
        size_t k = nlat < MAXLAT ? nlat : MAXLAT;
        if (write(res[1], &got, sizeof got) != sizeof got ||
            write(res[1], &done, sizeof done) != sizeof done ||
            write(res[1], &k, sizeof k) != sizeof k ||
            (k &&
             write(res[1], lat, k * sizeof *lat) != (ssize_t)(k * sizeof *lat)))
            _exit(4);
        conn_free(c);
        _exit(0);
    }
    close(res[1]);
    usleep(100000); /* both connected */
    double t0 = (double)now_ns() / 1e9;
    if (write(go[1], "gg", 2) != 2)
        fail("go");
    uint64_t got = 0;
    double done = t0;
    size_t k = 0;
    FILE *f = fdopen(res[0], "r");
    if (!f || fread(&got, sizeof got, 1, f) != 1 ||
        fread(&done, sizeof done, 1, f) != 1 ||
        fread(&k, sizeof k, 1, f) != 1 ||
        (k && fread(lat, sizeof *lat, k, f) != k))
        fail("consumer");
    fclose(f);
    nlat = k;
    waitpid(prod, NULL, 0);
    waitpid(cons, NULL, 0);
    close(go[0]);
    close(go[1]);
    report(w, rate > 0 ? 1 : 10, 1, 2, got, done - t0, &s0);
}

/* Empty the queue between workloads (outside any measurement). */
static void
drain(conn *c)
{
    if (strcmp(sysname, "redis") == 0)
        redis_reset(c);
    else
        while (P->recv(c, 10, 0) > 0)
            ;
}

static bool
wanted(const char *only, const char *w)
{
    if (!only)
        return true;
    size_t l = strlen(w);
    for (const char *p = only; p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == l && strncmp(p, w, l) == 0)
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

static void
usage(void)
{
    fprintf(stderr,
            "usage: peer_bench sqlite|redis|beanstalkd PATH|PORT "
            "durable|relaxed SECS\n"
            "         [--size N] [--only W1,W1b10,W1x8,W3,W3b10,W3b100,W4,"
            "W4p]\n"
            "         [--variant conn-per-thread|soft-receive] "
            "[--server-pid PID] [--synccount FILE]\n"
            "         [--device DIR]\n");
}

int
main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"size", required_argument, NULL, 'z'},
        {"only", required_argument, NULL, 'o'},
        {"variant", required_argument, NULL, 'v'},
        {"server-pid", required_argument, NULL, 'p'},
        {"synccount", required_argument, NULL, 'c'},
        {"device", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0}};
    const char *only = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case 'z': size = (size_t)atol(optarg); break;
        case 'o': only = optarg; break;
        case 'v': variant = optarg; break;
        case 'p': server_pid = (pid_t)atoi(optarg); break;
        case 'c': sc_file = optarg; break;
        case 'd':
            if (devio_open(&dev, optarg, 1) != 0)
                fail("--device: not a directory");
            break;
        default: usage(); return 2;
        }
    }
    if (argc - optind < 4 || size < 64) {
        usage();
        return 2;
    }
    sysname = argv[optind];
    addr = argv[optind + 1];
    mode = argv[optind + 2];
    secs = atof(argv[optind + 3]);
    durable = strcmp(mode, "durable") == 0;
    for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++)
        if (strcmp(peers[i].name, sysname) == 0)
            P = &peers[i];
    if (!P) {
        usage();
        return 2;
    }
    /* shared with the W4 children (they report through a pipe) */
    lat = mmap(NULL, MAXLAT * sizeof *lat, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (lat == MAP_FAILED)
        fail("mmap");
    if (strcmp(sysname, "sqlite") == 0) {
        char p[1024];
        unlink(addr);
        snprintf(p, sizeof p, "%s-wal", addr);
        unlink(p);
        snprintf(p, sizeof p, "%s-shm", addr);
        unlink(p);
    }
    /* The pre-filled queue of the receive rows: as lmq-bench's (3000
     * durable, more relaxed; W3c's 20000 for the batches of 100), fewer of
     * large bodies. */
    uint64_t fill = durable ? 3000 : secs > 1.5 ? 200000 : 60000;
    uint64_t byfill = ((uint64_t)64 << 20) / size;
    if (byfill < 100)
        byfill = 100;
    if (fill > byfill)
        fill = byfill;
    uint64_t fill100 = durable ? 20000 : fill;
    if (fill100 > byfill)
        fill100 = byfill;
    /* Durable beanstalkd flushes each put and each delete: it drains a few
     * thousand a second, and 20000 flushed puts outlast the run's timeout
     * on a loaded machine. */
    if (durable && strcmp(sysname, "beanstalkd") == 0 && fill100 > fill)
        fill100 = fill;
    conn *c = conn_new();
    drain(c);
    if (wanted(only, "W1")) {
        w1(c, 1);
        drain(c);
    }
    if (wanted(only, "W1b10")) {
        w1(c, 10);
        drain(c);
    }
    if (wanted(only, "W1x8")) {
        w1_threads(c, 8);
        drain(c);
    }
    if (wanted(only, "W3")) {
        w3(c, "W3", 1, fill);
        drain(c);
    }
    if (wanted(only, "W3b10")) {
        w3(c, "W3b10", 10, fill);
        drain(c);
    }
    if (wanted(only, "W3b100")) {
        const char *v = variant;
        if (!variant)
            variant = "batch100";
        w3(c, "W3b100", 100, fill100);
        variant = v;
        drain(c);
    }
    if (wanted(only, "W4")) {
        w4("W4", (uint64_t)(secs * (durable ? 4000 : 40000)), 0);
        drain(c);
    }
    if (wanted(only, "W4p"))
        w4("W4p", (uint64_t)(secs * 500), 500);
    conn_free(c);
    return 0;
}
