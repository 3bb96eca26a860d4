/*
 * dlq.c: dead-letter queues. Transitional: redrive policies are not accepted
 * yet (issue 3 replaces this file), so no queue has a dead-letter queue and
 * receive never moves a message.
 */
#include "core.h"

int
lmq__redrive_attr(lmq_txn *t, lmq_env *env, lmq_qrec *r, const char *name,
                  const char *value, char **norm)
{
    (void)t;
    (void)env;
    (void)r;
    (void)value;
    *norm = NULL;
    return lmq__seterr(LMQ_EATTRNAME, "Attribute %s is not supported by "
                                      "this build of lmq.", name);
}

int
lmq__dlq_on_receive(lmq_txn *t, lmq_queue *q, lmq_qrec *r, uint64_t seq,
                    lmq_mhdr *h, int64_t now)
{
    (void)t;
    (void)q;
    (void)r;
    (void)seq;
    (void)h;
    (void)now;
    return 0;
}
