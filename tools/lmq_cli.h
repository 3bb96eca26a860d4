/*
 * lmq_cli.h: declarations shared by the files of the `lmq` command-line tool.
 *
 * lmq.c holds main(), the command table and the SQS subcommands;
 * lmq_args.c turns argv tokens into values (file://, shorthand, JSON);
 * lmq_out.c prints results as the AWS CLI does (JSON and text) and reports
 * errors; lmq_demo.c holds `lmq demo`, lmq_stats.c `lmq stats`.
 */
#ifndef LMQ_CLI_H
#define LMQ_CLI_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "lmq.h"

/* Exit statuses, as AWS CLI v2 documents them (awscli/constants.py):
 * 252 for a command line that could not be parsed or a parameter that
 * failed validation, 253 when the environment or configuration is invalid
 * (here: the home cannot be found, entered or created, or --region names
 * another region than the home's), 254 when the service answered with an
 * error, 255 for anything else (an I/O error, a corrupt home), 130 after
 * SIGINT. */
#define CLI_EXIT_USAGE 252
#define CLI_EXIT_CONFIG 253
#define CLI_EXIT_SERVICE 254
#define CLI_EXIT_OTHER 255
#define CLI_EXIT_INTERRUPTED 130

/* How a flag's value tokens are read. */
typedef enum cli_kind {
    CLI_STRING,  /* one token */
    CLI_INT,     /* one token, a decimal int */
    CLI_MAP,     /* one or more tokens: shorthand or a JSON object */
    CLI_LIST,    /* one or more tokens, or one JSON array */
    CLI_STRUCTS, /* one or more shorthand structs, or a JSON array */
    CLI_BOOL,    /* no token */
    CLI_WORDS    /* the command's positional words (`lmq clock advance
                    30s`); name is how help shows them, never a flag */
} cli_kind;

typedef struct cli_flag {
    const char *name; /* without the leading "--" */
    cli_kind kind;
    int required;
    const char *help;
} cli_flag;

typedef enum cli_output {
    CLI_OUT_DEFAULT = 0, /* json for SQS commands, a table for stats */
    CLI_OUT_JSON,
    CLI_OUT_TEXT,
    CLI_OUT_TABLE,
    CLI_OUT_YAML,
    CLI_OUT_YAML_STREAM
} cli_output;

/* One value token after file:// / fileb:// resolution (NUL-terminated,
 * len bytes; fileb:// data may hold NULs). */
typedef struct cli_tok {
    char *s;
    size_t len;
} cli_tok;

typedef struct cli_opt {
    int set;
    size_t n;
    cli_tok *tok;
} cli_opt;

#define CLI_MAX_FLAGS 24

typedef struct cli_ctx cli_ctx;
typedef int (*cli_fn)(cli_ctx *c);

typedef struct cli_cmd {
    const char *name; /* "send-message" */
    const char *op;   /* "SendMessage": names the operation in errors */
    cli_fn fn;
    const cli_flag *flags; /* terminated by a {NULL} entry */
    const char *summary;
    int ro; /* reads only: never creates a home (lmq_env_opts.must_exist) */
} cli_cmd;

/* A compiled --query expression (lmq_query.c). */
typedef struct cli_query cli_query;

struct cli_ctx {
    const cli_cmd *cmd;
    cli_opt opt[CLI_MAX_FLAGS]; /* parallel to cmd->flags */
    char *home;
    lmq_durability durability;
    lmq_map_mode map_mode; /* for a home this run creates */
    unsigned flush_interval_ms; /* periodic mode; 0 = the library's default */
    const char *group;          /* --group (argv), or NULL */
    int strict_permissions;     /* --strict-permissions */
    uint64_t max_bytes;         /* --max-home-bytes; 0 = none */
    uint64_t max_messages;      /* --max-home-messages; 0 = none */
    uint64_t disk_reserve;      /* --disk-reserve, when disk_reserve_set */
    int disk_reserve_set;
    cli_output output;
    cli_query *query; /* --query, applied to every printed response */
    int no_paginate;  /* --no-paginate */
    int output_set;   /* --output or $AWS_DEFAULT_OUTPUT given */
    int color;        /* --color: 0 off, 1 on, 2 auto (the default) */
    int debug;        /* --debug: log the steps to stderr */
    const char *skeleton; /* --generate-cli-skeleton KIND, or NULL */
    lmq_env *env; /* opened by cli_env() on first use */
    const char *key_file; /* --key-file (else the library reads
                           * $LMQ_KEY_FILE) */
    const char *key_passphrase_file; /* --key-passphrase-file (else
                                      * $LMQ_KEY_PASSPHRASE_FILE) */
    const char *key_process; /* --key-process (else $LMQ_KEY_PROCESS) */
    const char *region;   /* --region: the home's, or the one it gets */
    const char *account;  /* --account: likewise */
    int must_exist;       /* open existing homes only (read-only command) */
    const char *home_from; /* what chose c->home, for errors: "--home",
                            * "LMQ_HOME" or "the default" */
};

