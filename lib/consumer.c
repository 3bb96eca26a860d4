/*
 * consumer.c: the consumer runtime (lmq_consumer_*), modelled on Lambda's
 * SQS event source and the sqs-consumer library (shared/SQS-SEMANTICS.md §9,
 * docs/CONSUMER.md).
 *
 * Threads, all started by lmq_consumer_start():
 *  - the poller long-polls the queue (lmq__receive_bulk) whenever a worker
 *    would be free, combining receives of up to 100 (FIFO: 10) into batches
 *    of up to batch_size within the batching window, and queues jobs: one
 *    message per job for a per-message handler (on FIFO queues: the messages
 *    of one group in one poll, handled in order by one worker), one batch
 *    per job for a batch handler. A batch also ends before a message that
 *    would take it past max_batch_bytes; that message is carried over to
 *    start the next one;
 *  - `concurrency` workers (with scale_concurrency: min(5, concurrency) at
 *    first, one more per SCALE_STEP_MS while all are busy and the queue has
 *    visible messages, one fewer per empty receive) take jobs in order,
 *    skipping a job whose FIFO group is already running or queued ahead (so a group is never handled
 *    concurrently nor out of order), run the handler and file the outcome;
 *  - the timer thread does everything that depends on time: heartbeats
 *    (change visibility of running jobs' messages, in batches of 10), handler
 *    timeouts, the stop timeout, and flushing acknowledgements.
 *
 * Acknowledgements: successes are deleted in bulk (lmq__handles_many(), up
 * to ACK_CHUNK per transaction). A worker that fills the buffer to ACK_FLUSH
 * flushes it; otherwise the
 * timer thread flushes it ACK_DELAY_MS after its first entry, and join
 * flushes what is left. Failures are left alone, or (backoff) made visible
 * after the backoff with lmq_change_visibility_batch().
 *
 * Stopping. lmq_consumer_stop() only sets a flag and interrupts the
 * consumer's own env (async-signal-safe), so a waiting receive returns
 * LMQ_EINTR at once; the rest happens in lmq_consumer_join(): join the
 * poller, make the jobs that never started visible again (change visibility
 * 0), let workers finish running jobs (until stop_timeout_ms after the stop
 * request; past it the jobs are abandoned: no more heartbeats, results
 * ignored), flush acknowledgements, end the timer thread. The consumer owns a
 * separate lmq_env on the same home for exactly this: lmq_env_interrupt() is
 * irreversible and must not touch the application's env.
 *
 * Locking: one mutex (mu) guards the job lists, the ack buffer and the
 * flags; library calls (receive, delete, change visibility) and handlers run
 * without it. Jobs are freed only by the worker that ran them (or by join
 * for unstarted ones), and the timer thread refers to running jobs by id
 * when it comes back from a heartbeat call, never by a pointer it held
 * without the lock.
 *
 * Rejected: one receive per worker (every idle worker would be a long-poll
 * waiter holding messages' visibility for nothing, and batching across
 * workers would be impossible); prefetching more than the free workers can
 * start (unstarted messages' visibility runs out while they wait); deleting
 * each message in its own transaction (one commit and fsync per message).
 */
#include "longpoll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LMQ_CONSUMER_MAGIC 0x6c6d7163u /* "lmqc" */

/* Acknowledgements wait at most this long for companions to fill a batch:
 * short against any visibility timeout, long enough to combine the
 * completions of concurrent workers. */
#define ACK_DELAY_MS 10
/* A worker that brings the buffer to this many flushes it at once; fewer
 * wait for the timer (at most ACK_DELAY_MS). Larger batches mean fewer
 * transactions (and durable flushes) per message; a full transaction's
 * worth (ACK_CHUNK, defined below) is the most one flush can carry. At 64,
 * a durable consumer of batches of 100 paid 5.6 flushes per 100 messages
 * (strace) and ran at 70-84k msgs/s (W3c, full); at 256, 3.2 and 128-134k.
 * The cost is up to ACK_DELAY_MS more before a handled message is deleted
 * (far below any visibility timeout) and more acknowledgements buffered when
 * a consumer crashes (their messages come back, as with any unacknowledged
 * message). */
#define ACK_FLUSH ACK_CHUNK
/* Pause after a failed receive (I/O error, ...) before trying again. */
#define ERROR_PAUSE_MS 1000
/* Join and a saturated poller re-check the stop flag this often: a signal
 * handler can set the flag but cannot signal a condition variable. */
#define STOP_POLL_MS 50
#define MAX_BATCH_SIZE 10000
#define MAX_WINDOW_MS 300000
#define MAX_CONCURRENCY 1000
#define DEFAULT_STOP_TIMEOUT_MS 30000
/* scale_concurrency, as Lambda's SQS event source mapping: it starts with
 * SCALE_START concurrent batches and adds up to 60 per minute while the
 * queue has a backlog, i.e. one every SCALE_STEP_MS. */
#define SCALE_START 5
#define SCALE_STEP_MS 1000

struct job {
    struct job *next;
    uint64_t id;
    lmq_msg **msgs;
    size_t n;
    uint8_t *done; /* per message: handler finished, no more heartbeats */
    uint8_t *gone; /* per message: a heartbeat found it gone */
    const char *group; /* FIFO per-message job: the group; else NULL */
    int64_t call_start; /* mono ms, start of the running handler call */
    int timed_out;      /* the running call passed its timeout (atomic) */
    int abandoned;      /* past the stop timeout (atomic) */
};

struct ack {
    char receipt[LMQ_RECEIPT_MAX];
};

struct lmq_consumer {
    uint32_t magic;
    lmq_consumer_opts o;
    lmq_env *env; /* the consumer's own */
    lmq_queue *q;
    bool fifo;
    int vt;           /* resolved visibility timeout, s */
    int64_t hb_ms;    /* heartbeat period, 0: none */

    pthread_mutex_t mu;
    pthread_cond_t cv;      /* job queued / finished, flags changed */
    pthread_cond_t tcv;     /* wakes the timer thread */
    pthread_t poller, timer;
    pthread_t *workers;
    int nworkers;
    char *name;       /* the queue's name, for backlog checks */
    int active;       /* handler calls allowed at once (scaling), under mu */
    int floor;        /* scale_concurrency: the start value */
    int64_t next_scale; /* mono ms of the next scale-up check (poller) */
    /* Messages received past max_batch_bytes: the next batch starts with
     * them (poller only). */
    lmq_msg **carry;
    size_t ncarry;
    bool started, joined;

