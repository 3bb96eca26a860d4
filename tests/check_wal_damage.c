/*
 * check_wal_damage.c: damage in the redo log (HOME/wal) of a `full` home is
 * reported, never replayed around in silence (issue 27).
 *
 * A child opens a `full` home, sends N messages (each acknowledged, each one
 * flushed record of the log, fewer than a checkpoint's worth) and SIGKILLs
 * itself, so the log holds N records past the last checkpoint. The test
 * then damages the log the way a bad disk or a stray write would, or the
 * way a crash may (the unflushed end only), and opens the home:
 * - damage (a bad record before records known to be written, a file cut
 *   short) is LMQ_ECORRUPT, naming the file and the offset, and leaves
 *   every file of the home as it was;
 * - a torn end (an OS crash: the shared tail HOME/wal.lock is lost with
 *   the page cache, simulated by emptying it) opens with every message
 *   before it.
 */
#include "lmq_test.h"

#include "core.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define REC_START 8192u
#define MAX_REC 512
#define MAX_MSG 512

static char home[300];

static void
setup(void)
{
    lmq_test_tmp_setup();
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
}

static void
teardown(void)
{
    lmq_test_tmp_teardown();
}

static int
open_home(lmq_env **env)
{
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    o.durability = LMQ_DURABILITY_FULL;
    o.map_size = 64u << 20;
    *env = NULL;
    return lmq_env_open(home, &o, env);
}

static int
send_one(lmq_queue *q, unsigned k)
{
    char body[32];
    lmq_send_entry e;
    lmq_send_result r;
    snprintf(body, sizeof body, "m-%u", k);
    lmq_send_entry_init(&e);
    e.body = body;
    return lmq_send(q, &e, &r);
}

static long kill_at_commit;

static void
suicide_hook(size_t nops)
{
    (void)nops;
    if (__atomic_sub_fetch(&kill_at_commit, 1, __ATOMIC_SEQ_CST) == 0)
        raise(SIGKILL);
}

/* A child creates queue "q", sends m-0 .. m-(n-1), each acknowledged, and
 * SIGKILLs itself without closing the home (no checkpoint at close). With
 * orphan, it dies in its next commit instead, after the log append. */
static void
fill(unsigned n, bool orphan)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lmq_env *env;
        lmq_queue *q;
        if (open_home(&env) != 0 ||
            lmq_queue_create(env, "q", NULL, NULL, NULL) != 0 ||
            lmq_queue_open(env, "q", &q) != 0)
            _exit(2);
        for (unsigned k = 0; k < n; k++)
            if (send_one(q, k) != 0)
                _exit(3);
        if (orphan) {
            kill_at_commit = 1;
            lmq__store_set_commit_hook(suicide_hook);
            send_one(q, n);
            _exit(4);
        }
        raise(SIGKILL);
        _exit(5);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "child status %d", status);
}

static void
path_of(char *out, size_t n, const char *file)
{
    snprintf(out, n, "%s/%s", home, file);
}

static uint8_t *
slurp(const char *file, size_t *len)
{
    char p[400];
    path_of(p, sizeof p, file);
    FILE *f = fopen(p, "rb");
    ck_assert_msg(f != NULL, "%s: %s", p, strerror(errno));
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long sz = ftell(f);
    ck_assert_int_ge(sz, 0);
    rewind(f);
    uint8_t *b = malloc((size_t)sz + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *len = (size_t)sz;
    return b;
}

static uint64_t
be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* The log's run of records after the checkpoint (their framing: u32 length,
 * u32 crc, u64 generation, u64 txnid; one generation, consecutive txnids):
 * offsets and lengths; returns how many. */
static unsigned
records(uint64_t *off, uint64_t *len)
{
    size_t size;
    uint8_t *w = slurp("wal", &size);
    unsigned n = 0;
    uint64_t at = REC_START, gen = 0, txn = 0;
    while (n < MAX_REC && at + 24 <= size) {
        uint64_t l = be(w + at, 4), g = be(w + at + 8, 8),
                 t = be(w + at + 16, 8);
        if (l < 24 || l > size - at || (n && (g != gen || t != txn + 1)))
            break;
        gen = g;
        txn = t;
        off[n] = at;
        len[n++] = l;
        at += l;
    }
    free(w);
    return n;
}

