/*
 * core.h: the objects of the queue core shared by env.c, catalog.c,
 * codec.c, receipt.c, queue_std.c and the modules built on them (FIFO, DLQ,
 * long polling). Nothing here knows about HTTP, AWS wire formats or LMDB.
 */
#ifndef LMQ_CORE_H
#define LMQ_CORE_H

#include "internal.h"
#include "store.h"

#include <pthread.h>
#include <sys/types.h>
#include <time.h>

#define LMQ_ENV_MAGIC 0x6c6d7165u   /* "lmqe" */
#define LMQ_QUEUE_MAGIC 0x6c6d7171u /* "lmqq" */
/* 2: message records carry their first header, header rows appear on the
 * first change. 3: a standard-queue message visible from its send has no vis
 * entry until its first receive (LMQ_MH_UNINDEXED; queue_std.c). 4: queue
 * records carry the metric totals, and the metrics db holds their history
 * (metrics.c). An older home is upgraded in place when opened (nothing in it
 * needs rewriting: its records are still read, with totals 0, and all its
 * messages have vis entries). 5: sealed message records (version 3) and
 * queue records with a seal key (version 5), seal.c. 6: queue records
 * (version 6) keep the stored bytes of their messages and the totals of
 * messages removed without a delete (dropped, expired, purged, moved);
 * opening an older home computes the stored bytes once (env.c). */
#define LMQ_FORMAT_VERSION 6u
#define LMQ_FORMAT_OLDEST 1u

struct lmq_notify;
struct lmq__clock_file;

struct lmq_env {
    uint32_t magic;
    lmq_store *store;
    struct lmq_notify *notify;
    lmq_clock_fn clock;
    void *clock_arg;
    bool custom_clock; /* a clock tests move: opts.clock or the test clock */
    struct lmq__clock_file *tclock; /* HOME/clock mapped, or NULL (clock.c) */
    char *path;
    char *url_base;
    char *region;
    char *account;
    char *group;             /* opts.group as given, or NULL (perms.c) */
    bool strict_permissions; /* as resolved at open */
    uint64_t max_msgs; /* opts.max_messages: home-wide limit, 0 = none */
    char *warning; /* unsafe permissions found at open, or NULL */
    uint8_t secret[32]; /* receipt-handle MAC key, from the meta db */
    uint8_t receipt_key[16]; /* SipHash key derived from secret (receipt.c) */
    uint8_t home_id[16]; /* binds sealed records to this home (seal.c) */
    struct lmq__keyring *keyring; /* NULL: no keys (seal.c); atomic */
    char *key_file;               /* reloaded when a key is missing */
    pthread_mutex_t key_mu;       /* reloads */
    struct timespec key_mtime;    /* of key_file as last read */
    ino_t key_ino;
    struct lmq__retired *key_retired; /* replaced keyrings, freed at close */
    struct lmq__dk_cache *dk_cache;   /* derived data keys (seal.c) */
    uint8_t nonce_prefix[16];         /* random per env (seal.c) */
    uint64_t nonce_ctr;
    /* Receives waiting in this env: close interrupts and waits for them. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int waiting;
    int closing;
};

struct lmq_queue {
    uint32_t magic;
    lmq_env *env;
    uint32_t qid;
    bool fifo;
    char *name;
    /* receive: the leaf pages of `msg` before this seq were handed to
     * lmq__txn_populate() (queue_std.c, populate_ahead()); changed under
     * the writer lock */
    uint64_t pop_seq;
};

/* Message states, as stored in the vis index value and the header. */
enum lmq_mstate {
    LMQ_MS_DELAYED = 0,
    LMQ_MS_VISIBLE = 1,
    LMQ_MS_INFLIGHT = 2,
};

/* A queue record, decoded. The fixed part is copied out; attrs/tags are
 * decoded only when asked for (see lmq__qrec_decode), otherwise the encoded
 * tail is kept by reference (valid until the record is rewritten) and copied
 * verbatim by lmq__qrec_encode. */