/* ---- lmq_args.c --------------------------------------------------------- */

/* Resolve one argv token: "file://p" (text, must be UTF-8) and "fileb://p"
 * (bytes) read the file, anything else is copied. 0, or -1 after printing
 * the AWS CLI's "Error parsing parameter" message. */
int cli_tok_load(const char *flag, const char *arg, cli_tok *out);

/* Parse a map-shaped value (JSON object or Key=Value shorthand) of the
 * flag's tokens into a new JSON object; NULL after printing the error. */
json_t *cli_parse_map(const char *flag, const cli_opt *o);
/* Parse a list value (space-separated tokens or one JSON array) into a new
 * JSON array of strings; NULL after printing the error. */
json_t *cli_parse_list(const char *flag, const cli_opt *o);
/* Parse a list of structures (shorthand tokens, JSON objects or one JSON
 * array of objects); NULL after printing the error. */
json_t *cli_parse_structs(const char *flag, const cli_opt *o);
/* Shorthand "a=b,c={d=e},f=[g,h]" to a JSON object; NULL with err set. */
json_t *cli_shorthand(const char *s, char *err, size_t errlen);

/* Base64 (RFC 4648, padded). encode returns a malloc'd string; decode
 * returns 0 and a malloc'd buffer, or -1 on bad input. */
char *cli_b64_encode(const void *data, size_t len);
int cli_b64_decode(const char *s, unsigned char **out, size_t *outlen);

/* The value of flag name (without "--") of c's command: NULL when it was
 * not given (or the command has no such flag). */
const cli_opt *cli_opt_get(const cli_ctx *c, const char *name);
/* Its first token, or NULL. */
const char *cli_opt_str(const cli_ctx *c, const char *name);
/* A CLI_INT flag's value (checked while parsing), or def. */
int cli_opt_int(const cli_ctx *c, const char *name, int def);
/* A decimal int, trailing blanks allowed: 0, or -1 (not a number, out of
 * int range). */
int cli_parse_int(const char *s, int *out);
/* "90m", "1m30s", "250ms", "2d": a number with a unit (ms, s, m, h, d),
 * repeatable, in ms. A last number without a unit is seconds when
 * bare_seconds is set, an error otherwise. 0 or -1. */
int cli_parse_duration(const char *s, int bare_seconds, int64_t *ms);
/* "YYYY-MM-DDTHH:MM:SS[.fff]Z" (UTC) to epoch ms. 0 or -1. */
int cli_parse_iso_time(const char *s, int64_t *ms);

/* ---- lmq_out.c ---------------------------------------------------------- */

/* Print a result document as the AWS CLI does (nothing for NULL or an empty
 * object); steals the reference. */
void cli_print(const cli_ctx *c, json_t *doc);
/* Set when --query failed on a response (a function given the wrong
 * types): the error went to stderr and main() exits CLI_EXIT_OTHER. */
extern int cli_query_failed;
/* --cli-binary-format raw-in-base64-out: blob values given in a command
 * (BinaryValue) are their text's bytes, not base64. */
