/*
 * lmq_query.c: the AWS CLI's --query, JMESPath (jmespath.org/specification).
 *
 * The whole language: identifiers (bare and "quoted"), sub-expressions,
 * indexes and slices, list, object and filter projections, flattening,
 * pipes, multi-select lists and hashes, comparisons, ||, &&, !,
 * parentheses, @, `json` literals, 'raw' strings, &expression references
 * and the spec's 26 functions. Where the spec is silent this follows the
 * jmespath library the AWS CLI runs (jmespath.py 1.0): ordering
 * comparisons also order strings, a backtick literal that is not JSON is a
 * string, 0 and 1 never equal false and true, and to_string() writes
 * ASCII-only compact JSON.
 *
 * The parser is a Pratt parser with JMESPath's binding powers, so
 * projections extend to the right until a token that binds less than a
 * projection (a pipe, a comparison, a closing bracket, the end) and nest as
 * the spec says. Evaluation: a field of a non-object, an index of a
 * non-list and a projection of the wrong type are null; a projection drops
 * the nulls its right-hand side yields. A function given the wrong types
 * is an error at evaluation, with jmespath.py's wording; an unknown
 * function or a wrong number of arguments is refused when the expression
 * is compiled.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memmem */
#endif
#include "lmq_cli.h"
#include "../lib/utf8.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tokens ---------------------------------------------------------------
 */

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
    T_OR,
    T_AND,
    T_NOT,
    T_CMP, /* n: enum cmp */
    T_LPAREN,
    T_RPAREN,
    T_FILTER, /* [? */
    T_EXPREF, /* & */
};

enum cmp { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE };

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
    case T_OR:
        return 2;
    case T_AND:
        return 3;
    case T_CMP:
        return 5;
    case T_FLATTEN:
        return 9;
    case T_STAR:
        return 20;
    case T_FILTER:
        return 21;
    case T_DOT:
        return 40;
    case T_NOT:
        return 45;
    case T_LBRACE:
        return 50;
    case T_LBRACKET:
        return 55;
    case T_LPAREN:
        return 60;
    default:
        return 0;
    }
}

/* Tokens that project (the right-hand side of a projection stops at any
 * token binding less than this). */
#define PROJECTION_STOP 10

/* ---- syntax tree ------------------------------------------------------------
 */

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
    N_OR,         /* a || b */
    N_AND,        /* a && b */
    N_NOT,        /* !a */
    N_CMP,        /* a op b, op in n */
    N_FILTER,     /* a, then b on each element where c is true */
    N_SLICE,      /* sl[3] (has[i]: given), applied to the current node */
    N_FUNC,       /* fn(kids) */
    N_EXPREF,     /* &a: an expression passed to a function */
};

struct fn;

struct node {
    enum node_kind k;
    char *s;
    long n;
    long sl[3];
    bool has[3];
    bool idx; /* an index expression: a later [n] or [slice] joins it */
    const struct fn *fn;
    json_t *lit;
    struct node *a, *b, *c;
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
    size_t n, cap, pos;
    char *err;
    size_t errlen;
    bool failed;
    int depth; /* parse() calls in progress plus the chain they built */
} parser;

/* Deeper expressions are refused: parsing, evaluating and freeing all
 * recurse on the tree, and a 30,000-deep one overflowed the stack. The
 * AWS CLI's jmespath.py stops near Python's recursion limit (1,000). */
#define QUERY_MAX_DEPTH 512

