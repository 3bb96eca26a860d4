/*
 * seal.c: encryption at rest of message records (docs/SECURITY.md,
 * "Encryption at rest").
 *
 * A queue is sealed with one key of the env's keyring (keyring.c): the home
 * key (SqsManagedSseEnabled=true) or a named one (KmsMasterKeyId). Its
 * record keeps the key's fingerprint. A message record of a sealed queue
 * (codec.c, version 3) keeps in the clear only what indexes and timers need
 * (its first header, message id, sent time, group id, sizes); the MD5 of its
 * body, its deduplication id, trace header, DLQ source, attributes and body
 * are sealed with XChaCha20-Poly1305 (libsodium, random 192-bit nonce) under
 * a data key derived from the queue key:
 *   queue key = KDF(key, qid, "lmqqueue"); data key = KDF(queue key, period,
 *   "lmq-data"), period = sent time / KmsDataKeyReusePeriodSeconds,
 * and the associated data is the home id (a keyed hash of the home's
 * secret), the qid, the seq and every clear byte of the record before the
 * ciphertext: a record copied to another home, queue or slot, or altered
 * anywhere, does not open. The FIFO dedup index of a sealed queue holds a
 * keyed BLAKE2b of each id (key: KDF(queue key, 0, "lmqdedup")), never the
 * id.
 */
#include "core.h"
#include "seal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_REUSE 300 /* KmsDataKeyReusePeriodSeconds, as SQS */

static const char *
opt_or_env(const char *v, const char *var)
{
    if (v)
        return *v ? v : NULL;
    v = getenv(var);
    return v && *v ? v : NULL;
}

int
lmq__seal_env_open(lmq_env *env, const lmq_env_opts *o)
{
    static const char hid[] = "lmq home id v1";
    static const char salt_what[] = "lmq passphrase salt v1";
    lmq__keyring *kr = NULL, *more;
    int rc = 0;
    crypto_generichash(env->home_id, sizeof env->home_id,
                       (const uint8_t *)hid, sizeof hid - 1, env->secret,
                       sizeof env->secret);
    const char *file = opt_or_env(o->key_file, "LMQ_KEY_FILE");
    const char *pass = opt_or_env(o->key_passphrase_file,
                                  "LMQ_KEY_PASSPHRASE_FILE");
    const char *proc = opt_or_env(o->key_process, "LMQ_KEY_PROCESS");
    if (file && (rc = lmq__keyring_load(file, &kr)) != 0)
        return rc;
    if (proc) {
        if ((rc = lmq__keyring_process(proc, &more)) != 0)
            goto fail;
        if (!kr)
            kr = more;
        else if ((rc = lmq__keyring_merge(kr, more)) != 0)
            goto fail;
    }
    if (pass) {
        /* The salt is the home's: unique per home, kept with it (derived
         * from its secret), never secret itself. */
        uint8_t salt[16];
        crypto_generichash(salt, sizeof salt, (const uint8_t *)salt_what,
                           sizeof salt_what - 1, env->secret,
                           sizeof env->secret);
        if ((rc = lmq__keyring_passphrase(pass, salt, &more)) != 0)
            goto fail;
        /* The passphrase key is the home key, whatever else is loaded. */
        if (kr) {
            for (size_t i = 0; i < kr->n; i++)
                kr->keys[i].is_default = false;
            if ((rc = lmq__keyring_merge(more, kr)) != 0) {
                kr = NULL;
                lmq__keyring_free(more);
                return rc;
            }
        }
        kr = more;
    }
    env->keyring = kr;
    return 0;
fail:
    lmq__keyring_free(kr);
    return rc;
}

void
lmq__seal_env_close(lmq_env *env)
{
    lmq__keyring_free(env->keyring);
    env->keyring = NULL;
}

static int
no_key(const char *what, const char *name)
{
    return lmq__seterr(LMQ_EKEY, "%s%s%s is not in this home's keyring: open "
                       "the home with its keys (LMQ_KEY_FILE / --key-file, "
                       "LMQ_KEY_PASSPHRASE_FILE, LMQ_KEY_PROCESS)",
                       what, name ? " " : "", name ? name : "");
}