    struct job *pending, *pending_tail; /* not started, in order */
    struct job *running;                /* started, any order */
    size_t n_pending_msgs;
    int n_running;
    uint64_t next_job_id;
    struct ack *acks;
    size_t n_acks, cap_acks;
    int64_t ack_since; /* mono ms of the oldest buffered ack */

    int stop_req;       /* lmq_consumer_stop() (atomic, signal-safe) */
    bool poller_done;   /* the poller has exited */
    bool finishing;     /* workers: exit when nothing is pending */
    bool timer_exit;
    /* What the timer thread sleeps until (mono ms; 0: until signalled; -1:
     * awake, it looks at everything before it sleeps again) and whether it
     * counts down to a heartbeat: a worker wakes it only for an earlier
     * deadline, not for every job (a wake-up per message cost the runtime
     * a third of its relaxed throughput). */
    int64_t timer_wait;
    bool timer_hb;
    int64_t stop_deadline; /* mono ms; 0 until a stop request is seen */
    int fatal;             /* the error that stopped the poller */

    lmq_consumer_counters k; /* guarded by mu */
};

/* The job and consumer of the handler running on this thread. */
static __thread struct job *tls_job;
static __thread const lmq_consumer *tls_consumer;

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Condition wait until mono ms `until` (CLOCK_REALTIME based condvar). */
static void
cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t until)
{
    int64_t left = until - mono_ms();
    if (left <= 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(left / 1000);
    ts.tv_nsec += (long)(left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    (void)pthread_cond_timedwait(cv, mu, &ts);
}

static bool
stop_requested(const lmq_consumer *c)
{
    return __atomic_load_n(&c->stop_req, __ATOMIC_SEQ_CST) != 0;
}

/* Wake the timer thread (under mu) if it sleeps past `due`. */
static void
wake_timer_locked(lmq_consumer *c, int64_t due)
{
    if (c->timer_wait == 0 || (c->timer_wait > 0 && due < c->timer_wait))
        pthread_cond_signal(&c->tcv);
}

static void
hook(lmq_consumer *c, lmq_consumer_event ev, const lmq_msg *m, int err)
{
    if (c->o.hook)
        c->o.hook(ev, m, err, c->o.arg);
}

static void
count(lmq_consumer *c, uint64_t *field, uint64_t d)
{
    pthread_mutex_lock(&c->mu);
    *field += d;
    pthread_mutex_unlock(&c->mu);
}

static void
job_free(struct job *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++)
        lmq_msg_free(j->msgs[i]);
    free(j->msgs);
    free(j->done);
    free(j->gone);
    free(j);
}

/* A job of the n messages msgs (taken over). NULL when out of memory. */
static struct job *
job_new(lmq_msg **msgs, size_t n)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->msgs = malloc(n * sizeof *j->msgs);
    j->done = calloc(n, 1);
    j->gone = calloc(n, 1);
    if (!j->msgs || !j->done || !j->gone) {
        free(j->msgs);
        free(j->done);
        free(j->gone);
        free(j);
        return NULL;
    }
    memcpy(j->msgs, msgs, n * sizeof *msgs);
    j->n = n;
    return j;
}

static const char *
msg_group(const lmq_msg *m)
{
    return lmq_msg_sys_attr(m, "MessageGroupId");
}

static bool
same_group(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* ---- visibility changes and deletes, in batches of 10 ------------------- */

/* Acknowledgements and visibility changes go through lmq__handles_many():
 * one transaction for up to ACK_CHUNK entries. SQS's 10-entry batches would
 * cost one transaction (and, durably, one flush) per 10 messages; the
 * chunk bound keeps one transaction's work and memory small. */
#define ACK_CHUNK 256

/* Change the visibility of receipts r[0..n) to vt seconds, ACK_CHUNK per
 * transaction. If ok is not NULL, ok[i] is 1 when entry i applied, 0 when it
 * did not (the delivery is gone: deleted, redelivered, beyond 12 h) and 2
 * when the whole call failed (unknown). Returns the last whole-call error,
 * or 0. */
static int
change_vis(lmq_consumer *c, const char *const *r, size_t n, int vt,
           uint8_t *ok)
{
    int rc = 0;
    size_t cap = n < ACK_CHUNK ? n : ACK_CHUNK;
    lmq_handle_entry *e = calloc(cap ? cap : 1, sizeof *e);
    lmq_batch_result *res = calloc(cap ? cap : 1, sizeof *res);
    if (!e || !res) {
        free(e);
        free(res);
        for (size_t i = 0; ok && i < n; i++)
            ok[i] = 2;
        count(c, &c->k.errors, 1);
        hook(c, LMQ_CONSUMER_ERROR, NULL, LMQ_ENOMEM);
        return LMQ_ENOMEM;
    }
    for (size_t off = 0; off < n; off += ACK_CHUNK) {
        size_t k = n - off < ACK_CHUNK ? n - off : ACK_CHUNK;
        for (size_t i = 0; i < k; i++) {
            e[i].id = NULL;
            e[i].receipt = r[off + i];
            e[i].timeout_seconds = vt;
        }
        int brc = lmq__handles_many(c->q, e, k, res, true);
        for (size_t i = 0; ok && i < k; i++)
            ok[off + i] = brc ? 2 : res[i].err == 0 && res[i].applied;
        if (brc) {
            rc = brc;
            count(c, &c->k.errors, 1);
            hook(c, LMQ_CONSUMER_ERROR, NULL, brc);
        }
    }
    free(e);
    free(res);
    return rc;
}

/* Delete buffered acknowledgements a[0..n), ACK_CHUNK per transaction. */
static void
delete_acks(lmq_consumer *c, const struct ack *a, size_t n)
{
    size_t cap = n < ACK_CHUNK ? n : ACK_CHUNK;
    lmq_handle_entry *e = calloc(cap ? cap : 1, sizeof *e);
    lmq_batch_result *res = calloc(cap ? cap : 1, sizeof *res);
    if (!e || !res) {
        /* The messages are not lost: they come back after their timeout. */
        free(e);
        free(res);
        count(c, &c->k.errors, 1);
        hook(c, LMQ_CONSUMER_ERROR, NULL, LMQ_ENOMEM);
        return;
    }
    for (size_t off = 0; off < n; off += ACK_CHUNK) {
        size_t k = n - off < ACK_CHUNK ? n - off : ACK_CHUNK;
        uint64_t deleted = 0, errs = 0;
        for (size_t i = 0; i < k; i++) {
            e[i].id = NULL;
            e[i].receipt = a[off + i].receipt;
            e[i].timeout_seconds = 0;
        }
        int rc = lmq__handles_many(c->q, e, k, res, false);
        for (size_t i = 0; rc == 0 && i < k; i++) {
            if (res[i].err)
                errs++;
            else if (res[i].applied)
                deleted++;
        }
        pthread_mutex_lock(&c->mu);
        c->k.deleted += deleted;
        c->k.errors += errs + (rc != 0);
        pthread_mutex_unlock(&c->mu);
        if (rc)
            hook(c, LMQ_CONSUMER_ERROR, NULL, rc);
    }
    free(e);
    free(res);
}

/* Take the whole ack buffer (under mu). *n is its length; NULL if empty. */
static struct ack *
take_acks_locked(lmq_consumer *c, size_t *n)
{
    struct ack *a = c->acks;
    *n = c->n_acks;
    if (*n == 0)
        return NULL;
    c->acks = NULL;
    c->n_acks = c->cap_acks = 0;
    c->ack_since = 0;
    return a;
}

static void
flush_acks(lmq_consumer *c)
{
    size_t n;
    pthread_mutex_lock(&c->mu);
    struct ack *a = take_acks_locked(c, &n);
    pthread_mutex_unlock(&c->mu);
    if (a) {
        delete_acks(c, a, n);
        free(a);
    }
}

/* ---- the poller ----------------------------------------------------------- */

/* How many messages the poller may take now (under mu): a batch, once
 * everything taken before has started and a worker is free. Queued messages
 * wait at most one handler call and are covered by heartbeats meanwhile. */
static size_t
want_locked(lmq_consumer *c)
{
    if (c->pending || c->n_running >= c->active)
        return 0;
    uint64_t want = (uint64_t)c->o.batch_size;
    if (c->o.max_messages) {
        uint64_t left = c->o.max_messages > c->k.received
                            ? c->o.max_messages - c->k.received
                            : 0;
        if (left < want)
            want = left;
    }
    return (size_t)want;
}

/* Queue the received messages as jobs (under mu). Frees what it cannot
 * queue (out of memory: those messages simply come back later). */
static void
enqueue_locked(lmq_consumer *c, lmq_msg **msgs, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t k = 1;
        if (c->o.batch_handler) {
            k = n;
        } else if (c->fifo && msg_group(msgs[i])) {
            /* Gather the rest of this group in this poll, keeping order. */
            const char *g = msg_group(msgs[i]);
            for (size_t t = i + 1; t < n; t++) {
                if (same_group(msg_group(msgs[t]), g)) {
                    lmq_msg *m = msgs[t];
                    memmove(&msgs[i + k + 1], &msgs[i + k],
                            (t - i - k) * sizeof *msgs);
                    msgs[i + k] = m;
                    k++;
                }
            }
        }
        struct job *j = job_new(&msgs[i], k);
        if (!j) {
            for (size_t t = i; t < i + k; t++)
                lmq_msg_free(msgs[t]);
            c->k.errors++;
            i += k;
            continue;
        }
        j->id = ++c->next_job_id;
        if (!c->o.batch_handler && c->fifo)
            j->group = msg_group(j->msgs[0]);
        if (c->pending_tail)
            c->pending_tail->next = j;
        else
            c->pending = j;
        c->pending_tail = j;
        c->n_pending_msgs += k;
        i += k;
    }
    pthread_cond_broadcast(&c->cv);
}

