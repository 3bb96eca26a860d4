/*
 * env.c: open and close a home, options, the clock, the home's secret and
 * format version, and the naming of queues (URLs and ARNs).
 *
 * A home is a directory (0700, or 02770 shared with a group: perms.c)
 * holding LMDB's data.mdb and lock.mdb plus lmq.wake (long-poll wake-ups)
 * and, in a home made for tests, clock (the shared test clock, clock.c).
 * Before anything is created or changed, the open checks the home's
 * permissions (perms.c): problems are kept for lmq_env_warnings(), or,
 * strict, refuse the home. The meta database holds the format version
 * and a 32-byte random secret that keys the receipt-handle MACs: handles from
 * another home, or forged ones, do not verify.
 */
#include "core.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/time.h>

/* The queue URLs' default base, before the home's account: the port of
 * ElasticMQ and of lmqd's examples, so that URLs printed by the CLI are
 * the ones a default lmqd hands out. */
#define DEFAULT_URL_HOST "http://127.0.0.1:9324/"
#define DEFAULT_REGION "us-east-1"
#define DEFAULT_ACCOUNT "000000000000"

LMQ_API void
lmq_env_opts_init(lmq_env_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->durability = LMQ_DURABILITY_FULL;
    o->flush_interval_ms = 1000;
    /* 1 GiB: the map is sparse, so a large start costs address space only,
     * and growth (which needs every transaction of the process to finish) is
     * rare. */
    o->map_size = 1ull << 30;
    o->max_map_size = 64ull << 30;
    o->max_readers = 1024;
    o->disk_reserve = LMQ_DEFAULT_DISK_RESERVE;
}

