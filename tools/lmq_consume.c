/*
 * lmq_consume.c: `lmq consume --queue-url Q --exec 'COMMAND'`, the consumer
 * runtime (lmq_consumer_*) driving a shell command per message.
 *
 * How it works: each message runs `/bin/sh -c COMMAND` with the body on its
 * standard input and the message's fields in the environment (LMQ_MESSAGE_ID,
 * LMQ_RECEIPT_HANDLE, LMQ_RECEIVE_COUNT, LMQ_SENT_TIMESTAMP,
 * LMQ_FIRST_RECEIVE_TIMESTAMP, LMQ_MD5_OF_BODY, LMQ_QUEUE_URL,
 * LMQ_MESSAGE_ATTRIBUTES as JSON shaped like the AWS CLI's MessageAttributes,
 * and on FIFO queues LMQ_MESSAGE_GROUP_ID, LMQ_MESSAGE_DEDUPLICATION_ID,
 * LMQ_SEQUENCE_NUMBER). Exit status 0 deletes the message; anything else
 * (or death by a signal) leaves it for redelivery, and a queue with a
 * RedrivePolicy eventually moves it to its dead-letter queue.
 *
 * The consumer's handler runs on its worker threads, so the child is made
 * (by cli_run_command() in lmq_lambda.c, which --event lambda uses too)
 * with fork() + execve() and nothing between them but async-signal-safe
 * calls: the environment array and argv are built before the fork. Pipes are
 * close-on-exec so that a child started by one worker never holds another
 * child's stdin open. Each child gets its own process group: a Ctrl-C in the
 * terminal then stops the consumer (no new messages) without killing the
 * commands that run; they finish, up to the stop timeout, after which they
 * are killed (SIGKILL to the group), as they are past --timeout.
 *
 * SIGINT and SIGTERM call lmq_consumer_stop(), which is async-signal-safe;
 * the main thread sits in lmq_consumer_join() and does the graceful part.
 *
 * `--event lambda` (Lambda's SQS event source mapping, docs/LAMBDA.md)
 * is wired here from its flags; its event, response and invocation code is
 * in lmq_lambda.c.
 *
 * Rejected: system() or popen() (they run a shell but cannot pass a body and
 * a private environment at once, nor be killed by group); setenv() per
 * message (the environment is process-wide and the workers run at once).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* strndup */
#endif
#include "lmq_cli.h"
#include "lmq_filter.h"

#include <curl/curl.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const cli_flag cli_consume_flags[] = {
    {"queue-url", CLI_STRING, 1, "queue URL or bare queue name"},
    {"exec", CLI_STRING, 0,
     "shell command run per message (body on stdin); exit 0 deletes it; "
     "with --event lambda, per batch (the event on stdin)"},
    {"batch-size", CLI_INT, 0, "messages per receive, 1-10000 (default 10)"},
    {"batching-window", CLI_INT, 0,
     "ms to keep receiving to fill --batch-size (default 0)"},
    {"concurrency", CLI_INT, 0, "commands run at once (default 1)"},
    {"visibility-timeout", CLI_INT, 0,
     "seconds, for receives and heartbeats (default: the queue's)"},
    {"heartbeat", CLI_INT, 0,
     "seconds between visibility extensions while a command runs (default: "
     "a third of the visibility timeout; -1: none)"},
    {"timeout", CLI_INT, 0,
     "seconds a command may run before it is killed and its message left "
     "(default: none)"},
    {"backoff", CLI_INT, 0,
     "seconds before a failed message is visible again (default: its "
     "visibility timeout)"},
    {"wait-time-seconds", CLI_INT, 0, "long-poll wait, 1-20 (default 20)"},
    {"max-messages", CLI_INT, 0, "stop after receiving this many"},
    {"until-empty", CLI_BOOL, 0,
     "stop when the queue stays empty for the wait time"},
    {"stop-timeout", CLI_INT, 0,
     "seconds running commands get after SIGINT/SIGTERM (default 30)"},
    /* Lambda's SQS event source mapping (lmq_lambda.c, docs/LAMBDA.md). */
    {"event", CLI_STRING, 0,
     "message (default: a command per message) or lambda (Lambda's SQS "
     "event per batch)"},
    {"report-batch-item-failures", CLI_BOOL, 0,
     "lambda: read the function's response as a partial batch response"},
    {"maximum-batching-window", CLI_INT, 0,
     "lambda: seconds to gather a batch, 0-300 (default 0)"},
    {"maximum-concurrency", CLI_INT, 0,
     "lambda: most concurrent invocations, 2-1000 (default 5); starts at "
     "5 and scales with the backlog"},
    {"function-timeout", CLI_INT, 0,
     "lambda: seconds an invocation may run, 1-900 (default 3)"},
    {"filter", CLI_LIST, 0,
     "lambda: event filter patterns; records matching none are deleted"},
    {"invoke-url", CLI_STRING, 0,
     "lambda: POST the event to this URL (the Runtime Interface "
     "Emulator's invocations URL) instead of running --exec"},
    {NULL, CLI_STRING, 0, NULL}};

