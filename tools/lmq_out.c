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
 * Table: a port of the AWS CLI's table formatter (awscli/formatter.py,
 * TableFormatter, and awscli/table.py, MultiTable), without colour (as
 * `aws --color off`, and as the AWS CLI prints when stdout is not a
 * terminal). The document becomes sections: the operation's name titles
 * the first; a dict's scalar keys (sorted) are one header row and one value
 * row (a lone scalar key is one key/value row); each non-scalar value opens
 * a section one level deeper, titled by its key; a list of dicts is one
 * row per dict under the union of their scalar keys, and when they have
 * non-scalar values each dict repeats the section header before its own.
 * Columns get their widest cell plus 4, scaled to the widest section;
 * when that is wider than the terminal (80 columns when stdout is not one)
 * every single-row section turns into key/value rows. Widths count East
 * Asian wide, fullwidth and ambiguous characters as two columns, as the
 * AWS CLI does (lmq_width.c).
 *
 * Errors: "\nAn error occurred (Code) when calling the Op operation: msg\n"
 * on stderr, as botocore's ClientError renders, with lmq's "LMQ_XXX: "
 * detail prefix removed (it names the C enum, which means nothing to a
 * caller of the CLI).
 */
#include "lmq_cli.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

json_t *
cli_jstr(const char *s, size_t len)
{
    json_t *v = json_stringn(s, len);
    /* Bodies and values come from the library, which only stores valid
     * UTF-8; fall back to the unchecked form rather than lose output. */
    return v ? v : json_stringn_nocheck(s, len);
}

int cli_query_failed;
volatile sig_atomic_t cli_sigint;

json_t *
cli_query_apply(const cli_ctx *c, json_t *doc)
{
    char err[512];
    json_t *v;

    if (!doc || !c->query)
        return doc;
    v = cli_query_search(c->query, doc, err, sizeof err);
    json_decref(doc);
    if (!v) {
        fprintf(stderr, "\n%s\n", err);
        cli_query_failed = 1;
    }
    return v;
}

void
cli_iso_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

