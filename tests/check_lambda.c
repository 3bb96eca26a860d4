/*
 * check_lambda.c: `lmq consume --event lambda`, Lambda's SQS event source
 * mapping run locally (docs/LAMBDA.md, shared/SQS-SEMANTICS.md §9.1).
 *
 * Every test runs the real `lmq` with a handler command that saves its
 * stdin (the event) to a file of its own and prints a chosen response, then
 * reads the events and looks at what is left in the queue (lmq_queue_peek
 * with in-flight messages). Short wait times and visibility timeouts;
 * timing appears only as generous bounds.
 */
#include "lmq_test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static lmq_env *env;

static void
setup(void)
{
    lmq_test_tmp_setup();
    env = lmq_test_env();
}

static void
teardown(void)
{
    lmq_env_close(env);
    env = NULL;
    lmq_test_tmp_teardown();
}

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

/* Create queue name with attributes "K=V" pairs (NULL-terminated). */
static void
make_queue(const char *name, ...)
{
    lmq_map *a = lmq_map_new();
    va_list ap;
    va_start(ap, name);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        ck_ok(lmq_map_set(a, k, v));
    }
    va_end(ap);
    ck_ok(lmq_queue_create(env, name, a, NULL, NULL));
    lmq_map_free(a);
}

/* Send body to queue name; the result (id, md5s) in *r when not NULL. */
static void
send_full(const char *name, const char *body, size_t len, const char *group,
          const lmq_mattrs *attrs, const char *trace, lmq_send_result *r)
{
    lmq_queue *q;
    lmq_send_entry e;
    lmq_send_result res;
    ck_ok(lmq_queue_open(env, name, &q));
    lmq_send_entry_init(&e);
    e.body = body;
    e.body_len = len;
    e.group_id = group;
    e.attrs = attrs;
    e.trace_header = trace;
    ck_ok(lmq_send(q, &e, &res));
    lmq_queue_close(q);
    if (r)
        *r = res;
}

static void
send_msg(const char *name, const char *body, char id[40])
{
    lmq_send_result r;
    send_full(name, body, strlen(body), NULL, NULL, NULL, &r);
    if (id)
        snprintf(id, 40, "%s", r.message_id);
}

/* The ids of the messages left in queue name (visible or in flight), as
 * one space-separated string in send order, in out. */
static void
left_ids(const char *name, char *out, size_t size)
{
    lmq_peek_opts o;
    lmq_msg **m = NULL;
    size_t n = 0;
    lmq_peek_opts_init(&o);
    o.show_inflight = 1;
    o.show_delayed = 1;
    ck_ok(lmq_queue_peek(env, name, &o, &m, &n));
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strncat(out, " ", size - strlen(out) - 1);
        strncat(out, lmq_msg_id(m[i]), size - strlen(out) - 1);
    }
    lmq_msg_list_free(m, n);
}

static size_t
left_count(const char *name)
{
    char buf[8192];
    left_ids(name, buf, sizeof buf);
    size_t n = buf[0] ? 1 : 0;
    for (const char *p = buf; *p; p++)
        n += *p == ' ';
    return n;
}

static int
run_sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The handler: saves its stdin to DIR/ev-<queue>.XXXXXX and prints
 * DIR/resp-<queue> (if any); exits with DIR/exit-<queue> (default 0). */
static void
handler_cmd(const char *queue, char *out, size_t size)
{
    snprintf(out, size,
             "f=$(mktemp %s/ev-%s.XXXXXX); cat > $f; "
             "cat %s/resp-%s 2>/dev/null; "
             "exit $(cat %s/exit-%s 2>/dev/null || echo 0)",
             lmq_test_dir, queue, lmq_test_dir, queue, lmq_test_dir, queue);
}

static void
write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(s, f);
    fclose(f);
}

static void
set_resp(const char *queue, const char *s)
{
    char p[512];
    snprintf(p, sizeof p, "%s/resp-%s", lmq_test_dir, queue);
    write_file(p, s);
}

/* `lmq consume --event lambda` on queue with the saving handler and extra
 * flags, stopping when the queue stays empty for a second. */
static char *
consume_cmd(const char *queue, const char *extra)
{
    static char cmd[4096];
    char h[1024];
    handler_cmd(queue, h, sizeof h);
    snprintf(cmd, sizeof cmd,
             "timeout 60 %s --home %s/home --durability none consume "
             "--queue-url %s --event lambda --until-empty "
             "--wait-time-seconds 1 --exec '%s' %s >/dev/null 2>>%s/stderr-%s",
             LMQ_BIN, lmq_test_dir, queue, h, extra, lmq_test_dir, queue);
    return cmd;
}

/* The events the handler of queue saved, as JSON documents (sorted by file
 * name: not by time). Returns the count. */
static size_t
events(const char *queue, json_t **ev, size_t max)
{
    char prefix[128];
    snprintf(prefix, sizeof prefix, "ev-%s.", queue);
    DIR *d = opendir(lmq_test_dir);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", lmq_test_dir, de->d_name);
        json_error_t err;
        json_t *doc = json_load_file(p, 0, &err);
        ck_assert_msg(doc != NULL, "%s: %s", p, err.text);
        ck_assert_uint_lt(n, max);
        ev[n++] = doc;
    }
    closedir(d);
    return n;
}

static void
free_events(json_t **ev, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(ev[i]);
}

