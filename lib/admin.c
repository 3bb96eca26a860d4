/*
 * admin.c: the operator's toolbox (issue 23): check (and repair), backup,
 * dump and load of a home.
 *
 * Check is one read-only transaction, so it sees one consistent state of a
 * live home and changes nothing. It walks each database once and looks the
 * other side of every relation up by key:
 *
 *   names <-> qrec          each name's qid has a record of that name, and
 *                           each record's name maps to its qid
 *   msg -> hdr, vis, groups each message's header decodes; an indexed one
 *                           has its vis entry at its visible_at with its
 *                           state; a FIFO one its group member entry
 *   hdr, vis -> msg         no header row or vis entry without its message
 *   counters                n_visible / n_inflight / n_delayed equal what
 *                           the settle rule gives at the record's
 *                           settled_ms; due_ms is a true lower bound
 *   FIFO (queue_fifo.c)     groups, ready entries, dedup and attempt
 *                           records against their indexes
 *   DLQ                     RedrivePolicy parsed into the record; its
 *                           target of the same type
 *   per-queue dbs -> qrec   no row of a queue that no longer exists
 *   the redo log            scans to the record the shared tail names
 *
 * Repair rebuilds what follows from the records (message records, header
 * rows, queue records, FIFO dedup and attempt records): the vis, group and
 * ready indexes, the expiry indexes, the counters and the name index, and
 * drops rows nobody owns, in one write transaction, after a backup. A
 * message record or queue record that does not decode cannot be rebuilt
 * and stays a problem (its message is lost either way).
 *
 * Backup is store.c's compacting copy after a checkpoint, plus the small
 * files a home needs (mapmode, clock), with the home's modes.
 *
 * Dump writes JSON lines (docs/OPERATIONS.md has the format): a version
 * line, every queue, then every message and FIFO dedup record, then an end
 * line with the counts. Each message is read in its own consistent state
 * (read transactions of DUMP_BATCH messages); a point-in-time dump of a
 * live home is the dump of a backup. Load reads the same lines back with
 * the messages' ids, sequence numbers, timestamps and receive counts.
 */
#define _GNU_SOURCE /* asprintf */
#include "core.h"
#include "homefile.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Problems kept in a report (all are counted): a badly damaged home would
 * otherwise make a report as large as itself. */
#define MAX_REPORTED 1000
/* Messages per read transaction of a dump, per write transaction of a
 * load: small enough that a live home's writers never wait long for pages
 * a reader pins, large enough to amortise a transaction. */
#define DUMP_BATCH 512
#define LOAD_BATCH 256
#define DUMP_VERSION 1

static const int qdbs[] = {LMQ_DB_MSG,    LMQ_DB_HDR,    LMQ_DB_VIS,
                           LMQ_DB_GROUPS, LMQ_DB_GREADY, LMQ_DB_DEDUP,
                           LMQ_DB_ATTEMPT, LMQ_DB_METRICS};
static const char *const qdb_names[] = {"msg",    "hdr",   "vis",
                                        "groups", "gready", "dedup",
                                        "attempt", "metrics"};

/* ---- check ---------------------------------------------------------------- */

struct chk {
    lmq_env *env;
    json_t *problems;
    json_t *warnings;
    size_t nproblems;
    const char *queue; /* the queue being checked, or NULL */
    uint64_t queues, messages;
    lmq_progress_fn progress;
    void *parg;
};

static void LMQ_PRINTF(3, 4)
problem(void *arg, const char *kind, const char *fmt, ...)
{
    struct chk *c = arg;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (c->nproblems++ >= MAX_REPORTED)
        return;
    json_array_append_new(c->problems,
                          json_pack("{s:s,s:s?,s:s}", "Kind", kind, "Queue",
                                    c->queue, "Detail", buf));
}

static void LMQ_PRINTF(2, 3)
warning(struct chk *c, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_array_append_new(c->warnings, json_pack("{s:s?,s:s}", "Queue",
                                                 c->queue, "Detail", buf));
}

/* The messages of r: headers, vis entries, FIFO members; the counters as
 * the settle rule gives them at r->settled_ms. */
static int
check_messages(lmq_txn *t, struct chk *c, const lmq_qrec *r)
{
    uint8_t k[LMQ_VKEY_LEN];
    lmq_cur *cur;
    lmq_val key, val, v;
    int64_t n[3] = {0, 0, 0};
    uint64_t last = 0;
    int rc = lmq__cur_open(t, LMQ_DB_MSG, &cur);
    if (rc)
        return rc;
    lmq__mkey(k, r->qid, 0);
    for (rc = lmq__cur_seek(cur, k, LMQ_MKEY_LEN, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val)) {
        if (key.len != LMQ_MKEY_LEN || lmq__get_u32(key.data) != r->qid)
            break;
        uint64_t seq = lmq__get_u64((const uint8_t *)key.data + 4);
        lmq_mview mv;
        lmq_mhdr h;
        last = seq;
        c->messages++;
        if (lmq__mview_decode(val.data, val.len, &mv) != 0) {
            problem(c, "msg-record", "message %llu: record does not decode",
                    (unsigned long long)seq);
            continue;
        }
        int hr = lmq__msg_hdr(t, r->qid, seq, &h);
        if (hr < 0 && hr != LMQ_ECORRUPT) {
            rc = hr;
            break;
        }
        if (hr) {
            problem(c, "msg-header", "message %llu: header missing or bad",
                    (unsigned long long)seq);
            continue;
        }
        if (h.state > LMQ_MS_INFLIGHT) {
            problem(c, "msg-header", "message %llu: state %u",
                    (unsigned long long)seq, h.state);
            continue;
        }
        if (r->fifo &&
            (rc = lmq__fifo_check_msg(t, r, seq, &mv, problem, c)) != 0)
            break;
        if (!r->fifo && (h.flags & LMQ_MH_UNINDEXED)) {
            n[LMQ_MS_VISIBLE]++;
            if (seq < r->front_seq)
                problem(c, "front-seq", "unindexed message %llu lies "
                        "before front_seq %llu", (unsigned long long)seq,
                        (unsigned long long)r->front_seq);
            continue;
        }
        lmq__vkey(k, r->qid, h.visible_at, seq);
        int g = lmq__txn_get(t, LMQ_DB_VIS, k, LMQ_VKEY_LEN, &v);
        if (g < 0) {
            rc = g;
            break;
        }
        if (g == LMQ__NOTFOUND) {
            problem(c, "vis-missing", "message %llu has no vis entry",
                    (unsigned long long)seq);
            continue;
        }
        int st = v.len == 1 ? ((const uint8_t *)v.data)[0] : -1;
        if (st != h.state)
            problem(c, "vis-state", "message %llu: vis entry state %d, "
                    "header %u", (unsigned long long)seq, st, h.state);
        n[lmq__q_state(r, h.visible_at, h.state)]++;
    }
    lmq__cur_close(cur);
    if (rc < 0)
        return rc;
    if (last > r->next_seq)
        problem(c, "next-seq", "message %llu lies past next_seq %llu",
                (unsigned long long)last, (unsigned long long)r->next_seq);
    if (n[LMQ_MS_VISIBLE] != r->n_visible ||
        n[LMQ_MS_INFLIGHT] != r->n_inflight ||
        n[LMQ_MS_DELAYED] != r->n_delayed)
        problem(c, "counters", "counters visible/in flight/delayed %lld/"
                "%lld/%lld, messages %lld/%lld/%lld",
                (long long)r->n_visible, (long long)r->n_inflight,
                (long long)r->n_delayed, (long long)n[LMQ_MS_VISIBLE],
                (long long)n[LMQ_MS_INFLIGHT], (long long)n[LMQ_MS_DELAYED]);
    return 0;
}

/* Whether the header row at key has its message: 0, LMQ__NOTFOUND, or an
 * error. */
static int
hdr_message(lmq_txn *t, const lmq_val *key)
{
    lmq_val v;
    return key->len == LMQ_MKEY_LEN
               ? lmq__txn_get(t, LMQ_DB_MSG, key->data, key->len, &v)
               : LMQ__NOTFOUND;
}

