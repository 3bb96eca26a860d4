/*
 * fuzz_store.c: a fuzz target for the decoders of stored bytes and of
 * outside input below the wire layer (issue 27): the queue and message
 * record codec, maps and attribute lists, receipt handles, the redrive and
 * redrive-allow policy JSON and the other queue attributes, message
 * attribute validation, and the redo-log scanner of `full` homes.
 *
 * Input format: byte 0 picks the decoder (its value modulo FZ__COUNT),
 * byte 1 is flags for some of them, the rest is the payload.
 *   0 FZ_QREC       lmq__qrec_decode(maps false)
 *   1 FZ_QREC_MAPS  lmq__qrec_decode(maps true); in both, a record that
 *                   decodes must re-encode and decode again to the same
 *                   fields
 *   2 FZ_MREC       lmq__mview_decode, lmq__mrec_hdr, lmq__mhdr_decode,
 *                   lmq__mattrs_decode of the attributes, SentMessageSize;
 *                   a version 2 record re-encodes to the same bytes
 *   3 FZ_MAP        flags bit 0: lmq__mattrs_decode, else lmq__map_decode;
 *                   a decoded list re-encodes to the same bytes
 *   4 FZ_RECEIPT    lmq__receipt_parse against a fixed home secret; a
 *                   handle that parses is the one lmq__receipt_make makes
 *                   for its fields (or a version 1 handle)
 *   5 FZ_POLICY     flags % 3: RedrivePolicy on queue "src",
 *                   RedriveAllowPolicy on "dlq", Policy on "q", set with
 *                   lmq_queue_set_attributes() on a scratch home (0 or an
 *                   attribute/parameter error; a value set reads back)
 *   6 FZ_MATTRS     lines "name\ttype\tvalue" (value up to the line end,
 *                   "\\n" for a newline) -> lmq_mattrs -> lmq__valid_mattrs,
 *                   lmq_mattrs_md5, encode/decode round trip
 *   7 FZ_QATTRS     lines "Name=value" -> lmq_queue_set_attributes on "q"
 *                   (flags bit 0: lmq_queue_create of "fz", or "fz.fifo"
 *                   with FifoQueue=true, with them, then delete it)
 *   8 FZ_WAL        the payload is HOME/wal of a `full` home whose other
 *                   files are those of a real home killed with records past
 *                   its checkpoint; lmq_env_open must return 0,
 *                   LMQ_ECORRUPT, LMQ_EIO or LMQ_EVERSION.
 *                   flags bit 0: fix the crc32c of every framed record (so
 *                   mutations reach the operations), bit 1: fix the crc of
 *                   the checkpoint headers, bit 2: keep the home's
 *                   HOME/wal.lock (the shared tail, a witness of what was
 *                   written: damage is LMQ_ECORRUPT), else zero it (an OS
 *                   crash lost it: a torn end opens).
 *                   Flags bits 0 and 1 make the log one its writer could
 *                   have written only with a bug: they reach the operation
 *                   decoder and the replay, which must not crash either.
 *
 * Two ways to run it:
 *
 * Short mode (CI): tests/check_fuzz_store.c calls lmq_fuzz_store_short():
 * the seeds (valid encodings made in code: records, handles, policies,
 * attribute lists, and the log of a real home) are checked to decode, then
 * a seeded xorshift PRNG mutates them (bit flips, interesting bytes and
 * integers, truncation, inserted tokens, duplicated slices, deletions) and
 * feeds lmq_fuzz_store_one(), a bounded number of inputs per decoder.
 *
 * Long mode (libFuzzer, by hand; CI does not need clang):
 *
 *   mkdir -p /tmp/fuzzs && cd /tmp/fuzzs &&
 *   CC=clang CFLAGS='-g -O1 -fsanitize=fuzzer-no-link,address,undefined' \
 *     /work/main/configure --disable-shared --enable-warnings=min &&
 *   make -j2 liblmq_internal.la &&
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -I/work/main/include -I/work/main/lib -I. \
 *     /work/main/tests/fuzz_store.c /work/main/tests/fuzz_mutate.c \
 *     .libs/liblmq_internal.a \
 *     -llmdb -lsodium -lcrypto -ljansson -lpthread -o fuzz_store &&
 *   mkdir -p corpus && FUZZ_STORE_SEEDS=corpus ./fuzz_store &&
 *   ./fuzz_store -max_total_time=3600 -max_len=65536 -timeout=20 \
 *     corpus /work/main/tests/data/fuzz_store
 *
 * (FUZZ_STORE_SEEDS=dir writes the generated seeds to dir and exits;
 * tests/data/fuzz_store holds a few committed ones. FUZZ_STORE_ONLY=0123
 * makes byte 0 pick among those decoders only, to spend a run on one
 * family: 0123 the codec, 4 receipt handles, 567 policies and
 * attributes, 8 the log.) The scratch
 * homes are under a fresh directory in $TMPDIR, removed at exit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"
#include "internal.h"
#include "lmq.h"
#include "wal.h"
#include "fuzz_mutate.h"

enum {
    FZ_QREC,
    FZ_QREC_MAPS,
    FZ_MREC,
    FZ_MAP,
    FZ_RECEIPT,
    FZ_POLICY,
    FZ_MATTRS,
    FZ_QATTRS,
    FZ_WAL,
    FZ__COUNT
};

static const char *const fz_names[FZ__COUNT] = {
    "qrec", "qrec_maps", "mrec", "map", "receipt",
    "policy", "mattrs", "qattrs", "wal"};

int lmq_fuzz_store_open(const char *dir);
void lmq_fuzz_store_close(void);
int lmq_fuzz_store_one(const uint8_t *data, size_t size, char *why,
                       size_t whylen);
int lmq_fuzz_store_short(unsigned per_decoder, unsigned wal_inputs,
                         uint64_t seed, char *why, size_t whylen);
const char *lmq_fuzz_store_name(unsigned k);
unsigned long lmq_fuzz_store_count(unsigned k, int rc_class);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ACCT "000000000000"
#define ARN(q) "arn:aws:sqs:us-east-1:" ACCT ":" q
#define MAXIN 65536

static char fz_dir[256];   /* everything lives under it */
static char fz_ahome[300]; /* scratch home of the attribute decoders */
static char fz_wsrc[300];  /* the killed `full` home (never opened again) */
static char fz_whome[300]; /* where each log input is opened */
static lmq_env *fenv;
static struct lmq_env rh_env; /* only secret and receipt_key are used */
static unsigned long fz_inputs;
/* Inputs per decoder: [k][0] accepted, [k][1] refused. */
static unsigned long fz_stats[FZ__COUNT][2];

