/*
 * check_sigv4.c: AWS Signature Version 4 (wire/sigv4.c).
 *
 * Three sources of truth: the worked SQS vector of shared/SQS-SEMANTICS.md
 * section 8.2 (botocore and @smithy/signature-v4 agree on it), the official
 * AWS SigV4 test suite in tests/data/sigv4 (canonical request, string to
 * sign, signature and Authorization value of every case), and round trips
 * (sign or presign, then verify) with one change at a time to show that
 * each part of a request is covered by the signature.
 *
 * sigv4.c is pure (no home, no I/O, no liblmq), so this program links it
 * alone with libsodium and Check and needs no temporary-directory fixture.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

#ifndef LMQ_SIGV4_DATA
#define LMQ_SIGV4_DATA "tests/data/sigv4"
#endif

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define AMZ_DATE "20150830T123600Z"
#define T0 INT64_C(1440938160000) /* AMZ_DATE in Unix ms */
#define MIN_MS INT64_C(60000)

static const char *
lookup(void *arg, const char *key)
{
    int *calls = arg;
    if (calls != NULL)
        (*calls)++;
    return strcmp(key, AKID) == 0 ? SECRET : NULL;
}

/* Assert an outcome; print both names and the detail if it differs. */
#define ck_sig(call, expect)                                                 \
    do {                                                                     \
        int ck_rc_ = (call);                                                 \
        ck_assert_msg(ck_rc_ == (expect), "%s: got %s, expected %s (%s)",    \
                      #call,                                                 \
                      ck_rc_ ? lmq__sigv4_error_code(ck_rc_) : "OK",         \
                      (expect) ? lmq__sigv4_error_code(expect) : "OK", err); \
    } while (0)

static char err[256];

/* ---- the worked SQS vector (SQS-SEMANTICS.md 8.2) ----------------------- */

#define SQS_BODY                                                             \
    "{\"QueueUrl\":\"https://sqs.us-east-1.amazonaws.com/123456789012/"      \
    "MyQueue\",\"MessageBody\":\"hello\"}"
#define SQS_PAYLOAD                                                          \
    "1cae49f03f8de0ce35a33488fca75341644b8b0caeebaf69cea4cf34ec1db16a"

static void
hex32(const unsigned char k[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", k[i]);
}

static void
sha_hex(const char *s, char out[65])
{
    lmq__sigv4_payload_hash(s, strlen(s), out);
}

START_TEST(test_sqs_vector)
{
    lmq_sigv4_header h[5] = {
        {"Host", "sqs.us-east-1.amazonaws.com"},
        {"Content-Type", "application/x-amz-json-1.0"},
        {"X-Amz-Target", "AmazonSQS.SendMessage"},
        {"X-Amz-Date", AMZ_DATE},
    };
    lmq_sigv4_request r = {"POST", "/", NULL, h, 4, SQS_BODY,
                           strlen(SQS_BODY)};
    char hex[65], authz[512];
    unsigned char key[32];
    char *creq;
    int why = -1;

    lmq__sigv4_payload_hash(r.body, r.body_len, hex);
    ck_assert_str_eq(hex, SQS_PAYLOAD);
    lmq__sigv4_payload_hash(NULL, 0, hex);
    ck_assert_str_eq(hex, LMQ_SIGV4_EMPTY_SHA256);

    creq = lmq__sigv4_canonical_request(
        &r, "content-type;host;x-amz-date;x-amz-target", NULL, 0, &why, err,
        sizeof err);
    ck_assert_ptr_nonnull(creq);
    sha_hex(creq, hex);
    ck_assert_str_eq(
        hex, "d381dd3a06252e3506d1634944783e9b6608aa2565abdad5de9639442533783f");
    free(creq);

    ck_assert_int_eq(lmq__sigv4_signing_key(SECRET, "20150830", "us-east-1",
                                            "sqs", key),
                     0);
    hex32(key, hex);
    ck_assert_str_eq(
        hex, "9e65b0be0d065ec1c6ad437e0f495e15797093b99ad6de07a06d7ff044ca5c6a");

    /* sign() with every header: botocore's header set. */
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                           NULL, authz, sizeof authz),
           LMQ_SIGV4_OK);
    ck_assert_str_eq(authz,
                     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/"
                     "us-east-1/sqs/aws4_request, SignedHeaders=content-type;"
                     "host;x-amz-date;x-amz-target, Signature="
                     "cabd86f968dff9f087f7016e7b9fe46a1699021b647e66129c0a6e"
                     "70b5204980");

    /* The same without an X-Amz-Date header: sign() adds it. */
    r.n_headers = 3;
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                           NULL, authz, sizeof authz),
           LMQ_SIGV4_OK);
    ck_assert_ptr_nonnull(strstr(authz, "Signature=cabd86f968dff9f087f7016e"));

    /* JS v3 (applyChecksum: true) also sends and signs the payload hash. */
    h[3] = (lmq_sigv4_header){"X-Amz-Date", AMZ_DATE};
    h[4] = (lmq_sigv4_header){"x-amz-content-sha256", SQS_PAYLOAD};
    r.n_headers = 5;
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                           NULL, authz, sizeof authz),
           LMQ_SIGV4_OK);
    ck_assert_str_eq(authz,
                     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/"
                     "us-east-1/sqs/aws4_request, SignedHeaders=content-type;"
                     "host;x-amz-content-sha256;x-amz-date;x-amz-target, "
                     "Signature=aebbdd4b9858c49531c1fb32c6e135628db6b6e73a4a"
                     "7fa132fa84ca38879cee");
}
END_TEST

/* ---- the AWS test suite ------------------------------------------------- */

