/*
 * check_bridge_faults.c: the bridge (issue 26) under faults.
 *
 * The remote is a second home served by lmqd (LMQD_BIN) on loopback, reached
 * through tests/faultproxy (FAULTPROXY_BIN; see its top comment for the
 * control file). The bridge is the real `lmq --home LOCAL bridge --config
 * CFG` (LMQ_BIN), a separate process that the tests SIGKILL at random
 * moments and restart, while the proxy's control file is rewritten to make
 * the remote flap: down (connections dropped), up, throttling (400 and 403),
 * 500s, delays, and (FIFO, pull) answers lost after the remote acted.
 *
 * What is checked (short mode, the default, for CI):
 *  - proxy:   the proxy itself (pass is byte-exact and keeps Host, each
 *             fault mode does what it says, stats count them);
 *  - forward: N=1,000 messages sent locally while the bridge ships them and
 *             is killed 10 times (5 in the sanitizer pass, LMQ_TEST_SAN),
 *             the sends spread over 0.8 s per kill: every message arrives
 *             remotely; standard:
 *             duplicates only from kills (at most kills x in_flight x
 *             batch_size), counted and printed; FIFO (4 groups, lost answers
 *             included): every message exactly once and each group in order;
 *  - pull:    N=500 remote messages pulled with kills and a flapping remote:
 *             nothing lost; standard: duplicates only from kills between a
 *             batch's local commit and the write of its remote ids to the
 *             route's seen file (at most kills x in_flight x batch_size),
 *             counted and printed; FIFO into a local FIFO queue: exactly
 *             once, each group in order;
 *  - backoff: the remote answering 500 for 3 s costs few requests and
 *             little CPU; after recovery the backlog drains within seconds;
 *  - idle:    an idle bridge uses no measurable CPU over 3 s.
 *
 * Long mode: N=10,000 and 50 kills (forward), 5,000 and 50 kills (pull):
 *
 *   LMQ_BRIDGE_LONG=1 CK_RUN_CASE=forward make check \
 *       TESTS=tests/check_bridge_faults
 *
 * (or run _build/.../tests/check_bridge_faults directly with the variable
 * set). LMQ_BRIDGE_SEED=N fixes the random schedule (kill moments, fault
 * phases); the seed in use is printed on stderr.
 *
 * Where the messages are checked: after every child process is gone, a
 * forked child opens the remote (or local) home with liblmq and peeks the
 * queue (in flight and delayed included), in send order, into a file. The
 * test process itself never opens an env (it forks children after), as the
 * suite fixtures require. During a run, progress is read from lmqd over
 * loopback (GetQueueAttributes, directly, not through the proxy) and from
 * forked peeking children.
 */
#include "lmq_test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <glob.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#ifndef LMQD_BIN
#error "LMQD_BIN must name the built daemon/lmqd"
#endif
#ifndef LMQ_BIN
#error "LMQ_BIN must name the built tools/lmq"
#endif
#ifndef FAULTPROXY_BIN
#error "FAULTPROXY_BIN must name the built tests/faultproxy"
#endif

#define ACCOUNT "000000000000"
#define READY_MS 20000 /* start-up bound (ASan builds start slowly) */
#define STOP_MS 15000  /* SIGTERM to exit */
/* The bridge: a stop abandons a remote long poll (WaitTimeSeconds 20) or
 * a blackholed request in progress within about a second (libcurl's
 * progress callback), so this bound is well under the 20 s wait. */
#define BRIDGE_STOP_MS STOP_MS
#define REQ_MS 30000   /* one direct HTTP request */
#define TAIL_BYTES 4000

/* ---- time, files, processes ------------------------------------------------- */

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

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0, k;
    if (f) {
        do {
            if (n + 4096 + 1 > cap) {
                cap = cap ? cap * 2 : 8192;
                buf = realloc(buf, cap);
                ck_assert_ptr_nonnull(buf);
            }
            k = fread(buf + n, 1, 4096, f);
            n += k;
        } while (k > 0);
        fclose(f);
    }
    if (!buf)
        buf = malloc(1);
    ck_assert_ptr_nonnull(buf);
    buf[n] = '\0';
    return buf;
}

/* Write text to path atomically (temporary file + rename), so the proxy
 * never reads half a control file. */
static void
write_file(const char *path, const char *text)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    ck_assert_msg(f != NULL, "cannot write %s: %s", tmp, strerror(errno));
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(tmp, path), 0);
}

static const char *
tail_of(const char *path)
{
    static char buf[TAIL_BYTES + 1];
    char *all = slurp(path);
    size_t len = strlen(all);
    snprintf(buf, sizeof buf, "%s", all + (len > TAIL_BYTES ? len - TAIL_BYTES : 0));
    free(all);
    return buf;
}

static const char *
describe_status(int st)
{
    static char buf[64];
    if (WIFEXITED(st))
        snprintf(buf, sizeof buf, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, sizeof buf, "status 0x%x", st);
    return buf;
}

static int
wait_for(pid_t pid, int timeout_ms, int *st)
{
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, st, WNOHANG);
        if (r == pid)
            return 1;
        ck_assert_msg(r == 0, "waitpid: %s", strerror(errno));
        if (mono_ms() >= deadline)
            return 0;
        sleep_ms(5);
    }
}

static int
free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, len), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* utime + stime of pid, in clock ticks (/proc/PID/stat fields 14, 15). */
static long
cpu_ticks(pid_t pid)
{
    char path[64], *text, *p;
    unsigned long ut = 0, st = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    text = slurp(path);
    p = strrchr(text, ')');
    ck_assert_msg(p != NULL, "cannot read %s", path);
    /* After ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime(14) stime(15). */
    ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                            &ut, &st),
                     2);
    free(text);
    return (long)(ut + st);
}

/* ---- the fixture ---------------------------------------------------------------- */

typedef struct proc {
    pid_t pid;
    int out; /* stdout pipe (servers) */
    char log[320];
    char base[128]; /* from the ready line */
} proc;

static proc lmqd, proxy, bridge;
static char remote_home[300], local_home[300], ctl_path[300], stats_path[300],
    cfg_path[300], bridge_log[300];
static int long_mode;
static unsigned rng_state;

/* SIGKILLs per kill run: 50 in the long mode, 10 in CI's plain pass, 5 in
 * its sanitizer pass (LMQ_TEST_SAN), which runs the same code slower. */
static int
kill_count(void)
{
    return long_mode ? 50 : getenv("LMQ_TEST_SAN") ? 5 : 10;
}

static unsigned
rnd(unsigned n)
{
    return n ? (unsigned)rand_r(&rng_state) % n : 0;
}

static void
tpath(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", lmq_test_dir, name);
}