/* What message m costs against max_batch_bytes. */
static size_t
msg_cost(lmq_consumer *c, const lmq_msg *m)
{
    if (c->o.batch_cost_fn)
        return c->o.batch_cost_fn(m, c->o.arg);
    size_t len = 0;
    (void)lmq_msg_body(m, &len);
    const lmq_mattrs *a = lmq_msg_attrs(m);
    for (size_t i = 0; i < lmq_mattrs_count(a); i++) {
        const char *name, *type;
        const void *val;
        size_t vlen;
        if (lmq_mattrs_at(a, i, &name, &type, &val, &vlen) == 0)
            len += strlen(name) + strlen(type) + vlen;
    }
    return len;
}

/* Add m to the batch msgs[0..*n) if it fits max_batch_bytes (a first
 * message always fits). */
static bool
fits(lmq_consumer *c, lmq_msg *m, size_t n, size_t *bytes)
{
    if (!c->o.max_batch_bytes)
        return true;
    size_t cost = msg_cost(c, m);
    if (n > 0 && (cost > c->o.max_batch_bytes ||
                  *bytes > c->o.max_batch_bytes - cost))
        return false;
    *bytes += cost;
    return true;
}

/* Fill msgs with a batch of up to room messages: first the ones carried
 * over from the last receive, then up to want_new received now (one long
 * poll, then more receives to fill the batch within the batching window),
 * stopping before a message that would pass max_batch_bytes (it and those
 * after it are carried to the next batch). Returns 0 (with *n, maybe 0),
 * LMQ_EINTR, or an error. */
static int
collect(lmq_consumer *c, lmq_msg **msgs, size_t room, size_t want_new,
        size_t *n)
{
    lmq_recv_opts ro;
    lmq_recv_opts_init(&ro);
    ro.visibility_timeout = c->o.visibility_timeout;
    ro.attribute_names = c->o.attribute_names;
    *n = 0;
    size_t bytes = 0, fresh = 0;
    int64_t window_end = 0;
    bool full = false;
    /* Up to a hundred messages per transaction (ten on FIFO queues): a
     * durable consumer pays one commit per receive. */
    size_t per = c->q->fifo ? LMQ_MAX_BATCH : LMQ__RECV_BULK;

    if (c->ncarry) {
        size_t t = 0;
        while (t < c->ncarry && *n < room && fits(c, c->carry[t], *n, &bytes))
            msgs[(*n)++] = c->carry[t++];
        memmove(c->carry, c->carry + t, (c->ncarry - t) * sizeof *c->carry);
        c->ncarry -= t;
        if (c->ncarry || *n >= room)
            return 0;
        window_end = mono_ms() + c->o.batching_window_ms;
        if (c->o.batching_window_ms == 0)
            return 0;
    }
    while (!full) {
        size_t k = room - *n;
        if (k > want_new - fresh)
            k = want_new - fresh;
        if (k > per)
            k = per;
        if (k == 0)
            return 0;
        int64_t wait_ms;
        if (*n == 0) {
            wait_ms = (int64_t)c->o.wait_seconds * 1000;
        } else {
            wait_ms = window_end - mono_ms();
            if (wait_ms < 0)
                wait_ms = 0;
        }
        size_t got = 0;
        int rc = lmq__receive_bulk(c->q, &ro, msgs + *n, k, &got, wait_ms);
        if (rc)
            return *n > 0 && rc == LMQ_EINTR ? 0 : rc;
        if (got && *n == 0)
            window_end = mono_ms() + c->o.batching_window_ms;
        for (size_t i = 0; i < got; i++)
            hook(c, LMQ_CONSUMER_RECEIVED, msgs[*n + i], 0);
        if (got)
            count(c, &c->k.received, got);
        fresh += got;
        size_t base = *n;
        for (size_t i = 0; i < got; i++) {
            lmq_msg *m = msgs[base + i];
            if (!full && fits(c, m, *n, &bytes))
                msgs[(*n)++] = m;
            else
                c->carry[c->ncarry++] = m; /* the next batch starts here */
            full = c->ncarry > 0;
        }
        if (full)
            return 0;
        if (*n == 0 || *n >= room || fresh >= want_new)
            return 0;
        /* Without a window, combine only what is already there. */
        if (got == 0 && mono_ms() >= window_end)
            return 0;
        if (c->o.batching_window_ms == 0 && got < k)
            return 0;
        if (stop_requested(c))
            return 0;
    }
    return 0;
}

