/**
 * @file lmq.h
 * @brief lmq: a durable, multi-process task queue with Amazon SQS semantics,
 *        stored in LMDB.
 *
 * lmq gives any number of local processes shared SQS-style queues (standard
 * and FIFO) kept in one LMDB environment, the "home" directory. There is no
 * server: every process links liblmq and opens the same home. Each operation
 * is one LMDB write transaction, so a failed call leaves nothing half done and
 * an acknowledged call survives a crash of the process (and, with the default
 * durability `LMQ_DURABILITY_FULL`, of the machine, except that the newest
 * receive or visibility change may be undone: see ::LMQ_DURABILITY_FULL).
 *
 * The objects:
 *  - lmq_env: an open home. Open it once per process (opening the same home
 *    again in one process shares the underlying store and is cheap).
 *  - lmq_queue: a handle on one queue, for message operations.
 *  - lmq_msg: one received message, owned by the caller.
 *  - lmq_map: an ordered string map (queue attributes, tags).
 *  - lmq_mattrs: a list of typed message attributes.
 *
 * Every function returns 0 or a negative ::lmq_err; outputs come last. The
 * detail of the last error of the calling thread is in lmq_errmsg().
 *
 * Threads: an lmq_env and its queues may be used from any number of threads
 * at once, except where a function's note says otherwise. lmq_msg, lmq_map
 * and lmq_mattrs objects are plain data: one thread at a time.
 *
 * @par Caveats
 *  - Open the env after fork(), never before: a child must not use its
 *    parent's lmq_env (LMDB forbids using an environment across fork).
 *  - Never place a home on NFS or other network file systems: LMDB needs a
 *    coherent shared memory map and working advisory locks.
 *  - A process that dies (even by SIGKILL, mid-write) never blocks the
 *    others: LMDB's writer mutex is robust, and stale reader slots of dead
 *    processes are cleared when a home is opened and periodically after.
 *  - Times are epoch milliseconds from the env's clock (the system clock by
 *    default; a custom clock is a test seam, see lmq_env_opts). A home made
 *    for tests may run on a test clock shared by all its processes (system
 *    time plus an offset that only moves forward): see
 *    lmq_env_clock_advance().
 *  - Whoever may open a home's files may read and change every queue in
 *    it: homes are private (0700, files 0600) unless a group is named
 *    (lmq_env_opts.group), and an open warns about unsafe permissions
 *    (lmq_env_warnings()) or, strict, refuses the home.
 *  - After a failed flush of the home (an fsync error: the disk failed),
 *    every later write of the process returns LMQ_EIO until every handle
 *    of the home in it is closed and the home opened again; an operation
 *    that failed with LMQ_EIO may or may not have taken effect
 *    (docs/DURABILITY.md, "I/O errors").
 */
#ifndef LMQ_H
#define LMQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LMQ_BUILDING) && defined(__GNUC__)
#define LMQ_API __attribute__((visibility("default")))
#else
#define LMQ_API
#endif

#if defined(__GNUC__)
#define LMQ_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define LMQ_WARN_UNUSED
#endif

#define LMQ_VERSION_MAJOR 0
#define LMQ_VERSION_MINOR 1
#define LMQ_VERSION_PATCH 0
#define LMQ_VERSION_STRING "0.1.0"

/**
 * @brief The error list: X(enum name, value, SQS error code, message).
 *
 * Append new codes at the end; never renumber or remove one. The SQS code is
 * the AWS error shape a face reports for it (empty when SQS has none).
 */
#define LMQ_ERRNO_MAP(X)                                                     \
    X(LMQ_OK, 0, "", "success")                                              \
    X(LMQ_EINVAL, -1, "InvalidParameterValue", "invalid parameter value")     \
    X(LMQ_EMISSING, -2, "MissingParameter", "missing required parameter")    \
    X(LMQ_ENOQUEUE, -3, "QueueDoesNotExist", "queue does not exist")         \
    X(LMQ_EQUEUEEXISTS, -4, "QueueNameExists",                               \
      "queue exists with different attributes")                              \
    X(LMQ_EDELETEDRECENTLY, -5, "QueueDeletedRecently",                      \
      "queue was deleted less than 60 seconds ago")                          \
    X(LMQ_EPURGEINPROGRESS, -6, "PurgeQueueInProgress",                      \
      "queue was purged less than 60 seconds ago")                           \
    X(LMQ_ERECEIPT, -7, "ReceiptHandleIsInvalid",                            \
      "receipt handle is invalid")                                           \
    X(LMQ_EATTRNAME, -8, "InvalidAttributeName", "invalid attribute name")   \
    X(LMQ_EATTRVALUE, -9, "InvalidAttributeValue",                           \
      "invalid attribute value")                                             \
    X(LMQ_ECONTENTS, -10, "InvalidMessageContents",                          \
      "message contains characters outside the allowed set")                 \
    X(LMQ_EBATCHTOOMANY, -11, "TooManyEntriesInBatchRequest",                \
      "too many entries in batch request")                                   \
    X(LMQ_EBATCHEMPTY, -12, "EmptyBatchRequest", "empty batch request")      \
    X(LMQ_EBATCHIDSDUP, -13, "BatchEntryIdsNotDistinct",                     \
      "batch entry ids are not distinct")                                    \
    X(LMQ_EBATCHID, -14, "InvalidBatchEntryId", "invalid batch entry id")    \
    X(LMQ_EBATCHTOOLONG, -15, "BatchRequestTooLong",                         \
      "batch request too long")                                              \
    X(LMQ_EUNSUPPORTED, -16, "UnsupportedOperation", "unsupported operation") \
    X(LMQ_EOVERLIMIT, -17, "OverLimit", "over limit")                        \
    X(LMQ_ENOTFOUND, -18, "ResourceNotFoundException",                       \
      "resource not found")                                                  \
    X(LMQ_EMISUSE, -19, "", "library misuse")                                \
    X(LMQ_ENOMEM, -20, "InternalFailure", "out of memory")                   \
    X(LMQ_EIO, -21, "InternalFailure", "input/output error")                 \
    X(LMQ_ENOSPC, -22, "InternalFailure", "home is full")                    \
    X(LMQ_ECORRUPT, -23, "InternalFailure", "home is corrupt")               \
    X(LMQ_EVERSION, -24, "InternalFailure",                                  \
      "home has an unsupported format version")                              \
    X(LMQ_EINTR, -25, "", "wait interrupted")                                \
    X(LMQ_EEXPIRED, -26, "InvalidParameterValue",                            \
      "receipt handle has expired")                                          \
    X(LMQ_EBUSY, -27, "", "resource busy")                                   \
    X(LMQ_EKEY, -28, "KmsNotFound",                                          \
      "encryption key missing or wrong")                                   \
    X(LMQ_EPERM, -29, "",                                                    \
      "home permissions are unsafe or deny this process")

/** @brief Error codes. 0 is success; all errors are negative. */
typedef enum lmq_err {
#define LMQ__ERR_ENUM(name, val, sqs, msg) name = val,
    LMQ_ERRNO_MAP(LMQ__ERR_ENUM)
#undef LMQ__ERR_ENUM
} lmq_err;

/**
 * @brief A static description of an error code ("LMQ_ENOQUEUE: queue does
 *        not exist"). Never NULL.
 * @since 0.1
 */
LMQ_API const char *lmq_strerror(int err);
/** @brief The enum name of an error code ("LMQ_ENOQUEUE"). @since 0.1 */
LMQ_API const char *lmq_err_name(int err);
/** @brief The SQS error code for an lmq error ("QueueDoesNotExist"); "" when
 *         SQS has none. @since 0.1 */
LMQ_API const char *lmq_err_sqs_code(int err);
/** @brief The code SQS's Query protocol (and the x-amzn-query-error header
 *         of its JSON protocol) gives an lmq error, the one the AWS CLI
 *         prints and scripts grep for: "AWS.SimpleQueueService.NonExistentQueue"
 *         for LMQ_ENOQUEUE, "QueueAlreadyExists" for LMQ_EQUEUEEXISTS;
 *         "InternalFailure" when SQS has none. Never NULL. @since 0.5 */
LMQ_API const char *lmq_err_query_code(int err);
/**
 * @brief The detail of the calling thread's last error, e.g. "Value 11 for
 *        parameter MaxNumberOfMessages is invalid. Reason: ...".
 * @note Thread-local; valid until this thread's next lmq call. Never NULL.
 * @since 0.1
 */
LMQ_API const char *lmq_errmsg(void);

/* ------------------------------------------------------------------------ */
/* String maps and message attributes                                        */
/* ------------------------------------------------------------------------ */

typedef struct lmq_map lmq_map;

/** @brief A new empty map, or NULL when out of memory. Free with
 *         lmq_map_free(). @since 0.1 */
LMQ_API lmq_map *lmq_map_new(void);
/** @brief Free a map. Accepts NULL. @since 0.1 */
LMQ_API void lmq_map_free(lmq_map *m);
/**
 * @brief Set key to value (both copied), replacing an existing value.
 * @return 0, LMQ_EINVAL (NULL key or value), LMQ_ENOMEM.
 * @since 0.1
 */
LMQ_API int lmq_map_set(lmq_map *m, const char *key, const char *value);
/** @brief The value of key, or NULL. Lives as long as the entry. @since 0.1 */
LMQ_API const char *lmq_map_get(const lmq_map *m, const char *key);
/** @brief Remove key. @return 0, or LMQ_ENOTFOUND. @since 0.1 */
LMQ_API int lmq_map_del(lmq_map *m, const char *key);
/** @brief The number of entries (0 for NULL). @since 0.1 */
LMQ_API size_t lmq_map_count(const lmq_map *m);
/**
 * @brief Entry i in key order (byte order of the keys).
 * @return 0, or LMQ_EINVAL when i is out of range.
 * @since 0.1
 */
LMQ_API int lmq_map_at(const lmq_map *m, size_t i, const char **key,
                       const char **value);

typedef struct lmq_mattrs lmq_mattrs;

/** @brief A new empty list of message attributes, NULL when out of memory.
 *         @since 0.1 */
LMQ_API lmq_mattrs *lmq_mattrs_new(void);
/** @brief Free a list. Accepts NULL. @since 0.1 */
LMQ_API void lmq_mattrs_free(lmq_mattrs *a);
/**
 * @brief Add (or replace) a message attribute; everything is copied.
 * @param[in] type "String", "Number", "Binary", optionally with a ".label".
 * @param[in] value the raw value bytes (for Binary, the decoded bytes).
 * @return 0, LMQ_EINVAL (NULL arguments), LMQ_ENOMEM. Names and types are
 *         validated when the message is sent, not here.
 * @since 0.1
 */
LMQ_API int lmq_mattrs_add(lmq_mattrs *a, const char *name, const char *type,
                           const void *value, size_t len);
