/*
 * check_validate.c: digests, identifiers, the SQS input rules, and the map /
 * message-attribute containers with their storage encoding.
 *
 * These modules are pure (no home, no I/O), so no test needs the temporary
 * directory fixture. The MD5OfMessageAttributes vectors are the ones listed
 * in shared/SQS-SEMANTICS.md section 3.4; the receive-time subsets are made
 * with the real filter, so the filter and the digest are checked together
 * the way a receive uses them.
 */
#include "lmq_test.h"

#include "internal.h"

#include <ctype.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

/* Assert that the last error detail contains text. */
#define ck_errmsg_has(text)                                                  \
    ck_assert_msg(strstr(lmq_errmsg(), (text)) != NULL,                      \
                  "errmsg '%s' lacks '%s'", lmq_errmsg(), (text))

static void
add_str(lmq_mattrs *a, const char *name, const char *type, const char *v)
{
    ck_ok(lmq_mattrs_add(a, name, type, v, strlen(v)));
}

static void
ck_md5(const lmq_mattrs *a, const char *expect)
{
    char out[33];
    ck_ok(lmq_mattrs_md5(a, out));
    ck_assert_str_eq(out, expect);
}

/* The three attributes of the recorded "General Kenobi" vector. */
static lmq_mattrs *
kenobi(void)
{
    lmq_mattrs *a = lmq_mattrs_new();
    ck_assert_ptr_nonnull(a);
    /* Added out of order on purpose: the digest must sort by name. */
    add_str(a, "Help.Me", "String", "Me");
    add_str(a, "Hello", "String", "There");
    add_str(a, "General", "String", "Kenobi");
    return a;
}

static char *
repeat(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * n + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * n] = '\0';
    return s;
}

/* ---- digests and identifiers --------------------------------------------- */

START_TEST(test_md5_known_values)
{
    char out[33];
    lmq__md5_hex("hello", 5, out);
    ck_assert_str_eq(out, "5d41402abc4b2a76b9719d911017c592");
    lmq__md5_hex("test", 4, out);
    ck_assert_str_eq(out, "098f6bcd4621d373cade4e832627b4f6");
    lmq__md5_hex("", 0, out);
    ck_assert_str_eq(out, "d41d8cd98f00b204e9800998ecf8427e");
}
END_TEST

START_TEST(test_sha256_known_values)
{
    char out[65];
    lmq__sha256_hex("hello", 5, out);
    ck_assert_str_eq(out, "2cf24dba5fb0a30e26e83b2ac5b9e29e"
                          "1b161e5c1fa7425e73043362938b9824");
    lmq__sha256_hex("", 0, out);
    ck_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb924"
                          "27ae41e4649b934ca495991b7852b855");
}
END_TEST

static void *
md5_thread(void *arg)
{
    char out[33];
    (void)arg;
    for (int i = 0; i < 200; i++) {
        lmq__md5_hex("abc", 3, out);
        if (strcmp(out, "900150983cd24fb0d6963f7d28e17f72") != 0)
            return NULL;
    }
    return (void *)1;
}

START_TEST(test_uuid_shape)
{
    for (int k = 0; k < 200; k++) {
        char u[37];
        memset(u, 'Z', sizeof u);
        lmq__uuid4(u);
        ck_assert_uint_eq(strlen(u), 36);
        for (int i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                ck_assert_int_eq(u[i], '-');
                continue;
            }
            ck_assert_msg(isxdigit((unsigned char)u[i]) &&
                              !isupper((unsigned char)u[i]),
                          "bad char in %s", u);
        }
        ck_assert_int_eq(u[14], '4');                  /* version 4 */
        ck_assert_ptr_nonnull(strchr("89ab", u[19])); /* RFC 4122 variant */
    }
}
END_TEST

static int
cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

START_TEST(test_uuid_unique)
{
    enum { N = 2000 };
    static char ids[N][37];
    for (int i = 0; i < N; i++)
        lmq__uuid4(ids[i]);
    qsort(ids, N, sizeof ids[0], cmp_str);
    for (int i = 1; i < N; i++)
        ck_assert_str_ne(ids[i - 1], ids[i]);
}
END_TEST

/* Ids come from a per-thread buffer of random bytes: a forked child must not
 * replay the bytes its parent has yet to use, nor must other threads. */
START_TEST(test_uuid_unique_across_fork_and_threads)
{
    char before[37], parent[3][37], child[3][37];
    int fds[2];
    lmq__uuid4(before); /* fills this thread's buffer */
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (int i = 0; i < 3; i++)
            lmq__uuid4(child[i]);
        _exit(write(fds[1], child, sizeof child) == (ssize_t)sizeof child
                  ? 0
                  : 1);
    }
    for (int i = 0; i < 3; i++)
        lmq__uuid4(parent[i]);
    ck_assert_int_eq(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    close(fds[0]);
    close(fds[1]);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            ck_assert_str_ne(parent[i], child[j]);
}
END_TEST

static void *
uuid_thread(void *arg)
{
    lmq__uuid4(arg);
    return NULL;
}

START_TEST(test_uuid_unique_across_threads)
{
    enum { N = 16 };
    static char ids[N][37];
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, uuid_thread, ids[i]), 0);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    qsort(ids, N, sizeof ids[0], cmp_str);
    for (int i = 1; i < N; i++)
        ck_assert_str_ne(ids[i - 1], ids[i]);
}
END_TEST

START_TEST(test_md5_many_threads)
{
    /* each thread keeps its own digest context */
    enum { N = 8 };
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, md5_thread, NULL), 0);
    for (int i = 0; i < N; i++) {
        void *ok;
        pthread_join(th[i], &ok);
        ck_assert_ptr_nonnull(ok);
    }
}
END_TEST

/* ---- MD5OfMessageAttributes ---------------------------------------------- */

START_TEST(test_md5_attrs_recorded_vectors)
{
    lmq_mattrs *a = lmq_mattrs_new();
    add_str(a, "MyAttribute", "String", "foobar");
    ck_md5(a, "adb59cd4678ea5a855436b949cd07ab6");
    lmq_mattrs_free(a);

    a = lmq_mattrs_new();
    add_str(a, "Foo", "String", "Bar");
    ck_md5(a, "ae7155c6026991b6d54b11589678bf9c");
    lmq_mattrs_free(a);

    a = kenobi();
    ck_md5(a, "4c360f3fdafd970e05fae2f149d997f5");
    lmq_mattrs_free(a);

    a = lmq_mattrs_new();
    add_str(a, "k", "String", "x");
    ck_md5(a, "a45daa70926828a2f0a1db3418e6feb4");
    lmq_mattrs_free(a);
}
END_TEST

/* On receive the digest covers only the returned attributes (section 3.4,
 * step 1): filter the three-attribute list, then digest the subset. */
