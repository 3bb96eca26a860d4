/*
 * workers.c: threads that may block.
 *
 * Durable commits. In `full` durability a commit waits for its log record
 * to reach the disk. Run on libmicrohttpd's event threads, one fsync would
 * stall every connection of that thread and no two commits would ever be
 * in flight together. So writes of a durable home run here: the connection
 * is suspended, a worker runs the action and resumes it. With many workers
 * busy at once the library's group commit gives them one flush between
 * them, so durable throughput grows with the number of connections.
 *
 * Message move tasks. StartMessageMoveTask starts a task in the library;
 * the daemon runs it (lmq_move_task_run()) in a thread of its own until it
 * completes, is cancelled or fails. The handles of the tasks it runs are
 * kept in HOME/lmqd-tasks, and at start the next lmqd runs each again: a
 * run of a task whose runner died resumes it from its cursor, a run of one
 * that ended returns at once. (Listing the tasks to find them would not do:
 * a list settles an orphaned task as FAILED, docs/DLQ.md.)
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/homefile.h"
#include "lmqd.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static lmqd_conn *qhead, *qtail;
static int stop;
static pthread_t *threads;
static int n_threads;

static void *
work(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!qhead && !stop)
            pthread_cond_wait(&cv, &mu);
        if (!qhead)
            break;
        lmqd_conn *c = qhead;
        qhead = c->wnext;
        if (!qhead)
            qtail = NULL;
        pthread_mutex_unlock(&mu);
        if (!lmqd_run(c, NULL)) /* suspended before the push */
            lmqd_resume(c);
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

void
lmqd_workers_start(void)
{
    if (S.n_workers <= 0)
        return;
    threads = calloc((size_t)S.n_workers, sizeof *threads);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 256 * 1024);
    for (int i = 0; threads && i < S.n_workers; i++)
        if (pthread_create(&threads[i], &at, work, NULL) == 0)
            n_threads++;
    pthread_attr_destroy(&at);
    if (n_threads == 0)
        S.n_workers = 0; /* run inline */
}

void
lmqd_workers_push(lmqd_conn *c)
{
    pthread_mutex_lock(&mu);
    c->wnext = NULL;
    if (qtail)
        qtail->wnext = c;
    else
        qhead = c;
    qtail = c;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

void
lmqd_workers_stop(void)
{
    pthread_mutex_lock(&mu);
    stop = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n_threads; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    threads = NULL;
    n_threads = 0;
}

/* ---- move tasks ------------------------------------------------------------- */

typedef struct task {
    char *handle;
    pthread_t th;
    volatile int done;
    struct task *next;
} task;

static pthread_mutex_t tmu = PTHREAD_MUTEX_INITIALIZER;
static task *tasks;
static volatile int tasks_stopping;

static void
tasks_path(char *buf, size_t n)
{
    snprintf(buf, n, "%s/lmqd-tasks", S.home);
}

/* Rewrite HOME/lmqd-tasks with the handles of the tasks not ended (tmu
 * held): written aside, flushed, renamed over. */
static void
tasks_save(void)
{
    char path[4096], tmp[4200];
    tasks_path(path, sizeof path);
    /* The home's mode, never through a link (lib/homefile.c). */
    int fd = lmq__home_tmp(path, tmp, sizeof tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return;
    }
    for (task *t = tasks; t; t = t->next)
        if (!t->done)
            fprintf(f, "%s\n", t->handle);
    int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        if (!S.quiet)
            fprintf(stderr, "lmqd: cannot write %s\n", path);
    }
}

/* Progress callback: nonzero cancels; a stopping daemon only leaves the
 * run (the task stays RUNNING with no runner, and the next lmqd, or any
 * lmq_move_task_run(), resumes it). */
static int
progress(void *arg, uint64_t moved, uint64_t to_move)
{
    (void)arg;
    (void)moved;
    (void)to_move;
    return 0;
}

static void *
run_task(void *arg)
{
    task *t = arg;
    int status = -1;
    int rc = lmq_move_task_run(S.env, t->handle, progress, NULL, &status);
    if (rc != 0 && rc != LMQ_EBUSY && !S.quiet)
        fprintf(stderr, "lmqd: move task %.40s...: %s\n", t->handle,
                lmq_errmsg());
    pthread_mutex_lock(&tmu);
    t->done = 1;
    tasks_save();
    pthread_mutex_unlock(&tmu);
    return NULL;
}

void
lmqd_task_started(void *arg, const char *handle)
{
    (void)arg;
    if (tasks_stopping)
        return;
    task *t = calloc(1, sizeof *t);
    if (!t || !(t->handle = strdup(handle))) {
        free(t);
        return;
    }
    pthread_mutex_lock(&tmu);
    if (pthread_create(&t->th, NULL, run_task, t) != 0) {
        pthread_mutex_unlock(&tmu);
        free(t->handle);
        free(t);
        return;
    }
    t->next = tasks;
    tasks = t;
    tasks_save();
    pthread_mutex_unlock(&tmu);
}

void
lmqd_tasks_resume(void)
{
    char path[4096], line[1024];
    tasks_path(path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            lmqd_task_started(NULL, line);
    }
    fclose(f);
}

void
lmqd_tasks_stop(void)
{
    tasks_stopping = 1;
}

int
lmqd_tasks_join(void)
{
    /* A rate-limited task may run for hours: give running ones two
     * seconds, then leave them. Each batch of a task is one transaction,
     * so a runner that dies with the process loses nothing, and the next
     * runner (the next lmqd) resumes the task where it stopped. */
    for (int i = 0; i < 200; i++) {
        int busy = 0;
        pthread_mutex_lock(&tmu);
        for (task *t = tasks; t; t = t->next)
            busy |= !t->done;
        pthread_mutex_unlock(&tmu);
        if (!busy)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&tmu);
    int clean = 1;
    for (task *t = tasks; t; t = t->next)
        clean &= t->done;
    if (clean) {
        task *t = tasks;
        tasks = NULL;
        while (t) {
            task *nx = t->next;
            pthread_join(t->th, NULL);
            free(t->handle);
            free(t);
            t = nx;
        }
    }
    pthread_mutex_unlock(&tmu);
    return clean;
}
