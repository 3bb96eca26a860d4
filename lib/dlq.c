/*
 * dlq.c: dead-letter queues: the RedrivePolicy and RedriveAllowPolicy queue
 * attributes, the move of a message that failed too often to its
 * dead-letter queue (DLQ) during a receive, and ListDeadLetterSourceQueues.
 * Message move tasks (redrive back out of a DLQ) live in movetask.c.
 *
 * Policies. Both attributes are JSON strings. They are parsed with jansson
 * (DESIGN forbids hand-written JSON parsing, so the core links jansson; see
 * docs/DLQ.md), validated as SQS does, and stored in the queue record's
 * attribute map in a normalised form: compact, keys in SQS's order, and
 * maxReceiveCount as a JSON number whatever the caller sent. Only the count
 * is also kept parsed in the record (redrive_max), because receive consults
 * it for every candidate; the target is resolved from the stored JSON at the
 * moment of a move, by name, so a DLQ that was deleted and created again is
 * found, and a DLQ that no longer exists simply disables the move (the
 * message is delivered as if there were no policy).
 *
 * The move. SQS moves a message lazily: a candidate whose receive count has
 * already reached maxReceiveCount is moved instead of being delivered, in
 * the receive's own write transaction, so it is moved exactly once however
 * many processes receive at once (LMDB has one writer) and nothing is lost
 * or duplicated if the process dies (the transaction commits whole or not at
 * all). The message keeps its MessageId, body, attributes, AWSTraceHeader,
 * SentTimestamp and receive count, and gains DeadLetterQueueSourceArn. A
 * standard queue keeps the enqueue time, so retention in the DLQ counts from
 * the original send (a message already past the DLQ's retention is dropped
 * instead of moved); a FIFO queue resets it and replaces the deduplication
 * id with the MessageId.
 *
 * Wake-ups: a move makes a message visible in the DLQ, so long-polling
 * receivers of the DLQ are woken, from inside the transaction. That is safe
 * because a receive is itself a write transaction: a waiter that read its
 * wake token before our wake-up sees the token change and retries; one that
 * reads it after runs its receive after our commit (LMDB's single writer,
 * or a later unit of the same group commit, which sees our changes). If our
 * transaction is aborted, the wake-up is merely spurious. (A thread-local
 * list flushed after the commit was rejected: with group commit the unit of
 * work may run in another thread than the caller's.)
 */
#include "dlq.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RECEIVE_COUNT 1000
#define MAX_ALLOW_ARNS 10

/* ---- policy parsing ------------------------------------------------------ */

static int
bad_json(const char *name)
{
    return lmq__seterr(LMQ_EATTRVALUE,
                       "Invalid value for the parameter %s. Reason: the "
                       "value must be a JSON object.",
                       name);
}

static int
bad_param(const char *name, const char *value, const char *reason)
{
    return lmq__seterr(LMQ_EINVAL,
                       "Value %.300s for parameter %s is invalid. Reason: %s",
                       value, name, reason);
}

static char *
dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return s;
}

/* maxReceiveCount: a JSON integer, or a string of decimal digits (the AWS
 * console and CLI shorthand send strings). -1 when invalid. */
static long long
receive_count(json_t *v)
{
    long long n = -1;
    if (json_is_integer(v))
        n = json_integer_value(v);
    else if (json_is_string(v) &&
             lmq__parse_int(json_string_value(v), 1, MAX_RECEIVE_COUNT,
                            &n) != 0)
        n = -1;
    return n >= 1 && n <= MAX_RECEIVE_COUNT ? n : -1;
}

/* Parse a stored or supplied RedrivePolicy. On success *arn points into j
 * (which the caller releases) and *max is the count. */
