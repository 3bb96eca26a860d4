/*
 * check_consumer.c: the consumer runtime (lmq_consumer_*) and `lmq consume`.
 *
 * Real clock, short timeouts (1-3 s visibility timeouts), generous bounds:
 * these tests check outcomes (what was deleted, what came back, what was
 * handled concurrently), never latencies.
 */
#include "lmq_test.h"

#include "core.h"

#include <pthread.h>
#include <sys/wait.h>
#include <time.h>

static lmq_env *env;
static lmq_queue *q;

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
make_queue(const char *name, const char *vt)
{
    lmq_map *a = lmq_map_new();
    if (vt)
        ck_ok(lmq_map_set(a, "VisibilityTimeout", vt));
    ck_ok(lmq_queue_create(env, name, a, NULL, NULL));
    lmq_map_free(a);
    ck_ok(lmq_queue_open(env, name, &q));
}

static void
setup(void)
{
    lmq_test_tmp_setup();
    env = lmq_test_env();
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
send_n(int n, const char *prefix)
{
    for (int i = 0; i < n; i++) {
        char body[64];
        lmq_send_entry e;
        snprintf(body, sizeof body, "%s-%d", prefix, i);
        lmq_send_entry_init(&e);
        e.body = body;
        e.body_len = strlen(body);
        ck_ok(lmq_send(q, &e, NULL));
    }
}

/* Visible + in flight + delayed, from the queue's counters. */
static long
queue_count(const char *name, const char *which)
{
    const char *const names[] = {which, NULL};
    lmq_map *m = NULL;
    ck_ok(lmq_queue_get_attributes(env, name, names, &m));
    long v = atol(lmq_map_get(m, which));
    lmq_map_free(m);
    return v;
}

static size_t
drain(int wait_s, char bodies[][64], size_t max)
{
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.max_messages = 10;
    o.wait_seconds = wait_s;
    size_t total = 0;
    for (;;) {
        lmq_msg *m[10];
        size_t n = 0;
        ck_ok(lmq_receive(q, &o, m, 10, &n));
        if (n == 0)
            return total;
        for (size_t i = 0; i < n; i++) {
            if (total < max)
                snprintf(bodies[total], 64, "%s", lmq_msg_body(m[i], NULL));
            total++;
            lmq_msg_free(m[i]);
        }
        /* Messages made visible by separate calls (e.g. per-message
         * backoffs) mature a few milliseconds apart: after the first, wait
         * a little for the rest instead of stopping at the first gap. */
        o.wait_seconds = 1;
    }
}

static lmq_consumer_counters
counters(lmq_consumer *c)
{
    lmq_consumer_counters k;
    memset(&k, 0, sizeof k);
    k.size = sizeof k;
    ck_ok(lmq_consumer_get_counters(c, &k));
    return k;
}

/* ---- basics --------------------------------------------------------------- */

static int
ok_handler(const lmq_msg *m, void *arg)
{
    (void)m;
    __atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
    return 0;
}

START_TEST(test_handles_and_deletes_in_batches)
{
    make_queue("c1", NULL);
    send_n(25, "m");
    int calls = 0;
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.handler = ok_handler;
    o.arg = &calls;
    o.concurrency = 4;
    o.max_messages = 25;
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "c1", &o, &c));
    ck_ok(lmq_consumer_start(c));
    ck_ok(lmq_consumer_join(c));
    lmq_consumer_counters k = counters(c);
    ck_assert_uint_eq(k.received, 25);
    ck_assert_uint_eq(k.succeeded, 25);
    ck_assert_uint_eq(k.deleted, 25);
    ck_assert_uint_eq(k.failed, 0);
    ck_assert_uint_eq(k.in_flight, 0);
    ck_assert_int_eq(calls, 25);
    lmq_consumer_close(c);
    ck_assert_int_eq(queue_count("c1", "ApproximateNumberOfMessages"), 0);
    ck_assert_int_eq(queue_count("c1", "ApproximateNumberOfMessagesNotVisible"),
                     0);
}
END_TEST

