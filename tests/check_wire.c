/*
 * check_wire.c: the SQS wire layer (wire/) without a socket. Every action
 * of the table goes through lmq__sqs_decode() and lmq__sqs_execute() in both
 * protocols (AWS JSON 1.0; Query with XML answers, as POST forms, as GETs
 * and addressed by the request path), and the answers are checked for what
 * they say, not only for their status: a message sent comes back with the
 * same body, digests and attributes; errors carry the status, JSON __type,
 * x-amzn-query-error header and XML Code/Type of SQS-SEMANTICS §7, and leave
 * the home as it was. A few deterministic answers are compared byte for
 * byte with tests/data/wire/ *.exp (the request id normalised); set
 * LMQ_WIRE_REGEN=1 to rewrite them.
 *
 * The last TCase is the short mode of the wire fuzzer (tests/fuzz_wire.c):
 * a seeded mutation loop over valid requests of both protocols.
 */
#include "lmq_test.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>

#include "sqs_wire.h"

#ifndef LMQ_WIRE_DATA
#define LMQ_WIRE_DATA "tests/data/wire"
#endif

/* The short fuzz loop (tests/fuzz_wire.c). */
int lmq_fuzz_wire_open(const char *home);
void lmq_fuzz_wire_close(void);
int lmq_fuzz_wire_short(unsigned iterations, uint64_t seed, char *why,
                        size_t whylen);

#define HOST "localhost:9324"
#define BASE "http://" HOST "/000000000000/"
#define ACCT "000000000000"
#define ARN(q) "arn:aws:sqs:us-east-1:" ACCT ":" q

static lmq_env *env;
static sqs_ctx ctx;
static char started[512]; /* the last handle the task_started hook saw */
static int started_calls;

static void
task_started(void *arg, const char *handle)
{
    (void)arg;
    snprintf(started, sizeof started, "%s", handle);
    started_calls++;
}

static void
setup(void)
{
    lmq_test_tmp_setup();
    lmq_test_clock_setup();
    env = lmq_test_env();
    memset(&ctx, 0, sizeof ctx);
    ctx.env = env;
    ctx.account = ACCT;
    ctx.region = "us-east-1";
    ctx.public_url = NULL;
    ctx.task_started = task_started;
    ck_ok(lmq__sqs_ctx_init(&ctx));
    started[0] = '\0';
    started_calls = 0;
    ck_ok(lmq_queue_create(env, "q", NULL, NULL, NULL));
}

static void
teardown(void)
{
    lmq__sqs_ctx_fini(&ctx);
    lmq_env_close(env);
    env = NULL;
    lmq_test_tmp_teardown();
}

/* ---- requests -------------------------------------------------------------- */

/* What the last call answered (its body is parsed or returned, then freed). */
static struct {
    int status;
    char query_error[160];
    char code[96];
    const char *content_type;
} last;

static void
run(const sqs_http *h, unsigned flags, sqs_resp *resp)
{
    sqs_req *r = NULL;
    ck_assert_int_eq(lmq__sqs_decode(h, &r), 0);
    ck_assert_ptr_nonnull(r);
    lmq__sqs_execute(&ctx, r, resp, flags);
    lmq__sqs_req_free(r);
    ck_assert_msg(!resp->park, "unexpected park");
    last.status = resp->status;
    snprintf(last.query_error, sizeof last.query_error, "%s",
             resp->query_error);
    snprintf(last.code, sizeof last.code, "%s", resp->code);
    last.content_type = resp->content_type;
    ck_assert_ptr_nonnull(resp->body);
    ck_assert_uint_eq(resp->len, strlen(resp->body));
}

/* A JSON request with a raw body; returns the parsed answer. */
static json_t *
jraw(const char *action, const char *path, const char *body, size_t len)
{
    char target[128];
    snprintf(target, sizeof target, "AmazonSQS.%s", action);
    sqs_http h = {"POST", path, NULL, HOST, "application/x-amz-json-1.0",
                  target, 0, body, len};
    sqs_resp resp;
    run(&h, 0, &resp);
    ck_assert_str_eq(resp.content_type, "application/x-amz-json-1.0");
    json_error_t err;
    json_t *o = json_loadb(resp.body, resp.len, 0, &err);
    ck_assert_msg(o && json_is_object(o), "%s answered non-JSON: %s", action,
                  resp.body);
    lmq__sqs_resp_clear(&resp);
    return o;
}

/* A JSON request (in is stolen; NULL sends an empty body). */
static json_t *
jdo(const char *action, const char *path, json_t *in)
{
    char *body = in ? json_dumps(in, JSON_COMPACT) : NULL;
    json_decref(in);
    json_t *o = jraw(action, path, body ? body : "", body ? strlen(body) : 0);
    free(body);
    return o;
}

static json_t *
jok(const char *action, json_t *in)
{
    json_t *o = jdo(action, "/", in);
    char *s = json_dumps(o, 0);
    ck_assert_msg(last.status == 200, "%s: %d %s", action, last.status, s);
    free(s);
    ck_assert_str_eq(last.query_error, "");
    return o;
}

/* Assert a JSON error answer; type is the __type after '#'. */
static void
ck_jerr(json_t *o, int status, const char *type, const char *qerror)
{
    char *s = json_dumps(o, 0);
    ck_assert_msg(last.status == status, "status %d, expected %d: %s",
                  last.status, status, s);
    const char *t = json_string_value(json_object_get(o, "__type"));
    ck_assert_msg(t && strchr(t, '#') && strcmp(strchr(t, '#') + 1, type) == 0,
                  "__type %s, expected %s", t ? t : "(none)", type);
    ck_assert_msg(json_is_string(json_object_get(o, "message")),
                  "no message: %s", s);
    ck_assert_str_eq(last.query_error, qerror ? qerror : "");
    free(s);
    json_decref(o);
}

static void
jfail(const char *action, json_t *in, int status, const char *type,
      const char *qerror)
{
    ck_jerr(jdo(action, "/", in), status, type, qerror);
}

/* A Query request; returns the XML answer (malloc'd). */
static char *
qdo(const char *method, const char *path, const char *query, char *form)
{
    sqs_http h = {method, path, query, HOST,
                  form ? "application/x-www-form-urlencoded; charset=utf-8"
                       : NULL,
                  NULL, 0, form, form ? strlen(form) : 0};
    sqs_resp resp;
    run(&h, 0, &resp);
    free(form);
    ck_assert_str_eq(resp.content_type, "text/xml");
    ck_assert_msg(strncmp(resp.body, "<?xml version=\"1.0\"?>\n<", 23) == 0,
                  "not XML: %s", resp.body);
    ck_assert_str_eq(last.query_error, "");
    char *body = resp.body;
    resp.body = NULL;
    lmq__sqs_resp_clear(&resp);
    return body;
}

static char *
qok(char *form)
{
    char *x = qdo("POST", "/", NULL, form);
    ck_assert_msg(last.status == 200, "%d %s", last.status, x);
    return x;
}

/* Percent-encode s (space as '+', everything but unreserved escaped). */
static void
enc(char **out, size_t *n, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = realloc(*out, *n + len * 3 + 1);
    ck_assert_ptr_nonnull(o);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
            ch == '.' || ch == '~') {
            o[(*n)++] = (char)ch;
        } else if (ch == ' ') {
            o[(*n)++] = '+';
        } else {
            o[(*n)++] = '%';
            o[(*n)++] = hex[ch >> 4];
            o[(*n)++] = hex[ch & 15];
        }
    }
    o[*n] = '\0';
    *out = o;
}

/* Append len raw bytes. */
static void
app(char **out, size_t *n, const char *s, size_t len)
{
    char *o = realloc(*out, *n + len + 1);
    ck_assert_ptr_nonnull(o);
    memcpy(o + *n, s, len);
    *n += len;
    o[*n] = '\0';
    *out = o;
}

/* A form: Action=action&Version=...&k1=v1&..., NULL-terminated pairs. */
static char *
form(const char *action, ...)
{
    char *out = NULL;
    size_t n = 0;
    va_list ap;
    app(&out, &n, "Action=", 7);
    app(&out, &n, action, strlen(action));
    app(&out, &n, "&Version=2012-11-05", 19);
    va_start(ap, action);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        app(&out, &n, "&", 1);
        enc(&out, &n, k, strlen(k));
        app(&out, &n, "=", 1);
        enc(&out, &n, v, strlen(v));
    }
    va_end(ap);
    return out;
}

/* The text of the nth (0-based) <tag> element, unescaped (malloc'd), or
 * NULL. Elements of one name do not nest in SQS answers. */
static char *
xml_get(const char *xml, const char *tag, int nth)
{
    char open[128], close[128];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *p = xml;
    for (int i = 0;; i++) {
        p = strstr(p, open);
        if (!p)
            return NULL;
        p += strlen(open);
        if (i == nth)
            break;
    }
    const char *e = strstr(p, close);
    ck_assert_ptr_nonnull(e);
    char *o = malloc((size_t)(e - p) + 1);
    size_t k = 0;
    while (p < e) {
        if (*p != '&') {
            o[k++] = *p++;
            continue;
        }
        const char *semi = memchr(p, ';', (size_t)(e - p));
        ck_assert_ptr_nonnull(semi);
        size_t el = (size_t)(semi - p + 1);
        if (el == 5 && memcmp(p, "&amp;", 5) == 0)
            o[k++] = '&';
        else if (el == 4 && memcmp(p, "&lt;", 4) == 0)
            o[k++] = '<';
        else if (el == 4 && memcmp(p, "&gt;", 4) == 0)
            o[k++] = '>';
        else if (el == 6 && memcmp(p, "&quot;", 6) == 0)
            o[k++] = '"';
        else if (el == 6 && memcmp(p, "&apos;", 6) == 0)
            o[k++] = '\'';
        else if (p[1] == '#' && (p[2] == 'x' || p[2] == 'X'))
            o[k++] = (char)strtol(p + 3, NULL, 16);
        else if (p[1] == '#')
            o[k++] = (char)strtol(p + 2, NULL, 10);
        else
            ck_abort_msg("unknown entity in %s", xml);
        p = semi + 1;
    }
    o[k] = '\0';
    return o;
}

static int
xml_count(const char *xml, const char *tag)
{
    char open[128];
    int n = 0;
    snprintf(open, sizeof open, "<%s>", tag);
    for (const char *p = strstr(xml, open); p; p = strstr(p + 1, open))
        n++;
    return n;
}

#define ck_xml(xml, tag, nth, want)                                          \
    do {                                                                     \
        char *ck_xml_v_ = xml_get((xml), (tag), (nth));                      \
        ck_assert_msg(ck_xml_v_ && strcmp(ck_xml_v_, (want)) == 0,           \
                      "<%s>[%d] is %s, expected %s in %s", (tag), (nth),     \
                      ck_xml_v_ ? ck_xml_v_ : "(none)", (want), (xml));      \
        free(ck_xml_v_);                                                     \
    } while (0)

/* Assert an XML error answer and free it. */
static void
ck_qerr(char *xml, int status, const char *code, const char *type)
{
    ck_assert_msg(last.status == status, "status %d, expected %d: %s",
                  last.status, status, xml);
    ck_assert_msg(strstr(xml, "<ErrorResponse xmlns=\"" SQS_XMLNS "\">"),
                  "%s", xml);
    ck_xml(xml, "Code", 0, code);
    ck_xml(xml, "Type", 0, type);
    ck_assert_int_eq(xml_count(xml, "Message"), 1);
    ck_assert_int_eq(xml_count(xml, "RequestId"), 1);
    ck_assert_str_eq(last.code, code);
    free(xml);
}

static void
qfail(char *f, int status, const char *code)
{
    ck_qerr(qdo("POST", "/", NULL, f), status, code, "Sender");
}

static const char *
jstr(json_t *o, const char *path)
{
    /* "a.b.0.c": object members and array indexes. */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = o;
    for (char *save, *t = strtok_r(buf, ".", &save); t && v;
         t = strtok_r(NULL, ".", &save)) {
        if (json_is_array(v))
            v = json_array_get(v, strtoul(t, NULL, 10));
        else
            v = json_object_get(v, t);
    }
    return json_string_value(v);
}

