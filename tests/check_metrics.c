/*
 * check_metrics.c: CloudWatch-style queue metrics (lib/metrics.c,
 * docs/METRICS.md): what each total counts, that a long poll counts one
 * empty receive, that DLQ moves are not sends and redrives are, that the
 * totals are exact with several processes at once and after a SIGKILL, the
 * per-minute history and its trimming, and that older queue records decode.
 *
 * Children open their own env after fork (never the parent's), report
 * through a pipe, and _exit(). The clock is the shared test clock file
 * (lmq_test.c), so the parent moves it for everyone.
 */
#include "lmq_test.h"
#include "core.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static lmq_env *env;

static void
setup(void)
{
    lmq_test_tmp_setup();
    lmq_test_clock_setup();
    env = lmq_test_env();
}

static void
teardown(void)
{
    lmq_env_close(env);
    env = NULL;
    lmq_test_tmp_teardown();
}

static lmq_queue *
mkq(const char *name, const char *k1, const char *v1)
{
    lmq_map *a = lmq_map_new();
    lmq_queue *q;
    ck_assert_ptr_nonnull(a);
    size_t l = strlen(name);
    if (l > 5 && strcmp(name + l - 5, ".fifo") == 0)
        ck_ok(lmq_map_set(a, "FifoQueue", "true"));
    if (k1)
        ck_ok(lmq_map_set(a, k1, v1));
    ck_ok(lmq_queue_create(env, name, a, NULL, NULL));
    lmq_map_free(a);
    ck_ok(lmq_queue_open(env, name, &q));
    return q;
}

static lmq_queue_metrics
metrics(lmq_env *e, const char *name)
{
    lmq_queue_metrics m;
    memset(&m, 0xa5, sizeof m);
    m.size = sizeof m;
    ck_ok(lmq_queue_metrics_get(e, name, &m));
    ck_assert_uint_eq(m.size, sizeof m);
    return m;
}

static void
send1(lmq_queue *q, const char *body)
{
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = body;
    ck_ok(lmq_send(q, &e, NULL));
}

/* Receive up to max with the given wait; returns the count, deletes them
 * when del. */
static size_t
recv_n(lmq_queue *q, int max, int wait, bool del)
{
    lmq_recv_opts o;
    lmq_msg *m[10];
    size_t n = 0;
    lmq_recv_opts_init(&o);
    o.max_messages = max;
    o.wait_seconds = wait;
    ck_ok(lmq_receive(q, &o, m, 10, &n));
    for (size_t i = 0; i < n; i++) {
        int deleted = 0;
        if (del) {
            ck_ok(lmq_delete(q, lmq_msg_receipt(m[i]), &deleted));
            ck_assert_int_eq(deleted, 1);
        }
        lmq_msg_free(m[i]);
    }
    return n;
}

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- what counts ------------------------------------------------------------ */