/* Header rows and vis entries of r, each against its message. */
static int
check_rows(lmq_txn *t, struct chk *c, const lmq_qrec *r)
{
    uint8_t k[LMQ_MKEY_LEN];
    lmq_cur *cur;
    lmq_val key, val;
    int rc = lmq__cur_open(t, LMQ_DB_HDR, &cur);
    if (rc)
        return rc;
    lmq__mkey(k, r->qid, 0);
    for (rc = lmq__cur_seek(cur, k, sizeof k, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val)) {
        if (key.len < 4 || lmq__get_u32(key.data) != r->qid)
            break;
        int g = hdr_message(t, &key);
        if (g < 0) {
            rc = g;
            break;
        }
        if (g == LMQ__NOTFOUND)
            problem(c, "hdr-orphan", "header row %llu without its message",
                    (unsigned long long)(key.len == LMQ_MKEY_LEN
                                             ? lmq__get_u64((const uint8_t *)
                                                                key.data +
                                                            4)
                                             : 0));
    }
    lmq__cur_close(cur);
    if (rc < 0)
        return rc;
    if ((rc = lmq__cur_open(t, LMQ_DB_VIS, &cur)) != 0)
        return rc;
    for (rc = lmq__cur_seek(cur, k, 4, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val)) {
        if (key.len < 4 || lmq__get_u32(key.data) != r->qid)
            break;
        if (key.len != LMQ_VKEY_LEN) {
            problem(c, "vis-orphan", "vis key of a bad size");
            continue;
        }
        const uint8_t *kp = key.data;
        int64_t at = (int64_t)lmq__get_u64(kp + 4);
        uint64_t seq = lmq__get_u64(kp + 12);
        lmq_mhdr h;
        int g = lmq__msg_hdr(t, r->qid, seq, &h);
        if (g < 0 && g != LMQ_ECORRUPT) {
            rc = g;
            break;
        }
        if (g == LMQ__NOTFOUND)
            problem(c, "vis-orphan", "vis entry of message %llu, which does "
                    "not exist", (unsigned long long)seq);
        else if (g == 0 && h.visible_at != at)
            problem(c, "vis-orphan", "vis entry of message %llu at %lld, "
                    "its header says %lld", (unsigned long long)seq,
                    (long long)at, (long long)h.visible_at);
        if (at > r->settled_ms && r->due_ms > 0 && at < r->due_ms)
            problem(c, "due-ms", "vis entry at %lld before due_ms %lld",
                    (long long)at, (long long)r->due_ms);
    }
    lmq__cur_close(cur);
    return rc < 0 ? rc : 0;
}

/* RedrivePolicy: parsed into the record, its target of the same type. */
static int
check_dlq(lmq_txn *t, struct chk *c, lmq_env *env, const lmq_qrec *r)
{
    const char *pol = lmq_map_get(r->attrs, "RedrivePolicy");
    if (!pol) {
        if (r->redrive_max)
            problem(c, "dlq", "maxReceiveCount %u without a RedrivePolicy",
                    r->redrive_max);
        return 0;
    }
    json_t *j = json_loads(pol, 0, NULL);
    const char *arn = json_string_value(json_object_get(j, "deadLetterTargetArn"));
    json_t *mrc = json_object_get(j, "maxReceiveCount");
    long long max = json_is_integer(mrc) ? json_integer_value(mrc)
                    : json_is_string(mrc) ? atoll(json_string_value(mrc))
                                          : -1;
    if (!arn || max != (long long)r->redrive_max)
        problem(c, "dlq", "RedrivePolicy does not match the record "
                "(maxReceiveCount %u)", r->redrive_max);
    char *name = arn ? lmq__arn_name(env, arn) : NULL;
    if (arn && !name)
        warning(c, "dead-letter queue %s is not of this home", arn);
    if (name) {
        lmq_qrec d;
        int rc = lmq__q_load_name(t, name, false, &d);
        if (rc == LMQ_ENOQUEUE)
            warning(c, "dead-letter queue %s does not exist (messages stay "
                    "in the queue)", name);
        else if (rc == 0 && d.fifo != r->fifo)
            problem(c, "dlq", "dead-letter queue %s is not of the queue's "
                    "type", name);
    }
    free(name);
    json_decref(j);
    return 0;
}

/* Call fn(arg, db index, qid) for each queue id that has rows in a
 * per-queue database but no record (one seek per queue id); fn returns 0,
 * 1 to stop the walk, or an error. */
static int
each_orphan(lmq_txn *t, int (*fn)(void *arg, size_t db, uint32_t qid),
            void *arg)
{
    bool stop = false;
    for (size_t i = 0; i < sizeof qdbs / sizeof qdbs[0]; i++) {
        lmq_cur *cur;
        lmq_val key, val, v;
        uint8_t k[4] = {0, 0, 0, 0};
        int rc = lmq__cur_open(t, qdbs[i], &cur);
        if (rc)
            return rc;
        rc = lmq__cur_seek(cur, k, sizeof k, &key, &val);
        while (rc == 0) {
            if (key.len < 4) {
                rc = lmq__cur_next(cur, &key, &val);
                continue;
            }
            uint32_t qid = lmq__get_u32(key.data);
            memcpy(k, key.data, 4);
            rc = lmq__txn_get(t, LMQ_DB_QREC, k, 4, &v);
            if (rc == LMQ__NOTFOUND && (rc = fn(arg, i, qid)) == 1)
                stop = true;
            if (rc != 0 || qid == UINT32_MAX)
                break;
            lmq__put_u32(k, qid + 1);
            rc = lmq__cur_seek(cur, k, sizeof k, &key, &val);
        }
        lmq__cur_close(cur);
        if (rc < 0 || stop)
            return rc < 0 ? rc : 0;
    }
    return 0;
}

static int
report_orphan(void *arg, size_t db, uint32_t qid)
{
    problem(arg, "orphan", "%s holds rows of queue id %u, which has no "
            "record", qdb_names[db], qid);
    return 0;
}

static int
check_fn(lmq_txn *t, void *arg)
{
    struct chk *c = arg;
    lmq_cur *cur;
    lmq_val key, val, v;
    uint32_t next_qid = 0;
    int rc;
    /* A read transaction may be retried: start from nothing. */
    json_array_clear(c->problems);
    json_array_clear(c->warnings);
    c->nproblems = 0;
    c->queues = c->messages = 0;
    c->queue = NULL;
    if (lmq__txn_get(t, LMQ_DB_META, "next_qid", 8, &v) == 0 && v.len == 4)
        next_qid = lmq__get_u32(v.data);

    /* names -> qrec */
    if ((rc = lmq__cur_open(t, LMQ_DB_NAMES, &cur)) != 0)
        return rc;
    for (rc = lmq__cur_seek(cur, "", 0, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val)) {
        lmq_qrec r;
        if (val.len != 4) {
            problem(c, "names", "name '%.*s' maps to a bad value",
                    (int)key.len, (const char *)key.data);
            continue;
        }
        int g = lmq__q_load(t, lmq__get_u32(val.data), false, &r);
        if (g == LMQ_ENOQUEUE || (g == 0 && (strlen(r.name) != key.len ||
                                             memcmp(r.name, key.data,
                                                    key.len) != 0)))
            problem(c, "names", "name '%.*s' maps to queue id %u, which is "
                    "not that queue", (int)key.len, (const char *)key.data,
                    lmq__get_u32(val.data));
        c->queues++;
    }
    lmq__cur_close(cur);
    if (rc < 0)
        return rc;
    uint64_t total = c->queues;

    /* qrec -> names, then each queue */
    if ((rc = lmq__cur_open(t, LMQ_DB_QREC, &cur)) != 0)
        return rc;
    uint64_t done = 0;
    for (rc = lmq__cur_seek(cur, "", 0, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val)) {
        lmq_qrec r;
        uint32_t qid = key.len == 4 ? lmq__get_u32(key.data) : 0;
        c->queue = NULL;
        if (lmq__qrec_decode(val.data, val.len, true, &r) != 0) {
            problem(c, "qrec", "record of queue id %u does not decode", qid);
            continue;
        }
        c->queue = r.name;
        if (next_qid && qid >= next_qid)
            problem(c, "qrec", "queue id %u is not below next_qid %u", qid,
                    next_qid);
        int g = lmq__txn_get(t, LMQ_DB_NAMES, r.name, strlen(r.name), &v);
        if (g == LMQ__NOTFOUND || (g == 0 && (v.len != 4 ||
                                              lmq__get_u32(v.data) != qid)))
            problem(c, "names", "the name index does not name this queue");
        if ((rc = check_messages(t, c, &r)) != 0 ||
            (rc = check_rows(t, c, &r)) != 0 ||
            (r.fifo && (rc = lmq__fifo_check(t, &r, problem, c)) != 0) ||
            (rc = check_dlq(t, c, c->env, &r)) != 0) {
            lmq__qrec_free(&r);
            break;
        }
        lmq__qrec_free(&r);
        done++;
        if (c->progress)
            c->progress(c->parg, done, total > done ? total : done);
    }
    lmq__cur_close(cur);
    if (rc < 0)
        return rc;
    c->queue = NULL;

    /* tombs */
    if ((rc = lmq__cur_open(t, LMQ_DB_TOMBS, &cur)) != 0)
        return rc;
    for (rc = lmq__cur_seek(cur, "", 0, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val))
        if (val.len != 8)
            problem(c, "tombs", "deletion record of '%.*s' of a bad size",
                    (int)key.len, (const char *)key.data);
    lmq__cur_close(cur);
    if (rc < 0)
        return rc;
    c->queue = NULL;
    return each_orphan(t, report_orphan, c);
}

