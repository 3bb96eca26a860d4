/*
 * check_bodies.c: message bodies of every size, from 1 byte to 1 MiB (the
 * largest MaximumMessageSize), come back byte for byte through send,
 * receive and delete, batches, FIFO queues, a DLQ move, a purge and sealed
 * queues, in the relaxed and the durable mode, across a reopen (issue 24).
 * Bodies of more than a page live on LMDB overflow pages, which deletes
 * free and later sends reuse: every body is checked whole.
 */
#include "lmq_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lmq_env *env;
static char keyfile[320];

/* Sizes around LMDB's thresholds with 4 KiB pages: a value of more than
 * ~2 KB leaves the leaf for overflow pages; 4080 bytes fill one page,
 * 4081 need two. */
static const size_t sizes[] = {1,     100,   1024,   2000,   2100,
                               4080,  4081,  4096,   16384,  65536,
                               65537, 262144, 1048575, 1048576};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static bool
san(void)
{
    return getenv("LMQ_TEST_SAN") != NULL;
}

static lmq_env *
open_env(lmq_durability d, bool keys)
{
    char path[400];
    lmq_env_opts o;
    lmq_env *e;
    lmq_env_opts_init(&o);
    o.durability = d;
    o.map_size = 256u << 20;
    o.key_file = keys ? keyfile : "";
    snprintf(path, sizeof path, "%s/home", lmq_test_dir);
    ck_ok(lmq_env_open(path, &o, &e));
    return e;
}

static void
setup(void)
{
    lmq_test_tmp_setup();
    snprintf(keyfile, sizeof keyfile, "%s/keys.json", lmq_test_dir);
    ck_ok(lmq_keyring_add(keyfile, NULL, 0, NULL));
    env = NULL;
}

static void
teardown(void)
{
    if (env)
        lmq_env_close(env);
    env = NULL;
    lmq_test_tmp_teardown();
}

/* The body of (size, seed): a header naming both, then printable bytes
 * (and newlines) that depend on the position, so a page of another body
 * or of this one in the wrong place shows. */
static char *
make_body(size_t size, unsigned seed)
{
    char *b = malloc(size + 1);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < size; i++) {
        unsigned v = (unsigned)(i * 7 + (i >> 12) * 131 + seed * 29);
        b[i] = i % 97 == 96 ? '\n' : (char)(' ' + 1 + v % 94);
    }
    char head[48];
    int n = snprintf(head, sizeof head, "%zu:%u:", size, seed);
    memcpy(b, head, (size_t)n < size ? (size_t)n : size);
    b[size] = '\0';
    return b;
}

/* The body m carries is make_body() of the size and seed it names. */
static int
body_ok(const lmq_msg *m, void *arg)
{
    size_t *count = arg, len, size;
    unsigned seed;
    const char *b = lmq_msg_body(m, &len);
    if (len < 4) { /* too short to name itself: sizes 1-3 use seed 0 */
        char *want = make_body(len, 0);
        ck_assert_mem_eq(b, want, len);
        free(want);
    } else {
        ck_assert_msg(sscanf(b, "%zu:%u:", &size, &seed) == 2,
                      "body of %zu bytes does not name itself", len);
        ck_assert_uint_eq(len, size);
        char *want = make_body(size, seed);
        size_t at = 0;
        while (at < len && b[at] == want[at])
            at++;
        ck_assert_msg(at == len, "body %zu:%u differs at byte %zu", size,
                      seed, at);
        free(want);
    }
    ck_assert_int_eq(b[len], '\0');
    if (count)
        (*count)++;
    return 0;
}

static lmq_queue *
make_queue(const char *name, const char *k1, const char *v1)
{
    lmq_map *a = lmq_map_new();
    lmq_queue *q;
    ck_ok(lmq_map_set(a, "MaximumMessageSize", "1048576"));
    if (strstr(name, ".fifo"))
        ck_ok(lmq_map_set(a, "FifoQueue", "true"));
    if (k1)
        ck_ok(lmq_map_set(a, k1, v1));
    ck_ok(lmq_queue_create(env, name, a, NULL, NULL));
    lmq_map_free(a);
    ck_ok(lmq_queue_open(env, name, &q));
    return q;
}

static void
send_one(lmq_queue *q, size_t size, unsigned seed, const char *group)
{
    char *b = make_body(size, size < 4 ? 0 : seed);
    char dedup[32];
    lmq_send_entry e;
    lmq_send_result r;
    lmq_send_entry_init(&e);
    e.body = b;
    e.body_len = size;
    if (group) {
        snprintf(dedup, sizeof dedup, "d%zu-%u", size, seed);
        e.group_id = group;
        e.dedup_id = dedup;
    }
    ck_ok(lmq_send(q, &e, &r));
    ck_assert_int_eq(r.duplicate, 0);
    free(b);
}

static long long
visible(const char *name)
{
    long long c[3];
    ck_ok(lmq_test_counts(env, name, c));
    return c[0] + c[1] + c[2];
}