static void
proc_reset(proc *p)
{
    p->pid = -1;
    p->out = -1;
    p->log[0] = p->base[0] = '\0';
}

static void
proc_kill(proc *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    if (p->out >= 0)
        close(p->out);
    proc_reset(p);
}

static void
setup(void)
{
    const char *seed = getenv("LMQ_BRIDGE_SEED");
    lmq_test_tmp_setup();
    tpath(remote_home, sizeof remote_home, "remote");
    tpath(local_home, sizeof local_home, "local");
    tpath(ctl_path, sizeof ctl_path, "proxy.ctl");
    tpath(stats_path, sizeof stats_path, "proxy.stats");
    tpath(cfg_path, sizeof cfg_path, "bridge.json");
    tpath(bridge_log, sizeof bridge_log, "bridge.log");
    proc_reset(&lmqd);
    proc_reset(&proxy);
    proc_reset(&bridge);
    long_mode = getenv("LMQ_BRIDGE_LONG") && atoi(getenv("LMQ_BRIDGE_LONG")) > 0;
    rng_state = seed && *seed ? (unsigned)strtoul(seed, NULL, 10)
                              : (unsigned)time(NULL) ^ (unsigned)getpid();
    fprintf(stderr, "check_bridge_faults: LMQ_BRIDGE_SEED=%u%s\n", rng_state,
            long_mode ? " (long mode)" : "");
    /* The bridge finds its credentials in the environment. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDBRIDGETEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "bridge-test-secret", 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
}

static void
teardown(void)
{
    proc_kill(&bridge);
    proc_kill(&proxy);
    proc_kill(&lmqd);
    lmq_test_tmp_teardown();
}

/* Fork and exec argv with stdout to a pipe (p->out) or, for want == NULL,
 * to the log; stderr to p->log (appended). When want is set, wait for a
 * stdout line starting with it; the rest of the line goes to p->base. */
static void
spawn(proc *p, const char *const *argv, const char *log, const char *want)
{
    int pipefd[2] = {-1, -1};
    struct stat st;
    ck_assert_msg(stat(argv[0], &st) == 0, "%s is not built", argv[0]);
    snprintf(p->log, sizeof p->log, "%s", log);
    if (want)
        ck_assert_int_eq(pipe(pipefd), 0);
    p->pid = check_fork();
    ck_assert_int_ge(p->pid, 0);
    if (p->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            if (!want)
                dup2(fd, STDOUT_FILENO);
        }
        if (want) {
            dup2(pipefd[1], STDOUT_FILENO);
            close(pipefd[0]);
            close(pipefd[1]);
        }
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (!want)
        return;
    close(pipefd[1]);
    p->out = pipefd[0];

    char line[256];
    size_t got = 0;
    int64_t deadline = mono_ms() + READY_MS;
    line[0] = '\0';
    while (got < sizeof line - 1 && !memchr(line, '\n', got)) {
        struct pollfd pf = {p->out, POLLIN, 0};
        int left = (int)(deadline - mono_ms());
        ck_assert_msg(left > 0, "%s printed no ready line within %d ms; log:\n%s", argv[0],
                      READY_MS, tail_of(log));
        if (poll(&pf, 1, left) <= 0)
            continue;
        ssize_t r = read(p->out, line + got, sizeof line - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_msg(r > 0, "%s exited before its ready line; log:\n%s", argv[0],
                      tail_of(log));
        got += (size_t)r;
        line[got] = '\0';
    }
    line[strcspn(line, "\n")] = '\0';
    ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "ready line \"%s\", expected \"%s...\"",
                  line, want);
    snprintf(p->base, sizeof p->base, "%.120s", line + strlen(want));
}

/* SIGTERM p; it must exit 0 within STOP_MS. */
static void
stop_clean(proc *p, const char *what)
{
    int st = 0;
    pid_t pid = p->pid;
    int bound = p == &bridge ? BRIDGE_STOP_MS : STOP_MS;
    if (pid <= 0)
        return;
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    if (!wait_for(pid, bound, &st)) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        p->pid = -1;
        ck_abort_msg("%s did not stop within %d ms of SIGTERM; log:\n%s", what, bound,
                     tail_of(p->log));
    }
    p->pid = -1;
    if (p->out >= 0)
        close(p->out);
    p->out = -1;
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "%s did not stop cleanly on SIGTERM (%s); log:\n%s", what,
                  describe_status(st), tail_of(p->log));
}

static void
lmqd_start(void)
{
    char listen[64], log[320];
    int port = free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    tpath(log, sizeof log, "lmqd.log");
    const char *argv[] = {LMQD_BIN,  "--home",      remote_home, "--listen", listen,
                          "--quiet", "--durability", "none",     NULL};
    spawn(&lmqd, argv, log, "lmqd ready ");
}

/* The proxy in front of lmqd, in mode `initial`. */
static void
proxy_start(const char *initial)
{
    char log[320];
    tpath(log, sizeof log, "proxy.log");
    write_file(ctl_path, initial);
    const char *argv[] = {FAULTPROXY_BIN, "--listen",  "127.0.0.1:0", "--upstream",
                          lmqd.base,      "--control", ctl_path,      "--stats",
                          stats_path,     NULL};
    spawn(&proxy, argv, log, "faultproxy ready ");
}

static void
proxy_mode(const char *text)
{
    write_file(ctl_path, text);
}

/* A counter of the proxy's stats file ("requests", "pass", ...). */
static long
proxy_stat(const char *name)
{
    char *text = slurp(stats_path), *p = text;
    long v = -1;
    size_t nl = strlen(name);
    while (*p) {
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ') {
            v = strtol(p + nl + 1, NULL, 10);
            break;
        }
        p += strcspn(p, "\n");
        p += *p == '\n';
    }
    free(text);
    ck_assert_msg(v >= 0, "no \"%s\" in the proxy's stats", name);
    return v;
}

/* ---- HTTP --------------------------------------------------------------------- */

typedef struct resp {
    CURLcode rc;
    long status;
    char *body, *hdr;
    size_t len, hlen;
} resp;

static void
resp_free(resp *r)
{
    free(r->body);
    free(r->hdr);
    memset(r, 0, sizeof *r);
}

static void
buf_add(char **b, size_t *n, const char *p, size_t k)
{
    char *nb = realloc(*b, *n + k + 1);
    ck_assert_ptr_nonnull(nb);
    memcpy(nb + *n, p, k);
    *n += k;
    nb[*n] = '\0';
    *b = nb;
}

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
    resp *r = arg;
    buf_add(&r->body, &r->len, p, sz * n);
    return sz * n;
}

static size_t
on_header(char *p, size_t sz, size_t n, void *arg)
{
    resp *r = arg;
    buf_add(&r->hdr, &r->hlen, p, sz * n);
    return sz * n;
}