/* The snapshot of the killed home: its files (data.mdb kept sparse). */
#define WFILES 8
static struct wfile {
    char name[64];
    uint8_t *b;
    size_t n;
} wfiles[WFILES];
static size_t nwfiles;
static uint8_t *wal_seed;
static size_t wal_seed_len;

static int
fail(char *why, size_t n, const char *fmt, const char *a, const char *b)
{
    snprintf(why, n, fmt, a, b);
    return -1;
}

const char *
lmq_fuzz_store_name(unsigned k)
{
    return k < FZ__COUNT ? fz_names[k] : NULL;
}

unsigned long
lmq_fuzz_store_count(unsigned k, int rc_class)
{
    return k < FZ__COUNT ? fz_stats[k][rc_class != 0] : 0;
}

/* ---- files ----------------------------------------------------------------- */

static int
slurp(const char *path, uint8_t **b, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return -1;
    }
    long sz = ftell(f);
    rewind(f);
    *b = malloc(sz > 0 ? (size_t)sz : 1);
    if (sz < 0 || !*b || fread(*b, 1, (size_t)sz, f) != (size_t)sz) {
        fclose(f);
        free(*b);
        *b = NULL;
        return -1;
    }
    fclose(f);
    *n = (size_t)sz;
    return 0;
}

/* Write b[0..n) to path; runs of zero pages become holes. */
static int
spit(const char *path, const uint8_t *b, size_t n)
{
    static const uint8_t zeros[4096];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    int rc = 0;
    for (size_t at = 0; at < n && rc == 0; at += 4096) {
        size_t l = n - at < 4096 ? n - at : 4096;
        if (l == 4096 && memcmp(b + at, zeros, l) == 0)
            continue;
        if (pwrite(fd, b + at, l, (off_t)at) != (ssize_t)l)
            rc = -1;
    }
    if (rc == 0 && ftruncate(fd, (off_t)n) != 0)
        rc = -1;
    close(fd);
    return rc;
}

static void
rm_rf(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_store: could not remove %s\n", dir);
}

/* ---- the scratch homes ----------------------------------------------------- */

static void
scratch_queues(void)
{
    lmq_map *src = lmq_map_new();
    if (!src)
        return;
    (void)lmq_queue_create(fenv, "q", NULL, NULL, NULL);
    (void)lmq_queue_create(fenv, "dlq", NULL, NULL, NULL);
    (void)lmq_map_set(src, "RedrivePolicy",
                      "{\"deadLetterTargetArn\":\"" ARN("dlq") "\","
                      "\"maxReceiveCount\":3}");
    (void)lmq_queue_create(fenv, "src", src, NULL, NULL);
    lmq_map_free(src);
}

static int
open_attr_home(void)
{
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    o.durability = LMQ_DURABILITY_NONE;
    o.map_size = 16u << 20;
    int rc = lmq_env_open(fz_ahome, &o, &fenv);
    if (rc == 0)
        scratch_queues();
    return rc;
}

static int
open_full(const char *home, lmq_env **env)
{
    lmq_env_opts o;
    lmq_env_opts_init(&o);
    o.durability = LMQ_DURABILITY_FULL;
    o.map_size = 4u << 20;
    *env = NULL;
    return lmq_env_open(home, &o, env);
}

/* A child makes a `full` home with queue "q", a few messages sent (each a
 * flushed record of the log) and a delete, and SIGKILLs itself: the log
 * holds records past the checkpoint. The parent keeps its files. */
