/*
 * validate.c: the SQS input rules (shared/SQS-SEMANTICS.md sections 1.2, 1.6,
 * 2.1, 2.6, 2.7, 3.2 and 3.3), as pure functions with no I/O.
 *
 * Design: each check returns 0 or an lmq_err and leaves the SQS error text in
 * lmq_errmsg() through lmq__seterr, so the faces can pass it through as the
 * AWS "Message". Texts recorded from AWS or LocalStack are copied exactly;
 * where AWS's wording is unknown the text follows the same shape.
 *
 * UTF-8 is decoded strictly by lmq's one decoder (lmq__utf8_next in
 * lib/utf8.h, which the wire layer and the CLI use too): overlong forms,
 * UTF-16 surrogates (U+D800-U+DFFF), code points above U+10FFFF, stray
 * continuation bytes and truncated sequences are all errors. A lenient
 * decoder would let bytes that no SQS client can represent into the store,
 * and two spellings of one character would give two MD5 digests.
 *
 * Lengths: SQS counts queue names, batch ids and message ids in characters,
 * but their alphabets are ASCII, so bytes and characters agree. Tags are the
 * one place where non-ASCII text is legal in a counted field, so tag lengths
 * are counted in code points.
 */
#include "internal.h"
#include "utf8.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHARS_MSG                                                            \
    "Invalid characters found. Valid unicode characters are #x9 | #xA | "    \
    "#xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"

#define QUEUE_NAME_MSG                                                       \
    "Can only include alphanumeric characters, hyphens, or underscores. 1 "  \
    "to 80 in length"

/* The AWS text for a FIFO queue name (LocalStack and AWS agree on it). */
#define FIFO_NAME_MSG                                                        \
    "The name of a FIFO queue can only include alphanumeric characters, "    \
    "hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in " \
    "length."

#define BATCH_ID_MSG                                                         \
    "A batch entry id can only contain alphanumeric characters, hyphens "    \
    "and underscores. It can be at most 80 letters long."

/* SQS limits that only this file needs. */
#define MAX_QUEUE_NAME LMQ_MAX_QUEUE_NAME
#define MAX_BATCH_ID 80
#define MAX_MSG_IDENT 128
#define MAX_MATTR_NAME 256
#define MAX_MATTR_TYPE 256
#define MAX_TAG_KEY 128
#define MAX_TAG_VALUE 256
/* Number attributes: "up to 38 digits of precision, between 10^-128 and
 * 10^+126" (section 3.3). */
#define NUMBER_MAX_DIGITS 38
#define NUMBER_MIN_EXP (-128)
#define NUMBER_MAX_EXP 126

/* ---- character classes --------------------------------------------------- */

static bool
is_alnum(unsigned char c)
{
    /* Not isalnum(): that depends on the locale, and SQS means ASCII. */
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
           (c >= 'a' && c <= 'z');
}

/* [A-Za-z0-9_-]: queue names and batch entry ids. */
static bool
is_word(unsigned char c)
{
    return is_alnum(c) || c == '_' || c == '-';
}

