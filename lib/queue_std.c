/*
 * queue_std.c: send, receive, delete and change-visibility, and the message
 * primitives that FIFO queues and dead-letter moves build on.
 *
 * A message is up to three entries, all keyed by (qid, seq): the immutable
 * record in msg, a 40-byte header in hdr, and one entry in the visibility
 * index vis keyed (qid, visible_at, seq). "Visible" means visible_at <= now,
 * so receive seeks vis to (qid, 0) and takes entries up to now: no scan of
 * invisible messages, and the oldest-visible message comes first. A delayed
 * message is one whose visible_at is in the future with state DELAYED; an
 * in-flight one has state INFLIGHT. Counters follow the settle rule in
 * catalog.c.
 *
 * The header row appears on the first change (until then the record's first
 * header is the header). In a standard queue, a message visible from its
 * send has no vis entry either until its first receive (LMQ_MH_UNINDEXED in
 * its header): receive finds such messages by walking msg in send order from
 * the queue's front_seq, which it moves past every message it takes or
 * passes, and merges them with the vis entries by visible_at. So a send
 * writes one row, and a queue's vis index holds only delayed, in-flight and
 * once-received messages, however long the backlog.
 *
 * Receipt handles name a delivery (see receipt.c). lmq's rule on top of SQS:
 * a handle from an earlier delivery never deletes or changes a message that
 * was delivered again since; the call succeeds and reports nothing applied.
 *
 * Validation, digests, ids and attribute encoding happen before the write
 * transaction (lmq_prep), so the writer lock is held only for the B-tree
 * work. Every public call is one write transaction (lmq__store_write).
 */
#define _GNU_SOURCE 1 /* memmem */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Retention sweep: bounded work per receive so one call never pays for a
 * huge backlog of expired messages. */
#define SWEEP_PER_CALL 16

LMQ_API void
lmq_send_entry_init(lmq_send_entry *e)
{
    if (!e)
        return;
    memset(e, 0, sizeof *e);
    e->size = sizeof *e;
    e->body_len = SIZE_MAX;
    e->delay_seconds = -1;
}

LMQ_API void
lmq_recv_opts_init(lmq_recv_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->max_messages = 1;
    o->visibility_timeout = -1;
    o->wait_seconds = -1;
}

/* ---- primitives --------------------------------------------------------- */

/* A message's header: its header row once something changed it, else the
 * first header inside the message record. LMQ__NOTFOUND: no such message. */
int
lmq__msg_hdr(lmq_txn *t, uint32_t qid, uint64_t seq, lmq_mhdr *h)
{
    uint8_t k[LMQ_MKEY_LEN];
    lmq_val v;
    lmq__mkey(k, qid, seq);
    int rc = lmq__txn_get(t, LMQ_DB_HDR, k, sizeof k, &v);
    if (rc == 0)
        return lmq__mhdr_decode(v.data, v.len, h);
    if (rc != LMQ__NOTFOUND ||
        (rc = lmq__txn_get(t, LMQ_DB_MSG, k, sizeof k, &v)) != 0)
        return rc;
    rc = lmq__mrec_hdr(v.data, v.len, h);
    return rc == LMQ__NOTFOUND
               ? lmq__seterr(LMQ_ECORRUPT, "message header missing")
               : rc;
}

int
lmq__msg_view(lmq_txn *t, uint32_t qid, uint64_t seq, lmq_mview *mv)
{
    uint8_t k[LMQ_MKEY_LEN];
    lmq_val v;
    lmq__mkey(k, qid, seq);
    int rc = lmq__txn_get(t, LMQ_DB_MSG, k, sizeof k, &v);
    if (rc == LMQ__NOTFOUND)
        return lmq__seterr(LMQ_ECORRUPT, "message record missing");
    return rc ? rc : lmq__mview_decode(v.data, v.len, mv);
}

static int
put_hdr(lmq_txn *t, uint32_t qid, uint64_t seq, const lmq_mhdr *h)
{
    uint8_t k[LMQ_MKEY_LEN], v[LMQ_MHDR_SIZE];
    lmq__mkey(k, qid, seq);
    lmq__mhdr_encode(h, v);
    return lmq__txn_put(t, LMQ_DB_HDR, k, sizeof k, v, sizeof v);
}

static int
put_vis(lmq_txn *t, lmq_qrec *r, uint64_t seq, int64_t at, int st)
{
    uint8_t k[LMQ_VKEY_LEN], v = (uint8_t)st;
    lmq__vkey(k, r->qid, at, seq);
    lmq__q_count(r, lmq__q_state(r, at, st), +1);
    if (at > r->settled_ms && r->due_ms > 0 && at < r->due_ms)
        r->due_ms = at;
    return lmq__txn_put(t, LMQ_DB_VIS, k, sizeof k, &v, 1);
}

static int
del_vis(lmq_txn *t, lmq_qrec *r, uint64_t seq, const lmq_mhdr *h)
{
    uint8_t k[LMQ_VKEY_LEN];
    if (h->flags & LMQ_MH_UNINDEXED) { /* counted visible, nothing to delete */
        lmq__q_count(r, LMQ_MS_VISIBLE, -1);
        return 0;
    }
    lmq__vkey(k, r->qid, h->visible_at, seq);
    int rc = lmq__txn_del(t, LMQ_DB_VIS, k, sizeof k);
    if (rc == 0)
        lmq__q_count(r, lmq__q_state(r, h->visible_at, h->state), -1);
    return rc == LMQ__NOTFOUND ? lmq__seterr(LMQ_ECORRUPT, "vis entry missing")
                               : rc;
}

int
lmq__msg_insert(lmq_txn *t, const lmq_env *env, lmq_qrec *r,
                const lmq_mview *mv, const lmq_mhdr *h, uint64_t *seq_out)
{
    uint8_t k[LMQ_MKEY_LEN];
    void *dst;
    uint64_t seq = ++r->next_seq;
    lmq__mkey(k, r->qid, seq);
    int rc = lmq__txn_reserve(t, LMQ_DB_MSG, k, sizeof k,
                              lmq__mrec_size(r, mv), &dst);
    if (rc)
        return rc;
    /* Visible already (under the settle rule) in a standard queue: no vis
     * entry; receive finds it from front_seq (seq only grows, so it is at
     * or after front_seq). */
    lmq_mhdr first = *h;
    first.flags = 0;
    if (!r->fifo && h->visible_at <= r->settled_ms)
        first.flags = LMQ_MH_UNINDEXED;
    /* the header row waits for a change */
    if ((rc = lmq__mrec_encode(env, r, seq, mv, &first, dst)) != 0)
        return rc;
    r->stored_bytes += lmq__mview_stored_size(mv, r->seal_kind != 0);
    int64_t expires = h->enqueue_ms + (int64_t)r->retention * 1000;
    if (r->sweep_ms > 0 && expires < r->sweep_ms)
        r->sweep_ms = expires;
    if (first.flags & LMQ_MH_UNINDEXED)
        lmq__q_count(r, LMQ_MS_VISIBLE, +1);
    else if ((rc = put_vis(t, r, seq, h->visible_at, h->state)) != 0)
        return rc;
    if (r->fifo && (rc = lmq__fifo_on_insert(t, r, seq, mv, h)) != 0)
        return rc;
    if (seq_out)
        *seq_out = seq;
    return 0;
}

int
lmq__msg_reindex(lmq_txn *t, lmq_qrec *r, uint64_t seq, const lmq_mview *mv,
                 const lmq_mhdr *h)
{
    int rc = 0;
    if (!r->fifo && (h->flags & LMQ_MH_UNINDEXED)) {
        lmq__q_count(r, LMQ_MS_VISIBLE, +1);
        if (seq < r->front_seq)
            r->front_seq = seq;
    } else {
        rc = put_vis(t, r, seq, h->visible_at, h->state);
    }
    if (rc == 0 && r->fifo)
        rc = lmq__fifo_on_insert(t, r, seq, mv, h);
    return rc;
}

