/*
 * catalog.c: the queue catalogue: create / delete / URL / list, queue
 * attributes and tags, purge, handles, and the message counters.
 *
 * Layout: names (name -> qid) and qrec (qid -> record, see codec.c). Queue
 * ids come from meta "next_qid" and are never reused, so a handle or receipt
 * of a deleted queue can never reach a new queue of the same name. Every
 * per-queue database is keyed by the qid first, so deleting or purging a
 * queue is a range delete per database.
 *
 * Counters without scans: the record keeps n_visible / n_inflight /
 * n_delayed exact as of settled_ms. A message whose vis entry has
 * visible_at <= settled_ms is counted visible whatever state byte it
 * carries; one in the future is counted by its state byte (delayed or in
 * flight). Settling to `now` walks only the vis entries whose visible_at
 * crossed (settled_ms, now] since the last settle, so each message is walked
 * once per state change: amortised O(1). Reads settle a copy (no write).
 */
#include "core.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- records -------------------------------------------------------------- */

int
lmq__q_load(lmq_txn *t, uint32_t qid, bool maps, lmq_qrec *r)
{
    uint8_t k[4];
    lmq_val v;
    lmq__put_u32(k, qid);
    int rc = lmq__txn_get(t, LMQ_DB_QREC, k, 4, &v);
    if (rc == LMQ__NOTFOUND)
        return lmq__seterr(LMQ_ENOQUEUE, "The specified queue does not "
                                         "exist.");
    if (rc)
        return rc;
    return lmq__qrec_decode(v.data, v.len, maps, r);
}

static int
name_qid(lmq_txn *t, const char *name, uint32_t *qid)
{
    lmq_val v;
    size_t len = strlen(name);
    /* No queue has a longer name (and LMDB refuses keys over 511 bytes
     * with an error that is not "no such queue"). */
    if (len == 0 || len > LMQ_MAX_QUEUE_NAME)
        return lmq__seterr(LMQ_ENOQUEUE, "The specified queue does not "
                                         "exist.");
    int rc = lmq__txn_get(t, LMQ_DB_NAMES, name, len, &v);
    if (rc == LMQ__NOTFOUND)
        return lmq__seterr(LMQ_ENOQUEUE, "The specified queue does not "
                                         "exist.");
    if (rc)
        return rc;
    if (v.len != 4)
        return lmq__seterr(LMQ_ECORRUPT, "names: bad value");
    *qid = lmq__get_u32(v.data);
    return 0;
}

int
lmq__q_load_name(lmq_txn *t, const char *name, bool maps, lmq_qrec *r)
{
    uint32_t qid;
    int rc = name_qid(t, name, &qid);
    return rc ? rc : lmq__q_load(t, qid, maps, r);
}

int
lmq__q_save(lmq_txn *t, const lmq_qrec *r)
{
    uint8_t k[4], *buf;
    size_t len;
    lmq__put_u32(k, r->qid);
    int rc = lmq__qrec_encode(r, &buf, &len);
    if (rc)
        return rc;
    rc = lmq__txn_put(t, LMQ_DB_QREC, k, 4, buf, len);
    free(buf);
    return rc;
}

/* The stored bytes of queue qid's messages: a walk of its records. */
static int
count_stored(lmq_txn *t, uint32_t qid, uint64_t *bytes)
{
    uint8_t k[LMQ_MKEY_LEN];
    lmq_cur *c;
    lmq_val key, val;
    int rc = lmq__cur_open(t, LMQ_DB_MSG, &c);
    if (rc)
        return rc;
    *bytes = 0;
    lmq__mkey(k, qid, 0);
    for (rc = lmq__cur_seek(c, k, sizeof k, &key, &val); rc == 0;
         rc = lmq__cur_next(c, &key, &val)) {
        if (key.len != LMQ_MKEY_LEN || lmq__get_u32(key.data) != qid)
            break;
        *bytes += lmq__mrec_stored_size(val.data, val.len);
    }
    lmq__cur_close(c);
    return rc < 0 ? rc : 0;
}

int
lmq__q_upgrade_all(lmq_txn *t)
{
    static const uint8_t from[4] = {0};
    uint32_t *qids = NULL;
    size_t n = 0, cap = 0;
    lmq_cur *c;
    lmq_val key, val;
    /* The qids first: the records are rewritten (longer) after the walk. */
    int rc = lmq__cur_open(t, LMQ_DB_QREC, &c);
    if (rc)
        return rc;
    for (rc = lmq__cur_seek(c, from, sizeof from, &key, &val); rc == 0;
         rc = lmq__cur_next(c, &key, &val)) {
        if (key.len != 4)
            continue;
        if (n == cap) {
            uint32_t *nq = realloc(qids, (cap = cap ? cap * 2 : 64) *
                                             sizeof *qids);
            if (!nq) {
                rc = lmq__seterr(LMQ_ENOMEM, NULL);
                break;
            }
            qids = nq;
        }
        qids[n++] = lmq__get_u32(key.data);
    }
    lmq__cur_close(c);
    rc = rc < 0 ? rc : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        lmq_qrec r;
        if ((rc = lmq__q_load(t, qids[i], true, &r)) != 0)
            break;
        rc = count_stored(t, r.qid, &r.stored_bytes);
        /* Format 5 counted drops in the attribute map. */
        const char *d = lmq_map_get(r.attrs, "LmqDroppedMessages");
        if (rc == 0 && d) {
            r.m_dropped += strtoull(d, NULL, 10);
            rc = lmq_map_del(r.attrs, "LmqDroppedMessages") == LMQ_ENOMEM
                     ? LMQ_ENOMEM
                     : 0;
        }
        if (rc == 0)
            rc = lmq__q_save(t, &r);
        lmq__qrec_free(&r);
    }
    free(qids);
    return rc;
}

