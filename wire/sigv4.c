/*
 * sigv4.c: AWS Signature Version 4 (AWS4-HMAC-SHA256), verify and sign.
 *
 * How it works. A signature is HMAC-SHA256, under a key derived from the
 * secret and the credential scope (date/region/service/aws4_request), of a
 * "string to sign" that carries the SHA-256 of a canonical request: method,
 * canonical URI, canonical query string, canonical headers, the signed
 * header list and the payload hash. Verifying is signing again with the
 * secret we hold and comparing, in constant time (sodium_memcmp), with the
 * signature sent. All hashing is libsodium's; nothing here is hand-written
 * crypto. The only hand-written decoding is the strict %XX decoder for
 * query strings.
 *
 * Canonicalisation follows botocore and the JS v3 signer
 * (@smithy/signature-v4), which are what SQS clients use, and the official
 * aws4 test suite (tests/data/sigv4):
 *
 *  - Canonical URI: the raw (still percent-encoded) path, with "." and ".."
 *    segments and empty segments removed, then every byte other than the
 *    RFC 3986 unreserved set and '/' encoded once more. For non-S3 services
 *    the SDKs sign the *already encoded* path encoded again, so the server
 *    must not decode it first. SQS paths ("/", "/000000000000/q1") are
 *    unchanged by all of this.
 *  - Canonical query: each name and value is %-decoded (strictly: a '%' not
 *    followed by two hex digits is an error), then RFC 3986-encoded with
 *    upper-case hex, sorted by encoded name then encoded value, "name=" for
 *    an empty value. '+' is a literal plus (encoded %2B), not a space: the
 *    SDKs never send '+' for a space, so treating it as one would only make
 *    a signature match that the client did not make.
 *  - Canonical headers: names lowercased, values trimmed with inner runs of
 *    whitespace squeezed to one space (botocore's ' '.join(v.split())),
 *    repeated headers joined with ',' in arrival order, sorted by name.
 *  - Payload hash: hex SHA-256 of the body, or the value of a *signed*
 *    x-amz-content-sha256 header (JS v3 sends one). A hash given that way
 *    is checked against the body, otherwise the body would not be covered by
 *    the signature; UNSIGNED-PAYLOAD is accepted as the client's choice.
 *    Presigned requests use the body hash too (botocore's SigV4QueryAuth and
 *    JS v3 presign); UNSIGNED-PAYLOAD is S3's convention, not SQS's.
 *
 * What was rejected. Decoding the path before re-encoding it (what a naive
 * server does) breaks any path with a '%'. Accepting the legacy Date header
 * instead of X-Amz-Date: no SQS client sends it, and parsing IMF-fixdate is
 * more code to get wrong; such requests get IncompleteSignature. Checking
 * region and service here: the endpoint knows its own, so the caller checks
 * info.region/info.service.
 *
 * Invariants. The wire layer does no I/O and keeps no state: every call
 * works on the request it is given and frees what it allocates. Secrets
 * and derived keys are wiped (sodium_memzero) before their memory is given
 * back. The secret callback runs only for a request that parsed and whose
 * date is fresh, so an unauthenticated client cannot probe key ids with
 * stale requests.
 */
#include "sigv4.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define TERMINATOR "aws4_request"

/* ---- small helpers ------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write a detail message to err if there is room for one. */
static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ASCII-only classes: the C library's are locale-dependent. */
static int
is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int
is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
hex_val(int c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int
lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* Whitespace as Python's str.split() sees it in ASCII. */
static int
is_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/* RFC 3986 unreserved characters: never percent-encoded. */
static int
is_unreserved(int c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

/* RFC 9110 token characters, which is what a header name is made of. */
static int
is_tchar(int c)
{
    return is_alpha(c) || is_digit(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~",
                                                          c) != NULL);
}

/* Case-insensitive ASCII equality of a (any case) and b (lower case). */
static int
name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (lower((unsigned char)*a) != *b)
            return 0;
    return *a == *b;
}

/* A growable string. Allocation failure sets oom and makes later appends
 * no-ops, so a builder checks once at the end. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void
sb_grow(sbuf *b, size_t more)
{
    size_t need, cap;
    char *p;
    if (b->oom)
        return;
    if (more > SIZE_MAX - b->len - 1) {
        b->oom = 1;
        return;
    }
    need = b->len + more + 1;
    if (need <= b->cap)
        return;
    cap = b->cap ? b->cap : 128;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void
sb_addn(sbuf *b, const void *s, size_t n)
{
    sb_grow(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
sb_adds(sbuf *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

static void
sb_addc(sbuf *b, char c)
{
    sb_addn(b, &c, 1);
}

/* Hand the string to the caller; NULL (and the buffer freed) after an
 * allocation failure. */
static char *
sb_take(sbuf *b)
{
    sb_grow(b, 0);
    if (b->oom) {
        free(b->p);
        b->p = NULL;
        return NULL;
    }
    if (b->len == 0)
        b->p[0] = '\0';
    return b->p;
}

/* Append s[0..n) RFC 3986-encoded (upper-case hex), keeping '/' if asked. */
static void
sb_add_encoded(sbuf *b, const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            sb_addc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sb_addn(b, e, 3);
        }
    }
}

/* Append the %-decoding of s[0..n). Returns 0, or -1 on a '%' that is not
 * followed by two hex digits (b then holds a partial result). */
static int
sb_add_decoded(sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            sb_addc(b, s[i]);
            continue;
        }
        if (n - i < 3 || hex_val((unsigned char)s[i + 1]) < 0 ||
            hex_val((unsigned char)s[i + 2]) < 0)
            return -1;
        sb_addc(b, (char)(hex_val((unsigned char)s[i + 1]) * 16 +
                          hex_val((unsigned char)s[i + 2])));
        i += 2;
    }
    return 0;
}

/* Append a header value trimmed, with inner whitespace runs squeezed. */
static void
sb_add_trimmed(sbuf *b, const char *v)
{
    int pending = 0;
    while (is_ws((unsigned char)*v))
        v++;
    for (; *v; v++) {
        if (is_ws((unsigned char)*v)) {
            pending = 1;
            continue;
        }
        if (pending)
            sb_addc(b, ' ');
        pending = 0;
        sb_addc(b, *v);
    }
}

/* libsodium wants sodium_init() before use. SHA-256 and HMAC do not
 * actually depend on it (it picks CPU-specific code paths and seeds the
 * RNG), so its only failure, no entropy source, is ignored here. It is
 * idempotent and thread-safe, so every entry point calls it. */
static void
sodium_ready(void)
{
    if (sodium_init() < 0) {
        /* Nothing to do: see above. */
    }
}

