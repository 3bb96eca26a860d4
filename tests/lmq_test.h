/*
 * lmq_test.h: helpers shared by the Check suites.
 *
 * Every test gets a fresh temporary home directory from a *checked* fixture
 * (run in the forked test process), never from main(): a forked test must not
 * inherit an open LMDB environment.
 */
#ifndef LMQ_TEST_H
#define LMQ_TEST_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmq.h"

/* Assert an lmq call returned expected code; print name and detail if not. */
#define ck_lmq(call, expect)                                                 \
    do {                                                                     \
        int ck_lmq_rc_ = (call);                                             \
        ck_assert_msg(ck_lmq_rc_ == (expect),                                \
                      "%s returned %s (%s), expected %s", #call,             \
                      lmq_err_name(ck_lmq_rc_), lmq_errmsg(),                \
                      lmq_err_name(expect));                                 \
    } while (0)
#define ck_ok(call) ck_lmq(call, 0)

/* Temporary directory for the current test (set by lmq_test_tmp_setup). */
extern char lmq_test_dir[256];
void lmq_test_tmp_setup(void);
void lmq_test_tmp_teardown(void);

/* A controllable clock shared across processes: a file-backed mmap'd int64
 * in lmq_test_dir, so forked children see the parent's moves. */
void lmq_test_clock_setup(void);
int64_t lmq_test_clock(void *arg);
void lmq_test_clock_set(int64_t ms);
void lmq_test_clock_advance(int64_t ms);

/* Open lmq_test_dir/home with the test clock (if set up) and durability
 * NONE (the tests exercise logic, not fsync). */
lmq_env *lmq_test_env(void);

/* How many files under dir (recursively) hold marker anywhere in their
 * bytes; their paths are appended to what (wn bytes). The plaintext scans
 * of encryption at rest (check_seal, check_lmqd). */
int lmq_test_scan_dir(const char *dir, const char *marker, char *what,
                      size_t wn);
/* Run prog with args (NULL-terminated) and then a new directory
 * lmq_test_dir/name, in a process group of its own, its stdout and stderr
 * in lmq_test_dir/name.out, copied to *out (malloc'd). At the deadline it
 * and its group are SIGKILLed. Returns the exit status (128 + signal for a
 * signal), or -1 at the deadline. */
int lmq_test_run_in_dir(const char *prog, const char *name,
                        const char *const *args, int deadline_s, char **out);

/* Run the lmq binary bin with args (NULL-terminated), stdin from in_file
 * (NULL: /dev/null), stdout and stderr collected into *out and *err
 * (malloc'd; either may be NULL when not wanted), killed (SIGKILL, by pid)
 * after deadline_s. Returns the exit status, 128 + signal for a signal. */
int lmq_test_cli(const char *bin, const char *const *args,
                 const char *in_file, int deadline_s, char **out, char **err);
/* The bytes of the file at path, NUL-terminated (malloc'd); *len may be
 * NULL. Asserts it can be read. */
char *lmq_test_slurp(const char *path, size_t *len);
/* ---- Without Check: also linked into the kill-storm and crash-state
 * programs (tests/torture, tests/crashstate), which report failures their
 * own way. ---- */

/* Drain q: receive everything visible (batches of 10, a visibility timeout
 * of 12 hours, no wait), show each message to fn (when not NULL; fn keeps
 * nothing of it), and delete each batch in one lmq_delete_batch(). Stops
 * at the first receive or delete that fails, or when fn returns non-zero.
 * Returns 0, the error of the failed call (lmq_errmsg() has the detail),
 * LMQ_ENOTFOUND when a delete removed nothing, or fn's value; *n is the
 * number of messages received either way. */
int lmq_test_drain(lmq_queue *q, int (*fn)(const lmq_msg *m, void *arg),
                   void *arg, size_t *n);
/* The counters of queue: c[0] ApproximateNumberOfMessages, c[1]
 * ...NotVisible, c[2] ...Delayed. Returns 0 or the error. */
int lmq_test_counts(lmq_env *env, const char *queue, long long c[3]);

/* A loopback TCP port nobody listened on a moment ago (bound to port 0,
 * then closed), or -1 (errno set). */
int lmq_test_free_port(void);

/* Preload library so into the programs this process runs from now on
 * (LD_PRELOAD); under AddressSanitizer it then comes before the runtime,
 * so ASAN_OPTIONS gains verify_asan_link_order=0 (the pass's own options
 * kept). Async-signal-unsafe: call it before fork() or in the child
 * before exec. */
void lmq_test_preload(const char *so);

/* Run the suite made by mk; returns the process exit status. */
int lmq_test_run(Suite *s);

#endif
