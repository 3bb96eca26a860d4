/*
 * check_cli.c: the `lmq` tool, run as a program, against the shapes the AWS
 * CLI prints.
 *
 * Each test gets a fresh temporary directory from the checked fixture and
 * runs the built binary (LMQ_BIN) with --home in it and --durability none,
 * capturing stdout, stderr and the exit status through files. stdout is
 * parsed with jansson and each document is checked for its exact key set:
 * the AWS CLI prints the botocore response, so an extra or a missing key is
 * a compatibility bug even when the values are right. The JSON layout
 * itself (4-space indent, "key": value) is compared byte for byte once.
 *
 * The process is the unit here, so these tests never open an env
 * themselves: the tool does, in its own process. The only wait polls for a
 * detached move-task runner (start-message-move-task --no-wait) to finish
 * a cancel; nothing sleeps through a timeout.
 */
#include "lmq_test.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <yaml.h>

#ifndef LMQ_BIN
#error "LMQ_BIN must name the built tools/lmq"
#endif

#define MD5_HELLO "5d41402abc4b2a76b9719d911017c592"
/* The content-based deduplication id of "hello" (SQS-SEMANTICS §5.2). */
#define SHA256_HELLO                                                         \
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

typedef struct run {
    int status; /* exit status, or 128 + signal */
    char *out;
    char *err;
} run;

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long len;

    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

static void
run_free(run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Run lmq with argv (NULL-terminated). with_home adds --home and
 * --durability none in front. uid: run as that user (and group) when not
 * 0; env: "NAME=value" to set, "NAME" to unset, NULL-terminated, or
 * NULL. */
static void
run_full(run *r, int with_home, uid_t uid, const char *const *env,
         const char *const *args)
{
    char outp[300], errp[300], home[300];
    const char *argv[64];
    size_t n = 0;
    pid_t pid;
    int st;

    snprintf(outp, sizeof outp, "%s/stdout", lmq_test_dir);
    snprintf(errp, sizeof errp, "%s/stderr", lmq_test_dir);
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    argv[n++] = LMQ_BIN;
    if (with_home) {
        argv[n++] = "--home";
        argv[n++] = home;
        argv[n++] = "--durability";
        argv[n++] = "none";
    }
    for (size_t i = 0; args[i]; i++) {
        ck_assert_uint_lt(n, 63);
        argv[n++] = args[i];
    }
    argv[n] = NULL;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fi = open("/dev/null", O_RDONLY);
        if (fo < 0 || fe < 0 || fi < 0)
            _exit(120);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        if (with_home)
            unsetenv("LMQ_HOME");
        for (size_t i = 0; env && env[i]; i++) {
            const char *eq = strchr(env[i], '=');
            if (!eq) {
                unsetenv(env[i]);
            } else {
                char name[64];
                snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]),
                         env[i]);
                setenv(name, eq + 1, 1);
            }
        }
        if (uid && (setgid((gid_t)uid) != 0 || setuid(uid) != 0))
            _exit(122);
        execv(argv[0], (char *const *)argv);
        _exit(121);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r->out = slurp(outp);
    r->err = slurp(errp);
}

static void
run_argv(run *r, int with_home, const char *const *args)
{
    run_full(r, with_home, 0, NULL, args);
}

#define RUN(r, ...)                                                          \
    run_argv((r), 1, (const char *const[]){__VA_ARGS__, NULL})

/* Run and expect success with a JSON document on stdout. */
static json_t *
run_json_argv(const char *const *args)
{
    run r = {0};
    json_error_t je;
    json_t *doc;

    run_argv(&r, 1, args);
    ck_assert_msg(r.status == 0, "%s %s: exit %d, stderr: %s", args[0],
                  args[1] ? args[1] : "", r.status, r.err);
    doc = json_loads(r.out, 0, &je);
    ck_assert_msg(doc != NULL, "%s: stdout is not JSON (%s): '%s'", args[0],
                  je.text, r.out);
    ck_assert_msg(json_is_object(doc), "%s: not an object", args[0]);
    ck_assert_msg(r.err[0] == '\0', "unexpected stderr: %s", r.err);
    run_free(&r);
    return doc;
}

#define RUN_JSON(...) run_json_argv((const char *const[]){__VA_ARGS__, NULL})

/* Run and expect success with nothing on stdout. */
#define RUN_QUIET(...)                                                       \
    do {                                                                     \
        run rq_ = {0};                                                       \
        RUN(&rq_, __VA_ARGS__);                                              \
        ck_assert_msg(rq_.status == 0, "exit %d, stderr: %s", rq_.status,    \
                      rq_.err);                                              \
        ck_assert_msg(rq_.out[0] == '\0', "unexpected stdout: '%s'",         \
                      rq_.out);                                              \
        run_free(&rq_);                                                      \
    } while (0)

/* Assert that obj has exactly the comma-separated keys. */
static void
ck_keys(json_t *obj, const char *keys)
{
    char buf[512], *save = NULL;
    size_t n = 0;

    ck_assert_msg(json_is_object(obj), "not an object (want %s)", keys);
    snprintf(buf, sizeof buf, "%s", keys);
    for (char *k = strtok_r(buf, ",", &save); k;
         k = strtok_r(NULL, ",", &save)) {
        char *dump = json_dumps(obj, JSON_COMPACT);
        ck_assert_msg(json_object_get(obj, k) != NULL, "key %s missing in %s",
                      k, dump);
        free(dump);
        n++;
    }
    if (json_object_size(obj) != n) {
        char *dump = json_dumps(obj, JSON_COMPACT);
        ck_abort_msg("keys of %s are not exactly {%s}", dump, keys);
    }
}

static const char *
jstr(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    ck_assert_msg(json_is_string(v), "%s is not a string", key);
    return json_string_value(v);
}

static void
ck_service_error(run *r, const char *code, const char *op)
{
    char want[256];
    snprintf(want, sizeof want,
             "\nAn error occurred (%s) when calling the %s operation: ", code,
             op);
    ck_assert_msg(r->status == 254, "exit %d (want 254), stderr: %s",
                  r->status, r->err);
    ck_assert_msg(strncmp(r->err, want, strlen(want)) == 0,
                  "stderr '%s' does not start with '%s'", r->err, want);
    ck_assert_msg(strlen(r->err) > strlen(want) + 1 &&
                      r->err[strlen(r->err) - 1] == '\n',
                  "no message in '%s'", r->err);
    ck_assert_msg(strstr(r->err, "LMQ_") == NULL,
                  "lmq's code prefix leaked into '%s'", r->err);
    ck_assert_msg(r->out[0] == '\0', "stdout on error: '%s'", r->out);
}

