/*
 * inspect.c: reading a queue without touching it: the peek of the test
 * double (LocalStack's /_aws/sqs/messages) and the age of the oldest
 * message (CloudWatch's ApproximateAgeOfOldestMessage).
 *
 * Both are one read-only transaction that walks `msg` in send order from
 * (qid, 0), the walk the retention sweep does: a message's record holds its
 * first header and, once something changed it, its `hdr` row the current
 * one (lmq__msg_hdr). Nothing is written, so neither moves a receive count,
 * a visibility deadline, the counters' settle point or `front_seq`, and
 * neither takes the writer lock.
 *
 * A message's state follows the settle rule (catalog.c): visible once its
 * visible_at has passed, whatever its stored state; before that, delayed or
 * in flight by its stored state. Expired messages (past retention, not yet
 * swept) are left out, as a receive would remove them.
 *
 * Rejected: walking `vis` for the invisible messages and `msg` for the
 * rest. `vis` does not hold never-received messages (format 3) and a peek
 * wants send order anyway.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

/* Expired messages the oldest-age read passes over before it gives up and
 * reports the retention period (a queue nobody receives from is never
 * swept). */
#define OLDEST_SCAN_MAX 4096

static const char *const all_attrs[] = {"All", NULL};

LMQ_API void
lmq_peek_opts_init(lmq_peek_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
}

LMQ_API void
lmq_msg_list_free(lmq_msg **msgs, size_t n)
{
    if (!msgs)
        return;
    for (size_t i = 0; i < n; i++)
        lmq_msg_free(msgs[i]);
    free(msgs);
}

struct peek_ctx {
    lmq_env *env;
    const char *name;
    lmq_peek_opts o;
    lmq_msg **msgs;
    size_t n, cap;
};

static void
peek_drop(struct peek_ctx *c)
{
    lmq_msg_list_free(c->msgs, c->n);
    c->msgs = NULL;
    c->n = c->cap = 0;
}

static int
peek_fn(lmq_txn *t, void *arg)
{
    struct peek_ctx *c = arg;
    uint8_t k[LMQ_MKEY_LEN];
    lmq_qrec r;
    lmq_cur *cur;
    lmq_val key, val;
    int64_t now = lmq__now(c->env);
    /* A read transaction may be retried: start from nothing. */
    peek_drop(c);
    int rc = lmq__q_load_name(t, c->name, false, &r);
    if (rc)
        return rc;
    if ((rc = lmq__cur_open(t, LMQ_DB_MSG, &cur)) != 0)
        return rc;
    lmq__mkey(k, r.qid, 0);
    for (rc = lmq__cur_seek(cur, k, sizeof k, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val)) {
        if (key.len != LMQ_MKEY_LEN || lmq__get_u32(key.data) != r.qid)
            break;
        if (c->o.max_messages && c->n == c->o.max_messages)
            break;
        uint64_t seq = lmq__get_u64((const uint8_t *)key.data + 4);
        lmq_mview mv;
        lmq_mhdr h;
        if ((rc = lmq__mview_decode(val.data, val.len, &mv)) != 0 ||
            (rc = lmq__msg_hdr(t, r.qid, seq, &h)) != 0)
            break;
        if (lmq__msg_expired(&r, &h, now))
            continue;
        lmq_msg *m;
        if ((rc = lmq__msg_make(c->env, &r, seq, &mv, &h, now, all_attrs,
                                &m)) != 0)
            break;
        if ((m->state == LMQ_MSG_INFLIGHT && !c->o.show_inflight) ||
            (m->state == LMQ_MSG_DELAYED && !c->o.show_delayed)) {
            lmq_msg_free(m);
            continue;
        }
        if (c->n == c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 16;
            lmq_msg **nm = realloc(c->msgs, nc * sizeof *nm);
            if (!nm) {
                lmq_msg_free(m);
                rc = lmq__seterr(LMQ_ENOMEM, NULL);
                break;
            }
            c->msgs = nm;
            c->cap = nc;
        }
        c->msgs[c->n++] = m;
    }
    lmq__cur_close(cur);
    return rc < 0 ? rc : 0;
}

LMQ_API int
lmq_queue_peek(lmq_env *env, const char *name, const lmq_peek_opts *o,
               lmq_msg ***msgs, size_t *n)
{
    int rc = lmq__env_check(env);
    if (msgs)
        *msgs = NULL;
    if (n)
        *n = 0;
    if (rc)
        return rc;
    if (!name || !msgs || !n)
        return lmq__seterr(LMQ_EINVAL, "name, msgs and n are required");
    struct peek_ctx c = {env, name, {0}, NULL, 0, 0};
    lmq_peek_opts_init(&c.o);
    if (o) {
        if (o->size < sizeof(size_t))
            return lmq__seterr(LMQ_EINVAL, "o->size not set: use "
                                           "lmq_peek_opts_init()");
        memcpy(&c.o, o, o->size < sizeof c.o ? o->size : sizeof c.o);
    }
    rc = lmq__store_read(env->store, peek_fn, &c);
    if (rc) {
        peek_drop(&c);
        return rc;
    }
    *msgs = c.msgs;
    *n = c.n;
    return 0;
}

struct age_ctx {
    lmq_env *env;
    const char *name;
    int64_t age;
};

int
lmq__q_oldest_age(lmq_txn *t, const lmq_qrec *r, int64_t now, int64_t *age)
{
    uint8_t k[LMQ_MKEY_LEN];
    lmq_cur *cur;
    lmq_val key, val;
    int rc;
    *age = 0;
    if ((rc = lmq__cur_open(t, LMQ_DB_MSG, &cur)) != 0)
        return rc;
    int seen = 0;
    lmq__mkey(k, r->qid, 0);
    for (rc = lmq__cur_seek(cur, k, sizeof k, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val)) {
        if (key.len != LMQ_MKEY_LEN || lmq__get_u32(key.data) != r->qid)
            break;
        lmq_mhdr h;
        /* enqueue_ms never changes: the record's first header decides, as
         * in the retention sweep (a version 1 record has none). */
        rc = lmq__mrec_hdr(val.data, val.len, &h);
        if (rc == LMQ__NOTFOUND)
            rc = lmq__msg_hdr(t, r->qid,
                              lmq__get_u64((const uint8_t *)key.data + 4), &h);
        if (rc)
            break;
        if (!lmq__msg_expired(r, &h, now)) {
            *age = now > h.enqueue_ms ? now - h.enqueue_ms : 0;
            break;
        }
        if (++seen == OLDEST_SCAN_MAX) {
            *age = (int64_t)r->retention * 1000;
            break;
        }
    }
    lmq__cur_close(cur);
    return rc < 0 ? rc : 0;
}

static int
age_fn(lmq_txn *t, void *arg)
{
    struct age_ctx *c = arg;
    lmq_qrec r;
    c->age = 0;
    int rc = lmq__q_load_name(t, c->name, false, &r);
    if (rc)
        return rc;
    return lmq__q_oldest_age(t, &r, lmq__now(c->env), &c->age);
}

LMQ_API int
lmq_queue_oldest_age_ms(lmq_env *env, const char *name, int64_t *age_ms)
{
    int rc = lmq__env_check(env);
    if (age_ms)
        *age_ms = 0;
    if (rc)
        return rc;
    if (!name || !age_ms)
        return lmq__seterr(LMQ_EINVAL, "name and age_ms are required");
    struct age_ctx c = {env, name, 0};
    if ((rc = lmq__store_read(env->store, age_fn, &c)) != 0)
        return rc;
    *age_ms = c.age;
    return 0;
}
