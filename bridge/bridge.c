/*
 * bridge.c: the bridge to Amazon SQS (issue 26; docs/BRIDGE.md), the
 * lmq_bridge_* half of lmq.h.
 *
 * How it works. A bridge holds routes; each route runs worker threads
 * (forward: `in_flight` of them, one when the remote is FIFO; pull:
 * `in_flight` long polls) and one supervisor thread serves every route:
 *
 *   forward   lmq_receive_poll() a batch -> SendMessageBatch -> reconcile
 *             entry by entry: delete locally what the remote accepted (and
 *             whose MD5s match), dead-letter what it refused for good,
 *             leave the rest in flight for a retry after the backoff.
 *   pull      ReceiveMessage (long poll) -> lmq_send_batch() locally ->
 *             DeleteMessageBatch remotely only after the local commit;
 *             remote MessageIds already committed are remembered for
 *             max(5 min, visibility timeout) and their repeats dropped.
 *   supervisor  the self-pipe lmq_bridge_stop() writes to (so stop is
 *             callable from a signal handler), the lease heartbeats, the
 *             status files and the resume files, once a second.
 *
 * Failures are classified by the remote (bridge/remote.h): TRANSIENT and
 * THROTTLED put the route in BACKOFF, CONFIG and CLIENT in PAUSED; both
 * retry at retry_at (exponential, full jitter, never below backoff_min_ms,
 * capped at backoff_max_ms). One worker probes when retry_at comes (the
 * "probing" flag); the others wait for its answer. A forward worker keeps
 * the batch it holds through a backoff (extending its local visibility),
 * so a retry does not count as another local receive.
 *
 * Sleeping: forward workers always sleep in lmq_queue_wait() on their
 * local queue's wake-up token (idle, and in backoff, where a local send
 * probes sooner, at most every backoff_min_ms); pull workers and standbys
 * on the bridge's condition variable. Stop, resume and a probe's success
 * wake both (lmq_queue_wakeup() and a broadcast). Nothing polls except a
 * standby, which tries the lease every lease_ms/4.
 *
 * The lease: flock(LOCK_EX) on HOME/bridge-<route>.lock, held while the
 * route runs. The kernel drops it when the holder dies, however it dies,
 * so a standby takes over within lease_ms/4; the file also holds the
 * holder's pid, a random token and a heartbeat (epoch ms, every second)
 * for people. Rejected: a heartbeat record in LMDB with a takeover after
 * lease_ms of silence (a paused holder and a new one would both ship, and
 * every heartbeat would be a commit).
 *
 * Visible state: the lease holder writes HOME/bridge-<route>.status (JSON,
 * written to a temporary file and renamed) every second and on change;
 * `lmq bridge status` reads those. HOME/bridge-<route>.resume (written by
 * `lmq bridge resume`) is taken as lmq_bridge_resume() at the next second.
 *
 * Invariants: a local message is deleted only after the remote accepted it
 * with the MD5s of what was sent, or after its copy is committed to the
 * route's dead-letter queue; a remote message is deleted only after its
 * local commit (or when its MessageId was committed before).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "lmq.h"
#include "remote.h"
/* Internals: lmq__seterr, lmq__md5_hex, the env's home path and the
 * queue's wake-up slot (a forward route in backoff sleeps on it without
 * receiving). The bridge is linked into liblmq next to them. */
#include "../lib/core.h"
#include "../lib/homefile.h"
#include "../lib/notify.h"

#define BRIDGE_MAGIC 0x42524447u /* "BRDG" */
/* The attribute carrying the local MessageId to the remote (forward). */
#define ATTR_MSGID "lmq.MessageId"
/* The attribute carrying the reason into the route's dead-letter queue. */
#define ATTR_ERROR "lmq.BridgeError"
/* How long pull remembers committed remote MessageIds, at least. */
#define SEEN_MIN_MS (5 * 60 * 1000)
/* A forward entry whose MD5s mismatch this many receives goes to the DLQ. */
#define MD5_MAX_TRIES 3
/* The status and lease heartbeat period. */
#define TICK_MS 1000
/* How often an unchanged status file and the lease heartbeat are
 * rewritten. */
#define STATUS_REFRESH_MS 10000
/* The supervisor's tick while every route is quiet. */
#define IDLE_TICK_MS 5000

typedef struct seen_ent {
    struct seen_ent *hnext; /* hash chain */
    struct seen_ent *onext; /* insertion (= expiry) order */
    int64_t expires;
    char id[];
} seen_ent;

typedef struct route route;

typedef struct worker {
    route *r;
    pthread_t th;
    int started;
} worker;

struct route {
    struct lmq_bridge *b;
    /* Configuration (owned copies). */
    lmq_route_kind kind;
    char *name, *local, *remote_url, *region, *endpoint, *profile;
    char *akid, *secret, *token, *dlq;
    int batch, in_flight, bmin, bmax, vt, verify_tls, wait_s;
    int remote_fifo;
    char *fname; /* the name made safe for a file name */
    /* Threads. */
    worker *workers;
    int nworkers;
    lmq_queue *wake_q; /* forward: the supervisor's handle, for wakeups */
    /* State, under b->mu. */
    lmq_route_status st;
    int attempt;          /* failures in a row */
    int64_t retry_mono;   /* monotonic ms of the next attempt */
    int64_t last_try_mono;
    int probing;
    int lock_fd;
    int leased;
    lmq_creds *creds;
    int dirty; /* the status file is behind */
    lmq_route_status status_last; /* as last written to the file */
    int64_t status_written_ms, lease_written_ms; /* monotonic */
    /* Pull: remote MessageIds committed (under seen_mu). */
    pthread_mutex_t seen_mu;
    seen_ent **seen_tab;
    size_t seen_cap, seen_n;
    seen_ent *seen_head, *seen_tail;
    /* ... and on disk, HOME/bridge-<route>.seen, so that a restarted
     * bridge still drops the repeats of what a killed one committed. */
    int seen_fd;       /* -1 until loaded */
    size_t seen_lines; /* lines in the file (compaction) */
};

struct lmq_bridge {
    uint32_t magic;
    lmq_env *env;
    char *home;
    int lease_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int stopping;
    /* 1 while the supervisor ticks slowly (every route ONLINE or STANDBY
     * and nothing changing): the first counter change wakes it. */
    atomic_int slow;
    int pipe_fd[2];
    route **routes;
    size_t n;
    int started, joined;
    pthread_t sup;
    atomic_int live; /* workers running */
    char token[33];
};

/* ---- small helpers ------------------------------------------------------ */

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *
xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int
stopping(const lmq_bridge *b)
{
    return atomic_load(&((lmq_bridge *)b)->stopping);
}

/* Kick the supervisor (async-signal-safe). */
static void
kick(lmq_bridge *b)
{
    if (b->pipe_fd[1] >= 0) {
        char c = 'k';
        ssize_t w = write(b->pipe_fd[1], &c, 1);
        (void)w; /* a full pipe already holds a kick */
    }
}

/* Timed wait on the bridge's condition variable (b->mu held). */
static void
cv_wait_ms(lmq_bridge *b, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ms < 0)
        ms = 0;
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&b->cv, &b->mu, &ts);
}

/* Wake every sleeper of the route: the condition variable and, for a
 * forward route, its local queue's waiters. */
static void
wake_route(route *r)
{
    pthread_mutex_lock(&r->b->mu);
    pthread_cond_broadcast(&r->b->cv);
    pthread_mutex_unlock(&r->b->mu);
    if (r->wake_q)
        lmq_queue_wakeup(r->wake_q);
}

LMQ_API const char *
lmq_route_state_name(int state)
{
    static const char *const names[] = {"STARTING", "ONLINE",  "BACKOFF",
                                        "PAUSED",   "STANDBY", "STOPPED"};
    return state >= 0 && state <= LMQ_ROUTE_STOPPED ? names[state]
                                                    : "UNKNOWN";
}

/* ---- route state -------------------------------------------------------- */

static void
set_state(route *r, int state)
{
    if (r->st.state != state) {
        r->st.state = state;
        r->dirty = 1;
    }
}

/* A request succeeded: the link is up. */
static void
route_ok(route *r)
{
    lmq_bridge *b = r->b;
    int woke = 0;
    pthread_mutex_lock(&b->mu);
    if (r->st.state != LMQ_ROUTE_ONLINE || r->probing)
        woke = 1;
    set_state(r, LMQ_ROUTE_ONLINE);
    r->attempt = 0;
    r->probing = 0;
    r->st.retry_at_ms = 0;
    r->st.last_success_ms = wall_ms();
    pthread_mutex_unlock(&b->mu);
    if (woke) {
        wake_route(r);
        kick(b);
    }
}

/* A failure of class f: BACKOFF or PAUSED until the next attempt. Returns
 * the delay in ms. */
static int64_t
route_fail(route *r, lmq_fault f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int64_t
route_fail(route *r, lmq_fault f, const char *fmt, ...)
{
    lmq_bridge *b = r->b;
    char msg[256];
    /* A stop abandons the request in progress: that is no failure of the
     * route, and its status must not say so. */
    if (stopping(b))
        return 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&b->mu);
    /* Full jitter over an exponential cap, never below backoff_min_ms so
     * that no draw makes a tight loop. */
    int64_t cap = r->bmin;
    for (int i = 0; i < r->attempt && cap < r->bmax; i++)
        cap *= 2;
    if (cap > r->bmax)
        cap = r->bmax;
    if (f == LMQ_FAULT_THROTTLED && cap < 4 * (int64_t)r->bmin)
        cap = 4 * (int64_t)r->bmin < r->bmax ? 4 * (int64_t)r->bmin
                                              : r->bmax;
    int64_t delay = (int64_t)randombytes_uniform((uint32_t)cap + 1);
    if (delay < r->bmin)
        delay = r->bmin;
    r->attempt++;
    r->probing = 0;
    r->retry_mono = mono_ms() + delay;
    r->st.retry_at_ms = wall_ms() + delay;
    set_state(r, f == LMQ_FAULT_CONFIG || f == LMQ_FAULT_CLIENT
                     ? LMQ_ROUTE_PAUSED
                     : LMQ_ROUTE_BACKOFF);
    if (strcmp(r->st.last_error, msg) != 0) {
        snprintf(r->st.last_error, sizeof r->st.last_error, "%s", msg);
        r->dirty = 1;
    }
    pthread_mutex_unlock(&b->mu);
    kick(b);
    return delay;
}

