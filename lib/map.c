/*
 * map.c: lmq_map (ordered string map) and lmq_mattrs (typed message
 * attributes), their storage encoding, the MD5OfMessageAttributes digest and
 * the receive-time MessageAttributeNames filter.
 *
 * Design: both containers are arrays kept sorted by key (name) bytes, with a
 * binary search for lookups and memmove for inserts. They hold at most a few
 * dozen entries (50 tags, 10 attributes, ~20 queue attributes), so a sorted
 * array beats a hash table or tree on size, code and cache behaviour, and it
 * makes `_at(i)` return entries in order for free: SQS sorts attributes by
 * name for MD5OfMessageAttributes, and listings print tags and attributes in
 * a stable order. Byte order (strcmp, which compares as unsigned char) is the
 * order SQS uses, because every legal attribute-name character is ASCII.
 *
 * Attribute values are stored with one extra NUL byte past their length so a
 * String or Number value can be used as a C string; the length never counts
 * it. Binary values may contain NULs; the length is authoritative.
 *
 * Encoding (lmq__*_encode/decode) is for records in the store, which carry
 * their own version, so the format has none of its own. All integers are
 * 4-byte big-endian:
 *
 *   map:    count, then count x { klen, key bytes, vlen, value bytes }
 *   mattrs: count, then count x { nlen, name, tlen, type, vlen, value }
 *
 * Entries are written in sorted order, and the decoders insist on strictly
 * increasing keys, no NUL inside a key, name, type or map value, and no
 * trailing bytes. Any deviation means the bytes are not what an encoder
 * wrote, so it is LMQ_ECORRUPT. Every length is checked against the bytes
 * that remain before it is used, so no input can make a decoder read out of
 * bounds or allocate more than a small multiple of the input size.
 */
#include "internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct map_ent {
    char *key;
    char *value;
};

struct lmq_map {
    struct map_ent *ents;
    size_t n;
    size_t cap;
};

struct mattr {
    char *name;
    char *type;
    uint8_t *value; /* len bytes plus a NUL terminator */
    size_t len;
};

struct lmq_mattrs {
    struct mattr *ents;
    size_t n;
    size_t cap;
};

/* ---- helpers ------------------------------------------------------------- */

/* Grow an array of elements of size esz so it holds at least one more.
 * Returns false when out of memory; the array is unchanged then. */
static bool
grow(void **arr, size_t *cap, size_t n, size_t esz)
{
    if (n < *cap)
        return true;
    /* Start at 8: most maps hold a handful of entries, and doubling keeps
     * the amortised cost of n inserts linear in copies. */
    size_t ncap = *cap ? *cap * 2 : 8;
    if (ncap > SIZE_MAX / esz)
        return false;
    void *p = realloc(*arr, ncap * esz);
    if (p == NULL)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

/* Copy len bytes of p into a new buffer with a NUL after them. */
static void *
memdup0(const void *p, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    uint8_t *d = malloc(len + 1);
    if (d == NULL)
        return NULL;
    if (len)
        memcpy(d, p, len);
    d[len] = '\0';
    return d;
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Append len32 || bytes at *pos (the caller sized the buffer). */
static void
put_blob(uint8_t *buf, size_t *pos, const void *p, size_t len)
{
    put32(buf + *pos, (uint32_t)len);
    *pos += 4;
    if (len)
        memcpy(buf + *pos, p, len);
    *pos += len;
}

/* Add the size of one len32-prefixed field to *total; false on overflow or
 * when the field does not fit the 32-bit length. */
static bool
add_blob_size(size_t *total, size_t len)
{
    if (len > UINT32_MAX || *total > SIZE_MAX - 4 - len)
        return false;
    *total += 4 + len;
    return true;
}

/* A bounds-checked reader over an encoded buffer. */
struct rd {
    const uint8_t *p;
    size_t left;
};

static bool
rd_u32(struct rd *r, uint32_t *v)
{
    if (r->left < 4)
        return false;
    *v = get32(r->p);
    r->p += 4;
    r->left -= 4;
    return true;
}

/* Read a len32-prefixed field; *p points into the buffer. With nonul set the
 * field must not contain a NUL byte (it becomes a C string). */
static bool
rd_blob(struct rd *r, const uint8_t **p, size_t *len, bool nonul)
{
    uint32_t l;
    if (!rd_u32(r, &l) || l > r->left)
        return false;
    if (nonul && memchr(r->p, '\0', l) != NULL)
        return false;
    *p = r->p;
    *len = l;
    r->p += l;
    r->left -= l;
    return true;
}

/* ---- lmq_map ------------------------------------------------------------- */

/* Index of key, or (when absent) the index where it belongs, in *pos. */
static bool
map_find(const lmq_map *m, const char *key, size_t *pos)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, m->ents[mid].key);
        if (c == 0) {
            *pos = mid;
            return true;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *pos = lo;
    return false;
}

LMQ_API lmq_map *
lmq_map_new(void)
{
    return calloc(1, sizeof(lmq_map));
}

LMQ_API void
lmq_map_free(lmq_map *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->ents[i].key);
        free(m->ents[i].value);
    }
    free(m->ents);
    free(m);
}