static void
node_free(node *x)
{
    if (!x)
        return;
    node_free(x->a);
    node_free(x->b);
    node_free(x->c);
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

/* ---- lexer ------------------------------------------------------------------
 */

static bool
push(parser *p, token t)
{
    token *n = p->toks;
    /* Grown geometrically: a 60,000-token expression must not copy the
     * array once per token (quadratic, and minutes under ASan). */
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        n = realloc(p->toks, cap * sizeof *n);
        if (n)
            p->cap = cap;
    }
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
        fail(p, "unterminated %s",
             q == '"'    ? "quoted identifier"
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
            if (c == '\'') {
                t.lit = json_string(body);
            } else if (!(t.lit = json_loads(body, JSON_DECODE_ANY, NULL))) {
                /* jmespath.py (deprecated form): not JSON, then the text,
                 * leading blanks dropped, as a JSON string's contents */
                const char *b = body;
                while (isspace((unsigned char)*b))
                    b++;
                size_t len = strlen(b);
                char *js = malloc(len + 3);
                if (js) {
                    js[0] = '"';
                    memcpy(js + 1, b, len);
                    js[len + 1] = '"';
                    js[len + 2] = '\0';
                    t.lit = json_loads(js, JSON_DECODE_ANY, NULL);
                }
                free(js);
            }
            free(body);
            if (!t.lit) {
                fail(p, "%s",
                     c == '`' ? "bad JSON in a `literal`"
                              : "raw string is not UTF-8");
                return false;
            }
        } else {
            /* longest first where one is a prefix of another */
            static const struct {
                const char *text;
                enum tok t;
                int cmp;
            } punct[] = {{"[?", T_FILTER, 0},  {"[]", T_FLATTEN, 0},
                         {"||", T_OR, 0},      {"&&", T_AND, 0},
                         {"==", T_CMP, C_EQ},  {"!=", T_CMP, C_NE},
                         {"<=", T_CMP, C_LE},  {">=", T_CMP, C_GE},
                         {"<", T_CMP, C_LT},   {">", T_CMP, C_GT},
                         {"!", T_NOT, 0},      {"&", T_EXPREF, 0},
                         {"|", T_PIPE, 0},     {"(", T_LPAREN, 0},
                         {")", T_RPAREN, 0},   {".", T_DOT, 0},
                         {"*", T_STAR, 0},     {"[", T_LBRACKET, 0},
                         {"]", T_RBRACKET, 0}, {"{", T_LBRACE, 0},
                         {"}", T_RBRACE, 0},   {",", T_COMMA, 0},
                         {":", T_COLON, 0},    {"@", T_CURRENT, 0}};
            size_t i, np = sizeof punct / sizeof punct[0];
            /* Compared char by char: strncmp() may read (and ASan
             * checks) the whole rest of the expression per token. */
            for (i = 0; i < np; i++)
                if (s[0] == punct[i].text[0] &&
                    (punct[i].text[1] == '\0' || s[1] == punct[i].text[1]))
                    break;
            if (i == np) {
                char what[2] = {c, '\0'};
                fail(p, "unexpected character '%s'", what);
                return false;
            }
            t.t = punct[i].t;
            t.n = punct[i].cmp;
            s += strlen(punct[i].text);
        }
        if (!push(p, t))
            return false;
    }
    return false;
}

/* ---- parser
 * ------------------------------------------------------------------ */

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