static const char *const suite_cases[] = {
    "get-header-key-duplicate",
    "get-header-value-multiline",
    "get-header-value-order",
    "get-header-value-trim",
    "get-unreserved",
    "get-utf8",
    "get-vanilla",
    "get-vanilla-empty-query-key",
    "get-vanilla-query",
    "get-vanilla-query-order-key",
    "get-vanilla-query-order-key-case",
    "get-vanilla-query-order-value",
    "get-vanilla-query-unreserved",
    "get-vanilla-utf8-query",
    "get-relative",
    "get-relative-relative",
    "get-slash",
    "get-slash-dot-slash",
    "get-slash-pointless-dot",
    "get-slashes",
    "get-space",
    "post-header-key-case",
    "post-header-key-sort",
    "post-header-value-case",
    "post-sts-header-after",
    "post-sts-header-before",
    "post-vanilla",
    "post-vanilla-empty-query-value",
    "post-vanilla-query",
    "post-x-www-form-urlencoded",
    "post-x-www-form-urlencoded-parameters",
};
#define N_SUITE_CASES ((int)(sizeof suite_cases / sizeof suite_cases[0]))

static char *
slurp(const char *name, const char *ext)
{
    char path[512];
    FILE *f;
    long n;
    char *s;
    snprintf(path, sizeof path, "%s/%s.%s", LMQ_SIGV4_DATA, name, ext);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    s = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* A .req file cut up in place (test-only parser). */
typedef struct suite_req {
    char *text;
    char method[8];
    char *path, *query;
    lmq_sigv4_header h[16];
    size_t nh;
    char *body;
    /* Trimmed copies of folded continuation lines. */
    char *cont[8];
    size_t ncont;
} suite_req;

/* Parse "METHOD target HTTP/1.1\nName:value\n...\n\nbody". The target may
 * hold a space (get-space), so it ends at the last " HTTP/". An obsolete
 * folded line (get-header-value-multiline) becomes one more header of the
 * same name: the canonical form of a folded value and of repeated headers
 * is the same comma-joined list, and the daemon's HTTP parser will hand
 * folded values over that way. */
static void
suite_req_parse(suite_req *q, const char *name)
{
    char *line, *nl, *sp, *http, *p;
    memset(q, 0, sizeof *q);
    q->text = slurp(name, "req");
    line = q->text;
    nl = strchr(line, '\n');
    ck_assert_ptr_nonnull(nl);
    *nl = '\0';
    sp = strchr(line, ' ');
    ck_assert_ptr_nonnull(sp);
    ck_assert_int_lt(sp - line, (long)sizeof q->method);
    memcpy(q->method, line, (size_t)(sp - line));
    http = NULL;
    for (p = strstr(sp, " HTTP/"); p; p = strstr(p + 1, " HTTP/"))
        http = p;
    ck_assert_ptr_nonnull(http);
    *http = '\0';
    q->path = sp + 1;
    q->query = strchr(q->path, '?');
    if (q->query != NULL)
        *q->query++ = '\0';
    line = nl + 1;
    while (*line != '\0' && *line != '\n') {
        char *colon;
        nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        ck_assert_uint_lt(q->nh, 16);
        if (*line == ' ' || *line == '\t') {
            ck_assert_uint_gt(q->nh, 0);
            q->h[q->nh].name = q->h[q->nh - 1].name;
            q->h[q->nh++].value = line;
        } else {
            colon = strchr(line, ':');
            ck_assert_ptr_nonnull(colon);
            *colon = '\0';
            q->h[q->nh].name = line;
            q->h[q->nh++].value = colon + 1;
        }
        if (nl == NULL) {
            line = line + strlen(line);
            break;
        }
        line = nl + 1;
    }
    q->body = *line == '\n' ? line + 1 : line;
}

/* The value of "Key=" in an Authorization string, up to ',' (malloc'd). */
static char *
authz_part(const char *authz, const char *key)
{
    const char *p = strstr(authz, key), *e;
    char *out;
    ck_assert_ptr_nonnull(p);
    p += strlen(key);
    e = strchr(p, ',');
    if (e == NULL)
        e = p + strlen(p);
    out = malloc((size_t)(e - p) + 1);
    ck_assert_ptr_nonnull(out);
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return out;
}

START_TEST(test_aws_suite)
{
    const char *name = suite_cases[_i];
    suite_req q;
    char *creq_exp = slurp(name, "creq"), *sts_exp = slurp(name, "sts");
    char *authz_exp = slurp(name, "authz");
    char *sh = authz_part(authz_exp, "SignedHeaders=");
    char *sig_exp = authz_part(authz_exp, "Signature=");
    char *creq, *sts, sig[65], authz[512];
    unsigned char key[32];
    lmq_sigv4_request r;
    lmq_sigv4_info info;
    int why = -1;

    suite_req_parse(&q, name);
    r = (lmq_sigv4_request){q.method, q.path,    q.query,
                            q.h,      q.nh,      q.body,
                            strlen(q.body)};

    creq = lmq__sigv4_canonical_request(&r, sh, NULL, 0, &why, err,
                                        sizeof err);
    ck_assert_msg(creq != NULL, "%s: %s", name, err);
    ck_assert_msg(strcmp(creq, creq_exp) == 0,
                  "%s: canonical request\n%s\n--- expected\n%s", name, creq,
                  creq_exp);

    sts = lmq__sigv4_string_to_sign(AMZ_DATE,
                                    "20150830/us-east-1/service/aws4_request",
                                    creq);
    ck_assert_ptr_nonnull(sts);
    ck_assert_msg(strcmp(sts, sts_exp) == 0, "%s: string to sign\n%s", name,
                  sts);

    ck_assert_int_eq(lmq__sigv4_signing_key(SECRET, "20150830", "us-east-1",
                                            "service", key),
                     0);
    lmq__sigv4_signature(key, sts, sig);
    ck_assert_msg(strcmp(sig, sig_exp) == 0, "%s: signature %s", name, sig);

    /* sign() gives the whole Authorization value... */
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "us-east-1", "service",
                           AMZ_DATE, sh, authz, sizeof authz),
           LMQ_SIGV4_OK);
    ck_assert_msg(strcmp(authz, authz_exp) == 0, "%s: %s", name, authz);

    /* ...and verify() accepts the request carrying it. */
    q.h[q.nh].name = "Authorization";
    q.h[q.nh].value = authz_exp;
    r.n_headers = q.nh + 1;
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, &info, err, sizeof err),
           LMQ_SIGV4_OK);
    ck_assert_str_eq(info.access_key, AKID);
    ck_assert_str_eq(info.service, "service");

    free(creq);
    free(sts);
    free(sh);
    free(sig_exp);
    free(creq_exp);
    free(sts_exp);
    free(authz_exp);
    free(q.text);
}
END_TEST

