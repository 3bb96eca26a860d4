/*
 * lmq_query.c: the AWS CLI's --query, a JMESPath subset.
 *
 * Supported (jmespath.org/specification): identifiers (bare and "quoted"),
 * sub-expressions (a.b), indexes (a[0], a[-1]), list projections (a[*].b),
 * object projections (a.*.b), flattening (a[].b), pipes (a | b),
 * multi-select lists ([a, b]) and hashes ({x: a, y: b}), the current node
 * (@), `json` literals and 'raw' strings. Everything else (filters
 * [?...], comparisons, ||, &&, !, functions, slices) is refused when the
 * expression is compiled, with an error that names it, rather than
 * evaluated wrongly.
 *
 * The parser is a Pratt parser with JMESPath's binding powers, so
 * projections extend to the right until a token that binds less than a
 * projection (a pipe, a closing bracket, the end) and nest as the spec
 * says: a[*].b[*].c is a list of lists. Evaluation follows the spec: a field
 * of a non-object, an index of a non-list and a projection of the wrong
 * type are null, and a projection drops the nulls its right-hand side
 * yields.
 */
#include "lmq_cli.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tokens --------------------------------------------------------------- */

enum tok {
    T_EOF,
    T_ID,      /* bare or quoted identifier: s */
    T_NUMBER,  /* n */
    T_LITERAL, /* `json` or 'raw': lit */
    T_DOT,
    T_STAR,
    T_LBRACKET,
    T_RBRACKET,
    T_FLATTEN, /* [] */
    T_LBRACE,
    T_RBRACE,
    T_COMMA,
    T_COLON,
    T_PIPE,
    T_CURRENT, /* @ */
};

typedef struct token {
    enum tok t;
    char *s;
    long n;
    json_t *lit;
} token;

/* How tightly each token binds to its left (JMESPath's table). */
static int
bp(enum tok t)
{
    switch (t) {
    case T_PIPE:
        return 1;
    case T_FLATTEN:
        return 9;
    case T_STAR:
        return 20;
    case T_DOT:
        return 40;
    case T_LBRACE:
        return 50;
    case T_LBRACKET:
        return 55;
    default:
        return 0;
    }
}

/* Tokens that project (the right-hand side of a projection stops at any
 * token binding less than this). */
#define PROJECTION_STOP 10

/* ---- syntax tree ------------------------------------------------------------ */

enum node_kind {
    N_CURRENT,
    N_FIELD,      /* s */
    N_INDEX,      /* n, applied to the current node */
    N_LITERAL,    /* lit */
    N_SUB,        /* a then b */
    N_PIPE,       /* a then b (stops projections) */
    N_PROJECT,    /* list projection: a, then b on each element */
    N_VPROJECT,   /* object projection: a, then b on each value */
    N_FLATTEN,    /* a, one level of lists merged */
    N_MULTI_LIST, /* kids */
    N_MULTI_HASH, /* kids, keys */
};

struct node {
    enum node_kind k;
    char *s;
    long n;
    json_t *lit;
    struct node *a, *b;
    struct node **kids;
    char **keys;
    size_t nkids;
};

typedef struct node node;

struct cli_query {
    node *root;
};

typedef struct parser {
    token *toks;
    size_t n, pos;
    char *err;
    size_t errlen;
    bool failed;
} parser;

static void
node_free(node *x)
{
    if (!x)
        return;
    node_free(x->a);
    node_free(x->b);
    for (size_t i = 0; i < x->nkids; i++) {
        node_free(x->kids[i]);
        if (x->keys)
            free(x->keys[i]);
    }
    free(x->kids);
    free(x->keys);
    free(x->s);
    json_decref(x->lit);
    free(x);
}

static node *
mk(parser *p, enum node_kind k, node *a, node *b)
{
    node *x = calloc(1, sizeof *x);
    if (!x) {
        node_free(a);
        node_free(b);
        p->failed = true;
        snprintf(p->err, p->errlen, "out of memory");
        return NULL;
    }
    x->k = k;
    x->a = a;
    x->b = b;
    return x;
}

static void
fail(parser *p, const char *fmt, const char *what)
{
    if (!p->failed)
        snprintf(p->err, p->errlen, fmt, what);
    p->failed = true;
}