static json_t *
check_run(lmq_env *env, struct chk *c, int *err)
{
    int records = 0;
    uint64_t expected = 0;
    c->problems = json_array();
    c->warnings = json_array();
    *err = lmq__store_read(env->store, check_fn, c);
    if (*err == 0) {
        c->queue = NULL;
        *err = lmq__store_log_check(env->store, &records, &expected);
        if (*err == 0 && (uint64_t)records < expected)
            problem(c, "log", "the redo log scans to record %d of %llu",
                    records, (unsigned long long)expected);
    }
    if (*err) {
        json_decref(c->problems);
        json_decref(c->warnings);
        return NULL;
    }
    return json_pack("{s:s,s:b,s:I,s:I,s:i,s:I,s:o,s:o}", "Home", env->path,
                     "Clean", c->nproblems == 0, "Queues",
                     (json_int_t)c->queues, "Messages",
                     (json_int_t)c->messages, "LogRecords", records,
                     "ProblemCount", (json_int_t)c->nproblems, "Problems",
                     c->problems, "Warnings", c->warnings);
}

/* Delete the entry under c and move to the one after it (seeking, as the
 * key's page changes under a delete). */
static int
cur_del_next(lmq_cur *c, lmq_val *key, lmq_val *val)
{
    uint8_t at[512]; /* LMDB keys are at most 511 bytes */
    size_t al = key->len < sizeof at ? key->len : sizeof at;
    memcpy(at, key->data, al);
    int rc = lmq__cur_del(c);
    return rc ? rc : lmq__cur_seek(c, at, al, key, val);
}

/* Room for one more element of size sz in *arr (n used of *cap). */
static int
grow(void *arr, size_t n, size_t *cap, size_t sz)
{
    void **a = arr;
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *na = realloc(*a, nc * sz);
    if (!na)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    *a = na;
    *cap = nc;
    return 0;
}

/* ---- repair ----------------------------------------------------------------- */

struct rep {
    lmq_env *env;
    int64_t now;
};

static int
del_qid_range(lmq_txn *t, int db, uint32_t qid)
{
    uint8_t lo[4], hi[4];
    lmq__put_u32(lo, qid);
    lmq__put_u32(hi, qid + 1);
    if (qid == UINT32_MAX) /* the last id: up to the end of the db */
        return lmq__txn_del_range(t, db, lo, 4, "\xff\xff\xff\xff\xff", 5,
                                  NULL);
    return lmq__txn_del_range(t, db, lo, 4, hi, 4, NULL);
}

/* Rebuild queue r's indexes and counters from its messages. */
static int
repair_queue(lmq_txn *t, struct rep *p, lmq_qrec *r)
{
    uint8_t k[LMQ_MKEY_LEN];
    lmq_cur *cur;
    lmq_val key, val;
    uint64_t *bad = NULL, last = 0;
    size_t nbad = 0, cap = 0;
    int rc;
    if ((rc = del_qid_range(t, LMQ_DB_VIS, r->qid)) != 0 ||
        (rc = lmq__fifo_drop_index(t, r->qid)) != 0)
        return rc;
    r->n_visible = r->n_inflight = r->n_delayed = 0;
    if (p->now > r->settled_ms)
        r->settled_ms = p->now;
    r->due_ms = 0;
    r->sweep_ms = 0;
    if ((rc = lmq__cur_open(t, LMQ_DB_MSG, &cur)) != 0)
        return rc;
    lmq__mkey(k, r->qid, 0);
    for (rc = lmq__cur_seek(cur, k, sizeof k, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val)) {
        if (key.len != LMQ_MKEY_LEN || lmq__get_u32(key.data) != r->qid)
            break;
        uint64_t seq = lmq__get_u64((const uint8_t *)key.data + 4);
        lmq_mview mv;
        lmq_mhdr h;
        last = seq;
        int g = lmq__mview_decode(val.data, val.len, &mv);
        if (g == 0)
            g = lmq__msg_hdr(t, r->qid, seq, &h);
        if (g == 0 && h.state > LMQ_MS_INFLIGHT)
            g = LMQ_ECORRUPT;
        if (g == 0 && r->fifo && (!mv.group || !mv.group_len))
            g = LMQ_ECORRUPT;
        if (g == 0) {
            if ((rc = lmq__msg_reindex(t, r, seq, &mv, &h)) != 0)
                break;
            continue;
        }
        if (g != LMQ_ECORRUPT) {
            rc = g;
            break;
        }
        if ((rc = grow(&bad, nbad, &cap, sizeof *bad)) != 0)
            break;
        bad[nbad++] = seq; /* dropped after the walk */
    }
    lmq__cur_close(cur);
    for (size_t i = 0; rc >= 0 && i < nbad; i++) {
        lmq__mkey(k, r->qid, bad[i]);
        if ((rc = lmq__txn_del(t, LMQ_DB_MSG, k, sizeof k)) >= 0)
            rc = lmq__txn_del(t, LMQ_DB_HDR, k, sizeof k);
    }
    free(bad);
    if (rc < 0)
        return rc;
    if (last > r->next_seq)
        r->next_seq = last;
    /* Header rows whose message is gone. */
    if ((rc = lmq__cur_open(t, LMQ_DB_HDR, &cur)) != 0)
        return rc;
    lmq__mkey(k, r->qid, 0);
    for (rc = lmq__cur_seek(cur, k, sizeof k, &key, &val); rc == 0;) {
        if (key.len < 4 || lmq__get_u32(key.data) != r->qid)
            break;
        int g = hdr_message(t, &key);
        if (g < 0) {
            rc = g;
            break;
        }
        if (g == LMQ__NOTFOUND) {
            rc = cur_del_next(cur, &key, &val);
            continue;
        }
        rc = lmq__cur_next(cur, &key, &val);
    }
    lmq__cur_close(cur);
    if (rc < 0)
        return rc;
    /* The name index names this queue. */
    uint8_t q[4];
    lmq__put_u32(q, r->qid);
    if ((rc = lmq__txn_put(t, LMQ_DB_NAMES, r->name, strlen(r->name), q,
                           4)) != 0)
        return rc;
    return lmq__q_save(t, r);
}

#define ORPHANS_MAX 64
struct orphans {
    size_t n;
    size_t db[ORPHANS_MAX];
    uint32_t qid[ORPHANS_MAX];
};

/* Collect up to ORPHANS_MAX; 1 stops the walk when full. */
static int
note_orphan(void *arg, size_t db, uint32_t qid)
{
    struct orphans *o = arg;
    o->db[o->n] = db;
    o->qid[o->n++] = qid;
    return o->n == ORPHANS_MAX;
}

static int
repair_fn(lmq_txn *t, void *arg)
{
    struct rep *p = arg;
    lmq_cur *cur;
    lmq_val key, val;
    int rc;
    /* Names that do not name their queue. */
    if ((rc = lmq__cur_open(t, LMQ_DB_NAMES, &cur)) != 0)
        return rc;
    for (rc = lmq__cur_seek(cur, "", 0, &key, &val); rc == 0;) {
        lmq_qrec r;
        int g = val.len == 4 ? lmq__q_load(t, lmq__get_u32(val.data), false,
                                           &r)
                             : LMQ_ENOQUEUE;
        if (g < 0 && g != LMQ_ENOQUEUE && g != LMQ_ECORRUPT) {
            rc = g;
            break;
        }
        if (g != 0 || strlen(r.name) != key.len ||
            memcmp(r.name, key.data, key.len) != 0) {
            rc = cur_del_next(cur, &key, &val);
            continue;
        }
        rc = lmq__cur_next(cur, &key, &val);
    }
    lmq__cur_close(cur);
    if (rc < 0)
        return rc;
    /* Each queue; qids collected first (repair_queue rewrites qrec). */
    uint32_t *qids = NULL;
    size_t n = 0, cap = 0;
    if ((rc = lmq__cur_open(t, LMQ_DB_QREC, &cur)) != 0)
        return rc;
    for (rc = lmq__cur_seek(cur, "", 0, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val)) {
        if (key.len != 4)
            continue;
        if ((rc = grow(&qids, n, &cap, sizeof *qids)) != 0)
            break;
        qids[n++] = lmq__get_u32(key.data);
    }
    lmq__cur_close(cur);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        lmq_qrec r;
        int g = lmq__q_load(t, qids[i], false, &r);
        if (g == LMQ_ECORRUPT)
            continue; /* cannot be rebuilt: check still reports it */
        rc = g ? g : repair_queue(t, p, &r);
    }
    free(qids);
    if (rc < 0)
        return rc;
    /* Rows of queues without a record: their ranges are deleted after
     * each walk (the walk's cursor must not see its db change). */
    struct orphans o;
    do {
        o.n = 0;
        if ((rc = each_orphan(t, note_orphan, &o)) != 0)
            return rc;
        for (size_t i = 0; i < o.n; i++)
            if ((rc = del_qid_range(t, qdbs[o.db[i]], o.qid[i])) != 0)
                return rc;
    } while (o.n == ORPHANS_MAX);
    return 0;
}