START_TEST(test_totals_standard)
{
    lmq_queue *q = mkq("std", NULL, NULL);
    lmq_queue_metrics m = metrics(env, "std");
    ck_assert_uint_eq(m.sent, 0);
    ck_assert_uint_eq(m.received, 0);
    ck_assert_int_eq(m.visible, 0);
    ck_assert_int_eq(m.oldest_age_ms, 0);

    /* One send with an attribute: SentMessageSize is body + name + DataType
     * + value = 5 + 1 + 6 + 2. */
    lmq_mattrs *a = lmq_mattrs_new();
    ck_ok(lmq_mattrs_add(a, "a", "String", "xy", 2));
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = "hello";
    e.attrs = a;
    ck_ok(lmq_send(q, &e, NULL));
    lmq_mattrs_free(a);
    /* A batch of three, one of them delayed. */
    lmq_send_entry b[3];
    lmq_send_result res[3];
    const char *ids[] = {"a", "b", "c"}, *bodies[] = {"1", "22", "333"};
    for (int i = 0; i < 3; i++) {
        lmq_send_entry_init(&b[i]);
        b[i].id = ids[i];
        b[i].body = bodies[i];
    }
    b[2].delay_seconds = 60;
    ck_ok(lmq_send_batch(q, b, 3, res));
    /* A rejected send is not counted. */
    lmq_send_entry_init(&e);
    e.body = "";
    ck_assert_int_ne(lmq_send(q, &e, NULL), 0);

    lmq_test_clock_advance(1500);
    m = metrics(env, "std");
    ck_assert_uint_eq(m.sent, 4);
    ck_assert_uint_eq(m.sent_bytes, 14 + 1 + 2 + 3);
    ck_assert_int_eq(m.visible, 3);
    ck_assert_int_eq(m.delayed, 1);
    ck_assert_int_eq(m.not_visible, 0);
    ck_assert_int_eq(m.oldest_age_ms, 1500);

    /* Receive two, delete one; an old handle deleted again counts once. */
    lmq_recv_opts o;
    lmq_msg *msgs[10];
    size_t n;
    lmq_recv_opts_init(&o);
    o.max_messages = 2;
    o.wait_seconds = 0;
    ck_ok(lmq_receive(q, &o, msgs, 10, &n));
    ck_assert_uint_eq(n, 2);
    int deleted;
    ck_ok(lmq_delete(q, lmq_msg_receipt(msgs[0]), &deleted));
    ck_assert_int_eq(deleted, 1);
    ck_ok(lmq_delete(q, lmq_msg_receipt(msgs[0]), &deleted));
    ck_assert_int_eq(deleted, 0);
    /* A visibility change is neither. */
    int changed;
    ck_ok(lmq_change_visibility(q, lmq_msg_receipt(msgs[1]), 0, &changed));
    ck_assert_int_eq(changed, 1);
    lmq_msg_free(msgs[0]);
    lmq_msg_free(msgs[1]);
    m = metrics(env, "std");
    ck_assert_uint_eq(m.received, 2);
    ck_assert_uint_eq(m.deleted, 1);
    ck_assert_uint_eq(m.empty_receives, 0);
    ck_assert_int_eq(m.visible, 2);

    /* Drain: 2 received and deleted, then empty receives. */
    ck_assert_uint_eq(recv_n(q, 10, 0, true), 2);
    ck_assert_uint_eq(recv_n(q, 10, 0, true), 0);
    ck_assert_uint_eq(recv_n(q, 1, 0, true), 0);
    m = metrics(env, "std");
    ck_assert_uint_eq(m.received, 4);
    ck_assert_uint_eq(m.deleted, 3);
    ck_assert_uint_eq(m.empty_receives, 2);
    ck_assert_int_eq(m.visible, 0);
    ck_assert_int_eq(m.delayed, 1);

    /* Purge keeps the totals (the gauges go to 0). */
    ck_ok(lmq_queue_purge(env, "std"));
    m = metrics(env, "std");
    ck_assert_uint_eq(m.sent, 4);
    ck_assert_uint_eq(m.deleted, 3);
    ck_assert_int_eq(m.delayed, 0);

    /* Misuse. */
    ck_lmq(lmq_queue_metrics_get(env, "nope", &m), LMQ_ENOQUEUE);
    ck_lmq(lmq_queue_metrics_get(env, NULL, &m), LMQ_EINVAL);
    ck_lmq(lmq_queue_metrics_get(env, "std", NULL), LMQ_EINVAL);
    m.size = 0;
    ck_lmq(lmq_queue_metrics_get(env, "std", &m), LMQ_EINVAL);
    ck_lmq(lmq_queue_metrics_get(NULL, "std", &m), LMQ_EMISUSE);
    /* An older caller's smaller struct: only its bytes are written. */
    struct {
        lmq_queue_metrics m;
        char guard[8];
    } small;
    memset(&small, 0x5a, sizeof small);
    small.m.size = offsetof(lmq_queue_metrics, received);
    ck_ok(lmq_queue_metrics_get(env, "std", &small.m));
    ck_assert_uint_eq(small.m.sent, 4);
    ck_assert_uint_eq(small.m.size, offsetof(lmq_queue_metrics, received));
    ck_assert_int_eq((unsigned char)((char *)&small.m)[offsetof(
                         lmq_queue_metrics, received)],
                     0x5a);
    lmq_queue_close(q);
}
END_TEST