/* ---- lexer ------------------------------------------------------------------ */

static bool
push(parser *p, token t)
{
    token *n = realloc(p->toks, (p->n + 1) * sizeof *n);
    if (!n) {
        free(t.s);
        json_decref(t.lit);
        fail(p, "%s", "out of memory");
        return false;
    }
    p->toks = n;
    p->toks[p->n++] = t;
    return true;
}

/* The text between quote characters q starting at *sp (just past the
 * opening one), with backslash-q unescaped for ` and ' (a JSON-quoted
 * identifier keeps its escapes for jansson). */
static char *
quoted(parser *p, const char **sp, char q, bool keep_escapes)
{
    const char *s = *sp;
    size_t cap = strlen(s) + 1, n = 0;
    char *out = malloc(cap);
    if (!out) {
        fail(p, "%s", "out of memory");
        return NULL;
    }
    for (; *s && *s != q; s++) {
        if (*s == '\\' && s[1] && (keep_escapes || s[1] == q)) {
            if (keep_escapes)
                out[n++] = *s;
            s++;
        }
        out[n++] = *s;
    }
    out[n] = '\0';
    if (*s != q) {
        free(out);
        fail(p, "unterminated %s", q == '"' ? "quoted identifier"
                                  : q == '\'' ? "raw string"
                                              : "literal");
        return NULL;
    }
    *sp = s + 1;
    return out;
}

static bool
lex(parser *p, const char *s)
{
    while (!p->failed) {
        token t = {T_EOF, NULL, 0, NULL};
        while (isspace((unsigned char)*s))
            s++;
        char c = *s;
        if (c == '\0')
            return push(p, t);
        if (isalpha((unsigned char)c) || c == '_') {
            const char *e = s;
            while (isalnum((unsigned char)*e) || *e == '_')
                e++;
            t.t = T_ID;
            if (!(t.s = strndup(s, (size_t)(e - s)))) {
                fail(p, "%s", "out of memory");
                return false;
            }
            s = e;
        } else if (isdigit((unsigned char)c) ||
                   (c == '-' && isdigit((unsigned char)s[1]))) {
            char *e;
            t.t = T_NUMBER;
            t.n = strtol(s, &e, 10);
            s = e;
        } else if (c == '"') {
            s++;
            char *body = quoted(p, &s, '"', true);
            if (!body)
                return false;
            size_t len = strlen(body);
            char *json = malloc(len + 3);
            json_t *v = NULL;
            if (json) {
                json[0] = '"';
                memcpy(json + 1, body, len);
                json[len + 1] = '"';
                json[len + 2] = '\0';
                v = json_loads(json, JSON_DECODE_ANY, NULL);
            }
            free(json);
            free(body);
            if (!json_is_string(v)) {
                json_decref(v);
                fail(p, "%s", "bad quoted identifier");
                return false;
            }
            t.t = T_ID;
            t.s = strdup(json_string_value(v));
            json_decref(v);
            if (!t.s) {
                fail(p, "%s", "out of memory");
                return false;
            }
        } else if (c == '\'' || c == '`') {
            s++;
            char *body = quoted(p, &s, c, false);
            if (!body)
                return false;
            t.t = T_LITERAL;
            t.lit = c == '\'' ? json_string(body)
                              : json_loads(body, JSON_DECODE_ANY, NULL);
            free(body);
            if (!t.lit) {
                fail(p, "%s", c == '`' ? "bad JSON in a `literal`"
                                       : "raw string is not UTF-8");
                return false;
            }
        } else {
            static const struct {
                const char *text;
                enum tok t;
            } punct[] = {{"[]", T_FLATTEN}, {".", T_DOT},     {"*", T_STAR},
                         {"[", T_LBRACKET}, {"]", T_RBRACKET}, {"{", T_LBRACE},
                         {"}", T_RBRACE},   {",", T_COMMA},    {":", T_COLON},
                         {"@", T_CURRENT}};
            static const char *const refused[] = {
                "[?", "||", "&&", "==", "!=", "<=", ">=", "<", ">", "!",
                "(",  "&",  NULL};
            for (size_t i = 0; refused[i]; i++)
                if (strncmp(s, refused[i], strlen(refused[i])) == 0) {
                    fail(p,
                         "'%s' is not supported (lmq's --query has "
                         "fields, indexes, projections, flattening, pipes "
                         "and multi-selects; no filters, comparisons or "
                         "functions)",
                         refused[i]);
                    return false;
                }
            if (c == '|') {
                t.t = T_PIPE;
                s++;
            } else {
                size_t i, np = sizeof punct / sizeof punct[0];
                for (i = 0; i < np; i++)
                    if (strncmp(s, punct[i].text, strlen(punct[i].text)) == 0)
                        break;
                if (i == np) {
                    char what[2] = {c, '\0'};
                    fail(p, "unexpected character '%s'", what);
                    return false;
                }
                t.t = punct[i].t;
                s += strlen(punct[i].text);
            }
        }
        if (!push(p, t))
            return false;
    }
    return false;
}

