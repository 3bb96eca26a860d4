/*
 * check_lmqd.c: the real lmqd (LMQD_BIN) over loopback (issue 21).
 *
 * Each test starts its own daemon on a fresh home in the test's temporary
 * directory and a free 127.0.0.1 port (bind :0, getsockname, close), waits
 * a bounded time for its readiness line, talks to it with libcurl (AWS JSON
 * 1.0 mostly, a few Query requests, raw sockets for misbehaving clients),
 * and stops it by pid: SIGTERM must end it with status 0 (SIGKILL after a
 * bound, and the test fails). Daemons and helper processes are started with
 * check_fork(), so Check kills whatever a failed test leaves behind.
 *
 * Other processes on the same home: a forked child linking liblmq (it opens
 * its own env after the fork) and the `lmq` CLI (LMQ_BIN).
 *
 * Nothing sleeps through a semantic wait except where the wait is the
 * semantics (long polls, delays, visibility timeouts, the idle timeout, a
 * rate-limited move task); those get bounds generous enough for ASan
 * builds. Every loop is bounded in count and time.
 */
#include "lmq_test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <strings.h>
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

#define ACCOUNT "000000000000"
#define READY_MS 20000 /* start-up bound (ASan builds open slowly) */
#define STOP_MS 15000  /* SIGTERM to exit bound */
#define REQ_MS 30000   /* default bound of one HTTP request */
#define TAIL_BYTES 3000

/* LMQD_MAX_BODY of daemon/lmqd.h. */
#define MAX_BODY (3u * 1024 * 1024 + 256 * 1024)

/* ---- time, files ---------------------------------------------------------- */

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

static char home[300]; /* lmq_test_dir/home */

static void
tpath(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", lmq_test_dir, name);
}

static int
exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A whole file, malloc'd ("" when unreadable). */
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

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* The last TAIL_BYTES of a file, in a static buffer. */
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

/* Wait for pid up to timeout_ms: 1 with *st set, 0 on timeout. */
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
        sleep_ms(10);
    }
}

/* Run argv (stdout and stderr to /dev/null); its exit status, or -1 when it
 * did not end within timeout_ms (it is killed). */
static int
run_cmd(const char *const *argv, int timeout_ms)
{
    int st = 0;
    pid_t pid = check_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (!wait_for(pid, timeout_ms, &st)) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- ports and raw sockets -------------------------------------------------- */

/* A port that was free a moment ago: bind ADDR:0, read it, close. */
static int
free_port_on(int v6)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    memset(&ss, 0, sizeof ss);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        close(fd);
        return -1;
    }
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    close(fd);
    return v6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
              : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int
free_port(void)
{
    int p = free_port_on(0);
    ck_assert_int_gt(p, 0);
    return p;
}

/* Connect to 127.0.0.1:port; the fd, or -errno. */
static int
tcp_connect(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static void
send_all(int fd, const char *s)
{
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        ck_assert_msg(w > 0, "send: %s", strerror(errno));
        off += (size_t)w;
    }
}

/* Read fd until the peer closes it (EOF or reset: returns 1) or timeout_ms
 * passes (returns 0). What was read goes to buf (NUL-terminated). */
static int
read_until_closed(int fd, int timeout_ms, char *buf, size_t cap)
{
    int64_t deadline = mono_ms() + timeout_ms;
    size_t got = 0;
    buf[0] = '\0';
    for (;;) {
        int left = (int)(deadline - mono_ms());
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        char tmp[4096];
        ssize_t k = recv(fd, tmp, sizeof tmp, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return 1;
        size_t take = (size_t)k < cap - 1 - got ? (size_t)k : cap - 1 - got;
        memcpy(buf + got, tmp, take);
        got += take;
        buf[got] = '\0';
    }
}

/* Read one HTTP answer head (and a Content-Length body) from fd within
 * timeout_ms: its status, or 0. The text read goes to buf. */
static int
answered_status(int fd, int timeout_ms, char *buf, size_t cap)
{
    size_t got = 0;
    int64_t deadline = mono_ms() + timeout_ms;
    buf[0] = '\0';
    for (;;) {
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            const char *cl = NULL;
            for (const char *q = buf; q < end && !cl; q++)
                if (strncasecmp(q, "\r\nContent-Length:", 17) == 0)
                    cl = q;
            size_t want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
            if (got >= want || got == cap - 1)
                break;
        }
        int left = (int)(deadline - mono_ms());
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || got == cap - 1 || poll(&p, 1, left) <= 0)
            return 0;
        ssize_t k = recv(fd, buf + got, cap - 1 - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return 0;
        got += (size_t)k;
        buf[got] = '\0';
    }
    int st = 0;
    return sscanf(buf, "HTTP/1.1 %d", &st) == 1 ? st : 0;
}

/* ---- the daemon --------------------------------------------------------------- */

static struct {
    pid_t pid;
    int out;        /* read end of its stdout */
    int port;       /* the 127.0.0.1 port, 0 if none */
    char base[128]; /* from the ready line: http://127.0.0.1:PORT */
    char log[300];  /* its stderr */
} D = {-1, -1, 0, "", ""};
static int n_starts;

/* Fork and exec lmqd with argv[1..] = args (NULL-terminated); stdout to a
 * pipe (D.out), stderr to a new log file (D.log). */
static void
lmqd_spawn(const char *const *args)
{
    const char *argv[48];
    size_t n = 0;
    int pipefd[2];
    ck_assert_msg(exists(LMQD_BIN), "lmqd is not built: %s is missing", LMQD_BIN);
    argv[n++] = LMQD_BIN;
    for (size_t i = 0; args && args[i]; i++) {
        ck_assert_uint_lt(n, 46);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    snprintf(D.log, sizeof D.log, "%s/lmqd.%d.log", lmq_test_dir, ++n_starts);
    ck_assert_int_eq(pipe(pipefd), 0);
    D.pid = check_fork();
    ck_assert_int_ge(D.pid, 0);
    if (D.pid == 0) {
        int fd = open(D.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(pipefd[1], STDOUT_FILENO);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(LMQD_BIN, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", LMQD_BIN, strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    D.out = pipefd[0];
}

/* Read the readiness line within timeout_ms into line: 1, or 0 when lmqd
 * exited or stayed silent. */
static int
lmqd_read_ready(int timeout_ms, char *line, size_t cap)
{
    int64_t deadline = mono_ms() + timeout_ms;
    size_t got = 0;
    line[0] = '\0';
    while (got < cap - 1 && !memchr(line, '\n', got)) {
        struct pollfd p = {D.out, POLLIN, 0};
        int left = (int)(deadline - mono_ms());
        if (left <= 0)
            return 0;
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t r = read(D.out, line + got, cap - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        got += (size_t)r;
        line[got] = '\0';
    }
    line[strcspn(line, "\n")] = '\0';
    return 1;
}

/* Start lmqd with args as given (no --home/--listen added); wait for the
 * readiness line and check it names `want_prefix`. */
static void
lmqd_start_raw(const char *const *args, const char *want_prefix)
{
    char line[256];
    lmqd_spawn(args);
    ck_assert_msg(lmqd_read_ready(READY_MS, line, sizeof line),
                  "lmqd printed no ready line within %d ms; log:\n%s", READY_MS,
                  tail_of(D.log));
    ck_assert_msg(strncmp(line, "lmqd ready ", 11) == 0, "ready line \"%s\"", line);
    snprintf(D.base, sizeof D.base, "%.120s", line + 11);
    if (want_prefix)
        ck_assert_msg(strncmp(D.base, want_prefix, strlen(want_prefix)) == 0,
                      "ready line \"%s\", expected \"lmqd ready %s...\"", line, want_prefix);
}

/* Start lmqd on `home` and a free 127.0.0.1 port, with extra arguments;
 * quiet adds --quiet (no access log). */
static void
lmqd_start_ex(const char *const *extra, int quiet)
{
    char listen[64], want[96];
    const char *args[40];
    size_t n = 0;
    D.port = free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", D.port);
    args[n++] = "--home";
    args[n++] = home;
    args[n++] = "--listen";
    args[n++] = listen;
    if (quiet)
        args[n++] = "--quiet";
    for (size_t i = 0; extra && extra[i]; i++) {
        ck_assert_uint_lt(n, 38);
        args[n++] = extra[i];
    }
    args[n] = NULL;
    snprintf(want, sizeof want, "http://127.0.0.1:%d", D.port);
    lmqd_start_raw(args, want);
    ck_assert_str_eq(D.base, want);
}

static void
lmqd_start(const char *const *extra)
{
    lmqd_start_ex(extra, 1);
}

static void
lmqd_close_out(void)
{
    if (D.out >= 0)
        close(D.out);
    D.out = -1;
}

/* SIGTERM lmqd; it must exit 0 within STOP_MS. */
static void
lmqd_stop(void)
{
    int st = 0;
    pid_t pid = D.pid;
    if (pid <= 0)
        return;
    D.pid = -1;
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    if (!wait_for(pid, STOP_MS, &st)) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        ck_abort_msg("lmqd did not stop within %d ms of SIGTERM; log:\n%s", STOP_MS,
                     tail_of(D.log));
    }
    lmqd_close_out();
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "lmqd did not stop cleanly on SIGTERM (%s); log:\n%s", describe_status(st),
                  tail_of(D.log));
}

/* SIGKILL lmqd and reap it. */
static void
lmqd_kill9(void)
{
    int st = 0;
    pid_t pid = D.pid;
    ck_assert_int_gt(pid, 0);
    D.pid = -1;
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    lmqd_close_out();
}

static void
setup(void)
{
    lmq_test_tmp_setup();
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    D.pid = -1;
    D.out = -1;
    n_starts = 0;
}

static void
teardown(void)
{
    if (D.pid > 0) {
        kill(D.pid, SIGKILL);
        waitpid(D.pid, NULL, 0);
        D.pid = -1;
    }
    lmqd_close_out();
    lmq_test_tmp_teardown();
}

/* ---- HTTP with libcurl -------------------------------------------------------- */

typedef struct resp {
    CURLcode rc;
    long status;
    char *body, *hdr;
    size_t len, hlen;
    int64_t ms; /* duration */
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
    if (!nb)
        return;
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

/* Configure h for one request; the caller performs it. */
static void
easy_setup(CURL *h, const char *url, const struct curl_slist *hdrs, const char *body,
           long body_len, long timeout_ms, resp *r)
{
    curl_easy_reset(h);
    memset(r, 0, sizeof *r);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    if (hdrs)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(body_len < 0 ? (long)strlen(body) : body_len));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    }
}

static void
easy_finish(CURL *h, CURLcode rc, resp *r)
{
    r->rc = rc;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (!r->body)
        buf_add(&r->body, &r->len, "", 0);
    if (!r->hdr)
        buf_add(&r->hdr, &r->hlen, "", 0);
}

/* One request; h may be NULL (a fresh handle, a fresh connection). body
 * NULL: GET. */
static void
http_do(CURL *h, const char *url, const struct curl_slist *hdrs, const char *body,
        long body_len, long timeout_ms, resp *r)
{
    CURL *own = NULL;
    if (!h)
        h = own = curl_easy_init();
    ck_assert_ptr_nonnull(h);
    easy_setup(h, url, hdrs, body, body_len, timeout_ms, r);
    int64_t t0 = mono_ms();
    CURLcode rc = curl_easy_perform(h);
    r->ms = mono_ms() - t0;
    easy_finish(h, rc, r);
    if (own)
        curl_easy_cleanup(own);
}

/* The value of response header name (case-insensitive), in buf; NULL if
 * absent. */
static const char *
hdr_get(const resp *r, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = r->hdr; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(buf, cap, "%.*s", (int)(ll - (size_t)(v - p)), v);
            return buf;
        }
        if (!eol)
            break;
        p = eol + 2;
    }
    return NULL;
}

static void
assert_request_id(const resp *r)
{
    char v[128];
    ck_assert_msg(hdr_get(r, "x-amzn-RequestId", v, sizeof v) && v[0],
                  "no x-amzn-RequestId header in a %ld answer; headers:\n%s", r->status,
                  r->hdr);
}

static struct curl_slist *
json_headers(const char *action, const char *extra)
{
    char t[128];
    struct curl_slist *l = NULL;
    snprintf(t, sizeof t, "X-Amz-Target: AmazonSQS.%s", action);
    l = curl_slist_append(l, "Content-Type: application/x-amz-json-1.0");
    l = curl_slist_append(l, t);
    l = curl_slist_append(l, "Expect:");
    if (extra)
        l = curl_slist_append(l, extra);
    return l;
}

/* An AWS JSON 1.0 request of `action` with the JSON text body to url
 * (NULL: D.base "/"); extra_hdr is one more header or NULL. */
static void
sqs_raw_at(CURL *h, const char *url, const char *action, const char *body,
           const char *extra_hdr, resp *r)
{
    char u[256];
    struct curl_slist *l = json_headers(action, extra_hdr);
    if (!url) {
        snprintf(u, sizeof u, "%s/", D.base);
        url = u;
    }
    http_do(h, url, l, body, -1, REQ_MS, r);
    curl_slist_free_all(l);
}

