/*
 * check_stats.c: `lmq stats` (issue 25): the CloudWatch metrics of every
 * queue, the live --watch view (as JSON lines, and on a pseudo-terminal),
 * the per-minute --history (CSV and JSON) and the SVG --plot.
 *
 * Like check_cli.c, the process is the unit: the built tools/lmq (LMQ_BIN)
 * runs with --home in the test's temporary directory and --durability none,
 * and this file never opens an env itself. Numbers are asserted exactly
 * where the library counts them (totals, gauges) and loosely where time
 * divides them (rates: within bounds that hold on a slow machine).
 *
 * No test sleeps for an outcome. The watch test makes its samples
 * deterministic by stopping the watcher (SIGSTOP) between two samples while
 * it sends, so the next sample must see the sends. The history tests run
 * the home on its test clock (`lmq clock set`, `lmq clock advance`), so
 * minutes pass at once. Every child is waited for by pid; a child that
 * overstays its bound is killed and the test fails.
 */
#include "lmq_test.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#ifndef LMQ_BIN
#error "LMQ_BIN must name the built tools/lmq"
#endif

typedef struct run {
    int status; /* exit status, or 128 + signal */
    char *out;
    char *err;
} run;

static char home[300];

static void
home_setup(void)
{
    lmq_test_tmp_setup();
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
}

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* Fill argv: LMQ_BIN --home HOME --durability none, then args. */
static size_t
lmq_argv(const char **argv, size_t max, const char *const *args)
{
    size_t n = 0;
    argv[n++] = LMQ_BIN;
    argv[n++] = "--home";
    argv[n++] = home;
    argv[n++] = "--durability";
    argv[n++] = "none";
    for (size_t i = 0; args[i]; i++) {
        ck_assert_uint_lt(n, max - 1);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    return n;
}

/* Wait for pid for at most ms; kill it and fail when it overstays. */
static int
wait_bounded(pid_t pid, int64_t ms)
{
    int64_t deadline = mono_ms() + ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        ck_assert_int_eq(r, 0);
        if (mono_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            ck_abort_msg("pid %d still running after %lld ms", (int)pid,
                         (long long)ms);
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Run argv (argv[0] a path), stdout and stderr to files. */
static void
run_prog(run *r, const char *const *argv)
{
    char outp[300], errp[300];
    pid_t pid;

    snprintf(outp, sizeof outp, "%s/stdout", lmq_test_dir);
    snprintf(errp, sizeof errp, "%s/stderr", lmq_test_dir);
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
        unsetenv("LMQ_HOME");
        execv(argv[0], (char *const *)argv);
        _exit(121);
    }
    r->status = wait_bounded(pid, 30000);
    r->out = slurp(outp);
    r->err = slurp(errp);
}

static void
run_lmq(run *r, const char *const *args)
{
    const char *argv[64];
    lmq_argv(argv, 64, args);
    run_prog(r, argv);
}

#define RUN(r, ...) run_lmq((r), (const char *const[]){__VA_ARGS__, NULL})

/* Run and expect exit 0; returns stdout (malloc'd). */
static char *
run_ok_argv(const char *const *args)
{
    run r = {0};
    run_lmq(&r, args);
    ck_assert_msg(r.status == 0, "lmq %s %s: exit %d, stderr: %s", args[0],
                  args[1] ? args[1] : "", r.status, r.err);
    free(r.err);
    return r.out;
}

#define RUN_OK(...) free(run_ok_argv((const char *const[]){__VA_ARGS__, NULL}))
#define RUN_OUT(...) run_ok_argv((const char *const[]){__VA_ARGS__, NULL})

static json_t *
run_json_argv(const char *const *args)
{
    json_error_t je;
    char *out = run_ok_argv(args);
    json_t *doc = json_loads(out, 0, &je);
    ck_assert_msg(doc != NULL, "not JSON (%s): '%s'", je.text, out);
    free(out);
    return doc;
}

#define RUN_JSON(...) run_json_argv((const char *const[]){__VA_ARGS__, NULL})

static void
send_body(const char *q, const char *body)
{
    RUN_OK("send-message", "--queue-url", q, "--message-body", body);
}

/* The integer at a dotted path of obj ("Metrics.NumberOfMessagesSent"). */
static json_t *
jpath(json_t *obj, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k;
         k = strtok_r(NULL, ".", &save)) {
        obj = json_object_get(obj, k);
        ck_assert_msg(obj != NULL, "no %s (in %s)", k, path);
    }
    return obj;
}

static long long
jint(json_t *obj, const char *path)
{
    json_t *v = jpath(obj, path);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", path);
    return (long long)json_integer_value(v);
}

/* The queue named name in a stats document's Queues. */
static json_t *
queue_of(json_t *doc, const char *name)
{
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(doc, "Queues"), i, q)
    {
        if (strcmp(json_string_value(json_object_get(q, "QueueName")), name) ==
            0)
            return q;
    }
    ck_abort_msg("no queue %s", name);
    return NULL;
}

