/*
 * notify_map.c: the lmq.wake file shared by both notify backends.
 *
 * How it works: <home>/lmq.wake is a 64-byte header and LMQ_NOTIFY_SLOTS
 * slots (notify.h), mapped MAP_SHARED by every process of the home. Opening
 * never takes a lock, yet any number of processes may create the file at
 * once:
 *  - lmq__home_open(O_CREAT) (0600, or 0660 in a group home: perms.c),
 *    then ftruncate() only when the file is shorter than the layout. Extending fills with zeros, and truncating a file to
 *    its current length keeps its contents, so racing creators agree.
 *  - The header is a single 64-bit format word that names the magic, the
 *    version and the slot count at once. It is installed with a
 *    compare-and-swap from 0, so a second opener sees either 0 (and installs
 *    the same value) or the finished word, never a half-written header.
 * All-zero slots are valid (seq 0, nobody waiting), so nothing else needs
 * initialising.
 *
 * Invariants: the file only ever grows to exactly the layout size; slots are
 * touched only through __atomic builtins; `waiters` is incremented before a
 * waiter samples the futex word and decremented on every way out of a wait,
 * so it is never too low (it can be too high after a SIGKILL, which only
 * costs wakers a spurious system call).
 *
 * Rejected:
 *  - Using the LMDB environment itself (a key per queue): a waiter cannot
 *    sleep on an LMDB page, and a write transaction per wake is far too dear.
 *  - POSIX named semaphores or a process-shared pthread condition variable:
 *    named semaphores leak in /dev/shm when a process dies, and a condvar
 *    needs a mutex a SIGKILLed process can leave held (robust mutexes fix
 *    that only on some platforms). Futex words have no owner to die.
 *  - Hashing qids: ids are allocated sequentially, so qid mod N is already
 *    collision-free for the first N queues, which a multiplicative hash is
 *    not. Beyond that, shared slots are handled by the `mixed` flag.
 */
#include "internal.h"
#include "notify.h"
#include "homefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* "LMQW", format version 1, log2(LMQ_NOTIFY_SLOTS) = 12. A different slot
 * count or layout must change this word, so an old library refuses a new
 * file instead of misreading it. */
#define LMQ_NOTIFY_FORMAT                                                      \
    (((uint64_t)0x4c4d5157u << 32) | ((uint64_t)1u << 16) | 12u)

_Static_assert((LMQ_NOTIFY_SLOTS & (LMQ_NOTIFY_SLOTS - 1)) == 0,
               "LMQ_NOTIFY_SLOTS must be a power of two");
_Static_assert(LMQ_NOTIFY_SLOTS == 1u << 12,
               "change LMQ_NOTIFY_FORMAT with LMQ_NOTIFY_SLOTS");
_Static_assert(sizeof(struct lmq__notify_slot) == 16, "slot layout");