/* ---- parser ------------------------------------------------------------------ */

static token *
peek(parser *p, size_t ahead)
{
    size_t i = p->pos + ahead;
    return &p->toks[i < p->n ? i : p->n - 1];
}

static token *
next(parser *p)
{
    token *t = peek(p, 0);
    if (p->pos < p->n - 1)
        p->pos++;
    return t;
}

static bool
expect(parser *p, enum tok t, const char *what)
{
    if (peek(p, 0)->t != t) {
        fail(p, "expected %s", what);
        return false;
    }
    next(p);
    return true;
}

static node *parse(parser *p, int rbp);

static node *
parse_index(parser *p)
{
    token *t = next(p); /* the number */
    if (peek(p, 0)->t == T_COLON) {
        fail(p, "%s", "slices ([a:b]) are not supported");
        return NULL;
    }
    if (!expect(p, T_RBRACKET, "']' after an index"))
        return NULL;
    node *x = mk(p, N_INDEX, NULL, NULL);
    if (x)
        x->n = t->n;
    return x;
}

static node *
parse_multi_list(parser *p)
{
    node *x = mk(p, N_MULTI_LIST, NULL, NULL);
    while (x && !p->failed) {
        node **k = realloc(x->kids, (x->nkids + 1) * sizeof *k);
        if (!k) {
            fail(p, "%s", "out of memory");
            break;
        }
        x->kids = k;
        x->kids[x->nkids] = parse(p, 0);
        if (!x->kids[x->nkids])
            break;
        x->nkids++;
        if (peek(p, 0)->t == T_RBRACKET) {
            next(p);
            return x;
        }
        if (!expect(p, T_COMMA, "',' or ']' in a multi-select list"))
            break;
    }
    node_free(x);
    return NULL;
}

static node *
parse_multi_hash(parser *p)
{
    node *x = mk(p, N_MULTI_HASH, NULL, NULL);
    while (x && !p->failed) {
        token *key = peek(p, 0);
        if (key->t != T_ID) {
            fail(p, "%s", "expected a key in a multi-select hash");
            break;
        }
        next(p);
        if (!expect(p, T_COLON, "':' after a multi-select hash key"))
            break;
        node **k = realloc(x->kids, (x->nkids + 1) * sizeof *k);
        char **ks = k ? realloc(x->keys, (x->nkids + 1) * sizeof *ks) : NULL;
        if (k)
            x->kids = k;
        if (ks)
            x->keys = ks;
        if (!k || !ks) {
            fail(p, "%s", "out of memory");
            break;
        }
        x->keys[x->nkids] = strdup(key->s);
        x->kids[x->nkids] = parse(p, 0);
        x->nkids++;
        if (!x->keys[x->nkids - 1] || !x->kids[x->nkids - 1]) {
            fail(p, "%s", "out of memory");
            break;
        }
        if (peek(p, 0)->t == T_RBRACE) {
            next(p);
            return x;
        }
        if (!expect(p, T_COMMA, "',' or '}' in a multi-select hash"))
            break;
    }
    node_free(x);
    return NULL;
}

/* What follows a '.': an identifier, '*', or a multi-select. */
static node *
parse_dot(parser *p, int rbp)
{
    enum tok t = peek(p, 0)->t;
    if (t == T_ID || t == T_STAR)
        return parse(p, rbp);
    if (t == T_LBRACKET) {
        next(p);
        return parse_multi_list(p);
    }
    if (t == T_LBRACE) {
        next(p);
        return parse_multi_hash(p);
    }
    fail(p, "%s", "expected an identifier, '*', '[' or '{' after '.'");
    return NULL;
}

