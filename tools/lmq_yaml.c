/*
 * lmq_yaml.c: --output yaml / yaml-stream and --cli-input-yaml, with
 * libyaml, byte for byte as the AWS CLI prints and reads them.
 *
 * How the AWS CLI writes YAML (awscli/formatter.py, YAMLDumper): a scalar
 * response is printed as JSON (json.dumps, ensure_ascii=False) and a
 * newline; anything else goes through ruamel.yaml's safe dumper, whose
 * emitter is libyaml's (ruamel.yaml.clib's CEmitter): block style, keys
 * sorted, indent 2, lines folded past 80 columns, UTF-8 kept as is, no
 * "---". The dumper leaves each scalar's style to the emitter and only says
 * whether the scalar may be written plain without changing its type: a
 * string may be plain unless a YAML 1.2 reader would take its plain form
 * for something else (true, 12, 1.5, null, 2024-01-02, ~, <<, =); then
 * libyaml quotes it. So this file feeds libyaml the same events, with the
 * same "implicit" flags from the same resolver (ruamel.yaml's 1.2 implicit
 * resolvers, as POSIX regular expressions), and libyaml picks the same
 * styles.
 *
 * yaml-stream prints each response as a one-item list (the AWS CLI's
 * StreamedYAMLFormatter).
 *
 * Reading (--cli-input-yaml): libyaml's parser, events to jansson values;
 * plain scalars are resolved with the same 1.2 rules (int, float, bool,
 * null), quoted ones and tagged !!str stay strings, !!binary keeps its
 * base64 text (what a BinaryValue takes). Anchors and aliases are refused
 * (a skeleton has none).
 *
 * Rejected: writing YAML by hand (quoting rules, folding and escapes are
 * libyaml's job and the AWS CLI's output is libyaml's), and libyaml's
 * document loader (its node graph would be walked once more for nothing).
 */
#include "lmq_cli.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <yaml.h>

#define TAG_STR "tag:yaml.org,2002:str"
#define TAG_INT "tag:yaml.org,2002:int"
#define TAG_FLOAT "tag:yaml.org,2002:float"
#define TAG_BOOL "tag:yaml.org,2002:bool"
#define TAG_NULL "tag:yaml.org,2002:null"
#define TAG_MAP "tag:yaml.org,2002:map"
#define TAG_SEQ "tag:yaml.org,2002:seq"

/* ruamel.yaml's YAML 1.2 implicit resolvers (resolver.py), in its order,
 * each with the first characters it is tried for ("" also matches the
 * empty string). Python's verbose patterns rewritten as POSIX EREs. */
static const struct {
    const char *tag;
    const char *first;
    const char *re;
} resolvers[] = {
    {TAG_BOOL, "tTfF", "^(true|True|TRUE|false|False|FALSE)$"},
    {TAG_FLOAT, "-+0123456789.",
     "^([-+]?[0-9][0-9_]*\\.[0-9_]*([eE][-+]?[0-9]+)?"
     "|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
     "|[-+]?\\.[0-9_]+([eE][-+][0-9]+)?"
     "|[-+]?\\.(inf|Inf|INF)"
     "|\\.(nan|NaN|NAN))$"},
    {TAG_INT, "-+0123456789",
     "^([-+]?0b[01_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+)$"},
    {"tag:yaml.org,2002:merge", "<", "^<<$"},
    {TAG_NULL, "~nN", "^(~|null|Null|NULL|)$"},
    {"tag:yaml.org,2002:timestamp", "0123456789",
     "^([0-9]{4}-[0-9]{2}-[0-9]{2}"
     "|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:"
     "[0-9]{2}(\\.[0-9]*)?([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?)$"},
    {"tag:yaml.org,2002:value", "=", "^=$"},
    {"tag:yaml.org,2002:yaml", "!&*", "^(!|&|\\*)$"},
};
#define NRESOLVERS (sizeof resolvers / sizeof resolvers[0])

/* The tag a plain scalar s resolves to (TAG_STR when none matches). The
 * compiled patterns live for the process (a CLI run). */
static const char *
resolve(const char *s)
{
    static regex_t re[NRESOLVERS];
    static int compiled[NRESOLVERS];

    for (size_t i = 0; i < NRESOLVERS; i++) {
        if (*s ? !strchr(resolvers[i].first, *s)
               : strcmp(resolvers[i].tag, TAG_NULL) != 0)
            continue;
        if (!compiled[i]) {
            if (regcomp(&re[i], resolvers[i].re, REG_EXTENDED | REG_NOSUB))
                continue;
            compiled[i] = 1;
        }
        if (regexec(&re[i], s, 0, NULL, 0) == 0)
            return resolvers[i].tag;
    }
    return TAG_STR;
}

