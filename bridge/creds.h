/*
 * creds.h: AWS credentials as the AWS tools find them.
 *
 * The chain, first match wins: explicit keys; the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); the shared
 * files for the profile (AWS_PROFILE, else "default"):
 * AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) and AWS_CONFIG_FILE
 * (~/.aws/config, "[profile NAME]" sections), static keys or
 * credential_process (a command whose stdout is {"Version": 1,
 * "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}).
 * Credentials with an Expiration are fetched again 5 minutes before it.
 * Secrets are kept in sodium_malloc'd memory and wiped on free.
 */
#ifndef LMQ_BRIDGE_CREDS_H
#define LMQ_BRIDGE_CREDS_H

#include <stdint.h>

typedef struct lmq_creds lmq_creds;

typedef struct lmq_creds_opts {
    const char *profile;           /* NULL: AWS_PROFILE, else "default" */
    const char *access_key_id;     /* explicit, or NULL */
    const char *secret_access_key;
    const char *session_token;
} lmq_creds_opts;

/* Resolve the chain now. 0, or LMQ_ENOTFOUND (no credentials anywhere:
 * the detail says where it looked), LMQ_EINVAL (a malformed file or
 * credential_process output, with the line), LMQ_EIO. */
int lmq__creds_open(const lmq_creds_opts *o, lmq_creds **out);
void lmq__creds_close(lmq_creds *c);

/* The current keys, fetched again first when they expire within 5
 * minutes. Copies into the caller's buffers. 0, or an error as above (the
 * old keys stay in use until a refresh succeeds). Thread-safe. */
int lmq__creds_get(lmq_creds *c, char *akid, size_t akid_len, char *secret,
                   size_t secret_len, char *token, size_t token_len);

/* The region the profile names (AWS_REGION, AWS_DEFAULT_REGION, then the
 * config file's "region"), or NULL. Malloc'd. */
char *lmq__creds_region(const char *profile);

/* Where the keys came from ("environment", "profile default",
 * "credential_process"), for status lines. */
const char *lmq__creds_source(const lmq_creds *c);

#endif /* LMQ_BRIDGE_CREDS_H */