/** @brief The number of attributes (0 for NULL). @since 0.1 */
LMQ_API size_t lmq_mattrs_count(const lmq_mattrs *a);
/**
 * @brief Attribute i, in name order. Outputs may be NULL when not wanted.
 * @return 0, or LMQ_EINVAL when i is out of range.
 * @since 0.1
 */
LMQ_API int lmq_mattrs_at(const lmq_mattrs *a, size_t i, const char **name,
                          const char **type, const void **value, size_t *len);
/**
 * @brief The SQS MD5OfMessageAttributes of the list (lowercase hex) in out.
 * @return 0, or LMQ_EINVAL for an empty list.
 * @since 0.1
 */
LMQ_API int lmq_mattrs_md5(const lmq_mattrs *a, char out[33]);

/* ------------------------------------------------------------------------ */
/* Homes                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct lmq_env lmq_env;

/** @brief How commits reach the disk. */
typedef enum lmq_durability {
    /** fsync before every acknowledgement: survives power loss. A receive
     *  or visibility change syncs its data but not LMDB's meta page, so a
     *  power cut right after it may undo it (the messages become visible
     *  again); sends, deletes and queue changes are never undone. */
    LMQ_DURABILITY_FULL = 0,
    /** no fsync per commit; a background thread flushes every
     *  flush_interval_ms. A process crash loses nothing; an OS crash loses
     *  at most the last interval, and on file systems that do not keep
     *  write order (ext4 among them) could in rare cases damage the store
     *  (docs/DURABILITY.md). Use FULL where a power cut must cost nothing. */
    LMQ_DURABILITY_PERIODIC = 1,
    /** never fsync (tests, caches): an OS crash may lose recent commits. */
    LMQ_DURABILITY_NONE = 2
} lmq_durability;

/**
 * @brief How the home's data file is mapped, fixed when the home is created
 *        (LMDB forbids processes that disagree on it; see docs/DURABILITY.md).
 */
typedef enum lmq_map_mode {
    /** A new home gets LMQ_MAP_WRITABLE when created with a relaxed
     *  durability (periodic, none), else LMQ_MAP_PWRITE. An existing home
     *  keeps its mode, whatever later opens ask for. */
    LMQ_MAP_AUTO = 0,
    /** Read-only map; commits write pages with pwrite(). The data file
     *  grows as data does, with blocks allocated ahead of it; a full disk
     *  is an LMQ_ENOSPC error of the one operation that found it. */
    LMQ_MAP_PWRITE = 1,
    /** Writable shared map (LMDB's MDB_WRITEMAP): relaxed commits cost
     *  about a third. The map never extends past blocks allocated on disk
     *  (posix_fallocate() before it grows, in steps of 8 MiB or an eighth
     *  of the home), so a store into it never faults: a full disk is an
     *  LMQ_ENOSPC error of the one operation that needed more room, and a
     *  process crash still loses nothing committed. Since 0.5; a home
     *  created before keeps a sparse map while a process of an older lmq
     *  has it open. */
    LMQ_MAP_WRITABLE = 2
} lmq_map_mode;

/** @brief A clock returning epoch milliseconds (a test seam). */
typedef int64_t (*lmq_clock_fn)(void *arg);

/** @brief Options of lmq_env_open(); fill with lmq_env_opts_init(). */
typedef struct lmq_env_opts {
    size_t size;               /**< sizeof(lmq_env_opts), set by _init */
    lmq_durability durability; /**< default LMQ_DURABILITY_FULL */
    unsigned flush_interval_ms; /**< periodic mode flush period; default 1000 */
    /** initial map size; default 1 GiB (a writable map starts at the
     *  data file's size, or at most 8 MiB, and grows with its blocks) */
    uint64_t map_size;
    uint64_t max_map_size;      /**< growth limit; default 64 GiB; 0 = fixed */
    unsigned max_readers;       /**< LMDB reader slots; default 1024 */
    lmq_clock_fn clock;         /**< NULL: system clock */
    void *clock_arg;            /**< passed to clock */
    /** Base of the queue URLs handed out; default
     *  "http://127.0.0.1:9324/" followed by the home's account. */
    const char *url_base;
    /** The home's region (in ARNs), fixed when the home is created: an
     *  open that creates the home stores this one (NULL: "us-east-1"); on
     *  an existing home NULL takes the home's, and another value than the
     *  home's fails with LMQ_EINVAL, changing nothing. A home created
     *  before 0.5 gets the region of its first open by 0.5 or later (NULL:
     *  the default). Lower-case letters, digits and '-'. Since 0.5 (before:
     *  per process). Read it back with lmq_env_identity(). */
    const char *region;
    /** The home's account id (12 digits, in ARNs and the default URL
     *  base), fixed when the home is created like `region` (NULL:
     *  "000000000000" for a new home, the home's otherwise). Since 0.5. */
    const char *account;
    /** Map mode of a home this open creates; default LMQ_MAP_AUTO.
     *  @since 0.2 */
    lmq_map_mode map_mode;
    /** 1: put the home on its test clock, creating HOME/clock (offset 0)
     *  if it has none; see lmq_env_clock_advance(). A home that has the
     *  file runs on it whatever this says; default 0. Excludes `clock`.
     *  @since 0.3 */
    int test_clock;
    /** Share the home with this group, a name or a numeric gid: a home
     *  this open creates gets directory mode 02770 and the group, its files
     *  0660 (whatever the umask), so that the group's users may all open
     *  it and nobody else can. NULL: $LMQ_GROUP if set, else a private
     *  home (0700, files 0600). On an existing home it names the group
     *  the check of the home's permissions expects (lmq_env_warnings()).
     *  Copied. @since 0.5 */
    const char *group;
    /** 1: refuse a home with unsafe permissions (LMQ_EPERM, nothing
     *  changed) instead of opening it with a warning. 0: strict when
     *  $LMQ_STRICT_PERMISSIONS is set and not "0". @since 0.5 */
    int strict_permissions;
    /** Keyring file (JSON, mode 0600) whose keys seal queues at rest; NULL:
     *  $LMQ_KEY_FILE, else none. See docs/SECURITY.md and lmq_keyring_add().
     *  @since 0.5 */
    const char *key_file;
    /** File whose first line is a passphrase; its Argon2id stretch (salt
     *  from the home) is the home key. NULL: $LMQ_KEY_PASSPHRASE_FILE.
     *  @since 0.5 */
    const char *key_passphrase_file;
    /** Command (run with /bin/sh -c) that prints a keyring's JSON on its
     *  standard output, as AWS's credential_process prints credentials
     *  (a TPM or a secret store). NULL: $LMQ_KEY_PROCESS. @since 0.5 */
    const char *key_process;
    /** Bytes of disk kept free for the operations that give space back
     *  (receives, visibility changes, deletes, purges, deleting a queue):
     *  the others (sends, creating queues, setting attributes...) fail with
     *  LMQ_ENOSPC, changing nothing, when they would leave less than this
     *  free in the home's allocated blocks and free pages and the disk has
     *  no room for more. Per process; default LMQ_DEFAULT_DISK_RESERVE; 0
     *  keeps none (docs/DURABILITY.md, "Full disks and limits").
     *  @since 0.5 */
    uint64_t disk_reserve;
    /** Home-wide limit on the bytes of data.mdb in use (LMDB's pages, less
     *  those free for reuse): writes that add data (sends, creating
     *  queues, attributes...) fail with LMQ_EOVERLIMIT ("OverLimit"),
     *  changing nothing, when they would pass it; receives and deletes
     *  never do. Per process (every process of a home should set the
     *  same); 0 (the default): none. Per-queue limits are the queue
     *  attributes LmqMaximumMessages, LmqMaximumBytes and
     *  LmqOverLimitPolicy
     *  (docs/DURABILITY.md, "Full disks and limits"). @since 0.5 */
    uint64_t max_bytes;
    /** Home-wide limit on the messages held by all its queues (visible,
     *  in flight and delayed): a send that would pass it fails with
     *  LMQ_EOVERLIMIT ("OverLimit"), changing nothing (in a batch, the
     *  entries over it); receives, deletes and everything else are never
     *  refused for it. Per process, like max_bytes; a process that sets it
     *  reads every queue record once per send call. 0 (the default):
     *  none. @since 0.5 */
    uint64_t max_messages;
    /** 1: open an existing home only (read-only tools, a mistyped path):
     *  when path does not exist, or is a directory without the home's
     *  data.mdb, fail with LMQ_ENOTFOUND and create nothing. 0 (the
     *  default): create the home and its missing parents. @since 0.5 */
    int must_exist;
} lmq_env_opts;

/** @brief The default lmq_env_opts.disk_reserve: 4 MiB. @since 0.5 */
#define LMQ_DEFAULT_DISK_RESERVE (4ull << 20)

/** @brief Fill opts with the defaults. @since 0.1 */
LMQ_API void lmq_env_opts_init(lmq_env_opts *opts);

/**
 * @brief Open (creating if needed, mode 0700, or 02770 with opts->group)
 *        the home directory at path, and its missing parents (0700).
 * @param[in] opts NULL for defaults; only opts->size bytes are read.
 * @param[out] out the env; NULL on failure, with nothing to free.
 * @return 0, LMQ_EINVAL (also: opts->region or opts->account differs
 *         from the home's, since 0.5), LMQ_EIO, LMQ_ENOMEM, LMQ_EVERSION,
 *         LMQ_ECORRUPT,
 *         LMQ_EPERM (this process may not enter the home, or strict
 *         permissions and the home's are unsafe: see lmq_env_warnings()),
 *         LMQ_ENOTFOUND (opts->must_exist and there is no home at path;
 *         since 0.5).
 *         LMQ_EKEY (a keyring, passphrase or key process given that cannot
 *         be read: unsafe mode, malformed, failed; since 0.5).
 * @note Many processes may open one home at once, and one process may open
 *       it several times (the handles share one LMDB environment).
 * @since 0.1
 */
LMQ_API LMQ_WARN_UNUSED int lmq_env_open(const char *path,
                                         const lmq_env_opts *opts,
                                         lmq_env **out);
/**
 * @brief Close an env. Accepts NULL. Interrupts this env's waiting receives
 *        and waits for them to return; queues opened from it must be closed
 *        first (lmq_queue_close()).
 * @since 0.1
 */
LMQ_API void lmq_env_close(lmq_env *env);
/**
 * @brief Interrupt every current and future waiting receive (WaitTimeSeconds
 *        > 0) on this env: they return LMQ_EINTR promptly. Irreversible;
 *        other operations are unaffected. For shutdown: open a separate env
 *        handle for what must keep waiting.
 * @note Callable from any thread and from a signal handler.
 * @since 0.1
 */