/* The consumer the signal handlers stop. */
static lmq_consumer *volatile sig_consumer;

static void
on_signal(int sig)
{
    (void)sig;
    lmq_consumer *c = sig_consumer;
    if (c)
        lmq_consumer_stop(c);
}

struct consume {
    lmq_consumer *c;
    const char *cmd;
    const char *queue_url;
};

/* The message attributes as JSON, {"Name": {"DataType": ..., "StringValue"
 * or "BinaryValue" (base64): ...}}, as the AWS CLI prints them. */
static char *
attrs_json(const lmq_msg *m)
{
    json_t *obj = cli_message_attrs_json(m);
    char *s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(obj);
    return s;
}

/* The child's environment: environ plus the message's variables. */
struct cenv {
    char **v;       /* NULL-terminated, for execve */
    char *mine[16]; /* the strings we allocated */
    size_t nmine;
};

static void
child_env_free(struct cenv *e)
{
    for (size_t i = 0; i < e->nmine; i++)
        free(e->mine[i]);
    free(e->v);
}

/* 0, or -1 when out of memory (nothing to free). */
static int
child_env(const struct consume *k, const lmq_msg *m, struct cenv *e)
{
    static const struct {
        const char *var, *sys;
    } sys[] = {{"LMQ_SENT_TIMESTAMP", "SentTimestamp"},
               {"LMQ_FIRST_RECEIVE_TIMESTAMP",
                "ApproximateFirstReceiveTimestamp"},
               {"LMQ_MESSAGE_GROUP_ID", "MessageGroupId"},
               {"LMQ_MESSAGE_DEDUPLICATION_ID", "MessageDeduplicationId"},
               {"LMQ_SEQUENCE_NUMBER", "SequenceNumber"},
               {"LMQ_DEAD_LETTER_QUEUE_SOURCE_ARN",
                "DeadLetterQueueSourceArn"}};
    char count[24];

    memset(e, 0, sizeof *e);
    snprintf(count, sizeof count, "%u", (unsigned)lmq_msg_receive_count(m));
    char *attrs = attrs_json(m);
    e->mine[e->nmine++] = cli_env_pair("LMQ_MESSAGE_ID", lmq_msg_id(m));
    e->mine[e->nmine++] =
        cli_env_pair("LMQ_RECEIPT_HANDLE", lmq_msg_receipt(m));
    e->mine[e->nmine++] = cli_env_pair("LMQ_RECEIVE_COUNT", count);
    e->mine[e->nmine++] = cli_env_pair("LMQ_MD5_OF_BODY", lmq_msg_md5_body(m));
    e->mine[e->nmine++] = cli_env_pair("LMQ_QUEUE_URL", k->queue_url);
    e->mine[e->nmine++] =
        cli_env_pair("LMQ_MESSAGE_ATTRIBUTES", attrs ? attrs : "{}");
    free(attrs);
    for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++) {
        const char *val = lmq_msg_sys_attr(m, sys[i].sys);
        if (val)
            e->mine[e->nmine++] = cli_env_pair(sys[i].var, val);
    }
    if (!(e->v = cli_child_env(e->mine, e->nmine))) {
        child_env_free(e);
        return -1;
    }
    return 0;
}

/* The per-message handler: run the command, 0 when it exited 0. */
static int
run_command(const lmq_msg *m, void *arg)
{
    struct consume *k = arg;
    size_t body_len = 0;
    const char *body = lmq_msg_body(m, &body_len);
    struct cenv ce;

    if (child_env(k, m, &ce) != 0) {
        fprintf(stderr, "lmq consume: out of memory\n");
        return 1;
    }
    int rc = cli_run_command(k->c, k->cmd, ce.v, body, body_len, NULL, NULL);
    child_env_free(&ce);
    return rc == 0 ? 0 : 1;
}

/* The queue's ARN and the region in it ("arn:aws:sqs:REGION:ACCOUNT:NAME"),
 * malloc'd; 0 or an lmq error. */