START_TEST(test_open_validates)
{
    make_queue("c2", NULL);
    lmq_consumer_opts o;
    lmq_consumer *c = (lmq_consumer *)1;
    lmq_consumer_opts_init(&o);
    ck_lmq(lmq_consumer_open(env, "c2", &o, &c), LMQ_EINVAL); /* no handler */
    ck_assert_ptr_null(c);
    o.handler = ok_handler;
    o.concurrency = 0;
    ck_lmq(lmq_consumer_open(env, "c2", &o, &c), LMQ_EINVAL);
    o.concurrency = 1;
    o.visibility_timeout = 3;
    o.heartbeat_seconds = 3; /* must be below the visibility timeout */
    ck_lmq(lmq_consumer_open(env, "c2", &o, &c), LMQ_EINVAL);
    o.heartbeat_seconds = 0;
    ck_lmq(lmq_consumer_open(env, "nope", &o, &c), LMQ_ENOQUEUE);
    ck_ok(lmq_consumer_open(env, "c2", &o, &c));
    ck_lmq(lmq_consumer_join(c), LMQ_EMISUSE); /* not started */
    lmq_consumer_close(c);
    lmq_consumer_close(NULL);
    lmq_consumer_stop(NULL);
}
END_TEST

/* ---- heartbeat ------------------------------------------------------------- */

struct slow {
    int ms;
    uint32_t max_count;
};

static int
slow_handler(const lmq_msg *m, void *arg)
{
    struct slow *s = arg;
    uint32_t rc = lmq_msg_receive_count(m);
    if (rc > s->max_count)
        s->max_count = rc;
    sleep_ms(s->ms);
    return 0;
}

START_TEST(test_heartbeat_keeps_slow_message_invisible)
{
    make_queue("hb", "2"); /* the queue's visibility timeout: 2 s */
    send_n(1, "slow");
    struct slow s = {4500, 0};
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.handler = slow_handler;
    o.arg = &s;
    o.max_messages = 1; /* heartbeat_seconds 0: every third of 2 s */
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "hb", &o, &c));
    ck_ok(lmq_consumer_start(c));
    /* While the handler runs (4.5 s, past the 2 s timeout), nobody else
     * can receive the message. */
    int64_t until = mono_ms() + 4000;
    sleep_ms(300);
    while (mono_ms() < until) {
        lmq_msg *m = NULL;
        size_t n = 0;
        ck_ok(lmq_receive(q, NULL, &m, 1, &n));
        ck_assert_msg(n == 0, "the slow message was redelivered");
        sleep_ms(200);
    }
    ck_ok(lmq_consumer_join(c));
    lmq_consumer_counters k = counters(c);
    ck_assert_uint_eq(k.received, 1);
    ck_assert_uint_eq(k.deleted, 1);
    ck_assert_uint_ge(k.heartbeats, 3);
    ck_assert_uint_eq(k.lost, 0);
    ck_assert_uint_eq(s.max_count, 1);
    lmq_consumer_close(c);
    ck_assert_int_eq(queue_count("hb", "ApproximateNumberOfMessagesNotVisible"),
                     0);
}
END_TEST

/* A handler that deletes its own message: the heartbeat finds it gone and
 * stops quietly (counted lost, no error). */
static lmq_queue *self_q;
static int
self_delete_handler(const lmq_msg *m, void *arg)
{
    (void)arg;
    int deleted = 0;
    if (lmq_delete(self_q, lmq_msg_receipt(m), &deleted) != 0 || !deleted)
        return 1;
    sleep_ms(2500);
    return 1; /* failure: nothing left to leave */
}

START_TEST(test_heartbeat_finds_message_gone)
{
    make_queue("gone", "3");
    self_q = q;
    send_n(1, "g");
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.handler = self_delete_handler;
    o.max_messages = 1;
    o.heartbeat_seconds = 1;
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "gone", &o, &c));
    ck_ok(lmq_consumer_start(c));
    ck_ok(lmq_consumer_join(c));
    lmq_consumer_counters k = counters(c);
    ck_assert_uint_eq(k.lost, 1);
    ck_assert_uint_eq(k.errors, 0);
    ck_assert_uint_eq(k.failed, 1);
    lmq_consumer_close(c);
}
END_TEST

/* ---- results ---------------------------------------------------------------- */

static int
partial_handler(lmq_msg *const *msgs, size_t n, int *failed, void *arg)
{
    int *calls = arg;
    (*calls)++;
    for (size_t i = 0; i < n; i++)
        failed[i] = strncmp(lmq_msg_body(msgs[i], NULL), "bad", 3) == 0;
    return 0;
}

