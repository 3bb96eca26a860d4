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
 * IAM identity policy document. Both files are read once at start; a
 * mistake in either stops lmqd with the file, line or principal named.
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
static cred *creds;
static size_t n_creds;

typedef struct identity {
    char *principal;
    json_t **docs;
    size_t n;
} identity;
static identity *ids;
static size_t n_ids;

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

void
lmqd_load_credentials(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        lmqd_die("cannot read %s: %s", path, strerror(errno));
    char line[2048];
    int ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char id[256], secret[512], principal[512] = "", extra[8];
        char *p = line + strspn(line, " \t");
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        int k =
            sscanf(p, "%255s %511s %511s %7s", id, secret, principal, extra);
        if (k < 2 || k > 3)
            lmqd_die("%s:%d: want ACCESS_KEY_ID SECRET_ACCESS_KEY [PRINCIPAL]",
                     path, ln);
        char *arn = principal_arn(k == 3 ? principal : "root");
        if (!arn)
            lmqd_die("%s:%d: bad principal %s (want arn:aws:iam::ACCOUNT:user/"
                     "NAME, role/NAME or root)",
                     path, ln, principal);
        for (size_t i = 0; i < n_creds; i++)
            if (strcmp(creds[i].id, id) == 0)
                lmqd_die("%s:%d: access key %s given twice", path, ln, id);
        cred *nc = realloc(creds, (n_creds + 1) * sizeof *nc);
        if (!nc)
            exit(2);
        creds = nc;
        creds[n_creds].id = strdup(id);
        creds[n_creds].secret = strdup(secret);
        creds[n_creds].principal = arn;
        n_creds++;
    }
    fclose(f);
    if (n_creds == 0)
        lmqd_die("%s holds no credentials", path);
}

void
lmqd_load_policies(const char *path)
{
    json_error_t err;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!doc)
        lmqd_die("%s:%d: %s", path, err.line, err.text);
    if (!json_is_object(doc))
        lmqd_die("%s: want {\"PRINCIPAL\": POLICY or [POLICY, ...]}", path);
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v)
    {
        char *arn = principal_arn(k);
        char why[256];
        if (!arn)
            lmqd_die("%s: bad principal %s", path, k);
        size_t l = strlen(arn);
        if (l > 5 && strcmp(arn + l - 5, ":root") == 0)
            lmqd_die("%s: %s: an account's root has no identity policies (it "
                     "may do everything; deny it in a queue policy)",
                     path, k);
        identity *ni = realloc(ids, (n_ids + 1) * sizeof *ni);
        if (!ni)
            exit(2);
        ids = ni;
        identity *id = &ids[n_ids++];
        id->principal = arn;
        id->n = json_is_array(v) ? json_array_size(v) : 1;
        id->docs = calloc(id->n ? id->n : 1, sizeof *id->docs);
        if (!id->docs)
            exit(2);
        for (size_t i = 0; i < id->n; i++) {
            json_t *d = json_is_array(v) ? json_array_get(v, i) : v;
            if (lmq__policy_check(d, LMQ_POLICY_IDENTITY, why, sizeof why))
                lmqd_die("%s: policy of %s: %s", path, k, why);
            id->docs[i] = json_incref(d);
        }
    }
    json_decref(doc);
}

void
lmqd_free_credentials(void)
{
    for (size_t i = 0; i < n_creds; i++) {
        free(creds[i].id);
        free(creds[i].secret);
        free(creds[i].principal);
    }
    free(creds);
    creds = NULL;
    n_creds = 0;
    for (size_t i = 0; i < n_ids; i++) {
        for (size_t k = 0; k < ids[i].n; k++)
            json_decref(ids[i].docs[k]);
        free(ids[i].docs);
        free(ids[i].principal);
    }
    free(ids);
    ids = NULL;
    n_ids = 0;
    for (unsigned i = 0; i < PCACHE; i++) {
        free(pcache[i].queue);
        free(pcache[i].text);
        json_decref(pcache[i].doc);
        pcache[i].queue = pcache[i].text = NULL;
        pcache[i].doc = NULL;
    }
}

static const cred *
cred_of(const char *access_key)
{
    for (size_t i = 0; i < n_creds; i++)
        if (strcmp(creds[i].id, access_key) == 0)
            return &creds[i];
    return NULL;
}

const char *
lmqd_secret(void *arg, const char *access_key)
{
    (void)arg;
    const cred *c = cred_of(access_key);
    return c ? c->secret : NULL;
}

int
lmqd_authz_enabled(void)
{
    return n_creds > 0;
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
lmqd_authorize(lmqd_conn *c, const char *source_ip, int tls)
{
    if (!lmqd_authz_enabled())
        return 0;
    lmq_policy_need needs[LMQ_POLICY_MAX_NEEDS];
    size_t n = lmq__sqs_req_needs(c->req, S.region, S.account, needs);
    const cred *cr = cred_of(c->access_key);
    const identity *id = NULL;
    if (!cr) {
        /* SigV4 verified the key, so this cannot happen; if it did, no
         * principal means no access. */
        lmq__sqs_encode_error(c->proto, c->rid, 403, "AccessDenied",
                              "AccessDenied", "No principal for this key.",
                              &c->resp);
        return 1;
    }
    for (size_t i = 0; i < n_ids; i++)
        if (strcmp(ids[i].principal, cr->principal) == 0)
            id = &ids[i];
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