LMQ_API void lmq_env_interrupt(lmq_env *env);
/** @brief The env's current time, epoch ms (its clock). @since 0.1 */
LMQ_API int64_t lmq_env_now(const lmq_env *env);
/** @brief The map mode the home was created with (never LMQ_MAP_AUTO).
 *  @since 0.2 */
LMQ_API lmq_map_mode lmq_env_map_mode(const lmq_env *env);
/** @brief Flush committed data to disk now (useful in periodic/none modes).
 *  @return 0 or LMQ_EIO. @since 0.1 */
LMQ_API int lmq_env_sync(lmq_env *env);
/**
 * @brief Compact the home at path: rewrite its data file with only the pages
 *        in use (LMDB's copy with compaction), so it shrinks and the free
 *        pages -- with whatever they held: deleted messages, data written
 *        before a queue was sealed -- are gone; the redo log is emptied too.
 *        Needs the home to itself: no other process (and no other handle of
 *        this process) may have it open; opens meanwhile wait.
 * @param[in] path the home, as for lmq_env_open().
 * @param[in] opts as for lmq_env_open() (keys are not needed); may be NULL.
 * @param[out] before,after the data file's size before and after, bytes;
 *        each may be NULL.
 * @return 0; LMQ_EBUSY (the home is open elsewhere: nothing changed, the
 *         detail names a pid); what lmq_env_open() returns; LMQ_EIO,
 *         LMQ_ENOSPC (the copy needs room for the data in use: nothing
 *         changed).
 * @note Crash-safe: a crash at any point leaves the old data file or the
 *       new one, each complete (docs/DURABILITY.md, "Compaction").
 * @since 0.5
 */
LMQ_API LMQ_WARN_UNUSED int lmq_env_compact(const char *path,
                                            const lmq_env_opts *opts,
                                            uint64_t *before,
                                            uint64_t *after);
/**
 * @brief What is unsafe about the permissions of env's home, as found when
 *        it was opened: the directory or a file in it open to every user,
 *        open to a group although no group was named (or to another group
 *        than the named one), owned by another user who is not root (private
 *        homes), a symbolic link in the home. The library prints nothing:
 *        lmq and lmqd print this line to stderr; with strict permissions
 *        (lmq_env_opts.strict_permissions) the open fails instead.
 * @param[out] out NULL when nothing was found, else one line of text
 *        ("unsafe permissions on the home PATH: ...; ... (fix: ...)") that
 *        lives as long as env.
 * @return 0 or LMQ_EMISUSE.
 * @note Thread-safe.
 * @since 0.5
 */
LMQ_API int lmq_env_warnings(const lmq_env *env, const char **out);
/**
 * @brief The region and account of env's home (fixed when it was created:
 *        lmq_env_opts.region), as its ARNs name them.
 * @param[out] region, account NULL-able; strings that live as long as env.
 * @return 0 or LMQ_EMISUSE.
 * @note Thread-safe.
 * @since 0.5
 */
LMQ_API int lmq_env_identity(const lmq_env *env, const char **region,
                             const char **account);
/**
 * @brief The default home directory: $LMQ_HOME, else $XDG_DATA_HOME/lmq
 *        (when it is an absolute path, as the XDG base directory rules
 *        say), else $HOME/.local/share/lmq (HOME unset: the user's home
 *        from the password database), else ".lmq".
 * @param[out] out a malloc'd string the caller frees.
 * @since 0.1
 */
LMQ_API int lmq_default_home(char **out);

/* ------------------------------------------------------------------------ */
/* Queues                                                                    */
/* ------------------------------------------------------------------------ */

/**
 * @brief Create a queue, or succeed when it exists and every attribute given
 *        matches its current value.
 * @param[in] attrs settable SQS attributes (strings), may be NULL; also
 *        lmq's own LmqMaximumMessages, LmqMaximumBytes (the stored bytes
 *        of its messages, body plus attributes; 0 = none) and
 *        LmqOverLimitPolicy (refuse | drop-oldest): a send over a limit
 *        fails with LMQ_EOVERLIMIT, or first deletes the oldest messages,
 *        counted in the read-only LmqDroppedMessages; the read-only
 *        LmqStoredBytes is the queue's stored bytes (@since 0.5;
 *        docs/DURABILITY.md).
 * @param[in] tags tags to set on a new queue, may be NULL (ignored when the
 *        queue already exists).
 * @param[out] url_out if not NULL, the queue URL (malloc'd; caller frees).
 * @return 0, LMQ_EINVAL (bad name), LMQ_EATTRNAME, LMQ_EATTRVALUE,
 *         LMQ_EQUEUEEXISTS, LMQ_EDELETEDRECENTLY, LMQ_ENOSPC, LMQ_EIO.
 * @since 0.1
 */
LMQ_API int lmq_queue_create(lmq_env *env, const char *name,
                             const lmq_map *attrs, const lmq_map *tags,
                             char **url_out);
/** @brief Delete a queue and all its messages. The name is blocked for 60 s.
 *  @return 0, LMQ_ENOQUEUE, LMQ_EIO. @since 0.1 */
LMQ_API int lmq_queue_delete(lmq_env *env, const char *name);
/**
 * @brief The URL of a queue. @param[out] url_out malloc'd; caller frees.
 * @return 0, LMQ_ENOQUEUE. @since 0.1
 */
LMQ_API int lmq_queue_url(lmq_env *env, const char *name, char **url_out);
/**
 * @brief The queue name in a queue URL or bare name ("http://h/123/q" -> "q").
 * @param[out] name_out malloc'd; caller frees.
 * @return 0, LMQ_EINVAL (empty). @since 0.1
 */
LMQ_API int lmq_queue_name_from_url(const char *url_or_name, char **name_out);
/**
 * @brief List queue names in name order.
 * @param[in] prefix case-sensitive prefix, or NULL.
 * @param[in] max_results 1-1000, or 0 for "at most 1000, no paging".
 * @param[in] next_token from a previous call, or NULL.
 * @param[out] names a NULL-terminated malloc'd array of malloc'd names; free
 *             with lmq_strv_free().
 * @param[out] next_token_out malloc'd token when more remain (only when
 *             max_results > 0), else NULL. May be NULL.
 * @return 0, LMQ_EINVAL (bad max_results or token).
 * @since 0.1
 */
LMQ_API int lmq_queue_list(lmq_env *env, const char *prefix,
                           int max_results, const char *next_token,
                           char ***names, char **next_token_out);
/** @brief Free a NULL-terminated string array. Accepts NULL. @since 0.1 */
LMQ_API void lmq_strv_free(char **v);
/**
 * @brief Get queue attributes.
 * @param[in] names NULL-terminated list of attribute names, "All" for all;
 *            NULL or empty for none.
 * @param[out] out a new map the caller frees.
 * @return 0, LMQ_ENOQUEUE, LMQ_EATTRNAME (unknown name).
 * @since 0.1
 */
LMQ_API int lmq_queue_get_attributes(lmq_env *env, const char *name,
                                     const char *const *names, lmq_map **out);
/** @brief Set queue attributes (all or nothing); updates
 *         LastModifiedTimestamp.
 *  @return 0, LMQ_ENOQUEUE, LMQ_EATTRNAME, LMQ_EATTRVALUE. @since 0.1 */
LMQ_API int lmq_queue_set_attributes(lmq_env *env, const char *name,
                                     const lmq_map *attrs);
/** @brief Add or replace tags. @return 0, LMQ_ENOQUEUE, LMQ_EINVAL.
 *  @since 0.1 */
LMQ_API int lmq_queue_tag(lmq_env *env, const char *name, const lmq_map *tags);
/** @brief Remove tags by key (unknown keys are ignored).
 *  @return 0, LMQ_ENOQUEUE, LMQ_EINVAL. @since 0.1 */
LMQ_API int lmq_queue_untag(lmq_env *env, const char *name,
                            const char *const *keys);
/** @brief The tags of a queue in a new map. @return 0, LMQ_ENOQUEUE.
 *  @since 0.1 */
LMQ_API int lmq_queue_tags(lmq_env *env, const char *name, lmq_map **out);
/** @brief Delete every message of the queue, in one transaction.
 *  @return 0, LMQ_ENOQUEUE, LMQ_EPURGEINPROGRESS (within 60 s of the last).
 *  @since 0.1 */
LMQ_API int lmq_queue_purge(lmq_env *env, const char *name);

typedef struct lmq_queue lmq_queue;

/**
 * @brief Open a handle on an existing queue for message operations.
 * @param[out] out the handle; NULL on failure.
 * @return 0, LMQ_ENOQUEUE, LMQ_ENOMEM.
 * @note If the queue is deleted later, operations on the handle fail with
 *       LMQ_ENOQUEUE (even if a queue of the same name is created again).
 * @since 0.1
 */
LMQ_API int lmq_queue_open(lmq_env *env, const char *name, lmq_queue **out);
/** @brief Close a handle. Accepts NULL. @since 0.1 */
LMQ_API void lmq_queue_close(lmq_queue *q);
/** @brief The queue's name (lives as long as the handle). @since 0.1 */
LMQ_API const char *lmq_queue_name(const lmq_queue *q);
/** @brief Whether the queue is FIFO (1) or standard (0). @since 0.1 */
LMQ_API int lmq_queue_is_fifo(const lmq_queue *q);

/* ------------------------------------------------------------------------ */
/* Sending                                                                   */
/* ------------------------------------------------------------------------ */

/** @brief One message to send; fill with lmq_send_entry_init(). Pointers are
 *         read during the call only. */
typedef struct lmq_send_entry {
    size_t size;           /**< sizeof(lmq_send_entry), set by _init */
    const char *id;        /**< batch entry Id; NULL for single sends */
    const char *body;      /**< UTF-8 body (required) */
    size_t body_len;       /**< bytes of body; SIZE_MAX = strlen(body) */
    int delay_seconds;     /**< 0-900, or -1 for the queue's DelaySeconds */
    const char *group_id;  /**< MessageGroupId, or NULL */
    const char *dedup_id;  /**< MessageDeduplicationId, or NULL */
    const lmq_mattrs *attrs;    /**< user attributes, or NULL */
    const char *trace_header;   /**< AWSTraceHeader system attribute or NULL */
} lmq_send_entry;

/** @brief Fill e with defaults (no id, queue delay, no attributes).
 *  @since 0.1 */
LMQ_API void lmq_send_entry_init(lmq_send_entry *e);

/** @brief The result of one sent entry. */
typedef struct lmq_send_result {
    int err;               /**< 0, or the ::lmq_err that failed this entry */
    char errmsg[256];      /**< detail when err != 0 */
    char message_id[40];   /**< MessageId (UUID) */
    char md5_body[33];     /**< MD5OfMessageBody */
    char md5_attrs[33];    /**< MD5OfMessageAttributes, "" when none */
    char md5_sys_attrs[33]; /**< MD5OfMessageSystemAttributes, "" when none */
    char sequence_number[24]; /**< FIFO SequenceNumber, "" on standard */
    int duplicate;         /**< 1 when FIFO deduplication dropped it */
} lmq_send_result;

