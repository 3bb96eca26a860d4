/*
 * check_queue_std.c: standard queues: send, receive, visibility, delay,
 * retention, attributes and digests, batches, delete and change-visibility
 * with current, stale, forged and foreign handles, and that every rejected
 * input changes nothing. Time moves through the test clock, never sleeps.
 */
#include "lmq_test.h"

#include "core.h"

static lmq_env *env;
static lmq_queue *q;

static void
setup(void)
{
    lmq_test_tmp_setup();
    lmq_test_clock_setup();
    env = lmq_test_env();
    ck_ok(lmq_queue_create(env, "q", NULL, NULL, NULL));
    ck_ok(lmq_queue_open(env, "q", &q));
}

static void
teardown(void)
{
    lmq_queue_close(q);
    lmq_env_close(env);
    q = NULL;
    env = NULL;
    lmq_test_tmp_teardown();
}

static void
set_attr(const char *name, const char *value)
{
    lmq_map *a = lmq_map_new();
    ck_ok(lmq_map_set(a, name, value));
    ck_ok(lmq_queue_set_attributes(env, "q", a));
    lmq_map_free(a);
}

static void
reopen(void)
{
    lmq_queue_close(q);
    lmq_env_close(env);
    env = lmq_test_env();
    ck_ok(lmq_queue_open(env, "q", &q));
}

static void
send_body(const char *body, lmq_send_result *res)
{
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = body;
    ck_ok(lmq_send(q, &e, res));
}

static size_t
recv_n(size_t max, int vt, lmq_msg **m)
{
    lmq_recv_opts o;
    size_t n;
    lmq_recv_opts_init(&o);
    o.max_messages = (int)max;
    o.visibility_timeout = vt;
    ck_ok(lmq_receive(q, &o, m, max, &n));
    return n;
}

static lmq_msg *
recv1(int vt)
{
    lmq_msg *m[1];
    size_t n = recv_n(1, vt, m);
    return n ? m[0] : NULL;
}

static long
counter(const char *name)
{
    const char *names[] = {name, NULL};
    lmq_map *m;
    ck_ok(lmq_queue_get_attributes(env, "q", names, &m));
    long v = strtol(lmq_map_get(m, name), NULL, 10);
    lmq_map_free(m);
    return v;
}

static void
ck_counts(long visible, long inflight, long delayed)
{
    ck_assert_int_eq(counter("ApproximateNumberOfMessages"), visible);
    ck_assert_int_eq(counter("ApproximateNumberOfMessagesNotVisible"),
                     inflight);
    ck_assert_int_eq(counter("ApproximateNumberOfMessagesDelayed"), delayed);
}

static bool
is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
            return false;
    }
    return true;
}

/* ---- send and receive ----------------------------------------------------- */

START_TEST(send_then_receive_round_trips)
{
    lmq_send_result res;
    send_body("hello", &res);
    ck_assert(is_uuid(res.message_id));
    ck_assert_str_eq(res.md5_body, "5d41402abc4b2a76b9719d911017c592");
    ck_assert_str_eq(res.md5_attrs, "");
    ck_assert_str_eq(res.sequence_number, "");
    ck_counts(1, 0, 0);
    lmq_test_clock_advance(250);
    lmq_msg *m = recv1(-1);
    ck_assert_ptr_nonnull(m);
    size_t len;
    ck_assert_str_eq(lmq_msg_body(m, &len), "hello");
    ck_assert_uint_eq(len, 5);
    ck_assert_str_eq(lmq_msg_id(m), res.message_id);
    ck_assert_str_eq(lmq_msg_md5_body(m), res.md5_body);
    ck_assert_uint_eq(lmq_msg_receive_count(m), 1);
    ck_assert_int_eq(lmq_msg_sent_timestamp(m), 1767225600000LL);
    ck_assert_int_eq(lmq_msg_first_receive_timestamp(m), 1767225600250LL);
    ck_assert_str_eq(lmq_msg_sys_attr(m, "SentTimestamp"), "1767225600000");
    ck_assert_str_eq(lmq_msg_sys_attr(m, "ApproximateReceiveCount"), "1");
    ck_assert_str_eq(lmq_msg_sys_attr(m, "SenderId"), "000000000000");
    ck_assert_ptr_null(lmq_msg_sys_attr(m, "SequenceNumber"));
    ck_assert_ptr_null(lmq_msg_sys_attr(m, "MessageGroupId"));
    ck_counts(0, 1, 0);
    lmq_msg_free(m);
    /* nothing else to receive: success with n == 0 */
    ck_assert_ptr_null(recv1(-1));
}
END_TEST

START_TEST(binary_safe_utf8_body_round_trips)
{
    const char body[] = "tab\there\r\nnl \xc3\xa9 \xf0\x9f\x98\x80 end";
    send_body(body, NULL);
    lmq_msg *m = recv1(-1);
    size_t len;
    const char *b = lmq_msg_body(m, &len);
    ck_assert_uint_eq(len, strlen(body));
    ck_assert_mem_eq(b, body, len);
    lmq_msg_free(m);
}
END_TEST

START_TEST(receive_returns_up_to_max_in_send_order)
{
    char b[8];
    lmq_msg *m[10];
    for (int i = 0; i < 15; i++) {
        snprintf(b, sizeof b, "m%02d", i);
        send_body(b, NULL);
    }
    size_t n = recv_n(10, 30, m);
    ck_assert_uint_eq(n, 10);
    for (size_t i = 0; i < n; i++) {
        snprintf(b, sizeof b, "m%02zu", i);
        ck_assert_str_eq(lmq_msg_body(m[i], NULL), b);
        lmq_msg_free(m[i]);
    }
    n = recv_n(10, 30, m);
    ck_assert_uint_eq(n, 5);
    for (size_t i = 0; i < n; i++)
        lmq_msg_free(m[i]);
    ck_counts(0, 15, 0);
}
END_TEST