static void
write_file(const char *name, const void *data, size_t len, char *path,
           size_t pathlen)
{
    FILE *f;
    snprintf(path, pathlen, "%s/%s", lmq_test_dir, name);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Create queue name and return its URL (malloc'd). */
static char *
mkqueue(const char *name)
{
    json_t *doc = RUN_JSON("create-queue", "--queue-name", name);
    char *url;
    ck_keys(doc, "QueueUrl");
    url = strdup(jstr(doc, "QueueUrl"));
    json_decref(doc);
    return url;
}

static void
send_body(const char *q, const char *body)
{
    json_t *doc = RUN_JSON("send-message", "--queue-url", q,
                           "--message-body", body);
    json_decref(doc);
}

/* Create queue name with --attributes attrs and return its URL (malloc'd). */
static char *
mkqueue_attrs(const char *name, const char *attrs)
{
    json_t *doc = RUN_JSON("create-queue", "--queue-name", name,
                           "--attributes", attrs);
    char *url;
    ck_keys(doc, "QueueUrl");
    url = strdup(jstr(doc, "QueueUrl"));
    json_decref(doc);
    return url;
}

/* One queue attribute, as get-queue-attributes prints it (malloc'd). */
static char *
queue_attr(const char *q, const char *name)
{
    json_t *doc = RUN_JSON("get-queue-attributes", "--queue-url", q,
                           "--attribute-names", name);
    json_t *attrs = json_object_get(doc, "Attributes");
    char *v;
    ck_keys(doc, "Attributes");
    ck_keys(attrs, name);
    v = strdup(jstr(attrs, name));
    json_decref(doc);
    return v;
}

/* The JSON form of --attributes with a RedrivePolicy: the policy is itself
 * a JSON document inside a string, as `aws sqs` takes it. */
static void
redrive_attrs(char *buf, size_t len, const char *dlq_arn, int max)
{
    snprintf(buf, len,
             "{\"RedrivePolicy\": \"{\\\"deadLetterTargetArn\\\":"
             "\\\"%s\\\",\\\"maxReceiveCount\\\":%d}\"}",
             dlq_arn, max);
}

/* ---- queues --------------------------------------------------------------- */

START_TEST(create_prints_queue_url_like_aws)
{
    run r = {0};
    char want[512];
    char *url = mkqueue("q1");

    ck_assert_msg(strlen(url) > 3 && strcmp(url + strlen(url) - 3, "/q1") == 0,
                  "url %s", url);
    /* The exact bytes of `aws sqs create-queue --output json`. */
    RUN(&r, "create-queue", "--queue-name", "q1");
    ck_assert_int_eq(r.status, 0);
    snprintf(want, sizeof want, "{\n    \"QueueUrl\": \"%s\"\n}\n", url);
    ck_assert_str_eq(r.out, want);
    run_free(&r);

    json_t *doc = RUN_JSON("get-queue-url", "--queue-name", "q1");
    ck_keys(doc, "QueueUrl");
    ck_assert_str_eq(jstr(doc, "QueueUrl"), url);
    json_decref(doc);
    free(url);
}
END_TEST

START_TEST(create_conflict_and_delete)
{
    run r = {0};
    char *url = mkqueue("q1");

    /* Same attributes: idempotent; different: QueueNameExists. */
    json_t *doc = RUN_JSON("create-queue", "--queue-name", "q1",
                           "--attributes", "VisibilityTimeout=30");
    json_decref(doc);
    RUN(&r, "create-queue", "--queue-name", "q1", "--attributes",
        "VisibilityTimeout=31");
    ck_service_error(&r, "QueueAlreadyExists", "CreateQueue");
    run_free(&r);

    RUN_QUIET("delete-queue", "--queue-url", url);
    RUN(&r, "get-queue-url", "--queue-name", "q1");
    ck_service_error(&r, "AWS.SimpleQueueService.NonExistentQueue", "GetQueueUrl");
    run_free(&r);
    RUN(&r, "delete-queue", "--queue-url", "q1");
    ck_service_error(&r, "AWS.SimpleQueueService.NonExistentQueue", "DeleteQueue");
    run_free(&r);
    free(url);
}
END_TEST

START_TEST(list_queues_prefix_and_pages)
{
    json_t *doc;
    run r = {0};
    char *a, *b, *c;

    /* No queues: the AWS CLI prints nothing (a home with none: list-queues
     * never creates one). */
    json_decref(RUN_JSON("create-queue", "--queue-name", "gone"));
    RUN_QUIET("delete-queue", "--queue-url", "gone");
    RUN_QUIET("list-queues");
    a = mkqueue("alpha");
    b = mkqueue("beta");
    c = mkqueue("alpine");

    doc = RUN_JSON("list-queues");
    ck_keys(doc, "QueueUrls");
    json_t *urls = json_object_get(doc, "QueueUrls");
    ck_assert_uint_eq(json_array_size(urls), 3);
    json_decref(doc);

    doc = RUN_JSON("list-queues", "--queue-name-prefix", "al");
    ck_keys(doc, "QueueUrls");
    urls = json_object_get(doc, "QueueUrls");
    ck_assert_uint_eq(json_array_size(urls), 2);
    ck_assert_str_eq(json_string_value(json_array_get(urls, 0)), a);
    ck_assert_str_eq(json_string_value(json_array_get(urls, 1)), c);
    json_decref(doc);

    RUN_QUIET("list-queues", "--queue-name-prefix", "zzz");

    doc = RUN_JSON("list-queues", "--max-results", "2");
    ck_keys(doc, "QueueUrls,NextToken");
    char *token = strdup(jstr(doc, "NextToken"));
    json_decref(doc);
    doc = RUN_JSON("list-queues", "--max-results", "2", "--next-token",
                   token);
    ck_keys(doc, "QueueUrls");
    urls = json_object_get(doc, "QueueUrls");
    ck_assert_uint_eq(json_array_size(urls), 1);
    ck_assert_str_eq(json_string_value(json_array_get(urls, 0)), b);
    json_decref(doc);

    /* Text output: one QUEUEURLS line per URL. */
    RUN(&r, "--output", "text", "list-queues", "--queue-name-prefix", "be");
    ck_assert_int_eq(r.status, 0);
    char want[512];
    snprintf(want, sizeof want, "QUEUEURLS\t%s\n", b);
    ck_assert_str_eq(r.out, want);
    run_free(&r);
    free(token);
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(queue_attributes_shorthand_and_json)
{
    char path[300];
    json_t *doc, *attrs;
    char *url = mkqueue("q1");

    doc = RUN_JSON("get-queue-attributes", "--queue-url", url,
                   "--attribute-names", "All");
    ck_keys(doc, "Attributes");
    attrs = json_object_get(doc, "Attributes");
    ck_assert_str_eq(jstr(attrs, "VisibilityTimeout"), "30");
    ck_assert_str_eq(jstr(attrs, "ApproximateNumberOfMessages"), "0");
    ck_assert_ptr_nonnull(strstr(jstr(attrs, "QueueArn"), ":q1"));
    json_decref(doc);

    /* No names: no Attributes key, so nothing is printed. */
    RUN_QUIET("get-queue-attributes", "--queue-url", url);

    RUN_QUIET("set-queue-attributes", "--queue-url", url, "--attributes",
              "VisibilityTimeout=60,DelaySeconds=5");
    doc = RUN_JSON("get-queue-attributes", "--queue-url", "q1",
                   "--attribute-names", "VisibilityTimeout", "DelaySeconds");
    ck_keys(doc, "Attributes");
    attrs = json_object_get(doc, "Attributes");
    ck_keys(attrs, "VisibilityTimeout,DelaySeconds");
    ck_assert_str_eq(jstr(attrs, "VisibilityTimeout"), "60");
    ck_assert_str_eq(jstr(attrs, "DelaySeconds"), "5");
    json_decref(doc);

    /* JSON forms, from a file:// too. */
    RUN_QUIET("set-queue-attributes", "--queue-url", url, "--attributes",
              "{\"VisibilityTimeout\": \"45\"}");
    const char *j = "{\"DelaySeconds\": \"0\"}";
    write_file("attrs.json", j, strlen(j), path, sizeof path);
    char arg[320];
    snprintf(arg, sizeof arg, "file://%s", path);
    RUN_QUIET("set-queue-attributes", "--queue-url", url, "--attributes",
              arg);
    doc = RUN_JSON("get-queue-attributes", "--queue-url", url,
                   "--attribute-names",
                   "[\"VisibilityTimeout\", \"DelaySeconds\"]");
    attrs = json_object_get(doc, "Attributes");
    ck_assert_str_eq(jstr(attrs, "VisibilityTimeout"), "45");
    ck_assert_str_eq(jstr(attrs, "DelaySeconds"), "0");
    json_decref(doc);
    free(url);
}
END_TEST

START_TEST(tags_round_trip)
{
    json_t *doc, *tags;
    run r = {0};

    doc = RUN_JSON("create-queue", "--queue-name", "q1", "--tags",
                   "team=core,env=dev");
    json_decref(doc);
    doc = RUN_JSON("list-queue-tags", "--queue-url", "q1");
    ck_keys(doc, "Tags");
    tags = json_object_get(doc, "Tags");
    ck_keys(tags, "team,env");
    ck_assert_str_eq(jstr(tags, "team"), "core");
    json_decref(doc);

    RUN_QUIET("tag-queue", "--queue-url", "q1", "--tags",
              "{\"owner\": \"me\"}");
    RUN_QUIET("untag-queue", "--queue-url", "q1", "--tag-keys", "team",
              "env");
    doc = RUN_JSON("list-queue-tags", "--queue-url", "q1");
    tags = json_object_get(doc, "Tags");
    ck_keys(tags, "owner");
    ck_assert_str_eq(jstr(tags, "owner"), "me");
    json_decref(doc);
    RUN_QUIET("untag-queue", "--queue-url", "q1", "--tag-keys",
              "[\"owner\"]");
    /* No tags left: nothing printed. */
    RUN_QUIET("list-queue-tags", "--queue-url", "q1");
    RUN(&r, "list-queue-tags", "--queue-url", "nope");
    ck_service_error(&r, "AWS.SimpleQueueService.NonExistentQueue", "ListQueueTags");
    run_free(&r);
}
END_TEST

/* ---- messages ---------------------------------------------------------- */

START_TEST(send_receive_delete_shapes)
{
    json_t *doc, *msgs, *m;
    char *url = mkqueue("q1");

    doc = RUN_JSON("send-message", "--queue-url", url, "--message-body",
                   "hello");
    ck_keys(doc, "MD5OfMessageBody,MessageId");
    ck_assert_str_eq(jstr(doc, "MD5OfMessageBody"), MD5_HELLO);
    char *id = strdup(jstr(doc, "MessageId"));
    ck_assert_uint_eq(strlen(id), 36);
    json_decref(doc);

    doc = RUN_JSON("receive-message", "--queue-url", url);
    ck_keys(doc, "Messages");
    msgs = json_object_get(doc, "Messages");
    ck_assert_uint_eq(json_array_size(msgs), 1);
    m = json_array_get(msgs, 0);
    ck_keys(m, "MessageId,ReceiptHandle,MD5OfBody,Body");
    ck_assert_str_eq(jstr(m, "MessageId"), id);
    ck_assert_str_eq(jstr(m, "Body"), "hello");
    ck_assert_str_eq(jstr(m, "MD5OfBody"), MD5_HELLO);
    char *handle = strdup(jstr(m, "ReceiptHandle"));
    json_decref(doc);

    /* In flight: an empty receive prints nothing at all. */
    RUN_QUIET("receive-message", "--queue-url", url);
    RUN_QUIET("delete-message", "--queue-url", url, "--receipt-handle",
              handle);
    /* Deleting again is a no-op success on a standard queue. */
    RUN_QUIET("delete-message", "--queue-url", url, "--receipt-handle",
              handle);
    doc = RUN_JSON("get-queue-attributes", "--queue-url", url,
                   "--attribute-names", "ApproximateNumberOfMessages",
                   "ApproximateNumberOfMessagesNotVisible");
    json_t *a = json_object_get(doc, "Attributes");
    ck_assert_str_eq(jstr(a, "ApproximateNumberOfMessages"), "0");
    ck_assert_str_eq(jstr(a, "ApproximateNumberOfMessagesNotVisible"), "0");
    json_decref(doc);
    free(handle);
    free(id);
    free(url);
}
END_TEST

START_TEST(receive_system_attributes)
{
    json_t *doc, *m, *attrs;
    char *url = mkqueue("q1");

    send_body(url, "one");
    doc = RUN_JSON("receive-message", "--queue-url", url,
                   "--attribute-names", "All", "--visibility-timeout", "0");
    m = json_array_get(json_object_get(doc, "Messages"), 0);
    ck_keys(m, "MessageId,ReceiptHandle,MD5OfBody,Body,Attributes");
    attrs = json_object_get(m, "Attributes");
    ck_assert_str_eq(jstr(attrs, "ApproximateReceiveCount"), "1");
    ck_assert_ptr_nonnull(json_object_get(attrs, "SentTimestamp"));
    ck_assert_ptr_nonnull(
        json_object_get(attrs, "ApproximateFirstReceiveTimestamp"));
    ck_assert_ptr_null(json_object_get(attrs, "SequenceNumber"));
    json_decref(doc);

    /* Only what was asked for; both flags are unioned. */
    doc = RUN_JSON("receive-message", "--queue-url", url,
                   "--attribute-names", "ApproximateReceiveCount",
                   "--message-system-attribute-names", "SentTimestamp");
    m = json_array_get(json_object_get(doc, "Messages"), 0);
    attrs = json_object_get(m, "Attributes");
    ck_keys(attrs, "ApproximateReceiveCount,SentTimestamp");
    ck_assert_str_eq(jstr(attrs, "ApproximateReceiveCount"), "2");
    json_decref(doc);
    free(url);
}
END_TEST

START_TEST(message_attributes_shorthand_json_binary)
{
    json_t *doc, *m, *ma;
    char *url = mkqueue("q1");

    /* Recorded AWS vector: MyAttribute String foobar. */
    doc = RUN_JSON("send-message", "--queue-url", url, "--message-body",
                   "hello", "--message-attributes",
                   "MyAttribute={DataType=String,StringValue=foobar}");
    ck_keys(doc, "MD5OfMessageBody,MD5OfMessageAttributes,MessageId");
    ck_assert_str_eq(jstr(doc, "MD5OfMessageAttributes"),
                     "adb59cd4678ea5a855436b949cd07ab6");
    json_decref(doc);

    doc = RUN_JSON("send-message", "--queue-url", url, "--message-body",
                   "hello", "--message-attributes",
                   "{\"Foo\": {\"DataType\": \"String\", "
                   "\"StringValue\": \"Bar\"}}");
    ck_assert_str_eq(jstr(doc, "MD5OfMessageAttributes"),
                     "ae7155c6026991b6d54b11589678bf9c");
    json_decref(doc);

    /* Binary travels as base64: "Hello binary world!". */
    doc = RUN_JSON("send-message", "--queue-url", url, "--message-body",
                   "bin", "--message-attributes",
                   "binaryAttribute={DataType=Binary,"
                   "BinaryValue=SGVsbG8gYmluYXJ5IHdvcmxkIQ==}");
    ck_assert_str_eq(jstr(doc, "MD5OfMessageAttributes"),
                     "31a92b15d92f8db860eda32aceb656c3");
    json_decref(doc);

    doc = RUN_JSON("receive-message", "--queue-url", url,
                   "--max-number-of-messages", "10",
                   "--message-attribute-names", "All");
    json_t *msgs = json_object_get(doc, "Messages");
    ck_assert_uint_eq(json_array_size(msgs), 3);
    int seen_bin = 0, seen_my = 0;
    size_t i;
    json_array_foreach(msgs, i, m) {
        ck_keys(m, "MessageId,ReceiptHandle,MD5OfBody,Body,"
                   "MD5OfMessageAttributes,MessageAttributes");
        ma = json_object_get(m, "MessageAttributes");
        if (strcmp(jstr(m, "Body"), "bin") == 0) {
            json_t *b = json_object_get(ma, "binaryAttribute");
            ck_keys(b, "BinaryValue,DataType");
            ck_assert_str_eq(jstr(b, "BinaryValue"),
                             "SGVsbG8gYmluYXJ5IHdvcmxkIQ==");
            ck_assert_str_eq(jstr(b, "DataType"), "Binary");
            ck_assert_str_eq(jstr(m, "MD5OfMessageAttributes"),
                             "31a92b15d92f8db860eda32aceb656c3");
            seen_bin = 1;
        } else if (json_object_get(ma, "MyAttribute")) {
            json_t *s = json_object_get(ma, "MyAttribute");
            ck_keys(s, "StringValue,DataType");
            ck_assert_str_eq(jstr(s, "StringValue"), "foobar");
            ck_assert_str_eq(jstr(m, "MD5OfMessageAttributes"),
                             "adb59cd4678ea5a855436b949cd07ab6");
            seen_my = 1;
        }
    }
    ck_assert(seen_bin && seen_my);
    json_decref(doc);
    free(url);
}
END_TEST

START_TEST(body_from_file_and_fileb)
{
    char path[300], arg[320];
    json_t *doc;
    char *url = mkqueue("q1");

    write_file("body.txt", "hello", 5, path, sizeof path);
    snprintf(arg, sizeof arg, "file://%s", path);
    doc = RUN_JSON("send-message", "--queue-url", url, "--message-body",
                   arg);
    ck_assert_str_eq(jstr(doc, "MD5OfMessageBody"), MD5_HELLO);
    json_decref(doc);
    snprintf(arg, sizeof arg, "fileb://%s", path);
    doc = RUN_JSON("send-message", "--queue-url", url, "--message-body",
                   arg);
    ck_assert_str_eq(jstr(doc, "MD5OfMessageBody"), MD5_HELLO);
    json_decref(doc);

    /* A NUL byte is outside SQS's character set. */
    run r = {0};
    write_file("bad.bin", "a\0b", 3, path, sizeof path);
    snprintf(arg, sizeof arg, "fileb://%s", path);
    RUN(&r, "send-message", "--queue-url", url, "--message-body", arg);
    ck_service_error(&r, "InvalidMessageContents", "SendMessage");
    run_free(&r);

    /* A missing file is a usage error, as in the AWS CLI. */
    RUN(&r, "send-message", "--queue-url", url, "--message-body",
        "file:///nonexistent/lmq-test");
    ck_assert_int_eq(r.status, 252);
    ck_assert_ptr_nonnull(strstr(r.err, "--message-body"));
    run_free(&r);
    free(url);
}
END_TEST

START_TEST(send_batch_shorthand_and_json)
{
    json_t *doc, *ok, *e;
    size_t i;
    char *url = mkqueue("q1");

    doc = RUN_JSON("send-message-batch", "--queue-url", url, "--entries",
                   "Id=a,MessageBody=hello", "Id=b,MessageBody=world");
    ck_keys(doc, "Successful");
    ok = json_object_get(doc, "Successful");
    ck_assert_uint_eq(json_array_size(ok), 2);
    json_array_foreach(ok, i, e)
        ck_keys(e, "Id,MessageId,MD5OfMessageBody");
    ck_assert_str_eq(jstr(json_array_get(ok, 0), "Id"), "a");
    ck_assert_str_eq(jstr(json_array_get(ok, 0), "MD5OfMessageBody"),
                     MD5_HELLO);
    json_decref(doc);

    /* JSON, with attributes on one entry and an invalid body on another. */
    doc = RUN_JSON(
        "send-message-batch", "--queue-url", url, "--entries",
        "[{\"Id\": \"x\", \"MessageBody\": \"hello\", \"MessageAttributes\":"
        " {\"k\": {\"DataType\": \"String\", \"StringValue\": \"x\"}}},"
        " {\"Id\": \"bad\", \"MessageBody\": \"a\\u0001b\"}]");
    ck_keys(doc, "Successful,Failed");
    ok = json_object_get(doc, "Successful");
    ck_assert_uint_eq(json_array_size(ok), 1);
    e = json_array_get(ok, 0);
    ck_keys(e, "Id,MessageId,MD5OfMessageBody,MD5OfMessageAttributes");
    ck_assert_str_eq(jstr(e, "MD5OfMessageAttributes"),
                     "a45daa70926828a2f0a1db3418e6feb4");
    json_t *failed = json_object_get(doc, "Failed");
    ck_assert_uint_eq(json_array_size(failed), 1);
    e = json_array_get(failed, 0);
    ck_keys(e, "Id,SenderFault,Code,Message");
    ck_assert_str_eq(jstr(e, "Id"), "bad");
    ck_assert(json_is_true(json_object_get(e, "SenderFault")));
    ck_assert_str_eq(jstr(e, "Code"), "InvalidMessageContents");
    ck_assert_ptr_null(strstr(jstr(e, "Message"), "LMQ_"));
    json_decref(doc);

    /* Whole-request errors. */
    run r = {0};
    RUN(&r, "send-message-batch", "--queue-url", url, "--entries",
        "Id=a,MessageBody=x", "Id=a,MessageBody=y");
    ck_service_error(&r, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "SendMessageBatch");
    run_free(&r);
    RUN(&r, "send-message-batch", "--queue-url", url, "--entries", "[]");
    ck_service_error(&r, "AWS.SimpleQueueService.EmptyBatchRequest", "SendMessageBatch");
    run_free(&r);
    RUN(&r, "change-message-visibility-batch", "--queue-url", url,
        "--entries", "Id=a,ReceiptHandle=h");
    ck_assert_int_eq(r.status, 252);
    ck_assert_ptr_nonnull(strstr(r.err, "VisibilityTimeout"));
    run_free(&r);
    /* An unknown member is caught before anything is sent. */
    RUN(&r, "send-message-batch", "--queue-url", url, "--entries",
        "Id=a,MessageBody=x,Bogus=1");
    ck_assert_int_eq(r.status, 252);
    ck_assert_ptr_nonnull(strstr(r.err, "Bogus"));
    run_free(&r);
    free(url);
}
END_TEST

/* Receive n messages; fill handles (malloc'd). */
static void
receive_handles(const char *url, char **handles, size_t n)
{
    json_t *doc = RUN_JSON("receive-message", "--queue-url", url,
                           "--max-number-of-messages", "10");
    json_t *msgs = json_object_get(doc, "Messages");
    ck_assert_uint_eq(json_array_size(msgs), n);
    for (size_t i = 0; i < n; i++)
        handles[i] = strdup(jstr(json_array_get(msgs, i), "ReceiptHandle"));
    json_decref(doc);
}

START_TEST(delete_and_visibility_batches)
{
    char *h[2], entries[4096];
    json_t *doc, *e;
    char *url = mkqueue("q1");

    send_body(url, "one");
    send_body(url, "two");
    receive_handles(url, h, 2);

    /* Change visibility: one good entry, one garbage handle. */
    snprintf(entries, sizeof entries,
             "[{\"Id\": \"v1\", \"ReceiptHandle\": \"%s\", "
             "\"VisibilityTimeout\": 0},"
             " {\"Id\": \"v2\", \"ReceiptHandle\": \"garbage\", "
             "\"VisibilityTimeout\": 10}]",
             h[0]);
    doc = RUN_JSON("change-message-visibility-batch", "--queue-url", url,
                   "--entries", entries);
    ck_keys(doc, "Successful,Failed");
    e = json_array_get(json_object_get(doc, "Successful"), 0);
    ck_keys(e, "Id");
    ck_assert_str_eq(jstr(e, "Id"), "v1");
    e = json_array_get(json_object_get(doc, "Failed"), 0);
    ck_keys(e, "Id,SenderFault,Code,Message");
    ck_assert_str_eq(jstr(e, "Code"), "ReceiptHandleIsInvalid");
    json_decref(doc);

    /* The first message is visible again: receive it with a new handle. */
    free(h[0]);
    receive_handles(url, h, 1);

    /* Delete both with the shorthand form. */
    char e1[2048], e2[2048];
    snprintf(e1, sizeof e1, "Id=d1,ReceiptHandle=%s", h[0]);
    snprintf(e2, sizeof e2, "Id=d2,ReceiptHandle=%s", h[1]);
    doc = RUN_JSON("delete-message-batch", "--queue-url", url, "--entries",
                   e1, e2);
    ck_keys(doc, "Successful");
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "Successful")),
                      2);
    json_decref(doc);
    RUN_QUIET("receive-message", "--queue-url", url);
    free(h[0]);
    free(h[1]);
    free(url);
}
END_TEST

