/*
 * creds.c: AWS credentials as the AWS tools find them (see creds.h).
 *
 * The chain is resolved once at open, and its winner is remembered: a
 * credential_process is run again when its keys come within 5 minutes of
 * their Expiration; keys without an Expiration (explicit, environment,
 * static keys in a file) are kept as they are. Order, as botocore's:
 *
 *  1. explicit keys of lmq_creds_opts;
 *  2. the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *     AWS_SESSION_TOKEN), skipped when the caller names a profile
 *     explicitly (as `aws --profile` does); AWS_PROFILE does not skip it;
 *  3. the profile's section in the shared credentials file (static keys,
 *     or a credential_process);
 *  4. the profile's section in the config file ("[profile NAME]", or
 *     "[default]"): credential_process first, then static keys.
 *
 * The files are INI: "[section]", "key = value", comments starting with
 * '#' or ';', indented lines (nested values such as "s3 =\n  ...") ignored.
 * A line that is none of these is LMQ_EINVAL with its file and number.
 *
 * credential_process runs via /bin/sh -c (popen), its stderr passes
 * through, its stdout is JSON (jansson): {"Version": 1, "AccessKeyId",
 * "SecretAccessKey", "SessionToken"?, "Expiration"? (ISO 8601)}. A
 * non-zero exit is LMQ_EIO; other output is LMQ_EINVAL.
 *
 * Secrets: the keys live in sodium_malloc'd buffers, wiped and freed by
 * sodium_free. The process's output is read into one as well; jansson's
 * copies of the secret strings are wiped before they are freed (jansson's
 * lexer buffer is not: a known, short-lived leftover on the heap).
 *
 * Refresh failures: while the old keys are still valid they stay in use
 * (get returns 0 with them) and the process is tried again at most every
 * 10 seconds; once they have expired, get returns the refresh's error.
 *
 * Threads: a mutex guards the keys; get may be called from any thread.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <jansson.h>

#include "../lib/internal.h"
#include "creds.h"

/* Refresh this long before the Expiration (what the AWS SDKs do). */
#define REFRESH_BEFORE_MS (5 * 60 * 1000)
/* After a failed refresh, keep the old keys this long before trying
 * again (no process storm from a tight caller). */
#define RETRY_REFRESH_MS (10 * 1000)
/* The longest credential_process output read. */
#define MAX_PROCESS_OUTPUT (64 * 1024)
#define KEY_MAX 8192

typedef enum src_kind { SRC_EXPLICIT, SRC_ENV, SRC_FILE, SRC_PROCESS } src_kind;

