/*
 * remote.c: calling a remote SQS endpoint over HTTPS (see remote.h).
 *
 * One libcurl easy handle per remote, reused for every call so the
 * connection (and its TLS session) stays open between calls. A call is one
 * POST of AWS JSON 1.0 (shared/SQS-SEMANTICS.md section 6.2) to the
 * endpoint's path:
 *
 *   Content-Type: application/x-amz-json-1.0
 *   X-Amz-Target: AmazonSQS.<Action>
 *   X-Amz-Date, Host, [X-Amz-Security-Token], Authorization (SigV4)
 *
 * signed over content-type;host;x-amz-date;x-amz-target (plus the token),
 * botocore's header set. The Host header is set explicitly from the
 * endpoint URL (curl's URL parser) so that the value signed is the value
 * sent.
 *
 * Answers: 200 is the output tree (an empty body is an empty object). Any
 * other status is an error: its code comes from x-amzn-query-error
 * ("Code;Sender") when present, else from the JSON __type; the message from
 * "message" or "Message"; lmq__sqs_classify (wire/sqs_classify.c) names the
 * fault. A transfer that got no answer (refused, DNS, timeout, reset, TLS)
 * is TRANSIENT with curl's error text as the code; a URL curl cannot use is
 * CONFIG.
 *
 * Clock: every answer's Date header (parsed by curl_getdate) sets the skew,
 * server - local; requests are dated local + skew. The Date header has a
 * resolution of one second, so the skew only moves when the new estimate
 * is more than a second away from the old one (no jitter of the signing
 * clock on every answer). A RequestExpired answer, or SignatureDoesNotMatch
 * while the skew is over 5 minutes (some endpoints report a stale date
 * that way), is retried once at once with the corrected clock; nothing
 * else is ever retried here: retries are the bridge's policy, with backoff.
 *
 * Not thread-safe: one remote, one thread at a time (the easy handle).
 * CURLOPT_NOSIGNAL: libcurl must not use signals (SIGALRM for DNS timeouts)
 * in a library thread.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lmq.h"
#include "remote.h"
#include "sigv4.h"

/* Defaults of lmq_remote_opts. */
#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_CONNECT_TIMEOUT_MS 5000L
/* An answer bigger than this is refused: ReceiveMessage's largest answer
 * is 10 messages of 1 MiB plus their attributes and JSON escapes. */
#define MAX_ANSWER (64u << 20)
/* SignatureDoesNotMatch is taken for a clock problem only beyond this. */
#define SKEW_SUSPECT_MS (5 * 60 * 1000)
/* Credentials buffers. Session tokens of STS are up to a few KiB. */
#define AKID_MAX 129
#define SECRET_MAX 256
#define TOKEN_MAX 8192

struct lmq_remote {
    CURL *h;
    char *url;  /* the endpoint, as given */
    char *path; /* its path, "/" by default (signed) */
    char *host; /* the Host header: host[:port] */
    char *region;
    lmq_creds *creds;
    long timeout_ms, connect_timeout_ms;
    int verify_tls;
    const atomic_int *cancel;
    /* Guarded memory for the keys of one call, allocated once: a
     * sodium_malloc per request (mprotect, mmap, munmap) was ~40 % of a
     * forwarding bridge's CPU (bench/RESULTS.md, bridge). Wiped after
     * every call. */
    char *secret, *token, *h_token;
    int64_t skew_ms;        /* server - local */
    int64_t test_offset_ms; /* added to the local clock (tests) */
    char errbuf[CURL_ERROR_SIZE];
    /* the answer being read */
    char *body;
    size_t body_len, body_cap;
    int body_overflow;
};

static int64_t
local_ms(const lmq_remote *r)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + r->test_offset_ms;
}

static void
set_err(lmq_remote_error *err, lmq_fault f, int status, const char *code,
        const char *msg)
{
    if (!err)
        return;
    err->fault = f;
    err->http_status = status;
    snprintf(err->code, sizeof err->code, "%s", code ? code : "");
    snprintf(err->message, sizeof err->message, "%s", msg ? msg : "");
}