/**
 * @brief Send one message.
 * @param[out] res filled on success (and err/errmsg on failure); may be NULL.
 * @return 0, LMQ_ENOQUEUE, LMQ_EMISSING (no body / group id),
 *         LMQ_EINVAL (size, delay, attributes, ids), LMQ_ECONTENTS,
 *         LMQ_ENOSPC (the disk, less the reserve, is full), LMQ_EOVERLIMIT
 *         (the queue's LmqMaximumMessages or LmqMaximumBytes with policy
 *         refuse, a message larger than LmqMaximumBytes, or the home's
 *         max_bytes or max_messages; since 0.5), LMQ_EIO.
 * @since 0.1
 */
LMQ_API int lmq_send(lmq_queue *q, const lmq_send_entry *e,
                     lmq_send_result *res);
/**
 * @brief Send 1-10 messages in one transaction, with a result per entry.
 *
 * Whole-request errors (nothing is sent): LMQ_EBATCHEMPTY,
 * LMQ_EBATCHTOOMANY, LMQ_EBATCHID, LMQ_EBATCHIDSDUP, LMQ_EBATCHTOOLONG, and
 * on FIFO queues a missing group or deduplication id. Other per-entry
 * validation failures fail only that entry (res[i].err); the call returns 0.
 * @since 0.1
 */
LMQ_API int lmq_send_batch(lmq_queue *q, const lmq_send_entry *entries,
                           size_t n, lmq_send_result *res);

/* ------------------------------------------------------------------------ */
/* Receiving                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct lmq_msg lmq_msg;

/** @brief Options of lmq_receive(); fill with lmq_recv_opts_init(). */
typedef struct lmq_recv_opts {
    size_t size;            /**< sizeof(lmq_recv_opts) */
    int max_messages;       /**< 1-10, default 1 */
    int visibility_timeout; /**< 0-43200, or -1 for the queue's */
    int wait_seconds;       /**< 0-20, or -1 for the queue's
                                 ReceiveMessageWaitTimeSeconds */
    /** MessageAttributeNames filter: NULL-terminated list of names, "All",
     *  ".*", or "Prefix.*"; NULL returns no user attributes. */
    const char *const *attribute_names;
    const char *attempt_id; /**< FIFO ReceiveRequestAttemptId, or NULL */
} lmq_recv_opts;

/** @brief Fill o with defaults. @since 0.1 */
LMQ_API void lmq_recv_opts_init(lmq_recv_opts *o);

/**
 * @brief Receive up to max messages.
 * @param[in] o NULL for defaults.
 * @param[out] msgs array of at least `max` pointers, filled with messages the
 *             caller frees with lmq_msg_free().
 * @param[out] n the number received; 0 is success (nothing available).
 * @return 0, LMQ_ENOQUEUE, LMQ_EINVAL (bad max/visibility/wait),
 *         LMQ_EINTR (an interrupted wait), LMQ_EIO.
 * @since 0.1
 */
LMQ_API int lmq_receive(lmq_queue *q, const lmq_recv_opts *o, lmq_msg **msgs,
                        size_t max, size_t *n);

/*
 * Waiting without a thread per wait. A server that parks many waiting
 * receives (lmqd) serves them from one thread per queue: it tries with
 * lmq_receive_poll(), which never waits and says what to wait for, then
 * sleeps in lmq_queue_wait() on the token it got, until any process commits
 * something that may make messages visible, the time it was given, or
 * lmq_queue_wakeup().
 */

/**
 * @brief lmq_receive() that never waits (o->wait_seconds is only reported),
 *        and tells the caller what to wait for when it got nothing.
 * @param[out] token the queue's wake-up token, read before the receive: pass
 *             it to lmq_queue_wait(). May be NULL.
 * @param[out] next_ms the earliest env-clock time (epoch ms) at which a
 *             message this receive saw but could not take (delayed, in
 *             flight) becomes visible; 0 when none. May be NULL.
 * @param[out] wait_seconds the wait the request asked for: o->wait_seconds,
 *             or the queue's ReceiveMessageWaitTimeSeconds when that is -1.
 *             May be NULL.
 * @return as lmq_receive(), never LMQ_EINTR.
 * @note Thread-safe, as lmq_receive().
 * @note NumberOfEmptyReceives (lmq_queue_metrics): an empty poll counts
 *       only when its wait is 0 (o->wait_seconds, or the queue's default
 *       when -1), so a caller that waits after empty polls makes its last
 *       poll with wait_seconds 0 and the request counts once.
 * @since 0.3
 */
LMQ_API int lmq_receive_poll(lmq_queue *q, const lmq_recv_opts *o,
                             lmq_msg **msgs, size_t max, size_t *n,
                             uint32_t *token, int64_t *next_ms,
                             int *wait_seconds);
/**
 * @brief Sleep until the queue's wake-up token differs from token (a commit
 *        in any process that may have made messages visible, or
 *        lmq_queue_wakeup()), timeout_ms passes, or the env is interrupted.
 * @return 0 (woken: poll again), 1 (timed out), LMQ_EINTR (the env was
 *         interrupted), LMQ_EMISUSE.
 * @note A return of 0 is a hint: the caller always polls again. Thread-safe.
 * @since 0.3
 */
LMQ_API int lmq_queue_wait(lmq_queue *q, uint32_t token, int64_t timeout_ms);
/**
 * @brief Change the queue's wake-up token and wake every lmq_queue_wait()
 *        and waiting receive of the queue, in every process (they poll again
 *        and find what they found before). For a server whose parked waits
 *        changed (a new, earlier deadline; shutting down).
 * @since 0.3
 */
LMQ_API void lmq_queue_wakeup(lmq_queue *q);

/** @brief Free a message. Accepts NULL. @since 0.1 */
LMQ_API void lmq_msg_free(lmq_msg *m);
/** @brief MessageId. @since 0.1 */
LMQ_API const char *lmq_msg_id(const lmq_msg *m);
/** @brief ReceiptHandle of this delivery. @since 0.1 */
LMQ_API const char *lmq_msg_receipt(const lmq_msg *m);
/** @brief Body bytes (NUL-terminated too); len may be NULL. @since 0.1 */
LMQ_API const char *lmq_msg_body(const lmq_msg *m, size_t *len);
/** @brief MD5OfBody. @since 0.1 */
LMQ_API const char *lmq_msg_md5_body(const lmq_msg *m);
/** @brief MD5OfMessageAttributes over the returned attributes; "" if none.
 *  @since 0.1 */
LMQ_API const char *lmq_msg_md5_attrs(const lmq_msg *m);
/** @brief The returned user attributes (NULL when none). @since 0.1 */
LMQ_API const lmq_mattrs *lmq_msg_attrs(const lmq_msg *m);
/** @brief ApproximateReceiveCount (1 on the first delivery). @since 0.1 */
LMQ_API uint32_t lmq_msg_receive_count(const lmq_msg *m);
/** @brief SentTimestamp, epoch ms. @since 0.1 */
LMQ_API int64_t lmq_msg_sent_timestamp(const lmq_msg *m);
/** @brief ApproximateFirstReceiveTimestamp, epoch ms. @since 0.1 */
LMQ_API int64_t lmq_msg_first_receive_timestamp(const lmq_msg *m);
/**
 * @brief A system attribute by its SQS name ("SentTimestamp",
 *        "MessageGroupId", "SequenceNumber", "DeadLetterQueueSourceArn", ...)
 *        as SQS prints it, or NULL when it does not apply to this message.
 * @note The string lives as long as the message.
 * @since 0.1
 */
LMQ_API const char *lmq_msg_sys_attr(const lmq_msg *m, const char *name);

/* ------------------------------------------------------------------------ */
/* Deleting and changing visibility                                          */
/* ------------------------------------------------------------------------ */

/**
 * @brief Delete the message of a receipt handle.
 *
 * On a standard queue a handle whose message still exists deletes it, unless
 * the message has been delivered again since this handle was issued: then
 * nothing is deleted (a slow consumer never deletes a message someone else now
 * holds). A handle of a message that is already gone succeeds too.
 * @param[out] deleted if not NULL, 1 when a message was deleted, else 0.
 * @return 0, LMQ_ENOQUEUE, LMQ_ERECEIPT (malformed, forged, other queue),
 *         LMQ_EEXPIRED (FIFO: the delivery is no longer in flight).
 * @since 0.1
 */
LMQ_API int lmq_delete(lmq_queue *q, const char *receipt, int *deleted);

/**
 * @brief Change the visibility timeout of a delivery, counted from now.
 * @param[out] changed if not NULL, 1 when the timeout was changed.
 * @return 0, LMQ_ENOQUEUE, LMQ_ERECEIPT, LMQ_EINVAL (out of range, beyond
 *         12 hours since the receive, or the message does not exist),
 *         LMQ_EEXPIRED (FIFO: no longer in flight).
 * @since 0.1
 */
LMQ_API int lmq_change_visibility(lmq_queue *q, const char *receipt,
                                  int timeout_seconds, int *changed);

/** @brief One entry of a delete or change-visibility batch. */
typedef struct lmq_handle_entry {
    const char *id;      /**< batch entry Id (required) */
    const char *receipt; /**< ReceiptHandle */
    int timeout_seconds; /**< change-visibility batches only */
} lmq_handle_entry;

/** @brief The result of one batch entry. */
typedef struct lmq_batch_result {
    int err;          /**< 0 or the entry's ::lmq_err */
    char errmsg[256]; /**< detail when err != 0 */
    int applied;      /**< 1 when the message was deleted / changed */
} lmq_batch_result;

/**
 * @brief Delete 1-10 messages in one transaction, a result per entry.
 * @return 0 (see res), or a whole-request error: LMQ_EBATCHEMPTY,
 *         LMQ_EBATCHTOOMANY, LMQ_EBATCHID, LMQ_EBATCHIDSDUP, LMQ_ENOQUEUE.
 * @since 0.1
 */
LMQ_API int lmq_delete_batch(lmq_queue *q, const lmq_handle_entry *entries,
                             size_t n, lmq_batch_result *res);
/** @brief Change the visibility of 1-10 deliveries; as lmq_delete_batch().
 *  @since 0.1 */
LMQ_API int lmq_change_visibility_batch(lmq_queue *q,
                                        const lmq_handle_entry *entries,
                                        size_t n, lmq_batch_result *res);

/* ------------------------------------------------------------------------ */
/* Dead-letter queues and message move tasks                                 */
/* ------------------------------------------------------------------------ */