#define ck_jstr(o, path, want)                                               \
    do {                                                                     \
        const char *ck_jstr_v_ = jstr((o), (path));                          \
        ck_assert_msg(ck_jstr_v_ && strcmp(ck_jstr_v_, (want)) == 0,         \
                      "%s is %s, expected %s", (path),                       \
                      ck_jstr_v_ ? ck_jstr_v_ : "(none)", (want));           \
    } while (0)

static void
md5hex(const void *p, size_t n, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    ck_assert(EVP_Digest(p, n, md, &mdlen, EVP_md5(), NULL));
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Visible + in flight + delayed messages of a queue (via the library). */
static long
nmsgs(const char *name)
{
    const char *names[] = {"ApproximateNumberOfMessages",
                           "ApproximateNumberOfMessagesNotVisible",
                           "ApproximateNumberOfMessagesDelayed", NULL};
    lmq_map *m;
    ck_ok(lmq_queue_get_attributes(env, name, names, &m));
    long v = 0;
    for (int i = 0; names[i]; i++)
        v += strtol(lmq_map_get(m, names[i]), NULL, 10);
    lmq_map_free(m);
    return v;
}

static size_t
nqueues(void)
{
    char **names;
    size_t n = 0;
    ck_ok(lmq_queue_list(env, NULL, 0, NULL, &names, NULL));
    while (names[n])
        n++;
    lmq_strv_free(names);
    return n;
}

static char *
attr(const char *queue, const char *name)
{
    const char *names[] = {name, NULL};
    lmq_map *m;
    ck_ok(lmq_queue_get_attributes(env, queue, names, &m));
    const char *v = lmq_map_get(m, name);
    char *s = strdup(v ? v : "");
    lmq_map_free(m);
    return s;
}

/* Send body to q over JSON; returns the MessageId (static). */
static void
jsend(const char *queue, const char *body)
{
    char url[256];
    snprintf(url, sizeof url, BASE "%s", queue);
    json_decref(jok("SendMessage", json_pack("{s:s,s:s}", "QueueUrl", url,
                                             "MessageBody", body)));
}

/* ---- create, URLs, tags ---------------------------------------------------- */

START_TEST(create_queue_and_get_url_in_both_protocols)
{
    json_t *o = jok("CreateQueue",
                    json_pack("{s:s,s:{s:s},s:{s:s}}", "QueueName", "jq",
                              "Attributes", "VisibilityTimeout", "45",
                              "tags", "team", "red"));
    ck_jstr(o, "QueueUrl", BASE "jq");
    json_decref(o);
    char *x = qok(form("CreateQueue", "QueueName", "xq", "Attribute.1.Name",
                       "DelaySeconds", "Attribute.1.Value", "3",
                       "Tag.1.Key", "team", "Tag.1.Value", "blue", NULL));
    ck_xml(x, "QueueUrl", 0, BASE "xq");
    ck_assert(strstr(x, "<CreateQueueResponse xmlns=\"" SQS_XMLNS
                        "\"><CreateQueueResult><QueueUrl>"));
    free(x);
    char *v = attr("jq", "VisibilityTimeout");
    ck_assert_str_eq(v, "45");
    free(v);
    v = attr("xq", "DelaySeconds");
    ck_assert_str_eq(v, "3");
    free(v);
    /* CreateQueue's tags are `tags` in JSON, Tag.N in Query. */
    o = jok("ListQueueTags", json_pack("{s:s}", "QueueUrl", BASE "jq"));
    ck_jstr(o, "Tags.team", "red");
    json_decref(o);
    x = qok(form("ListQueueTags", "QueueUrl", BASE "xq", NULL));
    ck_xml(x, "Key", 0, "team");
    ck_xml(x, "Value", 0, "blue");
    free(x);

    /* Idempotent with the same attributes, QueueNameExists with others. */
    o = jok("CreateQueue", json_pack("{s:s,s:{s:s}}", "QueueName", "jq",
                                     "Attributes", "VisibilityTimeout", "45"));
    ck_jstr(o, "QueueUrl", BASE "jq");
    json_decref(o);
    jfail("CreateQueue",
          json_pack("{s:s,s:{s:s}}", "QueueName", "jq", "Attributes",
                    "VisibilityTimeout", "46"),
          400, "QueueNameExists", "QueueAlreadyExists;Sender");
    qfail(form("CreateQueue", "QueueName", "xq", "Attribute.1.Name",
               "DelaySeconds", "Attribute.1.Value", "4", NULL),
          400, "QueueAlreadyExists");
    jfail("CreateQueue", json_pack("{s:s}", "QueueName", "bad name!"), 400,
          "InvalidParameterValueException", "InvalidParameterValue;Sender");

    /* GetQueueUrl. */
    o = jok("GetQueueUrl", json_pack("{s:s}", "QueueName", "xq"));
    ck_jstr(o, "QueueUrl", BASE "xq");
    json_decref(o);
    x = qok(form("GetQueueUrl", "QueueName", "jq", NULL));
    ck_xml(x, "QueueUrl", 0, BASE "jq");
    free(x);
    jfail("GetQueueUrl", json_pack("{s:s}", "QueueName", "nope"), 400,
          "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue;Sender");
    qfail(form("GetQueueUrl", "QueueName", "nope", NULL), 400,
          "AWS.SimpleQueueService.NonExistentQueue");
    jfail("GetQueueUrl",
          json_pack("{s:s,s:s}", "QueueName", "jq", "QueueOwnerAWSAccountId",
                    "111111111111"),
          400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue;Sender");

    /* A configured public URL wins over the request's Host. */
    ctx.public_url = "https://sqs.example.test/";
    o = jok("GetQueueUrl", json_pack("{s:s}", "QueueName", "jq"));
    ck_jstr(o, "QueueUrl", "https://sqs.example.test/000000000000/jq");
    json_decref(o);
    ctx.public_url = NULL;
}
END_TEST

START_TEST(tags_use_their_json_casing)
{
    json_decref(jok("TagQueue",
                    json_pack("{s:s,s:{s:s,s:s}}", "QueueUrl", BASE "q",
                              "Tags", "a", "1", "b", "2")));
    /* TagQueue's member is `Tags`: lower-case `tags` is not it. */
    jfail("TagQueue",
          json_pack("{s:s,s:{s:s}}", "QueueUrl", BASE "q", "tags", "c", "3"),
          400, "MissingRequiredParameterException", "MissingParameter;Sender");
    free(qok(form("TagQueue", "QueueUrl", BASE "q", "Tag.1.Key", "c",
                  "Tag.1.Value", "3 +=:/@ 4", NULL)));
    json_t *o = jok("ListQueueTags", json_pack("{s:s}", "QueueUrl", BASE "q"));
    ck_jstr(o, "Tags.a", "1");
    ck_jstr(o, "Tags.b", "2");
    ck_jstr(o, "Tags.c", "3 +=:/@ 4");
    ck_assert_int_eq(json_object_size(json_object_get(o, "Tags")), 3);
    json_decref(o);
    /* A tag that XML cannot carry is refused (it would break every
     * ListQueueTags answer in Query). */
    jfail("TagQueue",
          json_pack("{s:s,s:{s:s}}", "QueueUrl", BASE "q", "Tags",
                    "k\xef\xbf\xbf", "v"),
          400, "InvalidParameterValueException",
          "InvalidParameterValue;Sender");
    qfail(form("TagQueue", "QueueUrl", BASE "q", "Tag.1.Key", "k",
               "Tag.1.Value", "\xef\xbf\xbe", NULL),
          400, "InvalidParameterValue");
    json_decref(jok("UntagQueue", json_pack("{s:s,s:[s]}", "QueueUrl",
                                            BASE "q", "TagKeys", "a")));
    free(qok(form("UntagQueue", "QueueUrl", BASE "q", "TagKey.1", "b",
                  "TagKey.2", "zz", NULL)));
    char *x = qok(form("ListQueueTags", "QueueUrl", BASE "q", NULL));
    ck_assert_int_eq(xml_count(x, "Tag"), 1);
    ck_xml(x, "Key", 0, "c");
    ck_xml(x, "Value", 0, "3 +=:/@ 4");
    free(x);
    json_decref(jok("UntagQueue", json_pack("{s:s,s:[s]}", "QueueUrl",
                                            BASE "q", "TagKeys", "c")));
    /* No tags: no Tags key (SQS-SEMANTICS §2.14). */
    o = jok("ListQueueTags", json_pack("{s:s}", "QueueUrl", BASE "q"));
    ck_assert_int_eq(json_object_size(o), 0);
    json_decref(o);
}
END_TEST

START_TEST(list_queues_pages_in_both_protocols)
{
    const char *names[] = {"a1", "a2", "a3", "a4", "a5"};
    for (int i = 0; i < 5; i++)
        ck_ok(lmq_queue_create(env, names[i], NULL, NULL, NULL));
    /* Without MaxResults: everything, never a NextToken. */
    json_t *o = jok("ListQueues", json_pack("{s:s}", "QueueNamePrefix", "a"));
    ck_assert_int_eq(json_array_size(json_object_get(o, "QueueUrls")), 5);
    ck_assert_ptr_null(json_object_get(o, "NextToken"));
    json_decref(o);
    /* JSON pages of 2. */
    char *token = NULL;
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        json_t *in = json_pack("{s:s,s:i}", "QueueNamePrefix", "a",
                               "MaxResults", 2);
        if (token)
            json_object_set_new(in, "NextToken", json_string(token));
        free(token);
        token = NULL;
        o = jok("ListQueues", in);
        json_t *urls = json_object_get(o, "QueueUrls");
        for (size_t i = 0; i < json_array_size(urls); i++) {
            char want[64];
            snprintf(want, sizeof want, BASE "%s", names[seen++]);
            ck_assert_str_eq(json_string_value(json_array_get(urls, i)),
                             want);
        }
        const char *t = json_string_value(json_object_get(o, "NextToken"));
        ck_assert_int_eq(t != NULL, page < 2);
        token = t ? strdup(t) : NULL;
        json_decref(o);
    }
    ck_assert_int_eq(seen, 5);
    /* Query as a GET with the parameters in the query string. */
    char *x = qdo("GET", "/", "Action=ListQueues&Version=2012-11-05&"
                  "QueueNamePrefix=a&MaxResults=2", NULL);
    ck_assert_int_eq(last.status, 200);
    ck_assert_int_eq(xml_count(x, "QueueUrl"), 2);
    ck_xml(x, "QueueUrl", 0, BASE "a1");
    ck_xml(x, "QueueUrl", 1, BASE "a2");
    char *next = xml_get(x, "NextToken", 0);
    ck_assert_ptr_nonnull(next);
    free(x);
    char *f = form("ListQueues", "QueueNamePrefix", "a", "MaxResults", "10",
                   "NextToken", next, NULL);
    free(next);
    x = qdo("GET", "/", f, NULL);
    free(f);
    ck_assert_int_eq(xml_count(x, "QueueUrl"), 3);
    ck_xml(x, "QueueUrl", 2, BASE "a5");
    ck_assert_ptr_null(strstr(x, "<NextToken>"));
    free(x);
    /* No match: no QueueUrls key, an empty Result element. */
    o = jok("ListQueues", json_pack("{s:s}", "QueueNamePrefix", "zz"));
    ck_assert_int_eq(json_object_size(o), 0);
    json_decref(o);
    x = qok(form("ListQueues", "QueueNamePrefix", "zz", NULL));
    ck_assert(strstr(x, "<ListQueuesResult></ListQueuesResult>"));
    free(x);
    jfail("ListQueues", json_pack("{s:i}", "MaxResults", 1001), 400,
          "InvalidParameterValueException", "InvalidParameterValue;Sender");
    qfail(form("ListQueues", "NextToken", "garbage!", "MaxResults", "1",
               NULL),
          400, "InvalidParameterValue");
}
END_TEST

START_TEST(queue_attributes_in_both_protocols)
{
    json_t *o = jok("GetQueueAttributes",
                    json_pack("{s:s,s:[s]}", "QueueUrl", BASE "q",
                              "AttributeNames", "All"));
    ck_jstr(o, "Attributes.VisibilityTimeout", "30");
    ck_jstr(o, "Attributes.QueueArn", ARN("q"));
    ck_jstr(o, "Attributes.ApproximateNumberOfMessages", "0");
    json_decref(o);
    /* No names: no attributes. */
    o = jok("GetQueueAttributes", json_pack("{s:s}", "QueueUrl", BASE "q"));
    ck_assert_int_eq(json_object_size(o), 0);
    json_decref(o);
    json_decref(jok("SetQueueAttributes",
                    json_pack("{s:s,s:{s:s,s:s}}", "QueueUrl", BASE "q",
                              "Attributes", "VisibilityTimeout", "60",
                              "MaximumMessageSize", "2048")));
    char *x = qok(form("SetQueueAttributes", "QueueUrl", BASE "q",
                       "Attribute.1.Name", "DelaySeconds",
                       "Attribute.1.Value", "0", NULL));
    ck_assert_ptr_null(strstr(x, "SetQueueAttributesResult"));
    ck_assert(strstr(x, "<SetQueueAttributesResponse"));
    free(x);
    x = qok(form("GetQueueAttributes", "QueueUrl", BASE "q",
                 "AttributeName.1", "VisibilityTimeout", "AttributeName.2",
                 "MaximumMessageSize", NULL));
    ck_assert_int_eq(xml_count(x, "Attribute"), 2);
    ck_assert(strstr(x, "<Attribute><Name>VisibilityTimeout</Name>"
                        "<Value>60</Value></Attribute>"));
    ck_assert(strstr(x, "<Attribute><Name>MaximumMessageSize</Name>"
                        "<Value>2048</Value></Attribute>"));
    free(x);
    jfail("SetQueueAttributes",
          json_pack("{s:s,s:{s:s}}", "QueueUrl", BASE "q", "Attributes",
                    "NoSuchAttribute", "1"),
          400, "InvalidAttributeName", "InvalidAttributeName;Sender");
    qfail(form("SetQueueAttributes", "QueueUrl", BASE "q", "Attribute.1.Name",
               "VisibilityTimeout", "Attribute.1.Value", "99999", NULL),
          400, "InvalidAttributeValue");
    jfail("GetQueueAttributes",
          json_pack("{s:s,s:[s]}", "QueueUrl", BASE "q", "AttributeNames",
                    "Nope"),
          400, "InvalidAttributeName", "InvalidAttributeName;Sender");
    /* SetQueueAttributes requires Attributes. */
    qfail(form("SetQueueAttributes", "QueueUrl", BASE "q", NULL), 400,
          "MissingParameter");
    o = jok("GetQueueAttributes",
            json_pack("{s:s,s:[s]}", "QueueUrl", BASE "q", "AttributeNames",
                      "VisibilityTimeout"));
    ck_jstr(o, "Attributes.VisibilityTimeout", "60");
    json_decref(o);
}
END_TEST

/* ---- messages -------------------------------------------------------------- */

START_TEST(send_and_receive_round_trip_json)
{
    json_t *o = jok(
        "SendMessage",
        json_pack("{s:s,s:s,s:{s:{s:s,s:s},s:{s:s,s:s},s:{s:s,s:s}},"
                  "s:{s:{s:s,s:s}}}",
                  "QueueUrl", BASE "q", "MessageBody", "hello",
                  "MessageAttributes", "attribName1", "DataType", "String",
                  "StringValue", "attribValue 1", "customNumberTypeAttrib",
                  "DataType", "Number.float", "StringValue",
                  "4563442423554324324264524243.32543234", "binaryAttribute",
                  "DataType", "Binary", "BinaryValue",
                  "SGVsbG8gYmluYXJ5IHdvcmxkIQ==", "MessageSystemAttributes",
                  "AWSTraceHeader", "DataType", "String", "StringValue",
                  "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"));
    ck_jstr(o, "MD5OfMessageBody", "5d41402abc4b2a76b9719d911017c592");
    /* SQS-SEMANTICS §3.4 vectors. */
    ck_jstr(o, "MD5OfMessageAttributes", "c932db14a896c663f83c260297d594ff");
    ck_jstr(o, "MD5OfMessageSystemAttributes",
            "5f48eef650c1d0207456969c85af2fdd");
    ck_assert_ptr_null(json_object_get(o, "SequenceNumber"));
    char *id = strdup(jstr(o, "MessageId"));
    json_decref(o);

    o = jok("ReceiveMessage",
            json_pack("{s:s,s:[s],s:[s]}", "QueueUrl", BASE "q",
                      "MessageAttributeNames", "All", "AttributeNames",
                      "All"));
    json_t *m = json_array_get(json_object_get(o, "Messages"), 0);
    ck_assert_ptr_nonnull(m);
    ck_jstr(m, "MessageId", id);
    ck_jstr(m, "Body", "hello");
    ck_jstr(m, "MD5OfBody", "5d41402abc4b2a76b9719d911017c592");
    ck_jstr(m, "MD5OfMessageAttributes", "c932db14a896c663f83c260297d594ff");
    ck_jstr(m, "MessageAttributes.attribName1.StringValue", "attribValue 1");
    ck_jstr(m, "MessageAttributes.customNumberTypeAttrib.DataType",
            "Number.float");
    ck_jstr(m, "MessageAttributes.binaryAttribute.BinaryValue",
            "SGVsbG8gYmluYXJ5IHdvcmxkIQ==");
    ck_jstr(m, "MessageAttributes.binaryAttribute.DataType", "Binary");
    ck_jstr(m, "Attributes.ApproximateReceiveCount", "1");
    ck_jstr(m, "Attributes.SentTimestamp", "1767225600000");
    ck_jstr(m, "Attributes.AWSTraceHeader",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1");
    ck_assert_ptr_null(json_object_get(json_object_get(m, "Attributes"),
                                       "SequenceNumber"));
    char *rh = strdup(jstr(m, "ReceiptHandle"));
    json_decref(o);

    /* Nothing else visible: an empty receive has no Messages key. */
    o = jok("ReceiveMessage", json_pack("{s:s}", "QueueUrl", BASE "q"));
    ck_assert_int_eq(json_object_size(o), 0);
    json_decref(o);

    /* ChangeMessageVisibility 0 makes it visible again at once. */
    json_decref(jok("ChangeMessageVisibility",
                    json_pack("{s:s,s:s,s:i}", "QueueUrl", BASE "q",
                              "ReceiptHandle", rh, "VisibilityTimeout", 0)));
    free(rh);
    /* A subset of the attributes: the digest covers only those. */
    o = jok("ReceiveMessage",
            json_pack("{s:s,s:[s,s],s:[s]}", "QueueUrl", BASE "q",
                      "MessageAttributeNames", "attribName1", "nothere",
                      "MessageSystemAttributeNames",
                      "ApproximateReceiveCount"));
    m = json_array_get(json_object_get(o, "Messages"), 0);
    ck_jstr(m, "MD5OfMessageAttributes", "19e27d4e946b072f3f58da80d94fd778");
    ck_assert_int_eq(json_object_size(json_object_get(m, "MessageAttributes")),
                     1);
    ck_assert_int_eq(json_object_size(json_object_get(m, "Attributes")), 1);
    ck_jstr(m, "Attributes.ApproximateReceiveCount", "2");
    rh = strdup(jstr(m, "ReceiptHandle"));
    json_decref(o);
    json_decref(jok("DeleteMessage", json_pack("{s:s,s:s}", "QueueUrl",
                                               BASE "q", "ReceiptHandle", rh)));
    free(rh);
    ck_assert_int_eq(nmsgs("q"), 0);
    free(id);
}
END_TEST

START_TEST(md5_of_attributes_matches_recorded_vectors)
{
    /* SQS-SEMANTICS §3.4: on send, all; on receive, the returned subset. */
    json_t *o = jok(
        "SendMessage",
        json_pack("{s:s,s:s,s:{s:{s:s,s:s},s:{s:s,s:s},s:{s:s,s:s}}}",
                  "QueueUrl", BASE "q", "MessageBody", "test",
                  "MessageAttributes", "General", "DataType", "String",
                  "StringValue", "Kenobi", "Hello", "DataType", "String",
                  "StringValue", "There", "Help.Me", "DataType", "String",
                  "StringValue", "Me"));
    ck_jstr(o, "MD5OfMessageBody", "098f6bcd4621d373cade4e832627b4f6");
    ck_jstr(o, "MD5OfMessageAttributes", "4c360f3fdafd970e05fae2f149d997f5");
    json_decref(o);
    struct {
        const char *names[3];
        const char *md5;
        int count;
    } cases[] = {
        {{"General", "Hello", NULL}, "fca026605781cb4126a1e9044df24232", 2},
        {{"Hello", NULL, NULL}, "a311262e065454b75da111d535b8dacd", 1},
        {{"Hel.*", NULL, NULL}, "83fee93c1bcd8b9a5a923ffacdc636c7", 2},
        {{"All", NULL, NULL}, "4c360f3fdafd970e05fae2f149d997f5", 3},
        {{"Foo", "Help", NULL}, NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *names = json_array();
        for (int k = 0; k < 3 && cases[i].names[k]; k++)
            json_array_append_new(names, json_string(cases[i].names[k]));
        o = jok("ReceiveMessage",
                json_pack("{s:s,s:o,s:i}", "QueueUrl", BASE "q",
                          "MessageAttributeNames", names, "VisibilityTimeout",
                          0));
        json_t *m = json_array_get(json_object_get(o, "Messages"), 0);
        ck_assert_ptr_nonnull(m);
        if (cases[i].md5)
            ck_jstr(m, "MD5OfMessageAttributes", cases[i].md5);
        else
            ck_assert_ptr_null(json_object_get(m, "MD5OfMessageAttributes"));
        ck_assert_int_eq(
            json_object_size(json_object_get(m, "MessageAttributes")),
            cases[i].count);
        json_decref(o);
        /* The same subset over Query. */
        char *f = form("ReceiveMessage", "QueueUrl", BASE "q",
                       "VisibilityTimeout", "0", NULL);
        for (int k = 0; k < 3 && cases[i].names[k]; k++) {
            char key[64];
            snprintf(key, sizeof key, "&MessageAttributeName.%d=%s", k + 1,
                     cases[i].names[k]);
            f = realloc(f, strlen(f) + strlen(key) + 1);
            strcat(f, key);
        }
        char *x = qok(f);
        if (cases[i].md5)
            ck_xml(x, "MD5OfMessageAttributes", 0, cases[i].md5);
        else
            ck_assert_ptr_null(strstr(x, "MD5OfMessageAttributes"));
        ck_assert_int_eq(xml_count(x, "MessageAttribute"), cases[i].count);
        free(x);
    }
    /* Single-attribute vectors, one message each, through Query. */
    struct {
        const char *name, *type, *value, *md5;
    } one[] = {
        {"MyAttribute", "String", "foobar",
         "adb59cd4678ea5a855436b949cd07ab6"},
        {"Foo", "String", "Bar", "ae7155c6026991b6d54b11589678bf9c"},
        {"k", "String", "x", "a45daa70926828a2f0a1db3418e6feb4"},
        {"attr1", "Binary",
         "dHJhY2VwYXJlbnQeMDAtNzc0MDYyZDZjMzcwODFhNWEwYjliNWI4OGUzMDYyN2MtMmQy"
         "NDgyMjExZjY0ODlkYS0wMQ==",
         "8cbe4db156db8a94db8b801b7addb984"},
    };
    for (size_t i = 0; i < sizeof one / sizeof *one; i++) {
        int bin = strcmp(one[i].type, "Binary") == 0;
        char *x = qok(form("SendMessage", "QueueUrl", BASE "q", "MessageBody",
                           "v", "MessageAttribute.1.Name", one[i].name,
                           "MessageAttribute.1.Value.DataType", one[i].type,
                           bin ? "MessageAttribute.1.Value.BinaryValue"
                               : "MessageAttribute.1.Value.StringValue",
                           one[i].value, NULL));
        ck_xml(x, "MD5OfMessageAttributes", 0, one[i].md5);
        free(x);
    }
}
END_TEST

START_TEST(send_and_receive_round_trip_query)
{
    /* Send over Query (binary as base64), receive over both. */
    char *x = qok(form("SendMessage", "QueueUrl", BASE "q", "MessageBody",
                       "hi there", "MessageAttribute.1.Name", "a",
                       "MessageAttribute.1.Value.DataType", "String",
                       "MessageAttribute.1.Value.StringValue", "x",
                       "MessageAttribute.2.Name", "b",
                       "MessageAttribute.2.Value.DataType", "Binary",
                       "MessageAttribute.2.Value.BinaryValue", "AQID",
                       "DelaySeconds", "0", NULL));
    char md5[33];
    md5hex("hi there", 8, md5);
    ck_xml(x, "MD5OfMessageBody", 0, md5);
    char *mattr = xml_get(x, "MD5OfMessageAttributes", 0);
    char *id = xml_get(x, "MessageId", 0);
    ck_assert_ptr_nonnull(mattr);
    ck_assert_ptr_nonnull(id);
    ck_assert_ptr_null(strstr(x, "SequenceNumber"));
    free(x);

    x = qok(form("ReceiveMessage", "QueueUrl", BASE "q",
                 "MessageAttributeName.1", "All", "AttributeName.1",
                 "SentTimestamp", "AttributeName.2", "ApproximateReceiveCount",
                 "VisibilityTimeout", "0", NULL));
    ck_assert_int_eq(xml_count(x, "Message"), 1);
    ck_xml(x, "MessageId", 0, id);
    ck_xml(x, "Body", 0, "hi there");
    ck_xml(x, "MD5OfBody", 0, md5);
    ck_xml(x, "MD5OfMessageAttributes", 0, mattr);
    ck_assert(strstr(x, "<Attribute><Name>SentTimestamp</Name><Value>"
                        "1767225600000</Value></Attribute>"));
    ck_assert(strstr(x, "<Attribute><Name>ApproximateReceiveCount</Name>"
                        "<Value>1</Value></Attribute>"));
    ck_assert_int_eq(xml_count(x, "Attribute"), 2);
    ck_assert(strstr(x, "<MessageAttribute><Name>a</Name><Value>"
                        "<StringValue>x</StringValue><DataType>String"
                        "</DataType></Value></MessageAttribute>"));
    ck_assert(strstr(x, "<MessageAttribute><Name>b</Name><Value>"
                        "<BinaryValue>AQID</BinaryValue><DataType>Binary"
                        "</DataType></Value></MessageAttribute>"));
    free(x);
    json_t *o = jok("ReceiveMessage",
                    json_pack("{s:s,s:[s]}", "QueueUrl", BASE "q",
                              "MessageAttributeNames", "b"));
    json_t *m = json_array_get(json_object_get(o, "Messages"), 0);
    ck_jstr(m, "MessageId", id);
    ck_jstr(m, "MessageAttributes.b.BinaryValue", "AQID");
    ck_jstr(m, "MessageAttributes.b.DataType", "Binary");
    ck_assert_ptr_null(json_object_get(json_object_get(m, "MessageAttributes"),
                                       "a"));
    char *rh = strdup(jstr(m, "ReceiptHandle"));
    json_decref(o);
    /* ChangeMessageVisibility over Query keeps it in flight. */
    x = qok(form("ChangeMessageVisibility", "QueueUrl", BASE "q",
                 "ReceiptHandle", rh, "VisibilityTimeout", "100", NULL));
    ck_assert_ptr_null(strstr(x, "ChangeMessageVisibilityResult"));
    free(x);
    char *nv = attr("q", "ApproximateNumberOfMessagesNotVisible");
    ck_assert_str_eq(nv, "1");
    free(nv);
    /* DeleteMessage over Query; the handle goes through form encoding. */
    x = qok(form("DeleteMessage", "QueueUrl", BASE "q", "ReceiptHandle", rh,
                 NULL));
    ck_assert_ptr_null(strstr(x, "DeleteMessageResult"));
    free(x);
    ck_assert_int_eq(nmsgs("q"), 0);
    free(rh);
    free(id);
    free(mattr);

    /* An empty receive: an empty Result element. */
    x = qok(form("ReceiveMessage", "QueueUrl", BASE "q", NULL));
    ck_assert(strstr(x, "<ReceiveMessageResult></ReceiveMessageResult>") ||
              strstr(x, "<ReceiveMessageResult/>"));
    free(x);
}
END_TEST

START_TEST(bodies_round_trip_byte_exact_in_xml_and_json)
{
    /* CR must be &#xD; in XML, ]]> and <&>'" escaped, and a non-BMP
     * character (U+1F600) passes through as its UTF-8 bytes. */
    static const char body[] = "line1\r\nline2\r ]]> <&>'\" \xf0\x9f\x98\x80 "
                               "tab\there";
    char md5[33];
    md5hex(body, strlen(body), md5);
    char *x = qok(form("SendMessage", "QueueUrl", BASE "q", "MessageBody",
                       body, NULL));
    ck_xml(x, "MD5OfMessageBody", 0, md5);
    free(x);
    x = qok(form("ReceiveMessage", "QueueUrl", BASE "q", "VisibilityTimeout",
                 "0", NULL));
    ck_assert_ptr_null(strchr(x, '\r'));
    ck_assert_ptr_null(strstr(x, "]]>"));
    ck_assert(strstr(x, "line1&#xD;\nline2&#xD; ]]&gt; &lt;&amp;&gt;"));
    ck_assert(strstr(x, "\xf0\x9f\x98\x80"));
    ck_xml(x, "Body", 0, body);
    ck_xml(x, "MD5OfBody", 0, md5);
    free(x);
    json_t *o = jok("ReceiveMessage", json_pack("{s:s,s:i}", "QueueUrl",
                                                BASE "q", "VisibilityTimeout",
                                                0));
    json_t *m = json_array_get(json_object_get(o, "Messages"), 0);
    ck_jstr(m, "Body", body);
    ck_jstr(m, "MD5OfBody", md5);
    json_decref(o);

    /* The same over JSON in, XML out, with the emoji as a JSON escape. */
    static const char jbody[] =
        "{\"QueueUrl\":\"" BASE "q\",\"MessageBody\":\"a\\r\\ud83d\\ude00\"}";
    o = jraw("SendMessage", "/", jbody, strlen(jbody));
    ck_assert_int_eq(last.status, 200);
    md5hex("a\r\xf0\x9f\x98\x80", 6, md5);
    ck_jstr(o, "MD5OfMessageBody", md5);
    json_decref(o);
    ck_ok(lmq_queue_purge(env, "q"));

    /* A body with a character outside XML's Char set is refused. */
    jfail("SendMessage",
          json_pack("{s:s,s:s}", "QueueUrl", BASE "q", "MessageBody",
                    "bell\a"),
          400, "InvalidMessageContents", "InvalidMessageContents;Sender");
    qfail(form("SendMessage", "QueueUrl", BASE "q", "MessageBody", "nul\x01",
               NULL),
          400, "InvalidMessageContents");
    ck_assert_int_eq(nmsgs("q"), 0);
}
END_TEST

START_TEST(batches_report_successes_and_failures)
{
    json_t *o = jok(
        "SendMessageBatch",
        json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s,s:{s:{s:s,s:s}}},{s:s,s:s},"
                  "{s:s,s:s,s:{s:{s:s,s:s}}}]}",
                  "QueueUrl", BASE "q", "Entries", "Id", "ok1", "MessageBody",
                  "one", "Id", "badattr", "MessageBody", "two",
                  "MessageAttributes", "x", "DataType", "String",
                  "StringValue", "", "Id", "badbody", "MessageBody", "bad\x02",
                  "Id", "ok2", "MessageBody", "four", "MessageAttributes", "Foo",
                  "DataType", "String", "StringValue", "Bar"));
    json_t *ok = json_object_get(o, "Successful");
    json_t *failed = json_object_get(o, "Failed");
    ck_assert_int_eq(json_array_size(ok), 2);
    ck_assert_int_eq(json_array_size(failed), 2);
    ck_jstr(ok, "0.Id", "ok1");
    ck_jstr(ok, "0.MD5OfMessageBody", "f97c5d29941bfb1b2fdab0874906ab82");
    ck_jstr(ok, "1.Id", "ok2");
    ck_jstr(ok, "1.MD5OfMessageAttributes",
            "ae7155c6026991b6d54b11589678bf9c");
    for (size_t i = 0; i < 2; i++) {
        json_t *f = json_array_get(failed, i);
        const char *fid = jstr(f, "Id");
        ck_assert(json_is_true(json_object_get(f, "SenderFault")));
        ck_assert(json_is_string(json_object_get(f, "Message")));
        if (strcmp(fid, "badattr") == 0)
            ck_jstr(f, "Code", "InvalidParameterValue");
        else {
            ck_assert_str_eq(fid, "badbody");
            ck_jstr(f, "Code", "InvalidMessageContents");
        }
    }
    json_decref(o);
    ck_assert_int_eq(nmsgs("q"), 2);

    /* Query: both element kinds, SenderFault as true. */
    char *x = qok(form("SendMessageBatch", "QueueUrl", BASE "q",
                       "SendMessageBatchRequestEntry.1.Id", "a",
                       "SendMessageBatchRequestEntry.1.MessageBody", "A",
                       "SendMessageBatchRequestEntry.2.Id", "b",
                       "SendMessageBatchRequestEntry.2.MessageBody", "B",
                       "SendMessageBatchRequestEntry.2.DelaySeconds", "901",
                       NULL));
    ck_assert_int_eq(xml_count(x, "SendMessageBatchResultEntry"), 1);
    ck_assert_int_eq(xml_count(x, "BatchResultErrorEntry"), 1);
    ck_assert(strstr(x, "<BatchResultErrorEntry><Id>b</Id><SenderFault>true"
                        "</SenderFault><Code>InvalidParameterValue</Code>"));
    free(x);
    ck_assert_int_eq(nmsgs("q"), 3);

    /* Whole-batch errors. */
    jfail("SendMessageBatch",
          json_pack("{s:s,s:[]}", "QueueUrl", BASE "q", "Entries"), 400,
          "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest;Sender");
    jfail("SendMessageBatch",
          json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s}]}", "QueueUrl", BASE "q",
                    "Entries", "Id", "d", "MessageBody", "1", "Id", "d",
                    "MessageBody", "2"),
          400, "BatchEntryIdsNotDistinct",
          "AWS.SimpleQueueService.BatchEntryIdsNotDistinct;Sender");
    jfail("SendMessageBatch",
          json_pack("{s:s,s:[{s:s,s:s}]}", "QueueUrl", BASE "q", "Entries", "Id",
                    "bad id!", "MessageBody", "1"),
          400, "InvalidBatchEntryId",
          "AWS.SimpleQueueService.InvalidBatchEntryId;Sender");
    json_t *many = json_array();
    for (int i = 0; i < 11; i++) {
        char eid[8];
        snprintf(eid, sizeof eid, "e%d", i);
        json_array_append_new(many, json_pack("{s:s,s:s}", "Id", eid,
                                              "MessageBody", "m"));
    }
    jfail("SendMessageBatch",
          json_pack("{s:s,s:o}", "QueueUrl", BASE "q", "Entries", many), 400,
          "TooManyEntriesInBatchRequest",
          "AWS.SimpleQueueService.TooManyEntriesInBatchRequest;Sender");
    qfail(form("SendMessageBatch", "QueueUrl", BASE "q", NULL), 400,
          "MissingParameter");
    ck_assert_int_eq(nmsgs("q"), 3);

    /* Delete and change-visibility batches: good and garbage handles. */
    o = jok("ReceiveMessage", json_pack("{s:s,s:i}", "QueueUrl", BASE "q",
                                        "MaxNumberOfMessages", 10));
    json_t *msgs = json_object_get(o, "Messages");
    ck_assert_int_eq(json_array_size(msgs), 3);
    char *h0 = strdup(jstr(msgs, "0.ReceiptHandle"));
    char *h1 = strdup(jstr(msgs, "1.ReceiptHandle"));
    char *h2 = strdup(jstr(msgs, "2.ReceiptHandle"));
    json_decref(o);
    o = jok("ChangeMessageVisibilityBatch",
            json_pack("{s:s,s:[{s:s,s:s,s:i},{s:s,s:s},{s:s,s:s,s:i}]}",
                      "QueueUrl", BASE "q", "Entries", "Id", "c0", "ReceiptHandle",
                      h0, "VisibilityTimeout", 0, "Id", "c1", "ReceiptHandle",
                      h1, "Id", "c2", "ReceiptHandle", "garbage", "VisibilityTimeout",
                      5));
    ck_assert_int_eq(json_array_size(json_object_get(o, "Successful")), 1);
    ck_jstr(o, "Successful.0.Id", "c0");
    ck_assert_int_eq(json_array_size(json_object_get(o, "Failed")), 2);
    ck_jstr(o, "Failed.0.Id", "c1");
    ck_jstr(o, "Failed.0.Code", "MissingParameter");
    ck_jstr(o, "Failed.1.Id", "c2");
    ck_jstr(o, "Failed.1.Code", "ReceiptHandleIsInvalid");
    ck_assert(json_is_true(json_object_get(json_array_get(
        json_object_get(o, "Failed"), 1), "SenderFault")));
    json_decref(o);
    x = qok(form("ChangeMessageVisibilityBatch", "QueueUrl", BASE "q",
                 "ChangeMessageVisibilityBatchRequestEntry.1.Id", "x1",
                 "ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle",
                 h1,
                 "ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout",
                 "100", NULL));
    ck_assert(strstr(x, "<ChangeMessageVisibilityBatchResultEntry><Id>x1"
                        "</Id></ChangeMessageVisibilityBatchResultEntry>"));
    ck_assert_int_eq(xml_count(x, "BatchResultErrorEntry"), 0);
    free(x);
    x = qok(form("DeleteMessageBatch", "QueueUrl", BASE "q",
                 "DeleteMessageBatchRequestEntry.1.Id", "d1",
                 "DeleteMessageBatchRequestEntry.1.ReceiptHandle", h1,
                 "DeleteMessageBatchRequestEntry.2.Id", "d2",
                 "DeleteMessageBatchRequestEntry.2.ReceiptHandle", "AQEBjunk",
                 NULL));
    ck_assert(strstr(x, "<DeleteMessageBatchResultEntry><Id>d1</Id>"
                        "</DeleteMessageBatchResultEntry>"));
    ck_assert(strstr(x, "<BatchResultErrorEntry><Id>d2</Id><SenderFault>"
                        "true</SenderFault><Code>ReceiptHandleIsInvalid"
                        "</Code>"));
    free(x);
    o = jok("DeleteMessageBatch",
            json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s}]}", "QueueUrl", BASE "q",
                      "Entries", "Id", "e0", "ReceiptHandle", h2, "Id", "e1",
                      "ReceiptHandle", "zzz"));
    ck_jstr(o, "Successful.0.Id", "e0");
    ck_jstr(o, "Failed.0.Id", "e1");
    ck_jstr(o, "Failed.0.Code", "ReceiptHandleIsInvalid");
    json_decref(o);
    ck_assert_int_eq(nmsgs("q"), 1);
    free(h0);
    free(h1);
    free(h2);
}
END_TEST