/* Visible messages in the queue (-1 when unknown): the backlog that lets
 * scale_concurrency add a handler call. */
static long
backlog(lmq_consumer *c)
{
    static const char *const names[] = {"ApproximateNumberOfMessages", NULL};
    lmq_map *m = NULL;
    if (lmq_queue_get_attributes(c->env, c->name, names, &m) != 0)
        return -1;
    const char *v = lmq_map_get(m, "ApproximateNumberOfMessages");
    long n = v ? atol(v) : -1;
    lmq_map_free(m);
    return n;
}

static void *worker_main(void *arg);

/* scale_concurrency: one more handler call when every allowed one runs,
 * the step interval has passed and the queue has a backlog (called by the
 * poller under mu while it cannot take more). */
static void
maybe_scale_up_locked(lmq_consumer *c)
{
    if (!c->o.scale_concurrency || c->active >= c->o.concurrency ||
        c->n_running < c->active)
        return;
    int64_t now = mono_ms();
    if (now < c->next_scale)
        return;
    c->next_scale = now + SCALE_STEP_MS;
    pthread_mutex_unlock(&c->mu);
    long b = backlog(c);
    pthread_mutex_lock(&c->mu);
    if (b <= 0 && c->ncarry == 0)
        return;
    if (c->nworkers <= c->active) {
        if (pthread_create(&c->workers[c->nworkers], NULL, worker_main, c) !=
            0) {
            c->k.errors++;
            return; /* stays at this scale */
        }
        c->nworkers++;
    }
    c->active++;
    pthread_cond_broadcast(&c->cv);
}

static void *
poller_main(void *arg)
{
    lmq_consumer *c = arg;
    size_t cap = (size_t)c->o.batch_size;
    lmq_msg **buf = malloc(cap * sizeof *buf);
    int fatal = buf ? 0 : lmq__seterr(LMQ_ENOMEM, NULL);

    while (!fatal && !stop_requested(c)) {
        pthread_mutex_lock(&c->mu);
        size_t want;
        while ((want = want_locked(c)) == 0 && !stop_requested(c)) {
            if (c->o.max_messages && c->k.received >= c->o.max_messages &&
                c->ncarry == 0)
                break;
            if (c->ncarry && !c->pending && c->n_running < c->active)
                break; /* carried messages make a batch */
            maybe_scale_up_locked(c);
            cond_wait_until(&c->cv, &c->mu, mono_ms() + STOP_POLL_MS);
        }
        pthread_mutex_unlock(&c->mu);
        if ((want == 0 && c->ncarry == 0) || stop_requested(c))
            break; /* stop requested, or max_messages received */
        size_t n = 0;
        int rc = collect(c, buf, cap, want, &n);
        if (rc == LMQ_EINTR)
            break;
        if (rc == LMQ_ENOQUEUE || rc == LMQ_EMISUSE || rc == LMQ_ECORRUPT ||
            rc == LMQ_EVERSION) {
            fatal = rc;
            count(c, &c->k.errors, 1);
            hook(c, LMQ_CONSUMER_ERROR, NULL, rc);
            break;
        }
        if (rc) {
            count(c, &c->k.errors, 1);
            hook(c, LMQ_CONSUMER_ERROR, NULL, rc);
            pthread_mutex_lock(&c->mu);
            int64_t until = mono_ms() + ERROR_PAUSE_MS;
            while (!stop_requested(c) && mono_ms() < until)
                cond_wait_until(&c->cv, &c->mu, mono_ms() + STOP_POLL_MS);
            pthread_mutex_unlock(&c->mu);
            continue;
        }
        pthread_mutex_lock(&c->mu);
        if (n)
            enqueue_locked(c, buf, n);
        if (n == 0 && c->o.scale_concurrency && c->active > c->floor)
            c->active--; /* idle: scale down */
        bool idle = !c->pending && !c->running;
        pthread_mutex_unlock(&c->mu);
        if (n == 0 && c->o.until_empty && idle && c->ncarry == 0)
            break;
    }
    free(buf);
    pthread_mutex_lock(&c->mu);
    /* Carried messages: handled (or, after a stop, returned by join) like
     * any queued job. */
    if (c->ncarry) {
        enqueue_locked(c, c->carry, c->ncarry);
        c->ncarry = 0;
    }
    c->poller_done = true;
    c->fatal = fatal;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- workers -------------------------------------------------------------- */

/* The first pending job that may start now (under mu), unlinked; NULL if
 * none. A FIFO job waits while its group runs or an earlier job of the
 * group waits. */
static struct job *
take_job_locked(lmq_consumer *c)
{
    struct job *prev = NULL;
    for (struct job *j = c->pending; j; prev = j, j = j->next) {
        bool blocked = false;
        if (j->group) {
            for (struct job *r = c->running; r && !blocked; r = r->next)
                blocked = same_group(r->group, j->group);
            for (struct job *p = c->pending; p != j && !blocked; p = p->next)
                blocked = same_group(p->group, j->group);
        }
        if (blocked)
            continue;
        if (prev)
            prev->next = j->next;
        else
            c->pending = j->next;
        if (c->pending_tail == j)
            c->pending_tail = prev;
        j->next = NULL;
        c->n_pending_msgs -= j->n;
        return j;
    }
    return NULL;
}

static void
unlink_running_locked(lmq_consumer *c, struct job *j)
{
    for (struct job **pp = &c->running; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            j->next = NULL;
            c->n_running--;
            return;
        }
    }
}

