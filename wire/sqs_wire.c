/*
 * sqs_wire.c: a request's way through the wire layer: which protocol it
 * speaks (SQS-SEMANTICS §6.1), which action and queue it names (§6.4), the
 * checks common to both protocols (required members), the call, and the
 * encoding of its answer or error (§7) in the request's protocol.
 *
 * Errors: every error shape SQS (or the AWS framework in front of it)
 * answers with has one row below: JSON __type, Query code (also the
 * x-amzn-query-error header), HTTP status. Library errors map onto rows by
 * lmq_err_sqs_code().
 */
#include "config.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqs_int.h"
#include "../lib/utf8.h"

/* ---- errors -------------------------------------------------------------- */

static const sqs_error errors[] = {
    /* shape, Query code, status, receiver fault, SQS namespace */
    {"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400, 0,
     1},
    {"QueueNameExists", "QueueAlreadyExists", 400, 0, 1},
    {"QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently",
     400, 0, 1},
    {"PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress",
     403, 0, 1},
    {"ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 404, 0, 1},
    {"TooManyEntriesInBatchRequest",
     "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400, 0, 1},
    {"EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", 400, 0,
     1},
    {"BatchEntryIdsNotDistinct",
     "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400, 0, 1},
    {"InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", 400,
     0, 1},
    {"BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", 400,
     0, 1},
    {"UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation",
     400, 0, 1},
    {"InvalidAttributeName", "InvalidAttributeName", 400, 0, 1},
    {"InvalidAttributeValue", "InvalidAttributeValue", 400, 0, 1},
    {"InvalidMessageContents", "InvalidMessageContents", 400, 0, 1},
    {"OverLimit", "OverLimit", 403, 0, 1},
    {"RequestThrottled", "RequestThrottled", 403, 0, 1},
    {"InvalidAddress", "InvalidAddress", 404, 0, 1},
    {"InvalidSecurity", "InvalidSecurity", 403, 0, 1},
    {"ResourceNotFoundException", "ResourceNotFoundException", 404, 0, 1},
    {"InvalidParameterValue", "InvalidParameterValue", 400, 0, 1},
    {"MissingParameter", "MissingParameter", 400, 0, 1},
    /* LMQ_EKEY: a key the home's keyring lacks (docs/SECURITY.md). */
    {"KmsNotFound", "KMS.NotFoundException", 400, 0, 1},
    {"InternalFailure", "InternalFailure", 500, 1, 1},
    {"ServiceUnavailable", "ServiceUnavailable", 503, 1, 1},
    {"InvalidAction", "InvalidAction", 400, 0, 1},
    {"MissingAction", "MissingAction", 400, 0, 1},
    {"MalformedQueryString", "MalformedQueryString", 404, 0, 1},
    {"RequestEntityTooLarge", "RequestEntityTooLarge", 413, 0, 1},
    {"MissingAuthenticationToken", "MissingAuthenticationToken", 403, 0, 0},
    {"IncompleteSignature", "IncompleteSignature", 400, 0, 0},
    {"SignatureDoesNotMatch", "SignatureDoesNotMatch", 403, 0, 0},
    {"RequestExpired", "RequestExpired", 400, 0, 0},
    {"InvalidClientTokenId", "InvalidClientTokenId", 403, 0, 0},
    {"AccessDenied", "AccessDenied", 403, 0, 0},
    /* The JSON framework's own: no Query code, no header. */
    {"SerializationException", NULL, 400, 0, 0},
    {"UnknownOperationException", NULL, 400, 0, 0},
};

/* JSON __type names of the unmodelled Query codes (SQS-SEMANTICS §6.2.3). */
static const char *
json_shape(const sqs_error *e)
{
    if (strcmp(e->shape, "InvalidParameterValue") == 0)
        return "InvalidParameterValueException";
    if (strcmp(e->shape, "MissingParameter") == 0)
        return "MissingRequiredParameterException";
    /* SQS answers a policy denial with coral's AccessDeniedException and
     * the Query code AccessDenied in x-amzn-query-error (botocore shows
     * "AccessDenied", JS v3 takes the header's code as the name). */
    if (strcmp(e->shape, "AccessDenied") == 0)
        return "AccessDeniedException";
    return e->shape;
}

const sqs_error *
lmq__sqs_error_find(const char *shape)
{
    for (size_t i = 0; i < sizeof errors / sizeof *errors; i++)
        if (strcmp(errors[i].shape, shape) == 0)
            return &errors[i];
    return lmq__sqs_error_find("InternalFailure");
}

const sqs_error *
lmq__sqs_error_of(int rc)
{
    const char *code = lmq_err_sqs_code(rc);
    if (!code || !*code)
        return lmq__sqs_error_find("InternalFailure");
    return lmq__sqs_error_find(code);
}

LMQ_API const char *
lmq_err_query_code(int err)
{
    const sqs_error *e = lmq__sqs_error_of(err);
    return e->code ? e->code : e->shape;
}

static void
encode_error(sqs_proto proto, const char *rid, const sqs_error *e,
             const char *msg, sqs_resp *resp)
{
    if (proto == SQS_PROTO_JSON) {
        sqs_error je = *e;
        je.shape = json_shape(e);
        lmq__sqs_json_error(rid, &je, msg, resp);
    } else {
        lmq__sqs_xml_error(rid, e, msg, resp);
    }
}

void
lmq__sqs_encode_error(sqs_proto proto, const char *rid, int status,
                      const char *shape, const char *code,
                      const char *message, sqs_resp *resp)
{
    sqs_error e = *lmq__sqs_error_find(shape);
    if (strcmp(e.shape, shape) != 0) {
        e.shape = shape;
        e.code = code;
    }
    if (status)
        e.status = status;
    encode_error(proto, rid, &e, message, resp);
}

/* ---- small helpers --------------------------------------------------------- */

char *
lmq__sqs_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *
lmq__sqs_printf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

void
lmq__sqs_request_id(char out[37])
{
    /* One randombytes_buf() per 256 ids: a system call per request was
     * 6-9 % of a relaxed send (bench/RESULTS.md, lmqd). */
    static __thread unsigned char pool[4096];
    static __thread size_t used = sizeof pool;
    static const char hex[] = "0123456789abcdef";
    if (used + 16 > sizeof pool) {
        randombytes_buf(pool, sizeof pool);
        used = 0;
    }
    unsigned char *u = pool + used;
    used += 16;
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[u[i] >> 4];
        *o++ = hex[u[i] & 15];
    }
    *o = '\0';
    sodium_memzero(u, 16);
}

/* The length of the UTF-8 character at p (end: the string's end), 0 when
 * it is not one. */
static size_t
utf8_char(const unsigned char *p, const unsigned char *end)
{
    size_t i = 0;
    uint32_t cp;
    return lmq__utf8_next(p, (size_t)(end - p), &i, &cp) ? i : 0;
}

void
lmq__sqs_clean_text(char *s)
{
    /* Messages quote the request, cut at a byte count: what is not UTF-8
     * (or is a control character XML cannot carry) becomes '?', else
     * jansson drops the message and the XML is not well-formed. */
    unsigned char *p = (unsigned char *)s, *end = p + strlen(s);
    while (*p) {
        size_t n = utf8_char(p, end);
        if (n == 0 || (n == 1 && *p < 0x20 && *p != '\t' && *p != '\n' &&
                       *p != '\r') ||
            (n == 3 && p[0] == 0xef && p[1] == 0xbf && p[2] >= 0xbe)) {
            for (size_t i = 0; i < (n ? n : 1); i++)
                *p++ = '?';
            continue;
        }
        p += n;
    }
}

int
lmq__sqs_req_fail(sqs_req *r, const char *shape, const char *fmt, ...)
{
    if (r->err_shape)
        return -1; /* the first error wins */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err_msg, sizeof r->err_msg, fmt, ap);
    va_end(ap);
    lmq__sqs_clean_text(r->err_msg);
    r->err_shape = shape;
    return -1;
}

int
lmq__sqs_fail(sqs_call *c, const char *shape, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err_msg, sizeof c->err_msg, fmt, ap);
    va_end(ap);
    lmq__sqs_clean_text(c->err_msg);
    c->err_shape = shape;
    return -1;
}

