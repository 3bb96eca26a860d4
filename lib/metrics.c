/*
 * metrics.c: CloudWatch's SQS metrics, kept in the home (docs/METRICS.md).
 *
 * Totals. NumberOfMessagesSent, SentMessageSize (summed),
 * NumberOfMessagesReceived, NumberOfMessagesDeleted and
 * NumberOfEmptyReceives are running totals in the queue record (version 4,
 * codec.c). Every operation on a queue already loads, changes and rewrites
 * that record in its own write transaction, so counting is a few additions
 * to a record that is written anyway: no extra transaction, no extra B-tree
 * page, no scan. A committed operation is counted and an aborted one is
 * not, in every process of the home and across crashes: the totals are as
 * exact as the messages themselves. The counting sites are in queue_std.c
 * (send, receive, delete), queue_fifo.c's callers and movetask.c (redrives).
 *
 * Gauges. ApproximateNumberOfMessages{Visible,NotVisible,Delayed} are the
 * record's settled counters (catalog.c, the settle rule), and
 * ApproximateAgeOfOldestMessage the head-of-queue read of inspect.c.
 *
 * History. The metrics db holds one sample per queue and minute, keyed
 * (qid u32, minute u64) big-endian, so a queue's rows are one range in time
 * order and a deleted queue's go with one range delete. A sample is written
 * by the first write of a queue in a new minute (lmq__metrics_tick(), called
 * right after the write settled the record and before it changed
 * anything), so it holds the state at the start of that write: the totals
 * of every earlier commit and the gauges settled to that instant. The
 * record keeps the minute of its last sample, so the test is a compare on
 * a value already in hand; the row costs one put a minute per active queue.
 * Minutes without a write get no row (nothing counted changed, only gauges
 * moved by time). Each new row deletes at most TRIM_PER_ROW rows older than
 * LMQ_METRICS_HISTORY_MINUTES, so trimming is bounded work that still
 * catches up with a backlog (two out for every one in).
 *
 * Rejected: a row per write (a write more per operation), a separate
 * counter record per queue (a second page per transaction), and counters
 * in shared memory flushed now and then (lost by a crash, and not exact
 * across processes).
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

#define MINUTE_MS 60000
/* Old rows removed per row written: more than one, so a backlog of old rows
 * (a queue idle for weeks) drains while the queue is used. */
#define TRIM_PER_ROW 2
/* 2 appended the removal totals (dropped, expired, purged, moved) and the
 * stored bytes; 1 is still read (those 0). */
#define SAMPLE_VERSION 2
/* version 1: version, at_ms, five totals, three gauges */
#define SAMPLE_LEN_V1 (1 + 8 * 9)
#define SAMPLE_LEN (SAMPLE_LEN_V1 + 8 * 5)
#define HKEY_LEN 12

static void
hkey(uint8_t k[HKEY_LEN], uint32_t qid, uint64_t minute)
{
    lmq__put_u32(k, qid);
    lmq__put_u64(k + 4, minute);
}

static void
sample_encode(const lmq_qrec *r, int64_t at, uint8_t out[SAMPLE_LEN])
{
    uint8_t *p = out;
    *p++ = SAMPLE_VERSION;
    lmq__put_u64(p, (uint64_t)at), p += 8;
    lmq__put_u64(p, r->m_sent), p += 8;
    lmq__put_u64(p, r->m_sent_bytes), p += 8;
    lmq__put_u64(p, r->m_received), p += 8;
    lmq__put_u64(p, r->m_deleted), p += 8;
    lmq__put_u64(p, r->m_empty), p += 8;
    lmq__put_u64(p, (uint64_t)r->n_visible), p += 8;
    lmq__put_u64(p, (uint64_t)r->n_inflight), p += 8;
    lmq__put_u64(p, (uint64_t)r->n_delayed), p += 8;
    lmq__put_u64(p, r->m_dropped), p += 8;
    lmq__put_u64(p, r->m_expired), p += 8;
    lmq__put_u64(p, r->m_purged), p += 8;
    lmq__put_u64(p, r->m_moved), p += 8;
    lmq__put_u64(p, r->stored_bytes);
}

