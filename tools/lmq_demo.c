/*
 * lmq_demo.c: `lmq demo` (`lmq stats` is in lmq_stats.c).
 *
 * demo shows the point of lmq: several processes sharing one home. The
 * parent creates a queue of its own ("lmq-demo-<pid>", so that runs never
 * see each other's leftovers or trip the 60-second name reuse rule), closes
 * its env, and forks one producer and three consumers (each a consumer
 * runtime, lmq_consumer_*, as `lmq consume` uses). Each child opens its
 * OWN env after fork (LMDB forbids using an environment across fork), works,
 * and _exit()s. The children report into a small shared anonymous mapping:
 * the producer counts what it sent and raises `producer_done`; a consumer
 * counts every delivery per message, and stops once the producer is done and
 * the queue's counters (visible + in flight + delayed) are all zero, which
 * means every message was received by someone and deleted. The parent then
 * checks that every message was received exactly once, prints the summary
 * and deletes the queue. A deadline stops a consumer that would otherwise
 * spin forever on a broken library, so the demo always ends.
 */
#include "lmq_cli.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const counter_names[] = {
    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed", NULL};

static long long
map_ll(const lmq_map *m, const char *key)
{
    const char *v = lmq_map_get(m, key);
    return v ? strtoll(v, NULL, 10) : 0;
}

/* ---- demo ----------------------------------------------------------------- */

/* Enough messages that three consumers visibly share them, few enough that
 * the demo takes about a second even with an fsync per commit. */
#define DEMO_MESSAGES 30
#define DEMO_CONSUMERS 3
/* A consumer gives up after this long: the demo must always end. */
#define DEMO_DEADLINE_MS 20000

typedef struct demo_shared {
    int producer_done;
    int sent;
    int received[DEMO_MESSAGES];
    int per_consumer[DEMO_CONSUMERS];
    int bad_body;
} demo_shared;

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Open a fresh env and the demo queue in a child. */
static int
child_open(const cli_ctx *c, const char *name, lmq_env **env, lmq_queue **q)
{
    lmq_env_opts o;
    int rc;

    cli_env_opts(c, &o);
    if ((rc = lmq_env_open(c->home, &o, env)) != 0)
        return rc;
    if ((rc = lmq_queue_open(*env, name, q)) != 0) {
        lmq_env_close(*env);
        *env = NULL;
    }
    return rc;
}

static void
child_fail(const char *who, int rc)
{
    fprintf(stderr, "%s: %s: %s\n", who, lmq_err_sqs_code(rc),
            cli_strip_errmsg(lmq_errmsg()));
}

static int
run_producer(const cli_ctx *c, const char *name, demo_shared *sh)
{
    lmq_env *env = NULL;
    lmq_queue *q = NULL;
    int rc;

    if ((rc = child_open(c, name, &env, &q)) != 0) {
        child_fail("producer", rc);
        __atomic_store_n(&sh->producer_done, 1, __ATOMIC_SEQ_CST);
        return 1;
    }
    for (int i = 0; i < DEMO_MESSAGES; i++) {
        char body[64];
        lmq_send_entry e;
        lmq_send_result r;
        snprintf(body, sizeof body, "message %d of %d", i + 1,
                 DEMO_MESSAGES);
        lmq_send_entry_init(&e);
        e.body = body;
        e.body_len = strlen(body);
        if ((rc = lmq_send(q, &e, &r)) != 0) {
            child_fail("producer", rc);
            break;
        }
        __atomic_add_fetch(&sh->sent, 1, __ATOMIC_SEQ_CST);
        printf("producer sent: %s\n", body);
        /* A short pause so consumers visibly work while messages arrive. */
        sleep_ms(10);
    }
    __atomic_store_n(&sh->producer_done, 1, __ATOMIC_SEQ_CST);
    lmq_queue_close(q);
    lmq_env_close(env);
    return rc == 0 ? 0 : 1;
}