START_TEST(change_visibility_and_purge)
{
    char *h[1];
    run r = {0};
    char *url = mkqueue("q1");

    send_body(url, "one");
    receive_handles(url, h, 1);
    RUN_QUIET("receive-message", "--queue-url", url);
    RUN_QUIET("change-message-visibility", "--queue-url", url,
              "--receipt-handle", h[0], "--visibility-timeout", "0");
    free(h[0]);
    receive_handles(url, h, 1);
    free(h[0]);

    RUN(&r, "change-message-visibility", "--queue-url", url,
        "--receipt-handle", "garbage", "--visibility-timeout", "5");
    ck_service_error(&r, "ReceiptHandleIsInvalid",
                     "ChangeMessageVisibility");
    run_free(&r);

    send_body(url, "two");
    RUN_QUIET("purge-queue", "--queue-url", url);
    RUN_QUIET("receive-message", "--queue-url", url, "--visibility-timeout",
              "0");
    RUN(&r, "purge-queue", "--queue-url", url);
    ck_service_error(&r, "AWS.SimpleQueueService.PurgeQueueInProgress", "PurgeQueue");
    run_free(&r);
    free(url);
}
END_TEST

START_TEST(receive_json_layout_is_byte_exact)
{
    run r = {0};
    json_t *doc, *m;
    char want[2048];
    char *url = mkqueue("q1");

    send_body(url, "hello");
    /* The keys in botocore's order, indented as json.dumps(indent=4). */
    RUN(&r, "receive-message", "--queue-url", url, "--visibility-timeout",
        "0");
    ck_assert_int_eq(r.status, 0);
    doc = json_loads(r.out, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    m = json_array_get(json_object_get(doc, "Messages"), 0);
    snprintf(want, sizeof want,
             "{\n"
             "    \"Messages\": [\n"
             "        {\n"
             "            \"MessageId\": \"%s\",\n"
             "            \"ReceiptHandle\": \"%s\",\n"
             "            \"MD5OfBody\": \"" MD5_HELLO "\",\n"
             "            \"Body\": \"hello\"\n"
             "        }\n"
             "    ]\n"
             "}\n",
             jstr(m, "MessageId"), jstr(m, "ReceiptHandle"));
    ck_assert_str_eq(r.out, want);
    json_decref(doc);
    run_free(&r);

    /* --flag=value works as in argparse. */
    doc = RUN_JSON("send-message", "--queue-url=q1", "--message-body=x=y");
    ck_keys(doc, "MD5OfMessageBody,MessageId");
    json_decref(doc);
    free(url);
}
END_TEST

START_TEST(fifo_sequence_numbers_and_group_attributes)
{
    json_t *doc, *m, *attrs;
    run r = {0};

    doc = RUN_JSON("create-queue", "--queue-name", "f.fifo", "--attributes",
                   "FifoQueue=true,ContentBasedDeduplication=true");
    json_decref(doc);
    doc = RUN_JSON("send-message", "--queue-url", "f.fifo", "--message-body",
                   "hello", "--message-group-id", "g1");
    ck_keys(doc, "MD5OfMessageBody,MessageId,SequenceNumber");
    ck_assert_str_eq(jstr(doc, "MD5OfMessageBody"), MD5_HELLO);
    json_decref(doc);

    doc = RUN_JSON("send-message-batch", "--queue-url", "f.fifo",
                   "--entries", "Id=a,MessageBody=x,MessageGroupId=g1");
    ck_keys(json_array_get(json_object_get(doc, "Successful"), 0),
            "Id,MessageId,MD5OfMessageBody,SequenceNumber");
    json_decref(doc);

    doc = RUN_JSON("receive-message", "--queue-url", "f.fifo",
                   "--attribute-names", "MessageGroupId", "SequenceNumber",
                   "MessageDeduplicationId");
    m = json_array_get(json_object_get(doc, "Messages"), 0);
    attrs = json_object_get(m, "Attributes");
    ck_keys(attrs, "MessageGroupId,SequenceNumber,MessageDeduplicationId");
    ck_assert_str_eq(jstr(attrs, "MessageGroupId"), "g1");
    json_decref(doc);

    RUN(&r, "send-message", "--queue-url", "f.fifo", "--message-body", "x");
    ck_service_error(&r, "MissingParameter", "SendMessage");
    run_free(&r);
}
END_TEST

START_TEST(fifo_dedup_and_receive_attempt_id)
{
    json_t *doc, *m, *attrs;
    run r = {0};
    char *url = mkqueue_attrs("f.fifo",
                              "FifoQueue=true,ContentBasedDeduplication=true");
    char *v = queue_attr(url, "FifoQueue");
    ck_assert_str_eq(v, "true");
    free(v);
    v = queue_attr(url, "ContentBasedDeduplication");
    ck_assert_str_eq(v, "true");
    free(v);

    doc = RUN_JSON("send-message", "--queue-url", url, "--message-body",
                   "hello", "--message-group-id", "g1");
    ck_keys(doc, "MD5OfMessageBody,MessageId,SequenceNumber");
    char *id = strdup(jstr(doc, "MessageId"));
    char *seq = strdup(jstr(doc, "SequenceNumber"));
    ck_assert_uint_eq(strlen(seq), 20);
    ck_assert_uint_eq(strspn(seq, "0123456789"), 20);
    json_decref(doc);

    /* The same body inside the window: accepted, the original MessageId,
     * nothing enqueued. */
    doc = RUN_JSON("send-message", "--queue-url", url, "--message-body",
                   "hello", "--message-group-id", "g1");
    ck_assert_str_eq(jstr(doc, "MessageId"), id);
    ck_assert_str_eq(jstr(doc, "MD5OfMessageBody"), MD5_HELLO);
    json_decref(doc);
    /* An explicit id takes precedence over the content. */
    doc = RUN_JSON("send-message", "--queue-url", url, "--message-body",
                   "hello", "--message-group-id", "g1",
                   "--message-deduplication-id", "d1");
    ck_assert_str_ne(jstr(doc, "MessageId"), id);
    char *seq2 = strdup(jstr(doc, "SequenceNumber"));
    ck_assert_int_gt(strcmp(seq2, seq), 0); /* 20 digits: strcmp orders */
    char *id2 = strdup(jstr(doc, "MessageId"));
    json_decref(doc);
    doc = RUN_JSON("send-message", "--queue-url", url, "--message-body",
                   "other", "--message-group-id", "g2",
                   "--message-deduplication-id", "d1");
    ck_assert_str_eq(jstr(doc, "MessageId"), id2);
    json_decref(doc);
    v = queue_attr(url, "ApproximateNumberOfMessages");
    ck_assert_str_eq(v, "2");
    free(v);

    RUN(&r, "send-message", "--queue-url", url, "--message-body", "x");
    ck_service_error(&r, "MissingParameter", "SendMessage");
    ck_assert_ptr_nonnull(strstr(r.err, "MessageGroupId"));
    run_free(&r);

    doc = RUN_JSON("receive-message", "--queue-url", url, "--attribute-names",
                   "All", "--receive-request-attempt-id", "a1");
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "Messages")), 1);
    m = json_array_get(json_object_get(doc, "Messages"), 0);
    ck_assert_str_eq(jstr(m, "MessageId"), id);
    attrs = json_object_get(m, "Attributes");
    ck_assert_str_eq(jstr(attrs, "MessageGroupId"), "g1");
    ck_assert_str_eq(jstr(attrs, "MessageDeduplicationId"), SHA256_HELLO);
    ck_assert_str_eq(jstr(attrs, "SequenceNumber"), seq);
    ck_assert_str_eq(jstr(attrs, "ApproximateReceiveCount"), "1");
    char *handle = strdup(jstr(m, "ReceiptHandle"));
    json_decref(doc);

    /* A retry with the same attempt id: the same message and handle. */
    doc = RUN_JSON("receive-message", "--queue-url", url, "--attribute-names",
                   "All", "--receive-request-attempt-id", "a1");
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "Messages")), 1);
    m = json_array_get(json_object_get(doc, "Messages"), 0);
    ck_assert_str_eq(jstr(m, "MessageId"), id);
    ck_assert_str_eq(jstr(m, "ReceiptHandle"), handle);
    json_decref(doc);
    /* A new attempt gets nothing: g1 is locked by its head, and the send
     * to g2 was a duplicate (DeduplicationScope queue). */
    RUN_QUIET("receive-message", "--queue-url", url,
              "--receive-request-attempt-id", "a2");
    RUN_QUIET("delete-message", "--queue-url", url, "--receipt-handle",
              handle);

    doc = RUN_JSON("receive-message", "--queue-url", url, "--attribute-names",
                   "MessageDeduplicationId", "SequenceNumber");
    m = json_array_get(json_object_get(doc, "Messages"), 0);
    ck_assert_str_eq(jstr(m, "MessageId"), id2);
    attrs = json_object_get(m, "Attributes");
    ck_keys(attrs, "MessageDeduplicationId,SequenceNumber");
    ck_assert_str_eq(jstr(attrs, "MessageDeduplicationId"), "d1");
    ck_assert_str_eq(jstr(attrs, "SequenceNumber"), seq2);
    json_decref(doc);
    free(handle);
    free(id2);
    free(seq2);
    free(seq);
    free(id);
    free(url);
}
END_TEST

START_TEST(text_output_of_batch_failures)
{
    run r = {0};
    char *url = mkqueue("q1");

    /* Failed entries: Code, Id, Message, SenderFault as Python's True. */
    RUN(&r, "--output", "text", "delete-message-batch", "--queue-url", url,
        "--entries", "Id=a,ReceiptHandle=garbage");
    ck_assert_int_eq(r.status, 0);
    const char *want = "FAILED\tReceiptHandleIsInvalid\ta\t";
    ck_assert_msg(strncmp(r.out, want, strlen(want)) == 0, "text: '%s'",
                  r.out);
    ck_assert_ptr_nonnull(strstr(r.out, "\tTrue\n"));
    run_free(&r);
    free(url);
}
END_TEST

START_TEST(text_output_of_receive)
{
    run r = {0};
    char *url = mkqueue("q1");

    send_body(url, "hello");
    RUN(&r, "receive-message", "--queue-url", url, "--output", "text");
    ck_assert_int_eq(r.status, 0);
    /* Scalars sorted by key: Body, MD5OfBody, MessageId, ReceiptHandle. */
    const char *want = "MESSAGES\thello\t" MD5_HELLO "\t";
    ck_assert_msg(strncmp(r.out, want, strlen(want)) == 0, "text: '%s'",
                  r.out);
    ck_assert_ptr_null(strchr(r.out, '{'));
    run_free(&r);
    free(url);
}
END_TEST

/* --output table: the expected bytes are what the AWS CLI's own formatter
 * (awscli 2.9 on Debian 12, `--color off`, 80 columns: stdout here is a
 * file) printed for the same JSON documents. */
START_TEST(table_output_is_the_aws_clis)
{
    run r = {0};
    char *url = mkqueue("q1");
    free(mkqueue("q2"));

    RUN(&r, "--output", "table", "get-queue-url", "--queue-name", "q1");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(
        r.out, "-------------------------------------------------------\n"
               "|                     GetQueueUrl                     |\n"
               "+----------+------------------------------------------+\n"
               "|  QueueUrl|  http://127.0.0.1:9324/000000000000/q1   |\n"
               "+----------+------------------------------------------+\n");
    run_free(&r);

    /* a list of scalars, one level down */
    RUN(&r, "--output", "table", "list-queues");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "---------------------------------------------\n"
                            "|                ListQueues                 |\n"
                            "+-------------------------------------------+\n"
                            "||                QueueUrls                ||\n"
                            "|+-----------------------------------------+|\n"
                            "||  http://127.0.0.1:9324/000000000000/q1  ||\n"
                            "||  http://127.0.0.1:9324/000000000000/q2  ||\n"
                            "|+-----------------------------------------+|\n");
    run_free(&r);

    /* a dict: sorted keys as centred headers over one row */
    RUN(&r, "--output", "table", "get-queue-attributes", "--queue-url", url,
        "--attribute-names", "VisibilityTimeout", "DelaySeconds",
        "MaximumMessageSize");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(
        r.out,
        "---------------------------------------------------------------\n"
        "|                     GetQueueAttributes                      |\n"
        "+-------------------------------------------------------------+\n"
        "||                        Attributes                         ||\n"
        "|+--------------+----------------------+---------------------+|\n"
        "|| DelaySeconds | MaximumMessageSize   |  VisibilityTimeout  ||\n"
        "|+--------------+----------------------+---------------------+|\n"
        "||  0           |  1048576             |  30                 ||\n"
        "|+--------------+----------------------+---------------------+|\n");
    run_free(&r);

    /* wider than 80 columns: a one-row section turns into key/value rows;
     * the empty Successful list prints nothing; booleans as Python's */
    RUN(&r, "--output", "table", "delete-message-batch", "--queue-url", url,
        "--entries", "Id=a,ReceiptHandle=garbage");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(
        r.out, "-----------------------------------------------------------"
               "-----------------------------\n"
               "|                                  DeleteMessageBatch      "
               "                            |\n"
               "+----------------------------------------------------------"
               "----------------------------+\n"
               "||                                       Failed            "
               "                           ||\n"
               "|+-------------+--------------------------------------------"
               "--------------------------+|\n"
               "||  Code       |  ReceiptHandleIsInvalid                    "
               "                          ||\n"
               "||  Id         |  a                                         "
               "                          ||\n"
               "||  Message    |  The input receipt handle \"garbage\" is not "
               "a valid receipt handle.   ||\n"
               "||  SenderFault|  True                                      "
               "                          ||\n"
               "|+-------------+--------------------------------------------"
               "--------------------------+|\n");
    run_free(&r);
    free(url);
}
END_TEST

