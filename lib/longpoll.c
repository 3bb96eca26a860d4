/*
 * longpoll.c: receives that wait (WaitTimeSeconds), on top of notify.h.
 *
 * The loop: read the queue's wake token, try one receive transaction, and if
 * it found nothing sleep on the token until a commit in any process bumps it
 * (a send, a visibility change to 0, a redrive), the earliest future
 * visible_at the receive saw (a delayed message maturing or an in-flight
 * message's visibility expiring: nobody commits when time passes), or the
 * deadline, whichever is first; then try again. Reading the token before the
 * receive closes the race with a send that commits in between.
 *
 * Timers nobody else knows about: a sleeper computes its nap from the
 * visible_at times it saw at its last receive. Two things create new timers
 * behind its back: a send with a delay, and another receive putting messages
 * in flight (their visibility will expire). The first is covered by the
 * sender: a commit of only delayed messages wakes one waiter (queue_std.c),
 * which re-receives and so learns the new time. The second by a baton: a
 * receive that returns messages, or a waiter that leaves at its deadline
 * while it knew of a future visible_at, wakes one other waiter of the queue
 * when there is one, and that waiter re-receives and takes over the timer.
 * This costs one receive transaction per hand-over and only when someone
 * sleeps on the queue (no system call otherwise: the waiters count is a
 * shared word); it replaces waking every sleeper, or capping naps (polling).
 *
 * Deadlines use CLOCK_MONOTONIC and count from the call, before the first
 * receive, rounded up to the next millisecond, so an empty answer never
 * comes before the wait has fully run out. With a custom env clock (tests)
 * visible_at times are in that clock's terms, so the sleep is capped at a
 * few milliseconds to notice clock moves promptly.
 *
 * Interrupting: lmq_env_interrupt() and lmq_env_close() interrupt the env's
 * notify handle, so waiting receives return LMQ_EINTR; close then waits for
 * them to leave before freeing anything. A receive that finds messages
 * returns them even on an interrupted env: only waiting is refused.
 */
#include "longpoll.h"
#include "notify.h"

#include <stdlib.h>
#include <time.h>

/* Cap on one sleep when the env runs on a custom (test) clock. */
#define CUSTOM_CLOCK_NAP_MS 5

int
lmq__env_notify_open(lmq_env *env)
{
    return lmq__notify_open(env->path, &env->notify);
}

void
lmq__env_notify_close(lmq_env *env)
{
    lmq__notify_interrupt(env->notify);
    pthread_mutex_lock(&env->mu);
    while (env->waiting > 0)
        pthread_cond_wait(&env->cv, &env->mu);
    pthread_mutex_unlock(&env->mu);
    lmq__notify_close(env->notify);
    env->notify = NULL;
}

void
lmq__wake(lmq_env *env, uint32_t qid, uint32_t n)
{
    lmq__notify_wake(env->notify, qid, n);
}

void
lmq__wake_all(lmq_env *env)
{
    /* Slots are qid mod the slot count, so qids 0..SLOTS-1 cover each slot
     * once; a slot nobody waits on costs no system call. */
    for (uint32_t s = 0; s < LMQ_NOTIFY_SLOTS; s++)
        lmq__notify_wake(env->notify, s, UINT32_MAX);
}

LMQ_API void
lmq_env_interrupt(lmq_env *env)
{
    /* No lmq__env_check(): it may format an error detail, which is not
     * async-signal-safe. */
    if (env && env->magic == LMQ_ENV_MAGIC)
        lmq__notify_interrupt(env->notify);
}

/* Monotonic milliseconds, rounded up: a deadline computed from it is never
 * earlier than the true instant plus the wait. */
static int64_t
mono_ms_ceil(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + (ts.tv_nsec + 999999) / 1000000;
}

/* Hand the queue's timers over to one other sleeper, if any (top comment). */
static void
pass_baton(lmq_env *env, uint32_t qid)
{
    if (lmq__notify_waiters(env->notify, qid) > 0)
        lmq__notify_wake(env->notify, qid, 1);
}