static void
sqs_raw(const char *action, const char *body, resp *r)
{
    sqs_raw_at(NULL, NULL, action, body, NULL, r);
    ck_assert_msg(r->rc == CURLE_OK, "%s: %s", action, curl_easy_strerror(r->rc));
    assert_request_id(r);
}

static json_t *
parse_json(const resp *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body, r->len, 0, &e);
    ck_assert_msg(j != NULL, "not JSON (%s): %.500s", e.text, r->body);
    return j;
}

/* Send req (stolen) as action; assert 200; return the parsed answer. */
static json_t *
sqs_ok(const char *action, json_t *req)
{
    resp r;
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    ck_assert_ptr_nonnull(body);
    sqs_raw(action, body, &r);
    ck_assert_msg(r.status == 200, "%s %s: HTTP %ld: %.500s", action, body, r.status, r.body);
    free(body);
    json_t *j = parse_json(&r);
    resp_free(&r);
    return j;
}

/* Send req (stolen) as action; assert the status and that __type ends with
 * type_suffix; the answer stays in *r (caller frees). */
static void
sqs_err(const char *action, json_t *req, long status, const char *type_suffix, resp *r)
{
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    sqs_raw(action, body, r);
    free(body);
    ck_assert_msg(r->status == status, "%s: HTTP %ld, expected %ld: %.500s", action, r->status,
                  status, r->body);
    json_t *j = parse_json(r);
    const char *t = json_string_value(json_object_get(j, "__type"));
    ck_assert_msg(t != NULL, "%s: no __type: %s", action, r->body);
    size_t tl = strlen(t), sl = strlen(type_suffix);
    ck_assert_msg(tl >= sl && strcmp(t + tl - sl, type_suffix) == 0,
                  "%s: __type %s, expected ...%s", action, t, type_suffix);
    json_decref(j);
}

/* A Query POST of the form body to D.base + path. */
static void
query_post(const char *path, const char *form, resp *r)
{
    char u[256];
    struct curl_slist *l = NULL;
    l = curl_slist_append(l, "Content-Type: application/x-www-form-urlencoded");
    l = curl_slist_append(l, "Expect:");
    snprintf(u, sizeof u, "%s%s", D.base, path);
    http_do(NULL, u, l, form, -1, REQ_MS, r);
    curl_slist_free_all(l);
    ck_assert_msg(r->rc == CURLE_OK, "Query %s: %s", form, curl_easy_strerror(r->rc));
    assert_request_id(r);
}

/* GET D.base + path: the body (malloc'd); asserts 200. */
static char *
get_text(const char *path)
{
    char u[256];
    resp r;
    snprintf(u, sizeof u, "%s%s", D.base, path);
    http_do(NULL, u, NULL, NULL, 0, REQ_MS, &r);
    ck_assert_msg(r.rc == CURLE_OK, "GET %s: %s", path, curl_easy_strerror(r.rc));
    ck_assert_msg(r.status == 200, "GET %s: HTTP %ld", path, r.status);
    char *b = r.body;
    r.body = NULL;
    resp_free(&r);
    return b;
}

/* ---- SQS helpers ---------------------------------------------------------------- */

static const char *
qurl(const char *name)
{
    static char ring[4][256];
    static int k;
    char *b = ring[k++ & 3];
    snprintf(b, 256, "%s/" ACCOUNT "/%s", D.base, name);
    return b;
}

static const char *
qarn(const char *name)
{
    static char ring[4][160];
    static int k;
    char *b = ring[k++ & 3];
    snprintf(b, 160, "arn:aws:sqs:us-east-1:" ACCOUNT ":%s", name);
    return b;
}

/* CreateQueue name with attrs (stolen, may be NULL); returns nothing, asserts
 * the returned URL. */
static void
create_queue(const char *name, json_t *attrs)
{
    json_t *req = json_pack("{s:s}", "QueueName", name);
    if (attrs)
        json_object_set_new(req, "Attributes", attrs);
    json_t *j = sqs_ok("CreateQueue", req);
    const char *u = json_string_value(json_object_get(j, "QueueUrl"));
    ck_assert_msg(u && strcmp(u, qurl(name)) == 0, "CreateQueue %s: QueueUrl %s", name,
                  u ? u : "(none)");
    json_decref(j);
}

static long
attr_num(const char *name, const char *attr)
{
    json_t *j = sqs_ok("GetQueueAttributes", json_pack("{s:s,s:[s]}", "QueueUrl", qurl(name),
                                                       "AttributeNames", attr));
    const char *v = json_string_value(json_object_get(json_object_get(j, "Attributes"), attr));
    ck_assert_msg(v != NULL, "GetQueueAttributes %s %s: none", name, attr);
    long n = strtol(v, NULL, 10);
    json_decref(j);
    return n;
}

static long
visible(const char *name)
{
    return attr_num(name, "ApproximateNumberOfMessages");
}

static void
send_body(const char *name, const char *body)
{
    json_decref(sqs_ok("SendMessage",
                       json_pack("{s:s,s:s}", "QueueUrl", qurl(name), "MessageBody", body)));
}

/* ReceiveMessage JSON for name: wait/vis/max < 0 are left out. */
static char *
receive_body(const char *name, int wait, int vis, int max)
{
    json_t *req = json_pack("{s:s}", "QueueUrl", qurl(name));
    if (wait >= 0)
        json_object_set_new(req, "WaitTimeSeconds", json_integer(wait));
    if (vis >= 0)
        json_object_set_new(req, "VisibilityTimeout", json_integer(vis));
    if (max >= 0)
        json_object_set_new(req, "MaxNumberOfMessages", json_integer(max));
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* The Messages of a ReceiveMessage answer body: a new reference to an
 * array (empty when there are none); NULL when body is not one. */
static json_t *
messages_of(const char *body, size_t len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    json_t *m = json_object_get(j, "Messages");
    json_t *out = m ? json_incref(m) : json_array();
    json_decref(j);
    if (!json_is_array(out)) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ReceiveMessage; asserts 200; returns the messages; *ms its duration. */
static json_t *
receive(const char *name, int wait, int vis, int max, int64_t *ms)
{
    resp r;
    char *b = receive_body(name, wait, vis, max);
    sqs_raw("ReceiveMessage", b, &r);
    ck_assert_msg(r.status == 200, "ReceiveMessage: HTTP %ld: %.300s", r.status, r.body);
    free(b);
    json_t *m = messages_of(r.body, r.len);
    ck_assert_msg(m != NULL, "ReceiveMessage answer: %.300s", r.body);
    if (ms)
        *ms = r.ms;
    resp_free(&r);
    return m;
}

static const char *
msg_field(json_t *msgs, size_t i, const char *f)
{
    return json_string_value(json_object_get(json_array_get(msgs, i), f));
}

/* The value of the metric series `series` (e.g. `x{a="b"}`) in the
 * Prometheus text, or -1 if it is absent. */
static double
metric(const char *text, const char *series)
{
    size_t sl = strlen(series);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, series, sl) == 0 && p[sl] == ' ')
            return strtod(p + sl + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

static long
parked_polls(void)
{
    char *t = get_text("/metrics");
    double v = metric(t, "lmqd_parked_polls");
    free(t);
    return (long)v;
}

/* Wait (bounded) until at least n long polls are parked. */
static void
wait_parked(long n, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    long got = 0;
    while ((got = parked_polls()) < n) {
        ck_assert_msg(mono_ms() < deadline, "only %ld of %ld polls parked after %d ms", got,
                      n, timeout_ms);
        sleep_ms(10);
    }
}

/* ---- many requests at once (curl multi) ---------------------------------------- */

typedef struct mreq {
    char *body;              /* owned; NULL: GET */
    struct curl_slist *hdrs; /* owned */
    long timeout_ms;
    resp r;
    int64_t done_ms; /* mono ms when it ended */
    int done;
} mreq;

typedef struct mjob {
    mreq *reqs;
    int n;
    char url[256];
    int64_t t0, t_end;
} mjob;

static void
mreq_receive(mreq *m, const char *name, int wait, long timeout_ms)
{
    memset(m, 0, sizeof *m);
    m->body = receive_body(name, wait, -1, -1);
    m->hdrs = json_headers("ReceiveMessage", NULL);
    m->timeout_ms = timeout_ms;
}

static void
mreqs_free(mreq *m, int n)
{
    for (int i = 0; i < n; i++) {
        free(m[i].body);
        curl_slist_free_all(m[i].hdrs);
        resp_free(&m[i].r);
    }
}

/* Run every request of j concurrently (one connection each) until all
 * ended; each has its own timeout, so this is bounded. No assertions (it
 * may run in a thread). */
static void *
multi_run(void *arg)
{
    mjob *j = arg;
    CURLM *cm = curl_multi_init();
    CURL **h = calloc((size_t)j->n, sizeof *h);
    int running = 0;
    j->t0 = mono_ms();
    for (int i = 0; cm && h && i < j->n; i++) {
        mreq *m = &j->reqs[i];
        h[i] = curl_easy_init();
        if (!h[i]) {
            m->r.rc = CURLE_OUT_OF_MEMORY;
            m->done = 1;
            continue;
        }
        easy_setup(h[i], j->url, m->hdrs, m->body, -1, m->timeout_ms, &m->r);
        curl_easy_setopt(h[i], CURLOPT_PRIVATE, m);
        curl_easy_setopt(h[i], CURLOPT_FRESH_CONNECT, 1L);
        curl_multi_add_handle(cm, h[i]);
    }
    do {
        curl_multi_perform(cm, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(cm, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            mreq *m = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&m);
            easy_finish(msg->easy_handle, msg->data.result, &m->r);
            m->done_ms = mono_ms();
            m->r.ms = m->done_ms - j->t0;
            m->done = 1;
        }
        if (running)
            curl_multi_poll(cm, NULL, 0, 100, NULL);
    } while (running);
    for (int i = 0; h && i < j->n; i++)
        if (h[i]) {
            curl_multi_remove_handle(cm, h[i]);
            curl_easy_cleanup(h[i]);
        }
    free(h);
    curl_multi_cleanup(cm);
    j->t_end = mono_ms();
    return NULL;
}

static void
mjob_init(mjob *j, mreq *reqs, int n)
{
    memset(j, 0, sizeof *j);
    j->reqs = reqs;
    j->n = n;
    snprintf(j->url, sizeof j->url, "%s/", D.base);
}

/* ---- a process of the same home: liblmq in a forked child ------------------------- */

/* Fork a child that waits for a byte on *go_fd, then opens the home with
 * liblmq (after the fork, as LMDB requires) and sends body to queue. */
static pid_t
child_sender(const char *queue, const char *body, int *go_fd)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = check_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char c;
        struct pollfd pf = {p[0], POLLIN, 0};
        close(p[1]);
        if (poll(&pf, 1, 30000) != 1 || read(p[0], &c, 1) != 1)
            _exit(10);
        lmq_env_opts o;
        lmq_env *env = NULL;
        lmq_queue *q = NULL;
        lmq_send_entry e;
        lmq_env_opts_init(&o);
        if (lmq_env_open(home, &o, &env) != 0)
            _exit(11);
        if (lmq_queue_open(env, queue, &q) != 0)
            _exit(12);
        lmq_send_entry_init(&e);
        e.body = body;
        e.body_len = SIZE_MAX;
        if (lmq_send(q, &e, NULL) != 0)
            _exit(13);
        lmq_queue_close(q);
        lmq_env_close(env);
        _exit(0);
    }
    close(p[0]);
    *go_fd = p[1];
    return pid;
}

/* ================================================================================ */
/* Long polls woken by other processes                                                  */
/* ================================================================================ */

typedef struct poll_job {
    char name[64];
    int wait;
    resp r;
    int64_t t_end;
} poll_job;

static void *
poll_thread(void *arg)
{
    poll_job *p = arg;
    char *b = receive_body(p->name, p->wait, -1, -1);
    sqs_raw_at(NULL, NULL, "ReceiveMessage", b, NULL, &p->r);
    p->t_end = mono_ms();
    free(b);
    return NULL;
}

/* The poll's answer: exactly one message with this body, in time. */
static void
assert_polled(poll_job *p, const char *body, int64_t t_send)
{
    ck_assert_msg(p->r.rc == CURLE_OK, "poll: %s", curl_easy_strerror(p->r.rc));
    ck_assert_msg(p->r.status == 200, "poll: HTTP %ld: %s", p->r.status, p->r.body);
    json_t *m = messages_of(p->r.body, p->r.len);
    ck_assert_msg(m && json_array_size(m) == 1, "poll got %s", p->r.body);
    ck_assert_str_eq(msg_field(m, 0, "Body"), body);
    json_decref(m);
    ck_assert_msg(p->t_end - t_send < 3000, "the poll returned %lld ms after the send",
                  (long long)(p->t_end - t_send));
}

