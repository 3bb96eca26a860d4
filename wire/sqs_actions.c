/*
 * sqs_actions.c: the table of SQS actions, one row each, and the library
 * call behind each row. An action reads its input tree (JSON's shape, already
 * checked for types and required members), calls liblmq, and builds its
 * output tree; the codecs do the rest. No SQS semantics live here: limits,
 * validation and every rule of the queue are the library's, and its errors
 * become SQS errors by their code (lmq_err_sqs_code()). What is here is
 * only the translation: URLs to names, base64 to bytes, trees to lists.
 *
 * Two exceptions, both small: AddPermission/RemovePermission edit the
 * queue's Policy attribute (a JSON document the library stores as given),
 * and ReceiveMessage may park (sqs_wire.h) instead of blocking.
 */
#include "config.h"

#include <sodium.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqs_int.h"
#include "sqs_policy.h"

#define MAX_MSGS 10

/* ---- reading the input tree ---------------------------------------------- */

static const char *
str_in(json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

/* An int member, or def when absent. A value beyond int is clamped to
 * INT_MIN/INT_MAX, so the library's range checks still refuse it (a cast
 * would turn 4294967295 into -1, which means "the queue's"). */
static int
int_in(json_t *o, const char *name, int def)
{
    json_t *v = json_object_get(o, name);
    if (!v)
        return def;
    json_int_t x = json_integer_value(v);
    return x < INT_MIN ? INT_MIN : x > INT_MAX ? INT_MAX : (int)x;
}

/* An optional number of seconds whose absence the library takes as -1
 * ("the queue's"): a negative value sent by a client is refused here, so
 * that -1 never passes as absent. 0 or -1 (failed). */
static int
secs_in(sqs_call *c, json_t *o, const char *name, int *out)
{
    *out = int_in(o, name, -1);
    if (json_object_get(o, name) && *out < 0)
        return lmq__sqs_fail(c, "InvalidParameterValue",
                             "Value %lld for parameter %s is invalid. "
                             "Reason: Must be >= 0, if provided.",
                             (long long)json_integer_value(
                                 json_object_get(o, name)),
                             name);
    return 0;
}

/* MaxResults of a list action: 0 when absent (the library's "no paging"),
 * else 1-1000 as SQS requires; 0 or -1 (failed). */
static int
max_results_in(sqs_call *c, int *out)
{
    *out = int_in(c->in, "MaxResults", 0);
    if (json_object_get(c->in, "MaxResults") && (*out < 1 || *out > 1000))
        return lmq__sqs_fail(c, "InvalidParameterValue",
                             "Value %lld for parameter MaxResults is invalid. "
                             "Reason: MaxResults must be an integer between "
                             "1 and 1000.",
                             (long long)json_integer_value(
                                 json_object_get(c->in, "MaxResults")));
    return 0;
}

/* A NULL-terminated array of the strings of list member name (pointers into
 * the tree), or NULL when absent. *oom on allocation failure. */
static const char **
strv_in(json_t *o, const char *name, int *oom)
{
    json_t *a = json_object_get(o, name);
    *oom = 0;
    if (!a)
        return NULL;
    const char **v = calloc(json_array_size(a) + 1, sizeof *v);
    if (!v) {
        *oom = 1;
        return NULL;
    }
    for (size_t i = 0; i < json_array_size(a); i++)
        v[i] = json_string_value(json_array_get(a, i));
    return v;
}

/* An lmq_map of a string map member (NULL when absent). */
static int
map_in(sqs_call *c, json_t *o, const char *name, lmq_map **out)
{
    json_t *m = json_object_get(o, name);
    const char *k;
    json_t *v;
    *out = NULL;
    if (!m)
        return 0;
    lmq_map *map = lmq_map_new();
    if (!map)
        return lmq__sqs_fail_lmq(c, LMQ_ENOMEM);
    json_object_foreach(m, k, v)
    {
        if (lmq_map_set(map, k, json_string_value(v)) != 0) {
            lmq_map_free(map);
            return lmq__sqs_fail_lmq(c, LMQ_ENOMEM);
        }
    }
    *out = map;
    return 0;
}

static json_t *
map_out(const lmq_map *m)
{
    json_t *o = json_object();
    const char *k, *v;
    for (size_t i = 0; i < lmq_map_count(m); i++)
        if (lmq_map_at(m, i, &k, &v) == 0)
            json_object_set_new(o, k, json_string(v));
    return o;
}

static char *
queue_url(sqs_call *c, const char *name)
{
    const char *base = c->ctx->public_url ? c->ctx->public_url
                                          : c->req->base_url;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    return lmq__sqs_printf("%.*s/%s/%s", (int)bl, base, c->ctx->account, name);
}

static json_t *
url_list(sqs_call *c, char **names)
{
    json_t *a = json_array();
    for (size_t i = 0; names && names[i]; i++) {
        char *u = queue_url(c, names[i]);
        json_array_append_new(a, json_string(u ? u : ""));
        free(u);
    }
    return a;
}

/* The cached handle of the request's queue: 0 or an lmq error code. */
static int
queue_of(sqs_call *c, lmq_queue **q)
{
    return lmq__sqs_queue(c->ctx, c->req->queue, q);
}

/* After an operation on a cached handle failed with LMQ_ENOQUEUE: the queue
 * may have been deleted and made again under the same name (a handle never
 * reaches the new queue). Forget the handle and say whether to retry. */
static int
stale(sqs_call *c, int rc, int *tries)
{
    if (rc != LMQ_ENOQUEUE || (*tries)++ > 0)
        return 0;
    lmq__sqs_queue_forget(c->ctx, c->req->queue);
    return 1;
}

/* ---- queues ----------------------------------------------------------------- */

/* A Policy attribute must be a queue policy lmqd can evaluate (as SQS
 * refuses a malformed one); "" removes it. Returns 0, or -1 with
 * InvalidAttributeValue. */
static int
policy_attr_ok(sqs_call *c, const lmq_map *m)
{
    const char *p = m ? lmq_map_get(m, "Policy") : NULL;
    if (!p || !*p)
        return 0;
    char why[256] = "not JSON";
    json_t *d = json_loads(p, JSON_REJECT_DUPLICATES, NULL);
    int bad = !d || lmq__policy_check(d, LMQ_POLICY_RESOURCE, why,
                                      sizeof why) != 0;
    json_decref(d);
    return bad ? lmq__sqs_fail(c, "InvalidAttributeValue",
                               "Invalid value for the parameter Policy. "
                               "Reason: %s.",
                               why)
               : 0;
}

static int
a_create_queue(sqs_call *c)
{
    lmq_map *attrs = NULL, *tags = NULL;
    const char *name = str_in(c->in, "QueueName");
    if (map_in(c, c->in, "Attributes", &attrs) ||
        map_in(c, c->in, "tags", &tags) || policy_attr_ok(c, attrs)) {
        lmq_map_free(attrs);
        lmq_map_free(tags);
        return -1;
    }
    int rc = lmq_queue_create(c->ctx->env, name, attrs, tags, NULL);
    lmq_map_free(attrs);
    lmq_map_free(tags);
    if (rc)
        return lmq__sqs_fail_lmq(c, rc);
    char *u = queue_url(c, name);
    c->out = json_pack("{s:s}", "QueueUrl", u ? u : "");
    free(u);
    return 0;
}

static int
a_delete_queue(sqs_call *c)
{
    int rc = lmq_queue_delete(c->ctx->env, c->req->queue);
    lmq__sqs_queue_forget(c->ctx, c->req->queue);
    return rc ? lmq__sqs_fail_lmq(c, rc) : 0;
}

static int
a_get_queue_url(sqs_call *c)
{
    const char *name = str_in(c->in, "QueueName");
    const char *owner = str_in(c->in, "QueueOwnerAWSAccountId");
    char *u = NULL;
    if (owner && strcmp(owner, c->ctx->account) != 0)
        return lmq__sqs_fail_lmq(c, LMQ_ENOQUEUE);
    int rc = lmq_queue_url(c->ctx->env, name, &u);
    free(u);
    if (rc)
        return lmq__sqs_fail_lmq(c, rc);
    u = queue_url(c, name);
    c->out = json_pack("{s:s}", "QueueUrl", u ? u : "");
    free(u);
    return 0;
}

static int
a_list_queues(sqs_call *c)
{
    char **names = NULL, *next = NULL;
    int max, rc;
    if (max_results_in(c, &max))
        return -1;
    rc = lmq_queue_list(c->ctx->env, str_in(c->in, "QueueNamePrefix"), max,
                        str_in(c->in, "NextToken"), &names, &next);
    if (rc)
        return lmq__sqs_fail_lmq(c, rc);
    c->out = json_object();
    if (names && names[0])
        json_object_set_new(c->out, "QueueUrls", url_list(c, names));
    if (next)
        json_object_set_new(c->out, "NextToken", json_string(next));
    lmq_strv_free(names);
    free(next);
    return 0;
}

static int
a_get_queue_attributes(sqs_call *c)
{
    int oom;
    const char **names = strv_in(c->in, "AttributeNames", &oom);
    lmq_map *m = NULL;
    if (oom)
        return lmq__sqs_fail_lmq(c, LMQ_ENOMEM);
    int rc = lmq_queue_get_attributes(c->ctx->env, c->req->queue, names, &m);
    free(names);
    if (rc)
        return lmq__sqs_fail_lmq(c, rc);
    c->out = json_object();
    if (lmq_map_count(m) > 0)
        json_object_set_new(c->out, "Attributes", map_out(m));
    lmq_map_free(m);
    return 0;
}

static int
a_set_queue_attributes(sqs_call *c)
{
    lmq_map *m;
    if (map_in(c, c->in, "Attributes", &m))
        return -1;
    if (policy_attr_ok(c, m)) {
        lmq_map_free(m);
        return -1;
    }
    int rc = lmq_queue_set_attributes(c->ctx->env, c->req->queue, m);
    lmq_map_free(m);
    return rc ? lmq__sqs_fail_lmq(c, rc) : 0;
}

static int
a_purge_queue(sqs_call *c)
{
    int rc = lmq_queue_purge(c->ctx->env, c->req->queue);
    return rc ? lmq__sqs_fail_lmq(c, rc) : 0;
}

static int
a_tag_queue(sqs_call *c)
{
    lmq_map *m;
    if (map_in(c, c->in, "Tags", &m))
        return -1;
    int rc = lmq_queue_tag(c->ctx->env, c->req->queue, m);
    lmq_map_free(m);
    return rc ? lmq__sqs_fail_lmq(c, rc) : 0;
}

static int
a_untag_queue(sqs_call *c)
{
    int oom;
    const char **keys = strv_in(c->in, "TagKeys", &oom);
    if (oom)
        return lmq__sqs_fail_lmq(c, LMQ_ENOMEM);
    int rc = lmq_queue_untag(c->ctx->env, c->req->queue, keys);
    free(keys);
    return rc ? lmq__sqs_fail_lmq(c, rc) : 0;
}

static int
a_list_queue_tags(sqs_call *c)
{
    lmq_map *m = NULL;
    int rc = lmq_queue_tags(c->ctx->env, c->req->queue, &m);
    if (rc)
        return lmq__sqs_fail_lmq(c, rc);
    c->out = json_object();
    if (lmq_map_count(m) > 0)
        json_object_set_new(c->out, "Tags", map_out(m));
    lmq_map_free(m);
    return 0;
}

static int
a_list_dlq_sources(sqs_call *c)
{
    char **names = NULL, *next = NULL;
    int max, rc;
    if (max_results_in(c, &max))
        return -1;
    rc = lmq_dlq_list_sources(c->ctx->env, c->req->queue, max,
                              str_in(c->in, "NextToken"), &names, &next);
    if (rc)
        return lmq__sqs_fail_lmq(c, rc);
    c->out = json_object();
    json_object_set_new(c->out, "queueUrls", url_list(c, names));
    if (next)
        json_object_set_new(c->out, "NextToken", json_string(next));
    lmq_strv_free(names);
    free(next);
    return 0;
}

/* ---- permissions (the Policy attribute) ------------------------------------ */

static const char *const permission_actions[] = {
    "*", "SendMessage", "ReceiveMessage", "DeleteMessage",
    "ChangeMessageVisibility", "GetQueueAttributes", "GetQueueUrl",
    "ListDeadLetterSourceQueues", "PurgeQueue", "ListQueueTags", NULL};

static int
valid_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 80)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return 0;
    }
    return 1;
}