START_TEST(test_md5_attrs_receive_subsets)
{
    lmq_mattrs *a = kenobi(), *f;
    const char *gen_hello[] = {"General", "Hello", NULL};
    const char *hello[] = {"Hello", NULL};
    const char *hel[] = {"Hel.*", NULL};

    ck_ok(lmq__mattrs_filter(a, gen_hello, &f));
    ck_assert_uint_eq(lmq_mattrs_count(f), 2);
    ck_md5(f, "fca026605781cb4126a1e9044df24232");
    lmq_mattrs_free(f);

    ck_ok(lmq__mattrs_filter(a, hello, &f));
    ck_assert_uint_eq(lmq_mattrs_count(f), 1);
    ck_md5(f, "a311262e065454b75da111d535b8dacd");
    lmq_mattrs_free(f);

    ck_ok(lmq__mattrs_filter(a, hel, &f));
    ck_assert_uint_eq(lmq_mattrs_count(f), 2);
    ck_md5(f, "83fee93c1bcd8b9a5a923ffacdc636c7");
    lmq_mattrs_free(f);
    lmq_mattrs_free(a);
}
END_TEST

START_TEST(test_md5_attrs_binary_and_custom)
{
    /* Split literal: "\x1e00" would be one (out-of-range) hex escape. */
    static const char tp[] =
        "traceparent\x1e"
        "00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01";
    lmq_mattrs *a = lmq_mattrs_new();
    ck_ok(lmq_mattrs_add(a, "attr1", "Binary", tp, sizeof tp - 1));
    ck_md5(a, "8cbe4db156db8a94db8b801b7addb984");
    lmq_mattrs_free(a);

    lmq_mattrs *one = lmq_mattrs_new();
    add_str(one, "attribName1", "String", "attribValue 1");
    ck_md5(one, "19e27d4e946b072f3f58da80d94fd778");
    lmq_mattrs_free(one);

    lmq_mattrs *num = lmq_mattrs_new();
    add_str(num, "customNumberTypeAttrib", "Number.float",
            "4563442423554324324264524243.32543234");
    ck_md5(num, "9fe1b90bbd9965bdf77bac517c7d2495");
    lmq_mattrs_free(num);

    lmq_mattrs *bin = lmq_mattrs_new();
    ck_ok(lmq_mattrs_add(bin, "binaryAttribute", "Binary",
                         "Hello binary world!", 19));
    ck_md5(bin, "31a92b15d92f8db860eda32aceb656c3");
    lmq_mattrs_free(bin);

    lmq_mattrs *all = lmq_mattrs_new();
    ck_ok(lmq_mattrs_add(all, "binaryAttribute", "Binary",
                         "Hello binary world!", 19));
    add_str(all, "customNumberTypeAttrib", "Number.float",
            "4563442423554324324264524243.32543234");
    add_str(all, "attribName1", "String", "attribValue 1");
    ck_md5(all, "c932db14a896c663f83c260297d594ff");
    lmq_mattrs_free(all);
}
END_TEST

