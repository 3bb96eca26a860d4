/*
 * fuzz_wire.c: a fuzz target for the SQS wire layer: both decoders of
 * lmq__sqs_decode() (AWS JSON 1.0 and the Query form decoder) and
 * lmq__sqs_execute() on whatever decodes, against a scratch home.
 *
 * Every input must give a well-formed answer: a status in 200..503, the
 * request's content type, a body without NUL bytes that is a JSON object
 * (JSON; with __type and message when it is an error) or well-formed XML
 * (Query: the prolog, balanced elements, known entities, valid UTF-8, no
 * raw CR and no other C0 control), a code exactly when it is an error, and
 * a park only for a ReceiveMessage. Anything else, and any crash or
 * sanitizer report, is a finding.
 *
 * Input format: byte 0 is flags, byte 1 picks the JSON action, the rest is
 * the payload (a JSON body, or a form).
 *   flags bit 0   Query (else JSON)
 *         bit 1   GET (Query: the payload is the query string)
 *         bit 2   path /000000000000/q (else /)
 *         bit 3   JSON: no X-Amz-Target; Query: no form Content-Type
 *         bit 4   https
 *         bit 5   Query: payload up to the first '\n' is the query string,
 *                 the rest the body
 *         bit 6   JSON: the first line of the payload is the whole
 *                 X-Amz-Target value
 * "@RH@" and "@TH@" in a payload become the last receipt handle and task
 * handle the target saw, so seeds reach past the handle checks.
 *
 * Two ways to run it:
 *
 * Short mode (CI): tests/check_wire.c's fuzz_short test calls
 * lmq_fuzz_wire_short(): a seeded xorshift PRNG mutates a corpus of valid
 * requests for every action in both protocols (bit flips, interesting
 * bytes, truncation, inserted tokens such as %, %zz, \0, 0xff, overlong
 * UTF-8, surrogates, huge numbers, deep nesting, duplicated slices,
 * splices, new flags) and feeds lmq_fuzz_wire_one(). The env's clock is
 * virtual and moves one second per input (a minute every 50), so
 * visibility, delays, purge and delete windows pass without sleeping.
 *
 * Long mode (libFuzzer, by hand; CI does not need clang):
 *
 *   mkdir -p /tmp/fuzz && cd /tmp/fuzz &&
 *   CC=clang CFLAGS='-g -O1 -fsanitize=fuzzer-no-link,address,undefined' \
 *     /work/main/configure --disable-shared --enable-warnings=min &&
 *   make -j2 libsqswire.la liblmq.la &&
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -I/work/main/include -I/work/main/wire -I. \
 *     /work/main/tests/fuzz_wire.c .libs/libsqswire.a .libs/liblmq.a \
 *     -llmdb -lsodium -lcrypto -ljansson -lpthread -o fuzz_wire &&
 *   mkdir -p corpus && FUZZ_WIRE_SEEDS=corpus ./fuzz_wire &&
 *   ./fuzz_wire -max_total_time=300 -max_len=8192 -timeout=10 corpus
 *
 * (FUZZ_WIRE_SEEDS=dir writes the seed corpus to dir and exits.) The
 * scratch home is a fresh directory under $TMPDIR, removed at exit and
 * recreated every 20000 inputs.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmq.h"
#include "sqs_wire.h"

int lmq_fuzz_wire_open(const char *home);
void lmq_fuzz_wire_close(void);
int lmq_fuzz_wire_one(const uint8_t *data, size_t size, char *why,
                      size_t whylen);
int lmq_fuzz_wire_short(unsigned iterations, uint64_t seed, char *why,
                        size_t whylen);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ACCT "000000000000"
#define URL(q) "http://localhost:9324/" ACCT "/" q
#define ARN(q) "arn:aws:sqs:us-east-1:" ACCT ":" q

static lmq_env *fenv;
static sqs_ctx fctx;
static int64_t fclock_ms = 1767225600000LL;
static char last_rh[256] = "AQEBnotahandle";
static char last_th[512] = "garbage";
static unsigned long inputs;
static int last_status;
/* Answers by status class and parks, for LMQ_FUZZ_STATS=1. */
static unsigned long stats[7];

static int64_t
fuzz_clock(void *arg)
{
    (void)arg;
    return fclock_ms;
}

/* The queues seeds address; made again (errors ignored) now and then, as
 * fuzzed requests delete and change them. */