static void
count(route *r, uint64_t *field, uint64_t n)
{
    if (!n)
        return;
    pthread_mutex_lock(&r->b->mu);
    *field += n;
    r->dirty = 1;
    pthread_mutex_unlock(&r->b->mu);
    if (atomic_exchange(&r->b->slow, 0))
        kick(r->b);
}

/*
 * Whether this worker may call the remote now: 0 (go; it may have become
 * the probe), or the ms to wait first (the route waits for retry_at, or for
 * another worker's probe).
 */
static int64_t
may_go(route *r)
{
    lmq_bridge *b = r->b;
    int64_t wait = 0, now = mono_ms();
    pthread_mutex_lock(&b->mu);
    if (r->st.state == LMQ_ROUTE_BACKOFF || r->st.state == LMQ_ROUTE_PAUSED) {
        if (now < r->retry_mono)
            wait = r->retry_mono - now;
        else if (r->probing)
            wait = r->bmin; /* the probe's answer wakes us sooner */
        else
            r->probing = 1;
    } else if (r->st.state != LMQ_ROUTE_ONLINE) {
        set_state(r, LMQ_ROUTE_ONLINE);
    }
    if (!wait)
        r->last_try_mono = now;
    pthread_mutex_unlock(&b->mu);
    return wait;
}

/* ---- the lease ------------------------------------------------------------ */

static void
lease_write(route *r)
{
    char buf[160];
    int n = snprintf(buf, sizeof buf, "pid %ld\ntoken %s\nheartbeat %lld\n",
                     (long)getpid(), r->b->token, (long long)wall_ms());
    if (r->lock_fd >= 0 && n > 0) {
        if (ftruncate(r->lock_fd, 0) == 0 &&
            pwrite(r->lock_fd, buf, (size_t)n, 0) < 0)
            return; /* informational only */
    }
}

/* 1 when this process holds the route's lease (taking it if free). */
static int
lease_take(route *r)
{
    lmq_bridge *b = r->b;
    int held, taken = 0;
    pthread_mutex_lock(&b->mu);
    if (!r->leased) {
        if (r->lock_fd < 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s/bridge-%s.lock", b->home,
                     r->fname);
            r->lock_fd = lmq__home_open(path, O_RDWR | O_CREAT);
        }
        if (r->lock_fd >= 0 && flock(r->lock_fd, LOCK_EX | LOCK_NB) == 0) {
            r->leased = 1;
            taken = 1;
            set_state(r, LMQ_ROUTE_STARTING);
            lease_write(r);
        } else {
            set_state(r, LMQ_ROUTE_STANDBY);
        }
    }
    held = r->leased;
    pthread_mutex_unlock(&b->mu);
    /* Wake the supervisor (status file) only when the lease was just
     * taken: a kick per batch rewrote the status file twice a second. */
    if (taken)
        kick(b);
    return held;
}

static void
lease_release(route *r)
{
    if (r->lock_fd >= 0) {
        flock(r->lock_fd, LOCK_UN);
        close(r->lock_fd);
        r->lock_fd = -1;
    }
    r->leased = 0;
}

/* A standby waits a quarter of the lease before trying again. */
static void
standby_wait(route *r)
{
    lmq_bridge *b = r->b;
    pthread_mutex_lock(&b->mu);
    if (!stopping(b))
        cv_wait_ms(b, b->lease_ms / 4);
    pthread_mutex_unlock(&b->mu);
}

static void
cv_sleep(route *r, int64_t ms)
{
    lmq_bridge *b = r->b;
    pthread_mutex_lock(&b->mu);
    if (!stopping(b))
        cv_wait_ms(b, ms);
    pthread_mutex_unlock(&b->mu);
}

/* ---- the remote ----------------------------------------------------------- */

/* Open the worker's remote (and the route's credentials). 0, or -1 after
 * pausing the route. */
static int
remote_open(route *r, lmq_remote **out)
{
    lmq_bridge *b = r->b;
    pthread_mutex_lock(&b->mu);
    if (!r->creds) {
        lmq_creds_opts co;
        memset(&co, 0, sizeof co);
        co.profile = r->profile;
        co.access_key_id = r->akid;
        co.secret_access_key = r->secret;
        co.session_token = r->token;
        if (lmq__creds_open(&co, &r->creds) != 0) {
            r->creds = NULL;
            pthread_mutex_unlock(&b->mu);
            route_fail(r, LMQ_FAULT_CONFIG, "credentials: %s", lmq_errmsg());
            return -1;
        }
    }
    pthread_mutex_unlock(&b->mu);
    lmq_remote_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.endpoint = r->endpoint;
    ro.region = r->region;
    ro.creds = r->creds;
    ro.verify_tls = r->verify_tls;
    ro.timeout_ms = 30000;
    ro.connect_timeout_ms = 5000;
    ro.cancel = &b->stopping;
    if (lmq__remote_open(&ro, out) != 0) {
        *out = NULL;
        route_fail(r, LMQ_FAULT_CONFIG, "remote: %s", lmq_errmsg());
        return -1;
    }
    return 0;
}

static const char *
fault_name(lmq_fault f)
{
    switch (f) {
    case LMQ_FAULT_TRANSIENT:
        return "transient";
    case LMQ_FAULT_THROTTLED:
        return "throttled";
    case LMQ_FAULT_CONFIG:
        return "configuration";
    case LMQ_FAULT_MESSAGE:
        return "message";
    case LMQ_FAULT_CLIENT:
        return "client";
    default:
        return "none";
    }
}

/* Record a failed call: the route backs off or pauses. */
static void
call_failed(route *r, const char *action, const lmq_remote_error *e)
{
    lmq_fault f = e->fault == LMQ_FAULT_NONE || e->fault == LMQ_FAULT_MESSAGE
                      ? LMQ_FAULT_TRANSIENT
                      : e->fault;
    if (e->http_status)
        route_fail(r, f, "%s: %s (HTTP %d, %s): %s", action, e->code,
                   e->http_status, fault_name(f), e->message);
    else
        route_fail(r, f, "%s: %s (%s): %s", action, e->code, fault_name(f),
                   e->message);
}

/* ---- messages and attributes -------------------------------------------- */

/* Message attributes of a local message as the JSON shape, plus extra
 * (name, String value) when extra is not NULL. NULL on failure (a value
 * that is not UTF-8). */
static json_t *
attrs_json(const lmq_mattrs *a, const char *xname, const char *xval)
{
    json_t *o = json_object();
    size_t n = lmq_mattrs_count(a);
    for (size_t i = 0; o && i < n; i++) {
        const char *name, *type;
        const void *val;
        size_t len;
        if (lmq_mattrs_at(a, i, &name, &type, &val, &len) != 0)
            continue;
        json_t *v = json_object();
        json_object_set_new(v, "DataType", json_string(type));
        if (strncmp(type, "Binary", 6) == 0) {
            size_t cap = sodium_base64_ENCODED_LEN(len,
                                                   sodium_base64_VARIANT_ORIGINAL);
            char *b64 = malloc(cap);
            if (!b64) {
                json_decref(v);
                json_decref(o);
                return NULL;
            }
            sodium_bin2base64(b64, cap, val, len,
                              sodium_base64_VARIANT_ORIGINAL);
            json_object_set_new(v, "BinaryValue", json_string(b64));
            free(b64);
        } else {
            json_t *s = json_stringn(val, len);
            if (!s) {
                json_decref(v);
                json_decref(o);
                return NULL;
            }
            json_object_set_new(v, "StringValue", s);
        }
        json_object_set_new(o, name, v);
    }
    if (o && xname) {
        json_t *v = json_object();
        json_object_set_new(v, "DataType", json_string("String"));
        json_object_set_new(v, "StringValue", json_string(xval));
        json_object_set_new(o, xname, v);
    }
    return o;
}

/* A copy of a with (name, String value) added. NULL on ENOMEM. */
static lmq_mattrs *
attrs_plus(const lmq_mattrs *a, const char *xname, const char *xval)
{
    lmq_mattrs *c = lmq_mattrs_new();
    size_t n = lmq_mattrs_count(a);
    for (size_t i = 0; c && i < n; i++) {
        const char *name, *type;
        const void *val;
        size_t len;
        if (lmq_mattrs_at(a, i, &name, &type, &val, &len) == 0 &&
            lmq_mattrs_add(c, name, type, val, len) != 0) {
            lmq_mattrs_free(c);
            return NULL;
        }
    }
    if (c && xname && lmq_mattrs_add(c, xname, "String", xval,
                                     strlen(xval)) != 0) {
        lmq_mattrs_free(c);
        return NULL;
    }
    return c;
}

/* Whether the attribute list has name. */
static int
attrs_has(const lmq_mattrs *a, const char *name)
{
    size_t n = lmq_mattrs_count(a);
    for (size_t i = 0; i < n; i++) {
        const char *k;
        if (lmq_mattrs_at(a, i, &k, NULL, NULL, NULL) == 0 &&
            strcmp(k, name) == 0)
            return 1;
    }
    return 0;
}

/* ---- the route's dead-letter queue -------------------------------------- */

