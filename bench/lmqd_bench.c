/*
 * lmqd_bench.c: lmqd-bench, a load client for lmqd (or any server that
 * speaks SQS's AWS JSON 1.0 protocol, such as fauxqs), for the performance
 * targets of issue 21.
 *
 *   lmqd-bench --lmqd PATH [--durability MODE] [--home DIR] [options]
 *   lmqd-bench --url URL [--pid PID] [options]
 *
 * With --lmqd it starts lmqd itself (an ephemeral home unless --home, on a
 * free 127.0.0.1 port) and stops it by its pid at the end; with --url it
 * loads a server someone else started, and reads that server's CPU time and
 * memory from /proc when given its --pid.
 *
 * Workloads (--only, comma list; all by default):
 *   send      SendMessage, 100-byte body, from 1 and from 64 connections
 *   recv      ReceiveMessage (up to 10) + DeleteMessageBatch of those, from
 *             1 and 64 connections, on a queue filled beforehand
 *   lat       SendMessage round trips, one at a time on one connection
 *   wake      one connection parked in ReceiveMessage (WaitTimeSeconds 20),
 *             another sends: time from the send's 200 to the receive's 200
 *   mature    a DelaySeconds=1 send, and a VisibilityTimeout=1 receive, each
 *             followed by a waiting receive: how late past 1 s it returns
 *   idle      1,000 connections parked in ReceiveMessage (WaitTimeSeconds
 *             20): the server's CPU over 10 s and its resident memory
 *   backlog   receive 10 + delete 10 with 1k queued against 100k queued
 *             (1M with --long); the small queue is refilled untimed
 *   startup   fork/exec the server to its ready line (median of 20), and its
 *             resident memory once idle
 *
 * How: every connection is one libcurl easy handle with keep-alive; many
 * connections are driven by one curl multi per client thread (default one
 * thread), each connection a small state machine (a step function that sees
 * the last response and sets the next request). The probes that measure one
 * event at a time (wake, mature) use blocking easy handles in their own
 * threads. Each throughput row also reports the CPU the server and this
 * client used (cores busy over the row), so a reader can see which side was
 * the bottleneck.
 *
 * Output: one JSON object per result on stdout; progress on stderr.
 * Everything is bounded: rows by --secs and by count, every request by a
 * 30 s timeout, server start by 30 s; every process this program starts is
 * stopped by its pid (SIGTERM, then SIGKILL after 5 s).
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- options ------------------------------------------------------------ */

static struct {
    const char *lmqd, *durability, *home, *url, *only, *label, *start_cmd;
    const char *workers;
    bool raw; /* --engine raw */
    pid_t pid;
    double secs;
    bool longrun;
    int client_threads;
    long prefill;
    int startup_runs, idle_conns, idle_secs, mature_rounds, wake_rounds;
} opt = {
    .durability = "none",
    .secs = 2,
    .client_threads = 1,
    .prefill = 200000,
    .startup_runs = 20,
    .idle_conns = 1000,
    .idle_secs = 10,
    .mature_rounds = 3,
    .wake_rounds = 200,
};

static char base_url[256]; /* http://127.0.0.1:PORT */
static char body100[101];  /* the 100-byte message body */

static void
say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lmqd-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static bool
wanted(const char *w)
{
    return bench_in_list(opt.only, w);
}

/* ---- processes ---------------------------------------------------------- */

/* Every child is recorded here so an exit or a signal stops it. */
static pid_t children[64];
static int nchildren;

static void
forget_child(pid_t p)
{
    for (int i = 0; i < nchildren; i++)
        if (children[i] == p)
            children[i] = children[--nchildren];
}

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
    forget_child(p);
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

static int
free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0) {
        perror("free_port");
        exit(2);
    }
    close(s);
    return ntohs(a.sin_port);
}

/* Start argv (every "{PORT}" in it replaced by a free port) and wait for a
 * line containing "ready http" on its stdout. On success returns the pid,
 * puts the URL that follows "ready " in url and the time from fork to the
 * line in *secs; on failure (exit, 30 s) returns -1 with the child gone. */
