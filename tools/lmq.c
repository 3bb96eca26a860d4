/*
 * lmq.c: the `lmq` command-line tool, shaped like `aws sqs` (AWS CLI v2).
 *
 * How it works: main() reads the global options (--home, --durability,
 * --output, plus a few AWS CLI globals accepted and ignored so that pasted
 * aws commands run) and the subcommand, then parses the subcommand's flags
 * against its table in `cmds` (same names as aws sqs). Values are resolved
 * once (file://, fileb://) and kept as tokens; each command converts the
 * ones it reads (shorthand or JSON, integers) and calls the public lmq API
 * only (lmq.h), so the tool is also a proof that the API is enough.
 *
 * Output follows the AWS CLI: the JSON document of the response (see
 * lmq_out.c for the exact rules), nothing for an empty response, errors on
 * stderr as botocore renders them (SQS's Query codes). Exit statuses are
 * AWS CLI v2's: 0, 252 for usage errors (unknown or missing flags,
 * unparsable values, JSON of the wrong type), 253 when the home cannot be
 * used as configured (missing for a read-only command, permissions, a
 * region that disagrees), 254 for service errors (any lmq_err from the
 * library), 255 for the rest, 130 after SIGINT.
 *
 * Rejected: mapping flags straight onto library calls with getopt_long.
 * getopt's rules (permutation, abbreviations, optional arguments) differ
 * from argparse's, and list-valued flags (--entries a b c) take several
 * tokens, which getopt cannot express.
 *
 * Invariant: every path frees what it allocated, so the tool stays clean
 * under ASan/LSan when the test suite runs it in a sanitizer build.
 */
#include "lmq_cli.h"
#include "homefile.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The most messages one receive returns (SQS MaxNumberOfMessages). */
#define LMQ_RECV_MAX_CLI 10

/* ---- helpers ------------------------------------------------------------ */

void
cli_env_opts(const cli_ctx *c, lmq_env_opts *o)
{
    lmq_env_opts_init(o);
    o->durability = c->durability;
    o->map_mode = c->map_mode;
    if (c->flush_interval_ms)
        o->flush_interval_ms = c->flush_interval_ms;
    o->key_file = c->key_file;
    o->key_passphrase_file = c->key_passphrase_file;
    o->key_process = c->key_process;
    o->group = c->group;
    o->strict_permissions = c->strict_permissions;
    o->max_bytes = c->max_bytes;
    o->max_messages = c->max_messages;
    if (c->disk_reserve_set)
        o->disk_reserve = c->disk_reserve;
    o->region = c->region;
    o->account = c->account;
    o->must_exist = c->must_exist;
}

/* A byte count: digits, optionally followed by k, m or g (KiB, MiB,
 * GiB). 0 or -1. */