typedef struct lmq_qrec {
    uint32_t qid;
    bool fifo;
    int64_t created_ms;
    int64_t modified_ms;
    uint32_t visibility_timeout; /* seconds */
    uint32_t retention;          /* seconds */
    uint32_t max_size;           /* bytes */
    uint32_t delay;              /* seconds */
    uint32_t wait;               /* ReceiveMessageWaitTimeSeconds */
    bool content_dedup;
    bool dedup_scope_group;     /* DeduplicationScope=messageGroup */
    bool throughput_per_group;  /* FifoThroughputLimit=perMessageGroupId */
    uint32_t redrive_max;       /* maxReceiveCount; 0 = no RedrivePolicy */
    uint64_t next_seq;
    /* Counters, exact as of settled_ms (see lmq__q_settle). */
    int64_t n_visible;
    int64_t n_inflight;
    int64_t n_delayed;
    int64_t settled_ms;
    int64_t last_purge_ms;
    /* Hints that let most operations skip a cursor walk; 0 = unknown.
     * due_ms: no vis entry with visible_at > settled_ms lies before it, so
     * settling to a time before it has nothing to walk. sweep_ms: no message
     * of the queue expires before it (the sweep has nothing to remove). */
    int64_t due_ms;
    int64_t sweep_ms;
    /* Standard queues: no message below it is LMQ_MH_UNINDEXED. */
    uint64_t front_seq;
    /* Metric totals since the queue was created (record version 4, see
     * metrics.c), kept by the transactions that do the work. */
    uint64_t m_sent;
    uint64_t m_sent_bytes;
    uint64_t m_received;
    uint64_t m_deleted;
    uint64_t m_empty;
    /* The minute (epoch ms / 60000) of the last history row written, or 0. */
    uint64_t m_minute;
    /* Record version 6: the stored bytes of the queue's messages (the sum
     * of lmq__mrec_stored_size() over its records; LmqMaximumBytes), and
     * the totals of messages removed without a delete: dropped by
     * drop-oldest, expired by retention, purged, moved out (a redrive
     * policy's DLQ move, a move task). */
    uint64_t stored_bytes;
    uint64_t m_dropped;
    uint64_t m_expired;
    uint64_t m_purged;
    uint64_t m_moved;
    /* Encryption at rest (record version 5, seal.c): LMQ_SEAL_*, the
     * fingerprint of the key new messages are sealed with, and
     * KmsDataKeyReusePeriodSeconds (data keys are derived per period). */
    uint8_t seal_kind;
    uint8_t seal_fp[8];
    uint32_t seal_reuse;
    char name[81];
    /* Verbatim string attributes: Policy, RedrivePolicy, RedriveAllowPolicy,
     * KmsMasterKeyId, KmsDataKeyReusePeriodSeconds, SqsManagedSseEnabled. */
    lmq_map *attrs;
    lmq_map *tags;
    const uint8_t *tail; /* encoded attrs+tags when not decoded */
    size_t tail_len;
} lmq_qrec;

/* The mutable message header (fixed size, rewritten on every receive). */
typedef struct lmq_mhdr {
    int64_t visible_at;
    int64_t enqueue_ms;    /* retention counts from here */
    int64_t first_recv_ms; /* 0 until the first delivery */
    int64_t recv_start_ms; /* when the current delivery began (12 h cap) */
    uint32_t recv_count;
    uint8_t state;
    uint8_t flags; /* LMQ_MH_* */
} lmq_mhdr;
/* No vis entry: a standard-queue message never received and visible since
 * its send; receive finds it in msg from the queue's front_seq. */
#define LMQ_MH_UNINDEXED 0x01
#define LMQ_MHDR_SIZE 40

enum { LMQ_SEAL_NONE = 0, LMQ_SEAL_SQS = 1, LMQ_SEAL_KMS = 2 };

/* The immutable message record, as a view into stored bytes. A sealed
 * record (version 3) leaves md5_body, dedup, trace, dlq_src, attrs and body
 * empty until lmq__mview_open() fills them from its ciphertext. */
typedef struct lmq_mview {
    char message_id[37];
    char md5_body[33];
    int64_t sent_ms;
    const char *group;
    size_t group_len;
    const char *dedup;
    size_t dedup_len;
    const char *trace;
    size_t trace_len;
    const char *dlq_src;  /* DeadLetterQueueSourceArn */
    size_t dlq_src_len;
    const uint8_t *attrs; /* encoded lmq_mattrs */
    size_t attrs_len;
    const char *body;
    size_t body_len;
    /* Sealed records only. */
    bool sealed;
    uint8_t fp[8];        /* the sealing key's fingerprint */
    uint32_t period;      /* data-key period */
    const uint8_t *rec;   /* the record: rec[0, ct - rec) is authenticated */
    const uint8_t *nonce; /* 24 bytes */
    const uint8_t *ct;    /* ciphertext + 16-byte tag */
    size_t ct_len;
} lmq_mview;