/* ---- dates -------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil); used instead of timegm(), which is not standard C. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Parse n digits of s; -1 if any is not a digit. */
static int
digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Parse "YYYYMMDDTHHMMSSZ" into Unix milliseconds. Returns 0, or -1 when
 * the string is not exactly that shape or names an impossible time. */
static int
parse_amz_date(const char *s, int64_t *ms)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se;
    if (s == NULL || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return -1;
    y = digits(s, 4);
    mo = digits(s + 4, 2);
    d = digits(s + 6, 2);
    h = digits(s + 9, 2);
    mi = digits(s + 11, 2);
    se = digits(s + 13, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 ||
        h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59)
        return -1;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -1;
    *ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60 + se;
    *ms *= 1000;
    return 0;
}

/* ---- query strings ------------------------------------------------------ */

/* One query parameter: decoded (may contain NULs, hence the lengths) and
 * encoded the canonical way. */
typedef struct qparam {
    char *name, *value;
    size_t nlen, vlen;
    char *ename, *evalue;
} qparam;

typedef struct qlist {
    qparam *v;
    size_t n;
} qlist;

static void
qlist_free(qlist *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->v[i].name);
        free(q->v[i].value);
        free(q->v[i].ename);
        free(q->v[i].evalue);
    }
    free(q->v);
    q->v = NULL;
    q->n = 0;
}

/* Decode s[0..n) into a new string (length in *len). Returns NULL with *why
 * set to INCOMPLETE (bad escape) or INTERNAL. */
static char *
decode_dup(const char *s, size_t n, size_t *len, int *why)
{
    sbuf b = {0};
    char *out;
    if (sb_add_decoded(&b, s, n) < 0) {
        free(b.p);
        *why = LMQ_SIGV4_INCOMPLETE;
        return NULL;
    }
    *len = b.len;
    out = sb_take(&b);
    if (out == NULL)
        *why = LMQ_SIGV4_INTERNAL;
    return out;
}

static char *
encode_dup(const char *s, size_t n)
{
    sbuf b = {0};
    sb_add_encoded(&b, s, n, 0);
    return sb_take(&b);
}

/* Split and decode a raw query string ("a=1&b=&c"); empty pieces are
 * skipped. Returns OK, or INCOMPLETE (bad %-escape) / INTERNAL with err set
 * and q empty. */
static int
qlist_parse(const char *query, qlist *q, char *err, size_t errlen)
{
    size_t cap = 1;
    const char *s = query;
    q->v = NULL;
    q->n = 0;
    if (query == NULL || *query == '\0')
        return LMQ_SIGV4_OK;
    for (const char *p = query; *p; p++)
        cap += *p == '&';
    q->v = calloc(cap, sizeof *q->v);
    if (q->v == NULL)
        goto oom;
    while (*s) {
        const char *e = strchr(s, '&');
        const char *eq;
        size_t seg = e ? (size_t)(e - s) : strlen(s);
        int why = LMQ_SIGV4_OK;
        qparam *p = &q->v[q->n];
        if (seg == 0) {
            s += e ? 1 : 0;
            continue;
        }
        eq = memchr(s, '=', seg);
        p->name = decode_dup(s, eq ? (size_t)(eq - s) : seg, &p->nlen, &why);
        if (p->name != NULL && eq != NULL)
            p->value = decode_dup(eq + 1, seg - (size_t)(eq + 1 - s),
                                  &p->vlen, &why);
        else if (p->name != NULL)
            p->value = decode_dup("", 0, &p->vlen, &why);
        q->n++;
        if (why == LMQ_SIGV4_INCOMPLETE) {
            set_err(err, errlen, "bad %%-escape in query parameter '%.*s'",
                    (int)(seg > 64 ? 64 : seg), s);
            qlist_free(q);
            return LMQ_SIGV4_INCOMPLETE;
        }
        if (why != LMQ_SIGV4_OK)
            goto oom;
        p->ename = encode_dup(p->name, p->nlen);
        p->evalue = encode_dup(p->value, p->vlen);
        if (p->ename == NULL || p->evalue == NULL)
            goto oom;
        s += seg + (e ? 1 : 0);
    }
    return LMQ_SIGV4_OK;
oom:
    qlist_free(q);
    set_err(err, errlen, "out of memory");
    return LMQ_SIGV4_INTERNAL;
}

/* The parameter with decoded name (no NULs) name, and how many there are. */
static const qparam *
qlist_get(const qlist *q, const char *name, int *count)
{
    const qparam *found = NULL;
    size_t len = strlen(name);
    *count = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (q->v[i].nlen == len && memcmp(q->v[i].name, name, len) == 0) {
            if (found == NULL)
                found = &q->v[i];
            (*count)++;
        }
    }
    return found;
}

static int
qparam_cmp(const void *a, const void *b)
{
    const qparam *x = *(const qparam *const *)a;
    const qparam *y = *(const qparam *const *)b;
    int c = strcmp(x->ename, y->ename);
    return c != 0 ? c : strcmp(x->evalue, y->evalue);
}

/* ---- headers ------------------------------------------------------------ */

/* The first header named lname (lower case) in r, and how many there are. */
static const char *
header_get(const lmq_sigv4_request *r, const char *lname, int *count)
{
    const char *found = NULL;
    *count = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (r->headers[i].name != NULL && name_eq(r->headers[i].name, lname)) {
            if (found == NULL)
                found = r->headers[i].value ? r->headers[i].value : "";
            (*count)++;
        }
    }
    return found;
}

/* A signed header list: lowercased, sorted, without repeats. */
typedef struct shlist {
    char **v;
    size_t n;
    char *joined; /* "a;b;c" */
} shlist;

static void
shlist_free(shlist *sh)
{
    for (size_t i = 0; i < sh->n; i++)
        free(sh->v[i]);
    free(sh->v);
    free(sh->joined);
    memset(sh, 0, sizeof *sh);
}

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
shlist_has(const shlist *sh, const char *name)
{
    for (size_t i = 0; i < sh->n; i++)
        if (strcmp(sh->v[i], name) == 0)
            return 1;
    return 0;
}

/* Parse "Host;X-Amz-Date;..." into sh. Repeated names are an error unless
 * dedupe is set. Returns OK, or INCOMPLETE (empty or non-token name, repeat)
 * / INTERNAL with err set and sh empty. */
