/*
 * iofail_work.c: the workload of check_iofail (issue 27), run under the
 * iofail.c interposer, and the check of its home afterwards.
 *
 *   iofail_work run HOME LOG full|periodic|none pwrite|writable ROUNDS
 *   iofail_work check HOME LOG
 *   iofail_work runcheck HOME LOG full|periodic|none pwrite|writable ROUNDS
 *
 * `run` creates HOME and does ROUNDS rounds of: send single and batch
 * (standard and FIFO), receive, delete single and batch, change visibility,
 * create a queue, send to it, purge it, delete it; then lmq_env_sync() (in
 * `full` a checkpoint) and close. It goes on after errors. Into LOG it
 * writes what it was told: "ok OP ARGS" for acknowledged operations,
 * "maybe OP ARGS" for failed ones (an operation that failed with an I/O
 * error may or may not have taken effect, like a timeout), and "bad ..."
 * for a broken promise it saw itself:
 *  - the operation during which the interposer failed a call returned
 *    success (allowed only where the failed call cannot matter; see
 *    irrelevant() below), or an error other than LMQ_EIO/LMQ_ENOSPC;
 *  - after a failed flush (fsync, fdatasync, msync), a write succeeded:
 *    the handle must refuse writes until the home is reopened.
 * Its exit status is 0 unless it crashed.
 *
 * `check` opens HOME without faults, as a new process, and checks it
 * against LOG: every acknowledged send present unless acknowledged as
 * deleted or purged, nothing acknowledged as deleted back, nothing present
 * that was never sent, queues acknowledged as created present and as
 * deleted gone, the counters equal to the messages; then it sends,
 * receives and deletes on every queue. Exit status 0 when all holds, 1
 * with the reasons on stderr.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lmq.h"

static FILE *logf;
static long (*io_count)(void);
static int (*io_failed)(void);
static const char *(*io_what)(void);
static bool poisoned; /* a flush failed: writes must fail from now on */
static int failures;

static void
lg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(logf, fmt, ap);
    va_end(ap);
    fputc('\n', logf);
    fflush(logf);
}

static bool
flush_call(const char *what)
{
    return strncmp(what, "fsync ", 6) == 0 ||
           strncmp(what, "fdatasync ", 10) == 0 ||
           strncmp(what, "msync ", 6) == 0;
}

/* A failed call that an operation may succeed despite: a flush of the data
 * file (fdatasync, or msync of the writable map) is a checkpoint's or the
 * periodic flusher's, after the operation's own commit was made durable
 * (`full`: its record in the log was flushed) or promised nothing more
 * (`periodic`, `none`); the handle refuses every later write (checked via
 * `poisoned`). A failed write or flush of the log, a failed write of the
 * data file, a failed open, map or resize must fail the operation. A
 * failed reservation of blocks (fallocate) may pass too. */
static bool
irrelevant(const char *what)
{
    return strncmp(what, "msync ", 6) == 0 ||
           (flush_call(what) && strstr(what, "/data.mdb")) ||
           /* Reserving blocks ahead (docs/DURABILITY.md, "Full disks and
            * limits"): nothing is written yet; the write that needs the
            * blocks fails when they are missing. */
           strncmp(what, "posix_fallocate ", 16) == 0 ||
           strncmp(what, "fallocate ", 10) == 0;
}

/* Book-keeping around one operation: was the failure injected during it?
 * Returns true when the op is to be treated as acknowledged. */
struct op {
    int before;
    bool write;
};

static struct op
op_start(bool write)
{
    struct op o = {.before = io_failed ? io_failed() : 0, .write = write};
    return o;
}

static bool
op_end(struct op o, int rc, const char *name)
{
    bool now = io_failed && io_failed() && !o.before;
    const char *what = now ? io_what() : "";
    if (now && rc == 0 && !irrelevant(what)) {
        lg("bad %s succeeded although %s failed", name, what);
    }
    if (now && rc != 0 && rc != LMQ_EIO && rc != LMQ_ENOSPC)
        lg("bad %s failed with %s (%s) when %s failed", name,
           lmq_err_name(rc), lmq_errmsg(), what);
    if (o.write && poisoned && rc == 0)
        lg("bad %s succeeded after a failed flush", name);
    if (o.write && poisoned && rc != 0 && rc != LMQ_EIO)
        lg("bad %s after a failed flush: %s, not LMQ_EIO", name,
           lmq_err_name(rc));
    if (now && flush_call(what))
        poisoned = true;
    if (rc != 0)
        lg("err %s %s %s", name, lmq_err_name(rc), lmq_errmsg());
    return rc == 0;
}

