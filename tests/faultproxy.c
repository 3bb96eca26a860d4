/*
 * faultproxy.c: a fault-injecting HTTP proxy for the bridge tests (issue
 * 26). Not a test itself: tests/check_bridge_faults.c starts it in front of
 * an lmqd and rewrites its control file to make the "remote" flap.
 *
 *   faultproxy --listen 127.0.0.1:PORT --upstream http://127.0.0.1:UPORT
 *              --control FILE [--stats FILE] [--verbose]
 *
 * PORT may be 0 (a free port is picked). When it listens it prints one line,
 * `faultproxy ready http://127.0.0.1:PORT`, on stdout. SIGTERM or SIGINT
 * stops it (exit 0).
 *
 * How it works. libmicrohttpd serves the clients, one thread per connection;
 * each request is forwarded with libcurl (one easy handle per connection
 * thread, so upstream connections are reused) and the answer is copied back:
 * method, raw path and query (taken from MHD's URI log callback, before any
 * unescaping), headers (Host included, so a SigV4 signature made for the
 * proxy's address stays valid; hop-by-hop headers are not forwarded), body;
 * then status, headers (the upstream's Date too: MHD's own is suppressed)
 * and body. No HTTP is parsed here beyond splitting "Name: value" lines that
 * libcurl hands over.
 *
 * The control FILE is re-read before every request (it is tiny); writers
 * should write a temporary file and rename() it over. A missing file means
 * "pass". Lines (`#` starts a comment):
 *
 *   mode M            pass | drop | delay | error500 | throttle400 |
 *                     throttle403 | blackhole | lose | flap
 *   delay_ms N        the delay of `delay` (default 100)
 *   blackhole_ms N    how long `blackhole` holds a request (default 60000)
 *   flap M=P ...      `flap` picks a mode per request with these weights
 *                     (percentages; any of the modes but flap)
 *   seed N            seeds flap's generator (default 1)
 *   after N M         after N requests under this control text, mode M
 *
 * The modes:
 *   pass        forward, answer what the upstream answered;
 *   drop        close the connection without answering (the handler
 *               returns MHD_NO; nothing reaches the upstream);
 *   delay       sleep delay_ms, then pass;
 *   error500    500 InternalFailure (JSON __type and x-amzn-query-error);
 *   throttle400 400 ThrottlingException (x-amzn-query-error:
 *               ThrottlingException;Sender);
 *   throttle403 403 RequestThrottled;
 *   blackhole   accept and never answer: the request is held until the
 *               control text changes, blackhole_ms passes or the proxy
 *               stops, then the connection is closed without an answer
 *               (nothing reaches the upstream). With a thread per connection
 *               holding the handler is what suspending the connection would
 *               be with an event loop;
 *   lose        forward, then close the connection without the answer: the
 *               upstream acted, the client cannot know (the case that makes
 *               an at-least-once sender duplicate);
 *   flap        one of the above per request, weighted, from a seeded
 *               generator (the sequence depends on request arrival order).
 * Error answers are AWS JSON 1.0 when the request had X-Amz-Target, else
 * Query-protocol XML.
 *
 * The stats FILE (default: the control file's name + ".stats") is rewritten
 * (temporary file + rename) after every request: `requests N`, then one
 * `MODE N` line per mode applied, then `upstream_errors N` (upstream
 * unreachable: the client's connection is closed, as a dead link would).
 *
 * Rejected: a select()-loop proxy with hand-written HTTP parsing (the point
 * is that the bridge sees a real HTTP server), and MHD's suspend/resume for
 * blackhole (MHD does not support it with a thread per connection, and a
 * blocking libcurl call needs its own thread anyway).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum mode {
    M_PASS,
    M_DROP,
    M_DELAY,
    M_ERROR500,
    M_THROTTLE400,
    M_THROTTLE403,
    M_BLACKHOLE,
    M_LOSE,
    M_FLAP,
    M_COUNT
};

static const char *const mode_names[M_COUNT] = {
    "pass",        "drop",      "delay", "error500", "throttle400",
    "throttle403", "blackhole", "lose",  "flap"};

/* A body larger than any SQS request (256 KiB messages, 10 a batch, plus
 * attributes) is refused rather than buffered without bound. */
#define MAX_BODY (8u << 20)
#define CONTROL_MAX 4096
/* Upstream bounds: long polls last 20 s, so the transfer bound is longer. */
#define UPSTREAM_CONNECT_MS 5000L
#define UPSTREAM_TIMEOUT_MS 120000L