void
lmq__q_count(lmq_qrec *r, int state, int delta)
{
    switch (state) {
    case LMQ_MS_DELAYED:
        r->n_delayed += delta;
        break;
    case LMQ_MS_INFLIGHT:
        r->n_inflight += delta;
        break;
    default:
        r->n_visible += delta;
        break;
    }
}

int
lmq__q_settle(lmq_txn *t, lmq_qrec *r, int64_t now)
{
    if (now <= r->settled_ms)
        return 0;
    if (r->due_ms > 0 && now < r->due_ms) { /* nothing crossed: no walk */
        r->settled_ms = now;
        return 0;
    }
    uint8_t k[LMQ_VKEY_LEN];
    lmq_cur *c;
    lmq_val key, val;
    int rc = lmq__cur_open(t, LMQ_DB_VIS, &c);
    if (rc)
        return rc;
    int64_t due = INT64_MAX; /* nothing after now, unless found */
    lmq__vkey(k, r->qid, r->settled_ms + 1, 0);
    for (rc = lmq__cur_seek(c, k, sizeof k, &key, &val); rc == 0;
         rc = lmq__cur_next(c, &key, &val)) {
        if (key.len != LMQ_VKEY_LEN || lmq__get_u32(key.data) != r->qid)
            break;
        int64_t at = (int64_t)lmq__get_u64((const uint8_t *)key.data + 4);
        if (at > now) {
            due = at;
            break;
        }
        int st = val.len ? ((const uint8_t *)val.data)[0] : LMQ_MS_VISIBLE;
        if (st != LMQ_MS_VISIBLE) {
            lmq__q_count(r, st, -1);
            r->n_visible++;
        }
    }
    lmq__cur_close(c);
    if (rc < 0)
        return rc;
    r->settled_ms = now;
    r->due_ms = due;
    return 0;
}

/* ---- attributes ------------------------------------------------------------ */

enum akind { A_INT, A_BOOL, A_STR };

struct attrdef {
    const char *name;
    enum akind kind;
    long long lo, hi;
    bool fifo_only;
};

static const struct attrdef settable[] = {
    {"DelaySeconds", A_INT, 0, LMQ_MAX_DELAY, false},
    {"MaximumMessageSize", A_INT, LMQ_MIN_MSG_SIZE, LMQ_MAX_MSG_SIZE, false},
    {"MessageRetentionPeriod", A_INT, LMQ_MIN_RETENTION, LMQ_MAX_RETENTION,
     false},
    {"ReceiveMessageWaitTimeSeconds", A_INT, 0, LMQ_MAX_WAIT, false},
    {"VisibilityTimeout", A_INT, 0, LMQ_MAX_VISIBILITY, false},
    {"Policy", A_STR, 0, 0, false},
    {"RedrivePolicy", A_STR, 0, 0, false},
    {"RedriveAllowPolicy", A_STR, 0, 0, false},
    {"KmsMasterKeyId", A_STR, 0, 0, false},
    {"KmsDataKeyReusePeriodSeconds", A_INT, 60, 86400, false},
    {"SqsManagedSseEnabled", A_BOOL, 0, 0, false},
    {"FifoQueue", A_BOOL, 0, 0, true},
    {"ContentBasedDeduplication", A_BOOL, 0, 0, true},
    {"DeduplicationScope", A_STR, 0, 0, true},
    {"FifoThroughputLimit", A_STR, 0, 0, true},
    /* lmq's own (docs/DURABILITY.md, "Full disks and limits"): the Lmq
     * prefix is one no SQS attribute has. */
    {"LmqMaximumMessages", A_INT, 0, 1000000000000ll, false},
    {"LmqMaximumBytes", A_INT, 0, LMQ_MAX_QUEUE_BYTES, false},
    {"LmqOverLimitPolicy", A_STR, 0, 0, false},
};

static const char *const readonly_attrs[] = {
    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp",
    "LastModifiedTimestamp", "QueueArn", "LmqDroppedMessages",
    "LmqStoredBytes", NULL,
};

static const struct attrdef *
find_attr(const char *name)
{
    for (size_t i = 0; i < sizeof settable / sizeof settable[0]; i++)
        if (strcmp(settable[i].name, name) == 0)
            return &settable[i];
    return NULL;
}

static int
bad_value(const char *name, const char *reason)
{
    return lmq__seterr(LMQ_EATTRVALUE, "Invalid value for the parameter %s.%s%s",
                       name, reason ? " Reason: " : "", reason ? reason : "");
}

