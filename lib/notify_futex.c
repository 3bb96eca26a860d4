/*
 * notify_futex.c: the Linux notify backend, futexes on the lmq.wake map.
 *
 * How it works (notify.h has the protocol, notify_map.c the file):
 *  - Each slot's `seq` is a shared futex word (the mapping is MAP_SHARED and
 *    file-backed, so the kernel keys it by inode and offset and every process
 *    of the home meets on the same word; FUTEX_PRIVATE_FLAG would break
 *    this and is never used).
 *  - Wake: atomically increment seq, then read `waiters`; only when it is
 *    non-zero issue FUTEX_WAKE. A send nobody waits for costs one atomic add
 *    and no system call.
 *  - Wait: register in `waiters`, then loop: check the interrupt flag, check
 *    seq against the token, FUTEX_WAIT(seq, token) with the time left. The
 *    kernel compares seq to the token under its bucket lock before sleeping,
 *    and the waker increments seq before it reads waiters (all seq_cst), so
 *    a wake can never fall between the check and the sleep: either the waker
 *    sees our registration and wakes us, or FUTEX_WAIT sees the new seq and
 *    returns EAGAIN. EINTR (signals), EAGAIN, ETIMEDOUT and spurious
 *    wake-ups all just go round the loop, which re-computes the time left
 *    from CLOCK_MONOTONIC. Every way out deregisters.
 *  - Thundering herd: a wake of `count` messages passes `count` to
 *    FUTEX_WAKE, so 1 send wakes 1 of 100 idle receivers. The others keep
 *    sleeping on the (now changed) word; they are owed nothing until the
 *    next wake, and if they time out they see the changed slot, return 0,
 *    and their caller re-receives once before giving up. A slot shared by
 *    two queues (only past 4096 queue ids) is marked `mixed`, and wakes on it
 *    wake everyone: a count-limited wake could otherwise be spent on a
 *    waiter of the other queue while ours sleeps to its deadline.
 *  - Dead waiters: a waiter SIGKILLed while asleep never decrements
 *    `waiters`. The kernel drops its futex queue entry with the process, so
 *    FUTEX_WAKE still reaches live sleepers only and no wake is ever missed;
 *    the stale count just makes every later wake on that slot issue one
 *    FUTEX_WAKE system call that may find nobody. Never a correctness issue.
 *  - Interrupt (env close, cancel): set the handle's sticky flag, then, for
 *    every slot this handle has a waiter in (`active`), bump seq and
 *    FUTEX_WAKE all. Bumping seq is what closes the race with a waiter that
 *    checked the flag just before it was set and is about to call
 *    FUTEX_WAIT: the kernel's compare then fails with EAGAIN. The order is
 *    waiter: inflight++, active[slot]++, read flag; interrupter: write flag,
 *    read inflight, read active[] (all seq_cst), so one side always sees the
 *    other. Only atomics and futex calls: async-signal-safe.
 *  - Close interrupts, then waits (at most a second, in 1 ms naps) for
 *    `inflight` to drop to 0; a waiter's decrement of `inflight` is its last
 *    touch of the handle. If a waiter is stuck (a stopped thread), close
 *    leaks the handle rather than unmapping under it: it never hangs.
 *
 * Rejected:
 *  - A per-handle private futex word for interrupts: a thread can sleep on
 *    only one word, and it must be the shared seq word to hear wakes.
 *  - FUTEX_WAKE of everyone on each send (simplest, but every send to a
 *    queue with N idle receivers would wake N processes to fight over one
 *    message).
 *  - Bumping seq on interrupt for all 4096 slots: it would spuriously wake
 *    every waiter of every process; `active` limits it to our slots.
 *  - FUTEX_WAIT_BITSET with an absolute deadline: the relative timeout plus
 *    a re-computed remainder is as exact and works on every kernel.
 *
 * Cost of the interrupt bump: other handles' waiters on the same slots see
 * a changed seq and return 0, re-receive, and wait again. Close and cancel
 * are rare enough for that not to matter.
 */
#include "internal.h"
#include "notify.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* 32-bit platforms built with a 64-bit time_t only have the _time64 call,
 * whose timespec matches ours. */
#if !defined(SYS_futex) && defined(SYS_futex_time64)
#define SYS_futex SYS_futex_time64
#endif

