/*
 * check_catalog.c: queues: create (idempotency, names, attributes), delete,
 * URL, list with paging, attributes, tags, purge, counters.
 */
#include "lmq_test.h"

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

static lmq_map *
map2(const char *k1, const char *v1, const char *k2, const char *v2)
{
    lmq_map *m = lmq_map_new();
    ck_assert_ptr_nonnull(m);
    if (k1)
        ck_ok(lmq_map_set(m, k1, v1));
    if (k2)
        ck_ok(lmq_map_set(m, k2, v2));
    return m;
}

static char *
attr(const char *q, const char *name)
{
    const char *names[] = {name, NULL};
    lmq_map *m;
    ck_ok(lmq_queue_get_attributes(env, q, names, &m));
    const char *v = lmq_map_get(m, name);
    char *r = v ? strdup(v) : NULL;
    lmq_map_free(m);
    return r;
}

static void
ck_attr(const char *q, const char *name, const char *want)
{
    char *v = attr(q, name);
    ck_assert_msg(v && strcmp(v, want) == 0, "%s = %s, want %s", name,
                  v ? v : "(null)", want);
    free(v);
}

START_TEST(create_returns_url_and_is_idempotent)
{
    char *url;
    lmq_map *a = map2("VisibilityTimeout", "45", NULL, NULL);
    ck_ok(lmq_queue_create(env, "jobs", a, NULL, &url));
    ck_assert_str_eq(url, "http://127.0.0.1:9324/000000000000/jobs");
    free(url);
    /* same attributes, a subset, or none: success, same URL */
    ck_ok(lmq_queue_create(env, "jobs", a, NULL, &url));
    free(url);
    ck_ok(lmq_queue_create(env, "jobs", NULL, NULL, NULL));
    lmq_map *b = map2("VisibilityTimeout", "46", NULL, NULL);
    ck_lmq(lmq_queue_create(env, "jobs", b, NULL, NULL), LMQ_EQUEUEEXISTS);
    ck_assert(strstr(lmq_errmsg(), "different value for attribute "
                                   "VisibilityTimeout"));
    /* a default value that matches counts as equal */
    lmq_map *c = map2("DelaySeconds", "0", NULL, NULL);
    ck_ok(lmq_queue_create(env, "jobs", c, NULL, NULL));
    /* after SetQueueAttributes the comparison uses the new value */
    ck_ok(lmq_queue_set_attributes(env, "jobs", b));
    ck_ok(lmq_queue_create(env, "jobs", b, NULL, NULL));
    ck_lmq(lmq_queue_create(env, "jobs", a, NULL, NULL), LMQ_EQUEUEEXISTS);
    lmq_map_free(a);
    lmq_map_free(b);
    lmq_map_free(c);
}
END_TEST

START_TEST(names_follow_sqs_rules)
{
    char n80[81], n81[82];
    memset(n80, 'a', 80);
    n80[80] = '\0';
    memset(n81, 'a', 81);
    n81[81] = '\0';
    ck_ok(lmq_queue_create(env, n80, NULL, NULL, NULL));
    ck_lmq(lmq_queue_create(env, n81, NULL, NULL, NULL), LMQ_EINVAL);
    ck_lmq(lmq_queue_create(env, "has space", NULL, NULL, NULL), LMQ_EINVAL);
    ck_lmq(lmq_queue_create(env, "dot.name", NULL, NULL, NULL), LMQ_EINVAL);
    ck_lmq(lmq_queue_create(env, "", NULL, NULL, NULL), LMQ_EMISSING);
    ck_ok(lmq_queue_create(env, "Mixed_Case-1", NULL, NULL, NULL));
    /* names are case-sensitive */
    ck_ok(lmq_queue_create(env, "mixed_case-1", NULL, NULL, NULL));
    /* standard queue named *.fifo, and FIFO without the suffix */
    ck_lmq(lmq_queue_create(env, "x.fifo", NULL, NULL, NULL), LMQ_EINVAL);
    lmq_map *f = map2("FifoQueue", "true", NULL, NULL);
    ck_lmq(lmq_queue_create(env, "nofifo", f, NULL, NULL), LMQ_EINVAL);
    ck_ok(lmq_queue_create(env, "yes.fifo", f, NULL, NULL));
    lmq_map_free(f);
    char **names;
    ck_ok(lmq_queue_list(env, NULL, 0, NULL, &names, NULL));
    int n = 0;
    while (names[n])
        n++;
    ck_assert_int_eq(n, 4);
    lmq_strv_free(names);
}
END_TEST