int
lmq__msg_remove(lmq_txn *t, lmq_qrec *r, uint64_t seq, const lmq_mhdr *h,
                int why)
{
    uint8_t k[LMQ_MKEY_LEN];
    lmq_val v;
    int rc = r->fifo ? lmq__fifo_on_remove(t, r, seq, h) : 0;
    if (rc || (rc = del_vis(t, r, seq, h)) != 0)
        return rc;
    lmq__mkey(k, r->qid, seq);
    /* The record's size before it goes: the get leaves the db's cursor on
     * it, so the delete finds it without a descent. */
    if ((rc = lmq__txn_get(t, LMQ_DB_MSG, k, sizeof k, &v)) < 0)
        return rc;
    if (rc == 0) {
        uint64_t sz = lmq__mrec_stored_size(v.data, v.len);
        r->stored_bytes = r->stored_bytes > sz ? r->stored_bytes - sz : 0;
    }
    if ((rc = lmq__txn_del(t, LMQ_DB_HDR, k, sizeof k)) < 0 ||
        (rc = lmq__txn_del(t, LMQ_DB_MSG, k, sizeof k)) < 0)
        return rc;
    switch (why) {
    case LMQ_RM_DELETE:
        r->m_deleted++;
        break;
    case LMQ_RM_EXPIRE:
        r->m_expired++;
        break;
    case LMQ_RM_DROP:
        r->m_dropped++;
        break;
    default:
        r->m_moved++;
        break;
    }
    return 0;
}

int
lmq__msg_revisit(lmq_txn *t, lmq_qrec *r, uint64_t seq, lmq_mhdr *h,
                 int64_t visible_at, int st)
{
    int rc = del_vis(t, r, seq, h);
    if (rc)
        return rc;
    h->visible_at = visible_at;
    h->state = (uint8_t)st;
    h->flags &= (uint8_t)~LMQ_MH_UNINDEXED;
    if ((rc = put_vis(t, r, seq, visible_at, st)) != 0 ||
        (rc = put_hdr(t, r->qid, seq, h)) != 0)
        return rc;
    return r->fifo ? lmq__fifo_on_revisit(t, r, seq, h) : 0;
}

int
lmq__q_sweep(lmq_txn *t, lmq_qrec *r, int64_t now, int max)
{
    uint8_t k[LMQ_MKEY_LEN];
    lmq_cur *c;
    lmq_val key, val;
    uint64_t seqs[SWEEP_PER_CALL];
    lmq_mhdr hs[SWEEP_PER_CALL];
    int n = 0, rc;
    if (max > SWEEP_PER_CALL)
        max = SWEEP_PER_CALL;
    if (r->sweep_ms > 0 && now < r->sweep_ms)
        return 0; /* nothing can have expired yet */
    if ((rc = lmq__cur_open(t, LMQ_DB_MSG, &c)) != 0)
        return rc;
    int64_t next = INT64_MAX; /* queue empty, unless a message is found */
    lmq__mkey(k, r->qid, 0);
    for (rc = lmq__cur_seek(c, k, sizeof k, &key, &val); rc == 0;
         rc = lmq__cur_next(c, &key, &val)) {
        if (key.len != LMQ_MKEY_LEN || lmq__get_u32(key.data) != r->qid)
            break;
        uint64_t seq = lmq__get_u64((const uint8_t *)key.data + 4);
        lmq_mhdr h;
        /* enqueue_ms never changes, so the record's first header decides;
         * a version 1 record has none: look its header row up. */
        rc = lmq__mrec_hdr(val.data, val.len, &h);
        if (rc == LMQ__NOTFOUND)
            rc = lmq__msg_hdr(t, r->qid, seq, &h);
        if (rc)
            break;
        /* Messages are in send order, so the first unexpired one ends the
         * sweep (DLQ moves keep older enqueue times; receive checks every
         * candidate anyway). */
        if (!lmq__msg_expired(r, &h, now)) {
            next = h.enqueue_ms + (int64_t)r->retention * 1000;
            break;
        }
        if (n == max) {
            next = 0; /* more to sweep next time */
            break;
        }
        seqs[n++] = seq;
    }
    lmq__cur_close(c);
    if (rc < 0)
        return rc;
    r->sweep_ms = next;
    /* The current headers (visibility, state) say which index rows go. */
    for (int i = 0; i < n; i++)
        if ((rc = lmq__msg_hdr(t, r->qid, seqs[i], &hs[i])) != 0)
            return rc == LMQ__NOTFOUND
                       ? lmq__seterr(LMQ_ECORRUPT, "message vanished")
                       : rc;
    for (int i = 0; i < n; i++)
        if ((rc = lmq__msg_remove(t, r, seqs[i], &hs[i], LMQ_RM_EXPIRE)) != 0)
            return rc;
    return n;
}

/* ---- messages ------------------------------------------------------------- */

LMQ_API void
lmq_msg_free(lmq_msg *m)
{
    if (!m)
        return;
    free(m->body);
    lmq_mattrs_free(m->attrs);
    free(m->group);
    free(m->dedup);
    free(m->trace);
    free(m->dlq_src);
    free(m);
}

static char *
dupn(const char *s, size_t n)
{
    return s ? strndup(s, n) : NULL;
}

static int
make_open(const lmq_env *env, const lmq_qrec *r, uint64_t seq,
          const lmq_mview *mv, const lmq_mhdr *h, int64_t now,
          const char *const *attr_names, lmq_msg **out);

int
lmq__msg_make(const lmq_env *env, const lmq_qrec *r, uint64_t seq,
              const lmq_mview *mv, const lmq_mhdr *h, int64_t now,
              const char *const *attr_names, lmq_msg **out)
{
    if (!mv->sealed)
        return make_open(env, r, seq, mv, h, now, attr_names, out);
    lmq_mview ov = *mv;
    uint8_t *plain;
    int rc = lmq__mview_open(env, r->qid, r->name, seq, &ov, &plain);
    if (rc == 0)
        rc = make_open(env, r, seq, &ov, h, now, attr_names, out);
    lmq__seal_free(plain);
    return rc;
}