START_TEST(test_poll_woken_by_liblmq_child)
{
    int go;
    pthread_t th;
    poll_job p = {.name = "q", .wait = 10};
    lmqd_start(NULL);
    create_queue("q", NULL);
    /* The child is forked before any thread exists; it opens the home only
     * when told to. */
    pid_t child = child_sender("q", "from a C process", &go);
    int64_t t0 = mono_ms();
    ck_assert_int_eq(pthread_create(&th, NULL, poll_thread, &p), 0);
    wait_parked(1, 10000);
    sleep_ms(200);
    int64_t t_send = mono_ms();
    ck_assert_int_eq(write(go, "x", 1), 1);
    close(go);
    pthread_join(th, NULL);
    int st;
    ck_assert_msg(wait_for(child, 20000, &st), "the child did not end");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %s", describe_status(st));
    assert_polled(&p, "from a C process", t_send);
    ck_assert_int_ge(p.t_end - t0, 200); /* it did wait for the send */
    resp_free(&p.r);
    lmqd_stop();
}
END_TEST

START_TEST(test_poll_woken_by_cli)
{
    pthread_t th;
    poll_job p = {.name = "q", .wait = 10};
    lmqd_start(NULL);
    create_queue("q", NULL);
    ck_assert_int_eq(pthread_create(&th, NULL, poll_thread, &p), 0);
    wait_parked(1, 10000);
    sleep_ms(200);
    int64_t t_send = mono_ms();
    const char *argv[] = {LMQ_BIN, "--home", home, "send-message", "--queue-url", "q",
                          "--message-body", "from the CLI", NULL};
    ck_assert_int_eq(run_cmd(argv, 20000), 0);
    pthread_join(th, NULL);
    assert_polled(&p, "from the CLI", t_send);
    resp_free(&p.r);
    lmqd_stop();
}
END_TEST

/* ================================================================================ */
/* Long polls: timing                                                                   */
/* ================================================================================ */

START_TEST(test_poll_empty_waits_its_time)
{
    int64_t ms;
    lmqd_start(NULL);
    create_queue("q", NULL);
    json_t *m = receive("q", 1, -1, -1, &ms);
    ck_assert_uint_eq(json_array_size(m), 0);
    ck_assert_msg(ms >= 1000 && ms < 3000, "WaitTimeSeconds=1 took %lld ms", (long long)ms);
    json_decref(m);
    /* WaitTimeSeconds=0: no wait. */
    m = receive("q", 0, -1, -1, &ms);
    ck_assert_uint_eq(json_array_size(m), 0);
    ck_assert_msg(ms < 900, "WaitTimeSeconds=0 took %lld ms", (long long)ms);
    json_decref(m);
    lmqd_stop();
}
END_TEST

/* A long poll parked by MHD's own thread (a `periodic` lmqd has no
 * workers) whose watcher answers it before that thread has returned: the
 * connection must already be suspended. lmqd suspended it only after
 * parking, and died of SIGSEGV in MHD_resume_connection when the watcher
 * came first (found by the kill storm); LMQD_TEST_PARK_LAG_MS holds MHD's
 * thread after parking past the poll's whole wait, so the watcher always
 * comes first. */
START_TEST(test_poll_answered_before_its_thread_returns)
{
    const char *extra[] = {"--durability", "periodic", NULL};
    int64_t ms;
    ck_assert_int_eq(setenv("LMQD_TEST_PARK_LAG_MS", "1500", 1), 0);
    lmqd_start(extra);
    unsetenv("LMQD_TEST_PARK_LAG_MS");
    create_queue("q", NULL);
    json_t *m = receive("q", 1, -1, -1, &ms);
    ck_assert_uint_eq(json_array_size(m), 0);
    ck_assert_msg(ms >= 1000 && ms < 10000, "WaitTimeSeconds=1 took %lld ms",
                  (long long)ms);
    json_decref(m);
    /* lmqd lives on, and answers */
    send_body("q", "after");
    m = receive("q", 0, -1, -1, &ms);
    ck_assert_uint_eq(json_array_size(m), 1);
    json_decref(m);
    lmqd_stop();
}
END_TEST

START_TEST(test_poll_queue_wait_attribute)
{
    int64_t ms;
    lmqd_start(NULL);
    create_queue("w", json_pack("{s:s}", "ReceiveMessageWaitTimeSeconds", "1"));
    json_t *m = receive("w", -1, -1, -1, &ms);
    ck_assert_uint_eq(json_array_size(m), 0);
    ck_assert_msg(ms >= 1000 && ms < 3000,
                  "ReceiveMessageWaitTimeSeconds=1 and no WaitTimeSeconds took %lld ms",
                  (long long)ms);
    json_decref(m);
    /* An explicit 0 overrides the queue's wait. */
    m = receive("w", 0, -1, -1, &ms);
    ck_assert_msg(ms < 900, "WaitTimeSeconds=0 on a waiting queue took %lld ms",
                  (long long)ms);
    json_decref(m);
    lmqd_stop();
}
END_TEST

START_TEST(test_poll_gets_delayed_message)
{
    int64_t ms;
    lmqd_start(NULL);
    create_queue("q", NULL);
    int64_t t_send = mono_ms();
    json_decref(sqs_ok("SendMessage", json_pack("{s:s,s:s,s:i}", "QueueUrl", qurl("q"),
                                                "MessageBody", "later", "DelaySeconds", 1)));
    json_t *m = receive("q", 5, -1, -1, &ms);
    int64_t el = mono_ms() - t_send;
    ck_assert_msg(json_array_size(m) == 1, "the waiting receive got %zu messages",
                  json_array_size(m));
    ck_assert_str_eq(msg_field(m, 0, "Body"), "later");
    ck_assert_msg(el >= 900 && el < 3000, "a 1 s delay was received after %lld ms",
                  (long long)el);
    json_decref(m);
    lmqd_stop();
}
END_TEST

START_TEST(test_poll_gets_message_after_visibility_timeout)
{
    lmqd_start(NULL);
    create_queue("q", NULL);
    send_body("q", "again");
    int64_t t0 = mono_ms();
    json_t *m1 = receive("q", 0, 1, -1, NULL);
    ck_assert_uint_eq(json_array_size(m1), 1);
    json_t *m2 = receive("q", 5, -1, -1, NULL);
    int64_t el = mono_ms() - t0;
    ck_assert_msg(json_array_size(m2) == 1, "the waiting receive got %zu messages",
                  json_array_size(m2));
    ck_assert_str_eq(msg_field(m2, 0, "MessageId"), msg_field(m1, 0, "MessageId"));
    ck_assert_str_ne(msg_field(m2, 0, "ReceiptHandle"), msg_field(m1, 0, "ReceiptHandle"));
    ck_assert_msg(el >= 900 && el < 3500,
                  "a 1 s visibility timeout ran out after %lld ms", (long long)el);
    json_decref(m1);
    json_decref(m2);
    lmqd_stop();
}
END_TEST

/* ================================================================================ */
/* Long polls: many at once                                                             */
/* ================================================================================ */

START_TEST(test_polls_split_a_burst)
{
    enum { N = 20 };
    mreq reqs[N];
    mjob j;
    pthread_t th;
    char body[32];
    lmqd_start(NULL);
    create_queue("q", NULL);
    for (int i = 0; i < N; i++)
        mreq_receive(&reqs[i], "q", 10, 30000);
    mjob_init(&j, reqs, N);
    ck_assert_int_eq(pthread_create(&th, NULL, multi_run, &j), 0);
    wait_parked(N, 15000);
    int64_t t_send = mono_ms();
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof body, "m%02d", i);
        send_body("q", body);
    }
    pthread_join(th, NULL);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) {
        mreq *m = &reqs[i];
        ck_assert_msg(m->r.rc == CURLE_OK && m->r.status == 200, "poll %d: %s HTTP %ld", i,
                      curl_easy_strerror(m->r.rc), m->r.status);
        json_t *msgs = messages_of(m->r.body, m->r.len);
        ck_assert_msg(msgs && json_array_size(msgs) == 1,
                      "poll %d got %s (each poll must get exactly one)", i, m->r.body);
        const char *b = msg_field(msgs, 0, "Body");
        int k = -1;
        ck_assert_msg(b && sscanf(b, "m%d", &k) == 1 && k >= 0 && k < N, "body %s", b);
        ck_assert_msg(!seen[k], "%s delivered twice", b);
        seen[k] = 1;
        ck_assert_msg(m->done_ms - t_send < 8000, "poll %d answered %lld ms after the sends",
                      i, (long long)(m->done_ms - t_send));
        json_decref(msgs);
    }
    mreqs_free(reqs, N);
    lmqd_stop();
}
END_TEST

START_TEST(test_many_parked_polls_answered)
{
    enum { N = 200 };
    mreq *reqs = calloc(N, sizeof *reqs);
    mjob j;
    pthread_t th;
    long most = 0;
    ck_assert_ptr_nonnull(reqs);
    lmqd_start(NULL);
    create_queue("q", NULL);
    for (int i = 0; i < N; i++)
        mreq_receive(&reqs[i], "q", 3, 30000);
    mjob_init(&j, reqs, N);
    ck_assert_int_eq(pthread_create(&th, NULL, multi_run, &j), 0);
    /* All of them wait at once (the metric counts parked polls). */
    for (int64_t deadline = mono_ms() + 2500; mono_ms() < deadline && most < N;) {
        long k = parked_polls();
        if (k > most)
            most = k;
        sleep_ms(20);
    }
    pthread_join(th, NULL);
    ck_assert_msg(most == N, "at most %ld of %d polls were parked at once", most, N);
    for (int i = 0; i < N; i++) {
        mreq *m = &reqs[i];
        ck_assert_msg(m->r.rc == CURLE_OK && m->r.status == 200, "poll %d: %s HTTP %ld", i,
                      curl_easy_strerror(m->r.rc), m->r.status);
        json_t *msgs = messages_of(m->r.body, m->r.len);
        ck_assert_msg(msgs && json_array_size(msgs) == 0, "poll %d got %s", i, m->r.body);
        json_decref(msgs);
        ck_assert_msg(m->r.ms >= 2900 && m->r.ms < 9000,
                      "poll %d (WaitTimeSeconds=3) answered after %lld ms", i,
                      (long long)m->r.ms);
    }
    ck_assert_int_eq(parked_polls(), 0);
    mreqs_free(reqs, N);
    free(reqs);
    lmqd_stop();
}
END_TEST

/* ================================================================================ */
/* Stopping                                                                             */
/* ================================================================================ */

START_TEST(test_sigterm_answers_parked_polls)
{
    enum { N = 5 };
    mreq reqs[N];
    mjob j;
    pthread_t th;
    char pidfile[300], *txt;
    int st = 0;
    tpath(pidfile, sizeof pidfile, "lmqd.pid");
    const char *extra[] = {"--pid-file", pidfile, NULL};
    lmqd_start(extra);
    txt = slurp(pidfile);
    ck_assert_msg(atol(txt) == (long)D.pid, "pid file says \"%s\", lmqd is %ld", txt,
                  (long)D.pid);
    free(txt);
    create_queue("q", NULL);
    for (int i = 0; i < N; i++)
        mreq_receive(&reqs[i], "q", 20, 30000);
    mjob_init(&j, reqs, N);
    ck_assert_int_eq(pthread_create(&th, NULL, multi_run, &j), 0);
    wait_parked(N, 15000);

    pid_t pid = D.pid;
    int port = D.port;
    int64_t t_term = mono_ms();
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    pthread_join(th, NULL);
    for (int i = 0; i < N; i++) {
        mreq *m = &reqs[i];
        ck_assert_msg(m->r.rc == CURLE_OK && m->r.status == 200, "poll %d: %s HTTP %ld", i,
                      curl_easy_strerror(m->r.rc), m->r.status);
        json_t *msgs = messages_of(m->r.body, m->r.len);
        ck_assert_msg(msgs && json_array_size(msgs) == 0, "poll %d got %s", i, m->r.body);
        json_decref(msgs);
        ck_assert_msg(m->done_ms - t_term < 3000, "poll %d answered %lld ms after SIGTERM", i,
                      (long long)(m->done_ms - t_term));
    }
    D.pid = -1;
    ck_assert_msg(wait_for(pid, STOP_MS, &st), "lmqd did not exit after SIGTERM");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "lmqd: %s; log:\n%s",
                  describe_status(st), tail_of(D.log));
    lmqd_close_out();
    /* Nobody listens any more; the pid file is gone. */
    int fd = tcp_connect(port);
    if (fd >= 0)
        close(fd);
    ck_assert_msg(fd == -ECONNREFUSED, "connect after exit: %s",
                  fd >= 0 ? "accepted" : strerror(-fd));
    ck_assert_msg(!exists(pidfile), "the pid file outlived lmqd");
    mreqs_free(reqs, N);
}
END_TEST

START_TEST(test_ephemeral_home_removed)
{
    char listen[64], eph[300] = "";
    int port = free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    const char *args[] = {"--ephemeral", "--listen", listen, NULL};
    lmqd_start_raw(args, "http://127.0.0.1:");
    /* The home is named on stderr: "lmqd: listening on URL (home DIR, ...)". */
    for (int64_t deadline = mono_ms() + 10000; !eph[0] && mono_ms() < deadline;) {
        char *log = slurp(D.log);
        const char *h = strstr(log, "(home ");
        if (h) {
            h += 6;
            snprintf(eph, sizeof eph, "%.*s", (int)strcspn(h, ",)\n"), h);
        }
        free(log);
        if (!eph[0])
            sleep_ms(10);
    }
    ck_assert_msg(eph[0], "lmqd named no home on stderr:\n%s", tail_of(D.log));
    ck_assert_msg(strncmp(eph, "/tmp/lmqd-ephemeral.", 20) == 0, "ephemeral home %s", eph);
    ck_assert_msg(exists(eph), "%s does not exist while lmqd runs", eph);
    create_queue("q", NULL);
    send_body("q", "gone soon");
    ck_assert_int_eq(visible("q"), 1);
    lmqd_stop();
    ck_assert_msg(!exists(eph), "the ephemeral home %s outlived lmqd", eph);
}
END_TEST