/* Apply one attribute to r (a copy being built). creating: CreateQueue. */
static int
apply_attr(lmq_txn *t, lmq_env *env, lmq_qrec *r, const char *name,
           const char *value, bool creating)
{
    const struct attrdef *d = find_attr(name);
    long long n = 0;
    if (!d || (d->fifo_only && !r->fifo)) {
        if (d && strcmp(name, "DeduplicationScope") == 0)
            return lmq__seterr(LMQ_EATTRNAME, "You can specify the "
                               "DeduplicationScope only when FifoQueue is "
                               "set to true.");
        if (d && strcmp(name, "FifoThroughputLimit") == 0)
            return lmq__seterr(LMQ_EATTRNAME, "You can specify the "
                               "FifoThroughputLimit only when FifoQueue is "
                               "set to true.");
        return lmq__seterr(LMQ_EATTRNAME, "Unknown Attribute %s.", name);
    }
    if (d->kind == A_INT) {
        if (lmq__parse_int(value, d->lo, d->hi, &n) != 0)
            return bad_value(name, NULL);
    } else if (d->kind == A_BOOL) {
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
            return bad_value(name, NULL);
        n = value[0] == 't';
    }
    if (strcmp(name, "DelaySeconds") == 0)
        r->delay = (uint32_t)n;
    else if (strcmp(name, "MaximumMessageSize") == 0)
        r->max_size = (uint32_t)n;
    else if (strcmp(name, "MessageRetentionPeriod") == 0) {
        r->retention = (uint32_t)n;
        r->sweep_ms = 0; /* expiry times moved */
    }
    else if (strcmp(name, "ReceiveMessageWaitTimeSeconds") == 0)
        r->wait = (uint32_t)n;
    else if (strcmp(name, "VisibilityTimeout") == 0)
        r->visibility_timeout = (uint32_t)n;
    else if (strcmp(name, "FifoQueue") == 0) {
        if (!n)
            return bad_value(name, "Modifying queue type is not supported.");
    } else if (strcmp(name, "ContentBasedDeduplication") == 0)
        r->content_dedup = n;
    else if (strcmp(name, "DeduplicationScope") == 0) {
        if (strcmp(value, "queue") == 0)
            r->dedup_scope_group = false;
        else if (strcmp(value, "messageGroup") == 0)
            r->dedup_scope_group = true;
        else
            return bad_value(name, NULL);
    } else if (strcmp(name, "FifoThroughputLimit") == 0) {
        if (strcmp(value, "perQueue") == 0)
            r->throughput_per_group = false;
        else if (strcmp(value, "perMessageGroupId") == 0)
            r->throughput_per_group = true;
        else
            return bad_value(name, NULL);
    } else if (strcmp(name, "LmqMaximumMessages") == 0 ||
               strcmp(name, "LmqMaximumBytes") == 0) {
        /* 0 (or "") removes the limit */
        if (n == 0)
            return lmq_map_del(r->attrs, name) == LMQ_ENOMEM ? LMQ_ENOMEM : 0;
        return lmq_map_set(r->attrs, name, value);
    } else if (strcmp(name, "LmqOverLimitPolicy") == 0) {
        if (strcmp(value, "refuse") != 0 && strcmp(value, "drop-oldest") != 0)
            return bad_value(name, "Use refuse or drop-oldest.");
        return lmq_map_set(r->attrs, name, value);
    } else if (strcmp(name, "RedrivePolicy") == 0 ||
               strcmp(name, "RedriveAllowPolicy") == 0) {
        char *norm = NULL;
        int rc = lmq__redrive_attr(t, env, r, name, value, &norm);
        if (rc)
            return rc;
        if (norm == NULL)
            return lmq_map_del(r->attrs, name) == LMQ_ENOMEM ? LMQ_ENOMEM : 0;
        rc = lmq_map_set(r->attrs, name, norm);
        free(norm);
        return rc;
    }
    (void)creating;
    /* Verbatim string attributes live in the attrs map; "" removes the
     * optional ones (Policy, KMS), as SQS does. */
    if (d->kind == A_STR && strcmp(name, "DeduplicationScope") != 0 &&
        strcmp(name, "FifoThroughputLimit") != 0) {
        if (value[0] == '\0') {
            lmq_map_del(r->attrs, name);
            return 0;
        }
        /* Returned in XML answers: only characters XML (and SQS) allow. */
        if (lmq__valid_chars(value, strlen(value)))
            return bad_value(name, NULL);
        return lmq_map_set(r->attrs, name, value);
    }
    if (strcmp(name, "KmsDataKeyReusePeriodSeconds") == 0 ||
        strcmp(name, "SqsManagedSseEnabled") == 0)
        return lmq_map_set(r->attrs, name, value);
    return 0;
}

/* Checks across attributes, after all were applied. */
static int
check_combination(const lmq_qrec *r)
{
    if (r->throughput_per_group && !r->dedup_scope_group)
        return lmq__seterr(LMQ_EATTRVALUE,
                           "Invalid value for the parameter "
                           "FifoThroughputLimit. Reason: perMessageGroupId is "
                           "only available when DeduplicationScope is "
                           "messageGroup.");
    const char *sse = lmq_map_get(r->attrs, "SqsManagedSseEnabled");
    if (sse && strcmp(sse, "true") == 0 &&
        lmq_map_get(r->attrs, "KmsMasterKeyId"))
        return lmq__seterr(LMQ_EATTRNAME,
                           "You can use one type of server-side encryption "
                           "(SSE) at one time. You can either enable KMS SSE "
                           "or SQS SSE.");
    return 0;
}

/* Reject unknown and read-only attribute names before any transaction. */
static int
check_names(const lmq_map *attrs)
{
    for (size_t i = 0; i < lmq_map_count(attrs); i++) {
        const char *k;
        lmq_map_at(attrs, i, &k, NULL);
        if (!find_attr(k))
            return lmq__seterr(LMQ_EATTRNAME, "Unknown Attribute %s.", k);
    }
    return 0;
}

/* Validate a tag set as stored on a queue (each tag, and the count). */
static int
check_tags(const lmq_map *tags)
{
    for (size_t i = 0; i < lmq_map_count(tags); i++) {
        const char *k, *v;
        lmq_map_at(tags, i, &k, &v);
        int rc = lmq__valid_tag(k, v);
        if (rc)
            return rc;
    }
    if (lmq_map_count(tags) > LMQ_MAX_TAGS)
        return lmq__seterr(LMQ_EINVAL, "Too many tags: a queue can have at "
                                       "most %d.", LMQ_MAX_TAGS);
    return 0;
}

static int
apply_all(lmq_txn *t, lmq_env *env, lmq_qrec *r, const lmq_map *attrs,
          bool creating)
{
    for (size_t i = 0; i < lmq_map_count(attrs); i++) {
        const char *k, *v;
        lmq_map_at(attrs, i, &k, &v);
        if (creating && strcmp(k, "FifoQueue") == 0)
            continue; /* decided by the caller from the name */
        int rc = apply_attr(t, env, r, k, v, creating);
        if (rc)
            return rc;
    }
    int rc = check_combination(r);
    return rc ? rc : lmq__seal_config(t, env, r, attrs, creating);
}

static int
set_i64(lmq_map *m, const char *k, long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    return lmq_map_set(m, k, b);
}

