/*
 * check_flushes.c: how many times the real `lmq` CLI flushes a `full`
 * home (issue 24): opening and closing a home for a read flushes nothing,
 * and a send flushes 3 times: its log record, and the checkpoint at close
 * (LMDB's sync and the log's header), which leaves the log empty. It does
 * not checkpoint when it starts: it adopts the checkpoint the last clean
 * close left (lib/store.c, wal_recover).
 *
 * Each command runs with bench/synccount.so preloaded (SYNCCOUNT_SO), which
 * counts fsync, fdatasync, msync(MS_SYNC), sync_file_range, syncfs and sync
 * into the file SYNCCOUNT_FILE. Before issue 24 a list-queues flushed 3
 * times (a checkpoint at open, LMDB's sync at close) and a send 7; then 5
 * (a checkpoint at the first write too).
 */
#include "lmq_test.h"
#include "../bench/synccount.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef LMQ_BIN
#error "LMQ_BIN must name the built tools/lmq"
#endif
#ifndef SYNCCOUNT_SO
#error "SYNCCOUNT_SO must name the built bench/.libs/synccount.so"
#endif

static char home[300], counts[300];

static void
setup(void)
{
    lmq_test_tmp_setup();
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    snprintf(counts, sizeof counts, "%s/synccount", lmq_test_dir);
}

/* Run `lmq --home HOME [--map-mode M] ARGS...` with the counter preloaded;
 * returns its flushes. The command must succeed; *out gets its stdout. */
static uint64_t
flushes(const char *map, const char *const *args, char **out)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = "--home";
    argv[n++] = home;
    if (map) {
        argv[n++] = "--map-mode";
        argv[n++] = map;
    }
    for (size_t i = 0; args[i]; i++) {
        ck_assert_uint_lt(n, 31);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    unlink(counts);
    setenv("SYNCCOUNT_FILE", counts, 1);
    lmq_test_preload(SYNCCOUNT_SO);
    char *err = NULL;
    int st = lmq_test_cli(LMQ_BIN, argv, NULL, 60, out, &err);
    unsetenv("LD_PRELOAD");
    unsetenv("SYNCCOUNT_FILE");
    ck_assert_msg(st == 0, "lmq %s exited %d: %s", args[0], st, err);
    free(err);
    synccount c;
    memset(&c, 0, sizeof c);
    int fd = open(counts, O_RDONLY);
    ck_assert_msg(fd >= 0, "%s: no counts (was the counter preloaded?)",
                  counts);
    ck_assert_int_eq(read(fd, &c, sizeof c), (int)sizeof c);
    close(fd);
    return synccount_flushes(&c);
}

#define CMD(...) ((const char *const[]){__VA_ARGS__, NULL})

static void
expect(const char *map, uint64_t want, const char *const *args)
{
    char *out = NULL;
    uint64_t got = flushes(map, args, &out);
    ck_assert_msg(got == want, "lmq %s %s: %llu flushes, expected %llu",
                  args[0], args[1] ? args[1] : "", (unsigned long long)got,
                  (unsigned long long)want);
    free(out);
}

static void
run_flow(const char *map)
{
    /* The home's first open creates it (not counted: it checkpoints). */
    char *out = NULL;
    flushes(map, CMD("create-queue", "--queue-name", "a"), &out);
    free(out);
    flushes(NULL, CMD("create-queue", "--queue-name", "b"), &out);
    free(out);
    expect(NULL, 0, CMD("list-queues"));
    expect(NULL, 0, CMD("get-queue-attributes", "--queue-url", "a"));
    expect(NULL, 0, CMD("get-queue-url", "--queue-name", "a"));
    for (int i = 0; i < 5; i++) {
        char body[32];
        snprintf(body, sizeof body, "body-%d", i);
        /* its record's flush, and a checkpoint (2 flushes) when it
         * closes, so that the log is empty for the next process that opens
         * the home alone; none when it starts (adoption) */
        expect(NULL, 3,
               CMD("send-message", "--queue-url", "a", "--message-body",
                   body));
        expect(NULL, 0, CMD("list-queues"));
    }
    expect(NULL, 0, CMD("get-queue-attributes", "--queue-url", "a",
                        "--attribute-names", "All"));
    /* A receive is a soft write (its record is not flushed), even one that
     * finds nothing (it counts an empty receive in the queue's metrics),
     * but it leaves a record, the first after the checkpoint, which is
     * flushed before its commit: the same flushes as a send. */
    expect(NULL, 3, CMD("receive-message", "--queue-url", "b"));
    /* Nothing acknowledged is lost: all five are there, in a process that
     * opens the home alone after them. */
    flushes(NULL,
            CMD("receive-message", "--queue-url", "a",
                "--max-number-of-messages", "10", "--visibility-timeout",
                "600"),
            &out);
    for (int i = 0; i < 5; i++) {
        char body[32];
        snprintf(body, sizeof body, "body-%d", i);
        ck_assert_msg(out && strstr(out, body), "%s missing from: %s", body,
                      out ? out : "");
    }
    free(out);
}

START_TEST(reads_and_sends_pwrite)
{
    run_flow("pwrite");
}
END_TEST

START_TEST(reads_and_sends_writable)
{
    run_flow("writable");
}
END_TEST

static Suite *
flushes_suite(void)
{
    Suite *s = suite_create("flushes");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, lmq_test_tmp_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, reads_and_sends_pwrite);
    tcase_add_test(tc, reads_and_sends_writable);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(flushes_suite());
}
