/*
 * lmq_lambda.c: `lmq consume --event lambda`, Lambda's SQS event source
 * mapping run locally (docs/LAMBDA.md, shared/SQS-SEMANTICS.md §9.1).
 *
 * The consumer runtime does the polling, batching (batch size, batching
 * window, the 6 MB cap through max_batch_bytes and cli_lambda_record_cost),
 * scaling (scale_concurrency), the function timeout (handler_timeout_ms)
 * and the deletes. This file is its batch handler: it turns a batch into
 * the event Lambda sends ({"Records":[...]}, keys in Lambda's order, built
 * with jansson), drops the records no --filter pattern matches (they are
 * deleted without an invocation, as Lambda does), invokes the function and
 * reads the outcome:
 *  - by command: `/bin/sh -c COMMAND` with the event on stdin; exit 0 is a
 *    successful invocation, anything else (a non-zero exit, a signal, the
 *    timeout) a function error; its stdout is the function's response;
 *  - by URL: POST to an invoke URL (the Runtime Interface Emulator's
 *    /2015-03-31/functions/function/invocations) with libcurl; an HTTP
 *    error, a transport error or timeout, an X-Amz-Function-Error or
 *    Error-Type header, or a body that is Lambda's error document
 *    ({"errorMessage":..., "errorType":...}, what the RIE returns with
 *    status 200 when the handler throws) is a function error; otherwise the
 *    body is the response.
 * A function error fails the whole batch: every record comes back after
 * the queue's visibility timeout. With --report-batch-item-failures a
 * successful invocation's response is read as Lambda reads it (the table
 * of §9.1, cli_lambda_response()); without it the response is ignored and
 * the batch succeeded.
 *
 * Rejected: running the handler code in-process (Node and Python handlers
 * need their own runtime; a thin runner script reads the event from stdin,
 * see examples/lambda/); a response on a separate file descriptor (a
 * runner writes stdout anyway, and handlers' logs go to stderr as in
 * Lambda's runtimes, which write them to CloudWatch, not to the response).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* pipe2 */
#endif
#include "lmq_cli.h"
#include "lmq_filter.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- the event ------------------------------------------------------------ */

/* System attributes in the order Lambda's documented events list them
 * (standard: the first, second, fifth and seventh; FIFO: all seven), then
 * the optional ones. A name the message has no value for is left out. */
static const char *const sys_names[] = {
    "ApproximateReceiveCount", "SentTimestamp", "SequenceNumber",
    "MessageGroupId", "SenderId", "MessageDeduplicationId",
    "ApproximateFirstReceiveTimestamp", "AWSTraceHeader",
    "DeadLetterQueueSourceArn", NULL};

