/*
 * check_fuzz_store.c: the short mode of the store fuzzer (tests/fuzz_store.c,
 * also a libFuzzer target; see its top comment), issue 27.
 *
 * - corpus: every file of tests/data/fuzz_store (the committed seeds and the
 *   inputs of past findings, named crash-*) goes through the target without
 *   a crash, a sanitizer report or a malformed result;
 * - fuzz_short: the generated seeds all decode, then a seeded xorshift loop
 *   mutates them, a bounded number of inputs per decoder, and each decoder
 *   both accepted and refused some of them (so the loop reached past the
 *   first check). LMQ_FUZZ_ITERATIONS (per decoder), LMQ_FUZZ_WAL (inputs
 *   of the log decoder, each an lmq_env_open) and LMQ_FUZZ_SEED change it;
 *   LMQ_FUZZ_STATS=1 prints the counts.
 */
#include "lmq_test.h"

#include <dirent.h>
#include <errno.h>

#ifndef LMQ_FUZZ_DATA
#define LMQ_FUZZ_DATA "tests/data/fuzz_store"
#endif

int lmq_fuzz_store_open(const char *dir);
void lmq_fuzz_store_close(void);
int lmq_fuzz_store_one(const uint8_t *data, size_t size, char *why,
                       size_t whylen);
int lmq_fuzz_store_short(unsigned per_decoder, unsigned wal_inputs,
                         uint64_t seed, char *why, size_t whylen);
const char *lmq_fuzz_store_name(unsigned k);
unsigned long lmq_fuzz_store_count(unsigned k, int rc_class);

static char dir[300];

static void
setup(void)
{
    lmq_test_tmp_setup();
    snprintf(dir, sizeof dir, "%s/fuzz", lmq_test_dir);
}

static void
teardown(void)
{
    lmq_test_tmp_teardown();
}

START_TEST(corpus)
{
    char why[1024] = "";
    ck_ok(lmq_fuzz_store_open(dir));
    DIR *d = opendir(LMQ_FUZZ_DATA);
    ck_assert_msg(d != NULL, "%s: %s", LMQ_FUZZ_DATA, strerror(errno));
    struct dirent *de;
    unsigned files = 0, crashes = 0;
    while ((de = readdir(d)) != NULL) {
        char p[600];
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", LMQ_FUZZ_DATA, de->d_name);
        FILE *f = fopen(p, "rb");
        ck_assert_msg(f != NULL, "%s", p);
        static uint8_t buf[1 << 17];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        ck_assert_msg(lmq_fuzz_store_one(buf, n, why, sizeof why) == 0,
                      "%s: %s", de->d_name, why);
        files++;
        crashes += strncmp(de->d_name, "crash-", 6) == 0;
    }
    closedir(d);
    lmq_fuzz_store_close();
    /* The seeds of every decoder are there. */
    ck_assert_uint_ge(files - crashes, 9);
}
END_TEST

START_TEST(fuzz_short)
{
    char why[1024] = "";
    ck_ok(lmq_fuzz_store_open(dir));
    /* 4000 inputs per decoder (under 2 s, also under ASan+UBSan) and
     * 250 logs, each an lmq_env_open of a `full` home with its fsyncs
     * (about 40 ms each on a busy 2-core machine). A failure prints the
     * input. */
    const char *it = getenv("LMQ_FUZZ_ITERATIONS");
    const char *wal = getenv("LMQ_FUZZ_WAL");
    const char *seed = getenv("LMQ_FUZZ_SEED");
    int rc = lmq_fuzz_store_short(
        it ? (unsigned)strtoul(it, NULL, 10) : 4000,
        wal ? (unsigned)strtoul(wal, NULL, 10) : 250,
        seed ? strtoull(seed, NULL, 10) : 20260127, why, sizeof why);
    ck_assert_msg(rc == 0, "fuzz: %s", why);
    for (unsigned k = 0; lmq_fuzz_store_name(k); k++) {
        ck_assert_msg(lmq_fuzz_store_count(k, 0) > 0,
                      "%s accepted nothing", lmq_fuzz_store_name(k));
        ck_assert_msg(lmq_fuzz_store_count(k, 1) > 0,
                      "%s refused nothing", lmq_fuzz_store_name(k));
    }
    lmq_fuzz_store_close();
}
END_TEST

static Suite *
lmq_suite_fuzz_store(void)
{
    Suite *s = suite_create("fuzz_store");
    TCase *tc = tcase_create("corpus");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, corpus);
    suite_add_tcase(s, tc);

    tc = tcase_create("fuzz_short");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, fuzz_short);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_fuzz_store());
}
