/*
 * sqs_json.c: the AWS JSON 1.0 codec.
 *
 * Decoding: jansson parses the body (rejecting invalid UTF-8, duplicate
 * keys, numbers that overflow), then every member the action's input shape
 * knows is checked for its type, recursively; members the shape does not
 * know are ignored, as the service does. A malformed body or a member of
 * the wrong type is SerializationException; a missing required member is
 * MissingParameter (checked for both protocols in sqs_wire.c).
 *
 * Encoding: the output tree is the body. Errors carry the awsQueryCompatible
 * pair: __type (the shape) and the x-amzn-query-error header (Query code;
 * fault), SQS-SEMANTICS §6.2.3.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqs_int.h"

static const char *
type_name(sqs_stype t)
{
    switch (t) {
    case ST_STRING:
        return "a string";
    case ST_INT:
    case ST_LONG:
        return "an integer";
    case ST_BOOL:
        return "a boolean";
    case ST_BLOB:
        return "a base64 string";
    case ST_LIST:
        return "a list";
    case ST_MAP:
        return "a map";
    case ST_STRUCT:
        return "an object";
    }
    return "?";
}

static int
ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Check v against shape; path names the member for the message. */
static int
check(sqs_req *r, const sqs_shape *sh, json_t *v, const char *path)
{
    char sub[256];
    int ok = 0;
    switch (sh->type) {
    case ST_STRING:
    case ST_BLOB:
        ok = json_is_string(v);
        /* A NUL is legal JSON (\u0000). Only bodies and attribute values
         * are byte strings the library checks (InvalidMessageContents);
         * anywhere else it would cut a name short. */
        if (ok && strlen(json_string_value(v)) != json_string_length(v) &&
            !ends_with(path, "MessageBody") && !ends_with(path, "StringValue"))
            return lmq__sqs_req_fail(r, "InvalidParameterValue",
                                     "Value for %s must not contain NUL",
                                     path);
        break;
    case ST_INT:
        ok = json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
             json_integer_value(v) <= INT32_MAX;
        break;
    case ST_LONG:
        ok = json_is_integer(v);
        break;
    case ST_BOOL:
        ok = json_is_boolean(v);
        break;
    case ST_LIST:
        if (!json_is_array(v))
            break;
        for (size_t i = 0; i < json_array_size(v); i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            if (check(r, sh->elem, json_array_get(v, i), sub))
                return -1;
        }
        return 0;
    case ST_MAP: {
        if (!json_is_object(v))
            break;
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
            snprintf(sub, sizeof sub, "%s.%s", path, k);
            if (check(r, sh->elem, e, sub))
                return -1;
        }
        return 0;
    }
    case ST_STRUCT:
        if (!json_is_object(v))
            break;
        for (const sqs_member *m = sh->members; m->name; m++) {
            json_t *e = json_object_get(v, m->name);
            if (!e)
                continue;
            if (json_is_null(e)) {
                /* A null member is an absent one (JS clients send them). */
                json_object_del(v, m->name);
                continue;
            }
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "",
                     m->name);
            if (check(r, m->shape, e, sub))
                return -1;
        }
        return 0;
    }
    if (ok)
        return 0;
    if (sh->type == ST_INT && json_is_integer(v))
        return lmq__sqs_req_fail(r, "SerializationException",
                                 "Value for %s is out of range for an "
                                 "integer",
                                 path);
    return lmq__sqs_req_fail(r, "SerializationException",
                             "Value for %s must be %s", path,
                             type_name(sh->type));
}

int
lmq__sqs_json_decode(sqs_req *r, const char *body, size_t len)
{
    json_error_t err;
    if (len == 0) {
        /* An empty body is an empty input (botocore sends "{}"). */
        r->in = json_object();
        return r->in ? 0 : -1;
    }
    r->in = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!r->in)
        return lmq__sqs_req_fail(r, "SerializationException",
                                 "Malformed JSON body: %s (at byte %d)",
                                 err.text, err.position);
    if (!json_is_object(r->in))
        return lmq__sqs_req_fail(r, "SerializationException",
                                 "The request body must be a JSON object");
    if (r->action)
        return check(r, r->action->in, r->in, "");
    return 0;
}

static void
set_body(sqs_resp *resp, char *s)
{
    resp->body = s;
    resp->len = s ? strlen(s) : 0;
}

void
lmq__sqs_json_encode(sqs_req *r, json_t *out, sqs_resp *resp)
{
    (void)r;
    resp->status = 200;
    resp->content_type = "application/x-amz-json-1.0";
    set_body(resp, out ? json_dumps(out, JSON_COMPACT)
                       : lmq__sqs_strdup("{}"));
}

void
lmq__sqs_json_error(const char *rid, const sqs_error *e, const char *message,
                    sqs_resp *resp)
{
    (void)rid;
    json_t *o = json_object();
    char type[128];
    /* Modelled SQS errors live in the service's namespace; the framework's
     * own (SerializationException, UnknownOperationException) in coral's. */
    snprintf(type, sizeof type, "%s#%s",
             e->modelled ? "com.amazonaws.sqs" : "com.amazon.coral.service",
             e->shape);
    json_object_set_new(o, "__type", json_string(type));
    json_object_set_new(o, "message", json_string(message ? message : ""));
    resp->status = e->status;
    resp->content_type = "application/x-amz-json-1.0";
    set_body(resp, json_dumps(o, JSON_COMPACT));
    json_decref(o);
    if (e->code)
        snprintf(resp->query_error, sizeof resp->query_error, "%s;%s",
                 e->code, e->receiver ? "Receiver" : "Sender");
    snprintf(resp->code, sizeof resp->code, "%s", e->code ? e->code : e->shape);
}
