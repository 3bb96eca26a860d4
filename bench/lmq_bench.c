/*
 * lmq_bench.c: lmq-bench, the throughput and latency benchmark of lmq, next
 * to a raw LMDB loop doing the same work (the ceiling).
 *
 * Workloads (names as in issue 6 and bench/RESULTS.md):
 *   W1      send, one message per call          (threads 1/4/8: group commit)
 *   W1b10   send_batch of 10
 *   W3      receive 1 + delete 1 per call, queue pre-filled
 *   W3b10   receive 10 + delete_batch 10
 *   W3q1k / W3q1M / W3q10M   W3b10 with that many messages queued
 *   W4      one producer process + one consumer process (long polling),
 *           throughput
 *   W4c     the same with the consumer runtime as the consumer (batches of
 *           10, a 1 ms batching window, acknowledgements in batches)
 *   W4p     the same, producer paced at 500/s: end-to-end latency from send
 *           to receive, across processes
 *   W4x4    4 producer + 4 consumer processes
 * Bodies of 100 B, 4 KiB and 256 KiB; every durability mode. Each result is
 * a line of the human table or, with --json, one JSON object per line.
 *
 * The ceiling ("lmdb-ceiling") is a raw LMDB loop doing the same B-tree
 * work per message: a put of (qid, seq) -> body for a send; for a receive a
 * transaction that moves a visibility-index entry and reads the body, then a
 * transaction that deletes both. For the durable mode it uses LMDB's
 * default (synchronous) flags; for the relaxed modes MDB_NOSYNC |
 * MDB_WRITEMAP, LMDB's fastest. "lmdb-nosync" repeats the relaxed loop with
 * lmq's own relaxed flags (MDB_NOSYNC without WRITEMAP).
 *
 * Runs are bounded by time (--quick: short) and by count; every number is
 * measured, none is asserted. This program is not the library: it may and
 * does include lmdb.h.
 */
#define _GNU_SOURCE
#include "lmq.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- options and output ------------------------------------------------- */

static struct {
    bool quick, longrun, json;
    double secs;      /* time budget of one row */
    const char *base; /* directory for the homes */
    const char *only; /* comma list of workloads, or NULL */
    const char *modes; /* comma list of durability names */
    bool seal;         /* --seal: clear and sealed rows, same run */
} opt;

/* --seal: whether this row's queue is sealed (encryption at rest), and the
 * keyring the sealed rows use. */
static bool sealing;
static char keyfile[600];
#define SYS (sealing ? "lmq-sealed" : "lmq")

typedef struct row {
    const char *system, *workload, *durability;
    size_t size, batch;
    int threads, processes;
    uint64_t queued;
    double msgs_per_sec, p50_us, p99_us;
    double bytes_per_msg; /* < 0: not measured */
    uint64_t msgs;
    long anon_kb; /* private memory after the run; 0: not measured */
} row;

static int rows_printed;

static void
emit(const row *r)
{
    if (opt.json) {
        printf("{\"system\":\"%s\",\"workload\":\"%s\",\"durability\":\"%s\","
               "\"size\":%zu,\"batch\":%zu,\"threads\":%d,\"processes\":%d,"
               "\"queued\":%llu,\"msgs\":%llu,\"msgs_per_sec\":%.0f,"
               "\"p50_us\":%.1f,\"p99_us\":%.1f",
               r->system, r->workload, r->durability, r->size, r->batch,
               r->threads, r->processes, (unsigned long long)r->queued,
               (unsigned long long)r->msgs, r->msgs_per_sec, r->p50_us,
               r->p99_us);
        if (r->bytes_per_msg >= 0)
            printf(",\"bytes_per_msg\":%.0f", r->bytes_per_msg);
        if (r->anon_kb > 0)
            printf(",\"anon_kb\":%ld", r->anon_kb);
        printf("}\n");
    } else {
        if (rows_printed++ % 40 == 0)
            printf("%-13s %-7s %-8s %7s %5s %3s %3s %9s %10s %9s %9s\n",
                   "system", "work", "durab", "size", "batch", "thr", "prc",
                   "queued", "msgs/s", "p50 us", "p99 us");
        printf("%-13s %-7s %-8s %7zu %5zu %3d %3d %9llu %10.0f %9.1f %9.1f",
               r->system, r->workload, r->durability, r->size, r->batch,
               r->threads, r->processes, (unsigned long long)r->queued,
               r->msgs_per_sec, r->p50_us, r->p99_us);
        if (r->bytes_per_msg >= 0)
            printf("  %.0f B/msg on disk", r->bytes_per_msg);
        if (r->anon_kb > 0)
            printf("  %ld KiB private memory", r->anon_kb);
        printf("\n");
    }
    fflush(stdout);
}

static bool
wanted(const char *workload)
{
    if (!opt.only)
        return true;
    size_t l = strlen(workload);
    for (const char *p = opt.only; p && *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == l && strncmp(p, workload, l) == 0)
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}

static void
die(const char *what, int rc)
{
    fprintf(stderr, "lmq-bench: %s: %s (%s)\n", what, lmq_err_name(rc),
            lmq_errmsg());
    exit(1);
}

#define CK(call)                                                             \
    do {                                                                     \
        int ck_rc_ = (call);                                                 \
        if (ck_rc_)                                                          \
            die(#call, ck_rc_);                                              \
    } while (0)

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- latency samples ----------------------------------------------------- */

typedef struct lat {
    float *us;
    size_t n, cap;
} lat;

static void
lat_add(lat *l, double us)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->us = realloc(l->us, l->cap * sizeof *l->us);
        if (!l->us)
            abort();
    }
    l->us[l->n++] = (float)us;
}

static int
fcmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static void
lat_done(lat *l, row *r)
{
    if (l->n) {
        qsort(l->us, l->n, sizeof *l->us, fcmp);
        r->p50_us = l->us[l->n / 2];
        r->p99_us = l->us[(size_t)((double)(l->n - 1) * 0.99)];
    }
    free(l->us);
    memset(l, 0, sizeof *l);
}

/* ---- homes --------------------------------------------------------------- */

static char home[512];
static int home_seq;