static lmq_queue *
qopen(lmq_env *env, const char *name)
{
    lmq_queue *q = NULL;
    struct op o = op_start(false);
    int rc = lmq_queue_open(env, name, &q);
    if (rc == LMQ_ENOQUEUE)
        return NULL;
    op_end(o, rc, "open-queue");
    return rc == 0 ? q : NULL;
}

static void
qcreate(lmq_env *env, const char *name, bool fifo)
{
    lmq_map *a = lmq_map_new();
    if (fifo)
        lmq_map_set(a, "FifoQueue", "true");
    struct op o = op_start(true);
    int rc = lmq_queue_create(env, name, a, NULL, NULL);
    lg("%s qcreate %s", op_end(o, rc, "create") ? "ok" : "maybe", name);
    lmq_map_free(a);
}

static void
send1(lmq_queue *q, const char *qn, const char *body)
{
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = body;
    if (lmq_queue_is_fifo(q)) {
        e.group_id = "g";
        e.dedup_id = body;
    }
    struct op o = op_start(true);
    int rc = lmq_send(q, &e, NULL);
    lg("%s send %s %s", op_end(o, rc, "send") ? "ok" : "maybe", qn, body);
}

static void
sendn(lmq_queue *q, const char *qn, const char *prefix, int n)
{
    lmq_send_entry e[10];
    lmq_send_result r[10];
    char bodies[10][64], ids[10][8];
    for (int i = 0; i < n; i++) {
        lmq_send_entry_init(&e[i]);
        snprintf(bodies[i], sizeof bodies[i], "%s-%d", prefix, i);
        snprintf(ids[i], sizeof ids[i], "e%d", i);
        e[i].id = ids[i];
        e[i].body = bodies[i];
        if (lmq_queue_is_fifo(q)) {
            e[i].group_id = "g";
            e[i].dedup_id = bodies[i];
        }
    }
    struct op o = op_start(true);
    int rc = lmq_send_batch(q, e, (size_t)n, r);
    for (int i = 0; rc == 0 && i < n; i++)
        if (r[i].err)
            rc = r[i].err;
    bool ok = op_end(o, rc, "send-batch");
    for (int i = 0; i < n; i++)
        lg("%s send %s %s", ok || (rc == 0 && !r[i].err) ? "ok" : "maybe", qn,
           bodies[i]);
}

static size_t
recv(lmq_queue *q, lmq_msg **m, int vis)
{
    lmq_recv_opts ro;
    lmq_recv_opts_init(&ro);
    ro.max_messages = 10;
    ro.visibility_timeout = vis;
    size_t n = 0;
    struct op o = op_start(true);
    int rc = lmq_receive(q, &ro, m, 10, &n);
    op_end(o, rc, "receive");
    return rc == 0 ? n : 0;
}

static void
del1(lmq_queue *q, const char *qn, lmq_msg *m)
{
    struct op o = op_start(true);
    int rc = lmq_delete(q, lmq_msg_receipt(m), NULL);
    lg("%s del %s %s", op_end(o, rc, "delete") ? "ok" : "maybe", qn,
       lmq_msg_body(m, NULL));
}

static void
deln(lmq_queue *q, const char *qn, lmq_msg **m, size_t n)
{
    lmq_handle_entry e[10];
    lmq_batch_result r[10];
    char ids[10][8];
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "d%zu", i);
        e[i].id = ids[i];
        e[i].receipt = lmq_msg_receipt(m[i]);
        e[i].timeout_seconds = 0;
    }
    struct op o = op_start(true);
    int rc = lmq_delete_batch(q, e, n, r);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (r[i].err)
            rc = r[i].err;
    bool ok = op_end(o, rc, "delete-batch");
    for (size_t i = 0; i < n; i++)
        lg("%s del %s %s", ok ? "ok" : "maybe", qn, lmq_msg_body(m[i], NULL));
}

static void
chvis(lmq_queue *q, lmq_msg *m)
{
    struct op o = op_start(true);
    int rc = lmq_change_visibility(q, lmq_msg_receipt(m), 0, NULL);
    op_end(o, rc, "change-visibility");
}

