/*
 * check_dlq.c: dead-letter queues: RedrivePolicy / RedriveAllowPolicy
 * validation, the move on the exact receive (what it keeps, what it adds),
 * ListDeadLetterSourceQueues paging, moves under concurrent receivers in
 * several processes, and message move tasks: back to the sources, to an
 * explicit destination, rate-limited, cancelled half-way and with the
 * runner SIGKILLed half-way. Time moves through the test clock; the only
 * waits are for another process to reach a state, asserted on counts.
 */
#include "lmq_test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

#define WAIT_LIMIT_MS 20000

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

/* ---- helpers ----------------------------------------------------------- */

static void
nap(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static char *
arn(const char *name)
{
    static char buf[4][160];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, sizeof buf[0], "arn:aws:sqs:us-east-1:000000000000:%s",
             name);
    return b;
}

static int
create_q(const char *name, const char *k1, const char *v1)
{
    lmq_map *a = lmq_map_new();
    ck_assert_ptr_nonnull(a);
    if (strlen(name) > 5 && strcmp(name + strlen(name) - 5, ".fifo") == 0)
        ck_ok(lmq_map_set(a, "FifoQueue", "true"));
    if (k1)
        ck_ok(lmq_map_set(a, k1, v1));
    int rc = lmq_queue_create(env, name, a, NULL, NULL);
    lmq_map_free(a);
    return rc;
}

static int
set_attr(const char *name, const char *k, const char *v)
{
    lmq_map *a = lmq_map_new();
    ck_ok(lmq_map_set(a, k, v));
    int rc = lmq_queue_set_attributes(env, name, a);
    lmq_map_free(a);
    return rc;
}

/* The value of one attribute (malloc'd), or NULL. */
static char *
get_attr(const char *name, const char *k)
{
    const char *names[] = {k, NULL};
    lmq_map *m = NULL;
    ck_ok(lmq_queue_get_attributes(env, name, names, &m));
    const char *v = lmq_map_get(m, k);
    char *out = v ? strdup(v) : NULL;
    lmq_map_free(m);
    return out;
}

static long
count_attr(const char *name, const char *k)
{
    char *v = get_attr(name, k);
    ck_assert_ptr_nonnull(v);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

static char *
policy(const char *dlq, int max)
{
    static char buf[256];
    snprintf(buf, sizeof buf,
             "{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":%d}",
             arn(dlq), max);
    return buf;
}

static void
send_n(lmq_env *e, const char *qname, const char *prefix, int from, int n)
{
    lmq_queue *q;
    ck_ok(lmq_queue_open(e, qname, &q));
    for (int i = from; i < from + n; i++) {
        char body[64];
        lmq_send_entry s;
        lmq_send_entry_init(&s);
        snprintf(body, sizeof body, "%s-%04d", prefix, i);
        s.body = body;
        ck_ok(lmq_send(q, &s, NULL));
    }
    lmq_queue_close(q);
}

static size_t
recv_some(lmq_queue *q, int vt, lmq_msg **m, int max)
{
    lmq_recv_opts o;
    size_t n;
    lmq_recv_opts_init(&o);
    o.max_messages = max;
    o.visibility_timeout = vt;
    o.wait_seconds = 0;
    static const char *const all[] = {"All", NULL};
    o.attribute_names = all;
    ck_ok(lmq_receive(q, &o, m, (size_t)max, &n));
    return n;
}

static void
free_msgs(lmq_msg **m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lmq_msg_free(m[i]);
}

/* Receive everything in queue qname (invisibly, for 12 h) and check that
 * the bodies are exactly prefix-from .. prefix-(from+n-1), once each. */
static void
expect_bodies(const char *qname, const char *prefix, int from, int n)
{
    lmq_queue *q;
    char *seen = calloc((size_t)n, 1);
    int got = 0;
    ck_ok(lmq_queue_open(env, qname, &q));
    for (;;) {
        lmq_msg *m[10];
        size_t k = recv_some(q, 43200, m, 10);
        if (k == 0)
            break;
        for (size_t i = 0; i < k; i++) {
            const char *b = lmq_msg_body(m[i], NULL);
            size_t pl = strlen(prefix);
            ck_assert_msg(strncmp(b, prefix, pl) == 0 && b[pl] == '-',
                          "%s: unexpected body %s", qname, b);
            int idx = atoi(b + pl + 1) - from;
            ck_assert_msg(idx >= 0 && idx < n, "%s: body %s out of range",
                          qname, b);
            ck_assert_msg(!seen[idx], "%s: body %s twice", qname, b);
            seen[idx] = 1;
            got++;
        }
        free_msgs(m, k);
    }
    ck_assert_msg(got == n, "%s holds %d messages, expected %d", qname, got,
                  n);
    free(seen);
    lmq_queue_close(q);
}

/* Bodies of prefix-0..n-1 split between two queues: each exactly once. */
static void
expect_split(const char *qa, const char *qb, const char *prefix, int n,
             int *in_a)
{
    char *seen = calloc((size_t)n, 1);
    const char *qs[2] = {qa, qb};
    int got = 0;
    *in_a = 0;
    for (int w = 0; w < 2; w++) {
        lmq_queue *q;
        ck_ok(lmq_queue_open(env, qs[w], &q));
        for (;;) {
            lmq_msg *m[10];
            size_t k = recv_some(q, 43200, m, 10);
            if (k == 0)
                break;
            for (size_t i = 0; i < k; i++) {
                const char *b = lmq_msg_body(m[i], NULL);
                int idx = atoi(b + strlen(prefix) + 1);
                ck_assert_msg(idx >= 0 && idx < n, "unexpected body %s", b);
                ck_assert_msg(!seen[idx], "body %s twice", b);
                seen[idx] = 1;
                got++;
                if (w == 0)
                    (*in_a)++;
            }
            free_msgs(m, k);
        }
        lmq_queue_close(q);
    }
    ck_assert_msg(got == n, "%d messages in all, expected %d", got, n);
    free(seen);
}