/* Insert or replace, taking ownership of key and value on success only. */
static int
map_put_owned(lmq_map *m, char *key, char *value)
{
    size_t pos;
    if (map_find(m, key, &pos)) {
        free(m->ents[pos].value);
        m->ents[pos].value = value;
        free(key);
        return 0;
    }
    if (!grow((void **)&m->ents, &m->cap, m->n, sizeof *m->ents))
        return lmq__seterr(LMQ_ENOMEM, NULL);
    memmove(&m->ents[pos + 1], &m->ents[pos],
            (m->n - pos) * sizeof *m->ents);
    m->ents[pos].key = key;
    m->ents[pos].value = value;
    m->n++;
    return 0;
}

LMQ_API int
lmq_map_set(lmq_map *m, const char *key, const char *value)
{
    if (m == NULL || key == NULL || value == NULL)
        return lmq__seterr(LMQ_EINVAL, "lmq_map_set: NULL argument");
    char *k = strdup(key);
    char *v = strdup(value);
    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    int rc = map_put_owned(m, k, v);
    if (rc != 0) {
        free(k);
        free(v);
    }
    return rc;
}

LMQ_API const char *
lmq_map_get(const lmq_map *m, const char *key)
{
    size_t pos;
    if (m == NULL || key == NULL || !map_find(m, key, &pos))
        return NULL;
    return m->ents[pos].value;
}

LMQ_API int
lmq_map_del(lmq_map *m, const char *key)
{
    size_t pos;
    if (m == NULL || key == NULL)
        return lmq__seterr(LMQ_EINVAL, "lmq_map_del: NULL argument");
    if (!map_find(m, key, &pos))
        return lmq__seterr(LMQ_ENOTFOUND, "key '%s' not found", key);
    free(m->ents[pos].key);
    free(m->ents[pos].value);
    memmove(&m->ents[pos], &m->ents[pos + 1],
            (m->n - pos - 1) * sizeof *m->ents);
    m->n--;
    return 0;
}

LMQ_API size_t
lmq_map_count(const lmq_map *m)
{
    return m ? m->n : 0;
}

LMQ_API int
lmq_map_at(const lmq_map *m, size_t i, const char **key, const char **value)
{
    if (m == NULL || i >= m->n)
        return lmq__seterr(LMQ_EINVAL, "map index %zu out of range", i);
    if (key)
        *key = m->ents[i].key;
    if (value)
        *value = m->ents[i].value;
    return 0;
}

int
lmq__map_dup(const lmq_map *m, lmq_map **out)
{
    *out = NULL;
    lmq_map *d = lmq_map_new();
    if (d == NULL)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    if (m && m->n) {
        d->ents = calloc(m->n, sizeof *d->ents);
        if (d->ents == NULL) {
            free(d);
            return lmq__seterr(LMQ_ENOMEM, NULL);
        }
        d->cap = m->n;
        /* Already sorted: copy in order without searching. */
        for (size_t i = 0; i < m->n; i++) {
            d->ents[i].key = strdup(m->ents[i].key);
            d->ents[i].value = strdup(m->ents[i].value);
            d->n = i + 1;
            if (d->ents[i].key == NULL || d->ents[i].value == NULL) {
                lmq_map_free(d);
                return lmq__seterr(LMQ_ENOMEM, NULL);
            }
        }
    }
    *out = d;
    return 0;
}