static int
shlist_parse(const char *s, int dedupe, shlist *sh, char *err, size_t errlen)
{
    size_t cap = 1, k = 0;
    sbuf j = {0};
    memset(sh, 0, sizeof *sh);
    for (const char *p = s; *p; p++)
        cap += *p == ';';
    sh->v = calloc(cap, sizeof *sh->v);
    if (sh->v == NULL)
        goto oom;
    for (;;) {
        const char *e = strchr(s, ';');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char *name;
        if (len == 0) {
            set_err(err, errlen, "empty name in SignedHeaders");
            shlist_free(sh);
            return LMQ_SIGV4_INCOMPLETE;
        }
        name = malloc(len + 1);
        if (name == NULL)
            goto oom;
        for (size_t i = 0; i < len; i++) {
            if (!is_tchar((unsigned char)s[i])) {
                free(name);
                set_err(err, errlen, "invalid header name in SignedHeaders");
                shlist_free(sh);
                return LMQ_SIGV4_INCOMPLETE;
            }
            name[i] = (char)lower((unsigned char)s[i]);
        }
        name[len] = '\0';
        sh->v[sh->n++] = name;
        if (e == NULL)
            break;
        s = e + 1;
    }
    qsort(sh->v, sh->n, sizeof *sh->v, str_cmp);
    for (size_t i = 0; i < sh->n; i++) {
        if (k > 0 && strcmp(sh->v[k - 1], sh->v[i]) == 0) {
            if (!dedupe) {
                set_err(err, errlen, "header '%s' repeated in SignedHeaders",
                        sh->v[i]);
                shlist_free(sh);
                return LMQ_SIGV4_INCOMPLETE;
            }
            free(sh->v[i]);
            sh->v[i] = NULL;
            continue;
        }
        sh->v[k++] = sh->v[i];
    }
    sh->n = k;
    for (size_t i = 0; i < sh->n; i++) {
        if (i > 0)
            sb_addc(&j, ';');
        sb_adds(&j, sh->v[i]);
    }
    sh->joined = sb_take(&j);
    if (sh->joined == NULL)
        goto oom;
    return LMQ_SIGV4_OK;
oom:
    shlist_free(sh);
    set_err(err, errlen, "out of memory");
    return LMQ_SIGV4_INTERNAL;
}

/* ---- canonical request -------------------------------------------------- */

/* Append the canonical URI of path: dot and empty segments removed the way
 * botocore's remove_dot_segments does, then each segment encoded again. */
static void
sb_add_canonical_path(sbuf *b, const char *path)
{
    size_t n = 1, k = 0, plen;
    const char **seg;
    size_t *len;
    if (path == NULL || *path == '\0') {
        sb_addc(b, '/');
        return;
    }
    plen = strlen(path);
    for (const char *p = path; *p; p++)
        n += *p == '/';
    seg = malloc(n * sizeof *seg);
    len = malloc(n * sizeof *len);
    if (seg == NULL || len == NULL) {
        free(seg);
        free(len);
        b->oom = 1;
        return;
    }
    for (const char *s = path;;) {
        const char *e = strchr(s, '/');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l == 2 && s[0] == '.' && s[1] == '.') {
            if (k > 0)
                k--;
        } else if (l > 0 && !(l == 1 && s[0] == '.')) {
            seg[k] = s;
            len[k++] = l;
        }
        if (e == NULL)
            break;
        s = e + 1;
    }
    if (path[0] == '/')
        sb_addc(b, '/');
    for (size_t i = 0; i < k; i++) {
        if (i > 0)
            sb_addc(b, '/');
        sb_add_encoded(b, seg[i], len[i], 0);
    }
    if (k > 0 && path[plen - 1] == '/')
        sb_addc(b, '/');
    if (path[0] != '/' && k == 0)
        sb_addc(b, '/');
    free(seg);
    free(len);
}

/* Build the canonical request from parsed parts. Returns NULL with *why and
 * err set on failure (a signed header absent from r: MISMATCH; out of
 * memory: INTERNAL). */
static char *
canonical(const lmq_sigv4_request *r, const shlist *sh, const qlist *q,
          const char *payload_hash, int presigned, int *why, char *err,
          size_t errlen)
{
    sbuf b = {0};
    const qparam **qs = NULL;
    size_t nq = 0;
    char *out;

    sb_adds(&b, r->method ? r->method : "");
    sb_addc(&b, '\n');
    sb_add_canonical_path(&b, r->path);
    sb_addc(&b, '\n');

    if (q->n > 0) {
        qs = malloc(q->n * sizeof *qs);
        if (qs == NULL)
            b.oom = 1;
    }
    for (size_t i = 0; qs != NULL && i < q->n; i++) {
        if (presigned && strcmp(q->v[i].name, "X-Amz-Signature") == 0 &&
            q->v[i].nlen == strlen("X-Amz-Signature"))
            continue;
        qs[nq++] = &q->v[i];
    }
    if (nq > 0)
        qsort(qs, nq, sizeof *qs, qparam_cmp);
    for (size_t i = 0; i < nq; i++) {
        if (i > 0)
            sb_addc(&b, '&');
        sb_adds(&b, qs[i]->ename);
        sb_addc(&b, '=');
        sb_adds(&b, qs[i]->evalue);
    }
    free(qs);
    sb_addc(&b, '\n');

    for (size_t i = 0; i < sh->n; i++) {
        int seen = 0;
        sb_adds(&b, sh->v[i]);
        sb_addc(&b, ':');
        for (size_t h = 0; h < r->n_headers; h++) {
            if (r->headers[h].name == NULL ||
                !name_eq(r->headers[h].name, sh->v[i]))
                continue;
            if (seen++)
                sb_addc(&b, ',');
            sb_add_trimmed(&b, r->headers[h].value ? r->headers[h].value
                                                   : "");
        }
        if (!seen) {
            free(b.p);
            *why = LMQ_SIGV4_MISMATCH;
            set_err(err, errlen, "signed header '%s' is not in the request",
                    sh->v[i]);
            return NULL;
        }
        sb_addc(&b, '\n');
    }
    sb_addc(&b, '\n');
    sb_adds(&b, sh->joined);
    sb_addc(&b, '\n');
    sb_adds(&b, payload_hash);

    out = sb_take(&b);
    if (out == NULL) {
        *why = LMQ_SIGV4_INTERNAL;
        set_err(err, errlen, "out of memory");
    }
    return out;
}

/* The payload hash to sign: a signed x-amz-content-sha256 value, else the
 * body's SHA-256. hash must hold 65 bytes; a longer header value is still
 * returned (through *dyn, malloc'd) so that it is signed as sent. Returns
 * the hash, or NULL when out of memory. */