/* Keys of object o in order, comma-separated. */
static void
keys_of(json_t *o, char *out, size_t size)
{
    out[0] = '\0';
    for (void *it = json_object_iter(o); it;
         it = json_object_iter_next(o, it)) {
        if (out[0])
            strncat(out, ",", size - strlen(out) - 1);
        strncat(out, json_object_iter_key(it), size - strlen(out) - 1);
    }
}

static const char *
jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_string(v), "%s is not a string", key);
    return json_string_value(v);
}

static void
queue_arn(const char *name, char *out, size_t size)
{
    static const char *const n[] = {"QueueArn", NULL};
    lmq_map *m = NULL;
    ck_ok(lmq_queue_get_attributes(env, name, n, &m));
    snprintf(out, size, "%s", lmq_map_get(m, "QueueArn"));
    lmq_map_free(m);
}

/* ---- the event ------------------------------------------------------------ */

START_TEST(test_event_standard)
{
    make_queue("std", NULL);
    lmq_mattrs *a = lmq_mattrs_new();
    ck_ok(lmq_mattrs_add(a, "Author", "String", "John", 4));
    ck_ok(lmq_mattrs_add(a, "Count", "Number", "42", 2));
    ck_ok(lmq_mattrs_add(a, "Blob", "Binary.png", "\x00\x01\xff", 3));
    lmq_send_result r1, r2;
    const char *trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
    send_full("std", "héllo \"world\"", strlen("héllo \"world\""), NULL, a,
              trace, &r1);
    send_full("std", "plain", 5, NULL, NULL, NULL, &r2);
    lmq_mattrs_free(a);

    ck_assert_int_eq(run_sh(consume_cmd("std", "")), 0);
    json_t *ev[4];
    size_t nev = events("std", ev, 4);
    ck_assert_uint_eq(nev, 1); /* one batch of two */
    char keys[512], arn[256];
    keys_of(ev[0], keys, sizeof keys);
    ck_assert_str_eq(keys, "Records");
    json_t *recs = json_object_get(ev[0], "Records");
    ck_assert_uint_eq(json_array_size(recs), 2);
    queue_arn("std", arn, sizeof arn);

    for (size_t i = 0; i < 2; i++) {
        json_t *rec = json_array_get(recs, i);
        keys_of(rec, keys, sizeof keys);
        ck_assert_str_eq(keys, "messageId,receiptHandle,body,attributes,"
                               "messageAttributes,md5OfMessageAttributes,"
                               "md5OfBody,eventSource,eventSourceARN,"
                               "awsRegion");
        ck_assert_uint_gt(strlen(jstr(rec, "receiptHandle")), 10);
        ck_assert_str_eq(jstr(rec, "eventSource"), "aws:sqs");
        ck_assert_str_eq(jstr(rec, "eventSourceARN"), arn);
        ck_assert_str_eq(arn, "arn:aws:sqs:us-east-1:000000000000:std");
        ck_assert_str_eq(jstr(rec, "awsRegion"), "us-east-1");
        json_t *at = json_object_get(rec, "attributes");
        ck_assert_str_eq(jstr(at, "ApproximateReceiveCount"), "1");
        ck_assert_str_eq(jstr(at, "SenderId"), "000000000000");
        ck_assert_uint_ge(strtoull(jstr(at, "SentTimestamp"), NULL, 10),
                          1000000000000ull);
        ck_assert_uint_ge(
            strtoull(jstr(at, "ApproximateFirstReceiveTimestamp"), NULL, 10),
            strtoull(jstr(at, "SentTimestamp"), NULL, 10));
    }
    json_t *r = json_array_get(recs, 0);
    if (strcmp(jstr(r, "messageId"), r1.message_id) != 0)
        r = json_array_get(recs, 1);
    ck_assert_str_eq(jstr(r, "messageId"), r1.message_id);
    ck_assert_str_eq(jstr(r, "body"), "héllo \"world\"");
    ck_assert_str_eq(jstr(r, "md5OfBody"), r1.md5_body);
    ck_assert_str_eq(jstr(r, "md5OfMessageAttributes"), r1.md5_attrs);
    json_t *at = json_object_get(r, "attributes");
    keys_of(at, keys, sizeof keys);
    ck_assert_str_eq(keys, "ApproximateReceiveCount,SentTimestamp,SenderId,"
                           "ApproximateFirstReceiveTimestamp,"
                           "AWSTraceHeader");
    ck_assert_str_eq(jstr(at, "AWSTraceHeader"), trace);
    json_t *ma = json_object_get(r, "messageAttributes");
    ck_assert_uint_eq(json_object_size(ma), 3);
    json_t *au = json_object_get(ma, "Author");
    keys_of(au, keys, sizeof keys);
    ck_assert_str_eq(keys,
                     "stringValue,stringListValues,binaryListValues,dataType");
    ck_assert_str_eq(jstr(au, "stringValue"), "John");
    ck_assert_str_eq(jstr(au, "dataType"), "String");
    ck_assert_uint_eq(json_array_size(json_object_get(au, "stringListValues")),
                      0);
    json_t *cnt = json_object_get(ma, "Count");
    ck_assert_str_eq(jstr(cnt, "stringValue"), "42");
    ck_assert_str_eq(jstr(cnt, "dataType"), "Number");
    json_t *bl = json_object_get(ma, "Blob");
    keys_of(bl, keys, sizeof keys);
    ck_assert_str_eq(keys,
                     "binaryValue,stringListValues,binaryListValues,dataType");
    ck_assert_str_eq(jstr(bl, "binaryValue"), "AAH/");
    ck_assert_str_eq(jstr(bl, "dataType"), "Binary.png");

    json_t *p = json_array_get(recs, 0) == r ? json_array_get(recs, 1)
                                             : json_array_get(recs, 0);
    ck_assert_str_eq(jstr(p, "messageId"), r2.message_id);
    ck_assert_str_eq(jstr(p, "md5OfBody"), r2.md5_body);
    ck_assert(json_is_null(json_object_get(p, "md5OfMessageAttributes")));
    ck_assert_uint_eq(json_object_size(json_object_get(p,
                                                       "messageAttributes")),
                      0);
    ck_assert(json_object_get(json_object_get(p, "attributes"),
                              "AWSTraceHeader") == NULL);
    free_events(ev, nev);
    ck_assert_uint_eq(left_count("std"), 0); /* exit 0: all deleted */
}
END_TEST

