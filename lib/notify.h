/*
 * notify.h: cross-process wake-ups for long polling (ReceiveMessage
 * WaitTimeSeconds). See shared/DESIGN.md, "Long polling across processes".
 *
 * Every home holds a small shared file, <home>/lmq.wake, mapped by every
 * process that opens the home. It is an array of slots, one per queue (by
 * qid, see lmq__notify_slot()), each a sequence number plus a count of
 * sleeping waiters. The protocol, for a receive with a wait time:
 *
 *     tok = lmq__notify_token(n, qid);      before the receive transaction
 *     ... receive; nothing visible ...
 *     rc = lmq__notify_wait(n, qid, tok, ms);  0: try again, 1: deadline
 *
 * and for anything that makes messages visible (send, visibility change to
 * 0, redrive), after its commit:
 *
 *     lmq__notify_wake(n, qid, count);
 *
 * Reading the token before the receive is what makes the protocol race-free:
 * a commit that lands between the receive and the wait has already changed
 * the slot, so the wait returns 0 at once instead of sleeping through it.
 * A return of 0 is a hint, never a promise: the caller always re-receives.
 *
 * Two backends implement this interface, chosen by configure
 * (--with-notify=futex|poll): notify_futex.c (Linux, FUTEX_WAIT/FUTEX_WAKE
 * on the mapped words) and notify_poll.c (portable, sleeps and re-reads).
 * Both share the file format and its mapping code (notify_map.c).
 *
 * Threads: a handle may be used from any number of threads at once, except
 * lmq__notify_close(), which must not race with any other call on it.
 */
#ifndef LMQ_NOTIFY_H
#define LMQ_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

typedef struct lmq_notify lmq_notify;

/* Create (mode 0600) or map <home_dir>/lmq.wake. 0, or LMQ_EIO with the
 * system error in the detail (missing or unwritable directory, a file that is
 * not an lmq wake file), or LMQ_ENOMEM. On failure *out is NULL. */
int lmq__notify_open(const char *home_dir, lmq_notify **out);

/* Interrupt the handle's waits, wait briefly for them to leave, unmap and
 * free. Never hangs: a waiter that does not leave within a second (a stopped
 * thread) makes close leak the handle instead of freeing memory under it.
 * Accepts NULL. */
void lmq__notify_close(lmq_notify *n);

/* The current value of the queue's slot. Read it before trying to receive
 * and pass it to lmq__notify_wait(). 0 for a NULL handle. */
uint32_t lmq__notify_token(lmq_notify *n, uint32_t qid);

/* After a commit that made `count` messages of queue qid visible: bump the
 * slot and wake up to `count` of its waiters (UINT32_MAX: all; 0: none, the
 * bump alone only defeats stale tokens). Costs no system call when nobody
 * waits on the slot. Never fails; a NULL handle is a no-op. */
void lmq__notify_wake(lmq_notify *n, uint32_t qid, uint32_t count);

/* Sleep until the slot of qid differs from token, timeout_ms passes, or the
 * handle is interrupted. Returns 0 (woken, or the slot had already changed:
 * try to receive again), 1 (timed out; timeout_ms <= 0 only checks), or
 * LMQ_EINTR (interrupted; checked first, so it wins over a changed slot).
 * LMQ_EMISUSE for a NULL handle. Signals delivered to the thread do not end
 * the wait early. */
int lmq__notify_wait(lmq_notify *n, uint32_t qid, uint32_t token,
                     int64_t timeout_ms);

/* Make every current and future wait on this handle return LMQ_EINTR
 * promptly. Callable from any thread and from a signal handler
 * (async-signal-safe: atomics and at most a few system calls, no locks, no
 * allocation). Waiters of other handles that share a slot with an
 * interrupted waiter may see a spurious 0. Irreversible. */
void lmq__notify_interrupt(lmq_notify *n);

/* ---- diagnostics and tests ------------------------------------------- */

/* The slot of a queue. Queue ids are allocated sequentially, so the slot is
 * simply qid mod LMQ_NOTIFY_SLOTS: the first 4096 queues never share one. */
uint32_t lmq__notify_slot(uint32_t qid);

/* The slot's count of registered waiters, across all processes. It can be
 * too high (a waiter killed while asleep never deregisters), never too low. */
uint32_t lmq__notify_waiters(lmq_notify *n, uint32_t qid);

/* "futex" or "poll": the backend compiled in. */
extern const char lmq__notify_backend[];

/* ---- shared by the backends (notify_map.c) ----------------------------- */

/* Slots in the file. A power of two; 4096 slots of 16 bytes is 64 KiB, small
 * enough to map in every process and large enough that sequential qids do
 * not collide in any realistic store. */
#define LMQ_NOTIFY_SLOTS 4096u

/* One slot. All fields are accessed only with __atomic builtins. */
struct lmq__notify_slot {
    uint32_t seq;     /* bumped by every wake; the futex word */
    uint32_t waiters; /* registered waiters (may be stale-high) */
    uint32_t owner;   /* qid + 1 of the first queue to wait here; 0: none */
    uint32_t mixed;   /* sticky 1 once two queues waited here: wake all */
};

/* The file: a 64-byte header, then the slots. */
struct lmq__notify_file {
    uint64_t format; /* LMQ_NOTIFY_FORMAT once initialised, 0 when new */
    uint8_t reserved[56];
    struct lmq__notify_slot slots[LMQ_NOTIFY_SLOTS];
};

/* The handle fields both backends share. Each backend's struct lmq_notify
 * starts with one of these (member `c`) and adds its own fields after it;
 * notify_map.c opens and closes handles through it. */
struct lmq__notify_common {
    struct lmq__notify_file *file;
    uint32_t interrupted; /* sticky; set by lmq__notify_interrupt() */
    uint32_t inflight;    /* waits inside lmq__notify_wait() */
};
/* sizeof the backend's struct lmq_notify (defined by the backend). */
extern const size_t lmq__notify_handle_size;
/* Sleep ms milliseconds, resuming after signals. */
void lmq__notify_nap_ms(int64_t ms);

/* Create or map <home_dir>/lmq.wake; 0, LMQ_EIO or LMQ_ENOMEM (detail set).
 * On failure *out is NULL. */
int lmq__notify_map(const char *home_dir, struct lmq__notify_file **out);
/* Unmap a file mapped by lmq__notify_map(). Accepts NULL. */
void lmq__notify_unmap(struct lmq__notify_file *f);

/* Register a waiter of qid on its slot (records the owner, marks the slot
 * mixed when another queue already waited there) and return the slot. */
struct lmq__notify_slot *lmq__notify_enter(struct lmq__notify_file *f,
                                           uint32_t qid);
/* Deregister a waiter registered by lmq__notify_enter(). */
void lmq__notify_leave(struct lmq__notify_slot *s);

/* Milliseconds of CLOCK_MONOTONIC (waits must not follow wall-clock steps,
 * nor the env's test clock). */
int64_t lmq__notify_now_ms(void);

#endif /* LMQ_NOTIFY_H */
