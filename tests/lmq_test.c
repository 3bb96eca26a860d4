/*
 * lmq_test.c: shared helpers for the Check suites (see lmq_test.h).
 */
#define _GNU_SOURCE /* memmem */
#include "lmq_test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

char lmq_test_dir[256];
static volatile int64_t *clock_word;

void
lmq_test_tmp_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(lmq_test_dir, sizeof lmq_test_dir, "%s/lmqtest.XXXXXX",
             base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(lmq_test_dir));
    clock_word = NULL;
}

void
lmq_test_tmp_teardown(void)
{
    char cmd[512];
    if (lmq_test_dir[0] == '\0')
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", lmq_test_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", lmq_test_dir);
    lmq_test_dir[0] = '\0';
}

void
lmq_test_clock_setup(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/clock", lmq_test_dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 4096), 0);
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    close(fd);
    clock_word = p;
    /* A fixed, realistic start: 2026-01-01T00:00:00Z. */
    __atomic_store_n(clock_word, (int64_t)1767225600000LL, __ATOMIC_SEQ_CST);
}

int64_t
lmq_test_clock(void *arg)
{
    (void)arg;
    return __atomic_load_n(clock_word, __ATOMIC_SEQ_CST);
}

void
lmq_test_clock_set(int64_t ms)
{
    __atomic_store_n(clock_word, ms, __ATOMIC_SEQ_CST);
}

void
lmq_test_clock_advance(int64_t ms)
{
    __atomic_add_fetch(clock_word, ms, __ATOMIC_SEQ_CST);
}

lmq_env *
lmq_test_env(void)
{
    char path[300];
    lmq_env_opts o;
    lmq_env *env = NULL;
    lmq_env_opts_init(&o);
    o.durability = LMQ_DURABILITY_NONE;
    o.map_size = 64u << 20;
    if (clock_word) {
        o.clock = lmq_test_clock;
        o.clock_arg = NULL;
    }
    snprintf(path, sizeof path, "%s/home", lmq_test_dir);
    int rc = lmq_env_open(path, &o, &env);
    ck_assert_msg(rc == 0, "lmq_env_open: %s", lmq_errmsg());
    return env;
}

int
lmq_test_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int
lmq_test_scan_dir(const char *dir, const char *marker, char *what, size_t wn)
{
    static char buf[1 << 20];
    DIR *d = opendir(dir);
    struct dirent *e;
    int hits = 0;
    size_t ml = strlen(marker);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    while ((e = readdir(d)) != NULL) {
        char p[600];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        ck_assert_int_eq(lstat(p, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            hits += lmq_test_scan_dir(p, marker, what, wn);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        FILE *f = fopen(p, "rb");
        ck_assert_msg(f != NULL, "cannot open %s", p);
        size_t keep = 0, n;
        /* Chunks overlap by the marker's length less one. */
        while ((n = fread(buf + keep, 1, sizeof buf - keep, f)) > 0) {
            size_t tot = keep + n;
            if (memmem(buf, tot, marker, ml)) {
                hits++;
                strncat(what, p, wn - strlen(what) - 2);
                strncat(what, " ", wn - strlen(what) - 1);
                break;
            }
            keep = tot < ml - 1 ? tot : ml - 1;
            memmove(buf, buf + tot - keep, keep);
        }
        fclose(f);
    }
    closedir(d);
    return hits;
}

int
lmq_test_run_in_dir(const char *prog, const char *name,
                    const char *const *args, int deadline_s, char **out)
{
    char wdir[400], opath[400];
    snprintf(wdir, sizeof wdir, "%s/%s", lmq_test_dir, name);
    snprintf(opath, sizeof opath, "%s/%s.out", lmq_test_dir, name);
    ck_assert_int_eq(mkdir(wdir, 0700), 0);
    const char *argv[16];
    size_t n = 0;
    argv[n++] = prog;
    for (; *args && n < 14; args++)
        argv[n++] = *args;
    argv[n++] = wdir;
    argv[n] = NULL;

    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setpgid(0, 0); /* its children share the group: killed together */
        int fd = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(120);
        execv(prog, (char *const *)argv);
        _exit(121);
    }
    int st = 0, rc = -1;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        ck_assert_int_ge(w, 0);
        if (w == pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > deadline_s) {
            /* its children die with it: SIGKILLed by their group */
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            ck_assert_int_eq(waitpid(pid, &st, 0), pid);
            break;
        }
        usleep(50000);
    }
    FILE *f = fopen(opath, "r");
    ck_assert_ptr_nonnull(f);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
    }
    buf[len] = '\0';
    fclose(f);
    *out = buf;
    return rc;
}

