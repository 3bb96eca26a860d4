/*
 * check_env.c: homes (open/close, options, sharing within a process),
 * errors, misuse and receipt handles.
 */
#include "lmq_test.h"

#include "core.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
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

START_TEST(open_creates_private_home)
{
    char path[300];
    struct stat st;
    lmq_env *env = lmq_test_env();
    snprintf(path, sizeof path, "%s/home", lmq_test_dir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    snprintf(path, sizeof path, "%s/home/data.mdb", lmq_test_dir);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0077, 0);
    lmq_env_close(env);
}
END_TEST

START_TEST(open_twice_in_one_process_shares_the_store)
{
    lmq_env *a = lmq_test_env(), *b = lmq_test_env();
    lmq_queue *q;
    ck_assert_ptr_eq(a->store, b->store);
    ck_ok(lmq_queue_create(a, "shared", NULL, NULL, NULL));
    ck_ok(lmq_queue_open(b, "shared", &q));
    lmq_queue_close(q);
    lmq_env_close(a);
    /* b still works after a is closed */
    ck_ok(lmq_queue_open(b, "shared", &q));
    lmq_queue_close(q);
    lmq_env_close(b);
}
END_TEST

START_TEST(reopen_keeps_data_and_secret)
{
    lmq_env *env = lmq_test_env();
    uint8_t secret[32];
    memcpy(secret, env->secret, 32);
    ck_ok(lmq_queue_create(env, "persist", NULL, NULL, NULL));
    lmq_env_close(env);
    env = lmq_test_env();
    ck_assert_mem_eq(env->secret, secret, 32);
    char *url = NULL;
    ck_ok(lmq_queue_url(env, "persist", &url));
    ck_assert_str_eq(url, "http://127.0.0.1:9324/000000000000/persist");
    free(url);
    lmq_env_close(env);
}
END_TEST

