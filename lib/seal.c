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
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_REUSE 300 /* KmsDataKeyReusePeriodSeconds, as SQS */

/* Keys derived lately (derived_key()): data keys, and the keys of the
 * FIFO indexes' hashes. */
enum { DK_DATA = 0, DK_DEDUP = 1, DK_ATTEMPT = 2 };
#define DK_SLOTS 16
struct lmq__dk_cache {
    struct {
        uint8_t fp[8];
        uint32_t qid, period;
        uint8_t kind; /* DK_DATA, DK_DEDUP, DK_ATTEMPT */
        bool used;
        uint8_t dk[32];
    } e[DK_SLOTS];
};


static lmq__keyring *
ring(const lmq_env *env)
{
    return __atomic_load_n(&env->keyring, __ATOMIC_ACQUIRE);
}

/* ---- keyring reloads ----------------------------------------------------- */

/* Keyrings replaced by a reload stay until the env closes: a thread may
 * still hold one of their keys. */
struct lmq__retired {
    lmq__keyring *kr;
    struct lmq__retired *next;
};

/* A key this env lacks: when the keyring file changed since it was read
 * (a rotation added a key), read it again, keeping the keys that came from
 * elsewhere. 0 (reloaded), LMQ__NOTFOUND (unchanged), or an error. */
static int
reload(lmq_env *env)
{
    lmq__keyring *nk, *old, *extra = NULL;
    struct stat st;
    int rc = 0;
    if (!env->key_file)
        return LMQ__NOTFOUND;
    pthread_mutex_lock(&env->key_mu);
    if (stat(env->key_file, &st) != 0 ||
        (st.st_mtim.tv_sec == env->key_mtime.tv_sec &&
         st.st_mtim.tv_nsec == env->key_mtime.tv_nsec &&
         st.st_ino == env->key_ino)) {
        pthread_mutex_unlock(&env->key_mu);
        return LMQ__NOTFOUND;
    }
    old = env->keyring;
    if ((rc = lmq__keyring_load(env->key_file, &nk)) != 0)
        goto out;
    if ((rc = lmq__keyring_missing(old, nk, &extra)) != 0 ||
        (extra && (rc = lmq__keyring_merge(nk, extra)) != 0)) {
        lmq__keyring_free(nk);
        goto out;
    }
    struct lmq__retired *r = malloc(sizeof *r);
    if (!r) {
        lmq__keyring_free(nk);
        rc = lmq__seterr(LMQ_ENOMEM, NULL);
        goto out;
    }
    r->kr = old;
    r->next = env->key_retired;
    env->key_retired = r;
    env->key_mtime = st.st_mtim;
    env->key_ino = st.st_ino;
    __atomic_store_n(&env->keyring, nk, __ATOMIC_RELEASE);
out:
    pthread_mutex_unlock(&env->key_mu);
    return rc;
}

int
lmq__seal_reload(lmq_env *env)
{
    return reload(env);
}

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
    pthread_mutex_init(&env->key_mu, NULL);
    randombytes_buf(env->nonce_prefix, sizeof env->nonce_prefix);
    /* From here on env owns kr (lmq__seal_env_close frees it). */
    if (kr && !(env->dk_cache = sodium_malloc(sizeof *env->dk_cache)))
        return lmq__seterr(LMQ_ENOMEM, NULL);
    if (env->dk_cache)
        sodium_memzero(env->dk_cache, sizeof *env->dk_cache);
    if (file) {
        struct stat st;
        if (!(env->key_file = strdup(file)))
            return lmq__seterr(LMQ_ENOMEM, NULL);
        if (stat(file, &st) == 0) {
            env->key_mtime = st.st_mtim;
            env->key_ino = st.st_ino;
        }
    }
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
    while (env->key_retired) {
        struct lmq__retired *r = env->key_retired;
        env->key_retired = r->next;
        lmq__keyring_free(r->kr);
        free(r);
    }
    free(env->key_file);
    env->key_file = NULL;
    sodium_free(env->dk_cache); /* wipes */
    env->dk_cache = NULL;
}

static int
no_key(const char *what, const char *name)
{
    return lmq__seterr(LMQ_EKEY, "%s%s%s is not in this home's keyring: open "
                       "the home with its keys (LMQ_KEY_FILE / --key-file, "
                       "LMQ_KEY_PASSPHRASE_FILE, LMQ_KEY_PROCESS)",
                       what, name ? " " : "", name ? name : "");
}

