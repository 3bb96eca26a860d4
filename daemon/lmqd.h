/*
 * lmqd.h: what the files of the daemon share (lmqd.c: HTTP and main;
 * park.c: parked long polls; workers.c: durable commits and move tasks;
 * ops.c: access log, metrics, configuration, test-double endpoints).
 */
#ifndef LMQD_H
#define LMQD_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lmq.h"
#include "sigv4.h"
#include "sqs_wire.h"

/* The largest request body: a 1 MiB SQS payload percent-encoded in a Query
 * form can triple, plus the other parameters. 413 beyond. */
#define LMQD_MAX_BODY (3u * 1024 * 1024 + 256 * 1024)
#define LMQD_MAX_LISTEN 8
#define LMQD_MAX_HEADERS 64

enum { LMQD_AUTH_OFF = 0, LMQD_AUTH_PARSE, LMQD_AUTH_VERIFY };

typedef struct lmqd_listen {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int v6;
    int tls; /* -1 until decided: https when --tls-cert is given */
    int fd;
    struct MHD_Daemon *d;
} lmqd_listen;

enum { LMQD_NEW = 0, LMQD_RUNNING, LMQD_READY, LMQD_SENT };

/* One request on a connection. */
typedef struct lmqd_conn {
    char *uri;  /* raw, as sent */
    char *path; /* uri up to '?' */
    int uri_path_owned;
    int64_t t0; /* monotonic us when the request began */
    int started, counted, too_large, state;
    char *body;
    size_t body_len, body_cap;
    struct MHD_Connection *con;
    sqs_req *req;
    sqs_resp resp;
    char rid[40];
    sqs_proto proto;
    char action[64];
    char queue[96];
    char access_key[129]; /* the verified SigV4 key, "" when none */
    lmq_sigv4_header headers[LMQD_MAX_HEADERS];
    size_t n_headers;
    /* parked long poll */
    int64_t deadline_ms; /* monotonic ms */
    struct lmqd_conn *next;
    /* worker queue */
    struct lmqd_conn *wnext;
} lmqd_conn;

typedef struct lmqd_server {
    lmq_env *env;
    const char *home;
    const char *account, *region;
    lmq_durability durability;
    sqs_ctx ctx;
    lmqd_listen listen[LMQD_MAX_LISTEN];
    int n_listen;
    int tls;         /* a certificate is loaded */
    int require_tls; /* --require-tls: plain HTTP gets InvalidSecurity */
    char *tls_cert, *tls_key;
    int auth;
    int quiet;
    int test_clock;
    /* LMQD_TEST_PARK_LAG_MS (tests only): MHD's thread sleeps this long
     * after parking a long poll, as if descheduled (check_lmqd) */
    int park_lag_ms;
    const char *key_file; /* --key-file */
    const char *key_passphrase_file; /* --key-passphrase-file */
    const char *key_process;         /* --key-process */
    unsigned max_connections, idle_timeout;
    int n_workers;
    size_t max_body;
    volatile int stopping;
    atomic_long in_flight;
} lmqd_server;

extern lmqd_server S;

/* lmqd.c */
/* "lmqd: <message>" on stderr, then exit(2): a start-up error. */
void lmqd_die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
                                                   noreturn));
int lmqd_run(lmqd_conn *c, struct MHD_Connection *con);
void lmqd_resume(lmqd_conn *c);
void sqs_req_done(lmqd_conn *c);
const char *lmqd_listen_name(const lmqd_listen *l, int with_scheme);

/* park.c */
void lmqd_park(lmqd_conn *c, lmq_queue *q, int64_t deadline_ms);
void lmqd_watchers_stop(void);
void lmqd_watchers_join(void);
size_t lmqd_parked_count(void);

/* workers.c */
void lmqd_workers_start(void);
void lmqd_workers_push(lmqd_conn *c);
void lmqd_workers_stop(void);
void lmqd_task_started(void *arg, const char *handle);
void lmqd_tasks_resume(void);
void lmqd_tasks_stop(void);
int lmqd_tasks_join(void); /* 1: all ended; 0: some still run */

/* ops.c */
void lmqd_log_request(lmqd_conn *c);
void lmqd_metrics_init(void);
char *lmqd_metrics_text(void);
/* The bridge of --bridge FILE (issue 26), or NULL; /metrics reports it. */
extern lmq_bridge *lmqd_bridge;
void lmqd_apply_config(const char *path);

/* authz.c: credentials, identity policies, per-request checks */
/* One generation of the credentials and policies (reference-counted). */
typedef struct lmqd_authz lmqd_authz;
/* Read --credentials and --policies (either may be NULL); a mistake
 * stops lmqd (lmqd_die) naming the file and line. */
void lmqd_authz_init(const char *creds, const char *policies);
/* SIGHUP: read both files again and swap them in at once; a file that
 * fails keeps the previous set, and the reason is logged on stderr. */
void lmqd_authz_reload(void);
/* Reloads that succeeded and failed, and whether the last one did. */
void lmqd_authz_stats(unsigned long *ok, unsigned long *failed, int *last_ok);
/* The current set, referenced (NULL without --credentials); every request
 * holds one from its signature check to its authorization. */
lmqd_authz *lmqd_authz_acquire(void);
void lmqd_authz_release(lmqd_authz *a);
void lmqd_free_credentials(void);
/* The secret of an access key in the set arg (a lmqd_authz *), or NULL:
 * the SigV4 verifier's callback. */
const char *lmqd_secret(void *arg, const char *access_key);
/* 1 when lmqd checks access (a credentials file was given). */
int lmqd_authz_enabled(void);
/* Check the decoded request of c (verified key c->access_key) against
 * the policies of a: 0 when allowed, else 1 with AccessDenied (403) in
 * c->resp. */
int lmqd_authorize(lmqd_conn *c, const lmqd_authz *a, const char *source_ip,
                   int tls);
enum MHD_Result lmqd_extra(struct MHD_Connection *con, lmqd_conn *c,
                           const char *method);
void lmqd_test_clock_setup(const char *home, lmq_env_opts *eo);

#endif /* LMQD_H */
