/*
 * bridge_bench.c: bridge-bench, the performance targets of issue 26 for the
 * bridge (docs/BRIDGE.md), all in one run so that the ratios compare like
 * with like.
 *
 *   bridge-bench --lmqd PATH [--faultproxy PATH] [--n N] [--long]
 *                [--in-flight 1,4,8,16] [--proxy-in-flight 16,32]
 *                [--rtt-ms 20] [--rounds 200] [--idle-secs 5]
 *                [--only fwd,proxy,lat,idle] [--home DIR]
 *
 * The remote is an lmqd this program starts (`--ephemeral --durability
 * none` on a free 127.0.0.1 port; stopped by its pid). The bridge runs in
 * this process through the public API (lmq_bridge_open, add_route, start)
 * on a local home (a fresh directory under /tmp unless --home; durability
 * none), one route at a time.
 *
 *   fwd    for each in_flight (batch 10): N 100-byte messages are put into
 *          a fresh local queue, then the bridge starts and the clock runs
 *          until the route's `shipped` counter (lmq_bridge_status, read
 *          every 2 ms: accepted by the remote) reaches N; the remote's
 *          ApproximateNumberOfMessages is checked afterwards. Next to each,
 *          the direct client: in_flight threads, each one libcurl easy
 *          handle with keep-alive, sending the same messages (body and the
 *          lmq.MessageId String attribute the bridge adds) to a fresh
 *          remote queue with SendMessageBatch of 10, unsigned (lmqd runs
 *          --auth off; the bridge signs). The direct row runs first, then
 *          the bridge, per in_flight.
 *   proxy  the same through tests/faultproxy in `delay` mode. The proxy
 *          sleeps delay_ms once per request before forwarding it (in 5 ms
 *          steps), so delay_ms = --rtt-ms adds that much to every round
 *          trip; the RTT through it is measured (median of 20 unsigned
 *          GetQueueAttributes) and printed. Direct rows at the same
 *          concurrency too, for scale.
 *   lat    a bridge (in_flight 4) online and idle: a receiver thread parks
 *          a ReceiveMessage (WaitTimeSeconds 20) on the remote queue; 30 ms
 *          later the clock starts just before one local lmq_send and stops
 *          when the receive answers with the message. p50/p99 over --rounds.
 *   idle   the same bridge idle for --idle-secs (online), then lmqd stopped
 *          (offline, idle), then one local message sent so the route is in
 *          BACKOFF (offline, backlog): this process's CPU time
 *          (getrusage(RUSAGE_SELF)) over each window, and the remote's.
 *
 * Output: one JSON object per result on stdout, progress on stderr, then a
 * summary table on stderr. Everything is bounded: a forward row by 120 s,
 * a request by 30 s, the server's start by 30 s.
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lmq.h"

/* ---- options ------------------------------------------------------------ */

static struct {
    const char *lmqd, *faultproxy, *home, *only;
    const char *in_flight, *proxy_in_flight;
    long n, proxy_n;
    int rtt_ms, rounds, idle_secs;
} opt = {
    .in_flight = "1,4,8,16",
    .proxy_in_flight = "16,32",
    .n = 50000,
    .rtt_ms = 20,
    .rounds = 200,
    .idle_secs = 5,
};

static char remote_base[256]; /* http://127.0.0.1:PORT of lmqd */
static char proxy_base[256];  /* of faultproxy, "" when none */
static char body100[101];
static const char *akid, *secret;

static void
say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bridge-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static bool
wanted(const char *w)
{
    return bench_in_list(opt.only, w);
}

/* A comma list of ints into v (at most max); returns the count. */
static int
int_list(const char *s, int *v, int max)
{
    int n = 0;
    while (s && *s && n < max) {
        char *e;
        long x = strtol(s, &e, 10);
        if (e == s || x < 1 || x > 64) {
            fprintf(stderr, "bridge-bench: bad list %s\n", s);
            exit(2);
        }
        v[n++] = (int)x;
        s = *e == ',' ? e + 1 : e;
    }
    return n;
}

/* ---- processes (as in lmqd_bench.c) -------------------------------------- */

static pid_t children[8];
static int nchildren;