static int
parse_bytes(const char *s, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    int shift = 0;
    if (*end == 'k' || *end == 'K')
        shift = 10;
    else if (*end == 'm' || *end == 'M')
        shift = 20;
    else if (*end == 'g' || *end == 'G')
        shift = 30;
    if (shift)
        end++;
    if (errno || *end || v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

/* --max-home-bytes / --disk-reserve, else $LMQ_MAX_HOME_BYTES /
 * $LMQ_DISK_RESERVE. */
static int
global_bytes(const char *flag, const char *var, const char *val,
             uint64_t *out, int *set)
{
    const char *v = val ? val : getenv(var);
    if (!v || !*v)
        return 0;
    if (parse_bytes(v, out) != 0)
        return cli_usage_error("%s%s: expected a byte count (digits, "
                               "optionally k, m or g), got '%s'",
                               val ? "argument --" : "$", val ? flag : var,
                               v);
    if (set)
        *set = 1;
    return 0;
}

/* --max-home-messages, else $LMQ_MAX_HOME_MESSAGES: a count of messages
 * (digits, 0 for none). */
static int
global_count(const char *flag, const char *var, const char *val,
             uint64_t *out)
{
    const char *v = val ? val : getenv(var);
    char *end;
    if (!v || !*v)
        return 0;
    errno = 0;
    unsigned long long n = *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
    if (*v < '0' || *v > '9' || errno || *end || n > 1000000000000000ull)
        return cli_usage_error("%s%s: expected a number of messages (0 to "
                               "10^15), got '%s'",
                               val ? "argument --" : "$", val ? flag : var,
                               v);
    *out = n;
    return 0;
}

/* The env of the running command, for the SIGINT handler. */
static lmq_env *volatile sig_env;

static void
on_sigint(int sig)
{
    (void)sig;
    cli_sigint = 1;
    lmq_env *e = sig_env;
    if (e)
        lmq_env_interrupt(e);
}

int
cli_env_open(cli_ctx *c, const lmq_env_opts *o)
{
    const char *warning = NULL;
    int rc = lmq_env_open(c->home, o, &c->env);
    if (rc != 0) {
        fprintf(stderr, "\nCould not open the lmq home %s (%s): %s\n%s\n",
                c->home, c->home_from ? c->home_from : "--home",
                cli_strip_errmsg(lmq_errmsg()), lmq__home_hint(rc));
        /* The home is lmq's configuration: a missing, unreachable or
         * mismatched one is AWS CLI's class 253; I/O errors, corruption
         * and the rest are 255. */
        return rc == LMQ_ENOTFOUND || rc == LMQ_EPERM || rc == LMQ_EINVAL ||
                       rc == LMQ_EVERSION || rc == LMQ_EKEY
                   ? CLI_EXIT_CONFIG
                   : CLI_EXIT_OTHER;
    }
    sig_env = c->env;
    if (cli_sigint)
        lmq_env_interrupt(c->env);
    if (lmq_env_warnings(c->env, &warning) == 0 && warning)
        fprintf(stderr, "lmq: warning: %s\n", warning);
    return 0;
}

int
cli_env(cli_ctx *c)
{
    lmq_env_opts o;

    if (c->env)
        return 0;
    cli_env_opts(c, &o);
    return cli_env_open(c, &o);
}

/* The queue name of --queue-url (a URL or a bare name). */
static int
queue_name(cli_ctx *c, char **name)
{
    const char *url = cli_opt_str(c, "queue-url");
    int rc = lmq_queue_name_from_url(url ? url : "", name);
    if (rc != 0)
        return cli_service_error(c, rc);
    return 0;
}

/* Open the env and the queue of --queue-url. */
static int
open_queue(cli_ctx *c, lmq_queue **q)
{
    char *name = NULL;
    int rc;

    *q = NULL;
    if ((rc = cli_env(c)) != 0)
        return rc;
    if ((rc = queue_name(c, &name)) != 0)
        return rc;
    rc = lmq_queue_open(c->env, name, q);
    free(name);
    if (rc != 0)
        return cli_service_error(c, rc);
    return 0;
}

/* A JSON object of strings to an lmq_map; *out NULL on error (printed). */
static int
map_from_json(const char *param, json_t *obj, lmq_map **out)
{
    const char *k;
    json_t *v;
    lmq_map *m = lmq_map_new();

    *out = NULL;
    if (!m) {
        fprintf(stderr, "\nout of memory\n");
        return CLI_EXIT_OTHER;
    }
    json_object_foreach(obj, k, v) {
        char *s;
        /* botocore's validation: map values are strings (a RedrivePolicy
         * is a JSON string, not an object). */
        if (!json_is_string(v)) {
            char path[512];
            lmq_map_free(m);
            snprintf(path, sizeof path, "%s.%s", param, k);
            return cli_type_error(path, v, "<class 'str'>");
        }
        s = strdup(json_string_value(v));
        if (!s || lmq_map_set(m, k, s) != 0) {
            free(s);
            lmq_map_free(m);
            fprintf(stderr, "\nout of memory\n");
            return CLI_EXIT_OTHER;
        }
        free(s);
    }
    *out = m;
    return 0;
}

/* The lmq_map of a map flag (NULL when the flag is absent). */
static int
opt_map(const cli_ctx *c, const char *flag, const char *param, lmq_map **out)
{
    const cli_opt *o = cli_opt_get(c, flag);
    json_t *obj;
    int rc;

    *out = NULL;
    if (!o)
        return 0;
    if (!(obj = cli_parse_map(flag, o)))
        return CLI_EXIT_USAGE;
    rc = map_from_json(param, obj, out);
    json_decref(obj);
    return rc;
}

/* The strings of a list flag as a NULL-terminated array pointing into *arr
 * (free the array, decref *arr). */
static int
opt_strv(const cli_ctx *c, const char *flag, const char *param, json_t **arr,
         const char ***out)
{
    const cli_opt *o = cli_opt_get(c, flag);
    const char **v;
    size_t i;
    json_t *e;

    *arr = NULL;
    *out = NULL;
    if (!o)
        return 0;
    if (!(*arr = cli_parse_list(flag, o)))
        return CLI_EXIT_USAGE;
    v = calloc(json_array_size(*arr) + 1, sizeof *v);
    if (!v) {
        json_decref(*arr);
        *arr = NULL;
        return CLI_EXIT_OTHER;
    }
    json_array_foreach(*arr, i, e) {
        if (!json_is_string(e)) {
            char path[512];
            snprintf(path, sizeof path, "%s[%zu]", param, i);
            int rc = cli_type_error(path, e, "<class 'str'>");
            free(v);
            json_decref(*arr);
            *arr = NULL;
            return rc;
        }
        v[i] = json_string_value(e);
    }
    *out = v;
    return 0;
}

/* An integer member of an entry: a JSON integer (shorthand's digits were
 * made integers by cli_parse_structs, as the AWS CLI's model does). */
static int
member_int(json_t *entry, const char *key, const char *path, int *out,
           int *present)
{
    json_t *v = json_object_get(entry, key);

    *present = 0;
    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= INT_MIN &&
        json_integer_value(v) <= INT_MAX) {
        *out = (int)json_integer_value(v);
    } else if (json_is_boolean(v)) {
        *out = json_is_true(v); /* a Python bool is an int */
    } else {
        char p[512];
        snprintf(p, sizeof p, "%s.%s", path, key);
        return cli_type_error(p, v, "<class 'int'>");
    }
    *present = 1;
    return 0;
}

/* A string member of an entry (NULL when absent). */
static int
member_str(json_t *entry, const char *key, const char *path, int required,
           const char **out, size_t *len)
{
    json_t *v = json_object_get(entry, key);

    *out = NULL;
    if (!v) {
        if (required)
            return cli_param_error("Missing required parameter in %s: "
                                   "\"%s\"",
                                   path, key);
        return 0;
    }
    if (!json_is_string(v)) {
        char p[512];
        snprintf(p, sizeof p, "%s.%s", path, key);
        return cli_type_error(p, v, "<class 'str'>");
    }
    *out = json_string_value(v);
    if (len)
        *len = json_string_length(v);
    return 0;
}

/* Reject members of an entry that its shape does not have, as botocore's
 * parameter validation does. */
static int
check_members(json_t *entry, const char *path, const char *const *allowed)
{
    const char *k;
    json_t *v;

    if (!json_is_object(entry))
        return cli_type_error(path, entry, "<class 'dict'>");
    json_object_foreach(entry, k, v) {
        size_t i;
        for (i = 0; allowed[i]; i++)
            if (strcmp(allowed[i], k) == 0)
                break;
        if (!allowed[i]) {
            char list[256] = "";
            for (i = 0; allowed[i]; i++) {
                if (i)
                    strncat(list, ", ", sizeof list - strlen(list) - 1);
                strncat(list, allowed[i], sizeof list - strlen(list) - 1);
            }
            return cli_param_error("Unknown parameter in %s: \"%s\", must "
                                   "be one of: %s",
                                   path, k, list);
        }
    }
    return 0;
}

/* A MessageAttributes JSON object to an lmq_mattrs (NULL when absent). */
static int
mattrs_from_json(json_t *obj, const char *path, lmq_mattrs **out)
{
    static const char *const mav[] = {"StringValue", "BinaryValue",
                                      "StringListValues", "BinaryListValues",
                                      "DataType", NULL};
    const char *name;
    json_t *v;
    lmq_mattrs *a;
    char sub[512];
    int rc;

    *out = NULL;
    if (!obj)
        return 0;
    if (!json_is_object(obj))
        return cli_type_error(path, obj, "<class 'dict'>");
    if (!(a = lmq_mattrs_new()))
        return CLI_EXIT_OTHER;
    json_object_foreach(obj, name, v) {
        const char *type, *sval;
        size_t slen = 0;
        unsigned char *bin = NULL;
        size_t binlen = 0;
        json_t *bv;

        snprintf(sub, sizeof sub, "%s.%s", path, name);
        if ((rc = check_members(v, sub, mav)) != 0 ||
            (rc = member_str(v, "DataType", sub, 1, &type, NULL)) != 0 ||
            (rc = member_str(v, "StringValue", sub, 0, &sval, &slen)) != 0)
            goto fail;
        bv = json_object_get(v, "BinaryValue");
        if (bv && cli_binary_raw && json_is_string(bv)) {
            /* raw-in-base64-out: the text's bytes are the value. */
            binlen = json_string_length(bv);
            if (!(bin = malloc(binlen + 1))) {
                rc = CLI_EXIT_OTHER;
                goto fail;
            }
            memcpy(bin, json_string_value(bv), binlen);
        } else if (bv) {
            if (!json_is_string(bv) ||
                cli_b64_decode(json_string_value(bv), &bin, &binlen) != 0) {
                rc = cli_param_error("Invalid base64 for parameter "
                                     "%s.BinaryValue",
                                     sub);
                goto fail;
            }
        }
        /* The library validates names, types and empty values, so the
         * errors match what the endpoint reports. */
        if (strncmp(type, "Binary", 6) == 0)
            rc = lmq_mattrs_add(a, name, type, bin ? (void *)bin : "",
                                bin ? binlen : 0);
        else
            rc = lmq_mattrs_add(a, name, type, sval ? sval : "",
                                sval ? slen : 0);
        free(bin);
        if (rc != 0) {
            rc = CLI_EXIT_OTHER;
            fprintf(stderr, "\nout of memory\n");
            goto fail;
        }
    }
    *out = a;
    return 0;
fail:
    lmq_mattrs_free(a);
    return rc;
}

/* The AWSTraceHeader of a MessageSystemAttributes object. */
static int
trace_from_json(json_t *obj, const char *path, const char **out)
{
    static const char *const mav[] = {"StringValue", "BinaryValue",
                                      "StringListValues", "BinaryListValues",
                                      "DataType", NULL};
    const char *name;
    json_t *v;
    char sub[512];
    int rc;

    *out = NULL;
    if (!obj)
        return 0;
    if (!json_is_object(obj))
        return cli_type_error(path, obj, "<class 'dict'>");
    json_object_foreach(obj, name, v) {
        const char *type;
        snprintf(sub, sizeof sub, "%s.%s", path, name);
        if ((rc = check_members(v, sub, mav)) != 0 ||
            (rc = member_str(v, "DataType", sub, 1, &type, NULL)) != 0 ||
            (rc = member_str(v, "StringValue", sub, 0, out, NULL)) != 0)
            return rc;
        if (strcmp(name, "AWSTraceHeader") != 0)
            return cli_param_error("Value %s for parameter %s is invalid: "
                                   "the only system attribute is "
                                   "AWSTraceHeader",
                                   name, path);
    }
    return 0;
}

static json_t *
batch_failed(const char *id, int err, const char *errmsg)
{
    const char *code = lmq_err_sqs_code(err);
    const char *msg = cli_strip_errmsg(errmsg);
    json_t *f = json_object();

    if (!*msg)
        msg = cli_strip_errmsg(lmq_strerror(err));
    json_object_set_new(f, "Id", json_string(id));
    json_object_set_new(f, "SenderFault", json_true());
    json_object_set_new(f, "Code",
                        json_string(*code ? code : "InternalFailure"));
    json_object_set_new(f, "Message", cli_jstr(msg, strlen(msg)));
    return f;
}

/* The message of a negative number of seconds the library would take as
 * -1, "the queue's" (the same words as lmqd's). */
static void
neg_secs_msg(char *buf, size_t len, const char *param, long long v)
{
    snprintf(buf, len,
             "Value %lld for parameter %s is invalid. Reason: Must be >= 0, "
             "if provided.",
             v, param);
}

/* A seconds flag given a negative value: the service error SQS gives (the
 * AWS CLI sends the value; -1 would otherwise pass as absent). 0 if
 * absent or not negative, else the exit status. */
static int
neg_secs_flag(const cli_ctx *c, const char *flag, const char *param)
{
    char msg[160];
    int v = cli_opt_int(c, flag, 0);
    if (!cli_opt_get(c, flag) || v >= 0)
        return 0;
    neg_secs_msg(msg, sizeof msg, param, v);
    return cli_op_error(c->cmd->op, "InvalidParameterValue", msg);
}

/* ---- queue commands ------------------------------------------------------ */

static int
cmd_create_queue(cli_ctx *c)
{
    lmq_map *attrs = NULL, *tags = NULL;
    char *url = NULL;
    int rc;

    if ((rc = opt_map(c, "attributes", "Attributes", &attrs)) != 0 ||
        (rc = opt_map(c, "tags", "tags", &tags)) != 0 ||
        (rc = cli_env(c)) != 0)
        goto out;
    rc = lmq_queue_create(c->env, cli_opt_str(c, "queue-name"), attrs, tags,
                          &url);
    if (rc != 0) {
        rc = cli_service_error(c, rc);
        goto out;
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "QueueUrl", json_string(url));
    cli_print(c, doc);
out:
    free(url);
    lmq_map_free(attrs);
    lmq_map_free(tags);
    return rc;
}

static int
cmd_delete_queue(cli_ctx *c)
{
    char *name = NULL;
    int rc;

    if ((rc = cli_env(c)) != 0 || (rc = queue_name(c, &name)) != 0)
        return rc;
    rc = lmq_queue_delete(c->env, name);
    free(name);
    return rc ? cli_service_error(c, rc) : 0;
}

static int
cmd_get_queue_url(cli_ctx *c)
{
    char *url = NULL;
    int rc;

    if ((rc = cli_env(c)) != 0)
        return rc;
    rc = lmq_queue_url(c->env, cli_opt_str(c, "queue-name"), &url);
    if (rc != 0)
        return cli_service_error(c, rc);
    json_t *doc = json_object();
    json_object_set_new(doc, "QueueUrl", json_string(url));
    free(url);
    cli_print(c, doc);
    return 0;
}

static int
list_queues_page(cli_ctx *c, int max, const char *token, json_t **items,
                 char **next)
{
    char **names = NULL;
    int rc = lmq_queue_list(c->env, cli_opt_str(c, "queue-name-prefix"), max,
                            token, &names, next);
    if (rc != 0)
        return cli_service_error(c, rc);
    *items = json_array();
    for (size_t i = 0; names && names[i]; i++) {
        char *url = NULL;
        /* A queue deleted since the listing is simply left out. */
        if (lmq_queue_url(c->env, names[i], &url) == 0)
            json_array_append_new(*items, json_string(url));
        free(url);
    }
    lmq_strv_free(names);
    return 0;
}

static int
cmd_list_queues(cli_ctx *c)
{
    int rc;

    /* lmq_queue_list reads 0 as "no paging"; SQS rejects it. */
    if (cli_opt_get(c, "max-results") && cli_opt_int(c, "max-results", 0) < 1) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "Value %d for parameter MaxResults is invalid. Reason: "
                 "MaxResults must be an integer between 1 and 1000.",
                 cli_opt_int(c, "max-results", 0));
        return cli_op_error(c->cmd->op, "InvalidParameterValue", msg);
    }
    if ((rc = cli_env(c)) != 0)
        return rc;
    return cli_paginate(c, "QueueUrls", 0, list_queues_page);
}