/* The right-hand side of a projection: what applies to each element. */
static node *
parse_projection_rhs(parser *p, int rbp)
{
    enum tok t = peek(p, 0)->t;
    if (bp(t) < PROJECTION_STOP)
        return mk(p, N_CURRENT, NULL, NULL);
    if (t == T_LBRACKET)
        return parse(p, rbp);
    if (t == T_DOT) {
        next(p);
        return parse_dot(p, rbp);
    }
    fail(p, "%s", "unexpected token after a projection");
    return NULL;
}

static node *
projection(parser *p, enum node_kind k, node *left, int rbp)
{
    if (!left)
        return NULL;
    node *rhs = parse_projection_rhs(p, rbp);
    if (!rhs) {
        node_free(left);
        return NULL;
    }
    return mk(p, k, left, rhs);
}

static node *
nud(parser *p, token *t)
{
    switch (t->t) {
    case T_ID: {
        node *x = mk(p, N_FIELD, NULL, NULL);
        if (x && !(x->s = strdup(t->s))) {
            node_free(x);
            fail(p, "%s", "out of memory");
            return NULL;
        }
        return x;
    }
    case T_LITERAL: {
        node *x = mk(p, N_LITERAL, NULL, NULL);
        if (x)
            x->lit = json_incref(t->lit);
        return x;
    }
    case T_CURRENT:
        return mk(p, N_CURRENT, NULL, NULL);
    case T_STAR:
        return projection(p, N_VPROJECT, mk(p, N_CURRENT, NULL, NULL),
                          bp(T_STAR));
    case T_FLATTEN:
        return projection(
            p, N_PROJECT,
            mk(p, N_FLATTEN, mk(p, N_CURRENT, NULL, NULL), NULL),
            bp(T_FLATTEN));
    case T_LBRACKET:
        if (peek(p, 0)->t == T_NUMBER || peek(p, 0)->t == T_COLON) {
            if (peek(p, 0)->t == T_COLON) {
                fail(p, "%s", "slices ([a:b]) are not supported");
                return NULL;
            }
            return parse_index(p);
        }
        if (peek(p, 0)->t == T_STAR && peek(p, 1)->t == T_RBRACKET) {
            next(p);
            next(p);
            return projection(p, N_PROJECT, mk(p, N_CURRENT, NULL, NULL),
                              bp(T_STAR));
        }
        return parse_multi_list(p);
    case T_LBRACE:
        return parse_multi_hash(p);
    case T_EOF:
        fail(p, "%s", "the expression ends too early");
        return NULL;
    default:
        fail(p, "%s", "unexpected token");
        return NULL;
    }
}

static node *
led(parser *p, token *t, node *left)
{
    switch (t->t) {
    case T_DOT:
        if (peek(p, 0)->t == T_STAR) {
            next(p);
            return projection(p, N_VPROJECT, left, bp(T_DOT));
        } else {
            node *right = parse_dot(p, bp(T_DOT));
            if (!right) {
                node_free(left);
                return NULL;
            }
            return mk(p, N_SUB, left, right);
        }
    case T_PIPE: {
        node *right = parse(p, bp(T_PIPE));
        if (!right) {
            node_free(left);
            return NULL;
        }
        return mk(p, N_PIPE, left, right);
    }
    case T_LBRACKET:
        if (peek(p, 0)->t == T_NUMBER) {
            node *idx = parse_index(p);
            if (!idx) {
                node_free(left);
                return NULL;
            }
            return mk(p, N_SUB, left, idx);
        }
        if (peek(p, 0)->t == T_COLON) {
            fail(p, "%s", "slices ([a:b]) are not supported");
        } else if (expect(p, T_STAR, "a number or '*' after '['") &&
                   expect(p, T_RBRACKET, "']' after '[*'")) {
            return projection(p, N_PROJECT, left, bp(T_STAR));
        }
        node_free(left);
        return NULL;
    case T_FLATTEN:
        return projection(p, N_PROJECT, mk(p, N_FLATTEN, left, NULL),
                          bp(T_FLATTEN));
    default:
        node_free(left);
        fail(p, "%s", "unexpected token");
        return NULL;
    }
}