START_TEST(fifo_sequence_numbers_in_both_protocols)
{
    json_t *o = jok("CreateQueue",
                    json_pack("{s:s,s:{s:s,s:s}}", "QueueName", "f.fifo",
                              "Attributes", "FifoQueue", "true",
                              "ContentBasedDeduplication", "true"));
    ck_jstr(o, "QueueUrl", BASE "f.fifo");
    json_decref(o);
    o = jok("SendMessage", json_pack("{s:s,s:s,s:s}", "QueueUrl",
                                     BASE "f.fifo", "MessageBody", "first",
                                     "MessageGroupId", "g"));
    char *s1 = strdup(jstr(o, "SequenceNumber"));
    json_decref(o);
    char *x = qok(form("SendMessage", "QueueUrl", BASE "f.fifo",
                       "MessageBody", "second", "MessageGroupId", "g",
                       "MessageDeduplicationId", "d2", NULL));
    char *s2 = xml_get(x, "SequenceNumber", 0);
    free(x);
    ck_assert_ptr_nonnull(s2);
    ck_assert_int_gt(strlen(s1), 0);
    ck_assert_uint_eq(strspn(s1, "0123456789"), strlen(s1));
    ck_assert_msg(strlen(s1) < strlen(s2) ||
                      (strlen(s1) == strlen(s2) && strcmp(s1, s2) < 0),
                  "%s !< %s", s1, s2);
    o = jok("SendMessageBatch",
            json_pack("{s:s,s:[{s:s,s:s,s:s},{s:s,s:s,s:s}]}", "QueueUrl",
                      BASE "f.fifo", "Entries", "Id", "b1", "MessageBody",
                      "third", "MessageGroupId", "g", "Id", "b2",
                      "MessageBody", "fourth",
                      "MessageGroupId", "g"));
    ck_assert_int_eq(json_array_size(json_object_get(o, "Successful")), 2);
    ck_assert_ptr_nonnull(jstr(o, "Successful.0.SequenceNumber"));
    ck_assert_ptr_nonnull(jstr(o, "Successful.1.SequenceNumber"));
    json_decref(o);
    /* FIFO rules come from the library: no group id. */
    jfail("SendMessage",
          json_pack("{s:s,s:s}", "QueueUrl", BASE "f.fifo", "MessageBody",
                    "x"),
          400, "MissingRequiredParameterException", "MissingParameter;Sender");

    o = jok("ReceiveMessage",
            json_pack("{s:s,s:[s],s:i}", "QueueUrl", BASE "f.fifo",
                      "AttributeNames", "All", "MaxNumberOfMessages", 10));
    json_t *msgs = json_object_get(o, "Messages");
    ck_assert_int_eq(json_array_size(msgs), 4);
    ck_jstr(msgs, "0.Body", "first");
    ck_jstr(msgs, "0.Attributes.SequenceNumber", s1);
    ck_jstr(msgs, "0.Attributes.MessageGroupId", "g");
    ck_jstr(msgs, "1.Body", "second");
    ck_jstr(msgs, "1.Attributes.SequenceNumber", s2);
    ck_jstr(msgs, "1.Attributes.MessageDeduplicationId", "d2");
    ck_jstr(msgs, "3.Body", "fourth");
    json_decref(o);
    free(s1);
    free(s2);
}
END_TEST