/* ---- canonical forms beyond the suite ----------------------------------- */

/* Canonical request of a GET with host only, so the test can compare the
 * URI and query lines. Returns NULL with *why set on failure. */
static char *
creq_of(const char *path, const char *query, int presigned, int *why)
{
    lmq_sigv4_header h[1] = {{"Host", "h"}};
    lmq_sigv4_request r = {"GET", path, query, h, 1, NULL, 0};
    return lmq__sigv4_canonical_request(&r, "host", NULL, presigned, why, err,
                                        sizeof err);
}

static void
ck_creq_lines(const char *path, const char *query, int presigned,
              const char *uri, const char *cq)
{
    char expect[512];
    int why = -1;
    char *c = creq_of(path, query, presigned, &why);
    ck_assert_msg(c != NULL, "%s?%s: %s", path, query, err);
    snprintf(expect, sizeof expect, "GET\n%s\n%s\nhost:h\n\nhost\n%s", uri,
             cq, LMQ_SIGV4_EMPTY_SHA256);
    ck_assert_str_eq(c, expect);
    free(c);
}

START_TEST(test_canonical_uri)
{
    /* SQS paths do not change. */
    ck_creq_lines("/", NULL, 0, "/", "");
    ck_creq_lines("/000000000000/q1", NULL, 0, "/000000000000/q1", "");
    ck_creq_lines("/123456789012/MyQueue.fifo", NULL, 0,
                  "/123456789012/MyQueue.fifo", "");
    ck_creq_lines("", NULL, 0, "/", "");
    ck_creq_lines(NULL, NULL, 0, "/", "");
    /* A raw (already encoded) path is encoded again: non-S3 double
     * encoding, as botocore and JS v3 sign it. */
    ck_creq_lines("/foo%20bar", NULL, 0, "/foo%2520bar", "");
    ck_creq_lines("/a+b/c=d", NULL, 0, "/a%2Bb/c%3Dd", "");
    ck_creq_lines("/a/./b/../c/", NULL, 0, "/a/c/", "");
    ck_creq_lines("/..", NULL, 0, "/", "");
}
END_TEST

START_TEST(test_canonical_query)
{
    int why = -1;
    char *c;
    ck_creq_lines("/", "b=2&a=1&a=&c", 0, "/", "a=&a=1&b=2&c=");
    ck_creq_lines("/", "", 0, "/", "");
    ck_creq_lines("/", "&&x=1&", 0, "/", "x=1");
    /* Decoded then re-encoded: upper-case hex, unreserved kept, '+' is a
     * literal plus, '=' inside a value is encoded. */
    ck_creq_lines("/", "k=%7e%2f%2F", 0, "/", "k=~%2F%2F");
    ck_creq_lines("/", "k=a+b&k2=a%20b&k3=x=y", 0, "/",
                  "k=a%2Bb&k2=a%20b&k3=x%3Dy");
    ck_creq_lines("/", "MessageBody=%E2%82%AC%00", 0, "/",
                  "MessageBody=%E2%82%AC%00");
    /* Sorted by encoded name, then value, byte-wise (upper case first). */
    ck_creq_lines("/", "a=2&B=1&a=10", 0, "/", "B=1&a=10&a=2");
    /* X-Amz-Signature is left out only when presigned. */
    ck_creq_lines("/", "X-Amz-Signature=ab&z=1", 1, "/", "z=1");
    ck_creq_lines("/", "X-Amz-Signature=ab&z=1", 0, "/",
                  "X-Amz-Signature=ab&z=1");
    /* Strict decoding. */
    c = creq_of("/", "a=%zz", 0, &why);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(why, LMQ_SIGV4_INCOMPLETE);
    c = creq_of("/", "a=%2", 0, &why);
    ck_assert_ptr_null(c);
    c = creq_of("/", "%=1", 0, &why);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_canonical_headers)
{
    lmq_sigv4_header h[4] = {{"HOST", "  h  "},
                             {"X-A", "\t a \t\t b  c "},
                             {"x-a", "second"},
                             {"X-Empty", ""}};
    lmq_sigv4_request r = {"POST", "/", NULL, h, 4, "", 0};
    int why = -1;
    char *c = lmq__sigv4_canonical_request(&r, "X-Empty;x-a;Host", NULL, 0,
                                           &why, err, sizeof err);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(c, "POST\n/\n\nhost:h\nx-a:a b c,second\nx-empty:\n\n"
                        "host;x-a;x-empty\n" LMQ_SIGV4_EMPTY_SHA256);
    free(c);
    /* Repeated, empty and non-token names in the list; absent headers. */
    ck_assert_ptr_null(lmq__sigv4_canonical_request(&r, "host;host", NULL, 0,
                                                    &why, err, sizeof err));
    ck_assert_int_eq(why, LMQ_SIGV4_INCOMPLETE);
    ck_assert_ptr_null(lmq__sigv4_canonical_request(&r, "host;;x-a", NULL, 0,
                                                    &why, err, sizeof err));
    ck_assert_int_eq(why, LMQ_SIGV4_INCOMPLETE);
    ck_assert_ptr_null(lmq__sigv4_canonical_request(&r, "host;a b", NULL, 0,
                                                    &why, err, sizeof err));
    ck_assert_int_eq(why, LMQ_SIGV4_INCOMPLETE);
    ck_assert_ptr_null(lmq__sigv4_canonical_request(&r, "host;x-absent",
                                                    NULL, 0, &why, err,
                                                    sizeof err));
    ck_assert_int_eq(why, LMQ_SIGV4_MISMATCH);
    /* An explicit payload hash is used as given. */
    c = lmq__sigv4_canonical_request(&r, "host", LMQ_SIGV4_UNSIGNED_PAYLOAD,
                                     0, &why, err, sizeof err);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(c, "POST\n/\n\nhost:h\n\nhost\nUNSIGNED-PAYLOAD");
    free(c);
}
END_TEST