/* POST an AWS JSON 1.0 request to base + "/"; extra is one more header or
 * NULL. */
static void
sqs_post(const char *base, const char *action, const char *body, const char *extra,
         long timeout_ms, resp *r)
{
    char url[256], t[128];
    struct curl_slist *l = NULL;
    CURL *h = curl_easy_init();
    ck_assert_ptr_nonnull(h);
    memset(r, 0, sizeof *r);
    snprintf(url, sizeof url, "%s/", base);
    snprintf(t, sizeof t, "X-Amz-Target: AmazonSQS.%s", action);
    l = curl_slist_append(l, "Content-Type: application/x-amz-json-1.0");
    l = curl_slist_append(l, t);
    l = curl_slist_append(l, "Expect:");
    if (extra)
        l = curl_slist_append(l, extra);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    r->rc = curl_easy_perform(h);
    if (r->rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (!r->body)
        buf_add(&r->body, &r->len, "", 0);
    if (!r->hdr)
        buf_add(&r->hdr, &r->hlen, "", 0);
    curl_slist_free_all(l);
    curl_easy_cleanup(h);
}

/* action with req (stolen) to lmqd directly; asserts 200; the answer. */
static json_t *
sqs_ok(const char *action, json_t *req)
{
    resp r;
    json_error_t e;
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    ck_assert_ptr_nonnull(body);
    sqs_post(lmqd.base, action, body, NULL, REQ_MS, &r);
    ck_assert_msg(r.rc == CURLE_OK, "%s: %s", action, curl_easy_strerror(r.rc));
    ck_assert_msg(r.status == 200, "%s %s: HTTP %ld: %.500s", action, body, r.status, r.body);
    free(body);
    json_t *j = json_loadb(r.body, r.len, 0, &e);
    ck_assert_msg(j != NULL, "%s: not JSON: %.300s", action, r.body);
    resp_free(&r);
    return j;
}

static const char *
remote_url(const char *base, const char *name)
{
    static char ring[4][256];
    static int k;
    char *b = ring[k++ & 3];
    snprintf(b, 256, "%s/" ACCOUNT "/%s", base, name);
    return b;
}

static void
remote_create(const char *name, int fifo, int visibility)
{
    char v[16];
    json_t *attrs = json_object();
    snprintf(v, sizeof v, "%d", visibility);
    json_object_set_new(attrs, "VisibilityTimeout", json_string(v));
    if (fifo)
        json_object_set_new(attrs, "FifoQueue", json_string("true"));
    json_decref(sqs_ok("CreateQueue", json_pack("{s:s,s:o}", "QueueName", name, "Attributes",
                                                 attrs)));
}

/* ApproximateNumberOfMessages (+ NotVisible + Delayed when all) of a remote
 * queue, read from lmqd directly. */
static long
remote_count(const char *name, int all)
{
    long n = 0;
    json_t *j = sqs_ok("GetQueueAttributes",
                       json_pack("{s:s,s:[s]}", "QueueUrl", remote_url(lmqd.base, name),
                                 "AttributeNames", "All"));
    json_t *a = json_object_get(j, "Attributes");
    const char *keys[] = {"ApproximateNumberOfMessages",
                          "ApproximateNumberOfMessagesNotVisible",
                          "ApproximateNumberOfMessagesDelayed"};
    for (int i = 0; i < (all ? 3 : 1); i++) {
        const char *s = json_string_value(json_object_get(a, keys[i]));
        ck_assert_msg(s != NULL, "no %s", keys[i]);
        n += atol(s);
    }
    json_decref(j);
    return n;
}

/* ---- local and remote homes, in forked children --------------------------------- */

/* Run fn(arg) in a forked child that opens home (durability none: the
 * tests exercise the bridge, not fsync); fn returns the exit code. */
static void
in_child(const char *home, int (*fn)(lmq_env *, void *), void *arg, int timeout_ms)
{
    int st = 0;
    pid_t pid = check_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lmq_env_opts o;
        lmq_env *env = NULL;
        lmq_env_opts_init(&o);
        o.durability = LMQ_DURABILITY_NONE;
        int rc = lmq_env_open(home, &o, &env);
        if (rc != 0) {
            fprintf(stderr, "lmq_env_open %s: %s\n", home, lmq_errmsg());
            _exit(90);
        }
        rc = fn(env, arg);
        lmq_env_close(env);
        _exit(rc);
    }
    ck_assert_msg(wait_for(pid, timeout_ms, &st), "child on %s did not end within %d ms", home,
                  timeout_ms);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child on %s: %s", home,
                  describe_status(st));
}

typedef struct qspec {
    const char *name;
    int fifo;
    const char *out; /* peek: the file of bodies */
} qspec;

static int
do_create(lmq_env *env, void *arg)
{
    qspec *q = arg;
    lmq_map *attrs = lmq_map_new();
    if (q->fifo)
        lmq_map_set(attrs, "FifoQueue", "true");
    int rc = lmq_queue_create(env, q->name, attrs, NULL, NULL);
    lmq_map_free(attrs);
    if (rc != 0)
        fprintf(stderr, "create %s: %s\n", q->name, lmq_errmsg());
    return rc == 0 ? 0 : 1;
}

static void
local_create(const char *name, int fifo)
{
    qspec q = {name, fifo, NULL};
    in_child(local_home, do_create, &q, 30000);
}

/* Every message of the queue (visible, in flight, delayed), in send order:
 * one body per line in q->out. */
static int
do_peek(lmq_env *env, void *arg)
{
    qspec *q = arg;
    lmq_peek_opts o;
    lmq_msg **msgs = NULL;
    size_t n = 0;
    FILE *f;
    lmq_peek_opts_init(&o);
    o.show_inflight = 1;
    o.show_delayed = 1;
    int rc = lmq_queue_peek(env, q->name, &o, &msgs, &n);
    if (rc != 0) {
        fprintf(stderr, "peek %s: %s\n", q->name, lmq_errmsg());
        return 1;
    }
    f = fopen(q->out, "w");
    if (!f)
        return 1;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *b = lmq_msg_body(msgs[i], &len);
        fprintf(f, "%.*s\n", (int)len, b);
    }
    lmq_msg_list_free(msgs, n);
    return fclose(f) == 0 ? 0 : 1;
}

/* The bodies of a queue of home, one per line (malloc'd); *n their count. */
static char *
peek_bodies(const char *home, const char *name, long *n)
{
    char out[320];
    tpath(out, sizeof out, "peek.txt");
    qspec q = {name, 0, out};
    unlink(out);
    in_child(home, do_peek, &q, 60000);
    char *text = slurp(out);
    *n = 0;
    for (const char *p = text; *p; p++)
        *n += *p == '\n';
    return text;
}