static void
flip(uint64_t at)
{
    char p[400];
    path_of(p, sizeof p, "wal");
    int fd = open(p, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, (off_t)at), 1);
    b ^= 0x5a;
    ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)at), 1);
    close(fd);
}

static void
cut(const char *file, uint64_t size)
{
    char p[400];
    path_of(p, sizeof p, file);
    ck_assert_int_eq(truncate(p, (off_t)size), 0);
}

/* An OS crash loses the page cache, and with it what HOME/wal.lock said
 * about the log (it is never flushed): zero it. */
static void
lose_shared_tail(void)
{
    char p[400];
    static const uint8_t zeros[4096];
    path_of(p, sizeof p, "wal.lock");
    int fd = open(p, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, zeros, sizeof zeros, 0), sizeof zeros);
    close(fd);
}

/* Receive every message of "q" (left in flight): they must be exactly
 * m-0 .. m-(count-1); returns count. */
static unsigned
messages(lmq_env *env)
{
    static unsigned char seen[MAX_MSG];
    lmq_queue *q;
    lmq_recv_opts o;
    lmq_msg *m[10];
    size_t n;
    unsigned total = 0;
    memset(seen, 0, sizeof seen);
    ck_ok(lmq_queue_open(env, "q", &q));
    lmq_recv_opts_init(&o);
    o.max_messages = 10;
    o.visibility_timeout = 3600;
    o.wait_seconds = 0;
    do {
        ck_ok(lmq_receive(q, &o, m, 10, &n));
        for (size_t i = 0; i < n; i++) {
            unsigned k;
            const char *b = lmq_msg_body(m[i], NULL);
            ck_assert_msg(sscanf(b, "m-%u", &k) == 1 && k < MAX_MSG,
                          "body %s", b);
            ck_assert_msg(!seen[k], "%s twice", b);
            seen[k] = 1;
            lmq_msg_free(m[i]);
        }
        total += (unsigned)n;
    } while (n > 0);
    for (unsigned k = 0; k < total; k++)
        ck_assert_msg(seen[k], "m-%u missing of %u", k, total);
    lmq_queue_close(q);
    return total;
}

struct snap {
    uint8_t *b[3];
    size_t n[3];
};
static const char *const snap_files[3] = {"data.mdb", "wal", "wal.lock"};

static void
snap_take(struct snap *s)
{
    for (int i = 0; i < 3; i++)
        s->b[i] = slurp(snap_files[i], &s->n[i]);
}

/* Every file of the home is as it was. */
static void
snap_same(struct snap *s)
{
    for (int i = 0; i < 3; i++) {
        size_t n;
        uint8_t *b = slurp(snap_files[i], &n);
        ck_assert_msg(n == s->n[i] && memcmp(b, s->b[i], n) == 0,
                      "%s changed", snap_files[i]);
        free(b);
        free(s->b[i]);
    }
}

/* The open fails with LMQ_ECORRUPT naming HOME/wal and offset at, and
 * changes nothing (twice: the failure is stable). */
static void
open_corrupt(uint64_t at, const char *also)
{
    struct snap s;
    char want[400];
    snap_take(&s);
    for (int round = 0; round < 2; round++) {
        lmq_env *env;
        ck_lmq(open_home(&env), LMQ_ECORRUPT);
        const char *msg = lmq_errmsg();
        snprintf(want, sizeof want, "%s/wal is damaged at offset %llu", home,
                 (unsigned long long)at);
        ck_assert_msg(strstr(msg, want) != NULL, "message: %s", msg);
        if (also)
            ck_assert_msg(strstr(msg, also) != NULL, "message: %s", msg);
    }
    snap_same(&s);
}