/* ================================================================================ */
/* A killed daemon loses no acknowledged send                                           */
/* ================================================================================ */

enum { LOADERS = 8, LOAD_CAP = 6000 };

typedef struct loader {
    int id;
    volatile int *stop;
    char url[256];
    char (*acked)[24];
    size_t n_acked;
    long failed;
} loader;

static void *
load_thread(void *arg)
{
    loader *l = arg;
    CURL *h = curl_easy_init();
    struct curl_slist *hl = json_headers("SendMessage", NULL);
    char qu[256], body[512], text[24];
    snprintf(qu, sizeof qu, "%s", qurl("q"));
    for (long i = 0; h && !*l->stop && l->n_acked < LOAD_CAP; i++) {
        resp r;
        snprintf(text, sizeof text, "t%d-%ld", l->id, i);
        snprintf(body, sizeof body, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"%s\"}", qu, text);
        easy_setup(h, l->url, hl, body, -1, 10000, &r);
        CURLcode rc = curl_easy_perform(h);
        easy_finish(h, rc, &r);
        if (rc == CURLE_OK && r.status == 200 && strstr(r.body, "\"MessageId\""))
            memcpy(l->acked[l->n_acked++], text, sizeof text);
        else
            l->failed++;
        resp_free(&r);
        if (l->failed > 50)
            break; /* the daemon is gone */
    }
    curl_slist_free_all(hl);
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

static int
cmp_str24(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Drain queue q of `home` in a forked child with liblmq; the bodies go to
 * the file `out`, one per line. */
static void
drain_with_liblmq(const char *out)
{
    int st;
    pid_t pid = check_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lmq_env_opts o;
        lmq_env *env = NULL;
        lmq_queue *q = NULL;
        lmq_recv_opts ro;
        FILE *f = fopen(out, "w");
        if (!f)
            _exit(10);
        lmq_env_opts_init(&o);
        o.durability = LMQ_DURABILITY_NONE;
        if (lmq_env_open(home, &o, &env) != 0 || lmq_queue_open(env, "q", &q) != 0)
            _exit(11);
        lmq_recv_opts_init(&ro);
        ro.max_messages = 10;
        ro.visibility_timeout = 3600;
        ro.wait_seconds = 0;
        for (int round = 0; round < LOADERS * LOAD_CAP; round++) {
            lmq_msg *m[10];
            size_t n = 0;
            if (lmq_receive(q, &ro, m, 10, &n) != 0)
                _exit(12);
            if (n == 0)
                break;
            for (size_t i = 0; i < n; i++) {
                fprintf(f, "%s\n", lmq_msg_body(m[i], NULL));
                lmq_msg_free(m[i]);
            }
        }
        if (fclose(f) != 0)
            _exit(13);
        lmq_queue_close(q);
        lmq_env_close(env);
        _exit(0);
    }
    ck_assert_msg(wait_for(pid, 60000, &st), "the draining child did not end");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "draining child: %s",
                  describe_status(st));
}

/* Drain q through a restarted lmqd: the bodies go to `out`. */
static void
drain_with_lmqd(const char *out, const char *durability)
{
    const char *extra[] = {"--durability", durability, NULL};
    FILE *f = fopen(out, "w");
    ck_assert_ptr_nonnull(f);
    lmqd_start(extra);
    CURL *h = curl_easy_init();
    char *b = receive_body("q", 0, 3600, 10);
    for (int round = 0; round < LOADERS * LOAD_CAP; round++) {
        resp r;
        sqs_raw_at(h, NULL, "ReceiveMessage", b, NULL, &r);
        ck_assert_msg(r.rc == CURLE_OK && r.status == 200, "drain: %s HTTP %ld",
                      curl_easy_strerror(r.rc), r.status);
        json_t *m = messages_of(r.body, r.len);
        ck_assert_ptr_nonnull(m);
        size_t n = json_array_size(m);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s\n", msg_field(m, i, "Body"));
        json_decref(m);
        resp_free(&r);
        if (n == 0)
            break;
    }
    free(b);
    curl_easy_cleanup(h);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(visible("q"), 0);
    lmqd_stop();
}

static void
kill_under_load(const char *durability, int restart)
{
    const char *extra[] = {"--durability", durability, NULL};
    loader L[LOADERS];
    pthread_t th[LOADERS];
    volatile int stop = 0;
    char out[300];
    size_t total = 0;
    lmqd_start(extra);
    create_queue("q", NULL);
    for (int i = 0; i < LOADERS; i++) {
        memset(&L[i], 0, sizeof L[i]);
        L[i].id = i;
        L[i].stop = &stop;
        snprintf(L[i].url, sizeof L[i].url, "%s/", D.base);
        L[i].acked = calloc(LOAD_CAP, sizeof *L[i].acked);
        ck_assert_ptr_nonnull(L[i].acked);
        ck_assert_int_eq(pthread_create(&th[i], NULL, load_thread, &L[i]), 0);
    }
    sleep_ms(1000); /* the load */
    lmqd_kill9();
    stop = 1;
    for (int i = 0; i < LOADERS; i++) {
        pthread_join(th[i], NULL);
        total += L[i].n_acked;
    }
    ck_assert_msg(total > 0, "no send was acknowledged in 1 s");

    tpath(out, sizeof out, "drained.txt");
    if (restart)
        drain_with_lmqd(out, durability);
    else
        drain_with_liblmq(out);

    /* Every acknowledged body is there (unacknowledged ones may be too). */
    char *text = slurp(out);
    size_t n_got = 0, cap = 1024;
    char(*got)[24] = malloc(cap * sizeof *got);
    ck_assert_ptr_nonnull(got);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (n_got == cap) {
            cap *= 2;
            got = realloc(got, cap * sizeof *got);
            ck_assert_ptr_nonnull(got);
        }
        snprintf(got[n_got++], sizeof *got, "%s", line);
    }
    free(text);
    qsort(got, n_got, sizeof *got, cmp_str24);
    size_t lost = 0;
    const char *first_lost = NULL;
    for (int i = 0; i < LOADERS; i++)
        for (size_t k = 0; k < L[i].n_acked; k++)
            if (!bsearch(L[i].acked[k], got, n_got, sizeof *got, cmp_str24)) {
                if (!first_lost)
                    first_lost = L[i].acked[k];
                lost++;
            }
    ck_assert_msg(lost == 0,
                  "durability %s: %zu of %zu acknowledged sends lost after SIGKILL "
                  "(first: %s; %zu bodies found)",
                  durability, lost, total, first_lost, n_got);
    ck_assert_uint_ge(n_got, total);
    for (int i = 0; i < LOADERS; i++)
        free(L[i].acked);
    free(got);
}

START_TEST(test_sigkill_loses_no_ack_full)
{
    kill_under_load("full", 1);
}
END_TEST

START_TEST(test_sigkill_loses_no_ack_none)
{
    kill_under_load("none", 0);
}
END_TEST

/* ================================================================================ */
/* Limits                                                                               */
/* ================================================================================ */

/* /health answers ok. */
static void
assert_healthy(void)
{
    char *t = get_text("/health");
    ck_assert_msg(strncmp(t, "ok", 2) == 0, "/health: %s", t);
    free(t);
}

