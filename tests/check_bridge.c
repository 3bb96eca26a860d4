/*
 * check_bridge.c: the bridge to Amazon SQS (bridge/, issue 26) end to end.
 *
 * The "remote" is a real lmqd on loopback (an ephemeral home, or a --home
 * when the test restarts it on the same port); the local side is the
 * test's home. Each test starts what it needs and kills it by pid.
 * Fault injection (a proxy that drops, delays and answers 500/throttling)
 * lives in its own suite against `lmq bridge`.
 */
#include "lmq_test.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

/* ---- the remote ------------------------------------------------------------ */

static pid_t remote_pid;
static char remote_base[256]; /* http://127.0.0.1:PORT */

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
nap(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Start lmqd (home NULL: ephemeral) listening on listen; sets remote_pid
 * and remote_base from its ready line. */
static void
remote_start(const char *home, const char *listen)
{
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd[1], 1);
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 2);
        close(fd[0]);
        if (home)
            execl(LMQD_BIN, "lmqd", "--home", home, "--durability", "none",
                  "--listen", listen, "--quiet", (char *)NULL);
        else
            execl(LMQD_BIN, "lmqd", "--ephemeral", "--listen", listen,
                  "--quiet", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char line[256];
    size_t n = 0;
    int64_t end = now_ms() + 10000;
    while (n < sizeof line - 1 && now_ms() < end) {
        struct pollfd p = {fd[0], POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t k = read(fd[0], line + n, 1);
        if (k <= 0)
            break;
        if (line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    close(fd[0]);
    ck_assert_msg(strncmp(line, "lmqd ready ", 11) == 0, "ready line '%s'",
                  line);
    snprintf(remote_base, sizeof remote_base, "%s", line + 11);
    remote_pid = pid;
}

static void
remote_kill(void)
{
    if (remote_pid > 0) {
        kill(remote_pid, SIGKILL);
        waitpid(remote_pid, NULL, 0);
        remote_pid = 0;
    }
}

typedef struct buf {
    char *s;
    size_t n;
} buf;

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
    buf *b = arg;
    char *ns = realloc(b->s, b->n + size * n + 1);
    if (!ns)
        return 0;
    memcpy(ns + b->n, p, size * n);
    b->s = ns;
    b->n += size * n;
    b->s[b->n] = '\0';
    return size * n;
}

/* Call action on the remote (JSON 1.0, no signature: lmqd's auth is off);
 * steals in; returns the answer (or an object with "__type"). */
static json_t *
sqs(const char *action, json_t *in)
{
    CURL *c = curl_easy_init();
    char url[300], target[128];
    snprintf(url, sizeof url, "%s/", remote_base);
    snprintf(target, sizeof target, "X-Amz-Target: AmazonSQS.%s", action);
    struct curl_slist *h = curl_slist_append(
        NULL, "Content-Type: application/x-amz-json-1.0");
    h = curl_slist_append(h, target);
    char *body = json_dumps(in, JSON_COMPACT);
    buf b = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(c);
    ck_assert_msg(cc == CURLE_OK, "%s: %s", action, curl_easy_strerror(cc));
    json_t *out = b.s ? json_loads(b.s, 0, NULL) : json_object();
    ck_assert_msg(out != NULL, "%s answered %s", action, b.s);
    free(b.s);
    free(body);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    json_decref(in);
    return out;
}

static char *
remote_url(const char *q)
{
    char *u = malloc(300);
    snprintf(u, 300, "%s/000000000000/%s", remote_base, q);
    return u;
}

static void
remote_create(const char *q, json_t *attrs)
{
    json_t *in = json_pack("{s:s}", "QueueName", q);
    if (attrs)
        json_object_set_new(in, "Attributes", attrs);
    json_t *out = sqs("CreateQueue", in);
    ck_assert_msg(json_object_get(out, "QueueUrl"), "CreateQueue %s", q);
    json_decref(out);
}

/* Receive (and delete) everything the remote queue q has; returns the
 * messages as an array, in the order received. */
static json_t *
remote_drain(const char *q, size_t want, int timeout_ms)
{
    json_t *all = json_array();
    char *url = remote_url(q);
    int64_t end = now_ms() + timeout_ms;
    while (json_array_size(all) < want && now_ms() < end) {
        json_t *out = sqs("ReceiveMessage",
                          json_pack("{s:s, s:i, s:i, s:[s], s:[s]}",
                                    "QueueUrl", url, "MaxNumberOfMessages",
                                    10, "WaitTimeSeconds", 1,
                                    "MessageAttributeNames", "All",
                                    "AttributeNames", "All"));
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(out, "Messages"), i, m) {
            json_array_append(all, m);
            json_t *d = sqs("DeleteMessage",
                            json_pack("{s:s, s:O}", "QueueUrl", url,
                                      "ReceiptHandle",
                                      json_object_get(m, "ReceiptHandle")));
            json_decref(d);
        }
        json_decref(out);
    }
    free(url);
    return all;
}

static long
remote_count(const char *q)
{
    char *url = remote_url(q);
    json_t *out = sqs("GetQueueAttributes",
                      json_pack("{s:s, s:[s]}", "QueueUrl", url,
                                "AttributeNames", "All"));
    json_t *a = json_object_get(out, "Attributes");
    long n = -1;
    if (a)
        n = atol(json_string_value(
                json_object_get(a, "ApproximateNumberOfMessages"))) +
            atol(json_string_value(json_object_get(
                a, "ApproximateNumberOfMessagesNotVisible")));
    json_decref(out);
    free(url);
    return n;
}

/* ---- the local side ------------------------------------------------------ */

static void
setup(void)
{
    lmq_test_tmp_setup();
    setenv("AWS_ACCESS_KEY_ID", "test", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "test", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SESSION_TOKEN");
    curl_global_init(CURL_GLOBAL_ALL);
    remote_pid = 0;
}

static void
teardown(void)
{
    remote_kill();
    lmq_test_tmp_teardown();
}

static lmq_queue *
local_queue(lmq_env *env, const char *name, int fifo)
{
    lmq_map *a = lmq_map_new();
    if (fifo)
        lmq_map_set(a, "FifoQueue", "true");
    ck_ok(lmq_queue_create(env, name, a, NULL, NULL));
    lmq_map_free(a);
    lmq_queue *q = NULL;
    ck_ok(lmq_queue_open(env, name, &q));
    return q;
}

/* Send n messages "<prefix><i>" with a String and a Binary attribute. */
static void
local_send(lmq_queue *q, const char *prefix, int from, int n,
           const char *group)
{
    for (int i = from; i < from + n; i++) {
        char body[64], dd[64];
        snprintf(body, sizeof body, "%s%d", prefix, i);
        lmq_mattrs *a = lmq_mattrs_new();
        ck_ok(lmq_mattrs_add(a, "n", "Number", body + strlen(prefix),
                             strlen(body + strlen(prefix))));
        ck_ok(lmq_mattrs_add(a, "bin", "Binary", "\x00\x01\xff", 3));
        lmq_send_entry e;
        lmq_send_entry_init(&e);
        e.body = body;
        e.attrs = a;
        if (group) {
            snprintf(dd, sizeof dd, "d-%s-%d", group, i);
            e.group_id = group;
            e.dedup_id = dd;
        }
        ck_ok(lmq_send(q, &e, NULL));
        lmq_mattrs_free(a);
    }
}

static lmq_route_status
route_status(lmq_bridge *b, size_t i)
{
    lmq_route_status *st = NULL, r;
    size_t n = 0;
    ck_ok(lmq_bridge_status(b, &st, &n));
    ck_assert_uint_gt(n, i);
    r = st[i];
    free(st);
    return r;
}

/* Wait until cond holds for s_, the status of route 0 (the caller
 * declares s_, which keeps the last status). */
#define WAIT_FOR(b, cond, ms)                                                \
    do {                                                                     \
        int64_t end_ = now_ms() + (ms);                                      \
        for (;;) {                                                           \
            s_ = route_status(b, 0);                                         \
            if (cond)                                                        \
                break;                                                       \
            ck_assert_msg(now_ms() < end_,                                   \
                          "timed out waiting for %s (state %s, shipped "     \
                          "%llu, pulled %llu, error '%s')",                  \
                          #cond, lmq_route_state_name(s_.state),             \
                          (unsigned long long)s_.shipped,                    \
                          (unsigned long long)s_.pulled, s_.last_error);     \
            nap(20);                                                         \
        }                                                                    \
    } while (0)

static lmq_bridge *
forward_bridge(lmq_env *env, const char *local, const char *remote_q,
               int bmax)
{
    lmq_bridge *b = NULL;
    ck_ok(lmq_bridge_open(env, 1000, &b));
    lmq_route_opts o;
    lmq_route_opts_init(&o);
    o.kind = LMQ_ROUTE_FORWARD;
    o.local_queue = local;
    char *url = remote_url(remote_q);
    o.remote_url = url;
    o.backoff_min_ms = 50;
    o.backoff_max_ms = bmax;
    ck_ok(lmq_bridge_add_route(b, &o));
    free(url);
    ck_ok(lmq_bridge_start(b));
    return b;
}

/* ---- forward --------------------------------------------------------------- */

START_TEST(forward_ships_everything)
{
    lmq_route_status s_;
    remote_start(NULL, "127.0.0.1:0");
    remote_create("q", NULL);
    lmq_env *env = lmq_test_env();
    lmq_queue *q = local_queue(env, "q", 0);
    local_send(q, "m", 0, 200, NULL);
    lmq_bridge *b = forward_bridge(env, "q", "q", 1000);
    WAIT_FOR(b, s_.shipped == 200 && s_.backlog == 0, 15000);
    ck_assert_int_eq(s_.state, LMQ_ROUTE_ONLINE);
    json_t *all = remote_drain("q", 200, 10000);
    ck_assert_uint_eq(json_array_size(all), 200);
    char seen[200] = {0};
    size_t i;
    json_t *m;
    json_array_foreach(all, i, m) {
        const char *body = json_string_value(json_object_get(m, "Body"));
        int k = atoi(body + 1);
        ck_assert(k >= 0 && k < 200 && !seen[k]);
        seen[k] = 1;
        json_t *a = json_object_get(m, "MessageAttributes");
        ck_assert_str_eq(json_string_value(json_object_get(
                             json_object_get(a, "n"), "StringValue")),
                         body + 1);
        ck_assert_str_eq(json_string_value(json_object_get(
                             json_object_get(a, "bin"), "BinaryValue")),
                         "AAH/");
        ck_assert_int_eq(json_string_length(json_object_get(
                             json_object_get(a, "lmq.MessageId"),
                             "StringValue")),
                         36);
    }
    json_decref(all);
    lmq_bridge_close(b);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

START_TEST(forward_fifo_keeps_group_order)
{
    lmq_route_status s_;
    remote_start(NULL, "127.0.0.1:0");
    remote_create("f.fifo", json_pack("{s:s}", "FifoQueue", "true"));
    lmq_env *env = lmq_test_env();
    lmq_queue *q = local_queue(env, "f.fifo", 1);
    for (int k = 0; k < 20; k++) { /* interleave the groups */
        local_send(q, "a-", k, 1, "a");
        local_send(q, "b-", k, 1, "b");
        local_send(q, "c-", k, 1, "c");
    }
    lmq_bridge *b = forward_bridge(env, "f.fifo", "f.fifo", 1000);
    WAIT_FOR(b, s_.shipped == 60 && s_.backlog == 0, 15000);
    json_t *all = remote_drain("f.fifo", 60, 10000);
    ck_assert_uint_eq(json_array_size(all), 60);
    int next[3] = {0, 0, 0};
    size_t i;
    json_t *m;
    json_array_foreach(all, i, m) {
        const char *body = json_string_value(json_object_get(m, "Body"));
        int g = body[0] - 'a';
        ck_assert(g >= 0 && g < 3);
        ck_assert_int_eq(atoi(body + 2), next[g]);
        next[g]++;
        char gname[2] = {body[0], 0};
        ck_assert_str_eq(json_string_value(json_object_get(
                             json_object_get(m, "Attributes"),
                             "MessageGroupId")),
                         gname);
    }
    ck_assert_int_eq(next[0] + next[1] + next[2], 60);
    json_decref(all);
    ck_assert_int_eq(remote_count("f.fifo"), 0);
    lmq_bridge_close(b);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

START_TEST(forward_too_big_goes_to_route_dlq)
{
    lmq_route_status s_;
    remote_start(NULL, "127.0.0.1:0");
    remote_create("big", json_pack("{s:s}", "MaximumMessageSize", "1024"));
    lmq_env *env = lmq_test_env();
    lmq_queue *q = local_queue(env, "big", 0);
    char body[2001];
    memset(body, 'x', 2000);
    body[2000] = '\0';
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = body;
    ck_ok(lmq_send(q, &e, NULL));
    local_send(q, "small", 0, 1, NULL);
    lmq_bridge *b = forward_bridge(env, "big", "big", 1000);
    WAIT_FOR(b, s_.shipped == 1 && s_.dead_lettered == 1 && s_.backlog == 0,
             10000);
    lmq_queue *d = NULL;
    ck_ok(lmq_queue_open(env, "big-bridge-dlq", &d));
    static const char *const all[] = {"All", NULL};
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.attribute_names = all;
    lmq_msg *m = NULL;
    size_t n = 0;
    ck_ok(lmq_receive(d, &o, &m, 1, &n));
    ck_assert_uint_eq(n, 1);
    size_t len;
    lmq_msg_body(m, &len);
    ck_assert_uint_eq(len, 2000);
    const lmq_mattrs *a = lmq_msg_attrs(m);
    int found = 0;
    for (size_t i = 0; i < lmq_mattrs_count(a); i++) {
        const char *name;
        const void *v;
        size_t vl;
        lmq_mattrs_at(a, i, &name, NULL, &v, &vl);
        if (strcmp(name, "lmq.BridgeError") == 0 && vl > 0)
            found = 1;
    }
    ck_assert_msg(found, "no lmq.BridgeError attribute");
    lmq_msg_free(m);
    lmq_queue_close(d);
    lmq_bridge_close(b);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

START_TEST(forward_pauses_on_missing_remote_queue)
{
    lmq_route_status s_;
    remote_start(NULL, "127.0.0.1:0");
    lmq_env *env = lmq_test_env();
    lmq_queue *q = local_queue(env, "gone", 0);
    local_send(q, "g", 0, 5, NULL);
    lmq_bridge *b = forward_bridge(env, "gone", "gone", 60000);
    WAIT_FOR(b, s_.state == LMQ_ROUTE_PAUSED, 10000);
    ck_assert_msg(strstr(s_.last_error, "QueueDoesNotExist") ||
                      strstr(s_.last_error, "NonExistentQueue"),
                  "last_error '%s'", s_.last_error);
    ck_assert_uint_eq(s_.backlog, 5);
    ck_assert_uint_eq(s_.shipped, 0);
    remote_create("gone", NULL);
    ck_ok(lmq_bridge_resume(b, "forward:gone"));
    ck_lmq(lmq_bridge_resume(b, "nope"), LMQ_ENOTFOUND);
    WAIT_FOR(b, s_.shipped == 5 && s_.backlog == 0, 10000);
    ck_assert_int_eq(s_.state, LMQ_ROUTE_ONLINE);
    json_t *all = remote_drain("gone", 5, 5000);
    ck_assert_uint_eq(json_array_size(all), 5);
    json_decref(all);
    lmq_bridge_close(b);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

START_TEST(forward_backs_off_while_remote_down)
{
    lmq_route_status s_;
    char rhome[300], listen[64];
    snprintf(rhome, sizeof rhome, "%s/remote", lmq_test_dir);
    remote_start(rhome, "127.0.0.1:0");
    remote_create("d", NULL);
    const char *port = strrchr(remote_base, ':') + 1;
    snprintf(listen, sizeof listen, "127.0.0.1:%s", port);
    remote_kill();
    lmq_env *env = lmq_test_env();
    lmq_queue *q = local_queue(env, "d", 0);
    local_send(q, "d", 0, 20, NULL);
    lmq_bridge *b = forward_bridge(env, "d", "d", 300);
    WAIT_FOR(b, s_.state == LMQ_ROUTE_BACKOFF && s_.retried > 0, 10000);
    ck_assert_uint_eq(s_.backlog, 20);
    ck_assert(s_.last_error[0]);
    nap(300);
    remote_start(rhome, listen);
    WAIT_FOR(b, s_.shipped == 20 && s_.backlog == 0, 10000);
    ck_assert_int_eq(s_.state, LMQ_ROUTE_ONLINE);
    json_t *all = remote_drain("d", 20, 5000);
    ck_assert_uint_eq(json_array_size(all), 20);
    json_decref(all);
    lmq_bridge_close(b);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* ---- pull ------------------------------------------------------------------ */

START_TEST(pull_takes_everything)
{
    lmq_route_status s_;
    remote_start(NULL, "127.0.0.1:0");
    remote_create("p", NULL);
    char *url = remote_url("p");
    for (int k = 0; k < 20; k++) {
        json_t *entries = json_array();
        for (int i = 0; i < 10; i++) {
            char id[8], body[32];
            snprintf(id, sizeof id, "%d", i);
            snprintf(body, sizeof body, "p%d", k * 10 + i);
            json_array_append_new(
                entries,
                json_pack("{s:s, s:s, s:{s:{s:s, s:s}}}", "Id", id,
                          "MessageBody", body, "MessageAttributes", "k",
                          "DataType", "String", "StringValue", body));
        }
        json_t *out = sqs("SendMessageBatch",
                          json_pack("{s:s, s:o}", "QueueUrl", url, "Entries",
                                    entries));
        ck_assert_uint_eq(json_array_size(json_object_get(out, "Successful")),
                          10);
        json_decref(out);
    }
    lmq_env *env = lmq_test_env();
    lmq_queue *q = local_queue(env, "p", 0);
    char cfg[400];
    snprintf(cfg, sizeof cfg, "%s/bridge.json", lmq_test_dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f,
            "{\"routes\": [{\"kind\": \"pull\", \"local_queue\": \"p\", "
            "\"remote_url\": \"%s\", \"in_flight\": 2, "
            "\"wait_time_seconds\": 1, \"backoff_max_ms\": 500}]}\n",
            url);
    fclose(f);
    lmq_bridge *b = NULL;
    ck_ok(lmq_bridge_open(env, 1000, &b));
    ck_ok(lmq_bridge_load_config(b, cfg));
    ck_ok(lmq_bridge_start(b));
    WAIT_FOR(b, s_.pulled == 200, 15000);
    int64_t end = now_ms() + 5000;
    while (remote_count("p") != 0 && now_ms() < end)
        nap(50);
    ck_assert_int_eq(remote_count("p"), 0);
    char seen[200] = {0};
    size_t got = 0;
    for (;;) {
        lmq_msg *m[10];
        size_t n = 0;
        lmq_recv_opts o;
        lmq_recv_opts_init(&o);
        o.max_messages = 10;
        ck_ok(lmq_receive(q, &o, m, 10, &n));
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            int k = atoi(lmq_msg_body(m[i], NULL) + 1);
            ck_assert(k >= 0 && k < 200 && !seen[k]);
            seen[k] = 1;
            got++;
            ck_ok(lmq_delete(q, lmq_msg_receipt(m[i]), NULL));
            lmq_msg_free(m[i]);
        }
    }
    ck_assert_uint_eq(got, 200);
    lmq_bridge_close(b);
    free(url);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* ---- the lease ------------------------------------------------------------- */

/* A child: its own env and bridge on the route, until SIGTERM. */
static void
lease_child(const char *url)
{
    lmq_env *env = lmq_test_env();
    lmq_bridge *b = NULL;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    if (lmq_bridge_open(env, 400, &b) != 0)
        _exit(2);
    lmq_route_opts o;
    lmq_route_opts_init(&o);
    o.local_queue = "l";
    o.remote_url = url;
    o.backoff_max_ms = 300;
    if (lmq_bridge_add_route(b, &o) != 0 || lmq_bridge_start(b) != 0)
        _exit(3);
    int sig;
    sigwait(&s, &sig);
    lmq_bridge_close(b);
    lmq_env_close(env);
    _exit(0);
}

/* The pid in the route's lease file, 0 when none. */
static long
lease_holder(void)
{
    char path[400], line[64];
    snprintf(path, sizeof path, "%s/home/bridge-forward_l.lock",
             lmq_test_dir);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f) {
        if (fgets(line, sizeof line, f))
            sscanf(line, "pid %ld", &pid);
        fclose(f);
    }
    return pid;
}

START_TEST(lease_one_bridge_per_route)
{
    remote_start(NULL, "127.0.0.1:0");
    remote_create("l", NULL);
    char *url = remote_url("l");
    lmq_env *env = lmq_test_env();
    lmq_queue *q = local_queue(env, "l", 0);
    local_send(q, "l", 0, 50, NULL);
    lmq_queue_close(q);
    lmq_env_close(env);

    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0)
            lease_child(url);
    }
    json_t *first = remote_drain("l", 50, 15000);
    ck_assert_uint_eq(json_array_size(first), 50);
    json_decref(first);
    long holder = lease_holder();
    ck_assert_msg(holder == kids[0] || holder == kids[1], "holder %ld",
                  holder);
    pid_t other = holder == kids[0] ? kids[1] : kids[0];
    /* The holder dies without a word; the other takes the route. */
    kill((pid_t)holder, SIGKILL);
    waitpid((pid_t)holder, NULL, 0);
    env = lmq_test_env();
    ck_ok(lmq_queue_open(env, "l", &q));
    local_send(q, "l", 50, 50, NULL);
    json_t *second = remote_drain("l", 50, 15000);
    ck_assert_uint_eq(json_array_size(second), 50);
    size_t i;
    json_t *m;
    json_array_foreach(second, i, m) {
        int k = atoi(json_string_value(json_object_get(m, "Body")) + 1);
        ck_assert(k >= 50 && k < 100);
    }
    json_decref(second);
    ck_assert_int_eq(lease_holder(), other);
    kill(other, SIGTERM);
    int st = 0;
    waitpid(other, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(url);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* ---- misuse ---------------------------------------------------------------- */

/* lmqd --bridge: the daemon runs the routes of a bridge file next to its
 * SQS endpoint; what clients send to it reaches the remote, /metrics shows
 * the route, and SIGTERM stops both. */
START_TEST(lmqd_runs_a_bridge)
{
    char cfg[400], qcfg[400], home[400], text[1024];
    remote_start(NULL, "127.0.0.1:0");
    remote_create("up", NULL);
    char *url = remote_url("up");
    snprintf(cfg, sizeof cfg, "%s/bridge.json", lmq_test_dir);
    snprintf(qcfg, sizeof qcfg, "%s/queues.json", lmq_test_dir);
    snprintf(home, sizeof home, "%s/local", lmq_test_dir);
    snprintf(text, sizeof text,
             "{\"routes\": [{\"kind\": \"forward\", \"local_queue\": "
             "\"jobs\", \"remote_url\": \"%s\", \"backoff_min_ms\": 50}]}",
             url);
    FILE *f = fopen(cfg, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    f = fopen(qcfg, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"queues\": [{\"name\": \"jobs\"}]}", f);
    fclose(f);

    /* The local lmqd, with the bridge. */
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd[1], 1);
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 2);
        close(fd[0]);
        execl(LMQD_BIN, "lmqd", "--home", home, "--durability", "none",
              "--listen", "127.0.0.1:0", "--quiet", "--config", qcfg,
              "--bridge", cfg, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char line[256];
    size_t n = 0;
    int64_t end = now_ms() + 10000;
    while (n < sizeof line - 1 && now_ms() < end) {
        struct pollfd p = {fd[0], POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        if (read(fd[0], line + n, 1) <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    close(fd[0]);
    ck_assert_msg(strncmp(line, "lmqd ready ", 11) == 0, "ready line '%s'",
                  line);
    char remote_saved[256];
    snprintf(remote_saved, sizeof remote_saved, "%s", remote_base);
    /* Talk to the local lmqd with the same helper. */
    snprintf(remote_base, sizeof remote_base, "%s", line + 11);
    char local_url[300];
    snprintf(local_url, sizeof local_url, "%s/000000000000/jobs", remote_base);
    for (int i = 0; i < 20; i++) {
        char body[32];
        snprintf(body, sizeof body, "via-lmqd-%d", i);
        json_t *out = sqs("SendMessage", json_pack("{s:s, s:s}", "QueueUrl",
                                                   local_url, "MessageBody",
                                                   body));
        ck_assert_msg(json_object_get(out, "MessageId"), "local send");
        json_decref(out);
    }
    /* /metrics of the local lmqd shows the route. */
    char murl[300];
    snprintf(murl, sizeof murl, "%s/metrics", remote_base);
    snprintf(remote_base, sizeof remote_base, "%s", remote_saved);
    long have = 0;
    end = now_ms() + 15000;
    while ((have = remote_count("up")) < 20 && now_ms() < end)
        nap(50);
    ck_assert_int_eq(have, 20);
    json_t *got = remote_drain("up", 20, 10000);
    ck_assert_uint_eq(json_array_size(got), 20);
    json_decref(got);
    CURL *c = curl_easy_init();
    buf b = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, murl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    ck_assert_msg(b.s && strstr(b.s, "lmq_bridge_route_state{route=\"forward:jobs\""),
                  "metrics:\n%s", b.s ? b.s : "");
    free(b.s);
    /* SIGTERM stops the daemon and its bridge. */
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    int st = 0;
    end = now_ms() + 15000;
    pid_t w = 0;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && now_ms() < end)
        nap(20);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    ck_assert_msg(w == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "lmqd --bridge did not stop cleanly");
    free(url);
}
END_TEST

START_TEST(misuse_and_config_errors)
{
    lmq_env *env = lmq_test_env();
    lmq_bridge *b = NULL;
    lmq_bridge_close(NULL);
    ck_lmq(lmq_bridge_open(NULL, 0, &b), LMQ_EINVAL);
    ck_ok(lmq_bridge_open(env, 0, &b));
    ck_lmq(lmq_bridge_start(b), LMQ_EINVAL);
    lmq_route_opts o;
    lmq_route_opts_init(&o);
    o.local_queue = "none";
    o.remote_url = "http://127.0.0.1:1/000000000000/none";
    ck_lmq(lmq_bridge_add_route(b, &o), LMQ_ENOQUEUE);
    lmq_queue_close(local_queue(env, "x", 0));
    o.local_queue = "x";
    o.batch_size = 11;
    ck_lmq(lmq_bridge_add_route(b, &o), LMQ_EINVAL);
    o.batch_size = 10;
    ck_ok(lmq_bridge_add_route(b, &o));
    ck_lmq(lmq_bridge_add_route(b, &o), LMQ_EINVAL); /* duplicate name */
    char cfg[400];
    snprintf(cfg, sizeof cfg, "%s/bad.json", lmq_test_dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "{\"routes\": [{\"kind\": \"forward\", \"colour\": 1}]}\n");
    fclose(f);
    ck_lmq(lmq_bridge_load_config(b, cfg), LMQ_EINVAL);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "colour"));
    ck_assert_str_eq(lmq_route_state_name(LMQ_ROUTE_PAUSED), "PAUSED");
    lmq_bridge_close(b);
    lmq_env_close(env);
}
END_TEST

static Suite *
lmq_suite_bridge(void)
{
    Suite *s = suite_create("bridge");
    TCase *t = tcase_create("forward");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 40);
    tcase_add_test(t, forward_ships_everything);
    tcase_add_test(t, forward_fifo_keeps_group_order);
    tcase_add_test(t, forward_too_big_goes_to_route_dlq);
    tcase_add_test(t, forward_pauses_on_missing_remote_queue);
    tcase_add_test(t, forward_backs_off_while_remote_down);
    suite_add_tcase(s, t);
    t = tcase_create("pull");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 40);
    tcase_add_test(t, pull_takes_everything);
    suite_add_tcase(s, t);
    t = tcase_create("lease");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 40);
    tcase_add_test(t, lease_one_bridge_per_route);
    suite_add_tcase(s, t);
    t = tcase_create("misuse");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, misuse_and_config_errors);
    suite_add_tcase(s, t);
    t = tcase_create("lmqd");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, lmqd_runs_a_bridge);
    suite_add_tcase(s, t);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_bridge());
}