static long
local_count(const char *name)
{
    long n;
    free(peek_bodies(local_home, name, &n));
    return n;
}

/* Bodies: standard "m-000042"; FIFO "g2-000042" (group g2, its 42nd). */
typedef struct producer {
    const char *queue;
    int fifo, groups;
    long n;
    int64_t spread_ms; /* send over about this long */
} producer;

static int
do_produce(lmq_env *env, void *arg)
{
    producer *p = arg;
    lmq_queue *q = NULL;
    long *seq = calloc((size_t)(p->groups > 0 ? p->groups : 1), sizeof *seq);
    int64_t t0 = mono_ms();
    if (!seq || lmq_queue_open(env, p->queue, &q) != 0)
        return 1;
    for (long i = 0; i < p->n;) {
        lmq_send_entry e[10];
        lmq_send_result res[10];
        char body[10][32], group[10][16], id[10][8];
        size_t k = 0;
        for (; k < 10 && i < p->n; k++, i++) {
            lmq_send_entry_init(&e[k]);
            snprintf(id[k], sizeof id[k], "e%zu", k);
            e[k].id = id[k];
            if (p->fifo) {
                int g = (int)(i % p->groups);
                snprintf(group[k], sizeof group[k], "g%d", g);
                snprintf(body[k], sizeof body[k], "g%d-%06ld", g, seq[g]++);
                e[k].group_id = group[k];
                e[k].dedup_id = body[k];
            } else
                snprintf(body[k], sizeof body[k], "m-%06ld", i);
            e[k].body = body[k];
            e[k].body_len = SIZE_MAX;
        }
        int rc = lmq_send_batch(q, e, k, res);
        for (size_t j = 0; rc == 0 && j < k; j++)
            if (res[j].err)
                rc = res[j].err;
        if (rc != 0) {
            fprintf(stderr, "producer: send: %s\n", lmq_errmsg());
            return 1;
        }
        /* Pace the sends over spread_ms, so the bridge ships while it is
         * killed instead of before. */
        int64_t due = t0 + p->spread_ms * i / p->n;
        if (due > mono_ms())
            sleep_ms((int)(due - mono_ms()));
    }
    lmq_queue_close(q);
    free(seq);
    return 0;
}

/* ---- the bridge ----------------------------------------------------------------- */

static void
bridge_config(const char *kind, const char *local_q, const char *remote_q, int in_flight,
              int backoff_max_ms, int visibility)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"routes\":[{\"kind\":\"%s\",\"name\":\"r1\",\"local_queue\":\"%s\","
             "\"remote_url\":\"%s\",\"endpoint\":\"%s\",\"region\":\"us-east-1\","
             "\"batch_size\":10,\"in_flight\":%d,\"backoff_min_ms\":50,"
             "\"backoff_max_ms\":%d,\"visibility_timeout\":%d}]}\n",
             kind, local_q, remote_url(proxy.base, remote_q), proxy.base, in_flight,
             backoff_max_ms, visibility);
    write_file(cfg_path, text);
}

static int n_bridge_starts;

static void
bridge_start(void)
{
    const char *argv[] = {LMQ_BIN, "--home", local_home, "bridge", "--config", cfg_path, NULL};
    char mark[64];
    FILE *f = fopen(bridge_log, "a");
    if (f) {
        snprintf(mark, sizeof mark, "---- start %d\n", ++n_bridge_starts);
        fputs(mark, f);
        fclose(f);
    }
    spawn(&bridge, argv, bridge_log, NULL);
}

/* Wait (bounded) until the bridge process now running has taken its route
 * and published its status: a SIGTERM that came earlier would hit the
 * libtool wrapper script or the program before it blocks signals, and
 * that is not the graceful stop under test. */
static void
bridge_await_running(void)
{
    char pat[400];
    snprintf(pat, sizeof pat, "%s/bridge-*.status", local_home);
    for (int i = 0; i < 1000 && bridge.pid > 0; i++) {
        glob_t g;
        int found = 0;
        if (glob(pat, 0, NULL, &g) == 0) {
            for (size_t k = 0; k < g.gl_pathc && !found; k++) {
                json_t *st = json_load_file(g.gl_pathv[k], 0, NULL);
                json_t *pid = json_object_get(st, "Pid");
                found = json_is_integer(pid) &&
                        json_integer_value(pid) == (json_int_t)bridge.pid;
                json_decref(st);
            }
            globfree(&g);
        }
        if (found)
            return;
        usleep(10000);
    }
}

/* SIGKILL the bridge; it must still have been running. */
static void
bridge_kill9(void)
{
    int st = 0;
    pid_t pid = bridge.pid;
    ck_assert_int_gt(pid, 0);
    if (waitpid(pid, &st, WNOHANG) == pid) {
        bridge.pid = -1;
        ck_abort_msg("the bridge exited on its own (%s); log:\n%s", describe_status(st),
                     tail_of(bridge_log));
    }
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    bridge.pid = -1;
}

static void
bridge_assert_alive(void)
{
    int st = 0;
    if (bridge.pid > 0 && waitpid(bridge.pid, &st, WNOHANG) == bridge.pid) {
        bridge.pid = -1;
        ck_abort_msg("the bridge exited on its own (%s); log:\n%s", describe_status(st),
                     tail_of(bridge_log));
    }
}

/* `lmq bridge --help` works: the bridge has landed in the CLI. */
static void
require_bridge(void)
{
    int st = 0;
    char log[320];
    proc p;
    proc_reset(&p);
    tpath(log, sizeof log, "bridge-help.log");
    const char *argv[] = {LMQ_BIN, "bridge", "--help", NULL};
    spawn(&p, argv, log, NULL);
    ck_assert_msg(wait_for(p.pid, 20000, &st), "lmq bridge --help hangs");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "`lmq bridge --help` failed (%s): the bridge is not in the CLI; output:\n%s",
                  describe_status(st), tail_of(log));
}

/* The fault phases the remote flaps through; the first is a flap of every
 * mode in `mix`. */
static void
flap_phase(const char *mix)
{
    char text[512];
    switch (rnd(6)) {
    case 0:
    case 1:
        snprintf(text, sizeof text, "mode flap\nseed %u\ndelay_ms %u\nflap %s\n", rnd(100000),
                 50 + rnd(250), mix);
        break;
    case 2:
        snprintf(text, sizeof text, "mode drop\n");
        break;
    case 3:
        snprintf(text, sizeof text, "mode pass\n");
        break;
    case 4:
        snprintf(text, sizeof text, "mode %s\n", rnd(2) ? "throttle400" : "throttle403");
        break;
    default:
        snprintf(text, sizeof text, "mode error500\n");
        break;
    }
    proxy_mode(text);
}

