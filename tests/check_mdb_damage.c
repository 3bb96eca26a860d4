/*
 * check_mdb_damage.c: a damaged data.mdb (issue 27) gives LMQ_ECORRUPT
 * naming the file and the problem, never a crash of the opening process and
 * never a new, empty home; a failed open changes no file of the home.
 *
 * Each test makes a home (both map modes, durability full and none), closes
 * it, damages data.mdb and opens it in a forked child, so that a crash is
 * seen as a signal. The child opens the home and, if that works, reads every
 * message of every queue (lmq_queue_peek: read-only); it reports the result
 * through a pipe. The meta page layout read here is LMDB 0.9's (64-bit).
 */
#include "lmq_test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define NQUEUES 3
#define NMSGS 60

static const struct mode {
    lmq_durability dur;
    lmq_map_mode map;
    const char *name;
} modes[] = {
    {LMQ_DURABILITY_FULL, LMQ_MAP_PWRITE, "full/pwrite"},
    {LMQ_DURABILITY_FULL, LMQ_MAP_WRITABLE, "full/writable"},
    {LMQ_DURABILITY_NONE, LMQ_MAP_PWRITE, "none/pwrite"},
    {LMQ_DURABILITY_NONE, LMQ_MAP_WRITABLE, "none/writable"},
};
#define NMODES (int)(sizeof modes / sizeof modes[0])

static char home[300], datafile[320];

static void
setup(void)
{
    lmq_test_tmp_setup();
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    snprintf(datafile, sizeof datafile, "%s/data.mdb", home);
}

static void
teardown(void)
{
    lmq_test_tmp_teardown();
}

static void
opts(const struct mode *m, lmq_env_opts *o)
{
    lmq_env_opts_init(o);
    o->durability = m->dur;
    o->map_mode = m->map;
    o->map_size = 16u << 20;
}

/* A home with NQUEUES queues of NMSGS messages each, some spanning
 * overflow pages; closed. */
static void
make_home(const struct mode *m)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    ck_assert_int_eq(system(cmd), 0);
    lmq_env_opts o;
    opts(m, &o);
    lmq_env *env;
    ck_ok(lmq_env_open(home, &o, &env));
    static char body[9000];
    for (int qi = 0; qi < NQUEUES; qi++) {
        char name[16];
        lmq_queue *q;
        snprintf(name, sizeof name, "q%d", qi);
        ck_ok(lmq_queue_create(env, name, NULL, NULL, NULL));
        ck_ok(lmq_queue_open(env, name, &q));
        for (int i = 0; i < NMSGS; i++) {
            size_t len = i % 10 == 0 ? 8500 : 300 + (size_t)i;
            memset(body, 'a' + (i % 26), len);
            snprintf(body, 32, "%s-%04d-", name, i);
            body[strlen(body)] = 'x';
            lmq_send_entry e;
            lmq_send_result r;
            lmq_send_entry_init(&e);
            e.body = body;
            e.body_len = len;
            ck_ok(lmq_send(q, &e, &r));
        }
        lmq_queue_close(q);
    }
    lmq_env_close(env);
}

/* What the child saw. */
struct outcome {
    int sig;        /* the signal that killed it, or 0 */
    int rc;         /* lmq_env_open's result, or the read's */
    int opened;     /* 1: lmq_env_open returned 0 */
    long messages;  /* messages read (opened) */
    char msg[512];  /* lmq_errmsg() on failure */
};

static void
child_open(const struct mode *m, int wfd)
{
    struct outcome out = {0};
    lmq_env_opts o;
    opts(m, &o);
    lmq_env *env = NULL;
    out.rc = lmq_env_open(home, &o, &env);
    if (out.rc == 0) {
        out.opened = 1;
        /* first report: opened (a crash after it is one of the reads) */
        if (write(wfd, &out, sizeof out) != (ssize_t)sizeof out)
            _exit(1);
        char **names = NULL;
        out.rc = lmq_queue_list(env, NULL, 1000, NULL, &names, NULL);
        for (int i = 0; out.rc == 0 && names && names[i]; i++) {
            lmq_peek_opts po;
            lmq_peek_opts_init(&po);
            po.show_inflight = po.show_delayed = 1;
            lmq_msg **msgs = NULL;
            size_t n = 0;
            out.rc = lmq_queue_peek(env, names[i], &po, &msgs, &n);
            for (size_t j = 0; out.rc == 0 && j < n; j++) {
                size_t len;
                const char *b = lmq_msg_body(msgs[j], &len);
                char want[32];
                snprintf(want, sizeof want, "%s-%04zu-", names[i], j);
                if (len < 8 || strncmp(b, want, strlen(want)) != 0)
                    out.rc = -999; /* wrong message: reported below */
            }
            out.messages += (long)n;
            lmq_msg_list_free(msgs, n);
        }
        lmq_strv_free(names);
        lmq_env_close(env);
    }
    if (out.rc)
        snprintf(out.msg, sizeof out.msg, "%s", lmq_errmsg());
    ssize_t w = write(wfd, &out, sizeof out);
    _exit(w == (ssize_t)sizeof out ? 0 : 1);
}

