/*
 * torture.c: the kill storm of issue 27.
 *
 *   torture [-k KILLS] [-s SEED] [-m pwrite|writable] [-t STUCK_S]
 *           [-i MIN_MS] [-j MAX_MS] [-d MIN_STORM_MS] [-X SABOTAGE]
 *           [-L LMQD -B LMQ] DIR
 *
 * DIR must be an empty directory. The supervisor creates DIR/home with three
 * queues (standard "std", FIFO "q.fifo" and "dlq", the dead-letter queue of
 * "std") and forks the workers of the table below. Each worker opens its
 * own env after fork, in the durability mode of its row, and logs to
 * DIR/w<N> only what it was told was acknowledged, one write() per call:
 *
 *   S q body - msgid ns w inc    a send (single or batch) returned success
 *   R q body rc msgid ns w inc   a receive returned the message (rc: its
 *                                receive count)
 *   D q body rc msgid ns w inc   a delete of that delivery removed it
 *   H q body rc msgid ns w inc   the consumer runtime's handler got it
 *   T d task st - ns w inc       the mover took over a running move task
 *
 * The supervisor SIGKILLs a random worker every 20-120 ms (-i, -j change
 * that) and restarts it, until KILLS kills are spent. Then producers and
 * the mover stop, the consumers drain the queues (deadline 30 s) and stop,
 * the supervisor moves the home's test clock an hour on (every delivery
 * becomes visible), reads the counters, drains what is left and checks:
 *
 *  - lost: every acknowledged send was deleted (D), handled by the runtime
 *    (H), is still in a queue, or was received by an incarnation that was
 *    killed afterwards (a delete that committed before its log line: "in
 *    doubt", counted and reported);
 *  - resurrected: no delivery of a message after an acknowledged delete
 *    (a receive count above the deleted delivery's, or still in a queue);
 *  - duplicated: each body has one message id per queue (FIFO sends that a
 *    restarted producer repeats must be deduplicated; a move task must not
 *    copy a message twice);
 *  - FIFO order: per message group, first deliveries in send order;
 *  - counters: after settling, ApproximateNumberOfMessages and the metrics'
 *    visible + not visible + delayed equal what the drain finds; the
 *    metrics' sent total equals the distinct messages ever seen in the
 *    queue, and sent - deleted equals what is left;
 *  - stuck: a worker whose progress counter has not moved for STUCK_S
 *    seconds (default 20) fails the run, as does any worker that exits
 *    with an error.
 *
 * With -L LMQD -B LMQ (the built daemon/lmqd and tools/lmq), lmqd and the
 * bridge join the storm. The supervisor also creates DIR/remote, a second
 * home (queues "rout", "rout.fifo", "rin"), and adds the rows of DW below:
 * three lmqd processes serving DIR/home, one per durability mode lmqd
 * offers (full, periodic, none), a fourth serving DIR/remote, each on a
 * loopback port the supervisor picked; the bridge (`lmq bridge`) with a
 * forward route "out" -> "rout", a FIFO forward route "out.fifo" ->
 * "rout.fifo" and a pull route "rin" -> "in"; and HTTP clients (libcurl,
 * AWS JSON 1.0) that send (single and batch), receive, delete (single and
 * batch) and change visibility through the lmqds, the library workers
 * running beside them on the same home. Half the kills then hit an lmqd or
 * the bridge. A request whose connection died or timed out has an unknown
 * outcome: a send is then not logged (a FIFO send is repeated with its
 * deduplication id until answered), a delete is logged as
 *
 *   U q body rc msgid ns w inc   a delete of unknown outcome (in doubt)
 *   C q body rc msgid ns w inc   a ChangeMessageVisibility to 0 answered 200
 *
 * A consumer of queue "lp" (a slow producer) long-polls 5 s, so lmqds are
 * killed while polls are parked; each poll cut that way is counted, and
 * the storm ends with one such kill on purpose (the lmqd of the "lp"
 * consumer, once its poll has waited half a second). At the
 * end the producers stop, the consumers and the bridge drain (the outboxes
 * "out" and "out.fifo" and the remote "rin" must reach zero), the lmqds and
 * the bridge get SIGTERM (each must exit 0), and both homes are drained.
 * Additional checks: every acknowledged forward send is in the remote
 * queue (standard: at least once, duplicates counted; FIFO: exactly once,
 * in group order), every acknowledged remote send was pulled into "in"
 * (duplicates counted), and every FIFO queue's drain is in group order.
 *
 * -X lose|resurrect|dup|order breaks a promise on purpose, in the workers
 * (a delete not logged, a delete logged but not done, a standard send
 * made twice, FIFO groups other than the checker assumes), so that a test
 * can see each check fail. The saboteurs (workers 0 and 6) are never
 * killed in such a run, and -d MS keeps the storm going at least MS.
 * -X unship (with -L only) takes one forwarded message off the remote FIFO
 * queue and leaves one in the outbox "out", once the bridge is stopped.
 *
 * Output: one "torture: ..." summary line; exit 0 when every check held,
 * 1 when one failed (each failure is printed), 2 on a usage or setup error.
 * Environment: LMQ_TORTURE_KILLS, LMQ_TORTURE_SEED default -k and -s.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sys/prctl.h>

#include "lmq.h"
#include "lmq_test.h"
#undef fail /* Check's old macro */

#define VIS_SECONDS 2

enum kind {
    PROD,
    PROD_FIFO,
    MOVER,
    CONS,
    CONS_RT,
    LMQD,   /* an lmqd process (exec): lmqd = its index in ports[] */
    BRIDGE, /* `lmq bridge` (exec) on the local home */
    HPROD,  /* HTTP producers and consumer, through lmqd number lmqd */
    HPROD_FIFO,
    HCONS,
};

struct wdef {
    enum kind kind;
    const char *queue;
    int batch; /* producers: batches of 10; consumers: receive and delete
                  in batches (for CONS, 2: receive batches, single deletes) */
    lmq_durability dur;
    int lmqd; /* LMQD: which one; HTTP workers: the one they talk to */
};

static const struct wdef BW[] = {
    {PROD, "std", 0, LMQ_DURABILITY_FULL, 0},
    {PROD, "std", 1, LMQ_DURABILITY_PERIODIC, 0},
    {PROD_FIFO, "q.fifo", 0, LMQ_DURABILITY_NONE, 0},
    {PROD_FIFO, "q.fifo", 1, LMQ_DURABILITY_FULL, 0},
    {PROD, "dlq", 1, LMQ_DURABILITY_PERIODIC, 0},
    {MOVER, "dlq", 0, LMQ_DURABILITY_NONE, 0},
    {CONS, "std", 0, LMQ_DURABILITY_FULL, 0},
    {CONS, "std", 1, LMQ_DURABILITY_PERIODIC, 0},
    {CONS, "q.fifo", 2, LMQ_DURABILITY_NONE, 0},
    {CONS, "q.fifo", 1, LMQ_DURABILITY_FULL, 0},
    {CONS_RT, "std", 0, LMQ_DURABILITY_NONE, 0},
    {CONS_RT, "q.fifo", 0, LMQ_DURABILITY_PERIODIC, 0},
};

/* The lmqd number of the remote home (the others serve the local one). */
#define REMOTE_LMQD 3
#define NLMQD 4

/* The rows -L adds: lmqd in every durability mode, the bridge, clients. */
static const struct wdef DW[] = {
    {LMQD, NULL, 0, LMQ_DURABILITY_FULL, 0},
    {LMQD, NULL, 0, LMQ_DURABILITY_PERIODIC, 1},
    {LMQD, NULL, 0, LMQ_DURABILITY_NONE, 2},
    {LMQD, NULL, 0, LMQ_DURABILITY_FULL, REMOTE_LMQD},
    {BRIDGE, NULL, 0, LMQ_DURABILITY_FULL, 0},
    {HPROD, "std", 0, 0, 0},
    {HPROD, "std", 1, 0, 1},
    {HPROD_FIFO, "q.fifo", 0, 0, 2},
    {HPROD_FIFO, "q.fifo", 1, 0, 0},
    {HCONS, "std", 0, 0, 1},
    {HCONS, "std", 1, 0, 2},
    {HCONS, "q.fifo", 1, 0, 0},
    {HPROD, "lp", 0, 0, 1},
    {HCONS, "lp", 0, 0, 2},
    {PROD, "out", 1, LMQ_DURABILITY_PERIODIC, 0},
    {PROD_FIFO, "out.fifo", 0, LMQ_DURABILITY_FULL, 0},
    {HPROD, "rin", 1, 0, REMOTE_LMQD},
};

#define MAXW 32
static struct wdef W[MAXW];
static int NW;

/* Queues: the letter in the logs, where, and what the checks allow. */
static const struct qdef {
    const char *name;
    char c;
    int remote; /* in DIR/remote */
    int fifo;
    int dups_ok;        /* copies of one body may exist (counted): the bridge's
                           at-least-once into a standard queue */
    int must_end_empty; /* drained by the bridge: nothing may be left */
} Q[] = {
    {"std", 's', 0, 0, 0, 0},       {"q.fifo", 'f', 0, 1, 0, 0},
    {"dlq", 'd', 0, 0, 0, 0},       {"lp", 'l', 0, 0, 0, 0},
    {"out", 'o', 0, 0, 0, 1},       {"out.fifo", 'p', 0, 1, 0, 1},
    {"in", 'i', 0, 0, 1, 0},        {"rout", 'O', 1, 0, 1, 0},
    {"rout.fifo", 'P', 1, 1, 0, 0}, {"rin", 'I', 1, 0, 0, 1},
};
#define NQ ((int)(sizeof Q / sizeof Q[0]))
#define NQ_BASE 3 /* std, q.fifo, dlq: the queues without -L */