/* The queue's Policy document (a new empty one when unset) and its ARN. */
static int
load_policy(sqs_call *c, json_t **policy, char **arn)
{
    const char *names[] = {"Policy", "QueueArn", NULL};
    lmq_map *m = NULL;
    int rc = lmq_queue_get_attributes(c->ctx->env, c->req->queue, names, &m);
    if (rc)
        return lmq__sqs_fail_lmq(c, rc);
    const char *p = lmq_map_get(m, "Policy");
    *arn = lmq__sqs_strdup(lmq_map_get(m, "QueueArn"));
    *policy = p && *p ? json_loads(p, 0, NULL) : NULL;
    lmq_map_free(m);
    if (!*policy || !json_is_object(*policy)) {
        json_decref(*policy);
        *policy = json_pack("{s:s,s:s+,s:[]}", "Version", "2012-10-17", "Id",
                            *arn ? *arn : "", "/SQSDefaultPolicy",
                            "Statement");
        if (!*policy) {
            free(*arn);
            *arn = NULL;
            return lmq__sqs_fail_lmq(c, LMQ_ENOMEM);
        }
    }
    json_t *st = json_object_get(*policy, "Statement");
    if (!json_is_array(st))
        json_object_set_new(*policy, "Statement", json_array());
    return 0;
}