/* ---- codec.c ---------------------------------------------------------- */
void lmq__qrec_init(lmq_qrec *r);
void lmq__qrec_free(lmq_qrec *r); /* frees attrs/tags only */
/* Decode a stored record; with maps, attrs and tags are decoded (and must be
 * freed with lmq__qrec_free), else kept as tail. LMQ_ECORRUPT on bad input. */
int lmq__qrec_decode(const void *buf, size_t len, bool maps, lmq_qrec *r);
int lmq__qrec_encode(const lmq_qrec *r, uint8_t **buf, size_t *len);
void lmq__mhdr_encode(const lmq_mhdr *h, uint8_t out[LMQ_MHDR_SIZE]);
int lmq__mhdr_decode(const void *buf, size_t len, lmq_mhdr *h);
/* A message record: the message plus its first header (h). */
size_t lmq__mview_size(const lmq_mview *m);
void lmq__mview_encode(const lmq_mview *m, const lmq_mhdr *h, uint8_t *out);
int lmq__mview_decode(const void *buf, size_t len, lmq_mview *m);
/* The sealed part of a record: md5, dedup, trace, DLQ source, attributes,
 * body ("inner"), and a version 3 record around its ciphertext. */
size_t lmq__mview_inner_size(const lmq_mview *m);
void lmq__mview_inner_encode(const lmq_mview *m, uint8_t *out);
int lmq__mview_inner_decode(const uint8_t *buf, size_t len, lmq_mview *m);
#define LMQ_SEAL_NONCE 24
#define LMQ_SEAL_TAG 16
size_t lmq__msealed_size(const lmq_mview *m);
/* Write a version 3 record's clear part (ciphertext length ct_len); returns
 * where its ciphertext goes, *nonce where its nonce goes. */
uint8_t *lmq__msealed_encode(const lmq_mview *m, const lmq_mhdr *h,
                             const uint8_t fp[8], uint32_t period,
                             size_t ct_len, uint8_t *out, uint8_t **nonce);
/* The bytes a stored message record counts in its queue's stored bytes:
 * a clear record its SQS size (body plus user attributes, as
 * lmq__metrics_msg_size()); a sealed one, whose sizes are inside its
 * ciphertext, the bytes of its sealed contents without their framing
 * (body, attributes with their framing, dedup id, trace header, DLQ
 * source). 0 for a record that does not decode. */
size_t lmq__mrec_stored_size(const void *buf, size_t len);
/* The same for the record of open view mv in a queue that seals (or not). */
size_t lmq__mview_stored_size(const lmq_mview *mv, bool sealed);
/* The first header inside a message record; LMQ__NOTFOUND for a version 1
 * record, which has none (its header row always exists). */
int lmq__mrec_hdr(const void *buf, size_t len, lmq_mhdr *h);

/* Keys. */
#define LMQ_MKEY_LEN 12 /* qid u32, seq u64 */
#define LMQ_VKEY_LEN 20 /* qid u32, visible_at u64, seq u64 */
void lmq__mkey(uint8_t k[LMQ_MKEY_LEN], uint32_t qid, uint64_t seq);
void lmq__vkey(uint8_t k[LMQ_VKEY_LEN], uint32_t qid, int64_t at,
               uint64_t seq);

/* ---- env.c -------------------------------------------------------------- */
int64_t lmq__now(const lmq_env *env);
int lmq__env_check(const lmq_env *env);     /* LMQ_EMISUSE if bad */
int lmq__queue_check(const lmq_queue *q);   /* LMQ_EMISUSE if bad */
char *lmq__arn(const lmq_env *env, const char *name);     /* malloc'd */
char *lmq__url(const lmq_env *env, const char *name);     /* malloc'd */
/* Queue name from an ARN of this env's form; NULL if not one. malloc'd. */
char *lmq__arn_name(const lmq_env *env, const char *arn);

/* ---- clock.c: the home's test clock ------------------------------------ */
/* Map HOME/clock (creating it when create) and put env on it. 0 (also when
 * the home has no clock file and !create: env keeps its clock), LMQ_EIO,
 * LMQ_ENOMEM. */