const char lmq__notify_backend[] = "futex";

struct lmq_notify {
    struct lmq__notify_common c; /* first: see notify.h */
    /* This handle's waits per slot, so an interrupt knows which words to
     * bump. 16 KiB per handle; one handle per open home. */
    uint32_t active[LMQ_NOTIFY_SLOTS];
};

/* Longest single wait we compute with; keeps deadline arithmetic far from
 * overflow (callers wait at most 20 s). */
#define MAX_TIMEOUT_MS ((int64_t)1 << 40)

/* Nap used only if FUTEX_WAIT itself is unusable (ENOSYS under a seccomp
 * filter, say): we then degrade to polling instead of spinning. */
#define FALLBACK_NAP_MS 10

static long
futex_wait(uint32_t *word, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, word, FUTEX_WAIT, val, ts, NULL, 0);
}

static void
futex_wake(uint32_t *word, int n)
{
    (void)syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

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
    if (n == NULL)
        return;
    struct lmq__notify_slot *s = &n->c.file->slots[lmq__notify_slot(qid)];

    /* Bump first, then look for waiters: see the top comment. */
    __atomic_add_fetch(&s->seq, 1, __ATOMIC_SEQ_CST);
    if (count == 0 || __atomic_load_n(&s->waiters, __ATOMIC_SEQ_CST) == 0)
        return;
    int k = count > INT_MAX || __atomic_load_n(&s->mixed, __ATOMIC_SEQ_CST)
                ? INT_MAX
                : (int)count;
    futex_wake(&s->seq, k);
}

int
lmq__notify_wait(lmq_notify *n, uint32_t qid, uint32_t token,
                 int64_t timeout_ms)
{
    if (n == NULL)
        return lmq__seterr(LMQ_EMISUSE, "lmq__notify_wait: NULL handle");
    if (__atomic_load_n(&n->c.interrupted, __ATOMIC_SEQ_CST))
        return lmq__seterr(LMQ_EINTR, NULL);

    const uint32_t idx = lmq__notify_slot(qid);
    struct lmq__notify_file *f = n->c.file;
    if (__atomic_load_n(&f->slots[idx].seq, __ATOMIC_SEQ_CST) != token)
        return 0;
    if (timeout_ms <= 0)
        return 1;
    if (timeout_ms > MAX_TIMEOUT_MS)
        timeout_ms = MAX_TIMEOUT_MS;
    const int64_t deadline = lmq__notify_now_ms() + timeout_ms;

    /* Registration order matters, see the top comment. */
    __atomic_add_fetch(&n->c.inflight, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&n->active[idx], 1, __ATOMIC_SEQ_CST);
    struct lmq__notify_slot *s = lmq__notify_enter(f, qid);

    int rc;
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
        struct timespec ts = {(time_t)(left / 1000),
                              (long)(left % 1000) * 1000000L};
        if (futex_wait(&s->seq, token, &ts) != 0 && errno != EAGAIN &&
            errno != EINTR && errno != ETIMEDOUT)
            lmq__notify_nap_ms(left < FALLBACK_NAP_MS ? left : FALLBACK_NAP_MS);
    }

    lmq__notify_leave(s);
    __atomic_sub_fetch(&n->active[idx], 1, __ATOMIC_SEQ_CST);
    /* Last touch of n: close may free it from here on. */
    __atomic_sub_fetch(&n->c.inflight, 1, __ATOMIC_SEQ_CST);
    if (rc == LMQ_EINTR)
        return lmq__seterr(LMQ_EINTR, NULL);
    return rc;
}

void
lmq__notify_interrupt(lmq_notify *n)
{
    if (n == NULL)
        return;
    int saved = errno; /* we may run in a signal handler */

    __atomic_store_n(&n->c.interrupted, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&n->c.inflight, __ATOMIC_SEQ_CST) != 0) {
        for (uint32_t i = 0; i < LMQ_NOTIFY_SLOTS; i++) {
            if (__atomic_load_n(&n->active[i], __ATOMIC_SEQ_CST) == 0)
                continue;
            struct lmq__notify_slot *s = &n->c.file->slots[i];
            __atomic_add_fetch(&s->seq, 1, __ATOMIC_SEQ_CST);
            futex_wake(&s->seq, INT_MAX);
        }
    }
    errno = saved;
}