static void
stop_child(pid_t p)
{
    if (p <= 0)
        return;
    kill(p, SIGTERM);
    double end = now_s() + 5;
    for (;;) {
        pid_t r = waitpid(p, NULL, WNOHANG);
        if (r == p || (r < 0 && errno == ECHILD))
            break;
        if (now_s() > end) {
            kill(p, SIGKILL);
            waitpid(p, NULL, 0);
            break;
        }
        sleep_s(0.002);
    }
    for (int i = 0; i < nchildren; i++)
        if (children[i] == p)
            children[i] = children[--nchildren];
}

static void
stop_all(void)
{
    while (nchildren > 0)
        stop_child(children[nchildren - 1]);
}

static void
on_signal(int sig)
{
    for (int i = 0; i < nchildren; i++)
        kill(children[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void
die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bridge-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    stop_all();
    exit(1);
}

static int
free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0)
        die("free_port: %s", strerror(errno));
    close(s);
    return ntohs(a.sin_port);
}

/* Start argv and wait (30 s) for "ready http..." on its stdout; the URL
 * goes to url. Returns the pid. */
static pid_t
start_server(char **argv, char *url, size_t urlsz)
{
    int fd[2];
    if (pipe2(fd, O_CLOEXEC) != 0)
        die("pipe: %s", strerror(errno));
    double t0 = now_s();
    pid_t p = fork();
    if (p == 0) {
        dup2(fd[1], 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    if (p < 0)
        die("fork: %s", strerror(errno));
    children[nchildren++] = p;
    char line[512];
    size_t n = 0;
    bool ready = false;
    while (!ready) {
        double left = t0 + 30 - now_s();
        struct pollfd pf = {fd[0], POLLIN, 0};
        if (left <= 0 || poll(&pf, 1, (int)(left * 1000) + 1) <= 0)
            break;
        ssize_t r = read(fd[0], line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        line[n] = 0;
        char *h = strstr(line, "ready http");
        if (h && strchr(h, '\n')) {
            snprintf(url, urlsz, "%s", h + 6);
            url[strcspn(url, " \r\n\t")] = 0;
            ready = true;
        }
        if (n == sizeof line - 1)
            n = 0;
    }
    close(fd[0]);
    if (!ready)
        die("%s did not get ready", argv[0]);
    return p;
}

/* utime + stime of pid in seconds, or -1. */
static double
cpu_of(pid_t pid)
{
    char path[64], buf[1024];
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                            "%lu %lu",
                     &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- output ------------------------------------------------------------- */

typedef struct {
    char name[64];
    double value;
    char unit[16];
    char note[160];
} row;
static row rows[64];
static int nrows;

static void
emit(const char *name, double value, const char *unit, const char *fmt, ...)
{
    row *r = &rows[nrows < 63 ? nrows++ : 63];
    snprintf(r->name, sizeof r->name, "%s", name);
    r->value = value;
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    r->note[0] = 0;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->note, sizeof r->note, fmt, ap);
        va_end(ap);
    }
    printf("{\"row\":\"%s\",\"value\":%.3f,\"unit\":\"%s\",\"note\":\"%s\"}\n",
           r->name, value, r->unit, r->note);
    fflush(stdout);
    say("%-28s %12.1f %-8s %s", r->name, value, r->unit, r->note);
}

/* ---- HTTP: blocking unsigned AWS JSON 1.0 calls --------------------------- */

typedef struct {
    CURL *e;
    char *resp;
    size_t len, cap;
    struct curl_slist *h;
    char *req;
    size_t req_cap;
} http;

static size_t
on_write(char *p, size_t sz, size_t n, void *arg)
{
    http *c = arg;
    size_t len = sz * n;
    if (c->len + len + 1 > c->cap) {
        c->cap = (c->len + len + 1) * 2;
        c->resp = realloc(c->resp, c->cap);
    }
    memcpy(c->resp + c->len, p, len);
    c->len += len;
    c->resp[c->len] = 0;
    return len;
}

static void
http_init(http *c, const char *base)
{
    memset(c, 0, sizeof *c);
    c->e = curl_easy_init();
    c->cap = 4096;
    c->resp = malloc(c->cap);
    c->req_cap = 8192;
    c->req = malloc(c->req_cap);
    curl_easy_setopt(c->e, CURLOPT_URL, base);
    curl_easy_setopt(c->e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c->e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c->e, CURLOPT_POST, 1L);
    curl_easy_setopt(c->e, CURLOPT_PROXY, "");
}

static void
http_free(http *c)
{
    curl_easy_cleanup(c->e);
    curl_slist_free_all(c->h);
    free(c->resp);
    free(c->req);
}

/* POST action with the JSON body fmt; returns the HTTP status (0: no
 * answer). The answer is in c->resp. */
static long
http_call(http *c, const char *action, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(c->req, c->req_cap, fmt, ap);
        va_end(ap);
        if ((size_t)n < c->req_cap) {
            curl_easy_setopt(c->e, CURLOPT_POSTFIELDSIZE, (long)n);
            break;
        }
        c->req_cap = (size_t)n + 1;
        c->req = realloc(c->req, c->req_cap);
    }
    char t[96];
    curl_slist_free_all(c->h);
    c->h = curl_slist_append(NULL,
                             "Content-Type: application/x-amz-json-1.0");
    snprintf(t, sizeof t, "X-Amz-Target: AmazonSQS.%s", action);
    c->h = curl_slist_append(c->h, t);
    c->h = curl_slist_append(c->h, "Expect:");
    curl_easy_setopt(c->e, CURLOPT_HTTPHEADER, c->h);
    curl_easy_setopt(c->e, CURLOPT_POSTFIELDS, c->req);
    c->len = 0;
    c->resp[0] = 0;
    long st = 0;
    if (curl_easy_perform(c->e) == CURLE_OK)
        curl_easy_getinfo(c->e, CURLINFO_RESPONSE_CODE, &st);
    return st;
}

/* The string value of "key" in a flat JSON answer (malloc), or NULL. */
static char *
json_str(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\"", key);
    const char *p = strstr(s, k);
    if (!p)
        return NULL;
    p += strlen(k);
    while (*p == ' ' || *p == ':')
        p++;
    if (*p != '"')
        return NULL;
    const char *e = ++p;
    while (*e && *e != '"')
        e += (*e == '\\' && e[1]) ? 2 : 1;
    return strndup(p, (size_t)(e - p));
}