/*
 * A queue's RedrivePolicy attribute ({"deadLetterTargetArn": ARN,
 * "maxReceiveCount": N}) names its dead-letter queue (DLQ): a message that
 * has been delivered maxReceiveCount times moves there, on the next receive
 * that would have returned it. RedriveAllowPolicy on the DLQ says which
 * queues may use it. Both are set with lmq_queue_create() or
 * lmq_queue_set_attributes(); see docs/DLQ.md.
 *
 * A message move task moves the messages of a DLQ back out: to the queue
 * each came from, or to one destination. Its state lives in the home, so any
 * process can list or cancel it. The task is run by whoever calls
 * lmq_move_task_run() (typically the process that started it, in the
 * foreground or in a thread of its own); a task whose runner died is resumed
 * by the next lmq_move_task_run() on it, or, once any other process looks at
 * it (list, cancel, a new start on the same source), marked FAILED with the
 * reason. It never stays RUNNING without a runner.
 */

/**
 * @brief The queues whose RedrivePolicy names queue `name` as their DLQ
 *        (ListDeadLetterSourceQueues), in name order.
 * @param[in] max_results 1-1000, or 0 for "at most 1000, no paging".
 * @param[in] next_token from a previous call, or NULL.
 * @param[out] names a NULL-terminated array of queue names; free with
 *             lmq_strv_free().
 * @param[out] next_token_out malloc'd token when more remain (only when
 *             max_results > 0), else NULL. May be NULL.
 * @return 0, LMQ_ENOQUEUE, LMQ_EMISSING, LMQ_EINVAL (bad max_results or
 *         token).
 * @since 0.1
 */
LMQ_API int lmq_dlq_list_sources(lmq_env *env, const char *name,
                                 int max_results, const char *next_token,
                                 char ***names, char **next_token_out);

/** @brief The states of a message move task, as SQS names them. */
typedef enum lmq_move_status {
    LMQ_MOVE_RUNNING = 0,
    LMQ_MOVE_COMPLETED = 1,
    LMQ_MOVE_CANCELLING = 2,
    LMQ_MOVE_CANCELLED = 3,
    LMQ_MOVE_FAILED = 4
} lmq_move_status;

/** @brief "RUNNING", "COMPLETED", ...; "UNKNOWN" for other values.
 *  @since 0.1 */
LMQ_API const char *lmq_move_status_name(int status);

/** @brief One task, as lmq_move_task_list() reports it (all strings are
 *         owned by the list). */
typedef struct lmq_move_task {
    char *task_handle;      /**< TaskHandle; NULL unless RUNNING */
    int status;             /**< ::lmq_move_status */
    char *source_arn;       /**< the DLQ */
    char *destination_arn;  /**< NULL when none was given */
    int max_per_second;     /**< 0 when none was given */
    uint64_t moved;         /**< ApproximateNumberOfMessagesMoved */
    uint64_t to_move;       /**< ApproximateNumberOfMessagesToMove (at start) */
    char *failure_reason;   /**< NULL unless FAILED */
    int64_t started_ms;     /**< StartedTimestamp, epoch ms */
} lmq_move_task;

/**
 * @brief Start a message move task (StartMessageMoveTask) and return its
 *        handle. Nothing moves until someone runs it: call
 *        lmq_move_task_run() next.
 * @param[in] source_arn ARN of a queue that is the DLQ of some queue.
 * @param[in] dest_arn ARN of the destination, or NULL: each message goes back
 *            to the queue it came from (its DeadLetterQueueSourceArn).
 * @param[in] max_per_second 1-500, or 0 for "as fast as possible".
 * @param[out] handle_out the opaque TaskHandle, malloc'd; caller frees.
 * @return 0, LMQ_EMISSING, LMQ_ENOTFOUND (source or destination does not
 *         exist), LMQ_EINVAL (not a DLQ, bad rate, a different queue type,
 *         destination = source, or a task is already running for the
 *         source), LMQ_EIO.
 * @note The task moves the messages in the DLQ when it starts (those that
 *       arrive later wait for the next task). Moved messages are new
 *       messages: new MessageId, SentTimestamp and retention period.
 * @since 0.1
 */
LMQ_API int lmq_move_task_start(lmq_env *env, const char *source_arn,
                                const char *dest_arn, int max_per_second,
                                char **handle_out);

/** @brief Progress of a running task; return nonzero to cancel it. */
typedef int (*lmq_move_progress_fn)(void *arg, uint64_t moved,
                                    uint64_t to_move);

/**
 * @brief Run (or resume) a task in the calling thread until it ends:
 *        completed, cancelled (by lmq_move_task_cancel() from anywhere, or
 *        by the progress callback) or failed.
 *
 * Each batch of moves is one transaction that inserts the new messages,
 * deletes them from the DLQ and records the progress, so a runner killed at
 * any point loses and duplicates nothing; the next run continues where it
 * stopped. MaxNumberOfMessagesPerSecond is honoured against the env's clock.
 * @param[in] progress called after every batch, and about every 200 ms
 *            while the run waits for the rate limit (may be NULL).
 * @param[out] status_out the final ::lmq_move_status (may be NULL).
 * @return 0 when the task has ended (whatever its status), LMQ_EINVAL (a
 *         garbage handle), LMQ_ENOTFOUND, LMQ_EBUSY (another live process
 *         is running it, or took it over), LMQ_EIO.
 * @note Blocks; a task whose source has nothing visible to move completes
 *       at once. Messages that are in flight in the DLQ are left there.
 * @since 0.1
 */
LMQ_API int lmq_move_task_run(lmq_env *env, const char *handle,
                              lmq_move_progress_fn progress, void *arg,
                              int *status_out);

/**
 * @brief The most recent tasks of a source DLQ, newest first
 *        (ListMessageMoveTasks).
 * @param[in] max_results 1-10, or 0 for the default of 1.
 * @param[out] tasks a malloc'd array of *n entries; free with
 *             lmq_move_task_list_free().
 * @return 0, LMQ_EMISSING, LMQ_EINVAL (max_results), LMQ_ENOTFOUND (no such
 *         source queue).
 * @since 0.1
 */
LMQ_API int lmq_move_task_list(lmq_env *env, const char *source_arn,
                               int max_results, lmq_move_task **tasks,
                               size_t *n);
/** @brief Free a task list. Accepts NULL. @since 0.1 */
LMQ_API void lmq_move_task_list_free(lmq_move_task *tasks, size_t n);

/**
 * @brief Cancel a RUNNING task (CancelMessageMoveTask). Its runner stops
 *        after the current batch; messages already moved stay moved.
 * @param[out] moved if not NULL, ApproximateNumberOfMessagesMoved so far.
 * @return 0, LMQ_EINVAL (a garbage handle, or the task is not RUNNING),
 *         LMQ_ENOTFOUND (the source queue or the task does not exist).
 * @since 0.1
 */
LMQ_API int lmq_move_task_cancel(lmq_env *env, const char *handle,
                                 uint64_t *moved);

/* ------------------------------------------------------------------------ */
/* Test doubles and inspection                                               */
/* ------------------------------------------------------------------------ */

/*
 * A home made for tests can run on a test clock: HOME/clock holds an offset
 * that every process of the home adds to the system time, so a test moves
 * time forward (visibility timeouts, delays, retention, the 60-second
 * rules) with lmq_env_clock_advance() or `lmq clock advance 30s` instead of
 * sleeping. The file is created by an open with lmq_env_opts.test_clock (or
 * `lmq clock enable`), and every env opened on the home afterwards uses it.
 * Enable it before other processes open the home: an env opened before the
 * file existed keeps the system clock. The offset never goes back, and
 * real time keeps flowing (a frozen clock would stall rate-limited move
 * tasks and heartbeats).
 */

/**
 * @brief Move the home's test clock forward by ms milliseconds, for every
 *        process of the home, and wake every waiting receive of the home
 *        so that it looks again (a delay may have matured, a visibility
 *        timeout run out).
 * @param[out] now_out if not NULL, the env's time after the move.
 * @return 0, LMQ_EINVAL (the env is not on a test clock, ms < 0, or the
 *         offset would overflow), LMQ_EMISUSE.
 * @note Thread-safe; concurrent advances add up.
 * @since 0.3
 */
LMQ_API int lmq_env_clock_advance(lmq_env *env, int64_t ms, int64_t *now_out);
/**
 * @brief How far the home's test clock is ahead of the system clock.
 * @param[out] offset_ms the offset in ms (0 right after enabling).
 * @return 0, LMQ_EINVAL (the env is not on a test clock: *offset_ms = 0),
 *         LMQ_EMISUSE.
 * @since 0.3
 */
LMQ_API int lmq_env_clock_offset(const lmq_env *env, int64_t *offset_ms);

/**
 * @brief Delete every queue of the home with its messages, tags and move
 *        tasks, and forget the names deleted in the last 60 seconds, so
 *        that any name can be created again at once (for test setup).
 *
 * One transaction: other processes see the home as it was or empty.
 * Handles on the old queues fail with LMQ_ENOQUEUE, and waiting receives
 * on them wake up and fail the same way. Queue ids are still never reused.
 * @param[out] deleted if not NULL, the number of queues deleted.
 * @return 0, LMQ_EMISUSE, LMQ_ENOSPC, LMQ_EIO.
 * @since 0.3
 */
LMQ_API int lmq_env_reset(lmq_env *env, size_t *deleted);

/** @brief The state of a message (lmq_msg_state()). */
typedef enum lmq_visibility {
    LMQ_MSG_VISIBLE = 0,  /**< a receive may take it now */
    LMQ_MSG_INFLIGHT = 1, /**< received; invisible until its visible_at */
    LMQ_MSG_DELAYED = 2   /**< sent with a delay that has not run out */
} lmq_visibility;

/** @brief "visible", "inflight", "delayed"; "unknown" for other values.
 *  @since 0.3 */
LMQ_API const char *lmq_msg_state_name(int state);
/**
 * @brief The message's ::lmq_visibility: as of the peek that returned it,
 *        or, for a received message, as the receive left it (INFLIGHT, or
 *        VISIBLE with a visibility timeout of 0).
 * @since 0.3
 */
LMQ_API int lmq_msg_state(const lmq_msg *m);
/** @brief When the message is (or became) visible, epoch ms of the env's
 *         clock. @since 0.3 */
LMQ_API int64_t lmq_msg_visible_at(const lmq_msg *m);

/** @brief Options of lmq_queue_peek(); fill with lmq_peek_opts_init(). */
typedef struct lmq_peek_opts {
    size_t size;        /**< sizeof(lmq_peek_opts), set by _init */
    int show_inflight;  /**< 1: include messages in flight (LocalStack's
                             ShowInvisible); default 0 */
    int show_delayed;   /**< 1: include delayed messages; default 0 */
    size_t max_messages; /**< at most this many (the oldest); 0 = all */
} lmq_peek_opts;