static void
rm_rf(const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "lmq-bench: could not remove %s\n", dir);
}

static const char *
fresh_home(void)
{
    snprintf(home, sizeof home, "%s/h%d", opt.base, home_seq++);
    rm_rf(home);
    return home;
}

static const char *
mode_name(lmq_durability d)
{
    return d == LMQ_DURABILITY_FULL ? "full"
           : d == LMQ_DURABILITY_PERIODIC ? "periodic"
                                          : "none";
}

static lmq_env *
open_env(lmq_durability d)
{
    lmq_env_opts o;
    lmq_env *env;
    lmq_env_opts_init(&o);
    o.durability = d;
    o.map_size = 1ull << 30;
    o.key_file = sealing ? keyfile : "";
    CK(lmq_env_open(home, &o, &env));
    return env;
}

static lmq_queue *
open_queue(lmq_env *env, bool create)
{
    lmq_queue *q;
    if (create) {
        lmq_map *a = lmq_map_new();
        /* Bodies up to 256 KiB (the SQS default maximum). */
        lmq_map_set(a, "MaximumMessageSize", "262144");
        lmq_map_set(a, "SqsManagedSseEnabled", sealing ? "true" : "false");
        CK(lmq_queue_create(env, "bench", a, NULL, NULL));
        lmq_map_free(a);
    }
    CK(lmq_queue_open(env, "bench", &q));
    return q;
}

static char *
make_body(size_t size)
{
    char *b = malloc(size + 1);
    if (!b)
        abort();
    for (size_t i = 0; i < size; i++)
        b[i] = (char)('a' + i % 26);
    b[size] = '\0';
    return b;
}

/* Bytes of the home's data file in use: the pages up to LMDB's last one
 * (free pages among them included), read with LMDB once lmq has closed the
 * home. Not the file's allocated blocks: a writable home keeps 32 MiB past
 * its last page populated (docs/DURABILITY.md), which says nothing about
 * what a message costs. */
static double
used_bytes(void)
{
    MDB_env *e;
    MDB_envinfo info;
    MDB_stat st;
    double bytes = 0;
    if (mdb_env_create(&e) != 0)
        return 0;
    mdb_env_set_maxdbs(e, 32);
    if (mdb_env_open(e, home, MDB_RDONLY, 0600) == 0 &&
        mdb_env_info(e, &info) == 0 && mdb_env_stat(e, &st) == 0)
        bytes = (double)(info.me_last_pgno + 1) * st.ms_psize;
    mdb_env_close(e);
    return bytes;
}

/* Private (anonymous) resident memory of this process, KiB: what a
 * consumer holds of its own, apart from the shared map of the home. */
static long
anon_kb(void)
{
    char line[256];
    long kb = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* ---- lmq workloads ------------------------------------------------------- */

struct sender {
    lmq_queue *q;
    const char *body;
    size_t size, batch;
    double deadline;
    uint64_t cap;
    uint64_t sent;
    lat l;
};

static void *
send_loop(void *arg)
{
    struct sender *s = arg;
    lmq_send_entry e[10];
    lmq_send_result res[10];
    static const char *ids[10] = {"a", "b", "c", "d", "e",
                                  "f", "g", "h", "i", "j"};
    for (size_t i = 0; i < s->batch; i++) {
        lmq_send_entry_init(&e[i]);
        e[i].body = s->body;
        e[i].body_len = s->size;
        e[i].id = s->batch > 1 ? ids[i] : NULL;
    }
    while (s->sent < s->cap) {
        uint64_t t0 = now_ns();
        if (s->batch == 1)
            CK(lmq_send(s->q, &e[0], &res[0]));
        else
            CK(lmq_send_batch(s->q, e, s->batch, res));
        uint64_t t1 = now_ns();
        lat_add(&s->l, (double)(t1 - t0) / 1e3);
        s->sent += s->batch;
        if ((s->sent & 7) == 0 && now_s() > s->deadline)
            break;
    }
    return NULL;
}

static void
bench_send(lmq_durability d, const char *w, size_t size, size_t batch,
           int threads)
{
    if (!wanted(w))
        return;
    fresh_home();
    lmq_env *env = open_env(d);
    lmq_queue *q = open_queue(env, true);
    char *body = make_body(size);
    struct sender s[8];
    pthread_t th[8];
    uint64_t cap = size >= 65536 ? 4000 : 2000000;
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        s[i] = (struct sender){q, body, size, batch, t0 + opt.secs,
                               cap / (uint64_t)threads, 0, {0}};
        pthread_create(&th[i], NULL, send_loop, &s[i]);
    }
    uint64_t total = 0;
    lat all = {0};
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        total += s[i].sent;
        for (size_t k = 0; k < s[i].l.n; k++)
            lat_add(&all, s[i].l.us[k]);
        free(s[i].l.us);
    }
    double el = now_s() - t0;
    row r = {SYS, w, mode_name(d), size, batch, threads, 1, 0, 0, 0, 0,
             -1, total, 0};
    r.msgs_per_sec = (double)total / el;
    lat_done(&all, &r);
    lmq_queue_close(q);
    lmq_env_close(env);
    if (batch == 1 && threads == 1 && size == 100)
        r.bytes_per_msg = used_bytes() / (double)total;
    free(body);
    emit(&r);
    rm_rf(home);
}

/* Fill the queue with n messages quickly (batches of 10, one sync at the
 * end when the mode is durable). */
static void
prefill(lmq_queue *q, const char *body, size_t size, uint64_t n)
{
    lmq_send_entry e[10];
    lmq_send_result res[10];
    static const char *ids[10] = {"a", "b", "c", "d", "e",
                                  "f", "g", "h", "i", "j"};
    for (int i = 0; i < 10; i++) {
        lmq_send_entry_init(&e[i]);
        e[i].body = body;
        e[i].body_len = size;
        e[i].id = ids[i];
    }
    /* A batch holds at most 1 MiB of bodies. */
    uint64_t per = size ? 1048576 / size : 10;
    per = per < 1 ? 1 : per > 10 ? 10 : per;
    for (uint64_t k = 0; k < n; k += per)
        CK(lmq_send_batch(q, e, n - k < per ? (size_t)(n - k) : per, res));
}

