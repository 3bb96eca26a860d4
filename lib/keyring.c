/*
 * keyring.c: the keys that seal queues at rest (docs/SECURITY.md).
 *
 * A keyring is JSON (jansson):
 *   {"Version": 1, "Keys": [{"KeyId": "<uuid>", "Aliases": ["alias/x"],
 *     "Default": true, "CreationDate": <epoch s>, "Key": "<base64>"}]}
 * from a file (mode 0600: a file group or others may read is refused), from
 * the standard output of a key process (as AWS's credential_process), or a
 * single home key stretched from a passphrase with Argon2id. Key material is
 * decoded straight into one sodium_malloc'd block (guarded pages, mlock'd,
 * read-only once filled, wiped by sodium_free); the buffers it passed through
 * are wiped. A key is named in records by its fingerprint, a keyed BLAKE2b
 * of a constant: it says which key sealed a record without revealing it, so
 * a missing key and a wrong key are told apart from tampering.
 */
#define _GNU_SOURCE /* pipe2 */
#include "seal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEYRING_MAX_BYTES (1u << 20)
#define KEYRING_MAX_KEYS 1024

void
lmq__key_fp(const uint8_t k[LMQ_KEY_BYTES], uint8_t fp[LMQ_KEY_FP_BYTES])
{
    static const char what[] = "lmq key fingerprint v1";
    uint8_t h[16];
    crypto_generichash(h, sizeof h, (const uint8_t *)what, sizeof what - 1,
                       k, LMQ_KEY_BYTES);
    memcpy(fp, h, LMQ_KEY_FP_BYTES);
}

void
lmq__keyring_free(lmq__keyring *kr)
{
    if (!kr)
        return;
    for (size_t i = 0; i < kr->n; i++)
        for (size_t a = 0; a < kr->keys[i].n_aliases; a++)
            free(kr->keys[i].aliases[a]);
    free(kr->keys);
    sodium_free(kr->guard); /* wipes */
    free(kr);
}

static int
alloc_ring(size_t n, lmq__keyring **out)
{
    lmq__keyring *kr = calloc(1, sizeof *kr);
    if (!kr)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    kr->n = n;
    kr->keys = calloc(n ? n : 1, sizeof *kr->keys);
    kr->guard = sodium_malloc((n ? n : 1) * LMQ_KEY_BYTES);
    if (!kr->keys || !kr->guard) {
        lmq__keyring_free(kr);
        return lmq__seterr(LMQ_ENOMEM, "no guarded memory for keys");
    }
    for (size_t i = 0; i < n; i++)
        kr->keys[i].k = kr->guard + i * LMQ_KEY_BYTES;
    *out = kr;
    return 0;
}

static bool
valid_alias(const char *a)
{
    size_t n = strlen(a);
    if (n <= 6 || n > 256 || strncmp(a, "alias/", 6) != 0)
        return false;
    for (size_t i = 6; i < n; i++)
        if (!(a[i] == '/' || a[i] == '_' || a[i] == '-' ||
              (a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'z') ||
              (a[i] >= 'A' && a[i] <= 'Z')))
            return false;
    return true;
}