/* "HOME.backup-YYYYmmddTHHMMSSZ", malloc'd. */
static char *
default_backup_dir(lmq_env *env)
{
    char stamp[32], *out = NULL;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    size_t len = strlen(env->path);
    while (len > 1 && env->path[len - 1] == '/')
        len--;
    if (asprintf(&out, "%.*s.backup-%s", (int)len, env->path, stamp) < 0)
        return NULL;
    return out;
}

LMQ_API int
lmq_home_check(lmq_env *env, int flags, const char *backup_dir,
               lmq_progress_fn progress, void *arg, char **report)
{
    int rc;
    if (report)
        *report = NULL;
    if ((rc = lmq__env_check(env)) != 0)
        return rc;
    if (!report || (flags & ~LMQ_CHECK_REPAIR))
        return lmq__seterr(LMQ_EINVAL, "lmq_home_check: bad arguments");
    struct chk c = {env, NULL, NULL, 0, NULL, 0, 0, progress, arg};
    json_t *doc = check_run(env, &c, &rc);
    if (!doc)
        return rc;
    if ((flags & LMQ_CHECK_REPAIR) && c.nproblems > 0) {
        char *dir = backup_dir ? strdup(backup_dir) : default_backup_dir(env);
        if (!dir) {
            json_decref(doc);
            return lmq__seterr(LMQ_ENOMEM, NULL);
        }
        rc = lmq_home_backup(env, dir, NULL, NULL);
        if (rc == 0) {
            struct rep p = {env, lmq__now(env)};
            rc = lmq__store_write_free(env->store, repair_fn, &p);
        }
        if (rc) {
            free(dir);
            json_decref(doc);
            return rc;
        }
        json_t *before = json_incref(json_object_get(doc, "Problems"));
        size_t nbefore = c.nproblems;
        json_decref(doc);
        struct chk c2 = {env, NULL, NULL, 0, NULL, 0, 0, progress, arg};
        doc = check_run(env, &c2, &rc);
        if (!doc) {
            free(dir);
            json_decref(before);
            return rc;
        }
        json_object_set_new(doc, "Backup", json_string(dir));
        json_object_set_new(doc, "RepairedProblemCount",
                            json_integer((json_int_t)nbefore));
        json_object_set_new(doc, "ProblemsBeforeRepair", before);
        free(dir);
        c.nproblems = c2.nproblems;
    }
    *report = json_dumps(doc, JSON_PRESERVE_ORDER | JSON_INDENT(2));
    json_decref(doc);
    if (!*report)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    if (c.nproblems)
        return lmq__seterr(LMQ_ECORRUPT, "%zu problem%s found in %s",
                           c.nproblems, c.nproblems == 1 ? "" : "s",
                           env->path);
    return 0;
}

/* ---- backup ----------------------------------------------------------------- */

/* Copy the small file name of the home into dir, if the home has it. */
static int
copy_small(const char *home, const char *dir, const char *name)
{
    char src[PATH_MAX], dst[PATH_MAX], buf[4096];
    snprintf(src, sizeof src, "%s/%s", home, name);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return errno == ENOENT ? 0 : lmq__seterr(LMQ_EIO, "cannot open %s: %s",
                                                 src, strerror(errno));
    int out = lmq__home_open(dst, O_WRONLY | O_CREAT | O_EXCL);
    if (out < 0) {
        int e = errno;
        close(in);
        return lmq__seterr(LMQ_EIO, "cannot create %s: %s", dst, strerror(e));
    }
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) {
            rc = lmq__seterr(LMQ_EIO, "cannot write %s: %s", dst,
                             strerror(errno));
            break;
        }
    if (n < 0)
        rc = lmq__seterr(LMQ_EIO, "cannot read %s: %s", src, strerror(errno));
    if (rc == 0 && fsync(out) != 0)
        rc = lmq__seterr(LMQ_EIO, "cannot sync %s: %s", dst, strerror(errno));
    close(in);
    close(out);
    return rc;
}

LMQ_API int
lmq_home_backup(lmq_env *env, const char *dir, lmq_progress_fn progress,
                void *arg)
{
    struct stat hs, ds;
    char path[PATH_MAX];
    int rc;
    if ((rc = lmq__env_check(env)) != 0)
        return rc;
    if (!dir || !*dir)
        return lmq__seterr(LMQ_EINVAL, "backup: no directory given");
    if (stat(env->path, &hs) != 0)
        return lmq__seterr(LMQ_EIO, "cannot stat %s: %s", env->path,
                           strerror(errno));
    if (stat(dir, &ds) == 0) {
        if (ds.st_dev == hs.st_dev && ds.st_ino == hs.st_ino)
            return lmq__seterr(LMQ_EINVAL, "backup: %s is the home itself",
                               dir);
        snprintf(path, sizeof path, "%s/data.mdb", dir);
        if (access(path, F_OK) == 0)
            return lmq__seterr(LMQ_EINVAL, "backup: %s already holds a "
                               "home; give a new directory", dir);
    } else if (mkdir(dir, 0700) != 0) {
        return lmq__seterr(LMQ_EIO, "cannot create %s: %s", dir,
                           strerror(errno));
    }
    /* The home's owner group and mode (a group home stays one). */
    if (chown(dir, (uid_t)-1, hs.st_gid) != 0 && errno != EPERM)
        return lmq__seterr(LMQ_EIO, "cannot chown %s: %s", dir,
                           strerror(errno));
    if (chmod(dir, hs.st_mode & 07777) != 0)
        return lmq__seterr(LMQ_EIO, "cannot chmod %s: %s", dir,
                           strerror(errno));
    if (progress)
        progress(arg, 0, 3);
    if ((rc = lmq__store_copy(env->store, dir)) != 0)
        return rc;
    if (progress)
        progress(arg, 1, 3);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || lmq__home_fix(path, fd) != 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return lmq__seterr(LMQ_EIO, "cannot finish %s: %s", path,
                           strerror(e));
    }
    close(fd);
    if ((rc = copy_small(env->path, dir, "mapmode")) != 0 ||
        (rc = copy_small(env->path, dir, "clock")) != 0)
        return rc;
    if (progress)
        progress(arg, 2, 3);
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(fd);
        close(fd);
    }
    if (progress)
        progress(arg, 3, 3);
    return 0;
}

/* ---- dump --------------------------------------------------------------------- */

static const char *const state_names[] = {"delayed", "visible", "inflight"};

static const char *const readonly_attrs[] = {
    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp",
    "LastModifiedTimestamp", "QueueArn", "LmqDroppedMessages", NULL};

/* A queue as the dump holds it. */
struct dq {
    char name[LMQ_MAX_QUEUE_NAME + 1];
    uint32_t qid;
    bool fifo, sealed;
    int64_t created_ms, modified_ms, last_purge_ms;
    uint64_t next_seq, count;
    uint64_t totals[5];
};

struct dump {
    lmq_env *env;
    int fd;
    struct dq *qs;
    size_t nq;
    uint64_t total, done, nmsg, ndedup;
    /* one batch */
    struct dq *q;
    uint64_t after;
    bool more;
    char *buf;
    size_t len, cap;
    lmq_progress_fn progress;
    void *parg;
};

static int
queues_fn(lmq_txn *t, void *arg)
{
    struct dump *d = arg;
    lmq_cur *cur;
    lmq_val key, val;
    d->nq = 0;
    d->total = 0;
    int rc = lmq__cur_open(t, LMQ_DB_NAMES, &cur);
    if (rc)
        return rc;
    for (rc = lmq__cur_seek(cur, "", 0, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val)) {
        lmq_qrec r;
        if (val.len != 4)
            continue;
        int g = lmq__q_load(t, lmq__get_u32(val.data), false, &r);
        if (g) {
            rc = g;
            break;
        }
        struct dq *nq = realloc(d->qs, (d->nq + 1) * sizeof *nq);
        if (!nq) {
            rc = lmq__seterr(LMQ_ENOMEM, NULL);
            break;
        }
        d->qs = nq;
        struct dq *q = &d->qs[d->nq++];
        snprintf(q->name, sizeof q->name, "%s", r.name);
        q->qid = r.qid;
        q->fifo = r.fifo;
        q->sealed = r.seal_kind != LMQ_SEAL_NONE;
        q->created_ms = r.created_ms;
        q->modified_ms = r.modified_ms;
        q->last_purge_ms = r.last_purge_ms;
        q->next_seq = r.next_seq;
        q->count = (uint64_t)(r.n_visible + r.n_inflight + r.n_delayed);
        q->totals[0] = r.m_sent;
        q->totals[1] = r.m_sent_bytes;
        q->totals[2] = r.m_received;
        q->totals[3] = r.m_deleted;
        q->totals[4] = r.m_empty;
        d->total += q->count;
    }
    lmq__cur_close(cur);
    return rc < 0 ? rc : 0;
}

