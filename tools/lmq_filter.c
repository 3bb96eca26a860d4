/*
 * lmq_filter.c: Lambda event-filter patterns for `lmq consume --event lambda
 * --filter PATTERN` (issue 25).
 *
 * What it follows. The AWS Lambda Developer Guide, "Control which events
 * Lambda sends to your function" (invocation-eventfiltering), section
 * "Filter rule syntax": Lambda uses EventBridge's pattern syntax, and its
 * table lists null, empty string, equals, equals-ignore-case, and (several
 * fields), or (several values), "$or" (several fields), anything-but,
 * numeric (equals and ranges), exists true/false, prefix and suffix. The
 * page adds two rules kept here: strings match character by character, and
 * numbers by their representation ("300, 300.0, and 3.0e2 are not
 * considered equal"); and exists only sees leaf nodes, never an
 * intermediate object. Filters are ORed; the fields of one pattern are
 * ANDed; a field's list of values is ORed; an array in the event matches
 * when any element does (EventBridge, "Event patterns", arrays).
 *
 * From EventBridge's operator table ("Comparison operators for use in event
 * patterns") lmq also accepts anything-but with prefix, suffix,
 * equals-ignore-case or wildcard, prefix/suffix with equals-ignore-case, and
 * wildcard. Lambda's own table does not list these, so a pattern using them
 * might be refused by Lambda; docs/LAMBDA.md says so. "cidr" is refused.
 *
 * The SQS body. The guide's section on SQS ("Properly filtering Amazon SQS
 * messages", older edition of invocation-eventfiltering; the same table is
 * on with-sqs-filtering) says Lambda compares the format of the message body
 * with the format of the pattern's "body": a JSON pattern (an object under
 * "body") on a plain-string body, or a plain-string pattern (a list of
 * values under "body") on a JSON body, drops the message; matching formats
 * filter normally; a pattern without "body" skips the check and filters on
 * the metadata only. "Valid JSON" here means a JSON object: a body such as
 * `123` or `"x"` is matched as the plain string it is. [U: what Lambda
 * counts as valid JSON for a bare number is not documented.]
 *
 * Metadata. The current with-sqs-filtering page has a note "Amazon SQS
 * event source mappings only support filtering on the body key", while the
 * general page uses SQS metadata (messageId, awsRegion) as its example of
 * metadata properties. lmq matches every field of the record (attributes,
 * messageAttributes, ...), which is the larger reading.
 *
 * Numbers. jansson keeps integers and reals apart, so 300 and 300.0 differ
 * as the guide says, but 300.0 and 3.0e2 are the same real here (Lambda
 * would keep them apart). Integers too large for a long long make jansson
 * fail; the body is then parsed again with every number as a real.
 *
 * Design: patterns are validated once at parse time and kept as jansson
 * trees; matching walks the pattern and the record together. A record's
 * body is parsed at most once per cli_filter_match call. Rejected: compiling
 * to a state machine as EventBridge's Ruler does (5 or 10 small patterns per
 * message do not need it); a regex library for wildcard (only `*` exists).
 */
#include "lmq_filter.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cli_filter {
    size_t n;
    json_t *pat[CLI_FILTER_MAX];
};

/* ---- errors ---------------------------------------------------------- */

typedef struct perr {
    char *buf;
    size_t len;
    size_t filter; /* 1-based, for the message */
} perr;

static int
fail(perr *e, const char *path, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (e->buf && e->len) {
        if (path && *path)
            snprintf(e->buf, e->len,
                     "Invalid filter pattern definition (filter %zu): "
                     "at \"%s\": %s",
                     e->filter, path, detail);
        else
            snprintf(e->buf, e->len,
                     "Invalid filter pattern definition (filter %zu): %s",
                     e->filter, detail);
    }
    return -1;
}

static const char *
type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

/* path + "." + key, truncated to fit (it only feeds messages). */
static void
path_join(char *out, size_t n, const char *path, const char *key)
{
    if (*path)
        snprintf(out, n, "%s.%s", path, key);
    else
        snprintf(out, n, "%s", key);
}

