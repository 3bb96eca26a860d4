/*
 * dlq.h: declarations shared by dlq.c (redrive policies, dead-letter moves
 * on receive, ListDeadLetterSourceQueues) and movetask.c (message move
 * tasks). Never installed.
 */
#ifndef LMQ_DLQ_H
#define LMQ_DLQ_H

#include "core.h"

/* The dead-letter queue named by the stored RedrivePolicy of queue qid, as a
 * malloc'd queue name in *name; NULL when the queue has no policy (or its
 * target is not an ARN of this home). 0, LMQ_ENOQUEUE, LMQ_ENOMEM. */
int lmq__dlq_target(lmq_txn *t, lmq_env *env, uint32_t qid, char **name);

/* Whether some queue's RedrivePolicy targets the queue named dlq. */
int lmq__dlq_has_sources(lmq_txn *t, lmq_env *env, const char *dlq,
                         bool *yes);

/* Copy message (qid, seq) of queue r out of the map (a write in the same
 * transaction may move the page it lives on), decode and open it: mv points
 * into *buf, which the caller frees, and, for a sealed record, into *plain
 * (lmq__seal_free). */
int lmq__dlq_msg_copy(lmq_txn *t, const lmq_env *env, const lmq_qrec *r,
                      uint64_t seq, uint8_t **buf, uint8_t **plain,
                      lmq_mview *mv);

/* Insert mv with header h into queue dr (settled to now by the caller);
 * for FIFO queues the group index is kept too. 0, or an error. */
int lmq__dlq_insert(lmq_txn *t, lmq_env *env, lmq_qrec *dr,
                    const lmq_mview *mv, const lmq_mhdr *h, int64_t now);

#endif /* LMQ_DLQ_H */
