/*
 * sqs_policy.c: the IAM policy evaluator of lmqd (issue 22), and the
 * permissions each SQS request needs.
 *
 * How it works: a document is checked for shape first (lmq__policy_check);
 * then each statement is tested against the request: Effect, Action or
 * NotAction, Resource or NotResource, Principal or NotPrincipal (resource
 * policies), Condition. AWS's evaluation logic within an account is then
 * applied by lmq__policy_decide: explicit Deny anywhere wins, then an
 * Allow (identity or resource in the same account; both across
 * accounts), else the implicit deny.
 *
 * Fail closed: lmqd supports the common condition operators and keys
 * (below). A condition it cannot evaluate is taken to hold in a Deny and
 * not to hold in an Allow, so a policy that uses something lmqd does not
 * know never grants more than it says, and never denies less. A document
 * that is not a valid policy at all denies every request it is evaluated
 * for.
 *
 * Not here: caching parsed documents (the daemon keeps the queue
 * policies it parsed, keyed by their text: daemon/authz.c); policy
 * variables (${aws:username}) in Resource, which are matched literally.
 *
 * Operators: String(Not)Equals(IgnoreCase), String(Not)Like,
 * Arn(Not)Equals, Arn(Not)Like, Bool, (Not)IpAddress, Date(Not)Equals,
 * DateLessThan(Equals), DateGreaterThan(Equals), Null, and each of them
 * (but Null) with IfExists. Keys: aws:SourceIp, aws:SecureTransport,
 * aws:CurrentTime, aws:EpochTime, aws:SourceArn, aws:PrincipalArn,
 * aws:PrincipalAccount.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sqs_int.h"
#include "sqs_policy.h"

/* ---- matching ---------------------------------------------------------- */

/* Glob with * (any run) and ? (one character); icase folds ASCII case. */
static int
glob(const char *p, const char *s, int icase)
{
    const char *star = NULL, *mark = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            mark = s;
        } else if (*p == '?' || (icase ? tolower((unsigned char)*p) ==
                                             tolower((unsigned char)*s)
                                       : *p == *s)) {
            if (!*p)
                return 0;
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++mark;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* Split an ARN into its six colon-separated components (the last keeps
 * any further colons). Returns 1 when it has six. */
static int
arn_split(const char *a, char parts[6][160])
{
    for (int i = 0; i < 6; i++) {
        const char *c = i < 5 ? strchr(a, ':') : NULL;
        size_t n = c ? (size_t)(c - a) : strlen(a);
        if (i < 5 && !c)
            return 0;
        if (n >= 160)
            return 0;
        memcpy(parts[i], a, n);
        parts[i][n] = '\0';
        a = c ? c + 1 : a + n;
    }
    return 1;
}

/* ArnLike: component by component, case-sensitive, with wildcards, so a
 * * never spans a colon; a pattern of fewer components matches no ARN
 * (but "*"). A value that is not a six-part ARN is compared whole. */
static int
arn_like(const char *pat, const char *arn)
{
    char p[6][160], a[6][160];
    if (strcmp(pat, "*") == 0)
        return 1;
    if (!arn_split(arn, a))
        return glob(pat, arn, 0);
    if (!arn_split(pat, p))
        return 0;
    for (int i = 0; i < 6; i++)
        if (!glob(p[i], a[i], 0))
            return 0;
    return 1;
}

/* A string or an array of strings: does any element match? */
static int
any_of(const json_t *v, int (*match)(const char *, const char *), const char *s)
{
    if (json_is_string(v))
        return match(json_string_value(v), s);
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        if (json_is_string(e) && match(json_string_value(e), s))
            return 1;
    }
    return 0;
}

static int
action_match(const char *pat, const char *action)
{
    return glob(pat, action, 1);
}

int
lmq__policy_principal_account(const char *p, char out[13])
{
    static const char pre[] = "arn:aws:iam::";
    if (!p || strncmp(p, pre, sizeof pre - 1) != 0)
        return -1;
    p += sizeof pre - 1;
    if (strspn(p, "0123456789") != 12 || p[12] != ':')
        return -1;
    memcpy(out, p, 12);
    out[12] = '\0';
    return 0;
}

