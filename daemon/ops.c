/*
 * ops.c: what an operator sees of lmqd: the access log, /metrics, the
 * start-up configuration file, and the
 * endpoints a test double needs (reset, peek, the test clock: extra.c).
 *
 * Access log: one line per request on stderr, written with one write() so
 * lines of concurrent requests never interleave:
 *   2026-12-07T08:00:00.123Z json SendMessage jobs 200 153us
 *
 * Metrics (Prometheus text format 0.0.4): per action and status a request
 * count, per action a latency histogram, and per queue the Approximate*
 * counters read from the home at scrape time (so they count what every
 * process did, not only this daemon).
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lmqd.h"

/* ---- access log --------------------------------------------------------------- */

#define N_BUCKETS 12
static const double bucket_s[N_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001,
                                           0.0025, 0.005,   0.01,   0.025,
                                           0.05,   0.1,     1.0,    25.0};
#define MAX_ACTIONS 32
#define N_STATUS 8
static const int statuses[N_STATUS] = {200, 400, 403, 404, 413, 500, 503, 0};

typedef struct action_stats {
    const char *name;
    atomic_ulong by_status[N_STATUS];
    atomic_ulong bucket[N_BUCKETS + 1];
    atomic_ulong count;
    atomic_ullong sum_us;
} action_stats;

static action_stats stats[MAX_ACTIONS + 1]; /* last: everything else */
static size_t n_stats;

void
lmqd_metrics_init(void)
{
    for (n_stats = 0; n_stats < MAX_ACTIONS; n_stats++) {
        const char *a = lmq__sqs_action_name(n_stats);
        if (!a)
            break;
        stats[n_stats].name = a;
    }
    stats[n_stats].name = "other";
}

static action_stats *
stats_of(const char *action)
{
    for (size_t i = 0; i < n_stats; i++)
        if (strcmp(stats[i].name, action) == 0)
            return &stats[i];
    return &stats[n_stats];
}

void
lmqd_log_request(lmqd_conn *c)
{
    int64_t now_us;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    int64_t us = now_us - c->t0;
    int status = c->resp.status;
    action_stats *s = stats_of(c->action);
    int si = N_STATUS - 1;
    for (int i = 0; i < N_STATUS - 1; i++)
        if (statuses[i] == status)
            si = i;
    atomic_fetch_add(&s->by_status[si], 1);
    atomic_fetch_add(&s->count, 1);
    atomic_fetch_add(&s->sum_us, (unsigned long long)us);
    int b = 0;
    while (b < N_BUCKETS && us > bucket_s[b] * 1e6)
        b++;
    atomic_fetch_add(&s->bucket[b], 1);
    if (S.quiet)
        return;
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    char line[512];
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s %s %d %lldus%s%s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
                     c->proto == SQS_PROTO_JSON ? "json" : "query",
                     c->action[0] ? c->action : "-",
                     c->queue[0] ? c->queue : "-", status, (long long)us,
                     c->resp.code[0] ? " " : "", c->resp.code);
    if (n > 0) {
        ssize_t w = write(2, line, (size_t)n < sizeof line ? (size_t)n
                                                         : sizeof line - 1);
        (void)w;
    }
}

/* ---- /metrics ------------------------------------------------------------------ */

typedef struct sbuf {
    char *s;
    size_t n, cap;
} sbuf;

static void
sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->n;
        va_start(ap, fmt);
        int k = b->s ? vsnprintf(b->s + b->n, room, fmt, ap) : -1;
        va_end(ap);
        if (k >= 0 && (size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = b->cap ? b->cap * 2 : 8192;
        if (k >= 0)
            while (nc < b->n + (size_t)k + 1)
                nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns)
            return;
        b->s = ns;
        b->cap = nc;
    }
}