/* lmq__msg_make of an open (clear) view. */
static int
make_open(const lmq_env *env, const lmq_qrec *r, uint64_t seq,
          const lmq_mview *mv, const lmq_mhdr *h, int64_t now,
          const char *const *attr_names, lmq_msg **out)
{
    int rc;
    lmq_msg *m = calloc(1, sizeof *m);
    if (!m)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    m->body = malloc(mv->body_len + 1);
    if (!m->body) {
        free(m);
        return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    memcpy(m->body, mv->body, mv->body_len);
    m->body[mv->body_len] = '\0';
    m->body_len = mv->body_len;
    memcpy(m->id, mv->message_id, 36);
    memcpy(m->md5_body, mv->md5_body, 32);
    m->sent_ms = mv->sent_ms;
    m->seq = seq;
    m->fifo = r->fifo;
    m->group = dupn(mv->group, mv->group_len);
    m->dedup = dupn(mv->dedup, mv->dedup_len);
    m->trace = dupn(mv->trace, mv->trace_len);
    m->dlq_src = dupn(mv->dlq_src, mv->dlq_src_len);
    m->recv_count = h->recv_count;
    m->first_recv_ms = h->first_recv_ms;
    m->visible_at = h->visible_at;
    m->state = h->visible_at <= now         ? LMQ_MSG_VISIBLE
               : h->state == LMQ_MS_DELAYED ? LMQ_MSG_DELAYED
                                            : LMQ_MSG_INFLIGHT;
    snprintf(m->sender, sizeof m->sender, "%s", env->account);
    if (mv->attrs_len && attr_names) {
        lmq_mattrs *all = NULL;
        rc = lmq__mattrs_decode(mv->attrs, mv->attrs_len, &all);
        if (rc == 0)
            rc = lmq__mattrs_filter(all, attr_names, &m->attrs);
        lmq_mattrs_free(all);
        if (rc == 0 && m->attrs)
            rc = lmq_mattrs_md5(m->attrs, m->md5_attrs);
        if (rc) {
            lmq_msg_free(m);
            return rc;
        }
    }
    if ((mv->group && !m->group) || (mv->dedup && !m->dedup) ||
        (mv->trace && !m->trace) || (mv->dlq_src && !m->dlq_src)) {
        lmq_msg_free(m);
        return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    *out = m;
    return 0;
}

int
lmq__msg_deliver(lmq_txn *t, lmq_queue *q, lmq_qrec *r, uint64_t seq,
                 lmq_mhdr *h, int64_t now, int vt,
                 const char *const *attr_names, lmq_msg **out)
{
    lmq_mview mv;
    lmq_msg *m;
    int rc = lmq__msg_view(t, r->qid, seq, &mv);
    if (rc == LMQ_ECORRUPT) { /* name the queue and message */
        char was[256];
        snprintf(was, sizeof was, "%s", lmq_errmsg());
        return lmq__seterr(LMQ_ECORRUPT, "message %llu of queue %s: %s",
                           (unsigned long long)seq, r->name, was);
    }
    if (rc || (rc = lmq__msg_make(q->env, r, seq, &mv, h, now, attr_names,
                                  &m)) != 0)
        return rc;

    h->recv_count++;
    if (h->first_recv_ms == 0)
        h->first_recv_ms = now;
    h->recv_start_ms = now;
    int64_t at = now + (int64_t)vt * 1000;
    rc = lmq__msg_revisit(t, r, seq, h, at,
                          vt > 0 ? LMQ_MS_INFLIGHT : LMQ_MS_VISIBLE);
    if (rc) {
        lmq_msg_free(m);
        return rc;
    }
    m->recv_count = h->recv_count;
    m->first_recv_ms = h->first_recv_ms;
    m->visible_at = at;
    m->state = vt > 0 ? LMQ_MSG_INFLIGHT : LMQ_MSG_VISIBLE;
    lmq__receipt_make(q->env, r->qid, seq, h->recv_count, m->receipt);
    *out = m;
    return 0;
}

LMQ_API const char *
lmq_msg_id(const lmq_msg *m)
{
    return m ? m->id : NULL;
}

LMQ_API const char *
lmq_msg_receipt(const lmq_msg *m)
{
    return m ? m->receipt : NULL;
}

LMQ_API const char *
lmq_msg_body(const lmq_msg *m, size_t *len)
{
    if (len)
        *len = m ? m->body_len : 0;
    return m ? m->body : NULL;
}

LMQ_API const char *
lmq_msg_md5_body(const lmq_msg *m)
{
    return m ? m->md5_body : NULL;
}

LMQ_API const char *
lmq_msg_md5_attrs(const lmq_msg *m)
{
    return m ? m->md5_attrs : NULL;
}

LMQ_API const lmq_mattrs *
lmq_msg_attrs(const lmq_msg *m)
{
    return m ? m->attrs : NULL;
}

LMQ_API uint32_t
lmq_msg_receive_count(const lmq_msg *m)
{
    return m ? m->recv_count : 0;
}

LMQ_API int64_t
lmq_msg_sent_timestamp(const lmq_msg *m)
{
    return m ? m->sent_ms : 0;
}

LMQ_API int64_t
lmq_msg_first_receive_timestamp(const lmq_msg *m)
{
    return m ? m->first_recv_ms : 0;
}

LMQ_API int
lmq_msg_state(const lmq_msg *m)
{
    return m ? m->state : LMQ_MSG_VISIBLE;
}

LMQ_API int64_t
lmq_msg_visible_at(const lmq_msg *m)
{
    return m ? m->visible_at : 0;
}

LMQ_API const char *
lmq_msg_state_name(int state)
{
    switch (state) {
    case LMQ_MSG_VISIBLE:
        return "visible";
    case LMQ_MSG_INFLIGHT:
        return "inflight";
    case LMQ_MSG_DELAYED:
        return "delayed";
    default:
        return "unknown";
    }
}

LMQ_API const char *
lmq_msg_sys_attr(const lmq_msg *m, const char *name)
{
    lmq_msg *w = (lmq_msg *)m; /* formats into its own buffers */
    if (!m || !name)
        return NULL;
    if (strcmp(name, "SenderId") == 0)
        return m->sender;
    if (strcmp(name, "SentTimestamp") == 0) {
        snprintf(w->buf[0], sizeof w->buf[0], "%lld", (long long)m->sent_ms);
        return w->buf[0];
    }
    if (strcmp(name, "ApproximateReceiveCount") == 0) {
        snprintf(w->buf[1], sizeof w->buf[1], "%u", m->recv_count);
        return w->buf[1];
    }
    if (strcmp(name, "ApproximateFirstReceiveTimestamp") == 0) {
        snprintf(w->buf[2], sizeof w->buf[2], "%lld",
                 (long long)m->first_recv_ms);
        return w->buf[2];
    }
    if (strcmp(name, "SequenceNumber") == 0) {
        if (!m->fifo)
            return NULL;
        snprintf(w->buf[3], sizeof w->buf[3], "%020llu",
                 (unsigned long long)m->seq);
        return w->buf[3];
    }
    if (strcmp(name, "MessageGroupId") == 0)
        return m->group;
    if (strcmp(name, "MessageDeduplicationId") == 0)
        return m->fifo ? m->dedup : NULL;
    if (strcmp(name, "AWSTraceHeader") == 0)
        return m->trace;
    if (strcmp(name, "DeadLetterQueueSourceArn") == 0)
        return m->dlq_src;
    return NULL;
}

/* ---- send ------------------------------------------------------------------ */

static void
entry_fail(lmq_prep *p, int err)
{
    p->err = err;
    if (p->res) {
        p->res->err = err;
        snprintf(p->res->errmsg, sizeof p->res->errmsg, "%s", lmq_errmsg());
    }
}

/* Validate and prepare one entry (no transaction). */
static int
prepare(const lmq_queue *q, lmq_prep *p, int64_t now)
{
    const lmq_send_entry *e = p->e;
    size_t abytes = 0;
    int rc;
    if (!e->body || (e->body_len == SIZE_MAX ? e->body[0] == '\0'
                                             : e->body_len == 0))
        return lmq__seterr(LMQ_EMISSING, "The request must contain the "
                                         "parameter MessageBody.");
    size_t blen = e->body_len == SIZE_MAX ? strlen(e->body) : e->body_len;
    if ((rc = lmq__valid_chars(e->body, blen)) != 0)
        return rc;
    if ((rc = lmq__valid_mattrs(e->attrs, &abytes)) != 0)
        return rc;
    if (e->delay_seconds < -1 || e->delay_seconds > LMQ_MAX_DELAY)
        return lmq__seterr(LMQ_EINVAL,
                           "Value %d for parameter DelaySeconds is invalid. "
                           "Reason: DelaySeconds must be >= 0 and <= 900.",
                           e->delay_seconds);
    if (e->trace_header && (rc = lmq__valid_chars(
                                e->trace_header, strlen(e->trace_header))))
        return rc;
    if (!q->fifo) {
        if (e->dedup_id)
            return lmq__seterr(LMQ_EINVAL,
                               "Value %s for parameter MessageDeduplicationId "
                               "is invalid. Reason: The request includes a "
                               "parameter that is not valid for this queue "
                               "type.",
                               e->dedup_id);
        if (e->group_id &&
            (rc = lmq__valid_msg_ident("MessageGroupId", e->group_id)))
            return rc;
    }
    p->size = blen + abytes;
    lmq_mview *mv = &p->mv;
    memset(mv, 0, sizeof *mv);
    lmq__uuid4(mv->message_id);
    lmq__md5_hex(e->body, blen, mv->md5_body);
    mv->sent_ms = now;
    mv->body = e->body;
    mv->body_len = blen;
    if (e->group_id) {
        mv->group = e->group_id;
        mv->group_len = strlen(e->group_id);
    }
    if (e->trace_header) {
        mv->trace = e->trace_header;
        mv->trace_len = strlen(e->trace_header);
    }
    if (lmq_mattrs_count(e->attrs) > 0) {
        if ((rc = lmq__mattrs_encode(e->attrs, &p->attrs_buf,
                                     &mv->attrs_len)) != 0)
            return rc;
        mv->attrs = p->attrs_buf;
    }
    lmq_send_result *res = p->res;
    if (res) {
        memcpy(res->message_id, mv->message_id, 37);
        memcpy(res->md5_body, mv->md5_body, 33);
        if (mv->attrs_len)
            lmq_mattrs_md5(e->attrs, res->md5_attrs);
        if (e->trace_header) {
            lmq_mattrs *sys = lmq_mattrs_new();
            if (!sys)
                return lmq__seterr(LMQ_ENOMEM, NULL);
            lmq_mattrs_add(sys, "AWSTraceHeader", "String", e->trace_header,
                           strlen(e->trace_header));
            lmq_mattrs_md5(sys, res->md5_sys_attrs);
            lmq_mattrs_free(sys);
        }
    }
    return 0;
}

/* ---- limits -----------------------------------------------------------------
 *
 * A queue's own limits (LmqMaximumMessages, LmqMaximumBytes,
 * LmqOverLimitPolicy; attributes in the record's attribute map,
 * catalog.c): a send that would make the queue hold more messages
 * (visible, in flight and delayed) or more stored bytes (the record's
 * stored_bytes, lmq__mrec_stored_size() of each message) than its limit is
 * refused with LMQ_EOVERLIMIT (a batch: that entry alone, as SQS reports
 * entry errors), or, with drop-oldest, first removes the queue's oldest
 * messages in send order, whatever their state (FIFO: the head of a group,
 * which is the oldest message of that group), counted in m_dropped
 * (LmqDroppedMessages, NumberOfMessagesDropped). A message larger than the
 * byte limit itself is refused under either policy, dropping nothing. The
 * attribute map is decoded only for records whose encoded attributes name
 * a limit, so queues without one pay a memmem.
 *
 * The home's limit (lmq_env_opts.max_messages, per process like max_bytes)
 * counts the messages of every queue: the counters of every other queue
 * record plus this one's as the send goes. It is read only by processes
 * that set it (a walk of the queue records, once per send call), and only
 * refuses: dropping another queue's messages to make room for this one's
 * is not a policy anyone asked for. */

struct qlimits {
    uint64_t max_msgs;  /* 0: none */
    uint64_t max_bytes; /* 0: none */
    bool drop;          /* drop-oldest, else refuse */
    uint64_t home_max;  /* the home's limit (0: none) */
    uint64_t home_others; /* messages of the home's other queues */
};

/* Decode r's attribute and tag maps from its encoded tail (r is saved with
 * them; the caller frees them with lmq__qrec_free()). */
static int
q_decode_maps(lmq_qrec *r)
{
    if (r->attrs || !r->tail)
        return 0;
    const uint8_t *p = r->tail;
    size_t left = r->tail_len;
    uint32_t al = left >= 4 ? lmq__get_u32(p) : UINT32_MAX;
    if (al > left - 4 || left - 4 - al < 4)
        return lmq__seterr(LMQ_ECORRUPT, "queue record: bad tail");
    uint32_t tl = lmq__get_u32(p + 4 + al);
    if (tl != left - 8 - al)
        return lmq__seterr(LMQ_ECORRUPT, "queue record: bad tail");
    int rc = lmq__map_decode(p + 4, al, &r->attrs);
    if (rc == 0 && (rc = lmq__map_decode(p + 8 + al, tl, &r->tags)) != 0)
        lmq__qrec_free(r);
    if (rc == 0) {
        r->tail = NULL;
        r->tail_len = 0;
    }
    return rc;
}

/* Messages held by the queues of the home other than qid. */
static int
home_others(lmq_txn *t, uint32_t qid, uint64_t *n)
{
    lmq_cur *c;
    lmq_val key, val;
    static const uint8_t from[4] = {0};
    int rc = lmq__cur_open(t, LMQ_DB_QREC, &c);
    if (rc)
        return rc;
    *n = 0;
    for (rc = lmq__cur_seek(c, from, sizeof from, &key, &val); rc == 0;
         rc = lmq__cur_next(c, &key, &val)) {
        lmq_qrec o;
        if (key.len != 4 || lmq__get_u32(key.data) == qid)
            continue;
        if ((rc = lmq__qrec_decode(val.data, val.len, false, &o)) != 0)
            break;
        *n += (uint64_t)(o.n_visible + o.n_inflight + o.n_delayed);
    }
    lmq__cur_close(c);
    return rc < 0 ? rc : 0;
}

static int
q_limits(lmq_txn *t, const lmq_env *env, lmq_qrec *r, struct qlimits *l)
{
    /* Both limit names start so; no other attribute does. */
    static const char key[] = "LmqMaximum";
    int rc;
    memset(l, 0, sizeof *l);
    if (env->max_msgs) {
        l->home_max = env->max_msgs;
        if ((rc = home_others(t, r->qid, &l->home_others)) != 0)
            return rc;
    }
    if (!r->attrs && (!r->tail || !memmem(r->tail, r->tail_len, key,
                                          sizeof key - 1)))
        return 0;
    if ((rc = q_decode_maps(r)) != 0)
        return rc;
    const char *v = lmq_map_get(r->attrs, "LmqMaximumMessages");
    l->max_msgs = v ? strtoull(v, NULL, 10) : 0;
    v = lmq_map_get(r->attrs, "LmqMaximumBytes");
    l->max_bytes = v ? strtoull(v, NULL, 10) : 0;
    v = lmq_map_get(r->attrs, "LmqOverLimitPolicy");
    l->drop = v && strcmp(v, "drop-oldest") == 0;
    return 0;
}

/* Remove r's oldest message (send order). LMQ__NOTFOUND: none. */
static int
drop_oldest(lmq_txn *t, lmq_qrec *r)
{
    uint8_t k[LMQ_MKEY_LEN];
    lmq_cur *c;
    lmq_val key, val;
    uint64_t seq = 0;
    int rc = lmq__cur_open(t, LMQ_DB_MSG, &c);
    if (rc)
        return rc;
    lmq__mkey(k, r->qid, 0);
    rc = lmq__cur_seek(c, k, sizeof k, &key, &val);
    if (rc == 0 && key.len == LMQ_MKEY_LEN &&
        lmq__get_u32(key.data) == r->qid)
        seq = lmq__get_u64((const uint8_t *)key.data + 4);
    lmq__cur_close(c);
    if (rc < 0)
        return rc;
    if (seq == 0)
        return LMQ__NOTFOUND;
    lmq_mhdr h;
    if ((rc = lmq__msg_hdr(t, r->qid, seq, &h)) != 0)
        return rc == LMQ__NOTFOUND
                   ? lmq__seterr(LMQ_ECORRUPT, "message vanished")
                   : rc;
    return lmq__msg_remove(t, r, seq, &h, LMQ_RM_DROP);
}

static uint64_t
q_held(const lmq_qrec *r)
{
    return (uint64_t)(r->n_visible + r->n_inflight + r->n_delayed);
}

/* Make room for one more message of size bytes under r's limits and the
 * home's: 0 (room, or the oldest dropped), or LMQ_EOVERLIMIT (refused,
 * nothing dropped). */
static int
limit_room(lmq_txn *t, lmq_qrec *r, const struct qlimits *l, uint64_t size)
{
    /* The home's limit first, so that a refusal drops nothing: what the
     * queue will hold once its own limits dropped what they drop (at most
     * this; byte drops may leave less). */
    uint64_t held = q_held(r);
    if (l->drop && l->max_msgs && held >= l->max_msgs)
        held = l->max_msgs - 1;
    if (l->home_max && l->home_others + held >= l->home_max)
        return lmq__seterr(LMQ_EOVERLIMIT,
                           "The home holds its maximum of %llu messages "
                           "(max_messages, --max-home-messages).",
                           (unsigned long long)l->home_max);
    if (!l->max_msgs && !l->max_bytes)
        return 0;
    if (l->max_bytes && size > l->max_bytes)
        return lmq__seterr(LMQ_EOVERLIMIT,
                           "The message (%llu bytes) is larger than the "
                           "queue's LmqMaximumBytes (%llu).",
                           (unsigned long long)size,
                           (unsigned long long)l->max_bytes);
    for (;;) {
        bool over_n = l->max_msgs && q_held(r) >= l->max_msgs;
        bool over_b = l->max_bytes && r->stored_bytes + size > l->max_bytes;
        if (!over_n && !over_b)
            return 0;
        if (!l->drop)
            return over_n ? lmq__seterr(LMQ_EOVERLIMIT,
                                        "The queue holds its "
                                        "LmqMaximumMessages (%llu) messages; "
                                        "LmqOverLimitPolicy is refuse.",
                                        (unsigned long long)l->max_msgs)
                          : lmq__seterr(LMQ_EOVERLIMIT,
                                        "The queue holds %llu of its "
                                        "LmqMaximumBytes (%llu) bytes, no "
                                        "room for %llu more; "
                                        "LmqOverLimitPolicy is refuse.",
                                        (unsigned long long)r->stored_bytes,
                                        (unsigned long long)l->max_bytes,
                                        (unsigned long long)size);
        int rc = drop_oldest(t, r);
        if (rc == LMQ__NOTFOUND)
            return 0;
        if (rc)
            return rc;
    }
}

struct send_ctx {
    lmq_queue *q;
    lmq_prep *p;
    size_t n;
    uint32_t made_visible;
    uint32_t delayed; /* standard messages sent with a delay */
};

static int
send_fn(lmq_txn *t, void *arg)
{
    struct send_ctx *c = arg;
    lmq_qrec r;
    int64_t now = lmq__now(c->q->env);
    int rc = lmq__q_load(t, c->q->qid, false, &r);
    if (rc)
        return rc;
    if ((rc = lmq__q_settle(t, &r, now)) != 0 ||
        (rc = lmq__metrics_tick(t, &r, now)) != 0)
        return rc;
    c->made_visible = 0;
    c->delayed = 0;
    struct qlimits lim;
    if ((rc = q_limits(t, c->q->env, &r, &lim)) != 0)
        goto out;
    for (size_t i = 0; i < c->n; i++) {
        lmq_prep *p = &c->p[i];
        if (p->err)
            continue;
        /* Before the limits: an entry refused for its size drops nothing. */
        if (p->size > r.max_size) {
            lmq__seterr(LMQ_EINVAL,
                        "One or more parameters are invalid. Reason: "
                        "Message must be shorter than %u bytes.",
                        r.max_size);
            if (c->n == 1 && !p->e->id) {
                rc = LMQ_EINVAL;
                goto out;
            }
            entry_fail(p, LMQ_EINVAL);
            continue;
        }
        /* What the message will add to stored_bytes (lmq__msg_insert). */
        if ((rc = limit_room(t, &r, &lim,
                             lmq__mview_stored_size(&p->mv,
                                                    r.seal_kind != 0))) != 0) {
            if (rc != LMQ_EOVERLIMIT || (c->n == 1 && !p->e->id))
                goto out;
            entry_fail(p, rc);
            continue;
        }
        if (r.fifo) {
            rc = lmq__fifo_enqueue(t, c->q, &r, p, now);
            if (rc < 0)
                goto out;
            /* NumberOfMessagesSent counts messages added to the queue: a
             * deduplicated send adds none. */
            if (rc == 0 && !p->res->duplicate) {
                r.m_sent++;
                r.m_sent_bytes += p->size;
            }
            if (rc == 0 && r.delay == 0 && !p->res->duplicate)
                c->made_visible++;
            else if (rc == 0 && !p->res->duplicate)
                c->delayed++;
            continue;
        }
        int delay = p->e->delay_seconds >= 0 ? p->e->delay_seconds
                                             : (int)r.delay;
        lmq_mhdr h = {0};
        h.enqueue_ms = now;
        h.visible_at = now + (int64_t)delay * 1000;
        h.state = delay > 0 ? LMQ_MS_DELAYED : LMQ_MS_VISIBLE;
        if ((rc = lmq__msg_insert(t, c->q->env, &r, &p->mv, &h, NULL)) != 0)
            goto out;
        r.m_sent++;
        r.m_sent_bytes += p->size;
        if (delay == 0)
            c->made_visible++;
        else
            c->delayed++;
    }
    rc = lmq__q_save(t, &r);
out:
    lmq__qrec_free(&r); /* the maps, when the limits decoded them */
    return rc;
}

static int
send_many(lmq_queue *q, const lmq_send_entry *entries, size_t n,
          lmq_send_result *res, bool batch)
{
    int rc = lmq__queue_check(q);
    if (rc)
        return rc;
    if (!entries)
        return lmq__seterr(LMQ_EINVAL, "entries is NULL");
    if (batch) {
        const char *ids[LMQ_MAX_BATCH];
        if (n > LMQ_MAX_BATCH)
            return lmq__seterr(LMQ_EBATCHTOOMANY,
                               "Maximum number of entries per request are "
                               "10. You have sent %zu.",
                               n);
        for (size_t i = 0; i < n; i++)
            ids[i] = entries[i].id;
        if ((rc = lmq__valid_batch_ids(ids, n)) != 0)
            return rc;
        if (!res)
            return lmq__seterr(LMQ_EINVAL, "res is NULL");
    }
    lmq_send_result scratch[1];
    if (!res) {
        res = scratch;
    }
    lmq_prep p[LMQ_MAX_BATCH]; /* entries past n are never read */
    memset(p, 0, n * sizeof *p);
    memset(res, 0, n * sizeof *res);
    int64_t now = lmq__now(q->env);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        p[i].e = &entries[i];
        p[i].res = &res[i];
        if (entries[i].size < sizeof(size_t)) {
            rc = lmq__seterr(LMQ_EINVAL, "send entry not initialised: use "
                                         "lmq_send_entry_init()");
            goto out;
        }
        rc = prepare(q, &p[i], now);
        if (rc && !batch)
            goto out;
        if (rc)
            entry_fail(&p[i], rc);
        total += p[i].size;
    }
    if (batch && total > LMQ_MAX_BATCH_BYTES) {
        rc = lmq__seterr(LMQ_EBATCHTOOLONG,
                         "Batch requests cannot be longer than 1048576 bytes. "
                         "You have sent %zu bytes.",
                         total);
        goto out;
    }
    if (q->fifo && (rc = lmq__fifo_send_check(q, p, n, batch)) != 0)
        goto out;
    struct send_ctx c = {q, p, n, 0, 0};
    /* Each message twice: its record, and the tree pages it splits. */
    rc = lmq__store_write_need(q->env->store, send_fn, &c,
                               2 * (uint64_t)total);
    /* Only delayed messages: wake one waiter anyway, so that it learns the
     * new visible_at (see longpoll.c, "Timers nobody else knows about"). */
    if (rc == 0 && (c.made_visible || c.delayed))
        lmq__wake(q->env, q->qid, c.made_visible ? c.made_visible : 1);
    if (rc == 0 && !batch && p[0].err)
        rc = p[0].err;
out:
    for (size_t i = 0; i < n; i++)
        free(p[i].attrs_buf);
    return rc;
}

LMQ_API int
lmq_send(lmq_queue *q, const lmq_send_entry *e, lmq_send_result *res)
{
    return send_many(q, e, 1, res, false);
}

LMQ_API int
lmq_send_batch(lmq_queue *q, const lmq_send_entry *entries, size_t n,
               lmq_send_result *res)
{
    if (n == 0)
        return lmq__seterr(LMQ_EBATCHEMPTY, "There should be at least one "
                                            "SendMessageBatchRequestEntry in "
                                            "the request.");
    return send_many(q, entries, n, res, true);
}

/* ---- receive ------------------------------------------------------------------ */

struct recv_ctx {
    lmq_queue *q;
    const lmq_recv_opts *o;
    int vt;
    lmq_msg **msgs;
    size_t max;
    size_t n;
    int64_t next_at; /* earliest future visible_at seen, 0 if none */
    uint32_t wait_default;
    int empty;       /* LMQ__EMPTY_*: whether finding nothing counts */
    int64_t wait_ms; /* the call's wait for LMQ__EMPTY_NOWAIT, or -1 */
};

/* Whether a receive attempt that found nothing is the end of its call
 * (NumberOfEmptyReceives counts calls, not attempts). */
static bool
empty_counts(const struct recv_ctx *c, const lmq_qrec *r)
{
    if (c->empty != LMQ__EMPTY_NOWAIT)
        return c->empty == LMQ__EMPTY_YES;
    int64_t w = c->wait_ms >= 0              ? c->wait_ms
                : c->o->wait_seconds >= 0 ? (int64_t)c->o->wait_seconds
                                          : (int64_t)r->wait;
    return w <= 0;
}

static bool
seen(const uint64_t *s, size_t n, uint64_t seq)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == seq)
            return true;
    return false;
}