START_TEST(visibility_timeout_hides_then_returns)
{
    send_body("v", NULL);
    lmq_msg *m = recv1(-1); /* queue default 30 s */
    ck_assert_ptr_nonnull(m);
    lmq_test_clock_advance(29999);
    ck_assert_ptr_null(recv1(-1));
    ck_counts(0, 1, 0);
    lmq_test_clock_advance(1);
    ck_counts(1, 0, 0);
    lmq_msg *m2 = recv1(5);
    ck_assert_ptr_nonnull(m2);
    ck_assert_uint_eq(lmq_msg_receive_count(m2), 2);
    ck_assert_str_ne(lmq_msg_receipt(m2), lmq_msg_receipt(m));
    /* first receive timestamp stays the first one */
    ck_assert_int_eq(lmq_msg_first_receive_timestamp(m2),
                     lmq_msg_first_receive_timestamp(m));
    lmq_test_clock_advance(5000);
    lmq_msg *m3 = recv1(0);
    ck_assert_uint_eq(lmq_msg_receive_count(m3), 3);
    /* visibility 0 leaves it visible at once */
    lmq_msg *m4 = recv1(0);
    ck_assert_ptr_nonnull(m4);
    ck_assert_uint_eq(lmq_msg_receive_count(m4), 4);
    ck_counts(1, 0, 0);
    lmq_msg_free(m);
    lmq_msg_free(m2);
    lmq_msg_free(m3);
    lmq_msg_free(m4);
}
END_TEST

START_TEST(queue_visibility_default_applies)
{
    set_attr("VisibilityTimeout", "2");
    send_body("x", NULL);
    lmq_msg *m = recv1(-1);
    lmq_test_clock_advance(1999);
    ck_assert_ptr_null(recv1(-1));
    lmq_test_clock_advance(1);
    lmq_msg *m2 = recv1(-1);
    ck_assert_ptr_nonnull(m2);
    lmq_msg_free(m);
    lmq_msg_free(m2);
}
END_TEST

START_TEST(message_and_queue_delay)
{
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = "late";
    e.delay_seconds = 10;
    ck_ok(lmq_send(q, &e, NULL));
    ck_counts(0, 0, 1);
    ck_assert_ptr_null(recv1(-1));
    lmq_test_clock_advance(9999);
    ck_assert_ptr_null(recv1(-1));
    lmq_test_clock_advance(1);
    ck_counts(1, 0, 0);
    lmq_msg *m = recv1(-1);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "late");
    lmq_msg_free(m);
    /* queue delay applies when the message gives none; 0 overrides it */
    set_attr("DelaySeconds", "5");
    e.delay_seconds = -1;
    e.body = "queue-delayed";
    ck_ok(lmq_send(q, &e, NULL));
    e.delay_seconds = 0;
    e.body = "now";
    ck_ok(lmq_send(q, &e, NULL));
    ck_counts(1, 1, 1);
    m = recv1(-1);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "now");
    lmq_msg_free(m);
    ck_assert_ptr_null(recv1(-1));
    lmq_test_clock_advance(5000);
    m = recv1(-1);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "queue-delayed");
    lmq_msg_free(m);
    /* out of range */
    e.delay_seconds = 901;
    ck_lmq(lmq_send(q, &e, NULL), LMQ_EINVAL);
}
END_TEST

START_TEST(retention_expires_messages_in_any_state)
{
    set_attr("MessageRetentionPeriod", "60");
    send_body("old-visible", NULL);
    send_body("old-inflight", NULL);
    lmq_msg *m = recv1(300);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "old-visible");
    lmq_test_clock_advance(30000);
    send_body("young", NULL);
    lmq_test_clock_advance(30000); /* the first two are 60 s old */
    lmq_msg *r = recv1(-1);
    ck_assert_str_eq(lmq_msg_body(r, NULL), "young");
    lmq_msg_free(r);
    /* the expired in-flight one cannot be deleted, changed or counted */
    int changed;
    ck_lmq(lmq_change_visibility(q, lmq_msg_receipt(m), 10, &changed),
           LMQ_EINVAL);
    ck_counts(0, 1, 0);
    lmq_msg_free(m);
    lmq_test_clock_advance(300000);
    ck_assert_ptr_null(recv1(-1));
    ck_counts(0, 0, 0);
}
END_TEST

/* Receives skip the expiry sweep until the oldest message can expire; a
 * shorter retention set later must still expire in-flight messages at once. */
START_TEST(retention_shortened_later_still_expires)
{
    send_body("a", NULL);
    send_body("b", NULL);
    lmq_msg *m1 = recv1(300), *m2 = recv1(300);
    ck_assert_ptr_nonnull(m1);
    ck_assert_ptr_nonnull(m2);
    ck_assert_ptr_null(recv1(-1)); /* sweeps: nothing expires for days */
    ck_counts(0, 2, 0);
    set_attr("MessageRetentionPeriod", "60");
    lmq_test_clock_advance(61000);
    ck_assert_ptr_null(recv1(-1));
    ck_counts(0, 0, 0);
    lmq_msg_free(m1);
    lmq_msg_free(m2);
}
END_TEST

/* ---- attributes -------------------------------------------------------------- */