START_TEST(test_md5_sys_attrs_trace_header)
{
    lmq_mattrs *a = lmq_mattrs_new();
    add_str(a, "AWSTraceHeader", "String",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1");
    ck_md5(a, "5f48eef650c1d0207456969c85af2fdd");
    lmq_mattrs_free(a);
}
END_TEST

START_TEST(test_md5_attrs_empty_is_error)
{
    char out[33] = "junk";
    lmq_mattrs *a = lmq_mattrs_new();
    ck_lmq(lmq_mattrs_md5(a, out), LMQ_EINVAL);
    ck_assert_str_eq(out, "");
    ck_lmq(lmq_mattrs_md5(NULL, out), LMQ_EINVAL);
    lmq_mattrs_free(a);
}
END_TEST

/* ---- queue names --------------------------------------------------------- */

START_TEST(test_queue_name_length)
{
    char *n80 = repeat("a", 80), *n81 = repeat("a", 81);
    ck_ok(lmq__valid_queue_name("q", false));
    ck_ok(lmq__valid_queue_name("My_queue-01", false));
    ck_ok(lmq__valid_queue_name(n80, false));
    ck_lmq(lmq__valid_queue_name(n81, false), LMQ_EINVAL);
    ck_errmsg_has("Can only include alphanumeric characters, hyphens, or "
                  "underscores. 1 to 80 in length");
    ck_lmq(lmq__valid_queue_name("", false), LMQ_EINVAL);
    ck_lmq(lmq__valid_queue_name(NULL, false), LMQ_EINVAL);
    ck_lmq(lmq__valid_queue_name("a b", false), LMQ_EINVAL);
    ck_lmq(lmq__valid_queue_name("a/b", false), LMQ_EINVAL);
    ck_lmq(lmq__valid_queue_name("caf\xc3\xa9", false), LMQ_EINVAL);
    free(n80);
    free(n81);
}
END_TEST

START_TEST(test_queue_name_fifo_suffix)
{
    /* 75 + ".fifo" = 80: the suffix counts toward the limit. */
    char *b75 = repeat("b", 75), *b76 = repeat("b", 76);
    char n80[100], n81[100];
    snprintf(n80, sizeof n80, "%s.fifo", b75);
    snprintf(n81, sizeof n81, "%s.fifo", b76);

    ck_ok(lmq__valid_queue_name("jobs.fifo", true));
    ck_ok(lmq__valid_queue_name(n80, true));
    ck_lmq(lmq__valid_queue_name(n81, true), LMQ_EINVAL);
    ck_errmsg_has("must end with .fifo suffix");
    ck_lmq(lmq__valid_queue_name("jobs", true), LMQ_EINVAL);
    ck_lmq(lmq__valid_queue_name(".fifo", true), LMQ_EINVAL);
    ck_lmq(lmq__valid_queue_name("a.b.fifo", true), LMQ_EINVAL);
    ck_lmq(lmq__valid_queue_name("jobs.FIFO", true), LMQ_EINVAL);
    /* A standard queue must not carry the suffix. */
    ck_lmq(lmq__valid_queue_name("jobs.fifo", false), LMQ_EINVAL);
    ck_errmsg_has("Can only include alphanumeric characters");
    free(b75);
    free(b76);
}
END_TEST

/* ---- body characters ----------------------------------------------------- */

static int
chars(const char *s, size_t len)
{
    return lmq__valid_chars(s, len);
}
#define CHARS(lit) chars((lit), sizeof(lit) - 1)

START_TEST(test_chars_allowed_edges)
{
    ck_ok(CHARS("hello"));
    ck_ok(CHARS(""));
    ck_ok(lmq__valid_chars(NULL, 0));
    ck_ok(CHARS("a\tb\nc\rd"));
    ck_ok(CHARS(" ~\x7f"));             /* U+007F is inside #x20-#xD7FF */
    ck_ok(CHARS("\xc2\x80"));           /* U+0080 */
    ck_ok(CHARS("\xed\x9f\xbf"));       /* U+D7FF */
    ck_ok(CHARS("\xee\x80\x80"));       /* U+E000 */
    ck_ok(CHARS("\xef\xbf\xbd"));       /* U+FFFD */
    ck_ok(CHARS("\xf0\x90\x80\x80"));   /* U+10000 */
    ck_ok(CHARS("\xf0\x9f\x98\x80 ok")); /* U+1F600 emoji */
    ck_ok(CHARS("\xf4\x8f\xbf\xbf"));   /* U+10FFFF */
}
END_TEST

START_TEST(test_chars_rejected_code_points)
{
    ck_lmq(CHARS("a\0b"), LMQ_ECONTENTS); /* NUL */
    ck_errmsg_has("Invalid characters found. Valid unicode characters are "
                  "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | "
                  "#x10000 to #x10FFFF");
    ck_lmq(CHARS("\x01"), LMQ_ECONTENTS);
    ck_lmq(CHARS("\x1f"), LMQ_ECONTENTS);
    ck_lmq(CHARS("\x0b"), LMQ_ECONTENTS); /* vertical tab */
    ck_lmq(CHARS("\xef\xbf\xbe"), LMQ_ECONTENTS); /* U+FFFE */
    ck_lmq(CHARS("\xef\xbf\xbf"), LMQ_ECONTENTS); /* U+FFFF */
    ck_lmq(lmq__valid_chars(NULL, 3), LMQ_ECONTENTS);
}
END_TEST

START_TEST(test_chars_invalid_utf8)
{
    ck_lmq(CHARS("\xed\xa0\x80"), LMQ_ECONTENTS);     /* U+D800 */
    ck_lmq(CHARS("\xed\xbf\xbf"), LMQ_ECONTENTS);     /* U+DFFF */
    ck_lmq(CHARS("\xc0\xaf"), LMQ_ECONTENTS);         /* overlong '/' */
    ck_lmq(CHARS("\xc1\xbf"), LMQ_ECONTENTS);         /* overlong */
    ck_lmq(CHARS("\xe0\x80\xaf"), LMQ_ECONTENTS);     /* overlong */
    ck_lmq(CHARS("\xe0\x9f\xbf"), LMQ_ECONTENTS);     /* overlong U+07FF */
    ck_lmq(CHARS("\xf0\x80\x80\xaf"), LMQ_ECONTENTS); /* overlong */
    ck_lmq(CHARS("\xf0\x8f\xbf\xbf"), LMQ_ECONTENTS); /* overlong U+FFFF */
    ck_lmq(CHARS("\xf4\x90\x80\x80"), LMQ_ECONTENTS); /* U+110000 */
    ck_lmq(CHARS("\xf7\xbf\xbf\xbf"), LMQ_ECONTENTS);
    ck_lmq(CHARS("\xf8\x88\x80\x80\x80"), LMQ_ECONTENTS);
    ck_lmq(CHARS("\x80"), LMQ_ECONTENTS); /* stray continuation */
    ck_lmq(CHARS("\xff"), LMQ_ECONTENTS);
    ck_lmq(CHARS("\xc3"), LMQ_ECONTENTS);          /* truncated */
    ck_lmq(CHARS("ab\xe2\x82"), LMQ_ECONTENTS);    /* truncated */
    ck_lmq(CHARS("ab\xf0\x9f\x98"), LMQ_ECONTENTS); /* truncated */
    ck_lmq(CHARS("\xe2\x28\xa1"), LMQ_ECONTENTS);  /* bad continuation */
    /* The length bounds decoding: the emoji cut short by len is refused. */
    ck_lmq(chars("\xf0\x9f\x98\x80", 3), LMQ_ECONTENTS);
}
END_TEST

/* Every single byte at every position of a printable run: the eight-byte
 * ASCII path and the byte path must agree with the rule (tab, LF, CR and
 * 0x20..0x7f alone; a lone byte above 0x7f is not UTF-8). */
START_TEST(test_chars_each_byte_at_each_position)
{
    char buf[19];
    for (size_t pos = 0; pos < sizeof buf; pos++) {
        for (int b = 0; b < 256; b++) {
            memset(buf, 'a' + (int)(pos % 26), sizeof buf);
            buf[pos] = (char)b;
            bool ok = b == 9 || b == 10 || b == 13 || (b >= 0x20 && b < 0x80);
            int rc = chars(buf, sizeof buf);
            ck_assert_msg(rc == (ok ? 0 : LMQ_ECONTENTS),
                          "byte 0x%02x at %zu: %s", b, pos, lmq_err_name(rc));
        }
    }
    /* runs of the lowest and highest accepted ASCII bytes */
    memset(buf, 0x20, sizeof buf);
    ck_ok(chars(buf, sizeof buf));
    memset(buf, 0x7f, sizeof buf);
    ck_ok(chars(buf, sizeof buf));
    memset(buf, 0x1f, sizeof buf);
    ck_lmq(chars(buf, sizeof buf), LMQ_ECONTENTS);
}
END_TEST

/* ---- message attributes -------------------------------------------------- */

START_TEST(test_mattrs_count_limit)
{
    lmq_mattrs *a = lmq_mattrs_new();
    size_t bytes = 99;
    char name[8];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "a%d", i);
        add_str(a, name, "String", "v");
    }
    ck_ok(lmq__valid_mattrs(a, &bytes));
    ck_assert_uint_eq(bytes, 10 * (2 + 6 + 1));
    add_str(a, "a10", "String", "v");
    ck_lmq(lmq__valid_mattrs(a, &bytes), LMQ_EINVAL);
    ck_errmsg_has("Number of message attributes [11] exceeds the allowed "
                  "maximum [10].");
    lmq_mattrs_free(a);
    ck_ok(lmq__valid_mattrs(NULL, &bytes));
    ck_assert_uint_eq(bytes, 0);
}
END_TEST

static int
one_attr(const char *name, const char *type, const void *v, size_t len)
{
    lmq_mattrs *a = lmq_mattrs_new();
    ck_ok(lmq_mattrs_add(a, name, type, v, len));
    int rc = lmq__valid_mattrs(a, NULL);
    lmq_mattrs_free(a);
    return rc;
}
#define ONE(name, type, lit) one_attr((name), (type), (lit), sizeof(lit) - 1)