START_TEST(test_partial_batch_failure)
{
    make_queue("pb", NULL);
    send_n(4, "good");
    send_n(2, "bad");
    int calls = 0;
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.batch_handler = partial_handler;
    o.arg = &calls;
    o.batch_size = 10;
    o.visibility_timeout = 2;
    o.max_messages = 6;
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "pb", &o, &c));
    ck_ok(lmq_consumer_start(c));
    ck_ok(lmq_consumer_join(c));
    lmq_consumer_counters k = counters(c);
    ck_assert_int_eq(calls, 1); /* one batch of six */
    ck_assert_uint_eq(k.succeeded, 4);
    ck_assert_uint_eq(k.deleted, 4);
    ck_assert_uint_eq(k.failed, 2);
    lmq_consumer_close(c);
    /* Only the failed ones come back, after their visibility timeout. */
    char bodies[8][64];
    size_t n = drain(5, bodies, 8);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(strncmp(bodies[0], "bad", 3), 0);
    ck_assert_int_eq(strncmp(bodies[1], "bad", 3), 0);
}
END_TEST

static int
fail_odd_handler(const lmq_msg *m, void *arg)
{
    (void)arg;
    const char *b = lmq_msg_body(m, NULL);
    return (b[strlen(b) - 1] - '0') % 2;
}

START_TEST(test_failure_backoff_makes_visible_again)
{
    make_queue("bo", "600"); /* without the backoff: 10 minutes */
    send_n(4, "n");
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.handler = fail_odd_handler;
    o.backoff_seconds = 1;
    o.max_messages = 4;
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "bo", &o, &c));
    ck_ok(lmq_consumer_start(c));
    ck_ok(lmq_consumer_join(c));
    lmq_consumer_counters k = counters(c);
    ck_assert_uint_eq(k.failed, 2);
    ck_assert_uint_eq(k.deleted, 2);
    lmq_consumer_close(c);
    char bodies[8][64];
    ck_assert_uint_eq(drain(5, bodies, 8), 2);
}
END_TEST

/* ---- handler timeout ----------------------------------------------------------- */

static int
stuck_handler(const lmq_msg *m, void *arg)
{
    (void)m;
    lmq_consumer **cp = arg;
    while (!lmq_consumer_handler_expired(*cp))
        sleep_ms(20);
    return 0; /* too late: ignored */
}

START_TEST(test_handler_timeout_leaves_message)
{
    make_queue("to", NULL);
    send_n(1, "t");
    lmq_consumer *c = NULL;
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.handler = stuck_handler;
    o.arg = &c;
    o.handler_timeout_ms = 300;
    o.backoff_seconds = 0; /* timed out: make it visible again at once */
    o.max_messages = 1;
    ck_ok(lmq_consumer_open(env, "to", &o, &c));
    ck_assert_int_eq(lmq_consumer_handler_expired(c), 0);
    ck_ok(lmq_consumer_start(c));
    ck_ok(lmq_consumer_join(c));
    lmq_consumer_counters k = counters(c);
    ck_assert_uint_eq(k.timed_out, 1);
    ck_assert_uint_eq(k.succeeded, 0);
    ck_assert_uint_eq(k.deleted, 0);
    lmq_consumer_close(c);
    char bodies[2][64];
    ck_assert_uint_eq(drain(2, bodies, 2), 1);
}
END_TEST

/* Each of several handler calls in a row times out on time: the timer
 * thread, asleep until the next heartbeat (seconds away), is woken for
 * every earlier timeout (without that, the second call would run until the
 * heartbeat, 10 s later). */
START_TEST(test_handler_timeouts_in_a_row)
{
    make_queue("to3", NULL);
    send_n(3, "t");
    lmq_consumer *c = NULL;
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.handler = stuck_handler;
    o.arg = &c;
    o.handler_timeout_ms = 200;
    o.batch_size = 3;
    o.max_messages = 3;
    ck_ok(lmq_consumer_open(env, "to3", &o, &c));
    int64_t t0 = mono_ms();
    ck_ok(lmq_consumer_start(c));
    ck_ok(lmq_consumer_join(c));
    int64_t took = mono_ms() - t0;
    lmq_consumer_counters k = counters(c);
    ck_assert_uint_eq(k.timed_out, 3);
    ck_assert_uint_eq(k.deleted, 0);
    ck_assert_msg(took < 5000, "three 200 ms timeouts took %lld ms",
                  (long long)took);
    lmq_consumer_close(c);
}
END_TEST

/* ---- graceful stop ---------------------------------------------------------------- */

struct gate {
    int started;
    int release;
};

static int
gated_handler(const lmq_msg *m, void *arg)
{
    (void)m;
    struct gate *g = arg;
    __atomic_add_fetch(&g->started, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&g->release, __ATOMIC_SEQ_CST))
        sleep_ms(10);
    return 0;
}

struct stopper {
    lmq_consumer *c;
    struct gate *g;
};

