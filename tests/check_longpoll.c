/*
 * check_longpoll.c: waiting receives (WaitTimeSeconds) across processes.
 *
 * These tests run on the real clock: what they check is that a sleeping
 * receive is woken by something another process does (a send, a delay or a
 * visibility timeout running out). Bounds are generous (a wake must come
 * "well before" a 10 s deadline, a deadline must be kept to within 2 s) so
 * that a loaded machine never fails them; latency is measured in
 * bench/wake.c, not here.
 *
 * Waiters run in forked children that open their own env after fork and
 * report through their exit status. The parent waits until the waiters are
 * registered on the queue's wake slot (lmq__notify_waiters) before it acts,
 * so each test really exercises a sleeping receiver, not a lucky first try.
 */
#include "lmq_test.h"

#include "core.h"
#include "notify.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static lmq_env *env;
static lmq_queue *q;

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void
make_queue(const char *name, const char *attr, const char *value)
{
    lmq_map *a = lmq_map_new();
    if (attr)
        ck_ok(lmq_map_set(a, attr, value));
    ck_ok(lmq_queue_create(env, name, a, NULL, NULL));
    lmq_map_free(a);
    ck_ok(lmq_queue_open(env, name, &q));
}

static void
setup(void)
{
    lmq_test_tmp_setup();
    env = lmq_test_env();
    make_queue("lp", NULL, NULL);
}

static void
teardown(void)
{
    lmq_queue_close(q);
    q = NULL;
    lmq_env_close(env);
    env = NULL;
    lmq_test_tmp_teardown();
}

static void
send_body(lmq_queue *to, const char *body, int delay)
{
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = body;
    e.body_len = strlen(body);
    e.delay_seconds = delay;
    ck_ok(lmq_send(to, &e, NULL));
}

/* Wait until `n` receives sleep on the queue's slot (at most 10 s). */
static void
await_waiters(uint32_t n)
{
    int64_t until = mono_ms() + 10000;
    while (lmq__notify_waiters(env->notify, q->qid) < n) {
        ck_assert_msg(mono_ms() < until, "waiters never registered");
        sleep_ms(2);
    }
}

/* ---- a child process that waits once ----------------------------------- */

/* Child exit statuses. */
enum { CHILD_GOT = 0, CHILD_EMPTY = 10, CHILD_SLOW = 11, CHILD_ERR = 12 };

/* In a forked child: open an env, receive once with the given wait and
 * visibility timeout, and exit CHILD_GOT only when a message arrived within
 * limit_ms. */
static void
child_receive(int wait_s, int vt, int64_t limit_ms)
{
    lmq_env *e = lmq_test_env();
    lmq_queue *cq;
    if (lmq_queue_open(e, "lp", &cq) != 0)
        _exit(CHILD_ERR);
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.wait_seconds = wait_s;
    o.visibility_timeout = vt;
    lmq_msg *m = NULL;
    size_t n = 0;
    int64_t t0 = mono_ms();
    int rc = lmq_receive(cq, &o, &m, 1, &n);
    int64_t dt = mono_ms() - t0;
    lmq_msg_free(m);
    lmq_queue_close(cq);
    lmq_env_close(e);
    if (rc != 0)
        _exit(CHILD_ERR);
    if (n == 0)
        _exit(CHILD_EMPTY);
    _exit(dt < limit_ms ? CHILD_GOT : CHILD_SLOW);
}

static pid_t
spawn_receiver(int wait_s, int vt, int64_t limit_ms)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        child_receive(wait_s, vt, limit_ms);
    return pid;
}

static void
expect_child(pid_t pid, int code)
{
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "child died by signal %d", WTERMSIG(st));
    ck_assert_msg(WEXITSTATUS(st) == code, "child exit %d, expected %d",
                  WEXITSTATUS(st), code);
}

/* ---- wake-ups across processes ------------------------------------------ */

START_TEST(test_send_wakes_receiver_in_other_process)
{
    pid_t pid = spawn_receiver(10, -1, 3000);
    await_waiters(1);
    send_body(q, "hello", 0);
    expect_child(pid, CHILD_GOT);
}
END_TEST

START_TEST(test_many_waiters_all_served)
{
    pid_t pids[4];
    for (int i = 0; i < 4; i++)
        pids[i] = spawn_receiver(10, -1, 4000);
    await_waiters(4);
    /* One send at a time: each wakes one waiter, never all of them. */
    for (int i = 0; i < 4; i++)
        send_body(q, "job", 0);
    for (int i = 0; i < 4; i++)
        expect_child(pids[i], CHILD_GOT);
}
END_TEST

