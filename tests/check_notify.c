/*
 * check_notify.c: the cross-process wake-up module (lib/notify*.c).
 *
 * Waiters run in forked processes (check_fork, each opening its own handle,
 * as the library does) or in threads. Timing assertions are one-sided and
 * generous: "woken well before its deadline" means under 2 s against a 10 s
 * deadline. Before waking, the tests wait until the waiter is registered
 * (lmq__notify_waiters), so a wake never lands before the waiter sleeps and
 * passes by accident.
 */
#include "lmq_test.h"
#include "internal.h"
#include "notify.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* A deadline no passing test reaches; a missed wake shows as a failure. */
#define LONG_MS 10000
/* The generous bound for "promptly". */
#define PROMPT_MS 2000

static lmq_notify *
open_notify(void)
{
    lmq_notify *n = NULL;
    ck_ok(lmq__notify_open(lmq_test_dir, &n));
    ck_assert_ptr_nonnull(n);
    return n;
}

static void
nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Wait (up to 5 s) until at least k waiters are registered on qid's slot. */
static void
await_waiters(lmq_notify *n, uint32_t qid, uint32_t k)
{
    int64_t end = lmq__notify_now_ms() + 5000;
    while (lmq__notify_waiters(n, qid) < k) {
        ck_assert_msg(lmq__notify_now_ms() < end,
                      "only %u of %u waiters registered on qid %u",
                      lmq__notify_waiters(n, qid), k, qid);
        nap_ms(1);
    }
}

/* ---- waiter threads ------------------------------------------------------ */

struct waiter {
    pthread_t tid;
    lmq_notify *n;
    uint32_t qid;
    uint32_t token;
    int64_t timeout_ms;
    int rc;
    int64_t elapsed_ms;
};

static void *
waiter_main(void *arg)
{
    struct waiter *w = arg;
    int64_t t0 = lmq__notify_now_ms();
    w->rc = lmq__notify_wait(w->n, w->qid, w->token, w->timeout_ms);
    w->elapsed_ms = lmq__notify_now_ms() - t0;
    return NULL;
}

static void
waiter_start(struct waiter *w, lmq_notify *n, uint32_t qid, int64_t ms)
{
    w->n = n;
    w->qid = qid;
    w->token = lmq__notify_token(n, qid);
    w->timeout_ms = ms;
    w->rc = -1000;
    ck_assert_int_eq(pthread_create(&w->tid, NULL, waiter_main, w), 0);
}

static void
waiter_join(struct waiter *w)
{
    ck_assert_int_eq(pthread_join(w->tid, NULL), 0);
}

/* ---- waiter processes ---------------------------------------------------- */

/* Exit codes of a waiter process. */
enum { CHILD_WOKEN = 0, CHILD_TIMEOUT = 1, CHILD_OTHER = 2, CHILD_OPEN = 3 };

/* Fork a process that opens its own handle and waits on qid with token for
 * ms; it exits with CHILD_WOKEN, CHILD_TIMEOUT, ... */
static pid_t
spawn_waiter(uint32_t qid, uint32_t token, int64_t ms)
{
    pid_t pid = check_fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lmq_notify *n = NULL;
        if (lmq__notify_open(lmq_test_dir, &n) != 0)
            _exit(CHILD_OPEN);
        int rc = lmq__notify_wait(n, qid, token, ms);
        lmq__notify_close(n);
        _exit(rc == 0 ? CHILD_WOKEN : rc == 1 ? CHILD_TIMEOUT : CHILD_OTHER);
    }
    return pid;
}