START_TEST(purge_delete_queue_and_path_addressing)
{
    /* Query addressed by the request path, no QueueUrl (Java v1). */
    char *x = qdo("POST", "/000000000000/q", NULL,
                  form("SendMessage", "MessageBody", "by path", NULL));
    ck_assert_int_eq(last.status, 200);
    free(x);
    ck_assert_int_eq(nmsgs("q"), 1);
    /* JSON posted to the queue path (the PHP SDK). */
    json_t *o = jdo("ReceiveMessage", "/000000000000/q", json_object());
    ck_assert_int_eq(last.status, 200);
    ck_jstr(o, "Messages.0.Body", "by path");
    json_decref(o);
    /* A GET with everything in the query string, addressed by path. */
    x = qdo("GET", "/000000000000/q",
            "Action=GetQueueAttributes&AttributeName.1=QueueArn", NULL);
    ck_assert_int_eq(last.status, 200);
    ck_assert(strstr(x, "<Value>" ARN("q") "</Value>"));
    free(x);
    /* QueueUrl wins over the path; its host is ignored. */
    ck_ok(lmq_queue_create(env, "other", NULL, NULL, NULL));
    x = qdo("POST", "/000000000000/q", NULL,
            form("SendMessage", "QueueUrl",
                 "https://elsewhere.example/000000000000/other",
                 "MessageBody", "m", NULL));
    ck_assert_int_eq(last.status, 200);
    free(x);
    ck_assert_int_eq(nmsgs("other"), 1);

    /* PurgeQueue, then a second one within 60 s: 403 in both. */
    free(qok(form("PurgeQueue", "QueueUrl", BASE "q", NULL)));
    ck_assert_int_eq(nmsgs("q"), 0);
    jsend("q", "after purge");
    jfail("PurgeQueue", json_pack("{s:s}", "QueueUrl", BASE "q"), 403,
          "PurgeQueueInProgress",
          "AWS.SimpleQueueService.PurgeQueueInProgress;Sender");
    qfail(form("PurgeQueue", "QueueUrl", BASE "q", NULL), 403,
          "AWS.SimpleQueueService.PurgeQueueInProgress");
    ck_assert_int_eq(nmsgs("q"), 1);
    lmq_test_clock_advance(61000);
    json_decref(jok("PurgeQueue", json_pack("{s:s}", "QueueUrl", BASE "q")));
    ck_assert_int_eq(nmsgs("q"), 0);

    /* DeleteQueue over both; then the queue is gone. */
    json_decref(jok("DeleteQueue", json_pack("{s:s}", "QueueUrl", BASE "q")));
    free(qok(form("DeleteQueue", "QueueUrl", BASE "other", NULL)));
    ck_assert_uint_eq(nqueues(), 0);
    jfail("SendMessage",
          json_pack("{s:s,s:s}", "QueueUrl", BASE "q", "MessageBody", "x"),
          400, "QueueDoesNotExist",
          "AWS.SimpleQueueService.NonExistentQueue;Sender");
    qfail(form("DeleteQueue", "QueueUrl", BASE "other", NULL), 400,
          "AWS.SimpleQueueService.NonExistentQueue");
    jfail("CreateQueue", json_pack("{s:s}", "QueueName", "q"), 400,
          "QueueDeletedRecently",
          "AWS.SimpleQueueService.QueueDeletedRecently;Sender");
    ck_assert_uint_eq(nqueues(), 0);
}
END_TEST