/* ---- verify() ----------------------------------------------------------- */

/* A signed SQS JSON request: headers 0..4 (Host, Content-Type,
 * X-Amz-Target, X-Amz-Date, Authorization), room for one more. */
typedef struct signed_req {
    lmq_sigv4_header h[8];
    char authz[512];
    char body[256];
    lmq_sigv4_request r;
} signed_req;

static void
make_signed(signed_req *s, const char *akid, const char *amz_date)
{
    memset(s, 0, sizeof *s);
    strcpy(s->body, SQS_BODY);
    s->h[0] = (lmq_sigv4_header){"Host", "localhost:9324"};
    s->h[1] = (lmq_sigv4_header){"Content-Type",
                                 "application/x-amz-json-1.0"};
    s->h[2] = (lmq_sigv4_header){"X-Amz-Target", "AmazonSQS.SendMessage"};
    s->h[3] = (lmq_sigv4_header){"X-Amz-Date", amz_date};
    s->r = (lmq_sigv4_request){"POST", "/", NULL, s->h, 4, s->body,
                               strlen(s->body)};
    ck_sig(lmq__sigv4_sign(&s->r, akid, SECRET, "us-east-1", "sqs", amz_date,
                           NULL, s->authz, sizeof s->authz),
           LMQ_SIGV4_OK);
    s->h[4] = (lmq_sigv4_header){"Authorization", s->authz};
    s->r.n_headers = 5;
}

static int
verify_at(signed_req *s, int64_t now, lmq_sigv4_info *info)
{
    return lmq__sigv4_verify(&s->r, now, lookup, NULL, info, err,
                             sizeof err);
}

START_TEST(test_verify_accepts)
{
    signed_req s;
    lmq_sigv4_info info;
    int calls = 0;
    make_signed(&s, AKID, AMZ_DATE);
    ck_sig(lmq__sigv4_verify(&s.r, T0, lookup, &calls, &info, err,
                             sizeof err),
           LMQ_SIGV4_OK);
    ck_assert_int_eq(calls, 1);
    ck_assert_str_eq(info.access_key, AKID);
    ck_assert_str_eq(info.date, "20150830");
    ck_assert_str_eq(info.region, "us-east-1");
    ck_assert_str_eq(info.service, "sqs");
    ck_assert_str_eq(info.amz_date, AMZ_DATE);
    ck_assert_int_eq(info.presigned, 0);
    /* Header names in another case, an unsigned header added, signed
     * values with different outer whitespace: still the same request. */
    s.h[1].name = "CONTENT-TYPE";
    s.h[2].value = "  AmazonSQS.SendMessage\t";
    s.h[5] = (lmq_sigv4_header){"User-Agent", "aws-cli/2"};
    s.r.n_headers = 6;
    ck_sig(verify_at(&s, T0, NULL), LMQ_SIGV4_OK);
}
END_TEST

START_TEST(test_verify_mismatch)
{
    signed_req s;
    char sig_bad[512];
    make_signed(&s, AKID, AMZ_DATE);

    s.body[10] ^= 1; /* one body byte */
    ck_sig(verify_at(&s, T0, NULL), LMQ_SIGV4_MISMATCH);
    s.body[10] ^= 1;
    ck_sig(verify_at(&s, T0, NULL), LMQ_SIGV4_OK);
    s.r.body_len--; /* one byte shorter */
    ck_sig(verify_at(&s, T0, NULL), LMQ_SIGV4_MISMATCH);
    s.r.body_len++;

    s.h[2].value = "AmazonSQS.SendMessagf"; /* one signed header byte */
    ck_sig(verify_at(&s, T0, NULL), LMQ_SIGV4_MISMATCH);
    s.h[2].value = "AmazonSQS.SendMessage";

    s.h[5] = (lmq_sigv4_header){"x-amz-target", "x"}; /* repeated header */
    s.r.n_headers = 6;
    ck_sig(verify_at(&s, T0, NULL), LMQ_SIGV4_MISMATCH);
    s.r.n_headers = 5;

    s.r.path = "/000000000000/q1";
    ck_sig(verify_at(&s, T0, NULL), LMQ_SIGV4_MISMATCH);
    s.r.path = "/";
    s.r.query = "a=1";
    ck_sig(verify_at(&s, T0, NULL), LMQ_SIGV4_MISMATCH);
    s.r.query = NULL;
    s.r.method = "PUT";
    ck_sig(verify_at(&s, T0, NULL), LMQ_SIGV4_MISMATCH);
    s.r.method = "POST";

    /* One signature hex digit. */
    strcpy(sig_bad, s.authz);
    {
        char *last = sig_bad + strlen(sig_bad) - 1;
        *last = *last == '0' ? '1' : '0';
    }
    s.h[4].value = sig_bad;
    ck_sig(verify_at(&s, T0, NULL), LMQ_SIGV4_MISMATCH);

    /* Signed with another secret. */
    s.h[4].value = s.authz;
    ck_sig(lmq__sigv4_sign(&s.r, AKID, "not-the-secret", "us-east-1", "sqs",
                           AMZ_DATE, NULL, sig_bad, sizeof sig_bad),
           LMQ_SIGV4_OK);
    s.r.n_headers = 4;
    s.h[4].value = sig_bad;
    s.r.n_headers = 5;
    ck_sig(verify_at(&s, T0, NULL), LMQ_SIGV4_MISMATCH);

    /* Scope date other than the X-Amz-Date day. */
    make_signed(&s, AKID, AMZ_DATE);
    {
        char *d = strstr(s.authz, "/20150830/");
        ck_assert_ptr_nonnull(d);
        memcpy(d + 1, "20150831", 8);
    }
    ck_sig(verify_at(&s, T0, NULL), LMQ_SIGV4_MISMATCH);
    ck_assert_ptr_nonnull(strstr(err, "Credential scope"));
}
END_TEST