/* Whether the queue holds nothing at all (visible, in flight, delayed). */
static int
queue_drained(lmq_env *env, const char *name)
{
    lmq_map *m = NULL;
    long long total = 0;

    if (lmq_queue_get_attributes(env, name, counter_names, &m) != 0)
        return 0;
    for (size_t k = 0; counter_names[k]; k++)
        total += map_ll(m, counter_names[k]);
    lmq_map_free(m);
    return total == 0;
}

/* What a demo consumer's handler needs. */
typedef struct demo_worker {
    int id;
    demo_shared *sh;
} demo_worker;

/* The handler: count the delivery; returning 0 makes the runtime delete the
 * message (in batches, with lmq_delete_batch). */
static int
demo_handle(const lmq_msg *m, void *arg)
{
    demo_worker *w = arg;
    const char *body = lmq_msg_body(m, NULL);
    int idx = 0, total = 0;

    printf("consumer %d got: %s\n", w->id, body);
    if (sscanf(body, "message %d of %d", &idx, &total) == 2 && idx >= 1 &&
        idx <= DEMO_MESSAGES)
        __atomic_add_fetch(&w->sh->received[idx - 1], 1, __ATOMIC_SEQ_CST);
    else
        __atomic_add_fetch(&w->sh->bad_body, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&w->sh->per_consumer[w->id - 1], 1, __ATOMIC_SEQ_CST);
    return 0;
}

/* A consumer process: the consumer runtime (the library side of `lmq
 * consume`) long-polls and runs demo_handle; this thread only watches for
 * the end (producer done and queue drained) and stops it. */
static int
run_consumer(const cli_ctx *c, const char *name, int id, demo_shared *sh)
{
    lmq_env *env = NULL;
    lmq_queue *q = NULL;
    lmq_consumer *cons = NULL;
    lmq_consumer_opts o;
    demo_worker w = {id, sh};
    int64_t deadline = mono_ms() + DEMO_DEADLINE_MS;
    int rc, status = 0;

    if ((rc = child_open(c, name, &env, &q)) != 0) {
        child_fail("consumer", rc);
        return 1;
    }
    lmq_consumer_opts_init(&o);
    o.handler = demo_handle;
    o.arg = &w;
    o.batch_size = 2;
    o.wait_seconds = 1;
    if ((rc = lmq_consumer_open(env, name, &o, &cons)) != 0 ||
        (rc = lmq_consumer_start(cons)) != 0) {
        child_fail("consumer", rc);
        lmq_consumer_close(cons);
        lmq_queue_close(q);
        lmq_env_close(env);
        return 1;
    }
    while (!(__atomic_load_n(&sh->producer_done, __ATOMIC_SEQ_CST) &&
             queue_drained(env, name))) {
        if (mono_ms() > deadline) {
            fprintf(stderr, "consumer %d: giving up after %d ms\n", id,
                    DEMO_DEADLINE_MS);
            status = 1;
            break;
        }
        sleep_ms(20);
    }
    lmq_consumer_stop(cons);
    if ((rc = lmq_consumer_join(cons)) != 0) {
        child_fail("consumer", rc);
        status = 1;
    }
    lmq_consumer_close(cons);
    lmq_queue_close(q);
    lmq_env_close(env);
    return status;
}