json_t *
cli_lambda_record(const cli_lambda *l, const lmq_msg *m)
{
    size_t blen = 0;
    const char *body = lmq_msg_body(m, &blen);
    json_t *rec = json_object(), *attrs = json_object(),
           *mattrs = json_object();
    if (!rec || !attrs || !mattrs) {
        json_decref(rec);
        json_decref(attrs);
        json_decref(mattrs);
        return NULL;
    }
    json_object_set_new(rec, "messageId", json_string(lmq_msg_id(m)));
    json_object_set_new(rec, "receiptHandle",
                        json_string(lmq_msg_receipt(m)));
    json_object_set_new(rec, "body", cli_jstr(body, blen));
    for (size_t i = 0; sys_names[i]; i++) {
        const char *v = lmq_msg_sys_attr(m, sys_names[i]);
        char buf[24];
        if (!v && strcmp(sys_names[i], "ApproximateReceiveCount") == 0) {
            snprintf(buf, sizeof buf, "%u",
                     (unsigned)lmq_msg_receive_count(m));
            v = buf;
        }
        if (v)
            json_object_set_new(attrs, sys_names[i], json_string(v));
    }
    json_object_set_new(rec, "attributes", attrs);
    const lmq_mattrs *a = lmq_msg_attrs(m);
    for (size_t i = 0; i < lmq_mattrs_count(a); i++) {
        const char *name, *type;
        const void *val;
        size_t len;
        if (lmq_mattrs_at(a, i, &name, &type, &val, &len) != 0)
            continue;
        json_t *v = json_object();
        if (strncmp(type, "Binary", 6) == 0) {
            char *b64 = cli_b64_encode(val, len);
            json_object_set_new(v, "binaryValue",
                                json_string(b64 ? b64 : ""));
            free(b64);
        } else {
            json_object_set_new(v, "stringValue", cli_jstr(val, len));
        }
        json_object_set_new(v, "stringListValues", json_array());
        json_object_set_new(v, "binaryListValues", json_array());
        json_object_set_new(v, "dataType", json_string(type));
        json_object_set_new(mattrs, name, v);
    }
    json_object_set_new(rec, "messageAttributes", mattrs);
    const char *md5a = lmq_msg_md5_attrs(m);
    json_object_set_new(rec, "md5OfMessageAttributes",
                        md5a && md5a[0] ? json_string(md5a) : json_null());
    json_object_set_new(rec, "md5OfBody", json_string(lmq_msg_md5_body(m)));
    json_object_set_new(rec, "eventSource", json_string("aws:sqs"));
    json_object_set_new(rec, "eventSourceARN", json_string(l->queue_arn));
    json_object_set_new(rec, "awsRegion", json_string(l->region));
    return rec;
}

size_t
cli_lambda_record_cost(const lmq_msg *m, void *arg)
{
    json_t *rec = cli_lambda_record(arg, m);
    size_t n = rec ? json_dumpb(rec, NULL, 0, JSON_COMPACT) : 0;
    json_decref(rec);
    return n + 1; /* and the comma before it */
}

/* ---- the response --------------------------------------------------------- */

static bool
blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

int
cli_lambda_response(const char *s, size_t len, const char *const *ids,
                    size_t n, int *failed)
{
    /* An empty or null response, or one without batchItemFailures (or
     * with a null or empty one): the batch succeeded. */
    if (len == 0 || blank(s, len))
        return 0;
    json_error_t jerr;
    json_t *doc = json_loadb(s, len, JSON_DECODE_ANY, &jerr);
    if (!doc)
        return -1; /* invalid JSON */
    int rc = 0;
    json_t *bif = json_is_object(doc)
                      ? json_object_get(doc, "batchItemFailures")
                      : NULL;
    if (!bif || json_is_null(bif))
        goto out;
    if (!json_is_array(bif)) {
        rc = -1;
        goto out;
    }
    size_t i;
    json_t *item;
    json_array_foreach(bif, i, item) {
        json_t *id = json_is_object(item)
                         ? json_object_get(item, "itemIdentifier")
                         : NULL;
        /* A wrong key name, a null, empty or non-string identifier, or
         * one that names no record of the batch fails the batch. */
        const char *sid = json_string_value(id);
        size_t k = n;
        if (sid && sid[0])
            for (k = 0; k < n && strcmp(ids[k], sid) != 0; k++)
                ;
        if (k == n) {
            rc = -1;
            goto out;
        }
        failed[k] = 1;
    }
out:
    json_decref(doc);
    if (rc)
        memset(failed, 0, n * sizeof *failed);
    return rc;
}

/* ---- invoking by command -------------------------------------------------- */

static void
nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Append to a collected output, keeping at most CLI_LAMBDA_MAX_PAYLOAD + 1
 * bytes (one more marks an oversized response). */
struct outbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void
out_add(struct outbuf *o, const char *d, size_t n)
{
    size_t limit = (size_t)CLI_LAMBDA_MAX_PAYLOAD + 1;
    if (o->len + n > limit)
        n = limit - o->len;
    if (n == 0 || o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->oom = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, d, n);
    o->len += n;
    o->p[o->len] = '\0';
}

char *
cli_env_pair(const char *name, const char *value)
{
    size_t a = strlen(name), b = strlen(value);
    char *s = malloc(a + b + 2);
    if (s) {
        memcpy(s, name, a);
        s[a] = '=';
        memcpy(s + a + 1, value, b + 1);
    }
    return s;
}

