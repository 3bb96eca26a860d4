/*
 * longpoll.h: the waiting receive of longpoll.c, for modules of the library
 * that need a wait finer than whole seconds (the consumer runtime's batching
 * window). Never installed.
 */
#ifndef LMQ_LONGPOLL_H
#define LMQ_LONGPOLL_H

#include "core.h"

/* lmq_receive() with an explicit wait in milliseconds instead of
 * o->wait_seconds: wait_ms > 0 waits up to that long for a first message,
 * 0 only tries once, < 0 uses o->wait_seconds (and the queue's default) as
 * lmq_receive() does. Options are validated as in lmq_receive(); returns the
 * same codes. */
int lmq__receive_wait(lmq_queue *q, const lmq_recv_opts *o, lmq_msg **msgs,
                      size_t max, size_t *n, int64_t wait_ms);

/* lmq__receive_wait() for the consumer runtime: up to max messages (at most
 * LMQ__RECV_BULK (core.h), or LMQ_MAX_BATCH on a FIFO queue) in one transaction,
 * whatever o->max_messages says, so a durable consumer pays one commit per
 * hundred messages instead of one per ten. */
int lmq__receive_bulk(lmq_queue *q, const lmq_recv_opts *o, lmq_msg **msgs,
                      size_t max, size_t *n, int64_t wait_ms);

#endif /* LMQ_LONGPOLL_H */