/* A received message: nested sections one "|" deeper per level, every line
 * as wide as the first. */
START_TEST(table_output_of_receive)
{
    run r = {0};
    char *url = mkqueue("q1");

    send_body(url, "hello");
    RUN(&r, "--output", "table", "receive-message", "--queue-url", url,
        "--attribute-names", "All");
    ck_assert_int_eq(r.status, 0);
    size_t width = strcspn(r.out, "\n"), lines = 0;
    ck_assert_uint_gt(width, 40);
    for (const char *p = r.out; *p; lines++) {
        size_t len = strcspn(p, "\n");
        ck_assert_msg(len == width, "line %zu is %zu wide, not %zu: %.*s",
                      lines, len, width, (int)len, p);
        p += len + (p[len] == '\n');
    }
    ck_assert_uint_ge(lines, 15);
    ck_assert_int_eq(r.out[0], '-');
    ck_assert_ptr_nonnull(strstr(r.out, "ReceiveMessage"));
    ck_assert_ptr_nonnull(strstr(r.out, "||  Body "));
    ck_assert_ptr_nonnull(strstr(r.out, "|  hello "));
    ck_assert_ptr_nonnull(strstr(r.out, "|  " MD5_HELLO " "));
    ck_assert_ptr_nonnull(strstr(r.out, "|||  ApproximateReceiveCount "));
    ck_assert_ptr_nonnull(strstr(r.out, "|  1 "));
    run_free(&r);
    free(url);
}
END_TEST

/* --query: the shell pattern of the AWS docs (take a receipt handle with
 * --output text, then delete with it), JSON values, multi-select hashes,
 * null for what is not there, filters and functions. */
START_TEST(query_selects_like_aws)
{
    run r = {0};
    char *url = mkqueue("q1");

    send_body(url, "hello");
    RUN(&r, "receive-message", "--queue-url", url, "--query",
        "Messages[0].ReceiptHandle", "--output", "text");
    ck_assert_int_eq(r.status, 0);
    size_t len = strlen(r.out);
    ck_assert_uint_gt(len, 20);
    ck_assert_int_eq(r.out[len - 1], '\n');
    r.out[len - 1] = '\0';
    ck_assert_ptr_null(strpbrk(r.out, "\t\" {"));
    char *receipt = strdup(r.out);
    run_free(&r);
    RUN(&r, "delete-message", "--queue-url", url, "--receipt-handle",
        receipt);
    ck_assert_msg(r.status == 0, "delete with the queried handle: %s", r.err);
    run_free(&r);
    free(receipt);

    /* the queue is empty now: null, printed as JSON and as Python prints */
    RUN(&r, "receive-message", "--queue-url", url, "--query",
        "Messages[0].Body");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "null\n");
    run_free(&r);
    RUN(&r, "--output", "text", "receive-message", "--queue-url", url,
        "--query", "Messages[0].Body");
    ck_assert_str_eq(r.out, "None\n");
    run_free(&r);

    free(mkqueue("q2"));
    RUN(&r, "list-queues", "--query", "QueueUrls[*]");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "[\n"
                            "    \"http://127.0.0.1:9324/000000000000/q1\",\n"
                            "    \"http://127.0.0.1:9324/000000000000/q2\"\n"
                            "]\n");
    run_free(&r);
    RUN(&r, "--output", "text", "list-queues", "--query", "QueueUrls[-1]");
    ck_assert_str_eq(r.out, "http://127.0.0.1:9324/000000000000/q2\n");
    run_free(&r);

    json_t *doc = RUN_JSON("get-queue-attributes", "--queue-url", url,
                           "--attribute-names", "All", "--query",
                           "Attributes.{n: ApproximateNumberOfMessages, "
                           "vt: to_number(VisibilityTimeout)}");
    ck_assert_uint_eq(json_object_size(doc), 2);
    ck_assert_str_eq(jstr(doc, "n"), "0");
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "vt")), 30);
    json_decref(doc);

    /* filters and functions */
    send_body(url, "a");
    send_body(url, "b");
    RUN(&r, "--output", "text", "receive-message", "--queue-url", url,
        "--max-number-of-messages", "10", "--query",
        "Messages[?Body=='b'].Body | [0]");
    ck_assert_str_eq(r.out, "b\n");
    run_free(&r);
    RUN(&r, "list-queues", "--query", "length(QueueUrls[?ends_with(@, 'q2')])");
    ck_assert_str_eq(r.out, "1\n");
    run_free(&r);
    free(url);
}
END_TEST

/* A --query that cannot compile (bad syntax, an unknown function, the
 * wrong number of arguments) is a usage error before anything runs: the
 * send does not happen. One that fails on the response (a function given
 * the wrong type) exits 255 with jmespath's message, as the AWS CLI does. */
START_TEST(query_errors_change_nothing)
{
    run r = {0};
    char *url = mkqueue("q1");
    static const char *const bad[] = {"MessageId[", "nosuch(@)",
                                      "length(@, @)", "a[?b ==]", NULL};

    for (size_t i = 0; bad[i]; i++) {
        RUN(&r, "send-message", "--queue-url", url, "--message-body", "x",
            "--query", bad[i]);
        ck_assert_msg(r.status == 252, "%s: exit %d", bad[i], r.status);
        ck_assert_ptr_nonnull(strstr(r.err, "Bad value for --query"));
        ck_assert_str_eq(r.out, "");
        run_free(&r);
    }
    RUN(&r, "list-queues", "--query", "abs(QueueUrls[0])");
    ck_assert_int_eq(r.status, 255);
    ck_assert_ptr_nonnull(strstr(r.err, "In function abs(), invalid type"));
    ck_assert_str_eq(r.out, "");
    run_free(&r);

    json_t *doc = RUN_JSON("get-queue-attributes", "--queue-url", url,
                           "--attribute-names", "ApproximateNumberOfMessages");
    ck_assert_str_eq(jstr(json_object_get(doc, "Attributes"),
                          "ApproximateNumberOfMessages"),
                     "0");
    json_decref(doc);
    free(url);
}
END_TEST

/* An expression nested 30,000 deep (brackets, hashes, parentheses, a long
 * chain) is refused as a usage error instead of overflowing the stack
 * (issue 27); 400 levels still work. */
static char *
nested(const char *open, const char *mid, const char *close, size_t depth)
{
    size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
    char *s = malloc(depth * (lo + lc) + lm + 1), *p = s;
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < depth; i++, p += lo)
        memcpy(p, open, lo);
    memcpy(p, mid, lm), p += lm;
    for (size_t i = 0; i < depth; i++, p += lc)
        memcpy(p, close, lc);
    *p = '\0';
    return s;
}

START_TEST(query_depth_is_bounded)
{
    run r = {0};
    char *url = mkqueue("q1");
    char *deep[] = {nested("[", "a", "]", 30000), nested("{a:", "a", "}", 30000),
                    nested("(", "a", ")", 30000), nested("", "a", ".a", 30000)};

    for (size_t i = 0; i < sizeof deep / sizeof deep[0]; i++) {
        RUN(&r, "send-message", "--queue-url", url, "--message-body", "x",
            "--query", deep[i]);
        ck_assert_msg(r.status == 252, "%zu: exit %d", i, r.status);
        ck_assert_ptr_nonnull(strstr(r.err, "nested too deeply"));
        ck_assert_str_eq(r.out, "");
        run_free(&r);
        free(deep[i]);
    }
    char *ok = nested("(", "MD5OfMessageBody", ")", 400);
    RUN(&r, "send-message", "--queue-url", url, "--message-body", "x",
        "--query", ok);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "\"9dd4e461268c8034f5c8564e155c67a6\"\n");
    run_free(&r);
    free(ok);

    json_t *doc = RUN_JSON("get-queue-attributes", "--queue-url", url,
                           "--attribute-names", "ApproximateNumberOfMessages");
    ck_assert_str_eq(jstr(json_object_get(doc, "Attributes"),
                          "ApproximateNumberOfMessages"),
                     "1");
    json_decref(doc);
    free(url);
}
END_TEST

/* A negative delay, wait or visibility timeout is the service error SQS
 * gives, not "the queue's" (-1 passed as absent; issue 27); in a batch only
 * its entry fails. */
START_TEST(negative_seconds_are_refused)
{
    run r = {0};
    char *url = mkqueue("q1");

    RUN(&r, "send-message", "--queue-url", url, "--message-body", "x",
        "--delay-seconds", "-1");
    ck_assert_int_eq(r.status, 254);
    ck_assert_ptr_nonnull(strstr(r.err, "(InvalidParameterValue)"));
    ck_assert_ptr_nonnull(strstr(r.err, "Value -1 for parameter DelaySeconds"));
    run_free(&r);
    static const char *const recv_flags[] = {"--wait-time-seconds",
                                             "--visibility-timeout", NULL};
    for (size_t i = 0; recv_flags[i]; i++) {
        RUN(&r, "receive-message", "--queue-url", url, recv_flags[i], "-1");
        ck_assert_int_eq(r.status, 254);
        ck_assert_ptr_nonnull(strstr(r.err, "(InvalidParameterValue)"));
        ck_assert_str_eq(r.out, "");
        run_free(&r);
    }
    json_t *doc = RUN_JSON("send-message-batch", "--queue-url", url,
                           "--entries",
                           "[{\"Id\":\"bad\",\"MessageBody\":\"x\","
                           "\"DelaySeconds\":-1},"
                           "{\"Id\":\"good\",\"MessageBody\":\"y\"}]");
    ck_assert_int_eq(json_array_size(json_object_get(doc, "Successful")), 1);
    json_t *f = json_array_get(json_object_get(doc, "Failed"), 0);
    ck_assert_str_eq(jstr(f, "Id"), "bad");
    ck_assert_str_eq(jstr(f, "Code"), "InvalidParameterValue");
    ck_assert_ptr_nonnull(
        strstr(jstr(f, "Message"), "Value -1 for parameter DelaySeconds"));
    json_decref(doc);
    /* Repeated Ids are still refused as a whole, a bad entry or not. */
    RUN(&r, "send-message-batch", "--queue-url", url, "--entries",
        "[{\"Id\":\"a\",\"MessageBody\":\"x\",\"DelaySeconds\":-1},"
        "{\"Id\":\"a\",\"MessageBody\":\"y\"}]");
    ck_assert_int_eq(r.status, 254);
    ck_assert_ptr_nonnull(strstr(r.err, "BatchEntryIdsNotDistinct"));
    run_free(&r);

    doc = RUN_JSON("get-queue-attributes", "--queue-url", url,
                   "--attribute-names", "ApproximateNumberOfMessages",
                   "ApproximateNumberOfMessagesDelayed");
    json_t *a = json_object_get(doc, "Attributes");
    ck_assert_str_eq(jstr(a, "ApproximateNumberOfMessages"), "1");
    ck_assert_str_eq(jstr(a, "ApproximateNumberOfMessagesDelayed"), "0");
    json_decref(doc);
    free(url);
}
END_TEST

/* ---- dead-letter queues and move tasks ---------------------------------- */

/* Poll list-message-move-tasks until the newest task of arn has left
 * RUNNING and CANCELLING (a --no-wait task runs in a detached process), for
 * at most 10 s; return that task (the caller decrefs *doc). */
static json_t *
wait_task_done(const char *arn, json_t **doc)
{
    for (int i = 0; i < 1000; i++) {
        json_t *t;
        const char *st;
        *doc = RUN_JSON("list-message-move-tasks", "--source-arn", arn);
        t = json_array_get(json_object_get(*doc, "Results"), 0);
        ck_assert_ptr_nonnull(t);
        st = jstr(t, "Status");
        if (strcmp(st, "RUNNING") != 0 && strcmp(st, "CANCELLING") != 0)
            return t;
        json_decref(*doc);
        usleep(10 * 1000);
    }
    ck_abort_msg("the task of %s did not end within 10 s", arn);
    return NULL;
}

START_TEST(dlq_move_and_redrive_round_trip)
{
    char attrs[512], want[512];
    json_t *doc, *m, *t;
    run r = {0};
    char *dlq = mkqueue("dlq");
    char *arn = queue_attr(dlq, "QueueArn");

    ck_assert_str_eq(arn, "arn:aws:sqs:us-east-1:000000000000:dlq");
    redrive_attrs(attrs, sizeof attrs, arn, 1);
    char *src = mkqueue_attrs("src", attrs);
    /* Stored normalised, compact, in SQS's key order (docs/DLQ.md). */
    char *pol = queue_attr(src, "RedrivePolicy");
    snprintf(want, sizeof want,
             "{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":1}", arn);
    ck_assert_str_eq(pol, want);
    free(pol);

    doc = RUN_JSON("send-message", "--queue-url", src, "--message-body",
                   "hello");
    char *id = strdup(jstr(doc, "MessageId"));
    json_decref(doc);

    /* Delivery 1 fails (visible again at once); the next receive moves the
     * message to the DLQ and so returns nothing. */
    doc = RUN_JSON("receive-message", "--queue-url", src,
                   "--visibility-timeout", "0");
    m = json_array_get(json_object_get(doc, "Messages"), 0);
    ck_assert_str_eq(jstr(m, "MessageId"), id);
    json_decref(doc);
    RUN_QUIET("receive-message", "--queue-url", src, "--visibility-timeout",
              "0");
    char *n = queue_attr(dlq, "ApproximateNumberOfMessages");
    ck_assert_str_eq(n, "1");
    free(n);
    n = queue_attr(src, "ApproximateNumberOfMessages");
    ck_assert_str_eq(n, "0");
    free(n);

    /* queueUrls with a lowercase q, byte for byte as `aws sqs` prints it. */
    RUN(&r, "list-dead-letter-source-queues", "--queue-url", dlq);
    ck_assert_msg(r.status == 0, "exit %d, stderr: %s", r.status, r.err);
    snprintf(want, sizeof want,
             "{\n    \"queueUrls\": [\n        \"%s\"\n    ]\n}\n", src);
    ck_assert_str_eq(r.out, want);
    ck_assert_str_eq(r.err, "");
    run_free(&r);
    /* The key is required in SQS's shape: present even when empty. */
    doc = RUN_JSON("list-dead-letter-source-queues", "--queue-url", src);
    ck_keys(doc, "queueUrls");
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "queueUrls")), 0);
    json_decref(doc);

    /* stdin and stderr are not terminals: no progress bar, and the task
     * has run to completion when the command returns. */
    doc = RUN_JSON("start-message-move-task", "--source-arn", arn);
    ck_keys(doc, "TaskHandle");
    char *handle = strdup(jstr(doc, "TaskHandle"));
    ck_assert_uint_gt(strlen(handle), 0);
    json_decref(doc);

    doc = RUN_JSON("list-message-move-tasks", "--source-arn", arn);
    ck_keys(doc, "Results");
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "Results")), 1);
    t = json_array_get(json_object_get(doc, "Results"), 0);
    /* No TaskHandle once not RUNNING; no DestinationArn, rate or
     * FailureReason when not given or not FAILED. */
    ck_keys(t, "Status,SourceArn,ApproximateNumberOfMessagesMoved,"
               "ApproximateNumberOfMessagesToMove,StartedTimestamp");
    ck_assert_str_eq(jstr(t, "Status"), "COMPLETED");
    ck_assert_str_eq(jstr(t, "SourceArn"), arn);
    json_t *v = json_object_get(t, "ApproximateNumberOfMessagesMoved");
    ck_assert(json_is_integer(v));
    ck_assert_int_eq(json_integer_value(v), 1);
    v = json_object_get(t, "ApproximateNumberOfMessagesToMove");
    ck_assert(json_is_integer(v));
    ck_assert_int_eq(json_integer_value(v), 1);
    v = json_object_get(t, "StartedTimestamp");
    ck_assert(json_is_integer(v)); /* epoch ms, a JSON number */
    ck_assert_int_gt(json_integer_value(v), 1000000000000LL);
    json_decref(doc);

    /* Back in the source as a new message; the DLQ is empty. */
    doc = RUN_JSON("receive-message", "--queue-url", src, "--attribute-names",
                   "All");
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "Messages")), 1);
    m = json_array_get(json_object_get(doc, "Messages"), 0);
    ck_assert_str_eq(jstr(m, "Body"), "hello");
    ck_assert_str_ne(jstr(m, "MessageId"), id);
    json_t *a = json_object_get(m, "Attributes");
    ck_assert_str_eq(jstr(a, "ApproximateReceiveCount"), "1");
    ck_assert_ptr_null(json_object_get(a, "DeadLetterQueueSourceArn"));
    json_decref(doc);
    n = queue_attr(dlq, "ApproximateNumberOfMessages");
    ck_assert_str_eq(n, "0");
    free(n);

    /* Only a RUNNING task can be cancelled. */
    RUN(&r, "cancel-message-move-task", "--task-handle", handle);
    ck_service_error(&r, "InvalidParameterValue", "CancelMessageMoveTask");
    run_free(&r);
    RUN(&r, "cancel-message-move-task", "--task-handle", "garbage");
    ck_service_error(&r, "InvalidParameterValue", "CancelMessageMoveTask");
    ck_assert_ptr_nonnull(
        strstr(r.err, "Value for parameter TaskHandle is invalid."));
    run_free(&r);
    free(handle);
    free(id);
    free(src);
    free(arn);
    free(dlq);
}
END_TEST