START_TEST(test_event_fifo)
{
    make_queue("f.fifo", "FifoQueue", "true", "ContentBasedDeduplication",
               "true", NULL);
    lmq_send_result r;
    send_full("f.fifo", "first", 5, "g1", NULL, NULL, &r);
    ck_assert_int_eq(run_sh(consume_cmd("f.fifo", "")), 0);
    json_t *ev[2];
    size_t nev = events("f.fifo", ev, 2);
    ck_assert_uint_eq(nev, 1);
    json_t *rec = json_array_get(json_object_get(ev[0], "Records"), 0);
    json_t *at = json_object_get(rec, "attributes");
    char keys[512];
    keys_of(at, keys, sizeof keys);
    ck_assert_str_eq(keys, "ApproximateReceiveCount,SentTimestamp,"
                           "SequenceNumber,MessageGroupId,SenderId,"
                           "MessageDeduplicationId,"
                           "ApproximateFirstReceiveTimestamp");
    ck_assert_str_eq(jstr(at, "MessageGroupId"), "g1");
    ck_assert_str_eq(jstr(at, "SequenceNumber"), r.sequence_number);
    /* Content-based: the SHA-256 of the body, in hex. */
    ck_assert_uint_eq(strlen(jstr(at, "MessageDeduplicationId")), 64);
    ck_assert_str_eq(jstr(rec, "eventSourceARN"),
                     "arn:aws:sqs:us-east-1:000000000000:f.fifo");
    free_events(ev, nev);
    ck_assert_uint_eq(left_count("f.fifo"), 0);
}
END_TEST

/* ---- outcomes --------------------------------------------------------------- */

