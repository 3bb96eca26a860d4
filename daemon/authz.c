/*
 * authz.c: who may do what through lmqd (issue 22): the credentials file
 * (access keys, their secrets and the principal each is bound to), the
 * identity policies of --policies FILE, and the check of every decoded
 * SQS request against them and the queue's Policy attribute.
 *
 * Credentials, one key per line ('#' starts a comment):
 *     ACCESS_KEY_ID SECRET_ACCESS_KEY [PRINCIPAL]
 * PRINCIPAL is arn:aws:iam::ACCOUNT:user/NAME, .../role/NAME or
 * .../root, or the short user/NAME, role/NAME or root in lmqd's
 * --account. A key without one is its account's root, as before issue 22:
 * it may do everything, except what a queue policy explicitly denies.
 *
 * Policies: {"PRINCIPAL": POLICY or [POLICY, ...], ...}, each POLICY an
 * IAM identity policy document. Both files are read at start, where a
 * mistake in either stops lmqd with the file, line or principal named,
 * and again on SIGHUP (lmqd_authz_reload), where a mistake keeps the
 * previous set, logged; requests see the old set or the new one, never
 * a mix (struct lmqd_authz).
 *
 * The decision itself is the wire layer's (wire/sqs_policy.c, pure); this
 * file fetches its inputs: the principal of the verified access key, the
 * queue's Policy (one read transaction per queue the request touches),
 * the client's address, whether the connection is TLS, the time.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "lmqd.h"
#include "sqs_policy.h"

typedef struct cred {
    char *id, *secret, *principal;
} cred;

typedef struct identity {
    char *principal;
    json_t **docs;
    size_t n;
} identity;

/* One generation of the credentials and identity policies. A request
 * takes a reference to the current one before it checks its signature
 * and keeps it until it is authorized, so it sees one set from start to
 * end; SIGHUP builds a new one aside and swaps the pointer; the old one
 * is freed by whoever drops its last reference. */
struct lmqd_authz {
    atomic_int refs;
    cred *creds;
    size_t n_creds;
    identity *ids;
    size_t n_ids;
};

static lmqd_authz *current;
static pthread_mutex_t current_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *creds_path, *policies_path;
static atomic_ulong reloads_ok, reloads_failed;
static atomic_int last_reload_ok = 1;

/* Parsed queue policies, keyed by queue name and text: parsing one costs
 * more than the read that fetches it (~30 us for a two-statement policy
 * against ~8 us, measured on the loaded CI machine), and a policy rarely
 * changes. The text is compared on every request, so a policy changed by
 * any process takes effect at once. Documents are shared read-only by
 * the request threads; their references are taken and dropped under the
 * lock. */
#define PCACHE 64
static struct {
    char *queue, *text;
    json_t *doc;
} pcache[PCACHE];
static unsigned pcache_next;
static pthread_mutex_t pcache_mu = PTHREAD_MUTEX_INITIALIZER;

/* A principal as written in a file, as a full ARN (malloc'd), or NULL
 * when it is not one. */
static char *
principal_arn(const char *p)
{
    char acct[13], *out = NULL;
    const char *rest;
    if (lmq__policy_principal_account(p, acct) == 0)
        rest = p + strlen("arn:aws:iam::") + 13;
    else
        rest = p;
    if (strcmp(rest, "root") != 0 &&
        !(strncmp(rest, "user/", 5) == 0 && rest[5]) &&
        !(strncmp(rest, "role/", 5) == 0 && rest[5]))
        return NULL;
    if (rest == p) {
        size_t n = strlen(p) + 40;
        if ((out = malloc(n)))
            snprintf(out, n, "arn:aws:iam::%s:%s", S.account, p);
        return out;
    }
    return strdup(p);
}