struct shared {
    uint64_t progress[MAXW];
    uint64_t http_unknown;     /* requests whose connection died or timed out */
    uint64_t polls_cut;        /* of them, receives cut while waiting */
    uint64_t lp_polling_since; /* the "lp" consumer's poll was sent (ns) */
    int stop_producers;
    int stop_consumers;
};

static struct shared *sh;
static char dir[512];
static char home[600], rhome[600];
static const char *lmqd_bin, *lmq_bin; /* -L, -B: lmqd and the bridge */
static int daemons;                    /* both given */
static int ports[NLMQD];
static lmq_map_mode map_mode = LMQ_MAP_PWRITE;

static int
qidx(char c)
{
    for (int i = 0; i < NQ; i++)
        if (Q[i].c == c)
            return i;
    return -1;
}

static char
qchar(const char *q)
{
    for (int i = 0; i < NQ; i++)
        if (strcmp(Q[i].name, q) == 0)
            return Q[i].c;
    return '?';
}

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static pid_t super_pid;

/* Progress, for the stuck check. A worker whose supervisor died ends. */
static void
tick(int w)
{
    __atomic_add_fetch(&sh->progress[w], 1, __ATOMIC_RELAXED);
    if (getppid() != super_pid)
        _exit(8);
}

static int
flag(const int *f)
{
    return __atomic_load_n(f, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------------ */
/* Workers                                                                   */
/* ------------------------------------------------------------------------ */

/* Self-test of the checks (-X): break a promise on purpose. */
enum sabotage {
    SAB_NONE,
    SAB_LOSE,
    SAB_RESURRECT,
    SAB_DUP,
    SAB_ORDER,
    SAB_UNSHIP, /* -L: a forwarded message lost, an outbox not drained */
};
static enum sabotage sabotage;
static unsigned sab_n;

static int cur_w, cur_inc, log_fd = -1;
static unsigned rnd;

static void
die(const char *what, int rc)
{
    fprintf(stderr, "torture: worker %d inc %d: %s: %s (%s)\n", cur_w, cur_inc,
            what, lmq_err_name(rc), lmq_errmsg());
    _exit(3);
}

static void
log_write(const char *buf, size_t len)
{
    if (len && write(log_fd, buf, len) != (ssize_t)len) {
        fprintf(stderr, "torture: worker %d: log write failed\n", cur_w);
        _exit(4);
    }
}

/* Append one line to buf (of cap bytes) at *len. */
static void
line(char *buf, size_t cap, size_t *len, char type, const char *q,
     const char *body, unsigned rc, const char *id)
{
    int n = snprintf(buf + *len, cap - *len, "%c %c %s %u %s %llu %d %d\n",
                     type, qchar(q), body, rc, id && *id ? id : "-",
                     (unsigned long long)now_ns(), cur_w, cur_inc);
    if (n < 0 || (size_t)n >= cap - *len)
        die("log line too long", LMQ_EINVAL);
    *len += (size_t)n;
}

static lmq_env *
worker_env(void)
{
    lmq_env_opts o;
    lmq_env *env;
    lmq_env_opts_init(&o);
    o.durability = W[cur_w].dur;
    o.flush_interval_ms = 50;
    o.map_size = 64u << 20;
    o.test_clock = 1;
    int rc = lmq_env_open(home, &o, &env);
    if (rc != 0)
        die("lmq_env_open", rc);
    return env;
}

static lmq_queue *
worker_queue(lmq_env *env, const char *name)
{
    lmq_queue *q;
    int rc = lmq_queue_open(env, name, &q);
    if (rc != 0)
        die("lmq_queue_open", rc);
    return q;
}

/* The next FIFO sequence number: one past the last one logged. A send
 * acknowledged but not logged (killed in between) is sent again with the
 * same deduplication id, and must be dropped as a duplicate. */
static unsigned long
fifo_resume(void)
{
    char path[700], buf[512];
    unsigned long next = 0;
    snprintf(path, sizeof path, "%s/w%d", dir, cur_w);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(buf, sizeof buf, f)) {
        char body[64];
        unsigned w;
        unsigned long seq;
        char qc;
        if (buf[0] == 'S' && sscanf(buf, "S %c %63s", &qc, body) == 2 &&
            qc == qchar(W[cur_w].queue) &&
            sscanf(body, "f%u.%lu", &w, &seq) == 2 && seq + 1 > next)
            next = seq + 1;
    }
    fclose(f);
    return next;
}

/* Where a producer starts: its FIFO resume point (after repeating up to
 * 10 logged sends), and the first sequence number never sent before. */
static unsigned long
producer_start(int fifo, unsigned long *fresh)
{
    unsigned long seq = fifo ? fifo_resume() : 0;
    /* A restarted FIFO producer first repeats up to 10 of its logged sends:
     * inside the deduplication window each must come back a duplicate. */
    *fresh = seq;
    if (fifo && seq > 0) {
        unsigned long back = 1 + rand_r(&rnd) % 10;
        seq = seq > back ? seq - back : 0;
    }
    return seq;
}

struct sendbuf {
    char bodies[10][48], groups[10][32], ids[10][8];
    lmq_send_entry e[10];
};

/* The next n entries of a producer (bodies unique in the run; FIFO ones
 * deterministic, with their body as the deduplication id). */
static void
make_entries(struct sendbuf *b, size_t n, unsigned long *seq, int fifo,
             int batch)
{
    const char *q = W[cur_w].queue;
    for (size_t i = 0; i < n; i++, (*seq)++) {
        lmq_send_entry_init(&b->e[i]);
        if (fifo) {
            snprintf(b->bodies[i], sizeof b->bodies[i], "f%d.%lu", cur_w, *seq);
            snprintf(b->groups[i], sizeof b->groups[i], "g%d.%lu", cur_w,
                     *seq % (sabotage == SAB_ORDER ? 2 : 3));
            b->e[i].group_id = b->groups[i];
            b->e[i].dedup_id = b->bodies[i];
        } else {
            snprintf(b->bodies[i], sizeof b->bodies[i], "%c%d.%d.%lu", qchar(q),
                     cur_w, cur_inc, *seq);
        }
        snprintf(b->ids[i], sizeof b->ids[i], "e%u", (unsigned)(i % 10));
        b->e[i].id = batch ? b->ids[i] : NULL;
        b->e[i].body = b->bodies[i];
    }
}

static void
producer(void)
{
    const struct wdef *d = &W[cur_w];
    lmq_env *env = worker_env();
    lmq_queue *q = worker_queue(env, d->queue);
    int fifo = d->kind == PROD_FIFO;
    unsigned long fresh, seq = producer_start(fifo, &fresh);
    struct sendbuf b;
    char buf[4096];
    lmq_send_result r[10];
    size_t n = d->batch ? 10 : 1;

    while (!flag(&sh->stop_producers)) {
        make_entries(&b, n, &seq, fifo, d->batch);
        lmq_send_entry *e = b.e;
        int rc = d->batch ? lmq_send_batch(q, e, n, r) : lmq_send(q, e, r);
        if (rc != 0)
            die("send", rc);
        if (sabotage == SAB_DUP && !fifo && !d->batch && seq % 50 == 5 &&
            (rc = lmq_send(q, e, NULL)) != 0)
            die("send", rc);
        size_t len = 0;
        for (size_t i = 0; i < n; i++) {
            if (r[i].err != 0)
                die("send_batch entry", r[i].err);
            unsigned long sq;
            unsigned ww;
            if (fifo && sscanf(b.bodies[i], "f%u.%lu", &ww, &sq) == 2 &&
                sq < fresh && !r[i].duplicate) {
                fprintf(stderr,
                        "torture: worker %d: %s sent again and not "
                        "deduplicated\n",
                        cur_w, b.bodies[i]);
                _exit(7);
            }
            line(buf, sizeof buf, &len, 'S', d->queue, b.bodies[i],
                 (unsigned)r[i].duplicate, r[i].message_id);
        }
        log_write(buf, len);
        tick(cur_w);
        usleep(1000 + rand_r(&rnd) % 4000);
    }
    lmq_queue_close(q);
    lmq_env_close(env);
    _exit(0);
}

static char *
queue_arn(lmq_env *env, const char *name)
{
    const char *names[] = {"QueueArn", NULL};
    lmq_map *m;
    int rc = lmq_queue_get_attributes(env, name, names, &m);
    if (rc != 0)
        die("lmq_queue_get_attributes", rc);
    const char *arn = lmq_map_get(m, "QueueArn");
    char *s = arn ? strdup(arn) : NULL;
    lmq_map_free(m);
    if (!s)
        die("no QueueArn", LMQ_EINVAL);
    return s;
}

static int
move_progress(void *arg, uint64_t moved, uint64_t to_move)
{
    (void)arg, (void)moved, (void)to_move;
    tick(cur_w);
    return flag(&sh->stop_producers);
}

/* Moves "dlq" into "std" with message move tasks, again and again. A
 * runner killed mid-task leaves it RUNNING; the next start marks it
 * FAILED (its runner is dead) and moves what is left. */
static void
mover(void)
{
    lmq_env *env = worker_env();
    char *src = queue_arn(env, "dlq"), *dst = queue_arn(env, "std");
    while (!flag(&sh->stop_producers)) {
        char *h = NULL;
        int rc = lmq_move_task_start(env, src, dst, 0, &h);
        if (rc == 0) {
            int st;
            rc = lmq_move_task_run(env, h, move_progress, NULL, &st);
            free(h);
            if (rc != 0 && rc != LMQ_EBUSY)
                die("lmq_move_task_run", rc);
        } else if (rc == LMQ_EINVAL) {
            /* a task is running: its runner was killed (by us) before or
             * while it ran; take it over and finish it */
            lmq_move_task *tasks;
            size_t nt;
            if ((rc = lmq_move_task_list(env, src, 1, &tasks, &nt)) != 0)
                die("lmq_move_task_list", rc);
            if (nt == 1 && tasks[0].status == LMQ_MOVE_RUNNING &&
                tasks[0].task_handle) {
                int st;
                rc = lmq_move_task_run(env, tasks[0].task_handle, move_progress,
                                       NULL, &st);
                if (rc != 0 && rc != LMQ_EBUSY)
                    die("lmq_move_task_run (resumed)", rc);
                char buf[256];
                size_t len = 0;
                line(buf, sizeof buf, &len, 'T', "dlq", "task", (unsigned)st,
                     NULL);
                log_write(buf, len);
            }
            lmq_move_task_list_free(tasks, nt);
        } else {
            die("lmq_move_task_start", rc);
        }
        tick(cur_w);
        usleep(20000 + rand_r(&rnd) % 80000);
    }
    free(src);
    free(dst);
    lmq_env_close(env);
    _exit(0);
}

static void
consumer(void)
{
    const struct wdef *d = &W[cur_w];
    lmq_env *env = worker_env();
    lmq_queue *q = worker_queue(env, d->queue);
    char buf[8192];
    while (!flag(&sh->stop_consumers)) {
        lmq_recv_opts o;
        lmq_msg *m[10];
        size_t n, len = 0;
        lmq_recv_opts_init(&o);
        o.max_messages = d->batch ? 10 : 1;
        o.wait_seconds = 1;
        int rc = lmq_receive(q, &o, m, 10, &n);
        if (rc != 0)
            die("lmq_receive", rc);
        for (size_t i = 0; i < n; i++)
            line(buf, sizeof buf, &len, 'R', d->queue, lmq_msg_body(m[i], NULL),
                 lmq_msg_receive_count(m[i]), lmq_msg_id(m[i]));
        log_write(buf, len);
        if (n && rand_r(&rnd) % 4 == 0)
            usleep(rand_r(&rnd) % 5000); /* widen the window for kills */
        len = 0;
        if (d->batch == 1 && n) {
            lmq_handle_entry he[10];
            lmq_batch_result br[10];
            char ids[10][8];
            for (size_t i = 0; i < n; i++) {
                snprintf(ids[i], sizeof ids[i], "d%u", (unsigned)(i % 10));
                he[i].id = ids[i];
                he[i].receipt = lmq_msg_receipt(m[i]);
                he[i].timeout_seconds = 0;
            }
            rc = lmq_delete_batch(q, he, n, br);
            if (rc != 0)
                die("lmq_delete_batch", rc);
            for (size_t i = 0; i < n; i++) {
                if (br[i].err != 0 && br[i].err != LMQ_EEXPIRED)
                    die("lmq_delete_batch entry", br[i].err);
                if (br[i].err == 0 && br[i].applied)
                    line(buf, sizeof buf, &len, 'D', d->queue,
                         lmq_msg_body(m[i], NULL), lmq_msg_receive_count(m[i]),
                         lmq_msg_id(m[i]));
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                int del = 0;
                sab_n++;
                if (sabotage == SAB_RESURRECT && d->batch == 0 &&
                    sab_n % 10 == 3) {
                    del = 1; /* claim a delete that never happened */
                    rc = 0;
                } else {
                    rc = lmq_delete(q, lmq_msg_receipt(m[i]), &del);
                }
                if (sabotage == SAB_LOSE && d->batch == 0 && sab_n % 10 == 3)
                    del = 0; /* delete without telling */
                if (rc != 0 && rc != LMQ_EEXPIRED)
                    die("lmq_delete", rc);
                if (rc == 0 && del) {
                    len = 0;
                    line(buf, sizeof buf, &len, 'D', d->queue,
                         lmq_msg_body(m[i], NULL), lmq_msg_receive_count(m[i]),
                         lmq_msg_id(m[i]));
                    log_write(buf, len);
                }
                len = 0;
            }
        }
        log_write(buf, len);
        for (size_t i = 0; i < n; i++)
            lmq_msg_free(m[i]);
        tick(cur_w);
    }
    lmq_queue_close(q);
    lmq_env_close(env);
    _exit(0);
}

static int
rt_handler(const lmq_msg *m, void *arg)
{
    char buf[512];
    size_t len = 0;
    (void)arg;
    line(buf, sizeof buf, &len, 'H', W[cur_w].queue, lmq_msg_body(m, NULL),
         lmq_msg_receive_count(m), lmq_msg_id(m));
    log_write(buf, len);
    tick(cur_w);
    return 0;
}

static void
runtime_consumer(void)
{
    const struct wdef *d = &W[cur_w];
    lmq_env *env = worker_env();
    lmq_consumer_opts o;
    lmq_consumer *c;
    lmq_consumer_opts_init(&o);
    o.handler = rt_handler;
    o.batch_size = 10;
    o.concurrency = 2;
    o.wait_seconds = 1;
    o.stop_timeout_ms = 2000;
    int rc = lmq_consumer_open(env, d->queue, &o, &c);
    if (rc != 0)
        die("lmq_consumer_open", rc);
    if ((rc = lmq_consumer_start(c)) != 0)
        die("lmq_consumer_start", rc);
    while (!flag(&sh->stop_consumers)) {
        lmq_consumer_counters k = {.size = sizeof k};
        if ((rc = lmq_consumer_get_counters(c, &k)) != 0)
            die("lmq_consumer_get_counters", rc);
        tick(cur_w);
        usleep(50000);
    }
    lmq_consumer_stop(c);
    rc = lmq_consumer_join(c);
    if (rc != 0)
        die("lmq_consumer_join", rc);
    lmq_consumer_close(c);
    lmq_env_close(env);
    _exit(0);
}

/* ------------------------------------------------------------------------ */
/* lmqd, the bridge and their HTTP clients (-L, -B)                          */
/* ------------------------------------------------------------------------ */

/* HTTP consumers receive with this visibility timeout, and delete only
 * what they received less than DEL_WINDOW_MS ago, with a request timeout
 * of DEL_TIMEOUT_MS: a delete answered 200 committed before the message
 * could be visible again, so it removed that delivery (a 200 for a stale
 * receipt would remove nothing, and look like a resurrection). */
#define HTTP_VIS_S 6
#define DEL_WINDOW_MS 2500
#define DEL_TIMEOUT_MS 3000
#define SEND_TIMEOUT_MS 5000

static CURL *curl;
/* Where sqs_call() notes when its request was sent (the "lp" consumer's
 * polls), or NULL. */
static uint64_t *polling_since;

/* libcurl's trace: the request's body went out (it is lmqd's now). */
static int
on_trace(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
    (void)h, (void)data, (void)size, (void)arg;
    if (type == CURLINFO_DATA_OUT && polling_since)
        __atomic_store_n(polling_since, now_ns(), __ATOMIC_RELAXED);
    return 0;
}

struct answer {
    char *b;
    size_t n;
};

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct answer *a = arg;
    char *nb = realloc(a->b, a->n + sz * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + a->n, p, sz * n);
    a->n += sz * n;
    nb[a->n] = '\0';
    a->b = nb;
    return sz * n;
}