/* Reap pid if it has exited: its exit code, or -1 while it runs. */
static int
try_reap(pid_t pid)
{
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    ck_assert_int_ne(r, -1);
    if (r == 0)
        return -1;
    ck_assert_msg(WIFEXITED(st), "waiter %d died by signal %d", (int)pid,
                  WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return WEXITSTATUS(st);
}

/* Reap pid, failing if it takes longer than ms. Its exit code. */
static int
reap_within(pid_t pid, int64_t ms)
{
    int64_t end = lmq__notify_now_ms() + ms;
    int code;
    while ((code = try_reap(pid)) < 0) {
        ck_assert_msg(lmq__notify_now_ms() < end,
                      "waiter %d still asleep after %lld ms", (int)pid,
                      (long long)ms);
        nap_ms(1);
    }
    return code;
}

/* ---- fixture ------------------------------------------------------------- */

static void
setup(void)
{
    lmq_test_tmp_setup();
}

static void
teardown(void)
{
    lmq_test_tmp_teardown();
}

/* ---- lifecycle ----------------------------------------------------------- */

START_TEST(test_open_creates_private_file)
{
    char path[300];
    struct stat st;
    lmq_notify *n = open_notify();

    snprintf(path, sizeof path, "%s/lmq.wake", lmq_test_dir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(st.st_size, sizeof(struct lmq__notify_file));
    lmq__notify_close(n);

    /* Reopening keeps the slots. */
    n = open_notify();
    lmq__notify_wake(n, 7, 1);
    lmq__notify_close(n);
    n = open_notify();
    ck_assert_uint_eq(lmq__notify_token(n, 7), 1);
    lmq__notify_close(n);
}
END_TEST

START_TEST(test_open_missing_dir_is_eio)
{
    char path[300];
    lmq_notify *n = (lmq_notify *)&n;

    snprintf(path, sizeof path, "%s/no/such/dir", lmq_test_dir);
    ck_lmq(lmq__notify_open(path, &n), LMQ_EIO);
    ck_assert_ptr_null(n);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), strerror(ENOENT)));
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "LMQ_EIO"));
}
END_TEST

START_TEST(test_open_rejects_foreign_file)
{
    char path[300];
    lmq_notify *n = NULL;

    snprintf(path, sizeof path, "%s/lmq.wake", lmq_test_dir);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("this is not a wake file, and never was", fp);
    fclose(fp);
    ck_lmq(lmq__notify_open(lmq_test_dir, &n), LMQ_EIO);
    ck_assert_ptr_null(n);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "not an lmq wake file"));
}
END_TEST

START_TEST(test_handles_share_slots)
{
    lmq_notify *a = open_notify(), *b = open_notify();
    uint32_t t = lmq__notify_token(b, 3);

    lmq__notify_wake(a, 3, 1);
    ck_assert_uint_eq(lmq__notify_token(b, 3), t + 1);
    ck_lmq(lmq__notify_wait(b, 3, t, LONG_MS), 0);
    lmq__notify_close(a);
    lmq__notify_close(b);
}
END_TEST

START_TEST(test_null_handle_is_harmless)
{
    lmq__notify_close(NULL);
    lmq__notify_wake(NULL, 1, 1);
    lmq__notify_interrupt(NULL);
    ck_assert_uint_eq(lmq__notify_token(NULL, 1), 0);
    ck_lmq(lmq__notify_wait(NULL, 1, 0, 10), LMQ_EMISUSE);
}
END_TEST

/* ---- wait results -------------------------------------------------------- */

START_TEST(test_stale_token_returns_at_once)
{
    lmq_notify *n = open_notify();
    uint32_t t = lmq__notify_token(n, 1);

    lmq__notify_wake(n, 1, 0); /* nobody waits: only the bump */
    int64_t t0 = lmq__notify_now_ms();
    ck_lmq(lmq__notify_wait(n, 1, t, LONG_MS), 0);
    ck_assert_int_lt(lmq__notify_now_ms() - t0, PROMPT_MS);
    ck_assert_uint_eq(lmq__notify_waiters(n, 1), 0);
    lmq__notify_close(n);
}
END_TEST

START_TEST(test_timeout_returns_one_after_timeout)
{
    lmq_notify *n = open_notify();
    uint32_t t = lmq__notify_token(n, 1);

    int64_t t0 = lmq__notify_now_ms();
    ck_lmq(lmq__notify_wait(n, 1, t, 300), 1);
    int64_t el = lmq__notify_now_ms() - t0;
    ck_assert_int_ge(el, 300);
    ck_assert_int_lt(el, 300 + PROMPT_MS);
    ck_assert_uint_eq(lmq__notify_waiters(n, 1), 0);

    /* A zero or negative timeout only checks. */
    t0 = lmq__notify_now_ms();
    ck_lmq(lmq__notify_wait(n, 1, t, 0), 1);
    ck_lmq(lmq__notify_wait(n, 1, t, -5), 1);
    ck_assert_int_lt(lmq__notify_now_ms() - t0, PROMPT_MS);
    lmq__notify_close(n);
}
END_TEST