/* alpha: 3 sends (bodies of 1, 2 and 3 bytes), 2 received, 1 deleted;
 * beta: one empty receive. */
static void
make_traffic(void)
{
    RUN_OK("create-queue", "--queue-name", "alpha");
    RUN_OK("create-queue", "--queue-name", "beta");
    send_body("alpha", "a");
    send_body("alpha", "bb");
    send_body("alpha", "ccc");
    json_t *got = RUN_JSON("receive-message", "--queue-url", "alpha",
                           "--max-number-of-messages", "2",
                           "--visibility-timeout", "600");
    json_t *msgs = json_object_get(got, "Messages");
    ck_assert_uint_eq(json_array_size(msgs), 2);
    const char *h = json_string_value(
        json_object_get(json_array_get(msgs, 0), "ReceiptHandle"));
    RUN_OK("delete-message", "--queue-url", "alpha", "--receipt-handle", h);
    json_decref(got);
    char *out = RUN_OUT("receive-message", "--queue-url", "beta",
                        "--wait-time-seconds", "0");
    ck_assert_str_eq(out, ""); /* an empty receive prints nothing */
    free(out);
}

/* ---- one sample ------------------------------------------------------------
 */

START_TEST(stats_json_has_cloudwatch_numbers)
{
    make_traffic();
    json_t *doc = RUN_JSON("stats", "--output", "json");
    json_t *a = queue_of(doc, "alpha"), *b = queue_of(doc, "beta");

    ck_assert_int_eq(jint(a, "Metrics.NumberOfMessagesSent"), 3);
    ck_assert_int_eq(jint(a, "Metrics.NumberOfMessagesReceived"), 2);
    ck_assert_int_eq(jint(a, "Metrics.NumberOfMessagesDeleted"), 1);
    ck_assert_int_eq(jint(a, "Metrics.NumberOfEmptyReceives"), 0);
    ck_assert_int_eq(jint(a, "Metrics.SentMessageSize.SampleCount"), 3);
    ck_assert_int_eq(jint(a, "Metrics.SentMessageSize.Sum"), 6);
    ck_assert(json_real_value(jpath(a, "Metrics.SentMessageSize.Average")) ==
              2.0);
    ck_assert_int_eq(jint(a, "Metrics.ApproximateNumberOfMessagesVisible"), 1);
    ck_assert_int_eq(jint(a, "Metrics.ApproximateNumberOfMessagesNotVisible"),
                     1);
    ck_assert_int_eq(jint(a, "Metrics.ApproximateNumberOfMessagesDelayed"), 0);
    ck_assert_int_ge(jint(a, "Metrics.ApproximateAgeOfOldestMessage"), 0);
    /* the counters stats printed before issue 25 are still there */
    ck_assert_int_eq(jint(a, "ApproximateNumberOfMessages"), 1);
    ck_assert_int_eq(jint(a, "ApproximateNumberOfMessagesNotVisible"), 1);

    ck_assert_int_eq(jint(b, "Metrics.NumberOfMessagesSent"), 0);
    ck_assert_int_eq(jint(b, "Metrics.NumberOfEmptyReceives"), 1);
    ck_assert(json_is_null(jpath(b, "Metrics.SentMessageSize.Average")));
    json_decref(doc);

    /* --queue-url, --query and --output text apply */
    char *out =
        RUN_OUT("stats", "--queue-url", "alpha", "--query",
                "Queues[].Metrics.NumberOfMessagesSent", "--output", "text");
    ck_assert_str_eq(out, "3\n");
    free(out);

    /* the default table has the totals */
    out = RUN_OUT("stats");
    ck_assert_ptr_nonnull(strstr(out, "SENT"));
    char *row = strstr(out, "\nalpha ");
    ck_assert_ptr_nonnull(row);
    long long v[3], t[3];
    char age[32];
    ck_assert_int_eq(sscanf(row, " alpha %lld %lld %lld %31s %lld %lld %lld",
                            &v[0], &v[1], &v[2], age, &t[0], &t[1], &t[2]),
                     7);
    ck_assert(v[0] == 1 && v[1] == 1 && v[2] == 0);
    ck_assert(t[0] == 3 && t[1] == 2 && t[2] == 1);
    free(out);
}
END_TEST

