/*
 * check_limits.c: per-queue byte limits (LmqMaximumBytes), the home-wide
 * message limit (lmq_env_opts.max_messages, --max-home-messages) and the
 * totals of messages removed without a delete (docs/DURABILITY.md, "Full
 * disks and limits"; docs/METRICS.md).
 *
 * The invariants checked after every step, and after kill storms:
 * - a queue's stored bytes (LmqStoredBytes, the record's counter) equal
 *   the SQS sizes (body plus attribute name, DataType and value bytes) of
 *   the messages a peek finds, recomputed from the messages themselves;
 * - they never pass LmqMaximumBytes;
 * - for a queue nothing is moved into: NumberOfMessagesSent = deleted +
 *   dropped + expired + purged + moved + the messages held.
 *
 * The storm: sender processes (single sends and batches, with and without
 * attributes) and a consumer (receive + delete) on a drop-oldest queue
 * and a refusing one, SIGKILLed at random and restarted, in `none` and in
 * `full`. Its length: 1.5 s per mode (0.7 s when $LMQ_TEST_SAN is set),
 * and at least 10 kills;
 * $LMQ_LIMITS_LONG=SECONDS runs each mode that long.
 */
#include "lmq_test.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static void
setup(void)
{
    lmq_test_tmp_setup();
    lmq_test_clock_setup();
}

static void
teardown(void)
{
    lmq_test_tmp_teardown();
}

static char home[400];

static lmq_env *
open_env(lmq_durability d, uint64_t max_messages)
{
    lmq_env_opts o;
    lmq_env *env = NULL;
    lmq_env_opts_init(&o);
    o.durability = d;
    o.clock = lmq_test_clock;
    o.max_messages = max_messages;
    if (!home[0]) /* else the home the test made (each test forks) */
        snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    int rc = lmq_env_open(home, &o, &env);
    ck_assert_msg(rc == 0, "lmq_env_open: %s", lmq_errmsg());
    return env;
}

static void
mkq(lmq_env *env, const char *name, const char *k1, const char *v1,
    const char *k2, const char *v2)
{
    lmq_map *a = lmq_map_new();
    if (k1)
        ck_ok(lmq_map_set(a, k1, v1));
    if (k2)
        ck_ok(lmq_map_set(a, k2, v2));
    if (strstr(name, ".fifo"))
        ck_ok(lmq_map_set(a, "FifoQueue", "true"));
    ck_ok(lmq_queue_create(env, name, a, NULL, NULL));
    lmq_map_free(a);
}

static uint64_t
uattr(lmq_env *env, const char *q, const char *name)
{
    const char *names[] = {name, NULL};
    lmq_map *m;
    ck_ok(lmq_queue_get_attributes(env, q, names, &m));
    const char *v = lmq_map_get(m, name);
    uint64_t n = v ? strtoull(v, NULL, 10) : 0;
    lmq_map_free(m);
    return n;
}

/* The SQS size of the messages a peek finds, and how many. */
static uint64_t
peek_bytes(lmq_env *env, const char *q, size_t *count)
{
    lmq_peek_opts po;
    lmq_peek_opts_init(&po);
    po.show_inflight = po.show_delayed = 1;
    lmq_msg **m;
    size_t n;
    uint64_t sum = 0;
    ck_ok(lmq_queue_peek(env, q, &po, &m, &n));
    for (size_t i = 0; i < n; i++) {
        size_t bl;
        lmq_msg_body(m[i], &bl);
        sum += bl;
        const lmq_mattrs *a = lmq_msg_attrs(m[i]);
        for (size_t j = 0; j < lmq_mattrs_count(a); j++) {
            const char *an, *at;
            const void *av;
            size_t al;
            ck_ok(lmq_mattrs_at(a, j, &an, &at, &av, &al));
            sum += strlen(an) + strlen(at) + al;
        }
    }
    lmq_msg_list_free(m, n);
    if (count)
        *count = n;
    return sum;
}