/* One Principal value ("*", an account id, an account's root ARN, a
 * principal ARN) against the request's principal. */
static int
principal_value(const char *v, const char *principal)
{
    char acct[13], vacct[13];
    if (strcmp(v, "*") == 0)
        return 1;
    if (lmq__policy_principal_account(principal, acct) != 0)
        return 0;
    if (strlen(v) == 12 && strspn(v, "0123456789") == 12)
        return strcmp(v, acct) == 0;
    if (lmq__policy_principal_account(v, vacct) == 0 &&
        strcmp(v + strlen("arn:aws:iam::") + 12, ":root") == 0)
        return strcmp(vacct, acct) == 0;
    return strcmp(v, principal) == 0;
}

static int
principal_match(const json_t *p, const char *principal)
{
    if (json_is_string(p))
        return strcmp(json_string_value(p), "*") == 0;
    /* Service, Federated and CanonicalUser principals never call lmqd. */
    return any_of(json_object_get(p, "AWS"), principal_value, principal);
}

/* ---- conditions -------------------------------------------------------- */

typedef enum {
    C_FALSE = 0,
    C_TRUE = 1,
    C_UNKNOWN = 2 /* cannot evaluate: fail closed */
} cres;

typedef enum {
    OP_STR_EQ,
    OP_STR_EQ_IC,
    OP_STR_LIKE,
    OP_ARN,
    OP_BOOL,
    OP_IP,
    OP_DATE_EQ,
    OP_DATE_LT,
    OP_DATE_LE,
    OP_DATE_GT,
    OP_DATE_GE,
    OP_NULL
} opkind;

static const struct {
    const char *name;
    opkind kind;
    int negated;
} ops[] = {
    {"StringEquals", OP_STR_EQ, 0},
    {"StringNotEquals", OP_STR_EQ, 1},
    {"StringEqualsIgnoreCase", OP_STR_EQ_IC, 0},
    {"StringNotEqualsIgnoreCase", OP_STR_EQ_IC, 1},
    {"StringLike", OP_STR_LIKE, 0},
    {"StringNotLike", OP_STR_LIKE, 1},
    {"ArnEquals", OP_ARN, 0},
    {"ArnLike", OP_ARN, 0},
    {"ArnNotEquals", OP_ARN, 1},
    {"ArnNotLike", OP_ARN, 1},
    {"Bool", OP_BOOL, 0},
    {"IpAddress", OP_IP, 0},
    {"NotIpAddress", OP_IP, 1},
    {"DateEquals", OP_DATE_EQ, 0},
    {"DateNotEquals", OP_DATE_EQ, 1},
    {"DateLessThan", OP_DATE_LT, 0},
    {"DateLessThanEquals", OP_DATE_LE, 0},
    {"DateGreaterThan", OP_DATE_GT, 0},
    {"DateGreaterThanEquals", OP_DATE_GE, 0},
    {"Null", OP_NULL, 0},
};

/* A condition value as a string (numbers and booleans as JSON writes
 * them). Returns 0, or -1 for another type. */
static int
value_str(const json_t *v, char *buf, size_t len)
{
    if (json_is_string(v))
        snprintf(buf, len, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
    else
        return -1;
    return 0;
}

/* ISO 8601 (2026-12-07, 2026-12-07T08:00:00Z, with fractions or an
 * offset) or epoch seconds, to Unix ms. Returns 0, or -1. */
static int
parse_date(const char *s, int64_t *ms)
{
    size_t n = strlen(s);
    if (n > 0 && strspn(s, "0123456789") == n && n <= 12) {
        *ms = strtoll(s, NULL, 10) * 1000;
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int used = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &used) != 3 ||
        used != 10)
        return -1;
    const char *p = s + 10;
    int64_t frac = 0, off = 0;
    if (*p == 'T' || *p == 't') {
        int u2 = 0;
        if (sscanf(p + 1, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
                   &u2) != 3 ||
            u2 != 8)
            return -1;
        p += 9;
        if (*p == '.') {
            int64_t scale = 100;
            for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
                frac += (*p - '0') * scale;
        }
        if (*p == 'Z' || *p == 'z')
            p++;
        else if (*p == '+' || *p == '-') {
            int hh, mm, u3 = 0;
            if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &u3) != 2 || u3 != 5)
                return -1;
            off = (*p == '+' ? 1 : -1) * (int64_t)(hh * 60 + mm) * 60000;
            p += 6;
        }
    }
    if (*p)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    *ms = (int64_t)timegm(&tm) * 1000 + frac - off;
    return 0;
}

