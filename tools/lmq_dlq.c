/*
 * lmq_dlq.c: the dead-letter subcommands of `lmq` (shaped like `aws sqs`):
 * list-dead-letter-source-queues, start-message-move-task,
 * list-message-move-tasks and cancel-message-move-task, and the DLQ part of
 * `lmq demo`.
 *
 * start-message-move-task prints {"TaskHandle": ...} at once (so another
 * terminal can list or cancel the task) and then runs the task in the
 * foreground, because in lmq a task is run by a process of the caller's
 * choosing (docs/DLQ.md); a progress bar goes to stderr when it is a
 * terminal, and Ctrl-C cancels the task (messages already moved stay
 * moved). --no-wait instead hands the task to a detached background process
 * and returns. A task that FAILED exits with the service-error status.
 */
#include "lmq_cli.h"

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define F_END {NULL, 0, 0, NULL}

const cli_flag cli_f_list_dead_letter_source_queues[] = {
    {"queue-url", CLI_STRING, 1, "URL (or name) of the dead-letter queue"},
    {"next-token", CLI_STRING, 0, "NextToken of the previous page"},
    {"max-results", CLI_INT, 0, "page size 1-1000 (enables NextToken)"},
    CLI_F_PAGING,
    F_END};
const cli_flag cli_f_start_message_move_task[] = {
    {"source-arn", CLI_STRING, 1, "ARN of the dead-letter queue"},
    {"destination-arn", CLI_STRING, 0,
     "ARN of the destination (default: each message's source queue)"},
    {"max-number-of-messages-per-second", CLI_INT, 0, "rate limit, 1-500"},
    {"no-wait", CLI_BOOL, 0,
     "run the task in a background process and return at once"},
    F_END};
const cli_flag cli_f_list_message_move_tasks[] = {
    {"source-arn", CLI_STRING, 1, "ARN of the dead-letter queue"},
    {"max-results", CLI_INT, 0, "how many of the most recent tasks, 1-10 "
                                "(default 1)"},
    F_END};
const cli_flag cli_f_cancel_message_move_task[] = {
    {"task-handle", CLI_STRING, 1, "TaskHandle from start-message-move-task"},
    F_END};

/* ---- flags --------------------------------------------------------------- */

static const char *
flag_str(const cli_ctx *c, const char *name)
{
    for (size_t i = 0; c->cmd->flags[i].name; i++)
        if (strcmp(c->cmd->flags[i].name, name) == 0)
            return c->opt[i].set && c->opt[i].n ? c->opt[i].tok[0].s : NULL;
    return NULL;
}

static bool
flag_set(const cli_ctx *c, const char *name)
{
    for (size_t i = 0; c->cmd->flags[i].name; i++)
        if (strcmp(c->cmd->flags[i].name, name) == 0)
            return c->opt[i].set;
    return false;
}

/* An integer flag: def when absent, -1 after printing a usage error. */
static int
flag_int(const cli_ctx *c, const char *name, int def, int *out)
{
    const char *s = flag_str(c, name);
    char *end;
    *out = def;
    if (!s)
        return 0;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < -2147483647L || v > 2147483647L) {
        cli_param_error("Invalid type for parameter --%s, value: %s, valid "
                        "types: <class 'int'>",
                        name, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* ---- list-dead-letter-source-queues -------------------------------------- */

static int
dlq_sources_page(cli_ctx *c, int max, const char *token, json_t **items,
                 char **next)
{
    char **names = NULL, *dlq = NULL;
    int rc;
    if ((rc = lmq_queue_name_from_url(flag_str(c, "queue-url"), &dlq)) != 0)
        return cli_service_error(c, rc);
    rc = lmq_dlq_list_sources(c->env, dlq, max, token, &names, next);
    free(dlq);
    if (rc != 0)
        return cli_service_error(c, rc);
    *items = json_array();
    for (size_t i = 0; names[i]; i++) {
        char *url = NULL;
        if (lmq_queue_url(c->env, names[i], &url) == 0)
            json_array_append_new(*items, json_string(url));
        free(url);
    }
    lmq_strv_free(names);
    return 0;
}

int
cli_cmd_list_dead_letter_source_queues(cli_ctx *c)
{
    int max, rc;
    if (flag_int(c, "max-results", 0, &max) < 0)
        return CLI_EXIT_USAGE;
    if (flag_set(c, "max-results") && (max < 1 || max > 1000)) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "Value %d for parameter MaxResults is invalid. Reason: "
                 "MaxResults must be an integer between 1 and 1000.",
                 max);
        return cli_op_error(c->cmd->op, "InvalidParameterValue", msg);
    }
    if ((rc = cli_env(c)) != 0)
        return rc;
    /* queueUrls is required in SQS's output shape: always present. */
    return cli_paginate(c, "queueUrls", 1, dlq_sources_page);
}

