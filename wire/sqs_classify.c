/*
 * sqs_classify.c: what an SQS error means for the bridge's retry policy
 * (issue 26; shared/SQS-SEMANTICS.md section 7).
 *
 * One table of error codes, each with the fault it means for a whole
 * request and for one entry of a batch answer (SendMessageBatch's Failed
 * list: HTTP status 0 here). The two differ where SQS reuses a code:
 * InvalidParameterValue on a request is a request we built wrongly (CLIENT:
 * pause and report), on an entry it is that message ("Message must be
 * shorter than 262144 bytes", a bad attribute: MESSAGE, dead-letter it).
 *
 * Codes are matched exactly (AWS codes are case-sensitive) in both
 * spellings SQS sends: the Query code of the x-amzn-query-error header
 * ("AWS.SimpleQueueService.NonExistentQueue") and the JSON shape name of
 * __type ("QueueDoesNotExist", with any "namespace#" prefix and ":suffix"
 * removed here as clients do).
 *
 * A code that is not in the table falls back on the HTTP status: 5xx
 * transient, 429 throttled, 408 transient, a 401/403/404/407 that carries no
 * SQS code at all (a proxy, a wrong endpoint path) configuration, 3xx
 * (redirects, which SQS never sends) configuration, any other 4xx CLIENT.
 * An unknown entry code is CLIENT when SenderFault, else TRANSIENT. A
 * server-side status (5xx) never makes a message or client fault: the same
 * request may well pass on a retry.
 *
 * Rejected: a chain of string compares per class (the table is the
 * documentation), and prefix rules such as "KMS.* is config" (that would
 * make KMS.ThrottlingException a configuration fault).
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "sqs_classify.h"

typedef struct fault_row {
    const char *code;
    lmq_fault request; /* as the error of a whole request */
    lmq_fault entry;   /* as the Code of a batch answer's Failed entry */
} fault_row;

#define T LMQ_FAULT_TRANSIENT
#define S LMQ_FAULT_THROTTLED
#define C LMQ_FAULT_CONFIG
#define M LMQ_FAULT_MESSAGE
#define B LMQ_FAULT_CLIENT