static int
make_wal_home(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        lmq_env *env;
        lmq_queue *q;
        lmq_mattrs *a = lmq_mattrs_new();
        if (!a || lmq_mattrs_add(a, "k", "String", "v", 1) != 0 ||
            open_full(fz_wsrc, &env) != 0 ||
            lmq_queue_create(env, "q", NULL, NULL, NULL) != 0 ||
            lmq_queue_open(env, "q", &q) != 0)
            _exit(2);
        for (unsigned k = 0; k < 4; k++) {
            char body[32];
            lmq_send_entry e;
            lmq_send_result r;
            snprintf(body, sizeof body, "m-%u", k);
            lmq_send_entry_init(&e);
            e.body = body;
            e.attrs = k % 2 ? a : NULL;
            if (lmq_send(q, &e, &r) != 0)
                _exit(3);
        }
        lmq_recv_opts ro;
        lmq_msg *m[1];
        size_t n;
        lmq_recv_opts_init(&ro);
        ro.wait_seconds = 0;
        if (lmq_receive(q, &ro, m, 1, &n) != 0 || n != 1 ||
            lmq_delete(q, lmq_msg_receipt(m[0]), NULL) != 0)
            _exit(4);
        raise(SIGKILL);
        _exit(5);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status))
        return -1;
    DIR *d = opendir(fz_wsrc);
    if (!d)
        return -1;
    struct dirent *de;
    nwfiles = 0;
    int rc = 0;
    while ((de = readdir(d)) != NULL && rc == 0) {
        char p[400];
        if (de->d_name[0] == '.' || strlen(de->d_name) >= 64)
            continue;
        if (nwfiles == WFILES) {
            rc = -1;
            break;
        }
        snprintf(p, sizeof p, "%s/%s", fz_wsrc, de->d_name);
        struct wfile *f = &wfiles[nwfiles];
        snprintf(f->name, sizeof f->name, "%s", de->d_name);
        if (slurp(p, &f->b, &f->n) != 0) {
            rc = -1;
            break;
        }
        if (strcmp(de->d_name, "wal") == 0) {
            /* The seed: the log up to the end of its last framed record
             * (the rest is zeros the writer extended the file with). */
            size_t at = 2 * 4096, end = at;
            while (at + 24 <= f->n) {
                uint32_t l = lmq__get_u32(f->b + at);
                if (l < 24 || l > f->n - at)
                    break;
                at += l;
                end = at;
            }
            wal_seed_len = end;
            wal_seed = malloc(end);
            if (!wal_seed) {
                rc = -1;
                break;
            }
            memcpy(wal_seed, f->b, end);
            free(f->b);
            f->b = NULL;
            continue;
        }
        nwfiles++;
    }
    closedir(d);
    return wal_seed && rc == 0 ? 0 : -1;
}