struct lmq_creds {
    pthread_mutex_t mu;
    src_kind kind;
    char source[160];
    char *process; /* the credential_process command (SRC_PROCESS) */
    char *akid, *secret, *token; /* sodium_malloc'd, NUL-terminated */
    int64_t expires_ms;          /* 0: never */
    int64_t retry_at_ms;         /* after a failed refresh */
};

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A sodium_malloc'd copy of s (len bytes). */
static char *
secure_dup(const char *s, size_t len)
{
    char *p = sodium_malloc(len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static void
set_keys(lmq_creds *c, char *akid, char *secret, char *token,
         int64_t expires_ms)
{
    sodium_free(c->akid);
    sodium_free(c->secret);
    sodium_free(c->token);
    c->akid = akid;
    c->secret = secret;
    c->token = token;
    c->expires_ms = expires_ms;
}

/* Copy three strings into fresh secure buffers and make them the keys. */
static int
keep_keys(lmq_creds *c, const char *akid, const char *secret, const char *token,
          int64_t expires_ms)
{
    char *a = secure_dup(akid, strlen(akid));
    char *s = secure_dup(secret, strlen(secret));
    char *t = secure_dup(token ? token : "", token ? strlen(token) : 0);
    if (!a || !s || !t) {
        sodium_free(a);
        sodium_free(s);
        sodium_free(t);
        return lmq__seterr(LMQ_ENOMEM, NULL);
    }
    set_keys(c, a, s, t, expires_ms);
    return 0;
}

/* ---- INI files --------------------------------------------------------- */

/* The keys of one section that matter here (malloc'd, or NULL). */
typedef struct ini_section {
    int found;
    char *akid, *secret, *token, *process, *region;
} ini_section;

static void
section_wipe(ini_section *s)
{
    char **f[] = {&s->akid, &s->secret, &s->token, &s->process, &s->region};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (*f[i]) {
            sodium_memzero(*f[i], strlen(*f[i]));
            free(*f[i]);
            *f[i] = NULL;
        }
    }
    s->found = 0;
}

static char *
trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Read section `want` of path into *out. 0 (also when the file or the
 * section is absent: out->found says), LMQ_EINVAL on a malformed line,
 * LMQ_EIO when the file exists but cannot be read, LMQ_ENOMEM. */
static int
ini_read(const char *path, const char *want, ini_section *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return lmq__seterr(LMQ_EIO, "cannot read %s: %s", path,
                           strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int ln = 0, in = 0, rc = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        ln++;
        if (line[0] == ' ' || line[0] == '\t') {
            /* A nested value's continuation line. */
            continue;
        }
        char *p = trim(line);
        if (*p == '\0' || *p == '#' || *p == ';')
            continue;
        if (*p == '[') {
            char *end = strchr(p, ']');
            if (!end) {
                rc = lmq__seterr(LMQ_EINVAL, "%s:%d: a section without ']'",
                                 path, ln);
                break;
            }
            *end = '\0';
            char *name = trim(p + 1);
            in = strcmp(name, want) == 0;
            if (in)
                out->found = 1;
            continue;
        }
        char *eq = strchr(p, '=');
        if (!eq) {
            rc = lmq__seterr(LMQ_EINVAL, "%s:%d: want \"key = value\"", path,
                             ln);
            break;
        }
        if (!in)
            continue;
        *eq = '\0';
        char *key = trim(p), *val = trim(eq + 1);
        char **slot = NULL;
        if (strcmp(key, "aws_access_key_id") == 0)
            slot = &out->akid;
        else if (strcmp(key, "aws_secret_access_key") == 0)
            slot = &out->secret;
        else if (strcmp(key, "aws_session_token") == 0)
            slot = &out->token;
        else if (strcmp(key, "credential_process") == 0)
            slot = &out->process;
        else if (strcmp(key, "region") == 0)
            slot = &out->region;
        if (!slot)
            continue;
        if (*slot) {
            sodium_memzero(*slot, strlen(*slot));
            free(*slot);
        }
        *slot = strdup(val);
        if (!*slot) {
            rc = lmq__seterr(LMQ_ENOMEM, NULL);
            break;
        }
    }
    if (line) {
        sodium_memzero(line, cap);
        free(line);
    }
    fclose(f);
    if (rc != 0)
        section_wipe(out);
    return rc;
}

/* The path of a shared file: env, else ~/.aws/<name>. Malloc'd. */
static char *
shared_path(const char *env, const char *name)
{
    const char *p = getenv(env);
    if (p && *p)
        return strdup(p);
    const char *home = getenv("HOME");
    if (!home || !*home)
        return NULL;
    size_t n = strlen(home) + strlen(name) + 8;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/.aws/%s", home, name);
    return s;
}

static const char *
profile_of(const char *profile)
{
    if (profile && *profile)
        return profile;
    const char *p = getenv("AWS_PROFILE");
    return p && *p ? p : "default";
}

/* Read the profile's section of the config file: "[profile NAME]", and for
 * default also "[default]" (which the AWS tools use). */
static int
config_section(const char *path, const char *profile, ini_section *out)
{
    char want[300];
    snprintf(want, sizeof want, "profile %s", profile);
    int rc = ini_read(path, want, out);
    if (rc != 0 || out->found || strcmp(profile, "default") != 0)
        return rc;
    return ini_read(path, "default", out);
}

/* ---- credential_process ------------------------------------------------- */

/* "2026-01-01T00:00:00Z", with optional fractional seconds and a "+HH:MM"
 * offset, into ms since the epoch; -1 if malformed. */
static int64_t
parse_iso8601(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm, n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != 5)
            return -1;
        off = (hh * 60L + mm) * 60L * (*p == '-' ? -1 : 1);
        p += 1 + n;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    return ((int64_t)t - off) * 1000;
}

/* Wipe a jansson string value in place before it is freed. */
static void
wipe_json_string(json_t *v)
{
    if (json_is_string(v))
        sodium_memzero((void *)json_string_value(v), json_string_length(v));
}