static void
round_of(lmq_env *env, int r)
{
    char b[64];
    lmq_queue *a = qopen(env, "a"), *f = qopen(env, "f.fifo");
    if (a) {
        snprintf(b, sizeof b, "a%d-s", r);
        send1(a, "a", b);
        snprintf(b, sizeof b, "a%d-b", r);
        sendn(a, "a", b, 4);
        lmq_msg *m[10];
        size_t n = recv(a, m, 600);
        if (n > 0)
            del1(a, "a", m[0]);
        if (n > 2)
            deln(a, "a", m + 1, 2);
        if (n > 3)
            chvis(a, m[3]);
        for (size_t i = 0; i < n; i++)
            lmq_msg_free(m[i]);
    }
    if (f) {
        snprintf(b, sizeof b, "f%d-s", r);
        send1(f, "f.fifo", b);
        snprintf(b, sizeof b, "f%d-b", r);
        sendn(f, "f.fifo", b, 2);
        lmq_msg *m[10];
        size_t n = recv(f, m, 600);
        if (n > 0)
            del1(f, "f.fifo", m[0]);
        if (n > 1)
            chvis(f, m[1]);
        for (size_t i = 0; i < n; i++)
            lmq_msg_free(m[i]);
    }
    lmq_queue_close(a);
    lmq_queue_close(f);
    char tn[32];
    snprintf(tn, sizeof tn, "t%d", r);
    qcreate(env, tn, false);
    lmq_queue *t = qopen(env, tn);
    if (t) {
        send1(t, tn, "t-1");
        lmq_queue_close(t);
        struct op o = op_start(true);
        int rc = lmq_queue_purge(env, tn);
        lg("%s purge %s", op_end(o, rc, "purge") ? "ok" : "maybe", tn);
    }
    struct op o = op_start(true);
    int rc = lmq_queue_delete(env, tn);
    lg("%s qdel %s", op_end(o, rc, "delete-queue") ? "ok" : "maybe", tn);
}

static int
run(const char *home, const char *mode, const char *map, int rounds)
{
    io_count = (long (*)(void))dlsym(RTLD_DEFAULT, "iofail_count");
    io_failed = (int (*)(void))dlsym(RTLD_DEFAULT, "iofail_failed");
    io_what = (const char *(*)(void))dlsym(RTLD_DEFAULT, "iofail_what");
    lmq_env_opts eo;
    lmq_env_opts_init(&eo);
    eo.durability = strcmp(mode, "full") == 0       ? LMQ_DURABILITY_FULL
                    : strcmp(mode, "periodic") == 0 ? LMQ_DURABILITY_PERIODIC
                                                    : LMQ_DURABILITY_NONE;
    eo.map_mode =
        strcmp(map, "writable") == 0 ? LMQ_MAP_WRITABLE : LMQ_MAP_PWRITE;
    eo.map_size = 1u << 20; /* small: the writable map is the file */
    lmq_env *env = NULL;
    struct op o = op_start(false);
    int rc = lmq_env_open(home, &eo, &env);
    if (!op_end(o, rc, "open"))
        return 0;
    lg("ok open");
    qcreate(env, "a", false);
    qcreate(env, "f.fifo", true);
    for (int r = 0; r < rounds; r++)
        round_of(env, r);
    o = op_start(true);
    rc = lmq_env_sync(env);
    op_end(o, rc, "sync");
    /* lmq_env_close() has no result: a failure in it (its checkpoint or
     * flush) is not reported, and the next open finds the log as before. */
    lmq_env_close(env);
    return 0;
}

/* ---- check --------------------------------------------------------------- */

#define MAXE 4096
static struct ent {
    char kind[8], op[8], q[32], body[64];
} ents[MAXE];
static size_t nents;

static void
fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("iofail_work check: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    failures++;
}

static bool
logged(const char *kind, const char *op, const char *q, const char *body)
{
    for (size_t i = 0; i < nents; i++)
        if ((!kind || strcmp(ents[i].kind, kind) == 0) &&
            strcmp(ents[i].op, op) == 0 && strcmp(ents[i].q, q) == 0 &&
            (!body || strcmp(ents[i].body, body) == 0))
            return true;
    return false;
}

/* Every message of queue qn, peeked (in flight and delayed too). */
static bool
contents(lmq_env *env, const char *qn, lmq_msg ***m, size_t *n)
{
    lmq_peek_opts po;
    lmq_peek_opts_init(&po);
    po.show_inflight = po.show_delayed = 1;
    int rc = lmq_queue_peek(env, qn, &po, m, n);
    if (rc != 0) {
        fail("peek %s: %s (%s)", qn, lmq_err_name(rc), lmq_errmsg());
        return false;
    }
    return true;
}