static int
sample_decode(const void *buf, size_t len, lmq_queue_metrics *m)
{
    const uint8_t *p = buf;
    /* A later version may append fields: read the ones this one knows. */
    if (len < SAMPLE_LEN_V1 || p[0] < 1 || (p[0] >= 2 && len < SAMPLE_LEN))
        return lmq__seterr(LMQ_ECORRUPT, "metrics sample: truncated");
    p++;
    memset(m, 0, sizeof *m);
    m->size = sizeof *m;
    m->at_ms = (int64_t)lmq__get_u64(p), p += 8;
    m->sent = lmq__get_u64(p), p += 8;
    m->sent_bytes = lmq__get_u64(p), p += 8;
    m->received = lmq__get_u64(p), p += 8;
    m->deleted = lmq__get_u64(p), p += 8;
    m->empty_receives = lmq__get_u64(p), p += 8;
    m->visible = (int64_t)lmq__get_u64(p), p += 8;
    m->not_visible = (int64_t)lmq__get_u64(p), p += 8;
    m->delayed = (int64_t)lmq__get_u64(p), p += 8;
    m->oldest_age_ms = -1; /* not sampled: it would cost a read */
    if (((const uint8_t *)buf)[0] >= 2) {
        m->dropped = lmq__get_u64(p), p += 8;
        m->expired = lmq__get_u64(p), p += 8;
        m->purged = lmq__get_u64(p), p += 8;
        m->moved = lmq__get_u64(p), p += 8;
        m->stored_bytes = lmq__get_u64(p);
    }
    return 0;
}

/* Delete up to TRIM_PER_ROW rows of qid at or before minute cutoff. */
static int
trim(lmq_txn *t, uint32_t qid, uint64_t cutoff)
{
    uint8_t k[HKEY_LEN];
    lmq_cur *c;
    lmq_val key, val;
    int rc = lmq__cur_open(t, LMQ_DB_METRICS, &c);
    if (rc)
        return rc;
    hkey(k, qid, 0);
    for (int i = 0; i < TRIM_PER_ROW; i++) {
        /* Seek again after each delete: it moves the cursor. */
        if ((rc = lmq__cur_seek(c, k, sizeof k, &key, &val)) != 0)
            break;
        if (key.len != HKEY_LEN || lmq__get_u32(key.data) != qid ||
            lmq__get_u64((const uint8_t *)key.data + 4) > cutoff)
            break;
        if ((rc = lmq__cur_del(c)) != 0)
            break;
    }
    lmq__cur_close(c);
    return rc < 0 ? rc : 0;
}

int
lmq__metrics_tick(lmq_txn *t, lmq_qrec *r, int64_t now)
{
    if (now <= 0)
        return 0;
    uint64_t minute = (uint64_t)now / MINUTE_MS;
    /* Also skips a system clock that went back: one row per minute, and
     * rows only ever appended. */
    if (minute <= r->m_minute)
        return 0;
    uint8_t k[HKEY_LEN], v[SAMPLE_LEN];
    hkey(k, r->qid, minute);
    sample_encode(r, now, v);
    int rc = lmq__txn_put(t, LMQ_DB_METRICS, k, sizeof k, v, sizeof v);
    if (rc)
        return rc;
    r->m_minute = minute;
    if (minute < LMQ_METRICS_HISTORY_MINUTES)
        return 0;
    return trim(t, r->qid, minute - LMQ_METRICS_HISTORY_MINUTES);
}

size_t
lmq__metrics_msg_size(const lmq_mview *mv)
{
    size_t n = mv->body_len;
    /* Encoded attributes (map.c): a u32 count, then per attribute three
     * u32-length-prefixed fields (name, DataType, value): the SQS size is
     * what is left without the framing. */
    if (mv->attrs && mv->attrs_len >= 4) {
        uint64_t cnt = lmq__get_u32(mv->attrs);
        uint64_t framing = 4 + 12 * cnt;
        if (framing <= mv->attrs_len)
            n += mv->attrs_len - (size_t)framing;
    }
    return n;
}

/* ---- public --------------------------------------------------------------- */

struct get_ctx {
    lmq_env *env;
    const char *name;
    lmq_queue_metrics m;
};