static node *
parse(parser *p, int rbp)
{
    node *left = nud(p, next(p));
    while (left && !p->failed && rbp < bp(peek(p, 0)->t))
        left = led(p, next(p), left);
    if (p->failed) {
        node_free(left);
        return NULL;
    }
    return left;
}

cli_query *
cli_query_compile(const char *expr, char *err, size_t errlen)
{
    parser p = {NULL, 0, 0, err, errlen, false};
    node *root = NULL;
    err[0] = '\0';
    if (lex(&p, expr)) {
        root = parse(&p, 0);
        if (root && peek(&p, 0)->t != T_EOF) {
            fail(&p, "%s", "unexpected token");
            node_free(root);
            root = NULL;
        }
    }
    for (size_t i = 0; i < p.n; i++) {
        free(p.toks[i].s);
        json_decref(p.toks[i].lit);
    }
    free(p.toks);
    cli_query *q = root ? malloc(sizeof *q) : NULL;
    if (root && !q) {
        snprintf(err, errlen, "out of memory");
        node_free(root);
        return NULL;
    }
    if (q)
        q->root = root;
    else if (!err[0])
        snprintf(err, errlen, "invalid expression");
    return q;
}

void
cli_query_free(cli_query *q)
{
    if (q)
        node_free(q->root);
    free(q);
}

/* ---- evaluation -------------------------------------------------------------- */

/* A new reference (json_null() for null); NULL only when out of memory. */
static json_t *
eval(const node *x, json_t *cur)
{
    json_t *l, *r, *out;
    size_t i;
    switch (x->k) {
    case N_CURRENT:
        return json_incref(cur);
    case N_LITERAL:
        return json_incref(x->lit);
    case N_FIELD:
        r = json_is_object(cur) ? json_object_get(cur, x->s) : NULL;
        return r ? json_incref(r) : json_null();
    case N_INDEX: {
        size_t n = json_is_array(cur) ? json_array_size(cur) : 0;
        long at = x->n < 0 ? (long)n + x->n : x->n;
        r = json_is_array(cur) && at >= 0 && (size_t)at < n
                ? json_array_get(cur, (size_t)at)
                : NULL;
        return r ? json_incref(r) : json_null();
    }
    case N_SUB:
    case N_PIPE:
        if (!(l = eval(x->a, cur)))
            return NULL;
        r = eval(x->b, l);
        json_decref(l);
        return r;
    case N_FLATTEN:
        if (!(l = eval(x->a, cur)))
            return NULL;
        if (!json_is_array(l)) {
            json_decref(l);
            return json_null();
        }
        out = json_array();
        json_t *el;
        json_array_foreach(l, i, el) {
            if (json_is_array(el))
                json_array_extend(out, el);
            else
                json_array_append(out, el);
        }
        json_decref(l);
        return out;
    case N_PROJECT:
    case N_VPROJECT: {
        if (!(l = eval(x->a, cur)))
            return NULL;
        json_t *vals = NULL;
        if (x->k == N_PROJECT && json_is_array(l)) {
            vals = json_incref(l);
        } else if (x->k == N_VPROJECT && json_is_object(l)) {
            const char *key;
            json_t *v;
            vals = json_array();
            json_object_foreach(l, key, v)
                json_array_append(vals, v);
        }
        json_decref(l);
        if (!vals)
            return json_null();
        out = json_array();
        json_t *el;
        json_array_foreach(vals, i, el) {
            json_t *v = eval(x->b, el);
            if (v && !json_is_null(v))
                json_array_append(out, v);
            json_decref(v);
        }
        json_decref(vals);
        return out;
    }
    case N_MULTI_LIST:
        if (json_is_null(cur))
            return json_null();
        out = json_array();
        for (i = 0; i < x->nkids; i++)
            json_array_append_new(out, eval(x->kids[i], cur));
        return out;
    case N_MULTI_HASH:
        if (json_is_null(cur))
            return json_null();
        out = json_object();
        for (i = 0; i < x->nkids; i++)
            json_object_set_new(out, x->keys[i], eval(x->kids[i], cur));
        return out;
    }
    return json_null();
}

json_t *
cli_query_search(const cli_query *q, json_t *doc)
{
    return eval(q->root, doc);
}