typedef struct control {
    int mode;
    int delay_ms;
    int blackhole_ms;
    int weight[M_COUNT];
    uint64_t seed;
    long after_n;
    int after_mode;
} control;

static struct {
    pthread_mutex_t mu;
    const char *control_path;
    char stats_path[4096];
    char upstream[1024];
    char text[CONTROL_MAX + 1]; /* the control text now in force */
    control ctl;
    uint64_t generation; /* bumped when the control text changes */
    long in_gen;         /* requests seen under this generation */
    uint64_t rng;
    unsigned long requests, count[M_COUNT], upstream_errors;
    int verbose;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER};

static volatile sig_atomic_t stopping;
static pthread_key_t curl_key;

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
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int
mode_of(const char *s, size_t n)
{
    for (int m = 0; m < M_COUNT; m++)
        if (strlen(mode_names[m]) == n && strncmp(mode_names[m], s, n) == 0)
            return m;
    return -1;
}

static void
control_defaults(control *c)
{
    memset(c, 0, sizeof *c);
    c->mode = M_PASS;
    c->delay_ms = 100;
    c->blackhole_ms = 60000;
    c->seed = 1;
    c->after_mode = -1;
}

/* Parse text into c; unknown lines are reported once (on stderr) and
 * ignored, so a typo shows in the test's log instead of silently passing. */
static void
control_parse(const char *text, control *c)
{
    char line[CONTROL_MAX + 1];
    const char *p = text;
    control_defaults(c);
    while (*p) {
        size_t n = strcspn(p, "\n");
        char word[32], arg[64];
        int v = 0, k = 0;
        snprintf(line, sizeof line, "%.*s", (int)n, p);
        p += n + (p[n] == '\n');
        line[strcspn(line, "#")] = '\0';
        if (sscanf(line, "%31s", word) != 1)
            continue;
        if (strcmp(word, "mode") == 0 && sscanf(line, "%*s %63s", arg) == 1 &&
            (v = mode_of(arg, strlen(arg))) >= 0)
            c->mode = v;
        else if (strcmp(word, "delay_ms") == 0 &&
                 sscanf(line, "%*s %d", &v) == 1 && v >= 0)
            c->delay_ms = v;
        else if (strcmp(word, "blackhole_ms") == 0 &&
                 sscanf(line, "%*s %d", &v) == 1 && v >= 0)
            c->blackhole_ms = v;
        else if (strcmp(word, "seed") == 0 && sscanf(line, "%*s %d", &v) == 1)
            c->seed = (uint64_t)(unsigned)v;
        else if (strcmp(word, "after") == 0 &&
                 sscanf(line, "%*s %d %63s", &v, arg) == 2 &&
                 (k = mode_of(arg, strlen(arg))) >= 0 && k != M_FLAP) {
            c->after_n = v;
            c->after_mode = k;
        } else if (strcmp(word, "flap") == 0) {
            const char *q = line + strspn(line, " \t") + 4;
            while (*q) {
                q += strspn(q, " \t");
                size_t wl = strcspn(q, "= \t");
                int m = mode_of(q, wl);
                if (wl == 0)
                    break;
                if (m < 0 || m == M_FLAP || q[wl] != '=') {
                    fprintf(stderr, "faultproxy: bad flap item in \"%s\"\n",
                            line);
                    break;
                }
                c->weight[m] = atoi(q + wl + 1);
                q += wl + 1;
                q += strcspn(q, " \t");
            }
        } else
            fprintf(stderr, "faultproxy: ignored control line \"%s\"\n", line);
    }
}

/* Re-read the control file (P.mu held). A changed text starts a new
 * generation: `after` counts from there, flap is reseeded. */
static void
control_reload(void)
{
    char buf[CONTROL_MAX + 1];
    size_t n = 0;
    FILE *f = fopen(P.control_path, "r");
    if (f) {
        n = fread(buf, 1, CONTROL_MAX, f);
        fclose(f);
    }
    buf[n] = '\0';
    if (P.generation != 0 && strcmp(buf, P.text) == 0)
        return;
    memcpy(P.text, buf, n + 1);
    control_parse(P.text, &P.ctl);
    P.generation++;
    P.in_gen = 0;
    P.rng = P.ctl.seed * 0x9E3779B97F4A7C15ull + 1;
}