static const char *
payload_for(const lmq_sigv4_request *r, const shlist *sh, char hash[65],
            char **dyn)
{
    int count;
    *dyn = NULL;
    if (shlist_has(sh, "x-amz-content-sha256") &&
        header_get(r, "x-amz-content-sha256", &count) != NULL) {
        sbuf b = {0};
        for (size_t h = 0, seen = 0; h < r->n_headers; h++) {
            if (r->headers[h].name == NULL ||
                !name_eq(r->headers[h].name, "x-amz-content-sha256"))
                continue;
            if (seen++)
                sb_addc(&b, ',');
            sb_add_trimmed(&b, r->headers[h].value ? r->headers[h].value
                                                   : "");
        }
        *dyn = sb_take(&b);
        return *dyn;
    }
    lmq__sigv4_payload_hash(r->body, r->body_len, hash);
    return hash;
}

/* ---- the exposed steps -------------------------------------------------- */

void
lmq__sigv4_payload_hash(const void *body, size_t len, char hex[65])
{
    static const unsigned char empty[1];
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, body != NULL ? body : empty,
                       body != NULL ? len : 0);
    sodium_bin2hex(hex, 65, h, sizeof h);
}

char *
lmq__sigv4_canonical_request(const lmq_sigv4_request *r,
                             const char *signed_headers,
                             const char *payload_hash, int presigned,
                             int *why, char *err, size_t errlen)
{
    shlist sh;
    qlist q;
    char hash[65], *dyn = NULL, *out;
    int rc, dummy;
    if (why == NULL)
        why = &dummy;
    rc = shlist_parse(signed_headers ? signed_headers : "", 0, &sh, err,
                      errlen);
    if (rc != LMQ_SIGV4_OK) {
        *why = rc;
        return NULL;
    }
    rc = qlist_parse(r->query, &q, err, errlen);
    if (rc != LMQ_SIGV4_OK) {
        shlist_free(&sh);
        *why = rc;
        return NULL;
    }
    if (payload_hash == NULL) {
        payload_hash = payload_for(r, &sh, hash, &dyn);
        if (payload_hash == NULL) {
            *why = LMQ_SIGV4_INTERNAL;
            set_err(err, errlen, "out of memory");
            out = NULL;
            goto done;
        }
    }
    out = canonical(r, &sh, &q, payload_hash, presigned, why, err, errlen);
done:
    free(dyn);
    qlist_free(&q);
    shlist_free(&sh);
    return out;
}

char *
lmq__sigv4_string_to_sign(const char *amz_date, const char *scope,
                          const char *canonical_request)
{
    char hex[65];
    sbuf b = {0};
    lmq__sigv4_payload_hash(canonical_request, strlen(canonical_request),
                            hex);
    sb_adds(&b, ALGORITHM "\n");
    sb_adds(&b, amz_date);
    sb_addc(&b, '\n');
    sb_adds(&b, scope);
    sb_addc(&b, '\n');
    sb_adds(&b, hex);
    return sb_take(&b);
}

/* out = HMAC-SHA256(key, msg). */
static void
hmac(unsigned char out[32], const unsigned char *key, size_t keylen,
     const char *msg)
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg,
                                  strlen(msg));
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

int
lmq__sigv4_signing_key(const char *secret, const char *date,
                       const char *region, const char *service,
                       unsigned char key[32])
{
    size_t slen = strlen(secret);
    unsigned char *k0 = malloc(slen + 4), k[32];
    if (k0 == NULL) {
        sodium_memzero(key, 32);
        return -1;
    }
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, slen);
    hmac(k, k0, slen + 4, date);
    sodium_memzero(k0, slen + 4);
    free(k0);
    hmac(key, k, sizeof k, region);
    hmac(k, key, 32, service);
    hmac(key, k, sizeof k, TERMINATOR);
    sodium_memzero(k, sizeof k);
    return 0;
}

void
lmq__sigv4_signature(const unsigned char key[32], const char *string_to_sign,
                     char hex[65])
{
    unsigned char mac[32];
    hmac(mac, key, 32, string_to_sign);
    sodium_bin2hex(hex, 65, mac, sizeof mac);
}

/* ---- outcomes ----------------------------------------------------------- */

const char *
lmq__sigv4_error_code(int outcome)
{
    switch (outcome) {
    case LMQ_SIGV4_OK:
        return NULL;
    case LMQ_SIGV4_MISSING:
        return "MissingAuthenticationToken";
    case LMQ_SIGV4_INCOMPLETE:
        return "IncompleteSignature";
    case LMQ_SIGV4_MISMATCH:
        return "SignatureDoesNotMatch";
    case LMQ_SIGV4_EXPIRED:
        return "RequestExpired";
    case LMQ_SIGV4_UNKNOWN_KEY:
        return "InvalidClientTokenId";
    default:
        return "InternalFailure";
    }
}

int
lmq__sigv4_http_status(int outcome)
{
    switch (outcome) {
    case LMQ_SIGV4_OK:
        return 200;
    case LMQ_SIGV4_MISSING:
    case LMQ_SIGV4_MISMATCH:
    case LMQ_SIGV4_UNKNOWN_KEY:
        return 403;
    case LMQ_SIGV4_INCOMPLETE:
    case LMQ_SIGV4_EXPIRED:
        return 400;
    default:
        return 500;
    }
}

/* ---- parsing ------------------------------------------------------------ */

/* Everything parse learns, for verify. */
typedef struct auth {
    int presigned;
    shlist sh;
    char signature[65];
    long expires; /* seconds, presigned only */
    int64_t date_ms;
    qlist q;
} auth;

static void
auth_free(auth *a)
{
    shlist_free(&a->sh);
    qlist_free(&a->q);
}

/* Copy s[0..n) into dst[size] if it fits and every byte passes ok. */
static int
copy_field(char *dst, size_t size, const char *s, size_t n,
           int (*ok)(int c))
{
    if (n == 0 || n >= size)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!ok((unsigned char)s[i]))
            return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* Access key ids are upper-case letters and digits in AWS; allow any
 * visible ASCII other than '/' (the scope separator) and ','. */
static int
key_char(int c)
{
    return c > 0x20 && c < 0x7f && c != '/' && c != ',';
}

static int
scope_char(int c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.';
}

/* Parse "AKID/YYYYMMDD/region/service/aws4_request" (n bytes) into info.
 * Returns OK or INCOMPLETE with err set. */
