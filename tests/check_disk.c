/*
 * check_disk.c: full disks (issue 27). Every test runs on a real, small file
 * system: the test process enters a user and mount namespace of its own
 * (unshare, its uid mapped to 0) and mounts a tmpfs of a few MiB, which
 * works for root and for ordinary users alike; when that is not possible
 * the test fails (it never skips). Writers are separate processes that
 * fill it: they must get LMQ_ENOSPC and never die of SIGBUS, every send
 * they were told succeeded must be there when a new process opens the
 * home, and receives, visibility changes, deletes, purges and queue
 * deletes must work with the disk full, in every durability mode and both
 * map modes (docs/DURABILITY.md, "Full disks and limits").
 */
#define _GNU_SOURCE 1 /* unshare */
#include "lmq_test.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char fs_dir[300], home_dir[320];

static void
write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    ck_assert_msg(fd >= 0, "cannot open %s: %s", path, strerror(errno));
    ck_assert_msg(write(fd, text, strlen(text)) == (ssize_t)strlen(text),
                  "cannot write %s: %s", path, strerror(errno));
    close(fd);
}

/* Enter a user + mount namespace and mount a tmpfs of `size` at fs_dir. */
static void
sandbox(const char *size)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    char map[64], opts[64];
    ck_assert_msg(unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0,
                  "unshare(CLONE_NEWUSER|CLONE_NEWNS) failed: %s (the full "
                  "disk tests need user namespaces: "
                  "kernel.unprivileged_userns_clone=1)",
                  strerror(errno));
    snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
    write_file("/proc/self/uid_map", map);
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
    write_file("/proc/self/gid_map", map);
    ck_assert_msg(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0,
                  "cannot make mounts private: %s", strerror(errno));
    snprintf(fs_dir, sizeof fs_dir, "%s/fs", lmq_test_dir);
    snprintf(home_dir, sizeof home_dir, "%s/home", fs_dir);
    ck_assert_int_eq(mkdir(fs_dir, 0700), 0);
    snprintf(opts, sizeof opts, "size=%s,mode=0700", size);
    ck_assert_msg(mount("tmpfs", fs_dir, "tmpfs", 0, opts) == 0,
                  "cannot mount a tmpfs: %s", strerror(errno));
}

/* Children report failures on stderr and with their exit status. */
#define REQUIRE(cond, code, ...)                                             \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "check_disk child: " __VA_ARGS__);               \
            fprintf(stderr, " [%s]\n", lmq_errmsg());                        \
            _exit(code);                                                     \
        }                                                                    \
    } while (0)

static void
wait_ok(pid_t pid, const char *who)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(!WIFSIGNALED(st), "%s died of signal %d (%s)", who,
                  WTERMSIG(st), strsignal(WTERMSIG(st)));
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "%s failed with status %d (see its stderr)", who,
                  WEXITSTATUS(st));
}

/* The combinations: durability i / 2, map mode pwrite or writable. */
static lmq_env *
open_home(int combo, uint64_t reserve)
{
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    o.durability = (lmq_durability)(combo / 2);
    o.map_mode = combo % 2 ? LMQ_MAP_WRITABLE : LMQ_MAP_PWRITE;
    o.flush_interval_ms = 50;
    o.disk_reserve = reserve;
    lmq_env *env = NULL;
    int rc = lmq_env_open(home_dir, &o, &env);
    REQUIRE(rc == 0, 90, "open: %s", lmq_err_name(rc));
    return env;
}

static long
count_msgs(lmq_env *env, const char *q)
{
    const char *names[] = {"ApproximateNumberOfMessages",
                           "ApproximateNumberOfMessagesNotVisible",
                           "ApproximateNumberOfMessagesDelayed", NULL};
    lmq_map *m = NULL;
    if (lmq_queue_get_attributes(env, q, names, &m) != 0)
        return -1;
    long n = 0;
    for (int i = 0; names[i]; i++)
        n += atol(lmq_map_get(m, names[i]));
    lmq_map_free(m);
    return n;
}