int
lmq__seal_config(const lmq_env *env, lmq_qrec *r, const lmq_map *in,
                 bool creating)
{
    const char *kms = lmq_map_get(r->attrs, "KmsMasterKeyId");
    const char *sse = lmq_map_get(r->attrs, "SqsManagedSseEnabled");
    const char *reuse = lmq_map_get(r->attrs, "KmsDataKeyReusePeriodSeconds");
    if (!creating && !lmq_map_get(in, "KmsMasterKeyId") &&
        !lmq_map_get(in, "SqsManagedSseEnabled") &&
        !lmq_map_get(in, "KmsDataKeyReusePeriodSeconds"))
        return 0; /* untouched: no key needed to change other attributes */
    r->seal_reuse = reuse ? (uint32_t)strtoul(reuse, NULL, 10)
                          : DEFAULT_REUSE;
    const lmq__key *k = NULL;
    if (kms) {
        if (!(k = lmq__keyring_find(env->keyring, kms)))
            return no_key("KMS key", kms);
        r->seal_kind = LMQ_SEAL_KMS;
    } else if (!sse && creating) {
        /* The default: sealed when the home has a key, and said so. */
        k = lmq__keyring_default(env->keyring);
        r->seal_kind = k ? LMQ_SEAL_SQS : LMQ_SEAL_NONE;
        if (lmq_map_set(r->attrs, "SqsManagedSseEnabled",
                        k ? "true" : "false") != 0)
            return lmq__seterr(LMQ_ENOMEM, NULL);
    } else if (sse && strcmp(sse, "true") == 0) {
        if (!(k = lmq__keyring_default(env->keyring)))
            return no_key("a home key (SqsManagedSseEnabled=true)", NULL);
        r->seal_kind = LMQ_SEAL_SQS;
    } else {
        r->seal_kind = LMQ_SEAL_NONE;
    }
    if (k)
        memcpy(r->seal_fp, k->fp, sizeof r->seal_fp);
    else
        memset(r->seal_fp, 0, sizeof r->seal_fp);
    return 0;
}

static const lmq__key *
queue_key(const lmq_env *env, const uint8_t fp[8], const char *qname)
{
    const lmq__key *k = lmq__keyring_by_fp(env->keyring, fp);
    if (!k) {
        char hex[17];
        sodium_bin2hex(hex, sizeof hex, fp, 8);
        lmq__seterr(LMQ_EKEY, "queue %s is sealed with key %s (fingerprint), "
                    "which is not in this home's keyring: open the home with "
                    "its keys (LMQ_KEY_FILE / --key-file, "
                    "LMQ_KEY_PASSPHRASE_FILE, LMQ_KEY_PROCESS)",
                    qname, hex);
    }
    return k;
}

static void
derive_queue_key(const lmq__key *k, uint32_t qid, uint8_t qk[32])
{
    crypto_kdf_derive_from_key(qk, 32, qid, "lmqqueue", k->k);
}

static void
data_key(const lmq__key *k, uint32_t qid, uint32_t period, uint8_t dk[32])
{
    uint8_t qk[32];
    derive_queue_key(k, qid, qk);
    crypto_kdf_derive_from_key(dk, 32, period, "lmq-data", qk);
    sodium_memzero(qk, sizeof qk);
}

/* home id, qid, seq, then the record's clear bytes. */
static void
make_ad(const lmq_env *env, uint32_t qid, uint64_t seq, uint8_t ad[28])
{
    memcpy(ad, env->home_id, 16);
    lmq__put_u32(ad + 16, qid);
    lmq__put_u64(ad + 20, seq);
}

size_t
lmq__mrec_size(const lmq_qrec *r, const lmq_mview *mv)
{
    return r->seal_kind ? lmq__msealed_size(mv) : lmq__mview_size(mv);
}

