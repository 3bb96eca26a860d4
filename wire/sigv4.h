/*
 * sigv4.h: AWS Signature Version 4 (AWS4-HMAC-SHA256) for the SQS wire
 * layer: parse and verify the signature of a received request (lmqd), and
 * sign a request (the bridge, and the tests).
 *
 * Internal to lmq (not installed, not exported). Like the rest of wire/,
 * this does no I/O: a request is a method, a raw path and query, a header
 * list and a body; the results are an outcome code, the parsed credential
 * and a detail message. See shared/SQS-SEMANTICS.md section 8 and the
 * design comment at the top of sigv4.c.
 *
 * Threads: every function is reentrant; none keeps state between calls.
 */
#ifndef LMQ_WIRE_SIGV4_H
#define LMQ_WIRE_SIGV4_H

#include <stddef.h>
#include <stdint.h>

/* One header as received: names in any case, values untrimmed. A header
 * that appears several times is passed several times, in arrival order. */
typedef struct lmq_sigv4_header {
    const char *name;
    const char *value;
} lmq_sigv4_header;

/* A request as received (or about to be sent). Nothing is copied; the
 * strings only have to live for the duration of the call. */
typedef struct lmq_sigv4_request {
    const char *method;   /* "POST", "GET" */
    const char *path;     /* raw request path, not decoded: "/" or
                             "/000000000000/q1"; NULL or "" means "/" */
    const char *query;    /* raw query string after '?', or NULL */
    const lmq_sigv4_header *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
} lmq_sigv4_request;

/* Outcome codes. Each maps to the SQS error code and HTTP status named in
 * the comment (lmq__sigv4_error_code, lmq__sigv4_http_status). Append new
 * codes; never renumber. */
enum {
    LMQ_SIGV4_OK = 0,
    LMQ_SIGV4_MISSING,     /* MissingAuthenticationToken, 403 */
    LMQ_SIGV4_INCOMPLETE,  /* IncompleteSignature, 400 */
    LMQ_SIGV4_MISMATCH,    /* SignatureDoesNotMatch, 403 */
    LMQ_SIGV4_EXPIRED,     /* RequestExpired, 400 */
    LMQ_SIGV4_UNKNOWN_KEY, /* InvalidClientTokenId, 403 */
    LMQ_SIGV4_INTERNAL     /* InternalFailure, 500 (out of memory) */
};

/* The SQS error code for an outcome ("SignatureDoesNotMatch"); NULL for
 * LMQ_SIGV4_OK; "InternalFailure" for a code that is not in the enum. */
const char *lmq__sigv4_error_code(int outcome);

/* The HTTP status for an outcome: 200 for LMQ_SIGV4_OK, 500 for a code
 * that is not in the enum. */
int lmq__sigv4_http_status(int outcome);

/* The credential of a request, from the Authorization header or from the
 * presigned X-Amz-* query parameters. All fields are NUL-terminated. The
 * sizes: AWS access key ids are 16 to 128 characters; region and service
 * names are short; a longer one is IncompleteSignature. */
typedef struct lmq_sigv4_info {
    char access_key[129]; /* AKID */
    char date[9];         /* credential scope date, YYYYMMDD */
    char region[64];      /* "us-east-1" */
    char service[32];     /* "sqs" */
    char amz_date[17];    /* X-Amz-Date, YYYYMMDDTHHMMSSZ */
    int presigned;        /* 1 when the request used query-string auth */
} lmq_sigv4_info;

/*
 * Parse the authentication of r without checking the signature (lmqd's
 * auth mode "parse"): an "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
 * Signature=..." Authorization header, or the presigned X-Amz-Algorithm,
 * X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and
 * X-Amz-Signature query parameters, plus a well-formed X-Amz-Date.
 *
 * Returns LMQ_SIGV4_OK and fills *info (info may be NULL). On failure
 * returns LMQ_SIGV4_MISSING (neither an Authorization header nor
 * X-Amz-Algorithm), LMQ_SIGV4_INCOMPLETE (malformed: missing component, bad
 * scope, SignedHeaders without host, bad %-escape in the query, both auth
 * forms at once) or LMQ_SIGV4_INTERNAL (out of memory); *info is then
 * zeroed and err (if errlen > 0) holds a one-line detail.
 */
int lmq__sigv4_parse(const lmq_sigv4_request *r, lmq_sigv4_info *info,
                     char *err, size_t errlen);

/* Look up the secret access key for access_key. Returns NULL when the key
 * is unknown. The string must stay valid until lmq__sigv4_verify returns. */
typedef const char *(*lmq_sigv4_secret_fn)(void *arg, const char *access_key);

/* How far X-Amz-Date may be from the server clock (AWS: 15 minutes). */
#define LMQ_SIGV4_MAX_SKEW_MS (15 * 60 * 1000)
/* Longest presigned X-Amz-Expires AWS accepts (7 days, in seconds). */
#define LMQ_SIGV4_MAX_EXPIRES 604800