static void *
release_later(void *arg)
{
    struct stopper *s = arg;
    sleep_ms(300);
    __atomic_store_n(&s->g->release, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

START_TEST(test_graceful_stop_returns_unstarted)
{
    make_queue("gs", "600");
    send_n(5, "s");
    struct gate g = {0, 0};
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.handler = gated_handler;
    o.arg = &g;
    o.concurrency = 1;
    o.batch_size = 5;
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "gs", &o, &c));
    ck_ok(lmq_consumer_start(c));
    int64_t until = mono_ms() + 5000;
    while (__atomic_load_n(&g.started, __ATOMIC_SEQ_CST) == 0)
        ck_assert(mono_ms() < until), sleep_ms(5);
    lmq_consumer_counters k = counters(c);
    ck_assert_uint_eq(k.received, 5);
    lmq_consumer_stop(c);
    pthread_t th;
    struct stopper s = {c, &g};
    ck_assert_int_eq(pthread_create(&th, NULL, release_later, &s), 0);
    ck_ok(lmq_consumer_join(c));
    pthread_join(th, NULL);
    k = counters(c);
    ck_assert_int_eq(g.started, 1);
    ck_assert_uint_eq(k.returned, 4);
    ck_assert_uint_eq(k.succeeded, 1); /* finished within the stop timeout */
    ck_assert_uint_eq(k.deleted, 1);
    lmq_consumer_close(c);
    /* The four unstarted ones are receivable at once (not after 600 s). */
    char bodies[8][64];
    ck_assert_uint_eq(drain(0, bodies, 8), 4);
}
END_TEST

START_TEST(test_stop_interrupts_idle_wait)
{
    make_queue("idle", NULL);
    int calls = 0;
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.handler = ok_handler;
    o.arg = &calls;
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "idle", &o, &c));
    ck_ok(lmq_consumer_start(c));
    sleep_ms(200);
    int64_t t0 = mono_ms();
    lmq_consumer_stop(c);
    ck_ok(lmq_consumer_join(c));
    ck_assert_int_lt(mono_ms() - t0, 10000); /* not the 20 s wait */
    lmq_consumer_close(c);
    /* The application's env is untouched by the consumer's interrupt. */
    lmq_recv_opts ro;
    lmq_recv_opts_init(&ro);
    ro.wait_seconds = 1;
    lmq_msg *m = NULL;
    size_t n = 0;
    ck_ok(lmq_receive(q, &ro, &m, 1, &n));
}
END_TEST

START_TEST(test_until_empty_stops_by_itself)
{
    make_queue("ue", NULL);
    send_n(3, "u");
    int calls = 0;
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.handler = ok_handler;
    o.arg = &calls;
    o.wait_seconds = 1;
    o.until_empty = 1;
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "ue", &o, &c));
    ck_ok(lmq_consumer_start(c));
    ck_ok(lmq_consumer_join(c));
    ck_assert_int_eq(calls, 3);
    lmq_consumer_close(c);
}
END_TEST

START_TEST(test_deleted_queue_stops_consumer)
{
    make_queue("dq", NULL);
    int calls = 0;
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.handler = ok_handler;
    o.arg = &calls;
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "dq", &o, &c));
    ck_ok(lmq_consumer_start(c));
    sleep_ms(100);
    ck_ok(lmq_queue_delete(env, "dq"));
    ck_lmq(lmq_consumer_join(c), LMQ_ENOQUEUE);
    lmq_consumer_close(c);
}
END_TEST

/* ---- concurrency ------------------------------------------------------------------ */

struct conc {
    int now;
    int max;
};

static int
conc_handler(const lmq_msg *m, void *arg)
{
    (void)m;
    struct conc *k = arg;
    int v = __atomic_add_fetch(&k->now, 1, __ATOMIC_SEQ_CST);
    int old = __atomic_load_n(&k->max, __ATOMIC_SEQ_CST);
    while (v > old && !__atomic_compare_exchange_n(&k->max, &old, v, false,
                                                   __ATOMIC_SEQ_CST,
                                                   __ATOMIC_SEQ_CST))
        ;
    sleep_ms(400);
    __atomic_sub_fetch(&k->now, 1, __ATOMIC_SEQ_CST);
    return 0;
}

START_TEST(test_more_than_ten_in_flight)
{
    make_queue("cc", NULL);
    send_n(48, "c");
    struct conc k = {0, 0};
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.handler = conc_handler;
    o.arg = &k;
    o.concurrency = 16;
    o.max_messages = 48;
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "cc", &o, &c));
    ck_ok(lmq_consumer_start(c));
    ck_ok(lmq_consumer_join(c));
    ck_assert_msg(k.max > 10, "at most %d handlers ran at once", k.max);
    ck_assert_int_le(k.max, 16);
    lmq_consumer_counters kc = counters(c);
    ck_assert_uint_eq(kc.deleted, 48);
    lmq_consumer_close(c);
}
END_TEST