START_TEST(bad_options_are_rejected)
{
    lmq_env_opts o;
    lmq_env *env = (lmq_env *)1;
    char path[300];
    snprintf(path, sizeof path, "%s/home", lmq_test_dir);
    ck_lmq(lmq_env_open(NULL, NULL, &env), LMQ_EINVAL);
    ck_assert_ptr_null(env);
    ck_lmq(lmq_env_open("", NULL, &env), LMQ_EINVAL);
    lmq_env_opts_init(&o);
    o.durability = (lmq_durability)7;
    ck_lmq(lmq_env_open(path, &o, &env), LMQ_EINVAL);
    lmq_env_opts_init(&o);
    o.map_size = 4096;
    ck_lmq(lmq_env_open(path, &o, &env), LMQ_EINVAL);
    memset(&o, 0, sizeof o);
    ck_lmq(lmq_env_open(path, &o, &env), LMQ_EINVAL);
    /* a file where the directory should be */
    snprintf(path, sizeof path, "%s/file", lmq_test_dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_lmq(lmq_env_open(path, NULL, &env), LMQ_EINVAL);
    ck_assert_ptr_null(env);
}
END_TEST

START_TEST(custom_urls_and_arns)
{
    lmq_env_opts o;
    lmq_env *env;
    char path[300], *url;
    snprintf(path, sizeof path, "%s/home", lmq_test_dir);
    lmq_env_opts_init(&o);
    o.durability = LMQ_DURABILITY_NONE;
    o.url_base = "http://localhost:4566/123456789012/";
    o.region = "eu-west-1";
    o.account = "123456789012";
    ck_ok(lmq_env_open(path, &o, &env));
    ck_ok(lmq_queue_create(env, "q", NULL, NULL, &url));
    ck_assert_str_eq(url, "http://localhost:4566/123456789012/q");
    free(url);
    lmq_map *a;
    const char *names[] = {"QueueArn", NULL};
    ck_ok(lmq_queue_get_attributes(env, "q", names, &a));
    ck_assert_str_eq(lmq_map_get(a, "QueueArn"),
                     "arn:aws:sqs:eu-west-1:123456789012:q");
    lmq_map_free(a);
    lmq_env_close(env);
}
END_TEST

/* Open path with region/account (NULL: the home's); the open's result. */
static int
open_id(const char *path, const char *region, const char *account,
        int must_exist, lmq_env **env)
{
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    o.durability = LMQ_DURABILITY_NONE;
    o.region = region;
    o.account = account;
    o.must_exist = must_exist;
    return lmq_env_open(path, &o, env);
}

static void
ck_identity(const lmq_env *env, const char *region, const char *account)
{
    const char *r, *a;
    ck_ok(lmq_env_identity(env, &r, &a));
    ck_assert_str_eq(r, region);
    ck_assert_str_eq(a, account);
}

START_TEST(identity_is_fixed_when_the_home_is_created)
{
    char path[300], *url;
    lmq_env *env;
    snprintf(path, sizeof path, "%s/home", lmq_test_dir);
    ck_ok(open_id(path, "ap-south-1", "111122223333", 0, &env));
    ck_identity(env, "ap-south-1", "111122223333");
    /* The default URL base names the home's account. */
    ck_ok(lmq_queue_create(env, "q", NULL, NULL, &url));
    ck_assert_str_eq(url, "http://127.0.0.1:9324/111122223333/q");
    free(url);
    lmq_env_close(env);
    /* NULL: the home's; the same values: fine; others: refused. */
    ck_ok(open_id(path, NULL, NULL, 1, &env));
    ck_identity(env, "ap-south-1", "111122223333");
    lmq_env_close(env);
    ck_ok(open_id(path, "ap-south-1", "111122223333", 0, &env));
    lmq_env_close(env);
    env = (lmq_env *)1;
    ck_assert_int_eq(open_id(path, "us-east-1", NULL, 0, &env), LMQ_EINVAL);
    ck_assert_ptr_null(env);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), "region us-east-1 disagrees "
                                               "with the home's region "
                                               "ap-south-1"));
    ck_assert_int_eq(open_id(path, NULL, "000000000000", 0, &env),
                     LMQ_EINVAL);
    /* Malformed values, checked before anything is created. */
    char other[300];
    snprintf(other, sizeof other, "%s/other", lmq_test_dir);
    ck_assert_int_eq(open_id(other, "US East", NULL, 0, &env), LMQ_EINVAL);
    ck_assert_int_eq(open_id(other, NULL, "12345", 0, &env), LMQ_EINVAL);
    struct stat st;
    ck_assert_int_ne(stat(other, &st), 0);
    ck_assert_int_eq(lmq_env_identity(NULL, NULL, NULL), LMQ_EMISUSE);
}
END_TEST

static int
drop_identity(lmq_txn *t, void *arg)
{
    (void)arg;
    int rc = lmq__txn_del(t, LMQ_DB_META, "region", 6);
    if (rc < 0)
        return rc;
    rc = lmq__txn_del(t, LMQ_DB_META, "account", 7);
    return rc < 0 ? rc : 0;
}

/* A home from before 0.5 has no region and account in meta: its first
 * open stores the opener's, else the defaults. */
START_TEST(older_homes_get_the_first_openers_identity)
{
    char a[300], b[300];
    lmq_env *env;
    snprintf(a, sizeof a, "%s/a", lmq_test_dir);
    snprintf(b, sizeof b, "%s/b", lmq_test_dir);
    const char *paths[] = {a, b};
    for (int i = 0; i < 2; i++) {
        ck_ok(open_id(paths[i], NULL, NULL, 0, &env));
        ck_ok(lmq__store_write(env->store, drop_identity, NULL));
        lmq_env_close(env);
    }
    ck_ok(open_id(a, "eu-central-1", "444455556666", 0, &env));
    lmq_env_close(env);
    ck_ok(open_id(a, NULL, NULL, 0, &env));
    ck_identity(env, "eu-central-1", "444455556666");
    lmq_env_close(env);
    ck_ok(open_id(b, NULL, NULL, 0, &env));
    lmq_env_close(env);
    ck_assert_int_eq(open_id(b, "eu-central-1", NULL, 0, &env), LMQ_EINVAL);
    ck_ok(open_id(b, NULL, NULL, 0, &env));
    ck_identity(env, "us-east-1", "000000000000");
    lmq_env_close(env);
}
END_TEST

