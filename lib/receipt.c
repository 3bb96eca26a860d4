/*
 * receipt.c: receipt handles.
 *
 * A handle names one delivery: (queue id, message seq, delivery number),
 * where the delivery number is the message's receive count after that
 * delivery. The 17 bytes (version, qid, seq, gen) are followed by a 16-byte
 * MAC and written as unpadded URL-safe base64: 44 characters. A handle that
 * does not decode, has the wrong length, or whose MAC does not verify is
 * ReceiptHandleIsInvalid; one from another queue carries that queue's id and
 * is rejected by the caller. Queue ids are never reused, so a handle from a
 * deleted queue never matches a new queue of the same name.
 *
 * The MAC: version 2 (made now) is SipHash-2-4 with 128-bit output
 * (libsodium crypto_shorthash_siphashx24) under a key derived once per env
 * from the home's secret; version 1 handles (keyed BLAKE2b-128 under the
 * secret itself) still verify. SipHash is a PRF built for short inputs and
 * costs a tenth of keyed BLAKE2b here, whose key alone is a full block; with
 * base64 done by table instead of libsodium's constant-time codec (nothing
 * in a handle is secret), making and checking handles went from ~10 % of a
 * receive+delete to ~2 % of its instructions.
 *
 * Rejected: encrypting the handle (nothing in it is secret) and storing
 * handles (a lookup per delete, and state to expire).
 */
#include "core.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

#define RH_V1 1 /* BLAKE2b-128 keyed with the secret */
#define RH_V2 2 /* SipHash-2-4-128 keyed with the derived key */
#define RH_BODY 17
#define RH_MAC 16
#define RH_RAW (RH_BODY + RH_MAC)
#define RH_CHARS (RH_RAW / 3 * 4) /* 33 bytes: no padding bits */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Decoding by table: a handle's characters are random, so the branches of
 * a range test mispredict (perf: lmq__receipt_parse was ~10 % of a
 * receive+delete's cycles). Built once from b64: 0 = not a base64url
 * character, else value+1. */
static uint8_t b64rev[256];
static pthread_once_t b64rev_once = PTHREAD_ONCE_INIT;

static void
b64rev_init(void)
{
    for (int v = 0; v < 64; v++)
        b64rev[(unsigned char)b64[v]] = (uint8_t)(v + 1);
}

void
lmq__receipt_init(lmq_env *env)
{
    static const char ctx[] = "lmq receipt handle mac v2";
    pthread_once(&b64rev_once, b64rev_init); /* before any handle is read */
    crypto_generichash(env->receipt_key, sizeof env->receipt_key,
                       (const unsigned char *)ctx, sizeof ctx - 1,
                       env->secret, sizeof env->secret);
}

static void
mac(const lmq_env *env, int version, const uint8_t *body, uint8_t *out)
{
    if (version == RH_V1)
        crypto_generichash(out, RH_MAC, body, RH_BODY, env->secret,
                           sizeof env->secret);
    else
        crypto_shorthash_siphashx24(out, body, RH_BODY, env->receipt_key);
}

void
lmq__receipt_make(const lmq_env *env, uint32_t qid, uint64_t seq,
                  uint32_t gen, char out[LMQ_RECEIPT_MAX])
{
    uint8_t raw[RH_RAW];
    raw[0] = RH_V2;
    lmq__put_u32(raw + 1, qid);
    lmq__put_u64(raw + 5, seq);
    lmq__put_u32(raw + 13, gen);
    mac(env, RH_V2, raw, raw + RH_BODY);
    for (size_t i = 0, o = 0; i < RH_RAW; i += 3, o += 4) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
                     raw[i + 2];
        out[o] = b64[v >> 18];
        out[o + 1] = b64[(v >> 12) & 63];
        out[o + 2] = b64[(v >> 6) & 63];
        out[o + 3] = b64[v & 63];
    }
    out[RH_CHARS] = '\0';
}

int
lmq__receipt_parse(const lmq_env *env, const char *s, uint32_t *qid,
                   uint64_t *seq, uint32_t *gen)
{
    uint8_t raw[RH_RAW], want[RH_MAC];
    if (!s || !*s)
        return lmq__seterr(LMQ_EMISSING, "The request must contain the "
                                         "parameter ReceiptHandle.");
    if (strnlen(s, RH_CHARS + 1) != RH_CHARS)
        goto bad;
    uint8_t ok = 1;
    for (size_t i = 0, o = 0; i < RH_CHARS; i += 4, o += 3) {
        uint32_t a = b64rev[(unsigned char)s[i]],
                 b = b64rev[(unsigned char)s[i + 1]],
                 c = b64rev[(unsigned char)s[i + 2]],
                 d = b64rev[(unsigned char)s[i + 3]];
        ok &= (a != 0) & (b != 0) & (c != 0) & (d != 0);
        uint32_t v = (a - 1) << 18 | (b - 1) << 12 | (c - 1) << 6 | (d - 1);
        raw[o] = (uint8_t)(v >> 16);
        raw[o + 1] = (uint8_t)(v >> 8);
        raw[o + 2] = (uint8_t)v;
    }
    if (!ok || (raw[0] != RH_V1 && raw[0] != RH_V2))
        goto bad;
    mac(env, raw[0], raw, want);
    if (sodium_memcmp(want, raw + RH_BODY, RH_MAC) != 0)
        goto bad;
    *qid = lmq__get_u32(raw + 1);
    *seq = lmq__get_u64(raw + 5);
    *gen = lmq__get_u32(raw + 13);
    return 0;
bad:
    return lmq__seterr(LMQ_ERECEIPT,
                       "The input receipt handle \"%.200s\" is not a valid "
                       "receipt handle.",
                       s);
}