static int
parse_redrive(const char *value, json_t **j, const char **arn, long long *max)
{
    const char *name = "RedrivePolicy";
    const char *key;
    json_t *v;
    *j = json_loads(value, JSON_REJECT_DUPLICATES, NULL);
    if (!*j || !json_is_object(*j)) {
        json_decref(*j);
        *j = NULL;
        return bad_json(name);
    }
    json_object_foreach(*j, key, v)
    {
        if (strcmp(key, "deadLetterTargetArn") != 0 &&
            strcmp(key, "maxReceiveCount") != 0)
            return bad_param(name, value,
                             "Only following attributes are supported: "
                             "[deadLetterTargetArn, maxReceiveCount].");
    }
    json_t *a = json_object_get(*j, "deadLetterTargetArn");
    json_t *m = json_object_get(*j, "maxReceiveCount");
    if (!a)
        return bad_param(name, value,
                         "Redrive policy does not contain mandatory "
                         "attribute: deadLetterTargetArn.");
    if (!m)
        return bad_param(name, value,
                         "Redrive policy does not contain mandatory "
                         "attribute: maxReceiveCount.");
    if (!json_is_string(a) || json_string_length(a) == 0)
        return bad_param(name, value,
                         "Invalid value for deadLetterTargetArn: it must be "
                         "a queue ARN.");
    if ((*max = receive_count(m)) < 0)
        return bad_param(name, value,
                         "Invalid value for maxReceiveCount, valid values "
                         "are from 1 to 1000 both inclusive.");
    *arn = json_string_value(a);
    return 0;
}

enum allow { ALLOW_ALL, DENY_ALL, BY_QUEUE };

/* Parse a RedriveAllowPolicy; *arns (the byQueue list) points into *j. */
static int
parse_allow(const char *value, json_t **j, enum allow *perm, json_t **arns)
{
    const char *name = "RedriveAllowPolicy";
    const char *key;
    json_t *v;
    *arns = NULL;
    *j = json_loads(value, JSON_REJECT_DUPLICATES, NULL);
    if (!*j || !json_is_object(*j)) {
        json_decref(*j);
        *j = NULL;
        return bad_json(name);
    }
    json_object_foreach(*j, key, v)
    {
        if (strcmp(key, "redrivePermission") != 0 &&
            strcmp(key, "sourceQueueArns") != 0)
            return bad_param(name, value,
                             "Only following attributes are supported: "
                             "[redrivePermission, sourceQueueArns].");
    }
    json_t *p = json_object_get(*j, "redrivePermission");
    json_t *l = json_object_get(*j, "sourceQueueArns");
    const char *ps = json_string_value(p);
    if (!p)
        return bad_param(name, value,
                         "Redrive allow policy does not contain mandatory "
                         "attribute: redrivePermission.");
    if (ps && strcmp(ps, "allowAll") == 0)
        *perm = ALLOW_ALL;
    else if (ps && strcmp(ps, "denyAll") == 0)
        *perm = DENY_ALL;
    else if (ps && strcmp(ps, "byQueue") == 0)
        *perm = BY_QUEUE;
    else
        return bad_param(name, value,
                         "Invalid value for redrivePermission: valid values "
                         "are allowAll, denyAll and byQueue.");
    if (*perm != BY_QUEUE && l)
        return bad_param(name, value,
                         "sourceQueueArns is only allowed when "
                         "redrivePermission is byQueue.");
    if (*perm == BY_QUEUE) {
        size_t i;
        if (!json_is_array(l) || json_array_size(l) == 0 ||
            json_array_size(l) > MAX_ALLOW_ARNS)
            return bad_param(name, value,
                             "sourceQueueArns must list 1 to 10 queue ARNs "
                             "when redrivePermission is byQueue.");
        json_array_foreach(l, i, v)
        {
            if (!json_is_string(v) || json_string_length(v) == 0)
                return bad_param(name, value,
                                 "sourceQueueArns must hold queue ARNs "
                                 "(strings).");
        }
        *arns = l;
    }
    return 0;
}

/* Does the allow policy stored on DLQ d admit source_arn? */
static int
allows(const lmq_qrec *d, const char *source_arn, bool *ok)
{
    const char *s = lmq_map_get(d->attrs, "RedriveAllowPolicy");
    json_t *j, *arns, *v;
    enum allow perm;
    size_t i;
    *ok = true;
    if (!s)
        return 0;
    if (parse_allow(s, &j, &perm, &arns) != 0) {
        json_decref(j);
        return lmq__seterr(LMQ_ECORRUPT, "stored RedriveAllowPolicy of %s "
                                         "does not parse",
                           d->name);
    }
    if (perm == DENY_ALL)
        *ok = false;
    if (perm == BY_QUEUE) {
        *ok = false;
        json_array_foreach(arns, i, v)
        {
            if (strcmp(json_string_value(v), source_arn) == 0)
                *ok = true;
        }
    }
    json_decref(j);
    return 0;
}