START_TEST(test_verify_payload_header)
{
    lmq_sigv4_header h[6] = {
        {"Host", "localhost"},
        {"X-Amz-Date", AMZ_DATE},
        {"X-Amz-Content-Sha256", SQS_PAYLOAD},
    };
    char body[256], authz[512];
    lmq_sigv4_request r = {"POST", "/", NULL, h, 3, body, 0};
    strcpy(body, SQS_BODY);
    r.body_len = strlen(body);
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                           NULL, authz, sizeof authz),
           LMQ_SIGV4_OK);
    h[3] = (lmq_sigv4_header){"Authorization", authz};
    r.n_headers = 4;
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_OK);
    /* The body must match the signed hash. */
    body[3] ^= 1;
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_MISMATCH);
    ck_assert_ptr_nonnull(strstr(err, "x-amz-content-sha256"));

    /* UNSIGNED-PAYLOAD: the body is the client's risk. */
    h[2].value = LMQ_SIGV4_UNSIGNED_PAYLOAD;
    r.n_headers = 3;
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                           NULL, authz, sizeof authz),
           LMQ_SIGV4_OK);
    r.n_headers = 4;
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_OK);
    body[3] ^= 1;
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_OK);

    /* An unsigned x-amz-content-sha256 is ignored: the body hash counts. */
    h[2].value = "0000";
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                           "host;x-amz-date", authz, sizeof authz),
           LMQ_SIGV4_OK);
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_OK);
    body[3] ^= 1;
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_MISMATCH);
}
END_TEST

START_TEST(test_verify_clock)
{
    signed_req s;
    int calls = 0;
    make_signed(&s, AKID, AMZ_DATE);
    ck_sig(verify_at(&s, T0 + 14 * MIN_MS, NULL), LMQ_SIGV4_OK);
    ck_sig(verify_at(&s, T0 - 14 * MIN_MS, NULL), LMQ_SIGV4_OK);
    ck_sig(verify_at(&s, T0 + 15 * MIN_MS, NULL), LMQ_SIGV4_OK);
    ck_sig(verify_at(&s, T0 + 15 * MIN_MS + 1, NULL), LMQ_SIGV4_EXPIRED);
    ck_sig(verify_at(&s, T0 + 16 * MIN_MS, NULL), LMQ_SIGV4_EXPIRED);
    ck_sig(verify_at(&s, T0 - 16 * MIN_MS, NULL), LMQ_SIGV4_EXPIRED);
    ck_sig(verify_at(&s, INT64_MAX, NULL), LMQ_SIGV4_EXPIRED);
    ck_sig(verify_at(&s, INT64_MIN, NULL), LMQ_SIGV4_EXPIRED);
    /* A stale request never reaches the key lookup. */
    ck_sig(lmq__sigv4_verify(&s.r, T0 + 16 * MIN_MS, lookup, &calls, NULL,
                             err, sizeof err),
           LMQ_SIGV4_EXPIRED);
    ck_assert_int_eq(calls, 0);
    ck_assert_str_eq(lmq__sigv4_error_code(LMQ_SIGV4_EXPIRED),
                     "RequestExpired");
}
END_TEST

START_TEST(test_verify_unknown_key)
{
    signed_req s;
    lmq_sigv4_info info;
    make_signed(&s, "AKIDUNKNOWN", AMZ_DATE);
    ck_sig(verify_at(&s, T0, &info), LMQ_SIGV4_UNKNOWN_KEY);
    ck_assert_str_eq(info.access_key, "AKIDUNKNOWN"); /* for the log */
    ck_sig(lmq__sigv4_verify(&s.r, T0, NULL, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_UNKNOWN_KEY);
}
END_TEST

START_TEST(test_verify_missing)
{
    lmq_sigv4_header h[2] = {{"Host", "localhost"},
                             {"X-Amz-Date", AMZ_DATE}};
    lmq_sigv4_request r = {"POST", "/", NULL, h, 2, "", 0};
    lmq_sigv4_info info;
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, &info, err, sizeof err),
           LMQ_SIGV4_MISSING);
    ck_assert_str_eq(info.access_key, "");
    r.query = "Action=ListQueues&X-Amz-Credential=x";
    ck_sig(lmq__sigv4_parse(&r, &info, err, sizeof err), LMQ_SIGV4_MISSING);
    r.n_headers = 0;
    r.query = NULL;
    ck_sig(lmq__sigv4_parse(&r, NULL, err, sizeof err), LMQ_SIGV4_MISSING);
}
END_TEST