/* Run the bridge through `kills` SIGKILLs at random moments (every 300 to
 * 1,500 ms) while the remote flaps, then leave it running on a healthy
 * remote. */
static void
chaos(int kills, const char *mix)
{
    int64_t next_kill = mono_ms() + 300 + rnd(1200);
    int64_t next_phase = mono_ms();
    bridge_start();
    for (int k = 0; k < kills;) {
        int64_t now = mono_ms();
        if (now >= next_phase) {
            flap_phase(mix);
            next_phase = now + 150 + rnd(650);
        }
        if (now >= next_kill) {
            bridge_kill9();
            k++;
            bridge_start();
            next_kill = now + 300 + rnd(1200);
        }
        sleep_ms(20);
    }
    proxy_mode("mode pass\n");
}

/* ---- the proxy itself --------------------------------------------------------- */

static void
proxy_env(const char *mode)
{
    lmqd_start();
    proxy_start(mode);
}

START_TEST(proxy_pass_exact)
{
    resp a, b;
    char host[160], body[600];
    json_error_t e;
    proxy_env("mode pass\n");
    remote_create("q", 0, 30);

    /* A SendMessage through the proxy reaches lmqd and its answer comes
     * back. */
    snprintf(body, sizeof body, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"hello \\u00e9\"}",
             remote_url(proxy.base, "q"));
    sqs_post(proxy.base, "SendMessage", body, NULL, REQ_MS, &a);
    ck_assert_msg(a.rc == CURLE_OK && a.status == 200, "SendMessage via proxy: %s %ld %s",
                  curl_easy_strerror(a.rc), a.status, a.body);
    json_t *j = json_loadb(a.body, a.len, 0, &e);
    ck_assert_ptr_nonnull(j);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(j, "MessageId")));
    json_decref(j);
    resp_free(&a);
    ck_assert_int_eq(remote_count("q", 0), 1);

    /* Byte-exact: the same request through the proxy and directly with the
     * proxy's Host gives the same body (QueueUrl is built from Host, so
     * this also shows Host is forwarded). */
    snprintf(body, sizeof body, "{\"QueueName\":\"q\"}");
    sqs_post(proxy.base, "GetQueueUrl", body, NULL, REQ_MS, &a);
    snprintf(host, sizeof host, "Host: %s", proxy.base + strlen("http://"));
    sqs_post(lmqd.base, "GetQueueUrl", body, host, REQ_MS, &b);
    ck_assert_int_eq(a.status, 200);
    ck_assert_int_eq(b.status, 200);
    ck_assert_msg(a.len == b.len && memcmp(a.body, b.body, a.len) == 0,
                  "via proxy: %s\ndirect: %s", a.body, b.body);
    ck_assert_msg(strstr(a.body, proxy.base) != NULL, "QueueUrl does not name the proxy: %s",
                  a.body);
    ck_assert_msg(strstr(a.hdr, "x-amzn-RequestId:") != NULL, "headers not copied:\n%s", a.hdr);
    resp_free(&a);
    resp_free(&b);

    /* A body of 200 KB round-trips exactly. */
    {
        size_t big = 200 * 1024;
        char *msg = malloc(big + 1), *req = malloc(big + 512);
        ck_assert_ptr_nonnull(msg);
        ck_assert_ptr_nonnull(req);
        for (size_t i = 0; i < big; i++)
            msg[i] = (char)('a' + i % 26);
        msg[big] = '\0';
        snprintf(req, big + 512, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"%s\"}",
                 remote_url(proxy.base, "q"), msg);
        sqs_post(proxy.base, "SendMessage", req, NULL, REQ_MS, &a);
        ck_assert_int_eq(a.status, 200);
        resp_free(&a);
        snprintf(req, big + 512,
                 "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":10,\"VisibilityTimeout\":30}",
                 remote_url(proxy.base, "q"));
        sqs_post(proxy.base, "ReceiveMessage", req, NULL, REQ_MS, &a);
        ck_assert_int_eq(a.status, 200);
        j = json_loadb(a.body, a.len, 0, &e);
        ck_assert_ptr_nonnull(j);
        int found = 0;
        json_t *m;
        size_t i;
        json_array_foreach(json_object_get(j, "Messages"), i, m)
        {
            const char *s = json_string_value(json_object_get(m, "Body"));
            found += s && strcmp(s, msg) == 0;
        }
        ck_assert_int_eq(found, 1);
        json_decref(j);
        resp_free(&a);
        free(msg);
        free(req);
    }
    ck_assert_int_eq(proxy_stat("pass"), 4);
    stop_clean(&proxy, "faultproxy");
    stop_clean(&lmqd, "lmqd");
}
END_TEST

static void
assert_error(const resp *r, long status, const char *code)
{
    char qe[128];
    ck_assert_msg(r->rc == CURLE_OK && r->status == status, "%s: %s, HTTP %ld (want %ld)", code,
                  curl_easy_strerror(r->rc), r->status, status);
    ck_assert_msg(strstr(r->body, "\"__type\":\"com.amazonaws.sqs#") &&
                      strstr(r->body, code),
                  "%s: body %s", code, r->body);
    snprintf(qe, sizeof qe, "x-amzn-query-error: %s;", code);
    ck_assert_msg(strstr(r->hdr, qe) != NULL, "%s: headers\n%s", code, r->hdr);
}