static char *
remote_create(const char *name)
{
    http c;
    http_init(&c, remote_base);
    long st = http_call(&c, "CreateQueue", "{\"QueueName\":\"%s\"}", name);
    char *url = st == 200 ? json_str(c.resp, "QueueUrl") : NULL;
    if (!url)
        die("CreateQueue %s: %ld %s", name, st, c.resp);
    http_free(&c);
    return url;
}

static long
remote_count(const char *qurl)
{
    http c;
    http_init(&c, remote_base);
    long st = http_call(&c, "GetQueueAttributes",
                        "{\"QueueUrl\":\"%s\",\"AttributeNames\":"
                        "[\"ApproximateNumberOfMessages\"]}",
                        qurl);
    char *v = st == 200 ? json_str(c.resp, "ApproximateNumberOfMessages")
                        : NULL;
    long n = v ? atol(v) : -1;
    free(v);
    http_free(&c);
    return n;
}

/* ---- the local side ----------------------------------------------------- */

static lmq_env *env;

static lmq_queue *
local_create(const char *name)
{
    lmq_queue *q;
    if (lmq_queue_create(env, name, NULL, NULL, NULL) != 0 ||
        lmq_queue_open(env, name, &q) != 0)
        die("local queue %s: %s", name, lmq_errmsg());
    return q;
}

static void
local_fill(lmq_queue *q, long n)
{
    lmq_send_entry e[10];
    char ids[10][4];
    for (int i = 0; i < 10; i++) {
        lmq_send_entry_init(&e[i]);
        snprintf(ids[i], sizeof ids[i], "%d", i);
        e[i].id = ids[i];
        e[i].body = body100;
        e[i].body_len = 100;
    }
    for (long left = n; left > 0; left -= 10) {
        size_t k = left < 10 ? (size_t)left : 10;
        lmq_send_result res[10];
        if (lmq_send_batch(q, e, k, res) != 0)
            die("local send: %s", lmq_errmsg());
    }
}