START_TEST(test_delayed_send_wakes_at_maturity)
{
    pid_t pid = spawn_receiver(10, -1, 4000);
    await_waiters(1);
    int64_t t0 = mono_ms();
    send_body(q, "later", 1);
    expect_child(pid, CHILD_GOT);
    /* Not before the delay ran out (with slack for the ms rounding). */
    ck_assert_int_ge(mono_ms() - t0, 950);
}
END_TEST

START_TEST(test_delay_expiry_wakes_same_process)
{
    send_body(q, "later", 1);
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.wait_seconds = 10;
    lmq_msg *m = NULL;
    size_t n = 0;
    int64_t t0 = mono_ms();
    ck_ok(lmq_receive(q, &o, &m, 1, &n));
    int64_t dt = mono_ms() - t0;
    ck_assert_uint_eq(n, 1);
    ck_assert_int_ge(dt, 900);
    ck_assert_int_lt(dt, 3000);
    lmq_msg_free(m);
}
END_TEST

START_TEST(test_visibility_expiry_wakes)
{
    send_body(q, "retry", 0);
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.visibility_timeout = 1;
    lmq_msg *m = NULL;
    size_t n = 0;
    ck_ok(lmq_receive(q, &o, &m, 1, &n));
    ck_assert_uint_eq(n, 1);
    lmq_msg_free(m);
    m = NULL;
    /* Invisible for 1 s: a 10 s wait gets it back when that runs out. */
    o.wait_seconds = 10;
    int64_t t0 = mono_ms();
    ck_ok(lmq_receive(q, &o, &m, 1, &n));
    int64_t dt = mono_ms() - t0;
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(lmq_msg_receive_count(m), 2);
    ck_assert_int_lt(dt, 3000);
    lmq_msg_free(m);
}
END_TEST

/* Two sleepers, one message with a 1 s visibility timeout: the first gets
 * it at once, and the second must learn of the new in-flight timer (the
 * baton, longpoll.c) instead of sleeping to its 8 s deadline. */
START_TEST(test_visibility_expiry_wakes_other_sleeper)
{
    pid_t a = spawn_receiver(8, 1, 5000);
    pid_t b = spawn_receiver(8, 1, 5000);
    await_waiters(2);
    send_body(q, "shared", 0);
    expect_child(a, CHILD_GOT);
    expect_child(b, CHILD_GOT);
}
END_TEST

/* ---- deadlines ------------------------------------------------------------ */

START_TEST(test_empty_wait_keeps_deadline)
{
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.wait_seconds = 1;
    lmq_msg *m = NULL;
    size_t n = 7;
    int64_t t0 = mono_ms();
    ck_ok(lmq_receive(q, &o, &m, 1, &n));
    int64_t dt = mono_ms() - t0;
    ck_assert_uint_eq(n, 0);
    ck_assert_int_ge(dt, 1000);
    ck_assert_int_lt(dt, 3000);
}
END_TEST

START_TEST(test_empty_wait_in_child_keeps_deadline)
{
    int64_t t0 = mono_ms();
    pid_t pid = spawn_receiver(2, -1, 60000);
    expect_child(pid, CHILD_EMPTY);
    int64_t dt = mono_ms() - t0;
    ck_assert_int_ge(dt, 2000);
    ck_assert_int_lt(dt, 4000 + 1000); /* includes fork and env open */
}
END_TEST