/* After '[': an index "n]" or a slice "a:b:c]" (each part optional). */
static node *
parse_index(parser *p)
{
    long part[3] = {0, 0, 0};
    bool has[3] = {false, false, false};
    int i = 0;
    while (peek(p, 0)->t != T_RBRACKET) {
        token *t = next(p);
        if (t->t == T_COLON && i < 2) {
            i++;
        } else if (t->t == T_NUMBER && !has[i]) {
            part[i] = t->n;
            has[i] = true;
        } else {
            fail(p, "%s", "expected a number, ':' or ']' in an index");
            return NULL;
        }
    }
    next(p);
    if (i == 0 && !has[0]) {
        fail(p, "%s", "expected a number in an index");
        return NULL;
    }
    node *x = mk(p, i == 0 ? N_INDEX : N_SLICE, NULL, NULL);
    if (x && i == 0)
        x->n = part[0];
    if (x && i > 0 && has[2] && part[2] == 0) {
        node_free(x);
        fail(p, "%s", "a slice's step cannot be 0");
        return NULL;
    }
    for (int k = 0; x && k < 3; k++) {
        x->sl[k] = part[k];
        x->has[k] = has[k];
    }
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
    if (t == T_LBRACKET || t == T_FILTER)
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

/* left[index] is a sub-expression; left[slice] a projection of it,
 * except after another index: jmespath.py then adds the slice to the same
 * index expression, unprojected (a[0][1:].b takes b of the slice). */
static node *
index_or_slice(parser *p, node *left)
{
    node *idx = parse_index(p);
    if (!idx || !left) {
        node_free(idx);
        node_free(left);
        return NULL;
    }
    bool join = left->idx;
    node *x = mk(p, N_SUB, left, idx);
    if (x && idx->k == N_SLICE && !join)
        return projection(p, N_PROJECT, x, bp(T_STAR));
    if (x)
        x->idx = true;
    return x;
}

/* After "[?": the condition, "]", then what applies to each match. */
static node *
filter(parser *p, node *left)
{
    node *cond = left ? parse(p, 0) : NULL;
    node *rhs = NULL;
    if (cond && expect(p, T_RBRACKET, "']' after a filter"))
        rhs = peek(p, 0)->t == T_FLATTEN
                  ? mk(p, N_CURRENT, NULL, NULL)
                  : parse_projection_rhs(p, bp(T_FILTER));
    node *x = rhs ? mk(p, N_FILTER, left, rhs) : NULL;
    if (!x) {
        if (!rhs)
            node_free(left);
        node_free(cond);
        return NULL;
    }
    x->c = cond;
    return x;
}

static const struct fn *fn_find(const char *name);
static bool fn_arity_ok(const struct fn *f, size_t nargs);

/* After "name(": the arguments, then ")". */
static node *
function(parser *p, node *left)
{
    if (left->k != N_FIELD) {
        node_free(left);
        fail(p, "%s", "only a name can be called");
        return NULL;
    }
    const struct fn *f = fn_find(left->s);
    if (!f) {
        fail(p, "unknown function: %s()", left->s);
        node_free(left);
        return NULL;
    }
    node *x = mk(p, N_FUNC, NULL, NULL);
    if (!x) {
        node_free(left);
        return NULL;
    }
    x->fn = f;
    x->s = left->s;
    left->s = NULL;
    node_free(left);
    while (!p->failed && peek(p, 0)->t != T_RPAREN) {
        if (x->nkids && !expect(p, T_COMMA, "',' or ')' in a function call"))
            break;
        node **k = realloc(x->kids, (x->nkids + 1) * sizeof *k);
        if (!k) {
            fail(p, "%s", "out of memory");
            break;
        }
        x->kids = k;
        if (!(x->kids[x->nkids] = parse(p, 0)))
            break;
        x->nkids++;
    }
    if (!p->failed)
        next(p);
    if (!p->failed && !fn_arity_ok(f, x->nkids))
        fail(p, "wrong number of arguments for %s()", x->s);
    if (p->failed) {
        node_free(x);
        return NULL;
    }
    return x;
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
        return projection(p, N_PROJECT,
                          mk(p, N_FLATTEN, mk(p, N_CURRENT, NULL, NULL), NULL),
                          bp(T_FLATTEN));
    case T_NOT:
        return mk(p, N_NOT, parse(p, bp(T_NOT)), NULL);
    case T_LPAREN: {
        node *x = parse(p, 0);
        if (x && !expect(p, T_RPAREN, "')'")) {
            node_free(x);
            return NULL;
        }
        return x;
    }
    case T_EXPREF: {
        node *x = parse(p, 0);
        return x ? mk(p, N_EXPREF, x, NULL) : NULL;
    }
    case T_FILTER:
        return filter(p, mk(p, N_CURRENT, NULL, NULL));
    case T_LBRACKET:
        if (peek(p, 0)->t == T_NUMBER || peek(p, 0)->t == T_COLON)
            return index_or_slice(p, mk(p, N_CURRENT, NULL, NULL));
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
        if (peek(p, 0)->t == T_NUMBER || peek(p, 0)->t == T_COLON)
            return index_or_slice(p, left);
        if (expect(p, T_STAR, "a number, ':' or '*' after '['") &&
            expect(p, T_RBRACKET, "']' after '[*'"))
            return projection(p, N_PROJECT, left, bp(T_STAR));
        node_free(left);
        return NULL;
    case T_OR:
    case T_AND:
    case T_CMP: {
        node *right = parse(p, bp(t->t));
        if (!right) {
            node_free(left);
            return NULL;
        }
        node *x = mk(p,
                     t->t == T_OR    ? N_OR
                     : t->t == T_AND ? N_AND
                                     : N_CMP,
                     left, right);
        if (x)
            x->n = t->n;
        return x;
    }
    case T_FILTER:
        return filter(p, left);
    case T_LPAREN:
        return function(p, left);
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
    int depth0 = p->depth;
    if (++p->depth > QUERY_MAX_DEPTH) {
        fail(p, "%s", "expression nested too deeply (more than 512 levels)");
        p->depth = depth0;
        return NULL;
    }
    node *left = nud(p, next(p));
    /* Each led() nests the tree built so far one level deeper. */
    while (left && !p->failed && rbp < bp(peek(p, 0)->t)) {
        if (++p->depth > QUERY_MAX_DEPTH) {
            fail(p, "%s", "expression nested too deeply (more than 512 levels)");
            break;
        }
        left = led(p, next(p), left);
    }
    p->depth = depth0;
    if (p->failed) {
        node_free(left);
        return NULL;
    }
    return left;
}

cli_query *
cli_query_compile(const char *expr, char *err, size_t errlen)
{
    parser p = {NULL, 0, 0, 0, err, errlen, false, 0};
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

/* ---- evaluation
 * -------------------------------------------------------------- */

typedef struct ectx {
    char *err;
    size_t errlen;
    bool failed;
} ectx;

static json_t *eval(ectx *e, const node *x, json_t *cur);

static void efail(ectx *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
efail(ectx *e, const char *fmt, ...)
{
    if (!e->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->err, e->errlen, fmt, ap);
        va_end(ap);
    }
    e->failed = true;
}

/* JMESPath's truth: false, null, "", [] and {} are false. */
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
    case JSON_FALSE:
    case JSON_NULL:
        return false;
    default:
        return true;
    }
}

static bool
is_num(const json_t *v)
{
    return json_is_integer(v) || json_is_real(v);
}

static double
num(const json_t *v)
{
    return json_is_integer(v) ? (double)json_integer_value(v)
                              : json_real_value(v);
}

/* Python's ==, as jmespath.py uses it: numbers by value, and 0/1 never
 * equal to false/true. */