static json_t *
map_to_json(const lmq_map *m)
{
    json_t *obj = json_object();
    for (size_t i = 0; i < lmq_map_count(m); i++) {
        const char *k, *v;
        if (lmq_map_at(m, i, &k, &v) == 0)
            json_object_set_new(obj, k, cli_jstr(v, strlen(v)));
    }
    return obj;
}

static int
cmd_get_queue_attributes(cli_ctx *c)
{
    json_t *arr = NULL, *doc;
    const char **names = NULL;
    char *qname = NULL;
    lmq_map *m = NULL;
    int rc;

    if ((rc = opt_strv(c, "attribute-names", "AttributeNames", &arr,
                       &names)) != 0 ||
        (rc = cli_env(c)) != 0 || (rc = queue_name(c, &qname)) != 0)
        goto out;
    rc = lmq_queue_get_attributes(c->env, qname, names, &m);
    if (rc != 0) {
        rc = cli_service_error(c, rc);
        goto out;
    }
    doc = json_object();
    if (lmq_map_count(m))
        json_object_set_new(doc, "Attributes", map_to_json(m));
    cli_print(c, doc);
out:
    lmq_map_free(m);
    free(qname);
    free(names);
    json_decref(arr);
    return rc;
}

static int
cmd_set_queue_attributes(cli_ctx *c)
{
    lmq_map *attrs = NULL;
    char *qname = NULL;
    int rc;

    if ((rc = opt_map(c, "attributes", "Attributes", &attrs)) != 0 ||
        (rc = cli_env(c)) != 0 || (rc = queue_name(c, &qname)) != 0)
        goto out;
    rc = lmq_queue_set_attributes(c->env, qname, attrs);
    if (rc != 0)
        rc = cli_service_error(c, rc);
out:
    lmq_map_free(attrs);
    free(qname);
    return rc;
}

static int
cmd_purge_queue(cli_ctx *c)
{
    char *name = NULL;
    int rc;

    if ((rc = cli_env(c)) != 0 || (rc = queue_name(c, &name)) != 0)
        return rc;
    rc = lmq_queue_purge(c->env, name);
    free(name);
    return rc ? cli_service_error(c, rc) : 0;
}

static int
cmd_tag_queue(cli_ctx *c)
{
    lmq_map *tags = NULL;
    char *qname = NULL;
    int rc;

    if ((rc = opt_map(c, "tags", "Tags", &tags)) != 0 ||
        (rc = cli_env(c)) != 0 || (rc = queue_name(c, &qname)) != 0)
        goto out;
    rc = lmq_queue_tag(c->env, qname, tags);
    if (rc != 0)
        rc = cli_service_error(c, rc);
out:
    lmq_map_free(tags);
    free(qname);
    return rc;
}

static int
cmd_untag_queue(cli_ctx *c)
{
    json_t *arr = NULL;
    const char **keys = NULL;
    char *qname = NULL;
    int rc;

    if ((rc = opt_strv(c, "tag-keys", "TagKeys", &arr, &keys)) != 0 ||
        (rc = cli_env(c)) != 0 || (rc = queue_name(c, &qname)) != 0)
        goto out;
    rc = lmq_queue_untag(c->env, qname, keys);
    if (rc != 0)
        rc = cli_service_error(c, rc);
out:
    free(qname);
    free(keys);
    json_decref(arr);
    return rc;
}

static int
cmd_list_queue_tags(cli_ctx *c)
{
    char *qname = NULL;
    lmq_map *m = NULL;
    int rc;

    if ((rc = cli_env(c)) != 0 || (rc = queue_name(c, &qname)) != 0)
        return rc;
    rc = lmq_queue_tags(c->env, qname, &m);
    free(qname);
    if (rc != 0)
        return cli_service_error(c, rc);
    json_t *doc = json_object();
    if (lmq_map_count(m))
        json_object_set_new(doc, "Tags", map_to_json(m));
    lmq_map_free(m);
    cli_print(c, doc);
    return 0;
}

/* ---- sending --------------------------------------------------------------- */

static void
send_result_json(json_t *obj, const lmq_send_result *r)
{
    json_object_set_new(obj, "MD5OfMessageBody", json_string(r->md5_body));
    if (r->md5_attrs[0])
        json_object_set_new(obj, "MD5OfMessageAttributes",
                            json_string(r->md5_attrs));
    if (r->md5_sys_attrs[0])
        json_object_set_new(obj, "MD5OfMessageSystemAttributes",
                            json_string(r->md5_sys_attrs));
    json_object_set_new(obj, "MessageId", json_string(r->message_id));
    if (r->sequence_number[0])
        json_object_set_new(obj, "SequenceNumber",
                            json_string(r->sequence_number));
}