START_TEST(message_attributes_and_digests)
{
    lmq_mattrs *a = lmq_mattrs_new();
    ck_ok(lmq_mattrs_add(a, "Hello", "String", "There", 5));
    ck_ok(lmq_mattrs_add(a, "General", "String", "Kenobi", 6));
    ck_ok(lmq_mattrs_add(a, "Help.Me", "String", "Me", 2));
    lmq_send_entry e;
    lmq_send_result res;
    lmq_send_entry_init(&e);
    e.body = "with attrs";
    e.attrs = a;
    e.trace_header = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
    ck_ok(lmq_send(q, &e, &res));
    ck_assert_str_eq(res.md5_attrs, "4c360f3fdafd970e05fae2f149d997f5");
    ck_assert_str_eq(res.md5_sys_attrs, "5f48eef650c1d0207456969c85af2fdd");
    lmq_mattrs_free(a);

    lmq_recv_opts o;
    lmq_msg *m[1];
    size_t n;
    lmq_recv_opts_init(&o);
    o.visibility_timeout = 0;
    /* no names: no attributes, no digest */
    ck_ok(lmq_receive(q, &o, m, 1, &n));
    ck_assert_ptr_null(lmq_msg_attrs(m[0]));
    ck_assert_str_eq(lmq_msg_md5_attrs(m[0]), "");
    ck_assert_str_eq(lmq_msg_sys_attr(m[0], "AWSTraceHeader"),
                     "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1");
    lmq_msg_free(m[0]);
    /* All */
    const char *all[] = {"All", NULL};
    o.attribute_names = all;
    ck_ok(lmq_receive(q, &o, m, 1, &n));
    ck_assert_uint_eq(lmq_mattrs_count(lmq_msg_attrs(m[0])), 3);
    ck_assert_str_eq(lmq_msg_md5_attrs(m[0]),
                     "4c360f3fdafd970e05fae2f149d997f5");
    lmq_msg_free(m[0]);
    /* a subset: digest over the returned ones only */
    const char *sub[] = {"General", "Hello", "Nope", NULL};
    o.attribute_names = sub;
    ck_ok(lmq_receive(q, &o, m, 1, &n));
    ck_assert_uint_eq(lmq_mattrs_count(lmq_msg_attrs(m[0])), 2);
    ck_assert_str_eq(lmq_msg_md5_attrs(m[0]),
                     "fca026605781cb4126a1e9044df24232");
    lmq_msg_free(m[0]);
    /* prefix */
    const char *pre[] = {"Hel.*", NULL};
    o.attribute_names = pre;
    ck_ok(lmq_receive(q, &o, m, 1, &n));
    ck_assert_str_eq(lmq_msg_md5_attrs(m[0]),
                     "83fee93c1bcd8b9a5a923ffacdc636c7");
    lmq_msg_free(m[0]);
}
END_TEST

START_TEST(size_limit_counts_attributes)
{
    set_attr("MaximumMessageSize", "2048");
    char body[2049];
    memset(body, 'b', sizeof body);
    body[2048] = '\0';
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = body;
    ck_ok(lmq_send(q, &e, NULL)); /* exactly the limit */
    body[2047] = '\0';
    ck_ok(lmq_send(q, &e, NULL));
    body[2047] = 'b';
    body[2040] = '\0';
    lmq_mattrs *ma = lmq_mattrs_new();
    lmq_mattrs_add(ma, "k", "String", "x", 1);
    e.attrs = ma;
    ck_ok(lmq_send(q, &e, NULL)); /* 2040 + 1 + 6 + 1 = 2048 */
    body[2040] = 'b';
    body[2041] = '\0';
    ck_lmq(lmq_send(q, &e, NULL), LMQ_EINVAL);
    ck_assert(strstr(lmq_errmsg(), "Message must be shorter than 2048 "
                                   "bytes"));
    lmq_mattrs_free(ma);
    ck_counts(3, 0, 0);
}
END_TEST

START_TEST(bad_bodies_and_attributes_change_nothing)
{
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    ck_lmq(lmq_send(q, &e, NULL), LMQ_EMISSING);
    e.body = "";
    ck_lmq(lmq_send(q, &e, NULL), LMQ_EMISSING);
    e.body = "nul\0inside";
    e.body_len = 10;
    ck_lmq(lmq_send(q, &e, NULL), LMQ_ECONTENTS);
    e.body_len = SIZE_MAX;
    e.body = "bad \xff utf8";
    ck_lmq(lmq_send(q, &e, NULL), LMQ_ECONTENTS);
    e.body = "\xef\xbf\xbe"; /* U+FFFE */
    ck_lmq(lmq_send(q, &e, NULL), LMQ_ECONTENTS);
    e.body = "ok";
    lmq_mattrs *a = lmq_mattrs_new();
    lmq_mattrs_add(a, "AWS.reserved", "String", "v", 1);
    e.attrs = a;
    ck_lmq(lmq_send(q, &e, NULL), LMQ_EINVAL);
    lmq_mattrs_free(a);
    a = lmq_mattrs_new();
    lmq_mattrs_add(a, "n", "Number", "not-a-number", 12);
    e.attrs = a;
    ck_lmq(lmq_send(q, &e, NULL), LMQ_EINVAL);
    lmq_mattrs_free(a);
    a = lmq_mattrs_new();
    for (int i = 0; i < 11; i++) {
        char name[8];
        snprintf(name, sizeof name, "a%d", i);
        lmq_mattrs_add(a, name, "String", "v", 1);
    }
    e.attrs = a;
    ck_lmq(lmq_send(q, &e, NULL), LMQ_EINVAL);
    lmq_mattrs_free(a);
    e.attrs = NULL;
    e.dedup_id = "d1";
    ck_lmq(lmq_send(q, &e, NULL), LMQ_EINVAL); /* standard queue */
    e.dedup_id = NULL;
    e.group_id = "bad group id with \x01";
    ck_lmq(lmq_send(q, &e, NULL), LMQ_EINVAL);
    ck_counts(0, 0, 0);
    /* fair queues: a group id on a standard queue is kept and returned */
    e.group_id = "tenant-1";
    ck_ok(lmq_send(q, &e, NULL));
    lmq_msg *m = recv1(-1);
    ck_assert_str_eq(lmq_msg_sys_attr(m, "MessageGroupId"), "tenant-1");
    ck_assert_ptr_null(lmq_msg_sys_attr(m, "MessageDeduplicationId"));
    lmq_msg_free(m);
}
END_TEST

