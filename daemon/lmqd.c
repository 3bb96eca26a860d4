/*
 * lmqd: serve an lmq home over HTTP as Amazon SQS does (AWS JSON 1.0 and
 * Query on one port), so that the AWS SDKs, the AWS CLI and sqs-consumer
 * use it with nothing changed but the endpoint URL.
 *
 * This file owns sockets, threads and signals; the SQS wire layer (wire/)
 * turns requests into library calls and answers into bytes.
 *
 * Threads:
 *  - libmicrohttpd's pool (one epoll thread per core per listen address)
 *    reads requests and runs those that cannot block: every action of a
 *    home in a relaxed durability mode, and reads.
 *  - Workers (--workers, full durability only) run the commits of a
 *    durable home: the connection is suspended, a worker runs the action
 *    (many at once, so concurrent requests share group commits) and
 *    resumes it. An fsync never stalls an event loop.
 *  - One watcher thread per queue with waiting long polls. A ReceiveMessage
 *    that finds nothing is parked (its connection suspended: no thread, no
 *    timer per request) on its queue's watcher, which polls for the oldest
 *    parked request and otherwise sleeps on the library's cross-process
 *    wake-up (lmq_queue_wait()) until a commit in any process, the earliest
 *    visible_at it saw, or the earliest deadline. A thousand idle polls on
 *    one queue cost one sleeping thread.
 *  - The main thread waits for signals (sigwait). SIGHUP reloads the
 *    credentials and policies (daemon/authz.c). SIGTERM/SIGINT stop: stop
 *    accepting, answer parked polls empty, let requests in flight finish,
 *    close the home.
 */
#include "config.h"

#include "../lib/homefile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lmq.h"
#include "lmqd.h"
#include "sigv4.h"
#include "sqs_wire.h"

lmqd_server S;

static int64_t
mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
lmqd_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lmqd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- connections ---------------------------------------------------------- */

static void
conn_free(lmqd_conn *c)
{
    if (!c)
        return;
    free(c->uri);
    if (c->uri_path_owned)
        free(c->path);
    free(c->body);
    sqs_req_done(c);
    lmq__sqs_resp_clear(&c->resp);
    free(c);
}

void
sqs_req_done(lmqd_conn *c)
{
    lmq__sqs_req_free(c->req);
    c->req = NULL;
}

/* MHD_OPTION_URI_LOG_CALLBACK: the first thing MHD knows of a request. The
 * raw URI is kept (MHD decodes the one it passes on, and SigV4 and the
 * Query decoder need the bytes as sent). */
static void *
uri_log(void *cls, const char *uri, struct MHD_Connection *con)
{
    (void)cls;
    (void)con;
    lmqd_conn *c = calloc(1, sizeof *c);
    if (c) {
        c->uri = strdup(uri ? uri : "/");
        c->t0 = mono_us();
    }
    return c;
}

static void
completed(void *cls, struct MHD_Connection *con, void **con_cls,
          enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)con;
    (void)toe;
    lmqd_conn *c = *con_cls;
    if (c && c->counted)
        atomic_fetch_sub(&S.in_flight, 1);
    conn_free(c);
    *con_cls = NULL;
}

/* Queue c->resp on the connection (it owns the body afterwards). */
static enum MHD_Result
send_resp(struct MHD_Connection *con, lmqd_conn *c)
{
    sqs_resp *r = &c->resp;
    struct MHD_Response *mr = MHD_create_response_from_buffer(
        r->len, r->body ? r->body : (void *)"", r->body ? MHD_RESPMEM_MUST_FREE
                                                        : MHD_RESPMEM_PERSISTENT);
    if (!mr)
        return MHD_NO;
    r->body = NULL;
    if (r->content_type)
        MHD_add_response_header(mr, "Content-Type", r->content_type);
    MHD_add_response_header(mr, "x-amzn-RequestId", c->rid);
    if (r->query_error[0])
        MHD_add_response_header(mr, "x-amzn-query-error", r->query_error);
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    lmqd_log_request(c);
    return ret;
}

/* An error answer outside any action. */
static enum MHD_Result
send_error(struct MHD_Connection *con, lmqd_conn *c, int status,
           const char *shape, const char *code, const char *msg)
{
    const char *ct = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                 "Content-Type");
    const char *tg = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                 "X-Amz-Target");
    c->proto = lmq__sqs_guess_proto(ct, tg);
    lmq__sqs_encode_error(c->proto, c->rid, status, shape, code, msg,
                          &c->resp);
    return send_resp(con, c);
}

