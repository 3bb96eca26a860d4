/*
 * check_filter.c: Lambda event-filter patterns (tools/lmq_filter.c), the
 * matcher behind `lmq consume --event lambda --filter` (issue 25).
 *
 * The module is pure (jansson only, no home, no I/O), so the suite links
 * tools/lmq_filter.c directly and needs no temporary directory. The tables
 * use the examples of the AWS Lambda Developer Guide ("Filter rule syntax",
 * the SQS filtering page and its body-format table) on SQS event records
 * shaped like the guide's example record, with JSON and plain bodies.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmq_filter.h"

/* An SQS event record as Lambda sends it (the guide's example), with the
 * given body and, when mattrs is not NULL, that messageAttributes JSON. */
static json_t *
record(const char *body, const char *mattrs)
{
    json_t *ma = mattrs ? json_loads(mattrs, 0, NULL) : json_object();
    ck_assert_ptr_nonnull(ma);
    json_t *r = json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:o, s:s, s:s, s:s, s:s}",
        "messageId", "059f36b4-87a3-44ab-83d2-661975830a7d", "receiptHandle",
        "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...", "body", body, "attributes",
        "ApproximateReceiveCount", "1", "SentTimestamp", "1545082649183",
        "SenderId", "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp",
        "1545082649185", "messageAttributes", ma, "md5OfBody",
        "e4e68fb7bd0e697a0ae8f1bb342846b3", "eventSource", "aws:sqs",
        "eventSourceARN", "arn:aws:sqs:us-west-2:123456789012:my-queue",
        "awsRegion", "us-west-2");
    ck_assert_ptr_nonnull(r);
    return r;
}

typedef struct row {
    const char *pattern;
    const char *body;
    const char *mattrs; /* messageAttributes JSON, or NULL for {} */
    int expect;
} row;

static void
run_rows(const row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char err[512];
        cli_filter *f = NULL;
        const char *p = rows[i].pattern;
        int rc = cli_filter_parse(&p, 1, &f, err, sizeof err);
        ck_assert_msg(rc == 0, "row %zu: parse %s failed: %s", i, p, err);
        json_t *r = record(rows[i].body, rows[i].mattrs);
        int got = cli_filter_match(f, r);
        ck_assert_msg(got == rows[i].expect,
                      "row %zu: pattern %s on body %s gave %d, expected %d", i,
                      p, rows[i].body, got, rows[i].expect);
        json_decref(r);
        cli_filter_free(f);
    }
}

#define RUN(rows) run_rows(rows, sizeof rows / sizeof rows[0])

/* The guide's SQS example message and its variants. */
#define DOC_BODY                                                               \
    "{\n \"RecordNumber\": 1234,\n \"TimeStamp\": \"yyyy-mm-ddThh:mm:ss\",\n " \
    "\"RequestCode\": \"AAAA\"\n}"

/* The SQS page's two examples: RequestCode is "BBBB", RecordNumber > 9999. */
START_TEST(test_sqs_doc_examples)
{
    static const row rows[] = {
        {"{ \"body\" : { \"RequestCode\" : [ \"BBBB\" ] } }", DOC_BODY, NULL,
         0},
        {"{ \"body\" : { \"RequestCode\" : [ \"BBBB\" ] } }",
         "{\"RecordNumber\": 1234, \"RequestCode\": \"BBBB\"}", NULL, 1},
        {"{ \"body\" : { \"RequestCode\" : [ \"AAAA\" ] } }", DOC_BODY, NULL,
         1},
        {"{ \"body\" : { \"RecordNumber\" : [ { \"numeric\": [ \">\", 9999 ] "
         "} ] } }",
         DOC_BODY, NULL, 0},
        {"{ \"body\" : { \"RecordNumber\" : [ { \"numeric\": [ \">\", 9999 ] "
         "} ] } }",
         "{\"RecordNumber\": 10000}", NULL, 1},
    };
    RUN(rows);
}
END_TEST