START_TEST(stats_errors)
{
    run r = {0};
    RUN_OK("create-queue", "--queue-name", "alpha");

    /* a missing queue is the usual service error */
    RUN(&r, "stats", "--queue-url", "nope");
    ck_assert_int_eq(r.status, 254);
    ck_assert_ptr_nonnull(strstr(r.err, "An error occurred "
                                        "(AWS.SimpleQueueService.NonExistentQueue) when calling "
                                        "the Stats operation"));
    run_free(&r);
    RUN(&r, "stats", "--history", "--queue-url", "nope");
    ck_assert_int_eq(r.status, 254);
    run_free(&r);

    /* bad flags and mixes are usage errors */
    static const char *const bad[][6] = {
        {"stats", "--bogus", NULL},
        {"stats", "--interval", "1", NULL},
        {"stats", "--watch", "--interval", "0", NULL},
        {"stats", "--watch", "--count", "0", NULL},
        {"stats", "--watch", "--history", NULL},
        {"stats", "--history", "--format", "xml", NULL},
        {"stats", "--history", "--since", "yesterday", NULL},
        {"stats", "--since", "1h", NULL},
        {"stats", "--plot", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        run_lmq(&r, bad[i]);
        ck_assert_msg(r.status == 252, "%s %s: exit %d (want 252), %s",
                      bad[i][1], bad[i][2] ? bad[i][2] : "", r.status, r.err);
        /* argparse's "lmq: error: ...", or the AWS CLI's unknown-options
         * text, which has no "error:". */
        ck_assert_msg(strstr(r.err, "lmq: error: ") ||
                          strstr(r.err, "\nUnknown options: "),
                      "%s", r.err);
        ck_assert_str_eq(r.out, "");
        run_free(&r);
    }
    /* a plot that cannot be written */
    RUN(&r, "stats", "--plot", "/nonexistent-dir/x.svg");
    ck_assert_int_eq(r.status, 255);
    ck_assert_ptr_nonnull(strstr(r.err, "cannot write"));
    run_free(&r);
}
END_TEST

/* ---- --watch --output json -------------------------------------------------
 */

/* Read one line from fd (bounded by ms); returns it malloc'd. */
static char *
read_line(int fd, char *buf, size_t size, size_t *have, int64_t ms)
{
    int64_t deadline = mono_ms() + ms;
    for (;;) {
        char *nl = memchr(buf, '\n', *have);
        if (nl) {
            size_t len = (size_t)(nl - buf);
            char *line = strndup(buf, len);
            memmove(buf, nl + 1, *have - len - 1);
            *have -= len + 1;
            return line;
        }
        int64_t left = deadline - mono_ms();
        ck_assert_msg(left > 0, "no line within %lld ms (have '%.*s')",
                      (long long)ms, (int)*have, buf);
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ck_assert_uint_lt(*have, size);
        ssize_t k = read(fd, buf + *have, size - *have);
        ck_assert_msg(k > 0, "watcher closed its output early");
        *have += (size_t)k;
    }
}

START_TEST(watch_json_lines_count_and_rates)
{
    int fds[2];
    const char *argv[64];
    char buf[65536];
    size_t have = 0;
    json_t *doc[3];

    RUN_OK("create-queue", "--queue-name", "alpha");
    ck_assert_int_eq(pipe(fds), 0);
    lmq_argv(argv, 64,
             (const char *const[]){"stats", "--watch", "--output", "json",
                                   "--count", "3", "--interval", "1", NULL});
    fflush(stdout);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], (char *const *)argv);
        _exit(121);
    }
    close(fds[1]);
    for (int i = 0; i < 3; i++) {
        char *line = read_line(fds[0], buf, sizeof buf, &have, 10000);
        json_error_t je;
        ck_assert_ptr_null(strchr(line, '\033')); /* no ANSI codes */
        doc[i] = json_loads(line, 0, &je);
        ck_assert_msg(doc[i] != NULL, "line %d is not JSON: %s", i, line);
        free(line);
        if (i < 2) {
            /* Hold the watcher while sending, so its next sample comes
             * after every send: 2 before the second, 1 before the third. */
            ck_assert_int_eq(kill(pid, SIGSTOP), 0);
            send_body("alpha", "x");
            if (i == 0)
                send_body("alpha", "y");
            ck_assert_int_eq(kill(pid, SIGCONT), 0);
        }
    }
    ck_assert_int_eq(wait_bounded(pid, 10000), 0);
    /* nothing after the third line */
    ck_assert_int_eq(read(fds[0], buf, sizeof buf), 0);
    close(fds[0]);

    json_t *q0 = queue_of(doc[0], "alpha"), *q1 = queue_of(doc[1], "alpha"),
           *q2 = queue_of(doc[2], "alpha");
    ck_assert(json_is_string(json_object_get(doc[0], "Timestamp")));
    ck_assert_int_eq(jint(q0, "Metrics.NumberOfMessagesSent"), 0);
    ck_assert(json_is_null(json_object_get(q0, "Rates")));
    ck_assert_int_eq(jint(q1, "Metrics.NumberOfMessagesSent"), 2);
    ck_assert_int_eq(jint(q1, "Metrics.ApproximateNumberOfMessagesVisible"), 2);
    ck_assert_int_eq(jint(q2, "Metrics.NumberOfMessagesSent"), 3);
    /* 2 sends in at least a second, then 1: loosely, as time divides */
    double r1 = json_real_value(jpath(q1, "Rates.SentPerSecond"));
    double r2 = json_real_value(jpath(q2, "Rates.SentPerSecond"));
    ck_assert_msg(r1 > 0 && r1 <= 2.0, "rate 1: %g", r1);
    ck_assert_msg(r2 > 0 && r2 <= 1.0, "rate 2: %g", r2);
    ck_assert(json_real_value(jpath(q2, "Rates.ReceivedPerSecond")) == 0);
    for (int i = 0; i < 3; i++)
        json_decref(doc[i]);
}
END_TEST

