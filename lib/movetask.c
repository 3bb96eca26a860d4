/*
 * movetask.c: message move tasks (StartMessageMoveTask, ListMessageMoveTasks,
 * CancelMessageMoveTask): moving the messages of a dead-letter queue back
 * to the queues they came from, or to one destination.
 *
 * State. A task is one record in the tasks database, keyed (source qid,
 * ~task id) so that a cursor walks a source's tasks newest first; task ids
 * come from meta "next_task" and only grow. The record is a small JSON
 * object (jansson): status, destination, rate, counters, the progress
 * cursor and the runner's lease. It is rewritten by every batch, so status
 * and cancel work from any process. The TaskHandle is the base64url of
 * {"taskId": "...", "sourceArn": "..."} (the shape AWS's errors suggest).
 *
 * What a task moves: the messages of the DLQ with seq <= end_seq, the DLQ's
 * last seq when the task started, in seq (= arrival) order. Later arrivals
 * are left for the next task, so a message that fails again and comes back
 * is not moved in circles. A message in flight in the DLQ when the cursor
 * passes it is left where it is (someone is working on it); one past the
 * DLQ's retention is dropped, as a receive would.
 *
 * A batch is one write transaction: insert each message into its
 * destination as a new message (new MessageId, new SentTimestamp and
 * enqueue time, receive count 0, no DeadLetterQueueSourceArn), delete it
 * from the DLQ, advance the cursor and the moved count, refresh the lease.
 * Killing the runner at any point therefore loses and duplicates nothing:
 * the transaction committed whole (and the cursor says so) or not at all.
 *
 * Who runs it: whoever calls lmq_move_task_run(). Start leaves the task
 * unclaimed; run claims a lease (pid, random token, heartbeat), and every
 * batch checks that the token is still its own, so two runners can never
 * both make progress. A runner is dead when its pid no longer exists (or is
 * a zombie) or its heartbeat is older than LEASE_MS by the env's clock; an
 * unclaimed task is orphaned once LEASE_MS passed since start. The next run
 * takes an orphan over and continues from its cursor; list, cancel and a
 * new start on the same source settle an orphan instead (FAILED with a
 * reason, or CANCELLED if a cancel was pending). Rejected: a thread inside
 * the library that runs tasks in the background of whichever process
 * started them: it would need to outlive the caller's env, and a foreground
 * run with a progress callback serves the CLI and is a one-line thread for a
 * daemon.
 *
 * Rate: with MaxNumberOfMessagesPerSecond = r, a run may have moved at most
 * r * (whole seconds since it claimed the task + 1) messages, measured with
 * the env's clock, so tests drive it with a controllable clock and assert on
 * counts.
 */
#include "dlq.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A lease is stale after a minute without a heartbeat: batches come at
 * least once a second while a task runs (the rate is >= 1/s), so only a
 * hung or vanished runner misses that by a factor of 60. */
#define LEASE_MS 60000
/* Messages per transaction: bounds the writer lock hold time. */
#define BATCH 64
/* Distinct destinations one batch may touch (each is loaded and saved). */
#define MAX_DESTS 8
/* SQS keeps a bounded history; ListMessageMoveTasks shows at most 10. */
#define KEEP_TASKS 10
#define MAX_RATE 500
#define TASK_VERSION 1

#define KEY_LEN 12

enum { LOST_LEASE = 2 }; /* batch result: another runner took over */

struct task {
    uint64_t id;
    int status;
    char src[81];
    char dst[81]; /* "" when not given */
    int rate;     /* 0 when not given */
    int64_t started;
    uint64_t moved;
    uint64_t to_move;
    uint64_t end_seq;
    uint64_t cursor; /* last seq dealt with */
    int64_t pid;     /* runner; 0 = unclaimed */
    int64_t token;
    int64_t hb; /* last heartbeat (env clock) */
    char reason[512];
};

static const char *const status_names[] = {"RUNNING", "COMPLETED",
                                           "CANCELLING", "CANCELLED",
                                           "FAILED"};

LMQ_API const char *
lmq_move_status_name(int status)
{
    if (status < 0 || status > LMQ_MOVE_FAILED)
        return "UNKNOWN";
    return status_names[status];
}

static bool
active(int status)
{
    return status == LMQ_MOVE_RUNNING || status == LMQ_MOVE_CANCELLING;
}

/* ---- records -------------------------------------------------------------- */

static void
task_key(uint8_t k[KEY_LEN], uint32_t qid, uint64_t id)
{
    lmq__put_u32(k, qid);
    lmq__put_u64(k + 4, ~id);
}

