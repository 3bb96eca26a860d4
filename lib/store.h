/*
 * store.h: the storage layer. store.c is the only file that includes lmdb.h;
 * everything above it sees named databases, byte-string keys and values, and
 * two ways to run a unit of work: lmq__store_read() and lmq__store_write().
 *
 * A unit of work is a callback run inside one LMDB transaction. A write
 * callback may be run more than once (after the map grew, or another process
 * resized it), so it must have no effects outside the transaction. Every write
 * in lmq goes through lmq__store_write(): that is the one place where group
 * commit combines concurrent callers.
 */
#ifndef LMQ_STORE_H
#define LMQ_STORE_H

#include "internal.h"

/* Named databases. Keys are fixed-width big-endian so byte order is logical
 * order (see docs/ARCHITECTURE.md for the full layout). Append only. */
enum lmq_db {
    LMQ_DB_META,    /* name -> value: format version, secret, next qid */
    LMQ_DB_NAMES,   /* queue name -> qid u32 */
    LMQ_DB_QREC,    /* qid -> queue record (codec.c) */
    LMQ_DB_TOMBS,   /* queue name -> deletion time (QueueDeletedRecently) */
    LMQ_DB_MSG,     /* (qid, seq) -> immutable message record */
    LMQ_DB_HDR,     /* (qid, seq) -> mutable message header (fixed size) */
    LMQ_DB_VIS,     /* (qid, visible_at, seq) -> state byte */
    LMQ_DB_GROUPS,  /* FIFO: (qid, group) -> group state */
    LMQ_DB_GREADY,  /* FIFO: (qid, ready_at, seq) -> group id */
    LMQ_DB_DEDUP,   /* FIFO: (qid, dedup id) -> dedup record */
    LMQ_DB_ATTEMPT, /* FIFO: (qid, attempt id) -> receive attempt record */
    LMQ_DB_TASKS,   /* message move tasks */
    LMQ_DB_AUX,     /* spare namespace for later modules: (module, key) */
    LMQ_DB_METRICS, /* (qid, minute) -> metrics sample (metrics.c) */
    LMQ_DB__COUNT
};

/* Internal "key not found" result (positive: never returned to users). */
#define LMQ__NOTFOUND 1

typedef struct lmq_store lmq_store;
typedef struct lmq_txn lmq_txn;
typedef struct lmq_cur lmq_cur;

typedef struct lmq_val {
    const void *data;
    size_t len;
} lmq_val;

typedef struct lmq_store_opts {
    lmq_durability durability;
    unsigned flush_interval_ms;
    uint64_t map_size;
    uint64_t max_map_size;
    unsigned max_readers;
    bool writemap; /* for a home this open creates (see store.c) */
    uint64_t reserve; /* bytes kept for writes that free space */
    uint64_t max_bytes; /* home-wide limit on pages in use (0: none) */
} lmq_store_opts;

/* Open the LMDB environment in dir (which lmq_env_open made). Opening a dir this
 * process already has open returns the same store with its refcount raised
 * (LMDB forbids opening one environment twice in a process). */
int lmq__store_open(const char *dir, const lmq_store_opts *o, lmq_store **out);
void lmq__store_close(lmq_store *s);
/* Put everything committed on disk (FULL: a checkpoint, so the log is
 * empty afterwards). */
int lmq__store_sync(lmq_store *s);
/* True when the home uses LMDB's writable map (fixed at creation). */
bool lmq__store_writemap(const lmq_store *s);
/* Clear reader slots of dead processes; returns the number cleared. */
int lmq__store_reader_check(lmq_store *s);
/* Bytes the data file occupies, and the number of entries in a db. */
int lmq__store_stat(lmq_store *s, uint64_t *file_bytes, uint64_t *map_bytes);
/* Compact the home in dir whose store s is (docs/DURABILITY.md,
 * "Compaction"): with no other process having the home open, checkpoint,
 * write a compacted copy of data.mdb (only the pages in use) and swap it
 * in. Always closes s (as lmq__store_close), also on failure. *before and
 * *after (may be NULL): data.mdb's size. LMQ_EBUSY (another handle or
 * process has the home open: nothing changed), LMQ_EIO, LMQ_ENOSPC. */
int lmq__store_compact(lmq_store *s, const char *dir, uint64_t *before,
                       uint64_t *after);
/* For tests: wait until the prefault thread (writable relaxed homes) has
 * done what was asked; *used = bytes of pages in use, *ahead = bytes
 * populated past them. Returns whether the thread runs. */
int lmq__store_prefault_wait(lmq_store *s, uint64_t *used, uint64_t *ahead);

/* Backup (admin.c): checkpoint, then LMDB's compacting copy of the newest
 * transaction into dir/data.mdb (dir exists; the caller sets modes). */
int lmq__store_copy(lmq_store *s, const char *dir);
/* Scan the redo log under the writer lock: *records that follow the
 * current checkpoint, *expected those the shared tail says were appended
 * (a scan stopping short is damage). 0 or an error. */
int lmq__store_log_check(lmq_store *s, int *records, uint64_t *expected);

typedef int (*lmq_txn_fn)(lmq_txn *t, void *arg);

/* Run fn in a read-only transaction. fn's return value is returned. */
int lmq__store_read(lmq_store *s, lmq_txn_fn fn, void *arg);
/* Run fn in a write transaction and commit if it returns >= 0 (the value is
 * returned); abort if it returns < 0. Map-full grows the map (within
 * max_map_size) and reruns fn; LMQ_ENOSPC when it cannot grow. Concurrent
 * callers in one process share one transaction and one flush (group commit,
 * see store.c): fn may then run in another thread than the caller's (so it
 * must not rely on thread-locals other than the error detail, which is
 * carried back) and in a nested transaction; its result and error are the
 * caller's alone. */
