/*
 * lmq_stats.c: `lmq stats`, the queues' numbers under CloudWatch's SQS
 * metric names (issue 25).
 *
 *   lmq stats [--queue-url Q]                     one sample, table or JSON
 *   lmq stats --watch [--interval S] [--count N]  a live view (or JSON lines)
 *   lmq stats --history [--since W] [--until W] [--format json|csv]
 *   lmq stats --plot FILE.svg [--since W] [--until W]
 *
 * Every number comes from the library: lmq_queue_metrics_get() for a live
 * sample (running totals and gauges read in one transaction) and
 * lmq_queue_metrics_history() for the per-minute samples the home keeps.
 * The tool only subtracts: a rate is the difference of two totals over the
 * time between the samples. --watch times its own samples with
 * CLOCK_MONOTONIC (a home on the test clock may not move between two
 * samples); --history and --plot use the samples' own times (the home's
 * clock), so minutes moved with `lmq clock advance` count.
 *
 * The watch view on a terminal: the alternate screen, the cursor hidden,
 * each frame written at once (cursor home, each line cleared to its end,
 * the rest of the screen cleared), the keyboard read in non-canonical mode
 * for 'q'. SIGINT, SIGTERM and 'q' end it with status 0 after the terminal
 * is put back (cursor shown, attributes reset, main screen, termios as it
 * was). The signals are blocked except inside ppoll(), so one that arrives
 * between the check of the flag and the wait still ends the wait.
 * Not on a terminal (a pipe, a file) it prints plain frames one after the
 * other; with --output json one compact JSON document per sample per line.
 *
 * The SVG of --plot is written with fprintf: it is plain text, and the only
 * strings in it that come from outside (queue names) are XML-escaped.
 * Rejected: PNG (a dependency for pixels nobody asked for; the issue allows
 * SVG) and a plotting library.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* ppoll, open_memstream */
#endif
#include "lmq_cli.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

const cli_flag cli_f_stats[] = {
    {"queue-url", CLI_STRING, 0, "only this queue (URL or bare name)"},
    {"watch", CLI_BOOL, 0, "live view; q or Ctrl-C ends it"},
    {"interval", CLI_STRING, 0, "--watch: seconds, 0.1-3600 (default 2)"},
    {"count", CLI_INT, 0, "--watch: stop after N samples"},
    {"history", CLI_BOOL, 0, "the per-minute samples, and now"},
    {"format", CLI_STRING, 0, "--history: json (default) or csv"},
    {"since", CLI_STRING, 0, "30m, 2h, 1d ago, epoch s/ms or ISO time"},
    {"until", CLI_STRING, 0, "the same forms (default now)"},
    {"plot", CLI_STRING, 0, "write an SVG chart to this file"},
    {NULL, CLI_STRING, 0, NULL}};

/* The default seconds between --watch samples. */
#define WATCH_DEFAULT_INTERVAL 2.0
/* Samples a sparkline remembers: wider than any terminal row needs. */
#define SPARK_MAX 256

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- queues and samples ----------------------------------------------------
 */

static void
names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The queues to look at: --queue-url's, or every queue of the home in name
 * order. *only is set when --queue-url named one (a missing queue is then
 * an error, not a queue deleted since the listing). 0, or an exit status
 * after printing the error. */
static int
queue_names(cli_ctx *c, char ***out, size_t *n, int *only)
{
    const char *url = cli_opt_str(c, "queue-url");
    char **v = NULL, *token = NULL;
    size_t cnt = 0, cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    *only = url != NULL;
    if (url) {
        char *name = NULL;
        if ((rc = lmq_queue_name_from_url(url, &name)) != 0)
            return cli_service_error(c, rc);
        if (!(v = malloc(sizeof *v))) {
            free(name);
            return CLI_EXIT_OTHER;
        }
        v[0] = name;
        *out = v;
        *n = 1;
        return 0;
    }
    do {
        char **page = NULL, *next = NULL;
        rc = lmq_queue_list(c->env, NULL, 1000, token, &page, &next);
        free(token);
        token = NULL;
        if (rc != 0) {
            names_free(v, cnt);
            return cli_service_error_op("ListQueues", rc);
        }
        for (size_t i = 0; page[i]; i++) {
            if (cnt == cap) {
                size_t nc = cap ? cap * 2 : 16;
                char **nv = realloc(v, nc * sizeof *nv);
                if (!nv)
                    break;
                v = nv;
                cap = nc;
            }
            if (!(v[cnt] = strdup(page[i])))
                break;
            cnt++;
        }
        lmq_strv_free(page);
        token = next;
    } while (token);
    *out = v;
    *n = cnt;
    return 0;
}

/* One live sample of name. 0; 1 when the queue is gone and that is not an
 * error (it was deleted since the listing); else an exit status after
 * printing the error. */
static int
sample(cli_ctx *c, const char *name, int only, lmq_queue_metrics *m)
{
    int rc;

    memset(m, 0, sizeof *m);
    m->size = sizeof *m;
    rc = lmq_queue_metrics_get(c->env, name, m);
    if (rc == LMQ_ENOQUEUE && !only)
        return 1;
    if (rc != 0)
        return cli_service_error(c, rc);
    return 0;
}

/* The queue's metrics under CloudWatch's names. SentMessageSize is a
 * statistic in CloudWatch, not a counter: it is given as the statistics a
 * running total supports (SampleCount, Sum, Average, in bytes; Average is
 * null before the first send). ApproximateAgeOfOldestMessage is in
 * seconds, as CloudWatch reports it. */
/* lmq's own totals of messages removed without a delete, named as
 * CloudWatch names its counts (it has none for these), and the stored
 * bytes (docs/METRICS.md). */