/* ---- batches -------------------------------------------------------------------- */

START_TEST(send_batch_per_entry_results)
{
    lmq_send_entry e[10];
    lmq_send_result r[10];
    char ids[10][8], bodies[10][8];
    for (int i = 0; i < 10; i++) {
        lmq_send_entry_init(&e[i]);
        snprintf(ids[i], 8, "id%d", i);
        snprintf(bodies[i], 8, "b%d", i);
        e[i].id = ids[i];
        e[i].body = bodies[i];
    }
    e[3].body = "\x01"; /* one bad entry fails alone */
    ck_ok(lmq_send_batch(q, e, 10, r));
    for (int i = 0; i < 10; i++) {
        if (i == 3) {
            ck_assert_int_eq(r[i].err, LMQ_ECONTENTS);
            ck_assert(strstr(r[i].errmsg, "Invalid characters"));
        } else {
            ck_assert_int_eq(r[i].err, 0);
            ck_assert(is_uuid(r[i].message_id));
        }
    }
    ck_counts(9, 0, 0);
    /* whole-request errors send nothing */
    ck_lmq(lmq_send_batch(q, e, 0, r), LMQ_EBATCHEMPTY);
    lmq_send_entry e11[11];
    for (int i = 0; i < 11; i++) {
        lmq_send_entry_init(&e11[i]);
        e11[i].id = "x";
        e11[i].body = "y";
    }
    ck_lmq(lmq_send_batch(q, e11, 11, r), LMQ_EBATCHTOOMANY);
    e[3].body = "fine";
    e[1].id = "id0";
    ck_lmq(lmq_send_batch(q, e, 10, r), LMQ_EBATCHIDSDUP);
    e[1].id = "bad id!";
    ck_lmq(lmq_send_batch(q, e, 10, r), LMQ_EBATCHID);
    e[1].id = NULL;
    ck_lmq(lmq_send_batch(q, e, 10, r), LMQ_EBATCHID);
    e[1].id = ids[1];
    char *big = malloc(300000);
    memset(big, 'z', 299999);
    big[299999] = '\0';
    for (int i = 0; i < 4; i++)
        e[i].body = big; /* 4 x 300000 > 1 MiB */
    ck_lmq(lmq_send_batch(q, e, 10, r), LMQ_EBATCHTOOLONG);
    free(big);
    ck_counts(9, 0, 0);
}
END_TEST

START_TEST(delete_and_visibility_batches)
{
    lmq_msg *m[10];
    for (int i = 0; i < 4; i++)
        send_body("x", NULL);
    size_t n = recv_n(4, 30, m);
    ck_assert_uint_eq(n, 4);
    lmq_handle_entry h[4] = {
        {"a", lmq_msg_receipt(m[0]), 0},
        {"b", lmq_msg_receipt(m[1]), 0},
        {"c", "garbage", 0},
        {"d", lmq_msg_receipt(m[2]), 100000},
    };
    lmq_batch_result r[4];
    ck_ok(lmq_change_visibility_batch(q, h, 4, r));
    ck_assert_int_eq(r[0].err, 0);
    ck_assert_int_eq(r[0].applied, 1);
    ck_assert_int_eq(r[2].err, LMQ_ERECEIPT);
    ck_assert_int_eq(r[3].err, LMQ_EINVAL);
    ck_counts(2, 2, 0); /* a and b visible again */
    h[0].receipt = lmq_msg_receipt(m[2]);
    h[1].receipt = lmq_msg_receipt(m[3]);
    ck_ok(lmq_delete_batch(q, h, 3, r));
    ck_assert_int_eq(r[0].applied, 1);
    ck_assert_int_eq(r[1].applied, 1);
    ck_assert_int_eq(r[2].err, LMQ_ERECEIPT);
    ck_counts(2, 0, 0);
    h[1].id = "a";
    ck_lmq(lmq_delete_batch(q, h, 2, r), LMQ_EBATCHIDSDUP);
    ck_lmq(lmq_delete_batch(q, h, 0, r), LMQ_EBATCHEMPTY);
    for (size_t i = 0; i < n; i++)
        lmq_msg_free(m[i]);
}
END_TEST

START_TEST(bulk_handles_beyond_ten_in_one_call)
{
    enum { N = 40 };
    lmq_msg *m[N];
    lmq_handle_entry e[N + 1];
    lmq_batch_result r[N + 1];
    for (int i = 0; i < N; i++)
        send_body("bulk", NULL);
    size_t got = 0;
    while (got < N)
        got += recv_n(10, 30, m + got);
    for (int i = 0; i < N; i++)
        e[i] = (lmq_handle_entry){NULL, lmq_msg_receipt(m[i]), 0};
    e[N] = (lmq_handle_entry){NULL, "garbage", 0};
    /* make half visible again, then delete all in one transaction */
    ck_ok(lmq__handles_many(q, e, N / 2, r, true));
    for (int i = 0; i < N / 2; i++)
        ck_assert_int_eq(r[i].applied, 1);
    ck_counts(N / 2, N / 2, 0);
    for (int i = 0; i < N / 2; i++)
        e[i].receipt = lmq_msg_receipt(m[i]);
    ck_ok(lmq__handles_many(q, e, N + 1, r, false));
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(r[i].err, 0);
        /* the visibility-0 ones were not received again: still deleted */
        ck_assert_int_eq(r[i].applied, 1);
    }
    ck_assert_int_eq(r[N].err, LMQ_ERECEIPT);
    ck_counts(0, 0, 0);
    ck_ok(lmq__handles_many(q, e, 0, r, false));
    for (int i = 0; i < N; i++)
        lmq_msg_free(m[i]);
}
END_TEST

/* ---- handles ---------------------------------------------------------------------- */