static bool
equal(const json_t *a, const json_t *b)
{
    if (is_num(a) && is_num(b))
        return num(a) == num(b);
    if (json_typeof(a) != json_typeof(b))
        return false;
    size_t i;
    const char *key;
    json_t *v;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b),
                      json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return false;
        json_array_foreach(a, i,
                           v) if (!equal(v, json_array_get(b, i))) return false;
        return true;
    case JSON_OBJECT:
        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach((json_t *)a, key, v)
        {
            json_t *w = json_object_get(b, key);
            if (!w || !equal(v, w))
                return false;
        }
        return true;
    default:
        return true; /* true, false, null */
    }
}

/* Strings order by code point, which UTF-8 bytes keep. */
static int
str_order(const json_t *a, const json_t *b)
{
    size_t la = json_string_length(a), lb = json_string_length(b);
    int c =
        memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
    return c ? c : la < lb ? -1 : la > lb;
}

static json_t *
compare(int op, const json_t *a, const json_t *b)
{
    if (op == C_EQ || op == C_NE)
        return json_boolean(equal(a, b) == (op == C_EQ));
    int c;
    if (is_num(a) && is_num(b))
        c = num(a) < num(b) ? -1 : num(a) > num(b);
    else if (json_is_string(a) && json_is_string(b))
        c = str_order(a, b);
    else
        return json_null();
    return json_boolean(op == C_LT   ? c < 0
                        : op == C_LE ? c <= 0
                        : op == C_GT ? c > 0
                                     : c >= 0);
}

/* Python's list slicing. */
static json_t *
slice(const node *x, json_t *cur)
{
    if (!json_is_array(cur))
        return json_null();
    long n = (long)json_array_size(cur), step = x->has[2] ? x->sl[2] : 1;
    long lo = step > 0 ? 0 : -1, hi = step > 0 ? n : n - 1;
    long bound[2];
    for (int k = 0; k < 2; k++) {
        if (!x->has[k]) { /* start: the first in walking order; stop: past
                           * the last */
            bound[k] = k == 0 ? (step > 0 ? 0 : n - 1) : (step > 0 ? n : -1);
            continue;
        }
        long v = x->sl[k] < 0 ? x->sl[k] + n : x->sl[k];
        bound[k] = v < lo ? lo : v > hi ? hi : v;
    }
    json_t *out = json_array();
    for (long i = bound[0]; step > 0 ? i < bound[1] : i > bound[1]; i += step)
        json_array_append(out, json_array_get(cur, (size_t)i));
    return out;
}

/* ---- functions ---- */

/* Argument types, as bits. */
enum {
    A_NUM = 1,
    A_STR = 2,
    A_BOOL = 4,
    A_ARR = 8,
    A_OBJ = 16,
    A_NULL = 32,
    A_EXPREF = 64,
    A_ANY = 63,
    A_ARR_NUM = 128, /* array whose elements are all numbers */
    A_ARR_STR = 256, /* ... all strings */
};

typedef struct fn {
    const char *name;
    int nargs;     /* fixed count, or the minimum when variadic */
    bool variadic; /* the last type repeats */
    int types[3];
    json_t *(*call)(ectx *e, const node *x, json_t **args, size_t n);
    int pick; /* f_sorted: 0 sort, 1 max, -1 min */
    bool by;  /* f_sorted: keys from an &expression */
} fn;

static const char *
type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_STRING:
        return "string";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_ARRAY:
        return "array";
    case JSON_OBJECT:
        return "object";
    default:
        return "null";
    }
}

static bool
all_of(const json_t *arr, bool (*pred)(const json_t *))
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (!pred(v)) return false;
    return true;
}

static bool
is_str(const json_t *v)
{
    return json_is_string(v);
}

static bool
type_ok(const json_t *v, int types, bool expref)
{
    if (types & A_EXPREF)
        return expref;
    if (expref)
        return false;
    if ((types & A_NUM) && is_num(v))
        return true;
    if ((types & A_STR) && json_is_string(v))
        return true;
    if ((types & A_BOOL) && json_is_boolean(v))
        return true;
    if ((types & A_ARR) && json_is_array(v))
        return true;
    if ((types & A_OBJ) && json_is_object(v))
        return true;
    if ((types & A_NULL) && json_is_null(v))
        return true;
    if ((types & A_ARR_NUM) && json_is_array(v) && all_of(v, is_num))
        return true;
    if ((types & A_ARR_STR) && json_is_array(v) && all_of(v, is_str))
        return true;
    return false;
}