int lmq__clock_open(lmq_env *env, bool create);
/* Unmap the test clock of env, if any. */
void lmq__clock_close(lmq_env *env);

/* ---- longpoll.c: waiting receives ------------------------------------- */
int lmq__env_notify_open(lmq_env *env);
void lmq__env_notify_close(lmq_env *env); /* interrupts, waits for waiters */
/* After a commit that made n messages of qid visible. */
void lmq__wake(lmq_env *env, uint32_t qid, uint32_t n);
/* Wake every waiter of every queue of the home (a test-clock advance, a
 * reset): they look again. */
void lmq__wake_all(lmq_env *env);

/* ---- receipt.c ---------------------------------------------------------- */
#define LMQ_RECEIPT_MAX 64
/* Derive env->receipt_key from env->secret (once the secret is known). */
void lmq__receipt_init(lmq_env *env);
void lmq__receipt_make(const lmq_env *env, uint32_t qid, uint64_t seq,
                       uint32_t gen, char out[LMQ_RECEIPT_MAX]);
/* 0, or LMQ_ERECEIPT (malformed, forged or altered). */
int lmq__receipt_parse(const lmq_env *env, const char *s, uint32_t *qid,
                       uint64_t *seq, uint32_t *gen);

/* ---- seal.c: encryption at rest ---------------------------------------- */
/* Load env's keys from the options (or LMQ_KEY_* variables) and derive its
 * home id; after the secret is known. */
int lmq__seal_env_open(lmq_env *env, const lmq_env_opts *o);
void lmq__seal_env_close(lmq_env *env);
/* Read the keyring file again if it changed: 0, LMQ__NOTFOUND (unchanged or
 * none), or an error. */
int lmq__seal_reload(lmq_env *env);
/* CreateQueue / SetQueueAttributes: set r's seal_* from its attributes
 * (KmsMasterKeyId, SqsManagedSseEnabled, KmsDataKeyReusePeriodSeconds)
 * when in names one of them (creating: always, with the default). */
int lmq__seal_config(lmq_txn *t, const lmq_env *env, lmq_qrec *r,
                     const lmq_map *in, bool creating);
/* Size of message mv's record in queue r, and its encoding (sealed when
 * the queue is). */
size_t lmq__mrec_size(const lmq_qrec *r, const lmq_mview *mv);
int lmq__mrec_encode(const lmq_env *env, const lmq_qrec *r, uint64_t seq,
                     const lmq_mview *mv, const lmq_mhdr *h, uint8_t *out);
/* Open a sealed view in place (no-op for a clear one): fills its contents
 * from the ciphertext into *plain (free with lmq__seal_free). LMQ_EKEY
 * when the key is missing, LMQ_ECORRUPT (naming queue and message) when the
 * ciphertext does not authenticate. */
int lmq__mview_open(const lmq_env *env, uint32_t qid, const char *qname,
                    uint64_t seq, lmq_mview *mv, uint8_t **plain);
void lmq__seal_free(uint8_t *plain);
/* FIFO dedup: the id stored in the index for a sealed queue (a keyed hash,
 * 64 hex characters + NUL), else the id itself. */
int lmq__seal_dedup_id(const lmq_env *env, const lmq_qrec *r, const char *id,
                       size_t len, char out[129]);
/* The id a FIFO index of queue qid (named qname in errors) holds for id
 * under the seal mode of key fingerprint fp (NULL or zeros: clear, the id
 * itself; else a keyed BLAKE2b, 64 hex characters + NUL, with a key
 * derived for the purpose). LMQ_EKEY when the env lacks that key. */
enum { LMQ_SEAL_ID_DEDUP = 0, LMQ_SEAL_ID_ATTEMPT = 1 };
int lmq__seal_fifo_id(const lmq_env *env, uint32_t qid, const char *qname,
                      const uint8_t fp[8], int purpose, const char *id,
                      size_t len, char out[129]);