int
lmq__map_encode(const lmq_map *m, uint8_t **buf, size_t *len)
{
    size_t n = lmq_map_count(m), total = 4, pos = 0;

    *buf = NULL;
    *len = 0;
    if (n > UINT32_MAX)
        return lmq__seterr(LMQ_EINVAL, "map too large to encode");
    for (size_t i = 0; i < n; i++)
        if (!add_blob_size(&total, strlen(m->ents[i].key)) ||
            !add_blob_size(&total, strlen(m->ents[i].value)))
            return lmq__seterr(LMQ_EINVAL, "map too large to encode");
    uint8_t *b = malloc(total);
    if (b == NULL)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    put32(b, (uint32_t)n);
    pos = 4;
    for (size_t i = 0; i < n; i++) {
        put_blob(b, &pos, m->ents[i].key, strlen(m->ents[i].key));
        put_blob(b, &pos, m->ents[i].value, strlen(m->ents[i].value));
    }
    *buf = b;
    *len = total;
    return 0;
}

int
lmq__map_decode(const uint8_t *buf, size_t len, lmq_map **out)
{
    struct rd r = {buf, len};
    uint32_t n;

    *out = NULL;
    if (buf == NULL || !rd_u32(&r, &n))
        return lmq__seterr(LMQ_ECORRUPT, "map record truncated");
    /* Each entry takes at least 8 bytes, which bounds the allocation by the
     * input size whatever count a corrupt record claims. */
    if (n > r.left / 8)
        return lmq__seterr(LMQ_ECORRUPT, "map record count %u too large",
                           n);
    lmq_map *m = lmq_map_new();
    if (m == NULL)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    if (n) {
        m->ents = calloc(n, sizeof *m->ents);
        if (m->ents == NULL) {
            free(m);
            return lmq__seterr(LMQ_ENOMEM, NULL);
        }
        m->cap = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k, *v;
        size_t kl, vl;
        if (!rd_blob(&r, &k, &kl, true) || !rd_blob(&r, &v, &vl, true))
            goto corrupt;
        char *ks = memdup0(k, kl), *vs = memdup0(v, vl);
        if (ks == NULL || vs == NULL) {
            free(ks);
            free(vs);
            lmq_map_free(m);
            return lmq__seterr(LMQ_ENOMEM, NULL);
        }
        m->ents[i].key = ks;
        m->ents[i].value = vs;
        m->n = i + 1;
        if (i > 0 && strcmp(m->ents[i - 1].key, ks) >= 0)
            goto corrupt;
    }
    if (r.left != 0)
        goto corrupt;
    *out = m;
    return 0;

corrupt:
    lmq_map_free(m);
    return lmq__seterr(LMQ_ECORRUPT, "map record is malformed");
}

/* ---- lmq_mattrs ---------------------------------------------------------- */

static bool
mattrs_find(const lmq_mattrs *a, const char *name, size_t *pos)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, a->ents[mid].name);
        if (c == 0) {
            *pos = mid;
            return true;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *pos = lo;
    return false;
}

static void
mattr_clear(struct mattr *e)
{
    free(e->name);
    free(e->type);
    free(e->value);
}

LMQ_API lmq_mattrs *
lmq_mattrs_new(void)
{
    return calloc(1, sizeof(lmq_mattrs));
}

LMQ_API void
lmq_mattrs_free(lmq_mattrs *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++)
        mattr_clear(&a->ents[i]);
    free(a->ents);
    free(a);
}

/* Insert or replace e (whose buffers it takes over on success). */
static int
mattrs_put_owned(lmq_mattrs *a, struct mattr *e)
{
    size_t pos;
    if (mattrs_find(a, e->name, &pos)) {
        mattr_clear(&a->ents[pos]);
        a->ents[pos] = *e;
        return 0;
    }
    if (!grow((void **)&a->ents, &a->cap, a->n, sizeof *a->ents))
        return lmq__seterr(LMQ_ENOMEM, NULL);
    memmove(&a->ents[pos + 1], &a->ents[pos],
            (a->n - pos) * sizeof *a->ents);
    a->ents[pos] = *e;
    a->n++;
    return 0;
}

