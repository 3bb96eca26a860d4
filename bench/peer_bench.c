/*
 * peer_bench.c: the peers of bench/compare, driven the way lmq-bench drives
 * lmq, with the same JSON lines and the same workloads:
 *
 *   W1      send, one message per call
 *   W1b10   send 10 per call (the peer's own batching, below)
 *   W1 x8   one message per call from 8 threads, each with its connection
 *   W3      receive 1 + delete 1 per call, queue pre-filled
 *   W3b10   receive 10 + delete 10 per call
 *   W4      one producer process + one consumer process, throughput
 *   W4p     the same with the producer paced at 500/s: end-to-end latency
 *
 *   peer_bench sqlite     DB_PATH durable|relaxed SECS
 *   peer_bench redis      PORT    durable|relaxed SECS
 *   peer_bench beanstalkd PORT    durable|relaxed SECS
 *
 * Each peer is used the way a careful user of it would, with 100-byte
 * bodies:
 *  - SQLite: a goqite-style table in WAL mode (synchronous FULL when durable,
 *    NORMAL when relaxed). A batch is one transaction; a receive of 10 is
 *    one UPDATE ... RETURNING; consumers poll every millisecond when empty.
 *  - Redis: a reliable list with a visibility zset. A receive is one Lua
 *    script (LMOVE into a processing list + ZADD of the deadline, for up to
 *    n messages), a delete is LREM + ZREM pipelined in one write, a batch
 *    send is one variadic LPUSH; a blocked consumer uses BLMOVE. Durability
 *    is the server's appendfsync (always / everysec), which syncs once per
 *    event-loop pass, so a pipeline or several clients share one fsync.
 *  - beanstalkd: put / reserve-with-timeout / delete; it has no batch
 *    commands, so a batch is 10 commands pipelined in one write. Durability
 *    is the server's binlog (fsync per write / none).
 * Every command is written with one write() (as hiredis does): a command
 * split over several TCP segments costs the server a read per segment.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *sysname, *mode, *addr;
static double secs;
static const size_t size = 100;

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

static void
report(const char *w, size_t batch, int threads, int procs, uint64_t n,
       double el)
{
    double p50 = 0, p99 = 0;
    size_t k = nlat < MAXLAT ? nlat : MAXLAT;
    if (k) {
        qsort(lat, k, sizeof lat[0], fcmp);
        p50 = lat[k / 2];
        p99 = lat[(size_t)((double)(k - 1) * 0.99)];
    }
    printf("{\"system\":\"%s\",\"workload\":\"%s\",\"durability\":\"%s\","
           "\"size\":%zu,\"batch\":%zu,\"threads\":%d,\"processes\":%d,"
           "\"queued\":0,\"msgs\":%llu,\"msgs_per_sec\":%.0f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
           sysname, w, strcmp(mode, "durable") == 0 ? "full" : "periodic", size,
           batch, threads, procs, (unsigned long long)n,
           el > 0 ? (double)n / el : 0, p50, p99);
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
    char wbuf[1 << 16];
    size_t wlen;
    /* the items of the last Redis reply (bulk strings) */
    char item[16][128];
    size_t ilen[16];
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
    if (c->wlen + n > sizeof c->wbuf)
        fail("command too long");
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

