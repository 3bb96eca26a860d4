/*
 * lmq_skel.c: --generate-cli-skeleton and --cli-input-json /
 * --cli-input-yaml, as the AWS CLI has them for every sqs command.
 *
 * The shapes come from the SQS model the AWS CLI uses, turned into C
 * tables by scripts/gen-cli-skeletons.py (lmq_skel_model.c). From them:
 *
 *  - input: botocore's ArgumentGenerator: a structure's members in model
 *    order, "" for a string (an enum's first value), 0, true, null for a
 *    blob, one entry for a list, {"KeyName": ...} for a map; printed as
 *    json.dump(indent=4) prints it.
 *  - yaml-input: the same members as awscli's YAMLArgumentGenerator prints
 *    them through ruamel.yaml's round-trip dumper, with each member's
 *    comment ("[REQUIRED] " and the first sentence of its documentation).
 *    libyaml cannot write comments, so this fixed layout is printed
 *    directly: the values are only '', 0, true and !!binary ''.
 *  - output: the output shape with every string set to its member name,
 *    printed like a response (--output, --query apply), without running
 *    the command; the flags the command requires must still be given.
 *
 * --cli-input-json/--cli-input-yaml: the document's top-level members are
 * the operation's parameters; each one whose flag was not given on the
 * command line becomes that flag's value (the command line wins, member
 * by member, nothing deeper is merged), as awscli's cliinput.py does. The
 * values then go through the same parsing as typed flags.
 */
#include "lmq_cli.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const cli_skel_op *
skel_op(const char *op)
{
    for (size_t i = 0; op && cli_skel_ops[i].op; i++)
        if (strcmp(cli_skel_ops[i].op, op) == 0)
            return &cli_skel_ops[i];
    return NULL;
}

static json_t *skel_value(const cli_shape *m, int names);

static json_t *
skel_struct(const cli_shape *members, int names)
{
    json_t *o = json_object();
    for (size_t i = 0; members && members[i].name; i++)
        json_object_set_new(o, members[i].name, skel_value(&members[i], names));
    return o;
}

/* The placeholder of member m: names (the output skeleton) puts member
 * names in strings, as ArgumentGenerator(use_member_names=True). */
static json_t *
skel_value(const cli_shape *m, int names)
{
    json_t *v;
    switch (m->type) {
    case 'S':
        return skel_struct(m->sub, names);
    case 'L':
        v = json_array();
        json_array_append_new(v, skel_value(&m->sub[0], names));
        return v;
    case 'M':
        v = json_object();
        json_object_set_new(v, "KeyName", skel_value(&m->sub[0], names));
        return v;
    case 'i':
        return json_integer(0);
    case 'b':
        return json_true();
    case 'B':
        return json_null();
    default:
        return json_string(names ? m->name : m->enum0 ? m->enum0 : "");
    }
}

static void
indent(int n)
{
    printf("%*s", n, "");
}

static void yaml_members(const cli_shape *members, int ind, int dash);

/* A scalar placeholder of the yaml-input skeleton. */
static void
yaml_scalar(const cli_shape *m)
{
    if (m->type == 'i')
        fputs("0", stdout);
    else if (m->type == 'b')
        fputs("true", stdout);
    else if (m->type == 'B')
        fputs("!!binary ''", stdout);
    else if (m->enum0)
        fputs(m->enum0, stdout);
    else
        fputs("''", stdout);
}

/* The value of a member, after "Key:" (and its comment) were printed. */
static void
yaml_value(const cli_shape *m, int ind)
{
    const cli_shape *e = m->sub ? &m->sub[0] : NULL;
    if (m->type == 'S') {
        yaml_members(m->sub, ind + 2, 0);
    } else if (m->type == 'M') {
        indent(ind + 2);
        fputs("KeyName:", stdout);
        if (e->type == 'S' || e->type == 'L' || e->type == 'M') {
            fputc('\n', stdout);
            yaml_value(e, ind + 2);
        } else {
            fputc(' ', stdout);
            yaml_scalar(e);
            fputc('\n', stdout);
        }
    } else if (m->type == 'L') {
        /* ruamel's sequences are not indented under their key. */
        if (e->type == 'S') {
            yaml_members(e->sub, ind, 1);
        } else {
            indent(ind);
            fputs("- ", stdout);
            yaml_scalar(e);
            fputc('\n', stdout);
        }
    }
}

/* The members of a structure at column ind; dash: the first one starts a
 * list item ("- "). ruamel puts two spaces before the comment of a
 * structure's first member and one before the others'. */
static void
yaml_members(const cli_shape *members, int ind, int dash)
{
    for (size_t i = 0; members && members[i].name; i++) {
        const cli_shape *m = &members[i];
        int nested = m->type == 'S' || m->type == 'L' || m->type == 'M';
        if (dash && i == 0) {
            indent(ind);
            fputs("- ", stdout);
        } else {
            indent(dash ? ind + 2 : ind);
        }
        printf("%s:", m->name);
        if (!nested) {
            fputc(' ', stdout);
            yaml_scalar(m);
        }
        if (m->doc)
            printf("%s# %s", i == 0 && !nested ? "  " : " ", m->doc);
        fputc('\n', stdout);
        if (nested)
            yaml_value(m, dash ? ind + 2 : ind);
    }
}