/* jmespath.py's message for a wrong type. */
static void
type_err(ectx *e, const fn *f, const json_t *v, int types)
{
    char want[160] = "";
    static const struct {
        int bit;
        const char *name;
    } names[] = {{A_STR, "string"},          {A_NUM, "number"},
                 {A_BOOL, "boolean"},        {A_ARR, "array"},
                 {A_OBJ, "object"},          {A_NULL, "null"},
                 {A_EXPREF, "expref"},       {A_ARR_NUM, "array-number"},
                 {A_ARR_STR, "array-string"}};
    if ((types & A_ANY) == A_ANY)
        types = A_ANY;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (types & names[i].bit) {
            strncat(want, want[0] ? ", '" : "'",
                    sizeof want - strlen(want) - 1);
            strncat(want, names[i].name, sizeof want - strlen(want) - 1);
            strncat(want, "'", sizeof want - strlen(want) - 1);
        }
    char *shown = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    efail(e,
          "In function %s(), invalid type for value: %s, expected one of: "
          "[%s], received: \"%s\"",
          f->name, shown ? shown : "<expression>", want,
          v ? type_name(v) : "expref");
    free(shown);
}

/* floor() and ceil() without libm: doubles past 2^52 are whole already. */
static double
whole_below(double d)
{
    if (d >= 4503599627370496.0 || d <= -4503599627370496.0 || d != d)
        return d;
    double t = (double)(long long)d;
    return t > d ? t - 1 : t;
}

static json_t *
num_result(double d)
{
    if (d == (double)(json_int_t)d && d > -9e15 && d < 9e15)
        return json_integer((json_int_t)d);
    return json_real(d);
}

static json_t *
f_abs(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    if (json_is_integer(a[0]))
        return json_integer(json_integer_value(a[0]) < 0
                                ? -json_integer_value(a[0])
                                : json_integer_value(a[0]));
    double d = json_real_value(a[0]);
    return json_real(d < 0 ? -d : d);
}

static json_t *
f_avg(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    size_t i, k = json_array_size(a[0]);
    json_t *v;
    double sum = 0;
    if (k == 0)
        return json_null();
    json_array_foreach(a[0], i, v) sum += num(v);
    return json_real(sum / (double)k);
}

static json_t *
f_ceil(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    return num_result(-whole_below(-num(a[0])));
}

static json_t *
f_floor(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    return num_result(whole_below(num(a[0])));
}

static json_t *
f_contains(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)x, (void)n;
    size_t i;
    json_t *v;
    if (json_is_array(a[0])) {
        json_array_foreach(a[0], i, v) if (equal(v, a[1])) return json_true();
        return json_false();
    }
    if (!json_is_string(a[1])) {
        efail(e,
              "In function contains(), 'in <string>' requires string as "
              "left operand, not %s",
              type_name(a[1]));
        return NULL;
    }
    return json_boolean(
        memmem(json_string_value(a[0]), json_string_length(a[0]),
               json_string_value(a[1]), json_string_length(a[1])) != NULL);
}

static json_t *
f_affix(json_t **a, bool end)
{
    size_t ls = json_string_length(a[0]), lp = json_string_length(a[1]);
    const char *str = json_string_value(a[0]);
    return json_boolean(lp <= ls && memcmp(end ? str + ls - lp : str,
                                           json_string_value(a[1]), lp) == 0);
}

static json_t *
f_ends_with(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    return f_affix(a, true);
}

static json_t *
f_starts_with(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    return f_affix(a, false);
}

static json_t *
f_join(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    char *buf = NULL;
    size_t len = 0, i;
    json_t *v;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    json_array_foreach(a[1], i, v)
    {
        if (i)
            fwrite(json_string_value(a[0]), 1, json_string_length(a[0]), m);
        fwrite(json_string_value(v), 1, json_string_length(v), m);
    }
    fclose(m);
    json_t *out = buf ? json_stringn(buf, len) : NULL;
    free(buf);
    return out;
}

static json_t *
f_keys(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    const char *key;
    json_t *v, *out = json_array();
    json_object_foreach(a[0], key, v)
        json_array_append_new(out, json_string(key));
    return out;
}

static json_t *
f_values(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    const char *key;
    json_t *v, *out = json_array();
    json_object_foreach(a[0], key, v) json_array_append(out, v);
    return out;
}

static json_t *
f_length(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    if (json_is_string(a[0]))
        return json_integer((json_int_t)lmq__utf8_count(
            (const unsigned char *)json_string_value(a[0]),
                                                 json_string_length(a[0])));
    return json_integer((json_int_t)(json_is_array(a[0])
                                         ? json_array_size(a[0])
                                         : json_object_size(a[0])));
}

static json_t *
f_map(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)n;
    size_t i;
    json_t *v, *out = json_array();
    json_array_foreach(a[1], i, v)
    {
        json_t *r = eval(e, x->kids[0]->a, v);
        if (!r) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, r);
    }
    return out;
}

/* Sort keys for sort/sort_by/max/min(_by): all numbers or all strings. */
typedef struct keyed {
    json_t *key, *val;
    size_t pos;
} keyed;

static int
keyed_cmp(const void *pa, const void *pb)
{
    const keyed *a = pa, *b = pb;
    int c = is_num(a->key) ? (num(a->key) < num(b->key)   ? -1
                              : num(a->key) > num(b->key) ? 1
                                                          : 0)
                           : str_order(a->key, b->key);
    return c ? c : a->pos < b->pos ? -1 : a->pos > b->pos; /* stable */
}