#define GOOD_CRED "Credential=AKIDEXAMPLE/20150830/us-east-1/sqs/aws4_request"
#define GOOD_SH "SignedHeaders=host;x-amz-date"
#define GOOD_SIG                                                             \
    "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char *const bad_authz[] = {
    "AWS4-HMAC-SHA256 " GOOD_SH ", " GOOD_SIG,
    "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SIG,
    "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH,
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256 ",
    "",
    "AWS AKIDEXAMPLE:c2lnbmF0dXJl",
    "AWS4-HMAC-SHA256Credential=AKIDEXAMPLE/20150830/us-east-1/sqs/"
    "aws4_request, " GOOD_SH ", " GOOD_SIG,
    "AWS4-ECDSA-P256-SHA256 " GOOD_CRED ", " GOOD_SH ", " GOOD_SIG,
    /* Bad scopes. */
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sqs, " GOOD_SH
    ", " GOOD_SIG,
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sqs/"
    "aws4_reques, " GOOD_SH ", " GOOD_SIG,
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015083/us-east-1/sqs/"
    "aws4_request, " GOOD_SH ", " GOOD_SIG,
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015083a/us-east-1/sqs/"
    "aws4_request, " GOOD_SH ", " GOOD_SIG,
    "AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/sqs/aws4_request, " GOOD_SH
    ", " GOOD_SIG,
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830//sqs/aws4_request, " GOOD_SH
    ", " GOOD_SIG,
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sqs/"
    "aws4_request/x, " GOOD_SH ", " GOOD_SIG,
    /* Signed headers. */
    "AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=x-amz-date, " GOOD_SIG,
    "AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=, " GOOD_SIG,
    "AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=host;;x-amz-date, " GOOD_SIG,
    "AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=host;host, " GOOD_SIG,
    /* Signatures. */
    "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", Signature=abc",
    "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", " GOOD_SIG "0",
    "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH
    ", Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
    /* Repeated, unknown, shapeless components. */
    "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_CRED ", " GOOD_SH ", " GOOD_SIG,
    "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", " GOOD_SIG ", Extra=1",
    "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", " GOOD_SIG ", junk",
};
#define N_BAD_AUTHZ ((int)(sizeof bad_authz / sizeof bad_authz[0]))

START_TEST(test_verify_incomplete)
{
    lmq_sigv4_header h[3] = {{"Host", "localhost"},
                             {"X-Amz-Date", AMZ_DATE},
                             {"Authorization", bad_authz[_i]}};
    lmq_sigv4_request r = {"POST", "/", NULL, h, 3, "", 0};
    lmq_sigv4_info info;
    int calls = 0;
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, &calls, &info, err, sizeof err),
           LMQ_SIGV4_INCOMPLETE);
    ck_assert_int_eq(calls, 0);
    ck_assert_str_eq(info.access_key, "");
    ck_assert_str_ne(err, "");
    ck_sig(lmq__sigv4_parse(&r, &info, err, sizeof err), LMQ_SIGV4_INCOMPLETE);
}
END_TEST

START_TEST(test_parse_forms)
{
    static const char *good = "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH
                              ", " GOOD_SIG;
    lmq_sigv4_header h[4] = {{"host", "localhost"},
                             {"x-amz-date", AMZ_DATE},
                             {"authorization", good},
                             {"Authorization", good}};
    lmq_sigv4_request r = {"POST", "/", NULL, h, 3, "", 0};
    lmq_sigv4_info info;

    ck_sig(lmq__sigv4_parse(&r, &info, err, sizeof err), LMQ_SIGV4_OK);
    ck_assert_str_eq(info.access_key, AKID);
    ck_assert_str_eq(info.region, "us-east-1");
    ck_assert_str_eq(info.amz_date, AMZ_DATE);

    /* Any order, no spaces after commas (some SDKs). */
    h[2].value = "AWS4-HMAC-SHA256 " GOOD_SIG "," GOOD_SH "," GOOD_CRED;
    ck_sig(lmq__sigv4_parse(&r, &info, err, sizeof err), LMQ_SIGV4_OK);

    /* Two Authorization headers. */
    h[2].value = good;
    r.n_headers = 4;
    ck_sig(lmq__sigv4_parse(&r, &info, err, sizeof err),
           LMQ_SIGV4_INCOMPLETE);
    r.n_headers = 3;

    /* X-Amz-Date missing or malformed. */
    h[1].value = "2015-08-30T12:36:00Z";
    ck_sig(lmq__sigv4_parse(&r, &info, err, sizeof err),
           LMQ_SIGV4_INCOMPLETE);
    h[1].value = "20150230T123600Z";
    ck_sig(lmq__sigv4_parse(&r, &info, err, sizeof err),
           LMQ_SIGV4_INCOMPLETE);
    h[1].value = "20150830T123600Z junk";
    ck_sig(lmq__sigv4_parse(&r, &info, err, sizeof err),
           LMQ_SIGV4_INCOMPLETE);
    h[1].value = " 20150830T123600Z ";
    ck_sig(lmq__sigv4_parse(&r, &info, err, sizeof err), LMQ_SIGV4_OK);
    h[1].name = "Date";
    ck_sig(lmq__sigv4_parse(&r, &info, err, sizeof err),
           LMQ_SIGV4_INCOMPLETE);
    h[1].name = "x-amz-date";

    /* Both forms at once. */
    r.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256";
    ck_sig(lmq__sigv4_parse(&r, &info, err, sizeof err),
           LMQ_SIGV4_INCOMPLETE);
    /* A bad %-escape anywhere in the query. */
    r.query = "Action=%G0";
    ck_sig(lmq__sigv4_parse(&r, &info, err, sizeof err),
           LMQ_SIGV4_INCOMPLETE);
    r.query = NULL;

    /* Error table. */
    ck_assert_ptr_null(lmq__sigv4_error_code(LMQ_SIGV4_OK));
    ck_assert_int_eq(lmq__sigv4_http_status(LMQ_SIGV4_OK), 200);
    ck_assert_str_eq(lmq__sigv4_error_code(LMQ_SIGV4_MISSING),
                     "MissingAuthenticationToken");
    ck_assert_int_eq(lmq__sigv4_http_status(LMQ_SIGV4_MISSING), 403);
    ck_assert_str_eq(lmq__sigv4_error_code(LMQ_SIGV4_INCOMPLETE),
                     "IncompleteSignature");
    ck_assert_int_eq(lmq__sigv4_http_status(LMQ_SIGV4_INCOMPLETE), 400);
    ck_assert_str_eq(lmq__sigv4_error_code(LMQ_SIGV4_MISMATCH),
                     "SignatureDoesNotMatch");
    ck_assert_int_eq(lmq__sigv4_http_status(LMQ_SIGV4_MISMATCH), 403);
    ck_assert_int_eq(lmq__sigv4_http_status(LMQ_SIGV4_EXPIRED), 400);
    ck_assert_str_eq(lmq__sigv4_error_code(LMQ_SIGV4_UNKNOWN_KEY),
                     "InvalidClientTokenId");
    ck_assert_int_eq(lmq__sigv4_http_status(LMQ_SIGV4_UNKNOWN_KEY), 403);
    ck_assert_str_eq(lmq__sigv4_error_code(LMQ_SIGV4_INTERNAL),
                     "InternalFailure");
    ck_assert_int_eq(lmq__sigv4_http_status(LMQ_SIGV4_INTERNAL), 500);
    ck_assert_str_eq(lmq__sigv4_error_code(99), "InternalFailure");
    ck_assert_int_eq(lmq__sigv4_http_status(-1), 500);
}
END_TEST