static lmq_bridge *
bridge_start(const char *local, const char *remote_url, const char *endpoint,
             int in_flight)
{
    lmq_bridge *b;
    lmq_route_opts o;
    lmq_route_opts_init(&o);
    o.kind = LMQ_ROUTE_FORWARD;
    o.local_queue = local;
    o.remote_url = remote_url;
    o.endpoint = endpoint;
    o.region = "us-east-1";
    o.access_key_id = akid;
    o.secret_access_key = secret;
    o.batch_size = 10;
    o.in_flight = in_flight;
    if (lmq_bridge_open(env, 0, &b) != 0)
        die("lmq_bridge_open: %s", lmq_errmsg());
    if (lmq_bridge_add_route(b, &o) != 0)
        die("lmq_bridge_add_route: %s", lmq_errmsg());
    if (lmq_bridge_start(b) != 0)
        die("lmq_bridge_start: %s", lmq_errmsg());
    return b;
}

static lmq_route_status
bridge_status(lmq_bridge *b)
{
    lmq_route_status *st, one;
    size_t n;
    memset(&one, 0, sizeof one);
    if (lmq_bridge_status(b, &st, &n) == 0) {
        if (n)
            one = st[0];
        free(st);
    }
    return one;
}

/* ---- forward throughput ------------------------------------------------- */

static int seq; /* queue names */

typedef struct {
    double rate, secs, cpu_self, cpu_remote;
} tput;

static pid_t lmqd_pid;

/* The bridge: N local messages to a fresh remote queue through endpoint. */
static tput
run_bridge(const char *endpoint, int in_flight, long n)
{
    char name[32];
    snprintf(name, sizeof name, "b%d", ++seq);
    lmq_queue *q = local_create(name);
    char *url = remote_create(name);
    local_fill(q, n);
    double c0 = self_cpu(), r0 = cpu_of(lmqd_pid);
    double t0 = now_s();
    lmq_bridge *b = bridge_start(name, url, endpoint, in_flight);
    lmq_route_status st;
    for (;;) {
        st = bridge_status(b);
        if ((long)st.shipped >= n || now_s() - t0 > 120)
            break;
        sleep_s(0.002);
    }
    double t1 = now_s();
    tput t = {n / (t1 - t0), t1 - t0, self_cpu() - c0,
              cpu_of(lmqd_pid) - r0};
    lmq_bridge_close(b);
    long have = remote_count(url);
    if ((long)st.shipped < n || have != n)
        say("WARNING %s: shipped %llu, remote has %ld of %ld (state %s: %s)",
            name, (unsigned long long)st.shipped, have, n,
            lmq_route_state_name(st.state), st.last_error);
    if (st.retried || st.dead_lettered)
        say("%s: %llu retried, %llu dead-lettered", name,
            (unsigned long long)st.retried,
            (unsigned long long)st.dead_lettered);
    lmq_queue_close(q);
    lmq_queue_delete(env, name);
    free(url);
    return t;
}

typedef struct {
    const char *base, *qurl;
    atomic_long *left;
    long done, errors;
} direct_arg;

static void *
direct_main(void *arg)
{
    direct_arg *a = arg;
    http c;
    http_init(&c, a->base);
    static atomic_long idseq;
    char ents[10 * 300];
    for (;;) {
        long k = atomic_fetch_sub(a->left, 10);
        if (k <= 0)
            break;
        int m = k < 10 ? (int)k : 10;
        size_t off = 0;
        for (int i = 0; i < m; i++) {
            /* What the bridge sends: the body and lmq.MessageId (a UUID). */
            long id = atomic_fetch_add(&idseq, 1);
            off += (size_t)snprintf(
                ents + off, sizeof ents - off,
                "%s{\"Id\":\"%d\",\"MessageBody\":\"%s\","
                "\"MessageAttributes\":{\"lmq.MessageId\":{\"DataType\":"
                "\"String\",\"StringValue\":"
                "\"6f1c2d3e-4b5a-4c6d-8e7f-%012lx\"}}}",
                i ? "," : "", i, body100, id);
        }
        long st = http_call(&c, "SendMessageBatch",
                            "{\"QueueUrl\":\"%s\",\"Entries\":[%s]}", a->qurl,
                            ents);
        const char *f = strstr(c.resp, "\"Failed\"");
        bool failed = f && !strstr(f, "\"Failed\":[]");
        if (st == 200 && !failed)
            a->done += m;
        else
            a->errors++;
    }
    http_free(&c);
    return NULL;
}

