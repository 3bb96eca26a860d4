/*
 * sqs_wire.h: the SQS wire layer. Bytes and headers in, a request out; a
 * library result in, bytes out. No sockets, no threads, no I/O: lmqd (the
 * daemon, daemon/) owns those, and the bridge to Amazon SQS will use the
 * same tables for its client half.
 *
 * How it works (botocore's design, in C): every SQS action is one row of a
 * table (sqs_actions.c) naming its input and output shapes and the library
 * call that implements it. The shapes (sqs_shapes.c) describe members once,
 * with their JSON names and their Query/XML names. Two codecs read them:
 *
 *   sqs_json.c   AWS JSON 1.0: the body is the input tree as is (checked
 *                member by member against the shape); the output tree is
 *                the response body.
 *   sqs_query.c  Query: form pairs are unflattened into the same input tree
 *                ("Attribute.1.Name" -> Attributes{}), and the output tree is
 *                written as the XML SQS sends.
 *
 * So an action is implemented once, on jansson trees in JSON's shape, and
 * both protocols get it.
 *
 * The request lifecycle:
 *
 *     lmq__sqs_decode(http, &req)     protocol, action, input tree, queue
 *     lmq__sqs_execute(ctx, req, &resp, flags)   library call, encoding
 *     lmq__sqs_req_free(req); lmq__sqs_resp_clear(&resp)
 *
 * A ReceiveMessage that finds nothing and may wait returns resp.park = 1
 * instead of an answer (only when flags has SQS_EXEC_PARK): the caller
 * parks it and calls execute again when the queue may have messages
 * (resp.park_token, resp.park_next_ms) or answers it empty at its deadline
 * with lmq__sqs_encode_empty_receive().
 */
#ifndef LMQ_SQS_WIRE_H
#define LMQ_SQS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "lmq.h"

/* The API version every request speaks. */
#define SQS_API_VERSION "2012-11-05"
/* The XML namespace of Query responses. */
#define SQS_XMLNS "http://queue.amazonaws.com/doc/2012-11-05/"

typedef enum sqs_proto { SQS_PROTO_JSON = 0, SQS_PROTO_QUERY = 1 } sqs_proto;

/* One HTTP request as the server received it. Strings are NUL-terminated
 * except the body; absent headers are NULL. */
typedef struct sqs_http {
    const char *method;       /* "POST", "GET", ... */
    const char *path;         /* URL path, without the query string */
    const char *query;        /* raw query string after '?', or NULL */
    const char *host;         /* Host header */
    const char *content_type; /* Content-Type header */
    const char *target;       /* X-Amz-Target header */
    int https;                /* 1 when the connection is TLS */
    const char *body;
    size_t body_len;
} sqs_http;

/* What an action runs against: the home and how URLs and ARNs look. */
typedef struct sqs_ctx {
    lmq_env *env;
    const char *account;    /* "000000000000" */
    const char *region;     /* "us-east-1" */
    const char *public_url; /* base of returned queue URLs, or NULL: the
                               request's scheme and Host */
    struct sqs_qcache *qcache; /* open queue handles (sqs_ctx_init) */
    /* Optional hook: a move task was started; the daemon runs it. */
    void (*task_started)(void *arg, const char *handle);
    void *task_arg;
} sqs_ctx;

typedef struct sqs_req sqs_req;

/* A response to send. body is malloc'd (lmq__sqs_resp_clear frees it). */
typedef struct sqs_resp {
    int status;               /* HTTP status */
    const char *content_type; /* static */
    char *body;
    size_t len;
    char query_error[160];    /* x-amzn-query-error value, "" for none */
    char code[96];            /* error code, "" on success (access log) */
    /* Parking (SQS_EXEC_PARK): a ReceiveMessage that should wait. */
    int park;
    uint32_t park_token;      /* lmq_queue_wait() token */
    int64_t park_next_ms;     /* env-clock time a message may show, or 0 */
    int park_wait_ms;         /* the wait the request asked for */
    lmq_queue *park_queue;    /* borrowed from the ctx's cache */
} sqs_resp;

/* lmq__sqs_execute() flags. */
#define SQS_EXEC_PARK 1u /* a receive that finds nothing may park */
/* With SQS_EXEC_PARK: the last attempt of a parked receive whose wait ran
 * out (it does not park again, and an empty answer counts as the call's
 * one NumberOfEmptyReceives). */
#define SQS_EXEC_LAST 2u

/* Set up / tear down a context's queue handle cache. 0 or LMQ_ENOMEM. */
int lmq__sqs_ctx_init(sqs_ctx *ctx);
void lmq__sqs_ctx_fini(sqs_ctx *ctx);
/* Drop every cached handle (after a reset). */
void lmq__sqs_ctx_flush(sqs_ctx *ctx);

/* Decode an HTTP request. Always yields a request (0), even for garbage: a
 * request that failed to decode carries its error, which execute encodes.
 * LMQ_ENOMEM only when out of memory (*out NULL). */
int lmq__sqs_decode(const sqs_http *h, sqs_req **out);
void lmq__sqs_req_free(sqs_req *r);
/* The protocol, the action name ("" when unknown) and the queue name
 * (NULL when none) of a decoded request. */
sqs_proto lmq__sqs_req_proto(const sqs_req *r);
const char *lmq__sqs_req_action(const sqs_req *r);
const char *lmq__sqs_req_queue(const sqs_req *r);
/* The request id (a UUID) for x-amzn-RequestId. */
const char *lmq__sqs_req_id(const sqs_req *r);
/* 1 when the action only reads (no commit), else 0. */
int lmq__sqs_req_readonly(const sqs_req *r);

/* Run a decoded request and encode its answer into resp (always filled,
 * unless resp->park). */
void lmq__sqs_execute(sqs_ctx *ctx, sqs_req *r, sqs_resp *resp,
                      unsigned flags);
/* The empty answer of a parked ReceiveMessage whose wait ran out. */
void lmq__sqs_encode_empty_receive(sqs_req *r, sqs_resp *resp);
/* An error answer outside any action (413, 403 from SigV4, 503 when
 * stopping): code is the Query code, shape the JSON __type name. */
void lmq__sqs_encode_error(sqs_proto proto, const char *request_id,
                           int status, const char *shape, const char *code,
                           const char *message, sqs_resp *resp);
/* The protocol a request would be answered in, from its headers alone. */
sqs_proto lmq__sqs_guess_proto(const char *content_type, const char *target);
void lmq__sqs_resp_clear(sqs_resp *resp);

/* The answer of a peek (lmqd's /_aws/sqs/messages, LocalStack's developer
 * endpoint): a ReceiveMessage response in proto holding msgs (from
 * lmq_queue_peek()) with every system and user attribute, the placeholder
 * receipt handle "SQS/BACKDOOR/ACCESS", and the attributes lmq:State
 * ("visible", "inflight", "delayed") and lmq:VisibleAt (epoch ms), plus
 * LocalStack's IsVisible / IsDelayed ("true"/"false") with the flags below.
 * rc != 0 encodes the error of that lmq code instead (msgs unused). */
#define SQS_PEEK_SHOW_INVISIBLE 1u
#define SQS_PEEK_SHOW_DELAYED 2u
void lmq__sqs_encode_peek(sqs_proto proto, const char *request_id, int rc,
                          lmq_msg *const *msgs, size_t n, unsigned flags,
                          sqs_resp *resp);

/* The name of action i of the table (0, 1, ...), NULL past the end. */
const char *lmq__sqs_action_name(size_t i);

/* A random request id (UUID v4) in out. */
void lmq__sqs_request_id(char out[37]);

#endif /* LMQ_SQS_WIRE_H */