static uint64_t
rng_next(void)
{
    /* xorshift64*: small, seeded, good enough to pick fault modes. */
    P.rng ^= P.rng >> 12;
    P.rng ^= P.rng << 25;
    P.rng ^= P.rng >> 27;
    return P.rng * 2685821657736338717ull;
}

static void
stats_write(void)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", P.stats_path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "requests %lu\n", P.requests);
    for (int m = 0; m < M_FLAP; m++)
        fprintf(f, "%s %lu\n", mode_names[m], P.count[m]);
    fprintf(f, "upstream_errors %lu\n", P.upstream_errors);
    if (fclose(f) == 0)
        rename(tmp, P.stats_path);
}

/* The mode for the next request, with the knobs it needs. */
static int
pick_mode(int *delay_ms, int *blackhole_ms, uint64_t *gen)
{
    int m;
    pthread_mutex_lock(&P.mu);
    control_reload();
    P.in_gen++;
    m = P.ctl.mode;
    if (P.ctl.after_mode >= 0 && P.in_gen > P.ctl.after_n)
        m = P.ctl.after_mode;
    if (m == M_FLAP) {
        unsigned total = 0, r;
        for (int k = 0; k < M_FLAP; k++)
            total += (unsigned)(P.ctl.weight[k] > 0 ? P.ctl.weight[k] : 0);
        m = M_PASS;
        if (total > 0) {
            r = (unsigned)(rng_next() % total);
            for (int k = 0; k < M_FLAP; k++) {
                unsigned w = (unsigned)(P.ctl.weight[k] > 0 ? P.ctl.weight[k]
                                                            : 0);
                if (r < w) {
                    m = k;
                    break;
                }
                r -= w;
            }
        }
    }
    *delay_ms = P.ctl.delay_ms;
    *blackhole_ms = P.ctl.blackhole_ms;
    *gen = P.generation;
    P.requests++;
    P.count[m]++;
    stats_write();
    pthread_mutex_unlock(&P.mu);
    return m;
}

static uint64_t
current_generation(void)
{
    uint64_t g;
    pthread_mutex_lock(&P.mu);
    control_reload();
    g = P.generation;
    pthread_mutex_unlock(&P.mu);
    return g;
}

/* ---- one request -------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t n;
} buf;

static int
buf_add(buf *b, const void *p, size_t k)
{
    char *np = realloc(b->p, b->n + k + 1);
    if (!np)
        return -1;
    memcpy(np + b->n, p, k);
    b->n += k;
    np[b->n] = '\0';
    b->p = np;
    return 0;
}

typedef struct req {
    char *uri; /* raw, with the query */
    buf body;
    int started;
    int too_big;
} req;

typedef struct answer {
    long status;
    buf body;
    struct curl_slist *hdrs; /* "Name: value" lines */
} answer;

static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    req *r = calloc(1, sizeof *r);
    if (r)
        r->uri = strdup(uri ? uri : "/");
    return r;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    req *r = *con_cls;
    if (r) {
        free(r->uri);
        free(r->body.p);
        free(r);
    }
    *con_cls = NULL;
}

static int
hop_by_hop(const char *name)
{
    static const char *const hop[] = {
        "Connection", "Keep-Alive", "Transfer-Encoding", "TE",
        "Upgrade",    "Proxy-Connection", "Content-Length", "Expect",
        "Trailer"};
    for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
        if (strcasecmp(name, hop[i]) == 0)
            return 1;
    return 0;
}

typedef struct hdr_acc {
    struct curl_slist *l;
    int has_ctype, has_accept;
} hdr_acc;

static enum MHD_Result
on_header(void *cls, enum MHD_ValueKind kind, const char *key,
          const char *value)
{
    hdr_acc *h = cls;
    (void)kind;
    if (hop_by_hop(key))
        return MHD_YES;
    if (strcasecmp(key, "Content-Type") == 0)
        h->has_ctype = 1;
    if (strcasecmp(key, "Accept") == 0)
        h->has_accept = 1;
    size_t n = strlen(key) + strlen(value ? value : "") + 3;
    char *line = malloc(n);
    if (!line)
        return MHD_YES;
    /* "Name;" is libcurl's way to send a header with an empty value. */
    if (value && *value)
        snprintf(line, n, "%s: %s", key, value);
    else
        snprintf(line, n, "%s;", key);
    h->l = curl_slist_append(h->l, line);
    free(line);
    return MHD_YES;
}