static int
parse_credential(const char *s, size_t n, lmq_sigv4_info *info, char *err,
                 size_t errlen)
{
    const char *part[5];
    size_t len[5], k = 0;
    const char *p = s, *end = s + n;
    while (k < 5) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        part[k] = p;
        len[k] = slash ? (size_t)(slash - p) : (size_t)(end - p);
        k++;
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    if (k != 5 || part[4] + len[4] != end) {
        set_err(err, errlen,
                "Credential should be <key>/<date>/<region>/<service>/"
                "aws4_request");
        return LMQ_SIGV4_INCOMPLETE;
    }
    if (copy_field(info->access_key, sizeof info->access_key, part[0], len[0],
                   key_char) < 0) {
        set_err(err, errlen, "invalid access key id in Credential");
        return LMQ_SIGV4_INCOMPLETE;
    }
    if (copy_field(info->date, sizeof info->date, part[1], len[1],
                   is_digit) < 0 ||
        len[1] != 8) {
        set_err(err, errlen, "Credential date should be YYYYMMDD");
        return LMQ_SIGV4_INCOMPLETE;
    }
    if (copy_field(info->region, sizeof info->region, part[2], len[2],
                   scope_char) < 0) {
        set_err(err, errlen, "invalid region in Credential");
        return LMQ_SIGV4_INCOMPLETE;
    }
    if (copy_field(info->service, sizeof info->service, part[3], len[3],
                   scope_char) < 0) {
        set_err(err, errlen, "invalid service in Credential");
        return LMQ_SIGV4_INCOMPLETE;
    }
    if (len[4] != strlen(TERMINATOR) ||
        memcmp(part[4], TERMINATOR, len[4]) != 0) {
        set_err(err, errlen, "Credential should be scoped with a valid "
                             "terminator: 'aws4_request'");
        return LMQ_SIGV4_INCOMPLETE;
    }
    return LMQ_SIGV4_OK;
}

/* Check a 64-hex-digit signature and copy it. */
static int
parse_signature(const char *s, size_t n, char out[65], char *err,
                size_t errlen)
{
    if (n != 64) {
        set_err(err, errlen, "Signature should be 64 hex digits");
        return LMQ_SIGV4_INCOMPLETE;
    }
    for (size_t i = 0; i < n; i++) {
        if (hex_val((unsigned char)s[i]) < 0) {
            set_err(err, errlen, "Signature should be 64 hex digits");
            return LMQ_SIGV4_INCOMPLETE;
        }
    }
    memcpy(out, s, 64);
    out[64] = '\0';
    return LMQ_SIGV4_OK;
}