START_TEST(test_exit_status_keeps_whole_batch)
{
    make_queue("ex", "VisibilityTimeout", "30", NULL);
    send_msg("ex", "a", NULL);
    send_msg("ex", "b", NULL);
    send_msg("ex", "c", NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/exit-ex", lmq_test_dir);
    write_file(p, "3");
    /* The response is ignored (no --report-batch-item-failures), and a
     * failed invocation would fail the batch anyway. */
    set_resp("ex", "{\"batchItemFailures\":[]}");
    ck_assert_int_eq(run_sh(consume_cmd("ex", "")), 0);
    json_t *ev[4];
    size_t nev = events("ex", ev, 4);
    ck_assert_uint_eq(nev, 1);
    free_events(ev, nev);
    ck_assert_uint_eq(left_count("ex"), 3); /* in flight, not reset */
    ck_assert_int_eq(run_sh(consume_cmd("ex", "")), 0);
    ck_assert_uint_eq(events("ex", ev, 4), 1); /* not visible again yet */
    free_events(ev, 1);
}
END_TEST

/* One row of the partial batch response table: the response (with "%1",
 * "%2", "%3" standing for the three messages' ids) and which messages
 * remain ("123": all, "" none). */
struct row {
    const char *resp;
    const char *left;
    int flag; /* --report-batch-item-failures */
};

static const struct row rows[] = {
    /* complete success */
    {"{\"batchItemFailures\":[]}", "", 1},
    {"{\"batchItemFailures\":null}", "", 1},
    {"", "", 1},
    {"null", "", 1},
    {"{}", "", 1},
    /* complete failure */
    {"{\"batchItemFailures\":[{\"itemIdentifier\":%2", "123", 1},
    {"{\"batchItemFailures\":[{\"itemIdentifier\":\"\"}]}", "123", 1},
    {"{\"batchItemFailures\":[{\"itemIdentifier\":null}]}", "123", 1},
    {"{\"batchItemFailures\":[{\"itemId\":%2}]}", "123", 1},
    {"{\"batchItemFailures\":[{\"itemIdentifier\":\"nope\"}]}", "123", 1},
    /* partial */
    {"{\"batchItemFailures\":[{\"itemIdentifier\":%2}]}", "2", 1},
    {"{\"batchItemFailures\":[{\"itemIdentifier\":%1},"
     "{\"itemIdentifier\":%3}]}",
     "13", 1},
    /* without the flag, the response is ignored */
    {"{\"batchItemFailures\":[{\"itemIdentifier\":%2}]}", "", 0},
    {"not json", "", 0},
};

START_TEST(test_partial_batch_response_table)
{
    size_t nrows = sizeof rows / sizeof rows[0];
    char ids[16][3][40];
    char script[65536] = "";
    for (size_t i = 0; i < nrows; i++) {
        char q[32];
        snprintf(q, sizeof q, "row%zu", i);
        make_queue(q, "VisibilityTimeout", "30", NULL);
        for (int k = 0; k < 3; k++)
            send_msg(q, k == 0 ? "one" : k == 1 ? "two" : "three",
                     ids[i][k]);
        char resp[1024] = "";
        for (const char *s = rows[i].resp; *s; s++) {
            if (*s == '%') {
                int k = s[1] - '1';
                char quoted[48];
                snprintf(quoted, sizeof quoted, "\"%s\"", ids[i][k]);
                strncat(resp, quoted, sizeof resp - strlen(resp) - 1);
                s++;
            } else {
                strncat(resp, (char[]){*s, 0}, sizeof resp - strlen(resp) - 1);
            }
        }
        set_resp(q, resp);
        /* All rows at once, in the background. */
        strncat(script,
                consume_cmd(q, rows[i].flag ? "--report-batch-item-failures"
                                            : ""),
                sizeof script - strlen(script) - 1);
        strncat(script, " &\n", sizeof script - strlen(script) - 1);
    }
    strncat(script, "wait\n", sizeof script - strlen(script) - 1);
    ck_assert_int_eq(run_sh(script), 0);
    for (size_t i = 0; i < nrows; i++) {
        char q[32], want[256] = "", got[256];
        snprintf(q, sizeof q, "row%zu", i);
        for (const char *l = rows[i].left; *l; l++) {
            if (want[0])
                strncat(want, " ", sizeof want - strlen(want) - 1);
            strncat(want, ids[i][*l - '1'], sizeof want - strlen(want) - 1);
        }
        left_ids(q, got, sizeof got);
        ck_assert_msg(strcmp(got, want) == 0,
                      "row %zu (%s): left [%s], expected [%s]", i,
                      rows[i].resp, got, want);
        json_t *ev[2];
        size_t nev = events(q, ev, 2);
        ck_assert_uint_eq(nev, 1); /* one invocation: the batch of 3 */
        ck_assert_uint_eq(json_array_size(json_object_get(ev[0], "Records")),
                          3);
        free_events(ev, nev);
    }
}
END_TEST

START_TEST(test_fifo_group_stops_at_first_failure)
{
    make_queue("g.fifo", "FifoQueue", "true", "ContentBasedDeduplication",
               "true", "VisibilityTimeout", "30", NULL);
    lmq_send_result a1, a2, a3, b1;
    send_full("g.fifo", "a1", 2, "A", NULL, NULL, &a1);
    send_full("g.fifo", "b1", 2, "B", NULL, NULL, &b1);
    send_full("g.fifo", "a2", 2, "A", NULL, NULL, &a2);
    send_full("g.fifo", "a3", 2, "A", NULL, NULL, &a3);
    /* The function reports only a2: a3, after it in group A, fails too;
     * group B is not held back. */
    char resp[256];
    snprintf(resp, sizeof resp,
             "{\"batchItemFailures\":[{\"itemIdentifier\":\"%s\"}]}",
             a2.message_id);
    set_resp("g.fifo", resp);
    ck_assert_int_eq(
        run_sh(consume_cmd("g.fifo", "--report-batch-item-failures")), 0);
    char got[256], want[256];
    left_ids("g.fifo", got, sizeof got);
    snprintf(want, sizeof want, "%s %s", a2.message_id, a3.message_id);
    ck_assert_str_eq(got, want);
    json_t *ev[2];
    size_t nev = events("g.fifo", ev, 2);
    ck_assert_uint_eq(nev, 1);
    ck_assert_uint_eq(json_array_size(json_object_get(ev[0], "Records")), 4);
    free_events(ev, nev);
}
END_TEST

/* ---- limits ------------------------------------------------------------------ */

START_TEST(test_usage_limits)
{
    make_queue("u", NULL);
    make_queue("u.fifo", "FifoQueue", "true", NULL);
    static const struct {
        const char *queue, *flags;
    } bad[] = {
        {"u", "--event lambda --exec true --batch-size 0"},
        {"u", "--event lambda --exec true --batch-size 10001 "
              "--maximum-batching-window 1"},
        {"u", "--event lambda --exec true --batch-size 11"},
        {"u", "--event lambda --exec true --batch-size 11 "
              "--maximum-batching-window 0"},
        {"u", "--event lambda --exec true --maximum-batching-window 301"},
        {"u", "--event lambda --exec true --maximum-batching-window -1"},
        {"u.fifo", "--event lambda --exec true --batch-size 11 "
                   "--maximum-batching-window 1"},
        {"u.fifo", "--event lambda --exec true --maximum-batching-window 1"},
        {"u", "--event lambda --exec true --maximum-concurrency 1"},
        {"u", "--event lambda --exec true --maximum-concurrency 1001"},
        {"u", "--event lambda --exec true --function-timeout 0"},
        {"u", "--event lambda --exec true --function-timeout 901"},
        {"u", "--event lambda"},
        {"u", "--event lambda --exec true --invoke-url http://127.0.0.1:1/"},
        {"u", "--event lambda --exec true --concurrency 2"},
        {"u", "--event lambda --exec true --timeout 2"},
        {"u", "--event bogus --exec true"},
        {"u", "--exec true --function-timeout 3"},
        {"u", "--exec true --report-batch-item-failures"},
        {"u", "--event lambda --exec true --filter '{\"body\":'"},
        {"u", "--report-batch-item-failures"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "%s --home %s/home --durability none consume --queue-url "
                 "%s %s >/dev/null 2>&1",
                 LMQ_BIN, lmq_test_dir, bad[i].queue, bad[i].flags);
        ck_assert_msg(run_sh(cmd) == 252, "%s: expected a usage error",
                      bad[i].flags);
    }
    /* The edges that are allowed run (and stop: the queues are empty). */
    static const struct {
        const char *queue, *flags;
    } good[] = {
        {"u", "--batch-size 10000 --maximum-batching-window 1 "
              "--maximum-concurrency 1000 --function-timeout 900"},
        {"u", "--batch-size 11 --maximum-batching-window 300 "
              "--maximum-concurrency 2 --function-timeout 1"},
        {"u.fifo", "--batch-size 10"},
    };
    char script[8192] = "";
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "timeout 30 %s --home %s/home --durability none consume "
                 "--queue-url %s --event lambda --exec true --until-empty "
                 "--wait-time-seconds 1 %s 2>/dev/null || exit 1\n",
                 LMQ_BIN, lmq_test_dir, good[i].queue, good[i].flags);
        strncat(script, cmd, sizeof script - strlen(script) - 1);
    }
    ck_assert_int_eq(run_sh(script), 0);
}
END_TEST