static int
wait_loop(lmq_queue *q, const lmq_recv_opts *o, lmq_msg **msgs, size_t max,
          size_t *n, int64_t wait_ms)
{
    lmq_env *env = q->env;
    const int64_t start = mono_ms_ceil();
    int64_t deadline = -1;
    /* NumberOfEmptyReceives counts the call once: the first attempt counts
     * if the call does not wait, a later one if the deadline has passed
     * when it starts; a call whose deadline passes during an attempt that
     * did not count makes one more (counted) attempt. */
    int empty = LMQ__EMPTY_NOWAIT;
    for (;;) {
        int64_t next_at = 0;
        uint32_t wait_def = 0;
        uint32_t tok = lmq__notify_token(env->notify, q->qid);
        int rc = lmq__receive_once(q, o, msgs, max, n, &next_at, &wait_def,
                                   empty, wait_ms);
        if (rc)
            return rc;
        if (*n > 0) {
            pass_baton(env, q->qid);
            return 0;
        }
        if (deadline < 0) {
            int64_t w = wait_ms >= 0          ? wait_ms
                        : o->wait_seconds >= 0 ? (int64_t)o->wait_seconds * 1000
                                               : (int64_t)wait_def * 1000;
            if (w <= 0)
                return 0;
            deadline = start + w;
        }
        int64_t left = deadline - lmq__notify_now_ms();
        if (left <= 0 && empty != LMQ__EMPTY_YES) {
            empty = LMQ__EMPTY_YES; /* the last look, counted */
            continue;
        }
        if (left <= 0) {
            if (next_at > 0)
                pass_baton(env, q->qid);
            return 0;
        }
        int64_t nap = left;
        if (next_at > 0) {
            int64_t until = next_at - lmq__now(env);
            if (until < 1)
                until = 1;
            if (until < nap)
                nap = until;
        }
        if (env->custom_clock && nap > CUSTOM_CLOCK_NAP_MS)
            nap = CUSTOM_CLOCK_NAP_MS;
        rc = lmq__notify_wait(env->notify, q->qid, tok, nap);
        if (rc == LMQ_EINTR)
            return lmq__seterr(LMQ_EINTR, "the wait was interrupted");
        if (rc < 0)
            return rc;
        empty = deadline - lmq__notify_now_ms() <= 0 ? LMQ__EMPTY_YES
                                                    : LMQ__EMPTY_NO;
    }
}

/* wait_loop() counted in env->waiting (lmq_env_close() waits for it). */
static int
counted_wait(lmq_queue *q, const lmq_recv_opts *o, lmq_msg **msgs,
             size_t max, size_t *n, int64_t wait_ms)
{
    lmq_env *env = q->env;
    pthread_mutex_lock(&env->mu);
    if (env->closing) {
        pthread_mutex_unlock(&env->mu);
        return lmq__seterr(LMQ_EMISUSE, "the env is closing");
    }
    env->waiting++;
    pthread_mutex_unlock(&env->mu);
    int rc = wait_loop(q, o, msgs, max, n, wait_ms);
    pthread_mutex_lock(&env->mu);
    if (--env->waiting == 0)
        pthread_cond_broadcast(&env->cv);
    pthread_mutex_unlock(&env->mu);
    return rc;
}

int
lmq__receive_wait(lmq_queue *q, const lmq_recv_opts *o, lmq_msg **msgs,
                  size_t max, size_t *n, int64_t wait_ms)
{
    lmq_recv_opts def;
    int rc = lmq__queue_check(q);
    if (n)
        *n = 0;
    if (rc)
        return rc;
    if (!msgs || !n || max == 0)
        return lmq__seterr(LMQ_EINVAL, "msgs, n and max are required");
    if (!o) {
        lmq_recv_opts_init(&def);
        o = &def;
    }
    if ((rc = lmq__recv_validate(o, max)) != 0)
        return rc;
    return counted_wait(q, o, msgs, (size_t)o->max_messages, n, wait_ms);
}