START_TEST(delete_with_current_stale_and_repeated_handles)
{
    int del;
    send_body("d", NULL);
    lmq_msg *m1 = recv1(10);
    lmq_test_clock_advance(10000);
    lmq_msg *m2 = recv1(10); /* redelivered */
    /* the old handle never deletes the redelivered message */
    ck_ok(lmq_delete(q, lmq_msg_receipt(m1), &del));
    ck_assert_int_eq(del, 0);
    ck_counts(0, 1, 0);
    ck_ok(lmq_delete(q, lmq_msg_receipt(m2), &del));
    ck_assert_int_eq(del, 1);
    ck_counts(0, 0, 0);
    ck_ok(lmq_delete(q, lmq_msg_receipt(m2), &del));
    ck_assert_int_eq(del, 0);
    lmq_msg_free(m1);
    lmq_msg_free(m2);
    /* expired, not received again: the handle still deletes (AWS 200) */
    send_body("e", NULL);
    m1 = recv1(1);
    lmq_test_clock_advance(5000);
    ck_ok(lmq_delete(q, lmq_msg_receipt(m1), &del));
    ck_assert_int_eq(del, 1);
    ck_assert_ptr_null(recv1(-1));
    lmq_msg_free(m1);
}
END_TEST

START_TEST(forged_and_foreign_handles_are_rejected)
{
    int del;
    lmq_queue *q2;
    ck_ok(lmq_queue_create(env, "other", NULL, NULL, NULL));
    ck_ok(lmq_queue_open(env, "other", &q2));
    send_body("f", NULL);
    lmq_msg *m = recv1(30);
    char forged[128];
    snprintf(forged, sizeof forged, "%s", lmq_msg_receipt(m));
    forged[5] = forged[5] == 'A' ? 'B' : 'A';
    ck_lmq(lmq_delete(q, forged, &del), LMQ_ERECEIPT);
    ck_lmq(lmq_delete(q, "", &del), LMQ_EMISSING);
    ck_lmq(lmq_delete(q2, lmq_msg_receipt(m), &del), LMQ_ERECEIPT);
    ck_lmq(lmq_change_visibility(q2, lmq_msg_receipt(m), 0, NULL),
           LMQ_ERECEIPT);
    ck_counts(0, 1, 0); /* nothing changed */
    ck_ok(lmq_delete(q, lmq_msg_receipt(m), &del));
    ck_assert_int_eq(del, 1);
    lmq_msg_free(m);
    lmq_queue_close(q2);
}
END_TEST

START_TEST(change_visibility_rules)
{
    int ch;
    send_body("c", NULL);
    lmq_msg *m = recv1(30);
    /* extend: counts from now */
    lmq_test_clock_advance(20000);
    ck_ok(lmq_change_visibility(q, lmq_msg_receipt(m), 60, &ch));
    ck_assert_int_eq(ch, 1);
    lmq_test_clock_advance(59999);
    ck_assert_ptr_null(recv1(-1));
    /* 12-hour cap from the receive, not reset by extending */
    ck_lmq(lmq_change_visibility(q, lmq_msg_receipt(m), 43200, &ch),
           LMQ_EINVAL);
    ck_assert(strstr(lmq_errmsg(), "beyond the limit [43200 seconds]"));
    ck_ok(lmq_change_visibility(q, lmq_msg_receipt(m), 43200 - 80, &ch));
    ck_lmq(lmq_change_visibility(q, lmq_msg_receipt(m), 43201, &ch),
           LMQ_EINVAL);
    ck_lmq(lmq_change_visibility(q, lmq_msg_receipt(m), -1, &ch), LMQ_EINVAL);
    /* 0: visible at once, and the next receive uses the default again */
    ck_ok(lmq_change_visibility(q, lmq_msg_receipt(m), 0, &ch));
    ck_counts(1, 0, 0);
    lmq_msg *m2 = recv1(-1);
    ck_assert_ptr_nonnull(m2);
    /* old handle: nothing changes */
    ck_ok(lmq_change_visibility(q, lmq_msg_receipt(m), 0, &ch));
    ck_assert_int_eq(ch, 0);
    ck_counts(0, 1, 0);
    /* expired and not received again: success, no effect */
    lmq_test_clock_advance(30000);
    ck_ok(lmq_change_visibility(q, lmq_msg_receipt(m2), 100, &ch));
    ck_assert_int_eq(ch, 0);
    ck_counts(1, 0, 0);
    /* deleted message */
    lmq_msg *m3 = recv1(30);
    int del;
    ck_ok(lmq_delete(q, lmq_msg_receipt(m3), &del));
    ck_lmq(lmq_change_visibility(q, lmq_msg_receipt(m3), 10, &ch), LMQ_EINVAL);
    ck_assert(strstr(lmq_errmsg(), "Message does not exist"));
    lmq_msg_free(m);
    lmq_msg_free(m2);
    lmq_msg_free(m3);
}
END_TEST

START_TEST(receive_options_are_validated)
{
    lmq_recv_opts o;
    lmq_msg *m[10];
    size_t n;
    send_body("r", NULL);
    lmq_recv_opts_init(&o);
    o.max_messages = 11;
    ck_lmq(lmq_receive(q, &o, m, 10, &n), LMQ_EINVAL);
    ck_assert(strstr(lmq_errmsg(), "Value 11 for parameter "
                                   "MaxNumberOfMessages is invalid"));
    o.max_messages = 0;
    ck_lmq(lmq_receive(q, &o, m, 10, &n), LMQ_EINVAL);
    o.max_messages = 1;
    o.visibility_timeout = 43201;
    ck_lmq(lmq_receive(q, &o, m, 10, &n), LMQ_EINVAL);
    o.visibility_timeout = -1;
    o.wait_seconds = 21;
    ck_lmq(lmq_receive(q, &o, m, 10, &n), LMQ_EINVAL);
    o.wait_seconds = -2;
    ck_lmq(lmq_receive(q, &o, m, 10, &n), LMQ_EINVAL);
    o.wait_seconds = 0;
    o.max_messages = 5;
    ck_lmq(lmq_receive(q, &o, m, 2, &n), LMQ_EINVAL); /* array too small */
    ck_counts(1, 0, 0);
}
END_TEST

