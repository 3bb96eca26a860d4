/*
 * sqs_query.c: the Query codec (form-encoded requests, XML responses).
 *
 * Decoding: the parameters of the URL's query string and of a
 * form-encoded body are merged into one sorted list of (name, value)
 * pairs. The form decoder is strict: a '%' not followed by two hex digits
 * is MalformedQueryString, as is a name that appears twice (SQS would
 * otherwise have to pick one), and a value that is not UTF-8 after
 * decoding (jansson's json_stringn() is the UTF-8 check). Then the action's
 * input shape is walked and the flattened names are looked up
 * ("Attribute.1.Name", "SendMessageBatchRequestEntry.2.MessageAttribute.1.
 * Value.DataType"), building the same tree a JSON request carries.
 * Parameters no shape names are ignored, as SQS ignores them (X-Amz-*,
 * Version, ...). Indexes start at 1 and end at the first one missing.
 *
 * The form decoder is hand-written because no dependency offers a strict
 * one: libmicrohttpd's and libcurl's unescapers accept bad escapes
 * silently, and SQS answers those with MalformedQueryString.
 *
 * Encoding: <Action>Response / <Action>Result / ResponseMetadata, with
 * lists and maps flattened (repeated elements) under their Query names, and
 * text escaped for XML; CR is written as &#xD; so that it survives XML's
 * line-end normalisation (SQS-SEMANTICS §10.2).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqs_int.h"

typedef struct pair {
    char *name;
    char *value;
    size_t vlen;
} pair;

typedef struct form {
    pair *p;
    size_t n, cap;
} form;

static void
form_free(form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->p[i].name);
        free(f->p[i].value);
    }
    free(f->p);
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..len) ('+' is a space) into a new string. NULL with
 * *bad = 1 for a bad escape, NULL with *bad = 0 when out of memory. */
static char *
unescape(const char *s, size_t len, size_t *outlen, int *bad)
{
    char *o = malloc(len + 1);
    size_t k = 0;
    *bad = 0;
    if (!o)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            o[k++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 1 < len ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(o);
                *bad = 1;
                return NULL;
            }
            o[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            o[k++] = s[i];
        }
    }
    o[k] = '\0';
    *outlen = k;
    return o;
}

/* Add the pairs of one form-encoded string. 0, or -1 with r's error set. */
static int
form_add(sqs_req *r, form *f, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(s + i, '=', j - i);
            size_t nl = eq ? (size_t)(eq - (s + i)) : j - i;
            const char *v = eq ? eq + 1 : s + j;
            size_t vl = eq ? (size_t)(s + j - v) : 0;
            size_t dnl, dvl;
            int bad;
            char *name = unescape(s + i, nl, &dnl, &bad);
            char *val = name ? unescape(v, vl, &dvl, &bad) : NULL;
            /* A name with an encoded NUL cannot be looked up: malformed. */
            int nul = name && strlen(name) != dnl;
            if (!name || !val || nul) {
                free(name);
                free(val);
                if (bad || nul)
                    return lmq__sqs_req_fail(
                        r, "MalformedQueryString",
                        "The query string is malformed near '%.*s'",
                        (int)(nl > 64 ? 64 : nl), s + i);
                return lmq__sqs_req_fail(r, "InternalFailure",
                                         "out of memory");
            }
            if (f->n == f->cap) {
                size_t nc = f->cap ? f->cap * 2 : 16;
                pair *np = realloc(f->p, nc * sizeof *np);
                if (!np) {
                    free(name);
                    free(val);
                    return lmq__sqs_req_fail(r, "InternalFailure",
                                             "out of memory");
                }
                f->p = np;
                f->cap = nc;
            }
            f->p[f->n++] = (pair){name, val, dvl};
        }
        i = j + 1;
    }
    return 0;
}

static int
pair_cmp(const void *a, const void *b)
{
    return strcmp(((const pair *)a)->name, ((const pair *)b)->name);
}

static const pair *
find(const form *f, const char *name)
{
    pair key = {(char *)name, NULL, 0};
    if (f->n == 0)
        return NULL;
    return bsearch(&key, f->p, f->n, sizeof *f->p, pair_cmp);
}