/* The seal mode of r as its FIFO ids are kept: the key's fingerprint, or
 * zeros when clear. */
static void
mode_fp(const lmq_qrec *r, uint8_t fp[8])
{
    if (r->seal_kind)
        memcpy(fp, r->seal_fp, 8);
    else
        memset(fp, 0, 8);
}

static int seal_config(const lmq_env *env, lmq_qrec *r, const lmq_map *in,
                       bool creating);

int
lmq__seal_config(lmq_txn *t, const lmq_env *env, lmq_qrec *r,
                 const lmq_map *in, bool creating)
{
    uint8_t before[8], after[8];
    mode_fp(r, before);
    int rc = seal_config(env, r, in, creating);
    if (rc || creating || !r->fifo)
        return rc;
    /* Ids deduplicated (or attempts recorded) under the old mode stay
     * recognised through their window. */
    mode_fp(r, after);
    if (memcmp(before, after, 8) == 0)
        return 0;
    return lmq__fifo_note_seal_change(t, r->qid, before, lmq__now(env));
}

static int
seal_config(const lmq_env *env, lmq_qrec *r, const lmq_map *in,
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
        if (!(k = lmq__keyring_find(ring(env), kms)) &&
            reload((lmq_env *)env) == 0)
            k = lmq__keyring_find(ring(env), kms);
        if (!k)
            return no_key("KMS key", kms);
        r->seal_kind = LMQ_SEAL_KMS;
    } else if (!sse && creating) {
        /* The default: sealed when the home has a key, and said so. */
        k = lmq__keyring_default(ring(env));
        r->seal_kind = k ? LMQ_SEAL_SQS : LMQ_SEAL_NONE;
        if (lmq_map_set(r->attrs, "SqsManagedSseEnabled",
                        k ? "true" : "false") != 0)
            return lmq__seterr(LMQ_ENOMEM, NULL);
    } else if (sse && strcmp(sse, "true") == 0) {
        if (!(k = lmq__keyring_default(ring(env))))
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
    const lmq__key *k = lmq__keyring_by_fp(ring(env), fp);
    if (!k && reload((lmq_env *)env) == 0)
        k = lmq__keyring_by_fp(ring(env), fp);
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

/* Keys derived lately, by (key, qid, kind, period): a send or receive then
 * costs no derivation (two BLAKE2b) in the common case. In guarded memory,
 * wiped at close. kind DK_DATA: the data key of a period; DK_DEDUP and
 * DK_ATTEMPT: the keys of the FIFO indexes' hashes (period 0). */
static const char *const dk_ctx[] = {"lmq-data", "lmqdedup", "lmqattid"};

static void
derived_key(const lmq_env *env, const lmq__key *k, uint32_t qid, int kind,
            uint32_t period, uint8_t dk[32])
{
    lmq_env *e = (lmq_env *)env;
    size_t i = (qid * 31u + period + (uint32_t)kind * 7u) % DK_SLOTS;
    pthread_mutex_lock(&e->key_mu);
    if (e->dk_cache && e->dk_cache->e[i].used &&
        e->dk_cache->e[i].qid == qid && e->dk_cache->e[i].period == period &&
        e->dk_cache->e[i].kind == kind &&
        memcmp(e->dk_cache->e[i].fp, k->fp, 8) == 0) {
        memcpy(dk, e->dk_cache->e[i].dk, 32);
        pthread_mutex_unlock(&e->key_mu);
        return;
    }
    pthread_mutex_unlock(&e->key_mu);
    uint8_t qk[32];
    derive_queue_key(k, qid, qk);
    crypto_kdf_derive_from_key(dk, 32, period, dk_ctx[kind], qk);
    sodium_memzero(qk, sizeof qk);
    pthread_mutex_lock(&e->key_mu);
    if (e->dk_cache) {
        memcpy(e->dk_cache->e[i].fp, k->fp, 8);
        e->dk_cache->e[i].qid = qid;
        e->dk_cache->e[i].period = period;
        e->dk_cache->e[i].kind = (uint8_t)kind;
        e->dk_cache->e[i].used = true;
        memcpy(e->dk_cache->e[i].dk, dk, 32);
    }
    pthread_mutex_unlock(&e->key_mu);
}

static void
data_key(const lmq_env *env, const lmq__key *k, uint32_t qid, uint32_t period,
         uint8_t dk[32])
{
    derived_key(env, k, qid, DK_DATA, period, dk);
}

/* A nonce: the env's random 16-byte prefix and a counter. Unique without a
 * system call per message (randombytes reads the kernel's generator each
 * time); envs (and so processes) differ by their prefix. */
static void
make_nonce(const lmq_env *env, uint8_t n[LMQ_SEAL_NONCE])
{
    lmq_env *e = (lmq_env *)env;
    uint64_t c = __atomic_add_fetch(&e->nonce_ctr, 1, __ATOMIC_RELAXED);
    memcpy(n, e->nonce_prefix, 16);
    lmq__put_u64(n + 16, c);
}

/* The associated data: home id, qid, seq, then the record's clear bytes
 * (at most 255: the fixed part and a 128-byte group id). */
#define AD_MAX (28 + 300)
static size_t
make_ad(const lmq_env *env, uint32_t qid, uint64_t seq, const uint8_t *rec,
        size_t n, uint8_t ad[AD_MAX])
{
    memcpy(ad, env->home_id, 16);
    lmq__put_u32(ad + 16, qid);
    lmq__put_u64(ad + 20, seq);
    if (n > AD_MAX - 28)
        n = AD_MAX - 28; /* never: the decoder bounds the group id */
    memcpy(ad + 28, rec, n);
    return 28 + n;
}

/* Plaintexts up to this size are assembled on the stack (bench/RESULTS.md,
 * "Encryption at rest": malloc and free were a fifth of what a sealed
 * 100-byte send spends around the AEAD). */
#define PLAIN_STACK 1024

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
    uint8_t *nonce, dk[32];
    uint8_t *ct = lmq__msealed_encode(mv, h, r->seal_fp, period,
                                      il + LMQ_SEAL_TAG, out, &nonce);
    /* The plaintext is built on the stack (small: no malloc and free per
     * send) or in the heap, never in the map (whose pages a writable map
     * may write back at any time), and wiped. */
    uint8_t small[PLAIN_STACK];
    uint8_t *plain = il <= sizeof small ? small : malloc(il);
    if (!plain)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    lmq__mview_inner_encode(mv, plain);
    make_nonce(env, nonce);
    data_key(env, k, r->qid, period, dk);
    /* AD = home id, qid, seq, then the record's clear bytes. */
    uint8_t ad[AD_MAX];
    size_t adl = make_ad(env, r->qid, seq, out, (size_t)(ct - out), ad);
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, plain, il, ad, adl,
                                               NULL, nonce, dk);
    sodium_memzero(plain, il);
    sodium_memzero(dk, sizeof dk);
    if (plain != small)
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
    if ((size_t)(mv->ct - mv->rec) > AD_MAX - 28)
        return lmq__seterr(LMQ_ECORRUPT, "message %.36s of queue %s: bad "
                           "framing", mv->message_id, qname);
    size_t pl = mv->ct_len - LMQ_SEAL_TAG;
    uint8_t *base = malloc(pl + PLAIN_HDR), *p, dk[32], ad[AD_MAX];
    if (!base)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    memcpy(base, &pl, sizeof pl);
    p = base + PLAIN_HDR;
    data_key(env, k, qid, mv->period, dk);
    size_t adl = make_ad(env, qid, seq, mv->rec, (size_t)(mv->ct - mv->rec),
                         ad);
    int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(
        p, NULL, NULL, mv->ct, mv->ct_len, ad, adl, mv->nonce, dk);
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