static void
ignore_signal(int sig)
{
    (void)sig;
}

START_TEST(test_signals_do_not_end_waits)
{
    lmq_notify *n = open_notify();
    struct sigaction sa;
    struct waiter w;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ignore_signal; /* no SA_RESTART: futex sees EINTR */
    ck_assert_int_eq(sigaction(SIGUSR2, &sa, NULL), 0);
    waiter_start(&w, n, 1, 500);
    await_waiters(n, 1, 1);
    for (int i = 0; i < 5; i++) {
        pthread_kill(w.tid, SIGUSR2);
        nap_ms(20);
    }
    waiter_join(&w);
    ck_lmq(w.rc, 1);
    ck_assert_int_ge(w.elapsed_ms, 500);
    lmq__notify_close(n);
}
END_TEST

/* ---- across processes ---------------------------------------------------- */

START_TEST(test_waiter_in_child_is_woken_by_parent)
{
    lmq_notify *n = open_notify();
    uint32_t t = lmq__notify_token(n, 1);
    pid_t pid = spawn_waiter(1, t, LONG_MS);

    await_waiters(n, 1, 1);
    nap_ms(20); /* let it reach FUTEX_WAIT, not just register */
    int64_t t0 = lmq__notify_now_ms();
    lmq__notify_wake(n, 1, 1);
    ck_assert_int_eq(reap_within(pid, LONG_MS), CHILD_WOKEN);
    ck_assert_int_lt(lmq__notify_now_ms() - t0, PROMPT_MS);
    ck_assert_uint_eq(lmq__notify_waiters(n, 1), 0);
    lmq__notify_close(n);
}
END_TEST

START_TEST(test_killed_waiter_costs_no_missed_wake)
{
    lmq_notify *n = open_notify();
    struct waiter w;
    pid_t pid = spawn_waiter(1, lmq__notify_token(n, 1), LONG_MS);

    await_waiters(n, 1, 1);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFSIGNALED(st));
    /* The dead waiter is still counted ... */
    ck_assert_uint_eq(lmq__notify_waiters(n, 1), 1);

    /* ... which must not cost a live waiter its wake, even with count 1. */
    waiter_start(&w, n, 1, LONG_MS);
    await_waiters(n, 1, 2);
    nap_ms(20);
    lmq__notify_wake(n, 1, 1);
    waiter_join(&w);
    ck_lmq(w.rc, 0);
    ck_assert_int_lt(w.elapsed_ms, PROMPT_MS);
    ck_assert_uint_eq(lmq__notify_waiters(n, 1), 1);
    lmq__notify_close(n);
}
END_TEST

/* ---- thundering herd ----------------------------------------------------- */

START_TEST(test_wake_one_of_three_then_all)
{
    enum { NW = 3 };
    lmq_notify *n = open_notify();
    uint32_t t = lmq__notify_token(n, 1);
    pid_t pid[NW];
    bool done[NW] = {false};
    int ndone = 0;

    for (int i = 0; i < NW; i++)
        pid[i] = spawn_waiter(1, t, LONG_MS);
    await_waiters(n, 1, NW);
    nap_ms(50);

    lmq__notify_wake(n, 1, 1);
    int64_t end = lmq__notify_now_ms() + PROMPT_MS;
    while (ndone == 0) {
        ck_assert_msg(lmq__notify_now_ms() < end, "nobody woke");
        for (int i = 0; i < NW; i++) {
            int code = try_reap(pid[i]);
            if (code >= 0) {
                ck_assert_int_eq(code, CHILD_WOKEN);
                done[i] = true;
                ndone++;
            }
        }
        nap_ms(1);
    }
    if (strcmp(lmq__notify_backend, "futex") == 0) {
        /* Exactly one was woken: the others sleep on until owed a wake. */
        nap_ms(300);
        for (int i = 0; i < NW; i++)
            if (!done[i])
                ck_assert_int_eq(try_reap(pid[i]), -1);
        ck_assert_int_eq(ndone, 1);
    }

    /* No one misses a wake it is owed: waking all ends every wait. */
    int64_t t0 = lmq__notify_now_ms();
    lmq__notify_wake(n, 1, UINT32_MAX);
    for (int i = 0; i < NW; i++)
        if (!done[i])
            ck_assert_int_eq(reap_within(pid[i], LONG_MS), CHILD_WOKEN);
    ck_assert_int_lt(lmq__notify_now_ms() - t0, PROMPT_MS);
    lmq__notify_close(n);
}
END_TEST