static int
cmd_send_message(cli_ctx *c)
{
    const cli_opt *body = cli_opt_get(c, "message-body");
    const cli_opt *mo = cli_opt_get(c, "message-attributes");
    const cli_opt *so = cli_opt_get(c, "message-system-attributes");
    json_t *mj = NULL, *sj = NULL;
    lmq_mattrs *attrs = NULL;
    lmq_queue *q = NULL;
    lmq_send_entry e;
    lmq_send_result res;
    int rc;

    if ((rc = neg_secs_flag(c, "delay-seconds", "DelaySeconds")) != 0)
        return rc;
    lmq_send_entry_init(&e);
    e.body = body->tok[0].s;
    e.body_len = body->tok[0].len;
    e.delay_seconds = cli_opt_int(c, "delay-seconds", -1);
    e.group_id = cli_opt_str(c, "message-group-id");
    e.dedup_id = cli_opt_str(c, "message-deduplication-id");
    if (mo && !(mj = cli_parse_map("message-attributes", mo))) {
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    if (so && !(sj = cli_parse_map("message-system-attributes", so))) {
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    if ((rc = mattrs_from_json(mj, "MessageAttributes", &attrs)) != 0 ||
        (rc = trace_from_json(sj, "MessageSystemAttributes",
                              &e.trace_header)) != 0 ||
        (rc = open_queue(c, &q)) != 0)
        goto out;
    e.attrs = attrs;
    memset(&res, 0, sizeof res);
    rc = lmq_send(q, &e, &res);
    if (rc != 0) {
        rc = cli_service_error(c, rc);
        goto out;
    }
    json_t *doc = json_object();
    send_result_json(doc, &res);
    cli_print(c, doc);
out:
    lmq_queue_close(q);
    lmq_mattrs_free(attrs);
    json_decref(mj);
    json_decref(sj);
    return rc;
}

/* The entries of a batch flag, checked against the entry shape. */
static int
batch_entries(cli_ctx *c, const char *const *members, json_t **out)
{
    json_t *arr, *e;
    size_t i;
    char path[64];
    int rc;

    *out = NULL;
    if (!(arr = cli_parse_structs("entries", cli_opt_get(c, "entries"))))
        return CLI_EXIT_USAGE;
    json_array_foreach(arr, i, e) {
        snprintf(path, sizeof path, "Entries[%zu]", i);
        if ((rc = check_members(e, path, members)) != 0 ||
            (rc = member_str(e, "Id", path, 1, &(const char *){NULL},
                             NULL)) != 0) {
            json_decref(arr);
            return rc;
        }
    }
    *out = arr;
    return 0;
}

static int
cmd_send_message_batch(cli_ctx *c)
{
    static const char *const members[] = {
        "Id", "MessageBody", "DelaySeconds", "MessageAttributes",
        "MessageSystemAttributes", "MessageDeduplicationId",
        "MessageGroupId", NULL};
    json_t *arr = NULL, *e;
    lmq_send_entry *ents = NULL;
    lmq_send_result *res = NULL;
    int *neg = NULL; /* the negative DelaySeconds given, per entry */
    lmq_mattrs **attrs = NULL;
    lmq_queue *q = NULL;
    size_t n = 0, i;
    char path[64];
    int rc;

    if ((rc = batch_entries(c, members, &arr)) != 0)
        goto out;
    n = json_array_size(arr);
    ents = calloc(n + 1, sizeof *ents);
    res = calloc(n + 1, sizeof *res);
    attrs = calloc(n + 1, sizeof *attrs);
    neg = calloc(n + 1, sizeof *neg);
    if (!ents || !res || !attrs || !neg) {
        rc = CLI_EXIT_OTHER;
        goto out;
    }
    json_array_foreach(arr, i, e) {
        int present;
        snprintf(path, sizeof path, "Entries[%zu]", i);
        lmq_send_entry_init(&ents[i]);
        ents[i].id = json_string_value(json_object_get(e, "Id"));
        if ((rc = member_str(e, "MessageBody", path, 1, &ents[i].body,
                             &ents[i].body_len)) != 0 ||
            (rc = member_str(e, "MessageGroupId", path, 0,
                             &ents[i].group_id, NULL)) != 0 ||
            (rc = member_str(e, "MessageDeduplicationId", path, 0,
                             &ents[i].dedup_id, NULL)) != 0 ||
            (rc = member_int(e, "DelaySeconds", path, &ents[i].delay_seconds,
                             &present)) != 0)
            goto out;
        if (!present)
            ents[i].delay_seconds = -1;
        else if (ents[i].delay_seconds < 0)
            neg[i] = 1; /* -1 would pass as absent: made out of range below */
        snprintf(path, sizeof path, "Entries[%zu].MessageAttributes", i);
        if ((rc = mattrs_from_json(json_object_get(e, "MessageAttributes"),
                                   path, &attrs[i])) != 0)
            goto out;
        ents[i].attrs = attrs[i];
        snprintf(path, sizeof path, "Entries[%zu].MessageSystemAttributes",
                 i);
        if ((rc = trace_from_json(json_object_get(e,
                                                  "MessageSystemAttributes"),
                                  path, &ents[i].trace_header)) != 0)
            goto out;
    }
    if ((rc = open_queue(c, &q)) != 0)
        goto out;
    /* A negative DelaySeconds goes in as INT_MIN, which the library fails
     * on its own (after the checks of the whole batch, such as distinct
     * Ids), and the entry's message then names the value given. */
    for (i = 0; i < n; i++) {
        neg[i] = neg[i] ? ents[i].delay_seconds : 0;
        if (neg[i])
            ents[i].delay_seconds = INT_MIN;
    }
    rc = lmq_send_batch(q, ents, n, res);
    if (rc != 0) {
        rc = cli_service_error(c, rc);
        goto out;
    }
    for (i = 0; i < n; i++)
        if (neg[i] && res[i].err == LMQ_EINVAL)
            neg_secs_msg(res[i].errmsg, sizeof res[i].errmsg, "DelaySeconds",
                         neg[i]);
    json_t *doc = json_object(), *ok = json_array(), *failed = json_array();
    for (i = 0; i < n; i++) {
        if (res[i].err == 0) {
            json_t *s = json_object();
            json_object_set_new(s, "Id", json_string(ents[i].id));
            json_object_set_new(s, "MessageId",
                                json_string(res[i].message_id));
            json_object_set_new(s, "MD5OfMessageBody",
                                json_string(res[i].md5_body));
            if (res[i].md5_attrs[0])
                json_object_set_new(s, "MD5OfMessageAttributes",
                                    json_string(res[i].md5_attrs));
            if (res[i].md5_sys_attrs[0])
                json_object_set_new(s, "MD5OfMessageSystemAttributes",
                                    json_string(res[i].md5_sys_attrs));
            if (res[i].sequence_number[0])
                json_object_set_new(s, "SequenceNumber",
                                    json_string(res[i].sequence_number));
            json_array_append_new(ok, s);
        } else {
            json_array_append_new(failed,
                                  batch_failed(ents[i].id, res[i].err,
                                               res[i].errmsg));
        }
    }
    json_object_set_new(doc, "Successful", ok);
    if (json_array_size(failed))
        json_object_set_new(doc, "Failed", failed);
    else
        json_decref(failed);
    cli_print(c, doc);
out:
    lmq_queue_close(q);
    for (i = 0; attrs && i < n; i++)
        lmq_mattrs_free(attrs[i]);
    free(attrs);
    free(ents);
    free(res);
    free(neg);
    json_decref(arr);
    return rc;
}

/* ---- receiving ------------------------------------------------------------- */

/* The system attributes in the order SQS returns them for "All". */
static const char *const sys_attr_names[] = {
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "ApproximateReceiveCount",
    "SentTimestamp",
    "AWSTraceHeader",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "DeadLetterQueueSourceArn",
    NULL};

static int
strv_has(const char *const *v, const char *s)
{
    for (; v && *v; v++)
        if (strcmp(*v, s) == 0)
            return 1;
    return 0;
}

json_t *
cli_message_attrs_json(const lmq_msg *m)
{
    const lmq_mattrs *ma = lmq_msg_attrs(m);
    json_t *mav = json_object();

    for (size_t i = 0; i < lmq_mattrs_count(ma); i++) {
        const char *name, *type;
        const void *val;
        size_t vlen;
        json_t *a;
        if (lmq_mattrs_at(ma, i, &name, &type, &val, &vlen) != 0)
            continue;
        a = json_object();
        if (strncmp(type, "Binary", 6) == 0) {
            char *b64 = cli_b64_encode(val, vlen);
            json_object_set_new(a, "BinaryValue", json_string(b64));
            free(b64);
        } else {
            json_object_set_new(a, "StringValue", cli_jstr(val, vlen));
        }
        json_object_set_new(a, "DataType", json_string(type));
        json_object_set_new(mav, name, a);
    }
    return mav;
}

json_t *
cli_message_json(const lmq_msg *m, const char *const *sys1,
                 const char *const *sys2)
{
    json_t *obj = json_object(), *attrs;
    const lmq_mattrs *ma = lmq_msg_attrs(m);
    size_t len;
    const char *body = lmq_msg_body(m, &len);
    int all = strv_has(sys1, "All") || strv_has(sys2, "All");

    json_object_set_new(obj, "MessageId", json_string(lmq_msg_id(m)));
    json_object_set_new(obj, "ReceiptHandle",
                        json_string(lmq_msg_receipt(m)));
    json_object_set_new(obj, "MD5OfBody", json_string(lmq_msg_md5_body(m)));
    json_object_set_new(obj, "Body", cli_jstr(body, len));
    attrs = json_object();
    for (size_t i = 0; sys_attr_names[i]; i++) {
        const char *n = sys_attr_names[i], *v;
        if (!all && !strv_has(sys1, n) && !strv_has(sys2, n))
            continue;
        if ((v = lmq_msg_sys_attr(m, n)) != NULL)
            json_object_set_new(attrs, n, cli_jstr(v, strlen(v)));
    }
    if (json_object_size(attrs))
        json_object_set_new(obj, "Attributes", attrs);
    else
        json_decref(attrs);
    if (lmq_mattrs_count(ma)) {
        const char *md5 = lmq_msg_md5_attrs(m);
        json_t *mav = cli_message_attrs_json(m);
        if (md5 && *md5)
            json_object_set_new(obj, "MD5OfMessageAttributes",
                                json_string(md5));
        json_object_set_new(obj, "MessageAttributes", mav);
    }
    return obj;
}

static int
cmd_receive_message(cli_ctx *c)
{
    json_t *a1 = NULL, *a2 = NULL, *a3 = NULL;
    const char **sys1 = NULL, **sys2 = NULL, **user = NULL;
    lmq_queue *q = NULL;
    lmq_msg *msgs[LMQ_RECV_MAX_CLI] = {NULL};
    lmq_recv_opts o;
    size_t n = 0;
    int rc;

    if ((rc = opt_strv(c, "attribute-names", "AttributeNames", &a1,
                       &sys1)) != 0 ||
        (rc = opt_strv(c, "message-system-attribute-names",
                       "MessageSystemAttributeNames", &a2, &sys2)) != 0 ||
        (rc = opt_strv(c, "message-attribute-names", "MessageAttributeNames",
                       &a3, &user)) != 0 ||
        (rc = open_queue(c, &q)) != 0)
        goto out;
    if ((rc = neg_secs_flag(c, "visibility-timeout", "VisibilityTimeout")) !=
            0 ||
        (rc = neg_secs_flag(c, "wait-time-seconds", "WaitTimeSeconds")) != 0)
        goto out;
    lmq_recv_opts_init(&o);
    o.max_messages = cli_opt_int(c, "max-number-of-messages", o.max_messages);
    o.visibility_timeout =
        cli_opt_int(c, "visibility-timeout", o.visibility_timeout);
    o.wait_seconds = cli_opt_int(c, "wait-time-seconds", o.wait_seconds);
    o.attribute_names = user;
    o.attempt_id = cli_opt_str(c, "receive-request-attempt-id");
    rc = lmq_receive(q, &o, msgs, LMQ_RECV_MAX_CLI, &n);
    if (rc != 0) {
        rc = cli_service_error(c, rc);
        goto out;
    }
    json_t *doc = json_object();
    if (n) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, cli_message_json(msgs[i], sys1, sys2));
        json_object_set_new(doc, "Messages", arr);
    }
    cli_print(c, doc);
out:
    for (size_t i = 0; i < n && i < LMQ_RECV_MAX_CLI; i++)
        lmq_msg_free(msgs[i]);
    lmq_queue_close(q);
    free(sys1);
    free(sys2);
    free(user);
    json_decref(a1);
    json_decref(a2);
    json_decref(a3);
    return rc;
}

/* ---- deleting and visibility ------------------------------------------------ */

static int
cmd_delete_message(cli_ctx *c)
{
    lmq_queue *q = NULL;
    int rc;

    if ((rc = open_queue(c, &q)) != 0)
        return rc;
    rc = lmq_delete(q, cli_opt_str(c, "receipt-handle"), NULL);
    lmq_queue_close(q);
    return rc ? cli_service_error(c, rc) : 0;
}

static int
cmd_change_message_visibility(cli_ctx *c)
{
    lmq_queue *q = NULL;
    int rc;

    if ((rc = open_queue(c, &q)) != 0)
        return rc;
    rc = lmq_change_visibility(q, cli_opt_str(c, "receipt-handle"),
                               cli_opt_int(c, "visibility-timeout", 0), NULL);
    lmq_queue_close(q);
    return rc ? cli_service_error(c, rc) : 0;
}

/* delete-message-batch and change-message-visibility-batch. */
static int
handle_batch(cli_ctx *c, int visibility)
{
    static const char *const del_members[] = {"Id", "ReceiptHandle", NULL};
    static const char *const vis_members[] = {"Id", "ReceiptHandle",
                                              "VisibilityTimeout", NULL};
    json_t *arr = NULL, *e;
    lmq_handle_entry *ents = NULL;
    lmq_batch_result *res = NULL;
    lmq_queue *q = NULL;
    size_t n, i;
    char path[64];
    int rc;

    if ((rc = batch_entries(c, visibility ? vis_members : del_members,
                            &arr)) != 0)
        return rc;
    n = json_array_size(arr);
    ents = calloc(n + 1, sizeof *ents);
    res = calloc(n + 1, sizeof *res);
    if (!ents || !res) {
        rc = CLI_EXIT_OTHER;
        goto out;
    }
    json_array_foreach(arr, i, e) {
        snprintf(path, sizeof path, "Entries[%zu]", i);
        ents[i].id = json_string_value(json_object_get(e, "Id"));
        if ((rc = member_str(e, "ReceiptHandle", path, 1, &ents[i].receipt,
                             NULL)) != 0)
            goto out;
        if (visibility) {
            int present;
            if ((rc = member_int(e, "VisibilityTimeout", path,
                                 &ents[i].timeout_seconds, &present)) != 0)
                goto out;
            /* Optional in the model, but SQS has no default for it. */
            if (!present) {
                rc = cli_param_error("Missing required parameter in %s: "
                                     "\"VisibilityTimeout\"",
                                     path);
                goto out;
            }
        }
    }
    if ((rc = open_queue(c, &q)) != 0)
        goto out;
    if (visibility)
        rc = lmq_change_visibility_batch(q, ents, n, res);
    else
        rc = lmq_delete_batch(q, ents, n, res);
    if (rc != 0) {
        rc = cli_service_error(c, rc);
        goto out;
    }
    json_t *doc = json_object(), *ok = json_array(), *failed = json_array();
    for (i = 0; i < n; i++) {
        if (res[i].err == 0) {
            json_t *s = json_object();
            json_object_set_new(s, "Id", json_string(ents[i].id));
            json_array_append_new(ok, s);
        } else {
            json_array_append_new(failed, batch_failed(ents[i].id,
                                                       res[i].err,
                                                       res[i].errmsg));
        }
    }
    json_object_set_new(doc, "Successful", ok);
    if (json_array_size(failed))
        json_object_set_new(doc, "Failed", failed);
    else
        json_decref(failed);
    cli_print(c, doc);
out:
    lmq_queue_close(q);
    free(ents);
    free(res);
    json_decref(arr);
    return rc;
}

