/*
 * queue_fifo.c: FIFO queues: message groups, ordering, deduplication,
 * sequence numbers and receive-request attempt ids.
 *
 * A FIFO message is an ordinary message (msg, hdr and vis entries, made by
 * the primitives of queue_std.c, so counters, retention and receipts work
 * as for standard queues) plus entries in four databases of its own. Every
 * key starts with the big-endian qid, so deleting a queue range-deletes
 * them all and purging drops everything but the dedup window.
 *
 * Groups (LMQ_DB_GROUPS). Group ids are 1-128 printable ASCII characters,
 * never NUL, so a NUL after the id ends it unambiguously:
 *
 *     (qid, group, 0x00)            -> state: ready_at u64, head seq u64
 *     (qid, group, 0x00, seq u64)   -> "" : one member per message, in
 *                                      send order (seq is per queue)
 *
 * The head of a group is its oldest existing message. SQS delivers a group
 * from its head and stops at the first message that is not visible (in
 * flight, or still delayed), so whether a group can deliver at all depends
 * on its head alone: the group is available from the moment its head is.
 *
 * Ready groups (LMQ_DB_GREADY): exactly one entry per non-empty group,
 *
 *     (qid, ready_at u64, head seq u64) -> group
 *
 * where ready_at is the time the group becomes (or became) available: the
 * head's visible_at, or, when the head changed because the old head was
 * deleted or dead-lettered, max(new head's visible_at, time of removal).
 * ready_at is therefore never earlier than the head's visible_at, and a
 * receive seeks (qid, 0, 0) and takes entries while ready_at <= now: only
 * available groups are visited, in the order they became available (the
 * recorded SQS behaviour, SQS-SEMANTICS 5.1), however many groups are
 * blocked behind in-flight messages. Blocked groups sort after now and cost
 * nothing; the first of them is the wake-up time a long poll sleeps until.
 *
 * The group index is kept by hooks in the message primitives of
 * queue_std.c (lmq__msg_insert / _remove / _revisit call
 * lmq__fifo_on_insert / _remove / _revisit for FIFO queues), not by the
 * callers: sends, receives, deletes, visibility changes, retention sweeps and
 * dead-letter moves into and out of FIFO queues all keep it exact without
 * knowing about it. A revisit of a non-head message, or the removal of one,
 * changes nothing but its member entry. Rejected: a scan of the vis index
 * skipping blocked groups (cost grows with the backlog behind in-flight
 * messages, which is exactly the FIFO failure mode), and in-flight counters
 * per group (in-flight messages return to visible by the passing of time,
 * with no write to decrement anything).
 *
 * Deduplication (LMQ_DB_DEDUP), the model of SQS-SEMANTICS 5.2, a record
 * (dedup id, group, scope at send, expiry):
 *
 *     (qid, 0x01, id, 0x00)          -> record of a send under scope queue
 *     (qid, 0x01, id, 0x00, group)   -> record of a send under messageGroup
 *     (qid, 0x00, expiry u64, id, 0x00[, group]) -> "" (expiry index)
 *
 * A send is a duplicate when a live record (expiry > now) exists at its
 * group's key or at the queue-scope key: records made under scope queue
 * block every group even after switching to messageGroup, and records made
 * under messageGroup block only their group after switching back, as
 * recorded on AWS. A duplicate is accepted, enqueues nothing, and returns
 * the original MessageId and SequenceNumber (even after the original was
 * deleted). The record lives 5 minutes from the accepted send; duplicates
 * do not extend it. The expiry index lets each write sweep a bounded number
 * of expired records (DEDUP_SWEEP), so the window costs O(sends in the last
 * 5 minutes) of space; an expired record still present is ignored and
 * replaced. Purge keeps this database (SQS deduplicates against deleted
 * messages, and a purge deletes); queue deletion drops it.
 *
 * Attempts (LMQ_DB_ATTEMPT): a receive with a ReceiveRequestAttemptId that
 * delivered something records (qid, 0x01, attempt id) -> expiry and the
 * (seq, delivery number) of each message, with an expiry index like the
 * dedup one. A retry within 5 minutes returns those messages that are still
 * in flight under that same delivery, with the same receipt handles, and
 * resets their visibility to the retry's timeout; messages deleted, made
 * visible or delivered again since are left out (AWS leaves this [U]). An
 * empty receive records nothing, so a long poll retried with its attempt id
 * simply receives afresh.
 *
 * Sequence numbers are the per-queue message seq printed %020llu: strictly
 * increasing per queue, not consecutive (dedup hits consume none).
 *
 * Queue delay: a DelaySeconds change applies to queued FIFO messages (SQS
 * docs); SetQueueAttributes calls lmq__fifo_on_delay_change, which re-times
 * the never-received messages sent within the longer of the two delays.
 *
 * Wake-ups: a delete that makes a locked group deliverable is reported by
 * lmq__fifo_on_release, so queue_std.c wakes a long-polling receiver. The
 * fact is noted by lmq__fifo_on_remove (which still sees the message's
 * group) in a thread-local keyed by (qid, seq): both run in the same unit
 * of work, on whichever thread runs it.
 */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Expired dedup / attempt records removed per write: more than one per send
 * so the sweep always outruns the rate of new records, and small so no
 * send pays for a long idle period at once. */
