/*
 * sqs_policy.h: IAM-style access policies for lmqd (issue 22): the
 * evaluator of identity policies and queue (resource) policies, and the
 * IAM actions and resources an SQS request needs.
 *
 * Pure: jansson trees in, a decision out; no I/O, no clock, no sockets.
 * lmqd (daemon/authz.c) owns the credentials, the policy file, the queue's
 * Policy attribute and the request's context (source IP, TLS, time), and
 * asks this module per request. See docs/LMQD.md, "Access control".
 *
 * Threads: every function is reentrant; documents are only read.
 */
#ifndef LMQ_SQS_POLICY_H
#define LMQ_SQS_POLICY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* What a policy document is attached to. A resource policy (a queue's
 * Policy attribute) names a Principal in each statement; an identity
 * policy (of a user or role) must not. */
typedef enum lmq_policy_kind {
    LMQ_POLICY_IDENTITY = 0,
    LMQ_POLICY_RESOURCE = 1
} lmq_policy_kind;

/* The outcome of one document for one request. */
typedef enum lmq_policy_effect {
    LMQ_POLICY_NONE = 0, /* no statement applies: implicit deny */
    LMQ_POLICY_ALLOW,    /* an Allow applies and no Deny */
    LMQ_POLICY_DENY      /* an explicit Deny applies */
} lmq_policy_effect;

/* One request as the evaluator sees it. Strings are NUL-terminated;
 * source_arn NULL means the request has none (lmqd's never do: no AWS
 * service calls it). The principal keys (aws:username, aws:userid,
 * aws:PrincipalType) are derived from principal, aws:RequestedRegion and
 * aws:ResourceAccount from resource. */
typedef struct lmq_policy_request {
    const char *action;    /* IAM action: "sqs:SendMessage" */
    const char *resource;  /* "arn:aws:sqs:us-east-1:123456789012:jobs" */
    const char *principal; /* "arn:aws:iam::123456789012:user/worker" or
                              "arn:aws:iam::123456789012:root" */
    const char *source_ip; /* "127.0.0.1", "::1" */
    int secure_transport;  /* 1 on a TLS connection */
    int64_t now_ms;        /* aws:CurrentTime, Unix ms */
    const char *source_arn;
} lmq_policy_request;

/*
 * Check that doc is a policy document lmqd can evaluate: an object with
 * an optional Version ("2012-10-17" or "2008-10-17") and Id, and a
 * Statement (one object or a non-empty array) whose statements each have
 * Effect Allow or Deny, exactly one of Action/NotAction and (identity
 * policies) of Resource/NotResource, strings or arrays of strings, for a
 * resource policy exactly one of Principal/NotPrincipal (an identity
 * policy has neither), and a Condition that is an object of operators,
 * each an object of keys with string, number, boolean or array values.
 * Unknown elements are errors, and so is what lmq__policy_eval cannot
 * evaluate: an unknown condition operator (or Null with IfExists or a set
 * prefix), a condition key lmqd does not know or of a type its operator
 * does not compare, a value of the wrong form (a bad CIDR, date, number
 * or boolean), and in a 2012-10-17 policy a malformed policy variable or
 * one naming an unknown key. The reason names the operator, key or value.
 *
 * Returns 0, or -1 with a one-line reason in err (if errlen > 0).
 */
int lmq__policy_check(const json_t *doc, lmq_policy_kind kind, char *err,
                      size_t errlen);

/*
 * Evaluate one document for r. A statement applies when its Effect's
 * Action/NotAction matches r->action (case-insensitive, * and ?
 * wildcards), its Resource/NotResource matches r->resource (ARN
 * components compared one by one, case-sensitive, wildcards; "*" matches
 * everything), for a resource policy its Principal/NotPrincipal matches
 * r->principal ("*", {"AWS": "*"}, an account id or its root ARN, which
 * stand for every principal of that account, or a principal's exact
 * ARN), and every condition holds.
 *
 * In a 2012-10-17 policy, policy variables in Resource/NotResource and
 * in String/Arn condition values are replaced by the request's values
 * (see docs/LMQD.md); a variable the request has no value for, without a
 * default, makes that value match nothing.
 *
 * Fails closed: a document that fails lmq__policy_check() yields
 * LMQ_POLICY_DENY; what cannot be evaluated at request time (a value too
 * long once expanded) does not hold in an Allow and holds in a Deny.
 *
 * Returns LMQ_POLICY_DENY if a Deny applies, else LMQ_POLICY_ALLOW if an
 * Allow does, else LMQ_POLICY_NONE.
 */