/* The XML 1.0 Char production SQS allows in bodies and strings. */
static bool
is_xml_char(uint32_t c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* ---- queue names --------------------------------------------------------- */

int
lmq__valid_queue_name(const char *name, bool fifo)
{
    static const char sfx[] = ".fifo";
    const size_t sl = sizeof sfx - 1;
    const char *msg = fifo ? FIFO_NAME_MSG : QUEUE_NAME_MSG;

    if (name == NULL)
        return lmq__seterr(LMQ_EINVAL, "%s", msg);
    size_t len = strlen(name), base = len;
    if (len == 0 || len > MAX_QUEUE_NAME)
        return lmq__seterr(LMQ_EINVAL, "%s", msg);
    if (fifo) {
        /* The suffix counts toward the 80, and some name must precede it. */
        if (len <= sl || strcmp(name + len - sl, sfx) != 0)
            return lmq__seterr(LMQ_EINVAL, "%s", msg);
        base = len - sl;
    }
    /* A standard queue named "x.fifo" fails here on the '.', which is the
     * text LocalStack gives for it. */
    for (size_t i = 0; i < base; i++)
        if (!is_word((unsigned char)name[i]))
            return lmq__seterr(LMQ_EINVAL, "%s", msg);
    return 0;
}

/* ---- bodies and strings -------------------------------------------------- */

/* Whether all of p[0..7] are in 0x20..0x7f. x - 0x20 in a byte below 0x20
 * borrows into that byte's top bit, where ~x keeps it; a borrow can only
 * mark a higher byte falsely when a lower byte is itself below 0x20, so the
 * yes/no answer is exact. Bytes above 0x7f show in x's own top bits. */
static inline bool
printable8(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101ull, tops = ones << 7;
    uint64_t x;
    memcpy(&x, p, 8);
    return ((((x - 0x20 * ones) & ~x) | x) & tops) == 0;
}

/* printable8() of 8 words at once: their flags ORed, one test. */
static inline bool
printable64(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101ull, tops = ones << 7;
    uint64_t x, acc = 0;
    for (int k = 0; k < 8; k++) {
        memcpy(&x, p + 8 * k, 8);
        acc |= ((x - 0x20 * ones) & ~x) | x;
    }
    return (acc & tops) == 0;
}

int
lmq__valid_chars(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    if (s == NULL)
        return len ? lmq__seterr(LMQ_ECONTENTS, CHARS_MSG) : 0;
    while (i < len) {
        uint32_t c;
        /* Plain ASCII is the common case: skip the decoder for it, 64
         * bytes at a time while it lasts (one test per block: a large
         * body's check costs a third of what 8 at a time did). */
        if (len - i >= 64 && printable64(u + i)) {
            i += 64;
            continue;
        }
        if (len - i >= 8 && printable8(u + i)) {
            i += 8;
            continue;
        }
        if (u[i] >= 0x20 && u[i] < 0x80) {
            i++;
            continue;
        }
        if (!lmq__utf8_next(u, len, &i, &c) || !is_xml_char(c))
            return lmq__seterr(LMQ_ECONTENTS, CHARS_MSG);
    }
    return 0;
}

/* ---- message attributes -------------------------------------------------- */

/* The base type of a DataType ("String", "Number" or "Binary", with an
 * optional ".label"), or NULL when the type is not one of those. */
static const char *
mattr_base_type(const char *type)
{
    static const char *const bases[] = {"String", "Number", "Binary"};
    for (size_t i = 0; i < 3; i++) {
        size_t bl = strlen(bases[i]);
        if (strncmp(type, bases[i], bl) != 0)
            continue;
        if (type[bl] == '\0')
            return bases[i];
        /* A custom label must say something after the dot. */
        if (type[bl] == '.' && type[bl + 1] != '\0')
            return bases[i];
    }
    return NULL;
}

/* Whether s is a number SQS accepts: [+-]digits[.digits][e[+-]digits] with
 * at least one mantissa digit, at most 38 significant digits, and a
 * magnitude within 10^-128 .. 10^+126 (zero is always fine). Leading and
 * trailing zeros are not significant, as SQS "removes" them. */
static bool
valid_number(const char *s, size_t len)
{
    size_t i = 0;
    long digits = 0;      /* mantissa digits seen */
    long first_sig = -1;  /* index (in digits) of the first non-zero one */
    long last_sig = -1;   /* index of the last non-zero one */
    long int_digits = 0;  /* digits before the point */
    bool point = false;
    long e10 = 0;

    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    for (; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (c != '0') {
                if (first_sig < 0)
                    first_sig = digits;
                last_sig = digits;
            }
            digits++;
            if (!point)
                int_digits++;
        } else if (c == '.' && !point) {
            point = true;
        } else {
            break;
        }
    }
    if (digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        bool neg = false;
        size_t start;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            neg = s[i++] == '-';
        start = i;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            /* Saturate: any exponent this large is out of range anyway. */
            if (e10 < 100000)
                e10 = e10 * 10 + (s[i] - '0');
        }
        if (i == start)
            return false;
        if (neg)
            e10 = -e10;
    }
    if (i != len)
        return false;
    if (first_sig < 0)
        return true; /* zero */
    if (last_sig - first_sig + 1 > NUMBER_MAX_DIGITS)
        return false;
    /* The value is d.ddd x 10^mag with mag the place of the first
     * significant digit. */
    long mag = int_digits - 1 - first_sig + e10;
    return mag >= NUMBER_MIN_EXP && mag <= NUMBER_MAX_EXP;
}