static int
sgetc(conn *c)
{
    if (c->rpos == c->rlen) {
        ssize_t r = read(c->fd, c->rbuf, sizeof c->rbuf);
        if (r <= 0)
            fail("read");
        c->rlen = (size_t)r;
        c->rpos = 0;
    }
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

static void
sread(conn *c, size_t n, char *into, size_t cap)
{
    for (size_t i = 0; i < n; i++) {
        int ch = sgetc(c);
        if (into && i < cap)
            into[i] = (char)ch;
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
        if ((size_t)l >= sizeof c->item[0])
            fail("reply too long");
        sread(c, (size_t)l + 2, c->item[0], sizeof c->item[0]);
        c->item[0][l] = '\0';
        c->ilen[0] = (size_t)l;
        return 1;
    }
    if (line[0] == '*') {
        long k = atol(line + 1);
        size_t got = 0;
        for (long i = 0; i < k; i++) {
            sline(c, line, sizeof line);
            long l = atol(line + 1);
            if (line[0] != '$' || l < 0 || got >= 16 ||
                (size_t)l >= sizeof c->item[0])
                fail("unexpected array element");
            sread(c, (size_t)l + 2, c->item[got], sizeof c->item[0]);
            c->item[got][l] = '\0';
            c->ilen[got++] = (size_t)l;
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
    static __thread unsigned tid;
    char bodies[10][128];
    const char *a[12] = {"LPUSH", "q"};
    size_t l[12] = {5, 1};
    if (!tid)
        tid = (unsigned)(uintptr_t)c;
    for (size_t i = 0; i < n; i++) {
        make_body(bodies[i]);
        /* "time seq-thread xxx": unique even for equal times */
        int k = snprintf(bodies[i] + 21, 32, "%llu-%u ",
                         (unsigned long long)++seq, tid);
        bodies[i][21 + k] = 'x';
        a[2 + i] = bodies[i];
        l[2 + i] = size;
    }
    rcmd(c, (int)(2 + n), a, l);
    wflush(c);
    rreply(c);
}

static void
redis_delete(conn *c, size_t n)
{
    const char *zr[12] = {"ZREM", "vis"};
    size_t zl[12] = {4, 3};
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
    char cmd[256], body[128], line[128];
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(cmd, sizeof cmd, "put 0 0 30 %zu\r\n", size);
        wadd(c, cmd, (size_t)k);
        make_body(body);
        wadd(c, body, size);
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
    unsigned long long ids[10];
    size_t got = 0;
    char line[128], cmd[64];
    for (size_t i = 0; i < n; i++)
        wadd(c, "reserve-with-timeout 0\r\n", 24);
    wflush(c);
    for (size_t i = 0; i < n; i++) {
        size_t bl;
        sline(c, line, sizeof line);
        if (sscanf(line, "RESERVED %llu %zu", &ids[got], &bl) == 2) {
            sread(c, bl + 2, c->item[got], sizeof c->item[0]);
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
            sread(c, bl + 2, c->item[0], sizeof c->item[0]);
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
    sq(c->db, strcmp(mode, "durable") == 0 ? "PRAGMA synchronous=FULL"
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
    char body[128], id[64];
    if (n > 1)
        sq_step(c, c->begin);
    for (size_t i = 0; i < n; i++) {
        uint64_t t = now_ns();
        int64_t ms = (int64_t)(t / 1000000);
        make_body(body);
        snprintf(id, sizeof id, "m_%020llu_%llu_%p", (unsigned long long)t,
                 (unsigned long long)++seq, (void *)c);
        sqlite3_bind_text(c->ins, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(c->ins, 2, (int64_t)t);
        sqlite3_bind_int64(c->ins, 3, ms);
        sqlite3_bind_blob(c->ins, 4, body, (int)size, SQLITE_TRANSIENT);
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
            if (got < 16) {
                snprintf(c->item[got], sizeof c->item[0], "%s",
                         (const char *)sqlite3_column_text(st, 0));
                /* the body's send time, for W4p */
                memcpy(c->item[got] + 64, sqlite3_column_blob(st, 1), 20);
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
    P->open(c);
    return c;
}

static void
conn_free(conn *c)
{
    P->close(c);
    free(c);
}

/* ---- workloads ----------------------------------------------------------- */

static uint64_t
send_loop(conn *c, size_t batch, uint64_t end)
{
    uint64_t n = 0;
    while (now_ns() < end) {
        uint64_t a0 = now_ns();
        P->send(c, batch);
        lat_add((double)(now_ns() - a0) / 1e3);
        n += batch;
    }
    return n;
}

static void
w1(conn *c, size_t batch)
{
    uint64_t t0 = now_ns();
    uint64_t n = send_loop(c, batch, t0 + (uint64_t)(secs * 1e9));
    report(batch == 1 ? "W1" : "W1b10", batch, 1, 1, n,
           (double)(now_ns() - t0) / 1e9);
}

/* Receive + delete what the W1 before it sent (bounded by time). */
static void
w3(conn *c, size_t batch)
{
    uint64_t n = 0, t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9);
    while (now_ns() < end) {
        uint64_t a0 = now_ns();
        size_t got = P->recv(c, batch, 0);
        if (got == 0)
            break;
        lat_add((double)(now_ns() - a0) / 1e3);
        n += got;
    }
    report(batch == 1 ? "W3" : "W3b10", batch, 1, 1, n,
           (double)(now_ns() - t0) / 1e9);
}

struct thr {
    pthread_t t;
    uint64_t end, n;
};

static void *
w1_thread(void *arg)
{
    struct thr *t = arg;
    conn *c = conn_new();
    t->n = send_loop(c, 1, t->end);
    conn_free(c);
    return NULL;
}

static void
w1_threads(int nt)
{
    struct thr th[8];
    uint64_t t0 = now_ns(), n = 0;
    for (int i = 0; i < nt; i++) {
        th[i].end = t0 + (uint64_t)(secs * 1e9);
        if (pthread_create(&th[i].t, NULL, w1_thread, &th[i]))
            fail("pthread_create");
    }
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i].t, NULL);
        n += th[i].n;
    }
    report("W1", 1, nt, 1, n, (double)(now_ns() - t0) / 1e9);
}

/* W4 / W4p: a producer process sends `count` messages one per call (paced
 * at `rate` per second when rate > 0); a consumer process receives up to
 * 10 per call, waiting when the queue is empty, and deletes them. The
 * consumer reports what it took, when it finished and (W4p) each message's
 * latency from its send to its receive. */
static void
w4(const char *w, uint64_t count, double rate)
{
    int go[2], res[2];
    if (pipe(go) || pipe(res))
        fail("pipe");
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
    report(w, rate > 0 ? 1 : 10, 1, 2, got, done - t0);
}

int
main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: peer_bench sqlite|redis|beanstalkd "
                        "PATH|PORT durable|relaxed SECS\n");
        return 2;
    }
    sysname = argv[1];
    addr = argv[2];
    mode = argv[3];
    secs = atof(argv[4]);
    for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++)
        if (strcmp(peers[i].name, sysname) == 0)
            P = &peers[i];
    if (!P)
        return 2;
    /* shared with the W4 children (they report through a pipe) */
    lat = mmap(NULL, MAXLAT * sizeof *lat, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (lat == MAP_FAILED)
        fail("mmap");
    if (strcmp(sysname, "sqlite") == 0)
        unlink(addr);
    conn *c = conn_new();
    if (strcmp(sysname, "redis") == 0)
        redis_reset(c);
    w1(c, 1);
    w3(c, 1);
    w1(c, 10);
    w3(c, 10);
    /* drain, so the threaded and multi-process runs start empty */
    while (P->recv(c, 10, 0) > 0)
        ;
    w1_threads(8);
    while (P->recv(c, 10, 0) > 0)
        ;
    bool durable = strcmp(mode, "durable") == 0;
    w4("W4", (uint64_t)(secs * (durable ? 4000 : 40000)), 0);
    w4("W4p", (uint64_t)(secs * 500), 500);
    conn_free(c);
    return 0;
}
