/*
 * extra.c: endpoints beyond SQS, for tests and operators (/_lmq/...,
 * /_aws/sqs/...), and --test-clock.
 *
 *   GET  /_lmq/clock                    {"now": ms, "test_clock": bool,
 *                                        "offset_ms": ms}
 *   POST /_lmq/clock/advance?seconds=N  (or ms=N) move the home's test
 *                                        clock: {"now": ms, "offset_ms": ms}
 *   POST /_lmq/reset                    delete every queue and the 60 s
 *                                        tombstones: {"deleted": N}
 *   GET|POST /_aws/sqs/messages?QueueUrl=URL[&ShowInvisible=true]
 *        [&ShowDelayed=true]            LocalStack's developer endpoint: a
 *   GET|POST /_aws/sqs/messages/<region>/<account>/<name>   peek that
 *                                        changes nothing, answered as a
 *                                        ReceiveMessage response
 *
 * The peek speaks Query/XML unless the request asks for JSON (Content-Type
 * application/x-amz-json-1.0, an X-Amz-Target header, or Accept:
 * application/json), so the URL also works as an SDK's endpoint for
 * ReceiveMessage, as LocalStack's does. Its parameters come from the query
 * string, a form body, or a JSON body (an SDK's ReceiveMessage).
 *
 * The library does the work (lmq_env_clock_advance(), lmq_env_reset(),
 * lmq_queue_peek()); the wire layer encodes the peek
 * (lmq__sqs_encode_peek()). These run on the connection's thread: they are
 * rare, test-time requests (a reset in a durable home waits for its fsync
 * there).
 */
#include "config.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lmqd.h"

static enum MHD_Result
answer(struct MHD_Connection *con, lmqd_conn *c, int status, const char *ctype,
       char *body, const char *query_error)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        body ? strlen(body) : 0, body ? body : (void *)"",
        body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "x-amzn-RequestId", c->rid);
    if (query_error && *query_error)
        MHD_add_response_header(r, "x-amzn-query-error", query_error);
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)status, r);
    MHD_destroy_response(r);
    c->resp.status = status;
    snprintf(c->action, sizeof c->action, "%s", c->path);
    lmqd_log_request(c);
    return ret;
}

/* A JSON answer; j is stolen. */
static enum MHD_Result
answer_json(struct MHD_Connection *con, lmqd_conn *c, int status, json_t *j)
{
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return answer(con, c, status, "application/json", body, NULL);
}

static enum MHD_Result
answer_error(struct MHD_Connection *con, lmqd_conn *c, int status,
             const char *msg)
{
    return answer_json(con, c, status, json_pack("{s:s}", "error", msg));
}

/* ---- parameters ------------------------------------------------------------
 */

static int
hexval(int ch)
{
    return isdigit(ch) ? ch - '0' : tolower(ch) - 'a' + 10;
}

/* The decoded value of name in an application/x-www-form-urlencoded string
 * of len bytes (malloc'd), or NULL. */
static char *
form_value(const char *s, size_t len, const char *name)
{
    size_t nl = strlen(name);
    const char *end = s + len;
    while (s && s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(pe - s));
        if (eq && (size_t)(eq - s) == nl && memcmp(s, name, nl) == 0) {
            char *out = malloc((size_t)(pe - eq));
            size_t o = 0;
            if (!out)
                return NULL;
            for (const char *p = eq + 1; p < pe; p++) {
                if (*p == '+') {
                    out[o++] = ' ';
                } else if (*p == '%' && pe - p >= 3 && isxdigit(p[1]) &&
                           isxdigit(p[2])) {
                    out[o++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
                    p += 2;
                } else {
                    out[o++] = *p;
                }
            }
            out[o] = '\0';
            return out;
        }
        s = amp ? amp + 1 : NULL;
    }
    return NULL;
}

typedef struct params {
    int json;     /* the request body is AWS JSON */
    json_t *body; /* its parsed body, or NULL */
    int form;     /* the request body is a form */
} params;

/* The value of a request parameter (malloc'd), from the query string, the
 * form body or the JSON body, in that order; NULL when absent. */
static char *
param(struct MHD_Connection *con, lmqd_conn *c, const params *p,
      const char *name)
{
    const char *v =
        MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, name);
    if (v)
        return strdup(v);
    if (p->form && c->body)
        return form_value(c->body, c->body_len, name);
    if (p->body) {
        json_t *j = json_object_get(p->body, name);
        if (json_is_string(j))
            return strdup(json_string_value(j));
        if (json_is_boolean(j))
            return strdup(json_is_true(j) ? "true" : "false");
    }
    return NULL;
}

static int
param_true(struct MHD_Connection *con, lmqd_conn *c, const params *p,
           const char *name)
{
    char *v = param(con, c, p, name);
    int yes = v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
    free(v);
    return yes;
}

/* ---- the test clock
 * ---------------------------------------------------------- */

static enum MHD_Result
clock_show(struct MHD_Connection *con, lmqd_conn *c)
{
    int64_t off = 0;
    int test = lmq_env_clock_offset(S.env, &off) == 0;
    return answer_json(con, c, 200,
                       json_pack("{s:I,s:b,s:I}", "now",
                                 (json_int_t)lmq_env_now(S.env), "test_clock",
                                 test, "offset_ms", (json_int_t)off));
}

