/*
 * wal.h: the redo log of FULL homes (HOME/wal), used only by store.c.
 *
 * store.c runs LMDB without syncs in FULL homes and makes each commit
 * durable with one flush of a record in this log instead of LMDB's two (data
 * pages, then meta page). A record is a transaction's logical writes (put,
 * delete, delete range) tagged with its LMDB txnid; a checkpoint syncs LMDB
 * and saves the meta page of its newest transaction S in a header. After an
 * OS crash, LMDB's file is reverted to S and the records after S replayed
 * (store.c explains the protocol and why S's pages are still intact).
 *
 * This file knows nothing of LMDB: it owns the log's format, the shared tail
 * (a page of HOME/wal.lock mapped by every process, changed only under
 * LMDB's writer lock), and the fcntl locks of HOME/wal.lock: byte 0
 * serializes opens, byte 1 is held shared by every process with the home
 * open (so an open that gets it exclusively is alone and may recover), and
 * byte GEN_LOCK + gen is held by the process whose read transaction pins the
 * checkpoint of that generation.
 */
#ifndef LMQ_WAL_H
#define LMQ_WAL_H

#include "internal.h"

/* Bytes of LMDB's meta page saved per checkpoint: the page header (16
 * bytes) and MDB_meta of format 1 (LMDB 0.9, 136 bytes). */
#define LMQ_WAL_META_LEN 152

/* Operation kinds. A page image (db 0, key the page number as 8 bytes,
 * value the page) is a page of the checkpoint as it was before LMDB may
 * reuse it: recovery writes it back before it reverts LMDB (store.c). */
enum {
    LMQ_WAL_PUT = 1,
    LMQ_WAL_DEL = 2,
    LMQ_WAL_RANGE = 3,
    LMQ_WAL_PAGE = 4,
    LMQ_WAL_PAD = 5 /* filler; never handed to a scan's callback */
};

typedef struct lmq_wal lmq_wal;

typedef struct lmq_wal_ckpt {
    uint64_t gen;   /* 1, 2, ...: generation of the checkpoint */
    uint64_t txnid; /* S: the newest transaction on disk */
    uint32_t psize; /* LMDB page size: meta pages at 0 and psize */
    uint8_t meta[LMQ_WAL_META_LEN];
} lmq_wal_ckpt;

/* Open (creating) HOME/wal and HOME/wal.lock, holding the open lock; *alone
 * is whether no other process has the home open (recovery may run). Until
 * lmq__wal_opened(), other processes wait in their own open. */
int lmq__wal_open(const char *dir, lmq_wal **out, bool *alone);

/* The log's checksum, crc32c (Castagnoli) of n bytes at p: the fastest way
 * this CPU has, or (table) always the portable one. For the tests. */
uint32_t lmq__crc32c(const void *p, size_t n, bool table);
/* Publish this process as one of the home's openers; release the open
 * lock. */
void lmq__wal_opened(lmq_wal *w);
void lmq__wal_close(lmq_wal *w);

/* Compaction (lmq__store_compact): take the open lock of dir's home on an
 * open file description of its own (*fd: closing the log's descriptor does
 * not drop it; closing *fd does, and also this process's other locks on
 * HOME/wal.lock, so close it only after the log), waiting for opens under
 * way; *other is the pid of a process that has the home open, or 0. 0 or
 * LMQ_EIO. */
int lmq__wal_exclude(const char *dir, int *fd, pid_t *other);
/* Empty dir's log (its contents are in a synced data.mdb): no record, no
 * checkpoint, no old page image is left in it. 0 or an error. */
int lmq__wal_truncate(const char *dir);

/* ---- recovery (alone only) ---- */
/* The newest valid checkpoint: 0, or LMQ__NOTFOUND when there is none. */
int lmq__wal_last_ckpt(lmq_wal *w, lmq_wal_ckpt *ck);
/* Call fn for every operation of the records that follow ck contiguously
 * (same generation, txnids ck->txnid + 1, + 2, ...; a torn or foreign
 * record ends the log). Returns the number of records (>= 0), fn's error
 * (< 0), or an I/O error. With fn NULL it only counts. */
typedef int (*lmq_wal_op_fn)(void *arg, int kind, int db, const void *k,
                             size_t kl, const void *v, size_t vl);
int lmq__wal_scan(lmq_wal *w, const lmq_wal_ckpt *ck, lmq_wal_op_fn fn,
                  void *arg);
/* lmq__wal_scan() without fn, at the open that recovers, before anything
 * changes: the number of records, or LMQ_ECORRUPT (naming the file and the
 * offset) when the run of records stops before records known to have been
 * written or flushed (wal.c, "damage"). */
int lmq__wal_verify(lmq_wal *w, const lmq_wal_ckpt *ck);
/* Set the shared tail after recovery: generation gen (no process owns it,
 * so the first logged write checkpoints), newest transaction txnid. */