extern int cli_binary_raw;
/* --debug: print "lmq: debug: ..." to stderr when c->debug is set. */
void cli_debug(const cli_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print the AWS CLI's text rendering of doc to f. */
void cli_print_text(FILE *f, json_t *doc);
/* The AWS CLI's --output table for doc, titled by the operation name,
 * fitted to term_width columns, coloured as its ColorizedStyler when color
 * is set (see lmq_out.c). */
void cli_print_table(FILE *f, const char *title, json_t *doc,
                     size_t term_width, int color);
/* Columns of the terminal f writes to; 80 when it is not a terminal. */
size_t cli_term_width(FILE *f);
/* A double as Python's repr() writes it (the shortest form that reads
 * back, with ".0" when it would look like an integer). */
void cli_py_float(double d, char *buf, size_t size);
/* A JSON value as Python's str() prints its decoded form (strings as they
 * are, True, None, lists and dicts as repr()); malloc'd, NULL when out of
 * memory. */
char *cli_py_str(const json_t *v);
/* Apply c's --query to doc (stolen): the result, doc itself without a
 * --query, or NULL after printing the error and setting
 * cli_query_failed. */
json_t *cli_query_apply(const cli_ctx *c, json_t *doc);
/* Epoch ms as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void cli_iso_time(int64_t ms, char *buf, size_t size);
/* Columns a UTF-8 string takes in an AWS CLI table (lmq_width.c). */
size_t cli_text_cols(const char *s);

/* ---- lmq_query.c ------------------------------------------------------------ */

/* Compile a JMESPath expression (see lmq_query.c); NULL with
 * the reason in err when it is malformed or uses what is not supported. */
cli_query *cli_query_compile(const char *expr, char *err, size_t errlen);
/* The expression's value on doc: a new reference, json_null() for null;
 * NULL with the reason in err when a function gets the wrong types. */
json_t *cli_query_search(const cli_query *q, json_t *doc, char *err,
                         size_t errlen);
void cli_query_free(cli_query *q);
/* Report the service error rc of the calling thread's last lmq call as
 * "An error occurred (Code) when calling the Op operation: msg"; returns
 * CLI_EXIT_SERVICE. */
int cli_service_error(const cli_ctx *c, int rc);
/* The same, naming another operation (stats runs several). */
int cli_service_error_op(const char *op, int rc);
/* The same with an explicit SQS code and message. */
int cli_op_error(const char *op, const char *code, const char *msg);
/* msg without lmq's leading "LMQ_XXX: " (the C enum name). */
const char *cli_strip_errmsg(const char *msg);
/* Print a usage error ("lmq: error: ...") with the usage banner; returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* Print AWS CLI's unknown-options error for list ("--a, b"); returns
 * CLI_EXIT_USAGE. */
int cli_unknown_error(const char *list);
/* Print botocore's "Invalid type for parameter PATH, value: V, type: T,
 * valid types: VALID" (V and T as Python shows the JSON value v);
 * returns CLI_EXIT_USAGE. */
int cli_type_error(const char *path, const json_t *v, const char *valid);
/* Print "\nParameter validation failed:\n<text>\n"; returns
 * CLI_EXIT_USAGE. */
int cli_param_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* A JSON string of len bytes (never NULL for valid UTF-8). */
json_t *cli_jstr(const char *s, size_t len);

/* ---- lmq_page.c ------------------------------------------------------------ */

/* The AWS CLI's paging flags, for the flag table of every list command. */
#define CLI_F_PAGING                                                        \
    {"starting-token", CLI_STRING, 0,                                       \
     "NextToken printed by an earlier run: resume there"},                  \
        {"page-size", CLI_INT, 0, "items per call (same output)"},          \
        {"max-items", CLI_INT, 0,                                           \
         "print at most this many, then a NextToken to resume"}

/* One call of a list command: the items of the page (a new JSON array) and
 * the service's next token (malloc'd, NULL on the last page) for at most
 * max items (0: the service's default) after token (NULL: the first).
 * 0, or an exit status after printing the error. */
typedef int (*cli_page_fn)(cli_ctx *c, int max, const char *token,
                           json_t **items, char **next);
/* Run a list command as the AWS CLI does: its --max-results/--next-token or
 * --no-paginate make one call, else the pages are fetched and merged per
 * --page-size, --max-items and --starting-token (see lmq_page.c). key names
 * the list in the output; key_always prints it even when empty. Returns
 * the exit status. */
int cli_paginate(cli_ctx *c, const char *key, int key_always,
                 cli_page_fn fetch);

/* ---- lmq.c -------------------------------------------------------------- */

/* Open the env of the context (once). 0, or an exit status after printing
 * the error. */
int cli_env(cli_ctx *c);
/* Open options for c's home (durability). */
void cli_env_opts(const cli_ctx *c, lmq_env_opts *o);
/* Open c->env with o; print the home's permission warnings (if any) to
 * stderr. 0, or CLI_EXIT_CONFIG / CLI_EXIT_OTHER after printing why not
 * and what to do. */
int cli_env_open(cli_ctx *c, const lmq_env_opts *o);
/* Set by lmq's SIGINT handler (main then exits CLI_EXIT_INTERRUPTED). */
extern volatile sig_atomic_t cli_sigint;

/* ---- lmq_dlq.c ---------------------------------------------------------- */

extern const cli_flag cli_f_list_dead_letter_source_queues[];
extern const cli_flag cli_f_start_message_move_task[];
extern const cli_flag cli_f_list_message_move_tasks[];
extern const cli_flag cli_f_cancel_message_move_task[];
int cli_cmd_list_dead_letter_source_queues(cli_ctx *c);
int cli_cmd_start_message_move_task(cli_ctx *c);
int cli_cmd_list_message_move_tasks(cli_ctx *c);
int cli_cmd_cancel_message_move_task(cli_ctx *c);
/* The DLQ part of `lmq demo` on queues named prefix-jobs / prefix-dlq:
 * 0 when the poison message went to the DLQ and came back. */
int cli_demo_dlq(cli_ctx *c, const char *prefix);

/* ---- lmq_consume.c ------------------------------------------------------ */

/* `lmq consume`: its flags and the command. */
extern const cli_flag cli_consume_flags[];
int cli_cmd_consume(cli_ctx *c);

/* ---- lmq_lambda.c ------------------------------------------------------- */

/* `lmq consume --event lambda`: Lambda's SQS event source mapping, run
 * locally (docs/LAMBDA.md). */

/* Lambda's invocation payload limit (6 MB), for the event and the
 * response. */
#define CLI_LAMBDA_MAX_PAYLOAD (6 * 1024 * 1024)

struct cli_filter;

/* One mapping: where the event goes and how its outcome is read. */
typedef struct cli_lambda {
    lmq_consumer *c;          /* set before the consumer starts */
    const char *cmd;          /* --exec COMMAND, or NULL */
    const char *invoke_url;   /* --invoke-url URL, or NULL */
    const char *queue_url;    /* LMQ_QUEUE_URL of the command */
    char *queue_arn;          /* eventSourceARN (malloc'd) */
    char *region;             /* awsRegion (malloc'd) */
    int report_failures;      /* --report-batch-item-failures */
    int timeout_ms;           /* --function-timeout */
    const struct cli_filter *filter; /* --filter, or NULL */
} cli_lambda;

/* The event record of message m, keys in Lambda's order; NULL when out of
 * memory. */
json_t *cli_lambda_record(const cli_lambda *l, const lmq_msg *m);
/* The bytes m's record adds to an event (the runtime's batch_cost_fn). */
size_t cli_lambda_record_cost(const lmq_msg *m, void *arg);
/* Read a function response (len bytes) for --report-batch-item-failures,
 * as Lambda does (shared/SQS-SEMANTICS.md §9.1): 0 with failed[i] = 1 for
 * each ids[i] listed (none: success), or -1 when the batch failed as a
 * whole (invalid JSON, a bad or unknown itemIdentifier). */
int cli_lambda_response(const char *s, size_t len, const char *const *ids,
                        size_t n, int *failed);
/* The consumer's batch handler: filter, build the event, invoke, settle. */
int cli_lambda_handler(lmq_msg *const *msgs, size_t n, int *failed,
                       void *arg);
/* Run `/bin/sh -c cmd` with environment envp, in[0..inlen) on its stdin,
 * in its own process group, killed (the group) once the consumer call
 * expires. With out != NULL its stdout is collected (malloc'd, NUL-ended,
 * at most CLI_LAMBDA_MAX_PAYLOAD + 1 bytes kept). Returns 0 when it exited
 * 0, 1 when it failed, 2 when it was killed for its timeout, -1 when it
 * could not start. */
int cli_run_command(lmq_consumer *c, const char *cmd, char *const *envp,
                    const char *in, size_t inlen, char **out,
                    size_t *outlen);
/* "NAME=value" (malloc'd), NULL when out of memory. */
char *cli_env_pair(const char *name, const char *value);
/* A command's environment: environ without the variables mine[0..n)
 * ("NAME=value") set, then mine. A calloc'd NULL-terminated array (free
 * it, not its strings), or NULL when out of memory or a mine[i] is NULL. */
char **cli_child_env(char *const *mine, size_t n);

/* ---- lmq_testdouble.c --------------------------------------------------- */

/* `lmq clock`, `lmq peek`, `lmq reset`: the test-double commands. */
extern const cli_flag cli_f_clock[];
extern const cli_flag cli_f_key[];
int cli_cmd_key(cli_ctx *c); /* lmq_key.c */
extern const cli_flag cli_f_peek[];
extern const cli_flag cli_f_reset[];
int cli_cmd_clock(cli_ctx *c);
int cli_cmd_peek(cli_ctx *c);
int cli_cmd_reset(cli_ctx *c);

/* ---- lmq_admin.c ------------------------------------------------------- */

/* `lmq check`, `backup`, `dump`, `load` (docs/OPERATIONS.md). */
extern const cli_flag cli_f_check[];
extern const cli_flag cli_f_backup[];
extern const cli_flag cli_f_dump[];
extern const cli_flag cli_f_load[];
int cli_cmd_check(cli_ctx *c);
int cli_cmd_backup(cli_ctx *c);
int cli_cmd_dump(cli_ctx *c);
int cli_cmd_load(cli_ctx *c);
/* A progress bar on stderr labelled arg (a string). */
void cli_progress(void *arg, uint64_t done, uint64_t total);
/* cli_progress when stderr is a terminal, else NULL: scripts stay quiet. */
lmq_progress_fn cli_progress_fn(void);

/* ---- lmq_bridge.c ------------------------------------------------------- */

/* `lmq bridge`: run, status, resume (docs/BRIDGE.md). */
extern const cli_flag cli_f_bridge[];
int cli_cmd_bridge(cli_ctx *c);

/* ---- lmq.c: shared with the other commands ------------------------------ */

/* A message as receive-message prints it, with the system attributes named
 * in sys1 or sys2 ("All" for every one). */
json_t *cli_message_json(const lmq_msg *m, const char *const *sys1,
                         const char *const *sys2);
/* Its MessageAttributes object, {"Name": {"StringValue" or "BinaryValue"
 * (base64), "DataType"}} ({} when m has none). */
json_t *cli_message_attrs_json(const lmq_msg *m);

/* ---- lmq_demo.c --------------------------------------------------------- */

int cli_cmd_demo(cli_ctx *c);

/* ---- lmq_stats.c -------------------------------------------------------- */

/* `lmq stats`: one sample, --watch, --history, --plot (issue 25). */
extern const cli_flag cli_f_stats[];
int cli_cmd_stats(cli_ctx *c);

/* ---- lmq_complete.c ------------------------------------------------------- */

/* `lmq completion bash|zsh`. */
extern const cli_flag cli_f_completion[];
int cli_cmd_completion(cli_ctx *c);
/* `lmq __complete LINE`: the candidates for the last word of LINE (see
 * lmq_complete.c); cmds is the command table. Returns the exit status. */
int cli_complete(const cli_cmd *cmds, const char *line);

/* ---- lmq_yaml.c ----------------------------------------------------------- */

/* Print doc as the AWS CLI's --output yaml does (libyaml; see lmq_yaml.c). */
void cli_print_yaml(FILE *f, json_t *doc);
/* Read a YAML document (--cli-input-yaml) into a new JSON value; NULL with
 * the reason in *err. An empty document is json_null(). */
json_t *cli_yaml_load(const char *s, size_t len, const char **err);

/* ---- lmq_skel.c, lmq_skel_model.c --------------------------------------- */

/* One member of an operation's input or output shape, from the SQS model
 * the AWS CLI uses (scripts/gen-cli-skeletons.py). */
typedef struct cli_shape {
    const char *name; /* member name; for a list's or map's entry: the
                       * member shape's name; NULL ends a list */
    char type;        /* s string, i integer, b boolean, B blob,
                       * S structure, L list, M map (string keys) */
    unsigned char required;
    const struct cli_shape *sub; /* S: members; L, M: the one entry */
    const char *doc;   /* the comment of the yaml-input skeleton, or NULL */
    const char *enum0; /* a string enum's first value, or NULL */
} cli_shape;

typedef struct cli_skel_op {
    const char *op; /* "SendMessage" */
    const cli_shape *input, *output; /* NULL: none */
} cli_skel_op;

extern const cli_skel_op cli_skel_ops[];

/* --generate-cli-skeleton KIND (input, yaml-input, output) for c's
 * command: prints it and returns the exit status. */
int cli_skeleton(cli_ctx *c, const char *kind);
/* The model's name of cmd's flag ("queue-url": "QueueUrl"), or the flag's
 * own name when the model has none. */
const char *cli_param_name(const cli_cmd *cmd, const char *flag);
/* --cli-input-json / --cli-input-yaml: the top-level members of text (JSON
 * or YAML) become the values of the flags not given on the command line,
 * as the AWS CLI merges them. Members the command does not have and
 * values of the wrong type are written to unknown and types as botocore's
 * validation lines (the caller prints them after the missing ones). 0, or
 * an exit status after printing why the text could not be read. */
int cli_input_merge(cli_ctx *c, const char *flag, const char *text,
                    size_t len, int yaml, FILE *unknown, FILE *types);

#endif