/* The value of attribute `name` as GetQueueAttributes prints it (after a
 * settle of r to now); NULL if it does not apply. Writes into m. */
static int
attr_all(lmq_env *env, const lmq_qrec *r, lmq_map *m)
{
    int rc = 0;
    char *arn = lmq__arn(env, r->name);
    if (!arn)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    rc |= set_i64(m, "ApproximateNumberOfMessages", r->n_visible);
    rc |= set_i64(m, "ApproximateNumberOfMessagesDelayed", r->n_delayed);
    rc |= set_i64(m, "ApproximateNumberOfMessagesNotVisible", r->n_inflight);
    rc |= set_i64(m, "CreatedTimestamp", r->created_ms / 1000);
    rc |= set_i64(m, "DelaySeconds", r->delay);
    rc |= set_i64(m, "LastModifiedTimestamp", r->modified_ms / 1000);
    rc |= set_i64(m, "MaximumMessageSize", r->max_size);
    rc |= set_i64(m, "MessageRetentionPeriod", r->retention);
    rc |= lmq_map_set(m, "QueueArn", arn);
    rc |= set_i64(m, "ReceiveMessageWaitTimeSeconds", r->wait);
    rc |= set_i64(m, "VisibilityTimeout", r->visibility_timeout);
    /* lmq's own read-only ones: drops once there were any (as before
     * format 6, when they lived in the attribute map), the stored bytes
     * when a byte limit applies (attr_get: whenever asked for). */
    if (r->m_dropped)
        rc |= set_i64(m, "LmqDroppedMessages", (long long)r->m_dropped);
    rc |= set_i64(m, "LmqStoredBytes", (long long)r->stored_bytes);
    free(arn);
    for (size_t i = 0; i < lmq_map_count(r->attrs); i++) {
        const char *k, *v;
        lmq_map_at(r->attrs, i, &k, &v);
        if (strcmp(k, "KmsMasterKeyId") == 0 && r->seal_kind != LMQ_SEAL_KMS)
            continue; /* set by an lmq that did not seal: not in use */
        rc |= lmq_map_set(m, k, v);
    }
    /* Never claims encryption that is not happening: the record's key
     * decides (seal.c), whatever was asked. */
    rc |= lmq_map_set(m, "SqsManagedSseEnabled",
                      r->seal_kind == LMQ_SEAL_SQS ? "true" : "false");
    if (r->fifo) {
        rc |= lmq_map_set(m, "FifoQueue", "true");
        rc |= lmq_map_set(m, "ContentBasedDeduplication",
                          r->content_dedup ? "true" : "false");
        rc |= lmq_map_set(m, "DeduplicationScope",
                          r->dedup_scope_group ? "messageGroup" : "queue");
        rc |= lmq_map_set(m, "FifoThroughputLimit",
                          r->throughput_per_group ? "perMessageGroupId"
                                                  : "perQueue");
    }
    return rc ? lmq__seterr(LMQ_ENOMEM, NULL) : 0;
}

static bool
known_attr(const char *name)
{
    if (find_attr(name))
        return true;
    for (size_t i = 0; readonly_attrs[i]; i++)
        if (strcmp(readonly_attrs[i], name) == 0)
            return true;
    return false;
}

/* ---- create ------------------------------------------------------------------- */

struct create_ctx {
    lmq_env *env;
    const char *name;
    const lmq_map *attrs;
    const lmq_map *tags;
    bool fifo;
};

/* Does every supplied attribute match the existing queue's value? */
static int
same_attrs(lmq_txn *t, struct create_ctx *c, const lmq_qrec *old)
{
    lmq_qrec probe = *old;
    int rc;
    probe.attrs = NULL;
    probe.tags = NULL;
    if ((rc = lmq__map_dup(old->attrs, &probe.attrs)) != 0)
        return rc;
    rc = apply_all(t, c->env, &probe, c->attrs, true);
    if (rc == 0) {
        lmq_map *a = lmq_map_new(), *b = lmq_map_new();
        if (!a || !b)
            rc = lmq__seterr(LMQ_ENOMEM, NULL);
        if (!rc)
            rc = attr_all(c->env, old, a);
        if (!rc)
            rc = attr_all(c->env, &probe, b);
        for (size_t i = 0; !rc && i < lmq_map_count(c->attrs); i++) {
            const char *k, *v;
            lmq_map_at(c->attrs, i, &k, &v);
            const char *va = lmq_map_get(a, k), *vb = lmq_map_get(b, k);
            bool eq = (!va && !vb) || (va && vb && strcmp(va, vb) == 0);
            if (!eq)
                rc = lmq__seterr(LMQ_EQUEUEEXISTS,
                                 "A queue already exists with the same name "
                                 "and a different value for attribute %s",
                                 k);
        }
        lmq_map_free(a);
        lmq_map_free(b);
    }
    lmq_map_free(probe.attrs);
    return rc;
}

