/*
 * check_upgrade.c: homes of every earlier format open and are upgraded;
 * newer ones are refused before anything changes (issue 27).
 *
 * tests/data/homes/formatN holds a home written by the last commit of
 * format N (1-3, 5), made by tests/data/homes/make.sh with that commit's
 * `lmq` (see tests/data/homes/README): queues dlq, src (RedrivePolicy to
 * dlq, maxReceiveCount 2, tags) and jobs.fifo; a message redriven to dlq,
 * s1 (with attributes, in flight for 12 h), s2, s3 in src, f1 (in flight),
 * f2, f3 in jobs.fifo. Each test copies one to a temporary home, opens it
 * on a clock set just after it was made (so nothing expires and in-flight
 * stays in flight), checks every queue, attribute, tag, message and
 * counter, uses it (receive, delete, send, a redrive), and checks the
 * stored format version became the current one. Format 5's home also has
 * a queue "edge" (LmqMaximumMessages 2, drop-oldest, 2 drops kept in its
 * attribute map); format 6 moved them to the record and counts every
 * queue's stored bytes at the upgrade, checked before and after use.
 *
 * A home of a newer format (the version bumped in a copy), and a redo log
 * with an operation of an unknown kind, are refused with LMQ_EVERSION, and
 * the home's files are byte for byte as before.
 */
#include "lmq_test.h"

#include "core.h"
#include "store.h"
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void
setup(void)
{
    lmq_test_tmp_setup();
}

static void
teardown(void)
{
    lmq_test_tmp_teardown();
}

static char home[512];
static int64_t fixture_ms;

static int64_t
fixture_clock(void *arg)
{
    (void)arg;
    return fixture_ms;
}

static char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return b;
}

