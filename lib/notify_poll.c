/*
 * notify_poll.c: the portable notify backend, for systems without futexes
 * (configure --with-notify=poll; the default off Linux).
 *
 * How it works (notify.h has the protocol, notify_map.c the file): the same
 * lmq.wake map and slots as the futex backend, but nobody ever sleeps in the
 * kernel on them.
 *  - Wake: atomically increment the slot's seq. No system call at all.
 *  - Wait: register in `waiters` (kept only for diagnostics and so the file
 *    means the same under both backends), then loop: check the interrupt
 *    flag, compare seq with the token, nap. Naps start at 1 ms and double to
 *    a 10 ms ceiling, never past the deadline: a wake that follows closely
 *    on a failed receive (the busy case) is seen within a millisecond or
 *    two, while an idle waiter costs about 100 wake-ups a second.
 *  - Interrupt: set the handle's sticky flag; every waiter sees it within
 *    one nap (<= 10 ms). A single atomic store: async-signal-safe.
 *  - Close interrupts, then waits (at most a second) for the handle's waits
 *    to leave, and leaks the handle rather than free it under a stuck one.
 *  - Herd: every waiter of a slot notices a bump, so a wake of count 1
 *    wakes them all (within their nap). Acceptable for a fallback; the
 *    callers re-receive and the losers go back to waiting.
 *
 * Rejected:
 *  - Sleeping on a pipe or FIFO per queue in the home directory: it needs a
 *    file per queue and per waiter, leaks on SIGKILL, and does not fan out.
 *  - A process-shared condition variable in the map: a waiter killed while
 *    holding its mutex would wedge the queue where robust mutexes are
 *    missing, which is exactly where this backend runs.
 *
 * Mixing backends on one home is safe but slow: a futex waiter is not woken
 * by a poll-backend sender and sleeps to its deadline. Build every program
 * of a home with the same backend.
 */
#include "internal.h"
#include "notify.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

const char lmq__notify_backend[] = "poll";

struct lmq_notify {
    struct lmq__notify_common c; /* first: see notify.h */
};

/* Nap bounds, see the top comment. */
#define NAP_FIRST_MS 1
#define NAP_MAX_MS 10
/* Keeps deadline arithmetic far from overflow (callers wait <= 20 s). */
#define MAX_TIMEOUT_MS ((int64_t)1 << 40)

const size_t lmq__notify_handle_size = sizeof(struct lmq_notify);

uint32_t
lmq__notify_token(lmq_notify *n, uint32_t qid)
{
    if (n == NULL)
        return 0;
    return __atomic_load_n(&n->c.file->slots[lmq__notify_slot(qid)].seq,
                           __ATOMIC_SEQ_CST);
}

uint32_t
lmq__notify_waiters(lmq_notify *n, uint32_t qid)
{
    if (n == NULL)
        return 0;
    return __atomic_load_n(&n->c.file->slots[lmq__notify_slot(qid)].waiters,
                           __ATOMIC_SEQ_CST);
}

void
lmq__notify_wake(lmq_notify *n, uint32_t qid, uint32_t count)
{
    (void)count; /* every poller notices; see the top comment */
    if (n == NULL)
        return;
    __atomic_add_fetch(&n->c.file->slots[lmq__notify_slot(qid)].seq, 1,
                       __ATOMIC_SEQ_CST);
}

int
lmq__notify_wait(lmq_notify *n, uint32_t qid, uint32_t token,
                 int64_t timeout_ms)
{
    if (n == NULL)
        return lmq__seterr(LMQ_EMISUSE, "lmq__notify_wait: NULL handle");
    if (__atomic_load_n(&n->c.interrupted, __ATOMIC_SEQ_CST))
        return lmq__seterr(LMQ_EINTR, NULL);

    struct lmq__notify_file *f = n->c.file;
    if (__atomic_load_n(&f->slots[lmq__notify_slot(qid)].seq,
                        __ATOMIC_SEQ_CST) != token)
        return 0;
    if (timeout_ms <= 0)
        return 1;
    if (timeout_ms > MAX_TIMEOUT_MS)
        timeout_ms = MAX_TIMEOUT_MS;
    const int64_t deadline = lmq__notify_now_ms() + timeout_ms;

    __atomic_add_fetch(&n->c.inflight, 1, __ATOMIC_SEQ_CST);
    struct lmq__notify_slot *s = lmq__notify_enter(f, qid);

    int rc;
    int64_t nap = NAP_FIRST_MS;
    for (;;) {
        if (__atomic_load_n(&n->c.interrupted, __ATOMIC_SEQ_CST)) {
            rc = LMQ_EINTR;
            break;
        }
        if (__atomic_load_n(&s->seq, __ATOMIC_SEQ_CST) != token) {
            rc = 0;
            break;
        }
        int64_t left = deadline - lmq__notify_now_ms();
        if (left <= 0) {
            rc = 1;
            break;
        }
        lmq__notify_nap_ms(nap < left ? nap : left);
        nap = nap * 2 < NAP_MAX_MS ? nap * 2 : NAP_MAX_MS;
    }

    lmq__notify_leave(s);
    /* Last touch of n: close may free it from here on. */
    __atomic_sub_fetch(&n->c.inflight, 1, __ATOMIC_SEQ_CST);
    if (rc == LMQ_EINTR)
        return lmq__seterr(LMQ_EINTR, NULL);
    return rc;
}

void
lmq__notify_interrupt(lmq_notify *n)
{
    if (n != NULL)
        __atomic_store_n(&n->c.interrupted, 1, __ATOMIC_SEQ_CST);
}
