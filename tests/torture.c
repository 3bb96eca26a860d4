/*
 * torture.c: the kill storm of issue 27.
 *
 *   torture [-k KILLS] [-s SEED] [-m pwrite|writable] [-t STUCK_S]
 *           [-i MIN_MS] [-j MAX_MS] [-d MIN_STORM_MS] [-X SABOTAGE] DIR
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
 * -X lose|resurrect|dup|order breaks a promise on purpose, in the workers
 * (a delete not logged, a delete logged but not done, a standard send
 * made twice, FIFO groups other than the checker assumes), so that a test
 * can see each check fail. The saboteurs (workers 0 and 6) are never
 * killed in such a run, and -d MS keeps the storm going at least MS.
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

#include <jansson.h>

#include "lmq.h"

#define VIS_SECONDS 2

enum kind { PROD, PROD_FIFO, MOVER, CONS, CONS_RT };

struct wdef {
    enum kind kind;
    const char *queue;
    int batch; /* producers: batches of 10; consumers: receive and delete
                  in batches (for CONS, 2: receive batches, single deletes) */
    lmq_durability dur;
};

static const struct wdef W[] = {
    {PROD, "std", 0, LMQ_DURABILITY_FULL},
    {PROD, "std", 1, LMQ_DURABILITY_PERIODIC},
    {PROD_FIFO, "q.fifo", 0, LMQ_DURABILITY_NONE},
    {PROD_FIFO, "q.fifo", 1, LMQ_DURABILITY_FULL},
    {PROD, "dlq", 1, LMQ_DURABILITY_PERIODIC},
    {MOVER, "dlq", 0, LMQ_DURABILITY_NONE},
    {CONS, "std", 0, LMQ_DURABILITY_FULL},
    {CONS, "std", 1, LMQ_DURABILITY_PERIODIC},
    {CONS, "q.fifo", 2, LMQ_DURABILITY_NONE},
    {CONS, "q.fifo", 1, LMQ_DURABILITY_FULL},
    {CONS_RT, "std", 0, LMQ_DURABILITY_NONE},
    {CONS_RT, "q.fifo", 0, LMQ_DURABILITY_PERIODIC},
};
#define NW ((int)(sizeof W / sizeof W[0]))

struct shared {
    uint64_t progress[NW];
    int stop_producers;
    int stop_consumers;
};

static struct shared *sh;
static char dir[512];
static char home[600];
static lmq_map_mode map_mode = LMQ_MAP_PWRITE;

static char
qchar(const char *q)
{
    return q[0] == 's' ? 's' : q[0] == 'q' ? 'f' : 'd';
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
enum sabotage { SAB_NONE, SAB_LOSE, SAB_RESURRECT, SAB_DUP, SAB_ORDER };
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
        if (buf[0] == 'S' && sscanf(buf, "S f %63s", body) == 1 &&
            sscanf(body, "f%u.%lu", &w, &seq) == 2 && seq + 1 > next)
            next = seq + 1;
    }
    fclose(f);
    return next;
}