static enum MHD_Result
send_text(struct MHD_Connection *con, lmqd_conn *c, int status,
          const char *ctype, char *body)
{
    lmq__sqs_resp_clear(&c->resp);
    c->resp.status = status;
    c->resp.content_type = ctype;
    c->resp.body = body;
    c->resp.len = body ? strlen(body) : 0;
    snprintf(c->action, sizeof c->action, "%s", c->path);
    return send_resp(con, c);
}

/* ---- running an SQS request ------------------------------------------------- */

/* Run a decoded request (any thread). Returns 1 when it was parked. con:
 * the connection, still running in MHD's thread, to suspend before the
 * request is parked; NULL when it is suspended already (a worker's). Once
 * parked, its watcher may answer it and resume the connection at any
 * moment, so the suspension must come first: suspending after parking let
 * a watcher resume a connection not yet suspended, with c->con not yet
 * set, and lmqd died of SIGSEGV in MHD_resume_connection (found by the
 * kill storm, tests/torture -L, in a `periodic` lmqd, which has no
 * workers). */
int
lmqd_run(lmqd_conn *c, struct MHD_Connection *con)
{
    lmq__sqs_execute(&S.ctx, c->req, &c->resp, SQS_EXEC_PARK);
    if (c->resp.park) {
        int64_t deadline = c->t0 / 1000 + c->resp.park_wait_ms;
        if (con) {
            c->con = con;
            MHD_suspend_connection(con);
        }
        lmqd_park(c, c->resp.park_queue, deadline);
        if (con && S.park_lag_ms > 0)
            nanosleep(&(struct timespec){S.park_lag_ms / 1000,
                                         S.park_lag_ms % 1000 * 1000000L},
                      NULL);
        return 1;
    }
    return 0;
}

static enum MHD_Result
header_cb(void *cls, enum MHD_ValueKind kind, const char *key,
          const char *value)
{
    (void)kind;
    lmqd_conn *c = cls;
    if (c->n_headers < LMQD_MAX_HEADERS) {
        c->headers[c->n_headers].name = key;
        c->headers[c->n_headers].value = value ? value : "";
        c->n_headers++;
    }
    return MHD_YES;
}

/* SigV4 per --auth, with the secrets of az. 0 to go on, else the answer
 * was queued. */
static int
check_auth(struct MHD_Connection *con, lmqd_conn *c, lmqd_authz *az,
           const char *method, const char *path, const char *query,
           enum MHD_Result *ret)
{
    if (S.auth == LMQD_AUTH_OFF)
        return 0;
    c->n_headers = 0;
    MHD_get_connection_values(con, MHD_HEADER_KIND, header_cb, c);
    lmq_sigv4_request r = {method, path, query, c->headers, c->n_headers,
                           c->body, c->body_len};
    lmq_sigv4_info info;
    char err[256] = "";
    int o;
    if (S.auth == LMQD_AUTH_PARSE)
        o = lmq__sigv4_parse(&r, &info, err, sizeof err);
    else {
        /* Signatures are dated in real time, whatever clock the home
         * runs on (a test clock may be days ahead). */
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        o = lmq__sigv4_verify(&r,
                              (int64_t)now.tv_sec * 1000 +
                                  now.tv_nsec / 1000000,
                              lmqd_secret, az, &info, err, sizeof err);
    }
    if (o == LMQ_SIGV4_OK) {
        snprintf(c->access_key, sizeof c->access_key, "%s", info.access_key);
        return 0;
    }
    const char *code = lmq__sigv4_error_code(o);
    *ret = send_error(con, c, lmq__sigv4_http_status(o), code, code, err);
    return 1;
}

/* The client's address as text ("127.0.0.1", "::1"), "" if unknown. */
static void
client_ip(struct MHD_Connection *con, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    buf[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf,
                  (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
                  buf, (socklen_t)len);
}

/* One SQS request, checked against one generation az of the credentials
 * and policies (a SIGHUP in between does not mix two). */
static enum MHD_Result
handle_sqs_with(struct MHD_Connection *con, lmqd_conn *c, const char *method,
                const lmqd_listen *l, lmqd_authz *az)
{
    char *q = strchr(c->uri, '?');
    const char *query = q ? q + 1 : NULL;
    enum MHD_Result ret;
    if (check_auth(con, c, az, method, c->path, query, &ret))
        return ret;
    sqs_http h = {
        .method = method,
        .path = c->path,
        .query = query,
        .host = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Host"),
        .content_type = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                    "Content-Type"),
        .target = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                              "X-Amz-Target"),
        .https = l->tls,
        .body = c->body,
        .body_len = c->body_len,
    };
    if (lmq__sqs_decode(&h, &c->req) != 0)
        return send_error(con, c, 500, "InternalFailure", "InternalFailure",
                          "out of memory");
    snprintf(c->rid, sizeof c->rid, "%s", lmq__sqs_req_id(c->req));
    c->proto = lmq__sqs_req_proto(c->req);
    snprintf(c->action, sizeof c->action, "%s", lmq__sqs_req_action(c->req));
    const char *qn = lmq__sqs_req_queue(c->req);
    snprintf(c->queue, sizeof c->queue, "%s", qn ? qn : "-");
    if (S.stopping) {
        return send_error(con, c, 503, "ServiceUnavailable",
                          "ServiceUnavailable", "lmqd is stopping");
    }
    /* Access control (issue 22): after SigV4, before anything runs, so a
     * denied request changes nothing. */
    char ip[INET6_ADDRSTRLEN];
    client_ip(con, ip, sizeof ip);
    if (lmqd_authorize(c, az, ip[0] ? ip : NULL, l->tls)) {
        sqs_req_done(c);
        return send_resp(con, c);
    }
    /* A durable commit blocks for its flush: run it on a worker. */
    if (S.n_workers > 0 && !lmq__sqs_req_readonly(c->req)) {
        c->con = con;
        MHD_suspend_connection(con);
        lmqd_workers_push(c);
        return MHD_YES;
    }
    if (lmqd_run(c, con))
        return MHD_YES; /* parked, its connection suspended */
    sqs_req_done(c);
    return send_resp(con, c);
}