START_TEST(test_body_too_large)
{
    size_t n = MAX_BODY + 64 * 1024;
    char *body = malloc(n + 1);
    char u[256];
    ck_assert_ptr_nonnull(body);
    lmqd_start(NULL);
    create_queue("q", NULL);
    int k = snprintf(body, n, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"", qurl("q"));
    memset(body + k, 'a', n - (size_t)k - 2);
    memcpy(body + n - 2, "\"}", 2);
    body[n] = '\0';
    snprintf(u, sizeof u, "%s/", D.base);
    /* Without and with Expect: 100-continue (most SDKs send none). */
    for (int expect = 0; expect < 2; expect++) {
        resp r;
        struct curl_slist *l = json_headers("SendMessage", expect ? "Expect: 100-continue" : NULL);
        http_do(NULL, u, l, body, (long)n, 20000, &r);
        curl_slist_free_all(l);
        ck_assert_msg(r.rc == CURLE_OK, "%s Expect: a %zu-byte body: %s (no 413 seen)",
                      expect ? "with" : "without", n, curl_easy_strerror(r.rc));
        ck_assert_msg(r.status == 413, "%s Expect: a %zu-byte body got HTTP %ld",
                      expect ? "with" : "without", n, r.status);
        assert_request_id(&r);
        resp_free(&r);
    }
    /* As Python's http.client (boto3) does: the head and the whole body
     * written at once, then the answer read. The send must not break and
     * the 413 must come; the connection then serves the next request. */
    {
        char head[512], buf[4096];
        int fd = tcp_connect(D.port);
        ck_assert_int_ge(fd, 0);
        snprintf(head, sizeof head,
                 "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 "Content-Type: application/x-amz-json-1.0\r\n"
                 "X-Amz-Target: AmazonSQS.SendMessage\r\nContent-Length: %zu\r\n\r\n",
                 D.port, n);
        send_all(fd, head);
        size_t off = 0;
        while (off < n) {
            ssize_t w = send(fd, body + off, n - off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            ck_assert_msg(w > 0, "sending a %zu-byte body broke after %zu bytes (%s): "
                          "the client sees no 413", n, off, strerror(errno));
            off += (size_t)w;
        }
        ck_assert_msg(answered_status(fd, 20000, buf, sizeof buf) == 413,
                      "a %zu-byte body sent at once: %.200s", n, buf);
        send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        ck_assert_msg(answered_status(fd, 20000, buf, sizeof buf) == 200,
                      "the connection after a 413: %.200s", buf);
        close(fd);
    }
    free(body);
    ck_assert_int_eq(visible("q"), 0);
    send_body("q", "small");
    ck_assert_int_eq(visible("q"), 1);
    assert_healthy();
    lmqd_stop();
}
END_TEST

START_TEST(test_header_too_large)
{
    char u[256];
    size_t big = 40 * 1024;
    char *h = malloc(big + 16);
    ck_assert_ptr_nonnull(h);
    lmqd_start(NULL);
    snprintf(u, sizeof u, "%s/health", D.base);
    /* One huge header, then a thousand small ones. */
    for (int round = 0; round < 2; round++) {
        struct curl_slist *l = NULL;
        if (round == 0) {
            memcpy(h, "X-Big: ", 7);
            memset(h + 7, 'b', big);
            h[7 + big] = '\0';
            l = curl_slist_append(l, h);
        } else {
            for (int i = 0; i < 1000; i++) {
                char one[64];
                snprintf(one, sizeof one, "X-Many-%04d: %032d", i, i);
                l = curl_slist_append(l, one);
            }
        }
        resp r;
        http_do(NULL, u, l, NULL, 0, 10000, &r);
        curl_slist_free_all(l);
        ck_assert_msg(r.rc != CURLE_OPERATION_TIMEDOUT, "a >32 KiB header section hung");
        if (r.rc == CURLE_OK)
            ck_assert_msg(r.status == 431 || r.status == 413 || r.status == 400,
                          "a >32 KiB header section got HTTP %ld", r.status);
        resp_free(&r);
        assert_healthy();
    }
    free(h);
    lmqd_stop();
}
END_TEST

START_TEST(test_slow_client_does_not_block_others)
{
    char buf[4096];
    const char *extra[] = {"--idle-timeout", "1", NULL};
    lmqd_start(extra);
    /* Half a body, and half a header section; then nothing. */
    int a = tcp_connect(D.port), b = tcp_connect(D.port);
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(b, 0);
    send_all(a, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/x-amz-json-1.0\r\n"
                "X-Amz-Target: AmazonSQS.ListQueues\r\nContent-Length: 100\r\n\r\n{\"Qu");
    send_all(b, "GET /hea");
    int64_t t0 = mono_ms();
    /* Others are served meanwhile. */
    for (int i = 0; i < 3; i++) {
        resp r;
        char u[256];
        snprintf(u, sizeof u, "%s/health", D.base);
        http_do(NULL, u, NULL, NULL, 0, 5000, &r);
        ck_assert_msg(r.rc == CURLE_OK && r.status == 200, "health behind a slow client: %s %ld",
                      curl_easy_strerror(r.rc), r.status);
        resp_free(&r);
    }
    create_queue("q", NULL);
    send_body("q", "x");
    ck_assert_int_eq(visible("q"), 1);
    ck_assert_msg(mono_ms() - t0 < 3000, "others waited %lld ms behind a slow client",
                  (long long)(mono_ms() - t0));
    /* Both stalled connections are closed after the idle timeout. */
    ck_assert_msg(read_until_closed(a, 8000, buf, sizeof buf),
                  "a stalled body was not closed within 8 s (--idle-timeout 1)");
    ck_assert_msg(read_until_closed(b, 8000, buf, sizeof buf),
                  "stalled headers were not closed within 8 s (--idle-timeout 1)");
    ck_assert_msg(mono_ms() - t0 >= 900, "closed after %lld ms, before the idle timeout",
                  (long long)(mono_ms() - t0));
    close(a);
    close(b);
    assert_healthy();
    lmqd_stop();
}
END_TEST

/* Read from fd until a whole "HTTP/1.1 200" head arrived or timeout_ms
 * passed: 1 if answered. */
static int
answered(int fd, int timeout_ms)
{
    char buf[2048];
    size_t got = 0;
    int64_t deadline = mono_ms() + timeout_ms;
    buf[0] = '\0';
    while (!strstr(buf, "\r\n\r\n")) {
        int left = (int)(deadline - mono_ms());
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        ssize_t k = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
        buf[got] = '\0';
    }
    return strncmp(buf, "HTTP/1.1 200", 12) == 0;
}

START_TEST(test_max_connections)
{
    enum { LIMIT = 4, OPEN = LIMIT + 3 };
    int fds[OPEN], ok[OPEN], served = 0;
    const char *extra[] = {"--max-connections", "4", NULL};
    lmqd_start(extra);
    /* Keep-alive requests on more connections than the limit: no more than
     * the limit are served at once (the rest wait, unaccepted). */
    for (int i = 0; i < OPEN; i++) {
        fds[i] = tcp_connect(D.port);
        ck_assert_msg(fds[i] >= 0, "connect %d: %s", i, strerror(-fds[i]));
        send_all(fds[i], "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    int64_t deadline = mono_ms() + 1500;
    for (int i = 0; i < OPEN; i++) {
        int left = (int)(deadline - mono_ms());
        ok[i] = answered(fds[i], left > 0 ? left : 1);
        served += ok[i];
    }
    ck_assert_msg(served >= 1 && served <= LIMIT, "%d of %d connections served (limit %d)",
                  served, OPEN, LIMIT);
    /* When the served ones go away, the others are served. */
    for (int i = 0; i < OPEN; i++)
        if (ok[i]) {
            close(fds[i]);
            fds[i] = -1;
        }
    for (int i = 0; i < OPEN; i++)
        if (fds[i] >= 0) {
            ck_assert_msg(answered(fds[i], 5000),
                          "a waiting connection was not served after others closed");
            close(fds[i]);
        }
    for (int i = 0; i < 2 * LIMIT; i++)
        assert_healthy();
    lmqd_stop();
}
END_TEST

/* ================================================================================ */
/* Malformed requests change nothing                                                    */
/* ================================================================================ */

START_TEST(test_malformed_json_changes_nothing)
{
    resp r;
    char body[512];
    lmqd_start(NULL);
    create_queue("q", NULL);
    send_body("q", "one");
    ck_assert_int_eq(visible("q"), 1);

    /* Truncated JSON. */
    snprintf(body, sizeof body, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"two\"", qurl("q"));
    sqs_raw("SendMessage", body, &r);
    ck_assert_msg(r.status == 400, "truncated JSON: HTTP %ld", r.status);
    ck_assert_msg(strstr(r.body, "SerializationException") != NULL, "%s", r.body);
    resp_free(&r);
    ck_assert_int_eq(visible("q"), 1);

    /* Invalid UTF-8 in a string. */
    snprintf(body, sizeof body, "{\"QueueUrl\":\"%s\",\"MessageBody\":\"a\xff\xfe b\"}",
             qurl("q"));
    sqs_raw("SendMessage", body, &r);
    ck_assert_msg(r.status == 400, "invalid UTF-8: HTTP %ld: %s", r.status, r.body);
    json_t *j = parse_json(&r);
    ck_assert_ptr_nonnull(json_object_get(j, "__type"));
    json_decref(j);
    resp_free(&r);
    ck_assert_int_eq(visible("q"), 1);

    /* Not an object; a member of the wrong type; a missing member. */
    sqs_raw("SendMessage", "[1,2,3]", &r);
    ck_assert_msg(r.status == 400, "an array: HTTP %ld", r.status);
    resp_free(&r);
    sqs_err("SendMessage",
            json_pack("{s:s,s:s,s:s}", "QueueUrl", qurl("q"), "MessageBody", "x",
                      "DelaySeconds", "soon"),
            400, "", &r);
    resp_free(&r);
    sqs_err("SendMessage", json_pack("{s:s}", "QueueUrl", qurl("q")), 400, "", &r);
    {
        char v[256];
        const char *qe = hdr_get(&r, "x-amzn-query-error", v, sizeof v);
        ck_assert_msg(strstr(r.body, "MissingRequiredParameter") ||
                          (qe && strncmp(qe, "MissingParameter;", 17) == 0),
                      "no MessageBody: %s (x-amzn-query-error %s)", r.body, qe ? qe : "none");
    }
    resp_free(&r);
    ck_assert_int_eq(visible("q"), 1);

    /* Unknown operation. */
    sqs_err("FrobnicateQueue", json_pack("{s:s}", "QueueUrl", qurl("q")), 400,
            "UnknownOperationException", &r);
    resp_free(&r);
    ck_assert_int_eq(visible("q"), 1);
    lmqd_stop();
}
END_TEST

START_TEST(test_malformed_query_changes_nothing)
{
    resp r;
    char form[512];
    lmqd_start(NULL);
    create_queue("q", NULL);
    send_body("q", "one");
    snprintf(form, sizeof form, "Action=SendMessage&QueueUrl=%s&MessageBody=%%zz", qurl("q"));
    query_post("/", form, &r);
    ck_assert_msg(r.status == 400 || r.status == 404, "%%zz: HTTP %ld", r.status);
    ck_assert_msg(strstr(r.body, "<Code>MalformedQueryString</Code>") != NULL, "%s", r.body);
    resp_free(&r);
    ck_assert_int_eq(visible("q"), 1);

    /* A GET with a bad escape in the query string. */
    char u[256];
    snprintf(u, sizeof u, "%s/?Action=ListQueues&Queue%%zzNamePrefix=q", D.base);
    http_do(NULL, u, NULL, NULL, 0, REQ_MS, &r);
    ck_assert_int_eq(r.rc, CURLE_OK);
    ck_assert_msg(strstr(r.body, "MalformedQueryString") != NULL, "%s", r.body);
    assert_request_id(&r);
    resp_free(&r);

    /* Unknown Query action; invalid UTF-8 in a body. */
    query_post("/", "Action=FrobnicateQueue", &r);
    ck_assert_msg(r.status == 400 && strstr(r.body, "<Code>InvalidAction</Code>"), "%ld %s",
                  r.status, r.body);
    resp_free(&r);
    snprintf(form, sizeof form, "Action=SendMessage&QueueUrl=%s&MessageBody=a%%FF%%FEb",
             qurl("q"));
    query_post("/", form, &r);
    ck_assert_msg(r.status == 400 || r.status == 404,
                  "invalid UTF-8 in a Query body: HTTP %ld: %s", r.status, r.body);
    ck_assert_msg(strstr(r.body, "<ErrorResponse") != NULL, "%s", r.body);
    resp_free(&r);
    ck_assert_int_eq(visible("q"), 1);
    lmqd_stop();
}
END_TEST

START_TEST(test_errors_carry_ids_and_query_codes)
{
    resp r;
    char v[256];
    lmqd_start(NULL);
    sqs_err("GetQueueUrl", json_pack("{s:s}", "QueueName", "nope"), 400, "QueueDoesNotExist",
            &r);
    ck_assert_msg(hdr_get(&r, "x-amzn-query-error", v, sizeof v), "no x-amzn-query-error:\n%s",
                  r.hdr);
    ck_assert_str_eq(v, "AWS.SimpleQueueService.NonExistentQueue;Sender");
    resp_free(&r);
    sqs_err("SendMessage", json_pack("{s:s,s:s}", "QueueUrl", qurl("nope"), "MessageBody", "x"),
            400, "QueueDoesNotExist", &r);
    ck_assert_ptr_nonnull(hdr_get(&r, "x-amzn-query-error", v, sizeof v));
    ck_assert_str_eq(v, "AWS.SimpleQueueService.NonExistentQueue;Sender");
    resp_free(&r);
    /* Successes and Query answers have ids too (sqs_raw checks each). */
    create_queue("q", NULL);
    query_post("/", "Action=ListQueues", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "<RequestId>") != NULL, "%s", r.body);
    resp_free(&r);
    lmqd_stop();
}
END_TEST

/* ================================================================================ */
/* Addressing                                                                           */
/* ================================================================================ */

START_TEST(test_queue_found_by_path_whatever_host)
{
    char urls[4][256];
    resp r;
    lmqd_start(NULL);
    create_queue("q", NULL);
    snprintf(urls[0], 256, "http://localhost:%d/" ACCOUNT "/q", D.port);
    snprintf(urls[1], 256, "http://127.0.0.1:%d/" ACCOUNT "/q", D.port);
    snprintf(urls[2], 256, "http://sqs.us-east-1.localhost.localstack.cloud:4566/" ACCOUNT "/q");
    snprintf(urls[3], 256, "https://sqs.us-east-1.amazonaws.com/" ACCOUNT "/q");
    for (int i = 0; i < 4; i++) {
        json_t *j = sqs_ok("SendMessage", json_pack("{s:s,s:s}", "QueueUrl", urls[i],
                                                    "MessageBody", urls[i]));
        ck_assert_ptr_nonnull(json_object_get(j, "MessageId"));
        json_decref(j);
    }
    ck_assert_int_eq(visible("q"), 4);
    /* Query to the queue's path, no QueueUrl. */
    query_post("/" ACCOUNT "/q", "Action=SendMessage&MessageBody=by-path", &r);
    ck_assert_msg(r.status == 200 && strstr(r.body, "<SendMessageResponse"), "%ld %s",
                  r.status, r.body);
    resp_free(&r);
    ck_assert_int_eq(visible("q"), 5);
    /* And JSON to the queue path, with the QueueUrl naming it. */
    sqs_raw_at(NULL, urls[0], "GetQueueAttributes",
               "{\"QueueUrl\":\"http://x/000000000000/q\",\"AttributeNames\":[\"All\"]}", NULL,
               &r);
    ck_assert_msg(r.status == 200, "JSON to the queue path: %ld %s", r.status, r.body);
    resp_free(&r);
    lmqd_stop();
}
END_TEST

START_TEST(test_urls_follow_host_and_public_url)
{
    resp r;
    json_t *j;
    lmqd_start(NULL);
    sqs_raw_at(NULL, NULL, "CreateQueue", "{\"QueueName\":\"q\"}", "Host: myhost:1234", &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    j = parse_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "QueueUrl")),
                     "http://myhost:1234/" ACCOUNT "/q");
    json_decref(j);
    resp_free(&r);
    sqs_raw_at(NULL, NULL, "ListQueues", "{}", "Host: other.example", &r);
    ck_assert_msg(strstr(r.body, "http://other.example/" ACCOUNT "/q") != NULL, "%s", r.body);
    resp_free(&r);
    j = sqs_ok("GetQueueUrl", json_pack("{s:s}", "QueueName", "q"));
    ck_assert_str_eq(json_string_value(json_object_get(j, "QueueUrl")), qurl("q"));
    json_decref(j);
    lmqd_stop();

    const char *extra[] = {"--public-url", "http://pub.example:9999", NULL};
    lmqd_start(extra);
    sqs_raw_at(NULL, NULL, "GetQueueUrl", "{\"QueueName\":\"q\"}", "Host: myhost:1234", &r);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    j = parse_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "QueueUrl")),
                     "http://pub.example:9999/" ACCOUNT "/q");
    json_decref(j);
    resp_free(&r);
    /* The public URL also addresses the queue. */
    j = sqs_ok("SendMessage", json_pack("{s:s,s:s}", "QueueUrl",
                                        "http://pub.example:9999/" ACCOUNT "/q", "MessageBody",
                                        "x"));
    json_decref(j);
    ck_assert_int_eq(visible("q"), 1);
    lmqd_stop();
}
END_TEST

/* ================================================================================ */
/* Operations: /health, /metrics, the access log, --config                              */
/* ================================================================================ */