static long long
counters(lmq_env *env, const char *qn)
{
    const char *names[] = {"ApproximateNumberOfMessages",
                           "ApproximateNumberOfMessagesNotVisible",
                           "ApproximateNumberOfMessagesDelayed", NULL};
    lmq_map *at;
    int rc = lmq_queue_get_attributes(env, qn, names, &at);
    if (rc != 0) {
        fail("attributes of %s: %s", qn, lmq_err_name(rc));
        return -1;
    }
    long long s = 0;
    for (int i = 0; names[i]; i++)
        s += atoll(lmq_map_get(at, names[i]));
    lmq_map_free(at);
    return s;
}

/* The messages of qn against the log (all: else only the counters). */
static void
check_queue(lmq_env *env, const char *qn, bool all)
{
    lmq_msg **m = NULL;
    size_t n = 0;
    if (!contents(env, qn, &m, &n))
        return;
    for (size_t i = 0; !all && i < nents; i++)
        ents[i].kind[0] = '\0'; /* after use_queue: counters only */
    bool purged = logged("ok", "purge", qn, NULL);
    for (size_t i = 0; i < n; i++) {
        const char *b = lmq_msg_body(m[i], NULL);
        if (!logged(NULL, "send", qn, b))
            fail("%s: message %s was never sent", qn, b);
        if (logged("ok", "del", qn, b))
            fail("%s: message %s was deleted and is back", qn, b);
        if (purged)
            fail("%s: message %s is back after a purge", qn, b);
    }
    for (size_t i = 0; i < nents; i++) {
        struct ent *e = &ents[i];
        if (strcmp(e->kind, "ok") || strcmp(e->op, "send") ||
            strcmp(e->q, qn) || logged(NULL, "del", qn, e->body) ||
            logged(NULL, "purge", qn, NULL))
            continue;
        bool found = false;
        for (size_t j = 0; j < n && !found; j++)
            found = strcmp(lmq_msg_body(m[j], NULL), e->body) == 0;
        if (!found)
            fail("%s: acknowledged message %s is lost", qn, e->body);
        for (size_t j = 0, seen = 0; j < n; j++)
            if (strcmp(lmq_msg_body(m[j], NULL), e->body) == 0 && ++seen == 2)
                fail("%s: message %s is there twice", qn, e->body);
    }
    long long c = counters(env, qn);
    if (c >= 0 && c != (long long)n)
        fail("%s: counters say %lld messages, %zu are there", qn, c, n);
    lmq_msg_list_free(m, n);
}

/* The home keeps working: send, receive (everything visible) and delete. */
static void
use_queue(lmq_env *env, const char *qn)
{
    lmq_queue *q;
    int rc = lmq_queue_open(env, qn, &q);
    if (rc != 0) {
        fail("open %s: %s", qn, lmq_err_name(rc));
        return;
    }
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = "after";
    e.group_id = lmq_queue_is_fifo(q) ? "h" : NULL;
    char dd[32];
    snprintf(dd, sizeof dd, "after-%ld", (long)getpid());
    e.dedup_id = lmq_queue_is_fifo(q) ? dd : NULL;
    if ((rc = lmq_send(q, &e, NULL)) != 0)
        fail("send to %s: %s (%s)", qn, lmq_err_name(rc), lmq_errmsg());
    bool got = false;
    for (int tries = 0; tries < 100 && !got; tries++) {
        lmq_recv_opts ro;
        lmq_recv_opts_init(&ro);
        ro.max_messages = 10;
        lmq_msg *m[10];
        size_t n;
        if ((rc = lmq_receive(q, &ro, m, 10, &n)) != 0) {
            fail("receive %s: %s (%s)", qn, lmq_err_name(rc), lmq_errmsg());
            break;
        }
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            got |= strcmp(lmq_msg_body(m[i], NULL), "after") == 0;
            int d = 0;
            if ((rc = lmq_delete(q, lmq_msg_receipt(m[i]), &d)) != 0 || !d)
                fail("delete in %s: %s", qn, lmq_err_name(rc));
            lmq_msg_free(m[i]);
        }
    }
    if (!got)
        fail("%s: the message sent after reopening was not received", qn);
    lmq_queue_close(q);
}