static void
scratch_queues(void)
{
    lmq_map *fifo = lmq_map_new(), *src = lmq_map_new();
    if (!fifo || !src) {
        lmq_map_free(fifo);
        lmq_map_free(src);
        return;
    }
    (void)lmq_map_set(fifo, "FifoQueue", "true");
    (void)lmq_map_set(fifo, "ContentBasedDeduplication", "true");
    (void)lmq_map_set(src, "RedrivePolicy",
                      "{\"deadLetterTargetArn\":\"" ARN("dlq") "\","
                      "\"maxReceiveCount\":1}");
    (void)lmq_queue_create(fenv, "q", NULL, NULL, NULL);
    (void)lmq_queue_create(fenv, "q.fifo", fifo, NULL, NULL);
    (void)lmq_queue_create(fenv, "dlq", NULL, NULL, NULL);
    (void)lmq_queue_create(fenv, "src", src, NULL, NULL);
    lmq_map_free(fifo);
    lmq_map_free(src);
}

int
lmq_fuzz_wire_open(const char *home)
{
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    o.durability = LMQ_DURABILITY_NONE;
    o.map_size = 64u << 20;
    o.clock = fuzz_clock;
    int rc = lmq_env_open(home, &o, &fenv);
    if (rc)
        return rc;
    memset(&fctx, 0, sizeof fctx);
    fctx.env = fenv;
    fctx.account = ACCT;
    fctx.region = "us-east-1";
    rc = lmq__sqs_ctx_init(&fctx);
    if (rc) {
        lmq_env_close(fenv);
        fenv = NULL;
        return rc;
    }
    scratch_queues();
    return 0;
}

void
lmq_fuzz_wire_close(void)
{
    if (!fenv)
        return;
    lmq__sqs_ctx_fini(&fctx);
    lmq_env_close(fenv);
    fenv = NULL;
}

/* ---- checking an answer ---------------------------------------------------- */

static int
fail(char *why, size_t n, const char *fmt, const char *a, const char *b)
{
    snprintf(why, n, fmt, a, b);
    return -1;
}

/* Whether body[0..len) is well-formed XML as the wire layer writes it. */
static int
xml_ok(const char *s, size_t len, char *why, size_t wn)
{
    static const char prolog[] = "<?xml version=\"1.0\"?>\n<";
    const char *stack[64];
    size_t slen[64], depth = 0;
    int roots = 0;
    if (len < sizeof prolog - 1 || memcmp(s, prolog, sizeof prolog - 1) != 0)
        return fail(why, wn, "no XML prolog%s%s", "", "");
    json_t *u = json_stringn(s, len);
    if (!u)
        return fail(why, wn, "XML is not UTF-8%s%s", "", "");
    json_decref(u);
    size_t i = sizeof prolog - 2;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '<') {
            size_t j = i + 1;
            int closing = s[j] == '/';
            if (closing)
                j++;
            size_t ns = j;
            while (j < len && s[j] != '>' && s[j] != ' ' && s[j] != '/')
                j++;
            size_t nl = j - ns;
            if (nl == 0)
                return fail(why, wn, "empty element name%s%s", "", "");
            while (j < len && s[j] != '>')
                j++;
            if (j >= len)
                return fail(why, wn, "unterminated tag%s%s", "", "");
            int selfclose = s[j - 1] == '/';
            if (closing) {
                if (depth == 0 || slen[depth - 1] != nl ||
                    memcmp(stack[depth - 1], s + ns, nl) != 0)
                    return fail(why, wn, "mismatched </%.40s>%s", s + ns,
                                "");
                depth--;
            } else if (!selfclose) {
                if (depth == 0 && roots++ > 0)
                    return fail(why, wn, "two root elements%s%s", "", "");
                if (depth == 64)
                    return fail(why, wn, "XML too deep%s%s", "", "");
                stack[depth] = s + ns;
                slen[depth++] = nl;
            } else if (depth == 0) {
                roots++;
            }
            i = j + 1;
            continue;
        }
        if (depth == 0 && c != '\n')
            return fail(why, wn, "text outside the root%s%s", "", "");
        if (c == '&') {
            static const char *const ents[] = {"&amp;", "&lt;", "&gt;",
                                               "&quot;", "&apos;", "&#xD;"};
            int ok = 0;
            for (size_t k = 0; k < sizeof ents / sizeof *ents; k++)
                if (len - i >= strlen(ents[k]) &&
                    memcmp(s + i, ents[k], strlen(ents[k])) == 0) {
                    ok = 1;
                    i += strlen(ents[k]);
                }
            if (!ok)
                return fail(why, wn, "bad entity near %.20s%s", s + i, "");
            continue;
        }
        if (c == '\r')
            return fail(why, wn, "raw CR in XML text%s%s", "", "");
        if (c < 0x20 && c != '\t' && c != '\n')
            return fail(why, wn, "control character in XML text%s%s", "",
                        "");
        if (c == '>' && i >= 2 && s[i - 1] == ']' && s[i - 2] == ']')
            return fail(why, wn, "]]> in XML text%s%s", "", "");
        /* U+FFFE and U+FFFF are not XML characters either. */
        if (c == 0xef && i + 2 < len && (unsigned char)s[i + 1] == 0xbf &&
            ((unsigned char)s[i + 2] & 0xfe) == 0xbe)
            return fail(why, wn, "U+FFFE/U+FFFF in XML text%s%s", "", "");
        i++;
    }
    if (depth != 0 || roots != 1)
        return fail(why, wn, "unbalanced XML%s%s", "", "");
    return 0;
}