static int
store_policy(sqs_call *c, json_t *policy)
{
    json_t *st = json_object_get(policy, "Statement");
    char *doc = json_array_size(st) > 0 ? json_dumps(policy, JSON_COMPACT)
                                        : lmq__sqs_strdup("");
    lmq_map *m = lmq_map_new();
    int rc = !doc || !m ? LMQ_ENOMEM : lmq_map_set(m, "Policy", doc);
    if (rc == 0)
        rc = lmq_queue_set_attributes(c->ctx->env, c->req->queue, m);
    lmq_map_free(m);
    free(doc);
    return rc ? lmq__sqs_fail_lmq(c, rc) : 0;
}

static json_t *
find_sid(json_t *policy, const char *label, size_t *at)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(policy, "Statement"), i, s)
    {
        const char *sid = json_string_value(json_object_get(s, "Sid"));
        if (sid && strcmp(sid, label) == 0) {
            *at = i;
            return s;
        }
    }
    return NULL;
}

static int
a_add_permission(sqs_call *c)
{
    const char *label = str_in(c->in, "Label");
    json_t *ids = json_object_get(c->in, "AWSAccountIds");
    json_t *acts = json_object_get(c->in, "Actions");
    size_t i, at;
    json_t *v;
    if (!valid_label(label))
        return lmq__sqs_fail(c, "InvalidParameterValue",
                             "Value %.100s for parameter Label is invalid. "
                             "Reason: Must be 1-80 of A-Z, a-z, 0-9, - and _.",
                             label);
    if (json_array_size(ids) == 0 || json_array_size(acts) == 0)
        return lmq__sqs_fail(c, "MissingParameter",
                             "The request must contain the parameter %s",
                             json_array_size(ids) == 0 ? "AWSAccountIds"
                                                       : "Actions");
    json_t *principals = json_array(), *actions = json_array();
    json_array_foreach(ids, i, v)
    {
        const char *id = json_string_value(v);
        size_t n = strlen(id);
        if (n != 12 || strspn(id, "0123456789") != n) {
            json_decref(principals);
            json_decref(actions);
            return lmq__sqs_fail(c, "InvalidParameterValue",
                                 "Value %.64s for parameter AWSAccountId is "
                                 "invalid. Reason: not a 12-digit account.",
                                 id);
        }
        char *arn = lmq__sqs_printf("arn:aws:iam::%s:root", id);
        json_array_append_new(principals, json_string(arn ? arn : ""));
        free(arn);
    }
    json_array_foreach(acts, i, v)
    {
        const char *a = json_string_value(v);
        int ok = 0;
        for (const char *const *p = permission_actions; *p; p++)
            ok |= strcmp(*p, a) == 0;
        if (!ok) {
            json_decref(principals);
            json_decref(actions);
            return lmq__sqs_fail(c, "InvalidParameterValue",
                                 "Value SQS:%.64s for parameter ActionName is "
                                 "invalid. Reason: Please refer to the "
                                 "appropriate WSDL for a list of valid "
                                 "actions.",
                                 a);
        }
        char *sa = lmq__sqs_printf("SQS:%s", a);
        json_array_append_new(actions, json_string(sa ? sa : ""));
        free(sa);
    }
    json_t *policy;
    char *arn;
    if (load_policy(c, &policy, &arn)) {
        json_decref(principals);
        json_decref(actions);
        return -1;
    }
    int rc;
    if (find_sid(policy, label, &at)) {
        json_decref(principals);
        json_decref(actions);
        rc = lmq__sqs_fail(c, "InvalidParameterValue",
                           "Value %s for parameter Label is invalid. Reason: "
                           "Already exists.",
                           label);
    } else {
        json_array_append_new(
            json_object_get(policy, "Statement"),
            json_pack("{s:s,s:s,s:{s:o},s:o,s:s}", "Sid", label, "Effect",
                      "Allow", "Principal", "AWS", principals, "Action",
                      actions, "Resource", arn ? arn : ""));
        /* A Policy stored by the CLI may be one lmqd cannot evaluate
         * (it denies everything); adding to it would hide that. */
        char why[256];
        if (lmq__policy_check(policy, LMQ_POLICY_RESOURCE, why,
                              sizeof why) != 0)
            rc = lmq__sqs_fail(c, "InvalidParameterValue",
                               "The queue's Policy cannot be evaluated: %s. "
                               "Replace it with SetQueueAttributes.",
                               why);
        else
            rc = store_policy(c, policy);
    }
    json_decref(policy);
    free(arn);
    return rc;
}