START_TEST(test_totals_fifo)
{
    lmq_queue *q = mkq("f.fifo", NULL, NULL);
    lmq_send_entry e;
    lmq_send_result r;
    lmq_send_entry_init(&e);
    e.body = "abc";
    e.group_id = "g";
    e.dedup_id = "d1";
    ck_ok(lmq_send(q, &e, &r));
    ck_assert_int_eq(r.duplicate, 0);
    /* Deduplicated: not added, not counted (NumberOfMessagesSent counts
     * messages added to the queue). */
    ck_ok(lmq_send(q, &e, &r));
    ck_assert_int_eq(r.duplicate, 1);
    lmq_send_entry b[2];
    lmq_send_result res[2];
    for (int i = 0; i < 2; i++) {
        lmq_send_entry_init(&b[i]);
        b[i].id = i ? "y" : "x";
        b[i].body = "12345";
        b[i].group_id = "g";
        b[i].dedup_id = i ? "d3" : "d1"; /* the first is a duplicate */
    }
    ck_ok(lmq_send_batch(q, b, 2, res));
    ck_assert_int_eq(res[0].duplicate, 1);
    lmq_queue_metrics m = metrics(env, "f.fifo");
    ck_assert_uint_eq(m.sent, 2);
    ck_assert_uint_eq(m.sent_bytes, 3 + 5);
    ck_assert_uint_eq(recv_n(q, 10, 0, true), 2);
    ck_assert_uint_eq(recv_n(q, 10, 0, true), 0);
    m = metrics(env, "f.fifo");
    ck_assert_uint_eq(m.received, 2);
    ck_assert_uint_eq(m.deleted, 2);
    ck_assert_uint_eq(m.empty_receives, 1);
    lmq_queue_close(q);
}
END_TEST

/* A long poll that finds nothing is one empty receive, however many times
 * it looked (the test clock caps its naps at 5 ms: hundreds of looks). */
START_TEST(test_long_poll_counts_once)
{
    lmq_queue *q = mkq("lp", NULL, NULL);
    int64_t t0 = mono_ms();
    ck_assert_uint_eq(recv_n(q, 1, 1, false), 0);
    int64_t took = mono_ms() - t0;
    ck_assert_msg(took >= 900 && took < 5000, "took %lld ms", (long long)took);
    lmq_queue_metrics m = metrics(env, "lp");
    ck_assert_uint_eq(m.empty_receives, 1);

    /* The queue's default wait (1 s) applies when the call gives none. */
    lmq_queue_close(q);
    lmq_map *a = lmq_map_new();
    ck_ok(lmq_map_set(a, "ReceiveMessageWaitTimeSeconds", "1"));
    ck_ok(lmq_queue_set_attributes(env, "lp", a));
    lmq_map_free(a);
    ck_ok(lmq_queue_open(env, "lp", &q));
    ck_assert_uint_eq(recv_n(q, 1, -1, false), 0);
    m = metrics(env, "lp");
    ck_assert_uint_eq(m.empty_receives, 2);

    /* lmq_receive_poll counts only when it does not wait: a server that
     * parks after it makes its last poll with wait 0. */
    lmq_recv_opts o;
    lmq_msg *msgs[10];
    size_t n;
    uint32_t tok;
    int64_t next;
    int ws;
    lmq_recv_opts_init(&o);
    o.wait_seconds = 5;
    for (int i = 0; i < 3; i++) {
        ck_ok(lmq_receive_poll(q, &o, msgs, 10, &n, &tok, &next, &ws));
        ck_assert_uint_eq(n, 0);
        ck_assert_int_eq(ws, 5);
    }
    o.wait_seconds = -1; /* the queue's 1 s */
    ck_ok(lmq_receive_poll(q, &o, msgs, 10, &n, &tok, &next, &ws));
    m = metrics(env, "lp");
    ck_assert_uint_eq(m.empty_receives, 2);
    o.wait_seconds = 0;
    ck_ok(lmq_receive_poll(q, &o, msgs, 10, &n, &tok, &next, &ws));
    m = metrics(env, "lp");
    ck_assert_uint_eq(m.empty_receives, 3);

    /* A long poll that gets a message is not an empty receive. */
    send1(q, "x");
    ck_assert_uint_eq(recv_n(q, 1, 1, false), 1);
    m = metrics(env, "lp");
    ck_assert_uint_eq(m.empty_receives, 3);
    ck_assert_uint_eq(m.received, 1);
    lmq_queue_close(q);
}
END_TEST