/* ---- DLQ, permissions, move tasks ------------------------------------------ */

static void
make_dlq_pair(void)
{
    json_decref(jok("CreateQueue", json_pack("{s:s}", "QueueName", "dlq")));
    json_decref(jok(
        "CreateQueue",
        json_pack("{s:s,s:{s:s}}", "QueueName", "src", "Attributes",
                  "RedrivePolicy",
                  "{\"deadLetterTargetArn\":\"" ARN("dlq") "\","
                  "\"maxReceiveCount\":1}")));
}

START_TEST(dead_letter_sources_use_queueUrls)
{
    make_dlq_pair();
    json_t *o = jok("ListDeadLetterSourceQueues",
                    json_pack("{s:s}", "QueueUrl", BASE "dlq"));
    ck_assert_ptr_null(json_object_get(o, "QueueUrls"));
    ck_assert_int_eq(json_array_size(json_object_get(o, "queueUrls")), 1);
    ck_jstr(o, "queueUrls.0", BASE "src");
    json_decref(o);
    char *x = qok(form("ListDeadLetterSourceQueues", "QueueUrl", BASE "dlq",
                       "MaxResults", "1", NULL));
    ck_assert(strstr(x, "<ListDeadLetterSourceQueuesResult><QueueUrl>" BASE
                        "src</QueueUrl>"));
    free(x);
    /* No sources: queueUrls is required, so present and empty. */
    o = jok("ListDeadLetterSourceQueues",
            json_pack("{s:s}", "QueueUrl", BASE "q"));
    ck_assert(json_is_array(json_object_get(o, "queueUrls")));
    ck_assert_int_eq(json_array_size(json_object_get(o, "queueUrls")), 0);
    json_decref(o);
    jfail("ListDeadLetterSourceQueues",
          json_pack("{s:s}", "QueueUrl", BASE "nope"), 400,
          "QueueDoesNotExist",
          "AWS.SimpleQueueService.NonExistentQueue;Sender");
}
END_TEST

/* A Policy must be a queue policy (issue 22); a malformed one changes
 * nothing. AccessDenied is coral's AccessDeniedException in JSON. */
START_TEST(malformed_policy_refused)
{
    static const char *const bad[] = {
        "not json", "{}", "{\"Statement\":[{\"Effect\":\"Allow\","
        "\"Action\":\"sqs:*\",\"Resource\":\"*\"}]}", /* no Principal */
        /* what lmqd cannot evaluate: an unknown key, operator, variable */
        "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\","
        "\"Action\":\"sqs:*\",\"Condition\":{\"StringEquals\":"
        "{\"aws:PrincipalOrgID\":\"o-1\"}}}}",
        "{\"Statement\":{\"Effect\":\"Deny\",\"Principal\":\"*\","
        "\"Action\":\"sqs:*\",\"Condition\":{\"BinaryEquals\":"
        "{\"aws:username\":\"eA==\"}}}}",
        "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\","
        "\"Principal\":\"*\",\"Action\":\"sqs:*\",\"Resource\":"
        "\"arn:aws:sqs:*:*:${aws:PrincipalTag/team}\"}}",
    };
    const char *good = "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":"
                       "\"*\",\"Action\":\"sqs:SendMessage\"}}";
    json_decref(jok("SetQueueAttributes",
                    json_pack("{s:s,s:{s:s}}", "QueueUrl", BASE "q",
                              "Attributes", "Policy", good)));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        jfail("SetQueueAttributes",
              json_pack("{s:s,s:{s:s}}", "QueueUrl", BASE "q", "Attributes",
                        "Policy", bad[i]),
              400, "InvalidAttributeValue",
              "InvalidAttributeValue;Sender");
        jfail("CreateQueue",
              json_pack("{s:s,s:{s:s}}", "QueueName", "q-new", "Attributes",
                        "Policy", bad[i]),
              400, "InvalidAttributeValue",
              "InvalidAttributeValue;Sender");
    }
    char *pol = attr("q", "Policy");
    ck_assert_str_eq(pol, good);
    free(pol);
    sqs_resp r;
    lmq__sqs_encode_error(SQS_PROTO_JSON, "rid", 403, "AccessDenied",
                          "AccessDenied", "User: x is not authorized", &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_str_eq(r.query_error, "AccessDenied;Sender");
    ck_assert_ptr_nonnull(strstr(
        r.body, "\"com.amazon.coral.service#AccessDeniedException\""));
    lmq__sqs_resp_clear(&r);
}
END_TEST