/* ---- presigned ---------------------------------------------------------- */

START_TEST(test_presigned)
{
    lmq_sigv4_header h[1] = {{"Host", "localhost:9324"}};
    lmq_sigv4_request r = {"GET", "/000000000000/q1",
                           "Action=ReceiveMessage&MaxNumberOfMessages=10",
                           h, 1, NULL, 0};
    lmq_sigv4_info info;
    char *q = NULL, *bad;
    int calls = 0;

    ck_sig(lmq__sigv4_presign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                              300, NULL, &q),
           LMQ_SIGV4_OK);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_nonnull(strstr(q, "&X-Amz-Credential=AKIDEXAMPLE%2F20150830"
                                    "%2Fus-east-1%2Fsqs%2Faws4_request&"));
    ck_assert_ptr_nonnull(strstr(q, "&X-Amz-SignedHeaders=host&"));
    r.query = q;
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, &calls, &info, err, sizeof err),
           LMQ_SIGV4_OK);
    ck_assert_int_eq(calls, 1);
    ck_assert_int_eq(info.presigned, 1);
    ck_assert_str_eq(info.access_key, AKID);
    ck_assert_str_eq(info.amz_date, AMZ_DATE);
    ck_sig(lmq__sigv4_parse(&r, &info, err, sizeof err), LMQ_SIGV4_OK);

    /* Valid from 15 minutes early until X-Amz-Expires has passed. */
    ck_sig(lmq__sigv4_verify(&r, T0 + 300000, lookup, NULL, NULL, err,
                             sizeof err),
           LMQ_SIGV4_OK);
    ck_sig(lmq__sigv4_verify(&r, T0 + 300001, lookup, NULL, NULL, err,
                             sizeof err),
           LMQ_SIGV4_EXPIRED);
    ck_sig(lmq__sigv4_verify(&r, T0 - 14 * MIN_MS, lookup, NULL, NULL, err,
                             sizeof err),
           LMQ_SIGV4_OK);
    ck_sig(lmq__sigv4_verify(&r, T0 - 16 * MIN_MS, lookup, NULL, NULL, err,
                             sizeof err),
           LMQ_SIGV4_EXPIRED);

    /* Any change is a mismatch: a parameter, the host, the body. */
    bad = malloc(strlen(q) + 16);
    ck_assert_ptr_nonnull(bad);
    strcpy(bad, q);
    memcpy(strstr(bad, "=10&"), "=11&", 4);
    r.query = bad;
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_MISMATCH);
    r.query = q;
    h[0].value = "localhost:9325";
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_MISMATCH);
    h[0].value = "localhost:9324";
    r.body = "x";
    r.body_len = 1;
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_MISMATCH);
    r.body = NULL;
    r.body_len = 0;

    /* Percent-encoded differently but equal after decoding: still OK. */
    strcpy(bad, q);
    memcpy(strstr(bad, "Action=ReceiveMessage"), "Action=%52eceiveMessage",
           strlen("Action=%52eceiveMessage"));
    strcpy(strstr(bad, "%52eceiveMessage") + strlen("%52eceiveMessage"),
           strstr(q, "&MaxNumberOfMessages"));
    r.query = bad;
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_OK);

    /* Without X-Amz-Signature; with an oversize X-Amz-Expires. */
    strcpy(bad, q);
    *strstr(bad, "&X-Amz-Signature=") = '\0';
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_INCOMPLETE);
    strcpy(bad, q);
    memcpy(strstr(bad, "X-Amz-Expires=300"), "X-Amz-Expires=9999999",
           strlen("X-Amz-Expires=9999999"));
    strcpy(strstr(bad, "9999999") + 7, strstr(q, "&X-Amz-SignedHeaders"));
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_INCOMPLETE);
    free(bad);
    free(q);

    /* Expiry limits on the signing side. */
    r.query = NULL;
    ck_sig(lmq__sigv4_presign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                              604801, NULL, &q),
           LMQ_SIGV4_INCOMPLETE);
    ck_assert_ptr_null(q);

    /* Unknown key, presigned. */
    ck_sig(lmq__sigv4_presign(&r, "AKIDOTHER", SECRET, "us-east-1", "sqs",
                              AMZ_DATE, 60, NULL, &q),
           LMQ_SIGV4_OK);
    r.query = q;
    ck_sig(lmq__sigv4_verify(&r, T0, lookup, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_UNKNOWN_KEY);
    free(q);
}
END_TEST

/* ---- sign() then verify() ----------------------------------------------- */

/* Sign r with headers h[0..n) plus X-Amz-Date, add the Authorization
 * (in authz, 512 bytes) and verify. */
static void
round_trip(lmq_sigv4_request *r, lmq_sigv4_header *h, size_t n, char *authz)
{
    const char *amz_date = "20240229T235959Z";
    int64_t now = INT64_C(1709251199000);
    h[n] = (lmq_sigv4_header){"X-Amz-Date", amz_date};
    r->headers = h;
    r->n_headers = n + 1;
    ck_sig(lmq__sigv4_sign(r, AKID, SECRET, "eu-west-1", "sqs", amz_date,
                           NULL, authz, 512),
           LMQ_SIGV4_OK);
    h[n + 1] = (lmq_sigv4_header){"Authorization", authz};
    r->n_headers = n + 2;
    ck_sig(lmq__sigv4_verify(r, now, lookup, NULL, NULL, err, sizeof err),
           LMQ_SIGV4_OK);
    ck_sig(lmq__sigv4_verify(r, now + 16 * MIN_MS, lookup, NULL, NULL, err,
                             sizeof err),
           LMQ_SIGV4_EXPIRED);
}