static int
check_resp(const sqs_req *r, const sqs_resp *resp, char *why, size_t wn)
{
    sqs_proto proto = lmq__sqs_req_proto(r);
    if (resp->status < 200 || resp->status > 503) {
        char st[16];
        snprintf(st, sizeof st, "%d", resp->status);
        return fail(why, wn, "status %s%s", st, "");
    }
    if (!resp->body || !resp->content_type)
        return fail(why, wn, "no body or content type%s%s", "", "");
    if (strlen(resp->body) != resp->len)
        return fail(why, wn, "body has a NUL or a wrong length: %.200s%s",
                    resp->body, "");
    int err = resp->status != 200;
    if (err != (resp->code[0] != '\0'))
        return fail(why, wn, "code '%s' with status %s", resp->code,
                    err ? "error" : "200");
    if (resp->query_error[0]) {
        const char *semi = strchr(resp->query_error, ';');
        if (!err || !semi ||
            (strcmp(semi, ";Sender") != 0 && strcmp(semi, ";Receiver") != 0))
            return fail(why, wn, "bad x-amzn-query-error %s%s",
                        resp->query_error, "");
    }
    if (proto == SQS_PROTO_JSON) {
        if (strcmp(resp->content_type, "application/x-amz-json-1.0") != 0)
            return fail(why, wn, "JSON answered as %s%s", resp->content_type,
                        "");
        json_error_t e;
        json_t *o = json_loadb(resp->body, resp->len, JSON_REJECT_DUPLICATES,
                               &e);
        if (!o || !json_is_object(o)) {
            json_decref(o);
            return fail(why, wn, "answer is not a JSON object: %.200s%s",
                        resp->body, "");
        }
        const char *t = json_string_value(json_object_get(o, "__type"));
        int bad = err ? !t || !strchr(t, '#') ||
                            !json_is_string(json_object_get(o, "message"))
                      : t != NULL;
        json_decref(o);
        if (bad)
            return fail(why, wn, "bad JSON error shape: %.200s%s", resp->body,
                        "");
        return 0;
    }
    if (strcmp(resp->content_type, "text/xml") != 0)
        return fail(why, wn, "Query answered as %s%s", resp->content_type,
                    "");
    if (xml_ok(resp->body, resp->len, why, wn)) {
        size_t used = strlen(why);
        snprintf(why + used, wn - used, " in: %.300s", resp->body);
        return -1;
    }
    if (err && !strstr(resp->body, "<ErrorResponse xmlns="))
        return fail(why, wn, "error without ErrorResponse: %.200s%s",
                    resp->body, "");
    if (!err) {
        char root[96];
        snprintf(root, sizeof root, "<%sResponse xmlns=",
                 lmq__sqs_req_action(r));
        if (!strstr(resp->body, root))
            return fail(why, wn, "answer without %s: %.200s", root,
                        resp->body);
    }
    return 0;
}

/* Remember the handles an answer carries, for "@RH@" and "@TH@". */
static void
harvest(const char *body, const char *key, char *out, size_t n)
{
    const char *p = strstr(body, key);
    if (!p)
        return;
    p += strlen(key);
    size_t len = strcspn(p, "\"<");
    if (len > 0 && len < n) {
        memcpy(out, p, len);
        out[len] = '\0';
    }
}

/* payload with the handle placeholders filled in (malloc'd, exact size). */
static char *
fill(const uint8_t *p, size_t n, size_t *outlen)
{
    size_t cap = n + 1, k = 0;
    char *o = malloc(cap);
    if (!o)
        return NULL;
    for (size_t i = 0; i < n;) {
        const char *rep = NULL;
        if (n - i >= 4 && memcmp(p + i, "@RH@", 4) == 0)
            rep = last_rh;
        else if (n - i >= 4 && memcmp(p + i, "@TH@", 4) == 0)
            rep = last_th;
        size_t rl = rep ? strlen(rep) : 1;
        if (k + rl + 1 > cap) {
            cap = (k + rl + 1) * 2;
            char *no = realloc(o, cap);
            if (!no) {
                free(o);
                return NULL;
            }
            o = no;
        }
        if (rep) {
            memcpy(o + k, rep, rl);
            i += 4;
        } else {
            o[k] = (char)p[i++];
        }
        k += rl;
    }
    /* Exact size, so that the sanitizers see any read past the end. */
    char *exact = malloc(k ? k : 1);
    if (exact)
        memcpy(exact, o, k);
    free(o);
    *outlen = k;
    return exact;
}

static size_t
nactions(void)
{
    size_t n = 0;
    while (lmq__sqs_action_name(n))
        n++;
    return n;
}