#define DEDUP_SWEEP 8

/* The attempt-id window, the same 5 minutes as deduplication (SQS docs). */
#define ATTEMPT_WINDOW_MS LMQ_DEDUP_WINDOW_MS

/* Groups visited by one receive before it returns what it has: bounds the
 * work when many groups hold only expired or dead-lettered messages. */
#define MAX_GROUPS_PER_RECEIVE 256

#define MAX_ID 128
#define GKEY_MAX (4 + MAX_ID + 1 + 8)
#define RKEY_LEN 20 /* qid, ready_at, head seq */
#define DREC_LEN (1 + 1 + 8 + 8 + 36)
#define DREC_VERSION 1
#define AREC_VERSION 1

enum { NS_EXPIRY = 0, NS_RECORD = 1 };
enum { SCOPE_QUEUE = 0, SCOPE_GROUP = 1 };

/* ---- group keys ---------------------------------------------------------- */

/* (qid, group, 0x00) and, with seq, the member key. Returns the length. */
static size_t
gkey(uint8_t *k, uint32_t qid, const char *g, size_t gl, bool member,
     uint64_t seq)
{
    lmq__put_u32(k, qid);
    memcpy(k + 4, g, gl);
    k[4 + gl] = 0;
    if (!member)
        return 4 + gl + 1;
    lmq__put_u64(k + 4 + gl + 1, seq);
    return 4 + gl + 1 + 8;
}

static void
rkey(uint8_t k[RKEY_LEN], uint32_t qid, int64_t at, uint64_t head)
{
    lmq__vkey(k, qid, at, head); /* same shape as the vis key */
}

typedef struct gstate {
    int64_t ready_at;
    uint64_t head;
} gstate;

static int
gstate_get(lmq_txn *t, uint32_t qid, const char *g, size_t gl, gstate *s)
{
    uint8_t k[GKEY_MAX];
    lmq_val v;
    int rc =
        lmq__txn_get(t, LMQ_DB_GROUPS, k, gkey(k, qid, g, gl, false, 0), &v);
    if (rc)
        return rc;
    if (v.len != 16)
        return lmq__seterr(LMQ_ECORRUPT, "FIFO group state: bad size");
    s->ready_at = (int64_t)lmq__get_u64(v.data);
    s->head = lmq__get_u64((const uint8_t *)v.data + 8);
    return 0;
}

/* Point the group's state and its ready entry at (ready_at, head); old is
 * the current state, or NULL when the group had none. */
static int
gstate_set(lmq_txn *t, uint32_t qid, const char *g, size_t gl,
           const gstate *old, int64_t ready_at, uint64_t head)
{
    uint8_t k[GKEY_MAX], rk[RKEY_LEN], v[16];
    int rc;
    if (old) {
        if (old->ready_at == ready_at && old->head == head)
            return 0;
        rkey(rk, qid, old->ready_at, old->head);
        if ((rc = lmq__txn_del(t, LMQ_DB_GREADY, rk, sizeof rk)) < 0)
            return rc;
    }
    rkey(rk, qid, ready_at, head);
    if ((rc = lmq__txn_put(t, LMQ_DB_GREADY, rk, sizeof rk, g, gl)) != 0)
        return rc;
    lmq__put_u64(v, (uint64_t)ready_at);
    lmq__put_u64(v + 8, head);
    return lmq__txn_put(t, LMQ_DB_GROUPS, k, gkey(k, qid, g, gl, false, 0), v,
                        sizeof v);
}

/* The group's first member after `after` (0: its head); LMQ__NOTFOUND when
 * there is none. */
static int
member_next(lmq_txn *t, uint32_t qid, const char *g, size_t gl, uint64_t after,
            uint64_t *seq)
{
    uint8_t k[GKEY_MAX];
    lmq_cur *c;
    lmq_val key, val;
    size_t kl = gkey(k, qid, g, gl, true, after + 1);
    int rc = lmq__cur_open(t, LMQ_DB_GROUPS, &c);
    if (rc)
        return rc;
    rc = lmq__cur_seek(c, k, kl, &key, &val);
    if (rc == 0 && (key.len != kl || memcmp(key.data, k, kl - 8) != 0))
        rc = LMQ__NOTFOUND;
    if (rc == 0)
        *seq = lmq__get_u64((const uint8_t *)key.data + kl - 8);
    lmq__cur_close(c);
    return rc;
}

