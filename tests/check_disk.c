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

#include "../lib/core.h" /* lmq__store_stat */

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


/* ---- limits ------------------------------------------------------------- */

/* Receive one message and delete it; returns 1, or 0 when none. */
static size_t
drain_one_for_test(lmq_queue *q)
{
    lmq_msg *m[1];
    size_t n = 0;
    ck_ok(lmq_receive(q, NULL, m, 1, &n));
    if (n) {
        ck_ok(lmq_delete(q, lmq_msg_receipt(m[0]), NULL));
        lmq_msg_free(m[0]);
    }
    return n;
}

static lmq_env *
home_env(lmq_durability d, uint64_t max_bytes)
{
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    o.durability = d;
    o.max_bytes = max_bytes;
    char path[300];
    snprintf(path, sizeof path, "%s/home", lmq_test_dir);
    lmq_env *env = NULL;
    ck_ok(lmq_env_open(path, &o, &env));
    return env;
}

static lmq_map *
attrs2(const char *k1, const char *v1, const char *k2, const char *v2)
{
    lmq_map *m = lmq_map_new();
    ck_ok(lmq_map_set(m, k1, v1));
    if (k2)
        ck_ok(lmq_map_set(m, k2, v2));
    return m;
}

static const char *
qattr(lmq_env *env, const char *q, const char *name)
{
    static char buf[64];
    const char *names[] = {name, NULL};
    lmq_map *m = NULL;
    ck_ok(lmq_queue_get_attributes(env, q, names, &m));
    const char *v = lmq_map_get(m, name);
    snprintf(buf, sizeof buf, "%s", v ? v : "(none)");
    lmq_map_free(m);
    return buf;
}

/* Policy refuse: the send over the limit is OverLimit and changes nothing;
 * in a batch only the entries over it fail. Bad values are refused. */