static void
removals_json(json_t *o, const lmq_queue_metrics *m)
{
    json_object_set_new(o, "NumberOfMessagesDropped",
                        json_integer((json_int_t)m->dropped));
    json_object_set_new(o, "NumberOfMessagesExpired",
                        json_integer((json_int_t)m->expired));
    json_object_set_new(o, "NumberOfMessagesPurged",
                        json_integer((json_int_t)m->purged));
    json_object_set_new(o, "NumberOfMessagesMoved",
                        json_integer((json_int_t)m->moved));
    json_object_set_new(o, "LmqStoredBytes",
                        json_integer((json_int_t)m->stored_bytes));
}

static json_t *
metrics_json(const lmq_queue_metrics *m)
{
    json_t *o = json_object(), *size = json_object();

    json_object_set_new(o, "NumberOfMessagesSent",
                        json_integer((json_int_t)m->sent));
    json_object_set_new(o, "NumberOfMessagesReceived",
                        json_integer((json_int_t)m->received));
    json_object_set_new(o, "NumberOfMessagesDeleted",
                        json_integer((json_int_t)m->deleted));
    json_object_set_new(o, "NumberOfEmptyReceives",
                        json_integer((json_int_t)m->empty_receives));
    removals_json(o, m);
    json_object_set_new(size, "SampleCount", json_integer((json_int_t)m->sent));
    json_object_set_new(size, "Sum", json_integer((json_int_t)m->sent_bytes));
    json_object_set_new(size, "Average",
                        m->sent
                            ? json_real((double)m->sent_bytes / (double)m->sent)
                            : json_null());
    json_object_set_new(o, "SentMessageSize", size);
    json_object_set_new(o, "ApproximateNumberOfMessagesVisible",
                        json_integer(m->visible));
    json_object_set_new(o, "ApproximateNumberOfMessagesNotVisible",
                        json_integer(m->not_visible));
    json_object_set_new(o, "ApproximateNumberOfMessagesDelayed",
                        json_integer(m->delayed));
    json_object_set_new(o, "ApproximateAgeOfOldestMessage",
                        m->oldest_age_ms >= 0
                            ? json_integer(m->oldest_age_ms / 1000)
                            : json_null());
    return o;
}

static const char *
map_mode_name(const lmq_env *env)
{
    return lmq_env_map_mode(env) == LMQ_MAP_WRITABLE ? "writable" : "pwrite";
}

/* An age as a person reads it: "42s", "3m05s", "2h10m", "4d02h"; "-" for
 * an empty queue. */
static void
human_age(int64_t ms, int empty, char *buf, size_t size)
{
    int64_t s = ms / 1000;
    if (empty || ms < 0)
        snprintf(buf, size, "-");
    else if (s < 60)
        snprintf(buf, size, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(buf, size, "%lldm%02llds", (long long)(s / 60),
                 (long long)(s % 60));
    else if (s < 86400)
        snprintf(buf, size, "%lldh%02lldm", (long long)(s / 3600),
                 (long long)(s % 3600 / 60));
    else
        snprintf(buf, size, "%lldd%02lldh", (long long)(s / 86400),
                 (long long)(s % 86400 / 3600));
}

/* ---- lmq stats (one sample) ---------------------------------------------- */

static int
stats_once(cli_ctx *c)
{
    char **names;
    size_t n, i;
    int only, rc;
    json_t *queues = json_array(), *q;

    if ((rc = queue_names(c, &names, &n, &only)) != 0) {
        json_decref(queues);
        return rc;
    }
    for (i = 0; i < n; i++) {
        lmq_queue_metrics m;
        if ((rc = sample(c, names[i], only, &m)) == 1)
            continue;
        if (rc != 0) {
            names_free(names, n);
            json_decref(queues);
            return rc;
        }
        q = json_object();
        json_object_set_new(q, "QueueName", json_string(names[i]));
        json_object_set_new(q, "ApproximateNumberOfMessages",
                            json_integer(m.visible));
        json_object_set_new(q, "ApproximateNumberOfMessagesNotVisible",
                            json_integer(m.not_visible));
        json_object_set_new(q, "ApproximateNumberOfMessagesDelayed",
                            json_integer(m.delayed));
        json_object_set_new(q, "Metrics", metrics_json(&m));
        json_array_append_new(queues, q);
    }
    names_free(names, n);

    /* --output (json, text, table, yaml, yaml-stream; or
     * $AWS_DEFAULT_OUTPUT) or a --query print the document as every
     * command prints its response; without them, the table below. */
    if (c->output_set || c->query) {
        json_t *doc = json_object();
        json_object_set_new(doc, "MapMode", json_string(map_mode_name(c->env)));
        json_object_set_new(doc, "Queues", queues);
        cli_print(c, doc);
        return 0;
    }
    /* The default: a table sized to the longest name. */
    size_t w = strlen("QUEUE");
    json_array_foreach(queues, i, q)
    {
        size_t l = json_string_length(json_object_get(q, "QueueName"));
        if (l > w)
            w = l;
    }
    printf("%-*s %9s %9s %8s %7s %10s %10s %10s\n", (int)w, "QUEUE", "VISIBLE",
           "INFLIGHT", "DELAYED", "OLDEST", "SENT", "RECEIVED", "DELETED");
    json_array_foreach(queues, i, q)
    {
        json_t *mj = json_object_get(q, "Metrics");
#define MV(k) ((long long)json_integer_value(json_object_get(mj, k)))
        long long vis = MV("ApproximateNumberOfMessagesVisible"),
                  nv = MV("ApproximateNumberOfMessagesNotVisible"),
                  dl = MV("ApproximateNumberOfMessagesDelayed");
        char age[32];
        human_age(MV("ApproximateAgeOfOldestMessage") * 1000,
                  vis + nv + dl == 0, age, sizeof age);
        printf("%-*s %9lld %9lld %8lld %7s %10lld %10lld %10lld\n", (int)w,
               json_string_value(json_object_get(q, "QueueName")), vis, nv, dl,
               age, MV("NumberOfMessagesSent"), MV("NumberOfMessagesReceived"),
               MV("NumberOfMessagesDeleted"));
#undef MV
    }
    if (json_array_size(queues) == 0)
        printf("(no queues)\n");
    printf("map mode: %s\n", map_mode_name(c->env));
    json_decref(queues);
    return 0;
}

/* ---- --watch --------------------------------------------------------------
 */

/* One queue of the view: its last sample and the rates since the one
 * before. */
typedef struct wq {
    char *name;
    lmq_queue_metrics m;
    int64_t mono; /* when m was taken, CLOCK_MONOTONIC ms */
    int have_rates;
    double sent_s, recv_s, del_s, empty_s;
    double spark[SPARK_MAX]; /* sends/s, oldest first */
    size_t nspark;
    int seen; /* in the current sample */
} wq;

typedef struct watch {
    wq *q;
    size_t n, cap;
    int64_t env_now;
    double interval;
    int tty;
} watch;

static volatile sig_atomic_t watch_stop, watch_resized;

static void
on_stop(int sig)
{
    (void)sig;
    watch_stop = 1;
}

static void
on_winch(int sig)
{
    (void)sig;
    watch_resized = 1;
}

static void
watch_free(watch *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->q[i].name);
    free(w->q);
}