/* Batches larger than one receive: receives are combined in the window. */
static int
big_batch_handler(lmq_msg *const *msgs, size_t n, int *failed, void *arg)
{
    (void)msgs;
    (void)failed;
    size_t *largest = arg;
    if (n > *largest)
        *largest = n;
    return 0;
}

START_TEST(test_batch_combines_receives)
{
    make_queue("bb", NULL);
    send_n(35, "b");
    size_t largest = 0;
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.batch_handler = big_batch_handler;
    o.arg = &largest;
    o.batch_size = 30;
    o.batching_window_ms = 200;
    o.max_messages = 35;
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "bb", &o, &c));
    ck_ok(lmq_consumer_start(c));
    ck_ok(lmq_consumer_join(c));
    ck_assert_uint_eq(largest, 30);
    ck_assert_uint_eq(counters(c).deleted, 35);
    lmq_consumer_close(c);
}
END_TEST

/* A standard queue's batch of up to 100 comes from one receive
 * transaction (a durable consumer pays one commit, not ten). */
static unsigned long commits;

static void
count_commit(size_t nops)
{
    (void)nops;
    __atomic_add_fetch(&commits, 1, __ATOMIC_SEQ_CST);
}

static int
commits_at_first_batch(lmq_msg *const *msgs, size_t n, int *failed,
                       void *arg)
{
    (void)msgs;
    (void)failed;
    unsigned long *seen = arg;
    if (seen[0] == 0) {
        seen[0] = __atomic_load_n(&commits, __ATOMIC_SEQ_CST) + 1;
        seen[1] = n;
    }
    return 0;
}

START_TEST(test_bulk_receive_is_one_transaction)
{
    make_queue("bulk", NULL);
    send_n(100, "m");
    unsigned long seen[2] = {0, 0};
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.batch_handler = commits_at_first_batch;
    o.arg = seen;
    o.batch_size = 100;
    o.max_messages = 100;
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "bulk", &o, &c));
    lmq__store_set_commit_hook(count_commit);
    ck_ok(lmq_consumer_start(c));
    ck_ok(lmq_consumer_join(c));
    lmq__store_set_commit_hook(NULL);
    ck_assert_uint_eq(seen[1], 100);
    ck_assert_uint_eq(seen[0] - 1, 1); /* commits before the handler ran */
    ck_assert_uint_eq(counters(c).deleted, 100);
    lmq_consumer_close(c);
}
END_TEST

/* ---- FIFO ------------------------------------------------------------------------ */

struct fifo_log {
    pthread_mutex_t mu;
    int active[3];     /* handlers running per group */
    int overlap;       /* a group ran twice at once */
    char seen[3][16];  /* per group: the message indexes, in call order */
    int nseen[3];
};

static int
fifo_handler(const lmq_msg *m, void *arg)
{
    struct fifo_log *l = arg;
    const char *b = lmq_msg_body(m, NULL); /* "g<G>-<i>" */
    int g = b[1] - '0', i = b[3] - '0';
    pthread_mutex_lock(&l->mu);
    if (l->active[g]++)
        l->overlap = 1;
    if (l->nseen[g] < 15)
        l->seen[g][l->nseen[g]++] = (char)('0' + i);
    pthread_mutex_unlock(&l->mu);
    sleep_ms(20);
    pthread_mutex_lock(&l->mu);
    l->active[g]--;
    pthread_mutex_unlock(&l->mu);
    /* Group 1's message 1 fails on its first delivery. */
    return g == 1 && i == 1 && lmq_msg_receive_count(m) == 1;
}