static unsigned
open_count(void)
{
    lmq_env *env;
    ck_ok(open_home(&env));
    unsigned n = messages(env);
    lmq_env_close(env);
    return n;
}

#define N 60

/* One flipped byte in a record in the middle: LMQ_ECORRUPT, file and
 * offset named, nothing changed. The documented way out (cut the log at
 * the offset, remove wal.lock) then opens with the messages before it. */
START_TEST(test_flip_middle)
{
    uint64_t off[MAX_REC], len[MAX_REC];
    fill(N, false);
    unsigned n = records(off, len);
    ck_assert_uint_ge(n, N);
    unsigned mid = n / 2;
    flip(off[mid] + 24 + 3); /* inside its first operation */
    open_corrupt(off[mid], "there is bad");

    cut("wal", off[mid]);
    char p[400];
    path_of(p, sizeof p, "wal.lock");
    ck_assert_int_eq(unlink(p), 0);
    unsigned got = open_count();
    ck_assert_uint_lt(got, N);
    ck_assert_uint_ge(got + 3, mid);
}
END_TEST

/* A flipped byte in a record header (its length): the same. */
START_TEST(test_flip_header)
{
    uint64_t off[MAX_REC], len[MAX_REC];
    fill(N, false);
    unsigned n = records(off, len);
    ck_assert_uint_ge(n, N);
    flip(off[n / 3] + 1);
    open_corrupt(off[n / 3], NULL);
}
END_TEST

/* A log cut short, in a record or between two: LMQ_ECORRUPT. So is a cut
 * in the last record: its send was acknowledged, so it was flushed. */
START_TEST(test_cut_short)
{
    uint64_t off[MAX_REC], len[MAX_REC];
    fill(N, false);
    unsigned n = records(off, len);
    ck_assert_uint_ge(n, N);
    cut("wal", off[n / 2] + len[n / 2] / 2);
    open_corrupt(off[n / 2], "the file ends at");
    cut("wal", off[n / 4]);
    open_corrupt(off[n / 4], "the file ends at");
}
END_TEST

START_TEST(test_cut_last_acknowledged)
{
    uint64_t off[MAX_REC], len[MAX_REC];
    fill(N, false);
    unsigned n = records(off, len);
    cut("wal", off[n - 1] + len[n - 1] / 2);
    open_corrupt(off[n - 1], NULL);
}
END_TEST

/* A flipped byte in the last record, which was acknowledged: damage. */
START_TEST(test_flip_last_acknowledged)
{
    uint64_t off[MAX_REC], len[MAX_REC];
    fill(N, false);
    unsigned n = records(off, len);
    flip(off[n - 1] + len[n - 1] / 2);
    open_corrupt(off[n - 1], NULL);
}
END_TEST

/* A torn end after an OS crash: the last record cut in its middle (its
 * send, m-N, stands for one whose flush the crash interrupted). The home
 * opens with every message before it. */
START_TEST(test_torn_last_after_os_crash)
{
    uint64_t off[MAX_REC], len[MAX_REC];
    fill(N + 1, false);
    unsigned n = records(off, len);
    lose_shared_tail();
    cut("wal", off[n - 1] + len[n - 1] / 2);
    ck_assert_uint_eq(open_count(), N);
}
END_TEST

/* The same with a flipped byte in the last record (a torn sector). */
START_TEST(test_flip_last_after_os_crash)
{
    uint64_t off[MAX_REC], len[MAX_REC];
    fill(N + 1, false);
    unsigned n = records(off, len);
    lose_shared_tail();
    flip(off[n - 1] + 24 + 3);
    ck_assert_uint_eq(open_count(), N);
}
END_TEST

/* Without the shared tail, a bad record in the middle is still found: the
 * records after it carry flush marks past it (the bad one was flushed). */
START_TEST(test_flip_middle_after_os_crash)
{
    uint64_t off[MAX_REC], len[MAX_REC];
    fill(N, false);
    unsigned n = records(off, len);
    lose_shared_tail();
    flip(off[n / 2] + 24 + 3);
    open_corrupt(off[n / 2], "shows the log was flushed up to offset");
}
END_TEST