static int
a_remove_permission(sqs_call *c)
{
    const char *label = str_in(c->in, "Label");
    json_t *policy;
    char *arn;
    size_t at;
    if (load_policy(c, &policy, &arn))
        return -1;
    int rc;
    if (!find_sid(policy, label, &at))
        rc = lmq__sqs_fail(c, "InvalidParameterValue",
                           "Value %.100s for parameter Label is invalid. "
                           "Reason: can't find label on existing policy.",
                           label);
    else {
        json_array_remove(json_object_get(policy, "Statement"), at);
        rc = store_policy(c, policy);
    }
    json_decref(policy);
    free(arn);
    return rc;
}

/* ---- sending ------------------------------------------------------------------ */

/* Decode a MessageAttributes (or system attributes) tree into list a.
 * Returns 0, or -1 with the call's error set. */
static int
mattrs_in(sqs_call *c, json_t *map, lmq_mattrs *a, int system,
          const char **trace)
{
    const char *name;
    json_t *v;
    json_object_foreach(map, name, v)
    {
        const char *type = str_in(v, "DataType");
        json_t *sl = json_object_get(v, "StringListValues");
        json_t *bl = json_object_get(v, "BinaryListValues");
        if (json_array_size(sl) > 0 || json_array_size(bl) > 0)
            return lmq__sqs_fail(c, "InvalidParameterValue",
                                 "Message attribute list values in %s are "
                                 "not supported.",
                                 name);
        if (system) {
            if (strcmp(name, "AWSTraceHeader") != 0)
                return lmq__sqs_fail(c, "InvalidParameterValue",
                                     "Message system attribute name '%.64s' "
                                     "is invalid.",
                                     name);
            if (!type || strcmp(type, "String") != 0 ||
                !str_in(v, "StringValue"))
                return lmq__sqs_fail(c, "InvalidParameterValue",
                                     "Message system attribute %s must be a "
                                     "String with a StringValue.",
                                     name);
            *trace = str_in(v, "StringValue");
            continue;
        }
        int rc;
        if (type && strncmp(type, "Binary", 6) == 0) {
            const char *b64 = str_in(v, "BinaryValue");
            if (!b64 || !*b64)
                return lmq__sqs_fail(c, "InvalidParameterValue",
                                     "The message attribute '%.64s' must "
                                     "contain non-empty message attribute "
                                     "value for message attribute type "
                                     "'%.64s'.",
                                     name, type);
            size_t bl64 = strlen(b64), len = 0;
            unsigned char *bin = malloc(bl64 + 1);
            if (!bin)
                return lmq__sqs_fail_lmq(c, LMQ_ENOMEM);
            if (sodium_base642bin(bin, bl64 + 1, b64, bl64, "\r\n", &len,
                                  NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
                free(bin);
                return lmq__sqs_fail(c, "InvalidParameterValue",
                                     "The binary value of message attribute "
                                     "'%.64s' is not valid base64.",
                                     name);
            }
            rc = lmq_mattrs_add(a, name, type, bin, len);
            free(bin);
        } else {
            json_t *sv = json_object_get(v, "StringValue");
            const char *s = json_string_value(sv);
            if (!s || json_string_length(sv) == 0)
                return lmq__sqs_fail(c, "InvalidParameterValue",
                                     "The message attribute '%.64s' must "
                                     "contain non-empty message attribute "
                                     "value for message attribute type "
                                     "'%.64s'.",
                                     name, type ? type : "");
            rc = lmq_mattrs_add(a, name, type ? type : "", s,
                                json_string_length(sv));
        }
        if (rc)
            return lmq__sqs_fail_lmq(c, rc);
    }
    return 0;
}

/* One send entry from its tree; *attrs is the entry's list (caller frees). */
static int
entry_in(sqs_call *c, json_t *e, lmq_send_entry *se, lmq_mattrs **attrs)
{
    lmq_send_entry_init(se);
    *attrs = NULL;
    json_t *body = json_object_get(e, "MessageBody");
    se->id = str_in(e, "Id");
    se->body = json_string_value(body);
    se->body_len = json_string_length(body);
    if (secs_in(c, e, "DelaySeconds", &se->delay_seconds))
        return -1;
    se->group_id = str_in(e, "MessageGroupId");
    se->dedup_id = str_in(e, "MessageDeduplicationId");
    json_t *ma = json_object_get(e, "MessageAttributes");
    json_t *sa = json_object_get(e, "MessageSystemAttributes");
    if (ma && json_object_size(ma) > 0) {
        if (!(*attrs = lmq_mattrs_new()))
            return lmq__sqs_fail_lmq(c, LMQ_ENOMEM);
        if (mattrs_in(c, ma, *attrs, 0, NULL))
            return -1;
        se->attrs = *attrs;
    }
    if (sa && mattrs_in(c, sa, NULL, 1, &se->trace_header))
        return -1;
    return 0;
}

static void
send_result_out(json_t *o, const lmq_send_result *r)
{
    json_object_set_new(o, "MD5OfMessageBody", json_string(r->md5_body));
    if (r->md5_attrs[0])
        json_object_set_new(o, "MD5OfMessageAttributes",
                            json_string(r->md5_attrs));
    if (r->md5_sys_attrs[0])
        json_object_set_new(o, "MD5OfMessageSystemAttributes",
                            json_string(r->md5_sys_attrs));
    json_object_set_new(o, "MessageId", json_string(r->message_id));
    if (r->sequence_number[0])
        json_object_set_new(o, "SequenceNumber",
                            json_string(r->sequence_number));
}

static int
a_send_message(sqs_call *c)
{
    lmq_send_entry e;
    lmq_mattrs *attrs;
    lmq_send_result res;
    lmq_queue *q;
    if (entry_in(c, c->in, &e, &attrs)) {
        lmq_mattrs_free(attrs);
        return -1;
    }
    int rc, tries = 0;
    do {
        rc = queue_of(c, &q);
        if (rc == 0)
            rc = lmq_send(q, &e, &res);
    } while (stale(c, rc, &tries));
    lmq_mattrs_free(attrs);
    if (rc)
        return lmq__sqs_fail_lmq(c, rc);
    c->out = json_object();
    send_result_out(c->out, &res);
    return 0;
}

static json_t *
batch_error(const char *id, int rc, const char *msg)
{
    const sqs_error *e = lmq__sqs_error_of(rc);
    char clean[512];
    snprintf(clean, sizeof clean, "%s", msg ? lmq__sqs_detail(msg) : "");
    lmq__sqs_clean_text(clean);
    return json_pack("{s:s,s:b,s:s,s:s}", "Id", id ? id : "", "SenderFault",
                     !e->receiver, "Code", e->code ? e->code : e->shape,
                     "Message", clean);
}

/* More than 10 entries: refused before the library sees them, with the
 * library's text (it has set no error detail here). */
static int
too_many(sqs_call *c, size_t n)
{
    return lmq__sqs_fail(c, "TooManyEntriesInBatchRequest",
                         "Maximum number of entries per request are %d. "
                         "You have sent %zu.", MAX_MSGS, n);
}

static int
a_send_message_batch(sqs_call *c)
{
    json_t *entries = json_object_get(c->in, "Entries");
    size_t n = json_array_size(entries);
    if (n > MAX_MSGS)
        return too_many(c, n);
    lmq_send_entry se[MAX_MSGS];
    lmq_mattrs *attrs[MAX_MSGS] = {0};
    lmq_send_result res[MAX_MSGS];
    size_t k = 0;
    json_t *failed = json_array(), *ok = json_array();
    int rc = 0;
    /* An entry whose attributes do not decode fails alone, as an entry the
     * library refuses does; the others go to the library together. */
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(entries, i);
        c->err_shape = NULL;
        if (entry_in(c, e, &se[k], &attrs[k])) {
            json_array_append_new(
                failed, json_pack("{s:s,s:b,s:s,s:s}", "Id",
                                  str_in(e, "Id") ? str_in(e, "Id") : "",
                                  "SenderFault", 1, "Code",
                                  lmq__sqs_error_find(c->err_shape)->code,
                                  "Message", c->err_msg));
            lmq_mattrs_free(attrs[k]);
            attrs[k] = NULL;
            c->err_shape = NULL;
            continue;
        }
        k++;
    }
    if (n == 0 || k > 0) {
        lmq_queue *q;
        int tries = 0;
        do {
            rc = queue_of(c, &q);
            if (rc == 0)
                rc = lmq_send_batch(q, se, k, res);
        } while (stale(c, rc, &tries));
        if (rc)
            rc = lmq__sqs_fail_lmq(c, rc);
    }
    for (size_t i = 0; i < k && rc == 0; i++) {
        if (res[i].err) {
            json_array_append_new(failed, batch_error(se[i].id, res[i].err,
                                                      res[i].errmsg));
        } else {
            json_t *o = json_pack("{s:s}", "Id", se[i].id);
            send_result_out(o, &res[i]);
            json_array_append_new(ok, o);
        }
    }
    for (size_t i = 0; i < k; i++)
        lmq_mattrs_free(attrs[i]);
    if (rc) {
        json_decref(failed);
        json_decref(ok);
        return -1;
    }
    c->out = json_pack("{s:o,s:o}", "Successful", ok, "Failed", failed);
    return 0;
}