/* Whether any parameter name starts with prefix. */
static int
has_prefix(const form *f, const char *prefix)
{
    size_t lo = 0, hi = f->n, pl = strlen(prefix);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(f->p[mid].name, prefix) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->n && strncmp(f->p[lo].name, prefix, pl) == 0;
}

static json_t *build(sqs_req *r, const form *f, const sqs_shape *sh,
                     const char *key, int *err);

/* A scalar parameter as a tree value. NULL with *err set on bad input. */
static json_t *
scalar(sqs_req *r, const sqs_shape *sh, const pair *p, int *err)
{
    json_t *v = NULL;
    switch (sh->type) {
    case ST_STRING:
    case ST_BLOB: {
        /* NUL only where the library checks the bytes (sqs_json.c). */
        size_t nl = strlen(p->name);
        int bytes = (nl >= 11 && strcmp(p->name + nl - 11, "MessageBody") == 0) ||
                    (nl >= 11 && strcmp(p->name + nl - 11, "StringValue") == 0);
        if (!bytes && memchr(p->value, 0, p->vlen)) {
            lmq__sqs_req_fail(r, "InvalidParameterValue",
                              "Value for %s must not contain NUL", p->name);
            *err = 1;
            return NULL;
        }
        v = json_stringn(p->value, p->vlen);
        if (!v) {
            lmq__sqs_req_fail(r, "MalformedQueryString",
                              "The value of %s is not valid UTF-8", p->name);
            *err = 1;
        }
        return v;
    }
    case ST_INT:
    case ST_LONG: {
        char *end;
        errno = 0;
        long long x = strtoll(p->value, &end, 10);
        if (p->vlen == 0 || *end || errno ||
            (sh->type == ST_INT && (x < INT_MIN || x > INT_MAX))) {
            lmq__sqs_req_fail(r, "InvalidParameterValue",
                              "Value %.64s for parameter %s is invalid. "
                              "Reason: must be an integer.",
                              p->value, p->name);
            *err = 1;
            return NULL;
        }
        return json_integer(x);
    }
    case ST_BOOL:
        if (strcmp(p->value, "true") == 0)
            return json_true();
        if (strcmp(p->value, "false") == 0)
            return json_false();
        lmq__sqs_req_fail(r, "InvalidParameterValue",
                          "Value %.64s for parameter %s is invalid. Reason: "
                          "must be true or false.",
                          p->value, p->name);
        *err = 1;
        return NULL;
    default:
        return NULL;
    }
}

static int
is_scalar(const sqs_shape *sh)
{
    return sh->type != ST_LIST && sh->type != ST_MAP &&
           sh->type != ST_STRUCT;
}

