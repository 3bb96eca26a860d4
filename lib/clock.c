/*
 * clock.c: the test clock of a home (issue 21, "Test-double extras").
 *
 * How it works: HOME/clock is a 64-byte file mapped MAP_SHARED by every
 * process that opens the home: a format word and an offset in ms. An env
 * opened on a home that has the file reads its time as the system clock plus
 * the offset, so every process of the home agrees on the time, and
 * lmq_env_clock_advance() (from any of them, or `lmq clock advance`) moves
 * it for all at once with one atomic add on the shared word. After an
 * advance every slot of lmq.wake is bumped, so receives waiting in any
 * process look again at once (a delay may have matured, a visibility
 * timeout run out); a test-clock env also counts as a custom clock, which
 * caps long-poll naps at a few ms (longpoll.c) for advances made by a
 * process that has not mapped lmq.wake yet.
 *
 * Creating the file needs no lock, as lmq.wake (notify_map.c): open with
 * O_CREAT, grow to the layout size only when shorter (zeros are a valid
 * offset), install the format word with a compare-and-swap from 0.
 *
 * Invariants: the offset only grows (lmq_env_clock_advance() refuses
 * negative steps), so the env's time never goes back by more than the
 * system clock itself does; settled counters, visibility deadlines and the
 * 60-second windows all assume time runs forward.
 *
 * Rejected:
 *  - A frozen clock (time moves only when a test advances it): rate-limited
 *    move tasks, consumer heartbeats and handler timeouts count on time
 *    passing, and would hang. Tests that need exact times read
 *    lmq_env_now() and advance relative to it.
 *  - Keeping the offset in LMDB (meta db): every lmq__now() would need a
 *    read transaction, and an advance a write transaction.
 *  - Re-reading the file's presence at every call: an env decides at open;
 *    a test enables the clock before it starts the processes under test.
 */
#include "core.h"
#include "homefile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* "LMQC", format version 1. */
#define LMQ_CLOCK_FORMAT (((uint64_t)0x4c4d5143u << 32) | ((uint64_t)1u << 16))

struct lmq__clock_file {
    uint64_t format;   /* LMQ_CLOCK_FORMAT once initialised, 0 when new */
    int64_t offset_ms; /* added to the system clock; only grows */
    uint8_t reserved[48];
};

_Static_assert(sizeof(struct lmq__clock_file) == 64, "clock file layout");

static int64_t
system_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int64_t
test_clock(void *arg)
{
    const struct lmq__clock_file *f = arg;
    return system_ms() + __atomic_load_n(&f->offset_ms, __ATOMIC_SEQ_CST);
}

int
lmq__clock_open(lmq_env *env, bool create)
{
    const size_t size = sizeof(struct lmq__clock_file);
    char path[4096];
    struct stat st;
    int fd, err;

    if ((size_t)snprintf(path, sizeof path, "%s/clock", env->path) >=
        sizeof path)
        return lmq__seterr(LMQ_EIO, "%s/clock: path too long", env->path);
    fd = lmq__home_open(path, O_RDWR | (create ? O_CREAT : 0));
    if (fd < 0) {
        if (errno == ENOENT && !create)
            return 0; /* not a test home */
        return lmq__seterr(errno == EACCES ? LMQ_EPERM : LMQ_EIO,
                           "open %s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err = errno;
        close(fd);
        return lmq__seterr(LMQ_EIO, "%s: not a regular file (%s)", path,
                           strerror(err));
    }
    /* Only ever grow: shrinking would SIGBUS the processes mapping it. */
    if ((size_t)st.st_size < size && ftruncate(fd, (off_t)size) != 0) {
        err = errno;
        close(fd);
        return lmq__seterr(LMQ_EIO, "ftruncate %s: %s", path, strerror(err));
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    err = errno;
    close(fd);
    if (p == MAP_FAILED)
        return lmq__seterr(err == ENOMEM ? LMQ_ENOMEM : LMQ_EIO, "mmap %s: %s",
                           path, strerror(err));
    struct lmq__clock_file *f = p;
    uint64_t expect = 0;
    if (!__atomic_compare_exchange_n(&f->format, &expect, LMQ_CLOCK_FORMAT,
                                     false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST) &&
        expect != LMQ_CLOCK_FORMAT) {
        munmap(p, size);
        return lmq__seterr(LMQ_EIO,
                           "%s: not an lmq clock file of this version "
                           "(format word %016llx)",
                           path, (unsigned long long)expect);
    }
    env->tclock = f;
    env->clock = test_clock;
    env->clock_arg = f;
    env->custom_clock = true;
    return 0;
}

void
lmq__clock_close(lmq_env *env)
{
    if (env->tclock)
        munmap(env->tclock, sizeof *env->tclock);
    env->tclock = NULL;
}

LMQ_API int
lmq_env_clock_offset(const lmq_env *env, int64_t *offset_ms)
{
    int rc = lmq__env_check(env);
    if (offset_ms)
        *offset_ms = 0;
    if (rc)
        return rc;
    if (!offset_ms)
        return lmq__seterr(LMQ_EINVAL, "offset_ms is NULL");
    if (!env->tclock)
        return lmq__seterr(LMQ_EINVAL, "the home has no test clock "
                                       "(lmq clock enable)");
    *offset_ms = __atomic_load_n(&env->tclock->offset_ms, __ATOMIC_SEQ_CST);
    return 0;
}

LMQ_API int
lmq_env_clock_advance(lmq_env *env, int64_t ms, int64_t *now_out)
{
    int rc = lmq__env_check(env);
    if (rc)
        return rc;
    if (!env->tclock)
        return lmq__seterr(LMQ_EINVAL, "the home has no test clock "
                                       "(lmq clock enable)");
    if (ms < 0)
        return lmq__seterr(LMQ_EINVAL,
                           "the test clock only moves forward "
                           "(%lld ms asked)",
                           (long long)ms);
    int64_t cur = __atomic_load_n(&env->tclock->offset_ms, __ATOMIC_SEQ_CST);
    do {
        /* A century of offset is far past any test; refusing it keeps
         * every `now + timeout` sum in the library far from overflow. */
        if (ms > (int64_t)100 * 365 * 86400000 - cur)
            return lmq__seterr(LMQ_EINVAL, "the test clock would pass a "
                                           "century of offset");
    } while (!__atomic_compare_exchange_n(&env->tclock->offset_ms, &cur,
                                          cur + ms, true, __ATOMIC_SEQ_CST,
                                          __ATOMIC_SEQ_CST));
    /* Every queue's waiters, in every process, look again. */
    if (ms > 0)
        lmq__wake_all(env);
    if (now_out)
        *now_out = lmq__now(env);
    return 0;
}