static int64_t
system_clock(void *arg)
{
    (void)arg;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int64_t
lmq__now(const lmq_env *env)
{
    return env->clock(env->clock_arg);
}

LMQ_API lmq_map_mode
lmq_env_map_mode(const lmq_env *env)
{
    if (lmq__env_check(env))
        return LMQ_MAP_AUTO;
    return lmq__store_writemap(env->store) ? LMQ_MAP_WRITABLE : LMQ_MAP_PWRITE;
}

LMQ_API int64_t
lmq_env_now(const lmq_env *env)
{
    if (lmq__env_check(env))
        return 0;
    return lmq__now(env);
}

int
lmq__env_check(const lmq_env *env)
{
    if (!env || env->magic != LMQ_ENV_MAGIC)
        return lmq__seterr(LMQ_EMISUSE, "invalid or closed lmq_env handle");
    return 0;
}

int
lmq__queue_check(const lmq_queue *q)
{
    if (!q || q->magic != LMQ_QUEUE_MAGIC)
        return lmq__seterr(LMQ_EMISUSE, "invalid or closed lmq_queue handle");
    return lmq__env_check(q->env);
}

/* What meta_init needs besides the env: the region and account the opener
 * named (NULL: the home's). */
struct meta_arg {
    lmq_env *env;
    const char *region;
    const char *account;
    bool write; /* in a write transaction */
};

/* A region: 1 to 32 of [a-z0-9-], as AWS spells them (us-east-1). */
static bool
region_ok(const char *r)
{
    size_t n = strlen(r);
    return n >= 1 && n <= 32 && strspn(r, "abcdefghijklmnopqrstuvwxyz"
                                          "0123456789-") == n;
}

/* An account id: 12 decimal digits. */
static bool
account_ok(const char *a)
{
    return strlen(a) == 12 && strspn(a, "0123456789") == 12;
}

/* Read one identity key ("region", "account") of meta into *out (malloc'd):
 * 0, LMQ__NOTFOUND when the home has none (created before 0.5), or an
 * error. */
static int
meta_str(lmq_txn *t, const char *key, char **out)
{
    lmq_val v;
    int rc = lmq__txn_get(t, LMQ_DB_META, key, strlen(key), &v);
    if (rc)
        return rc;
    free(*out);
    if (!(*out = strndup(v.data, v.len)))
        return lmq__seterr(LMQ_ENOMEM, NULL);
    return 0;
}

/* The home's region and account into the env: stored ones (which an
 * explicit region/account of the opener must equal), else the opener's or
 * the defaults, stored when `write` (a home created now, or one from before
 * 0.5 that gets them at its first open by a writer transaction). */
static int
meta_identity(lmq_txn *t, struct meta_arg *a, bool write)
{
    static const struct {
        const char *key, *def, *what;
        size_t off_env, off_arg;
    } id[] = {
        {"region", DEFAULT_REGION, "region", offsetof(lmq_env, region),
         offsetof(struct meta_arg, region)},
        {"account", DEFAULT_ACCOUNT, "account", offsetof(lmq_env, account),
         offsetof(struct meta_arg, account)},
    };
    for (size_t i = 0; i < 2; i++) {
        char **have = (char **)((char *)a->env + id[i].off_env);
        const char *want = *(const char **)((char *)a + id[i].off_arg);
        int rc = meta_str(t, id[i].key, have);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            if (want && strcmp(want, *have) != 0)
                return lmq__seterr(LMQ_EINVAL, "%s %s disagrees with the "
                                   "home's %s %s (a home's region and "
                                   "account are fixed when it is created)",
                                   id[i].what, want, id[i].what, *have);
            continue;
        }
        if (!write)
            return LMQ__NOTFOUND; /* to a write transaction */
        const char *v = want ? want : id[i].def;
        if ((rc = lmq__txn_put(t, LMQ_DB_META, id[i].key, strlen(id[i].key),
                               v, strlen(v))) != 0)
            return rc;
        free(*have);
        if (!(*have = strdup(v)))
            return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    return 0;
}

/* Create the meta entries of a new home, or check those of an old one. */
static int
meta_init(lmq_txn *t, void *arg)
{
    struct meta_arg *a = arg;
    lmq_env *env = a->env;
    lmq_val v;
    int rc = lmq__txn_get(t, LMQ_DB_META, "version", 7, &v);
    if (rc < 0)
        return rc;
    if (rc == LMQ__NOTFOUND) {
        uint8_t ver[4];
        lmq__put_u32(ver, LMQ_FORMAT_VERSION);
        randombytes_buf(env->secret, sizeof env->secret);
        if ((rc = lmq__txn_put(t, LMQ_DB_META, "version", 7, ver, 4)) ||
            (rc = lmq__txn_put(t, LMQ_DB_META, "secret", 6, env->secret,
                               sizeof env->secret)))
            return rc;
        return meta_identity(t, a, true);
    }
    uint32_t have = v.len == 4 ? lmq__get_u32(v.data) : 0;
    if (have < LMQ_FORMAT_OLDEST || have > LMQ_FORMAT_VERSION)
        return lmq__seterr(LMQ_EVERSION, "home format version %u, expected %u",
                           have, LMQ_FORMAT_VERSION);
    if (have < LMQ_FORMAT_VERSION) {
        /* An older home: this lmq writes records the older one cannot read,
         * so mark the home (an older lmq then refuses it with LMQ_EVERSION).
         * meta_read sends this case to a write transaction. */
        uint8_t ver[4];
        lmq__put_u32(ver, LMQ_FORMAT_VERSION);
        if ((rc = lmq__txn_put(t, LMQ_DB_META, "version", 7, ver, 4)) != 0)
            return rc;
        /* Before 6 the queue records did not keep their stored bytes:
         * count them once, in the transaction that marks the home. */
        if (have < 6 && (rc = lmq__q_upgrade_all(t)) != 0)
            return rc;
    }
    rc = lmq__txn_get(t, LMQ_DB_META, "secret", 6, &v);
    if (rc < 0)
        return rc;
    if (rc == LMQ__NOTFOUND || v.len != sizeof env->secret)
        return lmq__seterr(LMQ_ECORRUPT, "home secret missing");
    memcpy(env->secret, v.data, sizeof env->secret);
    return meta_identity(t, a, a->write);
}

static int
meta_read(lmq_txn *t, void *arg)
{
    struct meta_arg *a = arg;
    lmq_val v;
    int rc = lmq__txn_get(t, LMQ_DB_META, "version", 7, &v);
    if (rc)
        return rc; /* NOTFOUND: fall back to a write */
    if (v.len == 4 && lmq__get_u32(v.data) >= LMQ_FORMAT_OLDEST &&
        lmq__get_u32(v.data) < LMQ_FORMAT_VERSION)
        return LMQ__NOTFOUND; /* an older home: upgrade it in a write */
    /* A home from before 0.5 has no region and account: meta_identity's
     * NOTFOUND sends it to a write, which stores them. */
    a->write = false;
    return meta_init(t, a);
}

/* With opts.must_exist: path must be a home already (a directory holding
 * data.mdb). Nothing is created either way. */
static int
home_exists(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return lmq__seterr(LMQ_ENOTFOUND, "no lmq home at %s: it does "
                               "not exist (nothing was created)", path);
        return 0; /* EACCES...: perms.c and the store say it better */
    }
    if (!S_ISDIR(st.st_mode))
        return 0; /* the store reports a file that is no directory */
    size_t n = strlen(path) + sizeof "/data.mdb";
    char *db = malloc(n);
    if (!db)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    snprintf(db, n, "%s/data.mdb", path);
    int rc = stat(db, &st) == 0 || errno != ENOENT
                 ? 0
                 : lmq__seterr(LMQ_ENOTFOUND, "no lmq home at %s: the "
                               "directory holds no data.mdb (nothing was "
                               "created)", path);
    free(db);
    return rc;
}