/* Append doc (stolen) as one line to d's buffer. */
static int
put_line(struct dump *d, json_t *doc)
{
    if (!doc)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!s)
        return lmq__seterr(LMQ_ECORRUPT, "a value of the home is not valid "
                           "text for the dump");
    size_t n = strlen(s);
    if (d->len + n + 1 > d->cap) {
        size_t nc = (d->len + n + 1) * 2;
        char *nb = realloc(d->buf, nc);
        if (!nb) {
            free(s);
            return lmq__seterr(LMQ_ENOMEM, NULL);
        }
        d->buf = nb;
        d->cap = nc;
    }
    memcpy(d->buf + d->len, s, n);
    d->buf[d->len + n] = '\n';
    d->len += n + 1;
    free(s);
    return 0;
}

static int
flush_lines(struct dump *d)
{
    size_t off = 0;
    while (off < d->len) {
        ssize_t n = write(d->fd, d->buf + off, d->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return lmq__seterr(LMQ_EIO, "cannot write the dump: %s",
                               strerror(errno));
        off += (size_t)n;
    }
    d->len = 0;
    return 0;
}

static json_t *
attrs_json(const lmq_mview *mv, int *rc)
{
    lmq_mattrs *a = NULL;
    json_t *arr = json_array();
    *rc = 0;
    if (mv->attrs_len &&
        (*rc = lmq__mattrs_decode(mv->attrs, mv->attrs_len, &a)) != 0) {
        json_decref(arr);
        return NULL;
    }
    for (size_t i = 0; i < lmq_mattrs_count(a); i++) {
        const char *name, *type;
        const void *value;
        size_t len;
        lmq_mattrs_at(a, i, &name, &type, &value, &len);
        json_t *o;
        if (strncmp(type, "Binary", 6) == 0) {
            size_t bl = sodium_base64_ENCODED_LEN(
                len, sodium_base64_VARIANT_ORIGINAL);
            char *b = malloc(bl);
            if (!b) {
                *rc = lmq__seterr(LMQ_ENOMEM, NULL);
                break;
            }
            sodium_bin2base64(b, bl, value, len,
                              sodium_base64_VARIANT_ORIGINAL);
            o = json_pack("{s:s,s:s,s:s}", "Name", name, "DataType", type,
                          "BinaryValue", b);
            free(b);
        } else {
            o = json_pack("{s:s,s:s,s:s%}", "Name", name, "DataType", type,
                          "StringValue", (const char *)value, len);
        }
        if (!o) {
            *rc = lmq__seterr(LMQ_ECORRUPT, "attribute %s does not dump",
                              name);
            break;
        }
        json_array_append_new(arr, o);
    }
    lmq_mattrs_free(a);
    if (*rc) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

static void
set_opt_str(json_t *o, const char *key, const char *s, size_t len)
{
    if (s && len)
        json_object_set_new(o, key, json_stringn(s, len));
}

static int
dedup_line(void *arg, const lmq_fifo_dedup *e)
{
    struct dump *d = arg;
    json_t *o = json_pack("{s:s,s:s%}", "Queue", d->q->name, "Id", e->id,
                          e->id_len);
    if (!o)
        return lmq__seterr(LMQ_ECORRUPT, "dedup record does not dump");
    if (e->group_scope)
        json_object_set_new(o, "MessageGroupId",
                            json_stringn(e->group, e->group_len));
    json_object_set_new(o, "ExpiresMs", json_integer(e->expires_ms));
    json_object_set_new(o, "Seq", json_integer((json_int_t)e->seq));
    json_object_set_new(o, "MessageId", json_string(e->message_id));
    d->ndedup++;
    return put_line(d, json_pack("{s:o}", "dedup", o));
}

static int
batch_fn(lmq_txn *t, void *arg)
{
    struct dump *d = arg;
    uint8_t k[LMQ_MKEY_LEN];
    lmq_cur *cur;
    lmq_val key, val;
    size_t n = 0;
    d->len = 0; /* retried: start again */
    d->more = false;
    lmq_qrec r;
    int rc = lmq__q_load(t, d->q->qid, false, &r);
    if (rc)
        return rc;
    if ((rc = lmq__cur_open(t, LMQ_DB_MSG, &cur)) != 0)
        return rc;
    uint64_t last = d->after;
    lmq__mkey(k, d->q->qid, d->after + 1);
    for (rc = lmq__cur_seek(cur, k, sizeof k, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val)) {
        if (key.len != LMQ_MKEY_LEN || lmq__get_u32(key.data) != d->q->qid)
            break;
        if (n == DUMP_BATCH) {
            d->more = true;
            break;
        }
        uint64_t seq = lmq__get_u64((const uint8_t *)key.data + 4);
        lmq_mview mv;
        lmq_mhdr h;
        uint8_t *plain = NULL;
        if ((rc = lmq__mview_decode(val.data, val.len, &mv)) != 0 ||
            (rc = lmq__msg_hdr(t, d->q->qid, seq, &h)) != 0 ||
            (rc = lmq__mview_open(d->env, d->q->qid, d->q->name, seq, &mv,
                                  &plain)) != 0)
            break;
        json_t *attrs = attrs_json(&mv, &rc);
        json_t *o = attrs ? json_pack("{s:s,s:I,s:s,s:s%,s:o}", "Queue",
                                      d->q->name, "Seq", (json_int_t)seq,
                                      "MessageId", mv.message_id, "Body",
                                      mv.body ? mv.body : "", mv.body_len,
                                      "Attributes", attrs)
                          : NULL;
        if (!o) {
            lmq__seal_free(plain);
            if (!rc)
                rc = lmq__seterr(LMQ_ECORRUPT, "message %llu of %s does not "
                                 "dump", (unsigned long long)seq,
                                 d->q->name);
            break;
        }
        json_object_set_new(o, "SentMs", json_integer(mv.sent_ms));
        json_object_set_new(o, "EnqueueMs", json_integer(h.enqueue_ms));
        json_object_set_new(o, "VisibleAt", json_integer(h.visible_at));
        json_object_set_new(o, "State",
                            json_string(state_names[h.state <= 2 ? h.state
                                                                 : 1]));
        json_object_set_new(o, "ReceiveCount", json_integer(h.recv_count));
        json_object_set_new(o, "FirstReceiveMs",
                            json_integer(h.first_recv_ms));
        json_object_set_new(o, "ReceiveStartMs",
                            json_integer(h.recv_start_ms));
        set_opt_str(o, "MessageGroupId", mv.group, mv.group_len);
        set_opt_str(o, "MessageDeduplicationId", mv.dedup, mv.dedup_len);
        set_opt_str(o, "AWSTraceHeader", mv.trace, mv.trace_len);
        set_opt_str(o, "DeadLetterQueueSourceArn", mv.dlq_src, mv.dlq_src_len);
        lmq__seal_free(plain);
        if ((rc = put_line(d, json_pack("{s:o}", "message", o))) != 0)
            break;
        last = seq;
        n++;
    }
    lmq__cur_close(cur);
    if (rc < 0)
        return rc;
    /* The dedup records, with the queue's last batch. */
    if (!d->more && d->q->fifo &&
        (rc = lmq__fifo_dedup_each(t, d->q->qid, dedup_line, d)) != 0)
        return rc;
    d->after = last;
    return (int)n;
}

static json_t *
map_json(const lmq_map *m, bool skip_readonly)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < lmq_map_count(m); i++) {
        const char *k, *v;
        bool ro = false;
        lmq_map_at(m, i, &k, &v);
        for (size_t j = 0; skip_readonly && readonly_attrs[j]; j++)
            ro |= strcmp(k, readonly_attrs[j]) == 0;
        if (!ro)
            json_object_set_new(o, k, json_string(v));
    }
    return o;
}

static int
dump_queue_line(struct dump *d, struct dq *q)
{
    static const char *const all[] = {"All", NULL};
    lmq_map *attrs = NULL, *tags = NULL;
    int rc = lmq_queue_get_attributes(d->env, q->name, all, &attrs);
    if (rc == 0)
        rc = lmq_queue_tags(d->env, q->name, &tags);
    if (rc == 0) {
        json_t *o = json_pack(
            "{s:s,s:o,s:o,s:b,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I}}",
            "Name", q->name, "Attributes", map_json(attrs, true), "Tags",
            map_json(tags, false), "Sealed", q->sealed, "CreatedMs",
            (json_int_t)q->created_ms, "ModifiedMs",
            (json_int_t)q->modified_ms, "LastPurgeMs",
            (json_int_t)q->last_purge_ms, "NextSeq", (json_int_t)q->next_seq,
            "Totals", "Sent", (json_int_t)q->totals[0], "SentBytes",
            (json_int_t)q->totals[1], "Received", (json_int_t)q->totals[2],
            "Deleted", (json_int_t)q->totals[3], "EmptyReceives",
            (json_int_t)q->totals[4]);
        rc = put_line(d, o ? json_pack("{s:o}", "queue", o) : NULL);
    }
    lmq_map_free(attrs);
    lmq_map_free(tags);
    return rc;
}