/* An address as 16 bytes (IPv4 as ::ffff:a.b.c.d) and its family width. */
static int
parse_ip(const char *s, unsigned char a[16], int *bits)
{
    struct in_addr v4;
    memset(a, 0, 16);
    if (inet_pton(AF_INET, s, &v4) == 1) {
        a[10] = a[11] = 0xff;
        memcpy(a + 12, &v4, 4);
        *bits = 32;
        return 0;
    }
    if (inet_pton(AF_INET6, s, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                                 0, 0, 0, 0, 0xff, 0xff};
        *bits = memcmp(a, mapped, 12) == 0 ? 32 : 128;
        return 0;
    }
    return -1;
}

/* Is ip inside cidr ("10.0.0.0/8", "2001:db8::/32", or one address)?
 * Returns C_TRUE, C_FALSE or C_UNKNOWN (not a CIDR, or no source IP). */
static cres
ip_in(const char *cidr, const char *ip)
{
    char net[64];
    unsigned char n[16], a[16];
    int nbits, abits;
    long plen;
    const char *slash = strchr(cidr, '/');
    size_t hl = slash ? (size_t)(slash - cidr) : strlen(cidr);
    if (hl >= sizeof net || !ip)
        return C_UNKNOWN;
    memcpy(net, cidr, hl);
    net[hl] = '\0';
    if (parse_ip(net, n, &nbits) != 0 || parse_ip(ip, a, &abits) != 0)
        return C_UNKNOWN;
    if (slash) {
        char *end;
        plen = strtol(slash + 1, &end, 10);
        if (*end || end == slash + 1 || plen < 0 || plen > nbits)
            return C_UNKNOWN;
    } else {
        plen = nbits;
    }
    if (nbits != abits)
        return C_FALSE;
    long total = (128 - nbits) + plen;
    for (long i = 0; i < total; i++) {
        unsigned char m = (unsigned char)(0x80u >> (i % 8));
        if ((n[i / 8] & m) != (a[i / 8] & m))
            return C_FALSE;
    }
    return C_TRUE;
}

typedef enum { K_UNKNOWN, K_STR, K_BOOL, K_IP, K_DATE } ktype;

/* The request's value of a condition key: its type, and the value in buf
 * (absent: *present = 0). */
static ktype
key_value(const char *key, const lmq_policy_request *r, char *buf, size_t len,
          int *present)
{
    *present = 1;
    if (strcasecmp(key, "aws:SourceIp") == 0) {
        snprintf(buf, len, "%s", r->source_ip ? r->source_ip : "");
        *present = r->source_ip != NULL;
        return K_IP;
    }
    if (strcasecmp(key, "aws:SecureTransport") == 0) {
        snprintf(buf, len, "%s", r->secure_transport ? "true" : "false");
        return K_BOOL;
    }
    if (strcasecmp(key, "aws:CurrentTime") == 0 ||
        strcasecmp(key, "aws:EpochTime") == 0) {
        snprintf(buf, len, "%lld", (long long)(r->now_ms / 1000));
        return K_DATE;
    }
    if (strcasecmp(key, "aws:SourceArn") == 0) {
        snprintf(buf, len, "%s", r->source_arn ? r->source_arn : "");
        *present = r->source_arn != NULL;
        return K_STR;
    }
    if (strcasecmp(key, "aws:PrincipalArn") == 0) {
        snprintf(buf, len, "%s", r->principal ? r->principal : "");
        return K_STR;
    }
    if (strcasecmp(key, "aws:PrincipalAccount") == 0) {
        char acct[13];
        *present = lmq__policy_principal_account(r->principal, acct) == 0;
        snprintf(buf, len, "%s", *present ? acct : "");
        return K_STR;
    }
    return K_UNKNOWN;
}