static int
queue_arn(lmq_env *env, const char *queue, char **arn, char **region)
{
    static const char *const names[] = {"QueueArn", NULL};
    char *name = NULL;
    lmq_map *m = NULL;
    int rc = lmq_queue_name_from_url(queue, &name);
    if (rc == 0)
        rc = lmq_queue_get_attributes(env, name, names, &m);
    free(name);
    if (rc)
        return rc;
    const char *v = lmq_map_get(m, "QueueArn");
    *arn = strdup(v ? v : "");
    const char *r = *arn;
    for (int f = 0; f < 3 && r; f++) {
        r = strchr(r, ':');
        if (r)
            r++;
    }
    const char *e = r ? strchr(r, ':') : NULL;
    *region = e ? strndup(r, (size_t)(e - r)) : strdup("us-east-1");
    lmq_map_free(m);
    return *arn && *region ? 0 : LMQ_ENOMEM;
}

static int
is_fifo_name(const char *queue)
{
    size_t n = strlen(queue);
    return n > 5 && strcmp(queue + n - 5, ".fifo") == 0;
}

/* The flags of --event lambda into o and l: Lambda's limits
 * (CreateEventSourceMapping), checked as usage errors. 0, or an exit
 * status. */
static int
lambda_opts(const cli_ctx *c, lmq_consumer_opts *o, cli_lambda *l,
            cli_filter **filter)
{
    static const char *const only_message[] = {"batching-window",
                                               "concurrency", "timeout",
                                               NULL};
    for (size_t i = 0; only_message[i]; i++)
        if (cli_opt_get(c, only_message[i]))
            return cli_usage_error("argument --%s: not with --event lambda "
                                   "(see --maximum-batching-window, "
                                   "--maximum-concurrency, "
                                   "--function-timeout)",
                                   only_message[i]);
    if (!l->cmd == !l->invoke_url)
        return cli_usage_error("--event lambda needs one of --exec and "
                               "--invoke-url");
    int fifo = is_fifo_name(l->queue_url);
    int batch = cli_opt_int(c, "batch-size", 10);
    int window = cli_opt_int(c, "maximum-batching-window", 0);
    int maxc = cli_opt_int(c, "maximum-concurrency", 5);
    int tmo = cli_opt_int(c, "function-timeout", 3);
    if (batch < 1 || batch > 10000)
        return cli_usage_error("argument --batch-size: %d is not in 1-10000",
                               batch);
    if (fifo && batch > 10)
        return cli_usage_error("argument --batch-size: %d: a FIFO queue "
                               "takes batches of 1-10",
                               batch);
    if (window < 0 || window > 300)
        return cli_usage_error("argument --maximum-batching-window: %d is "
                               "not in 0-300",
                               window);
    if (fifo && cli_opt_get(c, "maximum-batching-window"))
        return cli_usage_error("argument --maximum-batching-window: not "
                               "supported for FIFO queues");
    if (batch > 10 && window < 1)
        return cli_usage_error("Maximum batch window in seconds must be "
                               "greater than 0 if maximum batch size is "
                               "greater than 10");
    if (maxc < 2 || maxc > 1000)
        return cli_usage_error("argument --maximum-concurrency: %d is not "
                               "in 2-1000",
                               maxc);
    if (tmo < 1 || tmo > 900)
        return cli_usage_error("argument --function-timeout: %d is not in "
                               "1-900",
                               tmo);
    const cli_opt *f = cli_opt_get(c, "filter");
    if (f) {
        const char **pats = calloc(f->n ? f->n : 1, sizeof *pats);
        char err[512] = "";
        if (!pats)
            return CLI_EXIT_OTHER;
        for (size_t i = 0; i < f->n; i++)
            pats[i] = f->tok[i].s;
        int rc = cli_filter_parse(pats, f->n, filter, err, sizeof err);
        free(pats);
        if (rc != 0)
            return cli_usage_error("argument --filter: %s", err);
        l->filter = *filter;
    }
    o->batch_handler = cli_lambda_handler;
    o->arg = l;
    o->batch_size = batch;
    o->batching_window_ms = window * 1000;
    o->concurrency = maxc;
    o->scale_concurrency = 1;
    o->handler_timeout_ms = tmo * 1000;
    o->max_batch_bytes = CLI_LAMBDA_MAX_PAYLOAD - strlen("{\"Records\":[]}") +
                         1; /* the first record has no comma */
    o->batch_cost_fn = cli_lambda_record_cost;
    /* Lambda never extends a batch's visibility: it comes back after the
     * queue's visibility timeout, running or not. */
    o->heartbeat_seconds =
        cli_opt_get(c, "heartbeat") ? cli_opt_int(c, "heartbeat", 0) : -1;
    l->report_failures = cli_opt_get(c, "report-batch-item-failures") != NULL;
    l->timeout_ms = tmo * 1000;
    return 0;
}