START_TEST(permissions_edit_the_policy)
{
    json_decref(jok("AddPermission",
                    json_pack("{s:s,s:s,s:[s],s:[s]}", "QueueUrl", BASE "q",
                              "Label", "L1", "AWSAccountIds", "111122223333",
                              "Actions", "SendMessage")));
    char *x = qok(form("AddPermission", "QueueUrl", BASE "q", "Label", "L2",
                       "AWSAccountId.1", "444455556666", "AWSAccountId.2",
                       "777788889999", "ActionName.1", "ReceiveMessage",
                       "ActionName.2", "DeleteMessage", NULL));
    ck_assert_ptr_null(strstr(x, "AddPermissionResult"));
    free(x);
    char *pol = attr("q", "Policy");
    json_t *p = json_loads(pol, 0, NULL);
    ck_assert_msg(p, "Policy is not JSON: %s", pol);
    free(pol);
    json_t *st = json_object_get(p, "Statement");
    ck_assert_int_eq(json_array_size(st), 2);
    ck_jstr(st, "0.Sid", "L1");
    ck_jstr(st, "0.Effect", "Allow");
    ck_jstr(st, "0.Resource", ARN("q"));
    ck_assert_str_eq(
        json_string_value(json_array_get(
            json_object_get(json_object_get(json_array_get(st, 0),
                                            "Principal"),
                            "AWS"),
            0)),
        "arn:aws:iam::111122223333:root");
    ck_jstr(st, "1.Sid", "L2");
    ck_assert_int_eq(json_array_size(json_object_get(json_array_get(st, 1),
                                                     "Action")),
                     2);
    ck_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(json_array_get(st, 1), "Action"), 1)),
                     "SQS:DeleteMessage");
    json_decref(p);
    /* GetQueueAttributes shows it over the wire too. */
    json_t *o = jok("GetQueueAttributes",
                    json_pack("{s:s,s:[s]}", "QueueUrl", BASE "q",
                              "AttributeNames", "Policy"));
    ck_assert(strstr(jstr(o, "Attributes.Policy"), "\"Sid\":\"L2\""));
    json_decref(o);

    jfail("AddPermission",
          json_pack("{s:s,s:s,s:[s],s:[s]}", "QueueUrl", BASE "q", "Label",
                    "L1", "AWSAccountIds", "111122223333", "Actions",
                    "SendMessage"),
          400, "InvalidParameterValueException",
          "InvalidParameterValue;Sender");
    qfail(form("AddPermission", "QueueUrl", BASE "q", "Label", "L3",
               "AWSAccountId.1", "111122223333", "ActionName.1", "Fly",
               NULL),
          400, "InvalidParameterValue");
    qfail(form("AddPermission", "QueueUrl", BASE "q", "Label", "L3",
               "ActionName.1", "SendMessage", NULL),
          400, "MissingParameter");

    json_decref(jok("RemovePermission", json_pack("{s:s,s:s}", "QueueUrl",
                                                  BASE "q", "Label", "L1")));
    pol = attr("q", "Policy");
    ck_assert_ptr_null(strstr(pol, "\"L1\""));
    ck_assert(strstr(pol, "\"L2\""));
    free(pol);
    free(qok(form("RemovePermission", "QueueUrl", BASE "q", "Label", "L2",
                  NULL)));
    pol = attr("q", "Policy");
    ck_assert_str_eq(pol, "");
    free(pol);
    qfail(form("RemovePermission", "QueueUrl", BASE "q", "Label", "L2", NULL),
          400, "InvalidParameterValue");

    /* A Policy lmqd cannot evaluate, stored by a program (which does not
     * check): AddPermission refuses to add to it, naming why, and leaves
     * it as it was. */
    const char *broken =
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\","
        "\"Action\":\"sqs:*\",\"Condition\":{\"NumericLessThan\":"
        "{\"aws:PrincipalOrgID\":\"1\"}}}]}";
    lmq_map *m = lmq_map_new();
    ck_assert_int_eq(lmq_map_set(m, "Policy", broken), 0);
    ck_assert_int_eq(lmq_queue_set_attributes(env, "q", m), 0);
    lmq_map_free(m);
    json_t *e = jdo("AddPermission", "/",
                    json_pack("{s:s,s:s,s:[s],s:[s]}", "QueueUrl", BASE "q",
                              "Label", "L4", "AWSAccountIds", "111122223333",
                              "Actions", "SendMessage"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    ck_assert_msg(msg && strstr(msg, "condition key aws:PrincipalOrgID is "
                                     "not one lmqd knows"),
                  "AddPermission on a broken Policy: %s", msg ? msg : "-");
    ck_jerr(e, 400, "InvalidParameterValueException",
            "InvalidParameterValue;Sender");
    pol = attr("q", "Policy");
    ck_assert_str_eq(pol, broken);
    free(pol);
}
END_TEST

START_TEST(move_tasks_start_list_cancel)
{
    make_dlq_pair();
    /* One message into the DLQ: received once, then the next receive
     * moves it. */
    jsend("src", "to the dlq");
    json_decref(jok("ReceiveMessage", json_pack("{s:s,s:i}", "QueueUrl",
                                                BASE "src",
                                                "VisibilityTimeout", 0)));
    json_t *o = jok("ReceiveMessage", json_pack("{s:s}", "QueueUrl",
                                                BASE "src"));
    ck_assert_int_eq(json_object_size(o), 0);
    json_decref(o);
    ck_assert_int_eq(nmsgs("dlq"), 1);

    jfail("StartMessageMoveTask", json_pack("{s:s}", "SourceArn", ARN("src")),
          400, "InvalidParameterValueException",
          "InvalidParameterValue;Sender");
    jfail("StartMessageMoveTask",
          json_pack("{s:s,s:s}", "SourceArn", ARN("dlq"), "DestinationArn",
                    ARN("nope")),
          404, "ResourceNotFoundException",
          "ResourceNotFoundException;Sender");
    ck_assert_int_eq(started_calls, 0);

    o = jok("StartMessageMoveTask", json_pack("{s:s}", "SourceArn",
                                              ARN("dlq")));
    const char *h = jstr(o, "TaskHandle");
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(started_calls, 1);
    ck_assert_str_eq(started, h);
    json_decref(o);

    o = jok("ListMessageMoveTasks", json_pack("{s:s}", "SourceArn",
                                              ARN("dlq")));
    ck_jstr(o, "Results.0.Status", "RUNNING");
    ck_jstr(o, "Results.0.TaskHandle", started);
    ck_jstr(o, "Results.0.SourceArn", ARN("dlq"));
    ck_assert(json_is_integer(json_object_get(
        json_array_get(json_object_get(o, "Results"), 0),
        "ApproximateNumberOfMessagesToMove")));
    json_decref(o);

    /* The daemon runs started tasks; here the test does. */
    int status = -1;
    ck_ok(lmq_move_task_run(env, started, NULL, NULL, &status));
    ck_assert_int_eq(status, LMQ_MOVE_COMPLETED);
    ck_assert_int_eq(nmsgs("dlq"), 0);
    ck_assert_int_eq(nmsgs("src"), 1);

    char *x = qok(form("ListMessageMoveTasks", "SourceArn", ARN("dlq"),
                       "MaxResults", "10", NULL));
    ck_assert_int_eq(xml_count(x, "ListMessageMoveTasksResultEntry"), 1);
    ck_xml(x, "Status", 0, "COMPLETED");
    ck_xml(x, "ApproximateNumberOfMessagesMoved", 0, "1");
    ck_xml(x, "ApproximateNumberOfMessagesToMove", 0, "1");
    ck_assert_ptr_null(strstr(x, "<TaskHandle>"));
    free(x);
    o = jok("ListMessageMoveTasks", json_pack("{s:s}", "SourceArn",
                                              ARN("dlq")));
    json_t *t = json_array_get(json_object_get(o, "Results"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         t, "ApproximateNumberOfMessagesMoved")),
                     1);
    ck_assert(json_is_integer(json_object_get(t, "StartedTimestamp")));
    ck_assert_ptr_null(json_object_get(t, "TaskHandle"));
    json_decref(o);

    /* Start over Query, cancel before it runs. */
    x = qok(form("StartMessageMoveTask", "SourceArn", ARN("dlq"),
                 "DestinationArn", ARN("src"), "MaxNumberOfMessagesPerSecond",
                 "5", NULL));
    char *h2 = xml_get(x, "TaskHandle", 0);
    free(x);
    ck_assert_ptr_nonnull(h2);
    ck_assert_str_eq(started, h2);
    ck_assert_int_eq(started_calls, 2);
    o = jok("ListMessageMoveTasks", json_pack("{s:s}", "SourceArn",
                                              ARN("dlq")));
    ck_jstr(o, "Results.0.DestinationArn", ARN("src"));
    ck_assert_int_eq(
        json_integer_value(json_object_get(
            json_array_get(json_object_get(o, "Results"), 0),
            "MaxNumberOfMessagesPerSecond")),
        5);
    json_decref(o);
    o = jok("CancelMessageMoveTask", json_pack("{s:s}", "TaskHandle", h2));
    ck_assert(json_is_integer(
        json_object_get(o, "ApproximateNumberOfMessagesMoved")));
    json_decref(o);
    /* Not RUNNING any more. */
    qfail(form("CancelMessageMoveTask", "TaskHandle", h2, NULL), 400,
          "InvalidParameterValue");
    free(h2);
    /* A third, cancelled over Query. */
    o = jok("StartMessageMoveTask", json_pack("{s:s}", "SourceArn",
                                              ARN("dlq")));
    x = qok(form("CancelMessageMoveTask", "TaskHandle", jstr(o, "TaskHandle"),
                 NULL));
    json_decref(o);
    ck_xml(x, "ApproximateNumberOfMessagesMoved", 0, "0");
    free(x);
    o = jok("ListMessageMoveTasks", json_pack("{s:s,s:i}", "SourceArn",
                                              ARN("dlq"), "MaxResults", 10));
    ck_assert_int_eq(json_array_size(json_object_get(o, "Results")), 3);
    ck_assert_str_ne(jstr(o, "Results.0.Status"), "RUNNING");
    ck_jstr(o, "Results.2.Status", "COMPLETED");
    json_decref(o);
    jfail("CancelMessageMoveTask", json_pack("{s:s}", "TaskHandle", "garbage"),
          400, "InvalidParameterValueException",
          "InvalidParameterValue;Sender");
    jfail("ListMessageMoveTasks", json_pack("{s:s}", "SourceArn", ARN("nope")),
          404, "ResourceNotFoundException",
          "ResourceNotFoundException;Sender");
}
END_TEST

/* ---- long polls ------------------------------------------------------------ */

