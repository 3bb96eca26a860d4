/*
 * remote.h: calling a remote SQS endpoint (the bridge's client half).
 *
 * One lmq_remote is one endpoint with its credentials and one libcurl easy
 * handle (keep-alive): use it from one thread at a time. A call encodes an
 * action's input tree (the JSON shape of the wire layer, wire/) as AWS JSON
 * 1.0, signs it with SigV4 (wire/sigv4.c), sends it over HTTPS with
 * certificate checks (proxies from the environment, as libcurl reads them),
 * and decodes the answer: the output tree, or an error classified for the
 * bridge's retry policy.
 *
 * Clock skew: the server's Date header of every answer corrects the clock
 * signatures are dated with, so a device whose clock drifted offline signs
 * with the server's time (a RequestExpired answer is retried once at once
 * with the corrected clock).
 */
#ifndef LMQ_BRIDGE_REMOTE_H
#define LMQ_BRIDGE_REMOTE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "creds.h"
#include "sqs_classify.h"


typedef struct lmq_remote_error {
    lmq_fault fault;
    int http_status;   /* 0 when there was no answer */
    char code[128];    /* Query code (x-amzn-query-error) or __type name, or
                          a curl error name */
    char message[512];
} lmq_remote_error;

typedef struct lmq_remote_opts {
    const char *endpoint;  /* "https://sqs.us-east-1.amazonaws.com" */
    const char *region;    /* signing region */
    lmq_creds *creds;      /* borrowed; refreshed by the remote when they
                              near expiry */
    long timeout_ms;       /* whole request; default 30000 (long polls add
                              their wait) */
    long connect_timeout_ms; /* default 5000 */
    int verify_tls;        /* default 1 */
    /* When it becomes nonzero, a call in progress (a 20 s long poll) is
     * abandoned within about a second, as TRANSIENT "cancelled". May be
     * NULL. */
    const atomic_int *cancel;
} lmq_remote_opts;

typedef struct lmq_remote lmq_remote;

/* Fill o with the defaults (timeouts as above, verify_tls 1). A struct
 * filled by hand is taken as given: verify_tls 0 turns the checks off, and
 * timeouts <= 0 mean the defaults. */
void lmq__remote_opts_init(lmq_remote_opts *o);

/* 0, LMQ_EINVAL, LMQ_ENOMEM. */
int lmq__remote_open(const lmq_remote_opts *o, lmq_remote **out);
void lmq__remote_close(lmq_remote *r);

/*
 * Call action (e.g. "SendMessageBatch") with input tree in (borrowed).
 * 0: *out is the output tree (caller decrefs; an empty object for actions
 * without output). -1: err says what failed (fault, status, code,
 * message); *out is NULL. Never retries except the one clock-skew retry.
 */
int lmq__remote_call(lmq_remote *r, const char *action, json_t *in,
                     json_t **out, lmq_remote_error *err);

/* The clock offset learnt from the server's Date (ms, server - local). */
int64_t lmq__remote_skew_ms(const lmq_remote *r);

/* Test seam: make the remote's local clock offset_ms off real time (a
 * device whose clock drifted), so the clock-skew correction can be tested
 * against a real endpoint. */
void lmq__remote_set_clock_offset_for_test(lmq_remote *r, int64_t offset_ms);


#endif /* LMQ_BRIDGE_REMOTE_H */