/* ---- catalog.c ---------------------------------------------------------- */
/* Load the record of qid; LMQ_ENOQUEUE if it no longer exists. */
int lmq__q_load(lmq_txn *t, uint32_t qid, bool maps, lmq_qrec *r);
int lmq__q_load_name(lmq_txn *t, const char *name, bool maps, lmq_qrec *r);
int lmq__q_save(lmq_txn *t, const lmq_qrec *r);
/* Opening a home older than format 6: give every queue record its stored
 * bytes (a walk of its messages) and move LmqDroppedMessages from its
 * attribute map (format 5) to m_dropped; every record is rewritten at the
 * current version. */
int lmq__q_upgrade_all(lmq_txn *t);
/* Bring counters up to now: every vis entry whose visible_at crossed into
 * (settled_ms, now] is counted visible from now on. */
int lmq__q_settle(lmq_txn *t, lmq_qrec *r, int64_t now);
/* The effective state of an entry under the settle rule. */
static inline int
lmq__q_state(const lmq_qrec *r, int64_t visible_at, int stored)
{
    return visible_at <= r->settled_ms ? LMQ_MS_VISIBLE : stored;
}
void lmq__q_count(lmq_qrec *r, int state, int delta);

/* ---- metrics.c ---------------------------------------------------------- */
/* Called by every write of a queue right after it settled r to now, before
 * it changes anything: the first write of a new minute records r's metrics
 * in the history (and trims rows past LMQ_METRICS_HISTORY_MINUTES, a few per
 * call). Costs a compare otherwise. r is saved by the caller. */
int lmq__metrics_tick(lmq_txn *t, lmq_qrec *r, int64_t now);
/* SentMessageSize of a stored message: body plus user attributes (name,
 * DataType and value bytes), as lmq__valid_mattrs() counts them. */
size_t lmq__metrics_msg_size(const lmq_mview *mv);
/* inspect.c: ApproximateAgeOfOldestMessage of r at now, in ms. */
int lmq__q_oldest_age(lmq_txn *t, const lmq_qrec *r, int64_t now,
                      int64_t *age);

/* ---- dlq.c -------------------------------------------------------------- */
/* Validate RedrivePolicy / RedriveAllowPolicy value for queue r (being
 * created or changed) and return its normalised stored form in *norm
 * (malloc'd), or NULL in *norm to remove the attribute ("" value). Also sets
 * the record's parsed fields (r->redrive_max). */
int lmq__redrive_attr(lmq_txn *t, lmq_env *env, lmq_qrec *r, const char *name,
                      const char *value, char **norm);

/* ---- queue_std.c: message primitives shared by FIFO and DLQ ------------- */
/* Insert a message (mv, with its attrs already encoded) into queue r at seq
 * r->next_seq++, visible at visible_at (state DELAYED if in the future). */
int lmq__msg_insert(lmq_txn *t, const lmq_env *env, lmq_qrec *r,
                    const lmq_mview *mv, const lmq_mhdr *h,
                    uint64_t *seq_out);
/* Why a message is removed: the total of the queue's metrics it counts
 * in (metrics.c). */
enum {
    LMQ_RM_DELETE, /* NumberOfMessagesDeleted */
    LMQ_RM_EXPIRE, /* retention */
    LMQ_RM_DROP,   /* LmqOverLimitPolicy drop-oldest */
    LMQ_RM_MOVE,   /* to a DLQ, or by a move task */
};
/* Remove message seq (record, header, vis entry), adjusting the counters,
 * the stored bytes and the total that `why` names. */
int lmq__msg_remove(lmq_txn *t, lmq_qrec *r, uint64_t seq, const lmq_mhdr *h,
                    int why);
/* Move a message's vis entry to visible_at with stored state st. */
int lmq__msg_revisit(lmq_txn *t, lmq_qrec *r, uint64_t seq, lmq_mhdr *h,
                     int64_t visible_at, int st);
int lmq__msg_hdr(lmq_txn *t, uint32_t qid, uint64_t seq, lmq_mhdr *h);
int lmq__msg_view(lmq_txn *t, uint32_t qid, uint64_t seq, lmq_mview *mv);
/* Build the caller's copy of message seq (mv: its record, h: its header)
 * without changing anything: user attributes filtered by attr_names (NULL:
 * none), state and visible_at from h as of now, no receipt handle. */
int lmq__msg_make(const lmq_env *env, const lmq_qrec *r, uint64_t seq,
                  const lmq_mview *mv, const lmq_mhdr *h, int64_t now,
                  const char *const *attr_names, lmq_msg **out);
