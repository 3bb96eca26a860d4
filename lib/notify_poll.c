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
    struct lmq__notify_file *file;
    uint32_t interrupted; /* sticky; set by lmq__notify_interrupt() */
    uint32_t inflight;    /* waits inside lmq__notify_wait() */
};

/* Nap bounds, see the top comment. */
#define NAP_FIRST_MS 1
#define NAP_MAX_MS 10
/* Keeps deadline arithmetic far from overflow (callers wait <= 20 s). */
#define MAX_TIMEOUT_MS ((int64_t)1 << 40)

static void
nap_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int
lmq__notify_open(const char *home_dir, lmq_notify **out)
{
    struct lmq__notify_file *f;
    lmq_notify *n;
    int rc;

    *out = NULL;
    rc = lmq__notify_map(home_dir, &f);
    if (rc != 0)
        return rc;
    n = calloc(1, sizeof *n);
    if (n == NULL) {
        lmq__notify_unmap(f);
        return lmq__seterr(LMQ_ENOMEM, "lmq.wake handle");
    }
    n->file = f;
    *out = n;
    return 0;
}

void
lmq__notify_close(lmq_notify *n)
{
    if (n == NULL)
        return;
    lmq__notify_interrupt(n);
    /* Waiters see the flag within one nap; a second is generous. */
    for (int i = 0; i < 1000; i++) {
        if (__atomic_load_n(&n->inflight, __ATOMIC_SEQ_CST) == 0)
            break;
        nap_ms(1);
    }
    if (__atomic_load_n(&n->inflight, __ATOMIC_SEQ_CST) != 0)
        return; /* leak rather than unmap under a stuck waiter */
    lmq__notify_unmap(n->file);
    free(n);
}

uint32_t
lmq__notify_token(lmq_notify *n, uint32_t qid)
{
    if (n == NULL)
        return 0;
    return __atomic_load_n(&n->file->slots[lmq__notify_slot(qid)].seq,
                           __ATOMIC_SEQ_CST);
}

uint32_t
lmq__notify_waiters(lmq_notify *n, uint32_t qid)
{
    if (n == NULL)
        return 0;
    return __atomic_load_n(&n->file->slots[lmq__notify_slot(qid)].waiters,
                           __ATOMIC_SEQ_CST);
}

void
lmq__notify_wake(lmq_notify *n, uint32_t qid, uint32_t count)
{
    (void)count; /* every poller notices; see the top comment */
    if (n == NULL)
        return;
    __atomic_add_fetch(&n->file->slots[lmq__notify_slot(qid)].seq, 1,
                       __ATOMIC_SEQ_CST);
}

int
lmq__notify_wait(lmq_notify *n, uint32_t qid, uint32_t token,
                 int64_t timeout_ms)
{
    if (n == NULL)
        return lmq__seterr(LMQ_EMISUSE, "lmq__notify_wait: NULL handle");
    if (__atomic_load_n(&n->interrupted, __ATOMIC_SEQ_CST))
        return lmq__seterr(LMQ_EINTR, NULL);

    struct lmq__notify_file *f = n->file;
    if (__atomic_load_n(&f->slots[lmq__notify_slot(qid)].seq,
                        __ATOMIC_SEQ_CST) != token)
        return 0;
    if (timeout_ms <= 0)
        return 1;
    if (timeout_ms > MAX_TIMEOUT_MS)
        timeout_ms = MAX_TIMEOUT_MS;
    const int64_t deadline = lmq__notify_now_ms() + timeout_ms;

    __atomic_add_fetch(&n->inflight, 1, __ATOMIC_SEQ_CST);
    struct lmq__notify_slot *s = lmq__notify_enter(f, qid);

    int rc;
    int64_t nap = NAP_FIRST_MS;
    for (;;) {
        if (__atomic_load_n(&n->interrupted, __ATOMIC_SEQ_CST)) {
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
        nap_ms(nap < left ? nap : left);
        nap = nap * 2 < NAP_MAX_MS ? nap * 2 : NAP_MAX_MS;
    }

    lmq__notify_leave(s);
    /* Last touch of n: close may free it from here on. */
    __atomic_sub_fetch(&n->inflight, 1, __ATOMIC_SEQ_CST);
    if (rc == LMQ_EINTR)
        return lmq__seterr(LMQ_EINTR, NULL);
    return rc;
}

void
lmq__notify_interrupt(lmq_notify *n)
{
    if (n != NULL)
        __atomic_store_n(&n->interrupted, 1, __ATOMIC_SEQ_CST);
}