START_TEST(test_mattrs_names)
{
    char *n256 = repeat("n", 256), *n257 = repeat("n", 257);
    ck_ok(ONE("a", "String", "v"));
    ck_ok(ONE("A-b_c.D9", "String", "v"));
    ck_ok(ONE("AWSome", "String", "v"));
    ck_ok(ONE(n256, "String", "v"));
    ck_lmq(ONE(n257, "String", "v"), LMQ_EINVAL);
    ck_lmq(ONE("", "String", "v"), LMQ_EINVAL);
    ck_lmq(ONE("AWS.x", "String", "v"), LMQ_EINVAL);
    ck_errmsg_has("'AWS.x' is invalid");
    ck_lmq(ONE("aws.x", "String", "v"), LMQ_EINVAL);
    ck_lmq(ONE("Amazon.x", "String", "v"), LMQ_EINVAL);
    ck_lmq(ONE("aMaZoN.x", "String", "v"), LMQ_EINVAL);
    ck_lmq(ONE("a..b", "String", "v"), LMQ_EINVAL);
    ck_lmq(ONE(".ab", "String", "v"), LMQ_EINVAL);
    ck_lmq(ONE("ab.", "String", "v"), LMQ_EINVAL);
    ck_lmq(ONE("a b", "String", "v"), LMQ_EINVAL);
    ck_lmq(ONE("a/b", "String", "v"), LMQ_EINVAL);
    free(n256);
    free(n257);
}
END_TEST

START_TEST(test_mattrs_types_and_values)
{
    char *lbl = repeat("x", 249);
    char t256[300], t257[300];
    snprintf(t256, sizeof t256, "String.%s", lbl);  /* 7 + 249 = 256 */
    snprintf(t257, sizeof t257, "String.%sx", lbl); /* 257 */

    ck_ok(ONE("n", "Number", "42"));
    ck_ok(ONE("n", "Number.float", "4563442423554324324264524243.32543234"));
    ck_ok(ONE("b", "Binary", "\0\1\2"));
    ck_ok(ONE("b", "Binary.png", "\x89PNG"));
    ck_ok(ONE("s", t256, "v"));
    ck_lmq(ONE("s", t257, "v"), LMQ_EINVAL);
    ck_lmq(ONE("s", "string", "v"), LMQ_EINVAL);
    ck_errmsg_has("invalid message attribute type");
    ck_lmq(ONE("s", "Strin", "v"), LMQ_EINVAL);
    ck_lmq(ONE("s", "Stringx", "v"), LMQ_EINVAL);
    ck_lmq(ONE("s", "String.", "v"), LMQ_EINVAL);
    ck_lmq(ONE("s", "", "v"), LMQ_EINVAL);

    ck_lmq(ONE("X", "String", ""), LMQ_EINVAL);
    ck_errmsg_has("Message (user) attribute 'X' must contain a non-empty "
                  "value of type 'String'.");
    ck_lmq(one_attr("X", "Binary.png", NULL, 0), LMQ_EINVAL);
    ck_errmsg_has("non-empty value of type 'Binary'.");

    ck_lmq(ONE("s", "String", "bad\x01"), LMQ_ECONTENTS);
    ck_lmq(ONE("s", "String", "\xed\xa0\x80"), LMQ_ECONTENTS);
    /* Binary values are raw bytes: anything goes. */
    ck_ok(ONE("b", "Binary", "\xff\xfe\0"));
    free(lbl);
}
END_TEST

START_TEST(test_mattrs_numbers)
{
    ck_ok(ONE("n", "Number", "0"));
    ck_ok(ONE("n", "Number", "-17"));
    ck_ok(ONE("n", "Number", "+3.25"));
    ck_ok(ONE("n", "Number", ".5"));
    ck_ok(ONE("n", "Number", "5."));
    ck_ok(ONE("n", "Number", "1.5e3"));
    ck_ok(ONE("n", "Number", "1E+126"));
    ck_ok(ONE("n", "Number", "1e-128"));
    ck_ok(ONE("n", "Number", "0.000e999999999")); /* zero is zero */
    /* 38 significant digits, padded with non-significant zeros. */
    ck_ok(ONE("n", "Number",
              "000.12345678901234567890123456789012345678000"));
    ck_lmq(ONE("n", "Number", "123456789012345678901234567890123456789"),
           LMQ_EINVAL);
    ck_errmsg_has("Can't cast the value of message (user) attribute 'n' to "
                  "a number.");
    ck_lmq(ONE("n", "Number", "1e127"), LMQ_EINVAL);
    ck_lmq(ONE("n", "Number", "1e-129"), LMQ_EINVAL);
    ck_lmq(ONE("n", "Number", "abc"), LMQ_EINVAL);
    ck_lmq(ONE("n", "Number", "1.2.3"), LMQ_EINVAL);
    ck_lmq(ONE("n", "Number", " 1"), LMQ_EINVAL);
    ck_lmq(ONE("n", "Number", "1e"), LMQ_EINVAL);
    ck_lmq(ONE("n", "Number", "-"), LMQ_EINVAL);
    ck_lmq(ONE("n", "Number", "."), LMQ_EINVAL);
    ck_lmq(ONE("n", "Number", "NaN"), LMQ_EINVAL);
}
END_TEST

START_TEST(test_mattrs_size_accounting)
{
    /* Section 3.3: a 2040-byte body plus k/String/x exactly fills 2048. */
    lmq_mattrs *a = lmq_mattrs_new();
    size_t bytes = 0;
    add_str(a, "k", "String", "x");
    ck_ok(lmq__valid_mattrs(a, &bytes));
    ck_assert_uint_eq(2040 + bytes, 2048);

    /* Binary counts the raw bytes, multi-byte strings their UTF-8 bytes. */
    ck_ok(lmq_mattrs_add(a, "bin", "Binary.x", "\0\0\0\0", 4));
    add_str(a, "s", "String", "\xc3\xa9");
    ck_ok(lmq__valid_mattrs(a, &bytes));
    ck_assert_uint_eq(bytes, 8 + (3 + 8 + 4) + (1 + 6 + 2));
    lmq_mattrs_free(a);
}
END_TEST

/* ---- group / deduplication ids ------------------------------------------- */

START_TEST(test_msg_ident_rules)
{
    char *i128 = repeat("g", 128), *i129 = repeat("g", 129);
    ck_ok(lmq__valid_msg_ident("MessageGroupId", "group-1"));
    ck_ok(lmq__valid_msg_ident("MessageGroupId", i128));
    ck_ok(lmq__valid_msg_ident("MessageDeduplicationId",
                               "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~aZ09"));
    ck_lmq(lmq__valid_msg_ident("MessageGroupId", "a b"), LMQ_EINVAL);
    ck_assert_str_eq(lmq_errmsg(),
                     "LMQ_EINVAL: Value a b for parameter MessageGroupId is "
                     "invalid. Reason: MessageGroupId can only include "
                     "alphanumeric and punctuation characters. 1 to 128 in "
                     "length.");
    ck_lmq(lmq__valid_msg_ident("MessageDeduplicationId", ""), LMQ_EINVAL);
    ck_errmsg_has("Reason: MessageDeduplicationId can only include");
    ck_lmq(lmq__valid_msg_ident("MessageGroupId", i129), LMQ_EINVAL);
    ck_lmq(lmq__valid_msg_ident("MessageGroupId", "tab\there"), LMQ_EINVAL);
    ck_lmq(lmq__valid_msg_ident("MessageGroupId", "caf\xc3\xa9"),
           LMQ_EINVAL);
    ck_lmq(lmq__valid_msg_ident("ReceiveRequestAttemptId", NULL),
           LMQ_EINVAL);
    free(i128);
    free(i129);
}
END_TEST

