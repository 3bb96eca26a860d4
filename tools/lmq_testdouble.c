/*
 * lmq_testdouble.c: the commands for tests (issue 21, "Test-double
 * extras"):
 *
 *   lmq clock enable | show | advance DURATION | set TIME
 *   lmq peek --queue-url Q [--show-invisible] [--show-delayed]
 *            [--max-number-of-messages N]
 *   lmq reset --yes
 *
 * Each is one library call (lmq_env_clock_advance(), lmq_queue_peek(),
 * lmq_env_reset()) and prints a JSON document like the SQS commands.
 * DURATION is a number with a unit, repeatable ("30s", "1m30s", "250ms",
 * "2h", "1d"; a bare number is seconds); TIME is epoch milliseconds or
 * "YYYY-MM-DDTHH:MM:SS[.mmm]Z", and must not be in the clock's past (the
 * test clock only moves forward).
 */
#include "lmq_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const cli_flag cli_f_clock[] = {
    {"ACTION [VALUE]", CLI_WORDS, 0,
     "enable | show (default) | advance DURATION | set TIME\n"
     "      enable: put the home on a test clock (before other processes\n"
     "        open it); advance 30s, 1m30s, 250ms, 2h, 1d: move it forward;\n"
     "        set EPOCH_MS or YYYY-MM-DDTHH:MM:SS[.mmm]Z: move it to a later\n"
     "        time"},
    {NULL, CLI_STRING, 0, NULL}};

const cli_flag cli_f_peek[] = {
    {"queue-url", CLI_STRING, 1, "queue URL or bare queue name"},
    {"show-invisible", CLI_BOOL, 0, "also messages in flight"},
    {"show-delayed", CLI_BOOL, 0, "also delayed messages"},
    {"max-number-of-messages", CLI_INT, 0,
     "at most this many, oldest first (default: all)"},
    {NULL, CLI_STRING, 0, NULL}};

const cli_flag cli_f_reset[] = {
    {"yes", CLI_BOOL, 0, "(required) yes, delete every queue of the home"},
    {NULL, CLI_STRING, 0, NULL}};

/* The positional words of the command (CLI_WORDS is its first entry). */
static const cli_opt *
words(const cli_ctx *c)
{
    return c->opt[0].set ? &c->opt[0] : NULL;
}

/* ---- clock ------------------------------------------------------------------
 */

/* Epoch ms, or an ISO 8601 UTC time. 0 or -1. */
static int
parse_time(const char *s, int64_t *ms)
{
    char *end;
    if (*s && strspn(s, "0123456789") == strlen(s)) {
        long long v = strtoll(s, &end, 10);
        *ms = v;
        return 0;
    }
    return cli_parse_iso_time(s, ms);
}

static json_t *
clock_doc(lmq_env *env)
{
    int64_t off = 0;
    int test = lmq_env_clock_offset(env, &off) == 0;
    int64_t now = lmq_env_now(env);
    char iso[64];
    cli_iso_time(now, iso, sizeof iso);
    return json_pack("{s:b,s:I,s:s,s:I}", "TestClock", test, "Now",
                     (json_int_t)now, "NowIso", iso, "OffsetMs",
                     (json_int_t)off);
}