/* Every row of the guide's "Filter rule syntax" table, each way. */
START_TEST(test_rule_syntax_table)
{
    static const row rows[] = {
        /* Null: matches a JSON null, not a missing field or a value. */
        {"{\"body\":{\"UserID\":[null]}}", "{\"UserID\":null}", NULL, 1},
        {"{\"body\":{\"UserID\":[null]}}", "{\"UserID\":\"u1\"}", NULL, 0},
        {"{\"body\":{\"UserID\":[null]}}", "{\"Other\":1}", NULL, 0},
        /* Empty. */
        {"{\"body\":{\"LastName\":[\"\"]}}", "{\"LastName\":\"\"}", NULL, 1},
        {"{\"body\":{\"LastName\":[\"\"]}}", "{\"LastName\":\"Doe\"}", NULL, 0},
        /* Equals: exact, case-sensitive. */
        {"{\"body\":{\"Name\":[\"Alice\"]}}", "{\"Name\":\"Alice\"}", NULL, 1},
        {"{\"body\":{\"Name\":[\"Alice\"]}}", "{\"Name\":\"alice\"}", NULL, 0},
        /* Equals (ignore case). */
        {"{\"body\":{\"Name\":[{\"equals-ignore-case\":\"alice\"}]}}",
         "{\"Name\":\"ALICE\"}", NULL, 1},
        {"{\"body\":{\"Name\":[{\"equals-ignore-case\":\"alice\"}]}}",
         "{\"Name\":\"Alicia\"}", NULL, 0},
        /* And. */
        {"{\"body\":{\"Location\":[\"New York\"],\"Day\":[\"Monday\"]}}",
         "{\"Location\":\"New York\",\"Day\":\"Monday\"}", NULL, 1},
        {"{\"body\":{\"Location\":[\"New York\"],\"Day\":[\"Monday\"]}}",
         "{\"Location\":\"New York\",\"Day\":\"Friday\"}", NULL, 0},
        /* Or (values). */
        {"{\"body\":{\"PaymentType\":[\"Credit\",\"Debit\"]}}",
         "{\"PaymentType\":\"Debit\"}", NULL, 1},
        {"{\"body\":{\"PaymentType\":[\"Credit\",\"Debit\"]}}",
         "{\"PaymentType\":\"Cash\"}", NULL, 0},
        /* Or (multiple fields), "$or". */
        {"{\"body\":{\"$or\":[{\"Location\":[\"New York\"]},"
         "{\"Day\":[\"Monday\"]}]}}",
         "{\"Location\":\"Paris\",\"Day\":\"Monday\"}", NULL, 1},
        {"{\"body\":{\"$or\":[{\"Location\":[\"New York\"]},"
         "{\"Day\":[\"Monday\"]}]}}",
         "{\"Location\":\"Paris\",\"Day\":\"Friday\"}", NULL, 0},
        /* Not (anything-but): needs the field to be present. */
        {"{\"body\":{\"Weather\":[{\"anything-but\":[\"Raining\"]}]}}",
         "{\"Weather\":\"Sunny\"}", NULL, 1},
        {"{\"body\":{\"Weather\":[{\"anything-but\":[\"Raining\"]}]}}",
         "{\"Weather\":\"Raining\"}", NULL, 0},
        {"{\"body\":{\"Weather\":[{\"anything-but\":[\"Raining\"]}]}}",
         "{\"Sky\":\"blue\"}", NULL, 0},
        /* Numeric (equals). */
        {"{\"body\":{\"Price\":[{\"numeric\":[\"=\",100]}]}}",
         "{\"Price\":100}", NULL, 1},
        {"{\"body\":{\"Price\":[{\"numeric\":[\"=\",100]}]}}",
         "{\"Price\":100.0}", NULL, 1},
        {"{\"body\":{\"Price\":[{\"numeric\":[\"=\",100]}]}}",
         "{\"Price\":100.5}", NULL, 0},
        /* Numeric (range): > 10 and <= 20, bounds included as written. */
        {"{\"body\":{\"Price\":[{\"numeric\":[\">\",10,\"<=\",20]}]}}",
         "{\"Price\":10}", NULL, 0},
        {"{\"body\":{\"Price\":[{\"numeric\":[\">\",10,\"<=\",20]}]}}",
         "{\"Price\":15}", NULL, 1},
        {"{\"body\":{\"Price\":[{\"numeric\":[\">\",10,\"<=\",20]}]}}",
         "{\"Price\":20}", NULL, 1},
        {"{\"body\":{\"Price\":[{\"numeric\":[\">\",10,\"<=\",20]}]}}",
         "{\"Price\":20.5}", NULL, 0},
        {"{\"body\":{\"Price\":[{\"numeric\":[\">=\",-1.5,\"<\",0]}]}}",
         "{\"Price\":-1.5}", NULL, 1},
        /* numeric only matches JSON numbers, never a numeric string. */
        {"{\"body\":{\"Price\":[{\"numeric\":[\">\",10]}]}}",
         "{\"Price\":\"15\"}", NULL, 0},
        /* Exists / does not exist. */
        {"{\"body\":{\"ProductName\":[{\"exists\":true}]}}",
         "{\"ProductName\":\"x\"}", NULL, 1},
        {"{\"body\":{\"ProductName\":[{\"exists\":true}]}}",
         "{\"Other\":\"x\"}", NULL, 0},
        {"{\"body\":{\"ProductName\":[{\"exists\":false}]}}",
         "{\"Other\":\"x\"}", NULL, 1},
        {"{\"body\":{\"ProductName\":[{\"exists\":false}]}}",
         "{\"ProductName\":\"x\"}", NULL, 0},
        /* Begins with / ends with. */
        {"{\"body\":{\"Region\":[{\"prefix\":\"us-\"}]}}",
         "{\"Region\":\"us-east-1\"}", NULL, 1},
        {"{\"body\":{\"Region\":[{\"prefix\":\"us-\"}]}}",
         "{\"Region\":\"eu-west-1\"}", NULL, 0},
        {"{\"body\":{\"FileName\":[{\"suffix\":\".png\"}]}}",
         "{\"FileName\":\"cat.png\"}", NULL, 1},
        {"{\"body\":{\"FileName\":[{\"suffix\":\".png\"}]}}",
         "{\"FileName\":\"cat.jpg\"}", NULL, 0},
    };
    RUN(rows);
}
END_TEST