/* The array's elements with their keys (the elements themselves, or the
 * expression's value on each); NULL after an error. */
static keyed *
keys_of(ectx *e, const fn *f, json_t *arr, const node *expr, size_t *n)
{
    size_t i;
    json_t *v;
    *n = json_array_size(arr);
    keyed *k = calloc(*n + 1, sizeof *k);
    if (!k)
        return NULL;
    json_array_foreach(arr, i, v)
    {
        k[i].val = v;
        k[i].pos = i;
        k[i].key = expr ? eval(e, expr, v) : json_incref(v);
        bool ok = k[i].key && (is_num(k[i].key) || json_is_string(k[i].key));
        if (ok && i > 0 && is_num(k[i].key) != is_num(k[0].key))
            ok = false;
        if (!ok) {
            if (k[i].key && !e->failed)
                type_err(e, f, k[i].key,
                         i > 0 ? (is_num(k[0].key) ? A_NUM : A_STR)
                               : A_NUM | A_STR);
            for (size_t j = 0; j <= i; j++)
                json_decref(k[j].key);
            free(k);
            return NULL;
        }
    }
    return k;
}

static json_t *
sorted(ectx *e, const node *x, json_t **a, bool by, int pick)
{
    size_t n;
    keyed *k = keys_of(e, x->fn, a[0], by ? x->kids[1]->a : NULL, &n);
    if (!k)
        return NULL;
    qsort(k, n, sizeof *k, keyed_cmp);
    json_t *out;
    if (pick == 0) {
        out = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append(out, k[i].val);
    } else if (n == 0) {
        out = json_null();
    } else {
        /* max: the last of the largest keys; min: the first smallest */
        size_t at = 0;
        if (pick > 0) {
            at = n - 1;
            while (at > 0 && keyed_cmp(&(keyed){k[at - 1].key, NULL, 0},
                                       &(keyed){k[at].key, NULL, 0}) == 0)
                at--;
        }
        out = json_incref(k[at].val);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(k[i].key);
    free(k);
    return out;
}

/* sort, sort_by, max, min, max_by, min_by: fn.pick and fn.by say which. */
static json_t *
f_sorted(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)n;
    return sorted(e, x, a, x->fn->by, x->fn->pick);
}

static json_t *
f_merge(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x;
    json_t *out = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_update(out, a[i]);
    return out;
}

static json_t *
f_not_null(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x;
    for (size_t i = 0; i < n; i++)
        if (!json_is_null(a[i]))
            return json_incref(a[i]);
    return json_null();
}

static json_t *
f_reverse(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    if (json_is_array(a[0])) {
        json_t *out = json_array();
        for (size_t i = json_array_size(a[0]); i-- > 0;)
            json_array_append(out, json_array_get(a[0], i));
        return out;
    }
    /* by code point */
    const char *s = json_string_value(a[0]);
    size_t len = json_string_length(a[0]), w = len;
    char *buf = malloc(len + 1);
    if (!buf)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t cl = 1;
        while (i + cl < len && ((unsigned char)s[i + cl] & 0xC0) == 0x80)
            cl++;
        w -= cl;
        memcpy(buf + w, s + i, cl);
        i += cl;
    }
    json_t *out = json_stringn(buf, len);
    free(buf);
    return out;
}

static json_t *
f_sum(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    size_t i;
    json_t *v;
    bool real = false;
    json_int_t isum = 0;
    double dsum = 0;
    json_array_foreach(a[0], i, v)
    {
        real |= json_is_real(v);
        isum += json_is_integer(v) ? json_integer_value(v) : 0;
        dsum += num(v);
    }
    return real ? json_real(dsum) : json_integer(isum);
}

static json_t *
f_to_array(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    if (json_is_array(a[0]))
        return json_incref(a[0]);
    json_t *out = json_array();
    json_array_append(out, a[0]);
    return out;
}

static json_t *
f_to_number(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    if (is_num(a[0]))
        return json_incref(a[0]);
    if (!json_is_string(a[0]))
        return json_null();
    const char *s = json_string_value(a[0]);
    char *end;
    errno = 0;
    if (strchr(s, '.')) { /* Python's float() */
        double d = strtod(s, &end);
        while (isspace((unsigned char)*end))
            end++;
        return end != s && !*end ? json_real(d) : json_null();
    }
    long long v = strtoll(s, &end, 10); /* Python's int() */
    while (isspace((unsigned char)*end))
        end++;
    return end != s && !*end && errno == 0 ? json_integer(v) : json_null();
}