/* Start `sh -c cmd` in the background; its pid. */
static pid_t
spawn(const char *cmd)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Wait for pid up to ms; kill it if it is still running. Its exit status,
 * or -1 when it had to be killed. */
static int
reap(pid_t pid, int ms)
{
    int st = 0;
    int64_t end = mono_ms() + ms;
    while (mono_ms() < end) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

START_TEST(test_batching_window_combines)
{
    make_queue("win", NULL);
    /* Five messages 200 ms apart, inside a 3 s window: one invocation. */
    char extra[256];
    snprintf(extra, sizeof extra,
             "--batch-size 20 --maximum-batching-window 3 --max-messages 5");
    pid_t pid = spawn(consume_cmd("win", extra));
    sleep_ms(300);
    int64_t t0 = mono_ms();
    for (int i = 0; i < 5; i++) {
        char body[16];
        snprintf(body, sizeof body, "w%d", i);
        send_msg("win", body, NULL);
        sleep_ms(200);
    }
    ck_assert_int_eq(reap(pid, 20000), 0);
    int64_t took = mono_ms() - t0;
    json_t *ev[8];
    size_t nev = events("win", ev, 8);
    ck_assert_uint_eq(nev, 1);
    ck_assert_uint_eq(json_array_size(json_object_get(ev[0], "Records")), 5);
    free_events(ev, nev);
    ck_assert_uint_eq(left_count("win"), 0);
    ck_assert_int_lt(took, 15000); /* the window is 3 s; generous */

    /* Without a window, a batch is what is there at once: each message,
     * sent once the one before was handled and deleted, is an invocation of
     * its own (sends 200 ms apart made two or three, depending on the
     * load). No --until-empty: the queue is empty between the sends. */
    char h[1024], cmd[4096];
    handler_cmd("win", h, sizeof h);
    snprintf(cmd, sizeof cmd,
             "timeout 120 %s --home %s/home --durability none consume "
             "--queue-url win --event lambda --wait-time-seconds 1 "
             "--batch-size 10 --max-messages 5 --exec '%s' >/dev/null "
             "2>>%s/stderr-win",
             LMQ_BIN, lmq_test_dir, h, lmq_test_dir);
    pid = spawn(cmd);
    for (int i = 0; i < 5; i++) {
        send_msg("win", "x", NULL);
        int64_t end = mono_ms() + 30000;
        while (left_count("win") > 0 && mono_ms() < end)
            sleep_ms(50);
        ck_assert_uint_eq(left_count("win"), 0);
    }
    ck_assert_int_eq(reap(pid, 30000), 0);
    nev = events("win", ev, 8);
    ck_assert_uint_eq(nev, 6); /* the windowed one, then one each */
    size_t singles = 0;
    for (size_t i = 0; i < nev; i++)
        singles +=
            json_array_size(json_object_get(ev[i], "Records")) == 1;
    ck_assert_uint_eq(singles, 5);
    free_events(ev, nev);
}
END_TEST

START_TEST(test_payload_cap_splits_batches)
{
    make_queue("big", "MaximumMessageSize", "1048576", NULL);
    size_t len = 900000;
    char *body = malloc(len + 1);
    ck_assert_ptr_nonnull(body);
    for (int i = 0; i < 8; i++) {
        memset(body, 'a' + i, len);
        body[len] = '\0';
        send_full("big", body, len, NULL, NULL, NULL, NULL);
    }
    free(body);
    ck_assert_int_eq(run_sh(consume_cmd("big", "--batch-size 10")), 0);
    json_t *ev[16];
    size_t nev = events("big", ev, 16);
    ck_assert_uint_ge(nev, 2);
    size_t total = 0;
    for (size_t i = 0; i < nev; i++) {
        char *s = json_dumps(ev[i], JSON_COMPACT);
        ck_assert_uint_le(strlen(s), 6 * 1024 * 1024);
        free(s);
        size_t n = json_array_size(json_object_get(ev[i], "Records"));
        ck_assert_uint_le(n, 6); /* 7 x 900 kB > 6 MB */
        total += n;
    }
    ck_assert_uint_eq(total, 8);
    free_events(ev, nev);
    ck_assert_uint_eq(left_count("big"), 0);
}
END_TEST

/* ---- timeouts and scaling ---------------------------------------------------- */

START_TEST(test_function_timeout_kills_and_keeps_batch)
{
    make_queue("slow", "VisibilityTimeout", "30", NULL);
    send_msg("slow", "s1", NULL);
    send_msg("slow", "s2", NULL);
    char cmd[2048], pidfile[512];
    snprintf(pidfile, sizeof pidfile, "%s/sleeper.pid", lmq_test_dir);
    snprintf(cmd, sizeof cmd,
             "timeout 60 %s --home %s/home --durability none consume "
             "--queue-url slow --event lambda --until-empty "
             "--wait-time-seconds 1 --function-timeout 1 "
             "--exec 'cat >/dev/null; sleep 30 & echo $! > %s; wait' "
             "2>/dev/null",
             LMQ_BIN, lmq_test_dir, pidfile);
    int64_t t0 = mono_ms();
    ck_assert_int_eq(run_sh(cmd), 0);
    ck_assert_int_lt(mono_ms() - t0, 15000); /* not the 30 s sleep */
    ck_assert_uint_eq(left_count("slow"), 2);
    FILE *f = fopen(pidfile, "r");
    ck_assert_ptr_nonnull(f);
    int sp = 0;
    ck_assert_int_eq(fscanf(f, "%d", &sp), 1);
    fclose(f);
    /* The handler's process group was killed: its sleep is gone. */
    int alive = 1;
    for (int i = 0; i < 100 && alive; i++) {
        alive = kill(sp, 0) == 0;
        if (alive)
            sleep_ms(20);
    }
    ck_assert_msg(!alive, "the handler's child %d still runs", sp);
}
END_TEST

START_TEST(test_concurrency_scales_under_backlog)
{
    make_queue("scale", "VisibilityTimeout", "60", NULL);
    for (int i = 0; i < 40; i++)
        send_msg("scale", "job", NULL);
    char cmd[2048], log[512];
    snprintf(log, sizeof log, "%s/spans", lmq_test_dir);
    snprintf(cmd, sizeof cmd,
             "timeout 60 %s --home %s/home --durability none consume "
             "--queue-url scale --event lambda --until-empty "
             "--wait-time-seconds 1 --batch-size 1 --maximum-concurrency 8 "
             "--exec 'cat >/dev/null; s=$(date +%%s%%3N); sleep 0.5; "
             "echo \"$s $(date +%%s%%3N)\" >> %s' 2>/dev/null",
             LMQ_BIN, lmq_test_dir, log);
    ck_assert_int_eq(run_sh(cmd), 0);
    ck_assert_uint_eq(left_count("scale"), 0);
    long long s[64], e[64];
    int n = 0;
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    while (n < 64 && fscanf(f, "%lld %lld", &s[n], &e[n]) == 2)
        n++;
    fclose(f);
    ck_assert_int_eq(n, 40);
    long long first = s[0];
    for (int i = 0; i < n; i++)
        if (s[i] < first)
            first = s[i];
    /* Concurrency at each start: how many spans cover it. */
    int peak = 0, early = 0;
    for (int i = 0; i < n; i++) {
        int c = 0;
        for (int k = 0; k < n; k++)
            c += s[k] <= s[i] && s[i] < e[k];
        if (c > peak)
            peak = c;
        if (s[i] < first + 400 && c > early)
            early = c;
    }
    ck_assert_int_le(early, 5); /* it starts with 5 */
    ck_assert_int_gt(peak, 5);  /* and adds more under the backlog */
    ck_assert_int_le(peak, 8);  /* never past the maximum */
}
END_TEST

/* ---- filters ---------------------------------------------------------------- */

START_TEST(test_filter_deletes_non_matching)
{
    make_queue("flt", NULL);
    char keep[40], drop1[40], drop2[40];
    send_msg("flt", "{\"kind\":\"order\",\"n\":1}", keep);
    send_msg("flt", "{\"kind\":\"other\"}", drop1);
    send_msg("flt", "plain text", drop2);
    ck_assert_int_eq(
        run_sh(consume_cmd("flt",
                           "--filter '{\"body\":{\"kind\":[\"order\"]}}'")),
        0);
    json_t *ev[4];
    size_t nev = events("flt", ev, 4);
    ck_assert_uint_eq(nev, 1);
    json_t *recs = json_object_get(ev[0], "Records");
    ck_assert_uint_eq(json_array_size(recs), 1);
    ck_assert_str_eq(jstr(json_array_get(recs, 0), "messageId"), keep);
    free_events(ev, nev);
    ck_assert_uint_eq(left_count("flt"), 0); /* the others deleted too */

    /* A batch filtered out entirely: no invocation, all deleted. */
    make_queue("flt2", NULL);
    send_msg("flt2", "{\"kind\":\"other\"}", NULL);
    send_msg("flt2", "nope", NULL);
    ck_assert_int_eq(
        run_sh(consume_cmd("flt2",
                           "--filter '{\"body\":{\"kind\":[\"order\"]}}'")),
        0);
    ck_assert_uint_eq(events("flt2", ev, 4), 0);
    ck_assert_uint_eq(left_count("flt2"), 0);
}
END_TEST

/* ---- --invoke-url -------------------------------------------------------------- */

/* A stand-in for the Runtime Interface Emulator: answers every POST with
 * the canned status, header and body, and keeps what it was sent. */
struct rie {
    pthread_mutex_t mu;
    int status;
    const char *header; /* "Name: value" or NULL */
    char body[1024];
    char url[256];
    char ctype[128];
    char *got; /* the last request body */
    size_t got_len;
    int calls;
    int delay_ms;
};

struct req {
    char *buf;
    size_t len;
};

static enum MHD_Result
rie_answer(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *data,
           size_t *data_size, void **con_cls)
{
    struct rie *r = cls;
    struct req *q = *con_cls;
    (void)version;
    if (!q) {
        q = calloc(1, sizeof *q);
        *con_cls = q;
        return q ? MHD_YES : MHD_NO;
    }
    if (*data_size) {
        char *nb = realloc(q->buf, q->len + *data_size + 1);
        if (!nb)
            return MHD_NO;
        q->buf = nb;
        memcpy(q->buf + q->len, data, *data_size);
        q->len += *data_size;
        q->buf[q->len] = '\0';
        *data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&r->mu);
    free(r->got);
    r->got = q->buf;
    r->got_len = q->len;
    q->buf = NULL;
    r->calls++;
    snprintf(r->url, sizeof r->url, "%s %s", method, url);
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 "Content-Type");
    snprintf(r->ctype, sizeof r->ctype, "%s", ct ? ct : "");
    int status = r->status, delay = r->delay_ms;
    char body[1024], header[256] = "";
    snprintf(body, sizeof body, "%s", r->body);
    if (r->header)
        snprintf(header, sizeof header, "%s", r->header);
    pthread_mutex_unlock(&r->mu);
    if (delay)
        sleep_ms(delay);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(body), body, MHD_RESPMEM_MUST_COPY);
    if (header[0]) {
        char *colon = strchr(header, ':');
        *colon = '\0';
        MHD_add_response_header(resp, header, colon + 2);
    }
    enum MHD_Result ret =
        MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void