/* ---- batch entry ids ----------------------------------------------------- */

START_TEST(test_batch_ids_counts)
{
    const char *ids[20];
    char buf[20][8];
    for (int i = 0; i < 20; i++) {
        snprintf(buf[i], sizeof buf[i], "id%d", i);
        ids[i] = buf[i];
    }
    ck_lmq(lmq__valid_batch_ids(ids, 0), LMQ_EBATCHEMPTY);
    ck_ok(lmq__valid_batch_ids(ids, 1));
    ck_ok(lmq__valid_batch_ids(ids, 10));
    ck_lmq(lmq__valid_batch_ids(ids, 11), LMQ_EBATCHTOOMANY);
    ck_lmq(lmq__valid_batch_ids(ids, 20), LMQ_EBATCHTOOMANY);
    ck_assert_str_eq(lmq_errmsg(),
                     "LMQ_EBATCHTOOMANY: Maximum number of entries per "
                     "request are 10. You have sent 20.");
}
END_TEST

START_TEST(test_batch_ids_shape_and_duplicates)
{
    char *i80 = repeat("i", 80), *i81 = repeat("i", 81);
    const char *ok[] = {"a", "B-1", "c_2", i80};
    const char *dup[] = {"a", "b", "a"};
    const char *dot[] = {"a", "b.c"};
    const char *empty[] = {"a", ""};
    const char *nul[] = {"a", NULL};
    const char *longer[] = {i81};

    ck_ok(lmq__valid_batch_ids(ok, 4));
    ck_lmq(lmq__valid_batch_ids(dup, 3), LMQ_EBATCHIDSDUP);
    ck_errmsg_has("Id a repeated.");
    ck_lmq(lmq__valid_batch_ids(dot, 2), LMQ_EBATCHID);
    ck_assert_str_eq(lmq_errmsg(),
                     "LMQ_EBATCHID: A batch entry id can only contain "
                     "alphanumeric characters, hyphens and underscores. It "
                     "can be at most 80 letters long.");
    ck_lmq(lmq__valid_batch_ids(empty, 2), LMQ_EBATCHID);
    ck_lmq(lmq__valid_batch_ids(nul, 2), LMQ_EBATCHID);
    ck_lmq(lmq__valid_batch_ids(longer, 1), LMQ_EBATCHID);
    free(i80);
    free(i81);
}
END_TEST

/* ---- tags ---------------------------------------------------------------- */

START_TEST(test_tag_lengths_in_code_points)
{
    /* 128 x U+00E9 is 256 bytes but 128 characters. */
    char *k128 = repeat("\xc3\xa9", 128), *k129 = repeat("\xc3\xa9", 129);
    char *v256 = repeat("\xe2\x82\xac", 256), *v257 = repeat("v", 257);
    ck_ok(lmq__valid_tag(k128, "v"));
    ck_lmq(lmq__valid_tag(k129, "v"), LMQ_EINVAL);
    ck_ok(lmq__valid_tag("k", v256));
    ck_lmq(lmq__valid_tag("k", v257), LMQ_EINVAL);
    ck_ok(lmq__valid_tag("k", ""));
    ck_lmq(lmq__valid_tag("", "v"), LMQ_EINVAL);
    ck_lmq(lmq__valid_tag(NULL, "v"), LMQ_EINVAL);
    ck_lmq(lmq__valid_tag("k", NULL), LMQ_EINVAL);
    free(k128);
    free(k129);
    free(v256);
    free(v257);
}
END_TEST

START_TEST(test_tag_characters)
{
    ck_ok(lmq__valid_tag("team name_1.x:y/z=w+v-u@t", "a b_c.d:e/f=g+h-i@j"));
    ck_ok(lmq__valid_tag("\xe6\x97\xa5\xe6\x9c\xac", "\xc3\xa9t\xc3\xa9"));
    ck_lmq(lmq__valid_tag("a#b", "v"), LMQ_EINVAL);
    ck_lmq(lmq__valid_tag("k", "a,b"), LMQ_EINVAL);
    ck_lmq(lmq__valid_tag("k", "tab\t"), LMQ_EINVAL);
    ck_lmq(lmq__valid_tag("k\xc3", "v"), LMQ_EINVAL);          /* truncated */
    ck_lmq(lmq__valid_tag("k", "\xed\xa0\x80"), LMQ_EINVAL);   /* surrogate */
    ck_lmq(lmq__valid_tag("aws:owner", "v"), LMQ_EINVAL);
    ck_errmsg_has("aws:");
    ck_lmq(lmq__valid_tag("AWS:owner", "v"), LMQ_EINVAL);
    ck_ok(lmq__valid_tag("awsowner", "v"));
    ck_ok(lmq__valid_tag("owner", "aws:v"));
}
END_TEST

/* ---- integers ------------------------------------------------------------ */

START_TEST(test_parse_int)
{
    long long v = -5;
    ck_ok(lmq__parse_int("30", 0, 43200, &v));
    ck_assert_int_eq(v, 30);
    ck_ok(lmq__parse_int("0", 0, 10, &v));
    ck_assert_int_eq(v, 0);
    ck_ok(lmq__parse_int("-3", -10, 10, &v));
    ck_assert_int_eq(v, -3);
    ck_ok(lmq__parse_int("43200", 0, 43200, NULL));
    v = 77;
    ck_lmq(lmq__parse_int("43201", 0, 43200, &v), LMQ_EINVAL);
    ck_assert_int_eq(v, 77); /* untouched on failure */
    ck_errmsg_has("Value 43201 is invalid");
    ck_lmq(lmq__parse_int("-1", 0, 10, &v), LMQ_EINVAL);
    ck_lmq(lmq__parse_int("", 0, 10, &v), LMQ_EINVAL);
    ck_lmq(lmq__parse_int("abc", 0, 10, &v), LMQ_EINVAL);
    ck_lmq(lmq__parse_int(" 1", 0, 10, &v), LMQ_EINVAL);
    ck_lmq(lmq__parse_int("1 ", 0, 10, &v), LMQ_EINVAL);
    ck_lmq(lmq__parse_int("+1", 0, 10, &v), LMQ_EINVAL);
    ck_lmq(lmq__parse_int("1.5", 0, 10, &v), LMQ_EINVAL);
    ck_lmq(lmq__parse_int("-", 0, 10, &v), LMQ_EINVAL);
    ck_lmq(lmq__parse_int("99999999999999999999", 0, 10, &v), LMQ_EINVAL);
    ck_lmq(lmq__parse_int(NULL, 0, 10, &v), LMQ_EINVAL);
}
END_TEST