/* ---- the watch view in a pseudo-terminal
 * ------------------------------------- */

/* Read the pty until `want` appears in what was read (or the child ends);
 * returns whether it appeared. */
static int
pty_read_until(int fd, char **acc, size_t *len, const char *want, int64_t ms)
{
    int64_t deadline = mono_ms() + ms;
    for (;;) {
        if (want && *acc && strstr(*acc, want))
            return 1;
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, (int)left);
        if (r <= 0)
            continue;
        char chunk[4096];
        ssize_t k = read(fd, chunk, sizeof chunk);
        if (k <= 0) /* EIO: the child closed its side */
            return want ? strstr(*acc ? *acc : "", want) != NULL : 1;
        char *n = realloc(*acc, *len + (size_t)k + 1);
        ck_assert_ptr_nonnull(n);
        memcpy(n + *len, chunk, (size_t)k);
        *len += (size_t)k;
        n[*len] = '\0';
        *acc = n;
    }
}

/* Run the view on a 100x30 pty; stop it with 'q' (by_signal 0) or SIGINT;
 * check the frames and the terminal put back. */
static void
watch_on_pty(int by_signal)
{
    const char *argv[64];
    struct winsize ws = {30, 100, 0, 0};
    char *acc = NULL;
    size_t len = 0;
    int master;

    RUN_OK("create-queue", "--queue-name", "alpha");
    RUN_OK("create-queue", "--queue-name", "beta-queue");
    send_body("alpha", "one");
    send_body("alpha", "two");
    send_body("beta-queue", "three");
    lmq_argv(
        argv, 64,
        (const char *const[]){"stats", "--watch", "--interval", "0.5", NULL});
    fflush(stdout);
    fflush(stderr);
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("TERM", "xterm", 1);
        execv(argv[0], (char *const *)argv);
        _exit(121);
    }
    /* The first frame, then a later one (rates and a sparkline). */
    int ok = pty_read_until(master, &acc, &len, "beta-queue", 10000);
    ok = ok && pty_read_until(master, &acc, &len, "\xe2\x96\x81", 10000);
    if (!ok) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        ck_abort_msg("no frame on the pty: '%s'", acc ? acc : "");
    }
    size_t seen = len;
    if (by_signal)
        ck_assert_int_eq(kill(pid, SIGINT), 0);
    else
        ck_assert_int_eq(write(master, "q", 1), 1);
    pty_read_until(master, &acc, &len, NULL, 5000);
    int st = wait_bounded(pid, 5000);
    close(master);
    ck_assert_msg(st == 0, "exit %d, output '%s'", st, acc);

    /* alternate screen, cursor hidden, frames from the home position with
     * each line cleared and the rest of the screen cleared */
    ck_assert_ptr_nonnull(strstr(acc, "\033[?1049h"));
    ck_assert_ptr_nonnull(strstr(acc, "\033[?25l"));
    ck_assert_ptr_nonnull(strstr(acc, "\033[H"));
    ck_assert_ptr_nonnull(strstr(acc, "\033[K"));
    ck_assert_ptr_nonnull(strstr(acc, "\033[J"));
    ck_assert_ptr_nonnull(strstr(acc, "VISIBLE"));
    /* the rows: alpha 2 visible, beta-queue 1 */
    const char *row = strstr(acc, "alpha ");
    long long v[3];
    ck_assert_ptr_nonnull(row);
    ck_assert_int_eq(sscanf(row, "alpha %lld %lld %lld", &v[0], &v[1], &v[2]),
                     3);
    ck_assert(v[0] == 2 && v[1] == 0 && v[2] == 0);
    row = strstr(acc, "beta-queue ");
    ck_assert_ptr_nonnull(row);
    ck_assert_int_eq(sscanf(row, "beta-queue %lld", &v[0]), 1);
    ck_assert_int_eq(v[0], 1);
    /* after the stop: cursor shown, attributes reset, main screen back */
    const char *tail = acc + (seen > 0 ? seen - 1 : 0);
    ck_assert_ptr_nonnull(strstr(tail, "\033[?25h"));
    ck_assert_ptr_nonnull(strstr(tail, "\033[0m"));
    ck_assert_ptr_nonnull(strstr(tail, "\033[?1049l"));
    free(acc);
}

