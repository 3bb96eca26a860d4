/*
 * lmq_filter.h: Lambda event-filter patterns (FilterCriteria) for
 * `lmq consume --event lambda --filter PATTERN` (issue 25).
 *
 * The matcher is self-contained (jansson only) so that a test can link it
 * without the rest of the CLI. See lmq_filter.c for the rules it follows and
 * docs/LAMBDA.md ("Filters") for what users are told.
 */
#ifndef LMQ_FILTER_H
#define LMQ_FILTER_H

#include <jansson.h>
#include <stddef.h>

typedef struct cli_filter cli_filter;

/* Lambda's quotas: 5 filters by default, 10 after a quota increase; each
 * Pattern at most 4,096 characters (Lambda API reference, "Filter"). lmq
 * allows the raised quota. */
#define CLI_FILTER_MAX 10
#define CLI_FILTER_PATTERN_MAX 4096

/* Parse filter criteria: each string is one pattern (JSON object text, e.g.
 * {"body":{"kind":["order"]}} ), as in a Lambda FilterCriteria
 * {"Filters":[{"Pattern":"..."}]}. A string may also be a whole
 * FilterCriteria document; its patterns are added to the others.
 * Returns 0 and sets *out (free it with cli_filter_free), or -1 with *out
 * set to NULL and a message in err ("Invalid filter pattern definition: ..."
 * naming the filter and the problem). */
int cli_filter_parse(const char *const *patterns, size_t n, cli_filter **out,
                     char *err, size_t errlen);

/* 1 when the record matches ANY of the patterns (OR across filters), 0 when
 * not. record is one Lambda SQS event record exactly as sent to the function
 * (json object with messageId, body (a STRING), attributes,
 * messageAttributes, ...). The body is matched as JSON when it is a valid
 * JSON object, as Lambda does; otherwise body patterns match it as a plain
 * string per Lambda's rules. A NULL filter matches everything. */
int cli_filter_match(const cli_filter *f, const json_t *record);

/* The number of patterns held (0 for NULL). */
size_t cli_filter_count(const cli_filter *f);

/* Accepts NULL. */
void cli_filter_free(cli_filter *f);

#endif