/* Build an owned copy of one attribute; false when out of memory. */
static bool
mattr_make(struct mattr *e, const char *name, size_t nlen, const char *type,
           size_t tlen, const void *value, size_t len)
{
    e->name = memdup0(name, nlen);
    e->type = memdup0(type, tlen);
    e->value = memdup0(value, len);
    e->len = len;
    if (e->name && e->type && e->value)
        return true;
    mattr_clear(e);
    return false;
}

LMQ_API int
lmq_mattrs_add(lmq_mattrs *a, const char *name, const char *type,
               const void *value, size_t len)
{
    struct mattr e;

    /* A NULL value is accepted only with len 0: the empty value is then
     * rejected at send time with SQS's own message, not here. */
    if (a == NULL || name == NULL || type == NULL ||
        (value == NULL && len != 0))
        return lmq__seterr(LMQ_EINVAL, "lmq_mattrs_add: NULL argument");
    if (!mattr_make(&e, name, strlen(name), type, strlen(type), value, len))
        return lmq__seterr(LMQ_ENOMEM, NULL);
    int rc = mattrs_put_owned(a, &e);
    if (rc != 0)
        mattr_clear(&e);
    return rc;
}

LMQ_API size_t
lmq_mattrs_count(const lmq_mattrs *a)
{
    return a ? a->n : 0;
}

LMQ_API int
lmq_mattrs_at(const lmq_mattrs *a, size_t i, const char **name,
              const char **type, const void **value, size_t *len)
{
    if (a == NULL || i >= a->n)
        return lmq__seterr(LMQ_EINVAL, "attribute index %zu out of range",
                           i);
    if (name)
        *name = a->ents[i].name;
    if (type)
        *type = a->ents[i].type;
    if (value)
        *value = a->ents[i].value;
    if (len)
        *len = a->ents[i].len;
    return 0;
}

/* The SQS transport type byte of a DataType: Binary and its custom forms
 * ("Binary.png") are 2, everything else (String, Number and theirs) is 1. */
static uint8_t
transport_type(const char *type)
{
    if (strncmp(type, "Binary", 6) == 0 &&
        (type[6] == '\0' || type[6] == '.'))
        return 2;
    return 1;
}

LMQ_API int
lmq_mattrs_md5(const lmq_mattrs *a, char out[33])
{
    size_t total = 0, pos = 0;

    if (out)
        out[0] = '\0';
    if (a == NULL || a->n == 0 || out == NULL)
        return lmq__seterr(LMQ_EINVAL,
                           "no message attributes to digest");
    /* Entries are already in name byte order, which is the order the SQS
     * algorithm sorts by (section 3.4 of SQS-SEMANTICS.md). */
    for (size_t i = 0; i < a->n; i++) {
        const struct mattr *e = &a->ents[i];
        if (!add_blob_size(&total, strlen(e->name)) ||
            !add_blob_size(&total, strlen(e->type)) ||
            !add_blob_size(&total, e->len) || total == SIZE_MAX)
            return lmq__seterr(LMQ_EINVAL, "message attributes too large");
        total += 1; /* transport type */
    }
    uint8_t *b = malloc(total);
    if (b == NULL)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    for (size_t i = 0; i < a->n; i++) {
        const struct mattr *e = &a->ents[i];
        put_blob(b, &pos, e->name, strlen(e->name));
        put_blob(b, &pos, e->type, strlen(e->type));
        b[pos++] = transport_type(e->type);
        put_blob(b, &pos, e->value, e->len);
    }
    lmq__md5_hex(b, total, out);
    free(b);
    if (out[0] == '\0')
        return lmq__seterr(LMQ_ENOMEM, "MD5 digest failed");
    return 0;
}