/* The guide's note: exists only works on leaf nodes; the person.address
 * example does not match. */
#define PERSON                                                                 \
    "{\"person\":{\"name\":\"John Doe\",\"age\":30,\"address\":{"              \
    "\"street\":\"123 Main St\",\"city\":\"Anytown\",\"country\":\"USA\"}}}"

START_TEST(test_exists_leaf_only)
{
    static const row rows[] = {
        {"{\"body\":{\"person\":{\"address\":[{\"exists\":true}]}}}", PERSON,
         NULL, 0},
        {"{\"body\":{\"person\":{\"address\":[{\"exists\":false}]}}}", PERSON,
         NULL, 1},
        {"{\"body\":{\"person\":{\"address\":{\"city\":[{\"exists\":true}]}}}}",
         PERSON, NULL, 1},
        {"{\"body\":{\"person\":{\"name\":[{\"exists\":true}]}}}", PERSON, NULL,
         1},
        /* A nested exists:false holds when the parent itself is absent. */
        {"{\"body\":{\"pet\":{\"name\":[{\"exists\":false}]}}}", PERSON, NULL,
         1},
        {"{\"body\":{\"pet\":{\"name\":[{\"exists\":true}]}}}", PERSON, NULL,
         0},
        /* A null value is a leaf that exists. */
        {"{\"body\":{\"a\":[{\"exists\":true}]}}", "{\"a\":null}", NULL, 1},
    };
    RUN(rows);
}
END_TEST