/* ---- validation ------------------------------------------------------ */

static int validate_object(const json_t *o, const char *path, perr *e);

static int
is_str_list(const json_t *v)
{
    size_t i;
    const json_t *x;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return 0;
    json_array_foreach(v, i, x)
    {
        if (!json_is_string(x))
            return 0;
    }
    return 1;
}

/* The operand of prefix and suffix: a string, or {"equals-ignore-case":
 * "s"} (EventBridge's "Begins with (ignore case)"). */
static int
valid_affix(const json_t *v)
{
    if (json_is_string(v))
        return 1;
    return json_is_object(v) && json_object_size(v) == 1 &&
           json_is_string(json_object_get(v, "equals-ignore-case"));
}

static int
numeric_op(const char *s, int *lower, int *upper)
{
    *lower = !strcmp(s, ">") || !strcmp(s, ">=");
    *upper = !strcmp(s, "<") || !strcmp(s, "<=");
    return *lower || *upper || !strcmp(s, "=");
}

static int
validate_numeric(const json_t *v, const char *path, perr *e)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n != 2 && n != 4)
        return fail(e, path,
                    "\"numeric\" takes [op, number] or [op, number, op, "
                    "number], not %s%s",
                    type_name(v), json_is_array(v) ? " of that length" : "");
    int seen_lower = 0, seen_upper = 0;
    for (size_t i = 0; i < n; i += 2) {
        const json_t *op = json_array_get(v, i);
        const json_t *num = json_array_get(v, i + 1);
        int lower, upper;
        if (!json_is_string(op) ||
            !numeric_op(json_string_value(op), &lower, &upper))
            return fail(e, path,
                        "\"numeric\" operator must be one of \"=\", \"<\", "
                        "\"<=\", \">\", \">=\"");
        if (!json_is_number(num))
            return fail(e, path,
                        "\"numeric\" operand after \"%s\" must be a number, "
                        "not %s",
                        json_string_value(op), type_name(num));
        if (n == 4 && !lower && !upper)
            return fail(e, path, "\"=\" cannot be part of a numeric range");
        if ((lower && seen_lower) || (upper && seen_upper))
            return fail(e, path,
                        "a numeric range needs one lower bound (> or >=) "
                        "and one upper bound (< or <=)");
        seen_lower |= lower;
        seen_upper |= upper;
    }
    return 0;
}

static int
validate_anything_but(const json_t *v, const char *path, perr *e)
{
    if (json_is_string(v) || json_is_number(v))
        return 0;
    if (json_is_array(v)) {
        size_t i;
        const json_t *x;
        if (json_array_size(v) == 0)
            return fail(e, path, "\"anything-but\" list is empty");
        json_array_foreach(v, i, x)
        {
            if (!json_is_string(x) && !json_is_number(x))
                return fail(e, path,
                            "\"anything-but\" list holds strings or numbers, "
                            "not %s",
                            type_name(x));
        }
        return 0;
    }
    if (json_is_object(v) && json_object_size(v) == 1) {
        const char *k = json_object_iter_key(json_object_iter((json_t *)v));
        const json_t *x = json_object_get(v, k);
        if (!strcmp(k, "prefix") || !strcmp(k, "suffix")) {
            if (json_is_string(x))
                return 0;
            return fail(e, path, "\"anything-but\": {\"%s\"} takes a string",
                        k);
        }
        if (!strcmp(k, "equals-ignore-case") || !strcmp(k, "wildcard")) {
            if (json_is_string(x) || is_str_list(x))
                return 0;
            return fail(e, path,
                        "\"anything-but\": {\"%s\"} takes a string or a "
                        "list of strings",
                        k);
        }
        return fail(e, path, "unknown operator \"%s\" inside \"anything-but\"",
                    k);
    }
    return fail(e, path,
                "\"anything-but\" takes a string, a number, a list, or one "
                "of {\"prefix\"}, {\"suffix\"}, {\"equals-ignore-case\"}, "
                "{\"wildcard\"}; not %s",
                type_name(v));
}

