/*
 * check_bridge_remote.c: the bridge's client half (issue 26): the fault
 * table (wire/sqs_classify.c), signed calls to a real lmqd running with
 * --auth verify (bridge/remote.c), connection failures, the clock-skew
 * correction, and the credentials chain (bridge/creds.c).
 *
 * lmqd runs on an ephemeral home on 127.0.0.1, started with check_fork() in
 * the test process and killed by pid in the teardown. Every test points
 * HOME, AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE into its temp dir
 * and clears the AWS_* variables, so the user's own files never count.
 */
#include "lmq_test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "creds.h"
#include "remote.h"

#define READY_MS 15000

static struct {
    pid_t pid;
    int out;
    char base[128];
} D = {-1, -1, ""};

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A loopback port nobody listens on (bound, then closed). */
static int
free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, len), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void
write_file(const char *name, const char *text, mode_t mode, char *path,
           size_t cap)
{
    snprintf(path, cap, "%s/%s", lmq_test_dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* Start lmqd --auth verify with the key pairs of creds_text. */
static void
lmqd_start(const char *creds_text)
{
    char cpath[300], listen[64], line[256];
    int pipefd[2];
    write_file("lmqd.creds", creds_text, 0600, cpath, sizeof cpath);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", free_port());
    const char *argv[] = {LMQD_BIN, "--ephemeral", "--quiet", "--listen",
                          listen,   "--auth",      "verify",  "--credentials",
                          cpath,    NULL};
    ck_assert_msg(access(LMQD_BIN, X_OK) == 0, "lmqd is not built: %s",
                  LMQD_BIN);
    ck_assert_int_eq(pipe(pipefd), 0);
    D.pid = check_fork();
    ck_assert_int_ge(D.pid, 0);
    if (D.pid == 0) {
        char log[300];
        snprintf(log, sizeof log, "%s/lmqd.log", lmq_test_dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(pipefd[1], STDOUT_FILENO);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(LMQD_BIN, (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    D.out = pipefd[0];
    size_t got = 0;
    int64_t deadline = mono_ms() + READY_MS;
    line[0] = '\0';
    while (got < sizeof line - 1 && !memchr(line, '\n', got)) {
        struct pollfd p = {D.out, POLLIN, 0};
        int left = (int)(deadline - mono_ms());
        ck_assert_msg(left > 0, "lmqd printed no ready line");
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t r = read(D.out, line + got, sizeof line - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_msg(r > 0, "lmqd exited before its ready line");
        got += (size_t)r;
        line[got] = '\0';
    }
    line[strcspn(line, "\n")] = '\0';
    ck_assert_msg(strncmp(line, "lmqd ready http://", 18) == 0,
                  "ready line \"%s\"", line);
    snprintf(D.base, sizeof D.base, "%.120s", line + 11);
}

static void
lmqd_kill(void)
{
    if (D.pid > 0) {
        kill(D.pid, SIGTERM);
        int st;
        waitpid(D.pid, &st, 0);
    }
    D.pid = -1;
    if (D.out >= 0)
        close(D.out);
    D.out = -1;
}

/* Checked fixture: a temp dir, and an AWS environment that is all ours. */
static void
setup(void)
{
    char p[300];
    lmq_test_tmp_setup();
    setenv("HOME", lmq_test_dir, 1);
    snprintf(p, sizeof p, "%s/credentials", lmq_test_dir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
    snprintf(p, sizeof p, "%s/config", lmq_test_dir);
    setenv("AWS_CONFIG_FILE", p, 1);
    const char *clear[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                           "AWS_SESSION_TOKEN", "AWS_PROFILE",
                           "AWS_REGION",        "AWS_DEFAULT_REGION"};
    for (size_t i = 0; i < sizeof clear / sizeof clear[0]; i++)
        unsetenv(clear[i]);
    /* Loopback never goes through a proxy of the test machine. */
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
}

static void
teardown(void)
{
    lmqd_kill();
    lmq_test_tmp_teardown();
}

/* ---- the fault table -------------------------------------------------- */

START_TEST(test_classify_table)
{
    static const struct {
        int status;
        const char *code;
        int sender;
        lmq_fault want;
    } cases[] = {
        {500, "InternalError", 0, LMQ_FAULT_TRANSIENT},
        {500, "InternalFailure", 0, LMQ_FAULT_TRANSIENT},
        {503, "ServiceUnavailable", 0, LMQ_FAULT_TRANSIENT},
        {502, NULL, 0, LMQ_FAULT_TRANSIENT},
        {504, "SomethingNew", 0, LMQ_FAULT_TRANSIENT},
        {500, "InvalidParameterValue", 0, LMQ_FAULT_TRANSIENT},
        {408, NULL, 1, LMQ_FAULT_TRANSIENT},
        {400, "RequestTimeout", 1, LMQ_FAULT_TRANSIENT},
        {400, "ThrottlingException", 1, LMQ_FAULT_THROTTLED},
        {403, "RequestThrottled", 1, LMQ_FAULT_THROTTLED},
        {400, "KMS.ThrottlingException", 1, LMQ_FAULT_THROTTLED},
        {400, "com.amazonaws.sqs#KmsThrottled", 1, LMQ_FAULT_THROTTLED},
        {400, "Throttling", 1, LMQ_FAULT_THROTTLED},
        {400, "TooManyRequestsException", 1, LMQ_FAULT_THROTTLED},
        {429, NULL, 1, LMQ_FAULT_THROTTLED},
        {403, "OverLimit", 1, LMQ_FAULT_THROTTLED},
        {400, "AWS.SimpleQueueService.NonExistentQueue", 1, LMQ_FAULT_CONFIG},
        {400, "com.amazonaws.sqs#QueueDoesNotExist", 1, LMQ_FAULT_CONFIG},
        {400, "QueueDoesNotExist:http://internal.amazon.com/", 1,
         LMQ_FAULT_CONFIG},
        {403, "AccessDenied", 1, LMQ_FAULT_CONFIG},
        {400, "AccessDeniedException", 1, LMQ_FAULT_CONFIG},
        {403, "InvalidClientTokenId", 1, LMQ_FAULT_CONFIG},
        {400, "UnrecognizedClientException", 1, LMQ_FAULT_CONFIG},
        {403, "SignatureDoesNotMatch", 1, LMQ_FAULT_CONFIG},
        {403, "ExpiredToken", 1, LMQ_FAULT_CONFIG},
        {403, "InvalidSecurity", 1, LMQ_FAULT_CONFIG},
        {400, "KMS.DisabledException", 1, LMQ_FAULT_CONFIG},
        {400, "KMS.NotFoundException", 1, LMQ_FAULT_CONFIG},
        {400, "KMS.AccessDeniedException", 1, LMQ_FAULT_CONFIG},
        {400, "KmsDisabled", 1, LMQ_FAULT_CONFIG},
        {400, "RequestExpired", 1, LMQ_FAULT_CONFIG},
        {400, "AWS.SimpleQueueService.UnsupportedOperation", 1,
         LMQ_FAULT_CONFIG},
        {403, NULL, 1, LMQ_FAULT_CONFIG},
        {404, NULL, 1, LMQ_FAULT_CONFIG},
        {301, NULL, 1, LMQ_FAULT_CONFIG},
        {400, "InvalidMessageContents", 1, LMQ_FAULT_MESSAGE},
        {400, "InvalidParameterValue", 1, LMQ_FAULT_CLIENT},
        {400, "AWS.SimpleQueueService.BatchRequestTooLong", 1,
         LMQ_FAULT_CLIENT},
        {400, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 1,
         LMQ_FAULT_CLIENT},
        {400, "MissingParameter", 1, LMQ_FAULT_CLIENT},
        {400, "SomethingNew", 1, LMQ_FAULT_CLIENT},
        {404, "ReceiptHandleIsInvalid", 1, LMQ_FAULT_CLIENT},
        {200, NULL, 0, LMQ_FAULT_NONE},
        /* SendMessageBatch Failed entries: status 0. */
        {0, "InvalidParameterValue", 1, LMQ_FAULT_MESSAGE},
        {0, "InvalidMessageContents", 1, LMQ_FAULT_MESSAGE},
        {0, "InternalError", 0, LMQ_FAULT_TRANSIENT},
        {0, "SomethingNew", 0, LMQ_FAULT_TRANSIENT},
        {0, "SomethingNew", 1, LMQ_FAULT_CLIENT},
        {0, "KMS.ThrottlingException", 1, LMQ_FAULT_THROTTLED},
        {0, "AccessDenied", 1, LMQ_FAULT_CONFIG},
        {0, "", 1, LMQ_FAULT_CLIENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lmq_fault f =
            lmq__sqs_classify(cases[i].status, cases[i].code, cases[i].sender);
        ck_assert_msg(f == cases[i].want, "%d %s sender=%d: fault %d, want %d",
                      cases[i].status, cases[i].code ? cases[i].code : "NULL",
                      cases[i].sender, (int)f, (int)cases[i].want);
    }
}
END_TEST

/* ---- calls to lmqd ------------------------------------------------------ */

static lmq_creds *
explicit_creds(const char *akid, const char *secret, const char *token)
{
    lmq_creds_opts o = {NULL, akid, secret, token};
    lmq_creds *c = NULL;
    ck_ok(lmq__creds_open(&o, &c));
    ck_assert_str_eq(lmq__creds_source(c), "explicit");
    return c;
}

static lmq_remote *
remote_to(const char *endpoint, lmq_creds *c)
{
    lmq_remote_opts o;
    lmq__remote_opts_init(&o);
    ck_assert_int_eq(o.verify_tls, 1);
    o.endpoint = endpoint;
    o.region = "us-east-1";
    o.creds = c;
    o.timeout_ms = 5000;
    o.connect_timeout_ms = 2000;
    lmq_remote *r = NULL;
    ck_ok(lmq__remote_open(&o, &r));
    return r;
}

/* Call and expect success: the output tree. */
static json_t *
call_ok(lmq_remote *r, const char *action, json_t *in)
{
    json_t *out = NULL;
    lmq_remote_error e;
    int rc = lmq__remote_call(r, action, in, &out, &e);
    ck_assert_msg(rc == 0, "%s: fault %d status %d %s: %s", action,
                  (int)e.fault, e.http_status, e.code, e.message);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(e.fault, LMQ_FAULT_NONE);
    json_decref(in);
    return out;
}

static const char *LMQD_KEYS = "AKIDBRIDGETEST01 bridge-secret-1\n"
                               "AKIDBRIDGETOKEN1 bridge-secret-2\n";

START_TEST(test_signed_calls)
{
    lmqd_start(LMQD_KEYS);
    lmq_creds *c = explicit_creds("AKIDBRIDGETEST01", "bridge-secret-1", NULL);
    lmq_remote *r = remote_to(D.base, c);

    json_t *o =
        call_ok(r, "CreateQueue", json_pack("{s:s}", "QueueName", "q1"));
    const char *url = json_string_value(json_object_get(o, "QueueUrl"));
    ck_assert_ptr_nonnull(url);
    char qurl[256];
    snprintf(qurl, sizeof qurl, "%s", url);
    json_decref(o);

    /* One good entry, one the remote refuses: a message fault. */
    o = call_ok(r, "SendMessageBatch",
                json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "QueueUrl", qurl,
                          "Entries", "Id", "good", "MessageBody",
                          "hello bridge", "Id", "bad", "MessageBody",
                          "nul \x01 char"));
    json_t *ok = json_object_get(o, "Successful");
    json_t *failed = json_object_get(o, "Failed");
    ck_assert_int_eq(json_array_size(ok), 1);
    ck_assert_int_eq(json_array_size(failed), 1);
    json_t *fe = json_array_get(failed, 0);
    ck_assert_str_eq(json_string_value(json_object_get(fe, "Id")), "bad");
    const char *fcode = json_string_value(json_object_get(fe, "Code"));
    ck_assert_ptr_nonnull(fcode);
    lmq_fault ff = lmq__sqs_classify(
        0, fcode, json_is_true(json_object_get(fe, "SenderFault")));
    ck_assert_msg(ff == LMQ_FAULT_MESSAGE, "entry code %s: fault %d", fcode,
                  (int)ff);
    json_decref(o);

    o = call_ok(r, "ReceiveMessage",
                json_pack("{s:s, s:i, s:i}", "QueueUrl", qurl,
                          "MaxNumberOfMessages", 10, "WaitTimeSeconds", 1));
    json_t *msgs = json_object_get(o, "Messages");
    ck_assert_int_eq(json_array_size(msgs), 1);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(msgs, 0), "Body")),
        "hello bridge");
    json_decref(o);

    /* An action without output: an empty object. */
    o = call_ok(r, "SetQueueAttributes",
                json_pack("{s:s, s:{s:s}}", "QueueUrl", qurl, "Attributes",
                          "VisibilityTimeout", "40"));
    ck_assert(json_is_object(o));
    json_decref(o);

    /* A missing queue: the route's configuration. */
    json_t *in = json_pack("{s:s}", "QueueName", "nope");
    json_t *out = (json_t *)1;
    lmq_remote_error e;
    ck_assert_int_eq(lmq__remote_call(r, "GetQueueUrl", in, &out, &e), -1);
    json_decref(in);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(e.fault, LMQ_FAULT_CONFIG);
    ck_assert_int_eq(e.http_status, 400);
    ck_assert_str_eq(e.code, "AWS.SimpleQueueService.NonExistentQueue");
    ck_assert_msg(strstr(e.message, "does not exist") != NULL, "message %s",
                  e.message);
    /* The clock was right: no skew learnt beyond the Date's second. */
    ck_assert_int_lt(llabs((long long)lmq__remote_skew_ms(r)), 5000);

    lmq__remote_close(r);
    lmq__creds_close(c);
}
END_TEST

START_TEST(test_wrong_secret)
{
    lmqd_start(LMQD_KEYS);
    lmq_creds *c = explicit_creds("AKIDBRIDGETEST01", "not-the-secret", NULL);
    lmq_remote *r = remote_to(D.base, c);
    json_t *in = json_pack("{s:s}", "QueueName", "q1");
    json_t *out = NULL;
    lmq_remote_error e;
    ck_assert_int_eq(lmq__remote_call(r, "CreateQueue", in, &out, &e), -1);
    json_decref(in);
    ck_assert_int_eq(e.fault, LMQ_FAULT_CONFIG);
    ck_assert_int_eq(e.http_status, 403);
    ck_assert_str_eq(e.code, "SignatureDoesNotMatch");
    lmq__remote_close(r);
    lmq__creds_close(c);

    /* An unknown key id. */
    c = explicit_creds("AKIDUNKNOWNKEY01", "bridge-secret-1", NULL);
    r = remote_to(D.base, c);
    in = json_pack("{s:s}", "QueueName", "q1");
    ck_assert_int_eq(lmq__remote_call(r, "CreateQueue", in, &out, &e), -1);
    json_decref(in);
    ck_assert_int_eq(e.fault, LMQ_FAULT_CONFIG);
    ck_assert_str_eq(e.code, "InvalidClientTokenId");
    lmq__remote_close(r);
    lmq__creds_close(c);
}
END_TEST

/* Temporary credentials: x-amz-security-token is sent and signed, and
 * lmqd's verifier accepts it among the SignedHeaders. */
START_TEST(test_session_token)
{
    lmqd_start(LMQD_KEYS);
    lmq_creds *c = explicit_creds("AKIDBRIDGETOKEN1", "bridge-secret-2",
                                  "FwoGZXIvYXdzEXAMPLETOKEN//+=");
    lmq_remote *r = remote_to(D.base, c);
    json_t *o = call_ok(r, "CreateQueue", json_pack("{s:s}", "QueueName", "t"));
    ck_assert_ptr_nonnull(json_object_get(o, "QueueUrl"));
    json_decref(o);
    o = call_ok(r, "ListQueues", json_object());
    ck_assert_int_eq(json_array_size(json_object_get(o, "QueueUrls")), 1);
    json_decref(o);
    lmq__remote_close(r);
    lmq__creds_close(c);
}
END_TEST

START_TEST(test_connection_refused)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", free_port());
    lmq_creds *c = explicit_creds("AKIDBRIDGETEST01", "bridge-secret-1", NULL);
    lmq_remote *r = remote_to(url, c);
    json_t *in = json_pack("{s:s}", "QueueName", "q1");
    json_t *out = NULL;
    lmq_remote_error e;
    int64_t t0 = mono_ms();
    ck_assert_int_eq(lmq__remote_call(r, "GetQueueUrl", in, &out, &e), -1);
    int64_t took = mono_ms() - t0;
    json_decref(in);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(e.fault, LMQ_FAULT_TRANSIENT);
    ck_assert_int_eq(e.http_status, 0);
    ck_assert_msg(e.code[0] != '\0', "no curl error name");
    ck_assert_msg(took < 2000, "refused after %lld ms", (long long)took);
    lmq__remote_close(r);

    /* A URL curl cannot use is configuration, found at open or call. */
    lmq_remote_opts o = {"gopher://127.0.0.1:1/", "us-east-1", c, 0, 0, 1, NULL};
    r = NULL;
    if (lmq__remote_open(&o, &r) == 0) {
        in = json_object();
        ck_assert_int_eq(lmq__remote_call(r, "ListQueues", in, &out, &e), -1);
        json_decref(in);
        ck_assert_int_eq(e.fault, LMQ_FAULT_CONFIG);
        lmq__remote_close(r);
    }
    /* A server that accepts the connection and never answers: the
     * request timeout, transient. */
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(lfd, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, alen), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    lmq_remote_opts so;
    lmq__remote_opts_init(&so);
    so.endpoint = url;
    so.region = "us-east-1";
    so.creds = c;
    so.timeout_ms = 300;
    ck_ok(lmq__remote_open(&so, &r));
    in = json_object();
    t0 = mono_ms();
    ck_assert_int_eq(lmq__remote_call(r, "ListQueues", in, &out, &e), -1);
    took = mono_ms() - t0;
    json_decref(in);
    ck_assert_int_eq(e.fault, LMQ_FAULT_TRANSIENT);
    ck_assert_int_eq(e.http_status, 0);
    ck_assert_msg(strstr(e.code, "Timeout") != NULL, "code %s", e.code);
    ck_assert_msg(took >= 250 && took < 2000, "timed out after %lld ms",
                  (long long)took);
    lmq__remote_close(r);
    close(lfd);

    lmq_remote_opts bad = {"", "us-east-1", c, 0, 0, 1, NULL};
    ck_lmq(lmq__remote_open(&bad, &r), LMQ_EINVAL);
    ck_assert_ptr_null(r);
    lmq__remote_close(NULL);
    lmq__creds_close(c);
}
END_TEST

/* A device clock an hour behind: lmqd answers RequestExpired, the remote
 * learns the skew from Date and the one retry succeeds. */
START_TEST(test_clock_skew)
{
    lmqd_start(LMQD_KEYS);
    lmq_creds *c = explicit_creds("AKIDBRIDGETEST01", "bridge-secret-1", NULL);
    lmq_remote *r = remote_to(D.base, c);
    lmq__remote_set_clock_offset_for_test(r, -3600 * 1000);
    ck_assert_int_eq(lmq__remote_skew_ms(r), 0);
    json_t *o = call_ok(r, "CreateQueue", json_pack("{s:s}", "QueueName", "s"));
    json_decref(o);
    int64_t skew = lmq__remote_skew_ms(r);
    ck_assert_msg(skew > 3595000 && skew < 3605000, "skew %lld",
                  (long long)skew);
    /* Later calls are dated right at once. */
    o = call_ok(r, "ListQueues", json_object());
    json_decref(o);
    ck_assert_int_eq(lmq__remote_skew_ms(r), skew);

    /* A clock an hour ahead, with a wrong secret: no endless retries, one
     * corrected attempt, then the real error. */
    lmq__remote_close(r);
    lmq__creds_close(c);
    c = explicit_creds("AKIDBRIDGETEST01", "wrong", NULL);
    r = remote_to(D.base, c);
    lmq__remote_set_clock_offset_for_test(r, 3600 * 1000);
    json_t *in = json_object();
    json_t *out = NULL;
    lmq_remote_error e;
    ck_assert_int_eq(lmq__remote_call(r, "ListQueues", in, &out, &e), -1);
    json_decref(in);
    ck_assert_str_eq(e.code, "SignatureDoesNotMatch");
    ck_assert_int_eq(e.fault, LMQ_FAULT_CONFIG);
    lmq__remote_close(r);
    lmq__creds_close(c);
}
END_TEST

/* ---- credentials ----------------------------------------------------------
 */

typedef struct keys {
    char akid[130], secret[256], token[2048];
} keys;

static keys
get_keys(lmq_creds *c)
{
    keys k;
    ck_ok(lmq__creds_get(c, k.akid, sizeof k.akid, k.secret, sizeof k.secret,
                         k.token, sizeof k.token));
    return k;
}

START_TEST(test_creds_env)
{
    lmq_creds *c = NULL;
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SECRETENV", 1);
    ck_ok(lmq__creds_open(NULL, &c));
    ck_assert_str_eq(lmq__creds_source(c), "environment");
    keys k = get_keys(c);
    ck_assert_str_eq(k.akid, "AKIDENV");
    ck_assert_str_eq(k.secret, "SECRETENV");
    ck_assert_str_eq(k.token, "");
    lmq__creds_close(c);

    setenv("AWS_SESSION_TOKEN", "TOKENENV", 1);
    ck_ok(lmq__creds_open(NULL, &c));
    k = get_keys(c);
    ck_assert_str_eq(k.token, "TOKENENV");
    /* A buffer too small is an error, not a truncated key. */
    char small[4];
    ck_lmq(lmq__creds_get(c, small, sizeof small, k.secret, sizeof k.secret,
                          NULL, 0),
           LMQ_EINVAL);
    lmq__creds_close(c);

    /* Half of a pair is an error, not a fall-through. */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    ck_lmq(lmq__creds_open(NULL, &c), LMQ_EINVAL);
    ck_assert_ptr_null(c);

    lmq_creds_opts half = {NULL, "AKID", NULL, NULL};
    ck_lmq(lmq__creds_open(&half, &c), LMQ_EINVAL);
    lmq__creds_close(NULL);
}
END_TEST

START_TEST(test_creds_profiles)
{
    char path[300];
    lmq_creds *c = NULL;
    write_file("credentials",
               "# shared credentials\n"
               "[default]\n"
               "aws_access_key_id = AKIDDEFAULT\n"
               "aws_secret_access_key = SECRETDEFAULT\n"
               "\n"
               "[p2]\n"
               "aws_access_key_id=AKIDP2\n"
               "aws_secret_access_key=SECRETP2\n"
               "aws_session_token = TOKENP2\n"
               "s3 =\n"
               "  max_concurrent_requests = 4\n",
               0600, path, sizeof path);
    write_file("config",
               "[default]\n"
               "region = us-west-2\n"
               "[profile p2]\n"
               "region = eu-central-1\n",
               0600, path, sizeof path);

    ck_ok(lmq__creds_open(NULL, &c));
    ck_assert_str_eq(lmq__creds_source(c), "profile default");
    keys k = get_keys(c);
    ck_assert_str_eq(k.akid, "AKIDDEFAULT");
    ck_assert_str_eq(k.secret, "SECRETDEFAULT");
    ck_assert_str_eq(k.token, "");
    lmq__creds_close(c);

    setenv("AWS_PROFILE", "p2", 1);
    ck_ok(lmq__creds_open(NULL, &c));
    ck_assert_str_eq(lmq__creds_source(c), "profile p2");
    k = get_keys(c);
    ck_assert_str_eq(k.akid, "AKIDP2");
    ck_assert_str_eq(k.secret, "SECRETP2");
    ck_assert_str_eq(k.token, "TOKENP2");
    lmq__creds_close(c);

    char *region = lmq__creds_region(NULL);
    ck_assert_str_eq(region, "eu-central-1");
    free(region);
    region = lmq__creds_region("default");
    ck_assert_str_eq(region, "us-west-2");
    free(region);
    setenv("AWS_REGION", "ap-south-1", 1);
    region = lmq__creds_region(NULL);
    ck_assert_str_eq(region, "ap-south-1");
    free(region);
    unsetenv("AWS_REGION");
    ck_assert_ptr_null(lmq__creds_region("nosuch"));

    /* The environment wins over AWS_PROFILE, not over a named profile. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SECRETENV", 1);
    ck_ok(lmq__creds_open(NULL, &c));
    ck_assert_str_eq(lmq__creds_source(c), "environment");
    lmq__creds_close(c);
    lmq_creds_opts named = {"default", NULL, NULL, NULL};
    ck_ok(lmq__creds_open(&named, &c));
    ck_assert_str_eq(get_keys(c).akid, "AKIDDEFAULT");
    lmq__creds_close(c);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");

    /* A profile that is nowhere. */
    setenv("AWS_PROFILE", "nosuch", 1);
    ck_lmq(lmq__creds_open(NULL, &c), LMQ_ENOTFOUND);
    ck_assert_ptr_null(c);

    /* A malformed line names its file and line. */
    unsetenv("AWS_PROFILE");
    write_file("credentials", "[default]\nthis is not ini\n", 0600, path,
               sizeof path);
    ck_lmq(lmq__creds_open(NULL, &c), LMQ_EINVAL);
    ck_assert_msg(strstr(lmq_errmsg(), "credentials:2") != NULL, "%s",
                  lmq_errmsg());
}
END_TEST

static int
count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

START_TEST(test_creds_process)
{
    char script[300], count[300], cfg[1200], path[300];
    lmq_creds *c = NULL;
    snprintf(count, sizeof count, "%s/runs", lmq_test_dir);
    /* Keys that expire in a minute: inside the 5-minute refresh window, so
     * every get runs the process again. */
    char text[1000];
    snprintf(text, sizeof text,
             "#!/bin/sh\n"
             "echo run >> '%s'\n"
             "exp=$(date -u -d \"+$1 seconds\" +%%Y-%%m-%%dT%%H:%%M:%%SZ)\n"
             "n=$(wc -l < '%s')\n"
             "printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC%%s\", "
             "\"SecretAccessKey\": \"SECRETPROC\", \"SessionToken\": "
             "\"TOKENPROC\", \"Expiration\": \"%%s\"}\\n' \"$n\" \"$exp\"\n",
             count, count);
    write_file("creds.sh", text, 0755, script, sizeof script);
    snprintf(cfg, sizeof cfg,
             "[profile p3]\n"
             "credential_process = %s 60\n"
             "region = eu-west-1\n"
             "[profile p4]\n"
             "credential_process = echo not json\n"
             "[profile p5]\n"
             "credential_process = echo '{\"Version\": 2, \"AccessKeyId\": "
             "\"A\", \"SecretAccessKey\": \"S\"}'\n"
             "[profile p6]\n"
             "credential_process = exit 3\n"
             "[profile p7]\n"
             "credential_process = %s 3600\n"
             "[profile p8]\n"
             "credential_process = echo '{\"Version\": 1, \"AccessKeyId\": "
             "\"A\", \"SecretAccessKey\": \"S\", \"Expiration\": "
             "\"yesterday\"}'\n",
             script, script);
    write_file("config", cfg, 0600, path, sizeof path);

    lmq_creds_opts p3 = {"p3", NULL, NULL, NULL};
    ck_ok(lmq__creds_open(&p3, &c));
    ck_assert_str_eq(lmq__creds_source(c), "credential_process");
    ck_assert_int_eq(count_lines(count), 1);
    keys k = get_keys(c);
    ck_assert_int_eq(count_lines(count), 2);
    ck_assert_str_eq(k.akid, "AKIDPROC2");
    ck_assert_str_eq(k.secret, "SECRETPROC");
    ck_assert_str_eq(k.token, "TOKENPROC");
    k = get_keys(c);
    ck_assert_int_eq(count_lines(count), 3);
    ck_assert_str_eq(k.akid, "AKIDPROC3");
    lmq__creds_close(c);
    char *region = lmq__creds_region("p3");
    ck_assert_str_eq(region, "eu-west-1");
    free(region);

    /* Keys good for an hour are not fetched again. */
    lmq_creds_opts p7 = {"p7", NULL, NULL, NULL};
    ck_ok(lmq__creds_open(&p7, &c));
    ck_assert_int_eq(count_lines(count), 4);
    k = get_keys(c);
    k = get_keys(c);
    ck_assert_int_eq(count_lines(count), 4);
    ck_assert_str_eq(k.akid, "AKIDPROC4");
    lmq__creds_close(c);

    /* Malformed output, a wrong Version, a bad Expiration: EINVAL; a
     * failing process: EIO. */
    lmq_creds_opts p4 = {"p4", NULL, NULL, NULL};
    ck_lmq(lmq__creds_open(&p4, &c), LMQ_EINVAL);
    ck_assert_ptr_null(c);
    lmq_creds_opts p5 = {"p5", NULL, NULL, NULL};
    ck_lmq(lmq__creds_open(&p5, &c), LMQ_EINVAL);
    lmq_creds_opts p8 = {"p8", NULL, NULL, NULL};
    ck_lmq(lmq__creds_open(&p8, &c), LMQ_EINVAL);
    lmq_creds_opts p6 = {"p6", NULL, NULL, NULL};
    ck_lmq(lmq__creds_open(&p6, &c), LMQ_EIO);
}
END_TEST

START_TEST(test_creds_nothing)
{
    lmq_creds *c = (lmq_creds *)1;
    ck_lmq(lmq__creds_open(NULL, &c), LMQ_ENOTFOUND);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(lmq_errmsg(), "default") != NULL, "%s", lmq_errmsg());
    ck_assert_ptr_null(lmq__creds_region(NULL));
    /* Without HOME or the file variables there is nothing to read. */
    unsetenv("HOME");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_CONFIG_FILE");
    ck_lmq(lmq__creds_open(NULL, &c), LMQ_ENOTFOUND);
}
END_TEST

/* Credentials feed the remote: an env key pair signs a call lmqd accepts. */
START_TEST(test_creds_to_remote)
{
    lmqd_start(LMQD_KEYS);
    setenv("AWS_ACCESS_KEY_ID", "AKIDBRIDGETOKEN1", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "bridge-secret-2", 1);
    setenv("AWS_SESSION_TOKEN", "session-token-from-env", 1);
    lmq_creds *c = NULL;
    ck_ok(lmq__creds_open(NULL, &c));
    lmq_remote *r = remote_to(D.base, c);
    json_t *o = call_ok(r, "ListQueues", json_object());
    json_decref(o);
    lmq__remote_close(r);
    lmq__creds_close(c);
}
END_TEST

static Suite *
lmq_suite_bridge_remote(void)
{
    Suite *s = suite_create("bridge_remote");
    TCase *t = tcase_create("faults are classified by one table");
    tcase_add_test(t, test_classify_table);
    suite_add_tcase(s, t);

    t = tcase_create("signed calls to lmqd with verification on");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_signed_calls);
    tcase_add_test(t, test_wrong_secret);
    tcase_add_test(t, test_session_token);
    tcase_add_test(t, test_creds_to_remote);
    suite_add_tcase(s, t);

    t = tcase_create("no answer is transient");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_connection_refused);
    suite_add_tcase(s, t);

    t = tcase_create("a drifted clock is corrected from Date");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_clock_skew);
    suite_add_tcase(s, t);

    t = tcase_create("credentials as the AWS tools find them");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, test_creds_env);
    tcase_add_test(t, test_creds_profiles);
    tcase_add_test(t, test_creds_process);
    tcase_add_test(t, test_creds_nothing);
    suite_add_tcase(s, t);
    return s;
}

int
main(void)
{
    /* Before any test forks: curl's global state only. */
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        return EXIT_FAILURE;
    int rc = lmq_test_run(lmq_suite_bridge_remote());
    curl_global_cleanup();
    return rc;
}