/* Receive and delete until the budget or the queue runs out. */
static uint64_t
recv_delete_loop(lmq_queue *q, size_t batch, double deadline, uint64_t cap,
                 lat *l, int wait)
{
    lmq_recv_opts o;
    lmq_msg *m[10];
    lmq_handle_entry he[10];
    lmq_batch_result br[10];
    static const char *ids[10] = {"a", "b", "c", "d", "e",
                                  "f", "g", "h", "i", "j"};
    uint64_t got = 0;
    lmq_recv_opts_init(&o);
    o.max_messages = (int)batch;
    o.wait_seconds = wait;
    while (got < cap) {
        size_t n;
        uint64_t t0 = now_ns();
        int rc = lmq_receive(q, &o, m, 10, &n);
        if (rc == LMQ_EINTR)
            break;
        CK(rc);
        if (n == 0) {
            if (wait == 0 || now_s() > deadline)
                break;
            continue;
        }
        if (batch == 1) {
            CK(lmq_delete(q, lmq_msg_receipt(m[0]), NULL));
        } else {
            for (size_t i = 0; i < n; i++)
                he[i] = (lmq_handle_entry){ids[i], lmq_msg_receipt(m[i]), 0};
            CK(lmq_delete_batch(q, he, n, br));
        }
        if (l)
            lat_add(l, (double)(now_ns() - t0) / 1e3);
        for (size_t i = 0; i < n; i++)
            lmq_msg_free(m[i]);
        got += n;
        if ((got & 7) == 0 && now_s() > deadline)
            break;
    }
    return got;
}

static void
bench_recv(lmq_durability d, const char *w, size_t size, size_t batch,
           uint64_t queued, uint64_t todo)
{
    if (!wanted(w))
        return;
    fresh_home();
    /* Fill in the fastest mode, then reopen in the measured one. */
    lmq_env *env = open_env(LMQ_DURABILITY_NONE);
    lmq_queue *q = open_queue(env, true);
    char *body = make_body(size);
    prefill(q, body, size, queued);
    CK(lmq_env_sync(env));
    lmq_queue_close(q);
    lmq_env_close(env);
    double per_msg = used_bytes() / (double)queued;

    env = open_env(d);
    q = open_queue(env, false);
    lat l = {0};
    /* A small backlog is refilled (untimed) until todo messages were
     * received, so both sizes of backlog run the same number of ops. */
    double el = 0, deadline = now_s() + opt.secs;
    uint64_t got = 0;
    for (;;) {
        double t0 = now_s();
        uint64_t want = todo - got < queued ? todo - got : queued;
        got += recv_delete_loop(q, batch, deadline, want, &l, 0);
        el += now_s() - t0;
        if (got >= todo || now_s() > deadline)
            break;
        prefill(q, body, size, queued);
    }
    row r = {SYS, w, mode_name(d), size, batch, 1, 1, queued, 0, 0, 0,
             -1, got, 0};
    r.msgs_per_sec = (double)got / el;
    lat_done(&l, &r);
    if (queued >= 1000000)
        r.bytes_per_msg = per_msg;
    if (strncmp(w, "W3q", 3) == 0)
        r.anon_kb = anon_kb();
    lmq_queue_close(q);
    lmq_env_close(env);
    free(body);
    emit(&r);
    rm_rf(home);
}

/* W3c: receive + delete through the consumer runtime (lib/consumer.c),
 * which receives up to 100 per transaction and acknowledges in batches. */
static int
count_handler(const lmq_msg *m, void *arg)
{
    (void)m;
    __atomic_add_fetch((uint64_t *)arg, 1, __ATOMIC_RELAXED);
    return 0;
}

static void
bench_consumer(lmq_durability d, const char *w, uint64_t queued,
               int concurrency)
{
    if (!wanted(w))
        return;
    fresh_home();
    lmq_env *env = open_env(LMQ_DURABILITY_NONE);
    lmq_queue *q = open_queue(env, true);
    char *body = make_body(100);
    prefill(q, body, 100, queued);
    CK(lmq_env_sync(env));
    lmq_queue_close(q);
    lmq_env_close(env);

    env = open_env(d);
    uint64_t handled = 0;
    lmq_consumer_opts co;
    lmq_consumer *c;
    lmq_consumer_opts_init(&co);
    co.handler = count_handler;
    co.arg = &handled;
    co.batch_size = 100;
    co.concurrency = concurrency;
    co.wait_seconds = 1;
    co.until_empty = 1;
    co.max_messages = queued;
    CK(lmq_consumer_open(env, "bench", &co, &c));
    double t0 = now_s();
    CK(lmq_consumer_start(c));
    (void)lmq_consumer_join(c);
    double el = now_s() - t0;
    lmq_consumer_close(c);
    /* What is left was not acknowledged: count only what was deleted. */
    q = open_queue(env, false);
    lmq_map *attrs = NULL;
    const char *names[] = {"ApproximateNumberOfMessages",
                           "ApproximateNumberOfMessagesNotVisible", NULL};
    uint64_t left = 0;
    if (lmq_queue_get_attributes(env, "bench", names, &attrs) == 0) {
        for (int i = 0; names[i]; i++) {
            const char *v = lmq_map_get(attrs, names[i]);
            left += v ? strtoull(v, NULL, 10) : 0;
        }
        lmq_map_free(attrs);
    }
    uint64_t done = queued - left;
    row r = {SYS, w, mode_name(d), 100, 100, concurrency, 1, queued, 0, 0,
             0, -1, done, 0};
    r.msgs_per_sec = (double)done / el;
    lmq_queue_close(q);
    lmq_env_close(env);
    free(body);
    emit(&r);
    rm_rf(home);
}

/* ---- W4: producer and consumer processes -------------------------------- */

/* W4c's batching window: the 1 ms SQLite's polling consumer waits between
 * empty polls (bench/peer_bench.c). */
#ifndef W4C_WINDOW_MS
#define W4C_WINDOW_MS 1
#endif

/* Producer: sends `count` messages whose body starts with the send time
 * (CLOCK_MONOTONIC ns, one clock for all processes); paced when rate > 0. */