static wq *
watch_find(watch *w, const char *name)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->q[i].name, name) == 0)
            return &w->q[i];
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 8;
        wq *nq = realloc(w->q, nc * sizeof *nq);
        if (!nq)
            return NULL;
        w->q = nq;
        w->cap = nc;
    }
    wq *q = &w->q[w->n];
    memset(q, 0, sizeof *q);
    if (!(q->name = strdup(name)))
        return NULL;
    w->n++;
    return q;
}

static double
rate(uint64_t now, uint64_t before, double secs)
{
    return now >= before && secs > 0 ? (double)(now - before) / secs : 0;
}

/* Take a sample of every queue into w. 0 or an exit status. */
static int
watch_sample(cli_ctx *c, watch *w)
{
    char **names;
    size_t n;
    int only, rc;

    if ((rc = queue_names(c, &names, &n, &only)) != 0)
        return rc;
    for (size_t i = 0; i < w->n; i++)
        w->q[i].seen = 0;
    for (size_t i = 0; i < n; i++) {
        lmq_queue_metrics m;
        int64_t now;
        wq *q;
        if ((rc = sample(c, names[i], only, &m)) == 1)
            continue;
        if (rc != 0) {
            names_free(names, n);
            return rc;
        }
        now = mono_ms();
        if (!(q = watch_find(w, names[i]))) {
            names_free(names, n);
            return CLI_EXIT_OTHER;
        }
        if (q->mono) {
            double secs = (double)(now - q->mono) / 1000.0;
            q->sent_s = rate(m.sent, q->m.sent, secs);
            q->recv_s = rate(m.received, q->m.received, secs);
            q->del_s = rate(m.deleted, q->m.deleted, secs);
            q->empty_s = rate(m.empty_receives, q->m.empty_receives, secs);
            q->have_rates = 1;
            if (q->nspark == SPARK_MAX) {
                memmove(q->spark, q->spark + 1,
                        (SPARK_MAX - 1) * sizeof *q->spark);
                q->nspark--;
            }
            q->spark[q->nspark++] = q->sent_s;
        }
        q->m = m;
        q->mono = now;
        q->seen = 1;
    }
    names_free(names, n);
    /* Queues deleted since the last sample leave the view. */
    for (size_t i = 0; i < w->n;) {
        if (!w->q[i].seen) {
            free(w->q[i].name);
            w->q[i] = w->q[--w->n];
        } else {
            i++;
        }
    }
    w->env_now = lmq_env_now(c->env);
    return 0;
}

/* One sample as a JSON document: the queues' metrics and, from the second
 * sample on, the rates per second since the one before (null before). */
static json_t *
watch_json(const watch *w)
{
    json_t *doc = json_object(), *qs = json_array();
    char iso[64];

    cli_iso_time(w->env_now, iso, sizeof iso);
    json_object_set_new(doc, "Timestamp", json_string(iso));
    for (size_t i = 0; i < w->n; i++) {
        const wq *q = &w->q[i];
        json_t *o = json_object(), *r = json_null();
        json_object_set_new(o, "QueueName", json_string(q->name));
        json_object_set_new(o, "Metrics", metrics_json(&q->m));
        if (q->have_rates) {
            r = json_object();
            json_object_set_new(r, "SentPerSecond", json_real(q->sent_s));
            json_object_set_new(r, "ReceivedPerSecond", json_real(q->recv_s));
            json_object_set_new(r, "DeletedPerSecond", json_real(q->del_s));
            json_object_set_new(r, "EmptyReceivesPerSecond",
                                json_real(q->empty_s));
        }
        json_object_set_new(o, "Rates", r);
        json_array_append_new(qs, o);
    }
    json_object_set_new(doc, "Queues", qs);
    return doc;
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(((const wq *)a)->name, ((const wq *)b)->name);
}

/* Append s to f, cut at cols terminal columns (UTF-8 aware), then the
 * end of the line. */
static void
put_line(FILE *f, const char *s, size_t cols, int tty)
{
    size_t used = 0;
    const char *p = s;
    while (*p) {
        size_t len = 1;
        unsigned char b = (unsigned char)*p;
        if (b >= 0xf0)
            len = 4;
        else if (b >= 0xe0)
            len = 3;
        else if (b >= 0xc0)
            len = 2;
        if (used + 1 > cols)
            break;
        fwrite(p, 1, len, f);
        used++;
        p += len;
    }
    /* Clear what the previous frame left to the right of this line. */
    fputs(tty ? "\033[K\n" : "\n", f);
}

/* The sparkline of the last `width` samples of v, scaled to their maximum:
 * ▁ for 0, ▂ to █ for the rest. */