/*
 * The head of the group changed (its old head is gone): find the new head
 * and re-key the group, or drop the group when it is empty. floor is the
 * time of the change; the group cannot have become available before it.
 */
static int
group_rehead(lmq_txn *t, uint32_t qid, const char *g, size_t gl,
             const gstate *old, int64_t floor)
{
    uint8_t k[GKEY_MAX], rk[RKEY_LEN];
    uint64_t seq;
    lmq_mhdr h;
    int rc = member_next(t, qid, g, gl, 0, &seq);
    if (rc < 0)
        return rc;
    if (rc == LMQ__NOTFOUND) {
        rkey(rk, qid, old->ready_at, old->head);
        if ((rc = lmq__txn_del(t, LMQ_DB_GREADY, rk, sizeof rk)) < 0 ||
            (rc = lmq__txn_del(t, LMQ_DB_GROUPS, k,
                               gkey(k, qid, g, gl, false, 0))) < 0)
            return rc;
        return 0;
    }
    if ((rc = lmq__msg_hdr(t, qid, seq, &h)) != 0)
        return rc == LMQ__NOTFOUND
                   ? lmq__seterr(LMQ_ECORRUPT, "FIFO member without message")
                   : rc;
    int64_t at = h.visible_at > floor ? h.visible_at : floor;
    return gstate_set(t, qid, g, gl, old, at, seq);
}

/* ---- hooks called by the message primitives ------------------------------ */

/* What the last head removal in this thread released, for
 * lmq__fifo_on_release (which runs after the message record is gone). */
static _Thread_local struct {
    uint32_t qid;
    uint64_t seq;
    bool ready;
} released;

int
lmq__fifo_on_insert(lmq_txn *t, lmq_qrec *r, uint64_t seq, const lmq_mview *mv,
                    const lmq_mhdr *h)
{
    uint8_t k[GKEY_MAX];
    gstate s;
    if (!mv->group || mv->group_len == 0 || mv->group_len > MAX_ID)
        return lmq__seterr(LMQ_EINVAL, "A FIFO message needs a "
                                       "MessageGroupId.");
    int rc = lmq__txn_put(t, LMQ_DB_GROUPS, k,
                          gkey(k, r->qid, mv->group, mv->group_len, true, seq),
                          "", 0);
    if (rc)
        return rc;
    rc = gstate_get(t, r->qid, mv->group, mv->group_len, &s);
    if (rc == LMQ__NOTFOUND) /* seqs grow: only a new group's head is new */
        return gstate_set(t, r->qid, mv->group, mv->group_len, NULL,
                          h->visible_at, seq);
    return rc;
}

int
lmq__fifo_on_remove(lmq_txn *t, lmq_qrec *r, uint64_t seq, const lmq_mhdr *h)
{
    uint8_t k[GKEY_MAX];
    lmq_mview mv;
    gstate s;
    (void)h;
    int rc = lmq__msg_view(t, r->qid, seq, &mv);
    if (rc)
        return rc;
    if (!mv.group)
        return 0;
    rc = lmq__txn_del(t, LMQ_DB_GROUPS, k,
                      gkey(k, r->qid, mv.group, mv.group_len, true, seq));
    if (rc < 0)
        return rc;
    if ((rc = gstate_get(t, r->qid, mv.group, mv.group_len, &s)) != 0)
        return rc == LMQ__NOTFOUND ? 0 : rc;
    if (s.head != seq)
        return 0;
    /* Removals happen after the caller settled the record to now. */
    rc = group_rehead(t, r->qid, mv.group, mv.group_len, &s, r->settled_ms);
    if (rc)
        return rc;
    released.qid = r->qid;
    released.seq = seq;
    released.ready = gstate_get(t, r->qid, mv.group, mv.group_len, &s) == 0 &&
                     s.ready_at <= r->settled_ms;
    return 0;
}

int
lmq__fifo_on_revisit(lmq_txn *t, lmq_qrec *r, uint64_t seq, const lmq_mhdr *h)
{
    lmq_mview mv;
    gstate s;
    int rc = lmq__msg_view(t, r->qid, seq, &mv);
    if (rc)
        return rc;
    if (!mv.group)
        return 0;
    if ((rc = gstate_get(t, r->qid, mv.group, mv.group_len, &s)) != 0)
        return rc == LMQ__NOTFOUND ? 0 : rc;
    if (s.head != seq)
        return 0; /* only the head decides when the group is available */
    return gstate_set(t, r->qid, mv.group, mv.group_len, &s, h->visible_at,
                      seq);
}

int
lmq__fifo_on_release(lmq_txn *t, lmq_qrec *r, uint64_t seq, const lmq_mhdr *h,
                     int64_t now)
{
    (void)t;
    (void)h;
    (void)now;
    /* The index was updated by the primitives; report whether a delete made
     * a blocked group deliverable, so the caller wakes a waiter. */
    if (released.qid == r->qid && released.seq == seq && released.ready) {
        released.ready = false;
        return 1;
    }
    return 0;
}