/* The direct client: n messages, conc threads, batches of 10. */
static tput
run_direct(const char *base, int conc, long n)
{
    char name[32];
    snprintf(name, sizeof name, "d%d", ++seq);
    char *url = remote_create(name);
    atomic_long left = n;
    pthread_t th[64];
    direct_arg a[64];
    double c0 = self_cpu(), r0 = cpu_of(lmqd_pid);
    double t0 = now_s();
    for (int i = 0; i < conc; i++) {
        a[i] = (direct_arg){base, url, &left, 0, 0};
        pthread_create(&th[i], NULL, direct_main, &a[i]);
    }
    long done = 0, errors = 0;
    for (int i = 0; i < conc; i++) {
        pthread_join(th[i], NULL);
        done += a[i].done;
        errors += a[i].errors;
    }
    double t1 = now_s();
    tput t = {done / (t1 - t0), t1 - t0, self_cpu() - c0,
              cpu_of(lmqd_pid) - r0};
    long have = remote_count(url);
    if (errors || have != n)
        say("WARNING %s: %ld failed requests, remote has %ld of %ld", name,
            errors, have, n);
    free(url);
    return t;
}

typedef struct {
    int conc;
    tput bridge, direct;
} pair;
static pair fwd_rows[16], proxy_rows[16];
static int nfwd, nproxy;
static double proxy_rtt_ms = -1;

static void
wl_forward(const char *endpoint, const char *label, const char *list,
           long n, pair *out, int *nout)
{
    int v[16];
    int k = int_list(list, v, 16);
    for (int i = 0; i < k; i++) {
        char rn[64];
        pair *p = &out[(*nout)++];
        p->conc = v[i];
        p->direct = run_direct(endpoint, v[i], n);
        snprintf(rn, sizeof rn, "%s direct c=%d", label, v[i]);
        emit(rn, p->direct.rate, "msgs/s",
             "%ld msgs in %.2f s; cpu bench %.2f s, lmqd %.2f s", n,
             p->direct.secs, p->direct.cpu_self, p->direct.cpu_remote);
        p->bridge = run_bridge(endpoint, v[i], n);
        snprintf(rn, sizeof rn, "%s bridge in_flight=%d", label, v[i]);
        emit(rn, p->bridge.rate, "msgs/s",
             "%ld msgs in %.2f s; cpu bench %.2f s, lmqd %.2f s; %.2fx direct",
             n, p->bridge.secs, p->bridge.cpu_self, p->bridge.cpu_remote,
             p->bridge.rate / p->direct.rate);
    }
}

/* ---- latency ------------------------------------------------------------ */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int go, done, quit;
    double t_answer;
    long status;
    const char *qurl;
} lat_state;

static void *
lat_receiver(void *arg)
{
    lat_state *s = arg;
    http c;
    http_init(&c, remote_base);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->go && !s->quit)
            pthread_cond_wait(&s->cv, &s->mu);
        int quit = s->quit;
        s->go = 0;
        pthread_mutex_unlock(&s->mu);
        if (quit)
            break;
        long st = http_call(&c, "ReceiveMessage",
                            "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":1,"
                            "\"WaitTimeSeconds\":20}",
                            s->qurl);
        double t = now_s();
        char *rh = st == 200 ? json_str(c.resp, "ReceiptHandle") : NULL;
        if (!rh)
            st = -st;
        else
            http_call(&c, "DeleteMessage",
                      "{\"QueueUrl\":\"%s\",\"ReceiptHandle\":\"%s\"}",
                      s->qurl, rh);
        free(rh);
        pthread_mutex_lock(&s->mu);
        s->t_answer = t;
        s->status = st;
        s->done = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    http_free(&c);
    return NULL;
}

static int
cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
pct(const double *v, int n, double p)
{
    int i = (int)(p * n);
    return v[i >= n ? n - 1 : i];
}

static double lat_p50 = -1, lat_p99 = -1, lat_max = -1;
static double idle_cpu[3] = {-1, -1, -1}, idle_cpu_remote = -1;
static char offline_state[32];

/* One round: park a receive, send locally, time to the answer. */
static double
lat_round(lat_state *s, lmq_queue *q)
{
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = body100;
    e.body_len = 100;
    pthread_mutex_lock(&s->mu);
    s->go = 1;
    s->done = 0;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    sleep_s(0.030); /* the receive is parked in lmqd by now */
    double t0 = now_s();
    if (lmq_send(q, &e, NULL) != 0)
        die("local send: %s", lmq_errmsg());
    pthread_mutex_lock(&s->mu);
    while (!s->done)
        pthread_cond_wait(&s->cv, &s->mu);
    double t = s->t_answer - t0;
    long st = s->status;
    pthread_mutex_unlock(&s->mu);
    if (st != 200)
        die("latency receive failed (%ld)", st);
    return t;
}