rie_done(void *cls, struct MHD_Connection *c, void **con_cls,
         enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)c;
    (void)t;
    struct req *q = *con_cls;
    if (q) {
        free(q->buf);
        free(q);
    }
    *con_cls = NULL;
}

/* Run consume on queue against the server with response (status, header,
 * body); returns the ids left. */
static void
invoke_case(struct MHD_Daemon *d, struct rie *r, const char *queue,
            int status, const char *header, const char *body,
            const char *extra, char *left, size_t size)
{
    (void)d;
    pthread_mutex_lock(&r->mu);
    r->status = status;
    r->header = header;
    snprintf(r->body, sizeof r->body, "%s", body);
    pthread_mutex_unlock(&r->mu);
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "timeout 60 %s --home %s/home --durability none consume "
             "--queue-url %s --event lambda --until-empty "
             "--wait-time-seconds 1 --report-batch-item-failures %s "
             "--invoke-url "
             "http://127.0.0.1:%u/2015-03-31/functions/function/invocations "
             "2>/dev/null",
             LMQ_BIN, lmq_test_dir, queue, extra,
             (unsigned)info->port);
    ck_assert_int_eq(run_sh(cmd), 0);
    left_ids(queue, left, size);
}

START_TEST(test_invoke_url)
{
    struct rie r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.mu, NULL);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
        NULL, NULL, rie_answer, &r, MHD_OPTION_NOTIFY_COMPLETED, rie_done,
        &r, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&(struct sockaddr_in){
            .sin_family = AF_INET,
            .sin_port = 0,
            .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)}},
        MHD_OPTION_END);
    ck_assert_ptr_nonnull(d);
    char left[512], want[512];

    /* A partial batch response in the body of a 200. */
    make_queue("iu1", "VisibilityTimeout", "30", NULL);
    char id1[40], id2[40];
    send_msg("iu1", "one", id1);
    send_msg("iu1", "two", id2);
    char body[256];
    snprintf(body, sizeof body,
             "{\"batchItemFailures\":[{\"itemIdentifier\":\"%s\"}]}", id2);
    invoke_case(d, &r, "iu1", 200, NULL, body, "", left, sizeof left);
    ck_assert_str_eq(left, id2);
    pthread_mutex_lock(&r.mu);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_str_eq(r.url,
                     "POST /2015-03-31/functions/function/invocations");
    ck_assert_str_eq(r.ctype, "application/json");
    json_t *ev = json_loadb(r.got, r.got_len, 0, NULL);
    pthread_mutex_unlock(&r.mu);
    ck_assert_ptr_nonnull(ev);
    json_t *recs = json_object_get(ev, "Records");
    ck_assert_uint_eq(json_array_size(recs), 2);
    ck_assert_str_eq(jstr(json_array_get(recs, 0), "eventSource"),
                     "aws:sqs");
    json_decref(ev);

    /* Function errors: the RIE's error document (status 200), the
     * X-Amz-Function-Error header, an HTTP error. The batch stays. */
    static const struct {
        int status;
        const char *header, *body;
    } errs[] = {
        {200, NULL,
         "{\"errorMessage\":\"boom\",\"errorType\":\"Error\","
         "\"stackTrace\":[]}"},
        {200, "X-Amz-Function-Error: Unhandled", "{}"},
        {200, "Error-Type: Runtime.ExitError", "{}"},
        {500, NULL, "{}"},
        {502, NULL, ""},
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        char q[16];
        snprintf(q, sizeof q, "iue%zu", i);
        make_queue(q, "VisibilityTimeout", "30", NULL);
        send_msg(q, "a", id1);
        send_msg(q, "b", id2);
        invoke_case(d, &r, q, errs[i].status, errs[i].header, errs[i].body,
                    "", left, sizeof left);
        snprintf(want, sizeof want, "%s %s", id1, id2);
        ck_assert_msg(strcmp(left, want) == 0, "case %zu: left [%s]", i,
                      left);
    }

    /* A slow function: the function timeout fails the batch. */
    make_queue("iut", "VisibilityTimeout", "30", NULL);
    send_msg("iut", "a", id1);
    pthread_mutex_lock(&r.mu);
    r.delay_ms = 2500;
    pthread_mutex_unlock(&r.mu);
    invoke_case(d, &r, "iut", 200, NULL, "{}", "--function-timeout 1", left,
                sizeof left);
    ck_assert_str_eq(left, id1);
    pthread_mutex_lock(&r.mu);
    r.delay_ms = 0;
    pthread_mutex_unlock(&r.mu);

    /* Nothing listens: the batch stays. */
    make_queue("iun", "VisibilityTimeout", "30", NULL);
    send_msg("iun", "a", id1);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "timeout 60 %s --home %s/home --durability none consume "
             "--queue-url iun --event lambda --until-empty "
             "--wait-time-seconds 1 --invoke-url http://127.0.0.1:1/ "
             "2>/dev/null",
             LMQ_BIN, lmq_test_dir);
    ck_assert_int_eq(run_sh(cmd), 0);
    ck_assert_uint_eq(left_count("iun"), 1);

    MHD_stop_daemon(d);
    free(r.got);
    pthread_mutex_destroy(&r.mu);
}
END_TEST

