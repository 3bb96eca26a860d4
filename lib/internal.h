/*
 * internal.h: declarations shared by the files of liblmq (never installed).
 *
 * Naming: lmq__<module>_<verb> for cross-file internals. Tests reach these
 * through the static liblmq_internal.la.
 */
#ifndef LMQ_INTERNAL_H
#define LMQ_INTERNAL_H

#include "lmq.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__GNUC__)
#define LMQ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LMQ_PRINTF(a, b)
#endif

/* ---- error.c ----------------------------------------------------------- */

/* Set the thread's error detail to "NAME: <formatted text>" and return code.
 * With fmt == NULL the detail is the code's own description. */
int lmq__seterr(int code, const char *fmt, ...) LMQ_PRINTF(2, 3);
/* Clear the thread's error detail. */
void lmq__clearerr(void);

/* ---- perms.c: who may open a home (issue 22) ----------------------------- */

/* What lmq_env_open was told about a home's permissions. */
typedef struct lmq__perms {
    bool group;  /* a group was named: a group home */
    gid_t gid;   /* that group */
    bool strict; /* refuse unsafe permissions instead of warning */
} lmq__perms;

/* Resolve the options (group NULL: $LMQ_GROUP; strict 0:
 * $LMQ_STRICT_PERMISSIONS). LMQ_EINVAL for a group that does not exist. */
int lmq__perms_resolve(const char *group, int strict, lmq__perms *p);
/* Check an existing home before anything is created or changed: 0 with
 * *warn NULL (sound, or no home yet) or a malloc'd line naming the
 * problems; LMQ_EPERM when strict and there are problems, or when this
 * process may not enter the home; LMQ_ENOMEM. */
int lmq__perms_check(const char *dir, const lmq__perms *p, char **warn);
/* Create a missing home (0700, or 02770 of the group) and its missing
 * parents (0700, or 0750 of the group). LMQ_EPERM, LMQ_EIO on failure,
 * with nothing left half made of the home itself. */
int lmq__perms_mkdir(const char *dir, const lmq__perms *p);
/* Files of a home: lib/homefile.h. */

/* ---- SQS limits (shared/SQS-SEMANTICS.md) ------------------------------- */

#define LMQ_MAX_BATCH 10
/* Messages the consumer runtime takes from a standard queue per receive
 * transaction (longpoll.h, lmq__receive_bulk). */
#define LMQ__RECV_BULK 100
#define LMQ_MAX_MSG_SIZE 1048576u      /* MaximumMessageSize ceiling, 1 MiB */
/* LmqMaximumBytes ceiling: 1 PiB, past any disk a home sits on. */
#define LMQ_MAX_QUEUE_BYTES (1ll << 50)
#define LMQ_MIN_MSG_SIZE 1024u
#define LMQ_MAX_BATCH_BYTES 1048576u   /* batch total, fixed */
#define LMQ_MAX_VISIBILITY 43200       /* 12 hours */
#define LMQ_MAX_DELAY 900
#define LMQ_MAX_WAIT 20
#define LMQ_MIN_RETENTION 60
#define LMQ_MAX_RETENTION 1209600
#define LMQ_MAX_MATTRS 10
#define LMQ_MAX_TAGS 50
#define LMQ_MAX_QUEUE_NAME 80         /* with the .fifo suffix */
#define LMQ_DEDUP_WINDOW_MS (5 * 60 * 1000)
#define LMQ_QUEUE_REUSE_MS (60 * 1000) /* QueueDeletedRecently window */
#define LMQ_PURGE_WINDOW_MS (60 * 1000)

/* ---- digest.c: hashes and identifiers ----------------------------------- */

/* Lowercase hex MD5 of data (OpenSSL libcrypto). */
void lmq__md5_hex(const void *data, size_t len, char out[33]);
/* Lowercase hex SHA-256 of data (libsodium). */
void lmq__sha256_hex(const void *data, size_t len, char out[65]);
/* A random (v4) lowercase UUID, 36 chars + NUL (libsodium randombytes). */
void lmq__uuid4(char out[37]);

/* ---- validate.c: SQS input rules (pure, no I/O) ------------------------ */

/* Queue name: [A-Za-z0-9_-]{1,80}; a FIFO name must end in ".fifo" (counted
 * in the 80) and a standard one must not. 0 or LMQ_EINVAL with detail. */
int lmq__valid_queue_name(const char *name, bool fifo);
/* Body / string attribute: valid UTF-8 whose code points are all in the XML
 * 1.0 Char set. 0, or LMQ_ECONTENTS with detail. Empty is allowed here (the
 * caller reports a missing body). */
int lmq__valid_chars(const char *s, size_t len);
/* Message attributes: at most 10; names 1-256 of [A-Za-z0-9_.-], not
 * starting with "AWS." or "Amazon." (any case), not starting or ending with
 * '.', no ".."; type String|Number|Binary optionally ".label", <= 256 chars;
 * non-empty values; String values pass lmq__valid_chars; Number values look
 * like numbers. On success *bytes is the SQS size accounting: sum of
 * name + type + value bytes. 0, or LMQ_EINVAL / LMQ_ECONTENTS with detail
 * ("Message (user) attribute 'X' must contain a non-empty value of type
 * 'String'." style). a may be NULL (size 0). */
int lmq__valid_mattrs(const lmq_mattrs *a, size_t *bytes);
/* MessageGroupId / MessageDeduplicationId / ReceiveRequestAttemptId: 1-128
 * chars of alphanumerics and !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~. param names
 * the parameter in the detail. 0 or LMQ_EINVAL. */
int lmq__valid_msg_ident(const char *param, const char *v);
/* Batch entry ids: n in 1..10 (LMQ_EBATCHEMPTY / LMQ_EBATCHTOOMANY), each
 * [A-Za-z0-9_-]{1,80} (LMQ_EBATCHID), distinct (LMQ_EBATCHIDSDUP). */
int lmq__valid_batch_ids(const char *const *ids, size_t n);
/* Tag key 1-128 / value 0-256 chars of Unicode letters, digits, spaces and
 * _ . : / = + - @; key must not start with "aws:". 0 or LMQ_EINVAL. */
int lmq__valid_tag(const char *key, const char *value);
/* Parse a decimal integer attribute value in [lo, hi]. 0 or LMQ_EINVAL. */
int lmq__parse_int(const char *s, long long lo, long long hi, long long *out);

/* ---- map.c: lmq_map / lmq_mattrs internals ------------------------------ */

/* Serialize a map / attribute list into a malloc'd buffer (for storage);
 * the format is length-prefixed and versionless (the record holding it is
 * versioned). */
int lmq__map_encode(const lmq_map *m, uint8_t **buf, size_t *len);
int lmq__map_decode(const uint8_t *buf, size_t len, lmq_map **out);
int lmq__mattrs_encode(const lmq_mattrs *a, uint8_t **buf, size_t *len);
int lmq__mattrs_decode(const uint8_t *buf, size_t len, lmq_mattrs **out);
/* A new list with only the attributes matching the MessageAttributeNames
 * filter (NULL filter -> NULL result; "All", ".*", "*", exact names, and
 * "Prefix.*"). *out is NULL when nothing matches. */
int lmq__mattrs_filter(const lmq_mattrs *a, const char *const *names,
                       lmq_mattrs **out);
/* Copy of a map (NULL in, empty map out). */
int lmq__map_dup(const lmq_map *m, lmq_map **out);

#endif /* LMQ_INTERNAL_H */