static int
cmd_delete_message_batch(cli_ctx *c)
{
    return handle_batch(c, 0);
}

static int
cmd_change_message_visibility_batch(cli_ctx *c)
{
    return handle_batch(c, 1);
}

/* ---- the command table ------------------------------------------------------ */

#define F_QURL {"queue-url", CLI_STRING, 1, "queue URL or bare queue name"}
#define F_END {NULL, CLI_STRING, 0, NULL}

static const cli_flag f_create_queue[] = {
    {"queue-name", CLI_STRING, 1, "name of the queue (FIFO: ends in .fifo)"},
    {"attributes", CLI_MAP, 0, "Name=Value,... or JSON: queue attributes"},
    {"tags", CLI_MAP, 0, "Key=Value,... or JSON: tags of a new queue"},
    F_END};
static const cli_flag f_qurl[] = {F_QURL, F_END};
static const cli_flag f_get_queue_url[] = {
    {"queue-name", CLI_STRING, 1, "name of the queue"},
    {"queue-owner-aws-account-id", CLI_STRING, 0, "accepted and ignored"},
    F_END};
static const cli_flag f_list_queues[] = {
    {"queue-name-prefix", CLI_STRING, 0, "only names starting with this"},
    {"max-results", CLI_INT, 0, "page size 1-1000 (enables NextToken)"},
    {"next-token", CLI_STRING, 0, "NextToken of the previous page"},
    CLI_F_PAGING,
    F_END};
static const cli_flag f_get_queue_attributes[] = {
    F_QURL,
    {"attribute-names", CLI_LIST, 0, "attribute names, or All"},
    F_END};
static const cli_flag f_set_queue_attributes[] = {
    F_QURL,
    {"attributes", CLI_MAP, 1, "Name=Value,... or JSON"},
    F_END};
static const cli_flag f_send_message[] = {
    F_QURL,
    {"message-body", CLI_STRING, 1, "the body (file:// and fileb:// too)"},
    {"delay-seconds", CLI_INT, 0, "0-900 (default: the queue's)"},
    {"message-attributes", CLI_MAP, 0,
     "Name={DataType=String,StringValue=v},... or JSON"},
    {"message-system-attributes", CLI_MAP, 0,
     "AWSTraceHeader={DataType=String,StringValue=v}"},
    {"message-deduplication-id", CLI_STRING, 0, "FIFO deduplication id"},
    {"message-group-id", CLI_STRING, 0, "message group id"},
    F_END};
static const cli_flag f_send_message_batch[] = {
    F_QURL,
    {"entries", CLI_STRUCTS, 1,
     "Id=a,MessageBody=b Id=c,MessageBody=d ... or a JSON array"},
    F_END};
static const cli_flag f_receive_message[] = {
    F_QURL,
    {"attribute-names", CLI_LIST, 0, "system attributes to return, or All"},
    {"message-system-attribute-names", CLI_LIST, 0,
     "system attributes to return, or All"},
    {"message-attribute-names", CLI_LIST, 0,
     "message attributes to return: names, All, .*, Prefix.*"},
    {"max-number-of-messages", CLI_INT, 0, "1-10 (default 1)"},
    {"visibility-timeout", CLI_INT, 0, "0-43200 (default: the queue's)"},
    {"wait-time-seconds", CLI_INT, 0, "0-20 (default: the queue's)"},
    {"receive-request-attempt-id", CLI_STRING, 0, "FIFO attempt id"},
    F_END};
static const cli_flag f_delete_message[] = {
    F_QURL,
    {"receipt-handle", CLI_STRING, 1, "receipt handle of the delivery"},
    F_END};
static const cli_flag f_delete_message_batch[] = {
    F_QURL,
    {"entries", CLI_STRUCTS, 1,
     "Id=a,ReceiptHandle=h ... or a JSON array"},
    F_END};
static const cli_flag f_change_message_visibility[] = {
    F_QURL,
    {"receipt-handle", CLI_STRING, 1, "receipt handle of the delivery"},
    {"visibility-timeout", CLI_INT, 1, "0-43200 seconds from now"},
    F_END};
static const cli_flag f_change_message_visibility_batch[] = {
    F_QURL,
    {"entries", CLI_STRUCTS, 1,
     "Id=a,ReceiptHandle=h,VisibilityTimeout=n ... or a JSON array"},
    F_END};
static const cli_flag f_tag_queue[] = {
    F_QURL,
    {"tags", CLI_MAP, 1, "Key=Value,... or JSON"},
    F_END};
static const cli_flag f_untag_queue[] = {
    F_QURL,
    {"tag-keys", CLI_LIST, 1, "keys to remove"},
    F_END};
static const cli_flag f_none[] = {F_END};

/* `lmq compact`: lmq_env_compact() on --home; every other process of the
 * home must be stopped (LMQ_EBUSY otherwise, nothing changed). */
static int
cmd_compact(cli_ctx *c)
{
    lmq_env_opts o;
    uint64_t before, after;
    cli_env_opts(c, &o);
    int rc = lmq_env_compact(c->home, &o, &before, &after);
    if (rc)
        return cli_service_error(c, rc);
    cli_print(c, json_pack("{s:I,s:I}", "BytesBefore", (json_int_t)before,
                           "BytesAfter", (json_int_t)after));
    return 0;
}

static const cli_cmd cmds[] = {
    {"create-queue", "CreateQueue", cmd_create_queue, f_create_queue,
     "Create a queue (idempotent when the attributes match).", 0},
    {"delete-queue", "DeleteQueue", cmd_delete_queue, f_qurl,
     "Delete a queue and its messages.", 0},
    {"get-queue-url", "GetQueueUrl", cmd_get_queue_url, f_get_queue_url,
     "Print the URL of a queue.", 1},
    {"list-queues", "ListQueues", cmd_list_queues, f_list_queues,
     "List queue URLs.", 1},
    {"get-queue-attributes", "GetQueueAttributes", cmd_get_queue_attributes,
     f_get_queue_attributes, "Print queue attributes and counters.", 1},
    {"set-queue-attributes", "SetQueueAttributes", cmd_set_queue_attributes,
     f_set_queue_attributes, "Change queue attributes.", 0},
    {"send-message", "SendMessage", cmd_send_message, f_send_message,
     "Send one message.", 0},
    {"send-message-batch", "SendMessageBatch", cmd_send_message_batch,
     f_send_message_batch, "Send up to 10 messages.", 0},
    {"receive-message", "ReceiveMessage", cmd_receive_message,
     f_receive_message, "Receive up to 10 messages.", 0},
    {"delete-message", "DeleteMessage", cmd_delete_message, f_delete_message,
     "Delete a received message.", 0},
    {"delete-message-batch", "DeleteMessageBatch", cmd_delete_message_batch,
     f_delete_message_batch, "Delete up to 10 received messages.", 0},
    {"change-message-visibility", "ChangeMessageVisibility",
     cmd_change_message_visibility, f_change_message_visibility,
     "Change the visibility timeout of a received message.", 0},
    {"change-message-visibility-batch", "ChangeMessageVisibilityBatch",
     cmd_change_message_visibility_batch, f_change_message_visibility_batch,
     "Change the visibility timeout of up to 10 messages.", 0},
    {"purge-queue", "PurgeQueue", cmd_purge_queue, f_qurl,
     "Delete every message of a queue.", 0},
    {"tag-queue", "TagQueue", cmd_tag_queue, f_tag_queue,
     "Add or replace tags.", 0},
    {"untag-queue", "UntagQueue", cmd_untag_queue, f_untag_queue,
     "Remove tags.", 0},
    {"list-queue-tags", "ListQueueTags", cmd_list_queue_tags, f_qurl,
     "Print the tags of a queue.", 1},
    {"list-dead-letter-source-queues", "ListDeadLetterSourceQueues",
     cli_cmd_list_dead_letter_source_queues,
     cli_f_list_dead_letter_source_queues,
     "List the queues whose dead-letter queue this is.", 1},
    {"start-message-move-task", "StartMessageMoveTask",
     cli_cmd_start_message_move_task, cli_f_start_message_move_task,
     "Move the messages of a dead-letter queue back (runs it).", 0},
    {"list-message-move-tasks", "ListMessageMoveTasks",
     cli_cmd_list_message_move_tasks, cli_f_list_message_move_tasks,
     "List the recent move tasks of a dead-letter queue.", 1},
    {"cancel-message-move-task", "CancelMessageMoveTask",
     cli_cmd_cancel_message_move_task, cli_f_cancel_message_move_task,
     "Cancel a running move task.", 0},
    {"stats", "Stats", cli_cmd_stats, cli_f_stats,
     "Queue metrics (CloudWatch names): now, --watch, --history, --plot.", 1},
    {"consume", "Consume", cli_cmd_consume, cli_consume_flags,
     "Run a shell command for each message; exit 0 deletes it.", 0},
    {"bridge", "Bridge", cli_cmd_bridge, cli_f_bridge,
     "Ship local queues to SQS and back (run, status, resume).", 0},
    {"demo", "Demo", cli_cmd_demo, f_none,
     "Producer and consumer processes share a demo queue.", 0},
    {"peek", "Peek", cli_cmd_peek, cli_f_peek,
     "Print the messages of a queue without receiving them.", 1},
    {"clock", "Clock", cli_cmd_clock, cli_f_clock,
     "Show or move the home's test clock (enable, show, advance, set).", 0},
    {"key", "Key", cli_cmd_key, cli_f_key,
     "Keys of encryption at rest (create, list, rotate).", 0},
    {"check", "Check", cli_cmd_check, cli_f_check,
     "Verify the home (indexes, counters, FIFO, DLQ, log); --repair.", 1},
    {"backup", "Backup", cli_cmd_backup, cli_f_backup,
     "A consistent copy of the live home into a new directory.", 1},
    {"dump", "Dump", cli_cmd_dump, cli_f_dump,
     "Write queues and messages as JSON lines.", 1},
    {"load", "Load", cli_cmd_load, cli_f_load,
     "Read a dump into the home (--merge into existing queues).", 0},
    {"compact", "Compact", cmd_compact, f_none,
     "Rewrite the home's data file without its free pages (needs the home "
     "to itself).", 1},
    {"reset", "Reset", cli_cmd_reset, cli_f_reset,
     "Delete every queue and forget recent deletions (test setup).", 0},
    {"completion", "Completion", cli_cmd_completion, cli_f_completion,
     "Print the bash or zsh completion script (source <(lmq completion "
     "bash)).", 0},
    {NULL, NULL, NULL, NULL, NULL, 0}};