static const uint8_t zero_fp[8];

int
lmq__seal_fifo_id(const lmq_env *env, uint32_t qid, const char *qname,
                  const uint8_t fp[8], int purpose, const char *id, size_t len,
                  char out[129])
{
    if (!fp || memcmp(fp, zero_fp, 8) == 0) {
        memcpy(out, id, len);
        out[len] = '\0';
        return 0;
    }
    const lmq__key *k = queue_key(env, fp, qname);
    if (!k)
        return LMQ_EKEY;
    uint8_t dk[32], h[32];
    derived_key(env, k, qid,
                purpose == LMQ_SEAL_ID_ATTEMPT ? DK_ATTEMPT : DK_DEDUP, 0, dk);
    crypto_generichash(h, sizeof h, (const uint8_t *)id, len, dk, sizeof dk);
    sodium_memzero(dk, sizeof dk);
    sodium_bin2hex(out, 129, h, sizeof h);
    return 0;
}

int
lmq__seal_dedup_id(const lmq_env *env, const lmq_qrec *r, const char *id,
                   size_t len, char out[129])
{
    return lmq__seal_fifo_id(env, r->qid, r->name,
                             r->seal_kind ? r->seal_fp : NULL,
                             LMQ_SEAL_ID_DEDUP, id, len, out);
}

