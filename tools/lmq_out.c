/*
 * lmq_out.c: what the lmq CLI prints, byte for byte where the AWS CLI is
 * specified.
 *
 * JSON: the AWS CLI prints json.dumps(response, indent=4,
 * ensure_ascii=False) plus a newline, and nothing at all when the response
 * is empty ({}). jansson with JSON_INDENT(4) produces the same layout
 * (", " becomes ",\n", "key": value, empty containers as {} and []), and
 * keeps keys in insertion order, so the commands insert them in the order
 * of the botocore model's shapes.
 *
 * Text: a port of the AWS CLI's text formatter (awscli/text.py): a dict
 * prints its scalar values on one tab-separated line, sorted by key and led
 * by the upper-cased name of the key it hangs under, then recurses into its
 * non-scalar values in key order; a list of dicts prints one line per dict
 * with the union of their scalar keys as columns. Booleans print as Python
 * does ("True").
 *
 * Errors: "\nAn error occurred (Code) when calling the Op operation: msg\n"
 * on stderr, as botocore's ClientError renders, with lmq's "LMQ_XXX: "
 * detail prefix removed (it names the C enum, which means nothing to a
 * caller of the CLI).
 */
#include "lmq_cli.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *
cli_jstr(const char *s, size_t len)
{
    json_t *v = json_stringn(s, len);
    /* Bodies and values come from the library, which only stores valid
     * UTF-8; fall back to the unchecked form rather than lose output. */
    return v ? v : json_stringn_nocheck(s, len);
}

void
cli_print(const cli_ctx *c, json_t *doc)
{
    if (!doc)
        return;
    if (json_is_object(doc) && json_object_size(doc) == 0) {
        json_decref(doc);
        return;
    }
    if (c->output == CLI_OUT_TEXT) {
        cli_print_text(stdout, doc);
    } else {
        json_dumpf(doc, stdout, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    }
    fflush(stdout);
    json_decref(doc);
}

/* ---- text ----------------------------------------------------------------- */

static int
is_scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

static void
put_scalar(FILE *f, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        fwrite(json_string_value(v), 1, json_string_length(v), f);
        break;
    case JSON_INTEGER:
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        fprintf(f, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        fputs("True", f);
        break;
    case JSON_FALSE:
        fputs("False", f);
        break;
    case JSON_NULL:
        fputs("None", f);
        break;
    default: {
        char *s = json_dumps(v, JSON_COMPACT);
        if (s)
            fputs(s, f);
        free(s);
        break;
    }
    }
}

static void
put_ident(FILE *f, const char *id)
{
    for (; *id; id++)
        fputc(toupper((unsigned char)*id), f);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of obj, sorted; free the array (not the strings). */
static const char **
sorted_keys(json_t *obj, size_t *n)
{
    size_t k = 0;
    const char *key;
    json_t *v;
    const char **keys = calloc(json_object_size(obj) + 1, sizeof *keys);

    if (!keys) {
        *n = 0;
        return NULL;
    }
    json_object_foreach(obj, key, v)
        keys[k++] = key;
    qsort(keys, k, sizeof *keys, cmp_str);
    *n = k;
    return keys;
}

static void text_item(FILE *f, json_t *item, const char *ident,
                      const char **scalar_keys, size_t nscalar);

static int
in_keys(const char *k, const char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i], k) == 0)
            return 1;
    return 0;
}

static void
text_dict(FILE *f, json_t *obj, const char *ident, const char **scalar_keys,
          size_t nscalar)
{
    size_t n, i, printed = 0;
    const char **keys = sorted_keys(obj, &n);

    if (!keys)
        return;
    if (!scalar_keys) {
        for (i = 0; i < n; i++) {
            json_t *v = json_object_get(obj, keys[i]);
            if (!is_scalar(v))
                continue;
            if (printed == 0 && ident) {
                put_ident(f, ident);
                printed++;
            }
            if (printed++)
                fputc('\t', f);
            put_scalar(f, v);
        }
    } else {
        for (i = 0; i < nscalar; i++) {
            json_t *v = json_object_get(obj, scalar_keys[i]);
            if (printed == 0 && ident) {
                put_ident(f, ident);
                printed++;
            }
            if (printed++)
                fputc('\t', f);
            if (v)
                put_scalar(f, v);
        }
    }
    if (printed)
        fputc('\n', f);
    for (i = 0; i < n; i++) {
        json_t *v = json_object_get(obj, keys[i]);
        if (scalar_keys ? in_keys(keys[i], scalar_keys, nscalar)
                        : is_scalar(v))
            continue;
        text_item(f, v, keys[i], NULL, 0);
    }
    free(keys);
}