START_TEST(deleted_queue_rejects_operations)
{
    lmq_msg *m = NULL;
    send_body("z", NULL);
    m = recv1(30);
    ck_ok(lmq_queue_delete(env, "q"));
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = "z";
    ck_lmq(lmq_send(q, &e, NULL), LMQ_ENOQUEUE);
    lmq_msg *mm[1];
    size_t n;
    ck_lmq(lmq_receive(q, NULL, mm, 1, &n), LMQ_ENOQUEUE);
    ck_lmq(lmq_delete(q, lmq_msg_receipt(m), NULL), LMQ_ENOQUEUE);
    lmq_msg_free(m);
}
END_TEST

START_TEST(counters_survive_reopen)
{
    send_body("a", NULL);
    send_body("b", NULL);
    lmq_msg *m = recv1(30);
    reopen();
    ck_counts(1, 1, 0);
    int del;
    ck_ok(lmq_delete(q, lmq_msg_receipt(m), &del));
    ck_assert_int_eq(del, 1);
    ck_counts(1, 0, 0);
    lmq_msg_free(m);
}
END_TEST

/* ---- the stored format -------------------------------------------------- */

/* Rewrite (up to 8) messages of a queue as an older format wrote them:
 * every message has a vis entry (format 3 leaves none for a message
 * visible since its send); format 1 also keeps the header in a row of its
 * own and writes records without it (version byte 1). Marks the home. */
struct old_format {
    uint32_t qid;
    uint32_t version;
};

static int
to_old_format(lmq_txn *t, void *arg)
{
    const struct old_format *of = arg;
    uint8_t keys[8][LMQ_MKEY_LEN], *recs[8];
    size_t lens[8], n = 0;
    lmq_mhdr hs[8];
    lmq_cur *c;
    lmq_val key, val;
    uint8_t k[LMQ_MKEY_LEN];
    int rc = lmq__cur_open(t, LMQ_DB_MSG, &c);
    if (rc)
        return rc;
    lmq__mkey(k, of->qid, 0);
    for (rc = lmq__cur_seek(c, k, sizeof k, &key, &val); rc == 0 && n < 8;
         rc = lmq__cur_next(c, &key, &val)) {
        ck_assert_int_eq(lmq__mrec_hdr(val.data, val.len, &hs[n]), 0);
        memcpy(keys[n], key.data, LMQ_MKEY_LEN);
        bool v1 = of->version == 1;
        lens[n] = v1 ? val.len - LMQ_MHDR_SIZE : val.len;
        recs[n] = malloc(lens[n]);
        recs[n][0] = v1 ? 1 : 2;
        memcpy(recs[n] + 1,
               (const uint8_t *)val.data + 1 + (v1 ? LMQ_MHDR_SIZE : 0),
               lens[n] - 1);
        n++;
    }
    lmq__cur_close(c);
    for (size_t i = 0; i < n; i++) {
        uint8_t h[LMQ_MHDR_SIZE];
        if (hs[i].flags & LMQ_MH_UNINDEXED) {
            uint8_t vk[LMQ_VKEY_LEN], st = hs[i].state;
            lmq__vkey(vk, of->qid, hs[i].visible_at,
                      lmq__get_u64(keys[i] + 4));
            ck_assert_int_eq(lmq__txn_put(t, LMQ_DB_VIS, vk, sizeof vk, &st,
                                          1),
                             0);
            hs[i].flags = 0;
        }
        lmq__mhdr_encode(&hs[i], h);
        if (of->version == 1)
            ck_assert_int_eq(lmq__txn_put(t, LMQ_DB_HDR, keys[i],
                                          LMQ_MKEY_LEN, h, sizeof h),
                             0);
        else
            memcpy(recs[i] + 1, h, sizeof h);
        ck_assert_int_eq(lmq__txn_put(t, LMQ_DB_MSG, keys[i], LMQ_MKEY_LEN,
                                      recs[i], lens[i]),
                         0);
        free(recs[i]);
    }
    uint8_t ver[4];
    lmq__put_u32(ver, of->version);
    return lmq__txn_put(t, LMQ_DB_META, "version", 7, ver, 4);
}

static int
set_version(lmq_txn *t, void *arg)
{
    uint8_t ver[4];
    lmq__put_u32(ver, *(uint32_t *)arg);
    return lmq__txn_put(t, LMQ_DB_META, "version", 7, ver, 4);
}

static int
get_version(lmq_txn *t, void *arg)
{
    lmq_val v;
    int rc = lmq__txn_get(t, LMQ_DB_META, "version", 7, &v);
    if (rc == 0)
        *(uint32_t *)arg = v.len == 4 ? lmq__get_u32(v.data) : 0;
    return rc;
}


/* A send writes the first header inside the message record (format 2);
 * messages a format 1 home holds (record plus header row) are still
 * received, changed, deleted and expired, and opening the home marks it
 * with the current format so that an older lmq refuses it. */
