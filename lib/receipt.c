/*
 * receipt.c: receipt handles.
 *
 * A handle names one delivery: (queue id, message seq, delivery number),
 * where the delivery number is the message's receive count after that
 * delivery. The 17 bytes (version, qid, seq, gen) are followed by a 16-byte
 * keyed BLAKE2b MAC (libsodium crypto_generichash, keyed with the home's
 * secret) and written as unpadded URL-safe base64: 44 characters. A handle
 * that does not decode, has the wrong length, or whose MAC does not verify
 * is ReceiptHandleIsInvalid; one from another queue carries that queue's id
 * and is rejected by the caller. Queue ids are never reused, so a handle
 * from a deleted queue never matches a new queue of the same name.
 *
 * Rejected: encrypting the handle (nothing in it is secret) and storing
 * handles (a lookup per delete, and state to expire).
 */
#include "core.h"

#include <sodium.h>
#include <string.h>

#define RH_VERSION 1
#define RH_BODY 17
#define RH_MAC 16
#define RH_RAW (RH_BODY + RH_MAC)

void
lmq__receipt_make(const lmq_env *env, uint32_t qid, uint64_t seq,
                  uint32_t gen, char out[LMQ_RECEIPT_MAX])
{
    uint8_t raw[RH_RAW];
    raw[0] = RH_VERSION;
    lmq__put_u32(raw + 1, qid);
    lmq__put_u64(raw + 5, seq);
    lmq__put_u32(raw + 13, gen);
    crypto_generichash(raw + RH_BODY, RH_MAC, raw, RH_BODY, env->secret,
                       sizeof env->secret);
    sodium_bin2base64(out, LMQ_RECEIPT_MAX, raw, RH_RAW,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int
lmq__receipt_parse(const lmq_env *env, const char *s, uint32_t *qid,
                   uint64_t *seq, uint32_t *gen)
{
    uint8_t raw[RH_RAW + 1], mac[RH_MAC];
    size_t len = 0;
    const char *end = NULL;
    if (!s || !*s)
        return lmq__seterr(LMQ_EMISSING, "The request must contain the "
                                         "parameter ReceiptHandle.");
    if (strlen(s) > 1024 ||
        sodium_base642bin(raw, sizeof raw, s, strlen(s), NULL, &len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        *end != '\0' || len != RH_RAW || raw[0] != RH_VERSION)
        goto bad;
    crypto_generichash(mac, RH_MAC, raw, RH_BODY, env->secret,
                       sizeof env->secret);
    if (sodium_memcmp(mac, raw + RH_BODY, RH_MAC) != 0)
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
