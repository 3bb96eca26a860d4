/*
 * check_compact.c: lmq_env_compact() (lib/store.c "compaction", issues 22
 * and 23).
 *
 * Stale plaintext: a clear queue's marker bodies are sent and deleted, the
 * queue is switched to sealed, and every file of the home still holds
 * markers in LMDB's free pages (and the redo log); after the compaction no
 * file does, the data file is smaller, and the sealed messages still open.
 * A home open in another process (or in this one) is refused with
 * LMQ_EBUSY and left as it was. A compaction SIGKILLed at random points
 * leaves a home that opens with every message.
 *
 * LMQ_COMPACT_LONG=1: more kill rounds (CI: short).
 */
#include "lmq_test.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define MARK "COMPACTMARK"

static char keyfile[320], home[320];

static void
setup(void)
{
    lmq_test_tmp_setup();
    snprintf(keyfile, sizeof keyfile, "%s/keys.json", lmq_test_dir);
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    ck_ok(lmq_keyring_add(keyfile, NULL, 0, NULL));
}

static void
teardown(void)
{
    lmq_test_tmp_teardown();
}

static void
opts(lmq_env_opts *o, lmq_durability d, lmq_map_mode mm)
{
    lmq_env_opts_init(o);
    o->durability = d;
    o->map_mode = mm;
    o->map_size = 16u << 20;
    o->key_file = keyfile;
}

static lmq_env *
open_env(lmq_durability d, lmq_map_mode mm)
{
    lmq_env_opts o;
    lmq_env *env = NULL;
    opts(&o, d, mm);
    ck_ok(lmq_env_open(home, &o, &env));
    return env;
}

static void
send_body(lmq_queue *q, const char *tag, int i)
{
    char body[2048];
    int n = snprintf(body, sizeof body, MARK "-%s-%d ", tag, i);
    memset(body + n, 'p', sizeof body - (size_t)n - 1);
    body[sizeof body - 1] = '\0';
    lmq_send_entry e;
    lmq_send_result r;
    lmq_send_entry_init(&e);
    e.body = body;
    e.body_len = SIZE_MAX;
    ck_ok(lmq_send(q, &e, &r));
}

/* Receive (and with del, delete) everything; returns how many. */
static size_t
drain(lmq_queue *q, bool del)
{
    size_t total = 0;
    for (;;) {
        lmq_recv_opts ro;
        lmq_msg *m[10];
        size_t n = 0;
        lmq_recv_opts_init(&ro);
        ro.max_messages = 10;
        ro.visibility_timeout = 600;
        ck_ok(lmq_receive(q, &ro, m, 10, &n));
        if (n == 0)
            return total;
        for (size_t i = 0; i < n; i++) {
            int d;
            ck_assert_ptr_nonnull(strstr(lmq_msg_body(m[i], NULL), MARK));
            if (del)
                ck_ok(lmq_delete(q, lmq_msg_receipt(m[i]), &d));
            lmq_msg_free(m[i]);
        }
        total += n;
    }
}

static int
scan(const char *marker)
{
    char what[4096] = "";
    return lmq_test_scan_dir(home, marker, what, sizeof what);
}

static uint64_t
file_size(const char *name, ino_t *ino)
{
    char p[400];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", home, name);
    ck_assert_int_eq(stat(p, &st), 0);
    if (ino)
        *ino = st.st_ino;
    return (uint64_t)st.st_size;
}

static void
scrub(lmq_durability d, lmq_map_mode mm)
{
    lmq_env *env = open_env(d, mm);
    lmq_map *a = lmq_map_new();
    lmq_queue *q;
    ck_ok(lmq_map_set(a, "SqsManagedSseEnabled", "false"));
    ck_ok(lmq_queue_create(env, "c", a, NULL, NULL));
    ck_ok(lmq_queue_open(env, "c", &q));
    for (int i = 0; i < 200; i++)
        send_body(q, "clear", i);
    ck_assert_uint_eq(drain(q, true), 200);
    ck_ok(lmq_map_set(a, "SqsManagedSseEnabled", "true"));
    ck_ok(lmq_queue_set_attributes(env, "c", a));
    lmq_map_free(a);
    for (int i = 0; i < 5; i++)
        send_body(q, "sealed", i);
    lmq_queue_close(q);
    lmq_env_close(env);
    /* The deleted clear bodies are still on disk (the scan can see). */
    ck_assert_int_ge(scan(MARK "-clear"), 1);

    lmq_env_opts o;
    uint64_t before = 0, after = 0;
    opts(&o, d, mm);
    ck_ok(lmq_env_compact(home, &o, &before, &after));
    ck_assert_msg(after < before, "data.mdb %llu -> %llu bytes",
                  (unsigned long long)before, (unsigned long long)after);
    ck_assert_uint_eq(file_size("data.mdb", NULL), after);
    ck_assert_int_eq(scan(MARK), 0);

    /* The sealed messages are all there and open. */
    env = open_env(d, mm);
    ck_ok(lmq_queue_open(env, "c", &q));
    ck_assert_uint_eq(drain(q, false), 5);
    lmq_queue_close(q);
    lmq_env_close(env);
    ck_assert_int_eq(scan(MARK), 0);
}