/* A receive candidate: from vis, or (front) an unindexed message found
 * from front_seq, whose header is the record's first header. */
struct cand {
    uint64_t seq;
    int64_t at;
    bool front;
    lmq_mhdr h;
};

/* Up to room vis entries visible at now from `from` on, skipping done ones;
 * sets c->next_at on reaching an entry that is not visible yet. */
static int
vis_cands(lmq_txn *t, struct recv_ctx *c, const lmq_qrec *r, int64_t now,
          const uint8_t *from, const uint64_t *done, size_t ndone,
          struct cand *out, size_t room, size_t *n)
{
    lmq_cur *cur;
    lmq_val key, val;
    int rc = lmq__cur_open(t, LMQ_DB_VIS, &cur);
    if (rc)
        return rc;
    *n = 0;
    for (rc = lmq__cur_seek(cur, from, LMQ_VKEY_LEN, &key, &val);
         rc == 0 && *n < room; rc = lmq__cur_next(cur, &key, &val)) {
        const uint8_t *kp = key.data;
        if (key.len != LMQ_VKEY_LEN || lmq__get_u32(kp) != r->qid)
            break;
        int64_t at = (int64_t)lmq__get_u64(kp + 4);
        if (at > now) {
            c->next_at = at;
            break;
        }
        uint64_t seq = lmq__get_u64(kp + 12);
        if (!seen(done, ndone, seq))
            out[(*n)++] = (struct cand){seq, at, false, {0}};
    }
    lmq__cur_close(cur);
    return rc < 0 ? rc : 0;
}