/* EventBridge's extra forms, which Lambda says it shares. */
START_TEST(test_extended_operators)
{
    static const row rows[] = {
        {"{\"body\":{\"state\":[{\"anything-but\":\"initializing\"}]}}",
         "{\"state\":\"running\"}", NULL, 1},
        {"{\"body\":{\"state\":[{\"anything-but\":\"initializing\"}]}}",
         "{\"state\":\"initializing\"}", NULL, 0},
        {"{\"body\":{\"Region\":[{\"anything-but\":{\"prefix\":\"us-\"}}]}}",
         "{\"Region\":\"eu-west-1\"}", NULL, 1},
        {"{\"body\":{\"Region\":[{\"anything-but\":{\"prefix\":\"us-\"}}]}}",
         "{\"Region\":\"us-east-1\"}", NULL, 0},
        {"{\"body\":{\"FileName\":[{\"anything-but\":{\"suffix\":\".png\"}}]}}",
         "{\"FileName\":\"a.jpg\"}", NULL, 1},
        {"{\"body\":{\"FileName\":[{\"anything-but\":{\"suffix\":\".png\"}}]}}",
         "{\"FileName\":\"a.png\"}", NULL, 0},
        {"{\"body\":{\"state\":[{\"anything-but\":{\"equals-ignore-case\":"
         "\"initializing\"}}]}}",
         "{\"state\":\"INITIALIZING\"}", NULL, 0},
        {"{\"body\":{\"state\":[{\"anything-but\":{\"equals-ignore-case\":"
         "[\"a\",\"b\"]}}]}}",
         "{\"state\":\"C\"}", NULL, 1},
        {"{\"body\":{\"FilePath\":[{\"anything-but\":{\"wildcard\":"
         "\"*/lib/*\"}}]}}",
         "{\"FilePath\":\"/usr/lib/x.so\"}", NULL, 0},
        {"{\"body\":{\"FilePath\":[{\"anything-but\":{\"wildcard\":"
         "\"*/lib/*\"}}]}}",
         "{\"FilePath\":\"/usr/bin/x\"}", NULL, 1},
        {"{\"body\":{\"code\":[{\"anything-but\":[100,200]}]}}",
         "{\"code\":150}", NULL, 1},
        {"{\"body\":{\"code\":[{\"anything-but\":[100,200]}]}}",
         "{\"code\":100}", NULL, 0},
        {"{\"body\":{\"service\":[{\"prefix\":{\"equals-ignore-case\":"
         "\"eventb\"}}]}}",
         "{\"service\":\"EventBridge\"}", NULL, 1},
        {"{\"body\":{\"file\":[{\"suffix\":{\"equals-ignore-case\":\".PNG\"}}"
         "]}}",
         "{\"file\":\"a.png\"}", NULL, 1},
        {"{\"body\":{\"email\":[{\"wildcard\":\"*@doe.com\"}]}}",
         "{\"email\":\"jane@doe.com\"}", NULL, 1},
        {"{\"body\":{\"email\":[{\"wildcard\":\"*@doe.com\"}]}}",
         "{\"email\":\"jane@doe.org\"}", NULL, 0},
        {"{\"body\":{\"p\":[{\"wildcard\":\"a*b*c\"}]}}", "{\"p\":\"aXbYbc\"}",
         NULL, 1},
        {"{\"body\":{\"p\":[{\"wildcard\":\"a*b*c\"}]}}", "{\"p\":\"abX\"}",
         NULL, 0},
        /* "\\*" in JSON is the two characters \*: a literal star. */
        {"{\"body\":{\"p\":[{\"wildcard\":\"a\\\\*\"}]}}", "{\"p\":\"a*\"}",
         NULL, 1},
        {"{\"body\":{\"p\":[{\"wildcard\":\"a\\\\*\"}]}}", "{\"p\":\"ab\"}",
         NULL, 0},
    };
    RUN(rows);
}
END_TEST

/* Values by type, arrays in the event, nesting. */
START_TEST(test_values_and_arrays)
{
    static const row rows[] = {
        /* The console example { "a" : [ 1, 2 ] }, on the body. */
        {"{\"body\":{\"a\":[1,2]}}", "{\"a\":2}", NULL, 1},
        {"{\"body\":{\"a\":[1,2]}}", "{\"a\":3}", NULL, 0},
        {"{\"body\":{\"a\":[1,2]}}", "{\"a\":\"2\"}", NULL, 0},
        /* "300, 300.0, and 3.0e2 are not considered equal". */
        {"{\"body\":{\"a\":[300]}}", "{\"a\":300.0}", NULL, 0},
        {"{\"body\":{\"flag\":[true]}}", "{\"flag\":true}", NULL, 1},
        {"{\"body\":{\"flag\":[true]}}", "{\"flag\":\"true\"}", NULL, 0},
        {"{\"body\":{\"flag\":[false]}}", "{\"flag\":false}", NULL, 1},
        /* An array in the event matches when any element does. */
        {"{\"body\":{\"tags\":[\"b\"]}}", "{\"tags\":[\"a\",\"b\"]}", NULL, 1},
        {"{\"body\":{\"tags\":[\"b\"]}}", "{\"tags\":[\"a\",\"c\"]}", NULL, 0},
        {"{\"body\":{\"n\":[{\"numeric\":[\">\",5]}]}}", "{\"n\":[1,9]}", NULL,
         1},
        {"{\"body\":{\"items\":{\"sku\":[\"x\"]}}}",
         "{\"items\":[{\"sku\":\"y\"},{\"sku\":\"x\"}]}", NULL, 1},
        {"{\"body\":{\"items\":{\"sku\":[\"x\"]}}}",
         "{\"items\":[{\"sku\":\"y\"}]}", NULL, 0},
        {"{\"body\":{\"tags\":[{\"exists\":false}]}}", "{\"tags\":[]}", NULL,
         1},
        /* Multi-level nesting (the DynamoDB example, inside a body). */
        {"{\"body\":{\"Keys\":{\"Number\":{\"N\":[\"4567\"]}}}}",
         "{\"Keys\":{\"ID\":{\"S\":\"ABCD\"},\"Number\":{\"N\":\"4567\"}}}",
         NULL, 1},
        {"{\"body\":{\"Keys\":{\"Number\":{\"N\":[\"4567\"]}}}}",
         "{\"Keys\":{\"ID\":{\"S\":\"ABCD\"},\"Number\":{\"N\":\"1234\"}}}",
         NULL, 0},
        /* A field of the pattern that the event lacks fails the match. */
        {"{\"body\":{\"a\":[\"x\"],\"b\":[\"y\"]}}", "{\"a\":\"x\"}", NULL, 0},
        /* Fields of the event the pattern does not name are ignored. */
        {"{\"body\":{\"a\":[\"x\"]}}", "{\"a\":\"x\",\"z\":[1,{}]}", NULL, 1},
        /* An integer too large for jansson is still a number. */
        {"{\"body\":{\"n\":[{\"numeric\":[\">\",1]}]}}",
         "{\"n\":123456789012345678901234}", NULL, 1},
        /* Unicode is matched byte for byte. */
        {"{\"body\":{\"city\":[\"Z\\u00fcrich\"]}}", "{\"city\":\"Zürich\"}",
         NULL, 1},
    };
    RUN(rows);
}
END_TEST