static void
text_scalar_list(FILE *f, json_t *arr, const char *ident)
{
    size_t i, printed = 0;
    json_t *v;

    json_array_foreach(arr, i, v) {
        if (!is_scalar(v))
            continue;
        if (ident) {
            put_ident(f, ident);
            fputc('\t', f);
            put_scalar(f, v);
            fputc('\n', f);
        } else {
            if (printed++)
                fputc('\t', f);
            put_scalar(f, v);
        }
    }
    if (!ident && printed)
        fputc('\n', f);
}

static void
text_list(FILE *f, json_t *arr, const char *ident)
{
    size_t i, nk = 0, cap;
    json_t *v;
    int any_dict = 0, any_list = 0;

    if (json_array_size(arr) == 0)
        return;
    json_array_foreach(arr, i, v) {
        any_dict |= json_is_object(v);
        any_list |= json_is_array(v);
    }
    if (any_dict) {
        /* The union of the scalar keys of every dict, sorted. */
        const char **keys;
        cap = 0;
        json_array_foreach(arr, i, v)
            if (json_is_object(v))
                cap += json_object_size(v);
        keys = calloc(cap + 1, sizeof *keys);
        if (!keys)
            return;
        json_array_foreach(arr, i, v) {
            const char *k;
            json_t *e;
            if (!json_is_object(v))
                continue;
            json_object_foreach(v, k, e)
                if (is_scalar(e) && !in_keys(k, keys, nk))
                    keys[nk++] = k;
        }
        qsort(keys, nk, sizeof *keys, cmp_str);
        json_array_foreach(arr, i, v)
            text_item(f, v, ident, keys, nk);
        free(keys);
    } else if (any_list) {
        text_scalar_list(f, arr, ident);
        json_array_foreach(arr, i, v)
            if (!is_scalar(v))
                text_item(f, v, ident, NULL, 0);
    } else {
        text_scalar_list(f, arr, ident);
    }
}

static void
text_item(FILE *f, json_t *item, const char *ident, const char **scalar_keys,
          size_t nscalar)
{
    if (json_is_object(item)) {
        text_dict(f, item, ident, scalar_keys, nscalar);
    } else if (json_is_array(item)) {
        text_list(f, item, ident);
    } else {
        put_scalar(f, item);
        fputc('\n', f);
    }
}

void
cli_print_text(FILE *f, json_t *doc)
{
    text_item(f, doc, NULL, NULL, 0);
}

/* ---- errors --------------------------------------------------------------- */

const char *
cli_strip_errmsg(const char *msg)
{
    if (msg && strncmp(msg, "LMQ_", 4) == 0) {
        const char *p = msg + 4;
        while (*p == '_' || isupper((unsigned char)*p) ||
               isdigit((unsigned char)*p))
            p++;
        if (p[0] == ':' && p[1] == ' ')
            return p + 2;
        if (p[0] == ':')
            return p + 1;
    }
    return msg ? msg : "";
}

int
cli_op_error(const char *op, const char *code, const char *msg)
{
    fprintf(stderr, "\nAn error occurred (%s) when calling the %s "
                    "operation: %s\n",
            code, op, msg);
    return CLI_EXIT_SERVICE;
}

int
cli_service_error_op(const char *op, int rc)
{
    const char *code = lmq_err_sqs_code(rc);
    const char *msg = cli_strip_errmsg(lmq_errmsg());

    if (!*msg)
        msg = cli_strip_errmsg(lmq_strerror(rc));
    if (!code || !*code)
        code = "InternalFailure";
    return cli_op_error(op, code, msg);
}

int
cli_service_error(const cli_ctx *c, int rc)
{
    return cli_service_error_op(c->cmd->op, rc);
}

int
cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("usage: lmq [options] <command> [parameters]\n"
          "To see help text, you can run:\n\n"
          "  lmq --help\n"
          "  lmq <command> --help\n\n"
          "lmq: error: ",
          stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_USAGE;
}

int
cli_param_error(const char *fmt, ...)
{
    va_list ap;
    fputs("\nParameter validation failed:\n", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_USAGE;
}