int lmq__store_write(lmq_store *s, lmq_txn_fn fn, void *arg);
/* Space classes (store.c, "reservations"): lmq__store_write() is for
 * writes that may add data, and fails with LMQ_ENOSPC before it runs when
 * the home cannot keep its reserve (lmq_env_opts.disk_reserve) plus 64 KiB
 * free; lmq__store_write_need() adds need bytes to that (a send: its
 * messages). lmq__store_write_free() is for writes that give space back
 * (deletes, purges, deleting a queue): never refused for the reserve's
 * sake, they may use it. lmq__store_write_soft() (below) is such a write
 * too. */
int lmq__store_write_need(lmq_store *s, lmq_txn_fn fn, void *arg,
                          uint64_t need);
int lmq__store_write_free(lmq_store *s, lmq_txn_fn fn, void *arg);
/* lmq__store_write() for writes an OS crash may undo without losing
 * anything acknowledged: receives and visibility changes (undone, the
 * messages are merely visible again, as after their timeout, and every
 * consumer of the home died with the machine anyway). In FULL homes such a
 * commit's log record is written but not flushed; it reaches the disk with
 * the next flush of any process (an OS crash before then undoes the
 * receive, and recovery stops at the first record lost). A batch with any
 * plain write flushes. Other modes: the same as lmq__store_write(). */
int lmq__store_write_soft(lmq_store *s, lmq_txn_fn fn, void *arg);

/* Group commit introspection, for tests and the benchmark: units of work
 * queued for the next leader, and counters of the batches run so far. */
typedef struct lmq_gc_stats {
    uint64_t batches;   /* commits of group-commit batches */
    uint64_t ops;       /* units of work in them */
    uint64_t max_batch; /* largest batch */
} lmq_gc_stats;
size_t lmq__store_pending(lmq_store *s);
/* The redo log (store.c, "the log"), for tests and the benchmark. */
typedef struct lmq_log_stats {
    uint64_t gen;         /* current checkpoint generation (0: none) */
    uint64_t records;     /* appended since it */
    uint64_t tail;        /* log offset where the next record goes */
    int replayable;       /* records recovery would replay now */
    bool owner;           /* this process pins the current checkpoint */
    bool pinned;          /* this process holds a pin that is not reset */
    uint64_t checkpoints; /* made by this process */
    uint64_t images;      /* pages this process imaged into the log */
    uint64_t advances;    /* times it moved its pin past its checkpoint */
    uint64_t adoptions;   /* checkpoints whose owner was gone it adopted */
} lmq_log_stats;
void lmq__store_log_stats(lmq_store *s, lmq_log_stats *st);
void lmq__store_gc_stats(lmq_store *s, lmq_gc_stats *st);
/* Test seam (process-wide): fn runs in the leader just before each commit,
 * with the number of units in it; NULL removes it. */
void lmq__store_set_commit_hook(void (*fn)(size_t nops));

/* Operations inside a transaction. get returns 0 or LMQ__NOTFOUND; the value
 * points into the map and is valid until the transaction ends or the next
 * write to the same key. */
int lmq__txn_get(lmq_txn *t, int db, const void *k, size_t kl, lmq_val *v);
int lmq__txn_put(lmq_txn *t, int db, const void *k, size_t kl, const void *v,
                 size_t vl);
/* Reserve vl bytes for key k and return a pointer to fill before the next
 * operation in this transaction. */
int lmq__txn_reserve(lmq_txn *t, int db, const void *k, size_t kl, size_t vl,
                     void **out);
/* Returns 0 or LMQ__NOTFOUND. */
int lmq__txn_del(lmq_txn *t, int db, const void *k, size_t kl);
/* Drop every key in [lo, hi) of db; *n (may be NULL) counts them. */
int lmq__txn_del_range(lmq_txn *t, int db, const void *lo, size_t lol,
                       const void *hi, size_t hil, uint64_t *n);
/* The per-transaction user pointer (the op's context). */
void *lmq__txn_user(lmq_txn *t);
void lmq__txn_set_user(lmq_txn *t, void *u);

int lmq__cur_open(lmq_txn *t, int db, lmq_cur **out);
void lmq__cur_close(lmq_cur *c);
/* Position at the first key >= k; 0 or LMQ__NOTFOUND. */
int lmq__cur_seek(lmq_cur *c, const void *k, size_t kl, lmq_val *key,
                  lmq_val *val);
int lmq__cur_next(lmq_cur *c, lmq_val *key, lmq_val *val);
/* Delete the entry under the cursor. */
int lmq__cur_del(lmq_cur *c);

/* Whether lmq__txn_populate() does anything in this transaction (a
 * writable map in a relaxed mode). */
bool lmq__txn_populates(const lmq_txn *t);
/* Make the map pages holding the n addresses (pointers into the map, as
 * lmq__txn_get() and the cursors return them) writable in this process's
 * map now, in a few calls, ahead of LMDB's stores into them (store.c,
 * "populate"). Nothing changes in the pages; failures are ignored. */
void lmq__txn_populate(lmq_txn *t, const void *const *addrs, size_t n);

/* Fixed-width big-endian helpers for keys and records. */
static inline void
lmq__put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline uint32_t
lmq__get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}
static inline void
lmq__put_u64(uint8_t *p, uint64_t v)
{
    lmq__put_u32(p, (uint32_t)(v >> 32));
    lmq__put_u32(p + 4, (uint32_t)v);
}
static inline uint64_t
lmq__get_u64(const uint8_t *p)
{
    return ((uint64_t)lmq__get_u32(p) << 32) | lmq__get_u32(p + 4);
}

#endif /* LMQ_STORE_H */