/* The SQS body-format table: the pattern's form of "body" and the body's
 * form must agree. */
START_TEST(test_sqs_body_format)
{
    static const row rows[] = {
        /* Plain string body, plain string pattern: filtered normally. */
        {"{\"body\":[{\"prefix\":\"Result: \"}]}", "Result: ok", NULL, 1},
        {"{\"body\":[{\"prefix\":\"Result: \"}]}", "Error: no", NULL, 0},
        {"{\"body\":[\"hello\"]}", "hello", NULL, 1},
        {"{\"body\":[{\"wildcard\":\"*ERROR*\"}]}", "disk ERROR on sda", NULL,
         1},
        /* Plain string body, JSON pattern: dropped. */
        {"{\"body\":{\"a\":[\"x\"]}}", "hello", NULL, 0},
        {"{\"body\":{\"a\":[{\"exists\":false}]}}", "hello", NULL, 0},
        /* JSON body, plain string pattern: dropped, even if the text
         * matches. */
        {"{\"body\":[{\"prefix\":\"{\"}]}", "{\"a\":\"x\"}", NULL, 0},
        {"{\"body\":[{\"exists\":true}]}", "{\"a\":\"x\"}", NULL, 0},
        /* A body that is JSON but not an object is a plain string. */
        {"{\"body\":[\"123\"]}", "123", NULL, 1},
        {"{\"body\":[{\"prefix\":\"[1\"}]}", "[1,2]", NULL, 1},
        /* Not quite JSON: a plain string. */
        {"{\"body\":[{\"prefix\":\"{\"}]}", "{\"a\":", NULL, 1},
        /* No body pattern: metadata only, whatever the body. */
        {"{\"awsRegion\":[\"us-west-2\"]}", "plain", NULL, 1},
        {"{\"awsRegion\":[\"us-west-2\"]}", "{\"a\":1}", NULL, 1},
        {"{\"awsRegion\":[\"eu-west-1\"]}", "plain", NULL, 0},
        {"{\"eventSource\":[\"aws:sqs\"],\"messageId\":[{\"prefix\":"
         "\"059f\"}]}",
         "x", NULL, 1},
        /* Metadata and body together. */
        {"{\"awsRegion\":[\"us-west-2\"],\"body\":{\"a\":[1]}}", "{\"a\":1}",
         NULL, 1},
        {"{\"awsRegion\":[\"us-west-2\"],\"body\":{\"a\":[1]}}", "{\"a\":2}",
         NULL, 0},
        /* "$or" across metadata and body. */
        {"{\"$or\":[{\"awsRegion\":[\"eu-west-1\"]},{\"body\":{\"a\":[1]}}]}",
         "{\"a\":1}", NULL, 1},
        {"{\"$or\":[{\"awsRegion\":[\"eu-west-1\"]},{\"body\":{\"a\":[1]}}]}",
         "plain", NULL, 0},
    };
    RUN(rows);
}
END_TEST

