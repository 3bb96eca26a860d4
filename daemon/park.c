/*
 * park.c: waiting ReceiveMessage requests, parked per queue.
 *
 * A receive that found nothing and asked to wait is parked on its queue's
 * watcher (its connection is suspended). The watcher, one thread per queue
 * that has ever had a parked request, loops:
 *
 *   answer every parked request whose deadline passed, after one last
 *     poll that does not wait (so its empty answer is counted once in the
 *     queue's NumberOfEmptyReceives, docs/METRICS.md);
 *   poll for the oldest parked request (lmq_receive_poll(): one receive
 *     transaction, never waits); if it got messages, answer it and loop;
 *   otherwise sleep in lmq_queue_wait() on the token that poll read, until
 *     a commit in any process bumps it, the earliest visible_at the poll saw
 *     (a delay maturing, a visibility timeout running out), or the earliest
 *     deadline of the parked requests.
 *
 * Reading the token before the poll (the library does) closes the race
 * with a send committed in between. A request parked with a deadline
 * earlier than the watcher's current sleep bumps the token itself
 * (lmq_queue_wakeup()), so nobody sleeps past a deadline. Parked requests
 * are served oldest first; each poll takes what the oldest asked for, so
 * several polls on one queue split a burst of sends between them and none
 * returns empty before its deadline.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lmqd.h"

typedef struct watcher {
    lmq_queue *q;
    pthread_t th;
    lmqd_conn *head, *tail; /* parked, oldest first */
    size_t n;
    int64_t sleep_until; /* monotonic ms the watcher sleeps until, or 0 */
    struct watcher *next;
} watcher;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static watcher *watchers;
static int stopping;

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Remove c from w's list (mu held). */
static void
unlink_conn(watcher *w, lmqd_conn *c)
{
    lmqd_conn **p = &w->head, *prev = NULL;
    while (*p && *p != c) {
        prev = *p;
        p = &(*p)->next;
    }
    if (!*p)
        return;
    *p = c->next;
    if (w->tail == c)
        w->tail = prev;
    c->next = NULL;
    w->n--;
}

static void
answer_empty(lmqd_conn *c)
{
    lmq__sqs_resp_clear(&c->resp);
    lmq__sqs_encode_empty_receive(c->req, &c->resp);
    lmqd_resume(c);
}

static void *
watch(void *arg)
{
    watcher *w = arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        int64_t now = mono_ms();
        /* Deadlines first: an empty answer is never late. */
        lmqd_conn *due = NULL;
        for (lmqd_conn *c = w->head, *nx; c; c = nx) {
            nx = c->next;
            if (stopping) {
                unlink_conn(w, c);
                answer_empty(c);
            } else if (c->deadline_ms <= now) {
                unlink_conn(w, c);
                c->next = due;
                due = c;
            }
        }
        if (due) {
            /* A request whose wait ran out gets one last poll that does
             * not wait: it answers what is there, and an empty answer is
             * counted once as the call's NumberOfEmptyReceives (every
             * earlier poll of the request waited, so none counted). */
            pthread_mutex_unlock(&mu);
            for (lmqd_conn *c = due, *nx; c; c = nx) {
                nx = c->next;
                c->next = NULL;
                lmq__sqs_resp_clear(&c->resp);
                lmq__sqs_execute(&S.ctx, c->req, &c->resp,
                                 SQS_EXEC_PARK | SQS_EXEC_LAST);
                lmqd_resume(c);
            }
            pthread_mutex_lock(&mu);
            continue;
        }
        if (stopping)
            break;
        if (!w->head) {
            pthread_cond_wait(&cv, &mu);
            continue;
        }
        lmqd_conn *c = w->head;
        unlink_conn(w, c);
        pthread_mutex_unlock(&mu);
        lmq__sqs_resp_clear(&c->resp);
        lmq__sqs_execute(&S.ctx, c->req, &c->resp, SQS_EXEC_PARK);
        pthread_mutex_lock(&mu);
        if (!c->resp.park) {
            lmqd_resume(c); /* messages, or an error (queue deleted) */
            continue;
        }
        /* Nothing: c goes back to the front, and the watcher sleeps. */
        c->next = w->head;
        w->head = c;
        if (!w->tail)
            w->tail = c;
        w->n++;
        int64_t until = c->deadline_ms;
        for (lmqd_conn *o = w->head; o; o = o->next)
            if (o->deadline_ms < until)
                until = o->deadline_ms;
        now = mono_ms();
        int64_t nap = until - now;
        if (c->resp.park_next_ms > 0) {
            int64_t t = c->resp.park_next_ms - lmq_env_now(S.env);
            if (t < 1)
                t = 1;
            if (t < nap)
                nap = t;
        }
        /* The test clock moves by jumps: look again soon. */
        if (S.test_clock && nap > 20)
            nap = 20;
        if (nap <= 0)
            continue;
        w->sleep_until = now + nap;
        uint32_t token = c->resp.park_token;
        pthread_mutex_unlock(&mu);
        lmq_queue_wait(w->q, token, nap);
        pthread_mutex_lock(&mu);
        w->sleep_until = 0;
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

void
lmqd_park(lmqd_conn *c, lmq_queue *q, int64_t deadline_ms)
{
    pthread_mutex_lock(&mu);
    watcher *w = watchers;
    while (w && w->q != q)
        w = w->next;
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) {
            pthread_mutex_unlock(&mu);
            answer_empty(c);
            return;
        }
        w->q = q;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setstacksize(&at, 256 * 1024);
        if (pthread_create(&w->th, &at, watch, w) != 0) {
            pthread_attr_destroy(&at);
            free(w);
            pthread_mutex_unlock(&mu);
            answer_empty(c);
            return;
        }
        pthread_attr_destroy(&at);
        w->next = watchers;
        watchers = w;
    }
    c->deadline_ms = deadline_ms;
    c->next = NULL;
    if (w->tail)
        w->tail->next = c;
    else
        w->head = c;
    w->tail = c;
    w->n++;
    int wake = w->sleep_until > 0 && deadline_ms < w->sleep_until;
    if (stopping)
        wake = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (wake)
        lmq_queue_wakeup(q);
}

size_t
lmqd_parked_count(void)
{
    size_t n = 0;
    pthread_mutex_lock(&mu);
    for (watcher *w = watchers; w; w = w->next)
        n += w->n;
    pthread_mutex_unlock(&mu);
    return n;
}

void
lmqd_watchers_stop(void)
{
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_broadcast(&cv);
    for (watcher *w = watchers; w; w = w->next)
        lmq_queue_wakeup(w->q);
    pthread_mutex_unlock(&mu);
}

void
lmqd_watchers_join(void)
{
    pthread_mutex_lock(&mu);
    watcher *w = watchers;
    watchers = NULL;
    pthread_mutex_unlock(&mu);
    while (w) {
        watcher *nx = w->next;
        pthread_join(w->th, NULL);
        free(w);
        w = nx;
    }
}