/* Host header and path of the endpoint URL, with curl's URL parser. */
static int
split_url(lmq_remote *r)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *path = NULL;
    int rc = -1;
    if (!u)
        return -1;
    if (curl_url_set(u, CURLUPART_URL, r->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    /* The port only when the URL names one: that is what the client sends
     * in Host, and what SigV4 signs. */
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
        port = NULL;
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        path = NULL;
    size_t n = strlen(host) + (port ? strlen(port) + 1 : 0) + 1;
    r->host = malloc(n);
    r->path = strdup(path && *path ? path : "/");
    if (!r->host || !r->path)
        goto out;
    snprintf(r->host, n, "%s%s%s", host, port ? ":" : "", port ? port : "");
    rc = 0;
out:
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

void
lmq__remote_opts_init(lmq_remote_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->timeout_ms = DEFAULT_TIMEOUT_MS;
    o->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    o->verify_tls = 1;
}

/* CURLOPT_XFERINFOFUNCTION: nonzero aborts the transfer. */
static int
cancel_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
          curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    const lmq_remote *r = arg;
    return r->cancel && atomic_load(r->cancel) ? 1 : 0;
}

int
lmq__remote_open(const lmq_remote_opts *o, lmq_remote **out)
{
    if (out)
        *out = NULL;
    if (!o || !out || !o->endpoint || !*o->endpoint || !o->region ||
        !*o->region || !o->creds)
        return LMQ_EINVAL;
    lmq_remote *r = calloc(1, sizeof *r);
    if (!r)
        return LMQ_ENOMEM;
    r->creds = o->creds;
    r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    r->connect_timeout_ms = o->connect_timeout_ms > 0
                                ? o->connect_timeout_ms
                                : DEFAULT_CONNECT_TIMEOUT_MS;
    r->verify_tls = o->verify_tls;
    r->cancel = o->cancel;
    r->url = strdup(o->endpoint);
    r->region = strdup(o->region);
    if (!r->url || !r->region) {
        lmq__remote_close(r);
        return LMQ_ENOMEM;
    }
    if (split_url(r) != 0) {
        lmq__remote_close(r);
        return LMQ_EINVAL;
    }
    r->secret = sodium_malloc(SECRET_MAX);
    r->token = sodium_malloc(TOKEN_MAX);
    r->h_token = sodium_malloc(TOKEN_MAX + 32);
    r->h = curl_easy_init();
    if (!r->h || !r->secret || !r->token || !r->h_token) {
        lmq__remote_close(r);
        return LMQ_ENOMEM;
    }
    *out = r;
    return 0;
}

void
lmq__remote_close(lmq_remote *r)
{
    if (!r)
        return;
    if (r->h)
        curl_easy_cleanup(r->h);
    sodium_free(r->secret);
    sodium_free(r->token);
    sodium_free(r->h_token);
    free(r->url);
    free(r->path);
    free(r->host);
    free(r->region);
    free(r->body);
    free(r);
}

int64_t
lmq__remote_skew_ms(const lmq_remote *r)
{
    return r ? r->skew_ms : 0;
}

/* Test seam: pretend the local clock is offset_ms off real time. */
void
lmq__remote_set_clock_offset_for_test(lmq_remote *r, int64_t offset_ms)
{
    if (r)
        r->test_offset_ms = offset_ms;
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    lmq_remote *r = arg;
    size_t n = size * nmemb;
    if (n > MAX_ANSWER - r->body_len) {
        r->body_overflow = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb)
            return 0;
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

/* "20260101T000000Z" for ms since the epoch. */
static void
amz_date_of(int64_t ms, char out[17])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* The wait of a long poll, which the request timeout must cover. */
static long
wait_ms_of(const char *action, json_t *in)
{
    if (strcmp(action, "ReceiveMessage") != 0)
        return 0;
    json_t *w = json_object_get(in, "WaitTimeSeconds");
    if (!json_is_integer(w) || json_integer_value(w) <= 0)
        return 0;
    json_int_t s = json_integer_value(w);
    return s > 3600 ? 3600000L : (long)s * 1000L;
}

/* A header of the last answer, or NULL. */
static const char *
answer_header(lmq_remote *r, const char *name)
{
    struct curl_header *hd = NULL;
    if (curl_easy_header(r->h, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK ||
        !hd)
        return NULL;
    return hd->value;
}

/* Learn the skew from the answer's Date header. 1 if there was one. */
static int
learn_skew(lmq_remote *r, int64_t local_at_answer)
{
    const char *date = answer_header(r, "Date");
    if (!date)
        return 0;
    time_t t = curl_getdate(date, NULL);
    if (t == (time_t)-1)
        return 0;
    int64_t est = (int64_t)t * 1000 - local_at_answer;
    /* Date is truncated to the second: the true skew lies in
     * [est, est + 1000). Keep the old one while it is consistent. */
    if (r->skew_ms < est - 1000 || r->skew_ms > est + 1000)
        r->skew_ms = est + 500;
    return 1;
}

/* Fill err from a non-200 answer. */
static void
decode_error(lmq_remote *r, long status, lmq_remote_error *err)
{
    char code[128] = "", msg[512] = "";
    int sender = status < 500;
    const char *qe = answer_header(r, "x-amzn-query-error");
    json_t *j = NULL;
    if (r->body_len > 0)
        j = json_loadb(r->body, r->body_len, 0, NULL);
    if (qe && *qe) {
        size_t n = strcspn(qe, ";");
        snprintf(code, sizeof code, "%.*s", (int)(n < 127 ? n : 127), qe);
        if (qe[n] == ';')
            sender = strncmp(qe + n + 1, "Sender", 6) == 0;
    }
    if (!code[0] && json_is_object(j)) {
        const char *t = json_string_value(json_object_get(j, "__type"));
        if (!t)
            t = json_string_value(json_object_get(j, "code"));
        if (t) {
            const char *hash = strchr(t, '#');
            if (hash)
                t = hash + 1;
            size_t n = strcspn(t, ":");
            snprintf(code, sizeof code, "%.*s", (int)(n < 127 ? n : 127), t);
        }
    }
    if (json_is_object(j)) {
        const char *m = json_string_value(json_object_get(j, "message"));
        if (!m)
            m = json_string_value(json_object_get(j, "Message"));
        if (m)
            snprintf(msg, sizeof msg, "%s", m);
    }
    if (!msg[0])
        snprintf(msg, sizeof msg, "HTTP %ld", status);
    json_decref(j);
    set_err(err, lmq__sqs_classify((int)status, code[0] ? code : NULL, sender),
            (int)status, code, msg);
}

/* A transfer without an answer. */
static void
curl_failure(lmq_remote *r, CURLcode cc, lmq_remote_error *err)
{
    lmq_fault f = LMQ_FAULT_TRANSIENT;
    switch (cc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
        f = LMQ_FAULT_CONFIG;
        break;
    case CURLE_WRITE_ERROR:
        if (r->body_overflow) {
            set_err(err, LMQ_FAULT_CLIENT, 0, "AnswerTooLarge",
                    "the answer is larger than 64 MiB");
            return;
        }
        break;
    default:
        break;
    }
    set_err(err, f, 0, curl_easy_strerror(cc),
            r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc));
}

/* One attempt. 0 with *out, or -1 with err; *clock_retry set when the
 * failure looks like a stale clock that the answer's Date corrected. */
static int
attempt(lmq_remote *r, const char *action, const char *payload, size_t plen,
        long timeout_ms, json_t **out, lmq_remote_error *err, int *clock_retry)
{
    char akid[AKID_MAX], target[128], amz_date[17], auth[1024];
    char h_target[160], h_date[32], *h_host = NULL, *h_token = NULL;
    char *secret = r->secret, *token = r->token;
    struct curl_slist *hl = NULL, *tmp;
    int rc = -1;

    *clock_retry = 0;
    int crc = lmq__creds_get(r->creds, akid, sizeof akid, secret, SECRET_MAX,
                             token, TOKEN_MAX);
    if (crc != 0) {
        set_err(err, LMQ_FAULT_CONFIG, 0, "CredentialsUnavailable",
                lmq_errmsg());
        goto out;
    }
    snprintf(target, sizeof target, "AmazonSQS.%s", action);
    int64_t t_sign = local_ms(r) + r->skew_ms;
    amz_date_of(t_sign, amz_date);

    lmq_sigv4_header hs[5] = {
        {"Content-Type", "application/x-amz-json-1.0"},
        {"Host", r->host},
        {"X-Amz-Date", amz_date},
        {"X-Amz-Target", target},
        {"X-Amz-Security-Token", token},
    };
    size_t nh = token[0] ? 5 : 4;
    lmq_sigv4_request sr = {"POST", r->path, NULL, hs, nh, payload, plen};
    int so =
        lmq__sigv4_sign(&sr, akid, secret, r->region, "sqs", amz_date,
                        token[0] ? "content-type;host;x-amz-date;x-amz-target;"
                                   "x-amz-security-token"
                                 : "content-type;host;x-amz-date;x-amz-target",
                        auth, sizeof auth);
    if (so != LMQ_SIGV4_OK) {
        set_err(err, LMQ_FAULT_CONFIG, 0, lmq__sigv4_error_code(so),
                "cannot sign the request (check the credentials and "
                "region)");
        goto out;
    }

    size_t hostlen = strlen(r->host) + 7;
    h_host = malloc(hostlen);
    if (token[0]) {
        h_token = r->h_token;
        snprintf(h_token, TOKEN_MAX + 32, "X-Amz-Security-Token: %s", token);
    }
    if (!h_host || (token[0] && !h_token)) {
        set_err(err, LMQ_FAULT_TRANSIENT, 0, "OutOfMemory", "out of memory");
        goto out;
    }
    snprintf(h_host, hostlen, "Host: %s", r->host);
    snprintf(h_target, sizeof h_target, "X-Amz-Target: %s", target);
    snprintf(h_date, sizeof h_date, "X-Amz-Date: %s", amz_date);
    const char *lines[] = {
        "Content-Type: application/x-amz-json-1.0",
        h_host,
        h_date,
        h_target,
        /* No "Expect: 100-continue" round trip for large bodies. */
        "Expect:",
        h_token,
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!lines[i])
            continue;
        tmp = curl_slist_append(hl, lines[i]);
        if (!tmp) {
            set_err(err, LMQ_FAULT_TRANSIENT, 0, "OutOfMemory",
                    "out of memory");
            goto out;
        }
        hl = tmp;
    }
    size_t al = strlen(auth) + 16;
    char *h_auth = malloc(al);
    if (!h_auth) {
        set_err(err, LMQ_FAULT_TRANSIENT, 0, "OutOfMemory", "out of memory");
        goto out;
    }
    snprintf(h_auth, al, "Authorization: %s", auth);
    tmp = curl_slist_append(hl, h_auth);
    free(h_auth);
    if (!tmp) {
        set_err(err, LMQ_FAULT_TRANSIENT, 0, "OutOfMemory", "out of memory");
        goto out;
    }
    hl = tmp;

    CURL *h = r->h;
    curl_easy_reset(h);
    r->errbuf[0] = '\0';
    r->body_len = 0;
    r->body_overflow = 0;
    if (r->body)
        r->body[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, r->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (r->cancel) {
        /* libcurl calls this about once a second while it waits. */
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cancel_cb);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
    }
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)plen);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, r->verify_tls ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, r->verify_tls ? 2L : 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "lmq-bridge/" PACKAGE_VERSION);

    CURLcode cc = curl_easy_perform(h);
    int64_t t_answer = local_ms(r);
    if (cc != CURLE_OK) {
        curl_failure(r, cc, err);
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    int64_t old_skew = r->skew_ms;
    int dated = learn_skew(r, t_answer);
    if (status == 200) {
        json_error_t je;
        json_t *j = r->body_len ? json_loadb(r->body, r->body_len, 0, &je)
                                : json_object();
        if (!j || !json_is_object(j)) {
            char m[300];
            snprintf(m, sizeof m, "a 200 answer that is not a JSON object: %s",
                     j ? "not an object" : je.text);
            json_decref(j);
            set_err(err, LMQ_FAULT_TRANSIENT, 200, "InvalidAnswer", m);
            goto out;
        }
        *out = j;
        rc = 0;
        goto out;
    }
    decode_error(r, status, err);
    if (dated && r->skew_ms != old_skew &&
        (strcmp(err->code, "RequestExpired") == 0 ||
         (strcmp(err->code, "SignatureDoesNotMatch") == 0 &&
          (r->skew_ms > SKEW_SUSPECT_MS || r->skew_ms < -SKEW_SUSPECT_MS))))
        *clock_retry = 1;
out:
    curl_slist_free_all(hl);
    free(h_host);
    sodium_memzero(r->h_token, TOKEN_MAX + 32);
    sodium_memzero(r->secret, SECRET_MAX);
    sodium_memzero(r->token, TOKEN_MAX);
    sodium_memzero(auth, sizeof auth);
    return rc;
}

int
lmq__remote_call(lmq_remote *r, const char *action, json_t *in, json_t **out,
                 lmq_remote_error *err)
{
    lmq_remote_error dummy;
    if (!err)
        err = &dummy;
    memset(err, 0, sizeof *err);
    if (out)
        *out = NULL;
    if (!r || !action || !*action || !out || !json_is_object(in)) {
        set_err(err, LMQ_FAULT_CLIENT, 0, "InvalidCall",
                "lmq__remote_call: bad arguments");
        return -1;
    }
    char *payload = json_dumps(in, JSON_COMPACT);
    if (!payload) {
        set_err(err, LMQ_FAULT_TRANSIENT, 0, "OutOfMemory", "out of memory");
        return -1;
    }
    size_t plen = strlen(payload);
    int clock_retry = 0;
    long timeout = r->timeout_ms + wait_ms_of(action, in);
    int rc = attempt(r, action, payload, plen, timeout, out, err, &clock_retry);
    if (rc != 0 && clock_retry) {
        memset(err, 0, sizeof *err);
        rc = attempt(r, action, payload, plen, timeout, out, err, &clock_retry);
    }
    free(payload);
    if (rc == 0)
        memset(err, 0, sizeof *err);
    return rc;
}
