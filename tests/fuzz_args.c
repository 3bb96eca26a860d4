/*
 * fuzz_args.c: a fuzz target for the CLI's argument parsing (issue 27):
 * tools/lmq_args.c, which reads --attributes, --tags, --entries,
 * --message-attributes and the other structured flags as JSON or as the
 * AWS CLI's shorthand, lists, base64, numbers, durations and ISO times.
 *
 * Input format: byte 0 picks the parser (its value modulo FA__COUNT),
 * byte 1 is flags, the rest is the payload:
 *   0 FA_SHORTHAND  cli_shorthand(payload up to its first NUL): NULL with
 *                   an error message, or an object whose leaves are all
 *                   strings (shorthand scalars are strings)
 *   1 FA_MAP        payload lines (split at '\n', NULs kept) as the tokens
 *                   of one flag -> cli_parse_map: NULL or an object
 *   2 FA_LIST       the same -> cli_parse_list: NULL or an array
 *   3 FA_STRUCTS    the same -> cli_parse_structs: NULL or an array
 *   4 FA_B64        cli_b64_decode; decoded bytes encode and decode again
 *                   to the same bytes
 *   5 FA_SCALARS    cli_parse_int (a parsed int prints and parses back to
 *                   itself), cli_parse_duration (flags bit 0: bare
 *                   seconds; a result is >= 0), cli_parse_iso_time
 * The parsers print the AWS CLI's error messages to stderr; the short mode
 * sends them to /dev/null.
 *
 * Short mode (CI): tests/check_fuzz_args.c runs every file of
 * tests/data/fuzz_args (seeds, and the input of every finding, named
 * crash-*), then lmq_fuzz_args_short(): the seeds made here mutated by
 * tests/fuzz_mutate.c, a bounded number of inputs per parser.
 *
 * Long mode (libFuzzer, by hand, clang 14 here):
 *
 *   mkdir -p /tmp/fuzza && cd /tmp/fuzza &&
 *   S=/work/main && clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -I$S/include -I$S/tools -I$S/tests \
 *     $S/tests/fuzz_args.c $S/tests/fuzz_mutate.c $S/tools/lmq_args.c \
 *     $S/tools/lmq_out.c $S/tools/lmq_query.c $S/tools/lmq_width.c \
 *     $S/lib/error.c -ljansson -o fuzz_args &&
 *   mkdir -p corpus && FUZZ_ARGS_SEEDS=corpus ./fuzz_args &&
 *   ./fuzz_args -max_total_time=600 -max_len=4096 -close_fd_mask=2 \
 *     corpus $S/tests/data/fuzz_args
 *
 * (FUZZ_ARGS_SEEDS=dir writes the generated seeds to dir and exits.)
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_mutate.h"
#include "lmq_cli.h"

enum { FA_SHORTHAND, FA_MAP, FA_LIST, FA_STRUCTS, FA_B64, FA_SCALARS,
       FA__COUNT };

static const char *const fa_names[FA__COUNT] = {
    "shorthand", "map", "list", "structs", "b64", "scalars"};

#define MAXIN 4096

/* Results per parser: [k][0] accepted, [k][1] refused. */
static unsigned long fa_count[FA__COUNT][2];

int lmq_fuzz_args_one(const uint8_t *data, size_t size, char *why,
                      size_t wn);
int lmq_fuzz_args_short(unsigned per_parser, uint64_t seed, char *why,
                        size_t wn);
const char *lmq_fuzz_args_name(unsigned k);
unsigned long lmq_fuzz_args_count(unsigned k, int refused);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

const char *
lmq_fuzz_args_name(unsigned k)
{
    return k < FA__COUNT ? fa_names[k] : NULL;
}

unsigned long
lmq_fuzz_args_count(unsigned k, int refused)
{
    return k < FA__COUNT ? fa_count[k][refused != 0] : 0;
}

static bool
leaves_are_strings(json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return true;
    case JSON_OBJECT:
        json_object_foreach(v, k, x) if (!leaves_are_strings(x)) return false;
        return true;
    case JSON_ARRAY:
        json_array_foreach(v, i, x) if (!leaves_are_strings(x)) return false;
        return true;
    default:
        return false;
    }
}

/* The payload's lines as one flag's tokens (each NUL-terminated). */
static void
split(const uint8_t *p, size_t n, cli_opt *o, cli_tok *tok, char *buf)
{
    memcpy(buf, p, n);
    buf[n] = '\0';
    o->set = 1;
    o->n = 0;
    o->tok = tok;
    size_t start = 0;
    for (size_t i = 0; i <= n && o->n < 64; i++) {
        if (i == n || buf[i] == '\n') {
            buf[i] = '\0';
            tok[o->n].s = buf + start;
            tok[o->n].len = i - start;
            o->n++;
            start = i + 1;
        }
    }
}