/* One value of a condition against the request's value v. */
static cres
value_match(opkind k, ktype t, const char *want, const char *v)
{
    int64_t a, b;
    switch (k) {
    case OP_STR_EQ:
        return t == K_STR ? strcmp(want, v) == 0 : C_UNKNOWN;
    case OP_STR_EQ_IC:
        return t == K_STR ? strcasecmp(want, v) == 0 : C_UNKNOWN;
    case OP_STR_LIKE:
        return t == K_STR ? glob(want, v, 0) : C_UNKNOWN;
    case OP_ARN:
        return t == K_STR ? arn_like(want, v) : C_UNKNOWN;
    case OP_BOOL:
        if (t != K_BOOL ||
            (strcasecmp(want, "true") != 0 && strcasecmp(want, "false") != 0))
            return C_UNKNOWN;
        return strcasecmp(want, v) == 0;
    case OP_IP:
        return t == K_IP ? ip_in(want, v) : C_UNKNOWN;
    case OP_DATE_EQ:
    case OP_DATE_LT:
    case OP_DATE_LE:
    case OP_DATE_GT:
    case OP_DATE_GE:
        if (t != K_DATE || parse_date(want, &b) != 0 || parse_date(v, &a) != 0)
            return C_UNKNOWN;
        /* aws:CurrentTime has second precision here; compare in ms. */
        a = a / 1000 * 1000;
        return k == OP_DATE_EQ   ? a == b
               : k == OP_DATE_LT ? a < b
               : k == OP_DATE_LE ? a <= b
               : k == OP_DATE_GT ? a > b
                                 : a >= b;
    case OP_NULL:
        break;
    }
    return C_UNKNOWN;
}

/* One operator block: {"aws:SourceIp": ["10.0.0.0/8", ...], ...}. */
static cres
cond_op(const char *opname, const json_t *block, const lmq_policy_request *r)
{
    char name[64];
    snprintf(name, sizeof name, "%s", opname);
    size_t nl = strlen(name);
    int ifexists = nl > 8 && strcmp(name + nl - 8, "IfExists") == 0;
    if (ifexists)
        name[nl - 8] = '\0';
    int found = -1;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (strcmp(ops[i].name, name) == 0)
            found = (int)i;
    /* Unknown operators, ForAllValues:/ForAnyValue: (lmqd's keys are all
     * single-valued) and NullIfExists fail closed. */
    if (found < 0 || (ifexists && ops[found].kind == OP_NULL))
        return C_UNKNOWN;
    opkind k = ops[found].kind;
    int neg = ops[found].negated;
    cres all = C_TRUE;
    const char *key;
    const json_t *vals;
    json_object_foreach((json_t *)block, key, vals)
    {
        char v[256], want[256];
        int present;
        ktype t = key_value(key, r, v, sizeof v, &present);
        cres res;
        if (t == K_UNKNOWN) {
            res = C_UNKNOWN;
        } else if (k == OP_NULL) {
            /* Null: true means "the key is absent". */
            const json_t *e =
                json_is_array(vals) ? json_array_get(vals, 0) : vals;
            if (value_str(e, want, sizeof want) != 0 ||
                (strcasecmp(want, "true") != 0 &&
                 strcasecmp(want, "false") != 0))
                res = C_UNKNOWN;
            else
                res = (strcasecmp(want, "true") == 0) == !present;
        } else if (!present) {
            /* An absent key: IfExists holds; otherwise a positive
             * operator fails and a negated one holds. */
            res = ifexists || neg ? C_TRUE : C_FALSE;
        } else {
            cres any = C_FALSE;
            size_t n = json_is_array(vals) ? json_array_size(vals) : 1;
            for (size_t i = 0; i < n && any != C_TRUE; i++) {
                const json_t *e =
                    json_is_array(vals) ? json_array_get(vals, i) : vals;
                cres m = value_str(e, want, sizeof want) != 0
                             ? C_UNKNOWN
                             : value_match(k, t, want, v);
                if (m == C_TRUE || m == C_UNKNOWN)
                    any = m;
            }
            res = any == C_UNKNOWN ? C_UNKNOWN
                  : neg            ? (any == C_TRUE ? C_FALSE : C_TRUE)
                                   : any;
        }
        if (res == C_FALSE)
            return C_FALSE;
        if (res == C_UNKNOWN)
            all = C_UNKNOWN;
    }
    return all;
}