/* Whether c's command prints a result a pager may hold: not the ones that
 * run until stopped or draw on the terminal themselves. */
static int
cli_pages(const cli_ctx *c)
{
    static const char *const live[] = {"consume", "bridge", "demo", NULL};
    for (size_t i = 0; live[i]; i++)
        if (strcmp(c->cmd->name, live[i]) == 0)
            return 0;
    return !(strcmp(c->cmd->name, "stats") == 0 && cli_opt_get(c, "watch"));
}

/* ---- help -------------------------------------------------------------------- */

static void
main_help(void)
{
    printf("lmq - durable local queues with Amazon SQS semantics, stored "
           "in LMDB\n\n"
           "usage: lmq [options] <command> [parameters]\n\n"
           "Commands (flags and output as in `aws sqs`):\n");
    for (size_t i = 0; cmds[i].name; i++)
        printf("  %-32s %s\n", cmds[i].name, cmds[i].summary);
    printf("\nOptions:\n"
           "  --home DIR                       the home directory (default: "
           "$LMQ_HOME,\n"
           "                                   else $XDG_DATA_HOME/lmq, else "
           "~/.local/share/lmq)\n"
           "  --region REGION, --account ID    the home's region and "
           "account, fixed when it\n"
           "                                   is created (default "
           "us-east-1, 000000000000)\n"
           "  --durability full|periodic|none  commit durability (default "
           "full)\n"
           "  --map-mode auto|pwrite|writable  map mode of a home this "
           "creates (default\n"
           "                                   auto: writable when created "
           "with periodic/none)\n"
           "  --flush-interval MS              periodic mode: flush every MS "
           "milliseconds\n"
           "                                   (default 1000)\n"
           "  --group NAME                     share a home this creates "
           "with group NAME\n"
           "                                   (or a gid): 02770, files 0660 "
           "(default\n"
           "                                   $LMQ_GROUP, else private: 0700, "
           "files 0600)\n"
           "  --strict-permissions             refuse a home with unsafe "
           "permissions instead\n"
           "                                   of warning (or "
           "LMQ_STRICT_PERMISSIONS=1)\n"
           "  --key-file FILE                  keyring sealing queues at "
           "rest (default\n"
           "                                   $LMQ_KEY_FILE; see `lmq key "
           "--help`)\n"
           "  --key-passphrase-file FILE       a file whose first line is a "
           "passphrase:\n"
           "                                   its Argon2id stretch is the "
           "home key\n"
           "                                   (default "
           "$LMQ_KEY_PASSPHRASE_FILE)\n"
           "  --key-process COMMAND            a command printing a keyring "
           "(TPM, secret\n"
           "                                   store; default "
           "$LMQ_KEY_PROCESS)\n"
           "  --max-home-bytes N               refuse writes that add data "
           "once the home\n"
           "                                   holds N bytes (k, m, g "
           "suffixes; default\n"
           "                                   $LMQ_MAX_HOME_BYTES, else no "
           "limit)\n"
           "  --max-home-messages N            refuse sends once the "
           "home's queues hold\n"
           "                                   N messages (default "
           "$LMQ_MAX_HOME_MESSAGES,\n"
           "                                   else no limit)\n"
           "  --disk-reserve N                 bytes kept free for "
           "receives and deletes\n"
           "                                   (default $LMQ_DISK_RESERVE, "
           "else 4m)\n"
           "  --output FORMAT                  json, text, table, yaml or "
           "yaml-stream\n"
           "                                   (default $AWS_DEFAULT_OUTPUT, "
           "else json)\n"
           "  --query EXPR                     JMESPath applied to the "
           "response\n"
           "  --color on|off|auto              colours of --output table "
           "(default auto)\n"
           "  --cli-input-json JSON            parameters as one document "
           "(file:// too);\n"
           "  --cli-input-yaml YAML            flags given win over its "
           "members\n"
           "  --generate-cli-skeleton [KIND]   print the input (JSON), "
           "yaml-input or output\n"
           "                                   template instead of running\n"
           "  --cli-binary-format FORMAT       base64 (default) or "
           "raw-in-base64-out\n"
           "  --no-cli-pager                   no $AWS_PAGER on a terminal\n"
           "  --debug                          log the parsed command to "
           "stderr\n"
           "  --version                        print the version\n"
           "  --help                           this help; `lmq <command> "
           "--help` for a command\n\n"
           "Values may be given as file://path (text) or fileb://path "
           "(bytes). Map values\n"
           "take Key=Value,Key=Value shorthand or JSON; lists take "
           "space-separated values\n"
           "or a JSON array. Exit status (AWS CLI v2's): 0, 252 usage "
           "error, 253 home\nnot usable as configured, 254 service error, "
           "255 other, 130 interrupted.\n");
}

static void
cmd_help(const cli_cmd *cmd)
{
    int col;

    printf("lmq %s: %s\n\n", cmd->name, cmd->summary);
    col = printf("usage: lmq %s", cmd->name);
    for (size_t i = 0; cmd->flags[i].name; i++) {
        const cli_flag *f = &cmd->flags[i];
        if (f->kind == CLI_WORDS) {
            char words[128];
            int len = snprintf(words, sizeof words, " %s", f->name);
            if (col + len > 79)
                col = printf("\n          ") - 1;
            col += printf("%s", words);
            continue;
        }
        const char *arg = f->kind == CLI_BOOL ? ""
                          : f->kind == CLI_LIST || f->kind == CLI_STRUCTS
                              ? " <value> [<value>...]"
                              : " <value>";
        char item[128];
        int len = snprintf(item, sizeof item,
                           f->required ? " --%s%s" : " [--%s%s]", f->name,
                           arg);
        /* Wrap at 79 columns, continuation lines indented. */
        if (col + len > 79)
            col = printf("\n          ") - 1;
        col += printf("%s", item);
    }
    printf("\n\n");
    for (size_t i = 0; cmd->flags[i].name; i++)
        printf(cmd->flags[i].kind == CLI_WORDS ? "  %-33s %s%s\n"
                                               : "  --%-31s %s%s\n",
               cmd->flags[i].name,
               cmd->flags[i].required ? "(required) " : "",
               cmd->flags[i].help);
    printf("\nGlobal options: --home DIR, --region REGION, --account ID, "
           "--durability full|periodic|none, "
           "--map-mode auto|pwrite|writable, --flush-interval MS, "
           "--group NAME, --strict-permissions, --key-file FILE, "
           "--key-passphrase-file FILE, --key-process COMMAND, "
           "--max-home-bytes N, --max-home-messages N, --disk-reserve N, "
           "--output json|text|table|yaml|yaml-stream, --query EXPR, "
           "--color on|off|auto, --cli-input-json, --cli-input-yaml, "
           "--generate-cli-skeleton, --cli-binary-format, --no-cli-pager, "
           "--debug.\n");
}

/* ---- argument parsing --------------------------------------------------------- */

/* Index of value in the NULL-terminated choices of global option --name;
 * -1 after printing the AWS CLI's "Invalid choice" usage error. */
static int
global_choice(const char *name, const char *value,
              const char *const *choices)
{
    char list[128] = "";
    size_t used = 0;
    for (int i = 0; choices[i]; i++) {
        if (strcmp(value, choices[i]) == 0)
            return i;
        used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s'",
                                 i ? ", " : "", choices[i]);
    }
    cli_usage_error("argument --%s: Invalid choice: '%s' (choose from %s)",
                    name, value, list);
    return -1;
}

static const char *const global_ignored_value[] = {
    "endpoint-url", "profile", NULL};
static const char *const global_ignored_bool[] = {
    "no-verify-ssl", "no-sign-request", NULL};

int cli_binary_raw;