int
cli_cmd_consume(cli_ctx *c)
{
    struct consume k = {NULL, cli_opt_str(c, "exec"),
                        cli_opt_str(c, "queue-url")};
    const char *event = cli_opt_str(c, "event");
    cli_lambda l;
    cli_filter *filter = NULL;
    lmq_consumer_opts o;
    int rc;

    memset(&l, 0, sizeof l);
    if (event && strcmp(event, "lambda") != 0 && strcmp(event, "message") != 0)
        return cli_usage_error("argument --event: invalid choice: '%s' "
                               "(choose from 'message', 'lambda')",
                               event);
    bool lambda = event && strcmp(event, "lambda") == 0;
    if (!lambda) {
        static const char *const only_lambda[] = {
            "report-batch-item-failures", "maximum-batching-window",
            "maximum-concurrency", "function-timeout", "filter",
            "invoke-url", NULL};
        if (!k.cmd)
            return cli_usage_error("the following arguments are required: "
                                   "--exec");
        for (size_t i = 0; only_lambda[i]; i++)
            if (cli_opt_get(c, only_lambda[i]))
                return cli_usage_error("argument --%s: only with --event "
                                       "lambda",
                                       only_lambda[i]);
    }
    lmq_consumer_opts_init(&o);
    o.handler = run_command;
    o.arg = &k;
    o.batch_size = cli_opt_int(c, "batch-size", o.batch_size);
    o.batching_window_ms = cli_opt_int(c, "batching-window", 0);
    o.concurrency = cli_opt_int(c, "concurrency", o.concurrency);
    o.visibility_timeout = cli_opt_int(c, "visibility-timeout", -1);
    o.heartbeat_seconds = cli_opt_int(c, "heartbeat", 0);
    o.handler_timeout_ms = cli_opt_int(c, "timeout", 0) * 1000;
    o.backoff_seconds = cli_opt_int(c, "backoff", -1);
    o.wait_seconds = cli_opt_int(c, "wait-time-seconds", o.wait_seconds);
    o.until_empty = cli_opt_get(c, "until-empty") != NULL;
    o.stop_timeout_ms = cli_opt_int(c, "stop-timeout", 30) * 1000;
    static const char *const all_attrs[] = {"All", NULL};
    o.attribute_names = all_attrs;
    int maxm = cli_opt_int(c, "max-messages", 0);
    if (maxm < 0)
        return cli_param_error("Invalid value for parameter max-messages, "
                               "value: %d, valid min value: 0",
                               maxm);
    o.max_messages = (uint64_t)maxm;
    if (lambda) {
        l.cmd = k.cmd;
        l.invoke_url = cli_opt_str(c, "invoke-url");
        l.queue_url = k.queue_url;
        if ((rc = lambda_opts(c, &o, &l, &filter)) != 0)
            return rc;
    }

    if ((rc = cli_env(c)) != 0)
        goto done_filter;
    if (lambda) {
        rc = queue_arn(c->env, k.queue_url, &l.queue_arn, &l.region);
        if (rc != 0) {
            rc = cli_service_error(c, rc);
            goto done_filter;
        }
        if (l.invoke_url)
            curl_global_init(CURL_GLOBAL_DEFAULT);
    }
    rc = lmq_consumer_open(c->env, k.queue_url, &o, &k.c);
    if (rc != 0) {
        rc = cli_service_error(c, rc);
        goto done_lambda;
    }
    l.c = k.c;

    struct sigaction sa, old_int, old_term, old_pipe;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sig_consumer = k.c;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = SIG_IGN; /* a command that ignores its stdin */
    sigaction(SIGPIPE, &sa, &old_pipe);

    rc = lmq_consumer_start(k.c);
    if (rc == 0)
        rc = lmq_consumer_join(k.c);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    sig_consumer = NULL;

    lmq_consumer_counters n;
    memset(&n, 0, sizeof n);
    n.size = sizeof n;
    (void)lmq_consumer_get_counters(k.c, &n);
    fprintf(stderr,
            "lmq consume: received %llu, succeeded %llu, failed %llu, "
            "timed out %llu, returned %llu\n",
            (unsigned long long)n.received, (unsigned long long)n.succeeded,
            (unsigned long long)n.failed, (unsigned long long)n.timed_out,
            (unsigned long long)n.returned);
    int status = rc != 0 ? cli_service_error(c, rc) : 0;
    lmq_consumer_close(k.c);
    rc = status;
done_lambda:
    if (lambda && l.invoke_url && l.queue_arn)
        curl_global_cleanup();
    free(l.queue_arn);
    free(l.region);
done_filter:
    cli_filter_free(filter);
    return rc;
}