void
cli_print(const cli_ctx *c, json_t *doc)
{
    /* The AWS CLI applies --query before formatting. */
    if (!(doc = cli_query_apply(c, doc)))
        return;
    if (json_is_object(doc) && json_object_size(doc) == 0) {
        json_decref(doc);
        return;
    }
    if (c->output == CLI_OUT_TEXT) {
        cli_print_text(stdout, doc);
    } else if (c->output == CLI_OUT_YAML) {
        cli_print_yaml(stdout, doc);
    } else if (c->output == CLI_OUT_YAML_STREAM) {
        /* Each response as a one-item list (StreamedYAMLFormatter). */
        json_t *one = json_array();
        json_array_append(one, doc);
        cli_print_yaml(stdout, one);
        json_decref(one);
    } else if (c->output == CLI_OUT_TABLE) {
        /* --color on, or auto on a terminal: ColorizedStyler. */
        cli_print_table(stdout, c->cmd ? c->cmd->op : NULL, doc,
                        cli_term_width(stdout),
                        c->color == 1 ||
                            (c->color == 2 && isatty(STDOUT_FILENO)));
    } else {
        json_dumpf(doc, stdout,
                   JSON_INDENT(4) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
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

/* ---- table --------------------------------------------------------------- */

typedef struct tsec {
    char *title;
    int indent;
    char **headers; /* NULL: none */
    char **cells;   /* nrows x ncols */
    size_t ncols, nrows, cap;
    size_t *maxw; /* widest cell (or header) per column */
} tsec;

typedef struct ttable {
    tsec *secs;
    size_t n, cap;
    bool failed; /* out of memory: print nothing */
} ttable;

void
cli_py_float(double d, char *buf, size_t size)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (!strpbrk(buf, ".eEn") && strlen(buf) + 2 < size)
        strcat(buf, ".0");
}

/* Python's repr() of a string, appended to a memstream. */
static void
py_repr_str(FILE *m, const char *s, size_t n)
{
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    fputc(q, m);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' || c == (unsigned char)q)
            fprintf(m, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", m);
        else if (c == '\r')
            fputs("\\r", m);
        else if (c == '\t')
            fputs("\\t", m);
        else if (c < 0x20 || c == 0x7F)
            fprintf(m, "\\x%02x", c);
        else
            fputc(c, m); /* printable, or UTF-8 (kept as is) */
    }
    fputc(q, m);
}

static void py_repr_any(FILE *m, const json_t *v, bool ordered);

static void
py_repr(FILE *m, const json_t *v)
{
    py_repr_any(m, v, false);
}

/* Python's repr() of a decoded JSON value: what the AWS CLI prints when a
 * column's key holds a list or dict in some rows. ordered: objects as the
 * OrderedDicts the AWS CLI's JSON parameters are ("OrderedDict([('k',
 * v)])"). */
static void
py_repr_any(FILE *m, const json_t *v, bool ordered)
{
    size_t i;
    const char *key;
    json_t *el;
    bool first = true;
    switch (json_typeof(v)) {
    case JSON_STRING:
        py_repr_str(m, json_string_value(v), json_string_length(v));
        break;
    case JSON_ARRAY:
        fputc('[', m);
        json_array_foreach(v, i, el) {
            fputs(first ? "" : ", ", m);
            first = false;
            py_repr_any(m, el, ordered);
        }
        fputc(']', m);
        break;
    case JSON_OBJECT:
        fputs(ordered ? "OrderedDict([" : "{", m);
        json_object_foreach((json_t *)v, key, el) {
            fputs(first ? "" : ", ", m);
            first = false;
            if (ordered)
                fputc('(', m);
            py_repr_str(m, key, strlen(key));
            fputs(ordered ? ", " : ": ", m);
            py_repr_any(m, el, ordered);
            if (ordered)
                fputc(')', m);
        }
        fputs(ordered ? "])" : "}", m);
        break;
    default: {
        char *str = cli_py_str(v);
        if (str)
            fputs(str, m);
        free(str);
    }
    }
}

char *
cli_py_str(const json_t *v)
{
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return strndup(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        return strdup(buf);
    case JSON_REAL:
        cli_py_float(json_real_value(v), buf, sizeof buf);
        return strdup(buf);
    case JSON_TRUE:
        return strdup("True");
    case JSON_FALSE:
        return strdup("False");
    case JSON_NULL:
        return strdup("None");
    default: {
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        if (!m)
            return NULL;
        py_repr(m, v);
        if (fclose(m) != 0) {
            free(buf);
            return NULL;
        }
        return buf;
    }
    }
}

static tsec *
t_section(ttable *t, const char *title, int indent)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        tsec *s = realloc(t->secs, cap * sizeof *s);
        if (!s) {
            t->failed = true;
            return NULL;
        }
        t->secs = s;
        t->cap = cap;
    }
    tsec *s = &t->secs[t->n++];
    memset(s, 0, sizeof *s);
    s->title = strdup(title ? title : "");
    s->indent = indent;
    if (!s->title)
        t->failed = true;
    return s;
}

static tsec *
t_cur(ttable *t)
{
    return t->n ? &t->secs[t->n - 1] : t_section(t, NULL, 0);
}

static void
t_widths(tsec *s, char **cells)
{
    for (size_t i = 0; i < s->ncols; i++) {
        size_t w = cli_text_cols(cells[i]);
        if (w > s->maxw[i])
            s->maxw[i] = w;
    }
}

/* Fixes the section's column count on first use; later rows and headers
 * are cut or padded to it (where the AWS CLI would raise). Takes the
 * strings. */
static void
t_add(ttable *t, char **cells, size_t n, bool header)
{
    tsec *s = t_cur(t);
    char **row = NULL;
    bool ok = s && !t->failed;
    if (ok && !s->maxw) {
        s->ncols = n;
        ok = (s->maxw = calloc(n + 1, sizeof *s->maxw)) != NULL;
    }
    if (ok)
        ok = (row = calloc(s->ncols + 1, sizeof *row)) != NULL;
    for (size_t i = 0; i < n; i++) {
        if (ok && i < s->ncols)
            row[i] = cells[i];
        else
            free(cells[i]);
    }
    for (size_t i = n; ok && i < s->ncols; i++)
        row[i] = strdup("");
    for (size_t i = 0; ok && i < s->ncols; i++)
        ok = row[i] != NULL;
    if (ok && !header && s->nrows == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4;
        char **c = realloc(s->cells, (cap * s->ncols + 1) * sizeof *c);
        if ((ok = c != NULL)) {
            s->cells = c;
            s->cap = cap;
        }
    }
    if (!ok) {
        for (size_t i = 0; row && i < s->ncols; i++)
            free(row[i]);
        free(row);
        t->failed = true;
        return;
    }
    t_widths(s, row);
    if (header) {
        for (size_t i = 0; s->headers && i < s->ncols; i++)
            free(s->headers[i]);
        free(s->headers);
        s->headers = row;
        return;
    }
    memcpy(&s->cells[s->nrows * s->ncols], row, s->ncols * sizeof *row);
    s->nrows++;
    free(row);
}