START_TEST(proxy_faults)
{
    resp r;
    char body[300];
    int64_t t0;
    proxy_env("mode error500\n");
    remote_create("q", 0, 30);
    snprintf(body, sizeof body, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"x\"}",
             remote_url(proxy.base, "q"));

    sqs_post(proxy.base, "SendMessage", body, NULL, REQ_MS, &r);
    assert_error(&r, 500, "InternalFailure");
    resp_free(&r);
    proxy_mode("mode throttle400\n");
    sqs_post(proxy.base, "SendMessage", body, NULL, REQ_MS, &r);
    assert_error(&r, 400, "ThrottlingException");
    ck_assert_msg(strstr(r.hdr, "ThrottlingException;Sender"), "%s", r.hdr);
    resp_free(&r);
    proxy_mode("mode throttle403\n");
    sqs_post(proxy.base, "SendMessage", body, NULL, REQ_MS, &r);
    assert_error(&r, 403, "RequestThrottled");
    resp_free(&r);

    /* drop: the connection closes with no answer, nothing reaches lmqd. */
    proxy_mode("mode drop\n");
    sqs_post(proxy.base, "SendMessage", body, NULL, REQ_MS, &r);
    ck_assert_msg(r.rc == CURLE_GOT_NOTHING || r.rc == CURLE_RECV_ERROR,
                  "drop: %s, HTTP %ld", curl_easy_strerror(r.rc), r.status);
    resp_free(&r);
    ck_assert_int_eq(remote_count("q", 1), 0);

    /* lose: lmqd acts, the answer is lost. */
    proxy_mode("mode lose\n");
    sqs_post(proxy.base, "SendMessage", body, NULL, REQ_MS, &r);
    ck_assert_msg(r.rc == CURLE_GOT_NOTHING || r.rc == CURLE_RECV_ERROR, "lose: %s, HTTP %ld",
                  curl_easy_strerror(r.rc), r.status);
    resp_free(&r);
    ck_assert_int_eq(remote_count("q", 1), 1);

    /* delay */
    proxy_mode("mode delay\ndelay_ms 300\n");
    t0 = mono_ms();
    sqs_post(proxy.base, "SendMessage", body, NULL, REQ_MS, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_ge(mono_ms() - t0, 290);
    resp_free(&r);

    /* blackhole: the client times out; nothing reaches lmqd. */
    proxy_mode("mode blackhole\n");
    t0 = mono_ms();
    sqs_post(proxy.base, "SendMessage", body, NULL, 700, &r);
    ck_assert_msg(r.rc == CURLE_OPERATION_TIMEDOUT, "blackhole: %s, HTTP %ld",
                  curl_easy_strerror(r.rc), r.status);
    ck_assert_int_ge(mono_ms() - t0, 650);
    resp_free(&r);
    ck_assert_int_eq(remote_count("q", 1), 2);

    /* after N: two errors, then pass. */
    proxy_mode("mode error500\nafter 2 pass\n");
    for (int i = 0; i < 3; i++) {
        sqs_post(proxy.base, "SendMessage", body, NULL, REQ_MS, &r);
        ck_assert_int_eq(r.status, i < 2 ? 500 : 200);
        resp_free(&r);
    }

    /* flap: seeded, weighted. */
    proxy_mode("mode flap\nseed 3\nflap pass=50 error500=50\n");
    int n500 = 0, n200 = 0;
    for (int i = 0; i < 40; i++) {
        sqs_post(proxy.base, "SendMessage", body, NULL, REQ_MS, &r);
        n500 += r.status == 500;
        n200 += r.status == 200;
        resp_free(&r);
    }
    ck_assert_int_eq(n500 + n200, 40);
    ck_assert_int_ge(n500, 8);
    ck_assert_int_ge(n200, 8);

    ck_assert_int_eq(proxy_stat("requests"), 3 + 2 + 1 + 1 + 3 + 40);
    ck_assert_int_eq(proxy_stat("drop"), 1);
    ck_assert_int_eq(proxy_stat("lose"), 1);
    ck_assert_int_eq(proxy_stat("blackhole"), 1);
    ck_assert_int_eq(proxy_stat("error500"), 1 + 2 + n500);
    stop_clean(&proxy, "faultproxy");
    stop_clean(&lmqd, "lmqd");
}
END_TEST

/* ---- forward -------------------------------------------------------------------- */

#define FWD_IN_FLIGHT 4
#define FWD_BATCH 10
#define PULL_IN_FLIGHT 4
#define FWD_VISIBILITY 5 /* s: messages of a killed bridge come back soon */

/* Wait until the local queue is empty and the remote holds at least want
 * messages; fails after bound_ms with the bridge's log. */
static void
wait_drained(const char *local_q, const char *remote_q, long want, int bound_ms)
{
    int64_t deadline = mono_ms() + bound_ms;
    long lc = -1, rc = -1;
    for (;;) {
        bridge_assert_alive();
        rc = remote_count(remote_q, 1);
        if (rc >= want) {
            lc = local_count(local_q);
            if (lc == 0)
                return;
        }
        ck_assert_msg(mono_ms() < deadline,
                      "not drained within %d ms: local %ld, remote %ld of %ld; bridge log:\n%s",
                      bound_ms, lc, rc, want, tail_of(bridge_log));
        sleep_ms(250);
    }
}

static void
forward_run(int fifo)
{
    long n = long_mode ? 10000 : 1000;
    int kills = kill_count(), groups = 4;
    const char *lq = fifo ? "jobs.fifo" : "jobs", *rq = fifo ? "remote.fifo" : "remote";
    int64_t t0 = mono_ms();
    /* sends spread over about the time the kills take (~0.9 s each) */
    producer p = {lq, fifo, groups, n, long_mode ? 60000 : kills * 800};

    require_bridge();
    lmqd_start();
    proxy_start("mode pass\n");
    remote_create(rq, fifo, 30);
    local_create(lq, fifo);
    bridge_config("forward", lq, rq, FWD_IN_FLIGHT, 1000, FWD_VISIBILITY);

    /* The producer sends while the bridge ships, is killed and restarted,
     * and the remote flaps. FIFO also loses answers after the remote acted:
     * the deduplication id must absorb the resends. */
    pid_t prod = check_fork();
    ck_assert_int_ge(prod, 0);
    if (prod == 0) {
        lmq_env_opts o;
        lmq_env *env = NULL;
        lmq_env_opts_init(&o);
        o.durability = LMQ_DURABILITY_NONE;
        if (lmq_env_open(local_home, &o, &env) != 0)
            _exit(90);
        int rc = do_produce(env, &p);
        lmq_env_close(env);
        _exit(rc);
    }
    chaos(kills, fifo ? "pass=45 drop=10 delay=10 error500=10 throttle400=10 throttle403=5 "
                        "lose=10"
                      : "pass=45 drop=15 delay=10 error500=15 throttle400=10 throttle403=5");
    int st = 0;
    ck_assert_msg(wait_for(prod, 120000, &st), "producer did not finish");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer: %s", describe_status(st));
    wait_drained(lq, rq, n, long_mode ? 300000 : 90000);
    bridge_await_running();
    stop_clean(&bridge, "lmq bridge");
    long requests = proxy_stat("requests");
    stop_clean(&proxy, "faultproxy");
    stop_clean(&lmqd, "lmqd");

    /* Every process is gone: read the remote home. */
    long got = 0, dups = 0, missing = 0, order_bad = 0;
    char *text = peek_bodies(remote_home, rq, &got);
    unsigned char *seen = calloc((size_t)n, 1);
    long last[4] = {-1, -1, -1, -1};
    ck_assert_ptr_nonnull(seen);
    for (char *line = text; *line;) {
        char *eol = strchr(line, '\n');
        long i = -1;
        int g = 0;
        *eol = '\0';
        if (fifo) {
            long s;
            ck_assert_msg(sscanf(line, "g%d-%ld", &g, &s) == 2 && g >= 0 && g < groups,
                          "unexpected remote body \"%s\"", line);
            if (s <= last[g])
                order_bad++;
            last[g] = s;
            i = s * groups + g;
        } else
            ck_assert_msg(sscanf(line, "m-%ld", &i) == 1, "unexpected remote body \"%s\"", line);
        ck_assert_msg(i >= 0 && i < n, "unexpected remote body \"%s\"", line);
        if (seen[i]++)
            dups++;
        line = eol + 1;
    }
    for (long i = 0; i < n; i++)
        missing += !seen[i];
    fprintf(stderr,
            "forward %s: %ld messages, %d kills, %ld remote copies, %ld duplicates, "
            "%ld proxy requests, %.1f s\n",
            fifo ? "fifo" : "standard", n, kills, got, dups, requests,
            (double)(mono_ms() - t0) / 1000.0);
    free(seen);
    free(text);
    ck_assert_msg(missing == 0, "%ld of %ld messages never arrived", missing, n);
    if (fifo) {
        ck_assert_msg(dups == 0, "FIFO: %ld duplicates", dups);
        ck_assert_msg(order_bad == 0, "FIFO: %ld messages out of group order", order_bad);
    } else
        ck_assert_msg(dups <= (long)kills * FWD_IN_FLIGHT * FWD_BATCH,
                      "%ld duplicates from %d kills (at most %d each)", dups, kills,
                      FWD_IN_FLIGHT * FWD_BATCH);
}

START_TEST(forward_standard_kills)
{
    forward_run(0);
}
END_TEST

START_TEST(forward_fifo_kills)
{
    forward_run(1);
}
END_TEST

/* ---- pull ------------------------------------------------------------------------- */

/* Pull N remote messages (FIFO: 4 groups, into a local FIFO queue) while
 * the bridge is killed and the remote flaps. docs/BRIDGE.md: the remote
 * MessageIds a route committed are kept in HOME/bridge-<route>.seen, so a
 * restarted bridge drops their repeats (its remote delete lost or not yet
 * made); only a kill between a batch's local commit and that file's write
 * repeats the batch, and a FIFO local queue's deduplication id drops even
 * those. So: nothing lost; FIFO exactly once in group order; standard
 * duplicates bounded by the kills, counted and printed. */
static void
pull_run(int fifo)
{
    long n = long_mode ? 5000 : 500, got = 0, dups = 0, missing = 0, order_bad = 0;
    int kills = kill_count(), groups = 4;
    const char *rq = fifo ? "upstream.fifo" : "upstream", *lq = fifo ? "inbox.fifo" : "inbox";
    int64_t t0 = mono_ms();

    require_bridge();
    lmqd_start();
    proxy_start("mode pass\n");
    remote_create(rq, fifo, 30);
    local_create(lq, fifo);
    for (long i = 0; i < n; i += 10) {
        json_t *entries = json_array();
        for (long k = i; k < i + 10 && k < n; k++) {
            char id[16], body[32], group[16];
            snprintf(id, sizeof id, "e%ld", k - i);
            if (fifo) {
                snprintf(group, sizeof group, "g%ld", k % groups);
                snprintf(body, sizeof body, "g%ld-%06ld", k % groups, k / groups);
                json_array_append_new(entries,
                                      json_pack("{s:s,s:s,s:s,s:s}", "Id", id, "MessageBody",
                                                body, "MessageGroupId", group,
                                                "MessageDeduplicationId", body));
            } else {
                snprintf(body, sizeof body, "m-%06ld", k);
                json_array_append_new(entries,
                                      json_pack("{s:s,s:s}", "Id", id, "MessageBody", body));
            }
        }
        json_t *j = sqs_ok("SendMessageBatch",
                           json_pack("{s:s,s:o}", "QueueUrl", remote_url(lmqd.base, rq),
                                     "Entries", entries));
        ck_assert_int_eq(json_array_size(json_object_get(j, "Successful")), 10);
        json_decref(j);
    }
    /* Remote receives by the bridge use visibility_timeout 5 s: what a
     * killed bridge held comes back soon. Lost answers (the remote acted)
     * test both ways a repeat arises: a receive whose messages the bridge
     * never saw, a delete that the bridge believes failed. */
    bridge_config("pull", lq, rq, PULL_IN_FLIGHT, 1000, 5);
    chaos(kills, "pass=45 drop=10 delay=10 error500=10 throttle400=10 throttle403=5 lose=10");

    int64_t deadline = mono_ms() + (long_mode ? 300000 : 90000);
    long rc = -1, lc = -1;
    for (;;) {
        bridge_assert_alive();
        rc = remote_count(rq, 1);
        if (rc == 0 && (lc = local_count(lq)) >= n)
            break;
        ck_assert_msg(mono_ms() < deadline,
                      "pull not done: remote still holds %ld, local has %ld of %ld; log:\n%s", rc,
                      lc, n, tail_of(bridge_log));
        sleep_ms(250);
    }
    /* Read the local queue with the bridge still running (a forked child
     * opens the home next to it), so that the stop below, checked last,
     * cannot hide what arrived. */
    long requests = proxy_stat("requests");
    char *text = peek_bodies(local_home, lq, &got);
    unsigned char *seen = calloc((size_t)n, 1);
    long last[4] = {-1, -1, -1, -1};
    ck_assert_ptr_nonnull(seen);
    for (char *line = text; *line;) {
        char *eol = strchr(line, '\n');
        long i = -1, sq;
        int g;
        *eol = '\0';
        if (fifo) {
            ck_assert_msg(sscanf(line, "g%d-%ld", &g, &sq) == 2 && g >= 0 && g < groups,
                          "unexpected local body \"%s\"", line);
            if (sq <= last[g])
                order_bad++;
            last[g] = sq;
            i = sq * groups + g;
        } else
            ck_assert_msg(sscanf(line, "m-%ld", &i) == 1, "unexpected local body \"%s\"", line);
        ck_assert_msg(i >= 0 && i < n, "unexpected local body \"%s\"", line);
        if (seen[i]++)
            dups++;
        line = eol + 1;
    }
    for (long i = 0; i < n; i++)
        missing += !seen[i];
    fprintf(stderr,
            "pull %s: %ld messages, %d kills, %ld local copies, %ld duplicates, %ld proxy "
            "requests, %.1f s\n",
            fifo ? "fifo" : "standard", n, kills, got, dups, requests,
            (double)(mono_ms() - t0) / 1000.0);
    free(seen);
    free(text);
    ck_assert_msg(missing == 0, "%ld of %ld remote messages never arrived locally", missing, n);
    if (fifo) {
        ck_assert_msg(dups == 0, "pull FIFO: %ld duplicates", dups);
        ck_assert_msg(order_bad == 0, "pull FIFO: %ld messages out of group order", order_bad);
    } else {
        ck_assert_msg(dups <= (long)kills * PULL_IN_FLIGHT * 10,
                      "pull: %ld duplicates from %d kills (at most %d each)", dups,
                      kills, PULL_IN_FLIGHT * 10);
    }
    bridge_await_running();
    stop_clean(&bridge, "lmq bridge");
    stop_clean(&proxy, "faultproxy");
    stop_clean(&lmqd, "lmqd");
}

START_TEST(pull_standard_kills)
{
    pull_run(0);
}
END_TEST

START_TEST(pull_fifo_kills)
{
    pull_run(1);
}
END_TEST

/* ---- backoff and idle -------------------------------------------------------------- */

START_TEST(backoff_then_drain)
{
    long n = 500;
    producer p = {"jobs", 0, 1, n, 0};
    require_bridge();
    lmqd_start();
    proxy_start("mode error500\n");
    remote_create("remote", 0, 30);
    local_create("jobs", 0);
    in_child(local_home, do_produce, &p, 60000);
    bridge_config("forward", "jobs", "remote", FWD_IN_FLIGHT, 1000, 30);
    bridge_start();

    /* Let it start and hit the errors, then measure 3 s of them. */
    sleep_ms(1000);
    bridge_assert_alive();
    long req0 = proxy_stat("requests"), cpu0 = cpu_ticks(bridge.pid);
    sleep_ms(3000);
    bridge_assert_alive();
    long reqs = proxy_stat("requests") - req0, cpu = cpu_ticks(bridge.pid) - cpu0;
    long hz = sysconf(_SC_CLK_TCK);
    fprintf(stderr, "backoff: %ld requests and %ld ms of CPU in 3 s of 500s\n", reqs,
            cpu * 1000 / hz);
    ck_assert_int_eq(remote_count("remote", 1), 0);
    /* backoff_max_ms 1000 with 4 requests in flight: at most about 4 x 3
     * capped retries plus the ramp; a loop without backoff makes
     * thousands. */
    ck_assert_msg(reqs < 40, "%ld requests in 3 s while the remote answered 500", reqs);
    /* ASan builds cost more; a spinning loop costs the whole 3 s. */
    ck_assert_msg(cpu * 1000 / hz <= 300, "%ld ms of CPU in 3 s of backoff", cpu * 1000 / hz);

    int64_t t0 = mono_ms();
    proxy_mode("mode pass\n");
    wait_drained("jobs", "remote", n, 20000);
    int64_t ms = mono_ms() - t0;
    fprintf(stderr, "backoff: drained %ld messages %.2f s after recovery\n", n, ms / 1000.0);
    /* backoff_max_ms 1000: the next try is at most 1 s away, then 50
     * batches at 4 in flight. */
    ck_assert_msg(ms < 8000, "backlog drained only %lld ms after recovery", (long long)ms);
    bridge_await_running();
    stop_clean(&bridge, "lmq bridge");
    stop_clean(&proxy, "faultproxy");
    stop_clean(&lmqd, "lmqd");
}
END_TEST

START_TEST(idle_no_cpu)
{
    char text[2048];
    require_bridge();
    lmqd_start();
    proxy_start("mode pass\n");
    remote_create("remote", 0, 30);
    remote_create("upstream", 0, 30);
    local_create("jobs", 0);
    local_create("inbox", 0);
    /* A forward route on an empty local queue and a pull route on an empty
     * remote queue (long polls). */
    snprintf(text, sizeof text,
             "{\"routes\":[{\"kind\":\"forward\",\"name\":\"f\",\"local_queue\":\"jobs\","
             "\"remote_url\":\"%s\",\"endpoint\":\"%s\",\"region\":\"us-east-1\"},"
             "{\"kind\":\"pull\",\"name\":\"p\",\"local_queue\":\"inbox\","
             "\"remote_url\":\"%s\",\"endpoint\":\"%s\",\"region\":\"us-east-1\","
             "\"in_flight\":1}]}\n",
             remote_url(proxy.base, "remote"), proxy.base, remote_url(proxy.base, "upstream"),
             proxy.base);
    write_file(cfg_path, text);
    bridge_start();
    sleep_ms(2000);
    bridge_assert_alive();
    long req0 = proxy_stat("requests"), cpu0 = cpu_ticks(bridge.pid);
    sleep_ms(3000);
    bridge_assert_alive();
    long reqs = proxy_stat("requests") - req0, cpu = cpu_ticks(bridge.pid) - cpu0;
    long hz = sysconf(_SC_CLK_TCK);
    fprintf(stderr, "idle: %ld requests and %ld ms of CPU in 3 s\n", reqs, cpu * 1000 / hz);
    /* A tick is 10 ms; an idle bridge sleeps on the local queue's wake-up
     * and on 20 s long polls. */
    ck_assert_msg(cpu <= 2, "idle bridge used %ld ms of CPU in 3 s", cpu * 1000 / hz);
    ck_assert_msg(reqs <= 2, "idle bridge made %ld requests in 3 s", reqs);
    bridge_await_running();
    stop_clean(&bridge, "lmq bridge");
    stop_clean(&proxy, "faultproxy");
    stop_clean(&lmqd, "lmqd");
}
END_TEST

/* A TCase named for its intent, with the checked fixture and a bound. */
static TCase *
tcase(Suite *s, const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, timeout);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *
lmq_suite_bridge_faults(void)
{
    Suite *s = suite_create("bridge_faults");
    int lm = getenv("LMQ_BRIDGE_LONG") && atoi(getenv("LMQ_BRIDGE_LONG")) > 0;
    TCase *tc = tcase(s, "proxy", 60);
    tcase_add_test(tc, proxy_pass_exact);
    tcase_add_test(tc, proxy_faults);
    tc = tcase(s, "forward", lm ? 900 : 150);
    tcase_add_test(tc, forward_standard_kills);
    tcase_add_test(tc, forward_fifo_kills);
    tc = tcase(s, "pull", lm ? 900 : 150);
    tcase_add_test(tc, pull_standard_kills);
    tcase_add_test(tc, pull_fifo_kills);
    tc = tcase(s, "backoff", 60);
    tcase_add_test(tc, backoff_then_drain);
    tc = tcase(s, "idle", 90);
    tcase_add_test(tc, idle_no_cpu);
    return s;
}

int
main(void)
{
    /* Before any test forks: curl's global state only (no env is opened). */
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        return EXIT_FAILURE;
    signal(SIGPIPE, SIG_IGN);
    int rc = lmq_test_run(lmq_suite_bridge_faults());
    curl_global_cleanup();
    return rc;
}