/* Up to room unindexed messages from seq pos on, in send order. *skip_to:
 * the first one found, or past the last message looked at when none was
 * (every message passed has a vis entry). */
static int
front_cands(lmq_txn *t, const lmq_qrec *r, uint64_t pos, struct cand *out,
            size_t room, size_t *n, uint64_t *skip_to)
{
    uint8_t k[LMQ_MKEY_LEN];
    lmq_cur *cur;
    lmq_val key, val;
    int rc = lmq__cur_open(t, LMQ_DB_MSG, &cur);
    if (rc)
        return rc;
    *n = 0;
    *skip_to = pos;
    lmq__mkey(k, r->qid, pos);
    for (rc = lmq__cur_seek(cur, k, sizeof k, &key, &val);
         rc == 0 && *n < room; rc = lmq__cur_next(cur, &key, &val)) {
        if (key.len != LMQ_MKEY_LEN || lmq__get_u32(key.data) != r->qid)
            break;
        uint64_t seq = lmq__get_u64((const uint8_t *)key.data + 4);
        lmq_mhdr h = {0}; /* a format 1 record has no header: indexed */
        rc = lmq__mrec_hdr(val.data, val.len, &h);
        if (rc < 0)
            break;
        if (rc == 0 && (h.flags & LMQ_MH_UNINDEXED)) {
            if (*n == 0)
                *skip_to = seq;
            out[(*n)++] = (struct cand){seq, h.visible_at, true, h};
        } else if (*n == 0) {
            *skip_to = seq + 1;
        }
    }
    lmq__cur_close(cur);
    return rc < 0 ? rc : 0;
}