int
lmq__mrec_encode(const lmq_env *env, const lmq_qrec *r, uint64_t seq,
                 const lmq_mview *mv, const lmq_mhdr *h, uint8_t *out)
{
    if (!r->seal_kind) {
        lmq__mview_encode(mv, h, out);
        return 0;
    }
    const lmq__key *k = queue_key(env, r->seal_fp, r->name);
    if (!k)
        return LMQ_EKEY;
    uint32_t reuse = r->seal_reuse ? r->seal_reuse : DEFAULT_REUSE;
    uint32_t period = (uint32_t)((uint64_t)(mv->sent_ms < 0 ? 0 : mv->sent_ms) /
                                 (reuse * 1000ull));
    size_t il = lmq__mview_inner_size(mv);
    uint8_t *nonce, dk[32], ad0[28];
    uint8_t *ct = lmq__msealed_encode(mv, h, r->seal_fp, period,
                                      il + LMQ_SEAL_TAG, out, &nonce);
    /* The plaintext is built in the heap, never in the map (whose pages a
     * writable map may write back at any time), and wiped. */
    uint8_t *plain = malloc(il ? il : 1);
    if (!plain)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    lmq__mview_inner_encode(mv, plain);
    randombytes_buf(nonce, LMQ_SEAL_NONCE);
    data_key(k, r->qid, period, dk);
    make_ad(env, r->qid, seq, ad0);
    /* AD = ad0 || record prefix: hash them into one 32-byte AD so the
     * prefix need not be copied next to ad0. */
    uint8_t ad[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof ad);
    crypto_generichash_update(&st, ad0, sizeof ad0);
    crypto_generichash_update(&st, out, (size_t)(ct - out));
    crypto_generichash_final(&st, ad, sizeof ad);
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, plain, il, ad,
                                               sizeof ad, NULL, nonce, dk);
    sodium_memzero(plain, il);
    sodium_memzero(dk, sizeof dk);
    free(plain);
    return 0;
}

/* An opened plaintext: its length in front, wiped when freed. */
#define PLAIN_HDR 16

void
lmq__seal_free(uint8_t *plain)
{
    if (plain) {
        size_t n;
        memcpy(&n, plain, sizeof n);
        sodium_memzero(plain, n + PLAIN_HDR);
        free(plain);
    }
}

int
lmq__mview_open(const lmq_env *env, uint32_t qid, const char *qname,
                uint64_t seq, lmq_mview *mv, uint8_t **plain)
{
    *plain = NULL;
    if (!mv->sealed)
        return 0;
    const lmq__key *k = queue_key(env, mv->fp, qname);
    if (!k)
        return LMQ_EKEY;
    size_t pl = mv->ct_len - LMQ_SEAL_TAG;
    uint8_t *base = malloc(pl + PLAIN_HDR), *p, dk[32], ad0[28], ad[32];
    if (!base)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    memcpy(base, &pl, sizeof pl);
    p = base + PLAIN_HDR;
    data_key(k, qid, mv->period, dk);
    make_ad(env, qid, seq, ad0);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof ad);
    crypto_generichash_update(&st, ad0, sizeof ad0);
    crypto_generichash_update(&st, mv->rec, (size_t)(mv->ct - mv->rec));
    crypto_generichash_final(&st, ad, sizeof ad);
    int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(
        p, NULL, NULL, mv->ct, mv->ct_len, ad, sizeof ad, mv->nonce, dk);
    sodium_memzero(dk, sizeof dk);
    if (bad || lmq__mview_inner_decode(p, pl, mv) != 0) {
        lmq__seal_free(base);
        return lmq__seterr(LMQ_ECORRUPT, "message %.36s of queue %s does not "
                           "authenticate (altered, or copied from elsewhere): "
                           "not returned", mv->message_id, qname);
    }
    mv->sealed = false;
    *plain = base;
    return 0;
}

int
lmq__seal_dedup_id(const lmq_env *env, const lmq_qrec *r, const char *id,
                   size_t len, char out[129])
{
    if (!r->seal_kind) {
        memcpy(out, id, len);
        out[len] = '\0';
        return 0;
    }
    const lmq__key *k = queue_key(env, r->seal_fp, r->name);
    if (!k)
        return LMQ_EKEY;
    uint8_t qk[32], dk[32], h[32];
    derive_queue_key(k, r->qid, qk);
    crypto_kdf_derive_from_key(dk, 32, 0, "lmqdedup", qk);
    crypto_generichash(h, sizeof h, (const uint8_t *)id, len, dk, sizeof dk);
    sodium_memzero(qk, sizeof qk);
    sodium_memzero(dk, sizeof dk);
    sodium_bin2hex(out, 129, h, sizeof h);
    return 0;
}