static const char *
queue_url(int lmqd, const char *name)
{
    static char url[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/000000000000/%s",
             ports[lmqd], name);
    return url;
}

/* POST action with req (stolen) to this worker's lmqd as AWS JSON 1.0.
 * Returns the HTTP status, -1 when nothing was sent (connection refused:
 * lmqd is down), or 0 when the outcome is unknown (connection reset or
 * timed out, or a 5xx: the request may have been committed);
 * *out gets the answer of a 200, and *cut whether a connection that was
 * accepted died before its answer (a poll cut by a kill). */
static long
sqs_call(const char *action, json_t *req, long timeout_ms, json_t **out,
         int *cut)
{
    char url[64], target[80];
    struct curl_slist *hl = NULL;
    struct answer a = {NULL, 0};
    long status = 0;
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body)
        die("json_dumps", LMQ_ENOMEM);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ports[W[cur_w].lmqd]);
    snprintf(target, sizeof target, "X-Amz-Target: AmazonSQS.%s", action);
    hl = curl_slist_append(hl, "Content-Type: application/x-amz-json-1.0");
    hl = curl_slist_append(hl, target);
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    /* A connection per request: on a reused connection that dies before
     * the answer, libcurl sends the request again by itself, so a send
     * that a killed lmqd had committed would be committed twice under one
     * answer (a standard queue then holds a duplicate nobody was told of:
     * found by the 1,000-kill storm). */
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
    if (polling_since) {
        curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, on_trace);
        curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
    }
    CURLcode rc = curl_easy_perform(curl);
    if (cut)
        *cut = rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR ||
               rc == CURLE_PARTIAL_FILE;
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    free(body);
    if (status == 200 && out) {
        *out = json_loads(a.b ? a.b : "", 0, NULL);
        if (!*out) {
            fprintf(stderr, "torture: worker %d: %s: 200 without JSON: %s\n",
                    cur_w, action, a.b ? a.b : "");
            _exit(3);
        }
    } else if (status != 200 && status != 0 && status < 500) {
        /* a request of ours refused: a bug on one side or the other */
        fprintf(stderr, "torture: worker %d: %s: HTTP %ld: %s\n", cur_w, action,
                status, a.b ? a.b : "");
        _exit(3);
    }
    free(a.b);
    if (rc == CURLE_COULDNT_CONNECT)
        return -1;
    if (status == 0 || status >= 500)
        __atomic_add_fetch(&sh->http_unknown, 1, __ATOMIC_RELAXED);
    return status >= 500 ? 0 : status;
}

