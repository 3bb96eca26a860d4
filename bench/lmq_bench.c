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
 * Bodies of 100 B, 4 KiB and 256 KiB, or of the sizes --size names (up to
 * 1 MiB; the ceiling at each size too); every durability mode. Each result
 * is a line of the human table or, with --json, one JSON object per line,
 * with the counts the machine's load does not move beside the rates
 * (issue 24): flushes, bytes written and CPU per message (see "counts").
 *
 * The ceiling ("lmdb-ceiling") is a raw LMDB loop doing the same B-tree
 * work per message: a put of (qid, seq) -> body for a send; for a receive a
 * transaction that moves a visibility-index entry and reads the body, then a
 * transaction that deletes both. For the durable mode it uses LMDB's
 * default (synchronous) flags; for the relaxed modes MDB_NOSYNC |
 * MDB_WRITEMAP, LMDB's fastest. "lmdb-nosync" repeats the relaxed loop with
 * lmq's own relaxed flags (MDB_NOSYNC without WRITEMAP).
 *
 * Runs are bounded by time (--quick: short) and by count (and to ROW_BYTES
 * of bodies); every number is measured, none is asserted. Every fill before
 * a timed receive ends settled, for lmq and the ceiling alike: synced,
 * closed, opened again. This program is not the library: it may and
 * does include lmdb.h.
 */
#define _GNU_SOURCE
#include "lmq.h"
#include "synccount.h"

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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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
    bool detail;       /* --detail: each row's counts by kind, on stderr */
    bool device;       /* --device: --dir is a file system of its own */
    size_t sizes[16];  /* --size: body sizes; none: the default set */
    int nsizes;
    lmq_map_mode map;  /* --map-mode: of every lmq home; AUTO: the mode's */
} opt;

/* --seal: whether this row's queue is sealed (encryption at rest), and the
 * keyring the sealed rows use. */
static bool sealing;
static char keyfile[600];
#define SYS                                                                    \
    (sealing                          ? "lmq-sealed"                           \
     : opt.map == LMQ_MAP_PWRITE      ? "lmq-pwrite"                           \
     : opt.map == LMQ_MAP_WRITABLE    ? "lmq-writable"                         \
                                      : "lmq")