/* ---- expiring records (dedup and attempt ids) ---------------------------- */

/*
 * Both databases hold records (qid, NS_RECORD, tail) whose value starts with
 * a version byte and the expiry u64, and an expiry index
 * (qid, NS_EXPIRY, expiry u64, tail) -> "". A record is replaced only once
 * expired, by one with a later expiry, so (expiry, tail) is unique and an
 * index entry whose record now carries another expiry is simply dropped.
 */
#define TAIL_MAX (MAX_ID + 1 + MAX_ID)
#define XKEY_MAX (4 + 1 + 8 + TAIL_MAX)

static size_t
rec_key(uint8_t *k, uint32_t qid, const void *tail, size_t tl)
{
    lmq__put_u32(k, qid);
    k[4] = NS_RECORD;
    memcpy(k + 5, tail, tl);
    return 5 + tl;
}

static size_t
exp_key(uint8_t *k, uint32_t qid, int64_t expiry, const void *tail, size_t tl)
{
    lmq__put_u32(k, qid);
    k[4] = NS_EXPIRY;
    lmq__put_u64(k + 5, (uint64_t)expiry);
    memcpy(k + 13, tail, tl);
    return 13 + tl;
}

/* The live record at tail (expiry > now): 0, or LMQ__NOTFOUND. */
static int
rec_get(lmq_txn *t, int db, uint32_t qid, const void *tail, size_t tl,
        int64_t now, lmq_val *v)
{
    uint8_t k[5 + TAIL_MAX];
    int rc = lmq__txn_get(t, db, k, rec_key(k, qid, tail, tl), v);
    if (rc)
        return rc;
    if (v->len < 9)
        return lmq__seterr(LMQ_ECORRUPT, "FIFO record: bad size");
    if ((int64_t)lmq__get_u64((const uint8_t *)v->data + 1) <= now)
        return LMQ__NOTFOUND;
    return 0;
}

/* Store a record (value starts with version and expiry) and index it,
 * dropping the index entry of the expired record it replaces. */
static int
rec_put(lmq_txn *t, int db, uint32_t qid, const void *tail, size_t tl,
        const uint8_t *val, size_t vl)
{
    uint8_t k[5 + TAIL_MAX], xk[XKEY_MAX];
    size_t kl = rec_key(k, qid, tail, tl);
    lmq_val old;
    int rc = lmq__txn_get(t, db, k, kl, &old);
    if (rc < 0)
        return rc;
    if (rc == 0 && old.len >= 9) {
        int64_t oexp = (int64_t)lmq__get_u64((const uint8_t *)old.data + 1);
        rc = lmq__txn_del(t, db, xk, exp_key(xk, qid, oexp, tail, tl));
        if (rc < 0)
            return rc;
    }
    if ((rc = lmq__txn_put(t, db, k, kl, val, vl)) != 0)
        return rc;
    int64_t exp = (int64_t)lmq__get_u64(val + 1);
    return lmq__txn_put(t, db, xk, exp_key(xk, qid, exp, tail, tl), "", 0);
}

/* Delete up to DEDUP_SWEEP expired records of qid in db. Returns the number
 * of index entries dropped, or an error. */
static int
sweep(lmq_txn *t, int db, uint32_t qid, int64_t now)
{
    uint8_t from[13], keys[DEDUP_SWEEP][XKEY_MAX];
    size_t kls[DEDUP_SWEEP];
    lmq_cur *c;
    lmq_val key, val;
    int n = 0, rc;
    lmq__put_u32(from, qid);
    from[4] = NS_EXPIRY;
    lmq__put_u64(from + 5, 0);
    if ((rc = lmq__cur_open(t, db, &c)) != 0)
        return rc;
    for (rc = lmq__cur_seek(c, from, sizeof from, &key, &val);
         rc == 0 && n < DEDUP_SWEEP; rc = lmq__cur_next(c, &key, &val)) {
        const uint8_t *kp = key.data;
        if (key.len < 13 || lmq__get_u32(kp) != qid || kp[4] != NS_EXPIRY ||
            (int64_t)lmq__get_u64(kp + 5) > now)
            break;
        if (key.len > XKEY_MAX) {
            rc = lmq__seterr(LMQ_ECORRUPT, "FIFO expiry key: bad size");
            break;
        }
        memcpy(keys[n], kp, key.len);
        kls[n++] = key.len;
    }
    lmq__cur_close(c);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++) {
        uint8_t k[5 + TAIL_MAX];
        size_t kl = rec_key(k, qid, keys[i] + 13, kls[i] - 13);
        lmq_val v;
        if ((rc = lmq__txn_del(t, db, keys[i], kls[i])) < 0)
            return rc;
        if ((rc = lmq__txn_get(t, db, k, kl, &v)) < 0)
            return rc;
        if (rc == 0 && v.len >= 9 &&
            memcmp((const uint8_t *)v.data + 1, keys[i] + 5, 8) == 0 &&
            (rc = lmq__txn_del(t, db, k, kl)) < 0)
            return rc;
    }
    return n;
}