/* Fill what is left of the file system with a file; returns its path. */
static const char *
fill_disk(void)
{
    static char path[340];
    static char block[64 << 10];
    snprintf(path, sizeof path, "%s/filler", fs_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    REQUIRE(fd >= 0, 91, "cannot create %s", path);
    memset(block, 'f', sizeof block);
    for (size_t len = sizeof block; len >= 512;) {
        ssize_t w = write(fd, block, len);
        if (w < 0 && errno == ENOSPC)
            len /= 2;
        else
            REQUIRE(w > 0, 92, "filler: %s", strerror(errno));
    }
    close(fd);
    return path;
}

static int
send_one(lmq_queue *q, size_t len, unsigned i)
{
    static char body[256 << 10];
    memset(body, 'a' + (char)(i % 26), len);
    snprintf(body, 16, "%010u", i);
    body[10] = ' ';
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = body;
    e.body_len = len;
    return lmq_send(q, &e, NULL);
}

/* Writer process: sends msg_len messages until one fails; reports the
 * number acknowledged through fd. Exits 0 when the failure was
 * LMQ_ENOSPC and changed nothing. */
static void
writer(int combo, uint64_t reserve, size_t msg_len, int fd)
{
    lmq_env *env = open_home(combo, reserve);
    int rc = lmq_queue_create(env, "q", NULL, NULL, NULL);
    REQUIRE(rc == 0, 20, "create q: %s", lmq_err_name(rc));
    rc = lmq_queue_create(env, "spare", NULL, NULL, NULL);
    REQUIRE(rc == 0, 21, "create spare: %s", lmq_err_name(rc));
    lmq_queue *q;
    REQUIRE(lmq_queue_open(env, "q", &q) == 0, 22, "open q");
    long acked = 0;
    while ((rc = send_one(q, msg_len, (unsigned)acked)) == 0)
        acked++;
    REQUIRE(rc == LMQ_ENOSPC, 23, "send %ld: %s, expected LMQ_ENOSPC", acked,
            lmq_err_name(rc));
    rc = send_one(q, msg_len, 0);
    REQUIRE(rc == LMQ_ENOSPC, 24, "send again: %s", lmq_err_name(rc));
    REQUIRE(count_msgs(env, "q") == acked, 25, "refused sends changed the "
            "queue: %ld, %ld acknowledged", count_msgs(env, "q"), acked);
    REQUIRE(write(fd, &acked, sizeof acked) == sizeof acked, 27, "pipe");
    lmq_queue_close(q);
    lmq_env_close(env);
    _exit(0);
}

static long
run_writer(int combo, uint64_t reserve, size_t msg_len)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        writer(combo, reserve, msg_len, p[1]);
    }
    close(p[1]);
    long acked = -1;
    ssize_t r = read(p[0], &acked, sizeof acked);
    close(p[0]);
    wait_ok(pid, "the writer");
    ck_assert_int_eq(r, sizeof acked);
    return acked;
}

/* Receive up to 10 and delete them (keep: leave one in flight after
 * making it visible again). Returns the number received. */
static size_t
drain_some(lmq_queue *q, bool change)
{
    lmq_msg *m[10];
    size_t n = 0;
    lmq_recv_opts ro;
    lmq_recv_opts_init(&ro);
    ro.max_messages = 10;
    ro.visibility_timeout = 60;
    ro.wait_seconds = 0;
    int rc = lmq_receive(q, &ro, m, 10, &n);
    REQUIRE(rc == 0, 40, "receive on a full disk: %s", lmq_err_name(rc));
    lmq_handle_entry e[10];
    lmq_batch_result res[10];
    size_t first = 0;
    if (change && n > 0) {
        int changed = 0;
        rc = lmq_change_visibility(q, lmq_msg_receipt(m[0]), 0, &changed);
        REQUIRE(rc == 0 && changed == 1, 41,
                "change visibility on a full disk: %s", lmq_err_name(rc));
        first = 1;
    }
    for (size_t i = first; i < n; i++) {
        memset(&e[i - first], 0, sizeof e[0]);
        char id[24];
        snprintf(id, sizeof id, "e%zu", i);
        e[i - first].id = strdup(id);
        e[i - first].receipt = lmq_msg_receipt(m[i]);
    }
    if (n > first) {
        rc = lmq_delete_batch(q, e, n - first, res);
        REQUIRE(rc == 0, 42, "delete batch on a full disk: %s",
                lmq_err_name(rc));
        for (size_t i = 0; i < n - first; i++)
            REQUIRE(res[i].err == 0, 43, "delete entry %zu: %s", i,
                    lmq_err_name(res[i].err));
    }
    for (size_t i = first; i < n; i++)
        free((char *)e[i - first].id);
    for (size_t i = 0; i < n; i++)
        lmq_msg_free(m[i]);
    return n;
}

/* A new process: every acknowledged send is there; with the disk full to
 * the last block, consumers drain; sends work again once space is freed;
 * purge and delete-queue work on the full disk. */