/*
 * Verify the signature of r at server time now_ms (Unix ms): parse as
 * lmq__sigv4_parse does; check that X-Amz-Date is within 15 minutes of
 * now_ms (presigned: not more than 15 minutes in the future and not past
 * X-Amz-Date + X-Amz-Expires); look up the secret with secret(arg, key);
 * recompute the canonical request over the SignedHeaders and compare the
 * signatures in constant time. When x-amz-content-sha256 is signed, its
 * value is the payload hash, and unless it is UNSIGNED-PAYLOAD it must
 * equal the SHA-256 of the body.
 *
 * The region and service of the scope are taken as sent and returned in
 * *info; checking them against the endpoint's own is the caller's job.
 *
 * Returns LMQ_SIGV4_OK. On failure returns the parse codes, or
 * LMQ_SIGV4_EXPIRED, LMQ_SIGV4_UNKNOWN_KEY (secret returned NULL; it is
 * called only once the request parsed and its date is fresh) or
 * LMQ_SIGV4_MISMATCH (wrong signature, scope date differs from X-Amz-Date,
 * a signed header is absent, body differs from x-amz-content-sha256), with
 * err set. *info is filled whenever parsing succeeded, so a failure can be
 * logged with the access key.
 */
int lmq__sigv4_verify(const lmq_sigv4_request *r, int64_t now_ms,
                      lmq_sigv4_secret_fn secret, void *arg,
                      lmq_sigv4_info *info, char *err, size_t errlen);

/*
 * Sign r with header authentication. signed_headers is a ';'-separated list
 * of header names to sign (any case and order); NULL signs every header of r
 * except authorization, user-agent, expect and x-amzn-trace-id. host must be
 * among them and present in r. x-amz-date is always signed: if r has no
 * X-Amz-Date header, amz_date is used as its value and the caller must send
 * "X-Amz-Date: <amz_date>" with the request. The payload hash is the signed
 * x-amz-content-sha256 value if there is one, else the body's SHA-256.
 *
 * Writes "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."
 * (the Authorization header value) to authorization_out and returns
 * LMQ_SIGV4_OK. On failure returns LMQ_SIGV4_INCOMPLETE (bad amz_date, no
 * host, an r X-Amz-Date that differs from amz_date, bad %-escape in the
 * query, empty credential fields, outlen too small) or LMQ_SIGV4_INTERNAL
 * (out of memory), and authorization_out holds "" (if outlen > 0).
 */
int lmq__sigv4_sign(const lmq_sigv4_request *r, const char *access_key,
                    const char *secret, const char *region,
                    const char *service, const char *amz_date,
                    const char *signed_headers, char *authorization_out,
                    size_t outlen);

/*
 * Presign r (query-string authentication): returns in *query_out a malloc'd
 * query string made of r->query (if any) followed by X-Amz-Algorithm,
 * X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and
 * X-Amz-Signature. signed_headers as for lmq__sigv4_sign, except that NULL
 * means "host". The payload hash is the body's SHA-256 (what botocore and
 * the JS v3 signer do for non-S3 services; only S3 uses UNSIGNED-PAYLOAD).
 * A session token goes in r->query as X-Amz-Security-Token beforehand.
 *
 * Returns LMQ_SIGV4_OK. On failure returns LMQ_SIGV4_INCOMPLETE (as for
 * sign, or expires outside 1..604800) or LMQ_SIGV4_INTERNAL, and
 * *query_out is NULL.
 */
int lmq__sigv4_presign(const lmq_sigv4_request *r, const char *access_key,
                       const char *secret, const char *region,
                       const char *service, const char *amz_date,
                       long expires, const char *signed_headers,
                       char **query_out);

/* ---- the steps, exposed for the tests ---------------------------------- */

/* The SHA-256 of the empty payload, and the marker for an unsigned one. */
#define LMQ_SIGV4_EMPTY_SHA256                                               \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define LMQ_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* Lowercase hex SHA-256 of body into hex (65 bytes). Cannot fail. */
void lmq__sigv4_payload_hash(const void *body, size_t len, char hex[65]);

/*
 * The canonical request of r for the given signed header list (';'-separated,
 * any case and order; it is lowercased and sorted). payload_hash NULL means:
 * the signed x-amz-content-sha256 value if any, else the body's SHA-256.
 * presigned leaves X-Amz-Signature out of the canonical query string.
 *
 * Returns a malloc'd string for the caller to free. On failure returns NULL
 * with err set and, if why is not NULL, *why set to LMQ_SIGV4_INCOMPLETE (a
 * bad %-escape in the query; an empty, invalid or repeated signed header
 * name), LMQ_SIGV4_MISMATCH (a signed header absent from r) or
 * LMQ_SIGV4_INTERNAL (out of memory).
 */
char *lmq__sigv4_canonical_request(const lmq_sigv4_request *r,
                                   const char *signed_headers,
                                   const char *payload_hash, int presigned,
                                   int *why, char *err, size_t errlen);

/* "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(canonical)>", as a
 * malloc'd string; NULL when out of memory. */
char *lmq__sigv4_string_to_sign(const char *amz_date, const char *scope,
                                const char *canonical_request);

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service),
 * "aws4_request") into key. Returns 0, or -1 when out of memory (key is
 * then zeroed). */
int lmq__sigv4_signing_key(const char *secret, const char *date,
                           const char *region, const char *service,
                           unsigned char key[32]);

/* Lowercase hex HMAC-SHA256(key, string_to_sign) into hex (65 bytes).
 * Cannot fail. */
void lmq__sigv4_signature(const unsigned char key[32],
                          const char *string_to_sign, char hex[65]);

#endif
