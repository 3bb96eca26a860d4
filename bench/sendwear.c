/*
 * sendwear.c: bytes written and flushes per message of a loop of sends
 * (issue 24, "wear").
 *
 *   sendwear [-d full|periodic|none] [-m pwrite|writable] [-b BATCH]
 *            [-n MSGS] [-s BODY] [-t THREADS] HOME
 *
 * Opens (creating) HOME, creates queue `w`, sends MSGS messages of BODY
 * bytes (default 100) one at a time or in batches of BATCH (lmq_send_batch),
 * from THREADS threads (default 1) sharing them out, closes the home, and prints per message: the bytes this process dirtied
 * in the page cache for files (/proc/self/io write_bytes, counted once per
 * page each time it goes from clean to dirty: what the device is sent,
 * checkpoints and close included, the journal not), the same from
 * getrusage (ru_oublock * 512), and the flushes (synccount.c, compiled in).
 * Run it on a disk file system (not tmpfs, which writes nothing back).
 */
#include "lmq.h"
#include "synccount.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static unsigned long long
write_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    unsigned long long v = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %llu", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static unsigned long long
oublock(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (unsigned long long)ru.ru_oublock * 512;
}

struct job {
    lmq_queue *q;
    const lmq_send_entry *e;
    size_t batch, n;
    int rc;
};

static void *
sender(void *arg)
{
    struct job *j = arg;
    lmq_send_result res[10];
    for (size_t i = 0; i < j->n && j->rc == 0; i += j->batch)
        j->rc = j->batch == 1 ? lmq_send(j->q, j->e, res)
                              : lmq_send_batch(j->q, j->e, j->batch, res);
    if (j->rc)
        fprintf(stderr, "sendwear: send: %s\n", lmq_errmsg());
    return NULL;
}

int
main(int argc, char **argv)
{
    size_t threads = 1;
    const char *dur = "full", *map = NULL;
    size_t batch = 1, n = 20000, body = 100;
    int c;
    while ((c = getopt(argc, argv, "d:m:b:n:s:t:")) != -1) {
        switch (c) {
        case 'd': dur = optarg; break;
        case 'm': map = optarg; break;
        case 'b': batch = strtoul(optarg, NULL, 10); break;
        case 'n': n = strtoul(optarg, NULL, 10); break;
        case 's': body = strtoul(optarg, NULL, 10); break;
        case 't': threads = strtoul(optarg, NULL, 10); break;
        default: goto usage;
        }
    }
    if (optind + 1 != argc || batch < 1 || batch > 10 || threads < 1 ||
        threads > 64)
        goto usage;
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    o.durability = strcmp(dur, "full") == 0       ? LMQ_DURABILITY_FULL
                   : strcmp(dur, "periodic") == 0 ? LMQ_DURABILITY_PERIODIC
                                                  : LMQ_DURABILITY_NONE;
    if (map)
        o.map_mode = strcmp(map, "writable") == 0 ? LMQ_MAP_WRITABLE
                                                  : LMQ_MAP_PWRITE;
    lmq_env *env;
    lmq_queue *q;
    if (lmq_env_open(argv[optind], &o, &env) != 0 ||
        lmq_queue_create(env, "w", NULL, NULL, NULL) != 0 ||
        lmq_queue_open(env, "w", &q) != 0) {
        fprintf(stderr, "sendwear: %s\n", lmq_errmsg());
        return 1;
    }
    char *b = malloc(body + 1);
    memset(b, 'x', body);
    b[body] = '\0';
    static const char *ids[10] = {"a", "b", "c", "d", "e",
                                  "f", "g", "h", "i", "j"};
    lmq_send_entry e[10];
    for (size_t i = 0; i < batch; i++) {
        lmq_send_entry_init(&e[i]);
        e[i].id = batch > 1 ? ids[i] : NULL;
        e[i].body = b;
        e[i].body_len = body;
    }
    synccount s0, s1;
    synccount_read(&s0);
    unsigned long long w0 = write_bytes(), o0 = oublock();
    struct job jobs[64];
    pthread_t tid[64];
    for (size_t t = 0; t < threads; t++) {
        jobs[t] = (struct job){q, e, batch, n / threads, 0};
        pthread_create(&tid[t], NULL, sender, &jobs[t]);
    }
    for (size_t t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        if (jobs[t].rc)
            return 1;
    }
    n = n / threads * threads;
    lmq_queue_close(q);
    lmq_env_close(env);
    unsigned long long w1 = write_bytes(), o1 = oublock();
    synccount_read(&s1);
    printf("%s %s batch %zu, %zu threads: %zu msgs of %zu B: %.0f B/msg written "
           "(write_bytes), %.0f B/msg (ru_oublock), %.3f flushes/msg\n",
           dur, map ? map : "auto", batch, threads, n, body, (double)(w1 - w0) / n,
           (double)(o1 - o0) / n,
           (double)(synccount_flushes(&s1) - synccount_flushes(&s0)) / n);
    free(b);
    return 0;
usage:
    fprintf(stderr, "usage: sendwear [-d full|periodic|none] [-m pwrite|writable]"
                    " [-b BATCH] [-n MSGS] [-s BODY] [-t THREADS] HOME\n");
    return 2;
}