static const char *
arn(const char *name)
{
    static char b[2][128];
    static int i;
    char *p = b[i++ & 1];
    snprintf(p, sizeof b[0], "arn:aws:sqs:us-east-1:000000000000:%s", name);
    return p;
}

START_TEST(test_dlq_and_redrive)
{
    char pol[256];
    lmq_queue *d = mkq("dlq", NULL, NULL);
    snprintf(pol, sizeof pol,
             "{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":1}",
             arn("dlq"));
    lmq_queue *s = mkq("src", "RedrivePolicy", pol);
    send1(s, "poison");
    ck_assert_uint_eq(recv_n(s, 1, 0, false), 1);
    lmq_test_clock_advance(31000); /* its visibility runs out */
    /* The next receive moves it to the DLQ instead of delivering it. */
    ck_assert_uint_eq(recv_n(s, 1, 0, false), 0);
    lmq_queue_metrics ms = metrics(env, "src"), md = metrics(env, "dlq");
    ck_assert_uint_eq(ms.sent, 1);
    ck_assert_uint_eq(ms.received, 1);
    ck_assert_uint_eq(ms.deleted, 0);
    ck_assert_uint_eq(ms.empty_receives, 1);
    ck_assert_int_eq(ms.visible, 0);
    ck_assert_uint_eq(md.sent, 0); /* a DLQ move is not a send */
    ck_assert_uint_eq(md.sent_bytes, 0);
    ck_assert_int_eq(md.visible, 1);

    /* A move task's redrive is a send to the destination. */
    char *h = NULL;
    int st;
    ck_ok(lmq_move_task_start(env, arn("dlq"), NULL, 0, &h));
    ck_ok(lmq_move_task_run(env, h, NULL, NULL, &st));
    ck_assert_int_eq(st, LMQ_MOVE_COMPLETED);
    free(h);
    ms = metrics(env, "src");
    md = metrics(env, "dlq");
    ck_assert_uint_eq(ms.sent, 2);
    ck_assert_uint_eq(ms.sent_bytes, 12);
    ck_assert_int_eq(ms.visible, 1);
    ck_assert_uint_eq(md.sent, 0);
    ck_assert_uint_eq(md.deleted, 0);
    ck_assert_int_eq(md.visible, 0);
    lmq_queue_close(s);
    lmq_queue_close(d);
}
END_TEST

/* ---- many processes, and a crash --------------------------------------------- */

enum { PRODUCERS = 2, CONSUMERS = 2, PER_PRODUCER = 200 };

static lmq_queue *
child_open(lmq_env **e, const char *name)
{
    char path[300];
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    o.durability = LMQ_DURABILITY_NONE;
    o.map_size = 64u << 20;
    o.clock = lmq_test_clock;
    snprintf(path, sizeof path, "%s/home", lmq_test_dir);
    lmq_queue *q;
    if (lmq_env_open(path, &o, e) != 0 || lmq_queue_open(*e, name, &q) != 0)
        _exit(90);
    return q;
}

static void
producer(int id)
{
    lmq_env *e;
    lmq_queue *q = child_open(&e, "mp");
    char body[10][32];
    for (int i = 0; i < PER_PRODUCER;) {
        /* Singles and batches of 5, alternating. */
        int k = (i / 5) % 2 ? 5 : 1;
        lmq_send_entry en[5];
        lmq_send_result res[5];
        char ids[5][16];
        for (int j = 0; j < k; j++) {
            lmq_send_entry_init(&en[j]);
            snprintf(body[j], sizeof body[j], "p%d-%04d", id, i + j);
            snprintf(ids[j], sizeof ids[j], "e%d", j);
            en[j].body = body[j];
            en[j].id = k > 1 ? ids[j] : NULL;
        }
        if ((k == 1 ? lmq_send(q, &en[0], NULL)
                    : lmq_send_batch(q, en, (size_t)k, res)) != 0)
            _exit(91);
        i += k;
    }
    lmq_queue_close(q);
    lmq_env_close(e);
    _exit(0);
}

