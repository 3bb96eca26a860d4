/*
 * check_store.c: the storage layer's group commit and crash safety.
 *
 * Group commit combines concurrent lmq__store_write() callers of one
 * process into one transaction. These tests check that each caller still
 * gets its own result and error (one caller's bad input fails only that
 * caller), that many threads and several processes lose nothing, and that a
 * process SIGKILLed while it leads a commit loses nothing it acknowledged, in
 * every durability mode. No test depends on timing: batches are forced by
 * waiting on the store's queue of pending callers, and crashes are placed by
 * the commit hook or by counting acknowledgements.
 */
#include "lmq_test.h"

#include "core.h"
#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

/* ---- helpers ------------------------------------------------------------ */

/* Map mode of the homes the current test creates (loop tests run both:
 * group commit nests transactions in one, replays batches in the other). */
static lmq_map_mode test_map = LMQ_MAP_AUTO;
static const lmq_map_mode maps[] = {LMQ_MAP_PWRITE, LMQ_MAP_WRITABLE};

static lmq_env *
open_env(lmq_durability d)
{
    char path[300];
    lmq_env_opts o;
    lmq_env *env = NULL;
    lmq_env_opts_init(&o);
    o.durability = d;
    o.map_size = 64u << 20;
    o.map_mode = test_map;
    snprintf(path, sizeof path, "%s/home", lmq_test_dir);
    int rc = lmq_env_open(path, &o, &env);
    ck_assert_msg(rc == 0, "lmq_env_open: %s", lmq_errmsg());
    if (test_map != LMQ_MAP_AUTO)
        ck_assert_int_eq(lmq_env_map_mode(env), test_map);
    return env;
}

static lmq_queue *
make_named_queue(lmq_env *env, const char *name, const char *max_size)
{
    lmq_map *a = lmq_map_new();
    lmq_queue *q = NULL;
    ck_assert_ptr_nonnull(a);
    if (max_size)
        ck_ok(lmq_map_set(a, "MaximumMessageSize", max_size));
    ck_ok(lmq_queue_create(env, name, a, NULL, NULL));
    lmq_map_free(a);
    ck_ok(lmq_queue_open(env, name, &q));
    return q;
}

static lmq_queue *
make_queue(lmq_env *env, const char *max_size)
{
    return make_named_queue(env, "gc", max_size);
}

/* Bodies are "<who>-<n>"; seen[who][n] counts deliveries. */
#define MAX_WHO 32
#define MAX_N 4096
static unsigned char seen[MAX_WHO][MAX_N];

/* Receive everything in q (it stays in flight) and fill seen[][];
 * returns the number of messages. */
static size_t
drain(lmq_queue *q)
{
    lmq_recv_opts o;
    lmq_msg *m[10];
    size_t n, total = 0;
    memset(seen, 0, sizeof seen);
    lmq_recv_opts_init(&o);
    o.max_messages = 10;
    o.visibility_timeout = 3600;
    o.wait_seconds = 0;
    do {
        ck_ok(lmq_receive(q, &o, m, 10, &n));
        for (size_t i = 0; i < n; i++) {
            unsigned who, k;
            size_t len, at = 0;
            const char *b = lmq_msg_body(m[i], &len);
            ck_assert_msg(sscanf(b, "%u-%u", &who, &k) == 2, "body %s", b);
            /* send_body's padding: every byte after "who-k-" is an x */
            for (int dashes = 0; at < len && dashes < 2; at++)
                dashes += b[at] == '-';
            while (at < len && b[at] == 'x')
                at++;
            ck_assert_msg(at == len && b[len] == '\0',
                          "body of %u-%u damaged at byte %zu of %zu", who, k,
                          at, len);
            ck_assert(who < MAX_WHO && k < MAX_N);
            ck_assert_msg(seen[who][k] == 0, "%s delivered twice", b);
            seen[who][k] = 1;
            lmq_msg_free(m[i]);
        }
        total += n;
    } while (n > 0);
    return total;
}

static int
send_body(lmq_queue *q, unsigned who, unsigned k, size_t pad)
{
    char small[4096], *buf = small;
    lmq_send_entry e;
    lmq_send_result r;
    if (pad >= sizeof small && !(buf = malloc(pad + 1)))
        return -9998;
    int len = snprintf(buf, 32, "%u-%u-", who, k);
    while ((size_t)len < pad)
        buf[len++] = 'x';
    buf[len] = '\0';
    lmq_send_entry_init(&e);
    e.body = buf;
    int rc = lmq_send(q, &e, &r);
    if (buf != small)
        free(buf);
    if (rc == 0 && strlen(r.message_id) != 36)
        return -9999;
    return rc;
}

/* ---- a forced batch: each caller gets its own result -------------------- */

static lmq_store *the_store;
static int blocker_in;
static int batch_rc[8];
static char batch_err[8][256];

struct unit {
    int idx;
    bool fail;
};

static int
unit_fn(lmq_txn *t, void *arg)
{
    struct unit *u = arg;
    uint8_t k[8] = {'u', 'n', 'i', 't', 0, 0, 0, (uint8_t)u->idx};
    int rc = lmq__txn_put(t, LMQ_DB_AUX, k, sizeof k, "v", 1);
    if (rc)
        return rc;
    if (u->fail)
        return lmq__seterr(LMQ_EINVAL, "bad input from unit %d", u->idx);
    return 100 + u->idx;
}

/* Holds the first transaction open until the seven others are queued, so
 * they join one batch (with it, as late joiners, or under the next
 * leader). */
static int
blocker_fn(lmq_txn *t, void *arg)
{
    (void)t;
    (void)arg;
    /* Units may run again (a batch with a failure reruns nested): wait
     * only the first time. */
    if (__atomic_exchange_n(&blocker_in, 1, __ATOMIC_SEQ_CST) == 0)
        while (lmq__store_pending(the_store) < 7)
            sched_yield();
    return 7;
}

static void *
unit_thread(void *arg)
{
    struct unit *u = arg;
    int rc = u->idx == 0 ? lmq__store_write(the_store, blocker_fn, NULL)
                         : lmq__store_write(the_store, unit_fn, u);
    batch_rc[u->idx] = rc;
    snprintf(batch_err[u->idx], sizeof batch_err[u->idx], "%s",
             rc < 0 ? lmq_errmsg() : "");
    return NULL;
}

static int
unit_present(lmq_txn *t, void *arg)
{
    int idx = *(int *)arg;
    uint8_t k[8] = {'u', 'n', 'i', 't', 0, 0, 0, (uint8_t)idx};
    lmq_val v;
    return lmq__txn_get(t, LMQ_DB_AUX, k, sizeof k, &v) == 0;
}

/* Units 3 and 6 fail after writing: their writes must vanish, the others'
 * stay. */
static bool
unit_fails(int i)
{
    return i == 3 || i == 6;
}

START_TEST(test_batch_own_results)
{
    test_map = maps[_i];
    lmq_env *env = open_env(LMQ_DURABILITY_NONE);
    pthread_t th[8];
    struct unit u[8];
    lmq_gc_stats st;
    the_store = env->store;
    blocker_in = 0;
    for (int i = 0; i < 8; i++)
        u[i] = (struct unit){i, unit_fails(i)};
    ck_assert_int_eq(pthread_create(&th[0], NULL, unit_thread, &u[0]), 0);
    while (!__atomic_load_n(&blocker_in, __ATOMIC_SEQ_CST))
        sched_yield();
    for (int i = 1; i < 8; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, unit_thread, &u[i]),
                         0);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);

    ck_assert_int_eq(batch_rc[0], 7);
    for (int i = 1; i < 8; i++) {
        if (unit_fails(i)) {
            char want[64];
            snprintf(want, sizeof want, "LMQ_EINVAL: bad input from unit %d",
                     i);
            ck_assert_int_eq(batch_rc[i], LMQ_EINVAL);
            ck_assert_str_eq(batch_err[i], want);
        } else {
            ck_assert_msg(batch_rc[i] == 100 + i, "unit %d got %d (%s)", i,
                          batch_rc[i], batch_err[i]);
        }
        int idx = i;
        ck_assert_int_eq(lmq__store_read(env->store, unit_present, &idx),
                         !unit_fails(i));
    }
    lmq__store_gc_stats(env->store, &st);
    ck_assert_uint_ge(st.max_batch, 7);
    lmq_env_close(env);
}
END_TEST