static void
queue_metrics(sbuf *b)
{
    /* CloudWatch's SQS metrics (docs/METRICS.md), one read transaction per
     * queue (lmq_queue_metrics_get()); totals are counters since the queue
     * was created, the rest gauges. */
    static const struct {
        const char *name, *type, *help;
        size_t off;
        bool total; /* a uint64_t (totals, stored bytes), else int64_t */
    } fam[] = {
        {"lmq_queue_messages_visible", "gauge",
         "ApproximateNumberOfMessagesVisible of the queue.",
         offsetof(lmq_queue_metrics, visible), false},
        {"lmq_queue_messages_in_flight", "gauge",
         "ApproximateNumberOfMessagesNotVisible of the queue.",
         offsetof(lmq_queue_metrics, not_visible), false},
        {"lmq_queue_messages_delayed", "gauge",
         "ApproximateNumberOfMessagesDelayed of the queue.",
         offsetof(lmq_queue_metrics, delayed), false},
        {"lmq_queue_messages_sent_total", "counter",
         "NumberOfMessagesSent of the queue.",
         offsetof(lmq_queue_metrics, sent), true},
        {"lmq_queue_sent_message_bytes_total", "counter",
         "Sum of SentMessageSize of the queue, bytes.",
         offsetof(lmq_queue_metrics, sent_bytes), true},
        {"lmq_queue_messages_received_total", "counter",
         "NumberOfMessagesReceived of the queue.",
         offsetof(lmq_queue_metrics, received), true},
        {"lmq_queue_messages_deleted_total", "counter",
         "NumberOfMessagesDeleted of the queue.",
         offsetof(lmq_queue_metrics, deleted), true},
        {"lmq_queue_empty_receives_total", "counter",
         "NumberOfEmptyReceives of the queue.",
         offsetof(lmq_queue_metrics, empty_receives), true},
        {"lmq_queue_messages_dropped_total", "counter",
         "NumberOfMessagesDropped of the queue (LmqOverLimitPolicy "
         "drop-oldest).",
         offsetof(lmq_queue_metrics, dropped), true},
        {"lmq_queue_messages_expired_total", "counter",
         "NumberOfMessagesExpired of the queue (MessageRetentionPeriod).",
         offsetof(lmq_queue_metrics, expired), true},
        {"lmq_queue_messages_purged_total", "counter",
         "NumberOfMessagesPurged of the queue (PurgeQueue).",
         offsetof(lmq_queue_metrics, purged), true},
        {"lmq_queue_messages_moved_total", "counter",
         "NumberOfMessagesMoved of the queue (to a dead-letter queue, or "
         "by a move task).",
         offsetof(lmq_queue_metrics, moved), true},
        {"lmq_queue_stored_bytes", "gauge",
         "LmqStoredBytes of the queue: its messages' bodies and "
         "attributes, bytes.",
         offsetof(lmq_queue_metrics, stored_bytes), true},
    };
    char **names = NULL;
    size_t nq = 0;
    if (lmq_queue_list(S.env, NULL, 0, NULL, &names, NULL) != 0)
        return;
    while (names && names[nq])
        nq++;
    lmq_queue_metrics *m = calloc(nq ? nq : 1, sizeof *m);
    bool *ok = calloc(nq ? nq : 1, sizeof *ok);
    if (!m || !ok) {
        free(m);
        free(ok);
        lmq_strv_free(names);
        return;
    }
    for (size_t i = 0; i < nq; i++) {
        m[i].size = sizeof m[i];
        /* A queue deleted since the list is left out. */
        ok[i] = lmq_queue_metrics_get(S.env, names[i], &m[i]) == 0;
    }
    for (size_t k = 0; k < sizeof fam / sizeof fam[0]; k++) {
        sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[k].name,
                  fam[k].help, fam[k].name, fam[k].type);
        for (size_t i = 0; i < nq; i++) {
            if (!ok[i])
                continue;
            const char *p = (const char *)&m[i] + fam[k].off;
            if (fam[k].total) {
                uint64_t v;
                memcpy(&v, p, sizeof v);
                sb_printf(b, "%s{queue=\"%s\"} %llu\n", fam[k].name,
                          names[i], (unsigned long long)v);
            } else {
                int64_t v;
                memcpy(&v, p, sizeof v);
                sb_printf(b, "%s{queue=\"%s\"} %lld\n", fam[k].name,
                          names[i], (long long)v);
            }
        }
    }
    sb_printf(b, "# HELP lmq_queue_oldest_message_age_seconds "
                 "ApproximateAgeOfOldestMessage of the queue.\n# TYPE "
                 "lmq_queue_oldest_message_age_seconds gauge\n");
    for (size_t i = 0; i < nq; i++)
        if (ok[i])
            sb_printf(b, "lmq_queue_oldest_message_age_seconds{queue=\"%s\"} "
                         "%.3f\n", names[i],
                      (double)m[i].oldest_age_ms / 1000.0);
    free(m);
    free(ok);
    lmq_strv_free(names);
}

