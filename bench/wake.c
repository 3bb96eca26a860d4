/*
 * wake.c: long-poll wake-up latency across processes, and the CPU an idle
 * waiting receive costs.
 *
 *   bench/wake [--messages N] [--idle-seconds S] [--durability none|full]
 *              [--home DIR]
 *
 * Latency: a receiver process blocks in lmq_receive() (WaitTimeSeconds 20)
 * on an empty queue; the sender process waits until the receiver is really
 * asleep on the queue's wake slot, reads CLOCK_MONOTONIC (one clock for the
 * whole machine on Linux), puts the time in the body and sends. The receiver
 * subtracts it from its own clock reading when lmq_receive() returns, so a
 * sample is send call + commit + futex wake + scheduling + receive
 * transaction: what a consumer actually sees. It then deletes the message
 * and waits again. p50/p99/max over N messages are printed.
 *
 * Idle CPU: a process blocks in one receive with a WaitTimeSeconds of S
 * (default 20) on an empty queue; getrusage() before and after gives the CPU
 * time the wait used, which should be a few hundred microseconds at most
 * (the two receive transactions around the sleep), not anything that grows
 * with S.
 *
 * Links liblmq_internal.la only to read the wake slot's waiter count
 * (lmq__notify_waiters), so that every sample starts from a sleeping
 * receiver rather than one that has not gone back to sleep yet.
 */
#include "core.h"
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
die(const char *what, int rc)
{
    fprintf(stderr, "wake: %s: %s (%s)\n", what, lmq_strerror(rc),
            lmq_errmsg());
    exit(1);
}

static lmq_env *
open_env(const char *home, lmq_durability d)
{
    lmq_env_opts o;
    lmq_env *env = NULL;
    lmq_env_opts_init(&o);
    o.durability = d;
    int rc = lmq_env_open(home, &o, &env);
    if (rc)
        die("lmq_env_open", rc);
    return env;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The receiver: n long-poll receives, latency of each into lat[]; lat[n]
 * counts the messages received so far (the sender paces itself on it). */
static void
receiver(const char *home, lmq_durability d, int n, int64_t *lat)
{
    lmq_env *env = open_env(home, d);
    lmq_queue *q;
    int rc = lmq_queue_open(env, "wake", &q);
    if (rc)
        die("lmq_queue_open", rc);
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.wait_seconds = 20;
    for (int i = 0; i < n; i++) {
        lmq_msg *m = NULL;
        size_t got = 0;
        rc = lmq_receive(q, &o, &m, 1, &got);
        int64_t now = mono_ns();
        if (rc)
            die("lmq_receive", rc);
        if (got == 0) {
            i--;
            continue;
        }
        lat[i] = now - strtoll(lmq_msg_body(m, NULL), NULL, 10);
        rc = lmq_delete(q, lmq_msg_receipt(m), NULL);
        if (rc)
            die("lmq_delete", rc);
        lmq_msg_free(m);
        __atomic_store_n(&lat[n], i + 1, __ATOMIC_SEQ_CST);
    }
    lmq_queue_close(q);
    lmq_env_close(env);
}

static void
latency(const char *home, lmq_durability d, int n)
{
    int64_t *lat = mmap(NULL, (size_t)(n + 1) * sizeof *lat,
                        PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                        -1, 0);
    if (lat == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    pid_t pid = fork();
    if (pid == 0) {
        receiver(home, d, n, lat);
        _exit(0);
    }
    lmq_env *env = open_env(home, d);
    lmq_queue *q;
    int rc = lmq_queue_open(env, "wake", &q);
    if (rc)
        die("lmq_queue_open", rc);
    for (int i = 0; i < n; i++) {
        /* Wait until the previous message was handled and the receiver
         * sleeps again. */
        while (__atomic_load_n(&lat[n], __ATOMIC_SEQ_CST) < i ||
               lmq__notify_waiters(env->notify, q->qid) == 0)
            usleep(50);
        usleep(200); /* let it settle into FUTEX_WAIT */
        char body[32];
        lmq_send_entry e;
        lmq_send_entry_init(&e);
        snprintf(body, sizeof body, "%lld", (long long)mono_ns());
        e.body = body;
        e.body_len = strlen(body);
        if ((rc = lmq_send(q, &e, NULL)) != 0)
            die("lmq_send", rc);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "wake: receiver failed\n");
        exit(1);
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_i64);
    printf("wake-up latency, send in one process -> receive returns in "
           "another (%d messages):\n"
           "  p50 %.1f us   p90 %.1f us   p99 %.1f us   max %.1f us\n",
           n, lat[n / 2] / 1e3, lat[n * 9 / 10] / 1e3, lat[n * 99 / 100] / 1e3,
           lat[n - 1] / 1e3);
    lmq_queue_close(q);
    lmq_env_close(env);
    munmap(lat, (size_t)(n + 1) * sizeof *lat);
}

static int64_t
cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
           ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static void
idle_cpu(const char *home, lmq_durability d, int seconds)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        lmq_env *env = open_env(home, d);
        lmq_queue *q;
        int rc = lmq_queue_open(env, "wake-idle", &q);
        if (rc)
            die("lmq_queue_open", rc);
        lmq_recv_opts o;
        lmq_recv_opts_init(&o);
        o.wait_seconds = seconds;
        lmq_msg *m = NULL;
        size_t got = 0;
        int64_t c0 = cpu_us(), t0 = mono_ns();
        rc = lmq_receive(q, &o, &m, 1, &got);
        int64_t c1 = cpu_us(), t1 = mono_ns();
        if (rc)
            die("lmq_receive", rc);
        char line[160];
        int len = snprintf(line, sizeof line, "%lld %lld %zu\n",
                           (long long)(c1 - c0), (long long)(t1 - t0), got);
        if (write(fds[1], line, (size_t)len) != len)
            _exit(1);
        lmq_queue_close(q);
        lmq_env_close(env);
        _exit(0);
    }
    close(fds[1]);
    char buf[160] = "";
    ssize_t r = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    long long cpu = 0, wall = 0;
    size_t got = 0;
    if (r <= 0 || sscanf(buf, "%lld %lld %zu", &cpu, &wall, &got) != 3) {
        fprintf(stderr, "wake: idle child failed\n");
        exit(1);
    }
    printf("idle CPU of one process blocked in a %d s wait on an empty "
           "queue:\n  %lld us CPU (user+sys) over %.2f s wall, %zu messages "
           "(%.4f%% of one core)\n",
           seconds, cpu, wall / 1e9, got, 100.0 * (double)cpu * 1e3 / wall);
}