START_TEST(watch_view_in_pty_quits_on_q) { watch_on_pty(0); }
END_TEST

START_TEST(watch_view_in_pty_stops_on_sigint) { watch_on_pty(1); }
END_TEST

START_TEST(watch_plain_frames_without_a_tty)
{
    RUN_OK("create-queue", "--queue-name", "alpha");
    send_body("alpha", "one");
    char *out =
        RUN_OUT("stats", "--watch", "--count", "2", "--interval", "0.2");
    ck_assert_ptr_null(strchr(out, '\033'));
    /* two frames, each with the header and the row */
    char *first = strstr(out, "VISIBLE");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_nonnull(strstr(first + 1, "VISIBLE"));
    ck_assert_ptr_null(strstr(strstr(first + 1, "VISIBLE") + 1, "VISIBLE"));
    ck_assert_ptr_nonnull(strstr(out, "\nalpha "));
    free(out);
}
END_TEST

/* ---- --history and --plot on the test clock ------------------------------ */

/* hq: minute 1: 2 sends; minute 2: a receive; minute 3: a send; then 30 s
 * on. Rows (state before the first write of each minute): 00:01 (nothing
 * yet), 00:02 (2 sent), 00:03 (2 sent, 1 received), and the queue now. */
static void
make_history(void)
{
    RUN_OK("clock", "enable");
    RUN_OK("clock", "set", "2030-01-01T00:00:00Z");
    RUN_OK("create-queue", "--queue-name", "hq");
    RUN_OK("clock", "advance", "1m");
    send_body("hq", "aa");
    send_body("hq", "bbb");
    RUN_OK("clock", "advance", "1m");
    free(RUN_OUT("receive-message", "--queue-url", "hq"));
    RUN_OK("clock", "advance", "1m");
    send_body("hq", "c");
    RUN_OK("clock", "advance", "30s");
}

