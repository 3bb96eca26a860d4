/*
 * digest.c: the hashes and identifiers lmq hands out.
 *
 * Design: SQS defines its digests in MD5 (MD5OfMessageBody and
 * MD5OfMessageAttributes), which libsodium deliberately does not offer, so
 * MD5 comes from OpenSSL's libcrypto through the EVP interface (the low-level
 * MD5_* calls are deprecated in OpenSSL 3). Everything else, SHA-256 for
 * content-based deduplication ids and the randomness behind MessageIds, comes
 * from libsodium, which the rest of the core already needs. Nothing here is
 * hand-written crypto.
 *
 * Speed (every send computes an MD5 and a MessageId): MD5 is fetched from
 * the provider once and each thread keeps one digest context, since
 * EVP_Digest(EVP_md5()) fetches and allocates on every call; MessageId
 * randomness is a per-thread 4 KiB buffer of ChaCha20 output under a fresh
 * 32-byte key from getrandom() (one system call per 256 ids, and
 * libsodium's ChaCha20 instead of the kernel's slower generic one). A
 * forked child discards the buffer it inherited, or parent and child
 * would hand out the same ids. Digests and ids are public values, so hex
 * is a plain table lookup.
 *
 * Invariants: outputs are always NUL-terminated lowercase hex or a lowercase
 * RFC 4122 version 4 UUID; none of these functions allocates on the caller's
 * behalf.
 */
#include "internal.h"

#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static EVP_MD *md5_md;              /* fetched once; NULL if unavailable */
static pthread_key_t md5_ctx_key;   /* per-thread EVP_MD_CTX */
static unsigned rand_generation;    /* bumped in a forked child */

static void
free_md5_ctx(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void
forked_child(void)
{
    rand_generation++;
}

static void
sodium_init_once(void)
{
    /* sodium_init() only fails when no entropy source exists at all; then
     * randombytes_buf() itself aborts through sodium_misuse(), which is the
     * only safe outcome for a generator of unique ids, so the failure needs
     * no handling here. */
    md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
    if (md5_md && pthread_key_create(&md5_ctx_key, free_md5_ctx) != 0) {
        EVP_MD_free(md5_md);
        md5_md = NULL;
    }
    (void)pthread_atfork(NULL, NULL, forked_child);
    if (sodium_init() < 0)
        return;
}

static void
hex(char *out, const unsigned char *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void
lmq__md5_hex(const void *data, size_t len, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    pthread_once(&sodium_once, sodium_init_once);
    EVP_MD_CTX *ctx = md5_md ? pthread_getspecific(md5_ctx_key) : NULL;
    if (md5_md && !ctx && (ctx = EVP_MD_CTX_new()) != NULL &&
        pthread_setspecific(md5_ctx_key, ctx) != 0) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    /* The digest fails only on allocation failure or a provider setup
     * without MD5 (a FIPS-only libcrypto). The signature has no error
     * return, so the failure shows as an empty string, which never equals a
     * real digest. */
    if (!ctx || EVP_DigestInit_ex2(ctx, md5_md, NULL) != 1 ||
        EVP_DigestUpdate(ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 16) {
        out[0] = '\0';
        return;
    }
    hex(out, md, 16);
}

void
lmq__sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[crypto_hash_sha256_BYTES];

    pthread_once(&sodium_once, sodium_init_once);
    crypto_hash_sha256(md, data, (unsigned long long)len);
    hex(out, md, sizeof md);
}

/* Per-thread buffer of random bytes for ids (see the top of the file). */
static __thread struct {
    unsigned char buf[4096];
    size_t used;
    unsigned generation;
    bool filled;
} rnd;

static void
random_id_bytes(unsigned char *out, size_t n)
{
    if (!rnd.filled || rnd.generation != rand_generation ||
        rnd.used + n > sizeof rnd.buf) {
        /* A fresh 32-byte key from the kernel, stretched by ChaCha20 in
         * this process: the kernel's generator costs several times more
         * per byte than libsodium's vectorised ChaCha20. */
        unsigned char seed[randombytes_SEEDBYTES];
        randombytes_buf(seed, sizeof seed);
        randombytes_buf_deterministic(rnd.buf, sizeof rnd.buf, seed);
        sodium_memzero(seed, sizeof seed);
        rnd.used = 0;
        rnd.generation = rand_generation;
        rnd.filled = true;
    }
    memcpy(out, rnd.buf + rnd.used, n);
    rnd.used += n;
}

void
lmq__uuid4(char out[37])
{
    unsigned char b[16];
    char h[33];

    pthread_once(&sodium_once, sodium_init_once);
    random_id_bytes(b, sizeof b);
    /* RFC 4122 section 4.4: the high nibble of octet 6 is the version (4),
     * the two high bits of octet 8 are the variant (binary 10). */
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    hex(h, b, sizeof b);

    /* 8-4-4-4-12 groups of the 32 hex digits. */
    memcpy(out, h, 8);
    out[8] = '-';
    memcpy(out + 9, h + 8, 4);
    out[13] = '-';
    memcpy(out + 14, h + 12, 4);
    out[18] = '-';
    memcpy(out + 19, h + 16, 4);
    out[23] = '-';
    memcpy(out + 24, h + 20, 12);
    out[36] = '\0';
}