/* ---- receiving -------------------------------------------------------------- */

static const char *const system_names[] = {
    "SenderId", "SentTimestamp", "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp", "SequenceNumber",
    "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader",
    "DeadLetterQueueSourceArn", NULL};

/* Whether system attribute name was asked for (AttributeNames and
 * MessageSystemAttributeNames are unioned; "All" asks for every one). */
static int
wanted(json_t *in, const char *name)
{
    const char *lists[] = {"AttributeNames", "MessageSystemAttributeNames"};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(in, lists[l]), i, v)
        {
            const char *s = json_string_value(v);
            if (strcmp(s, "All") == 0 || strcmp(s, name) == 0)
                return 1;
        }
    }
    return 0;
}

static json_t *
message_out(json_t *in, const lmq_msg *m)
{
    size_t blen;
    const char *body = lmq_msg_body(m, &blen);
    json_t *o = json_object();
    json_object_set_new(o, "MessageId", json_string(lmq_msg_id(m)));
    json_object_set_new(o, "ReceiptHandle", json_string(lmq_msg_receipt(m)));
    json_object_set_new(o, "MD5OfBody", json_string(lmq_msg_md5_body(m)));
    json_object_set_new(o, "Body", json_stringn(body, blen));
    json_t *sys = json_object();
    for (const char *const *p = system_names; *p; p++) {
        const char *v;
        if (wanted(in, *p) && (v = lmq_msg_sys_attr(m, *p)) != NULL)
            json_object_set_new(sys, *p, json_string(v));
    }
    if (json_object_size(sys) > 0)
        json_object_set_new(o, "Attributes", sys);
    else
        json_decref(sys);
    const lmq_mattrs *a = lmq_msg_attrs(m);
    if (lmq_mattrs_count(a) > 0) {
        json_t *ma = json_object();
        for (size_t i = 0; i < lmq_mattrs_count(a); i++) {
            const char *name, *type;
            const void *val;
            size_t len;
            if (lmq_mattrs_at(a, i, &name, &type, &val, &len) != 0)
                continue;
            json_t *v = json_pack("{s:s}", "DataType", type);
            if (strncmp(type, "Binary", 6) == 0) {
                size_t b64len = sodium_base64_encoded_len(
                    len, sodium_base64_VARIANT_ORIGINAL);
                char *b64 = malloc(b64len);
                if (b64) {
                    sodium_bin2base64(b64, b64len, val, len,
                                      sodium_base64_VARIANT_ORIGINAL);
                    json_object_set_new(v, "BinaryValue", json_string(b64));
                    free(b64);
                }
            } else {
                json_object_set_new(v, "StringValue",
                                    json_stringn(val, len));
            }
            json_object_set_new(ma, name, v);
        }
        json_object_set_new(o, "MD5OfMessageAttributes",
                            json_string(lmq_msg_md5_attrs(m)));
        json_object_set_new(o, "MessageAttributes", ma);
    }
    return o;
}