/* Split a CSV line (no quoted fields here) into at most max fields. */
static size_t
csv_split(char *line, char **f, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

START_TEST(history_csv_per_minute)
{
    make_history();
    char *out = RUN_OUT("stats", "--history", "--format", "csv");
    char *save = NULL, *line, *f[32];
    size_t n;

    line = strtok_r(out, "\n", &save);
    ck_assert_str_eq(line, "Timestamp,Time,QueueName,Kind,NumberOfMessagesSent,"
                           "SentMessageSizeSum,NumberOfMessagesReceived,"
                           "NumberOfMessagesDeleted,NumberOfEmptyReceives,"
                           "ApproximateNumberOfMessagesVisible,"
                           "ApproximateNumberOfMessagesNotVisible,"
                           "ApproximateNumberOfMessagesDelayed,"
                           "ApproximateAgeOfOldestMessage,SentPerMinute,"
                           "ReceivedPerMinute,DeletedPerMinute,"
                           "EmptyReceivesPerMinute,NumberOfMessagesDropped,"
                           "NumberOfMessagesExpired,NumberOfMessagesPurged,"
                           "NumberOfMessagesMoved,LmqStoredBytes");
    /* minute, kind, then sent..delayed (8 numbers) exactly */
    static const struct {
        const char *minute, *kind, *nums;
    } want[] = {
        {"2030-01-01T00:01:", "minute", "0,0,0,0,0,0,0,0"},
        {"2030-01-01T00:02:", "minute", "2,5,0,0,0,2,0,0"},
        {"2030-01-01T00:03:", "minute", "2,5,1,0,0,2,0,0"},
        {"2030-01-01T00:03:", "now", "3,6,1,0,0,3,0,0"},
    };
    for (size_t i = 0; i < 4; i++) {
        line = strtok_r(NULL, "\n", &save);
        ck_assert_msg(line != NULL, "row %zu missing", i);
        n = csv_split(line, f, 32);
        ck_assert_uint_eq(n, 22);
        ck_assert_msg(strncmp(f[0], want[i].minute, 17) == 0, "row %zu: %s", i,
                      f[0]);
        ck_assert_str_eq(f[2], "hq");
        ck_assert_str_eq(f[3], want[i].kind);
        char nums[128];
        snprintf(nums, sizeof nums, "%s,%s,%s,%s,%s,%s,%s,%s", f[4], f[5], f[6],
                 f[7], f[8], f[9], f[10], f[11]);
        ck_assert_str_eq(nums, want[i].nums);
        /* nothing removed: no drops, expiries, purges or moves, and the
         * stored bytes are the bytes sent */
        for (int k = 17; k < 21; k++)
            ck_assert_str_eq(f[k], "0");
        ck_assert_str_eq(f[21], f[5]);
        if (i == 0) {
            /* the first row has no rates */
            for (int k = 13; k < 17; k++)
                ck_assert_str_eq(f[k], "");
        }
        if (i == 1) {
            /* 2 sends in a minute (and the little real time the test
             * took: the test clock is an offset on the system clock) */
            double r = strtod(f[13], NULL);
            ck_assert_msg(r > 1.5 && r <= 2.0, "sent/min %g", r);
            ck_assert_str_eq(f[14], "0");
        }
        if (i == 2) {
            double r = strtod(f[14], NULL);
            ck_assert_msg(r > 0.75 && r <= 1.0, "received/min %g", r);
        }
        /* the age of the oldest message only in the live row: the
         * oldest was sent at 00:01, the clock is past 00:03:30 */
        if (i == 3)
            ck_assert_int_ge(atoi(f[12]), 150);
        else
            ck_assert_str_eq(f[12], "");
    }
    ck_assert_ptr_null(strtok_r(NULL, "\n", &save));
    free(out);

    /* --since narrows the window (the clock is at 00:03:30 and a bit) */
    out = RUN_OUT("stats", "--history", "--since", "2030-01-01T00:02:30Z",
                  "--format", "csv");
    ck_assert_ptr_null(strstr(out, "T00:01:"));
    ck_assert_ptr_null(strstr(out, "T00:02:"));
    ck_assert_ptr_nonnull(strstr(out, "T00:03:"));
    free(out);
    /* --until before now: no live row */
    out = RUN_OUT("stats", "--history", "--until", "2030-01-01T00:02:30Z",
                  "--format", "csv");
    ck_assert_ptr_nonnull(strstr(out, "T00:02:"));
    ck_assert_ptr_null(strstr(out, ",now,"));
    free(out);
}
END_TEST

START_TEST(history_json_honours_query)
{
    make_history();
    json_t *doc = RUN_JSON("stats", "--history", "--output", "json");
    json_t *rows = json_object_get(doc, "Samples");
    ck_assert_uint_eq(json_array_size(rows), 4);
    json_t *r3 = json_array_get(rows, 3);
    ck_assert_str_eq(json_string_value(json_object_get(r3, "Kind")), "now");
    ck_assert_int_eq(jint(r3, "NumberOfMessagesSent"), 3);
    ck_assert_int_eq(jint(r3, "SentMessageSizeSum"), 6);
    ck_assert(json_is_null(
        json_object_get(json_array_get(rows, 0), "SentPerMinute")));
    json_decref(doc);
    char *out = RUN_OUT("stats", "--history", "--query",
                        "Samples[].NumberOfMessagesSent", "--output", "text");
    ck_assert_str_eq(out, "0\t2\t2\t3\n");
    free(out);
}
END_TEST

START_TEST(plot_is_svg_with_every_series)
{
    char svg[300], script[300];
    run r = {0};
    make_history();
    RUN_OK("create-queue", "--queue-name", "other");
    send_body("other", "z");
    snprintf(svg, sizeof svg, "%s/q.svg", lmq_test_dir);
    char *out = RUN_OUT("stats", "--plot", svg);
    ck_assert_str_eq(out, "");
    free(out);

    /* Parse it with python3's XML parser and count each series' points. */
    snprintf(script, sizeof script, "%s/count.py", lmq_test_dir);
    FILE *f = fopen(script, "w");
    ck_assert_ptr_nonnull(f);
    fputs("import sys, xml.etree.ElementTree as ET\n"
          "NS = '{http://www.w3.org/2000/svg}'\n"
          "root = ET.parse(sys.argv[1]).getroot()\n"
          "assert root.tag == NS + 'svg', root.tag\n"
          "for p in root.iter(NS + 'polyline'):\n"
          "    pts = p.get('points').split()\n"
          "    for xy in pts:\n"
          "        x, y = (float(v) for v in xy.split(','))\n"
          "        assert 0 <= x <= float(root.get('width'))\n"
          "        assert 0 <= y <= float(root.get('height'))\n"
          "    print(p.get('data-queue'), p.get('data-series'), len(pts))\n"
          "texts = ''.join(t.text or '' for t in root.iter(NS + 'text'))\n"
          "print('legend', 'in flight' in texts and 'sent / min' in texts)\n",
          f);
    fclose(f);
    run_prog(&r, (const char *const[]){"/usr/bin/env", "python3", script, svg,
                                       NULL});
    ck_assert_msg(r.status == 0, "python3: %d %s", r.status, r.err);
    /* hq: 4 rows (3 minutes and now) -> 4 depth points, 3 rate points;
     * other: the row its send made (the state before it) and now -> 2
     * depth points, 1 rate point. */
    ck_assert_msg(
        strstr(r.out, "hq visible 4\n") && strstr(r.out, "hq inflight 4\n") &&
            strstr(r.out, "hq sent 3\n") && strstr(r.out, "hq received 3\n") &&
            strstr(r.out, "hq deleted 3\n") &&
            strstr(r.out, "other visible 2\n") &&
            strstr(r.out, "other inflight 2\n") &&
            strstr(r.out, "other sent 1\n") &&
            strstr(r.out, "other deleted 1\n") &&
            strstr(r.out, "legend True\n"),
        "series: %s", r.out);
    run_free(&r);
}
END_TEST

Suite *
lmq_suite_stats(void)
{
    Suite *s = suite_create("stats");
    TCase *tc;

    tc = tcase_create("sample");
    tcase_add_checked_fixture(tc, home_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, stats_json_has_cloudwatch_numbers);
    tcase_add_test(tc, stats_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("watch");
    tcase_add_checked_fixture(tc, home_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, watch_json_lines_count_and_rates);
    tcase_add_test(tc, watch_view_in_pty_quits_on_q);
    tcase_add_test(tc, watch_view_in_pty_stops_on_sigint);
    tcase_add_test(tc, watch_plain_frames_without_a_tty);
    suite_add_tcase(s, tc);

    tc = tcase_create("history");
    tcase_add_checked_fixture(tc, home_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, history_csv_per_minute);
    tcase_add_test(tc, history_json_honours_query);
    tcase_add_test(tc, plot_is_svg_with_every_series);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_stats());
}