/* Open the home in a child; the parent never opens a damaged home. */
static struct outcome
open_in_child(const struct mode *m)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        alarm(30); /* a hang is a failure too, not a stuck suite */
        child_open(m, p[1]);
    }
    close(p[1]);
    struct outcome out = {0}, next;
    ssize_t r = read(p[0], &out, sizeof out);
    if (r == (ssize_t)sizeof out && out.opened &&
        read(p[0], &next, sizeof next) == (ssize_t)sizeof next)
        out = next;
    close(p[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st)) {
        int opened = r == (ssize_t)sizeof out && out.opened;
        memset(&out, 0, sizeof out);
        out.sig = WTERMSIG(st);
        out.opened = opened;
    } else {
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
                          r == (ssize_t)sizeof out,
                      "child exited %d", WEXITSTATUS(st));
    }
    return out;
}

/* The whole of a file (NULL, 0 when absent). */
static unsigned char *
slurp(const char *path, size_t *len)
{
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    unsigned char *b = malloc((size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(b);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return b;
}

/* The files a failed open must leave alone (lock.mdb is LMDB's scratch,
 * rewritten by any open, and wal.lock the log's). */
static const char *const kept[] = {"data.mdb", "mapmode", "wal", "lmq.wake"};
#define NKEPT (sizeof kept / sizeof kept[0])

struct snap {
    unsigned char *b[NKEPT];
    size_t len[NKEPT];
    bool present[NKEPT];
};

static void
snap_take(struct snap *s)
{
    for (size_t i = 0; i < NKEPT; i++) {
        char path[400];
        snprintf(path, sizeof path, "%s/%s", home, kept[i]);
        s->b[i] = slurp(path, &s->len[i]);
        s->present[i] = access(path, F_OK) == 0;
    }
}

static void
snap_check(struct snap *s, const char *what)
{
    for (size_t i = 0; i < NKEPT; i++) {
        struct snap now;
        char path[400];
        snprintf(path, sizeof path, "%s/%s", home, kept[i]);
        now.b[0] = slurp(path, &now.len[0]);
        ck_assert_msg((access(path, F_OK) == 0) == s->present[i] &&
                          now.len[0] == s->len[i] &&
                          (s->len[i] == 0 ||
                           memcmp(now.b[0], s->b[i], s->len[i]) == 0),
                      "%s: the failed open changed %s", what, kept[i]);
        free(now.b[0]);
        free(s->b[i]);
    }
}

/* LMDB's meta page i: page size, last page, txnid. */
struct meta {
    uint32_t psize;
    uint64_t last, txnid;
};

static struct meta
read_meta(int i, uint32_t psize)
{
    unsigned char b[152];
    int fd = open(datafile, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, b, sizeof b, (off_t)i * psize), sizeof b);
    close(fd);
    struct meta m;
    uint32_t magic;
    memcpy(&magic, b + 16, 4);
    ck_assert_uint_eq(magic, 0xBEEFC0DEu);
    memcpy(&m.psize, b + 40, 4);
    memcpy(&m.last, b + 136, 8);
    memcpy(&m.txnid, b + 144, 8);
    return m;
}

static struct meta
newest_meta(void)
{
    struct meta m0 = read_meta(0, 0);
    struct meta m1 = read_meta(1, m0.psize);
    return m1.txnid > m0.txnid ? m1 : m0;
}

static void
cut(off_t size)
{
    ck_assert_int_eq(truncate(datafile, size), 0);
}

/* Random bytes (a fixed seed per call site) over len bytes at off. */
static void
garble(off_t off, size_t len, unsigned seed)
{
    unsigned char *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (unsigned char)(seed >> 16);
    }
    int fd = open(datafile, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, b, len, off), (ssize_t)len);
    close(fd);
    free(b);
}