static size_t
on_up_body(char *p, size_t sz, size_t n, void *arg)
{
    answer *a = arg;
    return buf_add(&a->body, p, sz * n) == 0 ? sz * n : 0;
}

static size_t
on_up_header(char *p, size_t sz, size_t n, void *arg)
{
    answer *a = arg;
    size_t len = sz * n;
    char line[8192];
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* A new status line (after a 100 Continue): start over. */
        curl_slist_free_all(a->hdrs);
        a->hdrs = NULL;
        return len;
    }
    while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
        len--;
    if (len == 0 || len >= sizeof line)
        return sz * n;
    memcpy(line, p, len);
    line[len] = '\0';
    a->hdrs = curl_slist_append(a->hdrs, line);
    return sz * n;
}

static int
on_progress(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut,
            curl_off_t un)
{
    (void)p;
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return stopping ? 1 : 0;
}

static void
curl_key_free(void *h)
{
    curl_easy_cleanup(h);
}

/* Forward the request to the upstream: 0 with a filled answer, -1 when the
 * upstream could not be reached or did not answer. */
static int
forward(struct MHD_Connection *c, const char *method, req *r, answer *a)
{
    char url[8192];
    hdr_acc h = {NULL, 0, 0};
    CURL *e = pthread_getspecific(curl_key);
    CURLcode rc;
    if (!e) {
        e = curl_easy_init();
        if (!e)
            return -1;
        pthread_setspecific(curl_key, e);
    }
    curl_easy_reset(e);
    snprintf(url, sizeof url, "%s%s", P.upstream, r->uri);
    MHD_get_connection_values(c, MHD_HEADER_KIND, on_header, &h);
    h.l = curl_slist_append(h.l, "Expect:");
    if (!h.has_ctype)
        h.l = curl_slist_append(h.l, "Content-Type:");
    if (!h.has_accept)
        h.l = curl_slist_append(h.l, "Accept:");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, UPSTREAM_CONNECT_MS);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, UPSTREAM_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h.l);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_up_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_up_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    if (strcmp(method, "GET") == 0)
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)r->body.n);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.p ? r->body.p : "");
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    rc = curl_easy_perform(e);
    curl_slist_free_all(h.l);
    if (rc != CURLE_OK) {
        if (P.verbose)
            fprintf(stderr, "faultproxy: upstream %s: %s\n", url,
                    curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &a->status);
    return 0;
}