struct tally {
    uint64_t received, deleted, empty;
};

static bool
exists(const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", lmq_test_dir, name);
    return access(path, F_OK) == 0;
}

static void
consumer(int fd)
{
    lmq_env *e;
    lmq_queue *q = child_open(&e, "mp");
    struct tally t = {0, 0, 0};
    lmq_recv_opts o;
    lmq_msg *m[10];
    lmq_recv_opts_init(&o);
    o.max_messages = 7;
    o.wait_seconds = 0;
    int64_t deadline = mono_ms() + 30000;
    for (;;) {
        if (mono_ms() > deadline)
            _exit(92);
        /* Read the flag before the receive: an empty receive after it
         * means nothing is left. */
        bool done = exists("producers-done");
        size_t n = 0;
        if (lmq_receive(q, &o, m, 10, &n) != 0)
            _exit(93);
        if (n == 0) {
            t.empty++;
            if (done)
                break;
            usleep(1000);
            continue;
        }
        t.received += n;
        lmq_handle_entry h[10];
        lmq_batch_result r[10];
        char ids[10][24];
        for (size_t i = 0; i < n; i++) {
            snprintf(ids[i], sizeof ids[i], "h%zu", i);
            h[i].id = ids[i];
            h[i].receipt = lmq_msg_receipt(m[i]);
            h[i].timeout_seconds = 0;
        }
        if (lmq_delete_batch(q, h, n, r) != 0)
            _exit(94);
        for (size_t i = 0; i < n; i++) {
            if (r[i].err == 0 && r[i].applied)
                t.deleted++;
            lmq_msg_free(m[i]);
        }
    }
    if (write(fd, &t, sizeof t) != (ssize_t)sizeof t)
        _exit(95);
    lmq_queue_close(q);
    lmq_env_close(e);
    _exit(0);
}

static void
wait_ok(pid_t pid)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child %d: status %d", (int)pid, status);
}