int
lmq_fuzz_store_open(const char *dir)
{
    snprintf(fz_dir, sizeof fz_dir, "%s", dir);
    snprintf(fz_ahome, sizeof fz_ahome, "%s/attrs", dir);
    snprintf(fz_wsrc, sizeof fz_wsrc, "%s/walsrc", dir);
    snprintf(fz_whome, sizeof fz_whome, "%s/wal", dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return LMQ_EIO;
    memset(&rh_env, 0, sizeof rh_env);
    for (size_t i = 0; i < sizeof rh_env.secret; i++)
        rh_env.secret[i] = (uint8_t)(0x5a ^ i * 7);
    lmq__receipt_init(&rh_env);
    int rc = make_wal_home();
    if (rc != 0)
        return lmq__seterr(LMQ_EIO, "cannot make the log seed home");
    return open_attr_home();
}

void
lmq_fuzz_store_close(void)
{
    lmq_env_close(fenv);
    fenv = NULL;
    for (size_t i = 0; i < nwfiles; i++)
        free(wfiles[i].b);
    nwfiles = 0;
    free(wal_seed);
    wal_seed = NULL;
}

/* ---- the decoders ---------------------------------------------------------- */

/* A copy of p[0..n) in a buffer of exactly n bytes, so that the sanitizers
 * see any read past the end. */
static uint8_t *
exact(const uint8_t *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    if (b && n)
        memcpy(b, p, n);
    return b;
}

/* p[0..n) as a C string (stops at a NUL). */
static char *
cstr(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static int
same_qrec(const lmq_qrec *a, const lmq_qrec *b)
{
    return a->qid == b->qid && a->fifo == b->fifo &&
           a->created_ms == b->created_ms && a->retention == b->retention &&
           a->next_seq == b->next_seq && a->front_seq == b->front_seq &&
           a->m_minute == b->m_minute && strcmp(a->name, b->name) == 0 &&
           lmq_map_count(a->attrs) == lmq_map_count(b->attrs) &&
           lmq_map_count(a->tags) == lmq_map_count(b->tags);
}

static int
fz_qrec(const uint8_t *p, size_t n, bool maps, char *why, size_t wn)
{
    lmq_qrec r, r2;
    uint8_t *b = exact(p, n), *enc = NULL;
    size_t el = 0;
    int rc = lmq__qrec_decode(b, n, maps, &r), out = 0;
    if (rc != 0) {
        free(b);
        return rc == LMQ_ECORRUPT || rc == LMQ_ENOMEM
                   ? 1
                   : fail(why, wn, "qrec_decode returned %s%s",
                          lmq_err_name(rc), "");
    }
    if (lmq__qrec_encode(&r, &enc, &el) != 0)
        out = fail(why, wn, "a decoded queue record does not encode%s%s", "",
                   "");
    else {
        if (lmq__qrec_decode(enc, el, maps, &r2) != 0)
            out = fail(why, wn, "a re-encoded queue record is refused%s%s",
                       "", "");
        else {
            if (!same_qrec(&r, &r2))
                out = fail(why, wn, "queue record round trip differs%s%s",
                           "", "");
            if (maps)
                lmq__qrec_free(&r2);
        }
    }
    free(enc);
    if (maps)
        lmq__qrec_free(&r);
    free(b);
    return out;
}

static int
fz_mrec(const uint8_t *p, size_t n, char *why, size_t wn)
{
    uint8_t *b = exact(p, n);
    lmq_mview mv;
    lmq_mhdr h;
    int out = 1;
    (void)lmq__mhdr_decode(b, n, &h);
    int hr = lmq__mrec_hdr(b, n, &h);
    int rc = lmq__mview_decode(b, n, &mv);
    if (rc == 0) {
        out = 0;
        lmq_mattrs *a = NULL;
        if (mv.attrs && lmq__mattrs_decode(mv.attrs, mv.attrs_len, &a) == 0)
            lmq_mattrs_free(a);
        (void)lmq__metrics_msg_size(&mv);
        if (b[0] == 2) {
            uint8_t *enc = malloc(lmq__mview_size(&mv));
            if (hr != 0)
                out = fail(why, wn, "a version 2 record without header%s%s",
                           "", "");
            else if (enc && lmq__mview_size(&mv) != n)
                out = fail(why, wn, "message record size differs%s%s", "",
                           "");
            else if (enc) {
                lmq__mview_encode(&mv, &h, enc);
                size_t d = 0;
                while (d < n && enc[d] == b[d])
                    d++;
                /* Bytes 39 and 40 (the header's last two) are reserved. */
                if (d < n && d != 39 && d != 40) {
                    char at[24];
                    snprintf(at, sizeof at, "%zu", d);
                    out = fail(why, wn, "message record re-encodes "
                                        "differently at byte %s%s",
                               at, "");
                }
            }
            free(enc);
        }
    } else if (rc != LMQ_ECORRUPT) {
        out = fail(why, wn, "mview_decode returned %s%s", lmq_err_name(rc),
                   "");
    }
    free(b);
    return out;
}

static int
fz_map(const uint8_t *p, size_t n, unsigned flags, char *why, size_t wn)
{
    uint8_t *b = exact(p, n), *enc = NULL;
    size_t el = 0;
    int rc, out = 1;
    if (flags & 1) {
        lmq_mattrs *a = NULL;
        rc = lmq__mattrs_decode(b, n, &a);
        if (rc == 0) {
            out = 0;
            char md5[33];
            if (lmq_mattrs_count(a))
                (void)lmq_mattrs_md5(a, md5);
            (void)lmq__valid_mattrs(a, NULL);
            if (lmq__mattrs_encode(a, &enc, &el) != 0 || el != n ||
                memcmp(enc, b, n) != 0)
                out = fail(why, wn, "attribute list re-encodes "
                                    "differently%s%s",
                           "", "");
            lmq_mattrs_free(a);
        }
    } else {
        lmq_map *m = NULL;
        rc = lmq__map_decode(b, n, &m);
        if (rc == 0) {
            out = 0;
            if (lmq__map_encode(m, &enc, &el) != 0 || el != n ||
                memcmp(enc, b, n) != 0)
                out = fail(why, wn, "map re-encodes differently%s%s", "",
                           "");
            lmq_map_free(m);
        }
    }
    if (rc != 0 && rc != LMQ_ECORRUPT && rc != LMQ_ENOMEM)
        out = fail(why, wn, "decode returned %s%s", lmq_err_name(rc), "");
    free(enc);
    free(b);
    return out;
}

static int
fz_receipt(const uint8_t *p, size_t n, char *why, size_t wn)
{
    char *s = cstr(p, n);
    if (!s)
        return 1;
    uint32_t qid, gen;
    uint64_t seq;
    int rc = lmq__receipt_parse(&rh_env, s, &qid, &seq, &gen), out = 1;
    if (rc == 0) {
        char again[LMQ_RECEIPT_MAX];
        lmq__receipt_make(&rh_env, qid, seq, gen, again);
        /* 'A'..'D' as the first character: a version 0..3 byte. */
        out = strcmp(again, s) == 0 || s[0] == 'A'
                  ? 0
                  : fail(why, wn, "handle %s parses but remakes as %s", s,
                         again);
    } else if (rc != LMQ_ERECEIPT && rc != LMQ_EMISSING) {
        out = fail(why, wn, "receipt_parse returned %s%s", lmq_err_name(rc),
                   "");
    }
    free(s);
    return out;
}

static bool
attr_error(int rc)
{
    return rc == LMQ_EINVAL || rc == LMQ_EATTRNAME || rc == LMQ_EATTRVALUE ||
           rc == LMQ_ENOQUEUE || rc == LMQ_EOVERLIMIT ||
           rc == LMQ_EUNSUPPORTED || rc == LMQ_EQUEUEEXISTS ||
           rc == LMQ_EDELETEDRECENTLY || rc == LMQ_EMISSING ||
           rc == LMQ_EKEY; /* a KMS key this (keyless) home lacks */
}

static int
fz_policy(const uint8_t *p, size_t n, unsigned flags, char *why, size_t wn)
{
    static const char *const names[3] = {"RedrivePolicy",
                                         "RedriveAllowPolicy", "Policy"};
    static const char *const queues[3] = {"src", "dlq", "q"};
    unsigned w = flags % 3;
    char *v = cstr(p, n);
    lmq_map *m = lmq_map_new();
    int out = 1;
    if (!v || !m || lmq_map_set(m, names[w], v) != 0)
        goto done;
    int rc = lmq_queue_set_attributes(fenv, queues[w], m);
    if (rc == 0) {
        out = 0;
        const char *want[2] = {names[w], NULL};
        lmq_map *got = NULL;
        rc = lmq_queue_get_attributes(fenv, queues[w], want, &got);
        if (rc != 0)
            out = fail(why, wn, "attributes unreadable after a set: %s%s",
                       lmq_err_name(rc), "");
        else if (*v && !lmq_map_get(got, names[w]))
            out = fail(why, wn, "%s set to %.200s but not read back",
                       names[w], v);
        lmq_map_free(got);
    } else if (!attr_error(rc)) {
        out = fail(why, wn, "set_attributes returned %s: %.300s",
                   lmq_err_name(rc), lmq_errmsg());
    }
done:
    lmq_map_free(m);
    free(v);
    return out;
}

/* The next line of *cur (NUL-terminated in place), or NULL at the end. */
static char *
next_line(char **cur)
{
    char *s = *cur;
    if (!s)
        return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *cur = nl + 1;
    } else {
        *cur = NULL;
    }
    return s;
}

/* Undo the "\\n" escape in place; returns the new length. */
static size_t
unescape(char *s)
{
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '\\' && s[i + 1] == 'n') {
            s[o++] = '\n';
            i++;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = '\0';
    return o;
}

static int
fz_mattrs(const uint8_t *p, size_t n, char *why, size_t wn)
{
    char *s = cstr(p, n), *cur = s, *line;
    lmq_mattrs *a = lmq_mattrs_new();
    int out = 1;
    if (!s || !a)
        goto done;
    while ((line = next_line(&cur)) != NULL) {
        char *t1 = strchr(line, '\t');
        if (!t1)
            continue;
        *t1 = '\0';
        char *t2 = strchr(t1 + 1, '\t');
        if (!t2)
            continue;
        *t2 = '\0';
        size_t vl = unescape(t2 + 1);
        if (lmq_mattrs_add(a, line, t1 + 1, t2 + 1, vl) != 0)
            goto done;
    }
    size_t bytes = 0;
    int rc = lmq__valid_mattrs(a, &bytes);
    if (rc != 0 && rc != LMQ_EINVAL && rc != LMQ_ECONTENTS) {
        out = fail(why, wn, "valid_mattrs returned %s%s", lmq_err_name(rc),
                   "");
        goto done;
    }
    out = rc != 0;
    char md5[33];
    if (lmq_mattrs_count(a) && lmq_mattrs_md5(a, md5) != 0)
        out = fail(why, wn, "no MD5 for a list of attributes%s%s", "", "");
    uint8_t *enc = NULL;
    size_t el = 0;
    lmq_mattrs *back = NULL;
    if (lmq__mattrs_encode(a, &enc, &el) == 0) {
        if (lmq__mattrs_decode(enc, el, &back) != 0 ||
            lmq_mattrs_count(back) != lmq_mattrs_count(a))
            out = fail(why, wn, "attribute list round trip fails%s%s", "",
                       "");
        lmq_mattrs_free(back);
    }
    free(enc);
done:
    lmq_mattrs_free(a);
    free(s);
    return out;
}

static int
fz_qattrs(const uint8_t *p, size_t n, unsigned flags, char *why, size_t wn)
{
    char *s = cstr(p, n), *cur = s, *line;
    lmq_map *m = lmq_map_new();
    int out = 1, rc;
    if (!s || !m)
        goto done;
    while ((line = next_line(&cur)) != NULL) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        unescape(eq + 1);
        if (lmq_map_set(m, line, eq + 1) != 0)
            goto done;
    }
    if (flags & 1) {
        const char *fifo = lmq_map_get(m, "FifoQueue");
        const char *name = fifo && strcmp(fifo, "true") == 0 ? "fz.fifo"
                                                              : "fz";
        rc = lmq_queue_create(fenv, name, m, NULL, NULL);
        if (rc == 0)
            (void)lmq_queue_delete(fenv, name);
    } else {
        rc = lmq_queue_set_attributes(fenv, "q", m);
    }
    if (rc == 0) {
        out = 0;
    } else if (!attr_error(rc)) {
        out = fail(why, wn, "queue attributes returned %s: %.300s",
                   lmq_err_name(rc), lmq_errmsg());
    }
done:
    lmq_map_free(m);
    free(s);
    return out;
}