lmq_bridge *lmqd_bridge;

/* The bridge's routes (docs/BRIDGE.md, "Status and metrics"). */
static void
bridge_metrics(sbuf *b)
{
    lmq_route_status *st = NULL;
    size_t n = 0;
    if (!lmqd_bridge || lmq_bridge_status(lmqd_bridge, &st, &n) != 0)
        return;
    sb_printf(b, "# HELP lmq_bridge_route_state The route's state "
                 "(0 STARTING, 1 ONLINE, 2 BACKOFF, 3 PAUSED, 4 STANDBY, "
                 "5 STOPPED).\n# TYPE lmq_bridge_route_state gauge\n");
    for (size_t i = 0; i < n; i++)
        sb_printf(b, "lmq_bridge_route_state{route=\"%s\",state=\"%s\"} "
                     "%d\n", st[i].name, lmq_route_state_name(st[i].state),
                  st[i].state);
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } c[] = {
        {"lmq_bridge_shipped_total", "counter", "Messages the remote accepted.",
         offsetof(lmq_route_status, shipped)},
        {"lmq_bridge_pulled_total", "counter", "Messages committed locally.",
         offsetof(lmq_route_status, pulled)},
        {"lmq_bridge_retried_total", "counter", "Entries or requests retried.",
         offsetof(lmq_route_status, retried)},
        {"lmq_bridge_dead_lettered_total", "counter",
         "Messages moved to the route's dead-letter queue.",
         offsetof(lmq_route_status, dead_lettered)},
        {"lmq_bridge_duplicates_total", "counter",
         "Remote repeats dropped (pull).",
         offsetof(lmq_route_status, duplicates)},
        {"lmq_bridge_backlog", "gauge", "Local messages not shipped yet.",
         offsetof(lmq_route_status, backlog)},
    };
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", c[k].name, c[k].help,
                  c[k].name, c[k].type);
        for (size_t i = 0; i < n; i++) {
            uint64_t v;
            memcpy(&v, (const char *)&st[i] + c[k].off, sizeof v);
            sb_printf(b, "%s{route=\"%s\"} %llu\n", c[k].name, st[i].name,
                      (unsigned long long)v);
        }
    }
    sb_printf(b, "# HELP lmq_bridge_oldest_age_seconds Age of the oldest "
                 "unshipped message.\n# TYPE lmq_bridge_oldest_age_seconds "
                 "gauge\n");
    for (size_t i = 0; i < n; i++)
        sb_printf(b, "lmq_bridge_oldest_age_seconds{route=\"%s\"} %.3f\n",
                  st[i].name, (double)st[i].oldest_age_ms / 1000.0);
    sb_printf(b, "# HELP lmq_bridge_last_success_seconds Epoch time of the "
                 "last successful call.\n# TYPE "
                 "lmq_bridge_last_success_seconds gauge\n");
    for (size_t i = 0; i < n; i++)
        sb_printf(b, "lmq_bridge_last_success_seconds{route=\"%s\"} "
                     "%.3f\n", st[i].name,
                  (double)st[i].last_success_ms / 1000.0);
    free(st);
}

