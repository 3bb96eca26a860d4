/*
 * peer_bench.c: the peers of bench/compare, driven the way lmq-bench drives
 * lmq, with the same JSON lines. One process, one connection, one message
 * per call, 100-byte bodies by default.
 *
 *   peer_bench sqlite   DB_PATH durable|relaxed SECS
 *   peer_bench redis    PORT    durable|relaxed SECS
 *   peer_bench beanstalkd PORT  durable|relaxed SECS
 *
 * Workloads: W1 (send one per call) and W3 (receive + delete one per call,
 * queue pre-filled). SQLite is a goqite-style table in WAL mode (synchronous
 * FULL when durable, NORMAL when relaxed); Redis a reliable list with a
 * visibility zset (LMOVE into a processing list + ZADD of the deadline, then
 * LREM + ZREM), its durability set by the server's appendfsync; beanstalkd's
 * put / reserve-with-timeout / delete, its durability set by the server's
 * binlog. The protocol clients are a few lines each over a loopback socket.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *sysname, *mode;
static double secs;
static size_t size = 100;

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
fcmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static float lat[4000000];
static size_t nlat;

static void
report(const char *w, uint64_t n, double el)
{
    double p50 = 0, p99 = 0;
    if (nlat) {
        qsort(lat, nlat, sizeof lat[0], fcmp);
        p50 = lat[nlat / 2];
        p99 = lat[(size_t)((double)(nlat - 1) * 0.99)];
    }
    printf("{\"system\":\"%s\",\"workload\":\"%s\",\"durability\":\"%s\","
           "\"size\":%zu,\"batch\":1,\"threads\":1,\"processes\":1,"
           "\"queued\":0,\"msgs\":%llu,\"msgs_per_sec\":%.0f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
           sysname, w, strcmp(mode, "durable") == 0 ? "full" : "periodic",
           size, (unsigned long long)n, (double)n / el, p50, p99);
    fflush(stdout);
    nlat = 0;
}

static void
fail(const char *what)
{
    fprintf(stderr, "peer_bench %s: %s\n", sysname, what);
    exit(1);
}

/* ---- a tiny line-oriented socket client ------------------------------- */

static int sock;
static char rbuf[1 << 16];
static size_t rlen, rpos;

static void
sconnect(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (int tries = 0; tries < 100; tries++) {
        sock = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(sock, (struct sockaddr *)&a, sizeof a) == 0) {
            int one = 1;
            setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return;
        }
        close(sock);
        usleep(50000);
    }
    fail("cannot connect");
}

static void
swrite(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(sock, p, n);
        if (w <= 0)
            fail("write");
        p += w;
        n -= (size_t)w;
    }
}

static int
sgetc(void)
{
    if (rpos == rlen) {
        ssize_t r = read(sock, rbuf, sizeof rbuf);
        if (r <= 0)
            fail("read");
        rlen = (size_t)r;
        rpos = 0;
    }
    return (unsigned char)rbuf[rpos++];
}

/* Read a line without its CRLF. */
static size_t
sline(char *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        int c = sgetc();
        if (c == '\r') {
            sgetc();
            break;
        }
        if (n + 1 < cap)
            out[n++] = (char)c;
    }
    out[n] = '\0';
    return n;
}

static void
sskip(size_t n, char *into)
{
    for (size_t i = 0; i < n; i++) {
        int c = sgetc();
        if (into)
            into[i] = (char)c;
    }
}

/* ---- Redis (RESP) ------------------------------------------------------ */

static void
rcmd(int argc, const char **argv, const size_t *lens)
{
    char hdr[64];
    int n = snprintf(hdr, sizeof hdr, "*%d\r\n", argc);
    swrite(hdr, (size_t)n);
    for (int i = 0; i < argc; i++) {
        n = snprintf(hdr, sizeof hdr, "$%zu\r\n", lens[i]);
        swrite(hdr, (size_t)n);
        swrite(argv[i], lens[i]);
        swrite("\r\n", 2);
    }
}

/* Read one reply; bulk string into out (NUL-terminated), returns its length
 * or -1 for nil / non-bulk. */
static long
rreply(char *out, size_t cap)
{
    char line[256];
    sline(line, sizeof line);
    if (line[0] == '-')
        fail(line);
    if (line[0] == '$') {
        long l = atol(line + 1);
        if (l < 0)
            return -1;
        if ((size_t)l + 1 > cap)
            fail("reply too long");
        sskip((size_t)l, out);
        out[l] = '\0';
        sgetc();
        sgetc();
        return l;
    }
    return -1;
}