/* ---- start-message-move-task ------------------------------------------------ */

static volatile sig_atomic_t interrupted;

static void
on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

struct bar {
    bool tty;
    int drawn;
};

static int
progress(void *arg, uint64_t moved, uint64_t to_move)
{
    struct bar *b = arg;
    if (b->tty) {
        enum { WIDTH = 30 };
        uint64_t total = to_move > moved ? to_move : moved;
        int fill = total ? (int)(moved * WIDTH / total) : WIDTH;
        char line[WIDTH + 1];
        memset(line, '#', (size_t)fill);
        memset(line + fill, '.', (size_t)(WIDTH - fill));
        line[WIDTH] = '\0';
        fprintf(stderr, "\rmoving [%s] %llu/%llu%s", line,
                (unsigned long long)moved, (unsigned long long)total,
                interrupted ? " (cancelling)" : "");
        fflush(stderr);
        b->drawn = 1;
    }
    return interrupted != 0;
}

/* Run the task and report how it ended: 0, or an exit status. */
static int
run_task(cli_ctx *c, const char *handle, bool tty)
{
    struct bar b = {tty, 0};
    struct sigaction sa, old;
    int st = -1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    int rc = lmq_move_task_run(c->env, handle, progress, &b, &st);
    sigaction(SIGINT, &old, NULL);
    if (b.drawn)
        fputc('\n', stderr);
    if (rc != 0)
        return cli_service_error(c, rc);
    if (st == LMQ_MOVE_FAILED || st == LMQ_MOVE_CANCELLED) {
        lmq_move_task *t = NULL;
        size_t n = 0;
        const char *src = flag_str(c, "source-arn");
        if (st == LMQ_MOVE_CANCELLED) {
            fprintf(stderr, "lmq: the move task was cancelled\n");
            return 0;
        }
        if (lmq_move_task_list(c->env, src, 1, &t, &n) == 0 && n == 1 &&
            t[0].failure_reason)
            fprintf(stderr, "lmq: the move task failed: %s\n",
                    t[0].failure_reason);
        else
            fprintf(stderr, "lmq: the move task failed\n");
        lmq_move_task_list_free(t, n);
        return CLI_EXIT_SERVICE;
    }
    return 0;
}

/* Hand the task to a detached process (which opens its own env: no env may
 * cross fork). */
static int
run_detached(cli_ctx *c, const char *handle)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("lmq: fork");
        return CLI_EXIT_OTHER;
    }
    if (pid > 0) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : CLI_EXIT_OTHER;
    }
    /* First child: a new session, then a grandchild that runs the task,
     * so the runner is adopted by init and never becomes our zombie. */
    if (setsid() < 0)
        _exit(1);
    pid = fork();
    if (pid != 0)
        _exit(pid < 0 ? 1 : 0);
    FILE *f = freopen("/dev/null", "r", stdin);
    f = f ? freopen("/dev/null", "w", stdout) : NULL;
    f = f ? freopen("/dev/null", "w", stderr) : NULL;
    (void)f;
    lmq_env_opts o;
    lmq_env *env = NULL;
    cli_env_opts(c, &o);
    if (lmq_env_open(c->home, &o, &env) != 0)
        _exit(1);
    int st = -1;
    int rc = lmq_move_task_run(env, handle, NULL, NULL, &st);
    lmq_env_close(env);
    _exit(rc == 0 ? 0 : 1);
}