char **
cli_child_env(char *const *mine, size_t nmine)
{
    size_t nenv = 0;
    while (environ && environ[nenv])
        nenv++;
    for (size_t i = 0; i < nmine; i++)
        if (!mine[i])
            return NULL;
    char **envp = calloc(nenv + nmine + 1, sizeof *envp);
    if (!envp)
        return NULL;
    /* Inherited variables, except those we set (a consume run by a
     * consume must not pass on its parent's message). */
    size_t n = 0;
    for (size_t i = 0; i < nenv; i++) {
        bool ours = false;
        for (size_t t = 0; t < nmine && !ours; t++) {
            size_t l = (size_t)(strchr(mine[t], '=') - mine[t]) + 1;
            ours = strncmp(environ[i], mine[t], l) == 0;
        }
        if (!ours)
            envp[n++] = environ[i];
    }
    for (size_t i = 0; i < nmine; i++)
        envp[n++] = mine[i];
    return envp;
}

int
cli_run_command(lmq_consumer *c, const char *cmd, char *const *envp,
                const char *in, size_t inlen, char **out, size_t *outlen)
{
    char *const argv[] = {(char *)"sh", (char *)"-c", (char *)cmd, NULL};
    int ifd[2], ofd[2] = {-1, -1};

    if (out) {
        *out = NULL;
        *outlen = 0;
    }
    if (pipe2(ifd, O_CLOEXEC) != 0) {
        fprintf(stderr, "lmq consume: pipe: %s\n", strerror(errno));
        return -1;
    }
    if (out && pipe2(ofd, O_CLOEXEC) != 0) {
        fprintf(stderr, "lmq consume: pipe: %s\n", strerror(errno));
        close(ifd[0]);
        close(ifd[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "lmq consume: fork: %s\n", strerror(errno));
        close(ifd[0]);
        close(ifd[1]);
        if (out) {
            close(ofd[0]);
            close(ofd[1]);
        }
        return -1;
    }
    if (pid == 0) {
        /* Async-signal-safe calls only from here to execve. */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGPIPE, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        setpgid(0, 0);
        if (dup2(ifd[0], 0) < 0 || (out && dup2(ofd[1], 1) < 0))
            _exit(127);
        execve("/bin/sh", argv, envp);
        _exit(127);
    }
    setpgid(pid, pid); /* also here: no race with the kill below */
    close(ifd[0]);
    if (out)
        close(ofd[1]);

    /* Feed stdin and collect stdout at once, without blocking on either
     * (a command that does not read, or writes a lot first, must not hang
     * us past its timeout). */
    int wfd = ifd[1], rfd = out ? ofd[0] : -1;
    (void)fcntl(wfd, F_SETFL, fcntl(wfd, F_GETFL) | O_NONBLOCK);
    size_t off = 0;
    int killed = 0;
    struct outbuf ob = {NULL, 0, 0, false};
    if (inlen == 0) {
        close(wfd);
        wfd = -1;
    }
    while (wfd >= 0 || rfd >= 0) {
        if (lmq_consumer_handler_expired(c)) {
            kill(-pid, SIGKILL);
            killed = 1;
            break;
        }
        struct pollfd p[2];
        nfds_t np = 0;
        int iw = -1, ir = -1;
        if (wfd >= 0) {
            p[np] = (struct pollfd){wfd, POLLOUT, 0};
            iw = (int)np++;
        }
        if (rfd >= 0) {
            p[np] = (struct pollfd){rfd, POLLIN, 0};
            ir = (int)np++;
        }
        if (poll(p, np, 50) <= 0)
            continue;
        if (iw >= 0 && p[iw].revents) {
            ssize_t w = write(wfd, in + off, inlen - off);
            if (w < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (w > 0)
                off += (size_t)w;
            if (w <= 0 || off == inlen) { /* EPIPE: it does not read */
                close(wfd);
                wfd = -1;
            }
        }
        if (ir >= 0 && p[ir].revents) {
            char buf[65536];
            ssize_t r = read(rfd, buf, sizeof buf);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                close(rfd);
                rfd = -1;
            } else {
                out_add(&ob, buf, (size_t)r);
            }
        }
    }
    if (wfd >= 0)
        close(wfd);
    if (rfd >= 0)
        close(rfd);

    int st = 0, delay = 1;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            st = -1;
            break;
        }
        if (!killed && lmq_consumer_handler_expired(c)) {
            kill(-pid, SIGKILL);
            killed = 1;
        }
        nap_ms(delay);
        if (delay < 20)
            delay *= 2;
    }
    if (out && !ob.oom) {
        *out = ob.p;
        *outlen = ob.len;
    } else {
        free(ob.p);
    }
    if (killed)
        return 2;
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && !ob.oom
               ? 0
               : 1;
}

