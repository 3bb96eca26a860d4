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

enum { NS_EXPIRY = 0, NS_RECORD = 1, NS_PRIOR = 2 };
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

/* ---- FIFO ids across seal modes --------------------------------------------
 *
 * A sealed queue's dedup and attempt indexes hold keyed hashes of the ids
 * under the queue's key (seal.c), a clear queue's the ids themselves. When
 * the queue's mode changes (lmq key rotate, KmsMasterKeyId,
 * SqsManagedSseEnabled), ids recorded under the old mode stay live for up to
 * their 5 minutes, so the transaction of the change records the old mode in
 * the dedup database:
 *
 *     (qid, 0x02) -> version, then per old mode: key fingerprint (8; zeros:
 *                    clear), until (u64: the latest expiry either index
 *                    held at the change)
 *
 * A lookup that misses under the current mode tries each old mode whose
 * until has not passed, so a duplicate is recognised before, during and
 * after a rotation, in every process (the change and the record commit
 * together). Rotation keeps an old key while a mode names it
 * (lmq__fifo_seal_until). Rejected: re-hashing the indexes at the change
 * (the ids are gone: a deleted message's dedup id survives only as its
 * hash); hashing under a key that never rotates (it would have to live
 * outside the keyring, i.e. on the disk next to the hashes). Cost: one more
 * get per FIFO send that is not a duplicate (bench/RESULTS.md).
 */
#define PRIOR_VERSION 1
#define PRIOR_MAX 16 /* mode changes per 5 minutes kept; the oldest goes */
#define PRIOR_ENTRY 16

struct prior {
    uint8_t fp[8];
    int64_t until;
};

static size_t
prior_key(uint8_t k[5], uint32_t qid)
{
    lmq__put_u32(k, qid);
    k[4] = NS_PRIOR;
    return 5;
}

static int
prior_load(lmq_txn *t, uint32_t qid, struct prior *p, size_t *n)
{
    uint8_t k[5];
    lmq_val v;
    *n = 0;
    int rc = lmq__txn_get(t, LMQ_DB_DEDUP, k, prior_key(k, qid), &v);
    if (rc)
        return rc == LMQ__NOTFOUND ? 0 : rc;
    const uint8_t *d = v.data;
    if (v.len < 1 || d[0] != PRIOR_VERSION || (v.len - 1) % PRIOR_ENTRY ||
        (v.len - 1) / PRIOR_ENTRY > PRIOR_MAX)
        return lmq__seterr(LMQ_ECORRUPT, "FIFO seal modes: bad framing");
    for (size_t i = 0; i < (v.len - 1) / PRIOR_ENTRY; i++) {
        memcpy(p[i].fp, d + 1 + i * PRIOR_ENTRY, 8);
        p[i].until = (int64_t)lmq__get_u64(d + 1 + i * PRIOR_ENTRY + 8);
    }
    *n = (v.len - 1) / PRIOR_ENTRY;
    return 0;
}

/* The latest expiry in db's index of qid (0: none). Walks the index: once
 * per mode change, O(ids of the last 5 minutes). */
static int
max_expiry(lmq_txn *t, int db, uint32_t qid, int64_t *out)
{
    uint8_t from[5];
    lmq_cur *c;
    lmq_val key, val;
    lmq__put_u32(from, qid);
    from[4] = NS_EXPIRY;
    int rc = lmq__cur_open(t, db, &c);
    if (rc)
        return rc;
    for (rc = lmq__cur_seek(c, from, sizeof from, &key, &val); rc == 0;
         rc = lmq__cur_next(c, &key, &val)) {
        const uint8_t *kp = key.data;
        if (key.len < 13 || lmq__get_u32(kp) != qid || kp[4] != NS_EXPIRY)
            break;
        int64_t e = (int64_t)lmq__get_u64(kp + 5);
        if (e > *out)
            *out = e;
    }
    lmq__cur_close(c);
    return rc < 0 ? rc : 0;
}