/* ---- lmq_map ------------------------------------------------------------- */

START_TEST(test_map_order_and_replace)
{
    lmq_map *m = lmq_map_new();
    const char *k, *v;
    ck_assert_ptr_nonnull(m);
    ck_ok(lmq_map_set(m, "b", "2"));
    ck_ok(lmq_map_set(m, "\xc3\xa9", "e-acute"));
    ck_ok(lmq_map_set(m, "a", "1"));
    ck_ok(lmq_map_set(m, "B", "upper"));
    ck_assert_uint_eq(lmq_map_count(m), 4);
    /* Byte order: 'B' (0x42) < 'a' < 'b' < 0xC3. */
    const char *want[] = {"B", "a", "b", "\xc3\xa9"};
    for (size_t i = 0; i < 4; i++) {
        ck_ok(lmq_map_at(m, i, &k, &v));
        ck_assert_str_eq(k, want[i]);
    }
    ck_ok(lmq_map_set(m, "a", "one"));
    ck_assert_uint_eq(lmq_map_count(m), 4);
    ck_assert_str_eq(lmq_map_get(m, "a"), "one");
    ck_ok(lmq_map_set(m, "empty", ""));
    ck_assert_str_eq(lmq_map_get(m, "empty"), "");
    ck_assert_ptr_null(lmq_map_get(m, "zzz"));
    ck_lmq(lmq_map_at(m, 5, &k, &v), LMQ_EINVAL);
    ck_ok(lmq_map_at(m, 2, NULL, &v)); /* outputs are optional */
    ck_assert_str_eq(v, "2");
    ck_ok(lmq_map_del(m, "b"));
    ck_lmq(lmq_map_del(m, "b"), LMQ_ENOTFOUND);
    ck_assert_uint_eq(lmq_map_count(m), 4);
    ck_ok(lmq_map_at(m, 3, &k, &v));
    ck_assert_str_eq(k, "\xc3\xa9");
    lmq_map_free(m);
}
END_TEST

START_TEST(test_map_many_entries)
{
    lmq_map *m = lmq_map_new();
    char key[16], val[16];
    /* Insert in a scrambled order, past several array growths. */
    for (int i = 0; i < 200; i++) {
        int j = (i * 37) % 200;
        snprintf(key, sizeof key, "k%03d", j);
        snprintf(val, sizeof val, "%d", j);
        ck_ok(lmq_map_set(m, key, val));
    }
    ck_assert_uint_eq(lmq_map_count(m), 200);
    for (size_t i = 0; i < 200; i++) {
        const char *k, *v;
        ck_ok(lmq_map_at(m, i, &k, &v));
        snprintf(key, sizeof key, "k%03zu", i);
        snprintf(val, sizeof val, "%zu", i);
        ck_assert_str_eq(k, key);
        ck_assert_str_eq(v, val);
    }
    lmq_map_free(m);
}
END_TEST

START_TEST(test_map_dup)
{
    lmq_map *m = lmq_map_new(), *d;
    ck_ok(lmq_map_set(m, "x", "1"));
    ck_ok(lmq_map_set(m, "y", "2"));
    ck_ok(lmq__map_dup(m, &d));
    ck_ok(lmq_map_set(m, "x", "changed"));
    ck_assert_str_eq(lmq_map_get(d, "x"), "1");
    ck_assert_str_eq(lmq_map_get(d, "y"), "2");
    ck_ok(lmq_map_set(d, "z", "3")); /* the copy is a working map */
    ck_assert_uint_eq(lmq_map_count(d), 3);
    ck_assert_uint_eq(lmq_map_count(m), 2);
    lmq_map_free(d);
    ck_ok(lmq__map_dup(NULL, &d));
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(lmq_map_count(d), 0);
    lmq_map_free(d);
    lmq_map_free(m);
}
END_TEST

/* ---- lmq_mattrs ---------------------------------------------------------- */

START_TEST(test_mattrs_order_and_replace)
{
    lmq_mattrs *a = lmq_mattrs_new();
    const char *n, *t;
    const void *v;
    size_t len;

    add_str(a, "zeta", "String", "last");
    ck_ok(lmq_mattrs_add(a, "bin", "Binary", "a\0b", 3));
    add_str(a, "Alpha", "Number", "1");
    ck_assert_uint_eq(lmq_mattrs_count(a), 3);
    ck_ok(lmq_mattrs_at(a, 0, &n, &t, &v, &len));
    ck_assert_str_eq(n, "Alpha");
    ck_assert_str_eq(t, "Number");
    ck_assert_uint_eq(len, 1);
    ck_assert_str_eq(v, "1"); /* NUL-terminated for convenience */
    ck_ok(lmq_mattrs_at(a, 1, &n, &t, &v, &len));
    ck_assert_str_eq(n, "bin");
    ck_assert_uint_eq(len, 3);
    ck_assert_mem_eq(v, "a\0b", 3);
    ck_ok(lmq_mattrs_at(a, 2, &n, NULL, NULL, NULL));
    ck_assert_str_eq(n, "zeta");

    /* Same name: the type and value are replaced in place. */
    ck_ok(lmq_mattrs_add(a, "bin", "String.txt", "text", 4));
    ck_assert_uint_eq(lmq_mattrs_count(a), 3);
    ck_ok(lmq_mattrs_at(a, 1, &n, &t, &v, &len));
    ck_assert_str_eq(t, "String.txt");
    ck_assert_uint_eq(len, 4);
    ck_assert_mem_eq(v, "text", 4);
    ck_lmq(lmq_mattrs_at(a, 3, &n, &t, &v, &len), LMQ_EINVAL);
    lmq_mattrs_free(a);
}
END_TEST