/* The damaged home must fail to open with ECORRUPT naming data.mdb and
 * `problem`, in a child that exits normally, and change no file. */
static void
expect_corrupt(const struct mode *m, const char *what, const char *problem)
{
    struct snap s;
    snap_take(&s);
    struct outcome out = open_in_child(m);
    ck_assert_msg(out.sig == 0, "%s %s: the opening process died of %s",
                  m->name, what, strsignal(out.sig));
    ck_assert_msg(!out.opened && out.rc == LMQ_ECORRUPT,
                  "%s %s: open gave %s (%s), opened %d, %ld messages",
                  m->name, what, lmq_err_name(out.rc), out.msg, out.opened,
                  out.messages);
    ck_assert_msg(strstr(out.msg, datafile) && strstr(out.msg, problem),
                  "%s %s: message \"%s\" does not name %s and \"%s\"",
                  m->name, what, out.msg, datafile, problem);
    snap_check(&s, what);
}

/* (1) data.mdb cut to 0 bytes: damage, not a new home. */
START_TEST(test_empty)
{
    const struct mode *m = &modes[_i];
    make_home(m);
    cut(0);
    expect_corrupt(m, "cut to 0 bytes", "empty");
    struct stat st;
    ck_assert_int_eq(stat(datafile, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
}
END_TEST

/* (2) cut to less than its two meta pages. */
START_TEST(test_short)
{
    const struct mode *m = &modes[_i];
    make_home(m);
    struct meta me = newest_meta();
    cut(me.psize + me.psize / 2);
    expect_corrupt(m, "cut to 1.5 pages", "truncated");
    make_home(m);
    cut(100);
    expect_corrupt(m, "cut to 100 bytes", "truncated");
}
END_TEST

/* (3) cut in the middle: pages the meta page says are in use are gone. */
START_TEST(test_truncated)
{
    const struct mode *m = &modes[_i];
    make_home(m);
    struct meta me = newest_meta();
    ck_assert_uint_gt(me.last, 20);
    cut((off_t)((me.last + 1) / 2) * me.psize);
    expect_corrupt(m, "cut in half", "truncated");
    make_home(m);
    me = newest_meta();
    cut((off_t)4 * me.psize);
    expect_corrupt(m, "cut to 4 pages", "truncated");
}
END_TEST

/* (4) both meta pages garbled. */
START_TEST(test_both_metas)
{
    const struct mode *m = &modes[_i];
    make_home(m);
    struct meta me = newest_meta();
    garble(0, me.psize, 1);
    garble(me.psize, me.psize, 2);
    expect_corrupt(m, "both meta pages garbled", "meta page");
    /* Only the bytes after the magic: the file still looks like LMDB's. */
    make_home(m);
    garble(24, 128, 3);
    garble((off_t)me.psize + 24, 128, 4);
    struct outcome out = open_in_child(m);
    ck_assert_msg(out.sig == 0, "%s: died of %s", m->name,
                  strsignal(out.sig));
    ck_assert_msg(out.rc == LMQ_ECORRUPT && !out.opened, "%s: %s (%s)",
                  m->name, lmq_err_name(out.rc), out.msg);
}
END_TEST

/* (5) one meta page garbled: LMDB 0.9 refuses such a file (it does not
 * fall back to the other), so ECORRUPT; never a crash, never wrong data. */
START_TEST(test_one_meta)
{
    const struct mode *m = &modes[_i];
    for (int page = 0; page < 2; page++) {
        make_home(m);
        struct meta me = newest_meta();
        garble((off_t)page * me.psize, me.psize, 10u + (unsigned)page);
        struct snap s;
        snap_take(&s);
        struct outcome out = open_in_child(m);
        ck_assert_msg(out.sig == 0, "%s meta %d: died of %s", m->name, page,
                      strsignal(out.sig));
        if (out.opened) {
            ck_assert_msg(out.rc == 0 &&
                              out.messages == NQUEUES * NMSGS,
                          "%s meta %d: %s (%s), %ld messages", m->name,
                          page, lmq_err_name(out.rc), out.msg,
                          out.messages);
            for (size_t i = 0; i < NKEPT; i++)
                free(s.b[i]);
        } else {
            ck_assert_msg(out.rc == LMQ_ECORRUPT &&
                              strstr(out.msg, datafile) &&
                              strstr(out.msg, "meta page"),
                          "%s meta %d: %s (%s)", m->name, page,
                          lmq_err_name(out.rc), out.msg);
            snap_check(&s, "one meta page garbled");
        }
    }
}
END_TEST

/* (6) a B-tree page garbled: every page from 2 to the last in turn. A
 * garbled root page (the free, main and named databases') is ECORRUPT at
 * open; LMDB has no page checksums, so garbage below the roots may only
 * show when it is read. Asserted: no page makes the open crash; a page
 * the open accepts never yields wrong messages; and the pages checked at
 * open (the roots) give ECORRUPT. */
START_TEST(test_garbled_page)
{
    const struct mode *m = &modes[_i];
    make_home(m);
    struct meta me = newest_meta();
    size_t len;
    unsigned char *orig = slurp(datafile, &len);
    int corrupt = 0, ok = 0, crashed_read = 0, aborted = 0;
    for (uint64_t pg = 2; pg <= me.last; pg++) {
        garble((off_t)(pg * me.psize), me.psize, 100u + (unsigned)pg);
        struct outcome out = open_in_child(m);
        if (out.sig) {
            ck_assert_msg(out.opened, "%s page %llu: the open died of %s",
                          m->name, (unsigned long long)pg,
                          strsignal(out.sig));
            crashed_read++;
            aborted += out.sig == SIGABRT;
        } else if (out.rc == LMQ_ECORRUPT) {
            corrupt++;
            /* at open the file is named; later, LMDB's or lmq's check */
            ck_assert_msg(out.opened || strstr(out.msg, datafile) != NULL,
                          "%s page %llu: \"%s\"", m->name,
                          (unsigned long long)pg, out.msg);
        } else {
            ck_assert_msg(out.rc == 0 && out.opened,
                          "%s page %llu: %s (%s)", m->name,
                          (unsigned long long)pg, lmq_err_name(out.rc),
                          out.msg);
            ok++;
        }
        /* put the page back */
        int fd = open(datafile, O_WRONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pwrite(fd, orig + pg * me.psize, me.psize,
                                (off_t)(pg * me.psize)),
                         (ssize_t)me.psize);
        close(fd);
    }
    free(orig);
    fprintf(stderr, "%s: %llu pages garbled one at a time: %d ECORRUPT, %d "
            "read fine, %d crashed a read (%d of them LMDB assertions)\n",
            m->name, (unsigned long long)me.last - 1, corrupt, ok,
            crashed_read, aborted);
    ck_assert_int_gt(corrupt, 0);
}
END_TEST

/* The real CLI on a damaged home: a clear error naming the path, non-zero
 * exit, no crash. */
START_TEST(test_cli)
{
    const struct mode *m = &modes[0];
    make_home(m);
    struct meta me = newest_meta();
    cut((off_t)((me.last + 1) / 2) * me.psize);
    char cmd[1024], errf[400];
    snprintf(errf, sizeof errf, "%s/err.txt", lmq_test_dir);
    snprintf(cmd, sizeof cmd, "%s --home %s list-queues >/dev/null 2>%s",
             LMQ_BIN, home, errf);
    int st = system(cmd);
    ck_assert(WIFEXITED(st));
    ck_assert_int_ne(WEXITSTATUS(st), 0);
    ck_assert_int_eq(WEXITSTATUS(st), 255); /* lmq's "other error" */
    size_t len;
    unsigned char *err = slurp(errf, &len);
    ck_assert_ptr_nonnull(err);
    err[len] = '\0';
    ck_assert_msg(strstr((char *)err, datafile) &&
                      strstr((char *)err, "truncated"),
                  "stderr: %s", err);
    free(err);
    cut(0);
    snprintf(cmd, sizeof cmd,
             "%s --home %s receive-message --queue-url q0 >/dev/null 2>%s",
             LMQ_BIN, home, errf);
    st = system(cmd);
    ck_assert(WIFEXITED(st));
    ck_assert_int_ne(WEXITSTATUS(st), 0);
    err = slurp(errf, &len);
    err[len] = '\0';
    ck_assert_msg(strstr((char *)err, datafile) && strstr((char *)err, "empty"),
                  "stderr: %s", err);
    free(err);
    struct stat sb;
    ck_assert_int_eq(stat(datafile, &sb), 0);
    ck_assert_int_eq(sb.st_size, 0);
}
END_TEST

/* Undamaged homes still open, and a brand-new home is still made. */
START_TEST(test_sound)
{
    const struct mode *m = &modes[_i];
    make_home(m);
    struct outcome out = open_in_child(m);
    ck_assert_msg(out.sig == 0 && out.rc == 0 && out.opened &&
                      out.messages == NQUEUES * NMSGS,
                  "%s: %s (%s) %ld messages", m->name, lmq_err_name(out.rc),
                  out.msg, out.messages);
    /* A home whose first open never finished (no lmq.wake) with an empty
     * data.mdb is made anew. */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s' && : > '%s'", home,
             home, datafile);
    ck_assert_int_eq(system(cmd), 0);
    out = open_in_child(m);
    ck_assert_msg(out.sig == 0 && out.rc == 0 && out.opened &&
                      out.messages == 0,
                  "%s new: %s (%s)", m->name, lmq_err_name(out.rc), out.msg);
}
END_TEST

/* An OS crash during the first open of a home: LMDB's meta pages and its
 * first transaction were written without a sync, in any order, and the
 * log holds no checkpoint yet (found by tests/crashstate: a meta page
 * pointing at a root page that never reached the disk). The first open
 * never finished (no lmq.wake), nothing was acknowledged: the home is made
 * anew instead of being refused for good. With lmq.wake, or with a
 * checkpoint in the log, the same damage is still LMQ_ECORRUPT. */
START_TEST(test_first_open_crash)
{
    const struct mode *m = &modes[_i];
    char cmd[1200];
    /* damage with lmq.wake present: refused */
    make_home(m);
    snprintf(cmd, sizeof cmd, ": > '%s/wal'", home); /* no checkpoint */
    ck_assert_int_eq(system(cmd), 0);
    garble(0, 8192, 21);
    expect_corrupt(m, "garbled metas, no log", "meta page");
    /* a checkpoint in the log (full homes), no lmq.wake: refused */
    if (m->dur == LMQ_DURABILITY_FULL) {
        make_home(m);
        snprintf(cmd, sizeof cmd, "rm -f '%s/lmq.wake'", home);
        ck_assert_int_eq(system(cmd), 0);
        garble(0, 8192, 22);
        expect_corrupt(m, "garbled metas, checkpoint, no lmq.wake",
                       "meta page");
    }
    /* neither: the first open never finished; made anew */
    make_home(m);
    snprintf(cmd, sizeof cmd, "rm -f '%s/lmq.wake' '%s/wal'", home, home);
    ck_assert_int_eq(system(cmd), 0);
    garble(0, 8192, 23);
    struct outcome out = open_in_child(m);
    ck_assert_msg(out.sig == 0 && out.rc == 0 && out.opened &&
                      out.messages == 0,
                  "%s: %s (%s), %ld messages", m->name, lmq_err_name(out.rc),
                  out.msg, out.messages);
    /* and it works: a second open finds the new home sound */
    out = open_in_child(m);
    ck_assert_msg(out.sig == 0 && out.rc == 0 && out.opened,
                  "%s again: %s (%s)", m->name, lmq_err_name(out.rc), out.msg);
}
END_TEST

static Suite *
mk(void)
{
    Suite *s = suite_create("mdb_damage");
    TCase *tc = tcase_create("damage");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_empty, 0, NMODES);
    tcase_add_loop_test(tc, test_short, 0, NMODES);
    tcase_add_loop_test(tc, test_truncated, 0, NMODES);
    tcase_add_loop_test(tc, test_both_metas, 0, NMODES);
    tcase_add_loop_test(tc, test_one_meta, 0, NMODES);
    tcase_add_loop_test(tc, test_garbled_page, 0, NMODES);
    tcase_add_test(tc, test_cli);
    tcase_add_loop_test(tc, test_sound, 0, NMODES);
    tcase_add_loop_test(tc, test_first_open_crash, 0, NMODES);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(mk());
}