/* ---- send ---------------------------------------------------------------- */

static void
entry_fail(lmq_prep *p, int err)
{
    p->err = err;
    if (p->res) {
        p->res->err = err;
        snprintf(p->res->errmsg, sizeof p->res->errmsg, "%s", lmq_errmsg());
    }
}

struct cbd_arg {
    const lmq_queue *q;
    bool cbd;
};

/* Read the queue's ContentBasedDeduplication (a cheap read transaction,
 * so the SHA-256 of large bodies is computed outside the writer lock). */
static int
cbd_read(lmq_txn *t, void *arg)
{
    struct cbd_arg *a = arg;
    lmq_qrec r;
    int rc = lmq__q_load(t, a->q->qid, false, &r);
    if (rc == 0)
        a->cbd = r.content_dedup;
    return rc;
}

static int
missing_dedup(void)
{
    return lmq__seterr(LMQ_EINVAL, "The queue should either have "
                                   "ContentBasedDeduplication enabled or "
                                   "MessageDeduplicationId provided "
                                   "explicitly");
}

int
lmq__fifo_send_check(const lmq_queue *q, lmq_prep *p, size_t n, bool batch)
{
    struct cbd_arg a = {q, false};
    int rc = lmq__store_read(q->env->store, cbd_read, &a);
    if (rc)
        return rc;
    /* Whole-request checks: a single send reports a missing group id as
     * MissingParameter, a batch fails as a whole with InvalidParameterValue
     * (both recorded on AWS, SQS-SEMANTICS 2.6 and 2.7). */
    for (size_t i = 0; i < n; i++) {
        const lmq_send_entry *e = p[i].e;
        if (!e->group_id)
            return lmq__seterr(batch ? LMQ_EINVAL : LMQ_EMISSING,
                               "The request must contain the parameter "
                               "MessageGroupId.");
        if (!e->dedup_id && !a.cbd)
            return missing_dedup();
    }
    /* Per-entry checks: a batch fails only the entry. */
    for (size_t i = 0; i < n; i++) {
        lmq_prep *pi = &p[i];
        const lmq_send_entry *e = pi->e;
        if (pi->err)
            continue;
        if (e->delay_seconds > 0)
            rc = lmq__seterr(LMQ_EINVAL,
                             "Value %d for parameter DelaySeconds is invalid. "
                             "Reason: The request include parameter that is "
                             "not valid for this queue type.",
                             e->delay_seconds);
        else if ((rc = lmq__valid_msg_ident("MessageGroupId", e->group_id)) ==
                     0 &&
                 e->dedup_id)
            rc = lmq__valid_msg_ident("MessageDeduplicationId", e->dedup_id);
        if (rc && !batch)
            return rc;
        if (rc) {
            entry_fail(pi, rc);
            continue;
        }
        if (e->dedup_id) {
            snprintf(pi->dedup, sizeof pi->dedup, "%s", e->dedup_id);
        } else {
            /* Content-based: SHA-256 of the body only, lowercase hex. */
            char hex[65];
            lmq__sha256_hex(pi->mv.body, pi->mv.body_len, hex);
            memcpy(pi->dedup, hex, sizeof hex);
        }
        pi->mv.dedup = pi->dedup;
        pi->mv.dedup_len = strlen(pi->dedup);
    }
    return 0;
}

/* Dedup record tails: "id\0" (scope queue) and "id\0group". */
static size_t
dedup_tail(uint8_t *tail, const char *id, size_t il, const char *g, size_t gl,
           bool group)
{
    memcpy(tail, id, il);
    tail[il] = 0;
    if (!group)
        return il + 1;
    memcpy(tail + il + 1, g, gl);
    return il + 1 + gl;
}