/* Check one attribute name (section 3.3). */
static int
valid_mattr_name(const char *name)
{
    size_t len = strlen(name);

    if (len == 0)
        return lmq__seterr(LMQ_EINVAL,
                           "Message (user) attribute name must not be "
                           "empty.");
    if (len > MAX_MATTR_NAME)
        return lmq__seterr(LMQ_EINVAL,
                           "Message (user) attribute name '%.64s...' is "
                           "invalid. Reason: can be at most 256 characters "
                           "long.",
                           name);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!is_word(c) && c != '.')
            return lmq__seterr(LMQ_EINVAL,
                               "Message (user) attribute name '%s' is "
                               "invalid. Reason: can only include "
                               "alphanumeric characters, hyphens, "
                               "underscores and periods.",
                               name);
    }
    /* Reserved for AWS in any casing ("aws.", "AMAZON."). */
    if (strncasecmp(name, "AWS.", 4) == 0 ||
        strncasecmp(name, "Amazon.", 7) == 0)
        return lmq__seterr(LMQ_EINVAL,
                           "Message (user) attribute name '%s' is invalid. "
                           "Reason: the prefixes AWS. and Amazon. are "
                           "reserved.",
                           name);
    if (name[0] == '.' || name[len - 1] == '.' || strstr(name, "..") != NULL)
        return lmq__seterr(LMQ_EINVAL,
                           "Message (user) attribute name '%s' is invalid. "
                           "Reason: must not start or end with a period or "
                           "contain two successive periods.",
                           name);
    return 0;
}

int
lmq__valid_mattrs(const lmq_mattrs *a, size_t *bytes)
{
    size_t n = lmq_mattrs_count(a), total = 0;

    if (bytes)
        *bytes = 0;
    if (n > LMQ_MAX_MATTRS)
        return lmq__seterr(LMQ_EINVAL,
                           "Number of message attributes [%zu] exceeds the "
                           "allowed maximum [%d].",
                           n, LMQ_MAX_MATTRS);
    for (size_t i = 0; i < n; i++) {
        const char *name, *type, *base;
        const void *value;
        size_t len;
        int rc;

        if (lmq_mattrs_at(a, i, &name, &type, &value, &len) != 0)
            return lmq__seterr(LMQ_EINVAL, "unreadable message attribute");
        if ((rc = valid_mattr_name(name)) != 0)
            return rc;
        size_t tlen = strlen(type);
        base = mattr_base_type(type);
        if (base == NULL || tlen > MAX_MATTR_TYPE ||
            lmq__valid_chars(type, tlen) != 0)
            return lmq__seterr(LMQ_EINVAL,
                               "The message attribute '%s' has an invalid "
                               "message attribute type, the set of supported "
                               "type prefixes is Binary, Number, and String.",
                               name);
        if (len == 0)
            return lmq__seterr(LMQ_EINVAL,
                               "Message (user) attribute '%s' must contain "
                               "a non-empty value of type '%s'.",
                               name, base);
        if (base[0] == 'S' && (rc = lmq__valid_chars(value, len)) != 0)
            return rc;
        if (base[0] == 'N' && !valid_number(value, len))
            return lmq__seterr(LMQ_EINVAL,
                               "Can't cast the value of message (user) "
                               "attribute '%s' to a number.",
                               name);
        /* SQS size accounting (section 3.3): name + DataType + value
         * bytes; these add up well within size_t for any real list. */
        total += strlen(name) + tlen + len;
    }
    if (bytes)
        *bytes = total;
    return 0;
}

/* ---- FIFO identifiers ---------------------------------------------------- */

int
lmq__valid_msg_ident(const char *param, const char *v)
{
    size_t len = v ? strlen(v) : 0;
    bool ok = len >= 1 && len <= MAX_MSG_IDENT;

    /* Alphanumerics plus the 32 ASCII punctuation characters are exactly
     * the printable ASCII range without the space. */
    for (size_t i = 0; ok && i < len; i++)
        ok = v[i] >= 0x21 && v[i] <= 0x7E;
    if (ok)
        return 0;
    return lmq__seterr(LMQ_EINVAL,
                       "Value %s for parameter %s is invalid. Reason: %s can "
                       "only include alphanumeric and punctuation characters. "
                       "1 to 128 in length.",
                       v ? v : "", param, param);
}