static void
cpu_window(const char *label, int i, lmq_bridge *b)
{
    double c0 = self_cpu(), r0 = cpu_of(lmqd_pid), t0 = now_s();
    sleep_s(opt.idle_secs);
    double c = self_cpu() - c0, t = now_s() - t0;
    idle_cpu[i] = c;
    lmq_route_status st = bridge_status(b);
    char rn[64];
    snprintf(rn, sizeof rn, "idle cpu %s", label);
    if (i == 0) {
        idle_cpu_remote = cpu_of(lmqd_pid) - r0;
        emit(rn, c * 1000, "ms", "over %.1f s (%.4f%% of a core); lmqd %.0f ms;"
             " route %s", t, 100 * c / t, idle_cpu_remote * 1000,
             lmq_route_state_name(st.state));
    } else {
        emit(rn, c * 1000, "ms", "over %.1f s (%.4f%% of a core); route %s, "
             "%llu retried", t, 100 * c / t, lmq_route_state_name(st.state),
             (unsigned long long)st.retried);
    }
    if (i == 2)
        snprintf(offline_state, sizeof offline_state, "%s",
                 lmq_route_state_name(st.state));
}

static void
wl_latency_idle(void)
{
    lmq_queue *q = local_create("lat");
    char *url = remote_create("lat");
    lmq_bridge *b = bridge_start("lat", url, remote_base, 4);
    lat_state s = {.qurl = url};
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    pthread_t th;
    pthread_create(&th, NULL, lat_receiver, &s);
    if (wanted("lat")) {
        int n = opt.rounds;
        double *v = calloc((size_t)n, sizeof *v);
        for (int i = 0; i < 3; i++) /* warm-up: connections, pages */
            lat_round(&s, q);
        for (int i = 0; i < n; i++)
            v[i] = lat_round(&s, q);
        qsort(v, (size_t)n, sizeof *v, cmp_d);
        lat_p50 = pct(v, n, 0.50) * 1000;
        lat_p99 = pct(v, n, 0.99) * 1000;
        lat_max = v[n - 1] * 1000;
        emit("latency send->remote p50", lat_p50, "ms", "%d rounds", n);
        emit("latency send->remote p99", lat_p99, "ms", "max %.2f ms",
             lat_max);
        free(v);
    }
    pthread_mutex_lock(&s.mu);
    s.quit = 1;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    pthread_join(th, NULL);
    if (wanted("idle")) {
        sleep_s(1); /* settle */
        cpu_window("online", 0, b);
        stop_child(lmqd_pid);
        lmqd_pid = 0;
        cpu_window("offline, idle", 1, b);
        lmq_send_entry e;
        lmq_send_entry_init(&e);
        e.body = body100;
        e.body_len = 100;
        if (lmq_send(q, &e, NULL) != 0)
            die("local send: %s", lmq_errmsg());
        sleep_s(1); /* the route finds the remote gone */
        cpu_window("offline, backlog", 2, b);
    }
    lmq_bridge_close(b);
    lmq_queue_close(q);
    free(url);
}

/* ---- main --------------------------------------------------------------- */

static void
usage(void)
{
    fprintf(stderr,
            "usage: bridge-bench --lmqd PATH [--faultproxy PATH] [--n N] "
            "[--long]\n"
            "         [--in-flight 1,4,8,16] [--proxy-in-flight 16,32] "
            "[--rtt-ms 20]\n"
            "         [--rounds 200] [--idle-secs 5] "
            "[--only fwd,proxy,lat,idle] [--home DIR]\n");
}

static const char *
met(bool ok)
{
    return ok ? "met" : "**missed**";
}