static void
sparkline(const double *v, size_t n, size_t width, char *out, size_t size)
{
    static const char *const blocks[] = {"▁", "▂", "▃", "▄",
                                         "▅", "▆", "▇", "█"};
    size_t from = n > width ? n - width : 0, used = 0;
    double max = 0;

    out[0] = '\0';
    for (size_t i = from; i < n; i++)
        if (v[i] > max)
            max = v[i];
    for (size_t i = from; i < n && used + 4 < size; i++) {
        int k = 0;
        if (v[i] > 0 && max > 0) {
            k = 1 + (int)(v[i] / max * 6.999);
            if (k > 7)
                k = 7;
        }
        memcpy(out + used, blocks[k], 3);
        used += 3;
        out[used] = '\0';
    }
}

static void
term_size(size_t *cols, size_t *rows)
{
    struct winsize ws;
    *cols = 80;
    *rows = 24;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
        if (ws.ws_col > 0)
            *cols = ws.ws_col;
        if (ws.ws_row > 0)
            *rows = ws.ws_row;
    }
}

/* Draw the view: on a terminal one frame written at once over the last
 * (cursor home, each line cleared, the rest cleared); else a plain frame
 * after the last, separated by a blank line. */
static void
watch_draw(cli_ctx *c, watch *w)
{
    char *buf = NULL, line[2048], iso[64], spark[SPARK_MAX * 3 + 1];
    size_t len = 0, cols, rows, namew = strlen("QUEUE"), shown;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return;
    term_size(&cols, &rows);
    if (!w->tty)
        rows = SIZE_MAX;
    qsort(w->q, w->n, sizeof *w->q, by_name);
    for (size_t i = 0; i < w->n; i++)
        if (strlen(w->q[i].name) > namew)
            namew = strlen(w->q[i].name);
    if (namew > 40)
        namew = 40;
    if (w->tty)
        fputs("\033[H", f);
    cli_iso_time(w->env_now, iso, sizeof iso);
    snprintf(line, sizeof line, "lmq stats  %s  every %gs  %s%s", c->home,
             w->interval, iso, w->tty ? "  (q quits)" : "");
    put_line(f, line, cols, w->tty);
    /* The fixed columns take namew + 62; the sparkline gets the rest. */
    size_t fixed = namew + 62, sw = cols > fixed + 2 ? cols - fixed - 2 : 0;
    if (sw > SPARK_MAX)
        sw = SPARK_MAX;
    snprintf(line, sizeof line, "%-*s %8s %8s %8s %7s %8s %8s %8s  %s",
             (int)namew, "QUEUE", "VISIBLE", "INFLIGHT", "DELAYED", "OLDEST",
             "SENT/s", "RECV/s", "DEL/s", sw >= 6 ? "sends/s" : "");
    put_line(f, line, cols, w->tty);
    shown = 0;
    for (size_t i = 0; i < w->n; i++) {
        const wq *q = &w->q[i];
        char age[32], rs[3][16];
        if (shown + 3 >= rows && i + 1 < w->n) {
            snprintf(line, sizeof line, "... %zu more queues", w->n - i);
            put_line(f, line, cols, w->tty);
            break;
        }
        human_age(q->m.oldest_age_ms,
                  q->m.visible + q->m.not_visible + q->m.delayed == 0, age,
                  sizeof age);
        if (q->have_rates) {
            snprintf(rs[0], sizeof rs[0], "%.1f", q->sent_s);
            snprintf(rs[1], sizeof rs[1], "%.1f", q->recv_s);
            snprintf(rs[2], sizeof rs[2], "%.1f", q->del_s);
        } else {
            for (int k = 0; k < 3; k++)
                snprintf(rs[k], sizeof rs[k], "-");
        }
        sparkline(q->spark, q->nspark, sw, spark, sizeof spark);
        snprintf(line, sizeof line,
                 "%-*.*s %8lld %8lld %8lld %7s %8s %8s %8s  %s", (int)namew,
                 (int)namew, q->name, (long long)q->m.visible,
                 (long long)q->m.not_visible, (long long)q->m.delayed, age,
                 rs[0], rs[1], rs[2], spark);
        put_line(f, line, cols, w->tty);
        shown++;
    }
    if (w->n == 0)
        put_line(f, "(no queues)", cols, w->tty);
    if (w->tty)
        fputs("\033[J", f);
    else
        fputc('\n', f);
    fclose(f);
    fwrite(buf, 1, len, stdout);
    fflush(stdout);
    free(buf);
}

/* The terminal as the view found it. */
typedef struct term_state {
    int screen;   /* the alternate screen is on */
    int keyboard; /* saved holds the termios to restore */
    struct termios saved;
} term_state;

static void
term_enter(term_state *t)
{
    memset(t, 0, sizeof *t);
    /* Alternate screen, cursor hidden, cleared. */
    fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
    fflush(stdout);
    t->screen = 1;
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
        struct termios raw = t->saved;
        /* Keys one at a time, not echoed; output processing and signals
         * (Ctrl-C) stay as they were. */
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
            t->keyboard = 1;
    }
}

static void
term_leave(term_state *t)
{
    if (t->keyboard)
        tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
    if (t->screen) {
        /* Attributes reset, cursor shown, the main screen back. */
        fputs("\033[0m\033[?25h\033[?1049l", stdout);
        fflush(stdout);
    }
    t->keyboard = t->screen = 0;
}

/* Wait until deadline (CLOCK_MONOTONIC ms), a stop signal or 'q'. Returns
 * 1 to stop, 0 when the time is up; redraws on a resize. */