/* Deliver message seq now (receive count, timestamps, visibility) and build
 * the caller's lmq_msg. */
int lmq__msg_deliver(lmq_txn *t, lmq_queue *q, lmq_qrec *r, uint64_t seq,
                     lmq_mhdr *h, int64_t now, int vt,
                     const char *const *attr_names, lmq_msg **out);
/* Whether a message has outlived the queue's retention at now. */
static inline bool
lmq__msg_expired(const lmq_qrec *r, const lmq_mhdr *h, int64_t now)
{
    return now >= h->enqueue_ms + (int64_t)r->retention * 1000;
}
/* Remove up to max messages past retention from the head of the queue. */
int lmq__q_sweep(lmq_txn *t, lmq_qrec *r, int64_t now, int max);

/* A send entry validated and prepared outside the transaction. */
typedef struct lmq_prep {
    const lmq_send_entry *e;
    lmq_send_result *res;
    int err;              /* per-entry validation error (batch) */
    size_t size;          /* SQS size accounting: body + attributes */
    lmq_mview mv;         /* ids, digests, encoded attrs, body */
    uint8_t *attrs_buf;   /* owned encoding of e->attrs */
    char dedup[129];      /* FIFO: explicit or content-based id */
} lmq_prep;

/* FIFO (queue_fifo.c). Called by queue_std.c for FIFO queues. */
/* Whole-request validation of FIFO send entries (group / dedup ids). */
int lmq__fifo_send_check(const lmq_queue *q, lmq_prep *p, size_t n,
                         bool batch);
/* Enqueue one prepared entry in a write transaction (dedup, groups). */
int lmq__fifo_enqueue(lmq_txn *t, lmq_queue *q, lmq_qrec *r, lmq_prep *p,
                      int64_t now);
/* Receive for FIFO queues; *next_at is the earliest future time at which
 * something may become deliverable (0 if unknown). */
int lmq__fifo_receive(lmq_txn *t, lmq_queue *q, lmq_qrec *r,
                      const lmq_recv_opts *o, int vt, int64_t now,
                      lmq_msg **msgs, size_t max, size_t *n, int64_t *next_at);

/* A FIFO message left flight (deleted, or visibility set to 0). The group
 * index is already up to date (the hooks below); returns 1 when a delete
 * made the message's group deliverable (the caller wakes a waiter), else 0,
 * or an error. */
int lmq__fifo_on_release(lmq_txn *t, lmq_qrec *r, uint64_t seq,
                         const lmq_mhdr *h, int64_t now);
/* Group-index hooks, called by lmq__msg_insert / _remove / _revisit for
 * FIFO queues (r->fifo) so every path that adds, removes or re-times a
 * message (send, receive, delete, visibility, retention, DLQ moves) keeps
 * the index exact. on_remove runs before the message record is deleted. */
int lmq__fifo_on_insert(lmq_txn *t, lmq_qrec *r, uint64_t seq,
                        const lmq_mview *mv, const lmq_mhdr *h);
int lmq__fifo_on_remove(lmq_txn *t, lmq_qrec *r, uint64_t seq,
                        const lmq_mhdr *h);
int lmq__fifo_on_revisit(lmq_txn *t, lmq_qrec *r, uint64_t seq,
                         const lmq_mhdr *h);
/* A FIFO queue's DelaySeconds changed from old_delay (catalog.c, record
 * settled to now): re-time the messages not yet received. */
/* Queue qid's FIFO ids stop being kept under the seal mode old_fp (zeros:
 * clear) at now: ids it hashed stay recognised while they may be live
 * (lookups try it too) -- call in the transaction that changes the
 * queue's key or encryption. */
int lmq__fifo_note_seal_change(lmq_txn *t, uint32_t qid,
                               const uint8_t old_fp[8], int64_t now);
/* Until when (*until, 0: not) a live FIFO id of queue qid may be hashed
 * under key fp: rotation keeps the key that long. */
int lmq__fifo_seal_until(lmq_txn *t, uint32_t qid, const uint8_t fp[8],
                         int64_t now, int64_t *until);
int lmq__fifo_on_delay_change(lmq_txn *t, lmq_qrec *r, uint32_t old_delay,
                              int64_t now);

/* Check and repair (admin.c). A problem found: kind is a short stable
 * word ("vis-missing"), the rest a sentence. */