/** @brief Fill o with the defaults (visible messages only, all of them).
 *  @since 0.3 */
LMQ_API void lmq_peek_opts_init(lmq_peek_opts *o);

/**
 * @brief Read the messages of a queue without changing anything: no receive
 *        count, visibility, timestamp or counter moves (one read-only
 *        transaction).
 *
 * Messages come in send order with every user attribute; their state and
 * visible_at say where each stands (lmq_msg_state(), lmq_msg_visible_at()).
 * Their receipt handle is "" (a peek is not a delivery), and their receive
 * count and first-receive time are those of the last real delivery (0 if
 * none). Messages past the queue's retention are left out. On a FIFO queue
 * a visible message stays "visible" even while an in-flight message of its
 * group holds the group back.
 * @param[in] o NULL for defaults; only o->size bytes are read.
 * @param[out] msgs a malloc'd array of *n messages (NULL when *n is 0);
 *             free with lmq_msg_list_free().
 * @return 0, LMQ_ENOQUEUE, LMQ_EINVAL, LMQ_ENOMEM, LMQ_EIO.
 * @note Holds a read transaction while it copies the messages: use
 *       max_messages on a large backlog.
 * @since 0.3
 */
LMQ_API int lmq_queue_peek(lmq_env *env, const char *name,
                           const lmq_peek_opts *o, lmq_msg ***msgs,
                           size_t *n);
/** @brief Free n messages and the array holding them. Accepts NULL.
 *  @since 0.3 */
LMQ_API void lmq_msg_list_free(lmq_msg **msgs, size_t n);

/**
 * @brief The age of the queue's oldest message, CloudWatch's
 *        ApproximateAgeOfOldestMessage: the env's time minus the enqueue
 *        time of the first unexpired message in send order (in flight and
 *        delayed ones count; a message moved from a DLQ keeps its original
 *        enqueue time).
 * @param[out] age_ms the age in ms; 0 when the queue is empty.
 * @return 0, LMQ_ENOQUEUE, LMQ_EINVAL, LMQ_EIO.
 * @note Cheap: a read of the head of the queue (it passes over at most a
 *       few thousand expired messages the retention sweep has not removed
 *       yet; past that it reports the retention period, the most any
 *       unexpired message can be). Approximate like SQS's: messages moved
 *       in from a DLQ later than a younger message are not looked at.
 * @since 0.3
 */
LMQ_API int lmq_queue_oldest_age_ms(lmq_env *env, const char *name,
                                    int64_t *age_ms);

/**
 * @brief A queue's metrics under CloudWatch's SQS names: running totals
 *        since the queue was created, and the gauges at time `at_ms`.
 *
 * The totals are kept in the queue's record by the transactions that do
 * the work (no extra transaction, no scan), so they are exact across
 * processes and crashes: a committed send is counted, an aborted one is
 * not. Rates are differences of totals between two samples.
 */
typedef struct lmq_queue_metrics {
    size_t size;             /**< sizeof(lmq_queue_metrics), set by caller */
    int64_t at_ms;           /**< when the sample was taken, epoch ms */
    uint64_t sent;           /**< NumberOfMessagesSent (messages added
                                  by sends and move-task redrives; not
                                  FIFO duplicates, nor DLQ moves by a
                                  redrive policy, as SQS) */
    uint64_t sent_bytes;     /**< sum of SentMessageSize over `sent` */
    uint64_t received;       /**< NumberOfMessagesReceived (deliveries) */
    uint64_t deleted;        /**< NumberOfMessagesDeleted (deletes that
                                  removed a message; SQS also counts a
                                  delete that removed nothing) */
    uint64_t empty_receives; /**< NumberOfEmptyReceives (receive calls that
                                  returned nothing; a long poll counts
                                  once) */
    int64_t visible;         /**< ApproximateNumberOfMessagesVisible */
    int64_t not_visible;     /**< ApproximateNumberOfMessagesNotVisible */
    int64_t delayed;         /**< ApproximateNumberOfMessagesDelayed */
    int64_t oldest_age_ms;   /**< ApproximateAgeOfOldestMessage, ms (live
                                  samples only; -1 in history rows) */
    /* Removals without a delete, lmq's own (CloudWatch has no metric for
     * them; docs/METRICS.md). With them, for a queue nothing is moved
     * into: sent = deleted + dropped + expired + purged + moved + visible
     * + not_visible + delayed. @since 0.5 (0 in history rows of older
     * lmq versions) */
    uint64_t dropped; /**< NumberOfMessagesDropped: LmqOverLimitPolicy
                           drop-oldest */
    uint64_t expired; /**< NumberOfMessagesExpired: past
                           MessageRetentionPeriod */
    uint64_t purged;  /**< NumberOfMessagesPurged: by PurgeQueue */
    uint64_t moved;   /**< NumberOfMessagesMoved: out to a dead-letter queue
                           or by a message move task */
    uint64_t stored_bytes; /**< gauge: the queue's stored bytes (what
                                LmqMaximumBytes limits) */
} lmq_queue_metrics;

/**
 * @brief The queue's metrics now (one read transaction).
 * @param[in,out] out out->size must be set; only that many bytes written.
 * @return 0, LMQ_ENOQUEUE, LMQ_EINVAL, LMQ_EIO.
 * @since 0.4
 */
LMQ_API int lmq_queue_metrics_get(lmq_env *env, const char *name,
                                  lmq_queue_metrics *out);

/**
 * @brief The queue's metric history: one sample per minute in which the
 *        queue was written, oldest first, taken by the first write of each
 *        minute (the state before that write). The home keeps
 *        LMQ_METRICS_HISTORY_MINUTES of them per queue.
 *
 * A purge keeps the history and the totals; deleting the queue drops them
 * (docs/METRICS.md).
 * @param since_ms, until_ms the window, epoch ms (0: unbounded).
 * @param[out] out malloc'd array of *n samples (each with size set); free()
 *             it. NULL when *n is 0.
 * @return 0, LMQ_ENOQUEUE, LMQ_EINVAL, LMQ_ENOMEM, LMQ_EIO.
 * @since 0.4
 */
LMQ_API int lmq_queue_metrics_history(lmq_env *env, const char *name,
                                      int64_t since_ms, int64_t until_ms,
                                      lmq_queue_metrics **out, size_t *n);
/** @brief Minutes of history kept per queue (14 days). */
#define LMQ_METRICS_HISTORY_MINUTES (14 * 24 * 60)

/* ------------------------------------------------------------------------ */
/* Consumer runtime                                                          */
/* ------------------------------------------------------------------------ */

/**
 * @brief A running consumer: a handler function called for the messages of
 *        one queue, modelled on Lambda's SQS event source and the
 *        sqs-consumer library (docs/CONSUMER.md).
 *
 * One poller thread long-polls the queue and hands what it receives to
 * `concurrency` worker threads; a timer thread extends the visibility of
 * messages whose handlers still run (the heartbeat), enforces handler
 * timeouts and acknowledges successes with lmq_delete_batch() (up to 10 per
 * transaction). The consumer opens its own lmq_env on the home of the env
 * it is given, so stopping it interrupts only its own waits.
 */
typedef struct lmq_consumer lmq_consumer;

/**
 * @brief A per-message handler. Return 0 when the message was handled (it
 *        is deleted), non-zero to leave it for redelivery (after its
 *        visibility timeout, or after the backoff if one is set).
 * @note Called on a worker thread; the message is only valid during the
 *       call. Handlers of one consumer run concurrently (up to concurrency),
 *       except that on FIFO queues the messages of one group are handled one
 *       at a time, in order.
 */
typedef int (*lmq_handler_fn)(const lmq_msg *m, void *arg);

/**
 * @brief A batch handler, called with up to batch_size messages at once.
 * @param[out] failed n flags, all 0 on entry: set failed[i] = 1 for each
 *             message that was not handled (a partial batch failure).
 * @return 0 to apply the flags (the messages not flagged are deleted), or
 *         non-zero when the whole batch failed (none is deleted).
 * @note On FIFO queues, a failed message also fails every later message of
 *       its group in the batch, so that the group's order is kept.
 */
typedef int (*lmq_batch_handler_fn)(lmq_msg *const *msgs, size_t n,
                                    int *failed, void *arg);

/** @brief What a consumer hook is told about. */
typedef enum lmq_consumer_event {
    LMQ_CONSUMER_RECEIVED = 0,  /**< a message was received */
    LMQ_CONSUMER_SUCCEEDED = 1, /**< its handler succeeded (delete follows) */
    LMQ_CONSUMER_FAILED = 2,    /**< its handler failed: left for retry */
    LMQ_CONSUMER_TIMED_OUT = 3, /**< its handler passed handler_timeout_ms
                                     (or the stop timeout): its result will
                                     be ignored, the message is left */
    LMQ_CONSUMER_RETURNED = 4,  /**< received but never started: made
                                     visible again by a stop */
    LMQ_CONSUMER_LOST = 5,      /**< a heartbeat found the delivery gone
                                     (deleted, or redelivered): heartbeats
                                     for it stop */
    LMQ_CONSUMER_ERROR = 6      /**< a library call failed (err, m NULL
                                     unless one message is concerned) */
} lmq_consumer_event;

/**
 * @brief A hook told about every event of a consumer.
 * @note Called from the consumer's threads, concurrently; m is valid during
 *       the call only and may be NULL (ERROR). Must not call
 *       lmq_consumer_join() or lmq_consumer_close().
 */
typedef void (*lmq_consumer_hook_fn)(lmq_consumer_event ev, const lmq_msg *m,
                                     int err, void *arg);

/** @brief Options of lmq_consumer_open(); fill with
 *         lmq_consumer_opts_init(). */