static int
watch_wait(cli_ctx *c, watch *w, int64_t deadline, int keyboard,
           const sigset_t *waitmask)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        struct timespec ts;
        int r;

        if (watch_stop)
            return 1;
        if (watch_resized) {
            watch_resized = 0;
            if (w->tty)
                watch_draw(c, w);
        }
        if (left <= 0)
            return 0;
        ts.tv_sec = (time_t)(left / 1000);
        ts.tv_nsec = (long)(left % 1000) * 1000000L;
        r = ppoll(keyboard ? &pfd : NULL, keyboard ? 1 : 0, &ts, waitmask);
        if (r < 0 && errno != EINTR)
            return 1;
        if (r > 0 && (pfd.revents & POLLIN)) {
            char ch[16];
            ssize_t k = read(STDIN_FILENO, ch, sizeof ch);
            for (ssize_t i = 0; i < k; i++)
                if (ch[i] == 'q' || ch[i] == 'Q' || ch[i] == 4 /* ^D */)
                    return 1;
            if (k == 0)
                keyboard = 0; /* end of input: keep watching */
        } else if (r > 0 && (pfd.revents & (POLLHUP | POLLERR))) {
            keyboard = 0;
        }
    }
}

static int
parse_interval(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0.1 && v <= 3600))
        return -1;
    *out = v;
    return 0;
}

static int
stats_watch(cli_ctx *c)
{
    watch w;
    term_state term;
    struct sigaction sa, old_int, old_term, old_winch;
    sigset_t block, oldmask;
    const char *iv = cli_opt_str(c, "interval");
    int count = 0, json = c->output == CLI_OUT_JSON, rc = 0;

    memset(&w, 0, sizeof w);
    memset(&term, 0, sizeof term);
    w.interval = WATCH_DEFAULT_INTERVAL;
    if (iv && parse_interval(iv, &w.interval) != 0)
        return cli_usage_error("argument --interval: expected seconds from "
                               "0.1 to 3600, got '%s'",
                               iv);
    if (cli_opt_get(c, "count")) {
        count = cli_opt_int(c, "count", 0);
        if (count < 1)
            return cli_usage_error("argument --count: expected a positive "
                                   "number of samples, got '%s'",
                                   cli_opt_str(c, "count"));
    }
    /* --output text, table or yaml: each sample printed as a response
     * (yaml-stream: one list item per sample); json: JSON lines. */
    int doc_out = c->output_set && !json;
    w.tty = !json && !doc_out && isatty(STDOUT_FILENO);

    /* The signals wake the wait; outside ppoll() they stay blocked. */
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = on_winch;
    sigaction(SIGWINCH, &sa, &old_winch);
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGWINCH);
    sigprocmask(SIG_BLOCK, &block, &oldmask);
    watch_stop = watch_resized = 0;

    if (w.tty)
        term_enter(&term);
    for (int i = 0; !count || i < count; i++) {
        int64_t started = mono_ms();
        if (i > 0 && watch_wait(c, &w, started + (int64_t)(w.interval * 1000),
                                term.keyboard, &oldmask))
            break;
        if ((rc = watch_sample(c, &w)) != 0)
            break;
        if (json) {
            json_t *doc = cli_query_apply(c, watch_json(&w));
            if (cli_query_failed)
                break;
            json_dumpf(doc, stdout,
                       JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
            fputc('\n', stdout);
            fflush(stdout);
            json_decref(doc);
        } else if (doc_out) {
            cli_print(c, watch_json(&w));
            if (cli_query_failed)
                break;
        } else {
            watch_draw(c, &w);
        }
        if (watch_stop)
            break;
    }
    term_leave(&term);
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGWINCH, &old_winch, NULL);
    watch_free(&w);
    /* A stop signal while not waiting is consumed here, not re-raised:
     * stopping the view is its normal end. */
    return rc;
}

/* ---- --history and --plot ------------------------------------------------ */

/* --since/--until: a duration ago ("30m"), "now", epoch seconds (fewer
 * than 12 digits) or ms, or an ISO 8601 UTC time. 0 or -1. */
static int
parse_when(const char *s, int64_t now, int64_t *out)
{
    int64_t d;

    if (strcmp(s, "now") == 0) {
        *out = now;
        return 0;
    }
    if (*s && strspn(s, "0123456789") == strlen(s)) {
        long long v = strtoll(s, NULL, 10);
        *out = strlen(s) < 12 ? (int64_t)v * 1000 : (int64_t)v;
        return 0;
    }
    if (cli_parse_duration(s, 0, &d) == 0) {
        *out = now - d;
        return 0;
    }
    return cli_parse_iso_time(s, out);
}

/* One queue's series: the stored per-minute samples in the window and,
 * when the window reaches now, the queue now as the last row (`live`). */
typedef struct series {
    char *name;
    lmq_queue_metrics *rows;
    size_t n;
    int live; /* rows[n - 1] is the live sample */
} series;

static void
series_free(series *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].name);
        free(s[i].rows);
    }
    free(s);
}

/* The window of --since/--until (0: unbounded) and each queue's rows. 0 or
 * an exit status. */
static int
load_series(cli_ctx *c, series **out, size_t *nout, int64_t *since,
            int64_t *until)
{
    const char *ss = cli_opt_str(c, "since"), *us = cli_opt_str(c, "until");
    int64_t now = lmq_env_now(c->env);
    char **names;
    size_t n;
    int only, rc;
    series *s;

    *out = NULL;
    *nout = 0;
    *since = *until = 0;
    if (ss && parse_when(ss, now, since) != 0)
        return cli_usage_error("argument --since: expected a duration (30m, "
                               "2h, 1d), epoch seconds or ms, or "
                               "YYYY-MM-DDTHH:MM:SSZ, got '%s'",
                               ss);
    if (us && parse_when(us, now, until) != 0)
        return cli_usage_error("argument --until: expected a duration (30m, "
                               "2h, 1d), epoch seconds or ms, or "
                               "YYYY-MM-DDTHH:MM:SSZ, got '%s'",
                               us);
    if (*since && *until && *since > *until)
        return cli_usage_error("--since is after --until");
    if ((rc = queue_names(c, &names, &n, &only)) != 0)
        return rc;
    if (!(s = calloc(n ? n : 1, sizeof *s))) {
        names_free(names, n);
        return CLI_EXIT_OTHER;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        lmq_queue_metrics *rows = NULL, live;
        size_t nr = 0;
        rc = lmq_queue_metrics_history(c->env, names[i], *since, *until, &rows,
                                       &nr);
        if (rc == LMQ_ENOQUEUE && !only)
            continue;
        if (rc != 0) {
            names_free(names, n);
            series_free(s, k);
            return cli_service_error(c, rc);
        }
        if (!*until || *until >= now) {
            if ((rc = sample(c, names[i], only, &live)) == 1) {
                free(rows);
                continue;
            }
            if (rc != 0) {
                free(rows);
                names_free(names, n);
                series_free(s, k);
                return rc;
            }
            lmq_queue_metrics *nr2 = realloc(rows, (nr + 1) * sizeof *rows);
            if (!nr2) {
                free(rows);
                names_free(names, n);
                series_free(s, k);
                return CLI_EXIT_OTHER;
            }
            rows = nr2;
            rows[nr++] = live;
            s[k].live = 1;
        }
        s[k].name = names[i];
        names[i] = NULL;
        s[k].rows = rows;
        s[k].n = nr;
        k++;
    }
    names_free(names, n);
    *out = s;
    *nout = k;
    return 0;
}