static int
redrive_policy(lmq_txn *t, lmq_env *env, lmq_qrec *r, const char *value,
               char **norm)
{
    const char *name = "RedrivePolicy", *arn = NULL;
    long long max = 0;
    json_t *j;
    char *target = NULL, *self = NULL;
    lmq_qrec d;
    bool ok;
    int rc = parse_redrive(value, &j, &arn, &max);
    if (rc)
        goto out;
    target = lmq__arn_name(env, arn);
    if (!target) {
        rc = bad_param(name, value,
                       "Invalid value for deadLetterTargetArn: it is not the "
                       "ARN of a queue in this home.");
        goto out;
    }
    if (strcmp(target, r->name) == 0) {
        rc = bad_param(name, value,
                       "A queue cannot be its own dead-letter queue.");
        goto out;
    }
    rc = lmq__q_load_name(t, target, true, &d);
    if (rc == LMQ_ENOQUEUE) {
        rc = bad_param(name, value, "Dead letter target does not exist.");
        goto out;
    }
    if (rc)
        goto out;
    self = lmq__arn(env, r->name);
    if (!self)
        rc = lmq__seterr(LMQ_ENOMEM, NULL);
    else if (d.fifo != r->fifo)
        rc = bad_param(name, value,
                       d.fifo ? "The dead-letter queue of a standard queue "
                                "must also be a standard queue."
                              : "The dead-letter queue of a FIFO queue must "
                                "also be a FIFO queue.");
    else if ((rc = allows(&d, self, &ok)) == 0 && !ok)
        rc = bad_param(name, value,
                       "The RedriveAllowPolicy of the dead-letter queue does "
                       "not allow this queue as a source.");
    lmq__qrec_free(&d);
    if (rc)
        goto out;
    *norm = dump(json_pack("{s:s,s:I}", "deadLetterTargetArn", arn,
                           "maxReceiveCount", (json_int_t)max));
    if (!*norm)
        rc = lmq__seterr(LMQ_ENOMEM, NULL);
    else
        r->redrive_max = (uint32_t)max;
out:
    json_decref(j);
    free(target);
    free(self);
    return rc;
}

static int
redrive_allow_policy(const char *value, char **norm)
{
    json_t *j, *arns, *out = NULL;
    enum allow perm;
    static const char *const perms[] = {"allowAll", "denyAll", "byQueue"};
    int rc = parse_allow(value, &j, &perm, &arns);
    if (rc == 0) {
        out = json_pack("{s:s}", "redrivePermission", perms[perm]);
        if (out && arns &&
            json_object_set(out, "sourceQueueArns", arns) != 0) {
            json_decref(out);
            out = NULL;
        }
        if (!out || !(*norm = dump(out)))
            rc = lmq__seterr(LMQ_ENOMEM, NULL);
    }
    json_decref(j);
    return rc;
}

int
lmq__redrive_attr(lmq_txn *t, lmq_env *env, lmq_qrec *r, const char *name,
                  const char *value, char **norm)
{
    bool redrive = strcmp(name, "RedrivePolicy") == 0;
    *norm = NULL;
    if (value[0] == '\0') {
        if (redrive)
            r->redrive_max = 0;
        return 0;
    }
    if (redrive)
        return redrive_policy(t, env, r, value, norm);
    return redrive_allow_policy(value, norm);
}

/* ---- resolving targets ------------------------------------------------------ */

/* The target queue name of a stored policy string, or NULL. */
static char *
policy_target(lmq_env *env, const char *policy)
{
    json_t *j = json_loads(policy, 0, NULL);
    const char *arn = json_string_value(json_object_get(j, "deadLetterTargetArn"));
    char *name = arn ? lmq__arn_name(env, arn) : NULL;
    json_decref(j);
    return name;
}

int
lmq__dlq_target(lmq_txn *t, lmq_env *env, uint32_t qid, char **name)
{
    lmq_qrec r;
    *name = NULL;
    int rc = lmq__q_load(t, qid, true, &r);
    if (rc)
        return rc;
    const char *p = lmq_map_get(r.attrs, "RedrivePolicy");
    if (p)
        *name = policy_target(env, p);
    lmq__qrec_free(&r);
    return 0;
}