/* The invariants of the top comment; moved_in: the queue receives moves. */
static void
check_exact(lmq_env *env, const char *q, bool moved_in)
{
    size_t held;
    uint64_t want = peek_bytes(env, q, &held);
    uint64_t stored = uattr(env, q, "LmqStoredBytes");
    ck_assert_msg(stored == want, "%s: LmqStoredBytes %llu, its messages "
                  "hold %llu", q, (unsigned long long)stored,
                  (unsigned long long)want);
    uint64_t max = uattr(env, q, "LmqMaximumBytes");
    ck_assert_msg(!max || stored <= max, "%s: %llu stored over %llu", q,
                  (unsigned long long)stored, (unsigned long long)max);
    lmq_queue_metrics m = {.size = sizeof m};
    ck_ok(lmq_queue_metrics_get(env, q, &m));
    ck_assert_uint_eq(m.stored_bytes, stored);
    ck_assert_uint_eq((uint64_t)(m.visible + m.not_visible + m.delayed),
                      held);
    if (!moved_in)
        ck_assert_msg(m.sent == m.deleted + m.dropped + m.expired + m.purged +
                                    m.moved + held,
                      "%s: sent %llu != deleted %llu + dropped %llu + "
                      "expired %llu + purged %llu + moved %llu + held %zu",
                      q, (unsigned long long)m.sent,
                      (unsigned long long)m.deleted,
                      (unsigned long long)m.dropped,
                      (unsigned long long)m.expired,
                      (unsigned long long)m.purged,
                      (unsigned long long)m.moved, held);
}

/* Send a body of len bytes ('a' + i), with an attribute when attr. */
static int
send_sized(lmq_queue *q, size_t len, bool attr, const char *group)
{
    char body[512];
    memset(body, 'a' + (int)(len % 26), len);
    body[len] = '\0';
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = body;
    e.group_id = group;
    lmq_mattrs *a = NULL;
    if (attr) {
        a = lmq_mattrs_new();
        lmq_mattrs_add(a, "k", "String", "vv", 2); /* 1 + 6 + 2 bytes */
        e.attrs = a;
    }
    char dedup[32];
    if (group) {
        static unsigned n;
        snprintf(dedup, sizeof dedup, "d%u-%d", n++, (int)getpid());
        e.dedup_id = dedup;
    }
    int rc = lmq_send(q, &e, NULL);
    lmq_mattrs_free(a);
    return rc;
}

static lmq_msg *
recv1(lmq_queue *q, int vt)
{
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.visibility_timeout = vt;
    lmq_msg *m = NULL;
    size_t n;
    ck_ok(lmq_receive(q, &o, &m, 1, &n));
    return n ? m : NULL;
}

/* ---- one process: every way a message goes ----------------------------- */