int
lmq__fifo_enqueue(lmq_txn *t, lmq_queue *q, lmq_qrec *r, lmq_prep *p,
                  int64_t now)
{
    uint8_t tail[TAIL_MAX], val[DREC_LEN];
    lmq_val v;
    lmq_send_result *res = p->res;
    const char *g = p->mv.group;
    size_t gl = p->mv.group_len, il = p->mv.dedup_len;
    uint64_t seq;
    int rc;
    if ((rc = sweep(t, LMQ_DB_DEDUP, r->qid, now)) < 0)
        return rc;
    /* ContentBasedDeduplication may have been turned off since the check
     * outside the transaction: fail the whole request as SQS would have. */
    if (!p->e->dedup_id && !r->content_dedup)
        return missing_dedup();
    if (!g || il == 0 || il > MAX_ID || gl > MAX_ID)
        return lmq__seterr(LMQ_EINVAL, "FIFO send entry not prepared");
    /* A sealed queue's index holds a keyed hash of the id (seal.c). */
    char did[129];
    if ((rc = lmq__seal_dedup_id(q->env, r, p->dedup, il, did)) != 0)
        return rc;
    il = strlen(did);

    /* A live record for this group, then one made under scope queue. */
    rc = rec_get(t, LMQ_DB_DEDUP, r->qid, tail,
                 dedup_tail(tail, did, il, g, gl, true), now, &v);
    if (rc == LMQ__NOTFOUND)
        rc = rec_get(t, LMQ_DB_DEDUP, r->qid, tail,
                     dedup_tail(tail, did, il, g, gl, false), now, &v);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        if (v.len != DREC_LEN)
            return lmq__seterr(LMQ_ECORRUPT, "dedup record: bad size");
        const uint8_t *d = v.data;
        if (res) {
            memcpy(res->message_id, d + 18, 36);
            res->message_id[36] = '\0';
            snprintf(res->sequence_number, sizeof res->sequence_number,
                     "%020llu", (unsigned long long)lmq__get_u64(d + 9));
            res->duplicate = 1;
        }
        return 0;
    }

    /* FIFO delay is the queue's (per-message DelaySeconds was rejected). */
    lmq_mhdr h = {0};
    h.enqueue_ms = now;
    h.visible_at = now + (int64_t)r->delay * 1000;
    h.state = r->delay > 0 ? LMQ_MS_DELAYED : LMQ_MS_VISIBLE;
    if ((rc = lmq__msg_insert(t, q->env, r, &p->mv, &h, &seq)) != 0)
        return rc;

    val[0] = DREC_VERSION;
    lmq__put_u64(val + 1, (uint64_t)(now + LMQ_DEDUP_WINDOW_MS));
    lmq__put_u64(val + 9, seq);
    val[17] = r->dedup_scope_group ? SCOPE_GROUP : SCOPE_QUEUE;
    memcpy(val + 18, p->mv.message_id, 36);
    size_t tl = dedup_tail(tail, did, il, g, gl, r->dedup_scope_group);
    if ((rc = rec_put(t, LMQ_DB_DEDUP, r->qid, tail, tl, val, sizeof val)))
        return rc;
    if (res)
        snprintf(res->sequence_number, sizeof res->sequence_number, "%020llu",
                 (unsigned long long)seq);
    return 0;
}

/* ---- receive ------------------------------------------------------------- */

struct fctx {
    lmq_txn *t;
    lmq_queue *q;
    lmq_qrec *r;
    const lmq_recv_opts *o;
    int vt;
    int64_t now;
    lmq_msg **msgs;
    size_t max;
    size_t *n;
    int64_t *next_at;
};

/* Deliver group g from its head while its messages are visible: the first
 * message in flight or still delayed blocks the rest of the group. */
static int
walk_group(struct fctx *c, const char *g, size_t gl)
{
    uint32_t qid = c->r->qid;
    uint64_t after = 0;
    bool head = true;
    while (*c->n < c->max) {
        uint64_t seq;
        lmq_mhdr h;
        int rc = member_next(c->t, qid, g, gl, after, &seq);
        if (rc)
            return rc == LMQ__NOTFOUND ? 0 : rc;
        after = seq;
        if ((rc = lmq__msg_hdr(c->t, qid, seq, &h)) != 0)
            return rc == LMQ__NOTFOUND
                       ? lmq__seterr(LMQ_ECORRUPT,
                                     "FIFO member without message")
                       : rc;
        if (lmq__msg_expired(c->r, &h, c->now)) {
            if ((rc = lmq__msg_remove(c->t, c->r, seq, &h,
                                       LMQ_RM_EXPIRE)) != 0)
                return rc;
            continue;
        }
        if (h.visible_at > c->now) {
            gstate s;
            /* The index said the group was ready but its head is not: it
             * cannot happen while every change goes through the hooks;
             * repair rather than revisit the group on every receive. */
            if (head && gstate_get(c->t, qid, g, gl, &s) == 0 &&
                s.head == seq && s.ready_at < h.visible_at)
                return gstate_set(c->t, qid, g, gl, &s, h.visible_at, seq);
            return 0;
        }
        /* Same contract as the standard receive: the DLQ hook sees every
         * visible, unexpired candidate; a moved head unblocks the next. */
        rc = lmq__dlq_on_receive(c->t, c->q, c->r, seq, &h, c->now);
        if (rc < 0)
            return rc;
        if (rc == 1)
            continue;
        rc = lmq__msg_deliver(c->t, c->q, c->r, seq, &h, c->now, c->vt,
                              c->o->attribute_names, &c->msgs[*c->n]);
        if (rc)
            return rc;
        (*c->n)++;
        head = false;
    }
    return 0;
}