/* Call fn for every queue (name order from `after`, exclusive) whose policy
 * targets dlq; fn returns nonzero to stop (that value is returned). */
typedef int (*source_fn)(void *arg, const char *name, size_t len);

static int
each_source(lmq_txn *t, lmq_env *env, const char *dlq, const char *after,
            source_fn fn, void *arg)
{
    lmq_cur *cur;
    lmq_val k, v;
    const char *start = after ? after : "";
    int rc = lmq__cur_open(t, LMQ_DB_NAMES, &cur), stop = 0;
    if (rc)
        return rc;
    for (rc = lmq__cur_seek(cur, start, strlen(start), &k, &v);
         rc == 0 && !stop; rc = lmq__cur_next(cur, &k, &v)) {
        if (after && k.len == strlen(after) && memcmp(k.data, after, k.len) == 0)
            continue;
        if (v.len != 4) {
            rc = lmq__seterr(LMQ_ECORRUPT, "names: bad value");
            break;
        }
        char *target = NULL;
        if ((rc = lmq__dlq_target(t, env, lmq__get_u32(v.data), &target)))
            break;
        if (target && strcmp(target, dlq) == 0)
            stop = fn(arg, k.data, k.len);
        free(target);
    }
    lmq__cur_close(cur);
    if (rc < 0)
        return rc;
    return stop;
}

static int
found_one(void *arg, const char *name, size_t len)
{
    (void)name;
    (void)len;
    *(bool *)arg = true;
    return 1;
}

int
lmq__dlq_has_sources(lmq_txn *t, lmq_env *env, const char *dlq, bool *yes)
{
    *yes = false;
    int rc = each_source(t, env, dlq, NULL, found_one, yes);
    return rc < 0 ? rc : 0;
}

/* ---- the move on receive ---------------------------------------------------- */

