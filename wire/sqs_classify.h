/*
 * sqs_classify.h: what an SQS error means for a client that retries (the
 * bridge): a pure table in the wire layer (sqs_classify.c), so that the
 * arrows stay bridge -> wire.
 */
#ifndef LMQ_SQS_CLASSIFY_H
#define LMQ_SQS_CLASSIFY_H

/* What a failure means for the bridge . */
typedef enum lmq_fault {
    LMQ_FAULT_NONE = 0,
    LMQ_FAULT_TRANSIENT, /* 5xx, InternalError, ServiceUnavailable,
                            connection refused/reset, DNS, timeouts: retry
                            with backoff */
    LMQ_FAULT_THROTTLED, /* ThrottlingException (400), RequestThrottled
                            (403), KMS.ThrottlingException: slow down */
    LMQ_FAULT_CONFIG,    /* QueueDoesNotExist, AccessDenied, bad or expired
                            credentials, KMS key disabled: pause the route */
    LMQ_FAULT_MESSAGE,   /* this message only (too big, invalid contents,
                            bad attribute): dead-letter it */
    LMQ_FAULT_CLIENT     /* our bug (a request SQS calls malformed): pause
                            and report */
} lmq_fault;

/* The fault class of an SQS error (HTTP status, Query or shape code; the
 * code may be NULL). Also used for SendMessageBatch Failed entries (status
 * 0, their Code and SenderFault). */
lmq_fault lmq__sqs_classify(int http_status, const char *code,
                            int sender_fault);

#endif /* LMQ_SQS_CLASSIFY_H */