START_TEST(receive_parks_then_answers)
{
    for (int proto = 0; proto < 2; proto++) {
        sqs_http h;
        char *body;
        if (proto == 0) {
            body = strdup("{\"QueueUrl\":\"" BASE "q\","
                          "\"WaitTimeSeconds\":5}");
            h = (sqs_http){"POST", "/", NULL, HOST,
                           "application/x-amz-json-1.0",
                           "AmazonSQS.ReceiveMessage", 0, body, strlen(body)};
        } else {
            body = form("ReceiveMessage", "QueueUrl", BASE "q",
                        "WaitTimeSeconds", "5", NULL);
            h = (sqs_http){"POST", "/", NULL, HOST,
                           "application/x-www-form-urlencoded", NULL, 0, body,
                           strlen(body)};
        }
        sqs_req *r;
        sqs_resp resp;
        ck_ok(lmq__sqs_decode(&h, &r));
        ck_assert_int_eq(lmq__sqs_req_proto(r), proto);
        ck_assert_str_eq(lmq__sqs_req_action(r), "ReceiveMessage");
        ck_assert_str_eq(lmq__sqs_req_queue(r), "q");
        ck_assert_int_eq(lmq__sqs_req_readonly(r), 0);
        lmq__sqs_execute(&ctx, r, &resp, SQS_EXEC_PARK);
        ck_assert_int_eq(resp.park, 1);
        ck_assert_int_eq(resp.park_wait_ms, 5000);
        ck_assert_ptr_nonnull(resp.park_queue);
        ck_assert_str_eq(lmq_queue_name(resp.park_queue), "q");
        ck_assert_ptr_null(resp.body);
        lmq__sqs_resp_clear(&resp);
        /* Still nothing: parks again. Then a send, and it answers. */
        lmq__sqs_execute(&ctx, r, &resp, SQS_EXEC_PARK);
        ck_assert_int_eq(resp.park, 1);
        lmq__sqs_resp_clear(&resp);
        jsend("q", proto ? "for query" : "for json");
        lmq__sqs_execute(&ctx, r, &resp, SQS_EXEC_PARK);
        ck_assert_int_eq(resp.park, 0);
        ck_assert_int_eq(resp.status, 200);
        ck_assert(strstr(resp.body, proto ? "for query" : "for json"));
        lmq__sqs_resp_clear(&resp);
        /* The deadline's empty answer. */
        lmq__sqs_encode_empty_receive(r, &resp);
        ck_assert_int_eq(resp.status, 200);
        if (proto == 0)
            ck_assert_str_eq(resp.body, "{}");
        else
            ck_assert(strstr(resp.body, "<ReceiveMessageResponse") &&
                      !strstr(resp.body, "<Message>"));
        lmq__sqs_resp_clear(&resp);
        lmq__sqs_req_free(r);
        free(body);
    }
    /* A short poll (WaitTimeSeconds 0) never parks. */
    char *body = strdup("{\"QueueUrl\":\"" BASE "q\",\"WaitTimeSeconds\":0}");
    sqs_http h = {"POST", "/", NULL, HOST, "application/x-amz-json-1.0",
                  "AmazonSQS.ReceiveMessage", 0, body, strlen(body)};
    sqs_req *r;
    sqs_resp resp;
    ck_ok(lmq__sqs_decode(&h, &r));
    lmq__sqs_execute(&ctx, r, &resp, SQS_EXEC_PARK);
    ck_assert_int_eq(resp.park, 0);
    ck_assert_str_eq(resp.body, "{}");
    lmq__sqs_resp_clear(&resp);
    lmq__sqs_req_free(r);
    free(body);
}
END_TEST

/* ---- errors ---------------------------------------------------------------- */

/* A negative DelaySeconds, VisibilityTimeout or WaitTimeSeconds is refused
 * (issue 27: -1 passed as "the queue's"), and so is a value beyond int
 * (4294967295 was cast to -1); nothing is sent. */
START_TEST(negative_seconds_are_refused)
{
    static const char *const sends[] = {"-1", "-7", "4294967295", NULL};
    for (size_t i = 0; sends[i]; i++) {
        if (i == 2) { /* beyond Integer in JSON: a SerializationException */
            qfail(form("SendMessage", "QueueUrl", BASE "q", "MessageBody", "x",
                       "DelaySeconds", sends[i], NULL),
                  400, "InvalidParameterValue");
            continue;
        }
        json_t *in = json_pack("{s:s,s:s}", "QueueUrl", BASE "q",
                               "MessageBody", "x");
        json_object_set_new(in, "DelaySeconds",
                            json_integer(strtoll(sends[i], NULL, 10)));
        jfail("SendMessage", in, 400, "InvalidParameterValueException",
              "InvalidParameterValue;Sender");
        qfail(form("SendMessage", "QueueUrl", BASE "q", "MessageBody", "x",
                   "DelaySeconds", sends[i], NULL),
              400, "InvalidParameterValue");
    }
    jfail("ReceiveMessage",
          json_pack("{s:s,s:i}", "QueueUrl", BASE "q", "WaitTimeSeconds", -1),
          400, "InvalidParameterValueException",
          "InvalidParameterValue;Sender");
    jfail("ReceiveMessage",
          json_pack("{s:s,s:i}", "QueueUrl", BASE "q", "VisibilityTimeout",
                    -1),
          400, "InvalidParameterValueException",
          "InvalidParameterValue;Sender");
    qfail(form("ReceiveMessage", "QueueUrl", BASE "q", "WaitTimeSeconds",
               "-1", NULL),
          400, "InvalidParameterValue");
    /* In a batch the entry fails and the others go through. */
    json_t *o = jok("SendMessageBatch",
                    json_pack("{s:s,s:[{s:s,s:s,s:i},{s:s,s:s}]}", "QueueUrl",
                              BASE "q", "Entries", "Id", "bad",
                              "MessageBody", "x", "DelaySeconds", -1, "Id",
                              "good", "MessageBody", "y"));
    ck_assert_int_eq(json_array_size(json_object_get(o, "Successful")), 1);
    ck_jstr(o, "Successful.0.Id", "good");
    ck_jstr(o, "Failed.0.Id", "bad");
    ck_jstr(o, "Failed.0.Code", "InvalidParameterValue");
    json_decref(o);

    lmq_map *m = NULL;
    static const char *const names[] = {"ApproximateNumberOfMessages",
                                        "ApproximateNumberOfMessagesDelayed",
                                        NULL};
    ck_ok(lmq_queue_get_attributes(env, "q", names, &m));
    ck_assert_str_eq(lmq_map_get(m, "ApproximateNumberOfMessages"), "1");
    ck_assert_str_eq(lmq_map_get(m, "ApproximateNumberOfMessagesDelayed"),
                     "0");
    lmq_map_free(m);
}
END_TEST