/* Recompute the checksums the flags ask for in the log image b[0..n). */
static void
wal_fix(uint8_t *b, size_t n, unsigned flags)
{
    static const uint8_t magic[8] = {'L', 'M', 'Q', 'W', 'A', 'L', '0', '1'};
    const size_t ck_len = 8 + 8 + 8 + 4 + LMQ_WAL_META_LEN + 4;
    if (flags & 2)
        for (size_t slot = 0; slot < 2; slot++) {
            uint8_t *h = b + slot * 4096;
            if (slot * 4096 + ck_len <= n && memcmp(h, magic, 8) == 0)
                lmq__put_u32(h + ck_len - 4,
                             lmq__crc32c(h, ck_len - 4, false));
        }
    if (flags & 1)
        for (size_t at = 2 * 4096; at + 24 <= n;) {
            uint32_t l = lmq__get_u32(b + at);
            if (l < 24 || l > n - at)
                break;
            memset(b + at + 4, 0, 4);
            lmq__put_u32(b + at + 4, lmq__crc32c(b + at, l, false));
            at += l;
        }
}

static int
fz_wal(const uint8_t *p, size_t n, unsigned flags, char *why, size_t wn)
{
    char path[1024];
    if (!nwfiles)
        return 1;
    rm_rf(fz_whome);
    if (mkdir(fz_whome, 0700) != 0)
        return fail(why, wn, "cannot make %s%s", fz_whome, "");
    for (size_t i = 0; i < nwfiles; i++) {
        static const uint8_t zeros[4096];
        bool lock = strcmp(wfiles[i].name, "wal.lock") == 0;
        snprintf(path, sizeof path, "%s/%s", fz_whome, wfiles[i].name);
        if (spit(path, lock && !(flags & 4) ? zeros : wfiles[i].b,
                 lock && !(flags & 4) ? sizeof zeros : wfiles[i].n) != 0)
            return fail(why, wn, "cannot write %s%s", path, "");
    }
    uint8_t *b = exact(p, n);
    if (!b)
        return 1;
    wal_fix(b, n, flags);
    snprintf(path, sizeof path, "%s/wal", fz_whome);
    int w = spit(path, b, n);
    free(b);
    if (w != 0)
        return fail(why, wn, "cannot write %s%s", path, "");
    lmq_env *env;
    int rc = open_full(fz_whome, &env);
    if (rc == 0) {
        /* What opened must be usable. */
        lmq_queue *q;
        if (lmq_queue_open(env, "q", &q) == 0) {
            lmq_recv_opts ro;
            lmq_msg *m[10];
            size_t got = 0;
            lmq_recv_opts_init(&ro);
            ro.wait_seconds = 0;
            ro.max_messages = 10;
            if (lmq_receive(q, &ro, m, 10, &got) == 0)
                for (size_t i = 0; i < got; i++)
                    lmq_msg_free(m[i]);
            lmq_queue_close(q);
        }
        lmq_env_close(env);
        return 0;
    }
    if (rc == LMQ_ECORRUPT || rc == LMQ_EIO || rc == LMQ_EVERSION)
        return 1;
    return fail(why, wn, "lmq_env_open of the log returned %s: %.300s",
                lmq_err_name(rc), lmq_errmsg());
}