START_TEST(must_exist_creates_nothing)
{
    char missing[300], empty[300], home[300];
    lmq_env *env = (lmq_env *)1;
    struct stat st;
    snprintf(missing, sizeof missing, "%s/no/such/home", lmq_test_dir);
    snprintf(empty, sizeof empty, "%s/empty", lmq_test_dir);
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    ck_assert_int_eq(open_id(missing, NULL, NULL, 1, &env), LMQ_ENOTFOUND);
    ck_assert_ptr_null(env);
    ck_assert_ptr_nonnull(strstr(lmq_errmsg(), missing));
    snprintf(home, sizeof home, "%s/no", lmq_test_dir);
    ck_assert_int_ne(stat(home, &st), 0);
    ck_assert_int_eq(mkdir(empty, 0700), 0);
    ck_assert_int_eq(open_id(empty, NULL, NULL, 1, &env), LMQ_ENOTFOUND);
    DIR *d = opendir(empty);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(n, 0);
    snprintf(home, sizeof home, "%s/home", lmq_test_dir);
    ck_ok(open_id(home, NULL, NULL, 0, &env));
    lmq_env_close(env);
    ck_ok(open_id(home, NULL, NULL, 1, &env));
    lmq_env_close(env);
}
END_TEST

START_TEST(durability_modes_open_and_sync)
{
    lmq_durability modes[] = {LMQ_DURABILITY_FULL, LMQ_DURABILITY_PERIODIC,
                              LMQ_DURABILITY_NONE};
    for (int i = 0; i < 3; i++) {
        lmq_env_opts o;
        lmq_env *env;
        char path[300];
        snprintf(path, sizeof path, "%s/home%d", lmq_test_dir, i);
        lmq_env_opts_init(&o);
        o.durability = modes[i];
        o.flush_interval_ms = 10;
        ck_ok(lmq_env_open(path, &o, &env));
        ck_ok(lmq_queue_create(env, "d", NULL, NULL, NULL));
        ck_ok(lmq_env_sync(env));
        lmq_env_close(env);
    }
}
END_TEST

START_TEST(default_home_follows_environment)
{
    char *h;
    setenv("LMQ_HOME", "/x/y", 1);
    ck_ok(lmq_default_home(&h));
    ck_assert_str_eq(h, "/x/y");
    free(h);
    unsetenv("LMQ_HOME");
    setenv("XDG_DATA_HOME", "/data", 1);
    ck_ok(lmq_default_home(&h));
    ck_assert_str_eq(h, "/data/lmq");
    free(h);
    /* A relative XDG_DATA_HOME is ignored (XDG base directory rules). */
    setenv("XDG_DATA_HOME", "data", 1);
    setenv("HOME", "/home/u", 1);
    ck_ok(lmq_default_home(&h));
    ck_assert_str_eq(h, "/home/u/.local/share/lmq");
    free(h);
    unsetenv("XDG_DATA_HOME");
    setenv("HOME", "/", 1);
    ck_ok(lmq_default_home(&h));
    ck_assert_str_eq(h, "/.local/share/lmq");
    free(h);
    /* No HOME: the password database's home of this user. */
    unsetenv("HOME");
    ck_ok(lmq_default_home(&h));
    ck_assert_uint_gt(strlen(h), strlen("/.local/share/lmq"));
    ck_assert_str_eq(h + strlen(h) - strlen("/.local/share/lmq"),
                     "/.local/share/lmq");
    free(h);
}
END_TEST