/* A version 4 UUID for the invocation's request id. */
static void
request_id(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)((uint64_t)ts.tv_nsec >> (i % 8 * 4)) ^
                   (unsigned char)getpid();
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x"
             "%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
             b[10], b[11], b[12], b[13], b[14], b[15]);
}

static int64_t
epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define NCTX 5

/* Invoke the command: the function's context in the environment (a
 * runner builds Lambda's context object from it), the event on stdin.
 * Returns as cli_run_command(). */
static int
invoke_command(const cli_lambda *l, const char *event, size_t len,
               char **out, size_t *outlen)
{
    char rid[37], deadline[24], tmo[16];
    request_id(rid);
    snprintf(deadline, sizeof deadline, "%lld",
             (long long)(epoch_ms() + l->timeout_ms));
    snprintf(tmo, sizeof tmo, "%d", l->timeout_ms / 1000);
    char *mine[NCTX + 1];
    size_t nm = 0;
    mine[nm++] = cli_env_pair("AWS_LAMBDA_FUNCTION_TIMEOUT", tmo);
    mine[nm++] = cli_env_pair("LMQ_DEADLINE_MS", deadline);
    mine[nm++] = cli_env_pair("LMQ_REQUEST_ID", rid);
    mine[nm++] = cli_env_pair("LMQ_QUEUE_URL", l->queue_url);
    if (!getenv("AWS_REGION"))
        mine[nm++] = cli_env_pair("AWS_REGION", l->region);
    char **envp = cli_child_env(mine, nm);
    int rc = -1;
    if (envp)
        rc = cli_run_command(l->c, l->cmd, envp, event, len, out, outlen);
    else
        fprintf(stderr, "lmq consume: out of memory\n");
    for (size_t i = 0; i < nm; i++)
        free(mine[i]);
    free(envp);
    return rc;
}

/* ---- invoking by URL -------------------------------------------------------- */

static size_t
on_body(char *d, size_t size, size_t nmemb, void *arg)
{
    out_add(arg, d, size * nmemb);
    return size * nmemb;
}

/* Abort the transfer once the consumer call has expired (the stop
 * timeout; the function timeout is curl's own). */
static int
on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
            curl_off_t d)
{
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return lmq_consumer_handler_expired(arg) ? 1 : 0;
}

/* Lambda's error document, what the RIE returns (status 200) when the
 * handler throws: an object with string errorMessage and errorType. */
static bool
error_document(const char *s, size_t len)
{
    json_t *doc = json_loadb(s, len, 0, NULL);
    bool err = json_is_object(doc) &&
               json_is_string(json_object_get(doc, "errorType")) &&
               json_is_string(json_object_get(doc, "errorMessage"));
    json_decref(doc);
    return err;
}