/* Dead-letter every message of src (maxReceiveCount 1): one delivery each
 * (visibility 0), then a receive that moves them. */
static void
dead_letter_all(const char *src)
{
    lmq_queue *q;
    ck_ok(lmq_queue_open(env, src, &q));
    for (;;) {
        lmq_msg *m[10];
        size_t k = recv_some(q, 0, m, 10);
        free_msgs(m, k);
        if (k == 0)
            break;
    }
    lmq_queue_close(q);
}

static lmq_move_task
task_info(const char *src)
{
    lmq_move_task *t = NULL, out;
    size_t n = 0;
    ck_ok(lmq_move_task_list(env, arn(src), 1, &t, &n));
    ck_assert_uint_eq(n, 1);
    out = t[0];
    out.task_handle = out.source_arn = out.destination_arn = NULL;
    out.failure_reason = NULL;
    lmq_move_task_list_free(t, n);
    return out;
}

/* Wait (for another process) until the task of src has moved >= n. */
static lmq_move_task
wait_moved(const char *src, uint64_t n)
{
    for (int waited = 0; waited < WAIT_LIMIT_MS; waited += 2) {
        lmq_move_task t = task_info(src);
        if (t.moved >= n || t.status != LMQ_MOVE_RUNNING)
            return t;
        nap(2);
    }
    ck_abort_msg("the task of %s never moved %llu messages", src,
                 (unsigned long long)n);
    return task_info(src);
}

/* ---- policies ------------------------------------------------------------ */

START_TEST(test_policy_stored_normalised)
{
    char want[256], *v;
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("src", "RedrivePolicy",
                   "{\"maxReceiveCount\": \"5\", \"deadLetterTargetArn\": "
                   "\"arn:aws:sqs:us-east-1:000000000000:dlq\"}"));
    snprintf(want, sizeof want, "%s", policy("dlq", 5));
    v = get_attr("src", "RedrivePolicy");
    ck_assert_str_eq(v, want);
    free(v);
    /* Idempotent create compares the normalised forms. */
    ck_ok(create_q("src", "RedrivePolicy", want));
    ck_lmq(create_q("src", "RedrivePolicy", policy("dlq", 6)),
           LMQ_EQUEUEEXISTS);
    /* Set later, then removed with "". */
    ck_ok(set_attr("src", "RedrivePolicy", policy("dlq", 1000)));
    v = get_attr("src", "RedrivePolicy");
    ck_assert_str_eq(v, policy("dlq", 1000));
    free(v);
    ck_ok(set_attr("src", "RedrivePolicy", ""));
    ck_assert_ptr_null(get_attr("src", "RedrivePolicy"));
    ck_ok(set_attr("dlq", "RedriveAllowPolicy",
                   "{\"sourceQueueArns\":[\"arn:aws:sqs:us-east-1:"
                   "000000000000:src\"],\"redrivePermission\":\"byQueue\"}"));
    v = get_attr("dlq", "RedriveAllowPolicy");
    ck_assert_str_eq(v, "{\"redrivePermission\":\"byQueue\",\"sourceQueue"
                        "Arns\":[\"arn:aws:sqs:us-east-1:000000000000:src\"]"
                        "}");
    free(v);
    ck_ok(set_attr("dlq", "RedriveAllowPolicy", ""));
    ck_assert_ptr_null(get_attr("dlq", "RedriveAllowPolicy"));
}
END_TEST