static int
a_receive_message(sqs_call *c)
{
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.max_messages = int_in(c->in, "MaxNumberOfMessages", 1);
    if (secs_in(c, c->in, "VisibilityTimeout", &o.visibility_timeout) ||
        secs_in(c, c->in, "WaitTimeSeconds", &o.wait_seconds))
        return -1;
    o.attempt_id = str_in(c->in, "ReceiveRequestAttemptId");
    if (c->flags & SQS_EXEC_LAST)
        o.wait_seconds = 0; /* the wait is over: a poll that counts */
    int oom;
    const char **an = strv_in(c->in, "MessageAttributeNames", &oom);
    if (oom)
        return lmq__sqs_fail_lmq(c, LMQ_ENOMEM);
    o.attribute_names = an;
    lmq_msg *msgs[MAX_MSGS];
    size_t n = 0;
    lmq_queue *q = NULL;
    int rc, tries = 0;
    uint32_t token = 0;
    int64_t next_ms = 0;
    int wait_s = 0;
    do {
        rc = queue_of(c, &q);
        if (rc == 0 && (c->flags & SQS_EXEC_PARK))
            rc = lmq_receive_poll(q, &o, msgs, MAX_MSGS, &n, &token,
                                  &next_ms, &wait_s);
        else if (rc == 0)
            rc = lmq_receive(q, &o, msgs, MAX_MSGS, &n);
    } while (stale(c, rc, &tries));
    free(an);
    if (rc)
        return lmq__sqs_fail_lmq(c, rc);
    if (n == 0 && (c->flags & SQS_EXEC_PARK) && wait_s > 0) {
        c->resp->park = 1;
        c->resp->park_token = token;
        c->resp->park_next_ms = next_ms;
        c->resp->park_wait_ms = wait_s * 1000;
        c->resp->park_queue = q;
        return 0;
    }
    c->out = json_object();
    if (n > 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(list, message_out(c->in, msgs[i]));
            lmq_msg_free(msgs[i]);
        }
        json_object_set_new(c->out, "Messages", list);
    }
    return 0;
}

/* ---- deleting and changing visibility ---------------------------------------- */

static int
a_delete_message(sqs_call *c)
{
    lmq_queue *q;
    int rc, tries = 0;
    do {
        rc = queue_of(c, &q);
        if (rc == 0)
            rc = lmq_delete(q, str_in(c->in, "ReceiptHandle"), NULL);
    } while (stale(c, rc, &tries));
    return rc ? lmq__sqs_fail_lmq(c, rc) : 0;
}

static int
a_change_visibility(sqs_call *c)
{
    lmq_queue *q;
    int rc, tries = 0;
    do {
        rc = queue_of(c, &q);
        if (rc == 0)
            rc = lmq_change_visibility(q, str_in(c->in, "ReceiptHandle"),
                                       int_in(c->in, "VisibilityTimeout", 0),
                                       NULL);
    } while (stale(c, rc, &tries));
    return rc ? lmq__sqs_fail_lmq(c, rc) : 0;
}