int
lmq__notify_map(const char *home_dir, struct lmq__notify_file **out)
{
    const size_t size = sizeof(struct lmq__notify_file);
    char path[4096];
    struct stat st;
    int fd, err;

    *out = NULL;
    if (home_dir == NULL)
        return lmq__seterr(LMQ_EIO, "lmq.wake: no home directory");
    if ((size_t)snprintf(path, sizeof path, "%s/lmq.wake", home_dir) >=
        sizeof path)
        return lmq__seterr(LMQ_EIO, "%s/lmq.wake: path too long", home_dir);

    fd = lmq__home_open(path, O_RDWR | O_CREAT);
    if (fd < 0)
        return lmq__seterr(errno == EACCES ? LMQ_EPERM : LMQ_EIO,
                           "open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        err = errno;
        close(fd);
        return lmq__seterr(LMQ_EIO, "stat %s: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lmq__seterr(LMQ_EIO, "%s: not a regular file", path);
    }
    /* Only ever grow: shrinking would SIGBUS every process mapping it. */
    if ((size_t)st.st_size < size && ftruncate(fd, (off_t)size) != 0) {
        err = errno;
        close(fd);
        return lmq__seterr(LMQ_EIO, "ftruncate %s: %s", path, strerror(err));
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    err = errno;
    close(fd); /* the mapping keeps the file */
    if (p == MAP_FAILED)
        return lmq__seterr(err == ENOMEM ? LMQ_ENOMEM : LMQ_EIO, "mmap %s: %s",
                           path, strerror(err));

    struct lmq__notify_file *f = p;
    uint64_t expect = 0;
    if (!__atomic_compare_exchange_n(&f->format, &expect, LMQ_NOTIFY_FORMAT,
                                     false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST) &&
        expect != LMQ_NOTIFY_FORMAT) {
        munmap(p, size);
        return lmq__seterr(LMQ_EIO,
                           "%s: not an lmq wake file of this version "
                           "(format word %016llx)",
                           path, (unsigned long long)expect);
    }
    *out = f;
    return 0;
}

void
lmq__notify_unmap(struct lmq__notify_file *f)
{
    if (f != NULL)
        munmap(f, sizeof *f);
}

uint32_t
lmq__notify_slot(uint32_t qid)
{
    return qid & (LMQ_NOTIFY_SLOTS - 1);
}

struct lmq__notify_slot *
lmq__notify_enter(struct lmq__notify_file *f, uint32_t qid)
{
    struct lmq__notify_slot *s = &f->slots[lmq__notify_slot(qid)];
    uint32_t me = qid + 1, cur = 0;

    /* qid UINT32_MAX gives owner 0, which reads as "none": that queue then
     * simply never claims a slot, and another queue's claim marks it mixed
     * when both wait. Harmless, and not worth a wider field. */
    if (!__atomic_compare_exchange_n(&s->owner, &cur, me, false,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) &&
        cur != me && !__atomic_load_n(&s->mixed, __ATOMIC_RELAXED))
        __atomic_store_n(&s->mixed, 1, __ATOMIC_SEQ_CST);
    /* Ordering: mixed (above) before waiters (here) before the caller reads
     * seq. A waker bumps seq, then reads waiters, then mixed; with sequential
     * consistency either it sees this waiter (and the mixed flag), or this
     * waiter sees its new seq and does not sleep. */
    __atomic_add_fetch(&s->waiters, 1, __ATOMIC_SEQ_CST);
    return s;
}

void
lmq__notify_leave(struct lmq__notify_slot *s)
{
    /* Never below zero: a count made stale-high by a killed waiter is
     * harmless, but a wrapped one would make every wake a system call. */
    uint32_t cur = __atomic_load_n(&s->waiters, __ATOMIC_RELAXED);
    while (cur > 0 &&
           !__atomic_compare_exchange_n(&s->waiters, &cur, cur - 1, true,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        ;
}

int64_t
lmq__notify_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- handles, shared by both backends ------------------------------------ */

void
lmq__notify_nap_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int
lmq__notify_open(const char *home_dir, lmq_notify **out)
{
    struct lmq__notify_file *f;
    struct lmq__notify_common *c;
    int rc;

    *out = NULL;
    rc = lmq__notify_map(home_dir, &f);
    if (rc != 0)
        return rc;
    c = calloc(1, lmq__notify_handle_size);
    if (c == NULL) {
        lmq__notify_unmap(f);
        return lmq__seterr(LMQ_ENOMEM, "lmq.wake handle");
    }
    c->file = f;
    /* The common part is the first member of the backend's handle. */
    *out = (lmq_notify *)c;
    return 0;
}

void
lmq__notify_close(lmq_notify *n)
{
    struct lmq__notify_common *c = (struct lmq__notify_common *)n;
    if (c == NULL)
        return;
    lmq__notify_interrupt(n);
    /* Interrupted waiters leave within one nap at most; a second is
     * generous. */
    for (int i = 0; i < 1000; i++) {
        if (__atomic_load_n(&c->inflight, __ATOMIC_SEQ_CST) == 0)
            break;
        lmq__notify_nap_ms(1);
    }
    /* A waiter that never leaves (a stopped thread): leak the handle rather
     * than unmap under it (see notify.h, lmq__notify_close). */
    if (__atomic_load_n(&c->inflight, __ATOMIC_SEQ_CST) != 0)
        return;
    lmq__notify_unmap(c->file);
    free(c);
}