START_TEST(test_fifo_groups_in_order_never_concurrent)
{
    lmq_map *a = lmq_map_new();
    ck_ok(lmq_map_set(a, "FifoQueue", "true"));
    ck_ok(lmq_queue_create(env, "f.fifo", a, NULL, NULL));
    lmq_map_free(a);
    ck_ok(lmq_queue_open(env, "f.fifo", &q));
    for (int i = 0; i < 4; i++) {
        for (int g = 0; g < 3; g++) {
            char body[16], group[8], dedup[16];
            snprintf(body, sizeof body, "g%d-%d", g, i);
            snprintf(group, sizeof group, "g%d", g);
            snprintf(dedup, sizeof dedup, "d%d-%d", g, i);
            lmq_send_entry e;
            lmq_send_entry_init(&e);
            e.body = body;
            e.body_len = strlen(body);
            e.group_id = group;
            e.dedup_id = dedup;
            ck_ok(lmq_send(q, &e, NULL));
        }
    }
    struct fifo_log l;
    memset(&l, 0, sizeof l);
    pthread_mutex_init(&l.mu, NULL);
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.handler = fifo_handler;
    o.arg = &l;
    o.concurrency = 4;
    o.backoff_seconds = 0; /* retry the failed group at once */
    o.wait_seconds = 1;
    o.until_empty = 1;
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "f.fifo", &o, &c));
    ck_ok(lmq_consumer_start(c));
    ck_ok(lmq_consumer_join(c));
    lmq_consumer_counters k = counters(c);
    lmq_consumer_close(c);
    ck_assert_int_eq(l.overlap, 0);
    ck_assert_str_eq(l.seen[0], "0123");
    ck_assert_str_eq(l.seen[2], "0123");
    /* The failure stopped the rest of group 1's batch: 2 and 3 ran only
     * after 1 succeeded on its second delivery. */
    ck_assert_str_eq(l.seen[1], "01123");
    ck_assert_uint_eq(k.deleted, 12);
    pthread_mutex_destroy(&l.mu);
}
END_TEST

/* ---- max_batch_bytes and scale_concurrency (issue 25) ------------------- */

struct sizes {
    pthread_mutex_t mu;
    size_t n, largest, total, bytes_max;
    size_t (*cost)(const lmq_msg *m, void *arg);
};

static size_t
body_len(const lmq_msg *m)
{
    size_t len = 0;
    (void)lmq_msg_body(m, &len);
    return len;
}

static int
sizes_handler(lmq_msg *const *msgs, size_t n, int *failed, void *arg)
{
    struct sizes *s = arg;
    (void)failed;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += s->cost ? s->cost(msgs[i], arg) : body_len(msgs[i]);
    pthread_mutex_lock(&s->mu);
    s->n++;
    s->total += n;
    if (n > s->largest)
        s->largest = n;
    if (n > 1 && bytes > s->bytes_max)
        s->bytes_max = bytes;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static size_t
cost_one(const lmq_msg *m, void *arg)
{
    (void)m;
    (void)arg;
    return 1;
}

START_TEST(test_max_batch_bytes_splits_batches)
{
    /* 20 bodies of 100 bytes and one of 1000, the cap at 450 bytes: batches
     * of at most 4 (the big one alone), every message handled once. */
    make_queue("mbb", NULL);
    char body[1001];
    memset(body, 'x', 100);
    body[100] = '\0';
    for (int i = 0; i < 21; i++) {
        lmq_send_entry e;
        lmq_send_entry_init(&e);
        if (i == 10) {
            memset(body, 'y', 1000);
            body[1000] = '\0';
        } else {
            memset(body, 'x', 100);
            body[100] = '\0';
        }
        e.body = body;
        e.body_len = strlen(body);
        ck_ok(lmq_send(q, &e, NULL));
    }
    struct sizes s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.batch_handler = sizes_handler;
    o.arg = &s;
    o.batch_size = 10;
    o.max_batch_bytes = 450;
    o.wait_seconds = 1;
    o.until_empty = 1;
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "mbb", &o, &c));
    ck_ok(lmq_consumer_start(c));
    ck_ok(lmq_consumer_join(c));
    ck_assert_uint_eq(s.total, 21);
    ck_assert_uint_le(s.largest, 4);
    ck_assert_uint_le(s.bytes_max, 450);
    ck_assert_uint_ge(s.n, 7); /* 20 x 100 B in fours, and the big one */
    ck_assert_uint_eq(counters(c).deleted, 21);
    lmq_consumer_close(c);

    /* A cost function: one unit per message, at most 3 per batch. */
    lmq_queue_close(q);
    q = NULL;
    make_queue("mbc", NULL);
    send_n(10, "c");
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    s.cost = cost_one;
    o.arg = &s;
    o.max_batch_bytes = 3;
    o.batch_cost_fn = cost_one;
    ck_ok(lmq_consumer_open(env, "mbc", &o, &c));
    ck_ok(lmq_consumer_start(c));
    ck_ok(lmq_consumer_join(c));
    ck_assert_uint_eq(s.total, 10);
    ck_assert_uint_eq(s.largest, 3);
    ck_assert_uint_eq(counters(c).deleted, 10);
    lmq_consumer_close(c);
    pthread_mutex_destroy(&s.mu);
}
END_TEST