const char *
lmq__sqs_detail(const char *msg)
{
    /* The library names its code first ("LMQ_ECONTENTS: ..."), for logs
     * to grep; SQS clients get SQS's text alone. */
    if (msg && strncmp(msg, "LMQ_", 4) == 0) {
        const char *p = msg + 4;
        while ((*p >= 'A' && *p <= 'Z') || *p == '_')
            p++;
        if (p[0] == ':' && p[1] == ' ')
            return p + 2;
    }
    return msg;
}

int
lmq__sqs_fail_lmq(sqs_call *c, int rc)
{
    const sqs_error *e = lmq__sqs_error_of(rc);
    const char *detail = lmq__sqs_detail(lmq_errmsg());
    /* SQS's recorded texts differ by protocol (SQS-SEMANTICS §2.3). */
    if (rc == LMQ_ENOQUEUE)
        detail = c->req && c->req->proto == SQS_PROTO_QUERY
                     ? "The specified queue does not exist for this wsdl "
                       "version."
                     : "The specified queue does not exist.";
    return lmq__sqs_fail(c, e->shape, "%s",
                         detail && *detail ? detail : lmq_strerror(rc));
}

/* ---- the queue handle cache ------------------------------------------------ */

typedef struct qentry {
    char *name;
    lmq_queue *q;
    struct qentry *next;
} qentry;