static cres
conditions(const json_t *cond, const lmq_policy_request *r)
{
    cres all = C_TRUE;
    const char *op;
    const json_t *block;
    json_object_foreach((json_t *)cond, op, block)
    {
        cres c = cond_op(op, block, r);
        if (c == C_FALSE)
            return C_FALSE;
        if (c == C_UNKNOWN)
            all = C_UNKNOWN;
    }
    return all;
}

/* ---- documents --------------------------------------------------------- */

static int
fail(char *err, size_t errlen, const char *fmt, const char *what)
{
    if (errlen > 0)
        snprintf(err, errlen, fmt, what);
    return -1;
}

/* A string, or a non-empty array of strings. */
static int
strings(const json_t *v)
{
    if (json_is_string(v))
        return 1;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return 0;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e))
            return 0;
    }
    return 1;
}

static int
scalar(const json_t *v)
{
    return json_is_string(v) || json_is_integer(v) || json_is_boolean(v);
}

static int
check_condition(const json_t *c, char *err, size_t errlen)
{
    const char *op, *key;
    const json_t *block, *v;
    if (!json_is_object(c))
        return fail(err, errlen, "%s must be an object", "Condition");
    json_object_foreach((json_t *)c, op, block)
    {
        if (!json_is_object(block) || json_object_size(block) == 0)
            return fail(err, errlen,
                        "Condition operator %s must be an object of keys", op);
        json_object_foreach((json_t *)block, key, v)
        {
            int ok = scalar(v);
            if (json_is_array(v) && json_array_size(v) > 0) {
                size_t i;
                const json_t *e;
                ok = 1;
                json_array_foreach(v, i, e) ok &= scalar(e);
            }
            if (!ok)
                return fail(err, errlen,
                            "Condition key %s needs a string, number, "
                            "boolean or a list of them",
                            key);
        }
    }
    return 0;
}

static int
check_principal(const json_t *p, char *err, size_t errlen)
{
    if (json_is_string(p))
        return strcmp(json_string_value(p), "*") == 0
                   ? 0
                   : fail(err, errlen, "%s must be \"*\" or an object",
                          "Principal");
    if (!json_is_object(p) || json_object_size(p) == 0)
        return fail(err, errlen, "%s must be \"*\" or an object", "Principal");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)p, k, v)
    {
        if (strcmp(k, "AWS") != 0 && strcmp(k, "Service") != 0 &&
            strcmp(k, "Federated") != 0 && strcmp(k, "CanonicalUser") != 0)
            return fail(err, errlen, "unknown Principal type %s", k);
        if (!strings(v))
            return fail(err, errlen,
                        "Principal %s needs a string or a list of strings", k);
    }
    return 0;
}