/* The per-minute rate of a total between rows i-1 and i; -1 when there is
 * none (the first row, or no time between them). */
static double
per_minute(uint64_t now, uint64_t before, int64_t dt_ms)
{
    if (dt_ms <= 0 || now < before)
        return -1;
    return (double)(now - before) * 60000.0 / (double)dt_ms;
}

typedef struct row_rates {
    double sent, received, deleted, empty;
} row_rates;

static row_rates
rates_at(const series *s, size_t i)
{
    row_rates r = {-1, -1, -1, -1};
    if (i == 0)
        return r;
    const lmq_queue_metrics *a = &s->rows[i - 1], *b = &s->rows[i];
    int64_t dt = b->at_ms - a->at_ms;
    r.sent = per_minute(b->sent, a->sent, dt);
    r.received = per_minute(b->received, a->received, dt);
    r.deleted = per_minute(b->deleted, a->deleted, dt);
    r.empty = per_minute(b->empty_receives, a->empty_receives, dt);
    return r;
}

static json_t *
jrate(double v)
{
    return v < 0 ? json_null() : json_real(v);
}

static void
csv_rate(FILE *f, double v)
{
    if (v >= 0)
        fprintf(f, "%.6g", v);
}

/* A CSV field: quoted when it holds a comma, a quote or a line break. */
static void
csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static const char *const csv_columns =
    "Timestamp,Time,QueueName,Kind,NumberOfMessagesSent,SentMessageSizeSum,"
    "NumberOfMessagesReceived,NumberOfMessagesDeleted,NumberOfEmptyReceives,"
    "ApproximateNumberOfMessagesVisible,ApproximateNumberOfMessagesNotVisible,"
    "ApproximateNumberOfMessagesDelayed,ApproximateAgeOfOldestMessage,"
    "SentPerMinute,ReceivedPerMinute,DeletedPerMinute,"
    "EmptyReceivesPerMinute,NumberOfMessagesDropped,NumberOfMessagesExpired,"
    "NumberOfMessagesPurged,NumberOfMessagesMoved,LmqStoredBytes";

static int
stats_history(cli_ctx *c)
{
    const char *fmt = cli_opt_str(c, "format");
    int csv = 0, rc;
    series *s;
    size_t n;
    int64_t since, until;

    if (fmt && strcmp(fmt, "csv") == 0)
        csv = 1;
    else if (fmt && strcmp(fmt, "json") != 0)
        return cli_usage_error("argument --format: Invalid choice: '%s' "
                               "(choose from 'json', 'csv')",
                               fmt);
    if (csv && c->query)
        return cli_usage_error("--query applies to JSON, not to --format "
                               "csv");
    if ((rc = load_series(c, &s, &n, &since, &until)) != 0)
        return rc;
    if (csv) {
        printf("%s\n", csv_columns);
        for (size_t k = 0; k < n; k++) {
            for (size_t i = 0; i < s[k].n; i++) {
                const lmq_queue_metrics *m = &s[k].rows[i];
                int live = s[k].live && i + 1 == s[k].n;
                row_rates r = rates_at(&s[k], i);
                char iso[64];
                cli_iso_time(m->at_ms, iso, sizeof iso);
                printf("%s,%lld,", iso, (long long)m->at_ms);
                csv_field(stdout, s[k].name);
                printf(",%s,%llu,%llu,%llu,%llu,%llu,%lld,%lld,%lld,",
                       live ? "now" : "minute", (unsigned long long)m->sent,
                       (unsigned long long)m->sent_bytes,
                       (unsigned long long)m->received,
                       (unsigned long long)m->deleted,
                       (unsigned long long)m->empty_receives,
                       (long long)m->visible, (long long)m->not_visible,
                       (long long)m->delayed);
                if (live && m->oldest_age_ms >= 0)
                    printf("%lld", (long long)(m->oldest_age_ms / 1000));
                fputc(',', stdout);
                csv_rate(stdout, r.sent);
                fputc(',', stdout);
                csv_rate(stdout, r.received);
                fputc(',', stdout);
                csv_rate(stdout, r.deleted);
                fputc(',', stdout);
                csv_rate(stdout, r.empty);
                printf(",%llu,%llu,%llu,%llu,%llu\n",
                       (unsigned long long)m->dropped,
                       (unsigned long long)m->expired,
                       (unsigned long long)m->purged,
                       (unsigned long long)m->moved,
                       (unsigned long long)m->stored_bytes);
            }
        }
        fflush(stdout);
        series_free(s, n);
        return 0;
    }
    json_t *doc = json_object(), *rows = json_array();
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < s[k].n; i++) {
            const lmq_queue_metrics *m = &s[k].rows[i];
            int live = s[k].live && i + 1 == s[k].n;
            row_rates r = rates_at(&s[k], i);
            json_t *o = json_object();
            char iso[64];
            cli_iso_time(m->at_ms, iso, sizeof iso);
            json_object_set_new(o, "Timestamp", json_string(iso));
            json_object_set_new(o, "Time", json_integer(m->at_ms));
            json_object_set_new(o, "QueueName", json_string(s[k].name));
            json_object_set_new(o, "Kind",
                                json_string(live ? "now" : "minute"));
            json_object_set_new(o, "NumberOfMessagesSent",
                                json_integer((json_int_t)m->sent));
            json_object_set_new(o, "SentMessageSizeSum",
                                json_integer((json_int_t)m->sent_bytes));
            json_object_set_new(o, "NumberOfMessagesReceived",
                                json_integer((json_int_t)m->received));
            json_object_set_new(o, "NumberOfMessagesDeleted",
                                json_integer((json_int_t)m->deleted));
            json_object_set_new(o, "NumberOfEmptyReceives",
                                json_integer((json_int_t)m->empty_receives));
            json_object_set_new(o, "ApproximateNumberOfMessagesVisible",
                                json_integer(m->visible));
            json_object_set_new(o, "ApproximateNumberOfMessagesNotVisible",
                                json_integer(m->not_visible));
            json_object_set_new(o, "ApproximateNumberOfMessagesDelayed",
                                json_integer(m->delayed));
            json_object_set_new(o, "ApproximateAgeOfOldestMessage",
                                live && m->oldest_age_ms >= 0
                                    ? json_integer(m->oldest_age_ms / 1000)
                                    : json_null());
            json_object_set_new(o, "SentPerMinute", jrate(r.sent));
            json_object_set_new(o, "ReceivedPerMinute", jrate(r.received));
            json_object_set_new(o, "DeletedPerMinute", jrate(r.deleted));
            json_object_set_new(o, "EmptyReceivesPerMinute", jrate(r.empty));
            removals_json(o, m);
            json_array_append_new(rows, o);
        }
    }
    json_object_set_new(doc, "Samples", rows);
    series_free(s, n);
    cli_print(c, doc);
    return 0;
}