static void
producer(void)
{
    const struct wdef *d = &W[cur_w];
    lmq_env *env = worker_env();
    lmq_queue *q = worker_queue(env, d->queue);
    int fifo = d->kind == PROD_FIFO;
    unsigned long seq = fifo ? fifo_resume() : 0;
    /* A restarted FIFO producer first repeats up to 10 of its logged sends:
     * inside the deduplication window each must come back a duplicate. */
    unsigned long fresh = seq;
    if (fifo && seq > 0) {
        unsigned long back = 1 + rand_r(&rnd) % 10;
        seq = seq > back ? seq - back : 0;
    }
    char bodies[10][48], groups[10][32], ids[10][8], buf[4096];
    lmq_send_entry e[10];
    lmq_send_result r[10];
    size_t n = d->batch ? 10 : 1;

    while (!flag(&sh->stop_producers)) {
        for (size_t i = 0; i < n; i++, seq++) {
            lmq_send_entry_init(&e[i]);
            if (fifo) {
                snprintf(bodies[i], sizeof bodies[i], "f%d.%lu", cur_w, seq);
                snprintf(groups[i], sizeof groups[i], "g%d.%lu", cur_w,
                         seq % (sabotage == SAB_ORDER ? 2 : 3));
                e[i].group_id = groups[i];
                e[i].dedup_id = bodies[i];
            } else {
                snprintf(bodies[i], sizeof bodies[i], "%c%d.%d.%lu",
                         qchar(d->queue), cur_w, cur_inc, seq);
            }
            snprintf(ids[i], sizeof ids[i], "e%u", (unsigned)(i % 10));
            e[i].id = d->batch ? ids[i] : NULL;
            e[i].body = bodies[i];
        }
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
            if (fifo && sscanf(bodies[i], "f%u.%lu", &ww, &sq) == 2 &&
                sq < fresh && !r[i].duplicate) {
                fprintf(stderr,
                        "torture: worker %d: %s sent again and not "
                        "deduplicated\n",
                        cur_w, bodies[i]);
                _exit(7);
            }
            line(buf, sizeof buf, &len, 'S', d->queue, bodies[i],
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

static pid_t pids[NW];
static int incs[NW]; /* incarnations so far; the last one is incs[w] - 1 */
static uint64_t seen_progress[NW];
static uint64_t seen_at[NW];
static unsigned seed;
static int stuck_s = 20;

static void
start_worker(int w)
{
    fflush(stdout);
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
    seen_at[w] = now_ns();
}

static void
check_status(int w, int st)
{
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        failure("worker %d (inc %d) ended with status 0x%x", w, incs[w] - 1,
                st);
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
    return W[w].kind == PROD || W[w].kind == PROD_FIFO || W[w].kind == MOVER;
}

static int
is_consumer(int w)
{
    return !is_producer(w);
}

static lmq_env *
super_env(void)
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
    if (rc != 0) {
        fprintf(stderr, "torture: setup: %s\n", lmq_errmsg());
        exit(2);
    }
    json_t *p = json_pack("{s:s, s:i}", "deadLetterTargetArn",
                          lmq_map_get(da, "QueueArn"), "maxReceiveCount", 1000);
    char *pol = json_dumps(p, JSON_COMPACT);
    lmq_map_set(a, "RedrivePolicy", pol);
    rc = lmq_queue_create(env, "std", a, NULL, NULL);
    free(pol);
    json_decref(p);
    lmq_map_free(da);
    lmq_map_del(a, "RedrivePolicy");
    lmq_map_set(a, "FifoQueue", "true");
    if (rc == 0)
        rc = lmq_queue_create(env, "q.fifo", a, NULL, NULL);
    if (rc != 0) {
        fprintf(stderr, "torture: setup: %s\n", lmq_errmsg());
        exit(2);
    }
    lmq_map_free(a);
    lmq_env_close(env);
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

struct qstat {
    const char *name;
    size_t drained;
};

/* After settling: counters against a drain of everything left. */
static void
settle_and_drain(struct qstat *qs, size_t nq, lmq_queue_metrics *mets)
{
    lmq_env *env = super_env();
    int rc = lmq_env_clock_advance(env, 3600 * 1000, NULL);
    if (rc != 0)
        failure("lmq_env_clock_advance: %s", lmq_err_name(rc));
    for (size_t i = 0; i < nq; i++) {
        lmq_queue_metrics before = {.size = sizeof before};
        lmq_map *attrs;
        const char *names[] = {"ApproximateNumberOfMessages",
                               "ApproximateNumberOfMessagesNotVisible",
                               "ApproximateNumberOfMessagesDelayed", NULL};
        lmq_queue *q;
        if ((rc = lmq_queue_metrics_get(env, qs[i].name, &before)) != 0 ||
            (rc = lmq_queue_get_attributes(env, qs[i].name, names, &attrs)) !=
                0 ||
            (rc = lmq_queue_open(env, qs[i].name, &q)) != 0) {
            failure("%s: %s", qs[i].name, lmq_errmsg());
            continue;
        }
        long long approx =
            atoll(lmq_map_get(attrs, "ApproximateNumberOfMessages"));
        long long approx_nv =
            atoll(lmq_map_get(attrs, "ApproximateNumberOfMessagesNotVisible"));
        lmq_map_free(attrs);
        for (;;) {
            lmq_recv_opts o;
            lmq_msg *m[10];
            size_t n;
            lmq_recv_opts_init(&o);
            o.max_messages = 10;
            o.visibility_timeout = 43200;
            if ((rc = lmq_receive(q, &o, m, 10, &n)) != 0) {
                failure("drain %s: %s", qs[i].name, lmq_errmsg());
                break;
            }
            if (n == 0)
                break;
            for (size_t j = 0; j < n; j++) {
                struct ev *e = new_ev();
                e->type = 'Z';
                e->q = qchar(qs[i].name);
                snprintf(e->body, sizeof e->body, "%s",
                         lmq_msg_body(m[j], NULL));
                snprintf(e->id, sizeof e->id, "%s", lmq_msg_id(m[j]));
                e->rc = lmq_msg_receive_count(m[j]);
                e->ns = now_ns();
                e->w = -1;
                int del = 0;
                if ((rc = lmq_delete(q, lmq_msg_receipt(m[j]), &del)) != 0 ||
                    !del)
                    failure("drain %s: delete: %s", qs[i].name,
                            lmq_err_name(rc));
                lmq_msg_free(m[j]);
                qs[i].drained++;
            }
        }
        lmq_queue_close(q);
        if (approx != (long long)qs[i].drained || approx_nv != 0)
            failure("%s: ApproximateNumberOfMessages %lld (not visible %lld),"
                    " but %zu messages were left",
                    qs[i].name, approx, approx_nv, qs[i].drained);
        if (before.visible + before.not_visible + before.delayed !=
            (int64_t)qs[i].drained)
            failure("%s: metrics say %lld visible, %lld not visible, %lld "
                    "delayed, but %zu messages were left",
                    qs[i].name, (long long)before.visible,
                    (long long)before.not_visible, (long long)before.delayed,
                    qs[i].drained);
        mets[i].size = sizeof mets[i];
        if ((rc = lmq_queue_metrics_get(env, qs[i].name, &mets[i])) != 0)
            failure("%s: metrics: %s", qs[i].name, lmq_err_name(rc));
        else if (mets[i].visible || mets[i].not_visible || mets[i].delayed)
            failure("%s: metrics not zero after the drain", qs[i].name);
    }
    lmq_env_close(env);
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
    size_t ids[3];    /* distinct message ids seen per queue s, f, d */
};

static int
qidx(char q)
{
    return q == 's' ? 0 : q == 'f' ? 1 : 2;
}

/* Check one body's events (sorted by time). */
static void
check_body(struct ev *e, size_t n, struct totals *t, struct firstdel *fd,
           size_t *nfd)
{
    int acked = 0, deleted = 0, handled = 0, left = 0, doubt = 0;
    unsigned del_rc = 0;
    const char *del_id = NULL;
    uint64_t first = 0;
    char ids[3][40] = {{0}};
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
        if (k == 0 && e[0].body[0] == 'd' && !ids[k][0])
            t->moved++;
        if (!ids[k][0]) {
            snprintf(ids[k], sizeof ids[k], "%s", x->id);
            t->ids[k]++;
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
check(struct qstat *qs, lmq_queue_metrics *mets, struct totals *t)
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
                    qs[k].name, (unsigned long long)mets[k].sent, t->ids[k]);
    }
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
    while ((c = getopt(argc, argv, "k:s:m:t:i:j:d:X:")) != -1) {
        switch (c) {
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
        stuck_s < 1)
        goto usage;
    snprintf(dir, sizeof dir, "%s", argv[optind]);
    snprintf(home, sizeof home, "%s/home", dir);
    setvbuf(stdout, NULL, _IOLBF, 0);

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
    for (int w = 0; w < NW; w++)
        start_worker(w);

    /* The storm. */
    int done = 0;
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
        if (pids[w] <= 0)
            continue;
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
    uint64_t t_storm = now_ns();

    /* Stop producers and the mover, let the consumers drain. */
    __atomic_store_n(&sh->stop_producers, 1, __ATOMIC_RELAXED);
    wait_workers(is_producer, 30);
    {
        uint64_t end = now_ns() + 30000000000ull;
        while (now_ns() < end) {
            /* a consumer killed last needs VIS_SECONDS to give back */
            int empty = 1;
            watch();
            /* no more forks: the supervisor may open the home now */
            lmq_env *env = super_env();
            const char *qn[] = {"std", "q.fifo"};
            for (int i = 0; i < 2; i++) {
                lmq_queue_metrics m = {.size = sizeof m};
                if (lmq_queue_metrics_get(env, qn[i], &m) == 0 &&
                    m.visible + m.not_visible + m.delayed > 0)
                    empty = 0;
            }
            lmq_env_close(env);
            if (empty)
                break;
            usleep(200000);
        }
    }
    __atomic_store_n(&sh->stop_consumers, 1, __ATOMIC_RELAXED);
    wait_workers(is_consumer, 30);
    uint64_t t_drained = now_ns();

    struct qstat qs[3] = {{"std", 0}, {"q.fifo", 0}, {"dlq", 0}};
    lmq_queue_metrics mets[3];
    memset(mets, 0, sizeof mets);
    settle_and_drain(qs, 3, mets);
    size_t torn = 0;
    read_logs(&torn);
    struct totals t;
    memset(&t, 0, sizeof t);
    check(qs, mets, &t);
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
    free(evs);
    return failures ? 1 : 0;
usage:
    fprintf(stderr, "usage: torture [-k KILLS] [-s SEED] [-m pwrite|writable]"
                    " [-t STUCK_S] [-i MIN_MS] [-j MAX_MS]\n"
                    "               [-d MIN_STORM_MS]"
                    " [-X lose|resurrect|dup|order] DIR\n");
    return 2;
}