/* ---- rotation ------------------------------------------------------------ */

/* meta "seal_rotate": an unfinished rotation: the old key's fingerprint (8)
 * and the new key's id. */
#define ROT_META "seal_rotate"
#define ROT_BATCH 64    /* records re-sealed per transaction */
#define ROT_EXAMINE 512 /* records looked at per transaction */

struct rot_meta {
    int op; /* 0 get, 1 put, 2 del */
    bool found;
    uint8_t old_fp[8];
    char new_id[LMQ_KEY_ID_MAX];
};

static int
rot_meta_fn(lmq_txn *t, void *arg)
{
    struct rot_meta *m = arg;
    lmq_val v;
    if (m->op == 1) {
        uint8_t b[8 + LMQ_KEY_ID_MAX];
        size_t il = strlen(m->new_id);
        memcpy(b, m->old_fp, 8);
        memcpy(b + 8, m->new_id, il);
        return lmq__txn_put(t, LMQ_DB_META, ROT_META, strlen(ROT_META), b,
                            8 + il);
    }
    if (m->op == 2) {
        int rc = lmq__txn_del(t, LMQ_DB_META, ROT_META, strlen(ROT_META));
        return rc == LMQ__NOTFOUND ? 0 : rc;
    }
    int rc = lmq__txn_get(t, LMQ_DB_META, ROT_META, strlen(ROT_META), &v);
    m->found = rc == 0;
    if (rc == 0) {
        if (v.len <= 8 || v.len >= 8 + LMQ_KEY_ID_MAX)
            return lmq__seterr(LMQ_ECORRUPT, "rotation record: bad size");
        memcpy(m->old_fp, v.data, 8);
        memcpy(m->new_id, (const uint8_t *)v.data + 8, v.len - 8);
        m->new_id[v.len - 8] = '\0';
    }
    return rc == LMQ__NOTFOUND ? 0 : rc;
}

struct rot_queues {
    lmq_env *env;
    uint32_t *qids; /* sealed queues (grown as needed, freed by the caller) */
    size_t n, cap;
    uint64_t total; /* records of sealed queues */
    bool count;
};

static int
rot_add(struct rot_queues *c, uint32_t qid)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        uint32_t *q = realloc(c->qids, cap * sizeof *q);
        if (!q)
            return lmq__seterr(LMQ_ENOMEM, NULL);
        c->qids = q;
        c->cap = cap;
    }
    c->qids[c->n++] = qid;
    return 0;
}

/* Add the number of records of queue qid to c->total. */
static int
rot_count(lmq_txn *t, struct rot_queues *c, uint32_t qid)
{
    uint8_t mk[LMQ_MKEY_LEN];
    lmq_cur *cur;
    lmq_val k, v;
    lmq__mkey(mk, qid, 0);
    int rc = lmq__cur_open(t, LMQ_DB_MSG, &cur);
    if (rc)
        return rc;
    for (rc = lmq__cur_seek(cur, mk, sizeof mk, &k, &v); rc == 0;
         rc = lmq__cur_next(cur, &k, &v)) {
        if (k.len != LMQ_MKEY_LEN || lmq__get_u32(k.data) != qid)
            break;
        c->total++;
    }
    lmq__cur_close(cur);
    return rc < 0 ? rc : 0;
}

/* Point every sealed queue at the key its attributes name now; list them
 * (and, when count, how many records they hold). Every queue of the home,
 * however many: the qids are listed first (a cursor on qrec must not stay
 * open across the saves), into a growing array. */
