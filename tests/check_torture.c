/*
 * check_torture.c: the kill storm of issue 27 (tests/torture.c).
 *
 * Runs tests/torture on a fresh directory: producers, consumers, a consumer
 * runtime and a move-task runner on one home, 100 of them SIGKILLed at
 * random and restarted, then every acknowledged send, delete, FIFO order,
 * duplicate and counter checked. Once with a pwrite home, once with a
 * writable-map home. A third storm adds lmqd (three on the home, one per
 * durability mode, with HTTP clients) and the bridge (forward, FIFO forward
 * and pull routes to a fourth lmqd on a remote home), which take half of
 * the kills. A last test breaks each promise on purpose (-X) and asserts
 * the checks see it.
 *
 * Long mode: LMQ_TORTURE_KILLS=10000 make check TESTS=tests/check_torture
 * (each storm test then runs 10,000 kills; LMQ_TORTURE_SEED fixes the
 * seed; CK_RUN_CASE/CK_RUN_SUITE do not pick one test, run tests/torture
 * by hand for that). See docs/DURABILITY.md, "Kill storms".
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

/* The storm with lmqd and the bridge: fewer kills under the sanitizers
 * (lmqd starts slowly there) unless the long mode asks. */
static int
daemon_kills_wanted(void)
{
    const char *k = getenv("LMQ_TORTURE_KILLS");
    if (k && atoi(k) > 0)
        return atoi(k);
    return getenv("LMQ_TEST_SAN") ? 20 : 40;
}

/* Run torture with args (NULL-terminated, without DIR) on a new directory
 * under lmq_test_dir (lmq_test_run_in_dir). */
static int
run_torture(const char *name, const char *const *args, int deadline_s,
            char **out)
{
    return lmq_test_run_in_dir(TORTURE_BIN, name, args, deadline_s, out);
}

/* The value of "key=" in the summary line that starts with line. */
static long long
field_of(const char *out, const char *line, const char *key)
{
    const char *sum = strstr(out, line);
    ck_assert_msg(sum != NULL, "no summary line in:\n%s", out);
    char k[64];
    snprintf(k, sizeof k, " %s=", key);
    const char *p = strstr(sum, k);
    ck_assert_msg(p != NULL, "no %s in the summary: %s", key, sum);
    return atoll(p + strlen(k));
}

static long long
field(const char *out, const char *key)
{
    return field_of(out, "torture: seed=", key);
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

static long long
dfield(const char *out, const char *key)
{
    return field_of(out, "torture: daemons", key);
}

/* lmqd in every durability mode and the bridge join the storm. */
START_TEST(kill_storm_with_lmqd_and_bridge_loses_nothing)
{
    int kills = daemon_kills_wanted();
    char k[32];
    snprintf(k, sizeof k, "%d", kills);
    const char *args[] = {"-k", k, "-L", LMQD_BIN, "-B", LMQ_BIN, NULL};
    char *out;
    /* 100 kills take about 30 s on a loaded machine; the final drain
     * may take minutes after a long storm */
    int rc = run_torture("daemons", args, 300 + kills / 2, &out);
    ck_assert_msg(rc == 0, "torture exited %d:\n%s", rc, out);
    ck_assert_int_eq(field(out, "kills"), kills);
    ck_assert_int_eq(field(out, "failures"), 0);
    ck_assert_int_eq(field(out, "acked"),
                     field(out, "deleted") + field(out, "handled") +
                         field(out, "remaining") + field(out, "in_doubt"));
    /* every kind of daemon was killed, and the storm did work through
     * them: acknowledged HTTP sends, forwarded and pulled messages */
    const char *lk = strstr(out, "lmqd_kills=");
    int k0 = 0, k1 = 0, k2 = 0;
    ck_assert_int_eq(sscanf(lk, "lmqd_kills=%d,%d,%d", &k0, &k1, &k2), 3);
    ck_assert_int_gt(k0 + k1 + k2, 0);
    ck_assert_int_gt(dfield(out, "remote_kills"), 0);
    /* the storm's last kill cut the "lp" consumer's parked poll */
    ck_assert_int_eq(dfield(out, "parked_kill"), 1);
    ck_assert_int_gt(dfield(out, "polls_cut"), 0);
    ck_assert_int_gt(dfield(out, "bridge_kills"), 0);
    ck_assert_int_gt(dfield(out, "http_acked"), 100);
    ck_assert_int_gt(dfield(out, "forwarded"), 0);
    ck_assert_int_gt(dfield(out, "pulled"), 0);
    ck_assert_int_eq(dfield(out, "failures"), 0);
    fprintf(stderr, "%s", strstr(out, "torture: seed="));
    free(out);
}
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
    /* with lmqd and the bridge: a forwarded message lost at the remote,
     * an outbox left with a message */
    const char *args[] = {"-k",     "2",  "-d",     "1000", "-s",    "7", "-X",
                          "unship", "-L", LMQD_BIN, "-B",   LMQ_BIN, NULL};
    char *out;
    int rc = run_torture("unship", args, 120, &out);
    ck_assert_msg(rc == 1, "-X unship: torture exited %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "acknowledged send lost") != NULL &&
                      strstr(out, "out: 1 messages left") != NULL,
                  "-X unship: no loss or outbox left seen in:\n%s", out);
    free(out);
}
END_TEST

Suite *
lmq_suite_torture(void)
{
    Suite *s = suite_create("torture");
    TCase *tc = tcase_create("storm");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 350 + kills_wanted() / 2);
    tcase_add_test(tc, kill_storm_pwrite_home_loses_nothing);
    tcase_add_test(tc, kill_storm_writable_home_loses_nothing);
    tcase_add_test(tc, kill_storm_with_lmqd_and_bridge_loses_nothing);
    tcase_add_test(tc, checks_see_broken_promises);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_torture());
}