static int
create_fn(lmq_txn *t, void *arg)
{
    struct create_ctx *c = arg;
    int64_t now = lmq__now(c->env);
    lmq_qrec r;
    lmq_val v;
    int rc = lmq__q_load_name(t, c->name, true, &r);
    if (rc == 0) {
        rc = r.fifo == c->fifo ? same_attrs(t, c, &r)
                               : lmq__seterr(LMQ_EQUEUEEXISTS,
                                             "A queue already exists with the "
                                             "same name and a different value "
                                             "for attribute FifoQueue");
        lmq__qrec_free(&r);
        return rc;
    }
    if (rc != LMQ_ENOQUEUE)
        return rc;
    rc = lmq__txn_get(t, LMQ_DB_TOMBS, c->name, strlen(c->name), &v);
    if (rc < 0)
        return rc;
    if (rc == 0 && v.len == 8 &&
        now - (int64_t)lmq__get_u64(v.data) < LMQ_QUEUE_REUSE_MS)
        return lmq__seterr(LMQ_EDELETEDRECENTLY,
                           "You must wait 60 seconds after deleting a queue "
                           "before you can create another with the same "
                           "name.");

    uint32_t qid = 1;
    rc = lmq__txn_get(t, LMQ_DB_META, "next_qid", 8, &v);
    if (rc < 0)
        return rc;
    if (rc == 0 && v.len == 4)
        qid = lmq__get_u32(v.data);

    lmq__qrec_init(&r);
    r.qid = qid;
    r.fifo = c->fifo;
    r.created_ms = r.modified_ms = now;
    r.settled_ms = now;
    snprintf(r.name, sizeof r.name, "%s", c->name);
    r.attrs = lmq_map_new();
    r.tags = NULL;
    if (!r.attrs)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    rc = apply_all(t, c->env, &r, c->attrs, true);
    if (rc == 0)
        rc = lmq__map_dup(c->tags, &r.tags);
    if (rc == 0)
        rc = check_tags(r.tags);
    uint8_t k4[4], next[4];
    lmq__put_u32(k4, qid);
    lmq__put_u32(next, qid + 1);
    if (rc == 0)
        rc = lmq__q_save(t, &r);
    if (rc == 0)
        rc = lmq__txn_put(t, LMQ_DB_NAMES, c->name, strlen(c->name), k4, 4);
    if (rc == 0)
        rc = lmq__txn_put(t, LMQ_DB_META, "next_qid", 8, next, 4);
    if (rc == 0) {
        rc = lmq__txn_del(t, LMQ_DB_TOMBS, c->name, strlen(c->name));
        rc = rc == LMQ__NOTFOUND ? 0 : rc;
    }
    lmq__qrec_free(&r);
    return rc;
}

LMQ_API int
lmq_queue_create(lmq_env *env, const char *name, const lmq_map *attrs,
                 const lmq_map *tags, char **url_out)
{
    int rc = lmq__env_check(env);
    if (url_out)
        *url_out = NULL;
    if (rc)
        return rc;
    if (!name || !*name)
        return lmq__seterr(LMQ_EMISSING, "The request must contain the "
                                         "parameter QueueName.");
    const char *fq = lmq_map_get(attrs, "FifoQueue");
    bool fifo = fq && strcmp(fq, "true") == 0;
    size_t nl = strlen(name);
    bool fifo_name = nl >= 5 && strcmp(name + nl - 5, ".fifo") == 0;
    if (fq && !fifo && strcmp(fq, "false") != 0)
        return bad_value("FifoQueue", NULL);
    if (fq && !fifo && !fifo_name)
        return lmq__seterr(LMQ_EATTRNAME, "Unknown Attribute FifoQueue.");
    if (fifo && !fifo_name)
        return lmq__seterr(LMQ_EINVAL,
                           "The name of a FIFO queue can only include "
                           "alphanumeric characters, hyphens, or underscores, "
                           "must end with .fifo suffix and be 1 to 80 in "
                           "length.");
    if ((rc = lmq__valid_queue_name(name, fifo)) != 0)
        return rc;
    if ((rc = check_names(attrs)) != 0)
        return rc;
    struct create_ctx c = {env, name, attrs, tags, fifo};
    rc = lmq__store_write(env->store, create_fn, &c);
    if (rc == 0 && url_out) {
        *url_out = lmq__url(env, name);
        if (!*url_out)
            rc = lmq__seterr(LMQ_ENOMEM, NULL);
    }
    return rc;
}

/* ---- delete and purge ------------------------------------------------------------ */

/* Per-queue databases, all keyed (qid, ...). */
static const int qdbs[] = {LMQ_DB_MSG,     LMQ_DB_HDR,    LMQ_DB_VIS,
                           LMQ_DB_GROUPS,  LMQ_DB_GREADY, LMQ_DB_DEDUP,
                           LMQ_DB_ATTEMPT, LMQ_DB_METRICS};

static int
drop_messages(lmq_txn *t, uint32_t qid, bool all)
{
    uint8_t lo[4], hi[4];
    lmq__put_u32(lo, qid);
    lmq__put_u32(hi, qid + 1);
    size_t n = sizeof qdbs / sizeof qdbs[0];
    for (size_t i = 0; i < n; i++) {
        /* A purge keeps the dedup window: SQS deduplicates against
         * messages that were deleted, and a purge deletes. */
        if (!all && qdbs[i] == LMQ_DB_DEDUP)
            continue;
        /* Nor does it reset the metrics: CloudWatch's history of a queue
         * survives a PurgeQueue, and so do the record's totals. */
        if (!all && qdbs[i] == LMQ_DB_METRICS)
            continue;
        int rc = lmq__txn_del_range(t, qdbs[i], lo, 4, hi, 4, NULL);
        if (rc)
            return rc;
    }
    return 0;
}

struct name_ctx {
    lmq_env *env;
    const char *name;
    const void *arg;
    void *out;
    uint32_t qid;
};

static int
delete_fn(lmq_txn *t, void *arg)
{
    struct name_ctx *c = arg;
    lmq_qrec r;
    uint8_t k4[4], ts[8];
    int rc = lmq__q_load_name(t, c->name, false, &r);
    if (rc)
        return rc;
    c->qid = r.qid;
    lmq__put_u32(k4, r.qid);
    lmq__put_u64(ts, (uint64_t)lmq__now(c->env));
    if ((rc = drop_messages(t, r.qid, true)) ||
        (rc = lmq__txn_del(t, LMQ_DB_QREC, k4, 4)) < 0 ||
        (rc = lmq__txn_del(t, LMQ_DB_NAMES, c->name, strlen(c->name))) < 0 ||
        (rc = lmq__txn_put(t, LMQ_DB_TOMBS, c->name, strlen(c->name), ts, 8)))
        return rc;
    return 0;
}