START_TEST(test_health_metrics_access_log)
{
    enum { N = 7 };
    char series[128], *t;
    resp r;
    lmqd_start_ex(NULL, 0);
    t = get_text("/health");
    ck_assert_str_eq(t, "ok\n");
    free(t);
    create_queue("q", NULL);
    for (int i = 0; i < N; i++)
        send_body("q", "m");
    query_post("/" ACCOUNT "/q", "Action=SendMessage&MessageBody=q", &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    sqs_raw("SendMessage", "{\"QueueUrl\":\"q\"", &r); /* a 400 */
    resp_free(&r);
    /* One from another process: queue gauges read the home. */
    const char *argv[] = {LMQ_BIN, "--home", home, "send-message", "--queue-url", "q",
                          "--message-body", "cli", NULL};
    ck_assert_int_eq(run_cmd(argv, 20000), 0);

    t = get_text("/metrics");
    ck_assert_double_eq(metric(t, "lmqd_requests_total{action=\"SendMessage\",status=\"200\"}"),
                        N + 1);
    ck_assert_double_eq(metric(t, "lmqd_requests_total{action=\"SendMessage\",status=\"400\"}"),
                        1);
    ck_assert_double_eq(metric(t, "lmqd_requests_total{action=\"CreateQueue\",status=\"200\"}"),
                        1);
    snprintf(series, sizeof series, "lmq_queue_messages_visible{queue=\"q\"}");
    ck_assert_msg(metric(t, series) == N + 2, "%s is %g:\n%s", series, metric(t, series), t);
    ck_assert_double_eq(metric(t, "lmqd_request_seconds_count{action=\"SendMessage\"}"), N + 2);
    ck_assert_ptr_nonnull(strstr(t, "# TYPE lmqd_requests_total counter"));
    free(t);

    /* The access log: one line per request (the log is written before the
     * answer is sent, so it is complete now). */
    t = slurp(D.log);
    int json_sends = 0, query_sends = 0;
    for (const char *p = t; (p = strstr(p, " json SendMessage q 200 ")); p++)
        json_sends++;
    for (const char *p = t; (p = strstr(p, " query SendMessage q 200 ")); p++)
        query_sends++;
    ck_assert_msg(json_sends == N && query_sends == 1,
                  "access log has %d json and %d query SendMessage lines:\n%s", json_sends,
                  query_sends, tail_of(D.log));
    ck_assert_msg(strstr(t, " json CreateQueue - 200 ") || strstr(t, " json CreateQueue q 200 "),
                  "%s", tail_of(D.log));
    ck_assert_msg(strstr(t, " 400 ") && strstr(t, "SerializationException"), "%s",
                  tail_of(D.log));
    free(t);
    lmqd_stop();
}
END_TEST

/* The queue metrics on /metrics (docs/METRICS.md): CloudWatch's totals
 * counted by what the daemon did, and a parked long poll that ran out
 * counted once as an empty receive. */
START_TEST(test_metrics_queue_counters)
{
    char *t;
    lmqd_start_ex(NULL, 0);
    create_queue("cw", NULL);
    for (int i = 0; i < 3; i++)
        send_body("cw", "abcd");
    json_t *m = receive("cw", 0, -1, 10, NULL);
    ck_assert_int_eq(json_array_size(m), 3);
    for (size_t i = 0; i < 2; i++)
        json_decref(sqs_ok("DeleteMessage",
                           json_pack("{s:s,s:s}", "QueueUrl", qurl("cw"), "ReceiptHandle",
                                     msg_field(m, i, "ReceiptHandle"))));
    json_decref(m);
    /* A long poll parked, polled again while parked, then answered empty
     * at its deadline: one empty receive. And one that does not wait. */
    int64_t ms = 0;
    m = receive("cw", 1, -1, 1, &ms);
    ck_assert_int_eq(json_array_size(m), 0);
    ck_assert_msg(ms >= 900, "the long poll took %lld ms", (long long)ms);
    json_decref(m);
    m = receive("cw", 0, -1, 1, NULL);
    ck_assert_int_eq(json_array_size(m), 0);
    json_decref(m);

    t = get_text("/metrics");
    static const struct {
        const char *series;
        double want;
    } w[] = {
        {"lmq_queue_messages_sent_total{queue=\"cw\"}", 3},
        {"lmq_queue_sent_message_bytes_total{queue=\"cw\"}", 12},
        {"lmq_queue_messages_received_total{queue=\"cw\"}", 3},
        {"lmq_queue_messages_deleted_total{queue=\"cw\"}", 2},
        {"lmq_queue_empty_receives_total{queue=\"cw\"}", 2},
        {"lmq_queue_messages_visible{queue=\"cw\"}", 0},
        {"lmq_queue_messages_in_flight{queue=\"cw\"}", 1},
        {"lmq_queue_messages_delayed{queue=\"cw\"}", 0},
    };
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        ck_assert_msg(metric(t, w[i].series) == w[i].want, "%s is %g, want %g:\n%s",
                      w[i].series, metric(t, w[i].series), w[i].want, t);
    ck_assert_msg(metric(t, "lmq_queue_oldest_message_age_seconds{queue=\"cw\"}") >= 0, "%s", t);
    ck_assert_ptr_nonnull(strstr(t, "# TYPE lmq_queue_messages_sent_total counter"));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE lmq_queue_messages_visible gauge"));
    free(t);
    lmqd_stop();
}
END_TEST

static const char config_json[] =
    "{\"queues\": [\n"
    "  {\"name\": \"jobs-dlq\", \"attributes\": {\"MessageRetentionPeriod\": \"1209600\"}},\n"
    "  {\"name\": \"jobs\",\n"
    "   \"attributes\": {\"VisibilityTimeout\": \"45\", \"DelaySeconds\": 2,\n"
    "     \"RedrivePolicy\": {\"deadLetterTargetArn\": "
    "\"arn:aws:sqs:us-east-1:000000000000:jobs-dlq\", \"maxReceiveCount\": 3}},\n"
    "   \"tags\": {\"team\": \"a\", \"env\": \"test\"}},\n"
    "  {\"name\": \"jobs.fifo\", \"attributes\": {\"FifoQueue\": \"true\"}}\n"
    "]}\n";

START_TEST(test_config_creates_queues)
{
    char cfg[300];
    tpath(cfg, sizeof cfg, "lmqd.json");
    write_file(cfg, config_json);
    const char *extra[] = {"--config", cfg, NULL};
    for (int run = 0; run < 2; run++) { /* a second start finds them there */
        lmqd_start(extra);
        json_t *j = sqs_ok("GetQueueAttributes", json_pack("{s:s,s:[s]}", "QueueUrl",
                                                           qurl("jobs"), "AttributeNames",
                                                           "All"));
        json_t *a = json_object_get(j, "Attributes");
        ck_assert_str_eq(json_string_value(json_object_get(a, "VisibilityTimeout")), "45");
        ck_assert_str_eq(json_string_value(json_object_get(a, "DelaySeconds")), "2");
        const char *rp = json_string_value(json_object_get(a, "RedrivePolicy"));
        ck_assert_ptr_nonnull(rp);
        json_t *p = json_loads(rp, 0, NULL);
        ck_assert_ptr_nonnull(p);
        ck_assert_str_eq(json_string_value(json_object_get(p, "deadLetterTargetArn")),
                         qarn("jobs-dlq"));
        json_t *mrc = json_object_get(p, "maxReceiveCount");
        ck_assert(json_integer_value(mrc) == 3 ||
                  (json_is_string(mrc) && strcmp(json_string_value(mrc), "3") == 0));
        json_decref(p);
        json_decref(j);

        j = sqs_ok("ListQueueTags", json_pack("{s:s}", "QueueUrl", qurl("jobs")));
        json_t *tags = json_object_get(j, "Tags");
        ck_assert_str_eq(json_string_value(json_object_get(tags, "team")), "a");
        ck_assert_str_eq(json_string_value(json_object_get(tags, "env")), "test");
        ck_assert_uint_eq(json_object_size(tags), 2);
        json_decref(j);

        j = sqs_ok("ListDeadLetterSourceQueues", json_pack("{s:s}", "QueueUrl",
                                                           qurl("jobs-dlq")));
        json_t *src = json_object_get(j, "queueUrls");
        ck_assert_uint_eq(json_array_size(src), 1);
        ck_assert_str_eq(json_string_value(json_array_get(src, 0)), qurl("jobs"));
        json_decref(j);

        j = sqs_ok("GetQueueAttributes", json_pack("{s:s,s:[s]}", "QueueUrl", qurl("jobs.fifo"),
                                                   "AttributeNames", "FifoQueue"));
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "Attributes"),
                                                           "FifoQueue")),
                         "true");
        json_decref(j);
        lmqd_stop();
    }
    /* A bad configuration is a clear error at start. */
    write_file(cfg, "{\"queues\": [{\"attributes\": {}}]}");
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", free_port());
    const char *args[] = {"--home", home, "--listen", listen, "--config", cfg, NULL};
    char line[256];
    lmqd_spawn(args);
    ck_assert_msg(!lmqd_read_ready(READY_MS, line, sizeof line), "ready with a bad config");
    int st;
    ck_assert(wait_for(D.pid, STOP_MS, &st));
    D.pid = -1;
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "%s", describe_status(st));
    ck_assert_msg(strstr(tail_of(D.log), "name") != NULL, "%s", tail_of(D.log));
}
END_TEST

/* ================================================================================ */
/* IPv6 and TLS                                                                         */
/* ================================================================================ */

START_TEST(test_ipv6_listen)
{
    char spec[64], line[256];
    int st;
    int p6 = free_port_on(1);
    if (p6 > 0) {
        /* ::1 exists: serve on it as well as on 127.0.0.1. */
        snprintf(spec, sizeof spec, "[::1]:%d", p6);
        const char *extra[] = {"--listen", spec, NULL};
        lmqd_start(extra);
        char u[128];
        resp r;
        snprintf(u, sizeof u, "http://[::1]:%d/health", p6);
        http_do(NULL, u, NULL, NULL, 0, REQ_MS, &r);
        ck_assert_msg(r.rc == CURLE_OK && r.status == 200 && strncmp(r.body, "ok", 2) == 0,
                      "GET %s: %s %ld", u, curl_easy_strerror(r.rc), r.status);
        resp_free(&r);
        snprintf(u, sizeof u, "http://[::1]:%d/", p6);
        sqs_raw_at(NULL, u, "CreateQueue", "{\"QueueName\":\"q6\"}", NULL, &r);
        ck_assert_msg(r.rc == CURLE_OK && r.status == 200, "CreateQueue over IPv6: %s %ld",
                      curl_easy_strerror(r.rc), r.status);
        char want[128];
        snprintf(want, sizeof want, "\"http://[::1]:%d/" ACCOUNT "/q6\"", p6);
        ck_assert_msg(strstr(r.body, want) != NULL, "%s, expected %s", r.body, want);
        resp_free(&r);
        /* The same home on both addresses. */
        ck_assert_int_eq(visible("q6"), 0);
        lmqd_stop();
    } else {
        /* No ::1 here: lmqd must say so and exit, not hang or pretend. */
        snprintf(spec, sizeof spec, "[::1]:%d", free_port());
        const char *args[] = {"--home", home, "--listen", spec, NULL};
        lmqd_spawn(args);
        ck_assert_msg(!lmqd_read_ready(READY_MS, line, sizeof line),
                      "lmqd ready on [::1] without IPv6: %s", line);
        ck_assert(wait_for(D.pid, STOP_MS, &st));
        D.pid = -1;
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "%s", describe_status(st));
        ck_assert_msg(strstr(tail_of(D.log), "::1") != NULL, "%s", tail_of(D.log));
        lmqd_close_out();
    }
    /* A malformed IPv6 listen address is refused at start. */
    const char *bad[] = {"--home", home, "--listen", "[::1", NULL};
    lmqd_spawn(bad);
    ck_assert(!lmqd_read_ready(READY_MS, line, sizeof line));
    ck_assert(wait_for(D.pid, STOP_MS, &st));
    D.pid = -1;
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s", describe_status(st));
    ck_assert_msg(strstr(tail_of(D.log), "--listen") != NULL, "%s", tail_of(D.log));
    lmqd_close_out();
}
END_TEST

/* Access control (issue 22): lmqd refuses contradictory or malformed
 * settings at start, naming them; with credentials the unsigned
 * test-double endpoints are closed, /health stays open. The policies
 * themselves: tests/check_policy and check_clients (authz). */
static void
expect_refused(const char *const *args, const char *phrase)
{
    char line[256];
    int st;
    lmqd_spawn(args);
    ck_assert_msg(!lmqd_read_ready(READY_MS, line, sizeof line), "lmqd started: %s", line);
    ck_assert(wait_for(D.pid, STOP_MS, &st));
    D.pid = -1;
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s", describe_status(st));
    ck_assert_msg(strstr(tail_of(D.log), phrase) != NULL, "wanted \"%s\" in:\n%s", phrase,
                  tail_of(D.log));
    lmqd_close_out();
}