/* Deep backlogs: the leaf pages of `msg` holding the next messages from the
 * front are made writable ahead, in a few calls, before the deletes copy
 * them and LMDB reuses them (store.c, "populate"): without it, a receive
 * + delete with 1M or 10M messages queued paid a page fault per leaf page
 * it consumed. The queue handle remembers how far it got, so each message
 * is walked over once; a walk goes POP_AHEAD messages ahead, and the next
 * starts when the front comes within half of that. */
#define POP_AHEAD 256u

static void
populate_ahead(lmq_txn *t, lmq_queue *q, const lmq_qrec *r, uint64_t front)
{
    uint8_t k[LMQ_MKEY_LEN];
    const void *pages[POP_AHEAD];
    size_t np = 0;
    uintptr_t last = 0;
    lmq_cur *cur;
    lmq_val key, val;
    uint64_t seq = q->pop_seq > front ? q->pop_seq : front, next = seq;
    /* (nothing sent at or after seq: an empty queue walks nothing) */
    if (!lmq__txn_populates(t) || q->pop_seq >= front + POP_AHEAD / 2 ||
        seq > r->next_seq || lmq__cur_open(t, LMQ_DB_MSG, &cur) != 0)
        return;
    lmq__mkey(k, r->qid, seq);
    int rc = lmq__cur_seek(cur, k, sizeof k, &key, &val);
    for (unsigned i = 0; rc == 0 && i < POP_AHEAD;
         i++, rc = lmq__cur_next(cur, &key, &val)) {
        if (key.len != LMQ_MKEY_LEN || lmq__get_u32(key.data) != r->qid)
            break;
        next = lmq__get_u64((const uint8_t *)key.data + 4) + 1;
        /* one address per 4 KiB block is enough: the store rounds down */
        if (np == 0 || ((uintptr_t)key.data ^ last) >> 12)
            pages[np++] = key.data;
        last = (uintptr_t)key.data;
    }
    lmq__cur_close(cur);
    q->pop_seq = next;
    lmq__txn_populate(t, pages, np);
}

