/*
 * check_testdouble.c: the test-double extras of issue 21: the home's test
 * clock (shared across processes, driving visibility timeouts, delays,
 * retention, the 60-second rules and waiting receives), peek, reset, the
 * age of the oldest message; the `lmq clock|peek|reset` commands; and
 * lmqd's /_lmq/clock, /_lmq/reset, /_aws/sqs/messages and /metrics over
 * loopback (when lmqd and libcurl are built).
 *
 * Nothing here sleeps through a timeout: time moves with
 * lmq_env_clock_advance(). The only real waits are bounded polls for a
 * thread or a process to get somewhere.
 */
#include "lmq_test.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#ifdef LMQ_TEST_LMQD
#include <curl/curl.h>
#endif

#ifndef LMQ_BIN
#error "LMQ_BIN must name the built tools/lmq"
#endif

static void
setup(void)
{
    lmq_test_tmp_setup();
}

static void
teardown(void)
{
    lmq_test_tmp_teardown();
}

static const char *
home(void)
{
    static char path[300];
    snprintf(path, sizeof path, "%s/home", lmq_test_dir);
    return path;
}

/* Open the test home; with tc, put it on its test clock. */
static lmq_env *
open_env(int tc)
{
    lmq_env_opts o;
    lmq_env *env = NULL;
    lmq_env_opts_init(&o);
    o.durability = LMQ_DURABILITY_NONE;
    o.map_size = 64u << 20;
    o.test_clock = tc;
    ck_ok(lmq_env_open(home(), &o, &env));
    return env;
}

static void
mkqueue(lmq_env *env, const char *name, const char *k, const char *v)
{
    lmq_map *a = lmq_map_new();
    if (k)
        ck_ok(lmq_map_set(a, k, v));
    ck_ok(lmq_queue_create(env, name, a, NULL, NULL));
    lmq_map_free(a);
}

static void
send_body(lmq_queue *q, const char *body, int delay)
{
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = body;
    e.delay_seconds = delay;
    ck_ok(lmq_send(q, &e, NULL));
}

/* Receive at most one message without waiting; NULL when none. */
static lmq_msg *
recv1(lmq_queue *q, int vt)
{
    lmq_recv_opts o;
    lmq_msg *m = NULL;
    size_t n = 0;
    lmq_recv_opts_init(&o);
    o.visibility_timeout = vt;
    o.wait_seconds = 0;
    ck_ok(lmq_receive(q, &o, &m, 1, &n));
    return n ? m : NULL;
}

static const char *
attr(lmq_env *env, const char *q, const char *name)
{
    static char buf[64];
    const char *names[] = {name, NULL};
    lmq_map *m = NULL;
    ck_ok(lmq_queue_get_attributes(env, q, names, &m));
    snprintf(buf, sizeof buf, "%s", lmq_map_get(m, name));
    lmq_map_free(m);
    return buf;
}

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the test clock
 * ---------------------------------------------------------- */

START_TEST(test_clock_off)
{
    lmq_env *env = open_env(0);
    int64_t off = 7;
    ck_lmq(lmq_env_clock_advance(env, 1000, NULL), LMQ_EINVAL);
    ck_lmq(lmq_env_clock_offset(env, &off), LMQ_EINVAL);
    ck_assert_int_eq(off, 0);
    ck_lmq(lmq_env_clock_advance(NULL, 1, NULL), LMQ_EMISUSE);
    lmq_env_close(env);

    /* A custom clock function and the test clock exclude each other. */
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    o.clock = lmq_test_clock;
    o.test_clock = 1;
    ck_lmq(lmq_env_open(home(), &o, &env), LMQ_EINVAL);
    ck_assert_ptr_null(env);
}
END_TEST

