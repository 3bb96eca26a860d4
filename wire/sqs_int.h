/*
 * sqs_int.h: what the files of the wire layer share (never installed).
 */
#ifndef LMQ_SQS_INT_H
#define LMQ_SQS_INT_H

#include <jansson.h>
#include <stdarg.h>

#include "sqs_wire.h"

/* ---- shapes (sqs_shapes.c) ------------------------------------------ */

typedef enum sqs_stype {
    ST_STRING,
    ST_INT,  /* JSON number / Query decimal, 32-bit */
    ST_LONG, /* 64-bit */
    ST_BOOL,
    ST_BLOB, /* base64 in both protocols */
    ST_LIST, /* flattened in Query: Name.1, Name.2 ... */
    ST_MAP,  /* flattened: Name.1.<key>, Name.1.<value> ... */
    ST_STRUCT
} sqs_stype;

typedef struct sqs_shape sqs_shape;

typedef struct sqs_member {
    const char *name;  /* JSON member name; NULL ends a member list */
    const char *qname; /* Query/XML name; NULL: same as name */
    const sqs_shape *shape;
    int required;
} sqs_member;

struct sqs_shape {
    sqs_stype type;
    const sqs_member *members; /* ST_STRUCT */
    const sqs_shape *elem;     /* ST_LIST element, ST_MAP value */
    const char *kname;         /* ST_MAP: Query name of the key */
    const char *vname;         /* ST_MAP: Query name of the value */
};

extern const sqs_shape sqs_s_string, sqs_s_int, sqs_s_long, sqs_s_bool;

/* Input and output shapes of the actions (sqs_shapes.c). */
extern const sqs_shape sqs_in_add_permission,
    sqs_in_cancel_task,
    sqs_in_change_vis,
    sqs_in_change_vis_batch,
    sqs_in_create_queue,
    sqs_in_delete_message,
    sqs_in_delete_message_batch,
    sqs_in_queue_only,
    sqs_in_get_queue_attributes,
    sqs_in_get_queue_url,
    sqs_in_list_dlq_sources,
    sqs_in_list_tasks,
    sqs_in_list_queues,
    sqs_in_receive,
    sqs_in_remove_permission,
    sqs_in_send,
    sqs_in_send_batch,
    sqs_in_set_queue_attributes,
    sqs_in_start_task,
    sqs_in_tag_queue,
    sqs_in_untag_queue,
    sqs_out_queue_url,
    sqs_out_list_queues,
    sqs_out_list_dlq,
    sqs_out_attrs,
    sqs_out_tags,
    sqs_out_send,
    sqs_out_send_batch,
    sqs_out_delete_batch,
    sqs_out_change_batch,
    sqs_out_receive,
    sqs_out_start_task,
    sqs_out_cancel_task,
    sqs_out_list_tasks;

/* One row per action. */
struct sqs_call;
typedef int (*sqs_call_fn)(struct sqs_call *c);

#define SQS_A_QUEUE 1u /* addresses a queue by QueueUrl (or the path) */
#define SQS_A_RO 2u    /* reads only */

typedef struct sqs_action {
    const char *name;
    const sqs_shape *in;
    const sqs_shape *out; /* NULL: no output (XML: no Result element) */
    sqs_call_fn fn;
    unsigned flags;
} sqs_action;

const sqs_action *lmq__sqs_action_find(const char *name, size_t len);
/* Row i of the table, NULL past the end (metrics, tests). */
const sqs_action *lmq__sqs_action_at(size_t i);

/* ---- requests ---------------------------------------------------------- */

struct sqs_req {
    sqs_proto proto;
    const sqs_action *action;  /* NULL when unknown */
    char action_name[64];
    json_t *in;                /* input tree, JSON shape */
    char *queue;               /* queue name from QueueUrl or the path */
    char *path_queue;          /* queue name from the request path */
    char *base_url;            /* scheme://host of the request */
    char id[37];
    /* A decode error, encoded by execute. */
    int status;
    const char *err_shape;
    const char *err_code;
    char err_msg[512];
};

/* The error table: an SQS shape name -> Query code and HTTP status. */
typedef struct sqs_error {
    const char *shape; /* JSON __type (without namespace) */
    const char *code;  /* Query code and x-amzn-query-error; NULL for the
                          JSON framework's own errors (no header) */
    int status;
    int receiver;      /* 1: fault is Receiver */
    int modelled;      /* __type namespace: 1 com.amazonaws.sqs, 0 coral */
} sqs_error;
const sqs_error *lmq__sqs_error_find(const char *shape);
/* The error row of an lmq error code. */
const sqs_error *lmq__sqs_error_of(int lmq_rc);

/* Record a decode error on a request. Returns -1. */
int lmq__sqs_req_fail(sqs_req *r, const char *shape, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- codecs ------------------------------------------------------------ */

/* JSON: parse and check the body against the action's input shape. */
int lmq__sqs_json_decode(sqs_req *r, const char *body, size_t len);
/* Query: decode the form pairs (query string and body) into r->in.
 * Also sets r->action from the Action parameter. */
int lmq__sqs_query_decode(sqs_req *r, const sqs_http *h);
/* Encode a success output tree (may be NULL for no output). */
void lmq__sqs_json_encode(sqs_req *r, json_t *out, sqs_resp *resp);
void lmq__sqs_xml_encode(sqs_req *r, json_t *out, sqs_resp *resp);
void lmq__sqs_json_error(const char *rid, const sqs_error *e,
                         const char *message, sqs_resp *resp);
void lmq__sqs_xml_error(const char *rid, const sqs_error *e,
                        const char *message, sqs_resp *resp);

/* ---- the call of one action (sqs_actions.c) -------------------------- */

typedef struct sqs_call {
    sqs_ctx *ctx;
    sqs_req *req;
    json_t *in;
    json_t *out;   /* output tree, created by the action when it has one */
    sqs_resp *resp;
    unsigned flags;
    /* error, when the action failed */
    const char *err_shape;
    char err_msg[512];
} sqs_call;

/* Fail a call with an error shape and a message. Returns -1. */
int lmq__sqs_fail(sqs_call *c, const char *shape, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fail a call with a library error code (detail from lmq_errmsg()). */
int lmq__sqs_fail_lmq(sqs_call *c, int rc);

/* The cached handle of a queue (borrowed; valid until ctx_fini). */
int lmq__sqs_queue(sqs_ctx *ctx, const char *name, lmq_queue **out);
/* Forget a cached handle (queue deleted). */
void lmq__sqs_queue_forget(sqs_ctx *ctx, const char *name);

/* An lmq error detail without its leading "LMQ_ECODE: ". */
const char *lmq__sqs_detail(const char *msg);

/* Small helpers. */
/* Replace what is not UTF-8, or not an XML character, with '?' in place. */
void lmq__sqs_clean_text(char *s);
char *lmq__sqs_strdup(const char *s);
char *lmq__sqs_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif /* LMQ_SQS_INT_H */