/* Open (creating it if absent) the route's local dead-letter queue. */
static int
dlq_open(route *r, lmq_queue **q)
{
    lmq_env *env = r->b->env;
    int rc = lmq_queue_open(env, r->dlq, q);
    if (rc != LMQ_ENOQUEUE)
        return rc;
    lmq_map *attrs = lmq_map_new();
    if (!attrs)
        return LMQ_ENOMEM;
    size_t len = strlen(r->dlq);
    int fifo = len > 5 && strcmp(r->dlq + len - 5, ".fifo") == 0;
    /* Keep what lands here as long as SQS allows: it is the only copy. */
    lmq_map_set(attrs, "MessageRetentionPeriod", "1209600");
    lmq_map_set(attrs, "MaximumMessageSize", "1048576");
    if (fifo)
        lmq_map_set(attrs, "FifoQueue", "true");
    rc = lmq_queue_create(env, r->dlq, attrs, NULL, NULL);
    lmq_map_free(attrs);
    if (rc != 0 && rc != LMQ_EQUEUEEXISTS)
        return rc;
    return lmq_queue_open(env, r->dlq, q);
}

/*
 * Commit a copy of a message to the route's DLQ with the reason in
 * lmq.BridgeError. group/dedup are used when the DLQ is FIFO. 0, or an
 * lmq error (the original must then be kept).
 */
static int
dlq_put(route *r, const char *body, size_t body_len, const lmq_mattrs *a,
        const char *group, const char *dedup, const char *reason)
{
    lmq_queue *q = NULL;
    int rc = dlq_open(r, &q);
    if (rc != 0)
        return rc;
    /* Ten attributes already: the reason cannot be added; it stays in the
     * route's last_error (docs/BRIDGE.md). */
    lmq_mattrs *c = lmq_mattrs_count(a) >= LMQ_MAX_MATTRS
                        ? attrs_plus(a, NULL, NULL)
                        : attrs_plus(a, ATTR_ERROR, reason);
    if (!c) {
        lmq_queue_close(q);
        return LMQ_ENOMEM;
    }
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = body;
    e.body_len = body_len;
    e.delay_seconds = 0;
    e.attrs = lmq_mattrs_count(c) ? c : NULL;
    if (lmq_queue_is_fifo(q)) {
        e.group_id = group && *group ? group : "default";
        e.dedup_id = dedup;
    }
    lmq_send_result res;
    rc = lmq_send(q, &e, &res);
    lmq_mattrs_free(c);
    lmq_queue_close(q);
    if (rc == 0) {
        pthread_mutex_lock(&r->b->mu);
        snprintf(r->st.last_error, sizeof r->st.last_error,
                 "dead-lettered %s: %s", dedup ? dedup : "", reason);
        r->st.dead_lettered++;
        r->dirty = 1;
        pthread_mutex_unlock(&r->b->mu);
    }
    return rc;
}

/* ---- forward -------------------------------------------------------------- */

enum { E_PENDING = 0, E_DELETE, E_RETRY, E_DLQ, E_CONFIG };

typedef struct fwd_batch {
    lmq_msg *m[10];
    size_t n;
    int fate[10];
    char reason[10][256];
    char md5_attrs[10][33]; /* the MD5 of the attributes sent */
    lmq_fault fault[10];
    int64_t vis_until; /* monotonic ms the batch stays invisible until */
} fwd_batch;

static void
batch_free(fwd_batch *bt)
{
    for (size_t i = 0; i < bt->n; i++)
        lmq_msg_free(bt->m[i]);
    bt->n = 0;
}

/* Change the local visibility of the batch entries whose fate is `which`
 * (-1: all) to secs. */
static void
batch_visibility(lmq_queue *q, fwd_batch *bt, int which, int secs)
{
    lmq_handle_entry he[10];
    lmq_batch_result res[10];
    char ids[10][24];
    size_t k = 0;
    if (secs > LMQ_MAX_VISIBILITY)
        secs = LMQ_MAX_VISIBILITY;
    for (size_t i = 0; i < bt->n; i++) {
        if (which >= 0 && bt->fate[i] != which)
            continue;
        snprintf(ids[k], sizeof ids[k], "%zu", i);
        he[k].id = ids[k];
        he[k].receipt = lmq_msg_receipt(bt->m[i]);
        he[k].timeout_seconds = secs;
        k++;
    }
    if (k)
        (void)lmq_change_visibility_batch(q, he, k, res);
}

/* Delete the entries of the batch whose fate is `which`. */
static int
batch_delete(lmq_queue *q, fwd_batch *bt, int which)
{
    lmq_handle_entry he[10];
    lmq_batch_result res[10];
    char ids[10][24];
    size_t k = 0;
    for (size_t i = 0; i < bt->n; i++) {
        if (bt->fate[i] != which)
            continue;
        snprintf(ids[k], sizeof ids[k], "%zu", i);
        he[k].id = ids[k];
        he[k].receipt = lmq_msg_receipt(bt->m[i]);
        he[k].timeout_seconds = 0;
        k++;
    }
    return k ? lmq_delete_batch(q, he, k, res) : 0;
}

static const char *
sys_attr(const lmq_msg *m, const char *name)
{
    const char *v = lmq_msg_sys_attr(m, name);
    return v && *v ? v : NULL;
}

/* The SendMessageBatch input of the batch's pending entries; entries that
 * cannot be encoded are marked E_DLQ with the reason. NULL when none is
 * left to send. */
static json_t *
build_send(route *r, fwd_batch *bt)
{
    json_t *entries = json_array();
    for (size_t i = 0; i < bt->n; i++) {
        lmq_msg *m = bt->m[i];
        bt->fate[i] = E_PENDING;
        bt->md5_attrs[i][0] = '\0';
        size_t len;
        const char *body = lmq_msg_body(m, &len);
        const lmq_mattrs *a = lmq_msg_attrs(m);
        /* lmq.MessageId unless the message already carries one (it came
         * over another bridge) or has SQS's maximum of 10 attributes. */
        int add = !attrs_has(a, ATTR_MSGID) &&
                  lmq_mattrs_count(a) < LMQ_MAX_MATTRS;
        json_t *e = json_object();
        json_t *jb = json_stringn(body, len);
        json_t *ja = attrs_json(a, add ? ATTR_MSGID : NULL, lmq_msg_id(m));
        if (!jb || !ja) {
            json_decref(jb);
            json_decref(ja);
            json_decref(e);
            bt->fate[i] = E_DLQ;
            snprintf(bt->reason[i], sizeof bt->reason[i],
                     "lmq: the body or an attribute is not valid UTF-8");
            continue;
        }
        lmq_mattrs *sent = attrs_plus(a, add ? ATTR_MSGID : NULL,
                                      lmq_msg_id(m));
        if (sent && lmq_mattrs_count(sent))
            lmq_mattrs_md5(sent, bt->md5_attrs[i]);
        lmq_mattrs_free(sent);
        char id[24];
        snprintf(id, sizeof id, "%zu", i);
        json_object_set_new(e, "Id", json_string(id));
        json_object_set_new(e, "MessageBody", jb);
        if (json_object_size(ja))
            json_object_set_new(e, "MessageAttributes", ja);
        else
            json_decref(ja);
        if (r->remote_fifo) {
            const char *g = sys_attr(m, "MessageGroupId");
            const char *d = sys_attr(m, "MessageDeduplicationId");
            json_object_set_new(e, "MessageGroupId",
                                json_string(g ? g : "default"));
            json_object_set_new(e, "MessageDeduplicationId",
                                json_string(d ? d : lmq_msg_id(m)));
        }
        json_array_append_new(entries, e);
    }
    if (json_array_size(entries) == 0) {
        json_decref(entries);
        return NULL;
    }
    json_t *in = json_object();
    json_object_set_new(in, "QueueUrl", json_string(r->remote_url));
    json_object_set_new(in, "Entries", entries);
    return in;
}

/* Dead-letter the E_DLQ entries; the ones committed there become
 * E_DELETE, the others E_RETRY. */
static void
fwd_dead_letter(route *r, fwd_batch *bt)
{
    for (size_t i = 0; i < bt->n; i++) {
        if (bt->fate[i] != E_DLQ)
            continue;
        lmq_msg *m = bt->m[i];
        size_t len;
        const char *body = lmq_msg_body(m, &len);
        int rc = dlq_put(r, body, len, lmq_msg_attrs(m),
                         sys_attr(m, "MessageGroupId"), lmq_msg_id(m),
                         bt->reason[i]);
        if (rc == 0) {
            bt->fate[i] = E_DELETE;
        } else {
            bt->fate[i] = E_RETRY;
            bt->fault[i] = LMQ_FAULT_TRANSIENT;
            route_fail(r, LMQ_FAULT_TRANSIENT, "dead-letter queue %s: %s",
                       r->dlq, lmq_errmsg());
        }
    }
}

/*
 * Ship the batch once. Returns 0 when the batch is settled (freed), or 1
 * when the whole request failed and the batch is kept for the retry.
 */