static void t_build(ttable *t, const char *title, json_t *cur, int indent);

/* The scalar and the other keys of a dict, each sorted. */
static void
split_keys(json_t *obj, const char ***scal, size_t *ns, const char ***more,
           size_t *nm)
{
    size_t n;
    const char **keys = sorted_keys(obj, &n);
    *scal = calloc(n + 1, sizeof **scal);
    *more = calloc(n + 1, sizeof **more);
    *ns = *nm = 0;
    for (size_t i = 0; keys && *scal && *more && i < n; i++) {
        if (is_scalar(json_object_get(obj, keys[i])))
            (*scal)[(*ns)++] = keys[i];
        else
            (*more)[(*nm)++] = keys[i];
    }
    free(keys);
}

static void
t_from_dict(ttable *t, json_t *obj, int indent)
{
    const char **scal, **more;
    size_t ns, nm;
    split_keys(obj, &scal, &ns, &more, &nm);
    if (!scal || !more) {
        t->failed = true;
    } else if (ns == 1) {
        char *row[2] = {strdup(scal[0]),
                        cli_py_str(json_object_get(obj, scal[0]))};
        t_add(t, row, 2, false);
    } else if (ns > 1) {
        char **h = calloc(ns, sizeof *h), **r = calloc(ns, sizeof *r);
        for (size_t i = 0; h && r && i < ns; i++) {
            h[i] = strdup(scal[i]);
            r[i] = cli_py_str(json_object_get(obj, scal[i]));
        }
        if (h && r) {
            t_add(t, h, ns, true);
            t_add(t, r, ns, false);
        } else {
            t->failed = true;
        }
        free(h);
        free(r);
    }
    for (size_t i = 0; more && i < nm; i++)
        t_build(t, more[i], json_object_get(obj, more[i]), indent + 1);
    free(scal);
    free(more);
}

/* Union of the scalar (or other) keys of a list's dicts, sorted, without
 * repeats. */
static const char **
union_keys(json_t *arr, bool scalar, size_t *n)
{
    size_t cap = 0, i, k = 0;
    json_t *item, *v;
    const char *key;
    json_array_foreach(arr, i, item)
        if (json_is_object(item))
            cap += json_object_size(item);
    const char **keys = calloc(cap + 1, sizeof *keys);
    if (!keys) {
        *n = 0;
        return NULL;
    }
    json_array_foreach(arr, i, item) {
        if (!json_is_object(item))
            continue;
        json_object_foreach(item, key, v)
            if (is_scalar(v) == scalar)
                keys[k++] = key;
    }
    qsort(keys, k, sizeof *keys, cmp_str);
    size_t u = 0;
    for (size_t j = 0; j < k; j++)
        if (u == 0 || strcmp(keys[u - 1], keys[j]) != 0)
            keys[u++] = keys[j];
    *n = u;
    return keys;
}

static void
t_headers(ttable *t, const char **h, size_t n)
{
    char **row = calloc(n ? n : 1, sizeof *row);
    if (!row) {
        t->failed = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        row[i] = strdup(h[i]);
    t_add(t, row, n, true);
    free(row);
}

static void
t_from_list(ttable *t, json_t *arr, int indent, const char *title)
{
    size_t ns, nm, i;
    const char **scal = union_keys(arr, true, &ns);
    const char **more = union_keys(arr, false, &nm);
    json_t *item;
    if (!scal || !more) {
        t->failed = true;
        free(scal);
        free(more);
        return;
    }
    t_headers(t, scal, ns);
    json_array_foreach(arr, i, item) {
        if (!json_is_object(item))
            continue;
        if (i > 0 && nm) {
            t_section(t, title, indent);
            t_headers(t, scal, ns);
        }
        char **row = calloc(ns ? ns : 1, sizeof *row);
        if (!row) {
            t->failed = true;
            break;
        }
        for (size_t k = 0; k < ns; k++) {
            json_t *v = json_object_get(item, scal[k]);
            row[k] = v ? cli_py_str(v) : strdup("");
        }
        t_add(t, row, ns, false);
        free(row);
        for (size_t k = 0; k < nm; k++) {
            json_t *v = json_object_get(item, more[k]);
            if (v)
                t_build(t, more[k], v, indent + 1);
        }
    }
    free(scal);
    free(more);
}

/* Python's truth value of a JSON value. */
static bool
truthy(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return json_object_size(v) > 0;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0;
    case JSON_TRUE:
        return true;
    default:
        return false;
    }
}