void
cli_debug(const cli_ctx *c, const char *fmt, ...)
{
    va_list ap;
    if (!c->debug)
        return;
    fputs("lmq: debug: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The AWS CLI's pager: on a terminal, unless --no-cli-pager, stdout goes
 * through $AWS_PAGER (else $PAGER, else "less -R"; an empty value turns it
 * off). Not on a terminal there is no pager, whatever the variables say.
 * Returns the pager's stream (pclose it at exit) or NULL. */
static FILE *
start_pager(int no_pager)
{
    const char *p = getenv("AWS_PAGER");
    FILE *f;

    if (no_pager || !isatty(STDOUT_FILENO))
        return NULL;
    if (!p)
        p = getenv("PAGER");
    if (!p)
        p = "less -R";
    if (!*p)
        return NULL;
    fflush(stdout);
    if (!(f = popen(p, "w")))
        return NULL;
    if (dup2(fileno(f), STDOUT_FILENO) < 0) {
        pclose(f);
        return NULL;
    }
    return f;
}

static void
ctx_free(cli_ctx *c)
{
    for (size_t i = 0; i < CLI_MAX_FLAGS; i++) {
        for (size_t k = 0; k < c->opt[i].n; k++)
            free(c->opt[i].tok[k].s);
        free(c->opt[i].tok);
    }
    free(c->home);
    cli_query_free(c->query);
    lmq_env_close(c->env);
}

static int
is_flag(const char *s)
{
    return s[0] == '-' && s[1] == '-' && s[2];
}

/* Append to the "Unknown options" list. */
static void
add_unknown(char *buf, size_t size, const char *tok)
{
    if (buf[0])
        strncat(buf, ", ", size - strlen(buf) - 1);
    strncat(buf, tok, size - strlen(buf) - 1);
}

/* The index of the command's CLI_WORDS entry, or -1 when it takes no
 * positional words. */
static int
words_of(const cli_ctx *c)
{
    for (int k = 0; c->cmd->flags[k].name; k++)
        if (c->cmd->flags[k].kind == CLI_WORDS)
            return k;
    return -1;
}

static int
parse_args(int argc, char **argv, cli_ctx *c, int *help, int *version,
           int *no_pager)
{
    char unknown[1024] = "";
    const char *home = NULL, *durability = NULL, *output = NULL,
               *map_mode = NULL, *flush_interval = NULL, *query = NULL,
               *group = NULL, *key_file = NULL, *max_home_bytes = NULL,
               *max_home_messages = NULL, *disk_reserve = NULL,
               *key_pass = NULL, *key_proc = NULL, *region = NULL,
               *account = NULL, *color = NULL, *binary_format = NULL,
               *input_json = NULL, *input_yaml = NULL;
    int i, rc;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        char name[128];
        const char *inline_val = NULL;
        size_t k;

        /* "help" as a word works too, as in `aws sqs send-message help`;
         * a flag's value never reaches here (the flag consumed it). */
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 ||
            strcmp(a, "help") == 0) {
            *help = 1;
            continue;
        }
        if (strcmp(a, "--version") == 0) {
            *version = 1;
            continue;
        }
        if (strcmp(a, "--strict-permissions") == 0) {
            c->strict_permissions = 1;
            continue;
        }
        if (!is_flag(a)) {
            if (!c->cmd) {
                for (k = 0; cmds[k].name; k++)
                    if (strcmp(cmds[k].name, a) == 0)
                        break;
                if (!cmds[k].name) {
                    char list[2048] = "";
                    for (k = 0; cmds[k].name; k++) {
                        strncat(list, "  ", sizeof list - strlen(list) - 1);
                        strncat(list, cmds[k].name,
                                sizeof list - strlen(list) - 1);
                        strncat(list, "\n", sizeof list - strlen(list) - 1);
                    }
                    return cli_usage_error("argument command: Invalid "
                                           "choice, valid choices are:\n\n%s",
                                           list);
                }
                c->cmd = &cmds[k];
            } else if (words_of(c) >= 0) {
                cli_opt *o = &c->opt[words_of(c)];
                cli_tok *nt = realloc(o->tok, (o->n + 1) * sizeof *nt);
                if (!nt || !(nt[o->n].s = strdup(a))) {
                    if (nt)
                        o->tok = nt;
                    return CLI_EXIT_OTHER;
                }
                nt[o->n].len = strlen(a);
                o->tok = nt;
                o->n++;
                o->set = 1;
            } else {
                add_unknown(unknown, sizeof unknown, a);
            }
            continue;
        }
        /* --name or --name=value */
        snprintf(name, sizeof name, "%s", a + 2);
        char *eq = strchr(name, '=');
        if (eq) {
            *eq = '\0';
            inline_val = a + 2 + (eq - name) + 1;
        }
        /* Global options with a value. */
        const char **gslot = strcmp(name, "home") == 0 ? &home
                             : strcmp(name, "durability") == 0 ? &durability
                             : strcmp(name, "map-mode") == 0   ? &map_mode
                             : strcmp(name, "flush-interval") == 0
                                 ? &flush_interval
                             : strcmp(name, "max-home-bytes") == 0
                                 ? &max_home_bytes
                             : strcmp(name, "max-home-messages") == 0
                                 ? &max_home_messages
                             : strcmp(name, "disk-reserve") == 0
                                 ? &disk_reserve
                             : strcmp(name, "output") == 0 ? &output
                             : strcmp(name, "query") == 0  ? &query
                             : strcmp(name, "group") == 0  ? &group
                             : strcmp(name, "key-file") == 0 ? &key_file
                             : strcmp(name, "key-passphrase-file") == 0
                                 ? &key_pass
                             : strcmp(name, "key-process") == 0 ? &key_proc
                             : strcmp(name, "region") == 0   ? &region
                             : strcmp(name, "account") == 0  ? &account
                             : strcmp(name, "color") == 0    ? &color
                             : strcmp(name, "cli-binary-format") == 0
                                 ? &binary_format
                             : strcmp(name, "cli-input-json") == 0
                                 ? &input_json
                             : strcmp(name, "cli-input-yaml") == 0
                                 ? &input_yaml
                                                           : NULL;
        int gignore = 0, gbool = 0;
        for (k = 0; global_ignored_value[k]; k++)
            gignore |= strcmp(name, global_ignored_value[k]) == 0;
        for (k = 0; global_ignored_bool[k]; k++)
            gbool |= strcmp(name, global_ignored_bool[k]) == 0;
        if (gbool)
            continue;
        if (strcmp(name, "no-cli-pager") == 0) {
            *no_pager = 1;
            continue;
        }
        if (strcmp(name, "debug") == 0) {
            c->debug = 1;
            continue;
        }
        if (strcmp(name, "generate-cli-skeleton") == 0) {
            /* nargs='?', const 'input': a following word is its value. */
            c->skeleton = "input";
            if (inline_val)
                c->skeleton = inline_val;
            else if (i + 1 < argc && !is_flag(argv[i + 1]))
                c->skeleton = argv[++i];
            continue;
        }
        if (strcmp(name, "no-paginate") == 0) {
            c->no_paginate = 1;
            continue;
        }
        if (gslot || gignore) {
            const char *v = inline_val;
            if (!v) {
                if (i + 1 >= argc || is_flag(argv[i + 1]))
                    return cli_usage_error("argument --%s: expected one "
                                           "argument",
                                           name);
                v = argv[++i];
            }
            if (gslot)
                *gslot = v;
            continue;
        }
        if (!c->cmd) {
            add_unknown(unknown, sizeof unknown, a);
            continue;
        }
        for (k = 0; c->cmd->flags[k].name; k++)
            if (c->cmd->flags[k].kind != CLI_WORDS &&
                strcmp(c->cmd->flags[k].name, name) == 0)
                break;
        if (!c->cmd->flags[k].name) {
            /* An unknown flag takes its value tokens with it. */
            add_unknown(unknown, sizeof unknown, a);
            while (i + 1 < argc && !is_flag(argv[i + 1]))
                add_unknown(unknown, sizeof unknown, argv[++i]);
            continue;
        }
        const cli_flag *f = &c->cmd->flags[k];
        cli_opt *o = &c->opt[k];
        /* A repeated flag replaces the earlier value, as argparse does. */
        for (size_t t = 0; t < o->n; t++)
            free(o->tok[t].s);
        free(o->tok);
        o->tok = NULL;
        o->n = 0;
        o->set = 1;
        if (f->kind == CLI_BOOL)
            continue;
        size_t want_min = 1, max = f->kind == CLI_STRING ||
                                           f->kind == CLI_INT
                                       ? 1
                                       : (size_t)argc;
        const char **vals = calloc((size_t)argc + 1, sizeof *vals);
        size_t nv = 0;
        if (!vals)
            return CLI_EXIT_OTHER;
        if (inline_val)
            vals[nv++] = inline_val;
        while (nv < max && i + 1 < argc && !is_flag(argv[i + 1]))
            vals[nv++] = argv[++i];
        if (nv < want_min) {
            free(vals);
            return cli_usage_error(max == 1 ? "argument --%s: expected one "
                                              "argument"
                                            : "argument --%s: expected at "
                                              "least one argument",
                                   name);
        }
        o->tok = calloc(nv, sizeof *o->tok);
        if (!o->tok) {
            free(vals);
            return CLI_EXIT_OTHER;
        }
        for (size_t t = 0; t < nv; t++) {
            if (cli_tok_load(f->name, vals[t], &o->tok[t]) != 0) {
                free(vals);
                return CLI_EXIT_USAGE;
            }
            o->n++;
        }
        free(vals);
        if (f->kind == CLI_INT) {
            int dummy;
            if (cli_parse_int(o->tok[0].s, &dummy) != 0) {
                /* AWS CLI v2 converts after parsing, and Python's
                 * ValueError reaches its catch-all handler: 255. */
                fprintf(stderr, "\ninvalid literal for int() with base "
                                "10: '%s'\n",
                        o->tok[0].s);
                return CLI_EXIT_OTHER;
            }
        }
    }

    if (*help || *version)
        return 0;
    if (!c->cmd)
        return cli_usage_error("the following arguments are required: "
                               "command");
    if (c->skeleton) {
        static const char *const kinds[] = {"input", "output", "yaml-input",
                                            NULL};
        if (global_choice("generate-cli-skeleton", c->skeleton, kinds) < 0)
            return CLI_EXIT_USAGE;
    }
    /* --cli-input-* and a skeleton other than output make the required
     * flags optional for argparse (awscli's OverrideRequiredArgsArgument);
     * the merged input is checked below. */
    int relaxed = input_json || input_yaml ||
                  (c->skeleton && strcmp(c->skeleton, "output") != 0);
    /* Required flags first, then unknown ones, as argparse reports. */
    char missing[512] = "";
    for (size_t k = 0; !relaxed && c->cmd->flags[k].name; k++) {
        if (c->cmd->flags[k].required && !c->opt[k].set) {
            if (missing[0])
                strncat(missing, ", ", sizeof missing - strlen(missing) - 1);
            strncat(missing, "--", sizeof missing - strlen(missing) - 1);
            strncat(missing, c->cmd->flags[k].name,
                    sizeof missing - strlen(missing) - 1);
        }
    }
    if (missing[0])
        return cli_usage_error("the following arguments are required: %s",
                               missing);
    if (unknown[0])
        return cli_unknown_error(unknown);

    static const char *const durabilities[] = {"full", "periodic", "none",
                                                NULL};
    static const char *const map_modes[] = {"auto", "pwrite", "writable",
                                            NULL};
    static const char *const outputs[] = {"json", "text", "table", "yaml",
                                          "yaml-stream", NULL};
    static const char *const colors[] = {"off", "on", "auto", NULL};
    static const char *const binary_formats[] = {"base64",
                                                 "raw-in-base64-out", NULL};
    int v;
    if (durability) {
        if ((v = global_choice("durability", durability, durabilities)) < 0)
            return CLI_EXIT_USAGE;
        c->durability = (lmq_durability)v; /* same order as the enum */
    }
    if (map_mode) {
        if ((v = global_choice("map-mode", map_mode, map_modes)) < 0)
            return CLI_EXIT_USAGE;
        c->map_mode = (lmq_map_mode)v; /* same order as the enum */
    }
    if (flush_interval) {
        if (cli_parse_int(flush_interval, &v) != 0 || v < 1 || v > 3600000)
            return cli_usage_error("argument --flush-interval: expected "
                                   "milliseconds from 1 to 3600000, got '%s'",
                                   flush_interval);
        c->flush_interval_ms = (unsigned)v;
    }
    if (global_bytes("max-home-bytes", "LMQ_MAX_HOME_BYTES", max_home_bytes,
                     &c->max_bytes, NULL) != 0 ||
        global_bytes("disk-reserve", "LMQ_DISK_RESERVE", disk_reserve,
                     &c->disk_reserve, &c->disk_reserve_set) != 0 ||
        global_count("max-home-messages", "LMQ_MAX_HOME_MESSAGES",
                     max_home_messages, &c->max_messages) != 0)
        return CLI_EXIT_USAGE;
    /* --output, else $AWS_DEFAULT_OUTPUT (as the AWS CLI, which checks a
     * value from the environment as it checks the flag's). */
    if (!output && getenv("AWS_DEFAULT_OUTPUT") &&
        *getenv("AWS_DEFAULT_OUTPUT")) {
        /* Not argparse's check: the formatter's, at output time. */
        const char *env = getenv("AWS_DEFAULT_OUTPUT");
        for (v = 0; outputs[v] && strcmp(outputs[v], env) != 0; v++)
            ;
        if (!outputs[v]) {
            fprintf(stderr, "\nUnknown output type: %s\n", env);
            return CLI_EXIT_OTHER;
        }
        output = env;
    }
    if (output) {
        if ((v = global_choice("output", output, outputs)) < 0)
            return CLI_EXIT_USAGE;
        c->output = (cli_output)(v + CLI_OUT_JSON); /* same order */
        c->output_set = 1;
    }
    c->color = 2;
    if (color) {
        if ((v = global_choice("color", color, colors)) < 0)
            return CLI_EXIT_USAGE;
        c->color = v;
    }
    if (binary_format) {
        if ((v = global_choice("cli-binary-format", binary_format,
                               binary_formats)) < 0)
            return CLI_EXIT_USAGE;
        cli_binary_raw = v == 1;
    }
    if (input_json && input_yaml) {
        fputs("\nOnly one --cli-input- parameter may be specified.\n",
              stderr);
        return CLI_EXIT_USAGE;
    }
    if ((input_json || input_yaml) && !c->skeleton) {
        const char *flag = input_json ? "cli-input-json" : "cli-input-yaml";
        cli_tok t = {NULL, 0};
        char *ubuf = NULL, *tbuf = NULL;
        size_t ulen = 0, tlen = 0;
        FILE *uf = open_memstream(&ubuf, &ulen);
        FILE *tf = open_memstream(&tbuf, &tlen);
        if (!uf || !tf ||
            cli_tok_load(flag, input_json ? input_json : input_yaml, &t)) {
            rc = uf && tf ? CLI_EXIT_USAGE : CLI_EXIT_OTHER;
        } else {
            rc = cli_input_merge(c, flag, t.s, t.len, input_yaml != NULL, uf,
                                 tf);
        }
        if (uf)
            fclose(uf);
        if (tf)
            fclose(tf);
        free(t.s);
        /* botocore's check of the merged input, in its order: the missing
         * members, the unknown ones, the values of the wrong type. */
        int n = 0;
        for (size_t k = 0; rc == 0 && c->cmd->flags[k].name; k++)
            if (c->cmd->flags[k].required && !c->opt[k].set)
                n++;
        if (rc == 0 && (n || ulen || tlen)) {
            fputs("\nParameter validation failed:\n", stderr);
            for (size_t k = 0; n && c->cmd->flags[k].name; k++)
                if (c->cmd->flags[k].required && !c->opt[k].set)
                    fprintf(stderr, "Missing required parameter in input: "
                                    "\"%s\"\n",
                            cli_param_name(c->cmd, c->cmd->flags[k].name));
            fputs(ubuf ? ubuf : "", stderr);
            fputs(tbuf ? tbuf : "", stderr);
            rc = CLI_EXIT_USAGE;
        }
        free(ubuf);
        free(tbuf);
        if (rc)
            return rc;
    }
    if (query) {
        char err[256];
        if (!(c->query = cli_query_compile(query, err, sizeof err)))
            return cli_usage_error("argument --query: Bad value for --query: "
                                   "%s: %s",
                                   query, err);
    }
    if (group) {
        if (!*group)
            return cli_usage_error("argument --group: expected a group name "
                                   "or gid");
        c->group = group;
    }
    c->key_file = key_file; /* argv outlives c */
    c->key_passphrase_file = key_pass;
    c->key_process = key_proc;
    /* Checked here for the usage error; the library checks them too. */
    if (region && (!*region || strspn(region, "abcdefghijklmnopqrstuvwxyz"
                                              "0123456789-") !=
                                   strlen(region)))
        return cli_usage_error("argument --region: expected a region such "
                               "as us-east-1, got '%s'", region);
    if (account && (strlen(account) != 12 ||
                    strspn(account, "0123456789") != 12))
        return cli_usage_error("argument --account: expected a 12-digit "
                               "account id, got '%s'", account);
    c->region = region;
    c->account = account;
    c->must_exist = c->cmd->ro;
    if (home && *home) {
        c->home = strdup(home);
        c->home_from = "--home";
    } else if (getenv("LMQ_HOME") && *getenv("LMQ_HOME")) {
        c->home = strdup(getenv("LMQ_HOME"));
        c->home_from = "LMQ_HOME";
    } else if ((rc = lmq_default_home(&c->home)) != 0) {
        fprintf(stderr, "\nlmq: no home directory: %s\n",
                cli_strip_errmsg(lmq_errmsg()));
        return CLI_EXIT_OTHER;
    }
    if (!c->home)
        return CLI_EXIT_OTHER;
    if (!c->home_from)
        c->home_from = "the default home";
    return 0;
}