static int
task_decode(const void *data, size_t len, struct task *tk)
{
    json_error_t err;
    json_t *j = json_loadb(data, len, 0, &err);
    json_int_t v = 0, id, st, rate, started, moved, to_move, end, cur, pid,
               tok, hb;
    const char *src, *dst, *reason;
    memset(tk, 0, sizeof *tk);
    if (!j || json_unpack(j,
                          "{s:I,s:I,s:I,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,"
                          "s:I,s:I,s:I,s:s}",
                          "v", &v, "id", &id, "status", &st, "src", &src,
                          "dst", &dst, "rate", &rate, "started", &started,
                          "moved", &moved, "to_move", &to_move, "end_seq",
                          &end, "cursor", &cur, "pid", &pid, "token", &tok,
                          "hb", &hb, "reason", &reason) != 0 ||
        v != TASK_VERSION || st < 0 || st > LMQ_MOVE_FAILED) {
        json_decref(j);
        return lmq__seterr(LMQ_ECORRUPT, "move task record does not parse");
    }
    tk->id = (uint64_t)id;
    tk->status = (int)st;
    snprintf(tk->src, sizeof tk->src, "%s", src);
    snprintf(tk->dst, sizeof tk->dst, "%s", dst);
    tk->rate = (int)rate;
    tk->started = started;
    tk->moved = (uint64_t)moved;
    tk->to_move = (uint64_t)to_move;
    tk->end_seq = (uint64_t)end;
    tk->cursor = (uint64_t)cur;
    tk->pid = pid;
    tk->token = tok;
    tk->hb = hb;
    snprintf(tk->reason, sizeof tk->reason, "%s", reason);
    json_decref(j);
    return 0;
}

static int
task_save(lmq_txn *t, uint32_t qid, const struct task *tk)
{
    uint8_t k[KEY_LEN];
    json_t *j = json_pack(
        "{s:i,s:I,s:i,s:s,s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}", "v",
        TASK_VERSION, "id", (json_int_t)tk->id, "status", tk->status, "src",
        tk->src, "dst", tk->dst, "rate", tk->rate, "started",
        (json_int_t)tk->started, "moved", (json_int_t)tk->moved, "to_move",
        (json_int_t)tk->to_move, "end_seq", (json_int_t)tk->end_seq,
        "cursor", (json_int_t)tk->cursor, "pid", (json_int_t)tk->pid,
        "token", (json_int_t)tk->token, "hb", (json_int_t)tk->hb, "reason",
        tk->reason);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (!s)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    task_key(k, qid, tk->id);
    int rc = lmq__txn_put(t, LMQ_DB_TASKS, k, sizeof k, s, strlen(s));
    free(s);
    return rc;
}

static int
task_load(lmq_txn *t, uint32_t qid, uint64_t id, struct task *tk)
{
    uint8_t k[KEY_LEN];
    lmq_val v;
    task_key(k, qid, id);
    int rc = lmq__txn_get(t, LMQ_DB_TASKS, k, sizeof k, &v);
    if (rc == LMQ__NOTFOUND)
        return lmq__seterr(LMQ_ENOTFOUND, "Task does not exist.");
    return rc ? rc : task_decode(v.data, v.len, tk);
}

/* ---- runners ---------------------------------------------------------------- */