START_TEST(dlq_move_task_errors)
{
    char attrs[512];
    run r = {0};
    char *dlq = mkqueue("dlq");
    char *arn = queue_attr(dlq, "QueueArn");

    /* A queue no RedrivePolicy targets (yet) is not a DLQ. */
    RUN(&r, "start-message-move-task", "--source-arn", arn);
    ck_service_error(&r, "InvalidParameterValue", "StartMessageMoveTask");
    ck_assert_ptr_nonnull(strstr(r.err, "Source queue must be configured as "
                                        "a Dead Letter Queue."));
    run_free(&r);
    redrive_attrs(attrs, sizeof attrs, arn, 3);
    char *src = mkqueue_attrs("src", attrs);
    char *src_arn = queue_attr(src, "QueueArn");
    /* A source queue is not a DLQ either. */
    RUN(&r, "start-message-move-task", "--source-arn", src_arn);
    ck_service_error(&r, "InvalidParameterValue", "StartMessageMoveTask");
    run_free(&r);
    RUN(&r, "start-message-move-task", "--source-arn",
        "arn:aws:sqs:us-east-1:000000000000:nope");
    ck_service_error(&r, "ResourceNotFoundException",
                     "StartMessageMoveTask");
    run_free(&r);
    RUN(&r, "start-message-move-task", "--source-arn", arn,
        "--max-number-of-messages-per-second", "501");
    ck_service_error(&r, "InvalidParameterValue", "StartMessageMoveTask");
    ck_assert_ptr_nonnull(strstr(r.err, "MaxNumberOfMessagesPerSecond"));
    run_free(&r);
    RUN(&r, "start-message-move-task", "--source-arn", arn,
        "--max-number-of-messages-per-second", "0");
    ck_service_error(&r, "InvalidParameterValue", "StartMessageMoveTask");
    run_free(&r);
    /* Nothing was started by the failures. */
    json_t *doc = RUN_JSON("list-message-move-tasks", "--source-arn", arn);
    ck_keys(doc, "Results");
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "Results")), 0);
    json_decref(doc);

    RUN(&r, "list-message-move-tasks", "--source-arn", arn, "--max-results",
        "11");
    ck_service_error(&r, "InvalidParameterValue", "ListMessageMoveTasks");
    run_free(&r);
    RUN(&r, "list-dead-letter-source-queues", "--queue-url", "nope");
    ck_service_error(&r, "AWS.SimpleQueueService.NonExistentQueue", "ListDeadLetterSourceQueues");
    run_free(&r);
    RUN(&r, "list-dead-letter-source-queues", "--queue-url", dlq,
        "--max-results", "0");
    ck_service_error(&r, "InvalidParameterValue",
                     "ListDeadLetterSourceQueues");
    run_free(&r);
    /* A well-formed handle naming a task that never existed. */
    RUN(&r, "cancel-message-move-task", "--task-handle",
        "eyJ0YXNrSWQiOiI5OSIsInNvdXJjZUFybiI6ImFybjphd3M6c3FzOnVzLWVhc3Qt"
        "MTowMDAwMDAwMDAwMDA6ZGxxIn0");
    ck_service_error(&r, "ResourceNotFoundException",
                     "CancelMessageMoveTask");
    ck_assert_ptr_nonnull(strstr(r.err, "Task does not exist."));
    run_free(&r);
    RUN(&r, "cancel-message-move-task");
    ck_assert_int_eq(r.status, 252);
    ck_assert_ptr_nonnull(strstr(r.err, "--task-handle"));
    run_free(&r);
    free(src_arn);
    free(src);
    free(arn);
    free(dlq);
}
END_TEST

START_TEST(dlq_no_wait_task_is_cancelled)
{
    char attrs[512];
    json_t *doc, *t;
    run r = {0};
    char *dlq = mkqueue("dlq");
    char *arn = queue_attr(dlq, "QueueArn");

    redrive_attrs(attrs, sizeof attrs, arn, 1);
    char *src = mkqueue_attrs("src", attrs);
    for (int i = 0; i < 5; i++)
        send_body(src, "poison");
    /* Each message is delivered once, then moved by the next receive. */
    doc = RUN_JSON("receive-message", "--queue-url", src,
                   "--max-number-of-messages", "10", "--visibility-timeout",
                   "0");
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "Messages")), 5);
    json_decref(doc);
    RUN_QUIET("receive-message", "--queue-url", src,
              "--max-number-of-messages", "10");
    char *n = queue_attr(dlq, "ApproximateNumberOfMessages");
    ck_assert_str_eq(n, "5");
    free(n);

    /* One message a second: the task is still RUNNING when we look. */
    doc = RUN_JSON("start-message-move-task", "--source-arn", arn,
                   "--max-number-of-messages-per-second", "1", "--no-wait");
    ck_keys(doc, "TaskHandle");
    char *handle = strdup(jstr(doc, "TaskHandle"));
    json_decref(doc);
    RUN(&r, "start-message-move-task", "--source-arn", arn);
    ck_service_error(&r, "InvalidParameterValue", "StartMessageMoveTask");
    ck_assert_ptr_nonnull(strstr(r.err, "There is already a task running."));
    run_free(&r);

    doc = RUN_JSON("list-message-move-tasks", "--source-arn", arn);
    t = json_array_get(json_object_get(doc, "Results"), 0);
    ck_keys(t, "TaskHandle,Status,SourceArn,MaxNumberOfMessagesPerSecond,"
               "ApproximateNumberOfMessagesMoved,"
               "ApproximateNumberOfMessagesToMove,StartedTimestamp");
    ck_assert_str_eq(jstr(t, "TaskHandle"), handle);
    ck_assert_str_eq(jstr(t, "Status"), "RUNNING");
    ck_assert_int_eq(
        json_integer_value(json_object_get(t, "MaxNumberOfMessagesPerSecond")),
        1);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         t, "ApproximateNumberOfMessagesToMove")),
                     5);
    json_decref(doc);

    doc = RUN_JSON("cancel-message-move-task", "--task-handle", handle);
    ck_keys(doc, "ApproximateNumberOfMessagesMoved");
    json_int_t moved = json_integer_value(
        json_object_get(doc, "ApproximateNumberOfMessagesMoved"));
    ck_assert_int_lt(moved, 5);
    json_decref(doc);

    /* The detached runner finishes the cancel; moved messages stay moved,
     * the rest stay in the DLQ. */
    t = wait_task_done(arn, &doc);
    ck_assert_str_eq(jstr(t, "Status"), "CANCELLED");
    ck_assert_ptr_null(json_object_get(t, "TaskHandle"));
    moved = json_integer_value(
        json_object_get(t, "ApproximateNumberOfMessagesMoved"));
    ck_assert_int_lt(moved, 5);
    json_decref(doc);
    char want[16];
    snprintf(want, sizeof want, "%d", 5 - (int)moved);
    n = queue_attr(dlq, "ApproximateNumberOfMessages");
    ck_assert_str_eq(n, want);
    free(n);
    snprintf(want, sizeof want, "%d", (int)moved);
    n = queue_attr(src, "ApproximateNumberOfMessages");
    ck_assert_str_eq(n, want);
    free(n);
    free(handle);
    free(src);
    free(arn);
    free(dlq);
}
END_TEST

START_TEST(dlq_allow_policy_denial_creates_nothing)
{
    char attrs[512], prefix[256];
    run r = {0};
    char *dlq = mkqueue_attrs(
        "dlq", "{\"RedriveAllowPolicy\": "
               "\"{\\\"redrivePermission\\\":\\\"denyAll\\\"}\"}");
    char *arn = queue_attr(dlq, "QueueArn");

    redrive_attrs(attrs, sizeof attrs, arn, 1);
    RUN(&r, "create-queue", "--queue-name", "src", "--attributes", attrs);
    ck_service_error(&r, "InvalidParameterValue", "CreateQueue");
    ck_assert_ptr_nonnull(strstr(r.err, "RedriveAllowPolicy"));
    run_free(&r);
    RUN(&r, "get-queue-url", "--queue-name", "src");
    ck_service_error(&r, "AWS.SimpleQueueService.NonExistentQueue", "GetQueueUrl");
    run_free(&r);
    json_t *doc = RUN_JSON("list-queues");
    json_t *urls = json_object_get(doc, "QueueUrls");
    ck_assert_uint_eq(json_array_size(urls), 1);
    ck_assert_str_eq(json_string_value(json_array_get(urls, 0)), dlq);
    json_decref(doc);
    doc = RUN_JSON("list-dead-letter-source-queues", "--queue-url", dlq);
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "queueUrls")), 0);
    json_decref(doc);

    /* The same denial on an existing queue leaves its attributes alone. */
    char *plain = mkqueue("plain");
    RUN(&r, "set-queue-attributes", "--queue-url", plain, "--attributes",
        attrs);
    ck_service_error(&r, "InvalidParameterValue", "SetQueueAttributes");
    run_free(&r);
    RUN_QUIET("get-queue-attributes", "--queue-url", plain,
              "--attribute-names", "RedrivePolicy");

    /* byQueue admits exactly the listed sources. */
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(arn) - 3), arn);
    snprintf(attrs, sizeof attrs,
             "{\"RedriveAllowPolicy\": \"{\\\"redrivePermission\\\":"
             "\\\"byQueue\\\",\\\"sourceQueueArns\\\":[\\\"%sok\\\"]}\"}",
             prefix);
    RUN_QUIET("set-queue-attributes", "--queue-url", dlq, "--attributes",
              attrs);
    redrive_attrs(attrs, sizeof attrs, arn, 1);
    RUN(&r, "create-queue", "--queue-name", "src", "--attributes", attrs);
    ck_service_error(&r, "InvalidParameterValue", "CreateQueue");
    run_free(&r);
    char *ok = mkqueue_attrs("ok", attrs);
    doc = RUN_JSON("list-dead-letter-source-queues", "--queue-url", dlq);
    urls = json_object_get(doc, "queueUrls");
    ck_assert_uint_eq(json_array_size(urls), 1);
    ck_assert_str_eq(json_string_value(json_array_get(urls, 0)), ok);
    json_decref(doc);
    free(ok);
    free(plain);
    free(arn);
    free(dlq);
}
END_TEST

/* ---- errors and usage ------------------------------------------------------ */

START_TEST(service_errors_like_aws)
{
    run r = {0};

    RUN(&r, "receive-message", "--queue-url",
        "http://127.0.0.1:9324/000000000000/missing");
    ck_service_error(&r, "AWS.SimpleQueueService.NonExistentQueue", "ReceiveMessage");
    run_free(&r);

    RUN(&r, "send-message", "--queue-url", "missing", "--message-body", "x");
    ck_service_error(&r, "AWS.SimpleQueueService.NonExistentQueue", "SendMessage");
    run_free(&r);

    char *url = mkqueue("q1");
    RUN(&r, "receive-message", "--queue-url", url,
        "--max-number-of-messages", "11");
    ck_service_error(&r, "InvalidParameterValue", "ReceiveMessage");
    ck_assert_ptr_nonnull(strstr(r.err, "MaxNumberOfMessages"));
    run_free(&r);

    RUN(&r, "delete-message", "--queue-url", url, "--receipt-handle",
        "garbage");
    ck_service_error(&r, "ReceiptHandleIsInvalid", "DeleteMessage");
    run_free(&r);

    RUN(&r, "create-queue", "--queue-name", "bad name!");
    ck_service_error(&r, "InvalidParameterValue", "CreateQueue");
    run_free(&r);

    RUN(&r, "list-queues", "--max-results", "0");
    ck_service_error(&r, "InvalidParameterValue", "ListQueues");
    run_free(&r);

    RUN(&r, "get-queue-attributes", "--queue-url", url, "--attribute-names",
        "Bogus");
    ck_service_error(&r, "InvalidAttributeName", "GetQueueAttributes");
    run_free(&r);

    RUN(&r, "set-queue-attributes", "--queue-url", url, "--attributes",
        "NoSuchAttribute=1");
    ck_service_error(&r, "InvalidAttributeName", "SetQueueAttributes");
    run_free(&r);
    free(url);
}
END_TEST

/* Run and expect a usage error (exit 252) whose stderr contains text. */
#define RUN_USAGE(text, ...)                                                 \
    do {                                                                     \
        run ru_ = {0};                                                       \
        RUN(&ru_, __VA_ARGS__);                                              \
        ck_assert_int_eq(ru_.status, 252);                                   \
        ck_assert_msg(strstr(ru_.err, (text)) != NULL,                       \
                      "stderr lacks '%s': %s", (text), ru_.err);            \
        run_free(&ru_);                                                      \
    } while (0)