/* ---- the SVG plot -----------------------------------------------------------
 */

/* Layout, in SVG user units (pixels at 100%). */
#define SVG_W 960
#define SVG_TOP 40      /* the document title */
#define SVG_TITLE 28    /* a queue's name above its two charts */
#define CHART_H 150     /* the plotting area of one chart */
#define CHART_GAP 46    /* room for the x labels and the next title */
#define CHART_LEFT 70   /* room for the y labels */
#define CHART_RIGHT 170 /* room for the legend */
#define PANEL_H (SVG_TITLE + 2 * (CHART_H + CHART_GAP))

static void
xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* The smallest 1, 2 or 5 times a power of ten that is >= v (1 for 0). */
static double
nice_ceil(double v)
{
    double p = 1;
    if (v <= 0)
        return 1;
    while (p * 10 <= v)
        p *= 10;
    while (p > v)
        p /= 10;
    if (p >= v)
        return p;
    if (2 * p >= v)
        return 2 * p;
    if (5 * p >= v)
        return 5 * p;
    return 10 * p;
}

/* One line of a chart: the name it is known by, its colour, its label. */
typedef struct plot_line {
    const char *id, *color, *label;
} plot_line;

static const plot_line depth_lines[] = {
    {"visible", "#1f77b4", "visible"},
    {"inflight", "#ff7f0e", "in flight"},
};
static const plot_line rate_lines[] = {
    {"sent", "#2ca02c", "sent / min"},
    {"received", "#9467bd", "received / min"},
    {"deleted", "#d62728", "deleted / min"},
};

/* The value of line `which` of a chart at row i (depth: the gauges; rates:
 * per minute since the row before, -1 for none). */
static double
plot_value(const series *s, size_t i, int rates, int which)
{
    if (!rates)
        return which == 0 ? (double)s->rows[i].visible
                          : (double)s->rows[i].not_visible;
    row_rates r = rates_at(s, i);
    return which == 0 ? r.sent : which == 1 ? r.received : r.deleted;
}