struct sconc {
    int64_t start;
    int now, peak, early_peak;
};

static int
sconc_handler(const lmq_msg *m, void *arg)
{
    struct sconc *k = arg;
    (void)m;
    int now = __atomic_add_fetch(&k->now, 1, __ATOMIC_SEQ_CST);
    int p = __atomic_load_n(&k->peak, __ATOMIC_SEQ_CST);
    while (now > p && !__atomic_compare_exchange_n(&k->peak, &p, now, false,
                                                   __ATOMIC_SEQ_CST,
                                                   __ATOMIC_SEQ_CST))
        ;
    if (mono_ms() - k->start < 800) {
        p = __atomic_load_n(&k->early_peak, __ATOMIC_SEQ_CST);
        while (now > p &&
               !__atomic_compare_exchange_n(&k->early_peak, &p, now, false,
                                            __ATOMIC_SEQ_CST,
                                            __ATOMIC_SEQ_CST))
            ;
    }
    sleep_ms(300);
    __atomic_sub_fetch(&k->now, 1, __ATOMIC_SEQ_CST);
    return 0;
}

START_TEST(test_scale_concurrency_up_and_down)
{
    make_queue("sc", "60");
    send_n(60, "s");
    struct sconc k;
    memset(&k, 0, sizeof k);
    lmq_consumer_opts o;
    lmq_consumer_opts_init(&o);
    o.handler = sconc_handler;
    o.arg = &k;
    o.batch_size = 1;
    o.concurrency = 8;
    o.scale_concurrency = 1;
    o.wait_seconds = 1;
    lmq_consumer *c = NULL;
    ck_ok(lmq_consumer_open(env, "sc", &o, &c));
    ck_assert_uint_eq(counters(c).concurrency, 5); /* min(5, 8) */
    k.start = mono_ms();
    ck_ok(lmq_consumer_start(c));
    uint64_t most = 0;
    for (int i = 0; i < 300 && counters(c).deleted < 60; i++) {
        uint64_t cc = counters(c).concurrency;
        if (cc > most)
            most = cc;
        sleep_ms(50);
    }
    ck_assert_uint_eq(counters(c).deleted, 60);
    ck_assert_int_le(k.early_peak, 5); /* it starts with 5 */
    ck_assert_int_gt(k.peak, 5);       /* adds more under the backlog */
    ck_assert_int_le(k.peak, 8);       /* never past the maximum */
    ck_assert_uint_gt(most, 5);
    ck_assert_uint_le(most, 8);
    /* Idle: each empty receive (1 s) drops one, down to the start value. */
    for (int i = 0; i < 200 && counters(c).concurrency > 5; i++)
        sleep_ms(50);
    ck_assert_uint_eq(counters(c).concurrency, 5);
    lmq_consumer_stop(c);
    ck_ok(lmq_consumer_join(c));
    lmq_consumer_close(c);

    /* A maximum below 5 starts there and stays. */
    lmq_consumer_opts_init(&o);
    o.handler = sconc_handler;
    o.arg = &k;
    o.concurrency = 3;
    o.scale_concurrency = 1;
    ck_ok(lmq_consumer_open(env, "sc", &o, &c));
    ck_assert_uint_eq(counters(c).concurrency, 3);
    lmq_consumer_close(c);
}
END_TEST

/* ---- lmq consume ------------------------------------------------------------------ */