START_TEST(test_policy_errors)
{
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("dlq.fifo", NULL, NULL));
    ck_ok(create_q("src", NULL, NULL));
    /* Malformed and out of range. */
    ck_lmq(set_attr("src", "RedrivePolicy", "{nope"), LMQ_EATTRVALUE);
    ck_lmq(set_attr("src", "RedrivePolicy", "[1]"), LMQ_EATTRVALUE);
    ck_lmq(set_attr("src", "RedrivePolicy", policy("dlq", 0)), LMQ_EINVAL);
    ck_lmq(set_attr("src", "RedrivePolicy", policy("dlq", 1001)),
           LMQ_EINVAL);
    ck_lmq(set_attr("src", "RedrivePolicy",
                    "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:"
                    "000000000000:dlq\"}"),
           LMQ_EINVAL);
    ck_lmq(set_attr("src", "RedrivePolicy",
                    "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:"
                    "000000000000:dlq\",\"maxReceiveCount\":3,\"x\":1}"),
           LMQ_EINVAL);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "RedrivePolicy"));
    /* Target: must exist, be in this home, not be the queue itself. */
    ck_lmq(set_attr("src", "RedrivePolicy", policy("nosuch", 3)), LMQ_EINVAL);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "does not exist"));
    ck_lmq(create_q("src2", "RedrivePolicy", policy("nosuch", 3)),
           LMQ_EINVAL);
    ck_lmq(lmq_queue_url(env, "src2", &(char *){NULL}), LMQ_ENOQUEUE);
    ck_lmq(set_attr("src", "RedrivePolicy",
                    "{\"deadLetterTargetArn\":\"arn:aws:sqs:eu-west-1:"
                    "111111111111:dlq\",\"maxReceiveCount\":3}"),
           LMQ_EINVAL);
    ck_lmq(set_attr("src", "RedrivePolicy", policy("src", 3)), LMQ_EINVAL);
    /* Type mismatch, both ways. */
    ck_lmq(set_attr("src", "RedrivePolicy", policy("dlq.fifo", 3)),
           LMQ_EINVAL);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "standard"));
    ck_lmq(create_q("f.fifo", "RedrivePolicy", policy("dlq", 3)), LMQ_EINVAL);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "FIFO"));
    ck_ok(create_q("f.fifo", "RedrivePolicy", policy("dlq.fifo", 3)));
    /* Allow policies. */
    ck_lmq(set_attr("dlq", "RedriveAllowPolicy", "{}"), LMQ_EINVAL);
    ck_lmq(set_attr("dlq", "RedriveAllowPolicy",
                    "{\"redrivePermission\":\"maybe\"}"),
           LMQ_EINVAL);
    ck_lmq(set_attr("dlq", "RedriveAllowPolicy",
                    "{\"redrivePermission\":\"allowAll\","
                    "\"sourceQueueArns\":[\"a\"]}"),
           LMQ_EINVAL);
    ck_lmq(set_attr("dlq", "RedriveAllowPolicy",
                    "{\"redrivePermission\":\"byQueue\"}"),
           LMQ_EINVAL);
    ck_lmq(set_attr("dlq", "RedriveAllowPolicy",
                    "{\"redrivePermission\":\"byQueue\",\"sourceQueueArns\":"
                    "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
                    "\"10\",\"11\"]}"),
           LMQ_EINVAL);
    ck_ok(set_attr("dlq", "RedriveAllowPolicy",
                   "{\"redrivePermission\":\"denyAll\"}"));
    ck_lmq(set_attr("src", "RedrivePolicy", policy("dlq", 3)), LMQ_EINVAL);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "RedriveAllowPolicy"));
    char allow[256];
    snprintf(allow, sizeof allow,
             "{\"redrivePermission\":\"byQueue\",\"sourceQueueArns\":"
             "[\"%s\"]}",
             arn("other"));
    ck_ok(set_attr("dlq", "RedriveAllowPolicy", allow));
    ck_lmq(set_attr("src", "RedrivePolicy", policy("dlq", 3)), LMQ_EINVAL);
    ck_ok(create_q("other", "RedrivePolicy", policy("dlq", 3)));
    snprintf(allow, sizeof allow,
             "{\"redrivePermission\":\"byQueue\",\"sourceQueueArns\":"
             "[\"%s\",\"%s\"]}",
             arn("other"), arn("src"));
    ck_ok(set_attr("dlq", "RedriveAllowPolicy", allow));
    ck_ok(set_attr("src", "RedrivePolicy", policy("dlq", 3)));
    /* A failed set changed nothing. */
    ck_lmq(set_attr("src", "RedrivePolicy", policy("dlq", 0)), LMQ_EINVAL);
    char *v = get_attr("src", "RedrivePolicy");
    ck_assert_str_eq(v, policy("dlq", 3));
    free(v);
}
END_TEST

/* ---- the move on receive --------------------------------------------------- */

START_TEST(test_move_on_exact_receive)
{
    lmq_queue *q, *d;
    lmq_msg *m[10];
    lmq_send_entry s;
    lmq_send_result res;
    lmq_mattrs *a = lmq_mattrs_new();
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("src", "RedrivePolicy", policy("dlq", 3)));
    ck_ok(lmq_queue_open(env, "src", &q));
    ck_ok(lmq_queue_open(env, "dlq", &d));
    ck_ok(lmq_mattrs_add(a, "colour", "String", "red", 3));
    ck_ok(lmq_mattrs_add(a, "n", "Number", "42", 2));
    lmq_send_entry_init(&s);
    s.body = "poison";
    s.attrs = a;
    s.trace_header = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
    ck_ok(lmq_send(q, &s, &res));
    int64_t sent = lmq_env_now(env);
    lmq_test_clock_advance(1000);

    /* Three deliveries, each followed by an expired visibility timeout. */
    for (uint32_t i = 1; i <= 3; i++) {
        ck_assert_uint_eq(recv_some(q, 5, m, 1), 1);
        ck_assert_uint_eq(lmq_msg_receive_count(m[0]), i);
        ck_assert_ptr_null(lmq_msg_sys_attr(m[0], "DeadLetterQueueSourceArn"));
        free_msgs(m, 1);
        lmq_test_clock_advance(5000);
    }
    /* The fourth receive moves it; a good message behind it is returned
     * instead. */
    send_n(env, "src", "good", 0, 1);
    ck_assert_uint_eq(recv_some(q, 30, m, 10), 1);
    ck_assert_str_eq(lmq_msg_body(m[0], NULL), "good-0000");
    free_msgs(m, 1);
    ck_assert_int_eq(count_attr("src", "ApproximateNumberOfMessages"), 0);
    ck_assert_int_eq(count_attr("src", "ApproximateNumberOfMessagesNotVisible"),
                     1);
    ck_assert_int_eq(count_attr("dlq", "ApproximateNumberOfMessages"), 1);

    ck_assert_uint_eq(recv_some(d, 30, m, 10), 1);
    ck_assert_str_eq(lmq_msg_id(m[0]), res.message_id);
    ck_assert_str_eq(lmq_msg_body(m[0], NULL), "poison");
    ck_assert_uint_eq(lmq_msg_receive_count(m[0]), 4);
    ck_assert_int_eq(lmq_msg_sent_timestamp(m[0]), sent);
    ck_assert_str_eq(lmq_msg_sys_attr(m[0], "DeadLetterQueueSourceArn"),
                     arn("src"));
    ck_assert_str_eq(lmq_msg_sys_attr(m[0], "AWSTraceHeader"),
                     s.trace_header);
    ck_assert_str_eq(lmq_msg_md5_attrs(m[0]), res.md5_attrs);
    ck_assert_uint_eq(lmq_mattrs_count(lmq_msg_attrs(m[0])), 2);
    ck_assert_int_eq(lmq_msg_first_receive_timestamp(m[0]), sent + 1000);
    free_msgs(m, 1);
    lmq_mattrs_free(a);
    lmq_queue_close(q);
    lmq_queue_close(d);
}
END_TEST