static void
plot_chart(FILE *f, const series *s, int rates, double y0, int64_t t0,
           int64_t t1)
{
    const plot_line *lines = rates ? rate_lines : depth_lines;
    int nl = rates ? 3 : 2;
    double x0 = CHART_LEFT, w = SVG_W - CHART_LEFT - CHART_RIGHT, ymax = 0;
    double span = t1 > t0 ? (double)(t1 - t0) : 1;

    for (size_t i = 0; i < s->n; i++)
        for (int l = 0; l < nl; l++)
            if (plot_value(s, i, rates, l) > ymax)
                ymax = plot_value(s, i, rates, l);
    ymax = nice_ceil(ymax);

    fprintf(f, "<g class=\"chart\" data-chart=\"%s\">\n",
            rates ? "rates" : "depth");
    fprintf(f,
            "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%d\" "
            "fill=\"#fafafa\" stroke=\"#999\"/>\n",
            x0, y0, w, CHART_H);
    /* y axis: 5 ticks from 0 to ymax with grid lines. */
    for (int k = 0; k <= 4; k++) {
        double v = ymax * k / 4, y = y0 + CHART_H - CHART_H * k / 4.0;
        fprintf(f,
                "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" "
                "stroke=\"#ddd\"/>\n"
                "<text x=\"%g\" y=\"%.1f\" font-size=\"11\" "
                "text-anchor=\"end\">%g</text>\n",
                x0, y, x0 + w, y, x0 - 6, y + 4, v);
    }
    fprintf(f,
            "<text x=\"12\" y=\"%g\" font-size=\"11\" transform=\"rotate(-90 "
            "12 %g)\" text-anchor=\"middle\">%s</text>\n",
            y0 + CHART_H / 2.0, y0 + CHART_H / 2.0,
            rates ? "messages / minute" : "messages");
    /* x axis: 5 time labels, with the date when the window spans days. */
    for (int k = 0; k <= 4; k++) {
        int64_t t = t0 + (int64_t)(span * k / 4);
        double x = x0 + w * k / 4;
        time_t tt = (time_t)(t / 1000);
        struct tm tm;
        char label[32];
        gmtime_r(&tt, &tm);
        if (t1 - t0 > 86400000)
            strftime(label, sizeof label, "%m-%d %H:%M", &tm);
        else
            strftime(label, sizeof label, "%H:%M:%S", &tm);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" "
                "stroke=\"#999\"/>\n"
                "<text x=\"%.1f\" y=\"%g\" font-size=\"11\" "
                "text-anchor=\"middle\">%s</text>\n",
                x, y0 + CHART_H, x, y0 + CHART_H + 4, x, y0 + CHART_H + 17,
                label);
    }
    /* The lines and the legend. */
    for (int l = 0; l < nl; l++) {
        size_t npts = 0;
        fprintf(f, "<polyline class=\"series\" data-queue=\"");
        xml_text(f, s->name);
        fprintf(f,
                "\" data-series=\"%s\" fill=\"none\" stroke=\"%s\" "
                "stroke-width=\"1.5\" points=\"",
                lines[l].id, lines[l].color);
        for (size_t i = 0; i < s->n; i++) {
            double v = plot_value(s, i, rates, l);
            if (v < 0)
                continue;
            double x = x0 + w * (double)(s->rows[i].at_ms - t0) / span;
            double y = y0 + CHART_H - CHART_H * v / ymax;
            fprintf(f, "%s%.1f,%.1f", npts ? " " : "", x, y);
            npts++;
        }
        fprintf(f, "\"/>\n");
        double ly = y0 + 14 + 18 * l, lx = x0 + w + 12;
        fprintf(f,
                "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" "
                "stroke-width=\"3\"/>\n"
                "<text x=\"%g\" y=\"%g\" font-size=\"12\">%s</text>\n",
                lx, ly, lx + 20, ly, lines[l].color, lx + 26, ly + 4,
                lines[l].label);
    }
    if (s->n == 0)
        fprintf(f,
                "<text x=\"%g\" y=\"%g\" font-size=\"12\" fill=\"#666\" "
                "text-anchor=\"middle\">no samples in the window</text>\n",
                x0 + w / 2, y0 + CHART_H / 2.0);
    fprintf(f, "</g>\n");
}

static int
stats_plot(cli_ctx *c)
{
    const char *path = cli_opt_str(c, "plot");
    series *s;
    size_t n;
    int64_t since, until, t0, t1;
    int rc;
    FILE *f;

    if ((rc = load_series(c, &s, &n, &since, &until)) != 0)
        return rc;
    /* The window: as asked, else from the first sample to the last. */
    t0 = since;
    t1 = until ? until : lmq_env_now(c->env);
    if (!t0) {
        t0 = t1;
        for (size_t k = 0; k < n; k++)
            if (s[k].n && s[k].rows[0].at_ms < t0)
                t0 = s[k].rows[0].at_ms;
    }
    if (t0 >= t1)
        t0 = t1 - 60000; /* one minute, so an empty window still draws */
    if (!(f = fopen(path, "w"))) {
        fprintf(stderr, "\nlmq stats: cannot write %s: %s\n", path,
                strerror(errno));
        series_free(s, n);
        return CLI_EXIT_OTHER;
    }
    char a[64], b[64];
    cli_iso_time(t0, a, sizeof a);
    cli_iso_time(t1, b, sizeof b);
    int height = SVG_TOP + (int)(n ? n : 1) * PANEL_H;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\">"
            "lmq queues, %s to %s (UTC)</text>\n",
            SVG_W, height, SVG_W, height, CHART_LEFT, a, b);
    for (size_t k = 0; k < n; k++) {
        double y = SVG_TOP + (double)k * PANEL_H;
        fprintf(f, "<g class=\"queue\" data-queue=\"");
        xml_text(f, s[k].name);
        fprintf(f, "\">\n<text x=\"%d\" y=\"%g\" font-size=\"14\">", CHART_LEFT,
                y + 18);
        xml_text(f, s[k].name);
        fprintf(f, ": depth, and rates per minute</text>\n");
        plot_chart(f, &s[k], 0, y + SVG_TITLE, t0, t1);
        plot_chart(f, &s[k], 1, y + SVG_TITLE + CHART_H + CHART_GAP, t0, t1);
        fprintf(f, "</g>\n");
    }
    if (n == 0)
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" font-size=\"13\">(no "
                "queues)</text>\n",
                CHART_LEFT, SVG_TOP + 30);
    fprintf(f, "</svg>\n");
    series_free(s, n);
    if (fclose(f) != 0) {
        fprintf(stderr, "\nlmq stats: cannot write %s: %s\n", path,
                strerror(errno));
        return CLI_EXIT_OTHER;
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------
 */

int
cli_cmd_stats(cli_ctx *c)
{
    int watch = cli_opt_get(c, "watch") != NULL,
        history = cli_opt_get(c, "history") != NULL,
        plot = cli_opt_get(c, "plot") != NULL, rc;

    /* Which flags go with which mode: a wrong mix is a usage error. */
    if (watch + history + plot > 1)
        return cli_usage_error("--watch, --history and --plot are separate "
                               "modes: give one");
    if (!watch && (cli_opt_get(c, "interval") || cli_opt_get(c, "count")))
        return cli_usage_error("--interval and --count go with --watch");
    if (!history && cli_opt_get(c, "format"))
        return cli_usage_error("--format goes with --history");
    if (!history && !plot &&
        (cli_opt_get(c, "since") || cli_opt_get(c, "until")))
        return cli_usage_error("--since and --until go with --history or "
                               "--plot");
    if (plot && !*cli_opt_str(c, "plot"))
        return cli_usage_error("argument --plot: expected a file name");
    if ((rc = cli_env(c)) != 0)
        return rc;
    if (watch)
        return stats_watch(c);
    if (history)
        return stats_history(c);
    if (plot)
        return stats_plot(c);
    return stats_once(c);
}