/* ---- writing ------------------------------------------------------------ */

static int
emit(yaml_emitter_t *em, yaml_event_t *ev)
{
    return yaml_emitter_emit(em, ev) ? 0 : -1;
}

static int
emit_scalar(yaml_emitter_t *em, const char *tag, const char *s, size_t len)
{
    yaml_event_t ev;
    int plain = strcmp(resolve(s), tag) == 0;
    int quoted = strcmp(tag, TAG_STR) == 0;

    if (!yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *)tag,
                                      (yaml_char_t *)s, (int)len, plain,
                                      quoted, YAML_ANY_SCALAR_STYLE))
        return -1;
    return emit(em, &ev);
}

static int
cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
emit_node(yaml_emitter_t *em, json_t *v)
{
    yaml_event_t ev;
    char buf[64];
    size_t i;
    json_t *e;

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k, **keys;
        size_t n = 0;
        int rc = 0;
        if (!(keys = calloc(json_object_size(v) + 1, sizeof *keys)))
            return -1;
        json_object_foreach(v, k, e)
            keys[n++] = k;
        /* ruamel sorts a dict's keys; strcmp on UTF-8 is code point
         * order, as Python's sorted(). */
        qsort(keys, n, sizeof *keys, cmp_key);
        if (!yaml_mapping_start_event_initialize(&ev, NULL,
                                                 (yaml_char_t *)TAG_MAP, 1,
                                                 YAML_BLOCK_MAPPING_STYLE) ||
            emit(em, &ev))
            rc = -1;
        for (i = 0; rc == 0 && i < n; i++)
            if (emit_scalar(em, TAG_STR, keys[i], strlen(keys[i])) ||
                emit_node(em, json_object_get(v, keys[i])))
                rc = -1;
        free(keys);
        if (rc || !yaml_mapping_end_event_initialize(&ev))
            return -1;
        return emit(em, &ev);
    }
    case JSON_ARRAY:
        if (!yaml_sequence_start_event_initialize(&ev, NULL,
                                                  (yaml_char_t *)TAG_SEQ, 1,
                                                  YAML_BLOCK_SEQUENCE_STYLE) ||
            emit(em, &ev))
            return -1;
        json_array_foreach(v, i, e)
            if (emit_node(em, e))
                return -1;
        if (!yaml_sequence_end_event_initialize(&ev))
            return -1;
        return emit(em, &ev);
    case JSON_STRING:
        return emit_scalar(em, TAG_STR, json_string_value(v),
                           json_string_length(v));
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        return emit_scalar(em, TAG_INT, buf, strlen(buf));
    case JSON_REAL: {
        /* repr(float).lower(), as ruamel's represent_float. */
        double d = json_real_value(v);
        if (d != d)
            snprintf(buf, sizeof buf, ".nan");
        else if (isinf(d) && d > 0)
            snprintf(buf, sizeof buf, ".inf");
        else if (isinf(d))
            snprintf(buf, sizeof buf, "-.inf");
        else
            cli_py_float(d, buf, sizeof buf);
        for (char *p = buf; *p; p++)
            if (*p == 'E')
                *p = 'e';
        return emit_scalar(em, TAG_FLOAT, buf, strlen(buf));
    }
    case JSON_TRUE:
        return emit_scalar(em, TAG_BOOL, "true", 4);
    case JSON_FALSE:
        return emit_scalar(em, TAG_BOOL, "false", 5);
    default:
        return emit_scalar(em, TAG_NULL, "null", 4);
    }
}

void
cli_print_yaml(FILE *f, json_t *doc)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    int ok;

    if (!json_is_object(doc) && !json_is_array(doc)) {
        /* json.dump(value, ensure_ascii=False) for a lone scalar. */
        json_dumpf(doc, f, JSON_ENCODE_ANY);
        fputc('\n', f);
        return;
    }
    if (!yaml_emitter_initialize(&em))
        return;
    yaml_emitter_set_output_file(&em, f);
    yaml_emitter_set_unicode(&em, 1);
    ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) &&
         !emit(&em, &ev) &&
         yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) &&
         !emit(&em, &ev) && !emit_node(&em, doc) &&
         yaml_document_end_event_initialize(&ev, 1) && !emit(&em, &ev) &&
         yaml_stream_end_event_initialize(&ev) && !emit(&em, &ev);
    if (!ok && em.problem)
        fprintf(stderr, "\nyaml: %s\n", em.problem);
    yaml_emitter_delete(&em);
}