/* Serve available groups in the order they became available. */
static int
receive_groups(struct fctx *c)
{
    uint8_t from[RKEY_LEN];
    uint32_t qid = c->r->qid;
    char(*seen)[MAX_ID + 1] = NULL;
    size_t nseen = 0;
    int rc = 0;
    rkey(from, qid, 0, 0);
    while (*c->n < c->max && nseen < MAX_GROUPS_PER_RECEIVE) {
        char g[MAX_ID + 1];
        size_t gl = 0;
        bool found = false;
        lmq_cur *cur;
        lmq_val key, val;
        if ((rc = lmq__cur_open(c->t, LMQ_DB_GREADY, &cur)) != 0)
            break;
        /* Resume at the last group taken: groups it passed were served or
         * skipped, and groups re-keyed meanwhile moved to now or later. */
        for (rc = lmq__cur_seek(cur, from, sizeof from, &key, &val); rc == 0;
             rc = lmq__cur_next(cur, &key, &val)) {
            const uint8_t *kp = key.data;
            if (key.len != RKEY_LEN || lmq__get_u32(kp) != qid)
                break;
            int64_t at = (int64_t)lmq__get_u64(kp + 4);
            if (at > c->now) {
                if (*c->next_at == 0 || at < *c->next_at)
                    *c->next_at = at;
                break;
            }
            if (val.len == 0 || val.len > MAX_ID) {
                rc = lmq__seterr(LMQ_ECORRUPT, "FIFO ready entry: bad group");
                break;
            }
            bool dup = false;
            /* A group served in this call may still be ready (visibility
             * timeout 0, or only its removed messages were looked at). */
            for (size_t i = 0; i < nseen && !dup; i++)
                dup = strlen(seen[i]) == val.len &&
                      memcmp(seen[i], val.data, val.len) == 0;
            if (dup)
                continue;
            gl = val.len;
            memcpy(g, val.data, gl);
            g[gl] = '\0';
            memcpy(from, kp, RKEY_LEN);
            found = true;
            break;
        }
        lmq__cur_close(cur);
        if (rc < 0 || !found) {
            rc = rc < 0 ? rc : 0;
            break;
        }
        if (!seen && !(seen = malloc(MAX_GROUPS_PER_RECEIVE * sizeof *seen))) {
            rc = lmq__seterr(LMQ_ENOMEM, NULL);
            break;
        }
        memcpy(seen[nseen++], g, gl + 1);
        if ((rc = walk_group(c, g, gl)) != 0)
            break;
    }
    free(seen);
    return rc;
}

/* Attempt records: version, expiry u64, count u8, then per message
 * (seq u64, delivery number u32). */
#define AREC_HEAD 10
#define AREC_ENTRY 12

/* A retry of a recorded attempt: 1 when answered from the record, 0 when
 * there is no live record (receive afresh), or an error. */
static int
attempt_replay(struct fctx *c, const char *id)
{
    uint64_t seqs[LMQ_MAX_BATCH];
    uint32_t gens[LMQ_MAX_BATCH];
    lmq_val v;
    int rc =
        rec_get(c->t, LMQ_DB_ATTEMPT, c->r->qid, id, strlen(id), c->now, &v);
    if (rc)
        return rc == LMQ__NOTFOUND ? 0 : rc;
    const uint8_t *d = v.data;
    size_t cnt = v.len >= AREC_HEAD ? d[9] : 0;
    if (v.len < AREC_HEAD || d[0] != AREC_VERSION || cnt > LMQ_MAX_BATCH ||
        v.len != AREC_HEAD + cnt * AREC_ENTRY)
        return lmq__seterr(LMQ_ECORRUPT, "attempt record: bad framing");
    /* Copy out: delivering writes to the store and may move the value. */
    for (size_t i = 0; i < cnt; i++) {
        seqs[i] = lmq__get_u64(d + AREC_HEAD + i * AREC_ENTRY);
        gens[i] = lmq__get_u32(d + AREC_HEAD + i * AREC_ENTRY + 8);
    }
    for (size_t i = 0; i < cnt && *c->n < c->max; i++) {
        lmq_mhdr h;
        rc = lmq__msg_hdr(c->t, c->r->qid, seqs[i], &h);
        if (rc == LMQ__NOTFOUND)
            continue; /* deleted since */
        if (rc)
            return rc;
        if (lmq__msg_expired(c->r, &h, c->now)) {
            if ((rc = lmq__msg_remove(c->t, c->r, seqs[i], &h,
                                       LMQ_RM_EXPIRE)) != 0)
                return rc;
            continue;
        }
        bool held =
            h.recv_count == gens[i] && h.visible_at > c->now &&
            lmq__q_state(c->r, h.visible_at, h.state) == LMQ_MS_INFLIGHT;
        if (!held)
            continue; /* made visible, expired or delivered again since */
        /* The same delivery again: lmq__msg_deliver counts a delivery, so
         * step the count back and it reissues the same receipt handle
         * while resetting the visibility timeout. */
        h.recv_count = gens[i] - 1;
        rc = lmq__msg_deliver(c->t, c->q, c->r, seqs[i], &h, c->now, c->vt,
                              c->o->attribute_names, &c->msgs[*c->n]);
        if (rc)
            return rc;
        (*c->n)++;
    }
    return 1;
}