/* Standard-queue receive inside the transaction. */
static int
receive_std(lmq_txn *t, struct recv_ctx *c, lmq_qrec *r, int64_t now)
{
    /* Candidates already handled (delivered, expired or dead-lettered):
     * room for every message asked for plus rounds of skipped ones. */
    uint64_t done[LMQ__RECV_BULK + 2 * LMQ_MAX_BATCH + 8];
    size_t ndone = 0;
    uint8_t from[LMQ_VKEY_LEN];
    uint64_t fpos = r->front_seq;
    lmq__vkey(from, r->qid, 0, 0);
    int rc = 0;
    /* Rounds: collect candidates with the cursors, then act on them with
     * the cursors closed (acting rewrites the index). Expired and
     * dead-lettered candidates do not count, so another round runs. */
    while (c->n < c->max && ndone < sizeof done / sizeof done[0] - LMQ_MAX_BATCH) {
        struct cand vc[LMQ_MAX_BATCH], fc[LMQ_MAX_BATCH], pick[LMQ_MAX_BATCH];
        size_t nv, nf, np = 0, i = 0, j = 0;
        uint64_t skip_to;
        size_t room = c->max - c->n < LMQ_MAX_BATCH ? c->max - c->n
                                                    : LMQ_MAX_BATCH;
        if ((rc = vis_cands(t, c, r, now, from, done, ndone, vc, room,
                            &nv)) != 0 ||
            (rc = front_cands(t, r, fpos, fc, room, &nf, &skip_to)) != 0)
            return rc;
        if (nv == 0 && nf == 0) {
            fpos = skip_to;
            break;
        }
        /* Oldest visible first, as one index would give them. */
        while (np < room && (i < nv || j < nf)) {
            bool front = j < nf && (i == nv || fc[j].at < vc[i].at ||
                                    (fc[j].at == vc[i].at &&
                                     fc[j].seq < vc[i].seq));
            pick[np++] = front ? fc[j++] : vc[i++];
        }
        if (i > 0)
            lmq__vkey(from, r->qid, vc[i - 1].at, vc[i - 1].seq);
        fpos = j > 0 ? fc[j - 1].seq + 1 : skip_to;
        for (size_t x = 0; x < np; x++) {
            uint64_t seq = pick[x].seq;
            lmq_mhdr h = pick[x].h;
            done[ndone++] = seq;
            if (!pick[x].front &&
                (rc = lmq__msg_hdr(t, r->qid, seq, &h)) != 0)
                return rc == LMQ__NOTFOUND
                           ? lmq__seterr(LMQ_ECORRUPT, "header missing")
                           : rc;
            if (lmq__msg_expired(r, &h, now)) {
                if ((rc = lmq__msg_remove(t, r, seq, &h, LMQ_RM_EXPIRE)) != 0)
                    return rc;
                continue;
            }
            rc = lmq__dlq_on_receive(t, c->q, r, seq, &h, now);
            if (rc < 0)
                return rc;
            if (rc == 1)
                continue; /* moved to the dead-letter queue */
            rc = lmq__msg_deliver(t, c->q, r, seq, &h, now, c->vt,
                                  c->o->attribute_names, &c->msgs[c->n]);
            if (rc)
                return rc;
            c->n++;
        }
    }
    if (fpos > r->front_seq)
        r->front_seq = fpos;
    populate_ahead(t, c->q, r, r->front_seq);
    return 0;
}

static int
recv_fn(lmq_txn *t, void *arg)
{
    struct recv_ctx *c = arg;
    lmq_qrec r;
    /* A unit of work may run again (map growth, a group-commit batch run
     * again): drop what an earlier run delivered. */
    for (size_t i = 0; i < c->n; i++)
        lmq_msg_free(c->msgs[i]);
    c->n = 0;
    int64_t now = lmq__now(c->q->env);
    int rc = lmq__q_load(t, c->q->qid, false, &r);
    if (rc)
        return rc;
    c->wait_default = r.wait;
    if ((rc = lmq__q_settle(t, &r, now)) != 0 ||
        (rc = lmq__metrics_tick(t, &r, now)) != 0)
        return rc;
    if ((rc = lmq__q_sweep(t, &r, now, SWEEP_PER_CALL)) < 0)
        return rc;
    int vt = c->o->visibility_timeout >= 0 ? c->o->visibility_timeout
                                           : (int)r.visibility_timeout;
    c->vt = vt;
    c->next_at = 0;
    if (r.fifo)
        rc = lmq__fifo_receive(t, c->q, &r, c->o, vt, now, c->msgs, c->max,
                               &c->n, &c->next_at);
    else
        rc = receive_std(t, c, &r, now);
    if (rc == 0) {
        r.m_received += c->n;
        if (c->n == 0 && empty_counts(c, &r))
            r.m_empty++;
        rc = lmq__q_save(t, &r);
    }
    if (rc) {
        for (size_t i = 0; i < c->n; i++)
            lmq_msg_free(c->msgs[i]);
        c->n = 0;
    }
    return rc;
}

/* One receive attempt; the long-poll loop lives in longpoll.c. */
int
lmq__receive_once(lmq_queue *q, const lmq_recv_opts *o, lmq_msg **msgs,
                  size_t max, size_t *n, int64_t *next_at, uint32_t *wait_def,
                  int empty, int64_t wait_ms)
{
    struct recv_ctx c = {q, o, 0, msgs, max, 0, 0, 0, empty, wait_ms};
    int rc = lmq__store_write_soft(q->env->store, recv_fn, &c);
    if (rc) {
        /* recv_fn succeeded but the commit (or the log's write) failed:
         * the messages it made were never received (issue 27, found by
         * tests/check_iofail under LeakSanitizer). */
        for (size_t i = 0; i < c.n; i++)
            lmq_msg_free(msgs[i]);
        c.n = 0;
    }
    *n = rc ? 0 : c.n;
    if (next_at)
        *next_at = c.next_at;
    if (wait_def)
        *wait_def = c.wait_default;
    return rc;
}

int
lmq__recv_validate(const lmq_recv_opts *o, size_t max)
{
    if (o->size < sizeof(size_t))
        return lmq__seterr(LMQ_EINVAL, "receive options not initialised: use "
                                       "lmq_recv_opts_init()");
    if (o->max_messages < 1 || o->max_messages > LMQ_MAX_BATCH)
        return lmq__seterr(LMQ_EINVAL,
                           "Value %d for parameter MaxNumberOfMessages is "
                           "invalid. Reason: Must be between 1 and 10, if "
                           "provided.",
                           o->max_messages);
    if ((size_t)o->max_messages > max)
        return lmq__seterr(LMQ_EINVAL, "max_messages (%d) exceeds the output "
                                       "array size (%zu)",
                           o->max_messages, max);
    if (o->visibility_timeout < -1 ||
        o->visibility_timeout > LMQ_MAX_VISIBILITY)
        return lmq__seterr(LMQ_EINVAL,
                           "Value %d for parameter VisibilityTimeout is "
                           "invalid. Reason: Must be >= 0 and <= 43200, if "
                           "provided.",
                           o->visibility_timeout);
    if (o->wait_seconds < -1 || o->wait_seconds > LMQ_MAX_WAIT)
        return lmq__seterr(LMQ_EINVAL,
                           "Value %d for parameter WaitTimeSeconds is "
                           "invalid. Reason: Must be >= 0 and <= 20, if "
                           "provided.",
                           o->wait_seconds);
    if (o->attempt_id &&
        lmq__valid_msg_ident("ReceiveRequestAttemptId", o->attempt_id))
        return LMQ_EINVAL;
    return 0;
}

/* ---- delete and change visibility ------------------------------------------------ */

struct handle_ctx {
    lmq_queue *q;
    const lmq_handle_entry *e;
    size_t n;
    lmq_batch_result *res;
    bool change; /* change visibility instead of delete */
    bool batch;
    uint32_t made_visible;
};

/* One delete or visibility change. Returns 0 (res->applied says whether it
 * took effect) or a per-entry error. */