static void
write_file(const char *path, const char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* Copy fixture formatN into a new home; set the clock from it. */
static void
copy_fixture(int n)
{
    snprintf(home, sizeof home, "%s/home%d", lmq_test_dir, n);
    ck_assert_int_eq(mkdir(home, 0700), 0);
    const char *files[] = {"data.mdb", "mapmode"};
    for (size_t i = 0; i < 2; i++) {
        char src[600], dst[600];
        size_t len;
        snprintf(src, sizeof src, "%s/format%d/%s", LMQ_HOMES, n, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", home, files[i]);
        char *b = read_file(src, &len);
        ck_assert_msg(b != NULL, "cannot read %s", src);
        write_file(dst, b, len);
        free(b);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/format%d/clock_ms", LMQ_HOMES, n);
    char *c = read_file(path, NULL);
    ck_assert_ptr_nonnull(c);
    fixture_ms = atoll(c) + 120 * 1000; /* the script runs in seconds */
    free(c);
}

/* The format version stored in the home's meta database. */
static unsigned
stored_version(void)
{
    MDB_env *e;
    MDB_txn *t;
    MDB_dbi d;
    MDB_val k = {7, "version"}, v;
    ck_assert_int_eq(mdb_env_create(&e), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(e, 64), 0);
    ck_assert_int_eq(mdb_env_open(e, home, MDB_RDONLY, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(e, NULL, MDB_RDONLY, &t), 0);
    ck_assert_int_eq(mdb_dbi_open(t, "meta", 0, &d), 0);
    ck_assert_int_eq(mdb_get(t, d, &k, &v), 0);
    ck_assert_uint_eq(v.mv_size, 4);
    unsigned ver = lmq__get_u32(v.mv_data);
    mdb_txn_abort(t);
    mdb_env_close(e);
    return ver;
}

static void
set_version(unsigned ver)
{
    MDB_env *e;
    MDB_txn *t;
    MDB_dbi d;
    uint8_t b[4];
    lmq__put_u32(b, ver);
    MDB_val k = {7, "version"}, v = {4, b};
    ck_assert_int_eq(mdb_env_create(&e), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(e, 64), 0);
    ck_assert_int_eq(mdb_env_open(e, home, 0, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(e, NULL, 0, &t), 0);
    ck_assert_int_eq(mdb_dbi_open(t, "meta", 0, &d), 0);
    ck_assert_int_eq(mdb_put(t, d, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(t), 0);
    mdb_env_close(e);
}

static lmq_env *
open_home(lmq_durability dur)
{
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    o.durability = dur;
    o.clock = fixture_clock;
    lmq_env *env;
    ck_ok(lmq_env_open(home, &o, &env));
    return env;
}

static const char *
attr(lmq_env *env, const char *q, const char *name, char *buf, size_t cap)
{
    const char *names[] = {name, NULL};
    lmq_map *m;
    ck_ok(lmq_queue_get_attributes(env, q, names, &m));
    const char *v = lmq_map_get(m, name);
    snprintf(buf, cap, "%s", v ? v : "(none)");
    lmq_map_free(m);
    return buf;
}

/* The queue's messages in send order as "body:state" joined by spaces. */
static void
contents(lmq_env *env, const char *q, char *out, size_t cap)
{
    lmq_peek_opts po;
    lmq_peek_opts_init(&po);
    po.show_inflight = po.show_delayed = 1;
    lmq_msg **m;
    size_t n;
    ck_ok(lmq_queue_peek(env, q, &po, &m, &n));
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s:%s", i ? " " : "",
                 lmq_msg_body(m[i], NULL),
                 lmq_msg_state_name(lmq_msg_state(m[i])));
    }
    lmq_msg_list_free(m, n);
}

static lmq_msg *
recv1(lmq_queue *q, int vis)
{
    lmq_recv_opts o;
    lmq_recv_opts_init(&o);
    o.visibility_timeout = vis;
    const char *all[] = {"All", NULL};
    o.attribute_names = all;
    lmq_msg *m = NULL;
    size_t n;
    ck_ok(lmq_receive(q, &o, &m, 1, &n));
    return n ? m : NULL;
}

static void
check_fixture(int n)
{
    copy_fixture(n);
    ck_assert_uint_eq(stored_version(), (unsigned)n);
    lmq_env *env = open_home(LMQ_DURABILITY_FULL);
    char b[512];

    char **names;
    ck_ok(lmq_queue_list(env, NULL, 0, NULL, &names, NULL));
    ck_assert_ptr_nonnull(names[0]);
    size_t ni = 0;
    ck_assert_str_eq(names[ni++], "dlq");
    if (n >= 5) /* made with "limits" (make.sh) */
        ck_assert_str_eq(names[ni++], "edge");
    ck_assert_str_eq(names[ni++], "jobs.fifo");
    ck_assert_str_eq(names[ni++], "src");
    ck_assert_ptr_null(names[ni]);
    lmq_strv_free(names);

    /* format 6: the stored bytes were counted at the upgrade (body plus
     * attributes: s1 2 + color/String/red 14 + n/Number/42 9, s2 2, s3 2) */
    ck_assert_str_eq(attr(env, "src", "LmqStoredBytes", b, sizeof b), "29");
    ck_assert_str_eq(attr(env, "dlq", "LmqStoredBytes", b, sizeof b), "6");
    ck_assert_str_eq(attr(env, "jobs.fifo", "LmqStoredBytes", b, sizeof b),
                     "6");
    if (n >= 5) {
        /* format 5 kept the drops in the attribute map: now a total */
        ck_assert_str_eq(attr(env, "edge", "LmqDroppedMessages", b, sizeof b),
                         "2");
        ck_assert_str_eq(attr(env, "edge", "LmqStoredBytes", b, sizeof b),
                         "4");
        lmq_queue_metrics qm = {.size = sizeof qm};
        ck_ok(lmq_queue_metrics_get(env, "edge", &qm));
        ck_assert_uint_eq(qm.dropped, 2);
        ck_assert_uint_eq(qm.sent, 4);
        ck_assert_uint_eq(qm.stored_bytes, 4);
        contents(env, "edge", b, sizeof b);
        ck_assert_str_eq(b, "e3:visible e4:visible");
        /* and the policy still drops, counting on */
        lmq_queue *eq;
        lmq_send_entry ee;
        ck_ok(lmq_queue_open(env, "edge", &eq));
        lmq_send_entry_init(&ee);
        ee.body = "e5";
        ck_ok(lmq_send(eq, &ee, NULL));
        lmq_queue_close(eq);
        contents(env, "edge", b, sizeof b);
        ck_assert_str_eq(b, "e4:visible e5:visible");
        ck_assert_str_eq(attr(env, "edge", "LmqDroppedMessages", b, sizeof b),
                         "3");
    }

    /* attributes and tags */
    ck_assert_str_eq(attr(env, "src", "RedrivePolicy", b, sizeof b),
                     "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:"
                     "000000000000:dlq\",\"maxReceiveCount\":2}");
    ck_assert_str_eq(attr(env, "src", "MessageRetentionPeriod", b, sizeof b),
                     "1209600");
    ck_assert_str_eq(attr(env, "jobs.fifo", "FifoQueue", b, sizeof b),
                     "true");
    ck_assert_str_eq(
        attr(env, "jobs.fifo", "ContentBasedDeduplication", b, sizeof b),
        "true");
    lmq_map *tags;
    ck_ok(lmq_queue_tags(env, "src", &tags));
    ck_assert_uint_eq(lmq_map_count(tags), 2);
    ck_assert_str_eq(lmq_map_get(tags, "env"), "test");
    ck_assert_str_eq(lmq_map_get(tags, "team"), "queues");
    lmq_map_free(tags);
    char **src;
    ck_ok(lmq_dlq_list_sources(env, "dlq", 0, NULL, &src, NULL));
    ck_assert_ptr_nonnull(src[0]);
    ck_assert_ptr_nonnull(strstr(src[0], "src"));
    lmq_strv_free(src);

    /* messages and counters */
    contents(env, "src", b, sizeof b);
    ck_assert_str_eq(b, "s1:inflight s2:visible s3:visible");
    contents(env, "dlq", b, sizeof b);
    ck_assert_str_eq(b, "poison:visible");
    contents(env, "jobs.fifo", b, sizeof b);
    ck_assert_str_eq(b, "f1:inflight f2:visible f3:visible");
    ck_assert_str_eq(attr(env, "src", "ApproximateNumberOfMessages", b,
                          sizeof b), "2");
    ck_assert_str_eq(attr(env, "src", "ApproximateNumberOfMessagesNotVisible",
                          b, sizeof b), "1");
    ck_assert_str_eq(attr(env, "dlq", "ApproximateNumberOfMessages", b,
                          sizeof b), "1");
    ck_assert_str_eq(attr(env, "jobs.fifo", "ApproximateNumberOfMessages", b,
                          sizeof b), "2");
    ck_assert_str_eq(attr(env, "jobs.fifo",
                          "ApproximateNumberOfMessagesNotVisible", b,
                          sizeof b), "1");

    /* usable: the in-flight message with its attributes comes back once
     * its timeout passes; receive, delete, send; the redrive still works */
    lmq_queue *q, *f;
    ck_ok(lmq_queue_open(env, "src", &q));
    ck_ok(lmq_queue_open(env, "jobs.fifo", &f));
    lmq_msg *m = recv1(q, 30), *m2;
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "s2");
    m2 = recv1(q, 30);
    ck_assert_ptr_nonnull(m2);
    ck_assert_str_eq(lmq_msg_body(m2, NULL), "s3");
    int del = 0;
    ck_ok(lmq_delete(q, lmq_msg_receipt(m2), &del));
    ck_assert_int_eq(del, 1);
    lmq_msg_free(m2);
    ck_ok(lmq_change_visibility(q, lmq_msg_receipt(m), 0, NULL));
    lmq_msg_free(m);
    m = recv1(q, 0); /* s2's second receive */
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "s2");
    ck_assert_uint_eq(lmq_msg_receive_count(m), 2);
    lmq_msg_free(m);
    ck_assert_ptr_null(recv1(q, 30)); /* a third moves s2 to dlq */
    contents(env, "dlq", b, sizeof b);
    ck_assert_str_eq(b, "poison:visible s2:visible");
    fixture_ms += 43200 * 1000; /* s1 and f1 visible again */
    m = recv1(q, 30);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "s1");
    const lmq_mattrs *a = lmq_msg_attrs(m);
    ck_assert_uint_eq(lmq_mattrs_count(a), 2);
    const char *an, *at;
    const void *av;
    size_t al;
    ck_ok(lmq_mattrs_at(a, 0, &an, &at, &av, &al));
    ck_assert_str_eq(an, "color");
    ck_assert_str_eq(at, "String");
    ck_assert_int_eq(memcmp(av, "red", 3), 0);
    ck_ok(lmq_mattrs_at(a, 1, &an, &at, &av, &al));
    ck_assert_str_eq(an, "n");
    ck_assert_str_eq(at, "Number");
    ck_assert_int_eq(memcmp(av, "42", 2), 0);
    ck_assert_uint_eq(lmq_msg_receive_count(m), 2);
    ck_ok(lmq_delete(q, lmq_msg_receipt(m), &del));
    lmq_msg_free(m);
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = "new";
    ck_ok(lmq_send(q, &e, NULL));
    m = recv1(q, 30);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(lmq_msg_body(m, NULL), "new");
    ck_ok(lmq_delete(q, lmq_msg_receipt(m), &del));
    lmq_msg_free(m);
    char got[64] = ""; /* FIFO: in order within a group */
    for (int i = 1; i <= 3; i++) {
        m = recv1(f, 30);
        ck_assert_ptr_nonnull(m);
        strcat(got, lmq_msg_body(m, NULL));
        ck_ok(lmq_delete(f, lmq_msg_receipt(m), &del));
        lmq_msg_free(m);
    }
    ck_assert_msg(strstr(got, "f3") && strstr(got, "f1") &&
                      strstr(got, "f1") < strstr(got, "f2"),
                  "FIFO order: %s", got);
    lmq_send_result r;
    e.body = "f9";
    e.group_id = "g1";
    ck_ok(lmq_send(f, &e, &r));
    ck_assert_int_eq(r.duplicate, 0);
    ck_ok(lmq_send(f, &e, &r));
    ck_assert_int_eq(r.duplicate, 1);
    lmq_queue_close(q);
    lmq_queue_close(f);
    ck_assert_str_eq(attr(env, "src", "ApproximateNumberOfMessages", b,
                          sizeof b), "0");
    ck_assert_str_eq(attr(env, "jobs.fifo", "ApproximateNumberOfMessages", b,
                          sizeof b), "1");
    /* exact after the upgrade: src empty, dlq poison + s2, jobs.fifo f9 */
    ck_assert_str_eq(attr(env, "src", "LmqStoredBytes", b, sizeof b), "0");
    ck_assert_str_eq(attr(env, "dlq", "LmqStoredBytes", b, sizeof b), "8");
    ck_assert_str_eq(attr(env, "jobs.fifo", "LmqStoredBytes", b, sizeof b),
                     "2");
    lmq_queue_metrics qm = {.size = sizeof qm};
    ck_ok(lmq_queue_metrics_get(env, "src", &qm));
    ck_assert_uint_eq(qm.moved, 1); /* s2 to the DLQ after the upgrade */
    lmq_env_close(env);
    ck_assert_uint_eq(stored_version(), LMQ_FORMAT_VERSION);

    /* and it opens again as a current home */
    env = open_home(LMQ_DURABILITY_NONE);
    contents(env, "dlq", b, sizeof b);
    ck_assert_str_eq(b, "poison:visible s2:visible");
    lmq_env_close(env);
}

START_TEST(format1)
{
    check_fixture(1);
}
END_TEST

START_TEST(format2)
{
    check_fixture(2);
}
END_TEST

START_TEST(format3)
{
    check_fixture(3);
}
END_TEST

START_TEST(format5)
{
    check_fixture(5);
}
END_TEST

/* Every file of the home, name and bytes, for before/after comparisons
 * (the lock files LMDB and the log keep their runtime state in are left
 * out: every open writes them). */
struct snap {
    size_t n;
    char name[16][256];
    char *b[16];
    size_t len[16];
};

static void
snap_take(struct snap *s)
{
    memset(s, 0, sizeof *s);
    DIR *d = opendir(home);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d)) && s->n < 16) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "lock.mdb") == 0 ||
            strcmp(de->d_name, "wal.lock") == 0 ||
            strcmp(de->d_name, "lmq.wake") == 0)
            continue;
        char p[1024];
        snprintf(s->name[s->n], sizeof s->name[0], "%s", de->d_name);
        snprintf(p, sizeof p, "%s/%s", home, de->d_name);
        s->b[s->n] = read_file(p, &s->len[s->n]);
        s->n++;
    }
    closedir(d);
}