LMQ_API int
lmq_home_dump(lmq_env *env, int fd, lmq_progress_fn progress, void *arg)
{
    int rc;
    if ((rc = lmq__env_check(env)) != 0)
        return rc;
    if (fd < 0)
        return lmq__seterr(LMQ_EINVAL, "lmq_home_dump: bad descriptor");
    struct dump d = {0};
    d.env = env;
    d.fd = fd;
    d.progress = progress;
    d.parg = arg;
    if ((rc = lmq__store_read(env->store, queues_fn, &d)) != 0)
        goto out;
    rc = put_line(&d, json_pack("{s:i,s:i,s:s,s:s}", "lmq-dump", DUMP_VERSION,
                                "format", (int)LMQ_FORMAT_VERSION, "region",
                                env->region, "account", env->account));
    for (size_t i = 0; rc == 0 && i < d.nq; i++)
        rc = dump_queue_line(&d, &d.qs[i]);
    if (rc == 0)
        rc = flush_lines(&d);
    if (progress && rc == 0)
        progress(arg, 0, d.total);
    for (size_t i = 0; rc == 0 && i < d.nq; i++) {
        d.q = &d.qs[i];
        d.after = 0;
        do {
            int n = lmq__store_read(env->store, batch_fn, &d);
            if (n < 0) {
                rc = n;
                break;
            }
            d.nmsg += (uint64_t)n;
            d.done += (uint64_t)n;
            if ((rc = flush_lines(&d)) != 0)
                break;
            if (progress)
                progress(arg, d.done, d.total > d.done ? d.total : d.done);
        } while (d.more);
    }
    if (rc == 0)
        rc = put_line(&d, json_pack("{s:{s:I,s:I,s:I}}", "end", "Queues",
                                    (json_int_t)d.nq, "Messages",
                                    (json_int_t)d.nmsg, "DedupRecords",
                                    (json_int_t)d.ndedup));
    if (rc == 0)
        rc = flush_lines(&d);
out:
    free(d.qs);
    free(d.buf);
    return rc;
}

/* ---- load ----------------------------------------------------------------------- */

/* A queue of the dump being loaded. */
struct lq {
    char name[LMQ_MAX_QUEUE_NAME + 1];
    bool fresh;    /* created by this load: dumped sequence numbers kept */
    json_t *line;  /* its "queue" object */
};

/* One message or dedup record, prepared outside the transaction. */
struct lm {
    struct lq *q;
    bool dedup;
    uint64_t seq;
    lmq_mview mv;
    lmq_mhdr h;
    uint8_t *attrs_buf;
    char *strs; /* the strings mv points into */
    lmq_fifo_dedup d;
    char *dstr;
};

struct load {
    lmq_env *env;
    struct lq *qs;
    size_t nq;
    struct lm *ms;
    size_t nm;
    uint64_t loaded, ndedup;
    const char *region, *account; /* of the dump */
    bool dry; /* the checking pass: parse and prepare, write nothing */
};

static void
lm_free(struct lm *m)
{
    free(m->attrs_buf);
    free(m->strs);
    free(m->dstr);
    memset(m, 0, sizeof *m);
}

static struct lq *
find_lq(struct load *l, const char *name)
{
    for (size_t i = 0; name && i < l->nq; i++)
        if (strcmp(l->qs[i].name, name) == 0)
            return &l->qs[i];
    return NULL;
}

static int
bad_line(size_t line, const char *what)
{
    return lmq__seterr(LMQ_EINVAL, "dump line %zu: %s; nothing loaded", line,
                       what);
}

static int64_t
jint(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

/* A copy of the optional string o[k] into the arena *p; its length. */
static const char *
jstr_copy(json_t *o, const char *k, char **p, size_t *len)
{
    json_t *v = json_object_get(o, k);
    *len = 0;
    if (!json_is_string(v))
        return NULL;
    *len = json_string_length(v);
    memcpy(*p, json_string_value(v), *len);
    (*p)[*len] = 0;
    const char *s = *p;
    *p += *len + 1;
    return s;
}

static int
prep_message(struct load *l, json_t *o, size_t line, struct lm *m)
{
    static const char *const strk[] = {"Body", "MessageGroupId",
                                       "MessageDeduplicationId",
                                       "AWSTraceHeader",
                                       "DeadLetterQueueSourceArn"};
    memset(m, 0, sizeof *m);
    const char *qn = json_string_value(json_object_get(o, "Queue"));
    const char *id = json_string_value(json_object_get(o, "MessageId"));
    json_t *state = json_object_get(o, "State");
    if (!(m->q = find_lq(l, qn)))
        return bad_line(line, "message of a queue the dump does not hold");
    if (!id || strlen(id) != 36 || !json_is_string(json_object_get(o, "Body")) ||
        !json_is_integer(json_object_get(o, "Seq")) || !json_is_string(state))
        return bad_line(line, "message without its MessageId, Body, Seq or "
                              "State");
    size_t total = 0;
    for (size_t i = 0; i < sizeof strk / sizeof strk[0]; i++) {
        json_t *v = json_object_get(o, strk[i]);
        total += (json_is_string(v) ? json_string_length(v) : 0) + 1;
    }
    char *p = m->strs = malloc(total);
    if (!p)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    lmq_mview *mv = &m->mv;
    memcpy(mv->message_id, id, 37);
    mv->body = jstr_copy(o, "Body", &p, &mv->body_len);
    mv->group = jstr_copy(o, "MessageGroupId", &p, &mv->group_len);
    mv->dedup = jstr_copy(o, "MessageDeduplicationId", &p, &mv->dedup_len);
    mv->trace = jstr_copy(o, "AWSTraceHeader", &p, &mv->trace_len);
    mv->dlq_src = jstr_copy(o, "DeadLetterQueueSourceArn", &p,
                            &mv->dlq_src_len);
    int rc = lmq__valid_chars(mv->body, mv->body_len);
    if (rc)
        return rc;
    lmq__md5_hex(mv->body, mv->body_len, mv->md5_body);
    mv->sent_ms = jint(o, "SentMs");
    m->seq = (uint64_t)jint(o, "Seq");
    if (m->seq == 0)
        return bad_line(line, "message sequence number 0");
    /* Attributes. */
    json_t *arr = json_object_get(o, "Attributes"), *a;
    size_t i;
    if (arr && json_array_size(arr)) {
        lmq_mattrs *ma = lmq_mattrs_new();
        if (!ma)
            return lmq__seterr(LMQ_ENOMEM, NULL);
        json_array_foreach(arr, i, a) {
            const char *n = json_string_value(json_object_get(a, "Name"));
            const char *ty = json_string_value(json_object_get(a, "DataType"));
            json_t *sv = json_object_get(a, "StringValue");
            const char *bv = json_string_value(json_object_get(a, "BinaryValue"));
            if (!n || !ty || (!json_is_string(sv) && !bv)) {
                rc = bad_line(line, "message attribute without Name, "
                                    "DataType and a value");
                break;
            }
            if (bv) {
                size_t bl = strlen(bv), out;
                uint8_t *bin = malloc(bl + 1);
                if (!bin) {
                    rc = lmq__seterr(LMQ_ENOMEM, NULL);
                    break;
                }
                if (sodium_base642bin(bin, bl + 1, bv, bl, NULL, &out, NULL,
                                      sodium_base64_VARIANT_ORIGINAL) != 0)
                    rc = bad_line(line, "BinaryValue is not base64");
                else
                    rc = lmq_mattrs_add(ma, n, ty, bin, out);
                free(bin);
            } else {
                rc = lmq_mattrs_add(ma, n, ty, json_string_value(sv),
                                    json_string_length(sv));
            }
            if (rc)
                break;
        }
        size_t bytes;
        if (rc == 0)
            rc = lmq__valid_mattrs(ma, &bytes);
        if (rc == 0)
            rc = lmq__mattrs_encode(ma, &m->attrs_buf, &mv->attrs_len);
        mv->attrs = m->attrs_buf;
        lmq_mattrs_free(ma);
        if (rc)
            return rc;
    }
    /* The header. */
    const char *st = json_string_value(state);
    int s = -1;
    for (int j = 0; j < 3; j++)
        if (strcmp(st, state_names[j]) == 0)
            s = j;
    if (s < 0)
        return bad_line(line, "State is not delayed, visible or inflight");
    m->h.state = (uint8_t)s;
    m->h.visible_at = jint(o, "VisibleAt");
    m->h.enqueue_ms = jint(o, "EnqueueMs");
    m->h.first_recv_ms = jint(o, "FirstReceiveMs");
    m->h.recv_start_ms = jint(o, "ReceiveStartMs");
    m->h.recv_count = (uint32_t)jint(o, "ReceiveCount");
    return 0;
}

static int
prep_dedup(struct load *l, json_t *o, size_t line, struct lm *m)
{
    memset(m, 0, sizeof *m);
    m->dedup = true;
    const char *qn = json_string_value(json_object_get(o, "Queue"));
    json_t *id = json_object_get(o, "Id"), *g = json_object_get(o, "MessageGroupId");
    const char *mid = json_string_value(json_object_get(o, "MessageId"));
    if (!(m->q = find_lq(l, qn)) || !json_is_string(id) || !mid ||
        strlen(mid) != 36)
        return bad_line(line, "dedup record without its Queue, Id or "
                              "MessageId");
    size_t il = json_string_length(id), gl = json_is_string(g)
                                                 ? json_string_length(g)
                                                 : 0;
    if (!(m->dstr = malloc(il + gl + 2)))
        return lmq__seterr(LMQ_ENOMEM, NULL);
    memcpy(m->dstr, json_string_value(id), il);
    m->dstr[il] = 0;
    m->d.id = m->dstr;
    m->d.id_len = il;
    if (json_is_string(g)) {
        memcpy(m->dstr + il + 1, json_string_value(g), gl);
        m->d.group = m->dstr + il + 1;
        m->d.group_len = gl;
        m->d.group_scope = true;
    }
    m->d.expires_ms = jint(o, "ExpiresMs");
    m->d.seq = (uint64_t)jint(o, "Seq");
    memcpy(m->d.message_id, mid, 37);
    return 0;
}

static int
insert_fn(lmq_txn *t, void *arg)
{
    struct load *l = arg;
    int64_t now = lmq__now(l->env);
    lmq_qrec r;
    struct lq *cur = NULL;
    int rc = 0;
    for (size_t i = 0; i < l->nm; i++) {
        struct lm *m = &l->ms[i];
        if (m->q != cur) {
            if (cur && (rc = lmq__q_save(t, &r)) != 0)
                return rc;
            cur = m->q;
            if ((rc = lmq__q_load_name(t, cur->name, false, &r)) != 0 ||
                (rc = lmq__q_settle(t, &r, now)) != 0)
                return rc;
        }
        if (m->dedup) {
            if (!cur->fresh)
                continue; /* merged: the home's own window stands */
            if (!r.fifo)
                return lmq__seterr(LMQ_EINVAL, "dedup record of standard "
                                   "queue %s", cur->name);
            if ((rc = lmq__fifo_dedup_put(t, r.qid, &m->d)) != 0)
                return rc;
            continue;
        }
        if (r.fifo && (!m->mv.group || !m->mv.group_len))
            return lmq__seterr(LMQ_EINVAL, "message of FIFO queue %s without "
                               "a MessageGroupId", cur->name);
        uint64_t keep = r.next_seq;
        if (cur->fresh) {
            uint8_t k[LMQ_MKEY_LEN];
            lmq_val v;
            lmq__mkey(k, r.qid, m->seq);
            if ((rc = lmq__txn_get(t, LMQ_DB_MSG, k, sizeof k, &v)) == 0)
                return lmq__seterr(LMQ_EINVAL, "message %llu of %s appears "
                                   "twice in the dump",
                                   (unsigned long long)m->seq, cur->name);
            if (rc < 0)
                return rc;
            r.next_seq = m->seq - 1;
        }
        if ((rc = lmq__msg_insert(t, l->env, &r, &m->mv, &m->h, NULL)) != 0)
            return rc;
        if (r.next_seq < keep)
            r.next_seq = keep;
    }
    return cur ? lmq__q_save(t, &r) : 0;
}

static int
flush_batch(struct load *l)
{
    if (l->dry) {
        for (size_t i = 0; i < l->nm; i++) {
            if (l->ms[i].dedup)
                l->ndedup++;
            else
                l->loaded++;
            lm_free(&l->ms[i]);
        }
        l->nm = 0;
        return 0;
    }
    uint64_t need = 0;
    for (size_t i = 0; i < l->nm; i++)
        need += l->ms[i].mv.body_len + l->ms[i].mv.attrs_len + 256;
    int rc = l->nm ? lmq__store_write_need(l->env->store, insert_fn, l, need)
                   : 0;
    for (size_t i = 0; i < l->nm; i++) {
        if (rc == 0 && !l->ms[i].dedup)
            l->loaded++;
        else if (rc == 0)
            l->ndedup++;
        lm_free(&l->ms[i]);
    }
    l->nm = 0;
    return rc;
}

/* Replace the dump's ARN prefix by this home's in s (malloc'd). */
static char *
rearn(struct load *l, const char *s)
{
    char from[128], to[128];
    snprintf(from, sizeof from, "arn:aws:sqs:%s:%s:", l->region, l->account);
    snprintf(to, sizeof to, "arn:aws:sqs:%s:%s:", l->env->region,
             l->env->account);
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    for (const char *p = s; (p = strstr(p, from)); p += fl)
        n++;
    char *out = malloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = s;;) {
        const char *q = strstr(p, from);
        size_t len = q ? (size_t)(q - p) : strlen(p);
        memcpy(o, p, len);
        o += len;
        if (!q)
            break;
        memcpy(o, to, tl);
        o += tl;
        p = q + fl;
    }
    *o = 0;
    return out;
}