static void
t_build(ttable *t, const char *title, json_t *cur, int indent)
{
    if (!cur || !truthy(cur) || t->failed)
        return;
    if (title)
        t_section(t, title, indent);
    if (json_is_array(cur)) {
        if (json_is_object(json_array_get(cur, 0))) {
            t_from_list(t, cur, indent, title);
            return;
        }
        size_t i;
        json_t *item;
        json_array_foreach(cur, i, item) {
            if (is_scalar(item)) {
                char *row[1] = {cli_py_str(item)};
                t_add(t, row, 1, false);
            } else if (json_is_array(item)) {
                size_t n = json_array_size(item), k;
                json_t *el;
                bool flat = true;
                json_array_foreach(item, k, el)
                    flat = flat && is_scalar(el);
                char **row = flat ? calloc(n ? n : 1, sizeof *row) : NULL;
                if (!flat) {
                    t_build(t, NULL, item, 0);
                    continue;
                }
                if (!row) {
                    t->failed = true;
                    return;
                }
                json_array_foreach(item, k, el)
                    row[k] = cli_py_str(el);
                t_add(t, row, n, false);
                free(row);
            } else {
                t_build(t, NULL, item, 0);
            }
        }
    }
    if (json_is_object(cur))
        t_from_dict(t, cur, indent);
}

/* Column widths of a section scaled to `width` (the AWS CLI's
 * calculate_column_widths: Python's round(), half to even, then the
 * difference taken from the first columns or given to the last). */
static void
t_scale(const tsec *s, long width, long *out)
{
    long sum = 0;
    for (size_t i = 0; i < s->ncols; i++)
        sum += (long)s->maxw[i] + 4;
    if (sum == 0)
        return;
    double f = (double)width / (double)sum;
    long total = 0;
    for (size_t i = 0; i < s->ncols; i++) {
        double x = f * (double)((long)s->maxw[i] + 4);
        long r = (long)(x + 0.5); /* x >= 0: truncation is floor */
        if ((double)r - x == 0.5 && r % 2 != 0)
            r -= 1; /* half to even */
        out[i] = r;
        total += r;
    }
    long off = total - width;
    while (off > 0)
        for (size_t i = 0; i < s->ncols && off > 0; i++, off--)
            out[i]--;
    while (off < 0)
        for (size_t i = s->ncols; i-- > 0 && off < 0; off++)
            out[i]++;
}

static size_t
t_total(const tsec *s)
{
    size_t total = 2 + 2 * (size_t)s->indent;
    for (size_t i = 0; i < s->ncols; i++)
        total += s->maxw[i] + 4;
    size_t title = cli_text_cols(s->title) + 2 + 2 * (size_t)s->indent;
    return title > total ? title : total;
}

static void
spaces(FILE *f, long n)
{
    for (; n > 0; n--)
        fputc(' ', f);
}

/* colorama's Style.RESET_ALL, which the AWS CLI's colour mode
 * (colorama.init(autoreset=True)) appends to every write to stdout. */
#define ANSI_RESET "\033[0m"
/* ColorizedStyler: row cells bright blue, indentation bars dim yellow. */
#define ANSI_CELL "\033[1m\033[34m"
#define ANSI_BAR "\033[2m\033[33m|" ANSI_RESET

/* One write() of the AWS CLI's table renderer: with colour, followed by a
 * reset, empty writes included. */
static void
t_write(FILE *f, bool color, const char *s, size_t n)
{
    fwrite(s, 1, n, f);
    if (color)
        fputs(ANSI_RESET, f);
}

/* A line of a section, as IndentedStream writes it: the left bars, the
 * content, the right bars, the newline, each one write. */