/* ---- many threads sending, one of them with bad input ----------------- */

#define T_THREADS 8
#define T_SENDS 150
#define BAD_THREAD 5

struct sender {
    lmq_queue *q;
    unsigned who;
    unsigned nsend;
    int bad_every; /* every 2nd send is oversize when set */
    int ok, bad, wrong;
    char last_err[256];
};

static void *
sender_thread(void *arg)
{
    struct sender *s = arg;
    for (unsigned k = 0; k < s->nsend; k++) {
        bool bad = s->bad_every && k % 2 == 1;
        int rc = send_body(s->q, s->who, k, bad ? 2000 : 0);
        if (bad && rc == LMQ_EINVAL &&
            strstr(lmq_errmsg(), "Message must be shorter than 1024 bytes"))
            s->bad++;
        else if (!bad && rc == 0)
            s->ok++;
        else {
            s->wrong++;
            snprintf(s->last_err, sizeof s->last_err, "%d %s: %s", k,
                     lmq_err_name(rc), lmq_errmsg());
        }
    }
    return NULL;
}

static void
run_senders(lmq_queue *q, unsigned who0, unsigned nthreads, unsigned nsend,
            int bad_thread, int *ok_total)
{
    pthread_t th[T_THREADS];
    struct sender s[T_THREADS];
    *ok_total = 0;
    for (unsigned i = 0; i < nthreads; i++) {
        s[i] = (struct sender){q, who0 + i, nsend, (int)i == bad_thread,
                               0, 0, 0, ""};
        ck_assert_int_eq(pthread_create(&th[i], NULL, sender_thread, &s[i]),
                         0);
    }
    for (unsigned i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(s[i].wrong == 0, "thread %u: %d wrong results, %s", i,
                      s[i].wrong, s[i].last_err);
        *ok_total += s[i].ok;
        if ((int)i == bad_thread)
            ck_assert_int_eq(s[i].bad, (int)nsend / 2);
    }
}

START_TEST(test_threads_bad_input)
{
    /* FULL: each commit costs a flush, so the threads really do pile up
     * behind the leader and share transactions. */
    test_map = maps[_i];
    lmq_env *env = open_env(LMQ_DURABILITY_FULL);
    lmq_queue *q = make_queue(env, "1024");
    int ok;
    run_senders(q, 0, T_THREADS, T_SENDS, BAD_THREAD, &ok);
    ck_assert_int_eq(ok, T_THREADS * T_SENDS - T_SENDS / 2);
    ck_assert_uint_eq(drain(q), (size_t)ok);
    for (unsigned i = 0; i < T_THREADS; i++)
        for (unsigned k = 0; k < T_SENDS; k++)
            ck_assert_int_eq(seen[i][k], !(i == BAD_THREAD && k % 2 == 1));
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* ---- an acknowledged write is on disk -------------------------------------
 *
 * This program's own pwrite(), writev(), fdatasync() and fsync() come first
 * in symbol lookup, so LMDB's and the log's calls land here and go on as
 * raw system calls. They count writes not yet synced, per file: HOME/wal
 * (the log) and HOME/data.mdb. In a FULL home nothing an acknowledged send
 * or delete wrote to the log may still be unsynced when it returns (its
 * pages in data.mdb are, until the next checkpoint: the log holds the
 * write); a receive or visibility change leaves its record unsynced, which
 * the next acknowledged write's flush covers. In NONE nothing is logged and
 * LMDB's writes stay unsynced, which shows the count sees them at all. (A
 * writable map's stores cannot be seen here.) */

enum { F_LOG, F_DATA, F_OTHER };
static int unsynced[3];

/* exported although the build hides symbols by default */
#define INTERPOSE __attribute__((visibility("default")))

static int
file_kind(int fd)
{
    char link[64], path[512];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return F_OTHER;
    path[n] = '\0';
    size_t l = (size_t)n;
    if (l >= 4 && strcmp(path + l - 4, "/wal") == 0)
        return F_LOG;
    if (l >= 9 && strcmp(path + l - 9, "/data.mdb") == 0)
        return F_DATA;
    return F_OTHER;
}

static void
note_write(int fd, long r)
{
    if (r > 0)
        __atomic_add_fetch(&unsynced[file_kind(fd)], 1, __ATOMIC_SEQ_CST);
}

INTERPOSE ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
    long r = syscall(SYS_pwrite64, fd, buf, n, off);
    note_write(fd, r);
    return r;
}

INTERPOSE ssize_t
writev(int fd, const struct iovec *iov, int n)
{
    long r = syscall(SYS_writev, fd, iov, n);
    note_write(fd, r);
    return r;
}

static int
synced(int fd, long r)
{
    if (r == 0)
        __atomic_store_n(&unsynced[file_kind(fd)], 0, __ATOMIC_SEQ_CST);
    return (int)r;
}

INTERPOSE int
fdatasync(int fd)
{
    return synced(fd, syscall(SYS_fdatasync, fd));
}

INTERPOSE int
fsync(int fd)
{
    return synced(fd, syscall(SYS_fsync, fd));
}

static int
unsynced_now(int kind)
{
    return __atomic_load_n(&unsynced[kind], __ATOMIC_SEQ_CST);
}

/* A checkpointer killed after publishing its generation and before
 * resetting the log's tail, whose lock byte still looked held (a killed
 * process's robust mutex is released before its file locks): the next
 * writer took it for a live owner and appended to the new generation at
 * the old tail (a kill storm in check_limits: LMQ_ECORRUPT at the next
 * open). A child stands for the dying checkpointer: it publishes the next
 * generation (lmq__wal_publish, the first step of a checkpoint) and holds
 * its byte; a writer then sends, is killed, and an open alone must find
 * every acknowledged message. Before the fix the fourth was lost: the
 * recovery reverted to the old checkpoint and stopped at its record. */