START_TEST(test_stored_bytes_every_path)
{
    lmq_env *env = open_env(LMQ_DURABILITY_NONE, 0);
    mkq(env, "dlq", NULL, NULL, NULL, NULL);
    mkq(env, "a", "MessageRetentionPeriod", "60", "RedrivePolicy",
        "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:dlq\","
        "\"maxReceiveCount\":1}");
    lmq_queue *q;
    ck_ok(lmq_queue_open(env, "a", &q));
    for (size_t i = 1; i <= 20; i++)
        ck_ok(send_sized(q, i * 7, i % 3 == 0, NULL));
    check_exact(env, "a", false);
    /* receive and delete some, change the visibility of one */
    for (int i = 0; i < 5; i++) {
        lmq_msg *m = recv1(q, 30);
        ck_assert_ptr_nonnull(m);
        int del = 0;
        if (i < 3)
            ck_ok(lmq_delete(q, lmq_msg_receipt(m), &del));
        else
            ck_ok(lmq_change_visibility(q, lmq_msg_receipt(m), 5, NULL));
        lmq_msg_free(m);
        check_exact(env, "a", false);
    }
    /* retention: everything expires; a receive sweeps and finds none */
    lmq_test_clock_advance(61 * 1000);
    ck_assert_ptr_null(recv1(q, 30));
    check_exact(env, "a", false);
    ck_assert_uint_eq(uattr(env, "a", "LmqStoredBytes"), 0);
    lmq_queue_metrics m = {.size = sizeof m};
    ck_ok(lmq_queue_metrics_get(env, "a", &m));
    ck_assert_uint_eq(m.expired, 17);
    ck_assert_uint_eq(m.deleted, 3);
    /* DLQ moves: the second receive of each moves it */
    for (size_t i = 1; i <= 4; i++)
        ck_ok(send_sized(q, 10 + i, i % 2 == 0, NULL));
    uint64_t before = uattr(env, "a", "LmqStoredBytes");
    ck_assert_uint_eq(before, 11 + 12 + 13 + 14 + 2 * 9);
    for (int i = 0; i < 4; i++) {
        lmq_msg *x = recv1(q, 0);
        ck_assert_ptr_nonnull(x);
        lmq_msg_free(x);
    }
    ck_assert_ptr_null(recv1(q, 0)); /* each one's second receive moves */
    check_exact(env, "a", false);
    check_exact(env, "dlq", true);
    ck_assert_uint_eq(uattr(env, "a", "LmqStoredBytes"), 0);
    ck_assert_uint_eq(uattr(env, "dlq", "LmqStoredBytes"), before);
    ck_ok(lmq_queue_metrics_get(env, "a", &m));
    ck_assert_uint_eq(m.moved, 4);
    /* a move task back to the source: moved out of the DLQ */
    char *arn = NULL;
    ck_ok(lmq_move_task_start(env, "arn:aws:sqs:us-east-1:000000000000:dlq",
                              "arn:aws:sqs:us-east-1:000000000000:a", 0,
                              &arn));
    int st = -1;
    ck_ok(lmq_move_task_run(env, arn, NULL, NULL, &st));
    ck_assert_int_eq(st, LMQ_MOVE_COMPLETED);
    free(arn);
    ck_assert_uint_eq(uattr(env, "dlq", "LmqStoredBytes"), 0);
    ck_assert_uint_eq(uattr(env, "a", "LmqStoredBytes"), before);
    ck_ok(lmq_queue_metrics_get(env, "dlq", &m));
    ck_assert_uint_eq(m.moved, 4);
    /* purge */
    ck_ok(lmq_queue_purge(env, "a"));
    check_exact(env, "a", true);
    ck_assert_uint_eq(uattr(env, "a", "LmqStoredBytes"), 0);
    ck_ok(lmq_queue_metrics_get(env, "a", &m));
    ck_assert_uint_eq(m.purged, 4);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* LmqMaximumBytes with refuse: the send that would pass it is OverLimit
 * and changes nothing; in a batch only those entries fail; a message
 * larger than the limit is refused under drop-oldest too, dropping
 * nothing. */
START_TEST(test_bytes_refuse)
{
    lmq_env *env = open_env(LMQ_DURABILITY_NONE, 0);
    mkq(env, "r", "LmqMaximumBytes", "50", NULL, NULL);
    lmq_queue *q;
    ck_ok(lmq_queue_open(env, "r", &q));
    ck_ok(send_sized(q, 20, false, NULL));
    ck_ok(send_sized(q, 20, false, NULL));
    ck_lmq(send_sized(q, 11, false, NULL), LMQ_EOVERLIMIT);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "LmqMaximumBytes"));
    ck_ok(send_sized(q, 10, false, NULL)); /* exactly 50 */
    check_exact(env, "r", false);
    ck_assert_uint_eq(uattr(env, "r", "LmqStoredBytes"), 50);
    lmq_msg *m = recv1(q, 30);
    int del;
    ck_ok(lmq_delete(q, lmq_msg_receipt(m), &del));
    lmq_msg_free(m);
    /* 20 free: of entries 5, 9, 10, 6 the first two fit, 10 does not, 6
     * does */
    lmq_send_entry e[4];
    lmq_send_result res[4];
    char bodies[4][16];
    const size_t lens[4] = {5, 9, 10, 6};
    const char *ids[4] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        memset(bodies[i], 'x', lens[i]);
        bodies[i][lens[i]] = '\0';
        lmq_send_entry_init(&e[i]);
        e[i].id = ids[i];
        e[i].body = bodies[i];
    }
    ck_ok(lmq_send_batch(q, e, 4, res));
    ck_assert_int_eq(res[0].err, 0);
    ck_assert_int_eq(res[1].err, 0);
    ck_assert_int_eq(res[2].err, LMQ_EOVERLIMIT);
    ck_assert_int_eq(res[3].err, 0);
    ck_assert_uint_eq(uattr(env, "r", "LmqStoredBytes"), 50);
    check_exact(env, "r", false);
    lmq_queue_close(q);
    /* bigger than the limit: refused, nothing dropped */
    lmq_map *a = lmq_map_new();
    ck_ok(lmq_map_set(a, "LmqOverLimitPolicy", "drop-oldest"));
    ck_ok(lmq_queue_set_attributes(env, "r", a));
    lmq_map_free(a);
    ck_ok(lmq_queue_open(env, "r", &q));
    ck_lmq(send_sized(q, 51, false, NULL), LMQ_EOVERLIMIT);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "larger"));
    ck_assert_uint_eq(uattr(env, "r", "LmqStoredBytes"), 50);
    ck_assert_uint_eq(uattr(env, "r", "LmqDroppedMessages"), 0);
    /* bad values change nothing */
    const char *bad[] = {"-1", "x", "1125899906842625", "1e3", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        a = lmq_map_new();
        ck_ok(lmq_map_set(a, "LmqMaximumBytes", bad[i]));
        ck_lmq(lmq_queue_set_attributes(env, "r", a), LMQ_EATTRVALUE);
        lmq_map_free(a);
    }
    ck_assert_uint_eq(uattr(env, "r", "LmqMaximumBytes"), 50);
    /* 0 lifts it */
    a = lmq_map_new();
    ck_ok(lmq_map_set(a, "LmqMaximumBytes", "0"));
    ck_ok(lmq_queue_set_attributes(env, "r", a));
    lmq_map_free(a);
    ck_ok(send_sized(q, 200, false, NULL));
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* drop-oldest by bytes, standard and FIFO: the newest stay, every drop
 * counted, the bytes exact after each send; FIFO groups keep their order. */