static int
validate_operator(const json_t *o, const char *path, perr *e)
{
    if (json_object_size(o) != 1)
        return fail(e, path,
                    "a match object must hold exactly one operator, not %zu",
                    json_object_size(o));
    const char *k = json_object_iter_key(json_object_iter((json_t *)o));
    const json_t *v = json_object_get(o, k);
    if (!strcmp(k, "prefix") || !strcmp(k, "suffix")) {
        if (valid_affix(v))
            return 0;
        return fail(e, path,
                    "\"%s\" takes a string or {\"equals-ignore-case\": "
                    "string}, not %s",
                    k, type_name(v));
    }
    if (!strcmp(k, "equals-ignore-case") || !strcmp(k, "wildcard")) {
        if (json_is_string(v))
            return 0;
        return fail(e, path, "\"%s\" takes a string, not %s", k, type_name(v));
    }
    if (!strcmp(k, "exists")) {
        if (json_is_boolean(v))
            return 0;
        return fail(e, path, "\"exists\" takes true or false, not %s",
                    type_name(v));
    }
    if (!strcmp(k, "numeric"))
        return validate_numeric(v, path, e);
    if (!strcmp(k, "anything-but"))
        return validate_anything_but(v, path, e);
    return fail(e, path,
                "unknown operator \"%s\" (supported: prefix, suffix, "
                "equals-ignore-case, anything-but, numeric, exists, "
                "wildcard)",
                k);
}

/* A field's list of match values. */
static int
validate_rules(const json_t *a, const char *path, perr *e)
{
    size_t i;
    const json_t *x;
    if (json_array_size(a) == 0)
        return fail(e, path, "the list of match values is empty");
    json_array_foreach(a, i, x)
    {
        if (json_is_array(x))
            return fail(e, path, "a match value cannot be an array");
        if (json_is_object(x) && validate_operator(x, path, e) < 0)
            return -1;
    }
    return 0;
}

static int
validate_object(const json_t *o, const char *path, perr *e)
{
    const char *k;
    const json_t *v;
    if (json_object_size(o) == 0)
        return fail(e, path, "a pattern object must name at least one field");
    json_object_foreach((json_t *)o, k, v)
    {
        char sub[256];
        path_join(sub, sizeof sub, path, k);
        if (!strcmp(k, "$or")) {
            size_t i;
            const json_t *alt;
            if (!json_is_array(v) || json_array_size(v) < 2)
                return fail(e, sub,
                            "\"$or\" takes a list of at least two pattern "
                            "objects");
            json_array_foreach(v, i, alt)
            {
                if (!json_is_object(alt))
                    return fail(e, sub,
                                "each \"$or\" alternative must be an object, "
                                "not %s",
                                type_name(alt));
                if (validate_object(alt, path, e) < 0)
                    return -1;
            }
        } else if (json_is_object(v)) {
            if (validate_object(v, sub, e) < 0)
                return -1;
        } else if (json_is_array(v)) {
            if (validate_rules(v, sub, e) < 0)
                return -1;
        } else {
            return fail(e, sub,
                        "a field's value must be an object (nested fields) "
                        "or a list of match values such as [\"v\"], not %s",
                        type_name(v));
        }
    }
    return 0;
}

/* ---- parse ------------------------------------------------------------ */

static int
add_pattern(cli_filter *f, const char *text, size_t len, perr *e)
{
    json_error_t je;
    if (len > CLI_FILTER_PATTERN_MAX)
        return fail(e, NULL, "pattern is %zu characters; the limit is %d", len,
                    CLI_FILTER_PATTERN_MAX);
    json_t *p =
        json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!p)
        return fail(e, NULL, "not valid JSON: %s (line %d, column %d)", je.text,
                    je.line, je.column);
    if (!json_is_object(p)) {
        int rc = fail(e, NULL, "a pattern must be a JSON object, not %s",
                      type_name(p));
        json_decref(p);
        return rc;
    }
    if (validate_object(p, "", e) < 0) {
        json_decref(p);
        return -1;
    }
    if (f->n == CLI_FILTER_MAX) {
        json_decref(p);
        return fail(e, NULL, "more than %d filters (Lambda's quota)",
                    CLI_FILTER_MAX);
    }
    f->pat[f->n++] = p;
    return 0;
}