START_TEST(test_authz_settings)
{
    char creds[300], badcreds[300], pol[300], rootpol[300], badpol[300];
    tpath(creds, sizeof creds, "creds");
    tpath(badcreds, sizeof badcreds, "badcreds");
    tpath(pol, sizeof pol, "pol.json");
    tpath(rootpol, sizeof rootpol, "rootpol.json");
    tpath(badpol, sizeof badpol, "badpol.json");
    write_file(creds, "AKIDLMQTEST00000001 secret\nAKIDLMQTEST00000002 s2 user/w\n");
    write_file(badcreds, "AKIDLMQTEST00000001 secret group/admins\n");
    write_file(pol, "{\"user/w\": {\"Statement\": {\"Effect\": \"Allow\", "
                    "\"Action\": \"sqs:*\", \"Resource\": \"*\"}}}");
    write_file(rootpol, "{\"root\": {\"Statement\": {\"Effect\": \"Allow\", "
                        "\"Action\": \"sqs:*\", \"Resource\": \"*\"}}}");
    write_file(badpol, "{\"user/w\": {\"Statement\": {\"Effect\": \"allow\", "
                       "\"Action\": \"sqs:*\", \"Resource\": \"*\"}}}");
    {
        const char *a[] = {"--home", home, "--credentials", creds, "--auth", "off", NULL};
        expect_refused(a, "cannot go with --auth off");
    }
    {
        const char *a[] = {"--home", home, "--policies", pol, NULL};
        expect_refused(a, "--policies needs --credentials");
    }
    {
        const char *a[] = {"--home", home, "--require-tls", NULL};
        expect_refused(a, "--require-tls needs --tls-cert");
    }
    {
        const char *a[] = {"--home", home, "--listen", "https://127.0.0.1:0", NULL};
        expect_refused(a, "https:// --listen needs --tls-cert");
    }
    {
        const char *a[] = {"--home", home, "--credentials", badcreds, NULL};
        expect_refused(a, "badcreds:1: bad principal group/admins");
    }
    {
        const char *a[] = {"--home", home, "--credentials", creds, "--policies", rootpol, NULL};
        expect_refused(a, "root has no identity policies");
    }
    {
        const char *a[] = {"--home", home, "--credentials", creds, "--policies", badpol, NULL};
        expect_refused(a, "policy of user/w: Effect must be Allow or Deny");
    }
    write_file(badpol, "{\"user/w\": {\"Statement\": {\"Effect\": \"Allow\", "
                       "\"Action\": \"sqs:*\", \"Resource\": \"*\", \"Condition\": "
                       "{\"StringEquals\": {\"aws:PrincipalOrgID\": \"o-1\"}}}}}");
    {
        const char *a[] = {"--home", home, "--credentials", creds, "--policies", badpol, NULL};
        expect_refused(a, "policy of user/w: condition key aws:PrincipalOrgID is not one "
                          "lmqd knows");
    }
    /* Started well: the test-double endpoints are closed, /health open. */
    {
        const char *a[] = {"--credentials", creds, "--policies", pol, NULL};
        lmqd_start(a);
    }
    char u[160];
    resp r;
    snprintf(u, sizeof u, "%s/_lmq/reset", D.base);
    http_do(NULL, u, NULL, "", 0, REQ_MS, &r);
    ck_assert_msg(r.rc == CURLE_OK && r.status == 403 && strstr(r.body, "AccessDenied"),
                  "POST /_lmq/reset with access control: %ld %s", r.status, r.body);
    resp_free(&r);
    snprintf(u, sizeof u, "%s/_aws/sqs/messages?QueueUrl=x", D.base);
    http_do(NULL, u, NULL, NULL, 0, REQ_MS, &r);
    ck_assert_msg(r.rc == CURLE_OK && r.status == 403, "peek: %ld %s", r.status, r.body);
    resp_free(&r);
    assert_healthy();
    /* An unsigned SQS request is MissingAuthenticationToken: --credentials
     * alone turned verification on. */
    sqs_raw_at(NULL, D.base, "ListQueues", "{}", NULL, &r);
    ck_assert_msg(r.rc == CURLE_OK && r.status == 403 &&
                      strstr(r.body, "MissingAuthenticationToken"),
                  "unsigned ListQueues: %ld %s", r.status, r.body);
    resp_free(&r);
    lmqd_stop();
}
END_TEST

/* Wait (30 s at most) for phrase in lmqd's log. */
static void
wait_log(const char *phrase)
{
    int64_t deadline = mono_ms() + 30000;
    while (!strstr(tail_of(D.log), phrase)) {
        ck_assert_msg(mono_ms() < deadline, "no \"%s\" in the log within 30 s:\n%s", phrase,
                      tail_of(D.log));
        usleep(20000);
    }
}

/* SIGHUP (issue 22): a file that fails to load is logged with its name
 * and reason, the previous set stays and lmqd keeps serving; good files
 * are logged as reloaded. Requests across reloads, with real clients:
 * check_clients (authz). */
START_TEST(test_authz_reload_log)
{
    char creds[300], pol[300], want[512];
    tpath(creds, sizeof creds, "creds");
    tpath(pol, sizeof pol, "pol.json");
    write_file(creds, "AKIDLMQTEST00000001 secret\nAKIDLMQTEST00000002 s2 user/w\n");
    write_file(pol, "{\"user/w\": {\"Statement\": {\"Effect\": \"Allow\", "
                    "\"Action\": \"sqs:*\", \"Resource\": \"*\"}}}");
    {
        const char *a[] = {"--credentials", creds, "--policies", pol, NULL};
        lmqd_start(a);
    }
    write_file(pol, "{\"user/w\": {\"Statement\": {\"Effect\": \"Allow\", "
                    "\"Action\": \"sqs:*\", \"Resource\": \"*\", \"Condition\": "
                    "{\"NumericLessThanz\": {\"aws:EpochTime\": 1}}}}}");
    ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
    snprintf(want, sizeof want,
             "lmqd: reload failed, keeping the previous credentials and policies: %s: "
             "policy of user/w: condition operator NumericLessThanz is not one lmqd "
             "evaluates",
             pol);
    wait_log(want);
    assert_healthy();
    write_file(creds, "AKIDLMQTEST00000001 secret\nAKIDLMQTEST00000001 again\n");
    ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
    snprintf(want, sizeof want, "%s:2: access key AKIDLMQTEST00000001 given twice", creds);
    wait_log(want);
    assert_healthy();
    write_file(creds, "AKIDLMQTEST00000001 secret\nAKIDLMQTEST00000003 s3 role/r\n");
    write_file(pol, "{\"role/r\": {\"Statement\": {\"Effect\": \"Allow\", "
                    "\"Action\": \"sqs:*\", \"Resource\": \"*\"}}}");
    ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
    snprintf(want, sizeof want, "lmqd: reloaded 2 keys from %s and the policies of 1 principals",
             creds);
    wait_log(want);
    assert_healthy();
    lmqd_stop();
}
END_TEST

START_TEST(test_tls)
{
    char key[300], cert[300], listen[64], want[96];
    resp r;
    tpath(key, sizeof key, "key.pem");
    tpath(cert, sizeof cert, "cert.pem");
    const char *openssl = exists("/usr/bin/openssl") ? "/usr/bin/openssl" : "/bin/openssl";
    ck_assert_msg(exists(openssl), "openssl is missing: apt-get install openssl");
    const char *gen[] = {openssl, "req",  "-x509", "-newkey", "rsa:2048", "-nodes",
                         "-keyout", key,  "-out",  cert,      "-days",    "1",
                         "-subj",   "/CN=127.0.0.1", NULL};
    ck_assert_int_eq(run_cmd(gen, 60000), 0);
    D.port = free_port();
    snprintf(listen, sizeof listen, "127.0.0.1:%d", D.port);
    snprintf(want, sizeof want, "https://127.0.0.1:%d", D.port);
    const char *args[] = {"--home",     home, "--listen", listen, "--quiet",
                          "--tls-cert", cert, "--tls-key", key,   NULL};
    lmqd_start_raw(args, want);
    ck_assert_str_eq(D.base, want);
    assert_healthy();
    json_t *j = sqs_ok("CreateQueue", json_pack("{s:s}", "QueueName", "q"));
    const char *u = json_string_value(json_object_get(j, "QueueUrl"));
    ck_assert_msg(u && strncmp(u, "https://", 8) == 0, "QueueUrl over TLS: %s", u);
    json_decref(j);
    send_body("q", "secret");
    json_t *m = receive("q", 0, -1, -1, NULL);
    ck_assert_uint_eq(json_array_size(m), 1);
    ck_assert_str_eq(msg_field(m, 0, "Body"), "secret");
    json_decref(m);
    /* Plain HTTP to the TLS port gets no answer. */
    char plain[128];
    snprintf(plain, sizeof plain, "http://127.0.0.1:%d/health", D.port);
    http_do(NULL, plain, NULL, NULL, 0, 5000, &r);
    ck_assert_msg(!(r.rc == CURLE_OK && r.status == 200), "plain HTTP served on the TLS port");
    resp_free(&r);
    assert_healthy();
    lmqd_stop();
}
END_TEST

/* ================================================================================ */
/* Message move tasks run by the daemon                                                 */
/* ================================================================================ */

/* The newest task of the DLQ: its Results[0] (new reference). */
static json_t *
newest_task(const char *dlq)
{
    json_t *j = sqs_ok("ListMessageMoveTasks",
                       json_pack("{s:s,s:i}", "SourceArn", qarn(dlq), "MaxResults", 10));
    json_t *t = json_incref(json_array_get(json_object_get(j, "Results"), 0));
    ck_assert_msg(t != NULL, "ListMessageMoveTasks of %s: no task", dlq);
    json_decref(j);
    return t;
}

static long
task_moved(json_t *t)
{
    return (long)json_integer_value(json_object_get(t, "ApproximateNumberOfMessagesMoved"));
}

static const char *
task_status(json_t *t)
{
    const char *s = json_string_value(json_object_get(t, "Status"));
    return s ? s : "(none)";
}

static void
make_dlq_pair(int max_receive)
{
    char rp[256];
    create_queue("dlq", NULL);
    snprintf(rp, sizeof rp, "{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":\"%d\"}",
             qarn("dlq"), max_receive);
    create_queue("src", json_pack("{s:s}", "RedrivePolicy", rp));
}

START_TEST(test_move_task_completes)
{
    lmqd_start(NULL);
    make_dlq_pair(1);
    send_body("src", "bounced");
    /* Received twice with maxReceiveCount 1: it goes to the DLQ. */
    for (int i = 0; i < 5 && visible("dlq") == 0; i++)
        json_decref(receive("src", 0, 0, -1, NULL));
    ck_assert_int_eq(visible("dlq"), 1);
    ck_assert_int_eq(visible("src"), 0);

    json_t *j = sqs_ok("StartMessageMoveTask", json_pack("{s:s}", "SourceArn", qarn("dlq")));
    ck_assert_ptr_nonnull(json_string_value(json_object_get(j, "TaskHandle")));
    json_decref(j);
    json_t *t = NULL;
    for (int64_t deadline = mono_ms() + 10000;;) {
        t = newest_task("dlq");
        if (strcmp(task_status(t), "COMPLETED") == 0)
            break;
        ck_assert_msg(strcmp(task_status(t), "RUNNING") == 0, "task %s", task_status(t));
        ck_assert_msg(mono_ms() < deadline, "the move task did not complete in 10 s");
        json_decref(t);
        sleep_ms(50);
    }
    ck_assert_int_eq(task_moved(t), 1);
    json_decref(t);
    ck_assert_int_eq(visible("dlq"), 0);
    json_t *m = receive("src", 0, -1, -1, NULL);
    ck_assert_uint_eq(json_array_size(m), 1);
    ck_assert_str_eq(msg_field(m, 0, "Body"), "bounced");
    json_decref(m);
    lmqd_stop();
}
END_TEST

START_TEST(test_move_task_resumes_after_kill)
{
    enum { N = 20 };
    char b[16];
    lmqd_start(NULL);
    make_dlq_pair(5);
    for (int i = 0; i < N; i++) {
        snprintf(b, sizeof b, "d%02d", i);
        send_body("dlq", b);
    }
    json_t *j = sqs_ok("StartMessageMoveTask",
                       json_pack("{s:s,s:s,s:i}", "SourceArn", qarn("dlq"), "DestinationArn",
                                 qarn("src"), "MaxNumberOfMessagesPerSecond", 1));
    json_decref(j);
    /* Let it move a couple (1 per second), then kill the daemon. */
    long before = 0;
    for (int64_t deadline = mono_ms() + 8000; before < 2;) {
        json_t *t = newest_task("dlq");
        before = task_moved(t);
        ck_assert_msg(strcmp(task_status(t), "RUNNING") == 0, "task %s", task_status(t));
        json_decref(t);
        ck_assert_msg(mono_ms() < deadline, "moved %ld in 8 s at 1/s", before);
        if (before < 2)
            sleep_ms(100);
    }
    lmqd_kill9();
    long src_now = 0;
    (void)src_now;

    lmqd_start(NULL);
    /* Restarted: the task goes on from where it was. */
    long after = before;
    json_t *t = NULL;
    for (int64_t deadline = mono_ms() + 10000;;) {
        t = newest_task("dlq");
        after = task_moved(t);
        if (after > before + 1 || strcmp(task_status(t), "COMPLETED") == 0)
            break;
        ck_assert_msg(strcmp(task_status(t), "RUNNING") == 0,
                      "after a restart the task is %s (%s), moved %ld", task_status(t),
                      json_string_value(json_object_get(t, "FailureReason")), after);
        ck_assert_msg(mono_ms() < deadline,
                      "the task made no progress in 10 s after a restart (moved %ld, %ld before)",
                      after, before);
        json_decref(t);
        sleep_ms(100);
    }
    json_decref(t);
    ck_assert_int_gt(after, before);
    /* Nothing lost or doubled by the kill: every message is in one queue. */
    long s = visible("src"), d = visible("dlq");
    ck_assert_msg(s + d == N, "src %ld + dlq %ld != %d", s, d, N);
    ck_assert_int_ge(s, after);
    lmqd_stop();
}
END_TEST

/* Encryption at rest through lmqd (--key-file; docs/SECURITY.md): SSE on by
 * default, a round trip, the KMS error for a key the keyring lacks, and no
 * plaintext in any file of the home. */