/* ---- the examples ------------------------------------------------------------ */

/* Run an example handler through its runner against a queue with a DLQ:
 * the poison order fails twice (a partial batch response), then lands in
 * the DLQ; every other order is handled once and deleted. */
static void
example(const char *runner, const char *handler, const char *tag)
{
    char src[32], dlq[32], arn[256], policy[512];
    snprintf(src, sizeof src, "orders-%s", tag);
    snprintf(dlq, sizeof dlq, "orders-%s-dlq", tag);
    make_queue(dlq, NULL);
    queue_arn(dlq, arn, sizeof arn);
    snprintf(policy, sizeof policy,
             "{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":\"2\"}",
             arn);
    /* Longer than an invocation takes even on a loaded machine: a message
     * whose visibility ran out mid-invocation would be delivered again and
     * count towards maxReceiveCount (1 s sent every order to the DLQ under
     * ASan on a busy 2-core machine, 4 s once with eight builds beside it).
     * The wait outlasts it, so that
     * --until-empty does not stop while the poison message is in flight. */
    make_queue(src, "VisibilityTimeout", "7", "RedrivePolicy", policy, NULL);
    char poison[40];
    for (int i = 1; i <= 5; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"orderId\":%d,\"qty\":%d}", i, i);
        send_msg(src, body, NULL);
    }
    send_msg(src, "{\"orderId\":99,\"qty\":-1}", poison);
    char cmd[2048], log[512];
    snprintf(log, sizeof log, "%s/handled-%s", lmq_test_dir, tag);
    snprintf(cmd, sizeof cmd,
             "cd %s/examples/lambda && ORDERS_LOG=%s timeout 60 %s --home "
             "%s/home --durability none consume --queue-url %s --event "
             "lambda --report-batch-item-failures --until-empty "
             "--wait-time-seconds 8 --function-timeout 10 --exec '%s %s' "
             "2>>%s/stderr-%s",
             LMQ_SRCDIR, log, LMQ_BIN, lmq_test_dir, src, runner, handler,
             lmq_test_dir, tag);
    ck_assert_int_eq(run_sh(cmd), 0);
    ck_assert_uint_eq(left_count(src), 0);
    char got[256];
    left_ids(dlq, got, sizeof got);
    ck_assert_str_eq(got, poison);
    /* Each good order handled once (ids 1-5 in the log). */
    FILE *f = fopen(log, "r");
    ck_assert_ptr_nonnull(f);
    int seen[6] = {0}, id;
    while (fscanf(f, "%d", &id) == 1)
        if (id >= 1 && id <= 5)
            seen[id]++;
    fclose(f);
    for (int i = 1; i <= 5; i++)
        ck_assert_int_eq(seen[i], 1);
}