static void
consumer(int combo, uint64_t reserve, long acked)
{
    lmq_env *env = open_home(combo, reserve);
    long have = count_msgs(env, "q");
    REQUIRE(have == acked, 50, "%ld messages after reopening, %ld "
            "acknowledged", have, acked);
    const char *filler = fill_disk();
    lmq_queue *q;
    REQUIRE(lmq_queue_open(env, "q", &q) == 0, 51, "open q");
    size_t got = 0;
    for (int i = 0; i < 12; i++)
        got += drain_some(q, i % 3 == 0);
    REQUIRE(got >= 100, 52, "received %zu on a full disk", got);
    /* Deleting more than the reserve gives sends room again, the disk
     * still full to the last block. */
    for (int i = 0; i < 40; i++)
        got += drain_some(q, false);
    REQUIRE(got >= 500, 53, "received %zu on a full disk", got);
    int rc = send_one(q, 1000, 424242);
    REQUIRE(rc == 0, 54, "send after deletes freed space: %s",
            lmq_err_name(rc));
    rc = lmq_queue_purge(env, "q");
    REQUIRE(rc == 0, 55, "purge on a full disk: %s", lmq_err_name(rc));
    rc = lmq_queue_delete(env, "spare");
    REQUIRE(rc == 0, 56, "delete queue on a full disk: %s",
            lmq_err_name(rc));
    REQUIRE(unlink(filler) == 0, 57, "unlink filler");
    rc = send_one(q, 1000, 1);
    REQUIRE(rc == 0, 58, "send after the purge: %s", lmq_err_name(rc));
    REQUIRE(count_msgs(env, "q") == 1, 59, "%ld messages after the purge",
            count_msgs(env, "q"));
    lmq_queue_close(q);
    lmq_env_close(env);
    _exit(0);
}

static void
run_consumer(int combo, uint64_t reserve, long acked)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        consumer(combo, reserve, acked);
    wait_ok(pid, "the consumer");
}

/* A last process sees what the consumer left: one message. */
static void
verify_end(int combo)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lmq_env *env = open_home(combo, 0);
        long n = count_msgs(env, "q");
        REQUIRE(n == 1, 60, "%ld messages at the end, expected 1", n);
        REQUIRE(count_msgs(env, "spare") == -1, 61, "spare still exists");
        lmq_env_close(env);
        _exit(0);
    }
    wait_ok(pid, "the verifier");
}

/* The namespace's mount goes with the test process; unmount it first so
 * that the temporary directory can be removed from inside. */
static void
disk_teardown(void)
{
    if (fs_dir[0])
        umount2(fs_dir, MNT_DETACH);
    fs_dir[0] = '\0';
    lmq_test_tmp_teardown();
}

static const char *const combo_name[] = {
    "full/pwrite", "full/writable", "periodic/pwrite",
    "periodic/writable", "none/pwrite", "none/writable"};

/* The reserve: sends stop before the disk is full, and consumers can
 * drain it with the last block taken by someone else. */
START_TEST(test_fill_and_drain)
{
    sandbox("24m");
    long acked = run_writer(_i, LMQ_DEFAULT_DISK_RESERVE, 16 << 10);
    ck_assert_msg(acked > 200, "%s: only %ld sends fitted",
                  combo_name[_i], acked);
    run_consumer(_i, LMQ_DEFAULT_DISK_RESERVE, acked);
    verify_end(_i);
}
END_TEST

/* No reserve: sends run into the real end of the disk (LMDB's writes, the
 * map's growth, the redo log's growth and the checkpoint it forces in
 * `full`), fail with LMQ_ENOSPC alone, and a new process finds every
 * acknowledged message. */
START_TEST(test_no_reserve)
{
    sandbox("12m");
    long acked = run_writer(_i, 0, 100 << 10);
    ck_assert_msg(acked > 20, "%s: only %ld sends fitted", combo_name[_i],
                  acked);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lmq_env *env = open_home(_i, 0);
        long n = count_msgs(env, "q");
        REQUIRE(n == acked, 70, "%ld messages after reopening, %ld acked", n,
                acked);
        lmq_env_close(env);
        _exit(0);
    }
    wait_ok(pid, "the verifier");
}
END_TEST

static Suite *
lmq_suite_disk(void)
{
    Suite *s = suite_create("disk");
    TCase *tc = tcase_create("full disk");
    tcase_add_checked_fixture(tc, lmq_test_tmp_setup, disk_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_fill_and_drain, 0, 6);
    tcase_add_loop_test(tc, test_no_reserve, 0, 6);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_disk());
}