/* ---- interrupt ----------------------------------------------------------- */

START_TEST(test_interrupt_from_thread)
{
    lmq_notify *n = open_notify();
    struct waiter w;

    waiter_start(&w, n, 1, LONG_MS);
    await_waiters(n, 1, 1);
    nap_ms(20);
    lmq__notify_interrupt(n);
    waiter_join(&w);
    ck_lmq(w.rc, LMQ_EINTR);
    ck_assert_int_lt(w.elapsed_ms, PROMPT_MS);

    /* Future waits too, even with a stale token or no time to wait. */
    uint32_t t = lmq__notify_token(n, 1);
    ck_lmq(lmq__notify_wait(n, 1, t, LONG_MS), LMQ_EINTR);
    ck_lmq(lmq__notify_wait(n, 1, t - 1, LONG_MS), LMQ_EINTR);
    ck_lmq(lmq__notify_wait(n, 2, t, 0), LMQ_EINTR);
    ck_assert_uint_eq(lmq__notify_waiters(n, 1), 0);
    lmq__notify_close(n);
}
END_TEST

static lmq_notify *signal_target;

static void
interrupt_on_signal(int sig)
{
    (void)sig;
    lmq__notify_interrupt(signal_target);
}

START_TEST(test_interrupt_from_signal_handler)
{
    lmq_notify *n = open_notify();
    struct sigaction sa;
    struct waiter w;

    signal_target = n;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = interrupt_on_signal;
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    waiter_start(&w, n, 1, LONG_MS);
    await_waiters(n, 1, 1);
    nap_ms(20);
    /* The handler runs on the waiting thread itself. */
    ck_assert_int_eq(pthread_kill(w.tid, SIGUSR1), 0);
    waiter_join(&w);
    ck_lmq(w.rc, LMQ_EINTR);
    ck_assert_int_lt(w.elapsed_ms, PROMPT_MS);
    lmq__notify_close(n);
}
END_TEST

START_TEST(test_interrupt_spares_other_handles)
{
    lmq_notify *a = open_notify(), *b = open_notify();
    struct waiter wa, wb;

    waiter_start(&wa, a, 1, LONG_MS);
    waiter_start(&wb, b, 2, 300);
    await_waiters(a, 1, 1);
    await_waiters(b, 2, 1);
    lmq__notify_interrupt(a);
    waiter_join(&wa);
    waiter_join(&wb);
    ck_lmq(wa.rc, LMQ_EINTR);
    ck_lmq(wb.rc, 1);
    ck_assert_int_ge(wb.elapsed_ms, 300);
    lmq__notify_close(a);
    lmq__notify_close(b);
}
END_TEST

START_TEST(test_close_with_waiter_never_hangs)
{
    lmq_notify *n = open_notify();
    struct waiter w;

    waiter_start(&w, n, 1, LONG_MS);
    await_waiters(n, 1, 1);
    nap_ms(20);
    int64_t t0 = lmq__notify_now_ms();
    lmq__notify_close(n); /* interrupts, and waits for the waiter to leave */
    ck_assert_int_lt(lmq__notify_now_ms() - t0, PROMPT_MS);
    waiter_join(&w);
    ck_lmq(w.rc, LMQ_EINTR);
    ck_assert_int_lt(w.elapsed_ms, PROMPT_MS);
}
END_TEST