int
cli_skeleton(cli_ctx *c, const char *kind)
{
    const cli_skel_op *s = skel_op(c->cmd->op);

    if (!s)
        return cli_usage_error("Unknown options: --generate-cli-skeleton");
    if (strcmp(kind, "output") == 0) {
        if (s->output)
            cli_print(c, skel_struct(s->output, 1));
        return 0;
    }
    if (strcmp(kind, "yaml-input") == 0) {
        if (s->input)
            yaml_members(s->input, 0, 0);
        else
            fputs("{}\n", stdout);
        return 0;
    }
    json_t *doc = s->input ? skel_struct(s->input, 0) : json_object();
    json_dumpf(doc, stdout, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(doc);
    return 0;
}

/* ---- --cli-input-json / --cli-input-yaml --------------------------------- */

/* "QueueUrl" and "queue-url" name the same parameter: compare letters and
 * digits, case folded. */
static int
same_param(const char *member, const char *flag)
{
    for (;;) {
        while (*flag == '-')
            flag++;
        if (!*member || !*flag)
            return !*member && !*flag;
        if (tolower((unsigned char)*member) != tolower((unsigned char)*flag))
            return 0;
        member++;
        flag++;
    }
}

const char *
cli_param_name(const cli_cmd *cmd, const char *flag)
{
    const cli_skel_op *s = skel_op(cmd->op);
    for (size_t i = 0; s && s->input && s->input[i].name; i++)
        if (same_param(s->input[i].name, flag))
            return s->input[i].name;
    return flag;
}

/* Python's type name of a JSON value, for botocore's messages. */
static const char *
py_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return "str";
    case JSON_INTEGER:
        return "int";
    case JSON_REAL:
        return "float";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool";
    case JSON_NULL:
        return "NoneType";
    case JSON_ARRAY:
        return "list";
    default:
        return "dict";
    }
}

/* botocore's line for a value of the wrong type, to the type errors. */
static int
type_error(FILE *types, const char *param, const json_t *v, const char *want)
{
    char *s = cli_py_str(v);
    fprintf(types, "Invalid type for parameter %s, value: %s, type: <class "
                   "'%s'>, valid types: %s\n",
            param, s ? s : "", py_type(v), want);
    free(s);
    return 1;
}

/* The member names of the operation's input, ", "-separated. */
static void
member_list(const cli_ctx *c, char *buf, size_t size)
{
    const cli_skel_op *s = skel_op(c->cmd->op);
    buf[0] = '\0';
    for (size_t i = 0; s && s->input && s->input[i].name; i++) {
        if (i)
            strncat(buf, ", ", size - strlen(buf) - 1);
        strncat(buf, s->input[i].name, size - strlen(buf) - 1);
    }
}

/* Set flag k of c to the one token s (taken). */
static int
set_token(cli_ctx *c, size_t k, char *s)
{
    cli_opt *o = &c->opt[k];
    if (!s || !(o->tok = calloc(1, sizeof *o->tok))) {
        free(s);
        return CLI_EXIT_OTHER;
    }
    o->tok[0].s = s;
    o->tok[0].len = strlen(s);
    o->n = 1;
    o->set = 1;
    return 0;
}

int
cli_input_merge(cli_ctx *c, const char *flag, const char *text, size_t len,
                int yaml, FILE *unknown, FILE *types)
{
    json_t *doc, *v;
    const char *key, *err = NULL;
    json_error_t jerr;
    int rc = 0;

    if (yaml)
        doc = cli_yaml_load(text, len, &err);
    else
        doc = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!doc) {
        fprintf(stderr, "\nError parsing parameter '%s': Invalid %s "
                        "received.\n",
                flag, yaml ? "YAML" : "JSON");
        return CLI_EXIT_USAGE;
    }
    if (!json_is_object(doc)) {
        fprintf(stderr, "\nError parsing parameter '--%s': Invalid type: "
                        "expecting map, received <class '%s'>\n",
                flag, py_type(doc));
        json_decref(doc);
        return CLI_EXIT_USAGE;
    }
    json_object_foreach(doc, key, v) {
        size_t k;
        int bad = 0;
        const cli_flag *f = NULL;
        for (k = 0; c->cmd->flags[k].name; k++)
            if (c->cmd->flags[k].kind != CLI_WORDS &&
                same_param(key, c->cmd->flags[k].name)) {
                f = &c->cmd->flags[k];
                break;
            }
        if (!f) {
            char list[1024];
            member_list(c, list, sizeof list);
            fprintf(unknown, "Unknown parameter in input: \"%s\", must be "
                             "one of: %s\n",
                    key, list);
            continue;
        }
        if (c->opt[k].set) /* the command line wins */
            continue;
        if (json_is_null(v))
            continue; /* botocore drops None from the input */
        switch (f->kind) {
        case CLI_STRING:
            if (!json_is_string(v))
                bad = type_error(types, key, v, "<class 'str'>");
            else
                rc = set_token(c, k, strdup(json_string_value(v)));
            break;
        case CLI_INT:
            if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
                json_integer_value(v) > INT32_MAX)
                bad = type_error(types, key, v, "<class 'int'>");
            else
                rc = set_token(c, k, json_dumps(v, JSON_ENCODE_ANY));
            break;
        case CLI_BOOL:
            if (!json_is_boolean(v))
                bad = type_error(types, key, v, "<class 'bool'>");
            else if (json_is_true(v))
                c->opt[k].set = 1;
            break;
        default:
            rc = set_token(c, k,
                           json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
                                             JSON_PRESERVE_ORDER));
            break;
        }
        if (rc)
            break;
        /* A value of the wrong type is still present for the check of the
         * required members, as in botocore. */
        if (bad)
            c->opt[k].set = 1;
    }
    json_decref(doc);
    return rc;
}