static int
handle_batch(sqs_call *c, int change)
{
    json_t *entries = json_object_get(c->in, "Entries");
    size_t n = json_array_size(entries);
    if (n > MAX_MSGS)
        return too_many(c, n);
    lmq_handle_entry e[MAX_MSGS];
    lmq_batch_result res[MAX_MSGS];
    json_t *failed = json_array(), *ok = json_array();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(entries, i);
        if (change && !json_object_get(v, "VisibilityTimeout")) {
            json_array_append_new(
                failed,
                json_pack("{s:s,s:b,s:s,s:s}", "Id", str_in(v, "Id"),
                          "SenderFault", 1, "Code", "MissingParameter",
                          "Message",
                          "The request must contain the parameter "
                          "VisibilityTimeout."));
            continue;
        }
        e[k].id = str_in(v, "Id");
        e[k].receipt = str_in(v, "ReceiptHandle");
        e[k].timeout_seconds = int_in(v, "VisibilityTimeout", 0);
        k++;
    }
    lmq_queue *q;
    int rc = 0;
    if (n == 0 || k > 0) {
        int tries = 0;
        do {
            rc = queue_of(c, &q);
            if (rc == 0)
                rc = change ? lmq_change_visibility_batch(q, e, k, res)
                            : lmq_delete_batch(q, e, k, res);
        } while (stale(c, rc, &tries));
        if (rc)
            rc = lmq__sqs_fail_lmq(c, rc);
    }
    if (rc) {
        json_decref(failed);
        json_decref(ok);
        return -1;
    }
    for (size_t i = 0; i < k; i++) {
        if (res[i].err)
            json_array_append_new(failed,
                                  batch_error(e[i].id, res[i].err,
                                              res[i].errmsg));
        else
            json_array_append_new(ok, json_pack("{s:s}", "Id", e[i].id));
    }
    c->out = json_pack("{s:o,s:o}", "Successful", ok, "Failed", failed);
    return 0;
}

static int
a_delete_message_batch(sqs_call *c)
{
    return handle_batch(c, 0);
}

static int
a_change_visibility_batch(sqs_call *c)
{
    return handle_batch(c, 1);
}

/* ---- message move tasks ------------------------------------------------------ */

static int
a_start_task(sqs_call *c)
{
    char *handle = NULL;
    int rc = lmq_move_task_start(
        c->ctx->env, str_in(c->in, "SourceArn"),
        str_in(c->in, "DestinationArn"),
        int_in(c->in, "MaxNumberOfMessagesPerSecond", 0), &handle);
    if (rc)
        return lmq__sqs_fail_lmq(c, rc);
    if (c->ctx->task_started)
        c->ctx->task_started(c->ctx->task_arg, handle);
    c->out = json_pack("{s:s}", "TaskHandle", handle);
    free(handle);
    return 0;
}

static int
a_cancel_task(sqs_call *c)
{
    uint64_t moved = 0;
    int rc = lmq_move_task_cancel(c->ctx->env, str_in(c->in, "TaskHandle"),
                                  &moved);
    if (rc)
        return lmq__sqs_fail_lmq(c, rc);
    c->out = json_pack("{s:I}", "ApproximateNumberOfMessagesMoved",
                       (json_int_t)moved);
    return 0;
}

static int
a_list_tasks(sqs_call *c)
{
    lmq_move_task *t = NULL;
    size_t n = 0;
    int rc = lmq_move_task_list(c->ctx->env, str_in(c->in, "SourceArn"),
                                int_in(c->in, "MaxResults", 0), &t, &n);
    if (rc)
        return lmq__sqs_fail_lmq(c, rc);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        if (t[i].task_handle)
            json_object_set_new(o, "TaskHandle",
                                json_string(t[i].task_handle));
        json_object_set_new(o, "Status",
                            json_string(lmq_move_status_name(t[i].status)));
        json_object_set_new(o, "SourceArn", json_string(t[i].source_arn));
        if (t[i].destination_arn)
            json_object_set_new(o, "DestinationArn",
                                json_string(t[i].destination_arn));
        if (t[i].max_per_second > 0)
            json_object_set_new(o, "MaxNumberOfMessagesPerSecond",
                                json_integer(t[i].max_per_second));
        json_object_set_new(o, "ApproximateNumberOfMessagesMoved",
                            json_integer((json_int_t)t[i].moved));
        json_object_set_new(o, "ApproximateNumberOfMessagesToMove",
                            json_integer((json_int_t)t[i].to_move));
        if (t[i].failure_reason)
            json_object_set_new(o, "FailureReason",
                                json_string(t[i].failure_reason));
        json_object_set_new(o, "StartedTimestamp",
                            json_integer((json_int_t)t[i].started_ms));
        json_array_append_new(list, o);
    }
    lmq_move_task_list_free(t, n);
    c->out = json_object();
    if (n > 0)
        json_object_set_new(c->out, "Results", list);
    else
        json_decref(list);
    return 0;
}

/* ---- the table ---------------------------------------------------------------- */

#define Q SQS_A_QUEUE
#define RO SQS_A_RO