static enum MHD_Result
handle_sqs(struct MHD_Connection *con, lmqd_conn *c, const char *method,
           const lmqd_listen *l)
{
    lmqd_authz *az = lmqd_authz_acquire();
    enum MHD_Result ret = handle_sqs_with(con, c, method, l, az);
    lmqd_authz_release(az);
    return ret;
}

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *con, const char *url,
          const char *method, const char *version, const char *upload_data,
          size_t *upload_data_size, void **con_cls)
{
    (void)url;
    (void)version;
    const lmqd_listen *l = cls;
    lmqd_conn *c = *con_cls;
    if (!c)
        return MHD_NO;
    if (c->state == LMQD_READY) {
        /* Resumed: a worker or a watcher left the answer. */
        c->state = LMQD_SENT;
        sqs_req_done(c);
        return send_resp(con, c);
    }
    if (c->state == LMQD_SENT)
        return MHD_YES;
    if (!c->started) {
        c->started = 1;
        c->counted = 1;
        atomic_fetch_add(&S.in_flight, 1);
        lmq__sqs_request_id(c->rid);
        size_t pl = strcspn(c->uri, "?");
        c->path = strndup(c->uri, pl);
        c->uri_path_owned = 1;
        const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                     "Content-Length");
        unsigned long long clen = cl ? strtoull(cl, NULL, 10) : 0;
        if (clen > S.max_body) {
            c->too_large = 1;
            /* A client waiting for 100 Continue gets the 413 now. One that
             * sends its body at once would see the connection close under
             * its send (a broken pipe, not the 413): its body is read and
             * dropped first (below), unless it is absurdly large. */
            const char *ex = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                         "Expect");
            if ((ex && strcasecmp(ex, "100-continue") == 0) ||
                clen > 4ull * S.max_body) {
                c->state = LMQD_SENT;
                return send_error(con, c, 413, "RequestEntityTooLarge",
                                  "RequestEntityTooLarge",
                                  "The request is larger than lmqd accepts.");
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!c->too_large) {
            if (c->body_len + *upload_data_size > S.max_body) {
                c->too_large = 1;
            } else {
                if (c->body_len + *upload_data_size + 1 > c->body_cap) {
                    size_t nc = c->body_cap ? c->body_cap * 2 : 4096;
                    while (nc < c->body_len + *upload_data_size + 1)
                        nc *= 2;
                    char *nb = realloc(c->body, nc);
                    if (!nb)
                        return MHD_NO;
                    c->body = nb;
                    c->body_cap = nc;
                }
                memcpy(c->body + c->body_len, upload_data, *upload_data_size);
                c->body_len += *upload_data_size;
                c->body[c->body_len] = '\0';
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    c->state = LMQD_SENT;
    if (c->too_large)
        return send_error(con, c, 413, "RequestEntityTooLarge",
                          "RequestEntityTooLarge",
                          "The request is larger than lmqd accepts.");
    int get = strcmp(method, "GET") == 0;
    if (get && strcmp(c->path, "/health") == 0)
        return send_text(con, c, 200, "text/plain",
                         strdup(S.stopping ? "stopping\n" : "ok\n"));
    /* --require-tls: nothing but /health over plain HTTP. */
    if (S.require_tls && !l->tls)
        return send_error(con, c, 403, "InvalidSecurity", "InvalidSecurity",
                          "lmqd requires HTTPS (--require-tls).");
    if (get && strcmp(c->path, "/metrics") == 0)
        return send_text(con, c, 200, "text/plain; version=0.0.4",
                         lmqd_metrics_text());
    if (strncmp(c->path, "/_lmq/", 6) == 0 ||
        strncmp(c->path, "/_aws/sqs/", 10) == 0) {
        c->state = LMQD_SENT;
        /* Unsigned reset, peek and clock moves would bypass every policy:
         * off when lmqd checks access. */
        if (lmqd_authz_enabled())
            return send_error(con, c, 403, "AccessDenied", "AccessDenied",
                              "The test-double endpoints are off when lmqd "
                              "checks access (--credentials).");
        return lmqd_extra(con, c, method);
    }
    if (strcmp(method, "POST") != 0 && !get)
        return send_error(con, c, 405, "InvalidAction", "InvalidAction",
                          "Use POST (or GET for Query requests).");
    c->state = LMQD_RUNNING;
    return handle_sqs(con, c, method, l);
}

/* Called by workers and watchers: the answer is in c->resp. */
void
lmqd_resume(lmqd_conn *c)
{
    c->state = LMQD_READY;
    MHD_resume_connection(c->con);
}

/* ---- options --------------------------------------------------------------- */

static void
usage(FILE *f)
{
    fputs(
        "usage: lmqd [options]\n"
        "  --home DIR            the home to serve (default: the lmq CLI's)\n"
        "  --ephemeral           a temporary home, removed at exit\n"
        "  --listen ADDR:PORT    listen address (repeatable; default\n"
        "                        127.0.0.1:9324; [::1]:PORT for IPv6);\n"
        "                        http://ADDR:PORT or https://ADDR:PORT\n"
        "                        choose the scheme (default: https when\n"
        "                        --tls-cert is given)\n"
        "  --durability MODE     full | periodic | none (default full)\n"
        "  --group NAME          share a home this creates with group NAME\n"
        "                        (or a gid): 02770, files 0660 (default\n"
        "                        $LMQ_GROUP, else private: 0700, files 0600)\n"
        "  --strict-permissions  refuse a home with unsafe permissions\n"
        "                        instead of warning (LMQ_STRICT_PERMISSIONS=1)\n"
        "  --public-url URL      base of the queue URLs handed out (default:\n"
        "                        the scheme and Host of each request)\n"
        "  --account ID          account id in URLs and ARNs: a new home's\n"
        "                        (default 000000000000), else the home's\n"
        "  --region REGION       region in ARNs: a new home's (default\n"
        "                        us-east-1), else the home's\n"
        "  --auth MODE           off | parse | verify (default off; verify\n"
        "                        with --credentials)\n"
        "  --credentials FILE    lines ACCESS_KEY_ID SECRET [PRINCIPAL]: SigV4\n"
        "                        verified, access checked (docs/LMQD.md)\n"
        "  --policies FILE       JSON: identity policies per principal\n"
        "                        (SIGHUP re-reads both files; one that fails\n"
        "                        keeps the previous set, logged)\n"
        "  --tls-cert FILE       serve HTTPS with this certificate (PEM)\n"
        "  --tls-key FILE        ... and this key\n"
        "  --require-tls         refuse plain HTTP (but GET /health)\n"
        "  --config FILE         JSON: queues to create at start\n"
        "  --bridge FILE         run the bridge routes of FILE (docs/BRIDGE.md)\n"
        "  --pid-file FILE       write the pid here\n"
        "  --test-clock          run the home on the test clock (lmq clock)\n"
        "  --max-home-messages N refuse sends (OverLimit) once the home's\n"
        "                        queues hold N messages (default: none)\n"
        "  --max-home-bytes N    refuse writes that add data once the home\n"
        "                        holds N bytes; k, m, g (default: none)\n"
        "  --key-file FILE       keyring sealing queues at rest (default\n"
        "                        $LMQ_KEY_FILE; docs/SECURITY.md)\n"
        "  --key-passphrase-file FILE  its first line's Argon2id stretch is\n"
        "                        the home key ($LMQ_KEY_PASSPHRASE_FILE)\n"
        "  --key-process COMMAND a command printing a keyring (TPM, secret\n"
        "                        store; default $LMQ_KEY_PROCESS)\n"
        "  --max-connections N   default 1024\n"
        "  --idle-timeout SECS   close idle connections (default 60)\n"
        "  --workers N           threads for durable commits (default 32)\n"
        "  --quiet               no access log\n"
        "  --version, --help\n",
        f);
}

static void
add_listen(const char *spec)
{
    if (S.n_listen >= LMQD_MAX_LISTEN)
        lmqd_die("too many --listen addresses");
    lmqd_listen *l = &S.listen[S.n_listen];
    char host[256];
    const char *colon;
    l->tls = -1;
    if (strncmp(spec, "http://", 7) == 0) {
        l->tls = 0;
        spec += 7;
    } else if (strncmp(spec, "https://", 8) == 0) {
        l->tls = 1;
        spec += 8;
    }
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (!end || end[1] != ':')
            lmqd_die("bad --listen %s (use [ADDR]:PORT for IPv6)", spec);
        snprintf(host, sizeof host, "%.*s", (int)(end - spec - 1), spec + 1);
        colon = end + 1;
        l->v6 = 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon)
            lmqd_die("bad --listen %s (use ADDR:PORT)", spec);
        snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        lmqd_die("bad port in --listen %s", spec);
    memset(&l->addr, 0, sizeof l->addr);
    if (l->v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&l->addr;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            lmqd_die("bad IPv6 address in --listen %s", spec);
        l->addrlen = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&l->addr;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (strcmp(host, "localhost") == 0)
            snprintf(host, sizeof host, "127.0.0.1");
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            lmqd_die("bad IPv4 address in --listen %s", spec);
        l->addrlen = sizeof *a;
    }
    S.n_listen++;
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        lmqd_die("cannot read %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            if (!buf)
                lmqd_die("out of memory");
        }
        size_t k = fread(buf + n, 1, 4096, f);
        n += k;
        if (k < 4096)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

static void
open_listeners(void)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned pool = ncpu > 0 ? (unsigned)ncpu : 1;
    for (int i = 0; i < S.n_listen; i++) {
        lmqd_listen *l = &S.listen[i];
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
                         MHD_USE_TURBO | (l->tls ? MHD_USE_TLS : 0);
        int fd = socket(l->v6 ? AF_INET6 : AF_INET,
                        SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd < 0)
            lmqd_die("socket: %s", strerror(errno));
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (l->v6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&l->addr, l->addrlen) != 0)
            lmqd_die("cannot listen on %s: %s", lmqd_listen_name(l, 0),
                strerror(errno));
        if (listen(fd, 1024) != 0)
            lmqd_die("listen: %s", strerror(errno));
        socklen_t al = sizeof l->addr;
        getsockname(fd, (struct sockaddr *)&l->addr, &al);
        struct MHD_OptionItem opts[16];
        int k = 0;
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd,
                                            NULL};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, pool,
                                            NULL};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK,
                                            (intptr_t)uri_log, NULL};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
                                            (intptr_t)completed, NULL};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                            S.max_connections, NULL};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                            S.idle_timeout, NULL};
        /* Headers and the request line must fit in 32 KiB. */
        opts[k++] = (struct MHD_OptionItem){
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, 32 * 1024, NULL};
        if (l->tls) {
            opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                                S.tls_cert};
            opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                                S.tls_key};
        }
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
        l->d = MHD_start_daemon(flags, 0, NULL, NULL, access_cb, l,
                                MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
        if (!l->d)
            lmqd_die("cannot start the HTTP server on %s",
                lmqd_listen_name(l, 0));
        l->fd = fd;
    }
}