/* Run the process and take its keys. 0, LMQ_EIO, LMQ_EINVAL, LMQ_ENOMEM. */
static int
run_process(lmq_creds *c)
{
    char *buf = sodium_malloc(MAX_PROCESS_OUTPUT + 1);
    if (!buf)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    size_t len = 0;
    int rc = 0;
    FILE *p = popen(c->process, "re");
    if (!p) {
        sodium_free(buf);
        return lmq__seterr(LMQ_EIO, "credential_process: cannot run: %s",
                           strerror(errno));
    }
    for (;;) {
        size_t n = fread(buf + len, 1, MAX_PROCESS_OUTPUT - len, p);
        len += n;
        if (n == 0 || len == MAX_PROCESS_OUTPUT)
            break;
    }
    int overflow = len == MAX_PROCESS_OUTPUT && fgetc(p) != EOF;
    buf[len] = '\0';
    int st = pclose(p);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        rc = lmq__seterr(LMQ_EIO, "credential_process \"%s\" failed (%s %d)",
                         c->process,
                         st != -1 && WIFSIGNALED(st) ? "signal" : "exit",
                         st == -1          ? -1
                         : WIFSIGNALED(st) ? WTERMSIG(st)
                                           : WEXITSTATUS(st));
        sodium_free(buf);
        return rc;
    }
    if (overflow) {
        sodium_free(buf);
        return lmq__seterr(LMQ_EINVAL,
                           "credential_process: output over %d bytes",
                           MAX_PROCESS_OUTPUT);
    }
    json_error_t je;
    json_t *j = json_loadb(buf, len, 0, &je);
    sodium_free(buf);
    if (!j)
        return lmq__seterr(LMQ_EINVAL,
                           "credential_process: output is not JSON: %s "
                           "(line %d)",
                           je.text, je.line);
    json_t *ver = json_object_get(j, "Version");
    json_t *akid = json_object_get(j, "AccessKeyId");
    json_t *sec = json_object_get(j, "SecretAccessKey");
    json_t *tok = json_object_get(j, "SessionToken");
    json_t *exp = json_object_get(j, "Expiration");
    int64_t expires = 0;
    if (!json_is_object(j) || !json_is_integer(ver) ||
        json_integer_value(ver) != 1) {
        rc = lmq__seterr(LMQ_EINVAL, "credential_process: want \"Version\": 1");
    } else if (!json_is_string(akid) || !json_string_length(akid) ||
               !json_is_string(sec) || !json_string_length(sec)) {
        rc = lmq__seterr(LMQ_EINVAL, "credential_process: no AccessKeyId "
                                     "and SecretAccessKey strings");
    } else if (tok && !json_is_null(tok) && !json_is_string(tok)) {
        rc = lmq__seterr(LMQ_EINVAL,
                         "credential_process: SessionToken is not a string");
    } else if (exp && !json_is_null(exp) &&
               (!json_is_string(exp) ||
                (expires = parse_iso8601(json_string_value(exp))) < 0)) {
        rc = lmq__seterr(LMQ_EINVAL, "credential_process: Expiration is "
                                     "not an ISO 8601 time");
    } else {
        rc = keep_keys(c, json_string_value(akid), json_string_value(sec),
                       json_is_string(tok) ? json_string_value(tok) : NULL,
                       expires);
    }
    wipe_json_string(sec);
    wipe_json_string(tok);
    json_decref(j);
    return rc;
}

/* ---- the chain ---------------------------------------------------------- */

/* Take the keys of a section: a process, or static keys. 1 when it had
 * some, 0 when not, or a negative error. */
static int
from_section(lmq_creds *c, ini_section *s, const char *path,
             const char *profile, int process_first)
{
    for (int pass = 0; pass < 2; pass++) {
        int want_process = pass == 0 ? process_first : !process_first;
        if (want_process && s->process) {
            c->process = strdup(s->process);
            if (!c->process)
                return lmq__seterr(LMQ_ENOMEM, NULL);
            c->kind = SRC_PROCESS;
            snprintf(c->source, sizeof c->source, "credential_process");
            int rc = run_process(c);
            return rc != 0 ? rc : 1;
        }
        if (!want_process && (s->akid || s->secret)) {
            if (!s->akid || !*s->akid || !s->secret || !*s->secret)
                return lmq__seterr(LMQ_EINVAL,
                                   "%s [%s]: aws_access_key_id without "
                                   "aws_secret_access_key, or the reverse",
                                   path, profile);
            c->kind = SRC_FILE;
            snprintf(c->source, sizeof c->source, "profile %.140s", profile);
            int rc = keep_keys(c, s->akid, s->secret, s->token, 0);
            return rc != 0 ? rc : 1;
        }
    }
    return 0;
}