static enum MHD_Result
send_answer(struct MHD_Connection *c, const answer *a)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        a->body.n, a->body.p ? a->body.p : (char *)"", MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ok;
    if (!resp)
        return MHD_NO;
    for (const struct curl_slist *l = a->hdrs; l; l = l->next) {
        char name[256];
        const char *colon = strchr(l->data, ':');
        size_t nl = colon ? (size_t)(colon - l->data) : 0;
        if (!colon || nl == 0 || nl >= sizeof name)
            continue;
        memcpy(name, l->data, nl);
        name[nl] = '\0';
        if (hop_by_hop(name))
            continue;
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        MHD_add_response_header(resp, name, v);
    }
    ok = MHD_queue_response(c, (unsigned)a->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* An injected AWS error, in the request's protocol. */
static enum MHD_Result
send_error(struct MHD_Connection *c, unsigned status, const char *code,
           const char *fault, const char *message)
{
    char body[1024], qe[128];
    int json = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                           "X-Amz-Target") != NULL;
    if (json)
        snprintf(body, sizeof body,
                 "{\"__type\":\"com.amazonaws.sqs#%s\",\"message\":\"%s\"}",
                 code, message);
    else
        snprintf(body, sizeof body,
                 "<?xml version=\"1.0\"?><ErrorResponse "
                 "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">"
                 "<Error><Type>%s</Type><Code>%s</Code><Message>%s</Message>"
                 "<Detail/></Error><RequestId>00000000-0000-0000-0000-"
                 "faultproxy00</RequestId></ErrorResponse>",
                 fault, code, message);
    snprintf(qe, sizeof qe, "%s;%s", code, fault);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(body), body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type",
                            json ? "application/x-amz-json-1.0" : "text/xml");
    MHD_add_response_header(resp, "x-amzn-RequestId",
                            "00000000-0000-0000-0000-faultproxy00");
    MHD_add_response_header(resp, "x-amzn-query-error", qe);
    enum MHD_Result ok = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
           const char *method, const char *version, const char *upload_data,
           size_t *upload_data_size, void **con_cls)
{
    req *r = *con_cls;
    int delay_ms, blackhole_ms, m;
    uint64_t gen;
    answer a;
    enum MHD_Result ok;
    (void)cls;
    (void)url;
    (void)version;
    if (!r || !r->uri)
        return MHD_NO;
    if (!r->started) {
        r->started = 1;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (r->body.n + *upload_data_size > MAX_BODY ||
            buf_add(&r->body, upload_data, *upload_data_size) != 0)
            r->too_big = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return MHD_NO;

    m = pick_mode(&delay_ms, &blackhole_ms, &gen);
    if (P.verbose)
        fprintf(stderr, "faultproxy: %s %s %s\n", mode_names[m], method,
                r->uri);
    switch (m) {
    case M_DROP:
        return MHD_NO;
    case M_ERROR500:
        return send_error(c, 500, "InternalFailure", "Receiver",
                          "injected by faultproxy");
    case M_THROTTLE400:
        return send_error(c, 400, "ThrottlingException", "Sender",
                          "Rate exceeded");
    case M_THROTTLE403:
        return send_error(c, 403, "RequestThrottled", "Sender",
                          "Request is throttled.");
    case M_BLACKHOLE: {
        int64_t until = mono_ms() + blackhole_ms;
        while (!stopping && mono_ms() < until && current_generation() == gen)
            sleep_ms(20);
        return MHD_NO;
    }
    case M_DELAY:
        for (int64_t until = mono_ms() + delay_ms;
             !stopping && mono_ms() < until;)
            sleep_ms(5);
        break;
    default:
        break;
    }
    memset(&a, 0, sizeof a);
    if (forward(c, method, r, &a) != 0) {
        pthread_mutex_lock(&P.mu);
        P.upstream_errors++;
        stats_write();
        pthread_mutex_unlock(&P.mu);
        ok = MHD_NO;
    } else if (m == M_LOSE)
        ok = MHD_NO;
    else
        ok = send_answer(c, &a);
    curl_slist_free_all(a.hdrs);
    free(a.body.p);
    return ok;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: faultproxy --listen 127.0.0.1:PORT --upstream URL "
               "--control FILE [--stats FILE] [--verbose]\n");
}

int
main(int argc, char **argv)
{
    const char *listen = NULL, *upstream = NULL, *stats = NULL;
    struct MHD_Daemon *d;
    sigset_t set;
    int sig = 0, port;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            listen = argv[++i];
        else if (strcmp(argv[i], "--upstream") == 0 && i + 1 < argc)
            upstream = argv[++i];
        else if (strcmp(argv[i], "--control") == 0 && i + 1 < argc)
            P.control_path = argv[++i];
        else if (strcmp(argv[i], "--stats") == 0 && i + 1 < argc)
            stats = argv[++i];
        else if (strcmp(argv[i], "--verbose") == 0)
            P.verbose = 1;
        else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!listen || !upstream || !P.control_path ||
        strncmp(listen, "127.0.0.1:", 10) != 0) {
        usage(stderr);
        return 2;
    }
    port = atoi(listen + 10);
    snprintf(P.upstream, sizeof P.upstream, "%s", upstream);
    while (P.upstream[0] && P.upstream[strlen(P.upstream) - 1] == '/')
        P.upstream[strlen(P.upstream) - 1] = '\0';
    snprintf(P.stats_path, sizeof P.stats_path, "%s",
             stats ? stats : P.control_path);
    if (!stats)
        strncat(P.stats_path, ".stats",
                sizeof P.stats_path - strlen(P.stats_path) - 1);
    pthread_mutex_lock(&P.mu);
    control_reload();
    stats_write();
    pthread_mutex_unlock(&P.mu);

    /* Threads inherit the mask: only main's sigwait() sees the signals. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
        pthread_key_create(&curl_key, curl_key_free) != 0)
        return 1;

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(0x7f000001u);
    d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
            MHD_USE_ERROR_LOG | MHD_USE_SUPPRESS_DATE_NO_CLOCK,
        0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "faultproxy: cannot listen on %s\n", listen);
        return 1;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("faultproxy ready http://127.0.0.1:%u\n",
           info ? (unsigned)info->port : (unsigned)port);
    fflush(stdout);

    while (sigwait(&set, &sig) != 0)
        ;
    stopping = 1;
    MHD_stop_daemon(d);
    curl_global_cleanup();
    return 0;
}