static int
handle_one(lmq_txn *t, struct handle_ctx *c, lmq_qrec *r,
           const lmq_handle_entry *e, lmq_batch_result *res, int64_t now)
{
    uint32_t qid, gen;
    uint64_t seq;
    lmq_mhdr h;
    int rc = lmq__receipt_parse(c->q->env, e->receipt, &qid, &seq, &gen);
    if (rc)
        return rc;
    if (qid != r->qid)
        return lmq__seterr(LMQ_ERECEIPT,
                           "The input receipt handle \"%.200s\" is not a "
                           "valid receipt handle.",
                           e->receipt);
    if (c->change && (e->timeout_seconds < 0 ||
                      e->timeout_seconds > LMQ_MAX_VISIBILITY))
        return lmq__seterr(LMQ_EINVAL,
                           "Value %d for parameter VisibilityTimeout is "
                           "invalid. Reason: Must be >= 0 and <= 43200.",
                           e->timeout_seconds);
    rc = lmq__msg_hdr(t, r->qid, seq, &h);
    if (rc < 0)
        return rc;
    bool gone = rc == LMQ__NOTFOUND || gen > h.recv_count;
    if (!gone && lmq__msg_expired(r, &h, now)) {
        if ((rc = lmq__msg_remove(t, r, seq, &h, LMQ_RM_EXPIRE)) != 0)
            return rc;
        gone = true;
    }
    if (gone) {
        if (c->change)
            return lmq__seterr(LMQ_EINVAL,
                               "Value %.200s for parameter ReceiptHandle is "
                               "invalid. Reason: Message does not exist or is "
                               "not available for visibility timeout change.",
                               e->receipt);
        return 0; /* deleting a deleted message succeeds */
    }
    bool inflight = h.visible_at > now &&
                    lmq__q_state(r, h.visible_at, h.state) == LMQ_MS_INFLIGHT;
    bool latest = gen == h.recv_count;
    if (r->fifo && (!latest || !inflight))
        return lmq__seterr(LMQ_EEXPIRED,
                           "Value %.200s for parameter ReceiptHandle is "
                           "invalid. Reason: The receipt handle has expired.",
                           e->receipt);
    if (!latest)
        return 0; /* redelivered since: never touch the new delivery */
    if (!c->change) {
        if ((rc = lmq__msg_remove(t, r, seq, &h, LMQ_RM_DELETE)) != 0)
            return rc;
        if (r->fifo && (rc = lmq__fifo_on_release(t, r, seq, &h, now)) < 0)
            return rc;
        if (rc > 0)
            c->made_visible++; /* the delete unblocked a FIFO group */
        res->applied = 1;
        return 0;
    }
    if (!inflight)
        return 0; /* expired and not received again: SQS ignores it */
    int64_t at = now + (int64_t)e->timeout_seconds * 1000;
    if (at - h.recv_start_ms > (int64_t)LMQ_MAX_VISIBILITY * 1000)
        return lmq__seterr(LMQ_EINVAL,
                           "Value %d for parameter VisibilityTimeout is "
                           "invalid. Reason: Total VisibilityTimeout for the "
                           "message is beyond the limit [43200 seconds]",
                           e->timeout_seconds);
    rc = lmq__msg_revisit(t, r, seq, &h, at,
                          e->timeout_seconds > 0 ? LMQ_MS_INFLIGHT
                                                 : LMQ_MS_VISIBLE);
    if (rc)
        return rc;
    if (e->timeout_seconds == 0) {
        c->made_visible++;
        if (r->fifo && (rc = lmq__fifo_on_release(t, r, seq, &h, now)) < 0)
            return rc;
    }
    res->applied = 1;
    return 0;
}

static bool
fatal_err(int rc)
{
    return rc == LMQ_ENOMEM || rc == LMQ_EIO || rc == LMQ_ENOSPC ||
           rc == LMQ_ECORRUPT;
}

static int
handle_fn(lmq_txn *t, void *arg)
{
    struct handle_ctx *c = arg;
    lmq_qrec r;
    int64_t now = lmq__now(c->q->env);
    int rc = lmq__q_load(t, c->q->qid, false, &r);
    if (rc)
        return rc;
    if ((rc = lmq__q_settle(t, &r, now)) != 0 ||
        (rc = lmq__metrics_tick(t, &r, now)) != 0)
        return rc;
    c->made_visible = 0;
    for (size_t i = 0; i < c->n; i++) {
        memset(&c->res[i], 0, sizeof c->res[i]);
        rc = handle_one(t, c, &r, &c->e[i], &c->res[i], now);
        if (rc && (fatal_err(rc) || !c->batch))
            return rc;
        if (rc) {
            c->res[i].err = rc;
            snprintf(c->res[i].errmsg, sizeof c->res[i].errmsg, "%s",
                     lmq_errmsg());
        }
    }
    return lmq__q_save(t, &r);
}

/* One transaction for all n entries; wakes waiters for what it made
 * visible. */
static int
run_handles(lmq_queue *q, const lmq_handle_entry *e, size_t n,
            lmq_batch_result *res, bool change, bool batch)
{
    struct handle_ctx c = {q, e, n, res, change, batch, 0};
    /* deletes are synced in full; visibility changes need not be */
    int rc = change ? lmq__store_write_soft(q->env->store, handle_fn, &c)
                    : lmq__store_write_free(q->env->store, handle_fn, &c);
    if (rc == 0 && c.made_visible)
        lmq__wake(q->env, q->qid, c.made_visible);
    return rc;
}

static int
handles(lmq_queue *q, const lmq_handle_entry *e, size_t n,
        lmq_batch_result *res, bool change, bool batch)
{
    int rc = lmq__queue_check(q);
    if (rc)
        return rc;
    if (!e || !res)
        return lmq__seterr(LMQ_EINVAL, "entries and results are required");
    if (batch) {
        const char *ids[LMQ_MAX_BATCH];
        if (n == 0)
            return lmq__seterr(LMQ_EBATCHEMPTY, "There should be at least "
                                                "one entry in the request.");
        if (n > LMQ_MAX_BATCH)
            return lmq__seterr(LMQ_EBATCHTOOMANY,
                               "Maximum number of entries per request are "
                               "10. You have sent %zu.",
                               n);
        for (size_t i = 0; i < n; i++)
            ids[i] = e[i].id;
        if ((rc = lmq__valid_batch_ids(ids, n)) != 0)
            return rc;
    }
    return run_handles(q, e, n, res, change, batch);
}

int
lmq__handles_many(lmq_queue *q, const lmq_handle_entry *e, size_t n,
                  lmq_batch_result *res, bool change)
{
    int rc = lmq__queue_check(q);
    if (rc)
        return rc;
    if (!e || !res)
        return lmq__seterr(LMQ_EINVAL, "entries and results are required");
    return n ? run_handles(q, e, n, res, change, true) : 0;
}

LMQ_API int
lmq_delete(lmq_queue *q, const char *receipt, int *deleted)
{
    lmq_handle_entry e = {NULL, receipt, 0};
    lmq_batch_result res = {0};
    int rc = handles(q, &e, 1, &res, false, false);
    if (deleted)
        *deleted = rc == 0 && res.applied;
    return rc;
}

LMQ_API int
lmq_change_visibility(lmq_queue *q, const char *receipt, int timeout_seconds,
                      int *changed)
{
    lmq_handle_entry e = {NULL, receipt, timeout_seconds};
    lmq_batch_result res = {0};
    int rc = handles(q, &e, 1, &res, true, false);
    if (changed)
        *changed = rc == 0 && res.applied;
    return rc;
}

LMQ_API int
lmq_delete_batch(lmq_queue *q, const lmq_handle_entry *entries, size_t n,
                 lmq_batch_result *res)
{
    return handles(q, entries, n, res, false, true);
}

LMQ_API int
lmq_change_visibility_batch(lmq_queue *q, const lmq_handle_entry *entries,
                            size_t n, lmq_batch_result *res)
{
    return handles(q, entries, n, res, true, true);
}