int
cli_cmd_clock(cli_ctx *c)
{
    const cli_opt *w = words(c);
    const char *verb = w ? w->tok[0].s : "show";
    size_t nargs = w ? w->n - 1 : 0;
    int rc;

    if (strcmp(verb, "enable") == 0 || strcmp(verb, "show") == 0) {
        if (nargs)
            return cli_usage_error("lmq clock %s takes no value", verb);
    } else if (strcmp(verb, "advance") == 0 || strcmp(verb, "set") == 0) {
        if (nargs != 1)
            return cli_usage_error("lmq clock %s takes one value", verb);
    } else {
        return cli_usage_error("argument action: Invalid choice: '%s' "
                               "(choose from 'enable', 'show', 'advance', "
                               "'set')",
                               verb);
    }
    if (strcmp(verb, "show") == 0)
        c->must_exist = 1; /* reads only: never creates a home */
    if (strcmp(verb, "enable") == 0) {
        lmq_env_opts o;
        cli_env_opts(c, &o);
        o.test_clock = 1;
        if ((rc = cli_env_open(c, &o)) != 0)
            return rc;
    } else if ((rc = cli_env(c)) != 0) {
        return rc;
    }
    if (strcmp(verb, "advance") == 0 || strcmp(verb, "set") == 0) {
        const char *v = w->tok[1].s;
        int64_t step;
        if (verb[0] == 'a') {
            if (cli_parse_duration(v, 1, &step) != 0)
                return cli_usage_error("argument DURATION: expected a "
                                       "duration like 30s, 1m30s, 250ms, "
                                       "2h, got '%s'",
                                       v);
        } else {
            int64_t target;
            if (parse_time(v, &target) != 0)
                return cli_usage_error("argument TIME: expected epoch "
                                       "milliseconds or "
                                       "YYYY-MM-DDTHH:MM:SS[.mmm]Z, got '%s'",
                                       v);
            step = target - lmq_env_now(c->env);
        }
        if ((rc = lmq_env_clock_advance(c->env, step, NULL)) != 0)
            return cli_service_error(c, rc);
    }
    cli_print(c, clock_doc(c->env));
    return 0;
}

/* ---- peek -------------------------------------------------------------------
 */

int
cli_cmd_peek(cli_ctx *c)
{
    static const char *const all[] = {"All", NULL};
    const cli_opt *qo = cli_opt_get(c, "queue-url");
    const cli_opt *mo = cli_opt_get(c, "max-number-of-messages");
    char *name = NULL;
    lmq_msg **msgs = NULL;
    size_t n = 0;
    lmq_peek_opts o;
    int rc;

    lmq_peek_opts_init(&o);
    o.show_inflight = cli_opt_get(c, "show-invisible") != NULL;
    o.show_delayed = cli_opt_get(c, "show-delayed") != NULL;
    if (mo) {
        long v = strtol(mo->tok[0].s, NULL, 10);
        if (v < 0)
            return cli_param_error("Invalid value for parameter "
                                   "max-number-of-messages: %ld (at least 0)",
                                   v);
        o.max_messages = (size_t)v;
    }
    if ((rc = cli_env(c)) != 0)
        return rc;
    if ((rc = lmq_queue_name_from_url(qo->tok[0].s, &name)) != 0 ||
        (rc = lmq_queue_peek(c->env, name, &o, &msgs, &n)) != 0) {
        free(name);
        return cli_service_error(c, rc);
    }
    free(name);
    json_t *doc = json_object();
    if (n) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *m = cli_message_json(msgs[i], all, NULL);
            json_t *attrs = json_object_get(m, "Attributes");
            char at[24];
            /* A peek is not a delivery: no receipt handle. */
            json_object_del(m, "ReceiptHandle");
            if (!attrs) {
                attrs = json_object();
                json_object_set_new(m, "Attributes", attrs);
            }
            snprintf(at, sizeof at, "%lld",
                     (long long)lmq_msg_visible_at(msgs[i]));
            json_object_set_new(
                attrs, "lmq:State",
                json_string(lmq_msg_state_name(lmq_msg_state(msgs[i]))));
            json_object_set_new(attrs, "lmq:VisibleAt", json_string(at));
            json_array_append_new(arr, m);
        }
        json_object_set_new(doc, "Messages", arr);
    }
    lmq_msg_list_free(msgs, n);
    cli_print(c, doc);
    return 0;
}

/* ---- reset ------------------------------------------------------------------
 */

int
cli_cmd_reset(cli_ctx *c)
{
    size_t n = 0;
    int rc;
    if (!cli_opt_get(c, "yes"))
        return cli_usage_error("lmq reset deletes every queue of the home: "
                               "add --yes");
    if ((rc = cli_env(c)) != 0)
        return rc;
    if ((rc = lmq_env_reset(c->env, &n)) != 0)
        return cli_service_error(c, rc);
    cli_print(c, json_pack("{s:I}", "Deleted", (json_int_t)n));
    return 0;
}