static char *fmt(const char *f, const char *a, const char *b, const char *c);

static char *
xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

LMQ_API int
lmq_env_open(const char *path, const lmq_env_opts *opts, lmq_env **out)
{
    lmq_env_opts o;
    int rc;
    if (!out)
        return lmq__seterr(LMQ_EINVAL, "out is NULL");
    *out = NULL;
    if (!path || !*path)
        return lmq__seterr(LMQ_EINVAL, "home path is empty");
    lmq_env_opts_init(&o);
    if (opts) {
        size_t n = opts->size < sizeof o ? opts->size : sizeof o;
        if (n < sizeof(size_t))
            return lmq__seterr(LMQ_EINVAL, "opts->size not set: use "
                                           "lmq_env_opts_init()");
        memcpy(&o, opts, n);
        o.size = sizeof o;
    }
    if (o.durability > LMQ_DURABILITY_NONE)
        return lmq__seterr(LMQ_EINVAL, "unknown durability %d",
                           (int)o.durability);
    if (o.map_mode > LMQ_MAP_WRITABLE)
        return lmq__seterr(LMQ_EINVAL, "unknown map mode %d", (int)o.map_mode);
    if (o.clock && o.test_clock)
        return lmq__seterr(LMQ_EINVAL, "clock and test_clock exclude each "
                                       "other");
    if (o.map_size < (1u << 20))
        return lmq__seterr(LMQ_EINVAL, "map_size must be at least 1 MiB");
    if (o.region && !region_ok(o.region))
        return lmq__seterr(LMQ_EINVAL, "region \"%s\" is not a region "
                           "(lower-case letters, digits and '-', as "
                           "us-east-1)", o.region);
    if (o.account && !account_ok(o.account))
        return lmq__seterr(LMQ_EINVAL, "account \"%s\" is not an account "
                           "id (12 digits)", o.account);
    if (sodium_init() < 0)
        return lmq__seterr(LMQ_EIO, "libsodium failed to initialise");
    lmq__perms perms;
    char *warning = NULL;
    if ((rc = lmq__perms_resolve(o.group, o.strict_permissions, &perms)) ||
        (rc = lmq__perms_check(path, &perms, &warning)) ||
        (o.must_exist && (rc = home_exists(path))) ||
        (rc = lmq__perms_mkdir(path, &perms))) {
        free(warning);
        return rc;
    }

    lmq_env *env = calloc(1, sizeof *env);
    if (!env) {
        free(warning);
        return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    env->warning = warning;
    env->strict_permissions = perms.strict;
    env->clock = o.clock ? o.clock : system_clock;
    env->clock_arg = o.clock_arg;
    env->custom_clock = o.clock != NULL;
    env->path = xstrdup(path);
    env->group = xstrdup(o.group);
    env->max_msgs = o.max_messages;
    pthread_mutex_init(&env->mu, NULL);
    pthread_cond_init(&env->cv, NULL);
    if (!env->path || (o.group && !env->group)) {
        rc = lmq__seterr(LMQ_ENOMEM, NULL);
        goto fail;
    }

    lmq_store_opts so = {
        .durability = o.durability,
        .flush_interval_ms = o.flush_interval_ms,
        .map_size = o.map_size,
        .max_map_size = o.max_map_size < o.map_size ? o.map_size
                                                    : o.max_map_size,
        .max_readers = o.max_readers,
        .reserve = o.disk_reserve,
        .max_bytes = o.max_bytes,
        .writemap = o.map_mode == LMQ_MAP_AUTO
                        ? o.durability != LMQ_DURABILITY_FULL
                        : o.map_mode == LMQ_MAP_WRITABLE,
    };
    if ((rc = lmq__store_open(path, &so, &env->store)) != 0)
        goto fail;
    struct meta_arg ma = {env, o.region, o.account, false};
    rc = lmq__store_read(env->store, meta_read, &ma);
    if (rc == LMQ__NOTFOUND) {
        ma.write = true;
        rc = lmq__store_write(env->store, meta_init, &ma);
    }
    if (rc)
        goto fail; /* LMQ_EVERSION, a region that disagrees: nothing
                    * was written */
    /* The URL base names the home's account unless the opener gave one. */
    env->url_base = o.url_base ? strdup(o.url_base)
                               : fmt("%s%s%s", DEFAULT_URL_HOST,
                                     env->account, NULL);
    if (!env->url_base) {
        rc = lmq__seterr(LMQ_ENOMEM, NULL);
        goto fail;
    }
    size_t ul = strlen(env->url_base);
    while (ul > 0 && env->url_base[ul - 1] == '/')
        env->url_base[--ul] = '\0';
    /* Clear the reader slots of dead processes (store.c): after the format
     * check, since it may checkpoint the log. */
    lmq__store_reader_check(env->store);
    lmq__receipt_init(env);
    if ((rc = lmq__seal_env_open(env, &o)) != 0)
        goto fail;
    if ((rc = lmq__env_notify_open(env)) != 0)
        goto fail;
    /* A custom clock function wins over the home's test clock. */
    if (!o.clock && (rc = lmq__clock_open(env, o.test_clock != 0)) != 0) {
        lmq__env_notify_close(env);
        goto fail;
    }
    env->magic = LMQ_ENV_MAGIC;
    *out = env;
    return 0;
fail:
    lmq__seal_env_close(env);
    lmq__store_close(env->store);
    free(env->path);
    free(env->url_base);
    free(env->region);
    free(env->account);
    free(env->group);
    free(env->warning);
    pthread_mutex_destroy(&env->mu);
    pthread_cond_destroy(&env->cv);
    free(env);
    return rc;
}

LMQ_API void
lmq_env_close(lmq_env *env)
{
    if (!env || env->magic != LMQ_ENV_MAGIC)
        return;
    pthread_mutex_lock(&env->mu);
    env->closing = 1;
    pthread_mutex_unlock(&env->mu);
    lmq__env_notify_close(env);
    lmq__clock_close(env);
    env->magic = 0;
    lmq__seal_env_close(env);
    lmq__store_close(env->store);
    free(env->path);
    free(env->url_base);
    free(env->region);
    free(env->account);
    free(env->group);
    free(env->warning);
    pthread_mutex_destroy(&env->mu);
    pthread_cond_destroy(&env->cv);
    free(env);
}

LMQ_API int
lmq_env_compact(const char *path, const lmq_env_opts *opts, uint64_t *before,
                uint64_t *after)
{
    lmq_env *env = NULL;
    if (before)
        *before = 0;
    if (after)
        *after = 0;
    /* A full open: permissions, format, recovery of a crashed writer. */
    int rc = lmq_env_open(path, opts, &env);
    if (rc)
        return rc;
    rc = lmq__store_compact(env->store, env->path, before, after);
    env->store = NULL; /* closed by lmq__store_compact */
    lmq_env_close(env);
    return rc;
}

LMQ_API int
lmq_env_sync(lmq_env *env)
{
    int rc = lmq__env_check(env);
    return rc ? rc : lmq__store_sync(env->store);
}

/* The home directory of this user in the password database, copied into
 * buf (4096 bytes); NULL when there is none. */
static const char *
passwd_home(char *buf)
{
    char pw_buf[16384];
    struct passwd pw, *res = NULL;
    if (getpwuid_r(getuid(), &pw, pw_buf, sizeof pw_buf, &res) != 0 || !res ||
        !res->pw_dir || !*res->pw_dir)
        return NULL;
    snprintf(buf, 4096, "%s", res->pw_dir);
    return buf;
}

LMQ_API int
lmq_env_identity(const lmq_env *env, const char **region,
                 const char **account)
{
    int rc = lmq__env_check(env);
    if (region)
        *region = rc ? NULL : env->region;
    if (account)
        *account = rc ? NULL : env->account;
    return rc;
}

LMQ_API int
lmq_env_warnings(const lmq_env *env, const char **out)
{
    int rc = lmq__env_check(env);
    if (out)
        *out = rc ? NULL : env->warning;
    if (!rc && !out)
        rc = lmq__seterr(LMQ_EINVAL, "out is NULL");
    return rc;
}

LMQ_API int
lmq_default_home(char **out)
{
    const char *h = getenv("LMQ_HOME");
    char buf[4096];
    if (!out)
        return lmq__seterr(LMQ_EINVAL, "out is NULL");
    if (h && *h) {
        snprintf(buf, sizeof buf, "%s", h);
    } else if ((h = getenv("XDG_DATA_HOME")) && h[0] == '/') {
        /* The XDG base directory rules ignore a relative XDG_DATA_HOME. */
        snprintf(buf, sizeof buf, "%s/lmq", h);
    } else if (((h = getenv("HOME")) && *h) || (h = passwd_home(buf))) {
        /* HOME is unset in some containers and services: the password
         * database still knows the user's home. */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", h);
        size_t n = strlen(tmp);
        while (n > 1 && tmp[n - 1] == '/')
            tmp[--n] = '\0'; /* HOME=/ gives /.local/share/lmq */
        snprintf(buf, sizeof buf, "%s/.local/share/lmq",
                 strcmp(tmp, "/") == 0 ? "" : tmp);
    } else {
        snprintf(buf, sizeof buf, ".lmq");
    }
    *out = strdup(buf);
    return *out ? 0 : lmq__seterr(LMQ_ENOMEM, NULL);
}

static char *
fmt(const char *f, const char *a, const char *b, const char *c)
{
    size_t n = strlen(f) + strlen(a) + strlen(b) + (c ? strlen(c) : 0) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, f, a, b, c ? c : "");
    return s;
}