static json_t *
entry_json(const lmq_send_entry *e)
{
    json_t *j = json_pack("{s:s}", "MessageBody", e->body);
    if (e->id)
        json_object_set_new(j, "Id", json_string(e->id));
    if (e->group_id) {
        json_object_set_new(j, "MessageGroupId", json_string(e->group_id));
        json_object_set_new(j, "MessageDeduplicationId",
                            json_string(e->dedup_id));
    }
    return j;
}

/* Sends single or batch to W[cur_w].queue through its lmqd. A send of
 * unknown outcome is not logged; a FIFO one is repeated, with the same
 * deduplication ids, until it is answered (so a group's order holds). */
static void
http_producer(void)
{
    const struct wdef *d = &W[cur_w];
    int fifo = d->kind == HPROD_FIFO, slow = strcmp(d->queue, "lp") == 0;
    unsigned long fresh, seq = producer_start(fifo, &fresh);
    struct sendbuf b;
    char buf[4096];
    size_t n = d->batch ? 10 : 1;
    (void)fresh; /* SQS does not say "duplicate": the drain finds copies */

    while (!flag(&sh->stop_producers)) {
        make_entries(&b, n, &seq, fifo, d->batch);
        json_t *ans = NULL;
        long st;
        do {
            json_t *req;
            if (d->batch) {
                json_t *es = json_array();
                for (size_t i = 0; i < n; i++)
                    json_array_append_new(es, entry_json(&b.e[i]));
                req = json_pack("{s:s, s:o}", "QueueUrl",
                                queue_url(d->lmqd, d->queue), "Entries", es);
            } else {
                req = entry_json(&b.e[0]);
                json_object_set_new(req, "QueueUrl",
                                    json_string(queue_url(d->lmqd, d->queue)));
            }
            st = sqs_call(d->batch ? "SendMessageBatch" : "SendMessage", req,
                          SEND_TIMEOUT_MS, &ans, NULL);
            if (st <= 0)
                usleep(20000 + rand_r(&rnd) % 30000);
        } while ((st == 0 && fifo) || st == -1);
        if (st == 200) {
            size_t len = 0;
            for (size_t i = 0; i < n; i++) {
                const char *id = NULL;
                if (d->batch) {
                    json_t *ok = json_object_get(ans, "Successful"), *x;
                    size_t k;
                    json_array_foreach(
                        ok, k,
                        x) if (strcmp(json_string_value(json_object_get(x,
                                                                        "Id")),
                                      b.ids[i]) == 0) id =
                        json_string_value(json_object_get(x, "MessageId"));
                } else {
                    id = json_string_value(json_object_get(ans, "MessageId"));
                }
                if (!id) {
                    char *t = json_dumps(ans, JSON_COMPACT);
                    fprintf(stderr,
                            "torture: worker %d: send of %s not "
                            "accepted: %s\n",
                            cur_w, b.bodies[i], t ? t : "");
                    _exit(3);
                }
                line(buf, sizeof buf, &len, 'S', d->queue, b.bodies[i], 0, id);
            }
            log_write(buf, len);
            json_decref(ans);
            tick(cur_w);
        }
        usleep(slow ? 500000 + rand_r(&rnd) % 2500000
                    : 1000 + rand_r(&rnd) % 4000);
    }
    _exit(0);
}

struct hmsg {
    const char *body, *id, *receipt;
    unsigned rc;
    int del; /* to delete */
};

/* Deletes ms[0..n) (the ones with del set) in one batch or one by one:
 * D for each answered as deleted, U for each whose answer was lost. */
static void
http_delete(struct hmsg *ms, size_t n, uint64_t got_ns)
{
    const struct wdef *d = &W[cur_w];
    char buf[8192];
    size_t len = 0;
    if (now_ns() - got_ns > (uint64_t)DEL_WINDOW_MS * 1000000u)
        return; /* too late to know what a 200 would mean: it comes back */
    if (d->batch) {
        json_t *es = json_array(), *ans = NULL;
        char ids[10][8];
        for (size_t i = 0; i < n; i++) {
            if (!ms[i].del)
                continue;
            snprintf(ids[i], sizeof ids[i], "d%u", (unsigned)(i % 10));
            json_array_append_new(es,
                                  json_pack("{s:s, s:s}", "Id", ids[i],
                                            "ReceiptHandle", ms[i].receipt));
        }
        if (json_array_size(es) == 0) {
            json_decref(es);
            return;
        }
        json_t *req = json_pack("{s:s, s:o}", "QueueUrl",
                                queue_url(d->lmqd, d->queue), "Entries", es);
        long st =
            sqs_call("DeleteMessageBatch", req, DEL_TIMEOUT_MS, &ans, NULL);
        for (size_t i = 0; i < n; i++) {
            if (!ms[i].del)
                continue;
            char type = st == -1 ? 0 : 'U'; /* refused: not sent */
            if (st == 200) {
                json_t *ok = json_object_get(ans, "Successful"), *x;
                size_t k;
                type = 0;
                json_array_foreach(
                    ok, k,
                    x) if (strcmp(json_string_value(json_object_get(x, "Id")),
                                  ids[i]) == 0) type = 'D';
            }
            if (type)
                line(buf, sizeof buf, &len, type, d->queue, ms[i].body,
                     ms[i].rc, ms[i].id);
        }
        json_decref(ans);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (!ms[i].del)
                continue;
            json_t *req = json_pack("{s:s, s:s}", "QueueUrl",
                                    queue_url(d->lmqd, d->queue),
                                    "ReceiptHandle", ms[i].receipt),
                   *ans = NULL;
            long st =
                sqs_call("DeleteMessage", req, DEL_TIMEOUT_MS, &ans, NULL);
            json_decref(ans);
            if (st != -1) /* refused: not sent */
                line(buf, sizeof buf, &len, st == 200 ? 'D' : 'U', d->queue,
                     ms[i].body, ms[i].rc, ms[i].id);
        }
    }
    log_write(buf, len);
}

/* Receives (1 or 10, long polls: 5 s on "lp", else 1 s), logs R, gives
 * one in eight back (ChangeMessageVisibility 0, logged C), extends one in
 * eight, and deletes the rest. */
static void
http_consumer(void)
{
    const struct wdef *d = &W[cur_w];
    int lp = strcmp(d->queue, "lp") == 0, wait = lp ? 5 : 1;
    char buf[8192];
    while (!flag(&sh->stop_consumers)) {
        json_t *req =
            json_pack("{s:s, s:i, s:i, s:i, s:[s]}", "QueueUrl",
                      queue_url(d->lmqd, d->queue), "MaxNumberOfMessages",
                      d->batch ? 10 : 1, "WaitTimeSeconds", wait,
                      "VisibilityTimeout", HTTP_VIS_S,
                      "MessageSystemAttributeNames", "ApproximateReceiveCount");
        json_t *ans = NULL;
        int cut = 0;
        uint64_t t0 = now_ns();
        polling_since = lp ? &sh->lp_polling_since : NULL;
        long st =
            sqs_call("ReceiveMessage", req, (wait + 10) * 1000L, &ans, &cut);
        polling_since = NULL;
        if (lp)
            __atomic_store_n(&sh->lp_polling_since, 0, __ATOMIC_RELAXED);
        if (st != 200) {
            if (cut && now_ns() - t0 > 300000000u)
                __atomic_add_fetch(&sh->polls_cut, 1, __ATOMIC_RELAXED);
            usleep(20000 + rand_r(&rnd) % 30000);
            continue;
        }
        json_t *msgs = json_object_get(ans, "Messages"), *m;
        struct hmsg ms[10];
        size_t n = 0, k, len = 0;
        json_array_foreach(msgs, k, m)
        {
            if (n == 10)
                break;
            const char *c = json_string_value(json_object_get(
                json_object_get(m, "Attributes"), "ApproximateReceiveCount"));
            ms[n].body = json_string_value(json_object_get(m, "Body"));
            ms[n].id = json_string_value(json_object_get(m, "MessageId"));
            ms[n].receipt =
                json_string_value(json_object_get(m, "ReceiptHandle"));
            if (!c || !ms[n].body || !ms[n].id || !ms[n].receipt) {
                fprintf(stderr,
                        "torture: worker %d: a message without "
                        "body, id, receipt or receive count\n",
                        cur_w);
                _exit(3);
            }
            ms[n].rc = (unsigned)atoi(c);
            ms[n].del = 1;
            line(buf, sizeof buf, &len, 'R', d->queue, ms[n].body, ms[n].rc,
                 ms[n].id);
            n++;
        }
        log_write(buf, len);
        len = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned r = rand_r(&rnd) % 8;
            if (r > 1)
                continue;
            /* 0: give it back now; 1: keep it longer (then delete) */
            json_t *cr = json_pack("{s:s, s:s, s:i}", "QueueUrl",
                                   queue_url(d->lmqd, d->queue),
                                   "ReceiptHandle", ms[i].receipt,
                                   "VisibilityTimeout", r ? HTTP_VIS_S : 0),
                   *ca = NULL;
            uint64_t tc = now_ns();
            long cs = sqs_call("ChangeMessageVisibility", cr, DEL_TIMEOUT_MS,
                               &ca, NULL);
            json_decref(ca);
            if (r == 0) {
                ms[i].del = 0; /* whatever the answer: it may be visible */
                if (cs == 200)
                    line(buf, sizeof buf, &len, 'C', d->queue, ms[i].body,
                         ms[i].rc, ms[i].id);
            } else if (cs == 200) {
                t0 = tc; /* a new window from the extension's start */
            }
        }
        log_write(buf, len);
        if (n && rand_r(&rnd) % 4 == 0)
            usleep(rand_r(&rnd) % 5000); /* widen the window for kills */
        http_delete(ms, n, t0);
        json_decref(ans);
        tick(cur_w);
    }
    _exit(0);
}