START_TEST(errors_have_names_codes_and_text)
{
    ck_assert_str_eq(lmq_err_name(LMQ_ENOQUEUE), "LMQ_ENOQUEUE");
    ck_assert_str_eq(lmq_strerror(LMQ_ENOQUEUE),
                     "LMQ_ENOQUEUE: queue does not exist");
    ck_assert_str_eq(lmq_err_sqs_code(LMQ_ENOQUEUE), "QueueDoesNotExist");
    ck_assert_str_eq(lmq_err_sqs_code(LMQ_ERECEIPT),
                     "ReceiptHandleIsInvalid");
    ck_assert_str_eq(lmq_err_sqs_code(LMQ_EEXPIRED), "InvalidParameterValue");
    ck_assert_str_eq(lmq_err_name(12345), "LMQ_EUNKNOWN");
    ck_assert_str_eq(lmq_err_name(0), "LMQ_OK");
    /* every code in the map has distinct text starting with its name */
#define X(name, val, sqs, msg)                                               \
    ck_assert(strncmp(lmq_strerror(val), #name, strlen(#name)) == 0);
    LMQ_ERRNO_MAP(X)
#undef X
    lmq__seterr(LMQ_EINVAL, "detail %d", 42);
    ck_assert_str_eq(lmq_errmsg(), "LMQ_EINVAL: detail 42");
}
END_TEST

START_TEST(misuse_is_detected_not_crashed)
{
    lmq_env *env = lmq_test_env();
    lmq_queue *q = NULL;
    lmq_msg *m[1];
    size_t n;
    ck_lmq(lmq_queue_create(NULL, "x", NULL, NULL, NULL), LMQ_EMISUSE);
    ck_lmq(lmq_queue_open(NULL, "x", &q), LMQ_EMISUSE);
    ck_lmq(lmq_receive(NULL, NULL, m, 1, &n), LMQ_EMISUSE);
    ck_lmq(lmq_send(NULL, NULL, NULL), LMQ_EMISUSE);
    ck_lmq(lmq_delete(NULL, "x", NULL), LMQ_EMISUSE);
    ck_lmq(lmq_queue_open(env, "missing", &q), LMQ_ENOQUEUE);
    ck_assert_ptr_null(q);
    /* a closed queue handle is detected (freed memory is not touched:
     * use a stack copy of a closed handle's bytes) */
    struct lmq_queue fake = {0};
    ck_lmq(lmq_receive(&fake, NULL, m, 1, &n), LMQ_EMISUSE);
    /* destructors accept NULL */
    lmq_env_close(NULL);
    lmq_queue_close(NULL);
    lmq_msg_free(NULL);
    lmq_map_free(NULL);
    lmq_mattrs_free(NULL);
    lmq_strv_free(NULL);
    lmq_env_close(env);
}
END_TEST

START_TEST(receipts_verify_and_reject_tampering)
{
    lmq_env *env = lmq_test_env();
    char rh[LMQ_RECEIPT_MAX];
    uint32_t qid, gen;
    uint64_t seq;
    lmq__receipt_make(env, 7, 123456789012ull, 3, rh);
    ck_assert_uint_le(strlen(rh), 1024);
    ck_ok(lmq__receipt_parse(env, rh, &qid, &seq, &gen));
    ck_assert_uint_eq(qid, 7);
    ck_assert_uint_eq(seq, 123456789012ull);
    ck_assert_uint_eq(gen, 3);
    for (size_t i = 0; i < strlen(rh); i++) {
        char bad[LMQ_RECEIPT_MAX];
        memcpy(bad, rh, sizeof bad);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        ck_lmq(lmq__receipt_parse(env, bad, &qid, &seq, &gen), LMQ_ERECEIPT);
    }
    ck_lmq(lmq__receipt_parse(env, "garbage", &qid, &seq, &gen),
           LMQ_ERECEIPT);
    ck_assert(strstr(lmq_errmsg(), "\"garbage\" is not a valid receipt"));
    ck_lmq(lmq__receipt_parse(env, "", &qid, &seq, &gen), LMQ_EMISSING);
    /* one character too few or too many, or outside the alphabet */
    char cut[LMQ_RECEIPT_MAX + 2];
    snprintf(cut, sizeof cut, "%.*s", (int)strlen(rh) - 1, rh);
    ck_lmq(lmq__receipt_parse(env, cut, &qid, &seq, &gen), LMQ_ERECEIPT);
    snprintf(cut, sizeof cut, "%sA", rh);
    ck_lmq(lmq__receipt_parse(env, cut, &qid, &seq, &gen), LMQ_ERECEIPT);
    snprintf(cut, sizeof cut, "%s", rh);
    cut[5] = '+';
    ck_lmq(lmq__receipt_parse(env, cut, &qid, &seq, &gen), LMQ_ERECEIPT);

    /* version 1 handles (keyed BLAKE2b under the secret, made by earlier
     * releases) still verify; built here independently with libsodium */
    uint8_t raw[33];
    raw[0] = 1;
    lmq__put_u32(raw + 1, 9);
    lmq__put_u64(raw + 5, 77);
    lmq__put_u32(raw + 13, 2);
    crypto_generichash(raw + 17, 16, raw, 17, env->secret,
                       sizeof env->secret);
    char v1[LMQ_RECEIPT_MAX];
    sodium_bin2base64(v1, sizeof v1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    ck_ok(lmq__receipt_parse(env, v1, &qid, &seq, &gen));
    ck_assert_uint_eq(qid, 9);
    ck_assert_uint_eq(seq, 77);
    ck_assert_uint_eq(gen, 2);
    /* ... but not as version 2, nor with a flipped MAC bit */
    raw[0] = 2;
    sodium_bin2base64(v1, sizeof v1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    ck_lmq(lmq__receipt_parse(env, v1, &qid, &seq, &gen), LMQ_ERECEIPT);
    raw[0] = 1;
    raw[32] ^= 1;
    sodium_bin2base64(v1, sizeof v1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    ck_lmq(lmq__receipt_parse(env, v1, &qid, &seq, &gen), LMQ_ERECEIPT);
    /* the decoder agrees with libsodium's for random version 1 handles
     * (every character of the alphabet in every position, over the runs),
     * and refuses every byte outside the alphabet */
    for (int k = 0; k < 2000; k++) {
        uint32_t wq = randombytes_random(), wg = randombytes_random();
        uint64_t ws = (uint64_t)randombytes_random() << 32 |
                      randombytes_random();
        raw[0] = 1;
        lmq__put_u32(raw + 1, wq);
        lmq__put_u64(raw + 5, ws);
        lmq__put_u32(raw + 13, wg);
        crypto_generichash(raw + 17, 16, raw, 17, env->secret,
                           sizeof env->secret);
        sodium_bin2base64(v1, sizeof v1, raw, sizeof raw,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        ck_ok(lmq__receipt_parse(env, v1, &qid, &seq, &gen));
        ck_assert_uint_eq(qid, wq);
        ck_assert_uint_eq(seq, ws);
        ck_assert_uint_eq(gen, wg);
    }
    for (int c = 1; c < 256; c++) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_')
            continue;
        memcpy(cut, rh, strlen(rh) + 1);
        cut[(size_t)c % strlen(rh)] = (char)c;
        ck_lmq(lmq__receipt_parse(env, cut, &qid, &seq, &gen), LMQ_ERECEIPT);
    }
    /* the handles made now are version 2 and decode with libsodium too */
    size_t rl = 0;
    ck_assert_int_eq(sodium_base642bin(raw, sizeof raw, rh, strlen(rh), NULL,
                                       &rl, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    ck_assert_uint_eq(rl, 33);
    ck_assert_uint_eq(raw[0], 2);
    lmq_env_close(env);

    /* another home's secret does not verify this home's handles */
    char other[300];
    lmq_env_opts o;
    lmq_env *env2;
    snprintf(other, sizeof other, "%s/other", lmq_test_dir);
    lmq_env_opts_init(&o);
    ck_ok(lmq_env_open(other, &o, &env2));
    ck_lmq(lmq__receipt_parse(env2, rh, &qid, &seq, &gen), LMQ_ERECEIPT);
    lmq_env_close(env2);
}
END_TEST

START_TEST(queue_urls_parse_to_names)
{
    char *n;
    ck_ok(lmq_queue_name_from_url("http://h:1/000000000000/q1", &n));
    ck_assert_str_eq(n, "q1");
    free(n);
    ck_ok(lmq_queue_name_from_url("bare", &n));
    ck_assert_str_eq(n, "bare");
    free(n);
    ck_ok(lmq_queue_name_from_url("https://sqs.x.amazonaws.com/1/a.fifo/",
                                  &n));
    ck_assert_str_eq(n, "a.fifo");
    free(n);
    ck_lmq(lmq_queue_name_from_url("", &n), LMQ_EINVAL);
    ck_lmq(lmq_queue_name_from_url("http://h/", &n), LMQ_EINVAL);
}
END_TEST

START_TEST(map_grows_then_fails_cleanly_when_full)
{
    lmq_env_opts o;
    lmq_env *env;
    lmq_queue *q;
    char path[300];
    snprintf(path, sizeof path, "%s/home", lmq_test_dir);
    lmq_env_opts_init(&o);
    o.durability = LMQ_DURABILITY_NONE;
    o.map_mode = _i == 0 ? LMQ_MAP_PWRITE : LMQ_MAP_WRITABLE;
    o.map_size = 1u << 20;
    o.max_map_size = 4u << 20;
    ck_ok(lmq_env_open(path, &o, &env));
    ck_ok(lmq_queue_create(env, "fill", NULL, NULL, NULL));
    ck_ok(lmq_queue_open(env, "fill", &q));
    static char body[16 * 1024];
    memset(body, 'f', sizeof body - 1);
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = body;
    int rc = 0;
    long sent = 0;
    while (sent < 10000 && (rc = lmq_send(q, &e, NULL)) == 0)
        sent++;
    ck_assert_int_eq(rc, LMQ_ENOSPC);
    ck_assert(strstr(lmq_errmsg(), "full"));
    /* it grew past the first megabyte before giving up */
    ck_assert_int_gt(sent * (long)sizeof body, 1L << 20);
    uint64_t file = 0, map = 0;
    lmq__store_stat(env->store, &file, &map);
    /* grown, within the limit; sends stop a reserve (a quarter of a map
     * this small) before it, so the map may stay short of it */
    ck_assert_uint_gt(map, 1u << 20);
    ck_assert_uint_le(map, 4u << 20);
    /* the failed send left nothing behind, and the home still works */
    const char *names[] = {"ApproximateNumberOfMessages", NULL};
    lmq_map *a;
    ck_ok(lmq_queue_get_attributes(env, "fill", names, &a));
    ck_assert_int_eq(atol(lmq_map_get(a, "ApproximateNumberOfMessages")),
                     sent);
    lmq_map_free(a);
    lmq_msg *m[1];
    size_t n;
    ck_ok(lmq_receive(q, NULL, m, 1, &n));
    ck_assert_uint_eq(n, 1);
    ck_ok(lmq_delete(q, lmq_msg_receipt(m[0]), NULL));
    lmq_msg_free(m[0]);
    lmq_queue_close(q);
    lmq_env_close(env);
}
END_TEST

/* ---- map modes ---------------------------------------------------------- */

static int
open_home(const char *name, lmq_durability d, lmq_map_mode m, lmq_env **env)
{
    char path[300];
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    o.durability = d;
    o.map_mode = m;
    snprintf(path, sizeof path, "%s/%s", lmq_test_dir, name);
    return lmq_env_open(path, &o, env);
}

static void
read_home_file(const char *name, const char *file, char *buf, size_t cap)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s/%s", lmq_test_dir, name, file);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    ck_assert_int_ge(n, 0);
    buf[n] = '\0';
}

static void
write_home_file(const char *name, const char *file, const char *text)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s/%s", lmq_test_dir, name, file);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* Send one message and count what the queue holds. */
static long
send_and_count(lmq_env *env)
{
    lmq_queue *q;
    lmq_map *a;
    const char *names[] = {"ApproximateNumberOfMessages", NULL};
    int rc = lmq_queue_create(env, "mm", NULL, NULL, NULL);
    ck_assert(rc == 0 || rc == LMQ_EQUEUEEXISTS);
    ck_ok(lmq_queue_open(env, "mm", &q));
    lmq_send_entry e;
    lmq_send_entry_init(&e);
    e.body = "map mode";
    ck_ok(lmq_send(q, &e, NULL));
    lmq_queue_close(q);
    ck_ok(lmq_queue_get_attributes(env, "mm", names, &a));
    long n = atol(lmq_map_get(a, "ApproximateNumberOfMessages"));
    lmq_map_free(a);
    return n;
}

START_TEST(map_mode_is_chosen_at_creation_and_kept)
{
    lmq_env *env;
    char buf[64];
    /* AUTO: relaxed homes get the writable map, full ones pwrite */
    ck_ok(open_home("relaxed", LMQ_DURABILITY_NONE, LMQ_MAP_AUTO, &env));
    ck_assert_int_eq(lmq_env_map_mode(env), LMQ_MAP_WRITABLE);
    ck_assert_int_eq(send_and_count(env), 1);
    lmq_env_close(env);
    read_home_file("relaxed", "mapmode", buf, sizeof buf);
    ck_assert_str_eq(buf, "writable\n");
    ck_ok(open_home("periodic", LMQ_DURABILITY_PERIODIC, LMQ_MAP_AUTO, &env));
    ck_assert_int_eq(lmq_env_map_mode(env), LMQ_MAP_WRITABLE);
    lmq_env_close(env);
    ck_ok(open_home("durable", LMQ_DURABILITY_FULL, LMQ_MAP_AUTO, &env));
    ck_assert_int_eq(lmq_env_map_mode(env), LMQ_MAP_PWRITE);
    ck_assert_int_eq(send_and_count(env), 1);
    lmq_env_close(env);
    read_home_file("durable", "mapmode", buf, sizeof buf);
    ck_assert_str_eq(buf, "pwrite\n");

    /* a home keeps its mode whatever later opens ask for, in any
     * durability, and the data written under each stays readable */
    ck_ok(open_home("relaxed", LMQ_DURABILITY_FULL, LMQ_MAP_PWRITE, &env));
    ck_assert_int_eq(lmq_env_map_mode(env), LMQ_MAP_WRITABLE);
    ck_assert_int_eq(send_and_count(env), 2);
    lmq_env_close(env);
    ck_ok(open_home("durable", LMQ_DURABILITY_NONE, LMQ_MAP_WRITABLE, &env));
    ck_assert_int_eq(lmq_env_map_mode(env), LMQ_MAP_PWRITE);
    ck_assert_int_eq(send_and_count(env), 2);
    lmq_env_close(env);

    /* explicit choices override AUTO for a new home */
    ck_ok(open_home("wfull", LMQ_DURABILITY_FULL, LMQ_MAP_WRITABLE, &env));
    ck_assert_int_eq(lmq_env_map_mode(env), LMQ_MAP_WRITABLE);
    ck_assert_int_eq(send_and_count(env), 1);
    lmq_env_close(env);
    ck_ok(open_home("pnone", LMQ_DURABILITY_NONE, LMQ_MAP_PWRITE, &env));
    ck_assert_int_eq(lmq_env_map_mode(env), LMQ_MAP_PWRITE);
    lmq_env_close(env);
}
END_TEST

START_TEST(map_mode_bad_input_and_old_homes)
{
    lmq_env *env = NULL;
    char path[300];
    struct stat st;
    ck_assert_int_eq(open_home("bad", LMQ_DURABILITY_NONE, (lmq_map_mode)7,
                               &env),
                     LMQ_EINVAL);
    ck_assert_ptr_null(env);
    /* rejected before anything was created */
    snprintf(path, sizeof path, "%s/bad", lmq_test_dir);
    ck_assert_int_ne(stat(path, &st), 0);

    /* a home from before the mapmode file existed used pwrite */
    ck_ok(open_home("old", LMQ_DURABILITY_FULL, LMQ_MAP_PWRITE, &env));
    ck_assert_int_eq(send_and_count(env), 1);
    lmq_env_close(env);
    snprintf(path, sizeof path, "%s/old/mapmode", lmq_test_dir);
    ck_assert_int_eq(unlink(path), 0);
    ck_ok(open_home("old", LMQ_DURABILITY_NONE, LMQ_MAP_AUTO, &env));
    ck_assert_int_eq(lmq_env_map_mode(env), LMQ_MAP_PWRITE);
    ck_assert_int_eq(send_and_count(env), 2);
    lmq_env_close(env);

    /* an unknown mode (a newer lmq?) is refused and left alone */
    write_home_file("old", "mapmode", "hugepages\n");
    ck_assert_int_eq(open_home("old", LMQ_DURABILITY_NONE, LMQ_MAP_AUTO,
                               &env),
                     LMQ_EVERSION);
    ck_assert(strstr(lmq_errmsg(), "unknown map mode"));
    char buf[64];
    read_home_file("old", "mapmode", buf, sizeof buf);
    ck_assert_str_eq(buf, "hugepages\n");
}
END_TEST

/* Processes creating one home at once, half asking for each mode, all end
 * up with the same mode and share the data. */
START_TEST(map_mode_concurrent_creators_agree)
{
    enum { N = 6 };
    int go[2];
    pid_t pids[N];
    ck_assert_int_eq(pipe(go), 0);
    for (int i = 0; i < N; i++) {
        pids[i] = check_fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            char c;
            lmq_env *env = NULL;
            close(go[1]);
            if (read(go[0], &c, 1) != 0) /* EOF: everyone starts */
                _exit(20);
            if (open_home("race", LMQ_DURABILITY_NONE,
                          i % 2 ? LMQ_MAP_WRITABLE : LMQ_MAP_PWRITE,
                          &env) != 0)
                _exit(21);
            lmq_queue *q = NULL;
            int rc = lmq_queue_create(env, "mm", NULL, NULL, NULL);
            if ((rc != 0 && rc != LMQ_EQUEUEEXISTS) ||
                lmq_queue_open(env, "mm", &q) != 0)
                _exit(22);
            lmq_send_entry e;
            lmq_send_entry_init(&e);
            e.body = "racer";
            if (lmq_send(q, &e, NULL) != 0)
                _exit(23);
            int mode = lmq_env_map_mode(env);
            lmq_queue_close(q);
            lmq_env_close(env);
            _exit(mode);
        }
    }
    close(go[0]);
    close(go[1]);
    int first = -1;
    for (int i = 0; i < N; i++) {
        int status;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert(WIFEXITED(status));
        int mode = WEXITSTATUS(status);
        ck_assert_msg(mode == LMQ_MAP_PWRITE || mode == LMQ_MAP_WRITABLE,
                      "child %d exited %d", i, mode);
        if (first < 0)
            first = mode;
        ck_assert_int_eq(mode, first);
    }
    lmq_env *env;
    ck_ok(open_home("race", LMQ_DURABILITY_NONE, LMQ_MAP_AUTO, &env));
    ck_assert_int_eq(lmq_env_map_mode(env), first);
    ck_assert_int_eq(send_and_count(env), N + 1);
    lmq_env_close(env);
}
END_TEST

Suite *
lmq_suite_env(void)
{
    Suite *s = suite_create("env");
    TCase *tc = tcase_create("homes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, open_creates_private_home);
    tcase_add_test(tc, open_twice_in_one_process_shares_the_store);
    tcase_add_test(tc, reopen_keeps_data_and_secret);
    tcase_add_test(tc, bad_options_are_rejected);
    tcase_add_test(tc, custom_urls_and_arns);
    tcase_add_test(tc, durability_modes_open_and_sync);
    tcase_add_test(tc, default_home_follows_environment);
    tcase_add_test(tc, identity_is_fixed_when_the_home_is_created);
    tcase_add_test(tc, older_homes_get_the_first_openers_identity);
    tcase_add_test(tc, must_exist_creates_nothing);
    tcase_add_loop_test(tc, map_grows_then_fails_cleanly_when_full, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("map_modes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, map_mode_is_chosen_at_creation_and_kept);
    tcase_add_test(tc, map_mode_bad_input_and_old_homes);
    tcase_add_test(tc, map_mode_concurrent_creators_agree);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors_and_misuse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, errors_have_names_codes_and_text);
    tcase_add_test(tc, misuse_is_detected_not_crashed);
    tcase_add_test(tc, queue_urls_parse_to_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("receipts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, receipts_verify_and_reject_tampering);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_env());
}