static void
snap_same(struct snap *a, struct snap *b, int dur)
{
    for (size_t i = 0; i < a->n; i++) {
        size_t j = 0;
        while (j < b->n && strcmp(a->name[i], b->name[j]) != 0)
            j++;
        ck_assert_msg(j < b->n, "%s is gone (durability %d)", a->name[i],
                      dur);
        size_t at = 0;
        while (at < a->len[i] && at < b->len[j] && a->b[i][at] == b->b[j][at])
            at++;
        ck_assert_msg(a->len[i] == b->len[j] && at == a->len[i],
                      "%s changed (durability %d): %zu bytes, %zu now, the "
                      "first difference at %zu",
                      a->name[i], dur, a->len[i], b->len[j], at);
    }
    for (size_t j = 0; j < b->n; j++) {
        size_t i = 0;
        while (i < a->n && strcmp(a->name[i], b->name[j]) != 0)
            i++;
        ck_assert_msg(i < a->n || b->len[j] == 0, "%s appeared (durability"
                      " %d)", b->name[j], dur);
    }
    for (size_t i = 0; i < a->n; i++)
        free(a->b[i]);
    for (size_t j = 0; j < b->n; j++)
        free(b->b[j]);
}

START_TEST(newer_format_refused)
{
    /* a current home (every database there), then one format newer */
    copy_fixture(3);
    lmq_env_close(open_home(LMQ_DURABILITY_FULL));
    ck_assert_uint_eq(stored_version(), LMQ_FORMAT_VERSION);
    set_version(LMQ_FORMAT_VERSION + 1);
    for (int dur = 0; dur < 3; dur++) {
        struct snap before, after;
        snap_take(&before);
        lmq_env_opts o;
        lmq_env_opts_init(&o);
        o.durability = (lmq_durability)dur;
        lmq_env *env = NULL;
        ck_lmq(lmq_env_open(home, &o, &env), LMQ_EVERSION);
        ck_assert_ptr_null(env);
        ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "format version"));
        snap_take(&after);
        snap_same(&before, &after, dur);
    }
    ck_assert_uint_eq(stored_version(), LMQ_FORMAT_VERSION + 1);
}
END_TEST