static int
check_statement(const json_t *s, lmq_policy_kind kind, char *err, size_t errlen)
{
    static const char *const known[] = {
        "Sid",         "Effect",    "Action",       "NotAction", "Resource",
        "NotResource", "Principal", "NotPrincipal", "Condition", NULL};
    const char *k;
    const json_t *v;
    if (!json_is_object(s))
        return fail(err, errlen, "%s must be an object", "a Statement");
    json_object_foreach((json_t *)s, k, v)
    {
        int ok = 0;
        for (const char *const *p = known; *p; p++)
            ok |= strcmp(*p, k) == 0;
        if (!ok)
            return fail(err, errlen, "unknown statement element %s", k);
    }
    const char *eff = json_string_value(json_object_get(s, "Effect"));
    if (!eff || (strcmp(eff, "Allow") != 0 && strcmp(eff, "Deny") != 0))
        return fail(err, errlen, "%s must be Allow or Deny", "Effect");
    v = json_object_get(s, "Sid");
    if (v && !json_is_string(v))
        return fail(err, errlen, "%s must be a string", "Sid");
    const json_t *a = json_object_get(s, "Action"),
                 *na = json_object_get(s, "NotAction");
    if (!!a == !!na || !strings(a ? a : na))
        return fail(err, errlen,
                    "a statement needs one of %s (a string or a list)",
                    "Action/NotAction");
    const json_t *r = json_object_get(s, "Resource"),
                 *nr = json_object_get(s, "NotResource");
    if ((r && nr) || ((r || nr) && !strings(r ? r : nr)) ||
        (kind == LMQ_POLICY_IDENTITY && !r && !nr))
        return fail(err, errlen,
                    "a statement needs one of %s (a string or a list)",
                    "Resource/NotResource");
    const json_t *p = json_object_get(s, "Principal"),
                 *np = json_object_get(s, "NotPrincipal");
    if (kind == LMQ_POLICY_IDENTITY && (p || np))
        return fail(err, errlen, "an identity policy names no %s", "Principal");
    if (kind == LMQ_POLICY_RESOURCE &&
        (!!p == !!np || check_principal(p ? p : np, err, errlen) != 0)) {
        if (!!p == !!np)
            fail(err, errlen, "a queue policy statement needs one of %s",
                 "Principal/NotPrincipal");
        return -1;
    }
    const json_t *c = json_object_get(s, "Condition");
    return c ? check_condition(c, err, errlen) : 0;
}