/* Writes the bridge's routes: DIR/bridge.json. */
static void
bridge_config(void)
{
    char path[700], url[3][160];
    snprintf(path, sizeof path, "%s/bridge.json", dir);
    snprintf(url[0], sizeof url[0], "%s", queue_url(REMOTE_LMQD, "rout"));
    snprintf(url[1], sizeof url[1], "%s", queue_url(REMOTE_LMQD, "rout.fifo"));
    snprintf(url[2], sizeof url[2], "%s", queue_url(REMOTE_LMQD, "rin"));
    json_t *common = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i}", "region",
                               "us-east-1", "access_key_id", "test",
                               "secret_access_key", "test", "batch_size", 10,
                               "backoff_min_ms", 50, "backoff_max_ms", 500);
    json_t *r[3] = {
        json_pack("{s:s, s:s, s:s, s:i, s:i}", "kind", "forward", "local_queue",
                  "out", "remote_url", url[0], "in_flight", 2,
                  "visibility_timeout", 2),
        json_pack("{s:s, s:s, s:s, s:i}", "kind", "forward", "local_queue",
                  "out.fifo", "remote_url", url[1], "visibility_timeout", 2),
        json_pack("{s:s, s:s, s:s, s:i, s:i, s:i}", "kind", "pull",
                  "local_queue", "in", "remote_url", url[2], "in_flight", 2,
                  "visibility_timeout", 5, "wait_time_seconds", 2),
    };
    json_t *routes = json_array();
    for (int i = 0; i < 3; i++) {
        json_object_update(r[i], common);
        json_array_append_new(routes, r[i]);
    }
    json_decref(common);
    json_t *cfg = json_pack("{s:o}", "routes", routes);
    if (json_dump_file(cfg, path, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "torture: cannot write %s\n", path);
        exit(2);
    }
    json_decref(cfg);
}

/* Becomes lmqd number W[cur_w].lmqd, or the bridge; output appended to
 * DIR/lmqd<N>.log or DIR/bridge.log. Dies with the supervisor. */
static void
daemon_exec(void)
{
    const struct wdef *d = &W[cur_w];
    char path[700], listen[64], cfg[700];
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != super_pid)
        _exit(8);
    if (d->kind == LMQD)
        snprintf(path, sizeof path, "%s/lmqd%d.log", dir, d->lmqd);
    else
        snprintf(path, sizeof path, "%s/bridge.log", dir);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
        _exit(5);
    close(fd);
    if (d->kind == LMQD) {
        static const char *mode[] = {"full", "periodic", "none"};
        snprintf(listen, sizeof listen, "127.0.0.1:%d", ports[d->lmqd]);
        const char *argv[] = {
            lmqd_bin,     "--home",       d->lmqd == REMOTE_LMQD ? rhome : home,
            "--listen",   listen,         "--durability",
            mode[d->dur], "--test-clock", "--quiet",
            NULL};
        execv(lmqd_bin, (char *const *)argv);
    } else {
        snprintf(cfg, sizeof cfg, "%s/bridge.json", dir);
        const char *argv[] = {lmq_bin,    "--home", home, "bridge",
                              "--config", cfg,      NULL};
        execv(lmq_bin, (char *const *)argv);
    }
    _exit(9);
}

static void
worker(int w, int inc, unsigned seed)
{
    char path[700];
    cur_w = w;
    cur_inc = inc;
    rnd = seed ^ (unsigned)(w * 7919) ^ (unsigned)(inc * 104729);
    snprintf(path, sizeof path, "%s/w%d", dir, w);
    log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (log_fd < 0)
        _exit(5);
    switch (W[w].kind) {
    case PROD:
    case PROD_FIFO:
        producer();
        break;
    case MOVER:
        mover();
        break;
    case CONS:
        consumer();
        break;
    case CONS_RT:
        runtime_consumer();
        break;
    case LMQD:
    case BRIDGE:
        daemon_exec();
        break;
    case HPROD:
    case HPROD_FIFO:
        if (!(curl = curl_easy_init()))
            _exit(5);
        http_producer();
        break;
    case HCONS:
        if (!(curl = curl_easy_init()))
            _exit(5);
        http_consumer();
        break;
    }
    _exit(6);
}

/* ------------------------------------------------------------------------ */
/* The supervisor                                                            */
/* ------------------------------------------------------------------------ */

static int failures;

static void
failure(const char *fmt, ...)
{
    va_list ap;
    if (failures < 50) {
        fputs("torture: FAILED: ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
    }
    failures++;
}

static pid_t pids[MAXW];
static int incs[MAXW]; /* incarnations so far; the last one is incs[w] - 1 */
static uint64_t seen_progress[MAXW];
static uint64_t seen_at[MAXW];
static uint64_t started_at[MAXW], ready_at[MAXW], kill_after_ns[MAXW];
static off_t log_size_at_start[MAXW];
static int kill_in_start[MAXW];

static off_t
daemon_log_size(int w)
{
    char path[700];
    struct stat st;
    if (W[w].kind == LMQD)
        snprintf(path, sizeof path, "%s/lmqd%d.log", dir, W[w].lmqd);
    else
        snprintf(path, sizeof path, "%s/bridge.log", dir);
    return stat(path, &st) == 0 ? st.st_size : 0;
}

static unsigned daemon_rnd; /* the supervisor's, for daemon kill times */

/* May daemon w be killed now (see the storm)? */
static int
daemon_killable(int w)
{
    uint64_t t = now_ns();
    if (!ready_at[w] && daemon_log_size(w) > log_size_at_start[w])
        ready_at[w] = t;
    if (kill_in_start[w] && !ready_at[w])
        return t - started_at[w] >= kill_after_ns[w];
    return ready_at[w] && t - ready_at[w] >= kill_after_ns[w];
}

static int
is_daemon(int w)
{
    return W[w].kind == LMQD || W[w].kind == BRIDGE;
}
static unsigned seed;
static int stuck_s = 20;

static void
start_worker(int w)
{
    fflush(stdout);
    if (is_daemon(w))
        log_size_at_start[w] = daemon_log_size(w);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0)
        worker(w, incs[w], seed);
    pids[w] = pid;
    incs[w]++;
    seen_progress[w] = __atomic_load_n(&sh->progress[w], __ATOMIC_RELAXED);
    seen_at[w] = started_at[w] = now_ns();
    if (is_daemon(w)) {
        ready_at[w] = 0;
        kill_in_start[w] = rand_r(&daemon_rnd) % 4 == 0;
        kill_after_ns[w] =
            (uint64_t)(kill_in_start[w] ? rand_r(&daemon_rnd) % 600
                                        : rand_r(&daemon_rnd) % 1500) *
            1000000u;
    }
}

static void
check_status(int w, int st)
{
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        failure("worker %d (inc %d%s) ended with status 0x%x%s", w, incs[w] - 1,
                W[w].kind == LMQD     ? ", lmqd"
                : W[w].kind == BRIDGE ? ", the bridge"
                                      : "",
                st, is_daemon(w) ? " (see its log in DIR)" : "");
}

/* Reap workers that ended by themselves (an error) and kill stuck ones. */
static void
watch(void)
{
    uint64_t t = now_ns();
    for (int w = 0; w < NW; w++) {
        if (pids[w] <= 0)
            continue;
        int st;
        if (waitpid(pids[w], &st, WNOHANG) == pids[w]) {
            check_status(w, st);
            pids[w] = 0;
            continue;
        }
        if (is_daemon(w))
            continue; /* exec'd: its clients' progress shows it works */
        uint64_t p = __atomic_load_n(&sh->progress[w], __ATOMIC_RELAXED);
        if (p != seen_progress[w]) {
            seen_progress[w] = p;
            seen_at[w] = t;
        } else if (t - seen_at[w] > (uint64_t)stuck_s * 1000000000u) {
            failure("worker %d (inc %d) stuck: no progress for %d s", w,
                    incs[w] - 1, stuck_s);
            kill(pids[w], SIGKILL);
            waitpid(pids[w], &st, 0);
            pids[w] = 0;
        }
    }
}

/* Wait for the workers of kind test to end, up to deadline seconds. */
static void
wait_workers(int (*which)(int), int deadline)
{
    uint64_t end = now_ns() + (uint64_t)deadline * 1000000000u;
    for (;;) {
        int left = 0;
        watch();
        for (int w = 0; w < NW; w++)
            left += which(w) && pids[w] > 0;
        if (!left)
            return;
        if (now_ns() > end) {
            for (int w = 0; w < NW; w++)
                if (which(w) && pids[w] > 0) {
                    int st;
                    failure("worker %d did not stop within %d s", w, deadline);
                    kill(pids[w], SIGKILL);
                    waitpid(pids[w], &st, 0);
                    pids[w] = 0;
                }
            return;
        }
        usleep(20000);
    }
}