static void
producer(lmq_durability d, size_t size, uint64_t count, double rate, int go)
{
    lmq_env *env = open_env(d);
    lmq_queue *q = open_queue(env, false);
    char *body = make_body(size < 24 ? 24 : size);
    lmq_send_entry e;
    char c;
    lmq_send_entry_init(&e);
    e.body = body;
    e.body_len = size;
    if (read(go, &c, 1) != 1)
        _exit(3);
    uint64_t start = now_ns();
    for (uint64_t k = 0; k < count; k++) {
        if (rate > 0) {
            uint64_t due = start + (uint64_t)((double)k * 1e9 / rate);
            for (uint64_t t = now_ns(); t < due; t = now_ns())
                if (due - t > 200000)
                    usleep((useconds_t)((due - t) / 2000));
        }
        snprintf(body, 24, "%020llu", (unsigned long long)now_ns());
        body[20] = ' ';
        CK(lmq_send(q, &e, NULL));
    }
    lmq_queue_close(q);
    lmq_env_close(env);
    free(body);
    _exit(0);
}

/* Shared by the consumers of one W4 run (an anonymous shared mapping made
 * before fork): messages taken so far and when the total was reached. */
struct shared {
    uint64_t got;
    double done_at;
};
static struct shared *shm;

struct cres {
    uint64_t got;
    double first, last;
    size_t nlat;
};

/* Consumer: long-polls and deletes until it has `count` messages (or the
 * budget runs out); reports through fd. */
static void
consumer(lmq_durability d, uint64_t count, uint64_t total, size_t batch,
         int go, int out, bool latency)
{
    lmq_env *env = open_env(d);
    lmq_queue *q = open_queue(env, false);
    lmq_recv_opts o;
    lmq_msg *m[10];
    lmq_handle_entry he[10];
    lmq_batch_result br[10];
    static const char *ids[10] = {"a", "b", "c", "d", "e",
                                  "f", "g", "h", "i", "j"};
    struct cres cr = {0, 0, 0, 0};
    float *lats = latency ? malloc(count * sizeof *lats) : NULL;
    char c;
    lmq_recv_opts_init(&o);
    o.max_messages = (int)batch;
    o.wait_seconds = 1;
    if (read(go, &c, 1) != 1)
        _exit(3);
    double deadline = now_s() + opt.secs * 4 + 5;
    while (__atomic_load_n(&shm->got, __ATOMIC_SEQ_CST) < total &&
           now_s() < deadline) {
        size_t n;
        CK(lmq_receive(q, &o, m, 10, &n));
        uint64_t t = now_ns();
        if (n == 0)
            continue;
        if (cr.got == 0)
            cr.first = now_s();
        for (size_t i = 0; i < n; i++) {
            if (lats && cr.nlat < count) {
                uint64_t sent = strtoull(lmq_msg_body(m[i], NULL), NULL, 10);
                lats[cr.nlat++] = (float)((double)(t - sent) / 1e3);
            }
            he[i] = (lmq_handle_entry){ids[i], lmq_msg_receipt(m[i]), 0};
        }
        if (n == 1)
            CK(lmq_delete(q, he[0].receipt, NULL));
        else
            CK(lmq_delete_batch(q, he, n, br));
        for (size_t i = 0; i < n; i++)
            lmq_msg_free(m[i]);
        cr.got += n;
        if (__atomic_add_fetch(&shm->got, n, __ATOMIC_SEQ_CST) >= total &&
            __atomic_load_n(&shm->got, __ATOMIC_SEQ_CST) - n < total)
            shm->done_at = now_s();
    }
    cr.last = now_s();
    lmq_queue_close(q);
    lmq_env_close(env);
    if (write(out, &cr, sizeof cr) != (ssize_t)sizeof cr)
        _exit(4);
    if (lats && cr.nlat &&
        write(out, lats, cr.nlat * sizeof *lats) !=
            (ssize_t)(cr.nlat * sizeof *lats))
        _exit(4);
    _exit(0);
}

/* W4c's consumer: the consumer runtime (lib/consumer.c) with batches of 10
 * and a batching window, acknowledging in batches; reports when its last
 * acknowledgement was made (lmq_consumer_join returned). */