int
lmq__mattrs_encode(const lmq_mattrs *a, uint8_t **buf, size_t *len)
{
    size_t n = lmq_mattrs_count(a), total = 4, pos;

    *buf = NULL;
    *len = 0;
    if (n > UINT32_MAX)
        return lmq__seterr(LMQ_EINVAL, "attributes too large to encode");
    for (size_t i = 0; i < n; i++) {
        const struct mattr *e = &a->ents[i];
        if (!add_blob_size(&total, strlen(e->name)) ||
            !add_blob_size(&total, strlen(e->type)) ||
            !add_blob_size(&total, e->len))
            return lmq__seterr(LMQ_EINVAL,
                               "attributes too large to encode");
    }
    uint8_t *b = malloc(total);
    if (b == NULL)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    put32(b, (uint32_t)n);
    pos = 4;
    for (size_t i = 0; i < n; i++) {
        const struct mattr *e = &a->ents[i];
        put_blob(b, &pos, e->name, strlen(e->name));
        put_blob(b, &pos, e->type, strlen(e->type));
        put_blob(b, &pos, e->value, e->len);
    }
    *buf = b;
    *len = total;
    return 0;
}

int
lmq__mattrs_decode(const uint8_t *buf, size_t len, lmq_mattrs **out)
{
    struct rd r = {buf, len};
    uint32_t n;

    *out = NULL;
    if (buf == NULL || !rd_u32(&r, &n))
        return lmq__seterr(LMQ_ECORRUPT, "attribute record truncated");
    /* Each entry takes at least 12 bytes: bounds the allocation. */
    if (n > r.left / 12)
        return lmq__seterr(LMQ_ECORRUPT,
                           "attribute record count %u too large", n);
    lmq_mattrs *a = lmq_mattrs_new();
    if (a == NULL)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    if (n) {
        a->ents = calloc(n, sizeof *a->ents);
        if (a->ents == NULL) {
            free(a);
            return lmq__seterr(LMQ_ENOMEM, NULL);
        }
        a->cap = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *nm, *ty, *v;
        size_t nl, tl, vl;
        if (!rd_blob(&r, &nm, &nl, true) || !rd_blob(&r, &ty, &tl, true) ||
            !rd_blob(&r, &v, &vl, false))
            goto corrupt;
        if (!mattr_make(&a->ents[i], (const char *)nm, nl,
                        (const char *)ty, tl, v, vl)) {
            lmq_mattrs_free(a);
            return lmq__seterr(LMQ_ENOMEM, NULL);
        }
        a->n = i + 1;
        if (i > 0 && strcmp(a->ents[i - 1].name, a->ents[i].name) >= 0)
            goto corrupt;
    }
    if (r.left != 0)
        goto corrupt;
    *out = a;
    return 0;

corrupt:
    lmq_mattrs_free(a);
    return lmq__seterr(LMQ_ECORRUPT, "attribute record is malformed");
}

/* Whether an attribute name is selected by one MessageAttributeNames entry:
 * "All", ".*" and "*" select everything, "Prefix.*" every name starting with
 * Prefix, anything else exactly that name (section 3.6). */
static bool
filter_match(const char *pat, const char *name)
{
    if (strcmp(pat, "All") == 0 || strcmp(pat, ".*") == 0 ||
        strcmp(pat, "*") == 0)
        return true;
    size_t pl = strlen(pat);
    if (pl > 2 && pat[pl - 2] == '.' && pat[pl - 1] == '*')
        return strncmp(name, pat, pl - 2) == 0;
    return strcmp(pat, name) == 0;
}

int
lmq__mattrs_filter(const lmq_mattrs *a, const char *const *names,
                   lmq_mattrs **out)
{
    lmq_mattrs *f = NULL;

    *out = NULL;
    if (names == NULL || a == NULL || a->n == 0)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const struct mattr *e = &a->ents[i];
        bool hit = false;
        for (size_t j = 0; names[j] != NULL && !hit; j++)
            hit = filter_match(names[j], e->name);
        if (!hit)
            continue;
        if (f == NULL && (f = lmq_mattrs_new()) == NULL)
            return lmq__seterr(LMQ_ENOMEM, NULL);
        /* Source order is name order, so each copy appends at the end. */
        int rc = lmq_mattrs_add(f, e->name, e->type, e->value, e->len);
        if (rc != 0) {
            lmq_mattrs_free(f);
            return rc;
        }
    }
    *out = f;
    return 0;
}
