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
 * Fail closed, twice. lmq__policy_check refuses what the evaluator
 * cannot evaluate (an unknown operator, a key lmqd does not know, a key
 * of the wrong type for its operator, a value of the wrong form, a
 * malformed policy variable), with a reason naming it: lmqd refuses such
 * a --policies file and such a Policy attribute. A document that fails
 * the check anyway (stored by the CLI, which does not check) denies every
 * request it is evaluated for. And inside the evaluator, what still
 * cannot be evaluated (a value too long to expand) holds in a Deny and
 * not in an Allow.
 *
 * Policy variables (2012-10-17 policies only, as in IAM): ${key},
 * ${key, 'default'}, ${*} ${?} ${$}, expanded in Resource/NotResource and
 * in the values of String and Arn conditions (expand()). A variable
 * whose key the request lacks, without a default, makes its value match
 * nothing. Literal characters of an expanded pattern are escaped with an
 * internal ESC byte, so a ${*} is never a wildcard.
 *
 * Set operators: every key lmqd knows is single-valued, so
 * ForAnyValue:/ForAllValues: differ from the plain operator only when the
 * key is absent (ForAllValues holds, ForAnyValue does not), as in IAM.
 *
 * Not here: caching parsed documents (the daemon keeps the queue
 * policies it parsed, keyed by their text: daemon/authz.c).
 *
 * Operators: String(Not)Equals(IgnoreCase), String(Not)Like,
 * Arn(Not)Equals, Arn(Not)Like, Bool, (Not)IpAddress, Date(Not)Equals,
 * DateLessThan(Equals), DateGreaterThan(Equals), Numeric(Not)Equals,
 * NumericLessThan(Equals), NumericGreaterThan(Equals), each with
 * IfExists and ForAnyValue:/ForAllValues:, and Null. Keys: the keys[]
 * table below.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sqs_int.h"
#include "sqs_policy.h"

/* ---- matching ---------------------------------------------------------- */

/* In a pattern made by expanding policy variables, ESC makes the next
 * character literal: the * of a ${*}, or a ? inside a variable's value,
 * is not a wildcard. expand() writes an ESC of the policy text itself as
 * ESC ESC, so no text can forge one; unexpanded text never holds one
 * that glob() gives a meaning to (an ESC before nothing is literal). */
#define ESC '\001'

/* Longest ARN component and expanded value lmqd compares; longer ones
 * match nothing (and are refused at check). */
#define PART_MAX 512
#define VALUE_MAX 1024

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int
same(char a, char b, int icase)
{
    return icase ? tolower((unsigned char)a) == tolower((unsigned char)b)
                 : a == b;
}

/* Glob with * (any run) and ? (one character); icase folds ASCII case;
 * ESC makes the next character literal. */