struct sqs_qcache {
    pthread_mutex_t mu;
    qentry *live;
    /* Forgotten handles stay open until the context ends: another thread
     * may still be using one. */
    qentry *dead;
};

int
lmq__sqs_ctx_init(sqs_ctx *ctx)
{
    ctx->qcache = calloc(1, sizeof *ctx->qcache);
    if (!ctx->qcache)
        return LMQ_ENOMEM;
    pthread_mutex_init(&ctx->qcache->mu, NULL);
    return 0;
}

static void
free_list(qentry *e)
{
    while (e) {
        qentry *n = e->next;
        lmq_queue_close(e->q);
        free(e->name);
        free(e);
        e = n;
    }
}

void
lmq__sqs_ctx_fini(sqs_ctx *ctx)
{
    if (!ctx->qcache)
        return;
    free_list(ctx->qcache->live);
    free_list(ctx->qcache->dead);
    pthread_mutex_destroy(&ctx->qcache->mu);
    free(ctx->qcache);
    ctx->qcache = NULL;
}

void
lmq__sqs_ctx_flush(sqs_ctx *ctx)
{
    struct sqs_qcache *c = ctx->qcache;
    pthread_mutex_lock(&c->mu);
    while (c->live) {
        qentry *e = c->live;
        c->live = e->next;
        e->next = c->dead;
        c->dead = e;
    }
    pthread_mutex_unlock(&c->mu);
}

