/*
 * lmq_page.c: the AWS CLI's pagination of list commands (--max-items,
 * --page-size, --starting-token, --no-paginate), shared by list-queues and
 * list-dead-letter-source-queues.
 *
 * It follows awscli's customizations/paginate.py and botocore's
 * PageIterator, so that a token printed by `aws` resumes `lmq` and the other
 * way round, byte for byte:
 *
 *  - The service's own MaxResults/NextToken flags (--max-results,
 *    --next-token) or --no-paginate turn pagination off: one call, the
 *    service's NextToken printed as it is. The paging flags are then an
 *    error.
 *  - Otherwise pages are fetched (MaxResults = --page-size) until the
 *    service has no more or --max-items is reached. The NextToken printed
 *    is base64 of the JSON {"NextToken": <service token>} with, when a page
 *    was cut short, "boto_truncate_amount": <items of that page already
 *    printed>; --starting-token decodes it (or, as botocore does, takes an
 *    undecodable token as the service's own, "TOKEN___N" as the old form).
 *  - json and table print the pages merged; text prints page by page and
 *    the NextToken last as "NEXTTOKEN<TAB>token" (awscli's TextFormatter).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmq_cli.h"

/* Python's seq[:n]: how many of len items a stop index keeps. */
static size_t
py_keep(size_t len, long long n)
{
    if (n < 0)
        n += (long long)len;
    return n < 0 ? 0 : (size_t)n > len ? len : (size_t)n;
}

/* json.dumps() of {"NextToken": tok|null[, "boto_truncate_amount": n]},
 * base64 (padded): botocore's TokenEncoder. NULL when out of memory. */
