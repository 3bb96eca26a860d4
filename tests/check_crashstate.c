/*
 * check_crashstate.c: crash-state exploration of `full` homes (issue 27;
 * tests/crashstate.c, tests/crashfs.c).
 *
 * Each test runs one workload (create, send, recv, purge, move, fifo)
 * under the recorder in one map mode, builds LMQ_CRASH_STATES crash states
 * (default 12) from its trace and opens every one with the real code, and
 * every fourth state is recovered under the recorder too, with
 * LMQ_CRASH_RSTATES (default 2) crash states of that recovery: nothing
 * acknowledged lost, nothing deleted or purged back, no duplicates, FIFO
 * order and deduplication kept, counters right, and never a signal, a hang
 * or LMQ_ECORRUPT. The seed is random unless LMQ_CRASH_SEED fixes it, and
 * printed in the output (with the command that rebuilds a failed state).
 * A last test leaves out synced writes of the log on purpose (-X
 * drop-synced) and asserts the checks see the loss.
 *
 * Long mode: LMQ_CRASH_STATES=2000 LMQ_CRASH_RSTATES=8
 *     make check TESTS=tests/check_crashstate
 * (see docs/DURABILITY.md, "Crash states").
 */
#include "lmq_test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* The states are written and opened in memory when /dev/shm exists: they
 * model a disk, they need not sit on one (and fdatasync there costs the
 * short mode most of its time). */
static void
setup(void)
{
    struct stat st;
    if (!getenv("LMQ_CRASH_DISK") && stat("/dev/shm", &st) == 0 &&
        S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    lmq_test_tmp_setup();
}

static void
teardown(void)
{
    lmq_test_tmp_teardown();
}

/* Run crashstate with args (NULL-terminated, without DIR) on a new
 * directory under lmq_test_dir (lmq_test_run_in_dir). */
static int
run_crashstate(const char *name, const char *const *args, int deadline_s,
               char **out)
{
    return lmq_test_run_in_dir(CRASHSTATE_BIN, name, args, deadline_s, out);
}

/* The sanitizer pass (LMQ_TEST_SAN, set by scripts/test) opens fewer
 * states: the plain pass opens the CI count, and every state costs ~10x
 * under the sanitizers. */
static int
sanitized(void)
{
    const char *s = getenv("LMQ_TEST_SAN");
    return s && *s && strcmp(s, "0") != 0;
}

static const char *
states_arg(void)
{
    const char *s = getenv("LMQ_CRASH_STATES");
    return s && atoi(s) > 0 ? s : sanitized() ? "5" : "12";
}

static const char *
seed_arg(void)
{
    static char buf[32];
    const char *s = getenv("LMQ_CRASH_SEED");
    if (s && *s)
        return s;
    snprintf(buf, sizeof buf, "%lu",
             (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16));
    return buf;
}

static const char *
rstates_arg(void)
{
    const char *s = getenv("LMQ_CRASH_RSTATES");
    return s && atoi(s) >= 0 && *s ? s : sanitized() ? "1" : "2";
}

/* Generous: a state costs ~50 ms of CPU, and the machine may be loaded
 * tenfold; the long mode scales it. */
static int
explore_deadline(void)
{
    int n = atoi(states_arg()), r = atoi(rstates_arg());
    return 300 + n + (n / 4 + 1) * r;
}

static const char *workloads[] = {"create", "send", "recv",  "purge",
                                  "move",   "fifo", "cycles"};
#define NWORKLOADS (int)(sizeof workloads / sizeof workloads[0])

static void
explore(int i, const char *mm)
{
    const char *w = workloads[i];
    const char *args[] = {"-w", w,           "-m", mm,         "-n",
                          states_arg(), "-r", rstates_arg(), "-s", seed_arg(),
                          NULL};
    char name[64];
    snprintf(name, sizeof name, "%s-%s", w, mm);
    int deadline = explore_deadline();
    char *out;
    int rc = run_crashstate(name, args, deadline, &out);
    ck_assert_msg(rc == 0, "crashstate %s: status %d\n%s", name, rc, out);
    /* every state was explored */
    char want[64];
    snprintf(want, sizeof want, "%s states explored", states_arg());
    ck_assert_msg(strstr(out, want) && strstr(out, ", 0 failed"),
                  "crashstate %s:\n%s", name, out);
    printf("%s", out);
    free(out);
}

START_TEST(test_pwrite)
{
    explore(_i, "pwrite");
}
END_TEST

START_TEST(test_writable)
{
    explore(_i, "writable");
}
END_TEST

/* Every crash point of a new home's first open and first writes, with only
 * LMDB's meta pages of what was in flight on the disk (-P metas): a meta
 * page newer than the checkpoint must never be there without a record of
 * the log after it. Before the first record after a checkpoint was
 * flushed ahead of the commit, such states opened on a meta page pointing
 * at pages never written (LMQ_ECORRUPT, in both map modes). */
START_TEST(test_meta_before_log)
{
    const char *mm = _i ? "writable" : "pwrite";
    const char *args[] = {"-w", "create", "-m", mm, "-n", "70",
                          "-P", "metas", "-s", seed_arg(), NULL};
    char *out;
    int rc = run_crashstate(mm, args, 300, &out);
    ck_assert_msg(rc == 0 && strstr(out, "70 states explored") &&
                      strstr(out, ", 0 failed"),
                  "status %d\n%s", rc, out);
    free(out);
}
END_TEST

/* The checks can fail: a state that loses synced records of the log loses
 * acknowledged messages, and crashstate says so (with the command that
 * rebuilds the state). */
START_TEST(test_sabotage_caught)
{
    const char *args[] = {"-w", "send", "-m", "pwrite", "-n", "12",
                          "-s", "7", "-X", "drop-synced", NULL};
    char *out;
    int rc = run_crashstate("sabotage", args, 200, &out);
    ck_assert_msg(rc == 1, "status %d\n%s", rc, out);
    /* lost messages, or a log whose flush marks prove the damage */
    ck_assert_msg((strstr(out, "(acknowledged) and lost") ||
                   strstr(out, "LMQ_ECORRUPT")) &&
                      strstr(out, "FAILED state") && strstr(out, "-s 7"),
                  "%s", out);
    free(out);
}
END_TEST

static Suite *
lmq_suite_crashstate(void)
{
    Suite *s = suite_create("crashstate");
    TCase *tc = tcase_create("full_homes_survive_every_crash_state");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, explore_deadline() + 60);
    tcase_add_loop_test(tc, test_pwrite, 0, NWORKLOADS);
    tcase_add_loop_test(tc, test_writable, 0, NWORKLOADS);
    suite_add_tcase(s, tc);
    tc = tcase_create("meta_pages_never_ahead_of_the_log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_meta_before_log, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("checks_see_lost_records");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_sabotage_caught);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_crashstate());
}
