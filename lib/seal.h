/*
 * seal.h: encryption at rest. keyring.c loads the keys (a keyring file, a
 * passphrase, a key process) into guarded memory; seal.c seals and opens
 * message records and keys the FIFO dedup index. docs/SECURITY.md.
 */
#ifndef LMQ_SEAL_H
#define LMQ_SEAL_H

#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LMQ_KEY_BYTES 32
#define LMQ_KEY_FP_BYTES 8
#define LMQ_KEY_MAX_ALIASES 8

/* One key. Material lives in the keyring's guarded block. */
typedef struct lmq__key {
    char id[LMQ_KEY_ID_MAX];
    char *aliases[LMQ_KEY_MAX_ALIASES];
    size_t n_aliases;
    const uint8_t *k; /* LMQ_KEY_BYTES, in guarded memory */
    uint8_t fp[LMQ_KEY_FP_BYTES]; /* keyed hash of nothing: names the key */
    int64_t created;
    bool is_default;
} lmq__key;

typedef struct lmq__keyring {
    lmq__key *keys;
    size_t n;
    uint8_t *guard; /* sodium_malloc'd n * LMQ_KEY_BYTES, read-only */
} lmq__keyring;

/* ---- keyring.c ----------------------------------------------------------- */
/* Parse a keyring's JSON (LMQ_EKEY when malformed; what names it in
 * errors). */
int lmq__keyring_parse(const char *json, size_t len, const char *what,
                       lmq__keyring **out);
/* Load a keyring file: mode must give group and others nothing. */
int lmq__keyring_load(const char *path, lmq__keyring **out);
/* Run cmd (/bin/sh -c) and parse its standard output as a keyring. */
int lmq__keyring_process(const char *cmd, lmq__keyring **out);
/* A keyring of one default key: Argon2id(passphrase in file, salt). */
int lmq__keyring_passphrase(const char *file, const uint8_t salt[16],
                            lmq__keyring **out);
/* Merge b's keys into a (b is freed). */
int lmq__keyring_merge(lmq__keyring *a, lmq__keyring *b);
void lmq__keyring_free(lmq__keyring *kr);
/* A keyring of a's keys that b lacks (*out NULL when none). */
int lmq__keyring_missing(const lmq__keyring *a, const lmq__keyring *b,
                         lmq__keyring **out);
/* Remove key id from the keyring file at path. */
int lmq__keyring_file_remove(const char *path, const char *id);
/* lmq_keyring_add() with the new key's id chosen by the caller (id_in, 36
 * characters), or a fresh one (id_in NULL). */
int lmq__keyring_add_id(const char *path, const char *alias, int flags,
                        const char *id_in, char id_out[LMQ_KEY_ID_MAX]);
/* By key id, alias ("alias/x"), or an ARN ending in either. */
const lmq__key *lmq__keyring_find(const lmq__keyring *kr, const char *name);
const lmq__key *lmq__keyring_by_fp(const lmq__keyring *kr,
                                   const uint8_t fp[LMQ_KEY_FP_BYTES]);
const lmq__key *lmq__keyring_default(const lmq__keyring *kr);
void lmq__key_fp(const uint8_t k[LMQ_KEY_BYTES],
                 uint8_t fp[LMQ_KEY_FP_BYTES]);

#endif /* LMQ_SEAL_H */