int
lmq_fuzz_store_one(const uint8_t *data, size_t size, char *why, size_t wn)
{
    if (size < 2)
        return 0;
    /* FUZZ_STORE_ONLY=0123: byte 0 picks among these decoders only. */
    const char *only = getenv("FUZZ_STORE_ONLY");
    size_t ol = only ? strspn(only, "012345678") : 0;
    unsigned k = data[0] % FZ__COUNT;
    if (ol && !memchr(only, (int)('0' + k), ol))
        k = (unsigned)(only[data[0] % ol] - '0');
    unsigned flags = data[1];
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    int r;
    fz_inputs++;
    switch (k) {
    case FZ_QREC:
        r = fz_qrec(p, n, false, why, wn);
        break;
    case FZ_QREC_MAPS:
        r = fz_qrec(p, n, true, why, wn);
        break;
    case FZ_MREC:
        r = fz_mrec(p, n, why, wn);
        break;
    case FZ_MAP:
        r = fz_map(p, n, flags, why, wn);
        break;
    case FZ_RECEIPT:
        r = fz_receipt(p, n, why, wn);
        break;
    case FZ_POLICY:
        r = fz_policy(p, n, flags, why, wn);
        break;
    case FZ_MATTRS:
        r = fz_mattrs(p, n, why, wn);
        break;
    case FZ_QATTRS:
        r = fz_qattrs(p, n, flags, why, wn);
        break;
    default:
        r = fz_wal(p, n, flags, why, wn);
    }
    if (r < 0)
        return -1;
    fz_stats[k][r != 0]++;
    /* Fuzzed attributes change and delete the scratch queues. */
    if (k == FZ_POLICY || k == FZ_QATTRS) {
        if (fz_inputs % 64 == 0)
            scratch_queues();
    }
    return 0;
}

/* ---- seeds ------------------------------------------------------------------ */

#define MAXSEEDS 64
static struct seed {
    uint8_t *b;
    size_t n;
} seeds[MAXSEEDS];
static size_t nseeds;

static void
add_seed(unsigned k, unsigned flags, const void *p, size_t n)
{
    if (nseeds == MAXSEEDS)
        return;
    uint8_t *b = malloc(n + 2);
    if (!b)
        return;
    b[0] = (uint8_t)k;
    b[1] = (uint8_t)flags;
    if (n)
        memcpy(b + 2, p, n);
    seeds[nseeds].b = b;
    seeds[nseeds++].n = n + 2;
}

static void
add_str(unsigned k, unsigned flags, const char *s)
{
    add_seed(k, flags, s, strlen(s));
}

static void
free_seeds(void)
{
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i].b);
    nseeds = 0;
}