START_TEST(test_bytes_drop_oldest)
{
    lmq_env *env = open_env(LMQ_DURABILITY_NONE, 0);
    mkq(env, "d", "LmqMaximumBytes", "100", "LmqOverLimitPolicy",
        "drop-oldest");
    mkq(env, "d.fifo", "LmqMaximumBytes", "100", "LmqOverLimitPolicy",
        "drop-oldest");
    lmq_queue *q, *f;
    ck_ok(lmq_queue_open(env, "d", &q));
    ck_ok(lmq_queue_open(env, "d.fifo", &f));
    for (size_t i = 0; i < 40; i++) {
        ck_ok(send_sized(q, 10 + (i * 7) % 21, i % 4 == 0, NULL));
        ck_ok(send_sized(f, 10 + (i * 5) % 17, i % 3 == 0,
                         i % 2 ? "g1" : "g2"));
        check_exact(env, "d", false);
        check_exact(env, "d.fifo", false);
    }
    lmq_queue_metrics m = {.size = sizeof m};
    ck_ok(lmq_queue_metrics_get(env, "d", &m));
    ck_assert_uint_gt(m.dropped, 20);
    ck_assert_uint_eq(uattr(env, "d", "LmqDroppedMessages"), m.dropped);
    /* the newest message is there: the last one sent */
    lmq_peek_opts po;
    lmq_peek_opts_init(&po);
    lmq_msg **v;
    size_t n;
    ck_ok(lmq_queue_peek(env, "d", &po, &v, &n));
    ck_assert_uint_gt(n, 2);
    size_t bl;
    lmq_msg_body(v[n - 1], &bl);
    ck_assert_uint_eq(bl, 10 + (39 * 7) % 21);
    lmq_msg_list_free(v, n);
    /* FIFO: each group comes out in send order */
    int last[2] = {-1, -1};
    for (;;) {
        lmq_msg *x = recv1(f, 30);
        if (!x)
            break;
        const char *g = lmq_msg_sys_attr(x, "MessageGroupId");
        int gi = strcmp(g, "g1") == 0;
        int seq = atoi(lmq_msg_sys_attr(x, "SequenceNumber"));
        ck_assert_int_gt(seq, last[gi]);
        last[gi] = seq;
        int del;
        ck_ok(lmq_delete(f, lmq_msg_receipt(x), &del));
        lmq_msg_free(x);
    }
    check_exact(env, "d.fifo", false);
    ck_assert_uint_eq(uattr(env, "d.fifo", "LmqStoredBytes"), 0);
    lmq_queue_close(q);
    lmq_queue_close(f);
    /* a batch entry refused for MaximumMessageSize drops nothing */
    mkq(env, "m", "LmqMaximumMessages", "1", "LmqOverLimitPolicy",
        "drop-oldest");
    lmq_map *a = lmq_map_new();
    ck_ok(lmq_map_set(a, "MaximumMessageSize", "1024"));
    ck_ok(lmq_queue_set_attributes(env, "m", a));
    lmq_map_free(a);
    ck_ok(lmq_queue_open(env, "m", &q));
    ck_ok(send_sized(q, 10, false, NULL));
    static char big[1101];
    memset(big, 'z', 1100);
    lmq_send_entry e;
    lmq_send_result res;
    lmq_send_entry_init(&e);
    e.id = "big";
    e.body = big;
    ck_ok(lmq_send_batch(q, &e, 1, &res));
    ck_assert_int_eq(res.err, LMQ_EINVAL);
    ck_assert_uint_eq(uattr(env, "m", "LmqDroppedMessages"), 0);
    ck_assert_uint_eq(uattr(env, "m", "LmqStoredBytes"), 10);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* ---- the home's message limit --------------------------------------------- */

START_TEST(test_home_messages)
{
    lmq_env *plain = open_env(LMQ_DURABILITY_NONE, 0);
    mkq(plain, "x", NULL, NULL, NULL, NULL);
    mkq(plain, "y", NULL, NULL, NULL, NULL);
    mkq(plain, "z", "LmqMaximumMessages", "2", "LmqOverLimitPolicy",
        "drop-oldest");
    lmq_env_close(plain);
    lmq_env *env = open_env(LMQ_DURABILITY_NONE, 5);
    lmq_queue *x, *y, *z;
    ck_ok(lmq_queue_open(env, "x", &x));
    ck_ok(lmq_queue_open(env, "y", &y));
    ck_ok(lmq_queue_open(env, "z", &z));
    for (int i = 0; i < 3; i++)
        ck_ok(send_sized(x, 5, false, NULL));
    ck_ok(send_sized(z, 5, false, NULL));
    ck_ok(send_sized(z, 5, false, NULL));
    /* 5 held: the other queues are refused... */
    ck_lmq(send_sized(y, 5, false, NULL), LMQ_EOVERLIMIT);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "max-home-messages"));
    ck_lmq(send_sized(x, 5, false, NULL), LMQ_EOVERLIMIT);
    /* ...a drop-oldest queue at its own limit replaces its oldest */
    ck_ok(send_sized(z, 6, false, NULL));
    ck_assert_uint_eq(uattr(env, "z", "LmqDroppedMessages"), 1);
    /* receives and deletes are never refused, and make room */
    lmq_msg *m = recv1(x, 30);
    ck_assert_ptr_nonnull(m);
    int del;
    ck_ok(lmq_delete(x, lmq_msg_receipt(m), &del));
    lmq_msg_free(m);
    /* a batch of 3 with room for 1: the first is sent, the others fail */
    lmq_send_entry e[3];
    lmq_send_result res[3];
    const char *ids[3] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        lmq_send_entry_init(&e[i]);
        e[i].id = ids[i];
        e[i].body = "b";
    }
    ck_ok(lmq_send_batch(y, e, 3, res));
    ck_assert_int_eq(res[0].err, 0);
    ck_assert_int_eq(res[1].err, LMQ_EOVERLIMIT);
    ck_assert_int_eq(res[2].err, LMQ_EOVERLIMIT);
    ck_assert_uint_eq(uattr(env, "y", "ApproximateNumberOfMessages"), 1);
    lmq_queue_close(x);
    lmq_queue_close(y);
    lmq_queue_close(z);
    lmq_env_close(env);
    /* another process without the limit is not held to it (per process) */
    env = open_env(LMQ_DURABILITY_NONE, 0);
    ck_ok(lmq_queue_open(env, "y", &y));
    ck_ok(send_sized(y, 5, false, NULL));
    lmq_queue_close(y);
    lmq_env_close(env);
}
END_TEST