static int
fwd_ship(route *r, lmq_queue *q, lmq_remote *rem, fwd_batch *bt)
{
    json_t *in = build_send(r, bt);
    json_t *out = NULL;
    lmq_remote_error err;
    if (in) {
        memset(&err, 0, sizeof err);
        int rc = lmq__remote_call(rem, "SendMessageBatch", in, &out, &err);
        json_decref(in);
        if (rc != 0) {
            /* Nothing known to be accepted: keep the whole batch. */
            count(r, &r->st.retried, bt->n);
            call_failed(r, "SendMessageBatch", &err);
            return 1;
        }
        route_ok(r);
        size_t k;
        json_t *v;
        json_array_foreach(json_object_get(out, "Successful"), k, v) {
            const char *id = json_string_value(json_object_get(v, "Id"));
            size_t i = id ? (size_t)atoi(id) : bt->n;
            if (i >= bt->n || bt->fate[i] != E_PENDING)
                continue;
            const char *mb =
                json_string_value(json_object_get(v, "MD5OfMessageBody"));
            const char *ma = json_string_value(
                json_object_get(v, "MD5OfMessageAttributes"));
            int ok = mb && strcmp(mb, lmq_msg_md5_body(bt->m[i])) == 0 &&
                     strcmp(ma ? ma : "", bt->md5_attrs[i]) == 0;
            if (ok) {
                bt->fate[i] = E_DELETE;
            } else if (lmq_msg_receive_count(bt->m[i]) >= MD5_MAX_TRIES) {
                char want[33];
                memcpy(want, bt->md5_attrs[i], sizeof want);
                bt->fate[i] = E_DLQ;
                snprintf(bt->reason[i], sizeof bt->reason[i],
                         "lmq: the remote's MD5s differ from the message's "
                         "(%s/%s, expected %s/%s) %d times",
                         mb ? mb : "-", ma ? ma : "-",
                         lmq_msg_md5_body(bt->m[i]), want, MD5_MAX_TRIES);
            } else {
                bt->fate[i] = E_RETRY;
                bt->fault[i] = LMQ_FAULT_TRANSIENT;
                route_fail(r, LMQ_FAULT_TRANSIENT,
                           "SendMessageBatch: MD5 mismatch for %s",
                           lmq_msg_id(bt->m[i]));
            }
        }
        json_array_foreach(json_object_get(out, "Failed"), k, v) {
            const char *id = json_string_value(json_object_get(v, "Id"));
            size_t i = id ? (size_t)atoi(id) : bt->n;
            if (i >= bt->n || bt->fate[i] != E_PENDING)
                continue;
            const char *code = json_string_value(json_object_get(v, "Code"));
            const char *msg =
                json_string_value(json_object_get(v, "Message"));
            int sender = json_is_true(json_object_get(v, "SenderFault"));
            lmq_fault f = lmq__sqs_classify(0, code, sender);
            snprintf(bt->reason[i], sizeof bt->reason[i], "%s: %s",
                     code ? code : "?", msg ? msg : "");
            bt->fault[i] = f;
            if (f == LMQ_FAULT_MESSAGE) {
                bt->fate[i] = E_DLQ;
            } else {
                bt->fate[i] = E_RETRY;
                route_fail(r, f == LMQ_FAULT_NONE ? LMQ_FAULT_TRANSIENT : f,
                           "SendMessageBatch entry: %s", bt->reason[i]);
            }
        }
        json_decref(out);
    }
    /* An entry the answer did not mention is retried. */
    for (size_t i = 0; i < bt->n; i++)
        if (bt->fate[i] == E_PENDING) {
            bt->fate[i] = E_RETRY;
            bt->fault[i] = LMQ_FAULT_TRANSIENT;
        }
    /* FIFO: after a group's first retried entry, its later entries are
     * retried too even if accepted (a resend is deduplicated by SQS). */
    if (r->remote_fifo || lmq_queue_is_fifo(q)) {
        for (size_t i = 0; i < bt->n; i++) {
            if (bt->fate[i] != E_RETRY)
                continue;
            const char *g = sys_attr(bt->m[i], "MessageGroupId");
            for (size_t j = i + 1; j < bt->n; j++) {
                const char *gj = sys_attr(bt->m[j], "MessageGroupId");
                if (bt->fate[j] == E_DELETE &&
                    ((!g && !gj) || (g && gj && strcmp(g, gj) == 0)))
                    bt->fate[j] = E_RETRY;
            }
        }
    }
    uint64_t accepted = 0, retried = 0;
    for (size_t i = 0; i < bt->n; i++) {
        accepted += bt->fate[i] == E_DELETE;
        retried += bt->fate[i] == E_RETRY;
    }
    fwd_dead_letter(r, bt);
    int rc = batch_delete(q, bt, E_DELETE);
    if (rc != 0)
        route_fail(r, LMQ_FAULT_TRANSIENT, "local delete: %s", lmq_errmsg());
    count(r, &r->st.shipped, accepted);
    count(r, &r->st.retried, retried);
    if (retried) {
        /* They come back after the route's backoff. */
        int64_t d;
        pthread_mutex_lock(&r->b->mu);
        d = r->retry_mono - mono_ms();
        pthread_mutex_unlock(&r->b->mu);
        int secs = d > 0 ? (int)((d + 999) / 1000) : 1;
        batch_visibility(q, bt, E_RETRY, secs);
    }
    batch_free(bt);
    return 0;
}

/* Sleep until the route may call again (at most wait ms), holding the
 * batch (its visibility extended to cover the wait). A local send wakes a
 * route in BACKOFF sooner, but no sooner than backoff_min_ms after its
 * last attempt. */
static void
fwd_wait(route *r, lmq_queue *q, fwd_batch *bt, int64_t wait)
{
    lmq_bridge *b = r->b;
    /* Extend only when the wait outlasts the batch's visibility: an
     * extension is a commit. */
    if (bt->n && mono_ms() + wait + 1000 > bt->vis_until) {
        int secs = (int)(wait / 1000) + r->vt + 1;
        batch_visibility(q, bt, -1, secs);
        bt->vis_until = mono_ms() + (int64_t)secs * 1000;
    }
    uint32_t tok = lmq__notify_token(b->env->notify, q->qid);
    if (stopping(b))
        return;
    int rc = lmq_queue_wait(q, tok, wait);
    if (rc != 0)
        return; /* timed out (the time has come) or interrupted */
    pthread_mutex_lock(&b->mu);
    int64_t now = mono_ms();
    if (r->st.state == LMQ_ROUTE_BACKOFF && now < r->retry_mono &&
        now - r->last_try_mono >= r->bmin) {
        r->retry_mono = now;
        r->st.retry_at_ms = wall_ms();
    }
    pthread_mutex_unlock(&b->mu);
}

static void *
forward_main(void *arg)
{
    worker *w = arg;
    route *r = w->r;
    lmq_bridge *b = r->b;
    lmq_queue *q = NULL;
    lmq_remote *rem = NULL;
    fwd_batch bt;
    static const char *const all[] = {"All", NULL};
    memset(&bt, 0, sizeof bt);

    while (!stopping(b)) {
        if (!lease_take(r)) {
            standby_wait(r);
            continue;
        }
        if (!q && lmq_queue_open(b->env, r->local, &q) != 0) {
            q = NULL;
            route_fail(r, LMQ_FAULT_CONFIG, "local queue %s: %s", r->local,
                       lmq_errmsg());
            cv_sleep(r, r->bmax);
            continue;
        }
        int64_t wait = may_go(r);
        if (wait > 0) {
            fwd_wait(r, q, &bt, wait);
            continue;
        }
        if (!rem && remote_open(r, &rem) != 0)
            continue;
        if (bt.n == 0) {
            lmq_recv_opts o;
            lmq_recv_opts_init(&o);
            o.max_messages = r->batch;
            o.visibility_timeout = r->vt;
            o.wait_seconds = 0;
            o.attribute_names = all;
            uint32_t tok = 0;
            int64_t next = 0;
            int rc = lmq_receive_poll(q, &o, bt.m, (size_t)r->batch, &bt.n,
                                      &tok, &next, NULL);
            bt.vis_until = mono_ms() + (int64_t)r->vt * 1000;
            if (rc != 0) {
                route_fail(r, rc == LMQ_ENOQUEUE ? LMQ_FAULT_CONFIG
                                                 : LMQ_FAULT_TRANSIENT,
                           "local receive: %s", lmq_errmsg());
                if (rc == LMQ_ENOQUEUE) {
                    lmq_queue_close(q);
                    q = NULL;
                }
                /* Not a probe: release the probe flag for the others. */
                continue;
            }
            if (bt.n == 0) {
                /* Idle: the probe (if this was one) found nothing to do;
                 * the next send wakes us. */
                pthread_mutex_lock(&b->mu);
                r->probing = 0;
                pthread_mutex_unlock(&b->mu);
                int64_t t = 60000;
                if (next > 0) {
                    t = next - lmq_env_now(b->env);
                    t = t < 1 ? 1 : t > 60000 ? 60000 : t;
                }
                if (!stopping(b))
                    lmq_queue_wait(q, tok, t);
                continue;
            }
        }
        fwd_ship(r, q, rem, &bt);
    }
    /* Stopping: what this worker holds is visible again at once, for the
     * next holder of the lease. */
    if (q && bt.n)
        batch_visibility(q, &bt, -1, 0);
    batch_free(&bt);
    lmq_queue_close(q);
    lmq__remote_close(rem);
    atomic_fetch_sub(&b->live, 1);
    return NULL;
}

/* ---- pull: remote MessageIds already committed --------------------------- */

static size_t
seen_hash(const char *s, size_t cap)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)(h & (cap - 1));
}

/* Drop expired entries (seen_mu held). */
static void
seen_prune(route *r, int64_t now)
{
    while (r->seen_head && r->seen_head->expires <= now) {
        seen_ent *e = r->seen_head;
        seen_ent **pp = &r->seen_tab[seen_hash(e->id, r->seen_cap)];
        while (*pp && *pp != e)
            pp = &(*pp)->hnext;
        if (*pp)
            *pp = e->hnext;
        r->seen_head = e->onext;
        if (!r->seen_head)
            r->seen_tail = NULL;
        free(e);
        r->seen_n--;
    }
}

static void seen_load(route *r);

static int
seen_has(route *r, const char *id)
{
    pthread_mutex_lock(&r->seen_mu);
    seen_load(r);
    seen_prune(r, mono_ms());
    int found = 0;
    if (r->seen_tab)
        for (seen_ent *e = r->seen_tab[seen_hash(id, r->seen_cap)]; e;
             e = e->hnext)
            if (strcmp(e->id, id) == 0) {
                found = 1;
                break;
            }
    pthread_mutex_unlock(&r->seen_mu);
    return found;
}

