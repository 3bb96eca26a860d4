/*
 * check_torture.c: the kill storm of issue 27 (tests/torture.c).
 *
 * Runs tests/torture on a fresh directory: producers, consumers, a consumer
 * runtime and a move-task runner on one home, 100 of them SIGKILLed at
 * random and restarted, then every acknowledged send, delete, FIFO order,
 * duplicate and counter checked. Once with a pwrite home, once with a
 * writable-map home. A third test breaks each promise on purpose (-X) and
 * asserts the checks see it.
 *
 * Long mode: LMQ_TORTURE_KILLS=10000 make check TESTS=tests/check_torture
 * (each storm test then runs 10,000 kills; LMQ_TORTURE_SEED fixes the
 * seed). See docs/DURABILITY.md, "Kill storms".
 */
#include "lmq_test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

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

static int
kills_wanted(void)
{
    const char *k = getenv("LMQ_TORTURE_KILLS");
    return k && atoi(k) > 0 ? atoi(k) : 100;
}

/* Run torture with args (NULL-terminated, without DIR) on a new directory
 * under lmq_test_dir (lmq_test_run_in_dir). */
static int
run_torture(const char *name, const char *const *args, int deadline_s,
            char **out)
{
    return lmq_test_run_in_dir(TORTURE_BIN, name, args, deadline_s, out);
}

/* The value of "key=" in the summary line. */
static long long
field(const char *out, const char *key)
{
    const char *sum = strstr(out, "torture: seed=");
    ck_assert_msg(sum != NULL, "no summary line in:\n%s", out);
    char k[64];
    snprintf(k, sizeof k, " %s=", key);
    const char *p = strstr(sum, k);
    ck_assert_msg(p != NULL, "no %s in the summary: %s", key, sum);
    return atoll(p + strlen(k));
}

static void
storm(const char *map)
{
    int kills = kills_wanted();
    char k[32];
    snprintf(k, sizeof k, "%d", kills);
    const char *args[] = {"-k", k, "-m", map, NULL};
    char *out;
    /* 100 kills take about 10 s; allow for a loaded machine */
    int rc = run_torture(map, args, 150 + kills / 5, &out);
    ck_assert_msg(rc == 0, "torture exited %d:\n%s", rc, out);
    ck_assert_int_eq(field(out, "kills"), kills);
    ck_assert_int_eq(field(out, "failures"), 0);
    /* the storm did work: messages were sent, deleted by the plain
     * consumers and handled by the consumer runtime */
    ck_assert_int_gt(field(out, "acked"), 100);
    ck_assert_int_gt(field(out, "deleted"), 0);
    ck_assert_int_gt(field(out, "handled"), 0);
    ck_assert_int_eq(field(out, "acked"),
                     field(out, "deleted") + field(out, "handled") +
                         field(out, "remaining") + field(out, "in_doubt"));
    fprintf(stderr, "%s", strstr(out, "torture: seed="));
    free(out);
}

START_TEST(kill_storm_pwrite_home_loses_nothing) { storm("pwrite"); }
END_TEST

START_TEST(kill_storm_writable_home_loses_nothing) { storm("writable"); }
END_TEST

/* Each check of the supervisor fails when the workers break its promise. */
START_TEST(checks_see_broken_promises)
{
    static const struct {
        const char *mode, *expect;
    } cases[] = {
        {"lose", "acknowledged send lost"},
        /* came back: delivered again, deleted again, or left */
        {"resurrect", ": deleted"},
        {"dup", "two messages in queue s"},
        {"order", "first delivered before"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {"-k", "5",  "-d",          "2000", "-s",
                              "7",  "-X", cases[i].mode, NULL};
        char *out;
        int rc = run_torture(cases[i].mode, args, 60, &out);
        ck_assert_msg(rc == 1, "-X %s: torture exited %d:\n%s", cases[i].mode,
                      rc, out);
        ck_assert_msg(strstr(out, cases[i].expect) != NULL,
                      "-X %s: no \"%s\" in:\n%s", cases[i].mode,
                      cases[i].expect, out);
        ck_assert_int_gt(field(out, "failures"), 0);
        free(out);
    }
}
END_TEST

Suite *
lmq_suite_torture(void)
{
    Suite *s = suite_create("torture");
    TCase *tc = tcase_create("storm");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 200 + kills_wanted() / 5);
    tcase_add_test(tc, kill_storm_pwrite_home_loses_nothing);
    tcase_add_test(tc, kill_storm_writable_home_loses_nothing);
    tcase_add_test(tc, checks_see_broken_promises);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_torture());
}
