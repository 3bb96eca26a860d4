/*
 * fuzz_mutate.c: the mutator of the short (CI) modes of the fuzz targets
 * (tests/fuzz_store.c, tests/fuzz_args.c): a seeded xorshift64* PRNG and
 * random edits of an input (bit flips, interesting bytes and integers,
 * truncation, inserted tokens, duplicated slices, deletions). Bytes 0 and
 * 1 of an input are a target's selector and flags: edits keep byte 0 and
 * sometimes draw new flags.
 */
#include "fuzz_mutate.h"

#include <string.h>

uint64_t
lmq_fuzz_rnd(uint64_t *s)
{
    /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static const char *const tokens[] = {
    "\0", "\xff", "\xc0\x80", "\xed\xa0\x80", "\xef\xbf\xbf", "\xf4\x90\x80\x80",
    "99999999999999999999999", "-1", "2147483648", "9223372036854775808",
    "1e999", "-0", "null", "true", "\"\"", "{}", "[]", ",", ":", "\"", "\\",
    "\\u0000", "\\ud800", "\t", "\n", "=", ".", "..", "AWS.", "Amazon.",
    "String", "Number", "Binary", "arn:aws:sqs:us-east-1:000000000000:",
    "\"maxReceiveCount\":", "\"deadLetterTargetArn\":",
    "\"redrivePermission\":", "\"sourceQueueArns\":", "byQueue", "allowAll",
    "[[[[[[[[[[[[[[[[", "{\"a\":{\"a\":{\"a\":", "LMQWAL01", "LMQFLUSH",
    /* the CLI's shorthand (tools/lmq_args.c) */
    "={", "=[", "}", "]", "'", "\\'", "a=b", ",c=", "={x={y={z=", "file://",
    "fileb://", "DataType=", "StringValue=", "BinaryValue=", "Id=",
    "MessageBody=", "1m30s", "250ms", "2026-01-01T00:00:00Z", "=\"x,y\"",
};

size_t
lmq_fuzz_mutate(uint64_t *s, uint8_t *b, size_t n, size_t max)
{
    unsigned k = 1 + (unsigned)(lmq_fuzz_rnd(s) % 4);
    for (unsigned m = 0; m < k; m++) {
        size_t pos = n > 2 ? 2 + (size_t)(lmq_fuzz_rnd(s) % (n - 2)) : 2;
        switch (lmq_fuzz_rnd(s) % 10) {
        case 0: /* flip a bit */
            if (pos < n)
                b[pos] ^= (uint8_t)(1u << (lmq_fuzz_rnd(s) % 8));
            break;
        case 1: { /* an interesting byte */
            static const uint8_t v[] = {0, 0xff, 0x7f, 0x80, 1, 2, 3, 4,
                                        5, '"', '{', '\\', '\t', '\n'};
            if (pos < n)
                b[pos] = v[lmq_fuzz_rnd(s) % sizeof v];
            break;
        }
        case 2: /* truncate */
            if (n > 2)
                n = 2 + (size_t)(lmq_fuzz_rnd(s) % (n - 2));
            break;
        case 3: { /* insert a token */
            const char *t = tokens[lmq_fuzz_rnd(s) % (sizeof tokens / sizeof *tokens)];
            size_t tl = *t ? strlen(t) : 1; /* "\0" is one NUL byte */
            if (n + tl <= max && pos <= n) {
                memmove(b + pos + tl, b + pos, n - pos);
                memcpy(b + pos, t, tl);
                n += tl;
            }
            break;
        }
        case 4:
        case 5: { /* an interesting big-endian integer (lengths, ids) */
            static const uint64_t v[] = {0, 1, 23, 24, 25, 0x7f, 0x80, 0xff,
                                         0xffff, 0x10000, 0x7fffffff,
                                         0xffffffff, UINT64_MAX,
                                         0x8000000000000000ULL};
            unsigned w = lmq_fuzz_rnd(s) % 2 ? 4 : lmq_fuzz_rnd(s) % 2 ? 2 : 8;
            uint64_t x = v[lmq_fuzz_rnd(s) % (sizeof v / sizeof *v)];
            if (lmq_fuzz_rnd(s) % 3 == 0 && n > 2)
                x = (n - 2) + (uint64_t)(lmq_fuzz_rnd(s) % 5) - 2; /* near the size */
            if (pos + w <= n)
                for (unsigned i = 0; i < w; i++)
                    b[pos + i] = (uint8_t)(x >> (8 * (w - 1 - i)));
            break;
        }
        case 6: { /* duplicate a slice */
            if (n < 3)
                break;
            size_t from = 2 + (size_t)(lmq_fuzz_rnd(s) % (n - 2));
            size_t len = 1 + (size_t)(lmq_fuzz_rnd(s) % (n - from));
            if (len > 512)
                len = 512;
            if (pos <= n && n + len <= max) {
                uint8_t tmp[512];
                memcpy(tmp, b + from, len);
                memmove(b + pos + len, b + pos, n - pos);
                memcpy(b + pos, tmp, len);
                n += len;
            }
            break;
        }
        case 7: /* new flags */
            b[1] = (uint8_t)lmq_fuzz_rnd(s);
            break;
        case 8: /* add or subtract a little */
            if (pos < n)
                b[pos] = (uint8_t)(b[pos] + (lmq_fuzz_rnd(s) % 7) - 3);
            break;
        default: /* delete a byte */
            if (pos < n) {
                memmove(b + pos, b + pos + 1, n - pos - 1);
                n--;
            }
        }
    }
    return n;
}