int
cli_cmd_start_message_move_task(cli_ctx *c)
{
    char *handle = NULL;
    int rate, rc;
    if (flag_int(c, "max-number-of-messages-per-second", 0, &rate) < 0)
        return CLI_EXIT_USAGE;
    if (flag_set(c, "max-number-of-messages-per-second") && rate < 1) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "Value %d for parameter MaxNumberOfMessagesPerSecond is "
                 "invalid. Reason: it must be between 1 and 500.",
                 rate);
        return cli_op_error(c->cmd->op, "InvalidParameterValue", msg);
    }
    if ((rc = cli_env(c)) != 0)
        return rc;
    rc = lmq_move_task_start(c->env, flag_str(c, "source-arn"),
                             flag_str(c, "destination-arn"), rate, &handle);
    if (rc != 0)
        return cli_service_error(c, rc);
    json_t *doc = json_object();
    json_object_set_new(doc, "TaskHandle", json_string(handle));
    cli_print(c, doc);
    fflush(stdout);
    if (flag_set(c, "no-wait")) {
        /* No env may cross fork(): close ours first. */
        lmq_env_close(c->env);
        c->env = NULL;
        rc = run_detached(c, handle);
    } else {
        rc = run_task(c, handle, isatty(STDERR_FILENO));
    }
    free(handle);
    return rc;
}

/* ---- list-message-move-tasks and cancel-message-move-task ----------------- */

int
cli_cmd_list_message_move_tasks(cli_ctx *c)
{
    lmq_move_task *t = NULL;
    size_t n = 0;
    int max, rc;
    if (flag_int(c, "max-results", 0, &max) < 0)
        return CLI_EXIT_USAGE;
    if (flag_set(c, "max-results") && (max < 1 || max > 10)) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "Value %d for parameter MaxResults is invalid. Reason: "
                 "MaxResults must be between 1 and 10.",
                 max);
        return cli_op_error(c->cmd->op, "InvalidParameterValue", msg);
    }
    if ((rc = cli_env(c)) != 0)
        return rc;
    rc = lmq_move_task_list(c->env, flag_str(c, "source-arn"), max, &t, &n);
    if (rc != 0)
        return cli_service_error(c, rc);
    json_t *doc = json_object(), *res = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        if (t[i].task_handle)
            json_object_set_new(o, "TaskHandle",
                                json_string(t[i].task_handle));
        json_object_set_new(o, "Status",
                            json_string(lmq_move_status_name(t[i].status)));
        json_object_set_new(o, "SourceArn", json_string(t[i].source_arn));
        if (t[i].destination_arn)
            json_object_set_new(o, "DestinationArn",
                                json_string(t[i].destination_arn));
        if (t[i].max_per_second)
            json_object_set_new(o, "MaxNumberOfMessagesPerSecond",
                                json_integer(t[i].max_per_second));
        json_object_set_new(o, "ApproximateNumberOfMessagesMoved",
                            json_integer((json_int_t)t[i].moved));
        json_object_set_new(o, "ApproximateNumberOfMessagesToMove",
                            json_integer((json_int_t)t[i].to_move));
        if (t[i].failure_reason)
            json_object_set_new(o, "FailureReason",
                                json_string(t[i].failure_reason));
        json_object_set_new(o, "StartedTimestamp",
                            json_integer(t[i].started_ms));
        json_array_append_new(res, o);
    }
    lmq_move_task_list_free(t, n);
    json_object_set_new(doc, "Results", res);
    cli_print(c, doc);
    return 0;
}

int
cli_cmd_cancel_message_move_task(cli_ctx *c)
{
    uint64_t moved = 0;
    int rc;
    if ((rc = cli_env(c)) != 0)
        return rc;
    rc = lmq_move_task_cancel(c->env, flag_str(c, "task-handle"), &moved);
    if (rc != 0)
        return cli_service_error(c, rc);
    json_t *doc = json_object();
    json_object_set_new(doc, "ApproximateNumberOfMessagesMoved",
                        json_integer((json_int_t)moved));
    cli_print(c, doc);
    return 0;
}

/* ---- demo ----------------------------------------------------------------- */

/* A poison message lands in the DLQ after maxReceiveCount failed
 * deliveries, then a move task brings it back once "the bug is fixed". */