/* Run a shell command line; its exit status. */
static int
run_sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(test_cli_consume_failures_reach_dlq)
{
    /* The dead-letter queue, and a source that sends there after two
     * failed deliveries, redelivering after 1 s. */
    make_queue("cli-dlq", NULL);
    lmq_queue_close(q);
    const char *const arn_name[] = {"QueueArn", NULL};
    lmq_map *m = NULL;
    ck_ok(lmq_queue_get_attributes(env, "cli-dlq", arn_name, &m));
    char policy[512];
    snprintf(policy, sizeof policy,
             "{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":\"2\"}",
             lmq_map_get(m, "QueueArn"));
    lmq_map_free(m);
    lmq_map *a = lmq_map_new();
    ck_ok(lmq_map_set(a, "RedrivePolicy", policy));
    ck_ok(lmq_map_set(a, "VisibilityTimeout", "1"));
    ck_ok(lmq_queue_create(env, "cli-src", a, NULL, NULL));
    lmq_map_free(a);
    ck_ok(lmq_queue_open(env, "cli-src", &q));
    send_n(3, "good");
    send_n(3, "bad");

    char log[300], cmd[2048];
    snprintf(log, sizeof log, "%s/consume.log", lmq_test_dir);
    snprintf(cmd, sizeof cmd,
             "%s --home %s/home --durability none consume --queue-url "
             "cli-src --concurrency 2 --wait-time-seconds 2 --until-empty "
             "--exec 'b=$(cat); echo \"$b $LMQ_RECEIVE_COUNT $LMQ_MESSAGE_ID "
             "${#LMQ_RECEIPT_HANDLE}\" >> %s; case \"$b\" in bad*) exit 3;; "
             "esac' 2>/dev/null",
             LMQ_BIN, lmq_test_dir, log);
    ck_assert_int_eq(run_sh(cmd), 0);

    /* Every good message ran once with its id and a receipt; each bad one
     * ran twice (receive counts 1 and 2), then moved to the DLQ. */
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int good = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        char body[64], id[64];
        unsigned count, rlen;
        ck_assert_int_eq(sscanf(line, "%63s %u %63s %u", body, &count, id,
                                &rlen),
                         4);
        ck_assert_uint_eq(strlen(id), 36);
        ck_assert_uint_gt(rlen, 0);
        if (strncmp(body, "good", 4) == 0) {
            good++;
            ck_assert_uint_eq(count, 1);
        } else {
            bad++;
            ck_assert_uint_le(count, 2);
        }
    }
    fclose(f);
    ck_assert_int_eq(good, 3);
    ck_assert_int_eq(bad, 6);
    ck_assert_int_eq(queue_count("cli-src", "ApproximateNumberOfMessages") +
                         queue_count("cli-src",
                                     "ApproximateNumberOfMessagesNotVisible"),
                     0);
    ck_assert_int_eq(queue_count("cli-dlq", "ApproximateNumberOfMessages"),
                     3);
}
END_TEST

START_TEST(test_cli_consume_usage)
{
    make_queue("cli-u", NULL);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s --home %s/home consume --queue-url cli-u >/dev/null 2>&1",
             LMQ_BIN, lmq_test_dir);
    ck_assert_int_eq(run_sh(cmd), 252); /* --exec is required */
    snprintf(cmd, sizeof cmd,
             "%s --home %s/home consume --queue-url nope --exec true "
             ">/dev/null 2>&1",
             LMQ_BIN, lmq_test_dir);
    ck_assert_int_eq(run_sh(cmd), 254); /* QueueDoesNotExist */
    snprintf(cmd, sizeof cmd,
             "%s --home %s/home consume --queue-url cli-u --exec true "
             "--concurrency 0 >/dev/null 2>&1",
             LMQ_BIN, lmq_test_dir);
    ck_assert_int_eq(run_sh(cmd), 254); /* InvalidParameterValue */
}
END_TEST

Suite *
lmq_suite_consumer(void)
{
    Suite *s = suite_create("consumer");
    TCase *tc = tcase_create("basics");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_handles_and_deletes_in_batches);
    tcase_add_test(tc, test_open_validates);
    tcase_add_test(tc, test_until_empty_stops_by_itself);
    tcase_add_test(tc, test_deleted_queue_stops_consumer);
    suite_add_tcase(s, tc);

    tc = tcase_create("heartbeat");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_heartbeat_keeps_slow_message_invisible);
    tcase_add_test(tc, test_heartbeat_finds_message_gone);
    suite_add_tcase(s, tc);

    tc = tcase_create("results");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_partial_batch_failure);
    tcase_add_test(tc, test_failure_backoff_makes_visible_again);
    tcase_add_test(tc, test_handler_timeout_leaves_message);
    tcase_add_test(tc, test_handler_timeouts_in_a_row);
    suite_add_tcase(s, tc);

    tc = tcase_create("stop");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_graceful_stop_returns_unstarted);
    tcase_add_test(tc, test_stop_interrupts_idle_wait);
    suite_add_tcase(s, tc);

    tc = tcase_create("concurrency");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_more_than_ten_in_flight);
    tcase_add_test(tc, test_batch_combines_receives);
    tcase_add_test(tc, test_bulk_receive_is_one_transaction);
    tcase_add_test(tc, test_fifo_groups_in_order_never_concurrent);
    suite_add_tcase(s, tc);

    tc = tcase_create("lambda");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_max_batch_bytes_splits_batches);
    tcase_add_test(tc, test_scale_concurrency_up_and_down);
    suite_add_tcase(s, tc);

    tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_cli_consume_failures_reach_dlq);
    tcase_add_test(tc, test_cli_consume_usage);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_consumer());
}