static void
t_line(FILE *f, const tsec *s, bool color, const char *content, size_t n)
{
    char bars[256];
    size_t k = 0;
    for (int i = 0; i < s->indent && k + sizeof ANSI_BAR < sizeof bars; i++) {
        const char *b = color ? ANSI_BAR : "|";
        memcpy(bars + k, b, strlen(b));
        k += strlen(b);
    }
    t_write(f, color, bars, k);
    t_write(f, color, content, n);
    t_write(f, color, bars, k);
    t_write(f, color, "\n", 1);
}

/* The AWS CLI's center_text(): `width` columns between the edges. */
static void
centered(FILE *f, const char *text, long width, bool left_edge)
{
    long len = (long)cli_text_cols(text), start = width / 2 - len / 2 - 1;
    long l = left_edge ? 1 : 0;
    if (left_edge)
        fputc('|', f);
    spaces(f, start);
    fputs(text, f);
    spaces(f, width - 1 - (l + start + len));
    fputc('|', f);
}

/* The AWS CLI's align_left() with two spaces of padding when they fit; a
 * coloured cell is wrapped in ColorizedStyler's codes, its width the
 * text's. */
static void
left_aligned(FILE *f, const char *text, long width, bool left_edge,
             bool color)
{
    long len = (long)cli_text_cols(text), l = left_edge ? 1 : 0;
    long pad = width - (len + 2 + l + 1) >= 0 ? 2 : 0;
    if (left_edge)
        fputc('|', f);
    spaces(f, pad);
    if (color)
        fprintf(f, ANSI_CELL "%s" ANSI_RESET, text);
    else
        fputs(text, f);
    spaces(f, width - (l + pad + len) - 1);
    fputc('|', f);
}

static void
line_break(FILE *m, const tsec *s, const long *w)
{
    for (size_t i = 0; i < s->ncols; i++) {
        if (i == 0)
            fputc('+', m);
        for (long k = 0; k < w[i] - (i == 0 ? 2 : 1); k++)
            fputc('-', m);
        fputc('+', m);
    }
}

/* Write the line built in the memstream m (then emptied) to f. */
static void
t_flush(FILE *f, const tsec *s, bool color, FILE *m, char **buf, size_t *len)
{
    fflush(m);
    t_line(f, s, color, *buf ? *buf : "", *len);
    rewind(m);
    fflush(m);
    *len = 0;
}

static void
t_render(FILE *f, const tsec *s, size_t max_width, bool color)
{
    long width = (long)max_width - 2 * s->indent;
    long *w = calloc(s->ncols ? s->ncols : 1, sizeof *w);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!w || !m) {
        free(w);
        if (m)
            fclose(m);
        free(buf);
        return;
    }
    if (s->title[0]) {
        centered(m, s->title, width, true);
        t_flush(f, s, color, m, &buf, &len);
        if (!s->headers && !s->nrows) {
            fputc('+', m);
            for (long k = 0; k < width - 2; k++)
                fputc('-', m);
            fputc('+', m);
            t_flush(f, s, color, m, &buf, &len);
        }
    }
    if (s->ncols)
        t_scale(s, width, w);
    if (s->headers && s->ncols) {
        line_break(m, s, w);
        t_flush(f, s, color, m, &buf, &len);
        for (size_t i = 0; i < s->ncols; i++)
            centered(m, s->headers[i], w[i], i == 0);
        t_flush(f, s, color, m, &buf, &len);
    }
    if (s->nrows && s->ncols) {
        line_break(m, s, w);
        t_flush(f, s, color, m, &buf, &len);
        for (size_t r = 0; r < s->nrows; r++) {
            for (size_t i = 0; i < s->ncols; i++)
                left_aligned(m, s->cells[r * s->ncols + i], w[i], i == 0,
                             color);
            t_flush(f, s, color, m, &buf, &len);
        }
        line_break(m, s, w);
        t_flush(f, s, color, m, &buf, &len);
    }
    fclose(m);
    free(buf);
    free(w);
}

static void
t_free_section(tsec *s)
{
    for (size_t i = 0; s->headers && i < s->ncols; i++)
        free(s->headers[i]);
    for (size_t i = 0; i < s->nrows * s->ncols; i++)
        free(s->cells[i]);
    free(s->headers);
    free(s->cells);
    free(s->maxw);
    free(s->title);
    memset(s, 0, sizeof *s);
}

