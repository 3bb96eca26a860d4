/*
 * check_policy.c: the IAM policy evaluator of lmqd (wire/sqs_policy.c,
 * issue 22), table by table: allow and implicit deny, explicit deny over
 * allow, wildcards in actions and resources, NotAction/NotResource,
 * principal forms, each condition, identity vs resource policies and
 * accounts, malformed documents, and the permissions each SQS request
 * needs.
 */
#include "lmq_test.h"

#include <jansson.h>

#include "sqs_policy.h"
#include "sqs_wire.h"

#define ACCT "123456789012"
#define OTHER "210987654321"
#define Q_ARN "arn:aws:sqs:us-east-1:" ACCT ":jobs"
#define WORKER "arn:aws:iam::" ACCT ":user/worker"
#define ROOT "arn:aws:iam::" ACCT ":root"
/* 2026-12-07T12:00:00Z */
#define NOW_MS 1796644800000LL

static json_t *
doc(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);
    ck_assert_msg(j != NULL, "bad test JSON (%s): %s", e.text, text);
    return j;
}

static lmq_policy_request
req(const char *action)
{
    lmq_policy_request r = {action, Q_ARN, WORKER, "10.1.2.3", 1, NOW_MS,
                            NULL};
    return r;
}

static const char *const effect_name[] = {"NONE", "ALLOW", "DENY"};

typedef struct row {
    const char *policy;
    const char *action;
    const char *resource; /* NULL: Q_ARN */
    const char *principal; /* NULL: WORKER */
    const char *ip;        /* NULL: 10.1.2.3 */
    int tls;
    lmq_policy_effect want;
} row;

static void
run_rows(const row *rows, size_t n, lmq_policy_kind kind)
{
    for (size_t i = 0; i < n; i++) {
        json_t *d = doc(rows[i].policy);
        char err[256];
        ck_assert_msg(lmq__policy_check(d, kind, err, sizeof err) == 0,
                      "row %zu: valid policy refused (%s): %s", i, err,
                      rows[i].policy);
        lmq_policy_request r = req(rows[i].action);
        if (rows[i].resource)
            r.resource = rows[i].resource;
        if (rows[i].principal)
            r.principal = rows[i].principal;
        if (rows[i].ip)
            r.source_ip = rows[i].ip;
        r.secure_transport = rows[i].tls;
        lmq_policy_effect got = lmq__policy_eval(d, kind, &r);
        ck_assert_msg(got == rows[i].want,
                      "row %zu: %s on %s by %s from %s tls=%d: got %s, "
                      "want %s\n  policy %s",
                      i, r.action, r.resource, r.principal, r.source_ip,
                      r.secure_transport, effect_name[got],
                      effect_name[rows[i].want], rows[i].policy);
        json_decref(d);
    }
}

/* The tutorial's worker policy. */
#define WORKER_POLICY                                                        \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","     \
    "\"Action\":[\"sqs:ReceiveMessage\",\"sqs:DeleteMessage\"],"            \
    "\"Resource\":\"" Q_ARN "\"}]}"

START_TEST(test_allow_and_implicit_deny)
{
    static const row rows[] = {
        {WORKER_POLICY, "sqs:ReceiveMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {WORKER_POLICY, "sqs:DeleteMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {WORKER_POLICY, "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {WORKER_POLICY, "sqs:PurgeQueue", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {WORKER_POLICY, "sqs:ReceiveMessage",
         "arn:aws:sqs:us-east-1:" ACCT ":other", 0, 0, 1, LMQ_POLICY_NONE},
        /* Statement as a single object, action names in any case. */
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"SQS:sendmessage\","
         "\"Resource\":\"*\"}}",
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        /* A batch name in a policy grants nothing (not an IAM action). */
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
         "\"sqs:SendMessageBatch\",\"Resource\":\"*\"}}",
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        /* Another service's action. */
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sns:*\","
         "\"Resource\":\"*\"}}",
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
    };
    run_rows(rows, sizeof rows / sizeof *rows, LMQ_POLICY_IDENTITY);
}
END_TEST

START_TEST(test_explicit_deny_wins)
{
    static const row rows[] = {
        {"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sqs:*\","
         "\"Resource\":\"*\"},{\"Effect\":\"Deny\",\"Action\":"
         "\"sqs:PurgeQueue\",\"Resource\":\"*\"}]}",
         "sqs:PurgeQueue", 0, 0, 0, 1, LMQ_POLICY_DENY},
        /* The deny first, the allow after: order does not matter. */
        {"{\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"sqs:Purge*\","
         "\"Resource\":\"*\"},{\"Effect\":\"Allow\",\"Action\":\"sqs:*\","
         "\"Resource\":\"*\"}]}",
         "sqs:PurgeQueue", 0, 0, 0, 1, LMQ_POLICY_DENY},
        {"{\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"sqs:Purge*\","
         "\"Resource\":\"*\"},{\"Effect\":\"Allow\",\"Action\":\"sqs:*\","
         "\"Resource\":\"*\"}]}",
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
    };
    run_rows(rows, sizeof rows / sizeof *rows, LMQ_POLICY_IDENTITY);
}
END_TEST

START_TEST(test_wildcards)
{
    static const row rows[] = {
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sqs:Send*\","
         "\"Resource\":\"arn:aws:sqs:us-east-1:" ACCT ":jobs*\"}}",
         "sqs:SendMessage", "arn:aws:sqs:us-east-1:" ACCT ":jobs-high", 0, 0,
         1, LMQ_POLICY_ALLOW},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sqs:Send*\","
         "\"Resource\":\"arn:aws:sqs:us-east-1:" ACCT ":jobs*\"}}",
         "sqs:SendMessage", "arn:aws:sqs:us-east-1:" ACCT ":mail", 0, 0, 1,
         LMQ_POLICY_NONE},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sqs:Send*\","
         "\"Resource\":\"*\"}}",
         "sqs:ReceiveMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
         "\"Resource\":\"arn:aws:sqs:*:" ACCT ":*\"}}",
         "sqs:DeleteQueue", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        /* ? is one character; * does not cross an ARN's colons. */
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
         "\"sqs:?eceiveMessage\",\"Resource\":\"arn:aws:sqs:us-east-1:"
         ACCT ":j?bs\"}}",
         "sqs:ReceiveMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sqs:*\","
         "\"Resource\":\"arn:aws:sqs:*:jobs\"}}",
         "sqs:ReceiveMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        /* ARNs are case-sensitive. */
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sqs:*\","
         "\"Resource\":\"arn:aws:sqs:us-east-1:" ACCT ":JOBS\"}}",
         "sqs:ReceiveMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        /* ListQueues' account resource: "...:*" matches, a queue not. */
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sqs:ListQueues\","
         "\"Resource\":\"arn:aws:sqs:us-east-1:" ACCT ":*\"}}",
         "sqs:ListQueues", "arn:aws:sqs:us-east-1:" ACCT ":", 0, 0, 1,
         LMQ_POLICY_ALLOW},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sqs:ListQueues\","
         "\"Resource\":\"" Q_ARN "\"}}",
         "sqs:ListQueues", "arn:aws:sqs:us-east-1:" ACCT ":", 0, 0, 1,
         LMQ_POLICY_NONE},
    };
    run_rows(rows, sizeof rows / sizeof *rows, LMQ_POLICY_IDENTITY);
}
END_TEST