int
lmq__receive_bulk(lmq_queue *q, const lmq_recv_opts *o, lmq_msg **msgs,
                  size_t max, size_t *n, int64_t wait_ms)
{
    int rc = lmq__queue_check(q);
    if (n)
        *n = 0;
    if (rc)
        return rc;
    size_t cap = q->fifo ? LMQ_MAX_BATCH : LMQ__RECV_BULK;
    if (!o || !msgs || !n || max == 0)
        return lmq__seterr(LMQ_EINVAL, "o, msgs, n and max are required");
    /* Everything but the count is checked as lmq_receive() would. */
    lmq_recv_opts one = *o;
    one.max_messages = 1;
    if ((rc = lmq__recv_validate(&one, 1)) != 0)
        return rc;
    return counted_wait(q, o, msgs, max < cap ? max : cap, n, wait_ms);
}

LMQ_API int
lmq_receive_poll(lmq_queue *q, const lmq_recv_opts *o, lmq_msg **msgs,
                 size_t max, size_t *n, uint32_t *token, int64_t *next_ms,
                 int *wait_seconds)
{
    lmq_recv_opts def;
    int rc = lmq__queue_check(q);
    if (n)
        *n = 0;
    if (rc)
        return rc;
    if (!msgs || !n || max == 0)
        return lmq__seterr(LMQ_EINVAL, "msgs, n and max are required");
    if (!o) {
        lmq_recv_opts_init(&def);
        o = &def;
    }
    if ((rc = lmq__recv_validate(o, max)) != 0)
        return rc;
    int64_t next_at = 0;
    uint32_t wait_def = 0;
    uint32_t tok = lmq__notify_token(q->env->notify, q->qid);
    /* Counted as an empty receive only when the poll does not wait: a
     * caller that waits after it (lmqd) makes its last attempt with
     * wait_seconds 0 (docs/METRICS.md). */
    rc = lmq__receive_once(q, o, msgs, (size_t)o->max_messages, n, &next_at,
                           &wait_def, LMQ__EMPTY_NOWAIT, -1);
    if (rc)
        return rc;
    /* A poller that took messages hands the queue's timers over, as a
     * waiting receive does (top comment). */
    if (*n > 0)
        pass_baton(q->env, q->qid);
    if (token)
        *token = tok;
    if (next_ms)
        *next_ms = next_at;
    if (wait_seconds)
        *wait_seconds = o->wait_seconds >= 0 ? o->wait_seconds : (int)wait_def;
    return 0;
}

LMQ_API int
lmq_queue_wait(lmq_queue *q, uint32_t token, int64_t timeout_ms)
{
    int rc = lmq__queue_check(q);
    if (rc)
        return rc;
    lmq_env *env = q->env;
    pthread_mutex_lock(&env->mu);
    if (env->closing) {
        pthread_mutex_unlock(&env->mu);
        return lmq__seterr(LMQ_EMISUSE, "the env is closing");
    }
    env->waiting++;
    pthread_mutex_unlock(&env->mu);
    rc = lmq__notify_wait(env->notify, q->qid, token, timeout_ms);
    pthread_mutex_lock(&env->mu);
    if (--env->waiting == 0)
        pthread_cond_broadcast(&env->cv);
    pthread_mutex_unlock(&env->mu);
    if (rc == LMQ_EINTR)
        return lmq__seterr(LMQ_EINTR, "the wait was interrupted");
    return rc;
}

LMQ_API void
lmq_queue_wakeup(lmq_queue *q)
{
    if (lmq__queue_check(q) == 0)
        lmq__notify_wake(q->env->notify, q->qid, UINT32_MAX);
}

LMQ_API int
lmq_receive(lmq_queue *q, const lmq_recv_opts *o, lmq_msg **msgs, size_t max,
            size_t *n)
{
    return lmq__receive_wait(q, o, msgs, max, n, -1);
}