/* A `full` home killed with records in its log, one of whose operations
 * gets a kind this version does not know (the crc recomputed, as a newer
 * lmq would have written it): LMQ_EVERSION, nothing changed. */
START_TEST(unknown_log_record_refused)
{
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lmq_env_opts o;
        lmq_env_opts_init(&o);
        lmq_env *env;
        lmq_queue *q;
        if (lmq_env_open(home, &o, &env) ||
            lmq_queue_create(env, "q", NULL, NULL, NULL) ||
            lmq_queue_open(env, "q", &q))
            _exit(1);
        lmq_send_entry e;
        lmq_send_entry_init(&e);
        e.body = "logged";
        if (lmq_send(q, &e, NULL))
            _exit(1);
        _exit(0); /* no close: the records stay past the checkpoint */
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* The last record (REC_START = 8192 on, records of u32 len, u32 crc,
     * u64 gen, u64 txnid, then ops of u8 kind, u8 db, ...; wal.c): give
     * its first operation kind 200. */
    char path[600];
    size_t len;
    snprintf(path, sizeof path, "%s/wal", home);
    char *w = read_file(path, &len);
    size_t off = 8192, last = 0;
    while (off + 24 <= len && lmq__get_u32((uint8_t *)w + off) >= 24 &&
           lmq__get_u32((uint8_t *)w + off) <= len - off) {
        last = off;
        off += lmq__get_u32((uint8_t *)w + off);
    }
    ck_assert_uint_gt(last, 0);
    uint8_t *rec = (uint8_t *)w + last;
    uint32_t rl = lmq__get_u32(rec);
    ck_assert_int_eq(lmq__get_u64(rec + 16) > 0, 1);
    rec[24] = 200;
    memset(rec + 4, 0, 4);
    lmq__put_u32(rec + 4, lmq__crc32c(rec, rl, false));
    write_file(path, w, len);
    free(w);
    struct snap before, after;
    snap_take(&before);
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    lmq_env *env = NULL;
    ck_lmq(lmq_env_open(home, &o, &env), LMQ_EVERSION);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "unknown to this version"));
    snap_take(&after);
    snap_same(&before, &after, 0);
}
END_TEST

static Suite *
lmq_suite_upgrade(void)
{
    Suite *s = suite_create("upgrade");
    TCase *tc = tcase_create("older_formats");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, format1);
    tcase_add_test(tc, format2);
    tcase_add_test(tc, format3);
    tcase_add_test(tc, format5);
    suite_add_tcase(s, tc);
    tc = tcase_create("newer_refused");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, newer_format_refused);
    tcase_add_test(tc, unknown_log_record_refused);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_upgrade());
}