START_TEST(test_not_action_not_resource)
{
    static const row rows[] = {
        {"{\"Statement\":{\"Effect\":\"Allow\",\"NotAction\":"
         "[\"sqs:DeleteQueue\",\"sqs:Purge*\"],\"Resource\":\"*\"}}",
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"NotAction\":"
         "[\"sqs:DeleteQueue\",\"sqs:Purge*\"],\"Resource\":\"*\"}}",
         "sqs:PurgeQueue", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {"{\"Statement\":{\"Effect\":\"Deny\",\"Action\":\"sqs:*\","
         "\"NotResource\":\"arn:aws:sqs:*:*:public-*\"}}",
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_DENY},
        {"{\"Statement\":{\"Effect\":\"Deny\",\"Action\":\"sqs:*\","
         "\"NotResource\":\"arn:aws:sqs:*:*:public-*\"}}",
         "sqs:SendMessage", "arn:aws:sqs:us-east-1:" ACCT ":public-x", 0, 0,
         1, LMQ_POLICY_NONE},
    };
    run_rows(rows, sizeof rows / sizeof *rows, LMQ_POLICY_IDENTITY);
}
END_TEST

#define RES(principal)                                                       \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","     \
    "\"Principal\":" principal ",\"Action\":\"sqs:SendMessage\","           \
    "\"Resource\":\"" Q_ARN "\"}]}"

START_TEST(test_principals)
{
    static const row rows[] = {
        {RES("\"*\""), "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {RES("{\"AWS\":\"*\"}"), "sqs:SendMessage", 0,
         "arn:aws:iam::" OTHER ":user/x", 0, 1, LMQ_POLICY_ALLOW},
        {RES("{\"AWS\":\"" WORKER "\"}"), "sqs:SendMessage", 0, 0, 0, 1,
         LMQ_POLICY_ALLOW},
        {RES("{\"AWS\":\"" WORKER "\"}"), "sqs:SendMessage", 0,
         "arn:aws:iam::" ACCT ":user/other", 0, 1, LMQ_POLICY_NONE},
        {RES("{\"AWS\":\"" ACCT "\"}"), "sqs:SendMessage", 0, 0, 0, 1,
         LMQ_POLICY_ALLOW},
        {RES("{\"AWS\":[\"" OTHER "\"]}"), "sqs:SendMessage", 0, 0, 0, 1,
         LMQ_POLICY_NONE},
        {RES("{\"AWS\":\"arn:aws:iam::" ACCT ":root\"}"), "sqs:SendMessage",
         0, "arn:aws:iam::" ACCT ":role/app", 0, 1, LMQ_POLICY_ALLOW},
        {RES("{\"AWS\":\"arn:aws:iam::" OTHER ":root\"}"), "sqs:SendMessage",
         0, 0, 0, 1, LMQ_POLICY_NONE},
        {RES("{\"Service\":\"sns.amazonaws.com\"}"), "sqs:SendMessage", 0, 0,
         0, 1, LMQ_POLICY_NONE},
        {"{\"Statement\":{\"Effect\":\"Deny\",\"NotPrincipal\":{\"AWS\":\""
         WORKER "\"},\"Action\":\"sqs:*\",\"Resource\":\"*\"}}",
         "sqs:SendMessage", 0, ROOT, 0, 1, LMQ_POLICY_DENY},
        {"{\"Statement\":{\"Effect\":\"Deny\",\"NotPrincipal\":{\"AWS\":\""
         WORKER "\"},\"Action\":\"sqs:*\",\"Resource\":\"*\"}}",
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        /* What AddPermission writes (SQS: prefix, root ARNs in a list). */
        {"{\"Version\":\"2008-10-17\",\"Id\":\"" Q_ARN "/SQSDefaultPolicy\","
         "\"Statement\":[{\"Sid\":\"p\",\"Effect\":\"Allow\",\"Principal\":"
         "{\"AWS\":[\"arn:aws:iam::" OTHER ":root\"]},\"Action\":"
         "[\"SQS:SendMessage\"],\"Resource\":\"" Q_ARN "\"}]}",
         "sqs:SendMessage", 0, "arn:aws:iam::" OTHER ":user/p", 0, 1,
         LMQ_POLICY_ALLOW},
    };
    run_rows(rows, sizeof rows / sizeof *rows, LMQ_POLICY_RESOURCE);
}
END_TEST

#define COND(effect, cond)                                                   \
    "{\"Statement\":{\"Effect\":\"" effect "\",\"Action\":\"sqs:*\","       \
    "\"Resource\":\"*\",\"Condition\":" cond "}}"

START_TEST(test_conditions)
{
    static const row rows[] = {
        /* aws:SourceIp */
        {COND("Allow", "{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}"),
         "sqs:SendMessage", 0, 0, "10.200.0.1", 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}"),
         "sqs:SendMessage", 0, 0, "192.168.1.1", 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"IpAddress\":{\"aws:SourceIp\":[\"192.168.0.0/16\","
                       "\"127.0.0.1\"]}}"),
         "sqs:SendMessage", 0, 0, "127.0.0.1", 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"IpAddress\":{\"aws:sourceip\":\"::1/128\"}}"),
         "sqs:SendMessage", 0, 0, "::1", 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}"),
         "sqs:SendMessage", 0, 0, "::ffff:10.1.1.1", 1, LMQ_POLICY_ALLOW},
        {COND("Deny", "{\"NotIpAddress\":{\"aws:SourceIp\":[\"10.0.0.0/8\","
                      "\"172.16.0.0/12\"]}}"),
         "sqs:SendMessage", 0, 0, "172.20.0.1", 1, LMQ_POLICY_NONE},
        {COND("Deny", "{\"NotIpAddress\":{\"aws:SourceIp\":[\"10.0.0.0/8\","
                      "\"172.16.0.0/12\"]}}"),
         "sqs:SendMessage", 0, 0, "8.8.8.8", 1, LMQ_POLICY_DENY},
        /* aws:SecureTransport, as a string or a JSON boolean */
        {COND("Deny", "{\"Bool\":{\"aws:SecureTransport\":\"false\"}}"),
         "sqs:SendMessage", 0, 0, 0, 0, LMQ_POLICY_DENY},
        {COND("Deny", "{\"Bool\":{\"aws:SecureTransport\":false}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"Bool\":{\"aws:SecureTransport\":\"true\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        /* aws:CurrentTime: now is 2026-12-07T12:00:00Z */
        {COND("Allow", "{\"DateGreaterThan\":{\"aws:CurrentTime\":"
                       "\"2026-12-07T11:59:59Z\"},\"DateLessThan\":"
                       "{\"aws:CurrentTime\":\"2026-12-08\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"DateGreaterThan\":{\"aws:CurrentTime\":"
                       "\"2026-12-07T12:00:00Z\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"DateGreaterThanEquals\":{\"aws:CurrentTime\":"
                       "\"2026-12-07T12:00:00Z\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"DateLessThanEquals\":{\"aws:CurrentTime\":"
                       "\"2026-12-07T13:00:00+01:00\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"DateLessThan\":{\"aws:CurrentTime\":"
                       "\"2026-12-07T12:00:00.000Z\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"DateEquals\":{\"aws:EpochTime\":1796644800}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        /* strings and ARNs */
        {COND("Allow", "{\"StringEquals\":{\"aws:PrincipalArn\":\"" WORKER
                       "\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"StringLike\":{\"aws:PrincipalArn\":"
                       "\"arn:aws:iam::*:user/work*\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"ArnLike\":{\"aws:PrincipalArn\":"
                       "\"arn:aws:iam::*:role/*\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"StringEquals\":{\"aws:PrincipalAccount\":\"" ACCT
                       "\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        /* aws:SourceArn is absent from lmqd's requests */
        {COND("Allow", "{\"ArnEquals\":{\"aws:SourceArn\":"
                       "\"arn:aws:sns:us-east-1:" ACCT ":t\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"ArnEqualsIfExists\":{\"aws:SourceArn\":"
                       "\"arn:aws:sns:us-east-1:" ACCT ":t\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"Null\":{\"aws:SourceArn\":\"true\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        /* Every operator and key must hold. */
        {COND("Allow", "{\"Bool\":{\"aws:SecureTransport\":\"true\"},"
                       "\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}"),
         "sqs:SendMessage", 0, 0, "10.0.0.1", 0, LMQ_POLICY_NONE},
    };
    run_rows(rows, sizeof rows / sizeof *rows, LMQ_POLICY_IDENTITY);
}
END_TEST

#define ROLE "arn:aws:iam::" ACCT ":role/app"
#define QA(name) "arn:aws:sqs:us-east-1:" ACCT ":" name

/* Condition operators beyond String/Arn/Bool/Ip/Date: Numeric*, the set
 * prefixes, IfExists on every family, Null, and the keys that are always
 * absent from lmqd's requests (as on AWS for a long-term access key). */
START_TEST(test_operators)
{
    static const row rows[] = {
        /* Numeric* on aws:EpochTime (now: 1796644800), as strings, JSON
         * integers and reals */
        {COND("Allow", "{\"NumericLessThan\":{\"aws:EpochTime\":"
                       "\"1796644801\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"NumericLessThan\":{\"aws:EpochTime\":1796644800}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"NumericLessThanEquals\":{\"aws:EpochTime\":"
                       "1796644800}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"NumericGreaterThan\":{\"aws:EpochTime\":"
                       "1796644799.5}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"NumericGreaterThanEquals\":{\"aws:EpochTime\":"
                       "\"1796644801\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"NumericEquals\":{\"aws:EpochTime\":"
                       "[\"1\",\"1796644800.0\"]}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"NumericNotEquals\":{\"aws:EpochTime\":"
                       "[\"1\",\"1796644800\"]}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"NumericNotEquals\":{\"aws:EpochTime\":\"1\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        /* aws:MultiFactorAuthAge is absent (a long-term key): a positive
         * operator fails, IfExists holds */
        {COND("Allow", "{\"NumericLessThan\":{\"aws:MultiFactorAuthAge\":"
                       "\"3600\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"NumericLessThanIfExists\":"
                       "{\"aws:MultiFactorAuthAge\":\"3600\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        /* IAM's example: deny unless MFA (BoolIfExists): a long-term key
         * has no aws:MultiFactorAuthPresent, so the Deny applies */
        {COND("Deny", "{\"BoolIfExists\":{\"aws:MultiFactorAuthPresent\":"
                      "\"false\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_DENY},
        {COND("Deny", "{\"Bool\":{\"aws:MultiFactorAuthPresent\":"
                      "\"false\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        /* IfExists on a present key: compared as without it */
        {COND("Allow", "{\"IpAddressIfExists\":{\"aws:SourceIp\":"
                       "\"192.168.0.0/16\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"IpAddressIfExists\":{\"aws:VpcSourceIp\":"
                       "\"192.168.0.0/16\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"DateGreaterThanIfExists\":"
                       "{\"aws:TokenIssueTime\":\"2030-01-01\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"StringLikeIfExists\":{\"aws:username\":"
                       "\"admin-*\"}}"),
         "sqs:SendMessage", 0, ROOT, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"StringLikeIfExists\":{\"aws:username\":"
                       "\"admin-*\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"StringNotEqualsIgnoreCaseIfExists\":"
                       "{\"aws:username\":\"WORKER\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"ArnNotLikeIfExists\":{\"aws:SourceArn\":"
                       "\"arn:aws:sns:*:*:*\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        /* The set prefixes: an absent key makes ForAllValues hold and
         * ForAnyValue fail; a present one is a set of one value */
        {COND("Allow", "{\"ForAllValues:StringEquals\":{\"aws:SourceAccount\":"
                       "\"" ACCT "\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"ForAnyValue:StringEquals\":{\"aws:SourceAccount\":"
                       "\"" ACCT "\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"ForAnyValue:StringEquals\":{\"aws:PrincipalArn\":"
                       "[\"x\",\"" WORKER "\"]}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"ForAllValues:StringLike\":{\"aws:PrincipalArn\":"
                       "\"arn:aws:iam::*:role/*\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"ForAnyValue:StringNotEquals\":{\"aws:PrincipalArn\":"
                       "\"" WORKER "\"}}"),
         "sqs:SendMessage", 0, ROLE, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"ForAllValues:StringEqualsIfExists\":"
                       "{\"aws:username\":\"nobody\"}}"),
         "sqs:SendMessage", 0, ROLE, 0, 1, LMQ_POLICY_ALLOW},
        /* Null: "true" means absent */
        {COND("Allow", "{\"Null\":{\"aws:username\":\"true\"}}"),
         "sqs:SendMessage", 0, ROOT, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"Null\":{\"aws:username\":\"true\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"Null\":{\"aws:username\":false}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        /* principal keys */
        {COND("Allow", "{\"StringEquals\":{\"aws:PrincipalType\":\"User\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"StringEquals\":{\"aws:PrincipalType\":"
                       "\"Account\"}}"),
         "sqs:SendMessage", 0, ROOT, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"StringEquals\":{\"aws:PrincipalType\":"
                       "\"AssumedRole\",\"aws:userid\":\"app\"}}"),
         "sqs:SendMessage", 0, ROLE, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"StringEquals\":{\"aws:userid\":\"" ACCT "\"}}"),
         "sqs:SendMessage", 0, ROOT, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"StringEqualsIgnoreCase\":{\"AWS:USERNAME\":"
                       "\"Worker\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        /* request keys */
        {COND("Allow", "{\"StringEquals\":{\"aws:RequestedRegion\":"
                       "[\"us-east-1\",\"eu-west-1\"],"
                       "\"aws:ResourceAccount\":\"" ACCT "\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {COND("Allow", "{\"StringEquals\":{\"aws:RequestedRegion\":"
                       "\"eu-west-1\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {COND("Allow", "{\"Bool\":{\"aws:ViaAWSService\":\"false\","
                       "\"aws:PrincipalIsAWSService\":false}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
    };
    run_rows(rows, sizeof rows / sizeof *rows, LMQ_POLICY_IDENTITY);
}
END_TEST

#define VPOL(version, effect, resource)                                      \
    "{" version "\"Statement\":{\"Effect\":\"" effect "\",\"Action\":"      \
    "\"sqs:*\",\"Resource\":\"" resource "\"}}"
#define V12 "\"Version\":\"2012-10-17\","
#define VCOND(cond)                                                          \
    "{" V12 "\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sqs:*\","     \
    "\"Resource\":\"*\",\"Condition\":" cond "}}"

/* Policy variables (IAM's "Variables and tags" page): in Resource and in
 * string conditions, in 2012-10-17 policies only; a variable without a
 * value makes its value match nothing; defaults; the escapes. */
START_TEST(test_variables)
{
    static const row rows[] = {
        /* Each user their own queues (IAM's ${aws:username} example) */
        {VPOL(V12, "Allow", QA("${aws:username}-*")), "sqs:SendMessage",
         QA("worker-inbox"), 0, 0, 1, LMQ_POLICY_ALLOW},
        {VPOL(V12, "Allow", QA("${aws:username}-*")), "sqs:SendMessage",
         QA("producer-inbox"), 0, 0, 1, LMQ_POLICY_NONE},
        /* key names fold case; spaces around them are ignored */
        {VPOL(V12, "Allow", QA("${ AWS:UserName }-*")), "sqs:SendMessage",
         QA("worker-inbox"), 0, 0, 1, LMQ_POLICY_ALLOW},
        /* the root and roles have no aws:username: nothing matches... */
        {VPOL(V12, "Allow", QA("${aws:username}-*")), "sqs:SendMessage",
         QA("-inbox"), ROOT, 0, 1, LMQ_POLICY_NONE},
        {VPOL(V12, "Allow", QA("${aws:username}*")), "sqs:SendMessage",
         QA("jobs"), ROLE, 0, 1, LMQ_POLICY_NONE},
        /* ... but a Deny with it does not apply either */
        {VPOL(V12, "Deny", QA("${aws:username}*")), "sqs:SendMessage",
         QA("jobs"), ROLE, 0, 1, LMQ_POLICY_NONE},
        /* ... unless a default is given ('' is a quote) */
        {VPOL(V12, "Allow", QA("${aws:username, 'shared'}-*")),
         "sqs:SendMessage", QA("shared-inbox"), ROOT, 0, 1, LMQ_POLICY_ALLOW},
        {VPOL(V12, "Allow", QA("${aws:username,'it''s'}")), "sqs:SendMessage",
         QA("it's"), ROLE, 0, 1, LMQ_POLICY_ALLOW},
        /* a default is literal: its * is no wildcard */
        {VPOL(V12, "Allow", QA("${aws:username, '*'}")), "sqs:SendMessage",
         QA("jobs"), ROOT, 0, 1, LMQ_POLICY_NONE},
        {VPOL(V12, "Allow", QA("${aws:username, '*'}")), "sqs:SendMessage",
         QA("*"), ROOT, 0, 1, LMQ_POLICY_ALLOW},
        /* the escapes: ${*} ${?} ${$} are the characters themselves */
        {VPOL(V12, "Allow", QA("jobs${*}")), "sqs:SendMessage",
         QA("jobs-high"), 0, 0, 1, LMQ_POLICY_NONE},
        {VPOL(V12, "Allow", QA("jobs${*}")), "sqs:SendMessage", QA("jobs*"),
         0, 0, 1, LMQ_POLICY_ALLOW},
        {VPOL(V12, "Allow", QA("job${?}")), "sqs:SendMessage", QA("jobs"), 0,
         0, 1, LMQ_POLICY_NONE},
        {VPOL(V12, "Allow", QA("job${?}")), "sqs:SendMessage", QA("job?"), 0,
         0, 1, LMQ_POLICY_ALLOW},
        {VPOL(V12, "Allow", QA("a${$}{aws:username}")), "sqs:SendMessage",
         QA("a${aws:username}"), 0, 0, 1, LMQ_POLICY_ALLOW},
        /* 2008-10-17, or no Version: plain text */
        {VPOL("\"Version\":\"2008-10-17\",", "Allow", QA("${aws:username}-*")),
         "sqs:SendMessage", QA("worker-inbox"), 0, 0, 1, LMQ_POLICY_NONE},
        {VPOL("", "Allow", QA("${aws:username}-*")), "sqs:SendMessage",
         QA("${aws:username}-inbox"), 0, 0, 1, LMQ_POLICY_ALLOW},
        /* the other keys as variables */
        {VPOL(V12, "Allow", "arn:aws:sqs:${aws:RequestedRegion}:"
                            "${aws:PrincipalAccount}:${aws:userid}"),
         "sqs:SendMessage", QA("worker"), 0, 0, 1, LMQ_POLICY_ALLOW},
        {VPOL(V12, "Allow", QA("ip-${aws:SourceIp}")), "sqs:SendMessage",
         QA("ip-10.1.2.3"), 0, 0, 1, LMQ_POLICY_ALLOW},
        {VPOL(V12, "Allow", QA("tls-${aws:SecureTransport}")),
         "sqs:SendMessage", QA("tls-true"), 0, 0, 1, LMQ_POLICY_ALLOW},
        {VPOL(V12, "Allow", QA("tls-${aws:SecureTransport}")),
         "sqs:SendMessage", QA("tls-true"), 0, 0, 0, LMQ_POLICY_NONE},
        {VPOL(V12, "Allow", QA("day-${aws:CurrentTime}")), "sqs:SendMessage",
         QA("day-2026-12-07T12:00:00Z"), 0, 0, 1, LMQ_POLICY_ALLOW},
        {VPOL(V12, "Allow", QA("t${aws:EpochTime}")), "sqs:SendMessage",
         QA("t1796644800"), 0, 0, 1, LMQ_POLICY_ALLOW},
        /* NotResource: a value without a value excludes nothing */
        {"{" V12 "\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sqs:*\","
         "\"NotResource\":\"" QA("${aws:username}") "\"}}",
         "sqs:SendMessage", QA("worker"), 0, 0, 1, LMQ_POLICY_NONE},
        {"{" V12 "\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sqs:*\","
         "\"NotResource\":\"" QA("${aws:username}") "\"}}",
         "sqs:SendMessage", QA("worker"), ROOT, 0, 1, LMQ_POLICY_ALLOW},
        /* in conditions */
        {VCOND("{\"StringEquals\":{\"aws:PrincipalArn\":\"arn:aws:iam::"
               "${aws:PrincipalAccount}:user/${aws:username}\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {VCOND("{\"ArnLike\":{\"aws:PrincipalArn\":\"arn:aws:iam::*:"
               "user/${aws:userid}\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {VCOND("{\"StringEquals\":{\"aws:PrincipalArn\":"
               "\"${aws:PrincipalArn}\"}}"),
         "sqs:SendMessage", 0, ROLE, 0, 1, LMQ_POLICY_ALLOW},
        {VCOND("{\"StringEquals\":{\"aws:PrincipalType\":"
               "\"${aws:username}\"}}"),
         "sqs:SendMessage", 0, ROOT, 0, 1, LMQ_POLICY_NONE},
        {VCOND("{\"StringNotEquals\":{\"aws:PrincipalType\":"
               "\"${aws:username}\"}}"),
         "sqs:SendMessage", 0, ROOT, 0, 1, LMQ_POLICY_ALLOW},
        /* in StringEquals ${*} is a plain '*'; in StringLike a literal */
        {VCOND("{\"StringEquals\":{\"aws:username\":\"work${*}\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
        {VCOND("{\"StringLike\":{\"aws:username\":[\"w${?}rker\","
               "\"wo*\"]}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
        {VCOND("{\"StringLike\":{\"aws:username\":\"w${?}rker\"}}"),
         "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_NONE},
    };
    run_rows(rows, sizeof rows / sizeof *rows, LMQ_POLICY_IDENTITY);
}
END_TEST

/* Policies from the AWS documentation (the SQS Developer Guide's policy
 * examples and IAM's example identity policies), with the decision IAM
 * gives each request. */
#define DENY_OUTSIDE_IPS                                                     \
    "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Deny\","        \
    "\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{\"NotIpAddress\":"   \
    "{\"aws:SourceIp\":[\"192.0.2.0/24\",\"203.0.113.0/24\"]},\"Bool\":"     \
    "{\"aws:ViaAWSService\":\"false\"}}}}"
#define REGIONS_ONLY                                                         \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":"                   \
    "\"DenyAllOutsideRequestedRegions\",\"Effect\":\"Deny\",\"NotAction\":"  \
    "[\"iam:*\",\"sts:*\"],\"Resource\":\"*\",\"Condition\":"                \
    "{\"StringNotEquals\":{\"aws:RequestedRegion\":[\"eu-central-1\","       \
    "\"eu-west-1\"]}}}]}"
#define TIME_WINDOW                                                          \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","      \
    "\"Action\":\"sqs:*\",\"Resource\":\"*\",\"Condition\":"                 \
    "{\"DateGreaterThan\":{\"aws:CurrentTime\":\"2026-12-01T00:00:00Z\"},"   \
    "\"DateLessThan\":{\"aws:CurrentTime\":\"2026-12-31T23:59:59Z\"}}}]}"
#define SQS_ALL_IN_ACCOUNT                                                   \
    "{\"Version\":\"2012-10-17\",\"Id\":\"Queue1_Policy_UUID\",\"Statement\":" \
    "[{\"Sid\":\"Queue1_AllActions\",\"Effect\":\"Allow\",\"Principal\":"    \
    "{\"AWS\":[\"arn:aws:iam::" OTHER ":root\"]},\"Action\":\"sqs:*\","      \
    "\"Resource\":\"" Q_ARN "\"}]}"
#define SQS_SEND_IN_WINDOW                                                   \
    "{\"Version\":\"2012-10-17\",\"Id\":\"Queue1_Policy_UUID\",\"Statement\":" \
    "[{\"Sid\":\"Queue1_Send_Receive\",\"Effect\":\"Allow\",\"Principal\":"  \
    "{\"AWS\":[\"" OTHER "\"]},\"Action\":\"sqs:SendMessage\",\"Resource\":" \
    "\"" Q_ARN "\",\"Condition\":{\"DateGreaterThan\":{\"aws:CurrentTime\":" \
    "\"2026-12-07T12:00:00Z\"},\"DateLessThan\":{\"aws:CurrentTime\":"      \
    "\"2026-12-07T17:00:00Z\"}}}]}"
#define SQS_FROM_IPS                                                         \
    "{\"Version\":\"2012-10-17\",\"Id\":\"Queue1_Policy_UUID\",\"Statement\":" \
    "[{\"Sid\":\"Queue1_AnonymousAccess_AllActions_AllowlistIP\",\"Effect\":" \
    "\"Allow\",\"Principal\":\"*\",\"Action\":\"sqs:*\",\"Resource\":\""    \
    Q_ARN "\",\"Condition\":{\"IpAddress\":{\"aws:SourceIp\":"               \
    "\"192.0.2.0/24\"}}}]}"
#define SQS_DENY_OTHER_IPS                                                   \
    "{\"Version\":\"2012-10-17\",\"Id\":\"Queue1_Policy_UUID\",\"Statement\":" \
    "[{\"Sid\":\"Queue1_AnonymousAccess_ReceiveMessage_IPLimit\",\"Effect\":" \
    "\"Allow\",\"Principal\":\"*\",\"Action\":\"sqs:ReceiveMessage\","       \
    "\"Resource\":\"" Q_ARN "\",\"Condition\":{\"IpAddress\":"               \
    "{\"aws:SourceIp\":\"192.0.2.0/24\"}}},{\"Sid\":"                        \
    "\"Queue1_AnonymousAccess_ReceiveMessage_IPLimit_Deny\",\"Effect\":"     \
    "\"Deny\",\"Principal\":\"*\",\"Action\":\"sqs:ReceiveMessage\","        \
    "\"Resource\":\"" Q_ARN "\",\"Condition\":{\"IpAddress\":"               \
    "{\"aws:SourceIp\":\"192.0.2.128/26\"}}}]}"

START_TEST(test_aws_examples)
{
    static const row identity[] = {
        /* IAM: deny access based on the source IP */
        {DENY_OUTSIDE_IPS, "sqs:SendMessage", 0, 0, "198.51.100.7", 1,
         LMQ_POLICY_DENY},
        {DENY_OUTSIDE_IPS, "sqs:SendMessage", 0, 0, "203.0.113.9", 1,
         LMQ_POLICY_NONE},
        /* IAM: deny access outside the requested regions (lmqd's region
         * is in the queue's ARN) */
        {REGIONS_ONLY, "sqs:SendMessage", 0, 0, 0, 1, LMQ_POLICY_DENY},
        {REGIONS_ONLY, "sqs:SendMessage",
         "arn:aws:sqs:eu-west-1:" ACCT ":jobs", 0, 0, 1, LMQ_POLICY_NONE},
        /* IAM: allow within a date range (now: 2026-12-07T12:00:00Z) */
        {TIME_WINDOW, "sqs:ReceiveMessage", 0, 0, 0, 1, LMQ_POLICY_ALLOW},
    };
    run_rows(identity, sizeof identity / sizeof *identity,
             LMQ_POLICY_IDENTITY);
    static const row resource[] = {
        /* SQS: grant all permissions to another account */
        {SQS_ALL_IN_ACCOUNT, "sqs:DeleteMessage", 0,
         "arn:aws:iam::" OTHER ":user/bob", 0, 1, LMQ_POLICY_ALLOW},
        {SQS_ALL_IN_ACCOUNT, "sqs:DeleteMessage", 0, 0, 0, 1,
         LMQ_POLICY_NONE},
        /* SQS: send only within a time range (the start is exclusive) */
        {SQS_SEND_IN_WINDOW, "sqs:SendMessage", 0,
         "arn:aws:iam::" OTHER ":user/bob", 0, 1, LMQ_POLICY_NONE},
        /* SQS: everything from one IP range */
        {SQS_FROM_IPS, "sqs:SendMessage", 0, 0, "192.0.2.200", 1,
         LMQ_POLICY_ALLOW},
        {SQS_FROM_IPS, "sqs:SendMessage", 0, 0, "192.0.3.1", 1,
         LMQ_POLICY_NONE},
        /* SQS: receive from a range, but not from a sub-range */
        {SQS_DENY_OTHER_IPS, "sqs:ReceiveMessage", 0, 0, "192.0.2.10", 1,
         LMQ_POLICY_ALLOW},
        {SQS_DENY_OTHER_IPS, "sqs:ReceiveMessage", 0, 0, "192.0.2.130", 1,
         LMQ_POLICY_DENY},
        {SQS_DENY_OTHER_IPS, "sqs:SendMessage", 0, 0, "192.0.2.10", 1,
         LMQ_POLICY_NONE},
    };
    run_rows(resource, sizeof resource / sizeof *resource,
             LMQ_POLICY_RESOURCE);
}
END_TEST

/* What lmqd cannot evaluate is refused by lmq__policy_check with a reason
 * naming it (--policies at start and on SIGHUP, SetQueueAttributes and
 * CreateQueue through lmqd), and a document stored anyway denies. */
START_TEST(test_refused)
{
    static const struct {
        const char *policy;
        const char *reason;
    } bad[] = {
        {COND("Allow", "{\"BinaryEquals\":{\"aws:username\":\"d29y\"}}"),
         "condition operator BinaryEquals is not one lmqd evaluates"},
        {COND("Allow", "{\"StringEqualz\":{\"aws:username\":\"w\"}}"),
         "condition operator StringEqualz is not one lmqd evaluates"},
        {COND("Allow", "{\"NullIfExists\":{\"aws:username\":\"true\"}}"),
         "Null takes no IfExists"},
        {COND("Allow", "{\"ForAnyValue:Null\":{\"aws:username\":\"true\"}}"),
         "Null takes no IfExists and no ForAnyValue"},
        {COND("Allow", "{\"ForSomeValues:StringEquals\":{\"aws:username\":"
                       "\"w\"}}"),
         "ForSomeValues:StringEquals is not one lmqd evaluates"},
        {COND("Allow", "{\"StringEquals\":{\"aws:PrincipalOrgID\":\"o-1\"}}"),
         "condition key aws:PrincipalOrgID is not one lmqd knows"},
        {COND("Deny", "{\"StringEquals\":{\"aws:PrincipalTag/team\":\"a\"}}"),
         "condition key aws:PrincipalTag/team is not one lmqd knows"},
        {COND("Allow", "{\"StringEquals\":{\"sqs:QueueName\":\"a\"}}"),
         "condition key sqs:QueueName is not one lmqd knows"},
        {COND("Allow", "{\"IpAddress\":{\"aws:PrincipalArn\":\"10.0.0.0/8\"}}"),
         "IpAddress cannot compare aws:PrincipalArn"},
        {COND("Allow", "{\"StringEquals\":{\"aws:SourceIp\":\"10.0.0.1\"}}"),
         "StringEquals cannot compare aws:SourceIp"},
        {COND("Allow", "{\"NumericLessThan\":{\"aws:CurrentTime\":\"5\"}}"),
         "NumericLessThan cannot compare aws:CurrentTime"},
        {COND("Allow", "{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/40\"}}"),
         "10.0.0.0/40 is not an IP address or CIDR"},
        {COND("Deny", "{\"DateLessThan\":{\"aws:CurrentTime\":\"soon\"}}"),
         "soon is not a date"},
        {COND("Allow", "{\"NumericEquals\":{\"aws:EpochTime\":\"12abc\"}}"),
         "12abc is not a number"},
        {COND("Allow", "{\"Bool\":{\"aws:SecureTransport\":\"yes\"}}"),
         "yes is not true or false"},
        {COND("Allow", "{\"Null\":{\"aws:SourceArn\":1}}"),
         "1 is not true or false"},
        {COND("Allow", "{\"StringEquals\":{\"aws:username\":[]}}"),
         "Condition key aws:username has no values"},
        /* variables: names and syntax, checked in 2012-10-17 policies */
        {VPOL(V12, "Allow", QA("${aws:username")),
         "unterminated policy variable"},
        {VPOL(V12, "Allow", QA("${aws:PrincipalTag/team}")),
         "policy variable ${aws:PrincipalTag/team}: not a key lmqd knows"},
        {VPOL(V12, "Allow", QA("${aws:username, shared}")),
         "the default of ${aws:username} in"},
        {VPOL(V12, "Allow", QA("${aws:username, 'shared}")),
         "unterminated default"},
        {VPOL(V12, "Allow", QA("${}")), "bad policy variable"},
        {VCOND("{\"StringLike\":{\"aws:username\":\"${aws:nope}\"}}"),
         "policy variable ${aws:nope}: not a key lmqd knows"},
        /* a variable where a date is needed is no date */
        {VCOND("{\"DateLessThan\":{\"aws:CurrentTime\":"
               "\"${aws:CurrentTime}\"}}"),
         "is not a date"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *d = doc(bad[i].policy);
        char err[256] = "";
        ck_assert_msg(lmq__policy_check(d, LMQ_POLICY_IDENTITY, err,
                                        sizeof err) == -1,
                      "policy %zu accepted: %s", i, bad[i].policy);
        ck_assert_msg(strstr(err, bad[i].reason) != NULL,
                      "policy %zu: reason \"%s\", wanted \"%s\"", i, err,
                      bad[i].reason);
        /* Evaluated anyway (a Policy stored by the CLI), it denies. */
        lmq_policy_request r = req("sqs:SendMessage");
        ck_assert_int_eq(lmq__policy_eval(d, LMQ_POLICY_IDENTITY, &r),
                         LMQ_POLICY_DENY);
        json_decref(d);
    }
    /* Without Version 2012-10-17 a malformed variable is plain text. */
    json_t *d = doc(VPOL("", "Allow", QA("${aws:username")));
    ck_assert_int_eq(lmq__policy_check(d, LMQ_POLICY_IDENTITY, NULL, 0), 0);
    json_decref(d);
}
END_TEST

START_TEST(test_malformed)
{
    static const struct {
        const char *policy;
        lmq_policy_kind kind;
    } bad[] = {
        {"[]", LMQ_POLICY_IDENTITY},
        {"{}", LMQ_POLICY_IDENTITY},
        {"{\"Statement\":[]}", LMQ_POLICY_IDENTITY},
        {"{\"Version\":\"2020-01-01\",\"Statement\":{\"Effect\":\"Allow\","
         "\"Action\":\"*\",\"Resource\":\"*\"}}",
         LMQ_POLICY_IDENTITY},
        {"{\"Statement\":{\"Effect\":\"allow\",\"Action\":\"*\","
         "\"Resource\":\"*\"}}",
         LMQ_POLICY_IDENTITY},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Resource\":\"*\"}}",
         LMQ_POLICY_IDENTITY},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
         "\"NotAction\":\"sqs:X\",\"Resource\":\"*\"}}",
         LMQ_POLICY_IDENTITY},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\"}}",
         LMQ_POLICY_IDENTITY},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":[],"
         "\"Resource\":\"*\"}}",
         LMQ_POLICY_IDENTITY},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":[1],"
         "\"Resource\":\"*\"}}",
         LMQ_POLICY_IDENTITY},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
         "\"Resource\":\"*\",\"Condtion\":{}}}",
         LMQ_POLICY_IDENTITY},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
         "\"Resource\":\"*\",\"Principal\":\"*\"}}",
         LMQ_POLICY_IDENTITY},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
         "\"Resource\":\"*\"}}",
         LMQ_POLICY_RESOURCE},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
         "\"Principal\":\"someone\"}}",
         LMQ_POLICY_RESOURCE},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
         "\"Principal\":{\"Alien\":\"x\"}}}",
         LMQ_POLICY_RESOURCE},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
         "\"Resource\":\"*\",\"Condition\":{\"Bool\":\"x\"}}}",
         LMQ_POLICY_IDENTITY},
        {"{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\","
         "\"Resource\":\"*\",\"Condition\":{\"Bool\":{\"k\":{}}}}}",
         LMQ_POLICY_IDENTITY},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *d = doc(bad[i].policy);
        char err[256] = "";
        ck_assert_msg(lmq__policy_check(d, bad[i].kind, err, sizeof err) ==
                          -1,
                      "malformed policy %zu accepted: %s", i, bad[i].policy);
        ck_assert_msg(err[0] != '\0', "no reason for policy %zu", i);
        /* Evaluated anyway, it denies. */
        lmq_policy_request r = req("sqs:SendMessage");
        ck_assert_int_eq(lmq__policy_eval(d, bad[i].kind, &r),
                         LMQ_POLICY_DENY);
        json_decref(d);
    }
}
END_TEST

START_TEST(test_decide)
{
    json_t *worker = doc(WORKER_POLICY);
    json_t *res = doc(RES("{\"AWS\":\"arn:aws:iam::" ACCT ":user/producer\"}"));
    json_t *deny_http = doc(
        "{\"Statement\":{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":"
        "\"sqs:*\",\"Resource\":\"" Q_ARN "\",\"Condition\":{\"Bool\":"
        "{\"aws:SecureTransport\":\"false\"}}}}");
    json_t *deny_purge = doc("{\"Statement\":{\"Effect\":\"Deny\",\"Action\":"
                             "\"sqs:PurgeQueue\",\"Resource\":\"*\"}}");
    const json_t *ids[] = {worker};
    const json_t *ids2[] = {worker, deny_purge};
    lmq_policy_request r = req("sqs:ReceiveMessage");

    /* Identity allow, no resource policy. */
    ck_assert_int_eq(lmq__policy_decide(ids, 1, NULL, ACCT, &r),
                     LMQ_POLICY_ALLOWED);
    r.action = "sqs:SendMessage";
    ck_assert_int_eq(lmq__policy_decide(ids, 1, NULL, ACCT, &r),
                     LMQ_POLICY_NO_IDENTITY);
    /* A resource policy alone allows a principal of the same account. */
    r.principal = "arn:aws:iam::" ACCT ":user/producer";
    ck_assert_int_eq(lmq__policy_decide(NULL, 0, res, ACCT, &r),
                     LMQ_POLICY_ALLOWED);
    /* ...but not one of another account, without its identity allow. */
    r.principal = "arn:aws:iam::" OTHER ":user/producer";
    json_t *res_other = doc(RES("{\"AWS\":\"" OTHER "\"}"));
    ck_assert_int_eq(lmq__policy_decide(NULL, 0, res_other, ACCT, &r),
                     LMQ_POLICY_NO_IDENTITY);
    json_t *send_all = doc("{\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
                           "\"sqs:SendMessage\",\"Resource\":\"*\"}}");
    const json_t *ids3[] = {send_all};
    ck_assert_int_eq(lmq__policy_decide(ids3, 1, res_other, ACCT, &r),
                     LMQ_POLICY_ALLOWED);
    ck_assert_int_eq(lmq__policy_decide(ids3, 1, NULL, ACCT, &r),
                     LMQ_POLICY_NO_RESOURCE);
    /* Another account's root needs only the resource policy. */
    r.principal = "arn:aws:iam::" OTHER ":root";
    ck_assert_int_eq(lmq__policy_decide(NULL, 0, res_other, ACCT, &r),
                     LMQ_POLICY_ALLOWED);
    ck_assert_int_eq(lmq__policy_decide(NULL, 0, NULL, ACCT, &r),
                     LMQ_POLICY_NO_RESOURCE);
    /* The account's root may do anything but what a resource Deny
     * forbids. */
    r.principal = ROOT;
    r.action = "sqs:PurgeQueue";
    ck_assert_int_eq(lmq__policy_decide(NULL, 0, NULL, ACCT, &r),
                     LMQ_POLICY_ALLOWED);
    r.secure_transport = 0;
    ck_assert_int_eq(lmq__policy_decide(NULL, 0, deny_http, ACCT, &r),
                     LMQ_POLICY_RESOURCE_DENY);
    r.secure_transport = 1;
    ck_assert_int_eq(lmq__policy_decide(NULL, 0, deny_http, ACCT, &r),
                     LMQ_POLICY_ALLOWED);
    /* An identity Deny beats the resource policy's Allow. */
    r.principal = WORKER;
    r.action = "sqs:PurgeQueue";
    json_t *res_all = doc("{\"Statement\":{\"Effect\":\"Allow\","
                          "\"Principal\":\"*\",\"Action\":\"sqs:*\"}}");
    ck_assert_int_eq(lmq__policy_decide(ids2, 2, res_all, ACCT, &r),
                     LMQ_POLICY_IDENTITY_DENY);
    ck_assert_int_eq(lmq__policy_decide(ids, 1, res_all, ACCT, &r),
                     LMQ_POLICY_ALLOWED);
    /* A malformed queue policy denies everyone, the root too. */
    json_t *junk = doc("{\"Statement\":\"everyone\"}");
    r.principal = ROOT;
    ck_assert_int_eq(lmq__policy_decide(NULL, 0, junk, ACCT, &r),
                     LMQ_POLICY_RESOURCE_DENY);

    char msg[512];
    r.principal = WORKER;
    r.action = "sqs:SendMessage";
    lmq__policy_message(LMQ_POLICY_NO_IDENTITY, &r, msg, sizeof msg);
    ck_assert_str_eq(msg, "User: " WORKER " is not authorized to perform: "
                          "sqs:sendmessage on resource: " Q_ARN
                          " because no identity-based policy allows the "
                          "sqs:sendmessage action");
    lmq__policy_message(LMQ_POLICY_RESOURCE_DENY, &r, msg, sizeof msg);
    ck_assert_str_eq(msg, "User: " WORKER " is not authorized to perform: "
                          "sqs:sendmessage on resource: " Q_ARN
                          " with an explicit deny in a resource-based "
                          "policy");
    json_decref(worker);
    json_decref(res);
    json_decref(res_other);
    json_decref(deny_http);
    json_decref(deny_purge);
    json_decref(send_all);
    json_decref(res_all);
    json_decref(junk);
}
END_TEST

/* Decode a JSON 1.0 request and list what it needs. */
static size_t
needs_of(const char *action, const char *body, lmq_policy_need *n)
{
    char target[96];
    snprintf(target, sizeof target, "AmazonSQS.%s", action);
    sqs_http h = {"POST", "/", NULL, "127.0.0.1:9324",
                  "application/x-amz-json-1.0", target, 0, body,
                  strlen(body)};
    sqs_req *r = NULL;
    ck_assert_int_eq(lmq__sqs_decode(&h, &r), 0);
    size_t k = lmq__sqs_req_needs(r, "us-east-1", ACCT, n);
    lmq__sqs_req_free(r);
    return k;
}

START_TEST(test_request_needs)
{
    lmq_policy_need n[LMQ_POLICY_MAX_NEEDS];
    const char *url = "{\"QueueUrl\":\"http://h/" ACCT "/jobs\"";
    char body[512];

    snprintf(body, sizeof body, "%s,\"Entries\":[{\"Id\":\"a\","
                                "\"MessageBody\":\"x\"}]}", url);
    ck_assert_uint_eq(needs_of("SendMessageBatch", body, n), 1);
    ck_assert_str_eq(n[0].action, "sqs:SendMessage");
    ck_assert_str_eq(n[0].resource, Q_ARN);
    ck_assert_str_eq(n[0].queue, "jobs");

    snprintf(body, sizeof body, "%s,\"Entries\":[{\"Id\":\"a\","
                                "\"ReceiptHandle\":\"r\"}]}", url);
    ck_assert_uint_eq(needs_of("DeleteMessageBatch", body, n), 1);
    ck_assert_str_eq(n[0].action, "sqs:DeleteMessage");
    snprintf(body, sizeof body, "%s,\"Entries\":[{\"Id\":\"a\","
                                "\"ReceiptHandle\":\"r\","
                                "\"VisibilityTimeout\":1}]}", url);
    ck_assert_uint_eq(needs_of("ChangeMessageVisibilityBatch", body, n), 1);
    ck_assert_str_eq(n[0].action, "sqs:ChangeMessageVisibility");
    snprintf(body, sizeof body, "%s}", url);
    ck_assert_uint_eq(needs_of("PurgeQueue", body, n), 1);
    ck_assert_str_eq(n[0].action, "sqs:PurgeQueue");

    ck_assert_uint_eq(needs_of("CreateQueue", "{\"QueueName\":\"new\"}", n), 1);
    ck_assert_str_eq(n[0].resource, "arn:aws:sqs:us-east-1:" ACCT ":new");
    ck_assert_str_eq(n[0].queue, "");
    ck_assert_uint_eq(needs_of("GetQueueUrl", "{\"QueueName\":\"jobs\"}", n),
                      1);
    ck_assert_str_eq(n[0].queue, "jobs");
    ck_assert_uint_eq(needs_of("ListQueues", "{}", n), 1);
    ck_assert_str_eq(n[0].action, "sqs:ListQueues");
    ck_assert_str_eq(n[0].resource, "arn:aws:sqs:us-east-1:" ACCT ":");
    ck_assert_str_eq(n[0].queue, "");

    ck_assert_uint_eq(
        needs_of("StartMessageMoveTask",
                 "{\"SourceArn\":\"arn:aws:sqs:us-east-1:" ACCT ":dlq\","
                 "\"DestinationArn\":\"" Q_ARN "\"}",
                 n),
        5);
    ck_assert_str_eq(n[0].action, "sqs:StartMessageMoveTask");
    ck_assert_str_eq(n[0].queue, "dlq");
    ck_assert_str_eq(n[4].action, "sqs:SendMessage");
    ck_assert_str_eq(n[4].queue, "jobs");

    /* A request that fails to decode needs nothing: it is refused. */
    ck_assert_uint_eq(needs_of("SendMessage", "{\"QueueUrl\":1}", n), 0);
    ck_assert_uint_eq(needs_of("NoSuchAction", "{}", n), 0);
}
END_TEST

Suite *
lmq_suite_policy(void)
{
    Suite *s = suite_create("policy");
    TCase *t = tcase_create("evaluation");
    tcase_add_test(t, test_allow_and_implicit_deny);
    tcase_add_test(t, test_explicit_deny_wins);
    tcase_add_test(t, test_wildcards);
    tcase_add_test(t, test_not_action_not_resource);
    tcase_add_test(t, test_principals);
    tcase_add_test(t, test_conditions);
    tcase_add_test(t, test_operators);
    tcase_add_test(t, test_variables);
    tcase_add_test(t, test_aws_examples);
    suite_add_tcase(s, t);
    t = tcase_create("documents and decisions");
    tcase_add_test(t, test_malformed);
    tcase_add_test(t, test_refused);
    tcase_add_test(t, test_decide);
    tcase_add_test(t, test_request_needs);
    suite_add_tcase(s, t);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_policy());
}