START_TEST(test_many_processes)
{
    ck_ok(lmq_queue_create(env, "mp", NULL, NULL, NULL));
    lmq_env_close(env); /* nothing open across fork */
    env = NULL;
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pc[CONSUMERS], pp[PRODUCERS];
    for (int i = 0; i < CONSUMERS; i++) {
        if ((pc[i] = fork()) == 0) {
            close(fds[0]);
            consumer(fds[1]);
        }
        ck_assert_int_gt(pc[i], 0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        if ((pp[i] = fork()) == 0)
            producer(i);
        ck_assert_int_gt(pp[i], 0);
    }
    close(fds[1]);
    for (int i = 0; i < PRODUCERS; i++)
        wait_ok(pp[i]);
    char path[300];
    snprintf(path, sizeof path, "%s/producers-done", lmq_test_dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    struct tally sum = {0, 0, 0};
    for (int i = 0; i < CONSUMERS; i++) {
        struct tally t;
        ck_assert_int_eq(read(fds[0], &t, sizeof t), (ssize_t)sizeof t);
        sum.received += t.received;
        sum.deleted += t.deleted;
        sum.empty += t.empty;
    }
    close(fds[0]);
    for (int i = 0; i < CONSUMERS; i++)
        wait_ok(pc[i]);

    env = lmq_test_env();
    lmq_queue_metrics m = metrics(env, "mp");
    ck_assert_uint_eq(m.sent, PRODUCERS * PER_PRODUCER);
    ck_assert_uint_eq(m.sent_bytes, PRODUCERS * PER_PRODUCER * 7);
    ck_assert_uint_eq(sum.received, PRODUCERS * PER_PRODUCER);
    ck_assert_uint_eq(m.received, sum.received);
    ck_assert_uint_eq(m.deleted, sum.deleted);
    ck_assert_uint_eq(m.deleted, PRODUCERS * PER_PRODUCER);
    ck_assert_uint_eq(m.empty_receives, sum.empty);
    ck_assert_int_eq(m.visible + m.not_visible + m.delayed, 0);
}
END_TEST

/* A child sends in a loop and reports each acknowledged send on a pipe;
 * it is killed with SIGKILL mid-loop, three times. Every acknowledged send
 * is counted, and the count is exactly the messages in the queue (one send
 * may have committed without its acknowledgement reaching the pipe). */
static void
killed_sender(int fd)
{
    lmq_env *e;
    lmq_queue *q = child_open(&e, "crash");
    for (uint32_t i = 1;; i++) {
        lmq_send_entry en;
        lmq_send_entry_init(&en);
        en.body = "0123456789";
        if (lmq_send(q, &en, NULL) != 0)
            _exit(91);
        if (write(fd, &i, sizeof i) != (ssize_t)sizeof i)
            _exit(92);
    }
}

START_TEST(test_exact_after_kill)
{
    ck_ok(lmq_queue_create(env, "crash", NULL, NULL, NULL));
    lmq_env_close(env);
    env = NULL;
    uint64_t acked = 0;
    for (int round = 0; round < 3; round++) {
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            killed_sender(fds[1]);
        }
        ck_assert_int_gt(pid, 0);
        close(fds[1]);
        uint32_t v, last = 0;
        /* Let it run a bounded number of acknowledged sends. */
        while (last < 100u + 37u * (uint32_t)round &&
               read(fds[0], &v, sizeof v) == (ssize_t)sizeof v)
            last = v;
        kill(pid, SIGKILL);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status));
        while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v)
            last = v;
        close(fds[0]);
        acked += last;
    }
    env = lmq_test_env();
    lmq_queue_metrics m = metrics(env, "crash");
    ck_assert_msg(m.sent >= acked && m.sent <= acked + 3,
                  "sent %llu, acknowledged %llu", (unsigned long long)m.sent,
                  (unsigned long long)acked);
    ck_assert_uint_eq(m.sent_bytes, m.sent * 10);
    ck_assert_int_eq(m.visible, (int64_t)m.sent);
    /* The messages themselves agree: receive and delete them all. */
    lmq_queue *q;
    ck_ok(lmq_queue_open(env, "crash", &q));
    uint64_t got = 0;
    for (int i = 0; i < 1000; i++) {
        size_t n = recv_n(q, 10, 0, true);
        if (n == 0)
            break;
        got += n;
    }
    ck_assert_uint_eq(got, m.sent);
    m = metrics(env, "crash");
    ck_assert_uint_eq(m.received, got);
    ck_assert_uint_eq(m.deleted, got);
    lmq_queue_close(q);
}
END_TEST

/* ---- history ------------------------------------------------------------------ */

static size_t
hist(const char *name, int64_t since, int64_t until, lmq_queue_metrics **v)
{
    size_t n = 99;
    ck_ok(lmq_queue_metrics_history(env, name, since, until, v, &n));
    return n;
}

/* Rows of qid in the metrics db, read directly (including any the window
 * hides). */
struct rows_ctx {
    uint32_t qid;
    size_t n;
};

static int
rows_fn(lmq_txn *t, void *arg)
{
    struct rows_ctx *c = arg;
    uint8_t k[4];
    lmq_cur *cur;
    lmq_val key, val;
    c->n = 0;
    lmq__put_u32(k, c->qid);
    int rc = lmq__cur_open(t, LMQ_DB_METRICS, &cur);
    if (rc)
        return rc;
    for (rc = lmq__cur_seek(cur, k, sizeof k, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val)) {
        if (lmq__get_u32(key.data) != c->qid)
            break;
        c->n++;
    }
    lmq__cur_close(cur);
    return rc < 0 ? rc : 0;
}

static size_t
rows(lmq_queue *q)
{
    struct rows_ctx c = {q->qid, 0};
    ck_ok(lmq__store_read(env->store, rows_fn, &c));
    return c.n;
}