/* Seconds of backoff for a failed message, or -1 to leave it. */
static int
backoff_of(lmq_consumer *c, const lmq_msg *m)
{
    int s = c->o.backoff_fn ? c->o.backoff_fn(m, c->o.arg)
                            : c->o.backoff_seconds;
    if (s > LMQ_MAX_VISIBILITY)
        s = LMQ_MAX_VISIBILITY;
    return s;
}

/* File the outcome of a finished job: res[i] is 0 (succeeded), 1 (failed),
 * 2 (timed out or abandoned: its result is ignored). */
static void
settle_job(lmq_consumer *c, struct job *j, const uint8_t *res)
{
    uint64_t ok = 0, bad = 0;

    for (size_t i = 0; i < j->n; i++) {
        pthread_mutex_lock(&c->mu);
        bool gone = j->gone[i];
        pthread_mutex_unlock(&c->mu);
        if (gone)
            hook(c, LMQ_CONSUMER_LOST, j->msgs[i], 0);
        if (res[i] == 0) {
            ok++;
            hook(c, LMQ_CONSUMER_SUCCEEDED, j->msgs[i], 0);
        } else if (res[i] == 1) {
            bad++;
            hook(c, LMQ_CONSUMER_FAILED, j->msgs[i], 0);
        } else {
            hook(c, LMQ_CONSUMER_TIMED_OUT, j->msgs[i], 0);
        }
    }
    /* Backoff of failed and timed-out messages (not of abandoned ones: the
     * consumer is going away), one batched call per distinct backoff. */
    if (bad || (ok < j->n && !j->abandoned)) {
        const char **r = malloc(j->n * sizeof *r);
        int *secs = malloc(j->n * sizeof *secs);
        size_t nb = 0;
        for (size_t i = 0; r && secs && i < j->n; i++) {
            if (res[i] == 0 || (res[i] == 2 && j->abandoned))
                continue;
            int s = backoff_of(c, j->msgs[i]);
            if (s >= 0) {
                r[nb] = lmq_msg_receipt(j->msgs[i]);
                secs[nb++] = s;
            }
        }
        const char **grp = malloc((nb ? nb : 1) * sizeof *grp);
        for (size_t a = 0; grp && a < nb; a++) {
            if (secs[a] < 0)
                continue; /* done with an earlier group */
            int sec = secs[a];
            size_t m = 0;
            for (size_t b = a; b < nb; b++) {
                if (secs[b] == sec) {
                    grp[m++] = r[b];
                    secs[b] = -1;
                }
            }
            (void)change_vis(c, grp, m, sec, NULL);
        }
        free(grp);
        free(r);
        free(secs);
    }

    struct ack *full = NULL;
    size_t nfull = 0;
    pthread_mutex_lock(&c->mu);
    c->k.succeeded += ok;
    c->k.failed += bad;
    for (size_t i = 0; i < j->n; i++) {
        if (res[i] != 0)
            continue;
        if (c->n_acks == c->cap_acks) {
            size_t cap = c->cap_acks ? 2 * c->cap_acks : 16;
            struct ack *na = realloc(c->acks, cap * sizeof *na);
            if (!na) {
                c->k.errors++; /* left: it comes back and is handled again */
                continue;
            }
            c->acks = na;
            c->cap_acks = cap;
        }
        snprintf(c->acks[c->n_acks++].receipt, LMQ_RECEIPT_MAX, "%s",
                 lmq_msg_receipt(j->msgs[i]));
        if (c->n_acks == 1) {
            c->ack_since = mono_ms();
            wake_timer_locked(c, c->ack_since + ACK_DELAY_MS);
        }
    }
    if (c->n_acks >= ACK_FLUSH)
        full = take_acks_locked(c, &nfull);
    pthread_mutex_unlock(&c->mu);
    if (full) {
        delete_acks(c, full, nfull);
        free(full);
    }
}

/* Run the handler(s) of a job; res[i] as settle_job(). */
static void
run_job(lmq_consumer *c, struct job *j, uint8_t *res)
{
    tls_job = j;
    tls_consumer = c;
    if (c->o.batch_handler) {
        int *failed = calloc(j->n, sizeof *failed);
        int whole = 1;
        if (failed)
            whole = c->o.batch_handler(j->msgs, j->n, failed, c->o.arg);
        bool expired = __atomic_load_n(&j->timed_out, __ATOMIC_SEQ_CST) ||
                       __atomic_load_n(&j->abandoned, __ATOMIC_SEQ_CST);
        for (size_t i = 0; i < j->n; i++)
            res[i] = expired ? 2 : (whole || failed[i]) ? 1 : 0;
        /* FIFO: a failure fails the rest of its group, to keep order. */
        for (size_t i = 0; c->fifo && !expired && i < j->n; i++) {
            const char *g = msg_group(j->msgs[i]);
            if (res[i] != 1 || !g)
                continue;
            for (size_t t = i + 1; t < j->n; t++)
                if (same_group(msg_group(j->msgs[t]), g))
                    res[t] = 1;
        }
        free(failed);
        pthread_mutex_lock(&c->mu);
        memset(j->done, 1, j->n);
        pthread_mutex_unlock(&c->mu);
    } else {
        bool stop_group = false;
        for (size_t i = 0; i < j->n; i++) {
            if (stop_group || __atomic_load_n(&j->abandoned,
                                              __ATOMIC_SEQ_CST)) {
                /* Not attempted: the group stopped at a failure. */
                res[i] = j->abandoned ? 2 : 1;
                continue;
            }
            pthread_mutex_lock(&c->mu);
            j->call_start = mono_ms();
            __atomic_store_n(&j->timed_out, 0, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&c->mu);
            int rc = c->o.handler(j->msgs[i], c->o.arg);
            pthread_mutex_lock(&c->mu);
            j->done[i] = 1;
            bool expired = j->timed_out || j->abandoned;
            pthread_mutex_unlock(&c->mu);
            res[i] = expired ? 2 : rc ? 1 : 0;
            if (res[i] != 0)
                stop_group = true;
        }
    }
    tls_job = NULL;
    tls_consumer = NULL;
}