START_TEST(test_round_trip_json)
{
    static const char body[] = "{\"QueueUrl\":\"http://localhost:9324/"
                               "000000000000/q1\",\"MaxNumberOfMessages\":10}";
    lmq_sigv4_header h[8] = {
        {"Host", "localhost:9324"},
        {"Content-Type", "application/x-amz-json-1.0"},
        {"X-Amz-Target", "AmazonSQS.ReceiveMessage"},
        {"x-amz-content-sha256", ""},
        {"User-Agent", "lmq-bridge/1"},
    };
    char hash[65], authz[512];
    lmq_sigv4_request r = {"POST", "/", NULL, NULL, 0, body,
                           sizeof body - 1};
    lmq__sigv4_payload_hash(body, sizeof body - 1, hash);
    h[3].value = hash;
    round_trip(&r, h, 5, authz);
    ck_assert_ptr_null(strstr(h[6].value, "user-agent"));
    ck_assert_ptr_nonnull(strstr(h[6].value,
                                 "SignedHeaders=content-type;host;"
                                 "x-amz-content-sha256;x-amz-date;"
                                 "x-amz-target, "));
}
END_TEST

START_TEST(test_round_trip_query)
{
    static const char body[] =
        "Action=SendMessage&MessageBody=caf%C3%A9+%26+more&Version=2012-11-05";
    lmq_sigv4_header h[8] = {
        {"Host", "localhost:9324"},
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
    };
    lmq_sigv4_request r = {"POST", "/000000000000/q1",
                           "weird=%2Fa%20b&empty&x=~", NULL, 0, body,
                           sizeof body - 1};
    char authz[512];
    round_trip(&r, h, 2, authz);
}
END_TEST

START_TEST(test_sign_misuse)
{
    lmq_sigv4_header h[2] = {{"Content-Type", "text/plain"},
                             {"X-Amz-Date", "20150830T123601Z"}};
    lmq_sigv4_request r = {"POST", "/", NULL, h, 1, "", 0};
    char out[512], tiny[16];
    /* No host. */
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                           NULL, out, sizeof out),
           LMQ_SIGV4_INCOMPLETE);
    ck_assert_str_eq(out, "");
    h[0] = (lmq_sigv4_header){"Host", "h"};
    /* Bad date; an X-Amz-Date header that disagrees with it. */
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "us-east-1", "sqs",
                           "20150830T1236Z", NULL, out, sizeof out),
           LMQ_SIGV4_INCOMPLETE);
    r.n_headers = 2;
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                           NULL, out, sizeof out),
           LMQ_SIGV4_INCOMPLETE);
    r.n_headers = 1;
    /* Empty credential parts, signed header not in the request, buffer
     * too small, NULLs. */
    ck_sig(lmq__sigv4_sign(&r, "", SECRET, "us-east-1", "sqs", AMZ_DATE, NULL,
                           out, sizeof out),
           LMQ_SIGV4_INCOMPLETE);
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "", "sqs", AMZ_DATE, NULL, out,
                           sizeof out),
           LMQ_SIGV4_INCOMPLETE);
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                           "host;x-absent", out, sizeof out),
           LMQ_SIGV4_INCOMPLETE);
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                           NULL, tiny, sizeof tiny),
           LMQ_SIGV4_INCOMPLETE);
    ck_assert_str_eq(tiny, "");
    ck_sig(lmq__sigv4_sign(&r, AKID, NULL, "us-east-1", "sqs", AMZ_DATE, NULL,
                           out, sizeof out),
           LMQ_SIGV4_INCOMPLETE);
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                           NULL, NULL, 0),
           LMQ_SIGV4_INCOMPLETE);
    ck_sig(lmq__sigv4_presign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                              60, NULL, NULL),
           LMQ_SIGV4_INCOMPLETE);
    r.query = "a=%";
    ck_sig(lmq__sigv4_sign(&r, AKID, SECRET, "us-east-1", "sqs", AMZ_DATE,
                           NULL, out, sizeof out),
           LMQ_SIGV4_INCOMPLETE);
}
END_TEST

Suite *
lmq_suite_sigv4(void)
{
    Suite *s = suite_create("sigv4");
    TCase *tc;

    tc = tcase_create("sqs_vector");
    tcase_add_test(tc, test_sqs_vector);
    suite_add_tcase(s, tc);

    tc = tcase_create("aws_test_suite");
    tcase_add_loop_test(tc, test_aws_suite, 0, N_SUITE_CASES);
    suite_add_tcase(s, tc);

    tc = tcase_create("canonical_forms");
    tcase_add_test(tc, test_canonical_uri);
    tcase_add_test(tc, test_canonical_query);
    tcase_add_test(tc, test_canonical_headers);
    suite_add_tcase(s, tc);

    tc = tcase_create("verify_outcomes");
    tcase_add_test(tc, test_verify_accepts);
    tcase_add_test(tc, test_verify_mismatch);
    tcase_add_test(tc, test_verify_payload_header);
    tcase_add_test(tc, test_verify_clock);
    tcase_add_test(tc, test_verify_unknown_key);
    tcase_add_test(tc, test_verify_missing);
    tcase_add_loop_test(tc, test_verify_incomplete, 0, N_BAD_AUTHZ);
    tcase_add_test(tc, test_parse_forms);
    suite_add_tcase(s, tc);

    tc = tcase_create("presigned");
    tcase_add_test(tc, test_presigned);
    suite_add_tcase(s, tc);

    tc = tcase_create("sign_then_verify");
    tcase_add_test(tc, test_round_trip_json);
    tcase_add_test(tc, test_round_trip_query);
    tcase_add_test(tc, test_sign_misuse);
    suite_add_tcase(s, tc);

    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(lmq_suite_sigv4());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
