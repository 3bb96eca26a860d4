/*
 * queue_fifo.c: FIFO queues. Transitional: FIFO queues can be created but
 * sending to them reports UnsupportedOperation (issue 4 replaces this file).
 */
#include "core.h"

int
lmq__fifo_send_check(const lmq_queue *q, lmq_prep *p, size_t n, bool batch)
{
    (void)q;
    (void)p;
    (void)n;
    (void)batch;
    return lmq__seterr(LMQ_EUNSUPPORTED, "FIFO messages are not supported "
                                         "by this build of lmq.");
}

int
lmq__fifo_enqueue(lmq_txn *t, lmq_queue *q, lmq_qrec *r, lmq_prep *p,
                  int64_t now)
{
    (void)t;
    (void)q;
    (void)r;
    (void)p;
    (void)now;
    return lmq__seterr(LMQ_EUNSUPPORTED, "FIFO messages are not supported "
                                         "by this build of lmq.");
}

int
lmq__fifo_receive(lmq_txn *t, lmq_queue *q, lmq_qrec *r,
                  const lmq_recv_opts *o, int vt, int64_t now, lmq_msg **msgs,
                  size_t max, size_t *n, int64_t *next_at)
{
    (void)t;
    (void)q;
    (void)r;
    (void)o;
    (void)vt;
    (void)now;
    (void)msgs;
    (void)max;
    (void)next_at;
    *n = 0;
    return 0;
}

int
lmq__fifo_on_release(lmq_txn *t, lmq_qrec *r, uint64_t seq, const lmq_mhdr *h,
                     int64_t now)
{
    (void)t;
    (void)r;
    (void)seq;
    (void)h;
    (void)now;
    return 0;
}