static void
redis_run(int port)
{
    char body[4096], got[4096];
    uint64_t n = 0, seq = 0;
    sconnect(port);
    const char *a[4];
    size_t l[4];
    a[0] = "FLUSHALL";
    l[0] = 8;
    rcmd(1, a, l);
    rreply(got, sizeof got);
    /* W1: LPUSH of "id:body" (the id makes each element unique, as a
     * reliable queue's LREM needs). */
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9);
    while (now_ns() < end) {
        uint64_t a0 = now_ns();
        int bl = snprintf(body, sizeof body, "%020llu:", (unsigned long long)++seq);
        memset(body + bl, 'x', size - 21);
        a[0] = "LPUSH";
        l[0] = 5;
        a[1] = "q";
        l[1] = 1;
        a[2] = body;
        l[2] = (size_t)bl + size - 21;
        rcmd(3, a, l);
        rreply(got, sizeof got);
        lat[nlat++] = (float)((double)(now_ns() - a0) / 1e3);
        n++;
    }
    report("W1", n, (double)(now_ns() - t0) / 1e9);
    /* W3: LMOVE q -> processing and ZADD of the visibility deadline
     * (pipelined, one round trip), then LREM + ZREM (one round trip). */
    uint64_t total = n;
    n = 0;
    t0 = now_ns();
    end = t0 + (uint64_t)(secs * 1e9);
    while (n < total && now_ns() < end) {
        uint64_t a0 = now_ns();
        char dl[32];
        a[0] = "LMOVE";
        l[0] = 5;
        a[1] = "q";
        l[1] = 1;
        a[2] = "processing";
        l[2] = 10;
        const char *dir[2] = {"RIGHT", "LEFT"};
        const char *mv[5] = {a[0], a[1], a[2], dir[0], dir[1]};
        size_t mvl[5] = {5, 1, 10, 5, 4};
        rcmd(5, mv, mvl);
        long gl = rreply(got, sizeof got);
        if (gl < 0)
            break;
        int dll = snprintf(dl, sizeof dl, "%llu",
                           (unsigned long long)(a0 / 1000000 + 30000));
        const char *za[4] = {"ZADD", "vis", dl, got};
        size_t zl[4] = {4, 3, (size_t)dll, (size_t)gl};
        rcmd(4, za, zl);
        rreply(body, sizeof body);
        const char *lr[4] = {"LREM", "processing", "1", got};
        size_t lrl[4] = {4, 10, 1, (size_t)gl};
        const char *zr[3] = {"ZREM", "vis", got};
        size_t zrl[3] = {4, 3, (size_t)gl};
        rcmd(4, lr, lrl);
        rcmd(3, zr, zrl);
        rreply(body, sizeof body);
        rreply(body, sizeof body);
        lat[nlat++] = (float)((double)(now_ns() - a0) / 1e3);
        n++;
    }
    report("W3", n, (double)(now_ns() - t0) / 1e9);
}

/* ---- beanstalkd ---------------------------------------------------------- */