LMQ_API int
lmq_queue_delete(lmq_env *env, const char *name)
{
    int rc = lmq__env_check(env);
    if (rc)
        return rc;
    if (!name || !*name)
        return lmq__seterr(LMQ_EMISSING, "The request must contain the "
                                         "parameter QueueUrl.");
    struct name_ctx c = {env, name, NULL, NULL, 0};
    rc = lmq__store_write_free(env->store, delete_fn, &c);
    if (rc == 0)
        lmq__wake(env, c.qid, UINT32_MAX); /* its waiters must notice */
    return rc;
}

/* Reset: every database but meta is dropped whole. The per-queue ones
 * (and qrec, tasks) are keyed by qid first and names/tombs by queue names
 * (ASCII), so [0x00, 0xff...) covers every key; meta keeps the secret,
 * the format version and next_qid (ids are never reused). */
static const int reset_dbs[] = {LMQ_DB_NAMES,  LMQ_DB_QREC,   LMQ_DB_TOMBS,
                                LMQ_DB_MSG,    LMQ_DB_HDR,    LMQ_DB_VIS,
                                LMQ_DB_GROUPS, LMQ_DB_GREADY, LMQ_DB_DEDUP,
                                LMQ_DB_ATTEMPT, LMQ_DB_TASKS, LMQ_DB_METRICS};

struct reset_ctx {
    size_t deleted;
};

static int
reset_fn(lmq_txn *t, void *arg)
{
    struct reset_ctx *c = arg;
    static const uint8_t lo[1] = {0};
    uint8_t hi[16];
    memset(hi, 0xff, sizeof hi);
    c->deleted = 0;
    for (size_t i = 0; i < sizeof reset_dbs / sizeof reset_dbs[0]; i++) {
        uint64_t n = 0;
        int rc = lmq__txn_del_range(t, reset_dbs[i], lo, sizeof lo, hi,
                                    sizeof hi, &n);
        if (rc)
            return rc;
        if (reset_dbs[i] == LMQ_DB_NAMES)
            c->deleted = (size_t)n;
    }
    return 0;
}

LMQ_API int
lmq_env_reset(lmq_env *env, size_t *deleted)
{
    int rc = lmq__env_check(env);
    if (deleted)
        *deleted = 0;
    if (rc)
        return rc;
    struct reset_ctx c = {0};
    if ((rc = lmq__store_write_free(env->store, reset_fn, &c)) != 0)
        return rc;
    /* Waiters of every queue must notice theirs is gone. */
    lmq__wake_all(env);
    if (deleted)
        *deleted = c.deleted;
    return 0;
}

static int
purge_fn(lmq_txn *t, void *arg)
{
    struct name_ctx *c = arg;
    lmq_qrec r;
    int64_t now = lmq__now(c->env);
    int rc = lmq__q_load_name(t, c->name, false, &r);
    if (rc)
        return rc;
    if (r.last_purge_ms && now - r.last_purge_ms < LMQ_PURGE_WINDOW_MS)
        return lmq__seterr(LMQ_EPURGEINPROGRESS,
                           "Only one PurgeQueue operation on %s is allowed "
                           "every 60 seconds.",
                           r.name);
    if ((rc = drop_messages(t, r.qid, false)) != 0)
        return rc;
    /* The sum is the same settled or not: settling moves between them. */
    r.m_purged += (uint64_t)(r.n_visible + r.n_inflight + r.n_delayed);
    r.stored_bytes = 0;
    r.n_visible = r.n_inflight = r.n_delayed = 0;
    r.settled_ms = now;
    r.due_ms = r.sweep_ms = 0;
    r.last_purge_ms = now;
    return lmq__q_save(t, &r);
}

LMQ_API int
lmq_queue_purge(lmq_env *env, const char *name)
{
    int rc = lmq__env_check(env);
    if (rc)
        return rc;
    if (!name)
        return lmq__seterr(LMQ_EMISSING, "The request must contain the "
                                         "parameter QueueUrl.");
    struct name_ctx c = {env, name, NULL, NULL, 0};
    return lmq__store_write_free(env->store, purge_fn, &c);
}

/* ---- URL and list ------------------------------------------------------------------ */

static int
exists_fn(lmq_txn *t, void *arg)
{
    uint32_t qid;
    return name_qid(t, ((struct name_ctx *)arg)->name, &qid);
}

LMQ_API int
lmq_queue_url(lmq_env *env, const char *name, char **url_out)
{
    int rc = lmq__env_check(env);
    if (url_out)
        *url_out = NULL;
    if (rc)
        return rc;
    if (!name || !url_out)
        return lmq__seterr(LMQ_EINVAL, "name and url_out are required");
    struct name_ctx c = {env, name, NULL, NULL, 0};
    if ((rc = lmq__store_read(env->store, exists_fn, &c)) != 0)
        return rc;
    *url_out = lmq__url(env, name);
    return *url_out ? 0 : lmq__seterr(LMQ_ENOMEM, NULL);
}

LMQ_API void
lmq_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

struct list_ctx {
    const char *prefix;
    int max;
    const char *after; /* decoded token: list names > after */
    char **names;
    size_t n;
    bool more;
};