int
cli_cmd_demo(cli_ctx *c)
{
    char name[64], *url = NULL;
    pid_t pids[1 + DEMO_CONSUMERS];
    int nkids = 0, failed_kids = 0, rc;
    demo_shared *sh;
    int64_t t0 = mono_ms();

    /* --output or --query: the narration goes nowhere and a summary
     * document is printed at the end, like any command's response. */
    int saved_out = -1;
    if (c->output_set || c->query) {
        int null = open("/dev/null", O_WRONLY);
        fflush(stdout);
        saved_out = dup(STDOUT_FILENO);
        if (null >= 0 && saved_out >= 0)
            dup2(null, STDOUT_FILENO);
        if (null >= 0)
            close(null);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(name, sizeof name, "lmq-demo-%ld", (long)getpid());
    if ((rc = cli_env(c)) != 0)
        return rc;
    if ((rc = lmq_queue_create(c->env, name, NULL, NULL, &url)) != 0)
        return cli_service_error_op("CreateQueue", rc);
    printf("demo: home %s\ndemo: queue %s\n"
           "demo: 1 producer sends %d messages, %d consumers receive and "
           "delete them\n",
           c->home, url, DEMO_MESSAGES, DEMO_CONSUMERS);
    free(url);
    /* No env may cross fork(): close ours, each child opens its own. */
    lmq_env_close(c->env);
    c->env = NULL;

    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("lmq demo: mmap");
        return CLI_EXIT_OTHER;
    }
    memset(sh, 0, sizeof *sh);
    fflush(stdout);
    fflush(stderr);
    for (int k = 0; k <= DEMO_CONSUMERS; k++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("lmq demo: fork");
            break;
        }
        if (pid == 0) {
            int st = k == 0 ? run_producer(c, name, sh)
                            : run_consumer(c, name, k, sh);
            fflush(stdout);
            fflush(stderr);
            _exit(st);
        }
        pids[nkids++] = pid;
    }
    for (int k = 0; k < nkids; k++) {
        int st = 0;
        while (waitpid(pids[k], &st, 0) < 0)
            ;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed_kids++;
    }
    if (nkids < 1 + DEMO_CONSUMERS) {
        /* A fork failed: make sure whoever runs ends. */
        __atomic_store_n(&sh->producer_done, 1, __ATOMIC_SEQ_CST);
        failed_kids++;
    }

    int received = 0, lost = 0, dup = 0;
    for (int i = 0; i < DEMO_MESSAGES; i++) {
        received += sh->received[i];
        if (sh->received[i] == 0)
            lost++;
        else if (sh->received[i] > 1)
            dup += sh->received[i] - 1;
    }
    int sent = sh->sent;
    int ok = !failed_kids && !sh->bad_body && sent == DEMO_MESSAGES &&
             lost == 0 && dup == 0;
    int per_consumer[DEMO_CONSUMERS];
    printf("demo: per consumer:");
    for (int k = 0; k < DEMO_CONSUMERS; k++) {
        per_consumer[k] = sh->per_consumer[k];
        printf(" %d", sh->per_consumer[k]);
    }
    printf("\n");
    if (lost == 0 && dup == 0)
        printf("demo: sent %d, received %d, none lost or duplicated "
               "(%.1f s)\n",
               sent, received, (double)(mono_ms() - t0) / 1000.0);
    else
        printf("demo: sent %d, received %d, %d lost, %d duplicated\n", sent,
               received, lost, dup);
    if (failed_kids)
        printf("demo: %d process(es) failed\n", failed_kids);
    munmap(sh, sizeof *sh);

    /* Remove the demo queue (a new env: ours was closed before fork). */
    if (cli_env(c) == 0) {
        rc = lmq_queue_delete(c->env, name);
        if (rc != 0)
            child_fail("demo: delete-queue", rc);
    }
    /* A poison message: to the dead-letter queue and back (lmq_dlq.c). */
    int dlq_ok = cli_demo_dlq(c, name) == 0;
    if (!dlq_ok)
        ok = 0;
    if (saved_out >= 0) {
        json_t *per = json_array();
        fflush(stdout);
        dup2(saved_out, STDOUT_FILENO);
        close(saved_out);
        for (int k = 0; k < DEMO_CONSUMERS; k++)
            json_array_append_new(per, json_integer(per_consumer[k]));
        cli_print(c, json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:o,s:i,s:b,s:b}",
                               "Home", c->home, "Queue", name, "Sent", sent,
                               "Received", received, "Lost", lost,
                               "Duplicated", dup, "PerConsumer", per,
                               "FailedProcesses", failed_kids,
                               "DeadLetterRoundTrip", dlq_ok, "Ok", ok));
    }
    return ok ? 0 : 1;
}