START_TEST(test_sealed_round_trip)
{
    char kf[400], what[2048] = "";
    resp r;
    snprintf(kf, sizeof kf, "%s/keys.json", lmq_test_dir);
    ck_ok(lmq_keyring_add(kf, "alias/orders", 0, NULL));
    const char *extra[] = {"--key-file", kf, NULL};
    lmqd_start(extra);
    create_queue("sq", NULL);
    json_t *j = sqs_ok("GetQueueAttributes",
                       json_pack("{s:s,s:[s]}", "QueueUrl", qurl("sq"),
                                 "AttributeNames", "SqsManagedSseEnabled"));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(j, "Attributes"),
                         "SqsManagedSseEnabled")),
                     "true");
    json_decref(j);
    create_queue("kq", json_pack("{s:s}", "KmsMasterKeyId", "alias/orders"));
    send_body("sq", "LMQDSEALMARK one");
    send_body("kq", "LMQDSEALMARK two");
    const char *qs[] = {"sq", "kq"}, *want[] = {"LMQDSEALMARK one",
                                                "LMQDSEALMARK two"};
    for (int i = 0; i < 2; i++) {
        j = sqs_ok("ReceiveMessage", json_pack("{s:s}", "QueueUrl", qurl(qs[i])));
        json_t *m = json_array_get(json_object_get(j, "Messages"), 0);
        ck_assert_ptr_nonnull(m);
        ck_assert_str_eq(json_string_value(json_object_get(m, "Body")), want[i]);
        json_decref(j);
    }
    sqs_err("CreateQueue",
            json_pack("{s:s,s:{s:s}}", "QueueName", "nokey", "Attributes",
                      "KmsMasterKeyId", "alias/nope"),
            400, "KmsNotFound", &r);
    resp_free(&r);
    lmqd_stop();
    ck_assert_int_eq(lmq_test_scan_dir(home, "LMQDSEALMARK", what, sizeof what), 0);
}
END_TEST

/* --key-passphrase-file and --key-process: the home key from a passphrase
 * survives a restart with the same passphrase only; a key process's keys
 * seal a KMS queue. */
START_TEST(test_sealed_passphrase_and_key_process)
{
    char kf[400], pf[400], proc[500], what[2048] = "";
    resp r;
    snprintf(kf, sizeof kf, "%s/keys.json", lmq_test_dir);
    snprintf(pf, sizeof pf, "%s/pass", lmq_test_dir);
    snprintf(proc, sizeof proc, "cat '%s'", kf);
    ck_ok(lmq_keyring_add(kf, "alias/proc", 0, NULL));
    FILE *f = fopen(pf, "w");
    ck_assert_ptr_nonnull(f);
    fputs("an lmqd passphrase\n", f);
    fclose(f);
    ck_assert_int_eq(chmod(pf, 0600), 0);
    const char *extra[] = {"--key-passphrase-file", pf, "--key-process", proc,
                           NULL};
    lmqd_start(extra);
    create_queue("pq", NULL);
    create_queue("kq", json_pack("{s:s}", "KmsMasterKeyId", "alias/proc"));
    send_body("pq", "LMQDPASSMARK one");
    send_body("kq", "LMQDPASSMARK two");
    lmqd_stop();
    /* Restarted with the passphrase and the process: both open. */
    lmqd_start(extra);
    const char *qs[] = {"pq", "kq"}, *want[] = {"LMQDPASSMARK one",
                                                "LMQDPASSMARK two"};
    for (int i = 0; i < 2; i++) {
        json_t *j = sqs_ok("ReceiveMessage",
                           json_pack("{s:s}", "QueueUrl", qurl(qs[i])));
        json_t *m = json_array_get(json_object_get(j, "Messages"), 0);
        ck_assert_ptr_nonnull(m);
        ck_assert_str_eq(json_string_value(json_object_get(m, "Body")),
                         want[i]);
        json_decref(j);
    }
    lmqd_stop();
    /* With the key process only, the passphrase-sealed queue is KMS's
     * error. */
    const char *only[] = {"--key-process", proc, NULL};
    lmqd_start(only);
    sqs_err("SendMessage",
            json_pack("{s:s,s:s}", "QueueUrl", qurl("pq"), "MessageBody", "x"),
            400, "KmsNotFound", &r);
    resp_free(&r);
    lmqd_stop();
    ck_assert_int_eq(lmq_test_scan_dir(home, "LMQDPASSMARK", what,
                                       sizeof what), 0);
}
END_TEST

/* lmq's own queue limits (issue 27) through lmqd: CreateQueue and
 * SetQueueAttributes take them, a send over the limit is OverLimit (403),
 * and GetQueueAttributes shows what drop-oldest dropped. */
START_TEST(test_limit_attributes)
{
    lmqd_start(NULL);
    json_decref(sqs_ok("CreateQueue",
                       json_pack("{s:s, s:{s:s}}", "QueueName", "lim",
                                 "Attributes", "LmqMaximumMessages", "1")));
    json_decref(sqs_ok("SendMessage", json_pack("{s:s, s:s}", "QueueUrl",
                                                qurl("lim"), "MessageBody",
                                                "one")));
    resp r;
    sqs_err("SendMessage",
            json_pack("{s:s, s:s}", "QueueUrl", qurl("lim"), "MessageBody",
                      "two"),
            403, "OverLimit", &r);
    resp_free(&r);
    json_decref(sqs_ok("SetQueueAttributes",
                       json_pack("{s:s, s:{s:s}}", "QueueUrl", qurl("lim"),
                                 "Attributes", "LmqOverLimitPolicy",
                                 "drop-oldest")));
    json_decref(sqs_ok("SendMessage", json_pack("{s:s, s:s}", "QueueUrl",
                                                qurl("lim"), "MessageBody",
                                                "three")));
    json_t *j = sqs_ok("GetQueueAttributes",
                       json_pack("{s:s, s:[s]}", "QueueUrl", qurl("lim"),
                                 "AttributeNames", "All"));
    json_t *a = json_object_get(j, "Attributes");
    ck_assert_str_eq(json_string_value(json_object_get(a, "LmqDroppedMessages")),
                     "1");
    ck_assert_str_eq(json_string_value(json_object_get(a, "LmqMaximumMessages")),
                     "1");
    ck_assert_str_eq(
        json_string_value(json_object_get(a, "ApproximateNumberOfMessages")), "1");
    json_decref(j);
    /* the drop is a total of the queue's metrics on /metrics too */
    char *t = get_text("/metrics");
    ck_assert_msg(strstr(t, "lmq_queue_messages_dropped_total{queue=\"lim\"} 1\n"),
                  "%s", t);
    ck_assert_msg(strstr(t, "lmq_queue_stored_bytes{queue=\"lim\"} 5\n"), "%s", t);
    free(t);
    lmqd_stop();
}
END_TEST

/* LmqMaximumBytes over the wire: bad values are InvalidAttributeValue,
 * a send that would pass it is OverLimit, LmqStoredBytes shows the bytes;
 * and lmqd's --max-home-messages refuses sends past the home's limit. */
START_TEST(test_limit_bytes_and_home)
{
    static const char *const extra[] = {"--max-home-messages", "3", NULL};
    static const char *const bad[] = {"-1", "abc", "1125899906842625", "1.5"};
    lmqd_start(extra);
    resp r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sqs_err("CreateQueue",
                json_pack("{s:s, s:{s:s}}", "QueueName", "lb", "Attributes",
                          "LmqMaximumBytes", bad[i]),
                400, "InvalidAttributeValue", &r);
        resp_free(&r);
    }
    json_decref(sqs_ok("CreateQueue",
                       json_pack("{s:s, s:{s:s}}", "QueueName", "lb",
                                 "Attributes", "LmqMaximumBytes", "10")));
    sqs_err("SetQueueAttributes",
            json_pack("{s:s, s:{s:s}}", "QueueUrl", qurl("lb"), "Attributes",
                      "LmqMaximumBytes", "ten"),
            400, "InvalidAttributeValue", &r);
    resp_free(&r);
    json_decref(sqs_ok("SendMessage", json_pack("{s:s, s:s}", "QueueUrl",
                                                qurl("lb"), "MessageBody",
                                                "123456")));
    sqs_err("SendMessage",
            json_pack("{s:s, s:s}", "QueueUrl", qurl("lb"), "MessageBody",
                      "12345"),
            403, "OverLimit", &r);
    resp_free(&r);
    json_t *j = sqs_ok("GetQueueAttributes",
                       json_pack("{s:s, s:[s]}", "QueueUrl", qurl("lb"),
                                 "AttributeNames", "All"));
    json_t *a = json_object_get(j, "Attributes");
    ck_assert_str_eq(json_string_value(json_object_get(a, "LmqStoredBytes")), "6");
    ck_assert_str_eq(json_string_value(json_object_get(a, "LmqMaximumBytes")), "10");
    json_decref(j);
    /* the home's limit: 3 messages between the queues */
    json_decref(sqs_ok("CreateQueue", json_pack("{s:s}", "QueueName", "other")));
    for (int i = 0; i < 2; i++)
        json_decref(sqs_ok("SendMessage", json_pack("{s:s, s:s}", "QueueUrl",
                                                    qurl("other"), "MessageBody",
                                                    "x")));
    sqs_err("SendMessage",
            json_pack("{s:s, s:s}", "QueueUrl", qurl("other"), "MessageBody", "x"),
            403, "OverLimit", &r);
    resp_free(&r);
    lmqd_stop();
}
END_TEST

/* ================================================================================ */

static TCase *
tc(const char *name, int timeout)
{
    TCase *t = tcase_create(name);
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, timeout);
    return t;
}

Suite *lmq_suite_lmqd(void);

Suite *
lmq_suite_lmqd(void)
{
    Suite *s = suite_create("lmqd");
    TCase *t;

    t = tc("long poll woken by other processes", 60);
    tcase_add_test(t, test_poll_woken_by_liblmq_child);
    tcase_add_test(t, test_poll_woken_by_cli);
    suite_add_tcase(s, t);

    t = tc("long poll timing", 60);
    tcase_add_test(t, test_poll_empty_waits_its_time);
    tcase_add_test(t, test_poll_answered_before_its_thread_returns);
    tcase_add_test(t, test_poll_queue_wait_attribute);
    tcase_add_test(t, test_poll_gets_delayed_message);
    tcase_add_test(t, test_poll_gets_message_after_visibility_timeout);
    suite_add_tcase(s, t);

    t = tc("many long polls", 60);
    tcase_add_test(t, test_polls_split_a_burst);
    tcase_add_test(t, test_many_parked_polls_answered);
    suite_add_tcase(s, t);

    t = tc("limits", 60);
    tcase_add_test(t, test_limit_attributes);
    tcase_add_test(t, test_limit_bytes_and_home);
    suite_add_tcase(s, t);

    t = tc("graceful stop", 60);
    tcase_add_test(t, test_sigterm_answers_parked_polls);
    tcase_add_test(t, test_ephemeral_home_removed);
    suite_add_tcase(s, t);

    t = tc("a killed daemon loses no acknowledged send", 120);
    tcase_add_test(t, test_sigkill_loses_no_ack_full);
    tcase_add_test(t, test_sigkill_loses_no_ack_none);
    suite_add_tcase(s, t);

    t = tc("limits against abuse", 60);
    tcase_add_test(t, test_body_too_large);
    tcase_add_test(t, test_header_too_large);
    tcase_add_test(t, test_slow_client_does_not_block_others);
    tcase_add_test(t, test_max_connections);
    suite_add_tcase(s, t);

    t = tc("malformed requests change nothing", 60);
    tcase_add_test(t, test_malformed_json_changes_nothing);
    tcase_add_test(t, test_malformed_query_changes_nothing);
    tcase_add_test(t, test_errors_carry_ids_and_query_codes);
    suite_add_tcase(s, t);

    t = tc("encryption at rest", 60);
    tcase_add_test(t, test_sealed_round_trip);
    tcase_add_test(t, test_sealed_passphrase_and_key_process);
    suite_add_tcase(s, t);

    t = tc("addressing", 60);
    tcase_add_test(t, test_queue_found_by_path_whatever_host);
    tcase_add_test(t, test_urls_follow_host_and_public_url);
    suite_add_tcase(s, t);

    t = tc("operations", 60);
    tcase_add_test(t, test_health_metrics_access_log);
    tcase_add_test(t, test_metrics_queue_counters);
    tcase_add_test(t, test_config_creates_queues);
    suite_add_tcase(s, t);

    t = tc("IPv6 and TLS", 90);
    tcase_add_test(t, test_ipv6_listen);
    tcase_add_test(t, test_tls);
    tcase_add_test(t, test_authz_settings);
    tcase_add_test(t, test_authz_reload_log);
    suite_add_tcase(s, t);

    t = tc("move tasks run by the daemon", 60);
    tcase_add_test(t, test_move_task_completes);
    tcase_add_test(t, test_move_task_resumes_after_kill);
    suite_add_tcase(s, t);
    return s;
}

int
main(void)
{
    /* Before any test forks: curl's global state only (no env is opened). */
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        return EXIT_FAILURE;
    int rc = lmq_test_run(lmq_suite_lmqd());
    curl_global_cleanup();
    return rc;
}