static int
list_fn(lmq_txn *t, void *arg)
{
    struct list_ctx *c = arg;
    lmq_cur *cur;
    lmq_val k, v;
    size_t pl = c->prefix ? strlen(c->prefix) : 0;
    int limit = c->max > 0 ? c->max : 1000;
    int rc = lmq__cur_open(t, LMQ_DB_NAMES, &cur);
    if (rc)
        return rc;
    const char *start = c->after ? c->after : (c->prefix ? c->prefix : "");
    c->names = calloc((size_t)limit + 1, sizeof *c->names);
    if (!c->names) {
        lmq__cur_close(cur);
        return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    for (rc = lmq__cur_seek(cur, start, strlen(start), &k, &v); rc == 0;
         rc = lmq__cur_next(cur, &k, &v)) {
        if (c->after && k.len == strlen(c->after) &&
            memcmp(k.data, c->after, k.len) == 0)
            continue;
        if (pl && (k.len < pl || memcmp(k.data, c->prefix, pl) != 0))
            break;
        if ((int)c->n == limit) {
            c->more = true;
            break;
        }
        c->names[c->n] = strndup(k.data, k.len);
        if (!c->names[c->n]) {
            rc = lmq__seterr(LMQ_ENOMEM, NULL);
            break;
        }
        c->n++;
    }
    lmq__cur_close(cur);
    return rc < 0 ? rc : 0;
}

LMQ_API int
lmq_queue_list(lmq_env *env, const char *prefix, int max_results,
               const char *next_token, char ***names, char **next_token_out)
{
    int rc = lmq__env_check(env);
    char after[128];
    if (names)
        *names = NULL;
    if (next_token_out)
        *next_token_out = NULL;
    if (rc)
        return rc;
    if (!names)
        return lmq__seterr(LMQ_EINVAL, "names is NULL");
    if (max_results < 0 || max_results > 1000)
        return lmq__seterr(LMQ_EINVAL,
                           "Value %d for parameter MaxResults is invalid. "
                           "Reason: MaxResults must be an integer between 1 "
                           "and 1000.",
                           max_results);
    struct list_ctx c = {prefix, max_results, NULL, NULL, 0, false};
    if (next_token && *next_token) {
        size_t bl = 0;
        if (sodium_base642bin((unsigned char *)after, sizeof after - 1,
                              next_token, strlen(next_token), NULL, &bl, NULL,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
            bl == 0)
            return lmq__seterr(LMQ_EINVAL, "Invalid NextToken value.");
        after[bl] = '\0';
        c.after = after;
    }
    rc = lmq__store_read(env->store, list_fn, &c);
    if (rc) {
        lmq_strv_free(c.names);
        return rc;
    }
    if (c.more && max_results > 0 && next_token_out && c.n > 0) {
        const char *last = c.names[c.n - 1];
        size_t ln = strlen(last);
        size_t tl = sodium_base64_encoded_len(
            ln, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        *next_token_out = malloc(tl);
        if (!*next_token_out) {
            lmq_strv_free(c.names);
            return lmq__seterr(LMQ_ENOMEM, NULL);
        }
        sodium_bin2base64(*next_token_out, tl, (const unsigned char *)last,
                          ln, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    }
    *names = c.names;
    return 0;
}

/* ---- get / set attributes ---------------------------------------------------------- */

struct attr_ctx {
    lmq_env *env;
    const char *name;
    const char *const *names;
    const lmq_map *in;
    lmq_map *out;
    uint32_t qid;
};

static int
get_attrs_fn(lmq_txn *t, void *arg)
{
    struct attr_ctx *c = arg;
    lmq_qrec r;
    int rc = lmq__q_load_name(t, c->name, true, &r);
    if (rc)
        return rc;
    rc = lmq__q_settle(t, &r, lmq__now(c->env));
    lmq_map *all = lmq_map_new();
    if (!all)
        rc = lmq__seterr(LMQ_ENOMEM, NULL);
    if (!rc)
        rc = attr_all(c->env, &r, all);
    lmq__qrec_free(&r);
    if (rc) {
        lmq_map_free(all);
        return rc;
    }
    bool want_all = false;
    for (size_t i = 0; c->names && c->names[i]; i++)
        if (strcmp(c->names[i], "All") == 0)
            want_all = true;
    if (want_all) {
        /* All lists LmqStoredBytes only for a queue with a byte limit, so
         * an SQS client's All stays SQS's list for queues without one. */
        if (!lmq_map_get(all, "LmqMaximumBytes"))
            lmq_map_del(all, "LmqStoredBytes");
        c->out = all;
        return 0;
    }
    for (size_t i = 0; c->names && c->names[i]; i++) {
        const char *v = lmq_map_get(all, c->names[i]);
        if (v && (rc = lmq_map_set(c->out, c->names[i], v)) != 0)
            break;
    }
    lmq_map_free(all);
    return rc;
}

LMQ_API int
lmq_queue_get_attributes(lmq_env *env, const char *name,
                         const char *const *names, lmq_map **out)
{
    int rc = lmq__env_check(env);
    if (out)
        *out = NULL;
    if (rc)
        return rc;
    if (!name || !out)
        return lmq__seterr(LMQ_EINVAL, "name and out are required");
    for (size_t i = 0; names && names[i]; i++)
        if (strcmp(names[i], "All") != 0 && !known_attr(names[i]))
            return lmq__seterr(LMQ_EATTRNAME, "Unknown Attribute %s.",
                               names[i]);
    struct attr_ctx c = {env, name, names, NULL, lmq_map_new(), 0};
    if (!c.out)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    lmq_map *mine = c.out;
    rc = lmq__store_read(env->store, get_attrs_fn, &c);
    if (c.out != mine)
        lmq_map_free(mine);
    if (rc) {
        lmq_map_free(c.out);
        return rc;
    }
    *out = c.out;
    return 0;
}

static int
set_attrs_fn(lmq_txn *t, void *arg)
{
    struct attr_ctx *c = arg;
    lmq_qrec r;
    int rc = lmq__q_load_name(t, c->name, true, &r);
    if (rc)
        return rc;
    uint32_t old_delay = r.delay;
    if (!r.attrs && !(r.attrs = lmq_map_new()))
        rc = lmq__seterr(LMQ_ENOMEM, NULL);
    if (!rc)
        rc = apply_all(t, c->env, &r, c->in, false);
    if (!rc) {
        int64_t now = lmq__now(c->env);
        rc = lmq__q_settle(t, &r, now);
        r.modified_ms = now;
        c->qid = r.qid;
        /* FIFO: a delay change applies to messages already queued. */
        if (!rc && r.fifo && r.delay != old_delay)
            rc = lmq__fifo_on_delay_change(t, &r, old_delay, now);
    }
    if (!rc)
        rc = lmq__q_save(t, &r);
    lmq__qrec_free(&r);
    return rc;
}

LMQ_API int
lmq_queue_set_attributes(lmq_env *env, const char *name, const lmq_map *attrs)
{
    int rc = lmq__env_check(env);
    if (rc)
        return rc;
    if (!name)
        return lmq__seterr(LMQ_EINVAL, "name is required");
    if ((rc = check_names(attrs)) != 0)
        return rc;
    struct attr_ctx c = {env, name, NULL, attrs, NULL, 0};
    rc = lmq__store_write(env->store, set_attrs_fn, &c);
    /* A shorter wait or a FIFO delay change may matter to waiters. */
    if (rc == 0)
        lmq__wake(env, c.qid, UINT32_MAX);
    return rc;
}

/* ---- tags ------------------------------------------------------------------------------ */

struct tag_ctx {
    lmq_env *env;
    const char *name;
    const lmq_map *add;
    const char *const *del;
    lmq_map *out;
};

static int
tag_fn(lmq_txn *t, void *arg)
{
    struct tag_ctx *c = arg;
    lmq_qrec r;
    int rc = lmq__q_load_name(t, c->name, true, &r);
    if (rc)
        return rc;
    if (!r.tags && !(r.tags = lmq_map_new()))
        rc = lmq__seterr(LMQ_ENOMEM, NULL);
    for (size_t i = 0; !rc && i < lmq_map_count(c->add); i++) {
        const char *k, *v;
        lmq_map_at(c->add, i, &k, &v);
        rc = lmq_map_set(r.tags, k, v);
    }
    for (size_t i = 0; !rc && c->del && c->del[i]; i++) {
        if (!*c->del[i])
            rc = lmq__seterr(LMQ_EINVAL, "Tag keys must not be empty.");
        else
            lmq_map_del(r.tags, c->del[i]);
    }
    if (!rc)
        rc = check_tags(r.tags);
    if (!rc)
        rc = lmq__q_save(t, &r);
    lmq__qrec_free(&r);
    return rc;
}

LMQ_API int
lmq_queue_tag(lmq_env *env, const char *name, const lmq_map *tags)
{
    int rc = lmq__env_check(env);
    if (rc)
        return rc;
    if (!name)
        return lmq__seterr(LMQ_EINVAL, "name is required");
    if (lmq_map_count(tags) == 0)
        return lmq__seterr(LMQ_EMISSING, "The request must contain the "
                                         "parameter Tags.");
    struct tag_ctx c = {env, name, tags, NULL, NULL};
    return lmq__store_write(env->store, tag_fn, &c);
}

LMQ_API int
lmq_queue_untag(lmq_env *env, const char *name, const char *const *keys)
{
    int rc = lmq__env_check(env);
    if (rc)
        return rc;
    if (!name)
        return lmq__seterr(LMQ_EINVAL, "name is required");
    if (!keys || !keys[0])
        return lmq__seterr(LMQ_EMISSING, "The request must contain the "
                                         "parameter TagKeys.");
    struct tag_ctx c = {env, name, NULL, keys, NULL};
    return lmq__store_write(env->store, tag_fn, &c);
}

static int
tags_get_fn(lmq_txn *t, void *arg)
{
    struct tag_ctx *c = arg;
    lmq_qrec r;
    int rc = lmq__q_load_name(t, c->name, true, &r);
    if (rc)
        return rc;
    rc = lmq__map_dup(r.tags, &c->out);
    lmq__qrec_free(&r);
    return rc;
}

LMQ_API int
lmq_queue_tags(lmq_env *env, const char *name, lmq_map **out)
{
    int rc = lmq__env_check(env);
    if (out)
        *out = NULL;
    if (rc)
        return rc;
    if (!name || !out)
        return lmq__seterr(LMQ_EINVAL, "name and out are required");
    struct tag_ctx c = {env, name, NULL, NULL, NULL};
    rc = lmq__store_read(env->store, tags_get_fn, &c);
    if (rc)
        return rc;
    *out = c.out;
    return 0;
}

/* ---- handles ---------------------------------------------------------------------------- */

static int
open_fn(lmq_txn *t, void *arg)
{
    lmq_queue *q = arg;
    lmq_qrec r;
    int rc = lmq__q_load_name(t, q->name, false, &r);
    if (rc)
        return rc;
    q->qid = r.qid;
    q->fifo = r.fifo;
    return 0;
}

LMQ_API int
lmq_queue_open(lmq_env *env, const char *name, lmq_queue **out)
{
    int rc = lmq__env_check(env);
    if (out)
        *out = NULL;
    if (rc)
        return rc;
    if (!name || !out)
        return lmq__seterr(LMQ_EINVAL, "name and out are required");
    lmq_queue *q = calloc(1, sizeof *q);
    if (!q || !(q->name = strdup(name))) {
        free(q);
        return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    q->env = env;
    rc = lmq__store_read(env->store, open_fn, q);
    if (rc) {
        free(q->name);
        free(q);
        return rc;
    }
    q->magic = LMQ_QUEUE_MAGIC;
    *out = q;
    return 0;
}

LMQ_API void
lmq_queue_close(lmq_queue *q)
{
    if (!q || q->magic != LMQ_QUEUE_MAGIC)
        return;
    q->magic = 0;
    free(q->name);
    free(q);
}

LMQ_API const char *
lmq_queue_name(const lmq_queue *q)
{
    return q && q->magic == LMQ_QUEUE_MAGIC ? q->name : NULL;
}

LMQ_API int
lmq_queue_is_fifo(const lmq_queue *q)
{
    return q && q->magic == LMQ_QUEUE_MAGIC ? q->fifo : 0;
}