static int
get_fn(lmq_txn *t, void *arg)
{
    struct get_ctx *c = arg;
    lmq_qrec r;
    int64_t now = lmq__now(c->env);
    int rc = lmq__q_load_name(t, c->name, false, &r);
    if (rc)
        return rc;
    /* A copy settled to now, as GetQueueAttributes reads it. */
    if ((rc = lmq__q_settle(t, &r, now)) != 0)
        return rc;
    lmq_queue_metrics *m = &c->m;
    memset(m, 0, sizeof *m);
    m->size = sizeof *m;
    m->at_ms = now;
    m->sent = r.m_sent;
    m->sent_bytes = r.m_sent_bytes;
    m->received = r.m_received;
    m->deleted = r.m_deleted;
    m->empty_receives = r.m_empty;
    m->visible = r.n_visible;
    m->not_visible = r.n_inflight;
    m->delayed = r.n_delayed;
    m->dropped = r.m_dropped;
    m->expired = r.m_expired;
    m->purged = r.m_purged;
    m->moved = r.m_moved;
    m->stored_bytes = r.stored_bytes;
    return lmq__q_oldest_age(t, &r, now, &m->oldest_age_ms);
}

LMQ_API int
lmq_queue_metrics_get(lmq_env *env, const char *name, lmq_queue_metrics *out)
{
    int rc = lmq__env_check(env);
    if (rc)
        return rc;
    if (!name || !out)
        return lmq__seterr(LMQ_EINVAL, "name and out are required");
    if (out->size < sizeof(size_t))
        return lmq__seterr(LMQ_EINVAL, "out->size not set: use "
                                       "sizeof(lmq_queue_metrics)");
    struct get_ctx c = {env, name, {0}};
    if ((rc = lmq__store_read(env->store, get_fn, &c)) != 0)
        return rc;
    size_t size = out->size;
    size_t n = size < sizeof c.m ? size : sizeof c.m;
    memcpy(out, &c.m, n);
    out->size = size;
    return 0;
}

struct hist_ctx {
    lmq_env *env;
    const char *name;
    int64_t since, until;
    lmq_queue_metrics *v;
    size_t n, cap;
};

static int
hist_fn(lmq_txn *t, void *arg)
{
    struct hist_ctx *c = arg;
    uint8_t k[HKEY_LEN];
    lmq_qrec r;
    lmq_cur *cur;
    lmq_val key, val;
    c->n = 0; /* a read may be retried: start over */
    int rc = lmq__q_load_name(t, c->name, false, &r);
    if (rc)
        return rc;
    int64_t now = lmq__now(c->env);
    uint64_t first = c->since > 0 ? (uint64_t)c->since / MINUTE_MS : 0;
    /* Rows past the window that no write has trimmed yet are left out. */
    uint64_t nowmin = now > 0 ? (uint64_t)now / MINUTE_MS : 0;
    if (nowmin >= LMQ_METRICS_HISTORY_MINUTES &&
        first <= nowmin - LMQ_METRICS_HISTORY_MINUTES)
        first = nowmin - LMQ_METRICS_HISTORY_MINUTES + 1;
    if ((rc = lmq__cur_open(t, LMQ_DB_METRICS, &cur)) != 0)
        return rc;
    hkey(k, r.qid, first);
    for (rc = lmq__cur_seek(cur, k, sizeof k, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val)) {
        if (key.len != HKEY_LEN || lmq__get_u32(key.data) != r.qid)
            break;
        lmq_queue_metrics m;
        if ((rc = sample_decode(val.data, val.len, &m)) != 0)
            break;
        if (c->until > 0 && m.at_ms > c->until)
            break;
        if (c->since > 0 && m.at_ms < c->since)
            continue;
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 64;
            lmq_queue_metrics *nv = realloc(c->v, cap * sizeof *nv);
            if (!nv) {
                rc = lmq__seterr(LMQ_ENOMEM, NULL);
                break;
            }
            c->v = nv;
            c->cap = cap;
        }
        c->v[c->n++] = m;
    }
    lmq__cur_close(cur);
    return rc < 0 ? rc : 0;
}

LMQ_API int
lmq_queue_metrics_history(lmq_env *env, const char *name, int64_t since_ms,
                          int64_t until_ms, lmq_queue_metrics **out,
                          size_t *n)
{
    int rc = lmq__env_check(env);
    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (rc)
        return rc;
    if (!name || !out || !n)
        return lmq__seterr(LMQ_EINVAL, "name, out and n are required");
    if (since_ms < 0 || until_ms < 0)
        return lmq__seterr(LMQ_EINVAL, "since_ms and until_ms must be >= 0");
    struct hist_ctx c = {env, name, since_ms, until_ms, NULL, 0, 0};
    if ((rc = lmq__store_read(env->store, hist_fn, &c)) != 0) {
        free(c.v);
        return rc;
    }
    if (c.n == 0) {
        free(c.v);
        return 0;
    }
    *out = c.v;
    *n = c.n;
    return 0;
}