static int
resolve(lmq_creds *c, const lmq_creds_opts *o)
{
    const char *oa = o ? o->access_key_id : NULL;
    const char *os = o ? o->secret_access_key : NULL;
    if ((oa && *oa) || (os && *os)) {
        if (!(oa && *oa) || !(os && *os))
            return lmq__seterr(LMQ_EINVAL, "explicit credentials need both "
                                           "an access key id and a secret");
        c->kind = SRC_EXPLICIT;
        snprintf(c->source, sizeof c->source, "explicit");
        return keep_keys(c, oa, os, o->session_token, 0);
    }

    int named = o && o->profile && *o->profile;
    if (!named) {
        const char *ea = getenv("AWS_ACCESS_KEY_ID");
        const char *es = getenv("AWS_SECRET_ACCESS_KEY");
        if ((ea && *ea) || (es && *es)) {
            if (!(ea && *ea) || !(es && *es))
                return lmq__seterr(LMQ_EINVAL,
                                   "AWS_ACCESS_KEY_ID and "
                                   "AWS_SECRET_ACCESS_KEY must both be set");
            c->kind = SRC_ENV;
            snprintf(c->source, sizeof c->source, "environment");
            const char *et = getenv("AWS_SESSION_TOKEN");
            return keep_keys(c, ea, es, et && *et ? et : NULL, 0);
        }
    }

    const char *profile = profile_of(o ? o->profile : NULL);
    char *cpath = shared_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    char *gpath = shared_path("AWS_CONFIG_FILE", "config");
    ini_section s;
    int rc = 0;
    if (cpath) {
        rc = ini_read(cpath, profile, &s);
        if (rc == 0 && s.found)
            rc = from_section(c, &s, cpath, profile, 0);
        section_wipe(&s);
    }
    if (rc == 0 && gpath) {
        rc = config_section(gpath, profile, &s);
        if (rc == 0 && s.found)
            rc = from_section(c, &s, gpath, profile, 1);
        section_wipe(&s);
    }
    if (rc == 0)
        rc = lmq__seterr(LMQ_ENOTFOUND,
                         "no AWS credentials: none given, none in the "
                         "environment (AWS_ACCESS_KEY_ID), none for profile "
                         "\"%s\" in %s or %s",
                         profile, cpath ? cpath : "(no HOME)",
                         gpath ? gpath : "(no HOME)");
    free(cpath);
    free(gpath);
    return rc < 0 ? rc : 0;
}

int
lmq__creds_open(const lmq_creds_opts *o, lmq_creds **out)
{
    if (!out)
        return lmq__seterr(LMQ_EINVAL, "lmq__creds_open: out is NULL");
    *out = NULL;
    if (sodium_init() < 0)
        return lmq__seterr(LMQ_EIO, "libsodium cannot be initialised");
    lmq_creds *c = calloc(1, sizeof *c);
    if (!c)
        return lmq__seterr(LMQ_ENOMEM, NULL);
    pthread_mutex_init(&c->mu, NULL);
    int rc = resolve(c, o);
    if (rc != 0) {
        lmq__creds_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void
lmq__creds_close(lmq_creds *c)
{
    if (!c)
        return;
    set_keys(c, NULL, NULL, NULL, 0);
    free(c->process);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int
copy_out(const char *s, char *buf, size_t len, const char *what)
{
    if (!buf)
        return 0;
    size_t n = s ? strlen(s) : 0;
    if (n >= len)
        return lmq__seterr(LMQ_EINVAL, "the %s is longer than its buffer",
                           what);
    memcpy(buf, s ? s : "", n + 1);
    return 0;
}

int
lmq__creds_get(lmq_creds *c, char *akid, size_t akid_len, char *secret,
               size_t secret_len, char *token, size_t token_len)
{
    if (!c || !akid || !secret)
        return lmq__seterr(LMQ_EINVAL, "lmq__creds_get: NULL argument");
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    int64_t now = now_ms();
    if (c->kind == SRC_PROCESS && c->expires_ms != 0 &&
        now >= c->expires_ms - REFRESH_BEFORE_MS && now >= c->retry_at_ms) {
        rc = run_process(c);
        if (rc != 0) {
            c->retry_at_ms = now + RETRY_REFRESH_MS;
            /* The old keys stay in use while they are valid. */
            if (c->akid && now < c->expires_ms)
                rc = 0;
        } else {
            c->retry_at_ms = 0;
        }
    } else if (c->expires_ms != 0 && now >= c->expires_ms) {
        rc = lmq__seterr(LMQ_EIO, "the credentials expired and could not "
                                  "be fetched again");
    }
    if (rc == 0)
        rc = copy_out(c->akid, akid, akid_len, "access key id");
    if (rc == 0)
        rc = copy_out(c->secret, secret, secret_len, "secret access key");
    if (rc == 0)
        rc = copy_out(c->token, token, token_len, "session token");
    pthread_mutex_unlock(&c->mu);
    return rc;
}

char *
lmq__creds_region(const char *profile)
{
    const char *e = getenv("AWS_REGION");
    if (e && *e)
        return strdup(e);
    e = getenv("AWS_DEFAULT_REGION");
    if (e && *e)
        return strdup(e);
    char *gpath = shared_path("AWS_CONFIG_FILE", "config");
    if (!gpath)
        return NULL;
    ini_section s;
    char *region = NULL;
    if (config_section(gpath, profile_of(profile), &s) == 0 && s.region &&
        *s.region) {
        region = s.region;
        s.region = NULL;
    }
    section_wipe(&s);
    free(gpath);
    return region;
}

const char *
lmq__creds_source(const lmq_creds *c)
{
    return c ? c->source : "";
}