static int
rot_queues_fn(lmq_txn *t, void *arg)
{
    struct rot_queues *c = arg;
    lmq_cur *cur;
    lmq_val k, v;
    uint32_t *all;
    size_t na;
    c->n = 0;
    c->total = 0;
    int rc = lmq__cur_open(t, LMQ_DB_QREC, &cur);
    if (rc)
        return rc;
    uint8_t k0[4] = {0};
    for (rc = lmq__cur_seek(cur, k0, 4, &k, &v); rc == 0;
         rc = lmq__cur_next(cur, &k, &v))
        if (k.len == 4 && (rc = rot_add(c, lmq__get_u32(k.data))) != 0)
            break;
    lmq__cur_close(cur);
    if (rc < 0)
        return rc;
    /* The listed qids move out of c->qids, which then collects the sealed
     * ones. */
    all = c->qids;
    na = c->n;
    c->qids = NULL;
    c->n = c->cap = 0;
    rc = 0;
    for (size_t i = 0; i < na && rc == 0; i++) {
        lmq_qrec r;
        if ((rc = lmq__q_load(t, all[i], true, &r)) != 0) {
            rc = rc == LMQ_ENOQUEUE ? 0 : rc;
            continue;
        }
        const lmq__key *key = NULL;
        if (r.seal_kind == LMQ_SEAL_SQS)
            key = lmq__keyring_default(ring(c->env));
        else if (r.seal_kind == LMQ_SEAL_KMS)
            key = lmq__keyring_find(ring(c->env),
                                    lmq_map_get(r.attrs, "KmsMasterKeyId"));
        if (r.seal_kind && !key) {
            rc = no_key("the key of queue", r.name);
        } else if (key && memcmp(key->fp, r.seal_fp, 8) != 0 && !c->count) {
            /* The switch and the note of the old key for the FIFO ids it
             * hashed commit together (a rotation killed here and rerun
             * finds the queue switched and noted). */
            if (r.fifo)
                rc = lmq__fifo_note_seal_change(t, r.qid, r.seal_fp,
                                                lmq__now(c->env));
            memcpy(r.seal_fp, key->fp, 8);
            if (rc == 0)
                rc = lmq__q_save(t, &r);
        }
        lmq__qrec_free(&r);
        if (rc == 0 && r.seal_kind)
            rc = rot_add(c, r.qid);
        if (rc == 0 && r.seal_kind && c->count)
            rc = rot_count(t, c, r.qid);
    }
    free(all);
    return rc;
}

struct rot_batch {
    lmq_env *env;
    uint32_t qid;
    uint64_t from;     /* next seq to look at */
    uint64_t next;     /* out: where the next batch starts */
    uint64_t examined; /* out */
    bool done;         /* out: the queue has no more records */
};

/* Re-seal message seq of r; *delta: the change of its stored size (a
 * clear record counts its SQS size, a sealed one its sealed contents). */
static int
reseal_one(lmq_txn *t, lmq_env *env, const lmq_qrec *r, uint64_t seq,
           int64_t *delta)
{
    uint8_t k[LMQ_MKEY_LEN], *buf, *plain = NULL;
    lmq_val v;
    lmq_mview mv;
    lmq_mhdr h;
    void *dst;
    lmq__mkey(k, r->qid, seq);
    int rc = lmq__txn_get(t, LMQ_DB_MSG, k, sizeof k, &v);
    if (rc)
        return rc == LMQ__NOTFOUND ? 0 : rc;
    if (!(buf = malloc(v.len)))
        return lmq__seterr(LMQ_ENOMEM, NULL);
    memcpy(buf, v.data, v.len);
    *delta -= (int64_t)lmq__mrec_stored_size(buf, v.len);
    rc = lmq__mview_decode(buf, v.len, &mv);
    if (rc == 0)
        rc = lmq__mview_open(env, r->qid, r->name, seq, &mv, &plain);
    if (rc == 0) {
        rc = lmq__mrec_hdr(buf, v.len, &h);
        if (rc == LMQ__NOTFOUND) /* version 1: the header row is current */
            rc = lmq__msg_hdr(t, r->qid, seq, &h);
    }
    if (rc == 0)
        rc = lmq__txn_reserve(t, LMQ_DB_MSG, k, sizeof k,
                              lmq__mrec_size(r, &mv), &dst);
    if (rc == 0)
        rc = lmq__mrec_encode(env, r, seq, &mv, &h, dst);
    if (rc == 0)
        *delta += (int64_t)lmq__mview_stored_size(&mv, r->seal_kind != 0);
    lmq__seal_free(plain);
    sodium_memzero(buf, v.len);
    free(buf);
    return rc;
}