const char *
lmqd_listen_name(const lmqd_listen *l, int with_scheme)
{
    static __thread char buf[128];
    char host[INET6_ADDRSTRLEN];
    int port;
    if (l->v6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&l->addr;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
        snprintf(buf, sizeof buf, "%s[%s]:%d",
                 with_scheme ? (l->tls ? "https://" : "http://") : "", host,
                 port);
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&l->addr;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
        snprintf(buf, sizeof buf, "%s%s:%d",
                 with_scheme ? (l->tls ? "https://" : "http://") : "", host,
                 port);
    }
    return buf;
}

/* --max-home-messages (digits) and --max-home-bytes (digits, optionally
 * k, m or g, as the CLI's): 0, or -1 when s is not one. */
static int
parse_limit(const char *s, bool bytes, uint64_t *out)
{
    char *end;
    int shift = 0;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (bytes && *end && strchr("kK", *end))
        shift = 10;
    else if (bytes && *end && strchr("mM", *end))
        shift = 20;
    else if (bytes && *end && strchr("gG", *end))
        shift = 30;
    if (shift)
        end++;
    if (errno || *end || v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int
main(int argc, char **argv)
{
    const char *lag = getenv("LMQD_TEST_PARK_LAG_MS");
    S.park_lag_ms = lag ? atoi(lag) : 0;
    enum {
        O_HOME = 256, O_EPHEMERAL, O_LISTEN, O_DURABILITY, O_PUBLIC_URL,
        O_ACCOUNT, O_REGION, O_AUTH, O_CREDENTIALS, O_TLS_CERT, O_TLS_KEY,
        O_CONFIG, O_PID_FILE, O_TEST_CLOCK, O_MAX_CONN, O_IDLE, O_WORKERS,
        O_QUIET, O_VERSION, O_HELP, O_BRIDGE, O_POLICIES, O_REQUIRE_TLS,
        O_GROUP, O_STRICT_PERMS, O_KEY_FILE, O_KEY_PASS, O_KEY_PROC,
        O_MAX_HOME_MESSAGES, O_MAX_HOME_BYTES
    };
    static const struct option longopts[] = {
        {"home", required_argument, 0, O_HOME},
        {"ephemeral", no_argument, 0, O_EPHEMERAL},
        {"listen", required_argument, 0, O_LISTEN},
        {"durability", required_argument, 0, O_DURABILITY},
        {"public-url", required_argument, 0, O_PUBLIC_URL},
        {"account", required_argument, 0, O_ACCOUNT},
        {"region", required_argument, 0, O_REGION},
        {"auth", required_argument, 0, O_AUTH},
        {"credentials", required_argument, 0, O_CREDENTIALS},
        {"policies", required_argument, 0, O_POLICIES},
        {"require-tls", no_argument, 0, O_REQUIRE_TLS},
        {"tls-cert", required_argument, 0, O_TLS_CERT},
        {"tls-key", required_argument, 0, O_TLS_KEY},
        {"config", required_argument, 0, O_CONFIG},
        {"pid-file", required_argument, 0, O_PID_FILE},
        {"test-clock", no_argument, 0, O_TEST_CLOCK},
        {"max-connections", required_argument, 0, O_MAX_CONN},
        {"idle-timeout", required_argument, 0, O_IDLE},
        {"workers", required_argument, 0, O_WORKERS},
        {"quiet", no_argument, 0, O_QUIET},
        {"bridge", required_argument, 0, O_BRIDGE},
        {"group", required_argument, 0, O_GROUP},
        {"strict-permissions", no_argument, 0, O_STRICT_PERMS},
        {"key-file", required_argument, 0, O_KEY_FILE},
        {"key-passphrase-file", required_argument, 0, O_KEY_PASS},
        {"key-process", required_argument, 0, O_KEY_PROC},
        {"max-home-messages", required_argument, 0, O_MAX_HOME_MESSAGES},
        {"max-home-bytes", required_argument, 0, O_MAX_HOME_BYTES},
        {"version", no_argument, 0, O_VERSION},
        {"help", no_argument, 0, O_HELP},
        {0, 0, 0, 0}};
    const char *home = NULL, *config = NULL, *pid_file = NULL;
    const char *bridge_file = NULL, *group = NULL;
    int strict_perms = 0;
    uint64_t max_home_messages = 0, max_home_bytes = 0;
    const char *cert = NULL, *key = NULL, *creds = NULL, *policies = NULL;
    int ephemeral = 0, opt;
    lmq_durability durability = LMQ_DURABILITY_FULL;
    S.account = NULL; /* the home's, unless --account */
    S.region = NULL;  /* likewise */
    S.max_connections = 1024;
    S.idle_timeout = 60;
    S.n_workers = 32;
    S.max_body = LMQD_MAX_BODY;
    S.auth = -1; /* not given: verify with --credentials, else off */
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case O_HOME:
            home = optarg;
            break;
        case O_EPHEMERAL:
            ephemeral = 1;
            break;
        case O_LISTEN:
            add_listen(optarg);
            break;
        case O_DURABILITY:
            if (strcmp(optarg, "full") == 0)
                durability = LMQ_DURABILITY_FULL;
            else if (strcmp(optarg, "periodic") == 0)
                durability = LMQ_DURABILITY_PERIODIC;
            else if (strcmp(optarg, "none") == 0)
                durability = LMQ_DURABILITY_NONE;
            else
                lmqd_die("bad --durability %s (full, periodic or none)", optarg);
            break;
        case O_PUBLIC_URL:
            S.ctx.public_url = optarg;
            break;
        case O_ACCOUNT:
            if (strlen(optarg) != 12 ||
                strspn(optarg, "0123456789") != strlen(optarg))
                lmqd_die("bad --account %s (12 digits)", optarg);
            S.account = optarg;
            break;
        case O_REGION:
            S.region = optarg;
            break;
        case O_AUTH:
            if (strcmp(optarg, "off") == 0)
                S.auth = LMQD_AUTH_OFF;
            else if (strcmp(optarg, "parse") == 0)
                S.auth = LMQD_AUTH_PARSE;
            else if (strcmp(optarg, "verify") == 0)
                S.auth = LMQD_AUTH_VERIFY;
            else
                lmqd_die("bad --auth %s (off, parse or verify)", optarg);
            break;
        case O_CREDENTIALS:
            creds = optarg;
            break;
        case O_POLICIES:
            policies = optarg;
            break;
        case O_REQUIRE_TLS:
            S.require_tls = 1;
            break;
        case O_TLS_CERT:
            cert = optarg;
            break;
        case O_TLS_KEY:
            key = optarg;
            break;
        case O_CONFIG:
            config = optarg;
            break;
        case O_PID_FILE:
            pid_file = optarg;
            break;
        case O_KEY_FILE:
            S.key_file = optarg;
            break;
        case O_KEY_PASS:
            S.key_passphrase_file = optarg;
            break;
        case O_KEY_PROC:
            S.key_process = optarg;
            break;
        case O_TEST_CLOCK:
            S.test_clock = 1;
            break;
        case O_MAX_CONN:
            S.max_connections = (unsigned)atoi(optarg);
            if (S.max_connections < 1)
                lmqd_die("bad --max-connections %s", optarg);
            break;
        case O_IDLE:
            S.idle_timeout = (unsigned)atoi(optarg);
            break;
        case O_WORKERS:
            S.n_workers = atoi(optarg);
            if (S.n_workers < 0 || S.n_workers > 1024)
                lmqd_die("bad --workers %s (0-1024)", optarg);
            break;
        case O_QUIET:
            S.quiet = 1;
            break;
        case O_BRIDGE:
            bridge_file = optarg;
            break;
        case O_GROUP:
            group = optarg;
            break;
        case O_STRICT_PERMS:
            strict_perms = 1;
            break;
        case O_MAX_HOME_MESSAGES:
            if (parse_limit(optarg, false, &max_home_messages) != 0)
                lmqd_die("bad --max-home-messages %s (a number of "
                         "messages, 0 for none)", optarg);
            break;
        case O_MAX_HOME_BYTES:
            if (parse_limit(optarg, true, &max_home_bytes) != 0)
                lmqd_die("bad --max-home-bytes %s (bytes, optionally k, m "
                         "or g)", optarg);
            break;
        case O_VERSION:
            printf("lmqd %s\n", LMQ_VERSION_STRING);
            return 0;
        case O_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (S.n_listen == 0)
        add_listen("127.0.0.1:9324");
    if (!!cert != !!key)
        lmqd_die("--tls-cert and --tls-key go together");
    if (cert) {
        S.tls = 1;
        S.tls_cert = slurp(cert, NULL);
        S.tls_key = slurp(key, NULL);
    }
    for (int i = 0; i < S.n_listen; i++) {
        if (S.listen[i].tls < 0)
            S.listen[i].tls = S.tls;
        if (S.listen[i].tls && !S.tls)
            lmqd_die("an https:// --listen needs --tls-cert and --tls-key");
    }
    if (S.require_tls && !S.tls)
        lmqd_die("--require-tls needs --tls-cert and --tls-key");
    /* A credentials file turns verification (and access control) on. */
    if (S.auth < 0)
        S.auth = creds ? LMQD_AUTH_VERIFY : LMQD_AUTH_OFF;
    if (creds && S.auth != LMQD_AUTH_VERIFY)
        lmqd_die("--credentials checks signatures and access; it cannot go "
            "with --auth %s", S.auth == LMQD_AUTH_OFF ? "off" : "parse");
    if (S.auth == LMQD_AUTH_VERIFY && !creds)
        lmqd_die("--auth verify needs --credentials FILE");
    if (policies && !creds)
        lmqd_die("--policies needs --credentials FILE (the keys of the "
            "principals)");
    if (ephemeral && home)
        lmqd_die("--home and --ephemeral exclude each other");

    /* Signals: every thread blocks them; main waits for them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    char *home_buf = NULL;
    char eph_root[64] = "";
    if (ephemeral) {
        char tmpl[] = "/tmp/lmqd-ephemeral.XXXXXX";
        if (!mkdtemp(tmpl))
            lmqd_die("mkdtemp: %s", strerror(errno));
        snprintf(eph_root, sizeof eph_root, "%s", tmpl);
        /* Shared with a group: a home lmq makes (02770) inside the private
         * temporary directory, which the group may pass through. */
        if (group && chmod(tmpl, 0711) != 0)
            lmqd_die("chmod %s: %s", tmpl, strerror(errno));
        home_buf = malloc(sizeof tmpl + 5);
        if (!home_buf)
            lmqd_die("out of memory");
        snprintf(home_buf, sizeof tmpl + 5, "%s%s", tmpl, group ? "/home" : "");
        home = home_buf;
        if (durability == LMQ_DURABILITY_FULL)
            durability = LMQ_DURABILITY_NONE;
    } else if (!home) {
        if (lmq_default_home(&home_buf) != 0)
            lmqd_die("cannot find the default home: %s", lmq_errmsg());
        home = home_buf;
    }
    S.home = home;
    lmq_env_opts eo;
    lmq_env_opts_init(&eo);
    eo.durability = durability;
    eo.region = S.region;
    eo.account = S.account;
    eo.key_file = S.key_file; /* NULL: $LMQ_KEY_FILE */
    eo.key_passphrase_file = S.key_passphrase_file; /* NULL: the variable */
    eo.key_process = S.key_process;                 /* NULL: the variable */
    if (S.test_clock)
        lmqd_test_clock_setup(home, &eo);
    eo.group = group;
    eo.strict_permissions = strict_perms;
    eo.max_messages = max_home_messages;
    eo.max_bytes = max_home_bytes;
    int orc = lmq_env_open(home, &eo, &S.env);
    if (orc != 0)
        lmqd_die("cannot open the home %s: %s\n%s", home, lmq_errmsg(),
                 lmq__home_hint(orc));
    /* The home's region and account (fixed when it was created; --region
     * and --account set them then, and must agree later). */
    if (lmq_env_identity(S.env, &S.region, &S.account) != 0)
        lmqd_die("cannot read the home's region: %s", lmq_errmsg());
    /* Principals without an account are the home's account's. */
    lmqd_authz_init(creds, policies);
    const char *perm_warning = NULL;
    if (lmq_env_warnings(S.env, &perm_warning) == 0 && perm_warning)
        fprintf(stderr, "lmqd: warning: %s\n", perm_warning);
    S.durability = durability;
    if (durability != LMQ_DURABILITY_FULL)
        S.n_workers = 0;
    S.ctx.env = S.env;
    S.ctx.account = S.account;
    S.ctx.region = S.region;
    S.ctx.task_started = lmqd_task_started;
    if (lmq__sqs_ctx_init(&S.ctx) != 0)
        lmqd_die("out of memory");
    if (config)
        lmqd_apply_config(config);
    lmqd_metrics_init();
    /* The bridge (issue 26) runs on the served home, in threads of its
     * own; they inherit the blocked signals. */
    if (bridge_file) {
        if (lmq_bridge_open(S.env, 0, &lmqd_bridge) != 0 ||
            lmq_bridge_load_config(lmqd_bridge, bridge_file) != 0 ||
            lmq_bridge_start(lmqd_bridge) != 0)
            lmqd_die("--bridge %s: %s", bridge_file, lmq_errmsg());
    }
    lmqd_workers_start();
    lmqd_tasks_resume();
    open_listeners();
    if (pid_file) {
        FILE *f = fopen(pid_file, "w");
        if (!f)
            lmqd_die("cannot write %s: %s", pid_file, strerror(errno));
        fprintf(f, "%ld\n", (long)getpid());
        fclose(f);
    }
    printf("lmqd ready %s\n", lmqd_listen_name(&S.listen[0], 1));
    fflush(stdout);
    if (!S.quiet) {
        for (int i = 0; i < S.n_listen; i++)
            fprintf(stderr, "lmqd: listening on %s (home %s, durability %s)\n",
                    lmqd_listen_name(&S.listen[i], 1), home,
                    durability == LMQ_DURABILITY_FULL       ? "full"
                    : durability == LMQ_DURABILITY_PERIODIC ? "periodic"
                                                            : "none");
    }

    /* SIGHUP reloads the credentials and policies; SIGTERM/SIGINT stop. */
    int sig = 0;
    while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP)
        lmqd_authz_reload();

    /* Stop: new requests answered 503 ServiceUnavailable, parked polls
     * answered empty, requests in flight finished (bounded), then the
     * listeners and the home are closed. Not MHD_quiesce_daemon(): with
     * epoll it races a worker that removes the same listen socket from its
     * epoll set, and libmicrohttpd (0.9.75) then aborts the process
     * ("Failed to remove listen FD from epoll set"; seen once in
     * check_lmqd under load). */
    S.stopping = 1;
    lmqd_watchers_stop();
    lmqd_tasks_stop();
    lmq_bridge_stop(lmqd_bridge);
    for (int i = 0; i < 1000 && atomic_load(&S.in_flight) > 0; i++)
        usleep(10000);
    for (int i = 0; i < S.n_listen; i++)
        MHD_stop_daemon(S.listen[i].d);
    lmqd_workers_stop();
    int clean = lmqd_tasks_join();
    lmqd_watchers_join();
    lmq_bridge_close(lmqd_bridge); /* joins; before the home closes */
    lmqd_bridge = NULL;
    if (clean) {
        lmq__sqs_ctx_fini(&S.ctx);
        lmq_env_close(S.env);
    }
    if (ephemeral)
        nftw(eph_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (pid_file)
        unlink(pid_file);
    if (!S.quiet)
        fprintf(stderr, "lmqd: stopped (signal %d)\n", sig);
    free(home_buf);
    free(S.tls_cert);
    free(S.tls_key);
    lmqd_free_credentials();
    return 0;
}