static lmq_map *
jmap(struct load *l, json_t *o, const char *skip, const char *only)
{
    lmq_map *m = lmq_map_new();
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!m || !json_is_string(v) || (skip && strcmp(k, skip) == 0) ||
            (only && strcmp(k, only) != 0))
            continue;
        char *s = rearn(l, json_string_value(v));
        if (!s || lmq_map_set(m, k, s) != 0) {
            free(s);
            lmq_map_free(m);
            return NULL;
        }
        free(s);
    }
    return m;
}

struct patch {
    struct lq *q;
};

static int
patch_fn(lmq_txn *t, void *arg)
{
    struct patch *p = arg;
    json_t *o = p->q->line, *tot = json_object_get(o, "Totals");
    lmq_qrec r;
    int rc = lmq__q_load_name(t, p->q->name, false, &r);
    if (rc)
        return rc;
    r.created_ms = jint(o, "CreatedMs");
    r.modified_ms = jint(o, "ModifiedMs");
    r.last_purge_ms = jint(o, "LastPurgeMs");
    if ((uint64_t)jint(o, "NextSeq") > r.next_seq)
        r.next_seq = (uint64_t)jint(o, "NextSeq");
    r.m_sent = (uint64_t)jint(tot, "Sent");
    r.m_sent_bytes = (uint64_t)jint(tot, "SentBytes");
    r.m_received = (uint64_t)jint(tot, "Received");
    r.m_deleted = (uint64_t)jint(tot, "Deleted");
    r.m_empty = (uint64_t)jint(tot, "EmptyReceives");
    return lmq__q_save(t, &r);
}

/* Create the dump's queues (refusing, before anything changes, names the
 * home has unless merging), then their redrive policies and records. */
static int
load_queues(struct load *l, int flags)
{
    int rc = 0;
    char *clash = NULL;
    size_t nclash = 0;
    for (size_t i = 0; i < l->nq; i++) {
        static const char *const fifo_attr[] = {"FifoQueue", NULL};
        lmq_map *a = NULL;
        struct lq *q = &l->qs[i];
        int g = lmq_queue_get_attributes(l->env, q->name, fifo_attr, &a);
        if (g == LMQ_ENOQUEUE) {
            q->fresh = true;
            continue;
        }
        if (g)
            return g;
        const char *want = json_string_value(json_object_get(
            json_object_get(q->line, "Attributes"), "FifoQueue"));
        bool fifo_home = lmq_map_get(a, "FifoQueue") != NULL;
        lmq_map_free(a);
        if (fifo_home != (want && strcmp(want, "true") == 0)) {
            free(clash);
            return lmq__seterr(LMQ_EQUEUEEXISTS, "queue %s exists in the "
                               "home with another type; nothing loaded",
                               q->name);
        }
        char *nc = NULL;
        if (asprintf(&nc, "%s%s%s", clash ? clash : "", clash ? ", " : "",
                     q->name) < 0) {
            free(clash);
            return lmq__seterr(LMQ_ENOMEM, NULL);
        }
        free(clash);
        clash = nc;
        nclash++;
    }
    if (nclash && !(flags & LMQ_LOAD_MERGE)) {
        rc = lmq__seterr(LMQ_EQUEUEEXISTS, "the home already has queue%s %s; "
                         "nothing loaded (merge adds the dump's messages to "
                         "them)", nclash > 1 ? "s" : "", clash);
        free(clash);
        return rc;
    }
    free(clash);
    if (l->dry)
        return 0;
    for (size_t i = 0; rc == 0 && i < l->nq; i++) {
        struct lq *q = &l->qs[i];
        if (!q->fresh)
            continue;
        lmq_map *a = jmap(l, json_object_get(q->line, "Attributes"),
                          "RedrivePolicy", NULL);
        lmq_map *tg = jmap(l, json_object_get(q->line, "Tags"), NULL, NULL);
        rc = a && tg ? lmq_queue_create(l->env, q->name, a, tg, NULL)
                     : lmq__seterr(LMQ_ENOMEM, NULL);
        lmq_map_free(a);
        lmq_map_free(tg);
    }
    /* Redrive policies once every dead-letter queue exists. */
    for (size_t i = 0; rc == 0 && i < l->nq; i++) {
        struct lq *q = &l->qs[i];
        json_t *attrs = json_object_get(q->line, "Attributes");
        if (!q->fresh || !json_object_get(attrs, "RedrivePolicy"))
            continue;
        lmq_map *a = jmap(l, attrs, NULL, "RedrivePolicy");
        rc = a ? lmq_queue_set_attributes(l->env, q->name, a)
               : lmq__seterr(LMQ_ENOMEM, NULL);
        lmq_map_free(a);
    }
    for (size_t i = 0; rc == 0 && i < l->nq; i++) {
        struct patch p = {&l->qs[i]};
        if (l->qs[i].fresh)
            rc = lmq__store_write(l->env->store, patch_fn, &p);
    }
    return rc;
}