static void
make_seeds(void)
{
    free_seeds();
    /* Queue records: a plain one and a FIFO one with attributes, tags. */
    for (int v = 0; v < 2; v++) {
        lmq_qrec r;
        uint8_t *b = NULL;
        size_t n;
        lmq__qrec_init(&r);
        r.qid = 7 + (uint32_t)v;
        r.fifo = v;
        r.content_dedup = v;
        r.created_ms = r.modified_ms = 1767225600000LL;
        r.next_seq = 42;
        r.front_seq = 3;
        r.n_visible = 5;
        r.m_sent = 9;
        snprintf(r.name, sizeof r.name, "%s", v ? "orders.fifo" : "q");
        if (v) {
            r.attrs = lmq_map_new();
            r.tags = lmq_map_new();
            (void)lmq_map_set(r.attrs, "RedrivePolicy",
                              "{\"deadLetterTargetArn\":\"" ARN("dlq") "\","
                              "\"maxReceiveCount\":3}");
            (void)lmq_map_set(r.attrs, "Policy", "{}");
            (void)lmq_map_set(r.tags, "team", "core");
        }
        if (lmq__qrec_encode(&r, &b, &n) == 0) {
            add_seed(FZ_QREC, 0, b, n);
            add_seed(FZ_QREC_MAPS, 0, b, n);
        }
        free(b);
        lmq__qrec_free(&r);
    }
    /* Maps and attribute lists. */
    {
        lmq_map *m = lmq_map_new();
        lmq_mattrs *a = lmq_mattrs_new();
        uint8_t *b = NULL;
        size_t n;
        (void)lmq_map_set(m, "a", "1");
        (void)lmq_map_set(m, "VisibilityTimeout", "30");
        (void)lmq_mattrs_add(a, "s", "String", "v\xc3\xa9", 3);
        (void)lmq_mattrs_add(a, "n", "Number.int", "-1.5e3", 6);
        (void)lmq_mattrs_add(a, "b", "Binary", "\0\1\xff", 3);
        if (lmq__map_encode(m, &b, &n) == 0)
            add_seed(FZ_MAP, 0, b, n);
        free(b);
        b = NULL;
        if (lmq__mattrs_encode(a, &b, &n) == 0) {
            add_seed(FZ_MAP, 1, b, n);
            /* Message records, with and without attributes. */
            for (int v = 0; v < 2; v++) {
                lmq_mview mv;
                lmq_mhdr h = {1767225600000LL, 1767225600000LL, 0, 0, 2,
                              LMQ_MS_VISIBLE, 0};
                memset(&mv, 0, sizeof mv);
                memcpy(mv.message_id, "0b7a3c9e-4f1d-4a2b-9c8d-7e6f5a4b3c2d",
                       37);
                memcpy(mv.md5_body, "5d41402abc4b2a76b9719d911017c592", 33);
                mv.sent_ms = 1767225600000LL;
                mv.body = "hello";
                mv.body_len = 5;
                if (v) {
                    mv.group = "g";
                    mv.group_len = 1;
                    mv.dedup = "d1";
                    mv.dedup_len = 2;
                    mv.dlq_src = ARN("src");
                    mv.dlq_src_len = strlen(mv.dlq_src);
                    mv.attrs = b;
                    mv.attrs_len = n;
                }
                size_t sz = lmq__mview_size(&mv);
                uint8_t *enc = malloc(sz);
                if (enc) {
                    lmq__mview_encode(&mv, &h, enc);
                    add_seed(FZ_MREC, 0, enc, sz);
                }
                free(enc);
            }
        }
        free(b);
        lmq_map_free(m);
        lmq_mattrs_free(a);
    }
    /* Receipt handles. */
    {
        char rh[LMQ_RECEIPT_MAX];
        lmq__receipt_make(&rh_env, 3, 17, 1, rh);
        add_str(FZ_RECEIPT, 0, rh);
        lmq__receipt_make(&rh_env, UINT32_MAX, UINT64_MAX, 0, rh);
        add_str(FZ_RECEIPT, 0, rh);
    }
    /* Policies. */
    add_str(FZ_POLICY, 0,
            "{\"deadLetterTargetArn\":\"" ARN("dlq") "\","
            "\"maxReceiveCount\":5}");
    add_str(FZ_POLICY, 0,
            "{\"deadLetterTargetArn\":\"" ARN("dlq") "\","
            "\"maxReceiveCount\":\"10\"}");
    add_str(FZ_POLICY, 0, "");
    add_str(FZ_POLICY, 1, "{\"redrivePermission\":\"denyAll\"}");
    add_str(FZ_POLICY, 1,
            "{\"redrivePermission\":\"byQueue\","
            "\"sourceQueueArns\":[\"" ARN("src") "\"]}");
    /* Last: the queue attribute seeds below redrive q to dlq. */
    add_str(FZ_POLICY, 1, "{\"redrivePermission\":\"allowAll\"}");
    add_str(FZ_POLICY, 2,
            "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
            "\"Allow\",\"Principal\":\"*\",\"Action\":\"sqs:SendMessage\","
            "\"Resource\":\"" ARN("q") "\"}]}");
    /* Message attributes. */
    add_str(FZ_MATTRS, 0,
            "s\tString\tv\nn\tNumber\t12.5\nb\tBinary\t\x01\x02\n"
            "my.attr\tString.label\tmulti\\nline");
    add_str(FZ_MATTRS, 0, "x\tNumber.float\t-0.5E+3");
    /* Queue attributes. */
    add_str(FZ_QATTRS, 0,
            "VisibilityTimeout=45\nDelaySeconds=2\nMaximumMessageSize=2048\n"
            "MessageRetentionPeriod=3600\nReceiveMessageWaitTimeSeconds=1");
    add_str(FZ_QATTRS, 1,
            "FifoQueue=true\nContentBasedDeduplication=true\n"
            "DeduplicationScope=messageGroup\n"
            "FifoThroughputLimit=perMessageGroupId");
    add_str(FZ_QATTRS, 0,
            "RedrivePolicy={\"deadLetterTargetArn\":\"" ARN("dlq") "\","
            "\"maxReceiveCount\":2}\n"
            "KmsDataKeyReusePeriodSeconds=300\nSqsManagedSseEnabled=false");
    /* (KmsMasterKeyId needs a keyring: the fuzz home has none, and the
     * corpus's qattrs-redrive asks for one, which is LMQ_EKEY.) */
    /* The log, with each way of reading it. */
    if (wal_seed)
        for (unsigned f = 0; f < 8; f += 3)
            add_seed(FZ_WAL, f == 6 ? 4 : f, wal_seed, wal_seed_len);
}