/* The value of shape sh named key (a struct's members are key.Member). */
static json_t *
build(sqs_req *r, const form *f, const sqs_shape *sh, const char *key,
      int *err)
{
    char k[512], k2[520];
    if (is_scalar(sh)) {
        const pair *p = find(f, key);
        return p ? scalar(r, sh, p, err) : NULL;
    }
    if (sh->type == ST_STRUCT) {
        json_t *o = json_object();
        for (const sqs_member *m = sh->members; m->name && !*err; m++) {
            snprintf(k, sizeof k, "%s%s%s", key, *key ? "." : "",
                     m->qname ? m->qname : m->name);
            json_t *v = build(r, f, m->shape, k, err);
            if (v)
                json_object_set_new(o, m->name, v);
        }
        if (*err || json_object_size(o) == 0) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    if (sh->type == ST_LIST) {
        json_t *a = json_array();
        for (int i = 1; !*err; i++) {
            snprintf(k, sizeof k, "%s.%d", key, i);
            snprintf(k2, sizeof k2, "%s.", k);
            if (!find(f, k) && !has_prefix(f, k2))
                break;
            json_t *v = build(r, f, sh->elem, k, err);
            if (v)
                json_array_append_new(a, v);
        }
        if (*err || json_array_size(a) == 0) {
            json_decref(a);
            return NULL;
        }
        return a;
    }
    /* ST_MAP */
    json_t *o = json_object();
    for (int i = 1; !*err; i++) {
        snprintf(k2, sizeof k2, "%s.%d.", key, i);
        if (!has_prefix(f, k2))
            break;
        snprintf(k, sizeof k, "%s.%d.%s", key, i, sh->kname);
        const pair *name = find(f, k);
        if (!name) {
            lmq__sqs_req_fail(r, "MissingParameter",
                              "The request must contain the parameter %s",
                              k);
            *err = 1;
            break;
        }
        /* The key must be a whole UTF-8 string, or jansson refuses it and
         * the entry would vanish. */
        json_t *kv = strlen(name->value) == name->vlen
                         ? json_stringn(name->value, name->vlen)
                         : NULL;
        if (!kv) {
            lmq__sqs_req_fail(r, "MalformedQueryString",
                              "The value of %s is not valid UTF-8 or has a "
                              "NUL",
                              name->name);
            *err = 1;
            break;
        }
        json_decref(kv);
        snprintf(k, sizeof k, "%s.%d.%s", key, i, sh->vname);
        json_t *v = build(r, f, sh->elem, k, err);
        if (*err)
            break;
        if (!v && is_scalar(sh->elem))
            v = json_string("");
        if (!v)
            v = json_object();
        if (json_object_get(o, name->value)) {
            json_decref(v);
            lmq__sqs_req_fail(r, "InvalidParameterValue",
                              "%s.%d.%s %s is given more than once", key, i,
                              sh->kname, name->value);
            *err = 1;
            break;
        }
        json_object_set_new(o, name->value, v);
    }
    if (*err || json_object_size(o) == 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int
lmq__sqs_query_decode(sqs_req *r, const sqs_http *h)
{
    form f = {0};
    int rc = 0;
    if (h->query && form_add(r, &f, h->query, strlen(h->query)))
        goto fail;
    if (h->body_len > 0 && form_add(r, &f, h->body, h->body_len))
        goto fail;
    if (f.n > 1) /* f.p is NULL for an empty form: no qsort(NULL, ...) */
        qsort(f.p, f.n, sizeof *f.p, pair_cmp);
    for (size_t i = 1; i < f.n; i++)
        if (strcmp(f.p[i - 1].name, f.p[i].name) == 0) {
            lmq__sqs_req_fail(r, "MalformedQueryString",
                              "Parameter %.128s is given more than once",
                              f.p[i].name);
            goto fail;
        }
    const pair *act = find(&f, "Action");
    if (!act || act->vlen == 0) {
        lmq__sqs_req_fail(r, "MissingAction",
                          "The request must contain the parameter Action");
        goto fail;
    }
    snprintf(r->action_name, sizeof r->action_name, "%s", act->value);
    r->action = lmq__sqs_action_find(act->value, act->vlen);
    if (!r->action) {
        lmq__sqs_req_fail(r, "InvalidAction",
                          "The action %.64s is not valid for this endpoint.",
                          act->value);
        goto fail;
    }
    const pair *ver = find(&f, "Version");
    if (ver && strcmp(ver->value, SQS_API_VERSION) != 0) {
        lmq__sqs_req_fail(r, "InvalidParameterValue",
                          "Version %.32s is not supported; use " SQS_API_VERSION,
                          ver->value);
        goto fail;
    }
    int err = 0;
    r->in = build(r, &f, r->action->in, "", &err);
    if (err)
        goto fail;
    if (!r->in)
        r->in = json_object();
    form_free(&f);
    return 0;
fail:
    rc = -1;
    form_free(&f);
    return rc;
}

/* ---- XML ---------------------------------------------------------------- */

typedef struct buf {
    char *s;
    size_t n, cap;
    int oom;
} buf;

static void
put(buf *b, const char *s, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        while (nc < b->n + len + 1)
            nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->n, s, len);
    b->n += len;
    b->s[b->n] = '\0';
}

static void
puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void
put_text(buf *b, const char *s, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        case '\r':
            rep = "&#xD;";
            break;
        default:
            continue;
        }
        put(b, s + run, i - run);
        puts_(b, rep);
        run = i + 1;
    }
    put(b, s + run, len - run);
}

