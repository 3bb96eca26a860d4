/*
 * check_fuzz_args.c: the short mode of the CLI argument fuzzer
 * (tests/fuzz_args.c, issue 27).
 *
 * - corpus: every file of tests/data/fuzz_args (the committed seeds and the
 *   input of every finding) is parsed without a broken promise;
 * - fuzz_short: the generated seeds all parse, then 3000 mutated inputs per
 *   parser (LMQ_FUZZ_ITERATIONS, LMQ_FUZZ_SEED change it); each parser
 *   must accept some and refuse some. LMQ_FUZZ_STATS=1 prints the counts.
 */
#include "lmq_test.h"

#include <dirent.h>

int lmq_fuzz_args_one(const uint8_t *data, size_t size, char *why,
                      size_t wn);
int lmq_fuzz_args_short(unsigned per_parser, uint64_t seed, char *why,
                        size_t wn);
const char *lmq_fuzz_args_name(unsigned k);
unsigned long lmq_fuzz_args_count(unsigned k, int refused);

START_TEST(corpus)
{
    DIR *d = opendir(LMQ_FUZZ_DATA);
    ck_assert_msg(d != NULL, "cannot open %s", LMQ_FUZZ_DATA);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "README") == 0)
            continue;
        char path[1024], why[1024];
        snprintf(path, sizeof path, "%s/%s", LMQ_FUZZ_DATA, de->d_name);
        FILE *f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        static uint8_t buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        ck_assert_msg(lmq_fuzz_args_one(buf, n, why, sizeof why) >= 0,
                      "%s: %s", de->d_name, why);
        files++;
    }
    closedir(d);
    ck_assert_int_ge(files, 10);
}
END_TEST

START_TEST(fuzz_short)
{
    const char *it = getenv("LMQ_FUZZ_ITERATIONS");
    const char *seed = getenv("LMQ_FUZZ_SEED");
    char why[1024];
    int rc = lmq_fuzz_args_short(it ? (unsigned)atoi(it) : 3000,
                                 seed ? strtoull(seed, NULL, 0) : 0, why,
                                 sizeof why);
    ck_assert_msg(rc == 0, "%s", why);
    for (unsigned k = 0; lmq_fuzz_args_name(k); k++) {
        if (getenv("LMQ_FUZZ_STATS"))
            fprintf(stderr, "fuzz_args: %s: %lu accepted, %lu refused\n",
                    lmq_fuzz_args_name(k), lmq_fuzz_args_count(k, 0),
                    lmq_fuzz_args_count(k, 1));
        ck_assert_msg(lmq_fuzz_args_count(k, 0) > 0, "%s accepted nothing",
                      lmq_fuzz_args_name(k));
        ck_assert_msg(lmq_fuzz_args_count(k, 1) > 0, "%s refused nothing",
                      lmq_fuzz_args_name(k));
    }
}
END_TEST

static Suite *
lmq_suite_fuzz_args(void)
{
    Suite *s = suite_create("fuzz_args");
    TCase *tc = tcase_create("corpus");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, corpus);
    suite_add_tcase(s, tc);
    tc = tcase_create("fuzz_short");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fuzz_short);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_fuzz_args());
}
