/*
 * digest.c: the hashes and identifiers lmq hands out.
 *
 * Design: SQS defines its digests in MD5 (MD5OfMessageBody and
 * MD5OfMessageAttributes), which libsodium deliberately does not offer, so
 * MD5 comes from OpenSSL's libcrypto through the EVP interface (the low-level
 * MD5_* calls are deprecated in OpenSSL 3). Everything else, SHA-256 for
 * content-based deduplication ids and the randomness behind MessageIds, comes
 * from libsodium, which the rest of the core already needs. Hex encoding uses
 * sodium_bin2hex (constant time, lowercase), so nothing here is hand-written
 * crypto.
 *
 * Invariants: outputs are always NUL-terminated lowercase hex or a lowercase
 * RFC 4122 version 4 UUID; none of these functions allocates on the caller's
 * behalf or keeps state other than libsodium's one-time initialisation.
 */
#include "internal.h"

#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;

static void
sodium_init_once(void)
{
    /* sodium_init() only fails when no entropy source exists at all; then
     * randombytes_buf() itself aborts through sodium_misuse(), which is the
     * only safe outcome for a generator of unique ids, so the failure needs
     * no handling here. */
    if (sodium_init() < 0)
        return;
}

void
lmq__md5_hex(const void *data, size_t len, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    /* EVP_Digest can fail only on allocation failure or a provider setup
     * without MD5 (a FIPS-only libcrypto). The signature has no error
     * return, so the failure shows as an empty string, which never equals a
     * real digest. */
    if (EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL) != 1 ||
        mdlen != 16) {
        out[0] = '\0';
        return;
    }
    sodium_bin2hex(out, 33, md, 16);
}

void
lmq__sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[crypto_hash_sha256_BYTES];

    pthread_once(&sodium_once, sodium_init_once);
    crypto_hash_sha256(md, data, (unsigned long long)len);
    sodium_bin2hex(out, 65, md, sizeof md);
}

void
lmq__uuid4(char out[37])
{
    unsigned char b[16];
    char hex[33];

    pthread_once(&sodium_once, sodium_init_once);
    randombytes_buf(b, sizeof b);
    /* RFC 4122 section 4.4: the high nibble of octet 6 is the version (4),
     * the two high bits of octet 8 are the variant (binary 10). */
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    sodium_bin2hex(hex, sizeof hex, b, sizeof b);

    /* 8-4-4-4-12 groups of the 32 hex digits. */
    memcpy(out, hex, 8);
    out[8] = '-';
    memcpy(out + 9, hex + 8, 4);
    out[13] = '-';
    memcpy(out + 14, hex + 12, 4);
    out[18] = '-';
    memcpy(out + 19, hex + 16, 4);
    out[23] = '-';
    memcpy(out + 24, hex + 20, 12);
    out[36] = '\0';
}