/* Insert id, expiring at monotonic time expires (seen_mu held). */
static void
seen_insert(route *r, const char *id, int64_t expires)
{
    size_t len = strlen(id);
    seen_ent *e = malloc(sizeof *e + len + 1);
    if (!e)
        return; /* a repeat may then be committed twice: at-least-once */
    memcpy(e->id, id, len + 1);
    e->expires = expires;
    e->onext = NULL;
    if (r->seen_n + 1 > r->seen_cap / 2) {
        size_t nc = r->seen_cap ? r->seen_cap * 2 : 1024;
        seen_ent **nt = calloc(nc, sizeof *nt);
        if (nt) {
            for (seen_ent *x = r->seen_head; x; x = x->onext) {
                size_t h = seen_hash(x->id, nc);
                x->hnext = nt[h];
                nt[h] = x;
            }
            free(r->seen_tab);
            r->seen_tab = nt;
            r->seen_cap = nc;
        }
    }
    if (!r->seen_tab) {
        free(e);
        return;
    }
    size_t h = seen_hash(id, r->seen_cap);
    e->hnext = r->seen_tab[h];
    r->seen_tab[h] = e;
    if (r->seen_tail)
        r->seen_tail->onext = e;
    else
        r->seen_head = e;
    r->seen_tail = e;
    r->seen_n++;
}

static int64_t
seen_ttl(const route *r)
{
    int64_t ttl = (int64_t)r->vt * 1000;
    return ttl < SEEN_MIN_MS ? SEEN_MIN_MS : ttl;
}

static void
seen_add(route *r, const char *id)
{
    pthread_mutex_lock(&r->seen_mu);
    seen_insert(r, id, mono_ms() + seen_ttl(r));
    pthread_mutex_unlock(&r->seen_mu);
}

/*
 * The seen set on disk: lines "<expiry, epoch ms> <remote MessageId>",
 * appended (one write and one fdatasync per batch) after the local commit
 * and before the remote delete. A bridge killed between the two commits
 * still repeats that batch (the window is one write); one killed later
 * leaves its ids here, and the next run drops their repeats. The file is
 * rewritten with the live entries when it holds four times as many lines.
 */
static void
seen_path(const route *r, char *path, size_t len)
{
    snprintf(path, len, "%s/bridge-%s.seen", r->b->home, r->fname);
}

/* Load the file once (seen_mu held). */
static void
seen_load(route *r)
{
    char path[4096];
    if (r->seen_fd >= 0)
        return;
    seen_path(r, path, sizeof path);
    int rfd = lmq__home_open(path, O_RDONLY);
    FILE *f = rfd >= 0 ? fdopen(rfd, "r") : NULL;
    if (rfd >= 0 && !f)
        close(rfd);
    int64_t wall = wall_ms(), mono = mono_ms();
    if (f) {
        char line[600], id[512];
        long long exp;
        while (fgets(line, sizeof line, f)) {
            r->seen_lines++;
            if (sscanf(line, "%lld %511s", &exp, id) == 2 && exp > wall)
                seen_insert(r, id, mono + (exp - wall));
        }
        fclose(f);
    }
    r->seen_fd = lmq__home_open(path, O_WRONLY | O_CREAT | O_APPEND);
}

/* Rewrite the file with the live entries (seen_mu held). */
static void
seen_compact(route *r)
{
    char path[4096], tmp[4200];
    seen_path(r, path, sizeof path);
    int tfd = lmq__home_tmp(path, tmp, sizeof tmp);
    FILE *f = tfd >= 0 ? fdopen(tfd, "w") : NULL;
    if (!f) {
        if (tfd >= 0) {
            close(tfd);
            unlink(tmp);
        }
        return;
    }
    int64_t wall = wall_ms(), mono = mono_ms();
    size_t n = 0;
    for (seen_ent *e = r->seen_head; e; e = e->onext, n++)
        fprintf(f, "%lld %s\n", (long long)(wall + (e->expires - mono)),
                e->id);
    if (fflush(f) != 0 || fdatasync(fileno(f)) != 0) {
        fclose(f);
        unlink(tmp);
        return;
    }
    fclose(f);
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return;
    }
    if (r->seen_fd >= 0)
        close(r->seen_fd);
    r->seen_fd = lmq__home_open(path, O_WRONLY | O_APPEND);
    r->seen_lines = n;
}

/* Record the ids of one committed batch on disk. */
static void
seen_persist(route *r, const char *const *ids, size_t n)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&r->seen_mu);
    seen_load(r);
    int64_t exp = wall_ms() + seen_ttl(r);
    size_t cap = n * 160, len = 0;
    char *buf = malloc(cap);
    if (buf && r->seen_fd >= 0) {
        for (size_t i = 0; i < n; i++) {
            int k = snprintf(buf + len, cap - len, "%lld %.140s\n",
                             (long long)exp, ids[i]);
            if (k > 0 && (size_t)k < cap - len)
                len += (size_t)k;
        }
        if (write(r->seen_fd, buf, len) == (ssize_t)len)
            (void)fdatasync(r->seen_fd);
        r->seen_lines += n;
        if (r->seen_lines > 4096 && r->seen_lines > 4 * r->seen_n)
            seen_compact(r);
    }
    free(buf);
    pthread_mutex_unlock(&r->seen_mu);
}

static void
seen_free(route *r)
{
    seen_ent *e = r->seen_head;
    while (e) {
        seen_ent *n = e->onext;
        free(e);
        e = n;
    }
    free(r->seen_tab);
    r->seen_tab = NULL;
    r->seen_head = r->seen_tail = NULL;
    if (r->seen_fd >= 0)
        close(r->seen_fd);
    r->seen_fd = -1;
    r->seen_n = r->seen_cap = 0;
}

/* ---- pull ----------------------------------------------------------------- */

/* The remote message's attributes as a list; NULL on a malformed value. */
static lmq_mattrs *
attrs_from_json(json_t *ja)
{
    lmq_mattrs *a = lmq_mattrs_new();
    const char *name;
    json_t *v;
    json_object_foreach(ja, name, v) {
        const char *type = json_string_value(json_object_get(v, "DataType"));
        const char *sv = json_string_value(json_object_get(v, "StringValue"));
        const char *bv = json_string_value(json_object_get(v, "BinaryValue"));
        if (!a || !type)
            goto bad;
        if (bv) {
            size_t cap = strlen(bv), len = 0;
            unsigned char *bin = malloc(cap + 1);
            if (!bin || sodium_base642bin(bin, cap + 1, bv, cap, NULL, &len,
                                          NULL,
                                          sodium_base64_VARIANT_ORIGINAL) !=
                            0) {
                free(bin);
                goto bad;
            }
            int rc = lmq_mattrs_add(a, name, type, bin, len);
            free(bin);
            if (rc != 0)
                goto bad;
        } else if (sv) {
            if (lmq_mattrs_add(a, name, type, sv,
                               json_string_length(
                                   json_object_get(v, "StringValue"))) != 0)
                goto bad;
        } else {
            goto bad;
        }
    }
    return a;
bad:
    lmq_mattrs_free(a);
    return NULL;
}

/* Delete remote messages by receipt (entries[i] are receipts). Errors are
 * counted; the repeats they cause are dropped by the seen set. */
static void
pull_delete(route *r, lmq_remote *rem, const char **receipts, size_t n)
{
    if (!n)
        return;
    json_t *in = json_object(), *entries = json_array();
    json_object_set_new(in, "QueueUrl", json_string(r->remote_url));
    for (size_t i = 0; i < n; i++) {
        char id[24];
        snprintf(id, sizeof id, "%zu", i);
        json_t *e = json_object();
        json_object_set_new(e, "Id", json_string(id));
        json_object_set_new(e, "ReceiptHandle", json_string(receipts[i]));
        json_array_append_new(entries, e);
    }
    json_object_set_new(in, "Entries", entries);
    json_t *out = NULL;
    lmq_remote_error err;
    memset(&err, 0, sizeof err);
    if (lmq__remote_call(rem, "DeleteMessageBatch", in, &out, &err) != 0) {
        count(r, &r->st.retried, n);
        call_failed(r, "DeleteMessageBatch", &err);
    } else {
        size_t nf = json_array_size(json_object_get(out, "Failed"));
        count(r, &r->st.retried, nf);
    }
    json_decref(in);
    json_decref(out);
}

/* Extend the remote visibility of messages not committed yet. */
static void
pull_extend(route *r, lmq_remote *rem, json_t *msgs)
{
    json_t *in = json_object(), *entries = json_array();
    json_object_set_new(in, "QueueUrl", json_string(r->remote_url));
    size_t k;
    json_t *m;
    json_array_foreach(msgs, k, m) {
        char id[24];
        snprintf(id, sizeof id, "%zu", k);
        json_t *e = json_object();
        json_object_set_new(e, "Id", json_string(id));
        json_object_set(e, "ReceiptHandle",
                        json_object_get(m, "ReceiptHandle"));
        json_object_set_new(e, "VisibilityTimeout", json_integer(r->vt));
        json_array_append_new(entries, e);
    }
    json_object_set_new(in, "Entries", entries);
    json_t *out = NULL;
    lmq_remote_error err;
    if (lmq__remote_call(rem, "ChangeMessageVisibilityBatch", in, &out,
                         &err) == 0)
        json_decref(out);
    json_decref(in);
}