START_TEST(test_history_per_minute)
{
    lmq_queue *q = mkq("h", NULL, NULL);
    lmq_queue_metrics *v = NULL;
    ck_assert_uint_eq(hist("h", 0, 0, &v), 0);
    ck_assert_ptr_null(v);
    int64_t t0 = lmq_env_now(env);
    /* Minute 0: the first write samples the state before it (all 0). */
    send1(q, "a");
    send1(q, "b");
    send1(q, "c");
    lmq_test_clock_advance(60000);
    send1(q, "d"); /* minute 1: samples sent 3 */
    send1(q, "e");
    lmq_test_clock_advance(180000);
    ck_assert_uint_eq(recv_n(q, 2, 0, true), 2); /* minute 4: sent 5 */
    lmq_test_clock_advance(60000);
    metrics(env, "h"); /* reads write nothing */
    ck_assert_uint_eq(hist("h", 0, 0, &v), 3);
    ck_assert_uint_eq(v[0].size, sizeof v[0]);
    ck_assert_int_eq(v[0].at_ms, t0);
    ck_assert_uint_eq(v[0].sent, 0);
    ck_assert_int_eq(v[1].at_ms, t0 + 60000);
    ck_assert_uint_eq(v[1].sent, 3);
    ck_assert_int_eq(v[1].visible, 3);
    ck_assert_int_eq(v[2].at_ms, t0 + 240000);
    ck_assert_uint_eq(v[2].sent, 5);
    ck_assert_uint_eq(v[2].sent_bytes, 5);
    ck_assert_uint_eq(v[2].received, 0);
    ck_assert_int_eq(v[2].visible, 5);
    ck_assert_int_eq(v[2].oldest_age_ms, -1);
    free(v);
    /* Windows. */
    ck_assert_uint_eq(hist("h", t0 + 1, 0, &v), 2);
    ck_assert_uint_eq(v[0].sent, 3);
    free(v);
    ck_assert_uint_eq(hist("h", 0, t0 + 60000, &v), 2);
    ck_assert_uint_eq(v[1].sent, 3);
    free(v);
    ck_assert_uint_eq(hist("h", t0 + 60001, t0 + 239999, &v), 0);
    ck_lmq(lmq_queue_metrics_history(env, "nope", 0, 0, &v, NULL),
           LMQ_EINVAL);
    size_t n;
    ck_lmq(lmq_queue_metrics_history(env, "nope", 0, 0, &v, &n),
           LMQ_ENOQUEUE);
    ck_lmq(lmq_queue_metrics_history(env, "h", -1, 0, &v, &n), LMQ_EINVAL);

    /* Trimming: once the three rows are past the window, reads leave them
     * out, and each new row removes at most two old ones (bounded work). */
    ck_assert_uint_eq(rows(q), 3);
    lmq_test_clock_advance(((int64_t)LMQ_METRICS_HISTORY_MINUTES + 100) *
                           60000);
    ck_assert_uint_eq(hist("h", 0, 0, &v), 0);
    send1(q, "f");
    ck_assert_uint_eq(rows(q), 2); /* +1 new, -2 old */
    ck_assert_uint_eq(hist("h", 0, 0, &v), 1);
    ck_assert_uint_eq(v[0].sent, 5);
    free(v);
    lmq_test_clock_advance(60000);
    send1(q, "g");
    ck_assert_uint_eq(rows(q), 2); /* +1 new, -1 (the last old one) */
    ck_assert_uint_eq(hist("h", 0, 0, &v), 2);
    ck_assert_uint_eq(v[0].sent, 5);
    ck_assert_uint_eq(v[1].sent, 6);
    free(v);

    /* A deleted queue's rows go with it. */
    uint32_t qid = q->qid;
    lmq_queue_close(q);
    ck_ok(lmq_queue_delete(env, "h"));
    struct rows_ctx c = {qid, 0};
    ck_ok(lmq__store_read(env->store, rows_fn, &c));
    ck_assert_uint_eq(c.n, 0);
}
END_TEST