/* attributes and messageAttributes are fields of the record. */
START_TEST(test_attributes)
{
    static const char *ma =
        "{\"kind\":{\"stringValue\":\"order\",\"stringListValues\":[],"
        "\"binaryListValues\":[],\"dataType\":\"String\"},"
        "\"n\":{\"stringValue\":\"42\",\"stringListValues\":[],"
        "\"binaryListValues\":[],\"dataType\":\"Number\"}}";
    const row rows[] = {
        {"{\"messageAttributes\":{\"kind\":{\"stringValue\":[\"order\"]}}}",
         "x", ma, 1},
        {"{\"messageAttributes\":{\"kind\":{\"stringValue\":[\"refund\"]}}}",
         "x", ma, 0},
        {"{\"messageAttributes\":{\"kind\":{\"stringValue\":[\"order\"]}}}",
         "x", NULL, 0},
        {"{\"messageAttributes\":{\"kind\":{\"dataType\":[\"String\"]},"
         "\"n\":{\"dataType\":[{\"prefix\":\"Number\"}]}}}",
         "x", ma, 1},
        {"{\"messageAttributes\":{\"missing\":[{\"exists\":false}]}}", "x", ma,
         1},
        {"{\"attributes\":{\"ApproximateReceiveCount\":[\"1\"]}}", "x", NULL,
         1},
        {"{\"attributes\":{\"SenderId\":[{\"anything-but\":"
         "\"AIDAIENQZJOLO23YVJ4VO\"}]}}",
         "x", NULL, 0},
    };
    RUN(rows);
}
END_TEST