/* A FilterCriteria document: an object whose only key is Filters (the AWS
 * CLI's KMS example spells it "filters"/"pattern"; both are accepted). */
static const json_t *
criteria_filters(const json_t *doc)
{
    if (!json_is_object(doc) || json_object_size(doc) != 1)
        return NULL;
    const json_t *v = json_object_get(doc, "Filters");
    if (!v)
        v = json_object_get(doc, "filters");
    return v;
}

int
cli_filter_parse(const char *const *patterns, size_t n, cli_filter **out,
                 char *err, size_t errlen)
{
    perr e = {err, errlen, 0};
    if (out)
        *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!out || (n && !patterns))
        return fail(&e, NULL, "no output or no patterns given");
    if (n == 0)
        return fail(&e, NULL, "no filter patterns given");
    cli_filter *f = calloc(1, sizeof *f);
    if (!f)
        return fail(&e, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *s = patterns[i];
        e.filter = f->n + 1;
        if (!s) {
            fail(&e, NULL, "pattern is NULL");
            goto bad;
        }
        json_t *doc = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
        const json_t *list = criteria_filters(doc);
        if (!list) {
            json_decref(doc);
            if (add_pattern(f, s, strlen(s), &e) < 0)
                goto bad;
            continue;
        }
        size_t j;
        const json_t *item;
        int rc = 0;
        if (!json_is_array(list)) {
            rc = fail(&e, NULL, "FilterCriteria \"Filters\" must be a list");
        } else {
            json_array_foreach(list, j, item)
            {
                const json_t *pt = json_object_get(item, "Pattern");
                if (!pt)
                    pt = json_object_get(item, "pattern");
                e.filter = f->n + 1;
                if (!json_is_string(pt)) {
                    rc = fail(&e, NULL,
                              "each FilterCriteria filter needs a "
                              "\"Pattern\" string");
                    break;
                }
                rc = add_pattern(f, json_string_value(pt),
                                 json_string_length(pt), &e);
                if (rc < 0)
                    break;
            }
        }
        json_decref(doc);
        if (rc < 0)
            goto bad;
    }
    if (f->n == 0) {
        e.filter = 1;
        fail(&e, NULL, "the FilterCriteria holds no filters");
        goto bad;
    }
    *out = f;
    return 0;
bad:
    cli_filter_free(f);
    return -1;
}

size_t
cli_filter_count(const cli_filter *f)
{
    return f ? f->n : 0;
}

void
cli_filter_free(cli_filter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        json_decref(f->pat[i]);
    free(f);
}

/* ---- matching ---------------------------------------------------------- */

/* One record being matched; its body is parsed once, on first need. */
typedef struct mctx {
    const json_t *record;
    int body_done;
    json_t *body_json; /* the body parsed, when it is a JSON object */
} mctx;

static int
ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
            return 0;
    return 1;
}

/* Does s (length n) begin (or end, when at_end) with a, optionally ignoring
 * ASCII case? */
static int
affix(const char *s, size_t n, const json_t *operand, int at_end)
{
    int icase = json_is_object(operand);
    const json_t *a =
        icase ? json_object_get(operand, "equals-ignore-case") : operand;
    size_t an = json_string_length(a);
    if (an > n)
        return 0;
    const char *at = at_end ? s + n - an : s;
    return icase ? ieq(at, json_string_value(a), an)
                 : memcmp(at, json_string_value(a), an) == 0;
}

static int
str_ieq(const char *s, size_t n, const json_t *a)
{
    return json_string_length(a) == n && ieq(s, json_string_value(a), n);
}

/* EventBridge's wildcard: '*' matches any run of characters; "\*" is a
 * literal star and "\\" a literal backslash. Greedy with one backtrack
 * point, so linear in practice and never exponential. */