START_TEST(attributes_validated_per_queue_type)
{
    lmq_map *m;
    m = map2("FifoQueue", "false", NULL, NULL);
    ck_lmq(lmq_queue_create(env, "s1", m, NULL, NULL), LMQ_EATTRNAME);
    ck_assert(strstr(lmq_errmsg(), "Unknown Attribute FifoQueue."));
    lmq_map_free(m);
    m = map2("ContentBasedDeduplication", "true", NULL, NULL);
    ck_lmq(lmq_queue_create(env, "s1", m, NULL, NULL), LMQ_EATTRNAME);
    lmq_map_free(m);
    m = map2("DeduplicationScope", "queue", NULL, NULL);
    ck_lmq(lmq_queue_create(env, "s1", m, NULL, NULL), LMQ_EATTRNAME);
    lmq_map_free(m);
    m = map2("Bogus", "1", NULL, NULL);
    ck_lmq(lmq_queue_create(env, "s1", m, NULL, NULL), LMQ_EATTRNAME);
    lmq_map_free(m);
    m = map2("ApproximateNumberOfMessages", "1", NULL, NULL);
    ck_lmq(lmq_queue_create(env, "s1", m, NULL, NULL), LMQ_EATTRNAME);
    lmq_map_free(m);
    const char *bad[][2] = {
        {"VisibilityTimeout", "43201"}, {"VisibilityTimeout", "-1"},
        {"DelaySeconds", "901"},        {"MaximumMessageSize", "1023"},
        {"MaximumMessageSize", "1048577"}, {"MessageRetentionPeriod", "59"},
        {"MessageRetentionPeriod", "1209601"},
        {"ReceiveMessageWaitTimeSeconds", "21"},
        {"VisibilityTimeout", "abc"},   {"SqsManagedSseEnabled", "yes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m = map2(bad[i][0], bad[i][1], NULL, NULL);
        ck_lmq(lmq_queue_create(env, "s1", m, NULL, NULL), LMQ_EATTRVALUE);
        lmq_map_free(m);
    }
    /* nothing was created by any failure */
    char *url = NULL;
    ck_lmq(lmq_queue_url(env, "s1", &url), LMQ_ENOQUEUE);
    ck_assert_ptr_null(url);
    /* FIFO combination rule */
    m = map2("FifoQueue", "true", "FifoThroughputLimit", "perMessageGroupId");
    ck_lmq(lmq_queue_create(env, "f.fifo", m, NULL, NULL), LMQ_EATTRVALUE);
    ck_ok(lmq_map_set(m, "DeduplicationScope", "messageGroup"));
    ck_ok(lmq_queue_create(env, "f.fifo", m, NULL, NULL));
    lmq_map_free(m);
    ck_attr("f.fifo", "FifoThroughputLimit", "perMessageGroupId");
    ck_attr("f.fifo", "DeduplicationScope", "messageGroup");
    /* changing the type of a FIFO queue */
    m = map2("FifoQueue", "false", NULL, NULL);
    ck_lmq(lmq_queue_set_attributes(env, "f.fifo", m), LMQ_EATTRVALUE);
    lmq_map_free(m);
    /* SSE conflict */
    m = map2("KmsMasterKeyId", "alias/x", "SqsManagedSseEnabled", "true");
    ck_lmq(lmq_queue_create(env, "sse", m, NULL, NULL), LMQ_EATTRNAME);
    lmq_map_free(m);
}
END_TEST

START_TEST(get_attributes_all_and_by_name)
{
    lmq_map *m;
    const char *all[] = {"All", NULL};
    ck_ok(lmq_queue_create(env, "a", NULL, NULL, NULL));
    ck_ok(lmq_queue_get_attributes(env, "a", all, &m));
    const char *want[] = {
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible", "CreatedTimestamp",
        "DelaySeconds", "LastModifiedTimestamp", "MaximumMessageSize",
        "MessageRetentionPeriod", "QueueArn",
        "ReceiveMessageWaitTimeSeconds", "SqsManagedSseEnabled",
        "VisibilityTimeout",
    };
    ck_assert_uint_eq(lmq_map_count(m), 12);
    for (size_t i = 0; i < 12; i++)
        ck_assert_ptr_nonnull(lmq_map_get(m, want[i]));
    ck_assert_str_eq(lmq_map_get(m, "VisibilityTimeout"), "30");
    ck_assert_str_eq(lmq_map_get(m, "MessageRetentionPeriod"), "345600");
    ck_assert_str_eq(lmq_map_get(m, "MaximumMessageSize"), "1048576");
    ck_assert_str_eq(lmq_map_get(m, "CreatedTimestamp"), "1767225600");
    /* no keyring: not encrypted, and not claimed (docs/SECURITY.md) */
    ck_assert_str_eq(lmq_map_get(m, "SqsManagedSseEnabled"), "false");
    lmq_map_free(m);
    /* no names: empty; unknown name: error */
    ck_ok(lmq_queue_get_attributes(env, "a", NULL, &m));
    ck_assert_uint_eq(lmq_map_count(m), 0);
    lmq_map_free(m);
    const char *bad[] = {"NoSuch", NULL};
    ck_lmq(lmq_queue_get_attributes(env, "a", bad, &m), LMQ_EATTRNAME);
    ck_lmq(lmq_queue_get_attributes(env, "zz", all, &m), LMQ_ENOQUEUE);
    /* FIFO queues add their four */
    lmq_map *f = map2("FifoQueue", "true", NULL, NULL);
    ck_ok(lmq_queue_create(env, "b.fifo", f, NULL, NULL));
    lmq_map_free(f);
    ck_ok(lmq_queue_get_attributes(env, "b.fifo", all, &m));
    ck_assert_uint_eq(lmq_map_count(m), 16);
    ck_assert_str_eq(lmq_map_get(m, "FifoQueue"), "true");
    ck_assert_str_eq(lmq_map_get(m, "ContentBasedDeduplication"), "false");
    ck_assert_str_eq(lmq_map_get(m, "DeduplicationScope"), "queue");
    ck_assert_str_eq(lmq_map_get(m, "FifoThroughputLimit"), "perQueue");
    lmq_map_free(m);
}
END_TEST

START_TEST(set_attributes_updates_modified_time)
{
    ck_ok(lmq_queue_create(env, "s", NULL, NULL, NULL));
    lmq_test_clock_advance(5000);
    lmq_map *m = map2("VisibilityTimeout", "5", "Policy", "{\"x\":1}");
    ck_ok(lmq_queue_set_attributes(env, "s", m));
    lmq_map_free(m);
    ck_attr("s", "VisibilityTimeout", "5");
    ck_attr("s", "Policy", "{\"x\":1}");
    ck_attr("s", "LastModifiedTimestamp", "1767225605");
    ck_attr("s", "CreatedTimestamp", "1767225600");
    /* all or nothing: a bad value changes nothing */
    m = map2("DelaySeconds", "10", "VisibilityTimeout", "99999");
    ck_lmq(lmq_queue_set_attributes(env, "s", m), LMQ_EATTRVALUE);
    lmq_map_free(m);
    ck_attr("s", "DelaySeconds", "0");
    /* "" removes Policy */
    m = map2("Policy", "", NULL, NULL);
    ck_ok(lmq_queue_set_attributes(env, "s", m));
    lmq_map_free(m);
    char *p = attr("s", "Policy");
    ck_assert_ptr_null(p);
    m = map2("DelaySeconds", "1", NULL, NULL);
    ck_lmq(lmq_queue_set_attributes(env, "missing", m), LMQ_ENOQUEUE);
    lmq_map_free(m);
}
END_TEST

START_TEST(delete_blocks_name_for_sixty_seconds)
{
    lmq_queue *q;
    ck_ok(lmq_queue_create(env, "d", NULL, NULL, NULL));
    ck_ok(lmq_queue_open(env, "d", &q));
    ck_ok(lmq_queue_delete(env, "d"));
    ck_lmq(lmq_queue_delete(env, "d"), LMQ_ENOQUEUE);
    ck_lmq(lmq_queue_create(env, "d", NULL, NULL, NULL), LMQ_EDELETEDRECENTLY);
    lmq_test_clock_advance(59999);
    ck_lmq(lmq_queue_create(env, "d", NULL, NULL, NULL), LMQ_EDELETEDRECENTLY);
    lmq_test_clock_advance(1);
    ck_ok(lmq_queue_create(env, "d", NULL, NULL, NULL));
    /* the old handle does not reach the new queue */
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = "x";
    ck_lmq(lmq_send(q, &e, NULL), LMQ_ENOQUEUE);
    lmq_queue_close(q);
}
END_TEST

START_TEST(list_with_prefix_and_paging)
{
    char name[16];
    for (int i = 0; i < 25; i++) {
        snprintf(name, sizeof name, "p%02d", i);
        ck_ok(lmq_queue_create(env, name, NULL, NULL, NULL));
    }
    ck_ok(lmq_queue_create(env, "other", NULL, NULL, NULL));
    char **names, *tok = NULL;
    ck_ok(lmq_queue_list(env, "p", 0, NULL, &names, &tok));
    int n = 0;
    while (names[n])
        n++;
    ck_assert_int_eq(n, 25);
    ck_assert_ptr_null(tok); /* no MaxResults: never a token */
    lmq_strv_free(names);
    /* pages of 10: 10, 10, 5, in order, tokens only while more remain */
    int seen = 0, pages = 0;
    char *next = NULL;
    do {
        ck_ok(lmq_queue_list(env, "p", 10, next, &names, &tok));
        free(next);
        next = tok;
        for (int i = 0; names[i]; i++, seen++) {
            snprintf(name, sizeof name, "p%02d", seen);
            ck_assert_str_eq(names[i], name);
        }
        lmq_strv_free(names);
        pages++;
    } while (next);
    ck_assert_int_eq(seen, 25);
    ck_assert_int_eq(pages, 3);
    ck_ok(lmq_queue_list(env, "zz", 0, NULL, &names, NULL));
    ck_assert_ptr_null(names[0]);
    lmq_strv_free(names);
    ck_lmq(lmq_queue_list(env, NULL, 1001, NULL, &names, NULL), LMQ_EINVAL);
    ck_lmq(lmq_queue_list(env, NULL, 10, "!!bad!!", &names, NULL),
           LMQ_EINVAL);
}
END_TEST

START_TEST(tags_add_replace_remove)
{
    lmq_map *t = map2("team", "core", "env", "");
    ck_ok(lmq_queue_create(env, "t", NULL, t, NULL));
    lmq_map_free(t);
    lmq_map *got;
    ck_ok(lmq_queue_tags(env, "t", &got));
    ck_assert_uint_eq(lmq_map_count(got), 2);
    ck_assert_str_eq(lmq_map_get(got, "env"), "");
    lmq_map_free(got);
    t = map2("team", "edge", "new", "1");
    ck_ok(lmq_queue_tag(env, "t", t));
    lmq_map_free(t);
    const char *keys[] = {"env", "absent", NULL};
    ck_ok(lmq_queue_untag(env, "t", keys));
    ck_ok(lmq_queue_tags(env, "t", &got));
    ck_assert_uint_eq(lmq_map_count(got), 2);
    ck_assert_str_eq(lmq_map_get(got, "team"), "edge");
    ck_assert_str_eq(lmq_map_get(got, "new"), "1");
    lmq_map_free(got);
    /* bad keys change nothing */
    t = map2("aws:x", "1", "fine", "2");
    ck_lmq(lmq_queue_tag(env, "t", t), LMQ_EINVAL);
    lmq_map_free(t);
    ck_ok(lmq_queue_tags(env, "t", &got));
    ck_assert_ptr_null(lmq_map_get(got, "fine"));
    lmq_map_free(got);
    /* at most 50 */
    t = lmq_map_new();
    for (int i = 0; i < 49; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        lmq_map_set(t, k, "v");
    }
    ck_lmq(lmq_queue_tag(env, "t", t), LMQ_EINVAL); /* 2 + 49 > 50 */
    lmq_map_free(t);
    t = map2("x", "y", NULL, NULL);
    ck_lmq(lmq_queue_tag(env, "nope", t), LMQ_ENOQUEUE);
    lmq_map_free(t);
}
END_TEST


/* Names no queue can have are "no such queue", whatever their length
 * (LMDB refuses keys over 511 bytes), and string attributes that answers
 * carry in XML hold only the characters SQS allows. */
START_TEST(overlong_names_and_control_characters_refused)
{
    char name[700];
    char *url = NULL;
    lmq_map *m = NULL;
    memset(name, 'q', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    ck_lmq(lmq_queue_url(env, name, &url), LMQ_ENOQUEUE);
    ck_assert_ptr_null(url);
    ck_lmq(lmq_queue_get_attributes(env, name, NULL, &m), LMQ_ENOQUEUE);
    ck_lmq(lmq_queue_delete(env, name), LMQ_ENOQUEUE);
    ck_ok(lmq_queue_create(env, "pol", NULL, NULL, NULL));
    lmq_map *a = lmq_map_new();
    ck_ok(lmq_map_set(a, "Policy", "{\"Version\":\"2012-10-17\x01\"}"));
    ck_lmq(lmq_queue_set_attributes(env, "pol", a), LMQ_EATTRVALUE);
    ck_ok(lmq_map_set(a, "Policy", "{\"Version\":\"2012-10-17\"}"));
    ck_ok(lmq_queue_set_attributes(env, "pol", a));
    lmq_map_free(a);
    const char *names[] = {"Policy", NULL};
    ck_ok(lmq_queue_get_attributes(env, "pol", names, &m));
    ck_assert_str_eq(lmq_map_get(m, "Policy"), "{\"Version\":\"2012-10-17\"}");
    lmq_map_free(m);
}
END_TEST

START_TEST(purge_empties_and_rate_limits)
{
    lmq_queue *q;
    lmq_send_entry e;
    ck_ok(lmq_queue_create(env, "p", NULL, NULL, NULL));
    ck_ok(lmq_queue_open(env, "p", &q));
    lmq_send_entry_init(&e);
    e.body = "m";
    for (int i = 0; i < 5; i++)
        ck_ok(lmq_send(q, &e, NULL));
    e.delay_seconds = 60;
    ck_ok(lmq_send(q, &e, NULL));
    lmq_msg *m[1];
    size_t n;
    ck_ok(lmq_receive(q, NULL, m, 1, &n));
    ck_assert_uint_eq(n, 1);
    ck_attr("p", "ApproximateNumberOfMessages", "4");
    ck_attr("p", "ApproximateNumberOfMessagesNotVisible", "1");
    ck_attr("p", "ApproximateNumberOfMessagesDelayed", "1");
    ck_ok(lmq_queue_purge(env, "p"));
    ck_attr("p", "ApproximateNumberOfMessages", "0");
    ck_attr("p", "ApproximateNumberOfMessagesNotVisible", "0");
    ck_attr("p", "ApproximateNumberOfMessagesDelayed", "0");
    int del;
    ck_ok(lmq_delete(q, lmq_msg_receipt(m[0]), &del));
    ck_assert_int_eq(del, 0);
    lmq_msg_free(m[0]);
    ck_lmq(lmq_queue_purge(env, "p"), LMQ_EPURGEINPROGRESS);
    lmq_test_clock_advance(60000);
    ck_ok(lmq_queue_purge(env, "p"));
    ck_lmq(lmq_queue_purge(env, "none"), LMQ_ENOQUEUE);
    lmq_queue_close(q);
}
END_TEST

Suite *
lmq_suite_catalog(void)
{
    Suite *s = suite_create("catalog");
    TCase *tc = tcase_create("create");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, create_returns_url_and_is_idempotent);
    tcase_add_test(tc, names_follow_sqs_rules);
    tcase_add_test(tc, attributes_validated_per_queue_type);
    tcase_add_test(tc, delete_blocks_name_for_sixty_seconds);
    tcase_add_test(tc, overlong_names_and_control_characters_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("attributes_and_tags");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, get_attributes_all_and_by_name);
    tcase_add_test(tc, set_attributes_updates_modified_time);
    tcase_add_test(tc, tags_add_replace_remove);
    suite_add_tcase(s, tc);
    tc = tcase_create("list_and_purge");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, list_with_prefix_and_paging);
    tcase_add_test(tc, purge_empties_and_rate_limits);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_catalog());
}