START_TEST(test_null_destructors_and_misuse)
{
    lmq_map_free(NULL);
    lmq_mattrs_free(NULL);
    ck_assert_uint_eq(lmq_map_count(NULL), 0);
    ck_assert_uint_eq(lmq_mattrs_count(NULL), 0);
    ck_assert_ptr_null(lmq_map_get(NULL, "k"));

    lmq_map *m = lmq_map_new();
    ck_lmq(lmq_map_set(m, NULL, "v"), LMQ_EINVAL);
    ck_lmq(lmq_map_set(m, "k", NULL), LMQ_EINVAL);
    ck_lmq(lmq_map_set(NULL, "k", "v"), LMQ_EINVAL);
    ck_lmq(lmq_map_del(m, NULL), LMQ_EINVAL);
    ck_lmq(lmq_map_at(NULL, 0, NULL, NULL), LMQ_EINVAL);
    ck_assert_ptr_null(lmq_map_get(m, NULL));
    lmq_map_free(m);

    lmq_mattrs *a = lmq_mattrs_new();
    ck_lmq(lmq_mattrs_add(a, NULL, "String", "v", 1), LMQ_EINVAL);
    ck_lmq(lmq_mattrs_add(a, "n", NULL, "v", 1), LMQ_EINVAL);
    ck_lmq(lmq_mattrs_add(a, "n", "String", NULL, 1), LMQ_EINVAL);
    ck_lmq(lmq_mattrs_add(NULL, "n", "String", "v", 1), LMQ_EINVAL);
    ck_assert_uint_eq(lmq_mattrs_count(a), 0);
    ck_lmq(lmq_mattrs_at(NULL, 0, NULL, NULL, NULL, NULL), LMQ_EINVAL);
    lmq_mattrs_free(a);
}
END_TEST

/* ---- encoding ------------------------------------------------------------ */

/* Decode every strict prefix of an encoding from an exact-size heap copy, so
 * the sanitizer build catches any read past the end. */
static void
ck_prefixes_corrupt(const uint8_t *buf, size_t len, bool is_map)
{
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        ck_assert_ptr_nonnull(p);
        memcpy(p, buf, cut);
        if (is_map) {
            lmq_map *m = (lmq_map *)p; /* a poison value to be cleared */
            ck_lmq(lmq__map_decode(p, cut, &m), LMQ_ECORRUPT);
            ck_assert_ptr_null(m);
        } else {
            lmq_mattrs *a = (lmq_mattrs *)p;
            ck_lmq(lmq__mattrs_decode(p, cut, &a), LMQ_ECORRUPT);
            ck_assert_ptr_null(a);
        }
        free(p);
    }
}

START_TEST(test_map_encode_roundtrip)
{
    lmq_map *m = lmq_map_new(), *d;
    uint8_t *buf;
    size_t len;
    ck_ok(lmq_map_set(m, "VisibilityTimeout", "30"));
    ck_ok(lmq_map_set(m, "empty", ""));
    ck_ok(lmq_map_set(m, "\xc3\xa9", "\xe2\x82\xac"));
    ck_ok(lmq__map_encode(m, &buf, &len));
    ck_assert_uint_eq(len, 4 + (4 + 17 + 4 + 2) + (4 + 5 + 4) +
                               (4 + 2 + 4 + 3));
    ck_ok(lmq__map_decode(buf, len, &d));
    ck_assert_uint_eq(lmq_map_count(d), 3);
    for (size_t i = 0; i < 3; i++) {
        const char *k1, *v1, *k2, *v2;
        ck_ok(lmq_map_at(m, i, &k1, &v1));
        ck_ok(lmq_map_at(d, i, &k2, &v2));
        ck_assert_str_eq(k1, k2);
        ck_assert_str_eq(v1, v2);
    }
    ck_prefixes_corrupt(buf, len, true);
    lmq_map_free(d);
    free(buf);

    /* Empty and NULL maps encode as a zero count and decode to empty. */
    ck_ok(lmq__map_encode(NULL, &buf, &len));
    ck_assert_uint_eq(len, 4);
    ck_ok(lmq__map_decode(buf, len, &d));
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(lmq_map_count(d), 0);
    lmq_map_free(d);
    free(buf);
    lmq_map_free(m);
}
END_TEST

START_TEST(test_mattrs_encode_roundtrip)
{
    lmq_mattrs *a = kenobi(), *d;
    uint8_t *buf;
    size_t len;
    char m1[33], m2[33];
    ck_ok(lmq_mattrs_add(a, "raw", "Binary.bin", "\0\xff\0", 3));
    ck_ok(lmq__mattrs_encode(a, &buf, &len));
    ck_ok(lmq__mattrs_decode(buf, len, &d));
    ck_assert_uint_eq(lmq_mattrs_count(d), 4);
    for (size_t i = 0; i < 4; i++) {
        const char *n1, *t1, *n2, *t2;
        const void *v1, *v2;
        size_t l1, l2;
        ck_ok(lmq_mattrs_at(a, i, &n1, &t1, &v1, &l1));
        ck_ok(lmq_mattrs_at(d, i, &n2, &t2, &v2, &l2));
        ck_assert_str_eq(n1, n2);
        ck_assert_str_eq(t1, t2);
        ck_assert_uint_eq(l1, l2);
        ck_assert_mem_eq(v1, v2, l1);
    }
    ck_ok(lmq_mattrs_md5(a, m1));
    ck_ok(lmq_mattrs_md5(d, m2));
    ck_assert_str_eq(m1, m2);
    ck_prefixes_corrupt(buf, len, false);
    lmq_mattrs_free(d);
    free(buf);
    lmq_mattrs_free(a);
}
END_TEST

START_TEST(test_decode_rejects_garbage)
{
    lmq_map *m;
    lmq_mattrs *a;
    lmq_map *src = lmq_map_new();
    uint8_t *buf;
    size_t len;

    /* A huge claimed count must not allocate or read: corrupt at once. */
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 'k'};
    ck_lmq(lmq__map_decode(huge, sizeof huge, &m), LMQ_ECORRUPT);
    ck_lmq(lmq__mattrs_decode(huge, sizeof huge, &a), LMQ_ECORRUPT);
    /* A field length past the end. */
    static const uint8_t past[] = {0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff,
                                   'k', 0,   0,   0};
    ck_lmq(lmq__map_decode(past, sizeof past, &m), LMQ_ECORRUPT);
    ck_lmq(lmq__mattrs_decode(past, sizeof past, &a), LMQ_ECORRUPT);
    ck_lmq(lmq__map_decode(NULL, 4, &m), LMQ_ECORRUPT);
    ck_assert_ptr_null(m);

    /* Trailing bytes, a NUL inside a key, and out-of-order keys. */
    ck_ok(lmq_map_set(src, "a", "1"));
    ck_ok(lmq_map_set(src, "b", "2"));
    ck_ok(lmq__map_encode(src, &buf, &len));
    uint8_t *more = malloc(len + 1);
    memcpy(more, buf, len);
    more[len] = 0;
    ck_lmq(lmq__map_decode(more, len + 1, &m), LMQ_ECORRUPT);
    free(more);
    /* Layout: count | 1 'a' | 1 '1' | 1 'b' | 1 '2'; key bytes at 8, 18. */
    ck_assert_int_eq(buf[8], 'a');
    ck_assert_int_eq(buf[18], 'b');
    buf[18] = 'a'; /* duplicate key */
    ck_lmq(lmq__map_decode(buf, len, &m), LMQ_ECORRUPT);
    buf[8] = 'c'; /* c before a: out of order */
    ck_lmq(lmq__map_decode(buf, len, &m), LMQ_ECORRUPT);
    buf[8] = '\0';
    ck_lmq(lmq__map_decode(buf, len, &m), LMQ_ECORRUPT);
    buf[8] = 'a';
    buf[18] = 'b';
    ck_ok(lmq__map_decode(buf, len, &m)); /* restored: decodes again */
    lmq_map_free(m);
    free(buf);
    lmq_map_free(src);
}
END_TEST