START_TEST(test_queue_default_wait_applies)
{
    lmq_queue_close(q);
    /* 3 s: a short poll (below) is told from it with room to spare on a
     * loaded machine, where one flush may take most of a second. */
    make_queue("lpwait", "ReceiveMessageWaitTimeSeconds", "3");
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    ck_assert_int_eq(o.wait_seconds, -1);
    lmq_msg *m = NULL;
    size_t n = 0;
    int64_t t0 = mono_ms();
    ck_ok(lmq_receive(q, &o, &m, 1, &n));
    int64_t dt = mono_ms() - t0;
    ck_assert_uint_eq(n, 0);
    ck_assert_int_ge(dt, 3000);
    ck_assert_int_lt(dt, 6000);
    /* An explicit 0 overrides the queue's default: a short poll. */
    o.wait_seconds = 0;
    t0 = mono_ms();
    ck_ok(lmq_receive(q, &o, &m, 1, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_int_lt(mono_ms() - t0, 2000);
}
END_TEST

START_TEST(test_short_poll_does_not_wait)
{
    lmq_msg *m = NULL;
    size_t n = 0;
    int64_t t0 = mono_ms();
    ck_ok(lmq_receive(q, NULL, &m, 1, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_int_lt(mono_ms() - t0, 5000); /* not a wait: no long poll */
}
END_TEST

/* ---- interrupts ---------------------------------------------------------- */

struct waiter {
    lmq_queue *q;
    int wait_s;
    int rc;
    size_t n;
    int64_t ms;
};

static void *
waiter_main(void *arg)
{
    struct waiter *w = arg;
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.wait_seconds = w->wait_s;
    lmq_msg *m = NULL;
    int64_t t0 = mono_ms();
    w->rc = lmq_receive(w->q, &o, &m, 1, &w->n);
    w->ms = mono_ms() - t0;
    lmq_msg_free(m);
    return NULL;
}

START_TEST(test_interrupt_from_thread)
{
    struct waiter w = {q, 10, 1, 0, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, waiter_main, &w), 0);
    await_waiters(1);
    lmq_env_interrupt(env);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(w.rc, LMQ_EINTR);
    ck_assert_int_lt(w.ms, 2000);
    /* Irreversible for waits, but other operations still work. */
    send_body(q, "x", 0);
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.wait_seconds = 5;
    lmq_msg *m = NULL;
    size_t n = 0;
    ck_ok(lmq_receive(q, &o, &m, 1, &n)); /* available: no wait needed */
    ck_assert_uint_eq(n, 1);
    lmq_msg_free(m);
    ck_lmq(lmq_receive(q, &o, &m, 1, &n), LMQ_EINTR);
}
END_TEST

START_TEST(test_interrupt_spares_other_env_handle)
{
    lmq_env *other = lmq_test_env();
    lmq_queue *oq;
    ck_ok(lmq_queue_open(other, "lp", &oq));
    struct waiter w = {oq, 10, 1, 0, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, waiter_main, &w), 0);
    await_waiters(1);
    lmq_env_interrupt(env); /* not the waiter's handle */
    sleep_ms(100);
    send_body(q, "for-other", 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_lmq(w.rc, 0);
    ck_assert_uint_eq(w.n, 1);
    ck_assert_int_lt(w.ms, 5000);
    lmq_queue_close(oq);
    lmq_env_close(other);
}
END_TEST

START_TEST(test_env_close_interrupts_waiter)
{
    lmq_env *other = lmq_test_env();
    lmq_queue *oq;
    ck_ok(lmq_queue_open(other, "lp", &oq));
    struct waiter w = {oq, 10, 1, 0, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, waiter_main, &w), 0);
    await_waiters(1);
    int64_t t0 = mono_ms();
    lmq_env_close(other); /* waits for the receive to leave */
    ck_assert_int_lt(mono_ms() - t0, 2000);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(w.rc, LMQ_EINTR);
    lmq_queue_close(oq);
}
END_TEST

START_TEST(test_queue_delete_ends_wait)
{
    struct waiter w = {q, 10, 1, 0, 0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, waiter_main, &w), 0);
    await_waiters(1);
    ck_ok(lmq_queue_delete(env, "lp"));
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(w.rc, LMQ_ENOQUEUE);
    ck_assert_int_lt(w.ms, 2000);
}
END_TEST


/* ---- polling servers: lmq_receive_poll + lmq_queue_wait ------------------ */

START_TEST(test_poll_reports_token_and_wait)
{
    lmq_msg *m[10];
    size_t n = 7;
    uint32_t tok = 0;
    int64_t next = -1;
    int wait_s = -2;
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    /* Nothing there: n = 0 at once, no timer, the queue's default wait. */
    int64_t t0 = mono_ms();
    ck_ok(lmq_receive_poll(q, &o, m, 10, &n, &tok, &next, &wait_s));
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(next, 0);
    ck_assert_int_eq(wait_s, 0);
    ck_assert_int_lt(mono_ms() - t0, 3000);
    /* The token is stale once anything is sent: wait returns 0 at once. */
    send_body(q, "later", 2);
    ck_assert_int_eq(lmq_queue_wait(q, tok, 5000), 0);
    /* The delayed message is seen, not taken: next is its visible_at. */
    o.wait_seconds = 7;
    ck_ok(lmq_receive_poll(q, &o, m, 10, &n, &tok, &next, &wait_s));
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(wait_s, 7);
    ck_assert_int_gt(next, lmq_env_now(env));
    ck_assert_int_le(next, lmq_env_now(env) + 2000);
    /* An unchanged token times out. */
    t0 = mono_ms();
    ck_assert_int_eq(lmq_queue_wait(q, tok, 100), 1);
    ck_assert_int_ge(mono_ms() - t0, 100);
    send_body(q, "now", 0);
    ck_ok(lmq_receive_poll(q, &o, m, 10, &n, NULL, NULL, NULL));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(lmq_msg_body(m[0], NULL), "now");
    lmq_msg_free(m[0]);
}
END_TEST

START_TEST(test_wait_woken_by_other_process)
{
    lmq_msg *m[1];
    size_t n;
    uint32_t tok;
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    ck_ok(lmq_receive_poll(q, &o, m, 1, &n, &tok, NULL, NULL));
    ck_assert_uint_eq(n, 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        sleep_ms(200);
        lmq_env *e = lmq_test_env();
        lmq_queue *cq;
        if (lmq_queue_open(e, "lp", &cq) != 0)
            _exit(1);
        lmq_send_entry se;
        lmq_send_entry_init(&se);
        se.body = "from child";
        se.body_len = strlen(se.body);
        int rc = lmq_send(cq, &se, NULL);
        lmq_queue_close(cq);
        lmq_env_close(e);
        _exit(rc ? 1 : 0);
    }
    int64_t t0 = mono_ms();
    ck_assert_int_eq(lmq_queue_wait(q, tok, 10000), 0);
    ck_assert_int_lt(mono_ms() - t0, 5000);
    expect_child(pid, 0);
    ck_ok(lmq_receive_poll(q, &o, m, 1, &n, NULL, NULL, NULL));
    ck_assert_uint_eq(n, 1);
    lmq_msg_free(m[0]);
}
END_TEST

struct wait_arg {
    lmq_queue *q;
    uint32_t tok;
    int rc;
};

static void *
wait_main(void *p)
{
    struct wait_arg *a = p;
    a->rc = lmq_queue_wait(a->q, a->tok, 10000);
    return NULL;
}

START_TEST(test_wakeup_and_interrupt_end_waits)
{
    lmq_msg *m[1];
    size_t n;
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    struct wait_arg a = {q, 0, -100};
    ck_ok(lmq_receive_poll(q, &o, m, 1, &n, &a.tok, NULL, NULL));
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, wait_main, &a), 0);
    await_waiters(1);
    lmq_queue_wakeup(q);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(a.rc, 0);
    /* After the wake-up the old token is stale; a fresh one sleeps until
     * the env is interrupted. */
    ck_ok(lmq_receive_poll(q, &o, m, 1, &n, &a.tok, NULL, NULL));
    a.rc = -100;
    ck_assert_int_eq(pthread_create(&th, NULL, wait_main, &a), 0);
    await_waiters(1);
    lmq_env_interrupt(env);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(a.rc, LMQ_EINTR);
    /* Misuse is refused, not crashed on. */
    ck_assert_int_eq(lmq_queue_wait(NULL, 0, 1), LMQ_EMISUSE);
    lmq_queue_wakeup(NULL);
    ck_assert_int_eq(lmq_receive_poll(NULL, &o, m, 1, &n, NULL, NULL, NULL),
                     LMQ_EMISUSE);
    o.max_messages = 11;
    ck_assert_int_eq(lmq_receive_poll(q, &o, m, 1, &n, NULL, NULL, NULL),
                     LMQ_EINVAL);
}
END_TEST