START_TEST(errors_carry_status_type_and_query_code)
{
    jsend("q", "keep");
    long before = nmsgs("q");
    size_t queues = nqueues();

    /* QueueDoesNotExist, 400. */
    jfail("SendMessage",
          json_pack("{s:s,s:s}", "QueueUrl", BASE "nope", "MessageBody", "x"),
          400, "QueueDoesNotExist",
          "AWS.SimpleQueueService.NonExistentQueue;Sender");
    qfail(form("ReceiveMessage", "QueueUrl", BASE "nope", NULL), 400,
          "AWS.SimpleQueueService.NonExistentQueue");
    /* ReceiptHandleIsInvalid, 404. */
    jfail("DeleteMessage",
          json_pack("{s:s,s:s}", "QueueUrl", BASE "q", "ReceiptHandle",
                    "not-a-handle"),
          404, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid;Sender");
    qfail(form("ChangeMessageVisibility", "QueueUrl", BASE "q",
               "ReceiptHandle", "not-a-handle", "VisibilityTimeout", "1",
               NULL),
          404, "ReceiptHandleIsInvalid");
    /* MissingParameter. */
    jfail("SendMessage", json_pack("{s:s}", "QueueUrl", BASE "q"), 400,
          "MissingRequiredParameterException", "MissingParameter;Sender");
    qfail(form("SendMessage", "QueueUrl", BASE "q", NULL), 400,
          "MissingParameter");
    qfail(form("SendMessage", "MessageBody", "no queue", NULL), 400,
          "MissingParameter");
    jfail("ChangeMessageVisibility",
          json_pack("{s:s,s:s}", "QueueUrl", BASE "q", "ReceiptHandle", "x"),
          400, "MissingRequiredParameterException", "MissingParameter;Sender");
    /* InvalidParameterValue. */
    jfail("ReceiveMessage",
          json_pack("{s:s,s:i}", "QueueUrl", BASE "q", "MaxNumberOfMessages",
                    11),
          400, "InvalidParameterValueException",
          "InvalidParameterValue;Sender");
    qfail(form("ReceiveMessage", "QueueUrl", BASE "q", "WaitTimeSeconds",
               "21", NULL),
          400, "InvalidParameterValue");
    qfail(form("ReceiveMessage", "QueueUrl", BASE "q", "MaxNumberOfMessages",
               "ten", NULL),
          400, "InvalidParameterValue");
    qfail(form("ReceiveMessage", "QueueUrl", BASE "q", "MaxNumberOfMessages",
               "99999999999999999999", NULL),
          400, "InvalidParameterValue");
    qfail(form("SendMessage", "Version", "2008-01-01", NULL), 404,
          "MalformedQueryString"); /* Version given twice */
    {
        char *f = strdup("Action=ListQueues&Version=2008-01-01");
        qfail(f, 400, "InvalidParameterValue");
    }
    /* Unknown action. */
    ck_jerr(jdo("Fly", "/", json_object()), 400, "UnknownOperationException",
            NULL);
    qfail(form("Fly", NULL), 400, "InvalidAction");
    {
        sqs_http h = {"POST", "/", NULL, HOST, "application/x-amz-json-1.0",
                      NULL, 0, "{}", 2};
        sqs_resp resp;
        run(&h, 0, &resp);
        json_t *o = json_loads(resp.body, 0, NULL);
        lmq__sqs_resp_clear(&resp);
        ck_jerr(o, 400, "UnknownOperationException", NULL);
    }
    /* Messages quoting what is not UTF-8, or cut inside a character, are
     * still valid UTF-8 (or jansson drops them, and XML breaks). */
    {
        static const char t[] = "AmazonSQS.Li\xfftQueues";
        sqs_http h = {"POST", "/", NULL, HOST, "application/x-amz-json-1.0",
                      t, 0, "{}", 2};
        sqs_resp resp;
        run(&h, 0, &resp);
        json_t *o = json_loads(resp.body, 0, NULL);
        lmq__sqs_resp_clear(&resp);
        ck_assert_ptr_nonnull(o);
        ck_assert_ptr_nonnull(strstr(jstr(o, "message"), "Li?tQueues"));
        ck_jerr(o, 400, "UnknownOperationException", NULL);
        char act[80];
        memset(act, 'a', 63);
        strcpy(act + 63, "\xc3\xa9");
        char *x = qdo("POST", "/", NULL, form(act, NULL));
        json_t *u = json_string(x);
        ck_assert_msg(u != NULL, "XML is not UTF-8: %s", x);
        json_decref(u);
        ck_qerr(x, 400, "InvalidAction", "Sender");
    }
    /* Missing Action. */
    qfail(strdup("Version=2012-11-05&QueueUrl=x"), 400, "MissingAction");
    ck_qerr(qdo("GET", "/", "", NULL), 400, "MissingAction", "Sender");
    ck_qerr(qdo("GET", "/", "Action=", NULL), 400, "MissingAction", "Sender");

    /* SerializationException: malformed, wrong types, overflow, duplicate
     * keys, bad UTF-8. No x-amzn-query-error for the framework's own. */
    static const struct {
        const char *action, *body;
    } ser[] = {
        {"SendMessage", "{"},
        {"SendMessage", "[]"},
        {"SendMessage", "\"QueueUrl\""},
        {"SendMessage", "{\"QueueUrl\":5,\"MessageBody\":\"x\"}"},
        {"SendMessage",
         "{\"QueueUrl\":\"" BASE "q\",\"MessageBody\":\"x\","
         "\"DelaySeconds\":\"5\"}"},
        {"SendMessage",
         "{\"QueueUrl\":\"" BASE "q\",\"MessageBody\":\"x\","
         "\"DelaySeconds\":1.5}"},
        {"SendMessage",
         "{\"QueueUrl\":\"" BASE "q\",\"MessageBody\":\"x\","
         "\"MessageAttributes\":[]}"},
        {"SendMessage",
         "{\"QueueUrl\":\"" BASE "q\",\"MessageBody\":\"x\","
         "\"MessageAttributes\":{\"a\":{\"DataType\":7}}}"},
        {"ReceiveMessage",
         "{\"QueueUrl\":\"" BASE "q\",\"MaxNumberOfMessages\":4294967297}"},
        {"ReceiveMessage",
         "{\"QueueUrl\":\"" BASE "q\","
         "\"MaxNumberOfMessages\":99999999999999999999999}"},
        {"SendMessage",
         "{\"QueueUrl\":\"" BASE "q\",\"MessageBody\":\"x\","
         "\"MessageBody\":\"y\"}"},
        {"SendMessage",
         "{\"QueueUrl\":\"" BASE "q\",\"MessageBody\":\"\xff\xfe\"}"},
        {"SendMessage",
         "{\"QueueUrl\":\"" BASE "q\",\"MessageBody\":\"\xc0\xaf\"}"},
        {"GetQueueAttributes",
         "{\"QueueUrl\":\"" BASE "q\",\"AttributeNames\":\"All\"}"},
        {"DeleteMessageBatch",
         "{\"QueueUrl\":\"" BASE "q\",\"Entries\":[\"x\"]}"},
    };
    for (size_t i = 0; i < sizeof ser / sizeof *ser; i++) {
        json_t *o = jraw(ser[i].action, "/", ser[i].body,
                         strlen(ser[i].body));
        ck_assert_msg(last.status == 400, "case %zu: %d", i, last.status);
        ck_jerr(o, 400, "SerializationException", NULL);
    }

    /* MalformedQueryString: bad escapes, duplicate keys, bad UTF-8. */
    static const char *const mal[] = {
        "Action=SendMessage&QueueUrl=" BASE "q&MessageBody=%zz",
        "Action=SendMessage&QueueUrl=" BASE "q&MessageBody=abc%",
        "Action=SendMessage&QueueUrl=" BASE "q&MessageBody=abc%4",
        "Action=SendMessage&QueueUrl=" BASE "q&MessageBody=a&MessageBody=b",
        "Action=SendMessage&Action=SendMessage&QueueUrl=" BASE
        "q&MessageBody=a",
        "Action=SendMessage&QueueUrl=" BASE "q&MessageBody=%ff%fe",
        "Action=SendMessage&QueueUrl=" BASE "q&MessageBody=%ed%a0%80",
        "Action=SendMessage&QueueUrl=" BASE "q&Message%00Body=a",
        "Action=SendMessage&QueueUrl=" BASE "q&%zz=a",
    };
    for (size_t i = 0; i < sizeof mal / sizeof *mal; i++)
        qfail(strdup(mal[i]), 404, "MalformedQueryString");
    /* The same in the query string of a GET. */
    ck_qerr(qdo("GET", "/", "Action=ListQueues&QueueNamePrefix=%g1", NULL),
            404, "MalformedQueryString", "Sender");
    /* A key in both the query string and the body is a duplicate too. */
    ck_qerr(qdo("POST", "/", "Action=ListQueues",
                strdup("Action=ListQueues")),
            404, "MalformedQueryString", "Sender");

    /* A map key (attribute name, tag key) that is not UTF-8. */
    qfail(form("SetQueueAttributes", "QueueUrl", BASE "q", "Attribute.1.Name",
               "\xff", "Attribute.1.Value", "1", NULL),
          404, "MalformedQueryString");
    qfail(form("TagQueue", "QueueUrl", BASE "q", "Tag.1.Key", "\xc0\xaf",
               "Tag.1.Value", "1", NULL),
          404, "MalformedQueryString");
    /* A queue URL that names no queue. */
    jfail("SendMessage",
          json_pack("{s:s,s:s}", "QueueUrl", "http://h/", "MessageBody", "x"),
          404, "InvalidAddress", "InvalidAddress;Sender");

    /* Nothing changed. */
    ck_assert_int_eq(nmsgs("q"), before);
    ck_assert_uint_eq(nqueues(), queues);
    json_t *o = jok("ReceiveMessage", json_pack("{s:s,s:i}", "QueueUrl",
                                                BASE "q",
                                                "MaxNumberOfMessages", 10));
    ck_assert_int_eq(json_array_size(json_object_get(o, "Messages")), 1);
    ck_jstr(o, "Messages.0.Body", "keep");
    json_decref(o);
}
END_TEST

START_TEST(every_action_has_a_row_and_decodes_in_both_protocols)
{
    static const char *const want[] = {
        "AddPermission", "CancelMessageMoveTask", "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch", "CreateQueue", "DeleteMessage",
        "DeleteMessageBatch", "DeleteQueue", "GetQueueAttributes",
        "GetQueueUrl", "ListDeadLetterSourceQueues", "ListMessageMoveTasks",
        "ListQueueTags", "ListQueues", "PurgeQueue", "ReceiveMessage",
        "RemovePermission", "SendMessage", "SendMessageBatch",
        "SetQueueAttributes", "StartMessageMoveTask", "TagQueue",
        "UntagQueue"};
    size_t n = 0;
    while (lmq__sqs_action_name(n))
        n++;
    ck_assert_uint_eq(n, sizeof want / sizeof *want);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(lmq__sqs_action_name(i), want[i]);
        /* An empty JSON body and a bare Query form both decode to the
         * action (and fail only on what is missing). */
        char target[96];
        snprintf(target, sizeof target, "AmazonSQS.%s", want[i]);
        sqs_http h = {"POST", "/", NULL, HOST, "application/x-amz-json-1.0",
                      target, 0, "", 0};
        sqs_req *r;
        ck_ok(lmq__sqs_decode(&h, &r));
        ck_assert_str_eq(lmq__sqs_req_action(r), want[i]);
        ck_assert_int_eq(lmq__sqs_req_proto(r), SQS_PROTO_JSON);
        ck_assert_uint_eq(strlen(lmq__sqs_req_id(r)), 36);
        lmq__sqs_req_free(r);
        char *f = form(want[i], NULL);
        h = (sqs_http){"POST", "/", NULL, HOST,
                       "application/x-www-form-urlencoded", NULL, 0, f,
                       strlen(f)};
        ck_ok(lmq__sqs_decode(&h, &r));
        ck_assert_str_eq(lmq__sqs_req_action(r), want[i]);
        ck_assert_int_eq(lmq__sqs_req_proto(r), SQS_PROTO_QUERY);
        lmq__sqs_req_free(r);
        free(f);
    }
    ck_assert_ptr_null(lmq__sqs_action_name(n));
    ck_assert_int_eq(lmq__sqs_guess_proto(NULL, "AmazonSQS.X"),
                     SQS_PROTO_JSON);
    ck_assert_int_eq(lmq__sqs_guess_proto("application/x-amz-json-1.0", NULL),
                     SQS_PROTO_JSON);
    ck_assert_int_eq(lmq__sqs_guess_proto("text/plain", NULL),
                     SQS_PROTO_QUERY);
    lmq__sqs_req_free(NULL);
}
END_TEST

/* ---- byte-for-byte answers ------------------------------------------------- */

/* Replace the text of every <RequestId> element with "RID". */
static void
normalise(char *s)
{
    char *p = s;
    while ((p = strstr(p, "<RequestId>")) != NULL) {
        p += strlen("<RequestId>");
        char *e = strstr(p, "</RequestId>");
        ck_assert_ptr_nonnull(e);
        memcpy(p, "RID", 3);
        memmove(p + 3, e, strlen(e) + 1);
    }
}

static void
ck_golden(const char *name, const char *got)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.exp", LMQ_WIRE_DATA, name);
    if (getenv("LMQ_WIRE_REGEN")) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(got, f);
        fclose(f);
    }
    FILE *f = fopen(path, "r");
    ck_assert_msg(f, "cannot open %s", path);
    char want[4096];
    size_t n = fread(want, 1, sizeof want - 1, f);
    fclose(f);
    want[n] = '\0';
    ck_assert_msg(strcmp(want, got) == 0, "%s differs:\n--- want\n%s\n--- got\n%s",
                  path, want, got);
}

static void
golden_query(const char *name, char *f)
{
    sqs_http h = {"POST", "/", NULL, HOST, "application/x-www-form-urlencoded",
                  NULL, 0, f, strlen(f)};
    sqs_resp resp;
    run(&h, 0, &resp);
    free(f);
    normalise(resp.body);
    ck_golden(name, resp.body);
    lmq__sqs_resp_clear(&resp);
}

static void
golden_json(const char *name, const char *action, const char *body)
{
    char target[96];
    snprintf(target, sizeof target, "AmazonSQS.%s", action);
    sqs_http h = {"POST", "/", NULL, HOST, "application/x-amz-json-1.0",
                  target, 0, body, strlen(body)};
    sqs_resp resp;
    run(&h, 0, &resp);
    size_t n = resp.len + sizeof resp.query_error + 32;
    char *got = malloc(n);
    snprintf(got, n, "%d %s\n%s\n", resp.status, resp.query_error,
             resp.body);
    ck_golden(name, got);
    free(got);
    lmq__sqs_resp_clear(&resp);
}

START_TEST(answers_match_golden_files)
{
    golden_query("create_queue.xml",
                 form("CreateQueue", "QueueName", "golden", NULL));
    golden_json("create_queue.json", "CreateQueue",
                "{\"QueueName\":\"golden2\",\"tags\":{\"k\":\"v\"}}");
    golden_query("get_queue_attributes.xml",
                 form("GetQueueAttributes", "QueueUrl", BASE "golden",
                      "AttributeName.1", "VisibilityTimeout",
                      "AttributeName.2", "DelaySeconds", NULL));
    golden_query("set_queue_attributes.xml",
                 form("SetQueueAttributes", "QueueUrl", BASE "golden",
                      "Attribute.1.Name", "DelaySeconds", "Attribute.1.Value",
                      "1", NULL));
    golden_query("list_queues.xml",
                 form("ListQueues", "QueueNamePrefix", "golden", NULL));
    golden_query("error_no_queue.xml",
                 form("GetQueueUrl", "QueueName", "nope", NULL));
    golden_json("error_no_queue.json", "GetQueueUrl",
                "{\"QueueName\":\"nope\"}");
    golden_json("error_serialization.json", "ListQueues",
                "{\"MaxResults\":\"1\"}");
}
END_TEST

/* ---- short fuzzing --------------------------------------------------------- */

START_TEST(fuzz_short)
{
    char home[300], why[512] = "";
    snprintf(home, sizeof home, "%s/fuzz", lmq_test_dir);
    ck_ok(lmq_fuzz_wire_open(home));
    /* 20000 inputs take about 5 s under ASan+UBSan; both can be changed
     * to explore (a failure prints the input). */
    const char *it = getenv("LMQ_FUZZ_ITERATIONS");
    const char *seed = getenv("LMQ_FUZZ_SEED");
    int rc = lmq_fuzz_wire_short(
        it ? (unsigned)strtoul(it, NULL, 10) : 20000,
        seed ? strtoull(seed, NULL, 10) : 20260101, why, sizeof why);
    lmq_fuzz_wire_close();
    ck_assert_msg(rc == 0, "fuzz: %s", why);
}
END_TEST

static Suite *
lmq_suite_wire(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("round_trip");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, create_queue_and_get_url_in_both_protocols);
    tcase_add_test(tc, tags_use_their_json_casing);
    tcase_add_test(tc, list_queues_pages_in_both_protocols);
    tcase_add_test(tc, queue_attributes_in_both_protocols);
    tcase_add_test(tc, send_and_receive_round_trip_json);
    tcase_add_test(tc, md5_of_attributes_matches_recorded_vectors);
    tcase_add_test(tc, send_and_receive_round_trip_query);
    tcase_add_test(tc, bodies_round_trip_byte_exact_in_xml_and_json);
    tcase_add_test(tc, batches_report_successes_and_failures);
    tcase_add_test(tc, fifo_sequence_numbers_in_both_protocols);
    tcase_add_test(tc, purge_delete_queue_and_path_addressing);
    tcase_add_test(tc, dead_letter_sources_use_queueUrls);
    tcase_add_test(tc, permissions_edit_the_policy);
    tcase_add_test(tc, malformed_policy_refused);
    tcase_add_test(tc, move_tasks_start_list_cancel);
    tcase_add_test(tc, receive_parks_then_answers);
    tcase_add_test(tc, every_action_has_a_row_and_decodes_in_both_protocols);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, errors_carry_status_type_and_query_code);
    tcase_add_test(tc, negative_seconds_are_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("golden");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, answers_match_golden_files);
    suite_add_tcase(s, tc);

    tc = tcase_create("fuzz_short");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fuzz_short);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_wire());
}