int
lmq_test_drain(lmq_queue *q, int (*fn)(const lmq_msg *m, void *arg), void *arg,
               size_t *n)
{
    *n = 0;
    for (;;) {
        lmq_recv_opts o;
        lmq_msg *m[10];
        lmq_handle_entry h[10];
        lmq_batch_result hr[10];
        char ids[10][8];
        size_t got;
        int rc;
        lmq_recv_opts_init(&o);
        o.max_messages = 10;
        o.visibility_timeout = 43200;
        o.wait_seconds = 0;
        if ((rc = lmq_receive(q, &o, m, 10, &got)) != 0)
            return rc;
        if (got == 0)
            return 0;
        *n += got;
        for (size_t i = 0; i < got; i++) {
            if (fn && rc == 0)
                rc = fn(m[i], arg);
            snprintf(ids[i], sizeof ids[i], "h%u", (unsigned)(i % 10));
            h[i].id = ids[i];
            h[i].receipt = lmq_msg_receipt(m[i]);
            h[i].timeout_seconds = 0;
        }
        /* one transaction per batch: single deletes, each a flushed commit
         * in full mode, would cost most of the drain's time */
        if (rc == 0 && (rc = lmq_delete_batch(q, h, got, hr)) == 0)
            for (size_t i = 0; i < got && rc == 0; i++)
                rc = hr[i].err ? hr[i].err : hr[i].applied ? 0 : LMQ_ENOTFOUND;
        for (size_t i = 0; i < got; i++)
            lmq_msg_free(m[i]);
        if (rc != 0)
            return rc;
    }
}

int
lmq_test_counts(lmq_env *env, const char *queue, long long c[3])
{
    const char *names[] = {"ApproximateNumberOfMessages",
                           "ApproximateNumberOfMessagesNotVisible",
                           "ApproximateNumberOfMessagesDelayed", NULL};
    lmq_map *a;
    int rc = lmq_queue_get_attributes(env, queue, names, &a);
    if (rc != 0)
        return rc;
    for (int i = 0; i < 3; i++) {
        const char *v = lmq_map_get(a, names[i]);
        c[i] = v ? atoll(v) : -1;
    }
    lmq_map_free(a);
    return 0;
}

int
lmq_test_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, len) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

char *
lmq_test_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

int
lmq_test_cli(const char *bin, const char *const *args, const char *in_file,
             int deadline_s, char **out, char **err)
{
    static unsigned serial;
    char outp[320], errp[320];
    const char *argv[64];
    size_t n = 0;
    int st;
    snprintf(outp, sizeof outp, "%s/cli.%u.out", lmq_test_dir, serial);
    snprintf(errp, sizeof errp, "%s/cli.%u.err", lmq_test_dir, serial++);
    argv[n++] = bin;
    for (size_t i = 0; args[i]; i++) {
        ck_assert_uint_lt(n, 63);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fi = open(in_file ? in_file : "/dev/null", O_RDONLY);
        if (fo < 0 || fe < 0 || fi < 0)
            _exit(120);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], (char *const *)argv);
        _exit(121);
    }
    for (int waited = 0;; waited++) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        ck_assert_int_ge(w, 0);
        if (w == pid)
            break;
        if (waited >= deadline_s * 100) {
            kill(pid, SIGKILL);
            ck_assert_int_eq(waitpid(pid, &st, 0), pid);
            break;
        }
        usleep(10000);
    }
    if (out)
        *out = lmq_test_slurp(outp, NULL);
    if (err)
        *err = lmq_test_slurp(errp, NULL);
    unlink(outp);
    unlink(errp);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void
lmq_test_preload(const char *so)
{
    const char *ao = getenv("ASAN_OPTIONS");
    if (!ao || !strstr(ao, "verify_asan_link_order=0")) {
        char opts[1024];
        snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0",
                 ao ? ao : "", ao && *ao ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
    }
    setenv("LD_PRELOAD", so, 1);
}