/* Commit one ReceiveMessage answer locally, then delete it remotely. */
static void
pull_commit(route *r, lmq_queue *q, lmq_remote *rem, json_t *msgs,
            int64_t received_mono)
{
    size_t n = json_array_size(msgs);
    lmq_send_entry ent[10];
    lmq_send_result res[10];
    lmq_mattrs *attrs[10];
    size_t idx[10]; /* entry -> message index */
    const char *del[10], *done_ids[10];
    size_t ne = 0, nd = 0, na = 0, ndone = 0;
    uint64_t dups = 0, bad = 0;
    int fifo = lmq_queue_is_fifo(q);
    char eid[10][24];

    if (n > 10)
        n = 10;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        const char *id = json_string_value(json_object_get(m, "MessageId"));
        const char *rh =
            json_string_value(json_object_get(m, "ReceiptHandle"));
        json_t *jb = json_object_get(m, "Body");
        const char *body = json_string_value(jb);
        const char *md5 = json_string_value(json_object_get(m, "MD5OfBody"));
        if (!id || !rh || !body)
            continue;
        if (seen_has(r, id)) {
            dups++;
            del[nd++] = rh;
            continue;
        }
        size_t blen = json_string_length(jb);
        char mine[33];
        lmq__md5_hex(body, blen, mine);
        lmq_mattrs *a =
            attrs_from_json(json_object_get(m, "MessageAttributes"));
        const char *ma =
            json_string_value(json_object_get(m, "MD5OfMessageAttributes"));
        char amd5[33] = "";
        if (a && lmq_mattrs_count(a))
            lmq_mattrs_md5(a, amd5);
        if (!a || (md5 && strcmp(md5, mine) != 0) ||
            strcmp(ma ? ma : "", amd5) != 0) {
            /* Garbled on the way: leave it; it comes back after the
             * remote visibility timeout. */
            lmq_mattrs_free(a);
            bad++;
            continue;
        }
        lmq_send_entry_init(&ent[ne]);
        snprintf(eid[ne], sizeof eid[ne], "%zu", ne);
        ent[ne].id = eid[ne];
        ent[ne].body = body;
        ent[ne].body_len = blen;
        ent[ne].delay_seconds = 0;
        ent[ne].attrs = lmq_mattrs_count(a) ? a : NULL;
        if (fifo) {
            const char *g = json_string_value(json_object_get(
                json_object_get(m, "Attributes"), "MessageGroupId"));
            ent[ne].group_id = g && *g ? g : "default";
            ent[ne].dedup_id = id;
        }
        attrs[ne] = a;
        idx[ne] = i;
        ne++;
    }
    na = ne;
    count(r, &r->st.duplicates, dups);
    count(r, &r->st.retried, bad);
    if (bad)
        route_fail(r, LMQ_FAULT_TRANSIENT,
                   "ReceiveMessage: MD5 mismatch (left on the remote)");
    if (ne) {
        /* Slow to get here (a retry of the local commit): keep the remote
         * copies hidden while we commit. */
        if (mono_ms() - received_mono > (int64_t)r->vt * 500)
            pull_extend(r, rem, msgs);
        int rc = lmq_send_batch(q, ent, ne, res);
        if (rc != 0) {
            /* Nothing committed: leave them on the remote. */
            route_fail(r, rc == LMQ_ENOQUEUE ? LMQ_FAULT_CONFIG
                                             : LMQ_FAULT_TRANSIENT,
                       "local send to %s: %s", r->local, lmq_errmsg());
            count(r, &r->st.retried, ne);
            ne = 0;
        }
        uint64_t pulled = 0;
        for (size_t e = 0; e < ne; e++) {
            json_t *m = json_array_get(msgs, idx[e]);
            const char *id =
                json_string_value(json_object_get(m, "MessageId"));
            const char *rh =
                json_string_value(json_object_get(m, "ReceiptHandle"));
            int ok = res[e].err == 0;
            if (!ok) {
                char why[300];
                snprintf(why, sizeof why, "local %s: %s",
                         lmq_err_sqs_code(res[e].err), res[e].errmsg);
                int drc = dlq_put(r, ent[e].body, ent[e].body_len,
                                  ent[e].attrs, ent[e].group_id, id, why);
                if (drc == 0)
                    ok = 1;
                else
                    route_fail(r, LMQ_FAULT_TRANSIENT,
                               "dead-letter queue %s: %s", r->dlq,
                               lmq_errmsg());
            } else {
                pulled++;
            }
            if (ok) {
                seen_add(r, id);
                done_ids[ndone++] = id;
                del[nd++] = rh;
            }
        }
        count(r, &r->st.pulled, pulled);
    }
    seen_persist(r, done_ids, ndone);
    for (size_t e = 0; e < na; e++)
        lmq_mattrs_free(attrs[e]);
    pull_delete(r, rem, del, nd);
}

static void *
pull_main(void *arg)
{
    worker *w = arg;
    route *r = w->r;
    lmq_bridge *b = r->b;
    lmq_queue *q = NULL;
    lmq_remote *rem = NULL;

    while (!stopping(b)) {
        if (!lease_take(r)) {
            standby_wait(r);
            continue;
        }
        if (!q && lmq_queue_open(b->env, r->local, &q) != 0) {
            q = NULL;
            route_fail(r, LMQ_FAULT_CONFIG, "local queue %s: %s", r->local,
                       lmq_errmsg());
            continue;
        }
        int64_t wait = may_go(r);
        if (wait > 0) {
            cv_sleep(r, wait);
            continue;
        }
        if (!rem && remote_open(r, &rem) != 0)
            continue;
        json_t *in = json_object();
        json_object_set_new(in, "QueueUrl", json_string(r->remote_url));
        json_object_set_new(in, "MaxNumberOfMessages",
                            json_integer(r->batch));
        json_object_set_new(in, "WaitTimeSeconds", json_integer(r->wait_s));
        json_object_set_new(in, "VisibilityTimeout", json_integer(r->vt));
        json_t *all = json_array();
        json_array_append_new(all, json_string("All"));
        json_object_set(in, "AttributeNames", all);
        json_object_set(in, "MessageSystemAttributeNames", all);
        json_object_set_new(in, "MessageAttributeNames", all);
        json_t *out = NULL;
        lmq_remote_error err;
        memset(&err, 0, sizeof err);
        int64_t t0 = mono_ms();
        int rc = lmq__remote_call(rem, "ReceiveMessage", in, &out, &err);
        json_decref(in);
        if (rc != 0) {
            call_failed(r, "ReceiveMessage", &err);
            continue;
        }
        route_ok(r);
        json_t *msgs = json_object_get(out, "Messages");
        if (json_array_size(msgs))
            pull_commit(r, q, rem, msgs, t0);
        json_decref(out);
    }
    lmq_queue_close(q);
    lmq__remote_close(rem);
    atomic_fetch_sub(&b->live, 1);
    return NULL;
}

/* ---- status --------------------------------------------------------------- */

/* Fill st from the route (b->mu held) and the local queue. */
static void
route_snapshot(route *r, lmq_route_status *st)
{
    pthread_mutex_lock(&r->b->mu);
    *st = r->st;
    pthread_mutex_unlock(&r->b->mu);
    if (r->kind == LMQ_ROUTE_FORWARD) {
        static const char *const want[] = {
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed", NULL};
        lmq_map *m = NULL;
        if (lmq_queue_get_attributes(r->b->env, r->local, want, &m) == 0) {
            uint64_t total = 0;
            for (int i = 0; want[i]; i++) {
                const char *v = lmq_map_get(m, want[i]);
                total += v ? strtoull(v, NULL, 10) : 0;
            }
            st->backlog = total;
        }
        lmq_map_free(m);
        int64_t age = 0;
        if (lmq_queue_oldest_age_ms(r->b->env, r->local, &age) == 0)
            st->oldest_age_ms = age;
    }
}

static json_t *
status_json(const route *r, const lmq_route_status *st)
{
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:I, s:I}",
        "Name", st->name, "Kind",
        st->kind == LMQ_ROUTE_FORWARD ? "forward" : "pull", "LocalQueue",
        r->local, "RemoteUrl", r->remote_url, "State",
        lmq_route_state_name(st->state), "RetryAt",
        (json_int_t)st->retry_at_ms, "LastError", st->last_error, "Backlog",
        (json_int_t)st->backlog, "OldestAgeMs", (json_int_t)st->oldest_age_ms,
        "Shipped", (json_int_t)st->shipped, "Pulled", (json_int_t)st->pulled,
        "Retried", (json_int_t)st->retried, "DeadLettered",
        (json_int_t)st->dead_lettered, "Duplicates",
        (json_int_t)st->duplicates, "LastSuccess",
        (json_int_t)st->last_success_ms, "Pid", (json_int_t)getpid(),
        "Updated", (json_int_t)wall_ms());
}

/* Write HOME/bridge-<route>.status atomically (the lease holder only). */
static int
status_write(route *r)
{
    lmq_route_status st;
    route_snapshot(r, &st);
    /* Idle, nothing changes: rewrite the file only when the status did, or
     * every STATUS_REFRESH_MS (its Updated time tells readers the holder
     * lives), so an idle bridge costs next to nothing. */
    int64_t now = mono_ms();
    if (r->status_written_ms > 0 &&
        now - r->status_written_ms < STATUS_REFRESH_MS &&
        memcmp(&st, &r->status_last, sizeof st) == 0)
        return 0;
    r->status_last = st;
    r->status_written_ms = now;
    json_t *j = status_json(r, &st);
    if (!j)
        return 0;
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/bridge-%s.status", r->b->home, r->fname);
    int fd = lmq__home_tmp(path, tmp, sizeof tmp);
    if (fd >= 0) {
        int ok = json_dumpfd(j, fd, JSON_INDENT(2)) == 0;
        ok = close(fd) == 0 && ok;
        if (!ok || rename(tmp, path) != 0)
            unlink(tmp);
    }
    json_decref(j);
    return 1;
}

/* ---- the supervisor ------------------------------------------------------- */

/* Returns 1 when the bridge is quiet: every route ONLINE or STANDBY and no
 * status changed, so the next tick may wait IDLE_TICK_MS. */