static int
glob(const char *p, const char *s, int icase)
{
    const char *star = NULL, *mark = NULL;
    while (*s) {
        int lit = *p == ESC && p[1];
        char pc = lit ? p[1] : *p;
        if (!lit && pc == '*') {
            star = ++p;
            mark = s;
        } else if (pc && ((!lit && pc == '?') || same(pc, *s, icase))) {
            p += lit ? 2 : 1;
            s++;
        } else if (star) {
            p = star;
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
arn_split(const char *a, char parts[6][PART_MAX])
{
    for (int i = 0; i < 6; i++) {
        const char *c = i < 5 ? strchr(a, ':') : NULL;
        size_t n = c ? (size_t)(c - a) : strlen(a);
        if (i < 5 && !c)
            return 0;
        if (n >= PART_MAX)
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
    char p[6][PART_MAX], a[6][PART_MAX];
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

/* The i-th colon-separated component of an ARN into buf ("" when it has
 * fewer). */
static void
arn_part(const char *arn, int i, char *buf, size_t len)
{
    buf[0] = '\0';
    for (; arn && i > 0; i--) {
        arn = strchr(arn, ':');
        if (arn)
            arn++;
    }
    if (arn)
        snprintf(buf, len, "%.*s", (int)strcspn(arn, ":"), arn);
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

static cres
c_and(cres a, cres b)
{
    return a == C_FALSE || b == C_FALSE       ? C_FALSE
           : a == C_UNKNOWN || b == C_UNKNOWN ? C_UNKNOWN
                                              : C_TRUE;
}

static cres
c_not(cres a)
{
    return a == C_UNKNOWN ? C_UNKNOWN : a == C_TRUE ? C_FALSE : C_TRUE;
}

/* A condition value as a string (numbers and booleans as JSON writes
 * them). Returns 0, or -1 for another type. */
static int
value_str(const json_t *v, char *buf, size_t len)
{
    if (json_is_string(v))
        snprintf(buf, len, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, len, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
    else
        return -1;
    return 0;
}

/* A decimal number, as IAM's Numeric operators take it ("10", "-1.5").
 * Returns 0, or -1. */
static int
parse_num(const char *s, double *out)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    *out = strtod(s, &end);
    return *end == '\0' && isfinite(*out) ? 0 : -1;
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

/* ---- condition keys ---------------------------------------------------- */

/* The operator families a key can be compared with. */
enum { T_STR = 1, T_BOOL = 2, T_IP = 4, T_DATE = 8, T_NUM = 16 };

typedef enum {
    K_SOURCE_IP,
    K_SECURE_TRANSPORT,
    K_CURRENT_TIME,
    K_EPOCH_TIME,
    K_PRINCIPAL_ARN,
    K_PRINCIPAL_ACCOUNT,
    K_PRINCIPAL_TYPE,
    K_USERNAME,
    K_USERID,
    K_REQUESTED_REGION,
    K_RESOURCE_ACCOUNT,
    K_SOURCE_ARN,
    K_VIA_AWS_SERVICE,
    K_PRINCIPAL_IS_AWS_SERVICE,
    /* Never in a request to lmqd (absent, as on AWS for a request signed
     * with a long-term access key that no AWS service makes, outside any
     * VPC endpoint). */
    K_SOURCE_ACCOUNT,
    K_SOURCE_ORG_ID,
    K_SOURCE_VPC,
    K_SOURCE_VPCE,
    K_VPC_SOURCE_IP,
    K_MFA_PRESENT,
    K_MFA_AGE,
    K_TOKEN_ISSUE_TIME,
    K_COUNT
} keyid;

/* Every key lmqd knows (docs/LMQD.md lists them). A key not here is
 * refused by lmq__policy_check (aws:PrincipalOrgID, aws:PrincipalTag/...,
 * service keys): lmqd cannot know its value, and guessing "absent" could
 * widen an Allow written with a negated operator. */
static const struct {
    const char *name;
    unsigned types;
} keys[K_COUNT] = {
    [K_SOURCE_IP] = {"aws:SourceIp", T_IP},
    [K_SECURE_TRANSPORT] = {"aws:SecureTransport", T_BOOL},
    [K_CURRENT_TIME] = {"aws:CurrentTime", T_DATE},
    [K_EPOCH_TIME] = {"aws:EpochTime", T_DATE | T_NUM},
    [K_PRINCIPAL_ARN] = {"aws:PrincipalArn", T_STR},
    [K_PRINCIPAL_ACCOUNT] = {"aws:PrincipalAccount", T_STR},
    [K_PRINCIPAL_TYPE] = {"aws:PrincipalType", T_STR},
    [K_USERNAME] = {"aws:username", T_STR},
    [K_USERID] = {"aws:userid", T_STR},
    [K_REQUESTED_REGION] = {"aws:RequestedRegion", T_STR},
    [K_RESOURCE_ACCOUNT] = {"aws:ResourceAccount", T_STR},
    [K_SOURCE_ARN] = {"aws:SourceArn", T_STR},
    [K_VIA_AWS_SERVICE] = {"aws:ViaAWSService", T_BOOL},
    [K_PRINCIPAL_IS_AWS_SERVICE] = {"aws:PrincipalIsAWSService", T_BOOL},
    [K_SOURCE_ACCOUNT] = {"aws:SourceAccount", T_STR},
    [K_SOURCE_ORG_ID] = {"aws:SourceOrgID", T_STR},
    [K_SOURCE_VPC] = {"aws:SourceVpc", T_STR},
    [K_SOURCE_VPCE] = {"aws:SourceVpce", T_STR},
    [K_VPC_SOURCE_IP] = {"aws:VpcSourceIp", T_IP},
    [K_MFA_PRESENT] = {"aws:MultiFactorAuthPresent", T_BOOL},
    [K_MFA_AGE] = {"aws:MultiFactorAuthAge", T_NUM},
    [K_TOKEN_ISSUE_TIME] = {"aws:TokenIssueTime", T_DATE},
};

/* Key names are case-insensitive, as in IAM. Returns the key or -1. */
static int
key_index(const char *name)
{
    for (int i = 0; i < K_COUNT; i++)
        if (strcasecmp(keys[i].name, name) == 0)
            return i;
    return -1;
}

/* The principal's kind ("root", "user", "role"; NULL for another form)
 * and, for a user or role, its name (the last part of its path). */
static const char *
principal_kind(const char *p, const char **name)
{
    char acct[13];
    *name = NULL;
    if (lmq__policy_principal_account(p, acct) != 0)
        return NULL;
    const char *rest = p + strlen("arn:aws:iam::") + 13;
    if (strcmp(rest, "root") == 0)
        return "root";
    if (strncmp(rest, "user/", 5) != 0 && strncmp(rest, "role/", 5) != 0)
        return NULL;
    *name = strrchr(rest, '/') + 1;
    return rest[1] == 's' ? "user" : "role";
}

/* The request's value of key k into buf; *present = 0 when the request
 * has none. */
static void
key_value(int k, const lmq_policy_request *r, char *buf, size_t len,
          int *present)
{
    const char *name = NULL, *kind = NULL, *s = NULL;
    char acct[13];
    *present = 1;
    buf[0] = '\0';
    switch ((keyid)k) {
    case K_SOURCE_IP:
        s = r->source_ip;
        break;
    case K_SECURE_TRANSPORT:
        s = r->secure_transport ? "true" : "false";
        break;
    case K_CURRENT_TIME: {
        time_t t = (time_t)(r->now_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return;
    }
    case K_EPOCH_TIME:
        snprintf(buf, len, "%lld", (long long)(r->now_ms / 1000));
        return;
    case K_PRINCIPAL_ARN:
        s = r->principal;
        break;
    case K_PRINCIPAL_ACCOUNT:
        if (lmq__policy_principal_account(r->principal, acct) == 0)
            s = acct;
        break;
    case K_PRINCIPAL_TYPE:
        kind = principal_kind(r->principal, &name);
        s = !kind                       ? NULL
            : strcmp(kind, "root") == 0 ? "Account"
            : strcmp(kind, "user") == 0 ? "User"
                                        : "AssumedRole";
        break;
    case K_USERNAME:
        /* IAM users only: not the root, not a role. */
        kind = principal_kind(r->principal, &name);
        s = kind && strcmp(kind, "user") == 0 ? name : NULL;
        break;
    case K_USERID:
        /* lmqd has no unique ids: a user's or role's name, the root's
         * account (as on AWS). */
        kind = principal_kind(r->principal, &name);
        if (kind && strcmp(kind, "root") == 0 &&
            lmq__policy_principal_account(r->principal, acct) == 0)
            s = acct;
        else
            s = name;
        break;
    case K_REQUESTED_REGION:
    case K_RESOURCE_ACCOUNT:
        arn_part(r->resource, k == K_REQUESTED_REGION ? 3 : 4, buf, len);
        *present = buf[0] != '\0';
        return;
    case K_SOURCE_ARN:
        s = r->source_arn;
        break;
    case K_VIA_AWS_SERVICE:
    case K_PRINCIPAL_IS_AWS_SERVICE:
        s = "false";
        break;
    default:
        break;
    }
    *present = s != NULL;
    if (s)
        snprintf(buf, len, "%s", s);
}

/* ---- policy variables -------------------------------------------------- */

typedef enum {
    X_PLAIN,  /* for exact comparisons: ${*} is '*' */
    X_PATTERN /* for glob(): literal characters escaped with ESC */
} xmode;

/*
 * Expand the policy variables of s into out (VALUE_MAX bytes), as IAM
 * does in a 2012-10-17 policy: ${key} (key case-insensitive, spaces
 * around it ignored) becomes the request's value of key; ${key,
 * 'text'} that value, or text when the request has none ('' is a quote
 * in text); ${*}, ${?} and ${$} the character. One pass: nothing that
 * was put in is expanded again. In X_PATTERN mode the characters that
 * must stay literal for glob() (a ${*} or ${?}, a * or ? inside a value)
 * are escaped with ESC.
 *
 * r NULL: only check s. Returns 1 when expanded; 0 when a variable has
 * no value and no default (the value then matches nothing, as in IAM);
 * -1 with a reason in err when s is malformed, names a key lmqd does not
 * know, or expands beyond VALUE_MAX.
 */
static int
expand(const char *s, const lmq_policy_request *r, xmode mode, char *out,
       char *err, size_t errlen)
{
    const char *whole = s;
    size_t o = 0;
    int undefined = 0;
#define PUT(ch)                                                                \
    do {                                                                       \
        if (o + 2 >= VALUE_MAX)                                                \
            return fail(err, errlen, "%.40s...: longer than %d characters",    \
                        whole, VALUE_MAX - 2);                                 \
        out[o++] = (ch);                                                       \
    } while (0)
    while (*s) {
        if (s[0] != '$' || s[1] != '{') {
            if (mode == X_PATTERN && *s == ESC)
                PUT(ESC);
            PUT(*s++);
            continue;
        }
        const char *p = s + 2;
        if ((*p == '*' || *p == '?' || *p == '$') && p[1] == '}') {
            if (mode == X_PATTERN && *p != '$')
                PUT(ESC);
            PUT(*p);
            s = p + 2;
            continue;
        }
        char key[64], def[256];
        int has_def = 0;
        p += strspn(p, " ");
        size_t kl = strcspn(p, " ,}'");
        if (kl == 0 || kl >= sizeof key)
            return fail(err, errlen, "bad policy variable in %s", whole);
        memcpy(key, p, kl);
        key[kl] = '\0';
        p += kl;
        p += strspn(p, " ");
        if (*p == ',') {
            size_t dl = 0;
            p++;
            p += strspn(p, " ");
            if (*p != '\'')
                return fail(err, errlen,
                            "the default of ${%s} in %s must be quoted "
                            "('text')",
                            key, whole);
            for (p++;; p++) {
                if (!*p)
                    return fail(err, errlen, "unterminated default in %s",
                                whole);
                if (*p == '\'' && p[1] != '\'')
                    break;
                if (*p == '\'')
                    p++;
                if (dl + 1 >= sizeof def)
                    return fail(err, errlen, "default too long in %s", whole);
                def[dl++] = *p;
            }
            def[dl] = '\0';
            has_def = 1;
            p++;
            p += strspn(p, " ");
        }
        if (*p != '}')
            return fail(err, errlen, "unterminated policy variable in %s",
                        whole);
        s = p + 1;
        int k = key_index(key);
        if (k < 0)
            return fail(err, errlen,
                        "policy variable ${%s}: not a key lmqd knows", key);
        if (!r)
            continue;
        char v[VALUE_MAX];
        int present;
        key_value(k, r, v, sizeof v, &present);
        const char *val = present ? v : has_def ? def : NULL;
        if (!val) {
            undefined = 1;
            continue;
        }
        for (; *val; val++) {
            if (mode == X_PATTERN &&
                (*val == '*' || *val == '?' || *val == ESC))
                PUT(ESC);
            PUT(*val);
        }
    }
#undef PUT
    out[o] = '\0';
    return undefined ? 0 : 1;
}

/* Does any Resource/NotResource value of v match r->resource? With
 * variables (vars), a value whose variable has no value matches
 * nothing. */
static cres
resource_any(const json_t *v, const lmq_policy_request *r, int vars)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    cres out = C_FALSE;
    for (size_t i = 0; i < n; i++) {
        const char *pat =
            json_string_value(json_is_array(v) ? json_array_get(v, i) : v);
        char buf[VALUE_MAX];
        if (!pat)
            return C_UNKNOWN;
        if (vars && strstr(pat, "${")) {
            int x = expand(pat, r, X_PATTERN, buf, NULL, 0);
            if (x < 0)
                out = C_UNKNOWN;
            if (x <= 0)
                continue;
            pat = buf;
        }
        if (arn_like(pat, r->resource))
            return C_TRUE;
    }
    return out;
}

/* ---- operators --------------------------------------------------------- */

typedef enum {
    OP_STR_EQ,
    OP_STR_EQ_IC,
    OP_STR_LIKE,
    OP_ARN,
    OP_BOOL,
    OP_IP,
    OP_DATE,
    OP_NUM,
    OP_NULL
} opkind;

typedef enum { CMP_EQ, CMP_LT, CMP_LE, CMP_GT, CMP_GE } cmpkind;

static const struct {
    const char *name;
    opkind kind;
    cmpkind cmp;
    int negated;
} ops[] = {
    {"StringEquals", OP_STR_EQ, CMP_EQ, 0},
    {"StringNotEquals", OP_STR_EQ, CMP_EQ, 1},
    {"StringEqualsIgnoreCase", OP_STR_EQ_IC, CMP_EQ, 0},
    {"StringNotEqualsIgnoreCase", OP_STR_EQ_IC, CMP_EQ, 1},
    {"StringLike", OP_STR_LIKE, CMP_EQ, 0},
    {"StringNotLike", OP_STR_LIKE, CMP_EQ, 1},
    /* IAM's ArnEquals takes wildcards too: the same as ArnLike. */
    {"ArnEquals", OP_ARN, CMP_EQ, 0},
    {"ArnLike", OP_ARN, CMP_EQ, 0},
    {"ArnNotEquals", OP_ARN, CMP_EQ, 1},
    {"ArnNotLike", OP_ARN, CMP_EQ, 1},
    {"Bool", OP_BOOL, CMP_EQ, 0},
    {"IpAddress", OP_IP, CMP_EQ, 0},
    {"NotIpAddress", OP_IP, CMP_EQ, 1},
    {"DateEquals", OP_DATE, CMP_EQ, 0},
    {"DateNotEquals", OP_DATE, CMP_EQ, 1},
    {"DateLessThan", OP_DATE, CMP_LT, 0},
    {"DateLessThanEquals", OP_DATE, CMP_LE, 0},
    {"DateGreaterThan", OP_DATE, CMP_GT, 0},
    {"DateGreaterThanEquals", OP_DATE, CMP_GE, 0},
    {"NumericEquals", OP_NUM, CMP_EQ, 0},
    {"NumericNotEquals", OP_NUM, CMP_EQ, 1},
    {"NumericLessThan", OP_NUM, CMP_LT, 0},
    {"NumericLessThanEquals", OP_NUM, CMP_LE, 0},
    {"NumericGreaterThan", OP_NUM, CMP_GT, 0},
    {"NumericGreaterThanEquals", OP_NUM, CMP_GE, 0},
    {"Null", OP_NULL, CMP_EQ, 0},
};

/* The key families each operator kind compares (Null: any key). */
static const unsigned op_types[] = {
    [OP_STR_EQ] = T_STR, [OP_STR_EQ_IC] = T_STR, [OP_STR_LIKE] = T_STR,
    [OP_ARN] = T_STR,    [OP_BOOL] = T_BOOL,     [OP_IP] = T_IP,
    [OP_DATE] = T_DATE,  [OP_NUM] = T_NUM,       [OP_NULL] = ~0u,
};

enum { SET_NONE, SET_ANY, SET_ALL };

typedef struct {
    int op;       /* index into ops[] */
    int set;      /* ForAnyValue:/ForAllValues: */
    int ifexists; /* ...IfExists */
} opname;

/* Parse an operator name: [ForAnyValue:|ForAllValues:]NAME[IfExists].
 * Returns 0, or -1 with the reason. */
static int
op_parse(const char *s, opname *o, char *err, size_t errlen)
{
    char name[64];
    const char *full = s;
    o->set = SET_NONE;
    if (strncmp(s, "ForAnyValue:", 12) == 0) {
        o->set = SET_ANY;
        s += 12;
    } else if (strncmp(s, "ForAllValues:", 13) == 0) {
        o->set = SET_ALL;
        s += 13;
    }
    size_t n = strlen(s);
    if (n >= sizeof name)
        return fail(err, errlen, "unknown condition operator %.64s", full);
    memcpy(name, s, n + 1);
    o->ifexists = n > 8 && strcmp(name + n - 8, "IfExists") == 0;
    if (o->ifexists)
        name[n - 8] = '\0';
    o->op = -1;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (strcmp(ops[i].name, name) == 0)
            o->op = (int)i;
    if (o->op < 0)
        return fail(err, errlen,
                    "condition operator %s is not one lmqd evaluates "
                    "(docs/LMQD.md lists them)",
                    full);
    if (ops[o->op].kind == OP_NULL && (o->ifexists || o->set != SET_NONE))
        return fail(err, errlen,
                    "condition operator %s: Null takes no IfExists and no "
                    "ForAnyValue:/ForAllValues:",
                    full);
    return 0;
}

/* One policy value (want, expanded) against the request's value v. */
static cres
value_match(int op, const char *want, const char *v)
{
    int64_t a, b;
    double x, y;
    int c;
    switch (ops[op].kind) {
    case OP_STR_EQ:
        return strcmp(want, v) == 0;
    case OP_STR_EQ_IC:
        return strcasecmp(want, v) == 0;
    case OP_STR_LIKE:
        return glob(want, v, 0);
    case OP_ARN:
        return arn_like(want, v);
    case OP_BOOL:
        if (strcasecmp(want, "true") != 0 && strcasecmp(want, "false") != 0)
            return C_UNKNOWN;
        return strcasecmp(want, v) == 0;
    case OP_IP:
        return ip_in(want, v);
    case OP_DATE:
        if (parse_date(want, &b) != 0 || parse_date(v, &a) != 0)
            return C_UNKNOWN;
        /* aws:CurrentTime has second precision here. */
        a = a / 1000 * 1000;
        c = a < b ? -1 : a > b;
        break;
    case OP_NUM:
        if (parse_num(want, &y) != 0 || parse_num(v, &x) != 0)
            return C_UNKNOWN;
        c = x < y ? -1 : x > y;
        break;
    default:
        return C_UNKNOWN;
    }
    switch (ops[op].cmp) {
    case CMP_EQ:
        return c == 0;
    case CMP_LT:
        return c < 0;
    case CMP_LE:
        return c <= 0;
    case CMP_GT:
        return c > 0;
    default:
        return c >= 0;
    }
}

/* Does any of the policy's values (vals) match the request's value v?
 * String and ARN values are expanded first (vars); one whose variable
 * has no value matches nothing. */
static cres
values_any(int op, const json_t *vals, const lmq_policy_request *r, int vars,
           const char *v)
{
    cres any = C_FALSE;
    size_t n = json_is_array(vals) ? json_array_size(vals) : 1;
    for (size_t i = 0; i < n && any != C_TRUE; i++) {
        const json_t *e = json_is_array(vals) ? json_array_get(vals, i) : vals;
        char want[VALUE_MAX], x[VALUE_MAX];
        cres m;
        if (value_str(e, want, sizeof want) != 0) {
            m = C_UNKNOWN;
        } else if (vars && (op_types[ops[op].kind] & T_STR) &&
                   strstr(want, "${")) {
            opkind k = ops[op].kind;
            int rc = expand(
                want, r, k == OP_STR_LIKE || k == OP_ARN ? X_PATTERN : X_PLAIN,
                x, NULL, 0);
            m = rc < 0 ? C_UNKNOWN : rc == 0 ? C_FALSE : value_match(op, x, v);
        } else {
            m = value_match(op, want, v);
        }
        if (m != C_FALSE)
            any = m;
    }
    return any;
}

/* One operator block: {"aws:SourceIp": ["10.0.0.0/8", ...], ...}. Every
 * key lmqd knows is single-valued, so ForAnyValue:/ForAllValues: differ
 * from the plain operator only for an absent key: ForAllValues holds (no
 * value fails), ForAnyValue does not (no value matches). */
static cres
cond_op(const char *opstr, const json_t *block, const lmq_policy_request *r,
        int vars)
{
    opname o;
    if (op_parse(opstr, &o, NULL, 0) != 0)
        return C_UNKNOWN;
    int neg = ops[o.op].negated;
    opkind kind = ops[o.op].kind;
    cres all = C_TRUE;
    const char *key;
    const json_t *vals;
    json_object_foreach((json_t *)block, key, vals)
    {
        char v[VALUE_MAX], want[VALUE_MAX];
        int present, k = key_index(key);
        cres res;
        if (k < 0 || !(keys[k].types & op_types[kind])) {
            all = c_and(all, C_UNKNOWN);
            continue;
        }
        key_value(k, r, v, sizeof v, &present);
        if (kind == OP_NULL) {
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
            /* IAM: IfExists holds; ForAllValues holds, ForAnyValue
             * fails; otherwise a positive operator fails and a negated
             * one holds. */
            res = o.ifexists || o.set == SET_ALL ? C_TRUE
                  : o.set == SET_ANY             ? C_FALSE
                  : neg                          ? C_TRUE
                                                 : C_FALSE;
        } else {
            cres any = values_any(o.op, vals, r, vars, v);
            res = neg ? c_not(any) : any;
        }
        all = c_and(all, res);
        if (all == C_FALSE)
            return C_FALSE;
    }
    return all;
}

static cres
conditions(const json_t *cond, const lmq_policy_request *r, int vars)
{
    cres all = C_TRUE;
    const char *op;
    const json_t *block;
    json_object_foreach((json_t *)cond, op, block)
    {
        all = c_and(all, cond_op(op, block, r, vars));
        if (all == C_FALSE)
            return C_FALSE;
    }
    return all;
}

/* ---- documents --------------------------------------------------------- */

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

/* One value of a condition: of the form its operator needs, and (vars)
 * with well-formed variables naming keys lmqd knows. */
static int
check_value(const char *op, int opi, const char *key, const json_t *e, int vars,
            char *err, size_t errlen)
{
    char want[VALUE_MAX], x[VALUE_MAX];
    double d;
    int64_t ms;
    if (json_is_string(e) && strlen(json_string_value(e)) > VALUE_MAX - 2)
        return fail(err, errlen, "%s %s: a value longer than %d characters", op,
                    key, VALUE_MAX - 2);
    if (value_str(e, want, sizeof want) != 0)
        return fail(err, errlen,
                    "Condition key %s needs a string, number, boolean or a "
                    "list of them",
                    key);
    switch (ops[opi].kind) {
    case OP_BOOL:
    case OP_NULL:
        if (strcasecmp(want, "true") != 0 && strcasecmp(want, "false") != 0)
            return fail(err, errlen, "%s %s: %s is not true or false", op, key,
                        want);
        return 0;
    case OP_IP:
        return ip_in(want, "::") == C_UNKNOWN
                   ? fail(err, errlen,
                          "%s %s: %s is not an IP address or "
                          "CIDR",
                          op, key, want)
                   : 0;
    case OP_DATE:
        return parse_date(want, &ms) != 0
                   ? fail(err, errlen,
                          "%s %s: %s is not a date (ISO 8601 "
                          "or epoch seconds)",
                          op, key, want)
                   : 0;
    case OP_NUM:
        return parse_num(want, &d) != 0
                   ? fail(err, errlen, "%s %s: %s is not a number", op, key,
                          want)
                   : 0;
    default:
        return vars && expand(want, NULL, X_PLAIN, x, err, errlen) < 0 ? -1 : 0;
    }
}

/* A Condition lmqd can evaluate: known operators, known keys of a type
 * the operator compares, values of the right form. */
static int
check_condition(const json_t *c, int vars, char *err, size_t errlen)
{
    const char *op, *key;
    const json_t *block, *v;
    if (!json_is_object(c))
        return fail(err, errlen, "%s must be an object", "Condition");
    json_object_foreach((json_t *)c, op, block)
    {
        opname o;
        if (op_parse(op, &o, err, errlen) != 0)
            return -1;
        if (!json_is_object(block) || json_object_size(block) == 0)
            return fail(err, errlen,
                        "Condition operator %s must be an object of keys", op);
        json_object_foreach((json_t *)block, key, v)
        {
            int k = key_index(key);
            if (k < 0)
                return fail(err, errlen,
                            "condition key %s is not one lmqd knows "
                            "(docs/LMQD.md lists them)",
                            key);
            if (!(keys[k].types & op_types[ops[o.op].kind]))
                return fail(err, errlen, "%s cannot compare %s", op, key);
            if (json_is_array(v) && json_array_size(v) == 0)
                return fail(err, errlen, "Condition key %s has no values", key);
            size_t n = json_is_array(v) ? json_array_size(v) : 1;
            for (size_t i = 0; i < n; i++)
                if (check_value(op, o.op, key,
                                json_is_array(v) ? json_array_get(v, i) : v,
                                vars, err, errlen) != 0)
                    return -1;
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

/* A Resource/NotResource: strings, each (vars) with well-formed
 * variables naming keys lmqd knows. */
static int
check_resources(const json_t *v, int vars, char *err, size_t errlen)
{
    char x[VALUE_MAX];
    if (!strings(v))
        return fail(err, errlen,
                    "a statement needs one of %s (a string or a list)",
                    "Resource/NotResource");
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n; i++) {
        const char *r =
            json_string_value(json_is_array(v) ? json_array_get(v, i) : v);
        /* An SQS ARN is far shorter; arn_split() compares no longer. */
        if (strlen(r) >= PART_MAX)
            return fail(err, errlen,
                        "Resource %.40s...: longer than %d "
                        "characters",
                        r, PART_MAX - 1);
        if (vars && expand(r, NULL, X_PATTERN, x, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int
check_statement(const json_t *s, lmq_policy_kind kind, int vars, char *err,
                size_t errlen)
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
    if ((r && nr) || (kind == LMQ_POLICY_IDENTITY && !r && !nr))
        return fail(err, errlen,
                    "a statement needs one of %s (a string or a list)",
                    "Resource/NotResource");
    if ((r || nr) && check_resources(r ? r : nr, vars, err, errlen) != 0)
        return -1;
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
    return c ? check_condition(c, vars, err, errlen) : 0;
}

/* Policy variables are expanded in a 2012-10-17 policy only; in an
 * older one (or without a Version, which IAM takes as 2008-10-17) they
 * are plain text. */
static int
policy_vars(const json_t *doc)
{
    const char *v = json_string_value(json_object_get(doc, "Version"));
    return v && strcmp(v, "2012-10-17") == 0;
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
    int vars = policy_vars(doc);
    v = json_object_get(doc, "Id");
    if (v && !json_is_string(v))
        return fail(err, errlen, "%s must be a string", "Id");
    const json_t *st = json_object_get(doc, "Statement");
    if (json_is_object(st))
        return check_statement(st, kind, vars, err, errlen);
    if (!json_is_array(st) || json_array_size(st) == 0)
        return fail(err, errlen, "%s must be an object or a non-empty list",
                    "Statement");
    size_t i;
    json_array_foreach(st, i, v)
    {
        if (check_statement(v, kind, vars, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* Does statement s apply to r? Its Effect is the caller's. */
static int
statement_applies(const json_t *s, lmq_policy_kind kind,
                  const lmq_policy_request *r, int deny, int vars)
{
    const json_t *v;
    cres res = C_TRUE;
    if ((v = json_object_get(s, "Action")) &&
        !any_of(v, action_match, r->action))
        return 0;
    if ((v = json_object_get(s, "NotAction")) &&
        any_of(v, action_match, r->action))
        return 0;
    if ((v = json_object_get(s, "Resource")))
        res = resource_any(v, r, vars);
    if ((v = json_object_get(s, "NotResource")))
        res = c_not(resource_any(v, r, vars));
    if (res == C_FALSE)
        return 0;
    if (kind == LMQ_POLICY_RESOURCE) {
        if ((v = json_object_get(s, "Principal")) &&
            !principal_match(v, r->principal))
            return 0;
        if ((v = json_object_get(s, "NotPrincipal")) &&
            principal_match(v, r->principal))
            return 0;
    }
    if ((v = json_object_get(s, "Condition")))
        res = c_and(res, conditions(v, r, vars));
    /* What cannot be evaluated holds in a Deny, not in an Allow. */
    return res == C_TRUE || (res == C_UNKNOWN && deny);
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
        if (!statement_applies(s, kind, r, deny, policy_vars(doc)))
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