/* One pass over the dump in f: with dry, parse and prepare every line and
 * check the queues against the home, writing nothing; else load. */
static int
load_pass(lmq_env *env, FILE *f, uint64_t size, int flags, bool dry,
          lmq_progress_fn progress, void *arg, char **report)
{
    int rc = 0;
    struct load l = {0};
    l.env = env;
    l.dry = dry;
    json_t *head = NULL, *end = NULL;
    char *buf = NULL;
    size_t cap = 0, line = 0;
    uint64_t bytes = 0;
    ssize_t len;
    bool queues_done = false;
    if (!(l.ms = calloc(LOAD_BATCH, sizeof *l.ms))) {
        rc = lmq__seterr(LMQ_ENOMEM, NULL);
        goto out;
    }
    while (rc == 0 && (len = getline(&buf, &cap, f)) > 0) {
        line++;
        bytes += (uint64_t)len;
        json_error_t je;
        json_t *doc = json_loadb(buf, (size_t)len, 0, &je), *o;
        if (!json_is_object(doc)) {
            json_decref(doc);
            rc = lmq__seterr(LMQ_EINVAL, "dump line %zu is not a JSON "
                             "object: %s; nothing loaded", line, je.text);
            break;
        }
        if (line == 1) {
            json_t *v = json_object_get(doc, "lmq-dump");
            if (!json_is_integer(v) || json_integer_value(v) != DUMP_VERSION) {
                json_decref(doc);
                rc = lmq__seterr(LMQ_EVERSION, "not an lmq dump of version "
                                 "%d (first line)", DUMP_VERSION);
                break;
            }
            head = doc;
            l.region = json_string_value(json_object_get(doc, "region"));
            l.account = json_string_value(json_object_get(doc, "account"));
            if (!l.region || !l.account)
                rc = bad_line(line, "no region or account");
            continue;
        }
        if (end) {
            json_decref(doc);
            rc = bad_line(line, "lines after the end line");
            break;
        }
        if ((o = json_object_get(doc, "queue"))) {
            const char *n = json_string_value(json_object_get(o, "Name"));
            if (queues_done || !n || strlen(n) > LMQ_MAX_QUEUE_NAME ||
                find_lq(&l, n)) {
                json_decref(doc);
                rc = bad_line(line, "queue out of place, without a name or "
                                    "twice");
                break;
            }
            struct lq *nq = realloc(l.qs, (l.nq + 1) * sizeof *nq);
            if (!nq) {
                json_decref(doc);
                rc = lmq__seterr(LMQ_ENOMEM, NULL);
                break;
            }
            l.qs = nq;
            memset(&l.qs[l.nq], 0, sizeof *nq);
            snprintf(l.qs[l.nq].name, sizeof nq->name, "%s", n);
            l.qs[l.nq++].line = json_incref(o);
            json_decref(doc);
            continue;
        }
        if (!queues_done) { /* the first line after the queues */
            queues_done = true;
            if ((rc = load_queues(&l, flags)) != 0) {
                json_decref(doc);
                break;
            }
        }
        if ((o = json_object_get(doc, "message")))
            rc = prep_message(&l, o, line, &l.ms[l.nm]);
        else if ((o = json_object_get(doc, "dedup")))
            rc = prep_dedup(&l, o, line, &l.ms[l.nm]);
        else if (json_object_get(doc, "end"))
            end = json_incref(json_object_get(doc, "end"));
        else
            rc = bad_line(line, "neither a queue, a message, a dedup "
                                "record nor the end");
        json_decref(doc);
        if (rc) {
            lm_free(&l.ms[l.nm]);
            break;
        }
        if (!end && ++l.nm == LOAD_BATCH)
            rc = flush_batch(&l);
        if (progress && rc == 0 && !dry)
            progress(arg, bytes, size > bytes ? size : bytes);
    }
    if (rc == 0 && !queues_done)
        rc = load_queues(&l, flags);
    if (rc == 0)
        rc = flush_batch(&l);
    if (rc == 0 && !head)
        rc = lmq__seterr(LMQ_EINVAL, "empty dump");
    else if (rc == 0 && !end)
        rc = lmq__seterr(LMQ_EINVAL, "the dump ends without its end line "
                         "(truncated?); nothing loaded");
    else if (rc == 0 &&
             (uint64_t)jint(end, "Messages") != l.loaded)
        rc = lmq__seterr(LMQ_EINVAL, "the dump's end line counts %lld "
                         "messages, it held %llu; nothing loaded",
                         (long long)jint(end, "Messages"),
                         (unsigned long long)l.loaded);
    if (rc == 0 && report && !dry) {
        json_t *doc = json_pack("{s:I,s:I,s:I}", "Queues", (json_int_t)l.nq,
                                "Messages", (json_int_t)l.loaded,
                                "DedupRecords", (json_int_t)l.ndedup);
        json_t *created = json_array(), *merged = json_array();
        for (size_t i = 0; i < l.nq; i++)
            json_array_append_new(l.qs[i].fresh ? created : merged,
                                  json_string(l.qs[i].name));
        json_object_set_new(doc, "Created", created);
        json_object_set_new(doc, "Merged", merged);
        *report = json_dumps(doc, JSON_PRESERVE_ORDER | JSON_INDENT(2));
        json_decref(doc);
    }
out:
    for (size_t i = 0; l.ms && i < l.nm; i++)
        lm_free(&l.ms[i]);
    free(l.ms);
    for (size_t i = 0; i < l.nq; i++)
        json_decref(l.qs[i].line);
    free(l.qs);
    json_decref(head);
    json_decref(end);
    free(buf);
    return rc;
}

/* The dump is read twice: a checking pass that parses and prepares every
 * line and checks its queues against the home, writing nothing, then the
 * load. So a dump with a bad line, a truncated one, or one whose end line
 * disagrees is refused before anything changes. A dump that is not a
 * regular file (a pipe) is copied to an unlinked temporary file first. */
LMQ_API int
lmq_home_load(lmq_env *env, int fd, int flags, lmq_progress_fn progress,
              void *arg, char **report)
{
    int rc;
    if (report)
        *report = NULL;
    if ((rc = lmq__env_check(env)) != 0)
        return rc;
    if (fd < 0 || (flags & ~LMQ_LOAD_MERGE))
        return lmq__seterr(LMQ_EINVAL, "lmq_home_load: bad arguments");
    struct stat st;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    FILE *f = NULL;
    if (regular) {
        int dfd = dup(fd);
        if (dfd >= 0 && !(f = fdopen(dfd, "r")))
            close(dfd);
    } else if ((f = tmpfile())) {
        char chunk[65536];
        ssize_t n;
        while ((n = read(fd, chunk, sizeof chunk)) > 0)
            if (fwrite(chunk, 1, (size_t)n, f) != (size_t)n) {
                n = -1;
                break;
            }
        if (n < 0 || fflush(f) != 0) {
            fclose(f);
            return lmq__seterr(LMQ_EIO, "cannot copy the dump: %s",
                               strerror(errno));
        }
    }
    if (!f)
        return lmq__seterr(LMQ_EIO, "cannot read the dump: %s",
                           strerror(errno));
    off_t start = regular ? lseek(fileno(f), 0, SEEK_CUR) : 0;
    uint64_t size = regular ? (uint64_t)st.st_size : (uint64_t)ftello(f);
    if (!regular)
        rewind(f);
    rc = load_pass(env, f, size, flags, true, NULL, NULL, NULL);
    if (rc == 0) {
        if (fseeko(f, start < 0 ? 0 : start, SEEK_SET) != 0)
            rc = lmq__seterr(LMQ_EIO, "cannot reread the dump: %s",
                             strerror(errno));
        else
            rc = load_pass(env, f, size, flags, false, progress, arg, report);
    }
    fclose(f);
    return rc;
}
