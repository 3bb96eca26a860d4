/*
 * check_crashstate.c: crash-state exploration of `full` homes (issue 27;
 * tests/crashstate.c, tests/crashfs.c).
 *
 * Each test runs one workload (send, recv, purge, move, fifo) under the
 * recorder in one map mode, builds LMQ_CRASH_STATES crash states (default
 * 25) from its trace and opens every one with the real code: nothing
 * acknowledged lost, nothing deleted or purged back, no duplicates, FIFO
 * order and deduplication kept, counters right, and never a signal, a hang
 * or LMQ_ECORRUPT. The seed is random unless LMQ_CRASH_SEED fixes it, and
 * printed in the output (with the command that rebuilds a failed state).
 * A last test leaves out synced writes of the log on purpose (-X
 * drop-synced) and asserts the checks see the loss.
 *
 * Long mode: LMQ_CRASH_STATES=2000 make check TESTS=tests/check_crashstate
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

/* Run crashstate with args (NULL-terminated, without DIR) in a new
 * directory; its output goes to *out (malloc'd). Returns the exit status,
 * or -1 when it had to be killed at the deadline. */
static int
run_crashstate(const char *name, const char *const *args, int deadline_s,
               char **out)
{
    char wdir[400], opath[400];
    snprintf(wdir, sizeof wdir, "%s/%s", lmq_test_dir, name);
    snprintf(opath, sizeof opath, "%s/%s.out", lmq_test_dir, name);
    ck_assert_int_eq(mkdir(wdir, 0700), 0);
    const char *argv[20];
    size_t n = 0;
    argv[n++] = CRASHSTATE_BIN;
    for (; *args && n < 18; args++)
        argv[n++] = *args;
    argv[n++] = wdir;
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(CRASHSTATE_BIN, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    time_t end = time(NULL) + deadline_s;
    pid_t w;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && time(NULL) < end)
        usleep(20000);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    FILE *f = fopen(opath, "r");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    *out = calloc(1, (size_t)len + 1);
    ck_assert_uint_eq(fread(*out, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    if (w == 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static const char *
states_arg(void)
{
    const char *s = getenv("LMQ_CRASH_STATES");
    return s && atoi(s) > 0 ? s : "25";
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

static const char *workloads[] = {"send", "recv", "purge", "move", "fifo"};

static void
explore(int i, const char *mm)
{
    const char *w = workloads[i];
    const char *args[] = {"-w", w,   "-m",        mm,
                          "-n", states_arg(), "-s", seed_arg(),
                          NULL};
    char name[64];
    snprintf(name, sizeof name, "%s-%s", w, mm);
    int deadline = 120 + atoi(states_arg()) * 2;
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
    tcase_set_timeout(tc, 3600);
    tcase_add_loop_test(tc, test_pwrite, 0, 5);
    tcase_add_loop_test(tc, test_writable, 0, 5);
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