/* Several filters are ORed; a FilterCriteria document is accepted whole. */
START_TEST(test_filters_or_and_criteria)
{
    char err[512];
    cli_filter *f = NULL;
    const char *two[] = {"{\"body\":{\"kind\":[\"order\"]}}",
                         "{\"body\":{\"kind\":[\"refund\"]}}"};
    ck_assert_int_eq(cli_filter_parse(two, 2, &f, err, sizeof err), 0);
    ck_assert_uint_eq(cli_filter_count(f), 2);
    json_t *r = record("{\"kind\":\"refund\"}", NULL);
    ck_assert_int_eq(cli_filter_match(f, r), 1);
    json_decref(r);
    r = record("{\"kind\":\"other\"}", NULL);
    ck_assert_int_eq(cli_filter_match(f, r), 0);
    json_decref(r);
    cli_filter_free(f);

    /* The guide's FilterCriteria, with its escaped Pattern strings. */
    const char *crit[] = {
        "{ \"Filters\": [ { \"Pattern\": \"{ \\\"body\\\" : { "
        "\\\"RequestCode\\\" : [ \\\"BBBB\\\" ] } }\" }, { \"Pattern\": \"{ "
        "\\\"body\\\" : { \\\"RecordNumber\\\" : [ { \\\"numeric\\\": [ "
        "\\\">\\\", 9999 ] } ] } }\" } ] }"};
    ck_assert_msg(cli_filter_parse(crit, 1, &f, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_uint_eq(cli_filter_count(f), 2);
    r = record(DOC_BODY, NULL);
    ck_assert_int_eq(cli_filter_match(f, r), 0);
    json_decref(r);
    r = record("{\"RecordNumber\":1,\"RequestCode\":\"BBBB\"}", NULL);
    ck_assert_int_eq(cli_filter_match(f, r), 1);
    json_decref(r);
    r = record("{\"RecordNumber\":12345,\"RequestCode\":\"AAAA\"}", NULL);
    ck_assert_int_eq(cli_filter_match(f, r), 1);
    json_decref(r);
    cli_filter_free(f);

    /* The lower-case spelling from the guide's --kms-key-arn example, mixed
     * with a plain pattern. */
    const char *mixed[] = {
        "{\"filters\": [{\"pattern\": \"{\\\"a\\\": [\\\"1\\\", \\\"2\\\"]}\" "
        "}]}",
        "{\"awsRegion\":[\"us-west-2\"]}"};
    ck_assert_msg(cli_filter_parse(mixed, 2, &f, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_uint_eq(cli_filter_count(f), 2);
    cli_filter_free(f);

    /* No filter matches everything; a non-object record matches nothing. */
    r = record("x", NULL);
    ck_assert_int_eq(cli_filter_match(NULL, r), 1);
    json_decref(r);
    ck_assert_uint_eq(cli_filter_count(NULL), 0);
    cli_filter_free(NULL);
    ck_assert_int_eq(cli_filter_parse(two, 1, &f, err, sizeof err), 0);
    json_t *s = json_string("x");
    ck_assert_int_eq(cli_filter_match(f, s), 0);
    json_decref(s);
    cli_filter_free(f);
}
END_TEST

typedef struct bad {
    const char *pattern;
    const char *needle; /* expected in the message */
} bad;

START_TEST(test_malformed)
{
    static const bad rows[] = {
        {"not json", "not valid JSON"},
        {"[1]", "must be a JSON object"},
        {"\"body\"", "must be a JSON object"},
        {"{}", "at least one field"},
        {"{\"a\":\"x\"}", "at \"a\": a field's value must be an object"},
        {"{\"a\":5}", "not a number"},
        {"{\"body\":{\"kind\":\"order\"}}", "at \"body.kind\""},
        {"{\"a\":[]}", "list of match values is empty"},
        {"{\"a\":[[\"x\"]]}", "cannot be an array"},
        {"{\"a\":[{\"foo\":1}]}", "unknown operator \"foo\""},
        {"{\"a\":[{\"cidr\":\"10.0.0.0/24\"}]}", "unknown operator \"cidr\""},
        {"{\"a\":[{\"prefix\":\"x\",\"suffix\":\"y\"}]}",
         "exactly one operator"},
        {"{\"a\":[{}]}", "exactly one operator"},
        {"{\"a\":[{\"prefix\":1}]}", "\"prefix\" takes a string"},
        {"{\"a\":[{\"suffix\":{\"x\":\"y\"}}]}", "\"suffix\" takes a string"},
        {"{\"a\":[{\"equals-ignore-case\":[\"x\"]}]}",
         "\"equals-ignore-case\" takes a string"},
        {"{\"a\":[{\"wildcard\":3}]}", "\"wildcard\" takes a string"},
        {"{\"a\":[{\"exists\":\"yes\"}]}", "true or false"},
        {"{\"a\":[{\"numeric\":[\">\"]}]}", "\"numeric\" takes"},
        {"{\"a\":[{\"numeric\":\">5\"}]}", "\"numeric\" takes"},
        {"{\"a\":[{\"numeric\":[\">\",\"5\"]}]}", "must be a number"},
        {"{\"a\":[{\"numeric\":[\"!=\",5]}]}", "operator must be one of"},
        {"{\"a\":[{\"numeric\":[\">\",1,\">\",2]}]}", "one lower bound"},
        {"{\"a\":[{\"numeric\":[\"=\",1,\"<\",2]}]}", "cannot be part"},
        {"{\"a\":[{\"numeric\":[\">\",1,\"<\",2,\"<\",3]}]}",
         "\"numeric\" takes"},
        {"{\"a\":[{\"anything-but\":[]}]}", "\"anything-but\" list is empty"},
        {"{\"a\":[{\"anything-but\":[{\"prefix\":\"x\"}]}]}",
         "list holds strings or numbers"},
        {"{\"a\":[{\"anything-but\":true}]}", "\"anything-but\" takes"},
        {"{\"a\":[{\"anything-but\":{\"prefix\":[\"x\"]}}]}",
         "{\"prefix\"} takes a string"},
        {"{\"a\":[{\"anything-but\":{\"numeric\":[\">\",1]}}]}",
         "unknown operator \"numeric\" inside"},
        {"{\"$or\":[{\"a\":[\"x\"]}]}", "at least two"},
        {"{\"$or\":{\"a\":[\"x\"]}}", "at least two"},
        {"{\"$or\":[{\"a\":[\"x\"]},[\"y\"]]}", "must be an object"},
        {"{\"$or\":[{\"a\":[\"x\"]},{\"b\":\"y\"}]}", "at \"b\""},
        {"{\"a\":[\"x\"],\"a\":[\"y\"]}", "duplicate"},
        {"{\"Filters\":[{\"Pattern\":5}]}", "\"Pattern\" string"},
        {"{\"Filters\":{}}", "must be a list"},
        {"{\"Filters\":[]}", "holds no filters"},
        {"{\"Filters\":[{\"Pattern\":\"{\\\"a\\\":\\\"x\\\"}\"}]}",
         "a field's value must be"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        static int dummy;
        char err[512] = "unset";
        cli_filter *f = (cli_filter *)(void *)&dummy; /* must become NULL */
        const char *p = rows[i].pattern;
        int rc = cli_filter_parse(&p, 1, &f, err, sizeof err);
        ck_assert_msg(rc == -1, "row %zu: %s was accepted", i, p);
        ck_assert_msg(f == NULL, "row %zu: *out not NULL on failure", i);
        ck_assert_msg(strstr(err, "Invalid filter pattern definition") == err,
                      "row %zu: message '%s'", i, err);
        ck_assert_msg(strstr(err, rows[i].needle) != NULL,
                      "row %zu: %s: message '%s' lacks '%s'", i, p, err,
                      rows[i].needle);
    }
}
END_TEST

START_TEST(test_limits)
{
    char err[512];
    cli_filter *f = NULL;
    const char *p[CLI_FILTER_MAX + 1];
    for (size_t i = 0; i <= CLI_FILTER_MAX; i++)
        p[i] = "{\"a\":[\"x\"]}";

    /* Lambda's raised quota is 10 filters; 11 are refused. */
    ck_assert_int_eq(cli_filter_parse(p, CLI_FILTER_MAX, &f, err, sizeof err),
                     0);
    ck_assert_uint_eq(cli_filter_count(f), CLI_FILTER_MAX);
    cli_filter_free(f);
    ck_assert_int_eq(
        cli_filter_parse(p, CLI_FILTER_MAX + 1, &f, err, sizeof err), -1);
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(err, "more than 10 filters") != NULL, "%s", err);

    /* A Pattern is at most 4,096 characters. */
    char *big = malloc(CLI_FILTER_PATTERN_MAX + 64);
    ck_assert_ptr_nonnull(big);
    size_t n = (size_t)snprintf(big, 64, "{\"a\":[\"");
    memset(big + n, 'x', CLI_FILTER_PATTERN_MAX);
    strcpy(big + n + CLI_FILTER_PATTERN_MAX, "\"]}");
    const char *bp = big;
    ck_assert_int_eq(cli_filter_parse(&bp, 1, &f, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "the limit is 4096") != NULL, "%s", err);
    /* Exactly 4,096 is fine. */
    big[CLI_FILTER_PATTERN_MAX - 3] = '\0';
    strcpy(big + CLI_FILTER_PATTERN_MAX - 3, "\"]}");
    ck_assert_uint_eq(strlen(big), CLI_FILTER_PATTERN_MAX);
    ck_assert_msg(cli_filter_parse(&bp, 1, &f, err, sizeof err) == 0, "%s",
                  err);
    cli_filter_free(f);
    free(big);

    /* The message names the filter that is wrong. */
    const char *second[] = {"{\"a\":[\"x\"]}", "{\"a\":[{\"nope\":1}]}"};
    ck_assert_int_eq(cli_filter_parse(second, 2, &f, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "(filter 2)") != NULL, "%s", err);

    /* Misuse: no patterns, NULL pattern, NULL out; a tiny err buffer is
     * truncated, not overrun. */
    ck_assert_int_eq(cli_filter_parse(p, 0, &f, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "no filter patterns") != NULL, "%s", err);
    const char *np[] = {NULL};
    ck_assert_int_eq(cli_filter_parse(np, 1, &f, err, sizeof err), -1);
    ck_assert_int_eq(cli_filter_parse(p, 1, NULL, err, sizeof err), -1);
    char tiny[8];
    memset(tiny, 'Z', sizeof tiny);
    ck_assert_int_eq(cli_filter_parse(np, 1, &f, tiny, 4), -1);
    ck_assert_int_eq(tiny[3], '\0');
    ck_assert_int_eq(tiny[4], 'Z');
    ck_assert_int_eq(cli_filter_parse(np, 1, &f, NULL, 0), -1);
}
END_TEST

static Suite *
lmq_suite_filter(void)
{
    Suite *s = suite_create("filter");
    TCase *tc = tcase_create("aws_doc_examples");
    tcase_add_test(tc, test_sqs_doc_examples);
    tcase_add_test(tc, test_rule_syntax_table);
    tcase_add_test(tc, test_exists_leaf_only);
    suite_add_tcase(s, tc);

    tc = tcase_create("eventbridge_operators");
    tcase_add_test(tc, test_extended_operators);
    tcase_add_test(tc, test_values_and_arrays);
    suite_add_tcase(s, tc);

    tc = tcase_create("sqs_record");
    tcase_add_test(tc, test_sqs_body_format);
    tcase_add_test(tc, test_attributes);
    tcase_add_test(tc, test_filters_or_and_criteria);
    suite_add_tcase(s, tc);

    tc = tcase_create("rejects");
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_limits);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(lmq_suite_filter());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