/* Does process pid exist and is it not a zombie? */
static bool
pid_alive(int64_t pid)
{
    if (pid <= 0 || (pid_t)pid != pid)
        return false;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return false;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true; /* no procfs: trust kill() */
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

/* Is an active task orphaned (no live runner) at now? */
static bool
orphaned(const struct task *tk, int64_t now)
{
    if (now - tk->hb >= LEASE_MS)
        return true;
    return tk->pid != 0 && !pid_alive(tk->pid);
}

/* Settle an orphaned active task: a pending cancel completes, a run fails. */
static void
settle_orphan(struct task *tk)
{
    if (tk->status == LMQ_MOVE_CANCELLING) {
        tk->status = LMQ_MOVE_CANCELLED;
    } else {
        tk->status = LMQ_MOVE_FAILED;
        if (tk->pid)
            snprintf(tk->reason, sizeof tk->reason,
                     "RunnerDied: the process running the task (pid %lld) "
                     "stopped before the task ended; %llu messages had been "
                     "moved. Start a new task to move the rest.",
                     (long long)tk->pid, (unsigned long long)tk->moved);
        else
            snprintf(tk->reason, sizeof tk->reason,
                     "RunnerDied: nobody ran the task within %d seconds of "
                     "its start. Start a new task to move the messages.",
                     LEASE_MS / 1000);
    }
    tk->pid = 0;
    tk->token = 0;
}

/* Walk the tasks of qid newest first, settling orphans; fn (if not NULL)
 * sees each settled record in order and returns nonzero to stop. Records
 * beyond `keep` are deleted when keep > 0. */
typedef int (*task_fn)(void *arg, const struct task *tk);

static int
each_task(lmq_txn *t, uint32_t qid, int64_t now, bool write, size_t keep,
          task_fn fn, void *arg)
{
    uint8_t k[KEY_LEN];
    struct task changed[KEEP_TASKS + 1];
    uint64_t doomed[4 * KEEP_TASKS];
    size_t nchanged = 0, ndoomed = 0, seen = 0;
    lmq_cur *c;
    lmq_val key, val;
    int rc = lmq__cur_open(t, LMQ_DB_TASKS, &c), stop = 0;
    if (rc)
        return rc;
    task_key(k, qid, UINT64_MAX);
    for (rc = lmq__cur_seek(c, k, sizeof k, &key, &val); rc == 0;
         rc = lmq__cur_next(c, &key, &val)) {
        struct task tk;
        if (key.len != KEY_LEN || lmq__get_u32(key.data) != qid)
            break;
        seen++;
        if (keep && seen > keep) {
            if (ndoomed < sizeof doomed / sizeof doomed[0])
                doomed[ndoomed++] = ~lmq__get_u64((const uint8_t *)key.data + 4);
            continue;
        }
        if (stop)
            continue;
        if ((rc = task_decode(val.data, val.len, &tk)) != 0)
            break;
        if (write && active(tk.status) && orphaned(&tk, now) &&
            nchanged < sizeof changed / sizeof changed[0]) {
            settle_orphan(&tk);
            changed[nchanged++] = tk;
        }
        if (fn)
            stop = fn(arg, &tk);
    }
    lmq__cur_close(c);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < nchanged; i++)
        if ((rc = task_save(t, qid, &changed[i])) != 0)
            return rc;
    for (size_t i = 0; i < ndoomed; i++) {
        task_key(k, qid, doomed[i]);
        if ((rc = lmq__txn_del(t, LMQ_DB_TASKS, k, sizeof k)) < 0)
            return rc;
    }
    return stop;
}

/* ---- handles ------------------------------------------------------------------ */