/* ---- batch entry ids ----------------------------------------------------- */

static bool
valid_batch_id(const char *id)
{
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > MAX_BATCH_ID)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_word((unsigned char)id[i]))
            return false;
    return true;
}

int
lmq__valid_batch_ids(const char *const *ids, size_t n)
{
    if (n == 0)
        return lmq__seterr(LMQ_EBATCHEMPTY,
                           "There should be at least one entry in the "
                           "request.");
    if (n > LMQ_MAX_BATCH)
        return lmq__seterr(LMQ_EBATCHTOOMANY,
                           "Maximum number of entries per request are %d. "
                           "You have sent %zu.",
                           LMQ_MAX_BATCH, n);
    if (ids == NULL)
        return lmq__seterr(LMQ_EBATCHID, BATCH_ID_MSG);
    for (size_t i = 0; i < n; i++)
        if (!valid_batch_id(ids[i]))
            return lmq__seterr(LMQ_EBATCHID, BATCH_ID_MSG);
    /* At most 10 ids: the quadratic scan is cheaper than sorting. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(ids[i], ids[j]) == 0)
                return lmq__seterr(LMQ_EBATCHIDSDUP, "Id %s repeated.",
                                   ids[i]);
    return 0;
}

/* ---- tags ---------------------------------------------------------------- */

/* Count the code points of a tag key or value in *count. Returns false for
 * invalid UTF-8 or a character outside the tag alphabet.
 *
 * Simplification: AWS allows "Unicode letters and digits", i.e. the general
 * categories L* and N*. Classifying those needs Unicode tables that lmq does
 * not carry, so every valid non-ASCII code point is accepted; ASCII is held
 * to the exact rule (letters, digits, space and _ . : / = + - @). */
static bool
tag_text(const char *s, size_t *count)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), i = 0, n = 0;

    while (i < len) {
        uint32_t c;
        /* Tags travel in XML answers: no U+FFFE, U+FFFF or controls. */
        if (!lmq__utf8_next(u, len, &i, &c) || !is_xml_char(c))
            return false;
        if (c < 0x80 && !is_alnum((unsigned char)c) &&
            strchr(" _.:/=+-@", (int)c) == NULL)
            return false;
        n++;
    }
    *count = n;
    return true;
}

int
lmq__valid_tag(const char *key, const char *value)
{
    size_t kn, vn;

    if (key == NULL || !tag_text(key, &kn) || kn < 1 || kn > MAX_TAG_KEY)
        return lmq__seterr(LMQ_EINVAL,
                           "Tag key '%s' is invalid. Reason: must be 1 to 128 "
                           "Unicode letters, digits, spaces or _ . : / = + - "
                           "@.",
                           key ? key : "");
    /* The aws: prefix is reserved for AWS in any casing. */
    if (strncasecmp(key, "aws:", 4) == 0)
        return lmq__seterr(LMQ_EINVAL,
                           "Tag key '%s' is invalid. Reason: the prefix aws: "
                           "is reserved.",
                           key);
    if (value == NULL || !tag_text(value, &vn) || vn > MAX_TAG_VALUE)
        return lmq__seterr(LMQ_EINVAL,
                           "Tag value for key '%s' is invalid. Reason: must "
                           "be 0 to 256 Unicode letters, digits, spaces or "
                           "_ . : / = + - @.",
                           key);
    return 0;
}

/* ---- integers ------------------------------------------------------------ */

int
lmq__parse_int(const char *s, long long lo, long long hi, long long *out)
{
    const char *p = s;
    char *end;

    /* strtoll alone accepts leading space and a '+', and reports nothing
     * for "": require an optional '-' and then digits only. */
    if (s == NULL)
        return lmq__seterr(LMQ_EINVAL, "Value is missing; an integer from "
                                       "%lld to %lld is required.",
                           lo, hi);
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        goto bad;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end != '\0' || v < lo || v > hi)
        goto bad;
    if (out)
        *out = v;
    return 0;

bad:
    return lmq__seterr(LMQ_EINVAL,
                       "Value %s is invalid. Reason: must be an integer from "
                       "%lld to %lld.",
                       s, lo, hi);
}