START_TEST(test_half_checkpoint_not_built_on)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/home", lmq_test_dir);
    lmq_env *env = open_env(LMQ_DURABILITY_FULL);
    lmq_queue *q = make_queue(env, NULL);
    lmq_queue_close(q);
    lmq_env_close(env);
    int go[2], ready[2];
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(ready), 0);
    char c = 0;
    /* the writer: three sends, wait, a fourth, report, wait to be killed */
    pid_t writer = check_fork();
    ck_assert_int_ge(writer, 0);
    if (writer == 0) {
        lmq_env *we = open_env(LMQ_DURABILITY_FULL);
        lmq_queue *wq = NULL;
        if (lmq_queue_open(we, "gc", &wq) != 0)
            _exit(2);
        for (unsigned k = 0; k < 3; k++)
            if (send_body(wq, 1, k, 100) != 0)
                _exit(3);
        if (write(ready[1], "w", 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(4);
        if (send_body(wq, 1, 3, 100) != 0)
            _exit(5);
        if (write(ready[1], "s", 1) != 1)
            _exit(6);
        pause();
        _exit(0);
    }
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    /* the dying checkpointer */
    pid_t ckpt = check_fork();
    ck_assert_int_ge(ckpt, 0);
    if (ckpt == 0) {
        lmq_wal *w;
        bool alone;
        if (lmq__wal_open(dir, &w, &alone) != 0 || alone)
            _exit(2);
        lmq_wal_ckpt ck = {.gen = lmq__wal_next_gen(w),
                           .txnid = lmq__wal_last_txnid(w)};
        if (lmq__wal_publish(w, &ck) != 0 || write(ready[1], "c", 1) != 1)
            _exit(3);
        pause();
        _exit(0);
    }
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    ck_assert_int_eq(c, 'c');
    ck_assert_int_eq(write(go[1], "g", 1), 1);
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    ck_assert_int_eq(c, 's');
    pid_t kids[2] = {writer, ckpt};
    for (int i = 0; i < 2; i++) {
        int st;
        ck_assert_int_eq(kill(kids[i], SIGKILL), 0);
        ck_assert_int_eq(waitpid(kids[i], &st, 0), kids[i]);
        ck_assert(WIFSIGNALED(st));
    }
    env = open_env(LMQ_DURABILITY_FULL); /* alone: recovery */
    ck_ok(lmq_queue_open(env, "gc", &q));
    memset(seen, 0, sizeof seen);
    ck_assert_uint_eq(drain(q), 4);
    for (unsigned k = 0; k < 4; k++)
        ck_assert_msg(seen[1][k] == 1, "message 1-%u lost", k);
    lmq_queue_close(q);
    lmq_env_close(env);
    for (int i = 0; i < 2; i++) {
        close(go[i]);
        close(ready[i]);
    }
}
END_TEST

START_TEST(test_full_ack_is_synced)
{
    test_map = LMQ_MAP_PWRITE;
    lmq_env *env = open_env(LMQ_DURABILITY_FULL);
    lmq_queue *q = make_queue(env, NULL);
    lmq_recv_opts o;
    lmq_msg *m[10];
    size_t n;
    for (unsigned k = 0; k < 20; k++) {
        ck_ok(send_body(q, 1, k, 0));
        ck_assert_msg(unsynced_now(F_LOG) == 0, "send %u: %d writes unsynced",
                      k, unsynced_now(F_LOG));
    }
    ck_assert_int_gt(unsynced_now(F_DATA), 0); /* LMDB's pages wait */
    lmq_recv_opts_init(&o);
    o.max_messages = 10;
    o.wait_seconds = 0;
    ck_ok(lmq_receive(q, &o, m, 10, &n));
    ck_assert_uint_eq(n, 10);
    ck_assert_int_eq(unsynced_now(F_LOG), 1); /* the receive's record */
    for (size_t i = 0; i < n; i++) {
        int deleted = 0;
        if (i % 2 == 0) {
            int changed = 0;
            ck_ok(lmq_change_visibility(q, lmq_msg_receipt(m[i]), 60,
                                        &changed));
            ck_assert_int_eq(changed, 1);
            ck_assert_int_eq(unsynced_now(F_LOG), i == 0 ? 2 : 1);
        }
        ck_ok(lmq_delete(q, lmq_msg_receipt(m[i]), &deleted));
        ck_assert_int_eq(deleted, 1);
        ck_assert_int_eq(unsynced_now(F_LOG), 0);
        lmq_msg_free(m[i]);
    }
    /* many threads: batches overlap the unlocked log flush */
    int ok;
    run_senders(q, 2, T_THREADS, 50, -1, &ok);
    ck_assert_int_eq(ok, T_THREADS * 50);
    ck_assert_int_eq(unsynced_now(F_LOG), 0);
    /* a sync is a checkpoint: LMDB's pages on disk, the log empty */
    ck_ok(lmq_env_sync(env));
    ck_assert_int_eq(unsynced_now(F_DATA), 0);
    ck_assert_int_eq(unsynced_now(F_LOG), 0);
    lmq_log_stats ls;
    lmq__store_log_stats(env->store, &ls);
    ck_assert_uint_eq(ls.records, 0);
    ck_assert(ls.owner && ls.pinned);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* A batch that mixes soft writes (receive, visibility change) with a send
 * flushes its log record: a soft unit holds the transaction open until a send
 * and then a receive are queued, so they join its batch or form the next
 * one, [send, receive], with a soft unit on each side of the send. */
static int blocker2_in;

static int
soft_blocker_fn(lmq_txn *t, void *arg)
{
    (void)t;
    (void)arg;
    if (__atomic_exchange_n(&blocker2_in, 1, __ATOMIC_SEQ_CST) == 0)
        while (lmq__store_pending(the_store) < 2)
            sched_yield();
    return 0;
}

static void *
soft_blocker_thread(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)lmq__store_write_soft(the_store,
                                                   soft_blocker_fn, NULL);
}

static void *
send_thread(void *arg)
{
    return (void *)(intptr_t)send_body(arg, 2, 0, 0);
}

static void *
receive_thread(void *arg)
{
    lmq_recv_opts o;
    lmq_msg *m[1];
    size_t n = 0;
    lmq_recv_opts_init(&o);
    o.wait_seconds = 0;
    int rc = lmq_receive(arg, &o, m, 1, &n);
    if (rc == 0 && n != 1)
        rc = -9999;
    if (n == 1)
        lmq_msg_free(m[0]);
    return (void *)(intptr_t)rc;
}

static void
wait_pending(size_t n)
{
    while (lmq__store_pending(the_store) < n)
        sched_yield();
}

START_TEST(test_full_mixed_batch_is_synced)
{
    test_map = LMQ_MAP_PWRITE;
    lmq_env *env = open_env(LMQ_DURABILITY_FULL);
    lmq_queue *q = make_queue(env, NULL);
    ck_ok(send_body(q, 1, 0, 0));
    the_store = env->store;
    blocker2_in = 0;
    pthread_t th[3];
    void *rc;
    ck_assert_int_eq(pthread_create(&th[0], NULL, soft_blocker_thread, NULL),
                     0);
    while (!__atomic_load_n(&blocker2_in, __ATOMIC_SEQ_CST))
        sched_yield();
    ck_assert_int_eq(pthread_create(&th[1], NULL, send_thread, q), 0);
    wait_pending(1);
    ck_assert_int_eq(pthread_create(&th[2], NULL, receive_thread, q), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(pthread_join(th[i], &rc), 0);
        ck_assert_int_eq((int)(intptr_t)rc, 0);
    }
    ck_assert_int_eq(unsynced_now(F_LOG), 0);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

START_TEST(test_none_leaves_writes_unsynced)
{
    test_map = LMQ_MAP_PWRITE;
    lmq_env *env = open_env(LMQ_DURABILITY_NONE);
    lmq_queue *q = make_queue(env, NULL);
    ck_ok(send_body(q, 1, 0, 0));
    ck_assert_int_gt(unsynced_now(F_DATA), 0);
    ck_assert_int_eq(unsynced_now(F_LOG), 0); /* nothing logged */
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* ---- writable relaxed homes populate the file ahead ---------------------- */

/* Pages of HOME/data.mdb in [off, off + len) that are in the page cache. */
static size_t
resident_pages(uint64_t off, uint64_t len)
{
    char path[300];
    snprintf(path, sizeof path, "%s/home/data.mdb", lmq_test_dir);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);
    ck_assert_ptr_ne(m, MAP_FAILED);
    size_t pages = len / 4096, n = 0;
    unsigned char *vec = malloc(pages);
    ck_assert_int_eq(mincore(m, len, vec), 0);
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    free(vec);
    munmap(m, len);
    close(fd);
    return n;
}

/* Sends 3000 ~1 KiB messages (about 4 MiB of pages) and receives them all,
 * bodies checked. */
static void
send_and_drain(lmq_queue *q)
{
    for (unsigned k = 0; k < 3000; k++)
        ck_ok(send_body(q, 1, k, 1000));
    static bool got[3000];
    memset(got, 0, sizeof got);
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.max_messages = 10;
    o.wait_seconds = 0;
    for (unsigned total = 0; total < 3000;) {
        lmq_msg *m[10];
        size_t n;
        ck_ok(lmq_receive(q, &o, m, 10, &n));
        ck_assert_uint_gt(n, 0);
        for (size_t i = 0; i < n; i++) {
            unsigned who, k;
            size_t len;
            const char *b = lmq_msg_body(m[i], &len);
            ck_assert_uint_eq(len, 1000);
            ck_assert_int_eq(sscanf(b, "%u-%u-", &who, &k), 2);
            ck_assert(who == 1 && k < 3000 && !got[k]);
            got[k] = true;
            lmq_msg_free(m[i]);
        }
        total += (unsigned)n;
    }
}

/* In a writable `none` home the pages past the last one in use are in the
 * page cache before LMDB needs them, and what is stored is intact; in a
 * `full` or pwrite home nothing is populated. */
START_TEST(test_prefault_ahead)
{
    static const struct {
        lmq_map_mode map;
        lmq_durability d;
        bool ahead;
    } cases[] = {
        {LMQ_MAP_WRITABLE, LMQ_DURABILITY_NONE, true},
        {LMQ_MAP_WRITABLE, LMQ_DURABILITY_FULL, false},
        {LMQ_MAP_PWRITE, LMQ_DURABILITY_NONE, false},
    };
    test_map = cases[_i].map;
    lmq_env *env = open_env(cases[_i].d);
    lmq_queue *q = make_queue(env, NULL);
    send_and_drain(q);
    uint64_t used, ahead;
    int running = lmq__store_prefault_wait(env->store, &used, &ahead);
    ck_assert_int_eq(running, cases[_i].ahead);
    if (cases[_i].ahead) {
        /* half a window at least (the map is 64 MiB: not clipped) */
        ck_assert_uint_ge(ahead, 16u << 20);
        ck_assert_uint_eq(resident_pages(used, ahead), ahead / 4096);
    } else {
        ck_assert_uint_eq(ahead, 0);
        ck_assert_uint_eq(resident_pages(used + (1u << 20), 1u << 20), 0);
    }
    send_and_drain(q); /* populated pages hold what LMDB writes there */
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* The size of this process's map of HOME/data.mdb (offset 0: LMDB's, not
 * the prefault thread's windows) and whether it carries MADV_HUGEPAGE
 * ("hg" in its VmFlags). 0 if there is none. */
static uint64_t
home_map(bool *huge)
{
    char path[300], line[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/home/data.mdb", lmq_test_dir);
    ck_assert_int_eq(stat(path, &st), 0);
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    uint64_t size = 0;
    bool in = false;
    *huge = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, ino;
        if (sscanf(line, "%lx-%lx %*s %lx %*s %lu", &lo, &hi, &off, &ino) ==
            4) {
            in = ino == (unsigned long)st.st_ino && off == 0 &&
                 hi - lo > (1u << 20);
            if (in)
                size = hi - lo;
        } else if (in && strncmp(line, "VmFlags:", 8) == 0) {
            *huge = strstr(line, " hg") != NULL;
        }
    }
    fclose(f);
    return size;
}

/* Writable relaxed homes ask for large page-cache folios on LMDB's map
 * (store.c, "large folios"), again after every growth of the map; `full`
 * and pwrite homes do not. Where the kernel has no transparent huge pages
 * (madvise refuses the advice) no map carries it. */
START_TEST(test_map_huge)
{
    static const struct {
        lmq_map_mode map;
        lmq_durability d;
        bool huge;
    } cases[] = {
        {LMQ_MAP_WRITABLE, LMQ_DURABILITY_NONE, true},
        {LMQ_MAP_WRITABLE, LMQ_DURABILITY_PERIODIC, true},
        {LMQ_MAP_WRITABLE, LMQ_DURABILITY_FULL, false},
        {LMQ_MAP_PWRITE, LMQ_DURABILITY_NONE, false},
    };
    void *probe = mmap(NULL, 2u << 20, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(probe, MAP_FAILED);
    bool thp = madvise(probe, 2u << 20, MADV_HUGEPAGE) == 0;
    munmap(probe, 2u << 20);
    test_map = cases[_i].map;
    lmq_env *env = open_env(cases[_i].d);
    lmq_queue *q = make_queue(env, NULL);
    bool huge;
    uint64_t before = home_map(&huge);
    ck_assert_uint_gt(before, 0);
    ck_assert_int_eq(huge, cases[_i].huge && thp);
    /* ~24 MiB of bodies: a writable map grows (LMDB maps it again; a
     * pwrite home's first map holds them) */
    for (unsigned k = 0; k < 6000; k++)
        ck_ok(send_body(q, 1, k, 4000));
    uint64_t after = home_map(&huge);
    if (cases[_i].map == LMQ_MAP_WRITABLE)
        ck_assert_uint_gt(after, before);
    ck_assert_int_eq(huge, cases[_i].huge && thp);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* Three processes grow one writable `none` home at once, each with its own
 * populating thread racing the others' commits: every message is stored
 * once and intact. */
START_TEST(test_prefault_procs)
{
    test_map = LMQ_MAP_WRITABLE;
    lmq_env *env = open_env(LMQ_DURABILITY_NONE);
    lmq_queue *q = make_queue(env, NULL);
    lmq_queue_close(q);
    lmq_env_close(env); /* children must not inherit an open env */
    enum { PROCS = 3, SENDS = 3000 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = check_fork();
        ck_assert_int_ge(pids[p], 0);
        if (pids[p] == 0) {
            lmq_env *ce = open_env(LMQ_DURABILITY_NONE);
            lmq_queue *cq = NULL;
            if (lmq_queue_open(ce, "gc", &cq) != 0)
                _exit(2);
            for (unsigned k = 0; k < SENDS; k++)
                if (send_body(cq, (unsigned)p, k, 1000) != 0)
                    _exit(3);
            uint64_t used, ahead;
            int running = lmq__store_prefault_wait(ce->store, &used, &ahead);
            lmq_queue_close(cq);
            lmq_env_close(ce);
            _exit(running ? 0 : 4); /* each grew its own window */
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status;
        ck_assert_int_eq(waitpid(pids[p], &status, 0), pids[p]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "child %d status %d", p, status);
    }
    env = open_env(LMQ_DURABILITY_NONE);
    ck_ok(lmq_queue_open(env, "gc", &q));
    ck_assert_uint_eq(drain(q), PROCS * SENDS);
    for (unsigned w = 0; w < PROCS; w++)
        for (unsigned k = 0; k < SENDS; k++)
            ck_assert_int_eq(seen[w][k], 1);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* ---- several processes, each with several threads ---------------------- */

#define P_PROCS 4
#define P_THREADS 4
#define P_SENDS 100

START_TEST(test_procs_threads)
{
    test_map = maps[_i];
    lmq_env *env = open_env(LMQ_DURABILITY_FULL);
    lmq_queue *q = make_queue(env, "1024");
    lmq_queue_close(q);
    lmq_env_close(env); /* children must not inherit an open env */

    pid_t pids[P_PROCS];
    for (int p = 0; p < P_PROCS; p++) {
        pids[p] = check_fork();
        ck_assert_int_ge(pids[p], 0);
        if (pids[p] == 0) {
            lmq_env *ce = open_env(LMQ_DURABILITY_FULL);
            lmq_queue *cq = NULL;
            int ok;
            if (lmq_queue_open(ce, "gc", &cq) != 0)
                _exit(2);
            /* Process p sends from threads p*4 .. p*4+3; the thread with
             * index 1 in each process sends bad input half the time. */
            run_senders(cq, (unsigned)p * P_THREADS, P_THREADS, P_SENDS, 1,
                        &ok);
            lmq_queue_close(cq);
            lmq_env_close(ce);
            _exit(ok == P_THREADS * P_SENDS - P_SENDS / 2 ? 0 : 3);
        }
    }
    for (int p = 0; p < P_PROCS; p++) {
        int status;
        ck_assert_int_eq(waitpid(pids[p], &status, 0), pids[p]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "child %d status %d", p, status);
    }
    env = open_env(LMQ_DURABILITY_FULL);
    ck_ok(lmq_queue_open(env, "gc", &q));
    size_t want = P_PROCS * (P_THREADS * P_SENDS - P_SENDS / 2);
    ck_assert_uint_eq(drain(q), want);
    for (unsigned w = 0; w < P_PROCS * P_THREADS; w++)
        for (unsigned k = 0; k < P_SENDS; k++)
            ck_assert_int_eq(seen[w][k], !(w % P_THREADS == 1 && k % 2 == 1));
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* ---- a leader killed mid-commit loses nothing acknowledged ---------- */

#define K_THREADS 4
#define K_MAX_SENDS 1500 /* per thread; a child stops by itself */

struct ack {
    uint32_t who;
    uint32_t k;
};

struct killer {
    lmq_queue *q;
    unsigned who;
    int fd;
};

static void *
acking_thread(void *arg)
{
    struct killer *c = arg;
    for (unsigned k = 0; k < K_MAX_SENDS; k++) {
        if (send_body(c->q, c->who, k, 0) != 0)
            _exit(4);
        struct ack a = {c->who, k};
        /* Pipe writes of at most PIPE_BUF bytes are atomic. */
        if (write(c->fd, &a, sizeof a) != (ssize_t)sizeof a)
            _exit(5);
    }
    return NULL;
}

static long kill_at_commit;

/* Dies in the leader after the batch's pages were written into the
 * transaction and just before the commit: the crash of a leader that has
 * callers waiting on it. */
static void
suicide_hook(size_t nops)
{
    (void)nops;
    if (__atomic_sub_fetch(&kill_at_commit, 1, __ATOMIC_SEQ_CST) == 0)
        raise(SIGKILL);
}

/* Read the unsigned ints a child writes to fd, until it closes, into
 * marks[] (each below max); returns how many came. */
static unsigned
read_marks(int fd, bool *marks, unsigned max)
{
    unsigned k, n = 0;
    while (read(fd, &k, sizeof k) == (ssize_t)sizeof k) {
        ck_assert_uint_lt(k, max);
        marks[k] = true;
        n++;
    }
    close(fd);
    return n;
}

/* Wait for pid, which must have died of SIGKILL. */
static void
reap_killed(pid_t pid)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "child was not killed (status %d)", status);
}

/* One crash round on a fresh queue: a child with K_THREADS senders
 * acknowledges every sent message through a pipe; it is killed either by its
 * own commit hook at its hook_at-th commit (hook_at > 0) or by the parent
 * after `after` acknowledgements. Then every acknowledged message must be in
 * the queue. */
static void
crash_round(lmq_durability d, const char *name, long hook_at, int after)
{
    int fds[2];
    lmq_env *env = open_env(d);
    lmq_queue_close(make_named_queue(env, name, NULL));
    lmq_env_close(env);

    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = check_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        lmq_env *ce = open_env(d);
        lmq_queue *cq = NULL;
        pthread_t th[K_THREADS];
        struct killer c[K_THREADS];
        if (lmq_queue_open(ce, name, &cq) != 0)
            _exit(2);
        if (hook_at > 0) {
            kill_at_commit = hook_at;
            lmq__store_set_commit_hook(suicide_hook);
        }
        for (unsigned i = 0; i < K_THREADS; i++) {
            c[i] = (struct killer){cq, i, fds[1]};
            if (pthread_create(&th[i], NULL, acking_thread, &c[i]) != 0)
                _exit(6);
        }
        for (unsigned i = 0; i < K_THREADS; i++)
            pthread_join(th[i], NULL);
        _exit(0);
    }
    close(fds[1]);
    static struct ack acks[K_THREADS * K_MAX_SENDS];
    size_t nacks = 0;
    bool killed = false;
    for (;;) {
        struct ack a;
        ssize_t r = read(fds[0], &a, sizeof a);
        if (r == 0)
            break;
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_int_eq(r, (ssize_t)sizeof a);
        ck_assert(nacks < sizeof acks / sizeof acks[0]);
        acks[nacks++] = a;
        if (hook_at == 0 && !killed && nacks == (size_t)after) {
            kill(pid, SIGKILL);
            killed = true;
        }
    }
    close(fds[0]);
    reap_killed(pid);
    ck_assert_uint_gt(nacks, 0);

    env = open_env(d);
    lmq_queue *q = NULL;
    ck_ok(lmq_queue_open(env, name, &q));
    size_t got = drain(q);
    for (size_t i = 0; i < nacks; i++)
        ck_assert_msg(seen[acks[i].who][acks[i].k],
                      "acknowledged %u-%u lost (mode %d)", acks[i].who,
                      acks[i].k, (int)d);
    ck_assert_uint_ge(got, nacks);
    lmq_queue_close(q);
    lmq_env_close(env);
}

static const lmq_durability modes[] = {
    LMQ_DURABILITY_FULL, LMQ_DURABILITY_PERIODIC, LMQ_DURABILITY_NONE};

/* The leader dies inside its commit, with other callers waiting on it. */
START_TEST(test_kill_leader_mid_commit)
{
    char name[32];
    snprintf(name, sizeof name, "hook%d", _i);
    test_map = maps[_i / 3];
    crash_round(modes[_i % 3], name, 40, 0);
}
END_TEST

/* The process dies wherever it is when the parent has seen enough
 * acknowledgements. */
START_TEST(test_kill_anywhere)
{
    char name[32];
    snprintf(name, sizeof name, "kill%d", _i);
    test_map = maps[_i / 3];
    crash_round(modes[_i % 3], name, 0, 300);
}
END_TEST

/* A soft receive (no meta sync in FULL) survives its process: a child
 * receives half the queue for ten minutes, extends one message's timeout
 * (also soft), reports the bodies and SIGKILLs itself without closing the
 * home. A new process finds exactly those messages still in flight. */
START_TEST(test_kill_after_soft_receive)
{
    test_map = maps[_i];
    lmq_env *env = open_env(LMQ_DURABILITY_FULL);
    lmq_queue *q = make_queue(env, NULL);
    for (unsigned k = 0; k < 10; k++)
        ck_ok(send_body(q, 3, k, 0));
    lmq_queue_close(q);
    lmq_env_close(env);

    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = check_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        lmq_env *ce = open_env(LMQ_DURABILITY_FULL);
        lmq_queue *cq = NULL;
        lmq_recv_opts o;
        lmq_msg *m[5];
        size_t n = 0;
        int changed = 0;
        lmq_recv_opts_init(&o);
        o.max_messages = 5;
        o.wait_seconds = 0;
        o.visibility_timeout = 600;
        if (lmq_queue_open(ce, "gc", &cq) != 0 ||
            lmq_receive(cq, &o, m, 5, &n) != 0 || n != 5 ||
            lmq_change_visibility(cq, lmq_msg_receipt(m[0]), 900,
                                  &changed) != 0 ||
            changed != 1)
            _exit(2);
        for (size_t i = 0; i < n; i++) {
            unsigned who, k;
            if (sscanf(lmq_msg_body(m[i], NULL), "%u-%u-", &who, &k) != 2 ||
                write(fds[1], &k, sizeof k) != (ssize_t)sizeof k)
                _exit(3);
        }
        raise(SIGKILL);
        _exit(4);
    }
    close(fds[1]);
    bool held[10] = {false};
    unsigned k, nheld = read_marks(fds[0], held, 10);
    reap_killed(pid);
    ck_assert_uint_eq(nheld, 5);

    env = open_env(LMQ_DURABILITY_FULL);
    ck_ok(lmq_queue_open(env, "gc", &q));
    ck_assert_uint_eq(drain(q), 5);
    for (k = 0; k < 10; k++)
        ck_assert_msg(seen[3][k] == !held[k], "message %u: seen %d, held %d",
                      k, seen[3][k], held[k]);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* ---- the log: recovery after an OS crash, pins, orphans, mixed modes ---- */

static void
home_file(char *path, size_t n, const char *name)
{
    snprintf(path, n, "%s/home/%s", lmq_test_dir, name);
}

static void
copy_file(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC,
                                              0600);
    ck_assert(in >= 0 && out >= 0);
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        ck_assert_int_eq(write(out, buf, (size_t)n), n);
    ck_assert_int_eq(n, 0);
    close(in);
    close(out);
}

/* An OS crash after the checkpoint that `snap` copied: every page of
 * `data` that differs from it (or lies past it) is what LMDB wrote since
 * without a sync, so any of it may be lost or torn; make all of it
 * garbage, meta pages included. Returns the number of pages garbled;
 * *reused those of them that were pages of the checkpoint (not meta pages,
 * not past its end): LMDB reused them once the pin moved past them. */
static unsigned
crash_pages(const char *data, const char *snap, unsigned *reused)
{
    long ps = sysconf(_SC_PAGESIZE);
    char a[65536], b[65536], junk[65536];
    ck_assert(ps > 0 && ps <= (long)sizeof a);
    memset(junk, 0xa5, (size_t)ps);
    int fd = open(data, O_RDWR), sfd = open(snap, O_RDONLY);
    ck_assert(fd >= 0 && sfd >= 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    unsigned n = 0;
    *reused = 0;
    for (off_t off = 0; off + ps <= st.st_size; off += ps) {
        ck_assert_int_eq(syscall(SYS_pread64, fd, a, ps, off), ps);
        bool in_snap = syscall(SYS_pread64, sfd, b, ps, off) == ps;
        if (in_snap && memcmp(a, b, (size_t)ps) == 0)
            continue;
        ck_assert_int_eq(syscall(SYS_pwrite64, fd, junk, ps, off), ps);
        n++;
        *reused += in_snap && off >= 2 * ps;
    }
    close(fd);
    close(sfd);
    return n;
}

/* A child writes 100 messages (of 200 bytes, or in loops 2-3 of 200 KB,
 * whose deletes below free overflow runs: a batch images only the first
 * page of each, which is all the replayed delete reads), checkpoints
 * (lmq_env_sync) and copies data.mdb as the checkpoint left it; then it
 * sends 150 more, purges a second queue (range deletes), receives and
 * deletes 30 messages, sends 5 more of the first size (reusing the freed
 * runs once the pin moved on), reports what it deleted and SIGKILLs
 * itself. Everything LMDB wrote after the
 * checkpoint is then garbled, as an OS crash may leave it: the next open
 * must find exactly the acknowledged state, rebuilt from the log over the
 * checkpoint, whose pages the pin kept intact or the log's page images
 * restore (the child's pin moves on, so LMDB reuses some of them). */
START_TEST(test_os_crash_replays_log)
{
    test_map = maps[_i % 2];
    size_t first = _i < 2 ? 200 : 200000;
    lmq_env *env = open_env(LMQ_DURABILITY_FULL);
    lmq_queue_close(make_queue(env, NULL));
    lmq_queue_close(make_named_queue(env, "other", NULL));
    lmq_env_close(env);
    char data[300], snap[300];
    home_file(data, sizeof data, "data.mdb");
    snprintf(snap, sizeof snap, "%s/data.snap", lmq_test_dir);

    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = check_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        lmq_env *ce = open_env(LMQ_DURABILITY_FULL);
        lmq_queue *cq = NULL, *co = NULL;
        if (lmq_queue_open(ce, "gc", &cq) != 0 ||
            lmq_queue_open(ce, "other", &co) != 0)
            _exit(2);
        for (unsigned k = 0; k < 100; k++)
            if (send_body(cq, 5, k, first) != 0)
                _exit(3);
        if (lmq_env_sync(ce) != 0)
            _exit(4);
        copy_file(data, snap);
        for (unsigned k = 100; k < 250; k++)
            if (send_body(cq, 5, k, 200) != 0)
                _exit(5);
        for (unsigned k = 0; k < 3; k++)
            if (send_body(co, 6, k, 0) != 0)
                _exit(6);
        if (lmq_queue_purge(ce, "other") != 0)
            _exit(7);
        lmq_recv_opts o;
        lmq_recv_opts_init(&o);
        o.max_messages = 10;
        o.wait_seconds = 0;
        o.visibility_timeout = 3600;
        lmq_log_stats ls;
        lmq__store_log_stats(ce->store, &ls);
        uint64_t moved = ls.advances;
        for (int r = 0; r < 3; r++) {
            lmq_msg *m[10];
            size_t n = 0;
            if (lmq_receive(cq, &o, m, 10, &n) != 0 || n != 10)
                _exit(8);
            for (size_t i = 0; i < n; i++) {
                unsigned who, k;
                int deleted = 0;
                if (sscanf(lmq_msg_body(m[i], NULL), "%u-%u-", &who, &k) !=
                        2 ||
                    lmq_delete(cq, lmq_msg_receipt(m[i]), &deleted) != 0 ||
                    deleted != 1 ||
                    write(fds[1], &k, sizeof k) != (ssize_t)sizeof k)
                    _exit(9);
            }
        }
        /* Each delete moved the pin, a large one too (its overflow run
         * costs one image, not 49). */
        lmq__store_log_stats(ce->store, &ls);
        moved = ls.advances - moved;
        if (moved < 20)
            _exit(11);
        for (unsigned k = 250; k < 255; k++)
            if (send_body(cq, 5, k, first) != 0)
                _exit(12);
        raise(SIGKILL);
        _exit(10);
    }
    close(fds[1]);
    bool deleted[255] = {false};
    unsigned k, ndel = read_marks(fds[0], deleted, 255);
    reap_killed(pid);
    ck_assert_uint_eq(ndel, 30);
    unsigned reused;
    ck_assert_uint_gt(crash_pages(data, snap, &reused), 2);
    ck_assert_uint_gt(reused, 0); /* only the images can bring those back */

    env = open_env(LMQ_DURABILITY_FULL);
    lmq_log_stats ls;
    lmq__store_log_stats(env->store, &ls);
    ck_assert_uint_eq(ls.records, 0); /* replayed, then checkpointed */
    lmq_queue *q = NULL, *other = NULL;
    ck_ok(lmq_queue_open(env, "gc", &q));
    ck_assert_uint_eq(drain(q), 255 - 30);
    for (k = 0; k < 255; k++)
        ck_assert_msg(seen[5][k] == !deleted[k], "message %u: seen %d", k,
                      seen[5][k]);
    ck_ok(lmq_queue_open(env, "other", &other));
    ck_assert_uint_eq(drain(other), 0); /* the purge was replayed */
    lmq_queue_close(other);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* Two writer processes after a checkpoint, then an OS crash. Child A sends
 * 100 messages, checkpoints, copies data.mdb and lets B start; then A sends
 * 60 more (moving its pin: it owns the checkpoint) while B, the other
 * process, receives and deletes 40 and sends 60 of its own (its frees are
 * in the free-list records A images). Each reports what was acknowledged;
 * B says when it is done, A dies only then (a dead owner would make B
 * checkpoint), both by SIGKILL. Everything written since the checkpoint is
 * garbled: the next open must find exactly the acknowledged state. */
struct mark {
    unsigned who, k, deleted;
};

static void
report(int fd, unsigned who, unsigned k, unsigned deleted)
{
    struct mark m = {who, k, deleted};
    if (write(fd, &m, sizeof m) != (ssize_t)sizeof m)
        _exit(20);
}

START_TEST(test_os_crash_two_writers)
{
    test_map = maps[_i];
    lmq_env *env = open_env(LMQ_DURABILITY_FULL);
    lmq_queue_close(make_queue(env, NULL));
    lmq_env_close(env);
    char data[300], snap[300];
    home_file(data, sizeof data, "data.mdb");
    snprintf(snap, sizeof snap, "%s/data.snap", lmq_test_dir);
    int marks[2], go[2], done[2];
    ck_assert_int_eq(pipe(marks), 0);
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(done), 0);

    pid_t a = check_fork();
    ck_assert_int_ge(a, 0);
    if (a == 0) {
        close(marks[0]);
        lmq_env *ce = open_env(LMQ_DURABILITY_FULL);
        lmq_queue *cq = NULL;
        char c;
        if (lmq_queue_open(ce, "gc", &cq) != 0)
            _exit(2);
        for (unsigned k = 0; k < 100; k++) {
            if (send_body(cq, 5, k, 300) != 0)
                _exit(3);
            report(marks[1], 5, k, 0);
        }
        if (lmq_env_sync(ce) != 0)
            _exit(4);
        copy_file(data, snap);
        if (write(go[1], "g", 1) != 1)
            _exit(5);
        for (unsigned k = 100; k < 160; k++) {
            if (send_body(cq, 5, k, 300) != 0)
                _exit(6);
            report(marks[1], 5, k, 0);
        }
        lmq_log_stats ls;
        lmq__store_log_stats(ce->store, &ls);
        if (!ls.owner || ls.advances < 30)
            _exit(7);
        if (read(done[0], &c, 1) != 1)
            _exit(8);
        raise(SIGKILL);
        _exit(9);
    }
    pid_t b = check_fork();
    ck_assert_int_ge(b, 0);
    if (b == 0) {
        close(marks[0]);
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(2);
        lmq_env *ce = open_env(LMQ_DURABILITY_FULL);
        lmq_queue *cq = NULL;
        if (lmq_queue_open(ce, "gc", &cq) != 0)
            _exit(3);
        lmq_recv_opts o;
        lmq_recv_opts_init(&o);
        o.max_messages = 5;
        o.wait_seconds = 0;
        o.visibility_timeout = 3600;
        unsigned sent = 0, deleted = 0;
        while (sent < 60 || deleted < 40) {
            if (sent < 60) {
                if (send_body(cq, 6, sent, 300) != 0)
                    _exit(4);
                report(marks[1], 6, sent++, 0);
            }
            lmq_msg *m[5];
            size_t n = 0;
            if (deleted < 40 && lmq_receive(cq, &o, m, 5, &n) != 0)
                _exit(5);
            for (size_t i = 0; i < n; i++) {
                unsigned who, k;
                int gone = 0;
                if (sscanf(lmq_msg_body(m[i], NULL), "%u-%u-", &who, &k) !=
                        2 ||
                    lmq_delete(cq, lmq_msg_receipt(m[i]), &gone) != 0 ||
                    gone != 1)
                    _exit(6);
                report(marks[1], who, k, 1);
                deleted++;
                lmq_msg_free(m[i]);
            }
        }
        lmq_log_stats ls;
        lmq__store_log_stats(ce->store, &ls);
        if (ls.owner || ls.checkpoints != 0) /* A kept the checkpoint */
            _exit(7);
        if (write(done[1], "d", 1) != 1)
            _exit(8);
        raise(SIGKILL);
        _exit(9);
    }
    close(marks[1]);
    close(go[0]);
    close(go[1]);
    close(done[0]);
    close(done[1]);
    static unsigned char acked[MAX_WHO][MAX_N];
    memset(acked, 0, sizeof acked);
    struct mark m;
    unsigned nmarks = 0, ndel = 0;
    while (read(marks[0], &m, sizeof m) == (ssize_t)sizeof m) {
        ck_assert(m.who < MAX_WHO && m.k < MAX_N);
        acked[m.who][m.k] = m.deleted ? 2 : 1;
        nmarks++;
        ndel += m.deleted;
    }
    close(marks[0]);
    reap_killed(b);
    reap_killed(a);
    ck_assert_uint_eq(nmarks, 160 + 60 + 40);
    ck_assert_uint_eq(ndel, 40);
    unsigned reused;
    ck_assert_uint_gt(crash_pages(data, snap, &reused), 2);
    ck_assert_uint_gt(reused, 0); /* only the images can bring those back */

    env = open_env(LMQ_DURABILITY_FULL);
    lmq_queue *q = NULL;
    ck_ok(lmq_queue_open(env, "gc", &q));
    ck_assert_uint_eq(drain(q), 160 + 60 - 40);
    for (unsigned who = 5; who <= 6; who++)
        for (unsigned k = 0; k < (who == 5 ? 160u : 60u); k++)
            ck_assert_msg(seen[who][k] == (acked[who][k] == 1),
                          "message %u-%u: seen %d, acknowledged %d", who, k,
                          seen[who][k], acked[who][k]);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* Runs fn(arg) in a child that opens the home FULL (or `d`) and exits with
 * fn's status; returns that status. */
static int
in_child(lmq_durability d, int (*fn)(lmq_env *, lmq_queue *, void *),
         void *arg)
{
    pid_t pid = check_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lmq_env *ce = open_env(d);
        lmq_queue *cq = NULL;
        if (lmq_queue_open(ce, "gc", &cq) != 0)
            _exit(2);
        _exit(fn(ce, cq, arg));
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static int
own_then_die(lmq_env *env, lmq_queue *q, void *arg)
{
    (void)arg;
    if (lmq_env_sync(env) != 0) /* this process owns the checkpoint */
        return 3;
    for (unsigned k = 0; k < 5; k++)
        if (send_body(q, 7, k, 0) != 0)
            return 4;
    raise(SIGKILL);
    return 5;
}

/* The process that pins the checkpoint dies while another has the home
 * open: the next write anywhere must not take its pages from a snapshot
 * nobody pins. The dead owner's last send imaged (and flushed) what it had
 * to, so the writer adopts the checkpoint (pins the newest transaction
 * before it writes) instead of making one, and nothing is lost. */
START_TEST(test_pin_owner_death)
{
    test_map = maps[_i];
    lmq_env *env = open_env(LMQ_DURABILITY_FULL);
    lmq_queue *q = make_queue(env, NULL);
    lmq_log_stats ls;
    lmq__store_log_stats(env->store, &ls);
    ck_assert(ls.owner); /* the queue's creation checkpointed first */
    uint64_t gen = ls.gen, mine = ls.checkpoints;

    int status = in_child(LMQ_DURABILITY_FULL, own_then_die, NULL);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "child status %d", status);
    lmq__store_log_stats(env->store, &ls);
    ck_assert_uint_eq(ls.gen, gen + 1);
    ck_assert(!ls.owner && ls.records == 5 && ls.replayable == 5);

    ck_ok(send_body(q, 7, 5, 0));
    lmq__store_log_stats(env->store, &ls);
    ck_assert_uint_eq(ls.gen, gen + 1);
    ck_assert(ls.owner);
    ck_assert_uint_eq(ls.checkpoints, mine);
    ck_assert_uint_eq(ls.adoptions, 1);
    ck_assert(ls.records == 6 && ls.replayable == 6);
    ck_assert_uint_eq(drain(q), 6);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

static int
die_in_third_commit(lmq_env *env, lmq_queue *q, void *arg)
{
    int fd = *(int *)arg;
    (void)env;
    kill_at_commit = 3;
    lmq__store_set_commit_hook(suicide_hook);
    for (unsigned k = 0; k < 5; k++) {
        if (send_body(q, 9, k, 0) != 0)
            return 3;
        if (write(fd, &k, sizeof k) != (ssize_t)sizeof k)
            return 4;
    }
    return 5;
}

/* A writer killed after appending its record and before its commit leaves
 * a record of a transaction that never happened: the next writer (of
 * another process; it gets the same txnid) replaces it, and the log stays
 * one unbroken run of records. */
START_TEST(test_orphan_record_replaced)
{
    test_map = maps[_i];
    lmq_env *env = open_env(LMQ_DURABILITY_FULL);
    lmq_queue *q = make_queue(env, NULL);
    lmq_log_stats ls;
    lmq__store_log_stats(env->store, &ls);
    uint64_t before = ls.records;

    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    int status = in_child(LMQ_DURABILITY_FULL, die_in_third_commit, &fds[1]);
    close(fds[1]);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "child status %d", status);
    unsigned k, nacks = 0;
    while (read(fds[0], &k, sizeof k) == (ssize_t)sizeof k)
        ck_assert_uint_eq(k, nacks++);
    close(fds[0]);
    ck_assert_uint_gt(nacks, 0);
    ck_assert_uint_lt(nacks, 5);

    lmq__store_log_stats(env->store, &ls);
    ck_assert_uint_eq(ls.records, before + nacks + 1); /* with the orphan */
    ck_assert_int_eq(ls.replayable, (int)ls.records);
    ck_ok(send_body(q, 9, 100, 0));
    lmq__store_log_stats(env->store, &ls);
    ck_assert_uint_eq(ls.records, before + nacks + 1); /* replaced */
    ck_assert_int_eq(ls.replayable, (int)ls.records);
    ck_assert_uint_eq(drain(q), nacks + 1);
    for (k = 0; k < nacks; k++)
        ck_assert(seen[9][k]);
    ck_assert(!seen[9][nacks] && seen[9][100]);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

static int
send_300(lmq_env *env, lmq_queue *q, void *arg)
{
    (void)arg;
    for (unsigned k = 0; k < 300; k++)
        if (send_body(q, 10, k, 0) != 0)
            return 3;
    lmq_queue_close(q);
    lmq_env_close(env);
    return 0;
}

/* A process that pinned a checkpoint and then sits idle gives the pin up
 * once another process has checkpointed since (else LMDB could never
 * reuse the pages freed meanwhile, and the file would grow). */
START_TEST(test_idle_pin_released)
{
    lmq_env *env = open_env(LMQ_DURABILITY_FULL);
    lmq_queue *q = make_queue(env, NULL);
    ck_ok(lmq_env_sync(env));
    lmq_log_stats ls;
    lmq__store_log_stats(env->store, &ls);
    ck_assert(ls.owner && ls.pinned);
    uint64_t gen = ls.gen;

    int status = in_child(LMQ_DURABILITY_FULL, send_300, NULL);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child status %d", status);
    /* The pin thread looks twice a second: allow 20 s. */
    for (int i = 0; i < 400; i++) {
        lmq__store_log_stats(env->store, &ls);
        if (!ls.pinned)
            break;
        usleep(50000);
    }
    ck_assert(!ls.pinned && !ls.owner);
    ck_assert_uint_gt(ls.gen, gen);
    ck_assert_uint_eq(drain(q), 300);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

static int
send_one_relaxed(lmq_env *env, lmq_queue *q, void *arg)
{
    (void)arg;
    int rc = send_body(q, 11, 5, 0);
    lmq_queue_close(q);
    lmq_env_close(env);
    return rc ? 3 : 0;
}

/* A relaxed process does not log, so before it commits into a home whose
 * log holds records it checkpoints (a revert to the old checkpoint would
 * drop its commit); the next FULL write then checkpoints again (the log
 * cannot continue across a commit it does not hold). */
START_TEST(test_relaxed_writer_checkpoints)
{
    lmq_env *env = open_env(LMQ_DURABILITY_FULL);
    lmq_queue *q = make_queue(env, NULL);
    for (unsigned k = 0; k < 5; k++)
        ck_ok(send_body(q, 11, k, 0));
    lmq_log_stats ls;
    lmq__store_log_stats(env->store, &ls);
    ck_assert_uint_ge(ls.records, 5);
    uint64_t gen = ls.gen;

    int status = in_child(_i == 0 ? LMQ_DURABILITY_NONE
                                  : LMQ_DURABILITY_PERIODIC,
                          send_one_relaxed, NULL);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child status %d", status);
    lmq__store_log_stats(env->store, &ls);
    ck_assert_uint_eq(ls.gen, gen + 1);
    ck_assert(ls.records == 0 && !ls.owner);

    ck_ok(send_body(q, 11, 6, 0));
    lmq__store_log_stats(env->store, &ls);
    ck_assert_uint_eq(ls.gen, gen + 2);
    ck_assert(ls.owner && ls.records == 1 && ls.replayable == 1);
    ck_assert_uint_eq(drain(q), 7);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

static int
send_two_full(lmq_env *env, lmq_queue *q, void *arg)
{
    (void)arg;
    int rc = send_body(q, 12, 0, 0) || send_body(q, 12, 1, 0);
    lmq_log_stats ls;
    lmq__store_log_stats(env->store, &ls);
    rc = rc ? 3 : ls.tail % 4096 != 0 ? 4 : 0;
    lmq_queue_close(q);
    lmq_env_close(env);
    return rc;
}

/* A record that is flushed (a send, a delete) ends at a page boundary, so
 * the next record, maybe another process's, starts on a page the flush is
 * not writing back; a soft record (a receive) is not padded. Padded
 * records replay like any other (the crash tests above replay them). */
START_TEST(test_flushed_records_end_pages)
{
    lmq_env *env = open_env(LMQ_DURABILITY_FULL);
    lmq_queue *q = make_queue(env, NULL);
    lmq_log_stats ls;
    ck_ok(send_body(q, 12, 7, 0));
    lmq__store_log_stats(env->store, &ls);
    ck_assert_uint_eq(ls.tail % 4096, 0);

    lmq_recv_opts o;
    lmq_msg *m[1];
    size_t n;
    lmq_recv_opts_init(&o);
    ck_ok(lmq_receive(q, &o, m, 1, &n));
    ck_assert_uint_eq(n, 1);
    lmq__store_log_stats(env->store, &ls);
    uint64_t soft_end = ls.tail;
    ck_assert_uint_ne(soft_end % 4096, 0);

    ck_ok(lmq_delete(q, lmq_msg_receipt(m[0]), NULL));
    lmq_msg_free(m[0]);
    lmq__store_log_stats(env->store, &ls);
    ck_assert_uint_eq(ls.tail % 4096, 0);
    ck_assert_uint_gt(ls.tail, soft_end);

    int status = in_child(LMQ_DURABILITY_FULL, send_two_full, NULL);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child status %d", status);
    lmq__store_log_stats(env->store, &ls);
    ck_assert_int_eq(ls.replayable, (int)ls.records);
    ck_assert_uint_eq(drain(q), 2);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* The log's checksum: the published crc32c check values (the "123456789"
 * check value, and RFC 3720 B.4's 32-byte vectors) from both the table and
 * whatever this CPU uses, and the two agree on every length and alignment,
 * so a log one wrote is read by the other. */
START_TEST(test_crc32c_matches)
{
    static const struct {
        int fill;
        uint32_t crc;
    } rfc[] = {{0x00, 0x8a9136aa}, {0xff, 0x62a8ab43}, {-1, 0x46dd794e}};
    uint8_t v[32];
    for (int t = 0; t < 2; t++) {
        ck_assert_uint_eq(lmq__crc32c("123456789", 9, t), 0xe3069283u);
        ck_assert_uint_eq(lmq__crc32c("", 0, t), 0);
        for (size_t i = 0; i < sizeof rfc / sizeof rfc[0]; i++) {
            for (int b = 0; b < 32; b++)
                v[b] = (uint8_t)(rfc[i].fill < 0 ? b : rfc[i].fill);
            ck_assert_uint_eq(lmq__crc32c(v, sizeof v, t), rfc[i].crc);
        }
    }
    size_t big = (256u << 10) + 64;
    uint8_t *buf = malloc(big);
    ck_assert_ptr_nonnull(buf);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < big; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
    static const size_t lens[] = {1, 7, 8, 9, 15, 16, 63, 64, 65, 4095, 4096,
                                  (256u << 10) + 13};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t off = 0; off < 8; off++)
            ck_assert_uint_eq(lmq__crc32c(buf + off, lens[i], false),
                              lmq__crc32c(buf + off, lens[i], true));
    /* one flipped bit changes the sum */
    uint32_t before = lmq__crc32c(buf, big, false);
    buf[big / 2] ^= 0x10;
    ck_assert_uint_ne(lmq__crc32c(buf, big, false), before);
    free(buf);
}
END_TEST

Suite *
lmq_suite_store(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("group_commit_keeps_own_results");
    tcase_add_checked_fixture(tc, lmq_test_tmp_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_batch_own_results, 0, 2);
    tcase_add_loop_test(tc, test_threads_bad_input, 0, 2);
    tcase_add_loop_test(tc, test_procs_threads, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("full_acknowledges_synced_writes");
    tcase_add_checked_fixture(tc, lmq_test_tmp_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_full_ack_is_synced);
    tcase_add_test(tc, test_full_mixed_batch_is_synced);
    tcase_add_test(tc, test_none_leaves_writes_unsynced);
    suite_add_tcase(s, tc);

    tc = tcase_create("homes_prepare_space_ahead");
    tcase_add_checked_fixture(tc, lmq_test_tmp_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_prefault_ahead, 0, 3);
    tcase_add_loop_test(tc, test_map_huge, 0, 4);
    tcase_add_test(tc, test_prefault_procs);
    suite_add_tcase(s, tc);

    tc = tcase_create("crash_loses_nothing_acknowledged");
    tcase_add_checked_fixture(tc, lmq_test_tmp_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_kill_leader_mid_commit, 0, 6);
    tcase_add_loop_test(tc, test_kill_anywhere, 0, 6);
    tcase_add_loop_test(tc, test_kill_after_soft_receive, 0, 2);
    tcase_add_test(tc, test_half_checkpoint_not_built_on);
    suite_add_tcase(s, tc);

    tc = tcase_create("log_recovers_and_pins");
    tcase_add_checked_fixture(tc, lmq_test_tmp_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_os_crash_replays_log, 0, 4);
    tcase_add_loop_test(tc, test_os_crash_two_writers, 0, 2);
    tcase_add_loop_test(tc, test_pin_owner_death, 0, 2);
    tcase_add_loop_test(tc, test_orphan_record_replaced, 0, 2);
    tcase_add_test(tc, test_idle_pin_released);
    tcase_add_loop_test(tc, test_relaxed_writer_checkpoints, 0, 2);
    tcase_add_test(tc, test_flushed_records_end_pages);
    suite_add_tcase(s, tc);

    tc = tcase_create("log_checksum");
    tcase_add_test(tc, test_crc32c_matches);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_store());
}