typedef struct row {
    const char *system, *workload, *durability;
    size_t size, batch;
    int threads, processes;
    uint64_t queued;
    double msgs_per_sec, p50_us, p99_us;
    double bytes_per_msg; /* < 0: not measured */
    uint64_t msgs;
    long anon_kb; /* private memory after the run; 0: not measured */
    /* issue 24: per message, over the row's measured spans (meter) */
    bool counted;
    double flushes_pm, written_pm, cpu_us_pm;
    double device_pm; /* --device: the device's bytes written per message */
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
        if (r->counted)
            printf(",\"flushes_per_msg\":%.4g,\"written_per_msg\":%.0f,"
                   "\"cpu_us_per_msg\":%.3g",
                   r->flushes_pm, r->written_pm, r->cpu_us_pm);
        if (r->counted && opt.device)
            printf(",\"device_per_msg\":%.0f", r->device_pm);
        printf("}\n");
    } else {
        if (rows_printed++ % 40 == 0)
            printf("%-13s %-7s %-8s %7s %5s %3s %3s %9s %10s %9s %9s "
                   "%7s %8s %7s\n",
                   "system", "work", "durab", "size", "batch", "thr", "prc",
                   "queued", "msgs/s", "p50 us", "p99 us", "fl/msg",
                   "wB/msg", "cpu us");
        printf("%-13s %-7s %-8s %7zu %5zu %3d %3d %9llu %10.0f %9.1f %9.1f",
               r->system, r->workload, r->durability, r->size, r->batch,
               r->threads, r->processes, (unsigned long long)r->queued,
               r->msgs_per_sec, r->p50_us, r->p99_us);
        if (r->counted)
            printf(" %7.3f %8.0f %7.1f", r->flushes_pm, r->written_pm,
                   r->cpu_us_pm);
        if (r->counted && opt.device)
            printf("  %.0f B/msg written by the device", r->device_pm);
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
open_env_map(lmq_durability d, lmq_map_mode mm)
{
    lmq_env_opts o;
    lmq_env *env;
    lmq_env_opts_init(&o);
    o.durability = d;
    o.map_mode = mm;
    o.map_size = 1ull << 30;
    o.key_file = sealing ? keyfile : "";
    CK(lmq_env_open(home, &o, &env));
    return env;
}

static lmq_env *
open_env(lmq_durability d)
{
    return open_env_map(d, opt.map);
}

/* The largest body the row sends: a queue takes bodies up to 256 KiB (the
 * SQS default maximum), or up to this if larger (lmq allows 1 MiB). */
static size_t body_max;

static lmq_queue *
open_queue(lmq_env *env, bool create)
{
    lmq_queue *q;
    if (create) {
        lmq_map *a = lmq_map_new();
        char mms[32];
        snprintf(mms, sizeof mms, "%zu",
                 body_max > 262144 ? body_max : (size_t)262144);
        lmq_map_set(a, "MaximumMessageSize", mms);
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

/* ---- counts: flushes, bytes written, CPU (issue 24) --------------------- */

/* What a row's work cost, counted over the spans in which it runs (set up,
 * prefills and refills left out): flushes from bench/synccount.c (this
 * process's threads and every child forked from it share the counters),
 * bytes written from /proc/self/io write_bytes, CPU from getrusage. Forked
 * workers (W4) count their own bytes and CPU from the start signal to their
 * exit and send them to the parent (child_report()); their flushes are in
 * the shared counters the parent's span reads. Every process's figures are
 * also kept as getrusage() has them (ru_oublock: blocks of 512 bytes) for
 * --detail, which prints both, so the two kernel counts can be compared. */
typedef struct meter {
    synccount sc;              /* summed over the spans */
    uint64_t bytes, cpu_us;    /* write_bytes, user + system */
    uint64_t oublock;          /* getrusage ru_oublock, blocks */
    uint64_t faults;           /* getrusage page faults, minor + major */
    uint64_t dev;              /* --detail: the device's bytes written */
    /* at the open span's start */
    synccount sc0;
    procio io0;
    struct rusage ru0;
    uint64_t dev0;
    bool on;
} meter;

/* Caveat on write_bytes (and ru_oublock, the same count): the kernel adds
 * a whole page-cache folio's size when a clean folio turns dirty. With
 * large folios (ext4 since Linux 6.16) a 4 KiB pwrite into a clean 2 MiB
 * folio counts 2 MiB while the device gets 4 KiB (and its journal); a
 * store into a clean folio of a writable map counts 2 MiB and the device
 * does get the whole folio at the next msync. So --detail also prints what
 * the device of --dir wrote during the row (/sys/dev/block/M:m/stat,
 * sectors written): exact on an otherwise idle machine, and counting every
 * other writer's bytes on a shared one. */
/* --dir's device; with --device its file system is written back outside
 * the counts (before a row's start is read, after its end is), so that
 * what a row leaves in the page cache is charged to it, and only to it. */
static devio dev = {"", -1};

/* Forked workers' own figures, sent through a pipe before they exit. */
typedef struct child_counts {
    uint64_t bytes, cpu_us, oublock;
} child_counts;

static uint64_t
ru_cpu_us(const struct rusage *ru)
{
    return (uint64_t)ru->ru_utime.tv_sec * 1000000u +
           (uint64_t)ru->ru_utime.tv_usec +
           (uint64_t)ru->ru_stime.tv_sec * 1000000u +
           (uint64_t)ru->ru_stime.tv_usec;
}

static void
meter_start(meter *m)
{
    devio_settle(&dev);
    synccount_read(&m->sc0);
    procio_read(0, &m->io0);
    getrusage(RUSAGE_SELF, &m->ru0);
    m->dev0 = opt.detail || opt.device ? devio_written(&dev) : 0;
    m->on = true;
}

static void
meter_stop(meter *m)
{
    synccount sc;
    procio io;
    struct rusage ru;
    if (!m->on)
        return;
    getrusage(RUSAGE_SELF, &ru);
    procio_read(0, &io);
    synccount_read(&sc);
    m->sc.fsync += sc.fsync - m->sc0.fsync;
    m->sc.fdatasync += sc.fdatasync - m->sc0.fdatasync;
    m->sc.msync_sync += sc.msync_sync - m->sc0.msync_sync;
    m->sc.msync_async += sc.msync_async - m->sc0.msync_async;
    m->sc.sync_file_range += sc.sync_file_range - m->sc0.sync_file_range;
    m->sc.syncfs += sc.syncfs - m->sc0.syncfs;
    m->bytes += io.write_bytes - m->io0.write_bytes;
    m->cpu_us += ru_cpu_us(&ru) - ru_cpu_us(&m->ru0);
    m->oublock += (uint64_t)(ru.ru_oublock - m->ru0.ru_oublock);
    m->faults += (uint64_t)(ru.ru_minflt - m->ru0.ru_minflt) +
                 (uint64_t)(ru.ru_majflt - m->ru0.ru_majflt);
    if (opt.detail || opt.device) {
        devio_settle(&dev);
        m->dev += devio_written(&dev) - m->dev0;
    }
    m->on = false;
}

static void
meter_add_child(meter *m, const child_counts *c)
{
    m->bytes += c->bytes;
    m->cpu_us += c->cpu_us;
    m->oublock += c->oublock;
}

/* The row's per-message figures (and, with --detail, the counts behind
 * them on stderr). */
static void
meter_row(meter *m, row *r)
{
    meter_stop(m);
    if (!r->msgs)
        return;
    double n = (double)r->msgs;
    r->counted = true;
    r->flushes_pm = (double)synccount_flushes(&m->sc) / n;
    r->written_pm = (double)m->bytes / n;
    r->cpu_us_pm = (double)m->cpu_us / n;
    r->device_pm = (double)m->dev / n;
    if (opt.detail)
        fprintf(stderr,
                "  counts %s %s %s %zu B x%d/%d: msgs %llu fsync %llu "
                "fdatasync %llu msync(MS_SYNC) %llu msync(async) %llu "
                "sync_file_range %llu syncfs %llu; write_bytes %llu, "
                "ru_oublock*512 %llu, device %llu (%.0f/msg); cpu %llu us; "
                "page faults %llu (%.2f/msg)\n",
                r->system, r->workload, r->durability, r->size, r->threads,
                r->processes, (unsigned long long)r->msgs,
                (unsigned long long)m->sc.fsync,
                (unsigned long long)m->sc.fdatasync,
                (unsigned long long)m->sc.msync_sync,
                (unsigned long long)m->sc.msync_async,
                (unsigned long long)m->sc.sync_file_range,
                (unsigned long long)m->sc.syncfs,
                (unsigned long long)m->bytes,
                (unsigned long long)m->oublock * 512,
                (unsigned long long)m->dev, (double)m->dev / n,
                (unsigned long long)m->cpu_us,
                (unsigned long long)m->faults, (double)m->faults / n);
}

/* --detail, at exit: the process's flushes from start to end (set-ups
 * and fills included; forked workers too), to hold against
 * `strace -f -c -e trace=fsync,fdatasync,msync`. */
static void
detail_totals(void)
{
    synccount sc;
    if (!opt.detail)
        return;
    synccount_read(&sc);
    fprintf(stderr,
            "  counts, whole run: fsync %llu fdatasync %llu msync %llu "
            "(MS_SYNC %llu) sync_file_range %llu syncfs %llu\n",
            (unsigned long long)sc.fsync, (unsigned long long)sc.fdatasync,
            (unsigned long long)(sc.msync_sync + sc.msync_async),
            (unsigned long long)sc.msync_sync,
            (unsigned long long)sc.sync_file_range,
            (unsigned long long)sc.syncfs);
}

/* In a forked worker: its figures from the start signal (child_begin) to
 * its exit (child_report, through fd). */
static procio child_io0;
static struct rusage child_ru0;

static void
child_begin(void)
{
    procio_read(0, &child_io0);
    getrusage(RUSAGE_SELF, &child_ru0);
}

static void
child_report(int fd)
{
    procio io;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    procio_read(0, &io);
    child_counts c = {io.write_bytes - child_io0.write_bytes,
                      ru_cpu_us(&ru) - ru_cpu_us(&child_ru0),
                      (uint64_t)(ru.ru_oublock - child_ru0.ru_oublock)};
    if (write(fd, &c, sizeof c) != (ssize_t)sizeof c)
        _exit(4);
}

/* The bodies of one row: at most this many bytes of them are sent (or
 * queued at once), so that large bodies stay within memory and disk. */
#define ROW_BYTES (256ull << 20)

static uint64_t
cap_bytes(uint64_t n, size_t size, uint64_t least)
{
    uint64_t c = ROW_BYTES / (size ? size : 1);
    if (c < least)
        c = least;
    return n < c ? n : c;
}

/* A batch of sends holds at most 1 MiB of bodies (SQS's limit, lmq's). */
static size_t
fit_batch(size_t batch, size_t size)
{
    size_t per = size ? 1048576 / size : batch;
    per = per < 1 ? 1 : per;
    return batch < per ? batch : per;
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
    batch = fit_batch(batch, size);
    body_max = size;
    fresh_home();
    lmq_env *env = open_env(d);
    lmq_queue *q = open_queue(env, true);
    char *body = make_body(size);
    struct sender s[8];
    pthread_t th[8];
    uint64_t cap = cap_bytes(size >= 65536 ? 4000 : 2000000, size, 64);
    meter m = {0};
    meter_start(&m);
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
             -1, total, 0, false, 0, 0, 0, 0};
    r.msgs_per_sec = (double)total / el;
    lat_done(&all, &r);
    /* closing is part of the work: a periodic home flushes there */
    lmq_queue_close(q);
    lmq_env_close(env);
    meter_row(&m, &r);
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

/* W3q1k/1M/10M receive rates (1k, 1M, 10M queued), lmq and the ceiling,
 * for the ratios printed at the end. */
static double backlog_rate[2][3];

static int
backlog_index(uint64_t queued)
{
    return queued >= 10000000 ? 2 : queued >= 1000000 ? 1 : 0;
}

/* Add n messages to the home and leave it settled: filled in the fastest
 * mode (with the map mode the measured mode creates a home with: a `full`
 * home is a pwrite home), flushed and closed. A timed receive then starts,
 * after a fresh open, with no dirty pages to write back, no log to replay
 * or checkpoint, and nothing of the fill's in its process: the state the
 * ceiling's fill leaves too (ceiling_recv()). */
static void
fill_settled(lmq_durability d, bool create, const char *body, size_t size,
             uint64_t n)
{
    lmq_env *env = open_env_map(LMQ_DURABILITY_NONE,
                                opt.map != LMQ_MAP_AUTO ? opt.map
                                : d == LMQ_DURABILITY_FULL ? LMQ_MAP_PWRITE
                                                           : LMQ_MAP_WRITABLE);
    lmq_queue *q = open_queue(env, create);
    prefill(q, body, size, n);
    CK(lmq_env_sync(env));
    lmq_queue_close(q);
    lmq_env_close(env);
}

static void
bench_recv(lmq_durability d, const char *w, size_t size, size_t batch,
           uint64_t queued, uint64_t todo)
{
    if (!wanted(w))
        return;
    body_max = size;
    fresh_home();
    char *body = make_body(size);
    fill_settled(d, true, body, size, queued);
    double per_msg = used_bytes() / (double)queued;

    lmq_env *env = open_env(d);
    lmq_queue *q = open_queue(env, false);
    lat l = {0};
    meter m = {0};
    long akb = 0;
    /* A small backlog is refilled (untimed, settled) until todo messages
     * were received, so both sizes of backlog run the same number of ops.
     * Counted: the receives and the close after them. */
    double el = 0, deadline = now_s() + opt.secs;
    uint64_t got = 0;
    for (;;) {
        meter_start(&m);
        double t0 = now_s();
        uint64_t want = todo - got < queued ? todo - got : queued;
        got += recv_delete_loop(q, batch, deadline, want, &l, 0);
        el += now_s() - t0;
        bool last = got >= todo || now_s() > deadline;
        if (last && strncmp(w, "W3q", 3) == 0)
            akb = anon_kb();
        lmq_queue_close(q);
        lmq_env_close(env);
        meter_stop(&m);
        if (last)
            break;
        fill_settled(d, false, body, size, queued);
        env = open_env(d);
        q = open_queue(env, false);
    }
    row r = {SYS, w, mode_name(d), size, batch, 1, 1, queued, 0, 0, 0,
             -1, got, 0, false, 0, 0, 0, 0};
    r.msgs_per_sec = (double)got / el;
    lat_done(&l, &r);
    meter_row(&m, &r);
    if (queued >= 1000000)
        r.bytes_per_msg = per_msg;
    r.anon_kb = akb;
    if (strncmp(w, "W3q", 3) == 0)
        backlog_rate[0][backlog_index(queued)] = r.msgs_per_sec;
    free(body);
    emit(&r);
    rm_rf(home);
}

/* W1t / W3t, by name only (--only W1t,W3t): a trickle. One send (W1t) or
 * one receive + delete (W3t) followed by lmq_env_sync(), what a `periodic`
 * home's flusher does each second when one message a second comes and
 * goes: the edge device's wear at low rates (bench/wear --only W1t,W3t
 * --modes periodic --size 100). Into a settled home of 100,000 queued
 * messages, once in each map mode ("lmq": the mode's default, writable
 * for relaxed modes; "lmq-pwrite"); 200 messages, each written back. */
static void
bench_trickle(lmq_durability d, const char *w, size_t size)
{
    const struct {
        const char *sys;
        lmq_map_mode mm;
    } maps[] = {{sealing ? "lmq-sealed" : "lmq", LMQ_MAP_AUTO},
                 {"lmq-pwrite", LMQ_MAP_PWRITE}};
    if (!opt.only || !wanted(w))
        return;
    bool send = strcmp(w, "W1t") == 0;
    body_max = size;
    char *body = make_body(size);
    lmq_send_entry e;
    lmq_send_result res;
    lmq_send_entry_init(&e);
    e.body = body;
    e.body_len = size;
    for (size_t i = 0; i < 2; i++) {
        lmq_map_mode mm = maps[i].mm;
        if (mm == LMQ_MAP_AUTO)
            mm = d == LMQ_DURABILITY_FULL ? LMQ_MAP_PWRITE : LMQ_MAP_WRITABLE;
        fresh_home();
        lmq_env *env = open_env_map(LMQ_DURABILITY_NONE, mm);
        lmq_queue *q = open_queue(env, true);
        prefill(q, body, size, 100000);
        CK(lmq_env_sync(env));
        lmq_queue_close(q);
        lmq_env_close(env);
        env = open_env_map(d, mm);
        q = open_queue(env, false);
        lat l = {0};
        meter m = {0};
        meter_start(&m);
        double t0 = now_s();
        uint64_t done = 0;
        for (; done < 200; done++) {
            uint64_t a = now_ns();
            if (send) {
                CK(lmq_send(q, &e, &res));
            } else if (recv_delete_loop(q, 1, t0 + 60, 1, NULL, 0) != 1) {
                break;
            }
            CK(lmq_env_sync(env));
            lat_add(&l, (double)(now_ns() - a) / 1e3);
        }
        double el = now_s() - t0;
        lmq_queue_close(q);
        lmq_env_close(env);
        row r = {maps[i].sys, w, mode_name(d), size, 1, 1, 1, 100000, 0, 0, 0,
                 -1, done, 0, false, 0, 0, 0, 0};
        r.msgs_per_sec = (double)done / el;
        lat_done(&l, &r);
        meter_row(&m, &r);
        emit(&r);
        rm_rf(home);
    }
    free(body);
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
    body_max = 100;
    fresh_home();
    char *body = make_body(100);
    fill_settled(d, true, body, 100, queued);

    lmq_env *env = open_env(d);
    lmq_queue *q;
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
    meter m = {0};
    meter_start(&m);
    double t0 = now_s();
    CK(lmq_consumer_start(c));
    (void)lmq_consumer_join(c);
    double el = now_s() - t0;
    lmq_consumer_close(c);
    meter_stop(&m);
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
             0, -1, done, 0, false, 0, 0, 0, 0};
    r.msgs_per_sec = (double)done / el;
    lmq_queue_close(q);
    meter_start(&m);
    lmq_env_close(env);
    meter_row(&m, &r);
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

/* The workers' side of the pipes of one W4 run: a byte on ready once a
 * worker has opened the home (so the parent's counts start after every
 * open), and the worker's own counts on stats before it exits. */
static int child_ready = -1, child_stats = -1;

/* In a worker: say it is ready, wait for the start signal, count from
 * there. */
static void
child_wait_go(int go)
{
    char c = 'r';
    if (write(child_ready, &c, 1) != 1 || read(go, &c, 1) != 1)
        _exit(3);
    child_begin();
}

/* Producer: sends `count` messages whose body starts with the send time
 * (CLOCK_MONOTONIC ns, one clock for all processes); paced when rate > 0. */
static void
producer(lmq_durability d, size_t size, uint64_t count, double rate, int go)
{
    lmq_env *env = open_env(d);
    lmq_queue *q = open_queue(env, false);
    char *body = make_body(size < 24 ? 24 : size);
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = body;
    e.body_len = size;
    child_wait_go(go);
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
    child_report(child_stats);
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
    lmq_recv_opts_init(&o);
    o.max_messages = (int)batch;
    o.wait_seconds = 1;
    child_wait_go(go);
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
    child_report(child_stats);
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
    lmq_consumer_opts_init(&co);
    co.handler = w4c_handler;
    co.batch_size = 10;
    co.batching_window_ms = window_ms;
    co.wait_seconds = 1;
    co.max_messages = count;
    CK(lmq_consumer_open(env, "bench", &co, &c));
    child_wait_go(go);
    cr.first = now_s();
    CK(lmq_consumer_start(c));
    (void)lmq_consumer_join(c);
    cr.last = now_s();
    lmq_consumer_close(c);
    cr.got = __atomic_load_n(&shm->got, __ATOMIC_SEQ_CST);
    lmq_env_close(env);
    child_report(child_stats);
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
    body_max = size;
    count = cap_bytes(count, size, 200);
    fresh_home();
    lmq_env *env = open_env(d);
    lmq_queue_close(open_queue(env, true));
    lmq_env_close(env);
    int go[2], out[2], ready[2], stats[2];
    if (pipe(go) || pipe(out) || pipe(ready) || pipe(stats))
        abort();
    child_ready = ready[1];
    child_stats = stats[1];
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
    close(ready[1]);
    close(stats[1]);
    /* Wait until every child has opened its env, then start them
     * together; the counts start here. */
    char rbuf[16];
    if (!read_all(ready[0], rbuf, (size_t)np))
        abort();
    close(ready[0]);
    meter m = {0};
    meter_start(&m);
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
    /* Every worker's counts arrive once its work (and its close) is done;
     * the parent's span ends before it reaps them, since the kernel adds
     * a reaped child's bytes to the parent's /proc/self/io. */
    for (int i = 0; i < np; i++) {
        child_counts cc;
        if (!read_all(stats[0], &cc, sizeof cc))
            break;
        if (opt.detail)
            fprintf(stderr, "  a worker: write_bytes %llu, ru_oublock*512 "
                            "%llu, cpu %llu us\n",
                    (unsigned long long)cc.bytes,
                    (unsigned long long)cc.oublock * 512,
                    (unsigned long long)cc.cpu_us);
        meter_add_child(&m, &cc);
    }
    meter_stop(&m);
    close(stats[0]);
    for (int i = 0; i < np; i++)
        waitpid(pids[i], NULL, 0);
    close(go[0]);
    close(go[1]);
    close(out[0]);
    row r = {SYS, w, mode_name(d), size, batch, 1, nprod + ncons, 0, 0,
             0, 0, -1, got, 0, false, 0, 0, 0, 0};
    if (shm->done_at > 0)
        last = shm->done_at;
    r.msgs_per_sec = (double)got / (last - t0);
    lat_done(&l, &r);
    meter_row(&m, &r);
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
        /* Hand the body over as a receive does: a copy the caller owns.
         * The barrier keeps the compiler from dropping malloc, copy and
         * free as dead code, which GCC -O2 did: until then the ceiling
         * never read a body, and lmq's receives of large bodies looked
         * 2-5x slower than LMDB's (bench/RESULTS.md, "Size sweep"). */
        char *copy = malloc(body_v.mv_size);
        if (!copy)
            abort();
        memcpy(copy, body_v.mv_data, body_v.mv_size);
        __asm__ volatile("" : : "r"(copy) : "memory");
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

/* Sync r's home and open it again (a fill's settled state: nothing dirty,
 * a fresh map), with the same flags. */
static void
raw_settle(raw *r, unsigned flags, uint64_t map_size)
{
    MCK(mdb_env_sync(r->env, 1));
    if (r->pin) {
        mdb_txn_abort(r->pin);
        r->pin = NULL;
    }
    mdb_env_close(r->env);
    MCK(mdb_env_create(&r->env));
    mdb_env_set_maxdbs(r->env, 4);
    MCK(mdb_env_set_mapsize(r->env, (size_t)map_size));
    MCK(mdb_env_open(r->env, home, flags | MDB_NOTLS, 0600));
    MDB_txn *t;
    MCK(mdb_txn_begin(r->env, NULL, MDB_RDONLY, &t));
    MCK(mdb_dbi_open(t, "msg", 0, &r->msg));
    MCK(mdb_dbi_open(t, "vis", 0, &r->vis));
    MCK(mdb_txn_commit(t));
}

/* The ceiling of a send row: puts of `batch` messages per transaction. */
static void
ceiling_send(const char *sys, unsigned flags, lmq_durability d, const char *w,
             size_t size, size_t batch)
{
    if (!wanted(w))
        return;
    batch = fit_batch(batch, size);
    raw r;
    raw_open(&r, flags, 1ull << 30);
    char *body = make_body(size);
    uint64_t seq = 0, done = 0, cap = cap_bytes(3000000, size, 64);
    lat l = {0};
    meter m = {0};
    meter_start(&m);
    double t0 = now_s(), deadline = t0 + opt.secs;
    while (done < cap) {
        uint64_t a = now_ns();
        raw_send(&r, &seq, body, size, batch);
        lat_add(&l, (double)(now_ns() - a) / 1e3);
        done += batch;
        if ((done & 7) == 0 && now_s() > deadline)
            break;
    }
    double el = now_s() - t0;
    row rr = {sys, w, mode_name(d), size, batch, 1, 1, 0, 0, 0, 0,
              -1, done, 0, false, 0, 0, 0, 0};
    rr.msgs_per_sec = (double)done / el;
    lat_done(&l, &rr);
    free(body);
    unsigned ckpts = r.ckpts;
    double ckpt_s = r.ckpt_s;
    if (r.pin)
        mdb_txn_abort(r.pin);
    r.pin = NULL;
    mdb_env_close(r.env); /* counted, as lmq's close is */
    meter_row(&m, &rr);
    if (r.logfd >= 0)
        close(r.logfd);
    rm_rf(home);
    emit(&rr);
    if (ckpts)
        fprintf(stderr, "  %s %s: %u checkpoints, %.0f %% of the time\n",
                sys, w, ckpts, 100 * ckpt_s / el);
}

/* The ceiling of a receive row: receive `batch` + delete them, `queued`
 * waiting, until `todo` were received or the budget is spent. Every fill
 * (and refill of a small backlog, untimed) ends settled, as lmq's does
 * (fill_settled()): synced, closed, opened again. */
static void
ceiling_recv(const char *sys, unsigned flags, lmq_durability d, const char *w,
             size_t size, size_t batch, uint64_t queued, uint64_t todo,
             uint64_t map_size)
{
    if (!wanted(w))
        return;
    raw r;
    raw_open(&r, flags, map_size);
    char *body = make_body(size);
    /* fill transactions of up to 100 messages and 4 MiB */
    size_t per = size ? (4u << 20) / size : 100;
    per = per < 1 ? 1 : per > 100 ? 100 : per;
    uint64_t seq = 0, got = 0;
    lat l = {0};
    meter m = {0};
    double el = 0, deadline = 0;
    for (;;) {
        for (uint64_t k = 0; k < queued; k += per)
            raw_send(&r, &seq, body, size,
                     queued - k < per ? (size_t)(queued - k) : per);
        raw_settle(&r, flags, map_size);
        /* as lmq's: from the end of the first fill, refills included */
        if (deadline == 0)
            deadline = now_s() + opt.secs;
        uint64_t want = todo - got < queued ? todo - got : queued;
        meter_start(&m);
        double t0 = now_s();
        for (uint64_t taken = 0; taken < want;) {
            uint64_t a = now_ns();
            size_t n = raw_recv_delete(&r, batch);
            if (n == 0)
                break;
            lat_add(&l, (double)(now_ns() - a) / 1e3);
            taken += n;
            got += n;
            if ((got & 7) == 0 && now_s() > deadline)
                break;
        }
        el += now_s() - t0;
        meter_stop(&m);
        if (got >= todo || now_s() > deadline)
            break;
        /* start the next round from an empty queue of `queued` */
        while (raw_recv_delete(&r, 10) > 0)
            ;
    }
    row rr = {sys, w, mode_name(d), size, batch, 1, 1, queued, 0, 0, 0, -1,
              got, 0, false, 0, 0, 0, 0};
    rr.msgs_per_sec = (double)got / el;
    lat_done(&l, &rr);
    free(body);
    unsigned ckpts = r.ckpts;
    double ckpt_s = r.ckpt_s;
    meter_start(&m);
    if (r.pin)
        mdb_txn_abort(r.pin);
    r.pin = NULL;
    mdb_env_close(r.env);
    meter_row(&m, &rr);
    if (r.logfd >= 0)
        close(r.logfd);
    rm_rf(home);
    if (strncmp(w, "W3q", 3) == 0)
        backlog_rate[1][backlog_index(queued)] = rr.msgs_per_sec;
    emit(&rr);
    if (ckpts)
        fprintf(stderr, "  %s %s: %u checkpoints, %.0f %% of the time\n",
                sys, w, ckpts, 100 * ckpt_s / el);
}

/* The default plan of a receive row: how many are received (todo) and
 * how many wait at once (queued), for lmq and the ceiling alike. */
static uint64_t
recv_todo(lmq_durability d)
{
    return d == LMQ_DURABILITY_FULL ? 3000 : (opt.quick ? 60000 : 300000);
}

/* The ceilings: at 100 B (the default), else at every --size. */
static void
ceilings(lmq_durability d, size_t size)
{
    uint64_t fill = recv_todo(d), q = cap_bytes(fill, size, 50);
    uint64_t map = 1ull << 30;
    /* Durable: LMDB's default synchronous commit. Relaxed: the fastest
     * flags LMDB has, and lmq's own relaxed flags. */
    if (d == LMQ_DURABILITY_FULL) {
        ceiling_send("lmdb-ceiling", 0, d, "W1", size, 1);
        ceiling_send("lmdb-ceiling", 0, d, "W1b10", size, 10);
        ceiling_recv("lmdb-ceiling", 0, d, "W3", size, 1, q, fill, map);
        ceiling_recv("lmdb-ceiling", 0, d, "W3b10", size, 10, q, fill, map);
        return;
    }
    unsigned best = MDB_NOSYNC | MDB_WRITEMAP, same = MDB_NOSYNC;
    ceiling_send("lmdb-ceiling", best, d, "W1", size, 1);
    ceiling_send("lmdb-ceiling", best, d, "W1b10", size, 10);
    ceiling_recv("lmdb-ceiling", best, d, "W3", size, 1, q, fill, map);
    ceiling_recv("lmdb-ceiling", best, d, "W3b10", size, 10, q, fill, map);
    ceiling_send("lmdb-nosync", same, d, "W1", size, 1);
    ceiling_recv("lmdb-nosync", same, d, "W3", size, 1, q, fill, map);
}

/* The flag survey's and the log probe's loops (100 B; their own fills). */
static void
ceiling(const char *sys, unsigned flags, lmq_durability d, const char *w,
        size_t size, size_t batch, bool recv)
{
    uint64_t fill = d == LMQ_DURABILITY_FULL ? 20000 : 300000;
    if (opt.quick)
        fill /= 2;
    if (recv)
        ceiling_recv(sys, flags, d, w, size, batch, fill, fill, 1ull << 30);
    else
        ceiling_send(sys, flags, d, w, size, batch);
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

/* --size 100,4k,1M: body sizes (1 B to 1 MiB, lmq's largest message). */
static bool
parse_sizes(const char *arg)
{
    const char *p = arg;
    opt.nsizes = 0;
    while (*p) {
        char *e;
        errno = 0;
        unsigned long long v = strtoull(p, &e, 10);
        if (e == p || errno)
            return false;
        if (*e == 'k' || *e == 'K')
            v <<= 10, e++;
        else if (*e == 'M' || *e == 'm')
            v <<= 20, e++;
        if ((*e && *e != ',') || v < 1 || v > 1048576 ||
            opt.nsizes == (int)(sizeof opt.sizes / sizeof opt.sizes[0]))
            return false;
        opt.sizes[opt.nsizes++] = (size_t)v;
        p = *e ? e + 1 : e;
    }
    return opt.nsizes > 0;
}

static void
usage(void)
{
    printf("usage: lmq-bench [--quick|--long] [--json] [--dir DIR]\n"
           "                 [--only W1,W3b10,...] [--modes full,periodic,"
           "none]\n"
           "                 [--secs S] [--size N[,N...]] [--detail]\n"
           "                 [--device] [--map-mode auto|pwrite|writable]\n"
           "                 [--flags] [--log-probe] [--seal]\n"
           "Runs the lmq workloads of bench/RESULTS.md next to a raw LMDB\n"
           "ceiling. --quick finishes in under a minute; --long adds 10M\n"
           "queued messages. --flags measures LMDB's sync flags instead;\n"
           "--log-probe the durable loops with a log in front of LMDB.\n"
           "--size: bodies of these sizes (bytes; k, M: KiB, MiB; up to\n"
           "1 MiB) for every workload that takes a body, lmq and the ceiling\n"
           "alike; without it the default set (100 B; W1 and W3 also 4 KiB\n"
           "and 256 KiB). Every row counts flushes, bytes written and CPU\n"
           "per message; --detail prints the counts behind them, and the\n"
           "page faults per message (stderr). W1t and W3t (by --only only):\n"
           "a trickle, each message followed by a flush, in both map modes.\n"
           "--device: DIR is on a file system of its own (bench/wear mounts\n"
           "one on a loop device): each row also reports the bytes its\n"
           "device wrote per message, journal included, after writing back\n"
           "what the row left dirty (the edge figure: wear).\n"
           "--map-mode pwrite|writable: every lmq home in that map mode\n"
           "(rows lmq-pwrite, lmq-writable); default: the mode's own.\n"
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
        {"size", required_argument, NULL, 'z'},
        {"detail", no_argument, NULL, 'D'},
        {"device", no_argument, NULL, 'V'},
        {"map-mode", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool survey = false, probe = false;
    int c;
    opt.secs = -1;
    while ((c = getopt_long(argc, argv, "qLjd:o:m:s:fghSz:DVM:", lo, NULL)) !=
           -1) {
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
        case 'D': opt.detail = true; break;
        case 'V': opt.device = true; break;
        case 'M':
            if (strcmp(optarg, "auto") == 0)
                opt.map = LMQ_MAP_AUTO;
            else if (strcmp(optarg, "pwrite") == 0)
                opt.map = LMQ_MAP_PWRITE;
            else if (strcmp(optarg, "writable") == 0)
                opt.map = LMQ_MAP_WRITABLE;
            else {
                fprintf(stderr, "lmq-bench: --map-mode: auto, pwrite or "
                                "writable\n");
                return 2;
            }
            break;
        case 'z':
            if (!parse_sizes(optarg)) {
                fprintf(stderr, "lmq-bench: --size: sizes from 1 to 1048576 "
                                "bytes (k, M: KiB, MiB), comma-separated\n");
                return 2;
            }
            break;
        case 'h': usage(); return 0;
        default: usage(); return 2;
        }
    }
    if (opt.secs < 0)
        opt.secs = opt.quick ? 0.25 : 2.0;
    /* Homes live in a directory of our own, made here and removed at the
     * end: inside --dir (which is left as it was), else inside $TMPDIR. */
    static char base[512];
    const char *t = getenv("TMPDIR");
    if (opt.base)
        mkdir(opt.base, 0700);
    snprintf(base, sizeof base, "%s/lmq-bench.XXXXXX",
             opt.base ? opt.base : t && *t ? t : "/tmp");
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    opt.base = base;
    signal(SIGPIPE, SIG_IGN);
    atexit(detail_totals);
    devio_open(&dev, opt.base, opt.device);

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
        uint64_t fill = recv_todo(d);
        uint64_t w4 = durable ? w4n / 4 : w4n * 4;
        uint64_t w4x4 = durable ? w4n / 2 : w4n * 4;
        uint64_t w4p = (uint64_t)(500 * (opt.quick ? 1 : 5));
        bench_trickle(d, "W1t", opt.nsizes ? opt.sizes[0] : 100);
        bench_trickle(d, "W3t", opt.nsizes ? opt.sizes[0] : 100);
        if (opt.nsizes == 0) {
            ceilings(d, 100);
            bench_send(d, "W1", 100, 1, 1);
            bench_send(d, "W1b10", 100, 10, 1);
            bench_send(d, "W1", 100, 1, 4);
            bench_send(d, "W1", 100, 1, 8);
            bench_send(d, "W1", 4096, 1, 1);
            bench_send(d, "W1", 262144, 1, 1);
            bench_recv(d, "W3", 100, 1, fill, fill);
            bench_recv(d, "W3b10", 100, 10, fill, fill);
            bench_recv(d, "W3", 4096, 1, fill / 4, fill);
            bench_recv(d, "W3", 262144, 1, 200, fill);
            bench_consumer(d, "W3c", durable ? 20000 : fill, 1);
            bench_procs(d, "W4", 100, 1, 1, w4, 0, 10, -1);
            bench_procs(d, "W4c", 100, 1, 1, w4, 0, 10, W4C_WINDOW_MS);
            bench_procs(d, "W4p", 100, 1, 1, w4p, 500, 1, -1);
            bench_procs(d, "W4x4", 100, 4, 4, w4x4, 0, 10, -1);
            continue;
        }
        for (int si = 0; si < opt.nsizes; si++) {
            size_t z = opt.sizes[si];
            uint64_t q = cap_bytes(fill, z, 50);
            ceilings(d, z);
            bench_send(d, "W1", z, 1, 1);
            bench_send(d, "W1b10", z, 10, 1);
            bench_send(d, "W1", z, 1, 4);
            bench_send(d, "W1", z, 1, 8);
            bench_recv(d, "W3", z, 1, q, fill);
            bench_recv(d, "W3b10", z, 10, q, fill);
            if (z == 100) /* the consumer runtime row is at 100 B only */
                bench_consumer(d, "W3c", durable ? 20000 : fill, 1);
            bench_procs(d, "W4", z, 1, 1, w4, 0, 10, -1);
            bench_procs(d, "W4c", z, 1, 1, w4, 0, 10, W4C_WINDOW_MS);
            bench_procs(d, "W4p", z, 1, 1, w4p, 500, 1, -1);
            bench_procs(d, "W4x4", z, 4, 4, w4x4, 0, 10, -1);
        }
    }
    /* Receive throughput against the backlog: the same receive work with
     * 1k, 1M (and, with --long, 10M) messages queued, lmq and raw LMDB
     * (fastest flags) alternating, each from a settled fill. */
    if (mode_on(LMQ_DURABILITY_NONE)) {
        uint64_t todo = opt.quick ? 20000 : 100000;
        static const struct {
            const char *w;
            uint64_t queued;
        } bl[] = {{"W3q1k", 1000}, {"W3q1M", 1000000}, {"W3q10M", 10000000}};
        for (int i = 0; i < 3; i++) {
            if (i == 2 && !opt.longrun)
                break;
            bench_recv(LMQ_DURABILITY_NONE, bl[i].w, 100, 10, bl[i].queued,
                       todo);
            ceiling_recv("lmdb-ceiling", MDB_NOSYNC | MDB_WRITEMAP,
                         LMQ_DURABILITY_NONE, bl[i].w, 100, 10, bl[i].queued,
                         todo, 16ull << 30);
        }
        /* what a deep backlog keeps of the 1k rate, side by side */
        for (int i = 1; i < 3; i++)
            if (backlog_rate[0][0] > 0 && backlog_rate[0][i] > 0 &&
                backlog_rate[1][0] > 0 && backlog_rate[1][i] > 0)
                fprintf(opt.json ? stderr : stdout,
                        "%s/W3q1k receive rate: lmq %.2fx, lmdb-ceiling "
                        "%.2fx\n",
                        bl[i].w, backlog_rate[0][i] / backlog_rate[0][0],
                        backlog_rate[1][i] / backlog_rate[1][0]);
    }
    rm_rf(opt.base);
    return 0;
}