static int
rot_batch_fn(lmq_txn *t, void *arg)
{
    struct rot_batch *c = arg;
    uint64_t todo[ROT_BATCH];
    size_t n = 0;
    lmq_qrec r;
    lmq_cur *cur;
    lmq_val k, v;
    c->examined = 0;
    c->done = false;
    int rc = lmq__q_load(t, c->qid, false, &r);
    if (rc == LMQ_ENOQUEUE) {
        c->done = true;
        return 0;
    }
    if (rc)
        return rc;
    uint8_t mk[LMQ_MKEY_LEN];
    lmq__mkey(mk, c->qid, c->from);
    if ((rc = lmq__cur_open(t, LMQ_DB_MSG, &cur)) != 0)
        return rc;
    c->next = c->from;
    for (rc = lmq__cur_seek(cur, mk, sizeof mk, &k, &v);
         rc == 0 && n < ROT_BATCH && c->examined < ROT_EXAMINE;
         rc = lmq__cur_next(cur, &k, &v)) {
        if (k.len != LMQ_MKEY_LEN || lmq__get_u32(k.data) != c->qid)
            break;
        uint64_t seq = lmq__get_u64((const uint8_t *)k.data + 4);
        const uint8_t *p = v.data;
        lmq_mview mv;
        c->examined++;
        c->next = seq + 1;
        /* Re-seal what the queue's key did not seal (older keys, clear
         * records of a queue sealed since). */
        if (v.len > 0 && p[0] == 3 &&
            lmq__mview_decode(v.data, v.len, &mv) == 0 &&
            memcmp(mv.fp, r.seal_fp, 8) == 0)
            continue;
        todo[n++] = seq;
    }
    lmq__cur_close(cur);
    if (rc < 0)
        return rc;
    c->done = rc == LMQ__NOTFOUND || (n < ROT_BATCH &&
                                      c->examined < ROT_EXAMINE);
    int64_t delta = 0;
    for (size_t i = 0; i < n; i++)
        if ((rc = reseal_one(t, c->env, &r, todo[i], &delta)) != 0)
            return rc;
    if (delta == 0)
        return 0;
    /* The record again: r's encoded tail points into pages the puts may
     * have moved. */
    if ((rc = lmq__q_load(t, c->qid, false, &r)) != 0)
        return rc;
    r.stored_bytes = delta < 0 && (uint64_t)-delta > r.stored_bytes
                         ? 0
                         : (uint64_t)((int64_t)r.stored_bytes + delta);
    return lmq__q_save(t, &r);
}

/* Does anything in the home still need key fp (a queue or a record)? */
struct rot_use {
    lmq_env *env;
    uint8_t fp[8];
    bool used;     /* by a queue or a record */
    int64_t until; /* by FIFO ids hashed under it (0: none live) */
};

static int
rot_use_fn(lmq_txn *t, void *arg)
{
    struct rot_use *c = arg;
    lmq_cur *cur;
    lmq_val k, v;
    uint8_t z[LMQ_MKEY_LEN] = {0};
    int rc;
    int64_t now = lmq__now(c->env);
    c->used = false;
    c->until = 0;
    if ((rc = lmq__cur_open(t, LMQ_DB_QREC, &cur)) != 0)
        return rc;
    for (rc = lmq__cur_seek(cur, z, 4, &k, &v); rc == 0 && !c->used;
         rc = lmq__cur_next(cur, &k, &v)) {
        lmq_qrec r;
        int64_t until;
        if (lmq__qrec_decode(v.data, v.len, false, &r) != 0)
            continue;
        if (r.seal_kind && memcmp(r.seal_fp, c->fp, 8) == 0)
            c->used = true;
        if (r.fifo && (rc = lmq__fifo_seal_until(t, r.qid, c->fp, now,
                                                 &until)) != 0)
            break;
        if (r.fifo && until > c->until)
            c->until = until;
    }
    lmq__cur_close(cur);
    if (rc < 0)
        return rc;
    if ((rc = lmq__cur_open(t, LMQ_DB_MSG, &cur)) != 0)
        return rc;
    for (rc = lmq__cur_seek(cur, z, sizeof z, &k, &v); rc == 0 && !c->used;
         rc = lmq__cur_next(cur, &k, &v)) {
        lmq_mview mv;
        const uint8_t *p = v.data;
        if (v.len > 0 && p[0] == 3 &&
            lmq__mview_decode(v.data, v.len, &mv) == 0 &&
            memcmp(mv.fp, c->fp, 8) == 0)
            c->used = true;
    }
    lmq__cur_close(cur);
    return rc < 0 ? rc : 0;
}