int
lmq__fifo_note_seal_change(lmq_txn *t, uint32_t qid, const uint8_t old_fp[8],
                           int64_t now)
{
    struct prior p[PRIOR_MAX + 1];
    size_t n, m = 0;
    int64_t until = 0;
    int rc = max_expiry(t, LMQ_DB_DEDUP, qid, &until);
    if (rc == 0)
        rc = max_expiry(t, LMQ_DB_ATTEMPT, qid, &until);
    if (rc == 0)
        rc = prior_load(t, qid, p, &n);
    if (rc)
        return rc;
    /* Keep the modes still live, this one merged in. */
    bool merged = false;
    for (size_t i = 0; i < n; i++) {
        if (memcmp(p[i].fp, old_fp, 8) == 0) {
            merged = true;
            if (until > p[i].until)
                p[i].until = until;
        }
        if (p[i].until > now)
            p[m++] = p[i];
    }
    if (!merged && until > now) {
        memcpy(p[m].fp, old_fp, 8);
        p[m++].until = until;
    }
    if (m > PRIOR_MAX) { /* the one that ends first goes */
        size_t lo = 0;
        for (size_t i = 1; i < m; i++)
            if (p[i].until < p[lo].until)
                lo = i;
        p[lo] = p[--m];
    }
    uint8_t k[5], val[1 + PRIOR_MAX * PRIOR_ENTRY];
    prior_key(k, qid);
    if (m == 0) {
        rc = lmq__txn_del(t, LMQ_DB_DEDUP, k, sizeof k);
        return rc == LMQ__NOTFOUND ? 0 : rc;
    }
    val[0] = PRIOR_VERSION;
    for (size_t i = 0; i < m; i++) {
        memcpy(val + 1 + i * PRIOR_ENTRY, p[i].fp, 8);
        lmq__put_u64(val + 1 + i * PRIOR_ENTRY + 8, (uint64_t)p[i].until);
    }
    return lmq__txn_put(t, LMQ_DB_DEDUP, k, sizeof k, val,
                        1 + m * PRIOR_ENTRY);
}