/* ---- filter -------------------------------------------------------------- */

static size_t
filter_count(const lmq_mattrs *a, const char *const *names)
{
    lmq_mattrs *f = (lmq_mattrs *)a; /* poison: must be overwritten */
    ck_ok(lmq__mattrs_filter(a, names, &f));
    size_t n = f ? lmq_mattrs_count(f) : 0;
    if (f)
        ck_assert_uint_gt(n, 0); /* never an empty list: NULL instead */
    lmq_mattrs_free(f);
    return n;
}

START_TEST(test_filter_names)
{
    lmq_mattrs *a = kenobi(), *f;
    const char *all[] = {"All", NULL};
    const char *dotstar[] = {".*", NULL};
    const char *star[] = {"*", NULL};
    const char *exact[] = {"Hello", "General", "Unknown", NULL};
    const char *none[] = {"Foo", "Help", NULL};
    const char *hel[] = {"Hel.*", NULL};
    const char *help[] = {"Help.*", NULL};
    const char *empty[] = {NULL};
    const char *n;

    ck_assert_uint_eq(filter_count(a, all), 3);
    ck_assert_uint_eq(filter_count(a, dotstar), 3);
    ck_assert_uint_eq(filter_count(a, star), 3);
    ck_assert_uint_eq(filter_count(a, exact), 2);
    ck_assert_uint_eq(filter_count(a, none), 0);
    ck_assert_uint_eq(filter_count(a, empty), 0);
    ck_assert_uint_eq(filter_count(a, help), 1);
    ck_assert_uint_eq(filter_count(a, NULL), 0);
    ck_assert_uint_eq(filter_count(NULL, all), 0);

    ck_ok(lmq__mattrs_filter(a, hel, &f));
    ck_assert_uint_eq(lmq_mattrs_count(f), 2);
    ck_ok(lmq_mattrs_at(f, 0, &n, NULL, NULL, NULL));
    ck_assert_str_eq(n, "Hello");
    ck_ok(lmq_mattrs_at(f, 1, &n, NULL, NULL, NULL));
    ck_assert_str_eq(n, "Help.Me");
    lmq_mattrs_free(f);

    ck_ok(lmq__mattrs_filter(a, none, &f));
    ck_assert_ptr_null(f);
    lmq_mattrs_free(a);
}
END_TEST

Suite *
lmq_suite_validate(void)
{
    Suite *s = suite_create("validate");
    TCase *tc;

    tc = tcase_create("digests_and_ids");
    tcase_add_test(tc, test_md5_known_values);
    tcase_add_test(tc, test_sha256_known_values);
    tcase_add_test(tc, test_uuid_shape);
    tcase_add_test(tc, test_uuid_unique);
    tcase_add_test(tc, test_uuid_unique_across_fork_and_threads);
    tcase_add_test(tc, test_uuid_unique_across_threads);
    tcase_add_test(tc, test_md5_many_threads);
    suite_add_tcase(s, tc);

    tc = tcase_create("md5_of_message_attributes");
    tcase_add_test(tc, test_md5_attrs_recorded_vectors);
    tcase_add_test(tc, test_md5_attrs_receive_subsets);
    tcase_add_test(tc, test_md5_attrs_binary_and_custom);
    tcase_add_test(tc, test_md5_sys_attrs_trace_header);
    tcase_add_test(tc, test_md5_attrs_empty_is_error);
    suite_add_tcase(s, tc);

    tc = tcase_create("queue_names");
    tcase_add_test(tc, test_queue_name_length);
    tcase_add_test(tc, test_queue_name_fifo_suffix);
    suite_add_tcase(s, tc);

    tc = tcase_create("body_characters");
    tcase_add_test(tc, test_chars_allowed_edges);
    tcase_add_test(tc, test_chars_rejected_code_points);
    tcase_add_test(tc, test_chars_invalid_utf8);
    tcase_add_test(tc, test_chars_each_byte_at_each_position);
    suite_add_tcase(s, tc);

    tc = tcase_create("message_attribute_rules");
    tcase_add_test(tc, test_mattrs_count_limit);
    tcase_add_test(tc, test_mattrs_names);
    tcase_add_test(tc, test_mattrs_types_and_values);
    tcase_add_test(tc, test_mattrs_numbers);
    tcase_add_test(tc, test_mattrs_size_accounting);
    suite_add_tcase(s, tc);

    tc = tcase_create("fifo_identifiers");
    tcase_add_test(tc, test_msg_ident_rules);
    suite_add_tcase(s, tc);

    tc = tcase_create("batch_entry_ids");
    tcase_add_test(tc, test_batch_ids_counts);
    tcase_add_test(tc, test_batch_ids_shape_and_duplicates);
    suite_add_tcase(s, tc);

    tc = tcase_create("tags");
    tcase_add_test(tc, test_tag_lengths_in_code_points);
    tcase_add_test(tc, test_tag_characters);
    suite_add_tcase(s, tc);

    tc = tcase_create("integers");
    tcase_add_test(tc, test_parse_int);
    suite_add_tcase(s, tc);

    tc = tcase_create("containers");
    tcase_add_test(tc, test_map_order_and_replace);
    tcase_add_test(tc, test_map_many_entries);
    tcase_add_test(tc, test_map_dup);
    tcase_add_test(tc, test_mattrs_order_and_replace);
    tcase_add_test(tc, test_null_destructors_and_misuse);
    suite_add_tcase(s, tc);

    tc = tcase_create("storage_encoding");
    tcase_add_test(tc, test_map_encode_roundtrip);
    tcase_add_test(tc, test_mattrs_encode_roundtrip);
    tcase_add_test(tc, test_decode_rejects_garbage);
    suite_add_tcase(s, tc);

    tc = tcase_create("attribute_name_filter");
    tcase_add_test(tc, test_filter_names);
    suite_add_tcase(s, tc);

    return s;
}

int
main(void)
{
    return lmq_test_run(lmq_suite_validate());
}
