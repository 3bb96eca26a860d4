/*
 * lmq_args.c: argument values of the lmq CLI, read the way the AWS CLI reads
 * them.
 *
 * Every value token may be "file://path" (the file's text, which must be
 * UTF-8) or "fileb://path" (its bytes, which may hold anything). Structured
 * values come as JSON (a token whose first non-blank character is '{' or
 * '[') or in the AWS CLI's shorthand:
 *
 *     Key=Value,Key2=Value2            a structure or a map
 *     Key={Inner=v,Other=w}            nested structure
 *     Key=[a,b] or Key=a,b             a list (a comma run after '=' whose
 *                                      next item has no '=' continues it)
 *     Key='a,b' / Key="x}y"            quoting, with \ escaping the quote
 *
 * Scalars in shorthand are always strings; the commands convert them. The
 * parser is a small recursive descent over the token; it builds jansson
 * values so that both forms feed the same code afterwards. Rejected: a full
 * reimplementation of botocore's shorthand grammar (paths like a.b=c), which
 * no SQS parameter needs.
 */
#include "lmq_cli.h"
#include "../lib/utf8.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- file:// and fileb:// ---------------------------------------------- */

static int
read_file(const char *path, char **out, size_t *outlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (!f)
        return -1;
    for (;;) {
        if (cap - len < 4096) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        int e = errno;
        free(buf);
        fclose(f);
        errno = e;
        return -1;
    }
    fclose(f);
    if (!buf) {
        buf = malloc(1);
        if (!buf)
            return -1;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

int
cli_tok_load(const char *flag, const char *arg, cli_tok *out)
{
    const char *path = NULL;
    int text = 0;

    if (strncmp(arg, "file://", 7) == 0) {
        path = arg + 7;
        text = 1;
    } else if (strncmp(arg, "fileb://", 8) == 0) {
        path = arg + 8;
    }
    if (!path) {
        out->len = strlen(arg);
        out->s = strdup(arg);
        if (!out->s) {
            fprintf(stderr, "\nout of memory\n");
            return -1;
        }
        return 0;
    }
    if (read_file(path, &out->s, &out->len) != 0) {
        fprintf(stderr,
                "\nError parsing parameter '--%s': Unable to load paramfile "
                "%s: %s\n",
                flag, arg, strerror(errno));
        return -1;
    }
    if (text && !lmq__utf8_valid((const unsigned char *)out->s, out->len)) {
        fprintf(stderr,
                "\nError parsing parameter '--%s': Unable to load paramfile "
                "%s: the file is not UTF-8 text (use fileb:// for bytes)\n",
                flag, arg);
        free(out->s);
        out->s = NULL;
        return -1;
    }
    return 0;
}

/* ---- shorthand ----------------------------------------------------------- */

typedef struct sh {
    const char *s;
    size_t i;
    char *err;
    size_t errlen;
} sh;

static void
sh_fail(sh *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sh_fail(sh *p, const char *fmt, ...)
{
    va_list ap;
    if (p->err[0])
        return;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
}

static void
sh_ws(sh *p)
{
    while (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
           p->s[p->i] == '\r')
        p->i++;
}

static json_t *sh_value(sh *p, char close);

/* Whether the text at position i starts "key=" (a new member rather than a
 * continuation of a comma-separated list value). */
static int
sh_looks_like_key(const sh *p, size_t i)
{
    size_t k = i, start;
    while (p->s[k] == ' ' || p->s[k] == '\t')
        k++;
    start = k;
    while (p->s[k] && !strchr("=,{}[]'\"", p->s[k]))
        k++;
    return k > start && p->s[k] == '=';
}

static char *
sh_key(sh *p)
{
    size_t start, end;
    sh_ws(p);
    start = p->i;
    while (p->s[p->i] && !strchr("=,{}[]'\"", p->s[p->i]))
        p->i++;
    end = p->i;
    while (end > start && isspace((unsigned char)p->s[end - 1]))
        end--;
    if (p->s[p->i] != '=' || end == start) {
        if (p->s[p->i])
            sh_fail(p, "Expected: '=', received: '%c' for input: %s",
                    p->s[p->i], p->s);
        else
            sh_fail(p, "Expected: '=', received: 'EOF' for input: %s", p->s);
        return NULL;
    }
    p->i++;
    return strndup(p->s + start, end - start);
}

/* key=value(,key=value)* up to close (0: the end of the token). */
static json_t *
sh_struct(sh *p, char close)
{
    json_t *obj = json_object();

    if (!obj) {
        sh_fail(p, "out of memory");
        return NULL;
    }
    sh_ws(p);
    if (close && p->s[p->i] == close) {
        p->i++;
        return obj;
    }
    for (;;) {
        char *key = sh_key(p);
        json_t *val;
        if (!key)
            goto fail;
        val = sh_value(p, close);
        if (!val) {
            free(key);
            goto fail;
        }
        sh_ws(p);
        /* "Key=a,b,c": a comma run whose items have no '=' is a list. */
        if (p->s[p->i] == ',' && !sh_looks_like_key(p, p->i + 1)) {
            json_t *arr = json_array();
            json_array_append_new(arr, val);
            while (p->s[p->i] == ',' && !sh_looks_like_key(p, p->i + 1)) {
                json_t *v;
                p->i++;
                v = sh_value(p, close);
                if (!v) {
                    json_decref(arr);
                    free(key);
                    goto fail;
                }
                json_array_append_new(arr, v);
                sh_ws(p);
            }
            val = arr;
        }
        json_object_set_new(obj, key, val);
        free(key);
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        break;
    }
    if (close) {
        if (p->s[p->i] != close) {
            sh_fail(p, "Expected: '%c', received: '%s' for input: %s", close,
                    p->s[p->i] ? p->s + p->i : "EOF", p->s);
            goto fail;
        }
        p->i++;
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

static json_t *
sh_quoted(sh *p)
{
    char q = p->s[p->i++];
    size_t cap = strlen(p->s + p->i) + 1, len = 0;
    char *buf = malloc(cap);
    json_t *v;

    if (!buf) {
        sh_fail(p, "out of memory");
        return NULL;
    }
    while (p->s[p->i] && p->s[p->i] != q) {
        if (p->s[p->i] == '\\' && (p->s[p->i + 1] == q ||
                                   p->s[p->i + 1] == '\\'))
            p->i++;
        buf[len++] = p->s[p->i++];
    }
    if (p->s[p->i] != q) {
        sh_fail(p, "Expected: '%c', received: 'EOF' for input: %s", q, p->s);
        free(buf);
        return NULL;
    }
    p->i++;
    v = cli_jstr(buf, len);
    free(buf);
    if (!v)
        sh_fail(p, "invalid UTF-8 in value");
    return v;
}

static json_t *
sh_value(sh *p, char close)
{
    sh_ws(p);
    if (p->s[p->i] == '{') {
        p->i++;
        return sh_struct(p, '}');
    }
    if (p->s[p->i] == '[') {
        json_t *arr = json_array();
        p->i++;
        sh_ws(p);
        if (p->s[p->i] == ']') {
            p->i++;
            return arr;
        }
        for (;;) {
            json_t *v = sh_value(p, ']');
            if (!v) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, v);
            sh_ws(p);
            if (p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if (p->s[p->i] == ']') {
                p->i++;
                return arr;
            }
            sh_fail(p, "Expected: ',' or ']', received: '%s' for input: %s",
                    p->s[p->i] ? p->s + p->i : "EOF", p->s);
            json_decref(arr);
            return NULL;
        }
    }
    if (p->s[p->i] == '\'' || p->s[p->i] == '"')
        return sh_quoted(p);

    size_t start = p->i, end;
    while (p->s[p->i] && p->s[p->i] != ',' &&
           !(close && p->s[p->i] == close))
        p->i++;
    end = p->i;
    while (end > start && isspace((unsigned char)p->s[end - 1]))
        end--;
    json_t *v = cli_jstr(p->s + start, end - start);
    if (!v)
        sh_fail(p, "invalid UTF-8 in value");
    return v;
}

json_t *
cli_shorthand(const char *s, char *err, size_t errlen)
{
    sh p = {.s = s, .i = 0, .err = err, .errlen = errlen};
    json_t *obj;

    err[0] = '\0';
    obj = sh_struct(&p, 0);
    if (!obj)
        return NULL;
    sh_ws(&p);
    if (p.s[p.i]) {
        sh_fail(&p, "Unexpected input '%s' for input: %s", p.s + p.i, s);
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* ---- structured flag values -------------------------------------------- */

static int
starts_with_char(const char *s, char c)
{
    while (isspace((unsigned char)*s))
        s++;
    return *s == c;
}

static json_t *
load_json(const char *flag, const cli_tok *t, json_type want)
{
    json_error_t je;
    json_t *v = json_loadb(t->s, t->len, JSON_DECODE_ANY, &je);
    if (!v) {
        fprintf(stderr,
                "\nError parsing parameter '--%s': Invalid JSON: %s\n"
                "JSON received: %s\n",
                flag, je.text, t->s);
        return NULL;
    }
    if (json_typeof(v) != want) {
        fprintf(stderr,
                "\nError parsing parameter '--%s': Invalid JSON: expected "
                "a JSON %s\nJSON received: %s\n",
                flag, want == JSON_OBJECT ? "object" : "array", t->s);
        json_decref(v);
        return NULL;
    }
    return v;
}

/* The integer members of the structures lmq's flags take (batch entries):
 * shorthand gives them as text, which the AWS CLI converts by the model;
 * JSON must give integers. */
static void
shorthand_ints(json_t *obj)
{
    static const char *const ints[] = {"DelaySeconds", "VisibilityTimeout",
                                       NULL};
    for (size_t i = 0; ints[i]; i++) {
        json_t *v = json_object_get(obj, ints[i]);
        int n;
        if (json_is_string(v) && cli_parse_int(json_string_value(v), &n) == 0)
            json_object_set_new(obj, ints[i], json_integer(n));
    }
}

static json_t *
parse_struct_tok(const char *flag, const cli_tok *t)
{
    char err[512];
    json_t *v;

    if (starts_with_char(t->s, '{'))
        return load_json(flag, t, JSON_OBJECT);
    if (starts_with_char(t->s, '[')) {
        /* JSON, but not a structure: the AWS CLI's text for it. */
        json_t *a = json_loadb(t->s, t->len, JSON_DECODE_ANY, NULL);
        if (a) {
            json_decref(a);
            fprintf(stderr, "\nError parsing parameter '--%s': Invalid "
                            "JSON:\n%s\n",
                    flag, t->s);
            return NULL;
        }
        return load_json(flag, t, JSON_OBJECT);
    }
    if (strlen(t->s) != t->len) {
        fprintf(stderr, "\nError parsing parameter '--%s': NUL byte in "
                        "value\n", flag);
        return NULL;
    }
    v = cli_shorthand(t->s, err, sizeof err);
    if (!v)
        fprintf(stderr, "\nError parsing parameter '--%s': %s\n", flag, err);
    return v;
}

json_t *
cli_parse_map(const char *flag, const cli_opt *o)
{
    json_t *all = NULL;

    for (size_t i = 0; i < o->n; i++) {
        json_t *v = parse_struct_tok(flag, &o->tok[i]);
        if (!v) {
            json_decref(all);
            return NULL;
        }
        if (!all) {
            all = v;
        } else {
            json_object_update(all, v);
            json_decref(v);
        }
    }
    return all ? all : json_object();
}

json_t *
cli_parse_list(const char *flag, const cli_opt *o)
{
    json_t *arr;

    if (o->n == 1 && starts_with_char(o->tok[0].s, '['))
        return load_json(flag, &o->tok[0], JSON_ARRAY);
    arr = json_array();
    for (size_t i = 0; i < o->n; i++) {
        json_t *v = cli_jstr(o->tok[i].s, o->tok[i].len);
        if (!v) {
            fprintf(stderr, "\nError parsing parameter '--%s': invalid "
                            "UTF-8\n", flag);
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, v);
    }
    return arr;
}

json_t *
cli_parse_structs(const char *flag, const cli_opt *o)
{
    json_t *arr;

    if (o->n == 1 && starts_with_char(o->tok[0].s, '['))
        return load_json(flag, &o->tok[0], JSON_ARRAY);
    arr = json_array();
    for (size_t i = 0; i < o->n; i++) {
        json_t *v = parse_struct_tok(flag, &o->tok[i]);
        if (!v) {
            json_decref(arr);
            return NULL;
        }
        if (!starts_with_char(o->tok[i].s, '{'))
            shorthand_ints(v);
        json_array_append_new(arr, v);
    }
    return arr;
}

/* ---- base64 (libsodium) ------------------------------------------------- */

char *
cli_b64_encode(const void *data, size_t len)
{
    size_t n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc(n);
    if (out)
        sodium_bin2base64(out, n, data, len, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

int
cli_b64_decode(const char *s, unsigned char **out, size_t *outlen)
{
    /* Padded or not, blanks anywhere; leftover bits must be zero. */
    static const int variants[] = {sodium_base64_VARIANT_ORIGINAL,
                                   sodium_base64_VARIANT_ORIGINAL_NO_PADDING};
    size_t n = strlen(s);
    unsigned char *buf = malloc(n / 4 * 3 + 3);

    if (!buf)
        return -1;
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        const char *end = NULL;
        if (sodium_base642bin(buf, n / 4 * 3 + 3, s, n, " \t\r\n\v\f", outlen,
                              &end, variants[v]) == 0 &&
            end == s + n) {
            *out = buf;
            return 0;
        }
    }
    free(buf);
    return -1;
}

/* ---- flags of the parsed command line ----------------------------------- */

const cli_opt *
cli_opt_get(const cli_ctx *c, const char *name)
{
    for (size_t i = 0; c->cmd->flags[i].name; i++)
        if (strcmp(c->cmd->flags[i].name, name) == 0)
            return c->opt[i].set ? &c->opt[i] : NULL;
    return NULL;
}

const char *
cli_opt_str(const cli_ctx *c, const char *name)
{
    const cli_opt *o = cli_opt_get(c, name);
    return o && o->n ? o->tok[0].s : NULL;
}

int
cli_parse_int(const char *s, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    while (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r')
        end++;
    if (errno || end == s || *end || v < INT_MIN || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

int
cli_opt_int(const cli_ctx *c, const char *name, int def)
{
    const char *s = cli_opt_str(c, name);
    int v = def;
    if (s)
        (void)cli_parse_int(s, &v);
    return v;
}

/* ---- durations and times ------------------------------------------------ */

int
cli_parse_duration(const char *s, int bare_seconds, int64_t *ms)
{
    int64_t total = 0;
    int units = 0;

    while (*s) {
        char *end;
        double v, unit;
        if (!isdigit((unsigned char)*s) && *s != '.')
            return -1;
        v = strtod(s, &end);
        if (end == s || v < 0)
            return -1;
        s = end;
        if (strncmp(s, "ms", 2) == 0)
            unit = 1, s += 2;
        else if (*s == 's')
            unit = 1000, s++;
        else if (*s == 'm')
            unit = 60000, s++;
        else if (*s == 'h')
            unit = 3600000, s++;
        else if (*s == 'd')
            unit = 86400000, s++;
        else if (*s == '\0' && bare_seconds)
            unit = 1000;
        else
            return -1;
        if (v * unit > 1e15)
            return -1;
        total += (int64_t)(v * unit + 0.5);
        units++;
    }
    if (!units)
        return -1;
    *ms = total;
    return 0;
}

int
cli_parse_iso_time(const char *s, int64_t *ms)
{
    struct tm tm;
    int frac = 0, n = 0;

    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    s += n;
    if (*s == '.') {
        int digits = 0;
        for (s++; isdigit((unsigned char)*s); s++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*s - '0');
        for (; digits < 3; digits++)
            frac *= 10;
    }
    if (strcmp(s, "Z") != 0)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *ms = (int64_t)t * 1000 + frac;
    return 0;
}