START_TEST(usage_errors_exit_252)
{
    run r = {0};
    RUN_USAGE("lmq: error: the following arguments are required: "
              "--queue-url\n",
              "send-message", "--message-body", "x");
    RUN_USAGE("required: --queue-url, --message-body\n", "send-message");
    RUN_USAGE("Unknown options: --bogus, 1", "list-queues", "--bogus", "1");
    RUN_USAGE("Invalid choice", "frobnicate-queue");
    RUN_USAGE("argument --map-mode: Invalid choice: 'hugepages'",
              "--map-mode", "hugepages", "list-queues");
    RUN_USAGE("argument --flush-interval: expected milliseconds from 1 to "
              "3600000, got '0'",
              "--flush-interval", "0", "list-queues");
    RUN_USAGE("got 'soon'", "--flush-interval=soon", "list-queues");
    /* Python's ValueError reaches AWS CLI v2's catch-all: 255. */
    RUN(&r, "receive-message", "--queue-url", "q",
        "--max-number-of-messages", "ten");
    ck_assert_int_eq(r.status, 255);
    ck_assert_str_eq(r.err, "\ninvalid literal for int() with base 10: "
                            "'ten'\n");
    run_free(&r);
    RUN_USAGE("Error parsing parameter '--attributes'", "create-queue",
              "--queue-name", "q", "--attributes", "VisibilityTimeout");

    run_argv(&r, 1, (const char *const[]){NULL});
    ck_assert_int_eq(r.status, 252);
    run_free(&r);
}
END_TEST

START_TEST(help_version_and_home_from_env)
{
    run r = {0};

    RUN(&r, "--help");
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "send-message-batch"));
    run_free(&r);
    RUN(&r, "receive-message", "--help");
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "--max-number-of-messages"));
    run_free(&r);
    RUN(&r, "--version");
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, LMQ_VERSION_STRING));
    run_free(&r);

    /* LMQ_HOME is used when --home is absent. */
    char home[300];
    snprintf(home, sizeof home, "%s/envhome", lmq_test_dir);
    setenv("LMQ_HOME", home, 1);
    run_argv(&r, 0, (const char *const[]){"--durability", "none",
                                          "create-queue", "--queue-name",
                                          "viaenv", NULL});
    ck_assert_int_eq(r.status, 0);
    run_free(&r);
    struct stat st;
    ck_assert_int_eq(stat(home, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    /* ... and --home wins over it: that home has no such queue. */
    json_decref(RUN_JSON("create-queue", "--queue-name", "other"));
    RUN(&r, "get-queue-url", "--queue-name", "viaenv");
    ck_service_error(&r, "AWS.SimpleQueueService.NonExistentQueue", "GetQueueUrl");
    run_free(&r);
    unsetenv("LMQ_HOME");
}
END_TEST

/* --map-mode picks the mode of a home the command creates; later runs
 * cannot change it. */
START_TEST(map_mode_option_applies_at_creation)
{
    char home[300];
    run r = {0};
    json_t *doc;
    snprintf(home, sizeof home, "%s/pw", lmq_test_dir);
    run_argv(&r, 0, (const char *const[]){"--home", home, "--durability",
                                          "none", "--map-mode", "pwrite",
                                          "create-queue", "--queue-name",
                                          "m", NULL});
    ck_assert_int_eq(r.status, 0);
    run_free(&r);
    run_argv(&r, 0, (const char *const[]){"--home", home, "--map-mode",
                                          "writable", "--output", "json",
                                          "stats", NULL});
    ck_assert_int_eq(r.status, 0);
    doc = json_loads(r.out, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(jstr(doc, "MapMode"), "pwrite");
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "Queues")), 1);
    json_decref(doc);
    run_free(&r);
    /* a periodic open with its own flush interval works on the same home */
    run_argv(&r, 0, (const char *const[]){"--home", home, "--durability",
                                          "periodic", "--flush-interval",
                                          "50", "send-message", "--queue-url",
                                          "m", "--message-body", "hi", NULL});
    ck_assert_int_eq(r.status, 0);
    run_free(&r);
}
END_TEST

/* ---- stats and demo ------------------------------------------------------- */

START_TEST(stats_counts_every_queue)
{
    json_t *doc, *qs, *q;
    run r = {0};
    char *a = mkqueue("aaa"), *b = mkqueue("bbb");

    send_body(a, "one");
    send_body(a, "two");
    send_body(b, "three");
    char *h[1];
    receive_handles(b, h, 1);
    free(h[0]);

    doc = RUN_JSON("stats", "--output", "json");
    ck_keys(doc, "MapMode,Queues");
    /* the test home was created with --durability none */
    ck_assert_str_eq(jstr(doc, "MapMode"), "writable");
    qs = json_object_get(doc, "Queues");
    ck_assert_uint_eq(json_array_size(qs), 2);
    q = json_array_get(qs, 0);
    ck_keys(q, "QueueName,ApproximateNumberOfMessages,"
               "ApproximateNumberOfMessagesNotVisible,"
               "ApproximateNumberOfMessagesDelayed,Metrics");
    ck_assert_str_eq(jstr(q, "QueueName"), "aaa");
    ck_assert_int_eq(
        json_integer_value(json_object_get(q, "ApproximateNumberOfMessages")),
        2);
    q = json_array_get(qs, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         q, "ApproximateNumberOfMessagesNotVisible")),
                     1);
    json_decref(doc);

    RUN(&r, "stats");
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "QUEUE"));
    ck_assert_ptr_nonnull(strstr(r.out, "bbb"));
    ck_assert_ptr_nonnull(strstr(r.out, "map mode: writable\n"));
    run_free(&r);
    free(a);
    free(b);
}
END_TEST

START_TEST(demo_loses_nothing)
{
    run r = {0};

    RUN(&r, "demo");
    ck_assert_msg(r.status == 0, "demo exit %d\nstdout:\n%s\nstderr:\n%s",
                  r.status, r.out, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "consumer "));
    ck_assert_ptr_nonnull(strstr(r.out, " got: message "));
    const char *lost =
        strstr(r.out, "sent 30, received 30, none lost or duplicated");
    ck_assert_ptr_nonnull(lost);
    /* Then the dead-letter part, in this order. */
    const char *dlq_lines[] = {
        "\ndemo: dead-letter queues: ",
        "-jobs has RedrivePolicy {\"deadLetterTargetArn\":\"arn:aws:sqs:",
        "\"maxReceiveCount\":2}\n",
        "demo: delivery 1 of the poison message: the handler fails\n",
        "demo: delivery 2 of the poison message: the handler fails\n",
        "demo: the next receive moved it to ",
        "-dlq (receive count 3, DeadLetterQueueSourceArn arn:aws:sqs:",
        "demo: the bug is fixed: start-message-move-task --source-arn ",
        "demo: task COMPLETED; back in ",
        "-jobs as a new message, handled and deleted\n",
    };
    const char *at = lost;
    for (size_t i = 0; i < sizeof dlq_lines / sizeof *dlq_lines; i++) {
        const char *p = strstr(at, dlq_lines[i]);
        ck_assert_msg(p != NULL, "demo output lacks '%s' after '%.40s'",
                      dlq_lines[i], at);
        at = p + strlen(dlq_lines[i]);
    }
    ck_assert_ptr_null(strstr(r.out, "did not come back"));
    ck_assert_ptr_null(strstr(r.err, "An error occurred"));
    /* The demo removes its queues, the DLQ pair too. */
    RUN_QUIET("list-queues");
    run_free(&r);
}
END_TEST

/* Encryption at rest through the CLI (docs/SECURITY.md): lmq key create,
 * --key-file, SqsManagedSseEnabled, a round trip, no key -> KmsNotFound
 * (exit 254, nothing changed), rotation, no plaintext in the home. */
START_TEST(sealed_queue_with_key_file)
{
    char kf[320], kfarg[340], home[320], what[2048] = "";
    run r = {0};
    snprintf(kf, sizeof kf, "%s/keys.json", lmq_test_dir);
    snprintf(kfarg, sizeof kfarg, "--key-file=%s", kf);
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    json_t *doc = RUN_JSON(kfarg, "key", "create", "--alias", "alias/jobs");
    ck_assert_uint_eq(strlen(jstr(doc, "KeyId")), 36);
    json_decref(doc);
    json_decref(RUN_JSON(kfarg, "create-queue", "--queue-name", "sq"));
    doc = RUN_JSON(kfarg, "get-queue-attributes", "--queue-url", "sq",
                   "--attribute-names", "SqsManagedSseEnabled");
    ck_assert_str_eq(jstr(json_object_get(doc, "Attributes"),
                          "SqsManagedSseEnabled"),
                     "true");
    json_decref(doc);
    json_decref(RUN_JSON(kfarg, "send-message", "--queue-url", "sq",
                         "--message-body", "CLISEALMARK body"));
    /* without the keys: the KMS error, nothing received */
    RUN(&r, "receive-message", "--queue-url", "sq");
    ck_assert_int_eq(r.status, 254);
    ck_assert_msg(strstr(r.err, "(KMS.NotFoundException)") != NULL, "%s",
                  r.err);
    run_free(&r);
    doc = RUN_JSON(kfarg, "key", "rotate");
    json_decref(doc);
    doc = RUN_JSON(kfarg, "receive-message", "--queue-url", "sq");
    json_t *m = json_array_get(json_object_get(doc, "Messages"), 0);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(jstr(m, "Body"), "CLISEALMARK body");
    json_decref(doc);
    ck_assert_int_eq(lmq_test_scan_dir(home, "CLISEALMARK", what,
                                       sizeof what),
                     0);
    doc = RUN_JSON(kfarg, "key", "list");
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "Keys")), 2);
    json_decref(doc);
}
END_TEST

/* The passphrase and key-process sources as global flags. */
START_TEST(sealed_queue_with_passphrase_and_key_process)
{
    char kf[320], kfarg[340], pf[320], pfarg[360], proc[400], home[320],
        what[2048] = "";
    run r = {0};
    snprintf(kf, sizeof kf, "%s/keys.json", lmq_test_dir);
    snprintf(kfarg, sizeof kfarg, "--key-file=%s", kf);
    snprintf(pf, sizeof pf, "%s/pass", lmq_test_dir);
    snprintf(pfarg, sizeof pfarg, "--key-passphrase-file=%s", pf);
    snprintf(proc, sizeof proc, "cat '%s'", kf);
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    FILE *f = fopen(pf, "w");
    ck_assert_ptr_nonnull(f);
    fputs("correct horse battery staple\n", f);
    fclose(f);
    ck_assert_int_eq(chmod(pf, 0600), 0);
    json_decref(RUN_JSON(kfarg, "key", "create"));

    /* The passphrase: the home key. */
    json_decref(RUN_JSON(pfarg, "create-queue", "--queue-name", "pq"));
    json_t *doc = RUN_JSON(pfarg, "get-queue-attributes", "--queue-url", "pq",
                           "--attribute-names", "SqsManagedSseEnabled");
    ck_assert_str_eq(jstr(json_object_get(doc, "Attributes"),
                          "SqsManagedSseEnabled"),
                     "true");
    json_decref(doc);
    json_decref(RUN_JSON(pfarg, "send-message", "--queue-url", "pq",
                         "--message-body", "CLIPASSMARK body"));
    RUN(&r, "receive-message", "--queue-url", "pq");
    ck_assert_int_eq(r.status, 254);
    ck_assert_msg(strstr(r.err, "KMS.NotFoundException") != NULL, "%s", r.err);
    run_free(&r);
    doc = RUN_JSON(pfarg, "receive-message", "--queue-url", "pq");
    json_t *m = json_array_get(json_object_get(doc, "Messages"), 0);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(jstr(m, "Body"), "CLIPASSMARK body");
    json_decref(doc);

    /* The key process: its keyring's home key (the same file's). */
    json_decref(RUN_JSON("--key-process", proc, "create-queue",
                         "--queue-name", "kq"));
    json_decref(RUN_JSON("--key-process", proc, "send-message",
                         "--queue-url", "kq", "--message-body",
                         "CLIPROCMARK body"));
    doc = RUN_JSON(kfarg, "receive-message", "--queue-url", "kq");
    m = json_array_get(json_object_get(doc, "Messages"), 0);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(jstr(m, "Body"), "CLIPROCMARK body");
    json_decref(doc);
    /* A failing key process refuses the home. */
    RUN(&r, "--key-process", "exit 3", "list-queues");
    ck_assert_int_ne(r.status, 0);
    ck_assert_msg(strstr(r.err, "key process `exit 3` failed") != NULL, "%s",
                  r.err);
    run_free(&r);
    ck_assert_int_eq(lmq_test_scan_dir(home, "CLIPASSMARK", what,
                                       sizeof what), 0);
    ck_assert_int_eq(lmq_test_scan_dir(home, "CLIPROCMARK", what,
                                       sizeof what), 0);
}
END_TEST

/* `lmq compact`: refused (nothing changed) while another process has the
 * home open, then sizes printed and the queue intact. */