/* SignedHeaders (n bytes, no NULs): parsed, and host must be among them. */
static int
parse_signed_headers(const char *s, size_t n, shlist *sh, char *err,
                     size_t errlen)
{
    char *copy = malloc(n + 1);
    int rc;
    if (copy == NULL) {
        set_err(err, errlen, "out of memory");
        return LMQ_SIGV4_INTERNAL;
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    rc = shlist_parse(copy, 0, sh, err, errlen);
    free(copy);
    if (rc != LMQ_SIGV4_OK)
        return rc;
    if (!shlist_has(sh, "host")) {
        shlist_free(sh);
        set_err(err, errlen, "SignedHeaders must include host");
        return LMQ_SIGV4_INCOMPLETE;
    }
    return LMQ_SIGV4_OK;
}

/* Parse "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
 * Components may come in any order, separated by ',' and optional
 * whitespace; each must appear exactly once, and nothing else may. */
static int
parse_authorization(const char *v, auth *a, lmq_sigv4_info *info, char *err,
                    size_t errlen)
{
    static const char *const names[3] = {"Credential", "SignedHeaders",
                                         "Signature"};
    const char *val[3] = {NULL, NULL, NULL};
    size_t vlen[3] = {0, 0, 0};
    const char *p = v;
    size_t alen = strlen(ALGORITHM);
    int rc;

    while (is_ws((unsigned char)*p))
        p++;
    if (strncmp(p, ALGORITHM, alen) != 0 ||
        !(p[alen] == ' ' || p[alen] == '\t')) {
        set_err(err, errlen, "unsupported Authorization scheme (only "
                             ALGORITHM " is accepted)");
        return LMQ_SIGV4_INCOMPLETE;
    }
    p += alen;
    for (;;) {
        const char *key, *eq, *end;
        size_t klen, i;
        while (is_ws((unsigned char)*p) || *p == ',')
            p++;
        if (*p == '\0')
            break;
        key = p;
        end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        eq = memchr(p, '=', (size_t)(end - p));
        if (eq == NULL) {
            set_err(err, errlen, "Authorization component without '=': "
                                 "'%.*s'",
                    (int)((end - p) > 64 ? 64 : (end - p)), p);
            return LMQ_SIGV4_INCOMPLETE;
        }
        klen = (size_t)(eq - key);
        for (i = 0; i < 3; i++)
            if (strlen(names[i]) == klen && memcmp(names[i], key, klen) == 0)
                break;
        if (i == 3) {
            set_err(err, errlen, "unknown Authorization component '%.*s'",
                    (int)(klen > 64 ? 64 : klen), key);
            return LMQ_SIGV4_INCOMPLETE;
        }
        if (val[i] != NULL) {
            set_err(err, errlen, "Authorization component '%s' repeated",
                    names[i]);
            return LMQ_SIGV4_INCOMPLETE;
        }
        val[i] = eq + 1;
        vlen[i] = (size_t)(end - val[i]);
        while (vlen[i] > 0 && is_ws((unsigned char)val[i][vlen[i] - 1]))
            vlen[i]--;
        p = end;
    }
    for (int i = 0; i < 3; i++) {
        if (val[i] == NULL) {
            set_err(err, errlen,
                    "Authorization header requires '%s' parameter", names[i]);
            return LMQ_SIGV4_INCOMPLETE;
        }
    }
    rc = parse_credential(val[0], vlen[0], info, err, errlen);
    if (rc == LMQ_SIGV4_OK)
        rc = parse_signature(val[2], vlen[2], a->signature, err, errlen);
    if (rc == LMQ_SIGV4_OK)
        rc = parse_signed_headers(val[1], vlen[1], &a->sh, err, errlen);
    return rc;
}

/* Get one presigned parameter: present once, no NULs. */
static const qparam *
presign_param(const qlist *q, const char *name, char *err, size_t errlen)
{
    int count;
    const qparam *p = qlist_get(q, name, &count);
    if (p == NULL) {
        set_err(err, errlen,
                "query-string authentication requires the %s parameter",
                name);
        return NULL;
    }
    if (count > 1 || strlen(p->value) != p->vlen) {
        set_err(err, errlen, "bad %s parameter", name);
        return NULL;
    }
    return p;
}

static int
parse_presigned(auth *a, lmq_sigv4_info *info, char *err, size_t errlen)
{
    const qparam *alg, *cred, *date, *exp, *sh, *sig;
    long e = 0;
    int rc;
    if ((alg = presign_param(&a->q, "X-Amz-Algorithm", err, errlen)) ==
            NULL ||
        (cred = presign_param(&a->q, "X-Amz-Credential", err, errlen)) ==
            NULL ||
        (date = presign_param(&a->q, "X-Amz-Date", err, errlen)) == NULL ||
        (exp = presign_param(&a->q, "X-Amz-Expires", err, errlen)) == NULL ||
        (sh = presign_param(&a->q, "X-Amz-SignedHeaders", err, errlen)) ==
            NULL ||
        (sig = presign_param(&a->q, "X-Amz-Signature", err, errlen)) == NULL)
        return LMQ_SIGV4_INCOMPLETE;
    if (strcmp(alg->value, ALGORITHM) != 0) {
        set_err(err, errlen, "X-Amz-Algorithm must be " ALGORITHM);
        return LMQ_SIGV4_INCOMPLETE;
    }
    /* At most 7 digits: the limit is 604800, and it keeps e from
     * overflowing. */
    if (exp->vlen == 0 || exp->vlen > 7) {
        set_err(err, errlen, "X-Amz-Expires must be 0 to %d seconds",
                LMQ_SIGV4_MAX_EXPIRES);
        return LMQ_SIGV4_INCOMPLETE;
    }
    for (size_t i = 0; i < exp->vlen; i++) {
        if (!is_digit((unsigned char)exp->value[i])) {
            set_err(err, errlen, "X-Amz-Expires must be a number");
            return LMQ_SIGV4_INCOMPLETE;
        }
        e = e * 10 + (exp->value[i] - '0');
    }
    if (e > LMQ_SIGV4_MAX_EXPIRES) {
        set_err(err, errlen, "X-Amz-Expires must be 0 to %d seconds",
                LMQ_SIGV4_MAX_EXPIRES);
        return LMQ_SIGV4_INCOMPLETE;
    }
    a->expires = e;
    if (date->vlen >= sizeof info->amz_date) {
        set_err(err, errlen, "X-Amz-Date must be YYYYMMDDTHHMMSSZ");
        return LMQ_SIGV4_INCOMPLETE;
    }
    memcpy(info->amz_date, date->value, date->vlen + 1);
    rc = parse_credential(cred->value, cred->vlen, info, err, errlen);
    if (rc == LMQ_SIGV4_OK)
        rc = parse_signature(sig->value, sig->vlen, a->signature, err,
                             errlen);
    if (rc == LMQ_SIGV4_OK)
        rc = parse_signed_headers(sh->value, sh->vlen, &a->sh, err, errlen);
    return rc;
}

/* Parse r into *a and *info. On failure a is freed and info zeroed. */
static int
parse_auth(const lmq_sigv4_request *r, auth *a, lmq_sigv4_info *info,
           char *err, size_t errlen)
{
    int count, q_count, rc, q_alg;
    const char *authz;

    memset(a, 0, sizeof *a);
    memset(info, 0, sizeof *info);
    set_err(err, errlen, "%s", "");
    rc = qlist_parse(r->query, &a->q, err, errlen);
    if (rc != LMQ_SIGV4_OK)
        goto fail;
    authz = header_get(r, "authorization", &count);
    q_alg = qlist_get(&a->q, "X-Amz-Algorithm", &q_count) != NULL;
    if (authz == NULL && !q_alg) {
        set_err(err, errlen, "Request is missing Authentication Token");
        rc = LMQ_SIGV4_MISSING;
        goto fail;
    }
    if (authz != NULL && q_alg) {
        set_err(err, errlen, "only one authentication method is allowed "
                             "(Authorization header or X-Amz-Algorithm)");
        rc = LMQ_SIGV4_INCOMPLETE;
        goto fail;
    }
    if (authz != NULL) {
        const char *d, *t;
        size_t n = 0;
        if (count > 1) {
            set_err(err, errlen, "more than one Authorization header");
            rc = LMQ_SIGV4_INCOMPLETE;
            goto fail;
        }
        rc = parse_authorization(authz, a, info, err, errlen);
        if (rc != LMQ_SIGV4_OK)
            goto fail;
        d = header_get(r, "x-amz-date", &count);
        if (d == NULL || count > 1) {
            set_err(err, errlen, "Authorization header requires exactly "
                                 "one X-Amz-Date header");
            rc = LMQ_SIGV4_INCOMPLETE;
            goto fail;
        }
        while (is_ws((unsigned char)*d))
            d++;
        while (d[n] != '\0' && !is_ws((unsigned char)d[n]))
            n++;
        for (t = d + n; is_ws((unsigned char)*t); t++)
            ;
        /* Anything but 16 characters fails parse_amz_date below. */
        if (n == 16 && *t == '\0')
            memcpy(info->amz_date, d, 16);
    } else {
        a->presigned = 1;
        info->presigned = 1;
        rc = parse_presigned(a, info, err, errlen);
        if (rc != LMQ_SIGV4_OK)
            goto fail;
    }
    if (parse_amz_date(info->amz_date, &a->date_ms) < 0) {
        set_err(err, errlen, "X-Amz-Date must be YYYYMMDDTHHMMSSZ");
        rc = LMQ_SIGV4_INCOMPLETE;
        goto fail;
    }
    return LMQ_SIGV4_OK;
fail:
    auth_free(a);
    memset(info, 0, sizeof *info);
    return rc;
}

int
lmq__sigv4_parse(const lmq_sigv4_request *r, lmq_sigv4_info *info,
                 char *err, size_t errlen)
{
    auth a;
    lmq_sigv4_info tmp;
    int rc = parse_auth(r, &a, info ? info : &tmp, err, errlen);
    if (rc == LMQ_SIGV4_OK)
        auth_free(&a);
    return rc;
}

/* ---- verify ------------------------------------------------------------- */

/* Sign the canonical request of r with the scope in info. Returns OK with
 * the hex signature in sig, or the canonical request's failure. */
static int
compute(const lmq_sigv4_request *r, const shlist *sh, const qlist *q,
        const char *payload_hash, int presigned, const char *secret,
        const lmq_sigv4_info *info, char sig[65], char *err, size_t errlen)
{
    char scope[sizeof info->date + sizeof info->region +
               sizeof info->service + sizeof TERMINATOR + 4];
    unsigned char key[32];
    char *creq, *sts;
    int why = LMQ_SIGV4_INTERNAL;

    creq = canonical(r, sh, q, payload_hash, presigned, &why, err, errlen);
    if (creq == NULL)
        return why;
    snprintf(scope, sizeof scope, "%s/%s/%s/" TERMINATOR, info->date,
             info->region, info->service);
    sts = lmq__sigv4_string_to_sign(info->amz_date, scope, creq);
    free(creq);
    if (sts == NULL || lmq__sigv4_signing_key(secret, info->date,
                                              info->region, info->service,
                                              key) < 0) {
        free(sts);
        set_err(err, errlen, "out of memory");
        return LMQ_SIGV4_INTERNAL;
    }
    lmq__sigv4_signature(key, sts, sig);
    sodium_memzero(key, sizeof key);
    free(sts);
    return LMQ_SIGV4_OK;
}

/* Compare two hex digests of equal length without a data-dependent time,
 * ignoring case (a client may send upper-case hex for its payload hash). */
static int
hex_eq_ci(const char *a, const char *b, size_t n)
{
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(lower((unsigned char)a[i]) ^
                             lower((unsigned char)b[i]));
    return d == 0;
}

int
lmq__sigv4_verify(const lmq_sigv4_request *r, int64_t now_ms,
                  lmq_sigv4_secret_fn secret, void *arg,
                  lmq_sigv4_info *info, char *err, size_t errlen)
{
    lmq_sigv4_info tmp;
    auth a;
    const char *key, *payload;
    char hash[65], *dyn = NULL, sig[65];
    int rc;

    sodium_ready();
    if (info == NULL)
        info = &tmp;
    rc = parse_auth(r, &a, info, err, errlen);
    if (rc != LMQ_SIGV4_OK)
        return rc;

    if (memcmp(info->date, info->amz_date, 8) != 0) {
        set_err(err, errlen, "Date in Credential scope does not match "
                             "YYYYMMDD from X-Amz-Date: '%s' != '%.8s'",
                info->date, info->amz_date);
        rc = LMQ_SIGV4_MISMATCH;
        goto done;
    }
    /* The date is at most year 9999 (< 2^48 ms), so these sums cannot
     * overflow. */
    if (now_ms < a.date_ms - LMQ_SIGV4_MAX_SKEW_MS) {
        set_err(err, errlen, "Signature not yet current: %s is more than "
                             "15 minutes in the future",
                info->amz_date);
        rc = LMQ_SIGV4_EXPIRED;
        goto done;
    }
    if (!a.presigned && now_ms > a.date_ms + LMQ_SIGV4_MAX_SKEW_MS) {
        set_err(err, errlen, "Signature expired: %s is more than 15 minutes "
                             "in the past",
                info->amz_date);
        rc = LMQ_SIGV4_EXPIRED;
        goto done;
    }
    if (a.presigned && now_ms > a.date_ms + (int64_t)a.expires * 1000) {
        set_err(err, errlen, "Request has expired: %s plus X-Amz-Expires "
                             "%ld s is past",
                info->amz_date, a.expires);
        rc = LMQ_SIGV4_EXPIRED;
        goto done;
    }

    key = secret != NULL ? secret(arg, info->access_key) : NULL;
    if (key == NULL) {
        set_err(err, errlen, "The security token included in the request "
                             "is invalid (unknown access key '%s')",
                info->access_key);
        rc = LMQ_SIGV4_UNKNOWN_KEY;
        goto done;
    }

    payload = payload_for(r, &a.sh, hash, &dyn);
    if (payload == NULL) {
        set_err(err, errlen, "out of memory");
        rc = LMQ_SIGV4_INTERNAL;
        goto done;
    }
    if (dyn != NULL && strcmp(dyn, LMQ_SIGV4_UNSIGNED_PAYLOAD) != 0) {
        lmq__sigv4_payload_hash(r->body, r->body_len, hash);
        if (strlen(dyn) != 64 || !hex_eq_ci(dyn, hash, 64)) {
            set_err(err, errlen, "x-amz-content-sha256 does not match the "
                                 "SHA-256 of the body");
            rc = LMQ_SIGV4_MISMATCH;
            goto done;
        }
    }

    rc = compute(r, &a.sh, &a.q, payload, a.presigned, key, info, sig, err,
                 errlen);
    if (rc != LMQ_SIGV4_OK)
        goto done;
    if (sodium_memcmp(sig, a.signature, 64) != 0) {
        set_err(err, errlen, "The request signature we calculated does not "
                             "match the signature you provided");
        rc = LMQ_SIGV4_MISMATCH;
    }
done:
    free(dyn);
    auth_free(&a);
    return rc;
}

/* ---- sign --------------------------------------------------------------- */

/* Headers a signer leaves out when asked to sign "everything": they are
 * changed by proxies or added after signing (botocore's blocklist, plus
 * authorization itself). */
static int
unsignable(const char *name)
{
    return name_eq(name, "authorization") || name_eq(name, "user-agent") ||
           name_eq(name, "expect") || name_eq(name, "x-amzn-trace-id");
}

/* Check the credential inputs of sign and presign and fill info. */
static int
sign_info(const char *access_key, const char *region, const char *service,
          const char *amz_date, lmq_sigv4_info *info)
{
    int64_t ms;
    memset(info, 0, sizeof *info);
    if (access_key == NULL || region == NULL || service == NULL ||
        parse_amz_date(amz_date, &ms) < 0 ||
        copy_field(info->access_key, sizeof info->access_key, access_key,
                   strlen(access_key), key_char) < 0 ||
        copy_field(info->region, sizeof info->region, region, strlen(region),
                   scope_char) < 0 ||
        copy_field(info->service, sizeof info->service, service,
                   strlen(service), scope_char) < 0)
        return LMQ_SIGV4_INCOMPLETE;
    memcpy(info->amz_date, amz_date, 16);
    memcpy(info->date, amz_date, 8);
    return LMQ_SIGV4_OK;
}

/* Build the signed header list for sign/presign from an explicit list or
 * from the request's headers, adding extra (may be NULL). */
static int
sign_headers(const lmq_sigv4_request *r, const char *signed_headers,
             const char *extra, shlist *sh)
{
    sbuf b = {0};
    int rc;
    if (signed_headers != NULL) {
        sb_adds(&b, signed_headers);
    } else {
        for (size_t i = 0; i < r->n_headers; i++) {
            if (r->headers[i].name == NULL || unsignable(r->headers[i].name))
                continue;
            if (b.len > 0)
                sb_addc(&b, ';');
            sb_adds(&b, r->headers[i].name);
        }
    }
    if (extra != NULL) {
        if (b.len > 0)
            sb_addc(&b, ';');
        sb_adds(&b, extra);
    }
    if (sb_take(&b) == NULL)
        return LMQ_SIGV4_INTERNAL;
    rc = shlist_parse(b.p, 1, sh, NULL, 0);
    free(b.p);
    if (rc == LMQ_SIGV4_OK && !shlist_has(sh, "host")) {
        shlist_free(sh);
        rc = LMQ_SIGV4_INCOMPLETE;
    }
    return rc;
}

int
lmq__sigv4_sign(const lmq_sigv4_request *r, const char *access_key,
                const char *secret, const char *region, const char *service,
                const char *amz_date, const char *signed_headers,
                char *authorization_out, size_t outlen)
{
    lmq_sigv4_info info;
    lmq_sigv4_request r2;
    lmq_sigv4_header *hs = NULL;
    shlist sh = {0};
    qlist q = {0};
    const char *d, *payload;
    char hash[65], *dyn = NULL, sig[65];
    int rc, count;

    sodium_ready();
    if (authorization_out != NULL && outlen > 0)
        authorization_out[0] = '\0';
    if (authorization_out == NULL || secret == NULL || r == NULL)
        return LMQ_SIGV4_INCOMPLETE;
    rc = sign_info(access_key, region, service, amz_date, &info);
    if (rc != LMQ_SIGV4_OK)
        return rc;

    /* The request as it will be sent: with X-Amz-Date. */
    r2 = *r;
    d = header_get(r, "x-amz-date", &count);
    if (d != NULL) {
        sbuf t = {0};
        sb_add_trimmed(&t, d);
        if (sb_take(&t) == NULL)
            return LMQ_SIGV4_INTERNAL;
        rc = (count > 1 || strcmp(t.p, amz_date) != 0) ? LMQ_SIGV4_INCOMPLETE
                                                        : LMQ_SIGV4_OK;
        free(t.p);
        if (rc != LMQ_SIGV4_OK)
            return rc;
    } else {
        hs = malloc((r->n_headers + 1) * sizeof *hs);
        if (hs == NULL)
            return LMQ_SIGV4_INTERNAL;
        if (r->n_headers > 0)
            memcpy(hs, r->headers, r->n_headers * sizeof *hs);
        hs[r->n_headers].name = "X-Amz-Date";
        hs[r->n_headers].value = amz_date;
        r2.headers = hs;
        r2.n_headers = r->n_headers + 1;
    }

    rc = sign_headers(&r2, signed_headers, "x-amz-date", &sh);
    if (rc == LMQ_SIGV4_OK)
        rc = qlist_parse(r2.query, &q, NULL, 0);
    if (rc != LMQ_SIGV4_OK)
        goto done;
    payload = payload_for(&r2, &sh, hash, &dyn);
    if (payload == NULL) {
        rc = LMQ_SIGV4_INTERNAL;
        goto done;
    }
    rc = compute(&r2, &sh, &q, payload, 0, secret, &info, sig, NULL, 0);
    if (rc == LMQ_SIGV4_MISMATCH) /* a signed header is absent */
        rc = LMQ_SIGV4_INCOMPLETE;
    if (rc != LMQ_SIGV4_OK)
        goto done;
    {
        int n = snprintf(authorization_out, outlen,
                         ALGORITHM " Credential=%s/%s/%s/%s/" TERMINATOR
                                   ", SignedHeaders=%s, Signature=%s",
                         info.access_key, info.date, info.region,
                         info.service, sh.joined, sig);
        if (n < 0 || (size_t)n >= outlen) {
            authorization_out[0] = '\0';
            rc = LMQ_SIGV4_INCOMPLETE;
        }
    }
done:
    free(dyn);
    free(hs);
    qlist_free(&q);
    shlist_free(&sh);
    return rc;
}

int
lmq__sigv4_presign(const lmq_sigv4_request *r, const char *access_key,
                   const char *secret, const char *region,
                   const char *service, const char *amz_date, long expires,
                   const char *signed_headers, char **query_out)
{
    lmq_sigv4_info info;
    lmq_sigv4_request r2;
    shlist sh = {0};
    qlist q = {0};
    sbuf b = {0};
    char hash[65], sig[65], num[24];
    int rc;

    sodium_ready();
    if (query_out == NULL)
        return LMQ_SIGV4_INCOMPLETE;
    *query_out = NULL;
    if (r == NULL || secret == NULL || expires < 0 ||
        expires > LMQ_SIGV4_MAX_EXPIRES)
        return LMQ_SIGV4_INCOMPLETE;
    rc = sign_info(access_key, region, service, amz_date, &info);
    if (rc != LMQ_SIGV4_OK)
        return rc;
    rc = sign_headers(r, signed_headers ? signed_headers : "host", NULL,
                      &sh);
    if (rc != LMQ_SIGV4_OK)
        return rc;

    if (r->query != NULL && *r->query != '\0') {
        sb_adds(&b, r->query);
        sb_addc(&b, '&');
    }
    sb_adds(&b, "X-Amz-Algorithm=" ALGORITHM "&X-Amz-Credential=");
    sb_adds(&b, info.access_key);
    sb_adds(&b, "%2F");
    sb_adds(&b, info.date);
    sb_adds(&b, "%2F");
    sb_adds(&b, info.region);
    sb_adds(&b, "%2F");
    sb_adds(&b, info.service);
    sb_adds(&b, "%2F" TERMINATOR "&X-Amz-Date=");
    sb_adds(&b, info.amz_date);
    snprintf(num, sizeof num, "%ld", expires);
    sb_adds(&b, "&X-Amz-Expires=");
    sb_adds(&b, num);
    sb_adds(&b, "&X-Amz-SignedHeaders=");
    sb_add_encoded(&b, sh.joined, strlen(sh.joined), 0);
    if (sb_take(&b) == NULL) {
        rc = LMQ_SIGV4_INTERNAL;
        goto done;
    }

    r2 = *r;
    r2.query = b.p;
    rc = qlist_parse(r2.query, &q, NULL, 0);
    if (rc != LMQ_SIGV4_OK)
        goto done;
    lmq__sigv4_payload_hash(r->body, r->body_len, hash);
    rc = compute(&r2, &sh, &q, hash, 1, secret, &info, sig, NULL, 0);
    if (rc == LMQ_SIGV4_MISMATCH) /* a signed header is absent */
        rc = LMQ_SIGV4_INCOMPLETE;
    if (rc != LMQ_SIGV4_OK)
        goto done;
    sb_adds(&b, "&X-Amz-Signature=");
    sb_adds(&b, sig);
    *query_out = sb_take(&b);
    b.p = NULL;
    if (*query_out == NULL)
        rc = LMQ_SIGV4_INTERNAL;
done:
    free(b.p);
    qlist_free(&q);
    shlist_free(&sh);
    return rc;
}