lmq_policy_effect lmq__policy_eval(const json_t *doc, lmq_policy_kind kind,
                                   const lmq_policy_request *r);

/* Why a request was decided as it was (for AccessDenied's message). */
typedef enum lmq_policy_reason {
    LMQ_POLICY_ALLOWED = 0,
    LMQ_POLICY_IDENTITY_DENY, /* explicit deny in an identity policy */
    LMQ_POLICY_RESOURCE_DENY, /* explicit deny in the resource policy */
    LMQ_POLICY_NO_IDENTITY,   /* no identity-based policy allows */
    LMQ_POLICY_NO_RESOURCE    /* cross-account: no resource policy allows */
} lmq_policy_reason;

/*
 * The decision for r as AWS makes it within one account: an explicit Deny
 * in any identity policy or in the resource policy denies; otherwise, if
 * the principal is in resource_account, an Allow in either allows; if
 * it is in another account, both an identity Allow and a resource Allow
 * are needed. An account's root (arn:aws:iam::ACCOUNT:root) is not
 * subject to identity policies: it has every identity permission (its
 * identity list is ignored), so only a resource-policy Deny stops it in
 * its own account, and it needs a resource Allow in another.
 *
 * identity: the principal's identity policies (n may be 0); resource: the
 * queue's Policy document, or NULL when it has none (or the action has no
 * queue). Returns LMQ_POLICY_ALLOWED or the reason of the denial.
 */
lmq_policy_reason lmq__policy_decide(const json_t *const *identity, size_t n,
                                     const json_t *resource,
                                     const char *resource_account,
                                     const lmq_policy_request *r);

/* The AWS-style AccessDenied message for a denial into buf:
 * "User: <principal> is not authorized to perform: sqs:sendmessage on
 * resource: <arn> because no identity-based policy allows the
 * sqs:sendmessage action" (and the other reasons' endings). */
void lmq__policy_message(lmq_policy_reason why, const lmq_policy_request *r,
                         char *buf, size_t len);

/* The account id of an IAM principal ARN (arn:aws:iam::ACCOUNT:...) into
 * out (13 bytes). Returns 0, or -1 when p is not one. */
int lmq__policy_principal_account(const char *p, char out[13]);

/* ---- what a request needs --------------------------------------------- */

/* One permission a request needs: an IAM action on a resource, and the
 * queue whose Policy applies (NULL: none, e.g. ListQueues, CreateQueue). */
typedef struct lmq_policy_need {
    char action[64];
    char resource[160];
    char queue[96];
} lmq_policy_need;

#define LMQ_POLICY_MAX_NEEDS 5

struct sqs_req;

/*
 * The permissions a decoded request needs (all of them must be allowed),
 * into needs[LMQ_POLICY_MAX_NEEDS]; returns how many (0 for a request
 * that failed to decode: it is answered with its error and does nothing).
 * Each SQS action needs sqs:<Action> on its queue's ARN
 * (arn:aws:sqs:REGION:ACCOUNT:NAME), except: the batch actions need
 * their single action (SendMessageBatch: sqs:SendMessage, and so on);
 * CreateQueue and GetQueueUrl name the queue by QueueName; ListQueues is
 * checked on the account, "arn:aws:sqs:REGION:ACCOUNT:" (matched by "*"
 * and "...:ACCOUNT:*", not by a queue's ARN); StartMessageMoveTask needs
 * sqs:StartMessageMoveTask, sqs:ReceiveMessage, sqs:DeleteMessage and
 * sqs:GetQueueAttributes on the source and sqs:SendMessage on a given
 * destination; CancelMessageMoveTask its action on the source the handle
 * names (the account's resource if it names none); ListMessageMoveTasks
 * its action on the source.
 */
size_t lmq__sqs_req_needs(const struct sqs_req *r, const char *region,
                          const char *account,
                          lmq_policy_need needs[LMQ_POLICY_MAX_NEEDS]);

#endif /* LMQ_SQS_POLICY_H */