/* ---- the short mode -------------------------------------------------------- */

static void
describe(char *why, size_t wn, unsigned it, const uint8_t *b, size_t n)
{
    size_t used = strlen(why);
    if (used + 64 >= wn)
        return;
    int w = snprintf(why + used, wn - used,
                     " [input %u, %zu bytes, decoder %u, flags %u: ", it, n,
                     n ? b[0] : 0, n > 1 ? b[1] : 0);
    used += (size_t)(w > 0 ? w : 0);
    for (size_t i = 2; i < n && i < 200 && used + 5 < wn; i++) {
        unsigned char c = b[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            why[used++] = (char)c;
        else
            used += (size_t)snprintf(why + used, wn - used, "\\x%02x", c);
    }
    if (used + 2 < wn) {
        why[used++] = ']';
        why[used] = '\0';
    }
}

int
lmq_fuzz_store_short(unsigned per_decoder, unsigned wal_inputs,
                     uint64_t seed, char *why, size_t wn)
{
    static uint8_t buf[MAXIN + 600];
    uint64_t s = seed ? seed : 1;
    make_seeds();
    memset(fz_stats, 0, sizeof fz_stats);
    /* Every seed must be accepted, or the seeds drifted from the decoders
     * and the loop below fuzzes little. */
    for (size_t i = 0; i < nseeds; i++) {
        unsigned long before = fz_stats[seeds[i].b[0]][0];
        if (lmq_fuzz_store_one(seeds[i].b, seeds[i].n, why, wn)) {
            describe(why, wn, (unsigned)i, seeds[i].b, seeds[i].n);
            return -1;
        }
        if (fz_stats[seeds[i].b[0]][0] != before + 1) {
            fail(why, wn, "seed refused: %.300s%s", lmq_errmsg(), "");
            describe(why, wn, (unsigned)i, seeds[i].b, seeds[i].n);
            return -1;
        }
    }
    unsigned it = 0;
    for (unsigned k = 0; k < FZ__COUNT; k++) {
        size_t idx[MAXSEEDS], ni = 0;
        for (size_t i = 0; i < nseeds; i++)
            if (seeds[i].b[0] == k)
                idx[ni++] = i;
        unsigned count = k == FZ_WAL ? wal_inputs : per_decoder;
        for (unsigned j = 0; ni && j < count; j++, it++) {
            const struct seed *sd = &seeds[idx[lmq_fuzz_rnd(&s) % ni]];
            memcpy(buf, sd->b, sd->n);
            size_t n = lmq_fuzz_mutate(&s, buf, sd->n, MAXIN);
            if (lmq_fuzz_store_one(buf, n, why, wn)) {
                describe(why, wn, it, buf, n);
                return -1;
            }
        }
    }
    if (getenv("LMQ_FUZZ_STATS"))
        for (unsigned k = 0; k < FZ__COUNT; k++)
            fprintf(stderr, "fuzz_store: %-10s %6lu accepted %6lu refused\n",
                    fz_names[k], fz_stats[k][0], fz_stats[k][1]);
    free_seeds();
    return 0;
}

/* ---- libFuzzer ------------------------------------------------------------- */

static void
remove_dir(void)
{
    lmq_fuzz_store_close();
    if (fz_dir[0])
        rm_rf(fz_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *t = getenv("TMPDIR");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/lmqfuzzs.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir) || lmq_fuzz_store_open(dir) != 0) {
        fprintf(stderr, "fuzz_store: cannot set up in %s: %s\n", dir,
                lmq_errmsg());
        abort();
    }
    atexit(remove_dir);
    const char *out = getenv("FUZZ_STORE_SEEDS");
    if (out) {
        make_seeds();
        for (size_t i = 0; i < nseeds; i++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/seed-%s-%02zu", out,
                     fz_names[seeds[i].b[0]], i);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(seeds[i].b, 1, seeds[i].n, f) != seeds[i].n) {
                fprintf(stderr, "fuzz_store: cannot write %s\n", path);
                exit(1);
            }
            fclose(f);
        }
        free_seeds();
        exit(0);
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[1024] = "";
    if (lmq_fuzz_store_one(data, size, why, sizeof why)) {
        fprintf(stderr, "fuzz_store: finding: %s\n", why);
        abort();
    }
    return 0;
}