/* ---- reading ------------------------------------------------------------ */

/* A number in YAML 1.2's int forms (underscores allowed): 0 or -1. */
static int
yaml_int(const char *s, json_int_t *out)
{
    char digits[128];
    size_t n = 0;
    int neg = 0, base = 10;
    char *end;

    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'b' || s[1] == 'o')) {
        base = s[1] == 'x' ? 16 : s[1] == 'b' ? 2 : 8;
        s += 2;
    } else if (s[0] == '0' && s[1]) {
        base = 8; /* "0o?[0-7_]+": 017 is octal too */
    }
    for (; *s && n + 1 < sizeof digits; s++)
        if (*s != '_')
            digits[n++] = *s;
    digits[n] = '\0';
    if (!n)
        return -1;
    long long v = strtoll(digits, &end, base);
    if (*end)
        return -1;
    *out = neg ? -v : v;
    return 0;
}

static json_t *
scalar_value(const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    const char *t;

    if (tag || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
        strlen(s) != len)
        return cli_jstr(s, len); /* !!str, !!binary, quoted: the text */
    t = resolve(s);
    if (strcmp(t, TAG_BOOL) == 0)
        return json_boolean(s[0] == 't' || s[0] == 'T');
    if (strcmp(t, TAG_NULL) == 0)
        return json_null();
    if (strcmp(t, TAG_INT) == 0) {
        json_int_t v;
        if (yaml_int(s, &v) == 0)
            return json_integer(v);
    }
    if (strcmp(t, TAG_FLOAT) == 0 && !strchr(s, '_') && s[0] != '.' &&
        strstr(s, ".inf") == NULL)
        return json_real(strtod(s, NULL));
    return cli_jstr(s, len);
}

/* Build the value whose first event is *ev (already parsed); NULL with a
 * reason in err. */
static json_t *
read_node(yaml_parser_t *p, yaml_event_t *ev, const char **err)
{
    json_t *v = NULL;
    yaml_event_t next;

    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        v = scalar_value(ev);
        break;
    case YAML_SEQUENCE_START_EVENT:
        v = json_array();
        for (;;) {
            json_t *item;
            if (!yaml_parser_parse(p, &next)) {
                *err = p->problem ? p->problem : "parse error";
                json_decref(v);
                return NULL;
            }
            if (next.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&next);
                break;
            }
            item = read_node(p, &next, err);
            yaml_event_delete(&next);
            if (!item) {
                json_decref(v);
                return NULL;
            }
            json_array_append_new(v, item);
        }
        break;
    case YAML_MAPPING_START_EVENT:
        v = json_object();
        for (;;) {
            json_t *key, *item;
            if (!yaml_parser_parse(p, &next)) {
                *err = p->problem ? p->problem : "parse error";
                json_decref(v);
                return NULL;
            }
            if (next.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&next);
                break;
            }
            key = read_node(p, &next, err);
            yaml_event_delete(&next);
            if (!key || !json_is_string(key)) {
                if (key)
                    *err = "a mapping key that is not a string";
                json_decref(key);
                json_decref(v);
                return NULL;
            }
            if (!yaml_parser_parse(p, &next)) {
                *err = p->problem ? p->problem : "parse error";
                json_decref(key);
                json_decref(v);
                return NULL;
            }
            item = read_node(p, &next, err);
            yaml_event_delete(&next);
            if (!item) {
                json_decref(key);
                json_decref(v);
                return NULL;
            }
            json_object_set_new(v, json_string_value(key), item);
            json_decref(key);
        }
        break;
    default:
        *err = "anchors and aliases are not supported";
        return NULL;
    }
    if (!v)
        *err = "out of memory";
    return v;
}

json_t *
cli_yaml_load(const char *s, size_t len, const char **err)
{
    yaml_parser_t p;
    yaml_event_t ev;
    json_t *doc = NULL;
    int done = 0;

    *err = NULL;
    if (!yaml_parser_initialize(&p)) {
        *err = "out of memory";
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)s, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            *err = p.problem ? p.problem : "parse error";
            json_decref(doc);
            doc = NULL;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_ALIAS_EVENT:
            if (doc) { /* a second document */
                *err = "more than one document";
                json_decref(doc);
                doc = NULL;
                done = 1;
                break;
            }
            if (!(doc = read_node(&p, &ev, err)))
                done = 1;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (!doc && !*err)
        doc = json_null(); /* an empty stream, as ruamel's load: None */
    return doc;
}