START_TEST(compact_command)
{
    char home[320];
    run r = {0};
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    /* Filled by this process, which keeps the home open at first. */
    lmq_env *env = NULL;
    lmq_env_opts o;
    lmq_queue *q;
    lmq_send_entry e;
    lmq_send_result res;
    char body[4096];
    lmq_env_opts_init(&o);
    o.durability = LMQ_DURABILITY_NONE;
    ck_ok(lmq_env_open(home, &o, &env));
    ck_ok(lmq_queue_create(env, "cq", NULL, NULL, NULL));
    ck_ok(lmq_queue_open(env, "cq", &q));
    memset(body, 'b', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    lmq_send_entry_init(&e);
    e.body = body;
    e.body_len = SIZE_MAX;
    for (int i = 0; i < 100; i++)
        ck_ok(lmq_send(q, &e, &res));
    ck_ok(lmq_queue_purge(env, "cq"));
    e.body = "kept";
    ck_ok(lmq_send(q, &e, &res));
    lmq_queue_close(q);
    RUN(&r, "compact");
    ck_assert_int_ne(r.status, 0);
    ck_assert_msg(strstr(r.err, "open in another process") != NULL, "%s",
                  r.err);
    run_free(&r);
    lmq_env_close(env);
    json_t *doc = RUN_JSON("compact");
    json_int_t before = json_integer_value(json_object_get(doc,
                                                           "BytesBefore"));
    json_int_t after = json_integer_value(json_object_get(doc, "BytesAfter"));
    ck_assert_msg(after > 0 && after < before, "%lld -> %lld",
                  (long long)before, (long long)after);
    json_decref(doc);
    doc = RUN_JSON("receive-message", "--queue-url", "cq");
    json_t *m = json_array_get(json_object_get(doc, "Messages"), 0);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(jstr(m, "Body"), "kept");
    json_decref(doc);
}
END_TEST

/* ---- homes: defaults, read-only opens, region and account (issue 23) ---- */

/* Whether path exists. */
static int
exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* A "cannot open the home" error: exit status want, the path named, and
 * what to do. */
static void
ck_home_error(const run *r, int want, const char *path, const char *hint)
{
    ck_assert_msg(r->status == want, "exit %d (want %d), stderr: %s",
                  r->status, want, r->err);
    ck_assert_msg(r->out[0] == '\0', "stdout: %s", r->out);
    ck_assert_msg(strncmp(r->err, "\nCould not open the lmq home ", 29) == 0,
                  "stderr: %s", r->err);
    ck_assert_msg(strstr(r->err, path) != NULL, "no %s in: %s", path, r->err);
    ck_assert_msg(strstr(r->err, hint) != NULL, "no '%s' in: %s", hint,
                  r->err);
}

START_TEST(read_only_commands_never_create_a_home)
{
    char missing[340], parent[300], empty[300], arg[360];
    run r = {0};
    snprintf(parent, sizeof parent, "%s/typo", lmq_test_dir);
    snprintf(missing, sizeof missing, "%s/home", parent);
    snprintf(empty, sizeof empty, "%s/empty", lmq_test_dir);
    snprintf(arg, sizeof arg, "--home=%s", missing);
    static const char *const ro[][7] = {
        {"list-queues", NULL},
        {"get-queue-url", "--queue-name", "q", NULL},
        {"get-queue-attributes", "--queue-url", "q", NULL},
        {"list-queue-tags", "--queue-url", "q", NULL},
        {"list-dead-letter-source-queues", "--queue-url", "q", NULL},
        {"list-message-move-tasks", "--source-arn",
         "arn:aws:sqs:us-east-1:000000000000:q", NULL},
        {"stats", NULL},
        {"peek", "--queue-url", "q", NULL},
        {"clock", "show", NULL},
    };
    for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++) {
        const char *argv[9] = {arg};
        for (size_t k = 0; ro[i][k]; k++)
            argv[k + 1] = ro[i][k];
        run_argv(&r, 0, argv);
        ck_home_error(&r, 253, missing, "--home DIR or LMQ_HOME=DIR");
        ck_assert_msg(strstr(r.err, "nothing was created") != NULL, "%s",
                      r.err);
        ck_assert_msg(!exists(parent), "%s created %s", ro[i][0], parent);
        run_free(&r);
    }
    /* A directory that holds no home stays as it was. */
    ck_assert_int_eq(mkdir(empty, 0700), 0);
    snprintf(arg, sizeof arg, "--home=%s", empty);
    run_argv(&r, 0, (const char *const[]){arg, "list-queues", NULL});
    ck_home_error(&r, 253, empty, "create it with a command that writes");
    run_free(&r);
    char entry[320];
    snprintf(entry, sizeof entry, "%s/data.mdb", empty);
    ck_assert(!exists(entry));
    /* A command that writes creates it. */
    snprintf(arg, sizeof arg, "--home=%s", missing);
    run_argv(&r, 0, (const char *const[]){arg, "create-queue",
                                          "--queue-name", "q", NULL});
    ck_assert_int_eq(r.status, 0);
    run_free(&r);
    run_argv(&r, 0, (const char *const[]){arg, "list-queues", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "/q\""));
    run_free(&r);
}
END_TEST

START_TEST(default_home_follows_xdg)
{
    char home[300], henv[320], share[320], xdg[300], xenv[320], want[360];
    struct stat st;
    run r = {0};
    /* A fresh account: HOME exists, nothing below it. */
    snprintf(home, sizeof home, "%s/fresh", lmq_test_dir);
    ck_assert_int_eq(mkdir(home, 0700), 0);
    snprintf(henv, sizeof henv, "HOME=%s", home);
    const char *fresh[] = {"LMQ_HOME", "XDG_DATA_HOME", henv, NULL};
    run_full(&r, 0, 0, fresh,
             (const char *const[]){"create-queue", "--queue-name", "q",
                                   NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    static const char *const made[] = {"/.local", "/.local/share",
                                       "/.local/share/lmq"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(share, sizeof share, "%s%s", home, made[i]);
        ck_assert_int_eq(stat(share, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_int_eq(st.st_mode & 07777, 0700);
    }
    /* A relative XDG_DATA_HOME is ignored (XDG base directory rules). */
    const char *rel[] = {"LMQ_HOME", "XDG_DATA_HOME=rel/data", henv, NULL};
    run_full(&r, 0, 0, rel,
             (const char *const[]){"get-queue-url", "--queue-name", "q",
                                   NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    /* An absolute one is used; read-only, it is not created. */
    snprintf(xdg, sizeof xdg, "%s/xdg", lmq_test_dir);
    snprintf(xenv, sizeof xenv, "XDG_DATA_HOME=%s", xdg);
    snprintf(want, sizeof want, "%s/lmq (the default home)", xdg);
    const char *abs_[] = {"LMQ_HOME", xenv, henv, NULL};
    run_full(&r, 0, 0, abs_, (const char *const[]){"list-queues", NULL});
    ck_home_error(&r, 253, want, "LMQ_HOME=DIR");
    ck_assert(!exists(xdg));
    run_free(&r);
    /* HOME=/ (containers' users without a home): /.local/share/lmq. */
    const char *slash[] = {"LMQ_HOME", "XDG_DATA_HOME", "HOME=/", NULL};
    run_full(&r, 0, 0, slash, (const char *const[]){"list-queues", NULL});
    ck_assert_msg(r.status == 253 || r.status == 0, "%d %s", r.status,
                  r.err);
    if (r.status == 253)
        ck_home_error(&r, 253, "/.local/share/lmq (the default home)",
                      "LMQ_HOME=DIR");
    run_free(&r);
}
END_TEST

START_TEST(cannot_open_errors_say_what_to_do)
{
    char file[300], below[320], arg[360], home[300], ro[300], rohome[320];
    run r = {0};
    /* A file where the home should be. */
    snprintf(file, sizeof file, "%s/afile", lmq_test_dir);
    write_file("afile", "x", 1, file, sizeof file);
    snprintf(arg, sizeof arg, "--home=%s", file);
    run_argv(&r, 0, (const char *const[]){arg, "create-queue",
                                          "--queue-name", "q", NULL});
    ck_assert_int_ne(r.status, 0);
    ck_home_error(&r, r.status, file, "--home DIR or LMQ_HOME=DIR");
    run_free(&r);
    /* A file where a parent should be: nothing can be created there. */
    snprintf(below, sizeof below, "%s/home", file);
    snprintf(arg, sizeof arg, "--home=%s", below);
    run_argv(&r, 0, (const char *const[]){arg, "create-queue",
                                          "--queue-name", "q", NULL});
    ck_home_error(&r, 255, below, "this user may create and write");
    run_free(&r);
    /* Permissions: another user (nobody) may not enter a private home, nor
     * create one where it may not write. */
    ck_assert_int_eq(chmod(lmq_test_dir, 0755), 0);
    json_decref(RUN_JSON("create-queue", "--queue-name", "q"));
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    snprintf(arg, sizeof arg, "--home=%s", home);
    run_full(&r, 0, 65534, NULL,
             (const char *const[]){arg, "list-queues", NULL});
    ck_home_error(&r, 253, home, "fix the permissions");
    ck_assert_ptr_nonnull(strstr(r.err, "permission denied"));
    run_free(&r);
    snprintf(ro, sizeof ro, "%s/rootonly", lmq_test_dir);
    ck_assert_int_eq(mkdir(ro, 0755), 0);
    snprintf(rohome, sizeof rohome, "%s/home", ro);
    snprintf(arg, sizeof arg, "--home=%s", rohome);
    run_full(&r, 0, 65534, NULL,
             (const char *const[]){arg, "create-queue", "--queue-name", "q",
                                   NULL});
    ck_home_error(&r, 253, rohome, "fix the permissions");
    ck_assert(!exists(rohome));
    run_free(&r);
    ck_assert_int_eq(chmod(lmq_test_dir, 0700), 0);
}
END_TEST

START_TEST(region_and_account_belong_to_the_home)
{
    run r = {0};
    json_t *doc = RUN_JSON("--region", "eu-west-1", "--account",
                           "123456789012", "create-queue", "--queue-name",
                           "q");
    ck_assert_str_eq(jstr(doc, "QueueUrl"),
                     "http://127.0.0.1:9324/123456789012/q");
    json_decref(doc);
    /* Later runs take the home's without being told. */
    doc = RUN_JSON("get-queue-attributes", "--queue-url", "q",
                   "--attribute-names", "QueueArn");
    ck_assert_str_eq(jstr(json_object_get(doc, "Attributes"), "QueueArn"),
                     "arn:aws:sqs:eu-west-1:123456789012:q");
    json_decref(doc);
    /* One that disagrees is refused, reading or writing, and changes
     * nothing. */
    RUN(&r, "--region", "us-east-1", "get-queue-url", "--queue-name", "q");
    ck_home_error(&r, 253, "/home", "--region");
    ck_assert_ptr_nonnull(strstr(r.err, "region us-east-1 disagrees with "
                                        "the home's region eu-west-1"));
    run_free(&r);
    RUN(&r, "--account", "000000000000", "send-message", "--queue-url", "q",
        "--message-body", "x");
    ck_home_error(&r, 253, "/home", "--account");
    run_free(&r);
    doc = RUN_JSON("--region", "eu-west-1", "get-queue-attributes",
                   "--queue-url", "q", "--attribute-names",
                   "ApproximateNumberOfMessages");
    ck_assert_str_eq(jstr(json_object_get(doc, "Attributes"),
                          "ApproximateNumberOfMessages"),
                     "0");
    json_decref(doc);
    RUN(&r, "--region", "EU_1", "list-queues");
    ck_assert_int_eq(r.status, 252);
    run_free(&r);
    RUN(&r, "--account", "12", "list-queues");
    ck_assert_int_eq(r.status, 252);
    run_free(&r);
}
END_TEST

/* The bug of issue 23: a library process with another region used to
 * write a RedrivePolicy naming its own region, which the CLI (us-east-1)
 * could not resolve, and the poison message never reached its DLQ. */
START_TEST(library_process_cannot_split_the_region)
{
    char home[300];
    run r = {0};
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    json_decref(RUN_JSON("create-queue", "--queue-name", "jobs"));
    json_decref(RUN_JSON("create-queue", "--queue-name", "dlq"));
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lmq_env_opts o;
        lmq_env *env = NULL;
        lmq_env_opts_init(&o);
        o.durability = LMQ_DURABILITY_NONE;
        o.region = "eu-west-1";
        if (lmq_env_open(home, &o, &env) != LMQ_EINVAL || env)
            _exit(10);
        if (!strstr(lmq_errmsg(), "disagrees"))
            _exit(11);
        o.region = NULL; /* the home's */
        if (lmq_env_open(home, &o, &env) != 0)
            _exit(12);
        const char *region, *account;
        char policy[256];
        if (lmq_env_identity(env, &region, &account) != 0 ||
            strcmp(region, "us-east-1") != 0)
            _exit(13);
        snprintf(policy, sizeof policy,
                 "{\"deadLetterTargetArn\":\"arn:aws:sqs:%s:%s:dlq\","
                 "\"maxReceiveCount\":\"1\"}",
                 region, account);
        lmq_map *m = lmq_map_new();
        lmq_queue *q = NULL;
        lmq_send_entry e;
        lmq_send_result res;
        lmq_send_entry_init(&e);
        e.body = "poison";
        e.body_len = SIZE_MAX;
        if (!m || lmq_map_set(m, "RedrivePolicy", policy) != 0 ||
            lmq_queue_set_attributes(env, "jobs", m) != 0 ||
            lmq_queue_open(env, "jobs", &q) != 0 || lmq_send(q, &e, &res))
            _exit(14);
        lmq_map_free(m);
        lmq_queue_close(q);
        lmq_env_close(env);
        _exit(0);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %d",
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    /* The CLI's receives: the second one moves the poison message. */
    json_decref(RUN_JSON("receive-message", "--queue-url", "jobs",
                         "--visibility-timeout", "0"));
    RUN(&r, "receive-message", "--queue-url", "jobs");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "");
    run_free(&r);
    json_t *doc = RUN_JSON("get-queue-attributes", "--queue-url", "dlq",
                           "--attribute-names",
                           "ApproximateNumberOfMessages");
    ck_assert_str_eq(jstr(json_object_get(doc, "Attributes"),
                          "ApproximateNumberOfMessages"),
                     "1");
    json_decref(doc);
}
END_TEST

/* SIGINT: AWS CLI's KeyboardInterrupt, a newline on stdout and 130. */
START_TEST(sigint_exits_130)
{
    char home[300], outp[300];
    json_decref(RUN_JSON("create-queue", "--queue-name", "q"));
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    snprintf(outp, sizeof outp, "%s/int.out", lmq_test_dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fo < 0)
            _exit(120);
        dup2(fo, 1);
        execl(LMQ_BIN, LMQ_BIN, "--home", home, "--durability", "none",
              "receive-message", "--queue-url", "q", "--wait-time-seconds",
              "20", (char *)NULL);
        _exit(121);
    }
    /* Generous: the receive is waiting well before 2 s, and a SIGINT
     * that comes earlier must give the same result. */
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL);
    ck_assert_int_eq(kill(pid, SIGINT), 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status %d", st);
    char *out = slurp(outp);
    ck_assert_str_eq(out, "\n");
    free(out);
}
END_TEST

/* ---- lmq-only commands: --output and --query (issue 23) ----------------- */

/* A YAML document (libyaml's parser) as JSON with every scalar a string,
 * to compare with yaml_scalars() of the JSON output. */
static json_t *
yaml_node(yaml_parser_t *p, yaml_event_t *ev)
{
    yaml_event_t e;
    json_t *v = NULL;
    if (ev->type == YAML_SCALAR_EVENT)
        return json_stringn((const char *)ev->data.scalar.value,
                            ev->data.scalar.length);
    if (ev->type == YAML_SEQUENCE_START_EVENT) {
        v = json_array();
        for (;;) {
            ck_assert(yaml_parser_parse(p, &e));
            if (e.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&e);
                return v;
            }
            json_array_append_new(v, yaml_node(p, &e));
            yaml_event_delete(&e);
        }
    }
    ck_assert_int_eq(ev->type, YAML_MAPPING_START_EVENT);
    v = json_object();
    for (;;) {
        json_t *k;
        ck_assert(yaml_parser_parse(p, &e));
        if (e.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&e);
            return v;
        }
        k = yaml_node(p, &e);
        yaml_event_delete(&e);
        ck_assert(yaml_parser_parse(p, &e));
        json_object_set_new(v, json_string_value(k), yaml_node(p, &e));
        yaml_event_delete(&e);
        json_decref(k);
    }
}

static json_t *
yaml_parse(const char *text)
{
    yaml_parser_t p;
    yaml_event_t e;
    json_t *doc = NULL;
    ck_assert(yaml_parser_initialize(&p));
    yaml_parser_set_input_string(&p, (const unsigned char *)text,
                                 strlen(text));
    for (;;) {
        ck_assert_msg(yaml_parser_parse(&p, &e), "not YAML: %s", text);
        if (e.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&e);
            break;
        }
        if (e.type == YAML_SCALAR_EVENT ||
            e.type == YAML_SEQUENCE_START_EVENT ||
            e.type == YAML_MAPPING_START_EVENT) {
            ck_assert_msg(doc == NULL, "two YAML documents");
            doc = yaml_node(&p, &e);
        }
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    ck_assert_ptr_nonnull(doc);
    return doc;
}

/* doc with each scalar replaced by the text YAML prints for it. */
static json_t *
yaml_scalars(json_t *v)
{
    json_t *out, *e;
    const char *k;
    size_t i;
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        out = json_object();
        json_object_foreach(v, k, e)
            json_object_set_new(out, k, yaml_scalars(e));
        return out;
    case JSON_ARRAY:
        out = json_array();
        json_array_foreach(v, i, e)
            json_array_append_new(out, yaml_scalars(e));
        return out;
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        return json_string(buf);
    case JSON_TRUE:
        return json_string("true");
    case JSON_FALSE:
        return json_string("false");
    case JSON_NULL:
        return json_string("null");
    case JSON_REAL: /* the values here are whole numbers: Python's "5.0" */
        snprintf(buf, sizeof buf, "%.1f", json_real_value(v));
        return json_string(buf);
    default:
        return json_incref(v);
    }
}

/* `stats` prints its document in every output format, and --query picks
 * from it, like a response of the AWS CLI; without them, its own table. */
START_TEST(stats_output_formats_and_query)
{
    json_t *doc, *y, *want;
    run r = {0};
    char *a = mkqueue("alpha"), *b = mkqueue("beta");

    send_body(a, "one");
    send_body(a, "two");
    send_body(b, "three");
    /* Without the ages, which may move between two runs. */
#define STATS_Q                                                              \
    "{M: MapMode, Q: Queues[].{N: QueueName, V: "                            \
    "ApproximateNumberOfMessages, S: Metrics.NumberOfMessagesSent, "         \
    "Z: Metrics.SentMessageSize}}"
    doc = RUN_JSON("stats", "--output", "json", "--query", STATS_Q);

    RUN(&r, "stats", "--output", "yaml", "--query", STATS_Q);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    y = yaml_parse(r.out);
    want = yaml_scalars(doc);
    ck_assert_msg(json_equal(y, want), "yaml differs from json:\n%s",
                  r.out);
    json_decref(y);
    json_decref(want);
    run_free(&r);

    RUN(&r, "stats", "--output", "yaml-stream", "--query", STATS_Q);
    ck_assert_int_eq(r.status, 0);
    y = yaml_parse(r.out);
    ck_assert_uint_eq(json_array_size(y), 1);
    want = yaml_scalars(doc);
    ck_assert(json_equal(json_array_get(y, 0), want));
    json_decref(y);
    json_decref(want);
    run_free(&r);

    RUN(&r, "stats", "--query", "Queues[].QueueName", "--output", "text");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "alpha\tbeta\n");
    run_free(&r);

    RUN(&r, "stats", "--query",
        "Queues[?QueueName=='alpha'].ApproximateNumberOfMessages | [0]");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "2\n");
    run_free(&r);

    /* --output table: the AWS CLI's table of the document, titled Stats
     * (the bytes awscli.formatter.TableFormatter prints for it). */
    RUN(&r, "stats", "--output", "table", "--query",
        "Queues[].{Name: QueueName, Visible: ApproximateNumberOfMessages}");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "----------------------\n"
                            "|        Stats       |\n"
                            "+--------+-----------+\n"
                            "|  Name  |  Visible  |\n"
                            "+--------+-----------+\n"
                            "|  alpha |  2        |\n"
                            "|  beta  |  1        |\n"
                            "+--------+-----------+\n");
    run_free(&r);

    /* AWS_DEFAULT_OUTPUT counts as --output. */
    setenv("AWS_DEFAULT_OUTPUT", "text", 1);
    RUN(&r, "stats", "--query", "MapMode");
    unsetenv("AWS_DEFAULT_OUTPUT");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "writable\n");
    run_free(&r);

    /* --watch: each sample a response (yaml-stream: a list item each). */
    RUN(&r, "stats", "--watch", "--interval", "0.1", "--count", "2",
        "--output", "yaml-stream", "--query", "Queues[].QueueName");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "- - alpha\n  - beta\n- - alpha\n  - beta\n");
    run_free(&r);

    RUN(&r, "stats", "--output", "bogus");
    ck_assert_int_eq(r.status, 252);
    run_free(&r);
    json_decref(doc);
    free(a);
    free(b);
}
END_TEST