int
lmq__policy_check(const json_t *doc, lmq_policy_kind kind, char *err,
                  size_t errlen)
{
    const char *k;
    const json_t *v;
    if (errlen > 0)
        err[0] = '\0';
    if (!json_is_object(doc))
        return fail(err, errlen, "%s must be a JSON object", "a policy");
    json_object_foreach((json_t *)doc, k, v)
    {
        if (strcmp(k, "Version") != 0 && strcmp(k, "Id") != 0 &&
            strcmp(k, "Statement") != 0)
            return fail(err, errlen, "unknown policy element %s", k);
    }
    v = json_object_get(doc, "Version");
    if (v && (!json_is_string(v) ||
              (strcmp(json_string_value(v), "2012-10-17") != 0 &&
               strcmp(json_string_value(v), "2008-10-17") != 0)))
        return fail(err, errlen, "%s must be 2012-10-17 or 2008-10-17",
                    "Version");
    v = json_object_get(doc, "Id");
    if (v && !json_is_string(v))
        return fail(err, errlen, "%s must be a string", "Id");
    const json_t *st = json_object_get(doc, "Statement");
    if (json_is_object(st))
        return check_statement(st, kind, err, errlen);
    if (!json_is_array(st) || json_array_size(st) == 0)
        return fail(err, errlen, "%s must be an object or a non-empty list",
                    "Statement");
    size_t i;
    json_array_foreach(st, i, v)
    {
        if (check_statement(v, kind, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* Does statement s apply to r? Its Effect is the caller's. */
static int
statement_applies(const json_t *s, lmq_policy_kind kind,
                  const lmq_policy_request *r, int deny)
{
    const json_t *v;
    if ((v = json_object_get(s, "Action")) &&
        !any_of(v, action_match, r->action))
        return 0;
    if ((v = json_object_get(s, "NotAction")) &&
        any_of(v, action_match, r->action))
        return 0;
    if ((v = json_object_get(s, "Resource")) &&
        !any_of(v, arn_like, r->resource))
        return 0;
    if ((v = json_object_get(s, "NotResource")) &&
        any_of(v, arn_like, r->resource))
        return 0;
    if (kind == LMQ_POLICY_RESOURCE) {
        if ((v = json_object_get(s, "Principal")) &&
            !principal_match(v, r->principal))
            return 0;
        if ((v = json_object_get(s, "NotPrincipal")) &&
            principal_match(v, r->principal))
            return 0;
    }
    if ((v = json_object_get(s, "Condition"))) {
        cres c = conditions(v, r);
        return c == C_TRUE || (c == C_UNKNOWN && deny);
    }
    return 1;
}

lmq_policy_effect
lmq__policy_eval(const json_t *doc, lmq_policy_kind kind,
                 const lmq_policy_request *r)
{
    if (lmq__policy_check(doc, kind, NULL, 0) != 0)
        return LMQ_POLICY_DENY;
    const json_t *st = json_object_get(doc, "Statement");
    size_t n = json_is_array(st) ? json_array_size(st) : 1;
    lmq_policy_effect out = LMQ_POLICY_NONE;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_array(st) ? json_array_get(st, i) : st;
        int deny = strcmp(json_string_value(json_object_get(s, "Effect")),
                          "Deny") == 0;
        if (!statement_applies(s, kind, r, deny))
            continue;
        if (deny)
            return LMQ_POLICY_DENY;
        out = LMQ_POLICY_ALLOW;
    }
    return out;
}

lmq_policy_reason
lmq__policy_decide(const json_t *const *identity, size_t n,
                   const json_t *resource, const char *resource_account,
                   const lmq_policy_request *r)
{
    char acct[13] = "";
    int have_acct = lmq__policy_principal_account(r->principal, acct) == 0;
    size_t pl = r->principal ? strlen(r->principal) : 0;
    int root =
        have_acct && pl > 5 && strcmp(r->principal + pl - 5, ":root") == 0;
    lmq_policy_effect id = root ? LMQ_POLICY_ALLOW : LMQ_POLICY_NONE;
    for (size_t i = 0; i < n && !root; i++) {
        lmq_policy_effect e =
            lmq__policy_eval(identity[i], LMQ_POLICY_IDENTITY, r);
        if (e == LMQ_POLICY_DENY)
            return LMQ_POLICY_IDENTITY_DENY;
        if (e == LMQ_POLICY_ALLOW)
            id = LMQ_POLICY_ALLOW;
    }
    lmq_policy_effect res =
        resource ? lmq__policy_eval(resource, LMQ_POLICY_RESOURCE, r)
                 : LMQ_POLICY_NONE;
    if (res == LMQ_POLICY_DENY)
        return LMQ_POLICY_RESOURCE_DENY;
    if (have_acct && resource_account && strcmp(acct, resource_account) == 0)
        return id == LMQ_POLICY_ALLOW || res == LMQ_POLICY_ALLOW
                   ? LMQ_POLICY_ALLOWED
                   : LMQ_POLICY_NO_IDENTITY;
    if (id != LMQ_POLICY_ALLOW)
        return LMQ_POLICY_NO_IDENTITY;
    return res == LMQ_POLICY_ALLOW ? LMQ_POLICY_ALLOWED
                                   : LMQ_POLICY_NO_RESOURCE;
}

void
lmq__policy_message(lmq_policy_reason why, const lmq_policy_request *r,
                    char *buf, size_t len)
{
    /* AWS writes the action in lower case in these messages. */
    char act[64];
    size_t i = 0;
    for (; r->action[i] && i < sizeof act - 1; i++)
        act[i] = (char)tolower((unsigned char)r->action[i]);
    act[i] = '\0';
    const char *end = why == LMQ_POLICY_IDENTITY_DENY
                          ? "with an explicit deny in an identity-based "
                            "policy"
                      : why == LMQ_POLICY_RESOURCE_DENY
                          ? "with an explicit deny in a resource-based "
                            "policy"
                      : why == LMQ_POLICY_NO_RESOURCE
                          ? "because no resource-based policy allows the "
                          : "because no identity-based policy allows the ";
    int tail = why == LMQ_POLICY_NO_RESOURCE || why == LMQ_POLICY_NO_IDENTITY;
    snprintf(buf, len,
             "User: %s is not authorized to perform: %s on resource: %s "
             "%s%s%s",
             r->principal, act, r->resource, end, tail ? act : "",
             tail ? " action" : "");
}

/* ---- what a request needs ---------------------------------------------- */

static size_t
need(lmq_policy_need *out, size_t n, const char *action, const char *region,
     const char *account, const char *queue)
{
    if (n >= LMQ_POLICY_MAX_NEEDS)
        return n;
    snprintf(out[n].action, sizeof out[n].action, "sqs:%s", action);
    snprintf(out[n].resource, sizeof out[n].resource, "arn:aws:sqs:%s:%s:%s",
             region, account, queue ? queue : "");
    snprintf(out[n].queue, sizeof out[n].queue, "%s", queue ? queue : "");
    return n + 1;
}

/* The queue name of an ARN (its last component), or NULL. */
static const char *
arn_queue(const char *arn)
{
    const char *c = arn ? strrchr(arn, ':') : NULL;
    return c && c[1] && strncmp(arn, "arn:", 4) == 0 ? c + 1 : NULL;
}

/* The source queue a TaskHandle names (lib/movetask.c makes handles:
 * base64url of {"taskId": ..., "sourceArn": ...}), into buf; NULL when it
 * names none. */
static const char *
handle_source(const char *h, char *buf, size_t len)
{
    unsigned char raw[1024];
    size_t bl = 0;
    const char *q = NULL;
    if (!h || sodium_base642bin(raw, sizeof raw, h, strlen(h), NULL, &bl, NULL,
                                sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return NULL;
    json_t *j = json_loadb((const char *)raw, bl, 0, NULL);
    q = arn_queue(json_string_value(json_object_get(j, "sourceArn")));
    if (q)
        snprintf(buf, len, "%s", q);
    json_decref(j);
    return q ? buf : NULL;
}

size_t
lmq__sqs_req_needs(const struct sqs_req *r, const char *region,
                   const char *account,
                   lmq_policy_need needs[LMQ_POLICY_MAX_NEEDS])
{
    if (r->err_shape || !r->action)
        return 0;
    const char *a = r->action->name;
    const char *in_s;
    char buf[96];
    size_t n = 0;
    if (r->action->flags & SQS_A_QUEUE) {
        /* The batch actions are authorized as their single action. */
        static const char *const batch[][2] = {
            {"SendMessageBatch", "SendMessage"},
            {"DeleteMessageBatch", "DeleteMessage"},
            {"ChangeMessageVisibilityBatch", "ChangeMessageVisibility"}};
        for (size_t i = 0; i < sizeof batch / sizeof *batch; i++)
            if (strcmp(a, batch[i][0]) == 0)
                a = batch[i][1];
        return need(needs, 0, a, region, account, r->queue);
    }
    if (strcmp(a, "CreateQueue") == 0 || strcmp(a, "GetQueueUrl") == 0) {
        in_s = json_string_value(json_object_get(r->in, "QueueName"));
        n = need(needs, 0, a, region, account, in_s);
        if (strcmp(a, "CreateQueue") == 0)
            needs[0].queue[0] = '\0'; /* no queue policy applies yet */
        return n;
    }
    if (strcmp(a, "StartMessageMoveTask") == 0) {
        const char *src =
            arn_queue(json_string_value(json_object_get(r->in, "SourceArn")));
        const char *dst = arn_queue(
            json_string_value(json_object_get(r->in, "DestinationArn")));
        static const char *const src_actions[] = {
            "StartMessageMoveTask", "ReceiveMessage", "DeleteMessage",
            "GetQueueAttributes"};
        for (size_t i = 0; i < 4; i++)
            n = need(needs, n, src_actions[i], region, account, src);
        if (dst)
            n = need(needs, n, "SendMessage", region, account, dst);
        return n;
    }
    if (strcmp(a, "CancelMessageMoveTask") == 0)
        return need(needs, 0, a, region, account,
                    handle_source(
                        json_string_value(json_object_get(r->in, "TaskHandle")),
                        buf, sizeof buf));
    if (strcmp(a, "ListMessageMoveTasks") == 0)
        return need(
            needs, 0, a, region, account,
            arn_queue(json_string_value(json_object_get(r->in, "SourceArn"))));
    /* ListQueues, and any action without a queue: the account. */
    return need(needs, 0, a, region, account, NULL);
}