int
lmq__fifo_seal_until(lmq_txn *t, uint32_t qid, const uint8_t fp[8],
                     int64_t now, int64_t *until)
{
    struct prior p[PRIOR_MAX];
    size_t n;
    *until = 0;
    int rc = prior_load(t, qid, p, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (memcmp(p[i].fp, fp, 8) == 0 && p[i].until > now)
            *until = p[i].until;
    return rc;
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

/* The live record of stored id sid in db: dedup (g set): the one for group
 * g, then one made under scope queue; attempts (g NULL): the id's. */
static int
ids_get(lmq_txn *t, int db, uint32_t qid, const char *sid, const char *g,
        size_t gl, int64_t now, lmq_val *v)
{
    uint8_t tail[TAIL_MAX];
    size_t il = strlen(sid);
    if (!g)
        return rec_get(t, db, qid, sid, il, now, v);
    int rc = rec_get(t, db, qid, tail, dedup_tail(tail, sid, il, g, gl, true),
                     now, v);
    if (rc == LMQ__NOTFOUND)
        rc = rec_get(t, db, qid, tail,
                     dedup_tail(tail, sid, il, g, gl, false), now, v);
    return rc;
}

/* Look id up in db (purpose LMQ_SEAL_ID_*) of queue r: sid is its stored
 * form under the current mode (made by the caller); on a miss, its forms
 * under the live older modes. 0 (*v the record), LMQ__NOTFOUND, or an
 * error (LMQ_EKEY: an older mode's key is missing). */
static int
ids_find(lmq_txn *t, lmq_queue *q, const lmq_qrec *r, int db, int purpose,
         const char *id, const char *sid, const char *g, size_t gl,
         int64_t now, lmq_val *v)
{
    struct prior p[PRIOR_MAX];
    uint8_t cur[8] = {0};
    size_t n;
    int rc = ids_get(t, db, r->qid, sid, g, gl, now, v);
    if (rc != LMQ__NOTFOUND)
        return rc;
    if ((rc = prior_load(t, r->qid, p, &n)) != 0)
        return rc;
    if (r->seal_kind)
        memcpy(cur, r->seal_fp, 8);
    for (size_t i = 0; i < n; i++) {
        char pid[129];
        if (p[i].until <= now || memcmp(p[i].fp, cur, 8) == 0)
            continue;
        if ((rc = lmq__seal_fifo_id(q->env, r->qid, r->name, p[i].fp,
                                    purpose, id, strlen(id), pid)) != 0 ||
            (rc = ids_get(t, db, r->qid, pid, g, gl, now, v)) !=
                LMQ__NOTFOUND)
            return rc;
    }
    return LMQ__NOTFOUND;
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

    /* A live record for this group, then one made under scope queue; under
     * the queue's mode, then its older ones. */
    rc = ids_find(t, q, r, LMQ_DB_DEDUP, LMQ_SEAL_ID_DEDUP, p->dedup, did, g,
                  gl, now, &v);
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

/* The form of attempt id the index holds: a sealed queue's, a keyed hash
 * (seal.c), so an attempt id never reaches the disk in the clear. */
static int
attempt_id(struct fctx *c, const char *id, char sid[129])
{
    return lmq__seal_fifo_id(c->q->env, c->r->qid, c->r->name,
                             c->r->seal_kind ? c->r->seal_fp : NULL,
                             LMQ_SEAL_ID_ATTEMPT, id, strlen(id), sid);
}

/* A retry of a recorded attempt: 1 when answered from the record, 0 when
 * there is no live record (receive afresh), or an error. */
static int
attempt_replay(struct fctx *c, const char *id)
{
    uint64_t seqs[LMQ_MAX_BATCH];
    uint32_t gens[LMQ_MAX_BATCH];
    lmq_val v;
    char sid[129];
    int rc = attempt_id(c, id, sid);
    if (rc == 0)
        rc = ids_find(c->t, c->q, c->r, LMQ_DB_ATTEMPT, LMQ_SEAL_ID_ATTEMPT, id,
                      sid, NULL, 0, c->now, &v);
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
    char sid[129];
    int rc = attempt_id(c, id, sid);
    if (rc)
        return rc;
    return rec_put(c->t, LMQ_DB_ATTEMPT, c->r->qid, sid, strlen(sid), val,
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

/* ---- check, repair, dump and load (admin.c) ------------------------------ */

/* The range of qid's keys in db: every key starts with the qid. */
static int
qid_walk_open(lmq_txn *t, int db, uint32_t qid, lmq_cur **c, lmq_val *key,
              lmq_val *val)
{
    uint8_t k[4];
    lmq__put_u32(k, qid);
    int rc = lmq__cur_open(t, db, c);
    if (rc)
        return rc;
    rc = lmq__cur_seek(*c, k, sizeof k, key, val);
    if (rc == 0 && (key->len < 4 || lmq__get_u32(key->data) != qid))
        rc = LMQ__NOTFOUND;
    return rc;
}

static int
qid_walk_next(lmq_cur *c, uint32_t qid, lmq_val *key, lmq_val *val)
{
    int rc = lmq__cur_next(c, key, val);
    if (rc == 0 && (key->len < 4 || lmq__get_u32(key->data) != qid))
        rc = LMQ__NOTFOUND;
    return rc;
}

int
lmq__fifo_check_msg(lmq_txn *t, const lmq_qrec *r, uint64_t seq,
                    const lmq_mview *mv, lmq__problem_fn fn, void *arg)
{
    uint8_t k[GKEY_MAX];
    lmq_val v;
    if (!mv->group || mv->group_len == 0 || mv->group_len > MAX_ID) {
        fn(arg, "fifo-group", "message %llu of a FIFO queue has no group",
           (unsigned long long)seq);
        return 0;
    }
    int rc = lmq__txn_get(t, LMQ_DB_GROUPS, k,
                          gkey(k, r->qid, mv->group, mv->group_len, true, seq),
                          &v);
    if (rc == LMQ__NOTFOUND)
        fn(arg, "fifo-member", "message %llu is missing from its group's "
           "members", (unsigned long long)seq);
    return rc < 0 ? rc : 0;
}

/* Each record (qid, NS_RECORD, tail) of db has its expiry entry and each
 * expiry entry its record with that expiry. */
static int
check_expiring(lmq_txn *t, int db, const lmq_qrec *r, const char *what,
               lmq__problem_fn fn, void *arg)
{
    lmq_cur *c;
    lmq_val key, val, v;
    uint8_t k[XKEY_MAX];
    int rc = qid_walk_open(t, db, r->qid, &c, &key, &val);
    for (; rc == 0; rc = qid_walk_next(c, r->qid, &key, &val)) {
        const uint8_t *kp = key.data;
        if (key.len < 5)
            continue;
        if (kp[4] == NS_RECORD) {
            size_t tl = key.len - 5;
            if (val.len < 9 || tl > TAIL_MAX) {
                fn(arg, what, "%s record with a bad size", what);
                continue;
            }
            int64_t exp = (int64_t)lmq__get_u64((const uint8_t *)val.data + 1);
            int g = lmq__txn_get(t, db, k, exp_key(k, r->qid, exp, kp + 5, tl),
                                 &v);
            if (g < 0) {
                rc = g;
                break;
            }
            if (g == LMQ__NOTFOUND)
                fn(arg, what, "%s record without its expiry entry", what);
        } else if (kp[4] == NS_EXPIRY && key.len >= 13 &&
                   key.len - 13 <= TAIL_MAX) {
            int g = lmq__txn_get(t, db, k,
                                 rec_key(k, r->qid, kp + 13, key.len - 13), &v);
            if (g < 0) {
                rc = g;
                break;
            }
            if (g == LMQ__NOTFOUND || v.len < 9 ||
                memcmp((const uint8_t *)v.data + 1, kp + 5, 8) != 0)
                fn(arg, what, "%s expiry entry without its record", what);
        } else {
            fn(arg, what, "%s key of an unknown kind", what);
        }
    }
    lmq__cur_close(c);
    return rc == LMQ__NOTFOUND ? 0 : rc;
}

int
lmq__fifo_check(lmq_txn *t, const lmq_qrec *r, lmq__problem_fn fn, void *arg)
{
    lmq_cur *c;
    lmq_val key, val, v;
    uint8_t k[GKEY_MAX];
    int rc = qid_walk_open(t, LMQ_DB_GROUPS, r->qid, &c, &key, &val);
    for (; rc == 0; rc = qid_walk_next(c, r->qid, &key, &val)) {
        const uint8_t *kp = key.data;
        const uint8_t *nul = memchr(kp + 4, 0, key.len - 4);
        if (!nul) {
            fn(arg, "fifo-group", "group key without its terminator");
            continue;
        }
        size_t gl = (size_t)(nul - (kp + 4));
        const char *g = (const char *)kp + 4;
        if (key.len == 4 + gl + 1 + 8) { /* a member */
            uint64_t seq = lmq__get_u64(nul + 1);
            lmq_mview mv;
            int m = lmq__txn_get(t, LMQ_DB_MSG, k,
                                 (lmq__mkey(k, r->qid, seq), LMQ_MKEY_LEN), &v);
            if (m < 0) {
                rc = m;
                break;
            }
            if (m == LMQ__NOTFOUND ||
                lmq__mview_decode(v.data, v.len, &mv) != 0 ||
                mv.group_len != gl || memcmp(mv.group, g, gl) != 0)
                fn(arg, "fifo-member", "group member %llu without its "
                   "message", (unsigned long long)seq);
            continue;
        }
        if (key.len != 4 + gl + 1 || val.len != 16) {
            fn(arg, "fifo-group", "group key or state of a bad size");
            continue;
        }
        int64_t ready = (int64_t)lmq__get_u64(val.data);
        uint64_t head = lmq__get_u64((const uint8_t *)val.data + 8), first;
        /* member_next() uses the transaction's cursor; this walk has its
         * own, so the two do not disturb each other. */
        int m = member_next(t, r->qid, g, gl, 0, &first);
        if (m < 0) {
            rc = m;
            break;
        }
        if (m == LMQ__NOTFOUND)
            fn(arg, "fifo-group", "group '%.*s' has a state but no member",
               (int)gl, g);
        else if (first != head)
            fn(arg, "fifo-group", "group '%.*s' names head %llu, its first "
               "member is %llu", (int)gl, g, (unsigned long long)head,
               (unsigned long long)first);
        uint8_t rk[RKEY_LEN];
        rkey(rk, r->qid, ready, head);
        m = lmq__txn_get(t, LMQ_DB_GREADY, rk, sizeof rk, &v);
        if (m < 0) {
            rc = m;
            break;
        }
        if (m == LMQ__NOTFOUND || v.len != gl || memcmp(v.data, g, gl) != 0)
            fn(arg, "fifo-ready", "group '%.*s' has no ready entry", (int)gl,
               g);
    }
    lmq__cur_close(c);
    if (rc != LMQ__NOTFOUND && rc != 0)
        return rc;
    rc = qid_walk_open(t, LMQ_DB_GREADY, r->qid, &c, &key, &val);
    for (; rc == 0; rc = qid_walk_next(c, r->qid, &key, &val)) {
        gstate s;
        if (key.len != RKEY_LEN || val.len == 0 || val.len > MAX_ID) {
            fn(arg, "fifo-ready", "ready entry of a bad size");
            continue;
        }
        int g = gstate_get(t, r->qid, val.data, val.len, &s);
        if (g < 0) {
            rc = g;
            break;
        }
        const uint8_t *kp = key.data;
        if (g == LMQ__NOTFOUND ||
            s.ready_at != (int64_t)lmq__get_u64(kp + 4) ||
            s.head != lmq__get_u64(kp + 12))
            fn(arg, "fifo-ready", "ready entry of group '%.*s' does not "
               "match its state", (int)val.len, (const char *)val.data);
    }
    lmq__cur_close(c);
    if (rc != LMQ__NOTFOUND && rc != 0)
        return rc;
    if ((rc = check_expiring(t, LMQ_DB_DEDUP, r, "fifo-dedup", fn, arg)) != 0)
        return rc;
    return check_expiring(t, LMQ_DB_ATTEMPT, r, "fifo-attempt", fn, arg);
}

/* Rebuild the expiry index of db from its records. */
static int
reindex_expiring(lmq_txn *t, int db, uint32_t qid)
{
    uint8_t lo[5], hi[5];
    lmq__put_u32(lo, qid);
    lo[4] = NS_EXPIRY;
    lmq__put_u32(hi, qid);
    hi[4] = NS_EXPIRY + 1;
    int rc = lmq__txn_del_range(t, db, lo, sizeof lo, hi, sizeof hi, NULL);
    if (rc)
        return rc;
    lmq_cur *c;
    lmq_val key, val;
    uint8_t k[XKEY_MAX];
    rc = qid_walk_open(t, db, qid, &c, &key, &val);
    for (; rc == 0; rc = qid_walk_next(c, qid, &key, &val)) {
        const uint8_t *kp = key.data;
        if (key.len < 5 || kp[4] != NS_RECORD || val.len < 9 ||
            key.len - 5 > TAIL_MAX)
            continue;
        int64_t exp = (int64_t)lmq__get_u64((const uint8_t *)val.data + 1);
        if ((rc = lmq__txn_put(t, db, k, exp_key(k, qid, exp, kp + 5,
                                                 key.len - 5),
                               "", 0)) != 0)
            break;
    }
    lmq__cur_close(c);
    return rc == LMQ__NOTFOUND ? 0 : rc;
}

int
lmq__fifo_drop_index(lmq_txn *t, uint32_t qid)
{
    uint8_t lo[4], hi[4];
    int rc;
    lmq__put_u32(lo, qid);
    lmq__put_u32(hi, qid + 1);
    if ((rc = lmq__txn_del_range(t, LMQ_DB_GROUPS, lo, 4, hi, 4, NULL)) ||
        (rc = lmq__txn_del_range(t, LMQ_DB_GREADY, lo, 4, hi, 4, NULL)) ||
        (rc = reindex_expiring(t, LMQ_DB_DEDUP, qid)))
        return rc;
    return reindex_expiring(t, LMQ_DB_ATTEMPT, qid);
}

int
lmq__fifo_dedup_each(lmq_txn *t, uint32_t qid,
                     int (*fn)(void *arg, const lmq_fifo_dedup *d), void *arg)
{
    lmq_cur *c;
    lmq_val key, val;
    int rc = qid_walk_open(t, LMQ_DB_DEDUP, qid, &c, &key, &val);
    for (; rc == 0; rc = qid_walk_next(c, qid, &key, &val)) {
        const uint8_t *kp = key.data, *d = val.data;
        if (key.len < 6 || kp[4] != NS_RECORD || val.len != DREC_LEN)
            continue;
        lmq_fifo_dedup e;
        const uint8_t *nul = memchr(kp + 5, 0, key.len - 5);
        if (!nul)
            continue;
        e.id = (const char *)kp + 5;
        e.id_len = (size_t)(nul - (kp + 5));
        e.group_scope = d[17] == SCOPE_GROUP;
        e.group = e.group_scope ? (const char *)nul + 1 : NULL;
        e.group_len = e.group_scope ? key.len - 5 - e.id_len - 1 : 0;
        e.expires_ms = (int64_t)lmq__get_u64(d + 1);
        e.seq = lmq__get_u64(d + 9);
        memcpy(e.message_id, d + 18, 36);
        e.message_id[36] = 0;
        if ((rc = fn(arg, &e)) != 0)
            break;
    }
    lmq__cur_close(c);
    return rc == LMQ__NOTFOUND ? 0 : rc;
}

int
lmq__fifo_dedup_put(lmq_txn *t, uint32_t qid, const lmq_fifo_dedup *e)
{
    uint8_t tail[TAIL_MAX], val[DREC_LEN];
    if (e->id_len == 0 || e->id_len > MAX_ID || e->group_len > MAX_ID ||
        strlen(e->message_id) != 36 || memchr(e->id, 0, e->id_len) ||
        (e->group_scope && (!e->group || e->group_len == 0)))
        return lmq__seterr(LMQ_EINVAL, "bad deduplication record");
    val[0] = DREC_VERSION;
    lmq__put_u64(val + 1, (uint64_t)e->expires_ms);
    lmq__put_u64(val + 9, e->seq);
    val[17] = e->group_scope ? SCOPE_GROUP : SCOPE_QUEUE;
    memcpy(val + 18, e->message_id, 36);
    size_t tl = dedup_tail(tail, e->id, e->id_len, e->group, e->group_len,
                           e->group_scope);
    return rec_put(t, LMQ_DB_DEDUP, qid, tail, tl, val, sizeof val);
}