/* Run the CLI; its exit status, its stderr in err (if not NULL). */
static int
run_lmq(const char *const *args, char *err, size_t errcap)
{
    char ep[512];
    snprintf(ep, sizeof ep, "%s/lmq.err", lmq_test_dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        const char *argv[32];
        size_t n = 0;
        argv[n++] = LMQ_BIN;
        argv[n++] = "--home";
        argv[n++] = home;
        argv[n++] = "--durability"; /* the limits, not the syncs */
        argv[n++] = "none";
        for (size_t i = 0; args[i] && n < 31; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        if (!freopen("/dev/null", "w", stdout) || !freopen(ep, "w", stderr))
            _exit(127);
        execv(LMQ_BIN, (char *const *)argv);
        _exit(127);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    if (err) {
        FILE *f = fopen(ep, "r");
        size_t n = f ? fread(err, 1, errcap - 1, f) : 0;
        err[n] = '\0';
        if (f)
            fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(test_home_messages_cli)
{
    char err[2048];
    snprintf(home, sizeof home, "%s/clihome", lmq_test_dir);
    const char *mk[] = {"create-queue", "--queue-name", "c", "--attributes",
                        "{\"LmqMaximumBytes\":\"8\"}", NULL};
    ck_assert_int_eq(run_lmq(mk, NULL, 0), 0);
    const char *send[] = {"--max-home-messages", "1", "send-message",
                          "--queue-url", "c", "--message-body", "1234", NULL};
    ck_assert_int_eq(run_lmq(send, err, sizeof err), 0);
    ck_assert_int_eq(run_lmq(send, err, sizeof err), 254);
    ck_assert_msg(strstr(err, "OverLimit"), "%s", err);
    setenv("LMQ_MAX_HOME_MESSAGES", "1", 1);
    ck_assert_int_eq(run_lmq(send + 2, err, sizeof err), 254);
    setenv("LMQ_MAX_HOME_MESSAGES", "many", 1);
    ck_assert_int_eq(run_lmq(send + 2, err, sizeof err), 252);
    ck_assert_msg(strstr(err, "LMQ_MAX_HOME_MESSAGES"), "%s", err);
    unsetenv("LMQ_MAX_HOME_MESSAGES");
    const char *bad[] = {"--max-home-messages", "-3", "list-queues", NULL};
    ck_assert_int_eq(run_lmq(bad, err, sizeof err), 252);
    /* the queue's byte limit through the CLI: 4 + 4 fit, a 5th byte not */
    ck_assert_int_eq(run_lmq(send + 2, err, sizeof err), 0);
    const char *one[] = {"send-message", "--queue-url", "c", "--message-body",
                         "5", NULL};
    ck_assert_int_eq(run_lmq(one, err, sizeof err), 254);
    ck_assert_msg(strstr(err, "LmqMaximumBytes"), "%s", err);
    const char *bytes[] = {"set-queue-attributes", "--queue-url", "c",
                           "--attributes", "{\"LmqMaximumBytes\":\"-8\"}",
                           NULL};
    ck_assert_int_eq(run_lmq(bytes, err, sizeof err), 254);
    ck_assert_msg(strstr(err, "InvalidAttributeValue"), "%s", err);
}
END_TEST

/* ---- kill storms ------------------------------------------------------------ */

static double
storm_secs(void)
{
    const char *l = getenv("LMQ_LIMITS_LONG");
    if (l && atof(l) > 0)
        return atof(l);
    return getenv("LMQ_TEST_SAN") ? 0.7 : 1.5;
}

/* A sender (role 0) or the consumer (role 1) until killed. */
static void
storm_child(lmq_durability d, int role, unsigned seed)
{
    lmq_env_opts o;
    lmq_env *env;
    lmq_queue *q[2];
    lmq_env_opts_init(&o);
    o.durability = d;
    o.clock = lmq_test_clock;
    if (lmq_env_open(home, &o, &env) || lmq_queue_open(env, "drop", &q[0]) ||
        lmq_queue_open(env, "refuse", &q[1]))
        _exit(2);
    srand(seed);
    for (;;) {
        lmq_queue *t = q[rand() % 2];
        if (role == 1) {
            lmq_recv_opts ro;
            lmq_recv_opts_init(&ro);
            ro.visibility_timeout = 30;
            lmq_msg *m[10];
            size_t n = 0;
            if (lmq_receive(t, &ro, m, 10, &n))
                _exit(3);
            for (size_t i = 0; i < n; i++) {
                int del;
                if (rand() % 4 && lmq_delete(t, lmq_msg_receipt(m[i]), &del))
                    _exit(3);
                lmq_msg_free(m[i]);
            }
            continue;
        }
        if (rand() % 3) {
            int rc = send_sized(t, 1 + (size_t)rand() % 300, rand() % 2,
                                NULL);
            if (rc && rc != LMQ_EOVERLIMIT)
                _exit(4);
            continue;
        }
        char body[5][64];
        lmq_send_entry e[5];
        lmq_send_result res[5];
        char id[5][4];
        for (int i = 0; i < 5; i++) {
            size_t len = 1 + (size_t)rand() % 60;
            memset(body[i], 'b', len);
            body[i][len] = '\0';
            snprintf(id[i], sizeof id[i], "e%d", i);
            lmq_send_entry_init(&e[i]);
            e[i].id = id[i];
            e[i].body = body[i];
        }
        if (lmq_send_batch(t, e, 5, res))
            _exit(5);
    }
}

static void
storm(lmq_durability d)
{
    snprintf(home, sizeof home, "%s/storm%d", lmq_test_dir, (int)d);
    lmq_env_opts o;
    lmq_env *env;
    lmq_env_opts_init(&o);
    o.durability = d;
    o.clock = lmq_test_clock;
    ck_ok(lmq_env_open(home, &o, &env));
    mkq(env, "drop", "LmqMaximumBytes", "6000", "LmqOverLimitPolicy",
        "drop-oldest");
    mkq(env, "refuse", "LmqMaximumBytes", "5000", NULL, NULL);
    lmq_env_close(env);

    enum { NKIDS = 4 };
    pid_t kids[NKIDS];
    unsigned seed = (unsigned)time(NULL);
    unsigned kills = 0;
    for (int i = 0; i < NKIDS; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0)
            storm_child(d, i == NKIDS - 1, seed + (unsigned)i);
    }
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    srand(seed);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        double el = (double)(now.tv_sec - t0.tv_sec) +
                    (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        /* At least 10 kills, however slow the machine. */
        if (el > storm_secs() && kills >= 10)
            break;
        usleep((useconds_t)(10000 + rand() % 40000));
        int i = rand() % NKIDS;
        ck_assert_int_eq(kill(kids[i], SIGKILL), 0);
        int st;
        ck_assert_int_eq(waitpid(kids[i], &st, 0), kids[i]);
        ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                      "storm child %d ended with status %d", i, st);
        kills++;
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0)
            storm_child(d, i == NKIDS - 1, seed + 100 * kills);
    }
    for (int i = 0; i < NKIDS; i++) {
        int st;
        kill(kids[i], SIGKILL);
        ck_assert_int_eq(waitpid(kids[i], &st, 0), kids[i]);
        ck_assert_msg(WIFSIGNALED(st), "storm child %d ended with %d", i, st);
    }
    ck_assert_uint_ge(kills, 10);
    fprintf(stderr, "storm (durability %d): %u kills in %.1f s\n", (int)d,
            kills, storm_secs());
    env = open_env(d, 0);
    check_exact(env, "drop", false);
    check_exact(env, "refuse", false);
    lmq_queue_metrics m = {.size = sizeof m};
    ck_ok(lmq_queue_metrics_get(env, "drop", &m));
    ck_assert_uint_gt(m.sent, 0);
    lmq_env_close(env);
}

START_TEST(test_storm_none)
{
    storm(LMQ_DURABILITY_NONE);
}
END_TEST

START_TEST(test_storm_full)
{
    storm(LMQ_DURABILITY_FULL);
}
END_TEST

static Suite *
lmq_suite_limits(void)
{
    Suite *s = suite_create("limits");
    TCase *t = tcase_create("queue bytes");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_stored_bytes_every_path);
    tcase_add_test(t, test_bytes_refuse);
    tcase_add_test(t, test_bytes_drop_oldest);
    suite_add_tcase(s, t);
    t = tcase_create("home messages");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_home_messages);
    tcase_add_test(t, test_home_messages_cli);
    suite_add_tcase(s, t);
    t = tcase_create("kill storms");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120 + (int)storm_secs() * 4);
    tcase_add_test(t, test_storm_none);
    tcase_add_test(t, test_storm_full);
    suite_add_tcase(s, t);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_limits());
}