int
lmq_fuzz_wire_one(const uint8_t *data, size_t size, char *why, size_t wn)
{
    if (size < 2)
        return 0;
    unsigned flags = data[0];
    size_t na = nactions();
    size_t plen;
    char *payload = fill(data + 2, size - 2, &plen);
    if (!payload)
        return 0;
    char target[160], *query = NULL;
    const char *path = (flags & 4) ? "/" ACCT "/q" : "/";
    sqs_http h = {(flags & 2) ? "GET" : "POST", path, NULL, "localhost:9324",
                  NULL, NULL, (flags & 16) != 0, payload, plen};
    if (!(flags & 1)) {
        h.content_type = "application/x-amz-json-1.0";
        size_t ai = data[1] % (na + 1);
        snprintf(target, sizeof target, "AmazonSQS.%s",
                 ai < na ? lmq__sqs_action_name(ai) : "Bogus");
        if (flags & 64) {
            const char *nl = memchr(payload, '\n', plen);
            size_t tl = nl ? (size_t)(nl - payload) : plen;
            if (tl >= sizeof target)
                tl = sizeof target - 1;
            memcpy(target, payload, tl);
            target[tl] = '\0';
            h.body = nl ? nl + 1 : payload + plen;
            h.body_len = nl ? plen - tl - 1 : 0;
        }
        if (!(flags & 8))
            h.target = target;
    } else {
        if (!(flags & 8))
            h.content_type = "application/x-www-form-urlencoded";
        size_t ql = 0;
        if (flags & 2)
            ql = plen;
        else if (flags & 32) {
            const char *nl = memchr(payload, '\n', plen);
            ql = nl ? (size_t)(nl - payload) : 0;
        }
        if (ql > 0 || (flags & 2)) {
            query = malloc(ql + 1);
            if (!query) {
                free(payload);
                return 0;
            }
            memcpy(query, payload, ql);
            query[ql] = '\0';
            h.query = query;
            h.body = payload + ql + (ql < plen ? 1 : 0);
            h.body_len = plen - ql - (ql < plen ? 1 : 0);
        }
    }

    int rc = 0;
    sqs_req *r = NULL;
    sqs_resp resp;
    if (lmq__sqs_decode(&h, &r) != 0 || !r) {
        rc = fail(why, wn, "decode failed (out of memory?)%s%s", "", "");
        goto out;
    }
    lmq__sqs_execute(&fctx, r, &resp, SQS_EXEC_PARK);
    if (resp.park) {
        stats[6]++;
        if (strcmp(lmq__sqs_req_action(r), "ReceiveMessage") != 0 ||
            !resp.park_queue || resp.park_wait_ms < 1000 ||
            resp.park_wait_ms > 20000 || resp.body)
            rc = fail(why, wn, "bad park of %s%s", lmq__sqs_req_action(r),
                      "");
        lmq__sqs_resp_clear(&resp);
        if (rc == 0)
            lmq__sqs_encode_empty_receive(r, &resp);
    }
    if (rc == 0) {
        last_status = resp.status;
        stats[resp.status / 100 % 6]++;
        if (resp.status >= 500 && getenv("LMQ_FUZZ_STATS"))
            fprintf(stderr, "fuzz_wire: %d %s: %.300s\n", resp.status,
                    lmq__sqs_req_action(r), resp.body ? resp.body : "");
        rc = check_resp(r, &resp, why, wn);
        if (rc == 0 && resp.status == 200) {
            harvest(resp.body, "\"ReceiptHandle\":\"", last_rh,
                    sizeof last_rh);
            harvest(resp.body, "<ReceiptHandle>", last_rh, sizeof last_rh);
            harvest(resp.body, "\"TaskHandle\":\"", last_th, sizeof last_th);
            harvest(resp.body, "<TaskHandle>", last_th, sizeof last_th);
        }
    }
    lmq__sqs_resp_clear(&resp);
out:
    lmq__sqs_req_free(r);
    free(query);
    free(payload);
    inputs++;
    fclock_ms += 1000;
    if (inputs % 50 == 0) {
        fclock_ms += 61000;
        scratch_queues();
    }
    return rc;
}

/* ---- the seed corpus ------------------------------------------------------- */

typedef struct seed {
    unsigned flags;
    const char *action; /* JSON: the target; NULL for Query */
    const char *payload;
} seed;