START_TEST(test_move_keeps_enqueue_time)
{
    lmq_queue *q, *d;
    lmq_msg *m[1];
    ck_ok(create_q("dlq", "MessageRetentionPeriod", "120"));
    ck_ok(create_q("src", "RedrivePolicy", policy("dlq", 1)));
    ck_ok(lmq_queue_open(env, "src", &q));
    ck_ok(lmq_queue_open(env, "dlq", &d));
    send_n(env, "src", "old", 0, 1);
    ck_assert_uint_eq(recv_some(q, 0, m, 1), 1);
    free_msgs(m, 1);
    lmq_test_clock_advance(100 * 1000);
    send_n(env, "src", "new", 0, 1);
    ck_assert_uint_eq(recv_some(q, 0, m, 1), 1); /* moves old, gets new */
    ck_assert_str_eq(lmq_msg_body(m[0], NULL), "new-0000");
    free_msgs(m, 1);
    ck_assert_uint_eq(recv_some(q, 0, m, 1), 0); /* moves new */
    /* 130 s after the first send: "old" is past the DLQ's 120 s counted
     * from its original send, "new" (sent 30 s ago) is not. */
    lmq_test_clock_advance(30 * 1000);
    ck_assert_uint_eq(recv_some(d, 30, m, 1), 1);
    ck_assert_str_eq(lmq_msg_body(m[0], NULL), "new-0000");
    free_msgs(m, 1);
    ck_assert_uint_eq(recv_some(d, 30, m, 1), 0);
    lmq_queue_close(q);
    lmq_queue_close(d);
}
END_TEST

START_TEST(test_dlq_gone_delivers)
{
    lmq_queue *q;
    lmq_msg *m[1];
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("src", "RedrivePolicy", policy("dlq", 1)));
    ck_ok(lmq_queue_open(env, "src", &q));
    send_n(env, "src", "m", 0, 1);
    ck_ok(lmq_queue_delete(env, "dlq"));
    for (uint32_t i = 1; i <= 3; i++) {
        ck_assert_uint_eq(recv_some(q, 0, m, 1), 1);
        ck_assert_uint_eq(lmq_msg_receive_count(m[0]), i);
        free_msgs(m, 1);
    }
    /* Removing the policy stops moves too. */
    ck_ok(set_attr("src", "RedrivePolicy", ""));
    ck_assert_uint_eq(recv_some(q, 0, m, 1), 1);
    free_msgs(m, 1);
    lmq_queue_close(q);
}
END_TEST

START_TEST(test_list_sources)
{
    char **names = NULL, *tok = NULL, *tok2 = NULL;
    const char *want[] = {"a1", "a2", "b", "c", "zz"};
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("dlq2", NULL, NULL));
    for (size_t i = 0; i < 5; i++)
        ck_ok(create_q(want[i], "RedrivePolicy", policy("dlq", 2)));
    ck_ok(create_q("other", "RedrivePolicy", policy("dlq2", 2)));
    ck_ok(create_q("plain", NULL, NULL));

    ck_ok(lmq_dlq_list_sources(env, "dlq", 0, NULL, &names, &tok));
    ck_assert_ptr_null(tok);
    for (size_t i = 0; i < 5; i++)
        ck_assert_str_eq(names[i], want[i]);
    ck_assert_ptr_null(names[5]);
    lmq_strv_free(names);

    size_t got = 0;
    do {
        ck_ok(lmq_dlq_list_sources(env, "dlq", 2, tok, &names, &tok2));
        free(tok);
        tok = tok2;
        for (size_t i = 0; names[i]; i++, got++)
            ck_assert_str_eq(names[i], want[got]);
        lmq_strv_free(names);
    } while (tok);
    ck_assert_uint_eq(got, 5);

    ck_ok(lmq_dlq_list_sources(env, "plain", 10, NULL, &names, &tok));
    ck_assert_ptr_null(names[0]);
    lmq_strv_free(names);
    ck_lmq(lmq_dlq_list_sources(env, "nosuch", 0, NULL, &names, NULL),
           LMQ_ENOQUEUE);
    ck_lmq(lmq_dlq_list_sources(env, "dlq", 1001, NULL, &names, NULL),
           LMQ_EINVAL);
    ck_lmq(lmq_dlq_list_sources(env, "dlq", 2, "!!!", &names, NULL),
           LMQ_EINVAL);
}
END_TEST

/* Several processes receive from one source at once (visibility 0, so a
 * message is visible again at once): maxReceiveCount 1 means each message
 * is delivered once and then moved once. */
START_TEST(test_concurrent_receivers)
{
    enum { NMSG = 60, NPROC = 4 };
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("src", "RedrivePolicy", policy("dlq", 1)));
    send_n(env, "src", "m", 0, NMSG);
    pid_t kids[NPROC];
    for (int k = 0; k < NPROC; k++) {
        kids[k] = check_fork();
        ck_assert_int_ge(kids[k], 0);
        if (kids[k] == 0) {
            lmq_env *e = lmq_test_env();
            lmq_queue *q;
            int delivered = 0;
            if (lmq_queue_open(e, "src", &q) != 0)
                _exit(100);
            for (;;) {
                lmq_msg *m[10];
                lmq_recv_opts o;
                size_t n;
                lmq_recv_opts_init(&o);
                o.max_messages = 3;
                o.visibility_timeout = 0;
                o.wait_seconds = 0;
                if (lmq_receive(q, &o, m, 10, &n) != 0)
                    _exit(101);
                if (n == 0)
                    break;
                for (size_t i = 0; i < n; i++) {
                    if (lmq_msg_receive_count(m[i]) != 1)
                        _exit(102);
                    lmq_msg_free(m[i]);
                }
                delivered += (int)n;
            }
            lmq_queue_close(q);
            lmq_env_close(e);
            _exit(delivered > 255 ? 255 : delivered);
        }
    }
    int total = 0;
    for (int k = 0; k < NPROC; k++) {
        int st;
        ck_assert_int_eq(waitpid(kids[k], &st, 0), kids[k]);
        ck_assert(WIFEXITED(st));
        ck_assert_int_lt(WEXITSTATUS(st), 100);
        total += WEXITSTATUS(st);
    }
    ck_assert_int_eq(total, NMSG);
    ck_assert_int_eq(count_attr("src", "ApproximateNumberOfMessages"), 0);
    ck_assert_int_eq(count_attr("dlq", "ApproximateNumberOfMessages"), NMSG);
    /* Each moved once, after exactly one delivery. */
    lmq_queue *d;
    ck_ok(lmq_queue_open(env, "dlq", &d));
    char seen[NMSG] = {0};
    for (;;) {
        lmq_msg *m[10];
        size_t n = recv_some(d, 600, m, 10);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            int idx = atoi(lmq_msg_body(m[i], NULL) + 2);
            ck_assert(idx >= 0 && idx < NMSG && !seen[idx]);
            seen[idx] = 1;
            ck_assert_uint_eq(lmq_msg_receive_count(m[i]), 2);
        }
        free_msgs(m, n);
    }
    for (int i = 0; i < NMSG; i++)
        ck_assert(seen[i]);
    lmq_queue_close(d);
}
END_TEST