static int
sup_tick(lmq_bridge *b)
{
    int quiet = 1;
    for (size_t i = 0; i < b->n; i++) {
        route *r = b->routes[i];
        pthread_mutex_lock(&b->mu);
        int leased = r->leased;
        /* The heartbeat is informational (the flock is the lease). */
        if (leased && mono_ms() - r->lease_written_ms >= STATUS_REFRESH_MS) {
            lease_write(r);
            r->lease_written_ms = mono_ms();
        }
        r->dirty = 0;
        if (r->st.state != LMQ_ROUTE_ONLINE && r->st.state != LMQ_ROUTE_STANDBY)
            quiet = 0;
        pthread_mutex_unlock(&b->mu);
        if (!leased)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/bridge-%s.resume", b->home,
                 r->fname);
        if (unlink(path) == 0)
            lmq_bridge_resume(b, r->name);
        if (status_write(r))
            quiet = 0;
    }
    return quiet;
}

static void *
sup_main(void *arg)
{
    lmq_bridge *b = arg;
    int64_t next = 0;
    while (!stopping(b)) {
        int64_t now = mono_ms();
        int t = next > now ? (int)(next - now) : 0;
        struct pollfd p = {b->pipe_fd[0], POLLIN, 0};
        if (poll(&p, 1, t) > 0) {
            char buf[64];
            while (read(b->pipe_fd[0], buf, sizeof buf) == (ssize_t)sizeof buf)
                ;
        }
        if (stopping(b))
            break;
        now = mono_ms();
        int dirty = 0;
        pthread_mutex_lock(&b->mu);
        for (size_t i = 0; i < b->n; i++)
            dirty |= b->routes[i]->dirty;
        pthread_mutex_unlock(&b->mu);
        if (now >= next || dirty) {
            /* Idle and online, the supervisor wakes every IDLE_TICK_MS
             * (status refresh, `lmq bridge resume` files): an idle bridge
             * costs next to nothing; a counter change wakes it at once. */
            int quiet = sup_tick(b);
            atomic_store(&b->slow, quiet);
            next = now + (quiet ? IDLE_TICK_MS : TICK_MS);
        }
    }
    /* Stopping: wake every sleeper until the workers are gone (one wakeup
     * may land just before a worker goes to sleep). */
    while (atomic_load(&b->live) > 0) {
        for (size_t i = 0; i < b->n; i++)
            wake_route(b->routes[i]);
        struct pollfd p = {b->pipe_fd[0], POLLIN, 0};
        poll(&p, 1, 50);
        if (p.revents & POLLIN) {
            char buf[64];
            if (read(b->pipe_fd[0], buf, sizeof buf) < 0)
                break;
        }
    }
    return NULL;
}

/* ---- routes and configuration -------------------------------------------- */

LMQ_API void
lmq_route_opts_init(lmq_route_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->kind = LMQ_ROUTE_FORWARD;
    o->batch_size = 10;
    o->in_flight = 4;
    o->backoff_min_ms = 100;
    o->backoff_max_ms = 60000;
    o->visibility_timeout = 60;
    o->verify_tls = 1;
}

static void
route_free(route *r)
{
    if (!r)
        return;
    free(r->name);
    free(r->local);
    free(r->remote_url);
    free(r->region);
    free(r->endpoint);
    free(r->profile);
    free(r->akid);
    if (r->secret) {
        sodium_memzero(r->secret, strlen(r->secret));
        free(r->secret);
    }
    if (r->token) {
        sodium_memzero(r->token, strlen(r->token));
        free(r->token);
    }
    free(r->dlq);
    free(r->fname);
    free(r->workers);
    lmq__creds_close(r->creds);
    lmq_queue_close(r->wake_q);
    seen_free(r);
    pthread_mutex_destroy(&r->seen_mu);
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    free(r);
}

/* "scheme://host[:port]" of url, malloc'd; NULL when it has no scheme. */
static char *
url_origin(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return NULL;
    const char *end = strchr(p + 3, '/');
    size_t len = end ? (size_t)(end - url) : strlen(url);
    char *o = malloc(len + 1);
    if (o) {
        memcpy(o, url, len);
        o[len] = '\0';
    }
    return o;
}

static int
add_route(lmq_bridge *b, const lmq_route_opts *src, int wait_s)
{
    lmq_route_opts o;
    lmq_route_opts_init(&o);
    memcpy(&o, src, src->size < sizeof o ? src->size : sizeof o);
    o.size = sizeof o;
    if (o.kind != LMQ_ROUTE_FORWARD && o.kind != LMQ_ROUTE_PULL)
        return lmq__seterr(LMQ_EINVAL, "bad route kind %d", (int)o.kind);
    if (!o.local_queue || !*o.local_queue)
        return lmq__seterr(LMQ_EINVAL, "a route needs local_queue");
    if (!o.remote_url || !strstr(o.remote_url, "://"))
        return lmq__seterr(LMQ_EINVAL, "a route needs remote_url (a URL)");
    if (o.batch_size < 1 || o.batch_size > 10)
        return lmq__seterr(LMQ_EINVAL, "batch_size must be 1-10");
    if (o.in_flight < 1 || o.in_flight > 64)
        return lmq__seterr(LMQ_EINVAL, "in_flight must be 1-64");
    if (o.backoff_min_ms < 1 || o.backoff_max_ms < o.backoff_min_ms)
        return lmq__seterr(LMQ_EINVAL,
                           "backoff_min_ms must be >= 1 and <= "
                           "backoff_max_ms");
    if (o.visibility_timeout < 1 || o.visibility_timeout > 43200)
        return lmq__seterr(LMQ_EINVAL, "visibility_timeout must be 1-43200");
    if (wait_s < 0 || wait_s > 20)
        return lmq__seterr(LMQ_EINVAL, "wait_time_seconds must be 0-20");
    lmq_queue *lq = NULL;
    int rc = lmq_queue_open(b->env, o.local_queue, &lq);
    if (rc != 0)
        return rc;
    int local_fifo = lmq_queue_is_fifo(lq);
    lmq_queue_close(lq);

    char defname[200];
    snprintf(defname, sizeof defname, "%s:%s",
             o.kind == LMQ_ROUTE_FORWARD ? "forward" : "pull", o.local_queue);
    const char *name = o.name && *o.name ? o.name : defname;
    if (strlen(name) >= sizeof((lmq_route_status *)0)->name)
        return lmq__seterr(LMQ_EINVAL, "route name too long");
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->routes[i]->name, name) == 0)
            return lmq__seterr(LMQ_EINVAL, "duplicate route name %s", name);

    route *r = calloc(1, sizeof *r);
    if (!r)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    pthread_mutex_init(&r->seen_mu, NULL);
    r->seen_fd = -1;
    r->lock_fd = -1;
    r->b = b;
    r->kind = o.kind;
    r->name = strdup(name);
    r->local = strdup(o.local_queue);
    r->remote_url = strdup(o.remote_url);
    r->profile = xstrdup(o.profile);
    r->akid = xstrdup(o.access_key_id);
    r->secret = xstrdup(o.secret_access_key);
    r->token = xstrdup(o.session_token);
    r->endpoint = o.endpoint && *o.endpoint ? strdup(o.endpoint)
                                            : url_origin(o.remote_url);
    if (o.region && *o.region) {
        r->region = strdup(o.region);
    } else {
        r->region = lmq__creds_region(o.profile);
        if (!r->region)
            r->region = strdup("us-east-1");
    }
    if (o.dead_letter_queue && *o.dead_letter_queue) {
        r->dlq = strdup(o.dead_letter_queue);
    } else {
        /* A FIFO queue's DLQ must be FIFO, and FIFO names end in .fifo. */
        size_t len = strlen(o.local_queue);
        r->dlq = malloc(len + 32);
        if (r->dlq) {
            if (local_fifo)
                snprintf(r->dlq, len + 32, "%.*s-bridge-dlq.fifo",
                         (int)(len - 5), o.local_queue);
            else
                snprintf(r->dlq, len + 32, "%s-bridge-dlq", o.local_queue);
        }
    }
    r->fname = strdup(name);
    if (r->fname)
        for (char *p = r->fname; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
                  *p == '.'))
                *p = '_';
    r->batch = o.batch_size;
    r->bmin = o.backoff_min_ms;
    r->bmax = o.backoff_max_ms;
    r->vt = o.visibility_timeout;
    r->verify_tls = o.verify_tls;
    r->wait_s = wait_s;
    size_t ul = strlen(o.remote_url);
    r->remote_fifo = ul > 5 && strcmp(o.remote_url + ul - 5, ".fifo") == 0;
    /* FIFO: one request at a time, so a group's next message is never
     * sent before the previous one was accepted. */
    r->in_flight = r->remote_fifo ? 1 : o.in_flight;
    snprintf(r->st.name, sizeof r->st.name, "%s", name);
    r->st.kind = o.kind;
    r->st.state = LMQ_ROUTE_STOPPED;
    route **nr = realloc(b->routes, (b->n + 1) * sizeof *nr);
    if (!r->name || !r->local || !r->remote_url || !r->endpoint ||
        !r->region || !r->dlq || !r->fname || !nr ||
        (o.profile && !r->profile) || (o.access_key_id && !r->akid) ||
        (o.secret_access_key && !r->secret) ||
        (o.session_token && !r->token)) {
        if (nr)
            b->routes = nr;
        route_free(r);
        return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    b->routes = nr;
    b->routes[b->n++] = r;
    return 0;
}

static int
check(const lmq_bridge *b)
{
    if (!b || b->magic != BRIDGE_MAGIC)
        return lmq__seterr(LMQ_EMISUSE, "not a bridge handle");
    return 0;
}

LMQ_API int
lmq_bridge_add_route(lmq_bridge *b, const lmq_route_opts *o)
{
    int rc = check(b);
    if (rc)
        return rc;
    if (!o || o->size < offsetof(lmq_route_opts, remote_url) + sizeof(char *))
        return lmq__seterr(LMQ_EINVAL, "options are required (_init)");
    if (b->started)
        return lmq__seterr(LMQ_EINVAL, "the bridge is started");
    return add_route(b, o, 20);
}