/* Python's json.dumps(v, separators=(',', ':')): ASCII only. */
static void
py_json(FILE *m, const json_t *v)
{
    size_t i;
    const char *key;
    json_t *el;
    switch (json_typeof(v)) {
    case JSON_ARRAY:
        fputc('[', m);
        json_array_foreach(v, i, el)
        {
            if (i)
                fputc(',', m);
            py_json(m, el);
        }
        fputc(']', m);
        return;
    case JSON_OBJECT:
        fputc('{', m);
        i = 0;
        json_object_foreach((json_t *)v, key, el)
        {
            if (i++)
                fputc(',', m);
            json_t *k = json_string(key);
            py_json(m, k);
            json_decref(k);
            fputc(':', m);
            py_json(m, el);
        }
        fputc('}', m);
        return;
    case JSON_STRING: {
        const unsigned char *s = (const unsigned char *)json_string_value(v);
        size_t len = json_string_length(v);
        fputc('"', m);
        for (i = 0; i < len;) {
            uint32_t c = s[i];
            int more = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
            if (more)
                c &= 0x3Fu >> more;
            for (i++; more && i < len; more--, i++)
                c = c << 6 | (s[i] & 0x3Fu);
            if (c == '"' || c == '\\')
                fprintf(m, "\\%c", (char)c);
            else if (c == '\n')
                fputs("\\n", m);
            else if (c == '\r')
                fputs("\\r", m);
            else if (c == '\t')
                fputs("\\t", m);
            else if (c == '\b')
                fputs("\\b", m);
            else if (c == '\f')
                fputs("\\f", m);
            else if (c < 0x20 || (c >= 0x7F && c < 0x10000))
                fprintf(m, c < 0x7F ? "\\u%04x" : "\\u%04x", c);
            else if (c >= 0x10000)
                fprintf(m, "\\u%04x\\u%04x", 0xD800 + ((c - 0x10000) >> 10),
                        0xDC00 + ((c - 0x10000) & 0x3FF));
            else
                fputc((int)c, m);
        }
        fputc('"', m);
        return;
    }
    case JSON_REAL: {
        char buf[40];
        cli_py_float(json_real_value(v), buf, sizeof buf);
        fputs(buf, m);
        return;
    }
    default: {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (s)
            fputs(s, m);
        free(s);
    }
    }
}

static json_t *
f_to_string(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    if (json_is_string(a[0]))
        return json_incref(a[0]);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    py_json(m, a[0]);
    fclose(m);
    json_t *out = buf ? json_stringn(buf, len) : NULL;
    free(buf);
    return out;
}

static json_t *
f_type(ectx *e, const node *x, json_t **a, size_t n)
{
    (void)e, (void)x, (void)n;
    return json_string(type_name(a[0]));
}

static const fn fns[] = {
    {"abs", 1, false, {A_NUM}, f_abs, 0, false},
    {"avg", 1, false, {A_ARR_NUM}, f_avg, 0, false},
    {"ceil", 1, false, {A_NUM}, f_ceil, 0, false},
    {"contains", 2, false, {A_ARR | A_STR, A_ANY}, f_contains, 0, false},
    {"ends_with", 2, false, {A_STR, A_STR}, f_ends_with, 0, false},
    {"floor", 1, false, {A_NUM}, f_floor, 0, false},
    {"join", 2, false, {A_STR, A_ARR_STR}, f_join, 0, false},
    {"keys", 1, false, {A_OBJ}, f_keys, 0, false},
    {"length", 1, false, {A_STR | A_ARR | A_OBJ}, f_length, 0, false},
    {"map", 2, false, {A_EXPREF, A_ARR}, f_map, 0, false},
    {"max", 1, false, {A_ARR_NUM | A_ARR_STR}, f_sorted, 1, false},
    {"max_by", 2, false, {A_ARR, A_EXPREF}, f_sorted, 1, true},
    {"merge", 1, true, {A_OBJ}, f_merge, 0, false},
    {"min", 1, false, {A_ARR_NUM | A_ARR_STR}, f_sorted, -1, false},
    {"min_by", 2, false, {A_ARR, A_EXPREF}, f_sorted, -1, true},
    {"not_null", 1, true, {A_ANY}, f_not_null, 0, false},
    {"reverse", 1, false, {A_ARR | A_STR}, f_reverse, 0, false},
    {"sort", 1, false, {A_ARR_NUM | A_ARR_STR}, f_sorted, 0, false},
    {"sort_by", 2, false, {A_ARR, A_EXPREF}, f_sorted, 0, true},
    {"starts_with", 2, false, {A_STR, A_STR}, f_starts_with, 0, false},
    {"sum", 1, false, {A_ARR_NUM}, f_sum, 0, false},
    {"to_array", 1, false, {A_ANY}, f_to_array, 0, false},
    {"to_number", 1, false, {A_ANY}, f_to_number, 0, false},
    {"to_string", 1, false, {A_ANY}, f_to_string, 0, false},
    {"type", 1, false, {A_ANY}, f_type, 0, false},
    {"values", 1, false, {A_OBJ}, f_values, 0, false},
};