START_TEST(test_limit_refuse)
{
    lmq_env *env = home_env(LMQ_DURABILITY_NONE, 0);
    lmq_map *a = attrs2("LmqMaximumMessages", "3", "LmqOverLimitPolicy",
                        "refuse");
    ck_ok(lmq_queue_create(env, "r", a, NULL, NULL));
    lmq_map_free(a);
    lmq_queue *q;
    ck_ok(lmq_queue_open(env, "r", &q));
    for (unsigned i = 0; i < 3; i++)
        ck_ok(send_one(q, 100, i));
    ck_lmq(send_one(q, 100, 3), LMQ_EOVERLIMIT);
    ck_assert_str_eq(lmq_err_sqs_code(LMQ_EOVERLIMIT), "OverLimit");
    ck_assert_int_eq(count_msgs(env, "r"), 3);
    /* a batch: one receive + delete made room for exactly one entry */
    ck_assert_uint_eq(drain_one_for_test(q), 1);
    lmq_send_entry e[2];
    lmq_send_result res[2];
    for (int i = 0; i < 2; i++) {
        lmq_send_entry_init(&e[i]);
        e[i].id = i ? "b" : "a";
        e[i].body = "batch";
        e[i].body_len = SIZE_MAX;
    }
    ck_ok(lmq_send_batch(q, e, 2, res));
    ck_assert_int_eq(res[0].err, 0);
    ck_assert_int_eq(res[1].err, LMQ_EOVERLIMIT);
    ck_assert_int_eq(count_msgs(env, "r"), 3);
    ck_assert_str_eq(qattr(env, "r", "LmqMaximumMessages"), "3");
    /* bad values change nothing */
    a = attrs2("LmqOverLimitPolicy", "drop-newest", NULL, NULL);
    ck_lmq(lmq_queue_set_attributes(env, "r", a), LMQ_EATTRVALUE);
    lmq_map_free(a);
    a = attrs2("LmqMaximumMessages", "-1", NULL, NULL);
    ck_lmq(lmq_queue_set_attributes(env, "r", a), LMQ_EATTRVALUE);
    lmq_map_free(a);
    a = attrs2("LmqDroppedMessages", "0", NULL, NULL);
    ck_lmq(lmq_queue_set_attributes(env, "r", a), LMQ_EATTRNAME);
    lmq_map_free(a);
    /* 0 lifts the limit */
    a = attrs2("LmqMaximumMessages", "0", NULL, NULL);
    ck_ok(lmq_queue_set_attributes(env, "r", a));
    lmq_map_free(a);
    ck_ok(send_one(q, 100, 9));
    ck_assert_int_eq(count_msgs(env, "r"), 4);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* Policy drop-oldest: the oldest messages make room and are counted; in a
 * FIFO queue they are the heads of their groups, and each group keeps its
 * order. _i: 0 standard, 1 FIFO. */
START_TEST(test_limit_drop_oldest)
{
    lmq_env *env = home_env(LMQ_DURABILITY_NONE, 0);
    const char *name = _i ? "d.fifo" : "d";
    lmq_map *a = attrs2("LmqMaximumMessages", "3", "LmqOverLimitPolicy",
                        "drop-oldest");
    if (_i)
        ck_ok(lmq_map_set(a, "FifoQueue", "true"));
    ck_ok(lmq_queue_create(env, name, a, NULL, NULL));
    lmq_map_free(a);
    lmq_queue *q;
    ck_ok(lmq_queue_open(env, name, &q));
    for (unsigned i = 0; i < 5; i++) {
        char body[16], dd[16];
        snprintf(body, sizeof body, "m%u", i);
        snprintf(dd, sizeof dd, "d%u", i);
        lmq_send_entry e;
        lmq_send_entry_init(&e);
        e.body = body;
        e.body_len = SIZE_MAX;
        if (_i) {
            e.group_id = i % 2 ? "g2" : "g1";
            e.dedup_id = dd;
        }
        ck_ok(lmq_send(q, &e, NULL));
    }
    ck_assert_int_eq(count_msgs(env, name), 3);
    ck_assert_str_eq(qattr(env, name, "LmqDroppedMessages"), "2");
    /* m0 and m1 went; m2, m3, m4 remain, m2 before m4 (group g1) */
    lmq_msg *m[10];
    size_t n = 0, got = 0;
    int pos[5] = {-1, -1, -1, -1, -1};
    lmq_recv_opts ro;
    lmq_recv_opts_init(&ro);
    ro.max_messages = 10;
    ro.wait_seconds = 0;
    for (int round = 0; round < 4 && got < 3; round++) {
        ck_ok(lmq_receive(q, &ro, m, 10, &n));
        for (size_t i = 0; i < n; i++) {
            const char *b = lmq_msg_body(m[i], NULL);
            int k = b[1] - '0';
            ck_assert_msg(k >= 2 && k <= 4 && pos[k] < 0, "got %s", b);
            pos[k] = (int)got++;
            ck_ok(lmq_delete(q, lmq_msg_receipt(m[i]), NULL));
            lmq_msg_free(m[i]);
        }
    }
    ck_assert_uint_eq(got, 3);
    ck_assert_int_lt(pos[2], pos[4]);
    /* counted in GetQueueAttributes' All too */
    const char *all[] = {"All", NULL};
    lmq_map *am = NULL;
    ck_ok(lmq_queue_get_attributes(env, name, all, &am));
    ck_assert_str_eq(lmq_map_get(am, "LmqDroppedMessages"), "2");
    ck_assert_str_eq(lmq_map_get(am, "LmqOverLimitPolicy"), "drop-oldest");
    lmq_map_free(am);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* The home-wide limit (lmq_env_opts.max_bytes): growing writes are
 * OverLimit past it, deletes make room again. */
START_TEST(test_limit_home_bytes)
{
    lmq_env *env = home_env(LMQ_DURABILITY_NONE, 2u << 20);
    ck_ok(lmq_queue_create(env, "h", NULL, NULL, NULL));
    lmq_queue *q;
    ck_ok(lmq_queue_open(env, "h", &q));
    int rc;
    unsigned sent = 0;
    while (sent < 1000 && (rc = send_one(q, 64 << 10, sent)) == 0)
        sent++;
    ck_lmq(rc, LMQ_EOVERLIMIT);
    ck_assert_uint_gt(sent, 5);
    ck_assert_uint_lt(sent, 40);
    ck_assert_int_eq(count_msgs(env, "h"), sent);
    for (int i = 0; i < 8; i++)
        drain_one_for_test(q);
    ck_ok(send_one(q, 64 << 10, 1));
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* Run the lmq CLI on lmq_test_dir/home; its stdout and stderr in out. */
static int
cli(char *out, size_t cap, const char *const *args)
{
    char home[300], path[320];
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    snprintf(path, sizeof path, "%s/cli.out", lmq_test_dir);
    const char *argv[24] = {LMQ_BIN, "--home", home, "--durability", "none"};
    size_t n = 5;
    for (size_t i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(LMQ_BIN, (char *const *)argv);
        _exit(127);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    FILE *f = fopen(path, "r");
    size_t r = f ? fread(out, 1, cap - 1, f) : 0;
    out[r] = '\0';
    if (f)
        fclose(f);
    ck_assert_msg(WIFEXITED(st), "lmq died: %s", out);
    return WEXITSTATUS(st);
}

/* The same through the CLI: attributes on create-queue and
 * set-queue-attributes, OverLimit as a service error (exit 254), the drop
 * counter in get-queue-attributes, and the home-wide limit from
 * --max-home-bytes and $LMQ_MAX_HOME_BYTES. */
START_TEST(test_limit_cli)
{
    char out[4096];
    const char *create[] = {"create-queue", "--queue-name", "c", "--attributes",
                            "LmqMaximumMessages=1,LmqOverLimitPolicy=refuse",
                            NULL};
    ck_assert_int_eq(cli(out, sizeof out, create), 0);
    const char *send[] = {"send-message", "--queue-url", "c", "--message-body",
                          "x", NULL};
    ck_assert_msg(cli(out, sizeof out, send) == 0, "%s", out);
    ck_assert_int_eq(cli(out, sizeof out, send), 254);
    ck_assert_msg(strstr(out, "OverLimit"), "%s", out);
    const char *set[] = {"set-queue-attributes", "--queue-url", "c",
                         "--attributes", "LmqOverLimitPolicy=drop-oldest",
                         NULL};
    ck_assert_msg(cli(out, sizeof out, set) == 0, "%s", out);
    ck_assert_msg(cli(out, sizeof out, send) == 0, "%s", out);
    const char *get[] = {"get-queue-attributes", "--queue-url", "c",
                         "--attribute-names", "All", NULL};
    ck_assert_msg(cli(out, sizeof out, get) == 0, "%s", out);
    ck_assert_msg(strstr(out, "\"LmqDroppedMessages\": \"1\""), "%s", out);
    ck_assert_msg(strstr(out, "\"ApproximateNumberOfMessages\": \"1\""), "%s",
                  out);
    const char *big[] = {"--max-home-bytes", "64k", "create-queue",
                         "--queue-name", "other", NULL};
    ck_assert_int_eq(cli(out, sizeof out, big), 254);
    ck_assert_msg(strstr(out, "OverLimit"), "%s", out);
    setenv("LMQ_MAX_HOME_BYTES", "64k", 1);
    ck_assert_int_eq(cli(out, sizeof out, big + 2), 254);
    setenv("LMQ_MAX_HOME_BYTES", "lots", 1);
    ck_assert_int_eq(cli(out, sizeof out, big + 2), 252);
    unsetenv("LMQ_MAX_HOME_BYTES");
    ck_assert_msg(cli(out, sizeof out, big + 2) == 0, "%s", out);
}
END_TEST

/* `full`: receives without deletes do not grow data.mdb without bound.
 * They are not flushed, so before every 64th was made a flushed one
 * nothing moved the checkpoint pin and each batch of 10 left ~20-30 KiB
 * of pages LMDB could not reuse until the next checkpoint (8.3 MB over 400
 * batches of this workload, docs/DURABILITY.md; 2.9 MB now). */
START_TEST(test_full_receives_reuse_pages)
{
    lmq_env *env = home_env(LMQ_DURABILITY_FULL, 0);
    ck_ok(lmq_queue_create(env, "q", NULL, NULL, NULL));
    lmq_queue *q;
    ck_ok(lmq_queue_open(env, "q", &q));
    for (unsigned i = 0; i < 4000; i++)
        ck_ok(send_one(q, 24, i));
    ck_ok(lmq_env_sync(env));
    uint64_t before = 0, after = 0;
    lmq__store_stat(env->store, &before, NULL);
    lmq_recv_opts ro;
    lmq_recv_opts_init(&ro);
    ro.max_messages = 10;
    ro.visibility_timeout = 600;
    ro.wait_seconds = 0;
    for (int b = 0; b < 400; b++) {
        lmq_msg *m[10];
        size_t n = 0;
        ck_ok(lmq_receive(q, &ro, m, 10, &n));
        ck_assert_uint_eq(n, 10);
        for (size_t i = 0; i < n; i++)
            lmq_msg_free(m[i]);
    }
    lmq__store_stat(env->store, &after, NULL);
    ck_assert_msg(after - before < (9u << 19),
                  "400 receive batches grew data.mdb by %llu bytes",
                  (unsigned long long)(after - before));
    lmq_queue_close(q);
    lmq_env_close(env);
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
    tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, lmq_test_tmp_setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_limit_refuse);
    tcase_add_loop_test(tc, test_limit_drop_oldest, 0, 2);
    tcase_add_test(tc, test_limit_home_bytes);
    tcase_add_test(tc, test_limit_cli);
    tcase_add_test(tc, test_full_receives_reuse_pages);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_disk());
}