static int
fa_struct(unsigned k, const uint8_t *p, size_t n, char *why, size_t wn)
{
    static char buf[MAXIN + 1];
    cli_tok tok[64];
    cli_opt o;
    split(p, n, &o, tok, buf);
    json_t *v = k == FA_MAP    ? cli_parse_map("fuzz", &o)
                : k == FA_LIST ? cli_parse_list("fuzz", &o)
                               : cli_parse_structs("fuzz", &o);
    if (!v)
        return 1;
    json_type want = k == FA_MAP ? JSON_OBJECT : JSON_ARRAY;
    int rc = 0;
    if (json_typeof(v) != want) {
        snprintf(why, wn, "%s: a JSON value of type %d", fa_names[k],
                 (int)json_typeof(v));
        rc = -1;
    }
    json_decref(v);
    return rc;
}

static int
fa_b64(const uint8_t *p, size_t n, char *why, size_t wn)
{
    static char buf[MAXIN + 1];
    memcpy(buf, p, n);
    buf[n] = '\0';
    unsigned char *d, *d2;
    size_t dl, dl2;
    if (cli_b64_decode(buf, &d, &dl) != 0)
        return 1;
    char *e = cli_b64_encode(d, dl);
    int rc = 0;
    if (!e || cli_b64_decode(e, &d2, &dl2) != 0) {
        snprintf(why, wn, "b64: an encoding does not decode");
        rc = -1;
    } else {
        if (dl2 != dl || memcmp(d, d2, dl) != 0) {
            snprintf(why, wn, "b64: decode(encode(x)) != x");
            rc = -1;
        }
        free(d2);
    }
    free(e);
    free(d);
    return rc;
}

static int
fa_scalars(const uint8_t *p, size_t n, unsigned flags, char *why, size_t wn)
{
    static char buf[MAXIN + 1];
    memcpy(buf, p, n);
    buf[n] = '\0';
    int accepted = 0, x, y;
    if (cli_parse_int(buf, &x) == 0) {
        char again[32];
        snprintf(again, sizeof again, "%d", x);
        if (cli_parse_int(again, &y) != 0 || y != x) {
            snprintf(why, wn, "int: %d does not parse back", x);
            return -1;
        }
        accepted = 1;
    }
    int64_t ms;
    if (cli_parse_duration(buf, flags & 1, &ms) == 0) {
        if (ms < 0) {
            snprintf(why, wn, "duration: %lld ms", (long long)ms);
            return -1;
        }
        accepted = 1;
    }
    if (cli_parse_iso_time(buf, &ms) == 0)
        accepted = 1;
    return !accepted;
}

/* One input: 0 accepted, 1 refused cleanly, -1 a broken promise (why). */
int
lmq_fuzz_args_one(const uint8_t *data, size_t size, char *why, size_t wn)
{
    why[0] = '\0';
    if (size < 2)
        return 1;
    unsigned k = data[0] % FA__COUNT, flags = data[1];
    const uint8_t *p = data + 2;
    size_t n = size - 2 > MAXIN ? MAXIN : size - 2;
    int rc;
    switch (k) {
    case FA_SHORTHAND: {
        static char buf[MAXIN + 1];
        char err[512];
        memcpy(buf, p, n);
        buf[n] = '\0';
        json_t *v = cli_shorthand(buf, err, sizeof err);
        if (!v) {
            rc = 1;
            if (!err[0]) {
                snprintf(why, wn, "shorthand: refused without a message");
                rc = -1;
            }
        } else {
            rc = 0;
            if (!json_is_object(v) || !leaves_are_strings(v)) {
                snprintf(why, wn, "shorthand: not an object of strings");
                rc = -1;
            }
            json_decref(v);
        }
        break;
    }
    case FA_MAP:
    case FA_LIST:
    case FA_STRUCTS:
        rc = fa_struct(k, p, n, why, wn);
        break;
    case FA_B64:
        rc = fa_b64(p, n, why, wn);
        break;
    default:
        rc = fa_scalars(p, n, flags, why, wn);
    }
    if (rc >= 0)
        fa_count[k][rc]++;
    return rc;
}

/* ---- seeds -------------------------------------------------------------- */