static enum MHD_Result
clock_advance(struct MHD_Connection *con, lmqd_conn *c, const params *p)
{
    char *sec = param(con, c, p, "seconds");
    char *ms = param(con, c, p, "ms");
    const char *v = ms ? ms : sec;
    char *end = NULL;
    double d = v ? strtod(v, &end) : -1;
    int64_t step = ms ? (int64_t)d : (int64_t)(d * 1000.0);
    int bad = !v || end == v || *end || d < 0 || d > 1e13;
    free(sec);
    free(ms);
    if (bad)
        return answer_error(con, c, 400, "give seconds=N or ms=N (N >= 0)");
    int64_t now = 0, off = 0;
    if (lmq_env_clock_advance(S.env, step, &now) != 0)
        return answer_error(con, c, 400, lmq_errmsg());
    (void)lmq_env_clock_offset(S.env, &off);
    return answer_json(con, c, 200,
                       json_pack("{s:I,s:I}", "now", (json_int_t)now,
                                 "offset_ms", (json_int_t)off));
}

void
lmqd_test_clock_setup(const char *home, lmq_env_opts *eo)
{
    (void)home; /* the open creates HOME/clock */
    eo->test_clock = 1;
}

/* ---- reset
 * ------------------------------------------------------------------- */

static enum MHD_Result
reset(struct MHD_Connection *con, lmqd_conn *c)
{
    size_t n = 0;
    if (lmq_env_reset(S.env, &n) != 0)
        return answer_error(con, c, 500, lmq_errmsg());
    /* Cached handles name deleted queues: drop them (a request that
     * still holds one gets LMQ_ENOQUEUE and the wire layer re-opens). */
    lmq__sqs_ctx_flush(&S.ctx);
    return answer_json(con, c, 200,
                       json_pack("{s:I}", "deleted", (json_int_t)n));
}

/* ---- peek
 * -------------------------------------------------------------------- */

static enum MHD_Result
peek(struct MHD_Connection *con, lmqd_conn *c, const params *p, sqs_proto proto)
{
    const char *tail = c->path + strlen("/_aws/sqs/messages");
    char *url = NULL, *name = NULL;
    int rc;
    if (*tail == '/') {
        /* /_aws/sqs/messages/<region>/<account>/<name>: the last segment. */
        url = strdup(tail);
    } else {
        url = param(con, c, p, "QueueUrl");
    }
    unsigned flags = 0;
    if (param_true(con, c, p, "ShowInvisible"))
        flags |= SQS_PEEK_SHOW_INVISIBLE;
    if (param_true(con, c, p, "ShowDelayed"))
        flags |= SQS_PEEK_SHOW_DELAYED;
    if (!url || !*url)
        rc = LMQ_ENOQUEUE; /* as LocalStack answers a missing QueueUrl */
    else
        rc = lmq_queue_name_from_url(url, &name);
    if (rc == LMQ_EINVAL)
        rc = LMQ_ENOQUEUE;
    free(url);
    snprintf(c->queue, sizeof c->queue, "%s", name ? name : "-");

    lmq_msg **msgs = NULL;
    size_t n = 0;
    if (rc == 0) {
        lmq_peek_opts o;
        lmq_peek_opts_init(&o);
        o.show_inflight = (flags & SQS_PEEK_SHOW_INVISIBLE) != 0;
        o.show_delayed = (flags & SQS_PEEK_SHOW_DELAYED) != 0;
        rc = lmq_queue_peek(S.env, name, &o, &msgs, &n);
    }
    free(name);
    lmq__sqs_encode_peek(proto, c->rid, rc, msgs, n, flags, &c->resp);
    lmq_msg_list_free(msgs, n);
    char *body = c->resp.body;
    c->resp.body = NULL;
    /* The body is text in both protocols (XML, JSON). */
    return answer(con, c, c->resp.status,
                  c->resp.content_type ? c->resp.content_type : "text/xml",
                  body, c->resp.query_error);
}

/* ---- dispatch --------------------------------------------------------------
 */

enum MHD_Result
lmqd_extra(struct MHD_Connection *con, lmqd_conn *c, const char *method)
{
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    const char *ct =
        MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Type");
    const char *tg =
        MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Amz-Target");
    const char *acc =
        MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Accept");
    params p = {0};
    p.json = lmq__sqs_guess_proto(ct, tg) == SQS_PROTO_JSON;
    p.form = ct && strncmp(ct, "application/x-www-form-urlencoded", 33) == 0;
    if (p.json && c->body && c->body_len)
        p.body = json_loadb(c->body, c->body_len, 0, NULL);
    sqs_proto proto = p.json || (acc && strstr(acc, "application/json"))
                          ? SQS_PROTO_JSON
                          : SQS_PROTO_QUERY;
    enum MHD_Result ret;
    const char *path = c->path;
    if (strcmp(path, "/_lmq/clock") == 0 && get) {
        ret = clock_show(con, c);
    } else if (strcmp(path, "/_lmq/clock/advance") == 0 && post) {
        ret = clock_advance(con, c, &p);
    } else if (strcmp(path, "/_lmq/reset") == 0 && post) {
        ret = reset(con, c);
    } else if ((strcmp(path, "/_aws/sqs/messages") == 0 ||
                strncmp(path, "/_aws/sqs/messages/", 19) == 0) &&
               (get || post)) {
        /* An SDK using this URL as its endpoint may only receive. */
        if (tg && strcmp(tg, "AmazonSQS.ReceiveMessage") != 0) {
            json_decref(p.body);
            lmq__sqs_encode_error(proto, c->rid, 400, "InvalidRequest",
                                  "InvalidRequest",
                                  "This endpoint only accepts ReceiveMessage "
                                  "calls",
                                  &c->resp);
            char *body = c->resp.body;
            c->resp.body = NULL;
            return answer(con, c, c->resp.status, c->resp.content_type, body,
                          c->resp.query_error);
        }
        ret = peek(con, c, &p, proto);
    } else {
        ret = answer_error(con, c, 404, "no such endpoint");
    }
    json_decref(p.body);
    return ret;
}