START_TEST(test_fifo_move_and_back)
{
    lmq_queue *q, *d;
    lmq_msg *m[10];
    lmq_send_result res[3];
    char *h = NULL;
    int st = -1;
    ck_ok(create_q("dlq.fifo", NULL, NULL));
    ck_ok(create_q("src.fifo", "RedrivePolicy", policy("dlq.fifo", 1)));
    ck_ok(lmq_queue_open(env, "src.fifo", &q));
    ck_ok(lmq_queue_open(env, "dlq.fifo", &d));
    for (int i = 0; i < 3; i++) {
        lmq_send_entry s;
        char body[16], dedup[16];
        lmq_send_entry_init(&s);
        snprintf(body, sizeof body, "f-%04d", i);
        snprintf(dedup, sizeof dedup, "dd%d", i);
        s.body = body;
        s.group_id = "g";
        s.dedup_id = dedup;
        ck_ok(lmq_send(q, &s, &res[i]));
    }
    lmq_test_clock_advance(1000);
    /* First delivery of the head; the next receive moves it and returns
     * the next message of the group. */
    ck_assert_uint_eq(recv_some(q, 0, m, 1), 1);
    ck_assert_str_eq(lmq_msg_body(m[0], NULL), "f-0000");
    free_msgs(m, 1);
    ck_assert_uint_eq(recv_some(q, 30, m, 1), 1);
    ck_assert_str_eq(lmq_msg_body(m[0], NULL), "f-0001");
    free_msgs(m, 1);
    ck_assert_uint_eq(recv_some(d, 30, m, 10), 1);
    ck_assert_str_eq(lmq_msg_id(m[0]), res[0].message_id);
    ck_assert_str_eq(lmq_msg_sys_attr(m[0], "MessageDeduplicationId"),
                     res[0].message_id);
    ck_assert_str_eq(lmq_msg_sys_attr(m[0], "MessageGroupId"), "g");
    ck_assert_str_eq(lmq_msg_sys_attr(m[0], "DeadLetterQueueSourceArn"),
                     arn("src.fifo"));
    ck_assert_uint_eq(lmq_msg_receive_count(m[0]), 2);
    /* Make it visible again, then move it back. */
    int changed = 0;
    ck_ok(lmq_change_visibility(d, lmq_msg_receipt(m[0]), 0, &changed));
    free_msgs(m, 1);
    ck_ok(lmq_move_task_start(env, arn("dlq.fifo"), NULL, 0, &h));
    ck_ok(lmq_move_task_run(env, h, NULL, NULL, &st));
    ck_assert_int_eq(st, LMQ_MOVE_COMPLETED);
    ck_assert_uint_eq(task_info("dlq.fifo").moved, 1);
    ck_assert_int_eq(count_attr("dlq.fifo", "ApproximateNumberOfMessages"),
                     0);
    /* f-0001 was delivered once: when its visibility ends, the next
     * receive moves it too, and the group goes on behind it with f-0002 and
     * then the moved-back f-0000 (a new message at the end). */
    lmq_test_clock_advance(31000);
    ck_assert_uint_eq(recv_some(q, 30, m, 10), 2);
    ck_assert_str_eq(lmq_msg_body(m[0], NULL), "f-0002");
    ck_assert_str_eq(lmq_msg_body(m[1], NULL), "f-0000");
    ck_assert_str_ne(lmq_msg_id(m[1]), res[0].message_id);
    ck_assert_str_eq(lmq_msg_sys_attr(m[1], "MessageGroupId"), "g");
    ck_assert_ptr_null(lmq_msg_sys_attr(m[1], "DeadLetterQueueSourceArn"));
    free_msgs(m, 2);
    expect_bodies("dlq.fifo", "f", 1, 1);
    free(h);
    lmq_queue_close(q);
    lmq_queue_close(d);
}
END_TEST

/* ---- move tasks ---------------------------------------------------------------- */