static char *
handle_make(lmq_env *env, const char *src, uint64_t id)
{
    char ids[24], *arn = lmq__arn(env, src), *out = NULL;
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
    json_t *j = arn ? json_pack("{s:s,s:s}", "taskId", ids, "sourceArn", arn)
                    : NULL;
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (s) {
        size_t n = sodium_base64_encoded_len(
            strlen(s), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        if ((out = malloc(n)))
            sodium_bin2base64(out, n, (const unsigned char *)s, strlen(s),
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    }
    free(s);
    json_decref(j);
    free(arn);
    return out;
}

/* Decode a handle into the source queue name (malloc'd) and the task id. */
static int
handle_parse(lmq_env *env, const char *h, char **src, uint64_t *id)
{
    unsigned char buf[1024];
    size_t bl = 0;
    const char *ids, *arn;
    json_t *j = NULL;
    long long n = 0;
    int rc = 0;
    *src = NULL;
    if (!h || !*h)
        return lmq__seterr(LMQ_EMISSING, "The request must contain the "
                                         "parameter TaskHandle.");
    if (sodium_base642bin(buf, sizeof buf, h, strlen(h), NULL, &bl, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        !(j = json_loadb((const char *)buf, bl, 0, NULL)) ||
        json_unpack(j, "{s:s,s:s}", "taskId", &ids, "sourceArn", &arn) != 0 ||
        lmq__parse_int(ids, 1, INT64_MAX, &n) != 0) {
        json_decref(j);
        return lmq__seterr(LMQ_EINVAL, "Value for parameter TaskHandle is "
                                       "invalid.");
    }
    *id = (uint64_t)n;
    if (!(*src = lmq__arn_name(env, arn)))
        rc = lmq__seterr(LMQ_ENOTFOUND, "The resource that you specified "
                                        "for the SourceArn parameter doesn't "
                                        "exist.");
    json_decref(j);
    return rc;
}

/* Load the source queue named src, reporting a missing one as SQS does. */
static int
load_source(lmq_txn *t, const char *src, lmq_qrec *r)
{
    int rc = lmq__q_load_name(t, src, false, r);
    if (rc == LMQ_ENOQUEUE)
        return lmq__seterr(LMQ_ENOTFOUND, "The resource that you specified "
                                          "for the SourceArn parameter "
                                          "doesn't exist.");
    return rc;
}

/* ---- start -------------------------------------------------------------------- */

struct start_ctx {
    lmq_env *env;
    const char *src;
    const char *dst;
    int rate;
    uint64_t id;
};

static int
running_task(void *arg, const struct task *tk)
{
    (void)arg;
    return active(tk->status);
}

static int
start_fn(lmq_txn *t, void *arg)
{
    struct start_ctx *c = arg;
    int64_t now = lmq__now(c->env);
    lmq_qrec r, d;
    lmq_val v;
    bool is_dlq;
    int rc = load_source(t, c->src, &r);
    if (rc)
        return rc;
    if ((rc = lmq__dlq_has_sources(t, c->env, c->src, &is_dlq)) != 0)
        return rc;
    if (!is_dlq)
        return lmq__seterr(LMQ_EINVAL, "Source queue must be configured as "
                                       "a Dead Letter Queue.");
    if (c->dst) {
        rc = lmq__q_load_name(t, c->dst, false, &d);
        if (rc == LMQ_ENOQUEUE)
            return lmq__seterr(LMQ_ENOTFOUND,
                               "The resource that you specified for the "
                               "DestinationArn parameter doesn't exist.");
        if (rc)
            return rc;
        if (d.qid == r.qid)
            return lmq__seterr(LMQ_EINVAL, "Value for parameter "
                                           "DestinationArn is invalid. "
                                           "Reason: it is the source queue.");
        if (d.fifo != r.fifo)
            return lmq__seterr(LMQ_EINVAL,
                               "Value for parameter DestinationArn is "
                               "invalid. Reason: the destination must be of "
                               "the same type (FIFO or standard) as the "
                               "source.");
    }
    /* Settle orphans, prune old records, and refuse a second active task. */
    rc = each_task(t, r.qid, now, true, KEEP_TASKS - 1, running_task, NULL);
    if (rc < 0)
        return rc;
    if (rc > 0)
        return lmq__seterr(LMQ_EINVAL,
                           "There is already a task running. Only one active "
                           "task is allowed for a source queue arn at a given "
                           "time.");
    if ((rc = lmq__q_settle(t, &r, now)) != 0)
        return rc;
    uint64_t id = 1;
    rc = lmq__txn_get(t, LMQ_DB_META, "next_task", 9, &v);
    if (rc < 0)
        return rc;
    if (rc == 0 && v.len == 8)
        id = lmq__get_u64(v.data);
    uint8_t next[8];
    lmq__put_u64(next, id + 1);
    if ((rc = lmq__txn_put(t, LMQ_DB_META, "next_task", 9, next, 8)) != 0)
        return rc;

    struct task tk;
    memset(&tk, 0, sizeof tk);
    tk.id = id;
    tk.status = LMQ_MOVE_RUNNING;
    snprintf(tk.src, sizeof tk.src, "%s", c->src);
    snprintf(tk.dst, sizeof tk.dst, "%s", c->dst ? c->dst : "");
    tk.rate = c->rate;
    tk.started = now;
    tk.to_move = (uint64_t)(r.n_visible + r.n_inflight + r.n_delayed);
    tk.end_seq = r.next_seq;
    tk.hb = now;
    c->id = id;
    return task_save(t, r.qid, &tk);
}

LMQ_API int
lmq_move_task_start(lmq_env *env, const char *source_arn,
                    const char *dest_arn, int max_per_second,
                    char **handle_out)
{
    int rc = lmq__env_check(env);
    char *src = NULL, *dst = NULL;
    if (handle_out)
        *handle_out = NULL;
    if (rc)
        return rc;
    if (!handle_out)
        return lmq__seterr(LMQ_EINVAL, "handle_out is NULL");
    if (!source_arn || !*source_arn)
        return lmq__seterr(LMQ_EMISSING, "The request must contain the "
                                         "parameter SourceArn.");
    if (max_per_second < 0 || max_per_second > MAX_RATE)
        return lmq__seterr(LMQ_EINVAL,
                           "Value %d for parameter "
                           "MaxNumberOfMessagesPerSecond is invalid. Reason: "
                           "it must be between 1 and 500.",
                           max_per_second);
    if (!(src = lmq__arn_name(env, source_arn)))
        return lmq__seterr(LMQ_ENOTFOUND, "The resource that you specified "
                                          "for the SourceArn parameter "
                                          "doesn't exist.");
    if (dest_arn && !(dst = lmq__arn_name(env, dest_arn))) {
        free(src);
        return lmq__seterr(LMQ_ENOTFOUND, "The resource that you specified "
                                          "for the DestinationArn parameter "
                                          "doesn't exist.");
    }
    struct start_ctx c = {env, src, dst, max_per_second, 0};
    rc = lmq__store_write(env->store, start_fn, &c);
    if (rc == 0 && !(*handle_out = handle_make(env, src, c.id)))
        rc = lmq__seterr(LMQ_ENOMEM, NULL);
    free(src);
    free(dst);
    return rc;
}

/* ---- run ---------------------------------------------------------------------- */

struct dest {
    lmq_qrec r;
    uint32_t woken;
};

struct run_ctx {
    lmq_env *env;
    const char *src;
    uint64_t id;
    int64_t token;
    int budget; /* moves allowed in this batch */
    bool cancel; /* the progress callback asked to cancel */
    /* results of the last transaction */
    struct task tk;
    uint32_t moved_now;
    size_t ndest;
    uint32_t wake_qid[MAX_DESTS];
    uint32_t wake_n[MAX_DESTS];
};

static void
fail(struct task *tk, const char *fmt, const char *arg)
{
    tk->status = LMQ_MOVE_FAILED;
    snprintf(tk->reason, sizeof tk->reason, fmt, arg);
    tk->pid = 0;
    tk->token = 0;
}

/* The destination queue of a message (cached per batch); NULL with
 * *full when the cache is full, NULL with tk failed when it is gone. */
static int
dest_for(lmq_txn *t, struct run_ctx *c, struct dest *ds, const char *name,
         int64_t now, struct dest **out)
{
    *out = NULL;
    for (size_t i = 0; i < c->ndest; i++)
        if (strcmp(ds[i].r.name, name) == 0) {
            *out = &ds[i];
            return 0;
        }
    if (c->ndest == MAX_DESTS)
        return 0;
    struct dest *d = &ds[c->ndest];
    int rc = lmq__q_load_name(t, name, false, &d->r);
    if (rc == LMQ_ENOQUEUE) {
        fail(&c->tk, "AWS.SimpleQueueService.NonExistentQueue: the "
                     "destination queue %s does not exist.", name);
        lmq__clearerr();
        return 0;
    }
    if (rc || (rc = lmq__q_settle(t, &d->r, now)) != 0 ||
        (rc = lmq__metrics_tick(t, &d->r, now)) != 0)
        return rc;
    d->woken = 0;
    c->ndest++;
    *out = d;
    return 0;
}

/* Move message seq (header h) of the source r to its destination. Returns
 * 1 when moved, 0 when it stays (left for later, or the task failed). */
static int
move_one(lmq_txn *t, struct run_ctx *c, struct dest *ds, lmq_qrec *r,
         uint64_t seq, lmq_mhdr *h, int64_t now)
{
    uint8_t *buf = NULL, *plain = NULL;
    lmq_mview mv;
    char *name = NULL;
    struct dest *d = NULL;
    int rc = lmq__dlq_msg_copy(t, c->env, r, seq, &buf, &plain, &mv);
    if (rc)
        return rc;
    if (c->tk.dst[0])
        name = strdup(c->tk.dst);
    else if (mv.dlq_src) {
        char *arn = strndup(mv.dlq_src, mv.dlq_src_len);
        name = arn ? lmq__arn_name(c->env, arn) : NULL;
        free(arn);
        if (!name) {
            lmq__seal_free(plain);
            free(buf);
            return 0; /* not from a queue of this home: leave it */
        }
    } else {
        lmq__seal_free(plain);
        free(buf);
        return 0; /* sent to the DLQ directly: no source to go back to */
    }
    if (!name) {
        lmq__seal_free(plain);
        free(buf);
        return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    if ((rc = dest_for(t, c, ds, name, now, &d)) != 0 || !d)
        goto out;
    if (d->r.fifo != r->fifo || d->r.qid == r->qid) {
        fail(&c->tk, "InvalidParameterValue: the destination queue %s is "
                     "not a valid destination for this source.", name);
        goto out;
    }
    char id[37];
    lmq__uuid4(id);
    memcpy(mv.message_id, id, sizeof mv.message_id);
    mv.sent_ms = now;
    mv.dlq_src = NULL;
    mv.dlq_src_len = 0;
    if (r->fifo) {
        mv.dedup = mv.message_id;
        mv.dedup_len = strlen(mv.message_id);
    }
    lmq_mhdr nh = {0};
    nh.enqueue_ms = now;
    nh.visible_at = now + (int64_t)d->r.delay * 1000;
    nh.state = d->r.delay > 0 ? LMQ_MS_DELAYED : LMQ_MS_VISIBLE;
    rc = lmq__dlq_insert(t, c->env, &d->r, &mv, &nh, now);
    if (rc || (rc = lmq__msg_remove(t, r, seq, h, LMQ_RM_MOVE)) != 0)
        goto out;
    /* A redrive sends to the destination (SQS counts a message moved out
     * of a DLQ in the destination's NumberOfMessagesSent). */
    d->r.m_sent++;
    d->r.m_sent_bytes += lmq__metrics_msg_size(&mv);
    if (nh.state == LMQ_MS_VISIBLE)
        d->woken++;
    rc = 1;
out:
    free(name);
    lmq__seal_free(plain);
    free(buf);
    return rc;
}

static int
batch_fn(lmq_txn *t, void *arg)
{
    struct run_ctx *c = arg;
    int64_t now = lmq__now(c->env);
    struct dest ds[MAX_DESTS];
    lmq_qrec r;
    uint8_t k[LMQ_MKEY_LEN];
    uint64_t seqs[BATCH];
    lmq_mhdr hs[BATCH];
    size_t n = 0;
    bool more = false;
    int rc;
    c->moved_now = 0;
    c->ndest = 0;
    if ((rc = load_source(t, c->src, &r)) != 0)
        return rc;
    if ((rc = task_load(t, r.qid, c->id, &c->tk)) != 0)
        return rc;
    struct task *tk = &c->tk;
    if (!active(tk->status))
        return 0;
    if (tk->token != c->token)
        return LOST_LEASE;
    if (tk->status == LMQ_MOVE_CANCELLING || c->cancel) {
        tk->status = LMQ_MOVE_CANCELLED;
        tk->pid = tk->token = 0;
        return task_save(t, r.qid, tk);
    }
    if ((rc = lmq__q_settle(t, &r, now)) != 0 ||
        (rc = lmq__metrics_tick(t, &r, now)) != 0)
        return rc;

    /* Collect the next entries (cursor closed before anything changes). */
    lmq_cur *cur;
    lmq_val key, val;
    int want = c->budget < BATCH ? c->budget : BATCH;
    if ((rc = lmq__cur_open(t, LMQ_DB_MSG, &cur)) != 0)
        return rc;
    lmq__mkey(k, r.qid, tk->cursor + 1);
    for (rc = lmq__cur_seek(cur, k, sizeof k, &key, &val); rc == 0;
         rc = lmq__cur_next(cur, &key, &val)) {
        if (key.len != LMQ_MKEY_LEN || lmq__get_u32(key.data) != r.qid)
            break;
        uint64_t seq = lmq__get_u64((const uint8_t *)key.data + 4);
        if (seq > tk->end_seq)
            break;
        if ((int)n == want) {
            more = true;
            break;
        }
        seqs[n++] = seq;
    }
    lmq__cur_close(cur);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = lmq__msg_hdr(t, r.qid, seqs[i], &hs[i])) != 0)
            return rc == LMQ__NOTFOUND
                       ? lmq__seterr(LMQ_ECORRUPT, "message vanished")
                       : rc;

    for (size_t i = 0; i < n && tk->status == LMQ_MOVE_RUNNING; i++) {
        lmq_mhdr *h = &hs[i];
        if (lmq__msg_expired(&r, h, now)) {
            if ((rc = lmq__msg_remove(t, &r, seqs[i], h,
                                       LMQ_RM_EXPIRE)) != 0)
                return rc;
        } else if (h->visible_at <= now) {
            size_t before = c->ndest;
            rc = move_one(t, c, ds, &r, seqs[i], h, now);
            if (rc < 0)
                return rc;
            if (rc == 0 && before == MAX_DESTS && c->ndest == MAX_DESTS &&
                tk->status == LMQ_MOVE_RUNNING) {
                more = true; /* destination cache full: next batch */
                break;
            }
            if (rc == 1) {
                tk->moved++;
                c->moved_now++;
            }
        }
        if (tk->status == LMQ_MOVE_RUNNING)
            tk->cursor = seqs[i];
    }
    if (tk->status == LMQ_MOVE_RUNNING && !more && (int)n < want)
        tk->status = LMQ_MOVE_COMPLETED;
    if (tk->status != LMQ_MOVE_RUNNING)
        tk->pid = tk->token = 0;
    tk->hb = now;
    for (size_t i = 0; i < c->ndest; i++) {
        if ((rc = lmq__q_save(t, &ds[i].r)) != 0)
            return rc;
        c->wake_qid[i] = ds[i].r.qid;
        c->wake_n[i] = ds[i].woken;
    }
    if ((rc = lmq__q_save(t, &r)) != 0)
        return rc;
    return task_save(t, r.qid, tk);
}

static int
claim_fn(lmq_txn *t, void *arg)
{
    struct run_ctx *c = arg;
    int64_t now = lmq__now(c->env);
    lmq_qrec r;
    int rc = load_source(t, c->src, &r);
    if (rc)
        return rc;
    if ((rc = task_load(t, r.qid, c->id, &c->tk)) != 0)
        return rc;
    struct task *tk = &c->tk;
    if (!active(tk->status))
        return 0;
    if (tk->pid != 0 && !orphaned(tk, now))
        return lmq__seterr(LMQ_EBUSY, "the task is being run by process "
                                      "%lld",
                           (long long)tk->pid);
    if (tk->status == LMQ_MOVE_CANCELLING) {
        tk->status = LMQ_MOVE_CANCELLED;
        tk->pid = tk->token = 0;
    } else {
        tk->pid = (int64_t)getpid();
        tk->token = c->token;
        tk->hb = now;
    }
    return task_save(t, r.qid, tk);
}

/* Read-only look at the task while waiting for the rate: should the runner
 * stop waiting (cancel requested, lease lost, task gone)? */
static int
peek_fn(lmq_txn *t, void *arg)
{
    struct run_ctx *c = arg;
    lmq_qrec r;
    struct task tk;
    int rc = load_source(t, c->src, &r);
    if (rc == 0)
        rc = task_load(t, r.qid, c->id, &tk);
    if (rc)
        return 1; /* let the batch report it */
    return tk.status != LMQ_MOVE_RUNNING || tk.token != c->token;
}

/* Give up the lease after an error, so that the next run (in this process
 * too) can resume at once instead of waiting for the lease to go stale. */
static int
release_fn(lmq_txn *t, void *arg)
{
    struct run_ctx *c = arg;
    struct task tk;
    lmq_qrec r;
    int rc = load_source(t, c->src, &r);
    if (rc || (rc = task_load(t, r.qid, c->id, &tk)) != 0)
        return rc;
    if (!active(tk.status) || tk.token != c->token)
        return 0;
    tk.pid = tk.token = 0;
    tk.hb = lmq__now(c->env);
    return task_save(t, r.qid, &tk);
}

static void
nap_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

LMQ_API int
lmq_move_task_run(lmq_env *env, const char *handle,
                  lmq_move_progress_fn progress, void *arg, int *status_out)
{
    int rc = lmq__env_check(env);
    char *src = NULL;
    struct run_ctx c;
    if (status_out)
        *status_out = -1;
    if (rc)
        return rc;
    memset(&c, 0, sizeof c);
    if ((rc = handle_parse(env, handle, &src, &c.id)) != 0)
        return rc;
    c.env = env;
    c.src = src;
    randombytes_buf(&c.token, sizeof c.token);
    c.token &= INT64_MAX;
    c.token |= 1; /* never 0, the "unclaimed" token */
    if ((rc = lmq__store_write(env->store, claim_fn, &c)) != 0)
        goto out;
    int64_t run_start = lmq__now(env);
    uint64_t run_moved = 0;
    if (progress && c.tk.status == LMQ_MOVE_RUNNING &&
        progress(arg, c.tk.moved, c.tk.to_move))
        c.cancel = true;
    while (c.tk.status == LMQ_MOVE_RUNNING) {
        c.budget = BATCH;
        if (c.tk.rate > 0 && !c.cancel) {
            int64_t now = lmq__now(env);
            int64_t win = (now - run_start) / 1000;
            int64_t allowed = (int64_t)c.tk.rate * ((win < 0 ? 0 : win) + 1);
            int64_t left = allowed - (int64_t)run_moved;
            if (left <= 0) {
                /* Waiting for the rate: the callback may cancel now. */
                if (progress && progress(arg, c.tk.moved, c.tk.to_move)) {
                    c.cancel = true;
                    continue;
                }
                if (lmq__store_read(env->store, peek_fn, &c) == 0) {
                    int64_t until = run_start + (win + 1) * 1000 - now;
                    nap_ms(env->custom_clock ? 2
                           : until > 200     ? 200
                           : until < 1       ? 1
                                             : until);
                    continue;
                }
                left = 0; /* let a batch settle the change */
            }
            if (left < c.budget)
                c.budget = (int)left;
        }
        rc = lmq__store_write(env->store, batch_fn, &c);
        if (rc == LOST_LEASE) {
            rc = lmq__seterr(LMQ_EBUSY, "another process took the task over");
            goto out;
        }
        if (rc) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", lmq_errmsg());
            lmq__store_write(env->store, release_fn, &c);
            /* Keep the batch's error detail, not the release's. */
            const char *name = lmq_err_name(rc), *detail = msg;
            size_t nl = strlen(name);
            if (strncmp(msg, name, nl) == 0 && msg[nl] == ':')
                detail = msg + nl + (msg[nl + 1] == ' ' ? 2 : 1);
            lmq__seterr(rc, "%s", detail);
            goto out;
        }
        for (size_t i = 0; i < c.ndest; i++)
            if (c.wake_n[i])
                lmq__wake(env, c.wake_qid[i], c.wake_n[i]);
        run_moved += c.moved_now;
        if (progress && progress(arg, c.tk.moved, c.tk.to_move))
            c.cancel = true;
    }
out:
    if (rc == 0 && status_out)
        *status_out = c.tk.status;
    free(src);
    return rc;
}

/* ---- list and cancel ------------------------------------------------------------ */

struct list_ctx {
    lmq_env *env;
    const char *src;
    int max;
    lmq_move_task *out;
    size_t n;
};

static char *
arn_of(lmq_env *env, const char *name)
{
    return name && *name ? lmq__arn(env, name) : NULL;
}

static int
list_one(void *arg, const struct task *tk)
{
    struct list_ctx *c = arg;
    lmq_move_task *m = &c->out[c->n++];
    m->status = tk->status;
    m->source_arn = arn_of(c->env, tk->src);
    m->destination_arn = arn_of(c->env, tk->dst);
    m->max_per_second = tk->rate;
    m->moved = tk->moved;
    m->to_move = tk->to_move;
    m->started_ms = tk->started;
    if (tk->status == LMQ_MOVE_FAILED)
        m->failure_reason = strdup(tk->reason);
    if (tk->status == LMQ_MOVE_RUNNING)
        m->task_handle = handle_make(c->env, tk->src, tk->id);
    return (int)c->n == c->max;
}

static int
list_fn(lmq_txn *t, void *arg)
{
    struct list_ctx *c = arg;
    lmq_qrec r;
    int rc = load_source(t, c->src, &r);
    if (rc)
        return rc;
    lmq_move_task_list_free(c->out, c->n);
    c->n = 0;
    if (!(c->out = calloc((size_t)c->max, sizeof *c->out)))
        return lmq__seterr(LMQ_ENOMEM, NULL);
    rc = each_task(t, r.qid, lmq__now(c->env), true, 0, list_one, c);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < c->n; i++) {
        lmq_move_task *m = &c->out[i];
        if (!m->source_arn || (c->out[i].status == LMQ_MOVE_RUNNING &&
                               !m->task_handle))
            return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    return 0;
}

LMQ_API int
lmq_move_task_list(lmq_env *env, const char *source_arn, int max_results,
                   lmq_move_task **tasks, size_t *n)
{
    int rc = lmq__env_check(env);
    if (tasks)
        *tasks = NULL;
    if (n)
        *n = 0;
    if (rc)
        return rc;
    if (!tasks || !n)
        return lmq__seterr(LMQ_EINVAL, "tasks and n are required");
    if (!source_arn || !*source_arn)
        return lmq__seterr(LMQ_EMISSING, "The request must contain the "
                                         "parameter SourceArn.");
    if (max_results < 0 || max_results > KEEP_TASKS)
        return lmq__seterr(LMQ_EINVAL,
                           "Value %d for parameter MaxResults is invalid. "
                           "Reason: MaxResults must be between 1 and 10.",
                           max_results);
    char *src = lmq__arn_name(env, source_arn);
    if (!src)
        return lmq__seterr(LMQ_ENOTFOUND, "The resource that you specified "
                                          "for the SourceArn parameter "
                                          "doesn't exist.");
    struct list_ctx c = {env, src, max_results ? max_results : 1, NULL, 0};
    rc = lmq__store_write(env->store, list_fn, &c);
    free(src);
    if (rc) {
        lmq_move_task_list_free(c.out, c.n);
        return rc;
    }
    *tasks = c.out;
    *n = c.n;
    return 0;
}

LMQ_API void
lmq_move_task_list_free(lmq_move_task *tasks, size_t n)
{
    if (!tasks)
        return;
    for (size_t i = 0; i < n; i++) {
        free(tasks[i].task_handle);
        free(tasks[i].source_arn);
        free(tasks[i].destination_arn);
        free(tasks[i].failure_reason);
    }
    free(tasks);
}

struct cancel_ctx {
    lmq_env *env;
    const char *src;
    uint64_t id;
    uint64_t moved;
};

static int
cancel_fn(lmq_txn *t, void *arg)
{
    struct cancel_ctx *c = arg;
    struct task tk;
    lmq_qrec r;
    int rc = load_source(t, c->src, &r);
    if (rc || (rc = task_load(t, r.qid, c->id, &tk)) != 0)
        return rc;
    c->moved = tk.moved;
    if (tk.status != LMQ_MOVE_RUNNING)
        return lmq__seterr(LMQ_EINVAL,
                           "Value for parameter TaskHandle is invalid. "
                           "Reason: only a task in status RUNNING can be "
                           "cancelled; this one is %s.",
                           status_names[tk.status]);
    /* A live runner finishes the cancel after its current batch; without
     * one (unclaimed, or its runner died) nobody would, so finish it here. */
    if (tk.pid && !orphaned(&tk, lmq__now(c->env))) {
        tk.status = LMQ_MOVE_CANCELLING;
    } else {
        tk.status = LMQ_MOVE_CANCELLED;
        tk.pid = tk.token = 0;
    }
    return task_save(t, r.qid, &tk);
}

LMQ_API int
lmq_move_task_cancel(lmq_env *env, const char *handle, uint64_t *moved)
{
    int rc = lmq__env_check(env);
    char *src = NULL;
    if (moved)
        *moved = 0;
    if (rc)
        return rc;
    struct cancel_ctx c = {env, NULL, 0, 0};
    if ((rc = handle_parse(env, handle, &src, &c.id)) != 0)
        return rc;
    c.src = src;
    rc = lmq__store_write(env->store, cancel_fn, &c);
    free(src);
    if (rc == 0 && moved)
        *moved = c.moved;
    return rc;
}