int
main(int argc, char **argv)
{
    int n = 2000, idle = 20;
    lmq_durability d = LMQ_DURABILITY_NONE;
    const char *home = NULL;
    char tmp[] = "/tmp/lmq-wake.XXXXXX";

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
            n = atoi(argv[++i]);
        else if (strcmp(argv[i], "--idle-seconds") == 0 && i + 1 < argc)
            idle = atoi(argv[++i]);
        else if (strcmp(argv[i], "--home") == 0 && i + 1 < argc)
            home = argv[++i];
        else if (strcmp(argv[i], "--durability") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            d = strcmp(v, "full") == 0       ? LMQ_DURABILITY_FULL
                : strcmp(v, "periodic") == 0 ? LMQ_DURABILITY_PERIODIC
                                             : LMQ_DURABILITY_NONE;
        } else {
            fprintf(stderr,
                    "usage: wake [--messages N] [--idle-seconds S] "
                    "[--durability none|periodic|full] [--home DIR]\n");
            return 2;
        }
    }
    if (n < 1 || idle < 0 || idle > 20) {
        fprintf(stderr, "wake: --messages >= 1, --idle-seconds 0-20\n");
        return 2;
    }
    if (!home) {
        if (!mkdtemp(tmp)) {
            perror("mkdtemp");
            return 1;
        }
        home = tmp;
    }
    /* Create the queues, then close: no env may cross fork(). */
    lmq_env *env = open_env(home, d);
    int rc;
    if ((rc = lmq_queue_create(env, "wake", NULL, NULL, NULL)) != 0 ||
        (rc = lmq_queue_create(env, "wake-idle", NULL, NULL, NULL)) != 0)
        die("lmq_queue_create", rc);
    lmq_env_close(env);

    printf("lmq %s, notify backend %s, durability %s\n", LMQ_VERSION_STRING,
           lmq__notify_backend,
           d == LMQ_DURABILITY_FULL       ? "full"
           : d == LMQ_DURABILITY_PERIODIC ? "periodic"
                                          : "none");
    latency(home, d, n);
    if (idle > 0)
        idle_cpu(home, d, idle);
    if (home == tmp) {
        char cmd[64];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "wake: could not remove %s\n", tmp);
    }
    return 0;
}