static void
authz_free(lmqd_authz *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n_creds; i++) {
        free(a->creds[i].id);
        if (a->creds[i].secret)
            sodium_memzero(a->creds[i].secret, strlen(a->creds[i].secret));
        free(a->creds[i].secret);
        free(a->creds[i].principal);
    }
    free(a->creds);
    for (size_t i = 0; i < a->n_ids; i++) {
        for (size_t k = 0; k < a->ids[i].n; k++)
            json_decref(a->ids[i].docs[k]);
        free(a->ids[i].docs);
        free(a->ids[i].principal);
    }
    free(a->ids);
    free(a);
}

/* Read the credentials file into a. Returns 0, or -1 with the file and
 * line in err. */
static int
load_credentials(lmqd_authz *a, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[2048];
    int ln = 0, rc = -1;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char id[256], secret[512], principal[512] = "", extra[8];
        char *p = line + strspn(line, " \t");
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        int k =
            sscanf(p, "%255s %511s %511s %7s", id, secret, principal, extra);
        sodium_memzero(line, sizeof line);
        if (k < 2 || k > 3) {
            snprintf(err, errlen,
                     "%s:%d: want ACCESS_KEY_ID SECRET_ACCESS_KEY [PRINCIPAL]",
                     path, ln);
            goto out;
        }
        char *arn = principal_arn(k == 3 ? principal : "root");
        if (!arn) {
            snprintf(err, errlen,
                     "%s:%d: bad principal %s (want arn:aws:iam::ACCOUNT:"
                     "user/NAME, role/NAME or root)",
                     path, ln, principal);
            goto out;
        }
        for (size_t i = 0; i < a->n_creds; i++)
            if (strcmp(a->creds[i].id, id) == 0) {
                snprintf(err, errlen, "%s:%d: access key %s given twice", path,
                         ln, id);
                free(arn);
                goto out;
            }
        cred *nc = realloc(a->creds, (a->n_creds + 1) * sizeof *nc);
        if (!nc) {
            free(arn);
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        a->creds = nc;
        nc = &a->creds[a->n_creds++];
        nc->id = strdup(id);
        nc->secret = strdup(secret);
        nc->principal = arn;
        sodium_memzero(secret, sizeof secret);
        if (!nc->id || !nc->secret) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    if (a->n_creds == 0)
        snprintf(err, errlen, "%s holds no credentials", path);
    else
        rc = 0;
out:
    fclose(f);
    return rc;
}

/* Read the identity policies of path into a. Returns 0, or -1 with the
 * file and principal in err. */
static int
load_policies(lmqd_authz *a, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
        return -1;
    }
    int rc = -1;
    const char *k;
    json_t *v;
    if (!json_is_object(doc)) {
        snprintf(err, errlen,
                 "%s: want {\"PRINCIPAL\": POLICY or [POLICY, "
                 "...]}",
                 path);
        goto out;
    }
    json_object_foreach(doc, k, v)
    {
        char why[256];
        char *arn = principal_arn(k);
        if (!arn) {
            snprintf(err, errlen, "%s: bad principal %s", path, k);
            goto out;
        }
        size_t l = strlen(arn);
        if (l > 5 && strcmp(arn + l - 5, ":root") == 0) {
            snprintf(err, errlen,
                     "%s: %s: an account's root has no identity policies (it "
                     "may do everything; deny it in a queue policy)",
                     path, k);
            free(arn);
            goto out;
        }
        identity *ni = realloc(a->ids, (a->n_ids + 1) * sizeof *ni);
        if (!ni) {
            free(arn);
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        a->ids = ni;
        identity *id = &a->ids[a->n_ids++];
        id->principal = arn;
        id->n = json_is_array(v) ? json_array_size(v) : 1;
        id->docs = calloc(id->n ? id->n : 1, sizeof *id->docs);
        if (!id->docs) {
            id->n = 0;
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < id->n; i++) {
            json_t *d = json_is_array(v) ? json_array_get(v, i) : v;
            if (lmq__policy_check(d, LMQ_POLICY_IDENTITY, why, sizeof why)) {
                snprintf(err, errlen, "%s: policy of %s: %s", path, k, why);
                goto out;
            }
            id->docs[i] = json_incref(d);
        }
    }
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

/* Build a new set from the files and make it current. Returns 0, or -1
 * with the reason in err and the current set unchanged. */
static int
authz_load(char *err, size_t errlen)
{
    lmqd_authz *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    atomic_init(&a->refs, 1);
    if (load_credentials(a, creds_path, err, errlen) != 0 ||
        (policies_path && load_policies(a, policies_path, err, errlen) != 0)) {
        authz_free(a);
        return -1;
    }
    pthread_mutex_lock(&current_mu);
    lmqd_authz *old = current;
    current = a;
    pthread_mutex_unlock(&current_mu);
    lmqd_authz_release(old);
    return 0;
}

void
lmqd_authz_init(const char *creds, const char *policies)
{
    char err[1024];
    creds_path = creds;
    policies_path = policies;
    if (creds && authz_load(err, sizeof err) != 0)
        lmqd_die("%s", err);
}

void
lmqd_authz_reload(void)
{
    char err[1024];
    if (!creds_path) {
        atomic_fetch_add(&reloads_ok, 1);
        atomic_store(&last_reload_ok, 1);
        fprintf(stderr, "lmqd: SIGHUP: nothing to reload (no --credentials)"
                        "\n");
        return;
    }
    if (authz_load(err, sizeof err) != 0) {
        atomic_fetch_add(&reloads_failed, 1);
        atomic_store(&last_reload_ok, 0);
        fprintf(stderr,
                "lmqd: reload failed, keeping the previous credentials and "
                "policies: %s\n",
                err);
        return;
    }
    atomic_fetch_add(&reloads_ok, 1);
    atomic_store(&last_reload_ok, 1);
    lmqd_authz *a = lmqd_authz_acquire();
    if (policies_path)
        fprintf(stderr,
                "lmqd: reloaded %zu keys from %s and the policies of %zu "
                "principals from %s\n",
                a->n_creds, creds_path, a->n_ids, policies_path);
    else
        fprintf(stderr, "lmqd: reloaded %zu keys from %s\n", a->n_creds,
                creds_path);
    lmqd_authz_release(a);
}

void
lmqd_authz_stats(unsigned long *ok, unsigned long *failed, int *last_ok)
{
    *ok = atomic_load(&reloads_ok);
    *failed = atomic_load(&reloads_failed);
    *last_ok = atomic_load(&last_reload_ok);
}

lmqd_authz *
lmqd_authz_acquire(void)
{
    pthread_mutex_lock(&current_mu);
    lmqd_authz *a = current;
    if (a)
        atomic_fetch_add(&a->refs, 1);
    pthread_mutex_unlock(&current_mu);
    return a;
}

void
lmqd_authz_release(lmqd_authz *a)
{
    if (a && atomic_fetch_sub(&a->refs, 1) == 1)
        authz_free(a);
}

void
lmqd_free_credentials(void)
{
    pthread_mutex_lock(&current_mu);
    lmqd_authz *old = current;
    current = NULL;
    pthread_mutex_unlock(&current_mu);
    lmqd_authz_release(old);
    for (unsigned i = 0; i < PCACHE; i++) {
        free(pcache[i].queue);
        free(pcache[i].text);
        json_decref(pcache[i].doc);
        pcache[i].queue = pcache[i].text = NULL;
        pcache[i].doc = NULL;
    }
}

static const cred *
cred_of(const lmqd_authz *a, const char *access_key)
{
    for (size_t i = 0; a && i < a->n_creds; i++)
        if (strcmp(a->creds[i].id, access_key) == 0)
            return &a->creds[i];
    return NULL;
}

const char *
lmqd_secret(void *arg, const char *access_key)
{
    const cred *c = cred_of(arg, access_key);
    return c ? c->secret : NULL;
}

int
lmqd_authz_enabled(void)
{
    /* Fixed at start: a reload never empties the set (a file without
     * keys fails to load). */
    return creds_path != NULL;
}

static void
policy_release(json_t *d)
{
    pthread_mutex_lock(&pcache_mu);
    json_decref(d);
    pthread_mutex_unlock(&pcache_mu);
}

/* The parsed document of text (NULL when out of memory); a text that is
 * not JSON becomes a document that fails the policy check, so that it
 * denies. The caller drops it with policy_release(). */
static json_t *
policy_doc(const char *queue, const char *text)
{
    json_t *d = NULL;
    pthread_mutex_lock(&pcache_mu);
    for (unsigned i = 0; i < PCACHE && !d; i++)
        if (pcache[i].queue && strcmp(pcache[i].queue, queue) == 0 &&
            strcmp(pcache[i].text, text) == 0)
            d = json_incref(pcache[i].doc);
    pthread_mutex_unlock(&pcache_mu);
    if (d)
        return d;
    d = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    if (!d)
        d = json_string("not a policy");
    char *q = strdup(queue), *t = strdup(text);
    pthread_mutex_lock(&pcache_mu);
    if (q && t && d) {
        unsigned i = pcache_next++ % PCACHE;
        free(pcache[i].queue);
        free(pcache[i].text);
        json_decref(pcache[i].doc);
        pcache[i].queue = q;
        pcache[i].text = t;
        pcache[i].doc = json_incref(d);
        q = t = NULL;
    }
    pthread_mutex_unlock(&pcache_mu);
    free(q);
    free(t);
    return d;
}

/* The queue's Policy document: NULL when it has none (or the queue does
 * not exist: the action then answers QueueDoesNotExist). */
static json_t *
queue_policy(const char *queue)
{
    const char *names[] = {"Policy", NULL};
    lmq_map *m = NULL;
    if (!queue || !*queue ||
        lmq_queue_get_attributes(S.env, queue, names, &m) != 0)
        return NULL;
    const char *p = lmq_map_get(m, "Policy");
    json_t *d = p && *p ? policy_doc(queue, p) : NULL;
    lmq_map_free(m);
    return d;
}

int
lmqd_authorize(lmqd_conn *c, const lmqd_authz *a, const char *source_ip,
               int tls)
{
    if (!lmqd_authz_enabled())
        return 0;
    lmq_policy_need needs[LMQ_POLICY_MAX_NEEDS];
    size_t n = lmq__sqs_req_needs(c->req, S.region, S.account, needs);
    const cred *cr = cred_of(a, c->access_key);
    const identity *id = NULL;
    if (!cr) {
        /* SigV4 verified the key, so this cannot happen; if it did, no
         * principal means no access. */
        lmq__sqs_encode_error(c->proto, c->rid, 403, "AccessDenied",
                              "AccessDenied", "No principal for this key.",
                              &c->resp);
        return 1;
    }
    for (size_t i = 0; i < a->n_ids; i++)
        if (strcmp(a->ids[i].principal, cr->principal) == 0)
            id = &a->ids[i];
    /* aws:CurrentTime is real time, whatever clock the home runs on. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (size_t i = 0; i < n; i++) {
        lmq_policy_request r = {needs[i].action,
                                needs[i].resource,
                                cr->principal,
                                source_ip,
                                tls,
                                (int64_t)now.tv_sec * 1000 +
                                    now.tv_nsec / 1000000,
                                NULL};
        json_t *res = queue_policy(needs[i].queue);
        lmq_policy_reason why =
            lmq__policy_decide(id ? (const json_t *const *)id->docs : NULL,
                               id ? id->n : 0, res, S.account, &r);
        policy_release(res);
        if (why != LMQ_POLICY_ALLOWED) {
            char msg[768];
            lmq__policy_message(why, &r, msg, sizeof msg);
            lmq__sqs_encode_error(c->proto, c->rid, 403, "AccessDenied",
                                  "AccessDenied", msg, &c->resp);
            return 1;
        }
    }
    return 0;
}