static const char *const seeds[][2] = {
    {"\x00", "a=b,c=d"},
    {"\x00", "RedrivePolicy={deadLetterTargetArn=arn:aws:sqs:us-east-1:"
             "000000000000:dlq,maxReceiveCount=5},DelaySeconds=10"},
    {"\x00", "Key=[a,b],Other=a,b,c=d"},
    {"\x00", "Key='a,b',K2=\"x}y\",K3='it\\'s'"},
    {"\x00", "color={DataType=String,StringValue=red}"},
    {"\x01", "{\"VisibilityTimeout\":\"30\",\"FifoQueue\":\"true\"}"},
    {"\x01", "env=test,team=queues\nowner=me"},
    {"\x01", "color={DataType=String,StringValue=red},n={DataType=Number,"
             "StringValue=42},b={DataType=Binary,BinaryValue=AAEC}"},
    {"\x02", "All\nApproximateNumberOfMessages\nPolicy"},
    {"\x02", "[\"All\",\"QueueArn\"]"},
    {"\x03", "Id=a,MessageBody=hello,DelaySeconds=5\nId=b,MessageBody=x,"
             "MessageGroupId=g"},
    {"\x03", "[{\"Id\":\"a\",\"MessageBody\":\"hi\",\"MessageAttributes\":{"
             "\"k\":{\"DataType\":\"String\",\"StringValue\":\"v\"}}}]"},
    {"\x03", "Id=1,ReceiptHandle=abc,VisibilityTimeout=30"},
    {"\x04", "aGVsbG8gd29ybGQ="},
    {"\x04", "AAECAwQFBgcICQoLDA0ODw=="},
    {"\x05", "42"},
    {"\x05", "1m30s"},
    {"\x05", "250ms"},
    {"\x05", "2026-12-07T13:27:00.123Z"},
};
#define NSEEDS (sizeof seeds / sizeof seeds[0])

static size_t
seed_bytes(size_t i, uint8_t *b, unsigned flags)
{
    size_t l = strlen(seeds[i][1]);
    b[0] = (uint8_t)seeds[i][0][0];
    b[1] = (uint8_t)flags;
    memcpy(b + 2, seeds[i][1], l);
    return l + 2;
}

static void
describe(char *why, size_t wn, const uint8_t *b, size_t n)
{
    size_t used = strlen(why);
    int w = snprintf(why + used, wn - used, " (input of %zu bytes:", n);
    used += w > 0 ? (size_t)w : 0;
    for (size_t i = 0; i < n && i < 48 && used + 4 < wn; i++, used += 3)
        snprintf(why + used, wn - used, " %02x", b[i]);
    if (used + 2 < wn)
        snprintf(why + used, wn - used, ")");
}

int
lmq_fuzz_args_short(unsigned per_parser, uint64_t seed, char *why, size_t wn)
{
    static uint8_t buf[MAXIN + 600];
    uint64_t s = seed ? seed : 0x9e3779b97f4a7c15ull;
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    if (saved < 0 || null < 0)
        return -1;
    fflush(stderr);
    dup2(null, 2);
    close(null);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < NSEEDS; i++) {
        size_t n = seed_bytes(i, buf, 0);
        if (lmq_fuzz_args_one(buf, n, why, wn) != 0) {
            if (!why[0])
                snprintf(why, wn, "seed %zu refused", i);
            describe(why, wn, buf, n);
            rc = -1;
        }
    }
    for (unsigned k = 0; rc == 0 && k < FA__COUNT; k++) {
        size_t idx[NSEEDS], ni = 0;
        for (size_t i = 0; i < NSEEDS; i++)
            if ((unsigned)seeds[i][0][0] == k)
                idx[ni++] = i;
        for (unsigned it = 0; rc == 0 && it < per_parser; it++) {
            size_t n = seed_bytes(idx[lmq_fuzz_rnd(&s) % ni], buf,
                                  (unsigned)lmq_fuzz_rnd(&s));
            n = lmq_fuzz_mutate(&s, buf, n, MAXIN);
            if (lmq_fuzz_args_one(buf, n, why, wn) < 0) {
                describe(why, wn, buf, n);
                rc = -1;
            }
        }
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    return rc;
}

/* libFuzzer: FUZZ_ARGS_SEEDS=dir writes the seeds and exits (before any
 * input, so libFuzzer records no crash for it). */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FUZZ_ARGS_SEEDS");
    if (!dir)
        return 0;
    for (size_t i = 0; i < NSEEDS; i++) {
        uint8_t b[MAXIN];
        char path[512];
        size_t n = seed_bytes(i, b, i % 2);
        snprintf(path, sizeof path, "%s/seed-%02zu", dir, i);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(b, 1, n, f);
            fclose(f);
        }
    }
    exit(0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[1024];
    if (lmq_fuzz_args_one(data, size, why, sizeof why) < 0) {
        fprintf(stderr, "fuzz_args: %s\n", why);
        abort();
    }
    return 0;
}