/* The other lmq-only commands print documents the same way. */
START_TEST(lmq_only_commands_honour_output_and_query)
{
    run r = {0};
    json_t *y;
    char *q = mkqueue("peeked");

    send_body(q, "hello");
    RUN(&r, "peek", "--queue-url", "peeked", "--output", "yaml", "--query",
        "Messages[0].{Body: Body, Md5: MD5OfBody}");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "Body: hello\nMd5: " MD5_HELLO "\n");
    run_free(&r);

    RUN(&r, "clock", "enable");
    ck_assert_int_eq(r.status, 0);
    run_free(&r);
    RUN(&r, "clock", "show", "--output", "yaml");
    ck_assert_int_eq(r.status, 0);
    y = yaml_parse(r.out);
    ck_assert(json_is_object(y));
    json_decref(y);
    run_free(&r);

    RUN(&r, "reset", "--yes", "--output", "text");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "1\n");
    run_free(&r);

    /* demo: the narration gives way to a summary document. */
    RUN(&r, "demo", "--output", "json", "--query",
        "[Sent, Received, Lost, Duplicated, DeadLetterRoundTrip, Ok]");
    ck_assert_msg(r.status == 0, "demo exit %d: %s", r.status, r.err);
    ck_assert_str_eq(r.out, "[\n    30,\n    30,\n    0,\n    0,\n    true,"
                            "\n    true\n]\n");
    run_free(&r);
    free(q);
}
END_TEST

/* Run `bash -c script` or `zsh -f -c script` with the completion script
 * of lmq (LMQ_SCRIPT) and the lmq binary (LMQ) in its environment; its
 * stdout in *out. */
static void
run_shell(const char *shell, const char *script, char **out)
{
    char outp[300], path[300];
    pid_t pid;
    int st;

    snprintf(outp, sizeof outp, "%s/shell.out", lmq_test_dir);
    snprintf(path, sizeof path, "%s/completion.%s", lmq_test_dir, shell);
    {
        run r = {0};
        RUN(&r, "completion", shell);
        ck_assert_int_eq(r.status, 0);
        char ignored[300];
        write_file(strchr(path, '/') ? strrchr(path, '/') + 1 : path, r.out,
                   strlen(r.out), ignored, sizeof ignored);
        run_free(&r);
    }
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fo < 0)
            _exit(120);
        dup2(fo, 1);
        setenv("LMQ", LMQ_BIN, 1);
        setenv("LMQ_SCRIPT", path, 1);
        setenv("ZDOTDIR", lmq_test_dir, 1);
        unsetenv("LMQ_HOME");
        if (strcmp(shell, "zsh") == 0)
            execl("/usr/bin/zsh", "zsh", "-f", "-c", script, (char *)NULL);
        else
            execl("/bin/bash", "bash", "--norc", "--noprofile", "-c", script,
                  (char *)NULL);
        _exit(121);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "%s (install it: apt-get install %s) failed: %d", shell,
                  shell, st);
    *out = slurp(outp);
}

/* The bash script, sourced in a real bash, completes subcommands, flags,
 * choices, and queue names and URLs from the home named on the line
 * (split at ':' as bash splits), and never creates a home. */
START_TEST(bash_completion_script)
{
    char *out, script[4096], missing[300];
    struct stat st;
    char *a = mkqueue("q-alpha"), *b = mkqueue("q-beta");

    snprintf(missing, sizeof missing, "%s/nohome", lmq_test_dir);
    snprintf(script, sizeof script,
             "source \"$LMQ_SCRIPT\"\n"
             "t() { COMP_LINE=$1; COMP_POINT=${#1}; shift; "
             "COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); _lmq; "
             "echo \"${COMPREPLY[*]}\"; }\n"
             "H=%s/home\n"
             "t \"$LMQ purge\" \"$LMQ\" purge\n"
             "t \"$LMQ list-queue\" \"$LMQ\" list-queue\n"
             "t \"$LMQ send-message --queue-u\" \"$LMQ\" send-message "
             "--queue-u\n"
             "t \"$LMQ --output yaml\" \"$LMQ\" --output yaml\n"
             "t \"$LMQ --home $H get-queue-url --queue-name q-\" \"$LMQ\" "
             "--home \"$H\" get-queue-url --queue-name q-\n"
             "t \"$LMQ --home $H purge-queue --queue-url "
             "http://127.0.0.1:9324/000000000000/q-a\" \"$LMQ\" --home "
             "\"$H\" purge-queue --queue-url http : //127.0.0.1 : "
             "9324/000000000000/q-a\n"
             "t \"$LMQ --home %s purge-queue --queue-url \" \"$LMQ\" --home "
             "%s purge-queue --queue-url ''\n"
             "t \"$LMQ clock a\" \"$LMQ\" clock a\n"
             "t \"$LMQ completion \" \"$LMQ\" completion ''\n",
             lmq_test_dir, missing, missing);
    run_shell("bash", script, &out);
    ck_assert_str_eq(out, "purge-queue\n"
                          "list-queues list-queue-tags\n"
                          "--queue-url\n"
                          "yaml yaml-stream\n"
                          "q-alpha q-beta\n"
                          "9324/000000000000/q-alpha\n"
                          "\n"
                          "advance\n"
                          "bash zsh\n");
    ck_assert_int_ne(stat(missing, &st), 0);
    free(out);
    free(a);
    free(b);
}
END_TEST

/* The zsh script, sourced in a real zsh after compinit, hands the same
 * candidates to compadd (stubbed to print them). */
START_TEST(zsh_completion_script)
{
    char *out, script[4096];
    char *a = mkqueue("q-alpha");

    snprintf(script, sizeof script,
             "autoload -U compinit; compinit -u -d %s/zcompdump\n"
             "source \"$LMQ_SCRIPT\"\n"
             "compadd() { print -r -- \"${@:3}\"; }\n"
             "_files() { print files; }\n"
             "words=($LMQ --home %s/home purge-queue --queue-url q-); "
             "CURRENT=6; _lmq\n"
             "words=($LMQ get-queue-attributes --queue-url x --attr); "
             "CURRENT=5; _lmq\n"
             "words=($LMQ --home ''); CURRENT=3; _lmq\n",
             lmq_test_dir, lmq_test_dir);
    run_shell("zsh", script, &out);
    ck_assert_str_eq(out, "q-alpha\n--attribute-names\nfiles\n");
    free(out);
    free(a);
}
END_TEST

Suite *
lmq_suite_cli(void)
{
    Suite *s = suite_create("cli");
    TCase *tc;

    tc = tcase_create("queues");
    tcase_add_checked_fixture(tc, lmq_test_tmp_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, create_prints_queue_url_like_aws);
    tcase_add_test(tc, create_conflict_and_delete);
    tcase_add_test(tc, list_queues_prefix_and_pages);
    tcase_add_test(tc, queue_attributes_shorthand_and_json);
    tcase_add_test(tc, tags_round_trip);
    tcase_add_test(tc, sealed_queue_with_key_file);
    tcase_add_test(tc, sealed_queue_with_passphrase_and_key_process);
    tcase_add_test(tc, compact_command);
    suite_add_tcase(s, tc);

    tc = tcase_create("messages");
    tcase_add_checked_fixture(tc, lmq_test_tmp_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, send_receive_delete_shapes);
    tcase_add_test(tc, receive_system_attributes);
    tcase_add_test(tc, message_attributes_shorthand_json_binary);
    tcase_add_test(tc, body_from_file_and_fileb);
    tcase_add_test(tc, send_batch_shorthand_and_json);
    tcase_add_test(tc, delete_and_visibility_batches);
    tcase_add_test(tc, change_visibility_and_purge);
    tcase_add_test(tc, receive_json_layout_is_byte_exact);
    tcase_add_test(tc, text_output_of_receive);
    tcase_add_test(tc, text_output_of_batch_failures);
    tcase_add_test(tc, table_output_is_the_aws_clis);
    tcase_add_test(tc, table_output_of_receive);
    tcase_add_test(tc, query_selects_like_aws);
    tcase_add_test(tc, query_errors_change_nothing);
    tcase_add_test(tc, query_depth_is_bounded);
    tcase_add_test(tc, negative_seconds_are_refused);
    tcase_add_test(tc, fifo_sequence_numbers_and_group_attributes);
    tcase_add_test(tc, fifo_dedup_and_receive_attempt_id);
    suite_add_tcase(s, tc);

    tc = tcase_create("dead_letter");
    tcase_add_checked_fixture(tc, lmq_test_tmp_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, dlq_move_and_redrive_round_trip);
    tcase_add_test(tc, dlq_move_task_errors);
    tcase_add_test(tc, dlq_no_wait_task_is_cancelled);
    tcase_add_test(tc, dlq_allow_policy_denial_creates_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, lmq_test_tmp_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, service_errors_like_aws);
    tcase_add_test(tc, usage_errors_exit_252);
    tcase_add_test(tc, help_version_and_home_from_env);
    suite_add_tcase(s, tc);

    tc = tcase_create("homes");
    tcase_add_checked_fixture(tc, lmq_test_tmp_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, read_only_commands_never_create_a_home);
    tcase_add_test(tc, default_home_follows_xdg);
    tcase_add_test(tc, cannot_open_errors_say_what_to_do);
    tcase_add_test(tc, region_and_account_belong_to_the_home);
    tcase_add_test(tc, library_process_cannot_split_the_region);
    tcase_add_test(tc, sigint_exits_130);
    suite_add_tcase(s, tc);

    tc = tcase_create("stats_demo");
    tcase_add_checked_fixture(tc, lmq_test_tmp_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stats_counts_every_queue);
    tcase_add_test(tc, map_mode_option_applies_at_creation);
    tcase_add_test(tc, demo_loses_nothing);
    tcase_add_test(tc, stats_output_formats_and_query);
    tcase_add_test(tc, lmq_only_commands_honour_output_and_query);
    suite_add_tcase(s, tc);

    tc = tcase_create("completion");
    tcase_add_checked_fixture(tc, lmq_test_tmp_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bash_completion_script);
    tcase_add_test(tc, zsh_completion_script);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_cli());
}