typedef struct lmq_consumer_opts {
    size_t size;                         /**< set by _init */
    lmq_handler_fn handler;              /**< per-message handler, or */
    lmq_batch_handler_fn batch_handler;  /**< batch handler (wins) */
    void *arg;                           /**< passed to handlers and hook */
    /** Messages per handler call (batch handler) or per poll (per-message
     *  handler): 1-10000 (FIFO: 1-10); default 10. Receives of 10 are
     *  combined up to it. */
    int batch_size;
    /** How long to keep combining receives to fill batch_size, ms
     *  (0-300000); default 0: combine only what is there at once. */
    int batching_window_ms;
    int concurrency; /**< worker threads (concurrent handler calls),
                          1-1000; default 1 */
    /** Visibility timeout of receives and heartbeats, 0-43200, or -1 for the
     *  queue's VisibilityTimeout (default). */
    int visibility_timeout;
    int wait_seconds; /**< long-poll wait of each receive, 1-20; default 20 */
    /** Heartbeat period in seconds: while a handler runs its messages' visibility
     *  is set to visibility_timeout again every period. 0 (default): a third of
     *  the visibility timeout; -1: no heartbeat. Must be below the
     *  visibility timeout. */
    int heartbeat_seconds;
    /** Per handler call, ms; 0 (default) for none. A call that runs longer
     *  is counted timed out, its heartbeat stops and its result is ignored
     *  (C cannot kill a thread: the handler should check
     *  lmq_consumer_handler_expired() and return). */
    int handler_timeout_ms;
    /** On failure, change the message's visibility to this many seconds
     *  (0: retry at once); -1 (default) leaves it until its visibility
     *  timeout runs out. */
    int backoff_seconds;
    /** Backoff per message, e.g. exponential on lmq_msg_receive_count();
     *  returns seconds or -1; overrides backoff_seconds when set. */
    int (*backoff_fn)(const lmq_msg *m, void *arg);
    /** After lmq_consumer_stop(): how long running handlers may go on, ms;
     *  default 30000. Past it their messages are abandoned (no heartbeat,
     *  result ignored) and they count as timed out. */
    int stop_timeout_ms;
    lmq_consumer_hook_fn hook; /**< event hook, or NULL */
    /** MessageAttributeNames filter of the receives (as lmq_recv_opts);
     *  default NULL: no user attributes. The list must outlive the
     *  consumer. */
    const char *const *attribute_names;
    /** Stop by itself after receiving this many messages; 0 (default): no
     *  limit. */
    uint64_t max_messages;
    /** Stop by itself when a receive waited its full wait_seconds for
     *  nothing and no handler is running or queued; default 0. */
    int until_empty;
    /** Batch handler: the most a batch may cost, summed over its messages
     *  with batch_cost_fn; 0 (default): no limit. The poller stops combining
     *  receives before a message that would pass it and makes that message
     *  the first of the next batch; a batch always holds at least one
     *  message. Lambda's 6 MB event payload cap (docs/LAMBDA.md).
     *  @since 0.4 */
    size_t max_batch_bytes;
    /** What a message costs against max_batch_bytes, e.g. the size of its
     *  record in an event document; NULL (default): the body's bytes plus
     *  the message attributes' names, types and values. Called on the
     *  poller thread with the consumer's arg. @since 0.4 */
    size_t (*batch_cost_fn)(const lmq_msg *m, void *arg);
    /** 1: scale like Lambda's event source mapping: `concurrency` is the
     *  maximum, the consumer starts with min(5, concurrency) concurrent
     *  handler calls, adds one per second (60 per minute) while every
     *  allowed call runs and the queue still has visible messages, and
     *  drops one per receive that comes back empty, down to the start
     *  value. 0 (default): always `concurrency`. @since 0.4 */
    int scale_concurrency;
} lmq_consumer_opts;

/** @brief Fill o with the defaults. @since 0.1 */
LMQ_API void lmq_consumer_opts_init(lmq_consumer_opts *o);

/**
 * @brief Create a consumer of queue `queue` (name or URL) of env's home.
 *        Nothing runs until lmq_consumer_start().
 * @param[in] opts required (a handler is); only opts->size bytes are read;
 *            copied.
 * @param[out] out the consumer; NULL on failure.
 * @return 0, LMQ_EINVAL (no handler, an option out of range), LMQ_ENOQUEUE,
 *         LMQ_ENOMEM, LMQ_EIO.
 * @note The consumer opens its own lmq_env on env's home (cheap: the store
 *       is shared) so env may be closed before the consumer.
 * @since 0.1
 */
LMQ_API int lmq_consumer_open(lmq_env *env, const char *queue,
                              const lmq_consumer_opts *opts,
                              lmq_consumer **out);
/**
 * @brief Start the consumer's threads.
 * @return 0, LMQ_EMISUSE (already started), LMQ_ENOMEM (threads could not
 *         be created: none runs).
 * @since 0.1
 */
LMQ_API int lmq_consumer_start(lmq_consumer *c);
/**
 * @brief Ask the consumer to stop: no new receives (a waiting one returns at
 *        once); lmq_consumer_join() does the rest. Idempotent.
 * @note Callable from any thread and from a signal handler.
 * @since 0.1
 */
LMQ_API void lmq_consumer_stop(lmq_consumer *c);
/**
 * @brief Wait until the consumer has stopped (lmq_consumer_stop(),
 *        max_messages reached, until_empty met, or a fatal error) and finish
 *        gracefully: messages received but not started are made visible at
 *        once (change visibility 0), running handlers get stop_timeout_ms
 *        after a stop request, successes are deleted. Returns when every
 *        thread has ended (so a handler that never returns blocks it).
 * @return 0, or the error that stopped it (LMQ_ENOQUEUE: the queue was
 *         deleted; LMQ_EIO ...); LMQ_EMISUSE if not started.
 * @note Call from one thread, not from a handler or hook.
 * @since 0.1
 */
LMQ_API int lmq_consumer_join(lmq_consumer *c);
/**
 * @brief Stop and join (if started) and free a consumer. Accepts NULL.
 * @since 0.1
 */
LMQ_API void lmq_consumer_close(lmq_consumer *c);
/**
 * @brief From inside a handler: 1 when the call has passed its
 *        handler_timeout_ms or the stop timeout (its result will be
 *        ignored: return soon), else 0. 0 outside a handler.
 * @since 0.1
 */
LMQ_API int lmq_consumer_handler_expired(const lmq_consumer *c);

/** @brief Counters of a consumer; fill with lmq_consumer_get_counters(). */
typedef struct lmq_consumer_counters {
    size_t size;        /**< sizeof(lmq_consumer_counters), set by caller */
    uint64_t received;  /**< messages received */
    uint64_t succeeded; /**< handled successfully */
    uint64_t deleted;   /**< of those, deleted (acknowledged) */
    uint64_t failed;    /**< handler failures (incl. partial, FIFO skips) */
    uint64_t timed_out; /**< handler calls past their timeout */
    uint64_t returned;  /**< made visible again, unstarted, by a stop */
    uint64_t lost;      /**< heartbeats that found the delivery gone */
    uint64_t heartbeats; /**< visibility extensions applied */
    uint64_t errors;    /**< failed library calls */
    uint64_t in_flight; /**< received and not finished right now */
    /** Concurrent handler calls allowed right now: `concurrency`, or with
     *  scale_concurrency the current scale. @since 0.4 */
    uint64_t concurrency;
} lmq_consumer_counters;

/**
 * @brief Read the counters (a consistent snapshot).
 * @param[in,out] out out->size must be set; only that many bytes are
 *            written.
 * @return 0, LMQ_EINVAL (out NULL or size unset), LMQ_EMISUSE.
 * @since 0.1
 */
LMQ_API int lmq_consumer_get_counters(lmq_consumer *c,
                                      lmq_consumer_counters *out);

/* ------------------------------------------------------------------------ */
/* The bridge to Amazon SQS (bridge/, docs/BRIDGE.md)                        */
/* ------------------------------------------------------------------------ */

/*
 * A bridge ships messages between local queues and remote SQS queues (any
 * SQS-compatible endpoint), in threads of its own, and loses none:
 *  - a forward route receives from a local queue, sends to the remote with
 *    SendMessageBatch and deletes locally only what the remote accepted;
 *  - a pull route long-polls the remote, sends locally and deletes remotely
 *    only after the local commit (dropping repeats it has already taken).
 * Offline, it backs off (exponential, full jitter, capped) and drains the
 * backlog when the link returns. One process at a time ships a route: a
 * lease in the home, taken over when its holder dies.
 * Threads: the handle may be used from any thread; status reads are
 * consistent snapshots.
 */
typedef struct lmq_bridge lmq_bridge;

/** @brief What a route does. */
typedef enum lmq_route_kind {
    LMQ_ROUTE_FORWARD = 0, /**< local queue -> remote queue */
    LMQ_ROUTE_PULL = 1     /**< remote queue -> local queue */
} lmq_route_kind;

/** @brief One route; fill with lmq_route_opts_init(). Strings are copied. */
typedef struct lmq_route_opts {
    size_t size;            /**< set by _init */
    lmq_route_kind kind;
    const char *name;       /**< unique in the home; default
                                 "forward:<local>" / "pull:<local>" */
    const char *local_queue; /**< the local queue (must exist) */
    const char *remote_url;  /**< the remote queue's URL */
    const char *region;      /**< default: AWS_REGION, the profile's, else
                                  us-east-1 */
    const char *endpoint;    /**< SQS endpoint URL; default: the origin of
                                  remote_url */
    const char *profile;     /**< credentials profile; NULL: AWS_PROFILE or
                                  "default" */
    const char *access_key_id;     /**< explicit credentials, or NULL for */
    const char *secret_access_key; /**< the default chain (environment, */
    const char *session_token;     /**< shared files, credential_process) */
    int batch_size;          /**< 1-10; default 10 */
    int in_flight;           /**< requests in flight, 1-64; default 4 */
    int backoff_min_ms;      /**< default 100 */
    int backoff_max_ms;      /**< default 60000 */
    int visibility_timeout;  /**< seconds: local receives (forward) or
                                  remote receives (pull); default 60 */
    const char *dead_letter_queue; /**< local queue for messages the remote
                                        refuses for good; default
                                        "<local>-bridge-dlq" (created) */
    int verify_tls;          /**< check certificates; default 1 */
} lmq_route_opts;

/** @brief Fill o with the defaults. @since 0.3 */
LMQ_API void lmq_route_opts_init(lmq_route_opts *o);

/**
 * @brief A bridge on a home, with no routes yet.
 * @param[in] lease_ms how long a dead holder keeps a route (0: 10000).
 * @return 0, LMQ_EINVAL, LMQ_ENOMEM, LMQ_EUNSUPPORTED (built without
 *         libcurl).
 * @since 0.3
 */
LMQ_API int lmq_bridge_open(lmq_env *env, int lease_ms, lmq_bridge **out);
/** @brief Add a route (before lmq_bridge_start()).
 *  @return 0, LMQ_EINVAL (bad options, duplicate name), LMQ_ENOQUEUE.
 *  @since 0.3 */
LMQ_API int lmq_bridge_add_route(lmq_bridge *b, const lmq_route_opts *o);
/**
 * @brief Add the routes of a JSON file: {"routes": [{"kind": "forward",
 *        "local_queue": ..., "remote_url": ..., ...}]} (member names as the
 *        fields of lmq_route_opts).
 * @return 0, LMQ_EINVAL (with the line in the detail), LMQ_EIO.
 * @since 0.3
 */
LMQ_API int lmq_bridge_load_config(lmq_bridge *b, const char *path);
/** @brief Start the routes' threads. @return 0, LMQ_EINVAL (no routes),
 *  LMQ_ENOMEM. @since 0.3 */
LMQ_API int lmq_bridge_start(lmq_bridge *b);
/** @brief Ask the routes to stop (callable from a signal handler).
 *  @since 0.3 */