static const sqs_action actions[] = {
    {"AddPermission", &sqs_in_add_permission, NULL, a_add_permission, Q},
    {"CancelMessageMoveTask", &sqs_in_cancel_task, &sqs_out_cancel_task,
     a_cancel_task, 0},
    {"ChangeMessageVisibility", &sqs_in_change_vis, NULL, a_change_visibility,
     Q},
    {"ChangeMessageVisibilityBatch", &sqs_in_change_vis_batch,
     &sqs_out_change_batch, a_change_visibility_batch, Q},
    {"CreateQueue", &sqs_in_create_queue, &sqs_out_queue_url, a_create_queue,
     0},
    {"DeleteMessage", &sqs_in_delete_message, NULL, a_delete_message, Q},
    {"DeleteMessageBatch", &sqs_in_delete_message_batch,
     &sqs_out_delete_batch, a_delete_message_batch, Q},
    {"DeleteQueue", &sqs_in_queue_only, NULL, a_delete_queue, Q},
    {"GetQueueAttributes", &sqs_in_get_queue_attributes, &sqs_out_attrs,
     a_get_queue_attributes, Q | RO},
    {"GetQueueUrl", &sqs_in_get_queue_url, &sqs_out_queue_url,
     a_get_queue_url, RO},
    {"ListDeadLetterSourceQueues", &sqs_in_list_dlq_sources,
     &sqs_out_list_dlq, a_list_dlq_sources, Q | RO},
    {"ListMessageMoveTasks", &sqs_in_list_tasks, &sqs_out_list_tasks,
     a_list_tasks, 0},
    {"ListQueueTags", &sqs_in_queue_only, &sqs_out_tags, a_list_queue_tags,
     Q | RO},
    {"ListQueues", &sqs_in_list_queues, &sqs_out_list_queues, a_list_queues,
     RO},
    {"PurgeQueue", &sqs_in_queue_only, NULL, a_purge_queue, Q},
    {"ReceiveMessage", &sqs_in_receive, &sqs_out_receive, a_receive_message,
     Q},
    {"RemovePermission", &sqs_in_remove_permission, NULL, a_remove_permission,
     Q},
    {"SendMessage", &sqs_in_send, &sqs_out_send, a_send_message, Q},
    {"SendMessageBatch", &sqs_in_send_batch, &sqs_out_send_batch,
     a_send_message_batch, Q},
    {"SetQueueAttributes", &sqs_in_set_queue_attributes, NULL,
     a_set_queue_attributes, Q},
    {"StartMessageMoveTask", &sqs_in_start_task, &sqs_out_start_task,
     a_start_task, 0},
    {"TagQueue", &sqs_in_tag_queue, NULL, a_tag_queue, Q},
    {"UntagQueue", &sqs_in_untag_queue, NULL, a_untag_queue, Q},
};

const sqs_action *
lmq__sqs_action_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof actions / sizeof *actions; i++)
        if (strlen(actions[i].name) == len &&
            memcmp(actions[i].name, name, len) == 0)
            return &actions[i];
    return NULL;
}

const sqs_action *
lmq__sqs_action_at(size_t i)
{
    return i < sizeof actions / sizeof *actions ? &actions[i] : NULL;
}

const char *
lmq__sqs_action_name(size_t i)
{
    const sqs_action *a = lmq__sqs_action_at(i);
    return a ? a->name : NULL;
}

/* ---- peeked messages (lmqd's /_aws/sqs/messages) -------------------------- */

void
lmq__sqs_encode_peek(sqs_proto proto, const char *request_id, int rc,
                     lmq_msg *const *msgs, size_t n, unsigned flags,
                     sqs_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    if (rc != 0) {
        const sqs_error *e = lmq__sqs_error_of(rc);
        char detail[512];
        snprintf(detail, sizeof detail, "%s",
                 rc == LMQ_ENOQUEUE ? "The specified queue does not exist."
                                    : lmq__sqs_detail(lmq_errmsg()));
        lmq__sqs_clean_text(detail);
        lmq__sqs_encode_error(proto, request_id, e->status, e->shape,
                              e->code, detail, resp);
        return;
    }
    const sqs_action *recv = lmq__sqs_action_find("ReceiveMessage", 14);
    sqs_req r;
    memset(&r, 0, sizeof r);
    r.proto = proto;
    r.action = recv;
    snprintf(r.action_name, sizeof r.action_name, "%s", recv->name);
    snprintf(r.id, sizeof r.id, "%s", request_id);
    /* Every system attribute, as LocalStack's peek answers. */
    json_t *in = json_pack("{s:[s]}", "AttributeNames", "All");
    json_t *out = json_object();
    if (n > 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
            const lmq_msg *m = msgs[i];
            json_t *o = message_out(in, m);
            json_t *sys = json_object_get(o, "Attributes");
            if (!sys) {
                sys = json_object();
                json_object_set_new(o, "Attributes", sys);
            }
            int st = lmq_msg_state(m);
            char at[24];
            snprintf(at, sizeof at, "%lld", (long long)lmq_msg_visible_at(m));
            /* Not a delivery: LocalStack's placeholder handle, which no
             * delete or visibility change accepts. */
            json_object_set_new(o, "ReceiptHandle",
                                json_string("SQS/BACKDOOR/ACCESS"));
            json_object_set_new(sys, "lmq:State",
                                json_string(lmq_msg_state_name(st)));
            json_object_set_new(sys, "lmq:VisibleAt", json_string(at));
            if (flags & SQS_PEEK_SHOW_INVISIBLE)
                json_object_set_new(sys, "IsVisible",
                                    json_string(st == LMQ_MSG_VISIBLE
                                                    ? "true"
                                                    : "false"));
            if (flags & SQS_PEEK_SHOW_DELAYED)
                json_object_set_new(sys, "IsDelayed",
                                    json_string(st == LMQ_MSG_DELAYED
                                                    ? "true"
                                                    : "false"));
            json_array_append_new(list, o);
        }
        json_object_set_new(out, "Messages", list);
    }
    if (proto == SQS_PROTO_JSON)
        lmq__sqs_json_encode(&r, out, resp);
    else
        lmq__sqs_xml_encode(&r, out, resp);
    json_decref(out);
    json_decref(in);
}