int
main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"lmqd", required_argument, NULL, 'l'},
        {"faultproxy", required_argument, NULL, 'f'},
        {"n", required_argument, NULL, 'n'},
        {"long", no_argument, NULL, 'L'},
        {"in-flight", required_argument, NULL, 'i'},
        {"proxy-in-flight", required_argument, NULL, 'p'},
        {"rtt-ms", required_argument, NULL, 'r'},
        {"rounds", required_argument, NULL, 'R'},
        {"idle-secs", required_argument, NULL, 's'},
        {"only", required_argument, NULL, 'o'},
        {"home", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'l': opt.lmqd = optarg; break;
        case 'f': opt.faultproxy = optarg; break;
        case 'n': opt.n = atol(optarg); break;
        case 'L': opt.n = 200000; break;
        case 'i': opt.in_flight = optarg; break;
        case 'p': opt.proxy_in_flight = optarg; break;
        case 'r': opt.rtt_ms = atoi(optarg); break;
        case 'R': opt.rounds = atoi(optarg); break;
        case 's': opt.idle_secs = atoi(optarg); break;
        case 'o': opt.only = optarg; break;
        case 'H': opt.home = optarg; break;
        case 'h': usage(); return 0;
        default: usage(); return 2;
        }
    }
    if (!opt.lmqd || opt.n < 10 || opt.rounds < 1 || opt.idle_secs < 1) {
        usage();
        return 2;
    }
    if (!opt.proxy_n)
        opt.proxy_n = opt.n;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    memset(body100, 'x', 100);
    akid = getenv("AWS_ACCESS_KEY_ID") ? getenv("AWS_ACCESS_KEY_ID") : "test";
    secret = getenv("AWS_SECRET_ACCESS_KEY") ? getenv("AWS_SECRET_ACCESS_KEY")
                                             : "test";

    /* The remote. */
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", free_port());
    char *sargv[] = {(char *)opt.lmqd, "--ephemeral", "--durability", "none",
                     "--listen", listen, "--quiet", NULL};
    lmqd_pid = start_server(sargv, remote_base, sizeof remote_base);
    say("lmqd %s (pid %d)", remote_base, (int)lmqd_pid);

    /* The local home. */
    char tmpl[] = "/tmp/bridge-bench.XXXXXX";
    const char *home = opt.home;
    if (!home) {
        home = mkdtemp(tmpl);
        if (!home)
            die("mkdtemp: %s", strerror(errno));
    }
    lmq_env_opts eo;
    lmq_env_opts_init(&eo);
    eo.durability = LMQ_DURABILITY_NONE;
    if (lmq_env_open(home, &eo, &env) != 0)
        die("lmq_env_open %s: %s", home, lmq_errmsg());
    say("local home %s", home);

    if (wanted("fwd"))
        wl_forward(remote_base, "loopback", opt.in_flight, opt.n, fwd_rows,
                   &nfwd);

    pid_t proxy_pid = 0;
    char ctl[300] = "";
    if (wanted("proxy") && opt.faultproxy) {
        snprintf(ctl, sizeof ctl, "%s/faultproxy.ctl", home);
        FILE *f = fopen(ctl, "w");
        if (!f)
            die("%s: %s", ctl, strerror(errno));
        /* delay: one sleep of delay_ms per request before it is forwarded,
         * so the round trip grows by delay_ms. */
        fprintf(f, "mode delay\ndelay_ms %d\n", opt.rtt_ms);
        fclose(f);
        char plisten[64];
        snprintf(plisten, sizeof plisten, "127.0.0.1:%d", free_port());
        char *pargv[] = {(char *)opt.faultproxy, "--listen", plisten,
                         "--upstream", remote_base, "--control", ctl, NULL};
        proxy_pid = start_server(pargv, proxy_base, sizeof proxy_base);
        say("faultproxy %s (pid %d), delay %d ms", proxy_base,
            (int)proxy_pid, opt.rtt_ms);
        /* The round trip through it. */
        http c;
        http_init(&c, proxy_base);
        char *u = remote_create("rtt");
        double v[21];
        for (int i = 0; i < 21; i++) {
            double t0 = now_s();
            if (http_call(&c, "GetQueueAttributes",
                          "{\"QueueUrl\":\"%s\",\"AttributeNames\":[\"All\"]}",
                          u) != 200)
                die("GetQueueAttributes through the proxy failed");
            v[i] = (now_s() - t0) * 1000;
        }
        http_free(&c);
        free(u);
        qsort(v + 1, 20, sizeof *v, cmp_d); /* v[0]: the connect */
        proxy_rtt_ms = v[1 + 10];
        emit("proxy round trip p50", proxy_rtt_ms, "ms",
             "GetQueueAttributes through faultproxy, delay_ms %d",
             opt.rtt_ms);
        wl_forward(proxy_base, "rtt", opt.proxy_in_flight, opt.proxy_n,
                   proxy_rows, &nproxy);
        stop_child(proxy_pid);
    } else if (wanted("proxy")) {
        say("no --faultproxy: the latency-injected rows are skipped");
    }

    if (wanted("lat") || wanted("idle"))
        wl_latency_idle();

    stop_all();
    lmq_env_close(env);

    /* The summary (markdown). */
    double best_b = 0, best_d = 0, best_ratio = 0, min_ratio = 1e9;
    for (int i = 0; i < nfwd; i++) {
        double r = fwd_rows[i].bridge.rate / fwd_rows[i].direct.rate;
        if (fwd_rows[i].bridge.rate > best_b)
            best_b = fwd_rows[i].bridge.rate;
        if (fwd_rows[i].direct.rate > best_d)
            best_d = fwd_rows[i].direct.rate;
        best_ratio = r > best_ratio ? r : best_ratio;
        min_ratio = r < min_ratio ? r : min_ratio;
    }
    fprintf(stderr, "\n| row | bridge | direct client | bridge/direct |\n"
                    "|---|---:|---:|---:|\n");
    for (int i = 0; i < nfwd; i++)
        fprintf(stderr, "| loopback, batch 10, in_flight %d | %.0f msgs/s | "
                        "%.0f msgs/s | %.2f× |\n",
                fwd_rows[i].conc, fwd_rows[i].bridge.rate,
                fwd_rows[i].direct.rate,
                fwd_rows[i].bridge.rate / fwd_rows[i].direct.rate);
    for (int i = 0; i < nproxy; i++)
        fprintf(stderr, "| +%d ms RTT (measured %.1f ms), in_flight %d | "
                        "%.0f msgs/s | %.0f msgs/s | %.2f× |\n",
                opt.rtt_ms, proxy_rtt_ms, proxy_rows[i].conc,
                proxy_rows[i].bridge.rate, proxy_rows[i].direct.rate,
                proxy_rows[i].bridge.rate / proxy_rows[i].direct.rate);
    fprintf(stderr, "\n| target (issue 26) | measured | met? |\n"
                    "|---|---|---|\n");
    if (nfwd) {
        fprintf(stderr, "| forward loopback ≥ 5,000 msgs/s | best %.0f "
                        "msgs/s | %s |\n",
                best_b, met(best_b >= 5000));
        fprintf(stderr, "| forward ≥ 0.5× direct, same batching and "
                        "concurrency | %.2f-%.2f× | %s |\n",
                min_ratio, best_ratio, met(min_ratio >= 0.5));
    }
    if (nproxy) {
        double bp = 0;
        for (int i = 0; i < nproxy; i++)
            bp = proxy_rows[i].bridge.rate > bp ? proxy_rows[i].bridge.rate
                                                : bp;
        fprintf(stderr, "| forward, +20 ms RTT ≥ 2,000 msgs/s | best %.0f "
                        "msgs/s | %s |\n",
                bp, met(bp >= 2000));
    }
    if (lat_p50 >= 0)
        fprintf(stderr, "| local send -> remote, idle, p50 ≤ 5 ms | p50 "
                        "%.2f ms, p99 %.2f ms | %s |\n",
                lat_p50, lat_p99, met(lat_p50 <= 5));
    if (idle_cpu[0] >= 0)
        fprintf(stderr, "| idle/offline: no measurable CPU | online %.1f ms, "
                        "offline idle %.1f ms, offline with backlog (%s) "
                        "%.1f ms per %d s | %s |\n",
                idle_cpu[0] * 1000, idle_cpu[1] * 1000, offline_state,
                idle_cpu[2] * 1000, opt.idle_secs,
                met(idle_cpu[0] < 0.001 * opt.idle_secs &&
                    idle_cpu[1] < 0.001 * opt.idle_secs &&
                    idle_cpu[2] < 0.001 * opt.idle_secs));
    (void)best_d;
    curl_global_cleanup();
    if (!opt.home) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
        if (system(cmd) != 0)
            say("could not remove %s", home);
    }
    return 0;
}