int
main(int argc, char **argv)
{
    cli_ctx c;
    int help = 0, version = 0, no_pager = 0, rc;
    FILE *pager = NULL;

    /* The completion scripts' hidden helper: no home is opened or made
     * unless the line names an existing one. */
    if (argc == 3 && strcmp(argv[1], "__complete") == 0)
        return cli_complete(cmds, argv[2]);
    memset(&c, 0, sizeof c);
    c.durability = LMQ_DURABILITY_FULL;
    rc = parse_args(argc, argv, &c, &help, &version, &no_pager);
    if (rc == 0 && c.cmd) {
        cli_debug(&c, "lmq %s, command %s, home %s", LMQ_VERSION_STRING,
                  c.cmd->name, c.home);
        for (size_t k = 0; c.cmd->flags[k].name; k++)
            for (size_t t = 0; t < c.opt[k].n; t++)
                cli_debug(&c, "--%s: %s", c.cmd->flags[k].name,
                          c.opt[k].tok[t].s);
    }
    /* Long-running commands own their terminal (stats --watch, consume,
     * bridge, demo): only the one-shot ones page. */
    if (rc == 0 && !help && !version && c.cmd && cli_pages(&c))
        pager = start_pager(no_pager);
    if (rc == 0 && c.skeleton) {
        rc = cli_skeleton(&c, c.skeleton);
    } else if (rc == 0) {
        if (version) {
            printf("lmq %s\n", LMQ_VERSION_STRING);
        } else if (help) {
            if (c.cmd)
                cmd_help(c.cmd);
            else
                main_help();
        } else {
            /* SIGINT: AWS CLI's KeyboardInterrupt (a newline on stdout,
             * status 130). A waiting receive returns at once; other calls
             * finish their one transaction first. Commands that run until
             * stopped (consume, stats --watch, bridge) install their own. */
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_sigint;
            sigemptyset(&sa.sa_mask);
            sigaction(SIGINT, &sa, NULL);
            rc = c.cmd->fn(&c);
            if (rc == 0 && cli_query_failed)
                rc = CLI_EXIT_OTHER;
            if (cli_sigint) {
                fputs("\n", stdout);
                rc = CLI_EXIT_INTERRUPTED;
            }
        }
    }
    fflush(stdout);
    sig_env = NULL;
    if (pager) {
        fclose(stdout); /* the pager sees the end of its input */
        pclose(pager);
    }
    cli_debug(&c, "exit status %d", rc);
    ctx_free(&c);
    return rc;
}