char *
lmq__arn(const lmq_env *env, const char *name)
{
    char *pre = fmt("arn:aws:sqs:%s:%s:%s", env->region, env->account, name);
    return pre;
}

char *
lmq__url(const lmq_env *env, const char *name)
{
    return fmt("%s/%s%s", env->url_base, name, NULL);
}

char *
lmq__arn_name(const lmq_env *env, const char *arn)
{
    char *prefix = fmt("arn:aws:sqs:%s:%s:%s", env->region, env->account, "");
    if (!prefix)
        return NULL;
    size_t pl = strlen(prefix);
    char *name = NULL;
    if (arn && strncmp(arn, prefix, pl) == 0 && arn[pl] != '\0')
        name = strdup(arn + pl);
    free(prefix);
    return name;
}

LMQ_API int
lmq_queue_name_from_url(const char *s, char **name_out)
{
    if (!name_out)
        return lmq__seterr(LMQ_EINVAL, "name_out is NULL");
    *name_out = NULL;
    if (!s || !*s)
        return lmq__seterr(LMQ_EINVAL, "Value for parameter QueueUrl is "
                                       "invalid. Reason: empty.");
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    /* In a URL the name is the last segment of the path, never the host. */
    const char *scheme = strstr(s, "://");
    if (scheme) {
        const char *path = strchr(scheme + 3, '/');
        if (!path || (size_t)(path - s) >= n)
            return lmq__seterr(LMQ_EINVAL, "Value %s for parameter QueueUrl "
                                           "is invalid.", s);
    }
    size_t i = n;
    while (i > 0 && s[i - 1] != '/')
        i--;
    if (i == n)
        return lmq__seterr(LMQ_EINVAL, "Value %s for parameter QueueUrl is "
                                       "invalid.", s);
    *name_out = strndup(s + i, n - i);
    return *name_out ? 0 : lmq__seterr(LMQ_ENOMEM, NULL);
}