START_TEST(test_clock_enable_advance)
{
    lmq_env *env = open_env(1);
    int64_t off = -1, now = 0;
    ck_ok(lmq_env_clock_offset(env, &off));
    ck_assert_int_eq(off, 0);
    int64_t before = lmq_env_now(env);
    ck_ok(lmq_env_clock_advance(env, 3600 * 1000, &now));
    ck_assert_int_ge(now, before + 3600 * 1000);
    ck_assert_int_lt(now, before + 3600 * 1000 + 5000);
    ck_ok(lmq_env_clock_advance(env, 0, NULL));
    ck_lmq(lmq_env_clock_advance(env, -1, NULL), LMQ_EINVAL);
    ck_ok(lmq_env_clock_offset(env, &off));
    ck_assert_int_eq(off, 3600 * 1000);
    lmq_env_close(env);

    /* An open without the flag picks the home's clock up. */
    env = open_env(0);
    ck_ok(lmq_env_clock_offset(env, &off));
    ck_assert_int_eq(off, 3600 * 1000);
    ck_assert_int_ge(lmq_env_now(env), before + 3600 * 1000);
    lmq_env_close(env);
}
END_TEST

START_TEST(test_clock_shared_across_processes)
{
    lmq_env *env = open_env(1);
    int64_t before = lmq_env_now(env);
    pid_t pid = check_fork();
    if (pid == 0) {
        /* The child opens its own env (never the parent's) and moves the
         * clock of every process of the home. */
        lmq_env_opts o;
        lmq_env *ce = NULL;
        lmq_env_opts_init(&o);
        o.durability = LMQ_DURABILITY_NONE;
        o.map_size = 64u << 20;
        if (lmq_env_open(home(), &o, &ce) != 0)
            _exit(2);
        int rc = lmq_env_clock_advance(ce, 120 * 1000, NULL);
        lmq_env_close(ce);
        _exit(rc == 0 ? 0 : 3);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* The parent's env, open all along, sees the move. */
    ck_assert_int_ge(lmq_env_now(env), before + 120 * 1000);
    int64_t off;
    ck_ok(lmq_env_clock_offset(env, &off));
    ck_assert_int_eq(off, 120 * 1000);
    lmq_env_close(env);
}
END_TEST

START_TEST(test_clock_visibility_timeout)
{
    lmq_env *env = open_env(1);
    lmq_queue *q;
    mkqueue(env, "vt", NULL, NULL);
    ck_ok(lmq_queue_open(env, "vt", &q));
    send_body(q, "job", 0);
    lmq_msg *m = recv1(q, 30);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(lmq_msg_state(m), LMQ_MSG_INFLIGHT);
    lmq_msg_free(m);
    ck_assert_ptr_null(recv1(q, 30));
    ck_ok(lmq_env_clock_advance(env, 29 * 1000, NULL));
    ck_assert_ptr_null(recv1(q, 30));
    ck_ok(lmq_env_clock_advance(env, 1000, NULL));
    m = recv1(q, 30);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(lmq_msg_receive_count(m), 2);
    lmq_msg_free(m);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

START_TEST(test_clock_delay_matures)
{
    lmq_env *env = open_env(1);
    lmq_queue *q;
    mkqueue(env, "delay", NULL, NULL);
    ck_ok(lmq_queue_open(env, "delay", &q));
    send_body(q, "later", 900);
    ck_assert_ptr_null(recv1(q, 30));
    ck_assert_str_eq(attr(env, "delay", "ApproximateNumberOfMessagesDelayed"),
                     "1");
    ck_ok(lmq_env_clock_advance(env, 900 * 1000, NULL));
    ck_assert_str_eq(attr(env, "delay", "ApproximateNumberOfMessages"), "1");
    lmq_msg *m = recv1(q, 30);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "later");
    lmq_msg_free(m);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

START_TEST(test_clock_sixty_second_rules)
{
    lmq_env *env = open_env(1);
    mkqueue(env, "gone", NULL, NULL);
    ck_ok(lmq_queue_delete(env, "gone"));
    ck_lmq(lmq_queue_create(env, "gone", NULL, NULL, NULL),
           LMQ_EDELETEDRECENTLY);
    ck_ok(lmq_env_clock_advance(env, 60 * 1000, NULL));
    ck_ok(lmq_queue_create(env, "gone", NULL, NULL, NULL));

    ck_ok(lmq_queue_purge(env, "gone"));
    ck_lmq(lmq_queue_purge(env, "gone"), LMQ_EPURGEINPROGRESS);
    ck_ok(lmq_env_clock_advance(env, 60 * 1000, NULL));
    ck_ok(lmq_queue_purge(env, "gone"));
    lmq_env_close(env);
}
END_TEST

START_TEST(test_clock_retention)
{
    lmq_env *env = open_env(1);
    lmq_queue *q;
    mkqueue(env, "short", "MessageRetentionPeriod", "60");
    ck_ok(lmq_queue_open(env, "short", &q));
    send_body(q, "old", 0);
    ck_ok(lmq_env_clock_advance(env, 60 * 1000, NULL));
    lmq_msg **msgs;
    size_t n;
    ck_ok(lmq_queue_peek(env, "short", NULL, &msgs, &n));
    ck_assert_uint_eq(n, 0);
    lmq_msg_list_free(msgs, n);
    int64_t age = 1;
    ck_ok(lmq_queue_oldest_age_ms(env, "short", &age));
    ck_assert_int_eq(age, 0);
    ck_assert_ptr_null(recv1(q, 30));
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

struct waiter {
    lmq_queue *q;
    size_t n;
    int rc;
    int64_t ms;
};

static void *
wait_thread(void *arg)
{
    struct waiter *w = arg;
    lmq_recv_opts o;
    lmq_msg *m = NULL;
    lmq_recv_opts_init(&o);
    o.wait_seconds = 20;
    int64_t t0 = mono_ms();
    w->rc = lmq_receive(w->q, &o, &m, 1, &w->n);
    w->ms = mono_ms() - t0;
    lmq_msg_free(m);
    return NULL;
}

START_TEST(test_clock_wakes_waiting_receive)
{
    lmq_env *env = open_env(1);
    lmq_queue *q;
    mkqueue(env, "wait", NULL, NULL);
    ck_ok(lmq_queue_open(env, "wait", &q));
    send_body(q, "held", 0);
    lmq_msg *m = recv1(q, 600); /* in flight for ten minutes */
    ck_assert_ptr_nonnull(m);
    lmq_msg_free(m);
    struct waiter w = {q, 0, -99, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, wait_thread, &w), 0);
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL); /* let it start waiting (either way it passes) */
    ck_ok(lmq_env_clock_advance(env, 600 * 1000, NULL));
    pthread_join(th, NULL);
    ck_ok(w.rc);
    ck_assert_uint_eq(w.n, 1);
    ck_assert_int_lt(w.ms, 5000);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* ---- peek -------------------------------------------------------------------
 */

START_TEST(test_peek_changes_nothing)
{
    lmq_env *env = open_env(1);
    lmq_queue *q;
    mkqueue(env, "p", NULL, NULL);
    ck_ok(lmq_queue_open(env, "p", &q));
    lmq_mattrs *a = lmq_mattrs_new();
    ck_ok(lmq_mattrs_add(a, "color", "String", "red", 3));
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = "A";
    e.attrs = a;
    ck_ok(lmq_send(q, &e, NULL));
    lmq_mattrs_free(a);
    send_body(q, "B", 0);
    send_body(q, "C", 60);
    lmq_msg *m = recv1(q, 30); /* A in flight */
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "A");
    lmq_msg_free(m);

    lmq_map *before = NULL, *after = NULL;
    const char *all[] = {"All", NULL};
    ck_ok(lmq_queue_get_attributes(env, "p", all, &before));

    /* Default: visible messages only. */
    lmq_msg **msgs;
    size_t n;
    ck_ok(lmq_queue_peek(env, "p", NULL, &msgs, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(lmq_msg_body(msgs[0], NULL), "B");
    ck_assert_int_eq(lmq_msg_state(msgs[0]), LMQ_MSG_VISIBLE);
    ck_assert_str_eq(lmq_msg_receipt(msgs[0]), "");
    ck_assert_uint_eq(lmq_msg_receive_count(msgs[0]), 0);
    lmq_msg_list_free(msgs, n);

    /* Everything, in send order, with states and times. */
    lmq_peek_opts o;
    lmq_peek_opts_init(&o);
    o.show_inflight = 1;
    o.show_delayed = 1;
    int64_t now = lmq_env_now(env);
    for (int round = 0; round < 2; round++) {
        ck_ok(lmq_queue_peek(env, "p", &o, &msgs, &n));
        ck_assert_uint_eq(n, 3);
        ck_assert_str_eq(lmq_msg_body(msgs[0], NULL), "A");
        ck_assert_str_eq(lmq_msg_state_name(lmq_msg_state(msgs[0])),
                         "inflight");
        ck_assert_uint_eq(lmq_msg_receive_count(msgs[0]), 1);
        ck_assert_int_gt(lmq_msg_visible_at(msgs[0]), now + 25 * 1000);
        const lmq_mattrs *ma = lmq_msg_attrs(msgs[0]);
        ck_assert_uint_eq(lmq_mattrs_count(ma), 1);
        ck_assert_str_ne(lmq_msg_md5_attrs(msgs[0]), "");
        ck_assert_str_eq(lmq_msg_state_name(lmq_msg_state(msgs[1])), "visible");
        ck_assert_str_eq(lmq_msg_body(msgs[2], NULL), "C");
        ck_assert_str_eq(lmq_msg_state_name(lmq_msg_state(msgs[2])), "delayed");
        ck_assert_int_gt(lmq_msg_visible_at(msgs[2]), now + 55 * 1000);
        lmq_msg_list_free(msgs, n);
    }
    o.max_messages = 2;
    ck_ok(lmq_queue_peek(env, "p", &o, &msgs, &n));
    ck_assert_uint_eq(n, 2);
    lmq_msg_list_free(msgs, n);

    /* Nothing moved: counters, receive counts, visibility. */
    ck_ok(lmq_queue_get_attributes(env, "p", all, &after));
    const char *keys[] = {"ApproximateNumberOfMessages",
                          "ApproximateNumberOfMessagesNotVisible",
                          "ApproximateNumberOfMessagesDelayed", NULL};
    for (int i = 0; keys[i]; i++)
        ck_assert_str_eq(lmq_map_get(before, keys[i]),
                         lmq_map_get(after, keys[i]));
    lmq_map_free(before);
    lmq_map_free(after);
    m = recv1(q, 30);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "B");
    ck_assert_uint_eq(lmq_msg_receive_count(m), 1);
    lmq_msg_free(m);
    ck_assert_ptr_null(recv1(q, 30)); /* A still in flight, C delayed */

    ck_lmq(lmq_queue_peek(env, "nope", NULL, &msgs, &n), LMQ_ENOQUEUE);
    ck_assert_ptr_null(msgs);
    ck_lmq(lmq_queue_peek(env, "p", NULL, NULL, &n), LMQ_EINVAL);
    lmq_msg_list_free(NULL, 0);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

START_TEST(test_peek_fifo)
{
    lmq_env *env = open_env(0);
    lmq_queue *q;
    lmq_map *a = lmq_map_new();
    ck_ok(lmq_map_set(a, "FifoQueue", "true"));
    ck_ok(lmq_map_set(a, "ContentBasedDeduplication", "true"));
    ck_ok(lmq_queue_create(env, "f.fifo", a, NULL, NULL));
    lmq_map_free(a);
    ck_ok(lmq_queue_open(env, "f.fifo", &q));
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.group_id = "g";
    e.body = "one";
    ck_ok(lmq_send(q, &e, NULL));
    e.body = "two";
    ck_ok(lmq_send(q, &e, NULL));
    lmq_msg **msgs;
    size_t n;
    ck_ok(lmq_queue_peek(env, "f.fifo", NULL, &msgs, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(lmq_msg_sys_attr(msgs[0], "MessageGroupId"), "g");
    ck_assert_ptr_nonnull(lmq_msg_sys_attr(msgs[1], "SequenceNumber"));
    lmq_msg_list_free(msgs, n);
    lmq_msg *m = recv1(q, 30);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "one");
    lmq_msg_free(m);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* ---- reset ------------------------------------------------------------------
 */

START_TEST(test_reset)
{
    lmq_env *env = open_env(0);
    lmq_queue *q;
    mkqueue(env, "a", NULL, NULL);
    mkqueue(env, "b", "DelaySeconds", "5");
    mkqueue(env, "c", NULL, NULL);
    ck_ok(lmq_queue_open(env, "a", &q));
    send_body(q, "x", 0);
    ck_ok(lmq_queue_delete(env, "c")); /* a 60-second tombstone */
    size_t deleted = 0;
    ck_ok(lmq_env_reset(env, &deleted));
    ck_assert_uint_eq(deleted, 2);
    char **names = NULL;
    ck_ok(lmq_queue_list(env, NULL, 0, NULL, &names, NULL));
    ck_assert_ptr_null(names[0]);
    lmq_strv_free(names);
    /* The names are free at once, the tombstone of c included. */
    mkqueue(env, "a", NULL, NULL);
    mkqueue(env, "c", NULL, NULL);
    /* The old handle never reaches the new queue of its name. */
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = "y";
    ck_lmq(lmq_send(q, &e, NULL), LMQ_ENOQUEUE);
    lmq_queue_close(q);
    ck_assert_str_eq(attr(env, "a", "ApproximateNumberOfMessages"), "0");
    ck_ok(lmq_env_reset(env, NULL));
    ck_ok(lmq_env_reset(env, &deleted));
    ck_assert_uint_eq(deleted, 0);
    ck_lmq(lmq_env_reset(NULL, NULL), LMQ_EMISUSE);
    lmq_env_close(env);
}
END_TEST

/* ---- the oldest message's age
 * ------------------------------------------------ */

START_TEST(test_oldest_age)
{
    lmq_env *env = open_env(1);
    lmq_queue *q;
    int64_t age = -1;
    mkqueue(env, "o", NULL, NULL);
    ck_ok(lmq_queue_oldest_age_ms(env, "o", &age));
    ck_assert_int_eq(age, 0);
    ck_ok(lmq_queue_open(env, "o", &q));
    send_body(q, "first", 0);
    ck_ok(lmq_env_clock_advance(env, 5000, NULL));
    send_body(q, "second", 0);
    ck_ok(lmq_queue_oldest_age_ms(env, "o", &age));
    ck_assert_int_ge(age, 5000);
    ck_assert_int_lt(age, 7000);
    /* In flight still counts; deleted does not. */
    lmq_msg *m = recv1(q, 30);
    ck_ok(lmq_queue_oldest_age_ms(env, "o", &age));
    ck_assert_int_ge(age, 5000);
    ck_ok(lmq_delete(q, lmq_msg_receipt(m), NULL));
    lmq_msg_free(m);
    ck_ok(lmq_queue_oldest_age_ms(env, "o", &age));
    ck_assert_int_lt(age, 2000);
    ck_lmq(lmq_queue_oldest_age_ms(env, "nope", &age), LMQ_ENOQUEUE);
    ck_lmq(lmq_queue_oldest_age_ms(env, "o", NULL), LMQ_EINVAL);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* ---- the CLI ----------------------------------------------------------------
 */

/* Run `lmq --home H --durability none ARGS` and parse its stdout as JSON
 * (NULL when empty); *status gets the exit status. */
static json_t *
lmq_cli(int *status, const char *args)
{
    char cmd[1024], out[300];
    snprintf(out, sizeof out, "%s/cli.out", lmq_test_dir);
    snprintf(cmd, sizeof cmd,
             "'%s' --home '%s' --durability none %s > '%s' 2>/dev/null",
             LMQ_BIN, home(), args, out);
    int st = system(cmd);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    json_error_t err;
    return json_load_file(out, 0, &err);
}

START_TEST(test_cli)
{
    int st;
    json_t *j = lmq_cli(&st, "clock advance 30s");
    ck_assert_int_eq(st, 254); /* no test clock yet */
    json_decref(j);
    j = lmq_cli(&st, "clock enable");
    ck_assert_int_eq(st, 0);
    ck_assert(json_is_true(json_object_get(j, "TestClock")));
    json_decref(j);
    j = lmq_cli(&st, "clock advance 1m30s");
    ck_assert_int_eq(st, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "OffsetMs")), 90000);
    int64_t now = json_integer_value(json_object_get(j, "Now"));
    json_decref(j);
    j = lmq_cli(&st, "clock advance soon");
    ck_assert_int_eq(st, 252);
    json_decref(j);
    char args[128];
    snprintf(args, sizeof args, "clock set %lld", (long long)now - 10000);
    j = lmq_cli(&st, args); /* the past */
    ck_assert_int_eq(st, 254);
    json_decref(j);
    snprintf(args, sizeof args, "clock set %lld", (long long)now + 3600000);
    j = lmq_cli(&st, args);
    ck_assert_int_eq(st, 0);
    ck_assert_int_ge(json_integer_value(json_object_get(j, "Now")),
                     now + 3600000);
    json_decref(j);

    json_decref(lmq_cli(&st, "create-queue --queue-name cq"));
    ck_assert_int_eq(st, 0);
    json_decref(lmq_cli(&st, "send-message --queue-url cq --message-body "
                             "hi --delay-seconds 30"));
    ck_assert_int_eq(st, 0);
    j = lmq_cli(&st, "peek --queue-url cq");
    ck_assert_int_eq(st, 0);
    ck_assert_ptr_null(j); /* nothing visible: no output */
    j = lmq_cli(&st, "peek --queue-url cq --show-delayed");
    ck_assert_int_eq(st, 0);
    json_t *m = json_array_get(json_object_get(j, "Messages"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(m, "Body")), "hi");
    json_t *a = json_object_get(m, "Attributes");
    ck_assert_str_eq(json_string_value(json_object_get(a, "lmq:State")),
                     "delayed");
    ck_assert_ptr_null(json_object_get(m, "ReceiptHandle"));
    json_decref(j);
    json_decref(lmq_cli(&st, "clock advance 30s"));
    j = lmq_cli(&st, "peek --queue-url cq");
    ck_assert_uint_eq(json_array_size(json_object_get(j, "Messages")), 1);
    json_decref(j);

    j = lmq_cli(&st, "reset");
    ck_assert_int_eq(st, 252);
    json_decref(j);
    j = lmq_cli(&st, "reset --yes");
    ck_assert_int_eq(st, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "Deleted")), 1);
    json_decref(j);
    json_decref(lmq_cli(&st, "create-queue --queue-name cq"));
    ck_assert_int_eq(st, 0);
}
END_TEST

/* ---- lmqd over loopback
 * --------------------------------------------------------- */

#ifdef LMQ_TEST_LMQD

static pid_t lmqd_pid;
static char lmqd_url[128];

static void
lmqd_start(void)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(LMQD_BIN, "lmqd", "--ephemeral", "--listen", "127.0.0.1:0",
              "--test-clock", "--quiet", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[256] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    lmqd_pid = pid;
    ck_assert_msg(sscanf(line, "lmqd ready %127s", lmqd_url) == 1,
                  "no ready line: %s", line);
}

static void
lmqd_stop(void)
{
    int st;
    kill(lmqd_pid, SIGTERM);
    ck_assert_int_eq(waitpid(lmqd_pid, &st, 0), lmqd_pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

struct body {
    char *s;
    size_t n;
};

static size_t
collect(char *p, size_t sz, size_t nm, void *arg)
{
    struct body *b = arg;
    char *ns = realloc(b->s, b->n + sz * nm + 1);
    ck_assert_ptr_nonnull(ns);
    memcpy(ns + b->n, p, sz * nm);
    b->n += sz * nm;
    ns[b->n] = '\0';
    b->s = ns;
    return sz * nm;
}

/* method "GET"/"POST" to lmqd_url + path; returns the body (caller frees),
 * *status the HTTP status. headers: NULL-terminated. */
static char *
http(const char *method, const char *path, const char *const *headers,
     const char *data, long *status)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    struct body b = {calloc(1, 1), 0};
    char url[512];
    snprintf(url, sizeof url, "%s%s", lmqd_url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (data)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    ck_assert_msg(rc == CURLE_OK, "curl: %s", curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return b.s;
}

static json_t *
http_json(const char *method, const char *path, const char *const *headers,
          const char *data, long want)
{
    long st = 0;
    char *s = http(method, path, headers, data, &st);
    ck_assert_msg(st == want, "%s %s: %ld %s", method, path, st, s);
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    ck_assert_msg(j != NULL, "not JSON: %s", s);
    free(s);
    return j;
}

START_TEST(test_lmqd_endpoints)
{
    lmqd_start();
    char path[512], data[512];
    long st;

    json_t *j = http_json("GET", "/_lmq/clock", NULL, NULL, 200);
    ck_assert(json_is_true(json_object_get(j, "test_clock")));
    int64_t t0 = json_integer_value(json_object_get(j, "now"));
    json_decref(j);

    free(http("POST", "/?Action=CreateQueue&QueueName=q", NULL, NULL, &st));
    ck_assert_int_eq(st, 200);
    snprintf(path, sizeof path,
             "/?Action=SendMessage&QueueUrl=%s/000000000000/q"
             "&MessageBody=later&DelaySeconds=120",
             lmqd_url);
    free(http("POST", path, NULL, NULL, &st));
    ck_assert_int_eq(st, 200);

    /* Peek: XML by default, nothing visible yet; delayed with the flag. */
    snprintf(path, sizeof path, "/_aws/sqs/messages?QueueUrl=%s/000000000000/q",
             lmqd_url);
    char *s = http("GET", path, NULL, NULL, &st);
    ck_assert_int_eq(st, 200);
    ck_assert_ptr_nonnull(strstr(s, "<ReceiveMessageResponse"));
    ck_assert_ptr_null(strstr(s, "<Message>"));
    free(s);
    strncat(path, "&ShowDelayed=true", sizeof path - strlen(path) - 1);
    s = http("GET", path, NULL, NULL, &st);
    ck_assert_ptr_nonnull(strstr(s, "<Body>later</Body>"));
    ck_assert_ptr_nonnull(strstr(s, "<Name>lmq:State</Name><Value>delayed"));
    ck_assert_ptr_nonnull(strstr(s, "SQS/BACKDOOR/ACCESS"));
    free(s);
    /* The path form, in JSON on Accept. */
    static const char *const accept[] = {"Accept: application/json", NULL};
    j = http_json("GET",
                  "/_aws/sqs/messages/us-east-1/000000000000/q?ShowDelayed=1",
                  accept, NULL, 200);
    json_t *m = json_array_get(json_object_get(j, "Messages"), 0);
    json_t *a = json_object_get(m, "Attributes");
    ck_assert_str_eq(json_string_value(json_object_get(a, "IsDelayed")),
                     "true");
    ck_assert_str_eq(
        json_string_value(json_object_get(a, "ApproximateReceiveCount")), "0");
    json_decref(j);

    /* The test clock moves the delay along, for the SQS actions too. */
    j = http_json("POST", "/_lmq/clock/advance?seconds=120", NULL, NULL, 200);
    ck_assert_int_ge(json_integer_value(json_object_get(j, "now")),
                     t0 + 120000);
    json_decref(j);
    /* An SDK using the peek URL as its endpoint (ReceiveMessage, JSON). */
    static const char *const sdk[] = {
        "Content-Type: application/x-amz-json-1.0",
        "X-Amz-Target: AmazonSQS.ReceiveMessage", NULL};
    snprintf(data, sizeof data, "{\"QueueUrl\":\"%s/000000000000/q\"}",
             lmqd_url);
    j = http_json("POST", "/_aws/sqs/messages", sdk, data, 200);
    m = json_array_get(json_object_get(j, "Messages"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(m, "Body")), "later");
    json_decref(j);
    /* A real receive still gets it first time round: peeks count nothing. */
    static const char *const recv[] = {
        "Content-Type: application/x-amz-json-1.0",
        "X-Amz-Target: AmazonSQS.ReceiveMessage", NULL};
    j = http_json("POST", "/", recv, data, 200);
    m = json_array_get(json_object_get(j, "Messages"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(m, "Body")), "later");
    json_decref(j);

    /* Unknown queue: SQS's error. */
    s = http("GET", "/_aws/sqs/messages?QueueUrl=http://x/1/nope", NULL, NULL,
             &st);
    ck_assert_int_eq(st, 400);
    ck_assert_ptr_nonnull(strstr(s, "NonExistentQueue"));
    free(s);

    /* /metrics has the age of the oldest message. */
    s = http("GET", "/metrics", NULL, NULL, &st);
    ck_assert_ptr_nonnull(
        strstr(s, "lmq_queue_oldest_message_age_seconds{queue=\"q\"} 1"));
    free(s);

    /* Reset, then the same name at once. */
    free(http("POST", "/?Action=DeleteQueue&QueueUrl=http://h/0/q", NULL, NULL,
              &st));
    ck_assert_int_eq(st, 200);
    free(http("POST", "/?Action=CreateQueue&QueueName=r", NULL, NULL, &st));
    j = http_json("POST", "/_lmq/reset", NULL, NULL, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "deleted")), 1);
    json_decref(j);
    free(http("POST", "/?Action=CreateQueue&QueueName=q", NULL, NULL, &st));
    ck_assert_int_eq(st, 200);
    j = http_json("GET", "/_lmq/nothing", NULL, NULL, 404);
    json_decref(j);
    lmqd_stop();
}
END_TEST

#endif /* LMQ_TEST_LMQD */

static Suite *
lmq_suite_testdouble(void)
{
    Suite *s = suite_create("testdouble");
    TCase *tc = tcase_create("test clock");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_clock_off);
    tcase_add_test(tc, test_clock_enable_advance);
    tcase_add_test(tc, test_clock_shared_across_processes);
    tcase_add_test(tc, test_clock_visibility_timeout);
    tcase_add_test(tc, test_clock_delay_matures);
    tcase_add_test(tc, test_clock_sixty_second_rules);
    tcase_add_test(tc, test_clock_retention);
    tcase_add_test(tc, test_clock_wakes_waiting_receive);
    suite_add_tcase(s, tc);

    tc = tcase_create("peek changes nothing");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_peek_changes_nothing);
    tcase_add_test(tc, test_peek_fifo);
    suite_add_tcase(s, tc);

    tc = tcase_create("reset frees every name");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_reset);
    suite_add_tcase(s, tc);

    tc = tcase_create("age of the oldest message");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_oldest_age);
    suite_add_tcase(s, tc);

    tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_cli);
    suite_add_tcase(s, tc);

#ifdef LMQ_TEST_LMQD
    tc = tcase_create("lmqd endpoints");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_lmqd_endpoints);
    suite_add_tcase(s, tc);
#endif
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_testdouble());
}