static void
beanstalkd_run(int port)
{
    char cmd[8192], line[256];
    char body[4096];
    uint64_t n = 0;
    sconnect(port);
    memset(body, 'x', size);
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9);
    while (now_ns() < end) {
        uint64_t a0 = now_ns();
        int c = snprintf(cmd, sizeof cmd, "put 0 0 30 %zu\r\n", size);
        memcpy(cmd + c, body, size);
        memcpy(cmd + c + size, "\r\n", 2);
        swrite(cmd, (size_t)c + size + 2);
        sline(line, sizeof line);
        if (strncmp(line, "INSERTED", 8) != 0)
            fail(line);
        lat[nlat++] = (float)((double)(now_ns() - a0) / 1e3);
        n++;
    }
    report("W1", n, (double)(now_ns() - t0) / 1e9);
    uint64_t total = n;
    n = 0;
    t0 = now_ns();
    end = t0 + (uint64_t)(secs * 1e9);
    while (n < total && now_ns() < end) {
        uint64_t a0 = now_ns(), id;
        size_t bl;
        swrite("reserve-with-timeout 0\r\n", 24);
        sline(line, sizeof line);
        if (sscanf(line, "RESERVED %llu %zu", (unsigned long long *)&id,
                   &bl) != 2)
            break;
        sskip(bl + 2, NULL);
        int c = snprintf(cmd, sizeof cmd, "delete %llu\r\n",
                         (unsigned long long)id);
        swrite(cmd, (size_t)c);
        sline(line, sizeof line);
        if (strcmp(line, "DELETED") != 0)
            fail(line);
        lat[nlat++] = (float)((double)(now_ns() - a0) / 1e3);
        n++;
    }
    report("W3", n, (double)(now_ns() - t0) / 1e9);
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
sqlite_run(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *ins, *recv, *del;
    char body[4096], id[40];
    uint64_t n = 0, seq = 0;
    unlink(path);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        fail("open");
    sqlite3_busy_timeout(db, 5000);
    sq(db, "PRAGMA journal_mode=WAL");
    sq(db, strcmp(mode, "durable") == 0 ? "PRAGMA synchronous=FULL"
                                         : "PRAGMA synchronous=NORMAL");
    sq(db, "CREATE TABLE goqite (id TEXT PRIMARY KEY, created INTEGER NOT "
           "NULL, updated INTEGER NOT NULL, queue TEXT NOT NULL, body BLOB "
           "NOT NULL, timeout INTEGER NOT NULL, received INTEGER NOT NULL "
           "DEFAULT 0) STRICT");
    sq(db, "CREATE INDEX goqite_queue_created_idx ON goqite (queue, "
           "created)");
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO goqite (id, created, updated, queue, "
                           "body, timeout) VALUES (?, ?, ?, 'q', ?, ?)",
                           -1, &ins, NULL) ||
        sqlite3_prepare_v2(
            db,
            "UPDATE goqite SET timeout = ?1 + 30000, received = received "
            "+ 1, updated = ?1 WHERE id = (SELECT id FROM goqite WHERE "
            "queue = 'q' AND ?1 >= timeout AND received < 3 ORDER BY "
            "created LIMIT 1) RETURNING id, body",
            -1, &recv, NULL) ||
        sqlite3_prepare_v2(db, "DELETE FROM goqite WHERE queue = 'q' AND "
                               "id = ?",
                           -1, &del, NULL))
        fail(sqlite3_errmsg(db));
    memset(body, 'x', size);
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9);
    while (now_ns() < end) {
        uint64_t a0 = now_ns();
        int64_t ms = (int64_t)(a0 / 1000000);
        snprintf(id, sizeof id, "m_%020llu", (unsigned long long)++seq);
        sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, (int64_t)seq);
        sqlite3_bind_int64(ins, 3, ms);
        sqlite3_bind_blob(ins, 4, body, (int)size, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 5, ms);
        if (sqlite3_step(ins) != SQLITE_DONE)
            fail(sqlite3_errmsg(db));
        sqlite3_reset(ins);
        lat[nlat++] = (float)((double)(now_ns() - a0) / 1e3);
        n++;
    }
    report("W1", n, (double)(now_ns() - t0) / 1e9);
    uint64_t total = n;
    n = 0;
    t0 = now_ns();
    end = t0 + (uint64_t)(secs * 1e9);
    while (n < total && now_ns() < end) {
        uint64_t a0 = now_ns();
        sqlite3_bind_int64(recv, 1, (int64_t)(a0 / 1000000) + 1);
        if (sqlite3_step(recv) != SQLITE_ROW)
            break;
        snprintf(id, sizeof id, "%s", sqlite3_column_text(recv, 0));
        memcpy(body, sqlite3_column_blob(recv, 1),
               (size_t)sqlite3_column_bytes(recv, 1));
        sqlite3_step(recv);
        sqlite3_reset(recv);
        sqlite3_bind_text(del, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(del) != SQLITE_DONE)
            fail(sqlite3_errmsg(db));
        sqlite3_reset(del);
        lat[nlat++] = (float)((double)(now_ns() - a0) / 1e3);
        n++;
    }
    report("W3", n, (double)(now_ns() - t0) / 1e9);
    sqlite3_finalize(ins);
    sqlite3_finalize(recv);
    sqlite3_finalize(del);
    sqlite3_close(db);
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
    mode = argv[3];
    secs = atof(argv[4]);
    if (strcmp(sysname, "sqlite") == 0)
        sqlite_run(argv[2]);
    else if (strcmp(sysname, "redis") == 0)
        redis_run(atoi(argv[2]));
    else if (strcmp(sysname, "beanstalkd") == 0)
        beanstalkd_run(atoi(argv[2]));
    else
        return 2;
    return 0;
}