int
cli_demo_dlq(cli_ctx *c, const char *prefix)
{
    char jobs[96], dlq[96], attr[512], *dlq_arn = NULL, *handle = NULL;
    lmq_queue *q = NULL, *d = NULL;
    lmq_map *a = NULL, *got = NULL;
    lmq_msg *m[10];
    size_t n;
    int rc, st = -1, ok = 0;
    const char *names[] = {"QueueArn", NULL};
    lmq_recv_opts o;
    lmq_send_entry e;

    if ((rc = cli_env(c)) != 0)
        return rc;
    snprintf(jobs, sizeof jobs, "%s-jobs", prefix);
    snprintf(dlq, sizeof dlq, "%s-dlq", prefix);
    if ((rc = lmq_queue_create(c->env, dlq, NULL, NULL, NULL)) != 0 ||
        (rc = lmq_queue_get_attributes(c->env, dlq, names, &got)) != 0)
        goto fail;
    dlq_arn = strdup(lmq_map_get(got, "QueueArn"));
    snprintf(attr, sizeof attr,
             "{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":2}",
             dlq_arn ? dlq_arn : "");
    if (!(a = lmq_map_new()) ||
        (rc = lmq_map_set(a, "RedrivePolicy", attr)) != 0 ||
        (rc = lmq_queue_create(c->env, jobs, a, NULL, NULL)) != 0 ||
        (rc = lmq_queue_open(c->env, jobs, &q)) != 0 ||
        (rc = lmq_queue_open(c->env, dlq, &d)) != 0)
        goto fail;
    printf("\ndemo: dead-letter queues: %s has RedrivePolicy %s\n", jobs,
           attr);
    lmq_send_entry_init(&e);
    e.body = "poison: a job the handler cannot process";
    if ((rc = lmq_send(q, &e, NULL)) != 0)
        goto fail;
    lmq_recv_opts_init(&o);
    o.visibility_timeout = 0; /* a failed handler: visible again at once */
    o.wait_seconds = 0;
    for (;;) {
        if ((rc = lmq_receive(q, &o, m, 1, &n)) != 0)
            goto fail;
        if (n == 0)
            break;
        printf("demo: delivery %u of the poison message: the handler "
               "fails\n",
               lmq_msg_receive_count(m[0]));
        lmq_msg_free(m[0]);
    }
    o.visibility_timeout = 30;
    if ((rc = lmq_receive(d, &o, m, 1, &n)) != 0)
        goto fail;
    if (n == 1) {
        printf("demo: the next receive moved it to %s (receive count %u, "
               "DeadLetterQueueSourceArn %s)\n",
               dlq, lmq_msg_receive_count(m[0]),
               lmq_msg_sys_attr(m[0], "DeadLetterQueueSourceArn"));
        /* Put it back as it was for the move task. */
        rc = lmq_change_visibility(d, lmq_msg_receipt(m[0]), 0, NULL);
        lmq_msg_free(m[0]);
        if (rc)
            goto fail;
    }
    printf("demo: the bug is fixed: start-message-move-task --source-arn "
           "%s\n",
           dlq_arn);
    if ((rc = lmq_move_task_start(c->env, dlq_arn, NULL, 0, &handle)) != 0 ||
        (rc = lmq_move_task_run(c->env, handle, NULL, NULL, &st)) != 0)
        goto fail;
    if ((rc = lmq_receive(q, &o, m, 1, &n)) != 0)
        goto fail;
    if (n == 1 && st == LMQ_MOVE_COMPLETED) {
        printf("demo: task %s; back in %s as a new message, handled and "
               "deleted\n",
               lmq_move_status_name(st), jobs);
        rc = lmq_delete(q, lmq_msg_receipt(m[0]), NULL);
        lmq_msg_free(m[0]);
        ok = rc == 0;
    }
fail:
    if (rc)
        cli_service_error_op("Demo", rc);
    else if (!ok)
        printf("demo: the poison message did not come back\n");
    lmq_queue_close(q);
    lmq_queue_close(d);
    lmq_queue_delete(c->env, jobs);
    lmq_queue_delete(c->env, dlq);
    lmq_map_free(a);
    lmq_map_free(got);
    free(dlq_arn);
    free(handle);
    return ok ? 0 : 1;
}