START_TEST(test_task_errors)
{
    char *h = NULL;
    uint64_t moved;
    lmq_move_task *t;
    size_t n;
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("plain", NULL, NULL));
    ck_ok(create_q("f.fifo", NULL, NULL));
    ck_ok(create_q("src", "RedrivePolicy", policy("dlq", 1)));
    ck_lmq(lmq_move_task_start(env, arn("plain"), NULL, 0, &h), LMQ_EINVAL);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "Dead Letter Queue"));
    ck_lmq(lmq_move_task_start(env, arn("nosuch"), NULL, 0, &h),
           LMQ_ENOTFOUND);
    ck_lmq(lmq_move_task_start(env, arn("dlq"), arn("nosuch"), 0, &h),
           LMQ_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "DestinationArn"));
    ck_lmq(lmq_move_task_start(env, arn("dlq"), arn("f.fifo"), 0, &h),
           LMQ_EINVAL);
    ck_lmq(lmq_move_task_start(env, arn("dlq"), arn("dlq"), 0, &h),
           LMQ_EINVAL);
    ck_lmq(lmq_move_task_start(env, arn("dlq"), NULL, 501, &h), LMQ_EINVAL);
    ck_lmq(lmq_move_task_start(env, NULL, NULL, 0, &h), LMQ_EMISSING);
    ck_assert_ptr_null(h);
    /* One active task per source. */
    ck_ok(lmq_move_task_start(env, arn("dlq"), NULL, 0, &h));
    char *h2 = NULL;
    ck_lmq(lmq_move_task_start(env, arn("dlq"), NULL, 0, &h2), LMQ_EINVAL);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "already a task running"));
    /* Handles. */
    ck_lmq(lmq_move_task_cancel(env, "garbage", &moved), LMQ_EINVAL);
    ck_lmq(lmq_move_task_run(env, "garbage", NULL, NULL, NULL), LMQ_EINVAL);
    ck_ok(lmq_move_task_list(env, arn("dlq"), 10, &t, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(t[0].status, LMQ_MOVE_RUNNING);
    ck_assert_str_eq(t[0].task_handle, h);
    ck_assert_ptr_null(t[0].destination_arn);
    lmq_move_task_list_free(t, n);
    ck_lmq(lmq_move_task_list(env, arn("dlq"), 11, &t, &n), LMQ_EINVAL);
    ck_lmq(lmq_move_task_list(env, arn("nosuch"), 1, &t, &n),
           LMQ_ENOTFOUND);
    /* Cancel an unclaimed task: done at once; not twice. */
    ck_ok(lmq_move_task_cancel(env, h, &moved));
    ck_assert_uint_eq(moved, 0);
    ck_assert_int_eq(task_info("dlq").status, LMQ_MOVE_CANCELLED);
    ck_lmq(lmq_move_task_cancel(env, h, &moved), LMQ_EINVAL);
    int st = -1;
    ck_ok(lmq_move_task_run(env, h, NULL, NULL, &st));
    ck_assert_int_eq(st, LMQ_MOVE_CANCELLED);
    free(h);
    ck_assert_str_eq(lmq_move_status_name(LMQ_MOVE_CANCELLING), "CANCELLING");
    ck_assert_str_eq(lmq_move_status_name(99), "UNKNOWN");
}
END_TEST

static int
count_progress(void *arg, uint64_t moved, uint64_t to_move)
{
    (void)moved;
    (void)to_move;
    (*(int *)arg)++;
    return 0;
}

START_TEST(test_task_back_to_sources)
{
    char *h = NULL;
    int st = -1, calls = 0;
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("s1", "RedrivePolicy", policy("dlq", 1)));
    ck_ok(create_q("s2", "RedrivePolicy", policy("dlq", 1)));
    send_n(env, "s1", "one", 0, 70);
    send_n(env, "s2", "two", 0, 30);
    dead_letter_all("s1");
    dead_letter_all("s2");
    ck_assert_int_eq(count_attr("dlq", "ApproximateNumberOfMessages"), 100);
    lmq_test_clock_advance(1000);
    int64_t t0 = lmq_env_now(env);
    ck_ok(lmq_move_task_start(env, arn("dlq"), NULL, 0, &h));
    ck_ok(lmq_move_task_run(env, h, count_progress, &calls, &st));
    ck_assert_int_eq(st, LMQ_MOVE_COMPLETED);
    ck_assert_int_ge(calls, 2);
    lmq_move_task t = task_info("dlq");
    ck_assert_int_eq(t.status, LMQ_MOVE_COMPLETED);
    ck_assert_uint_eq(t.moved, 100);
    ck_assert_uint_eq(t.to_move, 100);
    ck_assert_int_eq(t.started_ms, t0);
    ck_assert_int_eq(count_attr("dlq", "ApproximateNumberOfMessages"), 0);
    /* Everything came back where it belongs, once. */
    expect_bodies("s1", "one", 0, 70);
    /* New messages: new SentTimestamp, count from 0, no source. */
    lmq_queue *q;
    lmq_msg *m[1];
    ck_ok(lmq_queue_open(env, "s2", &q));
    ck_assert_uint_eq(recv_some(q, 600, m, 1), 1);
    ck_assert_uint_eq(lmq_msg_receive_count(m[0]), 1);
    ck_assert_int_eq(lmq_msg_sent_timestamp(m[0]), t0);
    ck_assert_ptr_null(lmq_msg_sys_attr(m[0], "DeadLetterQueueSourceArn"));
    free_msgs(m, 1);
    lmq_queue_close(q);
    ck_assert_int_eq(count_attr("s2", "ApproximateNumberOfMessages"), 29);
    free(h);
}
END_TEST