/* ---- isolation between queues -------------------------------------------- */

START_TEST(test_other_queue_does_not_wake)
{
    lmq_notify *n = open_notify();
    struct waiter w;

    ck_assert_uint_ne(lmq__notify_slot(1), lmq__notify_slot(2));
    uint32_t t2 = lmq__notify_token(n, 2);
    waiter_start(&w, n, 1, 400);
    await_waiters(n, 1, 1);
    lmq__notify_wake(n, 2, UINT32_MAX);
    waiter_join(&w);
    ck_lmq(w.rc, 1);
    ck_assert_int_ge(w.elapsed_ms, 400);
    ck_assert_uint_eq(lmq__notify_token(n, 1), w.token);
    ck_assert_uint_eq(lmq__notify_token(n, 2), t2 + 1);
    lmq__notify_close(n);
}
END_TEST

START_TEST(test_shared_slot_still_wakes_the_right_queue)
{
    lmq_notify *n = open_notify();
    const uint32_t qa = 5, qb = 5 + LMQ_NOTIFY_SLOTS;
    struct waiter wa, wb;

    ck_assert_uint_eq(lmq__notify_slot(qa), lmq__notify_slot(qb));
    /* The other queue's waiter sleeps first, so a FIFO wake of one would
     * pick it if the slot were not marked as shared. */
    waiter_start(&wb, n, qb, LONG_MS);
    await_waiters(n, qb, 1);
    nap_ms(20);
    waiter_start(&wa, n, qa, LONG_MS);
    await_waiters(n, qa, 2);
    nap_ms(20);
    lmq__notify_wake(n, qa, 1);
    waiter_join(&wa);
    ck_lmq(wa.rc, 0);
    ck_assert_int_lt(wa.elapsed_ms, PROMPT_MS);
    lmq__notify_wake(n, qb, UINT32_MAX);
    waiter_join(&wb);
    ck_lmq(wb.rc, 0);
    lmq__notify_close(n);
}
END_TEST

/* ---- suite --------------------------------------------------------------- */

static TCase *
tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60); /* sanitizer builds; passing tests take < 2 s */
    return tc;
}

Suite *
lmq_suite_notify(void)
{
    Suite *s = suite_create("notify");
    TCase *tc;

    tc = tcase("lifecycle");
    tcase_add_test(tc, test_open_creates_private_file);
    tcase_add_test(tc, test_open_missing_dir_is_eio);
    tcase_add_test(tc, test_open_rejects_foreign_file);
    tcase_add_test(tc, test_handles_share_slots);
    tcase_add_test(tc, test_null_handle_is_harmless);
    suite_add_tcase(s, tc);

    tc = tcase("wait_results");
    tcase_add_test(tc, test_stale_token_returns_at_once);
    tcase_add_test(tc, test_timeout_returns_one_after_timeout);
    tcase_add_test(tc, test_signals_do_not_end_waits);
    suite_add_tcase(s, tc);

    tc = tcase("wake_across_processes");
    tcase_add_test(tc, test_waiter_in_child_is_woken_by_parent);
    tcase_add_test(tc, test_killed_waiter_costs_no_missed_wake);
    suite_add_tcase(s, tc);

    tc = tcase("thundering_herd");
    tcase_add_test(tc, test_wake_one_of_three_then_all);
    suite_add_tcase(s, tc);

    tc = tcase("interrupt");
    tcase_add_test(tc, test_interrupt_from_thread);
    tcase_add_test(tc, test_interrupt_from_signal_handler);
    tcase_add_test(tc, test_interrupt_spares_other_handles);
    tcase_add_test(tc, test_close_with_waiter_never_hangs);
    suite_add_tcase(s, tc);

    tc = tcase("queue_isolation");
    tcase_add_test(tc, test_other_queue_does_not_wake);
    tcase_add_test(tc, test_shared_slot_still_wakes_the_right_queue);
    suite_add_tcase(s, tc);

    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_notify());
}