Suite *
lmq_suite_longpoll(void)
{
    Suite *s = suite_create("longpoll");
    TCase *tc = tcase_create("wake_across_processes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_send_wakes_receiver_in_other_process);
    tcase_add_test(tc, test_many_waiters_all_served);
    tcase_add_test(tc, test_delayed_send_wakes_at_maturity);
    tcase_add_test(tc, test_delay_expiry_wakes_same_process);
    tcase_add_test(tc, test_visibility_expiry_wakes);
    tcase_add_test(tc, test_visibility_expiry_wakes_other_sleeper);
    suite_add_tcase(s, tc);

    tc = tcase_create("deadlines");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_empty_wait_keeps_deadline);
    tcase_add_test(tc, test_empty_wait_in_child_keeps_deadline);
    tcase_add_test(tc, test_queue_default_wait_applies);
    tcase_add_test(tc, test_short_poll_does_not_wait);
    suite_add_tcase(s, tc);

    tc = tcase_create("interrupts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_interrupt_from_thread);
    tcase_add_test(tc, test_interrupt_spares_other_env_handle);
    tcase_add_test(tc, test_env_close_interrupts_waiter);
    tcase_add_test(tc, test_queue_delete_ends_wait);
    suite_add_tcase(s, tc);

    tc = tcase_create("polling_servers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_poll_reports_token_and_wait);
    tcase_add_test(tc, test_wait_woken_by_other_process);
    tcase_add_test(tc, test_wakeup_and_interrupt_end_waits);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_longpoll());
}