LMQ_API void lmq_bridge_stop(lmq_bridge *b);
/** @brief Wait for the routes to stop; releases their leases.
 *  @since 0.3 */
LMQ_API int lmq_bridge_join(lmq_bridge *b);
/** @brief Stop, join and free. Accepts NULL. @since 0.3 */
LMQ_API void lmq_bridge_close(lmq_bridge *b);
/** @brief Retry a paused route now (NULL: every route).
 *  @return 0, LMQ_ENOTFOUND. @since 0.3 */
LMQ_API int lmq_bridge_resume(lmq_bridge *b, const char *route);

/** @brief The states of a route. */
typedef enum lmq_route_state {
    LMQ_ROUTE_STARTING = 0,
    LMQ_ROUTE_ONLINE = 1,   /**< shipping, or idle with the link up */
    LMQ_ROUTE_BACKOFF = 2,  /**< transient failure: retrying at retry_at */
    LMQ_ROUTE_PAUSED = 3,   /**< configuration fault (no such queue, access
                                 denied, bad credentials): re-checked with
                                 backoff, or at lmq_bridge_resume() */
    LMQ_ROUTE_STANDBY = 4,  /**< another process holds the route's lease */
    LMQ_ROUTE_STOPPED = 5
} lmq_route_state;

/** @brief "ONLINE", "BACKOFF", ... @since 0.3 */
LMQ_API const char *lmq_route_state_name(int state);

/** @brief A route's state and counters (lmq_bridge_status()). */
typedef struct lmq_route_status {
    char name[128];
    int kind;                /**< ::lmq_route_kind */
    int state;               /**< ::lmq_route_state */
    int64_t retry_at_ms;     /**< BACKOFF/PAUSED: next attempt, epoch ms */
    char last_error[256];    /**< the last failure, "" when none */
    uint64_t backlog;        /**< forward: local messages not yet shipped */
    int64_t oldest_age_ms;   /**< forward: age of the oldest of them */
    uint64_t shipped;        /**< forward: accepted by the remote */
    uint64_t pulled;         /**< pull: committed locally */
    uint64_t retried;        /**< entries or requests retried */
    uint64_t dead_lettered;  /**< moved to the route's dead-letter queue */
    uint64_t duplicates;     /**< pull: remote repeats dropped */
    int64_t last_success_ms; /**< epoch ms, 0 when never */
} lmq_route_status;

/**
 * @brief Every route's status, for this bridge's routes.
 * @param[out] out a malloc'd array of *n entries (free()).
 * @return 0, LMQ_ENOMEM.
 * @since 0.3
 */
LMQ_API int lmq_bridge_status(lmq_bridge *b, lmq_route_status **out,
                              size_t *n);

/* ---- keys: encryption at rest (docs/SECURITY.md) ------------------------ */

/** @brief Longest key id lmq_keyring_add() returns, with its NUL. */
#define LMQ_KEY_ID_MAX 40
/** @brief lmq_keyring_add() flag: the new key becomes the home key (the key
 *         of SqsManagedSseEnabled=true). A keyring's first key always is. */
#define LMQ_KEY_DEFAULT 1

/**
 * @brief Add a new random 256-bit key to the keyring file at path (created,
 *        mode 0600, when it does not exist), optionally under an alias
 *        ("alias/orders", taken from any key that had it).
 * @param[out] id the new key's id (a UUID); may be NULL.
 * @return 0, LMQ_EINVAL (bad alias), LMQ_EKEY (unreadable, unsafe or
 *         malformed keyring: nothing is written), LMQ_EIO, LMQ_ENOMEM.
 * @note Keys are written base64 in the clear: guard the file (and its
 *       backups) as the data it protects.
 * @since 0.5
 */
LMQ_API LMQ_WARN_UNUSED int lmq_keyring_add(const char *path,
                                            const char *alias, int flags,
                                            char id[LMQ_KEY_ID_MAX]);
/**
 * @brief The keyring at path as JSON without key material: an array of
 *        {"KeyId", "Aliases", "Default", "CreationDate"}.
 * @param[out] json malloc'd (free()).
 * @return 0, LMQ_EKEY, LMQ_EIO, LMQ_ENOMEM.
 * @since 0.5
 */
LMQ_API LMQ_WARN_UNUSED int lmq_keyring_list(const char *path, char **json);

/** @brief Progress of a long call: done of total units. @since 0.5 */
typedef void (*lmq_progress_fn)(void *arg, uint64_t done, uint64_t total);

/**
 * @brief Rotate a key of env's keyring file (lmq_env_opts.key_file): a new
 *        key takes over alias (NULL: becomes the home key), every queue
 *        sealed with the old key is pointed at the new one, every message
 *        sealed with another key than its queue's (and every clear message
 *        of a sealed queue) is re-sealed with it, in small transactions
 *        (producers and consumers keep running; other processes read the
 *        changed keyring file when they meet the new key), and the old key
 *        is removed from the file once nothing in this home needs it.
 * @param progress called between transactions (may be NULL).
 * @param[out] new_id the new key's id; may be NULL.
 * @return 0, LMQ_EINVAL (no key_file), LMQ_EKEY, LMQ_EIO, LMQ_ENOMEM.
 * @note Resumable: after a crash, call again; the unfinished rotation (kept
 *       in the home) is finished without adding another key. A keyring
 *       shared by several homes: rotate each; the old key is dropped by the
 *       first home that no longer needs it, so keep a backup. FIFO
 *       deduplication and attempt ids hashed under the old key keep it (and
 *       the rotation unfinished) for up to 5 minutes: a call after that
 *       removes it (and adds no key). Any number of queues.
 * @since 0.5
 */
LMQ_API LMQ_WARN_UNUSED int lmq_key_rotate(lmq_env *env, const char *alias,
                                           lmq_progress_fn progress,
                                           void *arg,
                                           char new_id[LMQ_KEY_ID_MAX]);

/* ---- The operator's toolbox: check, backup, dump, load (docs/OPERATIONS.md)
 * -------------------------------------------------------------------------- */

/** @brief lmq_home_check() flag: rebuild what can be rebuilt. @since 0.5 */
#define LMQ_CHECK_REPAIR 1

/**
 * @brief Verify env's home in one read-only transaction: every index entry
 *        has its record and every record its index entries, the counters
 *        equal the messages, FIFO and dead-letter state agree, the redo log
 *        scans. With LMQ_CHECK_REPAIR and problems found, first backs the
 *        home up (lmq_home_backup() into backup_dir, NULL: "HOME.backup-
 *        <UTC time>"), then rebuilds the indexes, counters and the name
 *        index from the records in one write transaction, drops rows of
 *        queues that no longer exist, and checks again.
 * @param progress called after each queue (may be NULL).
 * @param[out] report malloc'd JSON (free()): Home, Clean, Queues, Messages,
 *        LogRecords, ProblemCount, Problems [{Kind, Queue, Detail}],
 *        Warnings; after a repair also Backup, RepairedProblemCount,
 *        ProblemsBeforeRepair. Set whenever the check ran.
 * @return 0 (clean), LMQ_ECORRUPT (problems: see the report), LMQ_EINVAL,
 *         LMQ_EIO, LMQ_ENOMEM, LMQ_ENOSPC (repair).
 * @note Producers and consumers may keep running; a repair holds the
 *       writer lock while it runs. Any thread.
 * @since 0.5
 */
LMQ_API LMQ_WARN_UNUSED int lmq_home_check(lmq_env *env, int flags,
                                           const char *backup_dir,
                                           lmq_progress_fn progress,
                                           void *arg, char **report);

/**
 * @brief A consistent copy of env's live home in dir (made if missing, with
 *        the home's mode and group; it must not hold a home): the redo log
 *        is checkpointed, then LMDB copies its newest transaction with
 *        compaction through a read transaction (writers are not held up),
 *        and the home's mapmode and clock files are copied. Opening dir
 *        with lmq_env_open() restores it.
 * @return 0, LMQ_EINVAL (no dir, dir is the home or holds a home), LMQ_EIO,
 *         LMQ_ENOSPC.
 * @note Everything committed before the call is in the copy. Encryption
 *       keys live outside the home: keep the keyring too. Any thread.
 * @since 0.5
 */
LMQ_API LMQ_WARN_UNUSED int lmq_home_backup(lmq_env *env, const char *dir,
                                            lmq_progress_fn progress,
                                            void *arg);

/**
 * @brief Write every queue (name, attributes, tags, timestamps, totals),
 *        message (id, body, attributes, system attributes, timestamps,
 *        receive count, state, sequence number) and FIFO deduplication
 *        record of env's home to fd as JSON lines (docs/OPERATIONS.md).
 *        Sealed queues' messages are written in the clear, so the key must
 *        be loaded (LMQ_EKEY otherwise).
 * @param progress called after each batch with messages done and total.
 * @return 0, LMQ_EINVAL, LMQ_EIO (writing fd), LMQ_EKEY, LMQ_ECORRUPT,
 *         LMQ_ENOMEM.
 * @note Each message is dumped as one consistent state, the home as a
 *       whole is not frozen: dump a backup for a point-in-time copy.
 * @since 0.5
 */
LMQ_API LMQ_WARN_UNUSED int lmq_home_dump(lmq_env *env, int fd,
                                          lmq_progress_fn progress,
                                          void *arg);

/** @brief lmq_home_load() flag: add to queues the home already has.
 *         @since 0.5 */
#define LMQ_LOAD_MERGE 1

/**
 * @brief Load a dump of lmq_home_dump() from fd into env's home. Queues
 *        the home does not have are created with the dump's attributes,
 *        tags, timestamps, totals and sequence numbers; without
 *        LMQ_LOAD_MERGE a dump naming a queue the home has is refused
 *        before anything changes (LMQ_EQUEUEEXISTS); with it, the dump's
 *        messages are added to that queue (new sequence numbers, the
 *        queue's attributes kept). ARNs of the dump's region and account
 *        are rewritten to the home's.
 * @param progress called with bytes read and the file's size.
 * @param[out] report malloc'd JSON (may be NULL): Queues, Messages,
 *        DedupRecords, Created, Merged.
 * @return 0, LMQ_EQUEUEEXISTS, LMQ_EINVAL (a bad line: its number in
 *         lmq_errmsg(); lines before it are loaded), LMQ_EVERSION (not a
 *         dump of a version this lmq reads), LMQ_EKEY, LMQ_EIO,
 *         LMQ_ENOSPC, LMQ_ENOMEM.
 * @since 0.5
 */
LMQ_API LMQ_WARN_UNUSED int lmq_home_load(lmq_env *env, int fd, int flags,
                                          lmq_progress_fn progress,
                                          void *arg, char **report);

#ifdef __cplusplus
}
#endif

#endif /* LMQ_H */