LMQ_API int
lmq_key_rotate(lmq_env *env, const char *alias, lmq_progress_fn progress,
               void *arg, char new_id[LMQ_KEY_ID_MAX])
{
    int rc = lmq__env_check(env);
    if (rc)
        return rc;
    if (!env->key_file)
        return lmq__seterr(LMQ_EINVAL, "rotation edits the keyring file: "
                           "open the home with key_file (--key-file, "
                           "LMQ_KEY_FILE)");
    struct rot_meta m = {0};
    if ((rc = lmq__store_read(env->store, rot_meta_fn, &m)) != 0)
        return rc;
    if (!m.found) {
        /* A new rotation: the home remembers it (the old key and the new
         * key's id, chosen here), then the new key takes over the alias
         * (or becomes the home key). A crash from here on is finished by
         * the next call, which adds the key if the crash came before it
         * was. Added first, a crash before the home remembered the
         * rotation left the new key as the home key, and the next call
         * rotated away from it, keeping the old key for good. */
        (void)reload(env);
        const lmq__key *old = alias ? lmq__keyring_find(ring(env), alias)
                                    : lmq__keyring_default(ring(env));
        if (!old)
            return no_key(alias ? "alias" : "a home key", alias);
        memcpy(m.old_fp, old->fp, 8);
        lmq__uuid4(m.new_id);
        m.op = 1;
        if ((rc = lmq__store_write(env->store, rot_meta_fn, &m)) != 0)
            return rc;
    }
    rc = reload(env);
    if (rc && rc != LMQ__NOTFOUND)
        return rc;
    if (!lmq__keyring_find(ring(env), m.new_id)) {
        if ((rc = lmq__keyring_add_id(env->key_file, alias,
                                      alias ? 0 : LMQ_KEY_DEFAULT, m.new_id,
                                      NULL)) != 0)
            return rc;
        rc = reload(env);
        if (rc && rc != LMQ__NOTFOUND)
            return rc;
        if (!lmq__keyring_find(ring(env), m.new_id))
            return no_key("the rotation's new key", m.new_id);
    }

    struct rot_queues *qs = calloc(1, sizeof *qs);
    if (!qs)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    qs->env = env;
    if ((rc = lmq__store_write(env->store, rot_queues_fn, qs)) != 0)
        goto out;
    qs->count = true;
    if ((rc = lmq__store_read(env->store, rot_queues_fn, qs)) != 0)
        goto out;
    uint64_t done = 0;
    if (progress)
        progress(arg, 0, qs->total);
    for (size_t i = 0; i < qs->n; i++) {
        struct rot_batch b = {.env = env, .qid = qs->qids[i], .from = 0};
        do {
            if ((rc = lmq__store_write(env->store, rot_batch_fn, &b)) != 0)
                goto out;
            b.from = b.next;
            done += b.examined;
            if (progress)
                progress(arg, done < qs->total ? done : qs->total, qs->total);
        } while (!b.done);
    }
    /* The old key goes once nothing in this home needs it. FIFO ids it
     * hashed keep it until their window ends: then the rotation stays
     * unfinished, and the next call (after lmq__fifo_seal_until's time)
     * finishes it by removing the key. */
    struct rot_use u = {.env = env};
    memcpy(u.fp, m.old_fp, 8);
    if ((rc = lmq__store_read(env->store, rot_use_fn, &u)) != 0)
        goto out;
    if (new_id)
        snprintf(new_id, LMQ_KEY_ID_MAX, "%s", m.new_id);
    if (!u.used && u.until > 0)
        goto out;
    const lmq__key *old = lmq__keyring_by_fp(ring(env), m.old_fp);
    if (!u.used && old && !old->is_default && old->n_aliases == 0 &&
        (rc = lmq__keyring_file_remove(env->key_file, old->id)) != 0)
        goto out;
    m.op = 2;
    rc = lmq__store_write(env->store, rot_meta_fn, &m);
out:
    if (qs)
        free(qs->qids);
    free(qs);
    return rc;
}