static int
is_producer(int w)
{
    return W[w].kind == PROD || W[w].kind == PROD_FIFO || W[w].kind == MOVER ||
           W[w].kind == HPROD || W[w].kind == HPROD_FIFO;
}

static int
is_consumer(int w)
{
    return !is_producer(w) && !is_daemon(w);
}

static lmq_env *
super_env_at(const char *home)
{
    lmq_env_opts o;
    lmq_env *env;
    lmq_env_opts_init(&o);
    o.map_size = 64u << 20;
    o.map_mode = map_mode;
    o.test_clock = 1;
    int rc = lmq_env_open(home, &o, &env);
    if (rc != 0) {
        fprintf(stderr, "torture: open %s: %s\n", home, lmq_errmsg());
        exit(2);
    }
    return env;
}

static lmq_env *
super_env(void)
{
    return super_env_at(home);
}

static void
setup_fail(void)
{
    fprintf(stderr, "torture: setup: %s\n", lmq_errmsg());
    exit(2);
}

static void
setup_home(void)
{
    lmq_env *env = super_env();
    lmq_map *a = lmq_map_new();
    char vis[16];
    snprintf(vis, sizeof vis, "%d", VIS_SECONDS);
    lmq_map_set(a, "VisibilityTimeout", vis);
    int rc = lmq_queue_create(env, "dlq", a, NULL, NULL);
    const char *names[] = {"QueueArn", NULL};
    lmq_map *da;
    if (rc == 0)
        rc = lmq_queue_get_attributes(env, "dlq", names, &da);
    if (rc != 0)
        setup_fail();
    json_t *p = json_pack("{s:s, s:i}", "deadLetterTargetArn",
                          lmq_map_get(da, "QueueArn"), "maxReceiveCount", 1000);
    char *pol = json_dumps(p, JSON_COMPACT);
    lmq_map_set(a, "RedrivePolicy", pol);
    rc = lmq_queue_create(env, "std", a, NULL, NULL);
    free(pol);
    json_decref(p);
    lmq_map_free(da);
    lmq_map_del(a, "RedrivePolicy");
    if (rc != 0)
        setup_fail();
    /* the others: "q.fifo" and, with -L, lmqd's and the bridge's */
    lmq_env *renv = daemons ? super_env_at(rhome) : NULL;
    for (int i = 1; i < (daemons ? NQ : NQ_BASE); i++) {
        if (strcmp(Q[i].name, "dlq") == 0)
            continue;
        if (Q[i].fifo)
            lmq_map_set(a, "FifoQueue", "true");
        else
            lmq_map_del(a, "FifoQueue");
        if (lmq_queue_create(Q[i].remote ? renv : env, Q[i].name, a, NULL,
                             NULL) != 0)
            setup_fail();
    }
    lmq_map_free(a);
    lmq_env_close(env);
    lmq_env_close(renv);
}

/* One line of a log, or one message the final drain found (type 'Z'). */
struct ev {
    char body[40];
    char id[40];
    char type;
    char q;
    unsigned rc;
    uint64_t ns;
    int w, inc;
};

static struct ev *evs;
static size_t nev, cap_ev;

static struct ev *
new_ev(void)
{
    if (nev == cap_ev) {
        cap_ev = cap_ev ? cap_ev * 2 : 65536;
        evs = realloc(evs, cap_ev * sizeof *evs);
        if (!evs) {
            perror("realloc");
            exit(2);
        }
    }
    memset(&evs[nev], 0, sizeof *evs);
    return &evs[nev++];
}

static void
read_logs(size_t *torn)
{
    for (int w = 0; w < NW; w++) {
        char path[700], buf[512];
        snprintf(path, sizeof path, "%s/w%d", dir, w);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        while (fgets(buf, sizeof buf, f)) {
            struct ev *e = new_ev();
            unsigned long long ns;
            if (buf[strlen(buf) - 1] != '\n' ||
                sscanf(buf, "%c %c %39s %u %39s %llu %d %d", &e->type, &e->q,
                       e->body, &e->rc, e->id, &ns, &e->w, &e->inc) != 8) {
                (*torn)++;
                nev--;
                continue;
            }
            e->ns = ns;
        }
        fclose(f);
    }
}

/* One message of the final drain: a 'Z' event; in a FIFO queue, each
 * group's messages must come in send order. */
struct drain_ctx {
    const struct qdef *q;
    long last[MAXW][3];
};

static int
drained_one(const lmq_msg *m, void *arg)
{
    struct drain_ctx *dc = arg;
    struct ev *e = new_ev();
    e->type = 'Z';
    e->q = dc->q->c;
    snprintf(e->body, sizeof e->body, "%s", lmq_msg_body(m, NULL));
    snprintf(e->id, sizeof e->id, "%s", lmq_msg_id(m));
    e->rc = lmq_msg_receive_count(m);
    e->ns = now_ns();
    e->w = -1;
    unsigned w;
    unsigned long seq;
    if (dc->q->fifo && sscanf(e->body, "f%u.%lu", &w, &seq) == 2 && w < MAXW &&
        sabotage != SAB_ORDER) {
        long *last = &dc->last[w][seq % 3];
        if ((long)seq < *last)
            failure("%s: drained f%u.%lu after f%u.%ld (group g%u.%lu)",
                    dc->q->name, w, seq, w, *last, w, seq % 3);
        *last = (long)seq;
    }
    return 0;
}

/* After settling: counters against a drain of everything left, in the
 * local home and (with -L) the remote one. */
static void
settle_and_drain(size_t *drained, int nq, lmq_queue_metrics *mets)
{
    lmq_env *envs[2] = {super_env(), daemons ? super_env_at(rhome) : NULL};
    int rc;
    for (int h = 0; h < 2 && envs[h]; h++)
        if ((rc = lmq_env_clock_advance(envs[h], 3600 * 1000, NULL)) != 0)
            failure("lmq_env_clock_advance: %s", lmq_err_name(rc));
    for (int i = 0; i < nq; i++) {
        lmq_env *env = envs[Q[i].remote];
        const char *name = Q[i].name;
        lmq_queue_metrics before = {.size = sizeof before};
        long long c[3];
        lmq_queue *q;
        if ((rc = lmq_queue_metrics_get(env, name, &before)) != 0 ||
            (rc = lmq_test_counts(env, name, c)) != 0 ||
            (rc = lmq_queue_open(env, name, &q)) != 0) {
            failure("%s: %s", name, lmq_errmsg());
            continue;
        }
        struct drain_ctx *dc = malloc(sizeof *dc);
        if (!dc) {
            perror("malloc");
            exit(2);
        }
        dc->q = &Q[i];
        for (int w = 0; w < MAXW; w++)
            dc->last[w][0] = dc->last[w][1] = dc->last[w][2] = -1;
        if ((rc = lmq_test_drain(q, drained_one, dc, &drained[i])) != 0)
            failure("drain %s: %s (%s)", name, lmq_err_name(rc), lmq_errmsg());
        free(dc);
        lmq_queue_close(q);
        if (c[0] != (long long)drained[i] || c[1] != 0)
            failure("%s: ApproximateNumberOfMessages %lld (not visible %lld),"
                    " but %zu messages were left",
                    name, c[0], c[1], drained[i]);
        if (before.visible + before.not_visible + before.delayed !=
            (int64_t)drained[i])
            failure("%s: metrics say %lld visible, %lld not visible, %lld "
                    "delayed, but %zu messages were left",
                    name, (long long)before.visible,
                    (long long)before.not_visible, (long long)before.delayed,
                    drained[i]);
        if (Q[i].must_end_empty && drained[i] != 0)
            failure("%s: %zu messages left: the bridge did not drain it", name,
                    drained[i]);
        mets[i].size = sizeof mets[i];
        if ((rc = lmq_queue_metrics_get(env, name, &mets[i])) != 0)
            failure("%s: metrics: %s", name, lmq_err_name(rc));
        else if (mets[i].visible || mets[i].not_visible || mets[i].delayed)
            failure("%s: metrics not zero after the drain", name);
    }
    lmq_env_close(envs[0]);
    lmq_env_close(envs[1]);
}

static int
cmp_ev(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    int c = strcmp(x->body, y->body);
    if (c)
        return c;
    return x->ns < y->ns ? -1 : x->ns > y->ns;
}

struct firstdel {
    unsigned w;
    unsigned long seq;
    unsigned long group;
    uint64_t ns;
};