START_TEST(format1_home_is_read_and_upgraded)
{
    set_attr("MessageRetentionPeriod", "60");
    send_body("a", NULL);
    lmq_test_clock_advance(30000);
    send_body("b", NULL);
    send_body("c", NULL);
    struct old_format of = {q->qid, 1};
    uint32_t ver = 0;
    ck_ok(lmq__store_write(env->store, to_old_format, &of));
    ck_ok(lmq__store_read(env->store, get_version, &ver));
    ck_assert_uint_eq(ver, 1);
    reopen();
    ck_ok(lmq__store_read(env->store, get_version, &ver));
    ck_assert_uint_eq(ver, LMQ_FORMAT_VERSION);
    ck_counts(3, 0, 0);

    /* a (never received) expires; b and c are received, changed, again
     * received and deleted */
    lmq_test_clock_advance(30000);
    lmq_msg *m = recv1(30);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "b");
    ck_assert_int_eq(lmq_msg_receive_count(m), 1);
    ck_counts(1, 1, 0);
    int done;
    ck_ok(lmq_change_visibility(q, lmq_msg_receipt(m), 0, &done));
    lmq_msg_free(m);
    lmq_msg *ms[4];
    ck_assert_uint_eq(recv_n(4, 30, ms), 2);
    ck_assert_str_eq(lmq_msg_body(ms[0], NULL), "c");
    ck_assert_int_eq(lmq_msg_receive_count(ms[0]), 1);
    ck_assert_str_eq(lmq_msg_body(ms[1], NULL), "b");
    ck_assert_int_eq(lmq_msg_receive_count(ms[1]), 2);
    ck_counts(0, 2, 0);
    for (int i = 0; i < 2; i++) {
        ck_ok(lmq_delete(q, lmq_msg_receipt(ms[i]), &done));
        ck_assert_int_eq(done, 1);
        lmq_msg_free(ms[i]);
    }
    send_body("d", NULL);
    m = recv1(30);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "d");
    ck_ok(lmq_delete(q, lmq_msg_receipt(m), &done));
    lmq_msg_free(m);
    ck_counts(0, 0, 0);

    /* a home from a newer lmq is refused */
    ver = LMQ_FORMAT_VERSION + 1;
    ck_ok(lmq__store_write(env->store, set_version, &ver));
    lmq_queue_close(q);
    lmq_env_close(env);
    q = NULL;
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    char path[300];
    snprintf(path, sizeof path, "%s/home", lmq_test_dir);
    ck_lmq(lmq_env_open(path, &o, &env), LMQ_EVERSION);
    ck_assert_ptr_null(env);
}
END_TEST

/* Format 2 gave every message a vis entry; format 3 gives none to a
 * message visible since its send. A format 2 home's messages are received
 * in the same order next to ones the new format sends, with the counters
 * right, and opening marks the home format 3. */
START_TEST(format2_home_is_read_and_upgraded)
{
    send_body("a", NULL);
    lmq_test_clock_advance(10);
    send_body("b", NULL);
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = "late";
    e.delay_seconds = 5;
    ck_ok(lmq_send(q, &e, NULL));
    struct old_format of = {q->qid, 2};
    uint32_t ver = 0;
    ck_ok(lmq__store_write(env->store, to_old_format, &of));
    ck_ok(lmq__store_read(env->store, get_version, &ver));
    ck_assert_uint_eq(ver, 2);
    reopen();
    ck_ok(lmq__store_read(env->store, get_version, &ver));
    ck_assert_uint_eq(ver, LMQ_FORMAT_VERSION);
    ck_counts(2, 0, 1);
    lmq_test_clock_advance(10);
    send_body("c", NULL);
    ck_counts(3, 0, 1);
    lmq_msg *ms[10];
    ck_assert_uint_eq(recv_n(10, 30, ms), 3);
    const char *want[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(lmq_msg_body(ms[i], NULL), want[i]);
        lmq_msg_free(ms[i]);
    }
    ck_counts(0, 3, 1);
    lmq_test_clock_advance(5000);
    lmq_msg *m = recv1(30);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "late");
    int done;
    ck_ok(lmq_delete(q, lmq_msg_receipt(m), &done));
    ck_assert_int_eq(done, 1);
    lmq_msg_free(m);
    ck_counts(0, 3, 0);
}
END_TEST

/* Messages never received (found in send order) and ones visible again
 * (found in the visibility index) come out oldest-visible first, as one
 * index would give them; equal times go in send order. */
START_TEST(receive_merges_new_and_returning_messages)
{
    send_body("a", NULL);
    send_body("b", NULL);
    lmq_msg *m = recv1(5); /* a, visible again at +5 s */
    ck_assert_str_eq(lmq_msg_body(m, NULL), "a");
    lmq_msg_free(m);
    lmq_test_clock_advance(5000);
    send_body("c", NULL); /* visible at +5 s too, sent after a */
    lmq_test_clock_advance(1);
    send_body("d", NULL);
    ck_counts(4, 0, 0);
    lmq_msg *ms[10];
    ck_assert_uint_eq(recv_n(10, 30, ms), 4);
    const char *want[] = {"b", "a", "c", "d"};
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(lmq_msg_body(ms[i], NULL), want[i]);
        ck_assert_uint_eq(lmq_msg_receive_count(ms[i]), i == 1 ? 2 : 1);
        lmq_msg_free(ms[i]);
    }
    ck_counts(0, 4, 0);
    ck_assert_ptr_null(recv1(30));
    /* each of them is in-flight now, and comes back after its timeout */
    lmq_test_clock_advance(30000);
    ck_counts(4, 0, 0);
    ck_assert_uint_eq(recv_n(10, 30, ms), 4);
    const char *again[] = {"a", "b", "c", "d"}; /* same time: send order */
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(lmq_msg_body(ms[i], NULL), again[i]);
        lmq_msg_free(ms[i]);
    }
}
END_TEST

/* Delayed messages ahead of new ones (more than one receive round of
 * them) neither hide the new ones nor come early. */
