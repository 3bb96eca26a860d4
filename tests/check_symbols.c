/*
 * check_symbols.c: the shared library exports only the public lmq_ API.
 */
#include "lmq_test.h"

START_TEST(only_lmq_symbols_are_exported)
{
    char cmd[1024], line[512];
    snprintf(cmd, sizeof cmd,
             "nm -D --defined-only '%s' | awk '$2 ~ /^[TDBRV]$/ {print $3}'",
             LMQ_SHLIB);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    int n = 0, bad = 0;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        n++;
        /* _init/_fini and __-prefixed names come from the toolchain
         * (e.g. sanitizer instrumentation), not from lmq's code. */
        if (strcmp(line, "_init") == 0 || strcmp(line, "_fini") == 0 ||
            strncmp(line, "__", 2) == 0)
            continue;
        if (strncmp(line, "lmq_", 4) != 0) {
            fprintf(stderr, "exported non-API symbol: %s\n", line);
            bad++;
        }
    }
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_int_gt(n, 40); /* the API is there at all */
    ck_assert_int_eq(bad, 0);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("symbols");
    TCase *tc = tcase_create("exports");
    tcase_add_test(tc, only_lmq_symbols_are_exported);
    suite_add_tcase(s, tc);
    return lmq_test_run(s);
}