static char *
encode_token(const char *tok, int with_amount, long long amount)
{
    json_t *o = json_object();
    char *js, *out = NULL;

    json_object_set_new(o, "NextToken", tok ? json_string(tok) : json_null());
    if (with_amount)
        json_object_set_new(o, "boto_truncate_amount", json_integer(amount));
    /* Without JSON_COMPACT jansson separates as json.dumps does: ", ", ": ". */
    js = json_dumps(o, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    if (js) {
        size_t n = sodium_base64_encoded_len(strlen(js),
                                             sodium_base64_VARIANT_ORIGINAL);
        if ((out = malloc(n)))
            sodium_bin2base64(out, n, (const unsigned char *)js, strlen(js),
                              sodium_base64_VARIANT_ORIGINAL);
        free(js);
    }
    return out;
}

/* botocore's _parse_starting_token: *tok (malloc'd, NULL for none) and the
 * items of the first page to skip. -1 when out of memory. */
static int
decode_token(const char *s, char **tok, long long *skip)
{
    size_t n = strlen(s), bl = 0;
    unsigned char *bin = malloc(n + 1);
    json_t *doc = NULL;

    *tok = NULL;
    *skip = 0;
    if (!bin)
        return -1;
    if (sodium_base642bin(bin, n, s, n, NULL, &bl, NULL,
                          sodium_base64_VARIANT_ORIGINAL) == 0) {
        bin[bl] = '\0';
        doc = json_loadb((const char *)bin, bl, JSON_DECODE_ANY, NULL);
    }
    free(bin);
    if (json_is_object(doc)) {
        json_t *t = json_object_get(doc, "NextToken");
        json_t *a = json_object_get(doc, "boto_truncate_amount");
        if (json_is_string(t) && strcmp(json_string_value(t), "None") != 0 &&
            !(*tok = strdup(json_string_value(t)))) {
            json_decref(doc);
            return -1;
        }
        if (json_is_integer(a))
            *skip = json_integer_value(a);
        json_decref(doc);
        return 0;
    }
    json_decref(doc);
    /* The deprecated form "TOKEN___N"; anything else is the service's. */
    const char *sep = strstr(s, "___");
    char *end = NULL;
    long long v = 0;
    if (sep && !strstr(sep + 3, "___") && sep[3]) {
        v = strtoll(sep + 3, &end, 10);
        if (*end)
            sep = NULL;
    } else {
        sep = NULL;
    }
    size_t tl = sep ? (size_t)(sep - s) : n;
    *skip = sep ? v : 0;
    if (tl == 4 && strncmp(s, "None", 4) == 0)
        return 0;
    return (*tok = strndup(s, tl)) ? 0 : -1;
}

int
cli_paginate(cli_ctx *c, const char *key, int key_always, cli_page_fn fetch)
{
    static const char *const paging[] = {"starting-token", "page-size",
                                         "max-items"};
    int manual = c->no_paginate || cli_opt_get(c, "max-results") ||
                 cli_opt_get(c, "next-token");
    int rc = 0;

    if (manual) {
        char used[96] = "";
        for (size_t i = 0; i < 3; i++)
            if (cli_opt_get(c, paging[i]))
                snprintf(used + strlen(used), sizeof used - strlen(used),
                         "%s--%s", *used ? ", " : "", paging[i]);
        if (*used) {
            fprintf(stderr,
                    "\nCannot specify --no-paginate along with pagination "
                    "arguments: %s\n",
                    used);
            return CLI_EXIT_USAGE;
        }
        json_t *items = NULL;
        char *next = NULL;
        if ((rc = fetch(c, cli_opt_int(c, "max-results", 0),
                        cli_opt_str(c, "next-token"), &items, &next)) != 0)
            return rc;
        json_t *doc = json_object();
        if (json_array_size(items) || key_always)
            json_object_set(doc, key, items);
        if (next)
            json_object_set_new(doc, "NextToken", json_string(next));
        json_decref(items);
        free(next);
        cli_print(c, doc);
        return 0;
    }

    int page_size = cli_opt_int(c, "page-size", 0);
    int has_max = cli_opt_get(c, "max-items") != NULL;
    long long max_items = cli_opt_int(c, "max-items", 0);
    char *tok = NULL, *resume = NULL;
    long long skip = 0, total = 0;
    json_t *pages = json_array(); /* each page's items, or null */
    json_t *nexts = json_array(); /* each page's service token, or null */

    if (cli_opt_get(c, "page-size") && page_size < 1) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "Value %d for parameter MaxResults is invalid. Reason: "
                 "MaxResults must be an integer between 1 and 1000.",
                 page_size);
        json_decref(pages);
        json_decref(nexts);
        return cli_op_error(c->cmd->op, "InvalidParameterValue", msg);
    }
    if (cli_opt_get(c, "starting-token") &&
        decode_token(cli_opt_str(c, "starting-token"), &tok, &skip) != 0) {
        json_decref(pages);
        json_decref(nexts);
        return CLI_EXIT_OTHER;
    }
    for (int first = 1;; first = 0) {
        json_t *items = NULL;
        char *next = NULL;
        if ((rc = fetch(c, page_size, tok, &items, &next)) != 0)
            break;
        /* The service omits an empty list; botocore then sees None. */
        json_t *page = json_array_size(items) || key_always
                           ? json_incref(items)
                           : json_null();
        json_decref(items);
        long long start = first ? skip : 0;
        if (first && json_is_array(page)) {
            size_t len = json_array_size(page);
            long long s = start < 0 ? start + (long long)len : start;
            json_t *cut = json_array();
            for (size_t i = s < 0 ? 0 : (size_t)s; i < len; i++)
                json_array_append(cut, json_array_get(page, i));
            json_decref(page);
            page = cut;
        }
        long long n = (long long)json_array_size(page); /* 0 for null */
        if (has_max && total + n - max_items > 0) {
            long long keep = n - (total + n - max_items);
            json_t *cut = json_array();
            for (size_t i = 0; i < py_keep((size_t)n, keep); i++)
                json_array_append(cut, json_array_get(page, i));
            json_decref(page);
            json_array_append_new(pages, cut);
            json_array_append_new(nexts, next ? json_string(next) : json_null());
            resume = encode_token(tok, 1, keep + start);
            free(next);
            break;
        }
        json_array_append_new(pages, page);
        json_array_append_new(nexts, next ? json_string(next) : json_null());
        total += n;
        free(tok);
        tok = next;
        if (!tok)
            break;
        if (has_max && total == max_items) {
            resume = encode_token(tok, 0, 0);
            break;
        }
    }
    free(tok);
    if (rc == 0) {
        size_t i;
        json_t *page;
        if (c->output == CLI_OUT_YAML_STREAM) {
            /* Each page as the service answered it (its own NextToken,
             * the items printed), --query applied per page, no resume
             * token: awscli's StreamedYAMLFormatter over the pages. */
            json_array_foreach(pages, i, page)
            {
                json_t *doc = json_object();
                json_t *nt = json_array_get(nexts, i);
                if (json_is_array(page))
                    json_object_set(doc, key, page);
                if (json_is_string(nt))
                    json_object_set(doc, "NextToken", nt);
                if (json_object_size(doc) == 0 && !c->query) {
                    json_t *one = json_pack("[o]", doc);
                    cli_print_yaml(stdout, one);
                    json_decref(one);
                } else {
                    cli_print(c, doc);
                }
            }
        } else if (c->output == CLI_OUT_TEXT) {
            json_array_foreach(pages, i, page)
            {
                json_t *doc = json_object();
                json_object_set(doc, key, page);
                cli_print(c, doc);
            }
            if (resume) {
                json_t *doc = json_object(), *in = json_object();
                json_object_set_new(in, "NextToken", json_string(resume));
                json_object_set_new(doc, "NextToken", in);
                cli_print(c, doc);
            }
        } else {
            json_t *all = NULL, *doc = json_object();
            json_array_foreach(pages, i, page)
            {
                if (!json_is_array(page))
                    continue;
                if (!all)
                    all = json_array();
                json_array_extend(all, page);
            }
            if (all)
                json_object_set_new(doc, key, all);
            if (resume)
                json_object_set_new(doc, "NextToken", json_string(resume));
            cli_print(c, doc);
        }
    }
    free(resume);
    json_decref(pages);
    json_decref(nexts);
    return rc;
}