/* A child sends m-0, m-1, ... (one thread), writing each acknowledged k to
 * fd, until it is killed. */
static void
send_forever(int fd)
{
    lmq_env *env;
    lmq_queue *q;
    if (open_home(&env) != 0 ||
        lmq_queue_create(env, "q", NULL, NULL, NULL) != 0 ||
        lmq_queue_open(env, "q", &q) != 0)
        _exit(2);
    for (unsigned k = 0; k < MAX_MSG; k++) {
        if (send_one(q, k) != 0)
            _exit(3);
        if (write(fd, &k, sizeof k) != (ssize_t)sizeof k)
            _exit(4);
    }
    _exit(5);
}

/* A process crash is never damage: a writer killed after its append and
 * before its commit leaves its record last (replayed whole), and a
 * process killed anywhere by another (in an append, a flush, a checkpoint:
 * 256 records make one) leaves a log that opens with everything it
 * acknowledged. */
START_TEST(test_process_crash_is_not_damage)
{
    fill(N, true);
    unsigned got = open_count();
    ck_assert_uint_ge(got, N);
    ck_assert_uint_le(got, N + 1);

    for (unsigned round = 0; round < 6; round++) {
        snprintf(home, sizeof home, "%s/home%u", lmq_test_dir, round);
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(p[0]);
            send_forever(p[1]);
        }
        close(p[1]);
        unsigned k, acked = 0, target = 40 + round * 57;
        while (acked < target && read(p[0], &k, sizeof k) == sizeof k)
            acked = k + 1;
        ck_assert_uint_eq(acked, target);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        while (read(p[0], &k, sizeof k) == sizeof k)
            acked = k + 1; /* acknowledged before the kill landed */
        close(p[0]);
        got = open_count();
        ck_assert_msg(got >= acked && got <= acked + 1,
                      "round %u: %u acknowledged, %u found", round, acked,
                      got);
    }
}
END_TEST

/* The CLI says what is wrong and exits non-zero. */
START_TEST(test_cli_reports)
{
    uint64_t off[MAX_REC], len[MAX_REC];
    fill(N, false);
    unsigned n = records(off, len);
    flip(off[n / 2] + 24 + 3);
    char err[400], cmd[2048];
    snprintf(err, sizeof err, "%s/err.txt", lmq_test_dir);
    snprintf(cmd, sizeof cmd,
             "%s list-queues --home %s >/dev/null 2>%s",
             LMQ_BIN, home, err);
    int st = system(cmd);
    ck_assert(WIFEXITED(st));
    ck_assert_int_ne(WEXITSTATUS(st), 0);
    FILE *f = fopen(err, "r");
    ck_assert_ptr_nonnull(f);
    char text[1024] = "";
    size_t r = fread(text, 1, sizeof text - 1, f);
    text[r] = '\0';
    fclose(f);
    char want[400];
    snprintf(want, sizeof want, "%s/wal is damaged at offset %llu", home,
             (unsigned long long)off[n / 2]);
    ck_assert_msg(strstr(text, want) != NULL, "stderr: %s", text);
}
END_TEST

static Suite *
lmq_suite_wal_damage(void)
{
    Suite *s = suite_create("wal_damage");
    TCase *tc = tcase_create("damage");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_flip_middle);
    tcase_add_test(tc, test_flip_header);
    tcase_add_test(tc, test_cut_short);
    tcase_add_test(tc, test_cut_last_acknowledged);
    tcase_add_test(tc, test_flip_last_acknowledged);
    tcase_add_test(tc, test_torn_last_after_os_crash);
    tcase_add_test(tc, test_flip_last_after_os_crash);
    tcase_add_test(tc, test_flip_middle_after_os_crash);
    tcase_add_test(tc, test_process_crash_is_not_damage);
    tcase_add_test(tc, test_cli_reports);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_wal_damage());
}