#define Q1 URL("q")
#define QF URL("q.fifo")
static const seed seeds[] = {
    /* JSON, every action. */
    {0, "CreateQueue",
     "{\"QueueName\":\"fz1\",\"Attributes\":{\"VisibilityTimeout\":\"5\","
     "\"DelaySeconds\":\"0\"},\"tags\":{\"a\":\"b\"}}"},
    {0, "GetQueueUrl", "{\"QueueName\":\"q\"}"},
    {0, "ListQueues", "{\"QueueNamePrefix\":\"q\",\"MaxResults\":2}"},
    {0, "GetQueueAttributes",
     "{\"QueueUrl\":\"" Q1 "\",\"AttributeNames\":[\"All\"]}"},
    {0, "SetQueueAttributes",
     "{\"QueueUrl\":\"" Q1 "\",\"Attributes\":{\"VisibilityTimeout\":\"3\","
     "\"MaximumMessageSize\":\"2048\"}}"},
    {0, "SendMessage",
     "{\"QueueUrl\":\"" Q1 "\",\"MessageBody\":\"hello \\r\\n\\ud83d\\ude00\","
     "\"DelaySeconds\":0,\"MessageAttributes\":{\"s\":{\"DataType\":"
     "\"String\",\"StringValue\":\"x\"},\"n\":{\"DataType\":\"Number.f\","
     "\"StringValue\":\"1.5\"},\"b\":{\"DataType\":\"Binary\","
     "\"BinaryValue\":\"AQID\"}},\"MessageSystemAttributes\":{"
     "\"AWSTraceHeader\":{\"DataType\":\"String\",\"StringValue\":"
     "\"Root=1\"}}}"},
    {0, "SendMessage",
     "{\"QueueUrl\":\"" QF "\",\"MessageBody\":\"f\",\"MessageGroupId\":\"g\","
     "\"MessageDeduplicationId\":\"d\"}"},
    {0, "SendMessageBatch",
     "{\"QueueUrl\":\"" Q1 "\",\"Entries\":[{\"Id\":\"a\",\"MessageBody\":"
     "\"1\"},{\"Id\":\"b\",\"MessageBody\":\"2\",\"DelaySeconds\":1,"
     "\"MessageAttributes\":{\"k\":{\"DataType\":\"String\","
     "\"StringValue\":\"v\"}}}]}"},
    {0, "ReceiveMessage",
     "{\"QueueUrl\":\"" Q1 "\",\"MaxNumberOfMessages\":10,"
     "\"AttributeNames\":[\"All\"],\"MessageAttributeNames\":[\"All\"],"
     "\"VisibilityTimeout\":2,\"WaitTimeSeconds\":1}"},
    {0, "ReceiveMessage",
     "{\"QueueUrl\":\"" QF "\",\"MessageSystemAttributeNames\":"
     "[\"SequenceNumber\"],\"ReceiveRequestAttemptId\":\"x\"}"},
    {0, "DeleteMessage",
     "{\"QueueUrl\":\"" Q1 "\",\"ReceiptHandle\":\"@RH@\"}"},
    {0, "DeleteMessageBatch",
     "{\"QueueUrl\":\"" Q1 "\",\"Entries\":[{\"Id\":\"a\",\"ReceiptHandle\":"
     "\"@RH@\"},{\"Id\":\"b\",\"ReceiptHandle\":\"x\"}]}"},
    {0, "ChangeMessageVisibility",
     "{\"QueueUrl\":\"" Q1 "\",\"ReceiptHandle\":\"@RH@\","
     "\"VisibilityTimeout\":0}"},
    {0, "ChangeMessageVisibilityBatch",
     "{\"QueueUrl\":\"" Q1 "\",\"Entries\":[{\"Id\":\"a\",\"ReceiptHandle\":"
     "\"@RH@\",\"VisibilityTimeout\":1},{\"Id\":\"b\",\"ReceiptHandle\":"
     "\"@RH@\"}]}"},
    {0, "PurgeQueue", "{\"QueueUrl\":\"" Q1 "\"}"},
    {0, "DeleteQueue", "{\"QueueUrl\":\"" URL("fz1") "\"}"},
    {0, "TagQueue", "{\"QueueUrl\":\"" Q1 "\",\"Tags\":{\"k\":\"v\"}}"},
    {0, "UntagQueue", "{\"QueueUrl\":\"" Q1 "\",\"TagKeys\":[\"k\"]}"},
    {0, "ListQueueTags", "{\"QueueUrl\":\"" Q1 "\"}"},
    {0, "ListDeadLetterSourceQueues",
     "{\"QueueUrl\":\"" URL("dlq") "\",\"MaxResults\":1}"},
    {0, "AddPermission",
     "{\"QueueUrl\":\"" Q1 "\",\"Label\":\"L\",\"AWSAccountIds\":"
     "[\"111122223333\"],\"Actions\":[\"SendMessage\",\"*\"]}"},
    {0, "RemovePermission", "{\"QueueUrl\":\"" Q1 "\",\"Label\":\"L\"}"},
    {0, "StartMessageMoveTask",
     "{\"SourceArn\":\"" ARN("dlq") "\",\"MaxNumberOfMessagesPerSecond\":5}"},
    {0, "ListMessageMoveTasks",
     "{\"SourceArn\":\"" ARN("dlq") "\",\"MaxResults\":10}"},
    {0, "CancelMessageMoveTask", "{\"TaskHandle\":\"@TH@\"}"},
    {4, "SendMessage", "{\"MessageBody\":\"by path\"}"},
    {64, NULL, "AmazonSQS.ListQueues\n{}"},
    /* Query, every action. */
    {1, NULL,
     "Action=CreateQueue&Version=2012-11-05&QueueName=fz2&Attribute.1.Name="
     "DelaySeconds&Attribute.1.Value=0&Tag.1.Key=a&Tag.1.Value=b"},
    {1, NULL, "Action=GetQueueUrl&QueueName=q&QueueOwnerAWSAccountId="
              "000000000000"},
    {3, NULL, "Action=ListQueues&QueueNamePrefix=q&MaxResults=1&NextToken="},
    {1, NULL, "Action=GetQueueAttributes&QueueUrl=" Q1
              "&AttributeName.1=All"},
    {1, NULL, "Action=SetQueueAttributes&QueueUrl=" Q1
              "&Attribute.1.Name=DelaySeconds&Attribute.1.Value=0"},
    {1, NULL,
     "Action=SendMessage&Version=2012-11-05&QueueUrl=" Q1
     "&MessageBody=hi+there%0D%0A%F0%9F%98%80%5D%5D%3E%3C%26"
     "&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=String"
     "&MessageAttribute.1.Value.StringValue=x&MessageAttribute.2.Name=b"
     "&MessageAttribute.2.Value.DataType=Binary"
     "&MessageAttribute.2.Value.BinaryValue=AQID"
     "&MessageSystemAttribute.1.Name=AWSTraceHeader"
     "&MessageSystemAttribute.1.Value.DataType=String"
     "&MessageSystemAttribute.1.Value.StringValue=Root%3D1"},
    {1, NULL, "Action=SendMessage&QueueUrl=" QF
              "&MessageBody=f&MessageGroupId=g"},
    {1, NULL,
     "Action=SendMessageBatch&QueueUrl=" Q1
     "&SendMessageBatchRequestEntry.1.Id=a"
     "&SendMessageBatchRequestEntry.1.MessageBody=1"
     "&SendMessageBatchRequestEntry.2.Id=b"
     "&SendMessageBatchRequestEntry.2.MessageBody=2"
     "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Name=k"
     "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType="
     "String"
     "&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue="
     "v"},
    {1, NULL,
     "Action=ReceiveMessage&QueueUrl=" Q1
     "&MaxNumberOfMessages=10&AttributeName.1=All&MessageAttributeName.1="
     "All&VisibilityTimeout=2&WaitTimeSeconds=1"},
    {1, NULL, "Action=DeleteMessage&QueueUrl=" Q1 "&ReceiptHandle=@RH@"},
    {1, NULL,
     "Action=DeleteMessageBatch&QueueUrl=" Q1
     "&DeleteMessageBatchRequestEntry.1.Id=a"
     "&DeleteMessageBatchRequestEntry.1.ReceiptHandle=@RH@"},
    {1, NULL, "Action=ChangeMessageVisibility&QueueUrl=" Q1
              "&ReceiptHandle=@RH@&VisibilityTimeout=0"},
    {1, NULL,
     "Action=ChangeMessageVisibilityBatch&QueueUrl=" Q1
     "&ChangeMessageVisibilityBatchRequestEntry.1.Id=a"
     "&ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=@RH@"
     "&ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=1"},
    {1, NULL, "Action=PurgeQueue&QueueUrl=" Q1},
    {1, NULL, "Action=DeleteQueue&QueueUrl=" URL("fz2")},
    {1, NULL, "Action=TagQueue&QueueUrl=" Q1
              "&Tag.1.Key=k&Tag.1.Value=%3C%26%3E"},
    {1, NULL, "Action=UntagQueue&QueueUrl=" Q1 "&TagKey.1=k"},
    {1, NULL, "Action=ListQueueTags&QueueUrl=" Q1},
    {1, NULL, "Action=ListDeadLetterSourceQueues&QueueUrl=" URL("dlq")},
    {1, NULL, "Action=AddPermission&QueueUrl=" Q1
              "&Label=L2&AWSAccountId.1=111122223333&ActionName.1="
              "ReceiveMessage"},
    {1, NULL, "Action=RemovePermission&QueueUrl=" Q1 "&Label=L2"},
    {1, NULL, "Action=StartMessageMoveTask&SourceArn=" ARN("dlq")
              "&DestinationArn=" ARN("src")},
    {1, NULL, "Action=ListMessageMoveTasks&SourceArn=" ARN("dlq")},
    {1, NULL, "Action=CancelMessageMoveTask&TaskHandle=@TH@"},
    {7, NULL, "Action=SendMessage&MessageBody=get+by+path"},
    {33, NULL, "Action=ListQueues\nVersion=2012-11-05&QueueNamePrefix=d"},
};