static int
cfg_str(json_t *v, const char **out)
{
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

static int
cfg_int(json_t *v, int *out)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (!json_is_integer(v))
        return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

LMQ_API int
lmq_bridge_load_config(lmq_bridge *b, const char *path)
{
    int rc = check(b);
    if (rc)
        return rc;
    if (!path)
        return lmq__seterr(LMQ_EINVAL, "a config path is required");
    if (b->started)
        return lmq__seterr(LMQ_EINVAL, "the bridge is started");
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        if (access(path, R_OK) != 0)
            return lmq__seterr(LMQ_EIO, "%s: %s", path, strerror(errno));
        return lmq__seterr(LMQ_EINVAL, "%s:%d: %s", path, je.line, je.text);
    }
    json_t *routes = json_object_get(root, "routes");
    if (!json_is_array(routes)) {
        json_decref(root);
        return lmq__seterr(LMQ_EINVAL, "%s: no \"routes\" array", path);
    }
    size_t k;
    json_t *jr;
    json_array_foreach(routes, k, jr) {
        lmq_route_opts o;
        lmq_route_opts_init(&o);
        int wait_s = 20, bad = !json_is_object(jr);
        const char *key;
        json_t *v;
        if (!bad)
            json_object_foreach(jr, key, v) {
                const char *kind;
                if (strcmp(key, "kind") == 0) {
                    bad = cfg_str(v, &kind) != 0;
                    if (!bad && strcmp(kind, "forward") == 0)
                        o.kind = LMQ_ROUTE_FORWARD;
                    else if (!bad && strcmp(kind, "pull") == 0)
                        o.kind = LMQ_ROUTE_PULL;
                    else
                        bad = 1;
                }
#define S_(n, f) else if (strcmp(key, n) == 0) bad = cfg_str(v, &o.f) != 0;
#define I_(n, f) else if (strcmp(key, n) == 0) bad = cfg_int(v, &o.f) != 0;
                S_("name", name) S_("local_queue", local_queue)
                S_("remote_url", remote_url) S_("region", region)
                S_("endpoint", endpoint) S_("profile", profile)
                S_("access_key_id", access_key_id)
                S_("secret_access_key", secret_access_key)
                S_("session_token", session_token)
                S_("dead_letter_queue", dead_letter_queue)
                I_("batch_size", batch_size) I_("in_flight", in_flight)
                I_("backoff_min_ms", backoff_min_ms)
                I_("backoff_max_ms", backoff_max_ms)
                I_("visibility_timeout", visibility_timeout)
                I_("verify_tls", verify_tls)
#undef S_
#undef I_
                else if (strcmp(key, "wait_time_seconds") == 0) bad =
                    cfg_int(v, &wait_s) != 0;
                else bad = 1;
                if (bad) {
                    rc = lmq__seterr(LMQ_EINVAL,
                                     "%s: route %zu: bad member \"%s\"",
                                     path, k + 1, key);
                    json_decref(root);
                    return rc;
                }
            }
        if (bad) {
            json_decref(root);
            return lmq__seterr(LMQ_EINVAL, "%s: route %zu is not an object",
                               path, k + 1);
        }
        rc = add_route(b, &o, wait_s);
        if (rc != 0) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", lmq_errmsg());
            json_decref(root);
            return lmq__seterr(rc, "%s: route %zu: %s", path, k + 1, msg);
        }
    }
    json_decref(root);
    return 0;
}

/* ---- the bridge ------------------------------------------------------------ */

LMQ_API int
lmq_bridge_open(lmq_env *env, int lease_ms, lmq_bridge **out)
{
    if (out)
        *out = NULL;
    if (!env || !out || lease_ms < 0)
        return lmq__seterr(LMQ_EINVAL, "env and out are required");
    if (sodium_init() < 0)
        return lmq__seterr(LMQ_EIO, "libsodium failed to initialise");
    lmq_bridge *b = calloc(1, sizeof *b);
    if (!b)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    b->magic = BRIDGE_MAGIC;
    b->env = env;
    b->home = strdup(env->path);
    b->lease_ms = lease_ms ? lease_ms : 10000;
    b->pipe_fd[0] = b->pipe_fd[1] = -1;
    if (!b->home || pipe2(b->pipe_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(b->home);
        free(b);
        return lmq__seterr(LMQ_ENOMEM, "bridge: %s", strerror(errno));
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    unsigned char t[16];
    randombytes_buf(t, sizeof t);
    sodium_bin2hex(b->token, sizeof b->token, t, sizeof t);
    *out = b;
    return 0;
}

static int start_threads(lmq_bridge *b);

LMQ_API int
lmq_bridge_start(lmq_bridge *b)
{
    int rc = check(b);
    if (rc)
        return rc;
    if (b->started)
        return lmq__seterr(LMQ_EINVAL, "the bridge is started");
    if (b->n == 0)
        return lmq__seterr(LMQ_EINVAL, "the bridge has no routes");
    b->started = 1;
    for (size_t i = 0; i < b->n; i++) {
        route *r = b->routes[i];
        r->st.state = LMQ_ROUTE_STARTING;
        if (r->kind == LMQ_ROUTE_FORWARD &&
            lmq_queue_open(b->env, r->local, &r->wake_q) != 0)
            r->wake_q = NULL;
        r->workers = calloc((size_t)r->in_flight, sizeof *r->workers);
        if (!r->workers) {
            lmq_bridge_stop(b);
            lmq_bridge_join(b);
            return lmq__seterr(LMQ_ENOMEM, NULL);
        }
        r->nworkers = r->in_flight;
    }
    /* The bridge's threads take no signals: the application's handlers
     * run on its own threads, and a SIGPIPE from a peer that closed a TLS
     * connection (libcurl runs with CURLOPT_NOSIGNAL) stays pending on the
     * thread that caused it instead of killing the process. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int started = start_threads(b);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return started;
}

static int
start_threads(lmq_bridge *b)
{
    if (pthread_create(&b->sup, NULL, sup_main, b) != 0) {
        b->started = 0;
        return lmq__seterr(LMQ_ENOMEM, "cannot start a thread");
    }
    for (size_t i = 0; i < b->n; i++) {
        route *r = b->routes[i];
        for (int k = 0; k < r->nworkers; k++) {
            worker *w = &r->workers[k];
            w->r = r;
            atomic_fetch_add(&b->live, 1);
            if (pthread_create(&w->th, NULL,
                               r->kind == LMQ_ROUTE_FORWARD ? forward_main
                                                            : pull_main,
                               w) != 0) {
                atomic_fetch_sub(&b->live, 1);
                lmq_bridge_stop(b);
                lmq_bridge_join(b);
                return lmq__seterr(LMQ_ENOMEM, "cannot start a thread");
            }
            w->started = 1;
        }
    }
    return 0;
}

LMQ_API void
lmq_bridge_stop(lmq_bridge *b)
{
    if (!b || b->magic != BRIDGE_MAGIC)
        return;
    atomic_store(&b->stopping, 1);
    kick(b);
}

LMQ_API int
lmq_bridge_join(lmq_bridge *b)
{
    int rc = check(b);
    if (rc)
        return rc;
    if (!b->started || b->joined)
        return 0;
    for (size_t i = 0; i < b->n; i++) {
        route *r = b->routes[i];
        for (int k = 0; k < r->nworkers; k++)
            if (r->workers[k].started)
                pthread_join(r->workers[k].th, NULL);
    }
    /* The workers are gone: make sure the supervisor sees it. */
    atomic_store(&b->stopping, 1);
    kick(b);
    pthread_join(b->sup, NULL);
    for (size_t i = 0; i < b->n; i++) {
        route *r = b->routes[i];
        pthread_mutex_lock(&b->mu);
        int leased = r->leased;
        set_state(r, LMQ_ROUTE_STOPPED);
        pthread_mutex_unlock(&b->mu);
        if (leased)
            status_write(r);
        lease_release(r);
    }
    b->joined = 1;
    return 0;
}

LMQ_API void
lmq_bridge_close(lmq_bridge *b)
{
    if (!b || b->magic != BRIDGE_MAGIC)
        return;
    lmq_bridge_stop(b);
    lmq_bridge_join(b);
    for (size_t i = 0; i < b->n; i++)
        route_free(b->routes[i]);
    free(b->routes);
    free(b->home);
    close(b->pipe_fd[0]);
    close(b->pipe_fd[1]);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    b->magic = 0;
    free(b);
}

LMQ_API int
lmq_bridge_resume(lmq_bridge *b, const char *name)
{
    int rc = check(b);
    if (rc)
        return rc;
    int found = 0;
    for (size_t i = 0; i < b->n; i++) {
        route *r = b->routes[i];
        if (name && strcmp(r->name, name) != 0)
            continue;
        found = 1;
        pthread_mutex_lock(&b->mu);
        if (r->st.state == LMQ_ROUTE_PAUSED ||
            r->st.state == LMQ_ROUTE_BACKOFF) {
            r->retry_mono = mono_ms();
            r->st.retry_at_ms = wall_ms();
            r->attempt = 0;
            r->dirty = 1;
        }
        pthread_mutex_unlock(&b->mu);
        wake_route(r);
    }
    if (!found)
        return lmq__seterr(LMQ_ENOTFOUND, "no route %s", name);
    return 0;
}

LMQ_API int
lmq_bridge_status(lmq_bridge *b, lmq_route_status **out, size_t *n)
{
    int rc = check(b);
    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (rc)
        return rc;
    if (!out || !n)
        return lmq__seterr(LMQ_EINVAL, "out and n are required");
    lmq_route_status *s = calloc(b->n ? b->n : 1, sizeof *s);
    if (!s)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    for (size_t i = 0; i < b->n; i++)
        route_snapshot(b->routes[i], &s[i]);
    *out = s;
    *n = b->n;
    return 0;
}