char *
lmqd_metrics_text(void)
{
    sbuf b = {0};
    sb_printf(&b, "# HELP lmqd_requests_total Requests by action and HTTP "
                  "status.\n# TYPE lmqd_requests_total counter\n");
    for (size_t i = 0; i <= n_stats; i++)
        for (int k = 0; k < N_STATUS; k++) {
            unsigned long v = atomic_load(&stats[i].by_status[k]);
            if (!v)
                continue;
            char st[16];
            snprintf(st, sizeof st, "%d", statuses[k]);
            sb_printf(&b,
                      "lmqd_requests_total{action=\"%s\",status=\"%s\"} "
                      "%lu\n",
                      stats[i].name, statuses[k] ? st : "other", v);
        }
    sb_printf(&b, "# HELP lmqd_request_seconds Request latency by action.\n"
                  "# TYPE lmqd_request_seconds histogram\n");
    for (size_t i = 0; i <= n_stats; i++) {
        unsigned long count = atomic_load(&stats[i].count);
        if (!count)
            continue;
        unsigned long cum = 0;
        for (int k = 0; k < N_BUCKETS; k++) {
            cum += atomic_load(&stats[i].bucket[k]);
            sb_printf(&b,
                      "lmqd_request_seconds_bucket{action=\"%s\",le=\"%g\"} "
                      "%lu\n",
                      stats[i].name, bucket_s[k], cum);
        }
        sb_printf(&b,
                  "lmqd_request_seconds_bucket{action=\"%s\",le=\"+Inf\"} "
                  "%lu\n",
                  stats[i].name, count);
        sb_printf(&b, "lmqd_request_seconds_sum{action=\"%s\"} %.6f\n",
                  stats[i].name,
                  (double)atomic_load(&stats[i].sum_us) / 1e6);
        sb_printf(&b, "lmqd_request_seconds_count{action=\"%s\"} %lu\n",
                  stats[i].name, count);
    }
    sb_printf(&b, "# HELP lmqd_parked_polls Long polls waiting now.\n"
                  "# TYPE lmqd_parked_polls gauge\nlmqd_parked_polls %zu\n",
              lmqd_parked_count());
    unsigned long reload_ok, reload_failed;
    int reload_last;
    lmqd_authz_stats(&reload_ok, &reload_failed, &reload_last);
    sb_printf(&b,
              "# HELP lmqd_config_reloads_total SIGHUP reloads of "
              "--credentials and --policies, by result.\n"
              "# TYPE lmqd_config_reloads_total counter\n"
              "lmqd_config_reloads_total{result=\"success\"} %lu\n"
              "lmqd_config_reloads_total{result=\"failure\"} %lu\n"
              "# HELP lmqd_config_last_reload_successful 0 when the last "
              "reload failed (the previous set is in force).\n"
              "# TYPE lmqd_config_last_reload_successful gauge\n"
              "lmqd_config_last_reload_successful %d\n",
              reload_ok, reload_failed, reload_last);
    queue_metrics(&b);
    bridge_metrics(&b);
    return b.s;
}

/* ---- the configuration file ------------------------------------------------------ */

static lmq_map *
json_map(json_t *o)
{
    lmq_map *m = lmq_map_new();
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (json_is_string(v))
            lmq_map_set(m, k, json_string_value(v));
        else if (json_is_integer(v)) {
            char num[32];
            snprintf(num, sizeof num, "%lld",
                     (long long)json_integer_value(v));
            lmq_map_set(m, k, num);
        } else if (json_is_boolean(v))
            lmq_map_set(m, k, json_is_true(v) ? "true" : "false");
        else {
            /* RedrivePolicy and friends may be given as objects. */
            char *s = json_dumps(v, JSON_COMPACT);
            lmq_map_set(m, k, s ? s : "");
            free(s);
        }
    }
    return m;
}

/*
 * {"queues": [{"name": "jobs-dlq"},
 *             {"name": "jobs", "attributes": {"VisibilityTimeout": "60",
 *               "RedrivePolicy": {"deadLetterTargetArn": "arn:...:jobs-dlq",
 *                                 "maxReceiveCount": 3}},
 *              "tags": {"team": "a"}}]}
 * Queues are created in order (a DLQ before the queues that use it);
 * existing queues with the same attributes are left as they are.
 */
void
lmqd_apply_config(const char *path)
{
    json_error_t err;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!doc) {
        fprintf(stderr, "lmqd: %s:%d: %s\n", path, err.line, err.text);
        exit(2);
    }
    json_t *queues = json_object_get(doc, "queues");
    if (!json_is_array(queues)) {
        fprintf(stderr, "lmqd: %s: want {\"queues\": [...]}\n", path);
        exit(2);
    }
    size_t i;
    json_t *q;
    json_array_foreach(queues, i, q)
    {
        const char *name = json_string_value(json_object_get(q, "name"));
        if (!name) {
            fprintf(stderr, "lmqd: %s: queue %zu has no \"name\"\n", path,
                    i + 1);
            exit(2);
        }
        lmq_map *attrs = json_map(json_object_get(q, "attributes"));
        lmq_map *tags = json_map(json_object_get(q, "tags"));
        int rc = lmq_queue_create(S.env, name, attrs, tags, NULL);
        if (rc == 0 && lmq_map_count(tags) > 0)
            rc = lmq_queue_tag(S.env, name, tags);
        lmq_map_free(attrs);
        lmq_map_free(tags);
        if (rc) {
            fprintf(stderr, "lmqd: %s: queue %s: %s\n", path, name,
                    lmq_errmsg());
            exit(2);
        }
    }
    json_decref(doc);
}