static int
w4c_handler(const lmq_msg *m, void *arg)
{
    (void)m;
    (void)arg;
    __atomic_add_fetch(&shm->got, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static void
consumer_rt(lmq_durability d, uint64_t count, int window_ms, int go, int out)
{
    lmq_env *env = open_env(d);
    lmq_consumer_opts co;
    lmq_consumer *c;
    struct cres cr = {0, 0, 0, 0};
    char ch;
    lmq_consumer_opts_init(&co);
    co.handler = w4c_handler;
    co.batch_size = 10;
    co.batching_window_ms = window_ms;
    co.wait_seconds = 1;
    co.max_messages = count;
    CK(lmq_consumer_open(env, "bench", &co, &c));
    if (read(go, &ch, 1) != 1)
        _exit(3);
    cr.first = now_s();
    CK(lmq_consumer_start(c));
    (void)lmq_consumer_join(c);
    cr.last = now_s();
    lmq_consumer_close(c);
    cr.got = __atomic_load_n(&shm->got, __ATOMIC_SEQ_CST);
    lmq_env_close(env);
    if (write(out, &cr, sizeof cr) != (ssize_t)sizeof cr)
        _exit(4);
    _exit(0);
}

static bool
read_all(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

/* window_ms >= 0: the consumers are the consumer runtime with that
 * batching window (W4c); -1: long-poll receive + delete loops. */
static void
bench_procs(lmq_durability d, const char *w, size_t size, int nprod,
            int ncons, uint64_t count, double rate, size_t batch,
            int window_ms)
{
    if (!wanted(w))
        return;
    fresh_home();
    lmq_env *env = open_env(d);
    lmq_queue_close(open_queue(env, true));
    lmq_env_close(env);
    int go[2], out[2];
    if (pipe(go) || pipe(out))
        abort();
    if (!shm) {
        shm = mmap(NULL, sizeof *shm, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (shm == MAP_FAILED)
            abort();
    }
    memset(shm, 0, sizeof *shm);
    pid_t pids[16];
    int np = 0;
    uint64_t per_prod = count / (uint64_t)nprod;
    uint64_t per_cons = per_prod * (uint64_t)nprod / (uint64_t)ncons;
    for (int i = 0; i < nprod; i++) {
        pid_t p = fork();
        if (p == 0)
            producer(d, size, per_prod, rate, go[0]);
        pids[np++] = p;
    }
    for (int i = 0; i < ncons; i++) {
        pid_t p = fork();
        if (p == 0 && window_ms >= 0)
            consumer_rt(d, per_cons, window_ms, go[0], out[1]);
        if (p == 0)
            consumer(d, per_cons, per_prod * (uint64_t)nprod, batch, go[0],
                     out[1], rate > 0);
        pids[np++] = p;
    }
    close(out[1]);
    /* Give every child time to open its env, then start them together. */
    usleep(100000);
    double t0 = now_s();
    char gobuf[16];
    memset(gobuf, 'g', sizeof gobuf);
    if (write(go[1], gobuf, (size_t)np) != np)
        abort();
    lat l = {0};
    uint64_t got = 0;
    double last = t0;
    for (int i = 0; i < ncons; i++) {
        struct cres cr;
        if (!read_all(out[0], &cr, sizeof cr))
            break;
        got += cr.got;
        if (cr.last > last)
            last = cr.last;
        if (cr.nlat) {
            float *v = malloc(cr.nlat * sizeof *v);
            if (!read_all(out[0], v, cr.nlat * sizeof *v))
                break;
            for (size_t k = 0; k < cr.nlat; k++)
                lat_add(&l, v[k]);
            free(v);
        }
    }
    for (int i = 0; i < np; i++)
        waitpid(pids[i], NULL, 0);
    close(go[0]);
    close(go[1]);
    close(out[0]);
    row r = {SYS, w, mode_name(d), size, batch, 1, nprod + ncons, 0, 0,
             0, 0, -1, got, 0};
    if (shm->done_at > 0)
        last = shm->done_at;
    r.msgs_per_sec = (double)got / (last - t0);
    lat_done(&l, &r);
    emit(&r);
    rm_rf(home);
}

/* ---- the raw LMDB ceiling ------------------------------------------------ */

#define MCK(call)                                                            \
    do {                                                                     \
        int m_rc_ = (call);                                                  \
        if (m_rc_) {                                                         \
            fprintf(stderr, "lmq-bench: %s: %s\n", #call,                    \
                    mdb_strerror(m_rc_));                                    \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

static void
be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

typedef struct raw {
    MDB_env *env;
    MDB_dbi msg, vis;
    /* --log-probe: a log of our own in front of an unsynced LMDB */
    int logfd;              /* -1: LMDB commits with the flags it has */
    uint64_t tail;          /* offset of the next record */
    unsigned since;         /* commits since the last checkpoint */
    MDB_txn *pin;           /* read transaction on the checkpoint */
    double ckpt_s;          /* time spent checkpointing */
    unsigned ckpts;
} raw;

/* The log probe (--log-probe, bench/RESULTS.md "What bounds the misses"):
 * what a durable commit would cost with one flush instead of LMDB's two.
 * LMDB runs with MDB_NOSYNC; each commit first appends a record as large as
 * the writes it makes (keys and values) to a preallocated log and, after
 * mdb_txn_commit(), syncs the log: one flush. Every LOG_CKPT_EVERY commits
 * (or when the log is full) a checkpoint syncs LMDB (data and meta in one
 * flush), writes the checkpoint's header to the log, syncs it, and moves a
 * read transaction (the pin) to the new snapshot, so that LMDB cannot reuse
 * the pages of the snapshot a recovery would start from. Receives are
 * logged but not synced (lmq's soft writes: the next synced record covers
 * them). This is the commit protocol only, measured in the raw loops: no
 * recovery, no checksums, one process. */
#define LOG_BYTES (64u << 20)
#define LOG_HDR 8192u
#define LOG_CKPT_EVERY 256u
static bool raw_log; /* raw_open() gives new loops a log */

static void
raw_log_open(raw *r)
{
    char path[600];
    snprintf(path, sizeof path, "%s/log", home);
    r->logfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (r->logfd < 0) {
        perror(path);
        exit(1);
    }
    static const char zeros[1 << 20];
    for (uint64_t off = 0; off < LOG_BYTES; off += sizeof zeros)
        if (pwrite(r->logfd, zeros, sizeof zeros, (off_t)off) !=
            (ssize_t)sizeof zeros) {
            perror("log");
            exit(1);
        }
    fdatasync(r->logfd);
    r->tail = LOG_HDR;
}

static void
raw_checkpoint(raw *r)
{
    double t0 = now_s();
    int dfd;
    uint8_t meta[512];
    MDB_txn *pin;
    MCK(mdb_env_sync(r->env, 1));
    MCK(mdb_txn_begin(r->env, NULL, MDB_RDONLY, &pin));
    MCK(mdb_env_get_fd(r->env, &dfd));
    if (pread(dfd, meta, sizeof meta, 0) != (ssize_t)sizeof meta ||
        pwrite(r->logfd, meta, sizeof meta, 0) != (ssize_t)sizeof meta ||
        fdatasync(r->logfd) != 0) {
        perror("checkpoint");
        exit(1);
    }
    if (r->pin)
        mdb_txn_abort(r->pin);
    r->pin = pin;
    r->tail = LOG_HDR;
    r->since = 0;
    r->ckpts++;
    r->ckpt_s += now_s() - t0;
}

/* Commit t; with a log, append `rec` bytes first and (sync) flush it. */
static void
raw_commit(raw *r, MDB_txn *t, size_t rec, bool sync)
{
    static char buf[64 << 10];
    if (r->logfd < 0) {
        MCK(mdb_txn_commit(t));
        return;
    }
    if (r->tail + rec > LOG_BYTES)
        raw_checkpoint(r);
    for (size_t off = 0; off < rec; off += sizeof buf) {
        size_t len = rec - off < sizeof buf ? rec - off : sizeof buf;
        if (pwrite(r->logfd, buf, len, (off_t)(r->tail + off)) !=
            (ssize_t)len) {
            perror("log");
            exit(1);
        }
    }
    r->tail += rec;
    MCK(mdb_txn_commit(t));
    if (sync && fdatasync(r->logfd) != 0) {
        perror("log");
        exit(1);
    }
    if (++r->since >= LOG_CKPT_EVERY)
        raw_checkpoint(r);
}

static void
raw_open(raw *r, unsigned flags, uint64_t map_size)
{
    fresh_home();
    mkdir(home, 0700);
    MCK(mdb_env_create(&r->env));
    mdb_env_set_maxdbs(r->env, 4);
    MCK(mdb_env_set_mapsize(r->env, (size_t)map_size));
    MCK(mdb_env_open(r->env, home, flags | MDB_NOTLS, 0600));
    MDB_txn *t;
    MCK(mdb_txn_begin(r->env, NULL, 0, &t));
    MCK(mdb_dbi_open(t, "msg", MDB_CREATE, &r->msg));
    MCK(mdb_dbi_open(t, "vis", MDB_CREATE, &r->vis));
    MCK(mdb_txn_commit(t));
    r->logfd = -1;
    r->pin = NULL;
    r->ckpts = 0;
    r->ckpt_s = 0;
    if (raw_log)
        raw_log_open(r);
}

static void
raw_close(raw *r)
{
    if (r->pin)
        mdb_txn_abort(r->pin);
    if (r->logfd >= 0)
        close(r->logfd);
    mdb_env_close(r->env);
    rm_rf(home);
}

static void
mkey(uint8_t k[12], uint64_t seq)
{
    memset(k, 0, 4);
    be64(k + 4, seq);
}

static void
vkey(uint8_t k[20], uint64_t at, uint64_t seq)
{
    memset(k, 0, 4);
    be64(k + 4, at);
    be64(k + 12, seq);
}

/* Put msg and its vis entry; n per transaction. */
static void
raw_send(raw *r, uint64_t *seq, const char *body, size_t size, size_t n)
{
    MDB_txn *t;
    MCK(mdb_txn_begin(r->env, NULL, 0, &t));
    for (size_t i = 0; i < n; i++) {
        uint8_t k[12], vk[20], st = 1;
        ++*seq;
        mkey(k, *seq);
        vkey(vk, 1, *seq);
        MDB_val key = {12, k}, val = {size, (void *)body};
        MDB_val vkv = {20, vk}, vv = {1, &st};
        MCK(mdb_put(t, r->msg, &key, &val, 0));
        MCK(mdb_put(t, r->vis, &vkv, &vv, 0));
    }
    raw_commit(r, t, n * (12 + size + 20 + 1 + 16), true);
}

/* One receive transaction (take the first `batch` visible entries, move
 * them to a later visibility time, read the bodies) and one delete
 * transaction for them: the raw form of lmq's receive + delete_batch.
 * Returns how many it took. */
static size_t
raw_recv_delete(raw *r, size_t batch)
{
    const uint64_t later = 1000000;
    uint64_t seqs[10];
    MDB_txn *t;
    MDB_cursor *c;
    MDB_val k, v;
    /* receive: take the first visible entries, move them to a
     * later visibility time, read the bodies */
    MCK(mdb_txn_begin(r->env, NULL, 0, &t));
    MCK(mdb_cursor_open(t, r->vis, &c));
    size_t n = 0;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
         rc == 0 && n < batch;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const uint8_t *kp = k.mv_data;
        uint64_t at = 0, s = 0;
        for (int i = 0; i < 8; i++) {
            at = at << 8 | kp[4 + i];
            s = s << 8 | kp[12 + i];
        }
        if (at > 1)
            break;
        seqs[n++] = s;
    }
    mdb_cursor_close(c);
    for (size_t i = 0; i < n; i++) {
        uint8_t vk[20], mk[12], st = 2;
        vkey(vk, 1, seqs[i]);
        MDB_val vkv = {20, vk}, vv = {1, &st};
        MCK(mdb_del(t, r->vis, &vkv, NULL));
        vkey(vk, later, seqs[i]);
        MCK(mdb_put(t, r->vis, &vkv, &vv, 0));
        mkey(mk, seqs[i]);
        MDB_val mkv = {12, mk}, body_v;
        MCK(mdb_get(t, r->msg, &mkv, &body_v));
        char *copy = malloc(body_v.mv_size);
        memcpy(copy, body_v.mv_data, body_v.mv_size);
        free(copy);
    }
    raw_commit(r, t, n * (20 + 20 + 1 + 16), false);
    /* delete */
    MCK(mdb_txn_begin(r->env, NULL, 0, &t));
    for (size_t i = 0; i < n; i++) {
        uint8_t vk[20], mk[12];
        vkey(vk, later, seqs[i]);
        mkey(mk, seqs[i]);
        MDB_val vkv = {20, vk}, mkv = {12, mk};
        MCK(mdb_del(t, r->vis, &vkv, NULL));
        MCK(mdb_del(t, r->msg, &mkv, NULL));
    }
    raw_commit(r, t, n * (20 + 12 + 16), true);
    return n;
}

static void
ceiling(const char *sys, unsigned flags, lmq_durability d, const char *w,
        size_t size, size_t batch, bool recv)
{
    if (!wanted(w))
        return;
    raw r;
    raw_open(&r, flags, 1ull << 30);
    char *body = make_body(size);
    uint64_t seq = 0, done = 0;
    lat l = {0};
    double t0, deadline;
    if (!recv) {
        t0 = now_s();
        deadline = t0 + opt.secs;
        while (done < 3000000) {
            uint64_t a = now_ns();
            raw_send(&r, &seq, body, size, batch);
            lat_add(&l, (double)(now_ns() - a) / 1e3);
            done += batch;
            if ((done & 7) == 0 && now_s() > deadline)
                break;
        }
    } else {
        uint64_t fill = d == LMQ_DURABILITY_FULL ? 20000 : 300000;
        if (opt.quick)
            fill /= 2;
        for (uint64_t k = 0; k < fill; k += 100)
            raw_send(&r, &seq, body, size, 100);
        mdb_env_sync(r.env, 1);
        t0 = now_s();
        deadline = t0 + opt.secs;
        while (done + batch <= fill) {
            uint64_t a = now_ns();
            size_t n = raw_recv_delete(&r, batch);
            lat_add(&l, (double)(now_ns() - a) / 1e3);
            done += n;
            if (n == 0 || ((done & 7) == 0 && now_s() > deadline))
                break;
        }
    }
    double el = now_s() - t0;
    row rr = {sys, w, mode_name(d), size, batch, 1, 1, 0, 0, 0, 0, -1, done, 0};
    rr.msgs_per_sec = (double)done / el;
    lat_done(&l, &rr);
    free(body);
    unsigned ckpts = r.ckpts;
    double ckpt_s = r.ckpt_s;
    raw_close(&r);
    emit(&rr);
    if (ckpts)
        fprintf(stderr, "  %s %s: %u checkpoints, %.0f %% of the time\n",
                sys, w, ckpts, 100 * ckpt_s / el);
}

/* The backlog rows' ceiling (W3q1k/1M/10M): receive 10 + delete in raw
 * LMDB (fastest flags) with `queued` messages waiting; a small backlog is
 * refilled untimed, as bench_recv() does for lmq. */
static void
ceiling_backlog(const char *w, uint64_t queued, uint64_t todo)
{
    if (!wanted(w))
        return;
    raw r;
    raw_open(&r, MDB_NOSYNC | MDB_WRITEMAP, 16ull << 30);
    char *body = make_body(100);
    uint64_t seq = 0, got = 0;
    lat l = {0};
    double el = 0, deadline = now_s() + opt.secs;
    while (got < todo) {
        uint64_t fill = todo - got < queued ? todo - got : queued;
        for (uint64_t k = 0; k < queued; k += 100)
            raw_send(&r, &seq, body, 100, 100);
        double t0 = now_s();
        for (uint64_t taken = 0; taken < fill;) {
            uint64_t a = now_ns();
            size_t n = raw_recv_delete(&r, 10);
            lat_add(&l, (double)(now_ns() - a) / 1e3);
            if (n == 0)
                break;
            taken += n;
            got += n;
        }
        el += now_s() - t0;
        if (got >= todo || now_s() > deadline)
            break;
        /* start the next round from an empty queue of `queued` */
        while (raw_recv_delete(&r, 10) > 0)
            ;
    }
    row rr = {"lmdb-ceiling", w, "none", 100, 10, 1, 1, queued, 0, 0, 0, -1,
              got, 0};
    rr.msgs_per_sec = (double)got / el;
    lat_done(&l, &rr);
    free(body);
    raw_close(&r);
    emit(&rr);
}

static void
ceilings(lmq_durability d)
{
    /* Durable: LMDB's default synchronous commit. Relaxed: the fastest
     * flags LMDB has, and lmq's own relaxed flags. */
    if (d == LMQ_DURABILITY_FULL) {
        ceiling("lmdb-ceiling", 0, d, "W1", 100, 1, false);
        ceiling("lmdb-ceiling", 0, d, "W1b10", 100, 10, false);
        ceiling("lmdb-ceiling", 0, d, "W3", 100, 1, true);
        ceiling("lmdb-ceiling", 0, d, "W3b10", 100, 10, true);
        return;
    }
    unsigned best = MDB_NOSYNC | MDB_WRITEMAP, same = MDB_NOSYNC;
    ceiling("lmdb-ceiling", best, d, "W1", 100, 1, false);
    ceiling("lmdb-ceiling", best, d, "W1b10", 100, 10, false);
    ceiling("lmdb-ceiling", best, d, "W3", 100, 1, true);
    ceiling("lmdb-ceiling", best, d, "W3b10", 100, 10, true);
    ceiling("lmdb-nosync", same, d, "W1", 100, 1, false);
    ceiling("lmdb-nosync", same, d, "W3", 100, 1, true);
}

/* ---- flag survey (docs/DURABILITY.md) ----------------------------------- */

static void
flag_survey(void)
{
    static const struct {
        const char *name;
        unsigned flags;
    } f[] = {
        {"default", 0},
        {"NOMETASYNC", MDB_NOMETASYNC},
        {"WRITEMAP", MDB_WRITEMAP},
        {"WRITEMAP|NOMETASYNC", MDB_WRITEMAP | MDB_NOMETASYNC},
        {"NOSYNC", MDB_NOSYNC},
        {"WRITEMAP|MAPASYNC", MDB_WRITEMAP | MDB_MAPASYNC},
        {"WRITEMAP|NOSYNC", MDB_WRITEMAP | MDB_NOSYNC},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        ceiling(f[i].name, f[i].flags, LMQ_DURABILITY_NONE, "W1", 100, 1,
                false);
        ceiling(f[i].name, f[i].flags, LMQ_DURABILITY_NONE, "W3", 100, 1,
                true);
    }
}

/* --log-probe: the durable raw loops as LMDB commits them (two flushes)
 * next to the same loops behind a log (one flush; see raw_commit()). */
static void
log_probe(void)
{
    static const struct {
        const char *w;
        size_t batch;
        bool recv;
    } l[] = {{"W1", 1, false}, {"W1b10", 10, false},
             {"W3", 1, true},  {"W3b10", 10, true}};
    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++) {
        raw_log = false;
        ceiling("lmdb-ceiling", 0, LMQ_DURABILITY_FULL, l[i].w, 100,
                l[i].batch, l[i].recv);
        raw_log = true;
        ceiling("log-probe", MDB_NOSYNC, LMQ_DURABILITY_FULL, l[i].w, 100,
                l[i].batch, l[i].recv);
    }
    raw_log = false;
}

/* ---- main ---------------------------------------------------------------- */

static bool
mode_on(lmq_durability d)
{
    if (!opt.modes)
        return true;
    return strstr(opt.modes, mode_name(d)) != NULL;
}

static void
usage(void)
{
    printf("usage: lmq-bench [--quick|--long] [--json] [--dir DIR]\n"
           "                 [--only W1,W3b10,...] [--modes full,periodic,"
           "none]\n"
           "                 [--secs S] [--flags] [--log-probe] [--seal]\n"
           "Runs the lmq workloads of bench/RESULTS.md next to a raw LMDB\n"
           "ceiling. --quick finishes in under a minute; --long adds 10M\n"
           "queued messages. --flags measures LMDB's sync flags instead;\n"
           "--log-probe the durable loops with a log in front of LMDB.\n"
           "--seal: encryption at rest: send (W1) and receive+delete (W3) at\n"
           "100 B and 64 KiB, clear (lmq) and sealed (lmq-sealed) rows\n"
           "alternating twice in the same run.\n");
}

int
main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"quick", no_argument, NULL, 'q'}, {"long", no_argument, NULL, 'L'},
        {"json", no_argument, NULL, 'j'},  {"dir", required_argument, NULL, 'd'},
        {"only", required_argument, NULL, 'o'},
        {"modes", required_argument, NULL, 'm'},
        {"secs", required_argument, NULL, 's'},
        {"flags", no_argument, NULL, 'f'},
        {"log-probe", no_argument, NULL, 'g'},
        {"seal", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool survey = false, probe = false;
    int c;
    opt.secs = -1;
    while ((c = getopt_long(argc, argv, "qLjd:o:m:s:fghS", lo, NULL)) != -1) {
        switch (c) {
        case 'q': opt.quick = true; break;
        case 'L': opt.longrun = true; break;
        case 'j': opt.json = true; break;
        case 'd': opt.base = optarg; break;
        case 'o': opt.only = optarg; break;
        case 'm': opt.modes = optarg; break;
        case 's': opt.secs = atof(optarg); break;
        case 'f': survey = true; break;
        case 'g': probe = true; break;
        case 'S': opt.seal = true; break;
        case 'h': usage(); return 0;
        default: usage(); return 2;
        }
    }
    if (opt.secs < 0)
        opt.secs = opt.quick ? 0.25 : 2.0;
    static char base[512];
    if (!opt.base) {
        const char *t = getenv("TMPDIR");
        snprintf(base, sizeof base, "%s/lmq-bench.XXXXXX",
                 t && *t ? t : "/tmp");
        if (!mkdtemp(base)) {
            perror("mkdtemp");
            return 1;
        }
        opt.base = base;
    } else {
        mkdir(opt.base, 0700);
    }
    signal(SIGPIPE, SIG_IGN);

    if (probe) {
        log_probe();
        rm_rf(opt.base);
        return 0;
    }
    if (survey) {
        flag_survey();
        rm_rf(opt.base);
        return 0;
    }
    static const lmq_durability modes[] = {
        LMQ_DURABILITY_FULL, LMQ_DURABILITY_PERIODIC, LMQ_DURABILITY_NONE};
    if (opt.seal) {
        snprintf(keyfile, sizeof keyfile, "%s/keys.json", opt.base);
        CK(lmq_keyring_add(keyfile, NULL, 0, NULL));
        for (size_t mi = 0; mi < 3; mi++) {
            lmq_durability d = modes[mi];
            bool durable = d == LMQ_DURABILITY_FULL;
            uint64_t fill = durable ? 3000 : (opt.quick ? 60000 : 300000);
            if (!mode_on(d))
                continue;
            for (int rep = 0; rep < 4; rep++) { /* clear, sealed, twice */
                sealing = rep % 2 == 1;
                bench_send(d, "W1", 100, 1, 1);
                bench_send(d, "W1", 65536, 1, 1);
                bench_recv(d, "W3", 100, 1, fill, fill);
                bench_recv(d, "W3", 65536, 1, durable ? 500 : 2000, fill);
            }
        }
        rm_rf(opt.base);
        return 0;
    }
    uint64_t w4n = opt.quick ? 3000 : 20000;
    for (size_t mi = 0; mi < 3; mi++) {
        lmq_durability d = modes[mi];
        if (!mode_on(d))
            continue;
        bool durable = d == LMQ_DURABILITY_FULL;
        ceilings(d);
        bench_send(d, "W1", 100, 1, 1);
        bench_send(d, "W1b10", 100, 10, 1);
        bench_send(d, "W1", 100, 1, 4);
        bench_send(d, "W1", 100, 1, 8);
        bench_send(d, "W1", 4096, 1, 1);
        bench_send(d, "W1", 262144, 1, 1);
        uint64_t fill = durable ? 3000 : (opt.quick ? 60000 : 300000);
        bench_recv(d, "W3", 100, 1, fill, fill);
        bench_recv(d, "W3b10", 100, 10, fill, fill);
        bench_recv(d, "W3", 4096, 1, fill / 4, fill);
        bench_recv(d, "W3", 262144, 1, 200, fill);
        bench_consumer(d, "W3c", durable ? 20000 : fill, 1);
        bench_procs(d, "W4", 100, 1, 1, durable ? w4n / 4 : w4n * 4, 0, 10,
                    -1);
        bench_procs(d, "W4c", 100, 1, 1, durable ? w4n / 4 : w4n * 4, 0, 10,
                    W4C_WINDOW_MS);
        bench_procs(d, "W4p", 100, 1, 1,
                    (uint64_t)(500 * (opt.quick ? 1 : 5)), 500, 1, -1);
        bench_procs(d, "W4x4", 100, 4, 4, durable ? w4n / 2 : w4n * 4, 0,
                    10, -1);
    }
    /* Receive throughput against the backlog: the same receive work with
     * 1k, 1M (and, with --long, 10M) messages queued. */
    if (mode_on(LMQ_DURABILITY_NONE)) {
        uint64_t todo = opt.quick ? 20000 : 100000;
        bench_recv(LMQ_DURABILITY_NONE, "W3q1k", 100, 10, 1000, todo);
        bench_recv(LMQ_DURABILITY_NONE, "W3q1M", 100, 10, 1000000, todo);
        if (opt.longrun)
            bench_recv(LMQ_DURABILITY_NONE, "W3q10M", 100, 10, 10000000,
                       todo);
        /* raw LMDB doing the same, to tell LMDB's own slope from lmq's */
        if (opt.longrun) {
            ceiling_backlog("W3q1k", 1000, todo);
            ceiling_backlog("W3q1M", 1000000, todo);
            ceiling_backlog("W3q10M", 10000000, todo);
        }
    }
    rm_rf(opt.base);
    return 0;
}