typedef void (*lmq__problem_fn)(void *arg, const char *kind, const char *fmt,
                                ...) LMQ_PRINTF(3, 4);
/* FIFO state of message seq (its group member entry) and of the whole
 * queue (groups, ready entries, dedup and attempt records against their
 * expiry indexes): problems go to fn; 0 or a store error. */
int lmq__fifo_check_msg(lmq_txn *t, const lmq_qrec *r, uint64_t seq,
                        const lmq_mview *mv, lmq__problem_fn fn, void *arg);
int lmq__fifo_check(lmq_txn *t, const lmq_qrec *r, lmq__problem_fn fn,
                    void *arg);
/* Drop qid's group and ready indexes (lmq__msg_reindex rebuilds them) and
 * rebuild its dedup and attempt expiry indexes from their records. */
int lmq__fifo_drop_index(lmq_txn *t, uint32_t qid);
/* A deduplication record, for dump and load. */
typedef struct lmq_fifo_dedup {
    const char *id; /* as stored: a keyed hash in a sealed queue */
    size_t id_len;
    const char *group; /* scope messageGroup only */
    size_t group_len;
    bool group_scope;
    int64_t expires_ms;
    uint64_t seq;
    char message_id[37];
} lmq_fifo_dedup;
int lmq__fifo_dedup_each(lmq_txn *t, uint32_t qid,
                         int (*fn)(void *arg, const lmq_fifo_dedup *d),
                         void *arg);
int lmq__fifo_dedup_put(lmq_txn *t, uint32_t qid, const lmq_fifo_dedup *d);
/* Index an existing message (repair): its vis entry, or its count when it
 * is unindexed, and its FIFO group entries; counters of r move. */
int lmq__msg_reindex(lmq_txn *t, lmq_qrec *r, uint64_t seq,
                     const lmq_mview *mv, const lmq_mhdr *h);

/* DLQ (dlq.c): called for each receive candidate that is visible and not
 * expired. Returns 1 if it moved the message to the dead-letter queue (the
 * receiver skips it), 0 to deliver it, or an error. */
int lmq__dlq_on_receive(lmq_txn *t, lmq_queue *q, lmq_qrec *r, uint64_t seq,
                        lmq_mhdr *h, int64_t now);

/* queue_std.c: one receive attempt and option checks (longpoll.c loops).
 * empty says whether an attempt that finds nothing counts as one of the
 * queue's NumberOfEmptyReceives (a receive call counts once, however many
 * attempts its wait takes): LMQ__EMPTY_YES (the call's last attempt),
 * LMQ__EMPTY_NO (an attempt the call follows with a wait), or
 * LMQ__EMPTY_NOWAIT: when the call's wait is 0 (wait_ms if >= 0, else
 * o->wait_seconds, else the queue's ReceiveMessageWaitTimeSeconds). */
enum { LMQ__EMPTY_NO, LMQ__EMPTY_YES, LMQ__EMPTY_NOWAIT };
int lmq__receive_once(lmq_queue *q, const lmq_recv_opts *o, lmq_msg **msgs,
                      size_t max, size_t *n, int64_t *next_at,
                      uint32_t *wait_default, int empty, int64_t wait_ms);
int lmq__recv_validate(const lmq_recv_opts *o, size_t max);
/* Delete (or, with change, change the visibility of) n entries in one
 * transaction with per-entry results, like the batch calls but without
 * SQS's 10-entry limit or entry ids: for the library's own bulk users (the
 * consumer runtime's acknowledgements). */
int lmq__handles_many(lmq_queue *q, const lmq_handle_entry *e, size_t n,
                      lmq_batch_result *res, bool change);

/* lmq_msg internals, for faces of the core that build messages. */
struct lmq_msg {
    char id[37];
    char receipt[LMQ_RECEIPT_MAX];
    char md5_body[33];
    char md5_attrs[33];
    char *body;
    size_t body_len;
    lmq_mattrs *attrs;
    uint32_t recv_count;
    int64_t sent_ms;
    int64_t first_recv_ms;
    int64_t visible_at;
    int state; /* lmq_visibility */
    uint64_t seq;
    bool fifo;
    char *group;
    char *dedup;
    char *trace;
    char *dlq_src;
    char sender[40];
    char buf[4][24]; /* formatted numeric system attributes */
};

#endif /* LMQ_CORE_H */