void lmq__wal_reset_shared(lmq_wal *w, uint64_t gen, uint64_t txnid);

/* ---- the record of the running transaction (the leader's alone) ---- */
void lmq__wal_rec_reset(lmq_wal *w);
int lmq__wal_rec_op(lmq_wal *w, int kind, int db, const void *k, size_t kl,
                    const void *v, size_t vl);
/* A reserved value: its bytes are copied at the next operation or mark. */
int lmq__wal_rec_reserve(lmq_wal *w, int db, const void *k, size_t kl,
                         const void *v, size_t vl);
/* Copy any pending reserve and return the record's length so far: a
 * savepoint for lmq__wal_rec_truncate() (a nested transaction aborted). */
size_t lmq__wal_rec_mark(lmq_wal *w);
void lmq__wal_rec_truncate(lmq_wal *w, size_t mark);
bool lmq__wal_rec_empty(lmq_wal *w);

/* ---- under LMDB's writer lock ---- */
/* Before a write transaction that will commit as txnid: 1 when a checkpoint
 * must come first (the log does not end at txnid - 1, no live process pins
 * the current one and it cannot be adopted, or, for an unlogged writer, the
 * log holds records), 2 when no live process pins it but the caller may
 * adopt it (lmq__wal_adopt, then pin txnid - 1 before writing anything),
 * else 0. A record left by a writer killed before its commit (same txnid)
 * is dropped here. */
int lmq__wal_enter(lmq_wal *w, uint64_t txnid, bool logged);
/* After lmq__wal_enter() returned 2: own the current generation; *upto and
 * *last are the published image cursor and S's last page (store.c). */
int lmq__wal_adopt(lmq_wal *w, uint64_t *upto, uint64_t *last);
/* The owner of gen publishes that its flushed images cover the pages of S
 * freed in free-list records <= upto (last: one past S's last page, 0 to
 * keep it); *last of lmq__wal_adopt() is the same. */
void lmq__wal_imaged(lmq_wal *w, uint64_t gen, uint64_t upto, uint64_t last);
/* At an open alone, before anything changes: whether the shared tail was
 * left by this boot and matches the log (ck and its nrec records) and LMDB's
 * newest transaction data_txnid, so no OS crash lost anything since and
 * data.mdb is as the processes left it: no revert or replay is needed, and
 * the log and the shared tail stay as they are. */
bool lmq__wal_warm(lmq_wal *w, const lmq_wal_ckpt *ck, int nrec,
                   uint64_t data_txnid);
/* Append the record as txnid; flushed: the caller flushes it next (a hard
 * write), so it is padded to end a page. Returns 0, or 1 when the log is
 * full (the caller checkpoints and appends again). *sync is set when this
 * record must be flushed even for a soft write: it is the first after the
 * checkpoint, and recovery must see that records follow it. */
int lmq__wal_append(lmq_wal *w, uint64_t txnid, bool flushed, bool *sync);
/* The next generation, for the caller's pin and ck->gen. */
uint64_t lmq__wal_next_gen(lmq_wal *w);
/* Write checkpoint ck durably and make it current, with this process as its
 * owner (the caller holds a read transaction on ck->txnid). */
int lmq__wal_checkpoint(lmq_wal *w, const lmq_wal_ckpt *ck);
/* Its first step: own ck->gen and publish it in the shared page, before
 * the header is written (tests stop here, as a checkpointer killed in
 * between would). */
int lmq__wal_publish(lmq_wal *w, const lmq_wal_ckpt *ck);
/* The txnid of the last record in the log (S when it has none). */
uint64_t lmq__wal_last_txnid(lmq_wal *w);
/* This process's owned generation was released (close): drop the lock. */
void lmq__wal_disown(lmq_wal *w);
/* True when this process owns the current checkpoint. */
bool lmq__wal_owner(lmq_wal *w);

/* ---- anywhere ---- */
/* Flush the log (after the commit, outside the writer lock). */
int lmq__wal_sync(lmq_wal *w);
/* A checkpoint is due (enough records or bytes since the last). */
bool lmq__wal_due(lmq_wal *w);
/* The current generation (the pin thread compares its own with it). */
uint64_t lmq__wal_gen(lmq_wal *w);
/* Whether a pin on checkpoint gen protects nothing any more: a newer
 * checkpoint exists, or the log is empty and LMDB has moved past it (newest
 * txnid), so the next logged writer must checkpoint first. Lock-free: both
 * hold until the next checkpoint. */
bool lmq__wal_pin_useless(lmq_wal *w, uint64_t gen, uint64_t txnid);
/* Records since the last checkpoint (tests). */
uint64_t lmq__wal_records(lmq_wal *w);
/* Where the next record goes (tests). */
uint64_t lmq__wal_tail(lmq_wal *w);

#endif /* LMQ_WAL_H */