static const fn *
fn_find(const char *name)
{
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (strcmp(fns[i].name, name) == 0)
            return &fns[i];
    return NULL;
}

static bool
fn_arity_ok(const fn *f, size_t nargs)
{
    return f->variadic ? nargs >= (size_t)f->nargs : nargs == (size_t)f->nargs;
}

static json_t *
call(ectx *e, const node *x, json_t *cur)
{
    const fn *f = x->fn;
    json_t *args[64];
    size_t n = x->nkids < 64 ? x->nkids : 64, got = 0;
    json_t *out = NULL;
    for (; got < n; got++) {
        const node *k = x->kids[got];
        int types =
            f->types[got < (size_t)f->nargs ? got : (size_t)f->nargs - 1];
        bool expref = k->k == N_EXPREF;
        args[got] = expref ? json_null() : eval(e, k, cur);
        if (!args[got])
            goto done;
        if (!type_ok(args[got], types, expref)) {
            type_err(e, f, expref ? NULL : args[got], types);
            got++;
            goto done;
        }
    }
    out = f->call(e, x, args, n);
done:
    for (size_t i = 0; i < got; i++)
        json_decref(args[i]);
    return e->failed ? (json_decref(out), NULL) : out;
}

/* A new reference (json_null() for null); NULL after an error. */
static json_t *
eval(ectx *e, const node *x, json_t *cur)
{
    json_t *l, *r, *out, *el;
    size_t i;
    if (e->failed)
        return NULL;
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
    case N_SLICE:
        return slice(x, cur);
    case N_SUB:
    case N_PIPE:
        if (!(l = eval(e, x->a, cur)))
            return NULL;
        r = eval(e, x->b, l);
        json_decref(l);
        return r;
    case N_OR:
    case N_AND:
        if (!(l = eval(e, x->a, cur)))
            return NULL;
        if (truthy(l) == (x->k == N_OR))
            return l;
        json_decref(l);
        return eval(e, x->b, cur);
    case N_NOT:
        if (!(l = eval(e, x->a, cur)))
            return NULL;
        r = json_boolean(!truthy(l));
        json_decref(l);
        return r;
    case N_CMP:
        if (!(l = eval(e, x->a, cur)))
            return NULL;
        if (!(r = eval(e, x->b, cur))) {
            json_decref(l);
            return NULL;
        }
        out = compare((int)x->n, l, r);
        json_decref(l);
        json_decref(r);
        return out;
    case N_FLATTEN:
        if (!(l = eval(e, x->a, cur)))
            return NULL;
        if (!json_is_array(l)) {
            json_decref(l);
            return json_null();
        }
        out = json_array();
        json_array_foreach(l, i, el)
        {
            if (json_is_array(el))
                json_array_extend(out, el);
            else
                json_array_append(out, el);
        }
        json_decref(l);
        return out;
    case N_PROJECT:
    case N_VPROJECT:
    case N_FILTER: {
        if (!(l = eval(e, x->a, cur)))
            return NULL;
        json_t *vals = NULL;
        if (x->k != N_VPROJECT && json_is_array(l)) {
            vals = json_incref(l);
        } else if (x->k == N_VPROJECT && json_is_object(l)) {
            const char *key;
            vals = json_array();
            json_object_foreach(l, key, el) json_array_append(vals, el);
        }
        json_decref(l);
        if (!vals)
            return json_null();
        out = json_array();
        json_array_foreach(vals, i, el)
        {
            if (x->k == N_FILTER) {
                json_t *c = eval(e, x->c, el);
                bool keep = c && truthy(c);
                json_decref(c);
                if (!keep)
                    continue;
            }
            json_t *v = eval(e, x->b, el);
            if (v && !json_is_null(v))
                json_array_append(out, v);
            json_decref(v);
        }
        json_decref(vals);
        if (e->failed) {
            json_decref(out);
            return NULL;
        }
        return out;
    }
    case N_MULTI_LIST:
        if (json_is_null(cur))
            return json_null();
        out = json_array();
        for (i = 0; i < x->nkids; i++)
            json_array_append_new(out, eval(e, x->kids[i], cur));
        break;
    case N_MULTI_HASH:
        if (json_is_null(cur))
            return json_null();
        out = json_object();
        for (i = 0; i < x->nkids; i++)
            json_object_set_new(out, x->keys[i], eval(e, x->kids[i], cur));
        break;
    case N_FUNC:
        return call(e, x, cur);
    case N_EXPREF:
    default:
        return json_null();
    }
    if (e->failed) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *
cli_query_search(const cli_query *q, json_t *doc, char *err, size_t errlen)
{
    ectx e = {err, errlen, false};
    err[0] = '\0';
    json_t *v = eval(&e, q->root, doc);
    if (!v && !e.failed)
        snprintf(err, errlen, "out of memory");
    return v;
}