static int
cmp_fd(const void *a, const void *b)
{
    const struct firstdel *x = a, *y = b;
    if (x->w != y->w)
        return x->w < y->w ? -1 : 1;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct totals {
    size_t acked, acked_dup, deleted, handled, remaining, in_doubt, bodies;
    size_t moved;     /* sent to dlq, seen in std */
    size_t takeovers; /* move tasks run on by a new runner */
    size_t ids[NQ];   /* distinct message ids seen per queue (Q[]) */
    size_t dups[NQ];  /* further copies of a body, where Q[] allows them */
    size_t http_acked, cmv, unknown_deletes;
    size_t forwarded, pulled; /* acknowledged, found at the other end */
};

/* Check one body's events (sorted by time). */
static void
check_body(struct ev *e, size_t n, struct totals *t, struct firstdel *fd,
           size_t *nfd)
{
    int acked = 0, deleted = 0, handled = 0, left = 0, doubt = 0;
    unsigned del_rc = 0;
    const char *del_id = NULL;
    uint64_t first = 0;
    int fwd = 0, pulled = 0;
    char ids[NQ][40];
    memset(ids, 0, sizeof ids);
    t->bodies++;
    for (size_t i = 0; i < n; i++) {
        struct ev *x = &e[i];
        switch (x->type) {
        case 'T':
            t->takeovers++;
            continue;
        case 'S':
            acked = 1;
            if (x->rc)
                t->acked_dup++;
            if (W[x->w].kind == HPROD || W[x->w].kind == HPROD_FIFO)
                t->http_acked++;
            continue;
        case 'D':
            if (deleted)
                failure("%s: deleted twice (ids %s, %s)", x->body, del_id,
                        x->id);
            deleted = 1;
            del_rc = x->rc;
            del_id = x->id;
            break;
        case 'H':
            handled = 1;
            break;
        case 'Z':
            left = 1;
            fwd |= x->q == 'O' || x->q == 'P';
            pulled |= x->q == 'i';
            break;
        case 'U':
            doubt = 1; /* a delete whose answer was lost */
            t->unknown_deletes++;
            break;
        case 'C':
            t->cmv++;
            break;
        case 'R':
            if (x->inc != incs[x->w] - 1)
                doubt = 1; /* received by an incarnation later killed */
            break;
        default:
            failure("bad log line type %c", x->type);
            continue;
        }
        /* a delivery (R, H, D, Z): one message id per queue */
        int k = qidx(x->q);
        if (k < 0) {
            failure("bad queue letter %c", x->q);
            continue;
        }
        if (k == 0 && e[0].body[0] == 'd' && !ids[k][0])
            t->moved++;
        if (!ids[k][0]) {
            snprintf(ids[k], sizeof ids[k], "%s", x->id);
            t->ids[k]++;
        } else if (strcmp(ids[k], x->id) != 0 && Q[k].dups_ok) {
            t->dups[k]++; /* the bridge's at-least-once: counted */
        } else if (strcmp(ids[k], x->id) != 0) {
            failure("%s: two messages in queue %c (%s, %s)", x->body, x->q,
                    ids[k], x->id);
        }
        if ((x->type == 'R' || x->type == 'H') && !first && x->q == 'f')
            first = x->ns;
    }
    /* nothing delivered after an acknowledged delete */
    if (deleted)
        for (size_t i = 0; i < n; i++) {
            struct ev *x = &e[i];
            if (x->type == 'Z')
                failure("%s: deleted (receive %u), still in queue %c", x->body,
                        del_rc, x->q);
            else if ((x->type == 'R' || x->type == 'H') && x->q != 'd' &&
                     x->rc > del_rc)
                failure("%s: deleted at receive %u, delivered again "
                        "(receive %u) by worker %d",
                        x->body, del_rc, x->rc, x->w);
        }
    if (acked) {
        t->acked++;
        t->forwarded += fwd;
        t->pulled += pulled;
        if (deleted)
            t->deleted++;
        else if (handled)
            t->handled++;
        else if (left)
            t->remaining++;
        else if (doubt)
            t->in_doubt++;
        else
            failure("%s: acknowledged send lost", e[0].body);
    }
    unsigned w;
    unsigned long seq;
    if (first && sscanf(e[0].body, "f%u.%lu", &w, &seq) == 2) {
        fd[*nfd].w = w;
        fd[*nfd].seq = seq;
        fd[*nfd].group = seq % 3;
        fd[*nfd].ns = first;
        (*nfd)++;
    }
}

static void
check(lmq_queue_metrics *mets, struct totals *t)
{
    qsort(evs, nev, sizeof *evs, cmp_ev);
    struct firstdel *fd = calloc(nev + 1, sizeof *fd);
    size_t nfd = 0;
    for (size_t i = 0; i < nev;) {
        size_t j = i + 1;
        while (j < nev && strcmp(evs[j].body, evs[i].body) == 0)
            j++;
        check_body(&evs[i], j - i, t, fd, &nfd);
        i = j;
    }
    /* FIFO: per group, first deliveries in send order */
    qsort(fd, nfd, sizeof *fd, cmp_fd);
    for (size_t i = 1; i < nfd; i++)
        if (fd[i].w == fd[i - 1].w && fd[i].group == fd[i - 1].group &&
            fd[i].ns < fd[i - 1].ns)
            failure("FIFO group g%u.%lu: f%u.%lu first delivered before "
                    "f%u.%lu",
                    fd[i].w, fd[i].group, fd[i].w, fd[i].seq, fd[i - 1].w,
                    fd[i - 1].seq);
    free(fd);
    /* totals: every message ever in std and q.fifo was seen by someone */
    for (int k = 0; k < 2; k++) {
        if (mets[k].sent != t->ids[k])
            failure("%s: metrics count %llu sent, %zu distinct messages "
                    "were seen",
                    Q[k].name, (unsigned long long)mets[k].sent, t->ids[k]);
    }
}

/* -X unship: the bridge gone, one message taken off the remote FIFO queue
 * (it was forwarded exactly once: now it is lost) and one left in an
 * outbox. */
static void
unship(void)
{
    lmq_env *renv = super_env_at(rhome), *env = super_env();
    lmq_queue *q;
    lmq_msg *m;
    size_t n = 0;
    lmq_recv_opts o;
    lmq_send_entry e;
    lmq_recv_opts_init(&o);
    int rc = lmq_queue_open(renv, "rout.fifo", &q);
    if (rc == 0 && (rc = lmq_receive(q, &o, &m, 1, &n)) == 0 && n == 1) {
        int del = 0;
        rc = lmq_delete(q, lmq_msg_receipt(m), &del);
        lmq_msg_free(m);
    }
    lmq_queue_close(q);
    lmq_send_entry_init(&e);
    e.body = "o-late";
    if (rc == 0 && (rc = lmq_queue_open(env, "out", &q)) == 0) {
        rc = lmq_send(q, &e, NULL);
        lmq_queue_close(q);
    }
    if (rc != 0 || n != 1)
        failure("-X unship: %s (%zu received)", lmq_errmsg(), n);
    lmq_env_close(renv);
    lmq_env_close(env);
}

static int
parse_map(const char *s)
{
    if (strcmp(s, "pwrite") == 0)
        return LMQ_MAP_PWRITE;
    if (strcmp(s, "writable") == 0)
        return LMQ_MAP_WRITABLE;
    return -1;
}

int
main(int argc, char **argv)
{
    int kills = 100, imin = 20, imax = 120, min_storm_ms = 0, c;
    const char *ek = getenv("LMQ_TORTURE_KILLS"),
               *es = getenv("LMQ_TORTURE_SEED");
    if (ek)
        kills = atoi(ek);
    seed = es ? (unsigned)strtoul(es, NULL, 10)
              : (unsigned)time(NULL) ^ (unsigned)getpid();
    while ((c = getopt(argc, argv, "k:s:m:t:i:j:d:X:L:B:")) != -1) {
        switch (c) {
        case 'L':
            lmqd_bin = optarg;
            break;
        case 'B':
            lmq_bin = optarg;
            break;
        case 'k':
            kills = atoi(optarg);
            break;
        case 's':
            seed = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 't':
            stuck_s = atoi(optarg);
            break;
        case 'd':
            min_storm_ms = atoi(optarg);
            break;
        case 'i':
            imin = atoi(optarg);
            break;
        case 'j':
            imax = atoi(optarg);
            break;
        case 'X':
            sabotage = strcmp(optarg, "lose") == 0        ? SAB_LOSE
                       : strcmp(optarg, "resurrect") == 0 ? SAB_RESURRECT
                       : strcmp(optarg, "dup") == 0       ? SAB_DUP
                       : strcmp(optarg, "order") == 0     ? SAB_ORDER
                       : strcmp(optarg, "unship") == 0    ? SAB_UNSHIP
                                                          : SAB_NONE;
            if (sabotage == SAB_NONE)
                goto usage;
            break;
        case 'm':
            if (parse_map(optarg) < 0)
                goto usage;
            map_mode = (lmq_map_mode)parse_map(optarg);
            break;
        default:
            goto usage;
        }
    }
    if (optind != argc - 1 || kills < 0 || imin < 1 || imax < imin ||
        stuck_s < 1 || !lmqd_bin != !lmq_bin ||
        (lmqd_bin && sabotage != SAB_NONE && sabotage != SAB_UNSHIP) ||
        (!lmqd_bin && sabotage == SAB_UNSHIP))
        goto usage;
    daemons = lmqd_bin != NULL;
    snprintf(dir, sizeof dir, "%s", argv[optind]);
    snprintf(home, sizeof home, "%s/home", dir);
    snprintf(rhome, sizeof rhome, "%s/remote", dir);
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < sizeof BW / sizeof BW[0]; i++)
        W[NW++] = BW[i];
    if (daemons) {
        for (size_t i = 0; i < sizeof DW / sizeof DW[0]; i++)
            W[NW++] = DW[i];
        for (int i = 0; i < NLMQD; i++)
            if ((ports[i] = lmq_test_free_port()) <= 0) {
                perror("torture: a free port");
                return 2;
            }
        bridge_config();
        /* clients are told to use no proxy, the bridge (libcurl) too */
        setenv("NO_PROXY", "127.0.0.1", 1);
    }

    uint64_t t0 = now_ns();
    super_pid = getpid();
    setup_home();
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    unsigned r = seed;
    daemon_rnd = seed ^ 0x5bd1e995u;
    for (int w = 0; w < NW; w++)
        start_worker(w);

    /* The storm. */
    int done = 0, kills_of[2 + NLMQD] = {0}; /* per lmqd, then the bridge */
    int daemon_rows[8], nd = 0, lib_rows[MAXW], nl = 0, kills_ready = 0;
    int parked_kills = 0; /* the last one, not in KILLS */
    int extra_kills = 0;  /* of daemons the storm missed, not in KILLS */
    for (int w = 0; w < NW; w++) {
        if (is_daemon(w))
            daemon_rows[nd++] = w;
        else if (sabotage == SAB_NONE || (w != 0 && w != 6))
            lib_rows[nl++] = w;
    }
    while (
        (done < kills || now_ns() - t0 < (uint64_t)min_storm_ms * 1000000u) &&
        failures == 0) {
        usleep((useconds_t)(imin +
                            (int)(rand_r(&r) % (unsigned)(imax - imin + 1))) *
               1000);
        watch();
        if (done >= kills)
            continue; /* budget spent, -d not yet reached */
        int w = (int)(rand_r(&r) % NW);
        /* with -L, half the kills hit an lmqd or the bridge that may be
         * killed now (below), when there is one */
        if (nd && rand_r(&r) % 2) {
            int ok[8], nok = 0;
            for (int i = 0; i < nd; i++)
                if (pids[daemon_rows[i]] > 0 && daemon_killable(daemon_rows[i]))
                    ok[nok++] = daemon_rows[i];
            if (nok)
                w = ok[rand_r(&r) % (unsigned)nok];
        }
        if (pids[w] <= 0)
            continue;
        /* A daemon is killed a random 0-1.5 s after it is ready (its
         * first line of output), or, one start in four, while it starts
         * (opening and recovering the home): lmqd takes about a second to
         * start on a loaded machine, and one always killed before it
         * serves would test only its start-up. Otherwise a library worker
         * takes the kill. */
        if (is_daemon(w) && !daemon_killable(w))
            w = lib_rows[rand_r(&r) % (unsigned)nl];
        if (is_daemon(w))
            kills_ready += ready_at[w] != 0;
        if (W[w].kind == LMQD)
            kills_of[W[w].lmqd]++;
        else if (W[w].kind == BRIDGE)
            kills_of[NLMQD]++;
        /* the saboteurs (worker 0 sends twice, worker 6 lies about
         * deletes) live through a sabotage run: a kill would excuse them */
        if (sabotage != SAB_NONE && (w == 0 || w == 6))
            continue;
        int st;
        kill(pids[w], SIGKILL);
        waitpid(pids[w], &st, 0);
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
            check_status(w, st); /* it had ended by itself before */
        done++;
        start_worker(w);
    }
    /* Every daemon is killed at least once, whatever the dice said (a
     * short storm may miss one). */
    for (int i = 0; i < nd && failures == 0; i++) {
        int w = daemon_rows[i], st;
        if (incs[w] > 1)
            continue;
        uint64_t end = now_ns() + 20000000000ull;
        while (now_ns() < end && !daemon_killable(w)) {
            usleep(20000);
            watch();
        }
        if (pids[w] <= 0)
            continue; /* it ended by itself: watch() reported it */
        kills_ready += ready_at[w] != 0;
        kill(pids[w], SIGKILL);
        waitpid(pids[w], &st, 0);
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
            check_status(w, st);
        kills_of[W[w].kind == LMQD ? W[w].lmqd : NLMQD]++;
        extra_kills++;
        start_worker(w);
    }
    /* The last kill: the lmqd of the "lp" consumer while it is parked. */
    for (int w = 0, c = -1; daemons && w < NW && failures == 0; w++) {
        if (W[w].kind != HCONS || strcmp(W[w].queue, "lp") != 0)
            continue;
        for (int i = 0; i < NW; i++)
            if (W[i].kind == LMQD && W[i].lmqd == W[w].lmqd)
                c = i;
        uint64_t end = now_ns() + 20000000000ull, since = 0;
        while (now_ns() < end &&
               ((since = __atomic_load_n(&sh->lp_polling_since,
                                         __ATOMIC_RELAXED)) == 0 ||
                now_ns() - since < 500000000u || !daemon_killable(c) ||
                !ready_at[c])) {
            usleep(20000);
            watch();
        }
        if (now_ns() >= end) {
            failure("the \"lp\" consumer never waited in a poll");
            break;
        }
        int st;
        kill(pids[c], SIGKILL);
        waitpid(pids[c], &st, 0);
        kills_of[W[c].lmqd]++;
        kills_ready++;
        parked_kills++;
        start_worker(c);
    }
    uint64_t t_storm = now_ns();

    /* Stop producers and the mover, let the consumers and the bridge
     * drain. */
    __atomic_store_n(&sh->stop_producers, 1, __ATOMIC_RELAXED);
    wait_workers(is_producer, 30);
    uint64_t t_prod = now_ns();
    {
        /* Up to 30 s; with -L as long as the queues shrink (the bridge
         * ships a backlog the storm let grow: 12,000 messages after 2,000
         * kills), until 30 s pass without progress (15 minutes at most). */
        uint64_t start = now_ns(), progress = start;
        uint64_t cap = start + (daemons ? 900 : 30) * 1000000000ull;
        int64_t best = INT64_MAX;
        while (now_ns() < cap && now_ns() - progress < 30000000000ull) {
            /* a consumer killed last needs VIS_SECONDS to give back */
            int64_t left = 0;
            watch();
            /* no more forks: the supervisor may open the homes now */
            lmq_env *envs[2] = {super_env(),
                                daemons ? super_env_at(rhome) : NULL};
            for (int i = 0; i < (daemons ? NQ : NQ_BASE); i++) {
                lmq_queue_metrics m = {.size = sizeof m};
                /* consumed or drained by the bridge */
                int busy = i < 2 || strcmp(Q[i].name, "lp") == 0 ||
                           Q[i].must_end_empty;
                if (busy && lmq_queue_metrics_get(envs[Q[i].remote], Q[i].name,
                                                  &m) == 0)
                    left += m.visible + m.not_visible + m.delayed;
            }
            lmq_env_close(envs[0]);
            lmq_env_close(envs[1]);
            if (left == 0)
                break;
            if (left < best && daemons) {
                best = left;
                progress = now_ns();
            }
            usleep(200000);
        }
    }
    uint64_t t_empty = now_ns();
    __atomic_store_n(&sh->stop_consumers, 1, __ATOMIC_RELAXED);
    wait_workers(is_consumer, 30);
    uint64_t t_cons = now_ns();
    /* lmqd and the bridge stop cleanly on SIGTERM */
    for (int w = 0; w < NW; w++)
        if (is_daemon(w) && pids[w] > 0)
            kill(pids[w], SIGTERM);
    wait_workers(is_daemon, 15);
    uint64_t t_drained = now_ns();

    if (sabotage == SAB_UNSHIP)
        unship();
    int nq = daemons ? NQ : NQ_BASE;
    size_t drained[NQ] = {0};
    lmq_queue_metrics mets[NQ];
    memset(mets, 0, sizeof mets);
    settle_and_drain(drained, nq, mets);
    size_t torn = 0;
    read_logs(&torn);
    struct totals t;
    memset(&t, 0, sizeof t);
    check(mets, &t);
    if (t.acked == 0)
        failure("no send was acknowledged");

    printf("torture: seed=%u map=%s kills=%d workers=%d acked=%zu "
           "fifo_resent_dropped=%zu deleted=%zu handled=%zu remaining=%zu "
           "in_doubt=%zu moved=%zu task_takeovers=%zu torn_lines=%zu "
           "storm_s=%.1f drain_s=%.1f "
           "total_s=%.1f failures=%d\n",
           seed, map_mode == LMQ_MAP_WRITABLE ? "writable" : "pwrite", done, NW,
           t.acked, t.acked_dup, t.deleted, t.handled, t.remaining, t.in_doubt,
           t.moved, t.takeovers, torn, (double)(t_storm - t0) / 1e9,
           (double)(t_drained - t_storm) / 1e9, (double)(now_ns() - t0) / 1e9,
           failures);
    if (daemons)
        printf("torture: daemons lmqd_kills=%d,%d,%d remote_kills=%d "
               "bridge_kills=%d kills_after_ready=%d parked_kill=%d "
               "extra_kills=%d "
               "http_acked=%zu http_unknown=%llu "
               "polls_cut=%llu unknown_deletes=%zu visibility_changes=%zu "
               "forwarded=%zu forward_dups=%zu pulled=%zu pull_dups=%zu "
               "stop_s=%.1f,%.1f,%.1f,%.1f failures=%d\n",
               kills_of[0], kills_of[1], kills_of[2], kills_of[REMOTE_LMQD],
               kills_of[NLMQD], kills_ready, parked_kills, extra_kills,
               t.http_acked, (unsigned long long)sh->http_unknown,
               (unsigned long long)sh->polls_cut, t.unknown_deletes, t.cmv,
               t.forwarded, t.dups[qidx('O')], t.pulled, t.dups[qidx('i')],
               (double)(t_prod - t_storm) / 1e9,
               (double)(t_empty - t_prod) / 1e9,
               (double)(t_cons - t_empty) / 1e9,
               (double)(t_drained - t_cons) / 1e9, failures);
    free(evs);
    return failures ? 1 : 0;
usage:
    fprintf(stderr, "usage: torture [-k KILLS] [-s SEED] [-m pwrite|writable]"
                    " [-t STUCK_S] [-i MIN_MS] [-j MAX_MS]\n"
                    "               [-d MIN_STORM_MS]"
                    " [-X lose|resurrect|dup|order|unship]"
                    " [-L LMQD -B LMQ] DIR\n");
    return 2;
}