START_TEST(test_task_explicit_destination)
{
    char *h = NULL;
    int st;
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("src", "RedrivePolicy", policy("dlq", 1)));
    ck_ok(create_q("dest", NULL, NULL));
    send_n(env, "src", "m", 0, 40);
    dead_letter_all("src");
    /* A message sent to the DLQ directly goes to the explicit destination
     * too. */
    send_n(env, "dlq", "m", 40, 1);
    ck_ok(lmq_move_task_start(env, arn("dlq"), arn("dest"), 0, &h));
    ck_ok(lmq_move_task_run(env, h, NULL, NULL, &st));
    ck_assert_int_eq(st, LMQ_MOVE_COMPLETED);
    lmq_move_task *t;
    size_t n;
    ck_ok(lmq_move_task_list(env, arn("dlq"), 10, &t, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(t[0].destination_arn, arn("dest"));
    ck_assert_ptr_null(t[0].task_handle);
    ck_assert_uint_eq(t[0].moved, 41);
    lmq_move_task_list_free(t, n);
    expect_bodies("dest", "m", 0, 41);
    ck_assert_int_eq(count_attr("src", "ApproximateNumberOfMessages"), 0);
    ck_assert_int_eq(count_attr("dlq", "ApproximateNumberOfMessages"), 0);
    free(h);
}
END_TEST

/* Fork a runner for handle h; it exits with the final status (or 100+). */
static pid_t
fork_runner(const char *h)
{
    pid_t pid = check_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lmq_env *e = lmq_test_env();
        int st = -1;
        int rc = lmq_move_task_run(e, h, NULL, NULL, &st);
        lmq_env_close(e);
        _exit(rc ? 100 + (-rc % 100) : st);
    }
    return pid;
}

static int
reap(pid_t pid)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return st;
}

START_TEST(test_task_rate_limited)
{
    char *h = NULL;
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("src", "RedrivePolicy", policy("dlq", 1)));
    ck_ok(create_q("dest", NULL, NULL));
    send_n(env, "src", "m", 0, 25);
    dead_letter_all("src");
    ck_ok(lmq_move_task_start(env, arn("dlq"), arn("dest"), 10, &h));
    pid_t pid = fork_runner(h);
    /* The clock stands still: one second's worth (10) and no more. */
    lmq_move_task t = wait_moved("dlq", 10);
    ck_assert_uint_eq(t.moved, 10);
    ck_assert_int_eq(t.max_per_second, 10);
    nap(50);
    ck_assert_uint_eq(task_info("dlq").moved, 10);
    ck_assert_int_eq(count_attr("dest", "ApproximateNumberOfMessages"), 10);
    lmq_test_clock_advance(1000);
    ck_assert_uint_eq(wait_moved("dlq", 20).moved, 20);
    nap(50);
    ck_assert_uint_eq(task_info("dlq").moved, 20);
    lmq_test_clock_advance(1000);
    int st = reap(pid);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), LMQ_MOVE_COMPLETED);
    t = task_info("dlq");
    ck_assert_int_eq(t.status, LMQ_MOVE_COMPLETED);
    ck_assert_uint_eq(t.moved, 25);
    expect_bodies("dest", "m", 0, 25);
    free(h);
}
END_TEST

START_TEST(test_task_cancelled_half_way)
{
    char *h = NULL;
    uint64_t moved = 0;
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("src", "RedrivePolicy", policy("dlq", 1)));
    send_n(env, "src", "m", 0, 30);
    dead_letter_all("src");
    ck_ok(lmq_move_task_start(env, arn("dlq"), NULL, 10, &h));
    pid_t pid = fork_runner(h);
    wait_moved("dlq", 10);
    ck_ok(lmq_move_task_cancel(env, h, &moved));
    ck_assert_uint_eq(moved, 10);
    int st = reap(pid);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), LMQ_MOVE_CANCELLED);
    lmq_move_task t = task_info("dlq");
    ck_assert_int_eq(t.status, LMQ_MOVE_CANCELLED);
    ck_assert_uint_eq(t.moved, 10);
    int in_src;
    expect_split("src", "dlq", "m", 30, &in_src);
    ck_assert_int_eq(in_src, 10);
    free(h);
}
END_TEST

/* Moves the test clock forward in the background (for a rate-limited run
 * in this process). */
static volatile int ticking;

static void *
ticker(void *arg)
{
    (void)arg;
    while (__atomic_load_n(&ticking, __ATOMIC_SEQ_CST)) {
        lmq_test_clock_advance(1000);
        nap(1);
    }
    return NULL;
}

START_TEST(test_task_runner_killed_resumed)
{
    char *h = NULL;
    int st = -1;
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("src", "RedrivePolicy", policy("dlq", 1)));
    send_n(env, "src", "m", 0, 30);
    dead_letter_all("src");
    ck_ok(lmq_move_task_start(env, arn("dlq"), NULL, 10, &h));
    pid_t pid = fork_runner(h);
    wait_moved("dlq", 10);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int ws = reap(pid);
    ck_assert(WIFSIGNALED(ws));
    /* This process resumes it where it stopped. */
    pthread_t th;
    ticking = 1;
    ck_assert_int_eq(pthread_create(&th, NULL, ticker, NULL), 0);
    int rc = lmq_move_task_run(env, h, NULL, NULL, &st);
    __atomic_store_n(&ticking, 0, __ATOMIC_SEQ_CST);
    pthread_join(th, NULL);
    ck_lmq(rc, 0);
    ck_assert_int_eq(st, LMQ_MOVE_COMPLETED);
    lmq_move_task t = task_info("dlq");
    ck_assert_uint_eq(t.moved, 30);
    expect_bodies("src", "m", 0, 30);
    ck_assert_int_eq(count_attr("dlq", "ApproximateNumberOfMessages"), 0);
    free(h);
}
END_TEST