static const fault_row rows[] = {
    /* The server failed or is unavailable: retry with backoff. */
    {"InternalError", T, T},
    {"InternalFailure", T, T},
    {"InternalServerError", T, T},
    {"ServiceUnavailable", T, T},
    {"ServiceUnavailableException", T, T},
    {"RequestTimeout", T, T},
    {"RequestTimeoutException", T, T},
    {"PriorRequestNotComplete", T, T},
    /* Slow down: ThrottlingException comes with 400, RequestThrottled with
     * 403; OverLimit is the in-flight cap of a queue (403). */
    {"ThrottlingException", S, S},
    {"Throttling", S, S},
    {"ThrottledException", S, S},
    {"RequestThrottled", S, S},
    {"RequestThrottledException", S, S},
    {"TooManyRequestsException", S, S},
    {"RequestLimitExceeded", S, S},
    {"SlowDown", S, S},
    {"OverLimit", S, S},
    {"KMS.ThrottlingException", S, S},
    {"KmsThrottled", S, S},
    /* The route's configuration: the queue, the credentials, the key. The
     * route pauses, keeps every message and re-checks with backoff. */
    {"AWS.SimpleQueueService.NonExistentQueue", C, C},
    {"QueueDoesNotExist", C, C},
    {"AWS.SimpleQueueService.QueueDeletedRecently", C, C},
    {"QueueDeletedRecently", C, C},
    {"InvalidAddress", C, C},
    {"AccessDenied", C, C},
    {"AccessDeniedException", C, C},
    {"NotAuthorized", C, C},
    {"InvalidClientTokenId", C, C},
    {"InvalidAccessKeyId", C, C},
    {"UnrecognizedClientException", C, C},
    {"SignatureDoesNotMatch", C, C},
    {"MissingAuthenticationToken", C, C},
    {"ExpiredToken", C, C},
    {"ExpiredTokenException", C, C},
    {"InvalidSecurity", C, C},
    /* Still expired after the remote's one retry with the server's clock
     * (remote.c): the clock cannot be corrected from here. */
    {"RequestExpired", C, C},
    {"OptInRequired", C, C},
    {"KMS.OptInRequired", C, C},
    {"KmsOptInRequired", C, C},
    {"KMS.AccessDeniedException", C, C},
    {"KmsAccessDenied", C, C},
    {"KMS.DisabledException", C, C},
    {"KmsDisabled", C, C},
    {"KMS.NotFoundException", C, C},
    {"KmsNotFound", C, C},
    {"KMS.InvalidStateException", C, C},
    {"KmsInvalidState", C, C},
    {"KMS.InvalidKeyUsageException", C, C},
    {"KmsInvalidKeyUsage", C, C},
    /* FIFO fields sent to a standard queue (or the reverse): the route
     * points at the wrong kind of queue. */
    {"AWS.SimpleQueueService.UnsupportedOperation", C, C},
    {"UnsupportedOperation", C, C},
    /* One message: characters the remote refuses, too big, a bad
     * attribute. On a whole SendMessage it is still that message. */
    {"InvalidMessageContents", M, M},
    {"AWS.SimpleQueueService.MessageTooLong", M, M},
    {"MessageTooLong", M, M},
    {"InvalidParameterValue", B, M},
    {"InvalidParameterValueException", B, M},
    /* Our bug: a request SQS calls malformed (the bridge must split
     * batches itself, so BatchRequestTooLong is ours too). */
    {"AWS.SimpleQueueService.BatchRequestTooLong", B, B},
    {"BatchRequestTooLong", B, B},
    {"AWS.SimpleQueueService.TooManyEntriesInBatchRequest", B, B},
    {"TooManyEntriesInBatchRequest", B, B},
    {"AWS.SimpleQueueService.EmptyBatchRequest", B, B},
    {"EmptyBatchRequest", B, B},
    {"AWS.SimpleQueueService.BatchEntryIdsNotDistinct", B, B},
    {"BatchEntryIdsNotDistinct", B, B},
    {"AWS.SimpleQueueService.InvalidBatchEntryId", B, B},
    {"InvalidBatchEntryId", B, B},
    {"ReceiptHandleIsInvalid", B, B},
    {"MissingParameter", B, B},
    {"MissingRequiredParameterException", B, B},
    {"IncompleteSignature", B, B},
    {"InvalidAction", B, B},
    {"InvalidParameterCombination", B, B},
    {"InvalidQueryParameter", B, B},
    {"MalformedQueryString", B, B},
    {"ValidationError", B, B},
    {"ValidationException", B, B},
    {"InvalidAttributeName", B, B},
    {"InvalidAttributeValue", B, B},
};

#undef T
#undef S
#undef C
#undef M
#undef B

/* Look code up, ignoring a "namespace#" prefix and a ":suffix". */
static const fault_row *
find_row(const char *code)
{
    const char *hash = strchr(code, '#');
    if (hash)
        code = hash + 1;
    size_t len = strcspn(code, ":");
    if (len == 0)
        return NULL;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (strncmp(rows[i].code, code, len) == 0 && rows[i].code[len] == '\0')
            return &rows[i];
    return NULL;
}

lmq_fault
lmq__sqs_classify(int http_status, const char *code, int sender_fault)
{
    const fault_row *row = code && *code ? find_row(code) : NULL;
    if (http_status == 0) {
        /* A batch answer's Failed entry. */
        if (row)
            return row->entry;
        return sender_fault ? LMQ_FAULT_CLIENT : LMQ_FAULT_TRANSIENT;
    }
    if (http_status >= 200 && http_status < 300 && !row)
        return LMQ_FAULT_NONE;
    if (row) {
        if (http_status >= 500 && (row->request == LMQ_FAULT_CLIENT ||
                                   row->request == LMQ_FAULT_MESSAGE))
            return LMQ_FAULT_TRANSIENT;
        return row->request;
    }
    if (http_status >= 500)
        return LMQ_FAULT_TRANSIENT;
    if (http_status == 429)
        return LMQ_FAULT_THROTTLED;
    if (http_status == 408)
        return LMQ_FAULT_TRANSIENT;
    if (!(code && *code) && (http_status == 401 || http_status == 403 ||
                             http_status == 404 || http_status == 407))
        return LMQ_FAULT_CONFIG;
    if (http_status >= 300 && http_status < 400)
        return LMQ_FAULT_CONFIG;
    return LMQ_FAULT_CLIENT;
}