START_TEST(test_reset_drops_history)
{
    lmq_queue *q = mkq("r", NULL, NULL);
    send1(q, "a");
    uint32_t qid = q->qid;
    lmq_queue_close(q);
    struct rows_ctx c = {qid, 0};
    ck_ok(lmq__store_read(env->store, rows_fn, &c));
    ck_assert_uint_eq(c.n, 1);
    ck_ok(lmq_env_reset(env, NULL));
    ck_ok(lmq__store_read(env->store, rows_fn, &c));
    ck_assert_uint_eq(c.n, 0);
}
END_TEST

/* ---- formats -------------------------------------------------------------------- */

/* A version 3 queue record (no totals) still decodes, with totals 0. */
START_TEST(test_v3_record_decodes)
{
    lmq_qrec r, d;
    uint8_t *buf;
    size_t len;
    lmq__qrec_init(&r);
    r.qid = 7;
    r.next_seq = 42;
    r.front_seq = 40;
    r.n_visible = 3;
    r.m_sent = 11;
    r.m_received = 5;
    r.m_minute = 123;
    snprintf(r.name, sizeof r.name, "old");
    ck_ok(lmq__qrec_encode(&r, &buf, &len));
    ck_ok(lmq__qrec_decode(buf, len, false, &d));
    ck_assert_uint_eq(d.m_sent, 11);
    ck_assert_uint_eq(d.m_received, 5);
    ck_assert_uint_eq(d.m_minute, 123);
    ck_assert_uint_eq(d.front_seq, 40);
    /* Version 3: the same bytes without the 48 bytes of totals that follow
     * front_seq (offset 118), the 13 of the seal key after them (version
     * 5) and the 40 of stored bytes and removal totals (version 6). */
    const size_t at = 118, cut = 48 + 13 + 40;
    ck_assert_uint_eq(buf[0], 6);
    buf[0] = 3;
    memmove(buf + at, buf + at + cut, len - at - cut);
    ck_ok(lmq__qrec_decode(buf, len - cut, false, &d));
    ck_assert_uint_eq(d.qid, 7);
    ck_assert_uint_eq(d.next_seq, 42);
    ck_assert_uint_eq(d.front_seq, 40);
    ck_assert_int_eq(d.n_visible, 3);
    ck_assert_str_eq(d.name, "old");
    ck_assert_uint_eq(d.m_sent, 0);
    ck_assert_uint_eq(d.m_received, 0);
    ck_assert_uint_eq(d.m_minute, 0);
    free(buf);
}
END_TEST

/* The home is marked format 4 (an older lmq refuses it). */
struct ver_ctx {
    uint32_t v;
};

static int
ver_fn(lmq_txn *t, void *arg)
{
    lmq_val v;
    int rc = lmq__txn_get(t, LMQ_DB_META, "version", 7, &v);
    if (rc == 0 && v.len == 4)
        ((struct ver_ctx *)arg)->v = lmq__get_u32(v.data);
    return rc;
}

START_TEST(test_home_format)
{
    struct ver_ctx c = {0};
    ck_ok(lmq__store_read(env->store, ver_fn, &c));
    ck_assert_uint_eq(c.v, LMQ_FORMAT_VERSION);
    ck_assert_uint_ge(c.v, 4);
}
END_TEST

static Suite *
lmq_suite_metrics(void)
{
    Suite *s = suite_create("metrics");
    TCase *t = tcase_create("counting");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, test_totals_standard);
    tcase_add_test(t, test_totals_fifo);
    tcase_add_test(t, test_long_poll_counts_once);
    tcase_add_test(t, test_dlq_and_redrive);
    suite_add_tcase(s, t);
    t = tcase_create("exactness");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_many_processes);
    tcase_add_test(t, test_exact_after_kill);
    suite_add_tcase(s, t);
    t = tcase_create("history");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_history_per_minute);
    tcase_add_test(t, test_reset_drops_history);
    suite_add_tcase(s, t);
    t = tcase_create("format");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_v3_record_decodes);
    tcase_add_test(t, test_home_format);
    suite_add_tcase(s, t);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_metrics());
}