static void
open_tag(buf *b, const char *name)
{
    puts_(b, "<");
    puts_(b, name);
    puts_(b, ">");
}

static void
close_tag(buf *b, const char *name)
{
    puts_(b, "</");
    puts_(b, name);
    puts_(b, ">");
}

static void xml_value(buf *b, const sqs_shape *sh, json_t *v,
                      const char *name);

static void
xml_scalar(buf *b, json_t *v)
{
    char num[32];
    if (json_is_string(v))
        put_text(b, json_string_value(v), json_string_length(v));
    else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        puts_(b, num);
    } else if (json_is_boolean(v))
        puts_(b, json_is_true(v) ? "true" : "false");
}

static void
xml_members(buf *b, const sqs_shape *sh, json_t *o)
{
    for (const sqs_member *m = sh->members; m->name; m++) {
        json_t *v = json_object_get(o, m->name);
        if (v)
            xml_value(b, m->shape, v, m->qname ? m->qname : m->name);
    }
}

/* Element(s) for value v of shape sh named name; lists and maps are
 * flattened (the element repeats). */
static void
xml_value(buf *b, const sqs_shape *sh, json_t *v, const char *name)
{
    size_t i;
    json_t *e;
    const char *k;
    switch (sh->type) {
    case ST_LIST:
        json_array_foreach(v, i, e) xml_value(b, sh->elem, e, name);
        break;
    case ST_MAP:
        json_object_foreach(v, k, e)
        {
            open_tag(b, name);
            open_tag(b, sh->kname);
            put_text(b, k, strlen(k));
            close_tag(b, sh->kname);
            xml_value(b, sh->elem, e, sh->vname);
            close_tag(b, name);
        }
        break;
    case ST_STRUCT:
        open_tag(b, name);
        xml_members(b, sh, v);
        close_tag(b, name);
        break;
    default:
        open_tag(b, name);
        xml_scalar(b, v);
        close_tag(b, name);
    }
}

static void
finish(buf *b, sqs_resp *resp, int status)
{
    if (b->oom) {
        free(b->s);
        b->s = NULL;
        b->n = 0;
        status = 500;
    }
    resp->status = status;
    resp->content_type = "text/xml";
    resp->body = b->s;
    resp->len = b->n;
}

void
lmq__sqs_xml_encode(sqs_req *r, json_t *out, sqs_resp *resp)
{
    buf b = {0};
    const char *act = r->action->name;
    puts_(&b, "<?xml version=\"1.0\"?>\n<");
    puts_(&b, act);
    puts_(&b, "Response xmlns=\"" SQS_XMLNS "\">");
    if (r->action->out) {
        puts_(&b, "<");
        puts_(&b, act);
        puts_(&b, "Result>");
        if (out)
            xml_members(&b, r->action->out, out);
        puts_(&b, "</");
        puts_(&b, act);
        puts_(&b, "Result>");
    }
    puts_(&b, "<ResponseMetadata><RequestId>");
    puts_(&b, r->id);
    puts_(&b, "</RequestId></ResponseMetadata></");
    puts_(&b, act);
    puts_(&b, "Response>\n");
    finish(&b, resp, 200);
}

void
lmq__sqs_xml_error(const char *rid, const sqs_error *e, const char *message,
                   sqs_resp *resp)
{
    buf b = {0};
    const char *code = e->code ? e->code : e->shape;
    puts_(&b, "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"" SQS_XMLNS
              "\"><Error><Type>");
    puts_(&b, e->receiver ? "Receiver" : "Sender");
    puts_(&b, "</Type><Code>");
    put_text(&b, code, strlen(code));
    puts_(&b, "</Code><Message>");
    if (message)
        put_text(&b, message, strlen(message));
    puts_(&b, "</Message><Detail/></Error><RequestId>");
    puts_(&b, rid);
    puts_(&b, "</RequestId></ErrorResponse>\n");
    finish(&b, resp, e->status);
    snprintf(resp->code, sizeof resp->code, "%s", code);
}