/* Seed i encoded in the input format (malloc'd). */
static uint8_t *
seed_bytes(size_t i, size_t *len)
{
    size_t pl = strlen(seeds[i].payload);
    uint8_t *b = malloc(pl + 2);
    if (!b)
        return NULL;
    b[0] = (uint8_t)seeds[i].flags;
    b[1] = 0;
    for (size_t a = 0; seeds[i].action && lmq__sqs_action_name(a); a++)
        if (strcmp(lmq__sqs_action_name(a), seeds[i].action) == 0)
            b[1] = (uint8_t)a;
    memcpy(b + 2, seeds[i].payload, pl);
    *len = pl + 2;
    return b;
}

/* ---- the short mode -------------------------------------------------------- */

static uint64_t
rnd(uint64_t *s)
{
    /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static const char *const tokens[] = {
    "%", "%0", "%zz", "%00", "%ff", "%C0%80", "%ED%A0%80", "\0", "\xff",
    "\xc0\x80", "\xed\xa0\x80", "\xef\xbf\xbf", "99999999999999999999999",
    "-1", "2147483648", "9223372036854775808", "1e999", "-0", "null", "true",
    "\"\"", "{}", "[]", ",", ":", "\"", "\\", "\\u0000", "\\ud800", "&", "=",
    ".1", ".0", ".2147483648", "Attribute.1.Name=x", "&Action=SendMessage",
    "+", "\r\n", "]]>", "<&>'", "\x01", "\\u0001", "\\uffff", ".fifo",
    "AmazonSQS.", "@RH@", "@TH@", "/000000000000/", "All", "Binary",
};

#define MAXIN 65536

static size_t
mutate(uint64_t *s, uint8_t *b, size_t n, size_t nseeds)
{
    unsigned k = 1 + (unsigned)(rnd(s) % 4);
    for (unsigned m = 0; m < k; m++) {
        size_t pos = n ? (size_t)(rnd(s) % n) : 0;
        switch (rnd(s) % 11) {
        case 0: /* flip a bit */
            if (n)
                b[pos] ^= (uint8_t)(1u << (rnd(s) % 8));
            break;
        case 1: { /* an interesting byte */
            static const uint8_t v[] = {0, 0xff, '%', '&', '=', '"', '{',
                                        '[', '.', '\\', '\r', 0x80, '1'};
            if (n)
                b[pos] = v[rnd(s) % sizeof v];
            break;
        }
        case 2: /* truncate */
            if (n > 2)
                n = 2 + (size_t)(rnd(s) % (n - 2));
            break;
        case 3:
        case 4: { /* insert a token */
            const char *t = tokens[rnd(s) % (sizeof tokens / sizeof *tokens)];
            size_t tl = *t ? strlen(t) : 1; /* "\0" is one NUL byte */
            if (n + tl <= MAXIN && pos >= 2) {
                memmove(b + pos + tl, b + pos, n - pos);
                memcpy(b + pos, t, tl);
                n += tl;
            }
            break;
        }
        case 5: { /* deep nesting */
            size_t d = 1 + (size_t)(rnd(s) % 3000);
            const char *open = rnd(s) % 2 ? "[" : "{\"a\":";
            size_t ol = strlen(open);
            if (pos >= 2 && n + d * ol <= MAXIN) {
                memmove(b + pos + d * ol, b + pos, n - pos);
                for (size_t i = 0; i < d; i++)
                    memcpy(b + pos + i * ol, open, ol);
                n += d * ol;
            }
            break;
        }
        case 6: { /* duplicate a slice */
            if (n < 3)
                break;
            size_t from = 2 + (size_t)(rnd(s) % (n - 2));
            size_t len = 1 + (size_t)(rnd(s) % (n - from));
            if (pos >= 2 && n + len <= MAXIN) {
                uint8_t tmp[MAXIN];
                memcpy(tmp, b + from, len);
                memmove(b + pos + len, b + pos, n - pos);
                memcpy(b + pos, tmp, len);
                n += len;
            }
            break;
        }
        case 7: { /* splice another seed's tail */
            size_t sl;
            uint8_t *o = seed_bytes((size_t)(rnd(s) % nseeds), &sl);
            if (o && sl > 2 && pos >= 2) {
                size_t from = 2 + (size_t)(rnd(s) % (sl - 2));
                if (pos + (sl - from) <= MAXIN) {
                    memcpy(b + pos, o + from, sl - from);
                    n = pos + (sl - from);
                }
            }
            free(o);
            break;
        }
        case 8: /* new flags or action */
            b[rnd(s) % 2] = (uint8_t)rnd(s);
            break;
        case 9: { /* a digit run becomes huge */
            size_t i = pos;
            while (i < n && !(b[i] >= '0' && b[i] <= '9'))
                i++;
            static const char huge[] = "340282366920938463463374607431768211456";
            if (i < n && i >= 2 && n + sizeof huge <= MAXIN) {
                memmove(b + i + sizeof huge - 1, b + i, n - i);
                memcpy(b + i, huge, sizeof huge - 1);
                n += sizeof huge - 1;
            }
            break;
        }
        default: /* delete a byte */
            if (n > 2 && pos >= 2) {
                memmove(b + pos, b + pos + 1, n - pos - 1);
                n--;
            }
        }
    }
    return n;
}

static void
describe(char *why, size_t wn, unsigned it, const uint8_t *b, size_t n)
{
    size_t used = strlen(why);
    if (used + 64 >= wn)
        return;
    int w = snprintf(why + used, wn - used, " [input %u, %zu bytes, flags %u: ",
                     it, n, n ? b[0] : 0);
    used += (size_t)(w > 0 ? w : 0);
    for (size_t i = 2; i < n && used + 5 < wn; i++) {
        unsigned char c = b[i];
        if (c >= 0x20 && c < 0x7f)
            why[used++] = (char)c;
        else
            used += (size_t)snprintf(why + used, wn - used, "\\x%02x", c);
    }
    if (used + 2 < wn) {
        why[used++] = ']';
        why[used] = '\0';
    }
}

int
lmq_fuzz_wire_short(unsigned iterations, uint64_t seed, char *why, size_t wn)
{
    size_t ns = sizeof seeds / sizeof *seeds;
    uint64_t s = seed ? seed : 1;
    static uint8_t buf[MAXIN + 16];
    /* The seeds, twice (the second time with the handles the first
     * produced): they must mostly succeed, or the corpus has drifted from
     * the wire layer and the loop below fuzzes little. */
    int ok = 0;
    for (size_t i = 0; i < 2 * ns; i++) {
        size_t n;
        uint8_t *b = seed_bytes(i % ns, &n);
        if (!b)
            return fail(why, wn, "out of memory%s%s", "", "");
        if (lmq_fuzz_wire_one(b, n, why, wn)) {
            describe(why, wn, (unsigned)i, b, n);
            free(b);
            return -1;
        }
        free(b);
        ok += last_status == 200;
    }
    if ((size_t)ok < ns) {
        char c[32];
        snprintf(c, sizeof c, "%d of %zu", ok, 2 * ns);
        return fail(why, wn, "only %s seeds succeeded%s", c, "");
    }
    for (unsigned it = 0; it < iterations; it++) {
        size_t n;
        uint8_t *b = seed_bytes((size_t)(rnd(&s) % ns), &n);
        if (!b)
            return fail(why, wn, "out of memory%s%s", "", "");
        memcpy(buf, b, n);
        free(b);
        n = mutate(&s, buf, n, ns);
        if (lmq_fuzz_wire_one(buf, n, why, wn)) {
            describe(why, wn, it, buf, n);
            return -1;
        }
    }
    if (getenv("LMQ_FUZZ_STATS"))
        fprintf(stderr,
                "fuzz_wire: %u inputs: %lu 2xx, %lu 4xx, %lu 5xx, %lu parked\n",
                iterations, stats[2], stats[4], stats[5], stats[6]);
    return 0;
}

/* ---- libFuzzer ------------------------------------------------------------- */

static char fuzz_home[256];

static void
remove_home(void)
{
    char cmd[300];
    lmq_fuzz_wire_close();
    if (fuzz_home[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_home);
        if (system(cmd) != 0)
            fprintf(stderr, "fuzz_wire: could not remove %s\n", fuzz_home);
    }
}

static void
make_home(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(fuzz_home, sizeof fuzz_home, "%s/lmqfuzz.XXXXXX",
             t && *t ? t : "/tmp");
    if (!mkdtemp(fuzz_home) || lmq_fuzz_wire_open(fuzz_home) != 0) {
        fprintf(stderr, "fuzz_wire: cannot open a home in %s: %s\n",
                fuzz_home, lmq_errmsg());
        abort();
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FUZZ_WIRE_SEEDS");
    if (dir) {
        for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) {
            char path[512];
            size_t n;
            uint8_t *b = seed_bytes(i, &n);
            snprintf(path, sizeof path, "%s/seed-%02zu", dir, i);
            FILE *f = fopen(path, "wb");
            if (!f || !b || fwrite(b, 1, n, f) != n) {
                fprintf(stderr, "fuzz_wire: cannot write %s\n", path);
                exit(1);
            }
            fclose(f);
            free(b);
        }
        exit(0);
    }
    make_home();
    atexit(remove_home);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[1024] = "";
    if (!fenv)
        make_home();
    if (inputs > 0 && inputs % 20000 == 0) {
        remove_home();
        make_home();
        inputs++;
    }
    if (lmq_fuzz_wire_one(data, size, why, sizeof why)) {
        fprintf(stderr, "fuzz_wire: malformed answer: %s\n", why);
        abort();
    }
    return 0;
}