START_TEST(delayed_messages_ahead_do_not_hide_new_ones)
{
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = "late";
    e.delay_seconds = 60;
    for (int i = 0; i < 25; i++)
        ck_ok(lmq_send(q, &e, NULL));
    send_body("now1", NULL);
    send_body("now2", NULL);
    ck_counts(2, 0, 25);
    lmq_msg *ms[10];
    ck_assert_uint_eq(recv_n(10, 120, ms), 2);
    ck_assert_str_eq(lmq_msg_body(ms[0], NULL), "now1");
    ck_assert_str_eq(lmq_msg_body(ms[1], NULL), "now2");
    for (int i = 0; i < 2; i++)
        lmq_msg_free(ms[i]);
    send_body("now3", NULL);
    lmq_msg *m = recv1(120);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "now3");
    lmq_msg_free(m);
    ck_assert_ptr_null(recv1(30));
    ck_counts(0, 3, 25);
    lmq_test_clock_advance(60000);
    size_t got = 0, n;
    while ((n = recv_n(10, 30, ms)) > 0) {
        for (size_t i = 0; i < n; i++) {
            ck_assert_str_eq(lmq_msg_body(ms[i], NULL), "late");
            lmq_msg_free(ms[i]);
        }
        got += n;
    }
    ck_assert_uint_eq(got, 25);
    ck_counts(0, 28, 0);
}
END_TEST

/* A deep queue drained by receive 10 + delete from two handles, across a
 * reopen: every message once, in send order, and one left undeleted comes
 * back after them (its visibility time is later than their send times). The receive path walks ahead of the front and makes the
 * leaf pages there writable (queue_std.c, populate_ahead()); each handle
 * keeps its own position, and none of it may change what is delivered. */
START_TEST(deep_queue_drains_in_order_from_two_handles)
{
    const int total = getenv("LMQ_TEST_SAN") ? 900 : 3000;
    char bodies[10][16];
    lmq_send_entry e[10];
    lmq_send_result res[10];
    for (int i = 0; i < total; i += 10) {
        for (int j = 0; j < 10; j++) {
            snprintf(bodies[j], sizeof bodies[j], "m%05d", i + j);
            lmq_send_entry_init(&e[j]);
            e[j].body = bodies[j];
            e[j].id = bodies[j];
        }
        ck_ok(lmq_send_batch(q, e, 10, res));
    }
    reopen();
    lmq_queue *q2;
    ck_ok(lmq_queue_open(env, "q", &q2));
    lmq_msg *ms[10];
    lmq_handle_entry he[10];
    lmq_batch_result br[10];
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.max_messages = 10;
    o.visibility_timeout = 30;
    int next = 0, rounds = 0;
    bool held = false, back = false;
    for (;;) {
        size_t n;
        ck_ok(lmq_receive(rounds % 3 ? q : q2, &o, ms, 10, &n));
        if (n == 0)
            break;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const char *b = lmq_msg_body(ms[i], NULL);
            if (strcmp(b, "m00005") == 0 && held) {
                /* back (visibility timeout expired), after all others */
                ck_assert(!back);
                ck_assert_int_eq(next, total);
                ck_assert_int_eq(lmq_msg_receive_count(ms[i]), 2);
                back = true;
            } else {
                char want[16];
                snprintf(want, sizeof want, "m%05d", next++);
                ck_assert_str_eq(b, want);
                if (strcmp(b, "m00005") == 0) {
                    held = true; /* not deleted: visible again in 30 s */
                    continue;
                }
            }
            he[k++] = (lmq_handle_entry){lmq_msg_id(ms[i]),
                                         lmq_msg_receipt(ms[i]), 0};
        }
        if (k)
            ck_ok(lmq_delete_batch(rounds % 2 ? q2 : q, he, k, br));
        for (size_t i = 0; i < k; i++)
            ck_assert_int_eq(br[i].applied, 1);
        for (size_t i = 0; i < n; i++)
            lmq_msg_free(ms[i]);
        if (++rounds == total / 20)
            lmq_test_clock_advance(30000);
    }
    ck_assert_int_eq(next, total);
    ck_assert(back);
    lmq_queue_close(q2);
    ck_counts(0, 0, 0);
}
END_TEST

Suite *
lmq_suite_queue_std(void)
{
    Suite *s = suite_create("queue_std");
    TCase *tc = tcase_create("send_receive");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, send_then_receive_round_trips);
    tcase_add_test(tc, binary_safe_utf8_body_round_trips);
    tcase_add_test(tc, receive_returns_up_to_max_in_send_order);
    tcase_add_test(tc, visibility_timeout_hides_then_returns);
    tcase_add_test(tc, queue_visibility_default_applies);
    tcase_add_test(tc, message_and_queue_delay);
    tcase_add_test(tc, retention_expires_messages_in_any_state);
    tcase_add_test(tc, retention_shortened_later_still_expires);
    tcase_add_test(tc, counters_survive_reopen);
    tcase_add_test(tc, format1_home_is_read_and_upgraded);
    tcase_add_test(tc, format2_home_is_read_and_upgraded);
    tcase_add_test(tc, receive_merges_new_and_returning_messages);
    tcase_add_test(tc, delayed_messages_ahead_do_not_hide_new_ones);
    tcase_add_test(tc, deep_queue_drains_in_order_from_two_handles);
    suite_add_tcase(s, tc);
    tc = tcase_create("validation");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, message_attributes_and_digests);
    tcase_add_test(tc, size_limit_counts_attributes);
    tcase_add_test(tc, bad_bodies_and_attributes_change_nothing);
    tcase_add_test(tc, receive_options_are_validated);
    suite_add_tcase(s, tc);
    tc = tcase_create("batches");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, send_batch_per_entry_results);
    tcase_add_test(tc, delete_and_visibility_batches);
    tcase_add_test(tc, bulk_handles_beyond_ten_in_one_call);
    suite_add_tcase(s, tc);
    tc = tcase_create("handles");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, delete_with_current_stale_and_repeated_handles);
    tcase_add_test(tc, forged_and_foreign_handles_are_rejected);
    tcase_add_test(tc, change_visibility_rules);
    tcase_add_test(tc, deleted_queue_rejects_operations);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_queue_std());
}