int
lmq__sqs_queue(sqs_ctx *ctx, const char *name, lmq_queue **out)
{
    struct sqs_qcache *c = ctx->qcache;
    pthread_mutex_lock(&c->mu);
    for (qentry *e = c->live; e; e = e->next)
        if (strcmp(e->name, name) == 0) {
            *out = e->q;
            pthread_mutex_unlock(&c->mu);
            return 0;
        }
    pthread_mutex_unlock(&c->mu);
    lmq_queue *q;
    int rc = lmq_queue_open(ctx->env, name, &q);
    if (rc)
        return rc;
    qentry *e = calloc(1, sizeof *e);
    if (!e || !(e->name = strdup(name))) {
        free(e);
        lmq_queue_close(q);
        return LMQ_ENOMEM;
    }
    e->q = q;
    pthread_mutex_lock(&c->mu);
    /* Another thread may have opened it meanwhile: keep theirs. */
    for (qentry *o = c->live; o; o = o->next)
        if (strcmp(o->name, name) == 0) {
            e->next = c->dead;
            c->dead = e;
            *out = o->q;
            pthread_mutex_unlock(&c->mu);
            return 0;
        }
    e->next = c->live;
    c->live = e;
    *out = q;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void
lmq__sqs_queue_forget(sqs_ctx *ctx, const char *name)
{
    struct sqs_qcache *c = ctx->qcache;
    pthread_mutex_lock(&c->mu);
    for (qentry **p = &c->live; *p; p = &(*p)->next)
        if (strcmp((*p)->name, name) == 0) {
            qentry *e = *p;
            *p = e->next;
            e->next = c->dead;
            c->dead = e;
            break;
        }
    pthread_mutex_unlock(&c->mu);
}

/* ---- decoding -------------------------------------------------------------- */

sqs_proto
lmq__sqs_guess_proto(const char *content_type, const char *target)
{
    if (target && strncmp(target, "AmazonSQS.", 10) == 0)
        return SQS_PROTO_JSON;
    if (content_type &&
        strncmp(content_type, "application/x-amz-json-1.0", 26) == 0)
        return SQS_PROTO_JSON;
    return SQS_PROTO_QUERY;
}

/* The queue name of a URL path: its last segment when the path is
 * /<account>/<name> or /queue/<name>; NULL otherwise. */
static char *
path_queue(const char *path)
{
    if (!path || path[0] != '/')
        return NULL;
    const char *a = path + 1;
    const char *slash = strchr(a, '/');
    if (!slash || slash == a)
        return NULL;
    const char *name = slash + 1;
    size_t len = strcspn(name, "/?");
    if (len == 0 || name[len] == '/')
        return NULL;
    return strndup(name, len);
}

/* Check required members of tree v against shape sh. */
static int
check_required(sqs_req *r, const sqs_shape *sh, json_t *v, const char *path)
{
    char sub[256];
    if (sh->type == ST_STRUCT) {
        for (const sqs_member *m = sh->members; m->name; m++) {
            json_t *e = json_object_get(v, m->name);
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "",
                     m->name);
            if (!e) {
                if (m->required)
                    return lmq__sqs_req_fail(
                        r, "MissingParameter",
                        "The request must contain the parameter %s", sub);
                continue;
            }
            if (check_required(r, m->shape, e, sub))
                return -1;
        }
    } else if (sh->type == ST_LIST) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            snprintf(sub, sizeof sub, "%s.%zu", path, i + 1);
            if (check_required(r, sh->elem, e, sub))
                return -1;
        }
    } else if (sh->type == ST_MAP) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
            snprintf(sub, sizeof sub, "%s.%s", path, k);
            if (check_required(r, sh->elem, e, sub))
                return -1;
        }
    }
    return 0;
}

static char *
base_url(const sqs_http *h)
{
    const char *host = h->host && *h->host ? h->host : "127.0.0.1:9324";
    return lmq__sqs_printf("%s://%s", h->https ? "https" : "http", host);
}