/* A section of one row under headers becomes key/value rows. */
static void
t_vertical(ttable *t)
{
    for (size_t i = 0; i < t->n && !t->failed; i++) {
        tsec *s = &t->secs[i];
        if (s->nrows != 1 || !s->headers || !s->ncols)
            continue;
        tsec v = {0};
        v.title = s->title;
        v.indent = s->indent;
        v.ncols = 2;
        v.cells = calloc(2 * s->ncols + 1, sizeof *v.cells);
        v.maxw = calloc(2, sizeof *v.maxw);
        if (!v.cells || !v.maxw) {
            free(v.cells);
            free(v.maxw);
            t->failed = true;
            return;
        }
        for (size_t k = 0; k < s->ncols; k++) {
            v.cells[2 * k] = s->headers[k];
            v.cells[2 * k + 1] = s->cells[k];
            t_widths(&v, &v.cells[2 * k]);
        }
        v.nrows = v.cap = s->ncols;
        free(s->headers);
        free(s->cells);
        free(s->maxw);
        *s = v;
    }
}

void
cli_print_table(FILE *f, const char *title, json_t *doc, size_t term_width,
                int color)
{
    ttable t = {0};
    t_build(&t, title, doc, 0);
    if (!t.failed && t.n) {
        size_t max = 0;
        for (size_t i = 0; i < t.n; i++)
            if (t_total(&t.secs[i]) > max)
                max = t_total(&t.secs[i]);
        if (max > term_width) {
            t_vertical(&t);
            max = 0;
            for (size_t i = 0; i < t.n; i++)
                if (t_total(&t.secs[i]) > max)
                    max = t_total(&t.secs[i]);
        }
        if (!t.failed) {
            char *dashes = malloc(max + 2);
            if (dashes) {
                memset(dashes, '-', max);
                dashes[max] = '\n';
                t_write(f, color, dashes, max + 1);
                free(dashes);
            }
            for (size_t i = 0; i < t.n; i++)
                t_render(f, &t.secs[i], max, color);
        }
    }
    for (size_t i = 0; i < t.n; i++)
        t_free_section(&t.secs[i]);
    free(t.secs);
}

size_t
cli_term_width(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
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
    const char *code = lmq_err_query_code(rc);
    const char *msg = cli_strip_errmsg(lmq_errmsg());

    if (rc == LMQ_EINTR && cli_sigint)
        return CLI_EXIT_INTERRUPTED; /* main prints the newline */
    /* The text SQS's Query protocol gives with this code, which Debian's
     * AWS CLI v2 (Query) prints. */
    if (rc == LMQ_ENOQUEUE)
        msg = "The specified queue does not exist for this wsdl version.";
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

/* argparse's usage banner, as AWS CLI v2 prints it before an error. */
static void
usage_banner(void)
{
    fputs("\nusage: lmq [options] <command> [parameters]\n"
          "To see help text, you can run:\n\n"
          "  lmq --help\n"
          "  lmq <command> --help\n\n",
          stderr);
}

int
cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    usage_banner();
    fputs("lmq: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    return CLI_EXIT_USAGE;
}

int
cli_unknown_error(const char *list)
{
    /* AWS CLI's UnknownArgumentError: the banner, then the list without
     * argparse's "error:" prefix. */
    usage_banner();
    fprintf(stderr, "Unknown options: %s\n\n", list);
    return CLI_EXIT_USAGE;
}

int
cli_type_error(const char *path, const json_t *v, const char *valid)
{
    static const char *const types[] = {
        [JSON_OBJECT] = "<class 'collections.OrderedDict'>",
        [JSON_ARRAY] = "<class 'list'>",
        [JSON_STRING] = "<class 'str'>",
        [JSON_INTEGER] = "<class 'int'>",
        [JSON_REAL] = "<class 'float'>",
        [JSON_TRUE] = "<class 'bool'>",
        [JSON_FALSE] = "<class 'bool'>",
        [JSON_NULL] = "<class 'NoneType'>",
    };
    fprintf(stderr, "\nParameter validation failed:\nInvalid type for "
                    "parameter %s, value: ",
            path);
    if (json_is_string(v)) /* str(), not repr(), at the top */
        fwrite(json_string_value(v), 1, json_string_length(v), stderr);
    else
        py_repr_any(stderr, v, true);
    fprintf(stderr, ", type: %s, valid types: %s\n", types[json_typeof(v)],
            valid);
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