static int
have(const char *prog)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return run_sh(cmd) == 0;
}

START_TEST(test_example_node)
{
    /* scripts/bootstrap installs node: its absence is a failure. */
    ck_assert_msg(have("node"), "node not found (run scripts/bootstrap)");
    example("node run-node.js", "orders.handler", "node");
}
END_TEST

START_TEST(test_example_python)
{
    ck_assert_msg(have("python3"), "python3 not found (run scripts/bootstrap)");
    example("python3 run-python.py", "orders.handler", "py");
}
END_TEST

static Suite *
lambda_suite(void)
{
    Suite *s = suite_create("lambda");
    TCase *tc = tcase_create("event");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_event_standard);
    tcase_add_test(tc, test_event_fifo);
    suite_add_tcase(s, tc);

    tc = tcase_create("outcomes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_exit_status_keeps_whole_batch);
    tcase_add_test(tc, test_partial_batch_response_table);
    tcase_add_test(tc, test_fifo_group_stops_at_first_failure);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_usage_limits);
    tcase_add_test(tc, test_batching_window_combines);
    tcase_add_test(tc, test_payload_cap_splits_batches);
    suite_add_tcase(s, tc);

    tc = tcase_create("runtime");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_function_timeout_kills_and_keeps_batch);
    tcase_add_test(tc, test_concurrency_scales_under_backlog);
    tcase_add_test(tc, test_filter_deletes_non_matching);
    tcase_add_test(tc, test_invoke_url);
    suite_add_tcase(s, tc);

    tc = tcase_create("examples");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_example_node);
    tcase_add_test(tc, test_example_python);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lambda_suite());
}