static void
drain_all(lmq_queue *q, size_t want)
{
    size_t seen = 0, n;
    ck_ok(lmq_test_drain(q, body_ok, &seen, &n));
    ck_assert_uint_eq(seen, want);
    ck_assert_uint_eq(n, want);
}

static const lmq_durability modes[] = {LMQ_DURABILITY_PERIODIC,
                                       LMQ_DURABILITY_FULL};

/* Every size, several messages each, sent, then read back after a reopen
 * (from the file), deleted; then the same again into the freed pages. */
START_TEST(every_size_round_trips)
{
    lmq_durability d = modes[_i];
    unsigned per = san() ? 1 : 3;
    env = open_env(d, false);
    lmq_queue *q = make_queue("q", NULL, NULL);
    for (int round = 0; round < 2; round++) {
        for (size_t s = 0; s < NSIZES; s++)
            for (unsigned k = 0; k < per; k++)
                send_one(q, sizes[s], (unsigned)round * 100 + k, NULL);
        lmq_queue_close(q);
        lmq_env_close(env);
        env = open_env(d, false);
        ck_ok(lmq_queue_open(env, "q", &q));
        drain_all(q, NSIZES * per);
        ck_assert_int_eq(visible("q"), 0);
    }
    lmq_queue_close(q);
}
END_TEST

/* One message at a time: receive it, check it, delete it by its handle. */
START_TEST(single_receive_and_delete)
{
    lmq_durability d = modes[_i];
    env = open_env(d, false);
    lmq_queue *q = make_queue("q", NULL, NULL);
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.max_messages = 1;
    o.wait_seconds = 0;
    for (size_t s = 0; s < NSIZES; s++) {
        send_one(q, sizes[s], 7, NULL);
        lmq_msg *m[1];
        size_t n;
        int deleted = 0;
        ck_ok(lmq_receive(q, &o, m, 1, &n));
        ck_assert_uint_eq(n, 1);
        body_ok(m[0], NULL);
        ck_ok(lmq_delete(q, lmq_msg_receipt(m[0]), &deleted));
        ck_assert_int_eq(deleted, 1);
        lmq_msg_free(m[0]);
    }
    ck_assert_int_eq(visible("q"), 0);
    lmq_queue_close(q);
}
END_TEST

/* Batches up to the 1 MiB a batch may carry: 10 x 100 KiB, 4 x 256 KiB,
 * and one 1 MiB body alone. */
START_TEST(batches_round_trip)
{
    lmq_durability d = modes[_i];
    static const struct {
        size_t n, size;
    } b[] = {{10, 102400}, {4, 262144}, {1, 1048576}, {10, 4081}};
    static const char *ids[10] = {"a", "b", "c", "d", "e",
                                  "f", "g", "h", "i", "j"};
    env = open_env(d, false);
    lmq_queue *q = make_queue("q", NULL, NULL);
    size_t total = 0;
    for (size_t j = 0; j < sizeof b / sizeof b[0]; j++) {
        lmq_send_entry e[10];
        lmq_send_result r[10];
        char *bodies[10];
        for (size_t i = 0; i < b[j].n; i++) {
            bodies[i] = make_body(b[j].size, (unsigned)(j * 10 + i));
            lmq_send_entry_init(&e[i]);
            e[i].id = ids[i];
            e[i].body = bodies[i];
            e[i].body_len = b[j].size;
        }
        ck_ok(lmq_send_batch(q, e, b[j].n, r));
        for (size_t i = 0; i < b[j].n; i++) {
            ck_assert_int_eq(r[i].err, 0);
            free(bodies[i]);
        }
        total += b[j].n;
    }
    /* receive in tens, delete each ten in one batch */
    size_t seen = 0;
    for (;;) {
        lmq_recv_opts o;
        lmq_msg *m[10];
        lmq_handle_entry h[10];
        lmq_batch_result br[10];
        size_t n;
        lmq_recv_opts_init(&o);
        o.max_messages = 10;
        o.wait_seconds = 0;
        o.visibility_timeout = 600;
        ck_ok(lmq_receive(q, &o, m, 10, &n));
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            body_ok(m[i], &seen);
            h[i] = (lmq_handle_entry){ids[i], lmq_msg_receipt(m[i]), 0};
        }
        ck_ok(lmq_delete_batch(q, h, n, br));
        for (size_t i = 0; i < n; i++) {
            ck_assert_int_eq(br[i].err, 0);
            ck_assert_int_eq(br[i].applied, 1);
            lmq_msg_free(m[i]);
        }
    }
    ck_assert_uint_eq(seen, total);
    ck_assert_int_eq(visible("q"), 0);
    lmq_queue_close(q);
}
END_TEST