START_TEST(scrub_full_pwrite)
{
    scrub(LMQ_DURABILITY_FULL, LMQ_MAP_PWRITE);
}
END_TEST
START_TEST(scrub_full_writable)
{
    scrub(LMQ_DURABILITY_FULL, LMQ_MAP_WRITABLE);
}
END_TEST
START_TEST(scrub_none_pwrite)
{
    scrub(LMQ_DURABILITY_NONE, LMQ_MAP_PWRITE);
}
END_TEST

/* Open elsewhere: LMQ_EBUSY, nothing changed; once that process is gone
 * (SIGKILLed: its locks go with it), the compaction runs. */
START_TEST(refused_while_open)
{
    lmq_env *env = open_env(LMQ_DURABILITY_FULL, LMQ_MAP_PWRITE);
    lmq_queue *q;
    ck_ok(lmq_queue_create(env, "s", NULL, NULL, NULL));
    ck_ok(lmq_queue_open(env, "s", &q));
    for (int i = 0; i < 20; i++)
        send_body(q, "s", i);
    lmq_queue_close(q);

    /* This process's own handle. */
    lmq_env_opts o;
    opts(&o, LMQ_DURABILITY_FULL, LMQ_MAP_PWRITE);
    ck_lmq(lmq_env_compact(home, &o, NULL, NULL), LMQ_EBUSY);
    lmq_env_close(env);

    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lmq_env *ce = NULL;
        close(p[0]);
        if (lmq_env_open(home, &o, &ce) != 0)
            _exit(2);
        if (write(p[1], "o", 1) != 1)
            _exit(3);
        for (;;)
            pause();
    }
    close(p[1]);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    close(p[0]);
    ino_t ino0, ino1;
    uint64_t size0 = file_size("data.mdb", &ino0);
    ck_lmq(lmq_env_compact(home, &o, NULL, NULL), LMQ_EBUSY);
    char want[64];
    snprintf(want, sizeof want, "pid %ld", (long)pid);
    ck_assert_msg(strstr(lmq_errmsg(), want) != NULL, "%s", lmq_errmsg());
    ck_assert_uint_eq(file_size("data.mdb", &ino1), size0);
    ck_assert(ino0 == ino1);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_ok(lmq_env_compact(home, &o, NULL, NULL));
    file_size("data.mdb", &ino1);
    ck_assert(ino0 != ino1);
    env = open_env(LMQ_DURABILITY_FULL, LMQ_MAP_PWRITE);
    ck_ok(lmq_queue_open(env, "s", &q));
    ck_assert_uint_eq(drain(q, false), 20);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

static int
kill_rounds(void)
{
    const char *l = getenv("LMQ_COMPACT_LONG");
    if (l && *l && *l != '0')
        return 40;
    return getenv("LMQ_TEST_SAN") ? 4 : 8;
}

/* SIGKILLed at random points (before, during and after the copy and the
 * swap): the home always opens with every message and writes go on. */
START_TEST(killed_anywhere)
{
    lmq_map_mode mm = LMQ_MAP_PWRITE;
    lmq_env *env = open_env(LMQ_DURABILITY_FULL, mm);
    lmq_queue *q;
    ck_ok(lmq_queue_create(env, "s", NULL, NULL, NULL));
    ck_ok(lmq_queue_open(env, "s", &q));
    int n = 600;
    for (int i = 0; i < n; i++)
        send_body(q, "s", i);
    lmq_queue_close(q);
    lmq_env_close(env);
    lmq_env_opts o;
    opts(&o, LMQ_DURABILITY_FULL, mm);
    for (int round = 0; round < kill_rounds(); round++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            _exit(lmq_env_compact(home, &o, NULL, NULL) == 0 ? 0 : 1);
        usleep((useconds_t)randombytes_uniform(30000));
        kill(pid, SIGKILL);
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFSIGNALED(st) || WEXITSTATUS(st) == 0,
                      "compaction failed: %d", st);
        /* Every message, and a write, after each kill. */
        env = open_env(LMQ_DURABILITY_FULL, mm);
        ck_ok(lmq_queue_open(env, "s", &q));
        const char *names[] = {"ApproximateNumberOfMessages", NULL};
        lmq_map *m;
        ck_ok(lmq_queue_get_attributes(env, "s", names, &m));
        char want[16];
        snprintf(want, sizeof want, "%d", n);
        ck_assert_str_eq(lmq_map_get(m, "ApproximateNumberOfMessages"), want);
        lmq_map_free(m);
        send_body(q, "s", n++);
        lmq_queue_close(q);
        lmq_env_close(env);
    }
    ck_ok(lmq_env_compact(home, &o, NULL, NULL));
    env = open_env(LMQ_DURABILITY_FULL, mm);
    ck_ok(lmq_queue_open(env, "s", &q));
    ck_assert_uint_eq(drain(q, false), (size_t)n);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

static Suite *
compact_suite(void)
{
    Suite *s = suite_create("compact");
    TCase *tc = tcase_create("scrub");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, scrub_full_pwrite);
    tcase_add_test(tc, scrub_full_writable);
    tcase_add_test(tc, scrub_none_pwrite);
    suite_add_tcase(s, tc);
    tc = tcase_create("exclusion");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, refused_while_open);
    tcase_add_test(tc, killed_anywhere);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(compact_suite());
}