int
lmq__keyring_parse(const char *text, size_t len, const char *what,
                   lmq__keyring **out)
{
    json_error_t je;
    lmq__keyring *kr = NULL;
    int rc;
    *out = NULL;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root)
        return lmq__seterr(LMQ_EKEY, "keyring %s is not valid JSON (line %d: "
                           "%s)", what, je.line, je.text);
    json_t *keys = json_object_get(root, "Keys");
    json_t *ver = json_object_get(root, "Version");
    if (!json_is_integer(ver) || json_integer_value(ver) != 1 ||
        !json_is_array(keys) || json_array_size(keys) > KEYRING_MAX_KEYS) {
        rc = lmq__seterr(LMQ_EKEY, "keyring %s: expected {\"Version\": 1, "
                         "\"Keys\": [...]}", what);
        goto out;
    }
    if ((rc = alloc_ring(json_array_size(keys), &kr)) != 0)
        goto out;
    sodium_mprotect_readwrite(kr->guard);
    size_t ndef = 0;
    for (size_t i = 0; i < kr->n; i++) {
        json_t *e = json_array_get(keys, i);
        lmq__key *k = &kr->keys[i];
        const char *id = json_string_value(json_object_get(e, "KeyId"));
        const char *b64 = json_string_value(json_object_get(e, "Key"));
        json_t *al = json_object_get(e, "Aliases");
        size_t bl = 0;
        if (!id || !*id || strlen(id) >= sizeof k->id || !b64 ||
            (al && (!json_is_array(al) ||
                    json_array_size(al) > LMQ_KEY_MAX_ALIASES))) {
            rc = lmq__seterr(LMQ_EKEY, "keyring %s: key %zu lacks KeyId or "
                             "Key, or has bad Aliases", what, i + 1);
            goto out;
        }
        if (sodium_base642bin((uint8_t *)k->k, LMQ_KEY_BYTES, b64,
                              strlen(b64), NULL, &bl, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            bl != LMQ_KEY_BYTES) {
            rc = lmq__seterr(LMQ_EKEY, "keyring %s: key %s is not 32 bytes "
                             "of base64", what, id);
            goto out;
        }
        sodium_memzero((char *)b64, strlen(b64));
        snprintf(k->id, sizeof k->id, "%s", id);
        lmq__key_fp(k->k, k->fp);
        k->is_default = json_is_true(json_object_get(e, "Default"));
        ndef += k->is_default;
        k->created = json_integer_value(json_object_get(e, "CreationDate"));
        for (size_t a = 0; al && a < json_array_size(al); a++) {
            const char *s = json_string_value(json_array_get(al, a));
            if (!s || !valid_alias(s)) {
                rc = lmq__seterr(LMQ_EKEY, "keyring %s: key %s has a bad "
                                 "alias", what, id);
                goto out;
            }
            if (!(k->aliases[k->n_aliases++] = strdup(s))) {
                rc = lmq__seterr(LMQ_ENOMEM, NULL);
                goto out;
            }
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(kr->keys[j].id, k->id) == 0 ||
                memcmp(kr->keys[j].fp, k->fp, LMQ_KEY_FP_BYTES) == 0) {
                rc = lmq__seterr(LMQ_EKEY, "keyring %s: key %s appears "
                                 "twice", what, id);
                goto out;
            }
    }
    if (ndef > 1) {
        rc = lmq__seterr(LMQ_EKEY, "keyring %s: more than one Default key",
                         what);
        goto out;
    }
    sodium_mprotect_readonly(kr->guard);
    *out = kr;
    kr = NULL;
    rc = 0;
out:
    lmq__keyring_free(kr);
    json_decref(root);
    return rc;
}

/* Read a whole file (at most KEYRING_MAX_BYTES) into a sodium_malloc'd
 * buffer. */