/* FIFO: one group, every size, delivered in send order and whole. */
START_TEST(fifo_round_trips_in_order)
{
    lmq_durability d = modes[_i];
    env = open_env(d, false);
    lmq_queue *q = make_queue("q.fifo", NULL, NULL);
    for (size_t s = 0; s < NSIZES; s++)
        send_one(q, sizes[s], 3, "g");
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.max_messages = 1;
    o.wait_seconds = 0;
    for (size_t s = 0; s < NSIZES; s++) {
        lmq_msg *m[1];
        size_t n, len;
        ck_ok(lmq_receive(q, &o, m, 1, &n));
        ck_assert_uint_eq(n, 1);
        lmq_msg_body(m[0], &len);
        ck_assert_uint_eq(len, sizes[s]); /* in order */
        body_ok(m[0], NULL);
        ck_ok(lmq_delete(q, lmq_msg_receipt(m[0]), NULL));
        lmq_msg_free(m[0]);
    }
    ck_assert_int_eq(visible("q.fifo"), 0);
    lmq_queue_close(q);
}
END_TEST

/* A redrive policy moves large bodies to the DLQ whole. */
START_TEST(dlq_move_keeps_bodies)
{
    lmq_durability d = modes[_i];
    env = open_env(d, false);
    lmq_queue *dlq = make_queue("dead", NULL, NULL);
    char policy[600], arn[400];
    const char *names[] = {"QueueArn", NULL};
    lmq_map *a;
    ck_ok(lmq_queue_get_attributes(env, "dead", names, &a));
    snprintf(arn, sizeof arn, "%s", lmq_map_get(a, "QueueArn"));
    lmq_map_free(a);
    snprintf(policy, sizeof policy,
             "{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":1}", arn);
    lmq_queue *q = make_queue("src", "RedrivePolicy", policy);
    for (size_t s = 0; s < NSIZES; s++)
        send_one(q, sizes[s], 11, NULL);
    /* first receive: each once, handed back at once (timeout 0) */
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.max_messages = 10;
    o.wait_seconds = 0;
    o.visibility_timeout = 0;
    size_t got = 0;
    while (got < NSIZES) {
        lmq_msg *m[10];
        size_t n;
        ck_ok(lmq_receive(q, &o, m, 10, &n));
        ck_assert_uint_gt(n, 0);
        for (size_t i = 0; i < n; i++) {
            body_ok(m[i], &got);
            lmq_msg_free(m[i]);
        }
    }
    /* the next receive moves them all: nothing is delivered */
    lmq_msg *m[10];
    size_t n;
    ck_ok(lmq_receive(q, &o, m, 10, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(visible("src"), 0);
    ck_assert_int_eq(visible("dead"), (long long)NSIZES);
    drain_all(dlq, NSIZES);
    lmq_queue_close(q);
    lmq_queue_close(dlq);
}
END_TEST

/* A purge frees every body at once; the next bodies reuse the pages. */
START_TEST(purge_then_reuse)
{
    lmq_durability d = modes[_i];
    env = open_env(d, false);
    lmq_queue *q = make_queue("q", NULL, NULL);
    lmq_queue *other = make_queue("other", NULL, NULL);
    for (size_t s = 0; s < NSIZES; s++) {
        send_one(q, sizes[s], 1, NULL);
        send_one(other, sizes[s], 2, NULL);
    }
    ck_ok(lmq_queue_purge(env, "q"));
    ck_assert_int_eq(visible("q"), 0);
    for (size_t s = 0; s < NSIZES; s++)
        send_one(q, sizes[s], 4, NULL);
    lmq_queue_close(q);
    lmq_queue_close(other);
    lmq_env_close(env);
    env = open_env(d, false);
    ck_ok(lmq_queue_open(env, "q", &q));
    ck_ok(lmq_queue_open(env, "other", &other));
    drain_all(q, NSIZES);
    drain_all(other, NSIZES); /* the purge left the other queue's alone */
    lmq_queue_close(q);
    lmq_queue_close(other);
}
END_TEST

/* Sealed queues: every size sealed, read back after a reopen. */
START_TEST(sealed_round_trips)
{
    lmq_durability d = modes[_i];
    env = open_env(d, true);
    lmq_queue *q = make_queue("q", "SqsManagedSseEnabled", "true");
    for (size_t s = 0; s < NSIZES; s++)
        send_one(q, sizes[s], 5, NULL);
    lmq_queue_close(q);
    lmq_env_close(env);
    env = open_env(d, true);
    ck_ok(lmq_queue_open(env, "q", &q));
    drain_all(q, NSIZES);
    ck_assert_int_eq(visible("q"), 0);
    lmq_queue_close(q);
}
END_TEST

static Suite *
bodies_suite(void)
{
    Suite *s = suite_create("bodies");
    TCase *tc = tcase_create("sizes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, every_size_round_trips, 0, 2);
    tcase_add_loop_test(tc, single_receive_and_delete, 0, 2);
    tcase_add_loop_test(tc, batches_round_trip, 0, 2);
    tcase_add_loop_test(tc, fifo_round_trips_in_order, 0, 2);
    tcase_add_loop_test(tc, dlq_move_keeps_bodies, 0, 2);
    tcase_add_loop_test(tc, purge_then_reuse, 0, 2);
    tcase_add_loop_test(tc, sealed_round_trips, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(bodies_suite());
}