static int
attempt_store(struct fctx *c, const char *id, size_t first)
{
    uint8_t val[AREC_HEAD + LMQ_MAX_BATCH * AREC_ENTRY];
    size_t cnt = *c->n - first;
    if (cnt > LMQ_MAX_BATCH)
        cnt = LMQ_MAX_BATCH;
    val[0] = AREC_VERSION;
    lmq__put_u64(val + 1, (uint64_t)(c->now + ATTEMPT_WINDOW_MS));
    val[9] = (uint8_t)cnt;
    for (size_t i = 0; i < cnt; i++) {
        const lmq_msg *m = c->msgs[first + i];
        lmq__put_u64(val + AREC_HEAD + i * AREC_ENTRY, m->seq);
        lmq__put_u32(val + AREC_HEAD + i * AREC_ENTRY + 8, m->recv_count);
    }
    return rec_put(c->t, LMQ_DB_ATTEMPT, c->r->qid, id, strlen(id), val,
                   AREC_HEAD + cnt * AREC_ENTRY);
}

int
lmq__fifo_receive(lmq_txn *t, lmq_queue *q, lmq_qrec *r, const lmq_recv_opts *o,
                  int vt, int64_t now, lmq_msg **msgs, size_t max, size_t *n,
                  int64_t *next_at)
{
    struct fctx c = {t, q, r, o, vt, now, msgs, max, n, next_at};
    size_t first = *n;
    int rc;
    if ((rc = sweep(t, LMQ_DB_ATTEMPT, r->qid, now)) < 0 ||
        (rc = sweep(t, LMQ_DB_DEDUP, r->qid, now)) < 0)
        return rc;
    const char *aid = o->attempt_id;
    if (aid && strlen(aid) > MAX_ID)
        return lmq__valid_msg_ident("ReceiveRequestAttemptId", aid);
    if (aid && (rc = attempt_replay(&c, aid)) != 0)
        return rc < 0 ? rc : 0;
    if ((rc = receive_groups(&c)) != 0)
        return rc;
    if (aid && *n > first)
        rc = attempt_store(&c, aid, first);
    return rc;
}

/* ---- queue delay changes ------------------------------------------------- */

/*
 * On a FIFO queue a DelaySeconds change applies to messages already queued
 * (SQS docs): a message is first deliverable at its send time plus the
 * queue's current delay. Called by SetQueueAttributes after the change,
 * with the record settled to now. Only messages never received are
 * affected, and only those sent within the longer of the two delays, so the
 * walk covers the vis entries in (now - (new - old), now + old]: the work is
 * proportional to the messages sent in that window, once per change.
 */
int
lmq__fifo_on_delay_change(lmq_txn *t, lmq_qrec *r, uint32_t old_delay,
                          int64_t now)
{
    int64_t nd = (int64_t)r->delay * 1000, od = (int64_t)old_delay * 1000;
    int64_t lo = nd > od ? now - (nd - od) + 1 : now + 1, hi = now + od;
    uint8_t from[LMQ_VKEY_LEN];
    uint64_t *seqs = NULL;
    size_t n = 0, cap = 0;
    lmq_cur *c;
    lmq_val key, val;
    int rc = lmq__cur_open(t, LMQ_DB_VIS, &c);
    if (rc)
        return rc;
    lmq__vkey(from, r->qid, lo, 0);
    for (rc = lmq__cur_seek(c, from, sizeof from, &key, &val); rc == 0;
         rc = lmq__cur_next(c, &key, &val)) {
        const uint8_t *kp = key.data;
        if (key.len != LMQ_VKEY_LEN || lmq__get_u32(kp) != r->qid ||
            (int64_t)lmq__get_u64(kp + 4) > hi)
            break;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            uint64_t *ns = realloc(seqs, nc * sizeof *ns);
            if (!ns) {
                rc = lmq__seterr(LMQ_ENOMEM, NULL);
                break;
            }
            seqs = ns;
            cap = nc;
        }
        seqs[n++] = lmq__get_u64(kp + 12);
    }
    lmq__cur_close(c);
    rc = rc < 0 ? rc : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        lmq_mhdr h;
        if ((rc = lmq__msg_hdr(t, r->qid, seqs[i], &h)) != 0)
            break;
        int64_t at = h.enqueue_ms + nd;
        if (h.recv_count != 0 || at == h.visible_at)
            continue;
        rc = lmq__msg_revisit(t, r, seqs[i], &h, at,
                              at > now ? LMQ_MS_DELAYED : LMQ_MS_VISIBLE);
    }
    free(seqs);
    return rc;
}