static int
glob(const char *p, size_t pn, const char *s, size_t sn)
{
    size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < sn) {
        if (pi < pn && p[pi] == '*') {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < pn) {
            char c = p[pi];
            size_t step = 1;
            if (c == '\\' && pi + 1 < pn) {
                c = p[pi + 1];
                step = 2;
            }
            if (c == s[si]) {
                pi += step;
                si++;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return 0;
        pi = star_p;
        si = ++star_s;
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

static int
glob_json(const json_t *pat, const char *s, size_t n)
{
    return glob(json_string_value(pat), json_string_length(pat), s, n);
}

/* Any string in v (a string or a list of strings) for which fn holds. */
static int
any_str(const json_t *v, const char *s, size_t n,
        int (*fn)(const json_t *, const char *, size_t))
{
    if (json_is_string(v))
        return fn(v, s, n);
    size_t i;
    const json_t *x;
    json_array_foreach(v, i, x)
    {
        if (fn(x, s, n))
            return 1;
    }
    return 0;
}

static int
ieq_json(const json_t *a, const char *s, size_t n)
{
    return str_ieq(s, n, a);
}

static int
numeric_match(const json_t *cond, double x)
{
    for (size_t i = 0; i + 1 < json_array_size(cond); i += 2) {
        const char *op = json_string_value(json_array_get(cond, i));
        double b = json_number_value(json_array_get(cond, i + 1));
        int ok;
        if (!strcmp(op, "="))
            ok = x == b;
        else if (!strcmp(op, "<"))
            ok = x < b;
        else if (!strcmp(op, "<="))
            ok = x <= b;
        else if (!strcmp(op, ">"))
            ok = x > b;
        else
            ok = x >= b;
        if (!ok)
            return 0;
    }
    return 1;
}

static int
anything_but(const json_t *op, const json_t *v)
{
    if (json_is_string(op) || json_is_number(op))
        return !json_equal((json_t *)op, (json_t *)v);
    if (json_is_array(op)) {
        size_t i;
        const json_t *x;
        json_array_foreach(op, i, x)
        {
            if (json_equal((json_t *)x, (json_t *)v))
                return 0;
        }
        return 1;
    }
    /* The object forms look at strings only. */
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    const char *k = json_object_iter_key(json_object_iter((json_t *)op));
    const json_t *a = json_object_get(op, k);
    if (!strcmp(k, "prefix"))
        return !affix(s, n, a, 0);
    if (!strcmp(k, "suffix"))
        return !affix(s, n, a, 1);
    if (!strcmp(k, "equals-ignore-case"))
        return !any_str(a, s, n, ieq_json);
    return !any_str(a, s, n, glob_json); /* wildcard */
}

/* One match value (not exists) against one leaf of the event. */
static int
match_one(const json_t *rule, const json_t *v)
{
    if (!json_is_object(rule))
        return json_equal((json_t *)rule, (json_t *)v);
    const char *k = json_object_iter_key(json_object_iter((json_t *)rule));
    const json_t *a = json_object_get(rule, k);
    if (!strcmp(k, "numeric"))
        return json_is_number(v) && numeric_match(a, json_number_value(v));
    if (!strcmp(k, "anything-but"))
        return anything_but(a, v);
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!strcmp(k, "prefix"))
        return affix(s, n, a, 0);
    if (!strcmp(k, "suffix"))
        return affix(s, n, a, 1);
    if (!strcmp(k, "equals-ignore-case"))
        return str_ieq(s, n, a);
    return glob_json(a, s, n); /* wildcard */
}

/* Is there a leaf (a value that is not an object) in v? Arrays are looked
 * through; an empty array holds no leaf. */
static int
has_leaf(const json_t *v)
{
    if (!v || json_is_object(v))
        return 0;
    if (!json_is_array(v))
        return 1;
    size_t i;
    const json_t *x;
    json_array_foreach(v, i, x)
    {
        if (has_leaf(x))
            return 1;
    }
    return 0;
}

/* Any leaf of v (looking through arrays) matched by rule. */
static int
match_leaves(const json_t *rule, const json_t *v)
{
    if (json_is_object(v))
        return 0;
    if (!json_is_array(v))
        return match_one(rule, v);
    size_t i;
    const json_t *x;
    json_array_foreach(v, i, x)
    {
        if (match_leaves(rule, x))
            return 1;
    }
    return 0;
}

/* A field's list of match values against the field's value v (NULL when
 * the field is absent). */
static int
match_rules(const json_t *rules, const json_t *v)
{
    int leaf = has_leaf(v);
    size_t i;
    const json_t *r;
    json_array_foreach(rules, i, r)
    {
        const json_t *ex =
            json_is_object(r) ? json_object_get(r, "exists") : NULL;
        if (ex) {
            if (json_is_true(ex) == leaf)
                return 1;
        } else if (leaf && match_leaves(r, v)) {
            return 1;
        }
    }
    return 0;
}

static int match_object(const json_t *pat, const json_t *ev, int top, mctx *c);

/* A nested pattern object against the field's value: an object is
 * descended into, an array matches when any element does, and anything
 * else (absent or a leaf) has no sub-fields, which only exists:false
 * accepts. */
static int
match_nested(const json_t *pat, const json_t *v, mctx *c)
{
    if (json_is_array(v)) {
        size_t i;
        const json_t *x;
        int nodes = 0;
        json_array_foreach(v, i, x)
        {
            if (!json_is_object(x) && !json_is_array(x))
                continue;
            nodes = 1;
            if (match_nested(pat, x, c))
                return 1;
        }
        return nodes ? 0 : match_object(pat, NULL, 0, c);
    }
    return match_object(pat, json_is_object(v) ? v : NULL, 0, c);
}

static const json_t *
body_json(mctx *c)
{
    if (!c->body_done) {
        c->body_done = 1;
        const json_t *b = json_object_get(c->record, "body");
        if (json_is_string(b)) {
            const char *s = json_string_value(b);
            size_t n = json_string_length(b);
            json_t *j = json_loadb(s, n, 0, NULL);
            if (!j)
                j = json_loadb(s, n, JSON_DECODE_INT_AS_REAL, NULL);
            if (json_is_object(j))
                c->body_json = j;
            else
                json_decref(j);
        }
    }
    return c->body_json;
}

/* The SQS body rule (see the top comment): the pattern's form and the
 * body's form must agree, or the record does not match. */
static int
match_body(const json_t *pat, mctx *c)
{
    const json_t *b = json_object_get(c->record, "body");
    if (!json_is_string(b)) /* not an SQS record: match it as it is */
        return json_is_object(pat) ? match_nested(pat, b, c)
                                   : match_rules(pat, b);
    const json_t *j = body_json(c);
    if (json_is_object(pat))
        return j ? match_object(pat, j, 0, c) : 0;
    return j ? 0 : match_rules(pat, b);
}

/* All fields of pat (AND) against the object ev (NULL: no fields). top is
 * set at the record level, where "body" follows the SQS rule. */
static int
match_object(const json_t *pat, const json_t *ev, int top, mctx *c)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)pat, k, v)
    {
        int ok;
        if (!strcmp(k, "$or")) {
            size_t i;
            const json_t *alt;
            ok = 0;
            json_array_foreach(v, i, alt)
            {
                if (match_object(alt, ev, top, c)) {
                    ok = 1;
                    break;
                }
            }
        } else if (top && ev && !strcmp(k, "body")) {
            ok = match_body(v, c);
        } else {
            const json_t *field = ev ? json_object_get(ev, k) : NULL;
            ok = json_is_object(v) ? match_nested(v, field, c)
                                   : match_rules(v, field);
        }
        if (!ok)
            return 0;
    }
    return 1;
}

int
cli_filter_match(const cli_filter *f, const json_t *record)
{
    if (!f)
        return 1;
    if (!json_is_object(record))
        return 0;
    mctx c = {record, 0, NULL};
    int hit = 0;
    for (size_t i = 0; i < f->n && !hit; i++)
        hit = match_object(f->pat[i], record, 1, &c);
    json_decref(c.body_json);
    return hit;
}