int
lmq__dlq_msg_copy(lmq_txn *t, const lmq_env *env, const lmq_qrec *r,
                  uint64_t seq, uint8_t **buf, uint8_t **plain, lmq_mview *mv)
{
    uint8_t k[LMQ_MKEY_LEN];
    lmq_val v;
    *buf = NULL;
    *plain = NULL;
    lmq__mkey(k, r->qid, seq);
    int rc = lmq__txn_get(t, LMQ_DB_MSG, k, sizeof k, &v);
    if (rc == LMQ__NOTFOUND)
        return lmq__seterr(LMQ_ECORRUPT, "message record missing");
    if (rc)
        return rc;
    if (!(*buf = malloc(v.len ? v.len : 1)))
        return lmq__seterr(LMQ_ENOMEM, NULL);
    memcpy(*buf, v.data, v.len);
    rc = lmq__mview_decode(*buf, v.len, mv);
    if (rc == 0)
        rc = lmq__mview_open(env, r->qid, r->name, seq, mv, plain);
    if (rc) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

int
lmq__dlq_insert(lmq_txn *t, lmq_env *env, lmq_qrec *dr, const lmq_mview *mv,
                const lmq_mhdr *h, int64_t now)
{
    (void)now;
    /* lmq__msg_insert keeps a FIFO queue's group index (queue_fifo.c hooks),
     * so the same call serves both queue types; the group id travels in
     * mv. */
    return lmq__msg_insert(t, env, dr, mv, h, NULL);
}

int
lmq__dlq_on_receive(lmq_txn *t, lmq_queue *q, lmq_qrec *r, uint64_t seq,
                    lmq_mhdr *h, int64_t now)
{
    lmq_env *env = q->env;
    char *target = NULL, *arn = NULL;
    uint8_t *buf = NULL, *plain = NULL;
    lmq_mview mv;
    lmq_qrec d;
    if (r->redrive_max == 0 || h->recv_count < r->redrive_max)
        return 0;
    int rc = lmq__dlq_target(t, env, r->qid, &target);
    if (rc || !target)
        return rc;
    rc = lmq__q_load_name(t, target, false, &d);
    free(target);
    if (rc == LMQ_ENOQUEUE || (rc == 0 && (d.fifo != r->fifo ||
                                           d.qid == r->qid)))
        return 0; /* the DLQ is gone (or replaced oddly): deliver */
    if (rc)
        return rc;
    if ((rc = lmq__q_settle(t, &d, now)) != 0)
        return rc;
    if (!(arn = lmq__arn(env, r->name)))
        return lmq__seterr(LMQ_ENOMEM, NULL);
    if ((rc = lmq__dlq_msg_copy(t, env, r, seq, &buf, &plain, &mv)) != 0)
        goto out;
    mv.dlq_src = arn;
    mv.dlq_src_len = strlen(arn);
    lmq_mhdr nh = *h;
    nh.visible_at = now;
    nh.state = LMQ_MS_VISIBLE;
    nh.recv_start_ms = 0;
    if (r->fifo) {
        /* FIFO: a new enqueue time, and the MessageId as deduplication id
         * so the DLQ's own deduplication cannot drop unrelated messages. */
        nh.enqueue_ms = now;
        mv.dedup = mv.message_id;
        mv.dedup_len = strlen(mv.message_id);
    }
    if (!lmq__msg_expired(&d, &nh, now)) {
        /* The DLQ is written (and sampled) too; the move is not one of its
         * NumberOfMessagesSent, as in SQS (docs/METRICS.md). */
        if ((rc = lmq__metrics_tick(t, &d, now)) != 0 ||
            (rc = lmq__dlq_insert(t, env, &d, &mv, &nh, now)) != 0 ||
            (rc = lmq__q_save(t, &d)) != 0)
            goto out;
        lmq__wake(env, d.qid, 1);
    }
    if ((rc = lmq__msg_remove(t, r, seq, h, LMQ_RM_MOVE)) == 0)
        rc = 1;
out:
    lmq__seal_free(plain);
    free(buf);
    free(arn);
    return rc;
}

/* ---- ListDeadLetterSourceQueues --------------------------------------------- */

struct list_ctx {
    lmq_env *env;
    const char *dlq;
    const char *after;
    int max;
    char **names;
    size_t n;
    bool more;
};

static int
collect(void *arg, const char *name, size_t len)
{
    struct list_ctx *c = arg;
    if ((int)c->n == c->max) {
        c->more = true;
        return 1;
    }
    if (!(c->names[c->n] = strndup(name, len)))
        return lmq__seterr(LMQ_ENOMEM, NULL);
    c->n++;
    return 0;
}

static int
list_sources_fn(lmq_txn *t, void *arg)
{
    struct list_ctx *c = arg;
    lmq_qrec d;
    int rc = lmq__q_load_name(t, c->dlq, false, &d);
    if (rc)
        return rc;
    c->n = 0;
    c->more = false;
    rc = each_source(t, c->env, c->dlq, c->after, collect, c);
    return rc < 0 ? rc : 0;
}

LMQ_API int
lmq_dlq_list_sources(lmq_env *env, const char *name, int max_results,
                     const char *next_token, char ***names,
                     char **next_token_out)
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
    if (!name || !*name)
        return lmq__seterr(LMQ_EMISSING, "The request must contain the "
                                         "parameter QueueUrl.");
    if (max_results < 0 || max_results > 1000)
        return lmq__seterr(LMQ_EINVAL,
                           "Value %d for parameter MaxResults is invalid. "
                           "Reason: MaxResults must be an integer between 1 "
                           "and 1000.",
                           max_results);
    struct list_ctx c = {env, name, NULL, max_results ? max_results : 1000,
                         NULL, 0, false};
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
    if (!(c.names = calloc((size_t)c.max + 1, sizeof *c.names)))
        return lmq__seterr(LMQ_ENOMEM, NULL);
    rc = lmq__store_read(env->store, list_sources_fn, &c);
    if (rc) {
        lmq_strv_free(c.names);
        return rc;
    }
    if (c.more && max_results > 0 && next_token_out && c.n > 0) {
        const char *last = c.names[c.n - 1];
        size_t ln = strlen(last);
        size_t tl = sodium_base64_encoded_len(
            ln, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        if (!(*next_token_out = malloc(tl))) {
            lmq_strv_free(c.names);
            return lmq__seterr(LMQ_ENOMEM, NULL);
        }
        sodium_bin2base64(*next_token_out, tl, (const unsigned char *)last,
                          ln, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    }
    *names = c.names;
    return 0;
}