START_TEST(test_task_runner_killed_reported)
{
    char *h = NULL, *h2 = NULL;
    int st = -1;
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("src", "RedrivePolicy", policy("dlq", 1)));
    ck_ok(create_q("dest", NULL, NULL));
    send_n(env, "src", "m", 0, 30);
    dead_letter_all("src");
    ck_ok(lmq_move_task_start(env, arn("dlq"), arn("dest"), 10, &h));
    pid_t pid = fork_runner(h);
    wait_moved("dlq", 10);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    reap(pid);
    /* Whoever looks next sees it FAILED with the reason, not RUNNING. */
    lmq_move_task *t;
    size_t n;
    ck_ok(lmq_move_task_list(env, arn("dlq"), 1, &t, &n));
    ck_assert_int_eq(t[0].status, LMQ_MOVE_FAILED);
    ck_assert_ptr_nonnull(strstr(t[0].failure_reason, "RunnerDied"));
    ck_assert_ptr_null(t[0].task_handle);
    ck_assert_uint_eq(t[0].moved, 10);
    lmq_move_task_list_free(t, n);
    ck_ok(lmq_move_task_run(env, h, NULL, NULL, &st));
    ck_assert_int_eq(st, LMQ_MOVE_FAILED);
    /* A new task moves the rest. */
    ck_ok(lmq_move_task_start(env, arn("dlq"), arn("dest"), 0, &h2));
    ck_ok(lmq_move_task_run(env, h2, NULL, NULL, &st));
    ck_assert_int_eq(st, LMQ_MOVE_COMPLETED);
    ck_ok(lmq_move_task_list(env, arn("dlq"), 10, &t, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(t[0].status, LMQ_MOVE_COMPLETED);
    ck_assert_uint_eq(t[0].moved, 20);
    ck_assert_int_eq(t[1].status, LMQ_MOVE_FAILED);
    lmq_move_task_list_free(t, n);
    expect_bodies("dest", "m", 0, 30);
    free(h);
    free(h2);
}
END_TEST

/* No rate limit, killed at whatever point it has reached (possibly in the
 * middle of a batch transaction): nothing is lost or duplicated. */
START_TEST(test_task_runner_killed_anywhere)
{
    enum { NMSG = 600 };
    char *h = NULL;
    int st = -1;
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("src", "RedrivePolicy", policy("dlq", 1)));
    ck_ok(create_q("dest", NULL, NULL));
    send_n(env, "src", "m", 0, NMSG);
    dead_letter_all("src");
    ck_ok(lmq_move_task_start(env, arn("dlq"), arn("dest"), 0, &h));
    pid_t pid = fork_runner(h);
    wait_moved("dlq", 1);
    kill(pid, SIGKILL);
    reap(pid);
    ck_ok(lmq_move_task_run(env, h, NULL, NULL, &st));
    ck_assert(st == LMQ_MOVE_COMPLETED);
    ck_assert_uint_eq(task_info("dlq").moved, NMSG);
    expect_bodies("dest", "m", 0, NMSG);
    ck_assert_int_eq(count_attr("dlq", "ApproximateNumberOfMessages"), 0);
    free(h);
}
END_TEST

START_TEST(test_task_destination_deleted)
{
    char *h = NULL;
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("src", "RedrivePolicy", policy("dlq", 1)));
    ck_ok(create_q("dest", NULL, NULL));
    send_n(env, "src", "m", 0, 30);
    dead_letter_all("src");
    ck_ok(lmq_move_task_start(env, arn("dlq"), arn("dest"), 10, &h));
    pid_t pid = fork_runner(h);
    wait_moved("dlq", 10);
    ck_ok(lmq_queue_delete(env, "dest"));
    lmq_test_clock_advance(1000);
    int st = reap(pid);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), LMQ_MOVE_FAILED);
    lmq_move_task *t;
    size_t n;
    ck_ok(lmq_move_task_list(env, arn("dlq"), 1, &t, &n));
    ck_assert_int_eq(t[0].status, LMQ_MOVE_FAILED);
    ck_assert_ptr_nonnull(
        strstr(t[0].failure_reason, "AWS.SimpleQueueService.NonExistentQueue"));
    ck_assert_uint_eq(t[0].moved, 10);
    lmq_move_task_list_free(t, n);
    expect_bodies("dlq", "m", 10, 20);
    free(h);
}
END_TEST

static int
cancel_after_first(void *arg, uint64_t moved, uint64_t to_move)
{
    (void)arg;
    (void)to_move;
    return moved > 0;
}

START_TEST(test_task_progress_cancels)
{
    char *h = NULL;
    int st = -1;
    ck_ok(create_q("dlq", NULL, NULL));
    ck_ok(create_q("src", "RedrivePolicy", policy("dlq", 1)));
    send_n(env, "src", "m", 0, 100);
    dead_letter_all("src");
    ck_ok(lmq_move_task_start(env, arn("dlq"), NULL, 0, &h));
    ck_ok(lmq_move_task_run(env, h, cancel_after_first, NULL, &st));
    ck_assert_int_eq(st, LMQ_MOVE_CANCELLED);
    lmq_move_task t = task_info("dlq");
    ck_assert_uint_gt(t.moved, 0);
    ck_assert_uint_lt(t.moved, 100);
    int in_src;
    expect_split("src", "dlq", "m", 100, &in_src);
    ck_assert_int_eq((uint64_t)in_src, t.moved);
    free(h);
}
END_TEST

Suite *
lmq_suite_dlq(void)
{
    Suite *s = suite_create("dlq");
    TCase *tc = tcase_create("policies");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_policy_stored_normalised);
    tcase_add_test(tc, test_policy_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("move on receive");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_move_on_exact_receive);
    tcase_add_test(tc, test_move_keeps_enqueue_time);
    tcase_add_test(tc, test_dlq_gone_delivers);
    tcase_add_test(tc, test_list_sources);
    tcase_add_test(tc, test_concurrent_receivers);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("move tasks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_task_errors);
    tcase_add_test(tc, test_task_back_to_sources);
    tcase_add_test(tc, test_task_explicit_destination);
    tcase_add_test(tc, test_task_rate_limited);
    tcase_add_test(tc, test_task_cancelled_half_way);
    tcase_add_test(tc, test_task_runner_killed_resumed);
    tcase_add_test(tc, test_task_runner_killed_reported);
    tcase_add_test(tc, test_task_runner_killed_anywhere);
    tcase_add_test(tc, test_task_progress_cancels);
    tcase_add_test(tc, test_task_destination_deleted);
    tcase_add_test(tc, test_fifo_move_and_back);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_dlq());
}