static int
read_secret_file(const char *path, bool private, char **buf, size_t *len)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lmq__seterr(LMQ_EKEY, "cannot open key file %s: %s", path,
                           strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return lmq__seterr(LMQ_EKEY, "key file %s is not a regular file",
                           path);
    }
    if (private && (st.st_mode & 077)) {
        close(fd);
        return lmq__seterr(LMQ_EKEY, "key file %s is open to group or others "
                           "(mode %03o): chmod 600 it", path,
                           (unsigned)(st.st_mode & 0777));
    }
    if ((size_t)st.st_size > KEYRING_MAX_BYTES) {
        close(fd);
        return lmq__seterr(LMQ_EKEY, "key file %s is too large", path);
    }
    char *b = sodium_malloc((size_t)st.st_size + 1);
    if (!b) {
        close(fd);
        return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, b + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

int
lmq__keyring_load(const char *path, lmq__keyring **out)
{
    char *b;
    size_t n;
    int rc = read_secret_file(path, true, &b, &n);
    if (rc)
        return rc;
    rc = lmq__keyring_parse(b, n, path, out);
    sodium_free(b);
    return rc;
}

int
lmq__keyring_process(const char *cmd, lmq__keyring **out)
{
    int p[2];
    *out = NULL;
    if (pipe2(p, O_CLOEXEC) != 0)
        return lmq__seterr(LMQ_EIO, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return lmq__seterr(LMQ_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        dup2(p[1], 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char *b = sodium_malloc(KEYRING_MAX_BYTES + 1);
    size_t n = 0;
    int rc = 0;
    for (;;) {
        if (!b)
            break;
        ssize_t r = read(p[0], b + n, KEYRING_MAX_BYTES - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || (n += (size_t)r) == KEYRING_MAX_BYTES)
            break;
    }
    close(p[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!b)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        rc = lmq__seterr(LMQ_EKEY, "key process `%s` failed (status %d)", cmd,
                         WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    else
        rc = lmq__keyring_parse(b, n, "from the key process", out);
    sodium_free(b);
    return rc;
}

int
lmq__keyring_passphrase(const char *file, const uint8_t salt[16],
                        lmq__keyring **out)
{
    char *b;
    size_t n;
    lmq__keyring *kr;
    *out = NULL;
    int rc = read_secret_file(file, true, &b, &n);
    if (rc)
        return rc;
    n = strcspn(b, "\r\n");
    if (n == 0) {
        sodium_free(b);
        return lmq__seterr(LMQ_EKEY, "passphrase file %s is empty", file);
    }
    if ((rc = alloc_ring(1, &kr)) != 0) {
        sodium_free(b);
        return rc;
    }
    _Static_assert(crypto_pwhash_SALTBYTES == 16, "salt size");
    if (crypto_pwhash((uint8_t *)kr->keys[0].k, LMQ_KEY_BYTES, b, n, salt,
                      crypto_pwhash_OPSLIMIT_INTERACTIVE,
                      crypto_pwhash_MEMLIMIT_INTERACTIVE,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        sodium_free(b);
        lmq__keyring_free(kr);
        return lmq__seterr(LMQ_ENOMEM, "Argon2id ran out of memory");
    }
    sodium_free(b);
    lmq__key *k = &kr->keys[0];
    snprintf(k->id, sizeof k->id, "passphrase");
    lmq__key_fp(k->k, k->fp);
    k->is_default = true;
    sodium_mprotect_readonly(kr->guard);
    *out = kr;
    return 0;
}

int
lmq__keyring_merge(lmq__keyring *a, lmq__keyring *b)
{
    lmq__keyring *m;
    int rc = alloc_ring(a->n + b->n, &m);
    if (rc) {
        lmq__keyring_free(b);
        return rc;
    }
    bool had_default = lmq__keyring_default(a) != NULL;
    sodium_mprotect_readwrite(m->guard);
    for (size_t i = 0; i < m->n; i++) {
        lmq__key *src = i < a->n ? &a->keys[i] : &b->keys[i - a->n];
        const uint8_t *k = m->keys[i].k;
        m->keys[i] = *src;
        m->keys[i].k = k;
        if (i >= a->n && had_default)
            m->keys[i].is_default = false; /* the first source's home key */
        memcpy((uint8_t *)k, src->k, LMQ_KEY_BYTES);
        src->n_aliases = 0; /* moved */
    }
    sodium_mprotect_readonly(m->guard);
    /* a takes m's contents; the old blocks go. */
    lmq__keyring tmp = *a;
    *a = *m;
    *m = tmp;
    lmq__keyring_free(m);
    lmq__keyring_free(b);
    return 0;
}

int
lmq__keyring_missing(const lmq__keyring *a, const lmq__keyring *b,
                     lmq__keyring **out)
{
    size_t n = 0;
    *out = NULL;
    for (size_t i = 0; a && i < a->n; i++)
        n += !lmq__keyring_by_fp(b, a->keys[i].fp);
    if (n == 0)
        return 0;
    lmq__keyring *m;
    int rc = alloc_ring(n, &m);
    if (rc)
        return rc;
    sodium_mprotect_readwrite(m->guard);
    for (size_t i = 0, j = 0; i < a->n; i++) {
        if (lmq__keyring_by_fp(b, a->keys[i].fp))
            continue;
        const uint8_t *k = m->keys[j].k;
        m->keys[j] = a->keys[i];
        m->keys[j].k = k;
        m->keys[j].n_aliases = 0; /* aliases are the file's business */
        m->keys[j].is_default = false;
        memcpy((uint8_t *)k, a->keys[i].k, LMQ_KEY_BYTES);
        j++;
    }
    sodium_mprotect_readonly(m->guard);
    *out = m;
    return 0;
}

const lmq__key *
lmq__keyring_default(const lmq__keyring *kr)
{
    if (!kr)
        return NULL;
    for (size_t i = 0; i < kr->n; i++)
        if (kr->keys[i].is_default)
            return &kr->keys[i];
    return kr->n == 1 ? &kr->keys[0] : NULL;
}

const lmq__key *
lmq__keyring_find(const lmq__keyring *kr, const char *name)
{
    if (!kr || !name)
        return NULL;
    /* An ARN: arn:aws:kms:<region>:<account>:key/<id> or :alias/<name>. */
    if (strncmp(name, "arn:", 4) == 0) {
        const char *p = name;
        for (int i = 0; i < 5 && p; i++)
            p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
        if (!p)
            return NULL;
        name = strncmp(p, "key/", 4) == 0 ? p + 4 : p;
    }
    /* SQS's own managed key stands for the home key. */
    if (strcmp(name, "alias/aws/sqs") == 0)
        return lmq__keyring_default(kr);
    for (size_t i = 0; i < kr->n; i++) {
        const lmq__key *k = &kr->keys[i];
        if (strcmp(k->id, name) == 0)
            return k;
        for (size_t a = 0; a < k->n_aliases; a++)
            if (strcmp(k->aliases[a], name) == 0)
                return k;
    }
    return NULL;
}

const lmq__key *
lmq__keyring_by_fp(const lmq__keyring *kr, const uint8_t fp[LMQ_KEY_FP_BYTES])
{
    for (size_t i = 0; kr && i < kr->n; i++)
        if (memcmp(kr->keys[i].fp, fp, LMQ_KEY_FP_BYTES) == 0)
            return &kr->keys[i];
    return NULL;
}

/* ---- the keyring file: public helpers for `lmq key` ---------------------- */

/* Load the file's JSON (an absent file: an empty keyring). */
static int
file_json(const char *path, bool may_miss, json_t **out)
{
    char *b;
    size_t n;
    lmq__keyring *kr;
    *out = NULL;
    if (may_miss && access(path, F_OK) != 0 && errno == ENOENT) {
        *out = json_pack("{s:i,s:[]}", "Version", 1, "Keys");
        return *out ? 0 : lmq__seterr(LMQ_ENOMEM, NULL);
    }
    int rc = read_secret_file(path, true, &b, &n);
    if (rc)
        return rc;
    if ((rc = lmq__keyring_parse(b, n, path, &kr)) == 0) {
        lmq__keyring_free(kr);
        *out = json_loadb(b, n, 0, NULL);
        if (!*out)
            rc = lmq__seterr(LMQ_ENOMEM, NULL);
    }
    sodium_free(b);
    return rc;
}

/* Write root to path atomically (a 0600 temporary renamed over it). */
static int
file_save(const char *path, json_t *root)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 8);
    if (!tmp)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    snprintf(tmp, pl + 8, "%s.XXXXXX", path);
    int rc = 0, fd = mkstemp(tmp); /* 0600, O_EXCL */
    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (fd < 0) {
        rc = lmq__seterr(LMQ_EIO, "cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    char *s = json_dumps(root, JSON_INDENT(2));
    size_t n = s ? strlen(s) : 0, off = 0;
    while (s && off < n) {
        ssize_t w = write(fd, s + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (!s || off != n || write(fd, "\n", 1) != 1 || fsync(fd) != 0)
        rc = lmq__seterr(s ? LMQ_EIO : LMQ_ENOMEM, "cannot write %s", tmp);
    if (s) {
        sodium_memzero(s, n);
        free(s);
    }
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = lmq__seterr(LMQ_EIO, "cannot rename %s: %s", tmp,
                         strerror(errno));
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* Wipe every "Key" string of root before it is freed. */
static void
wipe_json(json_t *root)
{
    json_t *keys = json_object_get(root, "Keys");
    for (size_t i = 0; i < json_array_size(keys); i++) {
        const char *s = json_string_value(
            json_object_get(json_array_get(keys, i), "Key"));
        if (s)
            sodium_memzero((char *)s, strlen(s));
    }
    json_decref(root);
}

LMQ_API int
lmq_keyring_add(const char *path, const char *alias, int flags,
                char id_out[LMQ_KEY_ID_MAX])
{
    return lmq__keyring_add_id(path, alias, flags, NULL, id_out);
}

int
lmq__keyring_add_id(const char *path, const char *alias, int flags,
                    const char *id_in, char id_out[LMQ_KEY_ID_MAX])
{
    json_t *root;
    if (!path || !*path)
        return lmq__seterr(LMQ_EINVAL, "keyring path is empty");
    if (alias && !valid_alias(alias))
        return lmq__seterr(LMQ_EINVAL, "alias %s: expected alias/<name> of "
                           "letters, digits, '/', '_', '-'", alias);
    if (sodium_init() < 0)
        return lmq__seterr(LMQ_EIO, "libsodium failed to initialise");
    int rc = file_json(path, true, &root);
    if (rc)
        return rc;
    json_t *keys = json_object_get(root, "Keys");
    bool make_default = (flags & LMQ_KEY_DEFAULT) || json_array_size(keys) == 0;
    for (size_t i = 0; i < json_array_size(keys); i++) {
        json_t *e = json_array_get(keys, i);
        if (make_default)
            json_object_del(e, "Default");
        json_t *al = json_object_get(e, "Aliases");
        for (size_t a = 0; alias && a < json_array_size(al);)
            if (strcmp(json_string_value(json_array_get(al, a)), alias) == 0)
                json_array_remove(al, a);
            else
                a++;
    }
    uint8_t *k = sodium_malloc(LMQ_KEY_BYTES);
    char *b64 = sodium_malloc(sodium_base64_ENCODED_LEN(
        LMQ_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL));
    char id[37];
    if (!k || !b64) {
        sodium_free(k);
        sodium_free(b64);
        wipe_json(root);
        return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    randombytes_buf(k, LMQ_KEY_BYTES);
    sodium_bin2base64(b64, sodium_base64_ENCODED_LEN(
                               LMQ_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL),
                      k, LMQ_KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
    sodium_free(k);
    if (id_in)
        snprintf(id, sizeof id, "%s", id_in);
    else
        lmq__uuid4(id);
    json_t *e = json_pack("{s:s,s:[],s:I,s:s}", "KeyId", id, "Aliases",
                          "CreationDate", (json_int_t)time(NULL), "Key", b64);
    sodium_free(b64);
    if (!e) {
        wipe_json(root);
        return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    if (alias)
        json_array_append_new(json_object_get(e, "Aliases"),
                              json_string(alias));
    if (make_default)
        json_object_set_new(e, "Default", json_true());
    json_array_append_new(keys, e);
    rc = file_save(path, root);
    wipe_json(root);
    if (rc == 0 && id_out)
        snprintf(id_out, LMQ_KEY_ID_MAX, "%s", id);
    return rc;
}

LMQ_API int
lmq_keyring_list(const char *path, char **out)
{
    json_t *root, *list;
    if (!out)
        return lmq__seterr(LMQ_EINVAL, "out is NULL");
    *out = NULL;
    if (!path || !*path)
        return lmq__seterr(LMQ_EINVAL, "keyring path is empty");
    if (sodium_init() < 0)
        return lmq__seterr(LMQ_EIO, "libsodium failed to initialise");
    int rc = file_json(path, false, &root);
    if (rc)
        return rc;
    json_t *keys = json_object_get(root, "Keys");
    if (!(list = json_array()))
        rc = lmq__seterr(LMQ_ENOMEM, NULL);
    for (size_t i = 0; !rc && i < json_array_size(keys); i++) {
        json_t *e = json_array_get(keys, i);
        json_t *al = json_object_get(e, "Aliases");
        json_t *o = json_pack(
            "{s:O,s:o,s:b,s:O}", "KeyId", json_object_get(e, "KeyId"),
            "Aliases", al ? json_copy(al) : json_array(), "Default",
            json_is_true(json_object_get(e, "Default")) ||
                json_array_size(keys) == 1,
            "CreationDate",
            json_object_get(e, "CreationDate") ? json_object_get(e,
                                                                 "CreationDate")
                                               : json_null());
        if (!o || json_array_append_new(list, o) != 0)
            rc = lmq__seterr(LMQ_ENOMEM, NULL);
    }
    if (!rc && !(*out = json_dumps(list, JSON_INDENT(2))))
        rc = lmq__seterr(LMQ_ENOMEM, NULL);
    json_decref(list);
    wipe_json(root);
    return rc;
}

int
lmq__keyring_file_remove(const char *path, const char *id)
{
    json_t *root;
    int rc = file_json(path, false, &root);
    if (rc)
        return rc;
    json_t *keys = json_object_get(root, "Keys");
    for (size_t i = 0; i < json_array_size(keys); i++) {
        const char *s = json_string_value(
            json_object_get(json_array_get(keys, i), "KeyId"));
        if (s && strcmp(s, id) == 0) {
            const char *k = json_string_value(
                json_object_get(json_array_get(keys, i), "Key"));
            if (k)
                sodium_memzero((char *)k, strlen(k));
            json_array_remove(keys, i);
            rc = file_save(path, root);
            break;
        }
    }
    wipe_json(root);
    return rc;
}