int
lmq__sqs_decode(const sqs_http *h, sqs_req **out)
{
    sqs_req *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r)
        return LMQ_ENOMEM;
    lmq__sqs_request_id(r->id);
    r->proto = lmq__sqs_guess_proto(h->content_type, h->target);
    r->path_queue = path_queue(h->path);
    r->base_url = base_url(h);
    if (r->proto == SQS_PROTO_JSON) {
        if (!h->target || strncmp(h->target, "AmazonSQS.", 10) != 0) {
            lmq__sqs_req_fail(r, "UnknownOperationException",
                              "Missing or unknown X-Amz-Target header");
        } else {
            const char *a = h->target + 10;
            snprintf(r->action_name, sizeof r->action_name, "%s", a);
            r->action = lmq__sqs_action_find(a, strlen(a));
            if (!r->action)
                lmq__sqs_req_fail(r, "UnknownOperationException",
                                  "Unknown operation %.64s", a);
            else if (h->method && strcmp(h->method, "POST") != 0)
                lmq__sqs_req_fail(r, "UnknownOperationException",
                                  "JSON requests must be POSTs");
            else
                lmq__sqs_json_decode(r, h->body, h->body_len);
        }
    } else {
        int form_body = h->content_type &&
                        strncmp(h->content_type,
                                "application/x-www-form-urlencoded", 33) == 0;
        sqs_http hh = *h;
        if (!form_body) {
            hh.body = NULL;
            hh.body_len = 0;
        }
        lmq__sqs_query_decode(r, &hh);
    }
    if (!r->err_shape && r->action && r->in) {
        /* A queue action without QueueUrl addresses the request path's
         * queue (Java v1 and the PHP SDK post to the queue URL). */
        if ((r->action->flags & SQS_A_QUEUE) &&
            !json_object_get(r->in, "QueueUrl") && r->path_queue) {
            char *u = lmq__sqs_printf("%s%s", r->base_url, h->path);
            if (u)
                json_object_set_new(r->in, "QueueUrl", json_string(u));
            free(u);
        }
        check_required(r, r->action->in, r->in, "");
    }
    if (!r->err_shape && r->action && (r->action->flags & SQS_A_QUEUE)) {
        const char *url = json_string_value(json_object_get(r->in, "QueueUrl"));
        char *name = NULL;
        if (!url || lmq_queue_name_from_url(url, &name) != 0 || !*name) {
            free(name);
            lmq__sqs_req_fail(r, "InvalidAddress",
                              "The address %.128s is not valid for this "
                              "endpoint.",
                              url ? url : "");
        } else {
            r->queue = name;
        }
    }
    *out = r;
    return 0;
}

void
lmq__sqs_req_free(sqs_req *r)
{
    if (!r)
        return;
    json_decref(r->in);
    free(r->queue);
    free(r->path_queue);
    free(r->base_url);
    free(r);
}

sqs_proto
lmq__sqs_req_proto(const sqs_req *r)
{
    return r->proto;
}

const char *
lmq__sqs_req_action(const sqs_req *r)
{
    return r->action_name;
}

const char *
lmq__sqs_req_queue(const sqs_req *r)
{
    return r->queue;
}

const char *
lmq__sqs_req_id(const sqs_req *r)
{
    return r->id;
}

int
lmq__sqs_req_readonly(const sqs_req *r)
{
    return !r->action || (r->action->flags & SQS_A_RO) != 0;
}

/* ---- execution ------------------------------------------------------------- */

void
lmq__sqs_resp_clear(sqs_resp *resp)
{
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

static void
encode_req_error(sqs_req *r, sqs_resp *resp)
{
    const char *shape = r->err_shape;
    /* The two protocols name an unknown action differently. */
    if (r->proto == SQS_PROTO_QUERY &&
        strcmp(shape, "UnknownOperationException") == 0)
        shape = "InvalidAction";
    encode_error(r->proto, r->id, lmq__sqs_error_find(shape), r->err_msg,
                 resp);
}

void
lmq__sqs_execute(sqs_ctx *ctx, sqs_req *r, sqs_resp *resp, unsigned flags)
{
    memset(resp, 0, sizeof *resp);
    if (r->err_shape) {
        encode_req_error(r, resp);
        return;
    }
    sqs_call c = {ctx, r, r->in, NULL, resp, flags, NULL, {0}};
    int rc = r->action->fn(&c);
    if (rc == 0 && resp->park) {
        json_decref(c.out);
        return;
    }
    if (rc != 0) {
        json_decref(c.out);
        if (!c.err_shape)
            lmq__sqs_fail(&c, "InternalFailure", "internal error");
        encode_error(r->proto, r->id, lmq__sqs_error_find(c.err_shape),
                     c.err_msg, resp);
        return;
    }
    if (r->proto == SQS_PROTO_JSON)
        lmq__sqs_json_encode(r, c.out, resp);
    else
        lmq__sqs_xml_encode(r, c.out, resp);
    json_decref(c.out);
}

void
lmq__sqs_encode_empty_receive(sqs_req *r, sqs_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    if (r->proto == SQS_PROTO_JSON)
        lmq__sqs_json_encode(r, NULL, resp);
    else
        lmq__sqs_xml_encode(r, NULL, resp);
}