static int
invoke_url(const cli_lambda *l, const char *event, size_t len, char **out,
           size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    CURL *h = curl_easy_init();
    if (!h)
        return -1;
    struct outbuf ob = {NULL, 0, 0, false};
    struct curl_slist *hdr =
        curl_slist_append(NULL, "Content-Type: application/json");
    char rid[37], line[64];
    request_id(rid);
    snprintf(line, sizeof line, "X-Amz-Request-Id: %s", rid);
    hdr = curl_slist_append(hdr, line);
    curl_easy_setopt(h, CURLOPT_URL, l->invoke_url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, event);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ob);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)l->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, l->c);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    int rc = 0;
    struct curl_header *fe = NULL;
    if (cc != CURLE_OK) {
        fprintf(stderr, "lmq consume: invoke %s: %s\n", l->invoke_url,
                curl_easy_strerror(cc));
        rc = cc == CURLE_OPERATION_TIMEDOUT ? 2 : 1;
    } else if (status < 200 || status > 299) {
        fprintf(stderr, "lmq consume: invoke %s: HTTP %ld\n", l->invoke_url,
                status);
        rc = 1;
    } else if (curl_easy_header(h, "X-Amz-Function-Error", 0, CURLH_HEADER,
                                -1, &fe) == CURLHE_OK ||
               curl_easy_header(h, "Error-Type", 0, CURLH_HEADER, -1,
                                &fe) == CURLHE_OK ||
               ob.oom || error_document(ob.p ? ob.p : "", ob.len)) {
        fprintf(stderr, "lmq consume: function error: %.*s\n",
                ob.len > 512 ? 512 : (int)ob.len, ob.p ? ob.p : "");
        rc = 1;
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    if (ob.oom) {
        free(ob.p);
        return 1;
    }
    *out = ob.p;
    *outlen = ob.len;
    return rc;
}

/* ---- the batch handler ---------------------------------------------------- */

int
cli_lambda_handler(lmq_msg *const *msgs, size_t n, int *failed, void *arg)
{
    cli_lambda *l = arg;
    json_t *recs = json_array();
    size_t *idx = malloc(n * sizeof *idx);
    const char **ids = malloc(n * sizeof *ids);
    int *rfail = calloc(n, sizeof *rfail);
    size_t nr = 0;
    int rc = 1; /* out of memory: the whole batch comes back */
    char *event = NULL, *resp = NULL;
    size_t resp_len = 0;

    if (!recs || !idx || !ids || !rfail)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *rec = cli_lambda_record(l, msgs[i]);
        if (!rec)
            goto out;
        /* No pattern matches: deleted without an invocation. */
        if (l->filter && !cli_filter_match(l->filter, rec)) {
            json_decref(rec);
            continue;
        }
        json_array_append_new(recs, rec);
        idx[nr] = i;
        ids[nr++] = lmq_msg_id(msgs[i]);
    }
    rc = 0;
    if (nr == 0)
        goto out; /* all filtered out: no invocation */
    json_t *doc = json_object();
    json_object_set(doc, "Records", recs);
    event = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!event) {
        rc = 1;
        goto out;
    }
    size_t len = strlen(event);
    bool want_resp = l->report_failures != 0;
    int st = l->invoke_url
                 ? invoke_url(l, event, len, &resp, &resp_len)
                 : invoke_command(l, event, len, want_resp ? &resp : NULL,
                                  &resp_len);
    if (st != 0) {
        fprintf(stderr,
                "lmq consume: invocation %s: %zu message(s) left for "
                "retry\n",
                st == 2 ? "timed out" : "failed", nr);
        for (size_t k = 0; k < nr; k++)
            failed[idx[k]] = 1;
        goto out;
    }
    if (!want_resp)
        goto out; /* Lambda ignores the response: the batch succeeded */
    if (resp_len > (size_t)CLI_LAMBDA_MAX_PAYLOAD ||
        cli_lambda_response(resp ? resp : "", resp_len, ids, nr, rfail) !=
            0) {
        fprintf(stderr,
                "lmq consume: invalid batchItemFailures response: %zu "
                "message(s) left for retry\n",
                nr);
        for (size_t k = 0; k < nr; k++)
            failed[idx[k]] = 1;
        goto out;
    }
    for (size_t k = 0; k < nr; k++)
        failed[idx[k]] = rfail[k];
out:
    json_decref(recs);
    free(idx);
    free(ids);
    free(rfail);
    free(event);
    free(resp);
    return rc;
}