static void *
worker_main(void *arg)
{
    lmq_consumer *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        struct job *j = c->n_running < c->active ? take_job_locked(c)
                                                 : NULL;
        if (!j) {
            if (c->finishing && !c->pending)
                break;
            pthread_cond_wait(&c->cv, &c->mu);
            continue;
        }
        j->next = c->running;
        c->running = j;
        c->n_running++;
        j->call_start = mono_ms();
        /* heartbeats and timeouts to do: the first heartbeat is armed when
         * the first job appears, a timeout falls due after every earlier
         * one */
        wake_timer_locked(c, c->hb_ms > 0 && !c->timer_hb
                                 ? j->call_start
                             : c->o.handler_timeout_ms > 0
                                 ? j->call_start + c->o.handler_timeout_ms
                                 : INT64_MAX);
        pthread_mutex_unlock(&c->mu);

        uint8_t one, *res = j->n == 1 ? &one : malloc(j->n);
        if (res) {
            run_job(c, j, res);
            settle_job(c, j, res);
        }
        if (res != &one)
            free(res);

        pthread_mutex_lock(&c->mu);
        unlink_running_locked(c, j);
        /* The poller may take more (once nothing is pending), a FIFO job
         * of this group may start, join may be done. */
        if (!c->pending || c->fifo || c->finishing)
            pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        job_free(j);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- the timer thread: heartbeats, timeouts, ack flushes ----------------- */

static struct job *
find_job_locked(lmq_consumer *c, uint64_t id)
{
    for (int pass = 0; pass < 2; pass++)
        for (struct job *j = pass ? c->pending : c->running; j; j = j->next)
            if (j->id == id)
                return j;
    return NULL;
}

struct hb_item {
    uint64_t job;
    size_t idx;
};

static void
heartbeat(lmq_consumer *c)
{
    size_t cap = 0, n = 0;
    struct hb_item *items = NULL;
    char (*receipts)[LMQ_RECEIPT_MAX] = NULL;

    pthread_mutex_lock(&c->mu);
    for (int pass = 0; pass < 2; pass++)
        for (struct job *j = pass ? c->pending : c->running; j; j = j->next)
            cap += j->n;
    if (cap) {
        items = malloc(cap * sizeof *items);
        receipts = malloc(cap * sizeof *receipts);
    }
    for (int pass = 0; pass < 2 && items && receipts; pass++)
    for (struct job *j = pass ? c->pending : c->running; j; j = j->next) {
        if (j->abandoned || j->timed_out)
            continue;
        for (size_t i = 0; i < j->n; i++) {
            if (j->done[i] || j->gone[i])
                continue;
            items[n].job = j->id;
            items[n].idx = i;
            snprintf(receipts[n], LMQ_RECEIPT_MAX, "%s",
                     lmq_msg_receipt(j->msgs[i]));
            n++;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (n) {
        const char **r = malloc(n * sizeof *r);
        uint8_t *ok = malloc(n);
        if (r && ok) {
            for (size_t i = 0; i < n; i++)
                r[i] = receipts[i];
            (void)change_vis(c, r, n, c->vt, ok);
            {
                uint64_t applied = 0;
                pthread_mutex_lock(&c->mu);
                for (size_t i = 0; i < n; i++) {
                    if (ok[i] == 1)
                        applied++;
                    if (ok[i] != 0)
                        continue; /* applied, or unknown (call failed) */
                    struct job *j = find_job_locked(c, items[i].job);
                    if (j) {
                        /* Finished meanwhile (deleted by its ack): not
                         * lost, just done. */
                        if (!j->done[items[i].idx] && !j->gone[items[i].idx]) {
                            j->gone[items[i].idx] = 1;
                            c->k.lost++;
                        }
                    }
                }
                c->k.heartbeats += applied;
                pthread_mutex_unlock(&c->mu);
            }
        }
        free(r);
        free(ok);
    }
    free(items);
    free(receipts);
}

/* Mark running calls past their timeout, and all running jobs once the stop
 * timeout has passed (under mu). Returns the count newly timed out. */
static uint64_t
check_timeouts_locked(lmq_consumer *c, int64_t now, int64_t *next)
{
    uint64_t newly = 0;
    bool stop_over = c->stop_deadline && now >= c->stop_deadline;
    for (struct job *j = c->running; j; j = j->next) {
        if (stop_over && !j->abandoned) {
            __atomic_store_n(&j->abandoned, 1, __ATOMIC_SEQ_CST);
            if (!j->timed_out)
                newly++;
            continue;
        }
        if (c->o.handler_timeout_ms <= 0 || j->timed_out || j->abandoned)
            continue;
        int64_t due = j->call_start + c->o.handler_timeout_ms;
        if (now >= due) {
            __atomic_store_n(&j->timed_out, 1, __ATOMIC_SEQ_CST);
            newly++;
        } else if (*next == 0 || due < *next) {
            *next = due;
        }
    }
    if (c->stop_deadline && !stop_over && c->running &&
        (*next == 0 || c->stop_deadline < *next))
        *next = c->stop_deadline;
    return newly;
}

static void *
timer_main(void *arg)
{
    lmq_consumer *c = arg;
    int64_t next_hb = 0;
    pthread_mutex_lock(&c->mu);
    while (!c->timer_exit) {
        int64_t now = mono_ms();
        int64_t next = 0;
        uint64_t newly = check_timeouts_locked(c, now, &next);
        c->k.timed_out += newly;
        bool do_hb = false;
        if (c->hb_ms > 0 && (c->running || c->pending)) {
            if (next_hb == 0)
                next_hb = now + c->hb_ms;
            if (now >= next_hb) {
                do_hb = true;
                next_hb = now + c->hb_ms;
            }
            if (next == 0 || next_hb < next)
                next = next_hb;
        } else {
            next_hb = 0;
        }
        size_t nacks = 0;
        struct ack *acks = NULL;
        if (c->n_acks) {
            if (now >= c->ack_since + ACK_DELAY_MS)
                acks = take_acks_locked(c, &nacks);
            else if (next == 0 || c->ack_since + ACK_DELAY_MS < next)
                next = c->ack_since + ACK_DELAY_MS;
        }
        if (do_hb || acks) {
            pthread_mutex_unlock(&c->mu);
            if (acks) {
                delete_acks(c, acks, nacks);
                free(acks);
            }
            if (do_hb)
                heartbeat(c);
            pthread_mutex_lock(&c->mu);
            continue;
        }
        c->timer_wait = next;
        c->timer_hb = next_hb != 0;
        if (next)
            cond_wait_until(&c->tcv, &c->mu, next);
        else
            pthread_cond_wait(&c->tcv, &c->mu);
        c->timer_wait = -1;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- public API ----------------------------------------------------------- */

LMQ_API void
lmq_consumer_opts_init(lmq_consumer_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->batch_size = 10;
    o->concurrency = 1;
    o->visibility_timeout = -1;
    o->wait_seconds = 20;
    o->backoff_seconds = -1;
    o->stop_timeout_ms = DEFAULT_STOP_TIMEOUT_MS;
}

static int
check_consumer(const lmq_consumer *c)
{
    if (!c || c->magic != LMQ_CONSUMER_MAGIC)
        return lmq__seterr(LMQ_EMISUSE, "invalid or closed lmq_consumer");
    return 0;
}

static int
validate(const lmq_consumer_opts *o, bool fifo)
{
    if (!o->handler && !o->batch_handler)
        return lmq__seterr(LMQ_EINVAL, "a handler or batch_handler is "
                                       "required");
    int max_batch = fifo ? LMQ_MAX_BATCH : MAX_BATCH_SIZE;
    if (o->batch_size < 1 || o->batch_size > max_batch)
        return lmq__seterr(LMQ_EINVAL, "batch_size %d: must be 1-%d",
                           o->batch_size, max_batch);
    if (o->batching_window_ms < 0 || o->batching_window_ms > MAX_WINDOW_MS)
        return lmq__seterr(LMQ_EINVAL, "batching_window_ms %d: must be "
                                       "0-%d",
                           o->batching_window_ms, MAX_WINDOW_MS);
    if (o->concurrency < 1 || o->concurrency > MAX_CONCURRENCY)
        return lmq__seterr(LMQ_EINVAL, "concurrency %d: must be 1-%d",
                           o->concurrency, MAX_CONCURRENCY);
    if (o->visibility_timeout < -1 ||
        o->visibility_timeout > LMQ_MAX_VISIBILITY)
        return lmq__seterr(LMQ_EINVAL, "visibility_timeout %d: must be -1 "
                                       "or 0-43200",
                           o->visibility_timeout);
    if (o->wait_seconds < 1 || o->wait_seconds > LMQ_MAX_WAIT)
        return lmq__seterr(LMQ_EINVAL, "wait_seconds %d: must be 1-20",
                           o->wait_seconds);
    if (o->heartbeat_seconds < -1 ||
        o->heartbeat_seconds > LMQ_MAX_VISIBILITY)
        return lmq__seterr(LMQ_EINVAL, "heartbeat_seconds %d: must be -1, "
                                       "0 or a period in seconds",
                           o->heartbeat_seconds);
    if (o->handler_timeout_ms < 0)
        return lmq__seterr(LMQ_EINVAL, "handler_timeout_ms must be >= 0");
    if (o->backoff_seconds < -1 || o->backoff_seconds > LMQ_MAX_VISIBILITY)
        return lmq__seterr(LMQ_EINVAL, "backoff_seconds %d: must be -1 or "
                                       "0-43200",
                           o->backoff_seconds);
    if (o->stop_timeout_ms < 0)
        return lmq__seterr(LMQ_EINVAL, "stop_timeout_ms must be >= 0");
    return 0;
}

/* The queue's VisibilityTimeout, for heartbeats when the consumer uses it. */
static int
queue_vt(lmq_env *env, const char *name, int *vt)
{
    static const char *const names[] = {"VisibilityTimeout", NULL};
    lmq_map *m = NULL;
    int rc = lmq_queue_get_attributes(env, name, names, &m);
    if (rc)
        return rc;
    const char *v = lmq_map_get(m, "VisibilityTimeout");
    *vt = v ? atoi(v) : 30;
    lmq_map_free(m);
    return 0;
}

LMQ_API int
lmq_consumer_open(lmq_env *env, const char *queue,
                  const lmq_consumer_opts *opts, lmq_consumer **out)
{
    int rc = lmq__env_check(env);
    if (out)
        *out = NULL;
    if (rc)
        return rc;
    if (!queue || !opts || !out)
        return lmq__seterr(LMQ_EINVAL, "queue, opts and out are required");
    if (opts->size < sizeof(size_t))
        return lmq__seterr(LMQ_EINVAL, "opts->size not set: use "
                                       "lmq_consumer_opts_init()");
    lmq_consumer *c = calloc(1, sizeof *c);
    if (!c)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    lmq_consumer_opts_init(&c->o);
    memcpy(&c->o, opts, opts->size < sizeof c->o ? opts->size : sizeof c->o);
    c->o.size = sizeof c->o;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_cond_init(&c->tcv, NULL);
    c->timer_wait = -1; /* it looks before it first sleeps */

    char *name = NULL;
    lmq_env_opts eo;
    lmq_env_opts_init(&eo);
    if (env->custom_clock && !env->tclock) { /* a test clock is shared */
        eo.clock = env->clock;
        eo.clock_arg = env->clock_arg;
    }
    eo.url_base = env->url_base;
    eo.region = env->region;
    eo.account = env->account;
    eo.group = env->group;
    eo.strict_permissions = env->strict_permissions;
    if ((rc = lmq_queue_name_from_url(queue, &name)) != 0 ||
        (rc = lmq_env_open(env->path, &eo, &c->env)) != 0 ||
        (rc = lmq_queue_open(c->env, name, &c->q)) != 0)
        goto fail;
    c->fifo = lmq_queue_is_fifo(c->q);
    if ((rc = validate(&c->o, c->fifo)) != 0)
        goto fail;
    c->active = c->o.concurrency;
    if (c->o.scale_concurrency && c->active > SCALE_START)
        c->active = SCALE_START;
    c->floor = c->active;
    c->vt = c->o.visibility_timeout;
    if (c->vt < 0 && (rc = queue_vt(c->env, name, &c->vt)) != 0)
        goto fail;
    if (c->o.heartbeat_seconds > 0) {
        if (c->o.heartbeat_seconds >= c->vt) {
            rc = lmq__seterr(LMQ_EINVAL, "heartbeat_seconds (%d) must be "
                                         "less than the visibility timeout "
                                         "(%d)",
                             c->o.heartbeat_seconds, c->vt);
            goto fail;
        }
        c->hb_ms = (int64_t)c->o.heartbeat_seconds * 1000;
    } else if (c->o.heartbeat_seconds == 0 && c->vt > 0) {
        c->hb_ms = (int64_t)c->vt * 1000 / 3;
    }
    c->name = name;
    c->magic = LMQ_CONSUMER_MAGIC;
    *out = c;
    return 0;
fail:
    free(name);
    lmq_queue_close(c->q);
    lmq_env_close(c->env);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_cond_destroy(&c->tcv);
    free(c);
    return rc;
}

LMQ_API int
lmq_consumer_start(lmq_consumer *c)
{
    int rc = check_consumer(c);
    if (rc)
        return rc;
    if (c->started)
        return lmq__seterr(LMQ_EMISUSE, "consumer already started");
    c->workers = calloc((size_t)c->o.concurrency, sizeof *c->workers);
    size_t ncarry = c->fifo ? LMQ_MAX_BATCH : LMQ__RECV_BULK;
    c->carry = calloc(ncarry, sizeof *c->carry);
    if (!c->workers || !c->carry) {
        free(c->workers);
        free(c->carry);
        c->workers = NULL;
        c->carry = NULL;
        return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    c->next_scale = mono_ms() + SCALE_STEP_MS;
    if (pthread_create(&c->timer, NULL, timer_main, c) != 0)
        goto fail_timer;
    /* With scale_concurrency, workers beyond the start value are created
     * as the poller scales up. */
    for (c->nworkers = 0; c->nworkers < c->active; c->nworkers++)
        if (pthread_create(&c->workers[c->nworkers], NULL, worker_main, c) !=
            0)
            goto fail_workers;
    if (pthread_create(&c->poller, NULL, poller_main, c) != 0)
        goto fail_workers;
    c->started = true;
    return 0;
fail_workers:
    pthread_mutex_lock(&c->mu);
    c->finishing = true;
    c->timer_exit = true;
    pthread_cond_broadcast(&c->cv);
    pthread_cond_broadcast(&c->tcv);
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < c->nworkers; i++)
        pthread_join(c->workers[i], NULL);
    pthread_join(c->timer, NULL);
    c->finishing = c->timer_exit = false;
fail_timer:
    free(c->workers);
    free(c->carry);
    c->workers = NULL;
    c->carry = NULL;
    c->nworkers = 0;
    return lmq__seterr(LMQ_ENOMEM, "could not create consumer threads");
}

LMQ_API void
lmq_consumer_stop(lmq_consumer *c)
{
    /* Async-signal-safe: an atomic store and lmq_env_interrupt(). */
    if (!c || c->magic != LMQ_CONSUMER_MAGIC)
        return;
    __atomic_store_n(&c->stop_req, 1, __ATOMIC_SEQ_CST);
    lmq_env_interrupt(c->env);
}

/* Make unstarted jobs visible again at once (after the poller ended). */
static void
return_pending(lmq_consumer *c)
{
    pthread_mutex_lock(&c->mu);
    struct job *list = c->pending;
    c->pending = c->pending_tail = NULL;
    c->n_pending_msgs = 0;
    pthread_mutex_unlock(&c->mu);
    while (list) {
        struct job *j = list;
        list = j->next;
        const char **r = malloc(j->n * sizeof *r);
        uint8_t *ok = malloc(j->n);
        uint64_t back = 0;
        if (r && ok) {
            for (size_t i = 0; i < j->n; i++)
                r[i] = lmq_msg_receipt(j->msgs[i]);
            (void)change_vis(c, r, j->n, 0, ok);
            for (size_t i = 0; i < j->n; i++) {
                if (ok[i]) {
                    back++;
                    hook(c, LMQ_CONSUMER_RETURNED, j->msgs[i], 0);
                }
            }
        }
        count(c, &c->k.returned, back);
        free(r);
        free(ok);
        job_free(j);
    }
}

LMQ_API int
lmq_consumer_join(lmq_consumer *c)
{
    int rc = check_consumer(c);
    if (rc)
        return rc;
    if (!c->started)
        return lmq__seterr(LMQ_EMISUSE, "consumer not started");
    if (c->joined)
        return c->fatal;

    /* 1. The poller ends on a stop request (its receive is interrupted), at
     *    max_messages, when until_empty is met, or on a fatal error. */
    pthread_mutex_lock(&c->mu);
    while (!c->poller_done)
        cond_wait_until(&c->cv, &c->mu, mono_ms() + STOP_POLL_MS);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->poller, NULL);

    /* 2. What was received but not started goes back at once. With a stop
     *    request; when the poller ended by itself, the queued jobs are
     *    still handled. */
    if (stop_requested(c) || c->fatal)
        return_pending(c);

    /* 3. Running handlers finish; the stop timeout starts at the request. */
    pthread_mutex_lock(&c->mu);
    c->finishing = true;
    pthread_cond_broadcast(&c->cv);
    while (c->running || c->pending) {
        if (stop_requested(c) && c->stop_deadline == 0) {
            c->stop_deadline = mono_ms() + c->o.stop_timeout_ms;
            pthread_cond_signal(&c->tcv);
        }
        cond_wait_until(&c->cv, &c->mu, mono_ms() + STOP_POLL_MS);
        if (stop_requested(c) && c->pending) {
            pthread_mutex_unlock(&c->mu);
            return_pending(c);
            pthread_mutex_lock(&c->mu);
        }
    }
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < c->nworkers; i++)
        pthread_join(c->workers[i], NULL);

    /* 4. Acknowledge what is left; end the timer thread. */
    pthread_mutex_lock(&c->mu);
    c->timer_exit = true;
    pthread_cond_broadcast(&c->tcv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->timer, NULL);
    flush_acks(c);
    c->joined = true;
    if (c->fatal)
        return lmq__seterr(c->fatal, "the consumer stopped: %s",
                           lmq_strerror(c->fatal));
    return 0;
}

LMQ_API void
lmq_consumer_close(lmq_consumer *c)
{
    if (!c || c->magic != LMQ_CONSUMER_MAGIC)
        return;
    if (c->started && !c->joined) {
        lmq_consumer_stop(c);
        (void)lmq_consumer_join(c);
    }
    c->magic = 0;
    lmq_queue_close(c->q);
    lmq_env_close(c->env);
    free(c->workers);
    free(c->carry);
    free(c->name);
    free(c->acks);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_cond_destroy(&c->tcv);
    free(c);
}

LMQ_API int
lmq_consumer_handler_expired(const lmq_consumer *c)
{
    if (!c || tls_consumer != c || !tls_job)
        return 0;
    return __atomic_load_n(&tls_job->timed_out, __ATOMIC_SEQ_CST) ||
           __atomic_load_n(&tls_job->abandoned, __ATOMIC_SEQ_CST);
}

LMQ_API int
lmq_consumer_get_counters(lmq_consumer *c, lmq_consumer_counters *out)
{
    int rc = check_consumer(c);
    if (rc)
        return rc;
    if (!out || out->size < sizeof(size_t))
        return lmq__seterr(LMQ_EINVAL, "out->size must be set");
    lmq_consumer_counters k;
    pthread_mutex_lock(&c->mu);
    k = c->k;
    uint64_t running = 0;
    for (struct job *j = c->running; j; j = j->next)
        running += j->n;
    k.in_flight = running + c->n_pending_msgs;
    k.concurrency = (uint64_t)c->active;
    pthread_mutex_unlock(&c->mu);
    size_t n = out->size < sizeof k ? out->size : sizeof k;
    k.size = out->size;
    memcpy(out, &k, n);
    return 0;
}