static int
check(const char *home, const char *logpath)
{
    FILE *in = fopen(logpath, "r");
    if (!in) {
        fail("cannot read %s", logpath);
        return 1;
    }
    char line[512];
    bool opened = false;
    while (fgets(line, sizeof line, in) && nents < MAXE) {
        struct ent *e = &ents[nents];
        e->q[0] = e->body[0] = '\0';
        if (strncmp(line, "bad ", 4) == 0) {
            fail("run: %s", line + 4);
            continue;
        }
        if (sscanf(line, "%7s %7s %31s %63s", e->kind, e->op, e->q, e->body) <
            2)
            continue;
        if (strcmp(e->kind, "ok") == 0 && strcmp(e->op, "open") == 0)
            opened = true;
        if (strcmp(e->kind, "ok") == 0 || strcmp(e->kind, "maybe") == 0)
            nents++;
    }
    fclose(in);
    lmq_env_opts eo;
    lmq_env_opts_init(&eo);
    eo.durability = LMQ_DURABILITY_NONE;
    lmq_env *env;
    int rc = lmq_env_open(home, &eo, &env);
    if (rc != 0) {
        fail("open: %s (%s)", lmq_err_name(rc), lmq_errmsg());
        return 1;
    }
    char **names = NULL;
    size_t nn = 0;
    if ((rc = lmq_queue_list(env, NULL, 0, NULL, &names, NULL)) != 0) {
        fail("list: %s", lmq_err_name(rc));
        lmq_env_close(env);
        return 1;
    }
    for (nn = 0; names[nn]; nn++)
        ;
    /* queues: acknowledged creates present, acknowledged deletes gone,
     * nothing that was never created */
    for (size_t i = 0; i < nents; i++) {
        if (strcmp(ents[i].op, "qcreate") || strcmp(ents[i].kind, "ok"))
            continue;
        bool there = false;
        for (size_t j = 0; j < nn; j++)
            there |= strcmp(names[j], ents[i].q) == 0;
        bool deleted = logged(NULL, "qdel", ents[i].q, NULL);
        if (!there && !deleted)
            fail("queue %s was created and is lost", ents[i].q);
    }
    for (size_t j = 0; j < nn; j++) {
        if (!logged(NULL, "qcreate", names[j], NULL))
            fail("queue %s was never created", names[j]);
        if (logged("ok", "qdel", names[j], NULL))
            fail("queue %s was deleted and is back", names[j]);
        check_queue(env, names[j], true);
    }
    for (size_t j = 0; j < nn; j++) {
        use_queue(env, names[j]);
        check_queue(env, names[j], false);
    }
    if (!opened && nn > 0)
        fail("queues in a home whose open failed");
    lmq_strv_free(names);
    /* and a new queue works */
    lmq_map *a = lmq_map_new();
    if ((rc = lmq_queue_create(env, "fresh", a, NULL, NULL)) != 0)
        fail("create a queue: %s (%s)", lmq_err_name(rc), lmq_errmsg());
    else
        use_queue(env, "fresh");
    lmq_map_free(a);
    lmq_env_close(env);
    return failures ? 1 : 0;
}

/* run, then check in a child forked with the interposer off (a new
 * process: the run's env is closed; saves an exec per run). Exit status:
 * the check's (0 or 1); a crash of the run is its signal. */
static int
runcheck(char **argv)
{
    logf = fopen(argv[3], "w");
    if (!logf)
        return 2;
    run(argv[2], argv[4], argv[5], atoi(argv[6]));
    fclose(logf);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        void (*off)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "iofail_off");
        if (off)
            off();
        fflush(NULL);
        _exit(check(argv[2], argv[3])); /* no destructors: the report */
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
}

int
main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "runcheck") == 0)
        return runcheck(argv);
    if (argc == 7 && strcmp(argv[1], "run") == 0) {
        logf = fopen(argv[3], "w");
        if (!logf)
            return 2;
        int rc = run(argv[2], argv[4], argv[5], atoi(argv[6]));
        fclose(logf);
        return rc;
    }
    if (argc == 4 && strcmp(argv[1], "check") == 0)
        return check(argv[2], argv[3]);
    fprintf(stderr, "usage: iofail_work run|runcheck HOME LOG "
                    "full|periodic|none pwrite|writable ROUNDS\n"
                    "       iofail_work check HOME LOG\n");
    return 2;
}