static pid_t
start_server(char **argv_in, char *url, size_t urlsz, double *secs)
{
    char portbuf[16];
    snprintf(portbuf, sizeof portbuf, "%d", free_port());
    int argc = 0;
    while (argv_in[argc])
        argc++;
    char **argv = calloc(argc + 1, sizeof *argv);
    for (int i = 0; i < argc; i++) {
        const char *ph = strstr(argv_in[i], "{PORT}");
        if (ph) {
            size_t n = strlen(argv_in[i]) + 16;
            argv[i] = malloc(n);
            snprintf(argv[i], n, "%.*s%s%s", (int)(ph - argv_in[i]),
                     argv_in[i], portbuf, ph + 6);
        } else {
            argv[i] = strdup(argv_in[i]);
        }
    }
    int fd[2];
    if (pipe2(fd, O_CLOEXEC) != 0) {
        perror("pipe");
        exit(2);
    }
    double t0 = now_s();
    pid_t p = fork();
    if (p == 0) {
        dup2(fd[1], 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    if (p > 0 && nchildren < (int)(sizeof children / sizeof *children))
        children[nchildren++] = p;
    char line[512];
    size_t n = 0;
    bool ready = false;
    while (p > 0 && !ready) {
        double left = t0 + 30 - now_s();
        struct pollfd pf = {fd[0], POLLIN, 0};
        if (left <= 0 || poll(&pf, 1, (int)(left * 1000) + 1) <= 0)
            break;
        ssize_t r = read(fd[0], line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += r;
        line[n] = 0;
        char *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = 0;
            char *h = strstr(line, "ready http");
            if (h) {
                *secs = now_s() - t0;
                snprintf(url, urlsz, "%s", h + 6);
                url[strcspn(url, " \r\t")] = 0;
                ready = true;
                break;
            }
            n -= nl + 1 - line;
            memmove(line, nl + 1, n + 1);
        }
        if (n == sizeof line - 1)
            n = 0;
    }
    /* Later output (none is expected) goes nowhere; the read end closes. */
    close(fd[0]);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
    if (!ready) {
        stop_child(p);
        return -1;
    }
    return p;
}

/* utime + stime of pid in seconds, or -1. */
static double
cpu_of(pid_t pid)
{
    if (pid <= 0)
        return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut, st;
    /* After ")": state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime. */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                            "%lu %lu",
                     &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

/* VmRSS (or another field of /proc/PID/status) of pid in KiB, or -1. */
static long
status_kb(pid_t pid, const char *field)
{
    if (pid <= 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            kb = strtol(line + fl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

static long
rss_kb(pid_t pid)
{
    return status_kb(pid, "VmRSS");
}

/* ---- output ------------------------------------------------------------- */

/* One result: a JSON object on stdout. extra is ",\"k\":v..." or "". */
static void
emit(const char *workload, int conns, double value, const char *unit,
     const char *extra_fmt, ...)
{
    char extra[512] = "";
    if (extra_fmt) {
        va_list ap;
        va_start(ap, extra_fmt);
        vsnprintf(extra, sizeof extra, extra_fmt, ap);
        va_end(ap);
    }
    printf("{\"server\":\"%s\",\"mode\":\"%s\",\"client\":\"%s\","
           "\"workload\":\"%s\",\"conns\":%d,\"value\":%.3f,\"unit\":\"%s\"%s}"
           "\n",
           opt.label, opt.url ? "" : opt.durability,
           opt.raw ? "c-raw" : "c-curl", workload, conns, value,
           unit, extra);
    fflush(stdout);
    say("%-8s %4d conns  %12.1f %s%s", workload, conns, value, unit, extra);
}

/* ---- HTTP: one connection ----------------------------------------------- */

enum { A_CREATE, A_SEND, A_SEND_BATCH, A_RECV, A_DEL_BATCH, A_DEL, A_N };
static const char *const targets[A_N] = {
    "CreateQueue",    "SendMessage",        "SendMessageBatch",
    "ReceiveMessage", "DeleteMessageBatch", "DeleteMessage"};
static struct curl_slist *hdrs[A_N]; /* read-only once built: shared */

#define MAX_RH 10
#define RH_MAX 1024

typedef struct conn conn;
typedef bool (*step_fn)(conn *c);

struct conn {
    CURL *e;
    char *req;
    size_t req_cap;
    char *resp;
    size_t resp_len, resp_cap;
    long status;   /* of the last response; 0 before the first */
    bool failed;   /* the last request failed at the transport */
    double t0, t1; /* its start and end */
    int phase;
    uint64_t done, errors;
    const char *qurl;
    step_fn step;
    void *arg;
    char rh[MAX_RH][RH_MAX]; /* receipt handles of the last receive */
    int nrh;
    /* --engine raw */
    int act, fd;
    size_t req_len;
    char *wbuf, *rbuf;
    size_t wcap, rlen, rcap;
};

static size_t
on_write(char *p, size_t sz, size_t n, void *arg)
{
    conn *c = arg;
    size_t len = sz * n;
    if (c->resp_len + len + 1 > c->resp_cap) {
        c->resp_cap = (c->resp_len + len + 1) * 2;
        c->resp = realloc(c->resp, c->resp_cap);
    }
    memcpy(c->resp + c->resp_len, p, len);
    c->resp_len += len;
    c->resp[c->resp_len] = 0;
    return len;
}

static void
conn_init(conn *c)
{
    memset(c, 0, sizeof *c);
    c->e = curl_easy_init();
    c->req_cap = 4096;
    c->req = malloc(c->req_cap);
    c->resp_cap = 4096;
    c->resp = malloc(c->resp_cap);
    c->resp[0] = 0;
    curl_easy_setopt(c->e, CURLOPT_URL, base_url);
    curl_easy_setopt(c->e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c->e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c->e, CURLOPT_POST, 1L);
    /* No proxy: curl would otherwise read the proxy variables per request. */
    curl_easy_setopt(c->e, CURLOPT_PROXY, "");
}

static void
conn_free(conn *c)
{
    if (c->e)
        curl_easy_cleanup(c->e);
    if (c->fd > 0)
        close(c->fd);
    free(c->wbuf);
    free(c->rbuf);
    free(c->req);
    free(c->resp);
    c->e = NULL;
}

/* Set the next request of c: action act with the JSON body fmt. */
static void
conn_req(conn *c, int act, const char *fmt, ...)
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
        c->req_cap = n + 1;
        c->req = realloc(c->req, c->req_cap);
    }
    c->act = act;
    c->req_len = strlen(c->req);
    curl_easy_setopt(c->e, CURLOPT_POSTFIELDS, c->req);
    curl_easy_setopt(c->e, CURLOPT_HTTPHEADER, hdrs[act]);
    c->resp_len = 0;
    c->resp[0] = 0;
}

/* Run c's request now, blocking; returns the HTTP status (0 on failure). */
static long
conn_perform(conn *c)
{
    c->t0 = now_s();
    CURLcode rc = curl_easy_perform(c->e);
    c->t1 = now_s();
    c->status = 0;
    c->failed = rc != CURLE_OK;
    if (!c->failed)
        curl_easy_getinfo(c->e, CURLINFO_RESPONSE_CODE, &c->status);
    return c->status;
}

/* Pull the receipt handles of a ReceiveMessage answer into c->rh (raw JSON
 * string contents, to be put back into a request as they are). */
static int
parse_receipts(conn *c)
{
    c->nrh = 0;
    const char *p = c->resp;
    while (c->nrh < MAX_RH && (p = strstr(p, "\"ReceiptHandle\""))) {
        p += 15;
        while (*p == ' ' || *p == ':')
            p++;
        if (*p != '"')
            continue;
        const char *s = ++p;
        while (*p && *p != '"')
            p += (*p == '\\' && p[1]) ? 2 : 1;
        size_t n = p - s;
        if (n >= RH_MAX)
            n = RH_MAX - 1;
        memcpy(c->rh[c->nrh], s, n);
        c->rh[c->nrh][n] = 0;
        c->nrh++;
    }
    return c->nrh;
}

/* DeleteMessageBatch of c's receipt handles as the next request. */
static void
req_delete_batch(conn *c)
{
    char ents[MAX_RH * (RH_MAX + 48)];
    size_t n = 0;
    for (int i = 0; i < c->nrh; i++)
        n += snprintf(ents + n, sizeof ents - n,
                      "%s{\"Id\":\"%d\",\"ReceiptHandle\":\"%s\"}",
                      i ? "," : "", i, c->rh[i]);
    conn_req(c, A_DEL_BATCH, "{\"QueueUrl\":\"%s\",\"Entries\":[%s]}",
             c->qurl, ents);
}

static void
req_send_batch(conn *c, int k)
{
    char ents[10 * 160];
    size_t n = 0;
    for (int i = 0; i < k; i++)
        n += snprintf(ents + n, sizeof ents - n,
                      "%s{\"Id\":\"%d\",\"MessageBody\":\"%s\"}", i ? "," : "",
                      i, body100);
    conn_req(c, A_SEND_BATCH, "{\"QueueUrl\":\"%s\",\"Entries\":[%s]}",
             c->qurl, ents);
}

/* A batch answer with a non-empty Failed list. */
static bool
batch_failed(const conn *c)
{
    const char *f = strstr(c->resp, "\"Failed\"");
    if (!f)
        return false;
    f += 8;
    while (*f == ' ' || *f == ':')
        f++;
    if (*f != '[')
        return false;
    f++;
    while (*f == ' ')
        f++;
    return *f != ']';
}

/* ---- HTTP: many connections on curl multis ------------------------------ */

typedef struct {
    conn *cs;
    int n;
} slice;

/* One curl multi driven through epoll (curl_multi_socket_action): a poll
 * over every connection per wake-up, which curl_multi_poll() does, cost
 * this client more CPU than the server with 64 connections. */
typedef struct {
    CURLM *m;
    int ep;
    long timeout_ms; /* curl's next timer, -1 for none */
} mux;

static int
mux_sock(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
    mux *x = arg;
    (void)e;
    (void)sockp;
    struct epoll_event ev = {0};
    ev.data.fd = fd;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(x->ep, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) |
                (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (epoll_ctl(x->ep, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
        epoll_ctl(x->ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static int
mux_timer(CURLM *m, long ms, void *arg)
{
    (void)m;
    ((mux *)arg)->timeout_ms = ms;
    return 0;
}

static void
mux_init(mux *x, long conns)
{
    x->m = curl_multi_init();
    x->ep = epoll_create1(EPOLL_CLOEXEC);
    x->timeout_ms = -1;
    curl_multi_setopt(x->m, CURLMOPT_MAXCONNECTS, conns + 8);
    curl_multi_setopt(x->m, CURLMOPT_SOCKETFUNCTION, mux_sock);
    curl_multi_setopt(x->m, CURLMOPT_SOCKETDATA, x);
    curl_multi_setopt(x->m, CURLMOPT_TIMERFUNCTION, mux_timer);
    curl_multi_setopt(x->m, CURLMOPT_TIMERDATA, x);
}

static void
mux_free(mux *x)
{
    curl_multi_cleanup(x->m);
    close(x->ep);
}

/* Wait up to max_ms for events and let curl act on them. */
static void
mux_wait(mux *x, int max_ms)
{
    struct epoll_event ev[256];
    int t = x->timeout_ms >= 0 && x->timeout_ms < max_ms ? (int)x->timeout_ms
                                                         : max_ms;
    int n = epoll_wait(x->ep, ev, 256, t);
    int running;
    if (n <= 0) {
        x->timeout_ms = -1;
        curl_multi_socket_action(x->m, CURL_SOCKET_TIMEOUT, 0, &running);
        return;
    }
    for (int i = 0; i < n; i++) {
        int f = (ev[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                (ev[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                (ev[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(x->m, ev[i].data.fd, f, &running);
    }
    if (x->timeout_ms == 0) {
        x->timeout_ms = -1;
        curl_multi_socket_action(x->m, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

/* The next finished transfer of x, its fields filled in, or NULL. */
static conn *
mux_done(mux *x)
{
    CURLMsg *msg;
    int q;
    while ((msg = curl_multi_info_read(x->m, &q))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        conn *c;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        c->t1 = now_s();
        c->failed = msg->data.result != CURLE_OK;
        c->status = 0;
        if (!c->failed)
            curl_easy_getinfo(c->e, CURLINFO_RESPONSE_CODE, &c->status);
        curl_multi_remove_handle(x->m, c->e);
        return c;
    }
    return NULL;
}

static void
mux_add(mux *x, conn *c)
{
    int running;
    c->t0 = now_s();
    curl_multi_add_handle(x->m, c->e);
    /* Start it now rather than at the next timer. */
    if (x->timeout_ms == 0) {
        x->timeout_ms = -1;
        curl_multi_socket_action(x->m, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

/* Drive the connections of one slice until every step() returned false.
 * step() runs first with status 0, then after every response; it sets the
 * next request and returns true, or returns false to end the connection. */
static void *
drive_slice(void *arg)
{
    slice *s = arg;
    mux x;
    mux_init(&x, s->n);
    int live = 0;
    for (int i = 0; i < s->n; i++) {
        conn *c = &s->cs[i];
        c->status = 0;
        if (c->step(c)) {
            mux_add(&x, c);
            live++;
        }
    }
    while (live > 0) {
        mux_wait(&x, 100);
        conn *c;
        while ((c = mux_done(&x))) {
            if (c->step(c))
                mux_add(&x, c);
            else
                live--;
        }
    }
    mux_free(&x);
    return NULL;
}

/* --engine raw: the same connections and step functions over plain
 * sockets, one HTTP/1.1 keep-alive request in flight per connection (as
 * libcurl and the SDKs do), requests written with one send() and answers
 * parsed by Content-Length. It exists because libcurl spends about as much
 * CPU per request as lmqd (~25 µs, perf: poll, header handling, malloc),
 * and on 2 cores a client that busy halves what the server can get. */
static char raw_host[64];
static int raw_port;

static int
raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(raw_port)};
    inet_pton(AF_INET, raw_host, &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        stop_all();
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Write c's request; false if the connection failed. */
static bool
raw_send(conn *c)
{
    size_t need = c->req_len + 256;
    if (c->wcap < need) {
        c->wcap = need * 2;
        c->wbuf = realloc(c->wbuf, c->wcap);
    }
    int n = snprintf(c->wbuf, c->wcap,
                     "POST / HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Content-Type: application/x-amz-json-1.0\r\n"
                     "X-Amz-Target: AmazonSQS.%s\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     raw_host, raw_port, targets[c->act], c->req_len);
    memcpy(c->wbuf + n, c->req, c->req_len);
    size_t len = n + c->req_len, off = 0;
    c->t0 = now_s();
    c->rlen = 0;
    while (off < len) {
        ssize_t w = send(c->fd, c->wbuf + off, len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pf = {c->fd, POLLOUT, 0};
            poll(&pf, 1, 1000);
            continue;
        }
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

/* Read what is there; 1 once a whole answer is in c->resp, 0 for more to
 * come, -1 if the connection failed. */
static int
raw_recv(conn *c)
{
    for (;;) {
        if (c->rcap - c->rlen < 4096) {
            c->rcap = c->rcap ? c->rcap * 2 : 16384;
            c->rbuf = realloc(c->rbuf, c->rcap);
        }
        ssize_t r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen - 1, 0);
        if (r < 0 && errno == EAGAIN)
            break;
        if (r <= 0)
            return -1;
        c->rlen += r;
    }
    c->rbuf[c->rlen] = 0;
    char *h = strstr(c->rbuf, "\r\n\r\n");
    if (!h)
        return 0;
    size_t hl = h + 4 - c->rbuf, bl = 0;
    char *cl = strcasestr(c->rbuf, "\r\ncontent-length:");
    if (cl && cl < h)
        bl = strtoul(cl + 17, NULL, 10);
    if (c->rlen < hl + bl)
        return 0;
    c->status = strtol(c->rbuf + 9, NULL, 10);
    if (c->resp_cap < bl + 1) {
        c->resp_cap = bl + 1;
        c->resp = realloc(c->resp, c->resp_cap);
    }
    memcpy(c->resp, c->rbuf + hl, bl);
    c->resp[bl] = 0;
    c->resp_len = bl;
    c->rlen = 0;
    return 1;
}

static void *
raw_slice(void *arg)
{
    slice *s = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC), live = 0;
    for (int i = 0; i < s->n; i++) {
        conn *c = &s->cs[i];
        if (c->fd <= 0) {
            c->fd = raw_connect();
            fcntl(c->fd, F_SETFL, O_NONBLOCK);
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        c->status = 0;
        c->failed = false;
        if (c->step(c) && raw_send(c))
            live++;
        else
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    }
    while (live > 0) {
        struct epoll_event ev[256];
        int n = epoll_wait(ep, ev, 256, 1000);
        for (int i = 0; i < n; i++) {
            conn *c = ev[i].data.ptr;
            int r = raw_recv(c);
            if (r == 0)
                continue;
            c->t1 = now_s();
            c->failed = r < 0;
            if (r < 0)
                c->status = 0;
            if (r > 0 && c->step(c) && raw_send(c))
                continue;
            if (r < 0)
                c->step(c), close(c->fd), c->fd = -1;
            else
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            live--;
        }
    }
    close(ep);
    return NULL;
}

/* Drive n connections on opt.client_threads multis (fewer if n is small). */
static void
drive(conn *cs, int n)
{
    int t = opt.client_threads < n ? opt.client_threads : n;
    void *(*fn)(void *) = opt.raw ? raw_slice : drive_slice;
    if (t <= 1) {
        slice s = {cs, n};
        fn(&s);
        return;
    }
    pthread_t th[64];
    slice sl[64];
    if (t > 64)
        t = 64;
    for (int i = 0, at = 0; i < t; i++) {
        int k = n / t + (i < n % t);
        sl[i] = (slice){cs + at, k};
        at += k;
        pthread_create(&th[i], NULL, fn, &sl[i]);
    }
    for (int i = 0; i < t; i++)
        pthread_join(th[i], NULL);
}

static conn *
conns_new(int n, const char *qurl, step_fn step, void *arg)
{
    conn *cs = calloc(n, sizeof *cs);
    for (int i = 0; i < n; i++) {
        conn_init(&cs[i]);
        cs[i].qurl = qurl;
        cs[i].step = step;
        cs[i].arg = arg;
    }
    return cs;
}

static void
conns_free(conn *cs, int n)
{
    for (int i = 0; i < n; i++)
        conn_free(&cs[i]);
    free(cs);
}

static void
sum_conns(const conn *cs, int n, uint64_t *done, uint64_t *errors)
{
    *done = *errors = 0;
    for (int i = 0; i < n; i++) {
        *done += cs[i].done;
        *errors += cs[i].errors;
    }
}

/* ---- queues ------------------------------------------------------------- */

/* Create queue name (attributes JSON or NULL) and return its URL (malloc). */
static char *
create_queue(const char *name, const char *attrs)
{
    conn c;
    conn_init(&c);
    conn_req(&c, A_CREATE, "{\"QueueName\":\"%s\"%s%s%s}", name,
             attrs ? ",\"Attributes\":" : "", attrs ? attrs : "", "");
    long st = conn_perform(&c);
    char *url = NULL, *p = strstr(c.resp, "\"QueueUrl\"");
    if (st == 200 && p) {
        p += 10;
        while (*p == ' ' || *p == ':')
            p++;
        if (*p == '"') {
            char *e = strchr(++p, '"');
            if (e)
                url = strndup(p, e - p);
        }
    }
    if (!url) {
        say("CreateQueue %s failed: %ld %s", name, st, c.resp);
        conn_free(&c);
        stop_all();
        exit(1);
    }
    conn_free(&c);
    return url;
}

/* Fill: SendMessageBatch of 10 from 16 connections until total sent. */
typedef struct {
    atomic_long left;
} fill_state;

static bool
fill_step(conn *c)
{
    fill_state *f = c->arg;
    if (c->status == 200 && !batch_failed(c))
        c->done += c->phase;
    else if (c->status != 0 || c->failed)
        c->errors++;
    long k = atomic_fetch_sub(&f->left, 10);
    if (k <= 0)
        return false;
    c->phase = k < 10 ? (int)k : 10;
    req_send_batch(c, c->phase);
    return true;
}

static uint64_t
fill(const char *qurl, long total)
{
    fill_state f = {total};
    int n = total >= 160 ? 16 : 1;
    conn *cs = conns_new(n, qurl, fill_step, &f);
    drive(cs, n);
    uint64_t done, errors;
    sum_conns(cs, n, &done, &errors);
    conns_free(cs, n);
    if (errors)
        say("fill: %llu failed batches", (unsigned long long)errors);
    return done;
}

/* ---- workloads ---------------------------------------------------------- */

typedef struct {
    double deadline;
} until;

static bool
send_step(conn *c)
{
    until *u = c->arg;
    if (c->status == 200)
        c->done++;
    else if (c->status != 0 || c->failed)
        c->errors++;
    if (now_s() >= u->deadline)
        return false;
    if (c->phase == 0) {
        conn_req(c, A_SEND, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"%s\"}",
                 c->qurl, body100);
        c->phase = 1;
    }
    /* The request stays the same: only the response is cleared. */
    c->resp_len = 0;
    return true;
}

/* A throughput row's CPU: cores busy on the server and in this client. */
typedef struct {
    double t, srv, cli;
} cpu_mark;

static cpu_mark
cpu_now(void)
{
    return (cpu_mark){now_s(), cpu_of(opt.pid), self_cpu()};
}

static void
cpu_since(cpu_mark m, double *srv, double *cli)
{
    cpu_mark e = cpu_now();
    double dt = e.t - m.t;
    *srv = m.srv >= 0 && e.srv >= 0 ? (e.srv - m.srv) / dt : -1;
    *cli = (e.cli - m.cli) / dt;
}

static void
wl_send(int conns)
{
    char name[32];
    snprintf(name, sizeof name, "send-%d", conns);
    char *q = create_queue(name, NULL);
    until u = {0};
    conn *cs = conns_new(conns, q, send_step, &u);
    /* A short warm-up opens the connections, then the timed row. */
    u.deadline = now_s() + 0.2;
    drive(cs, conns);
    for (int i = 0; i < conns; i++)
        cs[i].done = cs[i].errors = 0;
    cpu_mark m = cpu_now();
    u.deadline = m.t + opt.secs;
    drive(cs, conns);
    double el = now_s() - m.t, srv, cli;
    cpu_since(m, &srv, &cli);
    uint64_t done, errors;
    sum_conns(cs, conns, &done, &errors);
    emit("send", conns, done / el, "req/s",
         ",\"requests\":%llu,\"errors\":%llu,\"server_cpu\":%.2f,"
         "\"client_cpu\":%.2f",
         (unsigned long long)done, (unsigned long long)errors, srv, cli);
    conns_free(cs, conns);
    free(q);
}

/* recv: receive up to 10, delete those in one batch; a connection ends at
 * an empty receive, at the deadline, or once the row's quota is taken. */
typedef struct {
    double deadline;
    atomic_long quota; /* messages still to take, or LONG_MAX */
    atomic_long taken;
} recv_state;

static bool
recv_step(conn *c)
{
    recv_state *r = c->arg;
    if (c->status != 0 || c->failed) {
        if (c->status != 200) {
            c->errors++;
            c->phase = 0;
        } else if (c->phase == 1) { /* a receive came back */
            int k = parse_receipts(c);
            if (k == 0)
                return false; /* empty: drained */
            req_delete_batch(c);
            c->phase = 2;
            return true;
        } else if (c->phase == 2) { /* a delete came back */
            if (batch_failed(c))
                c->errors++;
            else
                c->done += c->nrh;
            atomic_fetch_add(&r->taken, c->nrh);
        }
    }
    if (now_s() >= r->deadline)
        return false;
    long left = atomic_fetch_sub(&r->quota, 10);
    if (left <= 0)
        return false;
    int k = left < 10 ? (int)left : 10;
    conn_req(c, A_RECV,
             "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":%d,"
             "\"WaitTimeSeconds\":0}",
             c->qurl, k);
    c->phase = 1;
    return true;
}

/* Receive+delete up to quota messages (LONG_MAX: until empty) from q with
 * conns connections; returns messages deleted, elapsed time in *el. */
static uint64_t
recv_delete(const char *q, int conns, long quota, double secs, double *el,
            uint64_t *errors, double *srv, double *cli)
{
    recv_state r = {.quota = quota};
    conn *cs = conns_new(conns, q, recv_step, &r);
    cpu_mark m = cpu_now();
    r.deadline = m.t + secs;
    drive(cs, conns);
    *el = now_s() - m.t;
    double s, c;
    cpu_since(m, &s, &c);
    if (srv)
        *srv = s, *cli = c;
    uint64_t done;
    sum_conns(cs, conns, &done, errors);
    conns_free(cs, conns);
    return done;
}

static void
wl_recv(int conns)
{
    char name[32];
    snprintf(name, sizeof name, "recv-%d", conns);
    char *q = create_queue(name, NULL);
    say("recv %d: filling %ld", conns, opt.prefill);
    double t0 = now_s();
    uint64_t filled = fill(q, opt.prefill);
    double fill_el = now_s() - t0;
    double el, srv, cli;
    uint64_t errors;
    uint64_t got = recv_delete(q, conns, LONG_MAX, opt.secs, &el, &errors,
                               &srv, &cli);
    emit("recv", conns, got / el, "msg/s",
         ",\"messages\":%llu,\"errors\":%llu,\"server_cpu\":%.2f,"
         "\"client_cpu\":%.2f,\"prefill\":%llu,\"fill_msg_s\":%.0f",
         (unsigned long long)got, (unsigned long long)errors, srv, cli,
         (unsigned long long)filled, filled / fill_el);
    free(q);
}

static int
cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
pct(double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    size_t i = (size_t)(p * (n - 1) + 0.5);
    return v[i];
}

static void
wl_lat(void)
{
    char *q = create_queue("lat", NULL);
    conn c;
    conn_init(&c);
    c.qurl = q;
    conn_req(&c, A_SEND, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"%s\"}", q,
             body100);
    size_t cap = 200000, n = 0;
    double *v = malloc(cap * sizeof *v);
    uint64_t errors = 0;
    double warm = now_s() + 0.2;
    while (now_s() < warm)
        conn_perform(&c), c.resp_len = 0;
    double end = now_s() + opt.secs;
    while (n < cap && now_s() < end) {
        c.resp_len = 0;
        if (conn_perform(&c) != 200)
            errors++;
        else
            v[n++] = (c.t1 - c.t0) * 1e6;
    }
    qsort(v, n, sizeof *v, cmp_d);
    emit("lat", 1, pct(v, n, 0.5), "us p50",
         ",\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"samples\":%zu,"
         "\"errors\":%llu",
         pct(v, n, 0.5), pct(v, n, 0.99), pct(v, n, 0.999), n,
         (unsigned long long)errors);
    free(v);
    conn_free(&c);
    free(q);
}

/* wake: a receiver thread parks a long poll; the main thread sends once it
 * is parked (5 ms after the receiver started its request). */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int round;   /* the main thread asks for round `round` */
    int started; /* the receiver started its request of this round */
    int done;    /* ... and got its answer */
    conn c;
    double t_recv, t_start;
    int got, rounds;
} waker;

static void *
wake_receiver(void *arg)
{
    waker *w = arg;
    for (int r = 1; r <= w->rounds; r++) {
        pthread_mutex_lock(&w->mu);
        while (w->round < r)
            pthread_cond_wait(&w->cv, &w->mu);
        w->started = r;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        conn_req(&w->c, A_RECV,
                 "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":1,"
                 "\"WaitTimeSeconds\":20}",
                 w->c.qurl);
        long st = conn_perform(&w->c);
        double t = w->c.t1;
        int k = st == 200 ? parse_receipts(&w->c) : 0;
        if (k > 0) {
            req_delete_batch(&w->c);
            conn_perform(&w->c);
        }
        pthread_mutex_lock(&w->mu);
        w->t_recv = t;
        w->got = k;
        w->done = r;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

static void
wl_wake(void)
{
    char *q = create_queue("wake", NULL);
    waker w = {.mu = PTHREAD_MUTEX_INITIALIZER,
               .cv = PTHREAD_COND_INITIALIZER,
               .rounds = opt.wake_rounds};
    conn_init(&w.c);
    w.c.qurl = q;
    conn s;
    conn_init(&s);
    conn_req(&s, A_SEND, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"%s\"}", q,
             body100);
    pthread_t th;
    pthread_create(&th, NULL, wake_receiver, &w);
    double *v = malloc(w.rounds * sizeof *v), *v0 = malloc(w.rounds * sizeof *v);
    int n = 0, empty = 0, errors = 0;
    for (int r = 1; r <= w.rounds; r++) {
        pthread_mutex_lock(&w.mu);
        w.round = r;
        pthread_cond_broadcast(&w.cv);
        while (w.started < r)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        sleep_s(0.005); /* the poll is parked by now */
        s.resp_len = 0;
        if (conn_perform(&s) != 200)
            errors++;
        pthread_mutex_lock(&w.mu);
        while (w.done < r)
            pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        if (w.got == 0) {
            empty++;
            continue;
        }
        v[n] = (w.t_recv - s.t1) * 1e6;
        v0[n++] = (w.t_recv - s.t0) * 1e6;
    }
    pthread_join(th, NULL);
    qsort(v, n, sizeof *v, cmp_d);
    qsort(v0, n, sizeof *v0, cmp_d);
    emit("wake", 1, pct(v, n, 0.99), "us p99",
         ",\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
         "\"from_send_start_p50_us\":%.1f,\"from_send_start_p99_us\":%.1f,"
         "\"rounds\":%d,\"empty\":%d,\"errors\":%d",
         pct(v, n, 0.5), pct(v, n, 0.99), n ? v[n - 1] : NAN,
         pct(v0, n, 0.5), pct(v0, n, 0.99), n, empty, errors);
    free(v);
    free(v0);
    conn_free(&w.c);
    conn_free(&s);
    free(q);
}

/* mature: per probe thread and round, (a) send with DelaySeconds=1, then a
 * waiting receive: lateness = its answer - (the send's start + 1 s);
 * (b) a receive with VisibilityTimeout=1 takes the message, then a waiting
 * receive: lateness = its answer - (the first receive's start + 1 s).
 * The send's start is taken before the server set the deadline, so (a)
 * over-states the lateness by up to one round trip. */
#define PROBES 4
typedef struct {
    int id;
    double late_delay[16], late_vis[16];
    int nd, nv, bad;
} probe;

static void *
mature_probe(void *arg)
{
    probe *p = arg;
    char name[32];
    snprintf(name, sizeof name, "mature-%d", p->id);
    char *q = create_queue(name, NULL);
    conn c;
    conn_init(&c);
    c.qurl = q;
    int rounds = opt.mature_rounds > 16 ? 16 : opt.mature_rounds;
    for (int r = 0; r < rounds; r++) {
        /* (a) delay */
        conn_req(&c, A_SEND,
                 "{\"QueueUrl\":\"%s\",\"MessageBody\":\"%s\","
                 "\"DelaySeconds\":1}",
                 q, body100);
        if (conn_perform(&c) != 200) {
            p->bad++;
            continue;
        }
        double ts = c.t0;
        conn_req(&c, A_RECV,
                 "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":1,"
                 "\"WaitTimeSeconds\":20,\"VisibilityTimeout\":1}",
                 q);
        if (conn_perform(&c) != 200 || parse_receipts(&c) != 1) {
            p->bad++;
            continue;
        }
        p->late_delay[p->nd++] = (c.t1 - ts - 1.0) * 1e3;
        /* (b) visibility: the receive above took it for 1 s from its
         * answer, which the server wrote just before c.t1 (so this
         * under-states the lateness by that answer's transit, a few µs). */
        double tr = c.t1;
        conn_req(&c, A_RECV,
                 "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":1,"
                 "\"WaitTimeSeconds\":20}",
                 q);
        if (conn_perform(&c) != 200 || parse_receipts(&c) != 1) {
            p->bad++;
            continue;
        }
        p->late_vis[p->nv++] = (c.t1 - tr - 1.0) * 1e3;
        req_delete_batch(&c);
        conn_perform(&c);
    }
    conn_free(&c);
    free(q);
    return NULL;
}

static void
wl_mature(void)
{
    probe ps[PROBES];
    pthread_t th[PROBES];
    for (int i = 0; i < PROBES; i++) {
        ps[i] = (probe){.id = i};
        pthread_create(&th[i], NULL, mature_probe, &ps[i]);
        sleep_s(0.1); /* spread the probes' deadlines */
    }
    double d[PROBES * 16], v[PROBES * 16];
    int nd = 0, nv = 0, bad = 0;
    for (int i = 0; i < PROBES; i++) {
        pthread_join(th[i], NULL);
        memcpy(d + nd, ps[i].late_delay, ps[i].nd * sizeof *d);
        memcpy(v + nv, ps[i].late_vis, ps[i].nv * sizeof *v);
        nd += ps[i].nd;
        nv += ps[i].nv;
        bad += ps[i].bad;
    }
    qsort(d, nd, sizeof *d, cmp_d);
    qsort(v, nv, sizeof *v, cmp_d);
    emit("delay", 1, nd ? d[nd - 1] : NAN, "ms late max",
         ",\"p50_ms\":%.2f,\"min_ms\":%.2f,\"max_ms\":%.2f,\"samples\":%d,"
         "\"failed\":%d",
         pct(d, nd, 0.5), nd ? d[0] : NAN, nd ? d[nd - 1] : NAN, nd, bad);
    emit("visibility", 1, nv ? v[nv - 1] : NAN, "ms late max",
         ",\"p50_ms\":%.2f,\"min_ms\":%.2f,\"max_ms\":%.2f,\"samples\":%d",
         pct(v, nv, 0.5), nv ? v[0] : NAN, nv ? v[nv - 1] : NAN, nv);
}

/* idle: conns long polls parked on one empty queue; none should answer
 * before its 20 s (nothing is sent). */
typedef struct {
    double stop_at;
    atomic_int answered;
} idle_state;

static bool
idle_step(conn *c)
{
    idle_state *s = c->arg;
    if (c->status != 0 || c->failed) {
        atomic_fetch_add(&s->answered, 1);
        if (c->status != 200)
            c->errors++;
        return false;
    }
    conn_req(c, A_RECV,
             "{\"QueueUrl\":\"%s\",\"MaxNumberOfMessages\":10,"
             "\"WaitTimeSeconds\":20}",
             c->qurl);
    return true;
}

static void
wl_idle(void)
{
    char *q = create_queue("idle", NULL);
    int n = opt.idle_conns;
    idle_state st = {0};
    conn *cs = conns_new(n, q, idle_step, &st);
    long rss0 = rss_kb(opt.pid);
    mux x;
    mux_init(&x, n);
    for (int i = 0; i < n; i++) {
        cs[i].status = 0;
        idle_step(&cs[i]);
        mux_add(&x, &cs[i]);
    }
    double t_start = now_s();
    double settle = t_start + 2.0, measure_end = 0;
    cpu_mark mk = {0};
    double srv = -1, cli = -1;
    long rss = -1, anon = -1;
    for (;;) {
        conn *c;
        mux_wait(&x, 50);
        while ((c = mux_done(&x)))
            idle_step(c); /* an answer before 20 s: counted, not renewed */
        double t = now_s();
        if (measure_end == 0 && t >= settle) {
            mk = cpu_now();
            measure_end = t + opt.idle_secs;
        } else if (measure_end > 0 && t >= measure_end) {
            cpu_since(mk, &srv, &cli);
            rss = rss_kb(opt.pid);
            anon = status_kb(opt.pid, "RssAnon");
            break;
        }
    }
    int early = atomic_load(&st.answered);
    double parked_for = now_s() - t_start;
    for (int i = 0; i < n; i++)
        curl_multi_remove_handle(x.m, cs[i].e);
    mux_free(&x);
    conns_free(cs, n);
    emit("idle", n, srv * 100, "% of a core",
         ",\"server_cpu_pct\":%.3f,\"rss_kib\":%ld,\"rss_anon_kib\":%ld,"
         "\"rss_before_kib\":%ld,"
         "\"client_cpu_pct\":%.3f,\"measured_s\":%d,\"answered_early\":%d,"
         "\"parked_s\":%.1f",
         srv * 100, rss, anon, rss0, cli * 100, opt.idle_secs, early, parked_for);
    free(q);
}

/* backlog: receive 10 + delete from 8 connections, with small (refilled
 * untimed whenever drained) and big queued; the same number of messages
 * taken from each. */
static void
wl_backlog(void)
{
    const long small = 1000, big = opt.longrun ? 1000000 : 100000;
    const long todo = opt.longrun ? 200000 : 50000;
    const int conns = 8;
    char *qs = create_queue("backlog-small", NULL);
    char *qb = create_queue("backlog-big", NULL);
    say("backlog: filling %ld", big);
    double t0 = now_s();
    fill(qb, big);
    say("backlog: filled %ld in %.1f s", big, now_s() - t0);
    double el_s = 0, el_b = 0, el;
    uint64_t got_s = 0, got_b, errors = 0, e;
    while ((long)got_s < todo) {
        fill(qs, small);
        long want = todo - got_s < small ? todo - got_s : small;
        got_s += recv_delete(qs, conns, want, 60, &el, &e, NULL, NULL);
        el_s += el;
        errors += e;
    }
    got_b = recv_delete(qb, conns, todo, 60, &el_b, &e, NULL, NULL);
    errors += e;
    double rs = got_s / el_s, rb = got_b / el_b;
    emit("backlog", conns, rb / rs, "x of small",
         ",\"small\":%ld,\"big\":%ld,\"small_msg_s\":%.0f,\"big_msg_s\":%.0f,"
         "\"taken\":%llu,\"errors\":%llu",
         small, big, rs, rb, (unsigned long long)got_b,
         (unsigned long long)errors);
    free(qs);
    free(qb);
}

/* startup: fork/exec to the ready line, then the resident memory after
 * 200 ms idle. */
static void
wl_startup(char **argv)
{
    int n = opt.startup_runs;
    double *t = malloc(n * sizeof *t), *r = malloc(n * sizeof *r);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        char url[256];
        double secs;
        pid_t p = start_server(argv, url, sizeof url, &secs);
        if (p < 0) {
            say("startup: run %d did not get ready", i);
            continue;
        }
        sleep_s(0.2);
        r[ok] = rss_kb(p);
        t[ok++] = secs * 1e3;
        stop_child(p);
    }
    qsort(t, ok, sizeof *t, cmp_d);
    qsort(r, ok, sizeof *r, cmp_d);
    emit("startup", 0, pct(t, ok, 0.5), "ms median",
         ",\"min_ms\":%.2f,\"max_ms\":%.2f,\"runs\":%d,"
         "\"idle_rss_kib\":%.0f,\"idle_rss_max_kib\":%.0f",
         ok ? t[0] : NAN, ok ? t[ok - 1] : NAN, ok, pct(r, ok, 0.5),
         ok ? r[ok - 1] : NAN);
    free(t);
    free(r);
}

/* ---- main --------------------------------------------------------------- */

static void
usage(void)
{
    fputs("usage: lmqd-bench (--lmqd PATH [--durability full|periodic|none]"
          " [--home DIR] [--workers N]\n"
          "                   | --url URL [--pid PID])\n"
          "  [--only send,recv,lat,wake,mature,idle,backlog,startup]\n"
          "  [--secs S] [--long] [--prefill N] [--conns LIST]\n"
          "  [--engine curl|raw] [--client-threads N] [--label NAME] [--start-cmd 'CMD {PORT}']\n"
          "  [--startup-runs N] [--idle-conns N] [--idle-secs N]\n"
          "  [--mature-rounds N] [--wake-rounds N]\n",
          stderr);
    exit(2);
}

/* Split a command line on spaces (no quoting). */
static char **
split_cmd(const char *s)
{
    char *dup = strdup(s), *save = NULL;
    char **v = calloc(strlen(s) / 2 + 2, sizeof *v);
    int n = 0;
    for (char *tok = strtok_r(dup, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save))
        v[n++] = tok;
    return v;
}

int
main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"lmqd", 1, 0, 'L'},          {"durability", 1, 0, 'd'},
        {"home", 1, 0, 'H'},          {"url", 1, 0, 'u'},
        {"pid", 1, 0, 'p'},           {"only", 1, 0, 'o'},
        {"secs", 1, 0, 's'},          {"long", 0, 0, 'l'},
        {"prefill", 1, 0, 'f'},       {"conns", 1, 0, 'c'},
        {"client-threads", 1, 0, 't'}, {"label", 1, 0, 'n'},
        {"start-cmd", 1, 0, 'S'},     {"startup-runs", 1, 0, 'R'},
        {"idle-conns", 1, 0, 'I'},    {"idle-secs", 1, 0, 'i'},
        {"mature-rounds", 1, 0, 'M'}, {"wake-rounds", 1, 0, 'W'},
        {"workers", 1, 0, 'w'},       {"engine", 1, 0, 'e'},
        {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    const char *conns_list = "1,64";
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'L': opt.lmqd = optarg; break;
        case 'd': opt.durability = optarg; break;
        case 'H': opt.home = optarg; break;
        case 'u': opt.url = optarg; break;
        case 'p': opt.pid = atoi(optarg); break;
        case 'o': opt.only = optarg; break;
        case 's': opt.secs = atof(optarg); break;
        case 'l': opt.longrun = true; break;
        case 'f': opt.prefill = atol(optarg); break;
        case 'c': conns_list = optarg; break;
        case 't': opt.client_threads = atoi(optarg); break;
        case 'n': opt.label = optarg; break;
        case 'S': opt.start_cmd = optarg; break;
        case 'R': opt.startup_runs = atoi(optarg); break;
        case 'I': opt.idle_conns = atoi(optarg); break;
        case 'i': opt.idle_secs = atoi(optarg); break;
        case 'M': opt.mature_rounds = atoi(optarg); break;
        case 'W': opt.wake_rounds = atoi(optarg); break;
        case 'w': opt.workers = optarg; break;
        case 'e': opt.raw = strcmp(optarg, "raw") == 0; break;
        default: usage();
        }
    }
    if (!opt.lmqd == !opt.url)
        usage();
    if (!opt.label)
        opt.label = opt.lmqd ? "lmqd" : "server";
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    atexit(stop_all);
    /* 1,000 parked connections need more descriptors than the usual 1,024,
     * here and in the lmqd this program starts. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    for (int i = 0; i < 100; i++)
        body100[i] = 'a' + i % 26;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int a = 0; a < A_N; a++) {
        char h[96];
        snprintf(h, sizeof h, "X-Amz-Target: AmazonSQS.%s", targets[a]);
        hdrs[a] = curl_slist_append(NULL,
                                    "Content-Type: application/x-amz-json-1.0");
        hdrs[a] = curl_slist_append(hdrs[a], h);
        /* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
        hdrs[a] = curl_slist_append(hdrs[a], "Expect:");
        hdrs[a] = curl_slist_append(hdrs[a], "Accept:");
    }

    char *lmqd_argv[32];
    int na = 0;
    if (opt.lmqd) {
        lmqd_argv[na++] = (char *)opt.lmqd;
        if (opt.home) {
            lmqd_argv[na++] = "--home";
            lmqd_argv[na++] = (char *)opt.home;
        } else {
            lmqd_argv[na++] = "--ephemeral";
        }
        lmqd_argv[na++] = "--listen";
        lmqd_argv[na++] = "127.0.0.1:{PORT}";
        lmqd_argv[na++] = "--durability";
        lmqd_argv[na++] = (char *)opt.durability;
        lmqd_argv[na++] = "--quiet";
        /* Connections over the default 1,024 for the idle row. */
        lmqd_argv[na++] = "--max-connections";
        lmqd_argv[na++] = "4096";
        if (opt.workers) {
            lmqd_argv[na++] = "--workers";
            lmqd_argv[na++] = (char *)opt.workers;
        }
        lmqd_argv[na] = NULL;
    }

    bool need_server = false;
    const char *ws[] = {"send", "recv", "lat", "wake", "mature", "idle",
                        "backlog"};
    for (size_t i = 0; i < sizeof ws / sizeof *ws; i++)
        need_server |= wanted(ws[i]);
    pid_t own = -1;
    if (need_server) {
        if (opt.lmqd) {
            double secs;
            own = start_server(lmqd_argv, base_url, sizeof base_url, &secs);
            if (own < 0) {
                say("lmqd did not get ready");
                return 1;
            }
            opt.pid = own;
            say("lmqd pid %d at %s (%s)", (int)own, base_url, opt.durability);
        } else {
            snprintf(base_url, sizeof base_url, "%s", opt.url);
        }
        if (sscanf(base_url, "http://%63[^:/]:%d", raw_host, &raw_port) != 2 &&
            opt.raw) {
            say("--engine raw needs an http://HOST:PORT URL");
            return 2;
        }
    }

    int clist[16], nc = 0;
    for (const char *p = conns_list; *p && nc < 16;) {
        clist[nc++] = atoi(p);
        const char *e = strchr(p, ',');
        if (!e)
            break;
        p = e + 1;
    }
    if (wanted("send"))
        for (int i = 0; i < nc; i++)
            wl_send(clist[i]);
    if (wanted("recv"))
        for (int i = 0; i < nc; i++)
            wl_recv(clist[i]);
    if (wanted("lat"))
        wl_lat();
    if (wanted("wake"))
        wl_wake();
    if (wanted("mature"))
        wl_mature();
    if (wanted("idle"))
        wl_idle();
    if (wanted("backlog"))
        wl_backlog();
    if (own > 0) {
        stop_child(own);
        opt.pid = 0;
    }
    if (wanted("startup")) {
        if (opt.start_cmd)
            wl_startup(split_cmd(opt.start_cmd));
        else if (opt.lmqd)
            wl_startup(lmqd_argv);
    }
    for (int a = 0; a < A_N; a++)
        curl_slist_free_all(hdrs[a]);
    curl_global_cleanup();
    return 0;
}
